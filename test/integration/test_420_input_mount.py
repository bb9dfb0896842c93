"""The errno values applications rely on, seen through the mount."""

import errno
import os
import subprocess

from conftest import errno_of


def test_421_name_too_long(mnt):
    long = os.path.join(mnt, "n" * 256)
    assert errno_of(os.mkdir, long) == errno.ENAMETOOLONG
    assert errno_of(open, long, "w") == errno.ENAMETOOLONG
    assert errno_of(os.stat, long) == errno.ENAMETOOLONG
    assert errno_of(os.symlink, "x", long) == errno.ENAMETOOLONG
    ok = os.path.join(mnt, "n" * 255)
    with open(ok, "w") as f:
        f.write("255")
    assert errno_of(os.rename, ok, long) == errno.ENAMETOOLONG
    with open(ok) as f:
        assert f.read() == "255"
    assert os.listdir(mnt) == ["n" * 255]


def test_422_rmdir_not_empty(mnt):
    d = os.path.join(mnt, "d")
    os.makedirs(os.path.join(d, "sub"))
    assert errno_of(os.rmdir, d) == errno.ENOTEMPTY
    os.rmdir(os.path.join(d, "sub"))
    with open(os.path.join(d, "f"), "w"):
        pass
    assert errno_of(os.rmdir, d) == errno.ENOTEMPTY
    r = subprocess.run(["rmdir", d], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "not empty" in r.stderr.lower()
    os.unlink(os.path.join(d, "f"))
    os.rmdir(d)
    assert not os.path.exists(d)


def test_423_exists(mnt):
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    assert errno_of(os.mkdir, d) == errno.EEXIST
    f = os.path.join(mnt, "f")
    with open(f, "w") as fh:
        fh.write("x")
    assert errno_of(os.mkdir, f) == errno.EEXIST
    assert errno_of(os.open, f, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    assert errno_of(os.symlink, "t", f) == errno.EEXIST
    assert errno_of(os.link, f, d) == errno.EEXIST
    with open(f) as fh:
        assert fh.read() == "x"


def test_424_missing(mnt):
    m = os.path.join(mnt, "missing")
    assert errno_of(open, m) == errno.ENOENT
    assert errno_of(os.stat, m) == errno.ENOENT
    assert errno_of(os.unlink, m) == errno.ENOENT
    assert errno_of(os.rmdir, m) == errno.ENOENT
    assert errno_of(os.rename, m, os.path.join(mnt, "other")) == errno.ENOENT
    assert errno_of(os.mkdir, os.path.join(m, "child")) == errno.ENOENT
    assert errno_of(open, os.path.join(m, "child"), "w") == errno.ENOENT
    r = subprocess.run(["cat", m], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "No such file or directory" in r.stderr


def test_425_type_errors(mnt):
    d = os.path.join(mnt, "d")
    f = os.path.join(mnt, "f")
    os.mkdir(d)
    open(f, "w").close()
    assert errno_of(os.rmdir, f) == errno.ENOTDIR
    assert errno_of(os.unlink, d) in (errno.EISDIR, errno.EPERM)
    assert errno_of(os.mkdir, os.path.join(f, "x")) == errno.ENOTDIR
    assert errno_of(os.listdir, f) == errno.ENOTDIR
    assert errno_of(open, d, "w") == errno.EISDIR
    assert errno_of(os.rename, d, f) == errno.ENOTDIR
    assert errno_of(os.rename, f, d) == errno.EISDIR


def test_426_huge_offsets(mnt):
    f = os.path.join(mnt, "f")
    with open(f, "wb") as fh:
        fh.write(b"abc")
    fd = os.open(f, os.O_RDWR)
    try:
        # reads past the end return nothing
        assert os.pread(fd, 10, 1 << 40) == b""
        # beyond the 1 PiB limit: EFBIG (or EINVAL from the kernel's s_maxbytes)
        assert errno_of(os.pwrite, fd, b"x", (1 << 50) + 1) in (errno.EFBIG, errno.EINVAL)
        assert errno_of(os.ftruncate, fd, (1 << 50) + 1) in (errno.EFBIG, errno.EINVAL)
        assert errno_of(os.pread, fd, 10, -1) == errno.EINVAL
    finally:
        os.close(fd)
    assert os.path.getsize(f) == 3
    with open(f, "rb") as fh:
        assert fh.read() == b"abc"
