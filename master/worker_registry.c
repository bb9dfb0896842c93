/* worker_registry — in-memory table of workers and their liveness.
 *
 * Owns: an array of struct wreg_info, grown on demand, and the small set
 * of replicas a rebalance move marked as leaving. The database copy of
 * registrations (table `workers`) is written by chunk_map, the record of
 * drains by drain.c; this module keeps only what changes every few seconds
 * (status, load, last_seen) and the draining flags drain.c sets.
 *
 * Threads: HTTP handlers (register, placement, replies), the Kafka
 * consumer (status), the repair thread (sweep). `lock` guards everything;
 * it is a leaf lock: it may be taken while meta_store's lock is held, and
 * nothing else is taken while holding it.
 *
 * Liveness of one worker:
 *
 *   unknown --wreg_add_known--> known(dead) --wreg_seen--> live
 *   live --(now - last_seen >= timeout; reported by wreg_sweep)--> dead
 *   dead --wreg_seen--> live (wreg_seen returns 1: "joined")
 *
 * Draining is independent of liveness: wreg_set_draining sets or clears
 * it on a known worker, live or not.
 */
#include "worker_registry.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

struct wreg_leaving {
	uint64_t chunk_id;
	char worker_id[WORKER_ID_STRLEN + 1];
};

struct wreg {
	pthread_mutex_t lock;
	int64_t timeout_ms;
	struct wreg_info *w;   /* w[i].live: liveness last reported by sweep/seen */
	size_t n, cap;
	size_t ndraining;      /* workers with .draining set */
	struct wreg_leaving leaving[WREG_LEAVING_MAX];
	size_t nleaving;
};

int64_t wreg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wreg_new(int64_t timeout_ms, struct wreg **ret)
{
	struct wreg *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	r->timeout_ms = timeout_ms;
	*ret = r;
	return 0;
}

void wreg_free(struct wreg *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->w);
	free(r);
}

bool wreg_addr_valid(const char *addr)
{
	size_t len = strlen(addr);
	const char *colon = strrchr(addr, ':');

	if (len < 3 || len >= WREG_ADDR_MAX || !colon || colon == addr)
		return false;
	for (const char *p = addr; p < colon; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-_:[]", *p))
			return false;
	}
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return false;
	return true;
}

static bool is_live_locked(const struct wreg *r, const struct wreg_info *w, int64_t now)
{
	return w->last_seen_ms != 0 && now - w->last_seen_ms < r->timeout_ms;
}

static struct wreg_info *find_locked(struct wreg *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->w[i].id, id) == 0)
			return &r->w[i];
	return NULL;
}

static struct wreg_info *find_or_add_locked(struct wreg *r, const char *id)
{
	struct wreg_info *w = find_locked(r, id);

	if (w)
		return w;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct wreg_info *nw = realloc(r->w, ncap * sizeof(*nw));
		if (!nw)
			return NULL;
		r->w = nw;
		r->cap = ncap;
	}
	w = &r->w[r->n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	return w;
}

int wreg_add_known(struct wreg *r, const char *id, const char *addr,
		   uint64_t capacity, uint64_t used)
{
	pthread_mutex_lock(&r->lock);
	struct wreg_info *w = find_or_add_locked(r, id);
	if (w) {
		snprintf(w->addr, sizeof(w->addr), "%s", addr);
		w->capacity = capacity;
		w->used = used;
	}
	pthread_mutex_unlock(&r->lock);
	return w ? 0 : -ENOMEM;
}

