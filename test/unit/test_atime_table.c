/* Unit tests of master/atime_table: a note keeps the first read's time and
 * moves the last; put back merges; take in batches returns every live
 * entry exactly once, over growth and tombstones; the table is usable
 * again once empty; notes, gets and takes from several threads at once
 * lose nothing. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../master/atime_table.h"

/* One read of ino at s.ns. */
static int note1(struct atime_table *t, uint64_t ino, int64_t s, uint32_t ns)
{
	struct at_entry e = { .ino = ino, .first_s = s, .first_ns = ns, .last_s = s, .last_ns = ns };
	return at_note(t, &e);
}

static void test_note_get_put_back(void **state)
{
	(void)state;
	struct atime_table t;
	struct at_entry e;

	at_init(&t);
	assert_int_equal(at_get(&t, 5, &e), -ENOENT);
	assert_int_equal(note1(&t, 0, 1, 1), -EINVAL);
	assert_int_equal(note1(&t, 5, 100, 7), 0);
	assert_int_equal(at_count(&t), 1);
	assert_int_equal(note1(&t, 5, 200, 8), 0);
	assert_int_equal(at_count(&t), 1);
	assert_int_equal(at_get(&t, 5, &e), 0);
	assert_int_equal(e.ino, 5);
	assert_int_equal(e.first_s, 100); /* the first stays */
	assert_int_equal(e.first_ns, 7);
	assert_int_equal(e.last_s, 200);  /* the last moves */
	assert_int_equal(e.last_ns, 8);
	assert_int_equal(at_get(&t, 6, &e), -ENOENT);

	struct at_entry *v;
	size_t n;
	assert_int_equal(at_take(&t, 10, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(at_count(&t), 0);
	assert_int_equal(at_get(&t, 5, &e), -ENOENT);
	/* a read noted after the take, then the taken entry put back:
	 * the earlier first, the later last */
	assert_int_equal(note1(&t, 5, 150, 0), 0);
	assert_int_equal(at_note(&t, &v[0]), 0);
	assert_int_equal(at_get(&t, 5, &e), 0);
	assert_int_equal(e.first_s, 100);
	assert_int_equal(e.last_s, 200);
	assert_int_equal(at_count(&t), 1);
	free(v);
	at_destroy(&t);
}

/* 50,000 notes taken out in batches of 777 while more are noted: the
 * table grows many times over tombstones; every entry comes out once. */
static void test_growth_and_batches(void **state)
{
	(void)state;
	struct atime_table t;
	enum { N = 50000 };
	uint8_t *seen = calloc(N + 1, 1);
	struct at_entry e;

	assert_non_null(seen);
	at_init(&t);
	size_t got = 0;
	for (uint64_t i = 1; i <= N; i++) {
		assert_int_equal(note1(&t, i * 4096 + 1, (int64_t)i, (uint32_t)i), 0);
		if (i % 1000 == 0) { /* take some as they come */
			struct at_entry *v;
			size_t n;
			assert_int_equal(at_take(&t, 777, &v, &n), 0);
			assert_int_equal(n, 777);
			for (size_t k = 0; k < n; k++) {
				uint64_t x = (v[k].ino - 1) / 4096;
				assert_int_equal(v[k].first_s, (int64_t)x);
				assert_int_equal(seen[x], 0);
				seen[x] = 1;
			}
			got += n;
			free(v);
		}
	}
	assert_int_equal(at_count(&t), N - got);
	for (uint64_t i = 1; i <= N; i++) /* the rest still there */
		assert_int_equal(at_get(&t, i * 4096 + 1, &e) == 0, !seen[i]);
	while (at_count(&t) > 0) {
		struct at_entry *v;
		size_t n;
		assert_int_equal(at_take(&t, 4096, &v, &n), 0);
		assert_true(n > 0 && n <= 4096);
		for (size_t k = 0; k < n; k++) {
			uint64_t x = (v[k].ino - 1) / 4096;
			assert_int_equal(seen[x], 0);
			seen[x] = 1;
		}
		got += n;
		free(v);
	}
	assert_int_equal(got, N);
	struct at_entry *v;
	size_t n;
	assert_int_equal(at_take(&t, 10, &v, &n), 0); /* empty: nothing */
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(note1(&t, 4097, 1, 1), 0); /* usable again */
	assert_int_equal(at_get(&t, 4097, &e), 0);
	at_destroy(&t);
	free(seen);
}

enum { PER_THREAD = 20000, NOTERS = 3 };

struct worker {
	struct atime_table *t;
	uint64_t base;
	size_t taken;
	bool stop;
};

static void *note_many(void *arg)
{
	struct worker *w = arg;
	struct at_entry e;
	for (uint64_t i = 1; i <= PER_THREAD; i++) {
		if (note1(w->t, w->base + i, 1, 0) < 0)
			return (void *)1;
		at_get(w->t, w->base + i / 2 + 1, &e);
	}
	return NULL;
}

static void *take_some(void *arg)
{
	struct worker *w = arg;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct at_entry *v;
		size_t n;
		if (at_take(w->t, 100, &v, &n) < 0)
			return (void *)1;
		w->taken += n;
		free(v);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct atime_table t;
	pthread_t th[NOTERS], taker;
	struct worker w[NOTERS], tw;
	void *r;

	at_init(&t);
	tw = (struct worker){ .t = &t };
	assert_int_equal(pthread_create(&taker, NULL, take_some, &tw), 0);
	for (int i = 0; i < NOTERS; i++) {
		w[i] = (struct worker){ .t = &t, .base = (uint64_t)i * 1000000 };
		assert_int_equal(pthread_create(&th[i], NULL, note_many, &w[i]), 0);
	}
	for (int i = 0; i < NOTERS; i++) {
		pthread_join(th[i], &r);
		assert_null(r);
	}
	__atomic_store_n(&tw.stop, true, __ATOMIC_RELEASE);
	pthread_join(taker, &r);
	assert_null(r);
	/* each inode noted once: taken or still there */
	assert_int_equal(tw.taken + at_count(&t), NOTERS * PER_THREAD);
	at_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_note_get_put_back),
		cmocka_unit_test(test_growth_and_batches),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
