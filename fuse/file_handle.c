/* file_handle — per-open-file state (see file_handle.h).
 *
 * Locks. fh_table.lock guards the inode hash (struct fh_inode and its
 * members), every handle's `refs`, `closed` and `next` link, and every
 * writer's `refs` and `nhandles`. file_handle.lock guards a handle's read
 * side. fh_writer.lock guards a writer, except what belongs to the flush
 * in progress (below). Order: handle lock, then writer lock, then writer
 * gmu, then table lock; never the other way round.
 *
 * Writers. All writable handles of one inode in this mount share one
 * struct fh_writer (fh_inode.writer): one set of write buffers, one grant
 * cache, one commit end. So, as with one page cache, a write through any
 * handle is ordered after every earlier write through any other (an
 * overlapping buffer waits for the one in flight), O_APPEND writes from
 * several processes land one after another, and one chunk version is
 * written at a time: two handles with grants of their own would bump the
 * chunk's version past each other and a replica that saw the newer one
 * first would refuse (and miss) the older handle's bytes. A writer lives
 * while a writable handle of its inode is open (or a table call holds a
 * reference); flush, fsync and release of any handle sync all of it.
 *
 * Write buffers, per writer (FH_NBUF of them, up to FH_FLUSHERS threads):
 *
 *      fh_write fills `cur` --(full / chunk end / not contiguous)-->
 *      fh_submit: wait for a free buffer and until no buffer in flight
 *      overlaps `cur`; queue `cur` (WB_QUEUED), take a free one as `cur`
 *      flusher: take the oldest WB_QUEUED (WB_RUNNING), fh_flush_buf it
 *      without the writer lock, then WB_FREE; an error is recorded in
 *      `err` and counted in `err_seq`
 *
 * Several buffers are on the way at once (two full ones, or up to four
 * small ones): while the workers write one to disk, the next one is
 * already crossing the network. Buffers in flight never overlap
 * (fh_submit waits), so they may land in any order. fh_sync (flush,
 * fsync, release, read, truncate) waits until nothing is in flight, then
 * flushes `cur` itself while holding the lock.
 *
 * Errors. A handle reports every write error of its writer that happened
 * after it was opened (it keeps the `err_seq` it saw at open), from then
 * on, like the errseq of a Linux inode's mapping: a failure while another
 * process wrote is seen by this one too, a handle opened later starts
 * clean. A failed buffer is not retried; later buffers still go out.
 *
 * `grants` (the grant cache) and `commit_end` are guarded by `gmu` while
 * flushers may run (fh_flush_buf holds it around the grant lookup and the
 * bookkeeping, never across a transfer); with nothing in flight, the
 * holder of the writer lock owns them.
 *
 * Grants: one per chunk index written. flush (close) and release give
 * every held lease back in the commit of the last buffer; a released grant
 * is kept (marked `released`) so a later fsync can still reach its
 * replicas, and a write after it asks for a new grant. A grant is renewed
 * (same version, fresh token) once half its lease has passed; a grant the
 * replicas refuse (ESTALE: version moved, token expired) is asked for
 * again once.
 *
 * Reads: `loc` caches the chunk locations of LOC_BATCH chunk indexes and
 * the file size the master gave with them; it is dropped on a failed read,
 * after LOC_MAX_AGE_MS, and when the inode's generation moves (this mount
 * wrote or truncated it). A file this mount made and alone writes is
 * located by its own write grant instead (fh_loc_from_grant).
 *
 * The table's inode location cache (`ilc`, table lock) keeps where each
 * small file's one chunk is after its handles close; a new read-only
 * handle reads the file from there on a prefetch thread while its open
 * asks the master (fh_open_prefetch), and the bytes count only once a
 * master reply asked after the open began names the same chunk version
 * and size (fh_loc_learned; `pf_unconfirmed` until then). An open
 * prefetch is a job on the table's queue (`spec_head`), holding a
 * reference to its handle; otherwise it is a prefetch like those below. `ra` is the read-ahead window. On a sequential
 * pattern the next window is fetched in the background into `pf` by the
 * handle's reader thread:
 *
 *      PF_IDLE --fh_prefetch_start--> PF_PENDING --reader thread--> PF_DONE
 *      PF_DONE --fh_read uses it (swap pf and ra) or drops it--> PF_IDLE
 *
 * A prefetched window is only used if the inode's generation did not move
 * since it was started; a failed one is ignored and the read is retried in
 * the foreground, with failover and a location refresh. */
#include "file_handle.h"

#include "hash.h"

#include "json_util.h"
#include "log.h"
#include "master_client.h"
#include "metrics.h"
#include "ns_queue.h"
#include "worker_health.h"
#include "worker_io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define FH_HASH_SIZE 256
#define FH_NBUF 5
#define FH_FLUSHERS 4
#define FH_INFLIGHT_BYTES ((size_t)16 << 20)
#define FH_WBUF_FIRST ((size_t)256 << 10)
/* A read that does not follow the last one fetches only what it asks for
 * (at least a page): a 4 KiB random reader paid for 128 KiB each time
 * (5,101 against 8,121 IOPS, fio randread 4k O_DIRECT, 3 workers); the
 * kernel's own readahead asks for more where a pattern shows. */
#define FH_RA_MIN ((size_t)4 << 10)
#define LOC_BATCH 16
#define FH_AVOID_MAX 16             /* workers named in a grant's "avoid" */
#define FH_NO_COPY_WAIT_MS 30000   /* a read waits this long for a live copy */
#define FH_QUOTA_FRESH_MS 5000     /* room learned from the master is good this long */
#define FH_NO_COPY_RETRY_MS 250
#define LOC_MAX_AGE_MS 60000
#define LOC_SIZE_AGE_MS 1000
#define ILC_HASH 4096
#define ILC_MAX 16384               /* entries before the cache starts over */
#define ILC_MAX_AGE_MS 120000       /* well inside a read token's life */
#define FH_SPEC_THREADS 2
#define FH_BEHIND_THREADS 2
#define FH_BEHIND_FILE_MAX ((size_t)1 << 20)     /* data behind: files up to this, */
#define FH_BEHIND_BYTES_MAX ((size_t)32 << 20)   /* this much on its way at most */
#define FH_BEHIND_TRIES 3                        /* grants a failed one tries */
#define SESSION_LEN 32

struct fh_inode {
	uint64_t ino;
	int nopen;
	bool has_wsize;
	uint64_t wsize;
	bool has_wmtime;
	struct timespec wmtime;      /* last write() here, not yet an mtime set */
	uint64_t gen;
	uint64_t ilc_seq;            /* moves when ilc_drop forgets this inode */
	bool nocaps;
	bool shared;                 /* another mount opened it while it was written here:
				      * closes commit before they return (fh_behind) */
	struct fh_writer *writer;    /* while a writable handle is open */
	struct file_handle *handles;
	struct fh_inode *next;
};

/* The inode location cache: where a small file's one chunk is, kept after
 * its last close (see fh_open_prefetch). */
struct ilc_ent {
	uint64_t ino;
	int64_t at_ms;
	uint64_t size;
	bool has_chunk;              /* false: index 0 is a hole */
	uint64_t chunk_id;
	uint32_t version;
	char token[TOKEN_MAX];       /* read token */
	int nrep;
	struct ilc_ent *next;
	struct wio_replica rep[];
};

/* A closed file's attributes as the master replied to its last commit
 * (fh_table_settle), for FH_SETTLED_MS. */
#define FH_SETTLED 512
#define FH_SETTLED_MS 1000
struct fh_settled {
	uint64_t ino;                /* 0: free */
	struct stat st;
	uint64_t gen;                /* the caller's generation (the change feed's) */
	unsigned long names;         /* names_epoch then */
	int64_t at_ms;
};

struct fh_table {
	struct master_client *mc;
	struct worker_io *wio;
	/* table lock */
	struct ilc_ent *ilc[ILC_HASH];
	size_t nilc;
	/* open prefetches waiting for a prefetch thread, table lock */
	struct file_handle *spec_head, *spec_tail;
	pthread_cond_t spec_cond;
	bool spec_stop;
	int nspec;
	pthread_t spec[FH_SPEC_THREADS];
	char session[SESSION_LEN + 1];
	pthread_mutex_t lock;
	struct fh_inode *hash[FH_HASH_SIZE];
	uint64_t size_epoch;         /* see fh_table_size_epoch */
	atomic_ulong names_epoch;    /* unlinks, renames, links here (fh_table_names_changed) */
	struct fh_settled settled[FH_SETTLED];   /* table lock */
	/* commit behind (fh_table_set_behind): set before any handle opens */
	struct nsq *nsq;
	bool (*behind_ok)(void *arg);
	void *behind_arg;
	/* data behind (fh_data_behind): closes' writes on their way, table lock */
	struct fh_bjob *bj_head, *bj_tail;
	pthread_cond_t bj_cond;
	bool bj_stop;
	int nbj;
	pthread_t bj[FH_BEHIND_THREADS];
	atomic_size_t bj_bytes;      /* their data */
	atomic_int bj_err;           /* one failed: the next fsync says so */
	void (*lost_fn)(void *arg, uint64_t ino);   /* fh_table_on_lost */
	void *lost_arg;
};

enum wb_state { WB_FREE, WB_QUEUED, WB_RUNNING };

struct wbuf {
	char *data;
	size_t cap;
	size_t len;
	uint64_t off;
	enum wb_state state;
	uint64_t seq;                /* queue order */
};

struct grant {
	uint64_t index;
	struct wio_chunk c;
	int64_t renew_at_ms;
	bool released;               /* lease given back; fsync may still use it */
	bool needs_fsync;
	bool from_create;            /* came with the create (fh_prefill_grant) */
	bool behind;                 /* the master noted the file: its close may
				      * leave the commit behind (fh_behind) */
	bool written;                /* a buffer reached its replicas */
	char rtoken[TOKEN_MAX];      /* read token of the same chunk and version, or "" */
	bool sole;                   /* leased here without a break since the create
				      * made the file: only this mount wrote it */
	struct fh_acreate *ac;       /* a create this mount answered, still on its way:
				      * c and rtoken come with its reply (fh_grant_ready) */
};

/* A create this mount answered itself (fh_prefill_pending): its reply
 * brings the first chunk's grant. Shared by the grant and a data-behind
 * job; freed by the last reference. */
struct fh_acreate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool done;
	int rc;                      /* the create's; -ENOENT: no grant came with it */
	struct wio_chunk c;
	char rtoken[TOKEN_MAX];
	uint64_t lease_ms;
	bool behind;
};

static struct fh_acreate *ac_ref(struct fh_acreate *ac)
{
	if (ac) {
		pthread_mutex_lock(&ac->lock);
		ac->refs++;
		pthread_mutex_unlock(&ac->lock);
	}
	return ac;
}

static void ac_unref(struct fh_acreate *ac)
{
	if (!ac)
		return;
	pthread_mutex_lock(&ac->lock);
	bool last = --ac->refs == 0;
	pthread_mutex_unlock(&ac->lock);
	if (last) {
		pthread_cond_destroy(&ac->cond);
		pthread_mutex_destroy(&ac->lock);
		free(ac);
	}
}

/* Wait for the create's reply: 0 with its grant, or -errno. */
static int ac_wait(struct fh_acreate *ac)
{
	pthread_mutex_lock(&ac->lock);
	while (!ac->done)
		pthread_cond_wait(&ac->cond, &ac->lock);
	int rc = ac->rc;
	pthread_mutex_unlock(&ac->lock);
	return rc;
}

struct loc_cache {
	bool valid;
	uint64_t first;
	uint64_t size;
	int64_t fetched_ms;
	bool present[LOC_BATCH];
	struct wio_chunk c[LOC_BATCH];
};

/* The write side of one inode, shared by its writable handles. */
struct fh_writer {
	struct fh_table *t;
	uint64_t ino;
	/* table lock */
	int refs;                    /* writable handles + table calls using it */
	int nhandles;                /* writable handles */
	/* writer lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* a buffer went free, nothing in flight */
	pthread_cond_t work;         /* a buffer was queued (flushers wait here) */
	int err;                     /* the last write error */
	uint64_t err_seq;            /* write errors so far */
	struct wbuf bufs[FH_NBUF];
	struct wbuf *cur;            /* WB_FREE, being filled */
	int ninflight;               /* buffers queued or running */
	uint64_t next_seq;
	int nflushers;
	bool stop;
	pthread_t flushers[FH_FLUSHERS];
	/* gmu while flushers may run, see above */
	pthread_mutex_t gmu;
	uint64_t commit_end;         /* end of data on the workers, not yet committed */
	/* quotas, writer lock: this file may grow up to quota_end (learned
	 * from the master at quota_at_ms) */
	bool quota_known;
	uint64_t quota_end;
	int64_t quota_at_ms;
	struct grant *grants;
	size_t ngrants;
	size_t grants_cap;
	atomic_bool resized;         /* truncated, punched or cloned into here */
	/* writer lock: attributes kept here until the next commit (a file
	 * this mount made and has open for writing, fh_defer_setattr): base
	 * is what the kernel was told, pending what the master has not got */
	bool base_known;
	struct stat base;
	unsigned long base_epoch;    /* names_epoch then: nlink still right while equal */
	struct fh_setattr pending;
	/* a close that found nothing to send came since the last write
	 * (bash's "> file" closes a descriptor before it writes through its
	 * dup): base stays known, but setattrs go to the master at once
	 * until the next write, which only an open descriptor makes */
	bool flushed;
	/* writer lock: the attributes the master replied to the last commit
	 * that gave every lease back (a close's), until the next write */
	bool closed_known;
	struct stat closed;
};

