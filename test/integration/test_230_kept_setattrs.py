"""setattrs of a file this mount made and has open for writing are kept and
sent with its commit (fuse/file_handle.c fh_table_defer_setattr): tar's
fchown + fchmod + futimens before close cost no round trip, nor do the
getattrs the kernel asks before a chown. The writing mount sees them at
once, every mount after close or fsync, and nothing is lost: a write after
a kept mtime moves it, an unlink or truncate of the open file shows right,
and an xattr change sends them first."""

import errno
import os
import stat
import time

from conftest import errno_of, let_feed_settle
from posix_fixtures import second_mount  # noqa: F401  (fixture)
from test_210_master_calls import delta, route_counts

OLD = 1_000_000_000 * 10**9 + 123   # 2001-09-09, with nanoseconds


def test_230_tar_like_sequence_costs_create_grant_commit(cluster, second_mount):
    let_feed_settle()   # test_229's API batch: else the folder's getattr asks the master
    d = os.path.join(cluster.mounts[0].path, "ks-230")
    os.mkdir(d)
    p = os.path.join(d, "f")
    before = route_counts(cluster)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"payload" * 100)
    os.fchown(fd, 1234, 5678)
    os.fchmod(fd, 0o751)
    os.utime(fd, ns=(OLD, OLD))
    st = os.fstat(fd)          # the writing mount sees them at once
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o751, 1234, 5678)
    assert st.st_mtime_ns == OLD and st.st_atime_ns == OLD and st.st_size == 700
    os.close(fd)
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/create") == 1 and d_.get("/v1/commit") == 1, d_
    assert "/v1/setattr" not in d_ and "/v1/getattr" not in d_, d_
    # every mount sees the same after close
    for path in (p, os.path.join(second_mount, "ks-230", "f")):
        st = os.stat(path)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o751, 1234, 5678), path
        assert st.st_mtime_ns == OLD and st.st_atime_ns == OLD and st.st_size == 700, path
    with open(os.path.join(second_mount, "ks-230", "f"), "rb") as f:
        assert f.read() == b"payload" * 100


def test_231_write_after_a_kept_mtime_moves_it(cluster, second_mount):
    d = os.path.join(cluster.mounts[0].path, "ks-231")
    os.mkdir(d)
    p = os.path.join(d, "f")
    t0 = time.time_ns()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"a")
    os.utime(fd, ns=(OLD, OLD))
    assert os.fstat(fd).st_mtime_ns == OLD
    os.write(fd, b"b")
    assert os.fstat(fd).st_mtime_ns >= t0 - 10**9
    os.close(fd)
    for path in (p, os.path.join(second_mount, "ks-231", "f")):
        st = os.stat(path)
        assert st.st_mtime_ns >= t0 - 10**9 and st.st_atime_ns == OLD, path
        assert st.st_size == 2


def test_232_fsync_and_xattrs_send_them_early(cluster, second_mount):
    d = os.path.join(cluster.mounts[0].path, "ks-232")
    os.mkdir(d)
    p, q = os.path.join(d, "f"), os.path.join(second_mount, "ks-232", "f")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"x")
    os.fchmod(fd, 0o600)
    os.fsync(fd)
    t0 = time.monotonic()      # the other mount's attribute cache: up to 1 s
    while stat.S_IMODE(os.stat(q).st_mode) != 0o600:
        assert time.monotonic() - t0 < 2.0
        time.sleep(0.05)
    os.fchmod(fd, 0o640)
    os.setxattr(p, "user.k", b"v")   # kept attributes go before the xattr
    t0 = time.monotonic()
    while stat.S_IMODE(os.stat(q).st_mode) != 0o640:
        assert time.monotonic() - t0 < 2.0
        time.sleep(0.05)
    assert os.getxattr(q, "user.k") == b"v"
    os.close(fd)


def test_233_unlink_and_truncate_of_the_open_file(cluster):
    d = os.path.join(cluster.mounts[0].path, "ks-233")
    os.mkdir(d)
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"0123456789")
    os.fchmod(fd, 0o600)
    assert os.fstat(fd).st_nlink == 1
    os.link(p, p + ".2")
    assert os.fstat(fd).st_nlink == 2
    os.unlink(p)
    os.unlink(p + ".2")
    assert os.fstat(fd).st_nlink == 0
    assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
    os.ftruncate(fd, 4)
    st = os.fstat(fd)
    assert st.st_size == 4
    os.lseek(fd, 0, os.SEEK_SET)
    assert os.read(fd, 100) == b"0123"
    os.close(fd)
    assert errno_of(os.stat, p) == errno.ENOENT
    # the same made again: a new file, mode from its own create
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.fchmod(fd, 0o604)
    os.close(fd)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o604
    os.unlink(p)
