#!/usr/bin/env bash
# bench/compare.sh — BigFS against MooseFS and the FUSE ceiling, side by side
# on this machine.
#
# Systems (BENCH_SYSTEMS, default "moosefs bigfs ptll local", with "base"
# after bigfs when BASE is set, so that each round the two follow each
# other and in turn follow a heavy writer):
#   moosefs  MooseFS 3.0, goal 2, 3 chunkservers (../shared/bench/peers/moosefs-up.sh)
#   bigfs    this tree's cluster, goal 2, 3 workers (scripts/local-cluster,
#            binaries from BIGFS_BUILD, default build/, made here first)
#   ptll     libfuse's passthrough_ll (Debian's example, compiled into
#            BENCH_PT_DIR, see below) over a local folder on the same disk:
#            the ceiling of any FUSE filesystem here. Its defaults, which
#            were BigFS's mount's too (cache=auto: entry and attribute
#            timeouts of 1 s, the page cache dropped on open; no writeback
#            cache; multithreaded), plus -o xattr,default_permissions as
#            BigFS's mount has them.
#   local    a plain folder on the same disk (tasks.sh only)
#   base     BASE=/path/to/worktree: a built checkout of an older commit; its
#            own scripts/local-cluster and build/, goal 2, 3 workers
# Each round (BENCH_ROUNDS, default 1; 2 or more recommended, the machine is
# noisy) brings up one system at a time, runs the suites (BENCH_SUITES,
# default "run workload tasks": bench/run.sh, ../shared/bench/workload.sh,
# bench/tasks.sh; `local` runs tasks only) on its mount and tears it down
# before the next; between systems a sync and BENCH_SETTLE_S seconds (5)
# of quiet. The order flips every round. During the BigFS (and base)
# turns the VmRSS of the master, every worker and the mount is sampled
# every second.
#
# At the end it prints, from the medians over rounds, one row per figure:
# BigFS, MooseFS, BigFS/MooseFS, BigFS/passthrough_ll (and base, base/MooseFS,
# BigFS/base with BASE; passthrough_ll, local and BigFS/local values too).
# Every ratio is a speed ratio: above 1 BigFS (or base) is better (figures in
# seconds are inverted). Ratios below 1.0x MooseFS are marked. Then the peak
# RSS of each BigFS process and every integrity line that is not ok. The
# same tables as markdown go to BENCH_OUT/table.md, every round's values to
# BENCH_OUT/rounds.txt, raw outputs to BENCH_OUT/SYSTEM.rN.SUITE.txt
# (BENCH_OUT default /tmp/bigfs-compare; emptied of earlier results first).
# Exits with 3 if an integrity check failed or a suite did not finish.
# Sizes pass through to the suites: WL_* (workload.sh), BENCH_MB and
# BENCH_FILES (run.sh), TASKS_* (tasks.sh).
# Needs root, fio, and the Debian packages moosefs-master moosefs-chunkserver
# moosefs-client moosefs-cli (installed here if missing).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${BENCH_SHARED:-$REPO/../shared/bench}
ROUNDS=${BENCH_ROUNDS:-1}
OUT=${BENCH_OUT:-/tmp/bigfs-compare}
SUITES=${BENCH_SUITES:-run workload tasks}
BIGFS_DIR=${BENCH_BIGFS_DIR:-/tmp/bigfs-bench}
BASE=${BASE:-}
BASE_DIR=${BENCH_BASE_DIR:-/tmp/bigfs-bench-base}
PT_DIR=${BENCH_PT_DIR:-/tmp/bigfs-bench-ptll}
LOCAL_DIR=${BENCH_LOCAL_DIR:-/tmp/bigfs-bench-local}
PT_SRC=/usr/share/doc/libfuse3-dev/examples
BUILD=${BIGFS_BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export MFS_BASE=${MFS_BASE:-/tmp/mfs-bench}
SYSTEMS=${BENCH_SYSTEMS:-moosefs bigfs${BASE:+ base} ptll local}

die() { echo "compare.sh: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (drop caches, mounts, network namespace)"
for s in $SYSTEMS; do
	case $s in
	moosefs) [ -x "$SHARED/peers/moosefs-up.sh" ] || die "$SHARED/peers/moosefs-up.sh not found (set BENCH_SHARED)" ;;
	bigfs | ptll | local) ;;
	base) { [ -n "$BASE" ] && [ -x "$BASE/scripts/local-cluster" ]; } || die "BASE=$BASE is not a BigFS checkout" ;;
	*) die "unknown system '$s' in BENCH_SYSTEMS (moosefs bigfs ptll local base)" ;;
	esac
