/* locks — flock() and POSIX byte-range locks of the whole cluster (see
 * locks.h).
 *
 * Owns: a hash of inodes that have locks; each holds a flat array of
 * lock entries {kind, session number, owner, pid, type, [start, end]};
 * the waiter records (a flat array of at most LK_WAITERS_MAX) and the end
 * of the grace period. `lock` guards all of it. Callers: HTTP handler threads (through
 * session.c, which checks the session is alive first and holds its own
 * lock meanwhile: order session lock -> this lock) and session.c's reaper.
 * This module calls nothing else while holding its lock.
 *
 * Rules, as Linux applies them on a local filesystem:
 * - flock and POSIX locks never conflict with each other;
 * - two locks conflict when they belong to different owners, overlap,
 *   and at least one is a write lock;
 * - one owner's POSIX locks on a file never overlap: setting a range
 *   first cuts it out of the owner's existing ranges (splitting one that
 *   spans it), then merges the new range with the owner's ranges of the
 *   same type that overlap or touch it;
 * - an flock lock covers the whole file; a new one of the same owner
 *   replaces the old one (LOCK_SH <-> LOCK_EX conversion).
 * Waiting (F_SETLKW) is a client loop with backoff; what the master
 * keeps of it is the waiter records, for deadlock detection only:
 *
 *   (none) --conflicting POSIX request with LK_F_WAIT, no cycle--> waiting
 *   waiting --same request again, still conflicting--> waiting (TTL renewed)
 *   waiting --same request granted, LK_F_CANCEL, -EDEADLK, TTL passed
 *             (lk_waiters_expire), session dropped--> (none)
 *
 * A cycle (lk_deadlock): the requester's owner R would wait for the
 * owners holding conflicting locks; each of those that is itself waiting
 * (a live record) waits for the owners holding locks that conflict with
 * its recorded request; if R is reached the request fails with -EDEADLK.
 * The search follows every blocking owner, not only the first as Linux
 * does, and stops after LK_DEADLK_OWNERS_MAX owners (then: no deadlock).
 * flock requests are never checked (Linux neither).
 *
 * Deliberately not here: queueing (a waiter may be overtaken), mandatory
 * locking. */
#include "locks.h"

#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LK_HASH_INITIAL 64
#define LK_DEADLK_OWNERS_MAX 64
#define LK_FLAGS (LK_F_NEW | LK_F_WAIT | LK_F_CANCEL)

struct lk_ent {
	enum lk_kind kind;
	enum lk_type type;
	uint64_t sid;
	uint64_t owner;
	uint32_t pid;
	uint64_t start, end;
};

struct lk_inode {
	uint64_t ino;
	struct lk_ent *v;
	size_t n;
	struct lk_inode *next;
};

/* Locks per session number, to enforce LK_PER_SESSION_MAX. */
struct lk_sess {
	uint64_t sid;
	size_t n;
	struct lk_sess *next;
};

/* An owner waiting for a POSIX lock (LK_F_WAIT). */
struct lk_waiter {
	uint64_t ino;
	uint64_t sid, owner;
	enum lk_type type;
	uint64_t start, end;
	int64_t expires_ms;
};

struct locks {
	pthread_mutex_t lock;
	struct lk_inode **hash;
	size_t nbuckets;
	size_t ninodes;
	size_t total;
	struct lk_sess *sessions;
	struct lk_waiter *waiters;      /* LK_WAITERS_MAX slots */
	size_t nwaiters;
	int64_t grace_end_ms;           /* monotonic; 0: no grace period */
};

int locks_new(struct locks **ret)
{
	struct locks *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return -ENOMEM;
	lk->nbuckets = LK_HASH_INITIAL;
	lk->hash = calloc(lk->nbuckets, sizeof(*lk->hash));
	lk->waiters = calloc(LK_WAITERS_MAX, sizeof(*lk->waiters));
	if (!lk->hash || !lk->waiters) {
		free(lk->hash);
		free(lk->waiters);
		free(lk);
		return -ENOMEM;
	}
	pthread_mutex_init(&lk->lock, NULL);
	*ret = lk;
	return 0;
}

