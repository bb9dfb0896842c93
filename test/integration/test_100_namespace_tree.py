"""Namespace operations on the mount, checked with the ordinary tools users
run: mkdir -p, mv of files and folders across folders, rm -r of a tree of
1,000 files, ls -R, symlinks, hard links, chmod, truncate, rename flags."""

import errno
import os
import stat
import subprocess

from conftest import errno_of, sha256_file, write_random_file


def ls_R(path):
    """The set of relative paths under path, from `ls -R` (the tool users
    run) -- directories end with '/'."""
    out = subprocess.run(["ls", "-R", "-p", path], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    found = set()
    cur = None
    for line in out.splitlines():
        if line.endswith(":") and line[:-1].startswith(path):
            cur = os.path.relpath(line[:-1], path)
            continue
        if not line:
            continue
        rel = line if cur in (None, ".") else os.path.join(cur, line)
        found.add(rel)
    return found


def walk_set(path):
    found = set()
    for root, dirs, files in os.walk(path):
        rel = os.path.relpath(root, path)
        for d in dirs:
            found.add(os.path.normpath(os.path.join(rel, d)) + "/")
        for f in files:
            found.add(os.path.normpath(os.path.join(rel, f)))
    return found


def test_101_mkdir_p_and_files(mnt):
    deep = os.path.join(mnt, "a", "b", "c", "d")
    subprocess.run(["mkdir", "-p", deep], check=True, timeout=30)
    assert os.path.isdir(deep)
    with open(os.path.join(deep, "f.txt"), "w") as f:
        f.write("hello bigfs\n")
    with open(os.path.join(deep, "f.txt")) as f:
        assert f.read() == "hello bigfs\n"
    st = os.stat(os.path.join(deep, "f.txt"))
    assert stat.S_ISREG(st.st_mode)
    assert st.st_size == 12
    assert ls_R(os.path.join(mnt, "a")) == {"b/", "b/c/", "b/c/d/", "b/c/d/f.txt"}
    # mkdir -p of an existing tree succeeds and changes nothing
    subprocess.run(["mkdir", "-p", deep], check=True, timeout=30)
    assert os.listdir(deep) == ["f.txt"]


def test_102_mv_files_and_dirs_across_dirs(mnt):
    src = os.path.join(mnt, "src")
    dst = os.path.join(mnt, "dst")
    os.makedirs(os.path.join(src, "sub", "inner"))
    os.mkdir(dst)
    shas = {}
    for rel, size in [("one", 100), ("sub/two", 70000), ("sub/inner/three", 1 << 20)]:
        shas[rel] = write_random_file(os.path.join(src, rel), size)

    # file across dirs
    subprocess.run(["mv", os.path.join(src, "one"), os.path.join(dst, "one-moved")],
                   check=True, timeout=30)
    # dir (with contents) across dirs
    subprocess.run(["mv", os.path.join(src, "sub"), dst], check=True, timeout=30)

    assert not os.path.exists(os.path.join(src, "one"))
    assert not os.path.exists(os.path.join(src, "sub"))
    assert os.listdir(src) == []
    assert ls_R(dst) == {"one-moved", "sub/", "sub/two", "sub/inner/", "sub/inner/three"}
    assert ls_R(dst) == walk_set(dst)
    assert sha256_file(os.path.join(dst, "one-moved")) == shas["one"]
    assert sha256_file(os.path.join(dst, "sub", "two")) == shas["sub/two"]
    assert sha256_file(os.path.join(dst, "sub", "inner", "three")) == shas["sub/inner/three"]

    # rename over an existing file replaces it
    with open(os.path.join(dst, "victim"), "w") as f:
        f.write("old")
    os.rename(os.path.join(dst, "one-moved"), os.path.join(dst, "victim"))
    assert sha256_file(os.path.join(dst, "victim")) == shas["one"]
    assert not os.path.exists(os.path.join(dst, "one-moved"))

    # a directory cannot move into its own subtree
    assert errno_of(os.rename, os.path.join(dst, "sub"),
                    os.path.join(dst, "sub", "inner", "loop")) == errno.EINVAL
    # rename onto a non-empty directory fails
    os.mkdir(os.path.join(dst, "emptydir"))
    assert errno_of(os.rename, os.path.join(dst, "emptydir"),
                    os.path.join(dst, "sub")) in (errno.ENOTEMPTY, errno.EEXIST)
    # ... and onto an empty one succeeds
    os.mkdir(os.path.join(dst, "emptydir2"))
    os.rename(os.path.join(dst, "emptydir"), os.path.join(dst, "emptydir2"))
    assert not os.path.exists(os.path.join(dst, "emptydir"))
    assert os.path.isdir(os.path.join(dst, "emptydir2"))


def test_103_rm_r_tree_of_1000_files(mnt):
    root = os.path.join(mnt, "tree")
    expected = set()
    for d in range(20):
        dd = os.path.join(root, "d%02d" % d, "sub")
        os.makedirs(dd)
        expected.add("d%02d/" % d)
        expected.add("d%02d/sub/" % d)
        for k in range(50):
            rel = "d%02d/sub/f%03d" % (d, k)
            with open(os.path.join(root, rel), "w") as f:
                f.write(rel)
            expected.add(rel)
    assert len([e for e in expected if not e.endswith("/")]) == 1000
    assert ls_R(root) == expected
    assert walk_set(root) == expected
    with open(os.path.join(root, "d07", "sub", "f042")) as f:
        assert f.read() == "d07/sub/f042"

    # move half the folders under another one, ls -R agrees
    os.mkdir(os.path.join(root, "moved"))
    for d in range(0, 20, 2):
        os.rename(os.path.join(root, "d%02d" % d), os.path.join(root, "moved", "d%02d" % d))
    moved = {"moved/"}
    for e in expected:
        top = e.split("/")[0]
        if int(top[1:]) % 2 == 0:
            moved.add("moved/" + e)
        else:
            moved.add(e)
    assert ls_R(root) == moved

    subprocess.run(["rm", "-r", root], check=True, timeout=300)
    assert not os.path.exists(root)
    assert os.listdir(mnt) == []
    assert ls_R(mnt) == set()


def test_104_symlink_hardlink_chmod_truncate(mnt):
    f = os.path.join(mnt, "file")
    with open(f, "wb") as fh:
        fh.write(b"0123456789")
    os.symlink("file", os.path.join(mnt, "link"))
    assert os.readlink(os.path.join(mnt, "link")) == "file"
    assert stat.S_ISLNK(os.lstat(os.path.join(mnt, "link")).st_mode)
    with open(os.path.join(mnt, "link"), "rb") as fh:
        assert fh.read() == b"0123456789"

    os.link(f, os.path.join(mnt, "hard"))
    assert os.stat(f).st_nlink == 2
    assert os.stat(f).st_ino == os.stat(os.path.join(mnt, "hard")).st_ino
    os.unlink(f)
    assert os.stat(os.path.join(mnt, "hard")).st_nlink == 1
    with open(os.path.join(mnt, "hard"), "rb") as fh:
        assert fh.read() == b"0123456789"

    os.chmod(os.path.join(mnt, "hard"), 0o640)
    assert stat.S_IMODE(os.stat(os.path.join(mnt, "hard")).st_mode) == 0o640

    os.truncate(os.path.join(mnt, "hard"), 4)
    with open(os.path.join(mnt, "hard"), "rb") as fh:
        assert fh.read() == b"0123"
    os.truncate(os.path.join(mnt, "hard"), 8)
    with open(os.path.join(mnt, "hard"), "rb") as fh:
        assert fh.read() == b"0123\0\0\0\0"

    os.utime(os.path.join(mnt, "hard"), ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    st = os.stat(os.path.join(mnt, "hard"))
    assert st.st_mtime_ns == 1_500_000_000_987_654_321
    assert st.st_atime_ns == 1_600_000_000_123_456_789


def test_105_append_and_overwrite_middle(mnt):
    p = os.path.join(mnt, "f")
    with open(p, "wb") as fh:
        fh.write(b"a" * 100000)
    with open(p, "ab") as fh:
        fh.write(b"b" * 100)
    with open(p, "r+b") as fh:
        fh.seek(50000)
        fh.write(b"XYZ")
    with open(p, "rb") as fh:
        data = fh.read()
    assert len(data) == 100100
    assert data[:50000] == b"a" * 50000
    assert data[50000:50003] == b"XYZ"
    assert data[50003:100000] == b"a" * 49997
    assert data[100000:] == b"b" * 100


def test_106_readdir_large_directory(mnt):
    names = {"entry-%04d-%s" % (i, "x" * (i % 40)) for i in range(1500)}
    for n in names:
        os.close(os.open(os.path.join(mnt, n), os.O_CREAT | os.O_WRONLY, 0o644))
    assert set(os.listdir(mnt)) == names
    out = subprocess.run(["ls", "-1", "-a", mnt], check=True, capture_output=True,
                         text=True, timeout=60).stdout.split("\n")
    out = [x for x in out if x]
    assert out.count(".") == 1 and out.count("..") == 1
    assert set(out) - {".", ".."} == names
    assert len(out) == len(names) + 2
