/* Unit tests of master/namespace (with meta_store and chunk_map) against a
 * real SQLite file in a temporary folder: create/lookup, name rules,
 * directory nlink, rmdir/unlink errors, rename (replace, NOREPLACE,
 * EXCHANGE, into its own subtree), readdir cookies under concurrent
 * change, hard links, xattrs and goal inheritance, write grants and
 * leases, garbage queue on unlink, persistence across reopen. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "ns_fixture.h"

static int setup(void **state)
{
	struct ns_fixture *f = calloc(1, sizeof(*f));

	log_init("test_namespace", true, LOG_ERR);
	if (!f || nsf_setup(f, "ns") < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct ns_fixture *f = *state;

	nsf_teardown(f);
	free(f);
	return 0;
}

static uint64_t mkfile(struct ns_fixture *f, uint64_t parent, const char *name)
{
	struct ns_attr a;
	bool created;

	assert_int_equal(ns_create(f->ns, parent, name, 0644, 1, 2, 0, true, &a, &created), 0);
	assert_true(created);
	return a.ino;
}

static uint64_t mkdir_(struct ns_fixture *f, uint64_t parent, const char *name)
{
	struct ns_attr a;

	assert_int_equal(ns_mkdir(f->ns, parent, name, 0755, 0, 0, 0, &a), 0);
	return a.ino;
}

static uint32_t nlink_of(struct ns_fixture *f, uint64_t ino)
{
	struct ns_attr a;

	assert_int_equal(ns_getattr(f->ns, ino, &a), 0);
	return a.nlink;
}

static void test_create_lookup(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a, b;
	bool created;

	assert_int_equal(ns_getattr(f->ns, 1, &a), 0);
	assert_true(S_ISDIR(a.mode));
	assert_int_equal(a.nlink, 2);
	uint64_t ino = mkfile(f, 1, "hello");
	assert_int_equal(ns_lookup(f->ns, 1, "hello", &b), 0);
	assert_int_equal(b.ino, ino);
	assert_true(S_ISREG(b.mode));
	assert_int_equal(b.uid, 1);
	assert_int_equal(b.gid, 2);
	assert_int_equal(b.goal, 2);
	assert_int_equal(ns_create(f->ns, 1, "hello", 0644, 0, 0, 0, true, &a, &created), -EEXIST);
	assert_int_equal(ns_create(f->ns, 1, "hello", 0644, 0, 0, 0, false, &a, &created), 0);
	assert_false(created);
	assert_int_equal(a.ino, ino);
	assert_int_equal(ns_lookup(f->ns, 1, "nope", &a), -ENOENT);
	assert_int_equal(ns_lookup(f->ns, 12345, "x", &a), -ENOENT);
	assert_int_equal(ns_lookup(f->ns, ino, "x", &a), -ENOTDIR);
	assert_int_equal(ns_getattr(f->ns, 999, &a), -ENOENT);
	assert_int_equal(ns_getattr(f->ns, 0, &a), -ENOENT);
	assert_int_equal(ns_getattr(f->ns, UINT64_MAX, &a), -ENOENT);
}

/* write(2)-like calls this process made so far (/proc/self/io syscw). */
static uint64_t write_calls(void)
{
	FILE *fp = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long n = 0;
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "syscw: %llu", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/* A mount's queued unlinks arrive as a batch, applied as groups of ops
 * (meta_group_begin), each op in a savepoint whose first change of a page
 * copies the page to a sub-journal. That journal stays in memory, also
 * after an op of many changes: a group costs a few write calls (its WAL
 * frames in one, wal_buffer.h), not two per page copied to a temporary
 * file (SQLite spills past 64 KiB by default, and keeps the file while
 * the database is locked exclusively: 16 per unlink, a third of the
 * master's time in an rm -r). */
static void test_group_of_unlinks_journals_in_memory(void **state)
{
	struct ns_fixture *f = *state;
	enum { DIRS = 20, FILES = 40, GROUP = 32 };
	uint64_t dir[DIRS];
	char name[32];

	for (int d = 0; d < DIRS; d++) {
		snprintf(name, sizeof(name), "d%d", d);
		dir[d] = mkdir_(f, 1, name);
		for (int i = 0; i < FILES; i++) {
			snprintf(name, sizeof(name), "file-with-a-longer-name-%d", i);
			mkfile(f, dir[d], name);
		}
	}
	/* one op of many changes first (its journal passes 64 KiB: with
	 * locking_mode=EXCLUSIVE SQLite then keeps that file for good) */
	assert_int_equal(meta_group_begin(f->ms), 0);
	assert_int_equal(meta_txn_begin(f->ms, true), 0);
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "file-with-a-longer-name-%d", i);
		assert_int_equal(ns_unlink(f->ns, dir[DIRS - 1], name), 0);
	}
	assert_int_equal(meta_txn_end(f->ms, 0), 0);
	assert_int_equal(meta_group_end(f->ms, 0), 0);
	uint64_t before = write_calls();
	int unlinked = 0;
	for (int g = 0; g < 4; g++) {
		assert_int_equal(meta_group_begin(f->ms), 0);
		for (int k = 0; k < GROUP; k++, unlinked++) {
			snprintf(name, sizeof(name), "file-with-a-longer-name-%d",
				 unlinked / (DIRS - 1));
			assert_int_equal(ns_unlink(f->ns, dir[unlinked % (DIRS - 1)], name), 0);
		}
		assert_int_equal(meta_group_end(f->ms, 0), 0);
	}
	uint64_t writes = write_calls() - before;
	print_message("4 groups of %d unlinks: %llu write calls\n", GROUP,
		      (unsigned long long)writes);
	assert_true(writes < 4 * 8);
	struct ns_attr a;
	assert_int_equal(ns_lookup(f->ns, dir[0], "file-with-a-longer-name-0", &a), -ENOENT);
	assert_int_equal(ns_lookup(f->ns, dir[0], "file-with-a-longer-name-7", &a), 0);
}

