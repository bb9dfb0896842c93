"""TLS between every process (docs/api.md, "Transport: TLS and limits").

A master and three workers run with --tls-cert/--tls-key/--tls-ca from
scripts/make-certs.sh, and a mount with -o tls,cafile=ca.pem. Files written
and read through the mount travel mount -> master and mount -> workers over
https (the daemons serve nothing else), and worker -> master (registration)
and master -> worker (deletions) too. The checks here go through the mount
and through `curl --cacert` on the public /v1/health, never through raw API
calls (those need a login)."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import (Cluster, MOUNT_BIN, drop_caches, finish_cluster, make_certs,
                      make_cluster, sha256_file, skip_reason, write_random_file)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None or shutil.which("openssl") is None,
                                reason="needs curl and openssl")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certs):
    c = make_cluster(tmp_path_factory, "tls", tls_dir=certs)
    yield c
    finish_cluster(c)


def curl(*args, timeout=10):
    return subprocess.run(["curl", "-sS", "--max-time", "5"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def run_mount(cluster, master_addr, opts, path, timeout=20):
    """Run a mount that is expected to fail: (exit status, output, seconds)."""
    os.makedirs(path, exist_ok=True)
    auth = cluster.mount_auth_opts()
    opts = ",".join(o for o in (opts, auth) if o)
    t0 = time.monotonic()
    p = subprocess.run([MOUNT_BIN, "-f", "-o", opts, master_addr, path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), time.monotonic() - t0


def test_files_roundtrip_over_tls(tls_cluster):
    root = os.path.join(tls_cluster.mounts[0].path, "tls_roundtrip")
    os.mkdir(root)
    want = {}
    want["big"] = write_random_file(os.path.join(root, "big"), 20 << 20)
    for i, size in enumerate([0, 1, 4095, 65537, 300000]):
        want["small%d" % i] = write_random_file(os.path.join(root, "small%d" % i), size)
    drop_caches()
    for name, digest in want.items():
        assert sha256_file(os.path.join(root, name)) == digest, name
    assert os.path.getsize(os.path.join(root, "big")) == 20 << 20
    # every replica was written and read over https: the workers serve
    # nothing else (a chunk of the big file exists on the workers' disks)
    locs = os.getxattr(os.path.join(root, "big"), "bigfs.locations").decode()
    assert locs.strip(), "no chunk locations for the big file"


def test_health_with_curl_cacert(tls_cluster, certs):
    ca = os.path.join(certs, "ca.pem")
    for addr in [tls_cluster.master_addr] + [tls_cluster.worker_addr(i) for i in range(3)]:
        p = curl("--cacert", ca, "https://%s/v1/health" % addr)
        assert p.returncode == 0, p.stderr
        assert b'"ok":true' in p.stdout.replace(b" ", b""), p.stdout


def test_plain_http_refused(tls_cluster):
    for addr in [tls_cluster.master_addr, tls_cluster.worker_addr(0)]:
        p = curl("http://%s/v1/health" % addr)
        assert p.returncode != 0, "plain HTTP answered: %r" % p.stdout[:200]
        assert b'"ok"' not in p.stdout


def test_wrong_ca_refused(tls_cluster, tmp_path):
    other = make_certs(tmp_path / "other")
    other_ca = os.path.join(other, "ca.pem")
    p = curl("--cacert", other_ca, "https://%s/v1/health" % tls_cluster.master_addr)
    assert p.returncode == 60, (p.returncode, p.stderr)   # peer certificate not verified
    rc, out, secs = run_mount(tls_cluster, tls_cluster.master_addr,
                              "tls,cafile=" + other_ca, str(tmp_path / "mnt"))
    assert rc != 0, out
    assert "does not verify" in out, out
    assert secs < 10, "the mount took %.1f s to fail" % secs


def test_plain_mount_of_tls_master_fails(tls_cluster, tmp_path):
    rc, out, secs = run_mount(tls_cluster, tls_cluster.master_addr, "", str(tmp_path / "mnt"))
    assert rc != 0, out
    assert "-o tls" in out, out
    assert secs < 10, "the mount took %.1f s to fail" % secs


def test_tls_mount_of_plain_master_fails_at_once(tmp_path_factory, certs):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("plain")
    c = Cluster(base, nworkers=0)
    try:
        c.start()
        rc, out, secs = run_mount(c, c.master_addr,
                                  "tls,cafile=" + os.path.join(certs, "ca.pem"),
                                  os.path.join(str(base), "mnt"))
    finally:
        c.stop()
    assert rc != 0, out
    assert "TLS was required" in out, out
    assert secs < 5, "the mount took %.1f s to fail" % secs


def test_admin_command_over_tls(tls_cluster, certs):
    """`bigfs --cafile CA workers` lists the TLS cluster's workers; without
    the CA (plain HTTP) it fails."""
    admin = os.path.join(os.path.dirname(MOUNT_BIN), "bigfs")
    ca = os.path.join(certs, "ca.pem")
    p = subprocess.run([admin, "--master", tls_cluster.master_addr, "--cafile", ca, "workers"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    for i in range(3):
        assert tls_cluster.worker_id(i).encode() in p.stdout, p.stdout
    p = subprocess.run([admin, "--master", tls_cluster.master_addr, "workers"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode != 0
