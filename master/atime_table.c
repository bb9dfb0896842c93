/* atime_table — see atime_table.h. */
#include "atime_table.h"

#include <errno.h>
#include <stdlib.h>

#define AT_INITIAL_CAP 256
#define AT_FORGOTTEN INT64_MIN

static size_t slot_of(const struct atime_table *t, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17) & (t->cap - 1);
}

/* The slot holding ino (live or forgotten), or the empty one where it
 * would go. The table has at least one empty slot (used < cap). */
static struct at_entry *find(const struct atime_table *t, uint64_t ino)
{
	size_t i = slot_of(t, ino);

	while (t->slots[i].ino != 0 && t->slots[i].ino != ino)
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

/* Room for one more slot: at most half the slots used. Rehashing drops
 * the tombstones. */
static int make_room(struct atime_table *t)
{
	if (t->cap && (t->used + 1) * 2 <= t->cap)
		return 0;
	size_t cap = AT_INITIAL_CAP; /* a quarter full after the rehash */
	while (cap < 4 * (t->live + 1))
		cap *= 2;
	struct at_entry *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	struct atime_table old = *t;
	t->slots = slots;
	t->cap = cap;
	t->used = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].ino != 0 && old.slots[i].s != AT_FORGOTTEN) {
			*find(t, old.slots[i].ino) = old.slots[i];
			t->used++;
		}
	free(old.slots);
	return 0;
}

void at_init(struct atime_table *t)
{
	*t = (struct atime_table){ .cap = 0 };
	pthread_mutex_init(&t->lock, NULL);
}

void at_destroy(struct atime_table *t)
{
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
}

int at_note(struct atime_table *t, uint64_t ino, int64_t s, uint32_t ns, size_t *ret_live)
{
	int rc = 0;

	if (ino == 0)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	struct at_entry *e = t->cap ? find(t, ino) : NULL;
	if (e && e->ino == ino && e->s != AT_FORGOTTEN)
		goto out; /* the earlier read's time stays */
	if (e && e->ino == ino) { /* a tombstone comes back to life */
		*e = (struct at_entry){ .ino = ino, .s = s, .ns = ns };
		__atomic_store_n(&t->live, t->live + 1, __ATOMIC_RELAXED);
		goto out;
	}
	rc = make_room(t);
	if (rc < 0)
		goto out;
	*find(t, ino) = (struct at_entry){ .ino = ino, .s = s, .ns = ns };
	t->used++;
	__atomic_store_n(&t->live, t->live + 1, __ATOMIC_RELAXED);
out:
	if (ret_live)
		*ret_live = t->live;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

bool at_get(struct atime_table *t, uint64_t ino, int64_t *s, uint32_t *ns)
{
	bool found = false;

	if (at_count(t) == 0)
		return false;
	pthread_mutex_lock(&t->lock);
	if (t->cap) {
		struct at_entry *e = find(t, ino);
		if (e->ino == ino && e->s != AT_FORGOTTEN) {
			*s = e->s;
			*ns = e->ns;
			found = true;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

void at_forget(struct atime_table *t, uint64_t ino)
{
	if (at_count(t) == 0)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->cap) {
		struct at_entry *e = find(t, ino);
		if (e->ino == ino && e->s != AT_FORGOTTEN) {
			e->s = AT_FORGOTTEN;
			__atomic_store_n(&t->live, t->live - 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

size_t at_count(struct atime_table *t)
{
	return __atomic_load_n(&t->live, __ATOMIC_RELAXED);
}

int at_take(struct atime_table *t, struct at_entry **ret, size_t *ret_n)
{
	int rc = 0;

	*ret = NULL;
	*ret_n = 0;
	pthread_mutex_lock(&t->lock);
	if (t->live) {
		struct at_entry *out = malloc(t->live * sizeof(*out));
		if (!out) {
			rc = -ENOMEM;
			goto out;
		}
		size_t n = 0;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slots[i].ino != 0 && t->slots[i].s != AT_FORGOTTEN)
				out[n++] = t->slots[i];
		*ret = out;
		*ret_n = n;
	}
	/* Emptied, not freed, while small: the next reader fills it again. */
	if (t->cap > 4 * AT_INITIAL_CAP) {
		free(t->slots);
		t->slots = NULL;
		t->cap = 0;
	} else if (t->cap) {
		for (size_t i = 0; i < t->cap; i++)
			t->slots[i] = (struct at_entry){ .ino = 0 };
	}
	t->used = 0;
	__atomic_store_n(&t->live, 0, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}
