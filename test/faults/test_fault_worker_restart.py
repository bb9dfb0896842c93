"""A worker restarted (SIGTERM, then started again on the same data
folder) while the application writes: the writes carry on on the other
replica without an error or a long call, nothing acknowledged is lost,
and once the worker is back every chunk returns to goal (what it missed
is copied or dropped by the master)."""

import signal
import time

from conftest import check_figures, files_of, record, wait_goal
from workload import MiB


def test_fault_restart_worker_during_writes(fcluster, app):
    wl = app(seed=31, writers=2, readers=1).start()
    try:
        assert wl.wait_acked(40 * MiB, 60), "the workload acknowledged too little"
        t0 = time.monotonic()
        rc = fcluster.kill_worker(2, signal.SIGTERM)
        t_down = time.monotonic() - t0
        fcluster.start_worker(2)
        fcluster.wait_live([0, 1, 2])
        t_back = time.monotonic()
        wl.run_for(10)
    finally:
        wl.stop()
    s = wl.verify_all()
    goal = wait_goal(fcluster, files_of(wl), t_back)
    record("restart_worker_during_writes", s, term_exit=rc, stop_s=round(t_down, 1),
           back_live_s=round(t_back - t0, 1), goal_after_restart_s=goal)
    assert rc == 0, "the worker exited with %s on SIGTERM" % rc
    check_figures(s)
