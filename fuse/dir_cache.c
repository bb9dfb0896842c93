/* dir_cache — see dir_cache.h.
 *
 * Owns: the listings (a hash of folders, each an open-addressed table of
 * its names with their attributes, names copied), the miss table, the
 * count of clears. `lock` guards all of it. */
#include "dir_cache.h"

#include "clock.h"
#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DC_BUCKETS 1024
#define DC_MISSES 256

struct dc_ent {
	uint64_t hash;
	char *name;          /* NULL: empty slot */
	struct stat st;
};

struct dc_list {
	uint64_t dir;
	uint64_t epoch;
	size_t n, cap;       /* cap: a power of two, at least 2n */
	struct dc_ent *v;
	struct dc_list *next;
};

struct dc_miss {
	uint64_t dir;
	int64_t last_ms;
	int64_t skip_until_ms;   /* too big or failing, or a fetch on its way */
	bool fetching;           /* dc_want said yes; not ended yet */
};

struct dir_cache {
	pthread_mutex_t lock;
	pthread_cond_t fetched;  /* a fetch ended (dc_wait_fetch) */
	uint64_t clears;
	size_t entries;
	uint64_t hits;
	struct dc_list *b[DC_BUCKETS];
	struct dc_miss miss[DC_MISSES];
};

struct dc_fill {
	uint64_t clears;     /* set by dc_fill_end's check */
	struct dc_list *l;
	bool too_big;
};

static size_t bucket(uint64_t dir)
{
	return (size_t)((dir * 0x9E3779B97F4A7C15ULL) >> 54) % DC_BUCKETS;
}

int dc_new(struct dir_cache **ret)
{
	struct dir_cache *dc = calloc(1, sizeof(*dc));
	if (!dc)
		return -ENOMEM;
	pthread_mutex_init(&dc->lock, NULL);
	clock_cond_init(&dc->fetched);
	*ret = dc;
	return 0;
}

static void list_free(struct dc_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->cap; i++)
		free(l->v[i].name);
	free(l->v);
	free(l);
}

static void clear_locked(struct dir_cache *dc)
{
	for (size_t i = 0; i < DC_BUCKETS; i++) {
		while (dc->b[i]) {
			struct dc_list *l = dc->b[i];
			dc->b[i] = l->next;
			list_free(l);
		}
	}
	dc->entries = 0;
	dc->clears++;
}

void dc_free(struct dir_cache *dc)
{
	if (!dc)
		return;
	clear_locked(dc);
	pthread_cond_destroy(&dc->fetched);
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}

void dc_clear(struct dir_cache *dc)
{
	if (!dc)
		return;
	pthread_mutex_lock(&dc->lock);
	clear_locked(dc);    /* a fetch on its way is not kept either */
	pthread_mutex_unlock(&dc->lock);
}

static struct dc_list *find(struct dir_cache *dc, uint64_t dir)
{
	for (struct dc_list *l = dc->b[bucket(dir)]; l; l = l->next)
		if (l->dir == dir)
			return l;
	return NULL;
}

int dc_lookup(struct dir_cache *dc, uint64_t dir, const char *name, uint64_t epoch,
	      struct stat *st)
{
	uint64_t at;
	int rc = dc_lookup_at(dc, dir, name, &at, st);
	return rc >= 0 && at != epoch ? -1 : rc;
}

int dc_lookup_at(struct dir_cache *dc, uint64_t dir, const char *name, uint64_t *ret_epoch,
		 struct stat *st)
{
	if (!dc)
		return -1;
	uint64_t h = hash_name(name);
	int rc = -1;
	pthread_mutex_lock(&dc->lock);
	struct dc_list *l = find(dc, dir);
	if (l) {
		*ret_epoch = l->epoch;
		rc = 0;
		for (size_t i = h & (l->cap - 1); l->cap > 0; i = (i + 1) & (l->cap - 1)) {
			const struct dc_ent *e = &l->v[i];
			if (!e->name)
				break;
			if (e->hash == h && strcmp(e->name, name) == 0) {
				*st = e->st;
				rc = 1;
				break;
			}
		}
		dc->hits++;
	}
	pthread_mutex_unlock(&dc->lock);
	return rc;
}

bool dc_want(struct dir_cache *dc, uint64_t dir, int64_t quiet_ms, int64_t now_ms)
{
	if (!dc)
		return false;
	pthread_mutex_lock(&dc->lock);
	struct dc_miss *m = &dc->miss[bucket(dir) % DC_MISSES];
	bool want = false;
	if (m->dir != dir) {
		*m = (struct dc_miss){ .dir = dir, .last_ms = now_ms };
	} else if (now_ms >= m->skip_until_ms) {
		want = now_ms - m->last_ms < DC_MISS_MS;
		m->last_ms = now_ms;
	}
	/* this mount is changing things: its next change would drop a
	 * listing at once (rsync, tar, make), so fetch none then */
	if (quiet_ms < DC_QUIET_MS)
		want = false;
	if (want) {  /* one fetch at a time: the next misses wait for it */
		m->skip_until_ms = now_ms + DC_MISS_MS;
		m->fetching = true;
	}
	pthread_mutex_unlock(&dc->lock);
	return want;
}

