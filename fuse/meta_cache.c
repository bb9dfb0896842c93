/* meta_cache — directory attributes, absent names and inodes without
 * xattrs, as the master's replies told them (see meta_cache.h).
 *
 * State: one open-addressing table of inodes (linear probing, never
 * shrinking; when MC_INOS are in it, or the names of complete
 * directories pass MC_NAMES, it is emptied and learned again). An inode
 * may carry a struct mc_dir: its last attributes with the time they
 * came, and, while complete, the hashes of its names (open addressing
 * again; a removed name leaves a tombstone, dropped when the set grows).
 *
 *   unknown --mcache_dir_made--> complete
 *   complete --a reply whose "prev" is the count known--> complete (count moves on)
 *   complete --any other count, an unknown name seen, too many names--> attributes only
 *
 * One mutex guards everything; every call takes it once, does no I/O. */
#include "meta_cache.h"

#include "hash.h"
#include "json_util.h"
#include "master_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mc_slot {
	uint64_t h;                  /* 0: never used */
	uint32_t n;                  /* 1: present; 0: a tombstone */
	uint64_t ino;                /* what the name is, if this mount made it; else 0 */
};

struct mc_dir {
	bool has_attr;
	struct stat st;
	uint64_t dver;               /* of st */
	int64_t attr_ms;
	uint64_t gen;                /* feed_gen when st was learned */
	bool complete;
	uint64_t ver;                /* the change count names[] is exact at */
	int64_t confirm_ms;          /* when the master last said so */
	struct mc_slot *names;
	size_t cap, used;            /* used: slots with h != 0 */
	size_t live;                 /* distinct names present (n > 0) */
	bool predicted;              /* st as this mount's queued changes left it */
	bool owner_ok;               /* st learned with no change of others meanwhile */
	uint64_t owner_resets;       /* resets of the feed then (mcache_dir_owner) */
	bool recalled;               /* mcache_recall */
	uint64_t recall_seq;         /* recalls (the mount's count) when it came */
};

struct mc_ino {
	uint64_t ino;                /* 0: free */
	int64_t noxa_ms;             /* when the master said "no xattrs"; 0: not known */
	struct mc_dir *dir;
};

struct meta_cache {
	pthread_mutex_t lock;
	struct mc_ino *tab;
	size_t cap, used;
	size_t names;                /* slots of every complete directory */
	uint64_t feed_gen;           /* changes of others the feed brought */
	uint64_t recalls;            /* mcache_recall calls */
	uint64_t resets;             /* mcache_feed_reset calls */
};

#define MC_TAB_CAP (MC_INOS * 2)

int64_t mcache_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mcache_new(struct meta_cache **ret)
{
	struct meta_cache *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	mc->cap = MC_TAB_CAP;
	mc->tab = calloc(mc->cap, sizeof(*mc->tab));
	if (!mc->tab) {
		free(mc);
		return -ENOMEM;
	}
	pthread_mutex_init(&mc->lock, NULL);
	*ret = mc;
	return 0;
}

static void dir_drop_names(struct meta_cache *mc, struct mc_dir *d)
{
	mc->names -= d->cap;
	free(d->names);
	d->names = NULL;
	d->cap = d->used = d->live = 0;
	d->complete = false;
}

static void mc_reset(struct meta_cache *mc)
{
	for (size_t i = 0; i < mc->cap; i++) {
		if (mc->tab[i].dir) {
			free(mc->tab[i].dir->names);
			free(mc->tab[i].dir);
		}
	}
	memset(mc->tab, 0, mc->cap * sizeof(*mc->tab));
	mc->used = 0;
	mc->names = 0;
}

void mcache_free(struct meta_cache *mc)
{
	if (!mc)
		return;
	mc_reset(mc);
	free(mc->tab);
	pthread_mutex_destroy(&mc->lock);
	free(mc);
}

/* The entry of ino; with create, made (the table emptied first if full).
 * NULL: not there, or no memory. */
