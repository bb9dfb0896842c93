"""Shared fixtures of the BigFS fault suite ("nothing lost, nothing stalled").

Each test starts its own cluster (master, 3 workers, goal 2, one mount)
with the integration suite's `Cluster` helper, runs a `workload.Workload`
on the mount, breaks something while it runs, and then checks three
figures: the application's errors, the longest single syscall it saw, and
how long the cluster took to get every chunk back to its goal.

The integration conftest is loaded here as the module `bigfs_itest` (not
copied): its Cluster, its waits and its clean-up are the same code, and
its hooks (sanitizer reports fail the test, daemon logs attached to a
failure, nothing left running at the end) are re-exported below so pytest
runs them for this directory too.

Every test ends with `record(...)`: one line with its figures, printed at
once (visible with `pytest -s`), repeated in the terminal summary, and
appended as a JSON line to $BIGFS_FAULT_REPORT when that is set.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import time

import pytest

from workload import WorkloadProcess

_HERE = os.path.dirname(os.path.abspath(__file__))
_ITEST = os.path.join(os.path.dirname(_HERE), "integration", "conftest.py")


def _load_integration_conftest():
    name = "bigfs_itest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _ITEST)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


itest = _load_integration_conftest()

Cluster = itest.Cluster
Mount = itest.Mount
make_cluster = itest.make_cluster
finish_cluster = itest.finish_cluster
wait_for = itest.wait_for
drop_caches = itest.drop_caches
http = itest.http
read_locations = itest.read_locations
is_mounted = itest.is_mounted
CHUNK_SIZE = itest.CHUNK_SIZE

# The integration suite's hooks and autouse fixture, run here too.
_sanitizer_check = itest._sanitizer_check
pytest_runtest_makereport = itest.pytest_runtest_makereport
pytest_sessionfinish = itest.pytest_sessionfinish

NWORKERS = 3
GOAL = 2
# From the fault (or the restart that ends it) to every chunk at goal again.
# The master declares a silent worker dead after WORKER_TIMEOUT_S; then the
# repair thread copies what fell under goal at its bounded rate.
WORKER_TIMEOUT_S = 10
GOAL_DEADLINE_S = 120
# "Nothing stalled": the longest single syscall the application may see
# while one replica of each chunk is dead, silent or restarting. A read
# must not wait on a sick replica while a good one exists; a write drops
# a sick replica within bounded time.
READ_CALL_BOUND_S = 5.0
WRITE_CALL_BOUND_S = 10.0


# --------------------------------------------------------------------------
# the cluster of one test


@pytest.fixture
def fcluster(tmp_path_factory, request):
    """A fresh cluster for one test: master (goal 2), 3 workers, a mount at
    fcluster.mounts[0].path. Fresh because every test breaks it."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    failed_before = request.session.testsfailed
    c = make_cluster(tmp_path_factory, name, nworkers=NWORKERS,
                     master_args=["--default-goal", str(GOAL),
                                  "--worker-timeout", str(WORKER_TIMEOUT_S)])
    yield c
    # A SIGSTOPped worker would ignore the TERM of the teardown for 15 s.
    for w in c.workers:
        if w and w.alive():
            w.send(signal.SIGCONT)
    finish_cluster(c)
    # Each test writes a few GiB of chunk copies: keep them only when the
    # test failed (its logs stay either way).
    if request.session.testsfailed == failed_before:
        for d in [c.master_dir] + c.worker_dirs:
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# the master's view


