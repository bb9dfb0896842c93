/* worker_health — suspect and down workers, per mount (see
 * worker_health.h).
 *
 * State: a small table of worker ids (a cluster has tens of workers, not
 * thousands; when full, the entry that has been fine the longest is
 * reused) with the time until which each is suspect and whether the
 * master holds it down. One mutex guards it all; every call takes it
 * once and does no I/O under it. Called from any FUSE, flusher or reader
 * thread (worker_io) and the session heartbeat thread (client_session).
 *
 *   fine --whealth_suspect--> suspect --WH_SUSPECT_MS pass / whealth_ok--> fine
 *   any --whealth_set_down lists it--> down --a later verdict omits it--> as before
 */
#include "worker_health.h"

#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WH_MAX 256

struct wh_entry {
	char id[WORKER_ID_STRLEN + 1];
	int64_t suspect_until_ms;
	int64_t touched_ms;
	bool down;
};

struct whealth {
	pthread_mutex_t lock;
	size_t n;
	struct wh_entry e[WH_MAX];
};

static int64_t wh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int whealth_new(struct whealth **ret)
{
	struct whealth *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	*ret = h;
	return 0;
}

void whealth_free(struct whealth *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Lock held. */
static struct wh_entry *wh_find(struct whealth *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->e[i].id, id) == 0)
			return &h->e[i];
	return NULL;
}

static bool wh_bad(const struct wh_entry *e, int64_t now)
{
	return e->down || e->suspect_until_ms > now;
}

/* Lock held. The entry of id, made if needed (reusing the entry fine for
 * the longest when the table is full). */
static struct wh_entry *wh_get(struct whealth *h, const char *id, int64_t now)
{
	struct wh_entry *e = wh_find(h, id);
	if (e)
		return e;
	if (h->n < WH_MAX) {
		e = &h->e[h->n++];
	} else {
		e = NULL;
		for (size_t i = 0; i < h->n; i++)
			if (!wh_bad(&h->e[i], now) && (!e || h->e[i].touched_ms < e->touched_ms))
				e = &h->e[i];
		if (!e)
			e = &h->e[0];
	}
	memset(e, 0, sizeof(*e));
	strncpy(e->id, id, WORKER_ID_STRLEN);
	return e;
}

void whealth_suspect(struct whealth *h, const char *id)
{
	int64_t now = wh_now_ms();
	pthread_mutex_lock(&h->lock);
	struct wh_entry *e = wh_get(h, id, now);
	e->suspect_until_ms = now + WH_SUSPECT_MS;
	e->touched_ms = now;
	pthread_mutex_unlock(&h->lock);
}

void whealth_ok(struct whealth *h, const char *id)
{
	pthread_mutex_lock(&h->lock);
	struct wh_entry *e = wh_find(h, id);
	if (e && e->suspect_until_ms) {
		e->suspect_until_ms = 0;
		e->touched_ms = wh_now_ms();
	}
	pthread_mutex_unlock(&h->lock);
}

void whealth_set_down(struct whealth *h, const char *const *ids, size_t n)
{
	int64_t now = wh_now_ms();
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n; i++)
		h->e[i].down = false;
	for (size_t k = 0; k < n; k++) {
		struct wh_entry *e = wh_get(h, ids[k], now);
		e->down = true;
		e->touched_ms = now;
	}
	pthread_mutex_unlock(&h->lock);
}

bool whealth_bad(struct whealth *h, const char *id)
{
	int64_t now = wh_now_ms();
	pthread_mutex_lock(&h->lock);
	struct wh_entry *e = wh_find(h, id);
	bool bad = e && wh_bad(e, now);
	pthread_mutex_unlock(&h->lock);
	return bad;
}

size_t whealth_list_bad(struct whealth *h, char (*ids)[WORKER_ID_STRLEN + 1], size_t max)
{
	int64_t now = wh_now_ms();
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n && n < max; i++)
		if (wh_bad(&h->e[i], now))
			memcpy(ids[n++], h->e[i].id, WORKER_ID_STRLEN + 1);
	pthread_mutex_unlock(&h->lock);
	return n;
}

size_t whealth_count_bad(struct whealth *h)
{
	int64_t now = wh_now_ms();
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n; i++)
		n += wh_bad(&h->e[i], now);
	pthread_mutex_unlock(&h->lock);
	return n;
}