static struct mc_ino *mc_find(struct meta_cache *mc, uint64_t ino, bool create)
{
	if (ino == 0)
		return NULL;
	size_t mask = mc->cap - 1;
	for (size_t i = hash_mix64(ino) & mask;; i = (i + 1) & mask) {
		if (mc->tab[i].ino == ino)
			return &mc->tab[i];
		if (mc->tab[i].ino == 0)
			break;
	}
	if (!create)
		return NULL;
	if (mc->used >= MC_INOS)
		mc_reset(mc);
	for (size_t i = hash_mix64(ino) & mask;; i = (i + 1) & mask) {
		if (mc->tab[i].ino == 0) {
			mc->tab[i].ino = ino;
			mc->used++;
			return &mc->tab[i];
		}
	}
}

static struct mc_dir *mc_dir(struct meta_cache *mc, uint64_t ino, bool create)
{
	struct mc_ino *e = mc_find(mc, ino, create);
	if (e && !e->dir && create)
		e->dir = calloc(1, sizeof(*e->dir));
	return e ? e->dir : NULL;
}

static struct mc_slot *names_slot(const struct mc_dir *d, uint64_t h)
{
	size_t mask = d->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask)
		if (d->names[i].h == h || d->names[i].h == 0)
			return &d->names[i];
}

static bool names_has(const struct mc_dir *d, uint64_t h)
{
	if (!d->cap)
		return false;
	const struct mc_slot *s = names_slot(d, h);
	return s->h == h && s->n > 0;
}

/* Room for one more slot in use: grow (dropping tombstones) past 60%. */
static int names_room(struct meta_cache *mc, struct mc_dir *d)
{
	if (d->cap && (d->used + 1) * 10 <= d->cap * 6)
		return 0;
	size_t cap = 16;
	while ((d->live + 1) * 10 > cap * 5)
		cap *= 2;
	if (mc->names - d->cap + cap > MC_NAMES)
		return -ENOSPC;
	struct mc_slot *old = d->names;
	size_t ocap = d->cap;
	d->names = calloc(cap, sizeof(*d->names));
	if (!d->names) {
		d->names = old;
		return -ENOMEM;
	}
	d->cap = cap;
	d->used = 0;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].h && old[i].n) {
			*names_slot(d, old[i].h) = old[i];
			d->used++;
		}
	}
	free(old);
	mc->names = mc->names - ocap + cap;
	return 0;
}

/* Apply one change to a complete directory; false if it cannot stay so.
 * ino: what a name added now is (0: not known). */
static bool names_apply(struct meta_cache *mc, struct mc_dir *d, const char *name, int delta,
			uint64_t ino)
{
	uint64_t h = hash_name(name);
	if (delta == 0) {
		if (names_has(d, h))
			names_slot(d, h)->ino = 0;   /* RENAME_EXCHANGE: another inode now */
		return true;    /* both names stay */
	}
	if (delta < 0) {
		if (!names_has(d, h))
			return false;   /* removed a name it did not know */
		names_slot(d, h)->n = 0;
		d->live--;
		return true;
	}
	if (names_has(d, h)) {
		names_slot(d, h)->ino = ino;
		return true;    /* a rename over it, or a link: still one name */
	}
	if (d->live >= MC_DIR_NAMES)
		return false;
	if (names_room(mc, d) < 0)
		return false;
	struct mc_slot *s = names_slot(d, h);
	if (s->h == 0) {
		s->h = h;
		d->used++;
	}
	if (s->n++ == 0)
		d->live++;
	s->ino = ino;
	return true;
}

static void dir_set_attr(struct meta_cache *mc, struct mc_dir *d, const struct stat *st,
			 uint64_t dver, int64_t now, uint64_t gen)
{
	if (d->has_attr && d->gen == gen && dver < d->dver)
		return;   /* an older reply overtaken by a newer one */
	d->has_attr = true;
	d->predicted = false;
	d->st = *st;
	d->dver = dver;
	d->attr_ms = now;
	d->gen = gen;
	d->owner_ok = gen == mc->feed_gen;
	d->owner_resets = mc->resets;
}

