"""POSIX permissions on the mount, checked as non-root users.

Every test runs on a local directory and on BigFS (posix_fixtures.fsroot).
Non-root work runs in a child process that starts in the test directory
(so the 0700 temp folders above it do not matter) and then drops to an
unprivileged uid: `nobody` (65534) and a second uid without a passwd entry.
The mount uses default_permissions (+ allow_other as root): the kernel
checks modes, sticky directories and ACLs; BigFS supplies owners, the
umask, setgid-directory inheritance and the setattr that clears
setuid/setgid bits (the kernel sends it, knowing the writer's
capabilities).
"""

import json
import os
import stat
import subprocess

import pytest

from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixtures)

NOBODY = 65534
OTHER = 23456          # a second unprivileged uid (no passwd entry needed)
GROUP = 4242           # a group neither user is in
PY = "/usr/bin/python3"

PRELUDE = r"""
import errno, json, os, sys
def err(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]
out = {}
"""


def as_user(cwd, code, uid=NOBODY, gid=NOBODY, umask=0o022):
    """Run Python `code` as uid:gid (no supplementary groups) with cwd as
    its working directory; the code fills the dict `out`, returned."""
    r = subprocess.run([PY, "-c", PRELUDE + code + "\nprint(json.dumps(out))"],
                       cwd=cwd, user=uid, group=gid, extra_groups=[], umask=umask,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_owner_and_umask_of_new_entries(fsroot):
    os.chmod(fsroot, 0o777)
    out = as_user(fsroot, r"""
fd = os.open("f", os.O_CREAT | os.O_WRONLY, 0o666); os.close(fd)
os.mkdir("d", 0o777)
os.mkfifo("p", 0o666)
os.umask(0)
fd = os.open("g", os.O_CREAT | os.O_WRONLY, 0o640); os.close(fd)
""", umask=0o027)
    assert out == {}
    for name, mode in (("f", 0o640), ("d", 0o750), ("p", 0o640), ("g", 0o640)):
        st = os.lstat(os.path.join(fsroot, name))
        assert (name, stat.S_IMODE(st.st_mode)) == (name, mode)
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)


def test_mode_bits_are_enforced(fsroot):
    for name, mode in (("secret", 0o600), ("public", 0o644), ("shared", 0o666)):
        p = os.path.join(fsroot, name)
        with open(p, "w") as f:
            f.write(name)
        os.chmod(p, mode)
    os.mkdir(os.path.join(fsroot, "ro"), 0o755)
    os.mkdir(os.path.join(fsroot, "noexec"), 0o766)
    out = as_user(fsroot, r"""
out["read_secret"] = err(open, "secret")
out["read_public"] = open("public").read()
out["write_public"] = err(open, "public", "a")
out["write_shared"] = err(lambda: open("shared", "a").write("x"))
out["create_in_ro"] = err(open, "ro/x", "w")
out["list_noexec"] = err(os.stat, "noexec/anything")
out["access"] = [os.access("secret", os.R_OK), os.access("public", os.R_OK),
                 os.access("public", os.W_OK), os.access("shared", os.W_OK),
                 os.access("ro", os.W_OK), os.access("ro", os.X_OK)]
out["chmod_not_owner"] = err(os.chmod, "public", 0o777)
out["chown_not_root"] = err(os.chown, "public", os.getuid(), -1)
out["utime_not_owner"] = err(os.utime, "public", (1, 1))
out["touch_not_owner_writable"] = err(os.utime, "shared", None)
""")
    assert out == {
        "read_secret": "EACCES", "read_public": "public", "write_public": "EACCES",
        "write_shared": 0, "create_in_ro": "EACCES", "list_noexec": "EACCES",
        "access": [False, True, False, True, False, True],
        "chmod_not_owner": "EPERM", "chown_not_root": "EPERM",
        "utime_not_owner": "EPERM", "touch_not_owner_writable": 0,
    }


def test_sticky_directory(fsroot):
    d = os.path.join(fsroot, "tmp")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    assert mode_of(d) == 0o1777
    as_user(d, r"""
open("mine", "w").close(); os.chmod("mine", 0o666)
open("mine2", "w").close()
""", uid=NOBODY)
    out = as_user(d, r"""
out["unlink_other"] = err(os.unlink, "mine")
out["rename_other"] = err(os.rename, "mine", "stolen")
out["replace_other"] = err(lambda: (open("own", "w").close(), os.rename("own", "mine2")))
out["write_other"] = err(lambda: open("mine", "a").write("ok"))
""", uid=OTHER, gid=OTHER)
    assert out == {"unlink_other": "EPERM", "rename_other": "EPERM",
                   "replace_other": "EPERM", "write_other": 0}
    out = as_user(d, r"""
out["unlink_own"] = err(os.unlink, "mine")
out["unlink_other_own"] = err(os.unlink, "own")
""", uid=NOBODY)
    assert out == {"unlink_own": 0, "unlink_other_own": "EPERM"}
    assert sorted(os.listdir(d)) == ["mine2", "own"]
    os.unlink(os.path.join(d, "own"))   # root may


