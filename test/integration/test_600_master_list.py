"""Several masters, client side (docs/api.md "Several masters (client
side)"): mounts, workers and the admin tool take a list of masters,
HOST1:PORT,HOST2:PORT, and follow whichever is active.

With one real master these tests put beside it what a real second master
would look like from outside: a dead address (127.0.0.1:1 refuses), a
fake standby (a small HTTP server in this process answering every /v1
call with 503 {"role": "standby", "active": REAL} and /v1/health with
role standby), and a TCP proxy in front of the real master that is shut
down to play a master dying under a running mount — together with a
kill -9 and restart of the real master, the master the mount switches to
knows neither its login nor its session, as a new active master would
not. Checked: a mount given such a list at start mounts and works, in
every position of the dead or standby one and with a subfolder; a worker
registers; `bigfs status` prints one line per master with its role; bad
lists are refused at start with a sentence naming the bad entry; and a
mount whose master dies switches to the next one, logs in again, and
keeps its open files and locks.
"""

import copy
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BUILD, MOUNT_BIN, WORKER_BIN, Daemon, Mount, finish_cluster, \
    is_mounted, make_certs, make_cluster, sha256_file, tail, wait_for, write_random_file

ADMIN_BIN = os.path.join(BUILD, "bigfs")
PY = "/usr/bin/python3"
DEAD = "127.0.0.1:1"          # nothing listens on port 1: connection refused
SESSION_TIMEOUT = 3
WORKER_TIMEOUT = 2            # the extra workers the tests stop are soon not live


@pytest.fixture(scope="module")
def mlc(tmp_path_factory):
    """A cluster of its own (its master is restarted by a test)."""
    c = make_cluster(tmp_path_factory, "masterlist", nworkers=2,
                     master_args=["--session-timeout", str(SESSION_TIMEOUT),
                                  "--worker-timeout", str(WORKER_TIMEOUT)])
    yield c
    finish_cluster(c)


# --------------------------------------------------------------------------
# stand-ins for other masters


