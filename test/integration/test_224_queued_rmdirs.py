"""rmdirs of folders the mount knows are empty, answered at once and sent
with the queued unlinks (fuse/dir_count.h): rm -r of a tree waits for no
rmdir; a folder that got a name since it was read (this mount's create,
mkdir, rename or link, another mount's create) is refused ENOTEMPTY as
before; a create of another mount racing the rmdir keeps the folder and
the file; and a mount killed with rmdirs queued leaves a whole namespace:
every folder the master removed was empty, every file left is intact."""

import ctypes
import errno
import os
import subprocess
import time

from conftest import errno_of, let_feed_settle, make_cluster, wait_for
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import delta, route_counts
from test_225_queued_unlinks import (kill_mount_and_mount_again, progress_while_master_sleeps,
                                     start_child, wake_and_finish)


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_tree(top, width=4, files=2):
    for i in range(width):
        for j in range(width):
            b = os.path.join(top, "a%d" % i, "b%d" % j)
            os.makedirs(b)
            for k in range(files):
                with open(os.path.join(b, "f%d" % k), "wb") as f:
                    f.write(b"%d/%d/%d\n" % (i, j, k))


def test_224_rm_r_of_a_tree_waits_for_no_rmdir(cluster):
    top = os.path.join(cluster.mounts[0].path, "rmq-224")
    os.mkdir(top)
    make_tree(top, width=5)
    time.sleep(1.2)              # the folders' leases (mkdir) have run out
    let_feed_settle()
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    assert errno_of(os.stat, top) == errno.ENOENT
    fsync_dir(cluster.mounts[0].path)
    d = delta(before, route_counts(cluster))
    assert "/v1/rmdir" not in d and "/v1/unlink" not in d, d
    assert d.get("/v1/batch", 0) >= 1, d
    # the master has it all: nothing of the tree is left
    st, j, _ = cluster.api("POST", "/v1/lookup", {"parent": 1, "name": "rmq-224"})
    assert st == 404 and j["errno"] == errno.ENOENT, (st, j)
    # and the name is free for a new tree at once
    make_tree(top, width=2, files=1)
    assert sorted(os.listdir(top)) == ["a0", "a1"]
    subprocess.run(["rm", "-rf", top], check=True)
    assert errno_of(os.stat, top) == errno.ENOENT


def _renameat2_exchange(a, b):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    rc = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_224b_a_name_added_since_the_listing_keeps_the_folder(cluster):
    base = os.path.join(cluster.mounts[0].path, "rmq-224b")
    os.mkdir(base)
    time.sleep(1.2)
    adds = {
        "create": lambda d: open(os.path.join(d, "f"), "wb").close(),
        "mkdir": lambda d: os.mkdir(os.path.join(d, "sub")),
        "symlink": lambda d: os.symlink("target", os.path.join(d, "l")),
        "link": lambda d: os.link(os.path.join(base, "linked"), os.path.join(d, "h")),
        "rename_in": lambda d: os.rename(os.path.join(base, "moved"), os.path.join(d, "m")),
    }
    open(os.path.join(base, "linked"), "wb").close()
    open(os.path.join(base, "moved"), "wb").close()
    for name, add in adds.items():
        d = os.path.join(base, name)
        os.mkdir(d)
        time.sleep(1.1)          # no lease: the listing's count is what is known
        assert os.listdir(d) == []
        add(d)
        assert errno_of(os.rmdir, d) == errno.ENOTEMPTY, name
        (entry,) = os.listdir(d)
        p = os.path.join(d, entry)
        if os.path.isdir(p) and not os.path.islink(p):
            os.rmdir(p)
        else:
            os.unlink(p)
        os.rmdir(d)              # empty now: answered at once
        assert errno_of(os.stat, d) == errno.ENOENT, name
    # two folders read, then swapped: the empty one's name is the full one's
    empty, full = os.path.join(base, "empty"), os.path.join(base, "full")
    os.mkdir(empty)
    os.mkdir(full)
    open(os.path.join(full, "x"), "wb").close()
    time.sleep(1.1)
    assert os.listdir(empty) == [] and os.listdir(full) == ["x"]
    _renameat2_exchange(empty, full)
    assert errno_of(os.rmdir, empty) == errno.ENOTEMPTY
    os.rmdir(full)
    assert os.listdir(empty) == ["x"]
    fsync_dir(base)
    st, j, _ = cluster.api("POST", "/v1/lookup", {"parent": os.stat(base).st_ino, "name": "empty"})
    assert st == 200, (st, j)


