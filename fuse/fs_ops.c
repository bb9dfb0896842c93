/* fs_ops — FUSE low-level handlers (see fs_ops.h).
 *
 * Owns: struct fs_ctx (borrowed master client, worker I/O and file handle
 * table, plus operation counters updated with atomics). Handlers run on
 * libfuse's worker threads concurrently; they keep no state of their own
 * beyond the file handles (file_handle.c locks those).
 *
 * Does not: cache names or attributes itself. The kernel caches them for
 * FS_TIMEOUT seconds (entry and attr timeouts); open drops the page cache
 * (keep_cache off), which gives close-to-open consistency.
 *
 * Errors: the master's errno (already converted once, in master_client.c)
 * goes straight to fuse_reply_err. Calls that are not idempotent and were
 * retried after an uncertain failure (timeout) recognise their own earlier
 * success: EEXIST after mkdir/create/... becomes a lookup, ENOENT after
 * unlink/rmdir/rename becomes success.
 *
 * POSIX: the kernel checks permissions and ACLs (default_permissions,
 * FUSE_CAP_POSIX_ACL) and clears setuid/setgid on write, truncate and
 * chown (HANDLE_KILLPRIV off: it sends the setattr); the umask goes to the
 * master (DONT_MASK), which applies it or a default ACL. SEEK_DATA/HOLE
 * and fallocate PUNCH_HOLE work at chunk granularity: a missing chunk is
 * a hole, partial chunks of a punched range are overwritten with zeros.
 * atime follows relatime, reported at the first read of an open file
 * through atime_queue (batched, the reader does not wait for the master);
 * a getattr, setattr, lookup or readdirplus of that inode waits for the
 * report.
 *
 * Durability: fsync/fdatasync of a file put its data on every replica's
 * disk (fh_fsync) and then ask the master for POST /v1/sync, which
 * returns once every metadata change so far (the size, the entries
 * leading to the file) is on the master's disk; fsync of a directory asks
 * for the same. */
#include "fs_ops.h"

#include "atime_queue.h"
#include "dir_cache.h"
#include "dir_count.h"
#include "hash.h"
#include "inval_watch.h"
#include "client_session.h"
#include "file_handle.h"
#include "json_util.h"
#include "lock_ops.h"
#include "metrics.h"
#include "log.h"
#include "master_client.h"
#include "meta_cache.h"
#include "ns_queue.h"
#include "worker_health.h"
#include "worker_io.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FS_TIMEOUT 1.0
/* A folder's predicted attributes while its queued unlinks are on their
 * way: kept by the kernel only through one unlink's permission checks
 * (the path walk's search, then may_delete's write and search; with 0,
 * each asked again: two round trips per unlink of rm -r). */
#define FS_PENDING_TTL 0.005
/* Entries of the folders a walk visits next that a readdir at the master
 * asks for with it (dir_cache.h): about 150 KiB of JSON at most (a
 * bigger answer cost the master and the mount more per entry). */
#define FS_BELOW 512
#define FS_WALK_MS 2000          /* a folder read this soon after another's: a walk, */
#define FS_WALK_QUIET_MS 100     /* unless a change of this mount ended this recently */
#define FS_SIZE_TRIES 4          /* getattr asked again at most this often */
#define FS_XATTR_MAX (64 * 1024)
#define FS_NAME_MAX 255
#define FS_PATH_MAX 4096
#define FS_XATTR_CAPS "security.capability"
#define FS_RENAME_NOREPLACE 1u
#define FS_RENAME_EXCHANGE 2u

#define FS_OP_LIST(X) X(lookup) X(getattr) X(setattr) X(readdir) X(mkdir) X(create) \
	X(mknod) X(symlink) X(readlink) X(link) X(unlink) X(rmdir) X(rename) X(open)   \
	X(read) X(write) X(flush) X(fsync) X(release) X(statfs) X(xattr) X(lseek)      \
	X(fallocate)

enum fs_op {
#define FS_OP_ENUM(n) FS_OP_##n,
	FS_OP_LIST(FS_OP_ENUM)
#undef FS_OP_ENUM
	FS_OP_COUNT
};

static const char *const fs_op_names[FS_OP_COUNT] = {
#define FS_OP_NAME(n) #n,
	FS_OP_LIST(FS_OP_NAME)
#undef FS_OP_NAME
};

#define FS_KEPT_SLOTS 4096

struct fs_ctx {
	struct master_client *mc;
	struct worker_io *wio;
	struct fh_table *fht;
	struct csess *cs;          /* this mount's session: opens, heartbeat */
	struct lock_table *locks;  /* flock / fcntl locks through the master */
	atomic_ulong calls[FS_OP_COUNT];
	atomic_ulong errors[FS_OP_COUNT];
	struct atime_queue *atime; /* read-atime reports, batched */
	struct meta_cache *mcache; /* what replies told, for a second */
	struct nsq *nsq;           /* unlinks answered at once, sent in batches */
	struct inval_watch *iw;    /* the change feed: long kernel timeouts */
	struct dir_cache *dc;      /* folder listings under the feed */
	struct dir_count *dcnt;    /* folders known empty, under the feed */
	atomic_int_fast64_t made_ms;   /* the last op that made or changed (fs_op_makes) */
	atomic_int_fast64_t walk_ms;   /* the last listing's start (fs_walking), */
	atomic_uint_fast64_t walk_dir; /* of that folder */
	struct fuse_session *se;   /* fs_ctx_set_feed */
	bool noatime;              /* the mount's noatime / ro: no reports */
	bool send_caller;          /* fs_ctx_set_send_caller */
	/* creates answered here (fs_create_local): inode numbers the master
	 * reserved for this mount, next..hi, ino_lock */
	pthread_mutex_t ino_lock;
	uint64_t ino_next, ino_hi;
	int64_t ino_retry_ms;      /* the last ask failed: not before then */
	atomic_bool roomy;         /* the last create's grant was "behind" */
	pthread_rwlock_t made_lock; /* a create answered here (read) vs a recall (write) */
	bool local_creates;        /* fs_ctx_set_local_creates */
	/* Sole use (fs_open): its periods are numbered (sole_period, odd
	 * while one runs); kept[] notes, per inode (direct-mapped), the
	 * period in which an open of it dropped the kernel's page cache:
	 * later opens in that period keep it (nobody else can have changed
	 * the file, and this mount's own writes go through that cache). */
	atomic_uint_fast64_t sole_period;
	pthread_mutex_t kept_lock;
	struct { uint64_t ino, period; } kept[FS_KEPT_SLOTS];
};

int fs_ctx_new(struct master_client *mc, struct worker_io *wio, struct fh_table *fht,
	       struct fs_ctx **ret)
{
	struct fs_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->mc = mc;
	ctx->wio = wio;
	ctx->fht = fht;
	if (csess_new(mc, fh_table_session(fht), &ctx->cs) < 0 ||
	    lock_table_new(ctx->cs, &ctx->locks) < 0 || atime_queue_new(mc, &ctx->atime) < 0 ||
	    mcache_new(&ctx->mcache) < 0 || nsq_new(mc, ctx->cs, ctx->mcache, &ctx->nsq) < 0) {
		mcache_free(ctx->mcache);
		atime_queue_free(ctx->atime);
		lock_table_free(ctx->locks);
		csess_free(ctx->cs);
		free(ctx);
		return -ENOMEM;
	}
	pthread_mutex_init(&ctx->ino_lock, NULL);
	pthread_rwlock_init(&ctx->made_lock, NULL);
	pthread_mutex_init(&ctx->kept_lock, NULL);
	fs_ctx_set_local_creates(ctx, true);
	csess_set_lock_provider(ctx->cs, lock_table_declare, ctx->locks);
	csess_set_atime_queue(ctx->cs, ctx->atime);
	csess_set_health(ctx->cs, worker_io_health(wio));
	*ret = ctx;
	return 0;
}

/* fh_table_set_behind's ok: a close may leave its commit queued while
 * the master takes commits in batches (and, the same version, tells a
 * writer's mount of another's open), the change feed that would bring
 * that word is live, and the master judges the caller's rights itself
 * (no mapped callers). */
static bool fs_behind_ok(void *arg)
{
	struct fs_ctx *ctx = arg;
	return !ctx->send_caller && csess_batches(ctx->cs, CS_BATCH_COMMIT) && ctx->iw &&
	       iw_live(ctx->iw);
}

static void fs_feed_inode(void *arg, uint64_t ino)
{
	struct fs_ctx *ctx = arg;
	fh_table_shared(ctx->fht, ino);
	/* what creates here go by (fs_create_local: mcache_dir_owner) */
	if (ino == 0)
		mcache_feed_reset(ctx->mcache);
	else
		mcache_forget_attr(ctx->mcache, ino);
}

/* Another client reads folder dir, where creates answered here may still
 * be queued, or opens file dir, whose close's commit may be: they reach
 * the master before this feed asks for more, and the file's next closes
 * commit at once (master writers_told, listing_told). */
static void fs_feed_recall(void *arg, uint64_t dir, bool listing)
{
	struct fs_ctx *ctx = arg;
	if (!listing)
		fh_table_shared(ctx->fht, dir);
	/* it lists dir (and may keep the listing): no create answered here
	 * in dir from now (one past its checks is queued before this lock is
	 * had), until one went to the master */
	if (listing) {
		pthread_rwlock_wrlock(&ctx->made_lock);
		mcache_recall(ctx->mcache, dir);
		pthread_rwlock_unlock(&ctx->made_lock);
	}
	if (nsq_pending_dir(ctx->nsq, dir))
		nsq_drain(ctx->nsq);
}

/* A close's data behind that no replica took: the file is empty at the
 * master now, not the size the kernel was told at the close. */
static void fs_kept_forget(struct fs_ctx *ctx, uint64_t ino);

static void fs_lost_inode(void *arg, uint64_t ino)
{
	struct fs_ctx *ctx = arg;
	fs_kept_forget(ctx, ino);
	if (ctx->se)
		(void)fuse_lowlevel_notify_inval_inode(ctx->se, (fuse_ino_t)ino, -1, 0);
}

/* Sole use begins or ends (inval_watch.h): at its end, what was opened
 * without the master is declared before the feed polls again. */
static void fs_feed_sole(void *arg, bool on)
{
	struct fs_ctx *ctx = arg;
	atomic_fetch_add(&ctx->sole_period, 1);   /* odd: on */
	csess_sole(ctx->cs, on);
}

/* An open of ino under sole use: whether the kernel may keep its page
 * cache of the file (an open of it in this period dropped it already). */
static bool fs_keep_cache(struct fs_ctx *ctx, uint64_t ino)
{
	uint64_t period = atomic_load(&ctx->sole_period);
	if (!(period & 1))
		return false;
	pthread_mutex_lock(&ctx->kept_lock);
	size_t k = (size_t)(hash_mix64(ino) % FS_KEPT_SLOTS);
	bool keep = __atomic_load_n(&ctx->kept[k].ino, __ATOMIC_RELAXED) == ino &&
		    ctx->kept[k].period == period;
	__atomic_store_n(&ctx->kept[k].ino, ino, __ATOMIC_RELAXED);
	ctx->kept[k].period = period;
	pthread_mutex_unlock(&ctx->kept_lock);
	return keep;
}

/* The page cache of ino may not be kept at its next open: its data is
 * not what the kernel was shown, or this mount wrote it or changed its
 * times (the next open drops the cache, so a read reaches the mount and
 * reports its atime: relatime after a write). */
static void fs_kept_forget(struct fs_ctx *ctx, uint64_t ino)
{
	size_t k = (size_t)(hash_mix64(ino) % FS_KEPT_SLOTS);
	if (__atomic_load_n(&ctx->kept[k].ino, __ATOMIC_RELAXED) != ino)
		return;
	pthread_mutex_lock(&ctx->kept_lock);
	if (ctx->kept[k].ino == ino)
		__atomic_store_n(&ctx->kept[k].ino, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ctx->kept_lock);
}

/* The change feed brought others' changes: listings and directory
 * attributes learned before may be old. */
static void fs_feed_changed(void *arg)
{
	struct fs_ctx *ctx = arg;
	if (ctx->dc)
		dc_clear(ctx->dc);
	mcache_feed_changed(ctx->mcache);
}

int fs_ctx_set_feed(struct fs_ctx *ctx, struct fuse_session *se, int ttl_s)
{
	ctx->se = se;
	if (ctx->iw)
		return 0;
	int rc = iw_new(ctx->mc, ttl_s, &ctx->iw);
	if (rc == 0 && ttl_s > 1) {
		if (dc_new(&ctx->dc) < 0)
			ctx->dc = NULL;   /* no folder listings */
		if (dcnt_new(&ctx->dcnt) < 0)
			ctx->dcnt = NULL; /* every rmdir waits */
		iw_on_change(ctx->iw, fs_feed_changed, ctx);
		iw_on_inode(ctx->iw, fs_feed_inode, ctx);
		iw_on_recall(ctx->iw, fs_feed_recall, ctx);
		iw_on_sole(ctx->iw, fs_feed_sole, ctx);
		fh_table_set_behind(ctx->fht, ctx->nsq, fs_behind_ok, ctx);
		fh_table_on_lost(ctx->fht, fs_lost_inode, ctx);
	}
	return rc;
}

void fs_ctx_free(struct fs_ctx *ctx)
{
	if (!ctx)
		return;
	nsq_free(ctx->nsq);
	iw_free(ctx->iw);
	dc_free(ctx->dc);
	dcnt_free(ctx->dcnt);
	csess_free(ctx->cs);
	lock_table_free(ctx->locks);
	atime_queue_free(ctx->atime);
	mcache_free(ctx->mcache);
	for (int i = 0; i < FS_OP_COUNT; i++) {
		unsigned long c = atomic_load(&ctx->calls[i]);
		if (c)
			log_info("op %-9s calls %lu errors %lu", fs_op_names[i], c,
				 atomic_load(&ctx->errors[i]));
	}
	free(ctx);
}

