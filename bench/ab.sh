#!/bin/bash
# ab.sh N — alternate two trees N rounds: `scripts/local-cluster up` of each
# tree's own build, bench/run.sh then workload.sh on its mount, down.
# Lines come out as "base rK name: value" / "main rK name: value";
# bench/med.py FILE prints medians and main/base ratios.
#   BASE      a built checkout of the older commit (git worktree add /tmp/base C; make -C /tmp/base)
#   MAIN      the tree under test (default: this checkout)
#   WORKLOAD  ../shared/bench/workload.sh
# The machine's speed swings by up to 2x for minutes at a time: use N >= 3
# and read every round, not only the medians.
N=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASE:-/tmp/base}; MAIN=${MAIN:-$HERE}
WORKLOAD=${WORKLOAD:-$HERE/../shared/bench/workload.sh}
. "$HERE/bench/lib.sh"
for r in $(seq "$N"); do
  for v in base main; do
    if [ $v = base ]; then T=$BASE; else T=$MAIN; fi
    D=/tmp/ab-$v
    cluster_up $T $D || { echo "$v up failed"; continue; }
    { "$HERE/bench/run.sh" $D/mnt; "$WORKLOAD" $D/mnt; } 2>&1 | grep -v "^#" | sed "s/^/$v r$r /"
    cluster_down $T $D
  done
done
