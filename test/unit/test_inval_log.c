/* Unit tests of master/inval_log: what is published is read back in order
 * (entries, then inodes); a reader does not get its own origin's events
 * but its `last` moves past them, and its own events do not end its wait;
 * a note equal to the one before it in the same publish is kept once (in
 * a later publish it is a new change) and an inode is named once per
 * reply; `max` bounds a reply and `last` continues it; a wait with nothing
 * to read runs out, one with something to read ends at the publish, at
 * inval_log_stop or at an inval_log_wake of its own origin (not another's,
 * and two wakes in a row both arrive); a reader fallen out of the ring, or
 * asking from beyond the last event, is told to reset; origins and log
 * ids; the namespace hook publishes with this thread's origin; a change
 * waits for the mounts that may answer from a listing read before it. Everything
 * through the public API (inval_log.h). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../master/inval_log.h"
#include "clock.h"

#define OA 0xa1    /* two mounts' origins */
#define OB 0xb2

/* One read's answer. */
struct rd {
	char *e, *i, *r, *rl; /* the arrays, compact JSON */
	uint64_t last;
	bool reset;
	int64_t ms;           /* how long inval_log_read took */
};

static void rd_free(struct rd *r)
{
	free(r->e);
	free(r->i);
	free(r->r);
	free(r->rl);
	memset(r, 0, sizeof(*r));
}

static struct rd rd(struct inval_log *l, uint64_t origin, uint64_t since, int wait_ms,
		    size_t max)
{
	struct rd r = { 0 };
	json_t *ev = NULL;
	/* left as they are on a bad read: must be set by the call */
	r.last = 0xdead;
	r.reset = true;
	int64_t t0 = clock_now_ms();
	assert_int_equal(inval_log_read(l, origin, since, wait_ms, max, &ev, &r.last, &r.reset),
			 0);
	r.ms = clock_now_ms() - t0;
	assert_non_null(ev);
	assert_true(json_is_object(ev));
	assert_int_equal(json_object_size(ev), 4);
	json_t *e = json_object_get(ev, "e"), *i = json_object_get(ev, "i"),
	       *rc = json_object_get(ev, "r"), *rl = json_object_get(ev, "rl");
	assert_true(json_is_array(rl));
	r.rl = json_dumps(rl, JSON_COMPACT);
	assert_non_null(r.rl);
	assert_true(json_is_array(e));
	assert_true(json_is_array(i));
	assert_true(json_is_array(rc));
	r.e = json_dumps(e, JSON_COMPACT);
	r.i = json_dumps(i, JSON_COMPACT);
	r.r = json_dumps(rc, JSON_COMPACT);
	assert_non_null(r.e);
	assert_non_null(r.i);
	assert_non_null(r.r);
	json_decref(ev);
	return r;
}

static struct inval_log *mklog(size_t cap)
{
	struct inval_log *l = NULL;
	assert_int_equal(inval_log_new(cap, &l), 0);
	assert_non_null(l);
	return l;
}

static void pub_ino(struct inval_log *l, uint64_t origin, uint64_t ino)
{
	struct inval_note n = { .ino = ino, .name = NULL, .recall = INVAL_CHANGE };
	inval_log_publish(l, origin, &n, 1);
}

static void pub_ent(struct inval_log *l, uint64_t origin, uint64_t folder, const char *name)
{
	struct inval_note n = { .ino = folder, .name = name, .recall = INVAL_CHANGE };
	inval_log_publish(l, origin, &n, 1);
}

/* A name that is not UTF-8 (a Linux name is any bytes but NUL and '/')
 * travels as {"name_b64"}: a JSON string cannot hold it, and a read that
 * failed on it failed every later read too (every mount's feed down until
 * the ring had moved past it). The events around it come through. */
static void test_name_not_utf8(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	pub_ent(l, OA, 1, "ok");
	pub_ent(l, OA, 1, "caf\xe9");
	pub_ino(l, OA, 9);
	pub_ent(l, OA, 2, "\xff\xfe/x");
	struct rd r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.e, "[[1,\"ok\"],[1,{\"name_b64\":\"Y2Fm6Q==\"}],"
				 "[2,{\"name_b64\":\"//4veA==\"}]]");
	assert_string_equal(r.i, "[9]");
	assert_int_equal(r.last, 4);
	assert_false(r.reset);
	rd_free(&r);
	/* and from the bad name on, as a mount polls again */
	r = rd(l, OB, 1, 0, 100);
	assert_string_equal(r.e, "[[1,{\"name_b64\":\"Y2Fm6Q==\"}],[2,{\"name_b64\":\"//4veA==\"}]]");
	rd_free(&r);
	inval_log_free(l);
}

/* The last event another origin's reader gets: what an open names for
 * close-to-open (h_open's "feed"). */
static void test_last_other(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	assert_int_equal(inval_log_last_other(l, OA), 0);
	pub_ino(l, OA, 5);                          /* 1: A's */
	assert_int_equal(inval_log_last_other(l, OA), 0);
	assert_int_equal(inval_log_last_other(l, OB), 1);
	pub_ino(l, OB, 6);                          /* 2: B's */
	pub_ino(l, OA, 7);                          /* 3, 4, 5: A's */
	pub_ent(l, OA, 1, "x");
	pub_ino(l, OA, 8);
	assert_int_equal(inval_log_last_other(l, OA), 2);
	assert_int_equal(inval_log_last_other(l, OB), 5);
	assert_int_equal(inval_log_last_other(l, 0), 5);
	pub_ino(l, 0, 9);                           /* 6: an operator's: everybody's */
	assert_int_equal(inval_log_last_other(l, OA), 6);
	assert_int_equal(inval_log_last_other(l, OB), 6);
	/* what a reader of A is given ends there too */
	struct rd r = rd(l, OA, 0, 0, 100);
	assert_string_equal(r.i, "[6,9]");
	rd_free(&r);
	inval_log_free(l);
}