void fs_ctx_set_send_caller(struct fs_ctx *ctx, bool on)
{
	ctx->send_caller = on;
}

void fs_ctx_set_noatime(struct fs_ctx *ctx, bool noatime)
{
	ctx->noatime = noatime;
}

/* The ops that make or change names or data, unlike reads and removals
 * (fs_walk_lasts). */
static const bool fs_op_makes[FS_OP_COUNT] = {
	[FS_OP_setattr] = true, [FS_OP_mkdir] = true,   [FS_OP_create] = true,
	[FS_OP_mknod] = true,   [FS_OP_symlink] = true, [FS_OP_link] = true,
	[FS_OP_rename] = true,  [FS_OP_write] = true,   [FS_OP_fallocate] = true,
};

static struct fs_ctx *fs_ctx(fuse_req_t req, enum fs_op op)
{
	struct fs_ctx *ctx = fuse_req_userdata(req);
	atomic_fetch_add_explicit(&ctx->calls[op], 1, memory_order_relaxed);
	if (fs_op_makes[op])
		atomic_store_explicit(&ctx->made_ms, mcache_now_ms(), memory_order_relaxed);
	return ctx;
}

/* The only way handlers send an error (or 0) reply. err: 0 or -errno. */
static void fs_reply_err(struct fs_ctx *ctx, fuse_req_t req, enum fs_op op, int err)
{
	if (err < 0 && err != -ENOENT && err != -ENODATA)
		atomic_fetch_add_explicit(&ctx->errors[op], 1, memory_order_relaxed);
	mount_metrics_fuse_error(err);
	fuse_reply_err(req, -err);
}

static struct file_handle *fs_fh(const struct fuse_file_info *fi)
{
	return (struct file_handle *)(uintptr_t)fi->fh;
}

static void fs_local_attrs(struct fs_ctx *ctx, struct stat *st);

/* Attributes from a master reply, with this mount's not yet committed
 * size for files being written here. */
static int fs_attr(struct fs_ctx *ctx, const json_t *attr_obj, struct stat *st)
{
	int rc = master_client_attr_obj(attr_obj, st);
	if (rc < 0) {
		log_err("malformed attributes from the master");
		return rc;
	}
	mcache_note_xattrs(ctx->mcache, attr_obj);
	fs_local_attrs(ctx, st);
	return 0;
}

/* The attributes of a file closed here a moment ago (fh_table_settle),
 * still right at feed generation gen: the feed is live, and no read-atime
 * report of it was on its way. */
static bool fs_settled(struct fs_ctx *ctx, fuse_ino_t ino, uint64_t gen, struct stat *st)
{
	if (ctx->send_caller || !iw_live(ctx->iw) || !fh_table_settled(ctx->fht, ino, gen, st))
		return false;
	if (atime_queue_wait(ctx->atime, ino)) {
		fh_table_unsettle(ctx->fht, ino);   /* its atime moved at the master */
		return false;
	}
	return true;
}

/* This mount's own news of a file over attributes st: the size and
 * mtime of writes not committed yet, the setattrs kept for its commit. */
static void fs_local_attrs(struct fs_ctx *ctx, struct stat *st)
{
	uint64_t local;
	if (S_ISREG(st->st_mode) && fh_table_local_size(ctx->fht, st->st_ino, &local) &&
	    local > (uint64_t)st->st_size) {
		st->st_size = (off_t)local;
		st->st_blocks = (blkcnt_t)((local + 511) / 512);
	}
	struct timespec wm;
	if (S_ISREG(st->st_mode) && fh_table_local_mtime(ctx->fht, st->st_ino, &wm) &&
	    (wm.tv_sec > st->st_mtim.tv_sec ||
	     (wm.tv_sec == st->st_mtim.tv_sec && wm.tv_nsec > st->st_mtim.tv_nsec))) {
		st->st_mtim = wm;
		if (wm.tv_sec > st->st_ctim.tv_sec ||
		    (wm.tv_sec == st->st_ctim.tv_sec && wm.tv_nsec > st->st_ctim.tv_nsec))
			st->st_ctim = wm;
	}
	if (S_ISREG(st->st_mode))
		fh_table_overlay_attrs(ctx->fht, st->st_ino, st);  /* setattrs kept here */
}

/* Whether attributes st, asked for when the size epoch was epoch, may
 * predate a commit of this mount (fh_table_size_epoch): a file written
 * here whose last handle closed while the master was answering. The
 * kernel would take the older size, and an O_APPEND write would land
 * over the end of another. Rare: a writer's close during the call. */
static bool fs_size_moved(struct fs_ctx *ctx, const struct stat *st, uint64_t epoch)
{
	uint64_t local;
	return S_ISREG(st->st_mode) && fh_table_size_epoch(ctx->fht) != epoch &&
	       !fh_table_local_size(ctx->fht, st->st_ino, &local);
}

/* The rest of entry e from its attributes: kept ttl seconds. */
static void fs_entry_of_attr(struct fuse_entry_param *e, double ttl)
{
	e->ino = e->attr.st_ino;
	e->generation = 1;
	e->attr_timeout = ttl;
	e->entry_timeout = ttl;
}

static int fs_entry(struct fs_ctx *ctx, const json_t *resp, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	int rc = fs_attr(ctx, json_object_get(resp, "attr"), &e->attr);
	if (rc < 0)
		return rc;
	fs_entry_of_attr(e, FS_TIMEOUT);
	return 0;
}

/* The kernel's timeouts for entry e (name in parent; name NULL: only its
 * attributes matter), answered by a call sent at feed snapshot snap. */
static void fs_ttl(struct fs_ctx *ctx, struct fuse_entry_param *e, uint64_t snap,
		   uint64_t parent, const char *name)
{
	double t = iw_ttl(ctx->iw, snap, parent, name, e->ino);
	e->attr_timeout = t;
	e->entry_timeout = t;
	if (name && S_ISDIR(e->attr.st_mode))
		dcnt_named(ctx->dcnt, parent, name, e->ino, snap);
}

/* POST op with req (reference stolen; NULL means out of memory), at once:
 * for calls that cannot see this mount's queued unlinks (ns_queue.h). */
static int fs_call_now(struct fs_ctx *ctx, const char *op, json_t *req, json_t **ret_resp,
		       bool *ret_retried)
{
	if (!req)
		return -ENOMEM;
	int rc = master_client_call(ctx->mc, op, req, 0, ret_resp, ret_retried);
	json_decref(req);
	return rc;
}

/* The same after the queued unlinks reached the master. */
static int fs_call(struct fs_ctx *ctx, const char *op, json_t *req, json_t **ret_resp,
		   bool *ret_retried)
{
	nsq_drain(ctx->nsq);
	return fs_call_now(ctx, op, req, ret_resp, ret_retried);
}

/* Add the byte-string member key = name to req (names are bytes; those
 * that are not UTF-8 travel as "<key>_b64", json_util.h). Returns req, or
 * NULL (req released) when req is NULL or memory runs out: fs_call then
 * answers -ENOMEM. */
