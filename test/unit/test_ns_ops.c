/* Unit tests of master/ns_ops (the trash, quotas, snapshots and shared
 * chunk ranges) with namespace, meta_store and chunk_map on a real SQLite
 * file: what goes to the trash and what not, restore and its errors,
 * purge and the garbage queue, expiry; quota usage through creates,
 * sizes, renames and removals, hard and soft limits, the room a mount is
 * given; snapshots of trees (attributes, shared chunks, refusals); shared
 * ranges and their refusals; and that all of it survives a reopen. Copy
 * on write needs workers: test_700 covers it on a real cluster. */
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
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "ns_fixture.h"

static int setup(void **state)
{
	struct ns_fixture *f = calloc(1, sizeof(*f));

	log_init("test_ns_ops", true, LOG_ERR);
	if (!f || nsf_setup(f, "nsops") < 0)
		return -1;
	/* three live workers, so files can get chunks */
	const char *ids[] = { "00000000000000a1", "00000000000000a2", "00000000000000a3" };
	for (int i = 0; i < 3; i++)
		if (wreg_seen(f->reg, ids[i], "127.0.0.1:1", 1ULL << 40, 0, 0, 0) < 0)
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

	assert_int_equal(ns_create(f->ns, parent, name, 0640, 7, 8, 0, true, &a, &created), 0);
	return a.ino;
}

static uint64_t mkdir_(struct ns_fixture *f, uint64_t parent, const char *name)
{
	struct ns_attr a;

	assert_int_equal(ns_mkdir(f->ns, parent, name, 0755, 0, 0, 0, &a), 0);
	return a.ino;
}

/* A file of size bytes with a chunk at index 0 (a grant, then a commit). */
static uint64_t mkdata(struct ns_fixture *f, uint64_t parent, const char *name, uint64_t size)
{
	struct cm_chunk c;
	struct ns_attr a;
	uint64_t rel = 0, ino = mkfile(f, parent, name);

	assert_int_equal(cm_write(f->cm, ino, 0, "s1", &c), 0);
	assert_int_equal(ns_commit(f->ns, ino, size, "s1", &rel, 1, &a), 0);
	return ino;
}

static void set_tt(struct ns_fixture *f, uint64_t ino, const char *v)
{
	assert_int_equal(ns_setxattr(f->ns, ino, "bigfs.trashtime", v, strlen(v), 0), 0);
}

static json_t *quota(struct ns_fixture *f, uint64_t dir)
{
	json_t *q = NULL;
	assert_int_equal(ns_quota_get(f->ns, dir, &q), 0);
	return q;
}

static json_int_t usage(json_t *q, const char *what)
{
	json_int_t v = json_integer_value(json_object_get(json_object_get(q, "usage"), what));
	json_decref(q);
	return v;
}

