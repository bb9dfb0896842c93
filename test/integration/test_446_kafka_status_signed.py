"""Worker status on Kafka counts only when signed with the cluster secret
(docs/api.md "Authentication"): anyone who can reach the broker could
otherwise make the master believe a worker is live. Messages are produced
with kcat straight to the master's embedded broker."""

import hashlib
import hmac
import json
import re
import shutil
import subprocess
import time

import pytest

from conftest import finish_cluster, http, make_cluster, wait_for

FAKE = "00000000000000fe"


def metric(c, name):
    st, _, raw = http("GET", c.url + "/metrics", timeout=10)
    m = re.search(r"^%s (\d+)" % name, raw.decode(), re.M)
    return int(m.group(1)) if m else 0


def status(wid, seq, start=1):
    return json.dumps({"worker_id": wid, "addr": "127.0.0.1:9", "capacity": 1 << 40,
                       "used": 0, "chunks": 0, "inflight": 0, "bytes_in_per_s": 0,
                       "bytes_out_per_s": 0, "version": "x", "start_time_ms": start,
                       "seq": seq, "ts_ms": int(time.time() * 1000)})


def mac(secret, wid, value):
    return hmac.new(secret, b"bigfs-status\n" + wid.encode() + b"\n" + value.encode(),
                    hashlib.sha256).hexdigest()


def produce(c, wid, value, header=None):
    st, info, raw = c.api("GET", "/v1/cluster/info")
    assert st == 200, raw
    boot = info["kafka_bootstrap"].replace("PLAINTEXT://", "")
    argv = ["kcat", "-P", "-b", boot, "-t", info["status_topic"], "-k", wid]
    if header is not None:
        argv += ["-H", "bigfs-mac=" + header]
    subprocess.run(argv, input=value.encode(), check=True, timeout=30)


@pytest.fixture
def c(tmp_path_factory):
    if not shutil.which("kcat"):
        pytest.skip("needs kcat (scripts/install-deps.sh installs it)")
    cl = make_cluster(tmp_path_factory, "kafka-signed", nworkers=1)
    yield cl
    finish_cluster(cl)


def listed(c, wid):
    return any(w["worker_id"] == wid for w in c.list_workers())


def test_446_unsigned_forged_and_replayed_status_is_dropped(c):
    # the master consumes from the latest offset once it is attached:
    # produce only once it took a real worker's status (on a loaded
    # machine the attach came after kcat's messages, which it never saw)
    wait_for(lambda: metric(c, "bigfs_status_messages_total") > 0, 30,
             "the master to take a worker's status from Kafka", [c.master.watch()])
    bad0 = metric(c, "bigfs_status_messages_bad_total")
    secret = c.secret()
    # no header, a wrong MAC, a MAC made with another secret
    produce(c, FAKE, status(FAKE, 1))
    produce(c, FAKE, status(FAKE, 2), "0" * 64)
    produce(c, FAKE, status(FAKE, 3), mac(b"y" * 32, FAKE, status(FAKE, 3)))
    # a value signed for another key
    v = status(FAKE, 4)
    produce(c, FAKE, v, mac(secret, "00000000000000fd", v))
    wait_for(lambda: metric(c, "bigfs_status_messages_bad_total") >= bad0 + 4, 20,
             "the master to drop 4 forged status messages", [c.master.watch()])
    assert not listed(c, FAKE)
    # the real worker is still live: its own messages are signed
    c.wait_live()
    # a correctly signed message is taken (so the check is not refusing all)
    v = status(FAKE, 10, start=5)
    produce(c, FAKE, v, mac(secret, FAKE, v))
    wait_for(lambda: listed(c, FAKE), 20, "the signed status of the fake worker")
    # the same message again, and an older one: replays, dropped
    bad1 = metric(c, "bigfs_status_messages_bad_total")
    produce(c, FAKE, v, mac(secret, FAKE, v))
    old = status(FAKE, 9, start=5)
    produce(c, FAKE, old, mac(secret, FAKE, old))
    wait_for(lambda: metric(c, "bigfs_status_messages_bad_total") >= bad1 + 2, 20,
             "the master to drop 2 replayed status messages", [c.master.watch()])
    assert "not signed with the cluster secret or is a replay" in open(
        c.log_path("master")).read()
