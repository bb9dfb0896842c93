"""Drain and rebalance (docs/api.md "Drain and rebalance").

A drained worker ends empty, on the master's books and on its disk, with
every chunk at goal elsewhere, while a workload writes and reads through
the mount without an error; the drain survives a master restart; undrain
makes the worker eligible again. A fourth, empty worker joining three full
ones takes chunks until usage is even within the margin. Bad calls get
clear errors."""

import json
import os
import random
import threading
import time

import pytest

from conftest import drop_caches, finish_cluster, json_of, make_cluster, make_token, \
    read_locations, sha256_file, wait_for, write_random_file, http

GOAL = 2
MiB = 1 << 20


def drain(c, wid, undrain=False):
    st, _, raw = c.cluster_http("POST", "/v1/worker/undrain" if undrain else "/v1/worker/drain",
                                {"worker_id": wid})
    assert st == 200, (st, raw[:300])
    return json_of(raw)


def worker_entry(c, wid):
    for w in c.list_workers():
        if w["worker_id"] == wid:
            return w
    raise KeyError(wid)


def events(c, kind):
    """The master's recent events of one type (GET /v1/cluster/summary)."""
    st, _, raw = http("GET", c.url + "/v1/cluster/summary")
    assert st == 200, raw[:200]
    return [e for e in json_of(raw)["events"] if e["type"] == kind]


def summary(c):
    st, _, raw = http("GET", c.url + "/v1/cluster/summary")
    assert st == 200, raw[:200]
    return json_of(raw)


def worker_chunks_on_disk(c, i):
    """The chunk ids worker i holds, from its own GET /v1/chunks."""
    tok = make_token(c.secret(), 0, 0, "l", int(time.time()) + 300)
    st, _, raw = http("GET", "http://%s/v1/chunks?token=%s" % (c.worker_addr(i), tok))
    assert st == 200, (st, raw[:200])
    return [x["chunk_id"] for x in json_of(raw)["chunks"]]


def check_at_goal(files, avoid=None):
    """Every chunk of every file has GOAL distinct live replicas (none on
    avoid). Returns the number of chunks checked."""
    n = 0
    for p in files:
        for idx, cid, _, reps in read_locations(p):
            assert len(reps) == len(set(reps)), (p, idx, reps)
            assert len(reps) >= GOAL, "%s chunk %d (%s) below goal: %s" % (p, idx, cid, reps)
            if avoid:
                assert avoid not in reps, "%s chunk %d still on %s" % (p, idx, avoid)
            n += 1
    return n


class Workload(threading.Thread):
    """Writes new files and reads back old ones through the mount until
    stopped; any exception or wrong content is kept in .errors."""

    def __init__(self, d, files):
        super().__init__(daemon=True)
        self.d = d
        self.files = files          # path -> sha256, shared (writes add to it)
        self.stop_ev = threading.Event()
        self.errors = []
        self.ops = 0
        self.lock = threading.Lock()

    def run(self):
        rnd = random.Random(720)
        k = 0
        while not self.stop_ev.is_set():
            try:
                p = os.path.join(self.d, "w%04d" % k)
                k += 1
                sha = write_random_file(p, rnd.randint(1, 6) * MiB + rnd.randint(0, 4095))
                with self.lock:
                    self.files[p] = sha
                with self.lock:
                    old = rnd.choice(sorted(self.files))
                    want = self.files[old]
                got = sha256_file(old)
                if got != want:
                    self.errors.append("%s read back wrong" % old)
                self.ops += 2
            except Exception as e:  # noqa: BLE001 - any error is the finding
                self.errors.append("%s: %r" % (type(e).__name__, e))

    def stop(self):
        self.stop_ev.set()
        self.join(120)
        assert not self.is_alive(), "the workload hangs"


@pytest.fixture(scope="module")
def dcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "drain", nworkers=4,
                     master_args=["--worker-timeout", "5", "--rebalance-mbps", "0"])
    yield c
    finish_cluster(c)