done
for s in $SUITES; do
	case $s in run | tasks) ;; workload) [ -x "$SHARED/workload.sh" ] || die "$SHARED/workload.sh not found" ;;
	*) die "unknown suite '$s' in BENCH_SUITES (run workload tasks)" ;; esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a number, not '$ROUNDS'"

"$REPO/scripts/install-deps.sh"
if [[ " $SYSTEMS " == *" moosefs "* ]] && { ! command -v mfsmaster >/dev/null || ! command -v mfsmount >/dev/null; }; then
	echo "compare.sh: installing MooseFS" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		moosefs-master moosefs-chunkserver moosefs-client moosefs-cli >/dev/null
fi
if [[ " $SYSTEMS " == *" bigfs "* ]]; then
	make -C "$REPO" -j"$(nproc)" BUILD="$BUILD" >/dev/null
	export BIGFS_BUILD=$BUILD
fi
if [[ " $SYSTEMS " == *" base "* ]] &&
	{ [ ! -x "$BASE/build/bigfs-master" ] || [ ! -x "$BASE/build/bigfs-worker" ] || [ ! -x "$BASE/build/mount.bigfs" ]; }; then
	die "BASE=$BASE is not built (make -C $BASE -j2)"
fi
# passthrough_ll as Debian ships it, with one change made at compile time:
# the files it opens underneath do not get O_DIRECT (libfuse hands it write
# buffers not aligned for O_DIRECT, so every O_DIRECT write failed with
# EINVAL and workload.sh fell back to buffered random I/O, which measured
# the kernel's page cache instead of FUSE). The kernel still sends every
# O_DIRECT read and write on the mount to the daemon.
PT_STAMP="v2: open and openat without O_DIRECT underneath"
if [[ " $SYSTEMS " == *" ptll "* ]]; then
	mkdir -p "$PT_DIR"
	if [ ! -x "$PT_DIR/passthrough_ll" ] || [ "$PT_SRC/passthrough_ll.c" -nt "$PT_DIR/passthrough_ll" ] ||
		[ "$(cat "$PT_DIR/build.stamp" 2>/dev/null)" != "$PT_STAMP" ]; then
		[ -r "$PT_SRC/passthrough_ll.c" ] || die "$PT_SRC/passthrough_ll.c not found (apt-get install libfuse3-dev)"
		cat > "$PT_DIR/no_odirect.h" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
int pt_open(const char *path, int flags, ...);
int pt_openat(int dirfd, const char *path, int flags, ...);
#define open(...) pt_open(__VA_ARGS__)
#define openat(...) pt_openat(__VA_ARGS__)
EOF
		cat > "$PT_DIR/no_odirect.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
