#!/usr/bin/python3
"""Smoke test of a running bigfs-worker, without the real master.

Starts a fake master (cluster info + register, in this process), an
embedded Kafka (kafka_mock_tail, built here with gcc) and two workers on
ephemeral ports; then drives the worker's HTTP data API with tokens signed
here, checks registration, Kafka status, re-registration after a "master
restart" (new broker port), replication between the two workers, the
delete list of a register reply, and a clean SIGTERM exit.

    /usr/bin/python3 test/unit/worker_smoke.py [build-dir]
"""

import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
WORKER = os.path.join(BUILD, "bigfs-worker")
MIB = 1 << 20


def make_token(secret, chunk_id, version, op, expiry=None):
    expiry = expiry or int(time.time()) + 300
    msg = ("%s:%d:%s:%d" % (chunk_id, version, op, expiry)).encode()
    return "%d.%s" % (expiry, hmac.new(secret, msg, hashlib.sha256).hexdigest())


def http(method, url, body=None, timeout=30):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)  # polling a condition with a deadline, not settling
    raise AssertionError("timed out waiting for " + what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class FakeMaster:
    def __init__(self, port):
        self.port = port
        self.info = {"cluster_id": "c1", "kafka_bootstrap": "", "status_topic":
                     "bigfs.worker-status", "status_interval_ms": 300}
        self.registers = []
        self.failed = []           # bodies of POST /v1/replica_failed
        self.delete_next = {}      # worker id -> chunk ids for its next register
        self.lock = threading.Lock()
        self.srv = None

    def start(self):
        fm = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, obj):
                b = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_GET(self):
                with fm.lock:
                    self.reply(dict(fm.info))

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                j = json.loads(self.rfile.read(n))
                if self.path == "/v1/replica_failed":
                    with fm.lock:
                        fm.failed.append(j)
                    self.reply({})
                    return
                with fm.lock:
                    fm.registers.append(j)
                    d = fm.delete_next.pop(j["worker_id"], [])
                self.reply({"delete": d})

        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def nregisters(self, wid=None):
        with self.lock:
            return len([r for r in self.registers if wid is None or r["worker_id"] == wid])

    def last_register(self, wid):
        with self.lock:
            return [r for r in self.registers if r["worker_id"] == wid][-1]