static void test_trash_keeps_and_restores(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	struct cm_stats st;
	json_t *l = NULL;
	char *path = NULL;
	uint64_t ino, files, bytes;

	uint64_t d = mkdir_(f, 1, "d");
	set_tt(f, d, "3600");
	uint64_t fi = mkdata(f, d, "f", 1000);
	uint64_t sym = 0;
	assert_int_equal(ns_symlink(f->ns, d, "ln", "f", 0, 0, &a), 0);
	sym = a.ino;
	assert_int_equal(ns_unlink(f->ns, d, "f"), 0);
	assert_int_equal(ns_unlink(f->ns, d, "ln"), 0);
	/* the file waits with nlink 0 and its chunk; the symlink is gone */
	assert_int_equal(ns_getattr(f->ns, fi, &a), 0);
	assert_int_equal(a.nlink, 0);
	assert_int_equal(ns_getattr(f->ns, sym, &a), -ENOENT);
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.pending_deletes, 0);
	assert_int_equal(ns_trash_list(f->ns, "/d", 10, &l), 0);
	assert_int_equal(json_integer_value(json_object_get(l, "files")), 1);
	json_t *e = json_array_get(json_object_get(l, "entries"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "path")), "/d/f");
	assert_int_equal(json_integer_value(json_object_get(e, "size")), 1000);
	json_decref(l);
	assert_int_equal(ns_trash_list(f->ns, "/other", 10, &l), 0);
	assert_int_equal(json_array_size(json_object_get(l, "entries")), 0);
	json_decref(l);

	/* a new file under the name: restoring there is EEXIST, elsewhere fine */
	mkfile(f, d, "f");
	assert_int_equal(ns_trash_restore(f->ns, fi, NULL, &ino, &path), -EEXIST);
	assert_int_equal(ns_trash_restore(f->ns, fi, "/nope/x", &ino, &path), -ENOENT);
	assert_int_equal(ns_trash_restore(f->ns, fi, "/d/f.old", &ino, &path), 0);
	assert_string_equal(path, "/d/f.old");
	free(path);
	assert_int_equal(ns_lookup(f->ns, d, "f.old", &a), 0);
	assert_int_equal(a.ino, fi);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.size, 1000);
	assert_int_equal(a.uid, 7);
	assert_int_equal(ns_trash_restore(f->ns, fi, NULL, &ino, &path), -ENOENT);

	/* rename over a file puts the old one in the trash; purge frees it */
	uint64_t g = mkdata(f, d, "g", 10);
	assert_int_equal(ns_rename(f->ns, d, "f.old", d, "g", 0), 0);
	assert_int_equal(ns_trash_purge(f->ns, g, &files, &bytes), 0);
	assert_int_equal(files, 1);
	assert_int_equal(bytes, 10);
	assert_int_equal(ns_getattr(f->ns, g, &a), -ENOENT);
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.pending_deletes, 2);   /* g's chunk on its 2 workers */
	assert_int_equal(ns_trash_purge(f->ns, g, &files, &bytes), -ENOENT);

	/* trashtime 0: at once; inherited at creation, not by what exists */
	uint64_t z = mkdir_(f, d, "z");
	uint64_t before = mkfile(f, z, "before");
	set_tt(f, z, "0");
	uint64_t after = mkfile(f, z, "after");
	uint32_t tt;
	assert_int_equal(ns_trashtime_get(f->ns, before, &tt), 0);
	assert_int_equal(tt, 3600);
	assert_int_equal(ns_trashtime_get(f->ns, after, &tt), 0);
	assert_int_equal(tt, 0);
	assert_int_equal(ns_unlink(f->ns, z, "after"), 0);
	assert_int_equal(ns_getattr(f->ns, after, &a), -ENOENT);
	assert_int_equal(ns_unlink(f->ns, z, "before"), 0);
	assert_int_equal(ns_trash_totals(f->ns, &files, &bytes), 0);
	assert_int_equal(files, 1);
	/* bad trashtimes */
	assert_int_equal(ns_setxattr(f->ns, z, "bigfs.trashtime", "-1", 2, 0), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, z, "bigfs.trashtime", "1e3", 3, 0), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, z, "bigfs.trashtime", "999999999", 9, 0), -EINVAL);
	/* the whole trash */
	assert_int_equal(ns_trash_purge(f->ns, 0, &files, &bytes), 0);
	assert_int_equal(files, 1);
	assert_int_equal(ns_trash_totals(f->ns, &files, &bytes), 0);
	assert_int_equal(files, 0);
}

