"""Bad input to a worker's data API, and damaged chunk files on a worker's
disk.  Tokens are signed here in Python with the master's secret exactly as
common/token.h says (HMAC-SHA256 over "chunk_id:version:op:expiry")."""

import errno
import glob
import os
import time

import pytest

from conftest import drop_caches, http, json_of, make_token, read_locations, \
    sha256_file, write_random_file

ABSENT = "7fffffffffff0001"


def url(cluster, i, path, **q):
    qs = "&".join("%s=%s" % (k, v) for k, v in q.items())
    return "http://%s%s%s" % (cluster.worker_addr(i), path, ("?" + qs) if qs else "")


def tok(cluster, chunk_id, version, op, ttl=300):
    return make_token(cluster.secret(), chunk_id, version, op, int(time.time()) + ttl)


def check_error(cluster, i, st, body, want_errno, want_status=None):
    j = json_of(body)
    assert 400 <= st < 600, (st, body[:200])
    if want_status is not None:
        assert st == want_status, (st, body[:200])
    assert isinstance(j, dict) and isinstance(j.get("errno"), int), body[:200]
    if want_errno is not None:
        assert j["errno"] == want_errno, (j, errno.errorcode.get(want_errno))
    assert cluster.workers[i].alive(), "worker %d died" % i


@pytest.fixture(scope="module")
def chunk(cluster):
    """A real chunk: (worker index holding it, chunk id, version, data)."""
    p = os.path.join(cluster.mounts[0].path, "w410")
    data = os.urandom(300000)
    with open(p, "wb") as f:
        f.write(data)
    (idx, cid, ver, reps), = read_locations(p)
    yield cluster.worker_index(reps[0]), cid, ver, data
    os.unlink(p)


def test_411_absent_chunk_is_404(cluster):
    st, _, raw = http("GET", url(cluster, 0, "/v1/chunk/" + ABSENT, version=1, offset=0,
                                 length=10, token=tok(cluster, ABSENT, 1, "r")))
    check_error(cluster, 0, st, raw, errno.ENOENT, 404)


def test_412_forged_expired_missing_tokens_are_403(cluster, chunk):
    i, cid, ver, data = chunk
    secret = cluster.secret()
    now = int(time.time())
    forged = make_token(b"x" * len(secret), cid, ver, "r", now + 300)
    expired = make_token(secret, cid, ver, "r", now - 5)
    other_op = make_token(secret, cid, ver, "w", now + 300)
    other_ver = make_token(secret, cid, ver + 1, "r", now + 300)
    other_chunk = make_token(secret, ABSENT, ver, "r", now + 300)
    good = make_token(secret, cid, ver, "r", now + 300)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    later = str(now + 100000) + good[good.index("."):]
    for t in [forged, expired, other_op, other_ver, other_chunk, tampered, later, "", "abc",
              "1.2", "%00", "9" * 200]:
        st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0,
                                     length=10, token=t))
        check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0, length=10))
    check_error(cluster, i, st, raw, errno.EACCES, 403)

    # A forged write must not change or create anything.
    st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0,
                                 token=make_token(b"y" * 32, cid, ver, "w", now + 300)),
                      b"EVIL", headers={"Content-Type": "application/octet-stream"})
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + ABSENT, version=1, offset=0,
                                 token=make_token(b"y" * 32, ABSENT, 1, "w", now + 300)),
                      b"EVIL", headers={"Content-Type": "application/octet-stream"})
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("DELETE", url(cluster, i, "/v1/chunk/" + cid, token=good))
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("POST", url(cluster, i, "/v1/chunk/%s/replicate" % cid, version=ver,
                                  source="127.0.0.1:1", source_token=good,
                                  token=make_token(b"z" * 32, cid, ver, "p", now + 300)))
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("GET", url(cluster, i, "/v1/chunks", token=forged))
    check_error(cluster, i, st, raw, errno.EACCES, 403)

    # The real chunk is unchanged and readable with a good token.
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0,
                                 length=len(data), token=good))
    assert st == 200 and raw == data
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + ABSENT, version=1, offset=0,
                                 length=4, token=tok(cluster, ABSENT, 1, "r")))
    check_error(cluster, i, st, raw, errno.ENOENT, 404)