struct file_handle {
	struct fh_table *t;
	struct fh_inode *inode;      /* stable while the handle is open */
	uint64_t ino;
	bool writable;
	struct fh_writer *w;         /* writable handles: the inode's writer */
	uint64_t err_seen;           /* w->err_seq at open */
	/* table lock */
	int refs;
	bool closed;
	struct file_handle *next;
	/* handle lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool atime_done;             /* this handle's first read was reported */
	bool stop;                   /* the reader thread ends */
	/* read side, handle lock */
	uint64_t cache_gen;
	uint64_t open_seq;           /* the inode's ilc_seq at the open */
	bool pf_unconfirmed;         /* an open prefetch the master has not confirmed */
	bool queue_first;            /* opened while its close's commit was queued
				      * (fh_open_queued): the first read sends it */
	struct file_handle *spec_next;  /* table lock: in the prefetch queue */
	struct loc_cache loc;
	char *ra;
	size_t ra_cap;
	uint64_t ra_off;
	size_t ra_len;
	uint64_t last_end;
	/* background prefetch of the window after `ra`, handle lock; while
	 * pf_state is PF_PENDING the reader thread owns pf and pf_chunk */
	enum { PF_IDLE, PF_PENDING, PF_DONE } pf_state;
	bool pf_hole;
	int pf_rc;
	uint64_t pf_gen;
	uint64_t pf_off;
	size_t pf_len;
	char *pf;
	size_t pf_cap;
	struct wio_chunk pf_chunk;
	bool reader_started;
	pthread_t reader;
};

static struct fh_settled *fh_settled_slot(struct fh_table *t, uint64_t ino)
{
	return &t->settled[hash_mix64(ino) % FH_SETTLED];
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Grow *buf (capacity *cap) to hold need bytes; false if out of memory. */
static bool fh_buf_grow(char **buf, size_t *cap, size_t need)
{
	char *p = realloc(*buf, need);
	if (!p)
		return false;
	*buf = p;
	*cap = need;
	return true;
}

/* ---- inode location cache (table lock held) ---- */

static struct ilc_ent **ilc_bucket(struct fh_table *t, uint64_t ino)
{
	return &t->ilc[(ino * 0x9e3779b97f4a7c15ULL) >> 52];
}

static struct ilc_ent **ilc_slot(struct fh_table *t, uint64_t ino)
{
	struct ilc_ent **p = ilc_bucket(t, ino);
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

static void ilc_clear(struct fh_table *t)
{
	for (size_t b = 0; b < ILC_HASH; b++)
		while (t->ilc[b]) {
			struct ilc_ent *e = t->ilc[b];
			t->ilc[b] = e->next;
			free(e);
		}
	t->nilc = 0;
}

static void ilc_remove(struct fh_table *t, uint64_t ino)
{
	struct ilc_ent **p = ilc_slot(t, ino);
	struct ilc_ent *e = *p;
	if (e) {
		*p = e->next;
		free(e);
		t->nilc--;
	}
}

/* Keep what is known of ino's one chunk (c NULL: a hole). */
static void ilc_put(struct fh_table *t, uint64_t ino, uint64_t size, const struct wio_chunk *c,
		    const char *token)
{
	int nrep = c ? c->nrep : 0;
	if (c && (!token || !token[0] || strlen(token) >= TOKEN_MAX))
		return;
	ilc_remove(t, ino);
	if (t->nilc >= ILC_MAX)
		ilc_clear(t);
	struct ilc_ent *e = malloc(sizeof(*e) + (size_t)nrep * sizeof(e->rep[0]));
	if (!e)
		return;
	*e = (struct ilc_ent){ .ino = ino, .at_ms = now_ms(), .size = size,
			       .has_chunk = c != NULL, .nrep = nrep };
	if (c) {
		e->chunk_id = c->chunk_id;
		e->version = c->version;
		memcpy(e->token, token, strlen(token) + 1);
		memcpy(e->rep, c->rep, (size_t)nrep * sizeof(e->rep[0]));
	}
	struct ilc_ent **p = ilc_bucket(t, ino);
	e->next = *p;
	*p = e;
	t->nilc++;
}

/* This mount changes ino's data or opens it for writing: forget where it
 * is, and let a fill started before not keep it (ilc_seq). */
static void ilc_drop(struct fh_table *t, struct fh_inode *in, uint64_t ino)
{
	if (in)
		in->ilc_seq++;
	ilc_remove(t, ino);
}

/* ---- table ---- */

int fh_table_new(struct master_client *mc, struct worker_io *wio, struct fh_table **ret)
{
	struct fh_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	unsigned char rnd[SESSION_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(t);
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(t->session + 2 * i, 3, "%02x", rnd[i]);
	t->mc = mc;
	t->wio = wio;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->spec_cond, NULL);
	pthread_cond_init(&t->bj_cond, NULL);
	*ret = t;
	return 0;
}

void fh_table_free(struct fh_table *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->spec_stop = true;     /* the queue is empty: every handle was released */
	pthread_cond_broadcast(&t->spec_cond);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->nspec; i++)
		pthread_join(t->spec[i], NULL);
	fh_table_behind_stop(t);
	for (int i = 0; i < FH_HASH_SIZE; i++)
		bigfs_assert(t->hash[i] == NULL);
	ilc_clear(t);
	pthread_cond_destroy(&t->bj_cond);
	pthread_cond_destroy(&t->spec_cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct fh_inode **fh_inode_slot(struct fh_table *t, uint64_t ino);

void fh_table_set_behind(struct fh_table *t, struct nsq *q, bool (*ok)(void *arg), void *arg)
{
	t->nsq = q;
	t->behind_ok = ok;
	t->behind_arg = arg;
}

/* Before a master call about ino that must see this mount's queued
 * commit of it (a grant, a commit, locations, quota room): send it. */
static void fh_behind_wait(struct fh_table *t, uint64_t ino)
{
	if (t->nsq && nsq_pending_ino(t->nsq, ino))
		nsq_drain(t->nsq);
}

void fh_table_shared(struct fh_table *t, uint64_t ino)
{
	if (ino == 0) {
		pthread_mutex_lock(&t->lock);
		for (int i = 0; i < FH_HASH_SIZE; i++)
			for (struct fh_inode *in = t->hash[i]; in; in = in->next)
				in->shared = true;
		pthread_mutex_unlock(&t->lock);
		if (t->nsq)
			nsq_drain(t->nsq);
		return;
	}
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in)
		in->shared = true;
	pthread_mutex_unlock(&t->lock);
	fh_behind_wait(t, ino);
}

const char *fh_table_session(const struct fh_table *t)
{
	return t->session;
}

/* table lock held */
static struct fh_inode **fh_inode_slot(struct fh_table *t, uint64_t ino)
{
	struct fh_inode **p = &t->hash[ino % FH_HASH_SIZE];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

bool fh_table_local_mtime(struct fh_table *t, uint64_t ino, struct timespec *ret)
{
	bool has = false;
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in && in->has_wmtime) {
		*ret = in->wmtime;
		has = true;
	}
	pthread_mutex_unlock(&t->lock);
	return has;
}

void fh_table_mtime_set(struct fh_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in)
		in->has_wmtime = false;
	pthread_mutex_unlock(&t->lock);
}

bool fh_table_local_size(struct fh_table *t, uint64_t ino, uint64_t *ret)
{
	bool has = false;
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in && in->has_wsize) {
		*ret = in->wsize;
		has = true;
	}
	pthread_mutex_unlock(&t->lock);
	return has;
}

bool fh_table_nocaps_get(struct fh_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	bool nocaps = in && in->nocaps;
	pthread_mutex_unlock(&t->lock);
	return nocaps;
}

void fh_table_nocaps_set(struct fh_table *t, uint64_t ino, bool nocaps)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in)
		in->nocaps = nocaps;
	pthread_mutex_unlock(&t->lock);
}

static uint64_t fh_inode_gen(struct fh_table *t, struct fh_inode *in)
{
	pthread_mutex_lock(&t->lock);
	uint64_t g = in->gen;
	pthread_mutex_unlock(&t->lock);
	return g;
}

static int fh_sync(struct fh_writer *w, bool release_all, uint64_t seen, bool last);
static void fh_writer_unref(struct fh_writer *w);
static bool fh_setattr_json_needed(const struct fh_setattr *p);
static void fh_overlay_locked(const struct fh_writer *w, struct stat *st);

/* The writer of ino with a reference taken, or NULL when no writable
 * handle of ino is open here. */
static struct fh_writer *fh_table_writer(struct fh_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	struct fh_writer *w = in ? in->writer : NULL;
	if (w)
		w->refs++;
	pthread_mutex_unlock(&t->lock);
	return w;
}

void fh_created_attrs(struct file_handle *fh, const struct stat *st)
{
	struct fh_writer *w = fh->w;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->base = *st;
	w->base_known = true;
	w->base_epoch = atomic_load(&fh->t->names_epoch);
	pthread_mutex_unlock(&w->lock);
}

void fh_table_base_attrs(struct fh_table *t, uint64_t ino, const struct stat *st)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->base_known)
		w->base = *st;
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
}

void fh_table_names_changed(struct fh_table *t)
{
	atomic_fetch_add(&t->names_epoch, 1);
}

void fh_table_settle(struct fh_table *t, uint64_t ino, const struct stat *st, uint64_t gen)
{
	pthread_mutex_lock(&t->lock);
	struct fh_settled *s = fh_settled_slot(t, ino);
	*s = (struct fh_settled){ .ino = ino, .st = *st, .gen = gen,
				  .names = atomic_load(&t->names_epoch), .at_ms = now_ms() };
	pthread_mutex_unlock(&t->lock);
}

void fh_table_unsettle(struct fh_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct fh_settled *s = fh_settled_slot(t, ino);
	if (s->ino == ino)
		s->ino = 0;
	pthread_mutex_unlock(&t->lock);
}

bool fh_table_settled(struct fh_table *t, uint64_t ino, uint64_t gen, struct stat *st)
{
	pthread_mutex_lock(&t->lock);
	struct fh_settled *s = fh_settled_slot(t, ino);
	bool ok = s->ino == ino && s->gen == gen && s->names == atomic_load(&t->names_epoch) &&
		  now_ms() - s->at_ms < FH_SETTLED_MS;
	struct fh_inode *in = ok ? *fh_inode_slot(t, ino) : NULL;
	struct fh_writer *w = in ? in->writer : NULL;
	if (w)
		w->refs++;
	if (ok)
		*st = s->st;
	pthread_mutex_unlock(&t->lock);
	if (w) {
		/* still open for writing here (the close's release has not
		 * come yet, or another descriptor): only while nothing was
		 * written since that commit */
		pthread_mutex_lock(&w->lock);
		ok = w->closed_known && w->commit_end == 0 && w->ninflight == 0 && w->cur->len == 0 &&
		     !fh_setattr_json_needed(&w->pending);
		pthread_mutex_unlock(&w->lock);
		fh_writer_unref(w);
	}
	return ok;
}

/* Writer lock held: base (what the kernel was told) is still all of the
 * file's attributes but size and times: no name of this mount changed
 * since, so its link count stands. */
static bool fh_base_current(const struct fh_writer *w)
{
	return w->base_known && w->base_epoch == atomic_load(&w->t->names_epoch);
}

bool fh_table_known_attrs(struct fh_table *t, uint64_t ino, struct stat *st)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return false;
	pthread_mutex_lock(&w->lock);
	bool known = fh_base_current(w);
	if (known) {
		*st = w->base;
		fh_overlay_locked(w, st);
	}
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
	return known;
}

