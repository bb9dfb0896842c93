"""Data path: a 200 MiB random file copied in and back out is identical;
ls -l, du and df on the mount are plausible; every chunk lives on `goal`
distinct real workers (bigfs.locations), and a folder's bigfs.goal is
inherited by what is created below it."""

import errno
import os
import re
import subprocess

import pytest

from conftest import CHUNK_SIZE, wait_for, drop_caches, errno_of, read_locations, sha256_file, \
    write_random_file

BIG = 200 << 20


@pytest.fixture(scope="module")
def bigfile(cluster, tmp_path_factory):
    """The 200 MiB file: a local copy, its sha256, and its path on the mount."""
    local = str(tmp_path_factory.mktemp("big") / "big.bin")
    sha = write_random_file(local, BIG)
    d = os.path.join(cluster.mounts[0].path, "bigdata")
    os.mkdir(d)
    dst = os.path.join(d, "big.bin")
    subprocess.run(["cp", local, dst], check=True, timeout=600)
    yield local, sha, dst
    os.unlink(local)


def test_201_copy_in_and_back_is_identical(bigfile, tmp_path):
    local, sha, dst = bigfile
    assert os.stat(dst).st_size == BIG
    drop_caches()  # read from the workers, not the page cache
    assert sha256_file(dst) == sha
    back = str(tmp_path / "back.bin")
    drop_caches()
    subprocess.run(["cp", dst, back], check=True, timeout=600)
    assert os.stat(back).st_size == BIG
    assert sha256_file(back) == sha
    os.unlink(back)

    # A range in the middle, across the first chunk boundary.
    with open(local, "rb") as f:
        f.seek(CHUNK_SIZE - 4096)
        want = f.read(3 * 4096)
    drop_caches()
    with open(dst, "rb") as f:
        f.seek(CHUNK_SIZE - 4096)
        assert f.read(3 * 4096) == want


