#!/bin/bash
# bench/rmdir_ab.sh TREE... — mkdir -p and rm -rf of workload.sh's
# 1110-folder tree (a{0..9}/b{0..9}/c{0..9}), 4 times on a local cluster
# of each built tree (TREE/build), with the master's CPU per rm -rf.
# Give trees several times, alternated, and compare medians. FIND=1 lists
# the tree with find between the two, as workload.sh does.
set -u
D=/tmp/rmdir-ab
for T in "$@"; do
	T=$(cd "$T" && pwd)
	(cd "$T" && scripts/local-cluster down --dir $D --purge >/dev/null 2>&1); rm -rf $D
	(cd "$T" && scripts/local-cluster up --dir $D > $D.log 2>&1) ||
		{ echo "$T: cluster did not start (see $D.log)"; continue; }
	MP=$(pgrep -f "$T/build/bigfs-master" | head -1)
	for k in 1 2 3 4; do
		sync; echo 3 > /proc/sys/vm/drop_caches
		t0=$EPOCHREALTIME; mkdir -p $D/mnt/t/a{0..9}/b{0..9}/c{0..9}; t1=$EPOCHREALTIME
		[ "${FIND:-0}" = 1 ] && find $D/mnt/t -mindepth 1 -type d | wc -l >/dev/null
		c0=$(awk '{print $14+$15}' /proc/$MP/stat)
		t1b=$EPOCHREALTIME
		rm -rf $D/mnt/t; t2=$EPOCHREALTIME
		c1=$(awk '{print $14+$15}' /proc/$MP/stat)
		awk -v a="$t0" -v b="$t1" -v b2="$t1b" -v c="$t2" -v cpu=$(( (c1 - c0) * 10 )) -v t="$T" 'BEGIN {
			printf "%s mkdir_p %.0f ops/s, rm_rf %.0f ops/s, master %d ms\n",
			       t, 1110 / (b - a), 1110 / (c - b2), cpu }'
	done
	(cd "$T" && scripts/local-cluster down --dir $D --purge >/dev/null 2>&1)
done
