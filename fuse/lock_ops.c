/* lock_ops — file locks through the master (see lock_ops.h).
 *
 * Owns: the lock table, a hash by inode of the owners that hold locks in
 * this mount, each with the ranges the master last reported for it.
 * `lock` guards the hash, the stop flag and `cond` (what waiting lock
 * requests sleep on; FUSE interrupts and lock_table_stop broadcast it).
 * `call_lock` is held around one lock call to the master plus the update
 * of the table from its answer, so the table sees the answers of one
 * owner in the order the master made them (order: call_lock -> lock).
 *
 * Per owner and inode, the master's answer to every /v1/lock call is the
 * full list of ranges the owner now holds there; the table just replaces
 * its copy (no range arithmetic here: merging and splitting is the
 * master's, locks.c). An owner with no range left is forgotten.
 *
 * Open file description (OFD) locks, F_OFD_SETLK: the kernel sends them
 * as POSIX locks whose lock_owner is the open file (struct file) instead
 * of the process's file table, so they conflict with everything else the
 * way Linux wants with no work here. What the kernel does not send is
 * their release: at the last close of the open file it sends FUSE_RELEASE
 * without the owner (the lock_owner is filled only if flock() was used on
 * the file), and the locks never reach the kernel's own lock lists, so
 * locks_remove_file() sends nothing either. So each POSIX owner's entry
 * remembers the file handle (fi->fh) through which it was created, and
 * lock_ops_release drops the POSIX owners created through the handle
 * being released. A process's own (classic) owner is never dropped there
 * by mistake: a process that locked through a handle has closed its
 * descriptors of it before the handle's release, and each close sent a
 * flush that dropped all of that owner's locks on the inode (so its entry
 * went, and a later entry is created through another handle). */
#include "clock.h"
#include "lock_ops.h"

#include "client_session.h"
#include "json_util.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#define LT_HASH_SIZE 256
#define LT_EOF ((uint64_t)INT64_MAX)
#define LT_WAIT_FIRST_MS 10
#define LT_WAIT_MAX_MS 200
#define LT_HELD_MAX 65536

enum lt_kind { LT_POSIX, LT_FLOCK };
static const char *const lt_kind_names[] = { "posix", "flock" };

struct lt_range {
	char type;                 /* 'r' or 'w' */
	uint64_t start, end;
};

struct lt_owner {
	uint64_t ino;
	enum lt_kind kind;
	uint64_t owner;
	uint64_t fh;               /* POSIX: the handle it was created through */
	uint32_t pid;
	size_t n;
	struct lt_range *r;
	struct lt_owner *next;
};

struct lock_table {
	struct csess *cs;
	pthread_mutex_t call_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct lt_owner *hash[LT_HASH_SIZE];
};

int lock_table_new(struct csess *cs, struct lock_table **ret)
{
	struct lock_table *lt = calloc(1, sizeof(*lt));
	if (!lt)
		return -ENOMEM;
	lt->cs = cs;
	pthread_mutex_init(&lt->call_lock, NULL);
	pthread_mutex_init(&lt->lock, NULL);
	clock_cond_init(&lt->cond);
	*ret = lt;
	return 0;
}

void lock_table_free(struct lock_table *lt)
{
	if (!lt)
		return;
	for (size_t b = 0; b < LT_HASH_SIZE; b++) {
		while (lt->hash[b]) {
			struct lt_owner *o = lt->hash[b];
			lt->hash[b] = o->next;
			free(o->r);
			free(o);
		}
	}
	pthread_cond_destroy(&lt->cond);
	pthread_mutex_destroy(&lt->lock);
	pthread_mutex_destroy(&lt->call_lock);
	free(lt);
}

void lock_table_stop(struct lock_table *lt)
{
	pthread_mutex_lock(&lt->lock);
	lt->stopping = true;
	pthread_cond_broadcast(&lt->cond);
	pthread_mutex_unlock(&lt->lock);
}

/* lock held */
static struct lt_owner **lt_slot(struct lock_table *lt, uint64_t ino, enum lt_kind kind,
				 uint64_t owner)
{
	struct lt_owner **p = &lt->hash[ino % LT_HASH_SIZE];
	while (*p && !((*p)->ino == ino && (*p)->kind == kind && (*p)->owner == owner))
		p = &(*p)->next;
	return p;
}

