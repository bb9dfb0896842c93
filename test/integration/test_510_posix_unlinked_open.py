"""POSIX: a file unlinked (or replaced by rename) while open stays usable
through its descriptors until the last close, also when the unlink came
from another mount; then its chunks are freed on the workers (one
replaced by a rename not before the master's unlink grace period, 5 s,
is over). A mount
killed with -9 is released by the master after the session timeout, and
after a master restart the mounts declare their open files again.

The first tests run on a local directory and on BigFS (posix_fixtures);
the ones that look at chunk files run on BigFS only.
"""

import glob
import os
import signal
import time

import pytest

from conftest import (drop_caches, errno_of, finish_cluster, make_cluster, read_locations,
                      wait_for)
from posix_fixtures import bigfs_pair, fsroot, on_bigfs, second_mount  # noqa: F401

SESSION_TIMEOUT = 3


@pytest.fixture(params=["local", "bigfs"])
def two_views(request, tmp_path):
    """(dir, the same dir as a second client sees it): on a local fs the
    same path twice; on BigFS the same directory through two mounts."""
    if request.param == "local":
        d = tmp_path / "local"
        d.mkdir()
        return str(d), str(d)
    return request.getfixturevalue("bigfs_pair")


def chunk_files(cluster, chunk_ids):
    """Paths of the chunk files of these ids on every worker."""
    out = []
    for wd in cluster.worker_dirs:
        for cid in chunk_ids:
            out += glob.glob(os.path.join(wd, "chunks", "*", "*", cid))
    return out


def chunk_ids_of(path):
    return [cid for _, cid, _, _ in read_locations(path)]


def close_quietly(fd):
    """Close a descriptor whose mount may be dead (ENOTCONN)."""
    try:
        os.close(fd)
    except OSError:
        pass


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# -- on a local directory and on BigFS ------------------------------------------------


def test_unlink_while_open_read_write(fsroot):
    p = os.path.join(fsroot, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"hello ")
        os.fsync(fd)
        os.unlink(p)
        assert not os.path.exists(p)
        assert os.fstat(fd).st_nlink == 0
        assert errno_of(os.stat, p) == 2
        os.write(fd, b"world")
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"hello world"
        os.ftruncate(fd, 5)
        assert os.fstat(fd).st_size == 5
        assert os.pread(fd, 100, 0) == b"hello"
        # a new file under the same name is another file
        write_file(p, b"new")
        assert os.pread(fd, 100, 0) == b"hello"
        with open(p, "rb") as f:
            assert f.read() == b"new"
    finally:
        os.close(fd)
    assert os.listdir(fsroot) == ["f"]


def test_unlink_while_open_survives_cache_drop(fsroot):
    """The data is read back from the workers, not the page cache."""
    p = os.path.join(fsroot, "f")
    data = os.urandom(3 << 20)
    write_file(p, data)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.unlink(p)
        drop_caches()
        assert os.pread(fd, len(data) + 10, 0) == data
        assert os.fstat(fd).st_nlink == 0
    finally:
        os.close(fd)


def test_two_descriptors_last_close_counts(fsroot):
    p = os.path.join(fsroot, "f")
    write_file(p, b"abc")
    fd1 = os.open(p, os.O_RDONLY)
    fd2 = os.open(p, os.O_RDWR)
    os.unlink(p)
    os.close(fd1)
    drop_caches()
    os.pwrite(fd2, b"XY", 3)
    os.fsync(fd2)
    assert os.pread(fd2, 10, 0) == b"abcXY"
    os.close(fd2)


def test_rename_over_open_file(fsroot):
    old = os.path.join(fsroot, "target")
    new = os.path.join(fsroot, "tmp")
    write_file(old, b"old contents")
    write_file(new, b"new contents")
    fd = os.open(old, os.O_RDWR)
    try:
        os.rename(new, old)
        with open(old, "rb") as f:
            assert f.read() == b"new contents"
        drop_caches()
        assert os.pread(fd, 100, 0) == b"old contents"
        assert os.fstat(fd).st_nlink == 0
        os.pwrite(fd, b"OLD", 0)
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"OLD contents"
        with open(old, "rb") as f:
            assert f.read() == b"new contents"
    finally:
        os.close(fd)
    assert sorted(os.listdir(fsroot)) == ["target"]


def test_unlink_from_other_client_while_open(two_views):
    here, there = two_views
    p_here = os.path.join(here, "f")
    data = os.urandom(1 << 20)
    write_file(p_here, data)
    fd = os.open(p_here, os.O_RDWR)
    try:
        os.unlink(os.path.join(there, "f"))
        wait_for(lambda: not os.path.exists(p_here), 10, "the unlink seen here")
        drop_caches()
        assert os.pread(fd, len(data), 0) == data
        os.pwrite(fd, b"more", len(data))
        os.fsync(fd)
        drop_caches()
        assert os.pread(fd, len(data) + 4, 0) == data + b"more"
        wait_for(lambda: os.fstat(fd).st_nlink == 0, 10, "nlink 0 through the descriptor")
    finally:
        os.close(fd)


# -- BigFS only: the chunks ---------------------------------------------------------------


