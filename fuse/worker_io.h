/* worker_io — chunk data to and from workers (docs/api.md "Worker").
 *
 * Reads try the replicas of a chunk one after another (best first, the
 * ones this mount avoids last) inside one call, hedged: a replica that
 * stalls is overtaken by the next. Writes go to every replica at once
 * (http_client_run) and succeed while at least one replica took the
 * bytes, reporting the others to the master (POST /v1/replica_failed) and
 * dropping them from the caller's grant; a replica that stalls while
 * another has the bytes is cut off after a grace period. */
#ifndef BIGFS_FUSE_WORKER_IO_H
#define BIGFS_FUSE_WORKER_IO_H

#include "ids.h"
#include "token.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define WIO_MAX_REPLICAS 16
#define WIO_ADDR_MAX 128

struct master_client;
struct worker_io;

struct wio_replica {
	char worker_id[WORKER_ID_STRLEN + 1];
	char addr[WIO_ADDR_MAX];        /* HOST:PORT */
};

/* One chunk as the master describes it: a read location (POST /v1/chunks,
 * read token) or a write grant (POST /v1/write, write token). */
struct wio_chunk {
	uint64_t chunk_id;
	uint32_t version;
	int nrep;
	struct wio_replica rep[WIO_MAX_REPLICAS];
	char token[TOKEN_MAX];
};

/* Parse {"chunk_id", "version", "replicas": [{"worker_id", "addr"}],
 * "token"} (extra members ignored). 0 or -EIO for a malformed object;
 * replicas beyond WIO_MAX_REPLICAS are ignored. */
int worker_io_parse_chunk(const json_t *obj, struct wio_chunk *ret);

/* mc (borrowed, must outlive w) is used to report failed replicas.
 * timeout_ms bounds each transfer. 0 or -ENOMEM. */
int worker_io_new(struct master_client *mc, long timeout_ms, struct worker_io **ret);
void worker_io_free(struct worker_io *w);
/* This mount's memory of workers to avoid (worker_health.h), owned by w;
 * the session heartbeat feeds it the master's verdict. */
struct whealth *worker_io_health(struct worker_io *w);
/* Reads no longer try replicas on this machine first (local_read.h);
 * before any read only (-o nolocalreads). */
void worker_io_no_local_reads(struct worker_io *w);

/* Read len bytes at off (within the chunk) into buf: from a replica on
 * this machine straight from its chunk file when there is one
 * (local_read.h), else from the first replica that serves them:
 * replicas this mount avoids are asked last, and when the replica asked
 * moves no byte for WIO_HEDGE_MS the next one is asked too (hedged read; the first good answer wins, the stalled
 * worker is suspected for a while). A replica that answers 500 EIO
 * (corrupt) is reported to the master. Returns 0; -EBADMSG when every
 * replica answered that its copy is damaged (500 EIO, a verified read
 * included: asking again will not help); -EIO when every replica failed
 * otherwise (the caller refreshes the locations and tries again). */
int worker_io_read(struct worker_io *w, const struct wio_chunk *c, uint64_t off, size_t len,
		   void *buf);
/* A read of c that may be stale (locations kept from earlier, not yet
 * confirmed by the master): the same hedged read, but a failure is only
 * -EIO — nothing logged, nothing reported, no verified re-read, and the
 * replicas' health not judged by it (a stale version is no fault). */
int worker_io_read_try(struct worker_io *w, const struct wio_chunk *c, uint64_t off, size_t len,
		       void *buf);

/* Write len bytes at off (within the chunk) to every replica of the grant
 * c in parallel. Replicas that failed while another succeeded are reported
 * and removed from c. Returns 0 if at least one replica has the bytes and
 * none refused the grant; -ESTALE when any replica refused it (it holds a
 * newer version, or the token expired: ask for a new grant and write
 * again), -ENOSPC when every replica's disk is full, -EIO when every
 * replica failed otherwise. */
int worker_io_write(struct worker_io *w, struct wio_chunk *c, uint64_t off, const void *buf,
		    size_t len);

/* POST /v1/chunk/ID/fsync on every replica of the grant c in parallel.
 * Same success rule and reporting as worker_io_write. */
int worker_io_fsync(struct worker_io *w, struct wio_chunk *c);

#endif