static json_t *fs_name(json_t *req, const char *key, const char *name)
{
	if (req && ju_set_name(req, key, name, strlen(name)) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* With an export that maps callers, req's caller goes along as "caller"
 * (the master checks permissions for the mapped one). Returns body, or
 * NULL (body released) as fs_name does. */
static json_t *fs_who(struct fs_ctx *ctx, fuse_req_t req, json_t *body)
{
	if (body && ctx->send_caller &&
	    json_object_set_new(body, "caller", json_integer(fuse_req_ctx(req)->uid)) < 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Entry changes name this mount's session: the master renews (or
 * grants, for mkdir) its folder leases by it (master/dir_lease.h).
 * Returns body, or NULL (body released) as fs_name does. */
static json_t *fs_sess(struct fs_ctx *ctx, json_t *body)
{
	if (body && json_object_set_new(body, "session", json_string(csess_id(ctx->cs))) < 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

static int fs_lookup_entry(struct fs_ctx *ctx, fuse_req_t req, fuse_ino_t parent,
			   const char *name, struct fuse_entry_param *e)
{
	int rc;
	for (int attempt = 0;; attempt++) {
		json_t *resp = NULL;
		uint64_t epoch = fh_table_size_epoch(ctx->fht);
		uint64_t snap = iw_snap(ctx->iw);
		json_t *body = fs_name(json_pack("{s:I}", "parent", (json_int_t)parent), "name",
				       name);
		/* a folder whose every name this mount knew when its lease ran
		 * out: the master renews it if nothing changed there since */
		uint64_t known;
		bool renew = attempt == 0 && mcache_names_ver(ctx->mcache, parent, &known);
		if (renew && body &&
		    json_object_set_new(body, "known", json_integer((json_int_t)known)) < 0) {
			json_decref(body);
			body = NULL;
		}
		if (renew)
			body = fs_sess(ctx, body);
		int64_t sent = mcache_now_ms();
		rc = fs_call_now(ctx, "lookup", fs_who(ctx, req, body), &resp, NULL);
		if (rc == 0 && renew)
			mcache_lease_again(ctx->mcache, parent, json_object_get(resp, "dir"), known,
					   sent);
		if (rc == 0 && json_is_true(json_object_get(resp, "absent")))
			rc = -ENOENT;
		if (rc == 0)
			rc = fs_entry(ctx, resp, e);
		if (rc == 0)
			fs_ttl(ctx, e, snap, parent, name);
		json_decref(resp);
		if (rc < 0)
			break;
		/* an answer from before this mount's queued commit (or
		 * setattr) of the file reached the master: send it, ask again */
		if (attempt < FS_SIZE_TRIES && nsq_pending_ino(ctx->nsq, e->ino)) {
			nsq_drain(ctx->nsq);
			continue;
		}
		/* an answer from before this mount's atime report reached the
		 * master, or from before a commit whose local size is gone now:
		 * ask again */
		if (atime_queue_wait(ctx->atime, e->ino))
			continue;
		if (attempt >= FS_SIZE_TRIES || !fs_size_moved(ctx, &e->attr, epoch))
			break;
	}
	return rc;
}

/* Shared by mkdir, mknod, symlink, link: call op, reply with the entry. */
static void fs_make_entry(fuse_req_t req, enum fs_op fop, const char *op, json_t *body,
			  fuse_ino_t parent, const char *name)
{
	struct fs_ctx *ctx = fs_ctx(req, fop);
	json_t *resp = NULL;
	bool retried = false;
	struct fuse_entry_param e;
	nsq_drain(ctx->nsq);
	dcnt_grew(ctx->dcnt, parent);
	int64_t sent = mcache_now_ms();   /* the lease counts from the send */
	uint64_t snap = iw_snap(ctx->iw);
	int rc = fs_call_now(ctx, op, fs_sess(ctx, fs_who(ctx, req, body)), &resp, &retried);
	if (rc == 0)
		rc = fs_entry(ctx, resp, &e);
	if (rc == 0) {
		fs_ttl(ctx, &e, snap, parent, name);
		struct mc_change ch = { parent, name, 1, e.ino };
		mcache_changed(ctx->mcache, resp, &ch, 1, sent);
		if (fop == FS_OP_mkdir)
			mcache_dir_made(ctx->mcache, resp, sent);
	} else if (rc == -EEXIST && retried)
		rc = fs_lookup_entry(ctx, req, parent, name, &e);
	json_decref(resp);
	if (rc < 0) {
		fs_reply_err(ctx, req, fop, rc);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void fs_init_session(struct fs_ctx *ctx, struct fuse_conn_info *conn);

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	fs_init_session(userdata, conn);
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->time_gran = 1;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* every readdir with attributes, not only the first of a listing
	 * (READDIRPLUS_AUTO): the master sends them anyway, and a find or
	 * a glob then stats and opens without a lookup per name */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* The kernel checks ACLs (the master keeps the mode in sync with
	 * them and applies default ACLs), and hands the umask over so the
	 * master can skip it below a default ACL. */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_DONT_MASK)
		conn->want |= FUSE_CAP_DONT_MASK;
	/* Without HANDLE_KILLPRIV the kernel itself clears setuid/setgid on
	 * write, truncate and chown, knowing the writer's CAP_FSETID (a
	 * setattr of the mode reaches us), exactly as on a local fs. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE |
				  FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV);
}

/* The session lives from init to destroy (after the kernel connection
 * ends, or never for a mount killed with -9: the master's session timeout
 * releases that one). Locks are arbitrated by the master, so the kernel
 * must send flock and fcntl locks down instead of keeping them local. */
static void fs_init_session(struct fs_ctx *ctx, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	csess_start(ctx->cs);
	atime_queue_start(ctx->atime);
	nsq_start(ctx->nsq);
	iw_start(ctx->iw, ctx->se);
}

static void fs_destroy(void *userdata)
{
	struct fs_ctx *ctx = userdata;
	fh_table_behind_stop(ctx->fht);   /* closes' data behind, its commits let go */
	nsq_stop(ctx->nsq);   /* what is queued goes first */
	atime_queue_stop(ctx->atime);
	lock_table_stop(ctx->locks);
	csess_stop(ctx->cs);
	iw_stop(ctx->iw);
}

/* Whether a listed entry has one name: a folder, or a file listed with a
 * link count of 1 (a link made here since names it). Removals elsewhere
 * leave those as listed. */
static bool fs_one_name(const struct stat *st)
{
	return S_ISDIR(st->st_mode) || st->st_nlink == 1;
}

/* Whether this mount changed the listed entry st since the mutation
 * count was at (master_client_changed). */
static bool fs_entry_changed(struct fs_ctx *ctx, const struct stat *st, uint64_t at)
{
	return fs_one_name(st) ? master_client_changed_sole(ctx->mc, st->st_ino, at)
			       : master_client_changed(ctx->mc, st->st_ino, at);
}

/* A lookup answered from parent's listing (dir_cache.h): 0 with *e,
 * -ENOENT, or 1 when there is no valid listing. */
static int fs_dc_answer(struct fs_ctx *ctx, uint64_t parent, const char *name,
			struct fuse_entry_param *e)
{
	if (!ctx->dc || ctx->send_caller || !iw_live(ctx->iw))
		return 1;
	uint64_t snap = iw_snap(ctx->iw), at = 0;
	memset(e, 0, sizeof(*e));
	int r = dc_lookup_at(ctx->dc, parent, name, &at, &e->attr);
	if (r < 0 && dc_wait_fetch(ctx->dc, parent, DC_WAIT_MS))
		r = dc_lookup_at(ctx->dc, parent, name, &at, &e->attr);
	/* this mount changed the folder's names, or the entry, since the
	 * listing was asked (master_client_changed): the master knows */
	if (r >= 0 && (master_client_changed_sole(ctx->mc, parent, at) ||
		       (r == 1 && fs_entry_changed(ctx, &e->attr, at))))
		r = -1;
	if (r == 1 && nsq_pending_ino(ctx->nsq, e->attr.st_ino))
		r = -1;   /* a setattr of it queued: the master will say */
	if (r < 0)
		return 1;
	if (r == 0)
		return -ENOENT;
	/* this mount's read-atime report on its way: the listing's atime is
	 * older than what the kernel would get from the master */
	if (atime_queue_wait(ctx->atime, e->attr.st_ino))
		return 1;
	fs_local_attrs(ctx, &e->attr);
	fs_entry_of_attr(e, FS_TIMEOUT);
	fs_ttl(ctx, e, snap, parent, name);
	return 0;
}

/* Whether folder listings go to dir_cache: the live feed keeps them
 * fresh, and this mount answers for itself, not for each caller. */
static bool fs_dc_on(struct fs_ctx *ctx)
{
	return ctx->dc && !ctx->send_caller && iw_live(ctx->iw);
}

/* A readdir answer (or one of its "below"), its entries and the
 * folder's own attributes, into fill f; false if malformed, or not a
 * listing to keep. */
static bool fs_dc_add(struct dc_fill *f, const json_t *listing)
{
	size_t i;
	json_t *ent;
	const json_t *entries = json_object_get(listing, "entries");
	struct stat self;
	uint64_t dver;
	if (!json_is_array(entries))
		return false;
	if (mcache_dir_attr_parse(json_object_get(listing, "attr"), &self, &dver))
		dc_fill_self(f, &self, dver);
	json_array_foreach(entries, i, ent) {
		char *name = NULL;
		size_t len;
		struct stat st;
		uint64_t next;
		bool ok = ju_name_get(ent, "name", FS_NAME_MAX, &name, &len) == 0 &&
			  ju_u64(ent, "cookie", &next) == 0 &&
			  master_client_attr_obj(json_object_get(ent, "attr"), &st) == 0 &&
			  dc_fill_add(f, name, next, &st);
		free(name);
		if (!ok)
			return false;
	}
	return true;
}

/* The listings of the folders below first's, from the answer resp that
 * was asked with "below" at epoch. */
static void fs_dc_below(struct fs_ctx *ctx, const struct dc_fill *first, uint64_t epoch,
			const json_t *resp)
{
	size_t i;
	json_t *sub;
	json_array_foreach(json_object_get(resp, "below"), i, sub) {
		uint64_t dir;
		struct dc_fill *f = ju_u64(sub, "ino", &dir) == 0 ? dc_fill_more(first, dir) : NULL;
		if (!f)
			return;
		if (fs_dc_add(f, sub))
			dc_fill_end(ctx->dc, f, epoch, mcache_now_ms());
		else
			dc_fill_abort(f);
	}
}

/* A listing of dir starts: whether it is part of a walk of a tree (du,
 * find, ls -R, git status): another folder's listing started shortly
 * before. */
static bool fs_walking(struct fs_ctx *ctx, uint64_t dir)
{
	int64_t now = mcache_now_ms();
	int64_t last = atomic_exchange(&ctx->walk_ms, now);
	uint64_t last_dir = atomic_exchange(&ctx->walk_dir, dir);
	return now - last < FS_WALK_MS && last_dir != dir;
}

/* Whether the listings of the folders below would last the walk: not
 * while this mount makes things (rsync and tar create in the folders they
 * list: rsync took twice as long with them), but through removals (a
 * listing holds through removals elsewhere, dir_cache.h: rm -r and find
 * -delete read each folder from one). A git status makes its index.lock,
 * then walks. */
static bool fs_walk_lasts(struct fs_ctx *ctx)
{
	return master_client_quiet_ms(ctx->mc) >= FS_WALK_QUIET_MS ||
	       mcache_now_ms() - atomic_load_explicit(&ctx->made_ms, memory_order_relaxed) >=
		       FS_WALK_QUIET_MS;
}

/* readdir of dir at the master from cookie on; walk: with the listings
 * of the folders a walk of the tree visits next ("below", dir_cache.h),
 * if they would last (fs_walk_lasts). */
static int fs_readdir_call(struct fs_ctx *ctx, fuse_req_t req, uint64_t dir, uint64_t cookie,
			   json_int_t limit, bool walk, json_t **resp)
{
	json_t *body = json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)dir, "cookie",
				 (json_int_t)cookie, "limit", limit);
	if (body && walk && cookie == 0 && fs_dc_on(ctx) && fs_walk_lasts(ctx))
		json_object_set_new(body, "below", json_integer(FS_BELOW));
	return fs_call_now(ctx, "readdir", req ? fs_who(ctx, req, body) : body, resp, NULL);
}

/* Fetch dir's whole listing into the cache (after the lookup that asked
 * was answered), with the folders below it. Gives up on a folder bigger
 * than DC_DIR_MAX. */
static void fs_dc_fetch(struct fs_ctx *ctx, uint64_t dir)
{
	uint64_t epoch = master_client_mutations(ctx->mc);
	struct dc_fill *f = dc_fill_start(ctx->dc, dir, epoch);
	uint64_t cookie = 0;
	if (!f) {
		dc_too_big(ctx->dc, dir, mcache_now_ms());   /* no memory: ends the fetch */
		return;
	}
	bool eof = false, ok = true;
	while (ok && !eof) {
		json_t *resp = NULL;
		ok = fs_readdir_call(ctx, NULL, dir, cookie, 1000, true, &resp) == 0 &&
		     ju_bool_opt(resp, "eof", false, &eof) == 0;
		json_t *entries = json_object_get(resp, "entries");
		size_t n = json_array_size(entries);
		ok = ok && fs_dc_add(f, resp) &&
		     (n > 0 ? ju_u64(json_array_get(entries, n - 1), "cookie", &cookie) == 0 : eof);
		if (ok && eof)
			fs_dc_below(ctx, f, epoch, resp);
		json_decref(resp);
	}
	if (ok) {
		dc_fill_end(ctx->dc, f, epoch, mcache_now_ms());   /* what changed since is judged at each use */
	} else {
		dc_fill_abort(f);
		dc_too_big(ctx->dc, dir, mcache_now_ms());
	}
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_lookup);
	struct fuse_entry_param e;
	bool local = strlen(name) <= FS_NAME_MAX;   /* else the master names what is wrong */
	if (local && nsq_renamed_to(ctx->nsq, parent, name))
		nsq_drain(ctx->nsq);   /* a queued rename makes it: the master will know it */
	if (local &&
	    (nsq_pending_name(ctx->nsq, parent, name) || mcache_absent(ctx->mcache, parent, name))) {
		mount_metrics_add(MM_LOCAL_LOOKUPS, 1);
		fs_reply_err(ctx, req, FS_OP_lookup, -ENOENT);
		return;
	}
	double valid;
	memset(&e, 0, sizeof(e));
	if (local && mcache_child(ctx->mcache, parent, name, &e.attr, &valid)) {
		/* a folder this mount made, in a folder only it changed */
		fs_entry_of_attr(&e, valid);
		mount_metrics_add(MM_LOCAL_LOOKUPS, 1);
		fuse_reply_entry(req, &e);
		return;
	}
	int rc = fs_dc_answer(ctx, parent, name, &e);
	if (rc == 0) {
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc == -ENOENT) {
		mount_metrics_add(MM_LOCAL_LOOKUPS, 1);
		fs_reply_err(ctx, req, FS_OP_lookup, -ENOENT);
		return;
	}
	rc = fs_lookup_entry(ctx, req, parent, name, &e);
	if (rc == 0)
		mcache_seen(ctx->mcache, parent, name);
	if (rc < 0 && rc != -ENOENT) {
		fs_reply_err(ctx, req, FS_OP_lookup, rc);
		return;
	}
	if (rc < 0)
		fs_reply_err(ctx, req, FS_OP_lookup, rc);
	else
		fuse_reply_entry(req, &e);
	/* the second lookup in a folder that missed: list it for the next */
	if (ctx->dc && !ctx->send_caller && iw_live(ctx->iw) &&
	    dc_want(ctx->dc, parent, master_client_quiet_ms_of(ctx->mc, parent), mcache_now_ms()))
		fs_dc_fetch(ctx, parent);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_getattr);
	json_t *resp = NULL;
	struct stat st;
	double valid;
	bool exact;
	uint64_t gen = iw_snap(ctx->iw);   /* before: the feed counts it first */
	if (mcache_attr(ctx->mcache, ino, &st, &valid, &exact)) {
		/* a directory this mount just changed: the change's reply said
		 * (with the time of its queued unlinks: not kept by the kernel
		 * until the master has them). Else (below) after the queued
		 * unlinks: an open file's nlink. What the master said is kept
		 * by the kernel as its own reply would be (the feed's time): a
		 * path walk through the folder (the search bit) then needs no
		 * call, nor a live master, for that long */
		double ttl = valid;
		if (nsq_pending_dir(ctx->nsq, ino))
			ttl = FS_PENDING_TTL;
		else if (exact) {
			/* a grant (not the feed down, nor its ring full: those
			 * give IW_SHORT_TTL, longer than what is left here) */
			double fed = iw_ttl(ctx->iw, gen, 0, NULL, ino);
			if (fed > IW_SHORT_TTL)
				ttl = fed;
		}
		mount_metrics_add(MM_LOCAL_GETATTRS, 1);
		fuse_reply_attr(req, &st, ttl);
		return;
	}
	if (fh_table_known_attrs(ctx->fht, ino, &st)) {
		/* a file this mount made and is writing: it knows them all (the
		 * kernel asks before each fchown, as it clears setuid bits) */
		fs_local_attrs(ctx, &st);
		mount_metrics_add(MM_LOCAL_GETATTRS, 1);
		fuse_reply_attr(req, &st, FS_TIMEOUT);
		return;
	}
	gen = iw_snap(ctx->iw);
	if (!fi && fs_settled(ctx, ino, gen, &st)) {
		/* a file closed here a moment ago (rsync's lstat of it). Not
		 * for a getattr through an open file: the kernel asks so before
		 * a read past the size it knows, where another mount's append
		 * (whose feed event may still be on its way) must be seen */
		mount_metrics_add(MM_LOCAL_GETATTRS, 1);
		fuse_reply_attr(req, &st, iw_ttl(ctx->iw, gen, 0, NULL, ino));
		return;
	}
	atime_queue_wait(ctx->atime, ino);
	int rc;
	uint64_t snap = 0;
	for (int attempt = 0;; attempt++) {
		uint64_t epoch = fh_table_size_epoch(ctx->fht);
		snap = iw_snap(ctx->iw);
		rc = fs_call(ctx, "getattr", json_pack("{s:I}", "ino", (json_int_t)ino), &resp,
			     NULL);
		if (rc == 0)
			rc = fs_attr(ctx, json_object_get(resp, "attr"), &st);
		json_decref(resp);
		resp = NULL;
		if (rc < 0 || attempt == FS_SIZE_TRIES || !fs_size_moved(ctx, &st, epoch))
			break;
	}
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_getattr, rc);
		return;
	}
	fuse_reply_attr(req, &st, iw_ttl(ctx->iw, snap, 0, NULL, ino));
}

static int fs_set_time(json_t *req, int to_set, int flag_set, int flag_now, const char *pfx,
		       const struct timespec *ts)
{
	char key[16];
	if (to_set & flag_now) {
		snprintf(key, sizeof(key), "%s_now", pfx);
		return json_object_set_new(req, key, json_true());
	}
	if (!(to_set & flag_set))
		return 0;
	snprintf(key, sizeof(key), "%s_s", pfx);
	if (json_object_set_new(req, key, json_integer((json_int_t)ts->tv_sec)) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s_ns", pfx);
	return json_object_set_new(req, key, json_integer((json_int_t)ts->tv_nsec));
}

#define FS_SETATTR_KNOWN                                                              \
	(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE | \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |             \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)
#define FS_GROUPS_MAX 256

/* Linux drops S_ISGID of a regular file whose group the caller (without
 * CAP_FSETID) is not in when it writes, truncates or chmods it, group-exec
 * or not. The kernel's FUSE code leaves part of that to the file system:
 * for a write or truncate it sends a mode only for S_ISUID and for
 * S_ISGID with group-exec (a write sends an empty setattr otherwise). So
 * such setattrs of non-root callers carry the caller's groups, and the
 * master applies the rule in the same transaction. */
static int fs_add_groups(fuse_req_t req, json_t *body)
{
	gid_t groups[FS_GROUPS_MAX];
	int n = fuse_req_getgroups(req, FS_GROUPS_MAX, groups);
	json_t *arr = json_array();
	if (!arr || json_object_set_new(body, "groups", arr) < 0)
		return -ENOMEM;
	int bad = json_array_append_new(arr, json_integer(fuse_req_ctx(req)->gid));
	for (int i = 0; i < n && i < FS_GROUPS_MAX; i++)
		bad |= json_array_append_new(arr, json_integer(groups[i]));
	return bad ? -ENOMEM : 0;
}

/* What a setattr (attr, to_set) sets but the size, times asked as "now"
 * taken now (in *ret_now if not NULL). */
static void fs_setattr_of(const struct stat *attr, int to_set, struct fh_setattr *sa,
			  struct timespec *ret_now)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(sa, 0, sizeof(*sa));
	sa->has_mode = (to_set & FUSE_SET_ATTR_MODE) != 0;
	sa->mode = attr->st_mode & 07777;
	sa->has_uid = (to_set & FUSE_SET_ATTR_UID) != 0;
	sa->uid = attr->st_uid;
	sa->has_gid = (to_set & FUSE_SET_ATTR_GID) != 0;
	sa->gid = attr->st_gid;
	sa->has_atime = (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) != 0;
	sa->atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now : attr->st_atim;
	sa->has_mtime = (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) != 0;
	sa->mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
	if (ret_now)
		*ret_now = now;
}

