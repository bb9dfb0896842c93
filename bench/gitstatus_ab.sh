#!/bin/bash
# bench/gitstatus_ab.sh N TREE... — tasks.sh's git_clone then git_status
# on a fresh local cluster of each tree's own build, the trees in turn,
# the order reversed every other round, N rounds. One line per cluster:
# "TREE rK clone s status1 s openat N read N status2 s": the first
# `git status --porcelain` after the clone under `strace -f -c` (its
# openat and read calls count the files git read again: those "racily
# clean", written in the same second as the index), then a second one.
# Every cache dropped before each status. Needs tasks.sh's repository in
# TASKS_CACHE (run tasks.sh or compare.sh once).
set -u
N=${1:?usage: bench/gitstatus_ab.sh N TREE...}; shift
[ $# -ge 1 ] || { echo "usage: bench/gitstatus_ab.sh N TREE..."; exit 2; }
TREES=()
for t in "$@"; do TREES+=("$(cd "$t" && pwd)"); done
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$HERE/bench/lib.sh"
REPO=$(ls -d "${TASKS_CACHE:-${WL_CACHE:-/tmp/wl-cache}}"/tasks-repo-*/src 2>/dev/null | head -1)
[ -n "$REPO" ] || { echo "no tasks.sh repository: run bench/tasks.sh once"; exit 2; }
D=/tmp/gitstatus-ab
ST=$(mktemp)
trap 'for t in "${TREES[@]}"; do cluster_down "$t" $D; done; rm -f "$ST"' EXIT
for r in $(seq "$N"); do
	order=("${TREES[@]}")
	if [ $((r % 2)) = 0 ]; then
		order=(); for ((i = ${#TREES[@]} - 1; i >= 0; i--)); do order+=("${TREES[$i]}"); done
	fi
	for T in "${order[@]}"; do
		cluster_up "$T" $D || { echo "$T: cluster did not start"; continue; }
		s=$(now); git clone -q --no-local "$REPO" "$D/mnt/clone"; e=$(now); c=$(secs "$s" "$e")
		drop_caches
		s=$(now); strace -f -c -o "$ST" git -C "$D/mnt/clone" status --porcelain > /dev/null; e=$(now)
		o=$(awk '$NF == "openat" {print $4}' "$ST"); rd=$(awk '$NF == "read" {print $4}' "$ST")
		drop_caches
		s2=$(now); git -C "$D/mnt/clone" status --porcelain > /dev/null; e2=$(now)
		echo "$T r$r clone $c status1 $(secs "$s" "$e") openat $o read $rd status2 $(secs "$s2" "$e2")"
		cluster_down "$T" $D
	done
done
