#!/bin/bash
# readab.sh N — the cold read of many fresh small files, three ways at
# once: base (its own cluster), main, and a second mount of main's cluster
# with -o noatime (what relatime costs). Each round writes F fresh 4 KiB
# files on each (not timed), drops the caches and times `cat` of them on
# each, the order flipping each round. Lines "base|main|noat rK small_read:
# files/s"; bench/med.py FILE prints medians and paired ratios of main
# against base, bench/med.py FILE noat those of the noatime mount.
#   BASE   a built checkout of the older commit (default /tmp/base)
#   F      files per round (3000)
N=${1:-8}; F=${F:-3000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASE:-/tmp/base}; MAIN=${MAIN:-$HERE}
. "$HERE/bench/lib.sh"
finish() {
	fusermount3 -u /tmp/rab-main/mnt2 2>/dev/null
	cluster_down "$BASE" /tmp/rab-base
	cluster_down "$MAIN" /tmp/rab-main; }
trap finish EXIT
cluster_up "$BASE" /tmp/rab-base || exit 1
cluster_up "$MAIN" /tmp/rab-main || exit 1
MASTER=$(. /tmp/rab-main/cluster.env && echo "$MASTER")
mkdir -p /tmp/rab-main/mnt2
"$MAIN/build/mount.bigfs" -o "noatime$([ -f /tmp/rab-main/mount.pass ] && echo ,passfile=/tmp/rab-main/mount.pass)" "$MASTER" /tmp/rab-main/mnt2 || exit 1
PAD=$(head -c 4095 /dev/zero | tr '\0' 'x')
declare -A DIR=([base]=/tmp/rab-base/mnt/w [main]=/tmp/rab-main/mnt/wa [noat]=/tmp/rab-main/mnt2/wn)
for r in $(seq "$N"); do
	for k in base main noat; do
		d=${DIR[$k]}; rm -rf "$d"; mkdir "$d"
		(cd "$d" && for ((i = 0; i < F; i++)); do printf "%s\n" "$PAD" > "f$i"; done)
	done
	order="base main noat"; ((r % 2)) || order="noat main base"
	for k in $order; do
		drop_caches
		t0=$EPOCHREALTIME
		(cd "${DIR[$k]}" && [ "$(cat f* | wc -c)" = $((F * 4096)) ]) || { echo "$k r$r small_read: FAILED"; continue; }
		t1=$EPOCHREALTIME
		echo "$k r$r small_read: $(awk "BEGIN { printf \"%.1f\", $F / ($t1 - $t0) }")"
	done
done
