"""Network partitions while the application writes and reads ("nothing
lost, nothing stalled"), on hosts made of network namespaces (netns.py):
the master and each of 3 workers in a namespace of its own, the mount in
the root one, all on one bridge; goal 2.

1. a worker cut off from everyone for 25 s during writes, then healed;
2. the same during cold reads of a pre-written set;
3. master <-> worker cut (the mount still reaches the worker) during
   writes and reads: the master declares the worker dead after its
   --worker-timeout and restores the goal on the other two, while the
   mount goes on without an error;
4. mount <-> worker cut (the master still reaches it, so it stays live)
   during writes and reads.

In each: the application sees no error, every acknowledged file reads
back with its sha256, the longest single syscall stays bounded, and the
cluster is back at full goal within GOAL_AFTER_HEAL_S of the healing.
One line of figures per test (conftest.record: stdout, the terminal
summary and $BIGFS_FAULT_REPORT).

Marked `partition` (registered by netns.py); they need root, /dev/fuse,
`ip netns`, veth, a bridge and socat, and skip with the reason otherwise
(a failure under BIGFS_NO_SKIP=1)."""

import re
import shutil
import threading
import time

import pytest

pytest.register_assert_rewrite("netns")
import netns  # noqa: E402  (after the line above, so its asserts are rewritten too)
from conftest import GOAL, NWORKERS, WORKER_TIMEOUT_S, check_figures, files_of, finish_cluster, \
    record, victim_by_chunks, wait_goal, workload_dir
from workload import MiB, WorkloadProcess

pytest_plugins = ["netns"]
NETNS_MARK = "partition"

CUT_S = 25                  # how long a cut lasts (tests 1, 2, 4)
AFTER_HEAL_S = 5            # the workload goes on that long after healing
GOAL_AFTER_HEAL_S = 60      # healing -> every chunk at goal again
COLD_READ_BOUND_S = 3.0     # test 2: the longest read-side call
# Test 3: a shorter worker timeout than the suite's, so the master
# declares the cut-off worker dead and restores the goal inside the test.
SHORT_WORKER_TIMEOUT_S = 6
DEAD_SLACK_S = 6            # timeout -> declared dead (status period, sweep tick)
REGOAL_DURING_CUT_S = 45    # cut -> goal on the two others (test 3)

WRITE_RATE = 16 * MiB
MAX_BYTES = 512 * MiB
PRE_SET = [4096, 100000, MiB + 3, 5 * MiB, 24 * MiB + 7] + [17000 * (i + 1) for i in range(6)]
READ_SET = PRE_SET + [70 * MiB]


# --------------------------------------------------------------------------
# helpers


@pytest.fixture
def pcluster(tmp_path_factory, request):
    """Factory of one namespaced cluster for this test: pcluster(worker
    timeout s) -> a started NetnsCluster (goal 2, 3 workers, one mount).
    Teardown stops it and removes its network, whatever happened."""
    made = []
    failed_before = request.session.testsfailed

    def make(worker_timeout=WORKER_TIMEOUT_S):
        name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
        c = netns.make_netns_cluster(tmp_path_factory, name, nworkers=NWORKERS,
                                     master_args=["--default-goal", str(GOAL),
                                                  "--worker-timeout", str(worker_timeout)])
        made.append(c)
        return c

    yield make
    net_errors = []
    for c in made:
        try:
            finish_cluster(c)
        finally:
            net_errors += c.net_errors
    if request.session.testsfailed == failed_before:
        for c in made:
            for d in [c.master_dir] + c.worker_dirs:
                shutil.rmtree(d, ignore_errors=True)
    if net_errors:
        pytest.fail("the network of the test was not removed cleanly: %s" % net_errors)


@pytest.fixture
def papp(pcluster):
    """papp(cluster, **kw): the application, a workload.WorkloadProcess in
    a new directory of the cluster's mount (a process of its own, so the
    `ip` commands this test forks to cut and heal the network close no
    file of the mount and send it no FLUSH); closed at the end of the
    test, before the cluster stops."""
    made = []

    def make(cluster, name="wl", **kw):
        wl = WorkloadProcess(workload_dir(cluster, name), **kw)
        made.append(wl)
        return wl

    yield make
    for wl in made:
        wl.close()