static void test_name_rules(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	bool created;
	char n255[256], n256[257];

	memset(n255, 'a', 255);
	n255[255] = '\0';
	memset(n256, 'b', 256);
	n256[256] = '\0';
	assert_int_equal(ns_check_name(""), -EINVAL);
	assert_int_equal(ns_check_name("."), -EINVAL);
	assert_int_equal(ns_check_name(".."), -EINVAL);
	assert_int_equal(ns_check_name("a/b"), -EINVAL);
	assert_int_equal(ns_check_name("..."), 0);
	assert_int_equal(ns_create(f->ns, 1, "a/b", 0644, 0, 0, 0, true, &a, &created), -EINVAL);
	assert_int_equal(ns_mkdir(f->ns, 1, "..", 0755, 0, 0, 0, &a), -EINVAL);
	assert_int_equal(ns_create(f->ns, 1, n256, 0644, 0, 0, 0, true, &a, &created),
			 -ENAMETOOLONG);
	mkfile(f, 1, n255);
	assert_int_equal(ns_lookup(f->ns, 1, n255, &a), 0);
}

static void test_dirs_nlink_and_remove(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;

	uint64_t d = mkdir_(f, 1, "d");
	assert_int_equal(nlink_of(f, 1), 3);
	assert_int_equal(nlink_of(f, d), 2);
	uint64_t e = mkdir_(f, d, "e");
	assert_int_equal(nlink_of(f, d), 3);
	mkfile(f, d, "file");
	assert_int_equal(nlink_of(f, d), 3);
	assert_int_equal(ns_mkdir(f->ns, d, "e", 0755, 0, 0, 0, &a), -EEXIST);
	assert_int_equal(ns_rmdir(f->ns, 1, "d"), -ENOTEMPTY);
	assert_int_equal(ns_unlink(f->ns, 1, "d"), -EISDIR);
	assert_int_equal(ns_rmdir(f->ns, d, "file"), -ENOTDIR);
	assert_int_equal(ns_unlink(f->ns, d, "file"), 0);
	assert_int_equal(ns_unlink(f->ns, d, "file"), -ENOENT);
	assert_int_equal(ns_rmdir(f->ns, d, "e"), 0);
	assert_int_equal(ns_getattr(f->ns, e, &a), -ENOENT);
	assert_int_equal(nlink_of(f, d), 2);
	assert_int_equal(ns_rmdir(f->ns, 1, "d"), 0);
	assert_int_equal(nlink_of(f, 1), 2);
}

