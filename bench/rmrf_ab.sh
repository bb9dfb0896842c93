#!/bin/bash
# bench/rmrf_ab.sh BUILD... — the untarred /usr/include tree (WL_CACHE's
# tree.tar, made by workload.sh; default /tmp/wl-cache/tree.tar) on a
# local cluster of each build, every cache dropped, then `rm -rf` of it,
# with the master's and the mount's CPU and the master's write calls;
# twice per build. FIND=1: as the workload's tar job, du -s and find
# (a walk that keeps every listing) between the drop and the rm. Give
# builds several times, alternated, and compare medians.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
TAR=${WL_CACHE:-/tmp/wl-cache}/tree.tar
D=/tmp/rmrf-ab
[ -f "$TAR" ] || { echo "no $TAR: run workload.sh (or bench/compare.sh) once"; exit 2; }
cpu() { awk '{print ($14 + $15) * 10}' /proc/$1/stat; }
writes() { awk '$1 == "syscw:" {print $2}' /proc/$1/io; }
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	MP=$(cat $D/master.pid); FP=$(cat $D/mount.pid)
	out=""
	for k in 1 2; do
		mkdir $D/mnt/u; tar -xf "$TAR" -C $D/mnt/u; sync -f $D/mnt/u
		sync; echo 3 > /proc/sys/vm/drop_caches
		if [ "${FIND:-0}" = 1 ]; then
			du -s $D/mnt/u > /dev/null; find $D/mnt/u > /dev/null
		fi
		m0=$(cpu $MP); f0=$(cpu $FP); w0=$(writes $MP); a=$EPOCHREALTIME
		rm -rf $D/mnt/u
		b=$EPOCHREALTIME; m1=$(cpu $MP); f1=$(cpu $FP); w1=$(writes $MP)
		out="$out $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}') s (master $((m1 - m0)) ms, $((w1 - w0)) writes, mount $((f1 - f0)) ms);"
	done
	echo "$B: rm -rf$out"
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
done
