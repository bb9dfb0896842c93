"""open() flags, mmap and exec, on a local directory and on BigFS
(posix_fixtures.fsroot).

O_APPEND: the kernel serialises writes per inode and puts each at the
size it knows, which BigFS keeps right within a mount (two writers on one
mount). O_DIRECT opens bypass the page cache (direct_io); mmap MAP_SHARED
writes reach the file through the kernel's writeback.
"""

import mmap
import os
import shutil
import stat
import subprocess
import threading

from posix_fixtures import bigfs_pair, fsroot, on_bigfs, second_mount  # noqa: F401

PAGE = mmap.PAGESIZE


def err(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        import errno
        return errno.errorcode[e.errno]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_creat_excl_and_trunc(fsroot):
    p = os.path.join(fsroot, "f")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b"first")
    os.close(fd)
    assert err(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644) == "EEXIST"
    ln = os.path.join(fsroot, "dangling")
    os.symlink("nowhere", ln)
    assert err(os.open, ln, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644) == "EEXIST"
    assert not os.path.lexists(os.path.join(fsroot, "nowhere"))
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)     # exists: mode untouched
    os.close(fd)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644 and read(p) == b"first"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    assert os.fstat(fd).st_size == 0
    os.write(fd, b"ab")
    os.close(fd)
    assert read(p) == b"ab"
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    assert os.read(fd, 10) == b""
    os.close(fd)
    assert os.path.getsize(p) == 0
    d = os.path.join(fsroot, "dir")
    os.mkdir(d)
    assert err(os.open, p, os.O_RDONLY | os.O_DIRECTORY) == "ENOTDIR"
    assert err(os.open, d, os.O_WRONLY) == "EISDIR"
    assert err(os.open, d, os.O_CREAT | os.O_WRONLY, 0o644) == "EISDIR"


def test_append_lands_at_the_end(fsroot):
    p = os.path.join(fsroot, "log")
    with open(p, "wb") as f:
        f.write(b"start\n")
    a = os.open(p, os.O_WRONLY | os.O_APPEND)
    b = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(a, b"a1\n")
        os.write(b, b"b1\n")
        os.write(a, b"a2\n")
        os.pwrite(b, b"b2\n", 0)         # O_APPEND: the offset is ignored
    finally:
        os.close(a)
        os.close(b)
    assert read(p) == b"start\na1\nb1\na2\nb2\n"


def test_append_two_concurrent_writers(fsroot):
    p = os.path.join(fsroot, "log2")
    open(p, "w").close()
    n = 300

    def writer(tag):
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            for i in range(n):
                os.write(fd, b"%s %04d %s\n" % (tag, i, b"x" * 40))
        finally:
            os.close(fd)

    ts = [threading.Thread(target=writer, args=(t,)) for t in (b"A", b"B")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lines = read(p).split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 2 * n
    for tag in (b"A", b"B"):
        mine = [l for l in lines if l.startswith(tag + b" ")]
        assert mine == [b"%s %04d %s" % (tag, i, b"x" * 40) for i in range(n)]


def test_o_direct(fsroot):
    p = os.path.join(fsroot, "direct")
    buf = mmap.mmap(-1, 16 * PAGE)           # page-aligned, as O_DIRECT wants
    data = bytes((i * 7) & 0xFF for i in range(16 * PAGE))
    buf[:] = data
    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644)
    try:
        assert os.writev(fd, [buf]) == len(data)
    finally:
        os.close(fd)
    assert read(p) == data
    out = mmap.mmap(-1, 16 * PAGE)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    try:
        assert os.preadv(fd, [out], 0) == len(data)
    finally:
        os.close(fd)
    assert out[:] == data
    # a buffered writer and an O_DIRECT reader see the same bytes
    with open(p, "r+b") as f:
        f.write(b"Z" * PAGE)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    try:
        assert os.preadv(fd, [out], 0) == len(data)
    finally:
        os.close(fd)
    assert out[:PAGE] == b"Z" * PAGE and out[PAGE:] == data[PAGE:]


def test_o_noatime_needs_ownership(fsroot):
    p = os.path.join(fsroot, "na")
    with open(p, "w") as f:
        f.write("x")
    os.chmod(p, 0o644)
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import os\ntry:\n os.open('na', os.O_RDONLY | os.O_NOATIME)\n"
                        " print('opened')\nexcept PermissionError as e:\n print(e.errno)"],
                       cwd=fsroot, user=65534, group=65534, extra_groups=[],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "1"          # EPERM: not the owner
    fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
    assert os.read(fd, 5) == b"x"
    os.close(fd)


def test_mmap_shared_write_reaches_readers(fsroot):
    p = os.path.join(fsroot, "m")
    with open(p, "wb") as f:
        f.write(b"." * (3 * PAGE))
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), 3 * PAGE, mmap.MAP_SHARED)
        m[10:15] = b"hello"
        m[2 * PAGE:2 * PAGE + 5] = b"world"
        m.flush()                                   # msync
        assert read(p)[10:15] == b"hello"           # another open sees it
        m[PAGE:PAGE + 4] = b"late"
        m.close()
    data = read(p)
    assert data[10:15] == b"hello" and data[PAGE:PAGE + 4] == b"late"
    assert data[2 * PAGE:2 * PAGE + 5] == b"world" and len(data) == 3 * PAGE
    # a private mapping never writes back
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), PAGE, mmap.MAP_PRIVATE)
        m[0:4] = b"priv"
        m.close()
    assert read(p)[:4] == b"...."


def test_mmap_write_seen_by_another_mount(bigfs_pair):
    d1, d2 = bigfs_pair
    p1, p2 = os.path.join(d1, "m"), os.path.join(d2, "m")
    with open(p1, "wb") as f:
        f.write(bytes(2 * PAGE))
    with open(p1, "r+b") as f:
        m = mmap.mmap(f.fileno(), 2 * PAGE, mmap.MAP_SHARED)
        m[PAGE:PAGE + 6] = b"shared"
        m.flush()
        m.close()
    assert read(p2)[PAGE:PAGE + 6] == b"shared"


def test_exec_from_the_mount(fsroot):
    exe = os.path.join(fsroot, "true")
    shutil.copyfile("/bin/true", exe)
    os.chmod(exe, 0o755)
    assert subprocess.run([exe], timeout=30).returncode == 0
    script = os.path.join(fsroot, "hello.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"hello $1\"\n")
    os.chmod(script, 0o755)
    r = subprocess.run([script, "mount"], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "hello mount\n")
    r = subprocess.run(["./hello.sh", "nobody"], capture_output=True, text=True, timeout=30,
                       cwd=fsroot, user=65534, group=65534, extra_groups=[])
    assert r.stdout == "hello nobody\n"
    os.chmod(script, 0o644)
    assert err(subprocess.run, [script], timeout=30) == "EACCES"
    # a binary written through the mount runs at once after close
    exe2 = os.path.join(fsroot, "true2")
    with open("/bin/true", "rb") as src, open(exe2, "wb") as dst:
        dst.write(src.read())
    os.chmod(exe2, 0o700)
    assert subprocess.run([exe2], timeout=30).returncode == 0
    if on_bigfs(fsroot):
        assert os.stat(exe2).st_size == os.stat("/bin/true").st_size
