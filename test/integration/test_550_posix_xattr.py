"""Extended attributes and POSIX ACLs, on a local directory and on BigFS
(posix_fixtures.fsroot).

user.* and trusted.* are stored as given; the kernel checks the
namespaces' rules (trusted.* for CAP_SYS_ADMIN, user.* only on files and
directories) and the 64 KiB / 255-byte limits. ACLs are set and read with
setfacl/getfacl (package acl) and enforced by the kernel
(FUSE_CAP_POSIX_ACL); BigFS keeps the mode in sync with the access ACL and
passes default ACLs down. BigFS's own settings live in the reserved
bigfs.* namespace: unknown names there are ENOTSUP, read-only ones EPERM.
"""

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import stat
import subprocess

import pytest

from posix_fixtures import fsroot, on_bigfs  # noqa: F401  (fixtures)

NOBODY = 65534
OTHER = 23456
GROUP = 4242
PY = "/usr/bin/python3"
XATTR_CREATE, XATTR_REPLACE = 1, 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

needs_acl_tools = pytest.mark.skipif(not shutil.which("setfacl"),
                                     reason="setfacl/getfacl missing (package acl)")


def err(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]


def raw_getxattr(path, name, size):
    """getxattr(2) with an explicit buffer size: (result, errno name)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = _libc.getxattr(os.fsencode(path), name.encode(), buf if size else None,
                       ctypes.c_size_t(size))
    return (n, 0) if n >= 0 else (n, errno.errorcode[ctypes.get_errno()])


def raw_listxattr(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = _libc.listxattr(os.fsencode(path), buf if size else None, ctypes.c_size_t(size))
    return (n, 0) if n >= 0 else (n, errno.errorcode[ctypes.get_errno()])


def as_user(cwd, code, uid=NOBODY, gid=NOBODY, groups=()):
    prelude = ("import errno, json, os\n"
               "def err(fn, *a, **kw):\n"
               "    try:\n        fn(*a, **kw)\n        return 0\n"
               "    except OSError as e:\n        return errno.errorcode[e.errno]\n"
               "out = {}\n")
    r = subprocess.run([PY, "-c", prelude + code + "\nprint(json.dumps(out))"], cwd=cwd,
                       user=uid, group=gid, extra_groups=list(groups), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def getfacl(path):
    r = subprocess.run(["getfacl", "-cn", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.splitlines() if l]


def setfacl(*args):
    return subprocess.run(["setfacl"] + list(args), capture_output=True, text=True).returncode


def test_user_xattrs(fsroot):
    p = os.path.join(fsroot, "f")
    open(p, "w").close()
    os.setxattr(p, "user.a", b"1")
    os.setxattr(p, "user.empty", b"")
    os.setxattr(p, "user.bin", bytes(range(256)))
    assert os.getxattr(p, "user.a") == b"1"
    assert os.getxattr(p, "user.empty") == b""
    assert os.getxattr(p, "user.bin") == bytes(range(256))
    assert sorted(os.listxattr(p)) == ["user.a", "user.bin", "user.empty"]
    assert err(os.setxattr, p, "user.a", b"2", XATTR_CREATE) == "EEXIST"
    assert err(os.setxattr, p, "user.new", b"2", XATTR_REPLACE) == "ENODATA"
    os.setxattr(p, "user.a", b"22", XATTR_REPLACE)
    os.setxattr(p, "user.c", b"3", XATTR_CREATE)
    assert os.getxattr(p, "user.a") == b"22"
    os.removexattr(p, "user.a")
    assert err(os.getxattr, p, "user.a") == "ENODATA"
    assert err(os.removexattr, p, "user.a") == "ENODATA"
    assert sorted(os.listxattr(p)) == ["user.bin", "user.c", "user.empty"]
    # directories too; symlinks refuse user.*
    d = os.path.join(fsroot, "d")
    os.mkdir(d)
    os.setxattr(d, "user.dir", b"yes")
    assert os.getxattr(d, "user.dir") == b"yes"
    ln = os.path.join(fsroot, "ln")
    os.symlink("f", ln)
    assert err(os.setxattr, ln, "user.x", b"1", follow_symlinks=False) == "EPERM"
    # kept across a rename
    os.rename(p, p + ".moved")
    assert os.getxattr(p + ".moved", "user.c") == b"3"


def test_trusted_xattrs_are_for_root(fsroot):
    p = os.path.join(fsroot, "t")
    with open(p, "w") as f:
        f.write("x")
    os.chmod(p, 0o666)
    os.setxattr(p, "trusted.secret", b"root only")
    os.setxattr(p, "user.visible", b"all")
    assert os.getxattr(p, "trusted.secret") == b"root only"
    assert "trusted.secret" in os.listxattr(p)
    out = as_user(fsroot, r"""
