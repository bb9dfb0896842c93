/* Unit tests of worker/chunk_store: data round trips against an in-memory
 * model, version rules, truncate, delete, reopen, staging, capacity,
 * damaged files on disk (flipped data bytes, short files, bad headers),
 * clones (bytes and CRCs, errors, retries, leftover temporary files), which
 * folders an fsync syncs (the names of new chunks, nothing before it is
 * asked), and how new chunk files are made (one page of header, files put
 * there or taken away from outside), CRCs patched by partial writes and
 * cached descriptors that follow files replaced from outside, and how
 * many of them are kept. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_tree.h"

#include "../../worker/chunk_store.h"
#include "crc32c.h"
#include "log.h"

#define BS CHUNK_BLOCK_SIZE
#define HDR CHUNK_HEADER_SIZE

struct fixture {
	char dir[64];
	struct chunk_store *cs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_chunk_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chunk_store_open(f->dir, 0, &f->cs), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chunk_store_close(f->cs);
	tmp_tree_remove(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	chunk_store_close(f->cs);
	f->cs = NULL;
	assert_int_equal(chunk_store_open(f->dir, 0, &f->cs), 0);
}

static void chunk_path(const struct fixture *f, uint64_t id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/chunks/%02x/%02x/%016llx", f->dir,
		 (unsigned)((id >> 8) & 0xff), (unsigned)(id & 0xff), (unsigned long long)id);
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);

	assert_non_null(p);
	srand(seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rand() >> 7);
	return p;
}

/* Compare the chunk's bytes [off, off+len) with model (model_len long). */
static void check_range(struct chunk_store *cs, uint64_t id, uint32_t v, const unsigned char *model,
			size_t model_len, size_t off, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	memset(buf, 0xAA, len);
	assert_int_equal(chunk_store_read(cs, id, v, off, len, buf), 0);
	for (size_t i = 0; i < len; i++) {
		unsigned char want = off + i < model_len ? model[off + i] : 0;

		if (buf[i] != want)
			fail_msg("byte %zu differs: got %02x want %02x", off + i, buf[i], want);
	}
	free(buf);
}

static void flip_byte(const struct fixture *f, uint64_t id, uint64_t file_off)
{
	char path[256];
	unsigned char c;
	int fd;

	chunk_path(f, id, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)file_off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)file_off), 1);
	close(fd);
}

/* ---- tests -------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS + 1234, off = 30000;
	unsigned char *data = random_bytes(n, 1);
	unsigned char *model = calloc(1, off + n);
	uint32_t len = 0;

	memcpy(model + off, data, n);
	assert_int_equal(chunk_store_write(f->cs, 42, 1, off, data, n, &len), 0);
	assert_int_equal(len, off + n);
	check_range(f->cs, 42, 1, model, off + n, 0, off + n);
	check_range(f->cs, 42, 1, model, off + n, 1, 10);
	check_range(f->cs, 42, 1, model, off + n, BS - 5, 10);
	check_range(f->cs, 42, 1, model, off + n, BS, BS);
	check_range(f->cs, 42, 1, model, off + n, BS + 7, 2 * BS);
	check_range(f->cs, 42, 1, model, off + n, off + n - 3, 3);
	check_range(f->cs, 42, 1, model, off + n, 0, 0);
	free(data);
	free(model);
}

static void test_partial_rewrite(void **state)
{
	struct fixture *f = *state;
	size_t n = 4 * BS;
	unsigned char *model = random_bytes(n, 2);
	unsigned char *patch = random_bytes(300, 3);

	assert_int_equal(chunk_store_write(f->cs, 7, 1, 0, model, n, NULL), 0);
	/* inside one block, then straddling blocks 1/2 */
	assert_int_equal(chunk_store_write(f->cs, 7, 1, BS + 100, patch, 100, NULL), 0);
	memcpy(model + BS + 100, patch, 100);
	assert_int_equal(chunk_store_write(f->cs, 7, 1, 2 * BS - 150, patch, 300, NULL), 0);
	memcpy(model + 2 * BS - 150, patch, 300);
	check_range(f->cs, 7, 1, model, n, 0, n);
	reopen(f);
	check_range(f->cs, 7, 1, model, n, 0, n);
	free(model);
	free(patch);
}

static void test_read_past_length(void **state)
{
	struct fixture *f = *state;
	unsigned char data[100];
	unsigned char *buf = malloc(2 * BS);

	memset(data, 0x5A, sizeof(data));
	assert_int_equal(chunk_store_write(f->cs, 9, 3, 0, data, sizeof(data), NULL), 0);
	check_range(f->cs, 9, 3, data, sizeof(data), 50, 2 * BS);
	check_range(f->cs, 9, 3, data, sizeof(data), 5 * BS, 1000);
	check_range(f->cs, 9, 3, data, sizeof(data), CHUNK_SIZE_MAX - 10, 10);
	assert_int_equal(chunk_store_read(f->cs, 9, 3, CHUNK_SIZE_MAX - 10, 11, buf), -EINVAL);
	assert_int_equal(chunk_store_read(f->cs, 9, 3, CHUNK_SIZE_MAX + 1ull, 0, buf), -EINVAL);
	assert_int_equal(chunk_store_write(f->cs, 9, 3, CHUNK_SIZE_MAX - 1, data, 2, NULL), -EINVAL);
	free(buf);
}

static void test_sparse_extend(void **state)
{
	struct fixture *f = *state;
	size_t total = 5 * BS + 10;
	unsigned char *model = calloc(1, total);
	unsigned char a[1000], b[1000];

	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	assert_int_equal(chunk_store_write(f->cs, 11, 1, 10, a, sizeof(a), NULL), 0);
	memcpy(model + 10, a, sizeof(a));
	assert_int_equal(chunk_store_write(f->cs, 11, 1, total - sizeof(b), b, sizeof(b), NULL), 0);
	memcpy(model + total - sizeof(b), b, sizeof(b));
	check_range(f->cs, 11, 1, model, total, 0, total);
	free(model);
}

static void test_versions(void **state)
{
	struct fixture *f = *state;
	unsigned char d[10] = "0123456789", buf[10];
	struct chunk_info ci;

	assert_int_equal(chunk_store_read(f->cs, 5, 1, 0, 10, buf), -ENOENT);
	assert_int_equal(chunk_store_fsync(f->cs, 5, 1), -ENOENT);
	assert_int_equal(chunk_store_write(f->cs, 5, 2, 0, d, 10, NULL), 0);
	assert_int_equal(chunk_store_read(f->cs, 5, 1, 0, 10, buf), -ESTALE);
	assert_int_equal(chunk_store_read(f->cs, 5, 3, 0, 10, buf), -ESTALE);
	assert_int_equal(chunk_store_write(f->cs, 5, 1, 0, d, 10, NULL), -ESTALE);
	assert_int_equal(chunk_store_truncate(f->cs, 5, 1, 0, NULL), -ESTALE);
	assert_int_equal(chunk_store_fsync(f->cs, 5, 3), -ESTALE);
	assert_int_equal(chunk_store_fsync(f->cs, 5, 2), 0);
	/* a newer version moves the chunk forward and keeps the data */
	assert_int_equal(chunk_store_write(f->cs, 5, 3, 2, d, 3, NULL), 0);
	assert_int_equal(chunk_store_read(f->cs, 5, 2, 0, 10, buf), -ESTALE);
	assert_int_equal(chunk_store_read(f->cs, 5, 3, 0, 10, buf), 0);
	assert_memory_equal(buf, "0101256789", 10);
	assert_int_equal(chunk_store_stat(f->cs, 5, &ci), 0);
	assert_int_equal(ci.version, 3);
	assert_int_equal(ci.length, 10);
	assert_int_equal(chunk_store_truncate(f->cs, 5, 4, 10, NULL), 0);
	assert_int_equal(chunk_store_stat(f->cs, 5, &ci), 0);
	assert_int_equal(ci.version, 4);
}

