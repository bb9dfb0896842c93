#!/bin/bash
# bench/make_ab.sh BUILD... — tasks.sh's C project (generated into
# TASKS_CACHE by a tasks.sh run; default /tmp/wl-cache/tasks-cproj-100.v1)
# copied onto a local cluster of each build, the caches dropped, then
# `make -j2`; twice per build. Give builds several times, alternated.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
P=${TASKS_CPROJ:-/tmp/wl-cache/tasks-cproj-100.v1}
D=/tmp/make-ab
[ -f "$P/Makefile" ] || { echo "no C project at $P: run bench/tasks.sh once"; exit 2; }
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	out=""
	for k in 1 2; do
		cp -r "$P" $D/mnt/p$k; sync; echo 3 > /proc/sys/vm/drop_caches
		a=$EPOCHREALTIME
		(cd $D/mnt/p$k && make -j2 -s > /dev/null 2>&1) || out="$out FAILED"
		b=$EPOCHREALTIME
		out="$out $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}') s"
	done
	echo "$B: make -j2$out"
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
done
