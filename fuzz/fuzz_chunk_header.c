/* fuzz_chunk_header — the worker's chunk files as chunk_store reads them.
 *
 * Feeds: the input, byte for byte, as the file of chunk 0123456789abcdef
 * (its 8 KiB header with magic, id, version, length, header CRC and the
 * per-64 KiB CRC32C table, then the data) in a fresh data folder, then the
 * real worker/chunk_store.c code: chunk_store_open (the scan that decodes
 * and validates every header, quarantining bad files), chunk_store_stat,
 * chunk_store_read of the whole chunk and of an unaligned part,
 * chunk_store_read_fd, chunk_store_verify, and on a good chunk a small
 * write, a read back, a truncate and a verify. If the reserved header
 * byte 28 is odd the harness fixes the header CRC before writing the file
 * (the reserved field is not checked), so mutations of length, version
 * and the CRC table get past the header check.
 * Asserts: no crash, leak or UB; a chunk the scan indexes has the file's
 * id and a length the file holds; a successful read returns exactly the
 * file's data bytes and zeros past the length; read, read_fd's CRCs and
 * verify agree on whether the data is good; after a successful write and
 * truncate the chunk verifies and reads back what was written.
 * State: one folder under /dev/shm (or $TMPDIR), emptied before each input
 * and removed at exit. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk_store.h"
#include "crc32c.h"
#include "fuzz_util.h"

#define ID 0x0123456789abcdefULL
#define HDR_CRC_OFF 24
#define HDR_CRCS_OFF 32
#define HDR_CRCS_END (HDR_CRCS_OFF + 4 * CHUNK_BLOCKS)

static char base[64];
static char data_dir[128];
static char chunk_dir[160];
static char chunk_path[200];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (base[0])
		rm_tree(base);
}

static void setup_once(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	fuzz_quiet_logs();
	snprintf(base, sizeof(base), "%s/bigfs-fuzz-chunk.XXXXXX", tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(base));
	atexit(cleanup);
	snprintf(data_dir, sizeof(data_dir), "%s/data", base);
	snprintf(chunk_dir, sizeof(chunk_dir), "%s/chunks/cd/ef", data_dir);
	snprintf(chunk_path, sizeof(chunk_path), "%s/0123456789abcdef", chunk_dir);
}

static void write_file(const uint8_t *buf, size_t len)
{
	char p[200];

	rm_tree(data_dir);
	FUZZ_CHECK(mkdir(data_dir, 0700) == 0);
	snprintf(p, sizeof(p), "%s/chunks", data_dir);
	FUZZ_CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/chunks/cd", data_dir);
	FUZZ_CHECK(mkdir(p, 0700) == 0);
	FUZZ_CHECK(mkdir(chunk_dir, 0700) == 0);
	int fd = open(chunk_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* Whether [0, len) of the file's data matches the header's CRC table. */
static bool blocks_good(const uint8_t *file, uint32_t len)
{
	for (uint32_t off = 0, b = 0; off < len; off += CHUNK_BLOCK_SIZE, b++) {
		uint32_t n = len - off < CHUNK_BLOCK_SIZE ? len - off : CHUNK_BLOCK_SIZE;
		uint32_t want;

		memcpy(&want, file + HDR_CRCS_OFF + 4 * b, 4);
		if (crc32c(0, file + CHUNK_HEADER_SIZE + off, n) != le32toh(want))
			return false;
	}
	return true;
}

