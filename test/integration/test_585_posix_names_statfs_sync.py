"""POSIX names, statfs and durability calls, on a local directory and on
BigFS (see posix_fixtures.py): 255-byte names work and 256 bytes are
ENAMETOOLONG; any byte but '/' and NUL makes a name; statvfs numbers are
consistent and follow writes; after fsync/fdatasync return 0 the data is on
the disk of every replica (read straight from the workers' chunk files)."""

import errno
import glob
import os
import struct
import time

import pytest

from conftest import errno_of, read_locations
from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixture)

MiB = 1 << 20
CHUNK_HEADER = 8192


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# names


def test_585_name_length(fsroot):
    root = os.fsencode(fsroot)
    n255 = os.path.join(root, b"n" * 255)
    write(n255, b"255")
    assert read(n255) == b"255"
    assert os.fsencode(os.listdir(fsroot)[0]) == b"n" * 255
    # 255 bytes of UTF-8 (85 three-byte characters)
    u255 = os.path.join(root, ("\u20ac" * 85).encode())
    os.mkdir(u255)
    assert os.path.isdir(u255)
    os.rename(n255, os.path.join(u255, b"m" * 255))
    assert read(os.path.join(u255, b"m" * 255)) == b"255"
    os.symlink(b"t" * 255, os.path.join(root, b"s" * 255))
    assert os.readlink(os.path.join(root, b"s" * 255)) == b"t" * 255
    # 256 bytes: ENAMETOOLONG for every way of making, finding or moving it
    n256 = os.path.join(root, b"n" * 256)
    assert errno_of(open, n256, "wb") == errno.ENAMETOOLONG
    assert errno_of(os.mkdir, n256) == errno.ENAMETOOLONG
    assert errno_of(os.stat, n256) == errno.ENAMETOOLONG
    assert errno_of(os.mknod, n256) == errno.ENAMETOOLONG
    assert errno_of(os.symlink, b"x", n256) == errno.ENAMETOOLONG
    assert errno_of(os.rename, os.path.join(u255, b"m" * 255), n256) == errno.ENAMETOOLONG
    assert errno_of(os.link, os.path.join(u255, b"m" * 255), n256) == errno.ENAMETOOLONG
    assert errno_of(os.mkdir, os.path.join(root, ("\u20ac" * 85 + "x").encode())) == \
        errno.ENAMETOOLONG
    assert sorted(os.listdir(root)) == sorted([b"s" * 255, ("\u20ac" * 85).encode()])
    # statvfs says so too
    assert os.statvfs(fsroot).f_namemax == 255


ODD_NAMES = [
    b"with\nnewline",
    b"with\ttab",
    b" leading and trailing spaces ",
    b"-leading-dash",
    b"--",
    b"*",
    b"?[a-z]*",
    b"back\\slash",
    b"quote'\"`$(x)",
    b"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",  # UTF-8
    b"\x01\x02\x1f\x7f control",
    b"...",
    b".hidden",
    b"#~%&;<>|",
]

INVALID_UTF8_NAMES = [
    b"latin1-\xe9t\xe9",
    b"\xff\xfe",
    b"lone-continuation-\x80",
    b"truncated-\xe2\x82",
    b"overlong-\xc0\xaf",
]


def check_names(fsroot, names):
    root = os.fsencode(fsroot)
    for i, n in enumerate(names):
        write(os.path.join(root, n), b"%d" % i)
    listed = os.listdir(root)
    assert sorted(listed) == sorted(names)
    for i, n in enumerate(names):
        p = os.path.join(root, n)
        assert read(p) == b"%d" % i, n
        assert os.stat(p).st_size == len(b"%d" % i)
    # rename and unlink by those names
    for n in names:
        os.rename(os.path.join(root, n), os.path.join(root, n + b".moved"))
    assert sorted(os.listdir(root)) == sorted(n + b".moved" for n in names)
    for n in names:
        os.unlink(os.path.join(root, n + b".moved"))
    assert os.listdir(root) == []


