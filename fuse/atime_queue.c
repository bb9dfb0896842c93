/* atime_queue — batched read-atime reports (see atime_queue.h).
 *
 * Owns: the queued inodes (not sent yet), the inodes of the call in
 * flight, the list of rides (borrowed: each lives on its caller's stack
 * between ride_begin and ride_end), and the sending thread. `mu` guards
 * them all; `wake` wakes the thread (first report of a batch, a full
 * batch, a waiter, stop), `done` wakes waiters after each call and ride.
 * An inode is pending while it is queued, in flight or riding; it is
 * queued at most once, and not while pending otherwise (the call carrying
 * it is applied after that read, which is what relatime needs). */
#include "atime_queue.h"

#include "clock.h"
#include "json_util.h"
#include "log.h"
#include "master_client.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct atime_queue {
	struct master_client *mc;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	uint64_t queued[ATQ_BATCH];
	size_t nqueued;
	int64_t first_ms;          /* clock_now_ms when queued[0] was queued */
	uint64_t sending[ATQ_BATCH];
	size_t nsending;
	struct atq_ride *rides;
	bool hurry;                /* someone waits, or the batch is full */
	bool running;              /* the thread sends; else add sends itself */
	bool stop;
	bool started;              /* the thread exists (to join) */
	pthread_t thread;
};

int atime_queue_new(struct master_client *mc, struct atime_queue **ret)
{
	struct atime_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->mc = mc;
	pthread_mutex_init(&q->mu, NULL);
	if (clock_cond_init(&q->wake) < 0) {
		pthread_mutex_destroy(&q->mu);
		free(q);
		return -ENOMEM;
	}
	pthread_cond_init(&q->done, NULL);
	*ret = q;
	return 0;
}

/* One /v1/atime call. Failure costs only these atimes. */
static void atq_send(struct atime_queue *q, const uint64_t *inos, size_t n)
{
	json_t *arr = ju_u64_array(inos, n);
	json_t *req = arr ? json_pack("{s:o}", "inos", arr) : NULL;
	int rc = req ? master_client_call(q->mc, "atime", req, 0, NULL, NULL) : -ENOMEM;
	json_decref(req);
	if (rc < 0)
		log_debug("atime of %zu inodes (first %" PRIu64 "): %s", n, inos[0],
			  strerror(-rc));
}

static bool atq_has(const uint64_t *v, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (ino == 0 || v[i] == ino)
			return true;
	return false;
}

/* mu held. */
static bool atq_pending(const struct atime_queue *q, uint64_t ino)
{
	if (atq_has(q->queued, q->nqueued, ino) || atq_has(q->sending, q->nsending, ino))
		return true;
	for (const struct atq_ride *r = q->rides; r; r = r->next)
		if (atq_has(r->inos, r->n, ino))
			return true;
	return false;
}

static void *atq_thread_main(void *arg)
{
	struct atime_queue *q = arg;
	pthread_mutex_lock(&q->mu);
	while (!q->stop || q->nqueued) {
		if (q->nqueued == 0) {
			pthread_cond_wait(&q->wake, &q->mu);
			continue;
		}
		/* let the batch fill for a moment, unless someone waits; a ride
		 * that takes the queue restarts the moment (first_ms) */
		while (!q->stop && !q->hurry && q->nqueued > 0 && q->nqueued < ATQ_BATCH) {
			int64_t left = q->first_ms + ATQ_DELAY_MS - clock_now_ms();
			if (left <= 0)
				break;
			struct timespec ts = clock_deadline_ms(left);
			pthread_cond_timedwait(&q->wake, &q->mu, &ts);
		}
		if (q->nqueued == 0) { /* all of it left on a ride */
			q->hurry = false;
			continue;
		}
		memcpy(q->sending, q->queued, q->nqueued * sizeof(q->queued[0]));
		q->nsending = q->nqueued;
		q->nqueued = 0;
		q->hurry = false;
		pthread_cond_broadcast(&q->done); /* room in the queue */
		pthread_mutex_unlock(&q->mu);
		atq_send(q, q->sending, q->nsending);
		pthread_mutex_lock(&q->mu);
		q->nsending = 0;
		pthread_cond_broadcast(&q->done);
	}
	q->running = false;
	pthread_cond_broadcast(&q->done);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

void atime_queue_start(struct atime_queue *q)
{
	pthread_mutex_lock(&q->mu);
	bool go = !q->started && !q->stop;
	if (go)
		q->running = q->started = pthread_create(&q->thread, NULL, atq_thread_main, q) == 0;
	pthread_mutex_unlock(&q->mu);
	if (go && !q->started)
		log_warn("atime: cannot start the reporting thread; reads report one by one");
}

void atime_queue_stop(struct atime_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	bool join = q->started;
	q->started = false;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->mu);
	if (join)
		pthread_join(q->thread, NULL);
}

void atime_queue_free(struct atime_queue *q)
{
	if (!q)
		return;
	atime_queue_stop(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->wake);
	pthread_cond_destroy(&q->done);
	free(q);
}

void atime_queue_add(struct atime_queue *q, uint64_t ino)
{
	if (ino == 0)
		return;
	pthread_mutex_lock(&q->mu);
	while (q->running && q->nqueued == ATQ_BATCH && !atq_pending(q, ino)) {
		q->hurry = true;
		pthread_cond_signal(&q->wake);
		pthread_cond_wait(&q->done, &q->mu);
	}
	if (!q->running) {
		pthread_mutex_unlock(&q->mu);
		atq_send(q, &ino, 1);
		return;
	}
	if (!atq_pending(q, ino)) {
		if (q->nqueued == 0)
			q->first_ms = clock_now_ms();
		q->queued[q->nqueued++] = ino;
		if (q->nqueued == 1 || q->nqueued == ATQ_BATCH)
			pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->mu);
}

size_t atime_queue_ride_begin(struct atime_queue *q, struct atq_ride *r)
{
	r->n = 0;
	pthread_mutex_lock(&q->mu);
	if (q->nqueued >= ATQ_RIDE_MIN) {
		r->n = q->nqueued;
		memcpy(r->inos, q->queued, r->n * sizeof(r->inos[0]));
		q->nqueued = 0;
		r->next = q->rides;
		q->rides = r;
		pthread_cond_broadcast(&q->done); /* room in the queue */
	}
	pthread_mutex_unlock(&q->mu);
	return r->n;
}

void atime_queue_ride_end(struct atime_queue *q, struct atq_ride *r)
{
	if (r->n == 0)
		return;
	pthread_mutex_lock(&q->mu);
	for (struct atq_ride **p = &q->rides; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	r->n = 0;
	pthread_cond_broadcast(&q->done);
	pthread_mutex_unlock(&q->mu);
}

bool atime_queue_wait(struct atime_queue *q, uint64_t ino)
{
	bool waited = false;
	pthread_mutex_lock(&q->mu);
	while (atq_pending(q, ino)) {
		q->hurry = true;
		pthread_cond_signal(&q->wake);
		pthread_cond_wait(&q->done, &q->mu);
		waited = true;
	}
	pthread_mutex_unlock(&q->mu);
	return waited;
}