static void test_truncate(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS + 500;
	unsigned char *model = random_bytes(4 * BS, 4);
	uint32_t len;

	assert_int_equal(chunk_store_write(f->cs, 3, 1, 0, model, n, NULL), 0);
	assert_int_equal(chunk_store_truncate(f->cs, 3, 1, BS + 77, &len), 0);
	assert_int_equal(len, BS + 77);
	check_range(f->cs, 3, 1, model, BS + 77, 0, 3 * BS);
	/* grow again: zeros, not the old bytes */
	assert_int_equal(chunk_store_truncate(f->cs, 3, 1, 2 * BS + 1000, &len), 0);
	memset(model + BS + 77, 0, 2 * BS);
	check_range(f->cs, 3, 1, model, 2 * BS + 1000, 0, 3 * BS);
	/* write after a grow inside the zero region */
	assert_int_equal(chunk_store_write(f->cs, 3, 1, 2 * BS - 10, "abcdefghijklmnopqrst", 20, NULL), 0);
	memcpy(model + 2 * BS - 10, "abcdefghijklmnopqrst", 20);
	check_range(f->cs, 3, 1, model, 2 * BS + 1000, 0, 3 * BS);
	assert_int_equal(chunk_store_truncate(f->cs, 3, 1, 0, &len), 0);
	assert_int_equal(len, 0);
	check_range(f->cs, 3, 1, model, 0, 0, BS);
	/* truncate of an absent chunk creates it */
	assert_int_equal(chunk_store_truncate(f->cs, 99, 1, 5000, &len), 0);
	check_range(f->cs, 99, 1, model, 0, 0, 6000);
	assert_int_equal(chunk_store_truncate(f->cs, 99, 1, CHUNK_SIZE_MAX + 1ull, &len), -EINVAL);
	reopen(f);
	check_range(f->cs, 3, 1, model, 0, 0, BS);
	free(model);
}

static void test_delete_list_reopen(void **state)
{
	struct fixture *f = *state;
	struct chunk_info *list;
	size_t n;
	uint64_t chunks, bytes;
	unsigned char d[100] = { 1 };

	for (uint64_t id = 1; id <= 50; id++)
		assert_int_equal(chunk_store_write(f->cs, id * 0x10001, (uint32_t)id, 0, d,
						   (size_t)id, NULL), 0);
	assert_int_equal(chunk_store_delete(f->cs, 2 * 0x10001), 0);
	assert_int_equal(chunk_store_delete(f->cs, 2 * 0x10001), 0);   /* absent: fine */
	assert_int_equal(chunk_store_delete_upto(f->cs, 3 * 0x10001, 2), 0); /* newer: kept */
	assert_int_equal(chunk_store_delete_upto(f->cs, 4 * 0x10001, 4), 0); /* removed */
	chunk_store_usage(f->cs, &chunks, &bytes);
	assert_int_equal(chunks, 48);
	reopen(f);
	chunk_store_usage(f->cs, &chunks, &bytes);
	assert_int_equal(chunks, 48);
	assert_int_equal(chunk_store_list(f->cs, &list, &n), 0);
	assert_int_equal(n, 48);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = list[i].id / 0x10001;

		assert_int_equal(list[i].id % 0x10001, 0);
		assert_true(k != 2 && k != 4);
		assert_int_equal(list[i].version, k);
		assert_int_equal(list[i].length, k);
	}
	free(list);
	{
		uint64_t want = 0;

		for (uint64_t k = 1; k <= 50; k++)
			if (k != 2 && k != 4)
				want += HDR + k;
		assert_int_equal(bytes, want);
	}
	check_range(f->cs, 3 * 0x10001, 3, d, 3, 0, 10);
}

static void test_corrupt_data(void **state)
{
	struct fixture *f = *state;
	size_t n = 4 * BS;
	unsigned char *model = random_bytes(n, 5);
	unsigned char *buf = malloc(n);

	struct chunk_info ci;

	assert_int_equal(chunk_store_write(f->cs, 21, 1, 0, model, n, NULL), 0);
	assert_int_equal(chunk_store_verify(f->cs, 21, &ci), 0);
	assert_int_equal(ci.length, n);
	flip_byte(f, 21, HDR + 2 * BS + 17);
	assert_int_equal(chunk_store_verify(f->cs, 21, &ci), -EIO);
	assert_int_equal(ci.version, 1);
	assert_int_equal(chunk_store_read(f->cs, 21, 1, 2 * BS + 100, 10, buf), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 21, 1, 0, n, buf), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 21, 1, BS, 2 * BS, buf), -EIO);
	/* other blocks are fine */
	check_range(f->cs, 21, 1, model, n, 0, 2 * BS);
	check_range(f->cs, 21, 1, model, n, 3 * BS, BS);
	/* a partial write into the bad block does not bless it: its CRC is
	 * patched for the new bytes, so the old damage still shows */
	assert_int_equal(chunk_store_write(f->cs, 21, 1, 2 * BS + 5, "x", 1, NULL), 0);
	model[2 * BS + 5] = 'x';
	assert_int_equal(chunk_store_read(f->cs, 21, 1, 2 * BS, 10, buf), -EIO);
	assert_int_equal(chunk_store_verify(f->cs, 21, &ci), -EIO);
	/* nor does one that overwrites the damaged byte among others: the
	 * block reads as damaged until a whole-block write */
	assert_int_equal(chunk_store_write(f->cs, 21, 1, 2 * BS, model + 2 * BS, 100, NULL), 0);
	assert_int_equal(chunk_store_read(f->cs, 21, 1, 2 * BS + 4000, 10, buf), -EIO);
	/* a whole-block overwrite repairs it */
	assert_int_equal(chunk_store_write(f->cs, 21, 1, 2 * BS, model + 2 * BS, BS, NULL), 0);
	check_range(f->cs, 21, 1, model, n, 0, n);
	assert_int_equal(chunk_store_verify(f->cs, 21, &ci), 0);
	free(model);
	free(buf);
}

/* The sendfile path: a descriptor, where the range starts in it, and the
 * block CRCs, only for whole stored blocks; no verification of its own. */
static void test_read_fd(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS + BS / 2;
	unsigned char *model = random_bytes(n, 11);
	unsigned char *buf = malloc(n);
	uint32_t *crcs = calloc(CHUNK_BLOCKS, sizeof(*crcs));
	uint64_t foff;
	uint32_t nb;
	int fd;

	assert_non_null(buf);
	assert_non_null(crcs);
	assert_int_equal(chunk_store_write(f->cs, 31, 2, 0, model, n, NULL), 0);
	/* whole blocks, and a range that ends at the stored length */
	static const struct { size_t off, len; uint32_t nb; } ok[] = {
		{0, 2 * BS, 2}, {BS, 2 * BS + BS / 2, 3}, {3 * BS, BS / 2, 1}, {0, 3 * BS + BS / 2, 4},
	};
	for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, ok[k].off, ok[k].len, &fd, &foff,
						     crcs, &nb), 0);
		assert_int_equal(nb, ok[k].nb);
		assert_int_equal(foff, HDR + ok[k].off);
		assert_int_equal(pread(fd, buf, ok[k].len, (off_t)foff), (ssize_t)ok[k].len);
		assert_memory_equal(buf, model + ok[k].off, ok[k].len);
		for (uint32_t i = 0; i < nb; i++) {
			size_t bl = ok[k].len - i * BS < BS ? ok[k].len - i * BS : BS;

			assert_int_equal(crcs[i], crc32c(0, model + ok[k].off + i * BS, bl));
		}
		close(fd);
	}
	/* anything else is for chunk_store_read */
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, 100, BS, &fd, &foff, crcs, &nb), -EAGAIN);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, 0, BS + 10, &fd, &foff, crcs, &nb),
			 -EAGAIN);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, 0, 4 * BS, &fd, &foff, crcs, &nb), -EAGAIN);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, 0, 0, &fd, &foff, crcs, &nb), -EAGAIN);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, CHUNK_SIZE_MAX, 1, &fd, &foff, crcs, &nb),
			 -EINVAL);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 3, 0, BS, &fd, &foff, crcs, &nb), -ESTALE);
	assert_int_equal(chunk_store_read_fd(f->cs, 32, 1, 0, BS, &fd, &foff, crcs, &nb), -ENOENT);
	/* a damaged block is handed out as it is: its CRC tells the reader */
	flip_byte(f, 31, HDR + BS + 3);
	assert_int_equal(chunk_store_read_fd(f->cs, 31, 2, BS, BS, &fd, &foff, crcs, &nb), 0);
	assert_int_equal(pread(fd, buf, BS, (off_t)foff), (ssize_t)BS);
	assert_int_not_equal(crcs[0], crc32c(0, buf, BS));
	close(fd);
	assert_int_equal(chunk_store_read(f->cs, 31, 2, BS, BS, buf), -EIO);
	free(model);
	free(buf);
	free(crcs);
}