static void test_rename(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;

	uint64_t a1 = mkdir_(f, 1, "a");
	uint64_t b1 = mkdir_(f, a1, "b");
	uint64_t c1 = mkdir_(f, b1, "c");
	/* into its own subtree, or onto itself as parent */
	assert_int_equal(ns_rename(f->ns, 1, "a", c1, "x", 0), -EINVAL);
	assert_int_equal(ns_rename(f->ns, 1, "a", a1, "x", 0), -EINVAL);
	assert_int_equal(ns_rename(f->ns, 1, "a", 1, "a2", 3), -EINVAL);
	/* file over file replaces; the old inode goes */
	uint64_t f1 = mkfile(f, 1, "f1");
	uint64_t f2 = mkfile(f, 1, "f2");
	assert_int_equal(ns_rename(f->ns, 1, "f1", 1, "f2", NS_RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(ns_rename(f->ns, 1, "f1", 1, "f2", 0), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "f2", &a), 0);
	assert_int_equal(a.ino, f1);
	assert_int_equal(ns_getattr(f->ns, f2, &a), -ENOENT);
	assert_int_equal(ns_lookup(f->ns, 1, "f1", &a), -ENOENT);
	/* type mismatches */
	assert_int_equal(ns_rename(f->ns, 1, "f2", a1, "b", 0), -EISDIR);
	assert_int_equal(ns_rename(f->ns, 1, "a", 1, "f2", 0), -ENOTDIR);
	/* dir over non-empty dir, then over empty dir */
	uint64_t d = mkdir_(f, 1, "d");
	assert_int_equal(ns_rename(f->ns, 1, "d", a1, "b", 0), -ENOTEMPTY);
	assert_int_equal(ns_rmdir(f->ns, b1, "c"), 0);
	assert_int_equal(nlink_of(f, 1), 4);   /* a, d */
	assert_int_equal(ns_rename(f->ns, 1, "d", a1, "b", 0), 0);
	assert_int_equal(ns_getattr(f->ns, b1, &a), -ENOENT);
	assert_int_equal(nlink_of(f, 1), 3);
	assert_int_equal(nlink_of(f, a1), 3);
	assert_int_equal(ns_lookup(f->ns, a1, "b", &a), 0);
	assert_int_equal(a.ino, d);
	/* exchange a file and a directory across parents */
	assert_int_equal(ns_rename(f->ns, 1, "f2", a1, "nope", NS_RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(ns_rename(f->ns, 1, "f2", a1, "b", NS_RENAME_EXCHANGE), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "f2", &a), 0);
	assert_int_equal(a.ino, d);
	assert_int_equal(ns_lookup(f->ns, a1, "b", &a), 0);
	assert_int_equal(a.ino, f1);
	assert_int_equal(nlink_of(f, 1), 4);
	assert_int_equal(nlink_of(f, a1), 2);
	/* exchange that would put a dir below itself */
	uint64_t inner = mkdir_(f, d, "inner");
	(void)inner;
	assert_int_equal(ns_rename(f->ns, 1, "f2", d, "inner", NS_RENAME_EXCHANGE), -EINVAL);
	/* rename to the same name is a no-op */
	assert_int_equal(ns_rename(f->ns, 1, "a", 1, "a", 0), 0);
	assert_int_equal(ns_rename(f->ns, 1, "missing", 1, "x", 0), -ENOENT);
}

/* ns_rename_inos names the inodes a rename changed besides its folders
 * (a mount keeps its listings of other folders by them). */
static void test_rename_inos(void **state)
{
	struct ns_fixture *f = *state;
	uint64_t ino = 99, replaced = 99;
	uint64_t d = mkdir_(f, 1, "d");
	uint64_t g1 = mkfile(f, 1, "g1");
	uint64_t g2 = mkfile(f, d, "g2");
	/* to a free name: the one moved */
	assert_int_equal(ns_rename_inos(f->ns, 1, "g1", 1, "h1", 0, &ino, &replaced), 0);
	assert_int_equal(ino, g1);
	assert_int_equal(replaced, 0);
	/* over another file: and the one replaced */
	assert_int_equal(ns_rename_inos(f->ns, 1, "h1", d, "g2", 0, &ino, &replaced), 0);
	assert_int_equal(ino, g1);
	assert_int_equal(replaced, g2);
	/* an exchange: both */
	uint64_t g3 = mkfile(f, 1, "g3");
	assert_int_equal(ns_rename_inos(f->ns, 1, "g3", d, "g2", NS_RENAME_EXCHANGE, &ino,
					&replaced), 0);
	assert_int_equal(ino, g3);
	assert_int_equal(replaced, g1);
	/* nothing changed (the same file), or an error: none */
	struct ns_attr la;
	assert_int_equal(ns_link(f->ns, g1, 1, "g1b", &la), 0);
	assert_int_equal(ns_rename_inos(f->ns, 1, "g3", 1, "g1b", 0, &ino, &replaced), 0);
	assert_int_equal(ino, 0);
	assert_int_equal(replaced, 0);
	assert_int_equal(ns_rename_inos(f->ns, 1, "nope", 1, "x", 0, &ino, &replaced), -ENOENT);
	assert_int_equal(ino, 0);
	assert_int_equal(replaced, 0);
}

static void test_readdir_cookies(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_dirent *e;
	size_t n, total = 0;
	bool eof = false, seen[40] = { false };
	uint64_t cookie = 0;
	char name[32];
	int round = 0;

	uint64_t d = mkdir_(f, 1, "d");
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		mkfile(f, d, name);
	}
	while (!eof) {
		assert_int_equal(ns_readdir(f->ns, d, cookie, 3, &e, &n, &eof, NULL), 0);
		assert_true(n <= 3);
		for (size_t i = 0; i < n; i++) {
			int k = atoi(e[i].name + 1);
			assert_true(k >= 0 && k < 40);
			assert_false(seen[k]);   /* never repeated */
			seen[k] = true;
			assert_true(e[i].cookie > cookie);
			cookie = e[i].cookie;
			total++;
		}
		free(e);
		if (round++ == 2) {
			/* change the directory during the listing: n19 goes, n20 comes */
			assert_int_equal(ns_unlink(f->ns, d, "n19"), 0);
			mkfile(f, d, "n20");
		}
	}
	for (int i = 0; i < 19; i++)
		assert_true(seen[i]);   /* none vanished */
	assert_false(seen[19]);
	assert_true(seen[20]);
	assert_int_equal(total, 20);
	/* the folder's own attributes come with its entries, as of then */
	struct ns_attr da, ga;
	assert_int_equal(ns_readdir(f->ns, d, 0, 5, &e, &n, &eof, &da), 0);
	free(e);
	assert_int_equal(ns_getattr(f->ns, d, &ga), 0);
	assert_int_equal(da.ino, d);
	assert_true(S_ISDIR(da.mode));
	assert_int_equal(da.nlink, ga.nlink);
	assert_int_equal(da.mtime_s, ga.mtime_s);
	assert_int_equal(da.mtime_ns, ga.mtime_ns);
	assert_int_equal(ns_readdir(f->ns, d, 0, 0, &e, &n, &eof, NULL), -EINVAL);
	assert_int_equal(ns_readdir(f->ns, 999, 0, 10, &e, &n, &eof, NULL), -ENOENT);
	uint64_t fi = mkfile(f, 1, "plain");
	assert_int_equal(ns_readdir(f->ns, fi, 0, 10, &e, &n, &eof, NULL), -ENOTDIR);
}

/* A folder's entry in its parent: the parent, and the cookie a listing
 * of the parent continues from, after it (a walk's next folders). */
static void test_dir_entry(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_dirent *e;
	size_t n;
	bool eof;
	uint64_t parent, cookie;
	uint64_t top = mkdir_(f, 1, "top");
	uint64_t a = mkdir_(f, top, "a");
	mkfile(f, top, "between");
	uint64_t b = mkdir_(f, top, "b");
	assert_int_equal(ns_dir_entry(f->ns, a, &parent, &cookie), 0);
	assert_int_equal(parent, top);
	assert_int_equal(ns_readdir(f->ns, top, cookie, 10, &e, &n, &eof, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].name, "between");
	assert_int_equal(e[1].attr.ino, b);
	free(e);
	assert_int_equal(ns_dir_entry(f->ns, top, &parent, &cookie), 0);
	assert_int_equal(parent, 1);
	assert_int_equal(ns_dir_entry(f->ns, 1, &parent, &cookie), -ENOENT);
	assert_int_equal(ns_dir_entry(f->ns, 99999, &parent, &cookie), -ENOENT);
	/* after a rename: its new place */
	assert_int_equal(ns_rename(f->ns, top, "a", 1, "a2", 0), 0);
	assert_int_equal(ns_dir_entry(f->ns, a, &parent, &cookie), 0);
	assert_int_equal(parent, 1);
}

static void test_links_symlinks_mknod(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	char *t;

	uint64_t fi = mkfile(f, 1, "f");
	uint64_t d = mkdir_(f, 1, "d");
	assert_int_equal(ns_link(f->ns, fi, d, "g", &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(ns_link(f->ns, d, 1, "dd", &a), -EPERM);
	assert_int_equal(ns_link(f->ns, fi, d, "g", &a), -EEXIST);
	assert_int_equal(ns_unlink(f->ns, 1, "f"), 0);
	assert_int_equal(nlink_of(f, fi), 1);
	assert_int_equal(ns_symlink(f->ns, 1, "l", "some/where", 0, 0, &a), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(a.size, 10);
	assert_int_equal(ns_readlink(f->ns, a.ino, &t), 0);
	assert_string_equal(t, "some/where");
	free(t);
	assert_int_equal(ns_readlink(f->ns, fi, &t), -EINVAL);
	assert_int_equal(ns_symlink(f->ns, 1, "l2", "", 0, 0, &a), -ENOENT);
	assert_int_equal(ns_mknod(f->ns, 1, "fifo", S_IFIFO | 0600, 0, 0, 0, 0, &a), 0);
	assert_true(S_ISFIFO(a.mode));
	assert_int_equal(ns_mknod(f->ns, 1, "dir", S_IFDIR | 0600, 0, 0, 0, 0, &a), -EINVAL);
}

static void test_setattr(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	struct ns_setattr sa = { .has_mode = true, .mode = 0600 | S_IFDIR,
				 .has_size = true, .size = 12345 };

	uint64_t fi = mkfile(f, 1, "f");
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0600);
	assert_int_equal(a.size, 12345);
	sa = (struct ns_setattr){ .has_size = true, .size = (1ULL << 50) + 1 };
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), -EFBIG);
	sa = (struct ns_setattr){ .has_size = true, .size = 1 };
	assert_int_equal(ns_setattr(f->ns, 1, &sa, &a), -EISDIR);
	sa = (struct ns_setattr){ .has_mtime = true, .mtime_s = 1000, .mtime_ns = 5 };
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	assert_int_equal(a.mtime_s, 1000);
	assert_int_equal(a.mtime_ns, 5);
	assert_int_equal(ns_setattr(f->ns, 4242, &sa, &a), -ENOENT);
	/* stamped at a given time (a commit's setattr behind): ctime and
	 * "now" are that time */
	sa = (struct ns_setattr){ .has_mode = true, .mode = 0640, .has_atime = true,
				  .atime_now = true, .has_at = true, .at_s = 2000,
				  .at_ns = 7 };
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0640);
	assert_int_equal(a.ctime_s, 2000);
	assert_int_equal(a.ctime_ns, 7);
	assert_int_equal(a.atime_s, 2000);
	assert_int_equal(a.mtime_s, 1000);
	assert_int_equal(ns_getattr(f->ns, fi, &a), 0);
	assert_int_equal(a.ctime_s, 2000);
}

