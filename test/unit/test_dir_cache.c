/* test_dir_cache — folder listings (fuse/dir_cache.h): what a listing
 * answers, and every way it stops answering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../fuse/dir_cache.h"

static struct stat st_of(ino_t ino, off_t size)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_size = size;
	st.st_mode = S_IFREG | 0644;
	return st;
}

static void fill(struct dir_cache *dc, uint64_t dir, uint64_t epoch, int n)
{
	struct dc_fill *f = dc_fill_start(dc, dir, epoch);
	assert_non_null(f);
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%04d", i);
		struct stat st = st_of((ino_t)(1000 + i), i);
		assert_true(dc_fill_add(f, name, (uint64_t)(10 + 3 * i), &st));
	}
	dc_fill_end(dc, f, epoch, 0);
}

static void test_answers_found_and_absent(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st;
	assert_int_equal(dc_new(&dc), 0);
	assert_int_equal(dc_lookup(dc, 7, "f0001", 5, &st), -1);   /* nothing yet */
	fill(dc, 7, 5, 300);
	assert_int_equal(dc_lookup(dc, 7, "f0001", 5, &st), 1);
	assert_int_equal(st.st_ino, 1001);
	assert_int_equal(dc_lookup(dc, 7, "f0299", 5, &st), 1);
	assert_int_equal(st.st_size, 299);
	assert_int_equal(dc_lookup(dc, 7, "f0300", 5, &st), 0);    /* not there */
	assert_int_equal(dc_lookup(dc, 7, "F0001", 5, &st), 0);
	assert_int_equal(dc_lookup(dc, 8, "f0001", 5, &st), -1);   /* another folder */
	/* a change of ours since: the listing no longer answers */
	assert_int_equal(dc_lookup(dc, 7, "f0001", 6, &st), -1);
	dc_free(dc);
}

static void test_empty_folder(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st;
	assert_int_equal(dc_new(&dc), 0);
	fill(dc, 9, 1, 0);
	assert_int_equal(dc_lookup(dc, 9, "anything", 1, &st), 0);
	dc_free(dc);
}

static void test_clear_and_stale_fetches(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st;
	assert_int_equal(dc_new(&dc), 0);
	fill(dc, 7, 1, 10);
	dc_clear(dc);                  /* the feed brought a change */
	assert_int_equal(dc_lookup(dc, 7, "f0001", 1, &st), -1);
	/* a change arrived while a fetch was on its way: not kept */
	struct dc_fill *f = dc_fill_start(dc, 7, 1);
	struct stat s1 = st_of(1, 1);
	assert_true(dc_fill_add(f, "a", 5, &s1));
	dc_clear(dc);
	dc_fill_end(dc, f, 1, 0);
	assert_int_equal(dc_lookup(dc, 7, "a", 1, &st), -1);
	/* a change of this mount overlapped the fetch: not kept */
	f = dc_fill_start(dc, 7, 1);
	assert_true(dc_fill_add(f, "a", 5, &s1));
	dc_fill_end(dc, f, 2, 0);
	assert_int_equal(dc_lookup(dc, 7, "a", 2, &st), -1);
	assert_int_equal(dc_lookup(dc, 7, "a", 1, &st), -1);
	dc_free(dc);
}