static void test_short_file(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS;
	unsigned char *model = random_bytes(n, 6);
	unsigned char *buf = malloc(n);
	char path[256];

	assert_int_equal(chunk_store_write(f->cs, 22, 1, 0, model, n, NULL), 0);
	chunk_path(f, 22, path, sizeof(path));
	assert_int_equal(truncate(path, HDR + BS + 3), 0);
	assert_int_equal(chunk_store_read(f->cs, 22, 1, 0, 10, buf), -EIO);
	{
		struct chunk_info ci;

		assert_int_equal(chunk_store_verify(f->cs, 22, &ci), -EIO);
		assert_int_equal(chunk_store_verify(f->cs, 12345, &ci), -ENOENT);
	}
	assert_int_equal(chunk_store_write(f->cs, 22, 1, 0, "a", 1, NULL), -EIO);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(chunk_store_read(f->cs, 22, 1, 0, 10, buf), -EIO);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(chunk_store_read(f->cs, 22, 1, 0, 10, buf), -EIO);
	assert_int_equal(chunk_store_truncate(f->cs, 22, 1, 0, NULL), -EIO);
	/* delete still works, then the id is free again */
	assert_int_equal(chunk_store_delete(f->cs, 22), 0);
	assert_int_equal(chunk_store_read(f->cs, 22, 1, 0, 10, buf), -ENOENT);
	free(model);
	free(buf);
}

