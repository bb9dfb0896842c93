"""What the mount answers itself from the master's replies (fuse/meta_cache.c):
a lookup of a name absent from a directory this mount made and changed
alone, a directory's attributes after this mount's change in it, and
getxattr of an inode the master said has none. Each test checks both the
calls saved (the master's /metrics) and that the answers stay right:
against a model through one mount, and with a second mount changing the
same directory (seen within the 1 s the kernel's own caches allow).
"""

import errno
import os
import random
import stat
import subprocess
import time

from conftest import drop_caches, errno_of
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import calls, commits, creates, delta, route_counts, settled_delta

TTL = 1.0


def test_215_untar_like_creates_ask_no_lookup_or_getattr(cluster):
    """tar -x in a new folder: for each member a lookup of a name that is not
    there, then create/mkdir/symlink; the kernel then asks for the folder's
    attributes again. None of those lookups and getattrs reaches the master."""
    d = os.path.join(cluster.mounts[0].path, "mc-215")
    before = route_counts(cluster)
    os.mkdir(d)
    for i in range(20):
        sub = os.path.join(d, "dir%02d" % i)
        os.mkdir(sub)
        for k in range(10):
            fd = os.open(os.path.join(sub, "f%02d" % k), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"%d/%d\n" % (i, k))
            os.close(fd)
        os.symlink("f00", os.path.join(sub, "link"))
    d_ = settled_delta(cluster, before)
    # every create and commit reaches the master, most of them answered
    # here and sent in batches (fs_ops.c fs_create_local, fuse/file_handle.h
    # commit behind); a mkdir or symlink sends what is queued first
    assert creates(d_) == 200 and commits(d_) == 200, d_
    assert calls(d_) - d_.get("/v1/inos", 0) <= 241, d_
    assert d_.get("/v1/mkdir") == 21, d_
    assert d_.get("/v1/symlink") == 20, d_
    # the lookup of "mc-215" in the root (not made here) is the only one
    assert d_.get("/v1/lookup", 0) <= 2, d_
    assert d_.get("/v1/getattr", 0) <= 2, d_
    # and everything is there, with the folders' link counts and times right
    for i in range(20):
        sub = os.path.join(d, "dir%02d" % i)
        assert sorted(os.listdir(sub)) == sorted(["f%02d" % k for k in range(10)] + ["link"])
        assert os.readlink(os.path.join(sub, "link")) == "f00"
        with open(os.path.join(sub, "link"), "rb") as f:
            assert f.read() == b"%d/0\n" % i
    st = os.stat(d)
    assert st.st_nlink == 22
    assert errno_of(os.open, os.path.join(d, "dir00", "f00"),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL) == errno.EEXIST


def test_216_ls_l_asks_no_getxattr(cluster):
    """ls -l asks two xattrs per file (security.selinux, the ACL); an inode
    the master said has none gets ENODATA from the mount. A set xattr shows
    at once through the same mount."""
    d = os.path.join(cluster.mounts[0].path, "mc-216")
    os.mkdir(d)
    for i in range(100):
        with open(os.path.join(d, "f%03d" % i), "wb") as f:
            f.write(b"x")
    drop_caches()
    before = route_counts(cluster)
    out = subprocess.run(["ls", "-l", d], check=True, capture_output=True).stdout
    d_ = delta(before, route_counts(cluster))
    assert out.count(b"\n") == 101
    assert "/v1/getxattr" not in d_, d_
    p = os.path.join(d, "f007")
    os.setxattr(p, "user.color", b"blue")
    assert os.getxattr(p, "user.color") == b"blue"
    os.removexattr(p, "user.color")
    assert errno_of(os.getxattr, p, "user.color") == errno.ENODATA
    os.setxattr(d, "user.tag", b"t")
    assert os.getxattr(d, "user.tag") == b"t"
    # the master's own names are never answered from the cache
    assert os.getxattr(p, "bigfs.goal").strip() in (b"1", b"2", b"3")


