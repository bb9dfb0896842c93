"""The master's change feed (POST /v1/events, master/inval_log.h) and the
mount's watcher of it (fuse/inval_watch.c): while the feed runs the kernel
keeps names and attributes 10 s (-o cache_ttl) instead of 1 s, and still
shows another client's change within milliseconds, because the master
pushes it and the mount tells its kernel to forget.

Each test is one the old behaviour (1 s kernel timeouts, no feed) fails,
and so does a feed that pushes nothing, pushes a mount its own changes,
or misses a master restart:
- a: no lookup or getattr for names and attributes stat'ed over 2.5 s;
- b: a change through mount A is seen by mount B within PROMPT (0.5 s),
  B having cached the old state just before (1 s timeouts: ~1 s);
- c: the same for changes made through the master's API (no mount);
- d: a mount's own changes are not pushed back to it;
- e: a master restart (a new log id) makes the mounts forget everything;
- f: the route's input checks and answers, through a signed API session.

a, b, c and f use the shared cluster (bigfs_pair: one folder through two
mounts); d and e a cluster of their own, both mounts with metrics, as e
kills the master."""

import errno
import os
import signal
import stat
import threading
import time

import pytest

from conftest import ApiSession, finish_cluster, http, json_of, wait_for
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import creates, delta, route_counts, settled_delta
from test_750_metrics import get, metered_pair, scrape

PROMPT = 0.5       # a pushed change shows within this (1 s timeouts: ~1 s)
DEADLINE = 3.0     # give up polling (a 10 s cache without push shows later)
NAMESPACE_CALLS = ("/v1/lookup", "/v1/getattr", "/v1/readdir")
TIMES = {}         # what each change took to show, printed at the end


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def exists(path):
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def seen_within(pred, what, limit=PROMPT, deadline=DEADLINE):
    """Poll pred() (an OSError counts as false) from now until it holds;
    the seconds that took, which must be under limit."""
    t0 = time.monotonic()
    while True:
        try:
            ok = pred()
        except OSError:
            ok = False
        took = time.monotonic() - t0
        if ok:
            TIMES[what] = took
            assert took < limit, "%s: seen after %.3f s, not within %.1f s" % (what, took, limit)
            return took
        assert took < deadline, "%s: not seen within %.0f s" % (what, deadline)
        time.sleep(0.005)


def calls(d_):
    return {k: v for k, v in d_.items() if k in NAMESPACE_CALLS}


def events_count(c):
    return route_counts(c).get(b"/v1/events", 0)


def stat_for(paths, secs):
    """Stat every path over and over for secs seconds."""
    t_end = time.monotonic() + secs
    n = 0
    while time.monotonic() < t_end:
        for p in paths:
            os.stat(p)
        n += 1
        time.sleep(0.02)
    return n


@pytest.fixture(scope="module")
def feeds(cluster, request):
    """The shared cluster's two mounts with their feeds answering. A second
    mount started here polls twice at once (where the log stands, then the
    first long poll, sent once the first answer made it live)."""
    fresh = not any(m.path.endswith("mnt2") for m in cluster.mounts[1:])
    c0 = events_count(cluster)
    second = request.getfixturevalue("second_mount")
    if fresh:
        wait_for(lambda: events_count(cluster) >= c0 + 2, 10, "the new mount's change feed")
    yield cluster.mounts[0].path, second
    print("\ntest_235 seen after (s): " +
          ", ".join("%s %.3f" % (k, v) for k, v in sorted(TIMES.items(), key=lambda kv: kv[1])))


# ---- a: long caching ---------------------------------------------------------

