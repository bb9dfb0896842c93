#!/bin/bash
# stepab.sh N — two trees side by side, step by step: both clusters are up
# at once (base and main, each from its own build), and every step of
# workload.sh and run.sh runs on one mount and then at once on the other, the
# order flipping each round. A slow phase of the machine (this VM's speed
# swings by up to 2x for minutes) then lands on both sides of a step, not on
# one whole run. Lines come out as "base rK name: value" / "main rK name: value";
# names ending in _s are seconds (lower is better), the rest are rates.
# bench/med.py FILE prints medians, the ratio of medians and the median of
# the per-round ratios (each round's main against the base next to it).
#   BASE      a built checkout of the older commit (git worktree add /tmp/base C; make -C /tmp/base)
#   MAIN      the tree under test (default: this checkout)
#   BIG_MB    sequential file size (1024), SMALL_N small files (5000)
#   BASE_ENV, MAIN_ENV  environment for that side's `local-cluster up`, e.g.
#             BASE=$PWD MAIN_ENV=BIGFS_TLS=1 compares this tree without and with TLS
#   ONLY      a regex: only the steps whose names match (keep a group whole:
#             ONLY='^(small|tar)_' runs the small-file and tarball steps)
N=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASE:-/tmp/base}; MAIN=${MAIN:-$HERE}
BIG_MB=${BIG_MB:-1024}; SMALL_N=${SMALL_N:-5000}
WL_CACHE=${WL_CACHE:-/tmp/wl-cache}
export LC_ALL=C BIG_MB SMALL_N WL_CACHE
TAR=$WL_CACHE/tree.tar; REF=$WL_CACHE/ref; BIG_SRC=$WL_CACHE/big-1024M.src
[ -s "$TAR.info" ] && [ -s "$BIG_SRC" ] || { echo "stepab.sh: run ../shared/bench/workload.sh once first (it fills $WL_CACHE)" >&2; exit 2; }
read -r TAR_TOP _ TAR_ENTRIES _ < "$TAR.info"
PAD=$(head -c 3000 /dev/zero | tr '\0' 'x')$(head -c 1085 /dev/zero | tr '\0' 'y')
export TAR REF BIG_SRC TAR_TOP PAD

tree_of() { if [ "$1" = base ]; then echo "$BASE"; else echo "$MAIN"; fi; }
. "$HERE/bench/lib.sh"
trap 'cluster_down "$BASE" /tmp/sab-base; cluster_down "$MAIN" /tmp/sab-main' EXIT
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }

# run V R NAME KIND COUNT 'code' — drop caches, time the code in a child bash
# with W set to V's work folder; KIND rate prints COUNT/seconds, secs the seconds.
run() { local v=$1 r=$2 name=$3 kind=$4 count=$5 code=$6 t0 t1 rc
	drop_caches
	t0=$EPOCHREALTIME
	W=/tmp/sab-$v/mnt/w timeout -k 10 300 bash -c "$code"; rc=$?
	t1=$EPOCHREALTIME
	if [ $rc != 0 ]; then echo "$v r$r $name: FAILED(rc=$rc)"; return; fi
	if [ "$kind" = rate ]; then echo "$v r$r $name: $(calc "$count / ($t1 - $t0)")"
	else echo "$v r$r ${name}_s: $(calc "$t1 - $t0" 3)"; fi
}
# fio_iops V R NAME RW — 4 KiB O_DIRECT random I/O for 15 s, IOPS from fio
fio_iops() { local v=$1 r=$2 name=$3 rw=$4 f=8; [ "$rw" = randwrite ] && f=49
	drop_caches
	echo "$v r$r $name: $(fio --output-format=terse --terse-version=3 --ioengine=psync --name=$rw \
		--filename=/tmp/sab-$v/mnt/w/rand.bin --rw=$rw --bs=4k --iodepth=1 --size=256M --direct=1 \
		--time_based --runtime=15 --randrepeat=0 2>/dev/null | awk -F';' -v f=$f '{print $f}')"
}