def test_586_any_byte_but_slash_and_nul(fsroot):
    check_names(fsroot, ODD_NAMES)
    # a directory and a symlink with odd names, and an odd symlink target
    root = os.fsencode(fsroot)
    d = os.path.join(root, b"dir\nwith\tnewline")
    os.mkdir(d)
    os.symlink(b"../\xe6\x97\xa5 target\n", os.path.join(d, b"*link*"))
    assert os.readlink(os.path.join(d, b"*link*")) == b"../\xe6\x97\xa5 target\n"
    assert os.listdir(d) == [b"*link*"]
    # '.' and '..' name the directories themselves; '/' and NUL cannot be in a name
    assert os.stat(os.path.join(d, b".")).st_ino == os.stat(d).st_ino
    assert os.stat(os.path.join(d, b"..")).st_ino == os.stat(root).st_ino
    assert errno_of(os.mkdir, os.path.join(d, b".")) == errno.EEXIST
    try:
        os.mkdir(os.path.join(d, b"nul\0byte"))
        raise AssertionError("a name with NUL was accepted")
    except ValueError:
        pass


def test_587_invalid_utf8_names(fsroot):
    """Linux names are bytes: names that are not UTF-8 work like any other
    (BigFS carries them as base64, the "name_b64" members of the protocol),
    also as directory names, hard links and symlink targets."""
    check_names(fsroot, INVALID_UTF8_NAMES)
    root = os.fsencode(fsroot)
    d = os.path.join(root, b"dir-\xe9")
    os.mkdir(d)
    f = os.path.join(d, b"f-\xff")
    write(f, b"inside")
    os.link(f, os.path.join(d, b"hard-\xc0\xaf"))
    assert os.stat(f).st_nlink == 2
    # a target that is not UTF-8, and one mixing valid and invalid bytes
    for i, target in enumerate([b"f-\xff", b"../dir-\xe9/f-\xff", b"\xe6\x97\xa5\xe9\n" * 100]):
        link = os.path.join(d, b"link-%d-\xfe" % i)
        os.symlink(target, link)
        assert os.readlink(link) == target
    assert read(os.path.join(d, b"link-0-\xfe")) == b"inside"
    assert read(os.path.join(d, b"link-1-\xfe")) == b"inside"
    assert sorted(os.listdir(d)) == sorted([b"f-\xff", b"hard-\xc0\xaf", b"link-0-\xfe",
                                            b"link-1-\xfe", b"link-2-\xfe"])
    # a rename between an invalid and a valid name, both ways
    os.rename(f, os.path.join(d, b"valid"))
    os.rename(os.path.join(d, b"valid"), os.path.join(d, b"\x80back"))
    assert read(os.path.join(d, b"\x80back")) == b"inside"
    # 255 bytes that are not UTF-8 work, 256 do not
    assert errno_of(os.mkdir, os.path.join(d, b"\xff" * 256)) == errno.ENAMETOOLONG
    os.mkdir(os.path.join(d, b"\xff" * 255))
    assert os.path.isdir(os.path.join(d, b"\xff" * 255))
    for n in os.listdir(d):
        p = os.path.join(d, n)
        (os.rmdir if os.path.isdir(p) and not os.path.islink(p) else os.unlink)(p)
    os.rmdir(d)


# --------------------------------------------------------------------------
# statfs


def used_bytes(sv):
    return (sv.f_blocks - sv.f_bfree) * sv.f_frsize


def check_statvfs(sv):
    assert sv.f_frsize > 0 and sv.f_bsize > 0
    assert sv.f_blocks > 0
    assert 0 <= sv.f_bavail <= sv.f_bfree <= sv.f_blocks
    assert 0 <= sv.f_favail <= sv.f_ffree <= sv.f_files
    assert sv.f_namemax == 255