/* A setattr of a file this mount made and has open for writing (tar's
 * fchown, fchmod and futimens before close; cp -p; rsync) is kept and
 * goes to the master with the file's commit (fh_table_defer_setattr): no
 * round trip of its own. Not sizes (a truncate must reach the master), not
 * for exports that map callers (the master judges those), and not a mode
 * with setgid from a non-root caller (the master applies the group rule).
 * True if kept, with the attributes to answer in *st. */
static bool fs_setattr_kept(struct fs_ctx *ctx, fuse_req_t req, fuse_ino_t ino,
			    const struct stat *attr, int to_set, struct stat *st)
{
	if (ctx->send_caller || (to_set & FUSE_SET_ATTR_SIZE) || !(to_set & FS_SETATTR_KNOWN) ||
	    (to_set & ~FS_SETATTR_KNOWN) ||
	    ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & S_ISGID) &&
	     fuse_req_ctx(req)->uid != 0))
		return false;
	struct fh_setattr sa;
	fs_setattr_of(attr, to_set, &sa, NULL);
	if (fh_table_defer_setattr(ctx->fht, ino, &sa, st) < 0)
		return false;
	if (sa.has_mtime)
		fh_table_mtime_set(ctx->fht, ino);   /* the set mtime, not the last write's */
	uint64_t local;
	if (fh_table_local_size(ctx->fht, ino, &local) && local > (uint64_t)st->st_size) {
		st->st_size = (off_t)local;
		st->st_blocks = (blkcnt_t)((local + 511) / 512);
	}
	mount_metrics_add(MM_KEPT_SETATTRS, 1);
	return true;
}

/* The /v1/setattr body of a setattr (*ret_body), or -errno. */
static int fs_setattr_body(fuse_req_t req, fuse_ino_t ino, const struct stat *attr, int to_set,
			   json_t **ret_body)
{
	struct fs_ctx *ctx = fuse_req_userdata(req);
	json_t *body = fs_who(ctx, req, json_pack("{s:I}", "ino", (json_int_t)ino));
	*ret_body = NULL;
	if (!body)
		return -ENOMEM;
	int bad = 0;
	if (to_set & FUSE_SET_ATTR_MODE)
		bad |= json_object_set_new(body, "mode", json_integer(attr->st_mode & 07777));
	if (to_set & FUSE_SET_ATTR_UID)
		bad |= json_object_set_new(body, "uid", json_integer((json_int_t)attr->st_uid));
	if (to_set & FUSE_SET_ATTR_GID)
		bad |= json_object_set_new(body, "gid", json_integer((json_int_t)attr->st_gid));
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			json_decref(body);
			return -EINVAL;
		}
		bad |= json_object_set_new(body, "size", json_integer((json_int_t)attr->st_size));
	}
	bad |= fs_set_time(body, to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, "atime",
			   &attr->st_atim);
	bad |= fs_set_time(body, to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, "mtime",
			   &attr->st_mtim);
	if (!bad && fuse_req_ctx(req)->uid != 0 &&
	    ((to_set & FS_SETATTR_KNOWN) == 0 || (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE)))) {
		int rc = fs_add_groups(req, body);
		if (rc < 0) {
			json_decref(body);
			return rc;
		}
	}
	if (bad) {
		json_decref(body);
		return -ENOMEM;
	}
	*ret_body = body;
	return 0;
}

/* A setattr of a file closed here a moment ago whose attributes this
 * mount knows (fh_table_settle: rsync's utimensat and chmod of each file
 * it wrote, tar's of a folder's files), or of a folder whose attributes
 * it knows (dir: meta_cache's, from this mount's last change in it or
 * listing of it; tar's chown, chmod and utimensat of each folder it
 * filled): answered with them changed as the master will, and queued
 * (ns_queue.h). Only what the kernel has judged already and the master
 * can only do: times, a mode, an owner set by root, no size, no setuid
 * or setgid bit before or after (the master may clear those), no caller
 * whose groups the master must see. */
static bool fs_setattr_queued(struct fs_ctx *ctx, fuse_req_t req, fuse_ino_t ino,
			      const struct stat *attr, int to_set, const struct stat *dir,
			      struct stat *st)
{
	uint64_t gen = iw_snap(ctx->iw);
	if (ctx->send_caller || (to_set & FUSE_SET_ATTR_SIZE) || !(to_set & FS_SETATTR_KNOWN) ||
	    (to_set & ~FS_SETATTR_KNOWN) ||
	    ((to_set & FUSE_SET_ATTR_MODE) &&
	     (fuse_req_ctx(req)->uid != 0 || (attr->st_mode & (S_ISUID | S_ISGID)))) ||
	    !csess_batches(ctx->cs, CS_BATCH_SETATTR))
		return false;
	if (!fs_settled(ctx, ino, gen, st)) {
		if (!dir)
			return false;
		*st = *dir;
	}
	if (st->st_mode & (S_ISUID | S_ISGID))
		return false;
	json_t *body = NULL;
	if (fs_setattr_body(req, ino, attr, to_set, &body) < 0)
		return false;
	struct fh_setattr sa;
	fs_setattr_of(attr, to_set, &sa, &st->st_ctim);
	fh_setattr_apply(&sa, st);
	int rc = nsq_setattr(ctx->nsq, ino, body);
	json_decref(body);
	if (rc < 0)
		return false;
	fh_table_settle(ctx->fht, ino, st, gen);
	return true;
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_setattr);
	json_t *resp = NULL;
	fs_kept_forget(ctx, ino);
	struct stat st;
	int rc;
	uint64_t snap = iw_snap(ctx->iw);
	atime_queue_wait(ctx->atime, ino); /* keep the order: a utimens after a read */
	struct stat dir;
	double valid;
	bool dir_known = mcache_attr(ctx->mcache, ino, &dir, &valid, NULL) && S_ISDIR(dir.st_mode);
	mcache_forget_attr(ctx->mcache, ino);
	if (fs_setattr_kept(ctx, req, ino, attr, to_set, &st)) {
		fuse_reply_attr(req, &st, FS_TIMEOUT);
		return;
	}
	if (fs_setattr_queued(ctx, req, ino, attr, to_set, dir_known ? &dir : NULL, &st)) {
		fuse_reply_attr(req, &st, iw_ttl(ctx->iw, snap, 0, NULL, ino));
		return;
	}
	fh_table_unsettle(ctx->fht, ino);
	json_t *body = NULL;
	rc = fs_setattr_body(req, ino, attr, to_set, &body);
	if (rc < 0)
		goto out_reply;
	if (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		/* Buffered data must land before the size changes under it,
		 * and before an explicit mtime. An explicit mtime is what tar,
		 * cp -p and rsync set last, just before close: give the leases
		 * back in that commit, so the close has nothing left to send. */
		rc = fh_table_flush_inode(ctx->fht, ino,
					  !(to_set & FUSE_SET_ATTR_SIZE) &&
						  (to_set & (FUSE_SET_ATTR_MTIME |
							     FUSE_SET_ATTR_MTIME_NOW)));
		if (rc < 0) {
			json_decref(body);
			goto out_reply;
		}
	}
	if (to_set & ~FS_SETATTR_KNOWN)
		log_debug("setattr %" PRIu64 ": ignoring attribute bits 0x%x", (uint64_t)ino, to_set);
	rc = fs_call(ctx, "setattr", body, &resp, NULL);
	if (rc < 0)
		log_debug("setattr %" PRIu64 " (bits 0x%x): %s", (uint64_t)ino, to_set, strerror(-rc));
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
		fh_table_mtime_set(ctx->fht, ino);
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		fh_table_forget_grants(ctx->fht, ino,
				       ((uint64_t)attr->st_size + FH_CHUNK_SIZE - 1) / FH_CHUNK_SIZE,
				       UINT64_MAX);
		fh_table_truncated(ctx->fht, ino, (uint64_t)attr->st_size);
	}
	if (rc == 0) {
		struct stat raw;
		rc = master_client_attr_obj(json_object_get(resp, "attr"), &raw);
		if (rc == 0)
			fh_table_base_attrs(ctx->fht, ino, &raw);
		if (rc == 0)
			rc = fs_attr(ctx, json_object_get(resp, "attr"), &st);
	}
out_reply:
	json_decref(resp);
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_setattr, rc);
		return;
	}
	fuse_reply_attr(req, &st, iw_ttl(ctx->iw, snap, 0, NULL, ino));
}

/* Wait for the read-atime reports of the entries of a readdir answer
 * that are still on their way. True if there was one. */
static bool fs_entries_wait_atime(struct fs_ctx *ctx, const json_t *entries)
{
	bool waited = false;
	size_t i;
	json_t *ent;
	json_array_foreach(entries, i, ent) {
		uint64_t ino;
		if (ju_u64(json_object_get(ent, "attr"), "ino", &ino) == 0)
			waited |= atime_queue_wait(ctx->atime, ino);
	}
	return waited;
}

/* An open directory: where the master's last answer said the listing
 * ends, so the kernel's read past the last entry (every listing ends
 * with one that returns nothing) needs no call; and the entries counted
 * so far by a listing read from its start, page after page (dir_count.h). */
struct fs_dir {
	bool eof_known;
	off_t eof_off;
	bool counting;
	off_t count_next;            /* where the next page must start */
	uint64_t counted;
	struct dcnt_mark mark;
};

/* A page of folder ino's listing, from off to next_off with n entries,
 * was handed to the kernel; eof: it was the last. */
