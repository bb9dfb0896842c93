/* ns_queue — queued unlinks and the rmdirs behind them, sent in batches
 * (see ns_queue.h for what is promised).
 *
 * State: a FIFO of ops not sent yet (head..tail, nqueued), the batch on
 * its way (inflight, a list of its own), a stop flag. Ops are plain heap
 * nodes; an unlink's node is freed by the sender once its batch is back,
 * an rmdir's by the caller that waits on it (done).
 *
 *   queued --sender takes up to NSQ_BATCH_MAX--> in flight --reply--> done
 *
 * One mutex and one condition variable (room in the queue, a batch back,
 * an rmdir answered, the queue empty); the master call runs without the
 * mutex. */
#include "ns_queue.h"

#include "client_session.h"
#include "clock.h"
#include "json_util.h"
#include "log.h"
#include "master_client.h"
#include "meta_cache.h"
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* NSQ_CALL: a call whose caller waits for its reply (a create riding on
 * the batch); NSQ_SETATTR: a setattr answered already; NSQ_COMMIT: the
 * commit of a close answered already (done is told its result);
 * NSQ_CREATE: a create answered already, as the inode this mount chose
 * (done is told its result). All four carry the op as sent (body). */
#define NSQ_KEEP_OPEN 64          /* unsent commits whose files' closes wait */

enum nsq_kind { NSQ_UNLINK, NSQ_RMDIR, NSQ_RENAME, NSQ_CALL, NSQ_SETATTR, NSQ_COMMIT,
		NSQ_CREATE };

/* The "op" of the kinds sent by name (the others carry their body). */
static const char *const NSQ_KIND_NAMES[] = { "unlink", "rmdir", "rename" };

struct nsq_op {
	struct nsq_op *next;
	uint64_t parent;
	char *name;
	enum nsq_kind kind;
	uint64_t newparent;          /* a rename's target */
	char *newname;
	json_t *body;                /* NSQ_CALL, NSQ_SETATTR: the op */
	uint64_t ino;                /* NSQ_SETATTR, NSQ_COMMIT, NSQ_CREATE: its inode */
	nsq_done_fn done_fn;         /* NSQ_COMMIT, NSQ_CREATE: told the result */
	void *done_arg;
	bool wait;                   /* someone waits for its answer (an rmdir not known to succeed) */
	bool held;                   /* NSQ_COMMIT: its data is still on its way to the
				      * workers (nsq_commit_held); not sent until released */
	bool was_held;
	bool done;
	bool retried;                /* NSQ_CALL: the batch was sent again */
	json_t *result;              /* NSQ_CALL: its result */
	int rc;
};

struct nsq {
	struct master_client *mc;
	struct csess *cs;
	struct meta_cache *mcache;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct nsq_op *head, *tail;
	size_t nqueued;
	size_t nheld;                /* queued ops held */
	size_t nset;                 /* queued or on their way that name an inode
	                              * (op_sets: nsq_pending_ino looks only then) */
	struct nsq_op *inflight;
	unsigned waiters;            /* callers waiting on the queue: send at once */
	int64_t last_back_ms;        /* when the last batch came back, */
	size_t last_n;               /* with how many ops */
	bool started, stop;
	pthread_t thread;
};

int nsq_new(struct master_client *mc, struct csess *cs, struct meta_cache *mcache,
	    struct nsq **ret)
{
	struct nsq *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->mc = mc;
	q->cs = cs;
	q->mcache = mcache;
	pthread_mutex_init(&q->lock, NULL);
	clock_cond_init(&q->cond);
	*ret = q;
	return 0;
}

/* Whether op names an inode whose attributes it sets (nsq_pending_ino). */
static bool op_sets(const struct nsq_op *op)
{
	return op->kind == NSQ_SETATTR || op->kind == NSQ_COMMIT || op->kind == NSQ_CREATE;
}

