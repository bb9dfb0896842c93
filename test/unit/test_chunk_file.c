/* Unit tests of common/chunk_file: the header's encoding, and the checked
 * read a mount makes of a local replica's chunk file through the
 * descriptor its worker handed it (chunk_file_read), on files made by the
 * real worker/chunk_store: every range right (whole blocks, parts of
 * blocks, runs across blocks, the short last block, zeros past the stored
 * length), and every way the file can stop being what the reader was
 * told — another version, a deleted or replaced file, a damaged block or
 * header — an error, never wrong bytes. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_tree.h"

#include "../../worker/chunk_store.h"
#include "chunk_file.h"
#include "crc32c.h"

#define BS CHUNK_BLOCK_SIZE
#define ID 0x1234abcd5678ef01ull
#define LEN (3 * BS + 1000)     /* three whole blocks and a short one */

struct fixture {
	char dir[64];
	struct chunk_store *cs;
	unsigned char *data;    /* the chunk's LEN bytes */
	unsigned char *block;   /* chunk_file_read's scratch */
	unsigned char *out;
};

static void chunk_path(const struct fixture *f, uint64_t id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/chunks/%02x/%02x/%016llx", f->dir,
		 (unsigned)((id >> 8) & 0xff), (unsigned)(id & 0xff), (unsigned long long)id);
}

/* A store holding chunk ID at version 1 with LEN random bytes. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t length;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_chunk_file.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chunk_store_open(f->dir, 0, &f->cs), 0);
	f->data = malloc(LEN);
	f->block = malloc(BS);
	f->out = malloc(CHUNK_SIZE_MAX);
	assert_true(f->data && f->block && f->out);
	srand(7);
	for (size_t i = 0; i < LEN; i++)
		f->data[i] = (unsigned char)(rand() >> 7);
	assert_int_equal(chunk_store_write(f->cs, ID, 1, 0, f->data, LEN, &length), 0);
	assert_int_equal(length, LEN);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chunk_store_close(f->cs);
	tmp_tree_remove(f->dir);
	free(f->data);
	free(f->block);
	free(f->out);
	free(f);
	return 0;
}

static int open_v1(struct fixture *f)
{
	int fd = -1;

	assert_int_equal(chunk_store_open_read(f->cs, ID, 1, &fd), 0);
	assert_true(fd >= 0);
	return fd;
}

/* Flip one byte of the chunk file at file offset at. */
static void flip(const struct fixture *f, off_t at)
{
	char path[256];
	unsigned char b;
	int fd;

	chunk_path(f, ID, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void test_header_round_trip(void **state)
{
	static struct chunk_header h, back;
	unsigned char buf[CHUNK_FILE_HEADER_USED];
	const char *why = NULL;

	(void)state;
	h.id = ID;
	h.version = 7;
	h.length = 2 * BS + 5;
	h.crc[0] = 0x11111111;
	h.crc[1] = 0x22222222;
	h.crc[2] = 0x33333333;
	chunk_header_encode(&h, buf);
	assert_memory_equal(buf, CHUNK_FILE_MAGIC, CHUNK_FILE_MAGIC_LEN);
	assert_int_equal(chunk_header_decode(buf, ID, CHUNK_HEADER_SIZE + h.length, &back, &why), 0);
	assert_int_equal(back.id, ID);
	assert_int_equal(back.version, 7);
	assert_int_equal(back.length, h.length);
	assert_memory_equal(back.crc, h.crc, sizeof(h.crc));
	assert_true(back.page1_zero);
	/* the wrong file, a file shorter than its length, a flipped bit */
	assert_int_equal(chunk_header_decode(buf, ID + 1, CHUNK_HEADER_SIZE + h.length, &back, &why),
			 -EIO);
	assert_string_equal(why, "id in header differs from file name");
	assert_int_equal(chunk_header_decode(buf, ID, CHUNK_HEADER_SIZE + h.length - 1, &back, &why),
			 -EIO);
	assert_string_equal(why, "file shorter than header + length");
	buf[CHUNK_FILE_OFF_CRCS + 4 * 900] ^= 1;   /* an entry in the second page */
	assert_int_equal(chunk_header_decode(buf, ID, CHUNK_HEADER_SIZE + h.length, &back, &why),
			 -EIO);
	assert_string_equal(why, "header CRC mismatch");
	buf[0] = 'X';
	assert_int_equal(chunk_header_decode(buf, ID, CHUNK_HEADER_SIZE + h.length, &back, &why),
			 -EIO);
	assert_string_equal(why, "bad magic");
}

/* Every range reads as the worker stored it; past the stored length,
 * zeros (as a worker serves a chunk shorter than the read). */
static void test_ranges(void **state)
{
	struct fixture *f = *state;
	static const struct { uint64_t off; size_t len; } r[] = {
		{ 0, LEN },             /* everything: whole blocks, the short one */
		{ 0, BS },              /* one whole block */
		{ BS, 2 * BS },         /* a run of whole blocks */
		{ 100, 4096 },          /* inside a block */
		{ BS - 10, 20 },        /* across two blocks */
		{ 10, 3 * BS },         /* parts at both ends, whole blocks between */
		{ 3 * BS, 1000 },       /* the short last block, exactly */
		{ 3 * BS + 500, 500 },  /* its end */
		{ 0, 0 },               /* nothing */
	};
	int fd = open_v1(f);

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		memset(f->out, 0xee, r[i].len + 1);
		assert_int_equal(chunk_file_read(fd, ID, 1, r[i].off, r[i].len, f->out, f->block), 0);
		assert_memory_equal(f->out, f->data + r[i].off, r[i].len);
		assert_int_equal(f->out[r[i].len], 0xee);   /* nothing written past len */
	}
	/* across the stored end, and wholly past it: zeros after the data */
	memset(f->out, 0xee, 2 * BS);
	assert_int_equal(chunk_file_read(fd, ID, 1, 3 * BS, 2 * BS, f->out, f->block), 0);
	assert_memory_equal(f->out, f->data + 3 * BS, 1000);
	for (size_t i = 1000; i < 2 * BS; i++)
		assert_int_equal(f->out[i], 0);
	memset(f->out, 0xee, 4096);
	assert_int_equal(chunk_file_read(fd, ID, 1, 10 * BS, 4096, f->out, f->block), 0);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(f->out[i], 0);
	/* up to the end of a chunk is a range; beyond it is not */
	assert_int_equal(chunk_file_read(fd, ID, 1, CHUNK_SIZE_MAX - 10, 10, f->out, f->block), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, CHUNK_SIZE_MAX - 10, 11, f->out, f->block),
			 -EINVAL);
	assert_int_equal(chunk_file_read(fd, ID, 1, CHUNK_SIZE_MAX + 1, 0, f->out, f->block), -EINVAL);
	close(fd);
}

