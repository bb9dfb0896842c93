/* load_stats — the worker's counters: its load for the status reports
 * and everything its GET /metrics shows.
 *
 * The data API counts requests (in flight, and done by route and status
 * class), bytes received and sent, chunk fsyncs and their latency, clones
 * and reads refused for a bad block; local_reads the descriptors it hands
 * to local mounts; the replicator counts the chunks and
 * bytes it pulls; the scrubber its passes, the chunks and bytes it checked
 * and the damaged chunks it found. The status reporter reads the byte
 * totals and turns them into rates; load_stats_render writes all of it as
 * Prometheus text. Lock-free (C11 atomics, relaxed: each counter is exact,
 * a snapshot is not one atomic cut across counters); any thread. */
#ifndef BIGFS_WORKER_LOAD_STATS_H
#define BIGFS_WORKER_LOAD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The routes requests are counted by: X(enum suffix, label). */
#define LOAD_ROUTE_LIST(X)                                 \
	X(READ, "chunk_read")                              \
	X(INFO, "chunk_info")                              \
	X(WRITE, "chunk_write")                            \
	X(TRUNCATE, "chunk_truncate")                      \
	X(FSYNC, "chunk_fsync")                            \
	X(REPLICATE, "chunk_replicate")                    \
	X(CLONE, "chunk_clone")                            \
	X(DELETE, "chunk_delete")                          \
	X(LIST, "chunks")                                  \
	X(HEALTH, "health")                                \
	X(METRICS, "metrics")                              \
	X(OTHER, "other")

enum load_route {
#define LOAD_ROUTE_ENUM(e, label) LOAD_ROUTE_##e,
	LOAD_ROUTE_LIST(LOAD_ROUTE_ENUM)
#undef LOAD_ROUTE_ENUM
	LOAD_ROUTE_COUNT
};

struct load_stats;

struct load_snapshot {
	int64_t inflight;     /* requests being handled now */
	uint64_t bytes_in;    /* total since start */
	uint64_t bytes_out;   /* total since start */
};

/* NULL on out-of-memory. */
struct load_stats *load_stats_new(void);
void load_stats_free(struct load_stats *ls);

/* A request starts / ends. */
void load_stats_begin(struct load_stats *ls);
void load_stats_end(struct load_stats *ls);
/* A request on route was answered with HTTP status (0: no reply was
 * made, counted as 5xx). */
void load_stats_request(struct load_stats *ls, enum load_route route, int status);
/* Bytes moved (any time, any thread). */
void load_stats_add(struct load_stats *ls, uint64_t bytes_in, uint64_t bytes_out);

/* A chunk fsync that took usec microseconds (ok: it succeeded). */
void load_stats_fsync(struct load_stats *ls, bool ok, uint64_t usec);
/* A clone finished: ok with bytes copied, or failed. */
void load_stats_clone(struct load_stats *ls, bool ok, uint64_t bytes);
/* A replication (a pull from a peer) finished: ok with bytes, or failed. */
void load_stats_replicated(struct load_stats *ls, bool ok, uint64_t bytes);
/* A read or clone refused because a block did not match its CRC. */
void load_stats_corrupt_read(struct load_stats *ls);

/* A local mount asked for a chunk file's descriptor (local_reads.h): ok
 * when it got one. */
void load_stats_local_open(struct load_stats *ls, bool ok);

/* The scrubber: a pass over nchunks starts; one chunk of bytes was
 * checked (damaged: it was not good); the pass ended. */
void load_stats_scrub_begin(struct load_stats *ls, uint64_t nchunks);
void load_stats_scrub_chunk(struct load_stats *ls, uint64_t bytes, bool damaged);
void load_stats_scrub_end(struct load_stats *ls);

void load_stats_snapshot(struct load_stats *ls, struct load_snapshot *ret);

/* Every counter above as Prometheus text (format 0.0.4), names
 * bigfs_worker_*, each with its # HELP and # TYPE lines. 0 or -EIO (f
 * failed). */
int load_stats_render(struct load_stats *ls, FILE *f);

#endif
