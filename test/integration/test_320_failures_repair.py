"""A lost worker's chunks return to their goal by themselves: after a
kill -9 and the master's worker timeout, every chunk again has `goal`
current copies on live workers, and the data reads back intact with the
lost worker still down. The chunks of removed files leave the workers'
disks, at a pace that leaves busy clients alone."""

import os
import re
import signal
import threading
import time

import pytest

from conftest import drop_caches, finish_cluster, http, make_cluster, read_locations, \
    sha256_file, wait_for, write_random_file
from test_224_queued_rmdirs import fsync_dir


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "repair", nworkers=3,
                     master_args=["--worker-timeout", "3"])
    yield c
    finish_cluster(c)


def metric(c, name):
    st, _, raw = http("GET", c.url + "/metrics", timeout=10)
    assert st == 200
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", raw, re.M)
    assert m, name
    return int(m.group(1))


def chunk_files(c):
    """Chunk files on all workers' disks (DATA/chunks/XX/YY/ID)."""
    n = 0
    for d in c.worker_dirs:
        for _, _, files in os.walk(os.path.join(d, "chunks")):
            n += sum(1 for f in files if re.fullmatch(r"[0-9a-f]{16}", f))
    return n


def test_320_deletions_pace_under_busy_clients_then_drain(rcluster):
    """rm of 400 one-chunk files (goal 2: 800 chunk copies). While clients
    keep calling the master, the workers' deletions go on at a bounded
    pace, one batch of 32 a second, but they never stop; once the clients
    are quiet the rest goes, and the workers' disks are back to what they
    held before the files were written."""
    d = os.path.join(rcluster.mounts[0].path, "del")
    os.mkdir(d)
    wait_for(lambda: metric(rcluster, "bigfs_deletes_pending") == 0, 30, "no queued deletions")
    on_disk = chunk_files(rcluster)
    nfiles = 400
    for i in range(nfiles):
        with open(os.path.join(d, "f%03d" % i), "wb") as f:
            f.write(os.urandom(3000))
    fsync_dir(d)           # the closes' data behind is on the workers
    assert chunk_files(rcluster) == on_disk + 2 * nfiles
    done0 = metric(rcluster, "bigfs_deletes_done_total")

    stop = threading.Event()
    calls = [0]

    def busy():
        while not stop.is_set():
            st, _, _ = rcluster.api("GET", "/v1/cluster/workers", timeout=10)
            assert st == 200
            calls[0] += 1
            time.sleep(0.005)

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        time.sleep(1.5)  # the master's last tick has seen the calls
        t0 = time.monotonic()
        for i in range(nfiles):
            os.unlink(os.path.join(d, "f%03d" % i))
        time.sleep(4)
        window = time.monotonic() - t0
        done_busy = metric(rcluster, "bigfs_deletes_done_total") - done0
        pending = metric(rcluster, "bigfs_deletes_pending")
        rate = calls[0] / (time.monotonic() - t0 + 1.5)
    finally:
        stop.set()
        t.join(15)
    assert rate >= 20, "the busy loop made only %.1f calls a second" % rate
    # One tick a second, at most one batch of 32 in each (and one more tick
    # at either end of the window).
    assert 0 < done_busy <= 32 * (int(window) + 2), (done_busy, window)
    assert pending > 0
    wait_for(lambda: metric(rcluster, "bigfs_deletes_pending") == 0, 30,
             "the queued deletions drained once the clients were quiet",
             [rcluster.master.watch()])
    assert metric(rcluster, "bigfs_deletes_done_total") - done0 == 2 * nfiles
    assert chunk_files(rcluster) == on_disk
    os.rmdir(d)


def test_321_goal_restored_after_worker_loss(rcluster):
    d = os.path.join(rcluster.mounts[0].path, "r")
    os.mkdir(d)
    files = {}
    for i, size in enumerate([1, 100000, 3 << 20, (64 << 20) + 1]):
        p = os.path.join(d, "f%d" % i)
        files[p] = write_random_file(p, size)
    victim = rcluster.worker_id(1)
    assert any(victim in r for p in files for _, _, _, r in read_locations(p))
    rcluster.kill_worker(1, signal.SIGKILL)

    survivors = {rcluster.worker_id(0), rcluster.worker_id(2)}

    def restored():
        for p in files:
            for _, _, _, reps in read_locations(p):
                if len(set(reps)) != 2 or not set(reps) <= survivors:
                    return False
        return True

    wait_for(restored, 90, "every chunk back on 2 live workers after losing one",
             [rcluster.master.watch(), rcluster.workers[0].watch(), rcluster.workers[2].watch()])
    live = {w["worker_id"]: w["live"] for w in rcluster.list_workers()}
    assert live[victim] is False
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p

    # Only one of the two remaining copies is needed to read.
    target = next(p for p in files if os.path.getsize(p) > 1)
    (_, _, _, reps), = read_locations(target)[:1]
    rcluster.kill_worker(rcluster.worker_index(reps[0]), signal.SIGKILL)
    drop_caches()
    assert sha256_file(target) == files[target]
