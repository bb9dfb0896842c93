"""The open prefetch (fuse/file_handle.h, fh_open_prefetch): a mount that
knows where a small file's chunk is (it wrote the file, or read it
before) reads the file from the workers while the master answers the
open, and uses those bytes only if the master's answer names the same
chunk version and size. Close-to-open holds as without it.

- a: a file the mount wrote is read with its open: one prefetch, used,
  one master call (the open, or a location ask at the first read);
- b: another mount changes the file in every way its chunk can change
  (rewritten in place, truncated and written again, grown, shrunk,
  replaced by a rename, overwritten by copy_file_range) and the reader's
  next open shows the new bytes at once, every time: each stale guess is
  thrown away, and none is held against the workers (no replica reported
  to the master, none marked failed);
- c: a file larger than the prefetch limit is not prefetched.

Own cluster: two mounts, both with metrics; the trash is off."""

import os

import pytest

from conftest import finish_cluster, wait_for
from test_210_master_calls import delta, route_counts
from test_235_push_invalidation import mount_counter, read, write
from test_750_metrics import metered_pair


@pytest.fixture(scope="module")
def pp(tmp_path_factory):
    c, a, b = metered_pair(tmp_path_factory, "prefetch567")
    yield c, a, b
    finish_cluster(c)


def test_567a_own_file_read_with_its_open(pp):
    c, ma, _ = pp
    p = os.path.join(c.mounts[0].path, "own-a")
    data = os.urandom(5000)
    write(p, data)
    started = mount_counter(ma, "bigfs_mount_open_prefetches_total")
    hits = mount_counter(ma, "bigfs_mount_prefetch_hits_total")
    before = route_counts(c)
    assert read(p) == data
    d_ = delta(before, route_counts(c))
    assert mount_counter(ma, "bigfs_mount_open_prefetches_total") == started + 1
    assert mount_counter(ma, "bigfs_mount_prefetch_hits_total") == hits + 1
    # the master still answers once after the open began: the open itself,
    # or (the file still open on the master from its write) a location ask
    assert d_.get("/v1/open", 0) + d_.get("/v1/chunks", 0) == 1, d_
    # and again, now from the locations the last read learned
    assert read(p) == data
    assert mount_counter(ma, "bigfs_mount_prefetch_hits_total") == hits + 2


def test_567b_other_mounts_changes_show_at_the_next_open(pp):
    c, ma, mb = pp
    a, b = (m.path for m in c.mounts)
    fa, fb = os.path.join(a, "shared-b"), os.path.join(b, "shared-b")
    first = os.urandom(6000)
    write(fa, first)
    wait_for(lambda: os.path.exists(fb), 5, "the file on the other mount")
    assert read(fa) == first        # A knows where the file is now
    reported_a = mount_counter(ma, "bigfs_mount_replicas_reported_total")
    reported_b = mount_counter(mb, "bigfs_mount_replicas_reported_total")
    started = mount_counter(ma, "bigfs_mount_open_prefetches_total")
    hits = mount_counter(ma, "bigfs_mount_prefetch_hits_total")

    def in_place(data):
        with open(fb, "r+b") as f:
            f.write(data)

    def truncated(data):
        write(fb, data)

    def grown(data):
        with open(fb, "ab") as f:
            f.write(data[len(current[0]):])

    def shrunk(data):
        os.truncate(fb, len(data))

    def renamed_over(data):
        tmp = os.path.join(b, "shared-b.tmp")
        write(tmp, data)
        os.rename(tmp, fb)

    def copied_over(data):
        src = os.path.join(b, "shared-b.src")
        write(src, data)
        fi, fo = os.open(src, os.O_RDONLY), os.open(fb, os.O_WRONLY)
        try:
            assert os.copy_file_range(fi, fo, len(data), 0, 0) == len(data)
        finally:
            os.close(fi)
            os.close(fo)
        os.unlink(src)

    current = [first]
    steps = [("in place", in_place, lambda d: os.urandom(len(d))),
             ("truncated and written", truncated, lambda d: os.urandom(len(d))),
             ("grown", grown, lambda d: d + os.urandom(3000)),
             ("shrunk", shrunk, lambda d: d[:2500]),
             ("renamed over", renamed_over, lambda d: os.urandom(len(d))),
             ("copied over", copied_over, lambda d: os.urandom(len(d)))]
    for what, change, make in steps:
        new = make(current[0])
        change(new)
        if len(new) != len(current[0]) or what == "renamed over":
            # A's kernel learns the new size (or the new inode behind
            # the name) from the change feed: milliseconds
            wait_for(lambda: os.stat(fa).st_size == len(new) and
                     os.stat(fa).st_ino == os.stat(fb).st_ino, 5, what)
        assert read(fa) == new, what      # at once: close-to-open
        current[0] = new
        assert read(fa) == new, what      # and from what that open learned
    # stale guesses were made and thrown away; the confirmed ones used
    assert mount_counter(ma, "bigfs_mount_open_prefetches_total") >= started + len(steps)
    assert mount_counter(ma, "bigfs_mount_prefetch_hits_total") >= hits + len(steps) - 1
    # a guess the workers refuse (an old version, a chunk gone) is no fault
    assert mount_counter(ma, "bigfs_mount_replicas_reported_total") == reported_a
    assert mount_counter(mb, "bigfs_mount_replicas_reported_total") == reported_b
    with open(c.log_path("master")) as f:
        assert "dropping failed replica" not in f.read()


def test_567c_big_file_not_prefetched(pp):
    c, ma, _ = pp
    p = os.path.join(c.mounts[0].path, "big-c")
    data = os.urandom((1 << 20) + 1)
    write(p, data)
    assert read(p) == data
    started = mount_counter(ma, "bigfs_mount_open_prefetches_total")
    assert read(p) == data
    assert mount_counter(ma, "bigfs_mount_open_prefetches_total") == started