void locks_free(struct locks *lk)
{
	if (!lk)
		return;
	for (size_t i = 0; i < lk->nbuckets; i++) {
		struct lk_inode *in = lk->hash[i];
		while (in) {
			struct lk_inode *next = in->next;
			free(in->v);
			free(in);
			in = next;
		}
	}
	while (lk->sessions) {
		struct lk_sess *next = lk->sessions->next;
		free(lk->sessions);
		lk->sessions = next;
	}
	free(lk->hash);
	free(lk->waiters);
	pthread_mutex_destroy(&lk->lock);
	free(lk);
}

void locks_set_grace(struct locks *lk, int64_t ms)
{
	pthread_mutex_lock(&lk->lock);
	lk->grace_end_ms = ms > 0 ? clock_now_ms() + ms : 0;
	pthread_mutex_unlock(&lk->lock);
}

/* Lock held. */
static int64_t lk_grace_left(const struct locks *lk, int64_t now)
{
	return lk->grace_end_ms > now ? lk->grace_end_ms - now : 0;
}

int64_t locks_grace_left_ms(struct locks *lk)
{
	pthread_mutex_lock(&lk->lock);
	int64_t left = lk_grace_left(lk, clock_now_ms());
	pthread_mutex_unlock(&lk->lock);
	return left;
}

static size_t lk_bucket(const struct locks *lk, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 32) % lk->nbuckets;
}

/* Lock held. The inode's entry, or NULL. */
static struct lk_inode *lk_find(struct locks *lk, uint64_t ino)
{
	for (struct lk_inode *in = lk->hash[lk_bucket(lk, ino)]; in; in = in->next)
		if (in->ino == ino)
			return in;
	return NULL;
}

/* Lock held. Double the buckets when the table is crowded; on failure
 * the table just stays as it is. */
static void lk_grow(struct locks *lk)
{
	size_t nb = lk->nbuckets * 2;
	struct lk_inode **h = calloc(nb, sizeof(*h));
	if (!h)
		return;
	struct lk_inode **old = lk->hash;
	size_t oldn = lk->nbuckets;
	lk->hash = h;
	lk->nbuckets = nb;
	for (size_t i = 0; i < oldn; i++) {
		struct lk_inode *in = old[i];
		while (in) {
			struct lk_inode *next = in->next;
			size_t b = lk_bucket(lk, in->ino);
			in->next = h[b];
			h[b] = in;
			in = next;
		}
	}
	free(old);
}

/* Lock held. Forget an inode that has no lock left. */
static void lk_drop_inode_if_empty(struct locks *lk, struct lk_inode *in)
{
	if (in->n)
		return;
	for (struct lk_inode **p = &lk->hash[lk_bucket(lk, in->ino)]; *p; p = &(*p)->next) {
		if (*p == in) {
			*p = in->next;
			break;
		}
	}
	free(in->v);
	free(in);
	lk->ninodes--;
}

static struct lk_sess *lk_sess_find(struct locks *lk, uint64_t sid, bool create)
{
	for (struct lk_sess *s = lk->sessions; s; s = s->next)
		if (s->sid == sid)
			return s;
	if (!create)
		return NULL;
	struct lk_sess *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->sid = sid;
	s->next = lk->sessions;
	lk->sessions = s;
	return s;
}

static bool overlap(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 <= e2 && s2 <= e1;
}

/* [s1,e1] and [s2,e2] overlap or touch. */
static bool touch(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return overlap(s1, e1, s2, e2) || (e1 != UINT64_MAX && e1 + 1 == s2) ||
	       (e2 != UINT64_MAX && e2 + 1 == s1);
}

static bool conflicts(const struct lk_ent *e, enum lk_kind kind, uint64_t sid,
		      uint64_t owner, enum lk_type type, uint64_t start, uint64_t end)
{
	return e->kind == kind && !(e->sid == sid && e->owner == owner) &&
	       (type == LK_WRLCK || e->type == LK_WRLCK) &&
	       overlap(e->start, e->end, start, end);
}

/* Split what the caller passed as type into the type and its LK_F_*
 * flags; check the arguments. */
static int check_args(enum lk_kind kind, enum lk_type *type, unsigned *ret_flags,
		      uint64_t *start, uint64_t *end)
{
	unsigned t = (unsigned)*type & LK_TYPE_MASK, flags = (unsigned)*type & ~LK_TYPE_MASK;

	if ((kind != LK_POSIX && kind != LK_FLOCK) ||
	    (t != LK_UNLCK && t != LK_RDLCK && t != LK_WRLCK) || (flags & ~LK_FLAGS))
		return -EINVAL;
	*type = (enum lk_type)t;
	*ret_flags = flags;
	if (kind == LK_FLOCK) {
		*start = 0;
		*end = LK_EOF;
	}
	if (*start > *end || *end > LK_EOF)
		return -EINVAL;
	return 0;
}

