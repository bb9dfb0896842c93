"""A worker's chunk clone (POST /v1/chunk/NEW/clone, the copy-on-write step
of snapshots): the clone reads back byte for byte, a retry is harmless,
forged tokens and wrong versions are refused, a damaged source is never
copied.  Tokens are signed here with the cluster secret exactly as
common/token.h says ("c" for the new chunk, "r" for the source)."""

import errno
import os
import struct
import time

import pytest

from conftest import http, json_of, make_token, read_locations


def url(cluster, i, path, **q):
    qs = "&".join("%s=%s" % (k, v) for k, v in q.items())
    return "http://%s%s%s" % (cluster.worker_addr(i), path, ("?" + qs) if qs else "")


def tok(cluster, chunk_id, version, op, ttl=300):
    return make_token(cluster.secret(), chunk_id, version, op, int(time.time()) + ttl)


def new_id():
    """A chunk id no master allocated (the master counts up from 1)."""
    return "7e55" + os.urandom(6).hex()


def chunk_file(cluster, i, cid):
    return os.path.join(cluster.worker_dirs[i], "chunks", cid[12:14], cid[14:16], cid)


def clone(cluster, i, new, nv, old, ov, token=None, from_token=None, **extra):
    q = dict(version=nv, **{"from": old}, from_version=ov,
             token=token if token is not None else tok(cluster, new, nv, "c"),
             from_token=from_token if from_token is not None else tok(cluster, old, ov, "r"))
    q.update(extra)
    return http("POST", url(cluster, i, "/v1/chunk/%s/clone" % new, **q))


def read_chunk(cluster, i, cid, ver, length):
    return http("GET", url(cluster, i, "/v1/chunk/" + cid, version=ver, offset=0, length=length,
                           token=tok(cluster, cid, ver, "r")))


def delete_chunk(cluster, i, cid):
    st, _, raw = http("DELETE", url(cluster, i, "/v1/chunk/" + cid, token=tok(cluster, cid, 0, "d")))
    assert st == 200, raw[:200]


def check_error(cluster, i, st, raw, want_errno, want_status):
    j = json_of(raw)
    assert st == want_status, (st, raw[:300])
    assert isinstance(j, dict) and j.get("errno") == want_errno, (j, errno.errorcode[want_errno])
    assert cluster.workers[i].alive(), "worker %d died" % i


