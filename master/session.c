/* session — client sessions, their open files, and cleanup when they go
 * (see session.h).
 *
 * Owns, all in memory and guarded by `lock`:
 * - the sessions (a list: a cluster has tens or hundreds of mounts);
 * - the open references, a hash of (inode, session) pairs keyed by inode;
 * - the orphan set: inodes namespace.c kept with nlink 0 when their last
 *   name went, each with the end of its unlink grace period.
 * The reaper thread (one) expires sessions and deletes orphans nobody has
 * open; HTTP handler threads call the rest.
 *
 * Lock order: meta_store's lock -> `lock` (namespace calls the hooks below
 * inside its transactions) and `lock` -> locks.c's lock. So this module
 * never calls namespace, chunk_map or meta_store while holding `lock`: it
 * collects what to do, drops the lock, then calls.
 *
 * A session:
 *
 *   (none) --sess_open--> live --heartbeat / sess_open--> live
 *   live --sess_close, or no heartbeat for timeout_ms (reaper)--> gone:
 *        locks_drop_session, cm_release_session, and ns_orphan_drop for
 *        every orphan it was the last to hold open
 *
 * A session past its timeout but not yet reaped already counts as gone
 * (calls with it get -ESTALE). An orphan:
 *
 *   namespace removes the last name --hook_orphaned--> in the set, kept
 *   until now + unlink_grace_ms (keep_until_ms) even if nobody opens it
 *   last (session, inode) reference goes after keep_until_ms, or the
 *   reaper's sweep finds it past keep_until_ms with no reference
 *   --ns_orphans_drop--> deleted (its chunks queued for deletion) and out
 *   of the set; still open (-EBUSY) stays in the set.
 * Orphans loaded from the database at start have keep_until_ms 0 but
 * wait for the end of the restart grace period (grace_end_ms) in the
 * sweep: the mounts declare their open files again until then. */
#include "clock.h"
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define SESS_HASH_INITIAL 256
#define SESS_REAP_MAX_MS 1000
#define SESS_HEARTBEAT_MAX_MS 2000
#define TRASH_BUDGET_MS 200        /* of each second, for expired trash */

struct session {
	char id[SESS_ID_MAX + 1];
	char host[SESS_HOST_MAX + 1];
	uint64_t sid;              /* number for locks.c */
	int64_t last_ms;           /* monotonic time of the last renewal */
	size_t nopen;
	uint64_t origin;           /* its mount's in the change feed (inval_log.h), 0: unknown */
	bool names_own;            /* it reserved inode numbers (sess_names_own) */
	struct fresh *fresh;       /* files it made whose create's grant is not committed */
	size_t nfresh, fresh_cap;
	struct session *next;
};

/* A file a session made with its first chunk's grant (sess_fresh_add). */
struct fresh {
	uint64_t ino, parent;
};

struct oref {
	uint64_t ino;
	struct session *s;
	struct oref *next;
};

struct orphan {
	uint64_t ino;
	int64_t keep_until_ms;     /* monotonic; 0: loaded at start */
	struct orphan *next;
};

struct sess {
	struct ns *ns;
	struct chunk_map *cm;
	struct locks *lk;
	int64_t timeout_ms;
	int64_t unlink_grace_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* wakes the reaper (stop) */
	bool stop;
	bool started;
	pthread_t reaper;
	int64_t grace_end_ms;      /* orphans of the database wait until then */
	uint64_t next_sid;
	struct session *sessions;
	size_t nsessions;
	struct oref **refs;
	size_t nref_buckets, nrefs;
	struct orphan **orphans;
	size_t norphan_buckets, norphans;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t ino_bucket(uint64_t ino, size_t n)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 32) % n;
}

/* ---- tables (lock held) ------------------------------------------------ */

static struct session *find_session(struct sess *s, const char *id)
{
	for (struct session *x = s->sessions; x; x = x->next)
		if (strcmp(x->id, id) == 0)
			return x;
	return NULL;
}

static bool expired(const struct sess *s, const struct session *x, int64_t now)
{
	return now - x->last_ms > s->timeout_ms;
}