static void test_too_big_and_want(void **state)
{
	(void)state;
	struct dir_cache *dc;
	assert_int_equal(dc_new(&dc), 0);
	struct dc_fill *f = dc_fill_start(dc, 3, 1);
	bool ok = true;
	for (int i = 0; i <= DC_DIR_MAX && ok; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%d", i);
		struct stat st = st_of((ino_t)i + 1, 0);
		ok = dc_fill_add(f, name, (uint64_t)i + 1, &st);
	}
	assert_false(ok);              /* one more than DC_DIR_MAX */
	dc_fill_abort(f);
	/* the second miss within DC_MISS_MS asks for a listing, once */
	assert_false(dc_want(dc, 4, 100000, 1000));      /* quiet since 0 */
	assert_true(dc_want(dc, 4, 100000, 1500));
	assert_false(dc_want(dc, 4, 100000, 1600));          /* that fetch is on its way */
	dc_too_big(dc, 4, 1700);                     /* it failed: 10 s of rest */
	assert_false(dc_want(dc, 4, 100000, 2000));
	assert_false(dc_want(dc, 4, 100000, 5000));
	assert_false(dc_want(dc, 4, 100000, 11800));         /* after the rest: two misses again */
	assert_true(dc_want(dc, 4, 100000, 12000));
	/* while this mount changes things, no listing */
	assert_false(dc_want(dc, 9, 0, 20000));
	assert_false(dc_want(dc, 9, 100, 20100));    /* quiet for 100 ms only */
	assert_true(dc_want(dc, 9, 600, 20700));
	/* misses far apart ask for nothing */
	assert_false(dc_want(dc, 5, 100000, 1000));
	assert_false(dc_want(dc, 5, 100000, 4000));
	/* a folder listed less than DC_REFETCH_MS ago is not fetched again
	 * (the lookups that miss its listing are of names this mount's own
	 * changes spoiled there) */
	assert_false(dc_want(dc, 7, 100000, 30000));
	assert_true(dc_want(dc, 7, 100000, 30100));
	struct dc_fill *g = dc_fill_start(dc, 7, 3);
	assert_non_null(g);
	dc_fill_end(dc, g, 3, 30200);
	assert_false(dc_want(dc, 7, 100000, 30300));
	assert_false(dc_want(dc, 7, 100000, 30200 + DC_REFETCH_MS - 1));
	assert_true(dc_want(dc, 7, 100000, 30200 + DC_REFETCH_MS + 1));
	dc_free(dc);
}

struct waiter {
	struct dir_cache *dc;
	bool waited;
	int64_t ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	int64_t t0 = now_ms();
	w->waited = dc_wait_fetch(w->dc, 6, 3000);
	w->ms = now_ms() - t0;
	return NULL;
}

static void test_lookups_wait_for_a_fetch(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st;
	assert_int_equal(dc_new(&dc), 0);
	assert_false(dc_wait_fetch(dc, 6, 10));      /* none on its way */
	assert_false(dc_want(dc, 6, 100000, 1000));
	assert_true(dc_want(dc, 6, 100000, 1200));           /* a fetch starts */
	struct waiter w = { .dc = dc };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	usleep(50000);
	fill(dc, 6, 1, 5);                           /* and ends */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.waited);
	assert_true(w.ms < 2000);
	assert_int_equal(dc_lookup(dc, 6, "f0003", 1, &st), 1);
	dc_free(dc);
}

/* readdir from a listing: the master's order, continued after any of its
 * cookies, in pages. */
static void test_read_in_order_from_a_cookie(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct dc_page pg;
	assert_int_equal(dc_new(&dc), 0);
	assert_int_equal(dc_read(dc, 7, 0, 100, &pg), -1);   /* no listing */
	fill(dc, 7, 4, 300);           /* f0000.. at cookies 10, 13, 16, .. */
	assert_int_equal(dc_read(dc, 7, 0, 1000, &pg), 0);
	assert_int_equal(pg.n, 300);
	assert_true(pg.eof);
	assert_int_equal(pg.epoch, 4);
	assert_false(pg.marked);
	for (size_t i = 0; i < pg.n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%04zu", i);
		assert_string_equal(pg.v[i].name, name);
		assert_int_equal(pg.v[i].cookie, 10 + 3 * i);
		assert_int_equal(pg.v[i].st.st_ino, 1000 + i);
	}
	dc_page_free(&pg);
	/* a page of 50 after f0099's cookie (307), then after a cookie no
	 * entry has (between f0199 and f0200) */
	assert_int_equal(dc_read(dc, 7, 307, 50, &pg), 0);
	assert_int_equal(pg.n, 50);
	assert_false(pg.eof);
	assert_string_equal(pg.v[0].name, "f0100");
	assert_string_equal(pg.v[49].name, "f0149");
	dc_page_free(&pg);
	assert_int_equal(dc_read(dc, 7, 608, 1000, &pg), 0);
	assert_int_equal(pg.n, 100);
	assert_true(pg.eof);
	assert_string_equal(pg.v[0].name, "f0200");
	dc_page_free(&pg);
	/* past the end: nothing, and the end */
	assert_int_equal(dc_read(dc, 7, 100000, 10, &pg), 0);
	assert_int_equal(pg.n, 0);
	assert_true(pg.eof);
	dc_page_free(&pg);
	/* the marks a readdir gave come back with each page */
	struct dc_fill *f = dc_fill_start(dc, 8, 4);
	struct stat s1 = st_of(1, 1);
	dc_fill_mark(f, 77);
	assert_true(dc_fill_add(f, "a", 5, &s1));
	dc_fill_end(dc, f, 4, 0);
	assert_int_equal(dc_read(dc, 8, 0, 10, &pg), 0);
	assert_true(pg.marked);
	assert_int_equal(pg.changes, 77);
	dc_page_free(&pg);
	dc_free(dc);
}

