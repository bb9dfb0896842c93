/* Unit tests of master/session (with locks and the namespace on a real
 * SQLite file in a temporary folder): session ids, open/close accounting
 * per (session, inode), unknown and dead sessions (ESTALE), expiry after
 * the timeout releasing opens and locks, heartbeats keeping a session
 * alive, locks between sessions and F_GETLK pids per host, locks declared
 * again at session open (and accepted during the lock grace period),
 * which unlinked inodes are kept. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "../../master/locks.h"
#include "../../master/session.h"
#include "clock.h"
#include "log.h"
#include "ns_fixture.h"

#define TIMEOUT_MS 300

struct fixture {
	struct ns_fixture n;
	struct locks *lk;
	struct sess *s;
	uint64_t f1, f2, f3;
};

static uint64_t mkfile(struct fixture *f, const char *name)
{
	struct ns_attr a;
	bool created;
	assert_int_equal(ns_create(f->n.ns, 1, name, 0644, 0, 0, 0, true, &a, &created), 0);
	return a.ino;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	log_init("test_session", true, LOG_ERR);
	if (nsf_setup(&f->n, "sess") < 0 || locks_new(&f->lk) < 0 ||
	    sess_new(f->n.ns, f->n.cm, f->lk, TIMEOUT_MS, &f->s) < 0)
		return -1;
	f->f1 = mkfile(f, "f1");
	f->f2 = mkfile(f, "f2");
	f->f3 = mkfile(f, "f3");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sess_free(f->s);
	locks_free(f->lk);
	nsf_teardown(&f->n);
	free(f);
	return 0;
}

static struct sess_stats stats(struct fixture *f)
{
	struct sess_stats st;
	memset(&st, 0xff, sizeof(st));
	sess_stats(f->s, &st);
	return st;
}

/* Open session id on host declaring opens and locks; lost counts out. */
static int open_sess(struct fixture *f, const char *id, const char *host, const uint64_t *opens,
		     size_t nopens, const struct sess_decl_lock *locks, size_t nlocks,
		     size_t *ret_nlost, size_t *ret_lost_locks)
{
	uint64_t *lost = NULL;
	size_t nlost = 99, lost_locks = 99;
	int rc = sess_open(f->s, id, host, opens, nopens, locks, nlocks, &lost, &nlost,
			   &lost_locks);
	if (rc == 0) {
		if (ret_nlost)
			*ret_nlost = nlost;
		if (ret_lost_locks)
			*ret_lost_locks = lost_locks;
	}
	free(lost);
	return rc;
}

