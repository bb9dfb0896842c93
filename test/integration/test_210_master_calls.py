"""What ordinary programs cost in master round trips: the counts that the
small-file figures of bench/ depend on (the master's /metrics counters).

The cluster is shared with other tests, but a module's tests run one at
a time, so the counters move only by what the test does (plus session
heartbeats, which are not counted here)."""

import os
import re
import time

from conftest import http, read_locations
from posix_fixtures import second_mount  # noqa: F401  (fixture)


def route_counts(cluster):
    """Calls by route ("/v1/create"), and the ops /v1/batch calls ran, by
    kind ("batch:create")."""
    st, _, raw = http("GET", cluster.url + "/metrics")
    assert st == 200
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(
        rb'bigfs_http_requests_total\{route="([^"]+)"\} (\d+)', raw)}
    counts.update({b"batch:" + m.group(1): int(m.group(2)) for m in re.finditer(
        rb'bigfs_batch_ops_total\{op="([^"]+)"\} (\d+)', raw)})
    return counts


def delta(before, after):
    return {k.decode(): after[k] - before.get(k, 0) for k in after
            if after[k] != before.get(k, 0) and k != b"/v1/session/heartbeat"
            and k != b"/metrics"}


def commits(d_):
    """Commits in a delta of route counts: a close of a file the mount made
    and wrote once sends its commit on the next batch a moment later
    (fuse/file_handle.h, commit behind), others as /v1/commit."""
    return d_.get("/v1/commit", 0) + d_.get("batch:commit", 0)


def creates(d_):
    """Creates in a delta of route counts: one the mount answered itself
    (fs_ops.c fs_create_local) or that rode on a batch, or /v1/create."""
    return d_.get("/v1/create", 0) + d_.get("batch:create", 0)


def calls(d_):
    """Round trips to the master in a delta (batches count once), but the
    change feed's long polls."""
    return sum(v for k, v in d_.items() if k.startswith("/") and k != "/v1/events")


def wait_commits(cluster, before, n, timeout=5.0):
    """The delta of route counts since before, once n commits (commits())
    reached the master (or timeout passed)."""
    t0 = time.monotonic()
    while True:
        d_ = delta(before, route_counts(cluster))
        if commits(d_) >= n or time.monotonic() - t0 > timeout:
            return d_
        time.sleep(0.02)


def settled_delta(cluster, before, quiet=0.2, timeout=5.0):
    """The delta of route counts since before once they stopped moving for
    quiet seconds: what a mount queued has reached the master."""
    t0 = time.monotonic()
    last, since = None, time.monotonic()
    while True:
        d_ = delta(before, route_counts(cluster))
        if d_ != last:
            last, since = d_, time.monotonic()
        elif time.monotonic() - since >= quiet or time.monotonic() - t0 > timeout:
            return d_
        time.sleep(0.02)


