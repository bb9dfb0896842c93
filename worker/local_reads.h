/* local_reads — hands chunk file descriptors to mounts on this machine
 * (common/local_sock.h has the exchange; docs/architecture.md "Local
 * reads" the why).
 *
 * One thread listens on the worker's abstract socket and answers each
 * connection in turn: the peer's credentials checked, the request line
 * parsed (EINVAL), the read token checked (EACCES), then a read-only
 * descriptor of the chunk file at that version (chunk_store_open_read:
 * ENOENT, ESTALE) sent back. A peer that sends nothing within
 * LR_IO_TIMEOUT_MS is dropped; the thread never waits longer on one. */
#ifndef BIGFS_WORKER_LOCAL_READS_H
#define BIGFS_WORKER_LOCAL_READS_H

#include "token.h"

struct chunk_store;
struct local_reads;

/* Everything is borrowed and must outlive the server. */
struct local_reads_config {
	const char *worker_id;
	const struct secret *secret;
	struct chunk_store *store;
	struct load_stats *stats;       /* counts the answers */
};

/* Listen and start the thread. 0, or -errno with nothing running
 * (-EADDRINUSE: another process holds the name in this namespace). */
int local_reads_start(const struct local_reads_config *cfg, struct local_reads **ret);
/* Stop the thread and close the socket. NULL is fine. */
void local_reads_stop(struct local_reads *lr);

#endif