static void test_bad_header(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[16];
	struct chunk_info *list;
	size_t n;
	char qdir[128];
	struct stat st;

	assert_int_equal(chunk_store_write(f->cs, 23, 1, 0, "hello", 5, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 24, 1, 0, "world", 5, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 25, 1, 0, "again", 5, NULL), 0);
	flip_byte(f, 23, 0);         /* magic */
	flip_byte(f, 24, 20);        /* length: caught by the header CRC */
	flip_byte(f, 25, 32 + 1);    /* a block CRC in the header */
	assert_int_equal(chunk_store_read(f->cs, 23, 1, 0, 5, buf), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 24, 1, 0, 5, buf), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 25, 1, 0, 5, buf), -EIO);
	/* a stray file and a leftover temporary file */
	{
		char p[256];
		FILE *fp;

		snprintf(p, sizeof(p), "%s/chunks/00/17/not-a-chunk", f->dir);
		fp = fopen(p, "w");
		assert_non_null(fp);
		fclose(fp);
		snprintf(p, sizeof(p), "%s/chunks/00/17/.0000000000000017.abcdef", f->dir);
		fp = fopen(p, "w");
		assert_non_null(fp);
		fclose(fp);
	}
	reopen(f);
	assert_int_equal(chunk_store_list(f->cs, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
	snprintf(qdir, sizeof(qdir), "%s/quarantine", f->dir);
	assert_int_equal(stat(qdir, &st), 0);
	assert_int_equal(chunk_store_read(f->cs, 23, 1, 0, 5, buf), -ENOENT);
	/* the id can be written anew */
	assert_int_equal(chunk_store_write(f->cs, 23, 2, 0, "fresh", 5, NULL), 0);
	check_range(f->cs, 23, 2, (const unsigned char *)"fresh", 5, 0, 5);
}

static void test_staging(void **state)
{
	struct fixture *f = *state;
	size_t n = 2 * BS + 333;
	unsigned char *model = random_bytes(n, 7);
	struct chunk_staging *st;
	uint32_t len = 0;

	assert_int_equal(chunk_store_write(f->cs, 30, 1, 0, "old", 3, NULL), 0);
	assert_int_equal(chunk_store_stage_begin(f->cs, 30, 5, &st), 0);
	/* odd piece sizes: CRCs chain across pieces within a block */
	assert_int_equal(chunk_store_stage_append(st, model, 1000), 0);
	assert_int_equal(chunk_store_stage_append(st, model + 1000, BS), 0);
	assert_int_equal(chunk_store_stage_append(st, model + 1000 + BS, n - 1000 - BS), 0);
	/* the old copy is still served while staging */
	check_range(f->cs, 30, 1, (const unsigned char *)"old", 3, 0, 3);
	assert_int_equal(chunk_store_stage_commit(st, &len), 0);
	assert_int_equal(len, n);
	check_range(f->cs, 30, 5, model, n, 0, n + 10);
	reopen(f);
	check_range(f->cs, 30, 5, model, n, 0, n + 10);
	/* an older staged version loses */
	assert_int_equal(chunk_store_stage_begin(f->cs, 30, 4, &st), 0);
	assert_int_equal(chunk_store_stage_append(st, "x", 1), 0);
	assert_int_equal(chunk_store_stage_commit(st, &len), -ESTALE);
	check_range(f->cs, 30, 5, model, n, 0, n);
	/* abort leaves nothing behind */
	assert_int_equal(chunk_store_stage_begin(f->cs, 31, 1, &st), 0);
	assert_int_equal(chunk_store_stage_append(st, "x", 1), 0);
	chunk_store_stage_abort(st);
	{
		unsigned char b[1];

		assert_int_equal(chunk_store_read(f->cs, 31, 1, 0, 1, b), -ENOENT);
	}
	/* empty chunk */
	assert_int_equal(chunk_store_stage_begin(f->cs, 32, 1, &st), 0);
	assert_int_equal(chunk_store_stage_commit(st, &len), 0);
	assert_int_equal(len, 0);
	check_range(f->cs, 32, 1, model, 0, 0, 10);
	free(model);
}

static void test_capacity(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = random_bytes(BS, 8);
	uint64_t chunks, bytes;

	chunk_store_close(f->cs);
	assert_int_equal(chunk_store_open(f->dir, 3 * (HDR + BS), &f->cs), 0);
	assert_int_equal(chunk_store_write(f->cs, 1, 1, 0, data, BS, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 2, 1, 0, data, BS, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 3, 1, 0, data, BS, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 4, 1, 0, data, 1, NULL), -ENOSPC);
	assert_int_equal(chunk_store_write(f->cs, 3, 1, BS, data, 1, NULL), -ENOSPC);
	/* rewriting in place needs no space */
	assert_int_equal(chunk_store_write(f->cs, 3, 1, 0, data, BS, NULL), 0);
	assert_int_equal(chunk_store_delete(f->cs, 2), 0);
	assert_int_equal(chunk_store_write(f->cs, 4, 1, 0, data, 10, NULL), 0);
	chunk_store_usage(f->cs, &chunks, &bytes);
	assert_int_equal(chunks, 3);
	assert_int_equal(bytes, 3 * HDR + 2 * BS + 10);
	free(data);
}

/* Random writes, truncates and reads against a model. */
static void test_random_model(void **state)
{
	struct fixture *f = *state;
	size_t cap = 12 * BS;
	unsigned char *model = calloc(1, cap);
	unsigned char *data = random_bytes(cap, 9);
	size_t len = 0;
	uint32_t slen;

	srand(1234);
	for (int i = 0; i < 400; i++) {
		int op = rand() % 10;
		size_t off = (size_t)rand() % cap;
		size_t n = (size_t)rand() % (cap - off + 1);

		if (n > 3 * BS)
			n = (size_t)rand() % (3 * BS);
		if (off + n > cap)
			n = cap - off;
		if (op < 5) {
			assert_int_equal(chunk_store_write(f->cs, 77, 1, off, data + (i * 13) % BS, n,
							   &slen), 0);
			memcpy(model + off, data + (i * 13) % BS, n);
			if (n > 0 && off + n > len)
				len = off + n;
			assert_int_equal(slen, len);
		} else if (op < 6) {
			assert_int_equal(chunk_store_truncate(f->cs, 77, 1, off, &slen), 0);
			if (off < len)
				memset(model + off, 0, len - off);
			len = off;
			assert_int_equal(slen, len);
		} else {
			check_range(f->cs, 77, 1, model, len, off, n);
		}
	}
	check_range(f->cs, 77, 1, model, len, 0, cap);
	free(model);
	free(data);
}

struct thr_arg {
	struct chunk_store *cs;
	uint64_t id;
	int err;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;
	unsigned char *w = malloc(BS * 4), *r = malloc(BS * 4);

	for (int i = 0; i < 50 && !a->err; i++) {
		memset(w, (int)(a->id + (uint64_t)i), BS * 4);
		if (chunk_store_write(a->cs, a->id % 3, (uint32_t)1, 0, w, BS * 4, NULL) < 0)
			a->err = 1;
		/* a read sees one whole write, never a mix */
		if (chunk_store_read(a->cs, a->id % 3, 1, 0, BS * 4, r) < 0)
			a->err = 2;
		for (size_t k = 1; k < BS * 4 && !a->err; k++)
			if (r[k] != r[0])
				a->err = 3;
	}
	free(w);
	free(r);
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fixture *f = *state;
	pthread_t t[6];
	struct thr_arg a[6];

	for (int i = 0; i < 6; i++) {
		a[i] = (struct thr_arg){ f->cs, (uint64_t)i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a pass/fail test: prints the store's throughput for 8 MiB I/O. */
static void test_throughput(void **state)
{
	struct fixture *f = *state;
	size_t piece = 8u << 20;
	unsigned char *buf = random_bytes(piece, 10);
	double t0, t1, t2;
	int rounds = 4;

	t0 = now_s();
	for (int k = 0; k < rounds; k++)
		for (uint64_t off = 0; off < CHUNK_SIZE_MAX; off += piece)
			assert_int_equal(chunk_store_write(f->cs, 1000 + (uint64_t)k, 1, off, buf,
							   piece, NULL), 0);
	t1 = now_s();
	for (int k = 0; k < rounds; k++)
		for (uint64_t off = 0; off < CHUNK_SIZE_MAX; off += piece)
			assert_int_equal(chunk_store_read(f->cs, 1000 + (uint64_t)k, 1, off, piece,
							  buf), 0);
	t2 = now_s();
	print_message("chunk_store throughput: write %.0f MiB/s, read %.0f MiB/s (page cache)\n",
		      rounds * 64 / (t1 - t0), rounds * 64 / (t2 - t1));
	free(buf);
}

/* Pages of the chunk file's data range [off, off+len) that sit in the page
 * cache. */
static size_t cached_pages(const struct fixture *f, uint64_t id, size_t off, size_t len)
{
	char path[256];
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = 0, npages = len / (size_t)pg;
	unsigned char *vec = calloc(npages, 1);
	int fd;
	void *map;

	chunk_path(f, id, path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)(HDR + off));
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore(map, len, vec), 0);
	for (size_t i = 0; i < npages; i++)
		n += vec[i] & 1;
	munmap(map, len);
	close(fd);
	free(vec);
	return n;
}

/* Long page-aligned writes go around the page cache (O_DIRECT), short or
 * unaligned ones through it; every mix reads back right, CRCs included,
 * with O_DIRECT on and off. */
static void test_direct_io(void **state)
{
	struct fixture *f = *state;
	const size_t len = (1u << 20) + 123, total = 3u << 20;
	unsigned char *model = calloc(total, 1), *src = NULL, *odd;
	struct chunk_info ci;
	uint32_t newlen;

	assert_non_null(model);
	assert_int_equal(posix_memalign((void **)&src, 4096, len), 0);
	unsigned char *r = random_bytes(len + 1, 7);
	memcpy(src, r, len);
	odd = r + 1; /* not page-aligned */
	for (int on = 1; on >= 0; on--) {
		uint64_t id = 40 + (uint64_t)on;

		memset(model, 0, total);
		chunk_store_set_direct_io(f->cs, on);
		/* aligned source, aligned offset, unaligned tail */
		assert_int_equal(chunk_store_write(f->cs, id, 1, 0, src, len, &newlen), 0);
		memcpy(model, src, len);
		assert_int_equal(newlen, len);
		if (on)
			assert_int_equal(cached_pages(f, id, 0, 1u << 20), 0);
		/* aligned, over the old tail and past it */
		assert_int_equal(chunk_store_write(f->cs, id, 1, 1u << 20, src, len, &newlen), 0);
		memcpy(model + (1u << 20), src, len);
		/* unaligned source at an aligned offset */
		assert_int_equal(chunk_store_write(f->cs, id, 1, 8192, odd, 300000, &newlen), 0);
		memcpy(model + 8192, odd, 300000);
		/* aligned source at an unaligned offset, in the middle */
		assert_int_equal(chunk_store_write(f->cs, id, 1, 5000, src, 400000, &newlen), 0);
		memcpy(model + 5000, src, 400000);
		check_range(f->cs, id, 1, model, (1u << 20) + len, 0, (1u << 20) + len);
		assert_int_equal(chunk_store_verify(f->cs, id, &ci), 0);
		assert_int_equal(ci.length, (1u << 20) + len);
	}
	chunk_store_set_direct_io(f->cs, true);
	free(src);
	free(r);
	free(model);
}

/* ---- clone ---------------------------------------------------------------- */

/* The on-disk header of chunk id: bytes [0, HDR). */
static void read_header(const struct fixture *f, uint64_t id, unsigned char *out)
{
	char path[256];
	int fd;

	chunk_path(f, id, path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, out, HDR, 0), (ssize_t)HDR);
	close(fd);
}

static uint32_t le32_at(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64_at(const unsigned char *p)
{
	return (uint64_t)le32_at(p) | (uint64_t)le32_at(p + 4) << 32;
}

/* Names in the folder of chunk id (temporary files start with '.'). */
static int count_files(const struct fixture *f, uint64_t id, int *ret_dot)
{
	char dir[256];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	*ret_dot = 0;
	snprintf(dir, sizeof(dir), "%s/chunks/%02x/%02x", f->dir, (unsigned)((id >> 8) & 0xff),
		 (unsigned)(id & 0xff));
	dp = opendir(dir);
	if (!dp)
		return 0;
	while ((d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		n++;
		if (d->d_name[0] == '.')
			(*ret_dot)++;
	}
	closedir(dp);
	return n;
}

/* A clone has the source's bytes and CRCs under a header of its own; the
 * source is untouched; both survive a reopen. Sizes cross the 1 MiB copy
 * pieces and end in a partial block. */
static void test_clone(void **state)
{
	struct fixture *f = *state;
	const uint64_t old_id = 0x1111222233334444ULL, new_id = 0x5555666677778888ULL;
	size_t n = 2 * (1u << 20) + 3 * BS + 777;
	unsigned char *model = random_bytes(n, 40);
	unsigned char *ho = malloc(HDR), *hn = malloc(HDR);
	struct chunk_info ci;
	uint64_t chunks, bytes;
	uint32_t len = 0;

	assert_non_null(ho);
	assert_non_null(hn);
	/* written in two pieces and at another version first: the CRCs come
	 * from chunk_store_write's merging */
	assert_int_equal(chunk_store_write(f->cs, old_id, 2, 0, model, n / 2, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, old_id, 3, n / 2, model + n / 2, n - n / 2,
					   NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, old_id, 3, new_id, 7, &len), 0);
	assert_int_equal(len, n);
	check_range(f->cs, new_id, 7, model, n, 0, n + 100);
	check_range(f->cs, old_id, 3, model, n, 0, n);
	assert_int_equal(chunk_store_stat(f->cs, new_id, &ci), 0);
	assert_int_equal(ci.version, 7);
	assert_int_equal(ci.length, n);
	assert_int_equal(chunk_store_verify(f->cs, new_id, &ci), 0);

	read_header(f, old_id, ho);
	read_header(f, new_id, hn);
	assert_memory_equal(hn, "BIGFSCK1", 8);
	assert_true(le64_at(hn + 8) == new_id);
	assert_int_equal(le32_at(hn + 16), 7);
	assert_int_equal(le32_at(hn + 20), n);
	/* the same CRC for every block, each the CRC32C of the block's bytes */
	assert_memory_equal(hn + 32, ho + 32, 4 * CHUNK_BLOCKS);
	for (size_t b = 0; b * BS < n; b++) {
		size_t bl = n - b * BS < BS ? n - b * BS : BS;

		assert_int_equal(le32_at(hn + 32 + 4 * b), crc32c(0, model + b * BS, bl));
	}
	assert_int_equal(le32_at(hn + 32 + 4 * ((n + BS - 1) / BS)), 0);

	chunk_store_usage(f->cs, &chunks, &bytes);
	assert_int_equal(chunks, 2);
	assert_int_equal(bytes, 2 * (HDR + n));
	reopen(f);
	check_range(f->cs, new_id, 7, model, n, 0, n);
	check_range(f->cs, old_id, 3, model, n, 0, n);
	/* a write to the clone leaves the source alone (copy-on-write) */
	assert_int_equal(chunk_store_write(f->cs, new_id, 8, 10, "changed", 7, NULL), 0);
	check_range(f->cs, old_id, 3, model, n, 0, n);

	/* an empty source gives an empty clone */
	assert_int_equal(chunk_store_truncate(f->cs, 77, 1, 0, NULL), 0);
	len = 99;
	assert_int_equal(chunk_store_clone(f->cs, 77, 1, 78, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(chunk_store_stat(f->cs, 78, &ci), 0);
	assert_int_equal(ci.length, 0);
	free(ho);
	free(hn);
	free(model);
}

/* Absent source, wrong version, a clone onto itself, a corrupt source
 * block, a bad source header: an error and no clone, no temporary file. */
static void test_clone_errors(void **state)
{
	struct fixture *f = *state;
	size_t n = 5 * BS + 10;
	unsigned char *model = random_bytes(n, 41);
	unsigned char b[1];
	uint32_t len = 12345;
	int dots;

	assert_int_equal(chunk_store_clone(f->cs, 50, 1, 51, 1, &len), -ENOENT);
	assert_int_equal(chunk_store_write(f->cs, 50, 4, 0, model, n, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 50, 3, 51, 1, &len), -ESTALE);
	assert_int_equal(chunk_store_clone(f->cs, 50, 5, 51, 1, &len), -ESTALE);
	assert_int_equal(chunk_store_clone(f->cs, 50, 4, 50, 5, &len), -EINVAL);
	assert_int_equal(len, 12345);   /* untouched on failure */
	assert_int_equal(chunk_store_read(f->cs, 51, 1, 0, 1, b), -ENOENT);

	/* one flipped byte in the fourth block */
	flip_byte(f, 50, HDR + 3 * BS + 5);
	assert_int_equal(chunk_store_clone(f->cs, 50, 4, 51, 1, &len), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 51, 1, 0, 1, b), -ENOENT);
	assert_int_equal(count_files(f, 51, &dots), 0);
	assert_int_equal(dots, 0);
	/* in the partial last block */
	flip_byte(f, 50, HDR + 3 * BS + 5);
	flip_byte(f, 50, HDR + 5 * BS + 9);
	assert_int_equal(chunk_store_clone(f->cs, 50, 4, 51, 1, &len), -EIO);
	assert_int_equal(chunk_store_read(f->cs, 51, 1, 0, 1, b), -ENOENT);
	flip_byte(f, 50, HDR + 5 * BS + 9);
	/* a damaged header (its CRC catches the flipped length bit) */
	flip_byte(f, 50, 20);
	assert_int_equal(chunk_store_clone(f->cs, 50, 4, 51, 1, &len), -EIO);
	flip_byte(f, 50, 20);
	assert_int_equal(count_files(f, 51, &dots), 0);
	/* repaired, it clones */
	assert_int_equal(chunk_store_clone(f->cs, 50, 4, 51, 1, &len), 0);
	check_range(f->cs, 51, 1, model, n, 0, n);
	free(model);
}

/* A retried clone is a no-op success; an older chunk under the new id is
 * replaced, a newer one or one written since at the same version is not. */
static void test_clone_idempotent(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS + 1;
	unsigned char *model = random_bytes(n, 42);
	unsigned char *other = random_bytes(2 * BS, 43);
	char path[256];
	struct stat st1, st2;
	uint32_t len = 0;
	int dots;

	assert_int_equal(chunk_store_write(f->cs, 60, 1, 0, model, n, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 60, 1, 61, 2, &len), 0);
	chunk_path(f, 61, path, sizeof(path));
	assert_int_equal(stat(path, &st1), 0);
	len = 0;
	assert_int_equal(chunk_store_clone(f->cs, 60, 1, 61, 2, &len), 0);
	assert_int_equal(len, n);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);   /* not copied again */
	check_range(f->cs, 61, 2, model, n, 0, n);

	/* the clone was written since at its version: not overwritten */
	assert_int_equal(chunk_store_write(f->cs, 61, 2, n, "tail", 4, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 60, 1, 61, 2, &len), -EEXIST);
	{
		unsigned char t[4];

		assert_int_equal(chunk_store_read(f->cs, 61, 2, n, 4, t), 0);
		assert_memory_equal(t, "tail", 4);
	}
	/* a newer version under the new id wins */
	assert_int_equal(chunk_store_write(f->cs, 62, 9, 0, other, 2 * BS, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 60, 1, 62, 5, &len), -ESTALE);
	check_range(f->cs, 62, 9, other, 2 * BS, 0, 2 * BS);
	/* an older one is replaced whole (longer before, shorter now) */
	assert_int_equal(chunk_store_write(f->cs, 63, 1, 0, other, 2 * BS, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 63, 1, 2 * BS, other, 2 * BS, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 60, 1, 63, 5, &len), 0);
	assert_int_equal(len, n);
	check_range(f->cs, 63, 5, model, n, 0, 4 * BS);
	assert_int_equal(count_files(f, 63, &dots), 1);
	assert_int_equal(dots, 0);
	free(other);
	free(model);
}

/* Crash safety: a temporary file left by a clone that never reached its
 * rename is not a chunk, and the next open removes it. */
static void test_clone_leftover_temp(void **state)
{
	struct fixture *f = *state;
	const uint64_t id = 0xabcdef0123456789ULL;
	unsigned char *model = random_bytes(2 * BS, 44);
	char dir[256], tmp[320];
	struct chunk_info ci;
	unsigned char b[1];
	int fd, dots;

	assert_int_equal(chunk_store_write(f->cs, 70, 1, 0, model, 2 * BS, NULL), 0);
	/* what a crash mid-copy leaves: the new chunk's folder holds only a
	 * half-written temporary file */
	snprintf(dir, sizeof(dir), "%s/chunks/%02x", f->dir, (unsigned)((id >> 8) & 0xff));
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/chunks/%02x/%02x", f->dir, (unsigned)((id >> 8) & 0xff),
		 (unsigned)(id & 0xff));
	mkdir(dir, 0755);
	snprintf(tmp, sizeof(tmp), "%s/.%016llx.Ab12Cd", dir, (unsigned long long)id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, model, BS), (ssize_t)BS);
	close(fd);
	reopen(f);
	assert_int_equal(count_files(f, id, &dots), 0);
	assert_int_equal(chunk_store_stat(f->cs, id, &ci), -ENOENT);
	assert_int_equal(chunk_store_read(f->cs, id, 1, 0, 1, b), -ENOENT);
	/* and the clone done again works */
	assert_int_equal(chunk_store_clone(f->cs, 70, 1, id, 1, NULL), 0);
	check_range(f->cs, id, 1, model, 2 * BS, 0, 2 * BS);
	assert_int_equal(count_files(f, id, &dots), 1);
	assert_int_equal(dots, 0);
	free(model);
}

/* The capacity limit counts a clone; a refused one leaves nothing. */
static void test_clone_capacity(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = random_bytes(BS, 45);
	uint64_t chunks, bytes;
	int dots;

	chunk_store_close(f->cs);
	assert_int_equal(chunk_store_open(f->dir, 2 * (HDR + BS) + 10, &f->cs), 0);
	assert_int_equal(chunk_store_write(f->cs, 1, 1, 0, data, BS, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 1, 1, 2, 1, NULL), 0);
	assert_int_equal(chunk_store_clone(f->cs, 1, 1, 3, 1, NULL), -ENOSPC);
	assert_int_equal(count_files(f, 3, &dots), 0);
	chunk_store_usage(f->cs, &chunks, &bytes);
	assert_int_equal(chunks, 2);
	assert_int_equal(bytes, 2 * (HDR + BS));
	free(data);
}

/* Clones of one source into many new chunks while the source is read
 * and other chunks are written: every clone is whole. */
struct clone_arg {
	struct chunk_store *cs;
	const unsigned char *model;
	size_t n;
	uint64_t first;
};

static void *clone_thread(void *p)
{
	struct clone_arg *a = p;

	for (uint64_t i = 0; i < 8; i++)
		if (chunk_store_clone(a->cs, 90, 1, a->first + i, 1, NULL) != 0)
			return (void *)1;
	return NULL;
}

static void test_clone_concurrent(void **state)
{
	struct fixture *f = *state;
	size_t n = (1u << 20) + 5 * BS;
	unsigned char *model = random_bytes(n, 46);
	struct clone_arg a[3];
	pthread_t t[3];
	void *res;

	assert_int_equal(chunk_store_write(f->cs, 90, 1, 0, model, n, NULL), 0);
	for (int i = 0; i < 3; i++) {
		a[i] = (struct clone_arg){ f->cs, model, n, 1000 + 100 * (uint64_t)i };
		assert_int_equal(pthread_create(&t[i], NULL, clone_thread, &a[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
	for (int i = 0; i < 3; i++)
		for (uint64_t k = 0; k < 8; k++)
			check_range(f->cs, 1000 + 100 * (uint64_t)i + k, 1, model, n, 0, n);
	free(model);
}

/* Folder fsyncs so far (chunk_store_fsyncs), and file fsyncs in *files. */
static uint64_t folder_syncs(struct chunk_store *cs, uint64_t *files)
{
	uint64_t fi, fo;

	chunk_store_fsyncs(cs, &fi, &fo);
	if (files)
		*files = fi;
	return fo;
}

/* Writes sync nothing; an fsync syncs the folder of a chunk created since
 * its last fsync, and the parents of folders made since theirs, up to the
 * top; chunks found at open count as created, their folders as made. */
static void test_fsync_folders(void **state)
{
	struct fixture *f = *state;
	unsigned char d[4096];
	uint64_t base, files;

	memset(d, 7, sizeof(d));
	base = folder_syncs(f->cs, &files);
	assert_int_equal(files, 0);
	/* 0x0101 lives in 01/01, 0x10101 too, 0x0102 in 01/02, 0x0201 in 02/01 */
	assert_int_equal(chunk_store_write(f->cs, 0x0101, 1, 0, d, sizeof(d), NULL), 0);
	assert_int_equal(chunk_store_truncate(f->cs, 0x0101, 1, 10000, NULL), 0);
	assert_int_equal(folder_syncs(f->cs, &files), base);
	assert_int_equal(files, 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0101, 1), 0);
	assert_int_equal(folder_syncs(f->cs, &files), base + 3);   /* 01/01, 01, top */
	assert_int_equal(files, 1);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0101, 1), 0);
	assert_int_equal(folder_syncs(f->cs, &files), base + 3);   /* nothing new */
	assert_int_equal(files, 2);

	assert_int_equal(chunk_store_write(f->cs, 0x10101, 1, 0, d, 100, NULL), 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x10101, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 4);     /* 01/01 */
	assert_int_equal(chunk_store_write(f->cs, 0x0102, 1, 0, d, 100, NULL), 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0102, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 6);     /* 01/02, 01 */
	assert_int_equal(chunk_store_write(f->cs, 0x0201, 1, 0, d, 100, NULL), 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0201, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 9);     /* 02/01, 02, top */

	/* a rewrite or a new version is no new name */
	assert_int_equal(chunk_store_write(f->cs, 0x0101, 2, 10, d, 100, NULL), 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0101, 2), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 9);
	/* deleted and made again: a new name in a folder already on disk */
	assert_int_equal(chunk_store_delete(f->cs, 0x10101), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x10101, 3, 0, d, 100, NULL), 0);
	assert_int_equal(chunk_store_fsync(f->cs, 0x10101, 3), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 10);
	/* several new chunks of one folder, then their fsyncs: the first
	 * syncs the folder (and the others' names with it), each of the
	 * others once more (they cannot know), none the parents again */
	for (uint64_t id = 0x20101; id <= 0x50101; id += 0x10000)
		assert_int_equal(chunk_store_write(f->cs, id, 1, 0, d, 10, NULL), 0);
	for (uint64_t id = 0x20101; id <= 0x50101; id += 0x10000)
		assert_int_equal(chunk_store_fsync(f->cs, id, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 14);

	/* after a restart every chunk found may not be on disk yet */
	reopen(f);
	base = folder_syncs(f->cs, NULL);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0101, 2), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 3);
	assert_int_equal(chunk_store_fsync(f->cs, 0x10101, 3), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 4);
	assert_int_equal(chunk_store_fsync(f->cs, 0x10101, 3), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 4);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0102, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 6);     /* 01/02, 01 */
	check_range(f->cs, 0x0201, 1, d, 100, 0, 200);
}

