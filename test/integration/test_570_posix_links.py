"""POSIX links and special files, on a local directory and on BigFS (see
posix_fixtures.py): hard links and st_nlink across directories, symlinks
(readlink, lstat vs stat, dangling, loops, relative targets), FIFOs passing
data, AF_UNIX sockets bound on the mount, device nodes made by root."""

import errno
import os
import socket
import stat
import threading

from conftest import errno_of
from posix_fixtures import fsroot  # noqa: F401  (fixture)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def umask():
    old = os.umask(0)
    os.umask(old)
    return old


def mount_options(path):
    """The per-mount options (field 6 of /proc/self/mountinfo) of the
    mount holding path."""
    path = os.path.realpath(path)
    best, opts = "", ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best, opts = mp, fields[5]
    return opts.split(",")


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# hard links


def test_571_hard_links_across_dirs(fsroot):
    a = os.path.join(fsroot, "a")
    b = os.path.join(fsroot, "b")
    os.mkdir(a)
    os.mkdir(b)
    f1 = os.path.join(a, "f")
    write(f1, b"linked content\n")
    os.link(f1, os.path.join(b, "g"))
    os.link(f1, os.path.join(a, "h"))
    st1 = os.stat(f1)
    st2 = os.stat(os.path.join(b, "g"))
    st3 = os.lstat(os.path.join(a, "h"))
    assert st1.st_nlink == st2.st_nlink == st3.st_nlink == 3
    assert st1.st_ino == st2.st_ino == st3.st_ino
    assert stat.S_ISREG(st2.st_mode)
    assert read(os.path.join(b, "g")) == b"linked content\n"
    # a hard link adds no subdirectory: parents keep nlink 2
    assert os.stat(a).st_nlink == 2 and os.stat(b).st_nlink == 2

    # a write through one name is seen through the others
    with open(os.path.join(b, "g"), "ab") as f:
        f.write(b"more\n")
    assert read(f1) == b"linked content\nmore\n"
    assert os.stat(os.path.join(a, "h")).st_size == 20

    # unlink of one name keeps the others and the data
    os.unlink(f1)
    assert errno_of(os.stat, f1) == errno.ENOENT
    assert os.stat(os.path.join(b, "g")).st_nlink == 2
    assert read(os.path.join(a, "h")) == b"linked content\nmore\n"
    os.unlink(os.path.join(a, "h"))
    st = os.stat(os.path.join(b, "g"))
    assert st.st_nlink == 1 and st.st_size == 20
    assert read(os.path.join(b, "g")) == b"linked content\nmore\n"
    assert sorted(os.listdir(a)) == [] and os.listdir(b) == ["g"]


def test_572_hard_link_errors(fsroot):
    d = os.path.join(fsroot, "d")
    os.mkdir(d)
    f = os.path.join(fsroot, "f")
    write(f, b"x")
    # a hard link to a directory: EPERM (Linux)
    assert errno_of(os.link, d, os.path.join(fsroot, "dlink")) == errno.EPERM
    # onto an existing name: EEXIST
    write(os.path.join(fsroot, "other"), b"y")
    assert errno_of(os.link, f, os.path.join(fsroot, "other")) == errno.EEXIST
    # from a missing name: ENOENT; into a missing dir: ENOENT
    assert errno_of(os.link, os.path.join(fsroot, "nope"), os.path.join(fsroot, "n2")) == errno.ENOENT
    assert errno_of(os.link, f, os.path.join(fsroot, "nodir", "x")) == errno.ENOENT
    assert os.stat(f).st_nlink == 1
    # a hard link to a symlink links the symlink itself (linkat without FOLLOW)
    os.symlink("f", os.path.join(fsroot, "sl"))
    os.link(os.path.join(fsroot, "sl"), os.path.join(fsroot, "sl2"), follow_symlinks=False)
    st = os.lstat(os.path.join(fsroot, "sl2"))
    assert stat.S_ISLNK(st.st_mode) and st.st_nlink == 2
    assert os.readlink(os.path.join(fsroot, "sl2")) == "f"


# --------------------------------------------------------------------------
# symlinks