void fh_setattr_apply(const struct fh_setattr *sa, struct stat *st)
{
	if (sa->has_mode)
		st->st_mode = (st->st_mode & S_IFMT) | (sa->mode & 07777);
	if (sa->has_uid)
		st->st_uid = sa->uid;
	if (sa->has_gid)
		st->st_gid = sa->gid;
	if (sa->has_atime)
		st->st_atim = sa->atime;
	if (sa->has_mtime)
		st->st_mtim = sa->mtime;
}

/* Writer lock held: pending attributes over st. */
static void fh_overlay_locked(const struct fh_writer *w, struct stat *st)
{
	const struct fh_setattr *p = &w->pending;
	if (!w->base_known || !fh_setattr_json_needed(p))
		return;
	fh_setattr_apply(p, st);
	st->st_ctim = w->base.st_ctim;
}

int fh_table_defer_setattr(struct fh_table *t, uint64_t ino, const struct fh_setattr *sa,
			   struct stat *st)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return -EAGAIN;
	pthread_mutex_lock(&w->lock);
	int rc = -EAGAIN;
	if (fh_base_current(w) && !w->flushed) {
		struct fh_setattr *p = &w->pending;
		if (sa->has_mode) {
			p->has_mode = true;
			p->mode = sa->mode;
		}
		if (sa->has_uid) {
			p->has_uid = true;
			p->uid = sa->uid;
		}
		if (sa->has_gid) {
			p->has_gid = true;
			p->gid = sa->gid;
		}
		if (sa->has_atime) {
			p->has_atime = true;
			p->atime = sa->atime;
		}
		if (sa->has_mtime) {
			p->has_mtime = true;
			p->mtime = sa->mtime;
		}
		clock_gettime(CLOCK_REALTIME, &w->base.st_ctim);
		*st = w->base;
		fh_overlay_locked(w, st);
		w->base = *st;
		rc = 0;
	}
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
	return rc;
}

bool fh_table_has_kept_attrs(struct fh_table *t, uint64_t ino)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return false;
	pthread_mutex_lock(&w->lock);
	bool kept = w->base_known && fh_setattr_json_needed(&w->pending);
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
	return kept;
}

void fh_table_overlay_attrs(struct fh_table *t, uint64_t ino, struct stat *st)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	fh_overlay_locked(w, st);
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
}

int fh_table_flush_inode(struct fh_table *t, uint64_t ino, bool release)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	/* Only errors from now on are this caller's. */
	int rc = fh_sync(w, release, w->err_seq, release);   /* the create's grant too */
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
	return rc;
}

void fh_table_forget_grants(struct fh_table *t, uint64_t ino, uint64_t first_index,
			    uint64_t end_index)
{
	struct fh_writer *w = fh_table_writer(t, ino);
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->ninflight > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	for (size_t g = 0; g < w->ngrants; g++) {
		if (w->grants[g].index < first_index || w->grants[g].index >= end_index)
			continue;
		/* the chunk is gone: a later write asks for a new one */
		w->grants[g].released = true;
		w->grants[g].needs_fsync = false;
	}
	pthread_mutex_unlock(&w->lock);
	fh_writer_unref(w);
}

uint64_t fh_table_size_epoch(struct fh_table *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t e = t->size_epoch;
	pthread_mutex_unlock(&t->lock);
	return e;
}

void fh_table_truncated(struct fh_table *t, uint64_t ino, uint64_t size)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in) {
		if (in->has_wsize)
			in->wsize = size;
		in->gen++;
		if (in->writer)
			atomic_store(&in->writer->resized, true);
	}
	ilc_drop(t, in, ino);
	struct fh_settled *s = fh_settled_slot(t, ino);
	if (s->ino == ino)
		s->ino = 0;
	pthread_mutex_unlock(&t->lock);
}

/* ---- open / release ---- */

static struct fh_writer *fh_writer_new(struct fh_table *t, uint64_t ino)
{
	struct fh_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->t = t;
	w->ino = ino;
	w->cur = &w->bufs[0];
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->gmu, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->work, NULL);
	return w;
}

/* Stop the flushers (nothing is queued: the last handle synced) and free. */
static void fh_writer_free(struct fh_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nflushers; i++)
		pthread_join(w->flushers[i], NULL);
	for (int i = 0; i < FH_NBUF; i++)
		free(w->bufs[i].data);
	for (size_t i = 0; i < w->ngrants; i++)
		ac_unref(w->grants[i].ac);
	free(w->grants);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->gmu);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void fh_writer_unref(struct fh_writer *w)
{
	pthread_mutex_lock(&w->t->lock);
	bool last = --w->refs == 0;
	pthread_mutex_unlock(&w->t->lock);
	if (last)
		fh_writer_free(w);
}

int fh_open(struct fh_table *t, uint64_t ino, bool writable, struct file_handle **ret)
{
	struct file_handle *fh = calloc(1, sizeof(*fh));
	struct fh_writer *spare = NULL;
	if (!fh)
		return -ENOMEM;
	fh->t = t;
	fh->ino = ino;
	fh->writable = writable;
	fh->refs = 1;
	pthread_mutex_init(&fh->lock, NULL);
	pthread_cond_init(&fh->cond, NULL);
	if (writable && !(spare = fh_writer_new(t, ino)))
		goto out_free_fh;
	pthread_mutex_lock(&t->lock);
	struct fh_inode **slot = fh_inode_slot(t, ino);
	struct fh_inode *in = *slot;
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in) {
			pthread_mutex_unlock(&t->lock);
			goto out_free_spare;
		}
		in->ino = ino;
		*slot = in;
	}
	if (writable) {
		ilc_drop(t, in, ino);
		if (!in->writer) {
			in->writer = spare;
			spare = NULL;
		}
		fh->w = in->writer;
		fh->w->refs++;
		fh->w->nhandles++;
	}
	in->nopen++;
	fh->inode = in;
	fh->next = in->handles;
	in->handles = fh;
	fh->cache_gen = in->gen;
	fh->open_seq = in->ilc_seq;
	pthread_mutex_unlock(&t->lock);
	if (spare)
		fh_writer_free(spare);
	if (fh->w) {
		pthread_mutex_lock(&fh->w->lock);
		fh->err_seen = fh->w->err_seq;
		pthread_mutex_unlock(&fh->w->lock);
	}
	mount_metrics_add(MM_OPEN_FILES, 1);
	*ret = fh;
	return 0;
out_free_spare:
	if (spare)
		fh_writer_free(spare);
out_free_fh:
	pthread_cond_destroy(&fh->cond);
	pthread_mutex_destroy(&fh->lock);
	free(fh);
	return -ENOMEM;
}

static void fh_free(struct file_handle *fh)
{
	free(fh->ra);
	free(fh->pf);
	pthread_cond_destroy(&fh->cond);
	pthread_mutex_destroy(&fh->lock);
	free(fh);
}

static void fh_unref(struct file_handle *fh)
{
	struct fh_table *t = fh->t;
	pthread_mutex_lock(&t->lock);
	bool last = --fh->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		fh_free(fh);
}

/* Remove fh from its inode's list (and from its writer); drop the inode
 * when nothing is open. A size known here only until now moves the
 * table's size epoch: an attribute reply the master made before the commit that
 * preceded this must not be taken without the local size (fs_ops). */
static void fh_unregister(struct file_handle *fh)
{
	struct fh_table *t = fh->t;
	struct fh_writer *w = fh->w;
	bool last_ref = false;
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = fh->inode;
	for (struct file_handle **p = &in->handles; *p; p = &(*p)->next) {
		if (*p == fh) {
			*p = fh->next;
			break;
		}
	}
	fh->closed = true;
	if (w) {
		if (--w->nhandles == 0)
			in->writer = NULL;
		last_ref = --w->refs == 0;
		fh->w = NULL;
	}
	if (--in->nopen == 0) {
		struct fh_inode **slot = fh_inode_slot(t, in->ino);
		bigfs_assert(*slot == in);
		if (in->has_wsize)
			t->size_epoch++;
		*slot = in->next;
		free(in);
	}
	fh->inode = NULL;
	pthread_mutex_unlock(&t->lock);
	if (last_ref)
		fh_writer_free(w);
}

/* The data of ino changed through this mount: other handles drop what
 * they cached. */
static void fh_table_bump(struct fh_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, ino);
	if (in)
		in->gen++;
	ilc_drop(t, in, ino);
	pthread_mutex_unlock(&t->lock);
}

/* ---- write path ---- */

/* Add "avoid": the workers this mount would leave out of a write now
 * (worker_health), so a chunk placed by this grant goes elsewhere. */
static int fh_grant_avoid(struct fh_table *t, json_t *req)
{
	char ids[FH_AVOID_MAX][WORKER_ID_STRLEN + 1];
	size_t n = whealth_list_bad(worker_io_health(t->wio), ids, FH_AVOID_MAX);
	if (n == 0)
		return 0;
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ids[i]));
	return json_object_set_new(req, "avoid", a);
}

/* The grant's "rtoken" (a read token of its chunk version) in out, or "". */
static void fh_grant_rtoken(const json_t *grant, char out[TOKEN_MAX])
{
	const char *s = json_string_value(json_object_get(grant, "rtoken"));
	out[0] = '\0';
	if (s && strlen(s) < TOKEN_MAX)
		memcpy(out, s, strlen(s) + 1);
}

/* The grant of a create still on its way (g->ac): wait for its reply and
 * take the grant it brought. Owner of `grants`. 0, or -errno: the create
 * failed, or brought no grant (-ENODATA); the grant then names no replica
 * and is due for renewal: its next use asks the master (fh_grant). */
static int fh_grant_ready(struct grant *g)
{
	struct fh_acreate *ac = g->ac;
	if (!ac)
		return 0;
	int rc = ac_wait(ac);
	if (rc == 0) {
		g->c = ac->c;
		memcpy(g->rtoken, ac->rtoken, sizeof(g->rtoken));
		g->renew_at_ms = now_ms() + (int64_t)(ac->lease_ms / 2);
		g->behind = ac->behind;
	} else {
		g->c.nrep = 0;       /* asked for again at its next use */
		g->rtoken[0] = '\0';
		g->renew_at_ms = 0;
		g->from_create = false;
	}
	g->ac = NULL;
	ac_unref(ac);
	return rc;
}

/* Get a usable grant for chunk index (renewing it when due, or always if
 * force). Runs as the owner of `grants` (see the head comment). The
 * pointer is good until `grants` is next changed. */
