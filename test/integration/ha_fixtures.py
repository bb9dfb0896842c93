"""Several masters on one metadata log (issue 15, docs/metalog.md).

`HaCluster` is a `Cluster` whose masters share a development Kafka broker
(`bigfs-devbroker`, librdkafka's mock cluster in a process of its own, so
it outlives every master). Each master has its own data folder and a port
fixed before it starts (it advertises it); all use the first master's
secret. Workers and mounts are given the whole list `A1,A2,...`; calls the
test itself makes go to whichever master is active now.
"""

import os
import signal
import socket
import sys
import time

# the integration suite's conftest: itself here, loaded as bigfs_itest by
# the fault suite (test/faults/conftest.py)
if "bigfs_itest" in sys.modules:
    _itest = sys.modules["bigfs_itest"]
else:
    import conftest as _itest
BUILD, MASTER_BIN, Cluster, Daemon = _itest.BUILD, _itest.MASTER_BIN, _itest.Cluster, _itest.Daemon
http, json_of, wait_for = _itest.http, _itest.json_of, _itest.wait_for

DEVBROKER_BIN = os.path.join(BUILD, "bigfs-devbroker")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class HaCluster(Cluster):
    def __init__(self, base, nworkers=3, nmasters=2, failover_ms=3000, master_args=(),
                 start_masters=None, **kw):
        self.nmasters = nmasters
        self.start_masters = nmasters if start_masters is None else start_masters
        self.failover_ms = failover_ms
        super().__init__(base, nworkers, master_args=master_args, **kw)
        self.master_dirs = [self.master_dir] + [
            os.path.join(self.base, "master%d" % (k + 1)) for k in range(1, nmasters)]
        for d in self.master_dirs:
            os.makedirs(d, exist_ok=True)
        self.ports = [free_port() for _ in range(nmasters)]
        self.addrs = ["127.0.0.1:%d" % p for p in self.ports]
        self.masters = [None] * nmasters
        self.broker = None
        self.kafka = None
        self._active = 0
        # every master signs with one secret: make it before any starts
        if not os.path.exists(self.secret_path):
            fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32))
            os.close(fd)

    # the list every worker and mount gets
    @property
    def master_addr(self):
        return ",".join(self.addrs) if hasattr(self, "addrs") else None

    @master_addr.setter
    def master_addr(self, v):
        pass  # fixed per master here

    @property
    def master(self):
        ms = getattr(self, "masters", None)
        return ms[self._active] if ms else None

    @master.setter
    def master(self, v):
        pass

    @property
    def secret_path(self):
        # one secret for every master, outside their data folders (a test
        # wipes a master's folder)
        return os.path.join(self.base, "secret")

    @property
    def url(self):
        return "http://" + self.addrs[self._active]

    # -- broker and masters ------------------------------------------------
    def start_broker(self, timeout=30):
        addr_file = os.path.join(self.base, "broker.addr")
        self.broker = Daemon("bigfs-devbroker", [DEVBROKER_BIN, "--addr-file", addr_file],
                             self.log_path("broker")).start()

        def addr():
            try:
                with open(addr_file) as f:
                    s = f.read()
            except FileNotFoundError:
                return None
            return s.strip() if s.endswith("\n") else None

        self.kafka = wait_for(addr, timeout, "broker.addr", [self.broker.watch()])

    def master_argv(self, k, extra=()):
        argv = [MASTER_BIN, "--data", self.master_dirs[k], "--listen", self.addrs[k],
                "--kafka", self.kafka, "--secret", self.secret_path, "--id", "m%d" % (k + 1),
                "--advertise", self.addrs[k], "--failover-ms", str(self.failover_ms),
                "--checkpoint-mb", "1"]  # the development broker keeps 5 MB a partition
        if k > 0:
            argv.append("--standby")
        return argv + self.master_args + list(extra)

    def start_master_k(self, k, timeout=30, extra=()):
        name = "master" if k == 0 else "master%d" % (k + 1)
        self.masters[k] = Daemon("bigfs-master-%d" % (k + 1), self.master_argv(k, extra),
                                 self.log_path(name)).start()
        wait_for(lambda: self.health(k) is not None, timeout,
                 "master %d /v1/health" % (k + 1), [self.masters[k].watch()])
        return self.masters[k]

    def health(self, k):
        try:
            st, _, body = http("GET", "http://%s/v1/health" % self.addrs[k], timeout=2)
        except OSError:
            return None
        return json_of(body) if st == 200 else None

    def role(self, k):
        h = self.health(k)
        return h.get("role") if h else "down"

    def active_index(self):
        for k in range(self.nmasters):
            if self.masters[k] and self.masters[k].alive() and self.role(k) == "active":
                return k
        return None

    def wait_active(self, timeout=30, exclude=()):
        """Wait until a master (not in exclude) leads; returns its index and
        points the test's own calls at it."""
        def found():
            k = self.active_index()
            return (k,) if k is not None and k not in exclude else None
        k, = wait_for(found, timeout, "an active master")
        self._active = k
        self.session = None
        return k

    def start_master(self, timeout=30):
        if self.broker is None:
            self.start_broker()
        for k in range(self.start_masters):
            if not self.masters[k] or not self.masters[k].alive():
                self.start_master_k(k, timeout)
            if k == 0:
                self.wait_active(timeout)
        return self

    def stop_master(self, sig=signal.SIGTERM):
        return self.masters[self._active].stop(sig)

    def all_procs(self):
        ps = list(self.masters) + [self.broker] + self.workers + [m.daemon for m in self.mounts]
        return [p for p in ps if p is not None]

    def stop(self):
        super().stop()  # mounts, workers, the active master
        for m in self.masters:
            if m:
                m.stop()
        if self.broker:
            self.broker.stop()

    def wait_live(self, indexes=None, timeout=40):
        self.wait_active(timeout)
        super().wait_live(indexes, timeout)

    def metrics(self, k):
        st, _, body = http("GET", "http://%s/metrics" % self.addrs[k], timeout=5)
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, val = line.rpartition(" ")
                try:
                    out[name] = float(val)
                except ValueError:
                    pass
        return out


def make_ha_cluster(tmp_path_factory, name, nworkers=3, mount=True, **kw):
    import pytest
    reason = _itest.skip_reason()
    if reason:
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail(reason + " (BIGFS_NO_SKIP=1: skipping is not allowed here)")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp(name)
    c = HaCluster(base, nworkers, **kw)
    try:
        c.start()
        if mount:
            c.mount()
    except BaseException:
        c.stop()
        raise
    return c


def wait_seconds(pred, timeout, step=0.05):
    """How long pred took to become true (None after timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None