/* Replications and clones sync the new name's folder, and the parents of
 * folders made for it, at their commit. */
static void test_stage_folders(void **state)
{
	struct fixture *f = *state;
	struct chunk_staging *st;
	unsigned char d[300];
	uint64_t base;

	memset(d, 3, sizeof(d));
	base = folder_syncs(f->cs, NULL);
	assert_int_equal(chunk_store_stage_begin(f->cs, 0x0303, 1, &st), 0);
	assert_int_equal(chunk_store_stage_append(st, d, sizeof(d)), 0);
	assert_int_equal(chunk_store_stage_commit(st, NULL), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 3);
	assert_int_equal(chunk_store_stage_begin(f->cs, 0x10303, 1, &st), 0);
	assert_int_equal(chunk_store_stage_append(st, d, sizeof(d)), 0);
	assert_int_equal(chunk_store_stage_commit(st, NULL), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 4);
	assert_int_equal(chunk_store_clone(f->cs, 0x0303, 1, 0x20303, 1, NULL), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 5);
	/* committed names are on disk: their fsyncs sync no folder */
	assert_int_equal(chunk_store_fsync(f->cs, 0x20303, 1), 0);
	assert_int_equal(folder_syncs(f->cs, NULL), base + 5);
	check_range(f->cs, 0x20303, 1, d, sizeof(d), 0, sizeof(d));
	/* an empty staged chunk is a whole header long */
	assert_int_equal(chunk_store_stage_begin(f->cs, 0x0304, 1, &st), 0);
	assert_int_equal(chunk_store_stage_commit(st, NULL), 0);
	check_range(f->cs, 0x0304, 1, d, 0, 0, 10);
	reopen(f);
	check_range(f->cs, 0x0304, 1, d, 0, 0, 10);
}

