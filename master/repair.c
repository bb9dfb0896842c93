/* repair — restores goals and collects garbage, in one thread.
 *
 * Owns: the repair thread, its http_client, scan cursors and counters.
 * Each tick (every second, or sooner after repair_kick) it:
 *   1. asks worker_registry which workers went silent (worker_lost events);
 *   2. sends queued deletions to live workers, DELETES_PER_TICK at a time:
 *      one batch while clients are busy (DELETE_BUSY_CALLS calls or more
 *      since the last tick), else batch after batch for at most
 *      DELETE_IDLE_BUDGET_MS;
 *   3. scans the chunk map in batches from where it stopped, dropping
 *      copies above goal and collecting at most `parallel` repairs, then
 *      runs those replications in parallel and records the results; a
 *      chunk copied is scanned again at once (repair_settle), so a copy
 *      it no longer needs (above goal, or leaving a draining worker) goes
 *      at once, not a whole pass later.
 * The rate bound is therefore `parallel` chunk copies per tick, which
 * leaves client I/O usable. Copies on a draining worker keep a chunk safe
 * (not under goal); moving them off is drain.c's work, at its own rate,
 * with repair_copy and repair_settle.
 *
 * Locks: `lock` guards stop, kicked and stats; the thread never holds it
 * while talking to workers or to the database. Waiting is a timed wait on
 * `cond`, never sleep(). */
#include "repair.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "transport_config.h"

#define DELETES_PER_TICK 32   /* one parallel batch */
#define DELETE_BUSY_CALLS 16    /* client calls in a tick that make it busy */
#define DELETE_IDLE_BUDGET_MS 100 /* of an idle 1 s tick */
#define SCAN_BATCH 256
#define SCAN_PER_TICK 4096
#define MAX_PARALLEL 64
#define URL_MAX (2 * WREG_ADDR_MAX + 3 * TOKEN_MAX + 128)

struct repair {
	struct chunk_map *cm;
	struct wreg *reg;
	struct kstatus *ks;
	const struct secret *secret;
	int parallel;
	struct http_client *hc;      /* repair thread only */
	uint64_t scan_cursor;        /* repair thread only */
	int64_t delete_cursor;       /* repair thread only */
	atomic_ullong client_calls;  /* repair_note_client_call */
	unsigned long long seen_calls; /* repair thread only */
	uint64_t pass_undergoal, pass_lost;   /* repair thread only */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, kicked;           /* guarded by lock */
	struct repair_stats stats;   /* guarded by lock */
};

static void stat_add(struct repair *rp, uint64_t *field, int64_t delta)
{
	pthread_mutex_lock(&rp->lock);
	*field = (uint64_t)((int64_t)*field + delta);
	pthread_mutex_unlock(&rp->lock);
}

static void sweep_workers(struct repair *rp)
{
	char lost[64][WORKER_ID_STRLEN + 1];
	int n = wreg_sweep(rp->reg, lost, 64);

	for (int i = 0; i < n; i++) {
		log_warn("worker %s is lost (no status within the timeout)", lost[i]);
		kstatus_event(rp->ks, "worker_lost", json_pack("{s:s}", "worker_id", lost[i]));
	}
}

/* One batch of queued deletions, sent in parallel; returns its size. */
static int run_delete_batch(struct repair *rp)
{
	struct cm_delete_task t[DELETES_PER_TICK];
	struct http_call calls[DELETES_PER_TICK];
	char urls[DELETES_PER_TICK][URL_MAX];
	int n = 0;

	if (cm_delete_fetch(rp->cm, &rp->delete_cursor, t, DELETES_PER_TICK, &n) < 0 || n == 0)
		return 0;
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < n; i++) {
		char id[CHUNK_ID_STRLEN + 1], tok[TOKEN_MAX];
		chunk_id_format(t[i].chunk_id, id);
		token_make(rp->secret, t[i].chunk_id, 0, "d", time(NULL) + CM_TOKEN_TTL_S, tok);
		snprintf(urls[i], URL_MAX, "%s://%s/v1/chunk/%s?token=%s",
			 transport_scheme(), t[i].worker.addr, id, tok);
		calls[i].method = "DELETE";
		calls[i].url = urls[i];
	}
	if (http_client_parallel(rp->hc, calls, n) < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		bool ok = calls[i].err == 0 &&
			  (calls[i].status / 100 == 2 || calls[i].status == 404);
		if (ok && cm_delete_done(rp->cm, t[i].id) == 0)
			stat_add(rp, &rp->stats.deletes_done, 1);
		else if (!ok)
			log_debug("delete of chunk %016llx on %s failed: %s %ld",
				  (unsigned long long)t[i].chunk_id, t[i].worker.worker_id,
				  calls[i].err ? errno_name(calls[i].err) : "HTTP",
				  calls[i].status);
		free(calls[i].out_alloc);
	}
	return n;
}

