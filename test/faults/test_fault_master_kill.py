"""kill -9 of the master while the application writes, renames and
unlinks, and the master back on the same data folder and address a few
seconds later. Mounts retry master calls up to master_timeout (30 s), so
the application sees no error, only calls that wait for the master; every
acknowledged file is intact, and every name resolves to what the
application last made of it: a renamed file under its new name only, an
unlinked one gone, an atomically replaced one (tmp + fsync + rename over
it) with its new content — never lost, never both.

Two small readers open and read small files all the time, so calls reach
the restarted master in the moment before its workers have registered
again (`workers_back_s`): the master must not answer them as if the
cluster had no workers (a read with no replica is EIO, a new chunk with
no live worker ENOSPC)."""

import signal
import time

from conftest import READ_CALL_BOUND_S, WRITE_CALL_BOUND_S, check_figures, files_of, \
    record, wait_goal
from workload import MiB

MASTER_DOWN_S = 3
# A call made while the master is away waits for it: the outage, its
# start-up and the mount's retry back-off on top of the usual bounds.
RESTART_SLACK_S = MASTER_DOWN_S + 5


def test_fault_kill9_master_during_writes_renames_unlinks(fcluster, app):
    wl = app(seed=41, writers=2, readers=1, small_readers=2, namespace=True,
             big_every=6).start()
    try:
        assert wl.wait_acked(30 * MiB, 60), "the workload acknowledged too little"
        t_kill = time.monotonic()
        fcluster.stop_master(signal.SIGKILL)
        wl.run_for(MASTER_DOWN_S)
        fcluster.start_master()
        t_back = time.monotonic()
        fcluster.wait_live([0, 1, 2])
        workers_back = time.monotonic() - t_back
        wl.run_for(12)
    finally:
        wl.stop()
    s = wl.verify_all()
    goal = wait_goal(fcluster, files_of(wl), t_back)
    record("kill9_master_during_writes_renames_unlinks", s,
           down_s=round(t_back - t_kill, 1), workers_back_s=round(workers_back, 2),
           goal_after_restart_s=goal)
    check_figures(s, READ_CALL_BOUND_S + RESTART_SLACK_S, WRITE_CALL_BOUND_S + RESTART_SLACK_S)
