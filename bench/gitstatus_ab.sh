#!/bin/bash
# bench/gitstatus_ab.sh BUILD... — tasks.sh's repository (generated into
# TASKS_CACHE by a tasks.sh run; default /tmp/wl-cache/tasks-repo-3000-300.v1)
# cloned onto a local cluster of each build (a build folder with
# bigfs-master, bigfs-worker, mount.bigfs), then `git status` three times
# and `git checkout` of the second branch, each after dropping every
# cache. Give builds several times, alternated (A B A B), and compare
# medians.
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
	git clone -q --no-local "$SRC" $D/mnt/clone
	st=""
	for k in 1 2 3; do
		sync; echo 3 > /proc/sys/vm/drop_caches
		a=$EPOCHREALTIME; git -C $D/mnt/clone status --porcelain > /dev/null; b=$EPOCHREALTIME
		st="$st $(secs "$a" "$b")"
	done
	sync; echo 3 > /proc/sys/vm/drop_caches
	a=$EPOCHREALTIME; git -C $D/mnt/clone checkout -q -b other origin/other; b=$EPOCHREALTIME
	echo "$B: git status$st s, checkout $(secs "$a" "$b") s"
done
"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