/* The live session called id, or NULL. */
static struct session *live_session(struct sess *s, const char *id)
{
	struct session *x = find_session(s, id);
	return x && !expired(s, x, mono_ms()) ? x : NULL;
}

static bool ref_exists(struct sess *s, uint64_t ino, const struct session *x)
{
	for (struct oref *r = s->refs[ino_bucket(ino, s->nref_buckets)]; r; r = r->next)
		if (r->ino == ino && (!x || r->s == x))
			return true;
	return false;
}

static void refs_grow(struct sess *s)
{
	size_t nb = s->nref_buckets * 2;
	struct oref **h = calloc(nb, sizeof(*h));
	if (!h)
		return;         /* stays correct, only slower */
	for (size_t i = 0; i < s->nref_buckets; i++) {
		struct oref *r = s->refs[i];
		while (r) {
			struct oref *next = r->next;
			size_t b = ino_bucket(r->ino, nb);
			r->next = h[b];
			h[b] = r;
			r = next;
		}
	}
	free(s->refs);
	s->refs = h;
	s->nref_buckets = nb;
}

static int ref_add(struct sess *s, struct session *x, uint64_t ino)
{
	if (ref_exists(s, ino, x))
		return 0;
	struct oref *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	size_t b = ino_bucket(ino, s->nref_buckets);
	*r = (struct oref){ .ino = ino, .s = x, .next = s->refs[b] };
	s->refs[b] = r;
	x->nopen++;
	if (++s->nrefs > 2 * s->nref_buckets)
		refs_grow(s);
	return 0;
}

/* Remove x's reference to ino (if any). */
static void ref_del(struct sess *s, struct session *x, uint64_t ino)
{
	for (struct oref **p = &s->refs[ino_bucket(ino, s->nref_buckets)]; *p; p = &(*p)->next) {
		struct oref *r = *p;
		if (r->ino == ino && r->s == x) {
			*p = r->next;
			free(r);
			x->nopen--;
			s->nrefs--;
			return;
		}
	}
}

static struct orphan *find_orphan(struct sess *s, uint64_t ino)
{
	for (struct orphan *o = s->orphans[ino_bucket(ino, s->norphan_buckets)]; o; o = o->next)
		if (o->ino == ino)
			return o;
	return NULL;
}

/* An orphan to delete now: past its unlink grace period, nobody has it
 * open. */
static bool orphan_due(struct sess *s, uint64_t ino, int64_t now)
{
	struct orphan *o = find_orphan(s, ino);
	return o && o->keep_until_ms <= now && !ref_exists(s, ino, NULL);
}

static void orphans_grow(struct sess *s)
{
	size_t nb = s->norphan_buckets * 2;
	struct orphan **h = calloc(nb, sizeof(*h));
	if (!h)
		return;         /* stays correct, only slower */
	for (size_t i = 0; i < s->norphan_buckets; i++) {
		struct orphan *o = s->orphans[i];
		while (o) {
			struct orphan *next = o->next;
			size_t b = ino_bucket(o->ino, nb);
			o->next = h[b];
			h[b] = o;
			o = next;
		}
	}
	free(s->orphans);
	s->orphans = h;
	s->norphan_buckets = nb;
}

static void orphan_add(struct sess *s, uint64_t ino, int64_t keep_until_ms)
{
	if (find_orphan(s, ino))
		return;
	struct orphan *o = malloc(sizeof(*o));
	if (!o) {
		/* Not fatal: the inode stays in the orphans table of the
		 * database and is deleted after the next master start. */
		log_warn("sessions: out of memory recording orphan inode %llu",
			 (unsigned long long)ino);
		return;
	}
	size_t b = ino_bucket(ino, s->norphan_buckets);
	*o = (struct orphan){ .ino = ino, .keep_until_ms = keep_until_ms, .next = s->orphans[b] };
	s->orphans[b] = o;
	if (++s->norphans > 2 * s->norphan_buckets)
		orphans_grow(s);
}

static void orphan_del(struct sess *s, uint64_t ino)
{
	for (struct orphan **p = &s->orphans[ino_bucket(ino, s->norphan_buckets)]; *p;
	     p = &(*p)->next) {
		if ((*p)->ino == ino) {
			struct orphan *o = *p;
			*p = o->next;
			free(o);
			s->norphans--;
			return;
		}
	}
}

