"""POSIX rename, on a local directory and on BigFS (see posix_fixtures.py):
atomic replace under a concurrent reader, directory renames and the errno
of each refused case, renameat2 flags RENAME_NOREPLACE and RENAME_EXCHANGE,
rename to itself, parents' st_nlink after moving a directory."""

import ctypes
import errno
import os
import stat
import subprocess
import sys
import textwrap

from conftest import errno_of
from posix_fixtures import fsroot  # noqa: F401  (fixture)

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                            ctypes.c_uint]
_libc.renameat2.restype = ctypes.c_int


def renameat2(old, new, flags):
    """renameat2(2) through glibc; raises OSError like os.rename."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# Reader: for DURATION seconds, open the name; in mode "read" also read
# it and check it is one complete version. Prints "reads N" or the first
# problem (and exits 1).
READER = textwrap.dedent("""
    import os, sys, time
    path, duration, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    end = time.monotonic() + duration
    n = 0
    while time.monotonic() < end:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            print("open %d: %s" % (n, e)); sys.exit(1)
        try:
            if mode == "read":
                data = b""
                while True:
                    b = os.read(fd, 65536)
                    if not b:
                        break
                    data += b
                lines = data.split(b"\\n")
                if len(lines) != 101 or lines[-1] != b"" or len(set(lines[:-1])) != 1 \\
                        or not lines[0].startswith(b"version "):
                    print("read %d: torn content %r" % (n, data[:80])); sys.exit(1)
        except OSError as e:
            print("read %d (after a successful open): %s" % (n, e)); sys.exit(1)
        finally:
            os.close(fd)
        n += 1
    print("reads %d" % n)
""")

# Writer: write version N to a temp name, rename it over the name, for
# DURATION seconds; prints "renames N".
WRITER = textwrap.dedent("""
    import os, sys, time
    path, duration = sys.argv[1], float(sys.argv[2])
    end = time.monotonic() + duration
    n = 1
    while time.monotonic() < end:
        n += 1
        tmp = "%s.tmp" % path
        with open(tmp, "wb") as f:
            f.write((b"version %d\\n" % n) * 100)
        os.rename(tmp, path)
    print("renames %d" % n)
