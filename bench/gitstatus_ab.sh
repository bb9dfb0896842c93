#!/bin/bash
# bench/gitstatus_ab.sh BUILD... — tasks.sh's repository (generated into
# TASKS_CACHE by a tasks.sh run; default /tmp/wl-cache/tasks-repo-3000-300.v1)
# cloned onto a local cluster of each build (a build folder with
# bigfs-master, bigfs-worker, mount.bigfs), then `git status` three times
# and `git checkout` of the second branch, each after dropping every
# cache. Give builds several times, alternated (A B A B), and compare
# medians. COUNT=1 runs the first status under `strace -f -c` and prints
# its openat and read calls: the files git reads again because they are
# "racily clean" (written in the same second as the index), which a
# faster clone leaves more of.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=/tmp/gitstatus-ab
SRC=${TASKS_CACHE:-/tmp/wl-cache}/tasks-repo-3000-300.v1/src
[ -d "$SRC" ] || { echo "no repository at $SRC: run bench/tasks.sh once"; exit 2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	a=$EPOCHREALTIME; git clone -q --no-local "$SRC" $D/mnt/clone; b=$EPOCHREALTIME
	cl=$(secs "$a" "$b")
	st="" reread=""
	for k in 1 2 3; do
		sync; echo 3 > /proc/sys/vm/drop_caches
		trace=()
		[ "${COUNT:-0}" = 1 ] && [ $k = 1 ] && trace=(strace -f -c -o $D.strace)
		a=$EPOCHREALTIME; "${trace[@]}" git -C $D/mnt/clone status --porcelain > /dev/null; b=$EPOCHREALTIME
		st="$st $(secs "$a" "$b")"
	done
	[ "${COUNT:-0}" = 1 ] && reread=" (first: $(awk '$NF == "openat" {o = $4} $NF == "read" {r = $4}
		END {print o + 0 " openat, " r + 0 " read"}' $D.strace))"
	sync; echo 3 > /proc/sys/vm/drop_caches
	a=$EPOCHREALTIME; git -C $D/mnt/clone checkout -q -b other origin/other; b=$EPOCHREALTIME
	echo "$B: clone $cl s, git status$st s$reread, checkout $(secs "$a" "$b") s"
done
"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