def test_chunks_freed_after_last_close(cluster, bigfs_pair):
    d1, d2 = bigfs_pair
    p = os.path.join(d1, "big")
    write_file(p, os.urandom(2 << 20))
    ids = chunk_ids_of(p)
    assert ids and chunk_files(cluster, ids)
    fd = os.open(p, os.O_RDONLY)                     # open on mount 1
    fd2 = os.open(os.path.join(d2, "big"), os.O_RDONLY)  # and on mount 2
    try:
        os.unlink(p)
        drop_caches()
        assert len(os.pread(fd, 4 << 20, 0)) == 2 << 20
        os.close(fd)
        fd = None
        # still open on mount 2: kept
        assert len(os.pread(fd2, 4 << 20, 0)) == 2 << 20
        assert chunk_files(cluster, ids)
    finally:
        if fd is not None:
            os.close(fd)
        os.close(fd2)
    wait_for(lambda: not chunk_files(cluster, ids), 30,
             "the chunk files of the unlinked file to be deleted on the workers")


UNLINK_GRACE = 5  # the master's --unlink-grace-ms default, in seconds


def test_unlinked_without_open_freed_at_once(cluster, mnt):
    """A file unlinked while nobody has it open goes at once: its chunks
    are queued for deletion without waiting for the unlink grace period
    (that is for names a rename replaced, below)."""
    p = os.path.join(mnt, "f")
    write_file(p, os.urandom(1 << 20))
    ids = chunk_ids_of(p)
    ino = os.stat(p).st_ino
    assert chunk_files(cluster, ids)
    t0 = time.monotonic()
    os.unlink(p)
    st, _, raw = cluster.api("POST", "/v1/getattr", {"ino": ino})
    assert st == 404, (st, raw)
    wait_for(lambda: not chunk_files(cluster, ids), 25, "chunk files deleted")
    assert time.monotonic() - t0 < UNLINK_GRACE, "freed only after the grace period"


def test_replaced_without_open_freed_after_grace(cluster, mnt):
    """A file whose name a rename gave to another file is kept for the
    unlink grace period even if nobody has it open (a kernel that looked
    the name up just before may still open it, test_575), then freed."""
    p = os.path.join(mnt, "g")
    write_file(p, os.urandom(1 << 20))
    ids = chunk_ids_of(p)
    write_file(p + ".new", b"new")
    os.rename(p + ".new", p)
    t0 = time.monotonic()
    assert chunk_files(cluster, ids)
    wait_for(lambda: not chunk_files(cluster, ids), UNLINK_GRACE + 25, "chunk files deleted")
    assert time.monotonic() - t0 >= UNLINK_GRACE * 0.8


# -- BigFS only: sessions that die, a master that restarts -----------------------------


@pytest.fixture
def short_cluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "sessions", nworkers=2,
                     master_args=["--session-timeout", str(SESSION_TIMEOUT)])
    yield c
    finish_cluster(c)


def test_killed_mount_releases_after_session_timeout(short_cluster):
    c = short_cluster
    m1 = c.mounts[0].path
    m2 = c.mount(name="mnt2")
    p = os.path.join(m1, "f")
    write_file(p, os.urandom(1 << 20))
    ids = chunk_ids_of(p)
    fd = os.open(os.path.join(m2.path, "f"), os.O_RDONLY)
    try:
        os.unlink(p)
        t_kill = time.monotonic()
        m2.daemon.stop(signal.SIGKILL)
        # kept while the session may still be alive
        assert chunk_files(c, ids)
        wait_for(lambda: not chunk_files(c, ids), SESSION_TIMEOUT + 25,
                 "the dead mount's unlinked file to be freed")
        assert time.monotonic() - t_kill >= SESSION_TIMEOUT * 0.8
    finally:
        close_quietly(fd)
        m2.unmount()


def test_master_restart_open_files_declared_again(short_cluster):
    c = short_cluster
    m1 = c.mounts[0].path
    m2 = c.mount(name="mnt2")
    kept = os.path.join(m1, "kept")
    lost = os.path.join(m1, "lost")
    data = os.urandom(1 << 20)
    write_file(kept, data)
    write_file(lost, os.urandom(1 << 20))
    kept_ids, lost_ids = chunk_ids_of(kept), chunk_ids_of(lost)
    fd = os.open(kept, os.O_RDONLY)                          # mount 1, stays
    fd2 = os.open(os.path.join(m2.path, "lost"), os.O_RDONLY)  # mount 2, killed
    try:
        os.unlink(kept)
        os.unlink(lost)
        dfd = os.open(m1, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)          # the unlinks (queued by the mount) are on the master now
        os.close(dfd)
        m2.daemon.stop(signal.SIGKILL)
        c.stop_master(signal.SIGKILL)
        c.start_master()
        c.wait_live()
        t0 = time.monotonic()
        # mount 1 declares its file again; mount 2 is gone: after the
        # grace period (one session timeout) its orphan goes
        wait_for(lambda: not chunk_files(c, lost_ids), SESSION_TIMEOUT + 25,
                 "the orphan nobody declared to be freed after the restart")
        assert time.monotonic() - t0 >= SESSION_TIMEOUT * 0.8
        assert chunk_files(c, kept_ids)
        drop_caches()
        assert os.pread(fd, len(data), 0) == data
        os.close(fd)
        fd = None
        wait_for(lambda: not chunk_files(c, kept_ids), 30, "the declared orphan freed at close")
    finally:
        if fd is not None:
            os.close(fd)
        close_quietly(fd2)
        m2.unmount()