static int fh_grant(struct fh_writer *w, uint64_t index, bool force, struct grant **ret)
{
	struct grant *g = NULL;
	for (size_t i = 0; i < w->ngrants; i++) {
		if (w->grants[i].index == index) {
			g = &w->grants[i];
			break;
		}
	}
	if (g && g->ac)
		(void)fh_grant_ready(g);   /* failed: released, asked for below */
	int64_t now = now_ms();
	if (g && !force && !g->released && now < g->renew_at_ms) {
		*ret = g;
		return 0;
	}
	json_t *req = json_pack("{s:I, s:I, s:s}", "ino", (json_int_t)w->ino, "index",
				(json_int_t)index, "session", w->t->session);
	if (!req || fh_grant_avoid(w->t, req) < 0) {
		json_decref(req);
		return -ENOMEM;
	}
	json_t *resp = NULL;
	fh_behind_wait(w->t, w->ino);
	int rc = master_client_call(w->t->mc, "write", req, MC_RETRY_EAGAIN, &resp, NULL);
	json_decref(req);
	if (rc < 0) {
		log_warn("inode %" PRIu64 " chunk %" PRIu64 ": write grant failed: %s", w->ino,
			 index, strerror(-rc));
		return rc;
	}
	struct wio_chunk c;
	uint64_t lease_ms = 0;
	if (worker_io_parse_chunk(resp, &c) < 0 || ju_u64_opt(resp, "lease_ms", 60000, &lease_ms) < 0) {
		log_err("inode %" PRIu64 ": malformed write grant from the master", w->ino);
		json_decref(resp);
		return -EIO;
	}
	char rtoken[TOKEN_MAX];
	fh_grant_rtoken(resp, rtoken);
	json_decref(resp);
	if (!g) {
		if (w->ngrants == w->grants_cap) {
			size_t cap = w->grants_cap ? w->grants_cap * 2 : 4;
			struct grant *p = realloc(w->grants, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			w->grants = p;
			w->grants_cap = cap;
		}
		g = &w->grants[w->ngrants++];
		memset(g, 0, sizeof(*g));
		g->index = index;
	}
	if (g->released || g->c.chunk_id != c.chunk_id || g->c.version != c.version)
		g->sole = false;     /* the lease was let go, or lapsed: others may have written */
	g->c = c;
	memcpy(g->rtoken, rtoken, sizeof(rtoken));
	g->released = false;
	g->renew_at_ms = now + (int64_t)(lease_ms / 2);
	*ret = g;
	return 0;
}

static bool fh_setattr_json_needed(const struct fh_setattr *p)
{
	return p->has_mode || p->has_uid || p->has_gid || p->has_atime || p->has_mtime;
}

/* The "setattr" of a commit for p, or NULL when nothing is pending. */
static json_t *fh_setattr_json(const struct fh_setattr *p)
{
	if (!p->has_mode && !p->has_uid && !p->has_gid && !p->has_atime && !p->has_mtime)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	if (p->has_mode)
		json_object_set_new(o, "mode", json_integer(p->mode & 07777));
	if (p->has_uid)
		json_object_set_new(o, "uid", json_integer(p->uid));
	if (p->has_gid)
		json_object_set_new(o, "gid", json_integer(p->gid));
	if (p->has_atime) {
		json_object_set_new(o, "atime_s", json_integer((json_int_t)p->atime.tv_sec));
		json_object_set_new(o, "atime_ns", json_integer(p->atime.tv_nsec));
	}
	if (p->has_mtime) {
		json_object_set_new(o, "mtime_s", json_integer((json_int_t)p->mtime.tv_sec));
		json_object_set_new(o, "mtime_ns", json_integer(p->mtime.tv_nsec));
	}
	return o;
}

/* Whether the last commit of w can tell where the whole file is: one
 * grant, of chunk 0, written or (from the create, unwritten) dropped. */
static bool fh_commit_keepable(const struct fh_writer *w)
{
	if (w->ngrants != 1 || w->grants[0].index != 0)
		return false;
	const struct grant *g = &w->grants[0];
	if (g->ac)
		return false;   /* where it is, the create's reply will say */
	return g->written ? g->rtoken[0] != '\0' : g->from_create && !g->released;
}

/* After the last commit of w (asked for with the inode's ilc_seq at seq):
 * a file of one chunk now (attr.size from the reply) is in the chunk this
 * mount just wrote, or is a hole if the create's chunk was dropped. */
static void fh_commit_keep(struct fh_writer *w, const json_t *resp, uint64_t seq)
{
	const struct grant *g = &w->grants[0];
	uint64_t size;
	if (ju_u64(json_object_get(resp, "attr"), "size", &size) < 0 || size > FH_SPEC_MAX)
		return;
	struct fh_table *t = w->t;
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, w->ino);
	if (in && in->ilc_seq == seq)   /* a later write or open for writing drops it */
		ilc_put(t, w->ino, size, g->written ? &g->c : NULL, g->rtoken);
	pthread_mutex_unlock(&t->lock);
}

/* The body of /v1/commit: grow the file to size, and give back every
 * lease if release_all; attributes kept here go along. NULL when out of
 * memory. */
static json_t *fh_commit_req(const struct fh_writer *w, uint64_t size, bool release_all)
{
	json_t *rel = json_array();
	if (!rel)
		return NULL;
	if (release_all)
		for (size_t i = 0; i < w->ngrants; i++)
			if (!w->grants[i].released)
				json_array_append_new(
					rel, json_integer((json_int_t)w->grants[i].index));
	json_t *req = json_pack("{s:I, s:I, s:s, s:o}", "ino", (json_int_t)w->ino, "size",
				(json_int_t)size, "session", w->t->session, "release", rel);
	if (!req)
		return NULL;
	json_t *drop = NULL;
	for (size_t i = 0; release_all && i < w->ngrants; i++) {
		const struct grant *g = &w->grants[i];
		if (g->from_create && !g->written && !g->released) {
			if (!drop && (!(drop = json_array()) ||
				      json_object_set_new(req, "drop", drop) < 0)) {
				json_decref(req);
				return NULL;
			}
			json_array_append_new(drop, json_integer((json_int_t)g->index));
		}
	}
	json_t *sa = fh_setattr_json(&w->pending);
	if (sa && json_object_set_new(req, "setattr", sa) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* POST /v1/commit (fh_commit_req). Runs as the owner of `grants`. */
static int fh_commit(struct fh_writer *w, uint64_t size, bool release_all)
{
	json_t *req = fh_commit_req(w, size, release_all);
	if (!req)
		return -ENOMEM;
	struct fh_table *t = w->t;
	uint64_t seq = 0;
	bool keep = release_all && fh_commit_keepable(w);
	w->closed_known = false;
	if (keep) {
		pthread_mutex_lock(&t->lock);
		struct fh_inode *in = *fh_inode_slot(t, w->ino);
		keep = in != NULL;
		seq = in ? in->ilc_seq : 0;
		pthread_mutex_unlock(&t->lock);
	}
	json_t *resp = NULL;
	fh_behind_wait(t, w->ino);
	int rc = master_client_call(t->mc, "commit", req, 0, release_all ? &resp : NULL, NULL);
	json_decref(req);
	if (rc == 0 && keep)
		fh_commit_keep(w, resp, seq);
	if (rc == 0 && release_all)
		w->closed_known = master_client_attr_obj(json_object_get(resp, "attr"),
							 &w->closed) == 0;
	json_decref(resp);
	if (rc == 0)
		memset(&w->pending, 0, sizeof(w->pending));
	if (rc < 0)
		log_warn("inode %" PRIu64 ": commit of size %" PRIu64 " failed: %s", w->ino, size,
			 strerror(-rc));
	else if (release_all)
		for (size_t i = 0; i < w->ngrants; i++)
			w->grants[i].released = true;
	return rc;
}

/* Keep in g only the replicas that are still in c (a write drops the
 * replicas that failed it), if g still names the same chunk version. */
static void fh_grant_keep(struct grant *g, const struct wio_chunk *c)
{
	if (g->c.chunk_id != c->chunk_id || g->c.version != c->version)
		return;
	int n = 0;
	for (int i = 0; i < g->c.nrep; i++)
		for (int k = 0; k < c->nrep; k++)
			if (strcmp(g->c.rep[i].worker_id, c->rep[k].worker_id) == 0) {
				g->c.rep[n++] = g->c.rep[i];
				break;
			}
	g->c.nrep = n;
}

static struct grant *fh_grant_find(struct fh_writer *w, uint64_t index)
{
	for (size_t i = 0; i < w->ngrants; i++)
		if (w->grants[i].index == index)
			return &w->grants[i];
	return NULL;
}

/* Put b on every replica of its chunk and note the end it reached in
 * `commit_end`; fh_sync tells the master (one commit per flush/fsync/close,
 * not one per buffer: this mount's getattr already includes the size
 * written here, and data is only promised to others after close/fsync).
 * b lies within one chunk. May run in several flushers at once: the grant
 * is copied out under `gmu` and the transfer runs without it. */
static int fh_flush_buf(struct fh_writer *w, struct wbuf *b)
{
	uint64_t index = b->off / FH_CHUNK_SIZE;
	uint64_t in_chunk = b->off - index * FH_CHUNK_SIZE;
	bigfs_assert(in_chunk + b->len <= FH_CHUNK_SIZE);
	int rc = 0;
	struct grant *g = NULL;
	struct wio_chunk c;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&w->gmu);
		rc = fh_grant(w, index, attempt > 0, &g);
		if (rc == 0)
			c = g->c;
		pthread_mutex_unlock(&w->gmu);
		if (rc < 0)
			return rc;
		rc = worker_io_write(w->t->wio, &c, in_chunk, b->data, b->len);
		if (rc != -ESTALE)
			break;
		log_info("inode %" PRIu64 " chunk %" PRIu64 ": replicas refused the grant, asking again",
			 w->ino, index);
	}
	if (rc < 0) {
		log_err("inode %" PRIu64 ": writing %zu bytes at %" PRIu64 " failed on every replica: %s",
			w->ino, b->len, b->off, strerror(-rc));
		return rc == -ENOSPC ? -ENOSPC : -EIO;
	}
	pthread_mutex_lock(&w->gmu);
	g = fh_grant_find(w, index);
	if (g) {
		fh_grant_keep(g, &c);
		g->needs_fsync = true;
		g->written = true;
	}
	if (b->off + b->len > w->commit_end)
		w->commit_end = b->off + b->len;
	pthread_mutex_unlock(&w->gmu);
	fh_table_bump(w->t, w->ino);
	return 0;
}

/* Writer lock held. Record a failed buffer. */
static void fh_writer_fail(struct fh_writer *w, int rc)
{
	w->err = rc;
	w->err_seq++;
}

/* Writer lock held. The oldest queued buffer, or NULL. */
static struct wbuf *fh_next_queued(struct fh_writer *w)
{
	struct wbuf *best = NULL;
	for (int i = 0; i < FH_NBUF; i++) {
		struct wbuf *b = &w->bufs[i];
		if (b->state == WB_QUEUED && (!best || b->seq < best->seq))
			best = b;
	}
	return best;
}

static void *fh_flusher_main(void *arg)
{
	struct fh_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct wbuf *b;
		while (!(b = fh_next_queued(w)) && !w->stop)
			pthread_cond_wait(&w->work, &w->lock);
		if (!b)
			break;
		b->state = WB_RUNNING;
		pthread_mutex_unlock(&w->lock);
		int rc = fh_flush_buf(w, b);
		pthread_mutex_lock(&w->lock);
		if (rc < 0)
			fh_writer_fail(w, rc);
		b->len = 0;
		b->state = WB_FREE;
		w->ninflight--;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Writer lock held. Whether a buffer in flight overlaps b. */
static bool fh_overlaps_inflight(struct fh_writer *w, const struct wbuf *b)
{
	for (int i = 0; i < FH_NBUF; i++) {
		const struct wbuf *o = &w->bufs[i];
		if (o != b && o->state != WB_FREE && o->off < b->off + b->len &&
		    b->off < o->off + o->len)
			return true;
	}
	return false;
}

static struct wbuf *fh_free_buf(struct fh_writer *w)
{
	for (int i = 0; i < FH_NBUF; i++)
		if (w->bufs[i].state == WB_FREE && &w->bufs[i] != w->cur)
			return &w->bufs[i];
	return NULL;
}

/* Writer lock held. Whether b may go now: a free buffer remains to fill,
 * nothing in flight overlaps it, and at most FH_INFLIGHT_BYTES would be
 * in flight (two full buffers; more of them when they are small, as with
 * random writes). */
static bool fh_can_queue(struct fh_writer *w, const struct wbuf *b)
{
	size_t bytes = b->len;
	for (int i = 0; i < FH_NBUF; i++)
		if (w->bufs[i].state != WB_FREE)
			bytes += w->bufs[i].len;
	return fh_free_buf(w) && !fh_overlaps_inflight(w, b) &&
	       (w->ninflight == 0 || bytes <= FH_INFLIGHT_BYTES);
}

/* Writer lock held. Queue `cur` for the flushers (starting one more if
 * fewer than FH_FLUSHERS run) and continue in a free buffer. Returns 0, or
 * the error of flushing `cur` here when no flusher could be started. */
static int fh_submit(struct fh_writer *w)
{
	while (!fh_can_queue(w, w->cur))
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->nflushers < FH_FLUSHERS && w->nflushers <= w->ninflight &&
	    pthread_create(&w->flushers[w->nflushers], NULL, fh_flusher_main, w) == 0)
		w->nflushers++;
	if (w->nflushers == 0) {
		int rc = fh_flush_buf(w, w->cur);
		w->cur->len = 0;
		if (rc < 0)
			fh_writer_fail(w, rc);
		return rc;
	}
	w->cur->state = WB_QUEUED;
	w->cur->seq = w->next_seq++;
	w->ninflight++;
	w->cur = fh_free_buf(w);
	w->cur->len = 0;
	/* one flusher takes it; waking all of them (they shared one
	 * condition with the writers) cost a context switch each for
	 * nothing: 58% of the mount's CPU under 4 KiB random writes was
	 * switching */
	pthread_cond_signal(&w->work);
	return 0;
}

/* Writer lock held. Wait for the background flush and flush `cur` here:
 * every byte written is on the workers. The master is not told (the size
 * and the leases wait for the next flush, fsync or close: commit_end). */
static void fh_flush_out(struct fh_writer *w)
{
	while (w->ninflight > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->cur->len > 0) {
		int rc = fh_flush_buf(w, w->cur);
		w->cur->len = 0;
		if (rc < 0)
			fh_writer_fail(w, rc);
	}
}

/* Writer lock held. Wait for the background flush, flush `cur` here and
 * commit what reached the workers. Returns the last write error if one
 * happened after `seen` (a handle's err_seen), else the commit's result. */
