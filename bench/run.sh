#!/usr/bin/env bash
# bench/run.sh MOUNTPOINT — BigFS's own quick figures on any mounted path.
#
# Prints one `name: value unit` line per figure (lines starting with '#'
# are notes):
#   seq_write_1g: MiB/s       sequential write of BENCH_MB MiB (fio, psync,
#                             1 MiB blocks, random data, fsync at the end;
#                             timed from start to the fsync's return)
#   seq_read_1g: MiB/s        the same file read back after dropping caches
#   create_4k_files: files/s  BENCH_FILES files of 4 KiB each, one process
#   untar_include: seconds    tar -x of a tarball of /usr/include (cached
#                             under BENCH_CACHE), then sync
# Run as root so the page cache can be dropped between steps.
# Tunables: BENCH_MB (1024), BENCH_FILES (5000), BENCH_CACHE (/tmp/bigfs-bench-cache),
# BENCH_TAR_SRC (/usr/include), BENCH_KEEP (0 = delete the work folder).
set -euo pipefail
export LC_ALL=C

MNT=${1:?usage: bench/run.sh MOUNTPOINT}
BENCH_MB=${BENCH_MB:-1024}
BENCH_FILES=${BENCH_FILES:-5000}
BENCH_CACHE=${BENCH_CACHE:-/tmp/bigfs-bench-cache}
BENCH_TAR_SRC=${BENCH_TAR_SRC:-/usr/include}
BENCH_KEEP=${BENCH_KEEP:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

for t in fio tar "$PY"; do
	command -v "$t" >/dev/null || { echo "run.sh: missing tool: $t (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
[ -d "$MNT" ] || { echo "run.sh: $MNT is not a directory" >&2; exit 2; }

W="$MNT/bench.$$.$RANDOM"
mkdir "$W"
cleanup() { [ "$BENCH_KEEP" = 1 ] || rm -rf "$W"; }
trap cleanup EXIT

DROP=no
if [ -w /proc/sys/vm/drop_caches ]; then DROP=yes; fi
drop() { sync; if [ "$DROP" = yes ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }
echo "# bench/run.sh on $MNT; drop_caches: $DROP; $(nproc) cores"

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }

# sequential write, fsync at the end
drop
t0=$(now)
fio --name=seqwrite --filename="$W/seq" --rw=write --bs=1M --size="${BENCH_MB}M" \
	--ioengine=psync --end_fsync=1 --refill_buffers --randrepeat=0 \
	--output=/dev/null
t1=$(now)
echo "seq_write_1g: $(calc "$BENCH_MB / ($t1 - $t0)") MiB/s"

# sequential read, cold
drop
t0=$(now)
fio --name=seqread --filename="$W/seq" --rw=read --bs=1M --size="${BENCH_MB}M" \
	--ioengine=psync --output=/dev/null
t1=$(now)
echo "seq_read_1g: $(calc "$BENCH_MB / ($t1 - $t0)") MiB/s"
rm -f "$W/seq"

# many small files
drop
mkdir "$W/small"
"$PY" - "$W/small" "$BENCH_FILES" <<'PYEOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
buf = os.urandom(4096)
t0 = time.monotonic()
for i in range(n):
    fd = os.open(os.path.join(d, "f%06d" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, buf)
    os.close(fd)
t1 = time.monotonic()
print("create_4k_files: %.1f files/s" % (n / (t1 - t0)))
PYEOF
rm -rf "$W/small"

# untar a real tree
mkdir -p "$BENCH_CACHE"
TARBALL="$BENCH_CACHE/include.tar"
if [ ! -s "$TARBALL" ]; then
	tar -C "$(dirname "$BENCH_TAR_SRC")" -cf "$TARBALL.tmp" "$(basename "$BENCH_TAR_SRC")" 2>/dev/null || true
	mv "$TARBALL.tmp" "$TARBALL"
fi
nfiles=$(tar -tf "$TARBALL" | wc -l)
mkdir "$W/untar"
cat "$TARBALL" >/dev/null # source in the page cache: time the target only
drop
cat "$TARBALL" >/dev/null
t0=$(now)
tar -C "$W/untar" -xf "$TARBALL"
sync -f "$W/untar"
t1=$(now)
echo "# untar: $nfiles entries of $BENCH_TAR_SRC"
echo "untar_include: $(calc "$t1 - $t0" 2) seconds"
