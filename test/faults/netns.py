"""Several hosts on one machine for the partition tests: network namespaces.

`Net` builds the topology and breaks it:

    root namespace:   bridge BR, 10.77.X.1/24, and the mount (mount.bigfs)
      |-- veth --  namespace ...-m    10.77.X.2    bigfs-master (+ its
      |                                            embedded Kafka broker)
      |-- veth --  namespace ...-w1   10.77.X.11   bigfs-worker 0
      |-- veth --  namespace ...-w2   10.77.X.12   bigfs-worker 1
      '-- veth --  namespace ...-w3   10.77.X.13   bigfs-worker 2

The mount stays in the root namespace: a FUSE mount made under `ip netns
exec` lives in that command's private mount namespace and nobody else
would see it. It reaches the master and the workers through the bridge.

Names carry the pid of the test process and a counter (`bf<hex>-m`,
`bf<hex>-w1`, `bf<hex>-br`), so what a crashed run left behind cannot
collide with the next run; `Net()` first deletes the namespaces and links
of test processes that no longer exist. The subnet X is one no route of
the root namespace touches, claimed with a lock file held for the life of
the `Net`, so concurrent runs on one machine take different subnets.

Cuts (`Net.cut(kind, i)`, undone by `Net.heal(i)` or at `teardown()`):

- "isolate": worker i reaches nobody and nobody reaches it: its
  root-side veth goes down (packets vanish, connections stall, no RST);
- "master": master <-> worker i only (the mount still reaches it):
  blackhole routes for the worker's address in the master's namespace and
  for the master's address in the worker's namespace;
- "mount": mount <-> worker i only (the master still reaches it):
  blackhole routes for the worker's address in the root namespace and for
  the bridge address in the worker's namespace.

Kafka. The master's embedded broker listens on 127.0.0.1:K inside the
master's namespace and /v1/cluster/info tells workers "127.0.0.1:K" (the
broker's metadata says the same). `NetnsCluster` relays it with socat:
in the master's namespace 10.77.X.2:K -> 127.0.0.1:K, in each worker's
namespace 127.0.0.1:K -> 10.77.X.2:K. So a worker's status reports take
the same path through the bridge as its HTTP calls to the master, and a
cut between them silences both, as a real network cut would. The relays
are made again when the master restarts (a new broker port each time).

`NetnsCluster` is the integration suite's `Cluster` (its waits, its log
and sanitizer checks, its mounts) with daemons started under `ip netns
exec NS` on the namespaces' addresses; `stop()` also removes the network.

This module is also a pytest plugin (a test module loads it with
`pytest_plugins = ["netns"]`): it registers the `partition` marker and
puts it on the tests of the modules that set `NETNS_MARK = "partition"`.
"""

import errno
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import conftest as fc

itest = fc.itest

SUBNET_BASE = "10.77"          # 10.77.X.0/24, X claimed per Net
NAME_RE = re.compile(r"^bf([0-9a-f]+)-(br|m|w[0-9]+|probe)$")
CMD_TIMEOUT_S = 20

_counter = 0
_counter_lock = threading.Lock()


# --------------------------------------------------------------------------
# running ip


class NetError(RuntimeError):
    pass


def run(*argv, ns=None, check=True):
    """Run one command (in namespace ns if given); returns its stdout.
    Raises NetError with the command's stderr when it fails and check."""
    argv = [str(a) for a in argv]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=CMD_TIMEOUT_S)
    if check and p.returncode != 0:
        raise NetError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p.stdout


def skip_reason():
    """Why the partition tests cannot run here, or None."""
    r = itest.skip_reason()
    if r:
        return r
    for tool, pkg in (("ip", "iproute2"), ("ss", "iproute2"), ("socat", "socat")):
        if not shutil.which(tool):
            return "partition tests need %s (package %s)" % (tool, pkg)
    probe = "bf%xf-probe" % os.getpid()      # 15 characters at most
    try:
        run("ip", "netns", "add", probe)
    except (NetError, OSError, subprocess.SubprocessError) as e:
        return "partition tests need network namespaces (ip netns add failed: %s)" % e
    try:
        run("ip", "link", "add", probe, "type", "bridge")
        run("ip", "link", "del", probe)
    except (NetError, OSError, subprocess.SubprocessError) as e:
        return "partition tests need to create bridges and veths (%s)" % e
    finally:
        run("ip", "netns", "del", probe, check=False)
    return None


