/* chunk_map — chunks of files, their replicas and versions, write leases,
 * the garbage queue, and worker registration reconciliation.
 *
 * Functions without _locked run their own transaction. Those with
 * _locked run inside a write transaction the caller opened with
 * meta_txn_begin() (namespace operations compose them). */
#ifndef BIGFS_MASTER_CHUNK_MAP_H
#define BIGFS_MASTER_CHUNK_MAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "meta_store.h"
#include "token.h"
#include "worker_registry.h"

#define CM_CHUNK_SIZE (64ULL * 1024 * 1024)
#define CM_MAX_FILE_SIZE (1ULL << 50)
#define CM_MAX_INDEX (CM_MAX_FILE_SIZE / CM_CHUNK_SIZE)
#define CM_MAX_REPLICAS 16
#define CM_SESSION_MAX 128
#define CM_TOKEN_TTL_S 600

struct chunk_map;

struct cm_replica {
	char worker_id[WORKER_ID_STRLEN + 1];
	char addr[WREG_ADDR_MAX];
};

struct cm_chunk {
	uint64_t index;
	uint64_t chunk_id;
	uint32_t version;
	int nrep;
	struct cm_replica reps[CM_MAX_REPLICAS];
	char token[TOKEN_MAX];
};

/* What a truncate must still do on the workers after its transaction:
 * cut chunk_id (now at version) to length on each replica. */
struct cm_trunc_job {
	bool needed;
	struct cm_chunk chunk;
	uint64_t length;
};

/* A chunk a worker reported at registration. */
struct cm_reported {
	uint64_t chunk_id;
	uint32_t version;
};

/* A re-replication to run: copy chunk_id@version from source to target. */
struct cm_repair_task {
	uint64_t chunk_id;
	uint32_t version;
	struct cm_replica source;
	struct cm_replica target;
};

/* A queued garbage deletion to send. */
struct cm_delete_task {
	int64_t id;
	uint64_t chunk_id;
	struct cm_replica worker;
};

struct cm_scan_result {
	int undergoal;     /* chunks below goal seen in this batch */
	int overgoal_dropped;
	int lost;          /* chunks with no live current replica */
	int scanned;
	bool wrapped;      /* the cursor went back to the start */
};

/* secret is borrowed and must outlive the map. 0 or -ENOMEM. */
int cm_new(struct meta_store *ms, struct wreg *reg, const struct secret *secret,
	   int64_t lease_ms, struct chunk_map **ret);
void cm_free(struct chunk_map *cm);
int64_t cm_lease_ms(const struct chunk_map *cm);
/* A read token (op "r") of c's chunk id and version, valid CM_TOKEN_TTL_S:
 * a write grant's "rtoken", so its writer reads back without /v1/chunks. */
void cm_read_token(struct chunk_map *cm, const struct cm_chunk *c, char out[TOKEN_MAX]);

/* Load the workers table into the registry (known, not live). */
int cm_load_workers(struct chunk_map *cm);

/* /v1/chunks: chunks of ino with index in [index, index+count). *ret is a
 * malloc'ed array (maybe NULL when *ret_n == 0) that the caller frees.
 * -ENOENT unknown inode, -EISDIR/-EINVAL not a regular file. */
int cm_chunks(struct chunk_map *cm, uint64_t ino, uint64_t index, uint64_t count,
	      uint64_t *ret_size, struct cm_chunk **ret, size_t *ret_n);

/* /v1/write: the write grant (see docs/api.md). -EAGAIN lease held by
 * another session, or no live replica or worker right now while workers
 * are known (after a master restart, until they register again); -ENOSPC
 * no worker at all. */
int cm_write(struct chunk_map *cm, uint64_t ino, uint64_t index,
	     const char *session, struct cm_chunk *ret);
/* Workers a client asks placement to pass over (see cm_write_avoiding). */
#define CM_AVOID_MAX 16
struct cm_avoid {
	size_t n;
	char ids[CM_AVOID_MAX][WORKER_ID_STRLEN + 1];
};
/* cm_write, but a chunk placed now (a new one, or one whose copies are
 * all gone) goes to live workers not in avoid while there is one. */
int cm_write_avoiding(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		      const struct cm_avoid *avoid, struct cm_chunk *ret);

/* /v1/replica_failed. Never drops the last current replica. */
int cm_replica_failed(struct chunk_map *cm, uint64_t chunk_id, uint32_t version,
		      const char *worker_id);

/* /v1/cluster/register: record the worker, reconcile its chunks. Returns
 * 1 if the worker became live, 0 if it already was, or -errno. *ret_del is
 * malloc'ed (caller frees). */
int cm_register(struct chunk_map *cm, const char *worker_id, const char *addr,
		uint64_t capacity, uint64_t used, const struct cm_reported *chunks,
		size_t n, uint64_t **ret_del, size_t *ret_ndel);

/* Inside a write txn: drop every chunk of ino, queueing its replicas for
 * deletion. */