/* Reads (relatime, one batch): atime moves when not after mtime and
 * ctime, never ctime itself; removed inodes are skipped, the rest applied.
 * Every query shows a read at once; the database has it after
 * ns_atime_flush (a second ns on the same store sees only the database). */
static void test_atime_read_batch(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a, b, c, x;
	struct ns *db;

	assert_int_equal(ns_new(f->ms, f->cm, &db), 0);
	uint64_t fa = mkfile(f, 1, "a"), fb = mkfile(f, 1, "b"), fc = mkfile(f, 1, "c");
	/* a: atime before mtime; b: atime after mtime and ctime, recent;
	 * c: atime after both but two days old */
	time_t now = time(NULL);
	struct ns_setattr sa = { .has_atime = true, .atime_s = now - 100,
				 .has_mtime = true, .mtime_s = now - 50 };
	assert_int_equal(ns_setattr(f->ns, fa, &sa, &a), 0);
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = now + 3600,
				  .has_mtime = true, .mtime_s = now - 50 };
	assert_int_equal(ns_setattr(f->ns, fb, &sa, &b), 0);
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = now - 2 * 86400,
				  .has_mtime = true, .mtime_s = now - 3 * 86400 };
	assert_int_equal(ns_setattr(f->ns, fc, &sa, &c), 0);
	/* ctime is now (the setattr): a's and c's atimes are before it and
	 * move; b's is after mtime and ctime and recent: it stays. 4242 does
	 * not exist, 0 and 2^63 cannot. */
	uint64_t inos[] = { fa, 4242, fb, fc, 0, 1ULL << 63 };
	assert_int_equal(ns_atime_read(f->ns, inos, 6), 0);
	for (int pass = 0; pass < 2; pass++) {
		struct ns *v = pass ? db : f->ns; /* before the flush: ns; after: db */
		assert_int_equal(ns_getattr(v, fa, &x), 0);
		assert_true(x.atime_s >= now);
		assert_int_equal(x.ctime_s, a.ctime_s);
		assert_int_equal(x.ctime_ns, a.ctime_ns);
		assert_int_equal(x.mtime_s, now - 50);
		assert_int_equal(ns_getattr(v, fb, &x), 0);
		assert_int_equal(x.atime_s, now + 3600);
		assert_int_equal(ns_lookup(v, 1, "c", &x), 0);
		assert_true(x.atime_s >= now);
		if (pass == 0) { /* not written yet */
			assert_int_equal(ns_getattr(db, fa, &x), 0);
			assert_int_equal(x.atime_s, now - 100);
			assert_int_equal(ns_atime_flush(f->ns), 0);
		}
	}
	/* readdir shows a noted read too */
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = now - 100 };
	assert_int_equal(ns_setattr(f->ns, fa, &sa, &a), 0);
	assert_int_equal(ns_atime_read(f->ns, inos, 1), 0);
	struct ns_dirent *ents;
	size_t n;
	bool eof;
	assert_int_equal(ns_readdir(f->ns, 1, 0, 100, &ents, &n, &eof, NULL), 0);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		if (ents[i].attr.ino == fa) {
			seen = true;
			assert_true(ents[i].attr.atime_s >= now);
		}
	free(ents);
	assert_true(seen);
	/* an explicit atime after the read wins over it, also once flushed */
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = 1000, .atime_ns = 7 };
	assert_int_equal(ns_setattr(f->ns, fa, &sa, &a), 0);
	assert_int_equal(ns_getattr(f->ns, fa, &x), 0);
	assert_int_equal(x.atime_s, 1000);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	assert_int_equal(ns_getattr(db, fa, &x), 0);
	assert_int_equal(x.atime_s, 1000);
	assert_int_equal(x.atime_ns, 7);
	/* a read, then a change (truncate: mtime and ctime now): the read's
	 * atime is kept, written with the change */
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = now - 100 };
	assert_int_equal(ns_setattr(f->ns, fa, &sa, &a), 0);
	assert_int_equal(ns_atime_read(f->ns, inos, 1), 0);
	assert_int_equal(ns_getattr(f->ns, fa, &x), 0);
	int64_t read_s = x.atime_s;
	uint32_t read_ns = x.atime_ns;
	assert_true(read_s >= now);
	sa = (struct ns_setattr){ .has_size = true, .size = 0 };
	assert_int_equal(ns_setattr(f->ns, fa, &sa, &a), 0);
	assert_int_equal(ns_getattr(db, fa, &x), 0);
	assert_int_equal(x.atime_s, read_s);
	assert_int_equal(x.atime_ns, read_ns);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	assert_int_equal(ns_getattr(db, fa, &x), 0);
	assert_int_equal(x.atime_s, read_s);
	assert_int_equal(x.atime_ns, read_ns);
	/* a read of a file removed before the flush is dropped */
	assert_int_equal(ns_atime_read(f->ns, inos, 1), 0);
	assert_int_equal(ns_unlink(f->ns, 1, "a"), 0);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	assert_int_equal(ns_getattr(f->ns, fa, &x), -ENOENT);
	/* a read reported for an inode number not made yet does not touch
	 * the inode made under it later: its atime is its creation time */
	uint64_t next = fc + 1;
	assert_int_equal(ns_atime_read(f->ns, &next, 1), 0);
	struct timespec pause = { 0, 2000000 };
	nanosleep(&pause, NULL);
	uint64_t fd_ = mkfile(f, 1, "d");
	assert_int_equal(fd_, next);
	assert_int_equal(ns_getattr(f->ns, fd_, &x), 0);
	assert_int_equal(x.atime_s, x.ctime_s);
	assert_int_equal(x.atime_ns, x.ctime_ns);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	assert_int_equal(ns_getattr(db, fd_, &x), 0);
	assert_int_equal(x.atime_s, x.ctime_s);
	assert_int_equal(x.atime_ns, x.ctime_ns);
	/* a read the master did not flush before it stopped cleanly is kept */
	assert_int_equal(ns_atime_read(f->ns, &fb, 1), 0); /* not due: stays */
	sa = (struct ns_setattr){ .has_atime = true, .atime_s = now - 100 };
	assert_int_equal(ns_setattr(f->ns, fc, &sa, &c), 0);
	assert_int_equal(ns_atime_read(f->ns, &fc, 1), 0);
	ns_free(db);
	nsf_close(f);
	assert_int_equal(nsf_open(f), 0);
	assert_int_equal(ns_getattr(f->ns, fc, &x), 0);
	assert_true(x.atime_s >= now);
	assert_int_equal(ns_getattr(f->ns, fb, &x), 0);
	assert_int_equal(x.atime_s, now + 3600);
}