static int mode_of(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}
int pt_open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return open(path, flags & ~O_DIRECT, mode);
}
int pt_openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return openat(dirfd, path, flags & ~O_DIRECT, mode);
}
EOF
		# shellcheck disable=SC2046 # pkg-config prints several words
		{ cc -O2 -Wall -c -o "$PT_DIR/no_odirect.o" "$PT_DIR/no_odirect.c" &&
			cc -O2 -Wall -I"$PT_SRC" -include "$PT_DIR/no_odirect.h" -o "$PT_DIR/passthrough_ll" \
				"$PT_SRC/passthrough_ll.c" "$PT_DIR/no_odirect.o" $(pkg-config --cflags --libs fuse3); } ||
			die "could not compile passthrough_ll"
		echo "$PT_STAMP" > "$PT_DIR/build.stamp"
	fi
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.txt "$OUT"/*.log "$OUT"/table.md

# ---------------------------------------------------------------- systems
# Exactly one system is up at a time: CUR names it, so the traps take down
# what is up and nothing else.
CUR=
SAMPLER=
SUITE=
MNT=

# rss_sampler DIR FILE — every second, the peak VmRSS (KiB) of the cluster
# in DIR (its master.pid, wK.pid, mount.pid) so far, written to FILE as
# "name KiB" lines, and the kernel's own high-water mark (VmHWM, which also
# catches peaks between samples) as "name.hwm KiB".
rss_sampler() {
	set +e
	local dir=$1 out=$2 f pid name k v comm
	declare -A peak=()
	while :; do
		for f in "$dir"/master.pid "$dir"/w*.pid "$dir"/mount.pid; do
			{ [ -s "$f" ] && read -r pid < "$f"; } 2>/dev/null || continue
			comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
			case $comm in bigfs-master | bigfs-worker | mount.bigfs) ;; *) continue ;; esac
			name=$(basename "$f" .pid)
			while read -r k v _; do
				case $k in
				VmHWM:) [ "$v" -gt "${peak[$name.hwm]:-0}" ] && peak[$name.hwm]=$v ;;
				VmRSS:) [ "$v" -gt "${peak[$name]:-0}" ] && peak[$name]=$v; break ;;
				esac
			done < "/proc/$pid/status" 2>/dev/null
		done
		for name in "${!peak[@]}"; do echo "$name ${peak[$name]}"; done > "$out.tmp" && mv "$out.tmp" "$out"
		sleep 1
	done
}
sampler_start() { rss_sampler "$1" "$2" & SAMPLER=$!; }
sampler_stop() {
	[ -n "$SAMPLER" ] || return 0
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=
}

bigfs_dir() { if [ "$1" = base ]; then echo "$BASE_DIR"; else echo "$BIGFS_DIR"; fi; }
bigfs_lc() { # bigfs_lc NAME ARGS... — that tree's local-cluster (base: its own build)
	local name=$1; shift
	if [ "$name" = base ]; then (cd "$BASE" && env -u BIGFS_BUILD scripts/local-cluster "$@")
	else "$REPO/scripts/local-cluster" "$@"; fi
}

# is_mounted DIR — from the mount table, so a dead FUSE mount (ENOTCONN) counts
is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
pt_down() {
	local pid=
	if [ -s "$PT_DIR/pt.pid" ]; then pid=$(cat "$PT_DIR/pt.pid"); fi
	if is_mounted "$PT_DIR/mnt"; then
		umount "$PT_DIR/mnt" 2>/dev/null || fusermount3 -u "$PT_DIR/mnt" 2>/dev/null || umount -l "$PT_DIR/mnt"
	fi
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = passthrough_ll ]; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
	fi
	rm -f "$PT_DIR/pt.pid"
	rm -rf "$PT_DIR/src"
}
pt_up() {
	pt_down
	mkdir -p "$PT_DIR/src" "$PT_DIR/mnt"
	setsid "$PT_DIR/passthrough_ll" -f -o "source=$PT_DIR/src,xattr,default_permissions" "$PT_DIR/mnt" \
		< /dev/null > "$OUT/ptll.log" 2>&1 &
	echo $! > "$PT_DIR/pt.pid"
	for _ in $(seq 100); do is_mounted "$PT_DIR/mnt" && return 0; sleep 0.1; done
	cat "$OUT/ptll.log" >&2
	die "passthrough_ll did not mount $PT_DIR/mnt"
}

# up NAME ROUND — bring NAME up; sets MNT to its mountpoint
up() {
	local name=$1 r=$2 dir
	CUR=$name
	case $name in
	moosefs)
		"$SHARED/peers/moosefs-up.sh" > "$OUT/moosefs.r$r.up.log" 2>&1 ||
			{ tail -n 20 "$OUT/moosefs.r$r.up.log" >&2; die "moosefs-up.sh failed"; }
		MNT=$(tail -n1 "$OUT/moosefs.r$r.up.log")
		mountpoint -q "$MNT" || die "moosefs-up.sh did not mount (its last line: $MNT)" ;;
	bigfs | base)
		dir=$(bigfs_dir "$name")
		bigfs_lc "$name" down --dir "$dir" --purge > /dev/null 2>&1 || true
		bigfs_lc "$name" up --dir "$dir" --workers 3 --goal 2 > "$OUT/$name.r$r.up.log" 2>&1 ||
			{ tail -n 20 "$OUT/$name.r$r.up.log" >&2; die "local-cluster up ($name) failed"; }
		sampler_start "$dir" "$OUT/rss.$name.r$r.txt"
		MNT=$dir/mnt ;;
	ptll)
		pt_up
		MNT=$PT_DIR/mnt ;;
	local)
		rm -rf "$LOCAL_DIR"; mkdir -p "$LOCAL_DIR"
		MNT=$LOCAL_DIR ;;
	esac
}
# down — take down what is up (CUR)
down() {
	local name=$CUR
	sampler_stop
	case $name in
	moosefs) "$SHARED/peers/moosefs-down.sh" > /dev/null 2>&1 || true ;;
	bigfs | base) bigfs_lc "$name" down --dir "$(bigfs_dir "$name")" --purge > /dev/null 2>&1 || true ;;
	ptll) pt_down ;;
	local) rm -rf "$LOCAL_DIR" ;;
	esac
	CUR=
}
cleanup() {
	trap - INT TERM HUP
	suite_stop
	if [ -n "$CUR" ]; then echo "compare.sh: taking down $CUR" >&2; down; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run_suites NAME ROUND MOUNTPOINT — each suite in a session of its own
# (SUITE is its process group), waited for in the background so that a
# signal reaches the traps at once; cleanup stops the whole group.
run_suites() {
	local name=$1 r=$2 mnt=$3 s f rc cmd
	for s in $SUITES; do
		[ "$name" != local ] || [ "$s" = tasks ] || continue
		case $s in
		run) cmd=("$REPO/bench/run.sh" "$mnt") ;;
		workload) cmd=("$SHARED/workload.sh" "$mnt") ;;
		tasks) cmd=("$REPO/bench/tasks.sh" "$mnt") ;;
		esac
		f="$OUT/$name.r$r.$s.txt"
		echo "== $name, round $r: $s on $mnt" >&2
		# shellcheck disable=SC2016 # expanded by the child bash
		setsid bash -c 'set -o pipefail; f=$1; shift; "$@" 2>&1 | tee "$f" >&2' _ "$f" "${cmd[@]}" &
		SUITE=$!
		rc=0
		wait "$SUITE" || rc=$?
		SUITE=
		[ $rc = 0 ] || echo "suite_exit: FAILED(rc=$rc) ($s exited with status $rc)" | tee -a "$f" >&2
	done
}
suite_stop() {
	[ -n "$SUITE" ] || return 0
	echo "compare.sh: stopping the running suite (process group $SUITE)" >&2
	kill -TERM -- "-$SUITE" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 -- "-$SUITE" 2>/dev/null || break; sleep 0.2; done
	if kill -0 -- "-$SUITE" 2>/dev/null; then kill -KILL -- "-$SUITE"; fi
	SUITE=
}

# settle — the next system starts on a quiet disk: what the last one wrote
# (gigabytes, deleted or not) is flushed, and the flush has stopped.
# Without it, in the old order (moosefs bigfs ptll local base) BigFS always
# followed a system that had just written 2 GiB and base never did, and
# BigFS's sequential writes came out 0.82-0.89x base, whatever changed.
settle() {
	sync
	sleep "${BENCH_SETTLE_S:-5}"
}

T0=$SECONDS
read -r -a order <<< "$SYSTEMS"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r > 1)); then # the order flips every round
		for ((i = 0, j = ${#order[@]} - 1; i < j; i++, j--)); do
			t=${order[i]}; order[i]=${order[j]}; order[j]=$t
		done
	fi
	for name in "${order[@]}"; do
		echo "== $name, round $r: up ($((SECONDS - T0)) s since start)" >&2
		up "$name" "$r"
		run_suites "$name" "$r" "$MNT"
		down
		settle
	done
done
echo "== done in $((SECONDS - T0)) s" >&2

/usr/bin/python3 "$REPO/bench/compare_report.py" "$OUT" "$ROUNDS" "$SYSTEMS" \
	"$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')" \
	"$( [ -n "$BASE" ] && git -C "$BASE" describe --always --dirty 2>/dev/null || echo '')"