def test_211_tar_like_file_costs_one_commit(cluster):
    """create, write, fchmod, futimens, close (as tar -x does): the create
    (which brings the first chunk's write grant) and one commit (which
    carries the mode and times); the close sends nothing more."""
    d = os.path.join(cluster.mounts[0].path, "calls-211")
    os.mkdir(d)
    p = os.path.join(d, "f")
    before = route_counts(cluster)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"x" * 5000)
    os.fchmod(fd, 0o644)
    os.utime(fd, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.close(fd)
    d_ = wait_commits(cluster, before, 1)
    assert commits(d_) == 1, d_
    # the write grant came with the create; fchmod and futimens with the commit
    assert "/v1/write" not in d_ and "/v1/setattr" not in d_, d_
    with open(p, "rb") as f:
        assert f.read() == b"x" * 5000
    st = os.stat(p)
    assert st.st_mtime_ns == 1_000_000_000_000_000_000 and st.st_mode & 0o777 == 0o644


def test_212_reading_a_small_file_needs_no_chunks_call(cluster, second_mount):
    """open + read + close of a small file on a mount that has not opened it
    yet: the open brings the chunk's locations, so there is no /v1/chunks
    call."""
    d = os.path.join(cluster.mounts[0].path, "calls-212")
    os.mkdir(d)
    with open(os.path.join(d, "f"), "wb") as f:
        f.write(b"small file\n")
    path = os.path.join(second_mount, "calls-212", "f")
    os.stat(path)
    before = route_counts(cluster)
    with open(path, "rb") as f:
        assert f.read() == b"small file\n"
    after = route_counts(cluster)
    d_ = delta(before, after)
    assert d_.get("/v1/open") == 1, d_
    assert "/v1/chunks" not in d_, d_


def test_213_reading_many_files_costs_one_open_each_and_few_other_calls(cluster, second_mount):
    """cat of 300 small files: one /v1/open per file and nothing else per
    file — the read-atime reports ride on a later file's open (or go in
    batches), the closes ride on the session heartbeat, and an open
    does not wake the heartbeat (which once cost one heartbeat call per
    file). Every file's atime moved."""
    import time
    d = os.path.join(cluster.mounts[0].path, "calls-213")
    os.mkdir(d)
    n = 300
    for i in range(n):
        with open(os.path.join(d, "f%03d" % i), "wb") as f:
            f.write(b"%d\n" % i)
    for i in range(n):  # atime before mtime: every read reports one
        os.utime(os.path.join(d, "f%03d" % i), ns=(10**18, 10**18 + 10**9))
    r = os.path.join(second_mount, "calls-213")  # a mount that has not opened them
    names = sorted(os.listdir(r))
    t0 = time.monotonic()
    before = route_counts(cluster)
    for name in names:
        with open(os.path.join(r, name), "rb") as f:
            f.read()
    os.stat(os.path.join(r, names[-1]))  # waits for the last atime report
    after = route_counts(cluster)
    secs = time.monotonic() - t0
    hb = after.get(b"/v1/session/heartbeat", 0) - before.get(b"/v1/session/heartbeat", 0)
    d_ = delta(before, after)
    assert d_.get("/v1/open") == n, d_
    # the reports ride on the opens, 8 or more at a time; a /v1/atime
    # only when a report has waited 20 ms (one per 20 ms at most), and
    # for the last files
    assert 1 <= d_.get("/v1/atime", 0) <= secs / 0.02 + 2, (d_, secs)
    assert d_.get("/v1/atime", 0) < n / 3, (d_, secs)
    # each of the two mounts every 2 s (and one per 512 closes)
    assert hb <= 2 * (secs / 2 + 2), (hb, secs)
    for name in names:
        assert os.stat(os.path.join(r, name)).st_atime_ns > 10**18 + 10**9, name


def test_214_create_grants_that_are_not_used_leave_no_chunk(cluster, second_mount):
    """Empty files made with O_TRUNC or O_EXCL got a grant with the create
    and never wrote: their commit at close drops the chunk and gives the
    lease back, so a later writer on any mount waits for nothing."""
    import time
    d = os.path.join(cluster.mounts[0].path, "calls-214")
    os.mkdir(d)

    def dir_chunks():
        # this folder's chunks (the cluster's total moves with other
        # tests' deletions finishing in the background)
        return sum(len(read_locations(os.path.join(d, n))) for n in os.listdir(d))

    before = 0
    for i in range(30):
        fd = os.open(os.path.join(d, "e%02d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.close(fd)
        fd = os.open(os.path.join(d, "x%02d" % i), os.O_RDWR | os.O_CREAT | os.O_EXCL)
        os.close(fd)
    # bash's "> file": open, dup2 onto stdout, close (a flush), then the
    # writes and the last close; empty ones too
    import subprocess
    subprocess.run(["bash", "-c", "cd '%s' && for i in 1 2 3; do : > b$i; done" % d], check=True)
    assert dir_chunks() == before
    assert all(os.stat(os.path.join(d, n)).st_size == 0 for n in os.listdir(d))
    calls0 = route_counts(cluster)
    subprocess.run(["bash", "-c", "cd '%s' && for i in 1 2 3 4 5; do printf 'x%%.0s' {1..5000} > p$i; "
                    "done" % d], check=True)
    d_ = wait_commits(cluster, calls0, 5)
    # each create rides on the batch of the commit before it, or goes alone
    assert creates(d_) == 5 and commits(d_) == 5 and calls(d_) <= 10, d_
    assert "/v1/write" not in d_, d_
    assert os.path.getsize(os.path.join(d, "p3")) == 5000
    before += 5
    with open(os.path.join(d, "e00"), "r+b") as f:
        f.write(b"later")
    with open(os.path.join(os.path.join(second_mount, "calls-214"), "e00"), "rb") as f:
        assert f.read() == b"later"
    assert dir_chunks() == before + 1
    # made and closed unwritten on mount 1: mount 2 writes at once
    p1 = os.path.join(d, "shared")
    os.close(os.open(p1, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    p2 = os.path.join(second_mount, "calls-214", "shared")
    t0 = time.monotonic()
    # at once, though mount 2 may hold the folder's listing (its lookups
    # fetched the listings below the root): the create's reply waited for
    # mount 2's change feed (docs/posix.md)
    with open(p2, "r+b") as f:
        f.write(b"B" * 10)
    assert time.monotonic() - t0 < 2.0, "the other mount waited for the create's grant"
    t0 = time.monotonic()      # mount 1's kernel keeps the size it saw for 1 s
    while open(p1, "rb").read() != b"B" * 10:
        assert time.monotonic() - t0 < 2.0
        time.sleep(0.05)
