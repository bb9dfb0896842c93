"""Walks of a tree after the kernel dropped its caches (du, find, ls -R,
git status): a readdir that follows another folder's, or a lookup's
fetch of a listing, asks the master for the listings of the folders the
walk visits next too ("below", docs/api.md), and the mount answers those
folders' readdirs and lookups from them (fuse/dir_cache.h). One master
call per few hundred folders instead of one per folder; and the answers
stay exact: another mount's changes drop the listings at once, this
mount's own drop what they touched.
"""

import errno
import os
import subprocess
import time

from conftest import drop_caches, errno_of
from posix_fixtures import bigfs_pair, second_mount  # noqa: F401  (fixtures)
from test_210_master_calls import delta, route_counts


def make_tree(top, fan=(4, 5, 3), files=3):
    """Folders top/aI/bJ/cK with a few files in each; the set of every
    path below top (relative), as find prints them."""
    paths = set()

    def fill(d, rel):
        for f in range(files):
            name = "f%d" % f
            with open(os.path.join(d, name), "w") as fh:
                fh.write("%s/%s\n" % (rel, name))
            paths.add(os.path.join(rel, name))

    for i in range(fan[0]):
        a = "a%d" % i
        for j in range(fan[1]):
            b = os.path.join(a, "b%d" % j)
            for k in range(fan[2]):
                c = os.path.join(b, "c%d" % k)
                os.makedirs(os.path.join(top, c))
                paths.update({a, b, c})
                fill(os.path.join(top, c), c)
            fill(os.path.join(top, b), b)
    return paths


def find(top):
    out = subprocess.run(["find", ".", "-mindepth", "1"], cwd=top, check=True,
                         capture_output=True, text=True).stdout
    return {p[2:] for p in out.split("\n") if p}


def settle():
    # the last closes' commits and the creates' folder leases (this mount's
    # own news) are behind; the feed told the other mount everything
    time.sleep(1.5)


def test_237_find_after_drop_caches_asks_few_readdirs(cluster, bigfs_pair):
    d1, _ = bigfs_pair
    want = make_tree(d1)
    ndirs = sum(1 for p in want if not os.path.basename(p).startswith("f"))
    settle()
    drop_caches()
    os.stat(d1)
    before = route_counts(cluster)
    assert find(d1) == want
    d_ = delta(before, route_counts(cluster))
    # one readdir per folder without the listings below (105 here); with
    # them the first two folders, then a call per 512 entries or so
    assert ndirs == 4 + 20 + 60
    assert d_.get("/v1/readdir", 0) <= 8, d_
    assert d_.get("/v1/lookup", 0) <= 4, d_
    # du and ls -lR see the same tree, sizes and all
    du = subprocess.run(["du", "-s", "-b", d1], check=True, capture_output=True,
                        text=True).stdout.split()[0]
    assert int(du) > 0
    out = subprocess.run(["ls", "-lR", os.path.join(d1, "a2")], check=True,
                         capture_output=True, text=True).stdout
    assert out.count(" f0\n") == 5 * 3 + 5
    st = os.stat(os.path.join(d1, "a1", "b2", "c0", "f1"))
    assert st.st_size == len("a1/b2/c0/f1\n")


def test_237b_other_mounts_changes_show_in_the_next_walk(cluster, bigfs_pair):
    d1, d2 = bigfs_pair
    want = make_tree(d1, fan=(3, 3, 2))
    settle()
    drop_caches()
    assert find(d1) == want          # mount 1 now holds the listings
    # mount 2 adds, removes and renames names deep in the tree, and grows a file
    with open(os.path.join(d2, "a2", "b1", "c1", "new"), "w") as f:
        f.write("new\n")
    os.unlink(os.path.join(d2, "a0", "b0", "c0", "f0"))
    os.rename(os.path.join(d2, "a1", "b2", "f1"), os.path.join(d2, "a1", "b2", "g1"))
    os.mkdir(os.path.join(d2, "a1", "b0", "c9"))
    with open(os.path.join(d2, "a0", "b2", "c1", "f2"), "a") as f:
        f.write("more\n")
    want |= {"a2/b1/c1/new", "a1/b2/g1", "a1/b0/c9"}
    want -= {"a0/b0/c0/f0", "a1/b2/f1"}
    t0 = time.monotonic()
    while True:
        got = find(d1)
        if got == want:
            break
        assert time.monotonic() - t0 < 3, sorted(got ^ want)
        time.sleep(0.05)
    drop_caches()
    assert find(d1) == want
    assert os.stat(os.path.join(d1, "a0", "b2", "c1", "f2")).st_size == \
        len("a0/b2/c1/f2\nmore\n")
    assert errno_of(os.stat, os.path.join(d1, "a0", "b0", "c0", "f0")) == errno.ENOENT
    assert sorted(os.listdir(os.path.join(d1, "a1", "b0", "c9"))) == []


