"""Sick disks under a running workload: a worker's data folder on a small
file system that fills up, every worker full, and a worker whose disk
returns I/O errors on some reads and writes.

- One small disk: worker 0's folder is a loop-mounted ext4 image of
  DISK_MB holding its share of the chunks; while the workload writes,
  something else fills that disk to the last block. Then its writes fail with ENOSPC:
  the mount drops that copy (reporting it), the write completes on the
  others, new chunks go elsewhere. The application sees no error and
  every acknowledged file verifies; the cluster gets back to goal on the
  workers that still have room.
- All disks full: every worker on a small image. Writes then fail with
  ENOSPC (not EIO) at the application, and nothing written before is
  harmed.
- EIO: worker 0 runs under libfiu's fiu-run (Debian fiu-utils), and
  fiu-ctrl makes a share of its pread/pwrite calls fail with EIO while the
  workload runs. The mount serves reads from the other copy and finishes
  writes on it; the bad copies are dropped and repaired from good ones.
"""

import errno
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (Cluster, NWORKERS, GOAL, WORKER_TIMEOUT_S, check_figures, files_of,
                      finish_cluster, itest, read_locations, record, running_workers,
                      wait_goal, workload_dir)
from workload import MiB, WorkloadProcess

pytestmark = pytest.mark.disk

DISK_MB = 320          # the small worker's file system
CAPACITY = "3000m"     # what every worker offers (placement weighs free space)


def _need(tool):
    if shutil.which(tool) is None:
        msg = "%s is missing (Debian package %s)" % (
            tool, {"fiu-run": "fiu-utils", "fiu-ctrl": "fiu-utils"}.get(tool, tool))
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail(msg + " (BIGFS_NO_SKIP=1: skipping is not allowed here)")
        pytest.skip(msg)


class LoopDisk:
    """An ext4 image of size_mb loop-mounted on path (no reserved blocks)."""

    def __init__(self, image, path, size_mb):
        self.image, self.path = image, path
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True)
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", image, path], check=True)

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self):
        """Take every free block with a file of its own (ENOSPC from now)."""
        with open(os.path.join(self.path, "filler"), "wb") as f:
            block = b"\0" * (1 << 20)
            try:
                while True:
                    f.write(block)
                    f.flush()
            except OSError:
                pass

    def close(self):
        subprocess.run(["umount", "-l", self.path], check=False)
        try:
            os.unlink(self.image)
        except FileNotFoundError:
            pass


@pytest.fixture
def disk_cluster(tmp_path_factory, request):
    """A cluster whose workers' folders are given by request.param:
    {"small": [worker indexes on a DISK_MB image], "fiu": [indexes run
    under fiu-run], "size_mb": image size}."""
    reason = itest.skip_reason()
    if reason:
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    p = request.param
    if p.get("fiu"):
        _need("fiu-run")
        _need("fiu-ctrl")
    _need("mkfs.ext4")
    base = tmp_path_factory.mktemp("disk")
    c = FiuCluster(base, NWORKERS, fiu=p.get("fiu", ()),
                   master_args=["--default-goal", str(GOAL),
                                "--worker-timeout", str(WORKER_TIMEOUT_S)],
                   worker_args=["--capacity", CAPACITY])
    disks = []
    try:
        for i in p.get("small", ()):
            disks.append(LoopDisk(os.path.join(str(base), "w%d.img" % i), c.worker_dirs[i],
                                  p.get("size_mb", DISK_MB)))
        c.start()
        c.mount()
    except BaseException:
        c.stop()
        for d in disks:
            d.close()
        raise
    c.disks = disks
    apps = []

    def app(root, **kw):
        # The application in a process of its own: fiu-ctrl and mkfs
        # forked from this one would close (FLUSH) its open files.
        wl = WorkloadProcess(root, **kw)
        apps.append(wl)
        return wl

    c.app = app
    yield c
    for wl in apps:
        wl.close()
    for w in c.workers:
        if w and w.alive():
            w.send(signal.SIGCONT)
    try:
        finish_cluster(c)
    finally:
        for d in disks:
            d.close()


class FiuWorkers:
    """Mixin for a Cluster class: the workers in `fiu` run under `fiu-run
    -x` (libfiu's POSIX wrappers preloaded, remote control on), so
    fiu_ctrl() can make their file calls fail."""

    def __init__(self, *a, fiu=(), **kw):
        super().__init__(*a, **kw)
        self.fiu = set(fiu)

    def start_worker(self, i, timeout=30):
        if i not in self.fiu:
            return super().start_worker(i, timeout)
        saved = itest.WORKER_BIN
        wrapper = os.path.join(self.base, "fiu-worker-%d.sh" % i)
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec fiu-run -x -f %s %s \"$@\"\n"
                    % (os.path.join(self.base, "fiu-ctrl-%d" % i), saved))
        os.chmod(wrapper, 0o755)
        itest.WORKER_BIN = wrapper
        try:
            return super().start_worker(i, timeout)
        finally:
            itest.WORKER_BIN = saved

    def fiu_ctrl(self, i, command):
        pid = self.workers[i].proc.pid
        subprocess.run(["fiu-ctrl", "-f", os.path.join(self.base, "fiu-ctrl-%d" % i),
                        "-c", command, str(pid)], check=True, timeout=10)


