/* drain — emptying workers before removal, and rebalancing.
 *
 * What it does. A drain (POST /v1/worker/drain) records the worker in the
 * metadata (a settings row "drain:ID", so a restart and the standby
 * masters keep it) and marks it draining in worker_registry. From then on
 * placement gives it no new chunk while another worker can take one, and
 * its replicas are leaving: they keep their chunks safe and serve reads,
 * but once a chunk has its goal without them they are dropped (chunk_map.c
 * cm_repair_scan). This module's thread moves them: a few chunks at a
 * time, within --drain-mbps, each copied from the draining worker to a
 * worker that stays (placement, by free space), recorded, then dropped
 * there (repair_settle). A draining worker that is down moves nothing: its
 * chunks fall under goal and repair copies them from their other
 * replicas. The thread also measures the progress once a tick (chunks and
 * bytes left, rate, time to go) and says when the drain is done (the
 * master knows no replica on the worker) and the worker removable (done,
 * and a whole repair pass begun after that found no chunk under goal but
 * the lost ones, which no worker holds).
 *
 * Rebalance. The same thread compares the usage (used / capacity, from
 * the workers' status) of the live workers that are not draining. When
 * the fullest and the emptiest differ by more than the margin it starts a
 * run: chunks move from the fullest to the emptiest, a few at a time,
 * within a byte rate (token bucket), each as copy first (the target pulls
 * it, cm_repair_done records it), then drop the source (marked leaving in
 * worker_registry for one repair_settle of that chunk). A run ends when
 * the spread is down to half the margin (hysteresis: no flapping around
 * the margin), or when nothing can move. Usage reports lag a move by a
 * status interval or more (the source's copy goes only when its queued
 * deletion runs), so each move adjusts the usage it plans with until the
 * worker's next report; a new run starts only once every report caught up
 * (a projection that counts a move twice must not start one). Rebalance
 * waits while a drain is running.
 *
 * What it does not: repair chunks under goal (repair.c does, even with a
 * drain running), or forget a drained worker (it stays listed, "drained").
 *
 * Drain of one worker:
 *
 *   (none) --drain_h_drain--> draining (row written, flag set)
 *   draining --tick: no replica left--> drained (done_s written)
 *   drained --tick: a replica came back (placement had no other way)-->
 *        draining
 *   draining|drained --drain_h_undrain--> (none) (row deleted, flag cleared)
 *
 * Threads and locks: HTTP handlers (routes, drain_worker_state, the
 * summary) and the drain thread. `op_lock` serialises the changes of the
 * drain records (handlers, and the thread's done/undone writes) so the
 * database row, the registry flag and the memory record agree; it is
 * taken before meta_store's lock. `lock` guards the records, the
 * rebalance state and `stop`; nothing else is taken while holding it. The
 * thread never holds `lock` across a database call or an HTTP call. */
#include "drain.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_map.h"
#include "http_client.h"
#include "ids.h"
#include "json_util.h"
#include "kafka_status.h"
#include "log.h"
#include "master.h"
#include "meta_store.h"
#include "placement.h"
#include "repair.h"

#define TICK_MS 1000
#define SETTING_PREFIX "drain:"
#define RATE_WINDOW_MS 30000
#define RATE_SAMPLES 40
#define REBAL_PARALLEL 4        /* moves at once */
#define REBAL_ADJ_MAX 256       /* moves whose effect reports may not show yet */
#define REBAL_ADJ_TTL_MS 60000
#define REBAL_REPORT_MS 1000    /* a status that arrives this long after a
				 * change was sent after it */
#define REBAL_RETRY_MS 30000    /* after a run found nothing to move */

struct rate_sample {
	int64_t ms;
	uint64_t moved;
};

struct drain_rec {
	char id[WORKER_ID_STRLEN + 1];
	/* persisted */
	int64_t started_s, done_s;             /* done_s 0: not done */
	uint64_t chunks_at_start, bytes_at_start;
	/* measured by the thread */
	bool measured;
	uint64_t chunks_left, bytes_left;
	double rate_bps;
	struct rate_sample samples[RATE_SAMPLES];
	int nsamples, head;
	uint64_t passes_at_done;               /* repair passes when done was seen */
	bool removable;
	char note[160];
	/* the mover (thread only, under lock like the rest) */
	uint64_t cursor;                       /* last chunk id planned */
	uint64_t moves_failed;
	bool stuck;                            /* a pass found chunks no worker can take */
};

enum rebal_state { RB_OFF, RB_IDLE, RB_RUNNING, RB_PAUSED };

/* A move's effect on a worker's usage that its status may not show yet:
 * until a status arrives after t_ms + REBAL_REPORT_MS. A source's copy
 * leaves its disk only when the queued deletion runs: until the thread
 * sees it gone (pending), t_ms does not count. */
struct rebal_adj {
	char id[WORKER_ID_STRLEN + 1];
	uint64_t chunk_id;
	int64_t delta;
	int64_t t_ms;
	bool pending;
};

struct rebal {
	enum rebal_state state;
	const char *reason;                    /* static text or NULL */
	double spread;
	char fullest[WORKER_ID_STRLEN + 1], emptiest[WORKER_ID_STRLEN + 1];
	double fullest_usage, emptiest_usage;
	uint64_t moved_chunks, moved_bytes, failed;  /* since the master started */
	int64_t run_started_s, run_started_ms;
	uint64_t run_chunks, run_bytes;
	uint64_t runs;
};

struct move {
	struct cm_repair_task t;
	int64_t len;
};

struct drain {
	struct drain_config cfg;
	pthread_mutex_t op_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                             /* lock */
	struct drain_rec *recs;                /* lock */
	size_t nrecs, caprecs;
	struct rebal rb;                       /* lock */
	/* thread only */
	pthread_t thread;
	bool started;
	struct http_client *hc;
	double budget;                         /* bytes the rebalance may move */
	int64_t budget_ms;
	double dbudget;                        /* bytes the drains may move */
	int64_t dbudget_ms;
	int64_t measured_ms;                   /* last tick_drains */
	bool running;                          /* a drain not done, then */
	size_t next_drain;                     /* round robin over the drains */
	uint64_t cursor;                       /* rebalance scan of cursor_src */
	char cursor_src[WORKER_ID_STRLEN + 1];
	int64_t blocked_until_ms;
	struct rebal_adj adj[REBAL_ADJ_MAX];
	int nadj;
};

/* ---- SQL ---------------------------------------------------------------- */

static const char *const SQL_SETTING_PUT =
	"INSERT INTO settings(name, value) VALUES(?1, ?2)"
	" ON CONFLICT(name) DO UPDATE SET value = excluded.value";
static const char *const SQL_SETTING_DEL =
	"DELETE FROM settings WHERE name = ?1";
static const char *const SQL_SETTINGS_DRAINS =
	"SELECT name, value FROM settings WHERE name >= 'drain:' AND name < 'drain;'";
