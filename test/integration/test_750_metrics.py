"""Prometheus metrics of the workers (GET /metrics on their data port) and
of a mount (-o metrics=ADDR:PORT): every line of both parses as the text
format 0.0.4 says, and the counters follow what a file written and read
through the mount did."""

import errno
import math
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import MOUNT_BIN, finish_cluster, http, make_cluster, make_token, \
    read_locations, wait_for
from test_224_queued_rmdirs import fsync_dir

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*,?\})? (\S+)( -?\d+)?$" % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text, prefix):
    """Check text line by line against the text format 0.0.4; return
    {(name, ((label, value), ...)): float} and {family: type}."""
    assert text.endswith("\n"), "the last line must end with a newline"
    samples, types, helps = {}, {}, set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        assert line.strip(), "empty line " + where
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[0] == "#" and len(parts) >= 3, where
            if parts[1] == "HELP":
                assert re.fullmatch(NAME, parts[2]), where
                assert parts[2] not in helps, "second HELP " + where
                helps.add(parts[2])
            elif parts[1] == "TYPE":
                assert len(parts) == 4 and parts[3] in TYPES, where
                assert re.fullmatch(NAME, parts[2]), where
                assert parts[2] not in types, "second TYPE " + where
                assert not any(k[0] == parts[2] for k in samples), "TYPE after samples " + where
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample " + where
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert name.startswith(prefix), "name outside %s*: %s" % (prefix, where)
        v = float(value)           # also +Inf, -Inf, NaN
        lab = tuple(sorted(LABEL_RE.findall(labels)))
        assert len(lab) == len({k for k, _ in lab}), "repeated label " + where
        key = (name, lab)
        assert key not in samples, "repeated sample " + where
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                family = base
        assert family in types, "sample before its TYPE " + where
        t = types[family]
        if t == "counter":
            assert name.endswith("_total") and v >= 0 and not math.isnan(v), where
        if t == "histogram" and name.endswith("_bucket"):
            assert any(k == "le" for k, _ in lab), where
        samples[key] = v
    for family, t in types.items():
        if t == "histogram":
            buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                             if k[0] == family + "_bucket")
            assert buckets and buckets[-1][0] == math.inf, family
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "%s: buckets not cumulative" % family
            assert samples[(family + "_count", ())] == counts[-1], family
    return samples, types


