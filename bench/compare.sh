#!/usr/bin/env bash
# bench/compare.sh — BigFS against MooseFS, side by side on this machine.
#
# For each round (BENCH_ROUNDS, default 1; the machines are noisy, 2 is
# better): bring up MooseFS (goal 2, 3 chunkservers) with
# ../shared/bench/peers/moosefs-up.sh, run bench/run.sh and
# ../shared/bench/workload.sh on it, tear it down; then bring up BigFS
# (goal 2, 3 workers) with scripts/local-cluster, run the same, tear it
# down. At the end print every figure as BigFS / MooseFS (for figures in
# seconds a ratio below 1 means BigFS is faster; for the others above 1).
# Raw outputs are kept in BENCH_OUT (default /tmp/bigfs-compare).
# Needs root, fio and the Debian packages moosefs-master moosefs-chunkserver
# moosefs-client moosefs-cli (installed here if missing).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${BENCH_SHARED:-$REPO/../shared/bench}
ROUNDS=${BENCH_ROUNDS:-1}
OUT=${BENCH_OUT:-/tmp/bigfs-compare}
BIGFS_DIR=${BENCH_BIGFS_DIR:-/tmp/bigfs-bench}
export MFS_BASE=${MFS_BASE:-/tmp/mfs-bench}

[ "$(id -u)" -eq 0 ] || { echo "compare.sh: run as root (drop caches, mounts, network namespace)" >&2; exit 2; }
[ -x "$SHARED/peers/moosefs-up.sh" ] || { echo "compare.sh: $SHARED/peers/moosefs-up.sh not found (set BENCH_SHARED)" >&2; exit 2; }
"$REPO/scripts/install-deps.sh"
if ! command -v mfsmaster >/dev/null || ! command -v mfsmount >/dev/null; then
	echo "compare.sh: installing MooseFS" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		moosefs-master moosefs-chunkserver moosefs-client moosefs-cli >/dev/null
fi
make -C "$REPO" -j"$(nproc)" >/dev/null

mkdir -p "$OUT"
cleanup() {
	"$SHARED/peers/moosefs-down.sh" >/dev/null 2>&1 || true
	"$REPO/scripts/local-cluster" down --dir "$BIGFS_DIR" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT

run_on() { # run_on NAME ROUND MOUNTPOINT
	local f="$OUT/$1.$2.txt"
	echo "== $1, round $2: bench/run.sh and workload.sh on $3" >&2
	{ "$REPO/bench/run.sh" "$3"; "$SHARED/workload.sh" "$3"; } | tee "$f" >&2
}

for ((r = 1; r <= ROUNDS; r++)); do
	m=$("$SHARED/peers/moosefs-up.sh" | tail -n1)
	run_on moosefs "$r" "$m"
	"$SHARED/peers/moosefs-down.sh" >/dev/null

	"$REPO/scripts/local-cluster" down --dir "$BIGFS_DIR" --purge >/dev/null 2>&1 || true
	"$REPO/scripts/local-cluster" up --dir "$BIGFS_DIR" --workers 3 --goal 2 >&2
	run_on bigfs "$r" "$BIGFS_DIR/mnt"
	"$REPO/scripts/local-cluster" down --dir "$BIGFS_DIR" --purge >/dev/null
done

/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PYEOF'
import re, sys
out, rounds = sys.argv[1], int(sys.argv[2])
line = re.compile(r"^([A-Za-z0-9_ .()/-]+):\s+([0-9.]+)\s*(.*)$")
def load(name, r):
    d = {}
    with open("%s/%s.%d.txt" % (out, name, r)) as f:
        for l in f:
            m = line.match(l.strip())
            if m and not l.startswith("#"):
                d[m.group(1)] = (float(m.group(2)), m.group(3))
    return d
print("%-28s %14s %14s %8s" % ("figure", "BigFS", "MooseFS", "ratio"))
for r in range(1, rounds + 1):
    b, m = load("bigfs", r), load("moosefs", r)
    print("# round %d" % r)
    for k in b:
        if k in m:
            bv, unit = b[k]
            mv, _ = m[k]
            ratio = "%.2f" % (bv / mv) if mv else "-"
            print("%-28s %14s %14s %8s  %s" % (k, "%.1f" % bv, "%.1f" % mv, ratio, unit))
    for name, d in (("BigFS", b), ("MooseFS", m)):
        with open("%s/%s.%d.txt" % (out, name.lower(), r)) as f:
            for l in f:
                if l.startswith("integrity:"):
                    print("%s %s" % (name, l.strip()))
PYEOF