static void test_trash_expires(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	uint64_t n = 0;

	uint64_t d = mkdir_(f, 1, "d");
	set_tt(f, d, "1");
	uint64_t fi = mkdata(f, d, "f", 5);
	assert_int_equal(ns_unlink(f->ns, d, "f"), 0);
	assert_int_equal(ns_trash_expire(f->ns, &n), 0);
	assert_int_equal(n, 0);
	sleep(2);
	assert_int_equal(ns_trash_expire(f->ns, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ns_getattr(f->ns, fi, &a), -ENOENT);
}

static void test_quota_usage_and_limits(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_quota_limits l = { .inodes_hard = 3, .bytes_hard = 1000 };
	struct ns_setattr sa = { .has_size = true };
	struct ns_attr a;
	json_t *q = NULL;
	int64_t room;
	uint64_t size;

	uint64_t d = mkdir_(f, 1, "q");
	uint64_t sub = mkdir_(f, d, "sub");
	uint64_t fi = mkdata(f, sub, "f", 400);
	assert_int_equal(ns_quotas_exist(f->ns), 0);
	assert_int_equal(ns_quota_room(f->ns, fi, &room, &size), 0);
	assert_int_equal(room, -1);
	assert_int_equal(ns_quota_set(f->ns, d, &l, &q), 0);
	assert_int_equal(usage(q, "inodes"), 2);     /* sub and f, not q itself */
	assert_int_equal(usage(quota(f, d), "bytes"), 400);
	assert_int_equal(usage(quota(f, d), "replica_bytes"), 800);
	assert_int_equal(ns_quotas_exist(f->ns), 1);
	assert_int_equal(ns_quota_room(f->ns, fi, &room, &size), 0);
	assert_int_equal(room, 600);
	assert_int_equal(size, 400);
	assert_int_equal(ns_quota_set(f->ns, fi, &l, &q), -ENOTDIR);

	/* inodes: the third is the last */
	mkfile(f, d, "g");
	bool created;
	assert_int_equal(ns_create(f->ns, d, "h", 0644, 0, 0, 0, true, &a, &created), -EDQUOT);
	assert_int_equal(ns_mkdir(f->ns, sub, "x", 0755, 0, 0, 0, &a), -EDQUOT);
	/* bytes: a truncate up to exactly the limit, not one byte more */
	sa.size = 1000;
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	sa.size = 1001;
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), -EDQUOT);
	assert_int_equal(ns_quota_room(f->ns, fi, &room, &size), 0);
	assert_int_equal(room, 0);
	sa.size = 100;
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	assert_int_equal(usage(quota(f, d), "bytes"), 100);

	/* renames: a file out frees, a big one in is refused, a tree moves whole */
	uint64_t out = mkdir_(f, 1, "out");
	mkdata(f, out, "big", 5000);
	assert_int_equal(ns_rename(f->ns, out, "big", d, "big", 0), -EDQUOT);
	assert_int_equal(ns_rename(f->ns, d, "sub", out, "sub", 0), 0);
	q = quota(f, d);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "usage"), "inodes")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "usage"), "bytes")), 0);
	json_decref(q);
	assert_int_equal(ns_rename(f->ns, out, "sub", d, "sub", 0), 0);
	assert_int_equal(usage(quota(f, d), "inodes"), 3);
	/* removing makes room; the trash does not count */
	set_tt(f, sub, "3600");
	assert_int_equal(ns_unlink(f->ns, sub, "f"), 0);
	assert_int_equal(usage(quota(f, d), "bytes"), 0);
	assert_int_equal(usage(quota(f, d), "inodes"), 2);

	/* a nested quota: both count, the nearer one's limit holds too */
	struct ns_quota_limits inner = { .bytes_hard = 50 };
	assert_int_equal(ns_quota_set(f->ns, sub, &inner, &q), 0);
	json_decref(q);
	uint64_t s2 = mkfile(f, sub, "s2");
	sa.size = 51;
	assert_int_equal(ns_setattr(f->ns, s2, &sa, &a), -EDQUOT);
	sa.size = 50;
	assert_int_equal(ns_setattr(f->ns, s2, &sa, &a), 0);
	assert_int_equal(usage(quota(f, d), "bytes"), 50);
	assert_int_equal(ns_quota_remove(f->ns, sub), 0);
	assert_int_equal(ns_quota_remove(f->ns, sub), -ENOENT);
	assert_int_equal(ns_quota_list(f->ns, &q), 0);
	assert_int_equal(json_array_size(q), 1);
	json_decref(q);
}