def skip_or_fail():
    """Skip the test when the machine cannot host namespaces; under
    BIGFS_NO_SKIP=1 (CI) such a skip is a failure."""
    reason = skip_reason()
    if reason:
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail(reason + " (BIGFS_NO_SKIP=1: skipping is not allowed here)")
        pytest.skip(reason)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale():
    """Delete the namespaces and links that test processes which no longer
    exist left behind (their names carry the pid). Processes still inside
    such a namespace are left alone; without its links they reach nothing."""
    mine = set()
    for name in run("ip", "netns", "list", check=False).split():
        m = NAME_RE.match(name)
        if m and len(m.group(1)) > 1 and not _pid_alive(int(m.group(1)[:-1], 16)):
            run("ip", "netns", "del", name, check=False)
            mine.add(name)
    for line in run("ip", "-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = NAME_RE.match(name)
        if m and len(m.group(1)) > 1 and not _pid_alive(int(m.group(1)[:-1], 16)):
            run("ip", "link", "del", name, check=False)


def _routes_in_use():
    """Every IPv4 network a route of the root namespace (any table, any
    type, blackholes of a crashed run included) or an address covers."""
    nets = []
    text = run("ip", "-4", "route", "show", "table", "all", check=False)
    text += run("ip", "-4", "-o", "addr", "show", check=False)
    for tok in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)\b", text):
        try:
            nets.append(ipaddress.ip_network(tok, strict=False))
        except ValueError:
            pass
    return nets


def claim_subnet():
    """(X, lock file) for a 10.77.X.0/24 no route touches and no other run
    holds. The lock is held until the file is closed."""
    used = _routes_in_use()
    start = os.getpid() % 200
    for k in range(250):
        x = 2 + (start + k) % 250
        net = ipaddress.ip_network("%s.%d.0/24" % (SUBNET_BASE, x))
        if any(net.overlaps(u) and u.prefixlen > 8 for u in used):
            continue
        path = os.path.join(tempfile.gettempdir(), "bigfs-netns-%s.%d.lock" % (SUBNET_BASE, x))
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        return x, f
    raise NetError("no free subnet %s.X.0/24" % SUBNET_BASE)


# --------------------------------------------------------------------------
# the topology


class Host:
    """One namespace: its name, its address, the root-side end of its veth."""

    def __init__(self, ns, ip):
        self.ns = ns
        self.ip = ip
        self.veth = ns          # link names and namespace names do not clash


