/* Unit tests of fuse/meta_cache: a directory this mount made answers
 * "absent" for names it never saw, and stops the moment the master's
 * change count shows someone else's change, an unknown name is seen, a
 * removal of a name it did not know comes, or MC_TTL_MS pass without a
 * confirmation; attributes of changed directories are served until the
 * TTL and never replaced by an older reply; "no xattrs" is kept per inode
 * and dropped by a change; RENAME_EXCHANGE keeps both names; the tables
 * empty themselves when full and work on; names are answered only under
 * the master's lease, counted from the send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fuse/meta_cache.h"

static json_t *dir_attr(uint64_t ino, uint64_t dver, uint32_t nlink)
{
	return json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i}",
			 "ino", (json_int_t)ino, "mode", S_IFDIR | 0755, "nlink", (int)nlink,
			 "uid", 0, "gid", 0, "size", 0, "atime_s", 1, "atime_ns", 0, "mtime_s",
			 (int)(100 + dver), "mtime_ns", 0, "ctime_s", (int)(100 + dver),
			 "ctime_ns", 0, "dver", (json_int_t)dver, "xa", 0);
}

/* A reply whose "dirs" says dir went from prev to dver, this mount
 * holding the folder's lease. */
static json_t *reply1(uint64_t dir, uint64_t prev, uint64_t dver)
{
	return json_pack("{s:[{s:I, s:o, s:b}]}", "dirs", "prev", (json_int_t)prev, "attr",
			 dir_attr(dir, dver, 2), "lease", 1);
}

static void made(struct meta_cache *mc, uint64_t ino, uint64_t dver)
{
	json_t *r = json_pack("{s:o, s:b}", "attr", dir_attr(ino, dver, 2), "lease", 1);
	mcache_dir_made(mc, r, mcache_now_ms());
	json_decref(r);
}

/* A change of name in dir (count prev -> dver); ino: what it names now. */
static void change_ino(struct meta_cache *mc, uint64_t dir, uint64_t prev, uint64_t dver,
		       const char *name, int delta, uint64_t ino)
{
	json_t *r = reply1(dir, prev, dver);
	struct mc_change ch = { dir, name, delta, ino };
	mcache_changed(mc, r, &ch, 1, mcache_now_ms());
	json_decref(r);
}

static void change(struct meta_cache *mc, uint64_t dir, uint64_t prev, uint64_t dver,
		   const char *name, int delta)
{
	change_ino(mc, dir, prev, dver, name, delta, 0);
}

static void test_made_dir_knows_absent_names(void **state)
{
	(void)state;
	struct meta_cache *mc;
	assert_int_equal(mcache_new(&mc), 0);
	assert_false(mcache_absent(mc, 10, "a"));   /* never seen: unknown */
	assert_false(mcache_dir_empty(mc, 10));
	made(mc, 10, 0);
	assert_true(mcache_absent(mc, 10, "a"));
	assert_true(mcache_dir_empty(mc, 10));
	change(mc, 10, 0, 1, "a", 1);
	assert_false(mcache_absent(mc, 10, "a"));
	assert_true(mcache_absent(mc, 10, "b"));
	assert_false(mcache_dir_empty(mc, 10));
	change(mc, 10, 1, 2, "a", -1);
	assert_true(mcache_absent(mc, 10, "a"));
	assert_true(mcache_dir_empty(mc, 10));
	/* the same name made twice (a rename over it) is one name: one
	 * removal and it is gone */
	change(mc, 10, 2, 3, "c", 1);
	change(mc, 10, 3, 4, "c", 1);
	assert_false(mcache_absent(mc, 10, "c"));
	change(mc, 10, 4, 5, "c", -1);
	assert_true(mcache_absent(mc, 10, "c"));
	change(mc, 10, 5, 6, "c", 1);
	/* the master says a name we did not know exists: not complete */
	mcache_seen(mc, 10, "c");
	assert_true(mcache_absent(mc, 10, "zz"));
	mcache_seen(mc, 10, "other");
	assert_false(mcache_absent(mc, 10, "zz"));
	mcache_free(mc);
}