static bool lt_has(struct lock_table *lt, uint64_t ino, enum lt_kind kind, uint64_t owner)
{
	pthread_mutex_lock(&lt->lock);
	bool has = *lt_slot(lt, ino, kind, owner) != NULL;
	pthread_mutex_unlock(&lt->lock);
	return has;
}

/* Replace the owner's ranges with the master's "held" list. A malformed
 * list keeps the owner (so its locks are still dropped at close). */
static void lt_update(struct lock_table *lt, uint64_t ino, enum lt_kind kind, uint64_t owner,
		      uint64_t fh, uint32_t pid, const json_t *held)
{
	size_t n = json_is_array(held) ? json_array_size(held) : 0;
	struct lt_range *r = NULL;
	bool bad = !json_is_array(held) || n > LT_HELD_MAX;
	if (!bad && n) {
		r = calloc(n, sizeof(*r));
		bad = !r;
	}
	for (size_t i = 0; !bad && i < n; i++) {
		const json_t *h = json_array_get(held, i);
		const char *type;
		if (ju_str(h, "type", 1, &type) < 0 || (type[0] != 'r' && type[0] != 'w') ||
		    ju_u64(h, "start", &r[i].start) < 0 || ju_u64(h, "end", &r[i].end) < 0) {
			bad = true;
			break;
		}
		r[i].type = type[0];
	}
	if (bad) {
		log_err("lock on inode %" PRIu64 ": malformed answer from the master", ino);
		free(r);
		return;
	}
	pthread_mutex_lock(&lt->lock);
	struct lt_owner **p = lt_slot(lt, ino, kind, owner);
	struct lt_owner *o = *p;
	if (n == 0) {
		if (o) {
			*p = o->next;
			free(o->r);
			free(o);
		}
	} else {
		if (!o) {
			o = calloc(1, sizeof(*o));
			if (!o) {
				pthread_mutex_unlock(&lt->lock);
				free(r);
				log_err("lock on inode %" PRIu64 ": out of memory; it is released "
					"only when this mount ends", ino);
				return;
			}
			o->ino = ino;
			o->kind = kind;
			o->owner = owner;
			o->fh = fh;
			o->next = lt->hash[ino % LT_HASH_SIZE];
			lt->hash[ino % LT_HASH_SIZE] = o;
		}
		free(o->r);
		o->r = r;
		o->n = n;
		o->pid = pid;
		r = NULL;
	}
	pthread_mutex_unlock(&lt->lock);
	free(r);
}

json_t *lock_table_declare(void *arg)
{
	struct lock_table *lt = arg;
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	pthread_mutex_lock(&lt->lock);
	for (size_t b = 0; b < LT_HASH_SIZE; b++) {
		for (struct lt_owner *o = lt->hash[b]; o; o = o->next) {
			char ow[17];
			snprintf(ow, sizeof(ow), "%016" PRIx64, o->owner);
			for (size_t i = 0; i < o->n; i++) {
				char type[2] = { o->r[i].type, '\0' };
				json_array_append_new(arr,
					json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I}", "ino",
						  (json_int_t)o->ino, "kind", lt_kind_names[o->kind],
						  "owner", ow, "type", type, "start",
						  (json_int_t)o->r[i].start, "end",
						  (json_int_t)o->r[i].end, "pid", (json_int_t)o->pid));
			}
		}
	}
	pthread_mutex_unlock(&lt->lock);
	return arr;
}

/* ---- calls ---------------------------------------------------------------- */

static json_t *lk_body(uint64_t ino, enum lt_kind kind, uint64_t owner, char type,
		       uint64_t start, uint64_t end, uint32_t pid)
{
	char ow[17], t[2] = { type, '\0' };
	snprintf(ow, sizeof(ow), "%016" PRIx64, owner);
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I}", "ino", (json_int_t)ino, "kind",
			 lt_kind_names[kind], "owner", ow, "type", t, "start", (json_int_t)start,
			 "end", (json_int_t)end, "pid", (json_int_t)pid);
}