def metrics(cluster):
    """The master's unlabelled /metrics values, name -> int."""
    st, _, raw = http("GET", cluster.url + "/metrics", timeout=5)
    assert st == 200, "GET /metrics: %s" % st
    out = {}
    for m in re.finditer(rb"^([a-z_]+) (\d+)$", raw, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return out


def live_worker_ids(cluster):
    return {w["worker_id"] for w in cluster.list_workers() if w.get("live")}


def running_workers(cluster, stopped=()):
    """Indexes of workers whose process runs (and is not SIGSTOPped)."""
    return [i for i, w in enumerate(cluster.workers)
            if w and w.alive() and i not in stopped]


def goal_problems(cluster, paths, live_ids, goal=GOAL):
    """What keeps the files in `paths` from full goal on the live workers
    `live_ids`, as a list of strings (empty: all at goal). Asks the master
    through the mount (bigfs.locations lists the workers holding a current
    copy of each chunk)."""
    bad = []
    for p in paths:
        try:
            locs = read_locations(p)
        except FileNotFoundError:
            continue
        except OSError as e:
            bad.append("%s: getxattr: %s" % (p, e))
            continue
        for idx, cid, _, reps in locs:
            reps = set(reps)
            if len(reps) != goal or not reps <= live_ids:
                bad.append("%s chunk %d (%s): %s" % (os.path.basename(p), idx, cid,
                                                     sorted(reps)))
    return bad


def wait_goal(cluster, paths, since, live=None, deadline_s=GOAL_DEADLINE_S):
    """Wait until the cluster is back to full goal; return the seconds from
    `since` (a time.monotonic() value: the fault, or the restart that ended
    it) until then.

    Full goal means, all at once:
      - the master's live workers are exactly the running ones (`live`,
        indexes; default every worker whose process runs), so a worker
        killed for good has been declared lost and a restarted one is back;
      - /metrics shows no chunk under goal, none lost and no repair running,
        in a scan the master finished after that (the gauges count the last
        full scan: the first 3 s after the live set matched are not
        trusted);
      - every chunk of every file in `paths` has exactly `goal` current
        copies, all on live workers (the gauges skip chunks under a write
        lease; this does not).
    Fails the test (AssertionError) after deadline_s."""
    if live is None:
        live = running_workers(cluster)
    procs = [cluster.master.watch()] + [cluster.workers[i].watch() for i in live]
    want = {cluster.worker_id(i) for i in live}
    t_end = time.monotonic() + deadline_s
    state = {"matched_at": None, "last": "nothing checked yet"}

    def ok():
        try:
            got = live_worker_ids(cluster)
        except (OSError, AssertionError) as e:
            state["last"] = "master: %s" % e
            state["matched_at"] = None
            return False
        if got != want:
            state["last"] = "live workers %s, want %s" % (sorted(got), sorted(want))
            state["matched_at"] = None
            return False
        now = time.monotonic()
        if state["matched_at"] is None:
            state["matched_at"] = now
        try:
            m = metrics(cluster)
        except (OSError, AssertionError) as e:
            state["last"] = "metrics: %s" % e
            return False
        gauges = {k: m.get(k) for k in ("bigfs_chunks_undergoal", "bigfs_chunks_lost",
                                        "bigfs_repairs_in_progress")}
        if any(v != 0 for v in gauges.values()):
            state["last"] = "metrics %s" % gauges
            return False
        if now - state["matched_at"] < 3.0:
            state["last"] = "waiting for a full scan after the live set matched"
            return False
        bad = goal_problems(cluster, paths, want)
        if bad:
            state["last"] = "%d chunks off goal, e.g. %s" % (len(bad), bad[:3])
            return False
        return True

    while not ok():
        for name, proc, log in procs:
            if proc.poll() is not None:
                raise AssertionError("%s exited with %s while waiting for goal\n%s"
                                     % (name, proc.returncode, itest.tail(log)))
        if time.monotonic() > t_end:
            raise AssertionError("not back to goal %d within %d s: %s"
                                 % (GOAL, deadline_s, state["last"]))
        time.sleep(0.25)
    return time.monotonic() - since


def check_figures(s, read_bound=READ_CALL_BOUND_S, write_bound=WRITE_CALL_BOUND_S):
    """The issue's promises on a Workload summary: no application error,
    nothing acknowledged lost, no syscall longer than the bounds."""
    assert s["errors"] == 0, "the application saw %d errors: %s" % (s["errors"],
                                                                   s["error_list"][:10])
    assert s["lost"] == 0, "%d acknowledged files are wrong: %s" % (s["lost"], s["lost_list"])
    assert s["max_read_s"] < read_bound, "a read-side call took %.1f s (bound %.0f s): %s" % (
        s["max_read_s"], read_bound, s["slow_calls"])
    assert s["max_write_s"] < write_bound, "a write-side call took %.1f s (bound %.0f s): %s" % (
        s["max_write_s"], write_bound, s["slow_calls"])


def workload_dir(cluster, name="wl"):
    """A new directory on the cluster's first mount, for a workload."""
    d = os.path.join(cluster.mounts[0].path, name)
    os.mkdir(d)
    return d


@pytest.fixture
def app(fcluster):
    """app(**kw): a WorkloadProcess (the application) in a new directory
    of the mount; closed at the end of the test."""
    made = []

    def make(name="wl", **kw):
        wl = WorkloadProcess(workload_dir(fcluster, name), **kw)
        made.append(wl)
        return wl

    yield make
    for wl in made:
        wl.close()


def files_of(wl):
    """Paths of the files a workload left in its directory."""
    return [os.path.join(wl.root, n) for n in sorted(os.listdir(wl.root))]


def victim_by_chunks(cluster, paths):
    """Index of the worker holding the most chunk copies of `paths`."""
    count = {}
    for p in paths:
        for _, _, _, reps in read_locations(p):
            for r in reps:
                count[r] = count.get(r, 0) + 1
    assert count, "no file of the set has a chunk"
    wid = max(sorted(count), key=lambda k: count[k])
    return cluster.worker_index(wid)


# --------------------------------------------------------------------------
# figures


_LINES = []


def record(test, summary, **extra):
    """Print one line of figures for `test` and keep it for the terminal
    summary; append it as JSON to $BIGFS_FAULT_REPORT if set. `summary` is
    a Workload.summary() dict; `extra` adds figures such as goal_s."""
    mc = summary.get("max_call") or {}
    parts = ["errors=%d" % summary.get("errors", 0),
             "max_call=%.2fs(%s %s)" % (mc.get("seconds", 0.0), mc.get("op", "-"),
                                         os.path.basename(mc.get("path", "") or "-")),
             "acked=%.1fMiB/%d" % (summary.get("bytes_acked", 0) / 2**20,
                                   summary.get("files_acked", 0)),
             "verified=%.1fMiB" % (summary.get("bytes_verified", 0) / 2**20)]
    for k in ("max_read_s", "max_write_s"):
        if k in summary:
            parts.append("%s=%.2f" % (k, summary[k]))
    for k, v in extra.items():
        parts.append("%s=%s" % (k, ("%.1f" % v) if isinstance(v, float) else v))
    line = "FAULT %s: %s" % (test, " ".join(parts))
    print("\n" + line, flush=True)
    _LINES.append(line)
    path = os.environ.get("BIGFS_FAULT_REPORT")
    if path:
        row = {"test": test, "time": time.time()}
        row.update({k: v for k, v in summary.items() if k != "error_list"})
        row["error_sample"] = summary.get("error_list", [])[:10]
        row.update(extra)
        with open(path, "a") as f:
            f.write(json.dumps(row, sort_keys=True, default=str) + "\n")


def pytest_terminal_summary(terminalreporter):
    if _LINES:
        terminalreporter.section("fault figures")
        for line in _LINES:
            terminalreporter.write_line(line)
