"""atime / mtime / ctime rules, utimensat (UTIME_NOW, UTIME_OMIT) and
nanoseconds, on a local directory and on BigFS (posix_fixtures.fsroot).

Method: mtime and atime are first set to an old value, so a change shows
as "newer than that"; ctime cannot be set, so before an operation that
must change it the test waits until the clock has moved past the current
ctime (a poll on the clock, not a sleep for something else to happen).

On BigFS mtime/ctime of written data are the time the data reached the
master (at close, fsync, or when the write buffer drains), and on the
writing mount the time of the last write() until then; reads update
atime by the relatime rule (when atime is not newer than mtime or ctime,
or a day old), skipped for O_NOATIME opens.
"""

import ctypes
import ctypes.util
import os
import time

from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixtures)

OLD = 1_000_000_000_123_456_789          # 2001-09-09, with nanoseconds
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def utimensat(path, atime, mtime):
    """atime/mtime: ns since the epoch, or UTIME_NOW / UTIME_OMIT."""
    def ts(v):
        if v in (UTIME_NOW, UTIME_OMIT):
            return Timespec(0, v)
        return Timespec(v // 10**9, v % 10**9)
    arr = (Timespec * 2)(ts(atime), ts(mtime))
    rc = _libc.utimensat(AT_FDCWD, os.fsencode(path), arr, 0)
    assert rc == 0, os.strerror(ctypes.get_errno())


def st(path):
    return os.lstat(path)


def age(path):
    """Set atime and mtime to OLD."""
    os.utime(path, ns=(OLD, OLD), follow_symlinks=False)


def past_ctime(*paths):
    """Wait until the clock is past every path's ctime (by 10 ms)."""
    target = max(st(p).st_ctime_ns for p in paths) + 10_000_000
    while time.time_ns() < target:
        time.sleep(0.002)


def test_write_sets_mtime_and_ctime(fsroot):
    p = os.path.join(fsroot, "f")
    with open(p, "w") as f:
        f.write("x")
    age(p)
    past_ctime(p)
    c0 = st(p).st_ctime_ns
    with open(p, "a") as f:
        f.write("more")
    s = st(p)
    assert s.st_mtime_ns > OLD and s.st_ctime_ns > c0
    assert s.st_mtime_ns == s.st_ctime_ns
    assert s.st_atime_ns == OLD


def test_write_sets_mtime_before_close(fsroot):
    """stat() and fstat() of a file still open for writing show the write's
    time; an explicit utimensat after the write wins until the next write."""
    p = os.path.join(fsroot, "f")
    with open(p, "w") as f:
        f.write("x")
    age(p)
    past_ctime(p)
    c0 = st(p).st_ctime_ns
    with open(p, "a") as f:
        f.write("more")
        f.flush()
        before_close = os.fstat(f.fileno())
        assert before_close.st_mtime_ns > OLD and before_close.st_ctime_ns > c0
        assert st(p).st_mtime_ns == before_close.st_mtime_ns
        utimensat(p, OLD, OLD)
        assert st(p).st_mtime_ns == OLD
        f.write("again")
        f.flush()
        assert os.fstat(f.fileno()).st_mtime_ns > OLD
    assert st(p).st_mtime_ns >= before_close.st_mtime_ns


def test_create_and_remove_touch_the_parent(fsroot):
    d = os.path.join(fsroot, "d")
    os.mkdir(d)
    for op in (lambda: open(os.path.join(d, "new"), "w").close(),
               lambda: os.mkdir(os.path.join(d, "sub")),
               lambda: os.symlink("t", os.path.join(d, "ln")),
               lambda: os.unlink(os.path.join(d, "new")),
               lambda: os.rmdir(os.path.join(d, "sub"))):
        age(d)
        past_ctime(d)
        c0 = st(d).st_ctime_ns
        op()
        s = st(d)
        assert s.st_mtime_ns > OLD and s.st_ctime_ns > c0
        assert s.st_mtime_ns == s.st_ctime_ns
        assert s.st_atime_ns == OLD


def test_rename_touches_both_parents_and_the_inode(fsroot):
    a, b = os.path.join(fsroot, "a"), os.path.join(fsroot, "b")
    os.mkdir(a)
    os.mkdir(b)
    f = os.path.join(a, "f")
    open(f, "w").close()
    for p in (a, b, f):
        age(p)
    past_ctime(a, b, f)
    c0 = {p: st(p).st_ctime_ns for p in (a, b, f)}
    g = os.path.join(b, "g")
    os.rename(f, g)
    for p in (a, b):
        assert st(p).st_mtime_ns > OLD and st(p).st_ctime_ns > c0[p]
    s = st(g)
    assert s.st_mtime_ns == OLD and s.st_ctime_ns > c0[f]


def test_metadata_changes_set_ctime_only(fsroot):
    p = os.path.join(fsroot, "m")
    with open(p, "w") as f:
        f.write("data")
    ops = {
        "chmod": lambda: os.chmod(p, 0o600),
        "chown": lambda: os.chown(p, 65534, 65534),
        "link": lambda: os.link(p, p + ".2"),
        "unlink_one": lambda: os.unlink(p + ".2"),
        "setxattr": lambda: os.setxattr(p, "user.k", b"v"),
        "removexattr": lambda: os.removexattr(p, "user.k"),
    }
    for name, op in ops.items():
        age(p)
        past_ctime(p)
        c0 = st(p).st_ctime_ns
        op()
        s = st(p)
        assert (name, s.st_mtime_ns, s.st_atime_ns) == (name, OLD, OLD)
        assert s.st_ctime_ns > c0, name


def test_truncate_sets_mtime_and_ctime(fsroot):
    p = os.path.join(fsroot, "t")
    with open(p, "w") as f:
        f.write("0123456789")
    for size in (4, 100, 0):
        age(p)
        past_ctime(p)
        c0 = st(p).st_ctime_ns
        os.truncate(p, size)
        s = st(p)
        assert s.st_size == size
        assert s.st_mtime_ns > OLD and s.st_ctime_ns > c0
    # O_TRUNC on open
    with open(p, "w") as f:
        f.write("abc")
    age(p)
    past_ctime(p)
    with open(p, "w"):
        pass
    assert st(p).st_mtime_ns > OLD and st(p).st_size == 0


def test_utimensat_now_omit_and_nanoseconds(fsroot):
    p = os.path.join(fsroot, "u")
    open(p, "w").close()
    exact = 1_700_000_000_987_654_321
    os.utime(p, ns=(exact, exact + 1))
    s = st(p)
    assert (s.st_atime_ns, s.st_mtime_ns) == (exact, exact + 1)
    past_ctime(p)
    c0 = st(p).st_ctime_ns
    utimensat(p, OLD, UTIME_OMIT)
    s = st(p)
    assert (s.st_atime_ns, s.st_mtime_ns) == (OLD, exact + 1)
    assert s.st_ctime_ns > c0
    t0 = time.time_ns() - 20_000_000
    utimensat(p, UTIME_OMIT, UTIME_NOW)
    s = st(p)
    assert s.st_atime_ns == OLD
    assert t0 <= s.st_mtime_ns <= time.time_ns() + 20_000_000
    utimensat(p, UTIME_NOW, UTIME_OMIT)
    assert st(p).st_atime_ns >= t0
    # before 1970, and the last nanosecond of a second
    os.utime(p, ns=(-1_000_000_000 + 500, 999_999_999))
    s = st(p)
    assert (s.st_atime_ns, s.st_mtime_ns) == (-1_000_000_000 + 500, 999_999_999)
    # a directory and a symlink itself
    d = os.path.join(fsroot, "dir")
    os.mkdir(d)
    os.utime(d, ns=(exact, exact))
    assert (st(d).st_atime_ns, st(d).st_mtime_ns) == (exact, exact)
    ln = os.path.join(fsroot, "ln")
    os.symlink("u", ln)
    os.utime(ln, ns=(exact, exact), follow_symlinks=False)
    assert st(ln).st_mtime_ns == exact
    assert st(p).st_mtime_ns == 999_999_999


def test_read_updates_atime_relatime(fsroot):
    p = os.path.join(fsroot, "r")
    with open(p, "w") as f:
        f.write("hello")
    # atime older than mtime: a read moves it
    os.utime(p, ns=(OLD, OLD + 10**9))
    with open(p) as f:
        assert f.read() == "hello"
    s = st(p)
    assert s.st_atime_ns > OLD + 10**9 and s.st_mtime_ns == OLD + 10**9
    # O_NOATIME: no move
    os.utime(p, ns=(OLD, OLD + 10**9))
    fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
    try:
        assert os.read(fd, 10) == b"hello"
    finally:
        os.close(fd)
    assert st(p).st_atime_ns == OLD
    # atime newer than mtime and ctime, less than a day old: relatime keeps it
    future = time.time_ns() + 3600 * 10**9
    os.utime(p, ns=(future, OLD))
    with open(p) as f:
        f.read()
    assert st(p).st_atime_ns == future


def test_read_atime_ordered_with_stat_and_utime(fsroot):
    """The atime a read moves is seen by the next stat, and a utimens right
    after a read wins over it (BigFS reports the read's atime after
    answering the read: both must wait for that report)."""
    p = os.path.join(fsroot, "ordered")
    with open(p, "w") as f:
        f.write("data")
    for i in range(40):
        os.utime(p, ns=(OLD, OLD + 10**9))
        fd = os.open(p, os.O_RDONLY)
        try:
            assert os.read(fd, 10) == b"data"
            os.utime(p, ns=(OLD + i, OLD + 10**9))
        finally:
            os.close(fd)
        assert st(p).st_atime_ns == OLD + i, i
        fd = os.open(p, os.O_RDONLY)
        try:
            assert os.read(fd, 10) == b"data"
            assert os.fstat(fd).st_atime_ns > OLD + 10**9, i
        finally:
            os.close(fd)


def test_read_atime_seen_through_a_directory_listing(fsroot):
    """A listing right after a read (readdirplus on BigFS hands the
    entries' attributes to the kernel, which caches them) shows the atime
    the read moved, also while the mount is still sending that report."""
    d = os.path.join(fsroot, "listed")
    os.mkdir(d)
    names = ["f%d" % i for i in range(5)]
    for name in names:
        with open(os.path.join(d, name), "w") as f:
            f.write("data")
    for i in range(20):
        for name in names:
            os.utime(os.path.join(d, name), ns=(OLD, OLD + 10**9))
        victim = os.path.join(d, names[i % len(names)])
        with open(victim) as f:
            assert f.read() == "data"
        listed = {e.name: e.stat(follow_symlinks=False).st_atime_ns for e in os.scandir(d)}
        assert listed[names[i % len(names)]] > OLD + 10**9, i
        assert os.stat(victim).st_atime_ns > OLD + 10**9, i
        assert all(listed[n] == OLD for n in names if n != names[i % len(names)]), (i, listed)
