/* atime_table — see atime_table.h. */
#include "atime_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define AT_INITIAL_CAP 256
#define AT_TAKEN INT64_MIN

static bool ts_before(int64_t s1, uint32_t ns1, int64_t s2, uint32_t ns2)
{
	return s1 < s2 || (s1 == s2 && ns1 < ns2);
}

static size_t slot_of(const struct atime_table *t, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17) & (t->cap - 1);
}

/* The slot holding ino (live or taken), or the empty one where it would
 * go. The table has at least one empty slot (used < cap). */
static struct at_entry *find(const struct atime_table *t, uint64_t ino)
{
	size_t i = slot_of(t, ino);

	while (t->slots[i].ino != 0 && t->slots[i].ino != ino)
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

static void set_live(struct atime_table *t, size_t live)
{
	__atomic_store_n(&t->live, live, __ATOMIC_RELEASE);
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
	struct at_entry *old = t->slots;
	size_t old_cap = t->cap;
	t->slots = slots;
	t->cap = cap;
	t->used = 0;
	t->cursor = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].ino != 0 && old[i].first_s != AT_TAKEN) {
			*find(t, old[i].ino) = old[i];
			t->used++;
		}
	free(old);
	return 0;
}

/* Lock held. A new entry, or e merged into ino's (see at_note). */
static int upsert(struct atime_table *t, const struct at_entry *e)
{
	struct at_entry *x = t->cap ? find(t, e->ino) : NULL;

	if (x && x->ino == e->ino && x->first_s != AT_TAKEN) {
		if (ts_before(e->first_s, e->first_ns, x->first_s, x->first_ns)) {
			x->first_s = e->first_s;
			x->first_ns = e->first_ns;
		}
		if (ts_before(x->last_s, x->last_ns, e->last_s, e->last_ns)) {
			x->last_s = e->last_s;
			x->last_ns = e->last_ns;
		}
		return 0;
	}
	if (!x || x->ino != e->ino) { /* not even a tombstone: a new slot */
		int rc = make_room(t);
		if (rc < 0)
			return rc;
		x = find(t, e->ino);
		t->used++;
	}
	*x = *e;
	set_live(t, t->live + 1);
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

int at_note(struct atime_table *t, const struct at_entry *e)
{
	if (e->ino == 0 || e->first_s == AT_TAKEN)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	int rc = upsert(t, e);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int at_get(struct atime_table *t, uint64_t ino, struct at_entry *ret)
{
	int rc = -ENOENT;

	if (at_count(t) == 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	if (t->cap) {
		struct at_entry *e = find(t, ino);
		if (e->ino == ino && e->first_s != AT_TAKEN) {
			*ret = *e;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

size_t at_count(struct atime_table *t)
{
	return __atomic_load_n(&t->live, __ATOMIC_ACQUIRE);
}

int at_take(struct atime_table *t, size_t max, struct at_entry **ret, size_t *ret_n)
{
	int rc = 0;

	*ret = NULL;
	*ret_n = 0;
	pthread_mutex_lock(&t->lock);
	size_t want = t->live < max ? t->live : max;
	if (want == 0)
		goto out;
	struct at_entry *out = malloc(want * sizeof(*out));
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	/* on from where the last take stopped: no rescanning of its
	 * tombstones (there are live entries, so this ends) */
	size_t n = 0, i = t->cursor & (t->cap - 1);
	for (; n < want; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].ino != 0 && t->slots[i].first_s != AT_TAKEN) {
			out[n++] = t->slots[i];
			t->slots[i].first_s = AT_TAKEN;
		}
	t->cursor = i;
	set_live(t, t->live - n);
	*ret = out;
	*ret_n = n;
	if (t->live == 0) { /* empty: no tombstones left to step over */
		if (t->cap > 4 * AT_INITIAL_CAP) {
			free(t->slots);
			t->slots = NULL;
			t->cap = 0;
		} else {
			for (size_t j = 0; j < t->cap; j++)
				t->slots[j] = (struct at_entry){ .ino = 0 };
		}
		t->used = 0;
		t->cursor = 0;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}
