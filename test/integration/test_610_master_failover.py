"""Several masters on one metadata log: failover, fencing, standbys that
start late or from nothing (issue 15, docs/metalog.md).

Every cluster here runs `HaCluster` (ha_fixtures.py): a development Kafka
broker in a process of its own, masters m1, m2 (m2 --standby), workers and
a mount given the list of both masters.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import MASTER_BIN, ApiSession, Daemon, cluster_sign, http, json_of, tail, wait_for
from ha_fixtures import HaCluster, make_ha_cluster, wait_seconds

FAILOVER_MS = 3000


def cluster_call(c, k, method, path, body=b""):
    hdrs = {"Authorization": cluster_sign(c.secret(), method, path, body)}
    if body:
        hdrs["Content-Type"] = "application/json"
    return http(method, "http://%s%s" % (c.addrs[k], path), body or None, hdrs, timeout=70)


class Workload(threading.Thread):
    """Creates, writes, renames, unlinks, mkdirs and flocks in one folder,
    noting every operation only once it returned: the model of what must be
    there afterwards."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder
        self.files = {}         # name -> content, as acknowledged
        self.dirs = set()
        self.errors = []
        self.ops = 0
        self.slowest = 0.0
        self.stop = threading.Event()

    def op(self, fn, *a):
        t0 = time.monotonic()
        fn(*a)
        dt = time.monotonic() - t0
        self.slowest = max(self.slowest, dt)
        self.ops += 1

    def write(self, name, data):
        with open(os.path.join(self.folder, name), "wb") as f:
            f.write(data)
        self.files[name] = data

    def rename(self, a, b):
        os.rename(os.path.join(self.folder, a), os.path.join(self.folder, b))
        self.files[b] = self.files.pop(a)

    def unlink(self, name):
        os.unlink(os.path.join(self.folder, name))
        del self.files[name]

    def mkdir(self, name):
        os.mkdir(os.path.join(self.folder, name))
        self.dirs.add(name)

    def lock(self):
        with open(os.path.join(self.folder, "lockfile"), "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            fcntl.flock(f, fcntl.LOCK_UN)

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                name = "f%05d" % i
                self.op(self.write, name, b"data %d\n" % i * (1 + i % 50))
                if i % 3 == 0:
                    self.op(self.rename, name, "r%05d" % i)
                elif i % 5 == 0:
                    self.op(self.unlink, name)
                if i % 7 == 0:
                    self.op(self.mkdir, "d%05d" % i)
                if i % 11 == 0:
                    self.op(self.lock)
        except Exception as e:  # the application must see no error
            self.errors.append("%s after %d ops: %r" % (type(e).__name__, self.ops, e))

    def check(self):
        have = set(os.listdir(self.folder)) - {"lockfile"}
        want = set(self.files) | self.dirs
        assert have == want, "namespace differs from the acknowledged operations: missing %s, extra %s" % (
            sorted(want - have)[:10], sorted(have - want)[:10])
        for name, data in self.files.items():
            with open(os.path.join(self.folder, name), "rb") as f:
                assert f.read() == data, "content of %s differs" % name


@pytest.fixture
def ha(tmp_path_factory):
    c = make_ha_cluster(tmp_path_factory, "ha", failover_ms=FAILOVER_MS)
    yield c
    c.stop()


def test_kill9_of_the_active_master_during_a_mixed_workload(ha):
    """The standby takes over within 10 s; the application sees a pause,
    no error, and every acknowledged operation afterwards."""
    folder = os.path.join(ha.mounts[0].path, "work")
    os.mkdir(folder)
    w = Workload(folder)
    w.start()
    wait_for(lambda: w.ops > 200 or w.errors, 60, "the workload to get going")
    old = ha.active_index()
    ops_before = w.ops
    ha.masters[old].stop(signal.SIGKILL)
    t_kill = time.monotonic()
    took = wait_seconds(lambda: any(ha.role(k) == "active" for k in range(ha.nmasters)
                                    if k != old), 20)
    assert took is not None, "no standby took over within 20 s"
    assert took < 10, "failover took %.1f s" % took
    ha.wait_active(exclude=(old,))
    # the workload goes on against the new master
    wait_for(lambda: w.ops > ops_before + 300 or w.errors, 60,
             "the workload to go on after the failover")
    w.stop.set()
    w.join(30)
    assert not w.errors, w.errors
    print("failover %.2f s; slowest operation %.2f s; %d operations" % (took, w.slowest, w.ops))
    assert w.slowest < 15
    w.check()
    # the killed master comes back as a standby and catches up
    ha.start_master_k(old)
    wait_for(lambda: ha.role(old) == "standby" and
             ha.health(old)["metalog"]["seq"] == ha.health(ha._active)["metalog"]["seq"],
             30, "the old master back as a standby, current")
    assert time.monotonic() - t_kill < 120


def test_a_paused_master_is_fenced_and_rejoins_as_a_standby(ha):
    folder = os.path.join(ha.mounts[0].path, "paused")
    os.mkdir(folder)
    with open(os.path.join(folder, "before"), "wb") as f:
        f.write(b"before")
    old = ha.active_index()
    ha.masters[old].send(signal.SIGSTOP)
    try:
        new, = wait_for(lambda: next(((k,) for k in range(ha.nmasters)
                                      if k != old and ha.role(k) == "active"), None),
                        20, "the standby to take over")
        with open(os.path.join(folder, "during"), "wb") as f:
            f.write(b"during")
    finally:
        ha.masters[old].send(signal.SIGCONT)
    # resumed, it must not take a single write: its lease ran out while it
    # was stopped, and its next record lands after the new leader's claim
    ha._active = old
    ha.session = None
    for _ in range(20):
        try:
            st, _, body = http("POST", "http://%s/v1/mkdir" % ha.addrs[old],
                               b'{"parent":1,"name":"zombie","mode":493}',
                               {"Content-Type": "application/json"}, timeout=5)
        except OSError:
            continue  # it is starting again as a standby: no answer is no write
        assert st in (401, 503), "the old master answered %s %r" % (st, body[:200])
        time.sleep(0.1)
    wait_for(lambda: ha.role(old) == "standby", 30, "the old master to become a standby")
    log = open(ha.log_path("master" if old == 0 else "master%d" % (old + 1))).read()
    assert "no longer leads" in log and "starting again as a standby" in log
    ha.wait_active()
    assert ha._active == new
    assert sorted(os.listdir(folder)) == ["before", "during"]
    assert not os.path.exists(os.path.join(ha.mounts[0].path, "zombie"))
    wait_for(lambda: ha.health(old)["metalog"]["seq"] == ha.health(new)["metalog"]["seq"],
             30, "the old master to follow the new one")


def test_a_wiped_master_comes_back_as_a_standby_with_everything(ha):
    root = ha.mounts[0].path
    os.mkdir(os.path.join(root, "keep"))
    for i in range(50):
        with open(os.path.join(root, "keep", "k%d" % i), "wb") as f:
            f.write(b"%d" % i * 1000)
    old = ha.active_index()
    ha.masters[old].stop(signal.SIGKILL)
    shutil.rmtree(ha.master_dirs[old])
    os.makedirs(ha.master_dirs[old])
    ha.wait_active(exclude=(old,))
    other = ha._active
    with open(os.path.join(root, "keep", "after"), "wb") as f:
        f.write(b"after")
    ha.start_master_k(old)
    wait_for(lambda: ha.role(old) == "standby" and
             ha.health(old)["metalog"]["seq"] == ha.health(other)["metalog"]["seq"],
             30, "the wiped master back as a standby, current")
    log = open(ha.log_path("master" if old == 0 else "master%d" % (old + 1))).read()
    assert "restored the checkpoint" in log
    # it leads with the full namespace
    ha.masters[other].stop(signal.SIGKILL)
    ha.wait_active(exclude=(other,))
    names = sorted(os.listdir(os.path.join(root, "keep")))
    assert names == sorted(["k%d" % i for i in range(50)] + ["after"])
    for i in range(50):
        with open(os.path.join(root, "keep", "k%d" % i), "rb") as f:
            assert f.read() == b"%d" % i * 1000


def test_standbys_started_late_from_the_log_and_from_a_checkpoint(tmp_path_factory):
    """A long log (BIGFS_LONGLOG_TXNS changes, 100,000 by default), whose
    start the broker has deleted (the development broker keeps 5 MB a
    partition, as retention would): a standby started from nothing starts
    from the latest checkpoint and reads the log after it; after a
    checkpoint on demand, one started from nothing reads only what follows
    it."""
    want = int(os.environ.get("BIGFS_LONGLOG_TXNS", "100000"))
    c = make_ha_cluster(tmp_path_factory, "halong", nmasters=4, start_masters=1,
                        failover_ms=FAILOVER_MS)
    try:
        root = c.mounts[0].path
        k0 = c._active

        def seq(k):
            return c.health(k)["metalog"]["seq"]

        def burst(t):
            d = os.path.join(root, "t%d" % t)
            os.mkdir(d)
            n = 0
            while seq(k0) < want:
                for _ in range(200):
                    fd = os.open(os.path.join(d, "%d" % n), os.O_CREAT | os.O_WRONLY, 0o644)
                    os.close(fd)
                    os.setxattr(os.path.join(d, "%d" % n), "user.n", b"%d" % n)
                    n += 1
            return n

        threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = time.monotonic() - t0
        total = seq(k0)
        print("%d changes in %.1f s (%.0f/s)" % (total, made, total / made))
        # the log's first records are gone
        first = subprocess.run(["kcat", "-C", "-b", c.kafka, "-t", "bigfs.metalog", "-p", "0",
                                "-o", "beginning", "-c", "1", "-f", "%o\\n", "-e", "-q"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        assert first and int(first) > 0, "the log still starts at offset %r" % first
        # a standby from nothing: the latest checkpoint, then the log after it
        t0 = time.monotonic()
        c.start_master_k(1)
        wait_for(lambda: c.role(1) == "standby" and seq(1) >= total, 300,
                 "the late standby to read the whole log")
        print("standby from nothing: caught up with %d changes in %.1f s" % (
            total, time.monotonic() - t0))
        # a checkpoint now; a standby from nothing reads only what follows
        st, _, body = cluster_call(c, k0, "POST", "/v1/metadata/checkpoint", b"{}")
        assert st == 200, body
        ck = json_of(body)["seq"]
        assert ck >= total
        with open(os.path.join(root, "t0", "after-checkpoint"), "wb") as f:
            f.write(b"x")
        c.start_master_k(2)
        wait_for(lambda: c.role(2) == "standby" and seq(2) == seq(k0), 120,
                 "the standby started from the checkpoint to catch up")
        log = open(c.log_path("master3")).read()
        assert "restored the checkpoint at seq %d" % ck in log, tail(c.log_path("master3"))
        # it read the log from the checkpoint's offset on, not from 0
        h = c.health(2)["metalog"]
        assert h["applied"] < 1000, h
        # the newest standby leads with everything
        for k in (0, 1):
            c.masters[k].stop(signal.SIGKILL)
        wait_for(lambda: c.role(2) == "active", 30, "the newest standby to lead")
        c._active = 2
        assert os.path.exists(os.path.join(root, "t0", "after-checkpoint"))
        assert os.getxattr(os.path.join(root, "t1", "7"), "user.n") == b"7"
    finally:
        c.stop()


ADMIN_BIN = os.path.join(os.path.dirname(MASTER_BIN), "bigfs")


def test_metadata_dump_and_restore(ha, tmp_path):
    """`bigfs metadata dump` of the active master is a backup:
    `bigfs-master --restore` starts a master from it with the namespace as
    it was; into a log that already has a history, it refuses."""
    root = ha.mounts[0].path
    os.mkdir(os.path.join(root, "saved"))
    with open(os.path.join(root, "saved", "a"), "wb") as f:
        f.write(b"kept")
    dump = str(tmp_path / "meta.dump")
    env = dict(os.environ, BIGFS_SECRET=ha.secret_path)
    r = subprocess.run([ADMIN_BIN, "--master", ha.master_addr, "metadata", "dump", dump],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(dump) > 0
    r = subprocess.run([ADMIN_BIN, "--master", ha.master_addr, "metadata", "checkpoint"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "checkpoint written" in r.stdout, r.stderr
    # without the secret: refused before anything is sent
    r = subprocess.run([ADMIN_BIN, "--master", ha.master_addr, "metadata", "dump", dump + "2"],
                       capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "BIGFS_SECRET"})
    assert r.returncode != 0 and "secret" in r.stderr
    # a lone master (no log) from the dump
    d = str(tmp_path / "restored")
    m = Daemon("restored", [MASTER_BIN, "--data", d, "--listen", "127.0.0.1:0", "--restore", dump],
               str(tmp_path / "restored.log")).start()
    try:
        addr = wait_for(lambda: open(os.path.join(d, "master.addr")).read().strip()
                        if os.path.exists(os.path.join(d, "master.addr")) else None,
                        30, "the restored master")
        s = ApiSession("http://" + addr)
        st, _, raw = s.call("POST", "/v1/lookup", {"parent": 1, "name": "saved"})
        assert st == 200, raw
        st, _, raw = s.call("POST", "/v1/lookup", {"parent": json_of(raw)["attr"]["ino"],
                                                   "name": "a"})
        assert st == 200 and json_of(raw)["attr"]["size"] == 4, raw
    finally:
        m.stop()
    # into this cluster's log, which has a history: refused
    d2 = str(tmp_path / "restored2")
    r = subprocess.run([MASTER_BIN, "--data", d2, "--listen", "127.0.0.1:0", "--restore", dump,
                        "--kafka", ha.kafka, "--secret", ha.secret_path, "--id", "late"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "already has a history" in r.stderr, r.stderr[-2000:]