def test_720_drain_under_workload(dcluster):
    c = dcluster
    d = os.path.join(c.mounts[0].path, "drain")
    os.mkdir(d)
    files = {}
    # ~200 MiB: small files, and multi-chunk ones
    for i in range(16):
        p = os.path.join(d, "s%02d" % i)
        files[p] = write_random_file(p, 4 * MiB + i * 4097)
    for i in range(2):
        p = os.path.join(d, "big%d" % i)
        files[p] = write_random_file(p, 64 * MiB + 12345 * (i + 1))

    # the worker holding the most replicas
    counts = {w["worker_id"]: w["chunks"] for w in c.list_workers()}
    victim = max(counts, key=counts.get)
    vi = c.worker_index(victim)
    assert counts[victim] > 0
    assert worker_entry(c, victim)["state"] == "live"

    wl = Workload(d, files)
    wl.start()
    wait_for(lambda: wl.ops >= 4 or wl.errors, 60, "the workload to get going")
    t0 = time.monotonic()
    j = drain(c, victim)
    assert j["worker_id"] == victim and j["state"] == "draining", j
    assert j["already"] is False
    assert j["drain"]["chunks_at_start"] >= counts[victim], (j, counts)  # + the workload's
    assert j["drain"]["done"] is False and j["drain"]["removable"] is False
    # a second call changes nothing
    j2 = drain(c, victim)
    assert j2["already"] is True and j2["drain"]["started_s"] == j["drain"]["started_s"]

    def removable():
        w = worker_entry(c, victim)
        assert w["state"] in ("draining", "drained"), w
        dr = w["drain"]
        assert dr["chunks_left"] >= 0 and dr["bytes_left"] >= 0
        return w if dr["removable"] else None

    w = wait_for(removable, 240, "worker %s drained and removable" % victim,
                 [p.watch() for p in c.all_procs()])
    took = time.monotonic() - t0
    # the workload went on through the whole drain, and a bit after
    ops = wl.ops
    wait_for(lambda: wl.ops >= ops + 4 or wl.errors, 60, "more workload after the drain")
    wl.stop()
    assert not wl.errors, wl.errors[:5]

    assert w["state"] == "drained", w
    dr = w["drain"]
    assert dr["done"] is True and dr["chunks_left"] == 0 and dr["bytes_left"] == 0, dr
    assert dr["bytes_moved"] == dr["bytes_at_start"] > 0, dr
    assert dr["eta_s"] == 0 and dr["done_s"] >= dr["started_s"], dr
    assert w["chunks"] == 0, w
    st, _, raw = c.cluster_http("GET", "/v1/worker/drains")
    assert st == 200, raw[:200]
    listed = json_of(raw)
    assert [x["worker_id"] for x in listed["drains"]] == [victim], listed
    assert listed["rebalance"]["state"] == "off", listed

    # the master's view: no chunk on the victim, all at goal elsewhere
    nchunks = check_at_goal(files, avoid=victim)
    assert nchunks >= len(files)
    sm = summary(c)
    assert sm["chunks_undergoal"] == 0 and sm["chunks_lost"] == 0, sm
    assert [x["worker_id"] for x in sm["drains"]] == [victim], sm["drains"]
    ev = events(c, "worker_drain_started")
    assert ev and ev[0]["worker_id"] == victim and ev[0]["chunks"] == j["drain"]["chunks_at_start"], ev
    ev = events(c, "worker_drain_done")
    assert ev and ev[0]["worker_id"] == victim and ev[0]["bytes"] == dr["bytes_at_start"], ev
    # the worker's disk: its copies are deleted
    wait_for(lambda: worker_chunks_on_disk(c, vi) == [], 60,
             "worker %s's disk to be empty" % victim, [p.watch() for p in c.all_procs()])
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p
    print("drain of %d chunks (%d bytes) took %.1f s" % (dr["chunks_at_start"],
                                                          dr["bytes_at_start"], took))

    # new files never go to a drained worker
    for i in range(6):
        p = os.path.join(d, "after%d" % i)
        files[p] = write_random_file(p, 2 * MiB)
        for _, _, _, reps in read_locations(p):
            assert victim not in reps

    # the drain outlives a master restart
    c.stop_master()
    c.start_master()
    c.wait_live()
    w = worker_entry(c, victim)
    assert w["state"] == "drained" and w["drain"]["done"] is True, w
    assert w["drain"]["started_s"] == dr["started_s"], (w, dr)

    # undrain: eligible again
    j = drain(c, victim, undrain=True)
    assert j["state"] == "live" and j["was_draining"] is True and "drain" not in j, j
    j = drain(c, victim, undrain=True)
    assert j["was_draining"] is False, j
    assert worker_entry(c, victim)["state"] == "live"
    ev = events(c, "worker_undrained")
    assert len(ev) == 1 and ev[0]["worker_id"] == victim and ev[0]["done"] is True, ev

    def lands_on_victim():
        p = os.path.join(d, "undrained-%d" % time.monotonic_ns())
        files[p] = write_random_file(p, MiB)
        return any(victim in reps for _, _, _, reps in read_locations(p))

    wait_for(lands_on_victim, 120, "a new chunk on the undrained worker")
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p