/* mkdir of name in dir (count prev -> dver) made folder ino (count 0) */
static void made_in(struct meta_cache *mc, uint64_t dir, uint64_t prev, uint64_t dver,
		    const char *name, uint64_t ino)
{
	change_ino(mc, dir, prev, dver, name, 1, ino);
	made(mc, ino, 0);
}

static void test_made_child_folders_known(void **state)
{
	(void)state;
	struct meta_cache *mc;
	struct stat st;
	double valid;
	assert_int_equal(mcache_new(&mc), 0);
	made(mc, 40, 0);
	made_in(mc, 40, 0, 1, "sub", 41);
	assert_true(mcache_child(mc, 40, "sub", &st, &valid));
	assert_int_equal(st.st_ino, 41);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(valid > 0 && valid <= MC_TTL_MS / 1000.0);
	assert_false(mcache_child(mc, 40, "other", &st, &valid));
	/* a name made by a call whose inode was not said: not answered */
	change(mc, 40, 1, 2, "file", 1);
	assert_false(mcache_child(mc, 40, "file", &st, &valid));
	/* removed, then a file of that name: no longer the folder */
	change(mc, 40, 2, 3, "sub", -1);
	assert_false(mcache_child(mc, 40, "sub", &st, &valid));
	change(mc, 40, 3, 4, "sub", 1);
	assert_false(mcache_child(mc, 40, "sub", &st, &valid));
	/* another client's change of the parent: nothing known there */
	made_in(mc, 40, 4, 5, "sub2", 42);
	assert_true(mcache_child(mc, 40, "sub2", &st, &valid));
	change(mc, 40, 6, 7, "x", 1);
	assert_false(mcache_child(mc, 40, "sub2", &st, &valid));
	/* the feed brought others' changes: the child's attributes are old */
	made(mc, 50, 0);
	made_in(mc, 50, 0, 1, "d", 51);
	assert_true(mcache_child(mc, 50, "d", &st, &valid));
	mcache_feed_changed(mc);
	assert_false(mcache_child(mc, 50, "d", &st, &valid));
	/* RENAME_EXCHANGE in the parent: the name is another inode now */
	made(mc, 60, 0);
	made_in(mc, 60, 0, 1, "e", 61);
	change(mc, 60, 1, 2, "f", 1);
	assert_true(mcache_child(mc, 60, "e", &st, &valid));
	json_t *r = reply1(60, 2, 3);
	struct mc_change ex[2] = { { 60, "e", 0, 0 }, { 60, "f", 0, 0 } };
	mcache_changed(mc, r, ex, 2, mcache_now_ms());
	json_decref(r);
	assert_true(mcache_absent(mc, 60, "g"));     /* still complete */
	assert_false(mcache_child(mc, 60, "e", &st, &valid));
	mcache_free(mc);
}