static int fh_sync(struct fh_writer *w, bool release_all, uint64_t seen, bool last)
{
	fh_flush_out(w);
	/* A grant that came with the create and was not written yet is given
	 * back only at the last close: bash's "> file" closes a descriptor
	 * (a flush) before it writes through its dup. */
	bool held = false, held_fresh = false;
	for (size_t i = 0; i < w->ngrants; i++) {
		const struct grant *g = &w->grants[i];
		if (!g->released && g->from_create && !g->written)
			held_fresh = true;
		else if (!g->released)
			held = true;
	}
	if (w->commit_end > 0 || (release_all && held) || (release_all && last && held_fresh) ||
	    fh_setattr_json_needed(&w->pending)) {
		/* A failed commit keeps commit_end for the next try and is
		 * returned: the data is on the workers, the size is not known. */
		int rc = fh_commit(w, w->commit_end,
				   release_all && (held || (last && held_fresh)));
		if (rc < 0)
			return rc;
		w->commit_end = 0;
	}
	return w->err_seq != seen ? w->err : 0;
}

static int fh_wbuf_reserve(struct wbuf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : FH_WBUF_FIRST;
	while (cap < need)
		cap *= 2;
	if (cap > FH_WBUF_MAX)
		cap = FH_WBUF_MAX;
	char *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Whether some folder of the cluster has a quota (the master says so in
 * every session reply, client_session.c). One mount per process. */
static atomic_bool fh_quotas;

bool fh_quotas_on(void)
{
	return atomic_load(&fh_quotas);
}

void fh_quotas_in_use(bool on)
{
	atomic_store(&fh_quotas, on);
}

/* Quotas: a write growing the file past what the master last allowed
 * (or after FH_QUOTA_FRESH_MS) asks it for the room first (POST
 * /v1/quota/room), so nothing is written past a hard limit: the write is
 * cut at the limit, and one starting there gets EDQUOT. The room counts
 * the file's committed size, not bytes of other writers still in flight.
 * Writer lock held. */
static int fh_quota_cut(struct fh_writer *w, uint64_t off, size_t *size)
{
	uint64_t end = off + *size;
	int64_t now = now_ms();

	if (!atomic_load(&fh_quotas))
		return 0;
	if (!w->quota_known || end > w->quota_end || now - w->quota_at_ms > FH_QUOTA_FRESH_MS) {
		json_t *req = json_pack("{s:I}", "ino", (json_int_t)w->ino), *resp = NULL;
		if (!req)
			return -ENOMEM;
		fh_behind_wait(w->t, w->ino);
		int rc = master_client_call(w->t->mc, "quota/room", req, MC_RETRY_EAGAIN, &resp,
					    NULL);
		json_decref(req);
		if (rc < 0) {
			log_warn("inode %" PRIu64 ": quota room: %s; writing on", w->ino,
				 strerror(-rc));
			return 0;
		}
		json_t *room = json_object_get(resp, "room");
		uint64_t fsize = (uint64_t)json_integer_value(json_object_get(resp, "size"));
		w->quota_end = json_is_integer(room)
				       ? fsize + (uint64_t)json_integer_value(room)
				       : UINT64_MAX;
		w->quota_known = true;
		w->quota_at_ms = now;
		json_decref(resp);
	}
	if (end <= w->quota_end)
		return 0;
	if (off >= w->quota_end)
		return -EDQUOT;
	*size = (size_t)(w->quota_end - off);
	return 0;
}

int fh_write(struct file_handle *fh, uint64_t off, const void *buf, size_t *psize)
{
	struct fh_writer *w = fh->w;
	const char *src = buf;
	size_t size = *psize;
	uint64_t end;
	int rc = 0;
	if (!w)
		return -EBADF;
	pthread_mutex_lock(&w->lock);
	w->closed_known = false;     /* the size and times move on */
	w->flushed = false;
	if (w->err_seq != fh->err_seen) {
		rc = w->err;
		goto out_unlock;
	}
	rc = fh_quota_cut(w, off, &size);
	if (rc < 0)
		goto out_unlock;
	*psize = size;
	w->pending.has_mtime = false;   /* data after a kept mtime: now is the mtime */
	end = off + size;
	while (size > 0) {
		struct wbuf *b = w->cur;
		uint64_t chunk_end = (off / FH_CHUNK_SIZE + 1) * FH_CHUNK_SIZE;
		if (b->len > 0 && (off != b->off + b->len || off / FH_CHUNK_SIZE != b->off / FH_CHUNK_SIZE ||
				   b->len == FH_WBUF_MAX)) {
			rc = fh_submit(w);
			if (rc < 0)
				goto out_unlock;
			b = w->cur;
		}
		if (b->len == 0)
			b->off = off;
		size_t n = min_sz(size, FH_WBUF_MAX - b->len);
		n = min_sz(n, (size_t)(chunk_end - off));
		rc = fh_wbuf_reserve(b, b->len + n);
		if (rc < 0)
			goto out_unlock;
		memcpy(b->data + b->len, src, n);
		b->len += n;
		off += n;
		src += n;
		size -= n;
		if (b->len == FH_WBUF_MAX || b->off + b->len == chunk_end) {
			rc = fh_submit(w);
			if (rc < 0)
				goto out_unlock;
		}
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&fh->t->lock);
	if (!fh->inode->has_wsize || fh->inode->wsize < end) {
		fh->inode->wsize = end;
		fh->inode->has_wsize = true;
	}
	fh->inode->wmtime = now;
	fh->inode->has_wmtime = true;
	pthread_mutex_unlock(&fh->t->lock);
out_unlock:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* What the two ways of leaving a close's commit behind ask alike (writer
 * lock held): see file_handle.h. The file was made by this handle's
 * create, whose grant the master noted ("behind"), and is written only
 * in its first chunk, by this mount alone (the lease held since the
 * create), without an error; its attributes are known here (setattrs
 * kept while it was open ride on the commit, as tar's futimens, fchown
 * and fchmod before close or rsync's fchmod before its writes: the
 * master stamps them with the commit's time, which is the ctime the
 * kernel is told: the last kept setattr's when it set the mtime, the
 * close's otherwise); no other mount asked for it meanwhile, and no other handle
 * of this mount writes it (readers: with no_readers, none at all); no
 * quota can refuse the commit; and the mount can queue it (fs_ops'
 * behind_ok: the master takes commits in batches and the change feed is
 * live). */
static bool fh_behind_common(struct file_handle *fh, struct fh_writer *w, bool no_readers)
{
	struct fh_table *t = w->t;
	if (!t->nsq || !t->behind_ok || atomic_load(&fh_quotas) || w->ngrants != 1 ||
	    w->err_seq != fh->err_seen || atomic_load(&w->resized) || !fh_base_current(w))
		return false;
	const struct grant *g = &w->grants[0];
	if (g->index != 0 || !g->from_create || !g->behind || g->released || !g->sole ||
	    (g->rtoken[0] == '\0' && !g->ac))
		return false;
	pthread_mutex_lock(&t->lock);
	bool ok = w->nhandles == 1 && !fh->inode->shared && (!no_readers || fh->inode->nopen == 1);
	pthread_mutex_unlock(&t->lock);
	return ok && t->behind_ok(t->behind_arg);
}

/* Commit behind: the data is on the workers (nothing in flight). */
static bool fh_behind_ok(struct file_handle *fh, struct fh_writer *w)
{
	return w->commit_end != 0 && w->grants && w->grants[0].written &&
	       fh_behind_common(fh, w, false);
}

/* Data behind: nothing went to the workers yet, and the whole file is in
 * the buffer being filled, small enough, with room in the table's budget
 * of data on its way; and no worker is sick here (a write that meets a
 * stalled replica takes the 2 s grace, which another mount's open of the
 * file would wait for). */
static bool fh_data_behind_ok(struct file_handle *fh, struct fh_writer *w)
{
	const struct wbuf *b = w->cur;
	return w->commit_end == 0 && w->ninflight == 0 && b->len > 0 &&
	       b->len <= FH_BEHIND_FILE_MAX && b->off + b->len <= FH_CHUNK_SIZE && w->grants &&
	       !w->grants[0].written &&
	       atomic_load(&w->t->bj_bytes) + b->len <= FH_BEHIND_BYTES_MAX &&
	       whealth_count_bad(worker_io_health(w->t->wio)) == 0 &&
	       fh_behind_common(fh, w, true);
}

/* A close's data on its way to the workers (fh_data_behind): it owns the
 * bytes and the held commit that waits for them. */
struct fh_bjob {
	struct fh_bjob *next;
	struct fh_table *t;
	uint64_t ino;
	struct wio_chunk c;          /* the create's grant, then any later one */
	uint64_t off;                /* in the first chunk */
	char *data;
	size_t len;
	struct nsq_op *op;           /* the held commit */
	struct fh_acreate *ac;       /* c comes with this create's reply */
	bool ilc_later;              /* then where the file is goes to the inode
				      * location cache, as fh_behind does */
	uint64_t ilc_size, ilc_seq;  /* its size, and the inode's ilc_seq then */
};

struct fh_behind {
	struct fh_table *t;
	uint64_t ino;
};

/* A queued commit is back (ns_queue's sender thread), or was never
 * queued. One the master refused (the queue logged and counted it), or
 * not sent, leaves nothing here that would answer for the file: its kept
 * location and attributes go. */
static void fh_behind_done(void *arg, int rc, const json_t *res)
{
	struct fh_behind *b = arg;
	(void)res;
	if (rc < 0 && rc != -ENOENT) {
		pthread_mutex_lock(&b->t->lock);
		ilc_drop(b->t, *fh_inode_slot(b->t, b->ino), b->ino);
		pthread_mutex_unlock(&b->t->lock);
		fh_table_unsettle(b->t, b->ino);
	}
	free(b);
}

/* Writer lock held, fh_behind_ok: queue the close's commit (release
 * every lease, and the kept setattrs) and take as the closed file's
 * attributes what the master will make of it: the known ones (the kept
 * setattrs' among them), the size committed, mtime and ctime now, which
 * the commit carries ("time_s": the master keeps them); with kept
 * setattrs, the mtime they set and the ctime the kernel was told at the
 * last of them. True if queued. */
static bool fh_behind(struct fh_writer *w, struct fh_bjob *job)
{
	struct fh_table *t = w->t;
	struct fh_behind *b = malloc(sizeof(*b));
	json_t *req = b ? fh_commit_req(w, w->commit_end, true) : NULL;
	if (!req) {
		free(b);
		return false;
	}
	*b = (struct fh_behind){ t, w->ino };
	struct stat st = w->base;
	if ((uint64_t)st.st_size < w->commit_end)
		st.st_size = (off_t)w->commit_end;
	st.st_blocks = (blkcnt_t)(((uint64_t)st.st_size + 511) / 512);
	/* the time the kernel is told is the one the master will keep (git
	 * compares what it saw after a checkout with what it sees later) */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (w->pending.has_mtime)
		now = w->base.st_ctim;   /* the last kept setattr's answer */
	else
		st.st_mtim = now;
	st.st_ctim = now;
	if (json_object_set_new(req, "time_s", json_integer((json_int_t)now.tv_sec)) < 0 ||
	    json_object_set_new(req, "time_ns", json_integer(now.tv_nsec)) < 0) {
		json_decref(req);
		free(b);
		return false;
	}
	/* where the file is, for the next open's read: as after a commit
	 * (fh_commit_keep), asked for before it is queued */
	const struct grant *g = &w->grants[0];
	pthread_mutex_lock(&t->lock);
	struct fh_inode *in = *fh_inode_slot(t, w->ino);
	if (in && (uint64_t)st.st_size <= FH_SPEC_MAX && !g->ac) {
		ilc_put(t, w->ino, (uint64_t)st.st_size, &g->c, g->rtoken);
	} else if (in && (uint64_t)st.st_size <= FH_SPEC_MAX && job) {
		job->ilc_later = true;   /* once the create's reply says where */
		job->ilc_size = (uint64_t)st.st_size;
		job->ilc_seq = in->ilc_seq;
	}
	pthread_mutex_unlock(&t->lock);
	/* not queued: fh_behind_done forgot that location again */
	int rc = job ? nsq_commit_held(t->nsq, w->ino, req, fh_behind_done, b, &job->op)
		     : nsq_commit(t->nsq, w->ino, req, fh_behind_done, b);
	json_decref(req);
	if (rc < 0)
		return false;
	memset(&w->pending, 0, sizeof(w->pending));
	w->grants[0].released = true;
	w->commit_end = 0;
	w->closed = st;
	w->closed_known = true;
	return true;
}

/* A new grant for a job whose replicas all failed its write (the
 * master's /v1/write, avoiding the workers this mount finds sick). */
static int fh_behind_regrant(struct fh_bjob *j)
{
	struct fh_table *t = j->t;
	json_t *req = json_pack("{s:I, s:I, s:s}", "ino", (json_int_t)j->ino, "index", 0,
				"session", t->session);
	if (!req || fh_grant_avoid(t, req) < 0) {
		json_decref(req);
		return -ENOMEM;
	}
	json_t *resp = NULL;
	int rc = master_client_call(t->mc, "write", req, MC_RETRY_EAGAIN, &resp, NULL);
	json_decref(req);
	if (rc == 0 && worker_io_parse_chunk(resp, &j->c) < 0)
		rc = -EIO;
	json_decref(resp);
	return rc;
}

/* Put a job's bytes on the workers (with new grants if every replica
 * failed), then let its commit go: with the size written, or, when the
 * data could not be put anywhere, with size 0 (the file stays empty,
 * never partly written), logged, counted and told to the next fsync. */
static void fh_behind_run(struct fh_bjob *j)
{
	struct fh_table *t = j->t;
	int rc = 0, tries = FH_BEHIND_TRIES;
	bool moved = false;
	if (j->ac) {
		/* the create this mount answered: its reply brings the grant */
		rc = ac_wait(j->ac);
		if (rc == 0)
			j->c = j->ac->c;
		else if (rc == -ENODATA)
			rc = fh_behind_regrant(j);   /* made, but no grant came with it */
		else
			tries = 0;                   /* not made: nowhere to write */
		moved = rc < 0;
	}
	if (rc == 0)
		rc = worker_io_write(t->wio, &j->c, j->off, j->data, j->len);
	for (int i = 0; rc < 0 && i < tries; i++) {
		log_info("inode %" PRIu64 ": the write its close left behind failed (%s); "
			 "asking for another grant", j->ino, strerror(-rc));
		moved = true;
		rc = fh_behind_regrant(j);
		if (rc == 0)
			rc = worker_io_write(t->wio, &j->c, j->off, j->data, j->len);
	}
	if (rc < 0) {
		log_err("inode %" PRIu64 ": the %zu bytes its close left to write failed on every "
			"replica (%s): the file stays empty", j->ino, j->len, strerror(-rc));
		mount_metrics_add(MM_BEHIND_WRITE_ERRORS, 1);
		atomic_store(&t->bj_err, rc == -ENOSPC ? -ENOSPC : -EIO);
	}
	if (rc == 0 && !moved && j->ilc_later) {
		/* where the file is, for the next open's read (fh_behind) */
		pthread_mutex_lock(&t->lock);
		struct fh_inode *in = *fh_inode_slot(t, j->ino);
		if (!in || in->ilc_seq == j->ilc_seq)
			ilc_put(t, j->ino, j->ilc_size, &j->c, j->ac->rtoken);
		pthread_mutex_unlock(&t->lock);
	}
	if (moved || rc < 0) {
		/* the location kept for the next open is not where the bytes are */
		pthread_mutex_lock(&t->lock);
		ilc_drop(t, *fh_inode_slot(t, j->ino), j->ino);
		pthread_mutex_unlock(&t->lock);
	}
	if (rc < 0)
		fh_table_unsettle(t, j->ino);
	if (nsq_release(t->nsq, j->op, rc == 0 ? UINT64_MAX : 0) < 0 && rc < 0)
		log_err("inode %" PRIu64 ": out of memory: its commit claims bytes it lacks", j->ino);
	atomic_fetch_sub(&t->bj_bytes, j->len);
	/* after the release: a kernel call waiting on the queue may hold
	 * what the kernel's invalidation needs */
	if (rc < 0 && t->lost_fn)
		t->lost_fn(t->lost_arg, j->ino);
	ac_unref(j->ac);
	free(j->data);
	free(j);
}

static void *fh_behind_main(void *arg)
{
	struct fh_table *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->bj_head && !t->bj_stop)
			pthread_cond_wait(&t->bj_cond, &t->lock);
		struct fh_bjob *j = t->bj_head;
		if (!j)
			break;
		t->bj_head = j->next;
		if (!t->bj_head)
			t->bj_tail = NULL;
		pthread_mutex_unlock(&t->lock);
		fh_behind_run(j);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Table lock held. Start the data-behind threads (lazily: the mount
 * forks into the background after the table is made); false if none
 * runs. */
static bool fh_behind_threads(struct fh_table *t)
{
	while (t->nbj < FH_BEHIND_THREADS && !t->bj_stop) {
		if (pthread_create(&t->bj[t->nbj], NULL, fh_behind_main, t) != 0)
			break;
		t->nbj++;
	}
	return t->nbj > 0;
}

/* Writer lock held, fh_data_behind_ok: the close's buffer goes to the
 * workers on a data-behind thread, and its commit is queued held until
 * it is there (nsq_commit_held); the close returns now. The writer is
 * left as after a commit behind. True if so. */
static bool fh_data_behind(struct fh_writer *w)
{
	struct fh_table *t = w->t;
	struct wbuf *b = w->cur;
	struct grant *g = &w->grants[0];
	struct fh_bjob *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	pthread_mutex_lock(&t->lock);
	bool threads = fh_behind_threads(t);
	pthread_mutex_unlock(&t->lock);
	if (!threads) {
		free(j);
		return false;
	}
	*j = (struct fh_bjob){ .t = t, .ino = w->ino, .c = g->c, .off = b->off, .len = b->len,
			       .ac = ac_ref(g->ac) };
	/* the commit and the writer as if b were on the workers (the bump
	 * first: it forgets the location fh_behind keeps for the next open) */
	fh_table_bump(t, w->ino);
	g->written = true;
	g->needs_fsync = true;
	w->commit_end = b->off + b->len;
	if (!fh_behind(w, j)) {
		g->written = false;
		g->needs_fsync = false;
		w->commit_end = 0;
		ac_unref(j->ac);
		free(j);
		return false;
	}
	j->data = b->data;
	b->data = NULL;
	b->cap = 0;
	b->len = 0;
	atomic_fetch_add(&t->bj_bytes, j->len);
	mount_metrics_add(MM_BEHIND_WRITES, 1);
	pthread_mutex_lock(&t->lock);
	if (t->bj_tail)
		t->bj_tail->next = j;
	else
		t->bj_head = j;
	t->bj_tail = j;
	pthread_cond_signal(&t->bj_cond);
	pthread_mutex_unlock(&t->lock);
	return true;
}

void fh_table_behind_stop(struct fh_table *t)
{
	pthread_mutex_lock(&t->lock);
	t->bj_stop = true;       /* the data behind still queued goes first */
	pthread_cond_broadcast(&t->bj_cond);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->nbj; i++)
		pthread_join(t->bj[i], NULL);
	t->nbj = 0;
}

void fh_table_on_lost(struct fh_table *t, void (*fn)(void *arg, uint64_t ino), void *arg)
{
	t->lost_fn = fn;
	t->lost_arg = arg;
}

int fh_table_behind_error(struct fh_table *t)
{
	return atomic_exchange(&t->bj_err, 0);
}

int fh_flush(struct file_handle *fh, const uint64_t *gen)
{
	/* flush is close(): give the leases back in the same commit. A later
	 * write through a dup'ed descriptor, or through another handle of
	 * this inode, simply asks for a new grant. */
	struct fh_writer *w = fh->w;
	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	w->closed_known = false;
	/* nothing written, kept or granted beyond the create's grant yet */
	bool empty = w->commit_end == 0 && w->ninflight == 0 && w->cur->len == 0 &&
		     !fh_setattr_json_needed(&w->pending) &&
		     (w->ngrants == 0 || (w->ngrants == 1 && w->grants[0].from_create &&
					  !w->grants[0].written && !w->grants[0].released));
	int rc = 0;
	if (!(fh_data_behind_ok(fh, w) && fh_data_behind(w))) {
		fh_flush_out(w);
		rc = fh_behind_ok(fh, w) && fh_behind(w, NULL) ? 0
							       : fh_sync(w, true, fh->err_seen, false);
	}
	if (rc == 0 && gen && w->closed_known)
		fh_table_settle(w->t, fh->ino, &w->closed, *gen);
	/* A close sent what was kept. From now on setattrs go to the master
	 * at once: the kernel's release comes later, on its own, and one kept
	 * after its last commit would be lost with the writer. A close that
	 * sent nothing keeps what is known for the next one (flushed). */
	if (empty && rc == 0)
		w->flushed = true;
	else
		w->base_known = false;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Writer lock held, nothing in flight. fsync every chunk written since
 * the last fsync on every replica. */
static int fh_fsync_grants(struct fh_writer *w)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < w->ngrants; i++) {
		struct grant *g = &w->grants[i];
		if (!g->needs_fsync)
			continue;
		int r = g->ac ? fh_grant_ready(g) : 0;
		if (r < 0 && r != -ENODATA) {
			rc = -EIO;   /* the create failed: its data is nowhere */
			fh_writer_fail(w, rc);
			break;
		}
		/* one the create did not bring is asked for (its data behind
		 * went where that grant said) */
		rc = r == 0 ? worker_io_fsync(w->t->wio, &g->c) : -ESTALE;
		if (rc == -ESTALE && g->released && r == 0) {
			/* Another writer moved the chunk on after this mount gave
			 * its lease back: that version is no longer ours to sync. */
			log_info("inode %" PRIu64 " chunk %" PRIu64 ": changed by another "
				 "writer since this mount's flush; not synced here",
				 w->ino, g->index);
			rc = 0;
		} else if (rc == -ESTALE) {
			struct grant *ng;
			rc = fh_grant(w, g->index, true, &ng);
			if (rc == 0)
				rc = worker_io_fsync(w->t->wio, &ng->c);
			g = ng;
		}
		if (rc < 0) {
			log_err("inode %" PRIu64 " chunk %" PRIu64 ": fsync failed on every replica",
				w->ino, w->grants[i].index);
			rc = -EIO;
			fh_writer_fail(w, rc);
			break;
		}
		g->needs_fsync = false;
	}
	return rc;
}

