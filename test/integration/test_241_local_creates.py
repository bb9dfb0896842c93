"""Creates answered by the mount (fuse/fs_ops.c fs_create_local): in a
folder the mount made and alone changes, a new file's create is answered
at once, as an inode number the master reserved for the mount (/v1/inos),
and sent to the master with the next batch. Users must not be able to
tell, but by speed: the same inode, mode, owner, group and times on every
mount; another mount finds each name once its create returned; a mount
killed with creates queued loses only the last ones (those no fsync
acknowledged), never one in the middle."""

import errno
import os
import signal
import stat
import subprocess
import time

import pytest

from conftest import drop_caches, errno_of, let_feed_settle, make_cluster
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import calls, creates, delta, route_counts, settled_delta
from test_224_queued_rmdirs import fsync_dir
from test_750_metrics import get, mount_metrics_addr, scrape
from test_225_queued_unlinks import (kill_mount_and_mount_again, progress_while_master_sleeps,
                                     start_child, wake_and_finish)


def _body(i):
    return (b"local %05d\n" % i) * (1 + i % 50)


def _same_attrs(a, b, what):
    for k in ("st_ino", "st_mode", "st_uid", "st_gid", "st_size", "st_nlink",
              "st_mtime_ns", "st_ctime_ns"):
        assert getattr(a, k) == getattr(b, k), (what, k, getattr(a, k), getattr(b, k))


@pytest.fixture(scope="module")
def lmount(cluster):
    """A mount of the shared cluster with metrics: (root, metrics address)."""
    m = cluster.mount(name="mnt241", opts="metrics=127.0.0.1:0")
    return m.path, mount_metrics_addr(cluster, m)


def queued_creates(addr):
    return get(scrape(addr, "bigfs_mount_")[0], "bigfs_mount_queued_creates_total")