/* More noted reads than one flush transaction takes: all written. */
static void test_atime_flush_in_batches(void **state)
{
	struct ns_fixture *f = *state;
	enum { N = 4500 };
	uint64_t *inos = malloc(N * sizeof(*inos));
	struct ns_attr a;
	struct ns *db;
	char name[32];

	assert_non_null(inos);
	assert_int_equal(ns_new(f->ms, f->cm, &db), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		inos[i] = mkfile(f, 1, name);
	}
	time_t now = time(NULL);
	struct ns_setattr sa = { .has_atime = true, .atime_s = now - 100 };
	assert_int_equal(ns_setattr(f->ns, inos[0], &sa, &a), 0);
	assert_int_equal(ns_setattr(f->ns, inos[N - 1], &sa, &a), 0);
	for (int i = 0; i < N; i += 1000)
		assert_int_equal(ns_atime_read(f->ns, inos + i, i + 1000 <= N ? 1000 : N - i), 0);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	for (int i = 0; i < N; i += 499) {
		assert_int_equal(ns_getattr(db, inos[i], &a), 0);
		assert_true(a.atime_s >= now);
		assert_true(a.atime_s > a.ctime_s ||
			    (a.atime_s == a.ctime_s && a.atime_ns > a.ctime_ns));
	}
	assert_int_equal(ns_getattr(db, inos[N - 1], &a), 0);
	assert_true(a.atime_s >= now);
	ns_free(db);
	free(inos);
}

static void test_xattrs_and_goal(void **state)
{
	struct ns_fixture *f = *state;
	void *v;
	size_t len, n;
	char **names;
	struct ns_attr a;

	uint64_t d = mkdir_(f, 1, "d");
	assert_int_equal(ns_setxattr(f->ns, d, "bigfs.goal", "3", 1, 0), 0);
	assert_int_equal(ns_setxattr(f->ns, d, "bigfs.goal", "0", 1, 0), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, d, "bigfs.goal", "17", 2, 0), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, d, "bigfs.goal", "x", 1, 0), -EINVAL);
	uint64_t fi = mkfile(f, d, "f");
	assert_int_equal(ns_getattr(f->ns, fi, &a), 0);
	assert_int_equal(a.goal, 3);
	assert_int_equal(ns_getxattr(f->ns, fi, "bigfs.goal", &v, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(v, "3", 1);
	free(v);
	assert_int_equal(ns_getxattr(f->ns, fi, "bigfs.locations", &v, &len), 0);
	assert_int_equal(len, 0);
	free(v);
	assert_int_equal(ns_getxattr(f->ns, d, "bigfs.locations", &v, &len), -ENODATA);
	assert_int_equal(ns_setxattr(f->ns, fi, "bigfs.locations", "x", 1, 0), -EPERM);

	assert_int_equal(ns_setxattr(f->ns, fi, "user.a", "v1", 2, NS_XATTR_REPLACE), -ENODATA);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.a", "v1", 2, NS_XATTR_CREATE), 0);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.a", "v2", 2, NS_XATTR_CREATE), -EEXIST);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.a", "v22", 3, NS_XATTR_REPLACE), 0);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.b", "", 0, 0), 0);
	assert_int_equal(ns_getxattr(f->ns, fi, "user.a", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "v22", 3);
	free(v);
	assert_int_equal(ns_listxattr(f->ns, fi, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "user.a");
	assert_string_equal(names[1], "user.b");
	ns_free_names(names, n);
	assert_int_equal(ns_removexattr(f->ns, fi, "user.a"), 0);
	assert_int_equal(ns_removexattr(f->ns, fi, "user.a"), -ENODATA);
	assert_int_equal(ns_getxattr(f->ns, fi, "user.a", &v, &len), -ENODATA);
	assert_int_equal(ns_removexattr(f->ns, fi, "bigfs.goal"), -EPERM);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.big", "x", NS_XATTR_VALUE_MAX + 1, 0),
			 -E2BIG);
	assert_int_equal(ns_getxattr(f->ns, 777, "user.a", &v, &len), -ENOENT);
}

