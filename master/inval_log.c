/* inval_log — see inval_log.h.
 *
 * Owns: the ring of events (names copied), its lock and condition
 * variable. Event s lives in slot s % cap until event s + cap replaces
 * it; events 1..last were published, last - cap + 1.. are kept. */
#include "inval_log.h"

#include "clock.h"
#include "json_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct inval_ev {
	uint64_t origin;
	uint64_t ino;
	char *name;           /* NULL: the inode's attributes */
	int recall;           /* not a change: inval_note.recall */
};

/* A reader waiting for events, on its own stack: a change wakes only the
 * readers it concerns (a mount's own changes do not wake its poll). */
struct inval_waiter {
	uint64_t origin;
	bool woken;
	pthread_cond_t cond;
	struct inval_waiter *next;
};

/* Where a mount's feed stands: a reader asking for the events after
 * `since` has told its kernel of every one up to it. */
struct inval_ack {
	uint64_t origin;      /* 0: free */
	uint64_t since;
	int64_t at_ms;        /* monotonic, of that poll */
	/* Folder listings the mount may hold (inval_log_listed): read after
	 * events up to listed_min .. listed_max. Its feed dropped every one
	 * read before event `given` (the last one of another client in the
	 * reply to its last poll) once it asks for the events after it. */
	bool holds;
	bool late;            /* a wait for it ran out: not waited for again
	                       * until it polls */
	uint64_t listed_min, listed_max;
	uint64_t given;       /* 0: none in that reply */
	/* Sole use (inval_log_sole_enter): its mount may trust that it is
	 * the only client until sole_until_ms (monotonic; 0: never told).
	 * polls counts its polls; told_not is the poll that got a reply
	 * saying it is not (0: none since the last wait began). */
	int64_t sole_until_ms;
	uint64_t polls, told_not;
};
#define INVAL_ACKS 64

struct inval_log {
	pthread_mutex_t lock;
	pthread_cond_t acked;          /* an ack moved (inval_log_wait_told) */
	struct inval_ack acks[INVAL_ACKS];
	struct inval_waiter *waiters;
	size_t cap;
	uint64_t last;
	uint64_t last_origin;          /* of event last, */
	uint64_t before_run;           /* the last event before its origin's run */
	bool stopping;
	int sole_blocks;               /* inval_log_sole_enter calls in progress */
	int64_t sole_floor_ms;         /* a restarted master's: grants of the
	                                * one before may run until then */
	uint64_t wakes;                /* inval_log_wake calls, */
	uint64_t woke[16];             /* the last ones' origins (wakes % 16) */
	char id[24];
	struct inval_ev *ring;
};

int inval_log_new(size_t cap, struct inval_log **ret)
{
	struct inval_log *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cap = cap ? cap : INVAL_LOG_CAP_DEFAULT;
	l->ring = calloc(l->cap, sizeof(*l->ring));
	if (!l->ring) {
		free(l);
		return -ENOMEM;
	}
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)l << 16);
	snprintf(l->id, sizeof(l->id), "%016" PRIx64, r);
	pthread_mutex_init(&l->lock, NULL);
	clock_cond_init(&l->acked);
	l->sole_floor_ms = clock_now_ms() + INVAL_SOLE_TTL_MS;
	*ret = l;
	return 0;
}

void inval_log_free(struct inval_log *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->cap; i++)
		free(l->ring[i].name);
	free(l->ring);
	pthread_cond_destroy(&l->acked);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Under the lock: wake the waiters of other origins than `except` (0:
 * all of them). */
static void wake(struct inval_log *l, uint64_t except)
{
	for (struct inval_waiter *w = l->waiters; w; w = w->next) {
		if (except && w->origin == except)
			continue;
		w->woken = true;
		pthread_cond_signal(&w->cond);
	}
}

void inval_log_stop(struct inval_log *l)
{
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	wake(l, 0);
	pthread_cond_broadcast(&l->acked);
	pthread_mutex_unlock(&l->lock);
}

/* Under the lock: origin's waiting readers return now (remembered for
 * one that is about to wait: woken_since). */
static void wake_origin(struct inval_log *l, uint64_t origin)
{
	l->woke[++l->wakes % 16] = origin;
	for (struct inval_waiter *w = l->waiters; w; w = w->next) {
		if (w->origin == origin) {
			w->woken = true;
			pthread_cond_signal(&w->cond);
		}
	}
}