out["get"] = err(os.getxattr, "t", "trusted.secret")
out["set"] = err(os.setxattr, "t", "trusted.mine", b"1")
out["user_get"] = os.getxattr("t", "user.visible").decode()
out["user_set"] = err(os.setxattr, "t", "user.mine", b"1")
""")
    assert out == {"get": "ENODATA", "set": "EPERM", "user_get": "all", "user_set": 0}
    os.chmod(p, 0o644)
    out = as_user(fsroot, r"""
out["user_set_ro"] = err(os.setxattr, "t", "user.other", b"1")
""")
    assert out == {"user_set_ro": "EACCES"}


def test_xattr_size_limits(fsroot):
    p = os.path.join(fsroot, "s")
    open(p, "w").close()
    assert err(os.setxattr, p, "user.big", b"x" * 65537) == "E2BIG"
    assert err(os.setxattr, p, "user." + "n" * 251, b"1") == "ERANGE"   # 256 bytes
    os.setxattr(p, "user." + "n" * 250, b"1")                           # 255 bytes
    os.setxattr(p, "user.v", b"v" * 3000)
    if on_bigfs(p):          # a local ext4 without ea_inode stops near 4 KiB
        os.setxattr(p, "user.max", b"m" * 65536)
        assert os.getxattr(p, "user.max") == b"m" * 65536
    assert raw_getxattr(p, "user.v", 0) == (3000, 0)           # size query
    assert raw_getxattr(p, "user.v", 100) == (-1, "ERANGE")
    assert raw_getxattr(p, "user.v", 3000) == (3000, 0)
    assert raw_getxattr(p, "user.nope", 0) == (-1, "ENODATA")
    total, e = raw_listxattr(p, 0)
    assert e == 0 and total == sum(len(n) + 1 for n in os.listxattr(p))
    assert raw_listxattr(p, total - 1) == (-1, "ERANGE")
    assert raw_listxattr(p, total) == (total, 0)


@needs_acl_tools
def test_access_acl_sets_mode_and_is_enforced(fsroot):
    p = os.path.join(fsroot, "doc")
    with open(p, "w") as f:
        f.write("text")
    os.chmod(p, 0o600)
    assert setfacl("-m", "u:%d:r,g:%d:rw" % (NOBODY, GROUP), p) == 0
    assert getfacl(p) == ["user::rw-", "user:%d:r--" % NOBODY, "group::---",
                          "group:%d:rw-" % GROUP, "mask::rw-", "other::---"]
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o660       # group bits = mask
    assert "system.posix_acl_access" in os.listxattr(p)
    out = as_user(fsroot, r"""
out["read"] = open("doc").read()
out["write"] = err(open, "doc", "a")
""")
    assert out == {"read": "text", "write": "EACCES"}
    out = as_user(fsroot, r"""
out["read"] = err(open, "doc")
""", uid=OTHER, gid=OTHER)
    assert out == {"read": "EACCES"}
    out = as_user(fsroot, r"""
with open("doc", "a") as f:
    f.write("+group")