/* What a /v1/lock call says beyond the lock itself. */
enum lk_call { LK_CALL_TRY, LK_CALL_WAIT, LK_CALL_CANCEL };

/* One /v1/lock call and the table update. -EAGAIN: held by another (or
 * the master's grace period); -EDEADLK: waiting would deadlock. fh: the
 * handle the call comes through (0 if none). */
static int lk_try(struct lock_table *lt, uint64_t ino, enum lt_kind kind, uint64_t owner,
		  uint64_t fh, char type, uint64_t start, uint64_t end, uint32_t pid,
		  enum lk_call call)
{
	json_t *resp = NULL;
	json_t *body = lk_body(ino, kind, owner, type, start, end, pid);
	if (body && call != LK_CALL_TRY &&
	    json_object_set_new(body, call == LK_CALL_WAIT ? "wait" : "cancel", json_true()) < 0) {
		json_decref(body);
		body = NULL;
	}
	pthread_mutex_lock(&lt->call_lock);
	int rc = csess_call(lt->cs, "lock", body, &resp);
	if (rc == 0)
		lt_update(lt, ino, kind, owner, fh, pid, json_object_get(resp, "held"));
	pthread_mutex_unlock(&lt->call_lock);
	json_decref(resp);
	return rc;
}

static void lk_interrupted(fuse_req_t req, void *data)
{
	(void)req;
	struct lock_table *lt = data;
	pthread_mutex_lock(&lt->lock);
	pthread_cond_broadcast(&lt->cond);
	pthread_mutex_unlock(&lt->lock);
}

static void lk_unlock_mutex(void *m)
{
	pthread_mutex_unlock(m);
}

/* lt->lock held; wait on cond until ts, cancellable meanwhile (the
 * lock is released if the thread is cancelled). */
static void lk_timedwait_cancellable(struct lock_table *lt, const struct timespec *ts)
{
	int old;
	pthread_cleanup_push(lk_unlock_mutex, &lt->lock);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	pthread_cond_timedwait(&lt->cond, &lt->lock, ts);
	pthread_setcancelstate(old, NULL);
	pthread_cleanup_pop(0);
}

/* Sleep ms before asking again. -EINTR if the request was interrupted or
 * the mount is going away. libfuse cancels its worker threads when the
 * session ends; the sleep is the one place a waiting request may be
 * cancelled (never inside a call to the master). */
static int lk_sleep(struct lock_table *lt, fuse_req_t req, long ms)
{
	struct timespec ts = clock_deadline_ms(ms);
	int rc = 0;
	pthread_mutex_lock(&lt->lock);
	if (!lt->stopping && !fuse_req_interrupted(req))
		lk_timedwait_cancellable(lt, &ts);
	if (lt->stopping || fuse_req_interrupted(req))
		rc = -EINTR;
	pthread_mutex_unlock(&lt->lock);
	return rc;
}

/* Call attempt(arg) until it answers something else than -EAGAIN,
 * sleeping 10 ms, doubling to LT_WAIT_MAX_MS, in between; -EINTR when the
 * request is interrupted or the mount goes away while waiting. */
static int lk_retry(struct lock_table *lt, fuse_req_t req, int (*attempt)(void *), void *arg)
{
	int rc = attempt(arg);
	if (rc != -EAGAIN)
		return rc;
	fuse_req_interrupt_func(req, lk_interrupted, lt);
	long ms = LT_WAIT_FIRST_MS;
	while (rc == -EAGAIN) {
		rc = lk_sleep(lt, req, ms);
		if (rc < 0)
			break;
		ms = ms * 2 > LT_WAIT_MAX_MS ? LT_WAIT_MAX_MS : ms * 2;
		rc = attempt(arg);
	}
	fuse_req_interrupt_func(req, NULL, NULL);
	return rc;
}

struct lk_set_args {
	struct lock_table *lt;
	uint64_t ino, owner, fh, start, end;
	enum lt_kind kind;
	char type;
	uint32_t pid;
	enum lk_call call;
};

static int lk_set_attempt(void *arg)
{
	struct lk_set_args *a = arg;
	return lk_try(a->lt, a->ino, a->kind, a->owner, a->fh, a->type, a->start, a->end, a->pid,
		      a->call);
}

