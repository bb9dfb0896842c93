#!/bin/bash
# sm.sh TREE LABEL — the small-file section of workload.sh alone (N=5000 files
# of 4 KiB): create, ls -l, stat, cat, rm; the time and the master calls of each step.
T=$1; L=$2; D=/tmp/sm-$L; N=${N:-5000}
$T/scripts/local-cluster down --dir $D --purge >/dev/null 2>&1; rm -rf $D; mkdir -p $D
(cd $T && timeout 120 scripts/local-cluster up --dir $D --mount $D/mnt >/dev/null 2>&1) || { echo up failed; exit 1; }
MA=$(head -n1 $D/master/master.addr 2>/dev/null); MA=${MA:-127.0.0.1:9400}
snap() { curl -s http://$MA/metrics | grep '^bigfs_http_requests_total' | sed 's/bigfs_http_requests_total{route="\(.*\)"} /\1 /'; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step() { snap > /tmp/c.before.$L; t0=$EPOCHREALTIME; bash -c "$2"; t1=$EPOCHREALTIME; snap > /tmp/c.after.$L
  echo "$L $1 $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2fs", b-a}') $(join /tmp/c.before.$L /tmp/c.after.$L | awk '$3-$2>0 && $1!="/metrics" {printf "%s=%d ", $1, $3-$2}')"; }
S=$D/mnt/small; mkdir $S; export S N
PAD=$(head -c 4085 /dev/zero | tr '\0' x); export PAD
drop; step create 'cd $S; for ((i = 1; i <= N; i++)); do printf -v n "f%05d" "$i"; printf "file %05d\n%s" "$i" "$PAD" > "$n"; done'
drop; step ls_l 'ls -l $S > /dev/null'
drop; step stat 'find $S -type f -print0 | xargs -0 stat -c %s > /dev/null'
drop; step cat 'cd $S && cat f* > /dev/null'
drop; step rm 'cd $S && rm -f f*'
$T/scripts/local-cluster down --dir $D --purge >/dev/null 2>&1
