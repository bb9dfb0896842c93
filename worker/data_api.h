/* data_api — the worker's HTTP data API (docs/api.md, "Worker").
 *
 * Routes chunk reads, writes, truncates, fsyncs, replications, clones,
 * deletes, the chunk list and health onto the chunk store and the
 * replicator, after checking each call's token, and serves GET /metrics
 * (Prometheus text, no token). Handlers run on the HTTP server's
 * connection threads, concurrently.
 *
 * Addition to docs/api.md: GET /v1/chunk/ID/info?version=V&token=T (op "r")
 * answers {"chunk_id", "version", "length"}; the replicator of a peer
 * uses it to learn how many bytes to pull. */
#ifndef BIGFS_WORKER_DATA_API_H
#define BIGFS_WORKER_DATA_API_H

#include <stdint.h>

#include "chunk_store.h"
#include "load_stats.h"
#include "replicator.h"
#include "token.h"

struct data_api;

/* Everything is borrowed and must outlive the data API. */
struct data_api_config {
	const char *listen;          /* "HOST:PORT", port 0 = ephemeral */
	const char *worker_id;
	const struct secret *secret;
	struct chunk_store *store;
	struct replicator *replicator;
	struct load_stats *stats;
};

/* Start serving. 0, or -errno (e.g. -EADDRINUSE) with nothing running. */
int data_api_start(const struct data_api_config *cfg, struct data_api **ret);
/* The port actually bound. */
uint16_t data_api_port(const struct data_api *api);
/* Stop accepting, wait for running handlers, free. NULL is fine. */
void data_api_stop(struct data_api *api);

#endif