static void exercise(struct chunk_store *cs, const uint8_t *file, size_t fsize)
{
	struct chunk_info ci, vi;

	if (chunk_store_stat(cs, ID, &ci) < 0)
		return;     /* quarantined */
	FUZZ_CHECK(ci.id == ID && ci.length <= CHUNK_SIZE_MAX);
	FUZZ_CHECK(fsize >= CHUNK_HEADER_SIZE + (uint64_t)ci.length);
	bool good = blocks_good(file, ci.length);

	/* the whole chunk and a bit past its end */
	size_t want = ci.length + 1000 < CHUNK_SIZE_MAX ? ci.length + 1000 : CHUNK_SIZE_MAX;
	uint8_t *out = malloc(want);
	FUZZ_CHECK(out);
	int r = chunk_store_read(cs, ID, ci.version, 0, want, out);
	FUZZ_CHECK(r == 0 || r == -EIO);
	FUZZ_CHECK((r == 0) == good);
	if (r == 0) {
		FUZZ_CHECK(memcmp(out, file + CHUNK_HEADER_SIZE, ci.length) == 0);
		for (size_t i = ci.length; i < want; i++)
			FUZZ_CHECK(out[i] == 0);
	}
	FUZZ_CHECK(chunk_store_read(cs, ID, ci.version + 1, 0, 1, out) == -ESTALE);
	/* an unaligned part */
	if (ci.length > 2) {
		r = chunk_store_read(cs, ID, ci.version, 1, ci.length / 2, out);
		FUZZ_CHECK(r == 0 || r == -EIO);
		if (r == 0)
			FUZZ_CHECK(memcmp(out, file + CHUNK_HEADER_SIZE + 1, ci.length / 2) == 0);
		else
			FUZZ_CHECK(!good);
	}
	free(out);

	/* the sendfile path: the CRCs handed out are the header's */
	if (ci.length > 0) {
		uint32_t *crcs = malloc(CHUNK_BLOCKS * sizeof(*crcs));
		uint64_t foff;
		uint32_t nb;
		int fd;

		FUZZ_CHECK(crcs);
		r = chunk_store_read_fd(cs, ID, ci.version, 0, ci.length, &fd, &foff, crcs, &nb);
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(foff == CHUNK_HEADER_SIZE &&
			   nb == (ci.length + CHUNK_BLOCK_SIZE - 1) / CHUNK_BLOCK_SIZE);
		for (uint32_t b = 0; b < nb; b++) {
			uint32_t n = ci.length - b * CHUNK_BLOCK_SIZE;
			if (n > CHUNK_BLOCK_SIZE)
				n = CHUNK_BLOCK_SIZE;
			if (good)
				FUZZ_CHECK(crcs[b] == crc32c(0, file + CHUNK_HEADER_SIZE +
							     (size_t)b * CHUNK_BLOCK_SIZE, n));
		}
		close(fd);
		free(crcs);
	}

	r = chunk_store_verify(cs, ID, &vi);
	FUZZ_CHECK((r == 0) == good && (r == 0 || r == -EIO));
	FUZZ_CHECK(vi.id == ID && vi.version == ci.version && vi.length == ci.length);
	if (!good)
		return;

	/* a small write across the data's end, read back, truncate, verify */
	static const char msg[] = "fuzz-write";
	uint64_t woff = ci.length / 3;
	uint32_t nlen = 0, tlen = 0;
	uint8_t back[sizeof(msg)];

	r = chunk_store_write(cs, ID, ci.version, woff, msg, sizeof(msg), &nlen);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(nlen == (woff + sizeof(msg) > ci.length ? woff + sizeof(msg) : ci.length));
	FUZZ_CHECK(chunk_store_read(cs, ID, ci.version, woff, sizeof(msg), back) == 0);
	FUZZ_CHECK(memcmp(back, msg, sizeof(msg)) == 0);
	uint32_t v2 = ci.version == UINT32_MAX ? ci.version : ci.version + 1;
	FUZZ_CHECK(chunk_store_truncate(cs, ID, v2, woff + 3, &tlen) == 0);
	FUZZ_CHECK(tlen == woff + 3);
	FUZZ_CHECK(chunk_store_verify(cs, ID, &vi) == 0);
	FUZZ_CHECK(vi.version == v2 && vi.length == tlen);
	FUZZ_CHECK(chunk_store_read(cs, ID, v2, woff, 3, back) == 0);
	FUZZ_CHECK(memcmp(back, msg, 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_store *cs;
	uint8_t *file;

	if (!base[0])
		setup_once();
	file = malloc(size ? size : 1);
	FUZZ_CHECK(file);
	memcpy(file, data, size);
	if (size >= CHUNK_HEADER_SIZE && (file[28] & 1)) {
		uint32_t crc = crc32c(0, file, HDR_CRC_OFF);

		crc = htole32(crc32c(crc, file + HDR_CRCS_OFF, HDR_CRCS_END - HDR_CRCS_OFF));
		memcpy(file + HDR_CRC_OFF, &crc, 4);
	}
	write_file(file, size);
	FUZZ_CHECK(chunk_store_open(data_dir, 0, &cs) == 0);
	chunk_store_set_direct_io(cs, false);
	exercise(cs, file, size);
	chunk_store_close(cs);
	free(file);
	return 0;
}