class FiuCluster(FiuWorkers, Cluster):
    """The integration Cluster with FiuWorkers."""


def copies_on(paths, wid):
    n = 0
    for p in paths:
        for _, _, _, reps in read_locations(p):
            n += wid in reps
    return n


@pytest.mark.parametrize("disk_cluster", [{"small": [0]}], indirect=True)
def test_fault_one_worker_disk_fills_during_writes(disk_cluster):
    c = disk_cluster
    disk = c.disks[0]
    wid = c.worker_id(0)
    mount_log = c.mounts[0].daemon.log
    wl = c.app(workload_dir(c), seed=41, writers=2, readers=1, write_rate=48 * MiB)
    t0 = time.monotonic()
    wl.start()
    try:
        assert wl.wait_acked(150 * MiB, 120), "the workload acknowledged too little"
        # placement weighs workers by free space: the small disk gets few
        # copies, so give the workload up to a minute more to put one there
        before = copies_on(files_of(wl), wid)
        deadline = time.monotonic() + 60
        while before == 0 and time.monotonic() < deadline:
            time.sleep(1)
            before = copies_on(files_of(wl), wid)
        # Something else fills the worker's disk (a shared disk, a log
        # gone wild): a write there now fails with ENOSPC, even mid-chunk.
        disk.fill()
        wl.run_for(25)
        full_free = disk.free()
    finally:
        wl.stop()
    assert before > 0, "the small disk held no copy before it filled: nothing tested"
    with open(mount_log, errors="replace") as f:
        refused = sum("replica %s " % wid in line and "failed: HTTP 507" in line for line in f)
    s = wl.verify_all()
    # Back at goal, on the workers that have room for the copies.
    live = running_workers(c)
    goal = wait_goal(c, files_of(wl), t0, live=live)
    record("one_disk_fills_during_writes", s, small_disk_free_mib=full_free >> 20,
           copies_there_before=before, writes_refused_there=refused, goal_s=goal)
    check_figures(s)


@pytest.mark.parametrize("disk_cluster", [{"small": [0, 1, 2], "size_mb": 200}],
                         indirect=True)
def test_fault_whole_cluster_full_gives_enospc(disk_cluster):
    c = disk_cluster
    d = workload_dir(c)
    # Files written and closed before the cluster fills: they must survive.
    before = c.app(d, seed=42).prepare([5 * MiB, 9 * MiB + 1, 30 * MiB]).stop()
    # Fill: 3 x 200 MiB of disk at goal 2 holds about 300 MiB of data.
    got = None
    written = 0
    block = os.urandom(MiB)
    path = os.path.join(d, "filler")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        while written < 800 * MiB:
            os.write(fd, block)
            written += MiB
    except OSError as e:
        got = e.errno
    finally:
        try:
            os.close(fd)
        except OSError as e:
            got = got or e.errno
    if got is None:
        # the buffered tail fails at fsync/close at the latest
        pytest.fail("wrote %d MiB to a cluster of 3 x 200 MiB without an error" % (written >> 20))
    assert got == errno.ENOSPC, "the full cluster said %s, not ENOSPC" % errno.errorcode.get(got)
    s = before.verify_all()
    record("whole_cluster_full", s, written_before_enospc_mib=written >> 20,
           errno=errno.errorcode.get(got))
    assert s["lost"] == 0, s["lost_list"]
    assert s["errors"] == 0, s["error_list"][:5]


@pytest.mark.parametrize("disk_cluster", [{"fiu": [0]}], indirect=True)
def test_fault_eio_on_one_worker_disk(disk_cluster):
    c = disk_cluster
    wid = c.worker_id(0)
    wl = c.app(workload_dir(c), seed=43, writers=2, readers=2)
    wl.prepare([3 * MiB, 17 * MiB + 5, 70 * MiB])
    wl.start()
    try:
        assert wl.wait_acked(60 * MiB, 90), "the workload acknowledged too little"
        # One in ten of the worker's file reads and writes fail with EIO.
        for point in ("posix/io/rw/pread", "posix/io/rw/pwrite"):
            c.fiu_ctrl(0, "enable_random name=%s,probability=0.1,failinfo=%d"
                       % (point, errno.EIO))
        wl.run_for(20)
        for point in ("posix/io/rw/pread", "posix/io/rw/pwrite"):
            c.fiu_ctrl(0, "disable name=%s" % point)
        t_healed = time.monotonic()
        wl.run_for(3)
    finally:
        wl.stop()
    s = wl.verify_all()
    goal = wait_goal(c, files_of(wl), t_healed)
    with open(c.log_path("master"), errors="replace") as f:
        dropped = f.read().count("dropping failed replica on worker " + wid)
    record("eio_on_one_worker_disk", s, goal_after_heal_s=goal, bad_copies_dropped=dropped,
           copies_on_sick_worker=copies_on(files_of(wl), wid))
    assert dropped > 0, "the injected EIO never reached a client: the test tested nothing"
    check_figures(s)
