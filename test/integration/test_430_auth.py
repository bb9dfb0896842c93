"""Who may mount what (docs/exports.md, docs/api.md "Authentication").

The shared cluster runs with an exports file and a password, as every test
cluster does. Here: every route refuses calls without a session or with a
bad, altered or replayed signature; a wrong password is refused at login
and at mount; a read-only export refuses every mutating call (EROFS at the
mount); maproot maps root's new files; a mount of a subtree cannot reach
outside it; a network that no rule names cannot mount; SIGHUP re-reads the
rules and mounts log in again by themselves; workers' calls need the
cluster secret."""

import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import (MASTER_BIN, MOUNT_BIN, ApiSession, Daemon, cluster_sign, http,
                      is_mounted, json_of, make_cluster, finish_cluster, wait_for)

# Every route of the master and who may call it (master/http_api.c).
CLIENT_ROUTES = ["lookup", "getattr", "readlink", "readdir", "statfs", "getxattr",
                 "listxattr", "chunks", "sync", "open", "lock", "lock/test", "session/open",
                 "session/heartbeat", "session/close"]
WRITE_ROUTES = ["setattr", "atime", "mkdir", "create", "mknod", "symlink", "link", "unlink",
                "rmdir", "rename", "setxattr", "removexattr", "write", "commit", "punch"]
CLUSTER_ROUTES = ["cluster/register"]
ANY_ROUTES = ["replica_failed"]


def err_of(raw):
    j = json_of(raw) or {}
    return j.get("errno"), j.get("message", "")


def file_ino(path):
    return os.stat(path).st_ino


# --------------------------------------------------------------------------
# refusals on every route


@pytest.mark.parametrize("route", CLIENT_ROUTES + WRITE_ROUTES + ANY_ROUTES)
def test_431_no_session_no_call(cluster, route):
    """Without an Authorization header: 401 EKEYEXPIRED and nothing done."""
    st, _, raw = http("POST", cluster.url + "/v1/" + route, {"ino": 1, "parent": 1,
                                                             "name": "x-431"})
    assert st == 401, (st, raw[:300])
    assert err_of(raw)[0] == errno.EKEYEXPIRED, raw
    assert not os.path.exists(os.path.join(cluster.mounts[0].path, "x-431"))


@pytest.mark.parametrize("route", CLIENT_ROUTES + WRITE_ROUTES + ANY_ROUTES)
def test_432_forged_signatures_refused(cluster, route):
    s = cluster.api_session()
    st, _, raw = s.call("POST", "/v1/statfs", {})
    assert st == 200, raw
    body = b'{"ino": 1, "parent": 1, "name": "x-432"}'
    path = "/v1/" + route
    good = s.sign("POST", path, body)
    auth_id = good.split()[1]
    seq = int(good.split()[2])
    forged = [
        "BigFS %s %d %s" % (auth_id, seq, "0" * 64),                  # wrong MAC
        "BigFS %s %d %s" % ("f" * 32, seq, good.split()[3]),          # unknown session
        "BigFS %s" % auth_id,                                         # malformed
        "Basic dXNlcjpwYXNz",                                         # another scheme
        cluster_sign(cluster.secret(), "POST", path, body),           # a worker's, on a client route
    ]
    if route in ANY_ROUTES:
        forged.pop()      # workers may call it
    for h in forged:
        st, _, raw = http("POST", cluster.url + path, body, {"Authorization": h,
                                                             "Content-Type": "application/json"})
        assert st == 401, (h, st, raw[:300])
        assert err_of(raw)[0] in (errno.EKEYEXPIRED, errno.EKEYREJECTED), raw
    # a signature made by a session with another key (another login)
    other = ApiSession(cluster.url, cluster.password)
    assert other.login()[0] == 200
    h = "BigFS %s %d %s" % (auth_id, seq, other.sign("POST", path, body).split()[3])
    st, _, raw = http("POST", cluster.url + path, body, {"Authorization": h})
    assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, raw
    assert not os.path.exists(os.path.join(cluster.mounts[0].path, "x-432"))