/* A client's "avoid" list keeps new chunks off those workers while
 * others are live, and is ignored when it names every live worker. */
static void test_write_avoiding(void **state)
{
	struct ns_fixture *f = *state;
	struct cm_chunk c;
	struct cm_avoid avoid = { .n = 1, .ids = { "00000000000000a1" } };
	assert_int_equal(wreg_seen(f->reg, "00000000000000a1", "127.0.0.1:1", 1 << 30, 0, 0, 0), 1);
	assert_int_equal(wreg_seen(f->reg, "00000000000000a2", "127.0.0.1:2", 1 << 30, 0, 0, 0), 1);
	assert_int_equal(wreg_seen(f->reg, "00000000000000a3", "127.0.0.1:3", 1 << 30, 0, 0, 0), 1);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "av%d", i);
		uint64_t fi = mkfile(f, 1, name);
		assert_int_equal(cm_write_avoiding(f->cm, fi, 0, "s1", &avoid, &c), 0);
		assert_int_equal(c.nrep, 2);
		for (int k = 0; k < c.nrep; k++)
			assert_string_not_equal(c.reps[k].worker_id, "00000000000000a1");
	}
	struct cm_avoid all = { .n = 3, .ids = { "00000000000000a1", "00000000000000a2",
						 "00000000000000a3" } };
	uint64_t fi = mkfile(f, 1, "avall");
	assert_int_equal(cm_write_avoiding(f->cm, fi, 0, "s1", &all, &c), 0);
	assert_int_equal(c.nrep, 2);
}

static void test_grants_and_garbage(void **state)
{
	struct ns_fixture *f = *state;
	struct cm_chunk c, c2;
	struct cm_stats st;
	struct ns_attr a;
	uint64_t rel = 0;

	uint64_t fi = mkfile(f, 1, "data");
	assert_int_equal(cm_write(f->cm, fi, 0, "s1", &c), -ENOSPC);
	/* known but not live yet (a master just restarted): wait, not ENOSPC */
	assert_int_equal(wreg_add_known(f->reg, "00000000000000a1", "127.0.0.1:1", 1 << 30, 0), 0);
	assert_int_equal(cm_write(f->cm, fi, 0, "s1", &c), -EAGAIN);
	assert_int_equal(wreg_seen(f->reg, "00000000000000a1", "127.0.0.1:1", 1 << 30, 0, 0, 0), 1);
	assert_int_equal(wreg_seen(f->reg, "00000000000000a2", "127.0.0.1:2", 1 << 30, 0, 0, 0), 1);
	assert_int_equal(wreg_seen(f->reg, "00000000000000a3", "127.0.0.1:3", 1 << 30, 0, 0, 0), 1);
	assert_int_equal(cm_write(f->cm, fi, 0, "s1", &c), 0);
	assert_int_equal(c.version, 1);
	assert_int_equal(c.nrep, 2);
	assert_string_not_equal(c.reps[0].worker_id, c.reps[1].worker_id);
	assert_int_equal(cm_write(f->cm, fi, 0, "s2", &c2), -EAGAIN);
	assert_int_equal(cm_write(f->cm, fi, 0, "s1", &c2), 0);
	assert_int_equal(c2.version, 1);
	assert_int_equal(c2.chunk_id, c.chunk_id);
	assert_int_equal(cm_write(f->cm, fi, CM_MAX_INDEX, "s1", &c2), -EFBIG);
	assert_int_equal(cm_write(f->cm, 1, 0, "s1", &c2), -EISDIR);
	assert_int_equal(ns_commit(f->ns, fi, 100, "s1", &rel, 1, &a), 0);
	assert_int_equal(a.size, 100);
	assert_int_equal(cm_write(f->cm, fi, 0, "s2", &c2), 0);
	assert_int_equal(c2.version, 2);
	assert_int_equal(ns_commit(f->ns, fi, 50, "s2", &rel, 1, &a), 0);
	assert_int_equal(a.size, 100);   /* commit never shrinks */
	/* a commit that says when its data landed (commit behind): kept */
	struct timespec when = { 1700000000, 123456789 };
	assert_int_equal(ns_commit_at(f->ns, fi, 120, "s2", &rel, 1, &when, &a), 0);
	assert_int_equal(a.size, 120);
	assert_int_equal(a.mtime_s, 1700000000);
	assert_int_equal(a.mtime_ns, 123456789);
	assert_int_equal(a.ctime_s, 1700000000);
	assert_int_equal(a.ctime_ns, 123456789);

	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.chunks, 1);
	assert_int_equal(st.replicas, 2);
	assert_int_equal(st.pending_deletes, 0);
	assert_int_equal(ns_unlink(f->ns, 1, "data"), 0);
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.replicas, 0);
	assert_int_equal(st.pending_deletes, 2);

	/* registration: an unknown chunk is to be deleted */
	struct cm_reported rep = { .chunk_id = 0x9999, .version = 1 };
	uint64_t *del;
	size_t ndel;
	assert_true(cm_register(f->cm, "00000000000000a1", "127.0.0.1:1", 1 << 30, 0, &rep, 1,
				&del, &ndel) >= 0);
	assert_int_equal(ndel, 1);
	assert_int_equal(del[0], 0x9999);
	free(del);
}

static void test_persistence(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;

	uint64_t d = mkdir_(f, 1, "keep");
	uint64_t fi = mkfile(f, d, "file");
	nsf_close(f);
	assert_int_equal(nsf_open(f), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "keep", &a), 0);
	assert_int_equal(a.ino, d);
	assert_int_equal(ns_lookup(f->ns, d, "file", &a), 0);
	assert_int_equal(a.ino, fi);
	/* inode numbers are not reused */
	assert_int_equal(ns_unlink(f->ns, d, "file"), 0);
	assert_true(mkfile(f, d, "again") > fi);
}