class LiveWatch:
    """Polls /v1/cluster/workers from a thread and keeps when worker i
    changed between live and dead in the master's view."""

    def __init__(self, cluster, i, period=0.2):
        self.cluster = cluster
        self.wid = cluster.worker_id(i)
        self.period = period
        self.changes = []           # [(time.monotonic(), live)]
        self.errors = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, name="livewatch", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)

    def _run(self):
        last = None
        while not self.stop_ev.is_set():
            try:
                live = any(w["worker_id"] == self.wid and w.get("live")
                           for w in self.cluster.list_workers())
            except (OSError, AssertionError):
                with self.lock:
                    self.errors += 1
                live = last
            if live is not None and live != last:
                with self.lock:
                    self.changes.append((time.monotonic(), live))
                last = live
            self.stop_ev.wait(self.period)

    def first(self, live, after):
        """Seconds from `after` to the first change to `live` after it, or None."""
        with self.lock:
            for t, v in self.changes:
                if t >= after and v == live:
                    return t - after
        return None

    def wait_for(self, live, after, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.first(live, after)
            if s is not None:
                return s
            time.sleep(0.1)
        return None

    def went_dead_between(self, t0, t1):
        with self.lock:
            return [round(t - t0, 1) for t, v in self.changes if t0 <= t <= t1 and not v]


def drop_caches_cold():
    """echo 3 > drop_caches, without a sync first (nothing dirty here, and
    a sync must not wait on anything the cut stalls)."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def hold(seconds, drop_every=None):
    """Let the application run `seconds`; drop the page cache every
    `drop_every` s meanwhile (None: never)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        if drop_every:
            drop_caches_cold()
        WorkloadProcess.run_for(min(left, drop_every or left))


def others(i):
    return [k for k in range(NWORKERS) if k != i]


def r1(v):
    return None if v is None else round(v, 1)


# --------------------------------------------------------------------------
# 1, 2: a worker cut off from everyone


def test_partition_isolated_worker_during_writes(pcluster, papp):
    c = pcluster()
    wl = papp(c, seed=61, writers=2, readers=1, write_rate=WRITE_RATE,
                  max_bytes=MAX_BYTES).start()
    victim = 1
    watch = LiveWatch(c, victim).start()
    try:
        assert wl.wait_acked(32 * MiB, 60), "the workload acknowledged too little"
        with c.net.partition("isolate", victim) as cut:
            hold(CUT_S)
        wl.run_for(AFTER_HEAL_S)
    finally:
        wl.stop()
        watch.stop()
    goal = wait_goal(c, files_of(wl), cut.t_heal, deadline_s=GOAL_AFTER_HEAL_S)
    s = wl.verify_all()
    record("partition_isolated_worker_during_writes", s, cut="isolate", cut_s=r1(cut.seconds),
           dead_after_s=r1(watch.first(False, cut.t_cut)),
           live_after_heal_s=r1(watch.first(True, cut.t_heal)), goal_after_heal_s=goal)
    check_figures(s)
    assert goal <= GOAL_AFTER_HEAL_S


def test_partition_isolated_worker_during_reads(pcluster, papp):
    c = pcluster()
    wl = papp(c, seed=62, writers=0, readers=2, read_rate=64 * MiB)
    wl.prepare(READ_SET)
    victim = victim_by_chunks(c, wl.stable_paths())
    watch = LiveWatch(c, victim).start()
    drop_caches_cold()
    wl.start()
    try:
        wl.run_for(3)
        with c.net.partition("isolate", victim) as cut:
            hold(CUT_S, drop_every=5)
        hold(AFTER_HEAL_S, drop_every=5)
    finally:
        wl.stop()
        watch.stop()
    goal = wait_goal(c, files_of(wl), cut.t_heal, deadline_s=GOAL_AFTER_HEAL_S)
    s = wl.verify_all()
    record("partition_isolated_worker_during_reads", s, cut="isolate", cut_s=r1(cut.seconds),
           dead_after_s=r1(watch.first(False, cut.t_cut)),
           live_after_heal_s=r1(watch.first(True, cut.t_heal)), goal_after_heal_s=goal)
    check_figures(s, read_bound=COLD_READ_BOUND_S)
    assert goal <= GOAL_AFTER_HEAL_S


# --------------------------------------------------------------------------
# 3: the master cannot reach the worker, the mount can


def test_partition_master_worker_cut_during_writes_and_reads(pcluster, papp):
    c = pcluster(worker_timeout=SHORT_WORKER_TIMEOUT_S)
    wl = papp(c, seed=63, writers=2, readers=1, write_rate=WRITE_RATE,
                  max_bytes=MAX_BYTES)
    wl.prepare(PRE_SET)
    pre = wl.stable_paths()
    pre_bytes = wl.bytes_acknowledged()
    victim = victim_by_chunks(c, pre)
    watch = LiveWatch(c, victim).start()
    wl.start()
    dead = regoal = None
    try:
        assert wl.wait_acked(pre_bytes + 16 * MiB, 60), "the workload acknowledged too little"
        with c.net.partition("master", victim) as cut:
            dead = watch.wait_for(False, cut.t_cut, SHORT_WORKER_TIMEOUT_S + DEAD_SLACK_S)
            assert dead is not None, "the master still holds worker %d live %d s after it " \
                "stopped reaching it (--worker-timeout %d)" % (
                    victim, SHORT_WORKER_TIMEOUT_S + DEAD_SLACK_S, SHORT_WORKER_TIMEOUT_S)
            # The master restores the goal of what the worker held on the
            # two others while the workload runs on.
            regoal = wait_goal(c, pre, cut.t_cut, live=others(victim),
                               deadline_s=REGOAL_DURING_CUT_S)
            wl.run_for(3)
        wl.run_for(AFTER_HEAL_S)
    finally:
        wl.stop()
        watch.stop()
    goal = wait_goal(c, files_of(wl), cut.t_heal, deadline_s=GOAL_AFTER_HEAL_S)
    s = wl.verify_all()
    record("partition_master_worker_cut_during_writes_and_reads", s, cut="master",
           cut_s=r1(cut.seconds), worker_timeout_s=SHORT_WORKER_TIMEOUT_S, dead_after_s=r1(dead),
           regoal_during_cut_s=r1(regoal), live_after_heal_s=r1(watch.first(True, cut.t_heal)),
           goal_after_heal_s=goal)
    check_figures(s)
    assert goal <= GOAL_AFTER_HEAL_S


# --------------------------------------------------------------------------
# 4: the mount cannot reach the worker, the master can


def test_partition_mount_worker_cut_during_writes_and_reads(pcluster, papp):
    c = pcluster()
    wl = papp(c, seed=64, writers=2, readers=1, write_rate=WRITE_RATE,
                  max_bytes=MAX_BYTES)
    wl.prepare(PRE_SET)
    pre_bytes = wl.bytes_acknowledged()
    victim = victim_by_chunks(c, wl.stable_paths())
    watch = LiveWatch(c, victim).start()
    wl.start()
    try:
        assert wl.wait_acked(pre_bytes + 16 * MiB, 60), "the workload acknowledged too little"
        with c.net.partition("mount", victim) as cut:
            hold(CUT_S, drop_every=5)
        wl.run_for(AFTER_HEAL_S)
    finally:
        wl.stop()
        watch.stop()
    flaps = watch.went_dead_between(cut.t_cut, cut.t_heal)
    goal = wait_goal(c, files_of(wl), cut.t_heal, deadline_s=GOAL_AFTER_HEAL_S)
    s = wl.verify_all()
    record("partition_mount_worker_cut_during_writes_and_reads", s, cut="mount",
           cut_s=r1(cut.seconds), dead_during_cut=flaps, goal_after_heal_s=goal)
    check_figures(s)
    assert goal <= GOAL_AFTER_HEAL_S
    assert not flaps, "the master declared worker %d dead during a cut that left its own " \
        "path to it alone (at %s s)" % (victim, flaps)