static void fs_dir_counted(struct fs_ctx *ctx, struct fs_dir *dh, uint64_t ino, off_t off,
			   off_t next_off, uint64_t n, bool eof)
{
	if (!dh)
		return;
	if (off == 0) {
		dh->counting = true;
		dh->counted = 0;
	} else if (!dh->counting || off != dh->count_next) {
		dh->counting = false;
		return;
	}
	dh->counted += n;
	dh->count_next = next_off;
	if (eof) {
		dcnt_listed(ctx->dcnt, ino, dh->counted, dh->mark, iw_snap(ctx->iw));
		dh->counting = false;
	}
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->fh = (uint64_t)(uintptr_t)calloc(1, sizeof(struct fs_dir));
	fuse_reply_open(req, fi);   /* without one (no memory) every read asks */
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free((void *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Whether folder name in parent (fs_known_empty: its rmdir may be
 * queued), or folder dir (fs_dir_known_empty: its listing is "." and
 * ".."), is known empty now: its whole listing was read, every name of
 * it removed since, nothing added or brought by the live change feed
 * (dir_count.h). */
static bool fs_known_empty(struct fs_ctx *ctx, uint64_t parent, const char *name)
{
	return ctx->dcnt && iw_live(ctx->iw) && dcnt_empty(ctx->dcnt, parent, name, iw_snap(ctx->iw));
}

static bool fs_dir_known_empty(struct fs_ctx *ctx, uint64_t dir)
{
	return ctx->dcnt && iw_live(ctx->iw) && dcnt_dir_empty(ctx->dcnt, dir, iw_snap(ctx->iw));
}

/* Entry name (cookie: the master's, after it) into the kernel's buffer,
 * if it fits: *last_off and *handed move on. */
static bool fs_dirent_add(fuse_req_t req, char *buf, size_t size, size_t *used, bool plus,
			  const char *name, struct fuse_entry_param *e, off_t *last_off,
			  uint64_t cookie, uint64_t *handed)
{
	if (cookie > (uint64_t)INT64_MAX - 2)
		return false;
	off_t noff = (off_t)(cookie + 2);
	size_t n = plus ? fuse_add_direntry_plus(req, buf + *used, size - *used, name, e, noff)
			: fuse_add_direntry(req, buf + *used, size - *used, name, &e->attr, noff);
	if (n > size - *used)
		return false;
	*used += n;
	*last_off = noff;
	(*handed)++;
	return true;
}

/* Folder ino's entries after cookie from this mount's listing of it
 * (dir_cache.h) into *pg, if nothing they show changed since it was
 * read. A listing this mount's readdir read holds while this mount
 * changed nothing but removals and renames in other folders (rm -r reads
 * each folder twice: whether it is empty, then what to remove; after a
 * find, it reads every folder from the listings kept then), but
 * not for its files of several links (a removal may have been of another
 * of their names); one fetched otherwise as long as it would answer a
 * lookup (the folder and each entry). Either way this mount's changes
 * of the folder itself count (master_client_changed_sole, and the queue
 * for those not sent yet). */
static bool fs_dc_page(struct fs_ctx *ctx, uint64_t ino, uint64_t cookie, bool plus,
		       size_t max, struct dc_page *pg)
{
	if (!fs_dc_on(ctx) || nsq_pending_dir(ctx->nsq, ino) ||
	    dc_read(ctx->dc, ino, cookie, max, pg) < 0)
		return false;
	bool ok = (!pg->marked || pg->changes == master_client_changes(ctx->mc)) &&
		  !master_client_changed_sole(ctx->mc, ino, pg->epoch);
	for (size_t i = 0; ok && i < pg->n; i++) {
		const struct stat *st = &pg->v[i].st;
		/* a marked listing's files of several links: a removal of
		 * another of their names changed their link count */
		bool changed = pg->marked ? !fs_one_name(st) && fs_entry_changed(ctx, st, pg->epoch)
					  : fs_entry_changed(ctx, st, pg->epoch);
		ok = !changed &&
		     !nsq_pending_ino(ctx->nsq, st->st_ino) &&
		     !(plus && atime_queue_wait(ctx->atime, st->st_ino));
	}
	if (!ok)
		dc_page_free(pg);
	return ok;
}

/* readdir and readdirplus. Offsets: 0 start, 1 after ".", 2 after "..",
 * then cookie + 2 for the master's cookie that continues after an entry. */
static void fs_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      bool plus, struct fs_dir *dh)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_readdir);
	if (dh && dh->eof_known && off == dh->eof_off && !nsq_pending_dir(ctx->nsq, ino)) {
		fuse_reply_buf(req, NULL, 0);   /* past the end the master named */
		return;
	}
	json_t *resp = NULL;
	struct dc_fill *fill = NULL;   /* the listing read, for dir_cache */
	int rc = 0;
	size_t used = 0;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_reply;
	}
	static const char *const dots[2] = {".", ".."};
	for (off_t d = off < 0 ? 0 : off; d < 2; d++) {
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = ino;
		e.attr.st_mode = S_IFDIR;
		size_t n = plus ? fuse_add_direntry_plus(req, buf + used, size - used, dots[d], &e,
							 d + 1)
				: fuse_add_direntry(req, buf + used, size - used, dots[d], &e.attr,
						    d + 1);
		if (n > size - used)
			goto out_reply;
		used += n;
	}
	uint64_t cookie = off >= 2 ? (uint64_t)off - 2 : 0;
	if (dh && off == 0)
		dh->mark = dcnt_begin(ctx->dcnt, iw_snap(ctx->iw));
	if (cookie == 0 && !nsq_pending_dir(ctx->nsq, ino) &&
	    (mcache_dir_empty(ctx->mcache, ino) || fs_dir_known_empty(ctx, ino))) {
		/* a folder this mount made, still empty under its lease; or
		 * one known empty (find, then rm -r of a tree of folders:
		 * each empty one was read once already) */
		if (dh) {
			dh->eof_known = true;
			dh->eof_off = 2;
		}
		fs_dir_counted(ctx, dh, ino, off, 2, 0, true);
		mount_metrics_add(MM_LOCAL_READDIRS, 1);
		goto out_reply;
	}
	json_int_t limit = (json_int_t)(size / (plus ? 160 : 32)) + 1;
	if (limit > 1000)
		limit = 1000;
	off_t last_off = off < 2 ? 2 : off;
	uint64_t handed = 0;
	bool eof = false, all = true, walk = cookie == 0 && fs_walking(ctx, ino);
	struct dc_page pg;
	if (fs_dc_page(ctx, ino, cookie, plus, (size_t)limit, &pg)) {
		/* this mount's listing of the folder (dir_cache.h) */
		uint64_t snap = iw_snap(ctx->iw);
		for (size_t i = 0; i < pg.n && all; i++) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			e.attr = pg.v[i].st;
			fs_local_attrs(ctx, &e.attr);
			fs_entry_of_attr(&e, FS_TIMEOUT);
			if (plus)
				fs_ttl(ctx, &e, snap, ino, pg.v[i].name);
			all = fs_dirent_add(req, buf, size, &used, plus, pg.v[i].name, &e,
					    &last_off, pg.v[i].cookie, &handed);
		}
		eof = pg.eof;
		/* the kernel asks for the folder's attributes after each read */
		if (pg.has_self)
			mcache_dir_attr(ctx->mcache, &pg.self, pg.self_dver, mcache_feed_gen(ctx->mcache));
		dc_page_free(&pg);
		mount_metrics_add(MM_KEPT_LISTINGS, 1);
		goto out_listed;
	}
	if (nsq_pending_dir(ctx->nsq, ino))
		nsq_drain(ctx->nsq);
	json_t *entries;
	size_t i;
	json_t *ent;
	uint64_t snap = 0, fgen = 0, epoch = 0;
	for (int attempt = 0;; attempt++) {
		snap = iw_snap(ctx->iw);
		fgen = mcache_feed_gen(ctx->mcache);
		/* a whole listing is kept, with what this mount changed so far */
		dc_fill_abort(fill);
		fill = NULL;
		if (cookie == 0 && fs_dc_on(ctx)) {
			epoch = master_client_mutations(ctx->mc);
			fill = dc_fill_start(ctx->dc, ino, epoch);
			if (fill)
				dc_fill_mark(fill, master_client_changes(ctx->mc));
		}
		rc = fs_readdir_call(ctx, req, ino, cookie, limit, walk, &resp);
		if (rc < 0)
			goto out_reply;
		entries = json_object_get(resp, "entries");
		if (!json_is_array(entries)) {
			rc = -EIO;
			goto out_reply;
		}
		/* readdirplus hands attributes to the kernel: ask again if an
		 * entry's read-atime report was still on its way (after a few
		 * tries, an atime a few milliseconds old will do) */
		if (!plus || attempt == 3 || !fs_entries_wait_atime(ctx, entries))
			break;
		json_decref(resp);
		resp = NULL;
	}
	mcache_dir_listed(ctx->mcache, json_object_get(resp, "attr"), fgen);
	if (ju_bool_opt(resp, "eof", false, &eof) < 0)
		eof = false;
	json_array_foreach(entries, i, ent) {
		char *name = NULL;
		size_t name_len;
		uint64_t next;
		struct fuse_entry_param e;
		if (ju_name_get(ent, "name", FS_NAME_MAX, &name, &name_len) < 0 ||
		    ju_u64(ent, "cookie", &next) < 0 || next > (uint64_t)INT64_MAX - 2 ||
		    fs_entry(ctx, ent, &e) < 0) {
			free(name);
			log_err("directory %" PRIu64 ": malformed entry from the master",
				(uint64_t)ino);
			rc = -EIO;
			goto out_reply;
		}
		if (plus)
			fs_ttl(ctx, &e, snap, ino, name);
		all = fs_dirent_add(req, buf, size, &used, plus, name, &e, &last_off, next, &handed);
		free(name);
		if (!all)
			break;
	}
	if (fill && eof) {
		if (fs_dc_add(fill, resp)) {
			fs_dc_below(ctx, fill, epoch, resp);
			dc_fill_end(ctx->dc, fill, epoch, mcache_now_ms());
		} else {
			dc_fill_abort(fill);
		}
		fill = NULL;
	}
out_listed:
	if (dh && eof && all) {
		dh->eof_known = true;
		dh->eof_off = last_off;
	}
	fs_dir_counted(ctx, dh, ino, off, last_off, handed, eof && all);
out_reply:
	dc_fill_abort(fill);
	json_decref(resp);
	if (rc < 0 && used == 0) {
		fs_reply_err(ctx, req, FS_OP_readdir, rc);
	} else {
		fuse_reply_buf(req, buf, used);
	}
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, false, (struct fs_dir *)(uintptr_t)fi->fh);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, true, (struct fs_dir *)(uintptr_t)fi->fh);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	fs_make_entry(req, FS_OP_mkdir, "mkdir",
		      fs_name(json_pack("{s:I, s:I, s:I, s:I, s:I}", "parent", (json_int_t)parent,
					"mode", (json_int_t)(S_IFDIR | (mode & 07777)), "uid",
					(json_int_t)c->uid, "gid", (json_int_t)c->gid, "umask",
					(json_int_t)(c->umask & 0777)),
			      "name", name),
		      parent, name);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	fs_make_entry(req, FS_OP_mknod, "mknod",
		      fs_name(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "parent",
					(json_int_t)parent, "mode", (json_int_t)mode, "rdev",
					(json_int_t)rdev, "uid", (json_int_t)c->uid, "gid",
					(json_int_t)c->gid, "umask", (json_int_t)(c->umask & 0777)),
			      "name", name),
		      parent, name);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	fs_make_entry(req, FS_OP_symlink, "symlink",
		      fs_name(fs_name(json_pack("{s:I, s:I, s:I}", "parent", (json_int_t)parent,
						"uid", (json_int_t)c->uid, "gid",
						(json_int_t)c->gid),
				      "name", name),
			      "target", link),
		      parent, name);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fh_table_names_changed(((struct fs_ctx *)fuse_req_userdata(req))->fht);
	fs_make_entry(req, FS_OP_link, "link",
		      fs_name(json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "newparent",
					(json_int_t)newparent),
			      "newname", newname),
		      newparent, newname);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_readlink);
	json_t *resp = NULL;
	char *target = NULL;
	size_t len;
	int rc = fs_call(ctx, "readlink", json_pack("{s:I}", "ino", (json_int_t)ino), &resp, NULL);
	if (rc == 0 && ju_name_get(resp, "target", FS_PATH_MAX, &target, &len) < 0)
		rc = -EIO;
	if (rc < 0)
		fs_reply_err(ctx, req, FS_OP_readlink, rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
	json_decref(resp);
}

static void fs_remove(fuse_req_t req, enum fs_op fop, const char *op, fuse_ino_t parent,
		      const char *name)
{
	struct fs_ctx *ctx = fs_ctx(req, fop);
	bool retried = false;
	fh_table_names_changed(ctx->fht);   /* a link count here may drop */
	/* the files opened without the master (sole use) are declared, so
	 * that it keeps one whose last name goes while it is open here */
	csess_register_all(ctx->cs);
	/* Queued (ns_queue.h), unless the master must judge a mapped caller.
	 * An rmdir waits behind the unlinks of what the folder held. */
	if (!ctx->send_caller && (fop == FS_OP_unlink || fs_known_empty(ctx, parent, name))) {
		mcache_dir_predict(ctx->mcache, parent, fop == FS_OP_rmdir ? -1 : 0);
		if (nsq_remove(ctx->nsq, parent, name, fop == FS_OP_rmdir) == 0) {
			dcnt_removed(ctx->dcnt, parent);
			fs_reply_err(ctx, req, fop, 0);
			return;
		}
	}
	if (!ctx->send_caller && fop == FS_OP_rmdir && nsq_pending(ctx->nsq)) {
		int rc = nsq_rmdir(ctx->nsq, parent, name);
		if (rc == 0)
			dcnt_removed(ctx->dcnt, parent);
		if (rc != -ESHUTDOWN && rc != -ENOMEM) {
			fs_reply_err(ctx, req, fop, rc);
			return;
		}
	}
	struct csess_closes closes;
	json_t *body = fs_sess(ctx, fs_who(ctx, req, fs_name(json_pack("{s:I}", "parent",
									 (json_int_t)parent),
							       "name", name)));
	csess_attach_closes(ctx->cs, body, &closes); /* so a just-closed file goes at once */
	json_t *resp = NULL;
	nsq_drain(ctx->nsq);
	int64_t sent = mcache_now_ms();   /* the lease counts from the send */
	int rc = fs_call_now(ctx, op, body, &resp, &retried);
	csess_closes_sent(ctx->cs, &closes, rc);
	if (rc == -ENOENT && retried)
		rc = 0;
	if (rc == 0) {
		struct mc_change ch = { parent, name, -1, 0 };
		mcache_changed(ctx->mcache, resp, &ch, 1, sent);
		dcnt_removed(ctx->dcnt, parent);
	}
	json_decref(resp);
	fs_reply_err(ctx, req, fop, rc);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_remove(req, FS_OP_unlink, "unlink", parent, name);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_remove(req, FS_OP_rmdir, "rmdir", parent, name);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_rename);
	if (flags & ~(FS_RENAME_NOREPLACE | FS_RENAME_EXCHANGE) ||
	    flags == (FS_RENAME_NOREPLACE | FS_RENAME_EXCHANGE)) {
		fs_reply_err(ctx, req, FS_OP_rename, -EINVAL);
		return;
	}
	bool retried = false;
	struct csess_closes closes;
	fh_table_names_changed(ctx->fht);   /* a file renamed over loses a link */
	csess_register_all(ctx->cs);        /* as fs_remove */
	/* Queued (ns_queue.h): a plain rename within a folder to a name known
	 * absent (nothing to replace, so no ENOTEMPTY, EISDIR or ENOTDIR; no
	 * loop, no other folder's quota or subtree) can only be done, or find
	 * its old name gone (another mount removed it first). */
	if (!ctx->send_caller && flags == 0 && parent == newparent &&
	    csess_batches(ctx->cs, CS_BATCH_RENAME) &&
	    strlen(newname) <= FS_NAME_MAX && !nsq_renamed_to(ctx->nsq, parent, newname) &&
	    mcache_absent(ctx->mcache, parent, newname)) {
		dcnt_reset(ctx->dcnt);
		mcache_dir_predict(ctx->mcache, parent, 0);
		if (nsq_rename(ctx->nsq, parent, name, newparent, newname) == 0) {
			fs_reply_err(ctx, req, FS_OP_rename, 0);
			return;
		}
	}
	json_t *body = fs_name(fs_name(json_pack("{s:I, s:I, s:I}", "parent", (json_int_t)parent,
						 "newparent", (json_int_t)newparent, "flags",
						 (json_int_t)flags),
				       "name", name),
			       "newname", newname);
	body = fs_sess(ctx, fs_who(ctx, req, body));
	csess_attach_closes(ctx->cs, body, &closes);
	json_t *resp = NULL;
	nsq_drain(ctx->nsq);
	dcnt_reset(ctx->dcnt);   /* names may be other folders now */
	int64_t sent = mcache_now_ms();   /* the lease counts from the send */
	int rc = fs_call_now(ctx, "rename", body, &resp, &retried);
	csess_closes_sent(ctx->cs, &closes, rc);
	if (rc == -ENOENT && retried)
		rc = 0;
	if (rc == 0) {
		int d = (flags & FS_RENAME_EXCHANGE) ? 0 : 1;
		struct mc_change ch[2] = { { parent, name, -d, 0 }, { newparent, newname, d, 0 } };
		mcache_changed(ctx->mcache, resp, ch, 2, sent);
	}
	json_decref(resp);
	fs_reply_err(ctx, req, FS_OP_rename, rc);
}


