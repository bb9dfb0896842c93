"""Time back to full goal after losing a worker that holds more than
1 GiB: files of 2.2 GiB in all at goal 2 on 3 workers (about 1.5 GiB of
copies each), the worker with the most copies killed with -9 for good.
The master declares it dead after --worker-timeout and re-replicates
every chunk it held from the surviving copies at its bounded rate; the
test records the seconds from the kill until every chunk has two copies
on the two live workers, and reads every file back against its sha256.
"""

import hashlib
import os
import signal
import time

from conftest import (CHUNK_SIZE, GOAL_DEADLINE_S, WORKER_TIMEOUT_S, files_of, read_locations,
                      record, running_workers, victim_by_chunks, wait_goal, workload_dir)

MiB = 1 << 20
FILES = [700 * MiB, 700 * MiB, 500 * MiB + 12345, 300 * MiB]


class Files:
    """Just enough of a Workload for files_of()."""

    def __init__(self, root):
        self.root = root


def write_file(path, size, seed):
    h = hashlib.sha256()
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        left = size
        i = 0
        while left:
            piece = block[:min(left, MiB)]
            piece = i.to_bytes(8, "little") + piece[8:] if len(piece) >= 8 else piece
            os.write(fd, piece)
            h.update(piece)
            left -= len(piece)
            i += 1
        os.fsync(fd)
    finally:
        os.close(fd)
    return h.hexdigest()


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_fault_goal_back_after_losing_a_worker_with_over_1gib(fcluster):
    c = fcluster
    d = workload_dir(c, "big")
    want = {}
    for i, size in enumerate(FILES):
        p = os.path.join(d, "f%d" % i)
        want[p] = write_file(p, size, "repair-%d" % i)
    paths = sorted(want)
    victim = victim_by_chunks(c, paths)
    wid = c.worker_id(victim)
    held = sum(min(CHUNK_SIZE, size - idx * CHUNK_SIZE)
               for p, size in zip(paths, [os.path.getsize(p) for p in paths])
               for idx, _, _, reps in read_locations(p) if wid in reps)
    assert held > 1024 * MiB, "the victim holds only %d MiB" % (held >> 20)
    t_kill = time.monotonic()
    c.workers[victim].stop(signal.SIGKILL)
    live = running_workers(c)
    goal = wait_goal(c, files_of(Files(d)), t_kill, live=live, deadline_s=GOAL_DEADLINE_S)
    for p in paths:
        assert sha_of(p) == want[p], p
    summary = {"errors": 0, "bytes_acked": sum(FILES), "files_acked": len(FILES),
               "bytes_verified": sum(FILES)}
    record("goal_back_after_losing_worker_over_1gib", summary,
           victim_held_mib=held >> 20, worker_timeout_s=WORKER_TIMEOUT_S,
           goal_after_kill_s=goal,
           copy_rate_mib_s=round((held >> 20) / max(goal - WORKER_TIMEOUT_S, 0.1), 1))