static void test_quota_soft_grace(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_quota_limits l = { .bytes_soft = 100, .grace_s = 1 };
	struct ns_setattr sa = { .has_size = true, .size = 200 };
	struct ns_attr a;
	json_t *q = NULL;

	uint64_t d = mkdir_(f, 1, "q");
	assert_int_equal(ns_quota_set(f->ns, d, &l, &q), 0);
	json_decref(q);
	uint64_t fi = mkfile(f, d, "f");
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);   /* past soft: allowed */
	q = quota(f, d);
	assert_string_equal(json_string_value(json_object_get(q, "over")), "soft");
	json_decref(q);
	sleep(2);
	q = quota(f, d);
	assert_string_equal(json_string_value(json_object_get(q, "over")), "grace_expired");
	json_decref(q);
	sa.size = 201;
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), -EDQUOT);
	sa.size = 50;
	assert_int_equal(ns_setattr(f->ns, fi, &sa, &a), 0);
	q = quota(f, d);
	assert_string_equal(json_string_value(json_object_get(q, "over")), "none");
	json_decref(q);
}

static void test_snapshot_tree(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_snapshot_result r;
	struct ns_attr a, b;
	struct cm_chunk c;
	struct cm_stats st;
	uint32_t refs = 0;

	uint64_t src = mkdir_(f, 1, "src");
	uint64_t sub = mkdir_(f, src, "sub");
	uint64_t fi = mkdata(f, sub, "f", 3000);
	assert_int_equal(ns_symlink(f->ns, src, "ln", "sub/f", 0, 0, &a), 0);
	assert_int_equal(ns_setxattr(f->ns, fi, "user.k", "v", 1, 0), 0);
	assert_int_equal(ns_snapshot(f->ns, src, 1, "snap", &r), 0);
	assert_int_equal(r.inodes, 4);
	assert_int_equal(r.chunks, 1);
	assert_int_equal(ns_getattr(f->ns, r.ino, &a), 0);
	assert_int_equal(a.nlink, 3);     /* ., .. and sub */
	uint64_t nsub = 0, nf = 0;
	assert_int_equal(ns_lookup(f->ns, r.ino, "sub", &a), 0);
	nsub = a.ino;
	assert_int_equal(ns_lookup(f->ns, nsub, "f", &b), 0);
	nf = b.ino;
	assert_true(nf != fi);
	assert_int_equal(b.size, 3000);
	assert_int_equal(b.uid, 7);
	assert_int_equal(b.mode & 07777, 0640);
	void *v = NULL;
	size_t len = 0;
	assert_int_equal(ns_getxattr(f->ns, nf, "user.k", &v, &len), 0);
	assert_int_equal(len, 1);
	free(v);
	char *t = NULL;
	assert_int_equal(ns_lookup(f->ns, r.ino, "ln", &a), 0);
	assert_int_equal(ns_readlink(f->ns, a.ino, &t), 0);
	assert_string_equal(t, "sub/f");
	free(t);
	/* one chunk, named by both files */
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.chunks, 1);
	json_t *info = NULL;
	assert_int_equal(cm_fileinfo(f->cm, nf, &info), 0);
	refs = (uint32_t)json_integer_value(json_object_get(json_array_get(info, 0), "refs"));
	assert_int_equal(refs, 2);
	json_decref(info);

	/* refusals */
	assert_int_equal(ns_snapshot(f->ns, src, sub, "in", &r), -EINVAL);
	assert_int_equal(ns_snapshot(f->ns, src, 1, "snap", &r), -EEXIST);
	assert_int_equal(ns_snapshot(f->ns, src, fi, "x", &r), -ENOTDIR);
	assert_int_equal(ns_snapshot(f->ns, 999999, 1, "x", &r), -ENOENT);
	assert_int_equal(ns_snapshot(f->ns, src, 1, "a/b", &r), -EINVAL);
	/* a shared chunk is never written in place: its copy must be made
	 * first, and with no worker reachable there is none (retry later) */
	assert_int_equal(cm_write(f->cm, fi, 0, "s9", &c), -EAGAIN);

	/* deleting one side frees nothing; the other too frees the chunk */
	assert_int_equal(ns_unlink(f->ns, nsub, "f"), 0);
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.pending_deletes, 0);
	assert_int_equal(st.chunks, 1);
}

