"""Local reads (fuse/local_read.c, worker/local_reads.c): a mount whose
chunk replica lives on a worker of its own machine asks the worker, over
the abstract unix socket "\\0bigfs-worker-ID", for a read-only descriptor
of the chunk file, keeps it, and reads the chunk straight from it, every
byte checked against the block CRCs; whatever it cannot serve goes over
HTTP as before.

- a: files written and read back after a cache drop are the same bytes,
  served locally (the mount's local-read counter grows, the workers send
  next to nothing); 4 KiB preads at odd offsets (inside a block, across
  a 64 KiB block boundary, the file's tail) are right, and holes (a file
  grown by truncate, a gap left by a seek) read as zeros;
- b: a mount with -o nolocalreads reads the same bytes, all over HTTP
  (its counter stays 0, the workers send the bytes);
- c: workers started with --local-reads false have no socket: reads are
  right, over HTTP; and a process of another user that takes a worker's
  socket name and hands out a forged chunk file is not believed (the
  mount reads the real bytes, sends it no read token, logs the squatter);
- d: a replica damaged on disk (one byte flipped in its data) is never
  read as such: whichever replica is damaged, the file reads right; with
  every replica (goal 2) damaged the read is EIO, at once (until
  c66c624's fix, after its 30 s wait for a copy the mount returned a
  worker's JSON error body as the file's bytes, with or without local
  reads; until the next commit it waited those 30 s for copies that had
  all answered that they were damaged);
- e: another mount's changes (rewritten in place, truncated and written,
  replaced by a rename) show at the reader's next open, every time, while
  the reader keeps descriptors of the chunk files;
- f: with every worker stopped (SIGSTOP), a file whose chunk descriptor
  the mount already holds still reads right, at once;
- g: the socket itself, as a user sees it: a valid read token gets code 0
  and a read-only descriptor of the chunk file; a forged or expired token
  or one for another op is EACCES, a malformed or too long line EINVAL,
  another version ESTALE, an unknown chunk ENOENT, a peer that says
  nothing is answered EINVAL after about a second, another user (uid
  65534) is EACCES with no descriptor; and the worker serves again after
  each.

Own clusters: three workers with two mounts with metrics plus a
-o nolocalreads mount; and two workers started with --local-reads false.
The trash is off."""

import errno
import fcntl
import glob
import json
import mmap
import os
import random
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import drop_caches, errno_of, finish_cluster, make_cluster, make_token, \
    read_locations, wait_for
from test_235_push_invalidation import mount_counter, read, write
from test_410_input_worker import crc32c
from test_750_metrics import get, metered_pair, mount_metrics_addr, scrape

LOCAL = "bigfs_mount_local_chunk_reads_total"
PYTHON = "/usr/bin/python3"
NOBODY = 65534
BLOCK = 64 << 10


@pytest.fixture(scope="module")
def lc(tmp_path_factory):
    """(cluster, A's metrics, B's metrics, the nolocalreads mount's)."""
    c, a, b = metered_pair(tmp_path_factory, "local568", nworkers=3)
    try:
        m = c.mount("mntn", opts="nolocalreads,metrics=127.0.0.1:0")
        n = mount_metrics_addr(c, m)
    except BaseException:
        finish_cluster(c)
        raise
    yield c, a, b, n
    finish_cluster(c)


@pytest.fixture(scope="module")
def files(lc):
    """Files written by mount A: {name: bytes}."""
    c = lc[0]
    a = c.mounts[0].path
    rnd = random.Random(568)
    out = {"big": rnd.randbytes(5 * (1 << 20) + 4321)}
    for size in (1, 4096, BLOCK, BLOCK + 1, 200000):
        out["small-%d" % size] = rnd.randbytes(size)
    for name, data in out.items():
        write(os.path.join(a, name), data)
    # holes: grown by truncate past what was written, and a gap by a seek
    grown = rnd.randbytes(10000)
    p = os.path.join(a, "grown")
    write(p, grown)
    os.truncate(p, 3 << 20)
    out["grown"] = grown + bytes((3 << 20) - len(grown))
    head, tail_ = rnd.randbytes(5000), rnd.randbytes(7000)
    with open(os.path.join(a, "gap"), "wb") as f:
        f.write(head)
        f.seek((1 << 20) + 3)
        f.write(tail_)
    out["gap"] = head + bytes((1 << 20) + 3 - len(head)) + tail_
    return out


def workers_sent(c):
    return sum(get(scrape(c.worker_addr(i), "bigfs_worker_")[0],
                   "bigfs_worker_sent_bytes_total") for i in range(c.nworkers))