out["ok"] = 1
""", uid=OTHER, gid=OTHER, groups=[GROUP])
    assert out == {"ok": 1}
    # chmod moves the mask; the named entries lose their effect
    os.chmod(p, 0o600)
    assert getfacl(p)[4] == "mask::---"
    out = as_user(fsroot, 'out["read"] = err(open, "doc")')
    assert out == {"read": "EACCES"}
    # back to a plain mode
    assert setfacl("-b", p) == 0
    assert getfacl(p) == ["user::rw-", "group::---", "other::---"]
    assert "system.posix_acl_access" not in os.listxattr(p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    # an ACL that says no more than the mode is just the mode
    assert setfacl("-m", "u::rwx,g::r-x,o::r--", p) == 0
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o754
    assert "system.posix_acl_access" not in os.listxattr(p)


@needs_acl_tools
def test_default_acl_is_inherited(fsroot):
    d = os.path.join(fsroot, "shared")
    os.mkdir(d, 0o750)
    assert setfacl("-d", "-m", "u:%d:rwx,g::r-x,o::---" % NOBODY, d) == 0
    old = os.umask(0o077)          # a default ACL replaces the umask
    try:
        with open(os.path.join(d, "file"), "w"):
            pass
        os.mkdir(os.path.join(d, "sub"))
        fd = os.open(os.path.join(d, "exe"), os.O_CREAT | os.O_WRONLY, 0o700)
        os.close(fd)
    finally:
        os.umask(old)
    f = os.path.join(d, "file")
    assert getfacl(f) == ["user::rw-", "user:%d:rwx\t#effective:rw-" % NOBODY,
                          "group::r-x\t#effective:r--", "mask::rw-", "other::---"]
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o660
    sub = os.path.join(d, "sub")
    assert getfacl(sub) == ["user::rwx", "user:%d:rwx" % NOBODY, "group::r-x", "mask::rwx",
                            "other::---", "default:user::rwx",
                            "default:user:%d:rwx" % NOBODY, "default:group::r-x",
                            "default:mask::rwx", "default:other::---"]
    assert stat.S_IMODE(os.stat(sub).st_mode) == 0o770
    assert stat.S_IMODE(os.stat(os.path.join(d, "exe")).st_mode) == 0o700
    # the named user may now write the new file though "other" has nothing
    os.chmod(d, 0o755)
    out = as_user(d, r"""
with open("file", "a") as f:
    f.write("by nobody")
out["ok"] = 1
""")
    assert out == {"ok": 1}
    # a default ACL belongs on directories only
    assert setfacl("-d", "-m", "u:%d:r" % NOBODY, f) != 0
    # removing the default ACL: new entries get the umask again
    assert setfacl("-k", d) == 0
    assert "system.posix_acl_default" not in os.listxattr(d)
    old = os.umask(0o027)
    try:
        open(os.path.join(d, "plain"), "w").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(d, "plain")).st_mode) == 0o640
    assert "system.posix_acl_access" not in os.listxattr(os.path.join(d, "plain"))


def test_bigfs_namespace_is_reserved(fsroot):
    if not on_bigfs(fsroot):
        pytest.skip("bigfs.* exists only on BigFS")
    p = os.path.join(fsroot, "f")
    with open(p, "w") as f:
        f.write("x")
    assert os.getxattr(fsroot, "bigfs.goal").strip() in (b"1", b"2", b"3")
    assert err(os.setxattr, p, "bigfs.whatever", b"1") == errno.errorcode[errno.EOPNOTSUPP]
    assert err(os.setxattr, p, "bigfs.locations", b"1") == "EPERM"
    assert err(os.removexattr, p, "bigfs.goal") == "EPERM"
    assert err(os.getxattr, p, "bigfs.whatever") == "ENODATA"
    assert err(os.setxattr, p, "bigfs.goal", b"0") == "EINVAL"
    assert not [n for n in os.listxattr(p) if n.startswith("bigfs.")]
