"""Renames answered at once and sent in the queue's batches
(fuse/ns_queue.c): a plain rename within a folder to a name the mount
knows is absent (a folder it made, under its lease) can only be done or
find its old name gone, so it waits for no master. mv of many files in a
new folder costs a few batches; what the renaming mount sees is always
in order (the old name is gone at once, the new one is the same inode,
a chain of renames ends at its last name, a new file of the old name is
a new file); renames that can replace or move something still ask the
master; another mount sees the new names within moments; a mount killed
with renames queued leaves every file under one of its names, whole;
a queued rename the master refuses (another client removed the name
first) is logged and counted; and /v1/batch judges each rename op as
/v1/rename would."""

import ctypes
import errno
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import ApiSession, errno_of, make_cluster, wait_for
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import creates, delta, route_counts
from test_224_queued_rmdirs import fsync_dir
from test_225_queued_unlinks import (kill_mount_and_mount_again, progress_while_master_sleeps,
                                     start_child, wake_and_finish)
from test_235_push_invalidation import mount_counter
from test_750_metrics import mount_metrics_addr


def _contents(i):
    return (b"renamed %05d\n" % i) * (1 + i % 40)


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def _write(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data)


def _renameat2(a, b, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    rc = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


RENAME_NOREPLACE = 1


def _master_ino(c, dino, name):
    """The inode the master has under name in folder dino, or None."""
    st, j, raw = c.api("POST", "/v1/lookup", {"parent": dino, "name": name})
    assert st in (200, 404), (name, st, raw[:200])
    if st == 404:
        assert j and j.get("errno") == errno.ENOENT, (name, raw[:200])
        return None
    return j["attr"]["ino"]


def test_223_renames_in_a_new_folder_go_in_batches(cluster):
    """300 renames in a folder this mount just made and filled: none asks
    /v1/rename, they go in fewer batches than renames; each file keeps
    its inode and contents under its new name, and after a folder fsync
    the master has the new names and not the old ones."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223")
    os.mkdir(d)
    n = 300
    inos = {}
    for i in range(n):
        p = os.path.join(d, "a%d" % i)
        _write(p, _contents(i))
        inos[i] = os.stat(p).st_ino
    assert len(set(inos.values())) == n
    dino = os.stat(d).st_ino
    before = route_counts(cluster)
    subprocess.run(["perl", "-e", 'for (0..%d) { rename("a$_", "b$_") or exit 1 }' % (n - 1)],
                   cwd=d, check=True)
    names = os.listdir(d)
    d_ = delta(before, route_counts(cluster))
    assert "/v1/rename" not in d_, d_
    assert 1 <= d_.get("/v1/batch", 0) < n, d_
    assert sorted(names) == sorted("b%d" % i for i in range(n))
    for i in range(n):
        p = os.path.join(d, "b%d" % i)
        assert os.stat(p).st_ino == inos[i], i
        assert _read(p) == _contents(i), i
        assert errno_of(os.stat, os.path.join(d, "a%d" % i)) == errno.ENOENT, i
    fsync_dir(d)
    for i in (0, 5, 150, n - 1):
        assert _master_ino(cluster, dino, "b%d" % i) == inos[i], i
        assert _master_ino(cluster, dino, "a%d" % i) is None, i


def test_223b_the_renaming_mount_sees_its_order(cluster):
    """Right after each queued rename: the old name is gone, the new one is
    the same file; a chain ends at its last name; an unlink of the new
    name removes it; a new file of the old name is a new inode; a folder
    renamed is reached with what it holds; a rename there and back keeps
    the inode; a listing (also one kept before) shows the new names; a
    file written on both sides of its rename has all it was written."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223b")
    os.mkdir(d)
    dino = os.stat(d).st_ino

    def p(n):
        return os.path.join(d, n)

    before = route_counts(cluster)
    # a -> b: the old name is gone, the new one is the same file
    _write(p("a"), b"contents of a")
    ino_a = os.stat(p("a")).st_ino
    os.rename(p("a"), p("b"))
    assert errno_of(os.stat, p("a")) == errno.ENOENT
    st = os.stat(p("b"))
    assert st.st_ino == ino_a and st.st_size == len(b"contents of a")
    assert _read(p("b")) == b"contents of a"
    # a chain b -> c -> d: only d is left
    os.rename(p("b"), p("c"))
    os.rename(p("c"), p("d"))
    for gone in ("a", "b", "c"):
        assert errno_of(os.stat, p(gone)) == errno.ENOENT, gone
    assert os.stat(p("d")).st_ino == ino_a
    assert sorted(os.listdir(d)) == ["d"]
    # renamed, then the new name unlinked at once
    _write(p("u"), b"short-lived")
    os.rename(p("u"), p("u2"))
    os.unlink(p("u2"))
    assert errno_of(os.stat, p("u2")) == errno.ENOENT
    assert errno_of(os.stat, p("u")) == errno.ENOENT
    assert sorted(os.listdir(d)) == ["d"]
    # renamed, then a new file of the old name: a new inode, both readable
    _write(p("o"), b"first o")
    ino_o = os.stat(p("o")).st_ino
    os.rename(p("o"), p("o2"))
    fd = os.open(p("o"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"second o")
    os.close(fd)
    assert os.stat(p("o")).st_ino != ino_o
    assert os.stat(p("o2")).st_ino == ino_o
    assert _read(p("o")) == b"second o" and _read(p("o2")) == b"first o"
    # a folder made here, with files, renamed: reached by the new path
    os.mkdir(p("sub"))
    for k in range(3):
        _write(os.path.join(p("sub"), "f%d" % k), b"in sub %d" % k)
    sub_ino = os.stat(p("sub")).st_ino
    os.rename(p("sub"), p("sub2"))
    assert errno_of(os.stat, p("sub")) == errno.ENOENT
    assert os.stat(p("sub2")).st_ino == sub_ino
    assert _read(os.path.join(p("sub2"), "f1")) == b"in sub 1"
    assert sorted(os.listdir(p("sub2"))) == ["f0", "f1", "f2"]
    # there and back: the same inode under the first name
    _write(p("x"), b"x and back")
    ino_x = os.stat(p("x")).st_ino
    os.rename(p("x"), p("y"))
    os.rename(p("y"), p("x"))
    assert errno_of(os.stat, p("y")) == errno.ENOENT
    assert os.stat(p("x")).st_ino == ino_x and _read(p("x")) == b"x and back"
    # a listing kept before the renames is not used after them
    os.listdir(d)
    assert sorted(os.listdir(d)) == ["d", "o", "o2", "sub2", "x"]
    os.rename(p("d"), p("e"))
    os.rename(p("o2"), p("o3"))
    assert sorted(os.listdir(d)) == ["e", "o", "o3", "sub2", "x"]
    # a file open for writing renamed between its writes
    fd = os.open(p("w"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"written before the rename; ")
    os.rename(p("w"), p("w2"))
    os.write(fd, b"and after it")
    os.close(fd)
    assert errno_of(os.stat, p("w")) == errno.ENOENT
    assert _read(p("w2")) == b"written before the rename; and after it"
    d_ = delta(before, route_counts(cluster))
    # all but the way back (y -> x: x is still a name here until the
    # batch of x -> y is back) may be queued; most must have been
    assert d_.get("/v1/rename", 0) <= 1, d_
    assert d_.get("/v1/batch", 0) >= 1, d_
    # and the master has it all the same way
    fsync_dir(d)
    for name, ino in (("e", ino_a), ("o3", ino_o), ("sub2", sub_ino), ("x", ino_x)):
        assert _master_ino(cluster, dino, name) == ino, name
    for name in ("a", "b", "c", "d", "u", "u2", "o2", "sub", "y", "w"):
        assert _master_ino(cluster, dino, name) is None, name
    assert _master_ino(cluster, dino, "w2") == os.stat(p("w2")).st_ino


def test_223c_renames_that_wait_for_the_master(cluster):
    """A rename that may replace or move something still asks the master,
    and behaves as before: over an existing file (its open file's link
    count drops to 0), also over one a queued rename just made;
    RENAME_NOREPLACE onto a name; into another folder; over a folder; and
    in a folder whose lease ran out."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223c")
    os.mkdir(d)

    def p(n):
        return os.path.join(d, n)

    _write(p("src"), b"the source")
    _write(p("dst"), b"the old target")
    src_ino = os.stat(p("src")).st_ino
    fd = os.open(p("dst"), os.O_RDONLY)
    before = route_counts(cluster)
    os.rename(p("src"), p("dst"))
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/rename", 0) == 1, d_
    assert os.fstat(fd).st_nlink == 0
    assert os.read(fd, 100) == b"the old target"
    os.close(fd)
    assert errno_of(os.stat, p("src")) == errno.ENOENT
    assert os.stat(p("dst")).st_ino == src_ino and _read(p("dst")) == b"the source"
    # onto the name a queued rename just made (in a new folder, queued
    # behind a burst of others, so it is still on its way): that one goes
    # first (the kernel looks the target up, which waits for the queue),
    # then this one asks the master, which replaces it
    os.mkdir(p("burst"))

    def b(n):
        return os.path.join(p("burst"), n)

    for i in range(100):
        open(b("m%d" % i), "wb").close()
    _write(b("q1"), b"first q")
    _write(b("q2"), b"second q")
    fd = os.open(b("q1"), os.O_RDONLY)
    before = route_counts(cluster)
    for i in range(100):
        os.rename(b("m%d" % i), b("n%d" % i))
    os.rename(b("q1"), b("q"))
    os.rename(b("q2"), b("q"))
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/rename", 0) == 1 and d_.get("/v1/batch", 0) >= 1, d_
    assert os.fstat(fd).st_nlink == 0
    os.close(fd)
    assert _read(b("q")) == b"second q"
    assert errno_of(os.stat, b("q1")) == errno.ENOENT
    assert errno_of(os.stat, b("q2")) == errno.ENOENT
    assert sorted(os.listdir(p("burst"))) == sorted(["q"] + ["n%d" % i for i in range(100)])
    # RENAME_NOREPLACE onto an existing name, and onto a free one
    _write(p("n1"), b"n1")
    assert errno_of(_renameat2, p("n1"), p("dst"), RENAME_NOREPLACE) == errno.EEXIST
    assert _read(p("dst")) == b"the source" and _read(p("n1")) == b"n1"
    before = route_counts(cluster)
    _renameat2(p("n1"), p("n2"), RENAME_NOREPLACE)
    assert delta(before, route_counts(cluster)).get("/v1/rename", 0) == 1
    assert errno_of(os.stat, p("n1")) == errno.ENOENT and _read(p("n2")) == b"n1"
    # into another folder
    os.mkdir(p("other"))
    n2_ino = os.stat(p("n2")).st_ino
    before = route_counts(cluster)
    os.rename(p("n2"), os.path.join(p("other"), "moved"))
    assert delta(before, route_counts(cluster)).get("/v1/rename", 0) == 1
    assert errno_of(os.stat, p("n2")) == errno.ENOENT
    moved = os.path.join(p("other"), "moved")
    assert os.stat(moved).st_ino == n2_ino and _read(moved) == b"n1"
    # a file over a folder (non-empty: other holds moved), a folder over a
    # non-empty folder
    assert errno_of(os.rename, p("dst"), p("other")) == errno.EISDIR
    os.mkdir(p("full"))
    _write(os.path.join(p("full"), "keep"), b"kept")
    assert errno_of(os.rename, p("other"), p("full")) == errno.ENOTEMPTY
    assert sorted(os.listdir(d)) == ["burst", "dst", "full", "other"]
    assert os.listdir(p("other")) == ["moved"]
    assert _read(os.path.join(p("full"), "keep")) == b"kept"
    # once the folder's lease ran out the mount no longer knows a name is
    # absent: the rename asks the master
    time.sleep(1.2)
    before = route_counts(cluster)
    os.rename(p("dst"), p("late"))
    assert delta(before, route_counts(cluster)).get("/v1/rename", 0) == 1
    assert errno_of(os.stat, p("dst")) == errno.ENOENT
    assert os.stat(p("late")).st_ino == src_ino


def test_223d_other_mount_sees_the_rename(bigfs_pair, cluster):
    """100 files renamed on one mount in a folder it made (queued): the
    other mount, which listed the old names, lists the new ones within
    moments and reads them."""
    a, b = bigfs_pair
    d1, d2 = os.path.join(a, "sub"), os.path.join(b, "sub")
    os.mkdir(d1)
    n = 100
    for i in range(n):
        _write(os.path.join(d1, "f%03d" % i), _contents(i))
    assert sorted(os.listdir(d2)) == ["f%03d" % i for i in range(n)]
    assert _read(os.path.join(d2, "f007")) == _contents(7)
    # a change of this mount there: its lease on the folder runs from now
    open(os.path.join(d1, "tick"), "wb").close()
    before = route_counts(cluster)
    for i in range(n):
        os.rename(os.path.join(d1, "f%03d" % i), os.path.join(d1, "g%03d" % i))
    d_ = delta(before, route_counts(cluster))
    assert "/v1/rename" not in d_, d_
    want = ["g%03d" % i for i in range(n)] + ["tick"]
    t0 = time.monotonic()
    while sorted(os.listdir(d2)) != want:
        assert time.monotonic() - t0 < 2.0, sorted(os.listdir(d2))[:5]
        time.sleep(0.02)
    for i in (0, 7, 50, n - 1):
        assert _read(os.path.join(d2, "g%03d" % i)) == _contents(i), i
        # the old name this mount's kernel holds goes with the feed's
        # event (milliseconds), as another mount's unlink does (test_227)
        wait_for(lambda: errno_of(os.stat, os.path.join(d2, "f%03d" % i)) == errno.ENOENT,
                 2, "the old name f%03d to go on the other mount" % i)


def test_223e_mount_killed_with_renames_queued(tmp_path_factory):
    """Renames while the master sleeps are answered at once, and each old
    name is gone at once for the renaming mount; a new name the kernel
    forgot is looked up once the master has the renames (not answered
    "no such name"). Then the master is paused while a child renames the
    rest of the folder's files (one batch on its way, the others queued)
    and the mount is killed: the renames a folder fsync acknowledged
    stand; every file is there once, under its old or its new name,
    whole, and the new names are those of the first renames (the master
    applied them in order)."""
    c = make_cluster(tmp_path_factory, "mvq223e")
    try:
        m1 = c.mounts[0]
        d = os.path.join(m1.path, "d")
        os.mkdir(d)
        n, first = 120, 20
        for i in range(n):
            _write(os.path.join(d, "a%d" % i), _contents(i))
        fsync_dir(d)
        dino = os.stat(d).st_ino
        inos = [os.stat(os.path.join(d, "a%d" % i)).st_ino for i in range(first)]
        # the first ones renamed while the master sleeps: answered at once,
        # the old names gone at once; the new name, once the kernel forgot
        # it, is looked up after the queue is sent (not "no such name")
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)   # the kernel keeps the folder
        open(os.path.join(d, "tick"), "wb").close()     # a renewed lease
        os.listdir(d)
        c.master.send(signal.SIGSTOP)
        t0 = time.monotonic()
        for i in range(first):
            os.rename(os.path.join(d, "a%d" % i), os.path.join(d, "b%d" % i))
            assert errno_of(os.stat, os.path.join(d, "a%d" % i)) == errno.ENOENT
        assert time.monotonic() - t0 < 0.5
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")                             # names the kernel kept
        wake = threading.Timer(0.3, c.master.send, (signal.SIGCONT,))
        wake.start()
        t0 = time.monotonic()
        assert os.stat(os.path.join(d, "b%d" % (first - 1))).st_ino == inos[-1]
        waited = time.monotonic() - t0
        wake.join()
        os.fsync(dfd)
        os.close(dfd)
        print("the lookup of the new name waited %.3f s for the master" % waited)
        assert _master_ino(c, dino, "b%d" % (first - 1)) is not None
        assert _master_ino(c, dino, "a%d" % (first - 1)) is None
        code = ("import os, sys\n"
                "d = sys.argv[1]\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "for i in range(%d, %d):\n"
                "    a = os.path.join(d, 'a%%d' %% i)\n"
                "    os.rename(a, os.path.join(d, 'b%%d' %% i))\n"
                "    if os.path.exists(a):\n"      # gone at once, without the master
                "        sys.exit('a%%d is still there' %% i)\n"
                "    print(i, flush=True)\n" % (first, n))
        child = start_child(code, d)
        # fresh names in the kernel and a renewed lease on the folder: no
        # rename of the child needs the master for a lookup
        open(os.path.join(d, "tick2"), "wb").close()
        os.listdir(d)
        done = progress_while_master_sleeps(c, child, n - 1)
        assert done >= first + 40, "the renames did not go on while the master slept (%d)" % done
        m2 = kill_mount_and_mount_again(c, m1, child)
        d2 = os.path.join(m2.path, "d")
        names = sorted(x for x in os.listdir(d2) if not x.startswith("tick"))
        assert len(names) == n, names
        seen = {}
        for name in names:
            i = int(name[1:])
            assert i not in seen, (name, seen.get(i))
            seen[i] = name
            assert _read(os.path.join(d2, name)) == _contents(i), name
        assert sorted(seen) == list(range(n))
        renamed = [i for i in range(n) if seen[i][0] == "b"]
        assert renamed == list(range(len(renamed))), renamed   # the first ones, in order
        assert len(renamed) >= first, renamed
        print("renames at the master after the kill: %d of %d (the child did %d)"
              % (len(renamed), n, done + 1))
        for i in range(n):
            other = ("a%d" if seen[i][0] == "b" else "b%d") % i
            assert errno_of(os.stat, os.path.join(d2, other)) == errno.ENOENT
        subprocess.run(["rm", "-rf", d2], check=True)
        assert errno_of(os.stat, d2) == errno.ENOENT
    finally:
        wake_and_finish(c)


def test_223f_batch_rename_input(cluster):
    """/v1/batch's rename op: a good one is done; a missing or bad
    newparent or newname is EINVAL, a long newname ENAMETOOLONG, a missing
    old name ENOENT, a file over a non-empty folder refused as /v1/rename
    refuses it; each failing op changes nothing and the ops after it
    still run."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223f")
    os.mkdir(d)
    for name in ("a", "b", "c", "d", "e"):
        _write(os.path.join(d, name), b"file " + name.encode())
    os.mkdir(os.path.join(d, "full"))
    _write(os.path.join(d, "full", "inside"), b"inside")
    dino = os.stat(d).st_ino
    ino = {name: os.stat(os.path.join(d, name)).st_ino for name in ("a", "b", "c", "d", "e")}

    def ren(name, **kw):
        op = {"op": "rename", "parent": dino, "name": name, "newparent": dino}
        op.update(kw)
        return {k: v for k, v in op.items() if v is not None}

    ops = [ren("a", newname="a2"),
           ren("b"),                                   # no newname
           ren("b", newname="b2", newparent="x"),
           ren("b", newname="b2", newparent=None),     # no newparent
           ren("b", newname="../z"),
           ren("b", newname="s/t"),
           ren("b", newname="n" * 300),
           ren("missing", newname="m2"),
           ren("c", newname="full"),
           ren("d", newname="d2"),
           {"op": "unlink", "parent": dino, "name": "e"}]
    st, j, raw = cluster.api("POST", "/v1/batch", {"ops": ops})
    assert st == 200, raw[:300]
    got = [r["errno"] for r in j["results"]]
    assert got[:8] == [0, errno.EINVAL, errno.EINVAL, errno.EINVAL, errno.EINVAL,
                       errno.EINVAL, errno.ENAMETOOLONG, errno.ENOENT], got
    # what /v1/rename answers for the same (file over a non-empty folder)
    st_r, j_r, raw_r = cluster.api("POST", "/v1/rename", {"parent": dino, "name": "c",
                                                           "newparent": dino, "newname": "full"})
    assert st_r != 200 and j_r, raw_r[:200]
    assert got[8] == j_r["errno"], (got, raw_r[:200])
    assert got[8] in (errno.EISDIR, errno.ENOTEMPTY, errno.ENOTDIR), got
    assert got[9:] == [0, 0], got
    assert j["results"][0]["dirs"][0]["attr"]["ino"] == dino
    assert cluster.master.alive()
    # the master has the good ones and nothing of the bad ones
    assert _master_ino(cluster, dino, "a2") == ino["a"]
    assert _master_ino(cluster, dino, "d2") == ino["d"]
    for name in ("a", "d", "e", "b2", "z", "m2", "n" * 255):
        assert _master_ino(cluster, dino, name) is None, name
    st, _, _ = cluster.api("POST", "/v1/lookup", {"parent": 1, "name": "z"})
    assert st == 404
    want = ["a2", "b", "c", "d2", "full"]
    t0 = time.monotonic()
    while sorted(os.listdir(d)) != want:
        assert time.monotonic() - t0 < 2.0, os.listdir(d)
        time.sleep(0.05)
    for name, old in (("a2", "a"), ("b", "b"), ("c", "c"), ("d2", "d")):
        p = os.path.join(d, name)
        assert os.stat(p).st_ino == ino[old], name
        assert _read(p) == b"file " + old.encode(), name
    assert os.listdir(os.path.join(d, "full")) == ["inside"]
    assert _read(os.path.join(d, "full", "inside")) == b"inside"


@pytest.fixture(scope="module")
def nofeed(cluster):
    """A mount of the shared cluster without the change feed (cache_ttl=1:
    the kernel keeps a name one second, and is told of no change of
    others meanwhile), with metrics: (mount, its metrics address)."""
    m = cluster.mount(name="mnt223", opts="cache_ttl=1,metrics=127.0.0.1:0")
    yield m, mount_metrics_addr(cluster, m)
    m.unmount()
    cluster.mounts.remove(m)


def test_223g_a_queued_rename_the_master_refuses(cluster, nofeed):
    """Another client removes a name, and the mount renames it before it
    learns of that (its kernel still holds the name; the feed would tell
    it within moments, this mount has none so the window is wide): the
    rename is answered and queued, the master finds the old name gone,
    and the mount logs and counts it. Nothing of the file is left, under
    either name, at the master or, once the kernel's second is over, on
    the mount."""
    m, addr = nofeed
    d = os.path.join(m.path, "mvq-223g")
    os.mkdir(d)
    _write(os.path.join(d, "keep"), b"kept")
    _write(os.path.join(d, "a"), b"removed by another")
    dino = os.stat(d).st_ino
    renames = mount_counter(addr, "bigfs_mount_queued_renames_total")
    errors = mount_counter(addr, "bigfs_mount_queued_op_errors_total")
    other = ApiSession(cluster.url, cluster.password or "")   # a client of its own
    box = {}
    t = threading.Thread(target=lambda: box.update(
        r=other.call("POST", "/v1/unlink", {"parent": dino, "name": "a"})))
    t.start()
    wait_for(lambda: _master_ino(cluster, dino, "a") is None, 2, "the other client's unlink")
    os.rename(os.path.join(d, "a"), os.path.join(d, "b"))     # answered at once
    os.rename(os.path.join(d, "keep"), os.path.join(d, "kept"))
    fsync_dir(d)
    t.join()
    assert box["r"][0] == 200, box["r"][2][:200]     # held until the mount's lease ran out
    assert mount_counter(addr, "bigfs_mount_queued_renames_total") == renames + 2
    assert mount_counter(addr, "bigfs_mount_queued_op_errors_total") == errors + 1
    with open(m.daemon.log, errors="replace") as f:
        log = f.read()
    assert re.search(r"queued rename of 'a' in folder %d to 'b' in folder %d failed: "
                     r"No such file" % (dino, dino), log), log[-2000:]
    assert _master_ino(cluster, dino, "a") is None and _master_ino(cluster, dino, "b") is None
    assert _master_ino(cluster, dino, "kept") is not None
    wait_for(lambda: sorted(os.listdir(d)) == ["kept"], 3, "the mount to list what the master has")
    wait_for(lambda: not os.path.exists(os.path.join(d, "b")), 3, "the name b to go")
    assert not os.path.exists(os.path.join(d, "a"))
    assert _read(os.path.join(d, "kept")) == b"kept"


def test_223h_batch_create_input(cluster):
    """/v1/batch's create op is /v1/create: a good one makes the file
    (with its attributes, "created", and the first chunk's write grant
    when asked), an existing name with "excl" is EEXIST, missing or bad
    members EINVAL, a long name ENAMETOOLONG; each failing op changes
    nothing, the ops after it still run, and the creates keep their place
    in the batch's order (an unlink before a create of the same name)."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223h")
    os.mkdir(d)
    _write(os.path.join(d, "old"), b"old")
    dino = os.stat(d).st_ino

    def create(name, **kw):
        op = {"op": "create", "parent": dino, "name": name, "mode": 0o100640, "uid": 0,
              "gid": 0, "umask": 0o022, "excl": True}
        op.update(kw)
        return {k: v for k, v in op.items() if v is not None}

    ops = [create("n1"),
           create("n2", grant=True),
           create("old"),                            # exists, excl
           create("n3", mode=None),                  # no mode
           create("n4", parent="x"),
           create("../n5"),
           create("n" * 300),
           {"op": "unlink", "parent": dino, "name": "old"},
           create("old", excl=False),                # after the unlink: a new file
           create("n1", excl=False)]                 # exists: opened, not made
    st, j, raw = cluster.api("POST", "/v1/batch", {"ops": ops})
    assert st == 200, raw[:300]
    res = j["results"]
    got = [r["errno"] for r in res]
    assert got == [0, 0, errno.EEXIST, errno.EINVAL, errno.EINVAL, errno.EINVAL,
                   errno.ENAMETOOLONG, 0, 0, 0], got
    assert res[0]["created"] is True and res[0]["attr"]["mode"] == 0o100640, res[0]
    assert "grant" not in res[0] and "attr" not in res[2], (res[0], res[2])
    assert res[0]["dirs"][0]["attr"]["ino"] == dino, res[0]
    assert res[9]["created"] is False and res[9]["attr"]["ino"] == res[0]["attr"]["ino"]
    assert res[8]["created"] is True
    assert cluster.master.alive()
    assert _master_ino(cluster, dino, "n1") == res[0]["attr"]["ino"]
    assert _master_ino(cluster, dino, "old") == res[8]["attr"]["ino"]
    for name in ("n3", "n4", "n5", "n" * 255):
        assert _master_ino(cluster, dino, name) is None, name
    t0 = time.monotonic()
    while sorted(os.listdir(d)) != ["n1", "n2", "old"]:
        assert time.monotonic() - t0 < 2.0, os.listdir(d)
        time.sleep(0.05)
    assert os.stat(os.path.join(d, "old")).st_size == 0


def test_223i_a_create_rides_on_the_queued_rename(cluster):
    """rsync's pattern: write a temporary file, rename it to its name,
    create the next. The rename is queued, and the next create goes on
    the same batch (one round trip for both): few /v1/create calls, no
    /v1/rename; every file is whole under its final name."""
    d = os.path.join(cluster.mounts[0].path, "mvq-223i")
    os.mkdir(d)
    before = route_counts(cluster)
    for i in range(100):
        tmp = os.path.join(d, ".f%03d.tmp" % i)
        with open(tmp, "xb") as f:
            f.write(_contents(i))
        os.rename(tmp, os.path.join(d, "f%03d" % i))
    fsync_dir(d)
    dl = delta(before, route_counts(cluster))
    assert "/v1/rename" not in dl, dl
    assert dl.get("/v1/create", 0) < 50, dl
    assert dl.get("batch:rename") == 100 and creates(dl) == 100, dl
    assert 1 <= dl.get("/v1/batch", 0) <= 100, dl
    assert sorted(os.listdir(d)) == ["f%03d" % i for i in range(100)]
    for i in (0, 57, 99):
        assert _read(os.path.join(d, "f%03d" % i)) == _contents(i)
        assert _master_ino(cluster, os.stat(d).st_ino, "f%03d" % i) is not None