def test_217_one_mount_matches_a_model(cluster):
    """Random creates, unlinks, renames (over names too), mkdirs and rmdirs
    in folders this mount made: after every step each name of the universe
    exists exactly when the model says, and the folders' link counts and
    listings agree."""
    rng = random.Random(217)
    root = os.path.join(cluster.mounts[0].path, "mc-217")
    os.mkdir(root)
    dirs = {"a": set(), "b": set()}
    for dn in dirs:
        os.mkdir(os.path.join(root, dn))
    subdirs = {"a": set(), "b": set()}
    names = ["n%d" % i for i in range(12)]
    before = route_counts(cluster)
    negatives = 0
    for step in range(400):
        dn = rng.choice("ab")
        name = rng.choice(names)
        p = os.path.join(root, dn, name)
        present = name in dirs[dn] or name in subdirs[dn]
        op = rng.choice(["create", "create", "unlink", "rename", "mkdir", "rmdir", "excl"])
        if op == "create":
            if name in subdirs[dn]:
                assert errno_of(open, p, "ab") == errno.EISDIR, (step, p)
            else:
                with open(p, "ab") as f:
                    f.write(b".")
                dirs[dn].add(name)
        elif op == "excl":
            e = errno_of(os.open, p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            assert e == (errno.EEXIST if present else None), (step, op, p, e)
            if not present:
                dirs[dn].add(name)
        elif op == "unlink":
            e = errno_of(os.unlink, p)
            if name in dirs[dn]:
                assert e is None, (step, op, p, e)
                dirs[dn].discard(name)
            else:
                assert e in (errno.ENOENT, errno.EISDIR, errno.EPERM), (step, op, p, e)
        elif op == "mkdir":
            e = errno_of(os.mkdir, p)
            assert e == (errno.EEXIST if present else None), (step, op, p, e)
            if not present:
                subdirs[dn].add(name)
        elif op == "rmdir":
            e = errno_of(os.rmdir, p)
            if name in subdirs[dn]:
                assert e is None, (step, op, p, e)
                subdirs[dn].discard(name)
            else:
                assert e in (errno.ENOENT, errno.ENOTDIR), (step, op, p, e)
        else:
            dn2 = rng.choice("ab")
            name2 = rng.choice(names)
            q = os.path.join(root, dn2, name2)
            if name in dirs[dn] and name2 not in subdirs[dn2]:
                os.rename(p, q)
                dirs[dn].discard(name)
                dirs[dn2].add(name2)
            else:
                e = errno_of(os.rename, p, q)
                if e is None:       # a folder moved, or onto itself
                    if name in subdirs[dn]:
                        subdirs[dn].discard(name)
                        subdirs[dn2].add(name2)
        for dn_ in "ab":
            for nm in names:
                want = nm in dirs[dn_] or nm in subdirs[dn_]
                negatives += not want
                got = errno_of(os.lstat, os.path.join(root, dn_, nm)) is None
                assert got == want, (step, op, dn_, nm, want, got)
    for dn in "ab":
        assert sorted(os.listdir(os.path.join(root, dn))) == sorted(dirs[dn] | subdirs[dn])
        assert os.stat(os.path.join(root, dn)).st_nlink == 2 + len(subdirs[dn])
    d_ = delta(before, route_counts(cluster))
    # thousands of lstats of absent names were answered by the mount; what
    # reaches the master is the kernel revalidating names that exist
    # (before O_EXCL creates, mkdirs and rename targets)
    assert negatives > 2000
    assert d_.get("/v1/lookup", 0) < 250, d_


def test_218_another_mounts_changes_show_within_a_second(bigfs_pair):
    """Mount 1 made the folder and knows every name in it; mount 2 adds,
    removes and renames names there. Mount 1 sees each change within the
    kernel's own cache time (1 s), and its own next change in the folder
    finds the master's count moved and stops answering for it alone."""
    d1, d2 = bigfs_pair
    with open(os.path.join(d1, "a"), "wb") as f:
        f.write(b"a")
    with open(os.path.join(d2, "b"), "wb") as f:
        f.write(b"b")
    os.mkdir(os.path.join(d2, "sub"))
    os.rename(os.path.join(d2, "a"), os.path.join(d2, "a2"))
    t0 = time.monotonic()
    while True:
        seen = sorted(os.listdir(d1))
        ok = (seen == ["a2", "b", "sub"] and os.path.exists(os.path.join(d1, "b"))
              and not os.path.exists(os.path.join(d1, "a"))
              and os.path.isdir(os.path.join(d1, "sub")))
        if ok:
            break
        assert time.monotonic() - t0 < TTL + 1.0, seen
        time.sleep(0.05)
    assert os.stat(d1).st_nlink == 3
    with open(os.path.join(d1, "b"), "rb") as f:
        assert f.read() == b"b"
    # mount 1 changes it now: its own view and mount 2's agree at once
    with open(os.path.join(d1, "c"), "wb") as f:
        f.write(b"c")
    assert errno_of(os.open, os.path.join(d1, "b"), os.O_WRONLY | os.O_CREAT | os.O_EXCL) == errno.EEXIST
    time.sleep(TTL + 0.2)
    assert sorted(os.listdir(d2)) == ["a2", "b", "c", "sub"]
    # mount 1 changes the folder right after mount 2 did: the count in the
    # master's reply is not the one mount 1 knew, so from then on the
    # master answers for it — mount 2's name is found at once
    for i in range(5):
        with open(os.path.join(d1, "p%d" % i), "wb") as f:
            f.write(b"p")
        with open(os.path.join(d2, "x%d" % i), "wb") as f:
            f.write(b"x")
        with open(os.path.join(d1, "q%d" % i), "wb") as f:
            f.write(b"q")
        assert os.path.exists(os.path.join(d1, "x%d" % i)), i
    # a name mount 2 makes right after mount 1's change is found by name
    with open(os.path.join(d2, "late"), "wb") as f:
        f.write(b"l")
    t0 = time.monotonic()
    while not os.path.exists(os.path.join(d1, "late")):
        assert time.monotonic() - t0 < TTL + 1.0
        time.sleep(0.05)


def test_219a_rm_of_a_listed_folder_asks_no_getattr(cluster):
    """What rm -r does after the caches were dropped: read a folder (the
    reply carries the folder's own attributes), stat it (the kernel asks
    again after every read), unlink what it holds one by one (the kernel
    asks for the folder's attributes before each unlink after the first),
    then rmdir it. None of those getattrs reaches the master, and the
    answers stay right."""
    d = os.path.join(cluster.mounts[0].path, "mc-219a")
    for sub in ("x", "y"):
        os.makedirs(os.path.join(d, sub))
        for i in range(40):
            with open(os.path.join(d, sub, "f%02d" % i), "wb") as f:
                f.write(b"x")
    time.sleep(TTL + 0.2)   # what the creates' replies said has run out
    drop_caches()
    before = route_counts(cluster)
    for sub in ("x", "y"):
        p = os.path.join(d, sub)
        names = os.listdir(p)
        assert len(names) == 40
        st = os.stat(p)
        assert stat.S_ISDIR(st.st_mode) and st.st_nlink == 2
        for n in names:
            os.unlink(os.path.join(p, n))
        os.rmdir(p)
    d_ = delta(before, route_counts(cluster))
    # one may be the root's or the parent's (their times ran out), one the
    # parent's after x's rmdir: answered at once and queued now (x was read
    # and emptied: fuse/dir_count.h), its reply no longer brings the
    # parent's attributes, which the kernel dropped, and this test never
    # read the parent (rm -r does); before the listing's attributes were
    # kept, 5
    assert d_.get("/v1/getattr", 0) <= 2, d_
    assert os.listdir(d) == [] and os.stat(d).st_nlink == 2


def test_219_attributes_after_own_changes_are_right(cluster):
    """The folder attributes the mount serves after its changes are the
    master's: link count, times moving forward, a chmod seen at once."""
    d = os.path.join(cluster.mounts[0].path, "mc-219")
    os.mkdir(d)
    st0 = os.stat(d)
    time.sleep(0.02)
    os.mkdir(os.path.join(d, "x"))
    st1 = os.stat(d)
    assert st1.st_nlink == st0.st_nlink + 1
    assert st1.st_mtime_ns > st0.st_mtime_ns and st1.st_ctime_ns >= st1.st_mtime_ns
    os.chmod(d, 0o700)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    os.rmdir(os.path.join(d, "x"))
    assert os.stat(d).st_nlink == st0.st_nlink
    time.sleep(TTL + 0.1)
    st2 = os.stat(d)
    assert st2.st_nlink == st0.st_nlink and stat.S_IMODE(st2.st_mode) == 0o700


def test_219c_new_empty_folders_are_listed_here(cluster):
    """mkdir -p then rm -rf (or find): each new folder is read once. One this
    mount made and that is still empty under its lease is listed without
    the master; one that got a name (here, or from anyone else: that
    call's reply waits for the lease) is listed by the master, with it."""
    d = os.path.join(cluster.mounts[0].path, "mc-219c")
    os.mkdir(d)
    before = route_counts(cluster)
    subprocess.run(["mkdir", "-p"] + [os.path.join(d, "a%d" % i, "b%d" % k)
                                      for i in range(5) for k in range(5)], check=True)
    for i in range(5):
        for k in range(5):
            assert os.listdir(os.path.join(d, "a%d" % i, "b%d" % k)) == []
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/mkdir") == 30, d_
    assert d_.get("/v1/readdir", 0) == 0, d_
    # rm -rf of a new tree: only the folders with names in them are read
    # at the master (rm reads each twice)
    t = os.path.join(d, "t")
    subprocess.run(["mkdir", "-p"] + [os.path.join(t, "a%d" % i, "b%d" % k)
                                      for i in range(5) for k in range(5)], check=True)
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", t], check=True)
    d_ = delta(before, route_counts(cluster))
    assert not os.path.exists(t)
    # (the 31 rmdirs: of folders read and emptied, queued: test_224)
    assert "/v1/rmdir" not in d_ and d_.get("/v1/batch", 0) >= 1, d_
    assert d_.get("/v1/readdir", 0) <= 2 * 6, d_
    # a name made here: listed by the master, with it
    open(os.path.join(d, "a0", "b0", "f"), "wb").close()
    assert os.listdir(os.path.join(d, "a0", "b0")) == ["f"]
    assert sorted(os.listdir(os.path.join(d, "a0"))) == ["b%d" % k for k in range(5)]
    # a name made by someone else: found the moment that call returns
    os.mkdir(os.path.join(d, "e"))
    eino = os.stat(os.path.join(d, "e")).st_ino
    assert os.listdir(os.path.join(d, "e")) == []
    st, j, raw = cluster.api("POST", "/v1/mknod", {
        "parent": eino, "name": "api", "mode": stat.S_IFREG | 0o644, "rdev": 0,
        "uid": 0, "gid": 0})
    assert st == 200, raw
    assert os.listdir(os.path.join(d, "e")) == ["api"]
    subprocess.run(["rm", "-rf", d], check=True)
    assert not os.path.exists(d)


def test_219d_mkdir_p_rechecks_of_own_folders_answered_here(cluster):
    """mkdir -p walks every argument from its start, and the kernel asks
    again for each folder it holds before a mkdir of it (EEXIST). The
    mount answers for folders it made in folders only it has changed, so
    mkdir -p of a tree asks the master nothing but the mkdirs. A rename
    of one by anyone else shows to the next mkdir -p, which makes it
    again."""
    d = os.path.join(cluster.mounts[0].path, "mc-219d")
    os.mkdir(d)
    args = ["a%d/b%d/c%d" % (i, k, m) for i in range(4) for k in range(4) for m in range(4)]
    before = route_counts(cluster)
    subprocess.run(["mkdir", "-p"] + args, check=True, cwd=d)
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/mkdir") == 4 + 16 + 64, d_
    assert d_.get("/v1/lookup", 0) == 0, d_
    assert all(os.path.isdir(os.path.join(d, a)) for a in args)
    a1 = os.stat(os.path.join(d, "a1")).st_ino
    st, _, raw = cluster.api("POST", "/v1/rename", {
        "parent": a1, "name": "b2", "newparent": a1, "newname": "moved", "flags": 0})
    assert st == 200, raw
    subprocess.run(["mkdir", "-p"] + args, check=True, cwd=d)
    cs = ["c%d" % m for m in range(4)]
    assert sorted(os.listdir(os.path.join(d, "a1"))) == ["b0", "b1", "b2", "b3", "moved"]
    assert sorted(os.listdir(os.path.join(d, "a1", "b2"))) == cs
    assert sorted(os.listdir(os.path.join(d, "a1", "moved"))) == cs
    subprocess.run(["rm", "-rf", d], check=True)
    assert not os.path.exists(d)


def test_219b_others_changes_wait_for_the_lease(cluster):
    """A folder this mount made and fills: its lease lets it answer absent
    names itself. A name made there by anyone else (here a plain API call,
    as an operator's snapshot or restore would) is found by this mount the
    moment that call returns: the master held the reply until the lease
    ran out (at most DL_TTL_MS, 1 s)."""
    d = os.path.join(cluster.mounts[0].path, "mc-219b")
    os.mkdir(d)
    dino = os.stat(d).st_ino
    for rnd in range(3):
        for i in range(5):
            open(os.path.join(d, "own%d-%d" % (rnd, i)), "wb").close()
        assert not os.path.exists(os.path.join(d, "api%d" % rnd))   # answered here
        t0 = time.monotonic()
        st, j, raw = cluster.api("POST", "/v1/mknod", {
            "parent": dino, "name": "api%d" % rnd, "mode": stat.S_IFREG | 0o644, "rdev": 0,
            "uid": 0, "gid": 0})
        took = time.monotonic() - t0
        assert st == 200, raw
        assert os.path.exists(os.path.join(d, "api%d" % rnd)), rnd
        assert took < 1.5, took
        if rnd == 0:
            assert took > 0.3, "the API call did not wait for the lease"
    # the lease is gone for good: later calls from others do not wait
    t0 = time.monotonic()
    st, _, raw = cluster.api("POST", "/v1/unlink", {"parent": dino, "name": "api0"})
    assert st == 200 and time.monotonic() - t0 < 0.3, raw
    t0 = time.monotonic()      # the kernel's own 1 s cache of the name
    while os.path.exists(os.path.join(d, "api0")):
        assert time.monotonic() - t0 < TTL + 1.0
        time.sleep(0.05)


def test_219e_a_lookup_renews_a_lease_that_ran_out(cluster):
    """rsync makes its folders long before it fills them: by the time it
    looks up the names of a folder, this mount's lease on it has run out.
    The first lookup there tells the master the change count this mount
    knows every name at; the master, if that is still the count and nobody
    else changed the folder, renews the lease, and the later lookups of
    absent names are answered here again. The renewed lease binds as one
    from a mkdir does: another client's change waits for it to run out,
    and is then seen at once; after that change the count differs and no
    lookup renews it."""
    d = os.path.join(cluster.mounts[0].path, "mc-219e")
    os.mkdir(d)
    dino = os.stat(d).st_ino
    for i in range(5):
        open(os.path.join(d, "own%d" % i), "wb").close()
    time.sleep(TTL + 0.5)                     # the lease ran out
    before = route_counts(cluster)
    for i in range(30):
        assert not os.path.exists(os.path.join(d, "absent%d" % i))
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/lookup", 0) <= 2, d_   # the first renewed it
    assert d_.get("/v1/readdir", 0) == 0, d_  # no listing needed either
    # the master holds the lease for this mount again: another client's
    # change waits for it, and is seen the moment that change returns
    t0 = time.monotonic()
    st, _, raw = cluster.api("POST", "/v1/mknod", {
        "parent": dino, "name": "api", "mode": stat.S_IFREG | 0o644, "rdev": 0,
        "uid": 0, "gid": 0})
    took = time.monotonic() - t0
    assert st == 200, raw
    assert os.path.exists(os.path.join(d, "api"))
    assert 0.2 < took < 1.5, took
    # the count moved past what this mount knew: no lookup renews it now,
    # and names others make are found by each lookup
    time.sleep(TTL + 0.5)
    for i in range(3):
        assert not os.path.exists(os.path.join(d, "again%d" % i))
        st, _, raw = cluster.api("POST", "/v1/mknod", {
            "parent": dino, "name": "again%d" % i, "mode": stat.S_IFREG | 0o644, "rdev": 0,
            "uid": 0, "gid": 0})
        assert st == 200, raw
        assert os.path.exists(os.path.join(d, "again%d" % i)), i
    assert sorted(os.listdir(d)) == sorted(["own%d" % i for i in range(5)] + ["api"] +
                                           ["again%d" % i for i in range(3)])
