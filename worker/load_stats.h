/* load_stats — the worker's load counters, for its status reports.
 *
 * The data API counts requests in flight and bytes received and sent; the
 * replicator counts the bytes it pulls; the status reporter reads the
 * totals and turns them into rates. Lock-free (C11 atomics); any thread. */
#ifndef BIGFS_WORKER_LOAD_STATS_H
#define BIGFS_WORKER_LOAD_STATS_H

#include <stdint.h>

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
/* Bytes moved (any time, any thread). */
void load_stats_add(struct load_stats *ls, uint64_t bytes_in, uint64_t bytes_out);

void load_stats_snapshot(struct load_stats *ls, struct load_snapshot *ret);

#endif