struct told_arg {
	struct inval_log *l;
	uint64_t origins[2];
	uint64_t seq;
	bool ok;
};

static void *wait_told_main(void *p)
{
	struct told_arg *a = p;
	a->ok = inval_log_wait_told(a->l, a->origins, 2, a->seq, 5000);
	return NULL;
}

/* A commit waits until the readers that poll have asked past its event
 * (inval_log_wait_told); one that never polled is not waited for; one
 * that stays behind makes the wait run out, and is then not waited for
 * again until it polls. */
/* A recall names a folder in "r" only: no change (not in "e" or "i"),
 * not merged with an attribute event of the same folder, still one event
 * a reader's poll past it acknowledges (inval_log_wait_told). */
static void test_recall(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	const struct inval_note notes[] = {
		{ 9, NULL, INVAL_RECALL }, { 9, NULL, INVAL_CHANGE }, { 9, NULL, INVAL_RECALL },
		{ 4, "x", INVAL_CHANGE }, { 9, NULL, INVAL_RECALL_LISTING },
	};
	struct rd r = rd(l, OB, 0, 0, 100);   /* B follows the feed from 0 */
	rd_free(&r);
	inval_log_publish(l, OA, notes, 5);
	assert_int_equal(inval_log_last(l), 5);
	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.r, "[9,9]");
	assert_string_equal(r.rl, "[9]");
	assert_string_equal(r.i, "[9]");
	assert_string_equal(r.e, "[[4,\"x\"]]");
	assert_int_equal(r.last, 5);
	rd_free(&r);
	/* its maker does not get it; a wait for B ends at B's next poll */
	r = rd(l, OA, 0, 0, 100);
	assert_string_equal(r.r, "[]");
	assert_string_equal(r.rl, "[]");
	rd_free(&r);
	uint64_t only_b[1] = { OB };
	assert_false(inval_log_wait_told(l, only_b, 1, 5, 30));
	r = rd(l, OB, 5, 0, 0);
	rd_free(&r);
	assert_true(inval_log_wait_told(l, only_b, 1, 5, 0));
	inval_log_free(l);
}

static void test_wait_told(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	uint64_t both[2] = { OA, OB };
	/* nobody polls yet: nothing to wait for */
	assert_true(inval_log_wait_told(l, both, 2, 0, 0));
	pub_ino(l, OA, 5);
	assert_true(inval_log_wait_told(l, both, 2, 1, 0));
	/* A and B poll at 0: both behind event 1 */
	struct rd r = rd(l, OA, 0, 0, 100);
	rd_free(&r);
	r = rd(l, OB, 0, 0, 100);
	rd_free(&r);
	assert_false(inval_log_wait_told(l, both, 2, 1, 30));
	/* both ran late: not waited for again until they poll */
	assert_true(inval_log_wait_told(l, both, 2, 1, 5000));
	/* A asks past it; B polls again, still behind: waited for again */
	r = rd(l, OA, 1, 0, 100);
	rd_free(&r);
	r = rd(l, OB, 0, 0, 100);
	rd_free(&r);
	assert_false(inval_log_wait_told(l, both, 2, 1, 30));
	uint64_t only_a[1] = { OA };
	assert_true(inval_log_wait_told(l, only_a, 1, 1, 0));
	r = rd(l, OB, 0, 0, 100);     /* B polls: followed again */
	rd_free(&r);
	/* a waiter is woken by B's next poll */
	struct told_arg a = { .l = l, .origins = { OA, OB }, .seq = 1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_told_main, &a), 0);
	struct timespec pause = { 0, 50 * 1000000L };
	nanosleep(&pause, NULL);
	r = rd(l, OB, 1, 0, 100);
	rd_free(&r);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(a.ok);
	inval_log_free(l);
}

/* A mount's own changes are never sent to its feed, nor wake its poll:
 * a wait for its feed is over once every event after its last poll is
 * its own (a recall answered, then its own commit published before the
 * wait began, kept the recall's caller waiting the whole 2.5 s), and a
 * poll that finds only its own events acknowledges them. */
static void test_own_changes_need_no_ack(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	uint64_t only_a[1] = { OA };
	struct rd r = rd(l, OA, 0, 0, 100);   /* A follows from 0 */
	rd_free(&r);
	pub_ino(l, OA, 5);
	pub_ent(l, OA, 1, "x");
	assert_true(inval_log_wait_told(l, only_a, 1, 2, 30));
	/* another's change after them: A is behind until it asks past it */
	pub_ino(l, OB, 6);
	pub_ino(l, OA, 7);
	assert_false(inval_log_wait_told(l, only_a, 1, 4, 30));
	r = rd(l, OA, 0, 0, 100);
	assert_string_equal(r.i, "[6]");
	assert_int_equal(r.last, 4);   /* its own 4 skipped */
	rd_free(&r);
	r = rd(l, OA, 3, 0, 100);      /* asked past B's only: its own 4 left */
	assert_string_equal(r.i, "[]");
	rd_free(&r);
	assert_true(inval_log_wait_told(l, only_a, 1, 4, 0));
	/* a poll that skips its own events acknowledges them: B waits for
	 * nothing though A's poll asked from before them */
	pub_ino(l, OA, 8);
	r = rd(l, OA, 4, 20, 100);
	rd_free(&r);
	assert_true(inval_log_wait_told(l, only_a, 1, 5, 0));
	inval_log_free(l);
}

