"""A writer-and-verifier workload for the fault tests.

`Workload(root, ...)` runs on a directory of a real mount, from threads of
this process, while a test breaks the cluster under it:

- writers create files of mixed sizes (a few KiB up to ~130 MiB, i.e.
  three chunks), each written in 1 MiB pieces of random bytes from a
  generator seeded per file, so any prefix of any file can be computed
  again later; optionally fsync()ed at the end or every few MiB. A file is
  *acknowledged* when its close() returned 0 (or, for a prefix, when an
  fsync() did); the workload keeps the sha256 of what was acknowledged;
- verifiers re-read acknowledged files (a fresh open, so the mount drops
  its page cache: close-to-open) and compare their sha256;
- with `namespace=True` the writers also rename, unlink and atomically
  replace (write a temporary file, fsync, rename over) their own files,
  and the workload keeps what each name must resolve to;
- with `writers=0` after `prepare()` it is read-only: the verifiers read a
  pre-written set again and again (the "during reads" faults).

Every syscall the application makes is timed (the longest one, with its
operation and path, and the longest of the read side and of the write
side); every failed syscall is counted with its errno and path, and a
read that returns other bytes than were acknowledged counts as an error
too. `stop()` ends the threads; `verify_all()` reads everything back once
more, after the fault, and `summary()` returns the figures.

Only threads and plain syscalls (os.open/os.write/os.read/os.fsync/...):
no buffering layer between the application and the mount, so what is
timed is exactly what the kernel returned.

Tests run it as `WorkloadProcess`, in a process of its own, never in the
test's process: the test starts daemons (a restarted master or worker),
and a fork+exec from a process with files open on a FUSE mount closes
those descriptors in the child, which sends the mount a FLUSH for each —
BigFS commits there, so the test's own fork would wait on the very master
it is about to start, and the flushes would disturb the figures.
"""

import errno
import hashlib
import multiprocessing
import os
import random
import threading
import time

MiB = 1 << 20
PIECE = MiB

# Sizes a writer picks from: many small files, and every BIG_EVERY-th file
# a big one (cycling through BIG_SIZES) while the byte budget allows.
SMALL_SIZES = [4096, 4097, 17000, 65536, 100000, 300000, MiB + 3, 3 * MiB]
BIG_SIZES = [5 * MiB, 24 * MiB + 7, 70 * MiB, 130 * MiB]
BIG_EVERY = 4
SLOW_CALL_S = 1.0   # calls at least this long are listed in the summary
SMALL_READ_MAX = MiB + 3   # what the small readers read

READ_OPS = {"open", "read", "close"}


def _file_seed(seed, *parts):
    h = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


def pieces(seed, size):
    """The content of a file: `size` bytes as 1 MiB pieces (the last one
    shorter) from random.Random(seed). Generated the same way every time,
    so a prefix can be recomputed."""
    rnd = random.Random(seed)
    off = 0
    while off < size:
        n = min(PIECE, size - off)
        yield rnd.randbytes(n)
        off += n


def content_sha(seed, size, prefix=None):
    """sha256 of the first `prefix` bytes (default all) of the content."""
    if prefix is None:
        prefix = size
    h = hashlib.sha256()
    left = prefix
    for b in pieces(seed, size):
        if left <= 0:
            break
        h.update(b[:left])
        left -= len(b)
    return h.hexdigest()


class Rec:
    """One file's content: seed, intended size, what was written so far,
    what is acknowledged (`acked`: bytes covered by a close() or fsync()
    that returned 0) and the sha256 of the acknowledged content when the
    file was closed (`sha`)."""

    __slots__ = ("seed", "size", "created", "written", "synced", "sha", "closed")

    def __init__(self, seed, size):
        self.seed = seed
        self.size = size
        self.created = False
        self.written = 0
        self.synced = 0
        self.sha = None
        self.closed = False