void inval_log_wake(struct inval_log *l, uint64_t origin)
{
	pthread_mutex_lock(&l->lock);
	wake_origin(l, origin);
	pthread_mutex_unlock(&l->lock);
}

const char *inval_log_id(const struct inval_log *l)
{
	return l->id;
}

uint64_t inval_origin(const char *id)
{
	if (!id || !*id)
		return 0;
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ? h : 1;
}

static bool same_note(const struct inval_ev *e, uint64_t origin, const struct inval_note *n)
{
	if (e->origin != origin || e->ino != n->ino || !e->name != !n->name ||
	    e->recall != n->recall)
		return false;
	return !n->name || strcmp(e->name, n->name) == 0;
}

static struct inval_ack *ack_of(struct inval_log *l, uint64_t origin);

void inval_log_publish(struct inval_log *l, uint64_t origin, const struct inval_note *notes,
		       size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&l->lock);
	/* its own changes are never sent to origin's feed, nor wake it: a
	 * reader of it that had asked past every event stays caught up */
	struct inval_ack *own = origin ? ack_of(l, origin) : NULL;
	bool caught_up = own && own->since == l->last;
	for (size_t i = 0; i < n; i++) {
		/* within this call only: a reader may have seen the one before */
		if (i > 0 && same_note(&l->ring[l->last % l->cap], origin, &notes[i]))
			continue;
		char *name = NULL;
		if (notes[i].name && !notes[i].recall && !(name = strdup(notes[i].name))) {
			/* no copy of the name: the folder's attributes stand in,
			 * and the readers of it invalidate the whole folder */
			name = NULL;
		}
		if (l->last == 0 || origin != l->last_origin) {
			l->before_run = l->last;
			l->last_origin = origin;
		}
		struct inval_ev *e = &l->ring[++l->last % l->cap];
		free(e->name);
		*e = (struct inval_ev){ .origin = origin, .ino = notes[i].ino, .name = name,
					.recall = notes[i].recall };
	}
	if (caught_up) {
		own->since = l->last;
		pthread_cond_broadcast(&l->acked);
	}
	wake(l, origin);
	pthread_mutex_unlock(&l->lock);
}

static _Thread_local uint64_t cur_origin;

void inval_set_origin(uint64_t origin)
{
	cur_origin = origin;
}

void inval_log_ns_hook(void *arg, const struct inval_note *notes, size_t n)
{
	inval_log_publish(arg, cur_origin, notes, n);
}

uint64_t inval_log_last(struct inval_log *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t last = l->last;
	pthread_mutex_unlock(&l->lock);
	return last;
}

uint64_t inval_log_last_other(struct inval_log *l, uint64_t origin)
{
	pthread_mutex_lock(&l->lock);
	uint64_t last = l->last_origin != origin ? l->last : l->before_run;
	pthread_mutex_unlock(&l->lock);
	return last;
}

/* Whether origin was woken since the wakes-th inval_log_wake (the last 16
 * are remembered: a wake that came before the reader started waiting). */
static bool woken_since(const struct inval_log *l, uint64_t wakes, uint64_t origin)
{
	for (uint64_t k = l->wakes; k > wakes && l->wakes - k < 16; k--)
		if (l->woke[k % 16] == origin)
			return true;
	return l->wakes - wakes > 16;    /* lost track: return, the caller polls again */
}

/* Whether events since+1.. are all still in the ring. */
static bool kept_from(const struct inval_log *l, uint64_t since)
{
	return since <= l->last && l->last - since <= l->cap;
}

static bool ino_seen(const uint64_t *seen, size_t n, uint64_t ino)
{
	for (size_t i = n; i-- > 0;)
		if (seen[i] == ino)
			return true;
	return false;
}

/* [folder, name] of one event, the name as a string when it is UTF-8
 * and as {"name_b64"} when it is not (any bytes but NUL and '/':
 * json_util.h). NULL without memory. */
static json_t *entry_json(uint64_t folder, const char *name)
{
	json_t *nm = json_string(name);
	if (!nm && (nm = json_object()) && ju_set_name(nm, "name", name, strlen(name)) < 0) {
		json_decref(nm);
		nm = NULL;
	}
	return nm ? json_pack("[I, o]", (json_int_t)folder, nm) : NULL;
}