/* A reply of recalls only (a word to one mount, no change) makes no
 * mount drop its listings: one that listed before it and took it is
 * still waited for by a later change of a name (inval_log_wait_listers). */
static void test_recalls_keep_listings(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct rd r = rd(l, OA, 0, 0, 100);
	rd_free(&r);
	inval_log_joined(l, OB);
	inval_log_listed(l, OB);                          /* B lists at 0 */
	const struct inval_note rc = { 7, NULL, INVAL_RECALL };
	inval_log_publish(l, OA, &rc, 1);                 /* 1 */
	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.r, "[7]");
	rd_free(&r);
	r = rd(l, OB, 1, 0, 100);                          /* B asks past it */
	rd_free(&r);
	pub_ent(l, OA, 7, "n");                            /* 2 */
	assert_false(inval_log_wait_listers(l, OA, 2, 30));
	/* a change in the reply: B's listing goes once it asks past it */
	r = rd(l, OB, 1, 0, 100);
	rd_free(&r);
	r = rd(l, OB, 2, 0, 100);
	rd_free(&r);
	pub_ent(l, OA, 7, "o");                            /* 3 */
	assert_true(inval_log_wait_listers(l, OA, 3, 0));
	inval_log_free(l);
}

struct listers_arg {
	struct inval_log *l;
	uint64_t seq;
	bool ok;
};

static void *wait_listers_main(void *p)
{
	struct listers_arg *a = p;
	a->ok = inval_log_wait_listers(a->l, OA, a->seq, 5000);
	return NULL;
}

/* Close-to-open for names (inval_log_wait_listers): a change of A waits
 * for B only while B may answer from a listing read before it, and only
 * until B's feed has brought it; B drops every listing read before
 * another client's change it was told of, and keeps one read after it.
 * A's own listings and a mount that never polled are not waited for. */
static void test_wait_listers(void **state)
{
	(void)state;
	struct inval_log *l = mklog(64);
	struct rd r = rd(l, OA, 0, 0, 100);
	rd_free(&r);
	inval_log_joined(l, OB);          /* B's first poll: from event 0 */
	pub_ent(l, OA, 1, "a");           /* 1 */
	assert_true(inval_log_wait_listers(l, OA, 1, 0));   /* no listings */
	inval_log_listed(l, OB);          /* B lists after event 1 */
	inval_log_listed(l, 0xc3);        /* never polled: not followed */
	assert_true(inval_log_wait_listers(l, OA, 1, 0));   /* it has event 1 */
	pub_ent(l, OA, 1, "b");           /* 2 */
	assert_false(inval_log_wait_listers(l, OA, 2, 30));
	assert_true(inval_log_wait_listers(l, OB, 2, 0));   /* its own change */
	/* B's feed brings events 1-2 (given 2) and B asks past them: its
	 * listing (read at 1) is gone */
	r = rd(l, OB, 0, 0, 100);
	assert_int_equal(r.last, 2);
	rd_free(&r);
	assert_false(inval_log_wait_listers(l, OA, 2, 30));  /* not asked past yet */
	r = rd(l, OB, 2, 0, 100);
	rd_free(&r);
	assert_true(inval_log_wait_listers(l, OA, 2, 0));
	pub_ent(l, OA, 1, "c");           /* 3: B holds nothing */
	assert_true(inval_log_wait_listers(l, OA, 3, 0));

	/* B reads a reply carrying event 3, lists again after it, then asks
	 * past 3: the new listing stays followed */
	r = rd(l, OB, 2, 0, 100);
	assert_int_equal(r.last, 3);
	rd_free(&r);
	inval_log_listed(l, OB);          /* at 3 */
	r = rd(l, OB, 3, 0, 100);
	rd_free(&r);
	assert_true(inval_log_wait_listers(l, OA, 3, 0));
	pub_ino(l, OA, 9);                /* 4 */
	assert_false(inval_log_wait_listers(l, OA, 4, 30));
	/* B did not answer: not waited for again until it polls */
	assert_true(inval_log_wait_listers(l, OA, 4, 0));
	r = rd(l, OB, 3, 0, 100);         /* polls again, told of nothing new */
	assert_int_equal(r.last, 4);
	rd_free(&r);
	assert_false(inval_log_wait_listers(l, OA, 4, 30));

	/* a waiter ends when B asks past the event */
	struct listers_arg a = { .l = l, .seq = 4 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_listers_main, &a), 0);
	struct timespec pause = { 0, 50 * 1000000L };
	nanosleep(&pause, NULL);
	r = rd(l, OB, 3, 0, 100);
	assert_int_equal(r.last, 4);
	rd_free(&r);
	r = rd(l, OB, 4, 0, 100);
	rd_free(&r);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(a.ok);

	/* B's own changes do not drop its listings; A's listing waits B */
	inval_log_listed(l, OB);          /* at 4 */
	inval_log_listed(l, OA);          /* at 4 */
	pub_ent(l, OB, 2, "x");           /* 5 */
	r = rd(l, OB, 4, 0, 100);         /* nothing for B: its own */
	assert_int_equal(r.last, 5);
	rd_free(&r);
	r = rd(l, OB, 5, 0, 100);
	rd_free(&r);
	pub_ent(l, OA, 2, "y");           /* 6 */
	assert_false(inval_log_wait_listers(l, OA, 6, 30));
	assert_false(inval_log_wait_listers(l, OB, 5, 30));  /* A behind 5 */
	/* B is told of event 6: nothing left to wait for */
	r = rd(l, OB, 5, 0, 100);
	rd_free(&r);
	r = rd(l, OB, 6, 0, 100);
	rd_free(&r);
	assert_true(inval_log_wait_listers(l, OA, 6, 0));
	inval_log_free(l);
}