/* Chunks the master records on worker ?1 and their bytes (a chunk's
 * length from its file's size; one row per chunk however many slots name
 * it). */
static const char *const SQL_WORKER_LOAD =
	"SELECT count(*), COALESCE(SUM(len), 0) FROM (SELECT r.chunk_id,"
	" MAX(MIN(?2, MAX(0, COALESCE(i.size, 0) - COALESCE(c.idx, 0) * ?2))) AS len"
	" FROM replicas r LEFT JOIN chunks c ON c.chunk_id = r.chunk_id"
	" LEFT JOIN inodes i ON i.ino = c.ino WHERE r.worker_id = ?1 GROUP BY r.chunk_id)";
/* Chunks a rebalance may move from ?1 to ?3: a current copy on ?1, none
 * (nor a queued deletion) on ?3, not being written, not empty. */
static const char *const SQL_MOVABLE =
	"SELECT r.chunk_id, MAX(c.version),"
	" MAX(MIN(?5, MAX(0, i.size - c.idx * ?5))) AS len"
	" FROM replicas r JOIN chunks c ON c.chunk_id = r.chunk_id"
	" JOIN inodes i ON i.ino = c.ino"
	" WHERE r.worker_id = ?1 AND r.chunk_id > ?2 AND r.version = c.version"
	" AND NOT EXISTS (SELECT 1 FROM replicas t WHERE t.chunk_id = r.chunk_id"
	"  AND t.worker_id = ?3)"
	" AND NOT EXISTS (SELECT 1 FROM pending_deletes p WHERE p.chunk_id = r.chunk_id"
	"  AND p.worker_id = ?3)"
	" GROUP BY r.chunk_id"
	" HAVING MAX(c.lease_session IS NOT NULL AND c.lease_expiry_ms > ?4) = 0 AND len > 0"
	" ORDER BY r.chunk_id LIMIT ?6";

/* Chunks to move off draining worker ?1: a current copy there, not being
 * written. */
static const char *const SQL_DRAIN_MOVABLE =
	"SELECT r.chunk_id, MAX(c.version),"
	" MAX(MIN(?4, MAX(0, i.size - c.idx * ?4))) AS len"
	" FROM replicas r JOIN chunks c ON c.chunk_id = r.chunk_id"
	" JOIN inodes i ON i.ino = c.ino"
	" WHERE r.worker_id = ?1 AND r.chunk_id > ?2 AND r.version = c.version"
	" GROUP BY r.chunk_id"
	" HAVING MAX(c.lease_session IS NOT NULL AND c.lease_expiry_ms > ?3) = 0"
	" ORDER BY r.chunk_id LIMIT ?5";
/* Workers with a copy of ?1, or one queued for deletion. */
static const char *const SQL_HOLDERS =
	"SELECT worker_id FROM replicas WHERE chunk_id = ?1"
	" UNION SELECT worker_id FROM pending_deletes WHERE chunk_id = ?1";
/* Is the copy of ?1 on ?2 still queued for deletion? */
static const char *const SQL_PENDING_PAIR =
	"SELECT 1 FROM pending_deletes WHERE chunk_id = ?1 AND worker_id = ?2";

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
	return wreg_now_ms();
}

static void setting_name(const char *id, char *out, size_t cap)
{
	snprintf(out, cap, SETTING_PREFIX "%s", id);
}

static struct drain_rec *rec_find_locked(struct drain *d, const char *id)
{
	for (size_t i = 0; i < d->nrecs; i++)
		if (strcmp(d->recs[i].id, id) == 0)
			return &d->recs[i];
	return NULL;
}

/* A new zeroed record for id (or the existing one). NULL on ENOMEM. */
static struct drain_rec *rec_add_locked(struct drain *d, const char *id)
{
	struct drain_rec *r = rec_find_locked(d, id);

	if (r)
		return r;
	if (d->nrecs == d->caprecs) {
		size_t ncap = d->caprecs ? d->caprecs * 2 : 8;
		struct drain_rec *nr = realloc(d->recs, ncap * sizeof(*nr));
		if (!nr)
			return NULL;
		d->recs = nr;
		d->caprecs = ncap;
	}
	r = &d->recs[d->nrecs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	return r;
}

static void rec_del_locked(struct drain *d, const char *id)
{
	struct drain_rec *r = rec_find_locked(d, id);

	if (r)
		*r = d->recs[--d->nrecs];
}

/* The persisted part of a record, as the settings value. */
static char *rec_value(const struct drain_rec *r)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "started_s", (json_int_t)r->started_s,
			      "done_s", (json_int_t)r->done_s, "chunks",
			      (json_int_t)r->chunks_at_start, "bytes", (json_int_t)r->bytes_at_start);
	char *s = o ? ju_dump(o, NULL) : NULL;

	json_decref(o);
	return s;
}

/* Parse a settings value into r; -EINVAL for one this module did not
 * write. */
static int rec_parse(const char *value, struct drain_rec *r)
{
	json_t *o = ju_parse_object(value, strlen(value));
	uint64_t started, done, chunks, bytes;
	int rc = -EINVAL;

	if (o && ju_u64(o, "started_s", &started) == 0 && ju_u64_opt(o, "done_s", 0, &done) == 0 &&
	    ju_u64_opt(o, "chunks", 0, &chunks) == 0 && ju_u64_opt(o, "bytes", 0, &bytes) == 0 &&
	    started <= INT64_MAX && done <= INT64_MAX) {
		r->started_s = (int64_t)started;
		r->done_s = (int64_t)done;
		r->chunks_at_start = chunks;
		r->bytes_at_start = bytes;
		rc = 0;
	}
	json_decref(o);
	return rc;
}

/* Inside a txn: the chunks recorded on worker id and their bytes. */
static int worker_load_locked(struct meta_store *ms, const char *id, uint64_t *ret_chunks,
			      uint64_t *ret_bytes)
{
	sqlite3_stmt *st = meta_stmt(ms, SQL_WORKER_LOAD);
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)CM_CHUNK_SIZE);
	rc = meta_step(ms, st);
	if (rc == SQLITE_ROW) {
		*ret_chunks = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = rc < 0 ? rc : -EIO;
	}
	sqlite3_reset(st);
	return rc;
}

static int worker_load(struct meta_store *ms, const char *id, uint64_t *ret_chunks,
		       uint64_t *ret_bytes)
{
	int rc = meta_txn_begin(ms, false);

	if (rc < 0)
		return rc;
	rc = worker_load_locked(ms, id, ret_chunks, ret_bytes);
	return meta_txn_end(ms, rc);
}

/* Write (value != NULL) or delete the settings row of worker id, in its
 * own transaction. */