/* A name twice or cookies going back: not one listing, not kept. */
static void test_not_one_listing(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st = st_of(1, 1);
	struct dc_page pg;
	assert_int_equal(dc_new(&dc), 0);
	struct dc_fill *f = dc_fill_start(dc, 7, 1);
	assert_true(dc_fill_add(f, "a", 5, &st));
	assert_false(dc_fill_add(f, "a", 6, &st));
	dc_fill_end(dc, f, 1, 0);
	assert_int_equal(dc_read(dc, 7, 0, 10, &pg), -1);
	f = dc_fill_start(dc, 7, 1);
	assert_true(dc_fill_add(f, "a", 5, &st));
	assert_false(dc_fill_add(f, "b", 5, &st));
	dc_fill_end(dc, f, 1, 0);
	assert_int_equal(dc_lookup(dc, 7, "a", 1, &st), -1);
	dc_free(dc);
}

/* Listings of the folders below one answer: kept with it, and dropped
 * with it when the feed brought a change meanwhile. */
static void test_fill_more(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st = st_of(1, 1), got;
	assert_int_equal(dc_new(&dc), 0);
	struct dc_fill *f = dc_fill_start(dc, 7, 2);
	struct dc_fill *g = dc_fill_more(f, 8);
	assert_true(dc_fill_add(g, "below", 1, &st));
	dc_fill_end(dc, g, 2, 0);
	dc_fill_end(dc, f, 2, 0);
	assert_int_equal(dc_lookup(dc, 8, "below", 2, &got), 1);
	assert_int_equal(dc_lookup(dc, 7, "below", 2, &got), 0);
	f = dc_fill_start(dc, 9, 2);
	dc_clear(dc);
	g = dc_fill_more(f, 10);
	assert_true(dc_fill_add(g, "below", 1, &st));
	dc_fill_end(dc, g, 2, 0);
	dc_fill_end(dc, f, 2, 0);
	assert_int_equal(dc_lookup(dc, 10, "below", 2, &got), -1);
	assert_int_equal(dc_lookup(dc, 9, "below", 2, &got), -1);
	dc_free(dc);
}

/* Full: the oldest listings go first, the newest stay. */
static void test_oldest_go_first(void **state)
{
	(void)state;
	struct dir_cache *dc;
	struct stat st;
	assert_int_equal(dc_new(&dc), 0);
	int per = 1000, dirs = DC_ENTRIES / per + 3;
	for (int d = 0; d < dirs; d++)
		fill(dc, (uint64_t)(100 + d), 1, per);
	assert_int_equal(dc_lookup(dc, 100, "f0001", 1, &st), -1);
	assert_int_equal(dc_lookup(dc, 102, "f0001", 1, &st), -1);
	assert_int_equal(dc_lookup(dc, (uint64_t)(100 + dirs - 1), "f0999", 1, &st), 1);
	assert_int_equal(dc_lookup(dc, (uint64_t)(100 + dirs - DC_ENTRIES / per), "f0001", 1,
				   &st), 1);
	/* a listing fetched again replaces the old one, and counts once */
	fill(dc, (uint64_t)(100 + dirs - 1), 1, per);
	assert_int_equal(dc_lookup(dc, (uint64_t)(100 + dirs - DC_ENTRIES / per), "f0001", 1,
				   &st), 1);
	dc_free(dc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_found_and_absent),
		cmocka_unit_test(test_empty_folder),
		cmocka_unit_test(test_clear_and_stale_fetches),
		cmocka_unit_test(test_too_big_and_want),
		cmocka_unit_test(test_lookups_wait_for_a_fetch),
		cmocka_unit_test(test_read_in_order_from_a_cookie),
		cmocka_unit_test(test_not_one_listing),
		cmocka_unit_test(test_fill_more),
		cmocka_unit_test(test_oldest_go_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