static void op_free(struct nsq_op *op)
{
	if (op && op->done_fn)
		op->done_fn(op->done_arg, -ESHUTDOWN, NULL);   /* never sent */
	if (op) {
		free(op->name);
		free(op->newname);
		json_decref(op->body);
		json_decref(op->result);
		free(op);
	}
}

/* The ops' results from one /v1/batch call (rc: the call's own). */
static void nsq_results(struct nsq *q, struct nsq_op *batch, int rc, bool retried,
			const json_t *resp, int64_t sent)
{
	const json_t *results = json_object_get(resp, "results");
	size_t i = 0;
	for (struct nsq_op *op = batch; op; op = op->next, i++) {
		const json_t *res = json_array_get(results, i);
		int e = rc;
		if (rc == 0) {
			json_int_t v = json_integer_value(json_object_get(res, "errno"));
			e = json_is_object(res) && json_is_integer(json_object_get(res, "errno")) &&
					    v >= 0 && v < 4096
				    ? -(int)v
				    : -EIO;
		}
		if (op->kind == NSQ_CALL) {
			op->result = json_incref((json_t *)res);
			op->retried = retried;
			op->rc = e;
			continue;
		}
		if (op->kind == NSQ_COMMIT) {
			if (e < 0 && e != -ENOENT) {
				mount_metrics_add(MM_QUEUED_OP_ERRORS, 1);
				log_warn("queued commit of inode %" PRIu64 " failed: %s; what its "
					 "last close wrote is on the workers, its size not",
					 op->ino, strerror(-e));
			}
			op->rc = e;
			op->done_fn(op->done_arg, e, e == 0 ? res : NULL);
			op->done_fn = NULL;
			continue;
		}
		if (op->kind == NSQ_CREATE) {
			if (e == -EEXIST && retried) {
				e = 0;        /* our own earlier attempt made it */
				res = NULL;
			}
			if (e < 0) {
				mount_metrics_add(MM_QUEUED_OP_ERRORS, 1);
				log_warn("queued create of '%s' in folder %" PRIu64 " as inode %" PRIu64
					 " failed: %s; the file was never made",
					 op->name ? op->name : "?", op->parent, op->ino, strerror(-e));
			}
			op->rc = e;
			op->done_fn(op->done_arg, e, e == 0 ? res : NULL);
			op->done_fn = NULL;
			continue;
		}
		if (op->kind == NSQ_SETATTR) {
			if (e < 0 && e != -ENOENT) {
				mount_metrics_add(MM_QUEUED_OP_ERRORS, 1);
				log_warn("queued setattr of inode %" PRIu64 " failed: %s; its "
					 "attributes stay as they were", op->ino, strerror(-e));
			}
			op->rc = e;
			continue;
		}
		if (e == -ENOENT && retried)
			e = 0;   /* our own earlier attempt did it */
		if (e == 0) {
			struct mc_change ch[2] = { { op->parent, op->name, -1, 0 },
						   { op->newparent, op->newname, 1, 0 } };
			mcache_changed(q->mcache, res, ch, op->kind == NSQ_RENAME ? 2 : 1, sent);
		} else if (op->kind == NSQ_RENAME) {
			/* ENOENT too: another mount removed the name first, and the
			 * new name was never made */
			mount_metrics_add(MM_QUEUED_OP_ERRORS, 1);
			log_warn("queued rename of '%s' in folder %" PRIu64 " to '%s' in folder %" PRIu64
				 " failed: %s; the name stays as it was",
				 op->name, op->parent, op->newname, op->newparent, strerror(-e));
		} else if (!op->wait && e != -ENOENT) {
			mount_metrics_add(MM_QUEUED_OP_ERRORS, 1);
			log_warn("queued %s of '%s' in folder %" PRIu64 " failed: %s; the %s stays",
				 NSQ_KIND_NAMES[op->kind], op->name, op->parent, strerror(-e),
				 op->kind == NSQ_RMDIR ? "folder" : "file");
		}
		op->rc = e;
	}
}

