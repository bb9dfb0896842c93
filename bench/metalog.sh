#!/usr/bin/env bash
# bench/metalog.sh [ROUNDS] — what the metadata log costs (issue 15).
#
# Side by side, alternating which goes first each round:
#   off  today's master: one master, its embedded broker, no log;
#   on   `local-cluster up --masters 2`: a leader that puts every change on
#        bigfs.metalog (development broker) before it answers, and a hot
#        standby following it.
# On each: metadata operations through the mount (create, stat, rename,
# unlink of N empty files; one thread, then 4 threads; stat after the
# kernel's attribute cache expired, so it measures the master), in operations per
# second; and on `on`, the standby's distance behind the leader sampled
# every 50 ms during the run (changes behind, and ms since the last record
# it read). Prints one line per round and configuration, then medians.
# Env: N (files per phase, default 2000), TREE (default: this repository).
set -euo pipefail
ROUNDS=${1:-3}
N=${N:-2000}
TREE=${TREE:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TREE/bench/lib.sh"
OUT=${OUT:-/tmp/bench-metalog}
mkdir -p "$OUT"
LOG=$OUT/metalog.$(date +%Y%m%d-%H%M%S).log
PY=/usr/bin/python3

up() { # CONF DIR
	cluster_down "$TREE" "$2"; rm -rf "$2"; mkdir -p "$2"
	local extra=()
	[ "$1" = on ] && extra=(--masters 2)
	(cd "$TREE" && timeout 180 scripts/local-cluster up --dir "$2" --mount "$2/mnt" "${extra[@]}" \
		>"$2.up.log" 2>&1) || { tail -5 "$2.up.log" >&2; return 1; }
}

# ops.py MNT THREADS N -> "phase ops/s" lines
cat >"$OUT/ops.py" <<'EOF'
import os, sys, threading, time
mnt, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = os.path.join(mnt, "ops%d-%d" % (threads, os.getpid()))
os.mkdir(base)
dirs = [os.path.join(base, "t%d" % t) for t in range(threads)]
for d in dirs:
    os.mkdir(d)
def phase(name, fn):
    per = n // threads
    def work(d):
        for i in range(per):
            fn(d, i)
    ts = [threading.Thread(target=work, args=(d,)) for d in dirs]
    t0 = time.monotonic()
    for t in ts: t.start()
    for t in ts: t.join()
    print("%s %.0f" % (name, per * threads / (time.monotonic() - t0)), flush=True)
phase("create", lambda d, i: os.close(os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644)))
time.sleep(1.5)  # the kernel's 1 s attribute cache: every stat asks the master, on both sides
phase("stat", lambda d, i: os.stat(os.path.join(d, "f%d" % i)))
phase("rename", lambda d, i: os.rename(os.path.join(d, "f%d" % i), os.path.join(d, "g%d" % i)))
phase("unlink", lambda d, i: os.unlink(os.path.join(d, "g%d" % i)))
EOF

# lag.py ACTIVE STANDBY STOPFILE -> "lag_changes_max lag_changes_med lag_ms_max lag_ms_med"
cat >"$OUT/lag.py" <<'EOF'
import json, os, sys, time, urllib.request
a, s, stop = sys.argv[1:4]
def h(addr):
    with urllib.request.urlopen("http://%s/v1/health" % addr, timeout=2) as r:
        return json.load(r)["metalog"]
ch, ms = [], []
while not os.path.exists(stop):
    try:
        x, y = h(a), h(s)
        ch.append(max(0, x["seq"] - y["seq"]))
        ms.append(y["lag_ms"])
    except OSError:
        pass
    time.sleep(0.05)
ch.sort(); ms.sort()
med = lambda v: v[len(v) // 2] if v else -1
print("lag_changes_max %d lag_changes_med %d lag_ms_max %d lag_ms_med %d samples %d" % (
    max(ch or [-1]), med(ch), max(ms or [-1]), med(ms), len(ch)))
EOF

run_conf() { # CONF ROUND
	local conf=$1 r=$2 d=$OUT/c-$1 t
	up "$conf" "$d" || { echo "round $r $conf: cluster did not start" | tee -a "$LOG"; return; }
	local lagpid= stop=$d/stop
	rm -f "$stop"
	if [ "$conf" = on ]; then
		local act sb
		act=$(sed -n 's/^MASTER=//p' "$d/cluster.env" | cut -d, -f1)
		sb=$(sed -n 's/^MASTER=//p' "$d/cluster.env" | cut -d, -f2)
		"$PY" "$OUT/lag.py" "$act" "$sb" "$stop" >"$d.lag" &
		lagpid=$!
	fi
	for t in 1 4; do
		"$PY" "$OUT/ops.py" "$d/mnt" "$t" "$N" | while read -r phase v; do
			echo "round $r $conf threads=$t $phase $v" | tee -a "$LOG"
		done
	done
	if [ -n "$lagpid" ]; then
		touch "$stop"
		wait "$lagpid" || true
		echo "round $r $conf $(cat "$d.lag")" | tee -a "$LOG"
	fi
	cluster_down "$TREE" "$d"
}

for ((r = 1; r <= ROUNDS; r++)); do
	if [ $((r % 2)) = 1 ]; then run_conf off "$r"; run_conf on "$r"; else run_conf on "$r"; run_conf off "$r"; fi
done

echo "== medians over $ROUNDS rounds ($LOG)"
"$PY" - "$LOG" <<'EOF'
import re, sys, statistics
vals = {}
lag = []
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (on|off) threads=(\d+) (\w+) (\d+)", line)
    if m:
        vals.setdefault((m[2], m[3]), {}).setdefault(m[1], []).append(float(m[4]))
    elif " lag_changes_max " in line:
        lag.append(line.split(" ", 3)[3].strip())
print("| threads | operation | off ops/s | on ops/s | on/off |")
print("|---:|---|---:|---:|---:|")
for (t, p), d in sorted(vals.items()):
    off, on = statistics.median(d.get("off", [0])), statistics.median(d.get("on", [0]))
    print("| %s | %s | %.0f | %.0f | %.2f |" % (t, p, off, on, on / off if off else 0))
for l in lag:
    print("standby lag:", l)
EOF