static int setting_write(struct meta_store *ms, const char *id, const char *value)
{
	char name[sizeof(SETTING_PREFIX) + WORKER_ID_STRLEN];
	int rc = meta_txn_begin(ms, true);

	if (rc < 0)
		return rc;
	setting_name(id, name, sizeof(name));
	sqlite3_stmt *st = meta_stmt(ms, value ? SQL_SETTING_PUT : SQL_SETTING_DEL);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(ms, st);
	return meta_txn_end(ms, rc);
}

static void event(struct drain *d, const char *type, json_t *fields)
{
	kstatus_event(d->cfg.ks, type, fields);
}

/* ---- what a drain looks like -------------------------------------------- */

/* Under lock. */
static json_t *rec_json_locked(const struct drain_rec *r)
{
	bool done = r->done_s != 0;
	uint64_t moved = r->bytes_at_start > r->bytes_left ? r->bytes_at_start - r->bytes_left : 0;
	json_t *eta;

	if (done)
		eta = json_integer(0);
	else if (r->rate_bps >= 1.0 && r->measured)
		eta = json_integer((json_int_t)ceil((double)r->bytes_left / r->rate_bps));
	else
		eta = json_null();
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:b, s:b, s:s*}",
			 "chunks_left", (json_int_t)r->chunks_left,
			 "bytes_left", (json_int_t)r->bytes_left,
			 "bytes_moved", (json_int_t)moved,
			 "chunks_at_start", (json_int_t)r->chunks_at_start,
			 "bytes_at_start", (json_int_t)r->bytes_at_start,
			 "rate_bps", (json_int_t)llround(r->rate_bps),
			 "started_s", (json_int_t)r->started_s,
			 "eta_s", eta,
			 "elapsed_s", (json_int_t)((done ? r->done_s : (int64_t)time(NULL)) - r->started_s),
			 "done_s", done ? json_integer(r->done_s) : json_null(),
			 "done", done, "removable", r->removable,
			 "note", r->note[0] ? r->note : NULL);
}

const char *drain_worker_state(struct drain *d, const struct wreg_info *w, json_t **ret_drain)
{
	const char *state = w->live ? "live" : "down";

	if (ret_drain)
		*ret_drain = NULL;
	if (!d)
		return state;
	pthread_mutex_lock(&d->lock);
	struct drain_rec *r = rec_find_locked(d, w->id);
	if (r) {
		state = r->done_s ? "drained" : "draining";
		if (ret_drain)
			*ret_drain = rec_json_locked(r);
	}
	pthread_mutex_unlock(&d->lock);
	return state;
}

/* {"worker_id", "addr", "live", "state", "drain"} of a known worker. */
static json_t *worker_json(struct drain *d, const struct wreg_info *w)
{
	json_t *dj;
	const char *state = drain_worker_state(d, w, &dj);
	json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "worker_id", w->id, "addr", w->addr,
			      "live", w->live, "state", state);

	if (o && dj)
		json_object_set_new(o, "drain", dj);
	else
		json_decref(dj);
	return o;
}

static const char *const rb_state_names[] = {
	[RB_OFF] = "off", [RB_IDLE] = "idle", [RB_RUNNING] = "running", [RB_PAUSED] = "paused",
};

static json_t *rebal_json(struct drain *d)
{
	pthread_mutex_lock(&d->lock);
	const struct rebal *rb = &d->rb;
	json_t *run = json_null();
	if (rb->state == RB_RUNNING)
		run = json_pack("{s:I, s:I, s:I}", "started_s", (json_int_t)rb->run_started_s,
				"moved_chunks", (json_int_t)rb->run_chunks, "moved_bytes",
				(json_int_t)rb->run_bytes);
	json_t *o = json_pack(
		"{s:s, s:s*, s:f, s:I, s:f, s:s*, s:f, s:s*, s:f, s:I, s:I, s:I, s:I, s:o}",
		"state", rb_state_names[rb->state], "reason", rb->reason,
		"margin", d->cfg.rebalance_margin, "rate_limit_bps",
		(json_int_t)d->cfg.rebalance_bps, "spread", rb->spread,
		"fullest", rb->fullest[0] ? rb->fullest : NULL, "fullest_usage", rb->fullest_usage,
		"emptiest", rb->emptiest[0] ? rb->emptiest : NULL, "emptiest_usage",
		rb->emptiest_usage, "moved_chunks", (json_int_t)rb->moved_chunks, "moved_bytes",
		(json_int_t)rb->moved_bytes, "failed", (json_int_t)rb->failed, "runs",
		(json_int_t)rb->runs, "run", run);
	pthread_mutex_unlock(&d->lock);
	return o;
}

/* Every draining or drained worker, as worker_json. */
static json_t *drains_json(struct drain *d)
{
	struct wreg_info *ws = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	if (!arr || wreg_snapshot(d->cfg.reg, false, &ws, &n) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&d->lock);
		bool has = rec_find_locked(d, ws[i].id) != NULL;
		pthread_mutex_unlock(&d->lock);
		if (has)
			json_array_append_new(arr, worker_json(d, &ws[i]));
	}
	free(ws);
	return arr;
}

json_t *drain_summary_json(struct master *m)
{
	struct drain *d = m ? m->drain : NULL;

	if (!d)
		return json_pack("{s:n, s:[]}", "rebalance", "drains");
	json_t *drains = drains_json(d);
	if (!drains)
		return NULL;
	return json_pack("{s:o, s:o}", "rebalance", rebal_json(d), "drains", drains);
}

/* ---- the drain thread: progress ------------------------------------------ */