def test_235a_stat_costs_no_call_for_seconds(cluster, feeds, bigfs_pair):
    """Mount B stats a file and a folder made through A, then again and
    again for 2.5 s: nothing reaches the master (with 1 s timeouts the
    kernel asks again every second: two lookups of each name)."""
    d1, d2 = bigfs_pair
    write(os.path.join(d1, "f"), b"cached")
    os.mkdir(os.path.join(d1, "sub"))
    paths = [os.path.join(d2, "f"), os.path.join(d2, "sub"), d2]
    # open, so that a drop_caches (another test's, a benchmark's on this
    # machine) cannot take B's kernel's names away
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    # B is being told of A's changes meanwhile (the folder's attributes,
    # in one batch or more): an answer to a call that saw news arrive is
    # kept 1 s only (it may be older than the news), the next one 10 s
    stat_for(paths, 1.1)
    t0 = time.monotonic()
    before = route_counts(cluster)
    n = stat_for(paths, 2.5)
    d_ = calls(delta(before, route_counts(cluster)))
    assert time.monotonic() - t0 >= 2.5 and n > 20
    # at most one: the root's own attributes (kept 10 s since whenever B
    # last asked for them) may run out meanwhile
    assert sum(d_.values()) <= 1, d_
    assert os.stat(paths[0]).st_size == 6 and os.path.isdir(paths[1])
    for fd in fds:
        os.close(fd)


# ---- b: others' changes, pushed ----------------------------------------------

def test_235b_attribute_changes_show_at_once(feeds, bigfs_pair):
    """chmod, chown, utime and truncate of a file, chmod of a folder, each
    through A while B has the old attributes cached."""
    d1, d2 = bigfs_pair
    f1, f2 = os.path.join(d1, "f"), os.path.join(d2, "f")
    write(f1, b"attributes")
    os.chmod(f1, 0o644)
    os.mkdir(os.path.join(d1, "sub"), 0o755)
    seen_within(lambda: mode(f2) == 0o644, "new file", limit=DEADLINE)

    assert mode(f2) == 0o644                 # B has it now
    os.chmod(f1, 0o600)
    seen_within(lambda: mode(f2) == 0o600, "chmod")

    assert os.stat(f2).st_uid == 0
    os.chown(f1, 4321, -1)
    seen_within(lambda: os.stat(f2).st_uid == 4321, "chown")

    assert os.stat(f2).st_mtime_ns != 1_500_000_000_123_456_789
    os.utime(f1, ns=(1_400_000_000_000_000_000, 1_500_000_000_123_456_789))
    seen_within(lambda: os.stat(f2).st_mtime_ns == 1_500_000_000_123_456_789, "utime")
    assert os.stat(f2).st_atime_ns == 1_400_000_000_000_000_000

    assert os.stat(f2).st_size == 10
    os.truncate(f1, 3)
    seen_within(lambda: os.stat(f2).st_size == 3, "truncate")
    assert read(f2) == b"att"

    s2 = os.path.join(d2, "sub")
    assert mode(s2) == 0o755
    os.chmod(os.path.join(d1, "sub"), 0o700)
    seen_within(lambda: mode(s2) == 0o700, "chmod folder")


def test_235b_folder_attributes_after_a_listing(feeds, bigfs_pair):
    """B lists a folder: the reply carried the folder's own attributes, and
    B's mount answers the stat that follows itself. A changes the folder
    (chmod, a new name in it) right after: B sees it at once, not when
    what its listing said would have run out (1 s)."""
    d1, d2 = bigfs_pair
    os.mkdir(os.path.join(d1, "sub"), 0o755)
    s1, s2 = os.path.join(d1, "sub"), os.path.join(d2, "sub")
    seen_within(lambda: os.path.isdir(s2), "new folder", limit=DEADLINE)
    for mode_, name in ((0o700, "a"), (0o750, "b"), (0o705, "c")):
        os.listdir(s2)
        assert mode(s2) != mode_
        os.chmod(s1, mode_)
        seen_within(lambda: mode(s2) == mode_, "chmod folder after a listing")
        n = os.stat(s2).st_nlink
        os.listdir(s2)
        os.mkdir(os.path.join(s1, name))
        seen_within(lambda: os.stat(s2).st_nlink == n + 1, "mkdir in a listed folder")


