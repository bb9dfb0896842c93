#!/bin/bash
# bench/dd_ab.sh BUILD... — a fresh local cluster of each build (a build
# folder with bigfs-master, bigfs-worker, mount.bigfs; scrubber off), then
# `dd` of 1 GiB of random data onto it with conv=fsync, and a cold `dd`
# read of it back. Give builds several times, alternated (A B A B), and
# compare medians. The source file is workload.sh's cached one, or
# BIG_SRC. FIO=1 writes with run.sh's seq_write_1g instead (fio, 1 GiB in
# 1 MiB psync writes, fsync at the end). DD_DIR puts the cluster elsewhere
# (default /tmp/dd-ab); a folder on tmpfs (/dev/shm/dd-ab) takes the disk
# out of the figures and leaves the software path.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=${DD_DIR:-/tmp/dd-ab}
SRC=${BIG_SRC:-/tmp/wl-cache/big.src}
[ "${FIO:-0}" = 1 ] || [ -f "$SRC" ] || { echo "no source file $SRC (run bench/compare.sh once, or set BIG_SRC)"; exit 2; }
rate() { tail -1 | awk '{print $(NF-1), $NF}'; }
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B BIGFS_WORKER_OPTS="--scrub-rate 0" "$HERE/scripts/local-cluster" up --dir $D \
		> $D.log 2>&1 || { echo "$B: cluster did not start (see $D.log)"; continue; }
	sync; echo 3 > /proc/sys/vm/drop_caches
	if [ "${FIO:-0}" = 1 ]; then
		a=$EPOCHREALTIME
		fio --name=seqwrite --filename=$D/mnt/big --rw=write --bs=1M --size=1024M \
			--ioengine=psync --end_fsync=1 --refill_buffers --randrepeat=0 --output=/dev/null
		w="$(awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", 1024 / (b - a)}') MiB/s"
	else
		w=$(dd if="$SRC" of=$D/mnt/big bs=1M conv=fsync 2>&1 | rate)
	fi
	sync; echo 3 > /proc/sys/vm/drop_caches
	r=$(dd if=$D/mnt/big of=/dev/null bs=1M 2>&1 | rate)
	echo "$B: write $w, cold read $r"
done
"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
