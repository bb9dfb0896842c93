"""Worker failures: kill -9 of one worker loses nothing and the application
sees no error; a restarted worker keeps its id and serves its chunks again."""

import os
import signal

import pytest

from conftest import drop_caches, finish_cluster, make_cluster, read_locations, \
    sha256_file, wait_for, write_random_file

SIZES = [0, 1, 4096, 65536 + 3, 5 << 20, (64 << 20) + 12345]


@pytest.fixture(scope="module")
def wcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "workerfail", nworkers=3)
    yield c
    finish_cluster(c)


@pytest.fixture(scope="module")
def files(wcluster):
    """Files written (and closed) before anything fails: path -> sha256."""
    d = os.path.join(wcluster.mounts[0].path, "data")
    os.mkdir(d)
    out = {}
    for n in range(3):
        for size in SIZES:
            p = os.path.join(d, "f%d-%d" % (n, size))
            out[p] = write_random_file(p, size)
    return out


def test_301_kill9_worker_everything_reads_back(wcluster, files):
    victim = wcluster.worker_id(0)
    held = [p for p in files if any(victim in r for _, _, _, r in read_locations(p))]
    assert held, "no file has a chunk on worker 0; placement ignores a worker"
    wcluster.kill_worker(0, signal.SIGKILL)
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p

    # Writing new files keeps working with one worker down.
    p = os.path.join(wcluster.mounts[0].path, "data", "after-kill")
    sha = write_random_file(p, 3 << 20)
    drop_caches()
    assert sha256_file(p) == sha
    for _, _, _, replicas in read_locations(p):
        assert victim not in replicas


def test_302_restarted_worker_keeps_id_and_serves(wcluster, files):
    if wcluster.workers[0].alive():
        wcluster.kill_worker(0, signal.SIGKILL)
    wid = wcluster.worker_id(0)
    old_addr = wcluster.worker_addr(0)
    wcluster.start_worker(0)
    assert wcluster.worker_id(0) == wid
    wcluster.wait_live([0, 1, 2])
    entries = [w for w in wcluster.list_workers() if w["worker_id"] == wid]
    assert len(entries) == 1, entries
    assert entries[0]["live"]
    assert entries[0]["addr"] == wcluster.worker_addr(0), (entries, old_addr)
    assert len(wcluster.list_workers()) == 3

    # A file whose every chunk lists worker 0 again.
    def on_w0(p):
        locs = read_locations(p)
        return locs and all(wid in r for _, _, _, r in locs)

    candidates = [p for p in files if os.path.getsize(p) > 0]
    target = wait_for(lambda: next((p for p in candidates if on_w0(p)), None), 60,
                      "a file whose chunks list the restarted worker again")

    # Kill every other holder: only worker 0 can serve it now.
    others = set()
    for _, _, _, replicas in read_locations(target):
        others.update(r for r in replicas if r != wid)
    for o in others:
        wcluster.kill_worker(wcluster.worker_index(o), signal.SIGKILL)
    drop_caches()
    assert sha256_file(target) == files[target]
    for o in others:
        wcluster.start_worker(wcluster.worker_index(o))
    wcluster.wait_live([0, 1, 2])