int cm_drop_inode_locked(struct chunk_map *cm, uint64_t ino);
/* Inside a write txn: the file shrinks from old_size to new_size. Drops
 * whole chunks past the end and prepares job for a cut chunk. -EAGAIN if
 * the cut chunk has no live replica. */
int cm_truncate_locked(struct chunk_map *cm, uint64_t ino, uint64_t old_size,
		       uint64_t new_size, struct cm_trunc_job *job);
/* Inside a write txn: drop the chunks of ino with index in
 * [first_idx, first_idx + count) (fallocate PUNCH_HOLE: they read as
 * zeros from now on), queueing their replicas for deletion. */
int cm_punch_locked(struct chunk_map *cm, uint64_t ino, uint64_t first_idx, uint64_t count);
/* After the txn: truncate on the workers; failing replicas are dropped. */
void cm_truncate_apply(struct chunk_map *cm, const struct cm_trunc_job *job);
/* Inside a txn: release the leases of session on the given indexes. */
/* A new chunk for slot index of ino, which has none, as cm_write grants
 * it (allocated, placed, leased to session, signed): the grant that comes
 * with a create. -EEXIST if the slot has a chunk. */
int cm_grant_fresh(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		   struct cm_chunk *ret);
/* A chunk granted with a create and never written: drop its slot if it
 * is still that fresh chunk under session's lease (version 1, not
 * shared). 0 or -errno. */
int cm_drop_unwritten(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session);
int cm_release_locked(struct chunk_map *cm, uint64_t ino, const char *session,
		      const uint64_t *indexes, size_t n);
/* Its own txn: release every lease of session (it closed or died).
 * Scans the chunks table (no index on the lease holder): sessions end
 * rarely. */
int cm_release_session(struct chunk_map *cm, const char *session);
/* Inside a txn: bigfs.locations text (malloc'ed, caller frees). */
int cm_locations_locked(struct chunk_map *cm, uint64_t ino, char **ret,
			size_t *ret_len);

/* Repair support (repair thread). Scan up to max_chunks chunks after
 * *cursor (advanced; back to 0 at the end), drop replicas above goal, and
 * return up to max_tasks repairs. */
int cm_repair_scan(struct chunk_map *cm, uint64_t *cursor, int max_chunks,
		   struct cm_repair_task *tasks, int max_tasks, int *ret_ntasks,
		   struct cm_scan_result *res);
/* Record the outcome of a repair: on success the target becomes a current
 * replica if the chunk is still at that version, else its copy is queued
 * for deletion. */
int cm_repair_done(struct chunk_map *cm, const struct cm_repair_task *t, bool ok);
/* Up to max queued deletions to live workers after *cursor. */
int cm_delete_fetch(struct chunk_map *cm, int64_t *cursor, struct cm_delete_task *out,
		    int max, int *ret_n);
int cm_delete_done(struct chunk_map *cm, int64_t id);

struct cm_stats {
	uint64_t chunks;
	uint64_t inodes;
	uint64_t replicas;
	uint64_t pending_deletes;
};
int cm_stats(struct chunk_map *cm, struct cm_stats *ret);
/* counts[i] = replicas recorded on worker ids[i]. */
int cm_worker_chunk_counts(struct chunk_map *cm, const struct wreg_info *ws,
			   size_t n, uint64_t *counts);

/* Snapshots (chunks shared by several files' slots, copy on write).
 * Inside a write txn: dst_ino's slots become those of src_ino, naming
 * the same chunks (*ret_n slots); -EBUSY while a writer holds a lease on
 * one of src_ino's chunks. */
int cm_share_locked(struct chunk_map *cm, uint64_t src_ino, uint64_t dst_ino, uint64_t *ret_n);
/* Inside a write txn: dst's slots [dst_idx, dst_idx + count) become
 * those of src from src_idx (holes stay holes), naming the same chunks;
 * dst's chunks there go. -EBUSY while a write lease is held on either
 * range, -EINVAL for overlapping ranges of one file. */
int cm_share_range_locked(struct chunk_map *cm, uint64_t src, uint64_t src_idx, uint64_t dst,
			  uint64_t dst_idx, uint64_t count);
/* Inside a txn: how many slots name chunk_id. */
int cm_refs_locked(struct chunk_map *cm, uint64_t chunk_id, uint32_t *ret);
/* Its own transactions: if slot (ino, idx) shares its chunk, each live
 * copy's worker clones it into a new chunk, which the slot then names
 * (the others keep the old one). 0 when the slot has a chunk of its own
 * (now or already); -EAGAIN when no copy could be made now. cm_write
 * and truncates (-EXDEV from cm_truncate_locked) call it. */
int cm_cow(struct chunk_map *cm, uint64_t ino, uint64_t idx);

/* bigfs fileinfo: [{"index", "chunk_id" (hex), "version", "refs",
 * "replicas": [{"worker_id", "addr", "live", "version"}]}] of a regular
 * file. *ret is a new reference. */
int cm_fileinfo(struct chunk_map *cm, uint64_t ino, json_t **ret);

/* Wall clock in milliseconds. */
int64_t cm_wall_ms(void);

#endif