/* A write after the descriptor was handed out is seen (the same file). */
static void test_later_write_seen(void **state)
{
	struct fixture *f = *state;
	unsigned char patch[300];
	uint32_t length;
	int fd = open_v1(f);

	memset(patch, 0x5a, sizeof(patch));
	assert_int_equal(chunk_store_write(f->cs, ID, 1, BS - 100, patch, sizeof(patch), &length), 0);
	memcpy(f->data + BS - 100, patch, sizeof(patch));
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, LEN, f->out, f->block), 0);
	assert_memory_equal(f->out, f->data, LEN);
	close(fd);
}

/* The chunk moved on to a newer version: the reader's is gone. */
static void test_other_version(void **state)
{
	struct fixture *f = *state;
	uint32_t length;
	int fd = open_v1(f), fd2 = -1;

	assert_int_equal(chunk_file_read(fd, ID, 2, 0, 10, f->out, f->block), -ESTALE);
	assert_int_equal(chunk_store_write(f->cs, ID, 2, 0, "x", 1, &length), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -ESTALE);
	/* and the store hands out no descriptor for a version it does not hold */
	assert_int_equal(chunk_store_open_read(f->cs, ID, 1, &fd2), -ESTALE);
	assert_int_equal(chunk_store_open_read(f->cs, ID + 1, 1, &fd2), -ENOENT);
	assert_int_equal(fd2, -1);
	close(fd);
}

/* The file deleted, or replaced behind the descriptor: -ENOENT, even
 * though the old inode still holds good bytes of that version. */
static void test_deleted_or_replaced(void **state)
{
	struct fixture *f = *state;
	char path[256], tmp[300];
	int fd = open_v1(f), fd2 = open_v1(f);
	int in, outfd;
	ssize_t n;

	chunk_path(f, ID, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.copy", path);
	in = open(path, O_RDONLY);
	outfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && outfd >= 0);
	while ((n = read(in, f->out, BS)) > 0)
		assert_int_equal(write(outfd, f->out, (size_t)n), n);
	close(in);
	close(outfd);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -ENOENT);
	close(fd);
	fd = open_v1(f);    /* the new file is good */
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, LEN, f->out, f->block), 0);
	assert_memory_equal(f->out, f->data, LEN);
	assert_int_equal(chunk_store_delete(f->cs, ID), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -ENOENT);
	close(fd);
	close(fd2);
}

/* A damaged block fails every read touching it, and only those; a
 * damaged header fails every read. */
static void test_damage(void **state)
{
	struct fixture *f = *state;
	int fd = open_v1(f);

	flip(f, CHUNK_HEADER_SIZE + BS + 7);    /* block 1 */
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, LEN, f->out, f->block), -EIO);
	assert_int_equal(chunk_file_read(fd, ID, 1, BS + 4000, 10, f->out, f->block), -EIO);
	assert_int_equal(chunk_file_read(fd, ID, 1, BS - 1, 2, f->out, f->block), -EIO);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, BS, f->out, f->block), 0);
	assert_memory_equal(f->out, f->data, BS);
	assert_int_equal(chunk_file_read(fd, ID, 1, 2 * BS + 3, 5000, f->out, f->block), 0);
	assert_memory_equal(f->out, f->data + 2 * BS + 3, 5000);
	flip(f, CHUNK_FILE_OFF_LENGTH);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -EIO);
	close(fd);
}

/* A file cut short behind the header's back. */
static void test_short_file(void **state)
{
	struct fixture *f = *state;
	char path[256];
	int fd = open_v1(f);

	chunk_path(f, ID, path, sizeof(path));
	assert_int_equal(truncate(path, CHUNK_HEADER_SIZE + LEN - 1), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -EIO);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(chunk_file_read(fd, ID, 1, 0, 10, f->out, f->block), -EIO);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_later_write_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_or_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