static void test_publish_then_read(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	assert_int_equal(inval_log_last(l), 0);
	struct rd r = rd(l, 0, 0, 0, 100);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 0);
	assert_false(r.reset);
	rd_free(&r);

	char name[] = "a";
	const struct inval_note notes[] = {
		{ 1, name, INVAL_CHANGE }, { 5, NULL, INVAL_CHANGE }, { 2, "b", INVAL_CHANGE }, { 7, NULL, INVAL_CHANGE },
	};
	inval_log_publish(l, OA, notes, 4);
	name[0] = 'z';            /* the log keeps its own copy of names */
	inval_log_publish(l, OA, notes, 0);         /* nothing */
	assert_int_equal(inval_log_last(l), 4);

	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.e, "[[1,\"a\"],[2,\"b\"]]");
	assert_string_equal(r.i, "[5,7]");
	assert_int_equal(r.last, 4);
	assert_false(r.reset);
	rd_free(&r);
	/* from the middle: only what follows */
	r = rd(l, OB, 2, 0, 100);
	assert_string_equal(r.e, "[[2,\"b\"]]");
	assert_string_equal(r.i, "[7]");
	assert_int_equal(r.last, 4);
	rd_free(&r);
	/* nothing new */
	r = rd(l, OB, 4, 0, 100);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 4);
	assert_false(r.reset);
	rd_free(&r);
	inval_log_free(l);
	inval_log_free(NULL);
}

static void test_own_origin_skipped(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	pub_ent(l, OA, 1, "x");
	pub_ino(l, OB, 9);
	pub_ino(l, OA, 10);
	pub_ent(l, 0, 3, "op");   /* an operator's: everybody's */
	pub_ino(l, OA, 11);

	struct rd r = rd(l, OA, 0, 0, 100);
	assert_string_equal(r.e, "[[3,\"op\"]]");
	assert_string_equal(r.i, "[9]");
	assert_int_equal(r.last, 5);         /* past its own last one */
	rd_free(&r);
	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.e, "[[1,\"x\"],[3,\"op\"]]");
	assert_string_equal(r.i, "[10,11]");
	assert_int_equal(r.last, 5);
	rd_free(&r);
	/* origin 0 (no mount) gets everything */
	r = rd(l, 0, 0, 0, 100);
	assert_string_equal(r.e, "[[1,\"x\"],[3,\"op\"]]");
	assert_string_equal(r.i, "[9,10,11]");
	rd_free(&r);

	/* only own events after since: empty, but last moves on */
	pub_ino(l, OA, 12);
	pub_ent(l, OA, 1, "y");
	r = rd(l, OA, 5, 0, 100);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 7);
	assert_false(r.reset);
	rd_free(&r);
	inval_log_free(l);
}

static void test_duplicates(void **state)
{
	(void)state;
	struct inval_log *l = mklog(64);
	const struct inval_note dup[] = {
		{ 3, "n", INVAL_CHANGE }, { 3, "n", INVAL_CHANGE }, { 4, NULL, INVAL_CHANGE }, { 4, NULL, INVAL_CHANGE },
	};
	inval_log_publish(l, OA, dup, 4);
	assert_int_equal(inval_log_last(l), 2);
	struct rd r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.e, "[[3,\"n\"]]");
	assert_string_equal(r.i, "[4]");
	assert_int_equal(r.last, 2);
	rd_free(&r);
	/* the same as the last one, in a later publish: a new change, which
	 * a reader that has read up to the last one must still get */
	pub_ino(l, OA, 4);
	assert_int_equal(inval_log_last(l), 3);
	r = rd(l, OB, 2, 0, 100);
	assert_string_equal(r.i, "[4]");
	assert_int_equal(r.last, 3);
	rd_free(&r);
	/* not the same: another name, another folder, entry vs inode */
	const struct inval_note differ[] = {
		{ 4, "n", INVAL_CHANGE }, { 4, "m", INVAL_CHANGE }, { 5, "m", INVAL_CHANGE }, { 5, NULL, INVAL_CHANGE },
	};
	inval_log_publish(l, OA, differ, 4);
	assert_int_equal(inval_log_last(l), 7);
	/* the same note from another origin is another event: each reader
	 * must get the other's */
	pub_ino(l, OB, 5);
	assert_int_equal(inval_log_last(l), 8);
	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.e, "[[3,\"n\"],[4,\"n\"],[4,\"m\"],[5,\"m\"]]");
	assert_string_equal(r.i, "[4,5]");        /* 4 twice, once in the reply */
	assert_int_equal(r.last, 8);
	rd_free(&r);
	r = rd(l, OA, 7, 0, 100);
	assert_string_equal(r.i, "[5]");
	assert_int_equal(r.last, 8);
	rd_free(&r);

	/* inodes named again later, not next to each other: once per reply */
	pub_ino(l, OA, 20);
	pub_ino(l, OA, 21);
	pub_ino(l, OA, 20);
	pub_ent(l, OA, 1, "k");
	pub_ino(l, OA, 21);
	pub_ino(l, OA, 20);
	assert_int_equal(inval_log_last(l), 14);
	r = rd(l, OB, 8, 0, 100);
	assert_string_equal(r.i, "[20,21]");
	assert_string_equal(r.e, "[[1,\"k\"]]");
	assert_int_equal(r.last, 14);
	rd_free(&r);
	/* but in the next reply again */
	pub_ino(l, OA, 21);
	r = rd(l, OB, 14, 0, 100);
	assert_string_equal(r.i, "[21]");
	rd_free(&r);
	inval_log_free(l);
}

