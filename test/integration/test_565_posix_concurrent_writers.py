"""Several writers of one file on one mount, on a local directory and on
BigFS (posix_fixtures.fsroot).

On a local filesystem every descriptor of a file writes into one page
cache: O_APPEND writes from any number of processes and threads land
whole, one after another, and a write through one descriptor is never
undone by older data still buffered behind another. BigFS keeps one write
state per inode and mount (fuse/file_handle.c, struct fh_writer) to give
the same; before it, each descriptor had its own buffers and chunk grant,
and these tests lost lines (NUL bytes where a line should be) or saw an
older write come back.
"""

import hashlib
import os
import random
import subprocess
import threading

from posix_fixtures import fsroot  # noqa: F401  (fixture)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check_records(data, expected):
    """Every record in expected appears exactly once, whole; nothing else."""
    assert b"\0" not in data, "NUL bytes: a write was lost"
    lines = data.split(b"\n")
    assert lines[-1] == b""
    got = sorted(lines[:-1])
    assert len(got) == len(expected)
    assert got == sorted(expected)


def test_shell_appends_two_processes(fsroot):
    # The reproduction: two shell loops appending to one file.
    p = os.path.join(fsroot, "shell.log")
    script = ('for w in a b; do ( for i in $(seq 1 2000); do echo "$w $i" >> %s; done ) & '
              'done; wait' % p)
    subprocess.run(["bash", "-c", script], check=True, timeout=300)
    expected = [("%s %d" % (w, i)).encode() for w in "ab" for i in range(1, 2001)]
    check_records(read(p), expected)
    # and each writer's own lines stay in its order
    lines = read(p).split(b"\n")[:-1]
    for w in (b"a", b"b"):
        mine = [int(x.split()[1]) for x in lines if x.startswith(w + b" ")]
        assert mine == sorted(mine)


def test_append_threads_own_descriptors(fsroot):
    # Four threads, each opening the file for every record (open, write,
    # close, as a logger does), records of different sizes, some longer
    # than one write buffer piece.
    p = os.path.join(fsroot, "threads.log")
    open(p, "w").close()
    expected = []
    lock = threading.Lock()
    errors = []

    def writer(tag):
        rnd = random.Random(tag)
        try:
            for i in range(120):
                size = rnd.choice([10, 100, 4000, 70000])
                body = hashlib.sha256(b"%d-%d" % (tag, i)).hexdigest().encode()
                rec = b"%d %d " % (tag, i) + (body * (size // len(body) + 1))[:size]
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                try:
                    assert os.write(fd, rec + b"\n") == len(rec) + 1
                finally:
                    os.close(fd)
                with lock:
                    expected.append(rec)
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    check_records(read(p), expected)


def test_append_one_descriptor_each_kept_open(fsroot):
    # Three processes, each keeping its O_APPEND descriptor open for the
    # whole run (a daemon's log file).
    p = os.path.join(fsroot, "daemons.log")
    open(p, "w").close()
    code = ("import os,sys\n"
            "fd=os.open(sys.argv[1],os.O_WRONLY|os.O_APPEND)\n"
            "for i in range(800): os.write(fd,b'%s %d\\n'%(sys.argv[2].encode(),i))\n"
            "os.close(fd)\n")
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", code, p, tag])
             for tag in ("x", "y", "z")]
    for pr in procs:
        assert pr.wait(timeout=300) == 0
    expected = [b"%s %d" % (t, i) for t in (b"x", b"y", b"z") for i in range(800)]
    check_records(read(p), expected)


def test_later_write_through_other_descriptor_wins(fsroot):
    # fd1 writes, then fd2 overwrites the same bytes; fd2 is closed first,
    # fd1 last. The file holds fd2's bytes: the older write buffered behind
    # fd1 must not come back at fd1's close.
    p = os.path.join(fsroot, "over")
    open(p, "w").close()
    fd1 = os.open(p, os.O_WRONLY)
    fd2 = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd1, b"A" * (1 << 20), 0)
        os.pwrite(fd2, b"B" * (1 << 20), 0)
        os.close(fd2)
        fd2 = -1
    finally:
        if fd2 >= 0:
            os.close(fd2)
        os.close(fd1)
    assert read(p) == b"B" * (1 << 20)


def test_interleaved_partial_overwrites(fsroot):
    # Small overlapping writes alternating between two descriptors; the
    # result is what one page cache gives: the last write of each byte.
    p = os.path.join(fsroot, "mix")
    open(p, "w").close()
    fds = [os.open(p, os.O_WRONLY), os.open(p, os.O_WRONLY)]
    model = bytearray()
    rnd = random.Random(7)
    try:
        for i in range(400):
            off = rnd.randrange(0, 200000)
            data = bytes([65 + i % 26]) * rnd.randrange(1, 9000)
            os.pwrite(fds[i % 2], data, off)
            if len(model) < off + len(data):
                model.extend(b"\0" * (off + len(data) - len(model)))
            model[off:off + len(data)] = data
    finally:
        for fd in reversed(fds):
            os.close(fd)
    assert read(p) == bytes(model)


def test_read_through_one_descriptor_sees_write_through_other(fsroot):
    # Written through fd1, not closed: fd2 (read-only) reads it at once, and
    # fstat through either shows the size.
    p = os.path.join(fsroot, "seen")
    open(p, "w").close()
    fd1 = os.open(p, os.O_WRONLY)
    fd2 = os.open(p, os.O_RDONLY)
    try:
        os.pwrite(fd1, b"hello world", 0)
        assert os.pread(fd2, 100, 0) == b"hello world"
        os.pwrite(fd1, b"W", 6)
        assert os.pread(fd2, 100, 0) == b"hello World"
        assert os.fstat(fd2).st_size == 11
    finally:
        os.close(fd1)
        os.close(fd2)