def test_224c_another_mounts_file_keeps_the_folder(cluster, bigfs_pair):
    a, b = bigfs_pair
    # seen by the change feed before the rmdir: refused as on a local disk
    os.mkdir(os.path.join(a, "seen"))
    time.sleep(1.2)
    assert os.listdir(os.path.join(a, "seen")) == []
    with open(os.path.join(b, "seen", "theirs"), "wb") as f:
        f.write(b"kept")
    let_feed_settle()
    assert errno_of(os.rmdir, os.path.join(a, "seen")) == errno.ENOTEMPTY
    assert os.listdir(os.path.join(a, "seen")) == ["theirs"]
    # racing it: the rmdir may be answered before the feed tells of the
    # file; then the master refuses it and the folder stays, with the file
    log = cluster.mounts[0].daemon.log
    raced = 0
    for k in range(5):
        d = "race%d" % k
        os.mkdir(os.path.join(a, d))
        time.sleep(1.1)
        assert os.listdir(os.path.join(a, d)) == []
        fd = os.open(os.path.join(b, d, "theirs"), os.O_CREAT | os.O_WRONLY, 0o644)
        rc = errno_of(os.rmdir, os.path.join(a, d))   # right after the create
        os.write(fd, b"kept %d" % k)
        os.close(fd)
        assert rc in (None, errno.ENOTEMPTY), rc
        raced += rc is None
        fsync_dir(a)
        with open(os.path.join(b, d, "theirs"), "rb") as f:
            assert f.read() == b"kept %d" % k
        # the rmdir's mount finds the folder again
        wait_for(lambda: os.path.exists(os.path.join(a, d, "theirs")), 5,
                 "the folder to be seen again by the mount whose rmdir failed")
        if rc is None:
            with open(log, errors="replace") as f:
                assert "queued rmdir of '%s'" % d in f.read()
    print("rmdirs answered before the feed told of the file: %d of 5" % raced)


def test_224d_mount_killed_with_rmdirs_queued(tmp_path_factory):
    """The master is paused; a child removes a tree the mount has read
    (its unlinks and rmdirs answered at once) and the mount is killed. What
    a folder fsync acknowledged is gone; what is left is a whole tree: a
    folder is gone only with everything it held, every file left is
    intact."""
    c = make_cluster(tmp_path_factory, "rmq224d")
    try:
        m1 = c.mounts[0]
        top = os.path.join(m1.path, "t")
        os.mkdir(top)
        make_tree(top, width=6)
        time.sleep(1.2)
        let_feed_settle()
        subprocess.run(["find", top], check=True, stdout=subprocess.DEVNULL)   # read it all
        # a0 removed and acknowledged before the master stops
        subprocess.run(["rm", "-rf", os.path.join(top, "a0")], check=True)
        fsync_dir(top)
        st, j, _ = c.api("POST", "/v1/lookup", {"parent": os.stat(top).st_ino, "name": "a0"})
        assert st == 404, (st, j)
        code = ("import os, sys\n"
                "top = sys.argv[1]\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "for i in range(1, 6):\n"
                "    a = os.path.join(top, 'a%d' % i)\n"
                "    for j in range(6):\n"
                "        b = os.path.join(a, 'b%d' % j)\n"
                "        for k in range(2):\n"
                "            os.unlink(os.path.join(b, 'f%d' % k))\n"
                "        os.rmdir(b)\n"
                "        print(i * 10 + j, flush=True)\n"
                "    os.rmdir(a)\n")
        child = start_child(code, top)
        done = progress_while_master_sleeps(c, child, 55)
        assert done >= 30, "the removals did not go on while the master slept (%d)" % done
        m2 = kill_mount_and_mount_again(c, m1, child)
        t2 = os.path.join(m2.path, "t")
        assert "a0" not in os.listdir(t2)
        for a in os.listdir(t2):
            for b in os.listdir(os.path.join(t2, a)):
                i, j = int(a[1:]), int(b[1:])
                for f in os.listdir(os.path.join(t2, a, b)):
                    with open(os.path.join(t2, a, b, f), "rb") as fp:
                        assert fp.read() == b"%d/%d/%s\n" % (i, j, f[1:].encode())
            assert os.stat(os.path.join(t2, a)).st_nlink == 2 + len(os.listdir(os.path.join(t2, a)))
        subprocess.run(["rm", "-rf", t2], check=True)
        assert errno_of(os.stat, t2) == errno.ENOENT
    finally:
        wake_and_finish(c)


def test_224e_rm_r_reads_each_folder_once_at_the_master(cluster):
    """rm -r reads a folder twice (whether it is empty, then what to
    remove): the second read is answered with the first's listing, kept
    by the mount while nothing it shows changed."""
    top = os.path.join(cluster.mounts[0].path, "rmq-224e")
    os.mkdir(top)
    make_tree(top, width=4, files=3)
    time.sleep(1.2)
    let_feed_settle()
    drop = subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"])
    assert drop.returncode == 0
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    d = delta(before, route_counts(cluster))
    assert errno_of(os.stat, top) == errno.ENOENT
    # 21 folders, each read once (a read past the end costs no call), and
    # the mount's root once for the lookups there (dir_cache.h): 22; 43
    # when each was read twice (a change the feed brings from elsewhere
    # meanwhile makes rm read a few twice)
    assert d.get("/v1/readdir", 0) <= 30, d