def test_235b_name_changes_show_at_once(feeds, bigfs_pair):
    """unlink, rename away, rename over a name B has read, rmdir, mkdir:
    B's cached names and its folder's link count follow within PROMPT."""
    d1, d2 = bigfs_pair
    for n in ("gone", "moved", "old", "new"):
        write(os.path.join(d1, n), n.encode())
    os.mkdir(os.path.join(d1, "emptydir"))
    os.mkdir(os.path.join(d1, "other"))
    seen_within(lambda: sorted(os.listdir(d2)) == ["emptydir", "gone", "moved", "new", "old",
                                                   "other"], "names made", limit=DEADLINE)
    j = os.path.join

    assert read(j(d2, "gone")) == b"gone"
    os.unlink(j(d1, "gone"))
    seen_within(lambda: not exists(j(d2, "gone")), "unlink")

    assert os.stat(j(d2, "moved")).st_size == 5
    os.rename(j(d1, "moved"), j(d1, "other", "moved2"))
    seen_within(lambda: not exists(j(d2, "moved")), "rename away")
    assert read(j(d2, "other", "moved2")) == b"moved"

    new_ino = os.stat(j(d1, "new")).st_ino
    assert read(j(d2, "old")) == b"old" and os.stat(j(d2, "new")).st_ino == new_ino
    os.rename(j(d1, "new"), j(d1, "old"))
    seen_within(lambda: os.stat(j(d2, "old")).st_ino == new_ino, "rename over")
    assert read(j(d2, "old")) == b"new"
    seen_within(lambda: not exists(j(d2, "new")), "rename over: source name gone")

    nlink = os.stat(d2).st_nlink
    assert nlink == 4 and os.path.isdir(j(d2, "emptydir"))
    os.rmdir(j(d1, "emptydir"))
    seen_within(lambda: not exists(j(d2, "emptydir")) and os.stat(d2).st_nlink == 3, "rmdir")

    assert not exists(j(d2, "made")) and os.stat(d2).st_nlink == 3
    os.mkdir(j(d1, "made"))
    # a new name was never cached as absent; the folder's count was
    seen_within(lambda: os.path.isdir(j(d2, "made")) and os.stat(d2).st_nlink == 4, "mkdir")
    assert sorted(os.listdir(d2)) == ["made", "old", "other"]


def test_235b_write_that_grows_shows_at_once(feeds, bigfs_pair):
    """A writes more to a file and closes it: B's stat has the new size and
    B's next full read the new bytes."""
    d1, d2 = bigfs_pair
    f1, f2 = os.path.join(d1, "f"), os.path.join(d2, "f")
    first = os.urandom(10000)
    write(f1, first)
    seen_within(lambda: read(f2) == first, "new file's data", limit=DEADLINE)
    more = os.urandom(300000)
    for rnd in range(2):
        st = os.stat(f2)
        assert st.st_size == len(first)
        with open(f1, "ab") as f:
            f.write(more)
        seen_within(lambda: os.stat(f2).st_size == len(first) + len(more), "write grows %d" % rnd)
        assert read(f2) == first + more
        seen_within(lambda: os.stat(f2).st_mtime_ns == os.stat(f1).st_mtime_ns,
                    "write grows %d: mtime" % rnd)
        first += more


def test_235b_names_not_utf8_show_at_once(feeds, bigfs_pair):
    """Names that are not UTF-8 (any bytes but NUL and '/'): B has them
    cached; A unlinks one and renames a file over the other. B's cache
    follows within PROMPT, and the feed goes on for the changes after them
    (a name the master could not put in a JSON string made every mount's
    feed fail from there on, the kernels kept what they had)."""
    d1, d2 = (os.fsencode(d) for d in bigfs_pair)
    j = os.path.join
    for n in (b"caf\xe9", b"\xff\xfe-old", b"src", b"plain"):
        write(j(d1, n), n)
    seen_within(lambda: sorted(os.listdir(d2)) == sorted([b"caf\xe9", b"\xff\xfe-old", b"src",
                                                          b"plain"]),
                "names made", limit=DEADLINE)
    assert read(j(d2, b"caf\xe9")) == b"caf\xe9" and mode(j(d2, b"plain")) == 0o644

    os.unlink(j(d1, b"caf\xe9"))
    seen_within(lambda: not exists(j(d2, b"caf\xe9")), "unlink of a name not UTF-8")

    src_ino = os.stat(j(d1, b"src")).st_ino
    assert read(j(d2, b"\xff\xfe-old")) == b"\xff\xfe-old"
    os.rename(j(d1, b"src"), j(d1, b"\xff\xfe-old"))
    seen_within(lambda: os.stat(j(d2, b"\xff\xfe-old")).st_ino == src_ino,
                "rename over a name not UTF-8")
    assert read(j(d2, b"\xff\xfe-old")) == b"src"

    os.chmod(j(d1, b"plain"), 0o600)
    seen_within(lambda: mode(j(d2, b"plain")) == 0o600, "chmod after names not UTF-8")