class FakeStandby:
    """A master that is a standby: 503 EAGAIN role standby naming `active`
    for every /v1 call, /v1/health 200 with role standby."""

    def __init__(self, active):
        fake = self
        self.active = active
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _standby(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                if self.path == "/v1/health":
                    self._send(200, {"ok": True, "role": "standby", "active": fake.active})
                    return
                fake.calls += 1
                self._send(503, {"errno": 11, "error": "EAGAIN",
                                 "message": "this master is a standby",
                                 "role": "standby", "active": fake.active})

            do_GET = do_POST = do_PUT = _standby

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.addr = "127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class TcpProxy:
    """Forwards connections to target ("HOST:PORT"); close() plays a master
    dying: the port refuses from then on, open connections are cut."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.addr = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)   # wakes accept()
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# --------------------------------------------------------------------------
# helpers


def mount_list(c, name, masters, opts=None, timeout=30):
    """Mount c with the master string `masters` (the Mount helper takes the
    cluster's master_addr: give it a copy that says `masters`)."""
    view = copy.copy(c)
    view.master_addr = masters
    m = Mount(view, os.path.join(c.base, name), opts, c.log_path("mount-" + name))
    c.mounts.append(m)          # unmounted by the cluster's teardown too
    return m.start(timeout)


def drop_mount(c, m):
    m.unmount()
    if m in c.mounts:
        c.mounts.remove(m)


def mount_source(path):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields[0]
    return None


def round_trip(m, other, name, size=3 << 20):
    """Write a file through mount m, read it back through m and through
    the cluster's own mount `other`."""
    p = os.path.join(m.path, name)
    sha = write_random_file(p, size)
    assert sha256_file(p) == sha
    assert sha256_file(os.path.join(other.path, name)) == sha
    return sha


def run(argv, env=None, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def mount_refused(c, tmp_path, masters, want, opts=None):
    mnt = str(tmp_path / "refused")
    os.makedirs(mnt, exist_ok=True)
    r = run([MOUNT_BIN, "-f", "-o", ",".join(o for o in (c.mount_auth_opts(), opts) if o),
             masters, mnt])
    assert r.returncode != 0, r
    assert want in r.stderr, r.stderr
    assert not is_mounted(mnt)
    return r.stderr


def start_list_worker(c, name, masters, extra=()):
    """A worker of its own (data folder DIR/name) given `masters` (and
    flags `extra`); returns (Daemon, worker id) once it is live on the
    master."""
    d = os.path.join(c.base, name)
    os.makedirs(d, exist_ok=True)
    addr_file = os.path.join(d, "worker.addr")
    if os.path.exists(addr_file):
        os.unlink(addr_file)
    w = Daemon("bigfs-worker(%s)" % name,
               [WORKER_BIN, "--master", masters, "--data", d, "--listen", "127.0.0.1:0",
                "--secret", c.secret_path] + list(extra), c.log_path(name)).start()
    try:
        wait_for(lambda: os.path.exists(addr_file), 30, "%s's worker.addr" % name, [w.watch()])
        with open(os.path.join(d, "worker_id")) as f:
            wid = f.read().strip()
        wait_for(lambda: any(x["worker_id"] == wid and x.get("live")
                             for x in c.list_workers()),
                 30, "worker %s live on the master" % name, [w.watch()])
    except BaseException:
        w.stop()
        raise
    return w, wid


def stop_list_worker(c, w, wid):
    """Stop a worker of start_list_worker and wait until the master holds
    it dead: a stopped worker still counted live could get the next
    test's new chunks (every replica refused: EIO)."""
    w.stop()
    wait_for(lambda: not any(x["worker_id"] == wid and x.get("live")
                             for x in c.list_workers()),
             WORKER_TIMEOUT + 20, "worker %s dead on the master" % wid)


def log_has(path, text):
    try:
        with open(path, "rb") as f:
            return text in f.read().decode("utf-8", "replace")
    except OSError:
        return False


# --------------------------------------------------------------------------
# mounts


@pytest.mark.parametrize("order", ["dead-first", "dead-last"])
def test_600_mount_with_a_dead_master_in_the_list(mlc, order):
    real = mlc.master_addr
    masters = "%s,%s" % (DEAD, real) if order == "dead-first" else "%s,%s" % (real, DEAD)
    m = mount_list(mlc, "m600-" + order, masters)
    try:
        # the whole list is the mount's source, commas and all
        assert mount_source(m.path) == masters
        round_trip(m, mlc.mounts[0], "f600-" + order)
        if order == "dead-first":
            assert log_has(m.daemon.log, "master: %s -> %s" % (DEAD, real)), tail(m.daemon.log)
    finally:
        drop_mount(mlc, m)


def test_601_mount_follows_a_standby_to_the_active_master(mlc):
    real = mlc.master_addr
    sb = FakeStandby(real)
    try:
        # the standby first and a dead one between: the hint is followed
        m = mount_list(mlc, "m601", "%s,%s,%s" % (sb.addr, DEAD, real))
        try:
            round_trip(m, mlc.mounts[0], "f601")
            assert log_has(m.daemon.log, "master: %s -> %s" % (sb.addr, real)), \
                tail(m.daemon.log)
        finally:
            drop_mount(mlc, m)
    finally:
        sb.close()


@pytest.mark.parametrize("form", ["source", "option"])
def test_602_mount_a_subfolder_with_a_list(mlc, form):
    real = mlc.master_addr
    sub = "sub602-" + form
    os.makedirs(os.path.join(mlc.mounts[0].path, sub))
    with open(os.path.join(mlc.mounts[0].path, sub, "inside"), "w") as f:
        f.write("inside %s\n" % form)
    if form == "source":
        m = mount_list(mlc, "m602-" + form, "%s,http://%s:/%s" % (DEAD, real, sub))
    else:
        m = mount_list(mlc, "m602-" + form, "%s,%s" % (DEAD, real), opts="subdir=/" + sub)
    try:
        assert os.listdir(m.path) == ["inside"]
        with open(os.path.join(m.path, "inside")) as f:
            assert f.read() == "inside %s\n" % form
    finally:
        drop_mount(mlc, m)


@pytest.mark.parametrize("masters,want", [
    ("127.0.0.1:1,nohost", "entry 2 of the master list, 'nohost' is not a master address: "
                           "expected HOST:PORT"),
    ("127.0.0.1:1,,127.0.0.1:2", "entry 2 of the master list, '' is not a master address"),
    ("127.0.0.1:1,127.0.0.1:70000", "'127.0.0.1:70000' is not a master address: the port "
                                    "must be a number from 1 to 65535"),
    ("127.0.0.1:1,127.0.0.1:1", "'127.0.0.1:1' is in the master list twice"),
    ("http://127.0.0.1:1,https://127.0.0.1:2", "mixes http:// and https://"),
    (",".join("127.0.0.1:%d" % p for p in range(1, 18)), "at most 16 masters"),
], ids=["no-port", "empty", "bad-port", "twice", "schemes", "seventeen"])
def test_603_mount_refuses_a_bad_list(mlc, tmp_path, masters, want):
    mount_refused(mlc, tmp_path, masters, want)


def test_604_mount_with_no_master_answering_fails_at_once(mlc, tmp_path):
    t0 = time.monotonic()
    err = mount_refused(mlc, tmp_path, "127.0.0.1:1,127.0.0.1:2", "no active BigFS master")
    assert "127.0.0.1:1 does not answer (Connection refused)" in err
    assert "127.0.0.1:2 does not answer (Connection refused)" in err
    assert time.monotonic() - t0 < 20


# --------------------------------------------------------------------------
# workers


@pytest.mark.parametrize("kind", ["dead-first", "standby-first"])
def test_605_worker_with_a_list_registers(mlc, kind):
    real = mlc.master_addr
    sb = FakeStandby(real) if kind == "standby-first" else None
    first = sb.addr if sb else DEAD
    w = None
    try:
        w, wid = start_list_worker(mlc, "w605-" + kind, "%s,%s" % (first, real))
        assert log_has(w.log, "registered with the master at %s as %s" % (real, wid)), \
            tail(w.log)
        assert log_has(w.log, "master: %s -> %s" % (first, real)), tail(w.log)
    finally:
        if w:
            stop_list_worker(mlc, w, wid)
        if sb:
            sb.close()


@pytest.mark.parametrize("masters,want", [
    ("127.0.0.1:1,nohost", "entry 2 of the master list, 'nohost' is not a master address"),
    ("127.0.0.1:1,", "entry 2 of the master list, '' is not a master address"),
    ("https://127.0.0.1:1", "this worker has no TLS"),
], ids=["no-port", "trailing-comma", "https-without-tls"])
def test_606_worker_refuses_a_bad_list(mlc, tmp_path, masters, want):
    r = run([WORKER_BIN, "--master", masters, "--data", str(tmp_path), "--listen",
             "127.0.0.1:0"], timeout=30)
    assert r.returncode == 1, r
    assert want in r.stderr, r.stderr


# --------------------------------------------------------------------------
# bigfs (admin)


def test_607_admin_status_one_line_per_master(mlc):
    real = mlc.master_addr
    sb = FakeStandby(real)
    try:
        for how in ("flag", "env"):
            masters = "%s,%s,%s" % (DEAD, sb.addr, real)
            if how == "flag":
                r = run([ADMIN_BIN, "--master", masters, "status"], env={"BIGFS_MASTER": ""})
            else:
                r = run([ADMIN_BIN, "status"], env={"BIGFS_MASTER": masters})
            assert r.returncode == 0, r
            lines = r.stdout.splitlines()
            assert lines[:3] == ["master %s role down" % DEAD,
                                 "master %s role standby" % sb.addr,
                                 "master %s role active" % real], r.stdout
            assert re.search(r"^workers  2 live of \d+$", r.stdout, re.M), r.stdout
        # the workers view passes over the dead one and the standby
        r = run([ADMIN_BIN, "--master", "%s,%s,%s" % (DEAD, sb.addr, real), "workers"])
        assert r.returncode == 0, r
        assert len([l for l in r.stdout.splitlines() if " yes " in l]) == 2, r.stdout
        # one master: as before, no role lines
        r = run([ADMIN_BIN, "--master", real, "status"])
        assert r.returncode == 0, r
        assert r.stdout.splitlines()[0] == "master   %s" % real, r.stdout
    finally:
        sb.close()


def test_608_admin_no_active_master(mlc):
    r = run([ADMIN_BIN, "--master", "127.0.0.1:1,127.0.0.1:2", "status"])
    assert r.returncode == 1, r
    assert "master 127.0.0.1:1 role down" in r.stdout
    assert "master 127.0.0.1:2 role down" in r.stdout
    assert "no active master" in r.stderr
    r = run([ADMIN_BIN, "--master", "127.0.0.1:1,nohost", "status"])
    assert r.returncode == 2, r
    assert "entry 2 of the master list, 'nohost'" in r.stderr


# --------------------------------------------------------------------------
# a master dies under a running mount


LOCKER = r"""
import fcntl, os, struct, sys
FMT = "hhqqi4x"
fd = os.open(sys.argv[1], os.O_RDWR)
for line in sys.stdin:
    w = line.split()
    try:
        if w[0] == "setlk":
            fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack(FMT, fcntl.F_WRLCK, 0, 0, 100, 0))
        elif w[0] == "getlk":
            res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FMT, fcntl.F_WRLCK, 0, 0, 0, 0))
            lt, _, s, l, pid = struct.unpack(FMT, res)
            print("lk %d %d %d %d" % (lt == fcntl.F_WRLCK, s, l, pid), flush=True)
            continue
        print("ok", flush=True)
    except OSError as e:
        print("err %d" % e.errno, flush=True)
"""


class Locker:
    """A process with one file open that takes and tests POSIX locks."""

    def __init__(self, path):
        self.p = subprocess.Popen([PY, "-c", LOCKER, path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def do(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=20)


def test_609_mount_switches_when_its_master_dies(mlc):
    """The mount's first master (a proxy to the real one) dies; the real
    master restarts meanwhile, so the master the mount switches to knows
    neither its login nor its session: it logs in again, opens its session
    again with its open files and locks, and goes on."""
    real = mlc.master_addr
    proxy = TcpProxy(real)
    m = None
    a = b = None
    try:
        m = mount_list(mlc, "m609", "%s,%s" % (proxy.addr, real))
        before = os.path.join(m.path, "before")
        sha = write_random_file(before, 5 << 20)
        open_file = open(before, "rb")           # held open across the switch
        a = Locker(before)
        assert a.do("setlk") == ["ok"]
        b = Locker(os.path.join(mlc.mounts[0].path, "before"))
        assert b.do("getlk")[0:3] == ["lk", "1", "0"]    # a's lock, seen from the other mount

        proxy.close()                                    # the mount's master dies
        mlc.stop_master(signal.SIGKILL)                  # the next one knows nothing of it
        mlc.start_master()
        mlc.wait_live()

        # the mount goes on: a new file, the old one read through the open descriptor
        after = os.path.join(m.path, "after")
        sha2 = write_random_file(after, 1 << 20)
        assert sha256_file(after) == sha2
        assert sha256_file(os.path.join(mlc.mounts[0].path, "after")) == sha2
        assert open_file.read() and sha256_file(before) == sha
        open_file.close()
        log = m.daemon.log
        assert log_has(log, "master: %s -> %s" % (proxy.addr, real)), tail(log)
        assert log_has(log, "master %s: logged in again" % real), tail(log)
        # its lock was declared again to the new master: the other mount sees it
        wait_for(lambda: b.do("getlk")[0:4] == ["lk", "1", "0", "100"], 20,
                 "the lock declared again to the master switched to")
    finally:
        for p in (a, b):
            if p:
                p.stop()
        proxy.close()
        if m:
            drop_mount(mlc, m)


# --------------------------------------------------------------------------
# TLS: every entry https://


@pytest.fixture(scope="module")
def tls_mlc(tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("certs600"))
    c = make_cluster(tmp_path_factory, "masterlist-tls", nworkers=2, tls_dir=certs,
                     master_args=["--worker-timeout", str(WORKER_TIMEOUT)])
    yield c
    finish_cluster(c)


def test_609b_tls_list(tls_mlc, tmp_path):
    c = tls_mlc
    real = c.master_addr
    masters = "https://%s,https://%s" % (DEAD, real)
    m = mount_list(c, "m609b", masters)
    w = None
    try:
        assert mount_source(m.path) == "%s,%s" % (DEAD, real)
        round_trip(m, c.mounts[0], "f609b")
        tls = ["--tls-cert", os.path.join(c.tls_dir, "server.pem"),
               "--tls-key", os.path.join(c.tls_dir, "server.key"), "--tls-ca", c.tls_ca]
        w, wid = start_list_worker(c, "w609b", masters, tls)
        r = run([ADMIN_BIN, "--cafile", c.tls_ca, "--master", masters, "status"])
        assert r.returncode == 0, r
        assert r.stdout.splitlines()[:2] == ["master %s role down" % DEAD,
                                             "master %s role active" % real], r.stdout
    finally:
        if w:
            stop_list_worker(c, w, wid)
        drop_mount(c, m)
    # a listed master that speaks plain HTTP is named at start
    plain = FakeStandby(real)
    try:
        mount_refused(c, tmp_path, "%s,%s" % (plain.addr, real),
                      "the master at %s did not complete a TLS handshake" % plain.addr,
                      opts="tls,cafile=" + c.tls_ca)
    finally:
        plain.close()
