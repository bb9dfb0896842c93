#!/bin/bash
# bench/smallfiles_ab.sh N TREE_A TREE_B — the small-file steps of
# ../shared/bench/workload.sh and bench/run.sh on a fresh local cluster of
# each tree's own build (scripts/local-cluster, goal 2, 3 workers), A and
# B alternated (the order flipping each round), N rounds. One line per
# cluster: "TREE rK create_4k files/s small_create files/s ls_l s stat
# ops/s read files/s delete files/s untar s du_s s diff_r s rename
# ops/s" — python creating 5,000
# files of 4 KiB (run.sh's create_4k_files), then workload.sh's 5,000
# printf files, `ls -l`, `stat` of each, `cat` of all, `rm -f`, `tar -x`
# of WL_CACHE's tree.tar, `du -s` and `diff -r` against WL_CACHE's ref of
# what it made (after a `sync -f`), and 1,000 renames by perl of files
# `: >` made just before (its rename_1000), every cache dropped before
# each step but the delete and the renames. Compare medians; the
# machine's speed swings.
set -u
N=${1:?usage: bench/smallfiles_ab.sh N TREE_A TREE_B}; A=$(cd "$2" && pwd); B=$(cd "$3" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$HERE/bench/lib.sh"
TAR=${WL_CACHE:-/tmp/wl-cache}/tree.tar
REF=${WL_CACHE:-/tmp/wl-cache}/ref
[ -f "$TAR" ] && [ -d "$REF" ] || { echo "no $TAR or $REF: run workload.sh (or bench/compare.sh) once"; exit 2; }
read -r TAR_TOP _ < "$TAR.info"
PAD=$(head -c 3000 /dev/zero | tr '\0' 'x')$(head -c 1085 /dev/zero | tr '\0' 'y')
export PAD
D=/tmp/smallfiles-ab
trap 'cluster_down "$A" $D; cluster_down "$B" $D' EXIT
for r in $(seq "$N"); do
	if [ $((r % 2)) = 1 ]; then order=("$A" "$B"); else order=("$B" "$A"); fi
	for T in "${order[@]}"; do
		cluster_up "$T" $D || { echo "$T: cluster did not start"; continue; }
		M=$D/mnt
		line="$T r$r"
		s=$(now)
		/usr/bin/python3 - "$M/c" <<'PY'
import os, sys
d = sys.argv[1]
os.mkdir(d)
buf = os.urandom(4096)
for i in range(5000):
    fd = os.open("%s/f%d" % (d, i), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, buf)
    os.close(fd)
PY
		e=$(now); line="$line create_4k $(rate 5000 "$s" "$e")"
		mkdir "$M/small"; drop_caches
		s=$(now)
		(cd "$M/small" && for ((i = 1; i <= 5000; i++)); do
			printf -v n "f%05d" "$i"; printf "file %05d\n%s" "$i" "$PAD" > "$n"; done)
		e=$(now); line="$line small_create $(rate 5000 "$s" "$e")"
		drop_caches; s=$(now); ls -l "$M/small" > /dev/null; e=$(now)
		line="$line ls_l $(secs "$s" "$e")"
		drop_caches; s=$(now); find "$M/small" -type f -print0 | xargs -0 stat -c %s > /dev/null; e=$(now)
		line="$line stat $(rate 5000 "$s" "$e")"
		drop_caches; s=$(now); (cd "$M/small" && cat f* > /dev/null); e=$(now)
		line="$line read $(rate 5000 "$s" "$e")"
		s=$(now); (cd "$M/small" && rm -f f*); e=$(now)
		line="$line delete $(rate 5000 "$s" "$e")"
		mkdir "$M/tar"; drop_caches; s=$(now); tar -xf "$TAR" -C "$M/tar"; e=$(now)
		line="$line untar $(secs "$s" "$e")"
		sync -f "$M/tar"; drop_caches; s=$(now); du -s "$M/tar" > /dev/null; e=$(now)
		line="$line du_s $(secs "$s" "$e")"
		drop_caches; s=$(now)
		diff -r --no-dereference "$REF/$TAR_TOP" "$M/tar/$TAR_TOP" > /dev/null 2>&1 ||
			echo "$T: diff -r found differences"
		e=$(now); line="$line diff_r $(secs "$s" "$e")"
		mkdir "$M/ren"
		(cd "$M/ren" && for ((i = 1; i <= 1000; i++)); do : > "a$i"; done)
		s=$(now)
		(cd "$M/ren" && perl -e 'for (1..1000) { rename("a$_", "b$_") or exit 1 }') ||
			echo "$T: rename failed"
		e=$(now); line="$line rename $(rate 1000 "$s" "$e")"
		echo "$line"
		cluster_down "$T" $D
	done
done