def test_235b_hard_links_show_at_once(feeds, bigfs_pair):
    d1, d2 = bigfs_pair
    f1, f2 = os.path.join(d1, "f"), os.path.join(d2, "f")
    write(f1, b"linked")
    seen_within(lambda: os.stat(f2).st_nlink == 1, "new file", limit=DEADLINE)
    for i in range(2):
        assert os.stat(f2).st_nlink == 1
        os.link(f1, os.path.join(d1, "l%d" % i))
        seen_within(lambda: os.stat(f2).st_nlink == 2, "link %d" % i)
        assert read(os.path.join(d2, "l%d" % i)) == b"linked"
        os.unlink(os.path.join(d1, "l%d" % i))
        # (B's own getattr may show the count before the news of the
        # name arrives: B's read made its kernel ask for the atime again)
        seen_within(lambda: os.stat(f2).st_nlink == 1, "unlink of a link %d" % i)
        seen_within(lambda: not exists(os.path.join(d2, "l%d" % i)), "link %d gone" % i)


# ---- c: changes made through the master's API ----------------------------------

def test_235c_operator_changes_show_on_both_mounts(cluster, feeds, bigfs_pair):
    """A setattr and an unlink through a signed API session, a snapshot
    signed with the cluster secret (as `bigfs snapshot` makes it): both
    mounts, each with the old state cached, follow within PROMPT."""
    d1, d2 = bigfs_pair
    j = os.path.join
    write(j(d1, "f"), b"operator")
    write(j(d1, "doomed"), b"doomed")
    os.mkdir(j(d1, "tree"))
    write(j(d1, "tree", "leaf"), b"leaf")
    os.chmod(j(d1, "f"), 0o644)
    dino, fino = os.stat(d1).st_ino, os.stat(j(d1, "f")).st_ino
    assert int(os.getxattr(j(d1, "f"), "bigfs.ino")) == fino
    seen_within(lambda: mode(j(d2, "f")) == 0o644 and exists(j(d2, "doomed"))
                and os.stat(d2).st_nlink == 3, "made", limit=DEADLINE)

    for d in (d1, d2):
        assert mode(j(d, "f")) == 0o644
    st, body, raw = cluster.api("POST", "/v1/setattr", {"ino": fino, "mode": 0o600})
    assert st == 200, raw
    for d, who in ((d1, "A"), (d2, "B")):
        seen_within(lambda: mode(j(d, "f")) == 0o600, "API setattr on " + who)

    for d in (d1, d2):
        assert read(j(d, "doomed")) == b"doomed"
    st, body, raw = cluster.api("POST", "/v1/unlink", {"parent": dino, "name": "doomed"})
    assert st == 200, raw
    for d, who in ((d1, "A"), (d2, "B")):
        seen_within(lambda: not exists(j(d, "doomed")), "API unlink on " + who)

    for d in (d1, d2):
        assert os.stat(d).st_nlink == 3
    st, _, raw = cluster.cluster_http("POST", "/v1/snapshot", {
        "src_ino": os.stat(j(d1, "tree")).st_ino, "dst_parent": dino, "dst_name": "tree.snap"})
    assert st == 200, raw
    for d, who in ((d1, "A"), (d2, "B")):
        seen_within(lambda: os.stat(d).st_nlink == 4, "snapshot: folder's count on " + who)
        assert read(j(d, "tree.snap", "leaf")) == b"leaf"


# ---- f: the route ------------------------------------------------------------

def events(sess, body, timeout=40):
    """One /v1/events call: (status, JSON, seconds taken)."""
    t0 = time.monotonic()
    st, _, raw = sess.call("POST", "/v1/events", body, timeout=timeout)
    return st, json_of(raw), time.monotonic() - t0


