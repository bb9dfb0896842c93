"""Real programs from Debian working on the mount, on a local directory and
on BigFS (see posix_fixtures.py): git (init, add, commit, log, gc, fsck,
clone from the mount to the mount), sqlite3 (a table, 1,000 inserts in one
transaction, integrity_check; journal_mode WAL too), rsync -a then a
--checksum dry run with nothing to do, tar of /usr/include/linux into the
mount and back, make building and running a small C program.

The programs come from scripts/install-deps.sh (git, sqlite3, rsync, tar,
build-essential for make and cc)."""

import os
import shutil
import stat
import subprocess

import pytest

from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixture)

TOOLS = ["git", "sqlite3", "rsync", "tar", "make", "cc", "diff"]


@pytest.fixture(autouse=True)
def _tools():
    missing = [t for t in TOOLS if not shutil.which(t)]
    assert not missing, "missing programs %s: run scripts/install-deps.sh" % missing


def run(argv, cwd=None, env=None, input=None, timeout=120):
    """Run a program; fail with its output when it exits non-zero."""
    p = subprocess.run(argv, cwd=cwd, env=env, input=input, capture_output=True,
                       timeout=timeout)
    assert p.returncode == 0, "%s exited %d\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, argv)), p.returncode, p.stdout.decode(errors="replace")[-2000:],
        p.stderr.decode(errors="replace")[-2000:])
    return p.stdout.decode(errors="replace")


def git_env(tmp_path):
    env = dict(os.environ)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Test",
               GIT_AUTHOR_EMAIL="test@example.com", GIT_COMMITTER_NAME="Test",
               GIT_COMMITTER_EMAIL="test@example.com", LC_ALL="C")
    return env


def write(path, data, mode=None):
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


# --------------------------------------------------------------------------


def test_595_git(fsroot, tmp_path):
    env = git_env(tmp_path)
    repo = os.path.join(fsroot, "repo")
    run(["git", "init", "-q", "-b", "main", repo], env=env)
    # a few commits with files in folders, an executable and a symlink
    os.makedirs(os.path.join(repo, "src", "lib"))
    for i in range(3):
        for j in range(20):
            write(os.path.join(repo, "src", "lib", "m%02d.c" % j),
                  b"/* commit %d */\nint f%d(void) { return %d; }\n" % (i, j, i * j))
        write(os.path.join(repo, "README"), b"version %d\n" % i)
        write(os.path.join(repo, "run.sh"), b"#!/bin/sh\necho %d\n" % i, 0o755)
        if i == 1:
            os.symlink("README", os.path.join(repo, "link"))
        write(os.path.join(repo, "blob.bin"), os.urandom(300000))
        run(["git", "add", "-A"], cwd=repo, env=env)
        run(["git", "commit", "-q", "-m", "commit %d" % i], cwd=repo, env=env)
    log = run(["git", "log", "--format=%s"], cwd=repo, env=env).split("\n")
    assert log[:3] == ["commit 2", "commit 1", "commit 0"]
    assert run(["git", "status", "--porcelain"], cwd=repo, env=env) == ""
    assert run(["git", "show", "HEAD~1:README"], cwd=repo, env=env) == "version 1\n"
    # gc packs the loose objects (renames, hard links, fsync of pack files)
    run(["git", "gc", "-q", "--aggressive", "--prune=now"], cwd=repo, env=env)
    packs = os.listdir(os.path.join(repo, ".git", "objects", "pack"))
    assert any(p.endswith(".pack") for p in packs) and any(p.endswith(".idx") for p in packs)
    run(["git", "fsck", "--full", "--strict"], cwd=repo, env=env)
    assert run(["git", "status", "--porcelain"], cwd=repo, env=env) == ""

    # clone from the mount to the mount: a local clone (hard links objects)
    # and one through the pack protocol
    for opts, name in (([], "clone1"), (["--no-local"], "clone2")):
        dst = os.path.join(fsroot, name)
        run(["git", "clone", "-q"] + opts + [repo, dst], env=env)
        run(["git", "fsck", "--full"], cwd=dst, env=env)
        assert run(["git", "log", "--format=%s"], cwd=dst, env=env).split("\n")[:3] == \
            ["commit 2", "commit 1", "commit 0"]
        assert run(["git", "status", "--porcelain"], cwd=dst, env=env) == ""
        run(["diff", "-r", "--no-dereference", "-x", ".git", repo, dst])
        assert os.stat(os.path.join(dst, "run.sh")).st_mode & stat.S_IXUSR
        assert os.readlink(os.path.join(dst, "link")) == "README"
    # a commit in a clone, pulled back
    c1 = os.path.join(fsroot, "clone1")
    write(os.path.join(c1, "new.txt"), b"from the clone\n")
    run(["git", "add", "new.txt"], cwd=c1, env=env)
    run(["git", "commit", "-q", "-m", "in clone"], cwd=c1, env=env)
    run(["git", "pull", "-q", "--ff-only", c1, "main"], cwd=repo, env=env)
    with open(os.path.join(repo, "new.txt"), "rb") as f:
        assert f.read() == b"from the clone\n"


