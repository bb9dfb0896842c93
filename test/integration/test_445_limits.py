"""Limits against hostile clients in common/http_server.c (docs/api.md,
"Transport: TLS and limits"), checked on a master started with small
bounds: --http-request-timeout 4 (a request's headers, then its body, must
arrive within 4 s), --http-per-ip-limit 16.

Only public routes are used (/v1/health, /v1/auth/login), so the checks
hold whatever the master's authentication answers."""

import json
import select
import socket
import time

import pytest

from conftest import Cluster, http, json_of, skip_reason

REQUEST_TIMEOUT_S = 4
PER_IP = 16


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    c = Cluster(tmp_path_factory.mktemp("limits"), nworkers=0,
                master_args=["--http-request-timeout", str(REQUEST_TIMEOUT_S),
                             "--http-per-ip-limit", str(PER_IP)])
    try:
        c.start_master()
        yield c
    finally:
        c.stop()


def host_port(c):
    h, p = c.master_addr.rsplit(":", 1)
    return h, int(p)


def healthy(c, timeout=5):
    st, _, body = http("GET", c.url + "/v1/health", timeout=timeout)
    return st == 200 and (json_of(body) or {}).get("ok") is True


def closed_within(sock, seconds):
    """True if the peer closes sock (EOF or reset) within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if r:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True


def test_slow_loris_is_cut_off(master):
    """Headers at one byte a second: the connection is shut down once the
    request is REQUEST_TIMEOUT_S old, and others are served meanwhile."""
    req = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    s = socket.create_connection(host_port(master), timeout=5)
    t0 = time.monotonic()
    sent = 0
    cut = False
    try:
        while sent < len(req) and time.monotonic() - t0 < REQUEST_TIMEOUT_S + 6:
            try:
                s.send(req[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            sent += 1
            if sent == 3:
                # a normal client meanwhile
                assert healthy(master)
            # one byte a second, paced by waiting for the close itself
            if closed_within(s, 1.0):
                cut = True
                break
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert cut, "a slow client kept its connection for %.1f s" % (time.monotonic() - t0)
    assert sent < len(req)
    assert REQUEST_TIMEOUT_S - 1 <= elapsed <= REQUEST_TIMEOUT_S + 3, elapsed
    assert healthy(master)


def test_per_ip_connection_limit(master):
    """PER_IP idle connections are kept; one more is closed at once; once
    they go, a normal call succeeds."""
    socks = []
    try:
        for _ in range(PER_IP):
            socks.append(socket.create_connection(host_port(master), timeout=5))
        extra = socket.create_connection(host_port(master), timeout=5)
        try:
            assert closed_within(extra, 2.0), "connection %d from one address was kept" % (
                PER_IP + 1)
        finally:
            extra.close()
        # the first ones are still open (none was closed instead)
        r, _, _ = select.select(socks[:1], [], [], 0)
        assert not r
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            if healthy(master, timeout=2):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the master stays unreachable after the burst"
        select.select([], [], [], 0.1)


def test_deeply_nested_json_is_refused_quickly(master):
    """100 KB of nested arrays: a 4xx at once (400 where the body is parsed,
    401 where authentication comes first), and the master stays up."""
    depth = 50000
    body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert len(body) > 100000
    t0 = time.monotonic()
    st, _, raw = http("POST", master.url + "/v1/auth/login", body,
                      {"Content-Type": "application/json"}, timeout=10)
    assert 400 <= st < 500, (st, raw[:200])
    assert time.monotonic() - t0 < 3
    assert healthy(master)
    # the same shape nested only a little is parsed as usual (a 4xx for
    # what it says, not for its shape)
    st, _, raw = http("POST", master.url + "/v1/auth/login", json.dumps({"a": [[1]]}),
                      timeout=10)
    assert 400 <= st < 500, (st, raw[:200])


def test_oversized_content_length_gets_413_without_the_body(master):
    s = socket.create_connection(host_port(master), timeout=5)
    try:
        s.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
        t0 = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data:
            r, _, _ = select.select([s], [], [], 5)
            assert r, "no answer without the body"
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 413"), data[:200]
        assert time.monotonic() - t0 < 3
    finally:
        s.close()
    assert healthy(master)
