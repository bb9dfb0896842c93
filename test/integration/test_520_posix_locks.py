"""POSIX: flock() and fcntl() byte-range locks between processes on one
mount and between two mounts of one cluster (the master arbitrates).

Each test runs on a local directory (the second "client" is the same
directory) and on BigFS (the second client is a second mount). The other
process is always a real subprocess (`Holder` below): locks belong to
processes (fcntl) or open files (flock), so one Python process cannot
conflict with itself.

F_GETLK and pids: the master reports the holder's pid to mounts of the
same machine (same kernel boot id), 0 to mounts of other machines. Both
mounts of these tests are on one machine, so the pid is the holder's.

Also: EDEADLK for an F_SETLKW that would deadlock (never for flock), open
file description locks (F_OFD_*), and the lock grace period after a master
restart (BigFS only).
"""

import errno
import fcntl
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import finish_cluster, make_cluster, wait_for
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)

PY = "/usr/bin/python3"
SESSION_TIMEOUT = 3
CONFLICT = (errno.EAGAIN, errno.EACCES)

# A helper process that executes one command per stdin line and answers
# one line: "ok", "err ERRNO" or "lk TYPE START LEN PID" (F_GETLK).
# ofdsetlk / ofdsetlkw / ofdgetlk are the F_OFD_* forms (locks owned by
# the open file description); "dup NEW OLD" duplicates a descriptor.
HELPER = r"""
import fcntl, os, struct, sys
fds = {}
FMT = "hhqqi4x"
for line in sys.stdin:
    w = line.split()
    try:
        if w[0] == "open":
            fds[w[1]] = os.open(w[2], os.O_RDWR)
        elif w[0] == "close":
            os.close(fds.pop(w[1]))
        elif w[0] == "dup":
            fds[w[1]] = os.dup(fds[w[2]])
        elif w[0] == "flock":
            op = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}[w[2]]
            if w[3] == "nb":
                op |= fcntl.LOCK_NB
            fcntl.flock(fds[w[1]], op)
        elif w[0] in ("setlk", "setlkw", "getlk", "ofdsetlk", "ofdsetlkw", "ofdgetlk"):
            t = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}[w[2]]
            cmd = {"setlk": fcntl.F_SETLK, "setlkw": fcntl.F_SETLKW, "getlk": fcntl.F_GETLK,
                   "ofdsetlk": 37, "ofdsetlkw": 38, "ofdgetlk": 36}[w[0]]
            arg = struct.pack(FMT, t, 0, int(w[3]), int(w[4]), 0)
            res = fcntl.fcntl(fds[w[1]], cmd, arg)
            if w[0] in ("getlk", "ofdgetlk"):
                lt, _, s, l, pid = struct.unpack(FMT, res)
                name = {fcntl.F_RDLCK: "r", fcntl.F_WRLCK: "w", fcntl.F_UNLCK: "u"}[lt]
                print("lk %s %d %d %d" % (name, s, l, pid), flush=True)
                continue
        elif w[0] == "pid":
            print("pid %d" % os.getpid(), flush=True)
            continue
        print("ok", flush=True)
    except OSError as e:
        print("err %d" % e.errno, flush=True)
"""


class Holder:
    """A subprocess that opens files and takes locks on command."""

    def __init__(self):
        self.p = subprocess.Popen([PY, "-c", HELPER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.pid = self.p.pid

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def answer(self, timeout=30):
        ready = wait_for(lambda: self._readable(), timeout, "the helper's answer")
        assert ready
        return self.p.stdout.readline().split()

    def _readable(self):
        import select
        r, _, _ = select.select([self.p.stdout], [], [], 0)
        if not r and self.p.poll() is not None:
            raise AssertionError("helper exited with %s" % self.p.returncode)
        return bool(r)

    def do(self, line, timeout=30):
        self.send(line)
        a = self.answer(timeout)
        if a[0] == "err":
            return int(a[1])
        if a[0] == "lk":
            return (a[1], int(a[2]), int(a[3]), int(a[4]))
        assert a == ["ok"], a
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def holders():
    made = []

    def make():
        h = Holder()
        made.append(h)
        return h
    yield make
    for h in made:
        h.stop()


@pytest.fixture(params=["local", "bigfs"])
def two_views(request, tmp_path):
    """(dir, the same dir as a second client sees it)."""
    if request.param == "local":
        d = tmp_path / "local"
        d.mkdir()
        return str(d), str(d)
    return request.getfixturevalue("bigfs_pair")


def make_file(d, name="f", size=4096):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(b"x" * size)
    return p


FMT = "hhqqi4x"


def getlk(fd, t, start, length):
    res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FMT, t, 0, start, length, 0))
    lt, _, s, ln, pid = struct.unpack(FMT, res)
    return lt, s, ln, pid