@pytest.fixture(scope="module")
def source(cluster):
    """A chunk written through the mount: (worker index, chunk id, version, data)."""
    p = os.path.join(cluster.mounts[0].path, "w755")
    data = os.urandom(3 * (1 << 20) + 12345)      # several 1 MiB copy pieces, a partial block
    with open(p, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    (idx, cid, ver, reps), = read_locations(p)
    yield cluster.worker_index(reps[0]), cid, ver, data
    os.unlink(p)


def test_755a_clone_reads_back(cluster, source):
    i, cid, ver, data = source
    new = new_id()
    st, _, raw = clone(cluster, i, new, 3, cid, ver)
    assert st == 200, raw[:300]
    assert json_of(raw) == {"length": len(data)}
    try:
        st, _, got = read_chunk(cluster, i, new, 3, len(data))
        assert st == 200 and got == data
        # the source is untouched and still served at its version
        st, _, got = read_chunk(cluster, i, cid, ver, len(data))
        assert st == 200 and got == data
        st, _, raw = http("GET", url(cluster, i, "/v1/chunk/%s/info" % new, version=3,
                                     token=tok(cluster, new, 3, "r")))
        assert st == 200 and json_of(raw) == {"chunk_id": new, "version": 3, "length": len(data)}
        st, _, raw = http("GET", url(cluster, i, "/v1/chunks", token=tok(cluster, 0, 0, "l")))
        assert st == 200
        assert {"chunk_id": new, "version": 3, "length": len(data)} in json_of(raw)["chunks"]
        # a header of its own on disk: magic, the new id and version, the
        # source's length and block CRCs
        with open(chunk_file(cluster, i, new), "rb") as f:
            hn = f.read(8192)
        with open(chunk_file(cluster, i, cid), "rb") as f:
            ho = f.read(8192)
        assert hn[:8] == b"BIGFSCK1"
        nid, nver, nlen = struct.unpack_from("<QII", hn, 8)
        assert (nid, nver, nlen) == (int(new, 16), 3, len(data))
        assert hn[32:32 + 4096] == ho[32:32 + 4096]
        assert os.path.getsize(chunk_file(cluster, i, new)) == 8192 + len(data)

        # a retry (the master did not hear the first answer) is a no-op success
        ino = os.stat(chunk_file(cluster, i, new)).st_ino
        st, _, raw = clone(cluster, i, new, 3, cid, ver)
        assert st == 200 and json_of(raw) == {"length": len(data)}
        assert os.stat(chunk_file(cluster, i, new)).st_ino == ino

        # the clone is a chunk like any other: written at a new version, the
        # source stays as it was (copy-on-write)
        st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + new, version=4, offset=100,
                                     token=tok(cluster, new, 4, "w")), b"CHANGED",
                          headers={"Content-Type": "application/octet-stream"})
        assert st == 200, raw[:200]
        st, _, got = read_chunk(cluster, i, new, 4, len(data))
        assert got == data[:100] + b"CHANGED" + data[107:]
        st, _, got = read_chunk(cluster, i, cid, ver, len(data))
        assert got == data
        # ... and a clone at an older version than what NEW holds now is refused
        st, _, raw = clone(cluster, i, new, 3, cid, ver)
        check_error(cluster, i, st, raw, errno.ESTALE, 409)
    finally:
        delete_chunk(cluster, i, new)
    assert not os.path.exists(chunk_file(cluster, i, new))


def test_755b_forged_tokens_are_403(cluster, source):
    i, cid, ver, data = source
    new = new_id()
    secret = cluster.secret()
    now = int(time.time())
    good_c = make_token(secret, new, 1, "c", now + 300)
    good_r = make_token(secret, cid, ver, "r", now + 300)
    bad_new = [
        make_token(b"x" * len(secret), new, 1, "c", now + 300),   # another secret
        make_token(secret, new, 1, "w", now + 300),               # a write token
        make_token(secret, new, 2, "c", now + 300),               # another version
        make_token(secret, cid, ver, "c", now + 300),             # for the source
        make_token(secret, new, 1, "c", now - 5),                 # expired
        good_c[:-1] + ("0" if good_c[-1] != "0" else "1"),        # tampered
        "", "1.2",
    ]
    for t in bad_new:
        st, _, raw = clone(cluster, i, new, 1, cid, ver, token=t, from_token=good_r)
        check_error(cluster, i, st, raw, errno.EACCES, 403)
    bad_src = [
        make_token(b"x" * len(secret), cid, ver, "r", now + 300),
        make_token(secret, cid, ver, "c", now + 300),             # not a read token
        make_token(secret, cid, ver + 1, "r", now + 300),
        make_token(secret, new, 1, "r", now + 300),               # for the new chunk
        make_token(secret, cid, ver, "r", now - 5),
        "",
    ]
    for t in bad_src:
        st, _, raw = clone(cluster, i, new, 1, cid, ver, token=good_c, from_token=t)
        check_error(cluster, i, st, raw, errno.EACCES, 403)
    # no token at all
    st, _, raw = http("POST", url(cluster, i, "/v1/chunk/%s/clone" % new, version=1,
                                  **{"from": cid}, from_version=ver, from_token=good_r))
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    st, _, raw = http("POST", url(cluster, i, "/v1/chunk/%s/clone" % new, version=1,
                                  **{"from": cid}, from_version=ver, token=good_c))
    check_error(cluster, i, st, raw, errno.EACCES, 403)
    # nothing was created
    st, _, raw = read_chunk(cluster, i, new, 1, 10)
    check_error(cluster, i, st, raw, errno.ENOENT, 404)
    assert not os.path.exists(chunk_file(cluster, i, new))