static void test_someone_elses_change_ends_it(void **state)
{
	(void)state;
	struct meta_cache *mc;
	assert_int_equal(mcache_new(&mc), 0);
	made(mc, 20, 7);
	change(mc, 20, 7, 8, "x", 1);
	assert_true(mcache_absent(mc, 20, "y"));
	/* count 8 -> the reply says 9 -> 10: a change in between */
	change(mc, 20, 9, 10, "y", 1);
	assert_false(mcache_absent(mc, 20, "q"));
	/* and it stays unknown: a later matching count does not bring it back */
	change(mc, 20, 10, 11, "z", 1);
	assert_false(mcache_absent(mc, 20, "q"));
	/* a removal of a name it never had */
	made(mc, 21, 0);
	change(mc, 21, 0, 1, "ghost", -1);
	assert_false(mcache_absent(mc, 21, "q"));
	/* a reply without "dirs" (an older master): nothing known */
	made(mc, 22, 0);
	json_t *r = json_object();
	struct mc_change ch = { 22, "n", 1, 0 };
	mcache_changed(mc, r, &ch, 1, mcache_now_ms());
	json_decref(r);
	assert_false(mcache_absent(mc, 22, "q"));
	struct stat st;
	double valid;
	assert_false(mcache_attr(mc, 22, &st, &valid, NULL));
	/* the master no longer renews the lease (someone else changed it) */
	made(mc, 23, 0);
	r = json_pack("{s:[{s:i, s:o}]}", "dirs", "prev", 0, "attr", dir_attr(23, 1, 2));
	struct mc_change ch2 = { 23, "n", 1, 0 };
	mcache_changed(mc, r, &ch2, 1, mcache_now_ms());
	json_decref(r);
	assert_false(mcache_absent(mc, 23, "q"));
	/* a mkdir without a lease (an older master, an export that maps
	 * callers): attributes, but no answers for names */
	r = json_pack("{s:o}", "attr", dir_attr(24, 0, 2));
	mcache_dir_made(mc, r, mcache_now_ms());
	json_decref(r);
	assert_false(mcache_absent(mc, 24, "q"));
	assert_true(mcache_attr(mc, 24, &st, &valid, NULL));
	/* the lease runs from when the call was sent, not from its reply */
	r = json_pack("{s:o, s:b}", "attr", dir_attr(25, 0, 2), "lease", 1);
	mcache_dir_made(mc, r, mcache_now_ms() - MC_LEASE_MS);
	json_decref(r);
	assert_false(mcache_absent(mc, 25, "q"));
	assert_false(mcache_dir_empty(mc, 25));
	assert_false(mcache_dir_empty(mc, 24));
	assert_false(mcache_dir_empty(mc, 23));
	mcache_free(mc);
}

/* A folder whose lease ran out still knows its names at its count
 * (mcache_names_ver); a lookup's reply that the master renewed the lease
 * at that count makes them answer again, counted from the send; not a
 * reply at another count, nor one about another folder, nor one that
 * came after this mount's own change moved the count on. */
static void test_lease_renewed_by_a_lookup(void **state)
{
	(void)state;
	struct meta_cache *mc;
	uint64_t ver = 99;
	assert_int_equal(mcache_new(&mc), 0);
	assert_false(mcache_names_ver(mc, 30, &ver));     /* unknown folder */
	json_t *r = json_pack("{s:o, s:b}", "attr", dir_attr(30, 0, 2), "lease", 1);
	mcache_dir_made(mc, r, mcache_now_ms() - MC_LEASE_MS);   /* ran out */
	json_decref(r);
	json_t *a = json_pack("{s:o, s:b}", "attr", dir_attr(31, 0, 2), "lease", 1);
	mcache_dir_made(mc, a, mcache_now_ms() - MC_LEASE_MS);
	json_decref(a);
	assert_false(mcache_absent(mc, 30, "q"));
	assert_true(mcache_names_ver(mc, 30, &ver));
	assert_int_equal(ver, 0);
	/* renewed at another count (someone changed it): nothing */
	json_t *d = dir_attr(30, 1, 2);
	mcache_lease_again(mc, 30, d, 0, mcache_now_ms());
	json_decref(d);
	assert_false(mcache_absent(mc, 30, "q"));
	/* the attributes of another folder than asked: nothing */
	d = dir_attr(31, 0, 2);
	mcache_lease_again(mc, 30, d, 0, mcache_now_ms());
	assert_false(mcache_absent(mc, 30, "q"));
	assert_false(mcache_absent(mc, 31, "q"));
	/* not renewed (no "dir" in the reply): nothing */
	mcache_lease_again(mc, 31, NULL, 0, mcache_now_ms());
	assert_false(mcache_absent(mc, 31, "q"));
	/* renewed at the count known: answers again, until MC_LEASE_MS after
	 * the send */
	mcache_lease_again(mc, 31, d, 0, mcache_now_ms() - MC_LEASE_MS);
	assert_false(mcache_absent(mc, 31, "q"));
	mcache_lease_again(mc, 31, d, 0, mcache_now_ms());
	json_decref(d);
	assert_true(mcache_absent(mc, 31, "q"));
	/* this mount's own change moved the count on while the lookup was on
	 * its way: its reply at the old count renews nothing */
	r = json_pack("{s:o, s:b}", "attr", dir_attr(32, 0, 2), "lease", 1);
	mcache_dir_made(mc, r, mcache_now_ms() - MC_LEASE_MS);
	json_decref(r);
	assert_true(mcache_names_ver(mc, 32, &ver));
	json_t *c = reply1(32, 0, 1);
	struct mc_change ch = { 32, "n", 1, 0 };
	mcache_changed(mc, c, &ch, 1, mcache_now_ms() - MC_LEASE_MS);
	json_decref(c);
	d = dir_attr(32, 0, 2);
	mcache_lease_again(mc, 32, d, ver, mcache_now_ms());
	json_decref(d);
	assert_false(mcache_absent(mc, 32, "q"));
	assert_true(mcache_names_ver(mc, 32, &ver));   /* at the new count */
	assert_int_equal(ver, 1);
	d = dir_attr(32, 1, 2);
	mcache_lease_again(mc, 32, d, ver, mcache_now_ms());
	json_decref(d);
	assert_true(mcache_absent(mc, 32, "q"));
	assert_false(mcache_absent(mc, 32, "n"));
	mcache_free(mc);
}