STEPS=(
	"seq_write rate $BIG_MB"	'fio --name=w --filename=$W/seq --rw=write --bs=1M --size=${BIG_MB}M --ioengine=psync --end_fsync=1 --refill_buffers --output=/dev/null'
	"seq_read rate $BIG_MB"		'fio --name=r --filename=$W/seq --rw=read --bs=1M --size=${BIG_MB}M --ioengine=psync --output=/dev/null && rm -f $W/seq'
	"bigcopy_dd rate 1024"		'dd if=$BIG_SRC of=$W/big bs=1M conv=fsync status=none'
	"bigcopy_sha rate 1024"		'[ "$(sha256sum < $W/big | cut -d" " -f1)" = "$(cat $BIG_SRC.sha256)" ] && rm -f $W/big'
	"rand_layout secs 0"		'fio --name=l --filename=$W/rand.bin --rw=write --bs=1M --size=256M --ioengine=psync --end_fsync=1 --output=/dev/null'
	"FIO rand_read_4k randread"	''
	"FIO rand_write_4k randwrite"	''
	"small_create rate $SMALL_N"	'mkdir $W/small && cd $W/small && for ((i = 1; i <= SMALL_N; i++)); do printf -v n "f%05d" "$i"; printf "file %05d\n%s" "$i" "$PAD" > "$n" || exit 1; done'
	"small_ls_l secs 0"		'[ $(ls -l $W/small | wc -l) = $((SMALL_N + 1)) ]'
	"small_stat rate $SMALL_N"	'[ $(find $W/small -type f -print0 | xargs -0 stat -c %s | grep -c "^4096$") = $SMALL_N ]'
	"small_read rate $SMALL_N"	'cd $W/small && [ $(cat f* | wc -c) = $((SMALL_N * 4096)) ]'
	"small_delete rate $SMALL_N"	'cd $W/small && rm -f f* && cd / && rmdir $W/small'
	"mkdir_p rate 1110"		'mkdir -p $W/tree/a{0..9}/b{0..9}/c{0..9}'
	"rmdir_tree rate 1110"		'rm -rf $W/tree'
	"ren_prep secs 0"		'mkdir $W/ren && cd $W/ren && for ((i = 1; i <= 1000; i++)); do : > "a$i"; done'
	"rename rate 1000"		'cd $W/ren && perl -e "for (1..1000) { rename(\"a\$_\", \"b\$_\") or exit 1 }" && cd / && rm -rf $W/ren'
	"tar_untar secs 0"		'mkdir $W/tar && tar -xf $TAR -C $W/tar'
	"tar_sync secs 0"		'sync -f $W/tar'
	"tar_du secs 0"			'du -s $W/tar > /dev/null'
	"tar_diff_r secs 0"		'diff -r --no-dereference $REF/$TAR_TOP $W/tar/$TAR_TOP > /dev/null'
	"tar_rm_rf secs 0"		'rm -rf $W/tar'
	"create_4k_files rate $SMALL_N"	'mkdir $W/c && /usr/bin/python3 -c "
import os, sys
d, n, buf = sys.argv[1], int(sys.argv[2]), os.urandom(4096)
for i in range(n):
    fd = os.open(os.path.join(d, \"f%06d\" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, buf); os.close(fd)
" $W/c $SMALL_N'
	"create_4k_rm secs 0"		'rm -rf $W/c'
	"untar_include secs 0"		'mkdir $W/u && tar -C $W/u -xf $TAR && sync -f $W/u'
	"untar_include_rm secs 0"	'rm -rf $W/u'
)

for v in base main; do
	env_of=${v^^}_ENV
	( [ -z "${!env_of:-}" ] || export ${!env_of}
	  cluster_up "$(tree_of $v)" /tmp/sab-$v ) || { echo "$v: up failed"; exit 1; }
	mkdir /tmp/sab-$v/mnt/w
done
for r in $(seq "$N"); do
	if [ $((r % 2)) = 1 ]; then order="base main"; else order="main base"; fi
	for ((i = 0; i < ${#STEPS[@]}; i += 2)); do
		read -r name kind count <<< "${STEPS[i]}"
		[[ "$name $kind" =~ ${ONLY:-.} ]] || continue
		for v in $order; do
			if [ "$name" = FIO ]; then fio_iops $v $r "$kind" "$count"
			else run $v $r "$name" "$kind" "$count" "${STEPS[i + 1]}"; fi
		done
	done
done