static void nsq_send(struct nsq *q, struct nsq_op *batch)
{
	json_t *ops = json_array();
	json_t *req = ops ? json_pack("{s:o}", "ops", ops) : NULL;
	int rc = req ? 0 : -ENOMEM;
	for (struct nsq_op *op = batch; rc == 0 && op; op = op->next) {
		if (op->body) {
			if (json_array_append(ops, op->body) < 0)
				rc = -ENOMEM;
			continue;
		}
		json_t *o = json_pack("{s:s, s:I}", "op", NSQ_KIND_NAMES[op->kind], "parent",
				      (json_int_t)op->parent);
		if (o && op->kind == NSQ_RENAME &&
		    (json_object_set_new(o, "newparent", json_integer((json_int_t)op->newparent)) < 0 ||
		     ju_set_name(o, "newname", op->newname, strlen(op->newname)) < 0)) {
			json_decref(o);
			o = NULL;
		}
		if (!o || ju_set_name(o, "name", op->name, strlen(op->name)) < 0 ||
		    json_array_append_new(ops, o) < 0) {
			json_decref(o);
			rc = -ENOMEM;
		}
	}
	json_t *resp = NULL;
	bool retried = false;
	struct csess_closes closes = { NULL, 0 };
	int64_t sent = mcache_now_ms();
	if (rc == 0 && json_object_set_new(req, "session", json_string(csess_id(q->cs))) < 0)
		rc = -ENOMEM;
	if (rc == 0) {
		/* just-closed files go at once (an unlink of one deletes it
		 * then, not at the heartbeat), but those whose commits are
		 * still queued: a reopen right after the close (rsync's chmod)
		 * finds them still open at the master (fs_ops.c fs_open) */
		uint64_t keep[NSQ_KEEP_OPEN];
		size_t nkeep = 0;
		pthread_mutex_lock(&q->lock);
		for (const struct nsq_op *op = q->head; op && nkeep < NSQ_KEEP_OPEN; op = op->next)
			if (op->kind == NSQ_COMMIT)
				keep[nkeep++] = op->ino;
		pthread_mutex_unlock(&q->lock);
		csess_attach_closes_but(q->cs, req, &closes, keep, nkeep);
		mount_metrics_add(MM_BATCHES, 1);
		rc = master_client_call(q->mc, "batch", req, 0, &resp, &retried);
		csess_closes_sent(q->cs, &closes, rc);
	}
	json_decref(req);
	nsq_results(q, batch, rc, retried, resp, sent);
	json_decref(resp);
}

/* Whether call (a create of call->name in call->parent) may be sent
 * before the op left behind in the queue: not if that op names the same
 * name (an unlink, rmdir or rename of it, or a rename to it: the master
 * must see them in order), sets the folder's attributes (its mode may be
 * what lets the caller create there), or is another call of the same
 * name. A call whose name is not plain text (name_b64) passes nothing
 * but held commits. Commits name no name: a create makes a new one. */
static bool op_conflicts(const struct nsq_op *call, const struct nsq_op *left)
{
	if (!call->name)
		return !left->held;
	switch (left->kind) {
	case NSQ_COMMIT:
		return false;
	case NSQ_SETATTR:
		return left->ino == call->parent;
	case NSQ_RENAME:
		if (left->newparent == call->parent && strcmp(left->newname, call->name) == 0)
			return true;
		return left->parent == call->parent && strcmp(left->name, call->name) == 0;
	default:
		return !left->name ||
		       (left->parent == call->parent && strcmp(left->name, call->name) == 0);
	}
}

/* Lock held. The next batch, taken out of the queue (take) or only
 * counted (!take): ops in order, up to NSQ_BATCH_MAX. A held commit
 * stays where it is, and from then on the only ops that pass the ones
 * left behind are calls (the next files' creates) that conflict with
 * none of them (op_conflicts); every other op keeps its place behind
 * them. So the kernel's order holds for every name: a create the kernel
 * calls only for a name it knows is absent, which nothing left behind
 * names. Returns the batch (NULL when nothing can go now; with !take,
 * non-NULL means something can) and its size in *ret_n. */
