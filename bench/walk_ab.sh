#!/bin/bash
# bench/walk_ab.sh TREE... — walks of a tree after the kernel dropped its
# caches, as workload.sh's tar_du_s and tasks.sh's git_status time them:
# for each tree (a checkout, built) a fresh local cluster of its build; workload.sh's tarball (WL_CACHE/tree.tar) untarred
# and tasks.sh's repository cloned onto it; then, each after `sync` and
# dropping every cache, `du -s` of the untarred tree, `find | wc -l` of it
# and `git status --porcelain` of the clone, ROUNDS times (default 3).
# Prints each figure's seconds and the master's readdir and lookup calls
# of the last round. Give builds several times, alternated (A B A B), and
# compare medians.
set -u
. "$(dirname "$0")/lib.sh"
D=/tmp/walk-ab
TAR=${WL_CACHE:-/tmp/wl-cache}/tree.tar
SRC=${TASKS_CACHE:-/tmp/wl-cache}/tasks-repo-3000-300.v1/src
ROUNDS=${ROUNDS:-3}
[ -f "$TAR" ] || { echo "no tarball at $TAR: run workload.sh (bench/compare.sh) once"; exit 2; }
[ -d "$SRC" ] || { echo "no repository at $SRC: run bench/tasks.sh once"; exit 2; }
drop() { drop_caches; }
calls() {   # readdir and lookup calls the master answered so far
	master_calls "$MASTER" | awk '$1 == "/v1/readdir" || $1 == "/v1/lookup" {n += $2}
				      END {print n + 0}'
}
for T in "$@"; do
	T=$(cd "$T" && pwd)
	cluster_up "$T" $D || { echo "$T: cluster did not start"; continue; }
	MASTER=$(. $D/cluster.env && echo "$MASTER")
	mkdir $D/mnt/tar
	tar -xf "$TAR" -C $D/mnt/tar
	git clone -q --no-local "$SRC" $D/mnt/clone
	du_s="" find_s="" st_s=""
	for k in $(seq "$ROUNDS"); do
		drop; c0=$(calls)
		a=$EPOCHREALTIME; du -s $D/mnt/tar > /dev/null; b=$EPOCHREALTIME
		du_s="$du_s $(secs "$a" "$b")"; drop; c1=$(calls)
		a=$EPOCHREALTIME; find $D/mnt/tar | wc -l > /dev/null; b=$EPOCHREALTIME
		find_s="$find_s $(secs "$a" "$b")"; drop; c2=$(calls)
		a=$EPOCHREALTIME; git -C $D/mnt/clone status --porcelain > /dev/null; b=$EPOCHREALTIME
		st_s="$st_s $(secs "$a" "$b")"; c3=$(calls)
	done
	echo "$T: du -s$du_s s; find$find_s s; git status$st_s s;" \
	     "master readdir+lookup calls, last round: du $((c1 - c0)), find $((c2 - c1))," \
	     "git status $((c3 - c2))"
	cluster_down "$T" $D
done