/* Live workers that stay, other than id. */
static size_t others_staying(struct drain *d, const char *id)
{
	struct wreg_info *ws;
	size_t n, k = 0;

	if (wreg_snapshot(d->cfg.reg, true, &ws, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!ws[i].draining && strcmp(ws[i].id, id) != 0)
			k++;
	free(ws);
	return k;
}

static void rate_update(struct drain_rec *r, int64_t ms, uint64_t moved)
{
	r->samples[r->head] = (struct rate_sample){ ms, moved };
	r->head = (r->head + 1) % RATE_SAMPLES;
	if (r->nsamples < RATE_SAMPLES)
		r->nsamples++;
	/* the oldest sample within the window */
	const struct rate_sample *old = NULL;
	for (int i = 0; i < r->nsamples; i++) {
		const struct rate_sample *s = &r->samples[(r->head - r->nsamples + i + RATE_SAMPLES) %
							  RATE_SAMPLES];
		if (ms - s->ms <= RATE_WINDOW_MS) {
			old = s;
			break;
		}
	}
	if (old && ms - old->ms >= 2000)
		r->rate_bps = moved >= old->moved
			? (double)(moved - old->moved) * 1000.0 / (double)(ms - old->ms) : 0;
}

/* One drain: measure it; done and undone are written to the metadata. */
static void tick_one(struct drain *d, const char *id, const struct repair_stats *rs)
{
	uint64_t chunks, bytes;
	struct wreg_info wi;
	int rc = worker_load(d->cfg.ms, id, &chunks, &bytes);

	if (rc < 0) {
		log_warn("drain of %s: cannot read its chunks: %s", id, strerror(-rc));
		return;
	}
	bool live = wreg_get(d->cfg.reg, id, &wi) == 0 && wi.live;
	size_t others = others_staying(d, id);

	pthread_mutex_lock(&d->op_lock);
	pthread_mutex_lock(&d->lock);
	struct drain_rec *r = rec_find_locked(d, id);
	if (!r) {
		/* undrained meanwhile */
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_unlock(&d->op_lock);
		return;
	}
	int64_t ms = now_ms();
	bool was_done = r->done_s != 0;
	r->chunks_left = chunks;
	r->bytes_left = bytes;
	r->measured = true;
	rate_update(r, ms, r->bytes_at_start > bytes ? r->bytes_at_start - bytes : 0);
	bool done = chunks == 0;
	if (done && !was_done) {
		r->done_s = time(NULL);
		r->passes_at_done = rs->passes;
	} else if (!done && was_done) {
		r->done_s = 0;
	}
	/* removable: a whole repair pass, begun after the drain was done,
	 * found every chunk that has a live copy at goal */
	r->removable = done && rs->passes >= r->passes_at_done + 2 &&
		       rs->undergoal == rs->lost;
	if (!done && r->stuck)
		snprintf(r->note, sizeof(r->note),
			 "some chunks have nowhere to go: every other live worker that stays holds "
			 "a copy (add a worker, or lower their goal)");
	else if (!done && others < d->cfg.default_goal)
		snprintf(r->note, sizeof(r->note),
			 "only %zu other live worker%s that stay%s: chunks with goal %u cannot all "
			 "move (add workers, or lower the goal)", others, others == 1 ? "" : "s",
			 others == 1 ? "s" : "", d->cfg.default_goal);
	else if (!done && !live)
		snprintf(r->note, sizeof(r->note),
			 "the worker is down: its chunks are copied from their other replicas");
	else if (done && !r->removable)
		snprintf(r->note, sizeof(r->note),
			 "empty; waiting for a repair pass to find every chunk at goal");
	else
		r->note[0] = '\0';
	struct drain_rec copy = *r;
	pthread_mutex_unlock(&d->lock);

	if (done != was_done) {
		char *value = rec_value(&copy);
		rc = value ? setting_write(d->cfg.ms, id, value) : -ENOMEM;
		free(value);
		if (rc < 0)
			log_warn("drain of %s: cannot record its state: %s", id, strerror(-rc));
	}
	pthread_mutex_unlock(&d->op_lock);

	if (done && !was_done) {
		log_info("drain of worker %s done: %llu chunks (%llu bytes) moved in %lld s", id,
			 (unsigned long long)copy.chunks_at_start,
			 (unsigned long long)copy.bytes_at_start,
			 (long long)(copy.done_s - copy.started_s));
		event(d, "worker_drain_done",
		      json_pack("{s:s, s:I, s:I, s:I}", "worker_id", id, "chunks",
				(json_int_t)copy.chunks_at_start, "bytes",
				(json_int_t)copy.bytes_at_start, "seconds",
				(json_int_t)(copy.done_s - copy.started_s)));
	} else if (!done && was_done) {
		log_warn("drained worker %s holds %llu chunks again (no other worker could take "
			 "them): draining again", id, (unsigned long long)chunks);
	}
}

/* Measure every drain (once a tick: each is an SQL pass over the worker's
 * replicas); true if one is still running (not done). */
static bool tick_drains(struct drain *d)
{
	char (*ids)[WORKER_ID_STRLEN + 1] = NULL;
	size_t n = 0;
	struct repair_stats rs;
	bool running = false;
	int64_t ms = now_ms();

	if (d->measured_ms && ms - d->measured_ms < TICK_MS)
		return d->running;
	d->measured_ms = ms;
	pthread_mutex_lock(&d->lock);
	if (d->nrecs) {
		ids = malloc(d->nrecs * sizeof(*ids));
		for (size_t i = 0; ids && i < d->nrecs; i++)
			memcpy(ids[n++], d->recs[i].id, sizeof(ids[0]));
	}
	pthread_mutex_unlock(&d->lock);
	repair_get_stats(d->cfg.rep, &rs);
	for (size_t i = 0; i < n; i++)
		tick_one(d, ids[i], &rs);
	free(ids);
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nrecs; i++)
		running |= d->recs[i].done_s == 0;
	pthread_mutex_unlock(&d->lock);
	d->running = running;
	return running;
}

/* ---- the drain thread: rebalance ----------------------------------------- */

static void rb_set(struct drain *d, enum rebal_state st, const char *reason)
{
	pthread_mutex_lock(&d->lock);
	d->rb.state = st;
	d->rb.reason = reason;
	pthread_mutex_unlock(&d->lock);
}

/* Usage of w as planned: its report plus the moves it may not show yet. */
static double usage_of(struct drain *d, const struct wreg_info *w)
{
	int64_t used = (int64_t)(w->used > INT64_MAX ? INT64_MAX : w->used);

	for (int i = 0; i < d->nadj; i++)
		if (strcmp(d->adj[i].id, w->id) == 0)
			used += d->adj[i].delta;
	if (used < 0)
		used = 0;
	return (double)used / (double)w->capacity;
}

/* Forget the adjustments the workers' reports cover now. */
static void adj_prune(struct drain *d, const struct wreg_info *ws, size_t n, int64_t ms)
{
	int k = 0;
	bool txn = false;

	for (int i = 0; i < d->nadj; i++) {
		struct rebal_adj *a = &d->adj[i];
		if (a->pending) {
			if (!txn && meta_txn_begin(d->cfg.ms, false) == 0)
				txn = true;
			if (txn) {
				sqlite3_stmt *st = meta_stmt(d->cfg.ms, SQL_PENDING_PAIR);
				sqlite3_bind_int64(st, 1, (int64_t)a->chunk_id);
				sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
				if (meta_step(d->cfg.ms, st) == SQLITE_DONE) {
					a->pending = false;   /* deleted: from now on */
					a->t_ms = ms;
				}
				sqlite3_reset(st);
			}
		}
		bool keep = ms - a->t_ms < REBAL_ADJ_TTL_MS;
		for (size_t j = 0; keep && !a->pending && j < n; j++)
			if (strcmp(ws[j].id, a->id) == 0 &&
			    ws[j].last_seen_ms >= a->t_ms + REBAL_REPORT_MS)
				keep = false;   /* its report covers the move now */
		if (keep)
			d->adj[k++] = *a;
	}
	if (txn)
		meta_txn_end(d->cfg.ms, 0);
	d->nadj = k;
}

