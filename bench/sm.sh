#!/bin/bash
# sm.sh TREE LABEL — the small-file section of workload.sh alone (N=5000 files
# of 4 KiB): create, ls -l, stat, cat, rm; the time and the master calls of each step.
T=$1; L=$2; D=/tmp/sm-$L; N=${N:-5000}
. "$(dirname "$0")/lib.sh"
cluster_up $T $D || { echo up failed; exit 1; }
MA=$(head -n1 $D/master/master.addr 2>/dev/null); MA=${MA:-127.0.0.1:9400}
step() { master_calls $MA > /tmp/c.before.$L; t0=$EPOCHREALTIME; bash -c "$2"; t1=$EPOCHREALTIME; master_calls $MA > /tmp/c.after.$L
  echo "$L $1 $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2fs", b-a}') $(calls_between /tmp/c.before.$L /tmp/c.after.$L)"; }
S=$D/mnt/small; mkdir $S; export S N
PAD=$(head -c 4085 /dev/zero | tr '\0' x); export PAD
drop_caches; step create 'cd $S; for ((i = 1; i <= N; i++)); do printf -v n "f%05d" "$i"; printf "file %05d\n%s" "$i" "$PAD" > "$n"; done'
drop_caches; step ls_l 'ls -l $S > /dev/null'
drop_caches; step stat 'find $S -type f -print0 | xargs -0 stat -c %s > /dev/null'
drop_caches; step cat 'cd $S && cat f* > /dev/null'
drop_caches; step rm 'cd $S && rm -f f*'
cluster_down $T $D