def workers_local_opens(c, result="ok"):
    return sum(get(scrape(c.worker_addr(i), "bigfs_worker_")[0],
                   "bigfs_worker_local_opens_total", result=result)
               for i in range(c.nworkers))


def pread_offsets(size):
    """4 KiB read offsets: the start, inside a block, across 64 KiB block
    boundaries, into the short last block, the tail; and random ones."""
    offs = [0, 1, 4095, 4096, BLOCK - 2048, BLOCK - 1, 3 * BLOCK - 100, (1 << 20) + 12345,
            size - 4096, size - 100, size - 1]
    rnd = random.Random(size)
    offs += [rnd.randrange(size) for _ in range(24)]
    return [o for o in offs if 0 <= o < size]


def check_preads(path, data):
    """Each 4 KiB pread on a handle of its own, with no read-ahead: the
    mount is asked for that piece alone (the pages around it, up to a
    64 KiB block boundary or across one), not a window it already has."""
    for off in pread_offsets(len(data)):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            got = os.pread(fd, 4096, off)
        finally:
            os.close(fd)
        assert got == data[off:off + 4096], "pread of 4096 at %d" % off


def read_all(mnt, files):
    for name, data in files.items():
        assert read(os.path.join(mnt, name)) == data, name


def total(files):
    return sum(len(d) for d in files.values())


def chunk_fds(m):
    """Targets of the chunk-file descriptors mount m holds."""
    out = []
    d = "/proc/%d/fd" % m.daemon.proc.pid
    for fd in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if "/chunks/" in t:
            out.append(t)
    return out


def chunk_files(c, cid):
    out = {}
    for i, d in enumerate(c.worker_dirs):
        for f in glob.glob(os.path.join(d, "chunks", "*", "*", cid)):
            out[i] = f
    return out


def held_replicas(c, m, cid):
    """Indexes of the workers whose file of chunk cid mount m holds open."""
    held = set()
    for t in chunk_fds(m):
        for i, d in enumerate(c.worker_dirs):
            if t.startswith(os.path.join(d, "chunks", "")) and t.endswith("/" + cid):
                held.add(i)
    return held


def test_568a_reads_are_local_and_right(lc, files):
    c, ma, _, _ = lc
    a = c.mounts[0].path
    drop_caches()
    local, sent = mount_counter(ma, LOCAL), workers_sent(c)
    opens = workers_local_opens(c)
    read_all(a, files)
    grew = mount_counter(ma, LOCAL) - local
    # at least one local read per file with data in a chunk
    assert grew >= len(files), grew
    # the workers handed out the descriptors (counted on their side)
    assert workers_local_opens(c) > opens
    # the bytes did not come over HTTP
    assert workers_sent(c) - sent < total(files) // 20, (workers_sent(c) - sent, total(files))

    drop_caches()
    local, sent = mount_counter(ma, LOCAL), workers_sent(c)
    for name in ("big", "small-200000", "grown", "gap"):
        check_preads(os.path.join(a, name), files[name])
    # each pread's piece was read from a chunk file (a few share pages)
    grew = mount_counter(ma, LOCAL) - local
    assert grew >= len(pread_offsets(len(files["big"]))), grew
    assert workers_sent(c) - sent < (1 << 20), workers_sent(c) - sent


def test_568b_nolocalreads_mount_reads_over_http(lc, files):
    c, ma, _, mn = lc
    n = c.mounts[2].path
    assert mount_counter(mn, LOCAL) == 0
    drop_caches()
    local_a, sent = mount_counter(ma, LOCAL), workers_sent(c)
    read_all(n, files)
    for name in ("big", "small-200000", "grown", "gap"):
        check_preads(os.path.join(n, name), files[name])
    assert mount_counter(mn, LOCAL) == 0
    assert mount_counter(ma, LOCAL) == local_a
    # what the workers store (holes past a chunk's length are not sent)
    stored = total(files) - len(files["grown"]) + 10000
    assert workers_sent(c) - sent >= stored, (workers_sent(c) - sent, stored)


# ---- workers without the socket -----------------------------------------

SQUATTER = r"""
import os, socket, sys
fd = os.open(sys.argv[2], os.O_RDONLY)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0bigfs-worker-" + sys.argv[1])
s.listen(8)
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    conn.settimeout(2)
    try:
        line = conn.recv(600)
        print("asked %r" % line, flush=True)
        socket.send_fds(conn, [b"\0\0\0\0"], [fd])
    except OSError:
        pass
    conn.close()
"""


