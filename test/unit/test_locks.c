/* Unit tests of master/locks: conflicts between read and write ranges of
 * different owners, splitting and merging of an owner's ranges, flock
 * against fcntl, release of an owner's and of a session's locks, F_GETLK
 * answers, argument checks, the per-session limit, deadlock detection
 * (EDEADLK) through waiter records, and the grace period after a master
 * restart. Everything is checked through the public API (locks.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../master/locks.h"
#include "clock.h"

#define INO 42
#define S1 1
#define S2 2
#define S3 3
#define OA 0xa
#define OB 0xb
#define OC 0xc

static int setup(void **state)
{
	struct locks *lk = NULL;
	if (locks_new(&lk) < 0)
		return -1;
	*state = lk;
	return 0;
}

static int teardown(void **state)
{
	locks_free(*state);
	return 0;
}

/* Set a POSIX lock with flags, no held list. */
static int set(struct locks *lk, uint64_t sid, uint64_t owner, enum lk_type type,
	       uint64_t start, uint64_t end, unsigned flags)
{
	return locks_set(lk, INO, LK_POSIX, sid, owner, 100 + (uint32_t)owner,
			 (enum lk_type)((unsigned)type | flags), start, end, NULL, NULL);
}

/* The ranges owner holds on INO, sorted by start, as "type:start-end"
 * joined by spaces (e = LK_EOF), checked exactly. */
static int cmp_range(const void *a, const void *b)
{
	const struct lk_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void expect_ranges(struct locks *lk, uint64_t sid, uint64_t owner, const char *want)
{
	struct lk_range *held = NULL;
	size_t n = 99;
	char buf[512] = "";
	/* an unlock of a range no test locks: changes nothing, answers the
	 * owner's ranges */
	assert_int_equal(locks_set(lk, INO, LK_POSIX, sid, owner, 0, LK_UNLCK, 1000000,
				   1000000, &held, &n), 0);
	if (n)
		qsort(held, n, sizeof(*held), cmp_range);
	for (size_t i = 0; i < n; i++) {
		char one[96], end[24];
		if (held[i].end == LK_EOF)
			strcpy(end, "e");
		else
			snprintf(end, sizeof(end), "%llu", (unsigned long long)held[i].end);
		snprintf(one, sizeof(one), "%s%c:%llu-%s", i ? " " : "",
			 held[i].type == LK_RDLCK ? 'r' : 'w', (unsigned long long)held[i].start,
			 end);
		strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
		assert_int_equal(held[i].sid, sid);
	}
	free(held);
	assert_string_equal(buf, want);
}

static void test_conflicts(void **state)
{
	struct locks *lk = *state;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 99, 0), 0);
	/* write against anything overlapping: conflict */
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 50, 59, 0), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 99, 99, 0), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 0, 0), -EAGAIN);
	/* the same owner number in another session is another owner */
	assert_int_equal(set(lk, S2, OA, LK_WRLCK, 10, 10, 0), -EAGAIN);
	/* another owner of the same session too */
	assert_int_equal(set(lk, S1, OB, LK_RDLCK, 10, 10, 0), -EAGAIN);
	/* adjacent: no conflict */
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 100, 199, 0), 0);
	/* the same owner never conflicts with itself */
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, 50, 59, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 99, 0), 0);
	/* a conflict changes nothing */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 90, 110, 0), -EAGAIN);
	expect_ranges(lk, S1, OA, "w:0-99");
	/* read locks share, write against read conflicts */
	assert_int_equal(set(lk, S3, OC, LK_RDLCK, 300, 399, 0), 0);
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 350, 450, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 399, 399, 0), -EAGAIN);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 451, 500, 0), 0);
	/* a range to the end of the file conflicts far away */
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 1000, LK_EOF, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, (uint64_t)1 << 50, (uint64_t)1 << 50, 0),
			 -EAGAIN);
	/* other inodes are independent */
	assert_int_equal(locks_set(lk, INO + 1, LK_POSIX, S2, OB, 0, LK_WRLCK, 0, LK_EOF, NULL,
				   NULL), 0);
	assert_int_equal(locks_count(lk), 7);
}