def get(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


def scrape(addr, prefix):
    st, hdrs, raw = http("GET", "http://%s/metrics" % addr, timeout=10)
    assert st == 200, raw[:300]
    ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    return parse_prometheus(raw.decode("utf-8"), prefix)


def metered_pair(tmp_path_factory, name, nworkers=2):
    """A cluster whose two mounts (mounts[0] and mntb) serve metrics:
    (cluster, A's metrics address, B's). finish_cluster it."""
    c = make_cluster(tmp_path_factory, name, nworkers=nworkers, mount_opts="metrics=127.0.0.1:0")
    try:
        c.mount("mntb", opts="metrics=127.0.0.1:0")
        a, b = (mount_metrics_addr(c, m) for m in c.mounts)
    except BaseException:
        finish_cluster(c)
        raise
    return c, a, b


def mount_metrics_addr(cluster, m):
    """The address a mount with metrics=127.0.0.1:0 logged."""
    def found():
        with open(m.daemon.log, errors="replace") as f:
            hits = re.findall(r"metrics on http://([0-9.]+:\d+)/metrics", f.read())
        return hits[-1] if hits else None
    return wait_for(found, 20, "the mount's metrics address in its log", [m.daemon.watch()])


@pytest.fixture(scope="module")
def mmount(cluster):
    """A second mount of the shared cluster, with metrics on a free port.
    Its reads go to the workers over HTTP (nolocalreads), so that the
    workers' read counters move; test_568 counts local reads."""
    m = cluster.mount(name="mnt750", opts="metrics=127.0.0.1:0,nolocalreads")
    return m, mount_metrics_addr(cluster, m)


def scrape_workers(cluster):
    return [scrape(cluster.worker_addr(i), "bigfs_worker_")[0] for i in range(cluster.nworkers)]


def test_750a_counters_follow_a_file(cluster, mmount):
    m, addr = mmount
    size = 5 * (1 << 20) + 4321
    data = os.urandom(size)
    mb, mtypes = scrape(addr, "bigfs_mount_")
    wb = scrape_workers(cluster)

    p = os.path.join(m.path, "f750")
    with open(p, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    with open(p, "rb") as f:
        assert f.read() == data
    assert os.path.exists(os.path.join(m.path, "no-such-file-750")) is False

    ma, _ = scrape(addr, "bigfs_mount_")
    wa = scrape_workers(cluster)

    def grew(name, **lab):
        return get(ma, name, **lab) - get(mb, name, **lab)

    assert grew("bigfs_mount_written_bytes_total") >= size
    assert grew("bigfs_mount_read_bytes_total") >= size
    for op in ("create", "write", "fsync", "flush", "open", "read", "lookup", "getattr"):
        assert grew("bigfs_mount_fuse_requests_count", op=op) >= 1, op
        assert get(ma, "bigfs_mount_fuse_requests_sum", op=op) >= 0, op
    assert mtypes["bigfs_mount_fuse_requests"] == "summary"
    assert grew("bigfs_mount_fuse_errors_total", errno="ENOENT") >= 1
    assert grew("bigfs_mount_master_calls_total") >= 3
    # (not compared with the calls: a heartbeat may be between the two counts)
    assert grew("bigfs_mount_master_requests_total") >= 3
    assert grew("bigfs_mount_worker_fetches_total") >= 1
    assert get(ma, "bigfs_mount_master_connected") == 1
    assert get(ma, "bigfs_mount_master_info", master=cluster.master_addr) == 1
    assert get(ma, "bigfs_mount_masters") == 1
    assert get(ma, "bigfs_mount_start_time_seconds") <= time.time()
    # the kernel sends release after close() returned: wait for it
    wait_for(lambda: get(scrape(addr, "bigfs_mount_")[0], "bigfs_mount_open_files") == 0, 10,
             "open files back to 0", [m.daemon.watch()])

    # the workers: the bytes went in (to every replica) and came out
    def wgrew(name, **lab):
        return sum(get(a, name, **lab) - get(b, name, **lab) for a, b in zip(wa, wb))

    assert wgrew("bigfs_worker_received_bytes_total") >= size
    assert wgrew("bigfs_worker_sent_bytes_total") >= size
    assert wgrew("bigfs_worker_requests_total", route="chunk_write", code="2xx") >= 1
    assert wgrew("bigfs_worker_requests_total", route="chunk_read", code="2xx") >= 1
    assert wgrew("bigfs_worker_fsyncs_total", result="ok") >= 1
    assert wgrew("bigfs_worker_fsync_duration_seconds_count") >= 1
    assert sum(get(a, "bigfs_worker_store_chunks") for a in wa) >= 1
    for i, a in enumerate(wa):
        assert get(a, "bigfs_worker_info", worker_id=cluster.worker_id(i)) == 1
        assert 0 < get(a, "bigfs_worker_used_bytes") <= get(a, "bigfs_worker_capacity_bytes") or \
            get(a, "bigfs_worker_store_chunks") == 0
        assert get(a, "bigfs_worker_fsync_duration_seconds_count") == \
            get(a, "bigfs_worker_fsyncs_total", result="ok") + \
            get(a, "bigfs_worker_fsyncs_total", result="error")
        # the scrape itself is in flight while it renders
        assert get(a, "bigfs_worker_requests_in_flight") >= 1
    os.unlink(p)


def test_750b_worker_counts_refusals_and_clones(cluster):
    i = 0
    addr = cluster.worker_addr(i)
    before, _ = scrape(addr, "bigfs_worker_")
    cid = "7e50" + os.urandom(6).hex()
    now = int(time.time())
    # a forged read: 403, counted as 4xx of chunk_read
    st, _, _ = http("GET", "http://%s/v1/chunk/%s?version=1&offset=0&length=1&token=%s"
                    % (addr, cid, make_token(b"z" * 32, cid, 1, "r", now + 60)))
    assert st == 403
    # a chunk of our own, cloned: counted as a clone of its bytes
    data = os.urandom(100000)
    secret = cluster.secret()
    st, _, raw = http("PUT", "http://%s/v1/chunk/%s?version=1&offset=0&token=%s"
                      % (addr, cid, make_token(secret, cid, 1, "w", now + 60)), data,
                      headers={"Content-Type": "application/octet-stream"})
    assert st == 200, raw[:200]
    new = "7e51" + os.urandom(6).hex()
    st, _, raw = http("POST", "http://%s/v1/chunk/%s/clone?version=1&from=%s&from_version=1"
                      "&token=%s&from_token=%s"
                      % (addr, new, cid, make_token(secret, new, 1, "c", now + 60),
                         make_token(secret, cid, 1, "r", now + 60)))
    assert st == 200, raw[:200]
    after, _ = scrape(addr, "bigfs_worker_")
    try:
        def grew(name, **lab):
            return get(after, name, **lab) - get(before, name, **lab)
        assert grew("bigfs_worker_requests_total", route="chunk_read", code="4xx") >= 1
        assert grew("bigfs_worker_requests_total", route="chunk_write", code="2xx") >= 1
        assert grew("bigfs_worker_requests_total", route="chunk_clone", code="2xx") >= 1
        assert grew("bigfs_worker_clones_total", result="ok") >= 1
        assert grew("bigfs_worker_clone_bytes_total") >= len(data)
        assert grew("bigfs_worker_received_bytes_total") >= len(data)
        assert grew("bigfs_worker_requests_total", route="metrics", code="2xx") >= 1
        assert grew("bigfs_worker_store_chunks") >= 2 or get(after, "bigfs_worker_store_chunks") >= 2
    finally:
        for c in (cid, new):
            http("DELETE", "http://%s/v1/chunk/%s?token=%s"
                 % (addr, c, make_token(secret, c, 0, "d", now + 60)))


def test_750c_metrics_need_no_token_and_only_get(cluster, mmount):
    _, maddr = mmount
    for addr in (cluster.worker_addr(0), maddr):
        st, _, _ = http("POST", "http://%s/metrics" % addr, b"")
        assert st == 405
        st, _, _ = http("GET", "http://%s/metrics/x" % addr)
        assert st == 404


def run_mount(cluster, opts, path):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run([MOUNT_BIN, "-f", "-o", opts + "," + cluster.mount_auth_opts(),
                        cluster.master_addr, path], capture_output=True, timeout=60)
    return p.returncode, p.stderr.decode(errors="replace")


def test_750d_bad_metrics_option_fails_the_mount(cluster, tmp_path):
    for bad in ("metrics=", "metrics=9600", "metrics=127.0.0.1:", "metrics=127.0.0.1:99999",
                "metrics=127.0.0.1:-1", "metrics=:x"):
        rc, err = run_mount(cluster, bad, str(tmp_path / "m"))
        assert rc == 1 and "metrics must be ADDR:PORT" in err, (bad, rc, err)
    # a port already taken: said at once, nothing mounted
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        port = s.getsockname()[1]
        rc, err = run_mount(cluster, "metrics=127.0.0.1:%d" % port, str(tmp_path / "m"))
        assert rc == 1 and "cannot serve metrics on 127.0.0.1:%d: %s" % (
            port, os.strerror(errno.EADDRINUSE)) in err, (rc, err)
    finally:
        s.close()
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path / "m") not in f.read()


def test_750e_scrubber_progress_and_damage(tmp_path_factory):
    """A worker restarted with a damaged chunk on its disk and the first
    scrub at once: its pass shows in the scrubber's metrics, the damage
    too."""
    c = make_cluster(tmp_path_factory, "m750scrub", nworkers=2)
    try:
        data = os.urandom(3 * 65536 + 500)
        p = os.path.join(c.mounts[0].path, "s750")
        with open(p, "wb") as f:
            f.write(data)
        (_, cid, ver, reps), = read_locations(p)
        i = c.worker_index(reps[0])
        path = os.path.join(c.worker_dirs[i], "chunks", cid[12:14], cid[14:16], cid)
        c.workers[i].stop()
        with open(path, "r+b") as f:         # one bit of the second block
            f.seek(8192 + 65536 + 7)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 1]))
        c.worker_args += ["--scrub-first-delay-s", "0"]
        c.start_worker(i)
        addr = c.worker_addr(i)

        def scrubbed():
            m, _ = scrape(addr, "bigfs_worker_")
            return m if get(m, "bigfs_worker_scrub_passes_total") >= 1 else None

        m = wait_for(scrubbed, 30, "a scrubber pass on worker %d" % i, [c.workers[i].watch()])
        assert get(m, "bigfs_worker_scrub_corrupt_chunks_total") >= 1
        assert get(m, "bigfs_worker_scrub_chunks_checked_total") >= 1
        assert get(m, "bigfs_worker_scrub_bytes_checked_total") >= len(data)
        assert get(m, "bigfs_worker_scrub_pass_chunks") >= 1
        assert get(m, "bigfs_worker_scrub_pass_checked_chunks") == \
            get(m, "bigfs_worker_scrub_pass_chunks")
        assert 0 < get(m, "bigfs_worker_scrub_last_pass_end_timestamp_seconds") <= time.time() + 1
        # the file still reads whole (the other replica)
        with open(p, "rb") as f:
            assert f.read() == data
    finally:
        finish_cluster(c)


