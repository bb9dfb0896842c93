#!/bin/bash
# bench/smallread_ab.sh BUILD... — small files on a local cluster of each
# build (a build folder with bigfs-master, bigfs-worker, mount.bigfs):
# creates of 3,000 4 KiB files (twice, in two folders), then `cat` of
# them all after dropping every cache, three times. Give builds several
# times, alternated (A B A B), and compare medians.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=/tmp/smallread-ab
N=3000
PAD=$(head -c 4086 /dev/zero | tr '\0' x)
make_files() {
	local i n
	for ((i = 1; i <= N; i++)); do printf -v n "f%05d" "$i"; printf "file %05d\n%s" "$i" "$PAD" > "$1/$n"; done
}
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	mkdir $D/mnt/s $D/mnt/s2
	t0=$EPOCHREALTIME; make_files $D/mnt/s; t1=$EPOCHREALTIME; make_files $D/mnt/s2; t2=$EPOCHREALTIME
	reads=""
	for k in 1 2 3; do
		sync; echo 3 > /proc/sys/vm/drop_caches
		a=$EPOCHREALTIME; cat $D/mnt/s/f* > /dev/null; b=$EPOCHREALTIME
		reads="$reads $(awk -v a="$a" -v b="$b" -v n=$N 'BEGIN {printf "%.0f", n / (b - a)}')"
	done
	awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n=$N -v b="$B" -v r="$reads" 'BEGIN {
		printf "%s: create %.0f %.0f files/s, cold read%s files/s\n", b, n / (t1 - t0), n / (t2 - t1), r }'
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
done
