/* Unit tests of master/meta_store's durability (meta_sync): a sync after
 * write commits does one disk sync; a sync with nothing committed since
 * the last completed one does none (read-only and rolled-back
 * transactions commit nothing); callers that commit while a sync runs
 * wait for it and then share one more; many threads committing and
 * syncing at once all succeed with fewer syncs than calls; a failed fsync
 * fails that call and every later one without syncing again.
 *
 * Crash durability itself cannot be seen from inside the process (the
 * page cache answers every read); these tests check the group-commit
 * logic, and the integration test test_330 watches the fsync calls with
 * strace. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmp_tree.h"

#include "../../master/meta_store.h"

#define NTHREADS 16
#define ROUNDS 40

struct fixture {
	char dir[64];
	char db[128];
	struct meta_store *ms;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/bigfs-metasync-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/meta.db", f->dir);
	if (meta_open(f->db, 2, &f->ms) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	meta_close(f->ms);
	tmp_tree_remove(f->dir);
	free(f);
	return 0;
}

/* One write transaction that changes a row. */
static int commit_one(struct meta_store *ms)
{
	uint64_t v;
	int rc = meta_txn_begin(ms, true);

	if (rc < 0)
		return rc;
	rc = meta_counter_next(ms, "test", &v);
	return meta_txn_end(ms, rc);
}

static void test_sync_after_commits(void **state)
{
	struct fixture *f = *state;
	struct meta_store *ms = f->ms;
	uint64_t v;

	/* meta_open put everything on disk: nothing to do */
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 0);

	assert_int_equal(commit_one(ms), 0);
	assert_int_equal(commit_one(ms), 0);
	assert_int_equal(meta_sync_count(ms), 0);     /* commits never sync */
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 1);     /* one for both */
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 1);     /* nothing new */

	/* a read-only transaction commits nothing */
	assert_int_equal(meta_txn_begin(ms, false), 0);
	assert_int_equal(meta_txn_end(ms, 0), 0);
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 1);

	/* neither does a write transaction that rolls back */
	assert_int_equal(meta_txn_begin(ms, true), 0);
	assert_int_equal(meta_counter_next(ms, "test", &v), 0);
	assert_int_equal(meta_txn_end(ms, -EINVAL), -EINVAL);
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 1);

	assert_int_equal(commit_one(ms), 0);
	assert_int_equal(meta_sync(ms), 0);
	assert_int_equal(meta_sync_count(ms), 2);
	assert_int_equal(meta_sync_calls(ms), 7);
}

/* A reopened store starts with everything on disk and counters at 0. */
static void test_reopen(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(commit_one(f->ms), 0);
	meta_close(f->ms);
	f->ms = NULL;
	assert_int_equal(meta_open(f->db, 2, &f->ms), 0);
	assert_int_equal(meta_sync(f->ms), 0);
	assert_int_equal(meta_sync_count(f->ms), 0);
	assert_int_equal(commit_one(f->ms), 0);
	assert_int_equal(meta_sync(f->ms), 0);
	assert_int_equal(meta_sync_count(f->ms), 1);
}

/* ---- callers arriving while a sync runs ------------------------------ */

struct gate {
	struct meta_store *ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int committed;           /* threads whose commit returned */
	int hook_calls;
	int rc[NTHREADS];
};

/* The first disk sync waits (no lock of meta_store held) until every
 * thread has committed: they all commit while it runs, after it fixed
 * what it covers, so at most one more sync may follow. */
static int gate_hook(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->lock);
	if (g->hook_calls++ == 0) {
		while (g->committed < NTHREADS)
			pthread_cond_wait(&g->cond, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return 0;
}

struct gate_arg {
	struct gate *g;
	int i;
};

static void *gate_thread(void *arg)
{
	struct gate_arg *a = arg;
	struct gate *g = a->g;
	int rc = commit_one(g->ms);

	pthread_mutex_lock(&g->lock);
	g->committed++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (rc == 0)
		rc = meta_sync(g->ms);
	g->rc[a->i] = rc;
	return NULL;
}

static void test_group_commit_while_syncing(void **state)
{
	struct fixture *f = *state;
	struct gate g = { .ms = f->ms };
	struct gate_arg args[NTHREADS];
	pthread_t th[NTHREADS];

	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	meta_sync_set_hook(f->ms, gate_hook, &g);
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct gate_arg){ &g, i };
		assert_int_equal(pthread_create(&th[i], NULL, gate_thread, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	meta_sync_set_hook(f->ms, NULL, NULL);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(g.rc[i], 0);
	/* the gated sync, plus at most one for those it did not cover */
	uint64_t n = meta_sync_count(f->ms);
	assert_true(n >= 1 && n <= 2);
	assert_int_equal(g.hook_calls, (int)n);
	assert_int_equal(meta_sync_calls(f->ms), NTHREADS);
	/* every commit is covered now */
	assert_int_equal(meta_sync(f->ms), 0);
	assert_int_equal(meta_sync_count(f->ms), n);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
}

/* ---- free-running threads --------------------------------------------- */

struct run_arg {
	struct meta_store *ms;
	int failures;
};

static void *run_thread(void *arg)
{
	struct run_arg *a = arg;

	for (int r = 0; r < ROUNDS; r++) {
		if (commit_one(a->ms) < 0 || meta_sync(a->ms) < 0)
			a->failures++;
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	struct fixture *f = *state;
	struct run_arg args[NTHREADS];
	pthread_t th[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct run_arg){ f->ms, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, run_thread, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(args[i].failures, 0);
	uint64_t n = meta_sync_count(f->ms);
	assert_int_equal(meta_sync_calls(f->ms), NTHREADS * ROUNDS);
	assert_true(n >= 1);
	assert_true(n <= NTHREADS * ROUNDS);
	print_message("%d commit+sync calls on %d threads: %llu disk syncs\n",
		      NTHREADS * ROUNDS, NTHREADS, (unsigned long long)n);
	assert_int_equal(meta_sync(f->ms), 0);
	assert_int_equal(meta_sync_count(f->ms), n);
}

/* ---- errors ----------------------------------------------------------- */

static int fail_hook(void *arg)
{
	int *calls = arg;

	(*calls)++;
	return -EIO;
}

static void test_fsync_error_is_sticky(void **state)
{
	struct fixture *f = *state;
	int calls = 0;

	meta_sync_set_hook(f->ms, fail_hook, &calls);
	assert_int_equal(commit_one(f->ms), 0);
	assert_int_equal(meta_sync(f->ms), -EIO);
	assert_int_equal(calls, 1);
	assert_int_equal(meta_sync_count(f->ms), 1);
	/* no retry that could report pages the kernel dropped as synced */
	meta_sync_set_hook(f->ms, NULL, NULL);
	assert_int_equal(meta_sync(f->ms), -EIO);
	assert_int_equal(commit_one(f->ms), 0);    /* commits still work */
	assert_int_equal(meta_sync(f->ms), -EIO);
	assert_int_equal(meta_sync_count(f->ms), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_after_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_while_syncing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_error_is_sticky, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