/* Under the lock: events since+1..last not from origin, at most max. */
static int collect(struct inval_log *l, uint64_t origin, uint64_t since, size_t max,
		   json_t **ret, uint64_t *ret_last, size_t *ret_n, uint64_t *ret_given)
{
	json_t *ents = json_array(), *inos = json_array(), *recalls = json_array(),
	       *listings = json_array();
	uint64_t *seen = calloc(max ? max : 1, sizeof(*seen));
	size_t n = 0, nseen = 0;
	uint64_t s = since;
	if (!ents || !inos || !recalls || !listings || !seen)
		goto fail;
	while (s < l->last && n < max) {
		const struct inval_ev *e = &l->ring[++s % l->cap];
		if (origin && e->origin == origin)
			continue;
		n++;
		if (!e->recall)
			*ret_given = s;   /* a change: the reader drops its listings */
		int rc;
		if (e->recall) {
			rc = json_array_append_new(e->recall == INVAL_RECALL ? recalls : listings,
						   json_integer((json_int_t)e->ino));
		} else if (e->name) {
			rc = json_array_append_new(ents, entry_json(e->ino, e->name));
		} else {
			if (ino_seen(seen, nseen, e->ino))
				continue;
			seen[nseen++] = e->ino;
			rc = json_array_append_new(inos, json_integer((json_int_t)e->ino));
		}
		if (rc < 0)
			goto fail;
	}
	free(seen);
	*ret = json_pack("{s:o, s:o, s:o, s:o}", "e", ents, "i", inos, "r", recalls, "rl", listings);
	*ret_last = s;
	*ret_n = n;
	return *ret ? 0 : -ENOMEM;
fail:
	free(seen);
	json_decref(ents);
	json_decref(inos);
	json_decref(recalls);
	json_decref(listings);
	return -ENOMEM;
}

/* Under the lock: origin's reader, or NULL. */
static struct inval_ack *ack_of(struct inval_log *l, uint64_t origin)
{
	for (size_t i = 0; i < INVAL_ACKS; i++)
		if (l->acks[i].origin == origin)
			return &l->acks[i];
	return NULL;
}

bool inval_log_follows(struct inval_log *l, uint64_t origin)
{
	pthread_mutex_lock(&l->lock);
	bool f = origin && ack_of(l, origin) != NULL;
	pthread_mutex_unlock(&l->lock);
	return f;
}

/* Under the lock: origin's reader asks for the events after since. */
static void note_ack(struct inval_log *l, uint64_t origin, uint64_t since)
{
	struct inval_ack *a = ack_of(l, origin);
	if (!a) {
		a = &l->acks[0];
		for (size_t i = 1; i < INVAL_ACKS; i++)
			if (l->acks[i].at_ms < a->at_ms)
				a = &l->acks[i];      /* the oldest (or a free one) */
		*a = (struct inval_ack){ .origin = origin };
	}
	a->since = since;
	a->at_ms = clock_now_ms();
	a->late = false;
	if (a->given && since >= a->given) {
		/* it took the reply that carried others' changes up to given:
		 * the listings read before are gone, those after may be held */
		if (a->listed_max < a->given)
			a->holds = false;
		else if (a->listed_min < a->given)
			a->listed_min = a->given;
		a->given = 0;
	}
	pthread_cond_broadcast(&l->acked);
}

void inval_log_joined(struct inval_log *l, uint64_t origin)
{
	if (!origin)
		return;
	pthread_mutex_lock(&l->lock);
	note_ack(l, origin, l->last);
	pthread_mutex_unlock(&l->lock);
}

void inval_log_listed(struct inval_log *l, uint64_t origin)
{
	pthread_mutex_lock(&l->lock);
	struct inval_ack *a = origin ? ack_of(l, origin) : NULL;
	if (a) {
		if (!a->holds)
			a->listed_min = l->last;
		a->listed_max = l->last;
		a->holds = true;
	}
	pthread_mutex_unlock(&l->lock);
}

/* Whether reader a is one of origins[0..n) (origins NULL: any reader). */
static bool ack_followed(const struct inval_ack *a, const uint64_t *origins, size_t n)
{
	if (a->origin == 0)
		return false;
	for (size_t i = 0; origins && i < n; i++)
		if (a->origin == origins[i])
			return true;
	return !origins;
}

/* Whom a wait is for: the readers of origins[0..n) (wait_told), or
 * (listers) every reader but origin that may answer from a listing read
 * before event seq (wait_listers). */
struct ack_query {
	const uint64_t *origins;
	size_t n;
	bool listers;
	uint64_t origin;
	uint64_t seq;
};