static void adj_add(struct drain *d, const char *id, uint64_t chunk_id, int64_t delta,
		    int64_t ms, bool pending)
{
	if (d->nadj == REBAL_ADJ_MAX) {
		memmove(&d->adj[0], &d->adj[1], (REBAL_ADJ_MAX - 1) * sizeof(d->adj[0]));
		d->nadj--;
	}
	struct rebal_adj *a = &d->adj[d->nadj++];
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->chunk_id = chunk_id;
	a->delta = delta;
	a->t_ms = ms;
	a->pending = pending;
}

/* Up to max movable chunks from src to dst after d->cursor. */
static int movable(struct drain *d, const struct wreg_info *src, const struct wreg_info *dst,
		   struct move *out, int max, int *ret_n)
{
	int n = 0, rc = meta_txn_begin(d->cfg.ms, false);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(d->cfg.ms, SQL_MOVABLE);
	sqlite3_bind_text(st, 1, src->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)d->cursor);
	sqlite3_bind_text(st, 3, dst->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, cm_wall_ms());
	sqlite3_bind_int64(st, 5, (int64_t)CM_CHUNK_SIZE);
	sqlite3_bind_int64(st, 6, max);
	while ((rc = meta_step(d->cfg.ms, st)) == SQLITE_ROW && n < max) {
		struct move *mv = &out[n++];
		memset(mv, 0, sizeof(*mv));
		mv->t.chunk_id = (uint64_t)sqlite3_column_int64(st, 0);
		mv->t.version = (uint32_t)sqlite3_column_int64(st, 1);
		mv->len = sqlite3_column_int64(st, 2);
		memcpy(mv->t.source.worker_id, src->id, sizeof(src->id));
		memcpy(mv->t.source.addr, src->addr, sizeof(src->addr));
		memcpy(mv->t.target.worker_id, dst->id, sizeof(dst->id));
		memcpy(mv->t.target.addr, dst->addr, sizeof(dst->addr));
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (rc < 0 ? rc : -EIO);
	rc = meta_txn_end(d->cfg.ms, rc);
	if (rc == 0)
		*ret_n = n;
	return rc;
}

/* Copy, record, then drop the source: a move never lowers a chunk's
 * copies below what it had. A rebalance move marks its source leaving for
 * the one scan that drops it; a drain's source is leaving already.
 * Returns the bytes moved. */
static uint64_t run_moves(struct drain *d, struct move *mv, int n, bool rebalance)
{
	struct cm_repair_task tasks[REBAL_PARALLEL];
	bool ok[REBAL_PARALLEL];
	uint64_t bytes = 0;

	if (n > REBAL_PARALLEL)
		n = REBAL_PARALLEL;
	memset(tasks, 0, sizeof(tasks));
	for (int i = 0; i < n; i++) {
		tasks[i] = mv[i].t;
		log_info("%s: moving chunk %016llx v%u (%lld bytes) from %s to %s",
			 rebalance ? "rebalance" : "drain", (unsigned long long)tasks[i].chunk_id,
			 tasks[i].version, (long long)mv[i].len, tasks[i].source.worker_id,
			 tasks[i].target.worker_id);
	}
	repair_copy(d->hc, d->cfg.secret, tasks, n, ok);
	for (int i = 0; i < n; i++) {
		const struct cm_repair_task *t = &tasks[i];
		int rc = cm_repair_done(d->cfg.cm, t, ok[i]), dropped = 0;
		bool moved = ok[i] && rc == 0;
		if (moved) {
			bool marked = rebalance &&
				      wreg_mark_leaving(d->cfg.reg, t->chunk_id, t->source.worker_id) == 0;
			dropped = repair_settle(d->cfg.rep, t->chunk_id);
			if (marked)
				wreg_unmark_leaving(d->cfg.reg, t->chunk_id, t->source.worker_id);
			bytes += (uint64_t)mv[i].len;
		}
		int64_t ms = now_ms();
		pthread_mutex_lock(&d->lock);
		if (rebalance && moved) {
			d->rb.moved_chunks++;
			d->rb.moved_bytes += (uint64_t)mv[i].len;
			d->rb.run_chunks++;
			d->rb.run_bytes += (uint64_t)mv[i].len;
		} else if (rebalance) {
			d->rb.failed++;
		} else if (!moved) {
			struct drain_rec *r = rec_find_locked(d, t->source.worker_id);
			if (r)
				r->moves_failed++;
		}
		pthread_mutex_unlock(&d->lock);
		if (rebalance && moved) {
			adj_add(d, t->target.worker_id, t->chunk_id, mv[i].len, ms, false);
			if (dropped > 0)
				adj_add(d, t->source.worker_id, t->chunk_id, -mv[i].len, ms, true);
		}
	}
	return bytes;
}

/* ---- the drain thread: moving chunks off draining workers ---------------- */

/* Token bucket of bps: refilled, capped at two seconds' worth; 0 bps is
 * no limit. True if a move may start. */
static bool bucket_take(double *budget, int64_t *last_ms, uint64_t bps, int64_t ms)
{
	if (bps == 0)
		return true;
	*budget += (double)bps * (double)(ms - *last_ms) / 1000.0;
	*last_ms = ms;
	if (*budget > 2.0 * (double)bps)
		*budget = 2.0 * (double)bps;
	return *budget > 0;
}

/* Up to max moves off the live draining worker src (in live[]): chunks
 * after its cursor, each to a worker that stays and holds no copy.
 * *ret_stuck: a chunk no worker could take. Inside no transaction. */
