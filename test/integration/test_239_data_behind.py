"""Data behind (fuse/file_handle.h): the close of a small file the mount
made and wrote once does not wait for the workers; its bytes go to the
replicas on a background thread while the program makes its next file,
and its commit waits in the queue, held in its place, until they are
there. What a user relies on stays: every file reads back whole, on this
mount and on another one right after the close; a descriptor kept open
through a dup sees and extends what the close left behind; an fsync
waits for it; and bytes no replica would take are never half there —
the file is committed empty and the mount's next fsync fails with EIO.
"""

import errno
import mmap
import os
import signal
import stat
import subprocess
import time

import pytest

from conftest import drop_caches, finish_cluster, let_feed_settle, make_cluster, wait_for
from test_210_master_calls import delta, route_counts
from test_235_push_invalidation import read, write
from test_750_metrics import get, metered_pair, mount_metrics_addr, scrape

BEHIND = "bigfs_mount_behind_writes_total"
ERRORS = "bigfs_mount_behind_write_errors_total"


def counter(addr, name):
    return get(scrape(addr, "bigfs_mount_")[0], name)


def contents(i):
    return (b"behind %06d\n" % i) * (1 + i % 700)


def views(c, name, warm=False):
    """A new folder name seen from mount A (made there) and from mount B,
    once the change feeds are quiet; warm: with a first file in it (the
    folder's lease and the grant path taken)."""
    let_feed_settle()
    da = os.path.join(c.mounts[0].path, name)
    db = os.path.join(c.mounts[1].path, name)
    os.mkdir(da)
    if warm:
        write(os.path.join(da, "warm"), b"x")
    return da, db


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(cluster, mount A's metrics address, mount B's): two mounts of one
    cluster of three workers."""
    c, a, b = metered_pair(tmp_path_factory, "behind239", nworkers=3)
    yield c, a, b
    finish_cluster(c)


def test_239a_small_files_read_back_whole_everywhere(pair):
    """A loop of create, write, close on mount A: the closes leave their
    data behind (A's counter), and every file reads back whole at once on
    mount B, then on A with the page cache dropped."""
    c, a, b = pair
    da, db = views(c, "a")
    before = counter(a, BEHIND)
    n = 200
    for i in range(n):
        write(os.path.join(da, "f%04d" % i), contents(i))
    assert counter(a, BEHIND) - before >= n - 5
    for i in range(n):
        assert read(os.path.join(db, "f%04d" % i)) == contents(i), i
    drop_caches()
    for i in range(n):
        assert read(os.path.join(da, "f%04d" % i)) == contents(i), i
    assert counter(a, ERRORS) == 0


def test_239b_closes_do_not_wait_for_stopped_workers(pair):
    """With every worker stopped (SIGSTOP), the closes of new small files
    still return at once; an fsync waits until the workers are back, and
    then every file is whole on the other mount."""
    c, a, b = pair
    da, db = views(c, "b", warm=True)
    n = 5
    for w in c.workers:
        w.send(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        for i in range(n):
            write(os.path.join(da, "f%d" % i), contents(i))
        took = time.monotonic() - t0
    finally:
        time.sleep(0.5)
        for w in c.workers:
            w.send(signal.SIGCONT)
    assert took < 0.5, "%d closes took %.2f s with the workers stopped" % (n, took)
    fd = os.open(os.path.join(da, "f%d" % (n - 1)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    for i in range(n):
        assert read(os.path.join(db, "f%d" % i)) == contents(i), i
    assert counter(a, ERRORS) == 0


def test_239c_a_dup_kept_open_reads_and_extends_what_the_close_left(pair):
    """close() of one of two descriptors of a new file (a flush: the data
    goes behind), then a read and more writes through the other one: the
    read sees the bytes (not page-aligned, so the kernel asks the mount),
    and after its own close the file holds both parts, on both mounts."""
    c, a, b = pair
    pa = os.path.join(c.mounts[0].path, "dup")
    pb = os.path.join(c.mounts[1].path, "dup")
    first, more = os.urandom(3001), os.urandom(777)
    fd = os.open(pa, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, first)
        os.close(os.dup(fd))
        assert os.pread(fd, 10000, 0) == first
        os.write(fd, more)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert read(pa) == first + more
    assert read(pb) == first + more


def test_239d_bytes_no_replica_takes_leave_an_empty_file_and_fail_fsync(tmp_path_factory):
    """Every worker killed between a file's create and its close: the
    close still returns 0 (its data is behind), but no replica takes the
    bytes, even with new grants. The file is committed empty, never
    partly written; the counter says so; the next fsync of the folder
    fails with EIO, once; another mount sees an empty file."""
    c = make_cluster(tmp_path_factory, "behind239d", nworkers=2,
                     mount_opts="metrics=127.0.0.1:0")
    try:
        addr = mount_metrics_addr(c, c.mounts[0])
        d = os.path.join(c.mounts[0].path, "d")
        os.mkdir(d)
        write(os.path.join(d, "before"), b"safe" * 100)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
            fd = os.open(os.path.join(d, "lost"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"gone" * 1000)
            for i in range(c.nworkers):
                c.kill_worker(i)
            os.close(fd)                          # returns: the data is behind
            wait_for(lambda: counter(addr, ERRORS) >= 1, 120,
                     "the data-behind write to fail on every replica", [c.master.watch()])
            with pytest.raises(OSError) as e:
                os.fsync(dfd)
            assert e.value.errno == errno.EIO
            os.fsync(dfd)                         # told once
        finally:
            os.close(dfd)
        assert counter(addr, BEHIND) >= 1
        m2 = c.mount("mnt-after")
        assert os.stat(os.path.join(m2.path, "d", "lost")).st_size == 0
        assert read(os.path.join(m2.path, "d", "lost")) == b""
        subprocess.run(["fusermount3", "-u", m2.path], check=False)
    finally:
        finish_cluster(c)


def test_239e_no_data_behind_on_workers_short_of_room(tmp_path_factory):
    """Workers with less than 256 MiB free: the master does not let closes
    leave anything behind (a full disk must show as ENOSPC at the close,
    not as an empty file later), so the closes wait for the workers; the
    files are whole."""
    c = make_cluster(tmp_path_factory, "behind239e", nworkers=2,
                     mount_opts="metrics=127.0.0.1:0", worker_args=["--capacity", "200m"])
    try:
        addr = mount_metrics_addr(c, c.mounts[0])
        c.wait_live()
        time.sleep(2)                             # the workers' first reports with their room
        d = os.path.join(c.mounts[0].path, "e")
        os.mkdir(d)
        for i in range(20):
            write(os.path.join(d, "f%d" % i), contents(i))
        assert counter(addr, BEHIND) == 0
        for i in range(20):
            assert read(os.path.join(d, "f%d" % i)) == contents(i), i
    finally:
        finish_cluster(c)


def test_239f_creates_pass_only_what_names_other_names(pair):
    """rsync's loop (write a temporary file, close, set its times, rename
    it to its name) with the next create passing the queued rename; and
    names used again at once: a file renamed away, or removed, and a new
    file made under the old name right after, before any of it reached
    the master. The other mount sees exactly the files and contents the
    writer made, and nothing of the temporary names."""
    c, a, b = pair
    let_feed_settle()
    da = os.path.join(c.mounts[0].path, "f")
    db = os.path.join(c.mounts[1].path, "f")
    os.mkdir(da)
    want = {}
    for i in range(100):
        tmp = os.path.join(da, ".f%03d.tmp" % i)
        write(tmp, contents(i))
        os.utime(tmp, (1000000 + i, 1000000 + i))
        os.rename(tmp, os.path.join(da, "f%03d" % i))
        want["f%03d" % i] = (contents(i), 1000000 + i)
    for i in range(30):
        old, new = "r%02d" % i, "s%02d" % i
        write(os.path.join(da, old), b"first %d" % i)
        os.rename(os.path.join(da, old), os.path.join(da, new))
        write(os.path.join(da, old), b"second %d" % i)       # the old name again
        write(os.path.join(da, "u%02d" % i), b"gone %d" % i)
        os.unlink(os.path.join(da, "u%02d" % i))
        write(os.path.join(da, "u%02d" % i), b"back %d" % i)  # a removed name again
        want[new] = (b"first %d" % i, None)
        want[old] = (b"second %d" % i, None)
        want["u%02d" % i] = (b"back %d" % i, None)
    assert sorted(os.listdir(db)) == sorted(want)
    for name, (data, mtime) in want.items():
        p = os.path.join(db, name)
        assert read(p) == data, name
        if mtime is not None:
            assert os.stat(p).st_mtime == mtime, name
    drop_caches()
    assert sorted(os.listdir(da)) == sorted(want)
    for name, (data, _) in want.items():
        assert read(os.path.join(da, name)) == data, name


def test_239g_a_mode_set_before_the_writes_rides_too(pair):
    """rsync's temporary file: fchmod (and fchown) on the new descriptor
    before its writes, no time set. The close still leaves its data and
    commit behind, and what the writer's mount answers at once (mode,
    owner, size, mtime, ctime) is what the master keeps: the other mount
    sees the same, after the caches are dropped too."""
    c, a, b = pair
    da, db = views(c, "g")
    before = counter(a, BEHIND)
    n = 40
    for i in range(n):
        fd = os.open(os.path.join(da, "g%02d" % i), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600 if i % 2 else 0o640)
        if i % 3 == 0:
            os.fchown(fd, 3000 + i, 4000 + i)
        os.write(fd, contents(i))
        os.close(fd)
    assert counter(a, BEHIND) - before >= n - 3
    here = [os.stat(os.path.join(da, "g%02d" % i)) for i in range(n)]
    there = [os.stat(os.path.join(db, "g%02d" % i)) for i in range(n)]
    for i in range(n):
        x, y = here[i], there[i]
        assert x.st_size == y.st_size == len(contents(i)), i
        assert x.st_mode == y.st_mode and x.st_mode & 0o7777 == (0o600 if i % 2 else 0o640), i
        assert (x.st_uid, x.st_gid) == (y.st_uid, y.st_gid), i
        if i % 3 == 0:
            assert (x.st_uid, x.st_gid) == (3000 + i, 4000 + i), i
        assert x.st_mtime_ns == y.st_mtime_ns, (i, x.st_mtime_ns, y.st_mtime_ns)
        assert x.st_ctime_ns == y.st_ctime_ns, (i, x.st_ctime_ns, y.st_ctime_ns)
    drop_caches()
    for i in range(n):
        st = os.stat(os.path.join(da, "g%02d" % i))
        assert (st.st_mtime_ns, st.st_ctime_ns) == (here[i].st_mtime_ns, here[i].st_ctime_ns), i
        assert read(os.path.join(db, "g%02d" % i)) == contents(i), i


LOCAL_OPENS = "bigfs_mount_local_opens_total"


def direct_read(path, fd=None):
    """The file's bytes read with O_DIRECT (an aligned buffer): the mount
    answers, not the page cache the writes filled."""
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 2 << 20)
    try:
        n = os.preadv(fd, [buf], 0)
        return bytes(buf[:n])
    finally:
        buf.close()
        if own:
            os.close(fd)


def test_239h_a_reopen_right_after_the_close_asks_the_master_nothing(pair):
    """rsync writes each file, opens it again read-only to chmod it, then
    renames it. While the close's commit is still queued the mount answers
    that open itself and queues the chmod: no /v1/open or /v1/setattr per
    file. A read through such a descriptor (O_DIRECT, so the mount
    answers) gets what was written: it waits for the close's bytes to
    reach the workers. Both mounts then see every file whole, with its
    mode."""
    c, a, b = pair
    da, db = views(c, "h", warm=True)
    before_opens = counter(a, LOCAL_OPENS)
    before = route_counts(c)
    n = 60
    for i in range(n):
        # rsync's temporary name: its own, a dot before, mkstemp's suffix
        tmp = os.path.join(da, ".f%03d.%s" % (i, "aB3xQ9" if i % 2 else "Zk7pL2"))
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, contents(i))
        os.close(fd)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_DIRECT if i % 4 == 0 else 0)
        fd = os.open(tmp, flags)
        try:
            os.fchmod(fd, 0o644)
            if i % 4 == 0:
                assert direct_read(tmp, fd) == contents(i), i
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(da, "f%03d" % i))
    d_ = delta(before, route_counts(c))
    assert counter(a, LOCAL_OPENS) - before_opens >= n - 6, d_
    assert d_.get("/v1/open", 0) <= 6, d_
    assert d_.get("/v1/setattr", 0) <= 6, d_
    for d in (da, db):
        for i in range(n):
            p = os.path.join(d, "f%03d" % i)
            assert direct_read(p) == contents(i), (d, i)
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o644, (d, i)
    assert sorted(os.listdir(db)) == sorted(["warm"] + ["f%03d" % i for i in range(n)])


def test_239i_a_file_reopened_here_and_unlinked_elsewhere_stays_readable(pair):
    """The reopen answered here counts as an open at the master (the
    close it follows was not sent): another mount's unlink of the file
    leaves it open here, readable whole until the descriptor closes, as
    on a local disk; then it is gone on both mounts."""
    c, a, b = pair
    da, db = views(c, "i", warm=True)
    for i in range(5):
        data = os.urandom(5000 + 1000 * i)
        p = os.path.join(da, "kept%d" % i)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
        before_opens = counter(a, LOCAL_OPENS)
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        try:
            assert counter(a, LOCAL_OPENS) - before_opens == 1
            os.unlink(os.path.join(db, "kept%d" % i))
            assert direct_read(p, fd) == data, i
            assert os.fstat(fd).st_size == len(data)
        finally:
            os.close(fd)
        assert not os.path.exists(os.path.join(db, "kept%d" % i))
        wait_for(lambda: not os.path.exists(p), 2.0, "the unlinked name gone on mount A")
    assert sorted(os.listdir(db)) == ["warm"]


def test_239j_a_shell_redirect_leaves_its_data_behind(pair):
    """bash's `printf ... > file` opens the file, dups it to stdout and
    closes the first descriptor (a close with nothing written) before it
    writes. That empty close leaves the file as it was: the real close
    after the writes still goes behind. A chmod by path between the
    empty close and the writes goes to the master at once, and one
    between the writes and the close rides on the commit; on both
    mounts every file is whole, with its mode."""
    c, a, b = pair
    da, db = views(c, "j", warm=True)
    before = counter(a, BEHIND)
    n = 40
    script = 'cd "$1"; for ((i = 0; i < %d; i++)); do printf "redirect %%04d\\n%%s" "$i" "$2" > "r$i"; done' % n
    pad = "p" * 3000
    subprocess.run(["bash", "-c", script, "bash", da, pad], check=True)
    assert counter(a, BEHIND) - before >= n - 4
    # chmod after the empty close, before any write; and after the writes
    for k, (early, late) in enumerate(((0o600, None), (None, 0o640), (0o604, 0o606))):
        steps = ['exec 3>"$1"', 'exec 4>&3', 'exec 3>&-']
        if early is not None:
            steps.append('chmod %o "$1"' % early)
        steps.append('printf "mode %d\\n" >&4' % k)
        if late is not None:
            steps.append('chmod %o "$1"' % late)
        steps.append('exec 4>&-')
        subprocess.run(["bash", "-c", "; ".join(steps), "bash", os.path.join(da, "m%d" % k)],
                       check=True)
    for d in (da, db):
        for i in range(n):
            assert read(os.path.join(d, "r%d" % i)) == b"redirect %04d\n%s" % (i, pad.encode()), (d, i)
        for k, mode in enumerate((0o600, 0o640, 0o606)):
            p = os.path.join(d, "m%d" % k)
            assert read(p) == b"mode %d\n" % k, (d, k)
            assert stat.S_IMODE(os.stat(p).st_mode) == mode, (d, k, oct(os.stat(p).st_mode))
    assert counter(a, ERRORS) == 0
