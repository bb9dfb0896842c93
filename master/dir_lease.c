/* dir_lease — folder leases of mounts (see dir_lease.h).
 *
 * State: an open-addressing table (linear probing, tombstones) of
 * folder inode -> holder session and expiry. A revoked lease stays as a
 * tombstone-free entry with holder "" until its expiry passes, so a
 * late renewal of the old holder finds it revoked; expired entries are
 * reused by inserts and swept when the table fills.
 *
 *   none --mkdir by a mount--> held --its own change--> held (expiry moves)
 *   held --anyone else's change--> revoked until expiry --> none
 *
 * One mutex; every call takes it once. */
#include "dir_lease.h"

#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DL_CAP (DL_MAX * 2)

struct dl_entry {
	uint64_t dir;                /* 0: never used; UINT64_MAX: deleted */
	int64_t expiry_ms;
	char holder[SESS_ID_MAX + 1]; /* "" once revoked */
};

struct dir_leases {
	pthread_mutex_t lock;
	struct dl_entry *tab;
	size_t used;                 /* entries with dir != 0 (deleted ones too) */
};

int64_t dlease_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dlease_new(struct dir_leases **ret)
{
	struct dir_leases *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tab = calloc(DL_CAP, sizeof(*t->tab));
	if (!t->tab) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

void dlease_free(struct dir_leases *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->tab);
	free(t);
}

static size_t dl_hash(uint64_t dir)
{
	dir ^= dir >> 33;
	dir *= 0xff51afd7ed558ccdULL;
	dir ^= dir >> 33;
	return (size_t)dir & (DL_CAP - 1);
}

static struct dl_entry *dl_find(struct dir_leases *t, uint64_t dir)
{
	for (size_t i = dl_hash(dir);; i = (i + 1) & (DL_CAP - 1)) {
		if (t->tab[i].dir == dir)
			return &t->tab[i];
		if (t->tab[i].dir == 0)
			return NULL;
	}
}

/* Rebuild without the entries whose time is over (lock held). */
static void dl_sweep(struct dir_leases *t, int64_t now)
{
	struct dl_entry *old = t->tab;
	struct dl_entry *tab = calloc(DL_CAP, sizeof(*tab));
	if (!tab)
		return;
	t->tab = tab;
	t->used = 0;
	for (size_t i = 0; i < DL_CAP; i++) {
		if (old[i].dir == 0 || old[i].dir == UINT64_MAX || old[i].expiry_ms <= now)
			continue;
		size_t k = dl_hash(old[i].dir);
		while (tab[k].dir)
			k = (k + 1) & (DL_CAP - 1);
		tab[k] = old[i];
		t->used++;
	}
	free(old);
}

void dlease_grant(struct dir_leases *t, uint64_t dir, const char *session)
{
	if (!session || !*session || strlen(session) > SESS_ID_MAX || dir == 0 ||
	    dir == UINT64_MAX)
		return;
	int64_t now = dlease_now_ms();
	pthread_mutex_lock(&t->lock);
	struct dl_entry *e = dl_find(t, dir);
	if (!e) {
		if (t->used >= DL_MAX)
			dl_sweep(t, now);
		if (t->used < DL_MAX) {
			size_t k = dl_hash(dir);
			while (t->tab[k].dir)
				k = (k + 1) & (DL_CAP - 1);
			e = &t->tab[k];
			e->dir = dir;
			t->used++;
		}
	}
	if (e) {
		e->expiry_ms = now + DL_TTL_MS;
		strcpy(e->holder, session);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Lock held. Renew e if session holds it: also one that ran out while
 * the folder sat idle, as nobody else changed it since (that would have
 * revoked it, holder "", or ended it, gone from the table). */
static bool dl_renew_locked(struct dl_entry *e, const char *session, int64_t now)
{
	if (!e || !e->holder[0] || !session || strcmp(e->holder, session) != 0)
		return false;
	e->expiry_ms = now + DL_TTL_MS;
	return true;
}

bool dlease_changed(struct dir_leases *t, uint64_t dir, const char *session,
		    int64_t *wait_until_ms)
{
	int64_t now = dlease_now_ms();
	*wait_until_ms = 0;
	pthread_mutex_lock(&t->lock);
	struct dl_entry *e = dl_find(t, dir);
	/* its holder's change renews it, also after it ran out idle (rsync
	 * makes folders long before it fills them): whether the holder
	 * still knows every name, the count in the reply shows it
	 * (fuse/meta_cache.c) */
	bool held = dl_renew_locked(e, session, now);
	if (!held && e && e->expiry_ms > now) {
		e->holder[0] = '\0';      /* revoked; the entry lives out its time */
		*wait_until_ms = e->expiry_ms;
	} else if (!held && e) {
		e->dir = UINT64_MAX;          /* over */
	}
	pthread_mutex_unlock(&t->lock);
	return held;
}

bool dlease_renew(struct dir_leases *t, uint64_t dir, const char *session)
{
	int64_t now = dlease_now_ms();
	pthread_mutex_lock(&t->lock);
	bool held = dl_renew_locked(dl_find(t, dir), session, now);
	pthread_mutex_unlock(&t->lock);
	return held;
}

bool dlease_held_by_other(struct dir_leases *t, uint64_t dir, const char *session,
			  int64_t grace_ms, char holder[])
{
	int64_t now = dlease_now_ms();
	pthread_mutex_lock(&t->lock);
	struct dl_entry *e = dl_find(t, dir);
	bool other = e && e->holder[0] && (!session || strcmp(e->holder, session) != 0) &&
		     e->expiry_ms + grace_ms > now;
	if (other)
		strcpy(holder, e->holder);
	pthread_mutex_unlock(&t->lock);
	return other;
}

int dlease_listed(struct dir_leases *t, uint64_t dir, const char *session, int64_t grace_ms,
		  char holder[])
{
	int64_t now = dlease_now_ms();
	int held = 0;
	pthread_mutex_lock(&t->lock);
	struct dl_entry *e = dl_find(t, dir);
	if (e && e->holder[0] && (!session || strcmp(e->holder, session) != 0)) {
		if (e->expiry_ms + grace_ms > now) {
			strcpy(holder, e->holder);
			held = 1;
		} else {
			e->dir = UINT64_MAX;   /* over: not to be taken again */
		}
	}
	pthread_mutex_unlock(&t->lock);
	return held;
}

uint64_t dlease_count(struct dir_leases *t)
{
	int64_t now = dlease_now_ms();
	uint64_t n = 0;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < DL_CAP; i++)
		n += t->tab[i].dir && t->tab[i].dir != UINT64_MAX && t->tab[i].holder[0] &&
		     t->tab[i].expiry_ms > now;
	pthread_mutex_unlock(&t->lock);
	return n;
}
