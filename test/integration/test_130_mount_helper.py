"""mount.bigfs follows the mount.TYPE helper convention: `mount -t bigfs
MASTER DIR` and an fstab line work, options that mount(8) and fstab pass
(defaults, _netdev, noauto, ...) are accepted, and a wrong master address
fails loudly with a plain message instead of leaving a dead mount."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import MOUNT_BIN, is_mounted, let_feed_settle, wait_for

HELPER = "/sbin/mount.bigfs"


@pytest.fixture
def mount_helper():
    """/sbin/mount.bigfs pointing at the binary under test (as `make install`
    would put it); an installed helper is left as it is, but must be ours."""
    made = False
    if not os.path.lexists(HELPER):
        os.symlink(MOUNT_BIN, HELPER)
        made = True
    yield HELPER
    if made:
        os.unlink(HELPER)


def mounted_type(path):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields[2], fields[0]
    return None, None


def test_131_mount_t_bigfs(cluster, mount_helper, tmp_path):
    mnt = str(tmp_path / "m")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "bigfs", "-o", "defaults,_netdev,master_timeout=10," + cluster.mount_auth_opts(),
                    cluster.master_addr, mnt], check=True, timeout=60)
    try:
        assert is_mounted(mnt)
        fstype, source = mounted_type(mnt)
        assert fstype == "fuse.bigfs"
        assert source == cluster.master_addr
        # The same namespace as the test cluster's own mount.
        name = "via-mount-t.txt"
        with open(os.path.join(mnt, name), "w") as f:
            f.write("hello through mount -t\n")
        with open(os.path.join(cluster.mounts[0].path, name)) as f:
            assert f.read() == "hello through mount -t\n"
        os.unlink(os.path.join(mnt, name))
    finally:
        subprocess.run(["umount", mnt], timeout=60)
    assert not is_mounted(mnt)


def test_132_fstab_line(cluster, mount_helper, tmp_path):
    """A line in an fstab (given with -T, so the system's /etc/fstab is not
    touched) mounts with `mount DIR`."""
    mnt = str(tmp_path / "m")
    os.mkdir(mnt)
    fstab = tmp_path / "fstab"
    fstab.write_text("%s %s bigfs defaults,noauto,_netdev,nofail,master_timeout=10,%s 0 0\n"
                     % (cluster.master_addr, mnt, cluster.mount_auth_opts()))
    subprocess.run(["mount", "-T", str(fstab), mnt], check=True, timeout=60)
    try:
        assert mounted_type(mnt)[0] == "fuse.bigfs"
        assert os.path.isdir(mnt)
        os.listdir(mnt)
    finally:
        subprocess.run(["umount", mnt], timeout=60)


def test_133_wrong_master_fails_loudly(mount_helper, tmp_path):
    mnt = str(tmp_path / "m")
    os.mkdir(mnt)
    # A port nothing listens on.
    r = subprocess.run(["mount", "-t", "bigfs", "127.0.0.1:1", mnt], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0
    assert "127.0.0.1:1" in r.stderr
    assert not is_mounted(mnt)


def test_134_bad_options_refused(cluster, tmp_path):
    mnt = str(tmp_path / "m")
    os.mkdir(mnt)
    r = subprocess.run([MOUNT_BIN, "-o", "no_such_option_xyz", cluster.master_addr, mnt],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "no_such_option_xyz" in r.stderr
    assert not is_mounted(mnt)


def master_atime_ns(cluster, ino):
    st, j, raw = cluster.api("POST", "/v1/getattr", {"ino": ino})
    assert st == 200, raw
    return j["attr"]["atime_s"] * 10**9 + j["attr"]["atime_ns"]


@pytest.mark.parametrize("opts", ["noatime", "ro", "defaults,noatime,_netdev"])
def test_135_noatime_and_ro_mounts_leave_atime(cluster, opts):
    """The kernel leaves a FUSE mount's atime to the daemon: reads through
    a noatime or read-only mount must not move it; the same read through a
    default (relatime) mount does."""
    name = "atime-" + opts.replace(",", "-")
    p = os.path.join(cluster.mounts[0].path, name)
    with open(p, "w") as f:
        f.write("data")
    old = 10**18
    os.utime(p, ns=(old, old + 10**9))  # atime before mtime: relatime moves it
    ino = os.stat(p).st_ino
    m = cluster.mount("m-" + name, opts=opts)
    try:
        q = os.path.join(m.path, name)
        with open(q) as f:
            assert f.read() == "data"
        assert os.stat(q).st_atime_ns == old
        time.sleep(0.3)  # well past the mount's atime batching delay
        assert master_atime_ns(cluster, ino) == old
    finally:
        m.unmount()
        cluster.mounts.remove(m)
    with open(p) as f:
        assert f.read() == "data"
    assert os.stat(p).st_atime_ns > old + 10**9
    assert master_atime_ns(cluster, ino) > old + 10**9
    os.unlink(p)


def test_136_sigterm_after_unmount_loses_nothing(cluster):
    """`fusermount -u` and then SIGTERM, as a service manager stops a mount:
    what the mount had answered but not yet sent (queued creates and
    unlinks, closes' data behind) still reaches the master, the session is
    closed rather than left to time out, and the process exits 0."""
    d = os.path.join(cluster.mounts[0].path, "term-136")
    os.mkdir(d)
    for i in range(100):
        with open(os.path.join(d, "old%03d" % i), "wb") as f:
            f.write(b"old")
    m = cluster.mount("m-term-136")
    try:
        d2 = os.path.join(m.path, "term-136")
        for i in range(100):
            os.unlink(os.path.join(d2, "old%03d" % i))
        for i in range(200):
            with open(os.path.join(d2, "new%03d" % i), "wb") as f:
                f.write(b"new %d\n" % i * 50)
        subprocess.run(["fusermount3", "-u", "-z", m.path], check=True)
        m.daemon.proc.send_signal(signal.SIGTERM)
        assert m.daemon.proc.wait(timeout=30) == 0
    finally:
        m.unmount()
        cluster.mounts.remove(m)
    log = open(cluster.log_path("mount-m-term-136")).read()
    sess = re.search(r"\(session ([0-9a-f]+)", log).group(1)
    wait_for(lambda: ("session %s closed" % sess) in open(cluster.log_path("master")).read(),
             10, "the session's close at the master")
    let_feed_settle()
    assert sorted(os.listdir(d)) == ["new%03d" % i for i in range(200)]
    for i in range(200):
        with open(os.path.join(d, "new%03d" % i), "rb") as f:
            assert f.read() == b"new %d\n" % i * 50