def header_crc(hdr):
    return crc32c(bytes(hdr[0:24]) + bytes(hdr[32:32 + 4 * 1024]))


def forged_chunk_file(path, cid, ver):
    """A chunk file that checks: chunk cid at ver, length 0 (reads as
    zeros)."""
    hdr = bytearray(8192)
    hdr[0:8] = b"BIGFSCK1"
    struct.pack_into("<QII", hdr, 8, int(cid, 16), ver, 0)
    struct.pack_into("<I", hdr, 24, header_crc(hdr))
    with open(path, "wb") as f:
        f.write(hdr)


def test_568c_workers_without_local_reads(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "nolocal568", nworkers=2,
                     mount_opts="metrics=127.0.0.1:0", worker_args=["--local-reads", "false"])
    sq = None
    try:
        ma = mount_metrics_addr(c, c.mounts[0])
        for i in range(c.nworkers):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                assert errno_of(s.connect, "\0bigfs-worker-" + c.worker_id(i)) == \
                    errno.ECONNREFUSED
            finally:
                s.close()
        a = c.mounts[0].path
        data = os.urandom(3 << 20)
        p = os.path.join(a, "f")
        write(p, data)
        drop_caches()
        sent = workers_sent(c)
        assert read(p) == data
        check_preads(p, data)
        assert mount_counter(ma, LOCAL) == 0
        assert workers_sent(c) - sent >= len(data)

        # Another user takes worker 0's free socket name and hands out a
        # forged file of the chunk that checks (reads as zeros): a mount
        # that believed it would read zeros.
        (_, cid, ver, reps), = read_locations(p)
        real = chunk_files(c, cid)[0]
        with open(real, "rb") as f:
            hdr = f.read(8192)
        assert struct.unpack_from("<I", hdr, 24)[0] == header_crc(hdr)  # the forger is right
        forged = os.path.join(c.base, "forged")
        forged_chunk_file(forged, cid, ver)
        sq = subprocess.Popen([PYTHON, "-c", SQUATTER, c.worker_id(0), forged],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert sq.stdout.readline() == b"ready\n"
        m = c.mount("mnt-sq", opts="metrics=127.0.0.1:0")
        msq = mount_metrics_addr(c, m)
        q = os.path.join(m.path, "f")
        assert read(q) == data
        check_preads(q, data)
        assert mount_counter(msq, LOCAL) == 0
        sq.kill()
        out = sq.communicate(timeout=10)[0].decode()
        sq = None
        # it was asked, and not believed: not even the read token was sent
        asked = [ln for ln in out.splitlines() if ln.startswith("asked ")]
        assert asked and all(ln == "asked b''" for ln in asked), out
        with open(m.daemon.log, errors="replace") as f:
            assert "belongs to another user" in f.read()
    finally:
        if sq is not None:
            sq.kill()
            sq.wait()
        finish_cluster(c)


# ---- damage -------------------------------------------------------------


def flip(path, data_off):
    with open(path, "r+b") as f:
        f.seek(8192 + data_off)
        b = f.read(1)
        f.seek(8192 + data_off)
        f.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("which", ["held", "other"])
def test_568d_damaged_replica_never_read(lc, which):
    """which: the replica whose chunk file mount A holds open (its next
    local read meets the damage), or the other one."""
    c, ma, _, _ = lc
    a, b = c.mounts[0].path, c.mounts[1].path
    name = "dmg-" + which
    p = os.path.join(a, name)
    data = os.urandom(300000)
    write(p, data)
    (_, cid, ver, reps), = read_locations(p)
    assert len(reps) == 2 and len(set(reps)) == 2, reps      # goal 2
    drop_caches()
    local = mount_counter(ma, LOCAL)
    assert read(p) == data
    assert mount_counter(ma, LOCAL) > local
    held = held_replicas(c, c.mounts[0], cid)
    files_ = chunk_files(c, cid)
    assert len(held) == 1 and held < set(files_), (held, files_)
    victim, = held if which == "held" else set(files_) - held
    flip(files_[victim], 100000)
    drop_caches()
    assert read(p) == data
    assert read(os.path.join(b, name)) == data
    fd = os.open(p, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        drop_caches()
        assert os.pread(fd, 4096, 98304) == data[98304:98304 + 4096]
    finally:
        os.close(fd)


def test_568d_every_replica_damaged_is_eio(lc):
    c = lc[0]
    a = c.mounts[0].path
    p = os.path.join(a, "dmg-all")
    data = os.urandom(300000)
    write(p, data)
    (_, cid, ver, reps), = read_locations(p)
    assert len(set(reps)) == 2, reps
    assert read(p) == data          # A holds a descriptor of one replica now
    damaged = chunk_files(c, cid)
    assert sorted(damaged) == sorted(c.worker_index(r) for r in reps), damaged
    for f in damaged.values():
        flip(f, 100000)
    drop_caches()
    # O_DIRECT: the kernel asks the mount once per read (through the page
    # cache a failed read-ahead is asked again, page by page)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)       # O_DIRECT wants an aligned buffer
    try:
        # the blocks left whole still read
        assert os.preadv(fd, [buf], 200704) == 4096
        assert buf[:] == data[200704:200704 + 4096]
        # the damaged one is an error, never bytes, and at once: every
        # copy says it is damaged, so the mount does not wait
        # FH_NO_COPY_WAIT_MS (30 s) for a good one as it does for copies
        # that do not answer
        t = time.monotonic()
        try:
            n = os.preadv(fd, [buf], 98304)
            got = buf[:n]
        except OSError as e:
            assert e.errno == errno.EIO, e
        else:
            pytest.fail("a read of a block damaged in every replica gave %d bytes, %s, "
                        "starting %r" % (len(got), "right" if got == data[98304:98304 + 4096]
                                         else "wrong", got[:40]))
        assert time.monotonic() - t < 5
    finally:
        os.close(fd)
        buf.close()
    # and through the page cache, as cat reads it
    t = time.monotonic()
    assert errno_of(read, p) == errno.EIO
    assert time.monotonic() - t < 10


# ---- other mounts' changes ------------------------------------------------


@pytest.mark.parametrize("size", [6000, (2 << 20) + 123])
def test_568e_other_mounts_changes_show(lc, size):
    c, ma, _, _ = lc
    a, b = c.mounts[0].path, c.mounts[1].path
    name = "shared-e-%d" % size
    fa, fb = os.path.join(a, name), os.path.join(b, name)
    first = os.urandom(size)
    write(fb, first)
    wait_for(lambda: os.path.exists(fa), 5, "the file on mount A")
    assert read(fa) == first
    (_, cid, _, _), = read_locations(fa)
    assert held_replicas(c, c.mounts[0], cid), chunk_fds(c.mounts[0])

    def in_place(d):
        with open(fb, "r+b") as f:
            f.write(d)

    def truncated(d):
        write(fb, d)

    def renamed_over(d):
        tmp = fb + ".tmp"
        write(tmp, d)
        os.rename(tmp, fb)

    for what, change in [("in place", in_place), ("truncated and written", truncated),
                         ("renamed over", renamed_over), ("in place again", in_place)]:
        new = os.urandom(size)
        change(new)
        if what == "renamed over":
            wait_for(lambda: os.stat(fa).st_ino == os.stat(fb).st_ino, 5, what)
        local = mount_counter(ma, LOCAL)
        assert read(fa) == new, what
        assert mount_counter(ma, LOCAL) > local, what
        assert read(fa) == new, what


# ---- stopped workers --------------------------------------------------------


def test_568f_held_descriptor_reads_with_workers_stopped(lc):
    c, ma, _, _ = lc
    a = c.mounts[0].path
    p = os.path.join(a, "paused")
    data = os.urandom((3 << 20) + 77)
    write(p, data)
    drop_caches()
    assert read(p) == data
    (_, cid, _, _), = read_locations(p)
    assert held_replicas(c, c.mounts[0], cid), chunk_fds(c.mounts[0])
    drop_caches()
    local = mount_counter(ma, LOCAL)
    try:
        for w in c.workers:
            w.send(signal.SIGSTOP)
        t = time.monotonic()
        got = read(p)
        took = time.monotonic() - t
    finally:
        for w in c.workers:
            w.send(signal.SIGCONT)
    assert got == data
    assert took < 2, took
    assert mount_counter(ma, LOCAL) > local


# ---- the socket ---------------------------------------------------------------


def ask(wid, line, timeout=5):
    """One exchange: (code, [fds], extra bytes after the code)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect("\0bigfs-worker-" + wid)
        if line:
            try:
                s.sendall(line if isinstance(line, bytes) else line.encode())
            except BrokenPipeError:     # the worker answered (and hung up) first
                pass
        msg, fds, _, _ = socket.recv_fds(s, 4, 4)
        while len(msg) < 4:
            more = s.recv(4 - len(msg))
            if not more:
                break
            msg += more
        try:
            rest = s.recv(64)
        except ConnectionResetError:    # the worker left part of a long line unread
            rest = b""
    finally:
        s.close()
    assert len(msg) == 4, msg
    return struct.unpack("<i", msg)[0], fds, rest


ASK_AS_NOBODY = r"""
import json, os, socket, struct, sys
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect("\0bigfs-worker-" + sys.argv[1])
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except BrokenPipeError:     # the worker answered (and hung up) first
    pass
msg, fds, _, _ = socket.recv_fds(s, 4, 4)
print(json.dumps({"uid": os.getuid(), "msg": msg.hex(), "nfds": len(fds)}))
"""


def test_568g_socket_protocol(lc):
    c = lc[0]
    p = os.path.join(c.mounts[0].path, "sock-g")
    data = os.urandom(100000)
    write(p, data)
    (_, cid, ver, reps), = read_locations(p)
    wid = reps[0]
    secret = c.secret()
    now = int(time.time())

    def good():
        code, fds, rest = ask(wid, "%s %d %s\n" % (cid, ver, make_token(secret, cid, ver, "r",
                                                                           now + 300)))
        try:
            assert code == 0 and len(fds) == 1 and rest == b"", (code, fds, rest)
            fd = fds[0]
            assert os.pread(fd, 8, 0) == b"BIGFSCK1"
            assert struct.unpack_from("<QII", os.pread(fd, 16, 8)) == (int(cid, 16), ver,
                                                                       len(data))
            assert os.pread(fd, len(data), 8192) == data
            assert os.fstat(fd).st_ino == os.stat(chunk_files(c, cid)[c.worker_index(wid)]).st_ino
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
            assert errno_of(os.pwrite, fd, b"EVIL", 8192) == errno.EBADF
            assert errno_of(os.ftruncate, fd, 0) in (errno.EBADF, errno.EINVAL)
        finally:
            for fd in fds:
                os.close(fd)

    errors = workers_local_opens(c, "error")
    good()

    def refused(line, want):
        code, fds, rest = ask(wid, line)
        for fd in fds:
            os.close(fd)
        assert (code, fds, rest) == (want, [], b""), (line, code, fds, rest)
        good()      # and the worker still serves

    absent = "7fffffffffff0568"
    forged = make_token(b"x" * len(secret), cid, ver, "r", now + 300)
    tok = make_token(secret, cid, ver, "r", now + 300)
    refused("%s %d %s\n" % (cid, ver, forged), errno.EACCES)
    refused("%s %d %s\n" % (cid, ver, make_token(secret, cid, ver, "r", now - 5)), errno.EACCES)
    refused("%s %d %s\n" % (cid, ver, make_token(secret, cid, ver, "w", now + 300)),
            errno.EACCES)
    refused("%s %d %s\n" % (cid, ver, tok[:-1] + ("0" if tok[-1] != "0" else "1")),
            errno.EACCES)
    # a good token of another chunk
    refused("%s %d %s\n" % (absent, ver, tok), errno.EACCES)
    refused("hello\n", errno.EINVAL)
    refused("%s %d\n" % (cid, ver), errno.EINVAL)
    refused("%s %d %s extra\n" % (cid, ver, tok), errno.EINVAL)
    refused("%s -1 %s\n" % (cid, tok), errno.EINVAL)
    refused("%s %d %s\nmore" % (cid, ver, tok), errno.EINVAL)
    refused("%s %d %s" % (cid, ver, tok) + " " * 600 + "\n", errno.EINVAL)
    refused("%s %d %s\n" % (cid, ver + 1, make_token(secret, cid, ver + 1, "r", now + 300)),
            errno.ESTALE)
    refused("%s %d %s\n" % (absent, 1, make_token(secret, absent, 1, "r", now + 300)),
            errno.ENOENT)

    # a peer that says nothing is let go, after about a second
    t = time.monotonic()
    code, fds, _ = ask(wid, b"")
    assert (code, fds) == (errno.EINVAL, [])
    assert 0.5 < time.monotonic() - t < 3
    good()

    # another user: refused before a word is read
    r = subprocess.run([PYTHON, "-c", ASK_AS_NOBODY, wid, "%s %d %s" % (cid, ver, tok)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert r.returncode == 0, r.stderr.decode()
    j = json.loads(r.stdout)
    assert j == {"uid": NOBODY, "msg": struct.pack("<i", errno.EACCES).hex(), "nfds": 0}, j
    good()
    assert all(w.alive() for w in c.workers)
    # every refusal above was counted by the worker
    assert workers_local_opens(c, "error") - errors >= 12