def test_412_keepalive_remembers_only_the_good_token(cluster, chunk):
    """A worker's connection thread remembers the tokens it found good (no
    HMAC for them again): on one kept-alive connection, after the good
    token passed, every other token is still checked, and the good one
    opens nothing but its own chunk, version and op."""
    import http.client
    i, cid, ver, data = chunk
    secret = cluster.secret()
    now = int(time.time())
    good = make_token(secret, cid, ver, "r", now + 300)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    later = str(now + 100000) + good[good.index("."):]
    expired = make_token(secret, cid, ver, "r", now - 5)
    host, port = cluster.worker_addr(i).rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(method, path, **q):
        qs = "&".join("%s=%s" % (k, v) for k, v in q.items())
        conn.request(method, path + "?" + qs)
        r = conn.getresponse()
        return r.status, r.read()

    try:
        for _ in range(2):
            st, raw = call("GET", "/v1/chunk/" + cid, version=ver, offset=0, length=10,
                           token=good)
            assert st == 200 and raw == data[:10]
            for t in [tampered, later, expired, good + "0", good[:-1]]:
                st, raw = call("GET", "/v1/chunk/" + cid, version=ver, offset=0, length=10,
                               token=t)
                check_error(cluster, i, st, raw, errno.EACCES, 403)
            # the good token, for another version, chunk or op
            st, raw = call("GET", "/v1/chunk/" + cid, version=ver + 1, offset=0, length=10,
                           token=good)
            check_error(cluster, i, st, raw, errno.EACCES, 403)
            st, raw = call("GET", "/v1/chunk/" + ABSENT, version=ver, offset=0, length=10,
                           token=good)
            check_error(cluster, i, st, raw, errno.EACCES, 403)
            st, raw = call("POST", "/v1/chunk/%s/truncate" % cid, version=ver, length=0,
                           token=good)
            check_error(cluster, i, st, raw, errno.EACCES, 403)
            st, raw = call("GET", "/v1/chunks", token=good)
            check_error(cluster, i, st, raw, errno.EACCES, 403)
        st, raw = call("GET", "/v1/chunk/" + cid, version=ver, offset=0, length=len(data),
                       token=good)
        assert st == 200 and raw == data
    finally:
        conn.close()


def test_413_reads_with_good_token(cluster, chunk):
    i, cid, ver, data = chunk
    t = tok(cluster, cid, ver, "r")
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=1000,
                                 length=5000, token=t))
    assert st == 200 and raw == data[1000:6000]
    # past the stored length: zeros, always `length` bytes
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver,
                                 offset=len(data) - 10, length=110, token=t))
    assert st == 200 and raw == data[-10:] + b"\0" * 100
    # another version: 409 ESTALE
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver + 1, offset=0,
                                 length=10, token=tok(cluster, cid, ver + 1, "r")))
    check_error(cluster, i, st, raw, errno.ESTALE, 409)
    # listing with an "l" token shows it
    st, _, raw = http("GET", url(cluster, i, "/v1/chunks",
                                 token=tok(cluster, "0" * 16, 0, "l")))
    assert st == 200
    listed = {c["chunk_id"]: c for c in json_of(raw)["chunks"]}
    assert cid in listed and listed[cid]["version"] == ver and listed[cid]["length"] == len(data)
    st, _, raw = http("GET", url(cluster, i, "/v1/health"))
    assert st == 200 and json_of(raw) == {"ok": True, "worker_id": cluster.worker_id(i)}


def crc32c(data):
    """CRC32C (Castagnoli), bit by bit through a table; slow but plain."""
    table = crc32c.table
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


crc32c.table = _crc32c_table()
BLOCK = 64 << 10


def test_413_client_verified_reads(cluster, chunk):
    """?verify=client: whole stored 64 KiB blocks come with their CRC32C in
    X-Bigfs-Crc32c (8 hex digits a block) for the reader to check; any
    other range is verified by the worker and has no such header."""
    assert crc32c(b"123456789") == 0xE3069283
    i, cid, ver, data = chunk
    t = tok(cluster, cid, ver, "r")
    for off, length in [(0, len(data)), (BLOCK, 2 * BLOCK), (4 * BLOCK, len(data) - 4 * BLOCK)]:
        st, hdrs, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=off,
                                        length=length, token=t, verify="client"))
        assert st == 200 and raw == data[off:off + length]
        hexes = hdrs.get("X-Bigfs-Crc32c")
        nblocks = (length + BLOCK - 1) // BLOCK
        assert hexes is not None and len(hexes) == 8 * nblocks, (off, length, hdrs)
        for b in range(nblocks):
            want = crc32c(raw[b * BLOCK:(b + 1) * BLOCK])
            assert int(hexes[8 * b:8 * b + 8], 16) == want, (off, length, b)
    for off, length in [(1000, 5000), (0, BLOCK + 1), (0, len(data) + 100), (BLOCK, 0)]:
        for v in ["client", "worker", ""]:
            st, hdrs, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver,
                                            offset=off, length=length, token=t, verify=v))
            want = (data + b"\0" * 100)[off:off + length]
            assert st == 200 and raw == want, (off, length, v)
            assert "X-Bigfs-Crc32c" not in hdrs, (off, length, v)
    # the fast path keeps the rules: wrong version, bad token
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver + 1, offset=0,
                                 length=BLOCK, token=tok(cluster, cid, ver + 1, "r"),
                                 verify="client"))
    check_error(cluster, i, st, raw, errno.ESTALE, 409)
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0,
                                 length=BLOCK, token=tok(cluster, cid, ver, "w"),
                                 verify="client"))
    check_error(cluster, i, st, raw, None, 403)