def setlk(fd, t, start, length, wait=False):
    fcntl.fcntl(fd, fcntl.F_SETLKW if wait else fcntl.F_SETLK,
                struct.pack(FMT, t, 0, start, length, 0))


# -- flock -------------------------------------------------------------------------


def test_flock_exclusive_and_shared(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    assert a.do("open f %s" % p) == 0
    assert b.do("open f %s" % os.path.join(there, "f")) == 0
    assert a.do("flock f ex nb") == 0
    assert b.do("flock f ex nb") in CONFLICT
    assert b.do("flock f sh nb") in CONFLICT
    assert a.do("flock f un nb") == 0
    assert b.do("flock f sh nb") == 0
    assert a.do("flock f sh nb") == 0          # two shared holders
    assert a.do("flock f ex nb") in CONFLICT   # no upgrade while b shares
    assert b.do("flock f un nb") == 0
    assert a.do("flock f ex nb") == 0          # upgrade now
    assert b.do("flock f sh nb") in CONFLICT


def test_flock_two_processes_one_mount(two_views, holders):
    here, _ = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % p)
    assert a.do("flock f ex nb") == 0
    assert b.do("flock f ex nb") in CONFLICT
    assert a.do("close f") == 0                 # closing drops the flock
    assert b.do("flock f ex nb") == 0