def test_573_symlinks(fsroot):
    d1 = os.path.join(fsroot, "d1")
    d2 = os.path.join(fsroot, "d1", "d2")
    os.makedirs(d2)
    target = os.path.join(fsroot, "target.txt")
    write(target, b"0123456789")

    # relative target across directories
    rel = os.path.join(d2, "rel")
    os.symlink("../../target.txt", rel)
    assert os.readlink(rel) == "../../target.txt"
    assert read(rel) == b"0123456789"
    lst = os.lstat(rel)
    st = os.stat(rel)
    assert stat.S_ISLNK(lst.st_mode)
    assert lst.st_size == len("../../target.txt")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 10
    assert st.st_ino == os.stat(target).st_ino != lst.st_ino

    # absolute target; a link to a directory; a path through it
    ab = os.path.join(fsroot, "abs")
    os.symlink(d1, ab)
    assert os.readlink(ab) == d1
    assert os.path.isdir(ab) and stat.S_ISLNK(os.lstat(ab).st_mode)
    assert os.listdir(ab) == ["d2"]
    assert os.readlink(os.path.join(ab, "d2", "rel")) == "../../target.txt"

    # dangling: lstat works, stat/open ENOENT, readlink works
    dang = os.path.join(fsroot, "dangling")
    os.symlink("no/such/file", dang)
    assert stat.S_ISLNK(os.lstat(dang).st_mode)
    assert os.readlink(dang) == "no/such/file"
    assert errno_of(os.stat, dang) == errno.ENOENT
    assert errno_of(open, dang, "rb") == errno.ENOENT
    # creating through a dangling link creates the target (O_CREAT follows)
    dang2 = os.path.join(fsroot, "dangling2")
    os.symlink("made-through-link", dang2)
    write(dang2, b"via link")
    assert read(os.path.join(fsroot, "made-through-link")) == b"via link"
    # ... but O_CREAT|O_EXCL on a symlink is EEXIST
    assert errno_of(os.open, dang, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST

    # loops: ELOOP
    l1 = os.path.join(fsroot, "loop1")
    l2 = os.path.join(fsroot, "loop2")
    os.symlink("loop2", l1)
    os.symlink("loop1", l2)
    assert errno_of(os.stat, l1) == errno.ELOOP
    assert errno_of(open, l1, "rb") == errno.ELOOP
    selfl = os.path.join(fsroot, "self")
    os.symlink("self", selfl)
    assert errno_of(os.stat, selfl) == errno.ELOOP
    # O_NOFOLLOW on a symlink: ELOOP
    assert errno_of(os.open, rel, os.O_RDONLY | os.O_NOFOLLOW) == errno.ELOOP

    # readlink of a non-link: EINVAL; symlink onto an existing name: EEXIST
    assert errno_of(os.readlink, target) == errno.EINVAL
    assert errno_of(os.symlink, "x", target) == errno.EEXIST

    # unlink removes the link, not the target; rename moves the link
    os.rename(rel, os.path.join(d1, "moved"))
    # the relative target is now resolved from d1: ../../target.txt is outside
    assert os.readlink(os.path.join(d1, "moved")) == "../../target.txt"
    assert errno_of(os.stat, os.path.join(d1, "moved")) == errno.ENOENT
    os.unlink(os.path.join(d1, "moved"))
    assert read(target) == b"0123456789"

    # a long target (up to PATH_MAX - 1 bytes) round-trips
    longt = "/".join(["x" * 200] * 20)[:4000]
    ll = os.path.join(fsroot, "long")
    os.symlink(longt, ll)
    assert os.readlink(ll) == longt
    assert os.lstat(ll).st_size == len(longt)


# --------------------------------------------------------------------------
# FIFOs, sockets, device nodes


def test_574_fifo_passes_data(fsroot):
    p = os.path.join(fsroot, "fifo")
    os.mkfifo(p, 0o600)
    st = os.lstat(p)
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600 & ~umask()
    assert st.st_size == 0
    payload = os.urandom(200000)  # larger than the pipe buffer
    got = []

    def reader():
        with open(p, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    with open(p, "wb") as f:
        f.write(payload)
    t.join(30)
    assert not t.is_alive(), "FIFO reader stuck"
    assert got == [payload]
    # non-blocking open for write with no reader: ENXIO
    assert errno_of(os.open, p, os.O_WRONLY | os.O_NONBLOCK) == errno.ENXIO
    # mkfifo over an existing name: EEXIST; the FIFO survives a rename
    assert errno_of(os.mkfifo, p) == errno.EEXIST
    os.rename(p, p + "2")
    assert stat.S_ISFIFO(os.lstat(p + "2").st_mode)
    os.unlink(p + "2")
    assert os.listdir(fsroot) == []


def test_575_unix_socket_bind_and_connect(fsroot):
    path = os.path.join(fsroot, "sock")
    if len(path.encode()) >= 108:  # sun_path limit: bind through a short relative path
        cwd = os.getcwd()
        os.chdir(fsroot)
        addr = "sock"
    else:
        cwd = None
        addr = path
    try:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            srv.bind(addr)
            srv.listen(1)
            st = os.lstat(path)
            assert stat.S_ISSOCK(st.st_mode)
            cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            cli.connect(addr)
            conn, _ = srv.accept()
            cli.sendall(b"ping over a socket on the mount")
            assert conn.recv(100) == b"ping over a socket on the mount"
            conn.close()
            cli.close()
            # binding again to the existing name: EADDRINUSE
            s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            assert errno_of(s2.bind, addr) == errno.EADDRINUSE
            s2.close()
        finally:
            srv.close()
    finally:
        if cwd:
            os.chdir(cwd)
    os.unlink(path)
    assert os.listdir(fsroot) == []


def test_576_device_nodes_by_root(fsroot):
    assert os.geteuid() == 0
    chr_ = os.path.join(fsroot, "null")
    blk = os.path.join(fsroot, "blk")
    os.mknod(chr_, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(blk, 0o640 | stat.S_IFBLK, os.makedev(7, 200))
    st = os.lstat(chr_)
    assert stat.S_ISCHR(st.st_mode)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = os.lstat(blk)
    assert stat.S_ISBLK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640 & ~umask()
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 200)
    # a regular file through mknod, and an existing name
    reg = os.path.join(fsroot, "reg")
    os.mknod(reg, 0o644 | stat.S_IFREG)
    assert stat.S_ISREG(os.lstat(reg).st_mode) and os.lstat(reg).st_size == 0
    assert errno_of(os.mknod, reg, 0o644 | stat.S_IFREG) == errno.EEXIST
    # the char device works as /dev/null -- unless the filesystem is mounted
    # nodev (mount.bigfs's default, like every FUSE mount: see
    # docs/posix.md), where opening a device node is EACCES.
    if "nodev" in mount_options(fsroot):
        assert errno_of(open, chr_, "wb") == errno.EACCES
    else:
        with open(chr_, "wb") as f:
            f.write(b"into the void")
        assert read(chr_) == b""
    os.unlink(chr_)
    os.unlink(blk)
    os.unlink(reg)