@pytest.mark.parametrize("q", [
    dict(offset=(64 << 20) + 1, length=1),
    dict(offset=0, length=(64 << 20) + 1),
    dict(offset=(64 << 20) - 1, length=2),
    dict(offset=-1, length=10),
    dict(offset=0, length=-10),
    dict(offset=2 ** 64, length=10),
    dict(offset="abc", length=10),
    dict(offset=0, length="1e3"),
    dict(offset=0, length=18446744073709551615),
])
def test_414_bad_offsets_lengths(cluster, chunk, q):
    i, cid, ver, _ = chunk
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver,
                                 token=tok(cluster, cid, ver, "r"), **q))
    check_error(cluster, i, st, raw, errno.EINVAL, 400)


def test_415_bad_writes_and_ids(cluster, chunk):
    i, cid, ver, data = chunk
    wt = tok(cluster, ABSENT, 1, "w")
    for q in [dict(offset=(64 << 20) - 1), dict(offset=-1), dict(offset="x"), dict()]:
        st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + ABSENT, version=1, token=wt, **q),
                          b"ab", headers={"Content-Type": "application/octet-stream"})
        check_error(cluster, i, st, raw, None)
        assert st in (400, 413), (q, st, raw)
    for bad in ["zzzzzzzzzzzzzzzz", "123", "7fffffffffff00011", "..%2F..%2Fetc%2Fpasswd",
                "7FFFFFFFFFFF0001x"]:
        st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + bad, version=1, offset=0,
                                     length=1, token=tok(cluster, ABSENT, 1, "r")))
        assert st in (400, 403, 404), (bad, st, raw)
        check_error(cluster, i, st, raw, None)
    # a write at an older version than stored: 409 ESTALE, data unchanged
    if ver > 1:
        st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + cid, version=ver - 1, offset=0,
                                     token=tok(cluster, cid, ver - 1, "w")), b"OLD",
                          headers={"Content-Type": "application/octet-stream"})
        check_error(cluster, i, st, raw, errno.ESTALE, 409)
    st, _, raw = http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0,
                                 length=len(data), token=tok(cluster, cid, ver, "r")))
    assert st == 200 and raw == data


# ---- damaged chunk files on a worker's disk --------------------------------


@pytest.fixture(scope="module")
def fresh_mount(cluster):
    """A second mount whose client has never read the files below, so its
    reads must go to the workers."""
    return cluster.mount("mnt-fresh")


def chunk_file(cluster, worker_index, cid):
    found = glob.glob(os.path.join(cluster.worker_dirs[worker_index], "chunks", "*", "*", cid))
    assert len(found) == 1, "chunk %s not found once under worker %d: %s" % (cid, worker_index, found)
    return found[0]


def replicas_in_read_order(cluster, path):
    """The replicas of chunk 0 in the order the master hands them to readers."""
    ino = os.stat(path).st_ino
    st, j, raw = cluster.api("POST", "/v1/chunks", {"ino": ino, "index": 0, "count": 1})
    assert st == 200, raw
    return [r["worker_id"] for r in j["chunks"][0]["replicas"]]


def damage(path, how):
    size = os.path.getsize(path)
    if how == "overwrite-data":
        with open(path, "r+b") as f:
            f.seek(8192 + 70000)
            f.write(os.urandom(5000))
    elif how == "overwrite-all":
        with open(path, "r+b") as f:
            f.write(os.urandom(size))
    elif how == "truncate-data":
        os.truncate(path, 8192 + 1000)
    elif how == "truncate-header":
        os.truncate(path, 100)
    elif how == "empty":
        os.truncate(path, 0)
    else:
        raise ValueError(how)


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("how", ["overwrite-data", "overwrite-all", "truncate-data",
                                 "truncate-header", "empty"])
def test_416_damaged_replica_read_from_other_copy(cluster, fresh_mount, how, which):
    name = "dmg-%s-%d" % (how, which)
    p = os.path.join(cluster.mounts[0].path, name)
    sha = write_random_file(p, 200000)
    (idx, cid, ver, reps), = read_locations(p)
    assert len(set(reps)) == 2
    order = replicas_in_read_order(cluster, p)
    victim_id = order[which]
    victim = cluster.worker_index(victim_id)
    f = chunk_file(cluster, victim, cid)
    damage(f, how)
    drop_caches()

    # The worker refuses to serve the damaged range.
    st, _, raw = http("GET", url(cluster, victim, "/v1/chunk/" + cid, version=ver, offset=70000,
                                 length=5000, token=tok(cluster, cid, ver, "r")))
    assert st in (404, 500), (how, st, raw[:200])
    check_error(cluster, victim, st, raw, errno.EIO if st == 500 else errno.ENOENT)
    if how == "overwrite-data":
        # Asked for whole blocks with verify=client, it sends what is on
        # disk with the CRCs the bytes were written with: they differ.
        st, hdrs, raw = http("GET", url(cluster, victim, "/v1/chunk/" + cid, version=ver,
                                        offset=BLOCK, length=BLOCK, token=tok(cluster, cid, ver, "r"),
                                        verify="client"))
        assert st == 200 and len(raw) == BLOCK
        assert int(hdrs["X-Bigfs-Crc32c"], 16) != crc32c(raw)

    # The application reads the right bytes, in one go, without an error.
    q = os.path.join(fresh_mount.path, name)
    assert sha256_file(q) == sha
    assert sha256_file(p) == sha
    os.unlink(p)