/* The writer of fh's inode: its own (a writable handle), or, borrowed
 * with a reference the caller drops (fh_writer_unref), the one of the
 * inode's writable handles; NULL when the inode has none. */
static struct fh_writer *fh_writer_of(struct file_handle *fh, bool *ret_borrowed)
{
	*ret_borrowed = fh->w == NULL;
	return fh->w ? fh->w : fh_table_writer(fh->t, fh->ino);
}

int fh_fsync(struct file_handle *fh)
{
	/* fsync is of the file, not of the descriptor: a read-only handle
	 * syncs what this mount's writers of the inode wrote. */
	bool borrowed;
	fh_behind_wait(fh->t, fh->ino);   /* a close's data behind first */
	struct fh_writer *w = fh_writer_of(fh, &borrowed);
	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	int rc = fh_sync(w, false, borrowed ? w->err_seq : fh->err_seen, false);
	if (rc == 0)
		rc = fh_fsync_grants(w);
	pthread_mutex_unlock(&w->lock);
	if (borrowed)
		fh_writer_unref(w);
	return rc;
}

int fh_release(struct file_handle *fh)
{
	int rc = 0;
	if (fh->w) {
		pthread_mutex_lock(&fh->w->lock);
		rc = fh_sync(fh->w, true, fh->err_seen, true);
		pthread_mutex_unlock(&fh->w->lock);
	}
	pthread_mutex_lock(&fh->lock);
	fh->stop = true;
	pthread_cond_broadcast(&fh->cond);
	pthread_mutex_unlock(&fh->lock);
	if (fh->reader_started)
		pthread_join(fh->reader, NULL);
	if (rc < 0)
		log_warn("inode %" PRIu64 ": data written through a handle being closed was lost: %s",
			 fh->ino, strerror(-rc));
	mount_metrics_sub(MM_OPEN_FILES, 1);
	fh_unregister(fh);
	fh_unref(fh);
	return rc;
}

/* ---- read path ---- */

/* Handle lock held. Locations just learned from the master (asked for
 * with the inode's ilc_seq at seq, after this handle's open began): a
 * small file's go to the inode location cache, unless this mount changed
 * the file meanwhile, and an open prefetch of the chunk version and size
 * they name is confirmed. */
static void fh_loc_learned(struct file_handle *fh, uint64_t seq)
{
	struct fh_table *t = fh->t;
	const struct loc_cache *l = &fh->loc;
	if (!l->valid || l->first != 0)
		return;
	if (fh->pf_unconfirmed && l->present[0] && l->c[0].chunk_id == fh->pf_chunk.chunk_id &&
	    l->c[0].version == fh->pf_chunk.version && l->size == fh->pf_len)
		fh->pf_unconfirmed = false;
	if (l->size > FH_SPEC_MAX)
		return;     /* only what an open prefetch would read */
	pthread_mutex_lock(&t->lock);
	if (fh->inode->ilc_seq == seq)
		ilc_put(t, fh->ino, l->size, l->present[0] ? &l->c[0] : NULL, l->c[0].token);
	pthread_mutex_unlock(&t->lock);
}

