/* load_stats — the worker's counters (load_stats.h).
 *
 * State: atomic counters only, no lock. Writers are the data API's
 * connection threads, the replicator and the scrubber; readers are the
 * status reporter's thread and GET /metrics. Every update is one relaxed
 * atomic add or store, so a scrape sees each counter exact but not all of
 * them at one instant (a histogram's count may run one fsync ahead of its
 * sum): fine for load figures and for Prometheus. */
#include "load_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define LS_CLASSES 4     /* 2xx, 3xx, 4xx, 5xx */

/* Upper bounds of the fsync latency buckets, in microseconds. */
static const uint64_t ls_fsync_bounds[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
	2500000, 5000000,
};
#define LS_FSYNC_BUCKETS (sizeof(ls_fsync_bounds) / sizeof(ls_fsync_bounds[0]))

static const char *const ls_route_names[LOAD_ROUTE_COUNT] = {
#define LOAD_ROUTE_NAME(e, label) label,
	LOAD_ROUTE_LIST(LOAD_ROUTE_NAME)
#undef LOAD_ROUTE_NAME
};

static const char *const ls_class_names[LS_CLASSES] = { "2xx", "3xx", "4xx", "5xx" };

typedef atomic_uint_fast64_t ls_counter;

struct load_stats {
	atomic_int_fast64_t inflight;
	ls_counter bytes_in;
	ls_counter bytes_out;
	ls_counter requests[LOAD_ROUTE_COUNT][LS_CLASSES];
	ls_counter fsync_ok, fsync_err, fsync_usec_sum;
	ls_counter fsync_buckets[LS_FSYNC_BUCKETS + 1];   /* the last: above every bound */
	ls_counter clone_ok, clone_err, clone_bytes;
	ls_counter repl_ok, repl_err, repl_bytes;
	ls_counter corrupt_reads;
	ls_counter local_ok, local_err;
	ls_counter scrub_passes, scrub_chunks, scrub_bytes, scrub_damaged;
	ls_counter scrub_pass_total, scrub_pass_done;      /* gauges of the current pass */
	ls_counter scrub_last_end;                          /* Unix time, 0: none yet */
};

