"""Shared fixtures of the BigFS integration tests.

A `Cluster` starts a real master and N real workers on 127.0.0.1 with
ephemeral ports (port 0, then the .addr files the daemons write), mounts the
filesystem with `mount.bigfs -f` in a subprocess, and always cleans up: lazy
unmount, SIGTERM, then SIGKILL after a deadline.  Every wait is a poll loop
with a short interval and a total deadline that also checks the processes
it waits on are still alive (modelled on libfuse's test/util.py).

A test fails when a daemon log shows a sanitizer report (AddressSanitizer,
UndefinedBehaviorSanitizer "runtime error:", LeakSanitizer,
ThreadSanitizer); on a failure the tail of every daemon log is attached to
the report.  Without root or /dev/fuse every test skips with the reason.

Binaries come from $BIGFS_BUILD (default ./build of the repository).
"""

import errno
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("BIGFS_BUILD", os.path.join(REPO, "build")))
MASTER_BIN = os.path.join(BUILD, "bigfs-master")
WORKER_BIN = os.path.join(BUILD, "bigfs-worker")
MOUNT_BIN = os.path.join(BUILD, "mount.bigfs")

CHUNK_SIZE = 64 << 20
SANITIZER_RE = re.compile(
    r"(AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer"
    r"|runtime error:|MemorySanitizer)")

# Every live Cluster, so hooks can show logs and check for sanitizer reports;
# and those the running test stopped itself (its own cluster, finished in its
# finally before the report is made), whose logs a failure shows too.
_ACTIVE = []
_STOPPED = []
_ACTIVE_LOCK = threading.Lock()


# --------------------------------------------------------------------------
# small helpers


def skip_reason():
    """Why the integration tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "integration tests need root (to mount FUSE and drop caches)"
    if not os.path.exists("/dev/fuse"):
        return "integration tests need /dev/fuse"
    if not shutil.which("fusermount3"):
        return "integration tests need fusermount3 (package fuse3)"
    return None


def wait_for(pred, timeout, what, procs=()):
    """Poll pred() every 50 ms until it returns a true value (returned) or
    timeout seconds passed (AssertionError naming `what`).  Each poll first
    checks that every (name, Popen, logpath) in procs is still running."""
    deadline = time.monotonic() + timeout
    while True:
        for name, proc, log in procs:
            rc = proc.poll()
            if rc is not None:
                raise AssertionError(
                    "%s exited with status %s while waiting for %s\n--- %s ---\n%s"
                    % (name, rc, what, log, tail(log)))
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(lines[-n:])


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def write_random_file(path, size, seed=None):
    """Write size random bytes to path, fsync, return their sha256."""
    h = hashlib.sha256()
    rnd = None
    if seed is not None:
        import random
        rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            b = rnd.randbytes(n) if rnd else os.urandom(n)
            f.write(b)
            h.update(b)
            left -= n
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def drop_caches():
    """Make the next read of a file on the mount go to the daemons."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def let_feed_settle():
    """Let the master's change feed bring the mounts what earlier steps
    (earlier tests, API calls) changed: each such event makes a mount stop
    using names and folder attributes it keeps (fuse/meta_cache.h), so a
    step that counts master calls, or must not need the master, waits for
    them first."""
    time.sleep(0.5)


