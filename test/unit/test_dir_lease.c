/* Unit tests of master/dir_lease: the maker of a folder holds its lease
 * and each of its own changes renews it; anyone else's change revokes it
 * and says how long to wait (the last renewal's time), after which
 * nothing is left; a revoked lease is not renewed by its old holder; a
 * lease runs out by itself, and its holder's next change takes it again
 * unless someone else changed the folder meanwhile, as does its next
 * lookup there (dlease_renew); the table sweeps
 * expired leases when full; who holds one for another client's recall
 * (dlease_held_by_other, dlease_listed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../master/dir_lease.h"

static void test_holder_renews_others_revoke(void **state)
{
	(void)state;
	struct dir_leases *t;
	int64_t until;
	assert_int_equal(dlease_new(&t), 0);
	/* no lease: nothing to wait for, nobody holds it */
	assert_false(dlease_changed(t, 5, "mount-a", &until));
	assert_int_equal(until, 0);
	dlease_grant(t, 5, "mount-a");
	assert_int_equal(dlease_count(t), 1);
	assert_true(dlease_changed(t, 5, "mount-a", &until));
	assert_int_equal(until, 0);
	/* another mount, and an operator's call without a session */
	int64_t before = dlease_now_ms();
	assert_false(dlease_changed(t, 5, "mount-b", &until));
	assert_true(until >= before && until <= before + DL_TTL_MS + 5);
	assert_int_equal(dlease_count(t), 0);
	/* the old holder's next change is not renewed, and waits nothing more */
	assert_false(dlease_changed(t, 5, "mount-a", &until));
	assert_true(until > 0);           /* still its time to run out */
	dlease_grant(t, 6, "mount-a");
	assert_false(dlease_changed(t, 6, NULL, &until));
	assert_true(until > 0);
	/* bad sessions get no lease */
	dlease_grant(t, 7, "");
	dlease_grant(t, 8, NULL);
	assert_false(dlease_changed(t, 7, "", &until));
	assert_int_equal(until, 0);
	dlease_free(t);
}

static void test_runs_out(void **state)
{
	(void)state;
	struct dir_leases *t;
	int64_t until;
	assert_int_equal(dlease_new(&t), 0);
	dlease_grant(t, 9, "m");
	dlease_grant(t, 10, "m");
	dlease_grant(t, 11, "m");
	assert_false(dlease_changed(t, 10, "other", &until));
	usleep((DL_TTL_MS + 50) * 1000);
	assert_int_equal(dlease_count(t), 0);
	/* ran out: another's change waits for nothing and ends it */
	assert_false(dlease_changed(t, 9, "other", &until));
	assert_int_equal(until, 0);
	assert_false(dlease_changed(t, 9, "m", &until));
	assert_int_equal(until, 0);
	/* revoked, then ran out: its old holder does not get it again */
	assert_false(dlease_changed(t, 10, "m", &until));
	assert_int_equal(until, 0);
	assert_false(dlease_changed(t, 10, "other", &until));
	assert_int_equal(until, 0);
	/* ran out idle: the holder's next change takes it again, and
	 * another's change after that waits for it */
	assert_true(dlease_changed(t, 11, "m", &until));
	assert_int_equal(dlease_count(t), 1);
	int64_t before = dlease_now_ms();
	assert_false(dlease_changed(t, 11, "other", &until));
	assert_true(until >= before && until <= before + DL_TTL_MS + 5);
	assert_int_equal(dlease_count(t), 0);
	/* granted again by a new mkdir */
	dlease_grant(t, 9, "m");
	assert_true(dlease_changed(t, 9, "m", &until));
	dlease_free(t);
}

/* A lookup of the holder renews its lease, also once it ran out; not a
 * revoked one, not one someone else's change ended, not another's. */