static void test_split_and_merge(void **state)
{
	struct locks *lk = *state;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 99, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 40, 59, 0), 0);           /* split */
	expect_ranges(lk, S1, OA, "w:0-39 w:60-99");
	assert_int_equal(locks_count(lk), 2);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 40, 59, 0), 0);            /* the hole is free */
	assert_int_equal(set(lk, S2, OB, LK_UNLCK, 0, LK_EOF, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 40, 59, 0), 0);            /* merge back */
	expect_ranges(lk, S1, OA, "w:0-99");
	assert_int_equal(locks_count(lk), 1);
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, 40, 59, 0), 0);            /* type split */
	expect_ranges(lk, S1, OA, "w:0-39 r:40-59 w:60-99");
	assert_int_equal(locks_count(lk), 3);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 100, 149, 0), 0);          /* adjacent merge */
	expect_ranges(lk, S1, OA, "w:0-39 r:40-59 w:60-149");
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, 150, 160, 0), 0);          /* adjacent, other type */
	expect_ranges(lk, S1, OA, "w:0-39 r:40-59 w:60-149 r:150-160");
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, 30, 200, 0), 0);           /* covers several */
	expect_ranges(lk, S1, OA, "w:0-29 r:30-200");
	assert_int_equal(locks_count(lk), 2);
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 10, 19, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 300, 400, 0), 0);          /* nothing there */
	expect_ranges(lk, S1, OA, "w:0-9 w:20-29 r:30-200");
	/* the held list answers the owner's ranges, with its session */
	struct lk_range *held = NULL;
	size_t n = 0;
	assert_int_equal(locks_set(lk, INO, LK_POSIX, S1, OA, 77, LK_WRLCK, 500, LK_EOF, &held,
				   &n), 0);
	assert_int_equal(n, 4);
	if (n)
		qsort(held, n, sizeof(*held), cmp_range);
	assert_int_equal(held[3].start, 500);
	assert_int_equal(held[3].end, LK_EOF);
	assert_int_equal(held[3].pid, 77);
	free(held);
}

static void test_release_all_of_an_owner(void **state)
{
	struct locks *lk = *state;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 9, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_RDLCK, 20, 29, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 40, 99, 0), 0);
	assert_int_equal(set(lk, S1, OB, LK_RDLCK, 20, 25, 0), 0);
	assert_int_equal(set(lk, S2, OA, LK_RDLCK, 20, 25, 0), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_WRLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_count(lk), 6);
	/* what close() does: unlock the whole file for the owner */
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 0, LK_EOF, 0), 0);
	expect_ranges(lk, S1, OA, "");
	assert_int_equal(locks_count(lk), 3);              /* the others and the flock stay */
	expect_ranges(lk, S1, OB, "r:20-25");
	expect_ranges(lk, S2, OA, "r:20-25");
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 0, 19, 0), 0);
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 26, 1000, 0), 0);
	/* the flock of the same owner number is still there */
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 -EAGAIN);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_UNLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
}

static void test_flock_and_posix_independent(void **state)
{
	struct locks *lk = *state;
	struct lk_range *held = NULL;
	size_t n = 0;

	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_WRLCK, 5, 6, &held, &n), 0);
	/* an flock lock covers the whole file, whatever range is given */
	assert_int_equal(n, 1);
	assert_int_equal(held[0].start, 0);
	assert_int_equal(held[0].end, LK_EOF);
	free(held);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, LK_EOF, 0), 0);       /* POSIX: independent */
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 -EAGAIN);
	struct lk_range c;
	assert_int_equal(locks_test(lk, INO, LK_FLOCK, S2, OB, LK_RDLCK, 0, 0, &c), 1);
	assert_int_equal(c.type, LK_WRLCK);
	assert_int_equal(c.sid, S1);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S1, OA, LK_RDLCK, 0, 0, &c), 1);
	assert_int_equal(c.sid, S2);
	/* conversion: exclusive -> shared, then a second shared holder, then
	 * no upgrade while it shares (the shared lock stays) */
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_WRLCK, 0, 0, NULL, NULL),
			 -EAGAIN);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_UNLCK, 0, 0, &held, &n), 0);
	assert_int_equal(n, 0);
	free(held);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0, LK_WRLCK, 0, 0, NULL, NULL), 0);
	/* one flock entry per owner, plus the POSIX lock */
	assert_int_equal(locks_count(lk), 2);
}

