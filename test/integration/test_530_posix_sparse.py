"""Sparse and large files: holes, truncate across 64 MiB chunk boundaries,
SEEK_DATA / SEEK_HOLE, fallocate, offsets past 4 GiB, statfs.

Runs on a local directory and on BigFS (posix_fixtures.fsroot). BigFS
reports holes and data at chunk granularity (64 MiB): a hole it reports
always reads as zeros, and data it reports may contain zeros, which is
what SEEK_DATA/SEEK_HOLE promise; the tests assert those properties (and
exact offsets where both granularities agree).
"""

import ctypes
import ctypes.util
import errno
import os

import pytest

from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixtures)

C = 64 << 20                 # BigFS chunk size
MiB = 1 << 20
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd, mode, off, length):
    """fallocate(2); returns 0 or the errno."""
    if _libc.fallocate(fd, mode, off, length) == 0:
        return 0
    return ctypes.get_errno()


def pattern(n, seed):
    return bytes((i * 31 + seed) & 0xFF for i in range(256)) * (n // 256) + bytes(n % 256)


def pread_all(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def seek(fd, off, whence):
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        return errno.errorcode[e.errno]


def test_write_past_end_leaves_zero_hole(fsroot):
    p = os.path.join(fsroot, "f")
    with open(p, "wb") as f:
        f.write(b"A")
        f.seek(100000)
        f.write(b"B")
    assert os.path.getsize(p) == 100001
    data = pread_all(p, 0, 200000)
    assert data == b"A" + bytes(99999) + b"B"
    # across a chunk boundary, with a second write through another fd
    with open(p, "r+b") as f:
        f.seek(C + 10)
        f.write(b"C")
    assert os.path.getsize(p) == C + 11
    assert pread_all(p, C - 5, 20) == bytes(15) + b"C"
    assert pread_all(p, 99990, 20) == bytes(10) + b"B" + bytes(9)


def test_truncate_across_chunk_boundaries(fsroot):
    p = os.path.join(fsroot, "t")
    data = pattern(2 * MiB, 7)
    with open(p, "wb") as f:
        f.seek(C - MiB)
        f.write(data)                       # [C-1M, C+1M)
    assert os.path.getsize(p) == C + MiB
    os.truncate(p, C + 100)                 # cut inside chunk 1
    assert os.path.getsize(p) == C + 100
    assert pread_all(p, C - MiB, 4 * MiB) == data[:MiB + 100]
    os.truncate(p, 2 * C + 5)               # grow: a hole after the cut
    assert os.path.getsize(p) == 2 * C + 5
    assert pread_all(p, C - MiB, MiB + 4096) == data[:MiB + 100] + bytes(3996)
    assert pread_all(p, 2 * C - 10, 100) == bytes(15)
    os.truncate(p, C - 10)                  # drop chunk 1, cut chunk 0
    os.truncate(p, C + MiB)
    assert pread_all(p, C - MiB, 2 * MiB) == data[:MiB - 10] + bytes(MiB + 10)
    os.truncate(p, C)                       # exactly on the boundary
    assert pread_all(p, C - 16, 100) == data[MiB - 16:MiB - 10] + bytes(10)
    # ftruncate and write again through the same descriptor
    with open(p, "r+b") as f:
        f.write(b"x" * 1000)
        f.flush()
        os.fsync(f.fileno())
        os.ftruncate(f.fileno(), 0)
        f.seek(0)
        f.write(b"after truncate")
    assert pread_all(p, 0, 100) == b"after truncate"
    with open(p, "r+b") as f:
        f.seek(C + 5)
        f.write(b"second chunk")
        f.flush()
        os.ftruncate(f.fileno(), 10)
        f.seek(C + 5)
        f.write(b"again")
    assert os.path.getsize(p) == C + 10
    assert pread_all(p, 0, 10) == b"after trun"
    assert pread_all(p, 10, C - 10) == bytes(C - 10)
    assert pread_all(p, C, 100) == bytes(5) + b"again"


def test_seek_data_and_hole(fsroot):
    p = os.path.join(fsroot, "s")
    with open(p, "wb") as f:
        f.seek(2 * C + 10)
        f.write(b"Z")                       # size 2C+11: one byte of data
    fd = os.open(p, os.O_RDONLY)
    try:
        size = 2 * C + 11
        assert seek(fd, 0, os.SEEK_DATA) == 2 * C
        assert seek(fd, 0, os.SEEK_HOLE) == 0
        assert seek(fd, C + 3, os.SEEK_HOLE) == C + 3
        assert seek(fd, 2 * C, os.SEEK_HOLE) == size
        assert seek(fd, 2 * C + 10, os.SEEK_DATA) == 2 * C + 10
        assert seek(fd, size, os.SEEK_DATA) == "ENXIO"
        assert seek(fd, size, os.SEEK_HOLE) == "ENXIO"
        assert seek(fd, size + 5, os.SEEK_DATA) == "ENXIO"
    finally:
        os.close(fd)
    # data in chunks 0 and 2: every hole reported reads as zeros
    with open(p, "r+b") as f:
        f.write(pattern(MiB, 3))
    fd = os.open(p, os.O_RDONLY)
    try:
        assert seek(fd, 0, os.SEEK_DATA) == 0
        hole = seek(fd, 0, os.SEEK_HOLE)
        assert MiB <= hole <= C
        nxt = seek(fd, hole, os.SEEK_DATA)
        assert nxt == 2 * C
        assert pread_all(p, hole, nxt - hole) == bytes(nxt - hole)
        assert pread_all(p, 0, MiB) == pattern(MiB, 3)
    finally:
        os.close(fd)
    # an empty file has neither
    e = os.path.join(fsroot, "empty")
    open(e, "w").close()
    fd = os.open(e, os.O_RDONLY)
    try:
        assert seek(fd, 0, os.SEEK_DATA) == "ENXIO"
        assert seek(fd, 0, os.SEEK_HOLE) == "ENXIO"
    finally:
        os.close(fd)


def test_seek_sees_unflushed_writes(fsroot):
    p = os.path.join(fsroot, "w")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"tail", C + 100)
        assert seek(fd, 0, os.SEEK_DATA) == C
        assert seek(fd, C, os.SEEK_HOLE) == C + 104
    finally:
        os.close(fd)


def test_fallocate_allocate_and_keep_size(fsroot):
    p = os.path.join(fsroot, "fa")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"head")
        os.posix_fallocate(fd, 0, 3 * MiB)           # mode 0 past the end: grows
        assert os.fstat(fd).st_size == 3 * MiB
        assert os.pread(fd, 10, 0) == b"head" + bytes(6)
        assert os.pread(fd, 100, 3 * MiB - 50) == bytes(50)
        assert fallocate(fd, 0, MiB, MiB) == 0       # inside: nothing changes
        assert os.fstat(fd).st_size == 3 * MiB
        assert fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * MiB) == 0
        assert os.fstat(fd).st_size == 3 * MiB
        assert fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, MiB) == errno.EOPNOTSUPP
    finally:
        os.close(fd)