/* Handle lock held. Fill loc from a {"size", "chunks"} reply for the
 * LOC_BATCH chunk indexes from index. Takes resp. */
static int fh_loc_fill(struct file_handle *fh, json_t *resp, uint64_t index)
{
	struct loc_cache *l = &fh->loc;
	l->valid = false;
	json_t *chunks = json_object_get(resp, "chunks");
	if (ju_u64(resp, "size", &l->size) < 0 || !json_is_array(chunks))
		goto out_malformed;
	memset(l->present, 0, sizeof(l->present));
	size_t i;
	json_t *c;
	json_array_foreach(chunks, i, c) {
		uint64_t idx;
		if (ju_u64(c, "index", &idx) < 0)
			goto out_malformed;
		if (idx < index || idx >= index + LOC_BATCH)
			continue;
		if (worker_io_parse_chunk(c, &l->c[idx - index]) < 0)
			goto out_malformed;
		l->present[idx - index] = true;
	}
	l->first = index;
	l->fetched_ms = now_ms();
	l->valid = true;
	json_decref(resp);
	return 0;
out_malformed:
	log_err("inode %" PRIu64 ": malformed chunk list from the master", fh->ino);
	json_decref(resp);
	return -EIO;
}

/* Handle lock held. Fetch the locations of LOC_BATCH chunks from index. */
static int fh_locate_fetch(struct file_handle *fh, uint64_t index)
{
	json_t *req = json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)fh->ino, "index",
				(json_int_t)index, "count", (json_int_t)LOC_BATCH);
	if (!req)
		return -ENOMEM;
	json_t *resp = NULL;
	struct fh_table *t = fh->t;
	pthread_mutex_lock(&t->lock);
	uint64_t seq = fh->inode->ilc_seq;
	pthread_mutex_unlock(&t->lock);
	fh_behind_wait(t, fh->ino);
	int rc = master_client_call(t->mc, "chunks", req, 0, &resp, NULL);
	json_decref(req);
	if (rc < 0)
		return rc;
	rc = fh_loc_fill(fh, resp, index);
	if (rc == 0)
		fh_loc_learned(fh, seq);
	return rc;
}

uint64_t fh_open_chunks(void)
{
	return LOC_BATCH;
}

void fh_open_queued(struct file_handle *fh)
{
	pthread_mutex_lock(&fh->lock);
	fh->queue_first = true;
	pthread_mutex_unlock(&fh->lock);
}

/* gmu held, no grant of chunk 0 yet: a new one for it, as the create
 * made the file (sole, from_create), the rest zero; NULL without memory. */
static struct grant *fh_grant_add_created(struct fh_writer *w)
{
	if (w->ngrants == w->grants_cap &&
	    !(w->grants_cap == 0 && (w->grants = calloc(4, sizeof(*w->grants)))))
		return NULL;
	if (w->grants_cap == 0)
		w->grants_cap = 4;
	struct grant *g = &w->grants[w->ngrants++];
	memset(g, 0, sizeof(*g));
	g->sole = true;
	g->from_create = true;
	return g;
}

int fh_prefill_grant(struct file_handle *fh, const json_t *grant)
{
	struct fh_writer *w = fh->w;
	struct wio_chunk c;
	uint64_t lease_ms = 0;
	if (!w || !grant)
		return 0;
	if (worker_io_parse_chunk(grant, &c) < 0 ||
	    ju_u64_opt(grant, "lease_ms", 60000, &lease_ms) < 0) {
		log_warn("inode %" PRIu64 ": malformed write grant with the create: asking again",
			 w->ino);
		return -EIO;
	}
	pthread_mutex_lock(&w->gmu);
	int rc = 0;
	struct grant *g = NULL;
	if (fh_grant_find(w, 0))
		rc = 0;     /* another handle got one first: keep it */
	else if (!(g = fh_grant_add_created(w)))
		rc = -ENOMEM;
	if (g) {
		g->c = c;
		fh_grant_rtoken(grant, g->rtoken);
		g->renew_at_ms = now_ms() + (int64_t)(lease_ms / 2);
		g->behind = json_is_true(json_object_get(grant, "behind"));
	}
	pthread_mutex_unlock(&w->gmu);
	return rc;
}

struct fh_acreate *fh_prefill_pending(struct file_handle *fh)
{
	struct fh_writer *w = fh->w;
	struct fh_acreate *ac = w ? calloc(1, sizeof(*ac)) : NULL;
	if (!ac)
		return NULL;
	pthread_mutex_init(&ac->lock, NULL);
	pthread_cond_init(&ac->cond, NULL);
	ac->refs = 2;   /* the grant's, the caller's (fh_acreate_done) */
	pthread_mutex_lock(&w->gmu);
	struct grant *g = w->ngrants == 0 ? fh_grant_add_created(w) : NULL;
	bool ok = g != NULL;
	if (ok) {
		g->behind = true;    /* asked for so: the reply may still say otherwise */
		g->renew_at_ms = INT64_MAX;
		g->ac = ac;
	}
	pthread_mutex_unlock(&w->gmu);
	if (!ok) {
		pthread_cond_destroy(&ac->cond);
		pthread_mutex_destroy(&ac->lock);
		free(ac);
		return NULL;
	}
	return ac;
}

void fh_acreate_done(struct fh_acreate *ac, int rc, const json_t *grant)
{
	pthread_mutex_lock(&ac->lock);
	if (rc == 0 && (!grant || worker_io_parse_chunk(grant, &ac->c) < 0 ||
			ju_u64_opt(grant, "lease_ms", 60000, &ac->lease_ms) < 0))
		rc = -ENODATA;
	if (rc == 0) {
		fh_grant_rtoken(grant, ac->rtoken);
		ac->behind = json_is_true(json_object_get(grant, "behind"));
	}
	ac->rc = rc;
	ac->done = true;
	pthread_cond_broadcast(&ac->cond);
	pthread_mutex_unlock(&ac->lock);
	ac_unref(ac);
}

void fh_prefill_locations(struct file_handle *fh, json_t *resp)
{
	if (!resp || !json_object_get(resp, "chunks")) {
		json_decref(resp);
		return;
	}
	pthread_mutex_lock(&fh->lock);
	if (fh_loc_fill(fh, resp, 0) == 0)
		fh_loc_learned(fh, fh->open_seq);
	pthread_mutex_unlock(&fh->lock);
}

/* Run a prefetch job (PF_PENDING: pf and pf_chunk are the job's, read
 * without the handle lock): its window into pf. guess: an open prefetch,
 * whose locations may be stale (worker_io_read_try). */
static int fh_pf_fetch(struct file_handle *fh, bool guess)
{
	if (fh->pf_hole) {
		memset(fh->pf, 0, fh->pf_len);
		return 0;
	}
	uint64_t off = fh->pf_off % FH_CHUNK_SIZE;
	return guess ? worker_io_read_try(fh->t->wio, &fh->pf_chunk, off, fh->pf_len, fh->pf)
		     : worker_io_read(fh->t->wio, &fh->pf_chunk, off, fh->pf_len, fh->pf);
}

/* Handle lock held. The job is over, with rc. */
static void fh_pf_done(struct file_handle *fh, int rc)
{
	fh->pf_rc = rc;
	fh->pf_state = PF_DONE;
	pthread_cond_broadcast(&fh->cond);
}

/* The open prefetch threads: each takes a handle from the queue and runs
 * its prefetch job. */
static void *fh_spec_main(void *arg)
{
	struct fh_table *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->spec_head && !t->spec_stop)
			pthread_cond_wait(&t->spec_cond, &t->lock);
		struct file_handle *fh = t->spec_head;
		if (!fh)
			break;
		t->spec_head = fh->spec_next;
		if (!t->spec_head)
			t->spec_tail = NULL;
		pthread_mutex_unlock(&t->lock);
		int rc = fh_pf_fetch(fh, true);
		pthread_mutex_lock(&fh->lock);
		fh_pf_done(fh, rc);
		pthread_mutex_unlock(&fh->lock);
		fh_unref(fh);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Table lock held. Start the prefetch threads once; false if none runs. */
static bool fh_spec_threads(struct fh_table *t)
{
	while (t->nspec < FH_SPEC_THREADS && !t->spec_stop) {
		if (pthread_create(&t->spec[t->nspec], NULL, fh_spec_main, t) != 0)
			break;
		t->nspec++;
	}
	return t->nspec > 0;
}

bool fh_open_prefetch(struct file_handle *fh)
{
	struct fh_table *t = fh->t;
	struct wio_chunk c;
	uint64_t size = 0;
	pthread_mutex_lock(&t->lock);
	struct ilc_ent *e = *ilc_slot(t, fh->ino);
	if (e && now_ms() - e->at_ms > ILC_MAX_AGE_MS) {
		ilc_remove(t, fh->ino);
		e = NULL;
	}
	bool ok = e && e->has_chunk && e->size > 0 && e->size <= FH_SPEC_MAX;
	if (ok) {
		size = e->size;
		c.chunk_id = e->chunk_id;
		c.version = e->version;
		c.nrep = e->nrep;
		memcpy(c.rep, e->rep, (size_t)e->nrep * sizeof(e->rep[0]));
		memcpy(c.token, e->token, sizeof(e->token));
		ok = fh_spec_threads(t);
	}
	pthread_mutex_unlock(&t->lock);
	if (!ok)
		return false;
	pthread_mutex_lock(&fh->lock);
	if (fh->pf_state != PF_IDLE || (size > fh->pf_cap && !fh_buf_grow(&fh->pf, &fh->pf_cap, size))) {
		pthread_mutex_unlock(&fh->lock);
		return false;
	}
	fh->pf_hole = false;
	fh->pf_chunk = c;
	fh->pf_off = 0;
	fh->pf_len = (size_t)size;
	fh->pf_gen = fh->cache_gen;
	fh->pf_state = PF_PENDING;
	fh->pf_unconfirmed = true;
	pthread_mutex_unlock(&fh->lock);
	pthread_mutex_lock(&t->lock);
	fh->refs++;               /* the job's */
	fh->spec_next = NULL;
	if (t->spec_tail)
		t->spec_tail->spec_next = fh;
	else
		t->spec_head = fh;
	t->spec_tail = fh;
	pthread_cond_signal(&t->spec_cond);
	pthread_mutex_unlock(&t->lock);
	mount_metrics_add(MM_OPEN_PREFETCHES, 1);
	return true;
}

/* Handle lock held: loc is one chunk, c, of a file of size bytes. */
static void fh_loc_one(struct file_handle *fh, const struct wio_chunk *c, uint64_t size)
{
	struct loc_cache *l = &fh->loc;
	memset(l->present, 0, sizeof(l->present));
	l->c[0] = *c;
	l->present[0] = true;
	l->first = 0;
	l->size = size;
	l->fetched_ms = now_ms();
	l->valid = true;
}

void fh_open_trust(struct file_handle *fh)
{
	pthread_mutex_lock(&fh->lock);
	if (fh->pf_state != PF_IDLE && fh->pf_unconfirmed) {
		fh->pf_unconfirmed = false;
		/* and the locations as an open's reply would give them */
		fh_loc_one(fh, &fh->pf_chunk, fh->pf_len);
	}
	pthread_mutex_unlock(&fh->lock);
}

/* Handle lock held. A file this mount made and has written alone since
 * (its one chunk leased here without a break since the create, never
 * truncated, punched or cloned into here) is where its grant says, as
 * large as this mount wrote it: read it there, with the grant's read
 * token, without asking the master (as's and ld's read-modify-write of
 * their output asked /v1/chunks ~9 times per object file of make -j2).
 * False if that does not hold. */
static bool fh_loc_from_grant(struct file_handle *fh, uint64_t index)
{
	bool borrowed;
	uint64_t size;
	if (index != 0 || !fh_table_local_size(fh->t, fh->ino, &size) || size > FH_CHUNK_SIZE)
		return false;
	struct fh_writer *w = fh_writer_of(fh, &borrowed);
	if (!w)
		return false;
	bool ok = false;
	if (!atomic_load(&w->resized)) {
		pthread_mutex_lock(&w->gmu);
		const struct grant *g = fh_grant_find(w, 0);
		ok = w->ngrants == 1 && g && !g->ac && g->sole && g->written && !g->released &&
		     g->rtoken[0] != '\0' && now_ms() < g->renew_at_ms;   /* tokens fresh */
		if (ok) {
			fh_loc_one(fh, &g->c, size);
			memcpy(fh->loc.c[0].token, g->rtoken, sizeof(g->rtoken));
		}
		pthread_mutex_unlock(&w->gmu);
	}
	if (borrowed)
		fh_writer_unref(w);
	if (ok)
		mount_metrics_add(MM_LOCAL_LOCATES, 1);
	return ok;
}