static void test_max_and_continue(void **state)
{
	(void)state;
	struct inval_log *l = mklog(64);
	for (uint64_t ino = 101; ino <= 110; ino++)
		pub_ino(l, OA, ino);
	struct rd r = rd(l, OB, 0, 0, 4);
	assert_string_equal(r.i, "[101,102,103,104]");
	assert_int_equal(r.last, 4);
	assert_false(r.reset);
	rd_free(&r);
	r = rd(l, OB, 4, 0, 4);
	assert_string_equal(r.i, "[105,106,107,108]");
	assert_int_equal(r.last, 8);
	rd_free(&r);
	r = rd(l, OB, 8, 0, 4);
	assert_string_equal(r.i, "[109,110]");
	assert_int_equal(r.last, 10);
	rd_free(&r);
	/* the reader's own events do not count against max */
	pub_ino(l, OB, 200);
	pub_ino(l, OB, 201);
	pub_ino(l, OA, 202);
	pub_ino(l, OA, 203);
	r = rd(l, OB, 10, 0, 1);
	assert_string_equal(r.i, "[202]");
	assert_int_equal(r.last, 13);
	rd_free(&r);
	inval_log_free(l);
}

static void test_wait_runs_out(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct rd r = rd(l, OA, 0, 250, 100);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 0);
	assert_false(r.reset);
	assert_true(r.ms >= 240);
	assert_true(r.ms < 1500);
	rd_free(&r);
	/* with events, all read already */
	pub_ino(l, OB, 1);
	r = rd(l, OA, 1, 200, 100);
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 1);
	assert_true(r.ms >= 190);
	assert_true(r.ms < 1500);
	rd_free(&r);
	/* something to read: no wait at all */
	pub_ino(l, OB, 2);
	r = rd(l, OA, 1, 5000, 100);
	assert_string_equal(r.i, "[2]");
	assert_true(r.ms < 1000);
	rd_free(&r);
	inval_log_free(l);
}

struct reader {
	struct inval_log *l;
	uint64_t origin, since;
	int wait_ms;
	struct rd r;
};

static void *reader_main(void *arg)
{
	struct reader *rr = arg;
	rr->r = rd(rr->l, rr->origin, rr->since, rr->wait_ms, 100);
	return NULL;
}

static void start_reader(pthread_t *t, struct reader *rr)
{
	assert_int_equal(pthread_create(t, NULL, reader_main, rr), 0);
	/* the reader is waiting by now (if not, it finds the events at once
	 * and the test is merely weaker) */
	usleep(150 * 1000);
}

static void test_publish_wakes_reader(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	pub_ino(l, OB, 1);
	struct reader rr = { .l = l, .origin = OA, .since = 1, .wait_ms = 5000 };
	pthread_t t;
	int64_t t0 = clock_now_ms();
	start_reader(&t, &rr);
	pub_ent(l, OB, 7, "woke");
	assert_int_equal(pthread_join(t, NULL), 0);
	int64_t took = clock_now_ms() - t0;
	assert_string_equal(rr.r.e, "[[7,\"woke\"]]");
	assert_string_equal(rr.r.i, "[]");
	assert_int_equal(rr.r.last, 2);
	assert_false(rr.r.reset);
	assert_true(took < 1500);         /* not at the end of its 5 s */
	rd_free(&rr.r);
	inval_log_free(l);
}

/* A reader's own events wake it, but it waits on: they are not news to it. */
static void test_own_events_keep_waiting(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct reader rr = { .l = l, .origin = OA, .since = 0, .wait_ms = 600 };
	pthread_t t;
	int64_t t0 = clock_now_ms();
	start_reader(&t, &rr);
	pub_ino(l, OA, 3);
	pub_ent(l, OA, 3, "mine");
	assert_int_equal(pthread_join(t, NULL), 0);
	int64_t took = clock_now_ms() - t0;
	assert_string_equal(rr.r.e, "[]");
	assert_string_equal(rr.r.i, "[]");
	assert_int_equal(rr.r.last, 2);   /* past them all the same */
	assert_false(rr.r.reset);
	assert_true(took >= 590);
	rd_free(&rr.r);

	/* and another's event after its own still ends the wait at once */
	rr = (struct reader){ .l = l, .origin = OA, .since = 2, .wait_ms = 5000 };
	t0 = clock_now_ms();
	start_reader(&t, &rr);
	pub_ino(l, OA, 4);
	pub_ino(l, OB, 5);
	assert_int_equal(pthread_join(t, NULL), 0);
	took = clock_now_ms() - t0;
	assert_string_equal(rr.r.i, "[5]");
	assert_int_equal(rr.r.last, 4);
	assert_true(took < 1500);
	rd_free(&rr.r);
	inval_log_free(l);
}