def test_setgid_directory_passes_its_group(fsroot):
    d = os.path.join(fsroot, "proj")
    os.mkdir(d)
    os.chown(d, 0, GROUP)
    os.chmod(d, 0o2777)
    as_user(d, r"""
open("file", "w").close()
os.mkdir("sub")
os.mkdir("sub/deeper")
fd = os.open("sgidfile", os.O_CREAT | os.O_WRONLY, 0o2775); os.close(fd)
""")
    for name in ("file", "sub", "sub/deeper", "sgidfile"):
        st = os.stat(os.path.join(d, name))
        assert (name, st.st_uid, st.st_gid) == (name, NOBODY, GROUP)
    assert mode_of(os.path.join(d, "sub")) & stat.S_ISGID
    assert mode_of(os.path.join(d, "sub/deeper")) & stat.S_ISGID
    assert not mode_of(os.path.join(d, "file")) & stat.S_ISGID
    # not in GROUP: the kernel drops the setgid bit it asked for
    assert mode_of(os.path.join(d, "sgidfile")) == 0o755
    # root creates with its own uid but the directory's group
    with open(os.path.join(d, "rootfile"), "w"):
        pass
    st = os.stat(os.path.join(d, "rootfile"))
    assert (st.st_uid, st.st_gid) == (0, GROUP)


def test_write_and_truncate_clear_setuid(fsroot):
    files = {"suid": 0o4777, "sgid_gx": 0o2777, "sgid_nogx": 0o2767, "both": 0o6777,
             "both_nogx": 0o6767, "trunc": 0o6777, "trunc_nogx": 0o2767, "rootw": 0o6777}
    for name, mode in files.items():
        p = os.path.join(fsroot, name)
        with open(p, "w") as f:
            f.write("data")
        os.chmod(p, mode)
        assert mode_of(p) == mode
    as_user(fsroot, r"""
for name in ("suid", "sgid_gx", "sgid_nogx", "both", "both_nogx"):
    with open(name, "a") as f:
        f.write("more")
os.truncate("trunc", 1)
os.truncate("trunc_nogx", 1)
""")
    with open(os.path.join(fsroot, "rootw"), "a") as f:   # CAP_FSETID: kept
        f.write("more")
    got = {n: mode_of(os.path.join(fsroot, n)) for n in files}
    # Linux 6.x also drops a setgid bit without group-exec when the writer
    # is not in the file's group (the kernel's FUSE code leaves that case
    # to the filesystem).
    assert got == {"suid": 0o777, "sgid_gx": 0o777, "sgid_nogx": 0o767, "both": 0o777,
                   "both_nogx": 0o767, "trunc": 0o777, "trunc_nogx": 0o767, "rootw": 0o6777}
    assert os.path.getsize(os.path.join(fsroot, "suid")) == 8


def test_write_by_group_member_keeps_setgid_without_group_exec(fsroot):
    """The writer is in the file's group: a setgid bit without group-exec
    stays; with group-exec it goes."""
    for name, mode in (("nogx", 0o2666), ("gx", 0o2676)):
        p = os.path.join(fsroot, name)
        open(p, "w").close()
        os.chown(p, NOBODY, GROUP)
        os.chmod(p, mode)
    r = subprocess.run([PY, "-c", "import os\nfor n in ('nogx', 'gx'):\n"
                        "    with open(n, 'a') as f: f.write('x')\n"],
                       cwd=fsroot, user=OTHER, group=GROUP, extra_groups=[],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert mode_of(os.path.join(fsroot, "nogx")) == 0o2666
    assert mode_of(os.path.join(fsroot, "gx")) == 0o676


def test_chown_clears_setuid(fsroot):
    for name, mode in (("a", 0o4755), ("b", 0o2755), ("c", 0o2745), ("d", 0o6711)):
        p = os.path.join(fsroot, name)
        open(p, "w").close()
        os.chmod(p, mode)
        os.chown(p, NOBODY, -1)
    got = {n: mode_of(os.path.join(fsroot, n)) for n in "abcd"}
    assert got == {"a": 0o755, "b": 0o755, "c": 0o2745, "d": 0o711}
    # a directory keeps its bits
    d = os.path.join(fsroot, "dir")
    os.mkdir(d)
    os.chmod(d, 0o2755)
    os.chown(d, NOBODY, -1)
    assert mode_of(d) == 0o2755
    # the owner may give the file to a group it is in; bits go too
    p = os.path.join(fsroot, "own")
    open(p, "w").close()
    os.chown(p, NOBODY, NOBODY)
    os.chmod(p, 0o4755)
    out = as_user(fsroot, r"""
out["chgrp"] = err(os.chown, "own", -1, os.getgid())
out["chgrp_foreign"] = err(os.chown, "own", -1, 4242)
out["mode"] = os.stat("own").st_mode & 0o7777
""")
    assert out == {"chgrp": 0, "chgrp_foreign": "EPERM", "mode": 0o755}


def test_chmod_setgid_needs_group(fsroot):
    os.chmod(fsroot, 0o777)
    out = as_user(fsroot, r"""
open("f", "w").close()
os.chmod("f", 0o2755)
out["own_group"] = os.stat("f").st_mode & 0o7777
""")
    assert out == {"own_group": 0o2755}
    p = os.path.join(fsroot, "f")
    os.chown(p, NOBODY, GROUP)       # root: keeps nothing special (no suid)
    os.chmod(p, 0o755)
    out = as_user(fsroot, r"""
os.chmod("f", 0o2755)
out["foreign_group"] = os.stat("f").st_mode & 0o7777
""")
    assert out == {"foreign_group": 0o755}


def test_allow_other_and_default_permissions_in_mount_options(fsroot):
    if not on_bigfs(fsroot):
        pytest.skip("mount options exist only on the BigFS side")
    st = os.stat(fsroot)
    with open("/proc/self/mountinfo") as f:
        lines = [l.split() for l in f]
    dev = "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    line = next(l for l in lines if l[2] == dev)
    sep = line.index("-")
    super_opts = line[sep + 3].split(",")
    assert line[sep + 1] == "fuse.bigfs"
    assert "default_permissions" in super_opts and "allow_other" in super_opts
