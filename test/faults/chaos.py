"""Chaos run: faults at random, for a set time, under a mixed workload.

    /usr/bin/python3 test/faults/chaos.py DURATION_S [--seed N] [--dir DIR]
    (or test/faults/chaos.sh DURATION_S)

Starts a cluster (master, 3 workers, goal 2, worker 0 under fiu-run so its
disk can return EIO, a mount; the master and each worker in a network
namespace of its own, as test_fault_partition does, unless --no-net or
namespaces are not available), runs a Workload with writers, readers and
namespace changes (renames, unlinks), and every few seconds picks one
fault at random:

  kill9      a worker is killed with SIGKILL and started again 5-20 s later
  stop       a worker is SIGSTOPped for 5-30 s, then SIGCONT
  restart    a worker is stopped with SIGTERM and started again at once
  eio        worker 0's pread/pwrite fail with EIO 10% of the time for 5-20 s
  master     the master is killed with SIGKILL and started again at once
  partition  a worker is cut off for 5-25 s from everyone, from the master
             only or from the mount only (network namespaces), then healed

At most one worker is sick at a time, and the next worker fault waits
until every chunk is back at goal (or 120 s), so one good copy of every
chunk exists throughout: the application must see no error. The master
fault may come at any time. At the end everything acknowledged is read
back and compared, and one summary line is printed:

  CHAOS duration=.. faults=.. (kill9=.. stop=.. ...) acked_bytes=..
  verified_bytes=.. app_errors=.. lost=.. repairs_done=.. max_call_s=..

A full disk is not among them (test_fault_disk fills loop-mounted
images; a chaos run would have to shrink every worker's disk).

Exit status 0 when no error and nothing lost, 1 otherwise. Needs root,
/dev/fuse, fiu-utils (and iproute2, socat for the namespaces); leaves
nothing running or mounted."""

import argparse
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import conftest as fc  # noqa: E402  (the fault suite's helpers)
import netns  # noqa: E402
from test_fault_disk import FiuCluster, FiuWorkers  # noqa: E402
from workload import MiB, WorkloadProcess  # noqa: E402


class NetFiuCluster(FiuWorkers, netns.NetnsCluster):
    """Master and workers in network namespaces of their own (netns.py),
    worker 0 under fiu-run."""


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def repairs_done(c):
    try:
        return fc.metrics(c).get("bigfs_repairs_done_total", 0)
    except (OSError, AssertionError):
        return None


