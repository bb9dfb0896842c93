/* Unit tests of fuse/atime_queue.c (with fuse/master_client.c) against a
 * fake master served by common/http_server on an ephemeral loopback port:
 * reports are batched into few /v1/atime calls, every inode arrives once,
 * a wait returns only after the master has answered the call carrying the
 * inode (also one already in flight), stop sends what is queued, a queue
 * that is not running sends at once, a failing master costs only the
 * atimes, and reports taken to ride on another call are not sent again
 * and stay pending until that call is over. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_server.h"
#include "log.h"
#include "../../fuse/atime_queue.h"
#include "../../fuse/master_client.h"

#define MAX_SEEN 4096

struct fake {
	pthread_mutex_t mu;
	uint64_t seen[MAX_SEEN]; /* inodes whose call was answered */
	size_t nseen;
	int calls;
	int delay_ms;            /* before answering */
	bool fail;               /* answer EIO */
};

static void h_atime(void *ctx, struct http_request *r)
{
	struct fake *f = ctx;
	json_t *b = http_req_json(r);
	if (!b)
		return;
	pthread_mutex_lock(&f->mu);
	int delay = f->delay_ms;
	bool fail = f->fail;
	pthread_mutex_unlock(&f->mu);
	if (delay)
		usleep((useconds_t)delay * 1000);
	json_t *inos = json_object_get(b, "inos");
	pthread_mutex_lock(&f->mu);
	f->calls++;
	for (size_t i = 0; !fail && i < json_array_size(inos) && f->nseen < MAX_SEEN; i++)
		f->seen[f->nseen++] = (uint64_t)json_integer_value(json_array_get(inos, i));
	pthread_mutex_unlock(&f->mu);
	if (fail)
		http_reply_error(r, EIO, "disk on fire");
	else
		http_reply_json(r, 200, json_pack("{s:I}", "noted", (json_int_t)json_array_size(inos)));
	json_decref(b);
}

static const struct http_route routes[] = {
	{ .method = "POST", .path = "/v1/atime", .max_body = 1 << 20, .fn = h_atime },
	{ .fn = NULL },
};