/* ---- waiter records (lock held) -------------------------------------------- */

static void lk_waiters_expire(struct locks *lk, int64_t now)
{
	size_t k = 0;
	for (size_t i = 0; i < lk->nwaiters; i++)
		if (lk->waiters[i].expires_ms > now)
			lk->waiters[k++] = lk->waiters[i];
	lk->nwaiters = k;
}

static bool lk_waiter_is(const struct lk_waiter *w, uint64_t ino, uint64_t sid,
			 uint64_t owner, enum lk_type type, uint64_t start, uint64_t end)
{
	return w->ino == ino && w->sid == sid && w->owner == owner && w->type == type &&
	       w->start == start && w->end == end;
}

/* Forget the record of this request, if any. */
static void lk_waiter_del(struct locks *lk, uint64_t ino, uint64_t sid, uint64_t owner,
			  enum lk_type type, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < lk->nwaiters; i++) {
		if (lk_waiter_is(&lk->waiters[i], ino, sid, owner, type, start, end)) {
			lk->waiters[i] = lk->waiters[--lk->nwaiters];
			return;
		}
	}
}

/* Record (or renew) that the owner waits for this request. Expired
 * records are taken out first; when the table is still full the request
 * is not recorded (its deadlocks go undetected). */
static void lk_waiter_put(struct locks *lk, uint64_t ino, uint64_t sid, uint64_t owner,
			  enum lk_type type, uint64_t start, uint64_t end, int64_t now)
{
	for (size_t i = 0; i < lk->nwaiters; i++) {
		if (lk_waiter_is(&lk->waiters[i], ino, sid, owner, type, start, end)) {
			lk->waiters[i].expires_ms = now + LK_WAIT_TTL_MS;
			return;
		}
	}
	if (lk->nwaiters == LK_WAITERS_MAX)
		lk_waiters_expire(lk, now);
	if (lk->nwaiters == LK_WAITERS_MAX)
		return;
	lk->waiters[lk->nwaiters++] = (struct lk_waiter){
		.ino = ino, .sid = sid, .owner = owner, .type = type, .start = start,
		.end = end, .expires_ms = now + LK_WAIT_TTL_MS };
}

/* An owner met by the deadlock search, and the request it waits for. */
struct lk_visit {
	uint64_t sid, owner;
};

/* Would owner (sid, owner), waiting for a POSIX lock of type on
 * [start, end] of ino, wait for itself? Walks the graph "waits for a lock
 * held by" from the owners holding conflicting locks, through their live
 * waiter records, breadth first, at most LK_DEADLK_OWNERS_MAX owners. */
static bool lk_deadlock(struct locks *lk, uint64_t ino, uint64_t sid, uint64_t owner,
			enum lk_type type, uint64_t start, uint64_t end, int64_t now)
{
	struct lk_visit seen[LK_DEADLK_OWNERS_MAX];
	size_t nseen = 0;
	/* the request being expanded: first the caller's, then, for each
	 * owner in seen[] (in order), each of its live waiter records */
	struct lk_waiter req = { .ino = ino, .sid = sid, .owner = owner, .type = type,
				 .start = start, .end = end };
	size_t next_owner = 0;       /* seen[] index whose records come next */
	size_t next_rec = 0;         /* waiter index within that scan */

	for (;;) {
		struct lk_inode *in = lk_find(lk, req.ino);
		for (size_t i = 0; in && i < in->n; i++) {
			const struct lk_ent *e = &in->v[i];
			if (!conflicts(e, LK_POSIX, req.sid, req.owner, req.type, req.start, req.end))
				continue;
			if (e->sid == sid && e->owner == owner)
				return true;
			bool known = false;
			for (size_t k = 0; k < nseen && !known; k++)
				known = seen[k].sid == e->sid && seen[k].owner == e->owner;
			if (known)
				continue;
			if (nseen == LK_DEADLK_OWNERS_MAX)
				return false;
			seen[nseen++] = (struct lk_visit){ .sid = e->sid, .owner = e->owner };
		}
		/* the next live waiter record of a seen owner */
		bool found = false;
		while (!found && next_owner < nseen) {
			for (; next_rec < lk->nwaiters; next_rec++) {
				const struct lk_waiter *w = &lk->waiters[next_rec];
				if (w->sid == seen[next_owner].sid &&
				    w->owner == seen[next_owner].owner && w->expires_ms > now) {
					req = *w;
					next_rec++;
					found = true;
					break;
				}
			}
			if (!found) {
				next_owner++;
				next_rec = 0;
			}
		}
		if (!found)
			return false;
	}
}

