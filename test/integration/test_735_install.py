"""`make install` puts every file where mount(8), systemd and the docs
expect it: the binaries, mount.bigfs with its /sbin helper link, the
systemd units with their paths rewritten for PREFIX, the sysusers file,
the short configs in /etc/bigfs (an operator's edited file is kept), the
full examples and docs, bash completion. The units pass `systemd-analyze
verify` with nothing to say and a security review at "OK" exposure or
better; the installed configs are accepted by the installed daemons.

Everything is installed under a fresh DESTDIR (no root, nothing on the
host is touched). The binaries are the ones under $BIGFS_BUILD, taken as
they are (`make -o`): this test checks the installation, not the build.
"""

import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import BUILD, REPO, wait_for

BINS = ["bigfs-master", "bigfs-worker", "bigfs", "bigfs-devbroker", "mount.bigfs"]
UNITS = ["bigfs-master.service", "bigfs-worker.service", "bigfs-worker@.service"]


def make_install(dest, *variables):
    """make install into dest; returns its output. Fails with it."""
    for b in BINS:
        assert os.access(os.path.join(BUILD, b), os.X_OK), \
            "%s is missing: run make first (BIGFS_BUILD=%s)" % (b, BUILD)
    argv = ["make", "--no-print-directory", "-C", REPO, "install", "BUILD=" + BUILD,
            "DESTDIR=" + str(dest)] + list(variables)
    argv += ["--assume-old=" + os.path.join(BUILD, b) for b in BINS]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "make install failed:\n%s\n%s" % (r.stdout, r.stderr)
    return r.stdout + r.stderr


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def unit_value(text, key):
    return [m.group(1) for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def test_736_layout(tmp_path):
    d = str(tmp_path / "root")
    make_install(d)
    for b in ["bigfs-master", "bigfs-worker", "bigfs", "bigfs-devbroker"]:
        p = d + "/usr/local/bin/" + b
        assert mode(p) == 0o755, p
        with open(p, "rb") as f, open(os.path.join(BUILD, b), "rb") as g:
            assert f.read() == g.read(), "%s is not the built %s" % (p, b)
    assert mode(d + "/usr/local/sbin/mount.bigfs") == 0o755
    # mount(8) runs /sbin/mount.TYPE: a link to the installed helper
    assert os.readlink(d + "/sbin/mount.bigfs") == "/usr/local/sbin/mount.bigfs"
    for u in UNITS:
        p = d + "/lib/systemd/system/" + u
        assert mode(p) == 0o644, p
        text = open(p).read()
        exe = unit_value(text, "ExecStart")[0].split()[0]
        assert exe in ("/usr/local/bin/bigfs-master", "/usr/local/bin/bigfs-worker"), exe
        assert unit_value(text, "After") == ["network-online.target"]
        assert unit_value(text, "Wants") == ["network-online.target"]
        assert unit_value(text, "Restart") == ["on-failure"]
        assert unit_value(text, "User") == ["bigfs"]
        assert unit_value(text, "Documentation") == ["file:/usr/local/share/doc/bigfs/operations.md"]
        assert any(v.startswith("-/etc/default/") for v in unit_value(text, "EnvironmentFile"))
        assert "--config /etc/bigfs/" in unit_value(text, "ExecStart")[0]
    worker = open(d + "/lib/systemd/system/bigfs-worker.service").read()
    assert unit_value(worker, "LoadCredential") == ["secret:/etc/bigfs/secret"]
    assert "--secret ${CREDENTIALS_DIRECTORY}/secret" in worker
    assert open(d + "/usr/lib/sysusers.d/bigfs.conf").read().count("\nu bigfs ") == 1
    for f in ["master.cfg", "worker.cfg", "exports.cfg"]:
        assert mode(d + "/etc/bigfs/" + f) == 0o644
    for f in ["bigfs-master.cfg.example", "bigfs-worker.cfg.example", "fstab.example",
              "operations.md", "exports.md"]:
        assert os.path.isfile(d + "/usr/local/share/doc/bigfs/" + f), f
    fstab = open(d + "/usr/local/share/doc/bigfs/fstab.example").read()
    assert re.search(r"^MASTER:9400\s+/mnt/bigfs\s+bigfs\s+_netdev,passfile=/etc/bigfs/mount.pass\s+0 0$",
                     fstab, re.M), fstab
    if os.path.exists(os.path.join(REPO, "scripts", "bigfs-completion.bash")):
        assert os.path.isfile(d + "/usr/local/share/bash-completion/completions/bigfs")
    # The installed programs run.
    for b in ["bigfs-master", "bigfs-worker"]:
        r = subprocess.run([d + "/usr/local/bin/" + b, "--help"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and "usage" in (r.stdout + r.stderr), (b, r)
    # ... and uninstall takes it all away again but the configs.
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "uninstall", "DESTDIR=" + d],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    left = sorted(os.path.relpath(os.path.join(root, f), d)
                  for root, _, files in os.walk(d) for f in files)
    assert left == ["etc/bigfs/exports.cfg", "etc/bigfs/master.cfg", "etc/bigfs/worker.cfg"], left


def test_737_prefix_and_kept_config(tmp_path):
    d = str(tmp_path / "root")
    make_install(d, "PREFIX=/usr")
    unit = open(d + "/lib/systemd/system/bigfs-master.service").read()
    assert unit_value(unit, "ExecStart")[0].startswith("/usr/bin/bigfs-master ")
    assert unit_value(unit, "Documentation") == ["file:/usr/share/doc/bigfs/operations.md"]
    assert os.readlink(d + "/sbin/mount.bigfs") == "/usr/sbin/mount.bigfs"
    # An operator's edits survive the next install; the new file lands beside.
    cfg = d + "/etc/bigfs/master.cfg"
    with open(cfg, "a") as f:
        f.write("log-level = debug\n")
    mine = open(cfg).read()
    out = make_install(d, "PREFIX=/usr")
    assert open(cfg).read() == mine
    assert os.path.isfile(cfg + ".new") and "log-level = debug" not in open(cfg + ".new").read()
    assert "keeping " + cfg in out


def installed_units_for_verify(d, where):
    """Copies of the installed units whose binaries point into d, so that
    systemd-analyze can check they are there and executable."""
    os.makedirs(where)
    for u in UNITS:
        text = open(d + "/lib/systemd/system/" + u).read()
        with open(os.path.join(where, u), "w") as f:
            f.write(text.replace("/usr/local/bin/", d + "/usr/local/bin/"))
    return [os.path.join(where, u) for u in UNITS]


def test_738_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        if os.environ.get("BIGFS_NO_SKIP") == "1":
            pytest.fail("systemd-analyze is missing (package systemd)")
        pytest.skip("systemd-analyze is missing (package systemd)")
    d = str(tmp_path / "root")
    make_install(d)
    units = installed_units_for_verify(d, str(tmp_path / "units"))
    r = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        "systemd-analyze verify:\n%s%s" % (r.stdout, r.stderr)
    for u in units:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", u],
                           capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
        assert m, "systemd-analyze security %s:\n%s%s" % (u, r.stdout, r.stderr)
        assert float(m.group(1)) <= 2.5, "%s is exposed: %s %s" % (u, m.group(1), m.group(2))


def test_739_installed_configs_load(tmp_path):
    """The installed master.cfg, exports.cfg and worker.cfg hold only keys
    the daemons know: each daemon starts with its file (paths moved into
    tmp_path, where a test may write)."""
    d = str(tmp_path / "root")
    make_install(d)
    etc = d + "/etc/bigfs"
    with open(etc + "/exports.pass", "w") as f:
        f.write("a-password\n")
    exports = open(etc + "/exports.cfg").read().replace("/etc/bigfs/", etc + "/")
    with open(etc + "/exports.cfg", "w") as f:
        f.write(exports)
    mdata, wdata = str(tmp_path / "m"), str(tmp_path / "w")
    mlog, wlog = str(tmp_path / "master.log"), str(tmp_path / "worker.log")
    # Flags win over the file: only the folders and ports move.
    with open(mlog, "w") as lf:
        master = subprocess.Popen([d + "/usr/local/bin/bigfs-master", "--config", etc + "/master.cfg",
                                   "--data", mdata, "--listen", "127.0.0.1:0",
                                   "--exports", etc + "/exports.cfg"],
                                  stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    worker = None
    try:
        addr = wait_for(lambda: os.path.exists(mdata + "/master.addr") and
                        open(mdata + "/master.addr").read().strip(), 30, "master.addr",
                        [("bigfs-master", master, mlog)])
        with open(wlog, "w") as lf:
            worker = subprocess.Popen([d + "/usr/local/bin/bigfs-worker", "--config", etc + "/worker.cfg",
                                       "--master", addr, "--data", wdata,
                                       "--listen", "127.0.0.1:0", "--secret", mdata + "/secret"],
                                      stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(wdata + "/worker.addr"), 30, "worker.addr",
                 [("bigfs-worker", worker, wlog), ("bigfs-master", master, mlog)])
    finally:
        for p in (worker, master):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