/* A new chunk file: header up to the end of its CRC table, the rest of
 * its 8 KiB a hole of zeros; the file is header + length long, also with
 * no data at all; it reads back before and after a reopen. */
static void test_new_file_layout(void **state)
{
	struct fixture *f = *state;
	unsigned char *d = random_bytes(5000, 11), buf[HDR];
	char path[256];
	struct stat stt;
	int fd;

	assert_int_equal(chunk_store_write(f->cs, 0x0404, 1, 0, d, 5000, NULL), 0);
	chunk_path(f, 0x0404, path, sizeof(path));
	assert_int_equal(stat(path, &stt), 0);
	assert_int_equal(stt.st_size, HDR + 5000);
	assert_true(stt.st_blocks * 512 <= 3 * 4096);  /* one page of header, two of data */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, HDR, 0), (ssize_t)HDR);
	close(fd);
	assert_memory_equal(buf, "BIGFSCK1", 8);
	for (size_t i = 32 + 4 * CHUNK_BLOCKS; i < HDR; i++)
		assert_int_equal(buf[i], 0);
	check_range(f->cs, 0x0404, 1, d, 5000, 0, 6000);

	/* no data: written empty, or made by a truncate to 0 */
	assert_int_equal(chunk_store_write(f->cs, 0x0405, 1, 0, d, 0, NULL), 0);
	assert_int_equal(chunk_store_truncate(f->cs, 0x0406, 1, 0, NULL), 0);
	for (uint64_t id = 0x0405; id <= 0x0406; id++) {
		chunk_path(f, id, path, sizeof(path));
		assert_int_equal(stat(path, &stt), 0);
		assert_int_equal(stt.st_size, HDR);
		check_range(f->cs, id, 1, d, 0, 0, 100);
	}
	/* the CRC entries of the last blocks are in the header's second
	 * page: written when a chunk grows that far, zeroed when it shrinks */
	assert_int_equal(chunk_store_truncate(f->cs, 0x0408, 1, CHUNK_SIZE_MAX, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0408, 1, CHUNK_SIZE_MAX - 5000, d, 5000,
					   NULL), 0);
	reopen(f);
	check_range(f->cs, 0x0408, 1, d, 0, 0, 100);
	{
		uint32_t got = 0;

		assert_int_equal(chunk_store_read(f->cs, 0x0408, 1, CHUNK_SIZE_MAX - 5000, 4,
						  &got), 0);
		assert_memory_equal(&got, d, 4);
	}
	assert_int_equal(chunk_store_truncate(f->cs, 0x0408, 1, 2 * BS, NULL), 0);
	reopen(f);
	check_range(f->cs, 0x0408, 1, d, 0, 0, 2 * BS);
	chunk_path(f, 0x0408, path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, HDR, 0), (ssize_t)HDR);
	close(fd);
	for (size_t i = 32 + 4 * 2; i < HDR; i++)
		assert_int_equal(buf[i], 0);
	/* grown from nothing by a truncate, then written into */
	assert_int_equal(chunk_store_truncate(f->cs, 0x0407, 1, 3 * BS + 5, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0407, 1, BS - 10, d, 5000, NULL), 0);
	reopen(f);
	check_range(f->cs, 0x0404, 1, d, 5000, 0, 6000);
	for (uint64_t id = 0x0405; id <= 0x0406; id++)
		check_range(f->cs, id, 1, d, 0, 0, 100);
	{
		unsigned char *model = calloc(1, 3 * BS + 5);

		assert_non_null(model);
		memcpy(model + BS - 10, d, 5000);
		check_range(f->cs, 0x0407, 1, model, 3 * BS + 5, 0, 3 * BS + 5);
		free(model);
	}
	free(d);
}