/* Deletions yield to the clients: while they are busy, one batch a tick
 * (32 chunk copies a second, as MooseFS's soft deletion limit does); when
 * they are quiet, batch after batch for up to DELETE_IDLE_BUDGET_MS. A
 * steady drain while clients work cost them 10-40% on a 2-core box (the
 * workers' unlinks and the master's transactions compete with theirs);
 * what is left goes in the next quiet moment, some 300-600 chunks a
 * second here. */
static void run_deletes(struct repair *rp)
{
	unsigned long long calls = atomic_load(&rp->client_calls);
	bool busy = calls - rp->seen_calls >= DELETE_BUSY_CALLS;
	rp->seen_calls = calls;
	int64_t deadline = wreg_now_ms() + DELETE_IDLE_BUDGET_MS;

	while (run_delete_batch(rp) == DELETES_PER_TICK && !busy && wreg_now_ms() < deadline)
		;
}

int repair_copy(struct http_client *hc, const struct secret *secret,
		const struct cm_repair_task *tasks, int n, bool *ok)
{
	struct http_call calls[MAX_PARALLEL];
	char urls[MAX_PARALLEL][URL_MAX];

	if (n < 0 || n > MAX_PARALLEL)
		return -EINVAL;
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < n; i++) {
		char id[CHUNK_ID_STRLEN + 1], t_src[TOKEN_MAX], t_dst[TOKEN_MAX], src[3 * WREG_ADDR_MAX];
		time_t exp = time(NULL) + CM_TOKEN_TTL_S;
		chunk_id_format(tasks[i].chunk_id, id);
		token_make(secret, tasks[i].chunk_id, tasks[i].version, "r", exp, t_src);
		token_make(secret, tasks[i].chunk_id, tasks[i].version, "p", exp, t_dst);
		if (http_urlencode(tasks[i].source.addr, src, sizeof(src)) < 0)
			snprintf(src, sizeof(src), "%s", tasks[i].source.addr);
		snprintf(urls[i], URL_MAX,
			 "%s://%s/v1/chunk/%s/replicate?version=%u&source=%s"
			 "&source_token=%s&token=%s",
			 transport_scheme(), tasks[i].target.addr, id, tasks[i].version, src, t_src, t_dst);
		calls[i].method = "POST";
		calls[i].url = urls[i];
	}
	int prc = http_client_parallel(hc, calls, n);
	for (int i = 0; i < n; i++) {
		ok[i] = prc == 0 && calls[i].err == 0 && calls[i].status / 100 == 2;
		if (!ok[i])
			log_warn("copy of chunk %016llx from %s onto %s failed: %s %ld %.200s",
				 (unsigned long long)tasks[i].chunk_id, tasks[i].source.worker_id,
				 tasks[i].target.worker_id,
				 calls[i].err ? errno_name(calls[i].err) : prc ? "ENOMEM" : "HTTP",
				 calls[i].status, calls[i].out_alloc ? calls[i].out_alloc : "");
		free(calls[i].out_alloc);
	}
	return 0;
}

static void run_repairs(struct repair *rp, struct cm_repair_task *tasks, int n)
{
	bool ok[MAX_PARALLEL];

	for (int i = 0; i < n; i++)
		log_info("repair: copying chunk %016llx v%u from %s to %s",
			 (unsigned long long)tasks[i].chunk_id, tasks[i].version,
			 tasks[i].source.worker_id, tasks[i].target.worker_id);
	stat_add(rp, &rp->stats.repairs_in_progress, n);
	repair_copy(rp->hc, rp->secret, tasks, n, ok);
	stat_add(rp, &rp->stats.repairs_in_progress, -n);
	for (int i = 0; i < n; i++) {
		int rc = cm_repair_done(rp->cm, &tasks[i], ok[i]);
		if (ok[i] && rc == 0) {
			stat_add(rp, &rp->stats.repairs_done, 1);
			repair_settle(rp, tasks[i].chunk_id);
			json_t *ev = json_object();
			ju_set_chunk_id(ev, "chunk_id", tasks[i].chunk_id);
			json_object_set_new(ev, "version", json_integer(tasks[i].version));
			json_object_set_new(ev, "source", json_string(tasks[i].source.worker_id));
			json_object_set_new(ev, "target", json_string(tasks[i].target.worker_id));
			kstatus_event(rp->ks, "chunk_repaired", ev);
		} else {
			stat_add(rp, &rp->stats.repairs_failed, 1);
		}
	}
}

