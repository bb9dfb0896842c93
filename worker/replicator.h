/* replicator — copy a chunk from a peer worker into the local store.
 *
 * The master asks a worker (POST /v1/chunk/ID/replicate) to pull chunk ID
 * at a version from another worker with a read token for that worker.
 * The replicator asks the source for the chunk's length
 * (GET /v1/chunk/ID/info), reads the bytes in pieces (GET /v1/chunk/ID),
 * stages them in a temporary file with fresh CRCs and replaces the local
 * chunk atomically. The source verifies its CRCs before it sends, the
 * length and every piece's size are checked on arrival. At most
 * REPLICATOR_MAX_ACTIVE pulls run at once; more wait their turn. */
#ifndef BIGFS_WORKER_REPLICATOR_H
#define BIGFS_WORKER_REPLICATOR_H

#include <stdint.h>

#include "chunk_store.h"
#include "load_stats.h"

#define REPLICATOR_MAX_ACTIVE 4

struct replicator;

/* store and stats are borrowed and must outlive the replicator. */
int replicator_new(struct chunk_store *store, struct load_stats *stats,
		   struct replicator **ret);
void replicator_free(struct replicator *rp);

/* Validate a peer address "HOST:PORT" (no scheme, path or user part). */
int replicator_check_addr(const char *addr);

/* Pull chunk id at version from source ("HOST:PORT") with source_token
 * (a read token for the source). Blocks until done. Returns 0 and the
 * length, or -errno: -EINVAL (bad source), -ESTALE (source or local copy
 * at another version), -ENOENT (source lacks it), -EIO (source refused or
 * sent something wrong), transport errors of http_client, store errors. */
int replicator_pull(struct replicator *rp, uint64_t id, uint32_t version,
		    const char *source, const char *source_token, uint32_t *ret_length);

#endif
