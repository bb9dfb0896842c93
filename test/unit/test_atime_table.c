/* Unit tests of master/atime_table: a note keeps the first read's time,
 * forget and note again, growth past many slots with tombstones among
 * them (every live entry found, none lost), take empties the table, and
 * notes from several threads at once all land. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../master/atime_table.h"

static void test_note_get_forget(void **state)
{
	(void)state;
	struct atime_table t;
	int64_t s;
	uint32_t ns;
	size_t live;

	at_init(&t);
	assert_false(at_get(&t, 5, &s, &ns));
	at_forget(&t, 5); /* nothing there: no effect */
	assert_int_equal(at_note(&t, 0, 1, 1, NULL), -EINVAL);
	assert_int_equal(at_note(&t, 5, 100, 7, &live), 0);
	assert_int_equal(live, 1);
	assert_int_equal(at_note(&t, 5, 200, 8, &live), 0); /* the first stays */
	assert_int_equal(live, 1);
	assert_true(at_get(&t, 5, &s, &ns));
	assert_int_equal(s, 100);
	assert_int_equal(ns, 7);
	assert_false(at_get(&t, 6, &s, &ns));
	at_forget(&t, 5);
	assert_int_equal(at_count(&t), 0);
	assert_false(at_get(&t, 5, &s, &ns));
	assert_int_equal(at_note(&t, 5, 300, 9, &live), 0); /* after a forget: new time */
	assert_int_equal(live, 1);
	assert_true(at_get(&t, 5, &s, &ns));
	assert_int_equal(s, 300);
	at_destroy(&t);
}

/* 50,000 notes, every third forgotten as it goes: the table grows many
 * times over tombstones; take returns exactly the live ones. */
static void test_growth_and_take(void **state)
{
	(void)state;
	struct atime_table t;
	enum { N = 50000 };
	int64_t s;
	uint32_t ns;

	at_init(&t);
	for (uint64_t i = 1; i <= N; i++) {
		assert_int_equal(at_note(&t, i * 4096 + 1, (int64_t)i, (uint32_t)i, NULL), 0);
		if (i % 3 == 0)
			at_forget(&t, i * 4096 + 1);
	}
	size_t want = N - N / 3;
	assert_int_equal(at_count(&t), want);
	for (uint64_t i = 1; i <= N; i++) {
		bool found = at_get(&t, i * 4096 + 1, &s, &ns);
		assert_int_equal(found, i % 3 != 0);
		if (found)
			assert_int_equal(s, (int64_t)i);
	}
	struct at_entry *v;
	size_t n;
	assert_int_equal(at_take(&t, &v, &n), 0);
	assert_int_equal(n, want);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal((v[i].ino - 1) % 4096, 0);
		assert_int_equal(v[i].s, (int64_t)((v[i].ino - 1) / 4096));
		assert_true(v[i].s % 3 != 0);
		sum += (uint64_t)v[i].s;
	}
	uint64_t all = (uint64_t)N * (N + 1) / 2, thirds = 3ULL * (N / 3) * (N / 3 + 1) / 2;
	assert_int_equal(sum, all - thirds); /* each live one once */
	free(v);
	assert_int_equal(at_count(&t), 0);
	assert_false(at_get(&t, 4097, &s, &ns));
	assert_int_equal(at_take(&t, &v, &n), 0); /* empty: nothing */
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(at_note(&t, 4097, 1, 1, NULL), 0); /* usable again */
	assert_true(at_get(&t, 4097, &s, &ns));
	at_destroy(&t);
}

struct noter {
	struct atime_table *t;
	uint64_t base;
};

static void *note_many(void *arg)
{
	struct noter *w = arg;
	for (uint64_t i = 1; i <= 20000; i++)
		if (at_note(w->t, w->base + i, 1, 0, NULL) < 0)
			return (void *)1;
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct atime_table t;
	pthread_t th[4];
	struct noter w[4];

	at_init(&t);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct noter){ .t = &t, .base = (uint64_t)i * 1000000 };
		assert_int_equal(pthread_create(&th[i], NULL, note_many, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_int_equal(at_count(&t), 80000);
	at_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_note_get_forget),
		cmocka_unit_test(test_growth_and_take),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