static void scan_and_repair(struct repair *rp)
{
	struct cm_repair_task tasks[MAX_PARALLEL];
	int ntasks = 0, scanned = 0;

	while (scanned < SCAN_PER_TICK && ntasks < rp->parallel) {
		struct cm_scan_result res;
		int got = 0;
		if (cm_repair_scan(rp->cm, &rp->scan_cursor, SCAN_BATCH, tasks + ntasks,
				   rp->parallel - ntasks, &got, &res) < 0)
			break;
		ntasks += got;
		scanned += res.scanned;
		rp->pass_undergoal += (uint64_t)res.undergoal;
		rp->pass_lost += (uint64_t)res.lost;
		if (res.overgoal_dropped)
			stat_add(rp, &rp->stats.overgoal_dropped, res.overgoal_dropped);
		if (res.wrapped) {
			pthread_mutex_lock(&rp->lock);
			rp->stats.undergoal = rp->pass_undergoal;
			rp->stats.lost = rp->pass_lost;
			rp->stats.passes++;
			pthread_mutex_unlock(&rp->lock);
			rp->pass_undergoal = rp->pass_lost = 0;
			break;
		}
	}
	if (ntasks)
		run_repairs(rp, tasks, ntasks);
}

/* Wait for a kick, the stop flag or one second. Returns false to stop. */
static bool wait_tick(struct repair *rp)
{
	struct timespec ts;
	bool go;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_mutex_lock(&rp->lock);
	while (!rp->stop && !rp->kicked) {
		if (pthread_cond_timedwait(&rp->cond, &rp->lock, &ts) == ETIMEDOUT)
			break;
	}
	rp->kicked = false;
	go = !rp->stop;
	pthread_mutex_unlock(&rp->lock);
	return go;
}

static void *repair_main(void *arg)
{
	struct repair *rp = arg;

	while (wait_tick(rp)) {
		sweep_workers(rp);
		run_deletes(rp);
		scan_and_repair(rp);
	}
	return NULL;
}

int repair_start(struct chunk_map *cm, struct wreg *reg, struct kstatus *ks,
		 const struct secret *secret, int parallel, struct repair **ret)
{
	struct repair *rp = calloc(1, sizeof(*rp));
	int rc;

	if (!rp)
		return -ENOMEM;
	rp->cm = cm;
	rp->reg = reg;
	rp->ks = ks;
	rp->secret = secret;
	rp->parallel = parallel < 1 ? 1 : parallel > MAX_PARALLEL ? MAX_PARALLEL : parallel;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_cond_init(&rp->cond, NULL);
	rp->hc = http_client_new(30000, 3000);
	if (!rp->hc) {
		repair_stop(rp);
		return -ENOMEM;
	}
	rc = -pthread_create(&rp->thread, NULL, repair_main, rp);
	if (rc < 0) {
		repair_stop(rp);
		return rc;
	}
	rp->started = true;
	*ret = rp;
	return 0;
}

void repair_kick(struct repair *rp)
{
	pthread_mutex_lock(&rp->lock);
	rp->kicked = true;
	pthread_cond_signal(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
}

void repair_note_client_call(struct repair *rp)
{
	if (rp)
		atomic_fetch_add_explicit(&rp->client_calls, 1, memory_order_relaxed);
}

void repair_get_stats(struct repair *rp, struct repair_stats *ret)
{
	pthread_mutex_lock(&rp->lock);
	*ret = rp->stats;
	pthread_mutex_unlock(&rp->lock);
}

int repair_settle(struct repair *rp, uint64_t chunk_id)
{
	struct cm_repair_task none;
	struct cm_scan_result res;
	uint64_t cursor = chunk_id - 1;
	int ntasks = 0;

	if (chunk_id == 0)
		return -EINVAL;
	int rc = cm_repair_scan(rp->cm, &cursor, 1, &none, 0, &ntasks, &res);
	if (rc < 0)
		return rc;
	if (res.overgoal_dropped)
		stat_add(rp, &rp->stats.overgoal_dropped, res.overgoal_dropped);
	return res.overgoal_dropped;
}

void repair_stop(struct repair *rp)
{
	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->stop = true;
	pthread_cond_signal(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
	if (rp->started)
		pthread_join(rp->thread, NULL);
	http_client_free(rp->hc);
	pthread_cond_destroy(&rp->cond);
	pthread_mutex_destroy(&rp->lock);
	free(rp);
}