class Kafka:
    def __init__(self, tool, log):
        self.p = subprocess.Popen([tool], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        assert line[0] == "BOOTSTRAP", line
        self.bootstrap = line[1]
        self.msgs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            key, _, value = line.rstrip("\n").partition("\t")
            with self.lock:
                self.msgs.append((key, json.loads(value)))

    def count(self, key):
        with self.lock:
            return len([m for m in self.msgs if m[0] == key])

    def last(self, key):
        with self.lock:
            return [m[1] for m in self.msgs if m[0] == key][-1]

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


class Worker:
    def __init__(self, base, name, master_port, secret_path, extra=()):
        self.dir = os.path.join(base, name)
        self.log = os.path.join(base, name + ".log")
        self.argv = [WORKER, "--master", "http://127.0.0.1:%d" % master_port, "--data",
                     self.dir, "--listen", "127.0.0.1:0", "--secret", secret_path,
                     "--log-level", "debug"] + list(extra)
        self.p = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        addr_file = os.path.join(self.dir, "worker.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        self.p = subprocess.Popen(self.argv, stderr=open(self.log, "ab"))

        def addr():
            assert self.p.poll() is None, "worker died: " + open(self.log).read()[-2000:]
            try:
                s = open(addr_file).read()
            except FileNotFoundError:
                return None
            return s.strip() if s.endswith("\n") else None

        self.addr = wait_for(addr, 20, "worker.addr")
        self.id = open(os.path.join(self.dir, "worker_id")).read().strip()
        return self

    def url(self, path, **q):
        qs = "&".join("%s=%s" % (k, v) for k, v in q.items())
        return "http://%s%s%s" % (self.addr, path, ("?" + qs) if qs else "")

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        return self.p.wait(20)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def raw_request(addr, head):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(head.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def main():
    base = tempfile.mkdtemp(prefix="worker_smoke.")
    tool = os.path.join(base, "kafka_mock_tail")
    subprocess.check_call(["gcc", "-O1", "-o", tool, os.path.join(HERE, "kafka_mock_tail.c"),
                           "-lrdkafka"])
    secret = os.urandom(32)
    secret_path = os.path.join(base, "secret")
    open(secret_path, "wb").write(secret)
    mport = free_port()
    master = FakeMaster(mport)
    kafka = Kafka(tool, None)
    master.info["kafka_bootstrap"] = kafka.bootstrap
    w1 = Worker(base, "w1", mport, secret_path)
    w2 = Worker(base, "w2", mport, secret_path)
    procs = []
    try:
        # The worker starts before the master and waits for it.
        w1.start()
        procs.append(w1)
        wait_for(lambda: "waiting for master at 127.0.0.1:%d" % mport in open(w1.log).read(),
                 10, "'waiting for master' in the log")
        check(w1.p.poll() is None, "worker keeps running without a master")
        master.start()
        wait_for(lambda: master.nregisters(w1.id) >= 1, 15, "register")
        reg = master.last_register(w1.id)
        check(reg["addr"] == w1.addr and reg["chunks"] == [] and reg["capacity"] > 0,
              "register: addr, empty chunk list, capacity")
        wait_for(lambda: kafka.count(w1.id) >= 2, 15, "status on Kafka")
        st = kafka.last(w1.id)
        check(set(st) == {"worker_id", "addr", "capacity", "used", "chunks", "inflight",
                          "bytes_in_per_s", "bytes_out_per_s", "version", "start_time_ms",
                          "seq", "ts_ms"} and st["worker_id"] == w1.id, "status fields")

        cid = "00000000000a0001"
        # health
        s, b = http("GET", w1.url("/v1/health"))
        check(s == 200 and json.loads(b) == {"ok": True, "worker_id": w1.id}, "health")
        # write, read back
        data = os.urandom(3 * MIB + 12345)
        s, b = http("PUT", w1.url("/v1/chunk/" + cid, version=1, offset=100,
                                  token=make_token(secret, cid, 1, "w")), data)
        check(s == 200 and json.loads(b) == {"length": 100 + len(data)}, "PUT")
        rt = make_token(secret, cid, 1, "r")
        s, b = http("GET", w1.url("/v1/chunk/" + cid, version=1, offset=0,
                                  length=len(data) + 1000, token=rt))
        check(s == 200 and b == b"\0" * 100 + data + b"\0" * 900, "GET round trip + zeros")
        s, b = http("GET", w1.url("/v1/chunk/%s/info" % cid, version=1, token=rt))
        check(s == 200 and json.loads(b) == {"chunk_id": cid, "version": 1,
                                              "length": 100 + len(data)}, "info")
        # tokens
        for t in ["", "abc", make_token(b"x" * 32, cid, 1, "r"), make_token(secret, cid, 1, "w"),
                  make_token(secret, cid, 1, "r", int(time.time()) - 1)]:
            s, b = http("GET", w1.url("/v1/chunk/" + cid, version=1, offset=0, length=1, token=t))
            check(s == 403 and json.loads(b)["errno"] == 13, "bad token %r -> 403" % t[:20])
        s, b = http("GET", w1.url("/v1/chunk/" + cid, version=1, offset=0, length=1))
        check(s == 403, "missing token -> 403")
        # missing chunk, stale version
        other = "00000000000b0001"
        s, b = http("GET", w1.url("/v1/chunk/" + other, version=1, offset=0, length=1,
                                  token=make_token(secret, other, 1, "r")))
        check(s == 404 and json.loads(b)["errno"] == 2, "missing chunk -> 404")
        s, b = http("GET", w1.url("/v1/chunk/" + cid, version=2, offset=0, length=1,
                                  token=make_token(secret, cid, 2, "r")))
        check(s == 409 and json.loads(b)["errno"] == 116, "other version -> 409 ESTALE")
        # bad offsets
        for q in [dict(offset=64 * MIB, length=1), dict(offset=-1, length=1),
                  dict(offset=0, length=64 * MIB + 1), dict(offset="x", length=1),
                  dict(offset=0)]:
            s, b = http("GET", w1.url("/v1/chunk/" + cid, version=1, token=rt, **q))
            check(s == 400 and json.loads(b)["errno"] == 22, "bad range %r -> 400" % q)
        s, b = http("PUT", w1.url("/v1/chunk/" + cid, version=1, offset=64 * MIB - 1,
                                  token=make_token(secret, cid, 1, "w")), b"ab")
        check(s == 400, "PUT past 64 MiB -> 400")
        for bad in ["zzzzzzzzzzzzzzzz", "123", "00000000000a00011"]:
            s, b = http("GET", w1.url("/v1/chunk/" + bad, version=1, offset=0, length=1, token=rt))
            check(s == 400, "bad chunk id %s -> 400" % bad)
        # a huge Content-Length is refused before any body is sent
        head = ("PUT /v1/chunk/%s?version=1&offset=0&token=%s HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 1000000000000\r\n\r\n" % (cid, make_token(secret, cid, 1, "w")))
        resp = raw_request(w1.addr, head)
        check(resp.startswith(b"HTTP/1.1 413"), "huge Content-Length -> 413")
        check(w1.p.poll() is None, "worker alive after bad input")
        # truncate, fsync
        wt2 = make_token(secret, cid, 2, "w")
        s, b = http("POST", w1.url("/v1/chunk/%s/truncate" % cid, version=2, length=1000,
                                   token=wt2))
        check(s == 200 and json.loads(b) == {"length": 1000}, "truncate at a newer version")
        s, b = http("POST", w1.url("/v1/chunk/%s/fsync" % cid, version=2, token=wt2))
        check(s == 200 and json.loads(b) == {}, "fsync")
        s, b = http("PUT", w1.url("/v1/chunk/" + cid, version=1, offset=0,
                                  token=make_token(secret, cid, 1, "w")), b"old")
        check(s == 409, "PUT at an older version -> 409")
        s, b = http("GET", w1.url("/v1/chunk/" + cid, version=2, offset=0, length=1000,
                                  token=make_token(secret, cid, 2, "r")))
        expect = (b"\0" * 100 + data)[:1000]
        check(s == 200 and b == expect, "data after truncate")
        # list
        s, b = http("GET", w1.url("/v1/chunks", token=make_token(secret, "0" * 16, 0, "l")))
        check(s == 200 and json.loads(b) == {"chunks": [{"chunk_id": cid, "version": 2,
                                                          "length": 1000}]}, "list")

        # second worker; replicate from w1
        w2.start()
        procs.append(w2)
        wait_for(lambda: master.nregisters(w2.id) >= 1, 15, "w2 register")
        big = os.urandom(20 * MIB + 7)
        cid2 = "00000000000c0002"
        for off in range(0, len(big), 8 * MIB):
            s, b = http("PUT", w1.url("/v1/chunk/" + cid2, version=3, offset=off,
                                      token=make_token(secret, cid2, 3, "w")),
                        big[off:off + 8 * MIB])
            assert s == 200, b
        t0 = time.monotonic()
        s, b = http("POST", w2.url("/v1/chunk/%s/replicate" % cid2, version=3, source=w1.addr,
                                   source_token=make_token(secret, cid2, 3, "r"),
                                   token=make_token(secret, cid2, 3, "p")))
        check(s == 200 and json.loads(b) == {"length": len(big)},
              "replicate 20 MiB (%.2f s)" % (time.monotonic() - t0))
        s, b = http("GET", w2.url("/v1/chunk/" + cid2, version=3, offset=0, length=len(big),
                                  token=make_token(secret, cid2, 3, "r")))
        check(s == 200 and b == big, "replica reads back")
        s, b = http("POST", w2.url("/v1/chunk/%s/replicate" % cid2, version=2, source=w1.addr,
                                   source_token=make_token(secret, cid2, 2, "r"),
                                   token=make_token(secret, cid2, 2, "p")))
        check(s == 409, "replicate of a wrong version -> 409")
        s, b = http("POST", w2.url("/v1/chunk/%s/replicate" % cid2, version=3,
                                   source="127.0.0.1:1",
                                   source_token=make_token(secret, cid2, 3, "r"),
                                   token=make_token(secret, cid2, 3, "p")))
        check(s == 502 and json.loads(b)["errno"] == 111, "replicate from a dead source -> 502")
        s, b = http("POST", w2.url("/v1/chunk/%s/replicate" % cid2, version=3,
                                   source="x/../y:1", source_token="a",
                                   token=make_token(secret, cid2, 3, "p")))
        check(s == 400, "replicate from a bad source -> 400")

        # throughput through HTTP (8 MiB pieces)
        blob = os.urandom(8 * MIB)
        cid3 = "00000000000d0003"
        t0 = time.monotonic()
        for k in range(8):
            s, _ = http("PUT", w1.url("/v1/chunk/" + cid3, version=1, offset=(k % 8) * 8 * MIB,
                                      token=make_token(secret, cid3, 1, "w")), blob)
            assert s == 200
        t1 = time.monotonic()
        rt3 = make_token(secret, cid3, 1, "r")
        for k in range(8):
            s, b = http("GET", w1.url("/v1/chunk/" + cid3, version=1, offset=k * 8 * MIB,
                                      length=8 * MIB, token=rt3))
            assert s == 200 and len(b) == 8 * MIB
        t2 = time.monotonic()
        print("info - HTTP (python client): PUT %.0f MiB/s, GET %.0f MiB/s"
              % (64 / (t1 - t0), 64 / (t2 - t1)))

        # master restart: a new broker port, the worker follows and re-registers
        n_before = master.nregisters(w1.id)
        kafka.stop()
        kafka = Kafka(tool, None)
        with master.lock:
            master.info["kafka_bootstrap"] = kafka.bootstrap
        wait_for(lambda: master.nregisters(w1.id) > n_before, 20, "re-register after broker move")
        check(len(master.last_register(w1.id)["chunks"]) == 3, "re-register lists 3 chunks")
        wait_for(lambda: kafka.count(w1.id) >= 1, 20, "status on the new broker")
        check(True, "status flows to the new broker")

        # master down then up again (same info): re-register
        n_before = master.nregisters(w1.id)
        off = os.path.getsize(w1.log)
        master.stop()
        wait_for(lambda: "waiting for master" in open(w1.log).read()[off:],
                 15, "worker notices the master is gone")
        master2 = FakeMaster(mport)
        master2.info = dict(master.info)
        master2.delete_next = {w1.id: [cid]}
        master = master2
        master.start()
        wait_for(lambda: master.nregisters(w1.id) >= 1, 20, "re-register after master restart")
        check(True, "re-register after the master came back")
        wait_for(lambda: not os.path.exists(os.path.join(w1.dir, "chunks", "00", "01", cid)), 10,
                 "chunk in the delete list removed")
        check(True, "delete list applied")

        # delete
        s, b = http("DELETE", w1.url("/v1/chunk/" + cid2, token=make_token(secret, cid2, 0, "d")))
        check(s == 200, "DELETE")
        s, b = http("GET", w1.url("/v1/chunk/" + cid2, version=3, offset=0, length=1,
                                  token=make_token(secret, cid2, 3, "r")))
        check(s == 404, "deleted chunk is gone")

        # restart: same id, chunks found again
        check(w1.stop() == 0, "SIGTERM -> exit 0")
        check(not os.path.exists(os.path.join(w1.dir, "worker.addr")), "worker.addr removed")
        old_id = w1.id
        w1.start()
        check(w1.id == old_id, "worker id kept across restarts")
        wait_for(lambda: master.nregisters(w1.id) >= 2, 20, "register after restart")
        check([c["chunk_id"] for c in master.last_register(w1.id)["chunks"]] == [cid3],
              "restart reports the chunks on disk")
        # the data folder is locked
        p = subprocess.run(w1.argv, capture_output=True, text=True, timeout=20)
        check(p.returncode != 0 and "in use by another worker" in p.stderr,
              "second worker on the same folder refused")
        # damaged chunk file: EIO, not garbage
        path = os.path.join(w1.dir, "chunks", "00", "03", cid3)
        with open(path, "r+b") as f:
            f.seek(8192 + 70000)
            f.write(b"garbage")
        s, b = http("GET", w1.url("/v1/chunk/" + cid3, version=1, offset=65536, length=100,
                                  token=rt3))
        check(s == 500 and json.loads(b)["errno"] == 5, "damaged block -> 500 EIO")
        s, b = http("GET", w1.url("/v1/chunk/" + cid3, version=1, offset=0, length=65536,
                                  token=rt3))
        check(s == 200, "undamaged block still served")
        os.truncate(path, 100)
        s, b = http("GET", w1.url("/v1/chunk/" + cid3, version=1, offset=0, length=100,
                                  token=rt3))
        check(s == 500, "truncated chunk file -> 500")
        check(w1.p.poll() is None, "worker alive after damage")

        # the scrubber finds a damaged chunk by itself and tells the master
        w3 = Worker(base, "w3", mport, secret_path, ["--scrub-first-delay-s", "2"])
        w3.start()
        procs.append(w3)
        cid4 = "00000000000e0004"
        s, _ = http("PUT", w3.url("/v1/chunk/" + cid4, version=5, offset=0,
                                  token=make_token(secret, cid4, 5, "w")), os.urandom(200000))
        assert s == 200
        with open(os.path.join(w3.dir, "chunks", "00", "04", cid4), "r+b") as f:
            f.seek(8192 + 150000)
            f.write(b"rot")
        wait_for(lambda: any(x["chunk_id"] == cid4 for x in master.failed), 15,
                 "scrubber report")
        rep = [x for x in master.failed if x["chunk_id"] == cid4][0]
        check(rep == {"chunk_id": cid4, "version": 5, "worker_id": w3.id},
              "scrubber reports the damaged replica")
        print("PASS")
    finally:
        for w in procs:
            if w.p and w.p.poll() is None:
                w.p.kill()
                w.p.wait()
        kafka.stop()
        if master.srv:
            try:
                master.stop()
            except Exception:
                pass
        if os.environ.get("KEEP"):
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