/* Under the lock: whether reader a is one q waits for and has not asked
 * past q->seq yet. A reader that has not polled lately is not followed
 * (its mount caches for a second). */
static bool ack_behind(const struct inval_ack *a, const struct ack_query *q, int64_t now)
{
	if (a->since >= q->seq || now - a->at_ms >= INVAL_WAIT_MAX_MS + INVAL_ACK_SLACK_MS)
		return false;
	if (a->late)
		return false;
	if (!q->listers)
		return ack_followed(a, q->origins, q->n);
	return a->origin && a->origin != q->origin && a->holds &&
	       a->listed_min < q->seq;
}

/* Wait (up to timeout_ms) until no reader is behind for q. A reader
 * still behind then is not waited for again until it polls: a mount that
 * does not answer its feed (paused, cut off) costs one wait, not one per
 * change of everybody else. */
static bool wait_acks(struct inval_log *l, const struct ack_query *q, int timeout_ms)
{
	struct timespec until = clock_deadline_ms(timeout_ms);
	bool all = false;
	pthread_mutex_lock(&l->lock);
	while (!all && !l->stopping) {
		int64_t now = clock_now_ms();
		all = true;
		for (size_t k = 0; k < INVAL_ACKS && all; k++)
			if (ack_behind(&l->acks[k], q, now))
				all = false;
		if (!all && pthread_cond_timedwait(&l->acked, &l->lock, &until) == ETIMEDOUT)
			break;
	}
	int64_t now = clock_now_ms();
	for (size_t k = 0; k < INVAL_ACKS && !all; k++)
		if (ack_behind(&l->acks[k], q, now))
			l->acks[k].late = true;
	pthread_mutex_unlock(&l->lock);
	return all;
}

bool inval_log_wait_listers(struct inval_log *l, uint64_t origin, uint64_t seq,
			    int timeout_ms)
{
	const struct ack_query q = { .listers = true, .origin = origin, .seq = seq };
	return wait_acks(l, &q, timeout_ms);
}

bool inval_log_wait_told(struct inval_log *l, const uint64_t *origins, size_t n, uint64_t seq,
			 int timeout_ms)
{
	const struct ack_query q = { .origins = origins, .n = n, .seq = seq };
	return wait_acks(l, &q, timeout_ms);
}

static bool sole_told(struct inval_log *l, uint64_t origin, inval_sole_fn eligible, void *arg);
static bool sole_ending(struct inval_log *l, uint64_t origin);
static bool sole_trusted(const struct inval_ack *a, int64_t now);

int inval_log_read(struct inval_log *l, uint64_t origin, uint64_t since, int wait_ms,
		   size_t max, json_t **ret_events, uint64_t *ret_last, bool *ret_reset)
{
	return inval_log_read_sole(l, origin, since, wait_ms, max, NULL, NULL, ret_events,
				   ret_last, ret_reset, NULL);
}

