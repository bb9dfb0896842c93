"""Master failures: stop (TERM) and kill -9 of the master, restart on the
same data folder and port: every file and folder is intact and the existing
mount keeps working; a call made while the master is down waits and
succeeds once it returns; with the master away longer than master_timeout
a call fails with EIO in bounded time instead of hanging."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import drop_caches, finish_cluster, make_cluster, sha256_file, \
    write_random_file

PY = sys.executable or "/usr/bin/python3"


@pytest.fixture(scope="module")
def mcluster(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "masterfail", nworkers=2)
    # A second mount of the same cluster that gives up on the master after 3 s.
    c.mount("mnt-short", opts="master_timeout=3")
    yield c
    finish_cluster(c)


@pytest.fixture(scope="module")
def content(mcluster):
    root = os.path.join(mcluster.mounts[0].path, "keep")
    shas = {}
    dirs = []
    for d in ["a", "a/b", "a/b/c", "empty", "x"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
        dirs.append(d)
    for rel, size in [("a/f1", 10), ("a/b/f2", 100000), ("a/b/c/f3", 3 << 20),
                      ("x/f4", 0), ("top", 70 << 10)]:
        shas[rel] = write_random_file(os.path.join(root, rel), size)
    os.symlink("a/f1", os.path.join(root, "link"))
    return root, shas, dirs


def check_intact(root, shas, dirs):
    for d in dirs:
        assert os.path.isdir(os.path.join(root, d)), d
    assert os.readlink(os.path.join(root, "link")) == "a/f1"
    drop_caches()
    for rel, sha in shas.items():
        assert sha256_file(os.path.join(root, rel)) == sha, rel
    names = set()
    for r, ds, fs in os.walk(root):
        for n in ds + fs:
            names.add(os.path.relpath(os.path.join(r, n), root))
    assert names == set(dirs) | set(shas) | {"link"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill9"])
def test_311_master_restart_same_dir_and_port(mcluster, content, sig):
    addr = mcluster.master_addr
    rc = mcluster.stop_master(sig)
    if sig == signal.SIGTERM:
        assert rc == 0, "master exited with %s on SIGTERM" % rc
    mcluster.start_master()
    assert mcluster.master_addr == addr
    mcluster.wait_live(timeout=60)
    check_intact(*content)
    # the existing mount keeps working, for reads and writes
    p = os.path.join(content[0], "after-restart")
    sha = write_random_file(p, 200000)
    drop_caches()
    assert sha256_file(p) == sha
    os.unlink(p)


def test_313_call_during_outage_waits_then_succeeds(mcluster, content):
    root = mcluster.mounts[0].path
    mcluster.stop_master(signal.SIGKILL)
    # New names, so the kernel must ask the master (nothing cached).
    proc = subprocess.Popen(["sh", "-c", 'mkdir "$1/made-while-down" && echo hi > "$1/made-while-down/f"',
                             "_", root], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # While the master is away the call must neither fail nor return.
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        assert proc.returncode is None, (
            "call returned %s while the master was down: %r" % (proc.returncode, proc.stderr.read()))
        mcluster.start_master()
        out, err = proc.communicate(timeout=45)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(os.path.join(root, "made-while-down", "f")) as f:
        assert f.read() == "hi\n"
    mcluster.wait_live(timeout=60)


def test_314_master_timeout_gives_eio_not_hang(mcluster, content):
    short = mcluster.mounts[1].path
    assert os.path.isdir(os.path.join(short, "keep"))  # works while the master is up
    mcluster.stop_master(signal.SIGKILL)
    code = ("import os, sys\n"
            "try:\n"
            "    os.mkdir(sys.argv[1])\n"
            "    print('OK')\n"
            "except OSError as e:\n"
            "    print(e.errno)\n")
    t0 = time.monotonic()
    try:
        r = subprocess.run([PY, "-c", code, os.path.join(short, "never-made")],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a call on a master_timeout=3 mount hung for 30 s with the master down")
    finally:
        elapsed = time.monotonic() - t0
        mcluster.start_master()
    assert r.stdout.strip() == str(errno.EIO), (r.stdout, r.stderr)
    assert 2.0 <= elapsed <= 20, elapsed
    mcluster.wait_live(timeout=60)
    # both mounts work again once the master is back
    assert not os.path.exists(os.path.join(short, "never-made"))
    os.mkdir(os.path.join(short, "keep", "made-after"))
    assert os.path.isdir(os.path.join(mcluster.mounts[0].path, "keep", "made-after"))
    os.rmdir(os.path.join(short, "keep", "made-after"))
    check_intact(*content)


@pytest.mark.parametrize("sig,wait", [(signal.SIGTERM, 0.0), (signal.SIGKILL, 2.5)],
                         ids=["term-at-once", "kill9-after-2.5s"])
def test_315_read_atime_survives_master_restart(mcluster, content, sig, wait):
    """The master keeps read atimes in memory for up to a second: a clean
    stop writes them out at once, and a second later they are on disk
    even for a kill -9."""
    p = os.path.join(content[0], "a", "f1")
    os.utime(p, ns=(10**18, 10**18 + 10**9))  # atime before mtime: a read moves it
    ino = os.stat(p).st_ino
    t0 = int(time.time())
    st, j, raw = mcluster.api("POST", "/v1/atime", {"inos": [ino]})
    assert st == 200 and j == {"noted": 1}, raw
    st, j, raw = mcluster.api("POST", "/v1/getattr", {"ino": ino})
    assert st == 200 and j["attr"]["atime_s"] >= t0, raw  # shown before written
    time.sleep(wait)
    rc = mcluster.stop_master(sig)
    if sig == signal.SIGTERM:
        assert rc == 0, "master exited with %s on SIGTERM" % rc
    mcluster.start_master()
    st, j, raw = mcluster.api("POST", "/v1/getattr", {"ino": ino})
    assert st == 200, raw
    assert t0 <= j["attr"]["atime_s"] <= int(time.time()), raw
    assert (j["attr"]["mtime_s"], j["attr"]["mtime_ns"]) == (10**9 + 1, 0), raw
    mcluster.wait_live(timeout=60)