#define NSQ_LEFT_MAX 64          /* ops left behind before the look stops */
static struct nsq_op *nsq_take(struct nsq *q, bool take, size_t *ret_n)
{
	struct nsq_op *batch = NULL, **bt = &batch, *prev = NULL;
	const struct nsq_op *left[NSQ_LEFT_MAX];
	size_t n = 0, nleft = 0;
	for (struct nsq_op *op = q->head, *next; op && n < NSQ_BATCH_MAX; op = next) {
		next = op->next;
		bool go = !op->held &&
			  (nleft == 0 || op->kind == NSQ_CALL || op->kind == NSQ_CREATE);
		for (size_t i = 0; go && nleft && i < nleft; i++)
			go = !op_conflicts(op, left[i]);
		if (!go) {
			if (nleft == NSQ_LEFT_MAX)
				break;
			left[nleft++] = op;
			prev = op;
			continue;
		}
		if (!take) {
			*ret_n = 1;
			return op;
		}
		if (prev)
			prev->next = next;
		else
			q->head = next;
		if (q->tail == op)
			q->tail = prev;
		op->next = NULL;
		*bt = op;
		bt = &op->next;
		n++;
	}
	q->nqueued -= n;
	*ret_n = n;
	return batch;
}

/* Lock held. Whether nsq_take would take anything now. */
static bool nsq_sendable(struct nsq *q)
{
	size_t n;
	if (q->nheld == 0)
		return q->head != NULL;
	return nsq_take(q, false, &n) != NULL;
}

static void *nsq_sender(void *arg)
{
	struct nsq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		/* stopping: what is queued goes first, held commits too once
		 * their data is out (file_handle.c releases every one) */
		while (!nsq_sendable(q) && !(q->stop && !q->head))
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->head)
			break;
		/* in a burst (a batch of several came back just now), a few
		 * ops and nobody waiting: let more join for a moment (the
		 * unlinks are answered; one batch costs the master and this
		 * mount about as much as one op). A lone unlink goes at once. */
		/* A rename waits the same moment for the call that usually
		 * follows it (rsync's next create), which takes it along; so
		 * does a close's commit (the next file's create). */
		/* A commit let go by its data-behind thread may wait longer:
		 * the close was answered long ago, anyone who needs it now
		 * waits on the queue (and is not kept waiting), and the next
		 * file's create may come after a write and a close. */
		if (q->nqueued < NSQ_BATCH_MAX && !q->waiters && !q->stop &&
		    (q->tail->kind == NSQ_RENAME || q->tail->kind == NSQ_COMMIT ||
		     (q->last_n > 1 && mcache_now_ms() - q->last_back_ms < NSQ_BURST_MS))) {
			struct timespec until = clock_deadline_ms(
				q->tail->kind == NSQ_COMMIT && q->tail->was_held ? NSQ_COMMIT_GATHER_MS
										 : NSQ_GATHER_MS);
			while (q->nqueued < NSQ_BATCH_MAX && !q->waiters && !q->stop &&
			       pthread_cond_timedwait(&q->cond, &q->lock, &until) == 0)
				;
		}
		size_t n;
		struct nsq_op *batch = nsq_take(q, true, &n);
		if (!batch)
			continue;
		q->inflight = batch;
		pthread_cond_broadcast(&q->cond);   /* room in the queue */
		pthread_mutex_unlock(&q->lock);

		nsq_send(q, batch);

		pthread_mutex_lock(&q->lock);
		q->inflight = NULL;
		q->last_back_ms = mcache_now_ms();
		q->last_n = n;
		struct nsq_op *gone = NULL;
		for (struct nsq_op *op = batch, *next; op; op = next) {
			next = op->next;
			q->nset -= op_sets(op);
			if (op->wait) {
				op->done = true;     /* its caller frees it */
				q->waiters--;
			} else {
				op->next = gone;
				gone = op;
			}
		}
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		while (gone) {
			struct nsq_op *next = gone->next;
			op_free(gone);
			gone = next;
		}
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

