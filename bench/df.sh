#!/bin/bash
# df.sh TREE LABEL REPS — untar workload.sh's tree (its cache in /tmp/wl-cache), then
# time a cold `diff -r` against the source REPS times, with the master calls of each.
# OPTS=noatime remounts with options; SLEEP=s waits after the untar (default 8).
T=$1; L=$2; D=/tmp/df-$L
. "$(dirname "$0")/lib.sh"
cluster_up $T $D || { echo up failed; exit 1; }
if [ -n "$OPTS" ]; then fusermount3 -u $D/mnt; $T/build/mount.bigfs -o "$OPTS$([ -f $D/mount.pass ] && echo ,passfile=$D/mount.pass)" $(head -n1 $D/master/master.addr) $D/mnt || exit 1; sleep 1; fi
MA=$(head -n1 $D/master/master.addr 2>/dev/null); MA=${MA:-127.0.0.1:9400}
mkdir $D/mnt/t; tar -xf /tmp/wl-cache/tree.tar -C $D/mnt/t; sync -f $D/mnt/t; drop_caches; du -s $D/mnt/t >/dev/null; sleep ${SLEEP:-8}
TOP=$(cut -d' ' -f1 /tmp/wl-cache/tree.tar.info)
for r in $(seq ${3:-3}); do
  drop_caches
  master_calls $MA > /tmp/d.before.$L; t0=$EPOCHREALTIME
  diff -r --no-dereference /tmp/wl-cache/ref/$TOP $D/mnt/t/$TOP > /dev/null || echo DIFF FAILED
  t1=$EPOCHREALTIME; master_calls $MA > /tmp/d.after.$L
  echo "$L diff $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2fs", b-a}') $(calls_between /tmp/d.before.$L /tmp/d.after.$L)"
done
cluster_down $T $D
