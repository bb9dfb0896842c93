/* metalog — the metadata log on Kafka, standby masters and the election
 * (docs/metalog.md has the protocol and the failure cases).
 *
 * Every master with a Kafka that outlives it (a real one, or the
 * development broker) runs one. It owns the master's SQLite store until
 * the master leads:
 *   - it brings the store up to the log: from the store's own record of
 *     where it stands, or from the latest checkpoint when the store is new,
 *     behind what the log still holds, or holds changes the log does not;
 *   - it follows the log, applying every change that counts (a hot
 *     standby), and claims the lead when the leader has been silent for
 *     failover_ms, or left cleanly, or nobody ever led;
 *   - once its claim counts, metalog_wait_leader() hands the store over
 *     with a hook (meta_set_log_hook) that puts every committed
 *     transaction on the log before the caller's meta_txn_end() returns:
 *     a client is answered only once its change is on the log;
 *   - leading, it beats every failover_ms/5 when idle and serves only
 *     within a lease of failover_ms/2 from its last record the log took
 *     in order; a record that lands after another master's claim makes it
 *     stop at once (on_lost) — the master then starts again as a standby;
 *   - the leader writes a checkpoint (the whole database plus the log
 *     state it covers) to Kafka after taking the lead, every
 *     checkpoint_ms, and on demand.
 * Topics: bigfs.metalog (the log), bigfs.checkpoints (checkpoint parts),
 * bigfs.checkpoint-index (one manifest per complete checkpoint); each
 * with one partition. */
#ifndef BIGFS_MASTER_METALOG_H
#define BIGFS_MASTER_METALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metalog_record.h"

struct kafka_opts;
struct meta_store;
struct secret;
struct metalog;

#define METALOG_TOPIC "bigfs.metalog"
#define METALOG_TOPIC_CKPT "bigfs.checkpoints"
#define METALOG_TOPIC_CKPT_INDEX "bigfs.checkpoint-index"

struct metalog_config {
	const char *brokers;            /* Kafka bootstrap list */
	const struct kafka_opts *kopts;
	const char *id;                 /* this master's stable name */
	const char *url;                /* HOST:PORT clients are sent to */
	const char *db_path;            /* DIR/meta.db */
	uint32_t default_goal;
	int64_t failover_ms;            /* leader silence before a claim */
	int64_t checkpoint_ms;          /* leader's checkpoint period */
	uint64_t checkpoint_bytes;      /* ... and log written between two */
	bool standby;                   /* never the first to lead */
	bool restored;                  /* the store is a dump: only into an
					 * empty log (else: failed) */
	const struct secret *secret;    /* signs every record */
	void (*on_lost)(void *arg);     /* leading stopped (any thread) */
	void *on_lost_arg;
};

/* Open the store and start following the log. 0 or -errno (logged). */
int metalog_start(const struct metalog_config *cfg, struct metalog **ret);
/* Block until this master leads: then *ms is the store, current with the
 * log and logging every change, and 0 is returned. -ECANCELED once
 * metalog_stop() was called, -EIO if the store cannot be brought up. */
int metalog_wait_leader(struct metalog *ml, struct meta_store **ms);
/* Leading, within the lease, and not stopped: may answer clients. */
bool metalog_serving(struct metalog *ml);
/* "starting", "standby", "restoring", "active", "fenced", "stopped", or
 * "failed" (the store cannot be brought up to the log). */
const char *metalog_role(struct metalog *ml);
/* The leader's address as this master knows it ("" if none). */
void metalog_leader_url(struct metalog *ml, char *buf, size_t cap);
/* Ask the leader's checkpoint thread for a checkpoint now and wait for it
 * (at most timeout_ms). 0, -EAGAIN when not leading, -ETIMEDOUT, -EIO. */
int metalog_checkpoint(struct metalog *ml, int64_t timeout_ms);

struct metalog_stats {
	uint64_t epoch, seq, applied, records, batches, beats;
	int64_t offset;                 /* last log offset taken in */
	int64_t lag_ms;                 /* standby: now - leader's last record time */
	uint64_t checkpoints;
	int64_t checkpoint_seq;         /* latest one made or used; -1 */
	char leader[ML_ID_MAX + 1];
};
void metalog_stats(struct metalog *ml, struct metalog_stats *st);

/* Stop: a leader whose log is in order writes LEAVE (standbys take over
 * at once). The store stays open for the caller (meta_close). NULL is
 * fine. */
void metalog_stop(struct metalog *ml);
/* The store (open while the metalog exists; the caller closes it after
 * metalog_free). */
struct meta_store *metalog_store(struct metalog *ml);
void metalog_free(struct metalog *ml);

#endif
