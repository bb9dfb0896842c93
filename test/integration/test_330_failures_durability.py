"""Metadata durability for fsync and fsyncdir, asked of the master directly:
`POST /v1/sync` and `POST /v1/commit` with `"durable": true` reply only
after a disk sync of the metadata (the counter bigfs_meta_syncs_total moves
by at least one for each call that follows a change); eight concurrent
/v1/sync calls share syncs (fewer than eight); under strace, the master's
sync of its WAL shows up around a /v1/sync and never during ordinary
calls, which stay as fast as before (no sync per commit).

Only the master is needed: no workers, no mount."""

import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from conftest import MASTER_BIN, Cluster, finish_cluster, http, json_of, wait_for

SYNCS = "bigfs_meta_syncs_total"
CALLS = "bigfs_meta_sync_calls_total"


@pytest.fixture(scope="module")
def dcluster(tmp_path_factory):
    assert os.access(MASTER_BIN, os.X_OK), "%s is missing: run make first" % MASTER_BIN
    c = Cluster(tmp_path_factory.mktemp("durability"), nworkers=0)
    try:
        c.start()
    except BaseException:
        c.stop()
        raise
    yield c
    finish_cluster(c)


def metric(c, name):
    st, _, raw = http("GET", c.url + "/metrics", timeout=10)
    assert st == 200, raw[:200]
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", raw, re.M)
    assert m, name
    return int(m.group(1))


_names = iter(range(1 << 30))


def create(c):
    """A new empty file in the root (one write commit); its inode."""
    st, j, raw = c.api("POST", "/v1/create", {"parent": 1, "name": "f330-%d" % next(_names),
                                              "mode": 0o100644, "uid": 0, "gid": 0})
    assert st == 200, raw
    return j["attr"]["ino"]


def test_330_sync_and_durable_commit_sync_the_disk(dcluster):
    c = dcluster
    ino = create(c)
    s0 = metric(c, SYNCS)
    st, j, raw = c.api("POST", "/v1/sync", {})
    assert st == 200 and j == {}, raw
    s1 = metric(c, SYNCS)
    assert s1 >= s0 + 1, (s0, s1)

    # fsync of a file: the commit and its sync in one call
    st, j, raw = c.api("POST", "/v1/commit", {"ino": ino, "size": 1234, "session": "s330",
                                              "release": [], "durable": True})
    assert st == 200 and j["attr"]["size"] == 1234, raw
    s2 = metric(c, SYNCS)
    assert s2 >= s1 + 1, (s1, s2)

    # fsyncdir after a new entry; "ino" is accepted
    create(c)
    st, j, raw = c.api("POST", "/v1/sync", {"ino": 1})
    assert st == 200 and j == {}, raw
    s3 = metric(c, SYNCS)
    assert s3 >= s2 + 1, (s2, s3)

    # "durable": false is an ordinary commit
    st, j, raw = c.api("POST", "/v1/commit", {"ino": ino, "size": 2000, "session": "s330",
                                              "release": [], "durable": False})
    assert st == 200 and j["attr"]["size"] == 2000, raw


def test_331_concurrent_syncs_share_disk_syncs(dcluster):
    c = dcluster
    create(c)
    s0, k0 = metric(c, SYNCS), metric(c, CALLS)
    n = 8
    start = threading.Barrier(n)
    results = [None] * n

    def one(i):
        start.wait()
        st, _, raw = c.http("POST", "/v1/sync", {}, timeout=30)
        results[i] = (st, raw)

    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for st, raw in results:
        assert st == 200 and json_of(raw) == {}, raw
    s1, k1 = metric(c, SYNCS), metric(c, CALLS)
    assert k1 - k0 >= n, (k0, k1)
    assert 1 <= s1 - s0 < n, (s0, s1)


def test_332_bad_input(dcluster):
    c = dcluster
    ino = create(c)
    for body in [b"", b"[]", b"not json"]:
        st, _, raw = c.http("POST", "/v1/sync", body)
        assert st == 400 and json_of(raw)["error"] == "EINVAL", raw
    for body in [{"ino": "1"}, {"ino": -1}, {"ino": 1.5}]:
        st, _, raw = c.http("POST", "/v1/sync", body)
        assert st == 400 and "'ino'" in json_of(raw)["message"], raw
    for durable in ["yes", 1, [True]]:
        st, _, raw = c.http("POST", "/v1/commit",
                          {"ino": ino, "size": 5, "session": "s332", "release": [],
                           "durable": durable})
        assert st == 400 and "'durable'" in json_of(raw)["message"], raw
    # nothing was committed by the refused calls
    st, j, raw = c.api("POST", "/v1/getattr", {"ino": ino})
    assert st == 200 and j["attr"]["size"] == 0, raw


# ---- strace ---------------------------------------------------------------

SYNC_RE = re.compile(r"\b(fsync|fdatasync)\((\d+)\)\s+=\s+0")
UNFINISHED_RE = re.compile(r"^(\d+)\s+(fsync|fdatasync)\((\d+) <unfinished \.\.\.>")
RESUMED_RE = re.compile(r"^(\d+)\s+<\.\.\. (fsync|fdatasync) resumed>\)\s+=\s+(-?\d+)")


