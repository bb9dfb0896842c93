#!/usr/bin/env bash
# bench/drain.sh — how long a drain takes, and what clients keep meanwhile
# (issue 13).
#
# A local cluster of 4 workers, goal 2 (scripts/local-cluster); DATA_MB of
# files written through the mount (default 4096: some 2 GiB of replicas
# on each worker). Then, through the mount, a client loop: write a
# CLIENT_MB file (fsync), drop the page cache, read it back; again and
# again over the same file:
#   without  the loop alone for BASE_S seconds (default 60), before the
#            drain and again after it (the machine's load drifts);
#   during   the loop while the worker holding closest to 2 GiB drains, from
#            the drain call until the master says it is removable.
# Prints the drain's figures (chunks, bytes, time to done and to
# removable, MiB/s moved) and the client's MiB/s write, read and overall
# in both phases, and the ratios during/without.
# Env: DATA_MB, CLIENT_MB (default 256), BASE_S, TREE (default: this
# repository), BIGFS_BUILD (default TREE/build), OUT (default
# /tmp/bench-drain). Run as root (mount, drop_caches).
set -euo pipefail
TREE=${TREE:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TREE/bench/lib.sh"
export BIGFS_BUILD=${BIGFS_BUILD:-$TREE/build}
DATA_MB=${DATA_MB:-4096}
CLIENT_MB=${CLIENT_MB:-256}
BASE_S=${BASE_S:-60}
OUT=${OUT:-/tmp/bench-drain}
DIR=$OUT/c
PY=/usr/bin/python3
mkdir -p "$OUT"
LOG=$OUT/drain.$(date +%Y%m%d-%H%M%S).log

cluster_down "$TREE" "$DIR"; rm -rf "$DIR"; mkdir -p "$DIR"
(cd "$TREE" && timeout 180 scripts/local-cluster up --dir "$DIR" --mount "$DIR/mnt" \
	--workers 4 --goal 2 >"$DIR.up.log" 2>&1) || { tail -5 "$DIR.up.log" >&2; exit 1; }
trap 'cluster_down "$TREE" "$DIR"' EXIT
MASTER=$(sed -n 's/^MASTER=//p' "$DIR/cluster.env" | cut -d, -f1)
echo "cluster: $DIR, master $MASTER, build $BIGFS_BUILD, $(git -C "$TREE" rev-parse --short HEAD)" | tee "$LOG"

"$PY" - "$DIR/mnt" "$MASTER" "$DIR/master/secret" "$DATA_MB" "$CLIENT_MB" "$BASE_S" <<'EOF' | tee -a "$LOG"
import hashlib, hmac, json, os, sys, threading, time, urllib.request
mnt, master, secret_file, data_mb, client_mb, base_s = sys.argv[1:7]
data_mb, client_mb, base_s = int(data_mb), int(client_mb), float(base_s)
secret = open(secret_file, "rb").read()
MiB = 1 << 20
block = os.urandom(64 * MiB)

def call(method, path, body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    t, nonce = str(int(time.time())), os.urandom(16).hex()
    msg = "\n".join(["bigfs-cluster", method, path, t, nonce]).encode() + b"\n" + raw
    req = urllib.request.Request("http://%s%s" % (master, path), data=raw if body is not None else None,
                                 method=method, headers={
        "Authorization": "BigFS-Cluster %s %s %s" % (t, nonce, hmac.new(secret, msg, hashlib.sha256).hexdigest()),
        "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)

def workers():
    with urllib.request.urlopen("http://%s/v1/cluster/workers" % master, timeout=30) as r:
        return json.load(r)["workers"]

def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")

def write_file(path, mb):
    with open(path, "wb") as f:
        left = mb * MiB
        while left:
            n = min(left, len(block))
            f.write(memoryview(block)[:n])
            left -= n
        f.flush()
        os.fsync(f.fileno())

# 1. the data
os.makedirs(os.path.join(mnt, "data"), exist_ok=True)
t0 = time.monotonic()
per = 256
for i in range((data_mb + per - 1) // per):
    write_file(os.path.join(mnt, "data", "f%03d" % i), min(per, data_mb - i * per))
print("filled %d MiB in %.1f s" % (data_mb, time.monotonic() - t0), flush=True)
# the workers' status reports catch up with what was written
deadline = time.monotonic() + 60
while sum(w["used"] for w in workers()) < 2 * data_mb * MiB * 0.98 and time.monotonic() < deadline:
    time.sleep(0.5)
ws = workers()
for w in ws:
    print("worker %s used %.0f MiB, %d chunks" % (w["worker_id"], w["used"] / MiB, w["chunks"]), flush=True)

# 2. the client loop
class Loop(threading.Thread):
    def __init__(self, tag):
        super().__init__(daemon=True)
        self.tag, self.stop = tag, threading.Event()
        self.wbytes = self.rbytes = 0
        self.wtime = self.rtime = 0.0
        self.errors = []
    def run(self):
        d = os.path.join(mnt, "client-" + self.tag)
        os.makedirs(d, exist_ok=True)
        self.t0 = time.monotonic()
        # one file, rewritten: a truncate frees the old chunks at once
        # (an unlink would keep them in the trash)
        p = os.path.join(d, "x")
        while not self.stop.is_set():
            try:
                a = time.monotonic()
                write_file(p, client_mb)
                self.wtime += time.monotonic() - a
                self.wbytes += client_mb * MiB
                drop_caches()
                a = time.monotonic()
                with open(p, "rb", buffering=0) as f:
                    while True:
                        b = f.read(MiB)
                        if not b:
                            break
                        self.rbytes += len(b)
                self.rtime += time.monotonic() - a
            except OSError as e:
                self.errors.append(repr(e))
        self.t1 = time.monotonic()
    def figures(self):
        wall = self.t1 - self.t0
        return (self.wbytes / MiB / self.wtime if self.wtime else 0,
                self.rbytes / MiB / self.rtime if self.rtime else 0,
                (self.wbytes + self.rbytes) / MiB / wall, wall)

def baseline(tag):
    """The loop alone for base_s seconds."""
    lp = Loop(tag)
    lp.start()
    time.sleep(base_s)    # the length of the measurement
    lp.stop.set()
    lp.join()
    w, r, o, wall = lp.figures()
    print("without drain (%s): client write %.0f MiB/s, read %.0f MiB/s, overall %.0f MiB/s over %.0f s%s"
          % (tag, w, r, o, wall, (", errors: %s" % lp.errors[:3]) if lp.errors else ""), flush=True)
    return lp

before = baseline("before")

# 3. the drain, with the client loop
# the worker holding closest to 2 GiB (placement is random: not exactly)
victim = min(workers(), key=lambda w: abs(w["used"] - 2048 * MiB))
vid = victim["worker_id"]
loop = Loop("during")
loop.start()
while loop.wbytes == 0 and not loop.errors:
    time.sleep(0.1)
t0 = time.monotonic()
r = call("POST", "/v1/worker/drain", {"worker_id": vid})
start = r["drain"]
t_done = None
while True:
    w = next(x for x in workers() if x["worker_id"] == vid)
    d = w["drain"]
    now = time.monotonic() - t0
    if d["done"] and t_done is None:
        t_done = now
    if d["removable"]:
        t_rem = now
        break
    time.sleep(0.5)
loop.stop.set()
loop.join()
dw, dr, do, dwall = loop.figures()
mb = start["bytes_at_start"] / MiB
print("drain of worker %s: %d chunks, %.0f MiB; done in %.1f s, removable in %.1f s; %.0f MiB/s moved"
      % (vid, start["chunks_at_start"], mb, t_done, t_rem, mb / t_done), flush=True)
print("during drain: client write %.0f MiB/s, read %.0f MiB/s, overall %.0f MiB/s over %.0f s%s"
      % (dw, dr, do, dwall, (", errors: %s" % loop.errors[:3]) if loop.errors else ""), flush=True)

# 4. the loop alone again (the machine's load drifts): "without" is both
after = baseline("after")
bw = (before.wbytes + after.wbytes) / MiB / (before.wtime + after.wtime)
br = (before.rbytes + after.rbytes) / MiB / (before.rtime + after.rtime)
bo = (before.wbytes + after.wbytes + before.rbytes + after.rbytes) / MiB / (
    before.t1 - before.t0 + after.t1 - after.t0)
print("without drain (both): client write %.0f MiB/s, read %.0f MiB/s, overall %.0f MiB/s"
      % (bw, br, bo), flush=True)
print("ratio during/without: write %.2f, read %.2f, overall %.2f"
      % (dw / bw if bw else 0, dr / br if br else 0, do / bo if bo else 0), flush=True)
EOF
echo "log: $LOG"