def test_241_creates_answered_here_look_as_the_masters(cluster, lmount):
    """300 files made in a new folder: all but the first answered by the
    mount; each file has the same inode number, mode (the umask applied),
    owner and times on both mounts, also once the kernels forgot them,
    and reads back whole on the other mount."""
    root, addr = lmount
    d1 = os.path.join(root, "c241")
    d2 = os.path.join(cluster.mounts[0].path, "c241")
    os.mkdir(d1)
    let_feed_settle()
    sub1 = os.path.join(d1, "sub")
    os.mkdir(sub1)
    q0 = queued_creates(addr)
    before = route_counts(cluster)
    old = os.umask(0o027)
    try:
        for i in range(300):
            fd = os.open(os.path.join(sub1, "f%03d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o666)
            if i % 10 != 9:              # every tenth stays empty
                os.write(fd, _body(i))
            os.close(fd)
    finally:
        os.umask(old)
    seen1 = {n: os.stat(os.path.join(sub1, n)) for n in os.listdir(sub1)}
    d_ = settled_delta(cluster, before)
    assert creates(d_) == 300, d_
    assert d_.get("/v1/create", 0) <= 3, d_
    assert queued_creates(addr) - q0 >= 295
    sub2 = os.path.join(d2, "sub")
    assert sorted(os.listdir(sub2)) == ["f%03d" % i for i in range(300)]
    for i in range(300):
        name = "f%03d" % i
        st1 = seen1[name]
        assert stat.S_IMODE(st1.st_mode) == 0o640 and stat.S_ISREG(st1.st_mode), oct(st1.st_mode)
        assert (st1.st_uid, st1.st_gid) == (os.getuid(), os.getgid())
        _same_attrs(st1, os.stat(os.path.join(sub2, name)), name)
        with open(os.path.join(sub2, name), "rb") as f:
            assert f.read() == (b"" if i % 10 == 9 else _body(i)), name
    drop_caches()
    for name in ("f000", "f009", "f150", "f299"):
        _same_attrs(seen1[name], os.stat(os.path.join(sub1, name)), name)
        _same_attrs(seen1[name], os.stat(os.path.join(sub2, name)), name)
    # O_EXCL still holds for a name made here
    assert errno_of(os.open, os.path.join(sub1, "f007"),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL) == errno.EEXIST


def test_241b_setgid_folder_gives_its_group(cluster, bigfs_pair):
    """In a setgid folder of another group, the files made here get the
    folder's group, as the master gives it, on both mounts at once."""
    d1, d2 = bigfs_pair
    sub1 = os.path.join(d1, "sg")
    os.mkdir(sub1)
    os.chown(sub1, -1, 4321)
    os.chmod(sub1, 0o2775)
    for i in range(20):
        with open(os.path.join(sub1, "g%02d" % i), "xb") as f:
            f.write(b"g")
    for i in range(20):
        name = "g%02d" % i
        st1 = os.stat(os.path.join(sub1, name))
        assert st1.st_gid == 4321, (name, st1.st_gid)
        _same_attrs(st1, os.stat(os.path.join(d2, "sg", name)), name)
    drop_caches()
    assert os.stat(os.path.join(d2, "sg", "g05")).st_gid == 4321


@pytest.mark.skipif(not __import__("shutil").which("setfacl"), reason="setfacl missing")
def test_241c_default_acl_folder_asks_the_master(cluster, bigfs_pair):
    """A folder with a default ACL (any extended attribute) is left to the
    master: the new files' mode comes from the ACL, not the umask, on
    both mounts."""
    d1, d2 = bigfs_pair
    sub1 = os.path.join(d1, "acl")
    os.mkdir(sub1)
    subprocess.run(["setfacl", "-d", "-m", "u::rw,g::r,o::-", sub1], check=True)
    old = os.umask(0o077)
    try:
        for i in range(10):
            with open(os.path.join(sub1, "a%d" % i), "xb") as f:
                f.write(b"a")
    finally:
        os.umask(old)
    for i in range(10):
        name = "a%d" % i
        st1 = os.stat(os.path.join(sub1, name))
        assert stat.S_IMODE(st1.st_mode) == 0o640, (name, oct(st1.st_mode))
        _same_attrs(st1, os.stat(os.path.join(d2, "acl", name)), name)


def test_241d_other_mount_finds_each_name_at_once(cluster, bigfs_pair):
    """Close-to-open for names made here: once the create returned, the
    other mount finds the file, whether it looks the name up (the master
    asks this mount through its feed for what it queued there first) or
    answers from a listing it fetched (the master recalls this mount's
    creates there before it lists the folder)."""
    d1, d2 = bigfs_pair
    sub1, sub2 = os.path.join(d1, "cto"), os.path.join(d2, "cto")
    os.mkdir(sub1)
    before = route_counts(cluster)
    # (mount 2's lookups fetch listings of the folder now and then, which
    # makes mount 1's next create there go to the master: correct, not
    # fast; test_241 counts the fast case)
    for i in range(60):
        p1 = os.path.join(sub1, "l%03d" % i)
        with open(p1, "wb") as f:
            f.write(_body(i))
        with open(os.path.join(sub2, "l%03d" % i), "rb") as f:
            got = f.read()
            assert got == _body(i), "file %d: %d bytes read of %d" % (i, len(got), len(_body(i)))
    d_ = settled_delta(cluster, before)
    assert creates(d_) == 60, d_
    # now mount 2 keeps a listing (it fetches one at its second miss)
    for i in range(60):
        for k in range(3):
            assert errno_of(os.stat, os.path.join(sub2, "nx%d-%d" % (i, k))) == errno.ENOENT
        with open(os.path.join(sub1, "m%03d" % i), "wb") as f:
            f.write(_body(i))
        p2 = os.path.join(sub2, "m%03d" % i)
        assert os.path.lexists(p2), "round %d: not found on mount 2" % i
    assert len(os.listdir(sub2)) == 120


def test_241e_nolocalcreates_asks_the_master(cluster):
    """-o nolocalcreates: every create is a round trip to the master."""
    m = cluster.mount(name="mnt-241e", opts="nolocalcreates")
    try:
        d = os.path.join(m.path, "nl-241e")
        os.mkdir(d)
        let_feed_settle()
        before = route_counts(cluster)
        for i in range(20):
            with open(os.path.join(d, "n%02d" % i), "wb") as f:
                f.write(b"n")
        d_ = settled_delta(cluster, before)
        # each create waits for the master: alone, or riding on the batch
        # of the commit before it
        assert creates(d_) == 20 and calls(d_) >= 20, d_
    finally:
        m.unmount()
        cluster.mounts.remove(m)


def test_241f_mount_killed_with_creates_queued(tmp_path_factory):
    """The master sleeps; a child goes on making files, answered by the
    mount; the mount is killed. The files an fsync of the folder
    acknowledged before are whole; of the others, those the master got
    are the first ones made, in order, each whole or empty."""
    c = make_cluster(tmp_path_factory, "lc241f")
    try:
        m1 = c.mounts[0]
        d = os.path.join(m1.path, "d")
        os.mkdir(d)
        for i in range(30):
            with open(os.path.join(d, "s%03d" % i), "wb") as f:
                f.write(_body(i))
        fsync_dir(d)
        code = ("import os, sys\n"
                "d = sys.argv[1]\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "for i in range(40):\n"
                "    with open(os.path.join(d, 'q%03d' % i), 'wb') as f:\n"
                "        f.write((b'local %05d\\n' % i) * (1 + i % 50))\n"
                "    print(i, flush=True)\n")
        child = start_child(code, d)
        done = progress_while_master_sleeps(c, child, 39)
        assert done >= 5, "creates waited for the sleeping master (%d)" % done
        m2 = kill_mount_and_mount_again(c, m1, child)
        d2 = os.path.join(m2.path, "d")
        names = sorted(os.listdir(d2))
        for i in range(30):
            with open(os.path.join(d2, "s%03d" % i), "rb") as f:
                assert f.read() == _body(i)
        qs = [n for n in names if n.startswith("q")]
        assert qs == ["q%03d" % i for i in range(len(qs))], qs
        whole = 0
        for i, n in enumerate(qs):
            with open(os.path.join(d2, n), "rb") as f:
                got = f.read()
            assert got in (b"", _body(i)), (n, len(got))
            assert got == b"" or whole == i, (n, whole)
            whole += got != b""
        # the folder is consistent: it counts, lists and empties
        for n in names:
            os.unlink(os.path.join(d2, n))
        os.rmdir(d2)
    finally:
        wake_and_finish(c)


def test_241g_master_checks_the_numbers(cluster):
    """/v1/inos and /v1/create with "ino": only numbers reserved for the
    session, each once; bad members are 400s."""
    root = 1
    st, j, _ = cluster.api("POST", "/v1/inos", {"session": "t241g", "count": 4})
    assert st == 200, j
    lo, hi = j["lo"], j["hi"]
    assert hi - lo == 3 and lo > 1
    for bad in ({"session": "t241g", "count": 0}, {"session": "t241g", "count": 1 << 20},
                {"count": 4}, {"session": "t241g"}, {"session": "../x", "count": 4},
                {"session": "t241g", "count": "4"}):
        st, j, _ = cluster.api("POST", "/v1/inos", bad)
        assert st == 400, (bad, st, j)

    def create(ino, name, session="t241g", **kw):
        body = {"parent": root, "name": name, "mode": 0o100640, "uid": 0, "gid": 0,
                "ino": ino, "session": session}
        body.update(kw)
        return cluster.api("POST", "/v1/create", body)

    st, j, _ = create(lo, "t241g-a", time_s=1_000_000_000, time_ns=5)
    assert st == 200, j
    assert j["attr"]["ino"] == lo and j["created"] is True
    assert j["attr"]["mtime_s"] == 1_000_000_000 and j["attr"]["mtime_ns"] == 5
    st, j, _ = create(lo, "t241g-b")
    assert st == 409 and j["errno"] == errno.EEXIST, (st, j)
    st, j, _ = create(lo + 1, "t241g-a")
    assert st == 409 and j["errno"] == errno.EEXIST, (st, j)
    st, j, _ = create(lo + 1, "t241g-c", session="t241g-other")
    assert st == 403 and j["errno"] == errno.EPERM, (st, j)
    st, j, _ = create(hi + 1, "t241g-c")
    assert st == 403 and j["errno"] == errno.EPERM, (st, j)
    for bad in ({"ino": "x"}, {"ino": -1}, {"time_s": -5}, {"time_ns": 10 ** 9},
                {"session": None}):
        body = {"parent": root, "name": "t241g-d", "mode": 0o100640, "uid": 0, "gid": 0,
                "ino": lo + 2, "session": "t241g"}
        body.update(bad)
        body = {k: v for k, v in body.items() if v is not None}
        st, j, _ = cluster.api("POST", "/v1/create", body)
        assert st == 400, (bad, st, j)
    st, j, _ = create(lo + 2, "t241g-d")
    assert st == 200 and j["attr"]["ino"] == lo + 2, j
    for n in ("t241g-a", "t241g-d"):
        st, j, _ = cluster.api("POST", "/v1/unlink", {"parent": root, "name": n})
        assert st == 200, j
