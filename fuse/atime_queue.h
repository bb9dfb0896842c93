/* atime_queue — the mount's read-atime reports, sent to the master in
 * batches.
 *
 * The first read through an open file queues its inode here; a thread
 * sends what is queued as one /v1/atime call (the master applies relatime
 * to each inode in one transaction) at most ATQ_DELAY_MS after the first
 * report of a batch, at once when ATQ_BATCH are queued or someone waits.
 * So a reader never waits for the master, and reading many small files
 * costs one master call per batch instead of one per file. A call the
 * mount makes anyway (the /v1/open of the next file) can carry what is
 * queued instead (a ride, from ATQ_RIDE_MIN reports): then reading many
 * files in quick succession costs no atime call.
 *
 * An inode's report is pending from atime_queue_add until the master has
 * answered the call carrying it. A getattr, setattr or lookup of that
 * inode, or a readdirplus listing it, waits (atime_queue_wait), so what
 * the master answers includes the read: the mount shows its own reads at once, as a local
 * filesystem does. A failed call costs only the atime (logged). */
#ifndef BIGFS_FUSE_ATIME_QUEUE_H
#define BIGFS_FUSE_ATIME_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct master_client;
struct atime_queue;

#define ATQ_BATCH 256
#define ATQ_DELAY_MS 20
/* A ride takes the queue from this size; fewer wait for the thread's
 * call (a lone read needs no bigger open). */
#define ATQ_RIDE_MIN 8

/* Reports riding on another master call; on the caller's stack. */
struct atq_ride {
	struct atq_ride *next;
	size_t n;
	uint64_t inos[ATQ_BATCH];
};

/* mc is borrowed. Returns 0 or -ENOMEM. */
int atime_queue_new(struct master_client *mc, struct atime_queue **ret);
/* Start the sending thread. Before it (or if it cannot start), and after
 * atime_queue_stop, atime_queue_add sends the report itself. */
void atime_queue_start(struct atime_queue *q);
/* Send what is queued, then stop the thread. */
void atime_queue_stop(struct atime_queue *q);
/* Stops first if needed. */
void atime_queue_free(struct atime_queue *q);

/* A read of ino happened. Does not wait for the master unless ATQ_BATCH
 * reports are pending already. */
void atime_queue_add(struct atime_queue *q, uint64_t ino);
/* Take what is queued into r, if ATQ_RIDE_MIN or more (returns how
 * many, maybe 0), for a call that carries it. Those reports stay pending
 * until atime_queue_ride_end, once the master has answered (or the call
 * failed: then only those atimes are lost); ending a ride that took
 * nothing is a no-op. */
size_t atime_queue_ride_begin(struct atime_queue *q, struct atq_ride *r);
void atime_queue_ride_end(struct atime_queue *q, struct atq_ride *r);
/* Wait until no report of ino (0: of any inode) is pending, hurrying the
 * thread. True if there was one. */
bool atime_queue_wait(struct atime_queue *q, uint64_t ino);

#endif