/* The index decides whether a write creates the file: a file put back
 * from outside behind its back is opened as the chunk it holds (a newer
 * stored version still wins), a file taken away is made again. */
static void test_files_behind_the_index(void **state)
{
	struct fixture *f = *state;
	unsigned char *d = random_bytes(3000, 5), *model;
	char path[256], aside[300];

	chunk_path(f, 0x0505, path, sizeof(path));
	snprintf(aside, sizeof(aside), "%s/aside", f->dir);
	assert_int_equal(chunk_store_write(f->cs, 0x0505, 2, 0, d, 3000, NULL), 0);
	assert_int_equal(rename(path, aside), 0);
	assert_int_equal(chunk_store_delete(f->cs, 0x0505), 0);    /* gone: index forgets */
	assert_int_equal(rename(aside, path), 0);
	/* the file holds version 2: a write at 1 is refused, at 2 merges */
	assert_int_equal(chunk_store_write(f->cs, 0x0505, 1, 0, d, 10, NULL), -ESTALE);
	assert_int_equal(chunk_store_write(f->cs, 0x0505, 2, 1000, d, 10, NULL), 0);
	model = malloc(3000);
	assert_non_null(model);
	memcpy(model, d, 3000);
	memcpy(model + 1000, d, 10);
	check_range(f->cs, 0x0505, 2, model, 3000, 0, 3000);

	/* taken away while the index knows it: a write makes it again */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0505, 3, 0, d, 100, NULL), 0);
	check_range(f->cs, 0x0505, 3, d, 100, 0, 200);
	/* and its folders too */
	assert_int_equal(unlink(path), 0);
	chunk_path(f, 0x0505, path, sizeof(path));
	*strrchr(path, '/') = '\0';
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0505, 4, 0, d, 100, NULL), 0);
	check_range(f->cs, 0x0505, 4, d, 100, 0, 200);
	assert_int_equal(chunk_store_fsync(f->cs, 0x0505, 4), 0);
	free(model);
	free(d);
}

/* Partial writes patch a block's CRC from the written range alone: at the
 * start, middle and end of full and short blocks, across a block edge,
 * one byte and 4 KiB; every result verifies and reads back. */
static void test_partial_crc_patch(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * BS + 5000;
	unsigned char *model = random_bytes(n, 41);
	unsigned char *d = random_bytes(2 * BS, 42);   /* write i takes from d + i * 101 */
	const struct { size_t off, len; } w[] = {
		{ 0, 1 }, { 0, 4096 }, { 100, 4096 }, { BS - 4096, 4096 }, { BS - 1, 1 },
		{ BS - 100, 200 }, { 2 * BS + 12345, 4096 }, { 3 * BS, 4096 },
		{ 3 * BS + 1000, 4000 }, { n - 1, 1 }, { BS + 7, BS - 14 },
	};
	struct chunk_info ci;

	assert_int_equal(chunk_store_write(f->cs, 51, 1, 0, model, n, NULL), 0);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		assert_int_equal(chunk_store_write(f->cs, 51, 1, w[i].off, d + i * 101, w[i].len,
						   NULL), 0);
		memcpy(model + w[i].off, d + i * 101, w[i].len);
		assert_int_equal(chunk_store_verify(f->cs, 51, &ci), 0);
		assert_int_equal(ci.length, n);
		check_range(f->cs, 51, 1, model, n, 0, n);
	}
	/* and the CRCs are the ones a fresh write of the bytes makes */
	assert_int_equal(chunk_store_write(f->cs, 52, 1, 0, model, n, NULL), 0);
	{
		char p1[256], p2[256];
		unsigned char h1[4128], h2[4128];
		FILE *a, *b;

		chunk_path(f, 51, p1, sizeof(p1));
		chunk_path(f, 52, p2, sizeof(p2));
		a = fopen(p1, "rb");
		b = fopen(p2, "rb");
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(fread(h1, 1, sizeof(h1), a), sizeof(h1));
		assert_int_equal(fread(h2, 1, sizeof(h2), b), sizeof(h2));
		fclose(a);
		fclose(b);
		assert_memory_equal(h1 + 32, h2 + 32, sizeof(h1) - 32);
	}
	free(model);
	free(d);
}

/* Descriptors are kept between calls, but a file deleted, replaced by
 * rename or damaged from outside is seen as it is now. */