def _kept(cluster, d):
    """List d afresh, then again: the second listing is the kept one (no
    call)."""
    os.chmod(d, 0o755)         # a change of this mount: the next listing asks
    os.listdir(d)
    before = route_counts(cluster)
    names = os.listdir(d)
    assert "/v1/readdir" not in delta(before, route_counts(cluster))
    return sorted(names)


def test_224f_a_kept_listing_is_not_used_after_a_change(cluster, bigfs_pair):
    a, b = bigfs_pair
    for i in range(5):
        with open(os.path.join(a, "f%d" % i), "wb") as f:
            f.write(b"x" * i)
    let_feed_settle()
    assert _kept(cluster, a) == ["f%d" % i for i in range(5)]
    # this mount's create, unlink (sent, then listed), rename and chmod
    # show in the next listing
    open(os.path.join(a, "new"), "wb").close()
    assert "new" in os.listdir(a)
    _kept(cluster, a)
    os.unlink(os.path.join(a, "f0"))
    fsync_dir(a)
    assert "f0" not in os.listdir(a)
    _kept(cluster, a)
    os.rename(os.path.join(a, "f1"), os.path.join(a, "g1"))
    assert _kept(cluster, a) == ["f2", "f3", "f4", "g1", "new"]
    os.chmod(os.path.join(a, "f2"), 0o600)
    os.listdir(a)
    assert os.stat(os.path.join(a, "f2")).st_mode & 0o777 == 0o600
    # a write here, committed at close: the listing's sizes follow
    _kept(cluster, a)
    with open(os.path.join(a, "f3"), "ab") as f:
        f.write(b"more")
    subprocess.run(["ls", "-l", a], check=True, stdout=subprocess.DEVNULL)
    assert os.stat(os.path.join(a, "f3")).st_size == 3 + 4
    # another mount's create, once the feed told of it
    let_feed_settle()
    _kept(cluster, a)
    open(os.path.join(b, "theirs"), "wb").close()
    let_feed_settle()          # less than the second a listing is kept
    assert "theirs" in os.listdir(a)


def test_224g_find_then_rm_r_reads_empty_folders_once(cluster):
    """find, then rm -r, of a tree of empty folders (workload.sh's
    rmdir_tree): a folder find read empty is known empty (dir_count.h),
    and rm's listing of it is answered by the mount — only the folders
    that held folders are read at the master again."""
    top = os.path.join(cluster.mounts[0].path, "rmq-224g")
    for i in range(4):
        for j in range(4):
            for k in range(4):
                os.makedirs(os.path.join(top, "a%d" % i, "b%d" % j, "c%d" % k))
    time.sleep(1.2)              # the folders' leases (mkdir) have run out
    let_feed_settle()
    found = subprocess.run(["find", top, "-mindepth", "1", "-type", "d"], check=True,
                           capture_output=True).stdout.split()
    assert len(found) == 4 + 16 + 64
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    d = delta(before, route_counts(cluster))
    assert errno_of(os.stat, top) == errno.ENOENT
    fsync_dir(cluster.mounts[0].path)
    # the 21 folders that held folders (and the mount's root): 85 when
    # each of the 64 empty ones was read at the master again
    assert d.get("/v1/readdir", 0) <= 30, d
    st, j, _ = cluster.api("POST", "/v1/lookup", {"parent": 1, "name": "rmq-224g"})
    assert st == 404 and j["errno"] == errno.ENOENT, (st, j)


def test_224h_a_folder_known_empty_shows_what_is_added(cluster, bigfs_pair):
    """A folder this mount read empty is listed by the mount itself only
    while nothing was added: its own create shows at once, another
    mount's once the change feed told of it."""
    a, b = bigfs_pair
    os.mkdir(os.path.join(a, "e"))
    time.sleep(1.2)              # past the mkdir's lease: dir_count's rule alone
    let_feed_settle()
    ea, eb = os.path.join(a, "e"), os.path.join(b, "e")
    assert os.listdir(ea) == []
    before = route_counts(cluster)
    assert os.listdir(ea) == []
    assert "/v1/readdir" not in delta(before, route_counts(cluster))
    open(os.path.join(ea, "mine"), "wb").close()
    assert os.listdir(ea) == ["mine"]
    os.unlink(os.path.join(ea, "mine"))
    fsync_dir(ea)
    assert os.listdir(ea) == []
    open(os.path.join(eb, "theirs"), "wb").close()
    let_feed_settle()
    assert os.listdir(ea) == ["theirs"]
    # and rm -r of it removes what the other mount made
    subprocess.run(["rm", "-rf", ea], check=True)
    assert errno_of(os.stat, ea) == errno.ENOENT
    wait_for(lambda: not os.path.exists(eb), 5, "the folder gone on the other mount")
