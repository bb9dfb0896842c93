#!/bin/bash
# bench/randwrite_ab.sh BUILD... — workload.sh's 4 KiB random-write job
# (fio psync, O_DIRECT, iodepth 1, a 256 MiB file laid out first, 10 s)
# on a local cluster of each build (a build folder with bigfs-master,
# bigfs-worker, mount.bigfs), with the mount's CPU during the job. Give
# builds several times, alternated (A B A B), and compare medians.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=/tmp/randwrite-ab
for B in "$@"; do
	B=$(cd "$B" && pwd)
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1; rm -rf $D
	BIGFS_BUILD=$B "$HERE/scripts/local-cluster" up --dir $D > $D.log 2>&1 ||
		{ echo "$B: cluster did not start (see $D.log)"; continue; }
	FP=$(cat $D/mount.pid)
	fio --output-format=terse --terse-version=3 --ioengine=psync --name=layout \
	    --filename=$D/mnt/rand.bin --rw=write --bs=1M --size=256M --end_fsync=1 > /dev/null
	c0=$(awk '{print $14+$15}' /proc/$FP/stat)
	iops=$(fio --output-format=terse --terse-version=3 --ioengine=psync --group_reporting \
		--name=randwrite --filename=$D/mnt/rand.bin --rw=randwrite --bs=4k --iodepth=1 \
		--numjobs=1 --size=256M --direct=1 --time_based --runtime=10 --randrepeat=0 |
		cut -d';' -f49)
	c1=$(awk '{print $14+$15}' /proc/$FP/stat)
	echo "$B: randwrite $iops IOPS, mount CPU $(( (c1 - c0) * 10 )) ms"
	"$HERE/scripts/local-cluster" down --dir $D --purge >/dev/null 2>&1
done