/* Set a lock, waiting for it if wait. A waiting request tells the master
 * so each time it asks (for deadlock detection), and that it stopped
 * waiting when the process was interrupted. */
static int lk_set(struct lock_table *lt, fuse_req_t req, uint64_t ino, enum lt_kind kind,
		  uint64_t owner, uint64_t fh, char type, uint64_t start, uint64_t end,
		  uint32_t pid, bool wait)
{
	struct lk_set_args a = {
		.lt = lt, .ino = ino, .owner = owner, .fh = fh, .start = start, .end = end,
		.kind = kind, .type = type, .pid = pid,
		.call = wait && type != 'u' ? LK_CALL_WAIT : LK_CALL_TRY,
	};
	if (!wait)
		return lk_set_attempt(&a);
	int rc = lk_retry(lt, req, lk_set_attempt, &a);
	if (rc == -EINTR && a.call == LK_CALL_WAIT && kind == LT_POSIX) {
		pthread_mutex_lock(&lt->lock);
		bool stopping = lt->stopping;
		pthread_mutex_unlock(&lt->lock);
		/* best effort: the master forgets the record by itself soon */
		if (!stopping) {
			a.call = LK_CALL_CANCEL;
			lk_set_attempt(&a);
		}
	}
	return rc;
}

struct lk_test_args {
	struct lock_table *lt;
	json_t *body;
	json_t **ret_resp;
};

static int lk_test_attempt(void *arg)
{
	struct lk_test_args *a = arg;
	json_t *copy = json_deep_copy(a->body);
	return copy ? csess_call(a->lt->cs, "lock/test", copy, a->ret_resp) : -ENOMEM;
}

/* F_GETLK through the master; during the master's grace period after a
 * restart (-EAGAIN: the locks held before are not all declared yet) it
 * asks again like a waiting lock. *ret_resp: the answer. */
static int lk_test(struct lock_table *lt, fuse_req_t req, json_t *body, json_t **ret_resp)
{
	struct lk_test_args a = { lt, body, ret_resp };
	return lk_retry(lt, req, lk_test_attempt, &a);
}

/* [start, end] of a struct flock as libfuse gives it (SEEK_SET, l_len 0
 * = to the end of the file). */
static int lk_range(const struct flock *l, uint64_t *start, uint64_t *end)
{
	if (l->l_start < 0 || l->l_len < 0)
		return -EINVAL;
	*start = (uint64_t)l->l_start;
	if (l->l_len == 0)
		*end = LT_EOF;
	else if ((uint64_t)l->l_len - 1 > LT_EOF - *start)
		return -EOVERFLOW;
	else
		*end = *start + (uint64_t)l->l_len - 1;
	return 0;
}