static void test_rename_two_dirs_and_exchange(void **state)
{
	(void)state;
	struct meta_cache *mc;
	assert_int_equal(mcache_new(&mc), 0);
	made(mc, 30, 0);
	made(mc, 31, 0);
	change(mc, 30, 0, 1, "a", 1);
	change(mc, 31, 0, 1, "b", 1);
	json_t *r = json_pack("{s:[{s:i, s:o, s:b}, {s:i, s:o, s:b}]}", "dirs", "prev", 1,
			      "attr", dir_attr(30, 2, 2), "lease", 1, "prev", 1, "attr",
			      dir_attr(31, 2, 2), "lease", 1);
	struct mc_change mv[2] = { { 30, "a", -1, 0 }, { 31, "a2", 1, 0 } };
	mcache_changed(mc, r, mv, 2, mcache_now_ms());
	json_decref(r);
	assert_true(mcache_absent(mc, 30, "a"));
	assert_false(mcache_absent(mc, 31, "a2"));
	assert_false(mcache_absent(mc, 31, "b"));
	/* RENAME_EXCHANGE of a2 and b in one directory (two touches, one record) */
	r = reply1(31, 2, 4);
	struct mc_change ex[2] = { { 31, "a2", 0, 0 }, { 31, "b", 0, 0 } };
	mcache_changed(mc, r, ex, 2, mcache_now_ms());
	json_decref(r);
	assert_false(mcache_absent(mc, 31, "a2"));
	assert_false(mcache_absent(mc, 31, "b"));
	assert_true(mcache_absent(mc, 31, "c"));
	mcache_free(mc);
}