static void fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	struct fs_ctx *ctx = fuse_req_userdata(req);
	lock_ops_getlk(ctx->locks, req, ino, fi, lock);
}

static void fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct fs_ctx *ctx = fuse_req_userdata(req);
	lock_ops_setlk(ctx->locks, req, ino, fi, lock, sleep);
}

static void fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct fs_ctx *ctx = fuse_req_userdata(req);
	lock_ops_flock(ctx->locks, req, ino, fi, op);
}

static void fs_open_fi(struct fuse_file_info *fi, struct file_handle *fh)
{
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->keep_cache = 0;
	fi->direct_io = (fi->flags & O_DIRECT) != 0; /* O_DIRECT: no page cache */
}

/* ---- creates answered here ---------------------------------------------
 *
 * In a folder this mount made and alone changes (it holds the master's
 * lease, meta_cache.h: it knows every name there), a create of a new
 * file to be written can only succeed at the master: the name is absent,
 * the kernel checked the caller's rights, and nothing else can refuse it
 * (no quota, no caller mapping). So the mount answers it at once, as an
 * inode number the master reserved for it (/v1/inos), with the
 * attributes the master will give it (the caller's owner, the folder's
 * group if it is setgid, the mode less the umask: folders with any
 * extended attribute, which may be a default ACL, are left out), and
 * queues it (ns_queue.h nsq_create); its first chunk's grant comes with
 * the reply, which the close's data behind waits for. tar, cp -r, git
 * checkout, rsync and make then cost no round trip per file.
 *
 * Other mounts see the file once the create reached the master: the
 * master asks this mount through its feed to send what it queued in the
 * folder before it answers their lookup or listing of the folder
 * (writers_told). A mount killed before its queue went leaves no trace
 * of those files, as a local disk that loses unsynced creates in a
 * crash; fsync of the file or the folder waits for them. */
#define FS_INOS_ASK 1024           /* inode numbers asked for at once */
#define FS_INOS_RETRY_MS 10000     /* after a failed ask */

void fs_ctx_set_local_creates(struct fs_ctx *ctx, bool on)
{
	ctx->local_creates = on;
	csess_set_local_creates(ctx->cs, on);
}

/* An inode number for a create answered here, or 0. */
static uint64_t fs_ino_take(struct fs_ctx *ctx)
{
	pthread_mutex_lock(&ctx->ino_lock);
	if (ctx->ino_next == 0 || ctx->ino_next > ctx->ino_hi) {
		int64_t now = mcache_now_ms();
		json_t *resp = NULL;
		uint64_t lo = 0, hi = 0;
		int rc = now < ctx->ino_retry_ms ? -EAGAIN
						 : fs_call_now(ctx, "inos",
							       fs_sess(ctx, json_pack("{s:i}", "count",
										      FS_INOS_ASK)),
							       &resp, NULL);
		if (rc == 0 && (ju_u64(resp, "lo", &lo) < 0 || ju_u64(resp, "hi", &hi) < 0 ||
				lo == 0 || hi < lo))
			rc = -EIO;
		json_decref(resp);
		if (rc == 0) {
			ctx->ino_next = lo;
			ctx->ino_hi = hi;
		} else if (rc != -EAGAIN) {
			log_info("no inode numbers for creates answered here (%s): they go to "
				 "the master for %d s", strerror(-rc), FS_INOS_RETRY_MS / 1000);
			ctx->ino_retry_ms = now + FS_INOS_RETRY_MS;
		}
	}
	uint64_t ino = ctx->ino_next && ctx->ino_next <= ctx->ino_hi ? ctx->ino_next++ : 0;
	pthread_mutex_unlock(&ctx->ino_lock);
	return ino;
}

/* One create answered here, until its reply (fs_made_done). */
struct fs_made {
	struct fs_ctx *ctx;
	uint64_t parent, ino;
	int64_t at_ms;               /* when it was answered: the lease counts from then */
	struct fh_acreate *ac;
	char name[];
};

static void fs_made_done(void *arg, int rc, const json_t *res)
{
	struct fs_made *m = arg;
	struct mc_change ch = { m->parent, m->name, 1, m->ino };
	/* a failed one drops the folder's names (no "dirs"): it is asked again */
	mcache_changed(m->ctx->mcache, rc == 0 ? res : NULL, &ch, 1, m->at_ms);
	const json_t *grant = rc == 0 ? json_object_get(res, "grant") : NULL;
	if (grant)
		atomic_store(&m->ctx->roomy, json_is_true(json_object_get(grant, "behind")));
	if (m->ac)
		fh_acreate_done(m->ac, rc, grant);
	csess_born(m->ctx->cs, m->ino);   /* its close may go now */
	free(m);
}

static bool fs_create_local_locked(struct fs_ctx *ctx, fuse_req_t req, const struct fuse_ctx *c,
				   fuse_ino_t parent, const char *name, mode_t mode,
				   struct fuse_file_info *fi, json_t *body, uint64_t snap);

/* Answer the create of name in parent here (see above): true if the
 * kernel was answered. */
static bool fs_create_local(struct fs_ctx *ctx, fuse_req_t req, fuse_ino_t parent,
			    const char *name, mode_t mode, struct fuse_file_info *fi,
			    json_t *body, uint64_t snap)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	if (!ctx->local_creates)
		return false;
	pthread_rwlock_rdlock(&ctx->made_lock);
	bool answered = fs_create_local_locked(ctx, req, c, parent, name, mode, fi, body, snap);
	pthread_rwlock_unlock(&ctx->made_lock);
	return answered;
}

static bool fs_create_local_locked(struct fs_ctx *ctx, fuse_req_t req, const struct fuse_ctx *c,
				   fuse_ino_t parent, const char *name, mode_t mode,
				   struct fuse_file_info *fi, json_t *body, uint64_t snap)
{
	struct stat pst;
	if (!body || !json_is_string(json_object_get(body, "name")) ||
	    !atomic_load(&ctx->roomy) || !fs_behind_ok(ctx) || fh_quotas_on() ||
	    !csess_batches(ctx->cs, CS_BATCH_INOS) || !csess_batches(ctx->cs, CS_BATCH_CREATE) ||
	    (mode & (S_ISUID | S_ISGID)) || !mcache_absent(ctx->mcache, parent, name) ||
	    nsq_renamed_to(ctx->nsq, parent, name) || !mcache_dir_owner(ctx->mcache, parent, &pst))
		return false;
	uint64_t ino = fs_ino_take(ctx);
	size_t len = strlen(name);
	struct fs_made *m = ino ? malloc(sizeof(*m) + len + 1) : NULL;
	if (!m)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr.st_ino = (ino_t)ino;
	e.attr.st_mode = S_IFREG | (mode & 07777 & ~(c->umask & 0777));
	e.attr.st_nlink = 1;
	e.attr.st_uid = c->uid;
	e.attr.st_gid = (pst.st_mode & S_ISGID) ? pst.st_gid : c->gid;
	e.attr.st_blksize = 1 << 20;
	e.attr.st_atim = e.attr.st_mtim = e.attr.st_ctim = now;
	*m = (struct fs_made){ ctx, parent, ino, mcache_now_ms(), NULL };
	memcpy(m->name, name, len + 1);
	struct file_handle *fh = NULL;
	if (json_object_set_new(body, "ino", json_integer((json_int_t)ino)) < 0 ||
	    json_object_set_new(body, "time_s", json_integer((json_int_t)now.tv_sec)) < 0 ||
	    json_object_set_new(body, "time_ns", json_integer(now.tv_nsec)) < 0 ||
	    json_object_set_new(body, "excl", json_true()) < 0 ||
	    !mcache_add_made(ctx->mcache, parent, name, ino)) {
		free(m);
		return false;
	}
	if (fh_open(ctx->fht, ino, true, &fh) < 0 || !(m->ac = fh_prefill_pending(fh)) ||
	    csess_created_here(ctx->cs, ino) < 0) {
		if (m->ac)
			fh_acreate_done(m->ac, -ECANCELED, NULL);
		if (fh)
			fh_release(fh);
		mcache_changed(ctx->mcache, NULL, &(struct mc_change){ parent, name, 1, ino }, 1, 0);
		free(m);
		return false;
	}
	fh_table_nocaps_set(ctx->fht, ino, true);   /* a new file has no xattrs */
	fh_created_attrs(fh, &e.attr);
	if (nsq_create(ctx->nsq, ino, body, fs_made_done, m) < 0) {
		/* fs_made_done was told: the grant failed, the names dropped */
		fh_release(fh);
		csess_close(ctx->cs, ino);
		return false;
	}
	mcache_dir_predict(ctx->mcache, parent, 0);
	fs_entry_of_attr(&e, FS_TIMEOUT);
	fs_ttl(ctx, &e, snap, parent, name);
	fs_open_fi(fi, fh);
	if (fuse_reply_create(req, &e, fi) != 0) {
		fh_release(fh); /* the opener was interrupted: nobody will release it */
		csess_close(ctx->cs, ino);
	}
	return true;
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_create);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	bool excl = (fi->flags & O_EXCL) != 0;
	json_t *resp = NULL;
	bool retried = false, created = true;
	struct fuse_entry_param e;
	struct file_handle *fh;
	bool opened = false;
	json_t *grant = NULL;
	/* A new file about to be written (tar, cp, git, editors: O_EXCL or
	 * O_TRUNC) gets its first chunk's write grant with the create, unless
	 * a worker is sick (the grant then names which to avoid). */
	bool want_grant = (fi->flags & O_ACCMODE) != O_RDONLY &&
			  (fi->flags & (O_EXCL | O_TRUNC)) &&
			  whealth_count_bad(worker_io_health(ctx->wio)) == 0;
	dcnt_grew(ctx->dcnt, parent);
	int64_t sent = mcache_now_ms();   /* the lease counts from the send */
	uint64_t snap = iw_snap(ctx->iw);
	/* with this mount's session: the master registers the file as open
	 * here in the same call ("opened") and renews the folder's lease */
	json_t *body = fs_sess(ctx,
			 fs_who(ctx, req, fs_name(json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:b}",
					   "parent", (json_int_t)parent, "mode",
					   (json_int_t)(S_IFREG | (mode & 07777)), "uid",
					   (json_int_t)c->uid, "gid", (json_int_t)c->gid, "umask",
					   (json_int_t)(c->umask & 0777), "excl", excl, "grant",
					   want_grant),
				 "name", name)));
	if (want_grant && fs_create_local(ctx, req, parent, name, mode, fi, body, snap)) {
		json_decref(body);
		return;
	}
	uint64_t recalls = mcache_recalls(ctx->mcache);   /* before the send */
	json_object_del(body, "ino");   /* what fs_create_local may have added */
	json_object_del(body, "time_s");
	json_object_del(body, "time_ns");
	if (body)
		json_object_set_new(body, "excl", json_boolean(excl));
	/* Behind what is queued (rsync's rename of the file before, rm's
	 * unlinks), on the same batch when anything is: one round trip */
	int rc = -ESHUTDOWN;
	if (body && !ctx->send_caller && csess_batches(ctx->cs, CS_BATCH_CREATE) &&
	    nsq_pending(ctx->nsq))
		rc = nsq_call(ctx->nsq, "create", body, &resp, &retried);
	if (rc == -ESHUTDOWN) {
		nsq_drain(ctx->nsq);
		rc = fs_call_now(ctx, "create", json_incref(body), &resp, &retried);
	}
	json_decref(body);
	if (rc == 0) {
		grant = json_incref(json_object_get(resp, "grant"));
		if (grant)
			atomic_store(&ctx->roomy, json_is_true(json_object_get(grant, "behind")));
		rc = fs_entry(ctx, resp, &e);
		if (ju_bool_opt(resp, "created", true, &created) < 0)
			created = true;
		if (ju_bool_opt(resp, "opened", false, &opened) < 0)
			opened = false;
		struct mc_change ch = { parent, name, 1, 0 };
		if (rc == 0 && created)
			mcache_changed(ctx->mcache, resp, &ch, 1, sent);
		/* its reply came once other mounts' listings had it: creates
		 * here may be answered here again (fs_feed_recall) */
		if (rc == 0 && created)
			mcache_recall_over(ctx->mcache, parent, recalls);
		else if (rc == 0)
			mcache_seen(ctx->mcache, parent, name);
	} else if (rc == -EEXIST && retried) {
		rc = fs_lookup_entry(ctx, req, parent, name, &e);
	}
	json_decref(resp);
	resp = NULL;
	if (rc == 0 && !S_ISREG(e.attr.st_mode))
		rc = S_ISDIR(e.attr.st_mode) ? -EISDIR : -EEXIST;
	if (rc == 0 && !created && (fi->flags & O_TRUNC) && e.attr.st_size > 0) {
		rc = fs_call(ctx, "setattr",
			     json_pack("{s:I, s:I}", "ino", (json_int_t)e.ino, "size", (json_int_t)0),
			     &resp, NULL);
		if (rc == 0)
			rc = fs_entry(ctx, resp, &e);
		json_decref(resp);
	}
	if (rc == 0) {
		fh_table_unsettle(ctx->fht, e.ino);
		rc = fh_open(ctx->fht, e.ino, true, &fh);
	}
	if (rc == 0) {
		/* the master keeps the file while this mount has it open */
		rc = csess_created(ctx->cs, e.ino, opened);
		if (rc < 0)
			fh_release(fh);
	}
	if (rc < 0) {
		json_decref(grant);
		fs_reply_err(ctx, req, FS_OP_create, rc);
		return;
	}
	if (created) /* a new file has no xattrs: spare the kernel's per-write ask */
		fh_table_nocaps_set(ctx->fht, e.ino, true);
	if (created && !ctx->send_caller && mcache_no_xattrs(ctx->mcache, e.ino))
		fh_created_attrs(fh, &e.attr);   /* no ACL to keep in step: setattrs may wait */
	if (created && grant)
		(void)fh_prefill_grant(fh, grant);
	json_decref(grant);
	grant = NULL;
	fs_ttl(ctx, &e, snap, parent, name);
	fs_open_fi(fi, fh);
	if (fuse_reply_create(req, &e, fi) != 0) {
		fh_release(fh); /* the opener was interrupted: nobody will release it */
		csess_close(ctx->cs, e.ino);
	}
}

