#!/bin/bash
# bench/tasks_ab.sh N TREE_A TREE_B — the write-heavy real tasks of
# bench/tasks.sh on a fresh local cluster of each tree's own build
# (scripts/local-cluster, goal 2, 3 workers), A and B alternated (the
# order flipping each round), N rounds. One line per cluster: "TREE rK
# rsync_doc s git_clone s git_checkout s untar s" — `rsync -a` of
# TASKS_DOC (default /usr/share/doc, read into the page cache first), a
# `git clone --no-local` of tasks.sh's repository (TASKS_CACHE) and a checkout of its
# second branch, and `tar -x` of WL_CACHE's tree.tar, the page cache
# dropped before each. Compare medians; the machine's speed swings.
set -u
N=${1:?usage: bench/tasks_ab.sh N TREE_A TREE_B}; A=$(cd "$2" && pwd); B=$(cd "$3" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$HERE/bench/lib.sh"
CACHE=${WL_CACHE:-/tmp/wl-cache}
TAR=$CACHE/tree.tar
REPO=${TASKS_CACHE:-$CACHE}/tasks-repo-3000-300.v1
DOC=${TASKS_DOC:-/usr/share/doc}
[ -f "$TAR" ] || { echo "no $TAR: run workload.sh (or bench/compare.sh) once"; exit 2; }
[ -d "$REPO/src" ] || { echo "no $REPO: run bench/tasks.sh once"; exit 2; }
D=/tmp/tasks-ab
trap 'cluster_down "$A" $D; cluster_down "$B" $D' EXIT
for r in $(seq "$N"); do
	if [ $((r % 2)) = 1 ]; then order=("$A" "$B"); else order=("$B" "$A"); fi
	for T in "${order[@]}"; do
		cluster_up "$T" $D || { echo "$T: cluster did not start"; continue; }
		M=$D/mnt
		line="$T r$r"
		tar -cf - "$DOC" > /dev/null 2>&1; sync
		s=$(now); rsync -a "$DOC/" "$M/doc/"; e=$(now)
		line="$line rsync_doc $(secs "$s" "$e")"
		drop_caches; s=$(now); git clone -q --no-local "$REPO/src" "$M/clone"; e=$(now)
		line="$line git_clone $(secs "$s" "$e")"
		drop_caches; s=$(now); git -C "$M/clone" checkout -q -b other origin/other; e=$(now)
		line="$line git_checkout $(secs "$s" "$e")"
		mkdir "$M/tar"; drop_caches; s=$(now); tar -xf "$TAR" -C "$M/tar"; e=$(now)
		line="$line untar $(secs "$s" "$e")"
		echo "$line"
		cluster_down "$T" $D
	done
done
