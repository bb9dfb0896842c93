/* repair — the background thread that keeps chunks at their goal and
 * collects garbage: re-replication of under-goal chunks, dropping copies
 * above goal or leaving (drain, rebalance), sending queued deletions to
 * workers, and noticing workers that went silent. */
#ifndef BIGFS_MASTER_REPAIR_H
#define BIGFS_MASTER_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk_map.h"
#include "kafka_status.h"
#include "token.h"
#include "worker_registry.h"

struct repair;

struct repair_stats {
	uint64_t repairs_done;
	uint64_t repairs_failed;
	uint64_t repairs_in_progress;
	uint64_t deletes_done;
	uint64_t overgoal_dropped;
	uint64_t undergoal;       /* from the last complete scan; copies on a
				   * draining worker count toward the goal */
	uint64_t lost;            /* chunks with no live current copy, same scan */
	uint64_t passes;          /* complete scans so far */
};

/* parallel: repairs run at once per tick (each tick is ~1 s). ks may be
 * NULL. Everything passed is borrowed and must outlive the thread. */
int repair_start(struct chunk_map *cm, struct wreg *reg, struct kstatus *ks,
		 const struct secret *secret, int parallel, struct repair **ret);
/* Wake the thread now (e.g. after a replica was dropped). */
void repair_kick(struct repair *rp);
/* A client call reached the master (any thread; rp may be NULL): while
 * they come often, deletions slow down to leave the workers and the
 * master to the clients. */
void repair_note_client_call(struct repair *rp);
void repair_get_stats(struct repair *rp, struct repair_stats *ret);
/* Scan the one chunk chunk_id now (any thread; cm_repair_scan's rules):
 * drops its copies above goal or leaving once enough others exist. The
 * repair thread does it after each copy it makes; a rebalance move after
 * its own. Plans no repair. Returns how many copies it dropped, or
 * -errno. */
int repair_settle(struct repair *rp, uint64_t chunk_id);
/* Copy tasks[0..n) (n <= 64) at once, each chunk from its source worker
 * onto its target (the target pulls it: POST /v1/chunk/ID/replicate),
 * with hc (the caller's; one thread at a time). ok[i] says which copies
 * were made; failures are logged. Records nothing: the caller passes each
 * outcome to cm_repair_done. 0, or -EINVAL for a bad n. */
struct http_client;
int repair_copy(struct http_client *hc, const struct secret *secret,
		const struct cm_repair_task *tasks, int n, bool *ok);

/* Stop and join the thread, free. NULL is fine. */
void repair_stop(struct repair *rp);

#endif