static void test_lookup_renews(void **state)
{
	(void)state;
	struct dir_leases *t;
	int64_t until;
	assert_int_equal(dlease_new(&t), 0);
	assert_false(dlease_renew(t, 20, "m"));           /* none */
	dlease_grant(t, 20, "m");
	dlease_grant(t, 21, "m");
	dlease_grant(t, 22, "m");
	assert_true(dlease_renew(t, 20, "m"));
	assert_false(dlease_renew(t, 20, "other"));
	assert_false(dlease_renew(t, 20, NULL));
	assert_false(dlease_renew(t, 20, ""));
	assert_false(dlease_changed(t, 21, "other", &until));   /* revoked */
	assert_false(dlease_renew(t, 21, "m"));
	usleep((DL_TTL_MS + 50) * 1000);
	assert_int_equal(dlease_count(t), 0);
	/* ran out idle: the holder's lookup takes it again, and another's
	 * change then waits for it */
	assert_true(dlease_renew(t, 20, "m"));
	assert_int_equal(dlease_count(t), 1);
	int64_t before = dlease_now_ms();
	assert_false(dlease_changed(t, 20, "other", &until));
	assert_true(until >= before && until <= before + DL_TTL_MS + 5);
	/* ran out, then another's change ended it: no renewal */
	assert_false(dlease_changed(t, 22, "other", &until));
	assert_int_equal(until, 0);
	assert_false(dlease_renew(t, 22, "m"));
	assert_false(dlease_renew(t, 21, "m"));
	dlease_free(t);
}

/* Who may have creates of its own on their way in a folder
 * (dlease_held_by_other), and a listing by another client
 * (dlease_listed): the holder is named while its lease runs or ran out
 * less than grace ago; a lease that ran out longer ago ends at another's
 * listing (its holder does not take it again), and stays at a lookup. */
static void test_holder_for_recalls(void **state)
{
	(void)state;
	struct dir_leases *t;
	int64_t until;
	char holder[130];
	assert_int_equal(dlease_new(&t), 0);
	assert_false(dlease_held_by_other(t, 30, "b", 0, holder));
	assert_int_equal(dlease_listed(t, 30, "b", 0, holder), 0);
	dlease_grant(t, 30, "a");
	dlease_grant(t, 31, "a");
	holder[0] = '\0';
	assert_true(dlease_held_by_other(t, 30, "b", 0, holder));
	assert_string_equal(holder, "a");
	assert_true(dlease_held_by_other(t, 30, NULL, 0, holder));   /* an operator */
	assert_false(dlease_held_by_other(t, 30, "a", 0, holder));   /* its own */
	assert_int_equal(dlease_listed(t, 30, "b", 0, holder), 1);
	assert_int_equal(dlease_listed(t, 30, "a", 0, holder), 0);
	/* neither a lookup nor a listing revokes it */
	assert_true(dlease_changed(t, 30, "a", &until));
	/* a revoked one names nobody */
	assert_false(dlease_changed(t, 31, "b", &until));
	assert_false(dlease_held_by_other(t, 31, "c", 60000, holder));
	usleep((DL_TTL_MS + 50) * 1000);
	/* ran out: named within the grace, not past it */
	assert_true(dlease_held_by_other(t, 30, "b", 60000, holder));
	assert_false(dlease_held_by_other(t, 30, "b", 0, holder));
	assert_int_equal(dlease_listed(t, 30, "b", 60000, holder), 1);
	assert_true(dlease_renew(t, 30, "a"));     /* still the holder's */
	usleep((DL_TTL_MS + 50) * 1000);
	/* past the grace, a listing ends it: its holder's lookup and change
	 * do not take it again */
	assert_int_equal(dlease_listed(t, 30, "b", 0, holder), 0);
	assert_false(dlease_renew(t, 30, "a"));
	assert_false(dlease_changed(t, 30, "a", &until));
	dlease_free(t);
}

static void test_full_table_sweeps(void **state)
{
	(void)state;
	struct dir_leases *t;
	int64_t until;
	assert_int_equal(dlease_new(&t), 0);
	for (uint64_t d = 1; d <= DL_MAX; d++)
		dlease_grant(t, d, "m");
	assert_int_equal(dlease_count(t), DL_MAX);
	dlease_grant(t, DL_MAX + 1, "m");         /* full: not granted */
	assert_false(dlease_changed(t, DL_MAX + 1, "m", &until));
	usleep((DL_TTL_MS + 50) * 1000);
	dlease_grant(t, DL_MAX + 2, "m");         /* sweeps the expired ones */
	assert_true(dlease_changed(t, DL_MAX + 2, "m", &until));
	assert_int_equal(dlease_count(t), 1);
	dlease_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holder_renews_others_revoke),
		cmocka_unit_test(test_runs_out),
		cmocka_unit_test(test_lookup_renews),
		cmocka_unit_test(test_full_table_sweeps),
		cmocka_unit_test(test_holder_for_recalls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