void nsq_start(struct nsq *q)
{
	if (pthread_create(&q->thread, NULL, nsq_sender, q) == 0)
		q->started = true;
	else
		log_warn("cannot start the unlink queue's thread: unlinks wait for the master");
}

void nsq_stop(struct nsq *q)
{
	if (!q || !q->started)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	q->started = false;
}

void nsq_free(struct nsq *q)
{
	if (!q)
		return;
	nsq_stop(q);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}

/* Append op (lock held); false if the queue is not running. */
static bool nsq_append(struct nsq *q, struct nsq_op *op)
{
	while (q->started && !q->stop && q->nqueued >= NSQ_QUEUE_MAX)
		pthread_cond_wait(&q->cond, &q->lock);
	if (!q->started || q->stop)
		return false;
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->nqueued++;
	q->nheld += op->held;
	q->nset += op_sets(op);
	pthread_cond_broadcast(&q->cond);
	return true;
}

static struct nsq_op *op_new(uint64_t parent, const char *name, enum nsq_kind kind, bool wait)
{
	struct nsq_op *op = calloc(1, sizeof(*op));
	if (op && name && !(op->name = strdup(name))) {
		free(op);
		return NULL;
	}
	if (op) {
		op->parent = parent;
		op->kind = kind;
		op->wait = wait;
	}
	return op;
}

/* Queue op, answered now, counted in `counted`: 0 or -ESHUTDOWN (op
 * freed). The sender frees op once its batch is back: nothing of it is
 * read after the append. */
static int nsq_queue(struct nsq *q, struct nsq_op *op, enum mm_counter counted)
{
	pthread_mutex_lock(&q->lock);
	bool queued = nsq_append(q, op);
	pthread_mutex_unlock(&q->lock);
	if (!queued) {
		op_free(op);
		return -ESHUTDOWN;
	}
	mount_metrics_add(counted, 1);
	return 0;
}

/* An op sent as body (a reference taken, "op": kind added to a copy). */
static struct nsq_op *op_of_body(enum nsq_kind kind, const char *op_name, const json_t *body,
				 bool wait)
{
	struct nsq_op *op = op_new(0, NULL, kind, wait);
	if (op && (!(op->body = json_copy((json_t *)body)) ||
		   json_object_set_new(op->body, "op", json_string(op_name)) < 0)) {
		op_free(op);
		op = NULL;
	}
	return op;
}

int nsq_commit(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done, void *arg)
{
	return nsq_commit_held(q, ino, body, done, arg, NULL);
}

int nsq_commit_held(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done,
		    void *arg, struct nsq_op **ret_held)
{
	struct nsq_op *op = op_of_body(NSQ_COMMIT, "commit", body, false);
	if (!op) {
		done(arg, -ENOMEM, NULL);
		return -ENOMEM;
	}
	op->ino = ino;
	op->done_fn = done;
	op->done_arg = arg;
	op->held = op->was_held = ret_held != NULL;
	if (ret_held)
		*ret_held = op;   /* read by its owner only after the queue took it */
	return nsq_queue(q, op, MM_QUEUED_COMMITS);   /* not queued: done hears -ESHUTDOWN */
}