/* A directory's attributes from the master (attr_json: with "dver"). */
bool mcache_dir_attr_parse(const json_t *attr, struct stat *st, uint64_t *dver)
{
	return master_client_attr_obj(attr, st) == 0 && S_ISDIR(st->st_mode) &&
	       ju_u64(attr, "dver", dver) == 0;
}

static struct mc_dir *dir_known(struct meta_cache *mc, uint64_t dir);

/* Lock held: attr ("xa") says whether ino has extended attributes. */
static void note_xa_locked(struct meta_cache *mc, const json_t *attr, uint64_t ino, int64_t now)
{
	const json_t *xa = json_object_get(attr, "xa");
	if (!json_is_integer(xa))
		return;
	bool none = json_integer_value(xa) == 0;
	struct mc_ino *e = mc_find(mc, ino, none);
	if (e)
		e->noxa_ms = none ? now : 0;
}

bool mcache_add_made(struct meta_cache *mc, uint64_t dir, const char *name, uint64_t ino)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = dir_known(mc, dir);
	bool ok = d && !d->recalled && names_apply(mc, d, name, 1, ino);
	pthread_mutex_unlock(&mc->lock);
	return ok;
}

void mcache_recall(struct meta_cache *mc, uint64_t dir)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, true);
	mc->recalls++;
	if (d) {
		d->recalled = true;
		d->recall_seq = mc->recalls;
	}
	pthread_mutex_unlock(&mc->lock);
}

uint64_t mcache_recalls(struct meta_cache *mc)
{
	pthread_mutex_lock(&mc->lock);
	uint64_t n = mc->recalls;
	pthread_mutex_unlock(&mc->lock);
	return n;
}

void mcache_recall_over(struct meta_cache *mc, uint64_t dir, uint64_t recalls_at_send)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, false);
	if (d && d->recalled && d->recall_seq <= recalls_at_send)
		d->recalled = false;
	pthread_mutex_unlock(&mc->lock);
}

void mcache_changed(struct meta_cache *mc, const json_t *resp, const struct mc_change *ch,
		    size_t n, int64_t sent_ms)
{
	const json_t *dirs = json_object_get(resp, "dirs");
	int64_t now = mcache_now_ms();
	size_t i;
	json_t *rec;
	bool told[8] = { false };   /* which of ch[] a record covered */

	pthread_mutex_lock(&mc->lock);
	json_array_foreach(dirs, i, rec) {
		const json_t *attr = json_object_get(rec, "attr");
		struct stat st;
		uint64_t prev, dver;
		if (ju_u64(rec, "prev", &prev) < 0 || !mcache_dir_attr_parse(attr, &st, &dver))
			continue;
		struct mc_dir *d = mc_dir(mc, (uint64_t)st.st_ino, true);
		if (!d)
			continue;
		dir_set_attr(mc, d, &st, dver, now, mc->feed_gen);
		note_xa_locked(mc, attr, (uint64_t)st.st_ino, now);
		bool ok = d->complete && d->ver == prev &&
			  json_is_true(json_object_get(rec, "lease"));
		for (size_t k = 0; k < n; k++) {
			if (ch[k].dir != (uint64_t)st.st_ino)
				continue;
			if (k < 8)
				told[k] = true;
			if (ok)
				ok = names_apply(mc, d, ch[k].name, ch[k].delta, ch[k].ino);
		}
		if (ok) {
			d->ver = dver;
			d->confirm_ms = sent_ms;
		} else if (d->complete) {
			dir_drop_names(mc, d);
		}
	}
	/* a changed directory the reply said nothing of: nothing known */
	for (size_t k = 0; k < n; k++) {
		if (k < 8 && told[k])
			continue;
		struct mc_dir *d = mc_dir(mc, ch[k].dir, false);
		if (d) {
			d->has_attr = false;
			if (d->complete)
				dir_drop_names(mc, d);
		}
	}
	pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_made(struct meta_cache *mc, const json_t *resp, int64_t sent_ms)
{
	const json_t *attr = json_object_get(resp, "attr");
	struct stat st;
	uint64_t dver;
	if (!mcache_dir_attr_parse(attr, &st, &dver))
		return;
	bool lease = json_is_true(json_object_get(resp, "lease"));
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, (uint64_t)st.st_ino, true);
	if (d) {
		if (d->complete)
			dir_drop_names(mc, d);
		dir_set_attr(mc, d, &st, dver, now, mc->feed_gen);
		d->complete = lease;
		d->ver = dver;
		d->confirm_ms = sent_ms;
	}
	pthread_mutex_unlock(&mc->lock);
}

