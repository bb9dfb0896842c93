"""Fixtures for the POSIX-semantics tests (test_5xx_posix_*.py).

Every POSIX test runs twice: once on a plain local directory (the test's
temp dir, on the machine's own filesystem) and once on the BigFS mount of
the shared cluster. The local run proves the test itself is right; a test
that passes locally and fails on BigFS is a BigFS bug.

Use in a test module:

    from posix_fixtures import fsroot, on_bigfs   # noqa: F401  (fixtures)

    def test_something(fsroot):
        p = os.path.join(fsroot, "f")
        ...
        if on_bigfs(fsroot): ...   # only where BigFS is allowed to differ

`fsroot` is a fresh, empty directory owned by root, mode 0777 & ~umask.
`bigfs_second_root` (BigFS only) is the same directory seen through a second
mount of the same cluster, for close-to-open and cross-mount tests.
"""

import os
import re

import pytest

_BIGFS_DIRS = set()


def on_bigfs(path):
    """True if path lies under a BigFS test directory."""
    return any(path == d or path.startswith(d + os.sep) for d in _BIGFS_DIRS)


def _test_dir_name(request):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:100]


@pytest.fixture(params=["local", "bigfs"])
def fsroot(request, tmp_path):
    if request.param == "local":
        d = tmp_path / "local"
        d.mkdir()
        return str(d)
    cluster = request.getfixturevalue("cluster")
    d = os.path.join(cluster.mounts[0].path, "posix-" + _test_dir_name(request))
    os.mkdir(d)
    _BIGFS_DIRS.add(d)
    return d


@pytest.fixture(scope="session")
def second_mount(cluster):
    """A second mount of the shared cluster (path of its root)."""
    for m in cluster.mounts[1:]:
        if m.path.endswith("mnt2"):
            return m.path
    return cluster.mount(name="mnt2").path


@pytest.fixture
def bigfs_pair(request, cluster, second_mount):
    """(dir on mount 1, the same dir through mount 2) — BigFS only."""
    name = "pair-" + _test_dir_name(request)
    d1 = os.path.join(cluster.mounts[0].path, name)
    os.mkdir(d1)
    _BIGFS_DIRS.add(d1)
    return d1, os.path.join(second_mount, name)
