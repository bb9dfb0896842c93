"""kill -9 of the mount (mount.bigfs) while the application writes with
periodic fsync()s. The application's calls fail (the kernel answers
ENOTCONN once its FUSE daemon is gone); after a remount every file is
exactly what was written up to at least its last completed fsync() —
a file closed with success whole, a file in the middle of being written
a prefix of its bytes no shorter than what its last fsync() covered —
never garbage, never shorter, never missing. The cluster stays at goal."""

import signal
import time

from conftest import files_of, record, wait_goal
from workload import MiB


def test_fault_kill9_mount_during_fsyncing_writes(fcluster, app):
    m = fcluster.mounts[0]
    wl = app(seed=51, writers=3, readers=1, fsync="periodic", fsync_every=4 * MiB).start()
    try:
        assert wl.wait_acked(40 * MiB, 60), "the workload acknowledged too little"
        # Kill while a writer is inside a file it has fsync()ed before.
        assert wl.wait_until_in_flight_synced(60), "no open file has had an fsync()"
        t_kill = time.monotonic()
        m.daemon.proc.send_signal(signal.SIGKILL)
        m.daemon.proc.wait(10)
    finally:
        wl.stop()
    live = wl.summary()
    in_flight, synced_open = wl.in_flight()
    m.unmount()
    m.start()
    t_back = time.monotonic()
    s = wl.verify_prefixes()
    goal = wait_goal(fcluster, files_of(wl), t_back)
    record("kill9_mount_during_fsyncing_writes", s, files_in_flight=in_flight,
           in_flight_with_fsync=synced_open, remount_s=round(t_back - t_kill, 1),
           goal_after_remount_s=goal)
    assert live["errors"] > 0, "the application saw no error from a dead mount?"
    assert synced_open > 0, "no file was fsync()ed and still open at the kill: nothing tested"
    assert s["lost"] == 0, "%d files are wrong after the remount: %s" % (s["lost"],
                                                                         s["lost_list"])
    assert s["verify_errors"] == 0, s["lost_list"]