/* Lock held. Whether every name of directory dir is known now: it is
 * complete and the lease that keeps it so still runs. NULL if not. */
static struct mc_dir *dir_known(struct meta_cache *mc, uint64_t dir)
{
	struct mc_dir *d = mc_dir(mc, dir, false);
	return d && d->complete && mcache_now_ms() - d->confirm_ms < MC_LEASE_MS ? d : NULL;
}

bool mcache_names_ver(struct meta_cache *mc, uint64_t dir, uint64_t *ver)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, false);
	bool complete = d && d->complete;
	if (complete)
		*ver = d->ver;
	pthread_mutex_unlock(&mc->lock);
	return complete;
}

void mcache_lease_again(struct meta_cache *mc, uint64_t dir, const json_t *attr, uint64_t known,
			int64_t sent_ms)
{
	struct stat st;
	uint64_t dver;
	if (!attr || !mcache_dir_attr_parse(attr, &st, &dver) || (uint64_t)st.st_ino != dir)
		return;
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, false);
	if (d) {
		dir_set_attr(mc, d, &st, dver, now, mc->feed_gen);
		/* still the count the names are exact at: nothing changed since
		 * (a change of this mount's own whose reply came back meanwhile
		 * moved d->ver on, and its names with it) */
		if (d->complete && d->ver == known && dver == known && sent_ms > d->confirm_ms)
			d->confirm_ms = sent_ms;
	}
	pthread_mutex_unlock(&mc->lock);
}

bool mcache_absent(struct meta_cache *mc, uint64_t dir, const char *name)
{
	uint64_t h = hash_name(name);
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = dir_known(mc, dir);
	bool absent = d && !names_has(d, h);
	pthread_mutex_unlock(&mc->lock);
	return absent;
}

bool mcache_child(struct meta_cache *mc, uint64_t dir, const char *name, struct stat *st,
		  double *ret_valid_s)
{
	uint64_t h = hash_name(name);
	int64_t now = mcache_now_ms();
	bool known = false;
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = dir_known(mc, dir);
	uint64_t ino = d && names_has(d, h) ? names_slot(d, h)->ino : 0;
	struct mc_dir *c = ino ? mc_dir(mc, ino, false) : NULL;
	if (c && c->has_attr && c->gen == mc->feed_gen && now - c->attr_ms < MC_TTL_MS) {
		*st = c->st;
		*ret_valid_s = (double)(MC_TTL_MS - (now - c->attr_ms)) / 1000.0;
		known = true;
	}
	pthread_mutex_unlock(&mc->lock);
	return known;
}

bool mcache_dir_empty(struct meta_cache *mc, uint64_t dir)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = dir_known(mc, dir);
	bool empty = d && d->live == 0;
	pthread_mutex_unlock(&mc->lock);
	return empty;
}

void mcache_seen(struct meta_cache *mc, uint64_t dir, const char *name)
{
	uint64_t h = hash_name(name);
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, false);
	if (d && d->complete && !names_has(d, h))
		dir_drop_names(mc, d);
	pthread_mutex_unlock(&mc->lock);
}