static void test_snapshot_refuses_a_file_being_written(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_snapshot_result r;
	struct cm_chunk c;
	struct ns_attr a;
	uint64_t rel = 0;

	uint64_t fi = mkfile(f, 1, "busy");
	assert_int_equal(cm_write(f->cm, fi, 0, "s1", &c), 0);     /* a lease */
	assert_int_equal(ns_snapshot(f->ns, fi, 1, "copy", &r), -EBUSY);
	assert_int_equal(ns_commit(f->ns, fi, 10, "s1", &rel, 1, &a), 0);  /* released */
	assert_int_equal(ns_snapshot(f->ns, fi, 1, "copy", &r), 0);
}

static void test_share_range(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr a;
	struct cm_chunk c;
	struct cm_stats st;
	uint64_t rel = 0;

	uint64_t src = mkdata(f, 1, "src", 100);
	uint64_t dst = mkdata(f, 1, "dst", 50);
	assert_int_equal(ns_share_range(f->ns, src, 0, dst, 0, 1, 100, &a), 0);
	assert_int_equal(a.size, 100);
	/* dst's own chunk went to the garbage queue, src's is shared */
	assert_int_equal(cm_stats(f->cm, &st), 0);
	assert_int_equal(st.chunks, 1);
	assert_int_equal(st.pending_deletes, 2);
	/* refusals: past the source's end, a range being written, one file onto itself */
	assert_int_equal(ns_share_range(f->ns, src, 1, dst, 1, 1, 200, &a), -EINVAL);
	assert_int_equal(ns_share_range(f->ns, src, 0, src, 0, 1, 100, &a), -EINVAL);
	uint64_t w = mkfile(f, 1, "w");
	assert_int_equal(cm_write(f->cm, w, 0, "s2", &c), 0);
	assert_int_equal(ns_share_range(f->ns, src, 0, w, 0, 1, 100, &a), -EBUSY);
	assert_int_equal(ns_commit(f->ns, w, 1, "s2", &rel, 1, &a), 0);
	assert_int_equal(ns_share_range(f->ns, src, 0, w, 0, 1, 100, &a), 0);
	assert_int_equal(ns_share_range(f->ns, 1, 0, w, 0, 1, 100, &a), -EISDIR);
}

static void test_survives_reopen(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_quota_limits l = { .inodes_hard = 5 };
	json_t *q = NULL;
	uint64_t files, bytes;

	uint64_t d = mkdir_(f, 1, "d");
	set_tt(f, d, "3600");
	mkdata(f, d, "f", 77);
	assert_int_equal(ns_unlink(f->ns, d, "f"), 0);
	assert_int_equal(ns_quota_set(f->ns, d, &l, &q), 0);
	json_decref(q);
	nsf_close(f);
	assert_int_equal(nsf_open(f), 0);
	assert_int_equal(ns_trash_totals(f->ns, &files, &bytes), 0);
	assert_int_equal(files, 1);
	assert_int_equal(bytes, 77);
	assert_int_equal(ns_quota_get(f->ns, d, &q), 0);
	assert_int_equal(json_integer_value(json_object_get(q, "inodes_hard")), 5);
	json_decref(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trash_keeps_and_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trash_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_usage_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_soft_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_refuses_a_file_being_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_share_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
