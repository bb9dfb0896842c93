/* chunk_file — the layout of a chunk file on a worker's disk, and a
 * checked read of one through a descriptor.
 *
 * A chunk is up to CHUNK_SIZE_MAX bytes of one file, identified by a 64-bit
 * id and a 32-bit version. On disk each chunk is one file made of an 8 KiB
 * header and then the data:
 *
 *   offset  size  field
 *        0     8  magic "BIGFSCK1"
 *        8     8  chunk id            (little endian)
 *       16     4  version             (little endian)
 *       20     4  data length         (little endian, <= 64 MiB)
 *       24     4  header CRC32C       (over bytes 0..23 and 32..4127)
 *       28     4  reserved, 0
 *       32  4096  1024 x CRC32C, one per 64 KiB block of data, over the
 *                 block's stored bytes (the last block may be short);
 *                 entries past the data length are 0
 *     4128  4064  zeros
 *     8192     -  data
 *
 * The worker's chunk_store owns these files and changes them under its
 * locks. chunk_file_read is for a reader that holds no lock of the
 * worker's (a mount reading a local replica through a descriptor the
 * worker handed it, docs/architecture.md "Local reads"): a write racing
 * it makes the header and the bytes disagree, which it reports as -EIO,
 * never as wrong bytes. */
#ifndef BIGFS_CHUNK_FILE_H
#define BIGFS_CHUNK_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNK_SIZE_MAX (64u * 1024 * 1024)
#define CHUNK_BLOCK_SIZE (64u * 1024)
#define CHUNK_BLOCKS (CHUNK_SIZE_MAX / CHUNK_BLOCK_SIZE)
#define CHUNK_HEADER_SIZE 8192u

#define CHUNK_FILE_MAGIC "BIGFSCK1"
#define CHUNK_FILE_MAGIC_LEN 8
#define CHUNK_FILE_OFF_ID 8
#define CHUNK_FILE_OFF_VERSION 16
#define CHUNK_FILE_OFF_LENGTH 20
#define CHUNK_FILE_OFF_HCRC 24
#define CHUNK_FILE_OFF_CRCS 32
/* The header's bytes that mean something: up to the end of the CRC table. */
#define CHUNK_FILE_HEADER_USED (CHUNK_FILE_OFF_CRCS + 4 * CHUNK_BLOCKS)
#define CHUNK_FILE_PAGE 4096u
/* CRC entries in the header's first page */
#define CHUNK_FILE_PAGE0_BLOCKS ((CHUNK_FILE_PAGE - CHUNK_FILE_OFF_CRCS) / 4)

struct chunk_header {
	uint64_t id;
	uint32_t version;
	uint32_t length;
	uint32_t crc[CHUNK_BLOCKS];
	bool page1_zero;    /* not on disk: the CRC entries in the header's
			     * second page are all 0 (a new file: a hole) */
};

/* True when every CRC entry in the header's second page is 0. */
bool chunk_header_page1_zero(const struct chunk_header *h);

/* Encode h into buf's first CHUNK_FILE_HEADER_USED bytes, header CRC
 * included. */
void chunk_header_encode(const struct chunk_header *h, unsigned char *buf);

/* Decode and check the first CHUNK_FILE_HEADER_USED bytes of the file of
 * chunk id, whose size is fsize. 0, or -EIO with *why saying what is
 * wrong (a static string). */
int chunk_header_decode(const unsigned char *buf, uint64_t id, uint64_t fsize,
			struct chunk_header *h, const char **why);

/* pread all of len bytes at off: 0, -errno, or -EIO when the file ends
 * first (it is shorter than its header says). */
int chunk_file_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* How chunk_file_read_range reads bytes: chunk_file_pread_full, or a
 * caller's variant with the same contract (the worker's read-around on
 * cached descriptors). */
typedef int (*chunk_pread_fn)(int fd, void *buf, size_t len, uint64_t off);

/* Which block did not check, for the caller's log line. */
struct chunk_bad_block {
	uint32_t block;
	uint32_t stored, computed;
};

/* Read [off, off + len) of the data of the chunk file fd, whose header h
 * the caller loaded and checked, into out, every byte checked against its
 * block's CRC: runs of whole blocks straight into out in one read, part
 * of a block read whole into block (CHUNK_BLOCK_SIZE bytes) and copied.
 * Bytes past the stored length read as zeros. 0, -errno from rd, or -EIO
 * for a block that does not check (*bad, if not NULL, says which). off +
 * len must be within CHUNK_SIZE_MAX. On failure out's contents are
 * undefined. */
int chunk_file_read_range(int fd, const struct chunk_header *h, uint64_t off, size_t len,
			  void *out, unsigned char *block, chunk_pread_fn rd,
			  struct chunk_bad_block *bad);

/* Read [off, off + len) of the data of chunk id at version from fd, an
 * open chunk file, into out, every byte checked against its block's CRC
 * (bytes past the stored length read as zeros, as a worker serves them).
 * block is a CHUNK_BLOCK_SIZE scratch buffer. Returns 0; -ENOENT when the
 * file has lost its name (deleted or replaced since fd was opened);
 * -ESTALE when it holds another version; -EIO when the header or a block
 * does not check (damage, or a write racing the read: the caller asks the
 * worker); -EINVAL for a range outside the chunk; other -errno from the
 * file system. On failure out's contents are undefined. */
int chunk_file_read(int fd, uint64_t id, uint32_t version, uint64_t off, size_t len,
		    void *out, unsigned char *block);

#endif