class Net:
    """A bridge, the master's namespace and one namespace per worker.
    Always call teardown() (it is safe after a half-made setup)."""

    def __init__(self, nworkers):
        global _counter
        sweep_stale()
        with _counter_lock:
            n = _counter
            _counter += 1
        self.tag = "bf%x%x" % (os.getpid(), n % 16)
        self.x, self._lock = claim_subnet()
        pre = "%s.%d." % (SUBNET_BASE, self.x)
        self.bridge = self.tag + "-br"
        self.bridge_ip = pre + "1"
        self.master = Host(self.tag + "-m", pre + "2")
        self.workers = [Host("%s-w%d" % (self.tag, i + 1), pre + str(11 + i))
                        for i in range(nworkers)]
        self._made_ns = []
        self._made_links = []
        self._undo = {}         # worker index -> [argv, ...] that heal it
        self.cuts = {}          # worker index -> kind

    def hosts(self):
        return [self.master] + self.workers

    def setup(self):
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self._made_links.append(self.bridge)
        # Bridged frames must not go through the root namespace's firewall
        # (br_netfilter and a FORWARD policy of DROP would cut everything).
        run("ip", "link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0",
            "nf_call_ip6tables", "0", "nf_call_arptables", "0", check=False)
        run("ip", "addr", "add", self.bridge_ip + "/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for h in self.hosts():
            run("ip", "netns", "add", h.ns)
            self._made_ns.append(h.ns)
            run("ip", "-n", h.ns, "link", "set", "lo", "up")
            run("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0",
                "netns", h.ns)
            self._made_links.append(h.veth)
            run("ip", "link", "set", h.veth, "master", self.bridge)
            run("ip", "link", "set", h.veth, "up")
            run("ip", "-n", h.ns, "addr", "add", h.ip + "/24", "dev", "eth0")
            run("ip", "-n", h.ns, "link", "set", "eth0", "up")
        return self

    def teardown(self):
        """Heal every cut (root-namespace routes outlive the bridge), then
        delete namespaces, links and the bridge, then free the subnet.
        Returns the list of steps that failed (empty if all went well)."""
        errors = []
        for i in list(self._undo):
            try:
                self.heal(i)
            except (NetError, subprocess.SubprocessError) as e:
                errors.append(str(e))
        for ns in reversed(self._made_ns):
            try:
                run("ip", "netns", "del", ns)
            except (NetError, subprocess.SubprocessError) as e:
                errors.append(str(e))
        self._made_ns = []
        for link in reversed(self._made_links):
            if run("ip", "link", "show", link, check=False):
                try:
                    run("ip", "link", "del", link)
                except (NetError, subprocess.SubprocessError) as e:
                    # A veth goes with its peer's namespace, which the
                    # kernel removes in the background after `netns del`:
                    # gone between the show and the del is gone.
                    if run("ip", "link", "show", link, check=False):
                        errors.append(str(e))
        self._made_links = []
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        return errors

    # -- cuts ------------------------------------------------------------
    def _blackhole(self, i, ns, dst):
        """Drop everything namespace ns (None: the root one) sends to dst."""
        pre = ["ip"] + (["-n", ns] if ns else [])
        run(*(pre + ["route", "add", "blackhole", dst + "/32"]))
        self._undo.setdefault(i, []).append(pre + ["route", "del", "blackhole", dst + "/32"])

    def cut(self, kind, i):
        """Cut worker i off: kind "isolate" (from everyone), "master" (from
        the master only) or "mount" (from the root namespace, i.e. the
        mount, only). One cut per worker at a time."""
        assert i not in self.cuts, "worker %d is already cut (%s)" % (i, self.cuts[i])
        w = self.workers[i]
        self.cuts[i] = kind
        if kind == "isolate":
            run("ip", "link", "set", w.veth, "down")
            self._undo.setdefault(i, []).append(["ip", "link", "set", w.veth, "up"])
        elif kind == "master":
            self._blackhole(i, self.master.ns, w.ip)
            self._blackhole(i, w.ns, self.master.ip)
        elif kind == "mount":
            self._blackhole(i, None, w.ip)
            self._blackhole(i, w.ns, self.bridge_ip)
        else:
            raise ValueError("unknown cut %r" % kind)

    def heal(self, i):
        """Undo the cut of worker i (every step is tried)."""
        errors = []
        for argv in self._undo.pop(i, []):
            try:
                run(*argv)
            except (NetError, subprocess.SubprocessError) as e:
                errors.append(str(e))
        self.cuts.pop(i, None)
        if errors:
            raise NetError("; ".join(errors))

    def partition(self, kind, i):
        """Context manager: cut worker i on entry, heal it on exit (also on
        an exception). Its value has t_cut and, after the block, t_heal
        (time.monotonic())."""
        return _Partition(self, kind, i)


class _Partition:
    def __init__(self, net, kind, i):
        self.net, self.kind, self.i = net, kind, i
        self.t_cut = self.t_heal = None

    def __enter__(self):
        self.t_cut = time.monotonic()
        self.net.cut(self.kind, self.i)
        return self

    def __exit__(self, *exc):
        self.net.heal(self.i)
        self.t_heal = time.monotonic()
        return False

    @property
    def seconds(self):
        return (self.t_heal or time.monotonic()) - self.t_cut


# --------------------------------------------------------------------------
# processes in namespaces


class Relay:
    """One socat TCP relay in a namespace, in a process group of its own
    (socat forks a child per connection) so stop() ends them all."""

    def __init__(self, name, ns, listen, target, log):
        self.name = name
        lhost, lport = listen.rsplit(":", 1)
        self.ns = ns
        self.port = int(lport)
        self.argv = ["ip", "netns", "exec", ns, "socat",
                     "TCP-LISTEN:%s,bind=%s,fork,reuseaddr" % (lport, lhost), "TCP:" + target]
        self.log = log
        self.proc = None

    def start(self):
        with open(self.log, "ab") as lf:
            lf.write(("\n=== start: %s\n" % " ".join(self.argv)).encode())
            lf.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def listening(self):
        out = run("ss", "-H", "-ltn", "-N", self.ns, "sport = :%d" % self.port, check=False)
        return bool(out.strip())

    def watch(self):
        return (self.name, self.proc, self.log)

    def stop(self):
        """TERM the group, KILL it after 5 s; then KILL whatever connection
        child outlived its parent."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None


def _addr_file(path):
    try:
        with open(path) as f:
            s = f.read()
    except FileNotFoundError:
        return None
    return s.strip() if s.endswith("\n") else None


class NetnsCluster(itest.Cluster):
    """The integration suite's Cluster with the master and each worker in
    a namespace of `net`, Kafka relayed to the workers, and mounts in the
    root namespace. stop() also tears the network down."""

    def __init__(self, base, net, nworkers=3, master_args=(), worker_args=()):
        assert nworkers <= len(net.workers)
        super().__init__(base, nworkers, master_args, worker_args)
        self.net = net
        self.relays = []
        self.kafka = []         # [(host, port)] of the master's broker
        self.net_errors = []

    # -- master ----------------------------------------------------------
    def start_master(self, timeout=30):
        """As Cluster.start_master (port 0 the first time, the same address
        after), in the master's namespace; then relays its Kafka broker."""
        listen = self.master_addr or self.net.master.ip + ":0"
        addr_file = os.path.join(self.master_dir, "master.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        argv = ["ip", "netns", "exec", self.net.master.ns, itest.MASTER_BIN,
                "--data", self.master_dir, "--listen", listen] + self.master_args
        self.master = itest.Daemon("bigfs-master", argv, self.log_path("master")).start()
        procs = [self.master.watch()]
        got = itest.wait_for(lambda: _addr_file(addr_file), timeout, "master.addr", procs)
        if self.master_addr:
            assert got == self.master_addr, "master restarted on %s, not %s" % (
                got, self.master_addr)
        self.master_addr = got
        itest.wait_for(self._healthy, timeout, "master /v1/health", procs)
        self._relay_kafka(timeout)
        return self

    def _relay_kafka(self, timeout):
        st, info, raw = self.api("GET", "/v1/cluster/info", timeout=5)
        assert st == 200 and info, "GET /v1/cluster/info: %s %r" % (st, raw[:200])
        boot = info.get("kafka_bootstrap") or ""
        brokers = []
        for b in boot.split(","):
            b = b.strip()
            if b.startswith("PLAINTEXT://"):
                b = b[len("PLAINTEXT://"):]
            if b:
                host, port = b.rsplit(":", 1)
                brokers.append((host, int(port)))
        for r in self.relays:
            r.stop()
        self.relays = []
        self.kafka = brokers
        for host, port in brokers:
            assert host in ("127.0.0.1", "localhost"), \
                "the master's broker is at %s, not on loopback: nothing to relay" % boot
            mip = self.net.master.ip
            self.relays.append(Relay("relay-m-%d" % port, self.net.master.ns,
                                     "%s:%d" % (mip, port), "127.0.0.1:%d" % port,
                                     self.log_path("relay-m")).start())
            for i in range(self.nworkers):
                w = self.net.workers[i]
                self.relays.append(Relay("relay-w%d-%d" % (i, port), w.ns,
                                         "127.0.0.1:%d" % port, "%s:%d" % (mip, port),
                                         self.log_path("relay-w%d" % i)).start())
        for r in self.relays:
            itest.wait_for(r.listening, timeout, "%s listening" % r.name, [r.watch()])

    # -- workers ---------------------------------------------------------
    def start_worker(self, i, timeout=30):
        d = self.worker_dirs[i]
        addr_file = os.path.join(d, "worker.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        w = self.net.workers[i]
        argv = ["ip", "netns", "exec", w.ns, itest.WORKER_BIN, "--master", self.master_addr,
                "--data", d, "--listen", w.ip + ":0", "--secret",
                self.secret_path] + self.worker_args
        dm = itest.Daemon("bigfs-worker-%d" % i, argv, self.log_path("w%d" % i)).start()
        self.workers[i] = dm
        itest.wait_for(lambda: _addr_file(addr_file), timeout, "worker %d's worker.addr" % i,
                       [dm.watch()])
        return dm

    def start(self):
        """Cluster.start, then wait until every worker's status has come
        through the Kafka relays (registration alone makes a worker live
        for one worker timeout; a relay that does not carry would only
        show as every worker dying 10 s later)."""
        super().start()
        self.wait_status_reports()
        return self

    def wait_status_reports(self, timeout=20):
        first = {w["worker_id"]: w.get("last_seen_ms") or 0 for w in self.list_workers()}
        procs = [self.master.watch()] + [w.watch() for w in self.workers if w] + \
            [r.watch() for r in self.relays]

        def ok():
            try:
                now = {w["worker_id"]: w.get("last_seen_ms") or 0 for w in self.list_workers()}
            except (OSError, AssertionError):
                return False
            return all(now.get(k, 0) > v for k, v in first.items())

        itest.wait_for(ok, timeout, "a status report from every worker through the Kafka "
                       "relays (last_seen_ms in /v1/cluster/workers moving)", procs)

    # -- the end ---------------------------------------------------------
    def stop(self):
        """Always safe: unmount, stop the daemons (Cluster.stop), the
        relays, then remove the namespaces, links and routes."""
        try:
            super().stop()
        finally:
            for r in self.relays:
                r.stop()
            self.relays = []
            self.net_errors += self.net.teardown()


def make_netns_cluster(tmp_path_factory, name, nworkers=3, mount_opts=None, **kw):
    """A NetnsCluster started and mounted (as itest.make_cluster), or a skip
    (a failure under BIGFS_NO_SKIP=1) when namespaces are not available."""
    skip_or_fail()
    for b in (itest.MASTER_BIN, itest.WORKER_BIN, itest.MOUNT_BIN):
        assert os.access(b, os.X_OK), "%s is missing: run make first (BIGFS_BUILD=%s)" % (
            b, itest.BUILD)
    base = tmp_path_factory.mktemp(name)
    net = Net(nworkers)
    c = None
    try:
        net.setup()
        c = NetnsCluster(base, net, nworkers, **kw)
        c.start()
        c.mount(opts=mount_opts)
    except BaseException:
        reports = []
        if c is not None:
            reports = c.new_sanitizer_reports()
            c.stop()
        else:
            net.teardown()
        if reports:
            pytest.fail("sanitizer report:\n" + "\n".join(reports))
        raise
    return c


# --------------------------------------------------------------------------
# pytest plugin: the `partition` marker


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "partition: network-partition faults; needs root, ip netns, veth, socat "
        "(deselect with -m \"not partition\")")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: before -m selects on marks.
    for item in items:
        mod = getattr(item, "module", None)
        mark = getattr(mod, "NETNS_MARK", None)
        if mark:
            item.add_marker(mark)
