"""The master's web console (GET /) and what feeds it.

The console is one page the master serves: no build step, nothing fetched
from another host. Its script polls /v1/cluster/workers, /v1/health and
(when the master serves it) /v1/cluster/summary, keeps a few minutes of
each worker's throughput in the browser and draws it. These tests check
the page as served (no external resources, a server-rendered fallback
that shows every worker without JavaScript), the figures behind it
(bytes_in_per_s / bytes_out_per_s in /v1/cluster/workers, the new
/metrics lines next to the old ones), and then the page itself in a real
headless browser: test/browser/console_check.js drives Debian's chromium
through puppeteer-core, fails on any console error, uncaught exception or
failed request, finds every worker, and sees the throughput charts change
while this test writes through the mount. The screenshot it takes is kept
at $BIGFS_ARTIFACTS/console.png (default test-artifacts/console.png in the
repository) and its path printed.

Without node, chromium or test/browser/node_modules the browser test
fails in CI (BIGFS_NO_SKIP=1 or CI set; scripts/install-deps.sh installs
all three) and skips with the reason elsewhere.
"""

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPO, http, json_of, wait_for, write_random_file

BROWSER_DIR = os.path.join(REPO, "test", "browser")
CHECK_JS = os.path.join(BROWSER_DIR, "console_check.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DASH = "\u2014"

# Metric names that existed before the console: dashboards depend on them.
OLD_METRICS = [
    "bigfs_workers_live", "bigfs_workers_total", "bigfs_capacity_bytes", "bigfs_used_bytes",
    "bigfs_chunks_total", "bigfs_replicas_total", "bigfs_chunks_undergoal",
    "bigfs_chunks_lost", "bigfs_inodes_total", "bigfs_repairs_in_progress",
    "bigfs_repairs_done_total", "bigfs_repairs_failed_total", "bigfs_deletes_pending",
    "bigfs_deletes_done_total", "bigfs_status_messages_total", "bigfs_http_requests_total",
    "bigfs_worker_up", "bigfs_worker_chunks",
]


def artifacts_dir():
    return os.environ.get("BIGFS_ARTIFACTS") or os.path.join(REPO, "test-artifacts")


def get_text(cluster, path):
    st, hdrs, body = http("GET", cluster.url + path, timeout=10)
    return st, hdrs, body.decode("utf-8", "replace")


def worker_ids(cluster):
    return sorted(cluster.worker_id(i) for i in range(cluster.nworkers))


def summary_served(cluster):
    st, _, _ = http("GET", cluster.url + "/v1/cluster/summary", timeout=10)
    assert st in (200, 404), "GET /v1/cluster/summary: %s" % st
    return st == 200


def page_config(page):
    m = re.search(r'<script type="application/json" id="bigfs-config">(.*?)</script>', page, re.S)
    assert m, "the page carries no config object"
    return json.loads(m.group(1))


def metric_values(text, name):
    """{labels string: value} of every sample of metric `name`."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


# --------------------------------------------------------------------------
# the page as served, and its feeds


def test_731_page_is_self_contained(cluster):
    st, hdrs, page = get_text(cluster, "/")
    assert st == 200
    assert hdrs.get("Content-Type", "").startswith("text/html")
    # Nothing from another host: no src= at all, only local href=, no
    # absolute or protocol-relative URL anywhere, no CSS import.
    assert not re.search(r"\ssrc\s*=", page, re.I), "the page loads an external script or image"
    for href in re.findall(r'\shref\s*=\s*"([^"]*)"', page, re.I):
        assert href.startswith(("/", "#", "data:")), "href to another host: %r" % href
    assert not re.search(r"""["'(]\s*(https?:)?//""", page, re.I), "an absolute URL in the page"
    assert "@import" not in page
    # The script's feeds are the master's own routes.
    for route in ("/v1/cluster/workers", "/v1/health", "/v1/cluster/summary"):
        assert "'%s'" % route in page
    cfg = page_config(page)
    assert cfg["summary"] is summary_served(cluster), cfg
    assert 500 <= cfg["poll_ms"] <= 2000 and 120 <= cfg["window_s"] <= 300, cfg
    assert re.fullmatch(r"[0-9a-f-]+", cfg["cluster_id"]), cfg
    # Without JavaScript: the server-rendered tables name every worker.
    m = re.search(r'<noscript><div class="fallback">(.*?)</div></noscript>', page, re.S)
    assert m, "no server-rendered fallback"
    for wid in worker_ids(cluster):
        assert wid in m.group(1)
    assert m.group(1).count('class="live">live<') == cluster.nworkers


def test_732_workers_json_has_rates(cluster):
    st, _, raw = http("GET", cluster.url + "/v1/cluster/workers", timeout=10)
    assert st == 200
    ws = json_of(raw)["workers"]
    assert sorted(w["worker_id"] for w in ws) == worker_ids(cluster)
    for w in ws:
        for k in ("bytes_in_per_s", "bytes_out_per_s"):
            assert isinstance(w[k], int) and w[k] >= 0, w


def test_733_metrics_keep_old_names_and_add_new(cluster):
    st, _, text = get_text(cluster, "/metrics")
    assert st == 200
    for name in OLD_METRICS:
        assert re.search(r"^%s(\{| )" % name, text, re.M), "metric %s is gone" % name
    ids = worker_ids(cluster)
    for name in ("bigfs_worker_bytes_in_per_second", "bigfs_worker_bytes_out_per_second"):
        assert "# TYPE %s gauge" % name in text
        vals = metric_values(text, name)
        assert sorted(re.search(r'worker_id="([0-9a-f]+)"', k).group(1) for k in vals) == ids
        assert all(v >= 0 for v in vals.values())
    # Every worker joined once at least: the master published (and counted)
    # a worker_joined event for each.
    ev = metric_values(text, "bigfs_events_total")
    assert ev.get('{type="worker_joined"}', 0) >= cluster.nworkers, ev


# --------------------------------------------------------------------------
# the page in a real browser


def browser_tools():
    """(node path, None) or (None, why the browser test cannot run)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        return None, "node is not installed (apt-get install nodejs npm; scripts/install-deps.sh does)"
    if not os.access(CHROMIUM, os.X_OK):
        return None, ("no chromium at %s (apt-get install chromium; "
                      "scripts/install-deps.sh does)" % CHROMIUM)
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")):
        return None, ("puppeteer-core is not installed in test/browser: run "
                      "`npm ci --prefix test/browser` (scripts/install-deps.sh does)")
    return node, None


@pytest.fixture(scope="module")
def node():
    path, why = browser_tools()
    if why:
        if os.environ.get("BIGFS_NO_SKIP") == "1" or os.environ.get("CI"):
            pytest.fail("the console's browser test cannot run: " + why)
        pytest.skip(why)
    return path


class Checker:
    """console_check.js in a child process: JSON lines out, commands in."""

    def __init__(self, node_bin, args):
        self.proc = subprocess.Popen([node_bin, CHECK_JS] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=BROWSER_DIR)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()

    def _read(self, f, is_out):
        for line in f:
            if is_out:
                self.lines.put(line)
            else:
                self.stderr.append(line)
        if is_out:
            self.lines.put(None)

    def expect(self, event, timeout):
        """The next JSON line; fails unless it is `event` (a "done" line
        that comes first fails with its errors)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("console_check said nothing for %d s (waiting for %s); "
                                 "stderr:\n%s" % (timeout, event, "".join(self.stderr[-30:])))
        assert line is not None, ("console_check exited (%s) before %s; stderr:\n%s"
                                  % (self.proc.wait(), event, "".join(self.stderr[-30:])))
        msg = json.loads(line)
        if msg.get("event") != event:
            raise AssertionError("console_check: expected %s, got %s" % (event, json.dumps(msg, indent=1)))
        return msg

    def expect_any(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("console_check said nothing for %d s; stderr:\n%s"
                                 % (timeout, "".join(self.stderr[-30:])))
        assert line is not None, ("console_check exited (%s); stderr:\n%s"
                                  % (self.proc.wait(), "".join(self.stderr[-30:])))
        return json.loads(line)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Writer(threading.Thread):
    """Writes 16 MiB files through the mount (fsync), reads each back
    (the mount drops its cache at open, so the bytes come from the
    workers) and unlinks it, until stopped."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder
        self.stop_event = threading.Event()
        self.written = 0
        self.error = None

    def run(self):
        block = os.urandom(1 << 20)
        n = 0
        try:
            while not self.stop_event.is_set():
                p = os.path.join(self.folder, "load-%d" % n)
                with open(p, "wb") as f:
                    for _ in range(16):
                        f.write(block)
                        self.written += len(block)
                        if self.stop_event.is_set():
                            break
                    os.fsync(f.fileno())
                with open(p, "rb") as f:
                    while f.read(1 << 20):
                        if self.stop_event.is_set():
                            break
                os.unlink(p)
                n += 1
        except OSError as e:
            self.error = e


def test_734_console_in_a_browser(cluster, mnt, node):
    ids = worker_ids(cluster)
    # Something in each panel: a quota on this test's folder, a file in
    # the trash; the load itself writes in a folder without trash.
    folder = "/" + os.path.basename(mnt)
    st, _, raw = cluster.cluster_http("POST", "/v1/quota/set",
                                      {"path": folder, "bytes_hard": 256 << 20,
                                       "inodes_soft": 1000})
    assert st == 200, raw
    write_random_file(os.path.join(mnt, "kept.bin"), 64 << 20)
    os.setxattr(mnt, "bigfs.trashtime", b"3600")
    with open(os.path.join(mnt, "trashed.txt"), "w") as f:
        f.write("in the trash for the screenshot\n")
    os.unlink(os.path.join(mnt, "trashed.txt"))
    load_dir = os.path.join(mnt, "load")
    os.mkdir(load_dir)
    os.setxattr(load_dir, "bigfs.trashtime", b"0")
    shot = os.path.join(artifacts_dir(), "console.png")
    if os.path.exists(shot):
        os.unlink(shot)
    args = ["--url", cluster.url + "/", "--workers", ",".join(ids), "--screenshot", shot,
            "--chromium", CHROMIUM, "--timeout-s", "90", "--min-rate", str(256 * 1024)]
    if not summary_served(cluster):
        args.append("--expect-no-summary")
    chk = Checker(node, args)
    writer = Writer(load_dir)
    try:
        ready = chk.expect("ready", 120)
        assert sorted(ready["workers"]) == ids
        assert ready["role"] == "active"
        if "--expect-no-summary" not in args:
            # The panels show the master's summary (nothing changes the
            # cluster meanwhile: the load has not started).
            st, _, raw = http("GET", cluster.url + "/v1/cluster/summary", timeout=10)
            summ = json_of(raw)
            assert st == 200, raw
            num = lambda s: int(s.replace(",", ""))
            assert num(ready["panels"]["chunks"]) == summ["chunks"], (ready, summ)
            assert num(ready["panels"]["undergoal"]) == summ["chunks_undergoal"]
            assert num(ready["panels"]["lost"]) == summ["chunks_lost"]
            n = summ["trash"]["files"]
            assert ready["panels"]["trashFiles"] == "%s file%s" % (format(n, ","), "" if n == 1 else "s")
            assert ready["events"] == [e["type"] for e in summ["events"]][:50]
            assert "worker_joined" in ready["events"]
            assert ready["quotas"] == [q.get("path") or "inode %d" % q["ino"] for q in summ["quotas"]]
            assert folder in ready["quotas"]
            assert summ["trash"]["files"] >= 1
        writer.start()
        chk.send("load")
        changed = chk.expect("changed", 150)
        # The figures the page drew are the master's: some worker shows a
        # write rate in /v1/cluster/workers as well.
        wait_for(lambda: any(w["bytes_in_per_s"] > 0 for w in cluster.list_workers()), 30,
                 "a worker with bytes_in_per_s > 0 in /v1/cluster/workers",
                 [cluster.master.watch()])
        # A few more seconds of load, so the picture shows it, then none.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and writer.is_alive():
            writer.join(0.5)
        writer.stop_event.set()
        writer.join(60)
        chk.send("idle")
        fell = chk.expect("fell", 150)
        done = chk.expect("done", 120)
    finally:
        writer.stop_event.set()
        if writer.is_alive():
            writer.join(60)
        chk.stop()
        cluster.cluster_http("POST", "/v1/quota/remove", {"path": folder})
        st, _, raw = cluster.cluster_http("POST", "/v1/trash/list", {"path": folder})
        for e in (json_of(raw) or {}).get("entries", []):
            cluster.cluster_http("POST", "/v1/trash/purge", {"id": e["id"]})
    assert writer.error is None, writer.error
    assert done["ok"], "console_check found problems:\n" + "\n".join(done["errors"])
    assert set(changed["busy_workers"]) <= set(ids) and changed["busy_workers"]
    with open(shot, "rb") as f:
        head = f.read(8)
    assert head == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % shot
    assert os.path.getsize(shot) > 20000, "suspiciously small screenshot %s" % shot
    print("\nconsole screenshot: %s (%d bytes; the cluster took %.1f MiB/s at its peak; "
          "the charts rose %.1f s after the load started and fell %.1f s after it stopped)"
          % (shot, os.path.getsize(shot), changed["peak_in"] / 2**20, changed["after_ms"] / 1000,
             fell["after_ms"] / 1000))


class Proxy:
    """A proxy in front of the real master that serves its page changed by
    edit(page bytes), forwards the workers and health routes, and answers
    404 to everything else: by default a master without
    /v1/cluster/summary, as one from before it ("summary" false in the
    config object)."""

    def __init__(self, cluster, edit=None):
        upstream = cluster.url
        edit = edit or (lambda b: b.replace(b'"summary":true', b'"summary":false'))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path in ("/", "/v1/cluster/workers", "/v1/health"):
                    st, hdrs, body = http("GET", upstream + self.path, timeout=10)
                    if self.path == "/":
                        body = edit(body)
                    ctype = hdrs.get("Content-Type", "application/json")
                else:
                    st, ctype, body = 404, "application/json", b'{"errno": 2, "error": "ENOENT"}'
                self.send_response(st)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_checker_once(node, url, cluster, tmp_path):
    chk = Checker(node, ["--url", url, "--workers", ",".join(worker_ids(cluster)),
                         "--screenshot", str(tmp_path / "page.png"), "--chromium", CHROMIUM,
                         "--expect-no-summary", "--no-load"])
    try:
        line = chk.expect_any(120)
        ready = line if line["event"] == "ready" else None
        done = chk.expect("done", 60) if ready else line
    finally:
        chk.stop()
    return ready, done


def test_734b_console_without_summary(cluster, node, tmp_path):
    """The panels the summary feeds show a dash, and nothing else goes
    wrong, when the master has no summary route."""
    if not summary_served(cluster):
        pytest.skip("this master has no summary: test_734 covers it")
    old = Proxy(cluster)
    try:
        ready, done = run_checker_once(node, old.url + "/", cluster, tmp_path)
    finally:
        old.close()
    assert done["ok"], "console_check found problems:\n" + "\n".join(done["errors"])
    assert done["summaryState"] == "absent"
    assert ready["panels"]["chunks"] == DASH and ready["events"] == []


def test_734c_checker_sees_page_errors(cluster, node, tmp_path):
    """The browser check is not blind: a page that logs an error, throws,
    and asks for a route that fails is reported on all three counts."""
    def spoil(page):
        return page.replace(b"<script>\n", b"<script>\nconsole.error('planted error');"
                            b"window.setTimeout(function () { throw new Error('planted throw'); }, 10);"
                            b"fetch('/v1/no-such-route');\n", 1)
    bad = Proxy(cluster, spoil)
    try:
        _, done = run_checker_once(node, bad.url + "/", cluster, tmp_path)
    finally:
        bad.close()
    assert not done["ok"]
    errors = "\n".join(done["errors"])
    assert "planted error" in errors
    assert "planted throw" in errors
    assert "404" in errors and "/v1/no-such-route" in errors
