"""Commit behind (fuse/file_handle.h): the close of a file the mount made
and wrote once is answered once its data is on the workers; its commit is
queued and rides on the next batch (the next file's create). What a user
relies on stays: the writing mount sees its files at once; another mount
that opens, looks up or stats a file right after the close sees all of
it (the master asks the writer's mount, through its change feed, to send
what it queued first); a file another mount opened while it was being
written is committed at its close; an fsync of the file or of its folder
makes it durable; a mount killed with commits queued leaves each of those
files whole or empty, never partial, and every fsync'd one whole."""

import os
import signal
import subprocess
import sys
import time

from conftest import drop_caches, finish_cluster, let_feed_settle, make_cluster
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import calls, commits, creates, delta, route_counts, settled_delta
from test_225_queued_unlinks import start_child, wake_and_finish


def _contents(i):
    return (b"file %06d\n" % i) * (1 + i % 300)


def test_238_small_files_commit_on_the_next_batch(cluster):
    """A loop of create, write, close: no commit of its own per file; the
    commits ride on the creates' batches. Every file reads back whole,
    from the page cache and after it is dropped."""
    let_feed_settle()
    d = os.path.join(cluster.mounts[0].path, "cb-238")
    os.mkdir(d)
    before = route_counts(cluster)
    n = 300
    for i in range(n):
        with open(os.path.join(d, "f%04d" % i), "wb") as f:
            f.write(_contents(i))
    d_ = settled_delta(cluster, before)
    assert d_.get("/v1/commit", 0) <= 5, d_
    assert commits(d_) == n and creates(d_) == n, d_
    assert d_.get("/v1/create", 0) <= 5, d_     # the creates ride on the batches
    assert calls(d_) <= n + 5, d_
    for i in range(n):
        p = os.path.join(d, "f%04d" % i)
        assert os.stat(p).st_size == len(_contents(i)), i
    drop_caches()
    for i in range(n):
        with open(os.path.join(d, "f%04d" % i), "rb") as f:
            assert f.read() == _contents(i), i


