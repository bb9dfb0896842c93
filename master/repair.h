/* repair — the background thread that keeps chunks at their goal and
 * collects garbage: re-replication of under-goal chunks, dropping copies
 * above goal, sending queued deletions to workers, and noticing workers
 * that went silent. */
#ifndef BIGFS_MASTER_REPAIR_H
#define BIGFS_MASTER_REPAIR_H

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
	uint64_t undergoal;       /* from the last complete scan */
	uint64_t lost;            /* chunks with no live current copy, same scan */
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
/* Stop and join the thread, free. NULL is fine. */
void repair_stop(struct repair *rp);

#endif