static void test_stop_wakes_reader(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct reader rr = { .l = l, .origin = OA, .since = 0, .wait_ms = 5000 };
	pthread_t t;
	int64_t t0 = clock_now_ms();
	start_reader(&t, &rr);
	inval_log_stop(l);
	assert_int_equal(pthread_join(t, NULL), 0);
	int64_t took = clock_now_ms() - t0;
	assert_string_equal(rr.r.e, "[]");
	assert_string_equal(rr.r.i, "[]");
	assert_int_equal(rr.r.last, 0);
	assert_false(rr.r.reset);
	assert_true(took < 1500);
	rd_free(&rr.r);
	/* stopped: later readers do not wait either */
	struct rd r = rd(l, OA, 0, 5000, 100);
	assert_true(r.ms < 1000);
	assert_string_equal(r.i, "[]");
	rd_free(&r);
	inval_log_free(l);
}

/* inval_log_wake(origin): that origin's waiting readers return at once,
 * others wait on; a wake before a read does not cut that read short. */
static void test_wake_ends_own_poll_only(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct reader ra = { .l = l, .origin = OA, .since = 0, .wait_ms = 5000 };
	struct reader rb = { .l = l, .origin = OB, .since = 0, .wait_ms = 1200 };
	pthread_t ta, tb;
	int64_t t0 = clock_now_ms();
	assert_int_equal(pthread_create(&tb, NULL, reader_main, &rb), 0);
	start_reader(&ta, &ra);
	inval_log_wake(l, OA);
	assert_int_equal(pthread_join(ta, NULL), 0);
	int64_t took_a = clock_now_ms() - t0;
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_true(took_a < 1000);               /* not its 5 s */
	assert_string_equal(ra.r.i, "[]");
	assert_false(ra.r.reset);
	assert_true(rb.r.ms >= 1190);              /* B waited its whole time */
	rd_free(&ra.r);
	rd_free(&rb.r);
	/* a wake that came before the read: the read waits as asked */
	inval_log_wake(l, OA);
	struct rd r = rd(l, OA, 0, 300, 100);
	assert_true(r.ms >= 290);
	rd_free(&r);
	/* and events still end a woken origin's later waits */
	struct reader rc = { .l = l, .origin = OA, .since = 0, .wait_ms = 5000 };
	t0 = clock_now_ms();
	start_reader(&ta, &rc);
	pub_ino(l, OB, 6);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_true(clock_now_ms() - t0 < 1500);
	assert_string_equal(rc.r.i, "[6]");
	rd_free(&rc.r);
	inval_log_free(l);
}

/* Two mounts going away at the same moment: each one's poll ends. */
static void test_two_wakes_at_once(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	struct reader ra = { .l = l, .origin = OA, .since = 0, .wait_ms = 3000 };
	pthread_t ta;
	start_reader(&ta, &ra);
	int64_t t0 = clock_now_ms();
	inval_log_wake(l, OA);
	inval_log_wake(l, OB);
	assert_int_equal(pthread_join(ta, NULL), 0);
	int64_t took = clock_now_ms() - t0;
	assert_true(took < 1000);
	rd_free(&ra.r);
	inval_log_free(l);
}

static void test_ring_overflow_resets(void **state)
{
	(void)state;
	struct inval_log *l = mklog(8);
	for (uint64_t ino = 1; ino <= 8; ino++)
		pub_ino(l, OB, ino);
	/* exactly cap behind: all still there */
	struct rd r = rd(l, OA, 0, 0, 100);
	assert_false(r.reset);
	assert_string_equal(r.i, "[1,2,3,4,5,6,7,8]");
	assert_int_equal(r.last, 8);
	rd_free(&r);
	pub_ent(l, OB, 9, "nine");
	/* event 1 is gone: the reader from 0 must forget everything */
	r = rd(l, OA, 0, 0, 100);
	assert_true(r.reset);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_int_equal(r.last, 9);
	rd_free(&r);
	/* and it does not wait for that */
	r = rd(l, OA, 0, 5000, 100);
	assert_true(r.reset);
	assert_true(r.ms < 1000);
	rd_free(&r);
	/* from 1: events 2..9 are kept */
	r = rd(l, OA, 1, 0, 100);
	assert_false(r.reset);
	assert_string_equal(r.i, "[2,3,4,5,6,7,8]");
	assert_string_equal(r.e, "[[9,\"nine\"]]");
	assert_int_equal(r.last, 9);
	rd_free(&r);
	/* far behind, wrapped several times */
	for (uint64_t ino = 10; ino <= 40; ino++)
		pub_ino(l, OB, ino);
	r = rd(l, OA, 9, 0, 100);
	assert_true(r.reset);
	assert_int_equal(r.last, 40);
	rd_free(&r);
	r = rd(l, OA, 32, 0, 100);
	assert_false(r.reset);
	assert_string_equal(r.i, "[33,34,35,36,37,38,39,40]");
	rd_free(&r);
	inval_log_free(l);
}

static void test_since_beyond_last_resets(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	pub_ino(l, OB, 1);
	pub_ino(l, OB, 2);
	struct rd r = rd(l, OA, 5, 5000, 100);    /* from another log's numbers */
	assert_true(r.reset);
	assert_int_equal(r.last, 2);
	assert_string_equal(r.e, "[]");
	assert_string_equal(r.i, "[]");
	assert_true(r.ms < 1000);
	rd_free(&r);
	r = rd(l, OA, 3, 0, 100);
	assert_true(r.reset);
	rd_free(&r);
	r = rd(l, OA, 2, 0, 100);
	assert_false(r.reset);
	rd_free(&r);
	inval_log_free(l);
}