def test_fallocate_punch_hole(fsroot):
    p = os.path.join(fsroot, "ph")
    a = pattern(2 * MiB, 11)
    b = pattern(2 * MiB, 13)
    with open(p, "wb") as f:
        f.write(a)                                    # [0, 2M)
        f.seek(C - MiB)
        f.write(pattern(C + 2 * MiB, 5))              # [C-1M, 2C+1M): all of chunk 1
        f.write(b)                                    # [2C+1M, 2C+3M)
    size = 2 * C + 3 * MiB
    fd = os.open(p, os.O_RDWR)
    try:
        blocks = os.fstat(fd).st_blocks
        # small hole inside one chunk
        assert fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 5000) == 0
        assert os.pread(fd, 7000, 0) == a[:1000] + bytes(5000) + a[6000:7000]
        # a hole across a whole chunk, partial at both ends
        start, end = C - 512 * 1024, 2 * C + 512 * 1024
        assert fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start,
                         end - start) == 0
        st = os.fstat(fd)
        assert st.st_size == size
        assert st.st_blocks * 512 <= blocks * 512 - 60 * MiB
        assert os.pread(fd, MiB, start - MiB // 2)[:MiB // 2] == \
            pattern(C + 2 * MiB, 5)[MiB // 2:MiB]
        for off in range(start, end, 8 * MiB):
            n = min(8 * MiB, end - off)
            assert os.pread(fd, n, off) == bytes(n), off
        assert os.pread(fd, MiB // 2, end) == pattern(C + 2 * MiB, 5)[end - (C - MiB):][:MiB // 2]
        assert os.pread(fd, 2 * MiB, 2 * C + MiB) == b
        # the dropped chunk is a hole now
        assert seek(fd, C, os.SEEK_HOLE) == C
        # past the end: nothing happens, the size stays
        assert fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, size, MiB) == 0
        assert os.fstat(fd).st_size == size
        # up to the end of the file
        assert fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * C + 2 * MiB,
                         10 * MiB) == 0
        assert os.fstat(fd).st_size == size
        assert os.pread(fd, 2 * MiB, 2 * C + MiB) == b[:MiB] + bytes(MiB)
    finally:
        os.close(fd)
    # and through a fresh open
    assert pread_all(p, C, MiB) == bytes(MiB)


def test_fallocate_other_modes_unsupported(fsroot):
    if not on_bigfs(fsroot):
        pytest.skip("a local filesystem supports more fallocate modes")
    p = os.path.join(fsroot, "m")
    with open(p, "wb") as f:
        f.write(bytes(2 * MiB))
    fd = os.open(p, os.O_RDWR)
    try:
        assert fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096) == errno.EOPNOTSUPP
        assert fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096) == errno.EOPNOTSUPP
        assert os.fstat(fd).st_size == 2 * MiB
    finally:
        os.close(fd)