def collect(sess, log, since, want, wait_ms=2000, deadline=10.0):
    """Poll from since until want(entries, inodes) holds for what came:
    (entries, inodes, last, seconds)."""
    got_e, got_i = [], []
    t0 = time.monotonic()
    while not want(got_e, got_i):
        assert time.monotonic() - t0 < deadline, (since, got_e, got_i)
        st, j, _ = events(sess, {"log": log, "since": since, "wait_ms": wait_ms})
        assert st == 200 and j["log"] == log and j["reset"] is False, j
        got_e += j["e"]
        got_i += j["i"]
        since = j["last"]
    return got_e, got_i, since, time.monotonic() - t0


def test_235f_events_route_checks_its_input(cluster):
    sess = cluster.api_session()
    st, j, took = events(sess, {})
    assert st == 200, j
    assert set(j) == {"log", "last", "reset", "e", "i"}, j
    assert isinstance(j["log"], str) and j["log"] and isinstance(j["last"], int)
    assert j["reset"] is False and j["e"] == [] and j["i"] == []
    log = j["log"]
    bad = [({"since": "x"}, "since"), ({"since": -1}, "since"), ({"since": 1.5}, "since"),
           ({"wait_ms": -1}, "wait_ms"), ({"wait_ms": 10**9}, "wait_ms"),
           ({"wait_ms": 30001}, "wait_ms"), ({"wait_ms": "100"}, "wait_ms"),
           ({"log": 5}, "log"), ({"log": None}, "log"), ({"log": ["x"]}, "log"),
           ({"log": log, "since": "1", "wait_ms": 100}, "since"),
           ({"wake": "yes"}, "wake")]
    for body, member in bad:
        st, j, took = events(sess, body)
        assert st == 400, (body, st, j)
        assert j["errno"] == errno.EINVAL and "'%s'" % member in j["message"], (body, j)
        assert took < 1.0, (body, took)
    for raw in (b"{not json", b"[]", b"5"):
        st, _, _ = sess.call("POST", "/v1/events", raw)
        assert st == 400, (raw, st)
    # no session: 401; a cluster signature is no session either
    st, _, raw = http("POST", cluster.url + "/v1/events", {"wait_ms": 0})
    assert st == 401, raw
    st, _, raw = cluster.cluster_http("POST", "/v1/events", {"wait_ms": 0})
    assert st == 401, raw
    # without "since" it answers at once, whatever the wait; the log's id
    # is the master's, the same on every call
    st, j, took = events(sess, {"wait_ms": 5000})
    assert st == 200 and j["log"] == log and j["reset"] is False, j
    assert took < 1.0, took