static void test_getlk(void **state)
{
	struct locks *lk = *state;
	struct lk_range c;

	assert_int_equal(locks_set(lk, INO, LK_POSIX, S1, OA, 4321, LK_WRLCK, 10, 29, NULL,
				   NULL), 0);
	assert_int_equal(locks_set(lk, INO, LK_POSIX, S1, OA, 4321, LK_RDLCK, 40, LK_EOF, NULL,
				   NULL), 0);
	memset(&c, 0x55, sizeof(c));
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_RDLCK, 0, 99, &c), 1);
	assert_int_equal(c.type, LK_WRLCK);
	assert_int_equal(c.start, 10);
	assert_int_equal(c.end, 29);
	assert_int_equal(c.pid, 4321);
	assert_int_equal(c.sid, S1);
	memset(&c, 0x55, sizeof(c));
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_WRLCK, 100, 100, &c), 1);
	assert_int_equal(c.type, LK_RDLCK);
	assert_int_equal(c.start, 40);
	assert_int_equal(c.end, LK_EOF);
	/* no conflict: read against read, a gap, the owner itself, unlock */
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_RDLCK, 100, 100, &c), 0);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_WRLCK, 30, 39, &c), 0);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S1, OA, LK_WRLCK, 0, LK_EOF, &c), 0);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_UNLCK, 0, LK_EOF, &c), 0);
	assert_int_equal(locks_test(lk, INO + 1, LK_POSIX, S2, OB, LK_WRLCK, 0, LK_EOF, &c), 0);
	assert_int_equal(locks_test(lk, INO, LK_FLOCK, S2, OB, LK_WRLCK, 0, LK_EOF, &c), 0);
	/* testing changes nothing */
	assert_int_equal(locks_count(lk), 2);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_WRLCK, 5, 4, &c), -EINVAL);
}

static void test_bad_arguments(void **state)
{
	struct locks *lk = *state;
	struct lk_range c;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 10, 9, 0), -EINVAL);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, LK_EOF + 1, 0), -EINVAL);
	assert_int_equal(set(lk, S1, OA, (enum lk_type)3, 0, 1, 0), -EINVAL);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 1, 0x80), -EINVAL);
	assert_int_equal(locks_set(lk, INO, (enum lk_kind)2, S1, OA, 0, LK_WRLCK, 0, 1, NULL,
				   NULL), -EINVAL);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S1, OA, (enum lk_type)7, 0, 1, &c),
			 -EINVAL);
	/* waiting and cancelling make no sense for F_GETLK */
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S1, OA,
				    (enum lk_type)(LK_WRLCK | LK_F_WAIT), 0, 1, &c), -EINVAL);
	assert_int_equal(locks_count(lk), 0);
	/* the largest range is fine */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, LK_EOF, LK_EOF, 0), 0);
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, LK_EOF, 0), 0);
	assert_int_equal(locks_count(lk), 1);
}