def errno_of(fn, *args, **kw):
    """Call fn and return the errno of the OSError it raises (or None)."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


def make_token(secret, chunk_id, version, op, expiry):
    """A data token as common/token.h defines it: "EXPIRY.HMAC" with
    HMAC-SHA256(secret, "chunk_id:version:op:expiry") in 64 hex digits."""
    if isinstance(chunk_id, int):
        chunk_id = "%016x" % chunk_id
    msg = ("%s:%d:%s:%d" % (chunk_id, version, op, expiry)).encode()
    return "%d.%s" % (expiry, hmac.new(secret, msg, hashlib.sha256).hexdigest())


# CA files of the TLS clusters started so far: https:// calls of http()
# trust them (tests that check a wrong CA pass their own context).
_TLS_CAFILES = []


def tls_context(cafiles=None):
    """An ssl context that verifies against cafiles (default: every TLS
    cluster's CA)."""
    ctx = ssl.create_default_context()
    for ca in (_TLS_CAFILES if cafiles is None else cafiles):
        ctx.load_verify_locations(cafile=ca)
    return ctx


def make_certs(d, *hosts):
    """scripts/make-certs.sh into d: returns d (ca.pem, server.pem, ...)."""
    d = str(d)
    subprocess.run([os.path.join(REPO, "scripts", "make-certs.sh"), d] + list(hosts),
                   check=True, stdout=subprocess.DEVNULL)
    return d


def http(method, url, body=None, headers=None, timeout=30, context=None):
    """One HTTP call; returns (status, headers, body bytes) for any status.
    body may be bytes, str or a JSON-able object. An https URL is verified
    with context (default: tls_context())."""
    data = body
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    if context is None and url.startswith("https://"):
        context = tls_context()
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def cluster_sign(secret, method, path, body, now=None, nonce=None):
    """Authorization value of a worker's call (common/auth.h)."""
    t = str(int(time.time() if now is None else now))
    nonce = nonce or os.urandom(16).hex()
    msg = "\n".join(["bigfs-cluster", method, path, t, nonce]).encode() + b"\n" + body
    return "BigFS-Cluster %s %s %s" % (t, nonce, hmac.new(secret, msg, hashlib.sha256).hexdigest())


class ApiSession:
    """A signed session on the master API, as a mount has one (docs/api.md
    "Authentication"): challenge, login with the export's password, then
    every call signed "BigFS ID SEQ MAC"; logs in again on a 401."""

    def __init__(self, url, password=b"", path="/"):
        self.url = url
        self.password = password if isinstance(password, bytes) else password.encode()
        self.path = path
        self.auth = None
        self.key = None
        self.seq = 0
        self.login_reply = None
        self.lock = threading.Lock()

    @staticmethod
    def mac(key, *parts, body=None):
        msg = "\n".join(parts).encode()
        if body is not None:
            msg += b"\n" + body
        return hmac.new(key, msg, hashlib.sha256).hexdigest()

    def login(self, password=None, path=None, timeout=30):
        """Returns (status, reply JSON, raw); on success the session is kept."""
        pw = self.password if password is None else password
        path = self.path if path is None else path
        st, _, raw = http("POST", self.url + "/v1/auth/challenge", {}, timeout=timeout)
        assert st == 200, "challenge: %s %r" % (st, raw[:200])
        nonce = json_of(raw)["nonce"]
        cnonce = os.urandom(16).hex()
        proof = self.mac(pw, "bigfs-login", nonce, cnonce, path)
        st, _, raw = http("POST", self.url + "/v1/auth/login",
                          {"nonce": nonce, "cnonce": cnonce, "path": path, "proof": proof},
                          timeout=timeout)
        j = json_of(raw)
        if st == 200:
            assert j["server_proof"] == self.mac(pw, "bigfs-server", nonce, cnonce), j
            with self.lock:
                self.auth = j["auth"]
                self.key = hmac.new(pw, ("bigfs-key\n%s\n%s" % (nonce, cnonce)).encode(),
                                    hashlib.sha256).digest()
                self.seq = 0
                self.login_reply = j
        return st, j, raw

    def sign(self, method, path, body):
        with self.lock:
            self.seq += 1
            seq = self.seq
            auth, key = self.auth, self.key
        return "BigFS %s %d %s" % (auth, seq, self.mac(key, method, path, str(seq), body=body))

    def call(self, method, path, body=None, headers=None, timeout=30):
        """One signed call: (status, headers, raw body). body: bytes, str or
        a JSON-able object (its bytes as sent are what is signed)."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.auth is None:
                st, _, raw = self.login(timeout=timeout)
                assert st == 200, "login: %s %r" % (st, raw[:300])
            hdrs["Authorization"] = self.sign(method, path.split("?")[0], body or b"")
            st, rh, raw = http(method, self.url + path, body, hdrs, timeout)
            if st != 401:
                break
            self.auth = None
        return st, rh, raw


def json_of(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def read_locations(path):
    """bigfs.locations of a file: list of (index, chunk_id, version, [worker ids])."""
    raw = os.getxattr(path, "bigfs.locations").decode()
    out = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        assert len(parts) >= 3, "bad bigfs.locations line %r" % line
        out.append((int(parts[0]), parts[1], int(parts[2]), parts[3:]))
    return out


# --------------------------------------------------------------------------
# processes


class Daemon:
    """One child process with its log file."""

    def __init__(self, name, argv, log):
        self.name = name
        self.argv = argv
        self.log = log
        self.proc = None

    def start(self):
        with open(self.log, "ab") as lf:
            lf.write(("\n=== start: %s\n" % " ".join(self.argv)).encode())
            lf.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def watch(self):
        return (self.name, self.proc, self.log)

    def send(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send sig, wait up to timeout s, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode


class Mount:
    def __init__(self, cluster, path, opts, log):
        self.cluster = cluster
        self.path = path
        self.opts = opts
        argv = [MOUNT_BIN, "-f"]
        if opts is None or ("passfile=" not in opts and "password=" not in opts):
            auth = cluster.mount_auth_opts()
            opts = ",".join(o for o in (opts, auth) if o)
        if cluster.tls_dir and "tls" not in (opts or "").split(","):
            opts = ",".join(o for o in (opts, "tls,cafile=" + cluster.tls_ca) if o)
        if opts:
            argv += ["-o", opts]
        argv += [cluster.master_addr, path]
        self.daemon = Daemon("mount.bigfs(%s)" % os.path.basename(path), argv, log)

    def start(self, timeout=30):
        os.makedirs(self.path, exist_ok=True)
        self.daemon.start()
        wait_for(lambda: is_mounted(self.path), timeout,
                 "the mount at %s" % self.path, [self.daemon.watch()])
        return self

    def unmount(self):
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-u", "-z", self.path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.daemon.stop(timeout=10)


def is_mounted(path):
    """True if path is a mountpoint in /proc/self/mountinfo (does not touch
    the filesystem, so it cannot hang on a stuck daemon)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4].replace("\\040", " ") == path:
                    return True
    except OSError:
        pass
    return False


