/* scrubber — verify every chunk on disk slowly, in the background.
 *
 * A thread walks all chunks of the store, reading each whole and checking
 * its header and every block's CRC32C (chunk_store_verify), at no more
 * than rate bytes per second, a chunk counting as at least
 * SCRUBBER_CHUNK_COST bytes. A damaged replica is logged and reported to
 * the master (POST /v1/replica_failed; the active one of the list, passing
 * over masters that do not answer or are standbys), which drops it from
 * the chunk's replica set and restores the goal from a good copy; the worker never
 * serves the damaged blocks meanwhile. A pass starts at most every
 * SCRUBBER_PASS_MIN_S seconds; the first one first_delay_s after start. */
#ifndef BIGFS_WORKER_SCRUBBER_H
#define BIGFS_WORKER_SCRUBBER_H

#include <stdint.h>

#include "chunk_store.h"
#include "load_stats.h"
#include "master_list.h"

#define SCRUBBER_PASS_MIN_S 600
/* What one chunk costs of the rate at least (opening it, its header):
 * 16 MiB/s checks at most 64 chunks a second. */
#define SCRUBBER_CHUNK_COST ((uint64_t)256 << 10)

struct scrubber;

/* Everything is borrowed and must outlive the scrubber. */
struct scrubber_config {
	struct master_list *masters; /* the report goes to the current one */
	const char *worker_id;
	struct chunk_store *store;
	uint64_t rate;               /* bytes per second, > 0 */
	int64_t first_delay_s;       /* before the first pass */
	const struct secret *secret; /* signs calls to the master */
	struct load_stats *stats;    /* progress and damage found, for /metrics */
};

int scrubber_start(const struct scrubber_config *cfg, struct scrubber **ret);
/* Stop the thread (it finishes the chunk it is reading), free. NULL is fine. */
void scrubber_stop(struct scrubber *sc);

#endif