int inval_log_read_sole(struct inval_log *l, uint64_t origin, uint64_t since, int wait_ms,
			size_t max, inval_sole_fn eligible, void *arg, json_t **ret_events,
			uint64_t *ret_last, bool *ret_reset, bool *ret_sole)
{
	if (wait_ms > INVAL_WAIT_MAX_MS)
		wait_ms = INVAL_WAIT_MAX_MS;
	struct timespec until = clock_deadline_ms(wait_ms > 0 ? wait_ms : 0);
	pthread_mutex_lock(&l->lock);
	if (origin) {
		note_ack(l, origin, since);
		ack_of(l, origin)->polls++;
	}
	*ret_reset = false;
	*ret_events = NULL;
	int rc = 0;
	uint64_t wakes = l->wakes, given = 0;
	for (;;) {
		if (!kept_from(l, since)) {
			*ret_reset = true;
			*ret_last = given = l->last;
			rc = (*ret_events = json_pack("{s:[], s:[], s:[], s:[]}", "e", "i", "r", "rl")) ? 0
										    : -ENOMEM;
			break;
		}
		size_t n = 0;
		json_decref(*ret_events);
		*ret_events = NULL;
		rc = collect(l, origin, since, max, ret_events, ret_last, &n, &given);
		if (rc == 0 && n == 0 && origin)
			note_ack(l, origin, *ret_last);   /* only its own: nothing to tell */
		if (rc < 0 || n > 0 || wait_ms <= 0 || l->stopping || woken_since(l, wakes, origin) ||
		    sole_ending(l, origin))
			break;
		since = *ret_last;    /* only our own: skip them */
		struct inval_waiter me = { .origin = origin, .next = l->waiters };
		clock_cond_init(&me.cond);
		l->waiters = &me;
		int wrc = 0;
		while (!me.woken && wrc != ETIMEDOUT && !sole_ending(l, origin))
			wrc = pthread_cond_timedwait(&me.cond, &l->lock, &until);
		for (struct inval_waiter **p = &l->waiters; *p; p = &(*p)->next) {
			if (*p == &me) {
				*p = me.next;
				break;
			}
		}
		pthread_cond_destroy(&me.cond);
		if (!me.woken) {
			json_decref(*ret_events);
			rc = collect(l, origin, since, max, ret_events, ret_last, &n, &given);
			break;
		}
	}
	struct inval_ack *a = origin && given ? ack_of(l, origin) : NULL;
	if (a)
		a->given = given;   /* the mount drops its listings on this reply */
	if (ret_sole)
		*ret_sole = rc == 0 && sole_told(l, origin, eligible, arg);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* Under the lock: what a reply to origin's poll says of sole use, and
 * noted so (inval_log_sole_enter waits for what it grants). Judged now,
 * at the reply, under the lock: a change that entered (a session opened)
 * has left by then, or blocks the grant. */
static bool sole_told(struct inval_log *l, uint64_t origin, inval_sole_fn eligible, void *arg)
{
	struct inval_ack *a = origin ? ack_of(l, origin) : NULL;
	if (!a)
		return false;
	if (l->sole_blocks > 0 || l->stopping || !eligible || !eligible(arg, origin)) {
		a->told_not = a->polls;
		return false;
	}
	a->sole_until_ms = clock_now_ms() + INVAL_SOLE_TTL_MS;
	a->told_not = 0;
	return true;
}

/* Under the lock: whether reader a may still trust a grant: its time has
 * not run out and it has not polled again since a reply saying no. */
static bool sole_trusted(const struct inval_ack *a, int64_t now)
{
	return a->origin && a->sole_until_ms > now && !(a->told_not && a->polls > a->told_not);
}

bool inval_log_sole_enter(struct inval_log *l, uint64_t origin, bool floor, int timeout_ms)
{
	pthread_mutex_lock(&l->lock);
	int64_t now = clock_now_ms();
	struct inval_ack *own = origin ? ack_of(l, origin) : NULL;
	if (own && sole_trusted(own, now)) {
		/* the holder's own change: nobody else to tell */
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	l->sole_blocks++;
	/* every other holder is told now (its poll returns, saying no),
	 * and waited for until it polls again or its grant runs out */
	for (size_t k = 0; k < INVAL_ACKS; k++) {
		struct inval_ack *a = &l->acks[k];
		if (a != own && sole_trusted(a, now)) {
			a->told_not = 0;
			wake_origin(l, a->origin);
		}
	}
	int64_t deadline = now + timeout_ms;
	for (;;) {
		now = clock_now_ms();
		int64_t wait_until = floor && l->sole_floor_ms > now ? l->sole_floor_ms : 0;
		for (size_t k = 0; k < INVAL_ACKS; k++) {
			struct inval_ack *a = &l->acks[k];
			if (a != own && sole_trusted(a, now) && a->sole_until_ms > wait_until)
				wait_until = a->sole_until_ms;
		}
		if (!wait_until || now >= deadline || l->stopping)
			break;
		struct timespec t = clock_deadline_ms((wait_until < deadline ? wait_until : deadline) - now);
		pthread_cond_timedwait(&l->acked, &l->lock, &t);
	}
	pthread_mutex_unlock(&l->lock);
	return true;
}

/* Under the lock: whether origin's reader holds a grant that a
 * sole_enter waits to end: its poll answers now. */
static bool sole_ending(struct inval_log *l, uint64_t origin)
{
	struct inval_ack *a = origin && l->sole_blocks > 0 ? ack_of(l, origin) : NULL;
	return a && sole_trusted(a, clock_now_ms());
}

void inval_log_sole_leave(struct inval_log *l)
{
	pthread_mutex_lock(&l->lock);
	l->sole_blocks--;
	pthread_mutex_unlock(&l->lock);
}

void inval_log_sole_restarted(struct inval_log *l, bool restarted)
{
	pthread_mutex_lock(&l->lock);
	l->sole_floor_ms = restarted ? clock_now_ms() + INVAL_SOLE_TTL_MS : 0;
	pthread_mutex_unlock(&l->lock);
}