class Cluster:
    """A master and N workers on loopback, and mounts of them."""

    def __init__(self, base, nworkers=3, master_args=(), worker_args=(), tls_dir=None):
        self.base = str(base)
        self.nworkers = nworkers
        self.master_args = list(master_args)
        self.worker_args = list(worker_args)
        # TLS (tls_dir made by make_certs): every daemon serves https with
        # its server.pem and verifies its peers with ca.pem; mounts get
        # -o tls,cafile=ca.pem.
        self.tls_dir = str(tls_dir) if tls_dir else None
        self.tls_ca = os.path.join(self.tls_dir, "ca.pem") if tls_dir else None
        if self.tls_dir:
            tls_args = ["--tls-cert", os.path.join(self.tls_dir, "server.pem"),
                        "--tls-key", os.path.join(self.tls_dir, "server.key"),
                        "--tls-ca", self.tls_ca]
            self.master_args += tls_args
            self.worker_args += tls_args
            if self.tls_ca not in _TLS_CAFILES:
                _TLS_CAFILES.append(self.tls_ca)
        self.master_dir = os.path.join(self.base, "master")
        self.worker_dirs = [os.path.join(self.base, "w%d" % i) for i in range(nworkers)]
        self.master = None
        self.master_addr = None
        self.workers = [None] * nworkers
        self.mounts = []
        self.log_offsets = {}
        for d in [self.master_dir] + self.worker_dirs:
            os.makedirs(d, exist_ok=True)
        # Who may mount: unless a test gives its own --exports, every
        # cluster runs as `local-cluster up` does: one rule, a password
        # kept in a 0600 file that every mount passes with passfile=.
        self.pass_file = os.path.join(self.base, "mount.pass")
        self.exports_file = os.path.join(self.base, "exports.cfg")
        if "--exports" not in self.master_args:
            self.password = os.urandom(12).hex()
            with open(os.open(self.pass_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                      "w") as f:
                f.write(self.password + "\n")
            with open(self.exports_file, "w") as f:
                f.write("# written by the test's Cluster\n* / rw,passfile=%s\n" % self.pass_file)
            self.master_args += ["--exports", self.exports_file]
        else:
            self.password = None
        self.session = None
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)

    # -- master ----------------------------------------------------------
    @property
    def url(self):
        return ("https://" if self.tls_dir else "http://") + self.master_addr

    def mount_auth_opts(self):
        """The -o options a mount of this cluster needs to log in."""
        return "passfile=" + self.pass_file if self.password is not None else ""

    def log_path(self, name):
        return os.path.join(self.base, name + ".log")

    def start_master(self, timeout=30):
        """Start the master: the first time on port 0, later on the same
        address it had (a restart). Waits for master.addr and /v1/health."""
        listen = self.master_addr or "127.0.0.1:0"
        addr_file = os.path.join(self.master_dir, "master.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        argv = [MASTER_BIN, "--data", self.master_dir, "--listen", listen] + self.master_args
        self.master = Daemon("bigfs-master", argv, self.log_path("master")).start()
        procs = [self.master.watch()]

        def addr():
            try:
                with open(addr_file) as f:
                    s = f.read()
            except FileNotFoundError:
                return None
            return s.strip() if s.endswith("\n") else None

        got = wait_for(addr, timeout, "master.addr", procs)
        if self.master_addr:
            assert got == self.master_addr, "master restarted on %s, not %s" % (got, self.master_addr)
        self.master_addr = got
        wait_for(self._healthy, timeout, "master /v1/health", procs)
        return self

    def _healthy(self):
        try:
            st, _, body = http("GET", self.url + "/v1/health", timeout=2)
        except OSError:
            return False
        return st == 200 and (json_of(body) or {}).get("ok") is True

    def stop_master(self, sig=signal.SIGTERM):
        return self.master.stop(sig)

    @property
    def secret_path(self):
        return os.path.join(self.master_dir, "secret")

    def secret(self):
        with open(self.secret_path, "rb") as f:
            return f.read()

    # -- workers ---------------------------------------------------------
    def start_worker(self, i, timeout=30):
        d = self.worker_dirs[i]
        addr_file = os.path.join(d, "worker.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        argv = [WORKER_BIN, "--master", self.master_addr, "--data", d,
                "--listen", "127.0.0.1:0", "--secret", self.secret_path] + self.worker_args
        w = Daemon("bigfs-worker-%d" % i, argv, self.log_path("w%d" % i)).start()
        self.workers[i] = w

        def addr():
            try:
                with open(addr_file) as f:
                    s = f.read()
            except FileNotFoundError:
                return None
            return s.strip() if s.endswith("\n") else None

        wait_for(addr, timeout, "worker %d's worker.addr" % i, [w.watch()])
        return w

    def worker_addr(self, i):
        with open(os.path.join(self.worker_dirs[i], "worker.addr")) as f:
            return f.read().strip()

    def worker_id(self, i):
        with open(os.path.join(self.worker_dirs[i], "worker_id")) as f:
            return f.read().strip()

    def worker_index(self, wid):
        for i in range(self.nworkers):
            try:
                if self.worker_id(i) == wid:
                    return i
            except FileNotFoundError:
                pass
        raise KeyError(wid)

    def kill_worker(self, i, sig=signal.SIGKILL):
        return self.workers[i].stop(sig)

    def list_workers(self):
        st, _, body = http("GET", self.url + "/v1/cluster/workers", timeout=5)
        assert st == 200, "GET /v1/cluster/workers: %s %r" % (st, body[:200])
        return json_of(body)["workers"]

    def wait_live(self, indexes=None, timeout=40):
        """Wait until the given workers (default: all running) are live in
        /v1/cluster/workers under the ids in their worker_id files."""
        if indexes is None:
            indexes = [i for i, w in enumerate(self.workers) if w and w.alive()]
        procs = [self.master.watch()] + [self.workers[i].watch() for i in indexes]

        def ok():
            try:
                ids = {self.worker_id(i) for i in indexes}
            except FileNotFoundError:
                return False
            try:
                live = {w["worker_id"] for w in self.list_workers() if w.get("live")}
            except (OSError, AssertionError):
                return False
            return ids <= live

        wait_for(ok, timeout, "workers %s live in /v1/cluster/workers" % indexes, procs)

    def start(self):
        self.start_master()
        for i in range(self.nworkers):
            self.start_worker(i)
        self.wait_live()
        return self

    def all_procs(self):
        ps = [self.master] + self.workers + [m.daemon for m in self.mounts]
        return [p for p in ps if p is not None]

    # -- mounts ----------------------------------------------------------
    def mount(self, name="mnt", opts=None, timeout=30):
        path = os.path.join(self.base, name)
        m = Mount(self, path, opts, self.log_path("mount-" + name))
        self.mounts.append(m)
        return m.start(timeout)

    # -- master API ------------------------------------------------------
    def api_session(self):
        if self.session is None or self.session.url != self.url:
            self.session = ApiSession(self.url, self.password or "")
        return self.session

    def http(self, method, path, body=None, headers=None, timeout=30):
        """A signed call on the test's own session: (status, headers, raw)."""
        return self.api_session().call(method, path, body, headers, timeout)

    def cluster_http(self, method, path, body=None, headers=None, timeout=30, secret=None):
        """A call signed with the cluster secret, as a worker makes one:
        (status, headers, raw)."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = dict(headers or {})
        hdrs["Authorization"] = cluster_sign(self.secret() if secret is None else secret,
                                             method, path, body or b"")
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        return http(method, self.url + path, body, hdrs, timeout)

    def api(self, method, path, body=None, headers=None, timeout=30):
        """A signed call; returns (status, parsed JSON or None, raw body)."""
        st, _, raw = self.http(method, path, body, headers, timeout)
        return st, json_of(raw), raw

    # -- logs ------------------------------------------------------------
    def logs(self):
        return sorted(os.path.join(self.base, f) for f in os.listdir(self.base)
                      if f.endswith(".log"))

    def new_sanitizer_reports(self):
        """Sanitizer lines that appeared in the logs since the last call."""
        found = []
        for log in self.logs():
            off = self.log_offsets.get(log, 0)
            try:
                with open(log, "rb") as f:
                    f.seek(off)
                    data = f.read()
            except OSError:
                continue
            self.log_offsets[log] = off + len(data)
            for line in data.decode("utf-8", "replace").splitlines():
                if SANITIZER_RE.search(line):
                    found.append("%s: %s" % (os.path.basename(log), line))
        return found

    def stop(self):
        """Always safe: unmount lazily, TERM then KILL everything."""
        for m in reversed(self.mounts):
            m.unmount()
        for w in self.workers:
            if w:
                w.stop()
        if self.master:
            self.master.stop()
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
                _STOPPED.append(self)


# --------------------------------------------------------------------------
# fixtures and hooks


def make_cluster(tmp_path_factory, name, nworkers=3, mount_opts=None, trash=False, **kw):
    """trash=False: removed files go at once (bigfs.trashtime 0 on the
    root), as the tests written before the trash expect; trash=True keeps
    the default trashtime of a day."""
    reason = skip_reason()
    if reason:
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail(reason + " (BIGFS_NO_SKIP=1: skipping is not allowed here)")
        pytest.skip(reason)
    for b in (MASTER_BIN, WORKER_BIN, MOUNT_BIN):
        assert os.access(b, os.X_OK), "%s is missing: run make first (BIGFS_BUILD=%s)" % (b, BUILD)
    base = tmp_path_factory.mktemp(name)
    c = Cluster(base, nworkers, **kw)
    try:
        c.start()
        c.mount(opts=mount_opts)
        if not trash:
            os.setxattr(c.mounts[0].path, "bigfs.trashtime", b"0")
    except BaseException:
        reports = c.new_sanitizer_reports()
        c.stop()
        if reports:
            pytest.fail("sanitizer report:\n" + "\n".join(reports))
        raise
    return c


def finish_cluster(c):
    reports = c.new_sanitizer_reports()
    c.stop()
    reports += c.new_sanitizer_reports()
    if reports:
        pytest.fail("sanitizer report in a daemon log:\n" + "\n".join(reports))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A cluster shared by the tests that do not break anything: master,
    3 workers, a mount at cluster.mounts[0].path."""
    c = make_cluster(tmp_path_factory, "shared")
    yield c
    finish_cluster(c)


@pytest.fixture
def mnt(cluster, request):
    """A fresh directory on the shared cluster's mount for one test."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:100]
    d = os.path.join(cluster.mounts[0].path, name)
    os.mkdir(d)
    return d


@pytest.fixture(autouse=True)
def _sanitizer_check():
    """Fail the test during which a sanitizer report appeared in a log."""
    with _ACTIVE_LOCK:
        del _STOPPED[:]
    yield
    with _ACTIVE_LOCK:
        clusters = list(_ACTIVE)
    reports = []
    for c in clusters:
        reports += c.new_sanitizer_reports()
    if reports:
        pytest.fail("sanitizer report in a daemon log:\n" + "\n".join(reports))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        with _ACTIVE_LOCK:
            clusters = list(_ACTIVE) + list(_STOPPED)
        for c in clusters:
            for log in c.logs():
                rep.sections.append(("log " + log, tail(log, 30)))


def pytest_sessionfinish(session, exitstatus):
    # Whatever happened, leave no process or mount behind.
    with _ACTIVE_LOCK:
        clusters = list(_ACTIVE)
    for c in clusters:
        c.stop()


__all__ = ["make_certs", "tls_context", "Cluster", "wait_for", "sha256_file", "write_random_file", "drop_caches",
           "errno_of", "make_token", "http", "json_of", "read_locations", "tail",
           "CHUNK_SIZE", "errno"]