def test_237c_own_changes_show_at_once(cluster, bigfs_pair):
    d1, _ = bigfs_pair
    want = make_tree(d1, fan=(3, 3, 2))
    settle()
    drop_caches()
    assert find(d1) == want
    # this mount's own changes, deep and shallow, each seen by the next
    # readdir of its folder, and by a walk of everything after them
    c = os.path.join(d1, "a2", "b2", "c1")
    with open(os.path.join(c, "mine"), "w") as f:
        f.write("mine\n")
    assert sorted(os.listdir(c)) == ["f0", "f1", "f2", "mine"]
    os.unlink(os.path.join(c, "f1"))
    assert sorted(os.listdir(c)) == ["f0", "f2", "mine"]
    os.rename(os.path.join(d1, "a0", "b1", "c0", "f2"), os.path.join(c, "moved"))
    assert sorted(os.listdir(c)) == ["f0", "f2", "mine", "moved"]
    assert sorted(os.listdir(os.path.join(d1, "a0", "b1", "c0"))) == ["f0", "f1"]
    b = os.path.join(d1, "a1", "b1")
    os.mkdir(os.path.join(b, "c9"))
    assert sorted(os.listdir(b)) == ["c0", "c1", "c9", "f0", "f1", "f2"]
    os.rmdir(os.path.join(b, "c9"))
    assert sorted(os.listdir(b)) == ["c0", "c1", "f0", "f1", "f2"]
    with open(os.path.join(d1, "a1", "b0", "f0"), "a") as f:
        f.write("grown\n")
    want |= {"a2/b2/c1/mine", "a2/b2/c1/moved"}
    want -= {"a2/b2/c1/f1", "a0/b1/c0/f2"}
    assert find(d1) == want
    out = subprocess.run(["ls", "-l", os.path.join(d1, "a1", "b0")], check=True,
                         capture_output=True, text=True).stdout
    size = [ln.split()[4] for ln in out.splitlines() if ln.endswith(" f0")]
    assert size == [str(len("a1/b0/f0\ngrown\n"))], out
    drop_caches()
    assert find(d1) == want


def test_237d_folder_read_again_from_the_listing(cluster, bigfs_pair):
    """A folder of 900 names (one master page: a listing of more pages is
    not kept) read again, getdents after getdents, from the mount's
    listing: every name once, in the order the master gave the first
    time."""
    d1, d2 = bigfs_pair
    big = os.path.join(d1, "big")
    os.mkdir(big)
    names = ["n%04d-%s" % (i, "x" * (i % 40)) for i in range(900)]
    for n in names:
        open(os.path.join(big, n), "w").close()
    settle()
    drop_caches()
    first = os.listdir(big)
    assert sorted(first) == sorted(names)
    before = route_counts(cluster)
    again = os.listdir(big)
    d_ = delta(before, route_counts(cluster))
    assert again == first
    assert d_.get("/v1/readdir", 0) == 0, d_
    # a name another mount adds shows in the next listing
    open(os.path.join(d2, "big", "zz-late"), "w").close()
    t0 = time.monotonic()
    while "zz-late" not in os.listdir(big):
        assert time.monotonic() - t0 < 3, "another mount's new name not listed"
        time.sleep(0.05)
    assert len(os.listdir(big)) == 901