static void test_origin_and_id(void **state)
{
	(void)state;
	assert_int_equal(inval_origin(NULL), 0);
	assert_int_equal(inval_origin(""), 0);
	uint64_t a = inval_origin("sess-a"), b = inval_origin("sess-b");
	assert_true(a != 0);
	assert_true(b != 0);
	assert_true(a != b);
	assert_true(inval_origin("sess-a") == a);
	assert_true(inval_origin("x") != 0);

	struct inval_log *l1 = mklog(0), *l2 = mklog(0);   /* 0: the default */
	const char *id1 = inval_log_id(l1), *id2 = inval_log_id(l2);
	assert_non_null(id1);
	assert_true(strlen(id1) > 0);
	assert_string_not_equal(id1, id2);
	/* the default capacity: INVAL_LOG_CAP_DEFAULT events are kept */
	for (uint64_t ino = 1; ino <= INVAL_LOG_CAP_DEFAULT; ino++)
		pub_ino(l1, OB, ino);
	struct rd r = rd(l1, OA, 0, 0, 1);
	assert_false(r.reset);
	assert_string_equal(r.i, "[1]");
	rd_free(&r);
	pub_ino(l1, OB, 0);
	r = rd(l1, OA, 0, 0, 1);
	assert_true(r.reset);
	rd_free(&r);
	inval_log_free(l1);
	inval_log_free(l2);
}

struct hook_arg {
	struct inval_log *l;
	uint64_t origin;
};

static void *hook_thread(void *arg)
{
	struct hook_arg *h = arg;
	static const struct inval_note n = { 77, NULL, INVAL_CHANGE };
	inval_set_origin(h->origin);
	inval_log_ns_hook(h->l, &n, 1);
	inval_set_origin(0);
	return NULL;
}

/* The namespace hook publishes with the origin its thread set, and that
 * origin belongs to the thread. */
static void test_hook_uses_thread_origin(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	inval_set_origin(OB);
	struct hook_arg h = { l, OA };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, hook_thread, &h), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	static const struct inval_note n = { 88, "b", INVAL_CHANGE };
	inval_log_ns_hook(l, &n, 1);              /* this thread: OB */
	inval_set_origin(0);
	static const struct inval_note o = { 99, NULL, INVAL_CHANGE };
	inval_log_ns_hook(l, &o, 1);              /* nobody's */
	assert_int_equal(inval_log_last(l), 3);
	struct rd r = rd(l, OA, 0, 0, 100);
	assert_string_equal(r.i, "[99]");
	assert_string_equal(r.e, "[[88,\"b\"]]");
	rd_free(&r);
	r = rd(l, OB, 0, 0, 100);
	assert_string_equal(r.i, "[77,99]");
	assert_string_equal(r.e, "[]");
	rd_free(&r);
	inval_log_free(l);
}

/* ---- sole use ------------------------------------------------------------ */

/* inval_sole_fn: what *arg says (a session came or went meanwhile). */
static bool flag_set(void *arg, uint64_t origin)
{
	(void)origin;
	return *(volatile bool *)arg;
}

/* One poll of origin, eligible while *eligible: whether its reply says
 * sole, and how long it took. */
static bool sole_poll(struct inval_log *l, uint64_t origin, int wait_ms, bool *eligible,
		      int64_t *ms)
{
	json_t *ev = NULL;
	uint64_t last;
	bool reset, sole = !*eligible;   /* must be set by the call */
	int64_t t0 = clock_now_ms();
	assert_int_equal(inval_log_read_sole(l, origin, 0, wait_ms, 100, flag_set, eligible, &ev,
					     &last, &reset, &sole),
			 0);
	if (ms)
		*ms = clock_now_ms() - t0;
	json_decref(ev);
	return sole;
}

static bool sole_read(struct inval_log *l, uint64_t origin, bool eligible)
{
	return sole_poll(l, origin, 0, &eligible, NULL);
}

/* A poll on a thread of its own. */
struct sole_reader {
	struct inval_log *l;
	uint64_t origin;
	int wait_ms;
	bool eligible;
	bool sole;
	int64_t ms;
};

static void *sole_reader_main(void *arg)
{
	struct sole_reader *sr = arg;
	sr->sole = sole_poll(sr->l, sr->origin, sr->wait_ms, &sr->eligible, &sr->ms);
	return NULL;
}

struct sole_enterer {
	struct inval_log *l;
	uint64_t origin;
	bool floor, held;
	int64_t ms;
};

static void *sole_enter_main(void *arg)
{
	struct sole_enterer *se = arg;
	int64_t t0 = clock_now_ms();
	se->held = inval_log_sole_enter(se->l, se->origin, se->floor, 10000);
	se->ms = clock_now_ms() - t0;
	return NULL;
}

/* A grant is given only while eligible and nobody is entering; the
 * holder's own change passes without waiting, anyone else's ends the
 * holder's long poll at once (saying no) and waits until the holder
 * polls again — not for the grant's whole time. */