def test_202_ls_du_df_plausible(cluster, bigfile):
    _, _, dst = bigfile
    out = subprocess.run(["ls", "-l", dst], check=True, capture_output=True, text=True,
                         timeout=30).stdout
    fields = out.split()
    assert fields[0].startswith("-rw"), out
    assert int(fields[4]) == BIG, out
    assert fields[-1] == dst

    du = subprocess.run(["du", "-s", "-B1", dst], check=True, capture_output=True,
                        text=True, timeout=30).stdout
    du_bytes = int(du.split()[0])
    # du counts st_blocks: at least the file's size, at most every replica.
    assert BIG * 0.9 <= du_bytes <= BIG * 16 + CHUNK_SIZE, du

    # df's total is the cluster's capacity as the master counts it.
    workers = [w for w in cluster.list_workers() if w["live"]]
    capacity = sum(w["capacity"] for w in workers)
    assert capacity > 0
    st = os.statvfs(cluster.mounts[0].path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bfree * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    assert abs(total - capacity) <= capacity * 0.05 + (1 << 20), (total, capacity)
    assert 0 <= avail <= free <= total
    assert st.f_namemax == 255

    df = subprocess.run(["df", "-B1", cluster.mounts[0].path], check=True,
                        capture_output=True, text=True, timeout=30).stdout
    line = df.splitlines()[-1].split()
    assert abs(int(line[1]) - capacity) <= capacity * 0.05 + (1 << 20), df


def test_203_every_chunk_on_two_distinct_real_workers(cluster, bigfile):
    _, _, dst = bigfile
    real = {w["worker_id"] for w in cluster.list_workers()}
    assert len(real) == cluster.nworkers
    # the CLI users run shows the same thing
    out = subprocess.run(["getfattr", "--only-values", "-n", "bigfs.locations", dst],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    locs = read_locations(dst)
    def canon(text):  # replicas come best first, which may change between calls
        return [l.split()[:3] + sorted(l.split()[3:]) for l in text.splitlines() if l.strip()]
    assert canon(out) == canon(os.getxattr(dst, "bigfs.locations").decode())
    assert [idx for idx, _, _, _ in locs] == [0, 1, 2, 3]  # 200 MiB = 4 chunks of 64 MiB
    ids = set()
    for idx, chunk_id, version, replicas in locs:
        assert re.fullmatch(r"[0-9a-f]{16}", chunk_id), chunk_id
        assert version >= 1
        assert len(replicas) == 2, (idx, replicas)
        assert len(set(replicas)) == 2, (idx, replicas)
        assert set(replicas) <= real, (replicas, real)
        ids.add(chunk_id)
    assert len(ids) == 4
    assert os.getxattr(dst, "bigfs.goal").strip() == b"2"


def test_204_goal_3_folder(cluster, mnt):
    g3 = os.path.join(mnt, "g3")
    os.mkdir(g3)
    subprocess.run(["setfattr", "-n", "bigfs.goal", "-v", "3", g3], check=True, timeout=30)
    out = subprocess.run(["getfattr", "--only-values", "-n", "bigfs.goal", g3],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    assert out.strip() == "3"

    real = {w["worker_id"] for w in cluster.list_workers()}
    f = os.path.join(g3, "f")
    sha = write_random_file(f, (1 << 20) + 123)
    locs = read_locations(f)
    assert len(locs) == 1
    assert len(set(locs[0][3])) == 3 and set(locs[0][3]) <= real, locs
    assert os.getxattr(f, "bigfs.goal").strip() == b"3"

    # folders made below inherit the goal, and so do their files
    sub = os.path.join(g3, "sub", "deeper")
    os.makedirs(sub)
    assert os.getxattr(sub, "bigfs.goal").strip() == b"3"
    f2 = os.path.join(sub, "f2")
    write_random_file(f2, 5000)
    assert len(set(read_locations(f2)[0][3])) == 3

    # next to it, the default goal is still 2
    f3 = os.path.join(mnt, "plain")
    write_random_file(f3, 5000)
    assert len(set(read_locations(f3)[0][3])) == 2
    assert os.getxattr(mnt, "bigfs.goal").strip() == b"2"

    drop_caches()
    assert sha256_file(f) == sha


def test_205_goal_bad_values_refused(mnt):
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    for bad in [b"0", b"17", b"abc", b"-1", b"", b"2x", b"99999999999999999999"]:
        assert errno_of(os.setxattr, d, "bigfs.goal", bad) == errno.EINVAL, bad
    assert os.getxattr(d, "bigfs.goal").strip() == b"2"
    # bigfs.locations is read-only, and only for files
    assert errno_of(os.setxattr, d, "bigfs.locations", b"x") in (errno.EPERM, errno.EACCES,
                                                                 errno.EINVAL, errno.ENOTSUP)
    assert errno_of(os.getxattr, d, "bigfs.locations") in (errno.ENODATA, errno.EISDIR,
                                                           errno.EINVAL)


def test_206_user_xattrs(mnt):
    f = os.path.join(mnt, "x")
    open(f, "w").close()
    os.setxattr(f, "user.color", b"blue\0green")
    assert os.getxattr(f, "user.color") == b"blue\0green"
    assert "user.color" in os.listxattr(f)
    os.removexattr(f, "user.color")
    assert errno_of(os.getxattr, f, "user.color") == errno.ENODATA
    assert errno_of(os.setxattr, f, "user.new", b"v", os.XATTR_REPLACE) == errno.ENODATA
    os.setxattr(f, "user.new", b"v", os.XATTR_CREATE)
    assert errno_of(os.setxattr, f, "user.new", b"v", os.XATTR_CREATE) == errno.EEXIST


def test_207_sparse_and_unaligned(mnt):
    """Holes read as zeros; writes that straddle chunk boundaries land."""
    p = os.path.join(mnt, "sparse")
    with open(p, "wb") as f:
        f.seek(CHUNK_SIZE + 100)
        f.write(b"tail")
    assert os.stat(p).st_size == CHUNK_SIZE + 104
    drop_caches()
    with open(p, "rb") as f:
        assert f.read(4096) == b"\0" * 4096
        f.seek(CHUNK_SIZE + 96)
        assert f.read() == b"\0\0\0\0tail"

    q = os.path.join(mnt, "straddle")
    blob = os.urandom(3 << 20)
    with open(q, "wb") as f:
        f.seek(CHUNK_SIZE - (1 << 20) - 7)
        f.write(blob)
    drop_caches()
    with open(q, "rb") as f:
        f.seek(CHUNK_SIZE - (1 << 20) - 7)
        assert f.read() == blob
    assert [i for i, _, _, _ in read_locations(q)] == [0, 1]


def test_208_close_to_open_between_mounts(cluster, mnt):
    """What one mount wrote and closed, another sees at its next open --
    also when it had the old contents cached."""
    other = cluster.mount("mnt-b")
    p_a = os.path.join(mnt, "shared.txt")
    p_b = os.path.join(other.path, os.path.basename(mnt), "shared.txt")
    with open(p_a, "wb") as f:
        f.write(b"version one\n")
    with open(p_b, "rb") as f:
        assert f.read() == b"version one\n"
    with open(p_a, "r+b") as f:
        f.write(b"VERSION TWO, longer\n")
    with open(p_b, "rb") as f:  # B read the old bytes before: must not serve them now
        assert f.read() == b"VERSION TWO, longer\n"
    os.truncate(p_b, 7)
    with open(p_a, "rb") as f:
        assert f.read() == b"VERSION"
    blob = os.urandom((2 << 20) + 5)
    with open(p_b, "wb") as f:
        f.write(blob)
    with open(p_a, "rb") as f:
        assert f.read() == blob
    os.unlink(p_b)
    # A removed name shows up at the other mount within its entry timeout (1 s).
    wait_for(lambda: not os.path.exists(p_a), 5, "the unlink seen through mount A")


def test_209_reads_in_any_pattern_return_the_bytes(bigfile):
    """Reads through one open file in any order and size — sequential
    (most answered straight from the mount's read-ahead buffer), backwards,
    across its 8 MiB windows and the 64 MiB chunk boundary, O_DIRECT, and
    from two threads at once — return exactly the file's bytes."""
    import random
    import threading
    local, _, dst = bigfile
    src = open(local, "rb").read()
    rnd = random.Random(209)
    drop_caches()
    fd = os.open(dst, os.O_RDONLY)
    try:
        off = 0
        while off < 24 << 20:      # sequential, 1 MiB and odd sizes
            n = (1 << 20) if off < 12 << 20 else 300007
            assert os.pread(fd, n, off) == src[off:off + n], off
            off += n
        for _ in range(200):       # anywhere, any size, some over the chunk boundary
            n = rnd.choice([1, 4096, 65536, 1 << 20, 3 << 20])
            o = rnd.choice([rnd.randrange(0, BIG - n), CHUNK_SIZE - rnd.randrange(1, n + 1),
                            (8 << 20) * rnd.randrange(1, 20) - rnd.randrange(0, n)])
            o = max(0, min(o, BIG - n))
            assert os.pread(fd, n, o) == src[o:o + n], (o, n)
        for o in range(BIG - (1 << 20), 0, -(37 << 20)):   # backwards
            assert os.pread(fd, 1 << 20, o) == src[o:o + (1 << 20)], o
        assert os.pread(fd, 4096, BIG - 100) == src[BIG - 100:]   # past the end: short
        bad = []

        def reader(seed):
            r = random.Random(seed)
            for _ in range(100):
                n = r.choice([4096, 131072, 1 << 20])
                o = r.randrange(0, BIG - n)
                if os.pread(fd, n, o) != src[o:o + n]:
                    bad.append((seed, o, n))
        ts = [threading.Thread(target=reader, args=(s,)) for s in (1, 2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not bad, bad[:5]
    finally:
        os.close(fd)
    dfd = os.open(dst, os.O_RDONLY | os.O_DIRECT)
    try:
        import mmap
        buf = mmap.mmap(-1, 1 << 20)
        for o in (0, 4096 * 1001, CHUNK_SIZE - 4096, BIG - (1 << 20)):
            n = os.preadv(dfd, [buf], o)
            assert n == 1 << 20 and buf[:n] == src[o:o + n], o
    finally:
        os.close(dfd)
