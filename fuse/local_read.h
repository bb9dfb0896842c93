/* local_read — reads of chunk replicas held by a worker on this machine,
 * straight from the chunk file (docs/architecture.md "Local reads").
 *
 * A worker in the mount's network namespace hands the mount a read-only
 * descriptor of a chunk file (common/local_sock.h); the mount keeps it
 * (up to LR_FDS_MAX chunks, least recently used out first) and reads
 * with chunk_file_read, every byte checked against its block's CRC. A
 * read then costs the mount a few system calls and no wake-up of another
 * process. Whatever a local read cannot serve — no local replica, a
 * version the file no longer holds, a block that does not check (damage,
 * or a write racing the read) — goes to the workers over HTTP as before,
 * so local reads change where bytes come from, never what they are. */
#ifndef BIGFS_FUSE_LOCAL_READ_H
#define BIGFS_FUSE_LOCAL_READ_H

#include <stddef.h>
#include <stdint.h>

struct local_read;
struct wio_chunk;
struct whealth;

/* health (borrowed) says which workers not to ask for a new descriptor.
 * 0 or -ENOMEM. */
int local_read_new(struct whealth *health, struct local_read **ret);
/* Close every kept descriptor. NULL is fine. */
void local_read_free(struct local_read *lr);

/* Read [off, off + len) of chunk c into buf from a replica on this
 * machine. 0, or -EAGAIN when none served it (read over HTTP). */
int local_read(struct local_read *lr, const struct wio_chunk *c, uint64_t off, size_t len,
	       void *buf);

#endif