static void test_sole_grant_and_end(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	inval_log_sole_restarted(l, false);
	assert_false(sole_read(l, OA, false));
	assert_true(sole_read(l, OA, true));
	/* its own change: nothing to wait for, nothing to leave */
	int64_t t0 = clock_now_ms();
	assert_false(inval_log_sole_enter(l, OA, true, 10000));
	assert_true(clock_now_ms() - t0 < 100);

	/* the holder waits in its poll; B's change comes */
	struct sole_reader ra = { .l = l, .origin = OA, .wait_ms = 5000, .eligible = true };
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, sole_reader_main, &ra), 0);
	usleep(150 * 1000);
	struct sole_enterer eb = { .l = l, .origin = OB };
	assert_int_equal(pthread_create(&tb, NULL, sole_enter_main, &eb), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_false(ra.sole);                  /* told: no more */
	assert_true(ra.ms < 1500);              /* at once, not after 5 s */
	usleep(300 * 1000);
	/* B still waits: A has not polled since it was told */
	assert_int_equal(pthread_tryjoin_np(tb, NULL), EBUSY);
	/* A polls again (it heard): B goes on; A gets no grant meanwhile */
	struct sole_reader ra2 = { .l = l, .origin = OA, .wait_ms = 400, .eligible = true };
	assert_int_equal(pthread_create(&ta, NULL, sole_reader_main, &ra2), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_true(eb.held);
	assert_true(eb.ms < INVAL_SOLE_TTL_MS - 500);   /* not the grant's time */
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_false(ra2.sole);                 /* B's change still running */
	inval_log_sole_leave(l);
	assert_true(sole_read(l, OA, true));
	inval_log_free(l);
}

/* Whether a poll's reply grants is judged as the reply is made, not when
 * the poll came: a session that opened while it waited counts. */
static void test_sole_judged_at_reply(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	inval_log_sole_restarted(l, false);
	struct sole_reader jr = { .l = l, .origin = OA, .wait_ms = 500, .eligible = true };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, sole_reader_main, &jr), 0);
	usleep(150 * 1000);
	*(volatile bool *)&jr.eligible = false;   /* another session came meanwhile */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(jr.sole);
	inval_log_free(l);
}

/* A holder that does not poll again (paused, cut off) is waited for
 * until its grant runs out, counted from the reply that granted it. */
static void test_sole_runs_out(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);
	inval_log_sole_restarted(l, false);
	assert_true(sole_read(l, OA, true));
	int64_t granted = clock_now_ms();
	struct sole_enterer eb = { .l = l, .origin = OB };
	sole_enter_main(&eb);
	int64_t waited = clock_now_ms() - granted;
	assert_true(eb.held);
	assert_true(waited >= INVAL_SOLE_TTL_MS - 50);
	assert_true(waited < INVAL_SOLE_TTL_MS + 1000);
	inval_log_sole_leave(l);
	/* an origin that never held one, nor anyone: no wait */
	int64_t t0 = clock_now_ms();
	assert_true(inval_log_sole_enter(l, OB, false, 10000));
	inval_log_sole_leave(l);
	assert_true(clock_now_ms() - t0 < 100);
	inval_log_free(l);
}

/* A restarted master does not know what the one before granted: a
 * change that asks for the floor waits until INVAL_SOLE_TTL_MS after the
 * start; one that does not, and a fresh cluster's, pass at once. */
static void test_sole_floor(void **state)
{
	(void)state;
	struct inval_log *l = mklog(16);   /* restarted unless told otherwise */
	int64_t t0 = clock_now_ms();
	assert_true(inval_log_sole_enter(l, OB, false, 10000));
	inval_log_sole_leave(l);
	assert_true(clock_now_ms() - t0 < 100);
	assert_true(inval_log_sole_enter(l, OB, true, 10000));
	inval_log_sole_leave(l);
	int64_t waited = clock_now_ms() - t0;
	assert_true(waited >= INVAL_SOLE_TTL_MS - 100);
	assert_true(waited < INVAL_SOLE_TTL_MS + 1000);
	inval_log_free(l);

	l = mklog(16);
	inval_log_sole_restarted(l, false);
	t0 = clock_now_ms();
	assert_true(inval_log_sole_enter(l, OB, true, 10000));
	inval_log_sole_leave(l);
	assert_true(clock_now_ms() - t0 < 100);
	inval_log_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_then_read),
		cmocka_unit_test(test_name_not_utf8),
		cmocka_unit_test(test_last_other),
		cmocka_unit_test(test_wait_told),
		cmocka_unit_test(test_recall),
		cmocka_unit_test(test_own_changes_need_no_ack),
		cmocka_unit_test(test_recalls_keep_listings),
		cmocka_unit_test(test_wait_listers),
		cmocka_unit_test(test_own_origin_skipped),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_max_and_continue),
		cmocka_unit_test(test_wait_runs_out),
		cmocka_unit_test(test_publish_wakes_reader),
		cmocka_unit_test(test_own_events_keep_waiting),
		cmocka_unit_test(test_stop_wakes_reader),
		cmocka_unit_test(test_wake_ends_own_poll_only),
		cmocka_unit_test(test_two_wakes_at_once),
		cmocka_unit_test(test_ring_overflow_resets),
		cmocka_unit_test(test_since_beyond_last_resets),
		cmocka_unit_test(test_origin_and_id),
		cmocka_unit_test(test_hook_uses_thread_origin),
		cmocka_unit_test(test_sole_grant_and_end),
		cmocka_unit_test(test_sole_runs_out),
		cmocka_unit_test(test_sole_judged_at_reply),
		cmocka_unit_test(test_sole_floor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
