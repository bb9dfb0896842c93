"""Reading back what this mount just wrote, before closing: the way an
assembler or a linker builds its output (stdio: seek, read a block, write
part of it, seek back, ...). The reads see every byte written, at the
size this mount wrote; the master hears of the size once, at the close,
not at every read; another mount sees the whole file after the close."""

import os
import random

from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import commits, delta, route_counts, wait_commits


def test_566_read_modify_write_before_close(cluster):
    p = os.path.join(cluster.mounts[0].path, "rw566.o")
    rnd = random.Random(566)
    model = bytearray()
    before = route_counts(cluster)
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for step in range(60):
            off = rnd.randrange(0, 200000)
            data = rnd.randbytes(rnd.choice([5, 64, 4096, 8192, 20000]))
            # stdio's read of the block it is about to change
            got = os.pread(fd, 8192, off & ~8191)
            want = bytes(model[off & ~8191:(off & ~8191) + 8192])
            assert got == want, step
            os.pwrite(fd, data, off)
            if len(model) < off:
                model.extend(b"\0" * (off - len(model)))
            model[off:off + len(data)] = data
            assert os.fstat(fd).st_size == len(model), step
        assert os.pread(fd, len(model) + 10, 0) == bytes(model)
        d_ = delta(before, route_counts(cluster))
        assert d_.get("/v1/commit", 0) == 0, d_
        # a file this mount made and alone writes is read where its write
        # grant says (with the grant's read token): no location asks
        assert d_.get("/v1/chunks", 0) == 0, d_
    finally:
        os.close(fd)
    d_ = wait_commits(cluster, before, 1)
    assert 1 <= commits(d_) <= 2, d_
    with open(p, "rb") as f:
        assert f.read() == bytes(model)


def test_566_another_mount_sees_it_after_close(bigfs_pair):
    a, b = bigfs_pair
    pa, pb = os.path.join(a, "rw566b"), os.path.join(b, "rw566b")
    data = os.urandom(300000)
    fd = os.open(pa, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.pwrite(fd, data, 0)
        assert os.pread(fd, 100, 299950) == data[299950:]
    finally:
        os.close(fd)
    with open(pb, "rb") as f:
        assert f.read() == data
    assert os.stat(pb).st_size == len(data)


def test_566_read_back_after_truncate_and_hole(cluster):
    """A truncate here (down, then up through a write past the end) ends
    reading by the write grant alone; the reads still see the model."""
    p = os.path.join(cluster.mounts[0].path, "rw566t")
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        first = os.urandom(100000)
        os.pwrite(fd, first, 0)
        assert os.pread(fd, 200000, 0) == first
        os.ftruncate(fd, 50000)
        assert os.pread(fd, 200000, 0) == first[:50000]
        tail = os.urandom(1000)
        os.pwrite(fd, tail, 70000)
        model = first[:50000] + b"\0" * 20000 + tail
        assert os.fstat(fd).st_size == len(model)
        assert os.pread(fd, 200000, 0) == model
        os.ftruncate(fd, 120000)
        model += b"\0" * (120000 - len(model))
        assert os.pread(fd, 200000, 0) == model
    finally:
        os.close(fd)
    with open(p, "rb") as f:
        assert f.read() == model