static void test_drop_session(void **state)
{
	struct locks *lk = *state;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 9, 0), 0);
	assert_int_equal(set(lk, S1, OB, LK_WRLCK, 20, 29, 0), 0);
	assert_int_equal(locks_set(lk, INO + 7, LK_FLOCK, S1, OA, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(set(lk, S2, OA, LK_RDLCK, 40, 49, 0), 0);
	/* S2 waits for S1's range */
	assert_int_equal(set(lk, S2, OA, LK_WRLCK, 0, 9, LK_F_WAIT), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 1);
	assert_int_equal(locks_drop_session(lk, S1), 3);
	assert_int_equal(locks_count(lk), 1);
	assert_int_equal(locks_drop_session(lk, S1), 0);     /* again: nothing */
	assert_int_equal(locks_drop_session(lk, 999), 0);    /* unknown */
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 0, 29, 0), 0);
	assert_int_equal(locks_set(lk, INO + 7, LK_FLOCK, S3, OC, 0, LK_WRLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(locks_drop_session(lk, S2), 1);
	assert_int_equal(locks_waiters(lk), 0);              /* its waiter record went too */
	assert_int_equal(locks_count(lk), 2);
}

static void test_per_session_limit(void **state)
{
	struct locks *lk = *state;

	/* one lock on each of LK_PER_SESSION_MAX inodes */
	for (uint64_t i = 0; i < LK_PER_SESSION_MAX; i++)
		assert_int_equal(locks_set(lk, 1000 + i, LK_POSIX, S1, OA, 0, LK_RDLCK, 0, 0, NULL,
					   NULL), 0);
	assert_int_equal(locks_set(lk, 7, LK_POSIX, S1, OA, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 -ENOLCK);
	/* replacing or merging needs no new entry */
	assert_int_equal(locks_set(lk, 1000, LK_POSIX, S1, OA, 0, LK_WRLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_set(lk, 1001, LK_POSIX, S1, OA, 0, LK_RDLCK, 1, 5, NULL, NULL), 0);
	/* a split would need one more */
	assert_int_equal(locks_set(lk, 1001, LK_POSIX, S1, OA, 0, LK_UNLCK, 2, 3, NULL, NULL),
			 -ENOLCK);
	/* other sessions are not limited by it */
	assert_int_equal(locks_set(lk, 7, LK_POSIX, S2, OA, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
	assert_int_equal(locks_count(lk), LK_PER_SESSION_MAX + 1);
	assert_int_equal(locks_drop_session(lk, S1), LK_PER_SESSION_MAX);
	assert_int_equal(locks_set(lk, 7, LK_POSIX, S1, OA, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
}

static void test_deadlock_two_owners(void **state)
{
	struct locks *lk = *state;
	struct lk_range *held = NULL;
	size_t n = 0;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 9, 0), 0);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 10, 19, 0), 0);
	/* A waits for B */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 10, 19, LK_F_WAIT), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 1);
	/* asked again while waiting: the same record */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 10, 19, LK_F_WAIT), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 1);
	/* B waiting for A would deadlock; a try (no wait) is a plain conflict */
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, 0), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, LK_F_WAIT), -EDEADLK);
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 5, 5, LK_F_WAIT), -EDEADLK);
	assert_int_equal(locks_waiters(lk), 1);            /* nothing recorded for B */
	/* a range of A's that A is not waiting through does not matter: C
	 * waiting for A is no cycle */
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 0, 0, LK_F_WAIT), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 2);
	/* A gives up (interrupted): B may wait for A now */
	assert_int_equal(locks_set(lk, INO, LK_POSIX, S1, OA, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_CANCEL), 10, 19, &held, &n), 0);
	assert_int_equal(n, 1);                              /* cancel answers what A holds */
	assert_int_equal(held[0].start, 0);
	assert_int_equal(held[0].end, 9);
	free(held);
	assert_int_equal(locks_count(lk), 2);                /* and changes no lock */
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, LK_F_WAIT), -EAGAIN);
	/* now A waiting for B is the one that deadlocks */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 10, 19, LK_F_WAIT), -EDEADLK);
	/* B gets its range once A unlocks: the record goes */
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 0, LK_EOF, 0), 0);
	assert_int_equal(locks_waiters(lk), 2);              /* B's and C's */
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, LK_F_WAIT), 0);
	assert_int_equal(locks_waiters(lk), 1);              /* C's */
	assert_int_equal(locks_drop_session(lk, S3), 0);
	assert_int_equal(locks_waiters(lk), 0);
}