struct env {
	struct fake fake;
	struct http_server *srv;
	struct master_client *mc;
	struct atime_queue *q;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char addr[64];
	assert_non_null(e);
	pthread_mutex_init(&e->fake.mu, NULL);
	assert_int_equal(http_server_start(&e->srv, "127.0.0.1:0", routes, &e->fake), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(e->srv));
	assert_int_equal(master_client_new(addr, 2000, &e->mc), 0);
	assert_int_equal(atime_queue_new(e->mc, &e->q), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	atime_queue_free(e->q);
	master_client_free(e->mc);
	http_server_stop(e->srv);
	pthread_mutex_destroy(&e->fake.mu);
	free(e);
	return 0;
}

/* How many times the master was told about ino. */
static int seen_count(struct env *e, uint64_t ino)
{
	int n = 0;
	pthread_mutex_lock(&e->fake.mu);
	for (size_t i = 0; i < e->fake.nseen; i++)
		n += e->fake.seen[i] == ino;
	pthread_mutex_unlock(&e->fake.mu);
	return n;
}

static void set_fake(struct env *e, int delay_ms, bool fail)
{
	pthread_mutex_lock(&e->fake.mu);
	e->fake.delay_ms = delay_ms;
	e->fake.fail = fail;
	pthread_mutex_unlock(&e->fake.mu);
}

static int calls(struct env *e)
{
	pthread_mutex_lock(&e->fake.mu);
	int n = e->fake.calls;
	pthread_mutex_unlock(&e->fake.mu);
	return n;
}

static void test_batches_and_delivers_each_once(void **state)
{
	struct env *e = *state;
	atime_queue_start(e->q);
	for (uint64_t ino = 100; ino < 200; ino++) {
		atime_queue_add(e->q, ino);
		atime_queue_add(e->q, ino); /* a second reader before the call */
	}
	assert_true(atime_queue_wait(e->q, 0));
	for (uint64_t ino = 100; ino < 200; ino++)
		assert_int_equal(seen_count(e, ino), 1);
	/* 100 reports within microseconds: one call, a few on a loaded box */
	assert_true(calls(e) >= 1 && calls(e) <= 10);
	assert_false(atime_queue_wait(e->q, 150)); /* nothing pending now */
}

static void test_full_batches(void **state)
{
	struct env *e = *state;
	atime_queue_start(e->q);
	for (uint64_t ino = 1; ino <= 3 * ATQ_BATCH + 7; ino++)
		atime_queue_add(e->q, ino);
	atime_queue_wait(e->q, 0);
	for (uint64_t ino = 1; ino <= 3 * ATQ_BATCH + 7; ino++)
		assert_int_equal(seen_count(e, ino), 1);
	assert_true(calls(e) >= 4);
}

/* The wait covers the call in flight, not only the queue. */
static void test_wait_covers_call_in_flight(void **state)
{
	struct env *e = *state;
	set_fake(e, 300, false);
	atime_queue_start(e->q);
	atime_queue_add(e->q, 42);
	usleep(100 * 1000); /* the thread has sent it by now: in flight */
	assert_true(atime_queue_wait(e->q, 42));
	assert_int_equal(seen_count(e, 42), 1);
	/* and a wait for one inode hurries the batch without the delay */
	set_fake(e, 0, false);
	atime_queue_add(e->q, 43);
	assert_true(atime_queue_wait(e->q, 43));
	assert_int_equal(seen_count(e, 43), 1);
}

static void test_stop_sends_what_is_queued(void **state)
{
	struct env *e = *state;
	atime_queue_start(e->q);
	for (uint64_t ino = 7; ino < 17; ino++)
		atime_queue_add(e->q, ino);
	atime_queue_stop(e->q);
	for (uint64_t ino = 7; ino < 17; ino++)
		assert_int_equal(seen_count(e, ino), 1);
	/* stopped: a report goes at once, in the caller */
	atime_queue_add(e->q, 99);
	assert_int_equal(seen_count(e, 99), 1);
	assert_false(atime_queue_wait(e->q, 0));
}

static void test_not_started_sends_itself(void **state)
{
	struct env *e = *state;
	atime_queue_add(e->q, 5);
	assert_int_equal(seen_count(e, 5), 1);
	assert_int_equal(calls(e), 1);
	atime_queue_add(e->q, 0); /* no inode 0 */
	assert_int_equal(calls(e), 1);
}

struct waiter {
	struct atime_queue *q;
	uint64_t ino;
	atomic_bool done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	atime_queue_wait(w->q, w->ino);
	atomic_store(&w->done, true);
	return NULL;
}

/* A ride takes what is queued: the thread does not send it, a wait for
 * one of its inodes lasts until the ride ends. */
static void test_ride_takes_the_queue(void **state)
{
	struct env *e = *state;
	struct atq_ride ride;
	assert_int_equal(atime_queue_ride_begin(e->q, &ride), 0); /* nothing queued */
	atime_queue_ride_end(e->q, &ride);

	set_fake(e, 400, false);
	atime_queue_start(e->q);
	atime_queue_add(e->q, 100);
	usleep(100 * 1000); /* 100 is in flight for 400 ms: the rest stays queued */
	for (uint64_t ino = 1; ino < ATQ_RIDE_MIN; ino++)
		atime_queue_add(e->q, ino);
	assert_int_equal(atime_queue_ride_begin(e->q, &ride), 0); /* too few to ride */
	atime_queue_ride_end(e->q, &ride);
	for (uint64_t ino = ATQ_RIDE_MIN; ino <= 10; ino++)
		atime_queue_add(e->q, ino);
	assert_int_equal(atime_queue_ride_begin(e->q, &ride), 10);
	for (uint64_t ino = 1; ino <= 10; ino++)
		assert_int_equal(ride.inos[ino - 1], ino);
	struct waiter w = { .q = e->q, .ino = 7 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	atime_queue_wait(e->q, 100);
	usleep(200 * 1000);
	assert_false(atomic_load(&w.done)); /* 7 rides still */
	atime_queue_add(e->q, 7);           /* pending: not queued again */
	atime_queue_ride_end(e->q, &ride);
	pthread_join(t, NULL);
	assert_true(atomic_load(&w.done));
	atime_queue_wait(e->q, 0);
	assert_int_equal(calls(e), 1); /* only 100's: the thread sent no empty batch */
	for (uint64_t ino = 1; ino <= 10; ino++)
		assert_int_equal(seen_count(e, ino), 0); /* the ride's call carried them */
	/* after the ride, a read of 7 reports again */
	set_fake(e, 0, false);
	atime_queue_add(e->q, 7);
	atime_queue_wait(e->q, 7);
	assert_int_equal(seen_count(e, 7), 1);
}

static void test_master_errors_cost_only_the_atime(void **state)
{
	struct env *e = *state;
	set_fake(e, 0, true);
	atime_queue_start(e->q);
	atime_queue_add(e->q, 11);
	assert_true(atime_queue_wait(e->q, 11)); /* answered, with an error */
	assert_int_equal(seen_count(e, 11), 0);
	assert_int_equal(calls(e), 1);
	set_fake(e, 0, false);
	atime_queue_add(e->q, 12);
	atime_queue_wait(e->q, 0);
	assert_int_equal(seen_count(e, 12), 1);
}

int main(void)
{
	log_init("test_atime_queue", true, LOG_CRIT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_and_delivers_each_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_covers_call_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_sends_what_is_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_started_sends_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ride_takes_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_errors_cost_only_the_atime, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
