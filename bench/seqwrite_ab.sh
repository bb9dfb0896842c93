#!/bin/bash
# bench/seqwrite_ab.sh N TREE... — run.sh's seq_write_1g (fio, 1 GiB in
# 1 MiB writes, psync, fsync at the end) on a fresh local cluster of each
# tree's own build (scripts/local-cluster, goal 2, 3 workers), the trees
# in turn, the order reversed every other round, N rounds. One line per
# cluster: "TREE rK seq_write_1g MiB/s". Compare medians.
set -u
N=${1:?usage: bench/seqwrite_ab.sh N TREE...}; shift
[ $# -ge 1 ] || { echo "usage: bench/seqwrite_ab.sh N TREE..."; exit 2; }
TREES=()
for t in "$@"; do TREES+=("$(cd "$t" && pwd)"); done
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$HERE/bench/lib.sh"
D=/tmp/seqwrite-ab
trap 'for t in "${TREES[@]}"; do cluster_down "$t" $D; done' EXIT
for r in $(seq "$N"); do
	order=("${TREES[@]}")
	if [ $((r % 2)) = 0 ]; then
		order=(); for ((i = ${#TREES[@]} - 1; i >= 0; i--)); do order+=("${TREES[$i]}"); done
	fi
	for T in "${order[@]}"; do
		cluster_up "$T" $D || { echo "$T: cluster did not start"; continue; }
		mkdir "$D/mnt/w"; drop_caches
		s=$(now)
		fio --name=seqwrite --filename="$D/mnt/w/seq" --rw=write --bs=1M --size=1024M \
			--ioengine=psync --end_fsync=1 --refill_buffers --randrepeat=0 \
			--output=/dev/null || echo "$T: fio failed"
		e=$(now)
		echo "$T r$r seq_write_1g $(rate 1024 "$s" "$e")"
		cluster_down "$T" $D
	done
done