def test_235f_events_route_waits_resets_and_filters(cluster, feeds, bigfs_pair):
    d1, d2 = bigfs_pair
    p1 = os.path.join(d1, "f")
    write(p1, b"x")
    ino = os.stat(p1).st_ino
    sess = cluster.api_session()
    st, j, took = events(sess, {})
    assert st == 200, j
    log, last = j["log"], j["last"]
    assert last > 0, j              # the mount's create and write were changes

    # nothing happening: a wait of 200 ms answers after 200 ms, empty (a
    # background change of the shared cluster may come first: try again)
    for attempt in range(3):
        st, j, took = events(sess, {"log": log, "since": last, "wait_ms": 200})
        assert st == 200 and j["log"] == log and j["reset"] is False, j
        if j["e"] == [] and j["i"] == []:
            break
        last = j["last"]
    else:
        pytest.fail("events kept coming for 3 waits of 200 ms: %r" % j)
    assert j["last"] == last and 0.18 <= took < 0.8, (j, took)

    # another log's numbers, or numbers from the future: a reset, at once
    for body in ({"log": "0123456789abcdef", "since": last, "wait_ms": 5000},
                 {"log": log, "since": last + 1000, "wait_ms": 5000}):
        st, j, took = events(sess, body)
        assert st == 200 and j["reset"] is True and j["log"] == log, (body, j)
        assert j["last"] >= last and j["e"] == [] and j["i"] == [] and took < 1.0, (body, j, took)

    # a change of this same session is not given back to it, nor does it
    # end the wait (but `last` moves past it)
    for attempt in range(3):
        st, _, raw = sess.call("POST", "/v1/setattr", {"ino": ino, "mode": 0o640 + attempt})
        assert st == 200, raw
        st, j, took = events(sess, {"log": log, "since": last, "wait_ms": 300})
        assert st == 200 and j["reset"] is False, j
        assert ino not in j["i"] and j["last"] > last, (ino, last, j)
        last = j["last"]
        if j["e"] == [] and j["i"] == []:     # else a background change
            break
    else:
        pytest.fail("events kept coming for 3 waits of 300 ms: %r" % j)
    assert took >= 0.25, "own change ended the wait: %r" % j
    seen_within(lambda: mode(os.path.join(d2, "f")) == 0o640 + attempt,
                "own-session setattr on B")
    # a mount's change is, both an inode and an entry, within milliseconds
    os.chmod(p1, 0o600)
    got_e, got_i, last, took = collect(sess, log, last, lambda e, i: ino in i)
    assert took < 1.0, took
    dino = os.stat(d1).st_ino
    os.unlink(p1)
    got_e, got_i, last, took = collect(sess, log, last,
                                       lambda e, i: [dino, "f"] in e and dino in i)
    assert took < 1.0, took

    # the longest wait allowed is answered by the next change of a mount
    out = {}
    waiter = ApiSession(cluster.url, cluster.password)
    assert waiter.login()[0] == 200

    def poll():
        out["r"] = collect(waiter, log, last, lambda e, i: dino in i, wait_ms=30000)
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)             # the poll is waiting by now
    t0 = time.monotonic()
    os.mkdir(os.path.join(d1, "wakes"))
    t.join(10)
    assert not t.is_alive(), "a 30 s poll was not answered by a change"
    got_e, got_i, _, _ = out["r"]
    assert [dino, "wakes"] not in got_e, got_e      # new names are not named
    assert time.monotonic() - t0 < 1.0

    # {"wake": true}: the caller's own poll ends at once, others' do not.
    # (The master's own background changes, as the read atimes it writes
    # a second late, go to everybody and end a poll too: then again.)
    other = ApiSession(cluster.url, cluster.password)
    assert other.login()[0] == 200
    for who, woken in ((sess, True), (other, False)):
        for attempt in range(3):
            st, j0, _ = events(sess, {})
            out = {}

            def poll2(s=who, since=j0["last"]):
                out["r"] = events(s, {"log": log, "since": since, "wait_ms": 1500})
            t = threading.Thread(target=poll2)
            t.start()
            time.sleep(0.3)         # the poll is waiting by now
            st, jw, _ = events(sess, {"wake": True})
            assert st == 200 and jw == {}, jw
            t.join(5)
            st, j, took = out["r"]
            assert st == 200, j
            if j["e"] == [] and j["i"] == []:
                break
        else:
            pytest.fail("background changes ended 3 polls: %r" % j)
        if woken:
            assert took < 1.0, "own wake did not end the poll: %.3f s" % took
        else:
            assert took >= 1.4, "another session's wake ended the poll: %.3f s" % took


def test_235f_events_only_for_the_whole_namespace(cluster, bigfs_pair):
    """A login to a subfolder gets EPERM (403): the feed's names would
    reach outside its subtree."""
    d1, _ = bigfs_pair
    sub = ApiSession(cluster.url, cluster.password,
                     path="/" + os.path.relpath(d1, cluster.mounts[0].path))
    st, j, raw = sub.login()
    assert st == 200, raw
    for body in ({}, {"wait_ms": 100}, {"wake": True}):
        st, j, _ = events(sub, body)
        assert st == 403 and j["errno"] == errno.EPERM, (body, st, j)


# ---- d, e: a cluster of their own (e restarts its master) --------------------