def test_750g_scrubber_paces_small_chunks(tmp_path_factory):
    """The scrubber counts each chunk as at least 256 KiB of its byte
    rate: at the default 16 MiB/s a worker full of small files checks
    some 64 chunks a second (it checked 1,300 a second, a quarter of a
    core, whatever the byte rate), and still finishes its pass."""
    c = make_cluster(tmp_path_factory, "m750pace", nworkers=2)
    try:
        d = os.path.join(c.mounts[0].path, "pace")
        os.mkdir(d)
        for k in range(400):
            with open(os.path.join(d, "f%d" % k), "wb") as f:
                f.write(b"x" * 100)
        fsync_dir(d)       # the closes' data behind is on the workers
        c.workers[0].stop()
        c.worker_args += ["--scrub-first-delay-s", "0", "--scrub-rate", "16m"]
        c.start_worker(0)
        addr = c.worker_addr(0)

        def pass_chunks():
            m, _ = scrape(addr, "bigfs_worker_")
            return m if get(m, "bigfs_worker_scrub_pass_chunks") >= 400 else None

        wait_for(pass_chunks, 20, "the scrubber's pass to begin", [c.workers[0].watch()])
        t0 = time.monotonic()
        time.sleep(2)
        m, _ = scrape(addr, "bigfs_worker_")
        checked = get(m, "bigfs_worker_scrub_pass_checked_chunks")
        elapsed = time.monotonic() - t0 + 1   # the pass began at most ~1 s before t0
        assert 0 < checked <= 64 * elapsed + 16, (checked, elapsed)

        def done():
            m, _ = scrape(addr, "bigfs_worker_")
            return m if get(m, "bigfs_worker_scrub_passes_total") >= 1 else None

        m = wait_for(done, 30, "the scrubber's pass to end", [c.workers[0].watch()])
        assert get(m, "bigfs_worker_scrub_pass_checked_chunks") == \
            get(m, "bigfs_worker_scrub_pass_chunks")
        assert get(m, "bigfs_worker_scrub_corrupt_chunks_total") == 0
    finally:
        finish_cluster(c)