def wal_fds(pid):
    """The master's descriptors of meta.db-wal: {fd: opened read-only}.
    SQLite's own is read-write; meta_sync's is read-only."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.endswith("/meta.db-wal"):
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(re.search(r"^flags:\s+(\d+)", f.read(), re.M).group(1), 8)
            out[int(fd)] = (flags & os.O_ACCMODE) == os.O_RDONLY
    return out


def traced(c, tmp_path, name, fn):
    """Run fn() while strace watches every thread of the master for fsync
    and fdatasync; returns [(call, fd)] of the syncs that succeeded."""
    pid = c.master.proc.pid
    out = str(tmp_path / (name + ".strace"))
    err = str(tmp_path / (name + ".stderr"))
    with open(err, "wb") as ef:
        p = subprocess.Popen(["strace", "-f", "-p", str(pid), "-e", "trace=fsync,fdatasync",
                              "-o", out], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=ef)
    try:
        def attached():   # "Process PID attached with N threads", once all are
            with open(err, "rb") as f:
                return b" attached" in f.read()
        wait_for(attached, 15, "strace attached to the master",
                 [("strace", p, err), c.master.watch()])
        fn()
    finally:
        p.send_signal(signal.SIGINT)   # detach; the trace is complete once it exits
        p.wait(timeout=15)
    with open(out) as f:
        return parse_syncs(f.read())


def parse_syncs(text):
    """[(call, fd)] of the successful syncs in strace -f output. A call that
    overlaps a traced call of another thread is split over two lines,
    "PID fdatasync(5 <unfinished ...>" and "PID <... fdatasync resumed>) = 0"."""
    syncs, pending = [], {}
    for line in text.splitlines():
        m = SYNC_RE.search(line)
        if m:
            syncs.append((m.group(1), int(m.group(2))))
            continue
        m = UNFINISHED_RE.search(line)
        if m:
            pending[m.group(1)] = (m.group(2), int(m.group(3)))
            continue
        m = RESUMED_RE.search(line)
        if m and m.group(1) in pending and pending[m.group(1)][0] == m.group(2):
            call = pending.pop(m.group(1))
            if m.group(3) == "0":
                syncs.append(call)
    return syncs


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_333_strace_sync_on_the_wal_only_when_asked(dcluster, tmp_path):
    c = dcluster
    fds = wal_fds(c.master.proc.pid)
    ours = [fd for fd, ro in fds.items() if ro]
    assert len(ours) == 1 and len(fds) == 2, fds
    ours = ours[0]

    # ordinary calls: 30 creates and 30 commits, no sync of ours and far
    # fewer syncs than commits (SQLite's own only at a checkpoint)
    def plain():
        for _ in range(30):
            ino = create(c)
            st, _, raw = c.api("POST", "/v1/commit", {"ino": ino, "size": 10,
                                                      "session": "s333", "release": []})
            assert st == 200, raw
    syncs = traced(c, tmp_path, "plain", plain)
    assert not [s for s in syncs if s[1] == ours], syncs
    assert len(syncs) <= 4, syncs

    # a change, then /v1/sync: the WAL is synced through meta_sync's fd
    def durable():
        create(c)
        st, _, raw = c.api("POST", "/v1/sync", {})
        assert st == 200, raw
        ino = create(c)
        st, _, raw = c.api("POST", "/v1/commit", {"ino": ino, "size": 10, "session": "s333",
                                                  "release": [], "durable": True})
        assert st == 200, raw
    syncs = traced(c, tmp_path, "durable", durable)
    assert syncs.count(("fdatasync", ours)) == 2, syncs


# --------------------------------------------------------------------------
# through a mount: fsync(2) and fsync of a directory reach the master's disk


def test_334_fsync_on_the_mount_syncs_the_master(cluster, tmp_path):
    # The shared cluster (workers and a mount): an fsync of a new file, an
    # fdatasync and an fsync of its directory each return only after the
    # master synced its metadata; close alone does not sync.
    d = os.path.join(cluster.mounts[0].path, "t334")
    os.makedirs(d, exist_ok=True)
    before = metric(cluster, SYNCS)
    p = os.path.join(d, "plain")
    with open(p, "wb") as f:
        f.write(b"x" * 1000)
    assert metric(cluster, SYNCS) == before, "close alone must not sync the master"

    fd = os.open(os.path.join(d, "synced"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"y" * 5000)
        os.fsync(fd)
        after_fsync = metric(cluster, SYNCS)
        assert after_fsync >= before + 1
        os.write(fd, b"z")
        os.fdatasync(fd)
        assert metric(cluster, SYNCS) >= after_fsync + 1
    finally:
        os.close(fd)

    os.mkdir(os.path.join(d, "sub"))
    b2 = metric(cluster, SYNCS)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    assert metric(cluster, SYNCS) >= b2 + 1


def test_335_concurrent_fsyncs_share_master_syncs(cluster):
    # Eight threads each write and fsync their own file at once: every
    # fsync succeeds, and the master needs fewer disk syncs than fsyncs.
    d = os.path.join(cluster.mounts[0].path, "t335")
    os.makedirs(d, exist_ok=True)
    calls0 = metric(cluster, CALLS)
    syncs0 = metric(cluster, SYNCS)
    errors = []
    barrier = threading.Barrier(8)

    def one(i):
        try:
            fd = os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644)
            try:
                os.write(fd, b"%d" % i * 100)
                barrier.wait(timeout=30)
                for _ in range(5):
                    os.write(fd, b"+")
                    os.fsync(fd)
            finally:
                os.close(fd)
        except Exception as e:  # reported in the test's thread
            errors.append(e)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    calls = metric(cluster, CALLS) - calls0
    syncs = metric(cluster, SYNCS) - syncs0
    assert calls >= 40
    assert 1 <= syncs < calls, (syncs, calls)