def test_offsets_past_4gib(fsroot):
    p = os.path.join(fsroot, "big")
    off = 5 << 30
    with open(p, "wb") as f:
        f.seek(off)
        f.write(b"!")
    st = os.stat(p)
    assert st.st_size == off + 1
    assert st.st_blocks * 512 <= MiB
    with open(p, "r+b") as f:
        f.seek((4 << 30) + 7)
        f.write(b"4G")
    # BigFS counts a chunk before the last one as fully used
    limit = C + MiB if on_bigfs(p) else MiB
    assert os.stat(p).st_blocks * 512 <= limit
    assert pread_all(p, off - 3, 10) == bytes(3) + b"!"
    assert pread_all(p, (4 << 30) + 5, 6) == bytes(2) + b"4G" + bytes(2)
    assert pread_all(p, 3 << 30, 4096) == bytes(4096)
    os.truncate(p, off - 1)
    assert os.path.getsize(p) == off - 1
    assert pread_all(p, off - 10, 100) == bytes(9)


def test_statfs(fsroot):
    sv = os.statvfs(fsroot)
    assert sv.f_blocks > 0 and sv.f_frsize > 0 and sv.f_bsize > 0
    assert 0 < sv.f_bfree <= sv.f_blocks
    assert sv.f_bavail <= sv.f_bfree
    assert 0 < sv.f_ffree <= sv.f_files
    assert sv.f_namemax == 255
    if on_bigfs(fsroot):
        used0 = sv.f_files - sv.f_ffree
        for i in range(20):
            open(os.path.join(fsroot, "n%d" % i), "w").close()
        sv = os.statvfs(fsroot)
        assert sv.f_files - sv.f_ffree >= used0 + 20