/* A growable list of inode numbers, filled under the lock and used
 * after it. */
struct ino_list {
	uint64_t *v;
	size_t n, cap;
};

static void ino_list_add(struct ino_list *l, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			/* The reaper's sweep will find this orphan later. */
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ino;
}

/* Remove every reference of x; orphans due now go to drop. */
static void refs_drop_session(struct sess *s, struct session *x, struct ino_list *drop)
{
	int64_t now = mono_ms();
	for (size_t b = 0; b < s->nref_buckets && x->nopen; b++) {
		struct oref **p = &s->refs[b];
		while (*p) {
			struct oref *r = *p;
			if (r->s != x) {
				p = &r->next;
				continue;
			}
			*p = r->next;
			uint64_t ino = r->ino;
			free(r);
			x->nopen--;
			s->nrefs--;
			if (orphan_due(s, ino, now))
				ino_list_add(drop, ino);
		}
	}
}

/* ---- namespace hooks (meta_store lock held, then ours) ----------------- */

static int hook_register(void *arg, const char *id, uint64_t ino)
{
	struct sess *s = arg;
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	int rc = x ? ref_add(s, x, ino) : -ESTALE;
	if (x)
		x->last_ms = mono_ms();
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static bool hook_is_open(void *arg, uint64_t ino)
{
	struct sess *s = arg;
	int64_t now = mono_ms();
	bool open = false;
	pthread_mutex_lock(&s->lock);
	for (struct oref *r = s->refs[ino_bucket(ino, s->nref_buckets)]; r; r = r->next) {
		if (r->ino == ino && !expired(s, r->s, now)) {
			open = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return open;
}

void sess_set_origin(struct sess *s, const char *id, uint64_t origin)
{
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	if (x)
		x->origin = origin;
	pthread_mutex_unlock(&s->lock);
}

void sess_names_own(struct sess *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	if (x)
		x->names_own = true;
	pthread_mutex_unlock(&s->lock);
}

bool sess_only_origin(struct sess *s, uint64_t origin)
{
	int64_t now = mono_ms();
	size_t n = 0;
	bool own = false;
	pthread_mutex_lock(&s->lock);
	for (struct session *x = s->sessions; x && n < 2; x = x->next) {
		if (expired(s, x, now))
			continue;
		n++;
		own = origin && x->origin == origin;
	}
	pthread_mutex_unlock(&s->lock);
	return n == 1 && own;
}

bool sess_origin_live(struct sess *s, uint64_t origin)
{
	int64_t now = mono_ms();
	bool live = false;
	pthread_mutex_lock(&s->lock);
	for (struct session *x = s->sessions; x && !live; x = x->next)
		live = origin && x->origin == origin && !expired(s, x, now);
	pthread_mutex_unlock(&s->lock);
	return live;
}

uint64_t sess_creates_behind_origin(struct sess *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	uint64_t o = x && x->names_own ? x->origin : 0;
	pthread_mutex_unlock(&s->lock);
	return o;
}

bool sess_fresh_add(struct sess *s, const char *id, uint64_t ino, uint64_t parent)
{
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	bool ok = x && x->origin != 0 && x->nfresh < SESS_FRESH_MAX;
	if (ok && x->nfresh == x->fresh_cap) {
		size_t cap = x->fresh_cap ? 2 * x->fresh_cap : 8;
		struct fresh *f = realloc(x->fresh, cap * sizeof(*f));
		if (f) {
			x->fresh = f;
			x->fresh_cap = cap;
		}
		ok = f != NULL;
	}
	if (ok)
		x->fresh[x->nfresh++] = (struct fresh){ ino, parent };
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void sess_fresh_done(struct sess *s, const char *id, uint64_t ino)
{
	pthread_mutex_lock(&s->lock);
	struct session *x = find_session(s, id);
	for (size_t i = 0; x && i < x->nfresh; i++) {
		if (x->fresh[i].ino == ino) {
			x->fresh[i] = x->fresh[--x->nfresh];
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

size_t sess_fresh_elsewhere(struct sess *s, uint64_t dir, uint64_t ino, uint64_t self,
			    uint64_t *inos, size_t *ret_ninos, uint64_t *origins, size_t max)
{
	int64_t now = mono_ms();
	size_t n = 0, ni = 0;
	pthread_mutex_lock(&s->lock);
	for (struct session *x = s->sessions; x; x = x->next) {
		if (!x->nfresh || x->origin == self || expired(s, x, now))
			continue;
		bool any = false;
		for (size_t i = 0; i < x->nfresh; i++) {
			const struct fresh *f = &x->fresh[i];
			if ((dir && f->parent == dir) || (ino && f->ino == ino)) {
				any = true;
				if (ni < max)
					inos[ni++] = f->ino;
			}
		}
		if (any && n < max)
			origins[n++] = x->origin;
	}
	pthread_mutex_unlock(&s->lock);
	*ret_ninos = ni;
	return n;
}

bool sess_fresh_any_elsewhere(struct sess *s, uint64_t self)
{
	int64_t now = mono_ms();
	bool any = false;
	pthread_mutex_lock(&s->lock);
	for (struct session *x = s->sessions; x && !any; x = x->next)
		any = x->nfresh && x->origin != self && !expired(s, x, now);
	pthread_mutex_unlock(&s->lock);
	return any;
}

size_t sess_open_elsewhere(struct sess *s, uint64_t ino, uint64_t self, uint64_t *origins,
			   size_t max)
{
	int64_t now = mono_ms();
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (struct oref *r = s->refs[ino_bucket(ino, s->nref_buckets)]; r; r = r->next) {
		uint64_t o = r->s->origin;
		if (r->ino != ino || !o || o == self || expired(s, r->s, now))
			continue;
		size_t k = 0;
		while (k < n && origins[k] != o)
			k++;
		if (k == n && n < max)
			origins[n++] = o;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void hook_orphaned(void *arg, uint64_t ino)
{
	struct sess *s = arg;
	pthread_mutex_lock(&s->lock);
	/* never 0 (that marks orphans loaded at start) */
	orphan_add(s, ino, mono_ms() + s->unlink_grace_ms + 1);
	pthread_mutex_unlock(&s->lock);
}

/* ---- dropping orphans (no lock held) ------------------------------------ */

/* Delete the orphans of l, NS_ORPHAN_DROP_MAX per transaction (the
 * reaper may have thousands after an rm -r). One opened meanwhile stays
 * (-EBUSY); after a failed transaction the sweep tries again later. */
static void drop_orphans(struct sess *s, const struct ino_list *l)
{
	int res[NS_ORPHAN_DROP_MAX];

	for (size_t i = 0; i < l->n; i += NS_ORPHAN_DROP_MAX) {
		size_t n = l->n - i < NS_ORPHAN_DROP_MAX ? l->n - i : NS_ORPHAN_DROP_MAX;
		int rc = ns_orphans_drop(s->ns, l->v + i, n, res);
		if (rc < 0) {
			log_warn("sessions: cannot delete %zu unlinked inodes yet: %s", n,
				 strerror(-rc));
			continue;
		}
		pthread_mutex_lock(&s->lock);
		for (size_t j = 0; j < n; j++)
			if (res[j] == 0)
				orphan_del(s, l->v[i + j]);
		pthread_mutex_unlock(&s->lock);
		log_debug("sessions: deleted up to %zu unlinked inodes", n);
	}
}

/* Everything a gone session held. x is already out of the list and
 * its references are gone; frees x. */
static void release_session(struct sess *s, struct session *x, const char *why)
{
	size_t nl = locks_drop_session(s->lk, x->sid);
	int rc = cm_release_session(s->cm, x->id);
	if (rc < 0)
		log_warn("session %s: cannot release its write leases: %s (they expire)", x->id,
			 strerror(-rc));
	log_info("session %s %s: released %zu locks", x->id, why, nl);
	free(x->fresh);
	free(x);
}

/* ---- reaper ---------------------------------------------------------------- */

static int64_t reap_interval(const struct sess *s)
{
	int64_t ms = s->timeout_ms / 4;
	if (ms > SESS_REAP_MAX_MS)
		ms = SESS_REAP_MAX_MS;
	return ms < 50 ? 50 : ms;
}

static bool reaper_wait(struct sess *s, int64_t ms)
{
	struct timespec ts = clock_deadline_ms(ms);
	pthread_mutex_lock(&s->lock);
	while (!s->stop)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	bool go_on = !s->stop;
	pthread_mutex_unlock(&s->lock);
	return go_on;
}

static void reap_once(struct sess *s)
{
	struct ino_list drop = { 0 };
	struct session *dead = NULL;
	int64_t now = mono_ms();

	pthread_mutex_lock(&s->lock);
	for (struct session **p = &s->sessions; *p;) {
		struct session *x = *p;
		if (!expired(s, x, now)) {
			p = &x->next;
			continue;
		}
		*p = x->next;
		s->nsessions--;
		refs_drop_session(s, x, &drop);
		x->next = dead;
		dead = x;
	}
	/* Orphans no live session holds once their grace period is over:
	 * unlinked and never (or no longer) opened, left over from before a
	 * restart, or whose drop failed earlier. */
	for (size_t b = 0; b < s->norphan_buckets; b++)
		for (struct orphan *o = s->orphans[b]; o; o = o->next)
			if (o->keep_until_ms <= now &&
			    (o->keep_until_ms != 0 || now >= s->grace_end_ms) &&
			    !ref_exists(s, o->ino, NULL))
				ino_list_add(&drop, o->ino);
	pthread_mutex_unlock(&s->lock);
	while (dead) {
		struct session *next = dead->next;
		release_session(s, dead, "timed out");
		dead = next;
	}
	drop_orphans(s, &drop);
	free(drop.v);
}

static void *reaper_main(void *arg)
{
	struct sess *s = arg;
	while (reaper_wait(s, reap_interval(s))) {
		reap_once(s);
		int rc = ns_atime_flush(s->ns); /* the read atimes of the last second */
		if (rc < 0)
			log_warn("writing out read atimes: %s", strerror(-rc));
		/* expired trash: batches of 256 for at most TRASH_BUDGET_MS a
		 * second, so a day of heavy churn drains and clients still pass */
		uint64_t expired = 0, n = 0;
		int64_t t0 = clock_now_ms();
		do {
			rc = ns_trash_expire(s->ns, &n);
			expired += n;
		} while (rc == 0 && n == NS_TRASH_BATCH && clock_now_ms() - t0 < TRASH_BUDGET_MS);
		if (rc < 0)
			log_warn("emptying the trash of expired files: %s", strerror(-rc));
		else if (expired)
			log_info("trash: %llu expired file(s) deleted", (unsigned long long)expired);
	}
	return NULL;
}

/* ---- public ------------------------------------------------------------- */

int sess_new(struct ns *ns, struct chunk_map *cm, struct locks *lk, int64_t timeout_ms,
	     struct sess **ret)
{
	struct sess *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nref_buckets = SESS_HASH_INITIAL;
	s->norphan_buckets = SESS_HASH_INITIAL;
	s->refs = calloc(s->nref_buckets, sizeof(*s->refs));
	s->orphans = calloc(s->norphan_buckets, sizeof(*s->orphans));
	if (!s->refs || !s->orphans) {
		free(s->refs);
		free(s->orphans);
		free(s);
		return -ENOMEM;
	}
	s->ns = ns;
	s->cm = cm;
	s->lk = lk;
	s->timeout_ms = timeout_ms;
	s->next_sid = 1;
	pthread_mutex_init(&s->lock, NULL);
	clock_cond_init(&s->cond);
	sess_set_unlink_grace(s, SESS_UNLINK_GRACE_MS);
	*ret = s;
	return 0;
}

void sess_set_unlink_grace(struct sess *s, int64_t grace_ms)
{
	s->unlink_grace_ms = grace_ms > 0 ? grace_ms : 0;
	struct ns_open_hooks h = { .arg = s, .register_open = hook_register,
				   .is_open = hook_is_open, .orphaned = hook_orphaned,
				   .keep_unlinked = s->unlink_grace_ms > 0 };
	ns_set_open_hooks(s->ns, &h);
}

int sess_start(struct sess *s)
{
	uint64_t *inos = NULL;
	size_t n = 0;
	int rc = ns_orphans_list(s->ns, &inos, &n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++)
		orphan_add(s, inos[i], 0);
	/* Mounts re-declare their open files within a heartbeat of finding
	 * the master back; give them a whole session timeout. */
	s->grace_end_ms = mono_ms() + s->timeout_ms;
	pthread_mutex_unlock(&s->lock);
	free(inos);
	if (n)
		log_info("sessions: %zu unlinked inodes from before the restart are deleted "
			 "in %lld ms unless a mount declares them open",
			 n, (long long)s->timeout_ms);
	rc = pthread_create(&s->reaper, NULL, reaper_main, s);
	if (rc != 0)
		return -rc;
	s->started = true;
	return 0;
}

void sess_stop(struct sess *s)
{
	if (!s || !s->started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->reaper, NULL);
	s->started = false;
}

void sess_free(struct sess *s)
{
	if (!s)
		return;
	sess_stop(s);
	for (size_t b = 0; b < s->nref_buckets; b++) {
		while (s->refs[b]) {
			struct oref *r = s->refs[b];
			s->refs[b] = r->next;
			free(r);
		}
	}
	for (size_t b = 0; b < s->norphan_buckets; b++) {
		while (s->orphans[b]) {
			struct orphan *o = s->orphans[b];
			s->orphans[b] = o->next;
			free(o);
		}
	}
	while (s->sessions) {
		struct session *x = s->sessions;
		s->sessions = x->next;
		free(x->fresh);
		free(x);
	}
	free(s->refs);
	free(s->orphans);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int64_t sess_timeout_ms(const struct sess *s)
{
	return s->timeout_ms;
}

int64_t sess_heartbeat_ms(const struct sess *s)
{
	int64_t ms = s->timeout_ms / 4;
	if (ms > SESS_HEARTBEAT_MAX_MS)
		ms = SESS_HEARTBEAT_MAX_MS;
	return ms < 100 ? 100 : ms;
}

bool sess_id_valid(const char *id)
{
	size_t len = strlen(id);
	if (len == 0 || len > SESS_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Lock held. The live session id, made or renewed; an expired one that
 * the reaper has not taken yet is released first (out_dead, freed by
 * the caller after the lock). */
static int session_get(struct sess *s, const char *id, const char *host,
		       struct session **ret, struct session **out_dead, struct ino_list *drop)
{
	int64_t now = mono_ms();
	struct session *x = find_session(s, id);
	if (x && expired(s, x, now)) {
		for (struct session **p = &s->sessions; *p; p = &(*p)->next) {
			if (*p == x) {
				*p = x->next;
				break;
			}
		}
		s->nsessions--;
		refs_drop_session(s, x, drop);
		*out_dead = x;
		x = NULL;
	}
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return -ENOMEM;
		snprintf(x->id, sizeof(x->id), "%s", id);
		x->sid = s->next_sid++;
		x->next = s->sessions;
		s->sessions = x;
		s->nsessions++;
	}
	if (host)
		snprintf(x->host, sizeof(x->host), "%s", host);
	x->last_ms = now;
	*ret = x;
	return 0;
}

int sess_open(struct sess *s, const char *id, const char *host_id, const uint64_t *opens,
	      size_t nopens, const struct sess_decl_lock *locks, size_t nlocks,
	      uint64_t **ret_lost, size_t *ret_nlost, size_t *ret_lost_locks)
{
	struct ino_list drop = { 0 }, lost = { 0 };
	struct session *x = NULL, *dead = NULL;
	bool renewed;
	size_t lost_locks = 0;

	if (!sess_id_valid(id) || (host_id && strlen(host_id) > SESS_HOST_MAX))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	renewed = live_session(s, id) != NULL;
	int rc = session_get(s, id, host_id, &x, &dead, &drop);
	uint64_t sid = x ? x->sid : 0;
	pthread_mutex_unlock(&s->lock);
	if (dead)
		release_session(s, dead, "expired (opened again)");
	drop_orphans(s, &drop);
	free(drop.v);
	if (rc < 0)
		return rc;
	log_info("session %s %s (%zu open files, %zu locks declared)", id,
		 renewed ? "renewed" : "opened", nopens, nlocks);
	/* ns_open registers each inode through hook_register, in a
	 * transaction, so an unlink cannot slip between check and count. */
	for (size_t i = 0; i < nopens; i++) {
		rc = ns_open(s->ns, opens[i], id);
		if (rc == -ENOENT || rc == -EISDIR) {
			ino_list_add(&lost, opens[i]);
		} else if (rc < 0) {
			free(lost.v);
			return rc;
		}
	}
	for (size_t i = 0; i < nlocks; i++) {
		const struct sess_decl_lock *l = &locks[i];
		pthread_mutex_lock(&s->lock);
		bool live = live_session(s, id) != NULL;
		rc = live ? locks_set(s->lk, l->ino, l->kind, sid, l->owner, l->pid, l->type,
				      l->start, l->end, NULL, NULL)
			  : -ESTALE;
		pthread_mutex_unlock(&s->lock);
		if (rc == -ESTALE) {
			free(lost.v);
			return rc;
		}
		if (rc < 0)
			lost_locks++;
	}
	if (lost.n || lost_locks)
		log_warn("session %s: %zu open files and %zu locks could not be declared again",
			 id, lost.n, lost_locks);
	*ret_lost = lost.v;
	*ret_nlost = lost.n;
	*ret_lost_locks = lost_locks;
	return 0;
}

int sess_heartbeat(struct sess *s, const char *id, const uint64_t *closes, size_t nclose)
{
	struct ino_list drop = { 0 };
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	if (!x) {
		rc = -ESTALE;
		goto out_unlock;
	}
	int64_t now = mono_ms();
	x->last_ms = now;
	for (size_t i = 0; i < nclose; i++) {
		ref_del(s, x, closes[i]);
		if (orphan_due(s, closes[i], now))
			ino_list_add(&drop, closes[i]);
	}
out_unlock:
	pthread_mutex_unlock(&s->lock);
	drop_orphans(s, &drop);
	free(drop.v);
	return rc;
}

int sess_close(struct sess *s, const char *id)
{
	struct ino_list drop = { 0 };

	pthread_mutex_lock(&s->lock);
	struct session *x = NULL;
	for (struct session **p = &s->sessions; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			x = *p;
			*p = x->next;
			s->nsessions--;
			refs_drop_session(s, x, &drop);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (x)
		release_session(s, x, "closed");
	drop_orphans(s, &drop);
	free(drop.v);
	return 0;
}

int sess_lock(struct sess *s, const char *id, uint64_t ino, enum lk_kind kind,
	      uint64_t owner, uint32_t pid, enum lk_type type, uint64_t start, uint64_t end,
	      struct lk_range **ret_held, size_t *ret_n)
{
	int rc;
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	if (x) {
		x->last_ms = mono_ms();
		rc = locks_set(s->lk, ino, kind, x->sid, owner, pid, type, start, end, ret_held,
			       ret_n);
	} else {
		rc = -ESTALE;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sess_lock_test(struct sess *s, const char *id, uint64_t ino, enum lk_kind kind,
		   uint64_t owner, enum lk_type type, uint64_t start, uint64_t end,
		   struct lk_range *ret)
{
	struct lk_range c;
	int rc;
	pthread_mutex_lock(&s->lock);
	struct session *x = live_session(s, id);
	if (!x) {
		rc = -ESTALE;
		goto out_unlock;
	}
	x->last_ms = mono_ms();
	rc = locks_test(s->lk, ino, kind, x->sid, owner, type, start, end, &c);
	if (rc == 1) {
		/* A pid means something only on the holder's machine. */
		bool same_host = false;
		for (struct session *h = s->sessions; h; h = h->next) {
			if (h->sid == c.sid) {
				same_host = h == x || (x->host[0] && strcmp(h->host, x->host) == 0);
				break;
			}
		}
		if (!same_host)
			c.pid = 0;
		*ret = c;
	}
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void sess_stats(struct sess *s, struct sess_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	ret->sessions = s->nsessions;
	ret->open_refs = s->nrefs;
	ret->orphans = s->norphans;
	pthread_mutex_unlock(&s->lock);
	ret->locks = locks_count(s->lk);
}
