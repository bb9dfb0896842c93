#!/usr/bin/env bash
# bench/tasks.sh MOUNTPOINT — real tasks on any mounted path, timed.
#
# Prints one `name: seconds s` line per task (lines starting with '#' are
# notes), then `tasks_integrity: ok` or what failed:
#   git_clone     git clone --no-local (upload-pack, no hardlinks) of a local
#                 repository of TASKS_FILES files in TASKS_FILES/20 folders
#                 (default 3000 in 150), a few commits; the clone's checkout
#                 writes every file onto the mount
#   git_status    git status --porcelain in the clone (an lstat of every file)
#   git_checkout  git checkout of a second branch that changes, adds and
#                 removes TASKS_CHANGE files (default 300)
#   make_j2       make -j2 of a C project of TASKS_CFILES .c files (default
#                 100) and a shared header, copied onto the mount first
#                 (untimed); objects, .d files and the binary go to the mount
#   rsync_doc     rsync -a TASKS_DOC/ (default /usr/share/doc) onto the mount;
#                 the source is read once before, so the target is timed
# The page cache is dropped before each task when run as root. Integrity,
# untimed: the clone and the checkout are compared with `diff -r` against
# the branches' trees and `git status --porcelain` must be empty, the
# binary must print the expected sum, the rsync copy must `diff -r` clean
# and hold as many entries as the source.
# The repository and the C project are generated once (deterministic) into
# TASKS_CACHE (default WL_CACHE or /tmp/wl-cache, next to workload.sh's data).
# Tunables: TASKS_FILES, TASKS_CHANGE, TASKS_CFILES, TASKS_DOC, TASKS_CACHE,
# TASKS_STEP_TIMEOUT (600 s per task), TASKS_KEEP (1 = keep the work folder).
# Small check: TASKS_FILES=300 TASKS_CHANGE=60 TASKS_CFILES=10
# TASKS_DOC=/usr/share/doc/git bench/tasks.sh MNT
# shellcheck disable=SC2016 # the timed code is expanded by the child bash
set -uo pipefail
export LC_ALL=C