def test_237e_rm_r_after_a_walk_reads_folders_from_the_listings(cluster, bigfs_pair):
    """rm -r after a walk: this mount's removals change only the folders
    they name, so each folder rm reads next comes from the walk's listing
    (the old build read every folder at the master again: a removal
    counted as a change of every inode). A file with a second name is
    the exception: a removal elsewhere may be of that name, so its
    folder's listing is read again and shows the link count the master
    has."""
    d1, _ = bigfs_pair
    top = os.path.join(d1, "t")
    os.mkdir(top)
    want = make_tree(top)
    twin = os.path.join(top, "a3", "b4", "twin")
    os.link(os.path.join(top, "a0", "b0", "f0"), twin)
    settle()
    drop_caches()
    assert find(top) == want | {"a3/b4/twin"}   # the walk lists every folder
    os.unlink(os.path.join(top, "a0", "b0", "f0"))
    out = subprocess.run(["ls", "-l", os.path.join(top, "a3", "b4")], check=True,
                         capture_output=True, text=True).stdout
    links = [ln.split()[1] for ln in out.splitlines() if ln.endswith(" twin")]
    assert links == ["1"], out
    assert os.stat(twin).st_nlink == 1
    ndirs = 1 + sum(1 for p in want if not os.path.basename(p).startswith("f"))
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    d_ = delta(before, route_counts(cluster))
    assert not os.path.exists(top)
    assert ndirs == 85
    assert d_.get("/v1/readdir", 0) <= 12, d_
    settle()
    drop_caches()
    assert os.listdir(d1) == []


def test_237g_rm_r_of_a_cold_tree_reads_folders_below(cluster, bigfs_pair):
    """rm -r with nothing listed before (the kernel's caches dropped): its
    own removals do not stop the walk from asking for the folders below,
    as a create would (a listing holds through removals elsewhere), so it
    reads a few hundred folders per master call, not one each; and the
    tree is gone, for the other mount too."""
    d1, d2 = bigfs_pair
    top = os.path.join(d1, "t")
    os.mkdir(top)
    # more folders than one answer lists below (FS_BELOW, 512)
    want = make_tree(top, fan=(9, 8, 8), files=1)
    ndirs = 1 + sum(1 for p in want if not os.path.basename(p).startswith("f"))
    settle()
    drop_caches()
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    d_ = delta(before, route_counts(cluster))
    assert not os.path.exists(top)
    assert ndirs == 658
    assert d_.get("/v1/readdir", 0) <= 12, d_
    settle()
    assert os.listdir(d2) == []
    drop_caches()
    assert os.listdir(d1) == []


def test_237h_rm_r_after_a_find_reads_no_folder_at_the_master(cluster, bigfs_pair):
    """rm -r right after a find of a tree of many folders (tar's job in
    the benchmark): every folder comes from the listings the walk kept,
    those the walk read itself too. Removals in one folder do not age
    the listing of another (they were counted in 64 shared slots, so
    once rm had removed in a few dozen folders, the listings the walk
    had read at the master were all old, and each such folder was read
    again with a few hundred folders below it)."""
    d1, d2 = bigfs_pair
    top = os.path.join(d1, "t")
    os.mkdir(top)
    want = make_tree(top, fan=(9, 8, 8), files=4)
    settle()
    drop_caches()
    assert find(top) == want
    before = route_counts(cluster)
    subprocess.run(["rm", "-rf", top], check=True)
    d_ = delta(before, route_counts(cluster))
    assert not os.path.exists(top)
    assert d_.get("/v1/readdir", 0) <= 1, d_
    settle()
    assert os.listdir(d2) == []


def test_237f_folder_read_again_after_own_changes_shows_the_masters_attributes(cluster, bigfs_pair):
    """A folder this mount listed with its own readdir and reads again:
    a file of two names whose other name this mount removed shows link
    count 1; a file this mount wrote and closed since shows its size."""
    d1, _ = bigfs_pair
    a = os.path.join(d1, "fa")
    b = os.path.join(d1, "fb")
    os.mkdir(a)
    os.mkdir(b)
    with open(os.path.join(a, "f"), "w") as f:
        f.write("two names\n")
    os.link(os.path.join(a, "f"), os.path.join(b, "g"))
    fd = os.open(os.path.join(b, "x"), os.O_CREAT | os.O_WRONLY, 0o644)
    settle()

    def ls_l(d):
        out = subprocess.run(["ls", "-l", d], check=True, capture_output=True,
                             text=True).stdout
        return {ln.split()[-1]: (ln.split()[1], ln.split()[4])
                for ln in out.splitlines() if not ln.startswith("total")}

    assert ls_l(b) == {"g": ("2", "10"), "x": ("1", "0")}
    os.unlink(os.path.join(a, "f"))
    os.write(fd, b"hi")
    os.close(fd)
    time.sleep(0.3)       # the queued unlink and commit are on the master
    drop_caches()         # the kernel takes what the mount answers
    assert ls_l(b) == {"g": ("1", "10"), "x": ("1", "2")}
    assert os.stat(os.path.join(b, "g")).st_nlink == 1
    assert os.stat(os.path.join(b, "x")).st_size == 2