int nsq_create(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done, void *arg)
{
	struct nsq_op *op = op_of_body(NSQ_CREATE, "create", body, false);
	const char *name = json_string_value(json_object_get(body, "name"));
	json_int_t parent = json_integer_value(json_object_get(body, "parent"));
	if (op && (!name || parent <= 0 || !(op->name = strdup(name)))) {
		op_free(op);
		op = NULL;
	}
	if (!op) {
		done(arg, -ENOMEM, NULL);
		return -ENOMEM;
	}
	op->parent = (uint64_t)parent;
	op->ino = ino;
	op->done_fn = done;
	op->done_arg = arg;
	return nsq_queue(q, op, MM_QUEUED_CREATES);   /* not queued: done hears -ESHUTDOWN */
}

int nsq_release(struct nsq *q, struct nsq_op *held, uint64_t size)
{
	int rc = 0;
	pthread_mutex_lock(&q->lock);
	if (size != UINT64_MAX &&
	    json_object_set_new(held->body, "size", json_integer((json_int_t)size)) < 0)
		rc = -ENOMEM;
	held->held = false;
	q->nheld--;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int nsq_setattr(struct nsq *q, uint64_t ino, const json_t *body)
{
	struct nsq_op *op = op_of_body(NSQ_SETATTR, "setattr", body, false);
	if (!op)
		return -ENOMEM;
	op->ino = ino;
	return nsq_queue(q, op, MM_QUEUED_SETATTRS);
}

/* Queue op behind everything and wait until its batch is back; false if
 * the queue is not running (op not queued). */
static bool nsq_wait_own(struct nsq *q, struct nsq_op *op)
{
	pthread_mutex_lock(&q->lock);
	bool queued = nsq_append(q, op);
	if (queued) {
		/* the sender counts it off as it answers: a waiter not yet
		 * scheduled again must not make the next batch go alone */
		q->waiters++;
		pthread_cond_broadcast(&q->cond);
		while (!op->done)
			pthread_cond_wait(&q->cond, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return queued;
}

int nsq_call(struct nsq *q, const char *kind, const json_t *body, json_t **ret_result,
	     bool *ret_retried)
{
	*ret_result = NULL;
	if (ret_retried)
		*ret_retried = false;
	struct nsq_op *op = op_of_body(NSQ_CALL, kind, body, true);
	if (!op)
		return -ESHUTDOWN;   /* not sent */
	/* what it makes, for the ops it may pass (op_conflicts) */
	const char *name = json_string_value(json_object_get(body, "name"));
	json_int_t parent = json_integer_value(json_object_get(body, "parent"));
	if (name && parent > 0 && (op->name = strdup(name)))
		op->parent = (uint64_t)parent;
	bool queued = nsq_wait_own(q, op);
	int rc = -ESHUTDOWN;
	if (queued) {
		rc = op->rc;
		*ret_result = op->result;
		op->result = NULL;
		if (ret_retried)
			*ret_retried = op->retried;
	}
	op_free(op);
	return rc;
}

int nsq_remove(struct nsq *q, uint64_t parent, const char *name, bool dir)
{
	struct nsq_op *op = op_new(parent, name, dir ? NSQ_RMDIR : NSQ_UNLINK, false);
	return op ? nsq_queue(q, op, dir ? MM_QUEUED_RMDIRS : MM_QUEUED_UNLINKS) : -ENOMEM;
}

int nsq_rename(struct nsq *q, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname)
{
	struct nsq_op *op = op_new(parent, name, NSQ_RENAME, false);
	if (op && !(op->newname = strdup(newname))) {
		op_free(op);
		op = NULL;
	}
	if (!op)
		return -ENOMEM;
	op->newparent = newparent;
	return nsq_queue(q, op, MM_QUEUED_RENAMES);
}

int nsq_rmdir(struct nsq *q, uint64_t parent, const char *name)
{
	struct nsq_op *op = op_new(parent, name, NSQ_RMDIR, true);
	if (!op)
		return -ENOMEM;
	int rc = nsq_wait_own(q, op) ? op->rc : -ESHUTDOWN;
	op_free(op);
	return rc;
}

void nsq_drain(struct nsq *q)
{
	pthread_mutex_lock(&q->lock);
	q->waiters++;
	pthread_cond_broadcast(&q->cond);
	while (q->head || q->inflight)
		pthread_cond_wait(&q->cond, &q->lock);
	q->waiters--;
	pthread_mutex_unlock(&q->lock);
}

/* What a look through the queue asks of each op (op_matches). */
struct nsq_key {
	enum { K_NAME, K_MADE, K_SET } what;
	uint64_t dir;                /* K_NAME, K_MADE: the folder */
	const char *name;            /* K_NAME (NULL: any op in dir), K_MADE */
	uint64_t ino;                /* K_SET */
};

/* K_NAME: an op in dir (a rename: in either folder; a setattr or commit: in any,
 * as a file's attributes show in whichever folder lists it); with name, a
 * removal of that name answered already (a rename's old name too; an
 * rmdir someone waits for may still fail, ENOTEMPTY: its name is not
 * gone before the answer). K_MADE: a rename making name in dir. K_SET: a
 * setattr or commit of ino. A call (its caller waits) matches nothing. */
static bool op_matches(const struct nsq_op *op, const struct nsq_key *k)
{
	switch (k->what) {
	case K_MADE:
		if (op->kind == NSQ_CREATE)
			return op->parent == k->dir && op->name && strcmp(op->name, k->name) == 0;
		return op->kind == NSQ_RENAME && op->newparent == k->dir &&
		       strcmp(op->newname, k->name) == 0;
	case K_SET:
		return op_sets(op) && op->ino == k->ino;
	default:
		if (op->kind == NSQ_CREATE)
			return !k->name && op->parent == k->dir;
		if (op->kind == NSQ_CALL || op->kind == NSQ_SETATTR || op->kind == NSQ_COMMIT)
			return op->kind != NSQ_CALL && !k->name;
		if (!k->name && op->kind == NSQ_RENAME && op->newparent == k->dir)
			return true;
		return op->parent == k->dir &&
		       (!k->name || (!op->wait && strcmp(op->name, k->name) == 0));
	}
}

/* Whether an op queued or on its way matches k. */
static bool nsq_find(struct nsq *q, const struct nsq_key *k)
{
	bool found = false;
	pthread_mutex_lock(&q->lock);
	/* none to look for (rm -r: a readdir asks of every entry it lists,
	 * with hundreds of unlinks queued) */
	if (k->what == K_SET && q->nset == 0) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	for (int l = 0; l < 2 && !found; l++)
		for (const struct nsq_op *op = l ? q->inflight : q->head; op && !found;
		     op = op->next)
			found = op_matches(op, k);
	pthread_mutex_unlock(&q->lock);
	return found;
}

bool nsq_pending_ino(struct nsq *q, uint64_t ino)
{
	return nsq_find(q, &(struct nsq_key){ .what = K_SET, .ino = ino });
}

bool nsq_commit_unsent(struct nsq *q, uint64_t ino)
{
	bool found = false;
	pthread_mutex_lock(&q->lock);
	for (const struct nsq_op *op = q->head; op && !found; op = op->next)
		found = op->kind == NSQ_COMMIT && op->ino == ino;
	pthread_mutex_unlock(&q->lock);
	return found;
}

bool nsq_renamed_to(struct nsq *q, uint64_t parent, const char *name)
{
	return nsq_find(q, &(struct nsq_key){ .what = K_MADE, .dir = parent, .name = name });
}

bool nsq_pending_name(struct nsq *q, uint64_t parent, const char *name)
{
	return nsq_find(q, &(struct nsq_key){ .what = K_NAME, .dir = parent, .name = name });
}

bool nsq_pending_dir(struct nsq *q, uint64_t dir)
{
	return nsq_pending_name(q, dir, NULL);
}

bool nsq_pending(struct nsq *q)
{
	pthread_mutex_lock(&q->lock);
	bool p = q->head || q->inflight;
	pthread_mutex_unlock(&q->lock);
	return p;
}
