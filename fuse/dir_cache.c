/* dir_cache — see dir_cache.h.
 *
 * Owns: the listings (a hash of folders, each its entries in the master's
 * order with an open-addressed index of their names, names copied), the
 * age list that evicts the oldest listing first, the miss table, the
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
	uint64_t cookie;
	char *name;
	struct stat st;
};

struct dc_list {
	uint64_t dir;
	uint64_t epoch;
	int64_t fetched_ms;  /* when its fetch ended (dc_want) */
	bool has_self;       /* dc_fill_self */
	struct stat self;
	uint64_t self_dver;
	bool marked;         /* dc_fill_mark */
	uint64_t changes;
	size_t n, vcap;      /* v: the entries in the master's order */
	struct dc_ent *v;
	size_t cap;          /* idx: 1 + an index into v, 0 empty; a power of two, at least 2n */
	uint32_t *idx;
	struct dc_list *next;            /* in its bucket */
	struct dc_list *older, *newer;   /* in the age list */
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
	struct dc_list *oldest, *newest;
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
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	free(l->idx);
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
	dc->oldest = dc->newest = NULL;
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

/* Take l out of the cache and free it. */
static void drop_locked(struct dir_cache *dc, struct dc_list *l)
{
	struct dc_list **p = &dc->b[bucket(l->dir)];
	while (*p != l)
		p = &(*p)->next;
	*p = l->next;
	if (l->older)
		l->older->newer = l->newer;
	else
		dc->oldest = l->newer;
	if (l->newer)
		l->newer->older = l->older;
	else
		dc->newest = l->older;
	dc->entries -= l->n;
	list_free(l);
}

/* Index of name in l, or -1. */
static long index_of(const struct dc_list *l, const char *name, uint64_t h)
{
	for (size_t i = h & (l->cap - 1); l->cap > 0; i = (i + 1) & (l->cap - 1)) {
		uint32_t k = l->idx[i];
		if (k == 0)
			break;
		const struct dc_ent *e = &l->v[k - 1];
		if (e->hash == h && strcmp(e->name, name) == 0)
			return (long)(k - 1);
	}
	return -1;
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
		long k = index_of(l, name, h);
		rc = k >= 0;
		if (k >= 0)
			*st = l->v[k].st;
		dc->hits++;
	}
	pthread_mutex_unlock(&dc->lock);
	return rc;
}