/* Lock held. Copy owner's ranges on in (may be NULL) into a new array. */
static int lk_held(const struct lk_inode *in, enum lk_kind kind, uint64_t sid,
		   uint64_t owner, struct lk_range **ret, size_t *ret_n)
{
	size_t n = 0;
	struct lk_range *out = NULL;

	for (size_t i = 0; in && i < in->n; i++)
		n += in->v[i].kind == kind && in->v[i].sid == sid && in->v[i].owner == owner;
	if (n) {
		out = malloc(n * sizeof(*out));
		if (!out)
			return -ENOMEM;
	}
	n = 0;
	for (size_t i = 0; in && i < in->n; i++) {
		const struct lk_ent *e = &in->v[i];
		if (e->kind == kind && e->sid == sid && e->owner == owner)
			out[n++] = (struct lk_range){ .type = e->type, .start = e->start,
						      .end = e->end, .pid = e->pid, .sid = sid };
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

int locks_set(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	      uint64_t owner, uint32_t pid, enum lk_type type, uint64_t start,
	      uint64_t end, struct lk_range **ret_held, size_t *ret_n)
{
	unsigned flags;
	int rc = check_args(kind, &type, &flags, &start, &end);
	if (rc < 0)
		return rc;
	int64_t now = clock_now_ms();
	pthread_mutex_lock(&lk->lock);
	struct lk_inode *in = lk_find(lk, ino);
	struct lk_ent *nv = NULL;
	bool waits = kind == LK_POSIX && (flags & LK_F_WAIT);
	if (flags & LK_F_CANCEL) {
		lk_waiter_del(lk, ino, sid, owner, type, start, end);
		goto out_held;
	}
	if (type != LK_UNLCK && (flags & LK_F_NEW) && lk_grace_left(lk, now) > 0) {
		rc = -EAGAIN;
		goto out_unlock;
	}
	if (in && type != LK_UNLCK) {
		for (size_t i = 0; i < in->n; i++) {
			if (!conflicts(&in->v[i], kind, sid, owner, type, start, end))
				continue;
			rc = -EAGAIN;
			if (waits && lk_deadlock(lk, ino, sid, owner, type, start, end, now)) {
				rc = -EDEADLK;
				lk_waiter_del(lk, ino, sid, owner, type, start, end);
			} else if (waits) {
				lk_waiter_put(lk, ino, sid, owner, type, start, end, now);
			}
			goto out_unlock;
		}
	}
	if (waits)
		lk_waiter_del(lk, ino, sid, owner, type, start, end);
	if (!in && type == LK_UNLCK)
		goto out_held;
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		in->ino = ino;
		size_t b = lk_bucket(lk, ino);
		in->next = lk->hash[b];
		lk->hash[b] = in;
		if (++lk->ninodes > 2 * lk->nbuckets)
			lk_grow(lk);
	}
	/* The new array has at most n + 2 entries: a split adds one, the new
	 * range another; merged ones only remove. */
	nv = malloc((in->n + 2) * sizeof(*nv));
	if (!nv) {
		rc = -ENOMEM;
		goto out_drop_empty;
	}
	size_t nn = 0;
	long delta = 0;      /* change of this session's lock count */
	for (size_t i = 0; i < in->n; i++) {
		struct lk_ent e = in->v[i];
		bool mine = e.kind == kind && e.sid == sid && e.owner == owner;
		if (!mine || !touch(e.start, e.end, start, end)) {
			nv[nn++] = e;
			continue;
		}
		if (type != LK_UNLCK && e.type == type) {
			/* same type, overlapping or adjacent: absorb */
			if (e.start < start)
				start = e.start;
			if (e.end > end)
				end = e.end;
			delta--;
			continue;
		}
		if (!overlap(e.start, e.end, start, end)) {
			nv[nn++] = e;      /* only adjacent, another type: keep */
			continue;
		}
		delta--;
		if (e.start < start) {
			struct lk_ent left = e;
			left.end = start - 1;
			nv[nn++] = left;
			delta++;
		}
		if (e.end > end) {
			struct lk_ent right = e;
			right.start = end + 1;
			nv[nn++] = right;
			delta++;
		}
	}
	if (type != LK_UNLCK) {
		nv[nn++] = (struct lk_ent){ .kind = kind, .type = type, .sid = sid,
					    .owner = owner, .pid = pid, .start = start,
					    .end = end };
		delta++;
	}
	struct lk_sess *ls = lk_sess_find(lk, sid, delta > 0);
	if (delta > 0 && (!ls || ls->n + (size_t)delta > LK_PER_SESSION_MAX)) {
		rc = ls ? -ENOLCK : -ENOMEM;
		free(nv);
		goto out_drop_empty;
	}
	if (ls)
		ls->n = (size_t)((long)ls->n + delta);
	lk->total = (size_t)((long)lk->total + delta);
	free(in->v);
	in->v = nv;
	in->n = nn;
out_held:
	if (ret_held)
		rc = lk_held(in, kind, sid, owner, ret_held, ret_n);
	if (in)
		lk_drop_inode_if_empty(lk, in);
	goto out_unlock;
out_drop_empty:
	lk_drop_inode_if_empty(lk, in);
out_unlock:
	pthread_mutex_unlock(&lk->lock);
	return rc;
}

int locks_test(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	       uint64_t owner, enum lk_type type, uint64_t start, uint64_t end,
	       struct lk_range *ret)
{
	unsigned flags;
	int rc = check_args(kind, &type, &flags, &start, &end);
	if (rc < 0)
		return rc;
	if (flags & (LK_F_WAIT | LK_F_CANCEL))
		return -EINVAL;
	if (type == LK_UNLCK)
		return 0;
	pthread_mutex_lock(&lk->lock);
	struct lk_inode *in = lk_find(lk, ino);
	for (size_t i = 0; in && i < in->n; i++) {
		const struct lk_ent *e = &in->v[i];
		if (conflicts(e, kind, sid, owner, type, start, end)) {
			*ret = (struct lk_range){ .type = e->type, .start = e->start,
						  .end = e->end, .pid = e->pid, .sid = e->sid };
			rc = 1;
			break;
		}
	}
	if (rc == 0 && (flags & LK_F_NEW) && lk_grace_left(lk, clock_now_ms()) > 0)
		rc = -EAGAIN;
	pthread_mutex_unlock(&lk->lock);
	return rc;
}

size_t locks_drop_session(struct locks *lk, uint64_t sid)
{
	size_t dropped = 0;

	pthread_mutex_lock(&lk->lock);
	size_t kept = 0;
	for (size_t i = 0; i < lk->nwaiters; i++)
		if (lk->waiters[i].sid != sid)
			lk->waiters[kept++] = lk->waiters[i];
	lk->nwaiters = kept;
	struct lk_sess **sp = &lk->sessions;
	while (*sp && (*sp)->sid != sid)
		sp = &(*sp)->next;
	if (!*sp || (*sp)->n == 0)
		goto out_forget;
	for (size_t b = 0; b < lk->nbuckets; b++) {
		struct lk_inode *in = lk->hash[b];
		while (in) {
			struct lk_inode *next = in->next;
			size_t k = 0;
			for (size_t i = 0; i < in->n; i++) {
				if (in->v[i].sid == sid)
					dropped++;
				else
					in->v[k++] = in->v[i];
			}
			in->n = k;
			lk_drop_inode_if_empty(lk, in);
			in = next;
		}
	}
	lk->total -= dropped;
out_forget:
	if (*sp) {
		struct lk_sess *s = *sp;
		*sp = s->next;
		free(s);
	}
	pthread_mutex_unlock(&lk->lock);
	return dropped;
}

size_t locks_count(struct locks *lk)
{
	pthread_mutex_lock(&lk->lock);
	size_t n = lk->total;
	pthread_mutex_unlock(&lk->lock);
	return n;
}

size_t locks_waiters(struct locks *lk)
{
	pthread_mutex_lock(&lk->lock);
	lk_waiters_expire(lk, clock_now_ms());
	size_t n = lk->nwaiters;
	pthread_mutex_unlock(&lk->lock);
	return n;
}