def test_flock_blocking_waits(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("flock f ex nb") == 0
    b.send("flock f ex wait")
    t0 = time.monotonic()
    with pytest.raises(AssertionError):
        b.answer(timeout=0.5)                   # still waiting
    assert a.do("flock f un nb") == 0
    assert b.answer(timeout=10) == ["ok"]
    assert time.monotonic() - t0 < 10
    assert a.do("flock f sh nb") in CONFLICT


def test_flock_and_fcntl_are_independent(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("flock f ex nb") == 0
    assert b.do("setlk f w 0 0") == 0


# -- fcntl byte ranges -----------------------------------------------------------------


def test_setlk_conflicts(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 0 100") == 0
    assert b.do("setlk f r 50 10") in CONFLICT
    assert b.do("setlk f w 99 1") in CONFLICT
    assert b.do("setlk f w 100 100") == 0       # adjacent, no overlap
    assert b.do("setlk f r 200 0") == 0         # to the end of the file
    assert a.do("setlk f w 1000 1") in CONFLICT
    assert a.do("setlk f r 150 10") in CONFLICT
    # read locks share
    assert a.do("setlk f u 0 0") == 0
    assert b.do("setlk f u 0 0") == 0
    assert a.do("setlk f r 0 10") == 0
    assert b.do("setlk f r 5 10") == 0
    assert b.do("setlk f w 5 1") in CONFLICT


def test_getlk_reports_holder(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 10 20") == 0
    assert b.do("getlk f r 0 100") == ("w", 10, 20, a.pid)
    assert b.do("getlk f w 30 10") == ("u", 30, 10, 0)
    assert a.do("setlk f r 40 0") == 0          # [40, EOF)
    assert b.do("getlk f w 100 1") == ("r", 40, 0, a.pid)
    assert b.do("getlk f r 100 1")[0] == "u"    # read vs read: no conflict
    # the holder itself sees no conflict with its own locks
    assert a.do("getlk f w 0 0")[0] == "u"


def test_ranges_split_and_merge(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 0 100") == 0
    assert a.do("setlk f u 40 20") == 0         # split: [0,40) and [60,100)
    assert b.do("setlk f w 40 20") == 0
    assert b.do("setlk f w 39 1") in CONFLICT
    assert b.do("setlk f w 60 1") in CONFLICT
    assert b.do("getlk f w 0 0") == ("w", 0, 40, a.pid)
    assert b.do("setlk f u 0 0") == 0
    assert a.do("setlk f w 40 20") == 0         # merge back into [0,100)
    assert b.do("getlk f r 50 1") == ("w", 0, 100, a.pid)
    assert a.do("setlk f r 40 20") == 0         # type split: w, r, w
    assert b.do("setlk f r 45 5") == 0
    assert b.do("setlk f r 30 15") in CONFLICT
    assert b.do("getlk f r 0 0") == ("w", 0, 40, a.pid)
    assert b.do("getlk f r 55 100") == ("w", 60, 40, a.pid)


def test_setlkw_waits_for_unlock(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 0 10") == 0
    b.send("setlkw f w 5 10")
    with pytest.raises(AssertionError):
        b.answer(timeout=0.5)                   # still waiting
    assert a.do("setlk f u 0 10") == 0
    assert b.answer(timeout=10) == ["ok"]
    assert a.do("setlk f r 5 1") in CONFLICT


def test_setlkw_interrupted_by_signal(two_views):
    here, there = two_views
    p = make_file(here)
    fd = os.open(p, os.O_RDWR)
    try:
        setlk(fd, fcntl.F_WRLCK, 0, 0)
        # the handler raises, so Python does not restart the call (PEP 475)
        code = ("import fcntl, os, signal, struct, sys\n"
                "def alarm(*a):\n"
                "    raise TimeoutError\n"
                "signal.signal(signal.SIGALRM, alarm)\n"
                "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                "signal.setitimer(signal.ITIMER_REAL, 0.5)\n"
                "try:\n"
                "    fcntl.fcntl(fd, fcntl.F_SETLKW, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 0, 0))\n"
                "    print('locked')\n"
                "except TimeoutError:\n"
                "    print('interrupted')\n")
        r = subprocess.run([PY, "-c", code, os.path.join(there, "f")], capture_output=True,
                           text=True, timeout=30)
        assert r.stdout.split() == ["interrupted"], r
    finally:
        os.close(fd)


def test_close_of_any_fd_releases_posix_locks(two_views, holders):
    """POSIX: closing any descriptor of a file drops the process's locks
    on it; process exit does too."""
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    a.do("open g %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 0 0") == 0
    assert b.do("setlk f r 0 1") in CONFLICT
    assert a.do("close g") == 0
    assert b.do("setlk f w 0 1") == 0
    c = holders()
    c.do("open f %s" % p)
    assert c.do("setlk f w 0 1") in CONFLICT
    b.stop()                                     # exit releases
    wait_for(lambda: c.do("setlk f w 0 1") == 0, 10, "the lock of an exited process to go")


def test_own_locks_in_one_process(two_views):
    """One process never conflicts with itself; unlock of nothing is fine."""
    here, _ = two_views
    p = make_file(here)
    fd1 = os.open(p, os.O_RDWR)
    fd2 = os.open(p, os.O_RDWR)
    try:
        setlk(fd1, fcntl.F_WRLCK, 0, 10)
        setlk(fd2, fcntl.F_WRLCK, 5, 10)
        setlk(fd2, fcntl.F_UNLCK, 100, 10)
        assert getlk(fd1, fcntl.F_WRLCK, 0, 0)[0] == fcntl.F_UNLCK
    finally:
        os.close(fd1)
        os.close(fd2)


# -- EDEADLK -----------------------------------------------------------------------------


def assert_waiting(h):
    """h's last command has not answered: it is blocked in the kernel."""
    with pytest.raises(AssertionError):
        h.answer(timeout=0.5)


def test_setlkw_deadlock_gets_edeadlk(two_views, holders):
    """A holds [0,10) and waits for [10,20), held by B; B's F_SETLKW for
    [0,10) would deadlock: EDEADLK for B (the second waiter), A still
    waits, and gets its range once B unlocks."""
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("setlk f w 0 10") == 0
    assert b.do("setlk f w 10 10") == 0
    a.send("setlkw f w 10 10")
    assert_waiting(a)
    assert b.do("setlk f w 0 10") in CONFLICT       # not blocking: plain conflict
    assert b.do("setlkw f w 0 10", timeout=10) == errno.EDEADLK
    assert b.do("setlkw f r 5 1", timeout=10) == errno.EDEADLK
    assert_waiting(a)                                # the first waiter keeps waiting
    assert b.do("setlk f u 10 10") == 0
    assert a.answer(timeout=10) == ["ok"]
    assert b.do("getlk f r 0 0") == ("w", 0, 20, a.pid)
    # no cycle any more: B simply waits for A now
    b.send("setlkw f w 0 10")
    assert_waiting(b)
    assert a.do("setlk f u 0 0") == 0
    assert b.answer(timeout=10) == ["ok"]


def test_setlkw_deadlock_through_three_owners(two_views, holders):
    """A waits for B, B waits for C; C asking for what A holds closes the
    cycle: EDEADLK for C."""
    here, there = two_views
    p = make_file(here)
    a, b, c = holders(), holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    c.do("open f %s" % p)
    assert a.do("setlk f w 0 1") == 0
    assert b.do("setlk f w 1 1") == 0
    assert c.do("setlk f w 2 1") == 0
    a.send("setlkw f w 1 1")
    assert_waiting(a)
    b.send("setlkw f w 2 1")
    assert_waiting(b)
    assert c.do("setlkw f w 0 1", timeout=10) == errno.EDEADLK
    assert c.do("setlk f u 2 1") == 0                # C gives up its range
    assert b.answer(timeout=10) == ["ok"]
    assert b.do("setlk f u 1 2") == 0
    assert a.answer(timeout=10) == ["ok"]


def test_flock_deadlock_is_not_detected(two_views, holders):
    """flock() has no deadlock detection (Linux): both wait until one
    holder goes."""
    here, there = two_views
    p1, p2 = make_file(here, "f1"), make_file(here, "f2")
    a, b = holders(), holders()
    a.do("open f1 %s" % p1)
    a.do("open f2 %s" % p2)
    b.do("open f1 %s" % os.path.join(there, "f1"))
    b.do("open f2 %s" % os.path.join(there, "f2"))
    assert a.do("flock f1 ex nb") == 0
    assert b.do("flock f2 ex nb") == 0
    a.send("flock f2 ex wait")
    assert_waiting(a)
    b.send("flock f1 ex wait")
    assert_waiting(b)                                # no EDEADLK
    a.p.kill()                                       # A's locks go with it
    a.p.wait()
    assert b.answer(timeout=10) == ["ok"]


# -- open file description locks (F_OFD_*) -------------------------------------------------


def test_ofd_locks_belong_to_the_open_file(two_views, holders):
    """OFD locks: two open() of one file in one process conflict; a dup
    shares the lock; they conflict with classic locks of the same process
    and of others; F_OFD_GETLK reports them with pid -1."""
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open x %s" % p)
    a.do("open y %s" % p)
    a.do("dup x2 x")
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("ofdsetlk x w 0 10") == 0
    assert a.do("ofdsetlk y w 5 1") in CONFLICT      # another open file description
    assert a.do("ofdsetlk x2 w 5 1") == 0            # the same one, through a dup
    assert a.do("setlk y w 5 1") in CONFLICT         # classic lock of the same process
    assert a.do("ofdgetlk y r 0 0") == ("w", 0, 10, -1)
    assert b.do("setlk f r 9 1") in CONFLICT
    assert b.do("ofdsetlk f r 9 1") in CONFLICT
    assert b.do("setlk f w 10 10") == 0              # beyond the range
    assert a.do("ofdsetlk x w 10 1") in CONFLICT     # B's classic lock
    # merge and split per open file description, as for a process
    assert a.do("ofdsetlk x2 u 2 2") == 0
    assert b.do("setlk f w 2 2") == 0
    assert a.do("ofdgetlk y w 0 2") == ("w", 0, 2, -1)
    assert a.do("ofdgetlk y w 4 1") == ("w", 4, 6, -1)
    assert b.do("setlk f u 0 0") == 0
    assert a.do("ofdsetlk y w 2 2") == 0
    assert a.do("ofdgetlk x w 0 0") == ("w", 2, 2, -1)


def test_ofd_locks_released_at_last_close(two_views, holders):
    """Closing one descriptor of the open file (or another file of the
    process) keeps its OFD lock; closing the last one releases it."""
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open x %s" % p)
    a.do("dup x2 x")
    a.do("open z %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert a.do("ofdsetlk x w 0 0") == 0
    assert b.do("setlk f r 0 1") in CONFLICT
    assert a.do("close z") == 0                      # a classic close: no effect
    assert b.do("setlk f r 0 1") in CONFLICT
    assert a.do("close x") == 0                      # x2 still refers to it
    assert b.do("setlk f r 0 1") in CONFLICT
    assert a.do("close x2") == 0                     # the last descriptor
    wait_for(lambda: b.do("setlk f w 0 0") == 0, 10, "the OFD lock to go at the last close")
    assert a.do("open y %s" % p) == 0
    assert a.do("ofdsetlk y r 0 1") in CONFLICT


def test_ofd_setlkw_waits_for_a_classic_lock(two_views, holders):
    here, there = two_views
    p = make_file(here)
    a, b = holders(), holders()
    a.do("open x %s" % p)
    b.do("open f %s" % os.path.join(there, "f"))
    assert b.do("setlk f w 0 0") == 0
    a.send("ofdsetlkw x w 100 1")
    assert_waiting(a)
    assert b.do("setlk f u 0 0") == 0
    assert a.answer(timeout=10) == ["ok"]
    assert b.do("setlk f w 100 1") in CONFLICT
    assert b.do("getlk f w 0 0")[:3] == ("w", 100, 1)


# -- a killed mount ----------------------------------------------------------------------


@pytest.fixture
def short_cluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "locks", nworkers=1,
                     master_args=["--session-timeout", str(SESSION_TIMEOUT), "--default-goal", "1"])
    yield c
    finish_cluster(c)


def test_killed_mount_locks_released_after_timeout(short_cluster, holders):
    c = short_cluster
    m1 = c.mounts[0].path
    m2 = c.mount(name="mnt2")
    p = make_file(m1)
    a, b = holders(), holders()
    assert a.do("open f %s" % os.path.join(m2.path, "f")) == 0
    assert a.do("setlk f w 0 0") == 0
    assert a.do("open g %s" % os.path.join(m2.path, "f")) == 0
    assert a.do("flock g ex nb") == 0
    b.do("open f %s" % p)
    assert b.do("setlk f w 0 1") in CONFLICT
    assert b.do("flock f ex nb") in CONFLICT
    t_kill = time.monotonic()
    m2.daemon.stop(signal.SIGKILL)
    wait_for(lambda: b.do("setlk f w 0 1") == 0, SESSION_TIMEOUT + 20,
             "the dead mount's POSIX lock to go")
    assert time.monotonic() - t_kill >= SESSION_TIMEOUT * 0.8
    assert b.do("flock f ex nb") == 0
    a.p.kill()
    a.p.wait()
    m2.unmount()


def test_locks_survive_master_restart(short_cluster, holders):
    c = short_cluster
    m1 = c.mounts[0].path
    m2 = c.mount(name="mnt2")
    p = make_file(m1)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(m2.path, "f"))
    assert a.do("setlk f w 0 100") == 0
    assert a.do("flock f sh nb") == 0
    c.stop_master(signal.SIGKILL)
    c.start_master()
    c.wait_live()
    # mount 1 declares its locks again with its next heartbeat
    wait_for(lambda: b.do("getlk f w 0 0") == ("w", 0, 100, a.pid), 20,
             "the lock declared again after the master restart")
    assert b.do("flock f ex nb") in CONFLICT
    assert a.do("setlk f u 0 0") == 0
    # new locks wait for the grace period to end (blocking) or fail
    assert b.do("setlkw f w 0 0") == 0
    m2.unmount()


def test_mount_stops_while_setlkw_waits(short_cluster, holders):
    """A waiting F_SETLKW never keeps the mount from stopping."""
    c = short_cluster
    m1 = c.mounts[0].path
    m2 = c.mount(name="mnt2")
    p = make_file(m1)
    a, b = holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(m2.path, "f"))
    assert a.do("setlk f w 0 0") == 0
    b.send("setlkw f w 0 0")
    with pytest.raises(AssertionError):
        b.answer(timeout=0.5)                   # waiting
    t0 = time.monotonic()
    m2.daemon.send(signal.SIGTERM)
    wait_for(lambda: not m2.daemon.alive(), 20, "mount.bigfs to exit with a lock waiter")
    assert time.monotonic() - t0 < 20
    ans = b.answer(timeout=20)
    assert ans[0] == "err", ans                 # the waiter gets an error, not the lock
    m2.unmount()


# -- lock grace period after a master restart ------------------------------------------------


GRACE = 8


@pytest.fixture
def grace_cluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "grace", nworkers=1,
                     master_args=["--session-timeout", str(SESSION_TIMEOUT), "--default-goal", "1",
                                  "--lock-grace", str(GRACE)])
    yield c
    finish_cluster(c)


def test_master_restart_grace_keeps_locks_for_their_holder(grace_cluster, holders):
    """After a master restart, a mount that is slow to declare its locks
    again (here: stopped) keeps them: until the grace period ends another
    mount's new lock fails with EAGAIN (F_SETLK) or waits (F_SETLKW), and
    once the holder is back its locks conflict as before."""
    c = grace_cluster
    m1 = c.mounts[0]
    m2 = c.mount(name="mnt2")
    p = make_file(m1.path)
    make_file(m1.path, "g")
    a, b, w = holders(), holders(), holders()
    a.do("open f %s" % p)
    b.do("open f %s" % os.path.join(m2.path, "f"))
    b.do("open g %s" % os.path.join(m2.path, "g"))
    w.do("open f %s" % os.path.join(m2.path, "f"))
    assert a.do("setlk f w 0 100") == 0
    assert a.do("flock f ex nb") == 0
    m1.daemon.send(signal.SIGSTOP)                  # mount 1 cannot declare its locks
    try:
        c.stop_master(signal.SIGKILL)
        t_start = time.monotonic()
        c.start_master()
        assert b.do("setlk f w 0 0") == errno.EAGAIN  # not granted: grace period
        assert b.do("flock f ex nb") == errno.EAGAIN
        assert b.do("setlk g w 0 0") == errno.EAGAIN  # even on a file nobody locked
        w.send("setlkw f w 50 1")                    # waits
        assert_waiting(w)
        assert time.monotonic() - t_start < GRACE, "the test was too slow to see the grace period"
    finally:
        m1.daemon.send(signal.SIGCONT)
    # mount 1 declares its locks with its next heartbeat
    wait_for(lambda: b.do("getlk f r 0 0") == ("w", 0, 100, a.pid), 20,
             "mount 1's lock declared again")
    assert b.do("flock f ex nb") in CONFLICT
    assert_waiting(w)                                # still: A holds it
    # after the grace period new locks are granted again
    wait_for(lambda: b.do("setlk g w 0 0") == 0, GRACE + 10, "the grace period to end")
    assert time.monotonic() - t_start >= GRACE * 0.8
    assert a.do("setlk f u 0 0") == 0
    assert w.answer(timeout=10) == ["ok"]
    assert b.do("setlk f w 50 1") in CONFLICT
    m2.unmount()