def test_721_drain_a_worker_that_is_down(dcluster):
    """A worker that died is drained from its chunks' other copies; when it
    comes back, its disk is emptied."""
    c = dcluster
    d = os.path.join(c.mounts[0].path, "down")
    os.mkdir(d)
    files = {}
    for i in range(8):
        p = os.path.join(d, "f%d" % i)
        files[p] = write_random_file(p, 3 * MiB + i)
    vi = 2
    victim = c.worker_id(vi)
    held = worker_entry(c, victim)["chunks"]
    assert held > 0
    c.kill_worker(vi)
    j = drain(c, victim)
    assert j["state"] == "draining", j

    def drained():
        w = worker_entry(c, victim)
        return w if w["drain"]["removable"] else None

    def noted():
        w = worker_entry(c, victim)
        if not w["live"] and w["drain"]["removable"]:
            return True   # done already: the "down" note lasts only until then
        return not w["live"] and "down" in (w["drain"].get("note") or "")

    wait_for(noted, 30, "the drain to say the worker is down")
    w = wait_for(drained, 120, "the down worker drained", [c.master.watch()])
    assert w["state"] == "drained" and not w["live"] and w["chunks"] == 0, w
    check_at_goal(files, avoid=victim)
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p
    # back: the master has it delete what it held; still drained
    c.start_worker(vi)
    c.wait_live()
    wait_for(lambda: worker_chunks_on_disk(c, vi) == [], 60, "the returning worker emptied",
             [p.watch() for p in c.all_procs()])
    w = worker_entry(c, victim)
    assert w["state"] == "drained" and w["live"], w
    assert drain(c, victim, undrain=True)["state"] == "live"


def test_722_drain_bad_input(dcluster):
    c = dcluster
    wid = c.worker_id(1)
    for path in ("/v1/worker/drain", "/v1/worker/undrain"):
        st, _, raw = c.cluster_http("POST", path, {"worker_id": "0123456789abcdef"})
        j = json_of(raw)
        assert st == 404 and j["error"] == "ENOENT", (st, raw)
        assert "0123456789abcdef" in j["message"] and "not known" in j["message"], j
        for body in ("{", "[]", "null", json.dumps({}), json.dumps({"worker_id": 7}),
                     json.dumps({"worker_id": "XYZ"}), json.dumps({"worker_id": wid.upper()}),
                     json.dumps({"worker_id": "a" * 5000})):
            st, _, raw = c.cluster_http("POST", path, body)
            j = json_of(raw)
            assert st == 400 and j["error"] == "EINVAL", (path, body[:40], st, raw)
        # unsigned, wrong secret, a mount's session: refused
        st, _, raw = http("POST", c.url + path, {"worker_id": wid})
        assert st == 401, (st, raw)
        st, _, raw = c.cluster_http("POST", path, {"worker_id": wid}, secret=b"x" * 32)
        assert st == 401, (st, raw)
        st, _, raw = c.http("POST", path, {"worker_id": wid})
        assert st == 401, (st, raw)
    st, _, raw = http("GET", c.url + "/v1/worker/drains")
    assert st == 401, (st, raw)
    # nothing of it changed anything
    assert worker_entry(c, wid)["state"] == "live"
    assert c.master.alive()


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "rebalance", nworkers=3,
                     master_args=["--rebalance-margin", "10", "--rebalance-mbps", "64"],
                     worker_args=["--capacity", "600m"])
    yield c
    finish_cluster(c)


def usage(w):
    return w["used"] / w["capacity"]