int wreg_seen(struct wreg *r, const char *id, const char *addr, uint64_t capacity,
	      uint64_t used, int64_t chunks, int64_t inflight)
{
	int64_t now = wreg_now_ms();
	int rc;

	pthread_mutex_lock(&r->lock);
	struct wreg_info *w = find_or_add_locked(r, id);
	if (!w) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	rc = (w->live && is_live_locked(r, w, now)) ? 0 : 1;
	snprintf(w->addr, sizeof(w->addr), "%s", addr);
	w->capacity = capacity;
	w->used = used;
	if (chunks >= 0)
		w->chunks = (uint64_t)chunks;
	if (inflight >= 0)
		w->inflight = (uint64_t)inflight;
	w->last_seen_ms = now;
	w->live = true;
out_unlock:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

bool wreg_is_live(struct wreg *r, const char *id)
{
	bool live = false;

	pthread_mutex_lock(&r->lock);
	struct wreg_info *w = find_locked(r, id);
	if (w)
		live = is_live_locked(r, w, wreg_now_ms());
	pthread_mutex_unlock(&r->lock);
	return live;
}

int wreg_get(struct wreg *r, const char *id, struct wreg_info *ret)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&r->lock);
	struct wreg_info *w = find_locked(r, id);
	if (w) {
		*ret = *w;
		ret->live = is_live_locked(r, w, wreg_now_ms());
		rc = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

size_t wreg_count(struct wreg *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

int wreg_snapshot(struct wreg *r, bool live_only, struct wreg_info **ret,
		  size_t *ret_n)
{
	int64_t now = wreg_now_ms();
	struct wreg_info *out = NULL;
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	if (r->n) {
		out = malloc(r->n * sizeof(*out));
		if (!out) {
			pthread_mutex_unlock(&r->lock);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		bool live = is_live_locked(r, &r->w[i], now);
		if (live_only && !live)
			continue;
		out[n] = r->w[i];
		out[n].live = live;
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	*ret = out;
	*ret_n = n;
	return 0;
}

int wreg_sweep(struct wreg *r, char (*lost)[WORKER_ID_STRLEN + 1], int max)
{
	int64_t now = wreg_now_ms();
	int n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && n < max; i++) {
		struct wreg_info *w = &r->w[i];
		if (w->live && !is_live_locked(r, w, now)) {
			w->live = false;
			memcpy(lost[n++], w->id, sizeof(w->id));
		}
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

int wreg_set_draining(struct wreg *r, const char *id, bool draining)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&r->lock);
	struct wreg_info *w = find_locked(r, id);
	if (w) {
		if (w->draining != draining)
			r->ndraining += draining ? 1 : (size_t)-1;
		w->draining = draining;
		rc = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static ssize_t leaving_find_locked(const struct wreg *r, uint64_t chunk_id, const char *worker_id)
{
	for (size_t i = 0; i < r->nleaving; i++)
		if (r->leaving[i].chunk_id == chunk_id &&
		    strcmp(r->leaving[i].worker_id, worker_id) == 0)
			return (ssize_t)i;
	return -1;
}

int wreg_mark_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id)
{
	int rc = 0;

	if (strlen(worker_id) > WORKER_ID_STRLEN)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (leaving_find_locked(r, chunk_id, worker_id) >= 0) {
		rc = -EEXIST;
	} else if (r->nleaving == WREG_LEAVING_MAX) {
		rc = -ENOSPC;
	} else {
		struct wreg_leaving *l = &r->leaving[r->nleaving++];
		l->chunk_id = chunk_id;
		snprintf(l->worker_id, sizeof(l->worker_id), "%s", worker_id);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void wreg_unmark_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id)
{
	pthread_mutex_lock(&r->lock);
	ssize_t i = leaving_find_locked(r, chunk_id, worker_id);
	if (i >= 0)
		r->leaving[i] = r->leaving[--r->nleaving];
	pthread_mutex_unlock(&r->lock);
}

bool wreg_replica_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id)
{
	bool leaving = false;

	pthread_mutex_lock(&r->lock);
	if (r->ndraining) {
		struct wreg_info *w = find_locked(r, worker_id);
		leaving = w && w->draining;
	}
	if (!leaving && r->nleaving)
		leaving = leaving_find_locked(r, chunk_id, worker_id) >= 0;
	pthread_mutex_unlock(&r->lock);
	return leaving;
}