class Throttle:
    """Shared byte budget per second for a group of threads, so a workload
    leaves the 2 CPUs to the cluster and its volume is known. rate None:
    no limit. The waits are not syscalls of the application and are not
    timed."""

    def __init__(self, rate, stop_ev):
        self.rate = rate
        self.stop_ev = stop_ev
        self.lock = threading.Lock()
        self.next_t = time.monotonic()

    def take(self, n):
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_t)
            self.next_t = start + n / self.rate
        if start > now:
            self.stop_ev.wait(start - now)


class CallStats:
    """Thread-safe record of timed syscalls and their errors."""

    def __init__(self):
        self.lock = threading.Lock()
        self.max_call = {"seconds": 0.0, "op": None, "path": None}
        self.max_read = 0.0
        self.max_write = 0.0
        self.calls = 0
        self.slow = []
        self.errors = []

    def timed(self, op, path, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        except OSError as e:
            self.error(op, path, e.errno, str(e))
            raise
        finally:
            self.took(op, path, time.monotonic() - t0, t0)

    def took(self, op, path, dt, t0):
        with self.lock:
            self.calls += 1
            if dt > self.max_call["seconds"]:
                self.max_call = {"seconds": dt, "op": op, "path": path}
            if op in READ_OPS:
                self.max_read = max(self.max_read, dt)
            else:
                self.max_write = max(self.max_write, dt)
            if dt >= SLOW_CALL_S:
                self.slow.append({"op": op, "path": path, "seconds": round(dt, 3),
                                  "at": round(t0, 3)})

    def error(self, op, path, err, text):
        with self.lock:
            self.errors.append({"op": op, "path": path,
                                "errno": errno.errorcode.get(err, err) if err else None,
                                "error": text, "at": round(time.monotonic(), 3)})


class Workload:
    def __init__(self, root, seed=1, writers=2, readers=1, small_readers=0, fsync="end",
                 fsync_every=8 * MiB,
                 namespace=False, write_rate=24 * MiB, read_rate=48 * MiB,
                 max_bytes=1024 * MiB, big_sizes=BIG_SIZES, small_sizes=SMALL_SIZES,
                 big_every=BIG_EVERY):
        """root: an existing, empty directory on the mount (the workload's
        only one). fsync: "none", "end" (fsync before close), "periodic"
        (every fsync_every bytes and before close) or "random" (per file).
        write_rate, read_rate: bytes/s for all writers, for all readers
        (None: as fast as they go). max_bytes: after this many bytes begun,
        writers make small files only. small_readers: more verifiers that
        read only files up to SMALL_READ_MAX, so many opens and reads a
        second reach the master and the workers."""
        assert fsync in ("none", "end", "periodic", "random"), fsync
        self.root = root
        self.seed = seed
        self.nwriters = writers
        self.nreaders = readers
        self.nsmall_readers = small_readers
        self.fsync = fsync
        self.fsync_every = fsync_every
        self.namespace = namespace
        self.max_bytes = max_bytes
        self.big_sizes = list(big_sizes)
        self.small_sizes = list(small_sizes)
        self.big_every = big_every
        self.stats = CallStats()        # the workload while it runs
        self.check = CallStats()        # verify_all, after the fault
        self.lock = threading.Lock()    # guards everything below
        self.recs = {}                  # path -> Rec, every file ever created
        self.stable = []                # acknowledged paths no writer changes again
        self.stable_small = []          # those up to SMALL_READ_MAX
        self.names = {}                 # namespace mode: name -> Rec or None (absent)
        self.uncertain = []             # namespace mode: [(names, {name: Rec|None}, {..})]
        self.bytes_begun = 0
        self.bytes_acked = 0
        self.files_acked = 0
        self.bytes_verified = 0
        self.mismatches = []
        self.lost = []                  # what verify_all found wrong
        self.threads = []
        self.stop_ev = threading.Event()
        self.wthrottle = Throttle(write_rate, self.stop_ev)
        self.rthrottle = Throttle(read_rate, self.stop_ev)
        self.started_at = None
        self.stopped_at = None
        self.stuck = []

    # -- set-up ----------------------------------------------------------
    def prepare(self, sizes, prefix="pre"):
        """Write and close (with fsync) one file per size before the fault;
        any error raises. These become the verifiers' set."""
        for i, size in enumerate(sizes):
            path = os.path.join(self.root, "%s-%03d" % (prefix, i))
            rec = Rec(_file_seed(self.seed, prefix, i), size)
            with self.lock:
                self.recs[path] = rec
            self._write_file(path, rec, self.check, fsync_mode="end")
            with self.lock:
                self._ack(path, rec, stable=True)
        return self

    # -- threads ---------------------------------------------------------
    def start(self):
        self.started_at = time.monotonic()
        for w in range(self.nwriters):
            self._spawn("writer-%d" % w, self._writer, w)
        for r in range(self.nreaders):
            self._spawn("reader-%d" % r, self._reader, r)
        for r in range(self.nsmall_readers):
            self._spawn("small-reader-%d" % r, self._reader, -1 - r)
        return self

    def _spawn(self, name, fn, arg):
        def run():
            try:
                fn(arg)
            except BaseException as e:   # a bug here must not pass as "no error"
                self.stats.error("thread", name, None, "%s died: %r" % (name, e))
                raise
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self, timeout=180):
        """Stop the threads (a writer finishes the file it is on, in the
        pieces it has written so far). A thread still stuck in a syscall
        after `timeout` s is an error of its own."""
        self.stop_ev.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                self.stuck.append(t.name)
                self.stats.error("thread", t.name, None, "still in a syscall after stop")
        self.stopped_at = time.monotonic()
        return self

    def wait(self, seconds):
        """Let the workload run for `seconds` (returns early if stopped)."""
        self.stop_ev.wait(seconds)

    def wait_acked(self, nbytes, timeout):
        """Wait until at least nbytes are acknowledged; True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.bytes_acked >= nbytes:
                    return True
            time.sleep(0.05)
        return False

    def _idle(self, seconds=0.2):
        self.stop_ev.wait(seconds)

    def _pick_size(self, rnd, n):
        with self.lock:
            budget = self.bytes_begun < self.max_bytes
        if budget and self.big_sizes and n % self.big_every == self.big_every - 1:
            return self.big_sizes[(n // self.big_every) % len(self.big_sizes)]
        return rnd.choice(self.small_sizes)

    def _fsync_mode(self, rnd):
        if self.fsync == "random":
            return rnd.choice(["none", "end", "periodic"])
        return self.fsync

    def _write_file(self, path, rec, stats, fsync_mode, stop_ev=None, throttle=None):
        """Create path and write rec's content; returns normally once close()
        returned 0 (rec.closed, rec.sha set), raises OSError otherwise.
        With stop_ev set midway, stops after the current piece and closes."""
        fd = stats.timed("create", path, os.open, path,
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        rec.created = True
        h = hashlib.sha256()
        since_sync = 0
        try:
            for b in pieces(rec.seed, rec.size):
                if throttle is not None:
                    throttle.take(len(b))
                if stop_ev is not None and stop_ev.is_set():
                    break
                view = memoryview(b)
                while view:
                    n = stats.timed("write", path, os.write, fd, view)
                    view = view[n:]
                    rec.written += n
                h.update(b)
                since_sync += len(b)
                if fsync_mode == "periodic" and since_sync >= self.fsync_every:
                    stats.timed("fsync", path, os.fsync, fd)
                    rec.synced = rec.written
                    since_sync = 0
            if fsync_mode in ("end", "periodic"):
                stats.timed("fsync", path, os.fsync, fd)
                rec.synced = rec.written
        except OSError:
            try:
                stats.timed("close", path, os.close, fd)
            except OSError:
                pass
            raise
        stats.timed("close", path, os.close, fd)
        rec.closed = True
        rec.synced = rec.written
        rec.sha = h.hexdigest()

    def _ack(self, path, rec, stable):
        """Caller holds self.lock."""
        self.bytes_acked += rec.written
        self.files_acked += 1
        if stable:
            self.stable.append(path)
            if rec.written <= SMALL_READ_MAX:
                self.stable_small.append(path)

    def _writer(self, w):
        rnd = random.Random(_file_seed(self.seed, "writer", w))
        n = 0
        while not self.stop_ev.is_set():
            name = "w%d-%05d" % (w, n)
            path = os.path.join(self.root, name)
            size = self._pick_size(rnd, n)
            rec = Rec(_file_seed(self.seed, w, n), size)
            role = n % 4 if self.namespace else 0
            n += 1
            with self.lock:
                self.recs[path] = rec
                self.bytes_begun += size
                if self.namespace:
                    self.names[name] = None
            try:
                self._write_file(path, rec, self.stats, self._fsync_mode(rnd), self.stop_ev,
                                 self.wthrottle)
            except OSError:
                with self.lock:
                    if self.namespace:
                        self.uncertain.append(((name,), {name: None}, {name: "any"}))
                self._idle()
                continue
            with self.lock:
                self._ack(path, rec, stable=(role == 0))
                if self.namespace:
                    self.names[name] = rec
            if self.namespace and not self.stop_ev.is_set():
                self._namespace_op(w, rnd, name, rec, role)

    def _namespace_op(self, w, rnd, name, rec, role):
        """role 1: rename name -> name.mv; 2: unlink; 3: replace it with a
        new version (tmp file, fsync, close, rename over). Each name is
        touched once, right after its file was closed."""
        path = os.path.join(self.root, name)
        if role == 1:
            new = name + ".mv"
            self._rename(name, new, {name: None, new: rec}, {name: rec, new: None})
        elif role == 2:
            try:
                self.stats.timed("unlink", path, os.unlink, path)
            except OSError:
                with self.lock:
                    self.uncertain.append(((name,), {name: None}, {name: rec}))
                    self.names.pop(name, None)
                return
            with self.lock:
                self.names[name] = None
        elif role == 3:
            tmp = name + ".tmp"
            tpath = os.path.join(self.root, tmp)
            nrec = Rec(_file_seed(self.seed, w, name, "v2"), rnd.choice(self.small_sizes))
            with self.lock:
                self.recs[tpath] = nrec
                self.names[tmp] = None
            try:
                self._write_file(tpath, nrec, self.stats, "end", None, self.wthrottle)
            except OSError:
                with self.lock:
                    self.names.pop(tmp, None)
                    self.uncertain.append(((tmp,), {tmp: None}, {tmp: "any"}))
                return
            with self.lock:
                self.names[tmp] = nrec
            self._rename(tmp, name, {tmp: None, name: nrec}, {tmp: nrec, name: rec})

    def _rename(self, a, b, ok_state, old_state):
        try:
            self.stats.timed("rename", os.path.join(self.root, a), os.rename,
                             os.path.join(self.root, a), os.path.join(self.root, b))
        except OSError:
            with self.lock:
                for k in ok_state:
                    self.names.pop(k, None)
                self.uncertain.append((tuple(ok_state), ok_state, old_state))
            return
        with self.lock:
            self.names.update(ok_state)

    def _reader(self, r):
        """Verifier r; r < 0: a small reader (files up to SMALL_READ_MAX)."""
        rnd = random.Random(_file_seed(self.seed, "reader", r))
        while not self.stop_ev.is_set():
            with self.lock:
                pool = self.stable if r >= 0 else self.stable_small
                if not pool:
                    path = None
                else:
                    # Half the time one of the newest files, else any.
                    k = len(pool)
                    i = rnd.randrange(max(0, k - 4), k) if rnd.random() < 0.5 else rnd.randrange(k)
                    path = pool[i]
                    rec = self.recs.get(path)
            if path is None:
                self._idle(0.05)
                continue
            try:
                got = self._read_sha(path, self.stats, self.rthrottle)
            except OSError:
                self._idle()
                continue
            with self.lock:
                self.bytes_verified += rec.written
                if got != rec.sha:
                    self.mismatches.append(path)
                    self.stats.error("verify", path, None, "sha256 differs from what was acknowledged")

    @staticmethod
    def _read_sha(path, stats, throttle=None):
        """Read path whole through timed syscalls; its sha256."""
        fd = stats.timed("open", path, os.open, path, os.O_RDONLY)
        h = hashlib.sha256()
        try:
            while True:
                if throttle is not None:
                    throttle.take(PIECE)
                b = stats.timed("read", path, os.read, fd, PIECE)
                if not b:
                    break
                h.update(b)
        finally:
            try:
                stats.timed("close", path, os.close, fd)
            except OSError:
                pass
        return h.hexdigest()

    # -- after the fault -------------------------------------------------
    def verify_all(self, drop=True):
        """Read back everything acknowledged (namespace mode: check every
        name of the directory against what it must resolve to) and return
        summary(). Problems go to summary()["lost"]."""
        assert self.stop_ev.is_set(), "stop() the workload first"
        if drop:
            _drop_caches()
        if self.namespace:
            self._verify_names()
        else:
            with self.lock:
                items = [(p, r) for p, r in self.recs.items() if r.closed]
            for p, rec in items:
                self._verify_one(p, rec)
        return self.summary()

    def _verify_one(self, path, rec):
        try:
            got = self._read_sha(path, self.check)
        except OSError as e:
            self.lost.append("%s: %s" % (path, e))
            return
        self.bytes_verified += rec.written
        if got != rec.sha:
            self.lost.append("%s: sha256 differs from what was acknowledged" % path)

    def _state_of(self, name, present):
        """Rec, None (absent) or the sha256 of unknown content."""
        if name not in present:
            return None
        return self._read_sha(os.path.join(self.root, name), self.check)

    def _verify_names(self):
        try:
            present = set(os.listdir(self.root))
        except OSError as e:
            self.lost.append("listdir %s: %s" % (self.root, e))
            return
        covered = set()
        for names, ok_state, old_state in self.uncertain:
            covered.update(names)
            try:
                actual = {n: self._state_of(n, present) for n in names}
            except OSError as e:
                self.lost.append("%s: %s" % (names, e))
                continue
            if not any(self._matches(actual, opt) for opt in (ok_state, old_state)):
                self.lost.append("%s after a failed operation: neither the old nor the new "
                                 "state" % (names,))
        for name, rec in self.names.items():
            if name in covered:
                continue
            if rec is None:
                if name in present:
                    self.lost.append("%s exists, but it was renamed away or unlinked" % name)
                continue
            if name not in present:
                self.lost.append("%s is missing" % name)
                continue
            self._verify_one(os.path.join(self.root, name), rec)
        for name in present - set(self.names) - covered:
            self.lost.append("%s: a name nobody made" % name)

    @staticmethod
    def _matches(actual, want):
        for n, w in want.items():
            a = actual[n]
            if w == "any":
                continue
            if w is None or a is None:
                if w is not a:
                    return False
            elif a != w.sha:
                return False
        return True

    def verify_prefixes(self):
        """After the mount died under the writers: every file whose create
        returned is there, its size is between what its last completed
        fsync() covered and what was written, and its bytes are exactly
        that prefix of its content (old or new up to the last fsync, never
        garbage). Files closed with success are whole."""
        _drop_caches()
        with self.lock:
            items = list(self.recs.items())
        for path, rec in items:
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                if rec.created:
                    self.lost.append("%s is missing (its create returned)" % path)
                continue
            except OSError as e:
                self.lost.append("%s: %s" % (path, e))
                continue
            lo = rec.written if rec.closed else rec.synced
            if not lo <= size <= max(rec.written, lo):
                self.lost.append("%s: size %d, acknowledged %d, written %d"
                                 % (path, size, lo, rec.written))
                continue
            try:
                got = self._read_sha(path, self.check)
            except OSError as e:
                self.lost.append("%s: %s" % (path, e))
                continue
            self.bytes_verified += size
            if got != content_sha(rec.seed, rec.size, size):
                self.lost.append("%s: its %d bytes are not what was written" % (path, size))
        return self.summary()

    # -- queries (also for WorkloadProcess) ------------------------------
    def stable_paths(self):
        with self.lock:
            return list(self.stable)

    def bytes_acknowledged(self):
        with self.lock:
            return self.bytes_acked

    def in_flight(self):
        """(files created and not closed, those of them with an fsync done)."""
        with self.lock:
            recs = list(self.recs.values())
        return (sum(1 for r in recs if r.created and not r.closed),
                sum(1 for r in recs if r.created and not r.closed and r.synced))

    # -- figures ---------------------------------------------------------
    def summary(self):
        with self.lock, self.stats.lock:
            end = self.stopped_at or time.monotonic()
            return {
                "errors": len(self.stats.errors),
                "error_list": list(self.stats.errors),
                "mismatches": len(self.mismatches),
                "lost": len(self.lost),
                "lost_list": list(self.lost[:20]),
                "max_call": dict(self.stats.max_call),
                "max_read_s": self.stats.max_read,
                "max_write_s": self.stats.max_write,
                "slow_calls": list(self.stats.slow[:20]),
                "calls": self.stats.calls,
                "bytes_acked": self.bytes_acked,
                "files_acked": self.files_acked,
                "bytes_verified": self.bytes_verified,
                "verify_errors": len(self.check.errors),
                "seconds": round(end - (self.started_at or end), 1),
            }


def _drop_caches():
    """Drop clean pages so verification reads come from the cluster (no
    sync first: a dead mount must not make it hang)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass


# --------------------------------------------------------------------------
# the workload as a process of its own


def _serve(conn, root, kw):
    """Child side of WorkloadProcess: a Workload driven by (method, args)
    messages; each answer is (True, result) or (False, error text)."""
    wl = Workload(root, **kw)
    while True:
        try:
            op, args = conn.recv()
        except EOFError:
            op, args = "exit", ()
        if op == "exit":
            if wl.threads and not wl.stop_ev.is_set():
                wl.stop(30)
            conn.send((True, None))
            return
        try:
            res = getattr(wl, op)(*args)
            if res is wl:
                res = None
            conn.send((True, res))
        except Exception as e:   # the test gets it as an AssertionError
            conn.send((False, "%s(%r): %r" % (op, args, e)))


class WorkloadProcess:
    """A Workload in a child process (see the module comment for why).
    Same methods; each call waits for the child's answer."""

    def __init__(self, root, **kw):
        ctx = multiprocessing.get_context("spawn")
        self.root = root
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, root, kw), name="workload",
                                 daemon=True)
        self._proc.start()
        child.close()

    def _call(self, op, *args, timeout=900):
        self._conn.send((op, args))
        if not self._conn.poll(timeout):
            raise AssertionError("the workload process did not answer %s within %d s"
                                 % (op, timeout))
        ok, res = self._conn.recv()
        if not ok:
            raise AssertionError("workload process: " + res)
        return res

    def prepare(self, sizes, prefix="pre"):
        self._call("prepare", sizes, prefix)
        return self

    def start(self):
        self._call("start")
        return self

    def stop(self, timeout=180):
        self._call("stop", timeout)
        return self

    @staticmethod
    def run_for(seconds):
        """Let the application run `seconds` (the fault's duration)."""
        threading.Event().wait(seconds)

    def wait_acked(self, nbytes, timeout):
        deadline = time.monotonic() + timeout
        while self._call("bytes_acknowledged") < nbytes:
            if time.monotonic() > deadline:
                return False
            threading.Event().wait(0.05)
        return True

    def wait_until_in_flight_synced(self, timeout):
        """Wait until some file is open with an fsync() done; True if so."""
        deadline = time.monotonic() + timeout
        while self._call("in_flight")[1] == 0:
            if time.monotonic() > deadline:
                return False
            threading.Event().wait(0.02)
        return True

    def __getattr__(self, op):
        if op.startswith("_"):
            raise AttributeError(op)
        return lambda *args: self._call(op, *args)

    def close(self):
        if self._proc.is_alive():
            try:
                self._call("exit", timeout=60)
            except (AssertionError, OSError, EOFError):
                pass
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(10)
        self._conn.close()
