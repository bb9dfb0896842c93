#!/bin/bash
# df.sh TREE LABEL REPS — untar workload.sh's tree (its cache in /tmp/wl-cache), then
# time a cold `diff -r` against the source REPS times, with the master calls of each.
# OPTS=noatime remounts with options; SLEEP=s waits after the untar (default 8).
T=$1; L=$2; D=/tmp/df-$L
$T/scripts/local-cluster down --dir $D --purge >/dev/null 2>&1; rm -rf $D; mkdir -p $D
for k in 1 2; do (cd $T && timeout 120 scripts/local-cluster up --dir $D --mount $D/mnt >/dev/null 2>&1) && break; $T/scripts/local-cluster down --dir $D --purge >/dev/null 2>&1; rm -rf $D; mkdir -p $D; done
[ -d $D/mnt ] && mountpoint -q $D/mnt || { echo up failed; exit 1; }
if [ -n "$OPTS" ]; then fusermount3 -u $D/mnt; $T/build/mount.bigfs -o "$OPTS" $(head -n1 $D/master/master.addr) $D/mnt || exit 1; sleep 1; fi
MA=$(head -n1 $D/master/master.addr 2>/dev/null); MA=${MA:-127.0.0.1:9400}
snap() { curl -s http://$MA/metrics | grep '^bigfs_http_requests_total' | sed 's/bigfs_http_requests_total{route="\(.*\)"} /\1 /'; }
mkdir $D/mnt/t; tar -xf /tmp/wl-cache/tree.tar -C $D/mnt/t; sync -f $D/mnt/t; sync; echo 3 > /proc/sys/vm/drop_caches; du -s $D/mnt/t >/dev/null; sleep ${SLEEP:-8}
TOP=$(cut -d' ' -f1 /tmp/wl-cache/tree.tar.info)
for r in $(seq ${3:-3}); do
  sync; echo 3 > /proc/sys/vm/drop_caches
  snap > /tmp/d.before.$L; t0=$EPOCHREALTIME
  diff -r --no-dereference /tmp/wl-cache/ref/$TOP $D/mnt/t/$TOP > /dev/null || echo DIFF FAILED
  t1=$EPOCHREALTIME; snap > /tmp/d.after.$L
  echo "$L diff $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2fs", b-a}') $(join /tmp/d.before.$L /tmp/d.after.$L | awk '$3-$2>0 && $1!="/metrics" {printf "%s=%d ", $1, $3-$2}')"
done
$T/scripts/local-cluster down --dir $D --purge >/dev/null 2>&1
