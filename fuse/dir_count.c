/* dir_count — folders known empty (see dir_count.h).
 *
 * State: two open-addressing tables (linear probing): folder inode ->
 * names left, and (parent, name hash) -> folder inode. A slot counts only
 * while its epoch is the table's; forgetting everything is one epoch
 * step. Probes run to a slot never used since the last wipe, so a stale
 * slot never hides a live one behind it; inserts reuse the first stale
 * slot. Past DCNT_SLOTS / 2 slots ever used, both tables are wiped.
 *
 *   unknown --dcnt_listed--> n left --dcnt_removed--> ... --> 0: empty
 *   any --dcnt_grew of it, a rename, a newer generation--> unknown */
#include "dir_count.h"

#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dcnt_rec {
	uint64_t epoch;              /* 0: never used since the wipe */
	uint64_t dir;
	int64_t left;                /* names not yet removed; < 0: not known */
};

struct dcnt_name {
	uint64_t epoch;
	uint64_t parent, h;
	uint64_t ino;
};

struct dir_count {
	pthread_mutex_t lock;
	struct dcnt_rec *recs;
	struct dcnt_name *names;
	size_t used;                 /* slots of both tables used since the wipe */
	uint64_t gen;                /* the feed generation everything is from */
	uint64_t epoch;              /* >= 1 */
	uint64_t adds;               /* names added and renames: listings begun before miss them */
};

#define DCNT_MASK (DCNT_SLOTS - 1)

int dcnt_new(struct dir_count **ret)
{
	struct dir_count *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->recs = calloc(DCNT_SLOTS, sizeof(*t->recs));
	t->names = calloc(DCNT_SLOTS, sizeof(*t->names));
	if (!t->recs || !t->names) {
		free(t->recs);
		free(t->names);
		free(t);
		return -ENOMEM;
	}
	t->epoch = 1;
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

void dcnt_free(struct dir_count *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->recs);
	free(t->names);
	free(t);
}

/* Lock held: a newer generation forgets everything; false if gen is
 * older than what is known (a reply from before others' changes). */
static bool dcnt_at(struct dir_count *t, uint64_t gen)
{
	if (gen < t->gen)
		return false;
	if (gen > t->gen) {
		t->gen = gen;
		t->epoch++;
	}
	return true;
}

/* Lock held: a slot never used is about to be; true if both tables
 * were wiped for room instead (the caller probes again). */
static bool dcnt_wiped(struct dir_count *t)
{
	if (t->used < DCNT_SLOTS / 2) {
		t->used++;
		return false;
	}
	memset(t->recs, 0, DCNT_SLOTS * sizeof(*t->recs));
	memset(t->names, 0, DCNT_SLOTS * sizeof(*t->names));
	t->used = 0;
	return true;
}

/* Lock held: folder dir's live record, or with create one made for it
 * (left unknown). NULL if none. */
static struct dcnt_rec *rec_of(struct dir_count *t, uint64_t dir, bool create)
{
	struct dcnt_rec *spare = NULL;
	for (size_t i = hash_mix64(dir) & DCNT_MASK;; i = (i + 1) & DCNT_MASK) {
		struct dcnt_rec *r = &t->recs[i];
		if (r->epoch == t->epoch && r->dir == dir)
			return r;
		if (r->epoch != t->epoch && !spare)
			spare = r;
		if (r->epoch == 0)
			break;
	}
	if (!create)
		return NULL;
	if (spare->epoch == 0 && dcnt_wiped(t))
		return rec_of(t, dir, true);
	spare->epoch = t->epoch;
	spare->dir = dir;
	spare->left = -1;
	return spare;
}

static struct dcnt_name *name_of(struct dir_count *t, uint64_t parent, uint64_t h, bool create)
{
	struct dcnt_name *spare = NULL;
	for (size_t i = hash_mix64(parent ^ h) & DCNT_MASK;; i = (i + 1) & DCNT_MASK) {
		struct dcnt_name *n = &t->names[i];
		if (n->epoch == t->epoch && n->parent == parent && n->h == h)
			return n;
		if (n->epoch != t->epoch && !spare)
			spare = n;
		if (n->epoch == 0)
			break;
	}
	if (!create)
		return NULL;
	if (spare->epoch == 0 && dcnt_wiped(t))
		return name_of(t, parent, h, true);
	spare->epoch = t->epoch;
	spare->parent = parent;
	spare->h = h;
	spare->ino = 0;
	return spare;
}

void dcnt_named(struct dir_count *t, uint64_t parent, const char *name, uint64_t ino,
		uint64_t gen)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (dcnt_at(t, gen))
		name_of(t, parent, hash_name(name), true)->ino = ino;
	pthread_mutex_unlock(&t->lock);
}

struct dcnt_mark dcnt_begin(struct dir_count *t, uint64_t gen)
{
	if (!t)
		return (struct dcnt_mark){ 0, 0 };
	pthread_mutex_lock(&t->lock);
	dcnt_at(t, gen);
	struct dcnt_mark m = { gen, t->adds };
	pthread_mutex_unlock(&t->lock);
	return m;
}

void dcnt_listed(struct dir_count *t, uint64_t dir, uint64_t n, struct dcnt_mark m,
		 uint64_t gen)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (dcnt_at(t, gen) && m.gen == gen && m.adds == t->adds && n <= INT64_MAX)
		rec_of(t, dir, true)->left = (int64_t)n;
	pthread_mutex_unlock(&t->lock);
}

void dcnt_removed(struct dir_count *t, uint64_t dir)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	struct dcnt_rec *r = rec_of(t, dir, false);
	if (r)
		r->left = r->left > 0 ? r->left - 1 : -1;   /* one it did not count: not known */
	pthread_mutex_unlock(&t->lock);
}

void dcnt_grew(struct dir_count *t, uint64_t dir)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->adds++;
	struct dcnt_rec *r = rec_of(t, dir, false);
	if (r)
		r->left = -1;
	pthread_mutex_unlock(&t->lock);
}

void dcnt_reset(struct dir_count *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->adds++;
	t->epoch++;
	pthread_mutex_unlock(&t->lock);
}

/* Lock held, generation checked: whether folder dir is known empty. */
static bool dcnt_empty_locked(struct dir_count *t, uint64_t dir)
{
	const struct dcnt_rec *r = rec_of(t, dir, false);
	return r && r->left == 0;
}

bool dcnt_empty(struct dir_count *t, uint64_t parent, const char *name, uint64_t gen)
{
	if (!t)
		return false;
	pthread_mutex_lock(&t->lock);
	bool empty = false;
	if (dcnt_at(t, gen)) {
		const struct dcnt_name *n = name_of(t, parent, hash_name(name), false);
		empty = n && dcnt_empty_locked(t, n->ino);
	}
	pthread_mutex_unlock(&t->lock);
	return empty;
}

bool dcnt_dir_empty(struct dir_count *t, uint64_t dir, uint64_t gen)
{
	if (!t)
		return false;
	pthread_mutex_lock(&t->lock);
	bool empty = dcnt_at(t, gen) && dcnt_empty_locked(t, dir);
	pthread_mutex_unlock(&t->lock);
	return empty;
}