static int lk_type(short t, char *ret)
{
	switch (t) {
	case F_RDLCK:
		*ret = 'r';
		return 0;
	case F_WRLCK:
		*ret = 'w';
		return 0;
	case F_UNLCK:
		*ret = 'u';
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- FUSE handlers -------------------------------------------------------- */

void lock_ops_getlk(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct flock *lock)
{
	uint64_t start, end;
	char type;
	json_t *resp = NULL, *body = NULL;
	int rc = lk_range(lock, &start, &end);
	if (rc == 0)
		rc = lk_type(lock->l_type, &type);
	if (rc == 0) {
		body = lk_body(ino, LT_POSIX, fi->lock_owner, type, start, end,
			       (uint32_t)lock->l_pid);
		rc = body ? lk_test(lt, req, body, &resp) : -ENOMEM;
		json_decref(body);
	}
	struct flock out = *lock;
	const char *ht = NULL;
	uint64_t hs = 0, he = 0;
	uint32_t hpid = 0;
	if (rc == 0 && ju_str(resp, "type", 1, &ht) < 0)
		rc = -EIO;
	if (rc == 0 && ht[0] == 'u') {
		out.l_type = F_UNLCK;
	} else if (rc == 0) {
		if ((ht[0] != 'r' && ht[0] != 'w') || ju_u64(resp, "start", &hs) < 0 ||
		    ju_u64(resp, "end", &he) < 0 || he > LT_EOF || hs > he ||
		    ju_u32_opt(resp, "pid", 0, &hpid) < 0) {
			rc = -EIO;
		} else {
			out.l_type = ht[0] == 'r' ? F_RDLCK : F_WRLCK;
			out.l_whence = SEEK_SET;
			out.l_start = (off_t)hs;
			out.l_len = he == LT_EOF ? 0 : (off_t)(he - hs + 1);
			out.l_pid = (pid_t)hpid;
		}
	}
	json_decref(resp);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lock(req, &out);
}

void lock_ops_setlk(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct flock *lock, int sleep)
{
	uint64_t start, end;
	char type;
	int rc = lk_range(lock, &start, &end);
	if (rc == 0)
		rc = lk_type(lock->l_type, &type);
	if (rc == 0 && type == 'u' && !lt_has(lt, ino, LT_POSIX, fi->lock_owner))
		rc = 0;    /* nothing held here: nothing to ask */
	else if (rc == 0)
		rc = lk_set(lt, req, ino, LT_POSIX, fi->lock_owner, fi->fh, type, start, end,
			    (uint32_t)lock->l_pid, sleep != 0);
	fuse_reply_err(req, -rc);
}

void lock_ops_flock(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, int op)
{
	char type;
	int rc = 0;
	switch (op & (LOCK_SH | LOCK_EX | LOCK_UN)) {
	case LOCK_SH:
		type = 'r';
		break;
	case LOCK_EX:
		type = 'w';
		break;
	case LOCK_UN:
		type = 'u';
		break;
	default:
		rc = -EINVAL;
		type = 0;
	}
	if (rc == 0 && type == 'u' && !lt_has(lt, ino, LT_FLOCK, fi->lock_owner))
		rc = 0;
	else if (rc == 0)
		rc = lk_set(lt, req, ino, LT_FLOCK, fi->lock_owner, 0, type, 0, LT_EOF,
			    (uint32_t)fuse_req_ctx(req)->pid, !(op & LOCK_NB));
	fuse_reply_err(req, -rc);
}

int lock_ops_drop_posix(struct lock_table *lt, uint64_t ino, uint64_t owner)
{
	if (!lt_has(lt, ino, LT_POSIX, owner))
		return 0;
	return lk_try(lt, ino, LT_POSIX, owner, 0, 'u', 0, LT_EOF, 0, LK_CALL_TRY);
}

int lock_ops_drop_flock(struct lock_table *lt, uint64_t ino, uint64_t owner)
{
	if (!lt_has(lt, ino, LT_FLOCK, owner))
		return 0;
	return lk_try(lt, ino, LT_FLOCK, owner, 0, 'u', 0, LT_EOF, 0, LK_CALL_TRY);
}

#define LT_RELEASE_BATCH 16

int lock_ops_release(struct lock_table *lt, uint64_t ino, const struct fuse_file_info *fi)
{
	int rc = 0;
	if (fi->flock_release)
		rc = lock_ops_drop_flock(lt, ino, fi->lock_owner);
	/* OFD locks of the handle: collect their owners, then unlock each
	 * (a handle has one, unless forked processes share it) */
	for (;;) {
		uint64_t owners[LT_RELEASE_BATCH];
		size_t n = 0;
		pthread_mutex_lock(&lt->lock);
		for (struct lt_owner *o = lt->hash[ino % LT_HASH_SIZE]; o && n < LT_RELEASE_BATCH;
		     o = o->next)
			if (o->ino == ino && o->kind == LT_POSIX && o->fh == fi->fh)
				owners[n++] = o->owner;
		pthread_mutex_unlock(&lt->lock);
		if (n == 0)
			break;
		size_t done = 0;
		for (size_t i = 0; i < n; i++) {
			int lrc = lk_try(lt, ino, LT_POSIX, owners[i], fi->fh, 'u', 0, LT_EOF, 0,
					 LK_CALL_TRY);
			if (lrc < 0 && rc == 0)
				rc = lrc;
			done += lrc == 0;
		}
		if (done < n)
			break;         /* the master refused: do not loop on it */
	}
	return rc;
}
