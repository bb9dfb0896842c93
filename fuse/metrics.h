/* metrics — the mount's counters and its Prometheus endpoint.
 *
 * Counters: one process-wide set (a mount is one process with one FUSE
 * session), updated from any thread with one relaxed atomic add, so the
 * modules that count (fs_ops, file_handle, worker_io, master_client) need
 * no handle: they call mount_metrics_add(MM_...) wherever the event
 * happens, whether or not the endpoint runs. FUSE operations are counted
 * and timed by wrapping the operations table (mount_metrics_wrap_ops):
 * fs_ops itself does not know.
 *
 * Endpoint: `-o metrics=ADDR:PORT` starts an HTTP server (common/
 * http_server.h, plain HTTP) that answers GET /metrics with every counter
 * as Prometheus text (format 0.0.4), names bigfs_mount_*, plus what the
 * caller's gauge function adds (the current master, workers avoided). */
#ifndef BIGFS_FUSE_METRICS_H
#define BIGFS_FUSE_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* X(enum suffix, metric name, type, help) */
#define MM_COUNTER_LIST(X)                                                                \
	X(READ_BYTES, "bigfs_mount_read_bytes_total", "counter",                         \
	  "Bytes returned to read() calls.")                                              \
	X(WRITTEN_BYTES, "bigfs_mount_written_bytes_total", "counter",                   \
	  "Bytes taken by write() calls.")                                                \
	X(WORKER_FETCHES, "bigfs_mount_worker_fetches_total", "counter",                 \
	  "Read-ahead windows a read had to wait for (fetched from workers in the "       \
	  "foreground: read-ahead misses).")                                              \
	X(PREFETCHES, "bigfs_mount_prefetches_total", "counter",                         \
	  "Read-ahead windows fetched in the background for a sequential reader.")        \
	X(PREFETCH_USED, "bigfs_mount_prefetch_hits_total", "counter",                   \
	  "Background read-ahead windows a later read used (read-ahead hits).")           \
	X(LOCAL_READS, "bigfs_mount_local_chunk_reads_total", "counter",                 \
	  "Reads served from the chunk file of a replica on this machine (local_read.h), " \
	  "without a request to its worker.")                                            \
	X(WORKER_READ_RETRIES, "bigfs_mount_worker_read_retries_total", "counter",       \
	  "Reads no replica served, tried again with fresh locations from the master.")   \
	X(WORKER_READ_FAILOVERS, "bigfs_mount_worker_read_failovers_total", "counter",   \
	  "Reads served by another replica than the first one asked (the first failed "   \
	  "or stalled).")                                                                 \
	X(REPLICAS_REPORTED, "bigfs_mount_replicas_reported_total", "counter",           \
	  "Replicas reported to the master as failed (corrupt on read; failed, stalled "  \
	  "or avoided on write) and left out.")                                           \
	X(MASTER_CALLS, "bigfs_mount_master_calls_total", "counter",                     \
	  "Calls to the master (each may take several requests).")                        \
	X(MASTER_REQUESTS, "bigfs_mount_master_requests_total", "counter",               \
	  "HTTP requests sent to masters: calls, their retries and re-logins.")           \
	X(MASTER_ERRORS, "bigfs_mount_master_errors_total", "counter",                   \
	  "Calls the master answered with an error (a lookup's ENOENT included).")        \
	X(MASTER_UNREACHABLE, "bigfs_mount_master_unreachable_total", "counter",         \
	  "Calls that failed with EIO because no master answered within master_timeout.") \
	X(MASTER_SWITCHES, "bigfs_mount_master_switches_total", "counter",               \
	  "Times the mount moved to another master of its list.")                         \
	X(LOCAL_LOOKUPS, "bigfs_mount_local_lookups_total", "counter",                   \
	  "Lookups answered ENOENT without the master (a directory whose every entry "    \
	  "this mount knows, meta_cache).")                                               \
	X(LOCAL_GETATTRS, "bigfs_mount_local_getattrs_total", "counter",                 \
	  "Directory getattrs answered from the reply to this mount's change in it.")     \
	X(LOCAL_OPENS, "bigfs_mount_local_opens_total", "counter",                       \
	  "Read-only opens answered without the master: a file this mount closed a "      \
	  "moment ago, its commit still queued (rsync's chmod of each file it wrote).")   \
	X(SOLE_OPENS, "bigfs_mount_sole_opens_total", "counter",                         \
	  "Read-only opens answered without the master while this mount is its only "    \
	  "client (sole use, master/inval_log.h).")                                       \
	X(LOCAL_READDIRS, "bigfs_mount_local_readdirs_total", "counter",                 \
	  "Listings answered empty without the master (a folder this mount made, "        \
	  "still empty under its lease).")                                                \
	X(KEPT_LISTINGS, "bigfs_mount_kept_listings_total", "counter",                   \
	  "Folder reads answered from the mount's listing of the folder (dir_cache.h), "   \
	  "nothing it shows changed since: a walk of a tree, a folder read again.")       \
	X(FEED_LATE_OPENS, "bigfs_mount_feed_late_opens_total", "counter",               \
	  "Opens answered before the change feed had brought the master's last change "  \
	  "of another client (waited IW_OPEN_WAIT_MS for it).")                          \
	X(LOCAL_LOCATES, "bigfs_mount_local_locates_total", "counter",                   \
	  "Reads of a file this mount made and alone writes, located by its own write "   \
	  "grant instead of asking the master.")                                          \
	X(OPEN_PREFETCHES, "bigfs_mount_open_prefetches_total", "counter",               \
	  "Small files read from the workers while the master answered their open "       \
	  "(locations known here; used if the master names the same chunk version).")    \
	X(LOCAL_GETXATTRS, "bigfs_mount_local_getxattrs_total", "counter",               \
	  "getxattrs answered ENODATA without the master (inode known to have none).")    \
	X(QUEUED_UNLINKS, "bigfs_mount_queued_unlinks_total", "counter",                 \
	  "Unlinks answered at once and sent to the master in batches (ns_queue).")       \
	X(QUEUED_RMDIRS, "bigfs_mount_queued_rmdirs_total", "counter",                   \
	  "rmdirs of folders known empty, answered at once and sent with the unlinks "    \
	  "(dir_count).")                                                                 \
	X(QUEUED_RENAMES, "bigfs_mount_queued_renames_total", "counter",                 \
	  "Renames within a folder to a name known absent, answered at once and sent "    \
	  "with the unlinks.")                                                            \
	X(QUEUED_SETATTRS, "bigfs_mount_queued_setattrs_total", "counter",               \
	  "Setattrs of a file closed here a moment ago (times, mode, owner), answered "   \
	  "from its known attributes and sent with the next batch.")                      \
	X(QUEUED_COMMITS, "bigfs_mount_queued_commits_total", "counter",                 \
	  "Closes of files made here and written once, answered once the data was on "   \
	  "the workers (or, data behind, at once); their commits sent with a later "      \
	  "batch.")                                                                       \
	X(QUEUED_CREATES, "bigfs_mount_queued_creates_total", "counter",                 \
	  "Creates answered by the mount, as an inode number the master reserved for "    \
	  "it, in a folder it holds the lease of; sent with the next batch.")             \
	X(BEHIND_WRITES, "bigfs_mount_behind_writes_total", "counter",                   \
	  "Closes answered before their data reached the workers (data behind: small "    \
	  "files made here and written once); their commits wait for it.")                \
	X(BEHIND_WRITE_ERRORS, "bigfs_mount_behind_write_errors_total", "counter",       \
	  "Data-behind writes that no replica took even with new grants: the file was "   \
	  "committed empty, logged, and the next fsync on the mount fails with EIO.")     \
	X(BATCHES, "bigfs_mount_batches_total", "counter",                               \
	  "Batches of queued namespace changes sent to the master.")                      \
	X(QUEUED_OP_ERRORS, "bigfs_mount_queued_op_errors_total", "counter",             \
	  "Queued unlinks, rmdirs and renames the master did not apply (logged; the "     \
	  "name stays as it was).")                                                       \
	X(KEPT_SETATTRS, "bigfs_mount_kept_setattrs_total", "counter",                   \
	  "setattrs of a file made here and open for writing, sent with its commit.")     \
	X(INVALIDATIONS, "bigfs_mount_invalidations_total", "counter",                  \
	  "Entries and inodes the kernel was told to forget: other clients' changes "     \
	  "(inval_watch) and resets.")                                                   \
	X(INVAL_RESETS, "bigfs_mount_inval_resets_total", "counter",                     \
	  "Times the change feed could not say what was missed and every long grant "     \
	  "was forgotten.")                                                               \
	X(OPEN_FILES, "bigfs_mount_open_files", "gauge", "Files open through this mount.")