def test_433_replayed_and_altered_requests_refused(cluster, mnt):
    s = cluster.api_session()
    parent = file_ino(mnt)
    body = ('{"parent": %d, "name": "once", "mode": %d, "uid": 0, "gid": 0}'
            % (parent, 0o40755)).encode()
    h = s.sign("POST", "/v1/mkdir", body)
    hdrs = {"Authorization": h, "Content-Type": "application/json"}
    st, _, raw = http("POST", cluster.url + "/v1/mkdir", body, hdrs)
    assert st == 200, raw
    os.rmdir(os.path.join(mnt, "once"))
    # the same request again: a replay
    st, _, raw = http("POST", cluster.url + "/v1/mkdir", body, hdrs)
    assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, raw
    assert not os.path.exists(os.path.join(mnt, "once"))
    # a fresh signature, then the body, the path or the sequence changed
    for change in ("body", "path", "seq"):
        h = s.sign("POST", "/v1/mkdir", body)
        b, p = body, "/v1/mkdir"
        if change == "body":
            b = body.replace(b'"once"', b'"twice"')
        elif change == "path":
            p = "/v1/create"
        else:
            parts = h.split()
            h = " ".join(parts[:2] + [str(int(parts[2]) + 5000)] + parts[3:])
        st, _, raw = http("POST", cluster.url + p, b, {"Authorization": h,
                                                      "Content-Type": "application/json"})
        assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, (change, raw)
    assert sorted(os.listdir(mnt)) == []
    # requests signed out of order (as a mount's threads send them) pass
    hs = [s.sign("POST", "/v1/statfs", b"{}") for _ in range(20)]
    for h in reversed(hs):
        st, _, raw = http("POST", cluster.url + "/v1/statfs", b"{}", {"Authorization": h})
        assert st == 200, raw


def test_434_cluster_routes_need_the_cluster_secret(cluster):
    body = {"worker_id": "0123456789abcdef", "addr": "1.2.3.4:5", "capacity": 1, "used": 0,
            "chunks": []}
    # a mount's session is not a worker
    st, _, raw = cluster.http("POST", "/v1/cluster/register", body)
    assert st == 401, raw
    st, _, raw = http("POST", cluster.url + "/v1/cluster/register", body)
    assert st == 401 and err_of(raw)[0] == errno.EKEYEXPIRED, raw
    st, _, raw = cluster.cluster_http("POST", "/v1/cluster/register", body,
                                      secret=b"x" * 32)
    assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, raw
    # too old a signature, and a replay of a good one
    data = b'{"worker_id": "0123456789abcdef"}'
    old = cluster_sign(cluster.secret(), "POST", "/v1/cluster/register", data,
                       now=time.time() - 3600)
    st, _, raw = http("POST", cluster.url + "/v1/cluster/register", data,
                      {"Authorization": old})
    assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, raw
    h = cluster_sign(cluster.secret(), "GET", "/v1/cluster/info", b"")
    st, _, raw = http("GET", cluster.url + "/v1/cluster/info", None, {"Authorization": h})
    assert st == 200 and "kafka_bootstrap" in json_of(raw), raw
    st, _, raw = http("GET", cluster.url + "/v1/cluster/info", None, {"Authorization": h})
    assert st == 401 and err_of(raw)[0] == errno.EKEYREJECTED, raw
    # no worker 0123456789abcdef was registered by any of this
    assert all(w["worker_id"] != "0123456789abcdef" for w in cluster.list_workers())


def test_435_public_routes_stay_public(cluster):
    for path in ("/v1/health", "/metrics", "/", "/v1/cluster/workers"):
        st, _, raw = http("GET", cluster.url + path)
        assert st == 200, (path, raw[:200])


# --------------------------------------------------------------------------
# passwords