static void test_attrs_ttl_and_order(void **state)
{
	(void)state;
	struct meta_cache *mc;
	struct stat st;
	double valid;
	assert_int_equal(mcache_new(&mc), 0);
	assert_false(mcache_attr(mc, 40, &st, &valid, NULL));
	/* attributes of a directory the mount did not make still come along */
	change(mc, 40, 5, 6, "a", 1);
	assert_true(mcache_attr(mc, 40, &st, &valid, NULL));
	assert_int_equal(st.st_ino, 40);
	assert_int_equal(st.st_mtim.tv_sec, 106);
	assert_true(valid > 0.5 && valid <= 1.0);
	assert_false(mcache_absent(mc, 40, "zz"));   /* not made here: unknown */
	/* an older reply arriving late does not replace newer attributes */
	change(mc, 40, 4, 5, "b", 1);
	assert_true(mcache_attr(mc, 40, &st, &valid, NULL));
	assert_int_equal(st.st_mtim.tv_sec, 106);
	mcache_forget_attr(mc, 40);
	assert_false(mcache_attr(mc, 40, &st, &valid, NULL));
	/* both the attributes and the absent names end after MC_TTL_MS */
	made(mc, 41, 0);
	bool exact = false;
	assert_true(mcache_attr(mc, 41, &st, &valid, &exact));
	assert_true(exact);
	assert_true(mcache_absent(mc, 41, "x"));
	/* a queued change of it: its times are this mount's guess, until a
	 * reply says them again */
	mcache_dir_predict(mc, 40, 0);   /* forgotten above: nothing */
	assert_false(mcache_attr(mc, 40, &st, &valid, &exact));
	made(mc, 42, 0);
	mcache_dir_predict(mc, 42, 0);
	assert_true(mcache_attr(mc, 42, &st, &valid, &exact));
	assert_false(exact);
	change(mc, 42, 0, 1, "p", 1);
	assert_true(mcache_attr(mc, 42, &st, &valid, &exact));
	assert_true(exact);
	usleep((MC_TTL_MS + 100) * 1000);   /* > MC_LEASE_MS too */
	assert_false(mcache_attr(mc, 41, &st, &valid, NULL));
	assert_false(mcache_absent(mc, 41, "x"));
	/* a confirmation later (nothing changed meanwhile) brings it back */
	change(mc, 41, 0, 1, "y", 1);
	assert_true(mcache_absent(mc, 41, "x"));
	assert_false(mcache_absent(mc, 41, "y"));
	mcache_free(mc);
}

static void test_xattrs(void **state)
{
	(void)state;
	struct meta_cache *mc;
	assert_int_equal(mcache_new(&mc), 0);
	json_t *none = json_pack("{s:i, s:i}", "ino", 50, "xa", 0);
	json_t *some = json_pack("{s:i, s:i}", "ino", 51, "xa", 1);
	json_t *old = json_pack("{s:i}", "ino", 52);
	mcache_note_xattrs(mc, none);
	mcache_note_xattrs(mc, some);
	mcache_note_xattrs(mc, old);
	assert_true(mcache_no_xattrs(mc, 50));
	assert_false(mcache_no_xattrs(mc, 51));
	assert_false(mcache_no_xattrs(mc, 52));
	mcache_xattrs_changed(mc, 50);
	assert_false(mcache_no_xattrs(mc, 50));
	mcache_note_xattrs(mc, none);
	assert_true(mcache_no_xattrs(mc, 50));
	/* now it has some */
	json_t *now = json_pack("{s:i, s:i}", "ino", 50, "xa", 1);
	mcache_note_xattrs(mc, now);
	assert_false(mcache_no_xattrs(mc, 50));
	json_decref(now);
	json_decref(none);
	json_decref(some);
	json_decref(old);
	mcache_free(mc);
}

/* Creates this mount answers itself (fs_ops.c fs_create_local): the name
 * is known at once; the folder's owner attributes are known from a reply,
 * until the feed names the folder or is reset; a listing recall stops
 * them until a create sent after it came back; a failed one drops what
 * is known of the folder. */
