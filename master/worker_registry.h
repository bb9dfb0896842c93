/* worker_registry — the workers the master knows, and which are live.
 *
 * A worker is live while now - last_seen < timeout, where last_seen is the
 * time of its last register call or Kafka status message. Workers loaded
 * from the database at start are known but not live until they are seen. */
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

/* Monotonic clock in milliseconds. */
int64_t wreg_now_ms(void);

#endif