def test_238f_tar_like_setattrs_ride_on_the_commit(cluster, bigfs_pair):
    """tar sets each file's mtime, owner and mode on the open descriptor
    (futimens, fchown, fchmod) before close: those ride on the commit
    behind, in the next file's batch, with no call of their own. The
    attributes this mount answers at once are the ones the master keeps:
    the other mount sees the same mode, owner, size, mtime and ctime."""
    let_feed_settle()
    d1, d2 = bigfs_pair
    mtime = 1600000000.25
    before = route_counts(cluster)
    n = 60
    for i in range(n):
        fd = os.open(os.path.join(d1, "t%03d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        os.write(fd, _contents(i))
        os.utime(fd, ns=(int(mtime * 1e9) + i, int(mtime * 1e9) + i))
        os.fchown(fd, 1000 + i, 2000 + i)
        os.fchmod(fd, 0o640 if i % 2 else 0o755)
        os.close(fd)
    d_ = delta(before, route_counts(cluster))
    assert d_.get("/v1/commit", 0) <= 5, d_
    assert d_.get("/v1/setattr", 0) == 0, d_
    here = [os.stat(os.path.join(d1, "t%03d" % i)) for i in range(n)]
    there = [os.stat(os.path.join(d2, "t%03d" % i)) for i in range(n)]
    for i in range(n):
        a, b = here[i], there[i]
        assert a.st_size == b.st_size == len(_contents(i)), i
        assert a.st_mode == b.st_mode and a.st_mode & 0o7777 == (0o640 if i % 2 else 0o755), i
        assert (a.st_uid, a.st_gid) == (b.st_uid, b.st_gid) == (1000 + i, 2000 + i), i
        assert a.st_mtime_ns == b.st_mtime_ns == int(mtime * 1e9) + i, i
        assert a.st_ctime_ns == b.st_ctime_ns, (i, a.st_ctime_ns, b.st_ctime_ns)
        assert a.st_ctime > mtime, i
    drop_caches()
    for i in range(n):
        with open(os.path.join(d2, "t%03d" % i), "rb") as f:
            assert f.read() == _contents(i), i
        st = os.stat(os.path.join(d1, "t%03d" % i))
        assert st.st_ctime_ns == here[i].st_ctime_ns, i


def test_238b_other_mount_sees_each_file_right_after_its_close(bigfs_pair):
    """Close-to-open for new files under a race: each file made and closed
    on one mount is stat'ed and read on the other right away, both ways,
    hundreds of times."""
    d1, d2 = bigfs_pair
    for i in range(200):
        src, dst = (d1, d2) if i % 2 == 0 else (d2, d1)
        data = _contents(i)
        with open(os.path.join(src, "n%03d" % i), "wb") as f:
            f.write(data)
        p = os.path.join(dst, "n%03d" % i)
        assert os.stat(p).st_size == len(data), i
        with open(p, "rb") as f:
            assert f.read() == data, i


def test_238c_a_file_opened_elsewhere_while_written_commits_at_close(bigfs_pair):
    """The other mount opens a new file while it is being written and keeps
    it open; its opens after the writer's close (which it makes without
    asking the master: it has the file open) see everything written."""
    d1, d2 = bigfs_pair
    for k in range(20):
        name = "w%02d" % k
        fd = os.open(os.path.join(d1, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"a" * 1000)
        held = open(os.path.join(d2, name), "rb")   # while mount 1 writes
        os.write(fd, b"b" * 1000)
        os.close(fd)
        with open(os.path.join(d2, name), "rb") as f:
            got = f.read()
        held.close()
        assert got == b"a" * 1000 + b"b" * 1000, (k, len(got))


def test_238d_fsync_of_the_folder_waits_for_queued_commits(tmp_path_factory):
    """Files closed, then an fsync of their folder, then the mount killed:
    all of them are whole on a new mount."""
    c = make_cluster(tmp_path_factory, "cb238d")
    try:
        m1 = c.mounts[0]
        d = os.path.join(m1.path, "d")
        os.mkdir(d)
        for i in range(50):
            with open(os.path.join(d, "f%02d" % i), "wb") as f:
                f.write(_contents(i))
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        m1.daemon.send(signal.SIGKILL)
        subprocess.run(["fusermount3", "-u", "-z", m1.path])
        m2 = c.mount(name="mnt-after")
        d2 = os.path.join(m2.path, "d")
        for i in range(50):
            with open(os.path.join(d2, "f%02d" % i), "rb") as f:
                assert f.read() == _contents(i), i
    finally:
        finish_cluster(c)


def test_238e_mount_killed_with_commits_queued(tmp_path_factory):
    """A child makes files while the master is stopped under it, so the
    creates and commits of its last files wait in the queue (or on the
    socket); the mount is killed. On a new mount the files there are the
    first ones made, in order, each whole or empty (never partial), the
    written ones first; the one fsync'd before is whole; the folder lists
    and empties as it should."""
    c = make_cluster(tmp_path_factory, "cb238e")
    try:
        m1 = c.mounts[0]
        d = os.path.join(m1.path, "d")
        os.mkdir(d)
        with open(os.path.join(d, "synced"), "wb") as f:
            f.write(b"synced" * 1000)
            f.flush()
            os.fsync(f.fileno())
        code = ("import os, sys\n"
                "d = sys.argv[1]\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "for i in range(100000):\n"
                "    with open(os.path.join(d, 'f%06d' % i), 'wb') as f:\n"
                "        f.write((b'file %06d\\n' % i) * (1 + i % 300))\n"
                "    print(i, flush=True)\n")
        child = start_child(code, d)
        child.stdin.write(b"go\n")
        child.stdin.flush()
        done = -1
        t0 = time.monotonic()
        while done < 200 and time.monotonic() - t0 < 60:
            done = int(child.stdout.readline())
        c.master.send(signal.SIGSTOP)
        time.sleep(0.5)                       # its next create waits on the master
        m1.daemon.send(signal.SIGKILL)
        c.master.send(signal.SIGCONT)
        child.kill()
        child.wait()
        subprocess.run(["fusermount3", "-u", "-z", m1.path])
        m2 = c.mount(name="mnt-after")
        d2 = os.path.join(m2.path, "d")
        names = sorted(os.listdir(d2))
        assert "synced" in names
        with open(os.path.join(d2, "synced"), "rb") as f:
            assert f.read() == b"synced" * 1000
        files = [x for x in names if x != "synced"]
        # the creates the mount answered itself (fs_create_local) reach
        # the master in order: the kill loses the last ones, never one in
        # the middle; the same holds for the files' data (whole, else
        # empty, never partial)
        assert files == ["f%06d" % i for i in range(len(files))], files[:3] + files[-3:]
        assert len(files) >= 1
        whole = 0
        for name in files:
            i = int(name[1:])
            with open(os.path.join(d2, name), "rb") as f:
                got = f.read()
            assert got in (b"", _contents(i)), (name, len(got))
            assert got == b"" or whole == i, (name, whole)
            whole += got != b""
        print("%d files made before the kill, %d of them written" % (len(files), whole))
        assert os.stat(d2).st_nlink == 2
        for name in names:
            os.unlink(os.path.join(d2, name))
        os.rmdir(d2)
    finally:
        wake_and_finish(c)