/* Not fuse_lowlevel.h here: its <fcntl.h> has a struct file_handle of
 * its own, and file_handle.c counts too. */
struct fuse_lowlevel_ops;

enum mm_counter {
#define MM_COUNTER_ENUM(e, name, type, help) MM_##e,
	MM_COUNTER_LIST(MM_COUNTER_ENUM)
#undef MM_COUNTER_ENUM
	MM_COUNTER_COUNT
};

/* Count n events (bytes) of c. Any thread, lock-free. */
void mount_metrics_add(enum mm_counter c, uint64_t n);
/* A gauge goes down by n (OPEN_FILES at a close). */
void mount_metrics_sub(enum mm_counter c, uint64_t n);
/* A FUSE request was answered with err (0 or -errno; 0 is not counted). */
void mount_metrics_fuse_error(int err);
/* One HTTP request to a master was made; it got an answer (any HTTP
 * status) or not: bigfs_mount_master_connected follows the last one. */
void mount_metrics_master_attempt(bool answered);
/* The current value of counter c (for tests and logs). */
uint64_t mount_metrics_get(enum mm_counter c);

/* Fill *out with ops whose every request handler counts and times the
 * call, then calls the same handler of ops (init and destroy are passed
 * through). ops must outlive the session; call once, before the session
 * is created. */
void mount_metrics_wrap_ops(const struct fuse_lowlevel_ops *ops, struct fuse_lowlevel_ops *out);

struct mount_metrics_server;

/* Extra lines for a scrape, written by the caller's module (the master
 * in use, the workers avoided): called on a server thread, so it must be
 * thread-safe; it writes complete metrics (# HELP, # TYPE, samples). */
typedef void (*mount_metrics_gauges_fn)(void *arg, FILE *f);

/* Check that listen ("ADDR:PORT", port 0: any free one) is a valid
 * address: 0 or -EINVAL. Binding happens at start. */
int mount_metrics_check_addr(const char *listen);
/* Serve GET /metrics on listen. gauges (may be NULL) and arg are
 * borrowed and must outlive the server. 0, or -errno with nothing
 * running (-EADDRINUSE, -EINVAL, ...). */
int mount_metrics_start(const char *listen, mount_metrics_gauges_fn gauges, void *arg,
			struct mount_metrics_server **ret);
/* The port actually bound. */
uint16_t mount_metrics_port(const struct mount_metrics_server *s);
/* Stop serving (waits for a scrape in progress), free. NULL is fine. */
void mount_metrics_stop(struct mount_metrics_server *s);

#endif