""")


def replace_under_reader(fsroot, mode):
    name = os.path.join(fsroot, "current")
    write(name, b"version 1\n" * 100)
    # BIGFS_TEST_575_DURATION: a longer run to hunt rare races (20 s: about
    # 150,000 opens on BigFS)
    duration = os.environ.get("BIGFS_TEST_575_DURATION", "2.0")
    reader = subprocess.Popen([sys.executable, "-c", READER, name, duration, mode],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, name, duration],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rout, _ = reader.communicate(timeout=float(duration) + 18)
        wout, _ = writer.communicate(timeout=float(duration) + 18)
    except subprocess.TimeoutExpired:
        for p in (reader, writer):
            p.kill()
            p.wait(10)
        raise AssertionError("reader or writer stuck for 18 s past its %s s run" % duration)
    assert writer.returncode == 0, wout
    assert reader.returncode == 0, rout
    nren = int(wout.split()[-1])
    nread = int(rout.split()[-1])
    assert nren > 10 and nread > 10, (wout, rout)
    assert os.listdir(fsroot) == ["current"]
    assert read(name) == (b"version %d\n" % nren) * 100


def test_575_atomic_replace_name_never_missing(fsroot):
    """A reader opening the name in a loop never gets ENOENT (nor ESTALE)
    while another process renames new versions over it. On BigFS the
    kernel may have resolved the name to the inode the rename then
    replaced: the master keeps a replaced inode openable for a grace
    period (--unlink-grace-ms), as a local filesystem keeps it alive
    from lookup to open."""
    replace_under_reader(fsroot, "open")


def test_575_atomic_replace_open_file_stays_readable(fsroot):
    """... and what it opened stays readable and whole: one version, never
    a mix, never an error (the replaced inode lives on while open)."""
    replace_under_reader(fsroot, "read")


def test_576_rename_files(fsroot):
    a = os.path.join(fsroot, "a")
    b = os.path.join(fsroot, "b")
    d = os.path.join(fsroot, "d")
    os.mkdir(d)
    write(a, b"AAAA")
    write(b, b"BB")
    ino_a = os.stat(a).st_ino
    # replace an existing file: b now is a's inode, old b is gone
    os.rename(a, b)
    assert errno_of(os.stat, a) == errno.ENOENT
    st = os.stat(b)
    assert st.st_ino == ino_a and st.st_size == 4 and st.st_nlink == 1
    assert read(b) == b"AAAA"
    # across directories
    os.rename(b, os.path.join(d, "c"))
    assert os.listdir(d) == ["c"] and read(os.path.join(d, "c")) == b"AAAA"
    assert os.stat(os.path.join(d, "c")).st_ino == ino_a
    # rename to itself, and between two hard links of one inode: no-op
    c = os.path.join(d, "c")
    os.rename(c, c)
    assert read(c) == b"AAAA"
    os.link(c, os.path.join(d, "c2"))
    os.rename(c, os.path.join(d, "c2"))
    assert sorted(os.listdir(d)) == ["c", "c2"]
    assert os.stat(c).st_nlink == 2
    # missing source: ENOENT; missing target dir: ENOENT
    assert errno_of(os.rename, os.path.join(fsroot, "nope"), os.path.join(fsroot, "x")) == errno.ENOENT
    assert errno_of(os.rename, c, os.path.join(fsroot, "nodir", "x")) == errno.ENOENT
    # a file through a path whose component is a file: ENOTDIR
    assert errno_of(os.rename, c, os.path.join(c, "x")) == errno.ENOTDIR
    # rename keeps the contents and changes ctime, not mtime
    st0 = os.stat(c)
    os.rename(c, os.path.join(fsroot, "e"))
    st1 = os.stat(os.path.join(fsroot, "e"))
    assert st1.st_mtime_ns == st0.st_mtime_ns
    assert st1.st_ctime_ns >= st0.st_ctime_ns


def test_577_rename_dirs_and_errors(fsroot):
    p1 = os.path.join(fsroot, "p1")
    p2 = os.path.join(fsroot, "p2")
    os.mkdir(p1)
    os.mkdir(p2)
    d = os.path.join(p1, "d")
    os.makedirs(os.path.join(d, "sub", "deeper"))
    write(os.path.join(d, "sub", "f"), b"inside")
    assert os.stat(p1).st_nlink == 3 and os.stat(p2).st_nlink == 2

    # move a directory: the parents' st_nlink follow
    os.rename(d, os.path.join(p2, "d"))
    d = os.path.join(p2, "d")
    assert os.stat(p1).st_nlink == 2
    assert os.stat(p2).st_nlink == 3
    assert os.stat(fsroot).st_nlink == 4
    assert read(os.path.join(d, "sub", "f")) == b"inside"
    assert os.stat(d).st_nlink == 3

    # over an empty directory: replaces it
    empty = os.path.join(p1, "empty")
    os.mkdir(empty)
    assert os.stat(p1).st_nlink == 3
    os.rename(d, empty)
    assert os.listdir(p1) == ["empty"] and os.listdir(p2) == []
    assert os.stat(p1).st_nlink == 3 and os.stat(p2).st_nlink == 2
    assert read(os.path.join(empty, "sub", "f")) == b"inside"
    d = empty

    # over a non-empty directory: ENOTEMPTY (or EEXIST, which POSIX also
    # allows; Linux file systems say ENOTEMPTY)
    full = os.path.join(p2, "full")
    os.mkdir(full)
    write(os.path.join(full, "x"), b"x")
    assert errno_of(os.rename, d, full) == errno.ENOTEMPTY
    assert os.listdir(full) == ["x"]

    # file over a directory: EISDIR; directory over a file: ENOTDIR
    f = os.path.join(fsroot, "file")
    write(f, b"f")
    assert errno_of(os.rename, f, full) == errno.EISDIR
    assert errno_of(os.rename, f, os.path.join(p2, "emptydir")) is None  # plain move works
    f = os.path.join(p2, "emptydir")
    assert errno_of(os.rename, d, f) == errno.ENOTDIR
    assert read(f) == b"f" and os.path.isdir(d)

    # into its own subtree: EINVAL (also for the directory itself)
    assert errno_of(os.rename, d, os.path.join(d, "sub", "loop")) == errno.EINVAL
    assert errno_of(os.rename, d, os.path.join(d, "sub", "deeper", "loop")) == errno.EINVAL
    assert errno_of(os.rename, d, os.path.join(d, "loop")) == errno.EINVAL
    # a directory to itself: no-op
    os.rename(d, d)
    assert sorted(os.listdir(d)) == ["sub"]
    # renaming an ancestor onto a descendant: ENOTEMPTY or EINVAL; Linux VFS
    # checks the loop first
    assert errno_of(os.rename, p1, os.path.join(d, "sub")) == errno.EINVAL
    # rmdir-style names: rename of "." is EBUSY/EINVAL, of ".." too
    assert errno_of(os.rename, os.path.join(d, "."), os.path.join(p1, "dot")) in (errno.EBUSY, errno.EINVAL)
    # the tree is intact
    assert read(os.path.join(d, "sub", "f")) == b"inside"
    assert os.path.isdir(os.path.join(d, "sub", "deeper"))
    assert os.stat(d).st_nlink == 3 and os.stat(os.path.join(d, "sub")).st_nlink == 3


def test_578_renameat2_noreplace_and_exchange(fsroot):
    a = os.path.join(fsroot, "a")
    b = os.path.join(fsroot, "b")
    write(a, b"AAA")
    write(b, b"B")
    ino_a, ino_b = os.stat(a).st_ino, os.stat(b).st_ino

    # RENAME_NOREPLACE onto an existing name: EEXIST, nothing changes
    assert errno_of(renameat2, a, b, RENAME_NOREPLACE) == errno.EEXIST
    assert read(a) == b"AAA" and read(b) == b"B"
    # ... onto a free name: a plain rename
    renameat2(a, os.path.join(fsroot, "c"), RENAME_NOREPLACE)
    assert errno_of(os.stat, a) == errno.ENOENT
    assert os.stat(os.path.join(fsroot, "c")).st_ino == ino_a
    c = os.path.join(fsroot, "c")

    # RENAME_EXCHANGE of two files: the names swap inodes
    renameat2(c, b, RENAME_EXCHANGE)
    assert read(c) == b"B" and read(b) == b"AAA"
    assert os.stat(c).st_ino == ino_b and os.stat(b).st_ino == ino_a
    # ... with a missing target: ENOENT
    assert errno_of(renameat2, c, os.path.join(fsroot, "missing"), RENAME_EXCHANGE) == errno.ENOENT
    # both flags at once: EINVAL
    assert errno_of(renameat2, c, b, RENAME_EXCHANGE | RENAME_NOREPLACE) == errno.EINVAL

    # RENAME_EXCHANGE of a file and a directory in different parents: the
    # parents' st_nlink swap with the directory
    p1 = os.path.join(fsroot, "p1")
    p2 = os.path.join(fsroot, "p2")
    os.mkdir(p1)
    os.mkdir(p2)
    dd = os.path.join(p1, "dir")
    os.mkdir(dd)
    write(os.path.join(dd, "inner"), b"in")
    ff = os.path.join(p2, "file")
    write(ff, b"ff")
    assert os.stat(p1).st_nlink == 3 and os.stat(p2).st_nlink == 2
    renameat2(dd, ff, RENAME_EXCHANGE)
    assert stat.S_ISREG(os.stat(dd).st_mode) and read(dd) == b"ff"
    assert stat.S_ISDIR(os.stat(ff).st_mode) and read(os.path.join(ff, "inner")) == b"in"
    assert os.stat(p1).st_nlink == 2 and os.stat(p2).st_nlink == 3
    # exchanging a directory with its own descendant: EINVAL
    os.mkdir(os.path.join(ff, "child"))
    assert errno_of(renameat2, ff, os.path.join(ff, "child"), RENAME_EXCHANGE) == errno.EINVAL
    assert sorted(os.listdir(ff)) == ["child", "inner"]
