/* load_stats — request and byte counters (load_stats.h).
 *
 * State: three atomic counters. No lock; writers are the data API's
 * connection threads and the replicator, the reader is the status
 * reporter's thread. A snapshot is not one atomic cut across the three
 * counters, which is fine for load figures. */
#include "load_stats.h"

#include <stdatomic.h>
#include <stdlib.h>

struct load_stats {
	atomic_int_fast64_t inflight;
	atomic_uint_fast64_t bytes_in;
	atomic_uint_fast64_t bytes_out;
};

struct load_stats *load_stats_new(void)
{
	struct load_stats *ls = calloc(1, sizeof(*ls));

	if (!ls)
		return NULL;
	atomic_init(&ls->inflight, 0);
	atomic_init(&ls->bytes_in, 0);
	atomic_init(&ls->bytes_out, 0);
	return ls;
}

void load_stats_free(struct load_stats *ls)
{
	free(ls);
}

void load_stats_begin(struct load_stats *ls)
{
	atomic_fetch_add_explicit(&ls->inflight, 1, memory_order_relaxed);
}

void load_stats_end(struct load_stats *ls)
{
	atomic_fetch_sub_explicit(&ls->inflight, 1, memory_order_relaxed);
}

void load_stats_add(struct load_stats *ls, uint64_t bytes_in, uint64_t bytes_out)
{
	if (bytes_in)
		atomic_fetch_add_explicit(&ls->bytes_in, bytes_in, memory_order_relaxed);
	if (bytes_out)
		atomic_fetch_add_explicit(&ls->bytes_out, bytes_out, memory_order_relaxed);
}

void load_stats_snapshot(struct load_stats *ls, struct load_snapshot *ret)
{
	ret->inflight = (int64_t)atomic_load_explicit(&ls->inflight, memory_order_relaxed);
	ret->bytes_in = (uint64_t)atomic_load_explicit(&ls->bytes_in, memory_order_relaxed);
	ret->bytes_out = (uint64_t)atomic_load_explicit(&ls->bytes_out, memory_order_relaxed);
}