static int lock(struct fixture *f, const char *id, uint64_t ino, uint64_t owner, enum lk_type type,
		uint64_t start, uint64_t end)
{
	return sess_lock(f->s, id, ino, LK_POSIX, owner, 500 + (uint32_t)owner, type, start, end,
			 NULL, NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void test_ids(void **state)
{
	struct fixture *f = *state;
	char long_id[SESS_ID_MAX + 2];

	assert_true(sess_id_valid("a"));
	assert_true(sess_id_valid("Mount-1_x.y"));
	assert_false(sess_id_valid(""));
	assert_false(sess_id_valid("a b"));
	assert_false(sess_id_valid("a/b"));
	assert_false(sess_id_valid("\xc3\xa9"));
	memset(long_id, 'x', SESS_ID_MAX);
	long_id[SESS_ID_MAX] = '\0';
	assert_true(sess_id_valid(long_id));
	long_id[SESS_ID_MAX] = 'x';
	long_id[SESS_ID_MAX + 1] = '\0';
	assert_false(sess_id_valid(long_id));
	assert_int_equal(open_sess(f, long_id, NULL, NULL, 0, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(open_sess(f, "bad id", NULL, NULL, 0, NULL, 0, NULL, NULL), -EINVAL);
	char host[SESS_HOST_MAX + 2];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_int_equal(open_sess(f, "m1", host, NULL, 0, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(stats(f).sessions, 0);
	assert_int_equal(sess_timeout_ms(f->s), TIMEOUT_MS);
	assert_int_equal(sess_heartbeat_ms(f->s), 100);     /* a quarter, at least 100 */
}

static void test_open_close_accounting(void **state)
{
	struct fixture *f = *state;
	size_t nlost = 99, lost_locks = 99;
	uint64_t opens[] = { f->f1, f->f2, f->f1 };

	assert_int_equal(open_sess(f, "m1", "host", opens, 3, NULL, 0, &nlost, &lost_locks), 0);
	assert_int_equal(nlost, 0);
	assert_int_equal(lost_locks, 0);
	struct sess_stats st = stats(f);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.open_refs, 2);                  /* one per (session, inode) */
	assert_int_equal(st.locks, 0);
	/* declaring more adds to it; an inode that does not exist is lost */
	uint64_t more[] = { f->f3, 999999 };
	assert_int_equal(open_sess(f, "m1", "host", more, 2, NULL, 0, &nlost, NULL), 0);
	assert_int_equal(nlost, 1);
	assert_int_equal(stats(f).sessions, 1);             /* renewed, not a new one */
	assert_int_equal(stats(f).open_refs, 3);
	/* an open through the namespace counts once */
	assert_int_equal(ns_open(f->n.ns, f->f1, "m1"), 0);
	assert_int_equal(stats(f).open_refs, 3);
	/* another session's opens are its own */
	assert_int_equal(open_sess(f, "m2", "host", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(ns_open(f->n.ns, f->f1, "m2"), 0);
	st = stats(f);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.open_refs, 4);
	/* the mounts with a file open, by their change-feed origins: those
	 * a commit of it waits for (all but the committer's; unknown ones
	 * and other inodes' are not named) */
	uint64_t o[4];
	assert_int_equal(sess_open_elsewhere(f->s, f->f1, 0, o, 4), 0);   /* no origins yet */
	sess_set_origin(f->s, "m1", 0x11);
	sess_set_origin(f->s, "m2", 0x22);
	sess_set_origin(f->s, "nobody", 0x33);
	assert_int_equal(sess_open_elsewhere(f->s, f->f1, 0x11, o, 4), 1);
	assert_int_equal(o[0], 0x22);
	assert_int_equal(sess_open_elsewhere(f->s, f->f1, 0x99, o, 4), 2);
	assert_int_equal(sess_open_elsewhere(f->s, f->f1, 0x99, o, 1), 1);    /* up to max */
	assert_int_equal(sess_open_elsewhere(f->s, f->f3, 0x22, o, 4), 1);    /* m1's only */
	assert_int_equal(o[0], 0x11);
	assert_int_equal(sess_open_elsewhere(f->s, 424242, 0, o, 4), 0);
	/* a mount that answers creates itself is named by its origin once it
	 * said so; others, unknown ones and closed ones are not */
	assert_int_equal(sess_creates_behind_origin(f->s, "m1"), 0);
	sess_names_own(f->s, "m1");
	sess_names_own(f->s, "nobody");
	assert_int_equal(sess_creates_behind_origin(f->s, "m1"), 0x11);
	assert_int_equal(sess_creates_behind_origin(f->s, "m2"), 0);
	assert_int_equal(sess_creates_behind_origin(f->s, "nobody"), 0);
	/* closes come with heartbeats; closing what is not open is fine */
	uint64_t closes[] = { f->f1, f->f2, 424242 };
	assert_int_equal(sess_heartbeat(f->s, "m1", closes, 3), 0);
	assert_int_equal(stats(f).open_refs, 2);            /* m1: f3, m2: f1 */
	assert_int_equal(sess_heartbeat(f->s, "m1", closes, 3), 0);
	assert_int_equal(stats(f).open_refs, 2);
	/* closing a session releases its opens at once */
	assert_int_equal(sess_close(f->s, "m1"), 0);
	st = stats(f);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.open_refs, 1);
	assert_int_equal(sess_creates_behind_origin(f->s, "m1"), 0);
	assert_int_equal(sess_close(f->s, "m1"), 0);        /* unknown: not an error */
	assert_int_equal(sess_close(f->s, "m2"), 0);
	st = stats(f);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.open_refs, 0);
}

/* The unlink grace: only an inode whose name a rename replaced is kept
 * (openable by number) when nobody has it open; a plain unlink frees it at
 * once; an open one is kept either way. */
static void test_unlink_and_replace(void **state)
{
	struct fixture *f = *state;
	struct ns_attr a;

	assert_int_equal(open_sess(f, "m1", "host", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(ns_unlink(f->n.ns, 1, "f1"), 0);
	assert_int_equal(ns_getattr(f->n.ns, f->f1, &a), -ENOENT);
	assert_int_equal(ns_open(f->n.ns, f->f1, "m1"), -ENOENT);
	/* f3 over f2: the old f2 stays, nameless, for a late open */
	assert_int_equal(ns_rename(f->n.ns, 1, "f3", 1, "f2", 0), 0);
	assert_int_equal(ns_getattr(f->n.ns, f->f2, &a), 0);
	assert_int_equal(a.nlink, 0);
	assert_int_equal(ns_open(f->n.ns, f->f2, "m1"), 0);
	/* open, then unlinked: kept until the close */
	uint64_t g = mkfile(f, "g");
	assert_int_equal(ns_open(f->n.ns, g, "m1"), 0);
	assert_int_equal(ns_unlink(f->n.ns, 1, "g"), 0);
	assert_int_equal(ns_getattr(f->n.ns, g, &a), 0);
	assert_int_equal(a.nlink, 0);
	assert_int_equal(ns_lookup(f->n.ns, 1, "g", &a), -ENOENT);
}

static void test_unknown_sessions(void **state)
{
	struct fixture *f = *state;
	struct lk_range c;
	uint64_t closes[] = { f->f1 };

	assert_int_equal(sess_heartbeat(f->s, "nobody", closes, 1), -ESTALE);
	assert_int_equal(lock(f, "nobody", f->f1, 1, LK_WRLCK, 0, 9), -ESTALE);
	assert_int_equal(sess_lock_test(f->s, "nobody", f->f1, LK_POSIX, 1, LK_WRLCK, 0, 9, &c),
			 -ESTALE);
	assert_int_equal(ns_open(f->n.ns, f->f1, "nobody"), -ESTALE);
	assert_int_equal(sess_close(f->s, "nobody"), 0);
	struct sess_stats st = stats(f);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.open_refs, 0);
	assert_int_equal(st.locks, 0);
	/* a closed session is unknown */
	assert_int_equal(open_sess(f, "m1", NULL, NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "m1", f->f1, 1, LK_WRLCK, 0, 9), 0);
	assert_int_equal(sess_close(f->s, "m1"), 0);
	assert_int_equal(sess_heartbeat(f->s, "m1", NULL, 0), -ESTALE);
	assert_int_equal(lock(f, "m1", f->f1, 1, LK_UNLCK, 0, 9), -ESTALE);
	assert_int_equal(stats(f).locks, 0);
}

static void test_locks_between_sessions(void **state)
{
	struct fixture *f = *state;
	struct lk_range c;
	struct lk_range *held = NULL;
	size_t n = 0;

	assert_int_equal(open_sess(f, "m1", "hostA", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(open_sess(f, "m2", "hostA", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(open_sess(f, "m3", "hostB", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(sess_lock(f->s, "m1", f->f1, LK_POSIX, 7, 1234, LK_WRLCK, 10, 19, &held,
				   &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(held[0].start, 10);
	assert_int_equal(held[0].end, 19);
	free(held);
	/* the same owner number in another session is another owner */
	assert_int_equal(lock(f, "m2", f->f1, 7, LK_RDLCK, 15, 15), -EAGAIN);
	assert_int_equal(lock(f, "m2", f->f1, 7, LK_RDLCK, 20, 29), 0);
	/* F_GETLK: the pid only for the same machine */
	memset(&c, 0, sizeof(c));
	assert_int_equal(sess_lock_test(f->s, "m2", f->f1, LK_POSIX, 7, LK_WRLCK, 0, 99, &c), 1);
	assert_int_equal(c.pid, 1234);
	assert_int_equal(c.start, 10);
	assert_int_equal(c.end, 19);
	assert_int_equal(sess_lock_test(f->s, "m3", f->f1, LK_POSIX, 7, LK_WRLCK, 0, 15, &c), 1);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.start, 10);
	assert_int_equal(sess_lock_test(f->s, "m1", f->f1, LK_POSIX, 7, LK_WRLCK, 0, 19, &c), 0);
	assert_int_equal(stats(f).locks, 2);
	/* closing m1 frees its range */
	assert_int_equal(sess_close(f->s, "m1"), 0);
	assert_int_equal(stats(f).locks, 1);
	assert_int_equal(lock(f, "m3", f->f1, 7, LK_WRLCK, 0, 19), 0);
	assert_int_equal(lock(f, "m3", f->f1, 7, LK_WRLCK, 0, 20), -EAGAIN);
}

static void test_expiry_releases_opens_and_locks(void **state)
{
	struct fixture *f = *state;
	uint64_t opens[] = { f->f1, f->f2 };

	assert_int_equal(sess_start(f->s), 0);
	assert_int_equal(open_sess(f, "dies", "h", opens, 2, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "dies", f->f1, 1, LK_WRLCK, 0, LK_EOF), 0);
	assert_int_equal(sess_lock(f->s, "dies", f->f2, LK_FLOCK, 1, 0, LK_RDLCK, 0, 0, NULL, NULL),
			 0);
	assert_int_equal(open_sess(f, "lives", "h", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "lives", f->f1, 2, LK_WRLCK, 0, 0), -EAGAIN);
	int64_t t0 = clock_now_ms();
	/* "lives" heartbeats, "dies" does not: wait for the reaper */
	int64_t deadline = t0 + 10 * TIMEOUT_MS + 5000;
	struct sess_stats st = stats(f);
	while ((st.sessions != 1 || st.locks != 0 || st.open_refs != 0) &&
	       clock_now_ms() < deadline) {
		assert_int_equal(sess_heartbeat(f->s, "lives", NULL, 0), 0);
		sleep_ms(sess_heartbeat_ms(f->s) / 2);
		st = stats(f);
	}
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.locks, 0);
	assert_int_equal(st.open_refs, 0);
	assert_true(clock_now_ms() - t0 >= TIMEOUT_MS);
	/* "dies" is unknown now; its locks are free */
	assert_int_equal(sess_heartbeat(f->s, "dies", NULL, 0), -ESTALE);
	assert_int_equal(lock(f, "lives", f->f1, 2, LK_WRLCK, 0, 0), 0);
	assert_int_equal(sess_lock(f->s, "lives", f->f2, LK_FLOCK, 2, 0, LK_WRLCK, 0, 0, NULL,
				   NULL), 0);
	/* opened again, it is a new session with nothing */
	assert_int_equal(open_sess(f, "dies", "h", NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "dies", f->f1, 1, LK_UNLCK, 0, LK_EOF), 0);
	assert_int_equal(stats(f).locks, 2);
}

static void test_expired_is_gone_before_reaping(void **state)
{
	struct fixture *f = *state;
	uint64_t opens[] = { f->f1 };

	/* no reaper running: a session past its timeout is refused anyway */
	assert_int_equal(open_sess(f, "m1", NULL, opens, 1, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "m1", f->f1, 1, LK_WRLCK, 0, 9), 0);
	int64_t t0 = clock_now_ms();
	while (clock_now_ms() - t0 <= TIMEOUT_MS + 20)
		sleep_ms(TIMEOUT_MS / 4);
	assert_int_equal(sess_heartbeat(f->s, "m1", NULL, 0), -ESTALE);
	assert_int_equal(lock(f, "m1", f->f1, 1, LK_WRLCK, 0, 9), -ESTALE);
	assert_int_equal(ns_open(f->n.ns, f->f2, "m1"), -ESTALE);
	/* opening it again releases what the dead one held, then declares */
	struct sess_decl_lock l = { .ino = f->f1, .kind = LK_POSIX, .owner = 1, .pid = 9,
				    .type = LK_RDLCK, .start = 100, .end = 199 };
	size_t lost_locks = 99;
	assert_int_equal(open_sess(f, "m1", NULL, NULL, 0, &l, 1, NULL, &lost_locks), 0);
	assert_int_equal(lost_locks, 0);
	struct sess_stats st = stats(f);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.open_refs, 0);
	assert_int_equal(st.locks, 1);
	assert_int_equal(open_sess(f, "m2", NULL, NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_int_equal(lock(f, "m2", f->f1, 1, LK_WRLCK, 0, 99), 0);
	assert_int_equal(lock(f, "m2", f->f1, 1, LK_WRLCK, 150, 150), -EAGAIN);
}

/* Sole use (inval_log.h) is for the one live session: sess_only_origin
 * is true only while origin's is the only one, an expired one does not
 * count, and sess_origin_live names live origins only. */
static void test_only_origin(void **state)
{
	struct fixture *f = *state;
	assert_false(sess_only_origin(f->s, 0x11));
	assert_int_equal(open_sess(f, "m1", NULL, NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_false(sess_only_origin(f->s, 0x11));      /* origin not told yet */
	sess_set_origin(f->s, "m1", 0x11);
	assert_true(sess_only_origin(f->s, 0x11));
	assert_false(sess_only_origin(f->s, 0x22));
	assert_false(sess_only_origin(f->s, 0));
	assert_true(sess_origin_live(f->s, 0x11));
	assert_false(sess_origin_live(f->s, 0x22));
	assert_int_equal(open_sess(f, "m2", NULL, NULL, 0, NULL, 0, NULL, NULL), 0);
	sess_set_origin(f->s, "m2", 0x22);
	assert_false(sess_only_origin(f->s, 0x11));
	assert_false(sess_only_origin(f->s, 0x22));
	assert_int_equal(sess_close(f->s, "m2"), 0);
	assert_true(sess_only_origin(f->s, 0x11));
	/* expired: gone for both questions */
	int64_t t0 = clock_now_ms();
	while (clock_now_ms() - t0 <= TIMEOUT_MS + 20)
		sleep_ms(TIMEOUT_MS / 4);
	assert_false(sess_only_origin(f->s, 0x11));
	assert_false(sess_origin_live(f->s, 0x11));
}

static void test_declared_locks_and_grace(void **state)
{
	struct fixture *f = *state;
	size_t lost_locks = 99;

	/* after a master restart: m2 declares its range before m1 does */
	locks_set_grace(f->lk, 60000);
	struct sess_decl_lock decl[] = {
		{ .ino = f->f1, .kind = LK_POSIX, .owner = 1, .pid = 11, .type = LK_WRLCK,
		  .start = 0, .end = 9 },
		{ .ino = f->f1, .kind = LK_POSIX, .owner = 1, .pid = 11, .type = LK_RDLCK,
		  .start = 50, .end = 59 },
		{ .ino = f->f2, .kind = LK_FLOCK, .owner = 2, .pid = 11, .type = LK_WRLCK,
		  .start = 0, .end = LK_EOF },
	};
	assert_int_equal(open_sess(f, "m2", NULL, NULL, 0, &decl[1], 1, NULL, &lost_locks), 0);
	assert_int_equal(lost_locks, 0);
	/* new requests wait for the grace period; declarations do not */
	assert_int_equal(sess_lock(f->s, "m2", f->f1, LK_POSIX, 5, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_NEW), 200, 200, NULL, NULL),
			 -EAGAIN);
	assert_int_equal(open_sess(f, "m1", NULL, NULL, 0, decl, 3, NULL, &lost_locks), 0);
	assert_int_equal(lost_locks, 0);                    /* read locks share */
	assert_int_equal(stats(f).locks, 4);
	locks_set_grace(f->lk, 0);
	/* after it, a declaration that conflicts is lost, the rest kept */
	struct sess_decl_lock late[] = {
		{ .ino = f->f1, .kind = LK_POSIX, .owner = 3, .pid = 12, .type = LK_WRLCK,
		  .start = 5, .end = 5 },
		{ .ino = f->f1, .kind = LK_POSIX, .owner = 3, .pid = 12, .type = LK_WRLCK,
		  .start = 300, .end = 300 },
	};
	assert_int_equal(open_sess(f, "m3", NULL, NULL, 0, late, 2, NULL, &lost_locks), 0);
	assert_int_equal(lost_locks, 1);
	assert_int_equal(stats(f).locks, 5);
	assert_int_equal(sess_lock(f->s, "m2", f->f1, LK_POSIX, 5, 0,
				   (enum lk_type)(LK_WRLCK | LK_F_NEW), 200, 200, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks_between_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_releases_opens_and_locks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expired_is_gone_before_reaping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_declared_locks_and_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_and_replace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