@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    """Master, 2 workers, mounts A (mounts[0]) and B, both with metrics;
    returns (cluster, A's metrics address, B's)."""
    c, a, b = metered_pair(tmp_path_factory, "push235")
    try:
        # each mount polls twice at once (where the log stands; the first
        # long poll once live): 4 calls, and nothing else polls here
        wait_for(lambda: events_count(c) >= 4, 10, "both mounts' change feeds")
    except BaseException:
        finish_cluster(c)
        raise
    yield c, a, b
    finish_cluster(c)


def mount_counter(addr, name):
    return get(scrape(addr, "bigfs_mount_")[0], name)


def test_235d_own_changes_are_not_pushed_back(pc):
    """A makes a folder and 200 files in it and stats each over 1.5 s: its
    kernel keeps what A's own replies said (no lookup; with 1 s timeouts
    every name is asked again), and A's watcher is told nothing, while B's
    is told (of the folder's changed attributes)."""
    c, ma, mb = pc
    a = c.mounts[0].path
    d = os.path.join(a, "own")
    inv_a, inv_b = (mount_counter(x, "bigfs_mount_invalidations_total") for x in (ma, mb))
    before = route_counts(c)
    os.mkdir(d)
    names = [os.path.join(d, "f%03d" % i) for i in range(200)]
    # kept open while stat'ed: a drop_caches (another test's, a benchmark's
    # on this machine) cannot take the kernel's names away
    fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) for p in names]
    t_made = time.monotonic()
    made = settled_delta(c, before)   # creates answered here go in batches
    assert creates(made) == 200 and made.get("/v1/mkdir") == 1, made
    before = route_counts(c)
    passes = 0
    while passes < 2 or time.monotonic() - t_made < 1.5:
        for p in names:
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
        passes += 1
    d_ = calls(delta(before, route_counts(c)))
    for fd in fds:
        os.close(fd)
    assert d_.get("/v1/lookup", 0) == 0, d_
    # the folder's attributes (the kernel drops them at each create; the
    # mount answers them a second from its own replies, then asks once)
    # and the root's, which may run out: not one per file
    assert d_.get("/v1/getattr", 0) <= 2, d_
    assert sorted(os.listdir(d)) == sorted(os.path.basename(p) for p in names)
    # B is told (of the folder's attributes: new names are never named)
    wait_for(lambda: mount_counter(mb, "bigfs_mount_invalidations_total") > inv_b, 10,
             "B told of A's changes")
    assert mount_counter(ma, "bigfs_mount_invalidations_total") == inv_a


def test_235e_master_restart_resets_the_mounts(pc):
    """B has a file's attributes for 10 s; the master is killed and started
    again (a new log: what happened in between is unknown), then A changes
    the file. B's watcher sees the new log, makes the kernel forget what
    it kept long, and B shows the change within seconds."""
    c, ma, mb = pc
    a, b = (m.path for m in c.mounts)
    fa, fb = os.path.join(a, "restart-f"), os.path.join(b, "restart-f")
    write(fa, b"before")
    os.chmod(fa, 0o644)
    seen_within(lambda: mode(fb) == 0o644, "restart: new file", limit=DEADLINE)
    resets = mount_counter(mb, "bigfs_mount_inval_resets_total")
    st, j, _ = events(c.api_session(), {})
    log0 = j["log"]
    assert mode(fb) == 0o644
    t_cached = time.monotonic()
    c.stop_master(signal.SIGKILL)
    c.start_master()
    st, j, _ = events(c.api_session(), {})
    assert st == 200 and j["log"] != log0, j
    os.chmod(fa, 0o600)                  # A logs in again and retries
    since_cached = time.monotonic() - t_cached
    # B's kernel was told 10 s: a check of this is only a check within 10 s
    assert since_cached < 7, "the restart took %.1f s" % since_cached
    seen_within(lambda: mode(fb) == 0o600, "chmod after a master restart", limit=3.0,
                deadline=8.0)
    wait_for(lambda: mount_counter(mb, "bigfs_mount_inval_resets_total") > resets, 10,
             "B's watcher reset")
    # and the feed runs again: a change is pushed at once
    assert mode(fb) == 0o600
    os.chmod(fa, 0o640)
    seen_within(lambda: mode(fb) == 0o640, "chmod after the reset")
    c.wait_live(timeout=60)