/* An export that maps callers: may the mapped caller open ino this way?
 * (The kernel judged the real caller; root passes everything there.) */
static int fs_open_allowed(struct fs_ctx *ctx, fuse_req_t req, fuse_ino_t ino, int flags)
{
	if (!ctx->send_caller)
		return 0;
	int acc = flags & O_ACCMODE;
	unsigned mask = (acc != O_WRONLY ? 4u : 0u) | (acc != O_RDONLY || (flags & O_TRUNC) ? 2u : 0u);
	return fs_call(ctx, "access",
		       fs_who(ctx, req, json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "mask",
						  (json_int_t)mask)),
		       NULL, NULL);
}

/* Close-to-open: the master's answer to an open names ("feed") the last
 * change of another client that this mount's change feed will bring.
 * The open is answered once the kernel has heard of it: another mount's
 * append closed a moment ago must show in the size the kernel reads up
 * to, even if its event is still on its way (milliseconds). */
static void fs_open_caught_up(struct fs_ctx *ctx, const json_t *resp)
{
	const json_t *feed = json_object_get(resp, "feed");
	const char *log = json_string_value(json_object_get(feed, "log"));
	uint64_t seq;
	if (!log || ju_u64(feed, "seq", &seq) < 0)
		return;
	if (!iw_catch_up(ctx->iw, log, seq, IW_OPEN_WAIT_MS))
		mount_metrics_add(MM_FEED_LATE_OPENS, 1);
}

/* An open the master answers (and registers, the first of ino here). */
static int fs_open_master(struct fs_ctx *ctx, fuse_ino_t ino, int flags, struct file_handle **ret)
{
	/* an open is where another mount's writes since must show
	 * (close-to-open): from now on the master says */
	fh_table_unsettle(ctx->fht, ino);
	if (nsq_pending_ino(ctx->nsq, ino))
		nsq_drain(ctx->nsq);   /* its commit (or setattr) first: the master's answer must show it */
	struct file_handle *fh;
	int rc = fh_open(ctx->fht, ino, (flags & O_ACCMODE) != O_RDONLY, &fh);
	if (rc < 0)
		return rc;
	/* the master keeps the file while this mount has it open; a reader
	 * gets the first chunks' locations with the open */
	json_t *locs = NULL;
	bool reads = (flags & O_ACCMODE) != O_WRONLY;
	/* a small file whose locations are known here is read while the
	 * master answers, kept if the answer confirms them */
	if ((flags & O_ACCMODE) == O_RDONLY)
		(void)fh_open_prefetch(fh);
	rc = csess_open(ctx->cs, ino, reads ? fh_open_chunks() : 0, &locs);
	if (rc < 0) {
		fh_release(fh);
		return rc;
	}
	fs_open_caught_up(ctx, locs);
	fh_prefill_locations(fh, locs);
	*ret = fh;
	return 0;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_open);
	struct file_handle *fh;
	int rc = fs_open_allowed(ctx, req, ino, fi->flags);
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_open, rc);
		return;
	}
	/* A read-only reopen of a file this mount closed a moment ago whose
	 * commit is still queued here, not sent (rsync opens each file it
	 * wrote again to chmod it): no other client can have changed it
	 * since (one that opens it makes the master ask for that commit
	 * first), the master has it open for this mount still (the close is
	 * queued for the heartbeat: csess_reopen), and the attributes kept
	 * at the close stay right. Answered without a call; the first read
	 * waits for the queue (fh_open_queued). */
	struct stat kept;
	bool rdonly = (fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);
	bool keep = false;
	if (rdonly && !ctx->send_caller && iw_sole(ctx->iw) && !nsq_pending_ino(ctx->nsq, ino) &&
	    csess_open_sole(ctx->cs, ino)) {
		keep = fs_keep_cache(ctx, ino);
		/* This mount is the master's only client (sole use, master/
		 * inval_log.h): nobody else can have changed the file since
		 * this mount last knew it, so close-to-open needs no word from
		 * the master, nor does keeping the file (the open is declared
		 * if sole use ends or before this mount drops a name). */
		rc = fh_open(ctx->fht, ino, false, &fh);
		if (rc < 0) {
			csess_close(ctx->cs, ino);
		} else {
			if (fh_open_prefetch(fh))
				fh_open_trust(fh);
			mount_metrics_add(MM_SOLE_OPENS, 1);
		}
	} else if (rdonly && nsq_commit_unsent(ctx->nsq, ino) &&
		   fs_settled(ctx, ino, iw_snap(ctx->iw), &kept) && csess_reopen(ctx->cs, ino)) {
		rc = fh_open(ctx->fht, ino, false, &fh);
		if (rc < 0) {
			csess_close(ctx->cs, ino);
		} else {
			fh_open_queued(fh);
			mount_metrics_add(MM_LOCAL_OPENS, 1);
		}
	} else {
		rc = fs_open_master(ctx, ino, fi->flags, &fh);
	}
	/* The inode went away between the kernel's lookup and this open
	 * (another process renamed a file over the name, or unlinked it):
	 * ESTALE makes the kernel look the name up again once, as it would
	 * find it on a local filesystem, instead of failing the open. */
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_open, rc);
		return;
	}
	fs_open_fi(fi, fh);
	fi->keep_cache = keep;
	if (fuse_reply_open(req, fi) != 0) {
		fh_release(fh);
		csess_close(ctx->cs, ino);
	}
}

static void fs_read_emit(void *arg, const void *data, size_t len)
{
	fuse_reply_buf(arg, data, len);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_read);
	if (off < 0) {
		fs_reply_err(ctx, req, FS_OP_read, -EINVAL);
		return;
	}
	struct fh_read_out out;
	bool atime = !ctx->noatime && !(fi->flags & O_NOATIME);
	int rc = fh_read(fs_fh(fi), (uint64_t)off, size, atime, fs_read_emit, req, &out);
	/* the first read through this open file reports the atime, queued:
	 * the reader does not wait for the master */
	if (rc == 0 && out.atime_due) {
		/* the report moves the atime at the master: after a queued
		 * utimes of the file, and past what this mount knew */
		fh_table_unsettle(ctx->fht, ino);
		if (nsq_pending_ino(ctx->nsq, ino))
			nsq_drain(ctx->nsq);
		atime_queue_add(ctx->atime, ino);
	}
	if (rc < 0)
		fs_reply_err(ctx, req, FS_OP_read, rc);
	else if (!out.emitted)
		fuse_reply_buf(req, out.buf, out.len);
	mount_metrics_add(MM_READ_BYTES, rc == 0 ? out.len : 0);
	free(out.buf);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_write);
	fs_kept_forget(ctx, ino);
	int rc = off < 0 ? -EINVAL : 0;
	if (rc == 0 && (uint64_t)off + size > ((uint64_t)1 << 50))
		rc = -EFBIG;
	if (rc == 0)
		rc = fh_write(fs_fh(fi), (uint64_t)off, buf, &size);   /* a quota may cut it */
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_write, rc);
		return;
	}
	mount_metrics_add(MM_WRITTEN_BYTES, size);
	fuse_reply_write(req, size);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_flush);
	/* close(): the kernel leaves dropping the closing process's POSIX
	 * locks to us (fi->lock_owner) */
	int lrc = lock_ops_drop_posix(ctx->locks, ino, fi->lock_owner);
	if (lrc < 0)
		log_warn("inode %" PRIu64 ": cannot release the locks of a closed file: %s",
			 (uint64_t)ino, strerror(-lrc));
	/* a closed file's attributes from its commit, for its next getattr
	 * and setattr (fh_table_settle) */
	uint64_t gen = iw_snap(ctx->iw);
	fs_reply_err(ctx, req, FS_OP_flush,
		     fh_flush(fs_fh(fi), !ctx->send_caller && iw_live(ctx->iw) ? &gen : NULL));
}

/* POST /v1/sync: every metadata change the master made so far is on its
 * disk (group committed with other callers) before this returns; then
 * fh_table_behind_error. */
static int fs_meta_sync(struct fs_ctx *ctx, fuse_ino_t ino)
{
	int rc = fs_call(ctx, "sync", json_pack("{s:I}", "ino", (json_int_t)ino), NULL, NULL);
	/* and, as a local disk's failed writeback, a close's data behind
	 * that no replica took since the last fsync */
	return rc == 0 ? fh_table_behind_error(ctx->fht) : rc;
}

/* fsync and fdatasync alike: the data on every replica's disk
 * (fh_fsync), then the size and the entries leading to the file on the
 * master's (an fdatasync needs the size too, to find the data again). */
static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_fsync);
	int rc = fh_fsync(fs_fh(fi));
	if (rc == 0)
		rc = fs_meta_sync(ctx, ino);
	fs_reply_err(ctx, req, FS_OP_fsync, rc);
}

/* fsync of a directory: its entries (every metadata change so far) on the
 * master's disk. */
static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_fsync);
	fs_reply_err(ctx, req, FS_OP_fsync, fs_meta_sync(ctx, ino));
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_release);
	int lrc = lock_ops_release(ctx->locks, ino, fi);
	if (lrc < 0)
		log_warn("inode %" PRIu64 ": cannot release the locks of a closed file: %s",
			 (uint64_t)ino, strerror(-lrc));
	fh_release(fs_fh(fi));
	csess_close(ctx->cs, ino);
	fs_reply_err(ctx, req, FS_OP_release, 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_statfs);
	json_t *resp = NULL;
	uint64_t total, bfree, avail, files, ffree;
	int rc = fs_call(ctx, "statfs", json_object(), &resp, NULL);
	if (rc == 0 && (ju_u64(resp, "total_bytes", &total) < 0 ||
			ju_u64(resp, "free_bytes", &bfree) < 0 ||
			ju_u64(resp, "avail_bytes", &avail) < 0 || ju_u64(resp, "files", &files) < 0 ||
			ju_u64(resp, "ffree", &ffree) < 0))
		rc = -EIO;
	json_decref(resp);
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_statfs, rc);
		return;
	}
	struct statvfs sv;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1 << 20;
	sv.f_frsize = 4096;
	sv.f_blocks = total / sv.f_frsize;
	sv.f_bfree = bfree / sv.f_frsize;
	sv.f_bavail = avail / sv.f_frsize;
	sv.f_files = files;
	sv.f_ffree = ffree;
	sv.f_favail = ffree;
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_xattr);
	if (size > FS_XATTR_MAX) {
		fs_reply_err(ctx, req, FS_OP_xattr, -E2BIG);
		return;
	}
	if (strcmp(name, FS_XATTR_CAPS) == 0)
		fh_table_nocaps_set(ctx->fht, ino, false);
	mcache_xattrs_changed(ctx->mcache, ino);
	fh_table_unsettle(ctx->fht, ino);   /* an ACL changes the mode */
	int rc = fh_table_has_kept_attrs(ctx->fht, ino)
			 ? fh_table_flush_inode(ctx->fht, ino, false)   /* kept setattrs first */
			 : 0;
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_xattr, rc);
		return;
	}
	rc = fs_call(ctx, "setxattr",
			 fs_who(ctx, req, json_pack("{s:I, s:s, s:o, s:i}", "ino", (json_int_t)ino,
						    "name", name, "value", ju_b64_new(value, size),
						    "flags", flags)),
			 NULL, NULL);
	fs_reply_err(ctx, req, FS_OP_xattr, rc);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_xattr);
	json_t *resp = NULL;
	unsigned char *val = NULL;
	size_t len = 0;
	bool caps = strcmp(name, FS_XATTR_CAPS) == 0;
	if ((caps && fh_table_nocaps_get(ctx->fht, ino)) ||
	    (strncmp(name, "bigfs.", 6) != 0 && mcache_no_xattrs(ctx->mcache, ino))) {
		mount_metrics_add(MM_LOCAL_GETXATTRS, 1);
		fs_reply_err(ctx, req, FS_OP_xattr, -ENODATA);
		return;
	}
	int rc = fs_call(ctx, "getxattr",
			 fs_who(ctx, req, json_pack("{s:I, s:s}", "ino", (json_int_t)ino, "name", name)),
			 &resp, NULL);
	if (caps && rc == -ENODATA)
		fh_table_nocaps_set(ctx->fht, ino, true);
	if (rc == 0 && ju_b64_get(resp, "value", 16u << 20, &val, &len) < 0)
		rc = -EIO;
	json_decref(resp);
	if (rc == 0 && size > 0 && len > size)
		rc = -ERANGE;
	if (rc < 0)
		fs_reply_err(ctx, req, FS_OP_xattr, rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, (const char *)val, len);
	free(val);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_xattr);
	json_t *resp = NULL;
	char *list = NULL;
	size_t len = 0;
	int rc = fs_call(ctx, "listxattr", json_pack("{s:I}", "ino", (json_int_t)ino), &resp, NULL);
	json_t *names = rc == 0 ? json_object_get(resp, "names") : NULL;
	if (rc == 0 && !json_is_array(names))
		rc = -EIO;
	if (rc == 0) {
		size_t i;
		json_t *n;
		json_array_foreach(names, i, n) {
			if (!json_is_string(n)) {
				rc = -EIO;
				break;
			}
			len += json_string_length(n) + 1;
		}
	}
	if (rc == 0) {
		list = malloc(len ? len : 1);
		if (!list)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		size_t pos = 0, i;
		json_t *n;
		json_array_foreach(names, i, n) {
			size_t l = json_string_length(n);
			memcpy(list + pos, json_string_value(n), l);
			list[pos + l] = '\0';
			pos += l + 1;
		}
		if (size > 0 && len > size)
			rc = -ERANGE;
	}
	json_decref(resp);
	if (rc < 0)
		fs_reply_err(ctx, req, FS_OP_xattr, rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, list, len);
	free(list);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_xattr);
	if (strcmp(name, FS_XATTR_CAPS) == 0)
		fh_table_nocaps_set(ctx->fht, ino, false);
	mcache_xattrs_changed(ctx->mcache, ino);
	fh_table_unsettle(ctx->fht, ino);   /* an ACL changes the mode */
	int rc = fh_table_has_kept_attrs(ctx->fht, ino)
			 ? fh_table_flush_inode(ctx->fht, ino, false)   /* kept setattrs first */
			 : 0;
	if (rc == 0)
		rc = fs_call(ctx, "removexattr",
			 fs_who(ctx, req, json_pack("{s:I, s:s}", "ino", (json_int_t)ino, "name", name)),
			 NULL, NULL);
	fs_reply_err(ctx, req, FS_OP_xattr, rc);
}

