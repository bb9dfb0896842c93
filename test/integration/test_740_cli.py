"""The `bigfs` command against a real cluster (issue 13): every subcommand
with --json prints one JSON document that parses, with the fields and
values the cluster really has; the human output shows the same; usage
errors exit 2, failures 1 (with a clear message), "not found" 3, --help 0;
progress bars only on a terminal; bash completion.

One cluster with the trash on (a day) and goal 2; the commands run as an
operator runs them, with BIGFS_MASTER and BIGFS_SECRET set, on files of
the mount. The drain test comes last: it empties a worker."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import (BUILD, CHUNK_SIZE, finish_cluster, make_cluster, read_locations,
                      sha256_file, wait_for, write_random_file)

ADMIN = os.path.join(BUILD, "bigfs")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPLETION = os.path.join(REPO, "scripts", "bigfs-completion.bash")
DEAD = "127.0.0.1:1"


@pytest.fixture(scope="module")
def cc(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "cli", trash=True)
    yield c
    finish_cluster(c)


def env_of(c, secret=True, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIGFS_")}
    env["BIGFS_MASTER"] = c.master_addr
    if secret:
        env["BIGFS_SECRET"] = c.secret_path
    env.update(extra)
    return env


def bigfs(c, *args, secret=True, timeout=120, env=None):
    """Run bigfs; returns the CompletedProcess (text)."""
    return subprocess.run([ADMIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env if env is not None else env_of(c, secret))


def jrun(c, *args, want=0, **kw):
    """bigfs ... --json: exit status want, stdout one JSON document."""
    r = bigfs(c, *(list(args) + ["--json"]), **kw)
    assert r.returncode == want, (args, r.returncode, r.stdout, r.stderr)
    try:
        return json.loads(r.stdout)
    except ValueError:
        pytest.fail("bigfs %s --json printed no JSON document:\n%r\nstderr: %s"
                    % (" ".join(map(str, args)), r.stdout, r.stderr))


def ns_path(c, p):
    return "/" + os.path.relpath(p, c.mounts[0].path)


@pytest.fixture
def d(cc, request):
    p = os.path.join(cc.mounts[0].path, request.node.name)
    os.mkdir(p)
    return p


# --------------------------------------------------------------------------
# help, usage errors, exit status


COMMANDS = ["status", "workers", "worker list", "worker drain", "worker undrain", "fileinfo",
            "goal", "locations", "snapshot", "trash list", "trash restore", "trash purge",
            "quota set", "quota get", "quota list", "quota remove", "events", "metadata dump",
            "metadata checkpoint"]


def test_741_help_exits_0(cc):
    r = bigfs(cc, "--help")
    assert r.returncode == 0 and r.stderr == "", r
    for cmd in COMMANDS:
        assert "  " + cmd in r.stdout, (cmd, r.stdout)
    assert "Exit status" in r.stdout and "3 not found" in r.stdout
    for cmd in COMMANDS:
        r = bigfs(cc, *cmd.split(), "--help", env={"BIGFS_MASTER": DEAD})
        assert r.returncode == 0, (cmd, r)
        assert r.stdout.startswith("usage: bigfs " + cmd), (cmd, r.stdout)
        assert "--json" in r.stdout, cmd
    for group in ("trash", "quota", "worker", "metadata"):
        r = bigfs(cc, group, "--help")
        assert r.returncode == 0 and "usage: bigfs %s SUBCOMMAND" % group in r.stdout, r
    r = bigfs(cc, "help", "quota", "set")
    assert r.returncode == 0 and "--inodes-soft" in r.stdout and "--grace" in r.stdout, r


@pytest.mark.parametrize("args,says", [
    ([], "no command given"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["trash"], "usage: bigfs trash SUBCOMMAND"),
    (["trash", "frob"], "unknown subcommand 'trash frob'"),
    (["status", "--bogus"], "unknown option '--bogus'"),
    (["status", "extra"], "unexpected argument 'extra'"),
    (["--master"], "needs a value"),
    (["fileinfo"], "missing argument"),
    (["snapshot", "/a"], "missing arguments"),
    (["quota", "get"], "missing argument"),
    (["quota", "set", "/x"], "give at least one limit"),
    (["quota", "set", "/x", "--bytes", "10X"], "--bytes: '10X' is not a size"),
    (["quota", "set", "/x", "--inodes", "1.5"], "--inodes: '1.5' is not a count"),
    (["quota", "set", "/x", "--grace", "3y"], "--grace: '3y' is not a duration"),
    (["quota", "set", "/x", "--bytes", "99999E"], "too big"),
    (["events", "--since", "soon"], "--since: 'soon' is not a duration"),
    (["trash", "list", "--limit", "0"], "--limit"),
    (["trash", "restore"], "missing argument"),
    (["trash", "restore", "abc"], "'abc' is not a trash entry id"),
    (["trash", "purge", "-3"], "unknown option '-3'"),
    (["worker", "drain", "x", "--stall", "never"], "--stall: 'never' is not a duration"),
    (["goal", "/x", "99"], "not a goal"),
    (["worker", "drain"], "missing argument"),
    (["metadata", "dump"], "missing argument"),
])
def test_742_usage_errors_exit_2(cc, args, says):
    """Usage errors exit 2 with a hint, before any call (the master given
    is dead: a call would be exit 1)."""
    r = bigfs(cc, *args, env={"BIGFS_MASTER": DEAD, "BIGFS_SECRET": cc.secret_path})
    assert r.returncode == 2, (args, r)
    assert says in r.stderr, (args, r.stderr)
    assert "--help" in r.stderr, r.stderr
    assert r.stdout == "", r.stdout


def test_743_bad_master_exits_1(cc, tmp_path):
    for args in (["status"], ["workers", "--json"], ["quota", "list"]):
        r = bigfs(cc, "--master", DEAD, *args)
        assert r.returncode == 1, (args, r)
        assert r.stdout == "", r.stdout
        assert re.match(r"bigfs: [a-z ]+: no answer from the master at 127\.0\.0\.1:1: "
                        r"Connection refused\n$", r.stderr), r.stderr
    # an address that is no address: a usage error, said
    r = bigfs(cc, "--master", "127.0.0.1:1,nohost", "status")
    assert r.returncode == 2 and "'nohost'" in r.stderr, r
    # a signed command without the secret: said, exit 2
    r = bigfs(cc, "quota", "list", secret=False)
    assert r.returncode == 2 and "--secret" in r.stderr, r
    # a wrong secret: the master refuses, exit 1
    bad = tmp_path / "bad.secret"
    bad.write_bytes(os.urandom(32))
    r = bigfs(cc, "--secret", bad, "quota", "list")
    assert r.returncode == 1 and "refused" in r.stderr, r


# --------------------------------------------------------------------------
# cluster views


def test_744_status(cc):
    # a worker's capacity is its disk's, which moves while anything on the
    # machine writes: read both again until they come from the same reports
    for _ in range(20):
        st = jrun(cc, "status")
        workers = cc.list_workers()
        if st["capacity"]["total"] == sum(w["capacity"] for w in workers):
            break
        time.sleep(0.25)
    assert st["workers"]["total"] == len(workers) == 3, st
    assert st["workers"]["live"] == 3, st
    assert st["masters"] == [{"addr": cc.master_addr, "role": "active"}], st
    assert st["active"] == cc.master_addr
    assert st["capacity"]["total"] == sum(w["capacity"] for w in workers), st
    assert st["capacity"]["total"] >= st["capacity"]["used"] >= 0
    # the summary: chunks, repairs, trash, rebalance, quotas
    for k in ("chunks", "chunks_undergoal", "chunks_lost", "repairs"):
        assert isinstance(st.get(k), int), (k, st)
    assert set(st["trash"]) >= {"files", "bytes"}, st
    assert "over" in st["quotas"] and "count" in st["quotas"], st
    assert "rebalance" in st and isinstance(st["drains"], list), st
    r = bigfs(cc, "status")
    assert r.returncode == 0, r
    assert "workers  3 live of 3\n" in r.stdout, r.stdout
    assert r.stdout.startswith("master   %s\n" % cc.master_addr), r.stdout
    for word in ("capacity ", "chunks ", "trash ", "drains ", "quotas "):
        assert ("\n" + word) in r.stdout, (word, r.stdout)
    assert r.stderr == "", r.stderr
    # no secret needed
    assert bigfs(cc, "status", secret=False).returncode == 0


def test_745_workers(cc):
    ids = {cc.worker_id(i) for i in range(3)}
    for args in (["workers"], ["worker", "list"]):
        doc = jrun(cc, *args, secret=False)
        ws = doc["workers"]
        assert {w["worker_id"] for w in ws} == ids, doc
        for w in ws:
            assert w["live"] is True and w["state"] == "live", w
            assert w["addr"] == cc.worker_addr(cc.worker_index(w["worker_id"]))
            assert w["capacity"] > 0 and "bytes_in_per_s" in w and "bytes_out_per_s" in w, w
    r = bigfs(cc, "workers", secret=False)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["WORKER", "ADDRESS", "LIVE", "STATE", "USED", "CAPACITY",
                                "USE%", "CHUNKS", "IN", "OUT"], lines[0]
    assert len(lines) == 4, r.stdout
    for line in lines[1:]:
        f = line.split()
        assert f[0] in ids and f[2] == "yes" and f[3] == "live", line
        assert line.endswith("/s"), line
    # the columns line up: every row as long as the header or the longest
    assert len({len(line) for line in lines[1:]}) <= 2


# --------------------------------------------------------------------------
# files


def test_746_fileinfo(cc, d):
    p = os.path.join(d, "two-chunks")
    write_random_file(p, CHUNK_SIZE + 12345)
    info = jrun(cc, "fileinfo", p)
    assert len(info["files"]) == 1
    fi = info["files"][0]
    assert fi["ino"] == int(os.getxattr(p, "bigfs.ino")), fi
    assert fi["path"] == ns_path(cc, p)
    assert fi["attr"]["size"] == CHUNK_SIZE + 12345
    assert fi["goal"] == 2 and fi["trashtime"] == 86400, fi
    locs = read_locations(p)
    assert len(fi["chunks"]) == len(locs) == 2, fi
    for ch, (idx, cid, ver, workers) in zip(fi["chunks"], locs):
        assert (ch["index"], ch["chunk_id"], ch["version"]) == (idx, cid, ver), (ch, locs)
        assert len(ch["replicas"]) == fi["goal"], ch
        assert all(r["live"] for r in ch["replicas"]), ch
        assert sorted(r["worker_id"] for r in ch["replicas"]) == sorted(workers)
        assert ch["refs"] == 1, ch
    # goal 3 before writing: three replicas
    p3 = os.path.join(d, "goal3")
    open(p3, "wb").close()
    assert jrun(cc, "goal", p3, "3") == {"path": p3, "goal": 3}
    write_random_file(p3, 1000)
    fi3 = jrun(cc, "fileinfo", p3)["files"][0]
    assert fi3["goal"] == 3 and len(fi3["chunks"]) == 1
    assert len(fi3["chunks"][0]["replicas"]) == 3, fi3
    jrun(cc, "goal", p3, "2")      # three workers: goal 3 would pin every one
    # several paths, a folder, and the namespace form
    both = jrun(cc, "fileinfo", p, d)["files"]
    assert [f["path"] for f in both] == [ns_path(cc, p), ns_path(cc, d)]
    assert both[1]["chunks"] == []
    assert jrun(cc, "--ns", "fileinfo", ns_path(cc, p))["files"][0]["ino"] == fi["ino"]
    # human output
    r = bigfs(cc, "fileinfo", p)
    assert r.returncode == 0, r
    assert "in 2 chunks" in r.stdout and fi["chunks"][1]["chunk_id"] in r.stdout, r.stdout
    assert re.search(r"INDEX +CHUNK +VERSION +REFS +REPLICAS", r.stdout), r.stdout
    # not found: 3; not on BigFS: 1, said
    r = bigfs(cc, "fileinfo", os.path.join(d, "nope"))
    assert r.returncode == 3 and "No such file" in r.stderr, r
    r = bigfs(cc, "fileinfo", "/tmp")
    assert r.returncode == 1 and "not on a mounted BigFS" in r.stderr, r
    r = bigfs(cc, "--ns", "fileinfo", "/no/such/thing")
    assert r.returncode == 3, r


def test_747_goal_and_locations(cc, d):
    p = os.path.join(d, "f")
    write_random_file(p, 3 << 20)
    assert jrun(cc, "goal", p) == {"path": p, "goal": 2}
    r = bigfs(cc, "goal", p)
    assert r.returncode == 0 and r.stdout == "%s: goal 2\n" % p, r
    locs = jrun(cc, "locations", p)
    want = [{"index": i, "chunk_id": c, "version": v, "workers": sorted(w)}
            for i, c, v, w in read_locations(p)]
    assert list(locs) == ["files"] and len(locs["files"]) == 1, locs
    assert locs["files"][0]["path"] == p
    got = locs["files"][0]["chunks"]
    for ch in got:                 # the order of the workers is best first: it varies
        ch["workers"].sort()
    assert got == want, (got, want)
    assert bigfs(cc, "goal", os.path.join(d, "nope")).returncode == 3


# --------------------------------------------------------------------------
# trash, snapshot, quota


def trash_entries(cc, under):
    return jrun(cc, "trash", "list", under)["entries"]


def test_748_trash(cc, d):
    p = os.path.join(d, "deleted")
    sha = write_random_file(p, 100000)
    st = os.stat(p)
    os.unlink(p)
    ents = trash_entries(cc, d)
    assert [e["path"] for e in ents] == [ns_path(cc, p)], ents
    e = ents[0]
    assert e["size"] == 100000 and e["expire_s"] > e["deleted_s"], e
    whole = jrun(cc, "trash", "list")
    assert whole["files"] >= 1 and any(x["id"] == e["id"] for x in whole["entries"])
    r = bigfs(cc, "trash", "list", d)
    assert r.returncode == 0 and ns_path(cc, p) in r.stdout and "in 1d" in r.stdout, r
    # restore to the original path
    got = jrun(cc, "trash", "restore", e["id"])
    assert got["path"] == ns_path(cc, p), got
    assert sha256_file(p) == sha and os.stat(p).st_mode == st.st_mode
    # remove it again and restore under a new name
    os.unlink(p)
    e2 = trash_entries(cc, d)[0]
    other = os.path.join(d, "restored-as")
    r = bigfs(cc, "trash", "restore", e2["id"], "--to", other)
    assert r.returncode == 0 and "restored trash entry" in r.stdout, r
    assert sha256_file(other) == sha
    assert trash_entries(cc, d) == []
    # an entry that is not there: 3
    r = bigfs(cc, "trash", "restore", "999999")
    assert r.returncode == 3 and "999999" in r.stderr, r
    # the path of a folder deleted with its file still finds the file
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    write_random_file(os.path.join(sub, "x"), 10)
    os.unlink(os.path.join(sub, "x"))
    os.rmdir(sub)
    assert [x["path"] for x in trash_entries(cc, sub)] == [ns_path(cc, sub) + "/x"]
    # purge one entry, then everything
    os.unlink(other)
    ents = trash_entries(cc, d)
    assert len(ents) == 2
    one = jrun(cc, "trash", "purge", ents[0]["id"])
    assert one == {"files": 1, "bytes": ents[0]["size"]}, one
    assert len(trash_entries(cc, d)) == 1
    allp = jrun(cc, "trash", "purge")
    assert allp["files"] >= 1, allp
    assert jrun(cc, "trash", "list")["files"] == 0


def test_749_trash_purge_progress_only_on_a_terminal(cc, d):
    for i in range(5):
        write_random_file(os.path.join(d, "p%d" % i), 1000)
        os.unlink(os.path.join(d, "p%d" % i))
    # a pipe: no bar, no control characters
    r = bigfs(cc, "trash", "purge")
    assert r.returncode == 0 and r.stderr == "", r
    assert re.match(r"purged \d+ files?, .* freed\n$", r.stdout), r.stdout
    # a terminal on stderr: the bar, then the line erased
    for i in range(5):
        write_random_file(os.path.join(d, "q%d" % i), 1000)
        os.unlink(os.path.join(d, "q%d" % i))
    master, slave = pty.openpty()
    proc = subprocess.Popen([ADMIN, "trash", "purge"], stdout=subprocess.PIPE, stderr=slave,
                            env=env_of(cc), text=True)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, "no output from bigfs trash purge on a terminal"
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, (out, seen)
    assert out.startswith("purged 5 files"), out
    text = seen.decode()
    assert "\r[" in text and "files" in text and "freed" in text, text
    assert text.endswith("\r\x1b[K"), repr(text[-40:])


def test_750_snapshot(cc, d):
    src = os.path.join(d, "src")
    os.mkdir(src)
    shas = {}
    for name, size in (("a", 5 << 20), ("b", 1000), ("c", 0)):
        shas[name] = write_random_file(os.path.join(src, name), size)
    dst = os.path.join(d, "snap")
    got = jrun(cc, "snapshot", src, dst)
    assert got["inodes"] == 4 and got["chunks"] == 2, got
    assert got["ino"] == int(os.getxattr(dst, "bigfs.ino"))
    for name, sha in shas.items():
        assert sha256_file(os.path.join(dst, name)) == sha, name
    # the copy is a copy: writing it leaves the source as it was
    with open(os.path.join(dst, "a"), "r+b") as f:
        f.write(b"changed")
    assert sha256_file(os.path.join(src, "a")) == shas["a"]
    fi = jrun(cc, "fileinfo", os.path.join(src, "b"))["files"][0]
    assert fi["chunks"][0]["refs"] == 2, fi
    # a target that exists, a source that does not
    r = bigfs(cc, "snapshot", src, dst)
    assert r.returncode == 1 and "exists" in r.stderr, r
    r = bigfs(cc, "snapshot", os.path.join(d, "nope"), os.path.join(d, "x"))
    assert r.returncode == 3, r
    # the namespace form
    got = jrun(cc, "--ns", "snapshot", ns_path(cc, src) + "/b", ns_path(cc, d) + "/b2")
    assert got["inodes"] == 1
    assert sha256_file(os.path.join(d, "b2")) == shas["b"]
    r = bigfs(cc, "snapshot", src, os.path.join(d, "snap2"))
    assert r.returncode == 0 and "4 inodes made, 2 chunks now shared" in r.stdout, r


def test_751_quota(cc, d):
    write_random_file(os.path.join(d, "f"), 3000)
    q = jrun(cc, "quota", "set", d, "--bytes", "10G", "--bytes-soft", "1.5G", "--inodes", "100k",
             "--inodes-soft", "1000", "--grace", "2d")
    want = {"bytes_hard": 10 << 30, "bytes_soft": 1610612736, "inodes_hard": 100000,
            "inodes_soft": 1000, "grace_s": 172800}
    assert {k: q[k] for k in want} == want, q
    assert q["path"] == ns_path(cc, d) and q["over"] == "none", q
    got = jrun(cc, "quota", "get", d)
    assert {k: got[k] for k in want} == want, got
    assert got["usage"]["bytes"] == 3000, got
    assert got["usage"]["replica_bytes"] == 6000, got
    # one limit changed, the others kept
    q = jrun(cc, "quota", "set", d, "--inodes", "5000")
    assert q["inodes_hard"] == 5000 and q["bytes_hard"] == 10 << 30, q
    listed = jrun(cc, "quota", "list")["quotas"]
    assert [x["inodes_hard"] for x in listed if x["path"] == ns_path(cc, d)] == [5000], listed
    r = bigfs(cc, "quota", "get", d)
    assert r.returncode == 0, r
    assert "10.0 GiB" in r.stdout and "1.5 GiB" in r.stdout and "within its limits" in r.stdout, \
        r.stdout
    r = bigfs(cc, "quota", "list")
    assert r.returncode == 0 and ns_path(cc, d) in r.stdout, r
    # the hard limit: the mount refuses past it
    jrun(cc, "quota", "set", d, "--bytes", "10000", "--bytes-soft", "0")
    attempts = []

    def refused():
        # the mount learns that quotas exist at its next heartbeat: until
        # then a write may pass (and put the folder over its limit)
        try:
            write_random_file(os.path.join(d, "big%d" % len(attempts)), 20000)
        except OSError as e:
            return e.errno
        finally:
            attempts.append(1)
        return None

    assert wait_for(refused, 30, "EDQUOT past the hard limit") == 122
    assert jrun(cc, "quota", "get", d)["over"] == "hard"
    # remove: gone (get is 3), remove again is 3
    assert jrun(cc, "quota", "remove", d) == {"path": d, "removed": True}
    r = bigfs(cc, "quota", "get", d)
    assert r.returncode == 3 and "no quota" in r.stderr, r
    assert bigfs(cc, "quota", "remove", d).returncode == 3
    # a quota is set on a folder
    r = bigfs(cc, "quota", "set", os.path.join(d, "f"), "--bytes", "1G")
    assert r.returncode == 1 and "folders" in r.stderr, r


# --------------------------------------------------------------------------
# events, metadata


def test_752_events(cc):
    ids = {cc.worker_id(i) for i in range(3)}
    evs = jrun(cc, "events")["events"]
    joined = {e["worker_id"] for e in evs if e["type"] == "worker_joined"}
    assert ids <= joined, evs
    ts = [e["ts_ms"] for e in evs]
    assert ts == sorted(ts)
    assert ids <= {e["worker_id"] for e in jrun(cc, "events", "--since", "1h")["events"]
                   if e["type"] == "worker_joined"}
    recent = jrun(cc, "events", "--since", "2s")["events"]
    assert all(e["ts_ms"] >= (time.time() - 10) * 1000 for e in recent), recent
    r = bigfs(cc, "events")
    assert r.returncode == 0 and "worker_joined" in r.stdout and cc.worker_id(0) in r.stdout, r
    # --follow: new events as they come, one JSON object per line
    proc = subprocess.Popen([ADMIN, "events", "--follow", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env_of(cc), text=True)
    try:
        wid = cc.worker_id(2)
        # events to see: a drain started and stopped at once, again every
        # 2 s until the follower (which starts at the end) shows them
        deadline = time.monotonic() + 60
        got = []
        next_pair = 0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_pair:
                jrun(cc, "worker", "drain", wid)
                jrun(cc, "worker", "undrain", wid)
                next_pair = time.monotonic() + 2
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if not ready:
                continue
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            got.append(json.loads(line))
            types = {e["type"] for e in got if e.get("worker_id") == wid}
            if {"worker_drain_started", "worker_undrained"} <= types:
                break
        types = [e["type"] for e in got if e.get("worker_id") == wid]
        assert "worker_drain_started" in types and "worker_undrained" in types, got
        assert "worker_joined" not in [e["type"] for e in got], "follow replayed old events"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()


def test_753_metadata(cc, tmp_path):
    dump = str(tmp_path / "meta.db")
    got = jrun(cc, "metadata", "dump", dump)
    assert got["file"] == dump and got["bytes"] == os.path.getsize(dump) > 0, got
    with open(dump, "rb") as f:
        assert f.read(16) == b"SQLite format 3\0"
    # a lone master keeps no metadata log: said, exit 1
    r = bigfs(cc, "metadata", "checkpoint")
    assert r.returncode == 1 and "no metadata log" in r.stderr, r


# --------------------------------------------------------------------------
# every command's --json parses


def test_754_every_subcommand_json_parses(cc, d, tmp_path):
    f = os.path.join(d, "f")
    write_random_file(f, 5000)
    os.unlink(os.path.join(d, "f"))
    tid = jrun(cc, "trash", "list", d)["entries"][0]["id"]
    write_random_file(f, 5000)
    wid = cc.worker_id(1)
    runs = [
        ["status"], ["workers"], ["worker", "list"], ["fileinfo", f], ["goal", f],
        ["goal", f, "2"], ["locations", f], ["snapshot", f, os.path.join(d, "g")],
        ["trash", "list"], ["trash", "list", d],
        ["trash", "restore", tid, "--to", os.path.join(d, "h")],
        ["quota", "set", d, "--inodes", "1000"], ["quota", "get", d], ["quota", "list"],
        ["quota", "remove", d], ["events"], ["events", "--since", "10m"],
        ["worker", "drain", wid], ["worker", "undrain", wid],
        ["metadata", "dump", str(tmp_path / "m.db")], ["trash", "purge"],
    ]
    for args in runs:
        if args == ["trash", "purge"]:
            os.unlink(os.path.join(d, "g"))
        doc = jrun(cc, *args)
        assert isinstance(doc, dict) and doc, (args, doc)


# --------------------------------------------------------------------------
# bash completion


def complete(cc, *words, extra_env=None):
    """COMPREPLY of `bigfs WORDS<TAB>` (the last word is the one being
    completed) with the script sourced in a fresh bash."""
    script = ("source %s\ncomplete -p bigfs\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_bigfs\n"
              "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
              % (COMPLETION, " ".join("'%s'" % w for w in (ADMIN,) + words), len(words)))
    env = env_of(cc, **(extra_env or {}))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "complete -F _bigfs bigfs", lines
    return [l for l in lines[1:] if l]


def test_755_completion(cc, d):
    assert complete(cc, "tr") == ["trash"]
    assert complete(cc, "st") == ["status"]
    assert complete(cc, "trash", "") == ["list", "restore", "purge"]
    assert complete(cc, "quota", "set", d, "--b") == ["--bytes", "--bytes-soft"]
    assert complete(cc, "--js") == ["--json"]
    assert "--follow" in complete(cc, "events", "--")
    ids = sorted(cc.worker_id(i) for i in range(3))
    assert sorted(complete(cc, "worker", "drain", "")) == ids
    assert complete(cc, "--master", cc.master_addr, "worker", "undrain", ids[0][:6]) == [ids[0]]
    # no master answering: nothing, quickly
    t = time.monotonic()
    assert complete(cc, "worker", "drain", "", extra_env={"BIGFS_MASTER": DEAD}) == []
    assert time.monotonic() - t < 10
    open(os.path.join(d, "complete-me"), "w").close()
    assert complete(cc, "fileinfo", os.path.join(d, "complete-m")) == \
        [os.path.join(d, "complete-me")]


# --------------------------------------------------------------------------
# drain (last: it empties a worker)


def test_759_worker_drain_wait(cc, d):
    for i in range(4):
        write_random_file(os.path.join(d, "f%d" % i), 3 << 20)
    workers = jrun(cc, "workers")["workers"]
    victim = max(workers, key=lambda w: w["chunks"])
    wid = victim["worker_id"]
    assert victim["chunks"] > 0
    r = bigfs(cc, "worker", "drain", "nosuchworker")
    assert r.returncode == 3 and "no worker 'nosuchworker'" in r.stderr, r
    # a chunk with goal 3 on three workers has nowhere to go: --wait gives
    # up once the drain has not moved for --stall, and says so
    g3 = os.path.join(d, "goal3")
    open(g3, "wb").close()
    jrun(cc, "goal", g3, "3")
    write_random_file(g3, 1000)
    wait_for(lambda: len(jrun(cc, "fileinfo", g3)["files"][0]["chunks"][0]["replicas"]) == 3,
             30, "three copies of goal3")
    r = bigfs(cc, "worker", "drain", wid, "--wait", "--stall", "3s", timeout=120)
    assert r.returncode == 1, r
    assert "no progress for 3s, 1 chunk left" in r.stderr and "drain goes on" in r.stderr, r
    assert jrun(cc, "worker", "undrain", wid)["was_draining"] is True
    os.unlink(g3)
    jrun(cc, "trash", "purge")
    # by a prefix of its id; --wait until it can be removed
    got = jrun(cc, "worker", "drain", wid[:8], "--wait", timeout=600)
    assert got["worker_id"] == wid and got["state"] == "drained", got
    assert got["drain"]["removable"] is True and got["drain"]["chunks_left"] == 0, got
    after = {w["worker_id"]: w for w in jrun(cc, "workers")["workers"]}
    assert after[wid]["state"] == "drained" and after[wid]["chunks"] == 0, after[wid]
    st = jrun(cc, "status")
    assert [x["worker_id"] for x in st["drains"]] == [wid], st["drains"]
    assert st["workers"]["drained"] == 1
    # every file still has goal copies, none on the drained worker
    for i in range(4):
        for ch in jrun(cc, "fileinfo", os.path.join(d, "f%d" % i))["files"][0]["chunks"]:
            reps = [x["worker_id"] for x in ch["replicas"]]
            assert len(reps) == 2 and wid not in reps, ch
    r = bigfs(cc, "status")
    assert re.search(r"^drains +%s drained: done" % wid, r.stdout, re.M), r.stdout
    r = bigfs(cc, "worker", "undrain", wid)
    assert r.returncode == 0 and "drain stopped" in r.stdout, r
    assert {w["worker_id"]: w["state"] for w in jrun(cc, "workers")["workers"]}[wid] == "live"
