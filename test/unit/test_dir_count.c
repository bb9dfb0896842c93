/* test_dir_count — folders known empty (fuse/dir_count.h): when a
 * listing's count makes one, and every way that knowledge goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "../../fuse/dir_count.h"

/* Folder ino named name in parent, listed whole with n entries at gen. */
static void listed(struct dir_count *t, uint64_t parent, const char *name, uint64_t ino,
		   uint64_t n, uint64_t gen)
{
	dcnt_named(t, parent, name, ino, gen);
	struct dcnt_mark m = dcnt_begin(t, gen);
	dcnt_listed(t, ino, n, m, gen);
}

static void test_empty_after_its_names_go(void **state)
{
	(void)state;
	struct dir_count *t;
	assert_int_equal(dcnt_new(&t), 0);
	assert_false(dcnt_empty(t, 1, "d", 5));        /* never seen */
	listed(t, 1, "d", 10, 3, 5);
	assert_false(dcnt_empty(t, 1, "d", 5));
	dcnt_removed(t, 10);
	dcnt_removed(t, 10);
	assert_false(dcnt_empty(t, 1, "d", 5));        /* one left */
	dcnt_removed(t, 10);
	assert_true(dcnt_empty(t, 1, "d", 5));
	assert_false(dcnt_empty(t, 1, "e", 5));        /* another name */
	assert_false(dcnt_empty(t, 2, "d", 5));        /* another parent */
	/* a removal it did not count: no longer known */
	dcnt_removed(t, 10);
	assert_false(dcnt_empty(t, 1, "d", 5));
	/* listed empty at once (a leaf of rm -r) */
	listed(t, 10, "leaf", 11, 0, 5);
	assert_true(dcnt_empty(t, 10, "leaf", 5));
	dcnt_free(t);
}

/* By the folder's own inode (a listing read again): known empty once its
 * listing's names are all gone; not after a create in it, a newer feed
 * generation, or a rename anywhere; never for a folder not listed. */
static void test_dir_empty_by_inode(void **state)
{
	(void)state;
	struct dir_count *t;
	assert_int_equal(dcnt_new(&t), 0);
	assert_false(dcnt_dir_empty(t, 10, 5));        /* never listed */
	listed(t, 1, "d", 10, 2, 5);
	assert_false(dcnt_dir_empty(t, 10, 5));
	dcnt_removed(t, 10);
	dcnt_removed(t, 10);
	assert_true(dcnt_dir_empty(t, 10, 5));
	assert_false(dcnt_dir_empty(t, 11, 5));        /* another folder */
	dcnt_grew(t, 10);                              /* this mount's create in it */
	assert_false(dcnt_dir_empty(t, 10, 5));
	listed(t, 1, "d", 10, 0, 5);
	assert_true(dcnt_dir_empty(t, 10, 5));
	assert_false(dcnt_dir_empty(t, 10, 6));        /* another mount's change */
	listed(t, 1, "d", 10, 0, 6);
	dcnt_reset(t);                                 /* a rename */
	assert_false(dcnt_dir_empty(t, 10, 6));
	assert_false(dcnt_dir_empty(NULL, 10, 6));     /* a mount without the feed */
	dcnt_free(t);
}

static void test_others_changes_forget_everything(void **state)
{
	(void)state;
	struct dir_count *t;
	assert_int_equal(dcnt_new(&t), 0);
	listed(t, 1, "d", 10, 0, 5);
	assert_true(dcnt_empty(t, 1, "d", 5));
	assert_false(dcnt_empty(t, 1, "d", 6));        /* the feed brought a change */
	assert_false(dcnt_empty(t, 1, "d", 6));        /* and it stays forgotten */
	/* a reply sent before that change names nothing */
	dcnt_named(t, 1, "d", 10, 5);
	struct dcnt_mark m = dcnt_begin(t, 6);
	dcnt_listed(t, 10, 0, m, 6);
	assert_false(dcnt_empty(t, 1, "d", 6));
	/* a listing the change overtook is not taken */
	dcnt_named(t, 1, "d", 10, 6);
	m = dcnt_begin(t, 6);
	dcnt_listed(t, 10, 0, m, 7);
	assert_false(dcnt_empty(t, 1, "d", 7));
	listed(t, 1, "d", 10, 0, 7);
	assert_true(dcnt_empty(t, 1, "d", 7));
	dcnt_free(t);
}

static void test_own_additions_and_renames(void **state)
{
	(void)state;
	struct dir_count *t;
	assert_int_equal(dcnt_new(&t), 0);
	listed(t, 1, "d", 10, 0, 1);
	listed(t, 1, "e", 20, 0, 1);
	dcnt_grew(t, 10);                              /* a create in d */
	assert_false(dcnt_empty(t, 1, "d", 1));
	assert_true(dcnt_empty(t, 1, "e", 1));         /* e untouched */
	/* a listing under way while something was added anywhere */
	dcnt_named(t, 1, "f", 30, 1);
	struct dcnt_mark m = dcnt_begin(t, 1);
	dcnt_grew(t, 99);
	dcnt_listed(t, 30, 0, m, 1);
	assert_false(dcnt_empty(t, 1, "f", 1));
	/* a rename: names may be other folders now */
	dcnt_reset(t);
	assert_false(dcnt_empty(t, 1, "e", 1));
	m = dcnt_begin(t, 1);
	dcnt_reset(t);
	dcnt_named(t, 1, "e", 20, 1);
	dcnt_listed(t, 20, 0, m, 1);
	assert_false(dcnt_empty(t, 1, "e", 1));
	/* a name given to another folder */
	listed(t, 1, "g", 40, 0, 1);
	dcnt_named(t, 1, "g", 41, 1);
	assert_false(dcnt_empty(t, 1, "g", 1));
	dcnt_free(t);
}

static void test_many_folders_wipe_and_relearn(void **state)
{
	(void)state;
	struct dir_count *t;
	assert_int_equal(dcnt_new(&t), 0);
	char name[32];
	/* far more than the tables hold: each answer is right or unknown */
	for (uint64_t i = 1; i <= 4 * DCNT_SLOTS; i++) {
		snprintf(name, sizeof(name), "d%llu", (unsigned long long)i);
		listed(t, 1, name, 100 + i, i % 2, 1);
		assert_true(dcnt_empty(t, 1, name, 1) == (i % 2 == 0));
	}
	unsigned known = 0;
	for (uint64_t i = 1; i <= 4 * DCNT_SLOTS; i++) {
		snprintf(name, sizeof(name), "d%llu", (unsigned long long)i);
		if (dcnt_empty(t, 1, name, 1)) {
			assert_true(i % 2 == 0);
			known++;
		}
	}
	assert_true(known > 0 && known < 2 * DCNT_SLOTS);   /* the recent ones */
	dcnt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_after_its_names_go),
		cmocka_unit_test(test_dir_empty_by_inode),
		cmocka_unit_test(test_others_changes_forget_everything),
		cmocka_unit_test(test_own_additions_and_renames),
		cmocka_unit_test(test_many_folders_wipe_and_relearn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