static void ls_inc(ls_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t ls_get(ls_counter *c)
{
	return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

struct load_stats *load_stats_new(void)
{
	/* calloc's zeros are every counter's initial value (atomic_init of 0
	 * on this ABI: lock-free atomics have the plain representation) */
	return calloc(1, sizeof(struct load_stats));
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

void load_stats_request(struct load_stats *ls, enum load_route route, int status)
{
	int cls = status >= 200 && status < 600 ? status / 100 - 2 : LS_CLASSES - 1;

	if ((unsigned)route >= LOAD_ROUTE_COUNT)
		route = LOAD_ROUTE_OTHER;
	ls_inc(&ls->requests[route][cls], 1);
}

void load_stats_add(struct load_stats *ls, uint64_t bytes_in, uint64_t bytes_out)
{
	if (bytes_in)
		ls_inc(&ls->bytes_in, bytes_in);
	if (bytes_out)
		ls_inc(&ls->bytes_out, bytes_out);
}

void load_stats_fsync(struct load_stats *ls, bool ok, uint64_t usec)
{
	size_t b = 0;

	while (b < LS_FSYNC_BUCKETS && usec > ls_fsync_bounds[b])
		b++;
	ls_inc(&ls->fsync_buckets[b], 1);
	ls_inc(&ls->fsync_usec_sum, usec);
	ls_inc(ok ? &ls->fsync_ok : &ls->fsync_err, 1);
}

void load_stats_clone(struct load_stats *ls, bool ok, uint64_t bytes)
{
	ls_inc(ok ? &ls->clone_ok : &ls->clone_err, 1);
	if (ok)
		ls_inc(&ls->clone_bytes, bytes);
}

void load_stats_replicated(struct load_stats *ls, bool ok, uint64_t bytes)
{
	ls_inc(ok ? &ls->repl_ok : &ls->repl_err, 1);
	if (ok)
		ls_inc(&ls->repl_bytes, bytes);
}

void load_stats_corrupt_read(struct load_stats *ls)
{
	ls_inc(&ls->corrupt_reads, 1);
}

void load_stats_local_open(struct load_stats *ls, bool ok)
{
	ls_inc(ok ? &ls->local_ok : &ls->local_err, 1);
}

void load_stats_scrub_begin(struct load_stats *ls, uint64_t nchunks)
{
	atomic_store_explicit(&ls->scrub_pass_done, 0, memory_order_relaxed);
	atomic_store_explicit(&ls->scrub_pass_total, nchunks, memory_order_relaxed);
}

void load_stats_scrub_chunk(struct load_stats *ls, uint64_t bytes, bool damaged)
{
	ls_inc(&ls->scrub_chunks, 1);
	ls_inc(&ls->scrub_bytes, bytes);
	ls_inc(&ls->scrub_pass_done, 1);
	if (damaged)
		ls_inc(&ls->scrub_damaged, 1);
}

void load_stats_scrub_end(struct load_stats *ls)
{
	ls_inc(&ls->scrub_passes, 1);
	atomic_store_explicit(&ls->scrub_last_end, (uint64_t)time(NULL), memory_order_relaxed);
}

void load_stats_snapshot(struct load_stats *ls, struct load_snapshot *ret)
{
	ret->inflight = (int64_t)atomic_load_explicit(&ls->inflight, memory_order_relaxed);
	ret->bytes_in = ls_get(&ls->bytes_in);
	ret->bytes_out = ls_get(&ls->bytes_out);
}

/* "# HELP" and "# TYPE" of one metric. */
static void ls_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void ls_one(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	ls_head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* A counter split by result="ok" / "error". */
static void ls_results(FILE *f, const char *name, const char *help, uint64_t ok, uint64_t err)
{
	ls_head(f, name, "counter", help);
	fprintf(f, "%s{result=\"ok\"} %" PRIu64 "\n%s{result=\"error\"} %" PRIu64 "\n", name, ok,
		name, err);
}

static void ls_fsync_histogram(struct load_stats *ls, FILE *f)
{
	const char *name = "bigfs_worker_fsync_duration_seconds";
	uint64_t cum = 0, sum = ls_get(&ls->fsync_usec_sum);

	ls_head(f, name, "histogram", "Time a chunk fsync took (data and, for a new file, folders).");
	for (size_t b = 0; b < LS_FSYNC_BUCKETS; b++) {
		cum += ls_get(&ls->fsync_buckets[b]);
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			(double)ls_fsync_bounds[b] / 1e6, cum);
	}
	cum += ls_get(&ls->fsync_buckets[LS_FSYNC_BUCKETS]);
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	fprintf(f, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name, sum / 1000000, sum % 1000000);
	fprintf(f, "%s_count %" PRIu64 "\n", name, cum);
}

int load_stats_render(struct load_stats *ls, FILE *f)
{
	int64_t inflight = (int64_t)atomic_load_explicit(&ls->inflight, memory_order_relaxed);

	ls_head(f, "bigfs_worker_requests_in_flight", "gauge",
		"HTTP requests being handled now.");
	fprintf(f, "bigfs_worker_requests_in_flight %" PRId64 "\n", inflight < 0 ? 0 : inflight);
	ls_head(f, "bigfs_worker_requests_total", "counter",
		"HTTP requests answered, by route and status class.");
	for (int r = 0; r < LOAD_ROUTE_COUNT; r++)
		for (int c = 0; c < LS_CLASSES; c++)
			fprintf(f, "bigfs_worker_requests_total{route=\"%s\",code=\"%s\"} %" PRIu64
				   "\n", ls_route_names[r], ls_class_names[c],
				ls_get(&ls->requests[r][c]));
	ls_one(f, "bigfs_worker_received_bytes_total", "counter",
	       "Chunk data received: client writes and replication pulls.", ls_get(&ls->bytes_in));
	ls_one(f, "bigfs_worker_sent_bytes_total", "counter",
	       "Chunk data sent to readers (clients and replicating peers).",
	       ls_get(&ls->bytes_out));
	ls_results(f, "bigfs_worker_fsyncs_total", "Chunk fsyncs, by result.",
		   ls_get(&ls->fsync_ok), ls_get(&ls->fsync_err));
	ls_fsync_histogram(ls, f);
	ls_results(f, "bigfs_worker_clones_total", "Chunk clones (snapshots), by result.",
		   ls_get(&ls->clone_ok), ls_get(&ls->clone_err));
	ls_one(f, "bigfs_worker_clone_bytes_total", "counter", "Bytes copied by clones.",
	       ls_get(&ls->clone_bytes));
	ls_results(f, "bigfs_worker_replications_total",
		   "Chunks pulled from peer workers, by result.", ls_get(&ls->repl_ok),
		   ls_get(&ls->repl_err));
	ls_one(f, "bigfs_worker_replicated_bytes_total", "counter",
	       "Bytes of chunks pulled from peer workers.", ls_get(&ls->repl_bytes));
	ls_one(f, "bigfs_worker_corrupt_reads_total", "counter",
	       "Reads and clones refused because a block did not match its CRC.",
	       ls_get(&ls->corrupt_reads));
	ls_results(f, "bigfs_worker_local_opens_total",
		   "Chunk file descriptors asked for by mounts on this machine (local reads), "
		   "by result.", ls_get(&ls->local_ok), ls_get(&ls->local_err));
	ls_one(f, "bigfs_worker_scrub_passes_total", "counter",
	       "Scrubber passes completed over every chunk.", ls_get(&ls->scrub_passes));
	ls_one(f, "bigfs_worker_scrub_chunks_checked_total", "counter",
	       "Chunks the scrubber read and checked.", ls_get(&ls->scrub_chunks));
	ls_one(f, "bigfs_worker_scrub_bytes_checked_total", "counter",
	       "Bytes the scrubber read and checked.", ls_get(&ls->scrub_bytes));
	ls_one(f, "bigfs_worker_scrub_corrupt_chunks_total", "counter",
	       "Chunks the scrubber found damaged (a bad header or block) and reported.",
	       ls_get(&ls->scrub_damaged));
	ls_one(f, "bigfs_worker_scrub_pass_chunks", "gauge",
	       "Chunks in the scrubber's current (or last) pass.", ls_get(&ls->scrub_pass_total));
	ls_one(f, "bigfs_worker_scrub_pass_checked_chunks", "gauge",
	       "Chunks of the current (or last) pass checked so far.",
	       ls_get(&ls->scrub_pass_done));
	ls_one(f, "bigfs_worker_scrub_last_pass_end_timestamp_seconds", "gauge",
	       "When the last complete scrubber pass ended (Unix time; 0: none yet).",
	       ls_get(&ls->scrub_last_end));
	return ferror(f) ? -EIO : 0;
}
