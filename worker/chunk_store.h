/* chunk_store — the chunk files of one worker's data folder.
 *
 * A chunk is up to CHUNK_SIZE_MAX bytes of one file, identified by a 64-bit
 * id and a 32-bit version. On disk each chunk is one file
 * DATA/chunks/XX/YY/ID (XX, YY = the id's last two bytes in hex, ID = 16
 * lowercase hex digits): an 8 KiB header (magic, id, version, length, a
 * CRC32C of the header itself, one CRC32C per 64 KiB block), then the
 * data; common/chunk_file.h has the byte layout. The header CRC keeps a
 * damaged header (a flipped bit in the length or version) from being
 * taken for a good one.
 *
 * Every function is thread-safe. Calls on different chunks run in
 * parallel; reads of one chunk run in parallel; writes, truncates, deletes
 * and replacements of one chunk are serialised. Functions return 0 or a
 * negative errno: -ENOENT (no such chunk), -ESTALE (version mismatch),
 * -EIO (the file on disk is damaged: bad header, short file, CRC
 * mismatch; the damage is logged and no byte of a bad block is returned),
 * -EINVAL (offset/length out of range), -ENOSPC (disk or configured
 * capacity full), other -errno from the file system. */
#ifndef BIGFS_WORKER_CHUNK_STORE_H
#define BIGFS_WORKER_CHUNK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_file.h"

struct chunk_store;
struct chunk_staging;

struct chunk_info {
	uint64_t id;
	uint32_t version;
	uint32_t length;
};

/* Open the store under data_dir (creating data_dir/chunks if needed) and
 * scan every chunk file into the in-memory index. Files with a bad header
 * are logged and moved to data_dir/quarantine/ (they are not reported);
 * leftover temporary files of interrupted replications are removed.
 * capacity_limit > 0 makes writes that would grow the bytes held past it
 * fail with -ENOSPC; 0 means only the disk limits. */
int chunk_store_open(const char *data_dir, uint64_t capacity_limit,
		     struct chunk_store **ret);
/* Free the store. No call may be running. NULL is fine. */
void chunk_store_close(struct chunk_store *cs);

/* Whether long page-aligned writes go to the disk with O_DIRECT (on by
 * default; the store turns it off by itself where the file system refuses
 * it). Reads always go through the page cache. */
void chunk_store_set_direct_io(struct chunk_store *cs, bool on);

/* Read [offset, offset+len) of chunk id at version into out (len bytes).
 * Bytes past the stored length read as zeros. Every 64 KiB block touched
 * is verified against its CRC first. offset+len must be <= CHUNK_SIZE_MAX. */
int chunk_store_read(struct chunk_store *cs, uint64_t id, uint32_t version,
		     uint64_t offset, size_t len, void *out);

/* The same range for a reader that checks the CRCs itself: instead of the
 * bytes, an open descriptor of the chunk file (*ret_fd, the caller closes
 * it), where the range starts in that file (*ret_file_off), and the CRC32C
 * of every block of the range (crcs[0..*ret_nblocks-1], crcs has room for
 * one per block the range touches, (len + CHUNK_BLOCK_SIZE - 1) /
 * CHUNK_BLOCK_SIZE). Only for a range of whole stored blocks: offset on a block
 * boundary, the end on one or at the stored length, nothing past it;
 * anything else is -EAGAIN (use chunk_store_read). The bytes are read
 * after the chunk's lock is let go, so a concurrent write may change
 * them: a CRC mismatch the reader sees is a reason to read again through
 * chunk_store_read, which verifies under the lock, not proof of damage. */
int chunk_store_read_fd(struct chunk_store *cs, uint64_t id, uint32_t version,
			uint64_t offset, size_t len, int *ret_fd, uint64_t *ret_file_off,
			uint32_t *crcs, uint32_t *ret_nblocks);

/* Write len bytes at offset (offset+len <= CHUNK_SIZE_MAX). An absent chunk
 * is created; a chunk stored at an older version moves to version; a newer
 * stored version is -ESTALE. Bytes between the old length and offset read
 * as zeros. *ret_length (may be NULL) gets the new data length. A write
 * into part of a damaged block leaves it damaged (its reads stay -EIO
 * until a write covers all of it); one that grows a damaged block, which
 * has to read it, is -EIO. */
int chunk_store_write(struct chunk_store *cs, uint64_t id, uint32_t version,
		      uint64_t offset, const void *data, size_t len,
		      uint32_t *ret_length);

/* Set the data length (<= CHUNK_SIZE_MAX); growing adds zeros. Version
 * rules and creation as for chunk_store_write. */
