"""Sole use (master/inval_log.h): a mount that is the master's only
client opens files without asking it, since nobody else can have changed
them. Another client's arrival ends that first, and close-to-open and
unlinked-but-open files behave as before.

- a: alone, a read-only open of a file the mount wrote costs no master
  call (no /v1/open, no /v1/chunks), and reads the right bytes; a second
  open keeps the kernel's page cache (no read reaches the mount), and
  still shows what the mount itself wrote in between;
- b: a second mount comes: its session waits until the first mount heard
  that sole use ended, so its rewrite of a file shows in the first
  mount's next open at once (close-to-open), through the master;
- c: a file opened under sole use and unlinked by the mount itself while
  it is alone, or by the second mount once it came, is still read whole
  through the open descriptor after the unlink grace period (the open was
  declared before the unlink, or when sole use ended);
- d: once the second mount is gone, the first is alone again and opens
  without the master again;
- e: a mount that holds sole use and stops answering (SIGSTOP: no poll)
  delays another mount's arrival only until its grant runs out (3 s), and
  once it runs again, its opens go to the master: it shows the file the
  other mount rewrote meanwhile.

Own cluster: one mount with metrics, then a second; the trash is off."""

import os
import signal
import time

import pytest

from conftest import drop_caches, finish_cluster, make_cluster, wait_for
from test_210_master_calls import delta, route_counts
from test_235_push_invalidation import mount_counter, read, write
from test_750_metrics import mount_metrics_addr

SOLE = "bigfs_mount_sole_opens_total"
GRACE_S = 5 + 2        # the master's unlink grace (session.h) and its reaper
BIG = 3 << 20          # past the open prefetch (FH_SPEC_MAX): reads go to the workers


@pytest.fixture(scope="module")
def sc(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "sole569", nworkers=2, mount_opts="metrics=127.0.0.1:0")
    try:
        addr = mount_metrics_addr(c, c.mounts[0])
    except BaseException:
        finish_cluster(c)
        raise
    yield c, addr
    finish_cluster(c)


def sole_again(addr, path, timeout=30):
    """Wait until the mount opens path without the master (its feed said
    sole use holds); returns the bytes read. After another mount went
    away, that may take until its session timed out (15 s), should its
    close not have reached the master."""
    def opened_alone():
        n = mount_counter(addr, SOLE)
        data = read(path)
        return data if mount_counter(addr, SOLE) > n else None
    return wait_for(opened_alone, timeout, "an open answered under sole use")


def test_569a_alone_opens_need_no_master(sc):
    c, addr = sc
    d = os.path.join(c.mounts[0].path, "a")
    os.mkdir(d)
    files = {os.path.join(d, "f%d" % i): os.urandom(3000 + i) for i in range(20)}
    for p, data in files.items():
        write(p, data)
    sole_again(addr, next(iter(files)))
    drop_caches()
    before, n = route_counts(c), mount_counter(addr, SOLE)
    for p, data in files.items():
        assert read(p) == data
    d_ = delta(before, route_counts(c))
    assert mount_counter(addr, SOLE) == n + len(files)
    assert d_.get("/v1/open", 0) == 0, d_
    assert d_.get("/v1/chunks", 0) == 0, d_


def test_569c_own_unlink_of_a_file_open_alone(sc):
    c, addr = sc
    p = os.path.join(c.mounts[0].path, "kept-by-a")
    data = os.urandom(BIG)
    write(p, data)
    sole_again(addr, p)
    n = mount_counter(addr, SOLE)
    with open(p, "rb") as f:
        assert mount_counter(addr, SOLE) == n + 1
        os.unlink(p)
        time.sleep(GRACE_S)
        drop_caches()
        assert f.read() == data


def test_569bcd_another_client_ends_sole_use(sc):
    c, addr = sc
    a = c.mounts[0].path
    pa = os.path.join(a, "shared")
    write(pa, b"one" * 1000)
    kept_b = os.path.join(a, "kept-unlinked-by-b")
    kept_data = os.urandom(BIG)
    write(kept_b, kept_data)
    sole_again(addr, pa)
    # opened under sole use, held open across everything below
    n = mount_counter(addr, SOLE)
    fb = open(kept_b, "rb")
    assert mount_counter(addr, SOLE) == n + 1
    try:
        t0 = time.monotonic()
        c.mount("mntb")
        b = c.mounts[1].path
        pb = os.path.join(b, "shared")
        # b: B rewrites the file in place; A's next open shows it at once
        with open(pb, "r+b") as f:
            f.write(b"TWO")
        n = mount_counter(addr, SOLE)
        assert read(pa) == b"TWO" + b"one" * 999
        assert mount_counter(addr, SOLE) == n
        # c: B unlinks a file A holds open since it was alone
        os.unlink(os.path.join(b, "kept-unlinked-by-b"))
        time.sleep(GRACE_S)
        drop_caches()
        assert fb.read() == kept_data
        assert time.monotonic() - t0 < 60
    finally:
        fb.close()
    # d: B goes; A is alone again (at the latest once B's session timed
    # out, 15 s, should its close not have reached the master)
    m = c.mounts.pop()
    m.unmount()
    assert sole_again(addr, pa) == b"TWO" + b"one" * 999


def test_569e_a_paused_holder_delays_others_until_its_grant_runs_out(sc):
    c, addr = sc
    a = c.mounts[0].path
    pa = os.path.join(a, "paused")
    write(pa, b"old" * 1000)
    sole_again(addr, pa)
    ma = c.mounts[0]
    ma.daemon.send(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        c.mount("mnte")
        with open(os.path.join(c.mounts[1].path, "paused"), "r+b") as f:
            f.write(b"NEW")
        joined = time.monotonic() - t0
    finally:
        ma.daemon.send(signal.SIGCONT)
    # the grant was good for 3 s from its last reply (its poll came every
    # 0.8 s): the new mount waited for that, and no longer
    assert 1.5 <= joined < 3.5 + 5, joined
    n = mount_counter(addr, SOLE)
    assert read(pa) == b"NEW" + b"old" * 999
    assert mount_counter(addr, SOLE) == n
    m = c.mounts.pop()
    m.unmount()


def test_569a2_page_cache_kept_between_opens(sc):
    c, addr = sc
    p = os.path.join(c.mounts[0].path, "kept-cache")
    data = os.urandom(200 << 10)
    write(p, data)
    sole_again(addr, p)        # this period's first open: cache dropped
    got = mount_counter(addr, "bigfs_mount_read_bytes_total")
    assert read(p) == data
    assert read(p) == data
    assert mount_counter(addr, "bigfs_mount_read_bytes_total") == got
    # the mount's own write goes through that cache
    with open(p, "r+b") as f:
        f.seek(4096)
        f.write(b"own write")
    assert read(p) == data[:4096] + b"own write" + data[4096 + 9:]