/* Inode numbers reserved for a mount's own creates: above everything,
 * never taken by the master's creates (also after a restart whose
 * AUTOINCREMENT counter knew nothing of them, as a standby's), usable
 * only by their session, once; a session keeps its last two ranges. */
static void test_reserved_inos(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	uint64_t lo, hi, lo2, hi2, lo3, hi3;

	uint64_t d = mkdir_(f, 1, "d");
	uint64_t before = mkfile(f, d, "before");
	assert_int_equal(ns_reserve_inos(f->ns, "s1", 100, &lo, &hi), 0);
	assert_true(lo > before);
	assert_int_equal(hi - lo, 99);
	assert_true(mkfile(f, d, "after") > hi);
	assert_int_equal(ns_reserve_inos(f->ns, "s1", 0, &lo2, &hi2), -EINVAL);
	assert_int_equal(ns_reserve_inos(f->ns, "s1", NS_INO_RANGE_MAX + 1, &lo2, &hi2), -EINVAL);

	assert_int_equal(ns_create_ino(f->ns, d, "mine", 0640, 5, 6, 022, lo + 7, "s1", NULL, &a), 0);
	assert_int_equal(a.ino, lo + 7);
	assert_int_equal(a.mode, S_IFREG | 0640);
	assert_int_equal(a.uid, 5);
	assert_int_equal(ns_lookup(f->ns, d, "mine", &a), 0);
	assert_int_equal(a.ino, lo + 7);
	/* the number once, the name once, only by its session, only reserved */
	assert_int_equal(ns_create_ino(f->ns, d, "other", 0640, 5, 6, 0, lo + 7, "s1", NULL, &a), -EEXIST);
	assert_int_equal(ns_create_ino(f->ns, d, "mine", 0640, 5, 6, 0, lo + 8, "s1", NULL, &a), -EEXIST);
	assert_int_equal(ns_create_ino(f->ns, d, "x", 0640, 5, 6, 0, lo + 8, "s2", NULL, &a), -EPERM);
	assert_int_equal(ns_create_ino(f->ns, d, "x", 0640, 5, 6, 0, hi + 1, "s1", NULL, &a), -EPERM);
	assert_int_equal(ns_create_ino(f->ns, d, "x", 0640, 5, 6, 0, before, "s1", NULL, &a), -EPERM);
	assert_int_equal(ns_create_ino(f->ns, d, "x", 0640, 5, 6, 0, 0, "s1", NULL, &a), -EINVAL);
	assert_int_equal(ns_lookup(f->ns, d, "x", &a), -ENOENT);

	/* a restart whose counter lags (the log does not carry it) */
	assert_int_equal(ns_reserve_inos(f->ns, "s2", 50, &lo2, &hi2), 0);
	nsf_close(f);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE sqlite_sequence SET seq = 2 WHERE name = 'inodes'",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(nsf_open(f), 0);
	assert_true(mkfile(f, d, "restarted") > hi2);
	assert_int_equal(ns_create_ino(f->ns, d, "x", 0600, 0, 0, 0, lo2, "s2", NULL, &a), 0);

	/* s1's third range drops its first */
	assert_int_equal(ns_reserve_inos(f->ns, "s1", 10, &lo2, &hi2), 0);
	assert_int_equal(ns_reserve_inos(f->ns, "s1", 10, &lo3, &hi3), 0);
	assert_true(lo3 > hi2);
	assert_int_equal(ns_create_ino(f->ns, d, "y", 0600, 0, 0, 0, lo + 9, "s1", NULL, &a), -EPERM);
	assert_int_equal(ns_create_ino(f->ns, d, "y", 0600, 0, 0, 0, lo2, "s1", NULL, &a), 0);
	assert_int_equal(ns_create_ino(f->ns, d, "z", 0600, 0, 0, 0, hi3, "s1", NULL, &a), 0);
	/* a session that ended has none */
	assert_int_equal(ns_release_inos(f->ns, "s1"), 0);
	assert_int_equal(ns_create_ino(f->ns, d, "w", 0600, 0, 0, 0, lo3, "s1", NULL, &a), -EPERM);
}

/* setattr with the caller's groups: a regular file's setgid bit goes when
 * its group is not among them, stays when it is; directories keep it. */
static void test_setattr_drops_sgid_of_non_members(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_setattr sa;
	struct ns_attr a;
	bool created;
	const uint32_t member[] = { 9, 5 }, other[] = { 9 };

	assert_int_equal(ns_create(f->ns, 1, "sg", 02666, 1, 5, 0, true, &a, &created), 0);
	uint64_t ino = a.ino;
	memset(&sa, 0, sizeof(sa));
	sa.drop_sgid = true;
	sa.groups = member;
	sa.ngroups = 2;
	assert_int_equal(ns_setattr(f->ns, ino, &sa, &a), 0);
	assert_int_equal(a.mode & 07777, 02666);
	sa.groups = other;
	sa.ngroups = 1;
	assert_int_equal(ns_setattr(f->ns, ino, &sa, &a), 0);
	assert_int_equal(a.mode & 07777, 0666);
	/* with a mode set in the same call, the new mode is the one checked */
	sa.has_mode = true;
	sa.mode = 02644;
	assert_int_equal(ns_setattr(f->ns, ino, &sa, &a), 0);
	assert_int_equal(a.mode & 07777, 0644);
	assert_int_equal(ns_mkdir(f->ns, 1, "sgd", 02775, 1, 5, 0, &a), 0);
	sa.has_mode = false;
	assert_int_equal(ns_setattr(f->ns, a.ino, &sa, &a), 0);
	assert_int_equal(a.mode & 07777, 02775);
}

/* dver counts a directory's entry changes in the change's transaction;
 * ns_touch_get names each directory a call changed with its dver before
 * and attributes after (what the mount's meta_cache relies on); xattrs
 * show in has_xattrs. */