int chunk_store_truncate(struct chunk_store *cs, uint64_t id, uint32_t version,
			 uint64_t length, uint32_t *ret_length);

/* Make chunk id at version durable: its data, and its name when the file
 * was created since its last fsync (or found at open): then its folder is
 * fsynced, and the parent of each folder on its path made since that
 * parent's last fsync. Writes and truncates sync nothing themselves.
 * -ESTALE if stored at another version. */
int chunk_store_fsync(struct chunk_store *cs, uint64_t id, uint32_t version);

/* How many fsyncs the store has done: of chunk files (chunk_store_fsync)
 * and of folders (for new names: fsync, replication, clone). */
void chunk_store_fsyncs(struct chunk_store *cs, uint64_t *ret_files, uint64_t *ret_folders);

/* A new read-only descriptor of chunk id's file, whose header says it is
 * at version (-ESTALE otherwise), for a reader outside the worker (a
 * local mount, local_reads.h): it reads through chunk_file_read, without
 * the store's locks. 0 or -errno. */
int chunk_store_open_read(struct chunk_store *cs, uint64_t id, uint32_t version, int *ret_fd);

/* Read and check every block of chunk id (header, length, CRCs) as it is
 * on disk now; for the scrubber. *ret gets its id, version and length
 * when the header is readable (also on -EIO from a bad block). */
int chunk_store_verify(struct chunk_store *cs, uint64_t id, struct chunk_info *ret);

/* Remove chunk id, whatever its version; absent is success. */
int chunk_store_delete(struct chunk_store *cs, uint64_t id);
/* Remove chunk id only if it is stored at a version <= max_version (for
 * the master's delete list, which may race with a newer write). Absent or
 * newer is success, nothing done. */
int chunk_store_delete_upto(struct chunk_store *cs, uint64_t id,
			    uint32_t max_version);

/* Version and length of one chunk from the index. */
int chunk_store_stat(struct chunk_store *cs, uint64_t id, struct chunk_info *ret);

/* Every chunk in the index, in no particular order. *ret is malloc'ed
 * (caller frees; NULL when *ret_n is 0). */
int chunk_store_list(struct chunk_store *cs, struct chunk_info **ret, size_t *ret_n);

/* Count of chunks and bytes their files hold (header + data). */
void chunk_store_usage(struct chunk_store *cs, uint64_t *ret_chunks,
		       uint64_t *ret_bytes);

/* The capacity this worker offers and the bytes its chunks use: the
 * configured capacity limit (else the size of the data folder's file
 * system), no more than used + what the file system still has free, and
 * never less than used. */
void chunk_store_space(struct chunk_store *cs, uint64_t *ret_capacity, uint64_t *ret_used);

/* Whole-chunk replacement (replication). Bytes are appended to a temporary
 * file in order; commit writes the header, fsyncs and renames it over the
 * chunk atomically (readers see the old or the new chunk, never a mix).
 * Commit is -ESTALE if the chunk meanwhile got a version newer than the
 * staged one. Commit and abort free the staging whatever the result. */
int chunk_store_stage_begin(struct chunk_store *cs, uint64_t id, uint32_t version,
			    struct chunk_staging **ret);
int chunk_store_stage_append(struct chunk_staging *st, const void *data, size_t len);
int chunk_store_stage_commit(struct chunk_staging *st, uint32_t *ret_length);
void chunk_store_stage_abort(struct chunk_staging *st);

/* Clone (snapshots, copy-on-write at chunk granularity): copy chunk
 * old_id, which must be stored at old_version, into a new chunk new_id at
 * new_version with the same data length and bytes and a header of its
 * own. Every block read is checked against the source's CRC first (a bad
 * one is -EIO and no clone is made); the copy is staged in a temporary
 * file, fsynced and renamed into place (a crash leaves the old state of
 * new_id, never half a chunk; a leftover temporary file is removed at the
 * next open), and its folders are fsynced. When new_id is stored already:
 * at new_version with the same length, nothing is done (a retried clone,
 * success); at new_version with another length -EEXIST (it was written
 * since); at an older version it is replaced; at a newer one -ESTALE.
 * Errors: -ENOENT (no old_id), -ESTALE (old_id at another version, or
 * new_id newer), -EIO (a bad block or header in old_id), -EINVAL (old_id
 * == new_id), -EEXIST, -ENOSPC, other -errno from the file system.
 * *ret_length (may be NULL) gets the length on success. */
int chunk_store_clone(struct chunk_store *cs, uint64_t old_id, uint32_t old_version,
		      uint64_t new_id, uint32_t new_version, uint32_t *ret_length);

#endif