static int drain_plan(struct drain *d, const struct wreg_info *live, size_t nlive,
		      const struct wreg_info *src, uint64_t *cursor, struct move *out, int max,
		      int *ret_n, bool *ret_stuck)
{
	enum { FETCH = 4 * REBAL_PARALLEL };
	struct move cand[FETCH];
	bool *excluded = calloc(nlive ? nlive : 1, sizeof(*excluded));
	int ncand = 0, n = 0, rc;

	*ret_stuck = false;
	if (!excluded)
		return -ENOMEM;
	rc = meta_txn_begin(d->cfg.ms, false);
	if (rc < 0)
		goto out_free;
	sqlite3_stmt *st = meta_stmt(d->cfg.ms, SQL_DRAIN_MOVABLE);
	sqlite3_bind_text(st, 1, src->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)*cursor);
	sqlite3_bind_int64(st, 3, cm_wall_ms());
	sqlite3_bind_int64(st, 4, (int64_t)CM_CHUNK_SIZE);
	sqlite3_bind_int64(st, 5, FETCH);
	while ((rc = meta_step(d->cfg.ms, st)) == SQLITE_ROW && ncand < FETCH) {
		struct move *mv = &cand[ncand++];
		memset(mv, 0, sizeof(*mv));
		mv->t.chunk_id = (uint64_t)sqlite3_column_int64(st, 0);
		mv->t.version = (uint32_t)sqlite3_column_int64(st, 1);
		mv->len = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (rc < 0 ? rc : -EIO);
	for (int i = 0; i < ncand && n < max && rc == 0; i++) {
		struct move *mv = &cand[i];
		for (size_t k = 0; k < nlive; k++)
			excluded[k] = live[k].draining;
		st = meta_stmt(d->cfg.ms, SQL_HOLDERS);
		sqlite3_bind_int64(st, 1, (int64_t)mv->t.chunk_id);
		while ((rc = meta_step(d->cfg.ms, st)) == SQLITE_ROW) {
			const char *w = (const char *)sqlite3_column_text(st, 0);
			for (size_t k = 0; w && k < nlive; k++)
				if (strcmp(live[k].id, w) == 0)
					excluded[k] = true;
		}
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? 0 : (rc < 0 ? rc : -EIO);
		*cursor = mv->t.chunk_id;
		size_t pick;
		if (rc < 0 || placement_pick(live, nlive, excluded, 1, &pick) != 1) {
			*ret_stuck = rc == 0;
			continue;
		}
		memcpy(mv->t.source.worker_id, src->id, sizeof(src->id));
		memcpy(mv->t.source.addr, src->addr, sizeof(src->addr));
		memcpy(mv->t.target.worker_id, live[pick].id, sizeof(live[pick].id));
		memcpy(mv->t.target.addr, live[pick].addr, sizeof(live[pick].addr));
		out[n++] = *mv;
	}
	if (rc == 0 && ncand < FETCH && n == 0)
		*cursor = 0;   /* the end of its chunks: from the start next time */
	rc = meta_txn_end(d->cfg.ms, rc);
	if (rc == 0)
		*ret_n = n;
out_free:
	free(excluded);
	return rc;
}

/* Move a few chunks off the draining workers that are live, one worker
 * after the other. Returns true if it moved any (more may wait); failed
 * copies (a worker that just died) wait for the next tick. */
static bool drain_moves(struct drain *d)
{
	struct wreg_info *live = NULL;
	size_t nlive = 0;
	struct move mv[REBAL_PARALLEL];
	int nmv = 0;
	int64_t ms = now_ms();

	if (!bucket_take(&d->dbudget, &d->dbudget_ms, d->cfg.drain_bps, ms))
		return false;
	if (wreg_snapshot(d->cfg.reg, true, &live, &nlive) < 0)
		return false;
	pthread_mutex_lock(&d->lock);
	size_t nrecs = d->nrecs;
	pthread_mutex_unlock(&d->lock);
	for (size_t k = 0; k < nrecs && nmv < REBAL_PARALLEL; k++) {
		char id[WORKER_ID_STRLEN + 1] = "";
		uint64_t cursor = 0;
		pthread_mutex_lock(&d->lock);
		if (d->nrecs) {
			struct drain_rec *r = &d->recs[(d->next_drain + k) % d->nrecs];
			if (!r->done_s) {
				memcpy(id, r->id, sizeof(id));
				cursor = r->cursor;
			}
		}
		pthread_mutex_unlock(&d->lock);
		const struct wreg_info *src = NULL;
		for (size_t i = 0; *id && i < nlive; i++)
			if (strcmp(live[i].id, id) == 0)
				src = &live[i];
		if (!src)
			continue;   /* done, or down: repair copies from the others */
		int got = 0;
		bool stuck = false;
		int want = REBAL_PARALLEL - nmv;
		if (drain_plan(d, live, nlive, src, &cursor, mv + nmv, want, &got, &stuck) < 0)
			continue;
		/* within the bucket: a move starts while some budget is left */
		int take = 0;
		while (take < got && (d->cfg.drain_bps == 0 || d->dbudget > 0)) {
			d->dbudget -= d->cfg.drain_bps ? (double)mv[nmv + take].len : 0;
			take++;
		}
		if (take < got)   /* planned, not started: planned again later */
			cursor = mv[nmv + take].t.chunk_id - 1;
		nmv += take;
		pthread_mutex_lock(&d->lock);
		struct drain_rec *r = rec_find_locked(d, id);
		if (r) {
			r->cursor = cursor;
			r->stuck = stuck;
		}
		pthread_mutex_unlock(&d->lock);
	}
	d->next_drain++;
	free(live);
	if (nmv == 0)
		return false;
	return run_moves(d, mv, nmv, false) > 0;
}

static int cmp_usage_desc(const void *a, const void *b, void *arg)
{
	const double *u = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return u[x] < u[y] ? 1 : u[x] > u[y] ? -1 : 0;
}

static void run_finished(struct drain *d, bool stuck, double spread)
{
	pthread_mutex_lock(&d->lock);
	uint64_t chunks = d->rb.run_chunks, bytes = d->rb.run_bytes;
	int64_t secs = (now_ms() - d->rb.run_started_ms) / 1000;
	d->rb.state = RB_IDLE;
	d->rb.reason = stuck ? "uneven, but no chunk can move now (retried later)" : NULL;
	pthread_mutex_unlock(&d->lock);
	log_info("rebalance done: %llu chunks, %llu bytes moved in %lld s; usage spread %.3f%s",
		 (unsigned long long)chunks, (unsigned long long)bytes, (long long)secs, spread,
		 stuck ? " (nothing more can move)" : "");
	event(d, "rebalance_done",
	      json_pack("{s:I, s:I, s:I, s:f, s:b}", "moved_chunks", (json_int_t)chunks,
			"moved_bytes", (json_int_t)bytes, "seconds", (json_int_t)secs, "spread",
			spread, "stuck", stuck));
}