bool mcache_attr(struct meta_cache *mc, uint64_t ino, struct stat *st, double *ret_valid_s,
		 bool *ret_exact)
{
	int64_t now = mcache_now_ms();
	bool fresh = false;
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, ino, false);
	if (d && d->has_attr && d->gen == mc->feed_gen && now - d->attr_ms < MC_TTL_MS) {
		*st = d->st;
		*ret_valid_s = (double)(MC_TTL_MS - (now - d->attr_ms)) / 1000.0;
		if (ret_exact)
			*ret_exact = !d->predicted;
		fresh = true;
	}
	pthread_mutex_unlock(&mc->lock);
	return fresh;
}

uint64_t mcache_feed_gen(struct meta_cache *mc)
{
	pthread_mutex_lock(&mc->lock);
	uint64_t gen = mc->feed_gen;
	pthread_mutex_unlock(&mc->lock);
	return gen;
}

void mcache_feed_changed(struct meta_cache *mc)
{
	pthread_mutex_lock(&mc->lock);
	mc->feed_gen++;
	pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_listed(struct meta_cache *mc, const json_t *attr, uint64_t gen)
{
	struct stat st;
	uint64_t dver;
	if (mcache_dir_attr_parse(attr, &st, &dver))
		mcache_dir_attr(mc, &st, dver, gen);
}

void mcache_dir_attr(struct meta_cache *mc, const struct stat *stp, uint64_t dver, uint64_t gen)
{
	struct stat st = *stp;
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = gen == mc->feed_gen ? mc_dir(mc, (uint64_t)st.st_ino, true) : NULL;
	if (d)
		dir_set_attr(mc, d, &st, dver, now, gen);
	pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_predict(struct meta_cache *mc, uint64_t dir, int nlink_delta)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&mc->lock);
	struct mc_dir *d = mc_dir(mc, dir, false);
	if (d && d->has_attr) {
		d->predicted = true;
		d->st.st_mtim = now;
		d->st.st_ctim = now;
		if (nlink_delta < 0 && d->st.st_nlink > 2)
			d->st.st_nlink--;
		else if (nlink_delta < 0)
			d->has_attr = false;   /* a count it cannot lower: ask */
	}
	pthread_mutex_unlock(&mc->lock);
}

void mcache_forget_attr(struct meta_cache *mc, uint64_t ino)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_ino *e = mc_find(mc, ino, false);
	if (e) {
		e->noxa_ms = 0;
		if (e->dir)
			e->dir->has_attr = false;
	}
	pthread_mutex_unlock(&mc->lock);
}

void mcache_feed_reset(struct meta_cache *mc)
{
	pthread_mutex_lock(&mc->lock);
	mc->resets++;
	pthread_mutex_unlock(&mc->lock);
}

bool mcache_dir_owner(struct meta_cache *mc, uint64_t dir, struct stat *st)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_ino *e = mc_find(mc, dir, false);
	struct mc_dir *d = e ? e->dir : NULL;
	bool ok = d && d->has_attr && d->owner_ok && d->owner_resets == mc->resets &&
		  e->noxa_ms != 0;
	if (ok)
		*st = d->st;
	pthread_mutex_unlock(&mc->lock);
	return ok;
}

void mcache_note_xattrs(struct meta_cache *mc, const json_t *attr)
{
	uint64_t ino;
	if (ju_u64(attr, "ino", &ino) < 0)
		return;
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&mc->lock);
	note_xa_locked(mc, attr, ino, now);
	pthread_mutex_unlock(&mc->lock);
}

bool mcache_no_xattrs(struct meta_cache *mc, uint64_t ino)
{
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&mc->lock);
	struct mc_ino *e = mc_find(mc, ino, false);
	bool none = e && e->noxa_ms && now - e->noxa_ms < MC_TTL_MS;
	pthread_mutex_unlock(&mc->lock);
	return none;
}

void mcache_xattrs_changed(struct meta_cache *mc, uint64_t ino)
{
	pthread_mutex_lock(&mc->lock);
	struct mc_ino *e = mc_find(mc, ino, false);
	if (e) {
		e->noxa_ms = 0;
		if (e->dir)
			e->dir->has_attr = false;   /* an ACL moves the mode */
	}
	pthread_mutex_unlock(&mc->lock);
}