static void test_made_here(void **state)
{
	(void)state;
	struct meta_cache *mc;
	struct stat st;
	assert_int_equal(mcache_new(&mc), 0);
	assert_false(mcache_add_made(mc, 40, "x", 500));     /* no lease */
	made(mc, 40, 0);
	assert_false(mcache_dir_owner(mc, 40, &st));         /* xattrs not known */
	json_t *a = dir_attr(40, 0, 2);
	mcache_note_xattrs(mc, a);
	json_decref(a);
	assert_true(mcache_dir_owner(mc, 40, &st));
	assert_true(S_ISDIR(st.st_mode));
	assert_true(mcache_add_made(mc, 40, "x", 500));
	assert_false(mcache_absent(mc, 40, "x"));
	assert_true(mcache_absent(mc, 40, "y"));
	change_ino(mc, 40, 0, 1, "x", 1, 500);                /* its reply */
	assert_false(mcache_absent(mc, 40, "x"));
	assert_true(mcache_absent(mc, 40, "y"));
	/* the feed named the folder, or was reset: a reply tells again */
	mcache_forget_attr(mc, 40);
	assert_false(mcache_dir_owner(mc, 40, &st));
	change(mc, 40, 1, 2, "y", 1);
	assert_true(mcache_dir_owner(mc, 40, &st));
	mcache_feed_reset(mc);
	assert_false(mcache_dir_owner(mc, 40, &st));
	change(mc, 40, 2, 3, "z", 1);
	assert_true(mcache_dir_owner(mc, 40, &st));
	/* a listing recall: none until a create sent after it came back */
	uint64_t before = mcache_recalls(mc);
	mcache_recall(mc, 40);
	assert_false(mcache_add_made(mc, 40, "w", 501));
	mcache_recall_over(mc, 40, before);
	assert_false(mcache_add_made(mc, 40, "w", 501));
	mcache_recall_over(mc, 40, mcache_recalls(mc));
	assert_true(mcache_add_made(mc, 40, "w", 501));
	/* one the master refused: the folder's names are asked again */
	struct mc_change ch = { 40, "w", 1, 501 };
	mcache_changed(mc, NULL, &ch, 1, 0);
	assert_false(mcache_absent(mc, 40, "v"));
	assert_false(mcache_add_made(mc, 40, "v", 502));
	mcache_free(mc);
}

static void test_full_tables_reset(void **state)
{
	(void)state;
	struct meta_cache *mc;
	char name[32];
	assert_int_equal(mcache_new(&mc), 0);
	/* one big directory: past MC_DIR_NAMES it is no longer complete */
	made(mc, 60, 0);
	uint64_t v = 0;
	for (unsigned i = 0; i < MC_DIR_NAMES; i++, v++) {
		snprintf(name, sizeof(name), "n%u", i);
		change(mc, 60, v, v + 1, name, 1);
	}
	assert_true(mcache_absent(mc, 60, "other"));
	assert_false(mcache_absent(mc, 60, "n77"));
	change(mc, 60, v, v + 1, "one-more", 1);
	assert_false(mcache_absent(mc, 60, "other"));
	/* MC_INOS inodes: the table empties itself and goes on */
	made(mc, 61, 0);
	json_t *a = json_pack("{s:i, s:i}", "ino", 1, "xa", 0);
	for (uint64_t ino = 1000; ino < 1000 + MC_INOS; ino++) {
		json_object_set_new(a, "ino", json_integer((json_int_t)ino));
		mcache_note_xattrs(mc, a);
	}
	json_decref(a);
	assert_false(mcache_absent(mc, 61, "x"));       /* forgotten */
	assert_true(mcache_no_xattrs(mc, 1000 + MC_INOS - 1));
	made(mc, 62, 0);
	assert_true(mcache_absent(mc, 62, "x"));
	mcache_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_dir_knows_absent_names),
		cmocka_unit_test(test_someone_elses_change_ends_it),
		cmocka_unit_test(test_made_child_folders_known),
		cmocka_unit_test(test_rename_two_dirs_and_exchange),
		cmocka_unit_test(test_lease_renewed_by_a_lookup),
		cmocka_unit_test(test_attrs_ttl_and_order),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_full_tables_reset),
		cmocka_unit_test(test_made_here),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