static void test_deadlock_chain_and_flock(void **state)
{
	struct locks *lk = *state;

	/* A -> B -> C -> A through three inodes' worth of ranges */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 0, 0), 0);
	assert_int_equal(locks_set(lk, INO + 1, LK_POSIX, S2, OB, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(set(lk, S3, OC, LK_WRLCK, 2, 2, 0), 0);
	assert_int_equal(locks_set(lk, INO + 1, LK_POSIX, S1, OA, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_WAIT), 0, 0, NULL, NULL), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 2, 2, LK_F_WAIT), -EAGAIN);
	assert_int_equal(set(lk, S3, OC, LK_RDLCK, 0, 5, LK_F_WAIT), -EDEADLK);
	/* flock never reports deadlocks (Linux neither) */
	assert_int_equal(locks_set(lk, INO + 5, LK_FLOCK, S1, OA, 0, LK_WRLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(locks_set(lk, INO + 6, LK_FLOCK, S2, OB, 0, LK_WRLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(locks_set(lk, INO + 6, LK_FLOCK, S1, OA, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_WAIT), 0, 0, NULL, NULL), -EAGAIN);
	assert_int_equal(locks_set(lk, INO + 5, LK_FLOCK, S2, OB, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_WAIT), 0, 0, NULL, NULL), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 2);              /* only the POSIX ones */
}

static void test_waiter_record_expires(void **state)
{
	struct locks *lk = *state;

	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 9, 0), 0);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 10, 19, 0), 0);
	int64_t t0 = clock_now_ms();
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 10, 19, LK_F_WAIT), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, LK_F_WAIT), -EDEADLK);
	/* A stops asking (its mount died): its record goes after the TTL */
	int64_t deadline = t0 + LK_WAIT_TTL_MS + 5000;
	while (locks_waiters(lk) != 0 && clock_now_ms() < deadline) {
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(locks_waiters(lk), 0);
	assert_true(clock_now_ms() - t0 >= LK_WAIT_TTL_MS);
	assert_int_equal(set(lk, S2, OB, LK_WRLCK, 0, 9, LK_F_WAIT), -EAGAIN);
}

static void test_grace_period(void **state)
{
	struct locks *lk = *state;
	struct lk_range c;

	assert_int_equal(locks_grace_left_ms(lk), 0);
	locks_set_grace(lk, 60000);
	int64_t left = locks_grace_left_ms(lk);
	assert_true(left > 50000 && left <= 60000);
	/* re-declarations (no LK_F_NEW) are granted */
	assert_int_equal(set(lk, S1, OA, LK_WRLCK, 0, 9, 0), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S1, OA, 0, LK_RDLCK, 0, 0, NULL, NULL), 0);
	/* new locks are not, even without a conflict; unlocks are */
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 100, 100, LK_F_NEW), -EAGAIN);
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 100, 100, LK_F_NEW | LK_F_WAIT), -EAGAIN);
	assert_int_equal(locks_waiters(lk), 0);
	assert_int_equal(locks_set(lk, INO, LK_FLOCK, S2, OB, 0,
				   (enum lk_type)(LK_RDLCK | LK_F_NEW), 0, 0, NULL, NULL), -EAGAIN);
	assert_int_equal(set(lk, S1, OA, LK_UNLCK, 5, 9, LK_F_NEW), 0);
	assert_int_equal(locks_count(lk), 2);
	/* F_GETLK: a conflict with what is declared is known; else wait */
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB,
				    (enum lk_type)(LK_WRLCK | LK_F_NEW), 0, 99, &c), 1);
	assert_int_equal(c.start, 0);
	assert_int_equal(c.end, 4);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB,
				    (enum lk_type)(LK_WRLCK | LK_F_NEW), 50, 99, &c), -EAGAIN);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB, LK_WRLCK, 50, 99, &c), 0);
	/* the end of the grace period */
	locks_set_grace(lk, 0);
	assert_int_equal(locks_grace_left_ms(lk), 0);
	assert_int_equal(set(lk, S2, OB, LK_RDLCK, 100, 100, LK_F_NEW), 0);
	assert_int_equal(locks_test(lk, INO, LK_POSIX, S2, OB,
				    (enum lk_type)(LK_WRLCK | LK_F_NEW), 50, 99, &c), 0);
	/* a short one ends by itself */
	locks_set_grace(lk, 100);
	assert_int_equal(set(lk, S3, OC, LK_RDLCK, 200, 200, LK_F_NEW), -EAGAIN);
	int64_t deadline = clock_now_ms() + 5000;
	while (locks_grace_left_ms(lk) > 0 && clock_now_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(set(lk, S3, OC, LK_RDLCK, 200, 200, LK_F_NEW), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_all_of_an_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flock_and_posix_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getlk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_session_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_two_owners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_chain_and_flock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_record_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grace_period, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
