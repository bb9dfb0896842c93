"""A lost worker's chunks return to their goal by themselves: after a
kill -9 and the master's worker timeout, every chunk again has `goal`
current copies on live workers, and the data reads back intact with the
lost worker still down."""

import os
import signal

import pytest

from conftest import drop_caches, finish_cluster, make_cluster, read_locations, \
    sha256_file, wait_for, write_random_file


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "repair", nworkers=3,
                     master_args=["--worker-timeout", "3"])
    yield c
    finish_cluster(c)


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