int dc_read(struct dir_cache *dc, uint64_t dir, uint64_t after, size_t max,
	    struct dc_page *page)
{
	memset(page, 0, sizeof(*page));
	if (!dc)
		return -1;
	int rc = -1;
	pthread_mutex_lock(&dc->lock);
	struct dc_list *l = find(dc, dir);
	if (l) {
		/* the first entry past cookie after (cookies ascend) */
		size_t lo = 0, hi = l->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (l->v[mid].cookie <= after)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t n = l->n - lo < max ? l->n - lo : max, names = 0;
		for (size_t i = 0; i < n; i++)
			names += strlen(l->v[lo + i].name) + 1;
		char *mem = malloc(n * sizeof(struct dc_item) + names + 1);
		if (mem) {
			struct dc_item *v = (struct dc_item *)(void *)mem;
			char *p = mem + n * sizeof(struct dc_item);
			for (size_t i = 0; i < n; i++) {
				const struct dc_ent *e = &l->v[lo + i];
				size_t len = strlen(e->name) + 1;
				memcpy(p, e->name, len);
				v[i] = (struct dc_item){ .name = p, .cookie = e->cookie, .st = e->st };
				p += len;
			}
			*page = (struct dc_page){ .v = v, .n = n, .eof = lo + n == l->n,
						  .epoch = l->epoch, .marked = l->marked,
						  .changes = l->changes,
						  .has_self = l->has_self, .self = l->self,
						  .self_dver = l->self_dver };
			dc->hits++;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&dc->lock);
	return rc;
}

void dc_page_free(struct dc_page *page)
{
	free(page->v);   /* the names share its block */
	memset(page, 0, sizeof(*page));
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
	/* listed a moment ago, and a change of this mount's own spoiled it
	 * for this name since (a lookup a valid listing answers does not
	 * come here): rsync's renames spoil its top folder's listing, of
	 * over a thousand folders, every few lookups */
	const struct dc_list *l = find(dc, dir);
	if (l && now_ms - l->fetched_ms < DC_REFETCH_MS)
		want = false;
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

static struct dc_fill *fill_new(uint64_t clears, uint64_t dir, uint64_t epoch)
{
	struct dc_fill *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->clears = clears;
	f->l = calloc(1, sizeof(*f->l));
	if (!f->l) {
		free(f);
		return NULL;
	}
	f->l->dir = dir;
	f->l->epoch = epoch;
	return f;
}

struct dc_fill *dc_fill_start(struct dir_cache *dc, uint64_t dir, uint64_t epoch)
{
	pthread_mutex_lock(&dc->lock);
	uint64_t clears = dc->clears;
	pthread_mutex_unlock(&dc->lock);
	return fill_new(clears, dir, epoch);
}

struct dc_fill *dc_fill_more(const struct dc_fill *first, uint64_t dir)
{
	return fill_new(first->clears, dir, first->l->epoch);
}

void dc_fill_mark(struct dc_fill *f, uint64_t changes)
{
	f->l->marked = true;
	f->l->changes = changes;
}

void dc_fill_self(struct dc_fill *f, const struct stat *st, uint64_t dver)
{
	f->l->has_self = true;
	f->l->self = *st;
	f->l->self_dver = dver;
}

static bool grow(struct dc_list *l)
{
	size_t cap = l->cap ? l->cap * 2 : 64;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	struct dc_ent *v = realloc(l->v, cap / 2 * sizeof(*v));
	if (!idx || !v) {
		free(idx);
		if (v)
			l->v = v;
		return false;
	}
	for (size_t i = 0; i < l->n; i++) {
		size_t k = v[i].hash & (cap - 1);
		while (idx[k])
			k = (k + 1) & (cap - 1);
		idx[k] = (uint32_t)(i + 1);
	}
	free(l->idx);
	l->idx = idx;
	l->v = v;
	l->vcap = cap / 2;
	l->cap = cap;
	return true;
}

bool dc_fill_add(struct dc_fill *f, const char *name, uint64_t cookie, const struct stat *st)
{
	struct dc_list *l = f->l;
	/* a name listed twice, or cookies out of order (the folder changed
	 * between pages): not a listing to keep */
	if (f->too_big || l->n >= DC_DIR_MAX || (l->n > 0 && cookie <= l->v[l->n - 1].cookie)) {
		f->too_big = true;
		return false;
	}
	if (l->n + 1 > l->vcap && !grow(l)) {
		f->too_big = true;
		return false;
	}
	uint64_t h = hash_name(name);
	if (index_of(l, name, h) >= 0) {
		f->too_big = true;
		return false;
	}
	char *copy = strdup(name);
	if (!copy) {
		f->too_big = true;
		return false;
	}
	size_t k = h & (l->cap - 1);
	while (l->idx[k])
		k = (k + 1) & (l->cap - 1);
	l->v[l->n] = (struct dc_ent){ .hash = h, .cookie = cookie, .name = copy, .st = *st };
	l->idx[k] = (uint32_t)(++l->n);
	return true;
}

void dc_fill_abort(struct dc_fill *f)
{
	if (!f)
		return;
	list_free(f->l);
	free(f);
}

void dc_fill_end(struct dir_cache *dc, struct dc_fill *f, uint64_t cur, int64_t now_ms)
{
	if (!f)
		return;
	pthread_mutex_lock(&dc->lock);
	bool keep = !f->too_big && f->l->epoch == cur && f->clears == dc->clears;
	struct dc_miss *m = &dc->miss[bucket(f->l->dir) % DC_MISSES];
	if (m->dir == f->l->dir) {
		m->skip_until_ms = 0;     /* fetched: a later miss may fetch again */
		m->fetching = false;
	}
	pthread_cond_broadcast(&dc->fetched);
	if (keep) {
		struct dc_list *old = find(dc, f->l->dir);
		if (old)
			drop_locked(dc, old);
		while (dc->oldest && dc->entries + f->l->n > DC_ENTRIES)
			drop_locked(dc, dc->oldest);   /* full: the oldest go */
		struct dc_list *l = f->l;
		l->fetched_ms = now_ms;
		size_t b = bucket(l->dir);
		l->next = dc->b[b];
		dc->b[b] = l;
		l->older = dc->newest;
		l->newer = NULL;
		if (dc->newest)
			dc->newest->newer = l;
		else
			dc->oldest = l;
		dc->newest = l;
		dc->entries += l->n;
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
