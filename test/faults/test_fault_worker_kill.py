"""kill -9 of a worker while the application writes, and while it reads:
nothing acknowledged is lost, the application sees no error and no long
syscall (failover to the other replica inside the same call), and the
cluster gets every chunk back to goal 2 — first on the two survivors,
and again once the worker is back."""

import signal
import time

from conftest import check_figures, files_of, record, victim_by_chunks, wait_goal
from workload import MiB

# How long the application keeps going after the kill: beyond the
# master's worker timeout, so it runs both while the master still lists
# the dead worker and after.
AFTER_KILL_S = 14
READ_SET = [4096, 4097, 100000, 300000, MiB + 3, 5 * MiB, 24 * MiB + 7, 70 * MiB,
            130 * MiB] + [17000 * (i + 1) for i in range(12)]


def test_fault_kill9_worker_during_writes(fcluster, app):
    wl = app(seed=11, writers=2, readers=1).start()
    try:
        assert wl.wait_acked(40 * MiB, 60), "the workload acknowledged too little"
        victim = 1
        t_kill = time.monotonic()
        fcluster.kill_worker(victim, signal.SIGKILL)
        wl.run_for(AFTER_KILL_S)
    finally:
        wl.stop()
    s = wl.verify_all()
    paths = files_of(wl)
    goal_loss = wait_goal(fcluster, paths, t_kill)
    t_back = time.monotonic()
    fcluster.start_worker(victim)
    goal_back = wait_goal(fcluster, paths, t_back)
    record("kill9_worker_during_writes", s, goal_after_kill_s=goal_loss,
           goal_after_restart_s=goal_back)
    check_figures(s)


def test_fault_kill9_worker_during_reads(fcluster, app):
    wl = app(seed=12, writers=0, readers=2, read_rate=64 * MiB)
    wl.prepare(READ_SET)
    victim = victim_by_chunks(fcluster, wl.stable_paths())
    wl.start()
    try:
        wl.run_for(3)
        t_kill = time.monotonic()
        fcluster.kill_worker(victim, signal.SIGKILL)
        wl.run_for(AFTER_KILL_S)
        t_back = time.monotonic()
        fcluster.start_worker(victim)
        wl.run_for(5)
    finally:
        wl.stop()
    s = wl.verify_all()
    goal_back = wait_goal(fcluster, files_of(wl), t_back)
    record("kill9_worker_during_reads", s, down_s=round(t_back - t_kill, 1),
           goal_after_restart_s=goal_back)
    check_figures(s)