void dc_too_big(struct dir_cache *dc, uint64_t dir, int64_t now_ms)
{
	pthread_mutex_lock(&dc->lock);
	struct dc_miss *m = &dc->miss[bucket(dir) % DC_MISSES];
	*m = (struct dc_miss){ .dir = dir, .last_ms = now_ms, .skip_until_ms = now_ms + 10000 };
	pthread_cond_broadcast(&dc->fetched);
	pthread_mutex_unlock(&dc->lock);
}

struct dc_fill *dc_fill_start(struct dir_cache *dc, uint64_t dir, uint64_t epoch)
{
	struct dc_fill *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_lock(&dc->lock);
	f->clears = dc->clears;
	pthread_mutex_unlock(&dc->lock);
	f->l = calloc(1, sizeof(*f->l));
	if (!f->l) {
		free(f);
		return NULL;
	}
	f->l->dir = dir;
	f->l->epoch = epoch;
	return f;
}

static bool grow(struct dc_list *l)
{
	size_t cap = l->cap ? l->cap * 2 : 64;
	struct dc_ent *v = calloc(cap, sizeof(*v));
	if (!v)
		return false;
	for (size_t i = 0; i < l->cap; i++) {
		if (!l->v[i].name)
			continue;
		size_t k = l->v[i].hash & (cap - 1);
		while (v[k].name)
			k = (k + 1) & (cap - 1);
		v[k] = l->v[i];
	}
	free(l->v);
	l->v = v;
	l->cap = cap;
	return true;
}

bool dc_fill_add(struct dc_fill *f, const char *name, const struct stat *st)
{
	struct dc_list *l = f->l;
	if (f->too_big || l->n >= DC_DIR_MAX) {
		f->too_big = true;
		return false;
	}
	if (2 * (l->n + 1) > l->cap && !grow(l)) {
		f->too_big = true;
		return false;
	}
	uint64_t h = hash_name(name);
	size_t k = h & (l->cap - 1);
	while (l->v[k].name) {
		if (l->v[k].hash == h && strcmp(l->v[k].name, name) == 0) {
			l->v[k].st = *st;      /* the master listed it twice: keep the last */
			return true;
		}
		k = (k + 1) & (l->cap - 1);
	}
	char *copy = strdup(name);
	if (!copy) {
		f->too_big = true;
		return false;
	}
	l->v[k] = (struct dc_ent){ .hash = h, .name = copy, .st = *st };
	l->n++;
	return true;
}

void dc_fill_abort(struct dc_fill *f)
{
	if (!f)
		return;
	list_free(f->l);
	free(f);
}

void dc_fill_end(struct dir_cache *dc, struct dc_fill *f, uint64_t cur)
{
	if (!f)
		return;
	pthread_mutex_lock(&dc->lock);
	bool keep = !f->too_big && f->l->epoch == cur && f->clears == dc->clears;
	if (keep && dc->entries + f->l->n > DC_ENTRIES)
		clear_locked(dc);       /* full: start again, with this fresh one */
	struct dc_miss *m = &dc->miss[bucket(f->l->dir) % DC_MISSES];
	if (m->dir == f->l->dir) {
		m->skip_until_ms = 0;     /* fetched: a later miss may fetch again */
		m->fetching = false;
	}
	pthread_cond_broadcast(&dc->fetched);
	if (keep) {
		struct dc_list *old = find(dc, f->l->dir);
		if (old) {
			struct dc_list **p = &dc->b[bucket(old->dir)];
			while (*p != old)
				p = &(*p)->next;
			*p = old->next;
			dc->entries -= old->n;
			list_free(old);
		}
		size_t b = bucket(f->l->dir);
		f->l->next = dc->b[b];
		dc->b[b] = f->l;
		dc->entries += f->l->n;
		f->l = NULL;
	}
	pthread_mutex_unlock(&dc->lock);
	dc_fill_abort(f);
}

bool dc_wait_fetch(struct dir_cache *dc, uint64_t dir, int timeout_ms)
{
	if (!dc)
		return false;
	struct timespec until = clock_deadline_ms(timeout_ms);
	bool waited = false;
	pthread_mutex_lock(&dc->lock);
	struct dc_miss *m = &dc->miss[bucket(dir) % DC_MISSES];
	while (m->dir == dir && m->fetching) {
		waited = true;
		if (pthread_cond_timedwait(&dc->fetched, &dc->lock, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&dc->lock);
	return waited;
}

uint64_t dc_hits(struct dir_cache *dc)
{
	pthread_mutex_lock(&dc->lock);
	uint64_t h = dc->hits;
	pthread_mutex_unlock(&dc->lock);
	return h;
}