static void test_dir_versions_and_touches(void **state)
{
	struct ns_fixture *f = *state;
	const struct ns_touch *t;
	struct ns_attr a;

	uint64_t d = mkdir_(f, 1, "dv");
	assert_int_equal(ns_getattr(f->ns, d, &a), 0);
	assert_int_equal(a.dver, 0);
	assert_false(a.has_xattrs);
	ns_touch_reset();
	uint64_t x = mkfile(f, d, "x");
	assert_int_equal(ns_touch_get(&t), 1);
	assert_int_equal(t[0].attr.ino, d);
	assert_int_equal(t[0].prev, 0);
	assert_int_equal(t[0].attr.dver, 1);
	assert_int_equal(ns_getattr(f->ns, d, &a), 0);
	assert_int_equal(a.dver, 1);
	assert_int_equal(a.mtime_s, t[0].attr.mtime_s);
	assert_int_equal(a.mtime_ns, t[0].attr.mtime_ns);
	/* a rename within one folder: one record */
	ns_touch_reset();
	assert_int_equal(ns_rename(f->ns, d, "x", d, "y", 0), 0);
	assert_int_equal(ns_touch_get(&t), 1);
	assert_int_equal(t[0].prev, 1);
	assert_int_equal(t[0].attr.dver, 2);
	/* between two folders: both, each with its own count */
	uint64_t e = mkdir_(f, 1, "dv2");
	ns_touch_reset();
	assert_int_equal(ns_rename(f->ns, d, "y", e, "z", 0), 0);
	assert_int_equal(ns_touch_get(&t), 2);
	assert_true((t[0].attr.ino == d && t[1].attr.ino == e) ||
		    (t[0].attr.ino == e && t[1].attr.ino == d));
	for (int i = 0; i < 2; i++)
		assert_int_equal(t[i].attr.dver, t[i].prev + 1);
	/* a lookup or a failed create changes nothing */
	ns_touch_reset();
	assert_int_equal(ns_lookup(f->ns, e, "z", &a), 0);
	assert_int_equal(a.ino, x);
	bool created;
	assert_int_equal(ns_create(f->ns, e, "z", 0644, 0, 0, 0, true, &a, &created), -EEXIST);
	assert_int_equal(ns_touch_get(&t), 0);
	assert_int_equal(ns_getattr(f->ns, e, &a), 0);
	assert_int_equal(a.dver, 1);    /* the rename into it */
	/* xattrs */
	assert_int_equal(ns_setxattr(f->ns, x, "user.k", "v", 1, 0), 0);
	assert_int_equal(ns_getattr(f->ns, x, &a), 0);
	assert_true(a.has_xattrs);
	assert_int_equal(ns_removexattr(f->ns, x, "user.k"), 0);
	assert_int_equal(ns_getattr(f->ns, x, &a), 0);
	assert_false(a.has_xattrs);
	/* the count survives a restart */
	nsf_close(f);
	assert_int_equal(nsf_open(f), 0);
	assert_int_equal(ns_getattr(f->ns, d, &a), 0);
	assert_int_equal(a.dver, 3);
}

/* What ns_set_change_hook hands on, copied (names are only lent). */
struct changes {
	int calls;
	size_t n;
	uint64_t ino[32];
	char name[32][32];
};

static void on_change(void *arg, const struct inval_note *notes, size_t n)
{
	struct changes *c = arg;
	c->calls++;
	for (size_t i = 0; i < n && c->n < 32; i++, c->n++) {
		c->ino[c->n] = notes[i].ino;
		snprintf(c->name[c->n], sizeof(c->name[0]), "%s", notes[i].name ? notes[i].name : "");
	}
}

static bool has_change(const struct changes *c, uint64_t ino, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->ino[i] == ino && strcmp(c->name[i], name ? name : "") == 0)
			return true;
	return false;
}

/* The change feed's source: each committed removal or replacement of a
 * name and each write of attributes, after the commit; nothing for new
 * names, reads, failed calls or read atimes. */
static void test_change_hook(void **state)
{
	struct ns_fixture *f = *state;
	struct changes c = { 0 };
	struct ns_attr a;
	ns_set_change_hook(f->ns, on_change, &c);

	uint64_t d = mkdir_(f, 1, "ch");
	uint64_t x = mkfile(f, d, "x");
	assert_false(has_change(&c, d, "x"));     /* a new name is no news */
	assert_true(has_change(&c, d, NULL));     /* the folder's attributes are */
	memset(&c, 0, sizeof(c));
	assert_int_equal(ns_lookup(f->ns, d, "x", &a), 0);
	assert_int_equal(c.calls, 0);
	struct ns_setattr sa = { .has_mode = true, .mode = 0600 };
	assert_int_equal(ns_setattr(f->ns, x, &sa, &a), 0);
	assert_int_equal(c.calls, 1);
	assert_true(has_change(&c, x, NULL));
	/* a rename over an existing name: both names and both folders */
	uint64_t y = mkfile(f, d, "y");
	memset(&c, 0, sizeof(c));
	assert_int_equal(ns_rename(f->ns, d, "x", d, "y", 0), 0);
	assert_int_equal(c.calls, 1);
	assert_true(has_change(&c, d, "x"));
	assert_true(has_change(&c, d, "y"));
	assert_true(has_change(&c, d, NULL));
	(void)y;
	/* a failed call (rolled back) tells nothing */
	memset(&c, 0, sizeof(c));
	assert_int_equal(ns_rmdir(f->ns, 1, "ch"), -ENOTEMPTY);
	assert_int_equal(ns_unlink(f->ns, d, "nope"), -ENOENT);
	assert_int_equal(c.calls, 0);
	/* read atimes written later are not news either */
	assert_int_equal(ns_atime_read(f->ns, &x, 1), 0);
	assert_int_equal(ns_atime_flush(f->ns), 0);
	assert_int_equal(c.calls, 0);
	/* an unlink: the name and the folder */
	assert_int_equal(ns_unlink(f->ns, d, "y"), 0);
	assert_true(has_change(&c, d, "y"));
	assert_true(has_change(&c, d, NULL));
	ns_set_change_hook(f->ns, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_inos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_avoiding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setattr_drops_sgid_of_non_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_of_unlinks_journals_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirs_nlink_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_inos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_cookies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_symlinks_mknod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atime_flush_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atime_read_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs_and_goal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grants_and_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_versions_and_touches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_hook, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