/* Which chunk indexes in [first, first + count) exist (present[i] for
 * first + i; count <= FS_WINDOW), and the committed file size. */
#define FS_WINDOW 1024u
static int fs_chunk_window(struct fs_ctx *ctx, fuse_ino_t ino, uint64_t first, uint64_t count,
			   bool *present, uint64_t *ret_size)
{
	json_t *resp = NULL;
	uint64_t size;
	int rc = fs_call(ctx, "chunks",
			 json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)ino, "index",
				   (json_int_t)first, "count", (json_int_t)count),
			 &resp, NULL);
	if (rc < 0)
		return rc;
	json_t *chunks = json_object_get(resp, "chunks");
	if (ju_u64(resp, "size", &size) < 0 || !json_is_array(chunks)) {
		rc = -EIO;
		goto out_put;
	}
	memset(present, 0, count * sizeof(*present));
	size_t i;
	json_t *c;
	json_array_foreach(chunks, i, c) {
		uint64_t idx;
		if (ju_u64(c, "index", &idx) < 0) {
			rc = -EIO;
			goto out_put;
		}
		if (idx >= first && idx - first < count)
			present[idx - first] = true;
	}
	*ret_size = size;
out_put:
	if (rc == -EIO)
		log_err("inode %" PRIu64 ": malformed chunk list from the master", (uint64_t)ino);
	json_decref(resp);
	return rc;
}

/* SEEK_DATA / SEEK_HOLE at chunk granularity: a chunk that exists is
 * data (it may hold zeros), a missing one is a hole (reads as zeros),
 * and the end of the file is a hole. ENXIO at or past the end. */
static void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_lseek);
	static const uint64_t csize = FH_CHUNK_SIZE;
	bool present[FS_WINDOW];
	uint64_t size = 0, pos = 0;
	int rc = 0;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		rc = -EINVAL;
		goto out_reply;
	}
	if (off < 0) {
		rc = -ENXIO;
		goto out_reply;
	}
	rc = fh_table_flush_inode(ctx->fht, ino, false); /* the master must know every chunk */
	for (uint64_t first = (uint64_t)off / csize; rc == 0; first += FS_WINDOW) {
		rc = fs_chunk_window(ctx, ino, first, FS_WINDOW, present, &size);
		if (rc < 0)
			break;
		if ((uint64_t)off >= size) {
			rc = -ENXIO;
			break;
		}
		uint64_t last = (size - 1) / csize; /* index of the last byte */
		bool found = false;
		for (uint64_t i = 0; i < FS_WINDOW && first + i <= last; i++) {
			if (present[i] == (whence == SEEK_DATA)) {
				pos = (first + i) * csize;
				found = true;
				break;
			}
		}
		if (found || first + FS_WINDOW > last) {
			if (!found)
				pos = size; /* SEEK_DATA: none left; SEEK_HOLE: the end */
			if (pos < (uint64_t)off)
				pos = (uint64_t)off;
			if (whence == SEEK_DATA && pos >= size)
				rc = -ENXIO;
			if (whence == SEEK_HOLE && pos > size)
				pos = size;
			break;
		}
	}
out_reply:
	if (rc < 0) {
		fs_reply_err(ctx, req, FS_OP_lseek, rc);
		return;
	}
	fuse_reply_lseek(req, (off_t)pos);
}

/* Write zeros over [off, end) through fh, skipping chunks that do not
 * exist (they read as zeros already). */
static int fs_zero_range(struct fs_ctx *ctx, fuse_ino_t ino, struct file_handle *fh,
			 uint64_t off, uint64_t end)
{
	static const char zeros[1 << 20];
	while (off < end) {
		uint64_t index = off / FH_CHUNK_SIZE;
		uint64_t stop = (index + 1) * FH_CHUNK_SIZE;
		bool present;
		uint64_t size;
		if (stop > end)
			stop = end;
		int rc = fs_chunk_window(ctx, ino, index, 1, &present, &size);
		if (rc < 0)
			return rc;
		while (present && off < stop) {
			size_t n = stop - off < sizeof(zeros) ? (size_t)(stop - off) : sizeof(zeros);
			rc = fh_write(fh, off, zeros, &n);   /* inside the file: never cut */
			if (rc < 0)
				return rc;
			off += n;
		}
		off = stop;
	}
	return 0;
}

/* fallocate: mode 0 grows the size (no space is reserved: chunks are
 * made when written); KEEP_SIZE alone has nothing to do;
 * PUNCH_HOLE|KEEP_SIZE drops the whole chunks inside the range and
 * writes zeros over the partial ones. Other modes: EOPNOTSUPP. */
static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_fallocate);
	const uint64_t csize = FH_CHUNK_SIZE;
	json_t *resp = NULL;
	fs_kept_forget(ctx, ino);
	struct stat st;
	int rc = 0;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) ||
	    ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))) {
		rc = -EOPNOTSUPP;
		goto out_reply;
	}
	if (off < 0 || len <= 0) {
		rc = -EINVAL;
		goto out_reply;
	}
	if ((uint64_t)off + (uint64_t)len > ((uint64_t)1 << 50)) {
		rc = -EFBIG;
		goto out_reply;
	}
	uint64_t start = (uint64_t)off, end = (uint64_t)off + (uint64_t)len;
	rc = fh_table_flush_inode(ctx->fht, ino, false);
	if (rc == 0)
		rc = fs_call(ctx, "getattr", json_pack("{s:I}", "ino", (json_int_t)ino), &resp,
			     NULL);
	if (rc == 0)
		rc = master_client_attr(resp, &st);
	json_decref(resp);
	resp = NULL;
	if (rc < 0)
		goto out_reply;
	uint64_t size = (uint64_t)st.st_size;
	if (!(mode & FALLOC_FL_PUNCH_HOLE)) {
		if ((mode & FALLOC_FL_KEEP_SIZE) || end <= size)
			goto out_reply;
		rc = fs_call(ctx, "setattr",
			     json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "size", (json_int_t)end),
			     NULL, NULL);
		if (rc == 0)
			fh_table_truncated(ctx->fht, ino, end);
		goto out_reply;
	}
	if (end > size)
		end = size;
	if (start >= end)
		goto out_reply;
	/* whole chunks inside the range; up to the end of the file counts */
	uint64_t first_full = (start + csize - 1) / csize;
	uint64_t end_full = end >= size ? (size + csize - 1) / csize : end / csize;
	if (first_full < end_full) {
		rc = fs_call(ctx, "punch",
			     json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)ino, "index",
				       (json_int_t)first_full, "count",
				       (json_int_t)(end_full - first_full)),
			     NULL, NULL);
		if (rc < 0)
			goto out_reply;
		fh_table_forget_grants(ctx->fht, ino, first_full, end_full);
		if (start < first_full * csize)
			rc = fs_zero_range(ctx, ino, fs_fh(fi), start, first_full * csize);
		if (rc == 0 && end_full * csize < end)
			rc = fs_zero_range(ctx, ino, fs_fh(fi), end_full * csize, end);
	} else {
		rc = fs_zero_range(ctx, ino, fs_fh(fi), start, end);
	}
	if (rc == 0)
		rc = fh_flush(fs_fh(fi), NULL);
	fh_table_truncated(ctx->fht, ino, size); /* other handles drop cached data */
out_reply:
	fs_reply_err(ctx, req, FS_OP_fallocate, rc);
}

/* copy_file_range (what cp does first): whole chunks, from and to chunk
 * boundaries, are not copied but shared — the destination's chunks name
 * the source's (POST /v1/share), and the next write to either side copies
 * the chunk it touches on its workers (copy on write). The last chunk of
 * the source may be partial if nothing of the destination lies past the
 * copy. Anything else (unaligned offsets, a range being written by
 * another mount) is EOPNOTSUPP, and the kernel copies the bytes itself.
 * The kernel passes no FICLONE (cp --reflink=always) to FUSE. */
static void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct fs_ctx *ctx = fs_ctx(req, FS_OP_write);
	const uint64_t csize = FH_CHUNK_SIZE;
	json_t *resp = NULL;
	fs_kept_forget(ctx, ino_out);
	struct stat src, dst;
	int rc = 0;

	(void)fi_in;
	(void)fi_out;
	if (flags != 0 || off_in < 0 || off_out < 0) {
		rc = -EINVAL;
		goto out_err;
	}
	if ((uint64_t)off_in % csize || (uint64_t)off_out % csize || len == 0) {
		rc = -EOPNOTSUPP;
		goto out_err;
	}
	/* what this mount wrote is on the workers and its leases given back */
	rc = fh_table_flush_inode(ctx->fht, ino_in, true);
	if (rc == 0 && ino_out != ino_in)
		rc = fh_table_flush_inode(ctx->fht, ino_out, true);
	if (rc == 0)
		rc = fs_call(ctx, "getattr", json_pack("{s:I}", "ino", (json_int_t)ino_in), &resp,
			     NULL);
	if (rc == 0)
		rc = master_client_attr(resp, &src);
	json_decref(resp);
	resp = NULL;
	if (rc == 0)
		rc = fs_call(ctx, "getattr", json_pack("{s:I}", "ino", (json_int_t)ino_out), &resp,
			     NULL);
	if (rc == 0)
		rc = master_client_attr(resp, &dst);
	json_decref(resp);
	resp = NULL;
	if (rc < 0)
		goto out_err;
	if ((uint64_t)off_in >= (uint64_t)src.st_size) {
		fuse_reply_write(req, 0);
		return;
	}
	uint64_t n = (uint64_t)src.st_size - (uint64_t)off_in;
	if (n > len)
		n = len;
	uint64_t count = n / csize, bytes = count * csize;
	if (n % csize && (uint64_t)off_in + n == (uint64_t)src.st_size &&
	    (uint64_t)dst.st_size <= (uint64_t)off_out + n) {
		count++;        /* the source's last chunk, nothing of dst after it */
		bytes = n;
	}
	if (count == 0) {
		rc = -EOPNOTSUPP;
		goto out_err;
	}
	uint64_t index = (uint64_t)off_out / csize;
	rc = fs_call(ctx, "share",
		     json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "src_ino", (json_int_t)ino_in,
			       "src_index", (json_int_t)((uint64_t)off_in / csize), "ino",
			       (json_int_t)ino_out, "index", (json_int_t)index, "count",
			       (json_int_t)count, "size", (json_int_t)((uint64_t)off_out + bytes)),
		     &resp, NULL);
	json_decref(resp);
	if (rc == -EBUSY || rc == -EINVAL)
		rc = -EOPNOTSUPP;   /* being written, or overlapping: the kernel copies */
	if (rc < 0)
		goto out_err;
	fh_table_forget_grants(ctx->fht, ino_out, index, index + count);
	fh_table_truncated(ctx->fht, ino_out, (uint64_t)off_out + bytes > (uint64_t)dst.st_size
						   ? (uint64_t)off_out + bytes
						   : (uint64_t)dst.st_size);
	fuse_reply_write(req, (size_t)bytes);
	return;
out_err:
	fs_reply_err(ctx, req, FS_OP_write, rc);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getlk = fs_getlk,
	.setlk = fs_setlk,
	.flock = fs_flock,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.opendir = fs_opendir,
	.releasedir = fs_releasedir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.mkdir = fs_mkdir,
	.mknod = fs_mknod,
	.symlink = fs_symlink,
	.readlink = fs_readlink,
	.link = fs_link,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.create = fs_create,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.fsyncdir = fs_fsyncdir,
	.release = fs_release,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.lseek = fs_lseek,
	.fallocate = fs_fallocate,
	.copy_file_range = fs_copy_file_range,
};