class Chaos:
    def __init__(self, c, wl, rnd):
        self.c, self.wl, self.rnd = c, wl, rnd
        self.counts = {}
        self.repairs = 0
        self.goal_waits = []

    def note(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def settle(self):
        """Wait until every chunk is back at goal; record how long."""
        t0 = time.monotonic()
        try:
            fc.wait_goal(self.c, fc.files_of(self.wl), t0, deadline_s=120)
            self.goal_waits.append(time.monotonic() - t0)
        except AssertionError as e:
            log("not back at goal in 120 s: %s" % str(e)[:300])

    def master_cycle(self):
        before = repairs_done(self.c)
        if before is not None:
            self.repairs_base += before
        self.c.master.stop(signal.SIGKILL)
        log("master killed")
        self.c.start_master()
        log("master started again")
        self.note("master")

    def worker_fault(self, kind):
        i = self.rnd.randrange(fc.NWORKERS)
        w = self.c.workers[i]
        if kind == "kill9":
            w.stop(signal.SIGKILL)
            self.wl.run_for(self.rnd.uniform(5, 20))
            self.c.start_worker(i)
        elif kind == "stop":
            w.send(signal.SIGSTOP)
            try:
                self.wl.run_for(self.rnd.uniform(5, 30))
            finally:
                w.send(signal.SIGCONT)
        elif kind == "restart":
            w.stop(signal.SIGTERM)
            self.c.start_worker(i)
        elif kind == "partition":
            cut = self.rnd.choice(["isolate", "master", "mount"])
            self.c.net.cut(cut, i)
            try:
                self.wl.run_for(self.rnd.uniform(5, 25))
            finally:
                self.c.net.heal(i)
            kind = "partition-" + cut
        elif kind == "eio":
            i = 0
            pts = ("posix/io/rw/pread", "posix/io/rw/pwrite")
            for p in pts:
                self.c.fiu_ctrl(0, "enable_random name=%s,probability=0.1,failinfo=5" % p)
            try:
                self.wl.run_for(self.rnd.uniform(5, 20))
            finally:
                for p in pts:
                    self.c.fiu_ctrl(0, "disable name=%s" % p)
        self.note(kind)
        log("%s of worker %d done" % (kind, i))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("duration", type=float, help="seconds of faults")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--dir", default=None, help="where the cluster lives (default: a temp dir)")
    ap.add_argument("--no-net", action="store_true",
                    help="everything on loopback: no network namespaces, no partitions")
    a = ap.parse_args()
    reason = fc.itest.skip_reason()
    if reason:
        sys.exit("chaos: " + reason)
    base = a.dir or tempfile.mkdtemp(prefix="bigfs-chaos-")
    rnd = random.Random(a.seed)
    log("seed %d, cluster in %s" % (a.seed, base))
    margs = ["--default-goal", str(fc.GOAL), "--worker-timeout", str(fc.WORKER_TIMEOUT_S)]
    use_net = not a.no_net and netns.skip_reason() is None
    if use_net:
        net = netns.Net(fc.NWORKERS)
        try:
            net.setup()
        except BaseException:
            net.teardown()
            raise
        c = NetFiuCluster(base, net, fc.NWORKERS, fiu=[0], master_args=margs)
    else:
        c = FiuCluster(base, fc.NWORKERS, fiu=[0], master_args=margs)
    ok = False
    wl = None
    try:
        c.start()
        c.mount()
        d = os.path.join(c.mounts[0].path, "chaos")
        os.mkdir(d)
        # The application runs in a process of its own: a fork+exec of a
        # daemon from this one would close (and so FLUSH) its open files.
        wl = WorkloadProcess(d, seed=a.seed, writers=2, readers=2, fsync="random",
                             namespace=True, max_bytes=3072 * MiB)
        ch = Chaos(c, wl, rnd)
        ch.repairs_base = 0
        wl.start()
        t_end = time.monotonic() + a.duration
        kinds = ["kill9", "stop", "restart", "eio", "master"] + (["partition"] if use_net else [])
        kinds = os.environ.get("CHAOS_FAULTS", ",".join(kinds)).split(",")
        try:
            while time.monotonic() < t_end:
                wl.run_for(rnd.uniform(3, 10))
                kind = rnd.choice(kinds)
                log("fault: %s" % kind)
                if kind == "master":
                    ch.master_cycle()
                else:
                    ch.worker_fault(kind)
                    ch.settle()
        finally:
            wl.stop()
        s = wl.verify_all()
        ch.settle()
        rep = repairs_done(c) or 0
        mc = s.get("max_call") or {}
        log("CHAOS duration=%.0fs faults=%d (%s) acked_bytes=%d verified_bytes=%d "
            "app_errors=%d lost=%d repairs_done=%d max_call_s=%.2f(%s) goal_wait_max_s=%.1f"
            % (a.duration, sum(ch.counts.values()),
               " ".join("%s=%d" % kv for kv in sorted(ch.counts.items())),
               s["bytes_acked"], s["bytes_verified"], s["errors"], s["lost"],
               rep + ch.repairs_base, mc.get("seconds", 0.0), mc.get("op", "-"),
               max(ch.goal_waits) if ch.goal_waits else 0.0))
        if s["errors"]:
            log("errors: %s" % s["error_list"][:10])
        if s["lost"]:
            log("lost: %s" % s["lost_list"][:10])
        ok = s["errors"] == 0 and s["lost"] == 0
    finally:
        if wl is not None:
            wl.close()
        for w in c.workers:
            if w and w.alive():
                w.send(signal.SIGCONT)
        c.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