MNT=${1:?usage: bench/tasks.sh MOUNTPOINT}
TASKS_FILES=${TASKS_FILES:-3000}
TASKS_CHANGE=${TASKS_CHANGE:-300}
TASKS_CFILES=${TASKS_CFILES:-100}
TASKS_DOC=${TASKS_DOC:-/usr/share/doc}
TASKS_CACHE=${TASKS_CACHE:-${WL_CACHE:-/tmp/wl-cache}}
TASKS_STEP_TIMEOUT=${TASKS_STEP_TIMEOUT:-600}
TASKS_KEEP=${TASKS_KEEP:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# git must not read the caller's or the system's configuration
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost

[ -d "$MNT" ] || { echo "tasks.sh: $MNT is not a directory" >&2; exit 2; }
[ -d "$TASKS_DOC" ] || { echo "tasks.sh: $TASKS_DOC is not a directory" >&2; exit 2; }
missing=()
for t in git:git rsync:rsync make:make gcc:gcc diff:diffutils timeout:coreutils; do
	command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "tasks.sh: missing tools (packages: ${missing[*]})" >&2; exit 2
	fi
	echo "# tasks.sh: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "tasks.sh: could not install ${missing[*]}" >&2; exit 2; }
fi

W="$MNT/tasks.$$.$RANDOM"
mkdir "$W" || { echo "tasks.sh: cannot mkdir $W" >&2; exit 2; }
TFILE=$(mktemp /tmp/tasks-time.XXXXXX)
export TFILE
cleanup() {
	[ "$TASKS_KEEP" = 1 ] || rm -rf "$W"
	rm -f "$TFILE" "$TFILE".*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
INTEGRITY_FAIL=""
fail() { INTEGRITY_FAIL="$INTEGRITY_FAIL $1"; echo "# INTEGRITY FAILURE: $1${2:+: $2}"; }
calc() { awk "BEGIN{ printf \"%.${2:-1}f\", $1 }"; }

DROP=no
if [ -w /proc/sys/vm/drop_caches ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then DROP=yes; fi
drop() { sync; [ "$DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches; true; }

# task NAME NOTE 'shell code' ['untimed code'] — drop caches, run the
# untimed code if any (e.g. read the source back into the page cache), time
# the code in a child bash (under timeout), print `NAME: seconds s (NOTE)`;
# RC is the code's status.
task() {
	local name=$1 note=$2 code=$3 pre=${4:-} trc
	drop
	[ -z "$pre" ] || bash -c "$pre"
	rm -f "$TFILE"
	timeout -k 10 "$TASKS_STEP_TIMEOUT" bash -c '
		t0=$EPOCHREALTIME
		eval "$1"; rc=$?
		t1=$EPOCHREALTIME
		echo "$t0 $t1 $rc" > "$TFILE"' _ "$code"
	trc=$?
	if [ -s "$TFILE" ]; then
		read -r a b RC < "$TFILE"
		if [ "$RC" = 0 ]; then echo "$name: $(calc "$b - $a" 3) s${note:+ ($note)}"
		else echo "$name: FAILED(rc=$RC)"; fail "$name" "exit status $RC"; fi
	else
		RC=$trc; echo "$name: TIMEOUT"; fail "$name" "no result within $TASKS_STEP_TIMEOUT s"
	fi
}

echo "# tasks.sh on $MNT ($(stat -f -c %T "$MNT" 2>/dev/null)); source: $(findmnt -n -o SOURCE,FSTYPE --target "$MNT" 2>/dev/null | tr -s ' ')"
echo "# date: $(date -u +%FT%TZ) drop_caches: $DROP; $(git --version), $(make --version | head -n1), gcc $(gcc -dumpfullversion), $(rsync --version | head -n1 | awk '{print $1, $3}')"

# ------------------------------------------------------------ source data
mkdir -p "$TASKS_CACHE"
REPO="$TASKS_CACHE/tasks-repo-$TASKS_FILES-$TASKS_CHANGE.v1"
CPROJ="$TASKS_CACHE/tasks-cproj-$TASKS_CFILES.v1"
if [ ! -s "$REPO/ready" ]; then
	echo "# preparing $REPO ($TASKS_FILES files, a branch changing $TASKS_CHANGE)"
	rm -rf "$REPO" "$REPO.tmp"
	"$PY" - "$REPO.tmp" "$TASKS_FILES" "$TASKS_CHANGE" <<'PYEOF' || { echo "tasks.sh: could not make $REPO" >&2; exit 2; }
# A git repository that looks like a source tree: lib/pNN/mMMM/ folders of
# ~20 text files of 100 B - 24 KiB, three commits on main, and a branch
# `other` that modifies, adds and removes files. Deterministic.
import os, random, subprocess, sys
root, nfiles, nchange = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wt = os.path.join(root, "src")
rng = random.Random(14)
WORDS = ("static int const char void return struct size_t uint64_t if else for while "
         "buf len off node entry table lock unlock read write open close error count "
         "master worker chunk inode parent name flags mode reply request batch").split()
def text(path, tag):
    n = rng.choice([100, 300, 800, 1500, 2500, 4000, 4000, 6000, 9000, 16000, 24000])
    out, size = ["/* %s (%s) */\n" % (path, tag)], 0
    while size < n:
        l = "\t" * rng.randint(0, 3) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + ";\n"
        out.append(l); size += len(l)
    return "".join(out)
def put(rel, tag):
    p = os.path.join(wt, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text(rel, tag))
def git(*a):
    env = dict(os.environ, GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    subprocess.run(("git", "-C", wt) + a, check=True, env=env, stdout=subprocess.DEVNULL)
ndirs = max(1, nfiles // 20)
ntop = max(1, min(10, ndirs))
dirs = ["lib/p%02d/m%03d" % (i % ntop, i) for i in range(ndirs)]
files = ["%s/f%04d.c" % (dirs[i % ndirs], i) if i % 3 else "%s/f%04d.h" % (dirs[i % ndirs], i)
         for i in range(nfiles - 2)]
os.makedirs(wt)
git("init", "-q", "-b", "main")
for f in files:
    put(f, "v1")
put("README", "v1"); put("Makefile", "v1")
git("add", "-A"); git("commit", "-q", "-m", "initial")
for f in rng.sample(files, max(1, nchange // 3)):
    put(f, "v2")
git("commit", "-q", "-a", "-m", "edit")
new = ["%s/n%04d.c" % (rng.choice(dirs), i) for i in range(max(1, nchange // 10))]
for f in new:
    put(f, "v3")
files += new
git("add", "-A"); git("commit", "-q", "-m", "more")
git("checkout", "-q", "-b", "other")
pick = rng.sample(files, max(1, nchange * 2 // 3) + max(1, nchange // 10))
for f in pick[:max(1, nchange * 2 // 3)]:
    put(f, "other")
for f in pick[max(1, nchange * 2 // 3):]:
    os.unlink(os.path.join(wt, f))
for i in range(max(1, nchange // 4)):
    put("%s/o%04d.c" % (rng.choice(dirs), i), "other")
git("add", "-A"); git("commit", "-q", "-m", "other branch")
git("checkout", "-q", "main")
git("gc", "-q")
PYEOF
	for b in main other; do
		mkdir -p "$REPO.tmp/ref-$b"
		git -C "$REPO.tmp/src" archive "$b" | tar -x -C "$REPO.tmp/ref-$b" || exit 2
		git -C "$REPO.tmp/src" rev-parse "$b" > "$REPO.tmp/sha-$b"
	done
	git -C "$REPO.tmp/src" diff --shortstat main other > "$REPO.tmp/diffstat"
	find "$REPO.tmp/ref-main" -type d | wc -l > "$REPO.tmp/ndirs"
	echo ok > "$REPO.tmp/ready"
	mv "$REPO.tmp" "$REPO"
fi
if [ ! -s "$CPROJ/ready" ]; then
	echo "# preparing $CPROJ ($TASKS_CFILES C files)"
	rm -rf "$CPROJ" "$CPROJ.tmp"
	"$PY" - "$CPROJ.tmp" "$TASKS_CFILES" <<'PYEOF' || { echo "tasks.sh: could not make $CPROJ" >&2; exit 2; }
# A C project: include/common.h (a struct, macros, every prototype),
# src/uNNN.c with 6 functions each (loops, a switch, a struct walk),
# src/main.c calling all of them and printing the sum, which is computed
# here too (expected). Deterministic.
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(100)
os.makedirs(root + "/include"); os.makedirs(root + "/src")
NF = 6
protos, calls, total = [], [], 0
def f_value(a, b, c, k, x):
    # what the generated function computes for argument x
    s = 0
    for i in range(x):
        v = (i * a + b) % c
        m = (v + i) % 4
        if m == 0: s += v
        elif m == 1: s += v * 2
        elif m == 2: s -= v // 3
        else: s += k
    cells = [(i * k) % 97 for i in range(16)]
    return s + sum(cells)
for u in range(n):
    body = ['#include "common.h"\n']
    for j in range(NF):
        a, b, c, k = rng.randint(1, 999), rng.randint(0, 999), rng.randint(7, 997), rng.randint(1, 50)
        name = "u%03d_f%d" % (u, j)
        protos.append("long %s(int x);" % name)
        body.append("""
long %(name)s(int x)
{
	struct cell cells[16];
	long s = 0;
	for (int i = 0; i < x; i++) {
		long v = ((long)i * %(a)d + %(b)d) %% %(c)d;
		switch ((int)((v + i) %% 4)) {
		case 0: s += v; break;
		case 1: s += TWICE(v); break;
		case 2: s -= v / 3; break;
		default: s += %(k)d; break;
		}
	}
	for (int i = 0; i < 16; i++) {
		cells[i].key = i;
		cells[i].value = (i * %(k)d) %% 97;
	}
	return s + cell_sum(cells, 16);
}
""" % dict(name=name, a=a, b=b, c=c, k=k))
        calls.append("\ttotal += %s(ARG);" % name)
        total += f_value(a, b, c, k, 1000)
    with open("%s/src/u%03d.c" % (root, u), "w") as f:
        f.write("".join(body))
with open(root + "/include/common.h", "w") as f:
    f.write("""#ifndef COMMON_H
#define COMMON_H
#include <stddef.h>
#define TWICE(v) ((v) * 2)
#define ARG 1000
struct cell { int key; long value; };
static inline long cell_sum(const struct cell *c, size_t n)
{
	long s = 0;
	for (size_t i = 0; i < n; i++)
		s += c[i].value;
	return s;
}
%s
#endif
""" % "\n".join(protos))
with open(root + "/src/main.c", "w") as f:
    f.write('#include <stdio.h>\n#include "common.h"\n\nint main(void)\n{\n\tlong total = 0;\n%s\n'
            '\tprintf("%%ld\\n", total);\n\treturn 0;\n}\n' % "\n".join(calls))
with open(root + "/Makefile", "w") as f:
    f.write("""CC = gcc
CFLAGS = -O2 -g -Wall -Iinclude
SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:src/%.c=obj/%.o)

prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)

obj/%.o: src/%.c | obj
\t$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

obj:
\tmkdir -p obj

-include $(OBJS:.o=.d)
""")
with open(root + "/expected", "w") as f:
    f.write("%d\n" % total)
PYEOF
	echo ok > "$CPROJ.tmp/ready"
	mv "$CPROJ.tmp" "$CPROJ"
fi
export W REPO TASKS_DOC

# ------------------------------------------------------------ git
NDIRS=$(cat "$REPO/ndirs")
task git_clone "$(find "$REPO/ref-main" -type f | wc -l) files, $NDIRS folders" \
	'git clone -q --no-local "$REPO/src" "$W/clone"'
if [ "$RC" = 0 ]; then
	diff -r -q --exclude=.git "$REPO/ref-main" "$W/clone" > "$TFILE.diff" 2>&1 ||
		fail git_clone "diff -r against main: $(head -n 3 "$TFILE.diff" | tr '\n' ' ')"
	[ "$(git -C "$W/clone" rev-parse HEAD)" = "$(cat "$REPO/sha-main")" ] || fail git_clone "HEAD is not main"
fi
task git_status "" 'git -C "$W/clone" status --porcelain > "$TFILE.st"'
if [ "$RC" = 0 ] && [ -s "$TFILE.st" ]; then fail git_status "not clean: $(head -n 3 "$TFILE.st" | tr '\n' ' ')"; fi
task git_checkout "$(sed 's/^ *//' "$REPO/diffstat")" \
	'git -C "$W/clone" checkout -q -b other origin/other'
if [ "$RC" = 0 ]; then
	[ "$(git -C "$W/clone" rev-parse HEAD)" = "$(cat "$REPO/sha-other")" ] || fail git_checkout "HEAD is not other"
	[ -z "$(git -C "$W/clone" status --porcelain)" ] || fail git_checkout "git status not clean"
	diff -r -q --exclude=.git "$REPO/ref-other" "$W/clone" > "$TFILE.diff" 2>&1 ||
		fail git_checkout "diff -r against other: $(head -n 3 "$TFILE.diff" | tr '\n' ' ')"
fi

# ------------------------------------------------------------ make
cp -r "$CPROJ" "$W/cproj" || fail make_j2 "copy of the project"
task make_j2 "$TASKS_CFILES C files" 'make -s -C "$W/cproj" -j2 prog'
if [ "$RC" = 0 ]; then
	got=$("$W/cproj/prog" 2>&1)
	[ "$got" = "$(cat "$CPROJ/expected")" ] || fail make_j2 "prog printed '$got', expected $(cat "$CPROJ/expected")"
	n=$(find "$W/cproj/obj" -name '*.o' | wc -l)
	[ "$n" = $((TASKS_CFILES + 1)) ] || fail make_j2 "$n objects, expected $((TASKS_CFILES + 1))"
fi

# ------------------------------------------------------------ rsync
NDOC=$(find "$TASKS_DOC" | wc -l)
MDOC=$(du -sm "$TASKS_DOC" | cut -f1)
# the source read once into the page cache after the drop: the target is timed
task rsync_doc "$NDOC entries of $TASKS_DOC, $MDOC MiB" 'rsync -a "$TASKS_DOC/" "$W/doc/"' \
	'tar -C "$TASKS_DOC" -cf - . | cat > /dev/null'
if [ "$RC" = 0 ]; then
	n=$(find "$W/doc" | wc -l)
	[ "$n" = "$NDOC" ] || fail rsync_doc "$n entries, expected $NDOC"
	diff -r -q --no-dereference "$TASKS_DOC" "$W/doc" > "$TFILE.diff" 2>&1 ||
		fail rsync_doc "diff -r: $(head -n 3 "$TFILE.diff" | tr '\n' ' ')"
fi

if [ -z "$INTEGRITY_FAIL" ]; then echo "tasks_integrity: ok"; else echo "tasks_integrity: FAILED ($INTEGRITY_FAIL )"; fi
