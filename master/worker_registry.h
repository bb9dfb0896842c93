/* worker_registry — the workers the master knows, which are live, and
 * which are being emptied.
 *
 * A worker is live while now - last_seen < timeout, where last_seen is the
 * time of its last register call or Kafka status message. Workers loaded
 * from the database at start are known but not live until they are seen.
 *
 * Leaving replicas: a draining worker's replicas (wreg_set_draining), and
 * single (chunk, worker) pairs a rebalance move marks, still serve reads
 * but no longer count toward their chunk's goal: the repair scan copies
 * them elsewhere first, then drops them (chunk_map.c cm_repair_scan). The
 * flag itself lives here only in memory; master/drain.c keeps the
 * persistent record and sets it at start. */
#ifndef BIGFS_MASTER_WORKER_REGISTRY_H
#define BIGFS_MASTER_WORKER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"

#define WREG_ADDR_MAX 128   /* "HOST:PORT" incl. the NUL */

struct wreg;

struct wreg_info {
	char id[WORKER_ID_STRLEN + 1];
	char addr[WREG_ADDR_MAX];
	uint64_t capacity;
	uint64_t used;
	uint64_t chunks;        /* from the last status, 0 if none */
	uint64_t inflight;      /* load from the last status */
	int64_t last_seen_ms;   /* monotonic ms, 0 = never seen since start */
	bool live;
	bool draining;          /* no new chunks; its replicas are leaving */
};

/* timeout_ms: silence after which a worker is no longer live. */
int wreg_new(int64_t timeout_ms, struct wreg **ret);
void wreg_free(struct wreg *r);

/* True if addr is a plausible "HOST:PORT" (length, charset, port). */
bool wreg_addr_valid(const char *addr);

/* A worker known from the database: added (or updated) without being
 * marked seen. 0 or -ENOMEM. */
int wreg_add_known(struct wreg *r, const char *id, const char *addr,
		   uint64_t capacity, uint64_t used);

/* A sign of life (register or status). chunks/inflight < 0: unknown, keep.
 * Returns 1 if the worker was not live before, 0 if it was, or -ENOMEM. */
int wreg_seen(struct wreg *r, const char *id, const char *addr, uint64_t capacity,
	      uint64_t used, int64_t chunks, int64_t inflight);

bool wreg_is_live(struct wreg *r, const char *id);
/* Copy a worker's record; -ENOENT if unknown. */
int wreg_get(struct wreg *r, const char *id, struct wreg_info *ret);

/* Workers known, live or not (registered, or loaded from the database). */
size_t wreg_count(struct wreg *r);
/* malloc'ed copy of all (or only live) workers; *ret may be NULL when
 * *ret_n is 0. 0 or -ENOMEM. */
int wreg_snapshot(struct wreg *r, bool live_only, struct wreg_info **ret,
		  size_t *ret_n);

/* Find workers that went from live to not live since the last sweep; their
 * ids are written to lost[] (at most max). Returns how many. */
int wreg_sweep(struct wreg *r, char (*lost)[WORKER_ID_STRLEN + 1], int max);

/* Mark a known worker draining (or not). -ENOENT if unknown. */
int wreg_set_draining(struct wreg *r, const char *id, bool draining);

/* A rebalance move: the replica of chunk_id on worker_id is leaving (see
 * above) until wreg_unmark_leaving. At most WREG_LEAVING_MAX pairs are
 * marked at once: -ENOSPC beyond, -EEXIST if already marked. */
#define WREG_LEAVING_MAX 256
int wreg_mark_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id);
void wreg_unmark_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id);
/* Is the replica of chunk_id on worker_id leaving: the worker drains, or
 * the pair is marked. Unknown workers are not draining. */
bool wreg_replica_leaving(struct wreg *r, uint64_t chunk_id, const char *worker_id);

/* Monotonic clock in milliseconds. */
int64_t wreg_now_ms(void);

#endif