def test_755c_wrong_version_absent_and_bad_input(cluster, source):
    i, cid, ver, data = source
    new = new_id()
    for ov in (ver + 1, ver - 1 if ver > 1 else ver + 7):
        st, _, raw = clone(cluster, i, new, 1, cid, ov)
        check_error(cluster, i, st, raw, errno.ESTALE, 409)
        assert b"is at version %d" % ver in raw
    st, _, raw = clone(cluster, i, new, 1, "7e55ffffffff0001", 1)
    check_error(cluster, i, st, raw, errno.ENOENT, 404)
    # a worker that does not hold the source says so
    others = [k for k in range(cluster.nworkers)
              if k != i and not os.path.exists(chunk_file(cluster, k, cid))]
    if others:
        st, _, raw = clone(cluster, others[0], new, 1, cid, ver)
        check_error(cluster, others[0], st, raw, errno.ENOENT, 404)
    t = tok(cluster, new, 1, "c")
    r = tok(cluster, cid, ver, "r")
    for q in [dict(version=1, token=t, from_version=ver, from_token=r),              # no from
              dict(version=1, token=t, **{"from": "xyz"}, from_version=ver, from_token=r),
              dict(version=1, token=t, **{"from": cid + "0"}, from_version=ver, from_token=r),
              dict(version=1, token=t, **{"from": cid}, from_token=r),              # no from_version
              dict(version=1, token=t, **{"from": cid}, from_version="-1", from_token=r),
              dict(version=1, token=t, **{"from": cid}, from_version=str(1 << 32),
                   from_token=r)]:
        st, _, raw = http("POST", url(cluster, i, "/v1/chunk/%s/clone" % new, **q))
        check_error(cluster, i, st, raw, errno.EINVAL, 400)
    # onto itself
    st, _, raw = clone(cluster, i, cid, ver, cid, ver)
    check_error(cluster, i, st, raw, errno.EINVAL, 400)
    assert not os.path.exists(chunk_file(cluster, i, new))
    # the source is fine after all that
    st, _, got = read_chunk(cluster, i, cid, ver, len(data))
    assert st == 200 and got == data


def test_755d_damaged_source_is_never_cloned(cluster):
    """A chunk of our own on one worker (the master never hears of it),
    damaged on disk: the clone is 500 EIO and leaves nothing."""
    i = 0
    src, new = new_id(), new_id()
    data = os.urandom(5 * 65536 + 99)
    st, _, raw = http("PUT", url(cluster, i, "/v1/chunk/" + src, version=2, offset=0,
                                 token=tok(cluster, src, 2, "w")), data,
                      headers={"Content-Type": "application/octet-stream"})
    assert st == 200, raw[:200]
    try:
        path = chunk_file(cluster, i, src)
        with open(path, "r+b") as f:        # one bit in the fourth block
            f.seek(8192 + 3 * 65536 + 10)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x10]))
        st, _, raw = clone(cluster, i, new, 1, src, 2)
        check_error(cluster, i, st, raw, errno.EIO, 500)
        st, _, raw = read_chunk(cluster, i, new, 1, 10)
        check_error(cluster, i, st, raw, errno.ENOENT, 404)
        d = os.path.dirname(chunk_file(cluster, i, new))
        assert not os.path.isdir(d) or not [n for n in os.listdir(d) if new in n]
        # repaired (the same bit back), it clones
        with open(path, "r+b") as f:
            f.seek(8192 + 3 * 65536 + 10)
            f.write(b)
        st, _, raw = clone(cluster, i, new, 1, src, 2)
        assert st == 200 and json_of(raw) == {"length": len(data)}
        st, _, got = read_chunk(cluster, i, new, 1, len(data))
        assert st == 200 and got == data
    finally:
        delete_chunk(cluster, i, src)
        delete_chunk(cluster, i, new)