static void rebalance_tick(struct drain *d, bool drains_running)
{
	const double margin = d->cfg.rebalance_margin;
	struct wreg_info *ws = NULL;
	size_t n = 0, nc = 0;
	int64_t ms = now_ms();

	if (d->cfg.rebalance_bps == 0) {
		rb_set(d, RB_OFF, "rebalancing is off (--rebalance-mbps 0)");
		return;
	}
	if (wreg_snapshot(d->cfg.reg, true, &ws, &n) < 0)
		return;
	adj_prune(d, ws, n, ms);
	/* candidates: live, staying, with a capacity */
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	double *u = calloc(n ? n : 1, sizeof(*u));
	if (!idx || !u)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		if (ws[i].draining || ws[i].capacity == 0)
			continue;
		u[i] = usage_of(d, &ws[i]);
		idx[nc++] = i;
	}
	qsort_r(idx, nc, sizeof(*idx), cmp_usage_desc, u);
	double spread = nc >= 2 ? u[idx[0]] - u[idx[nc - 1]] : 0;
	pthread_mutex_lock(&d->lock);
	d->rb.spread = spread;
	snprintf(d->rb.fullest, sizeof(d->rb.fullest), "%s", nc ? ws[idx[0]].id : "");
	snprintf(d->rb.emptiest, sizeof(d->rb.emptiest), "%s", nc ? ws[idx[nc - 1]].id : "");
	d->rb.fullest_usage = nc ? u[idx[0]] : 0;
	d->rb.emptiest_usage = nc ? u[idx[nc - 1]] : 0;
	enum rebal_state st = d->rb.state;
	pthread_mutex_unlock(&d->lock);

	if (drains_running) {
		if (st == RB_RUNNING)
			run_finished(d, false, spread);
		rb_set(d, RB_PAUSED, "a drain is running");
		goto out_free;
	}
	if (st != RB_RUNNING) {
		/* a run starts from what the workers report, never from a
		 * projection of moves they may or may not show yet */
		if (nc < 2 || spread <= margin || ms < d->blocked_until_ms || d->nadj > 0) {
			bool blocked = nc >= 2 && spread > margin && d->nadj == 0;
			rb_set(d, RB_IDLE, blocked ? "uneven, but no chunk can move now (retried "
				"later)" : NULL);
			goto out_free;
		}
		pthread_mutex_lock(&d->lock);
		d->rb.state = RB_RUNNING;
		d->rb.reason = NULL;
		d->rb.run_started_ms = ms;
		d->rb.run_started_s = time(NULL);
		d->rb.run_chunks = d->rb.run_bytes = 0;
		d->rb.runs++;
		pthread_mutex_unlock(&d->lock);
		d->budget = 0;
		d->budget_ms = ms;
		log_info("rebalance started: usage %.3f on %s, %.3f on %s (margin %.3f)", u[idx[0]],
			 ws[idx[0]].id, u[idx[nc - 1]], ws[idx[nc - 1]].id, margin);
		event(d, "rebalance_started",
		      json_pack("{s:f, s:f, s:s, s:f, s:s, s:f}", "spread", spread, "margin", margin,
				"fullest", ws[idx[0]].id, "fullest_usage", u[idx[0]], "emptiest",
				ws[idx[nc - 1]].id, "emptiest_usage", u[idx[nc - 1]]));
	} else if (nc < 2 || spread <= margin / 2) {
		run_finished(d, false, spread);
		goto out_free;
	}

	if (!bucket_take(&d->budget, &d->budget_ms, d->cfg.rebalance_bps, ms))
		goto out_free;

	struct move mv[REBAL_PARALLEL];
	int nmv = 0;
	const struct wreg_info *dst = &ws[idx[nc - 1]];
	for (size_t s = 0; s + 1 < nc && nmv < REBAL_PARALLEL && d->budget > 0; s++) {
		const struct wreg_info *src = &ws[idx[s]];
		if (u[idx[s]] - u[idx[nc - 1]] <= margin / 2)
			break;
		if (strcmp(d->cursor_src, src->id) != 0) {
			snprintf(d->cursor_src, sizeof(d->cursor_src), "%s", src->id);
			d->cursor = 0;
		}
		int got = 0;
		if (movable(d, src, dst, mv + nmv, REBAL_PARALLEL - nmv, &got) < 0)
			break;
		if (got == 0 && d->cursor != 0) {
			d->cursor = 0;  /* from the start of its chunks again */
			if (movable(d, src, dst, mv + nmv, REBAL_PARALLEL - nmv, &got) < 0)
				break;
		}
		/* mv[base..base+got) came back; take a prefix of them */
		int base = nmv;
		for (int k = 0; k < got && d->budget > 0; k++) {
			const struct move *c = &mv[base + k];
			double ds = (double)c->len / (double)src->capacity;
			double dd = (double)c->len / (double)dst->capacity;
			/* no move that overshoots: the target ends at most half
			 * the margin above the source */
			if (u[idx[s]] - ds < u[idx[nc - 1]] + dd - margin / 2)
				break;
			d->cursor = c->t.chunk_id;
			u[idx[s]] -= ds;
			u[idx[nc - 1]] += dd;
			d->budget -= (double)c->len;
			nmv = base + k + 1;
		}
	}
	if (nmv == 0) {
		d->blocked_until_ms = ms + REBAL_RETRY_MS;
		run_finished(d, true, spread);
		goto out_free;
	}
	run_moves(d, mv, nmv, true);
out_free:
	free(idx);
	free(u);
	free(ws);
}

/* ---- the thread --------------------------------------------------------- */

/* Wait ms (0: just look at the stop flag). False to stop. */
static bool wait_tick(struct drain *d, int64_t ms)
{
	struct timespec ts;
	bool go;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&d->lock);
	while (!d->stop && ms > 0) {
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
			break;
	}
	go = !d->stop;
	pthread_mutex_unlock(&d->lock);
	return go;
}

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	bool busy = false;

	/* a tick a second; at once again while drains move chunks within
	 * their budget (the copies themselves pace the loop) */
	while (wait_tick(d, busy ? 0 : TICK_MS)) {
		bool running = tick_drains(d);
		busy = running && drain_moves(d);
		rebalance_tick(d, running);
	}
	return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