def test_588_statfs(fsroot):
    sv0 = os.statvfs(fsroot)
    check_statvfs(sv0)
    # the same numbers from any path of the filesystem
    os.mkdir(os.path.join(fsroot, "sub"))
    sv_sub = os.statvfs(os.path.join(fsroot, "sub"))
    check_statvfs(sv_sub)
    assert sv_sub.f_blocks * sv_sub.f_frsize == sv0.f_blocks * sv0.f_frsize or not on_bigfs(fsroot)
    # write 50 MiB: used space grows by at least that (BigFS counts every
    # replica, so about goal x 50 MiB; workers report every 2 s)
    path = os.path.join(fsroot, "fifty")
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for _ in range(50):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    st = os.stat(path)
    assert st.st_size == 50 * MiB
    assert st.st_blocks * 512 >= 50 * MiB
    deadline = time.monotonic() + 20
    while True:
        sv1 = os.statvfs(fsroot)
        check_statvfs(sv1)
        grown = used_bytes(sv1) - used_bytes(sv0)
        if grown >= 45 * MiB or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert grown >= 45 * MiB, "used space grew by only %.1f MiB after writing 50 MiB" % (
        grown / MiB)
    # inodes: a new file uses one
    if on_bigfs(fsroot):
        before = os.statvfs(fsroot)
        write(os.path.join(fsroot, "one-more"), b"")
        after = os.statvfs(fsroot)
        assert after.f_files - after.f_ffree == before.f_files - before.f_ffree + 1
    os.unlink(path)


# --------------------------------------------------------------------------
# durability


def chunk_file_data(cluster, worker_index, chunk_id):
    """(version, data) of a chunk file read straight from a worker's disk
    (layout in worker/chunk_store.h: 8 KiB header, then the data)."""
    found = glob.glob(os.path.join(cluster.worker_dirs[worker_index], "chunks", "*", "*",
                                   chunk_id))
    assert len(found) == 1, "chunk %s on worker %d: %s" % (chunk_id, worker_index, found)
    with open(found[0], "rb") as f:
        raw = f.read()
    assert raw[:8] == b"BIGFSCK1"
    cid, version, length = struct.unpack_from("<QII", raw, 8)
    assert "%016x" % cid == chunk_id
    data = raw[CHUNK_HEADER:CHUNK_HEADER + length]
    assert len(data) == length, "chunk file shorter than its header says"
    return version, data


def check_on_replicas(cluster, path, expect):
    """Every chunk of path is on each replica's disk with the expected bytes
    and the version the master names."""
    locs = read_locations(path)
    csize = 64 * MiB
    assert [i for i, _, _, _ in locs] == list(range((len(expect) + csize - 1) // csize))
    for index, cid, version, workers in locs:
        want = expect[index * csize:(index + 1) * csize]
        assert len(workers) >= 2, "chunk %d has %d replicas" % (index, len(workers))
        for wid in workers:
            v, data = chunk_file_data(cluster, cluster.worker_index(wid), cid)
            assert v == version, "worker %s holds version %d, master says %d" % (wid, v, version)
            # bytes past the stored length read as zeros
            assert data == want[:len(data)] and want[len(data):].count(0) == len(want) - len(data), \
                "chunk %d on worker %s differs from what was written" % (index, wid)


def test_589_fsync_and_fdatasync_reach_every_replica(fsroot, request):
    path = os.path.join(fsroot, "durable")
    part1 = os.urandom(3 * MiB + 12345)
    part2 = os.urandom(2 * MiB + 7)
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
    try:
        assert os.write(fd, part1) == len(part1)
        assert os.fsync(fd) is None  # returns 0, or raises
        if on_bigfs(fsroot):
            check_on_replicas(request.getfixturevalue("cluster"), path, part1)
        # overwrite in the middle and append, then fdatasync
        os.lseek(fd, MiB, os.SEEK_SET)
        os.write(fd, part2)
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, b"tail")
        assert os.fdatasync(fd) is None
        expect = part1[:MiB] + part2 + part1[MiB + len(part2):] + b"tail"
        if on_bigfs(fsroot):
            check_on_replicas(request.getfixturevalue("cluster"), path, expect)
        # fsync of a file opened read-only, and of a directory, also return 0
        rfd = os.open(path, os.O_RDONLY)
        os.fsync(rfd)
        os.close(rfd)
        dfd = os.open(fsroot, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
    finally:
        os.close(fd)
    assert os.stat(path).st_size == len(expect)
    assert read(path) == expect
    # sync(2) and syncfs flush everything too
    os.sync()
    if on_bigfs(fsroot):
        check_on_replicas(request.getfixturevalue("cluster"), path, expect)