def test_436_wrong_password_refused(cluster, tmp_path):
    s = ApiSession(cluster.url, "not-the-password")
    st, j, raw = s.login()
    assert st == 403 and j["errno"] == errno.EACCES, raw
    assert "wrong password" in j["message"], j
    # the mount fails at once and says why
    mnt = tmp_path / "m"
    mnt.mkdir()
    bad = tmp_path / "bad.pass"
    bad.write_text("not-the-password\n")
    bad.chmod(0o600)
    t0 = time.monotonic()
    r = subprocess.run([MOUNT_BIN, "-o", "passfile=%s" % bad, cluster.master_addr, str(mnt)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 10
    assert "wrong password" in r.stderr, r.stderr
    assert not is_mounted(str(mnt))
    # no password at all: refused too, with a hint
    r = subprocess.run([MOUNT_BIN, cluster.master_addr, str(mnt)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "passfile" in r.stderr, r.stderr
    # the password on the command line works (discouraged, but there)
    r = subprocess.run([MOUNT_BIN, "-o", "password=" + cluster.password, cluster.master_addr,
                        str(mnt)], capture_output=True, text=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        assert is_mounted(str(mnt))
        os.statvfs(str(mnt))
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)])


def test_437_password_never_crosses_the_wire(cluster, tmp_path):
    """The login carries an HMAC proof, never the password itself."""
    s = ApiSession(cluster.url, cluster.password)
    st, _, raw = http("POST", cluster.url + "/v1/auth/challenge", {})
    nonce = json_of(raw)["nonce"]
    cnonce = os.urandom(16).hex()
    proof = s.mac(cluster.password.encode(), "bigfs-login", nonce, cnonce, "/")
    body = {"nonce": nonce, "cnonce": cnonce, "path": "/", "proof": proof}
    assert cluster.password not in repr(body)
    st, _, raw = http("POST", cluster.url + "/v1/auth/login", body)
    assert st == 200, raw
    # the same login message again gets a new session, which is useless
    # without the password (its key derives from it)
    st, _, raw = http("POST", cluster.url + "/v1/auth/login", body)
    assert st == 200 and "auth" in json_of(raw), raw
    # a stale or forged nonce is refused
    for bad in (nonce[:-1] + ("0" if nonce[-1] != "0" else "1"), "1.2.3", ""):
        b = dict(body, nonce=bad)
        b["proof"] = s.mac(cluster.password.encode(), "bigfs-login", bad, cnonce, "/")
        st, _, raw = http("POST", cluster.url + "/v1/auth/login", b)
        assert st == 401, raw


# --------------------------------------------------------------------------
# export rules: a cluster with several


EXPORTS = """\
# test_430: rules tried in order, the first match wins
127.0.0.0/8  /ro       ro,password={pw}
127.0.0.0/8  /squash   rw,maproot=4321:4322,password={pw}
127.0.0.0/8  /all      rw,mapall=5000:5001,password={pw}
127.0.0.0/8  /goals    rw,mingoal=2,maxgoal=3,password={pw}
127.0.0.0/8  /         rw,password={pw}
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    base = tmp_path_factory.mktemp("rules")
    pw = os.urandom(8).hex()
    exports = base / "exports.cfg"
    exports.write_text(EXPORTS.format(pw=pw))
    passfile = base / "pw"
    passfile.write_text(pw + "\n")
    passfile.chmod(0o600)
    c = make_cluster(tmp_path_factory, "rules-cluster",
                     master_args=["--exports", str(exports)],
                     mount_opts="passfile=%s" % passfile)
    c.password = pw
    c.pass_file = str(passfile)
    c.exports_path = str(exports)
    root = c.mounts[0].path
    for d in ("ro", "squash", "all", "goals", "sub", "other"):
        os.mkdir(os.path.join(root, d))
    with open(os.path.join(root, "ro", "readme"), "w") as f:
        f.write("read me\n")
    with open(os.path.join(root, "other", "secret.txt"), "w") as f:
        f.write("not yours\n")
    os.link(os.path.join(root, "other", "secret.txt"), os.path.join(root, "other", "hl"))
    os.mkdir(os.path.join(root, "sub", "in"))
    yield c
    finish_cluster(c)


def test_438_read_only_export(rules):
    m = rules.mount("m-ro", opts="passfile=%s,subdir=/ro" % rules.pass_file)
    p = m.path
    with open(os.path.join(p, "readme")) as f:
        assert f.read() == "read me\n"
    for fn in (lambda: open(os.path.join(p, "new"), "w"),
               lambda: os.mkdir(os.path.join(p, "d")),
               lambda: os.unlink(os.path.join(p, "readme")),
               lambda: os.rename(os.path.join(p, "readme"), os.path.join(p, "r2")),
               lambda: os.chmod(os.path.join(p, "readme"), 0o600),
               lambda: open(os.path.join(p, "readme"), "a"),
               lambda: os.truncate(os.path.join(p, "readme"), 0),
               lambda: os.symlink("x", os.path.join(p, "l")),
               lambda: os.setxattr(os.path.join(p, "readme"), "user.x", b"1")):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EROFS, fn
    # the master refuses them too, whatever a client does
    s = ApiSession(rules.url, rules.password, "/ro")
    st, j, raw = s.login()
    assert st == 200 and j["ro"] is True
    ino = j["root"]
    for route, body in [("mkdir", {"parent": ino, "name": "x", "mode": 0o755, "uid": 0,
                                   "gid": 0}),
                        ("create", {"parent": ino, "name": "x", "mode": 0o644, "uid": 0,
                                    "gid": 0, "excl": True}),
                        ("unlink", {"parent": ino, "name": "readme"}),
                        ("setattr", {"ino": ino, "mode": 0o777}),
                        ("write", {"ino": ino, "index": 0, "session": "s438"}),
                        ("commit", {"ino": ino, "size": 0, "session": "s438", "release": []}),
                        ("setxattr", {"ino": ino, "name": "user.a", "value": "", "flags": 0}),
                        ("batch", {"ops": [{"op": "unlink", "parent": ino, "name": "readme"}]})]:
        st, _, raw = s.call("POST", "/v1/" + route, body)
        assert st == 403 and err_of(raw)[0] == errno.EROFS, (route, raw)
    # reads work, and a read token is handed out; a write grant never
    fino = file_ino(os.path.join(p, "readme"))
    st, _, raw = s.call("POST", "/v1/chunks", {"ino": fino, "index": 0, "count": 1})
    assert st == 200, raw
    opts = [line.split()[3] for line in open("/proc/self/mounts") if line.split()[1] == p]
    assert opts and "ro" in opts[0].split(","), opts
    assert os.path.exists(os.path.join(rules.mounts[0].path, "ro", "readme"))


def test_439_maproot_and_mapall(rules):
    # root's folders, opened to all through the unmapped mount: a mapped
    # root may not write in a folder of root's that is not (test_439b)
    for d in ("squash", "all"):
        os.chmod(os.path.join(rules.mounts[0].path, d), 0o777)
    m = rules.mount("m-squash", opts="passfile=%s,subdir=/squash" % rules.pass_file)
    with open(os.path.join(m.path, "f"), "w") as f:
        f.write("x")
    os.mkdir(os.path.join(m.path, "d"))
    for name in ("f", "d"):
        st = os.stat(os.path.join(m.path, name))
        assert (st.st_uid, st.st_gid) == (4321, 4322), name
    # a non-root caller keeps its own identity under maproot
    sub = os.path.join(m.path, "d")
    os.chmod(sub, 0o777)      # 4321 owns it: the mapped root may
    # (pytest's folders are 0700: start in the folder, as root, then drop)
    r = subprocess.run(["setpriv", "--reuid=777", "--regid=778", "--clear-groups", "touch", "u"],
                       capture_output=True, text=True, cwd=sub)
    assert r.returncode == 0, r.stderr
    st = os.stat(os.path.join(sub, "u"))
    assert (st.st_uid, st.st_gid) == (777, 778)
    # mapall: everyone is 5000:5001
    m2 = rules.mount("m-all", opts="passfile=%s,subdir=/all" % rules.pass_file)
    with open(os.path.join(m2.path, "r"), "w") as f:
        f.write("x")
    r = subprocess.run(["setpriv", "--reuid=777", "--regid=778", "--clear-groups", "sh", "-c",
                        ": > u"], capture_output=True, text=True, cwd=m2.path)
    assert r.returncode == 0, r.stderr
    for name in ("r", "u"):
        st = os.stat(os.path.join(m2.path, name))
        assert (st.st_uid, st.st_gid) == (5000, 5001), name


def test_439b_root_squash_checks_as_the_mapped_user(rules):
    """maproot: root on the client acts as 4321:4322 on the master, which
    checks every namespace call and every open for that user (the
    client's kernel lets root through everything)."""
    whole = os.path.join(rules.mounts[0].path, "squash")
    priv = os.path.join(whole, "priv")
    os.mkdir(priv, 0o755)
    with open(os.path.join(priv, "secret"), "w") as f:
        f.write("s")
    with open(os.path.join(priv, "pub"), "w") as f:
        f.write("p")
    os.chmod(os.path.join(priv, "secret"), 0o600)
    os.chmod(os.path.join(priv, "pub"), 0o644)
    shared = os.path.join(whole, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    with open(os.path.join(shared, "theirs"), "w") as f:
        f.write("t")
    for p in (priv, os.path.join(priv, "secret"), os.path.join(priv, "pub"),
              os.path.join(shared, "theirs")):
        os.chown(p, 1000, 1000)
    m = rules.mount("m-squash2", opts="passfile=%s,subdir=/squash" % rules.pass_file)
    sp, ss = os.path.join(m.path, "priv"), os.path.join(m.path, "shared")

    def refused(fn, want=errno.EACCES):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == want, (fn, e.value)

    refused(lambda: open(os.path.join(sp, "secret")).read())
    assert open(os.path.join(sp, "pub")).read() == "p"
    refused(lambda: open(os.path.join(sp, "pub"), "r+"))
    refused(lambda: open(os.path.join(sp, "pub"), "w"))
    refused(lambda: open(os.path.join(sp, "new"), "w"))
    refused(lambda: os.mkdir(os.path.join(sp, "d")))
    refused(lambda: os.unlink(os.path.join(sp, "pub")))
    refused(lambda: os.rename(os.path.join(sp, "pub"), os.path.join(ss, "moved")))
    refused(lambda: os.chmod(os.path.join(sp, "pub"), 0o666), errno.EPERM)
    refused(lambda: os.chown(os.path.join(sp, "pub"), 0, 0), errno.EPERM)
    refused(lambda: os.truncate(os.path.join(sp, "pub"), 0))
    refused(lambda: os.setxattr(os.path.join(sp, "pub"), "user.x", b"1"))
    refused(lambda: os.setxattr(os.path.join(sp, "pub"), "trusted.x", b"1"), errno.EPERM)
    # a sticky folder open to all: own files yes, someone else's no
    with open(os.path.join(ss, "mine"), "w") as f:
        f.write("m")
    assert os.stat(os.path.join(ss, "mine")).st_uid == 4321
    os.chmod(os.path.join(ss, "mine"), 0o600)
    os.rename(os.path.join(ss, "mine"), os.path.join(ss, "mine2"))
    os.unlink(os.path.join(ss, "mine2"))
    refused(lambda: os.unlink(os.path.join(ss, "theirs")), errno.EPERM)
    # nothing changed on the master
    assert sorted(os.listdir(priv)) == ["pub", "secret"]
    assert os.stat(os.path.join(priv, "pub")).st_mode & 0o777 == 0o644
    assert open(os.path.join(priv, "pub")).read() == "p"
    assert os.path.exists(os.path.join(shared, "theirs"))
    # the user 1000 itself, through the same mount, is not mapped
    r = subprocess.run(["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "sh", "-c",
                        "cat secret && echo more >> pub"], capture_output=True, text=True,
                       cwd=sp)
    assert r.returncode == 0 and r.stdout == "s", r
    assert open(os.path.join(priv, "pub")).read() == "pmore\n"


def test_439c_batch_ops_judged_as_their_routes_under_maproot(rules):
    """/v1/batch runs each op as a call of its route, with the same checks
    for a mapped caller: root's ops act as 4321:4322 and are refused where
    that user may not act; a non-root caller's pass as before."""
    whole = os.path.join(rules.mounts[0].path, "squash")
    os.chmod(whole, 0o777)
    priv = os.path.join(whole, "bpriv")
    os.mkdir(priv, 0o755)
    for name in ("a", "b"):
        with open(os.path.join(priv, name), "w") as f:
            f.write(name)
        os.chmod(os.path.join(priv, name), 0o644)
        os.chown(os.path.join(priv, name), 1000, 1000)
    os.chown(priv, 1000, 1000)
    open_ = os.path.join(whole, "bopen")
    os.mkdir(open_)
    os.chmod(open_, 0o777)
    s = ApiSession(rules.url, rules.password, "/squash")
    st, j, raw = s.login()
    assert st == 200, raw
    pi, oi = file_ino(priv), file_ino(open_)
    ai = file_ino(os.path.join(priv, "a"))
    ops = [{"op": "unlink", "parent": pi, "name": "a"},
           {"op": "rename", "parent": pi, "name": "a", "newparent": pi, "newname": "c"},
           {"op": "create", "parent": pi, "name": "n", "mode": 0o100644, "uid": 0, "gid": 0},
           {"op": "setattr", "ino": ai, "mode": 0o100666},
           {"op": "create", "parent": oi, "name": "mine", "mode": 0o100644,
            "uid": 0, "gid": 0},
           {"op": "unlink", "parent": pi, "name": "b", "caller": 1000}]
    st, _, raw = s.call("POST", "/v1/batch", {"ops": ops})
    assert st == 200, raw
    res = json.loads(raw)["results"]
    assert [r["errno"] for r in res] == [errno.EACCES, errno.EACCES, errno.EACCES,
                                        errno.EPERM, 0, 0], res
    assert res[4]["attr"]["uid"] == 4321 and res[4]["attr"]["gid"] == 4322, res[4]
    assert sorted(os.listdir(priv)) == ["a"]
    assert os.stat(os.path.join(priv, "a")).st_mode & 0o777 == 0o644
    assert open(os.path.join(priv, "a")).read() == "a"
    st = os.stat(os.path.join(open_, "mine"))
    assert (st.st_uid, st.st_gid) == (4321, 4322)


def test_440_goal_range(rules):
    m = rules.mount("m-goals", opts="passfile=%s,subdir=/goals" % rules.pass_file)
    d = os.path.join(m.path, "d")
    os.mkdir(d)
    os.setxattr(d, "bigfs.goal", b"3")
    for bad in (b"1", b"4", b"16"):
        with pytest.raises(OSError) as e:
            os.setxattr(d, "bigfs.goal", bad)
        assert e.value.errno == errno.EPERM, bad
    assert os.getxattr(d, "bigfs.goal").strip() == b"3"


def test_441_subtree_cannot_reach_outside(rules):
    m = rules.mount("m-sub", opts="passfile=%s,subdir=/sub" % rules.pass_file)
    p = m.path
    assert sorted(os.listdir(p)) == ["in"]
    # the subtree's root is the mount's root: ".." stays on the client side
    assert os.path.realpath(os.path.join(p, "..")) == os.path.dirname(p)
    with open(os.path.join(p, "in", "mine"), "w") as f:
        f.write("mine")
    os.link(os.path.join(p, "in", "mine"), os.path.join(p, "mine2"))
    os.rename(os.path.join(p, "mine2"), os.path.join(p, "in", "mine3"))
    # the same session at the API: inodes of another subtree are refused
    whole = rules.mounts[0].path
    outside = {"dir": file_ino(os.path.join(whole, "other")),
               "file": file_ino(os.path.join(whole, "other", "secret.txt")),
               "root": 1}
    s = ApiSession(rules.url, rules.password, "/sub")
    st, j, _ = s.login()
    assert st == 200 and j["root"] == file_ino(os.path.join(whole, "sub"))
    inside = j["root"]
    calls = [("getattr", {"ino": outside["file"]}),
             ("getattr", {"ino": outside["root"]}),
             ("lookup", {"parent": outside["dir"], "name": "secret.txt"}),
             ("readdir", {"ino": outside["dir"], "cookie": 0, "limit": 10}),
             ("chunks", {"ino": outside["file"], "index": 0, "count": 1}),
             ("open", {"ino": outside["file"], "session": "s441", "chunks": 1}),
             ("write", {"ino": outside["file"], "index": 0, "session": "s441"}),
             ("link", {"ino": outside["file"], "newparent": inside, "newname": "stolen"}),
             ("rename", {"parent": outside["dir"], "name": "secret.txt", "newparent": inside,
                         "newname": "stolen", "flags": 0}),
             ("unlink", {"parent": outside["dir"], "name": "hl"}),
             ("setattr", {"ino": outside["file"], "size": 0}),
             ("atime", {"inos": [outside["file"]]}),
             ("getxattr", {"ino": outside["file"], "name": "bigfs.locations"})]
    for route, body in calls:
        st, _, raw = s.call("POST", "/v1/" + route, body)
        assert st == 403 and err_of(raw)[0] == errno.EACCES, (route, raw)
    # a batch is judged op by op: the outside one refused, the inside one done
    open(os.path.join(p, "in", "gone"), "w").close()
    st, j, raw = s.call("POST", "/v1/batch", {"ops": [
        {"op": "unlink", "parent": outside["dir"], "name": "hl"},
        {"op": "rmdir", "parent": outside["root"], "name": "other"},
        {"op": "unlink", "parent": file_ino(os.path.join(p, "in")), "name": "gone"}]})
    assert st == 200, raw
    assert [r["errno"] for r in json.loads(raw)["results"]] == [errno.EACCES, errno.EACCES, 0]
    assert not os.path.exists(os.path.join(whole, "sub", "in", "gone"))
    assert not os.path.exists(os.path.join(whole, "sub", "stolen"))
    with open(os.path.join(whole, "other", "secret.txt")) as f:
        assert f.read() == "not yours\n"
    assert os.path.exists(os.path.join(whole, "other", "hl"))
    # a file hard-linked into the subtree is reachable through that name
    st, _, raw = s.call("POST", "/v1/getattr", {"ino": file_ino(os.path.join(p, "in", "mine"))})
    assert st == 200, raw
    # a subtree that does not exist, or a path trick, cannot be mounted
    for path in ("/nope", "/sub/../other", "sub"):
        st, j, raw = ApiSession(rules.url, rules.password, path).login()
        assert st in (400, 404), (path, raw)


def test_441b_listings_below_stay_in_the_subtree(rules):
    """A readdir asked with "below" (the listings a walk of the tree visits
    next) goes on past its folder's subtree to the folders after it, up
    to the session's root and never above it."""
    whole = rules.mounts[0].path
    os.makedirs(os.path.join(whole, "sub", "in", "deep"), exist_ok=True)
    open(os.path.join(whole, "sub", "in", "deep", "x"), "w").close()
    inside = {file_ino(os.path.join(top, d))
              for top, dirs, _ in os.walk(os.path.join(whole, "sub")) for d in dirs}
    body = {"ino": file_ino(os.path.join(whole, "sub", "in")), "cookie": 0, "limit": 100,
            "below": 4096}
    def readdir_as(path):
        s = ApiSession(rules.url, rules.password, path)
        st, _, raw = s.login()
        assert st == 200, raw
        st, _, raw = s.call("POST", "/v1/readdir", body)
        assert st == 200, raw
        return s, json.loads(raw)

    _, j = readdir_as("/sub")
    below = [b["ino"] for b in j["below"]]
    assert file_ino(os.path.join(whole, "sub", "in", "deep")) in below
    assert set(below) <= inside, j
    deep = [b for b in j["below"] if b["ino"] == file_ino(os.path.join(whole, "sub", "in",
                                                                          "deep"))][0]
    assert [e["name"] for e in deep["entries"]] == ["x"]
    assert deep["attr"]["ino"] == deep["ino"]
    # the whole tree's session: the walk goes on to the folders after "sub"
    w, j = readdir_as("/")
    assert file_ino(os.path.join(whole, "other")) in [b["ino"] for b in j["below"]]
    # a page after the first, or no "below": none
    st, _, raw = w.call("POST", "/v1/readdir", dict(body, cookie=j["entries"][0]["cookie"]))
    assert st == 200 and "below" not in json.loads(raw), raw
    for bad in ("many", -1, 1.5, [1]):
        st, _, raw = w.call("POST", "/v1/readdir", dict(body, below=bad))
        assert st == 400 and err_of(raw)[0] == errno.EINVAL, (bad, raw)


def test_442_sighup_rereads_the_rules(rules):
    m = rules.mount("m-hup", opts="passfile=%s,subdir=/sub" % rules.pass_file)
    with open(os.path.join(m.path, "in", "before"), "w") as f:
        f.write("1")
    text = open(rules.exports_path).read()
    try:
        # /sub becomes read-only: the mount logs in again and gets EROFS
        with open(rules.exports_path, "w") as f:
            f.write("127.0.0.0/8 /sub ro,password=%s\n" % rules.password + text)
        rules.master.send(signal.SIGHUP)

        def refused():
            try:
                with open(os.path.join(m.path, "in", "after"), "w") as f:
                    f.write("2")
            except OSError as e:
                return e.errno in (errno.EROFS, errno.EACCES)
            os.unlink(os.path.join(m.path, "in", "after"))
            return False
        wait_for(refused, 20, "the reloaded rules to apply to the mount")
        with open(os.path.join(m.path, "in", "before")) as f:
            assert f.read() == "1"
        # a file with an error is refused: the rules in force stay
        with open(rules.exports_path, "w") as f:
            f.write("127.0.0.0/8 / rw,no_such_option\n")
        rules.master.send(signal.SIGHUP)
        time.sleep(1)
        assert "refused, the rules in force stay" in open(rules.log_path("master")).read()
        st, j, _ = ApiSession(rules.url, rules.password, "/sub").login()
        assert st == 200 and j["ro"] is True
    finally:
        with open(rules.exports_path, "w") as f:
            f.write(text)
        rules.master.send(signal.SIGHUP)
    wait_for(lambda: ApiSession(rules.url, rules.password, "/sub").login()[1].get("ro") is False,
             20, "the original rules back")


def test_443_master_restart_mount_logs_in_again(rules):
    m = rules.mounts[0]
    with open(os.path.join(m.path, "before-restart"), "w") as f:
        f.write("x")
    rules.stop_master()
    rules.start_master()
    rules.wait_live()
    # the master forgot every session: the mount logs in by itself
    with open(os.path.join(m.path, "after-restart"), "w") as f:
        f.write("y")
    assert sorted(n for n in os.listdir(m.path) if "restart" in n) == ["after-restart",
                                                                     "before-restart"]
    assert "logged in again" in open(m.daemon.log).read()


# --------------------------------------------------------------------------
# a network that no rule names


NS = "bigfs430"


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    if not shutil.which("ip"):
        pytest.skip("needs iproute2")
    _ip("netns", "del", NS, check=False)
    _ip("link", "del", "v430a", check=False)
    _ip("netns", "add", NS)
    try:
        _ip("link", "add", "v430a", "type", "veth", "peer", "name", "v430b")
        _ip("link", "set", "v430b", "netns", NS)
        _ip("addr", "add", "10.43.0.1/24", "dev", "v430a")
        _ip("link", "set", "v430a", "up")
        _ip("netns", "exec", NS, "ip", "addr", "add", "10.43.0.2/24", "dev", "v430b")
        _ip("netns", "exec", NS, "ip", "link", "set", "v430b", "up")
        _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")
        yield NS
    finally:
        _ip("link", "del", "v430a", check=False)
        _ip("netns", "del", NS, check=False)


def test_444_network_not_in_the_exports_cannot_mount(netns, tmp_path):
    pw = "pw-444"
    exports = tmp_path / "exports.cfg"
    exports.write_text("127.0.0.0/8 / rw,password=%s\n10.43.0.0/24 /guests rw,password=%s\n"
                       % (pw, pw))
    data = tmp_path / "master"
    master = Daemon("bigfs-master", [MASTER_BIN, "--data", str(data), "--listen",
                                     "10.43.0.1:0", "--exports", str(exports)],
                    str(tmp_path / "master.log")).start()
    try:
        addr_file = data / "master.addr"
        wait_for(lambda: addr_file.exists() and addr_file.read_text().endswith("\n"), 30,
                 "master.addr", [master.watch()])
        addr = addr_file.read_text().strip()
        url = "http://" + addr
        # from this host (10.43.0.1 talks to itself): the 127/8 rule does
        # not match, the /guests one does, but only for /guests
        st, j, raw = ApiSession(url, pw, "/").login()
        assert st == 403 and "no export rule" in j["message"], raw
        # from the namespace (10.43.0.2): the same
        mnt = tmp_path / "m"
        mnt.mkdir()
        passfile = tmp_path / "pw"
        passfile.write_text(pw + "\n")
        passfile.chmod(0o600)
        r = subprocess.run(["ip", "netns", "exec", netns, MOUNT_BIN, "-o",
                            "passfile=%s" % passfile, addr, str(mnt)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "no export rule" in r.stderr, r.stderr
        assert "10.43.0.2" in open(tmp_path / "master.log").read()
    finally:
        master.stop()