/* The drains recorded in the metadata, into d and the registry. */
static int load_drains(struct drain *d)
{
	int rc = meta_txn_begin(d->cfg.ms, false);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(d->cfg.ms, SQL_SETTINGS_DRAINS);
	while ((rc = meta_step(d->cfg.ms, st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *value = (const char *)sqlite3_column_text(st, 1);
		const char *id = name ? name + strlen(SETTING_PREFIX) : "";
		struct drain_rec tmp;
		memset(&tmp, 0, sizeof(tmp));
		if (!worker_id_valid(id) || !value || rec_parse(value, &tmp) < 0) {
			log_warn("drain: ignoring the malformed record %s", name ? name : "?");
			continue;
		}
		if (wreg_set_draining(d->cfg.reg, id, true) < 0) {
			/* a worker the registry never knew: keep the record */
			wreg_add_known(d->cfg.reg, id, "", 0, 0);
			wreg_set_draining(d->cfg.reg, id, true);
		}
		pthread_mutex_lock(&d->lock);
		struct drain_rec *r = rec_add_locked(d, id);
		if (r) {
			r->started_s = tmp.started_s;
			r->done_s = tmp.done_s;
			r->chunks_at_start = tmp.chunks_at_start;
			r->bytes_at_start = tmp.bytes_at_start;
		}
		pthread_mutex_unlock(&d->lock);
		if (!r) {
			rc = -ENOMEM;
			break;
		}
		log_info("worker %s %s (since %lld)", id, tmp.done_s ? "is drained" : "drains",
			 (long long)tmp.started_s);
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : (rc < 0 ? rc : -EIO);
	return meta_txn_end(d->cfg.ms, rc);
}

int drain_start(const struct drain_config *cfg, struct drain **ret)
{
	struct drain *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	if (!(d->cfg.rebalance_margin > 0 && d->cfg.rebalance_margin < 1))
		d->cfg.rebalance_margin = 0.10;
	d->rb.state = d->cfg.rebalance_bps ? RB_IDLE : RB_OFF;
	d->dbudget_ms = d->budget_ms = now_ms();
	pthread_mutex_init(&d->op_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->hc = http_client_new(120000, 3000);
	rc = d->hc ? load_drains(d) : -ENOMEM;
	if (rc < 0) {
		log_err("cannot load the drains: %s", strerror(-rc));
		drain_stop(d);
		return rc;
	}
	rc = -pthread_create(&d->thread, NULL, drain_main, d);
	if (rc < 0) {
		log_err("cannot start the drain thread: %s", strerror(-rc));
		drain_stop(d);
		return rc;
	}
	d->started = true;
	*ret = d;
	return 0;
}

void drain_stop(struct drain *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->started)
		pthread_join(d->thread, NULL);
	http_client_free(d->hc);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->op_lock);
	free(d->recs);
	free(d);
}

/* ---- routes ------------------------------------------------------------- */

/* The "worker_id" member of the body, checked and known: 0 with *ret_w,
 * or an error reply made and -errno. */
static int body_worker(struct master *m, struct http_request *r, struct wreg_info *ret_w)
{
	json_t *b = http_req_json(r);
	const char *id;
	int rc;

	if (!b)
		return -EINVAL;
	if (ju_str(b, "worker_id", WORKER_ID_STRLEN + 64, &id) < 0 || !worker_id_valid(id)) {
		http_reply_error(r, EINVAL, "member 'worker_id' is missing or is not a worker id "
				 "(16 lowercase hex digits, as GET /v1/cluster/workers lists them)");
		rc = -EINVAL;
	} else if ((rc = wreg_get(m->reg, id, ret_w)) < 0) {
		http_reply_error(r, ENOENT, "worker %s is not known to this master "
				 "(GET /v1/cluster/workers lists the known ones)", id);
	}
	json_decref(b);
	return rc;
}

static bool serving_drains(struct master *m, struct http_request *r)
{
	if (m->drain)
		return true;
	api_reply_err(r, -EAGAIN, "drains");
	return false;
}

void drain_h_drain(struct master *m, struct http_request *r)
{
	struct drain *d = m->drain;
	struct wreg_info w;
	uint64_t chunks = 0, bytes = 0;
	bool already = false;
	char name[sizeof(SETTING_PREFIX) + WORKER_ID_STRLEN];
	int rc;

	if (!serving_drains(m, r) || body_worker(m, r, &w) < 0)
		return;
	pthread_mutex_lock(&d->op_lock);
	pthread_mutex_lock(&d->lock);
	already = rec_find_locked(d, w.id) != NULL;
	pthread_mutex_unlock(&d->lock);
	if (!already) {
		struct drain_rec nr;
		memset(&nr, 0, sizeof(nr));
		rc = meta_txn_begin(m->ms, true);
		if (rc == 0) {
			rc = worker_load_locked(m->ms, w.id, &chunks, &bytes);
			nr.started_s = time(NULL);
			nr.chunks_at_start = chunks;
			nr.bytes_at_start = bytes;
			char *value = rc == 0 ? rec_value(&nr) : NULL;
			if (rc == 0 && !value)
				rc = -ENOMEM;
			if (rc == 0) {
				setting_name(w.id, name, sizeof(name));
				sqlite3_stmt *st = meta_stmt(m->ms, SQL_SETTING_PUT);
				sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
				rc = meta_exec_stmt(m->ms, st);
			}
			rc = meta_txn_end(m->ms, rc);
			free(value);
		}
		if (rc == 0) {
			pthread_mutex_lock(&d->lock);
			struct drain_rec *rec = rec_add_locked(d, w.id);
			if (rec) {
				*rec = nr;
				snprintf(rec->id, sizeof(rec->id), "%s", w.id);
				rec->chunks_left = chunks;
				rec->bytes_left = bytes;
				rec->measured = true;
			}
			pthread_mutex_unlock(&d->lock);
			if (!rec)
				rc = -ENOMEM;
		}
		if (rc == 0)
			rc = wreg_set_draining(m->reg, w.id, true);
		if (rc < 0) {
			/* the row may be written: the next start loads it; say so */
			pthread_mutex_unlock(&d->op_lock);
			api_reply_err(r, rc, "drain");
			return;
		}
	}
	pthread_mutex_unlock(&d->op_lock);
	if (!already) {
		size_t others = others_staying(d, w.id);
		log_info("worker %s (%s) drains: %llu chunks, %llu bytes to move; %zu other live "
			 "workers", w.id, w.addr, (unsigned long long)chunks,
			 (unsigned long long)bytes, others);
		event(d, "worker_drain_started",
		      json_pack("{s:s, s:s, s:I, s:I}", "worker_id", w.id, "addr", w.addr, "chunks",
				(json_int_t)chunks, "bytes", (json_int_t)bytes));
		repair_kick(m->rep);
	}
	wreg_get(m->reg, w.id, &w);
	json_t *o = worker_json(d, &w);
	json_object_set_new(o, "already", json_boolean(already));
	http_reply_json(r, 200, o);
}

void drain_h_undrain(struct master *m, struct http_request *r)
{
	struct drain *d = m->drain;
	struct wreg_info w;
	struct drain_rec old;
	bool was = false;
	int rc = 0;

	if (!serving_drains(m, r) || body_worker(m, r, &w) < 0)
		return;
	pthread_mutex_lock(&d->op_lock);
	pthread_mutex_lock(&d->lock);
	struct drain_rec *rec = rec_find_locked(d, w.id);
	if (rec) {
		was = true;
		old = *rec;
	}
	pthread_mutex_unlock(&d->lock);
	if (was) {
		rc = setting_write(m->ms, w.id, NULL);
		if (rc == 0) {
			wreg_set_draining(m->reg, w.id, false);
			pthread_mutex_lock(&d->lock);
			rec_del_locked(d, w.id);
			pthread_mutex_unlock(&d->lock);
		}
	}
	pthread_mutex_unlock(&d->op_lock);
	if (rc < 0) {
		api_reply_err(r, rc, "undrain");
		return;
	}
	if (was) {
		log_info("worker %s undrained (%llu chunks were left on it)", w.id,
			 (unsigned long long)old.chunks_left);
		event(d, "worker_undrained",
		      json_pack("{s:s, s:I, s:b}", "worker_id", w.id, "chunks_left",
				(json_int_t)old.chunks_left, "done", old.done_s != 0));
	}
	wreg_get(m->reg, w.id, &w);
	json_t *o = worker_json(d, &w);
	json_object_set_new(o, "was_draining", json_boolean(was));
	http_reply_json(r, 200, o);
}

void drain_h_drains(struct master *m, struct http_request *r)
{
	if (!serving_drains(m, r))
		return;
	json_t *o = drain_summary_json(m);
	if (!o) {
		api_reply_err(r, -ENOMEM, "drains");
		return;
	}
	http_reply_json(r, 200, o);
}