static void test_cached_fd_follows_the_name(void **state)
{
	struct fixture *f = *state;
	unsigned char *a = random_bytes(2 * BS, 61), *b = random_bytes(2 * BS, 62);
	unsigned char buf[16];
	char path[256], other[256], tmp[300];

	chunk_path(f, 0x0707, path, sizeof(path));
	chunk_path(f, 0x0708, other, sizeof(other));
	assert_int_equal(chunk_store_write(f->cs, 0x0707, 1, 0, a, 2 * BS, NULL), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0708, 3, 0, b, 2 * BS, NULL), 0);
	check_range(f->cs, 0x0707, 1, a, 2 * BS, 0, 2 * BS);     /* cached now */
	check_range(f->cs, 0x0708, 3, b, 2 * BS, 0, 2 * BS);
	/* another file renamed over it: its version and bytes from now on */
	snprintf(tmp, sizeof(tmp), "%s/copy", f->dir);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", other, tmp);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(chunk_store_read(f->cs, 0x0707, 1, 0, 10, buf), 0);
	assert_int_equal(rename(tmp, path), 0);
	/* the copy names chunk 0x708 in its header: damaged for 0x707 */
	assert_int_equal(chunk_store_read(f->cs, 0x0707, 1, 0, 10, buf), -EIO);
	assert_int_equal(chunk_store_write(f->cs, 0x0707, 1, 0, "x", 1, NULL), -EIO);
	/* deleted: gone, and a write makes it again */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_store_read(f->cs, 0x0707, 1, 0, 10, buf), -ENOENT);
	assert_int_equal(chunk_store_write(f->cs, 0x0707, 2, 0, a, BS, NULL), 0);
	check_range(f->cs, 0x0707, 2, a, BS, 0, 2 * BS);
	/* deleted behind a cached descriptor used by writes */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_store_write(f->cs, 0x0707, 3, 100, b, 10, NULL), 0);
	{
		unsigned char *m = calloc(1, 110);

		assert_non_null(m);
		memcpy(m + 100, b, 10);
		check_range(f->cs, 0x0707, 3, m, 110, 0, 110);
		free(m);
	}
	assert_int_equal(chunk_store_fsync(f->cs, 0x0707, 3), 0);
	/* a header byte flipped from outside, right after a cached read */
	check_range(f->cs, 0x0708, 3, b, 2 * BS, 0, 10);
	flip_byte(f, 0x0708, 16);
	assert_int_equal(chunk_store_read(f->cs, 0x0708, 3, 0, 10, buf), -EIO);
	flip_byte(f, 0x0708, 16);
	check_range(f->cs, 0x0708, 3, b, 2 * BS, 0, 2 * BS);
	/* many chunks: the cache stays bounded and every one reads back */
	for (uint64_t id = 0x1000; id < 0x1000 + 200; id++)
		assert_int_equal(chunk_store_write(f->cs, id, 1, 0, a + id % 1000, 3000, NULL), 0);
	for (uint64_t id = 0x1000; id < 0x1000 + 200; id++)
		check_range(f->cs, id, 1, a + id % 1000, 3000, 0, 3000);
	assert_int_equal(chunk_store_delete(f->cs, 0x1000), 0);
	assert_int_equal(chunk_store_read(f->cs, 0x1000, 1, 0, 10, buf), -ENOENT);
	free(a);
	free(b);
}

/* Open descriptors in this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The descriptor cache keeps half of what the process may open (here a
 * soft limit of 200: 100 files), the oldest going first; the sendfile
 * path reopens a cached file through its descriptor and still sees the
 * file its name has now. */
static void test_fd_cache_bound(void **state)
{
	struct fixture *f = *state;
	unsigned char *a = random_bytes(4 * BS, 71);
	unsigned char buf[3000];
	uint32_t crcs[4], nb;
	uint64_t foff;
	struct rlimit old, low;
	char path[256];
	int fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 200;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	reopen(f);
	int base = open_fds();
	for (uint64_t id = 0x2000; id < 0x2000 + 300; id++)
		assert_int_equal(chunk_store_write(f->cs, id, 1, 0, a + id % 1000, 3000, NULL), 0);
	assert_in_range(open_fds() - base, 90, 100);
	for (uint64_t id = 0x2000; id < 0x2000 + 300; id++) {
		assert_int_equal(chunk_store_read_fd(f->cs, id, 1, 0, 3000, &fd, &foff, crcs, &nb), 0);
		assert_int_equal(pread(fd, buf, 3000, (off_t)foff), 3000);
		assert_memory_equal(buf, a + id % 1000, 3000);
		assert_int_equal(crcs[0], crc32c(0, buf, 3000));
		close(fd);
	}
	assert_in_range(open_fds() - base, 90, 100);
	/* the last ones are cached: one deleted from outside is gone, one
	 * renamed over by another chunk's file is damaged for this one */
	chunk_path(f, 0x2000 + 299, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_store_read_fd(f->cs, 0x2000 + 299, 1, 0, 3000, &fd, &foff, crcs, &nb),
			 -ENOENT);
	{
		char other[256];

		chunk_path(f, 0x2000 + 297, other, sizeof(other));
		chunk_path(f, 0x2000 + 298, path, sizeof(path));
		assert_int_equal(rename(other, path), 0);
	}
	assert_int_equal(chunk_store_read_fd(f->cs, 0x2000 + 298, 1, 0, 3000, &fd, &foff, crcs, &nb),
			 -EIO);
	assert_int_equal(chunk_store_read_fd(f->cs, 0x2000 + 296, 2, 0, 3000, &fd, &foff, crcs, &nb),
			 -ESTALE);
	chunk_store_close(f->cs);
	f->cs = NULL;
	assert_int_equal(open_fds(), base - 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(chunk_store_open(f->dir, 0, &f->cs), 0);
	free(a);
}

/* A header from outside whose CRC entries past the length are not 0 in
 * its second page (no write of ours leaves that, the header CRC still
 * covers them): writes keep them, a truncate that zeroes them writes
 * them, and the header stays good. */
static void test_header_second_page(void **state)
{
	struct fixture *f = *state;
	unsigned char *d = random_bytes(3 * BS, 9), hdr[HDR];
	char path[256];
	uint32_t crc;
	int fd;

	assert_int_equal(chunk_store_write(f->cs, 0x0606, 1, 0, d, 3 * BS, NULL), 0);
	read_header(f, 0x0606, hdr);
	hdr[32 + 4 * 1020] = 0x5a;
	crc = crc32c(crc32c(0, hdr, 24), hdr + 32, 4096);
	for (int i = 0; i < 4; i++)
		hdr[24 + i] = (unsigned char)(crc >> (8 * i));
	chunk_path(f, 0x0606, path, sizeof(path));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, hdr, HDR, 0), (ssize_t)HDR);
	close(fd);
	reopen(f);
	check_range(f->cs, 0x0606, 1, d, 3 * BS, 0, 3 * BS);
	assert_int_equal(chunk_store_write(f->cs, 0x0606, 1, 10, d, 100, NULL), 0);
	reopen(f);
	read_header(f, 0x0606, hdr);
	assert_int_equal(hdr[32 + 4 * 1020], 0x5a);
	assert_int_equal(chunk_store_truncate(f->cs, 0x0606, 1, BS + 7, NULL), 0);
	reopen(f);
	read_header(f, 0x0606, hdr);
	assert_int_equal(hdr[32 + 4 * 1020], 0);
	{
		struct chunk_info ci;

		assert_int_equal(chunk_store_verify(f->cs, 0x0606, &ci), 0);
		assert_int_equal(ci.length, BS + 7);
	}
	memmove(d + 10, d, 100);
	check_range(f->cs, 0x0606, 1, d, BS + 7, 0, BS + 7);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_past_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_extend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_list_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_leftover_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_file_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_behind_the_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_second_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_crc_patch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_fd_follows_the_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_cache_bound, setup, teardown),
	};

	log_init("test_chunk_store", true, LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