SQL_FILL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, val BLOB);
CREATE INDEX t_name ON t(name);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
  INSERT INTO t(id, name, val) SELECT i, 'name-' || i, randomblob(200 + i % 300) FROM n;
COMMIT;
"""


@pytest.mark.parametrize("fsroot,journal", [
    ("local", "delete"), ("local", "wal"), ("bigfs", "delete"), ("bigfs", "wal"),
], indirect=["fsroot"])
def test_596_sqlite3(fsroot, journal):
    db = os.path.join(fsroot, "test.db")
    out = run(["sqlite3", db], input=("PRAGMA journal_mode=%s;\n" % journal +
                                      SQL_FILL).encode())
    assert out.strip() == journal
    # 1,000 single-statement transactions too (each one a journal cycle)
    stmts = "".join("INSERT INTO t(name) VALUES('single-%d');\n" % i for i in range(200))
    run(["sqlite3", db], input=stmts.encode())
    out = run(["sqlite3", db, "PRAGMA integrity_check; SELECT count(*), sum(length(val)) "
               "FROM t; SELECT name FROM t WHERE id = 777; PRAGMA journal_mode;"])
    lines = out.split("\n")
    assert lines[0] == "ok"
    count, total = lines[1].split("|")
    assert int(count) == 1200
    assert int(total) == sum(200 + i % 300 for i in range(1, 1001))
    assert lines[2] == "name-777"
    assert lines[3] == journal
    # an update in a transaction that is rolled back leaves nothing behind
    run(["sqlite3", db], input=b"BEGIN; DELETE FROM t; ROLLBACK;")
    assert run(["sqlite3", db, "SELECT count(*) FROM t;"]).strip() == "1200"
    # a second process reads while the first holds a write transaction
    # open (WAL: readers are not blocked)
    if journal == "wal":
        w = subprocess.Popen(["sqlite3", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        w.stdin.write(b".timeout 5000\nBEGIN IMMEDIATE; INSERT INTO t(name) VALUES('pending');"
                      b" SELECT 'in transaction';\n")
        w.stdin.flush()
        try:
            assert w.stdout.readline() == b"in transaction\n"
            assert run(["sqlite3", "-cmd", ".timeout 5000", db,
                        "SELECT count(*) FROM t;"]).strip() == "1200"
        finally:
            w.stdin.write(b"COMMIT;\n")
            w.stdin.close()
            w.wait(60)
        assert w.returncode == 0, w.stderr.read()
        assert run(["sqlite3", db, "SELECT count(*) FROM t;"]).strip() == "1201"
    run(["sqlite3", db, "VACUUM;"])
    assert run(["sqlite3", db, "PRAGMA integrity_check;"]).strip() == "ok"


def make_tree(root):
    """A source tree with what rsync -a carries: folders, files of several
    sizes and modes, an empty folder, symlinks, a hard link, old mtimes."""
    os.makedirs(os.path.join(root, "a", "b", "c"))
    os.makedirs(os.path.join(root, "empty"))
    for i in range(60):
        d = os.path.join(root, ["a", "a/b", "a/b/c", "."][i % 4])
        write(os.path.join(d, "f%02d.txt" % i), (b"line %d\n" % i) * (i * 37))
    write(os.path.join(root, "big.bin"), os.urandom(5 * (1 << 20) + 3))
    write(os.path.join(root, "private"), b"secret", 0o600)
    write(os.path.join(root, "script"), b"#!/bin/sh\n", 0o755)
    os.symlink("a/b/f01.txt", os.path.join(root, "rel-link"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling"))
    os.link(os.path.join(root, "script"), os.path.join(root, "script-hardlink"))
    os.chmod(os.path.join(root, "a", "b"), 0o750)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            os.utime(os.path.join(dirpath, n), (1_500_000_000, 1_600_000_000), follow_symlinks=False)
    os.utime(os.path.join(root, "a", "b", "c"), (1_500_000_000, 1_400_000_000))


def test_597_rsync(fsroot, tmp_path):
    src = str(tmp_path / "src")
    make_tree(src)
    dst = os.path.join(fsroot, "dst")
    run(["rsync", "-aH", src + "/", dst + "/"])
    # a second run with checksums has nothing to do
    out = run(["rsync", "-aH", "--checksum", "--dry-run", "--itemize-changes",
               src + "/", dst + "/"])
    assert out == "", "rsync still finds differences:\n" + out
    run(["diff", "-r", "--no-dereference", src, dst])
    st = os.lstat(os.path.join(dst, "f03.txt"))
    assert st.st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.lstat(os.path.join(dst, "private")).st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(os.path.join(dst, "a", "b")).st_mode) == 0o750
    assert os.lstat(os.path.join(dst, "a", "b", "c")).st_mtime == 1_400_000_000
    assert os.readlink(os.path.join(dst, "dangling")) == "/nonexistent/target"
    assert os.lstat(os.path.join(dst, "script")).st_ino == \
        os.lstat(os.path.join(dst, "script-hardlink")).st_ino
    # change some files, rsync again: exactly those are sent
    write(os.path.join(src, "a", "f00.txt"), b"changed\n")
    os.unlink(os.path.join(src, "f03.txt"))
    out = run(["rsync", "-aH", "--delete", "--itemize-changes", src + "/", dst + "/"])
    # itemized lines are "YXcstpoguax NAME" (11 flags and a space); folder
    # lines (NAME ending in /) only say a folder's mtime is set again
    changed = sorted(line[12:] for line in out.splitlines() if not line.endswith("/"))
    assert changed == ["a/f00.txt", "f03.txt"], out
    run(["diff", "-r", "--no-dereference", src, dst])
    out = run(["rsync", "-aH", "--checksum", "--dry-run", "--itemize-changes", "--delete",
               src + "/", dst + "/"])
    assert out == "", out


def test_598_tar_usr_include_linux(fsroot, tmp_path):
    assert os.path.isdir("/usr/include/linux")
    tarball = os.path.join(fsroot, "linux.tar")
    run(["tar", "-C", "/usr/include", "-cf", tarball, "linux"])
    # into the mount: extract the tarball (on the mount) onto the mount
    into = os.path.join(fsroot, "x")
    os.mkdir(into)
    run(["tar", "-C", into, "-xpf", tarball])
    run(["diff", "-r", "--no-dereference", "/usr/include/linux", os.path.join(into, "linux")])
    # and a pipe straight onto the mount, as `tar c | tar x` does
    into2 = os.path.join(fsroot, "y")
    os.mkdir(into2)
    p1 = subprocess.Popen(["tar", "-C", "/usr/include", "-cf", "-", "linux"],
                          stdout=subprocess.PIPE)
    run(["tar", "-C", into2, "-xpf", "-"], input=p1.stdout.read())
    assert p1.wait(60) == 0
    run(["diff", "-r", "--no-dereference", "/usr/include/linux", os.path.join(into2, "linux")])
    # back: a tarball made of the copy on the mount, extracted locally
    back = str(tmp_path / "back")
    os.mkdir(back)
    p1 = subprocess.Popen(["tar", "-C", into, "-cf", "-", "linux"], stdout=subprocess.PIPE)
    run(["tar", "-C", back, "-xpf", "-"], input=p1.stdout.read())
    assert p1.wait(60) == 0
    run(["diff", "-r", "--no-dereference", "/usr/include/linux", os.path.join(back, "linux")])
    # tar's own compare mode agrees (contents, sizes, modes, mtimes)
    run(["tar", "-C", into, "--compare", "-f", tarball])


MAKEFILE = b"""\
CFLAGS = -O2 -Wall -Werror
hello: main.o greet.o
\t$(CC) -o $@ main.o greet.o
%.o: %.c greet.h
\t$(CC) $(CFLAGS) -c -o $@ $<
clean:
\trm -f hello *.o
"""

MAIN_C = b"""\
#include <stdio.h>
#include "greet.h"
int main(int argc, char **argv)
{
\tprintf("%s %d\\n", greet(), argc);
\treturn 0;
}
"""

GREET_H = b"const char *greet(void);\n"
GREET_C = b'#include "greet.h"\nconst char *greet(void) { return "hello from %s"; }\n'


def test_599_make_builds_and_runs(fsroot):
    proj = os.path.join(fsroot, "proj")
    os.mkdir(proj)
    write(os.path.join(proj, "Makefile"), MAKEFILE)
    write(os.path.join(proj, "main.c"), MAIN_C)
    write(os.path.join(proj, "greet.h"), GREET_H)
    write(os.path.join(proj, "greet.c"), GREET_C % b"the mount")
    out = run(["make", "-C", proj])
    assert "cc" in out
    hello = os.path.join(proj, "hello")
    assert os.stat(hello).st_mode & stat.S_IXUSR
    assert run([hello, "a", "b"]) == "hello from the mount 3\n"
    # up to date: make compares mtimes and finds nothing to do
    out = run(["make", "-C", proj])
    assert "is up to date" in out or "Nothing to be done" in out, out
    # one source changed (and newer): only its object and the program are rebuilt
    st = os.stat(os.path.join(proj, "greet.o"))
    write(os.path.join(proj, "greet.c"), GREET_C % b"a rebuild")
    os.utime(os.path.join(proj, "greet.c"), ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    out = run(["make", "-C", proj])
    assert "greet.o" in out and "main.o greet.o" in out and "-c -o main.o" not in out, out
    assert run([hello]) == "hello from a rebuild 1\n"
    run(["make", "-C", proj, "clean"])
    assert sorted(os.listdir(proj)) == ["Makefile", "greet.c", "greet.h", "main.c"]