def test_723_rebalance_onto_new_worker(rcluster):
    c = rcluster
    d = os.path.join(c.mounts[0].path, "rb")
    os.mkdir(d)
    files = {}
    for i in range(40):    # 40 x 6 MiB x goal 2 over 3 workers: ~160 MiB each
        p = os.path.join(d, "f%02d" % i)
        files[p] = write_random_file(p, 6 * MiB + i)
    written = sum(os.path.getsize(p) for p in files) * GOAL
    wait_for(lambda: sum(w["used"] for w in c.list_workers()) >= written, 30,
             "the three workers to report what they hold")

    def rebalance():
        st, _, raw = c.cluster_http("GET", "/v1/worker/drains")
        assert st == 200, raw[:200]
        return json_of(raw)["rebalance"]

    # placement is random: if the three came out uneven, they even out first
    wait_for(lambda: rebalance()["state"] == "idle", 60, "the three workers even")
    moved_before = rebalance()["moved_chunks"]

    # a fourth worker joins, empty
    new_dir = os.path.join(c.base, "w3")
    os.makedirs(new_dir)
    c.worker_dirs.append(new_dir)
    c.workers.append(None)
    c.nworkers += 1
    c.start_worker(3)
    c.wait_live()
    new = c.worker_id(3)
    assert worker_entry(c, new)["used"] == 0

    def even():
        ws = c.list_workers()
        us = [usage(w) for w in ws]
        return ws if (max(us) - min(us) <= 0.10 and
                      worker_entry(c, new)["chunks"] > 0) else None

    ws = wait_for(even, 180, "usage even within 10% with the new worker",
                  [p.watch() for p in c.all_procs()])
    assert worker_chunks_on_disk(c, 3), "the new worker holds nothing on disk"

    def settled():
        rb = rebalance()
        return rb if rb["state"] == "idle" and rb["moved_chunks"] > moved_before else None

    rb = wait_for(settled, 60, "the rebalance to finish")
    assert rb["runs"] >= 1 and rb["moved_bytes"] > 0 and rb["failed"] == 0, rb
    assert rb["spread"] <= 0.10, rb
    started, done = events(c, "rebalance_started"), events(c, "rebalance_done")
    assert started and started[0]["emptiest"] == new, started
    assert done and done[0]["moved_chunks"] > 0 and done[0]["stuck"] is False, done
    # no chunk below goal, none twice on a worker, and the bytes are right
    check_at_goal(files)
    drop_caches()
    for p, sha in files.items():
        assert sha256_file(p) == sha, p
    # each worker's disk holds what the master says, once deletions ran
    for i in range(4):
        wid = c.worker_id(i)
        want = {cid for p in files for _, cid, _, reps in read_locations(p) if wid in reps}
        wait_for(lambda: set(worker_chunks_on_disk(c, i)) == want, 60,
                 "worker %d's disk to match the master's map" % i)
    print("rebalance moved %d chunks, %d bytes; usage %s" %
          (rb["moved_chunks"], rb["moved_bytes"],
           ["%.3f" % usage(w) for w in c.list_workers()]))


def test_724_drain_in_a_cluster_too_small(tmp_path_factory):
    """Two workers, goal 2: a drain cannot finish, says why, and new files
    still get both copies."""
    c = make_cluster(tmp_path_factory, "drainsmall", nworkers=2)
    try:
        victim = c.worker_id(0)
        d = c.mounts[0].path
        p = os.path.join(d, "before")
        sha = write_random_file(p, 2 * MiB)
        j = drain(c, victim)
        assert j["state"] == "draining", j

        def noted():
            dr = worker_entry(c, victim)["drain"]
            return dr if "1 other live worker" in (dr.get("note") or "") else None

        dr = wait_for(noted, 30, "the drain to say it cannot finish")
        assert not dr["done"] and dr["chunks_left"] > 0, dr
        q = os.path.join(d, "during")
        sha2 = write_random_file(q, 2 * MiB)
        for path in (p, q):
            for _, _, _, reps in read_locations(path):
                assert len(set(reps)) == 2, (path, reps)
        assert summary(c)["chunks_undergoal"] == 0
        drop_caches()
        assert sha256_file(p) == sha and sha256_file(q) == sha2
        assert drain(c, victim, undrain=True)["was_draining"] is True
    finally:
        finish_cluster(c)
