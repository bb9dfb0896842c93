"""Trash, snapshots and quotas on a real mount (issue 13).

One cluster with the trash on (the default trashtime of a day) and
goal 2. The operator's calls go to the master signed with the cluster
secret, as `bigfs` makes them; files are used through the mount with
ordinary syscalls."""
import errno
import json
import os
import time

import pytest

from conftest import finish_cluster, make_cluster, sha256_file, wait_for, write_random_file


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    c = make_cluster(tmp_path_factory, "ops", trash=True)
    yield c
    finish_cluster(c)


def op(c, path, body=None, method="POST", want=200):
    if body is None and method == "POST":
        body = {}
    st, _, raw = c.cluster_http(method, path, body)
    doc = json.loads(raw) if raw else None
    assert st == want, (path, body, st, raw)
    return doc


def ino(path):
    return int(os.getxattr(path, "bigfs.ino"))


def ns_path(c, path):
    """The namespace path of a file on the mount."""
    return "/" + os.path.relpath(path, c.mounts[0].path)


def unlink_sent(path):
    """unlink() path and fsync its folder: the mount answers an unlink at
    once and sends it in its next batch (docs/posix.md); the folder's fsync
    returns once the master has it, so the API sees it next."""
    os.unlink(path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stat_tuple(p):
    st = os.stat(p)
    return (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


def worker_chunk_ids(c):
    ids = set()
    for wd in c.worker_dirs:
        for _, _, files in os.walk(os.path.join(wd, "chunks")):
            ids.update(f for f in files if len(f) == 16)
    return ids


@pytest.fixture
def d(tc, request):
    p = os.path.join(tc.mounts[0].path, request.node.name)
    os.mkdir(p)
    return p


# ---- trash ------------------------------------------------------------------

def test_trash_restore_returns_identical_bytes_and_attributes(tc, d):
    f = os.path.join(d, "report.bin")
    write_random_file(f, 3 * 1024 * 1024 + 17, seed=1)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    os.setxattr(f, "user.tag", b"keep me")
    digest, before, number = sha256_file(f), stat_tuple(f), ino(f)
    unlink_sent(f)
    assert not os.path.exists(f)

    listing = op(tc, "/v1/trash/list", {"path": ns_path(tc, d)})
    assert [e["path"] for e in listing["entries"]] == [ns_path(tc, f)]
    e = listing["entries"][0]
    assert e["id"] == number and e["size"] == before[3]
    assert e["expire_s"] - e["deleted_s"] == 86400
    assert listing["files"] >= 1 and listing["bytes"] >= before[3]

    got = op(tc, "/v1/trash/restore", {"id": e["id"]})
    assert got["path"] == ns_path(tc, f)
    assert sha256_file(f) == digest
    after = stat_tuple(f)
    assert after == before
    assert os.getxattr(f, "user.tag") == b"keep me"
    assert op(tc, "/v1/trash/list", {"path": ns_path(tc, d)})["entries"] == []


def test_rename_over_a_file_puts_the_old_one_in_the_trash(tc, d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    with open(a, "wb") as fp:
        fp.write(b"new contents")
    with open(b, "wb") as fp:
        fp.write(b"old contents")
    old = ino(b)
    os.rename(a, b)   # what editors, rsync and tar do
    entries = op(tc, "/v1/trash/list", {"path": ns_path(tc, d)})["entries"]
    assert [(x["id"], x["path"]) for x in entries] == [(old, ns_path(tc, b))]
    # the name is taken now: restoring there fails, elsewhere works
    st, _, raw = tc.cluster_http("POST", "/v1/trash/restore", json.dumps({"id": old}))
    assert st != 200 and json.loads(raw)["errno"] == errno.EEXIST
    got = op(tc, "/v1/trash/restore", {"id": old, "to": ns_path(tc, d) + "/b.old"})
    assert got["path"] == ns_path(tc, d) + "/b.old"
    with open(os.path.join(d, "b.old"), "rb") as fp:
        assert fp.read() == b"old contents"
    with open(b, "rb") as fp:
        assert fp.read() == b"new contents"


def test_trashtime_zero_expiry_and_purge_free_the_chunks(tc, d):
    now_dir = os.path.join(d, "scratch")
    os.mkdir(now_dir)
    os.setxattr(now_dir, "bigfs.trashtime", b"0")
    f = os.path.join(now_dir, "tmp")
    write_random_file(f, 100000, seed=2)
    assert os.getxattr(f, "bigfs.trashtime") == b"0"   # inherited at creation
    unlink_sent(f)
    assert op(tc, "/v1/trash/list", {"path": ns_path(tc, now_dir)})["entries"] == []

    short = os.path.join(d, "short")
    os.mkdir(short)
    os.setxattr(short, "bigfs.trashtime", b"2")
    g = os.path.join(short, "g")
    write_random_file(g, 100000, seed=3)
    unlink_sent(g)
    assert len(op(tc, "/v1/trash/list", {"path": ns_path(tc, short)})["entries"]) == 1
    wait_for(lambda: not op(tc, "/v1/trash/list", {"path": ns_path(tc, short)})["entries"],
             15, "the expired file to leave the trash")

    h = os.path.join(d, "h")
    write_random_file(h, 2 * 1024 * 1024, seed=4)
    chunks = {x["chunk_id"] for x in op(tc, "/v1/fileinfo", {"ino": ino(h)})["chunks"]}
    assert chunks and chunks <= worker_chunk_ids(tc)
    number = ino(h)
    os.unlink(h)
    time.sleep(2)
    assert chunks <= worker_chunk_ids(tc), "the trash keeps the chunks"
    freed = op(tc, "/v1/trash/purge", {"id": number})
    assert freed == {"files": 1, "bytes": 2 * 1024 * 1024}
    wait_for(lambda: not (chunks & worker_chunk_ids(tc)), 30, "the purged chunks to go")
    st, _, raw = tc.cluster_http("POST", "/v1/trash/purge", json.dumps({"id": number}))
    assert st == 404 and json.loads(raw)["errno"] == errno.ENOENT


def test_trash_calls_refuse_bad_input(tc):
    for path, body in [("/v1/trash/restore", {}), ("/v1/trash/restore", {"id": "x"}),
                       ("/v1/trash/list", {"limit": -1}), ("/v1/trash/purge", {"id": [1]})]:
        st, _, raw = tc.cluster_http("POST", path, json.dumps(body))
        assert st == 400 and json.loads(raw)["errno"] == errno.EINVAL, (path, body, raw)
    st, _, raw = tc.cluster_http("POST", "/v1/trash/restore", b"{not json")
    assert st == 400
    # not signed with the cluster secret: refused
    st, _, _ = tc.http("POST", "/v1/trash/list", b"{}")
    assert st in (401, 403)


# ---- snapshots --------------------------------------------------------------

def test_snapshot_shares_chunks_and_both_sides_diverge(tc, d):
    src = os.path.join(d, "src")
    os.makedirs(os.path.join(src, "sub"))
    big = os.path.join(src, "big")
    write_random_file(big, 70 * 1024 * 1024, seed=5)     # two chunks
    write_random_file(os.path.join(src, "sub", "small"), 5000, seed=6)
    os.symlink("sub/small", os.path.join(src, "link"))
    os.chmod(os.path.join(src, "sub"), 0o750)
    digests = {p: sha256_file(os.path.join(src, p)) for p in ("big", "sub/small")}

    dst = os.path.join(d, "snap")
    res = op(tc, "/v1/snapshot", {"src_ino": ino(src), "dst_parent": ino(d), "dst_name": "snap"})
    assert res["inodes"] == 5 and res["chunks"] == 3
    for p, h in digests.items():
        assert sha256_file(os.path.join(dst, p)) == h
    assert os.readlink(os.path.join(dst, "link")) == "sub/small"
    assert os.stat(os.path.join(dst, "sub")).st_mode & 0o777 == 0o750
    info = op(tc, "/v1/fileinfo", {"ino": ino(os.path.join(dst, "big"))})
    assert [c["refs"] for c in info["chunks"]] == [2, 2]
    shared = {c["chunk_id"] for c in info["chunks"]}

    # write into the source's first chunk: copy on write, the snapshot keeps the old bytes
    with open(big, "r+b") as fp:
        fp.seek(1000)
        fp.write(b"S" * 4096)
    with open(os.path.join(dst, "big"), "r+b") as fp:
        fp.seek(65 * 1024 * 1024)
        fp.write(b"D" * 4096)
    assert sha256_file(os.path.join(dst, "sub", "small")) == digests["sub/small"]
    with open(big, "rb") as fp:
        fp.seek(1000)
        assert fp.read(4096) == b"S" * 4096
        fp.seek(65 * 1024 * 1024)
        assert fp.read(4096) != b"D" * 4096
    with open(os.path.join(dst, "big"), "rb") as fp:
        fp.seek(1000)
        assert fp.read(4096) != b"S" * 4096
        fp.seek(65 * 1024 * 1024)
        assert fp.read(4096) == b"D" * 4096
    src_chunks = op(tc, "/v1/fileinfo", {"ino": ino(big)})["chunks"]
    dst_chunks = op(tc, "/v1/fileinfo", {"ino": ino(os.path.join(dst, "big"))})["chunks"]
    assert [c["refs"] for c in src_chunks] == [1, 1]
    assert src_chunks[0]["chunk_id"] != dst_chunks[0]["chunk_id"]
    assert src_chunks[1]["chunk_id"] != dst_chunks[1]["chunk_id"]
    assert all(len(c["replicas"]) == 2 for c in src_chunks + dst_chunks)

    # a truncate into a shared chunk copies it too
    res = op(tc, "/v1/snapshot", {"src": ns_path(tc, big), "dst": ns_path(tc, d) + "/big2"})
    os.truncate(os.path.join(d, "big2"), 3000)
    with open(big, "rb") as fp:
        fp.seek(1000)
        assert fp.read(4096) == b"S" * 4096
    assert os.path.getsize(big) == 70 * 1024 * 1024

    # space comes back only when no side names a chunk any more
    # (a file keeps the trashtime it was made with: these skip the trash)
    for p in ("big2", "snap/big", "snap/sub/small"):
        os.setxattr(os.path.join(d, p), "bigfs.trashtime", b"0")
    kept = {c["chunk_id"] for c in op(tc, "/v1/fileinfo", {"ino": ino(os.path.join(d, "big2"))})["chunks"]}
    dst_ids = {c["chunk_id"] for c in dst_chunks}
    os.unlink(os.path.join(d, "big2"))
    for p in ("big", "sub/small", "link"):
        os.unlink(os.path.join(dst, p))
    time.sleep(3)
    assert {c["chunk_id"] for c in src_chunks} <= worker_chunk_ids(tc)
    wait_for(lambda: not (dst_ids & worker_chunk_ids(tc)), 30, "the snapshot's own chunks to go")
    own = kept - {c["chunk_id"] for c in src_chunks}
    assert len(own) == 1, "big2's cut chunk was copied on write"
    wait_for(lambda: not (own & worker_chunk_ids(tc)), 30, "big2's own chunk to go")
    assert shared - {c["chunk_id"] for c in src_chunks} <= dst_ids


def test_snapshot_refuses_what_it_must(tc, d):
    sub = os.path.join(d, "a")
    os.mkdir(sub)
    with open(os.path.join(sub, "f"), "w") as fp:
        fp.write("x")
    cases = [
        ({"src_ino": ino(sub), "dst_parent": ino(sub), "dst_name": "inside"}, errno.EINVAL),
        ({"src_ino": ino(sub), "dst_parent": ino(d), "dst_name": "a"}, errno.EEXIST),
        ({"src": ns_path(tc, d) + "/nope", "dst": ns_path(tc, d) + "/x"}, errno.ENOENT),
        ({"src_ino": ino(sub), "dst_parent": ino(d), "dst_name": "../x"}, errno.EINVAL),
        ({"src_ino": ino(sub)}, errno.EINVAL),
    ]
    for body, want in cases:
        st, _, raw = tc.cluster_http("POST", "/v1/snapshot", json.dumps(body))
        assert st != 200 and json.loads(raw)["errno"] == want, (body, raw)
    # a file being written has no point in time to copy
    with open(os.path.join(sub, "busy"), "wb") as fp:
        fp.write(b"x" * 100000)
        fp.flush()
        os.fsync(fp.fileno())
        st, _, raw = tc.cluster_http("POST", "/v1/snapshot", json.dumps(
            {"src": ns_path(tc, sub), "dst": ns_path(tc, d) + "/b"}))
        assert st == 409 or json.loads(raw)["errno"] == errno.EBUSY, raw
    op(tc, "/v1/snapshot", {"src": ns_path(tc, sub), "dst": ns_path(tc, d) + "/b"})
    assert sorted(os.listdir(os.path.join(d, "b"))) == ["busy", "f"]


# ---- quotas -----------------------------------------------------------------

MIB = 1024 * 1024


def wait_quota_known(tc):
    """Mounts learn that quotas exist from their next session heartbeat."""
    time.sleep(3)


def test_quota_hard_limits_give_edquot_at_the_exact_limit(tc, d):
    q = os.path.join(d, "q")
    os.mkdir(q)
    got = op(tc, "/v1/quota/set", {"ino": ino(q), "bytes_hard": MIB, "inodes_hard": 3})
    assert got["path"] == ns_path(tc, q) and got["usage"] == {"bytes": 0, "replica_bytes": 0,
                                                             "inodes": 0}
    wait_quota_known(tc)
    f = os.path.join(q, "f")
    fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert os.write(fd, b"a" * (MIB - 10)) == MIB - 10
        assert os.write(fd, b"b" * 100) == 10          # cut at the limit
        with pytest.raises(OSError) as e:
            os.write(fd, b"c")
        assert e.value.errno == errno.EDQUOT
    finally:
        os.close(fd)
    assert os.path.getsize(f) == MIB
    got = op(tc, "/v1/quota/get", {"path": ns_path(tc, q)})
    assert got["usage"]["bytes"] == MIB and got["usage"]["replica_bytes"] == 2 * MIB
    assert got["over"] == "hard"

    os.mkdir(os.path.join(q, "sub"))
    open(os.path.join(q, "sub", "g"), "w").close()     # 3 inodes: f, sub, g
    with pytest.raises(OSError) as e:
        open(os.path.join(q, "h"), "w").close()
    assert e.value.errno == errno.EDQUOT
    # removing makes room again
    os.unlink(os.path.join(q, "sub", "g"))
    open(os.path.join(q, "h"), "w").close()
    assert op(tc, "/v1/quota/get", {"ino": ino(q)})["usage"]["inodes"] == 3


def test_quota_counts_renames_in_and_out(tc, d):
    q = os.path.join(d, "q")
    out = os.path.join(d, "out")
    os.mkdir(q)
    os.makedirs(os.path.join(out, "tree"))
    write_random_file(os.path.join(out, "big"), 2 * MIB, seed=7)
    write_random_file(os.path.join(out, "tree", "x"), MIB // 2, seed=8)
    op(tc, "/v1/quota/set", {"ino": ino(q), "bytes_hard": MIB})
    with pytest.raises(OSError) as e:
        os.rename(os.path.join(out, "big"), os.path.join(q, "big"))
    assert e.value.errno == errno.EDQUOT
    assert os.path.exists(os.path.join(out, "big"))
    os.rename(os.path.join(out, "tree"), os.path.join(q, "tree"))
    got = op(tc, "/v1/quota/get", {"ino": ino(q)})["usage"]
    assert got["bytes"] == MIB // 2 and got["inodes"] == 2
    wait_quota_known(tc)
    with open(os.path.join(q, "tree", "x"), "ab") as fp:
        fp.write(b"y" * (MIB // 2))
    with pytest.raises(OSError) as e:
        with open(os.path.join(q, "tree", "x"), "ab") as fp:
            fp.write(b"z")
    assert e.value.errno == errno.EDQUOT
    os.rename(os.path.join(q, "tree"), os.path.join(out, "tree"))
    got = op(tc, "/v1/quota/get", {"ino": ino(q)})["usage"]
    assert got["bytes"] == 0 and got["inodes"] == 0


def test_quota_soft_limit_has_a_grace_period(tc, d):
    q = os.path.join(d, "q")
    os.mkdir(q)
    op(tc, "/v1/quota/set", {"ino": ino(q), "bytes_soft": 1000, "grace_s": 3})
    wait_quota_known(tc)
    with open(os.path.join(q, "a"), "wb") as fp:
        fp.write(b"a" * 2000)                           # past soft: allowed
    got = op(tc, "/v1/quota/get", {"ino": ino(q)})
    assert got["over"] == "soft" and got["soft_since_s"]["bytes"] is not None
    time.sleep(4.5)
    assert op(tc, "/v1/quota/get", {"ino": ino(q)})["over"] == "grace_expired"
    with pytest.raises(OSError) as e:
        with open(os.path.join(q, "b"), "wb") as fp:
            fp.write(b"b")
    assert e.value.errno == errno.EDQUOT
    unlink_sent(os.path.join(q, "a"))
    assert op(tc, "/v1/quota/get", {"ino": ino(q)})["over"] == "none"
    with open(os.path.join(q, "b"), "wb") as fp:
        fp.write(b"b" * 10)


def test_quota_list_remove_and_bad_input(tc, d):
    q = os.path.join(d, "q")
    os.mkdir(q)
    op(tc, "/v1/quota/set", {"ino": ino(q), "inodes_hard": 10, "inodes_soft": 5})
    listed = op(tc, "/v1/quota/list", method="GET")["quotas"]
    assert ns_path(tc, q) in [x["path"] for x in listed]
    # limits not named keep their value
    got = op(tc, "/v1/quota/set", {"ino": ino(q), "bytes_hard": 5 * MIB})
    assert got["inodes_hard"] == 10 and got["bytes_hard"] == 5 * MIB
    op(tc, "/v1/quota/remove", {"ino": ino(q)})
    st, _, raw = tc.cluster_http("POST", "/v1/quota/get", json.dumps({"ino": ino(q)}))
    assert st == 404 and json.loads(raw)["errno"] == errno.ENOENT
    f = os.path.join(q, "file")
    open(f, "w").close()
    for body, want in [({"ino": ino(f), "bytes_hard": 1}, errno.ENOTDIR),
                       ({"ino": ino(q), "bytes_soft": 10, "bytes_hard": 5}, errno.EINVAL),
                       ({"ino": ino(q), "bytes_hard": -1}, errno.EINVAL),
                       ({"path": "relative"}, errno.EINVAL),
                       ({"path": "/no/such/dir"}, errno.ENOENT),
                       ({}, errno.EINVAL)]:
        st, _, raw = tc.cluster_http("POST", "/v1/quota/set", json.dumps(body))
        assert st != 200 and json.loads(raw)["errno"] == want, (body, raw)


def test_cluster_summary_shows_trash_quotas_and_health(tc, d):
    f = os.path.join(d, "gone")
    write_random_file(f, 12345, seed=9)
    unlink_sent(f)
    q = os.path.join(d, "q")
    os.mkdir(q)
    op(tc, "/v1/quota/set", {"ino": ino(q), "inodes_hard": 7})
    st, _, raw = tc.http("GET", "/v1/cluster/summary")   # public, like the status page
    assert st == 200
    s = json.loads(raw)
    listing = op(tc, "/v1/trash/list", {})
    assert s["trash"] == {"files": listing["files"], "bytes": listing["bytes"]}
    assert s["trash"]["files"] >= 1 and s["trash"]["bytes"] >= 12345
    assert ns_path(tc, q) in [x["path"] for x in s["quotas"]]
    assert s["chunks"] > 0 and s["chunks_lost"] == 0
    assert isinstance(s["events"], list) and isinstance(s["drains"], list)
    assert any(e.get("type") == "worker_joined" for e in s["events"])


def test_cp_shares_whole_chunks_through_copy_file_range(tc, d):
    import subprocess
    src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
    write_random_file(src, 64 * MIB + 1000, seed=10)
    digest = sha256_file(src)
    t0 = time.monotonic()
    subprocess.run(["cp", src, dst], check=True)   # coreutils 9: copy_file_range first
    took = time.monotonic() - t0
    assert sha256_file(dst) == digest
    a = op(tc, "/v1/fileinfo", {"ino": ino(src)})["chunks"]
    b = op(tc, "/v1/fileinfo", {"ino": ino(dst)})["chunks"]
    assert [c["chunk_id"] for c in a] == [c["chunk_id"] for c in b]
    assert [c["refs"] for c in b] == [2, 2]
    # the copy diverges from its source at the next write
    with open(dst, "r+b") as fp:
        fp.seek(64 * MIB + 10)
        fp.write(b"changed")
    assert sha256_file(src) == digest
    with open(dst, "rb") as fp:
        fp.seek(64 * MIB + 10)
        assert fp.read(7) == b"changed"
    b = op(tc, "/v1/fileinfo", {"ino": ino(dst)})["chunks"]
    assert b[0]["chunk_id"] == a[0]["chunk_id"] and b[1]["chunk_id"] != a[1]["chunk_id"]
    # an unaligned copy falls back to the kernel's own byte copy
    with open(src, "rb") as fi, open(os.path.join(d, "part"), "wb") as fo:
        n = os.copy_file_range(fi.fileno(), fo.fileno(), 5000, 100)
        assert n == 5000
    with open(src, "rb") as fp, open(os.path.join(d, "part"), "rb") as fq:
        fp.seek(100)
        assert fq.read() == fp.read(5000)
    # FICLONE never reaches a FUSE filesystem: cp --reflink=always says so
    r = subprocess.run(["cp", "--reflink=always", src, os.path.join(d, "clone")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "not supported" in r.stderr.lower(), (r.returncode, r.stderr)
    print("cp of 64 MiB + 1000 bytes: %.3f s" % took)