/* Handle lock held. Make sure loc covers index (refetching if stale or if
 * force). *ret is the chunk or NULL for a hole. */
static int fh_locate(struct file_handle *fh, uint64_t index, bool force,
		     const struct wio_chunk **ret)
{
	struct loc_cache *l = &fh->loc;
	if (fh->queue_first) {
		/* the bytes of the close before this open may still be on
		 * their way to the workers (data behind): there first */
		fh->queue_first = false;
		fh_behind_wait(fh->t, fh->ino);
	}
	if (force || !l->valid || index < l->first || index >= l->first + LOC_BATCH ||
	    now_ms() - l->fetched_ms > LOC_MAX_AGE_MS) {
		int rc = !force && fh_loc_from_grant(fh, index) ? 0 : fh_locate_fetch(fh, index);
		if (rc < 0)
			return rc;
	}
	*ret = l->present[index - l->first] ? &l->c[index - l->first] : NULL;
	return 0;
}

/* Handle lock held. Fill the read-ahead window with len bytes at off
 * (within one chunk), failing over between replicas, then refreshing the
 * locations, and while no copy answers, asking again every
 * FH_NO_COPY_RETRY_MS for up to FH_NO_COPY_WAIT_MS (-EIO after that).
 * When every copy the fresh locations name says it is damaged, -EIO at
 * once: waiting would not mend them. */
static int fh_fetch(struct file_handle *fh, uint64_t off, size_t len)
{
	if (len > fh->ra_cap) {
		char *p = realloc(fh->ra, len);
		if (!p)
			return -ENOMEM;
		fh->ra = p;
		fh->ra_cap = len;
	}
	fh->ra_len = 0;
	uint64_t index = off / FH_CHUNK_SIZE;
	uint64_t in_chunk = off - index * FH_CHUNK_SIZE;
	int rc = -EIO;
	int64_t give_up = now_ms() + FH_NO_COPY_WAIT_MS;
	for (int attempt = 0;; attempt++) {
		const struct wio_chunk *c;
		rc = fh_locate(fh, index, attempt > 0, &c);
		if (rc < 0)
			return rc;
		if (!c) {
			memset(fh->ra, 0, len);
			rc = 0;
			break;
		}
		rc = c->nrep > 0 ? worker_io_read(fh->t->wio, c, in_chunk, len, fh->ra) : -EIO;
		if (rc == 0)
			break;
		if (rc == -EBADMSG && attempt > 0)
			break;  /* the fresh locations' copies are damaged too */
		if (attempt == 0) {
			mount_metrics_add(MM_WORKER_READ_RETRIES, 1);
			log_info("inode %" PRIu64 " chunk %" PRIu64 ": no replica served the read, "
				 "refreshing locations", fh->ino, index);
			continue;
		}
		if (now_ms() >= give_up)
			break;
		/* No copy answers now: its workers are restarting, or the master
		 * restarted and has not heard from them yet (it lists only live
		 * copies). Ask again shortly, up to FH_NO_COPY_WAIT_MS, as a
		 * write waits for a grant. */
		if (attempt == 1)
			log_warn("inode %" PRIu64 " chunk %" PRIu64 ": no live copy answers; "
				 "waiting up to %d s for one", fh->ino, index, FH_NO_COPY_WAIT_MS / 1000);
		struct timespec pause = { 0, FH_NO_COPY_RETRY_MS * 1000000L };
		nanosleep(&pause, NULL);
	}
	if (rc < 0) {
		/* fh->ra holds whatever the last try left there (a worker's
		 * error body): never hand it out */
		fh->loc.valid = false;
		log_err("inode %" PRIu64 ": reading %zu bytes at %" PRIu64 " failed on every replica",
			fh->ino, len, off);
		return -EIO;
	}
	fh->ra_off = off;
	fh->ra_len = len;
	return 0;
}

static void *fh_reader_main(void *arg)
{
	struct file_handle *fh = arg;
	pthread_mutex_lock(&fh->lock);
	for (;;) {
		while (fh->pf_state != PF_PENDING && !fh->stop)
			pthread_cond_wait(&fh->cond, &fh->lock);
		if (fh->pf_state != PF_PENDING)
			break;
		pthread_mutex_unlock(&fh->lock);
		int rc = fh_pf_fetch(fh, false);
		pthread_mutex_lock(&fh->lock);
		fh_pf_done(fh, rc);
	}
	pthread_mutex_unlock(&fh->lock);
	return NULL;
}

/* Handle lock held, pf_state not PF_PENDING. Start fetching len bytes at
 * off (within one chunk) in the background. Failing to start is not an
 * error: the read will simply happen in the foreground. */
static void fh_prefetch_start(struct file_handle *fh, uint64_t off, size_t len)
{
	const struct wio_chunk *c;
	fh->pf_state = PF_IDLE;
	if (fh_locate(fh, off / FH_CHUNK_SIZE, false, &c) < 0)
		return;
	if (len > fh->pf_cap && !fh_buf_grow(&fh->pf, &fh->pf_cap, len))
		return;
	if (!fh->reader_started) {
		if (pthread_create(&fh->reader, NULL, fh_reader_main, fh) != 0)
			return;
		fh->reader_started = true;
	}
	fh->pf_hole = c == NULL;
	if (c)
		fh->pf_chunk = *c;
	fh->pf_off = off;
	fh->pf_len = len;
	fh->pf_gen = fh->cache_gen;
	fh->pf_state = PF_PENDING;
	mount_metrics_add(MM_PREFETCHES, 1);
	pthread_cond_broadcast(&fh->cond);
}

/* Handle lock held. If the prefetch covers p, wait for it and make it the
 * read-ahead window. True if the caller should look at `ra` again: it now
 * covers p, or this thread waited — and while it waited, another reader of
 * the handle (the kernel sends several reads of one file at once) may have
 * taken the prefetch into `ra`. Fetching p in the foreground then would
 * throw that whole window away for one small read. */
static bool fh_prefetch_take(struct file_handle *fh, uint64_t p)
{
	if (fh->pf_state == PF_IDLE || p < fh->pf_off || p >= fh->pf_off + fh->pf_len)
		return false;
	if (fh->pf_state == PF_PENDING) {
		pthread_cond_wait(&fh->cond, &fh->lock);
		return true;
	}
	fh->pf_state = PF_IDLE;
	bool unconfirmed = fh->pf_unconfirmed;
	fh->pf_unconfirmed = false;
	if (fh->pf_rc < 0 || fh->pf_gen != fh->cache_gen || unconfirmed)
		return false;
	mount_metrics_add(MM_PREFETCH_USED, 1);
	char *tmp = fh->ra;
	size_t tmp_cap = fh->ra_cap;
	fh->ra = fh->pf;
	fh->ra_cap = fh->pf_cap;
	fh->pf = tmp;
	fh->pf_cap = tmp_cap;
	fh->ra_off = fh->pf_off;
	fh->ra_len = fh->pf_len;
	return true;
}

/* Handle lock held. Data this mount wrote to the inode and still holds
 * in a write buffer goes to the workers first, as one page cache would
 * show it (two processes sharing a file through different descriptors,
 * e.g. SQLite's -shm). A write error is the reader's only if it reads
 * through a writable handle (as on Linux, where a read returns what the
 * page cache holds and writeback errors go to fsync and close). */
static int fh_read_sync(struct file_handle *fh)
{
	bool borrowed;
	struct fh_writer *w = fh_writer_of(fh, &borrowed);
	if (!w)
		return 0;
	/* a close through a dup of this handle may have left its bytes
	 * behind (fh_data_behind): they reach the workers first */
	fh_behind_wait(fh->t, fh->ino);
	/* The reader finds the bytes on the workers; the size it reads up to
	 * is this mount's own (fh_table_local_size), so the master need not
	 * hear of them before the next flush, fsync or close: as's and ld's
	 * read-modify-write of their output asked for a commit per read
	 * (1,761 commits for 203 files made by make -j2) */
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	uint64_t seen = borrowed ? w->err_seq : fh->err_seen;
	if (w->cur->len > 0 || w->ninflight > 0) {
		fh_flush_out(w);
		rc = w->err_seq != seen ? w->err : 0;
	}
	pthread_mutex_unlock(&w->lock);
	if (borrowed) {
		/* another descriptor's write error is its writers' to see (at
		 * their fsync or close), not this reader's */
		rc = 0;
		fh_writer_unref(w);
	}
	return rc;
}

int fh_read(struct file_handle *fh, uint64_t off, size_t size, bool atime, fh_emit_fn emit,
	    void *arg, struct fh_read_out *out)
{
	int rc = 0;
	size_t done = 0;
	*out = (struct fh_read_out){ .buf = NULL };
	pthread_mutex_lock(&fh->lock);
	if (atime && !fh->atime_done)
		emit = NULL;     /* the first read's atime report goes before its reply */
	rc = fh_read_sync(fh);
	if (rc < 0)
		goto out_unlock;
	uint64_t gen = fh_inode_gen(fh->t, fh->inode);
	if (gen != fh->cache_gen) {
		fh->cache_gen = gen;
		fh->ra_len = 0;
		fh->loc.valid = false;
	}
	const struct wio_chunk *unused;
	rc = fh_locate(fh, off / FH_CHUNK_SIZE, false, &unused);
	if (rc < 0)
		goto out_unlock;
	uint64_t fsize = fh->loc.size;
	if (off + size > fsize && now_ms() - fh->loc.fetched_ms > LOC_SIZE_AGE_MS) {
		rc = fh_locate(fh, off / FH_CHUNK_SIZE, true, &unused);
		if (rc < 0)
			goto out_unlock;
		fsize = fh->loc.size;
	}
	uint64_t local;
	if (fh_table_local_size(fh->t, fh->ino, &local) && local > fsize)
		fsize = local;
	if (off >= fsize)
		goto out_unlock;
	if (size > fsize - off)
		size = (size_t)(fsize - off);
	bool seq = off == fh->last_end || (fh->ra_len > 0 && off == fh->ra_off + fh->ra_len);
	while (done < size) {
		uint64_t p = off + done;
		if (emit && done == 0 && fh->ra_len > 0 && off >= fh->ra_off &&
		    off + size <= fh->ra_off + fh->ra_len) {
			/* all of it in the read-ahead buffer (there already, or
			 * just fetched): straight from there */
			emit(arg, fh->ra + (off - fh->ra_off), size);
			out->emitted = true;
			done = size;
			break;
		}
		if (fh->ra_len > 0 && p >= fh->ra_off && p < fh->ra_off + fh->ra_len) {
			size_t n = min_sz((size_t)(fh->ra_off + fh->ra_len - p), size - done);
			if (!out->buf && !(out->buf = malloc(size))) {
				rc = -ENOMEM;
				break;
			}
			memcpy(out->buf + done, fh->ra + (p - fh->ra_off), n);
			done += n;
			continue;
		}
		if (fh_prefetch_take(fh, p))
			continue;
		if (fh->pf_state == PF_DONE)
			fh->pf_state = PF_IDLE; /* a prefetch for somewhere else */
		size_t want = seq ? FH_RA_WINDOW : FH_RA_MIN;
		if (want < size - done)
			want = size - done;
		uint64_t chunk_end = (p / FH_CHUNK_SIZE + 1) * FH_CHUNK_SIZE;
		want = min_sz(want, (size_t)(chunk_end - p));
		want = min_sz(want, (size_t)(fsize - p));
		mount_metrics_add(MM_WORKER_FETCHES, 1);
		rc = fh_fetch(fh, p, want);
		if (rc < 0)
			break;
	}
	if (done > 0)
		rc = 0;
	if (rc == 0 && atime && !fh->atime_done) {
		fh->atime_done = true;
		out->atime_due = true;
	}
	fh->last_end = off + done;
	if (rc == 0 && seq && fh->ra_len > 0 && fh->pf_state != PF_PENDING) {
		uint64_t next = fh->ra_off + fh->ra_len;
		uint64_t chunk_end = (next / FH_CHUNK_SIZE + 1) * FH_CHUNK_SIZE;
		bool have = fh->pf_state == PF_DONE && fh->pf_off == next;
		if (!have && next < fsize)
			fh_prefetch_start(fh, next,
					  min_sz(min_sz(FH_RA_WINDOW, (size_t)(chunk_end - next)),
						 (size_t)(fsize - next)));
	}
out_unlock:
	pthread_mutex_unlock(&fh->lock);
	if (rc == 0) {
		out->len = done;
	} else {
		free(out->buf);
		out->buf = NULL;
	}
	return rc;
}
