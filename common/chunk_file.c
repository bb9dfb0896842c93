/* chunk_file — chunk file layout and a checked read (see chunk_file.h). */
#include "chunk_file.h"

#include "crc32c.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t chunk_header_crc(const unsigned char *buf)
{
	uint32_t crc = crc32c(0, buf, CHUNK_FILE_OFF_HCRC);

	return crc32c(crc, buf + CHUNK_FILE_OFF_CRCS,
		      CHUNK_FILE_HEADER_USED - CHUNK_FILE_OFF_CRCS);
}

bool chunk_header_page1_zero(const struct chunk_header *h)
{
	for (unsigned i = CHUNK_FILE_PAGE0_BLOCKS; i < CHUNK_BLOCKS; i++)
		if (h->crc[i] != 0)
			return false;
	return true;
}

void chunk_header_encode(const struct chunk_header *h, unsigned char *buf)
{
	uint64_t v64;
	uint32_t v32;

	memset(buf, 0, CHUNK_FILE_OFF_CRCS);
	memcpy(buf, CHUNK_FILE_MAGIC, CHUNK_FILE_MAGIC_LEN);
	v64 = htole64(h->id);
	memcpy(buf + CHUNK_FILE_OFF_ID, &v64, 8);
	v32 = htole32(h->version);
	memcpy(buf + CHUNK_FILE_OFF_VERSION, &v32, 4);
	v32 = htole32(h->length);
	memcpy(buf + CHUNK_FILE_OFF_LENGTH, &v32, 4);
	for (unsigned i = 0; i < CHUNK_BLOCKS; i++) {
		v32 = htole32(h->crc[i]);
		memcpy(buf + CHUNK_FILE_OFF_CRCS + 4 * i, &v32, 4);
	}
	v32 = htole32(chunk_header_crc(buf));
	memcpy(buf + CHUNK_FILE_OFF_HCRC, &v32, 4);
}

int chunk_header_decode(const unsigned char *buf, uint64_t id, uint64_t fsize,
			struct chunk_header *h, const char **why)
{
	uint64_t v64;
	uint32_t v32;

	if (memcmp(buf, CHUNK_FILE_MAGIC, CHUNK_FILE_MAGIC_LEN) != 0) {
		*why = "bad magic";
		return -EIO;
	}
	memcpy(&v32, buf + CHUNK_FILE_OFF_HCRC, 4);
	if (le32toh(v32) != chunk_header_crc(buf)) {
		*why = "header CRC mismatch";
		return -EIO;
	}
	memcpy(&v64, buf + CHUNK_FILE_OFF_ID, 8);
	h->id = le64toh(v64);
	if (h->id != id) {
		*why = "id in header differs from file name";
		return -EIO;
	}
	memcpy(&v32, buf + CHUNK_FILE_OFF_VERSION, 4);
	h->version = le32toh(v32);
	memcpy(&v32, buf + CHUNK_FILE_OFF_LENGTH, 4);
	h->length = le32toh(v32);
	if (h->length > CHUNK_SIZE_MAX) {
		*why = "length beyond 64 MiB";
		return -EIO;
	}
	if (fsize < (uint64_t)CHUNK_HEADER_SIZE + h->length) {
		*why = "file shorter than header + length";
		return -EIO;
	}
	for (unsigned i = 0; i < CHUNK_BLOCKS; i++) {
		memcpy(&v32, buf + CHUNK_FILE_OFF_CRCS + 4 * i, 4);
		h->crc[i] = le32toh(v32);
	}
	h->page1_zero = chunk_header_page1_zero(h);
	return 0;
}

int chunk_file_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;    /* the file is shorter than its header says */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int chunk_file_read_range(int fd, const struct chunk_header *h, uint64_t off, size_t len,
			  void *out, unsigned char *block, chunk_pread_fn rd,
			  struct chunk_bad_block *bad)
{
	unsigned char *dst = out;
	uint64_t end = off + len, pos = off;
	uint64_t stored_end = end < h->length ? end : h->length;
	int r;

	while (pos < stored_end) {
		uint32_t b = (uint32_t)(pos / CHUNK_BLOCK_SIZE);
		uint64_t bstart = (uint64_t)b * CHUNK_BLOCK_SIZE;
		uint64_t bend = bstart + CHUNK_BLOCK_SIZE < h->length ? bstart + CHUNK_BLOCK_SIZE
								       : h->length;
		/* a run of whole blocks goes straight into out, one read; part
		 * of a block is read whole into block, checked, and copied */
		bool whole = pos == bstart && bend <= stored_end;
		uint64_t run_end = bend;
		unsigned char *into = whole ? dst + (pos - off) : block;

		while (whole && run_end < stored_end) {
			uint64_t next = run_end + CHUNK_BLOCK_SIZE < h->length
						? run_end + CHUNK_BLOCK_SIZE : h->length;

			if (next > stored_end)
				break;
			run_end = next;
		}
		r = rd(fd, into, run_end - bstart, CHUNK_HEADER_SIZE + bstart);
		if (r < 0)
			return r;
		for (uint64_t s = bstart; s < run_end; s += CHUNK_BLOCK_SIZE, b++) {
			uint64_t n = run_end - s < CHUNK_BLOCK_SIZE ? run_end - s : CHUNK_BLOCK_SIZE;
			uint32_t crc = crc32c(0, into + (s - bstart), n);

			if (crc != h->crc[b]) {
				if (bad)
					*bad = (struct chunk_bad_block){ b, h->crc[b], crc };
				return -EIO;
			}
		}
		if (whole) {
			pos = run_end;
		} else {
			uint64_t upto = bend < stored_end ? bend : stored_end;

			memcpy(dst + (pos - off), block + (pos - bstart), upto - pos);
			pos = upto;
		}
	}
	if (end > stored_end) {
		uint64_t z = off > stored_end ? off : stored_end;

		memset(dst + (z - off), 0, end - z);
	}
	return 0;
}

int chunk_file_read(int fd, uint64_t id, uint32_t version, uint64_t off, size_t len,
		    void *out, unsigned char *block)
{
	struct chunk_header h;
	struct stat st;
	const char *why;
	int r;

	if (off > CHUNK_SIZE_MAX || len > CHUNK_SIZE_MAX - off)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_nlink == 0)
		return -ENOENT;
	if ((uint64_t)st.st_size < CHUNK_HEADER_SIZE)
		return -EIO;
	r = chunk_file_pread_full(fd, block, CHUNK_FILE_HEADER_USED, 0);
	if (r < 0)
		return r;
	r = chunk_header_decode(block, id, (uint64_t)st.st_size, &h, &why);
	if (r < 0)
		return r;
	if (h.version != version)
		return -ESTALE;
	return chunk_file_read_range(fd, &h, off, len, out, block, chunk_file_pread_full, NULL);
}
