#!/bin/bash
# bench/rss_ab.sh BUILD... — peak worker and mount RSS of each build (a build
# folder with bigfs-master, bigfs-worker, mount.bigfs) through big-file
# and small-file work: a local cluster from the build, then fio write and
# read of 1 GiB, dd of 1 GiB with fsync, an untar of workload.sh's tree,
# the three big-file steps again and rsync -a /usr/share/doc; VmRSS of the
# workers and of the mount sampled every
# 0.5 s. Give builds several times, alternated (A B A B), and take
# medians: the box's speed swings.
# Needs WL_CACHE (/tmp/wl-cache) filled by ../shared/bench/workload.sh.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
WL_CACHE=${WL_CACHE:-/tmp/wl-cache}
D=/tmp/rss-ab
big() {
	fio --name=w --filename="$1/seq" --rw=write --bs=1M --size=1024M --ioengine=psync \
		--end_fsync=1 --refill_buffers | grep -o "WRITE: bw=[^ ]*"
	sync; echo 3 > /proc/sys/vm/drop_caches
	fio --name=r --filename="$1/seq" --rw=read --bs=1M --size=1024M --ioengine=psync |
		grep -o "READ: bw=[^ ]*"
	dd if="$WL_CACHE/big-1024M.src" of="$1/big" bs=1M conv=fsync 2>&1 | tail -1
	rm -f "$1/seq" "$1/big"
}
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	rm -f $D.samples
	rm -f $D.msamples
	( while :; do for p in $(pgrep -f "$B/bigfs-worker"); do
		awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null; done >> $D.samples
		for p in $(pgrep -f "$B/mount.bigfs"); do
		awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null; done >> $D.msamples
		sleep 0.5; done ) & S=$!
	big $D/mnt
	mkdir $D/mnt/t && tar -xf "$WL_CACHE/tree.tar" -C $D/mnt/t
	big $D/mnt
	rsync -a /usr/share/doc/ $D/mnt/doc/
	kill $S
	echo "$B: peak RSS workers $(sort -n $D.samples | tail -1 | awk '{printf "%d", $1/1024}')" \
	     "mount $(sort -n $D.msamples | tail -1 | awk '{printf "%d", $1/1024}') MiB"
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
done
