/* chunk_store — chunk files on the local disk (layout in chunk_store.h).
 *
 * What it does: reads, writes, truncates, fsyncs, deletes, atomically
 * replaces and clones chunk files, verifying CRC32C of every 64 KiB block
 * it returns, merges or copies, and keeps an in-memory index id ->
 * (version, length) built by scanning the folder tree at open.
 * What it does not: HTTP, tokens, threads of its own, talking to the
 * master. Callers decide what a version means; this module only enforces
 * "older moves forward, newer is -ESTALE".
 *
 * State and locks:
 * - The chunk files. Guarded by stripe locks: a rwlock chosen by a hash of
 *   the chunk id (CS_STRIPES of them). Readers of a chunk take it shared;
 *   anything that changes a chunk's file takes it exclusive.
 * - The index (hash table of struct cs_entry) and the used-bytes counter.
 *   Guarded by index_mu. Lock order: stripe lock, then index_mu; index_mu
 *   is never held across disk I/O.
 * A clone holds its source's stripe lock shared while it copies into a
 * temporary file, lets it go, then commits under the new chunk's stripe
 * lock (never both at once: they may be the same lock).
 * - Which folders of the tree were made since their parent's last fsync
 *   (xx_new, yy_new: a bit per XX and per XX/YY folder) and the fsync
 *   counters. Guarded by dir_mu, which is also held across the mkdir of a
 *   missing folder (rare) so that a folder is never seen without its bit.
 *   Lock order: stripe lock, then dir_mu or index_mu (never both).
 * - Each thread's 64 KiB block buffer (pthread key block_key), for reads
 *   and merges of partial blocks; only its thread touches it.
 * The header on disk is the truth for a chunk's version, length and CRCs;
 * the index mirrors it for listing and usage and is updated while the
 * stripe lock is held exclusively, right after the header is written.
 *
 * Durability: a write or truncate syncs nothing. chunk_store_fsync makes
 * the chunk's data durable and, when the file was created since, its name:
 * it fsyncs the chunk's folder, and the parents of a folder that was made
 * since its parent's last fsync (xx_new, yy_new), up to the top. What a
 * previous run left may not be on disk yet: the scan counts every chunk
 * it finds as created and every folder as made, so the first fsync of
 * each after a restart syncs its folders too. A new chunk costs one open
 * (the index says it is absent: O_CREAT|O_EXCL at once, mkdir only when
 * its folder is missing) and no fsync until one is asked for.
 *
 * The header is written up to the end of its CRC table (CHUNK_FILE_HEADER_USED), and
 * only its first page while the chunk has no block whose CRC entry is in
 * the second (up to CHUNK_FILE_PAGE0_BLOCKS blocks, 63.5 MiB); the rest of its
 * 8 KiB stays zeros (a hole in a new file), so a chunk costs one page of
 * header on disk and in each write-back, not two.
 *
 * Descriptors are cached (struct cs_fd, in a hash table; half of the
 * process's descriptor limit, 64 to 8192 of them, least recently used out
 * first): a 4 KiB random read or write paid more for the open and close
 * of its file (the path walk) than for its data, and a small file read
 * after the caches were dropped paid for reading the folders from the
 * disk. Only
 * the descriptor is kept, never what it read: every call loads and checks
 * the header as before, so a file damaged by someone else is seen as it
 * is now. A file replaced or deleted behind the store's back leaves the
 * cached descriptor on an inode without a name (st_nlink 0, seen by the
 * header's fstat): the entry is dropped and the file opened afresh. The
 * store's own deletes and replacements (delete, stage commit, the discard
 * of a failed new file) drop the entry under the chunk's exclusive stripe
 * lock, and a call that fails to change a file drops it too. Whoever uses
 * an entry holds its chunk's stripe lock (shared to read, exclusive to
 * change the file), so only the table and the reference counts need a
 * lock: fd_mu, a leaf (taken under a stripe lock, never the other way).
 * An entry pushed out while in use is closed by its last user. The
 * sendfile path (chunk_store_read_fd) and the source of a clone open a
 * descriptor of their own (their own offset and readahead), through the
 * cached one's /proc/self/fd link: no path walk. Fsync and verify open
 * theirs by name, as before.
 *
 * A write into part of a stored block does not read the whole block: the
 * CRC32C of a block is linear in its bytes, so the new CRC is the stored
 * one plus the CRC of the change (old bytes XOR new bytes at their place),
 * computed from the old bytes of the written range alone (cs_crc_patch).
 * A block that was damaged stays exactly as damaged: its stored CRC
 * matches the new bytes if and only if it matched the old ones, so no
 * partial write blesses a bad block (its reads still fail) — it no longer
 * refuses the write, though. Blocks that grow or are left with a hole
 * are merged from their stored bytes, verified, as before. */
#include "chunk_store.h"

#include <dirent.h>
#include <stdarg.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "chunk_file.h"
#include "crc32c.h"
#include "ids.h"
#include "log.h"

#define CS_STRIPES 256
#define CS_DIR_MAX (PATH_MAX - 128)
#define CS_DIRECT_ALIGN 4096u
#define CS_DIRECT_MIN (256u * 1024)   /* shorter writes: the page cache is cheaper */
#define CS_CLONE_PIECE (1u << 20)      /* a clone copies 1 MiB at a time */
#define CS_FD_MIN 64                    /* chunk files kept open: at least, */
#define CS_FD_MAX 8192                  /* at most (half the descriptor limit) */
#define CS_MISS_RA (128u * 1024)        /* read around a cache miss (cs_pread_cached) */
#define CS_CRC32C_POLY 0x82f63b78u      /* reflected, x^32 implied */

struct cs_entry {
	struct cs_entry *next;
	uint64_t id;
	uint32_t version;
	uint32_t length;
	bool dir_dirty;     /* created since the last fsync of its folder */
};

/* A chunk file kept open between calls (see the head). */
struct cs_fd {
	uint64_t id;
	int fd;
	bool rw;            /* opened for writing too */
	bool in_table;      /* fd_mu */
	int refs;           /* fd_mu: users, plus one while in the table */
	struct cs_fd *hnext;                /* fd_mu: its hash chain */
	struct cs_fd *newer, *older;        /* fd_mu: the use order */
};

struct chunk_store {
	char *dir;          /* data_dir/chunks */
	char *quarantine;   /* data_dir/quarantine */
	uint64_t capacity_limit;
	uint32_t zero_block_crc;
	atomic_bool direct_io;      /* aligned writes bypass the page cache */
	pthread_rwlock_t stripes[CS_STRIPES];

	pthread_key_t block_key;    /* each thread's 64 KiB block buffer */
	bool block_key_made;

	pthread_mutex_t index_mu;   /* guards the index, up to dir_mu */
	struct cs_entry **buckets;
	size_t nbuckets;            /* power of two */
	size_t nentries;
	uint64_t used_bytes;        /* sum of header + length of the entries */
	uint64_t reserved_bytes;    /* growth of writes in progress */

	pthread_mutex_t dir_mu;     /* guards everything below */
	/* folders made since their parent's last fsync: bit xx of xx_new,
	 * bit (xx << 8 | yy) of yy_new */
	uint64_t xx_new[256 / 64];
	uint64_t yy_new[65536 / 64];
	uint64_t dir_fsyncs;        /* folder fsyncs done (chunk_store_fsyncs) */
	uint64_t file_fsyncs;

	uint32_t x2n[32];           /* x^(2^k) mod the CRC32C polynomial; read-only */

	pthread_mutex_t fd_mu;      /* guards the descriptor cache, a leaf */
	struct cs_fd **fd_buckets;  /* fd_nbuckets (a power of two) chains */
	size_t fd_nbuckets;
	size_t fd_count, fd_cap;    /* entries in the table, most kept */
	struct cs_fd *fd_newest, *fd_oldest;   /* by last use */
};

struct chunk_staging {
	struct chunk_store *cs;
	uint64_t id;
	uint32_t version;
	int fd;
	uint32_t length;
	bool renamed;       /* tmp_path is now the chunk file */
	char *tmp_path;
	struct chunk_header hdr;
};

/* Zeros for growing chunks and for the header's tail; read-only. */
static const unsigned char cs_zeros[CHUNK_BLOCK_SIZE];

/* ---- small helpers ---------------------------------------------------- */

static uint64_t cs_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return id;
}

static pthread_rwlock_t *cs_stripe(struct chunk_store *cs, uint64_t id)
{
	return &cs->stripes[cs_hash(id) % CS_STRIPES];
}

static uint64_t cs_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* snprintf into a PATH_MAX buffer; paths are bounded at open (the data
 * folder name is at most CS_DIR_MAX bytes), so this never truncates. */
static void cs_path(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cs_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* "DIR/XX/YY" and "DIR/XX/YY/ID" for id. */
static void cs_dir_path(const struct chunk_store *cs, uint64_t id, char *out, size_t cap)
{
	cs_path(out, cap, "%s/%02x/%02x", cs->dir, (unsigned)((id >> 8) & 0xff),
		 (unsigned)(id & 0xff));
}

static void cs_file_path(const struct chunk_store *cs, uint64_t id, char *out, size_t cap)
{
	char idtxt[CHUNK_ID_STRLEN + 1];

	chunk_id_format(id, idtxt);
	cs_path(out, cap, "%s/%02x/%02x/%s", cs->dir, (unsigned)((id >> 8) & 0xff),
		 (unsigned)(id & 0xff), idtxt);
}

static int cs_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* pread on a cached descriptor (struct cs_fd), which reads at random
 * places. Bytes not in the page cache cost a disk read either way; then
 * their surroundings are read with them (CS_MISS_RA from the start of
 * their block), as a whole-block read on a fresh descriptor did, so that
 * the reads and partial writes that follow nearby find them: the page
 * cache of a random reader or writer warms as fast as it did (a cached
 * descriptor's readahead reads a random read's bytes only). */
static int cs_pread_cached(int fd, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	ssize_t got = preadv2(fd, &iov, 1, (off_t)off, RWF_NOWAIT);
	uint64_t start;

	if (got == (ssize_t)len)
		return 0;
	if (got < 0 && errno != EAGAIN && errno != EOPNOTSUPP && errno != EINTR)
		return -errno;
	start = off - (off - CHUNK_HEADER_SIZE) % CHUNK_BLOCK_SIZE;
	(void)posix_fadvise(fd, (off_t)start, (off_t)(len > CS_MISS_RA ? len : CS_MISS_RA),
			    POSIX_FADV_WILLNEED);
	return chunk_file_pread_full(fd, buf, len, off);
}

/* Write len bytes at off. A long, page-aligned run (the 8 MiB pieces of a
 * sequential writer) goes with O_DIRECT: the data moves from the request
 * buffer to the disk without a copy into the page cache and without the
 * writeback that buffered writes cost later — on a small box that copy
 * was the workers' biggest CPU cost. The unaligned tail, and everything
 * when the file system refuses O_DIRECT (tmpfs, EINVAL: the store turns
 * it off for good), go through the page cache. The kernel keeps cached
 * and direct I/O of one file coherent. */
static int cs_write_data(struct chunk_store *cs, int fd, const unsigned char *src, size_t len,
			 uint64_t off)
{
	size_t direct = len & ~(size_t)(CS_DIRECT_ALIGN - 1);
	int flags, r;

	if (!atomic_load_explicit(&cs->direct_io, memory_order_relaxed) ||
	    direct < CS_DIRECT_MIN || off % CS_DIRECT_ALIGN != 0 ||
	    (uintptr_t)src % CS_DIRECT_ALIGN != 0)
		return cs_pwrite_full(fd, src, len, off);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) < 0) {
		atomic_store(&cs->direct_io, false);
		log_info("chunk store %s: O_DIRECT refused (%s); writes go through the page cache",
			 cs->dir, strerror(errno));
		return cs_pwrite_full(fd, src, len, off);
	}
	r = cs_pwrite_full(fd, src, direct, off);
	if (fcntl(fd, F_SETFL, flags) < 0 && r == 0)
		r = -errno;
	if (r == -EINVAL) {
		/* nothing or a prefix was written: all of it again, cached */
		atomic_store(&cs->direct_io, false);
		log_info("chunk store %s: O_DIRECT write refused; writes go through the page cache",
			 cs->dir);
		return cs_pwrite_full(fd, src, len, off);
	}
	if (r < 0 || direct == len)
		return r;
	return cs_pwrite_full(fd, src + direct, len - direct, off + direct);
}

void chunk_store_set_direct_io(struct chunk_store *cs, bool on)
{
	atomic_store(&cs->direct_io, on);
}

static int cs_mkdir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The bits of xx_new and yy_new for id's folders. */
static unsigned cs_xx_of(uint64_t id)
{
	return (unsigned)((id >> 8) & 0xff);
}

static unsigned cs_yy_of(uint64_t id)
{
	return (unsigned)(id & 0xffff);
}

static bool cs_bit(const uint64_t *bits, unsigned i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

static void cs_bit_set(uint64_t *bits, unsigned i, bool on)
{
	if (on)
		bits[i / 64] |= (uint64_t)1 << (i % 64);
	else
		bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static int cs_fsync_dir(struct chunk_store *cs, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	pthread_mutex_lock(&cs->dir_mu);
	cs->dir_fsyncs++;
	pthread_mutex_unlock(&cs->dir_mu);
	return r;
}

/* mkdir path: 1 if made now, 0 if it was there, or -errno. */
static int cs_mkdir_new(const char *path)
{
	if (mkdir(path, 0755) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* Create DIR/XX and DIR/XX/YY for id (both may exist); out gets
 * DIR/XX/YY. The bit of a folder made is set before dir_mu is let go:
 * another thread may create a chunk in the folder the moment it exists,
 * but reads the bits (at its fsync) under dir_mu, so never without it. */
static int cs_make_dirs(struct chunk_store *cs, uint64_t id, char *out, size_t cap)
{
	char xx[PATH_MAX];
	int r;

	cs_path(xx, sizeof(xx), "%s/%02x", cs->dir, cs_xx_of(id));
	cs_dir_path(cs, id, out, cap);
	pthread_mutex_lock(&cs->dir_mu);
	r = cs_mkdir_new(xx);
	if (r > 0)
		cs_bit_set(cs->xx_new, cs_xx_of(id), true);
	if (r >= 0)
		r = cs_mkdir_new(out);
	if (r > 0)
		cs_bit_set(cs->yy_new, cs_yy_of(id), true);
	pthread_mutex_unlock(&cs->dir_mu);
	return r < 0 ? r : 0;
}

/* Make the name of a chunk file in id's folder durable: fsync the folder,
 * then the parent of each folder made since that parent's last fsync, up
 * to the top. Called after the name is in place (a create, a rename). */
static int cs_sync_folders(struct chunk_store *cs, uint64_t id)
{
	char path[PATH_MAX];
	bool yy_new, xx_new;
	int r;

	cs_dir_path(cs, id, path, sizeof(path));
	r = cs_fsync_dir(cs, path);
	if (r < 0)
		return r;
	pthread_mutex_lock(&cs->dir_mu);
	yy_new = cs_bit(cs->yy_new, cs_yy_of(id));
	xx_new = cs_bit(cs->xx_new, cs_xx_of(id));
	pthread_mutex_unlock(&cs->dir_mu);
	if (yy_new) {
		cs_path(path, sizeof(path), "%s/%02x", cs->dir, cs_xx_of(id));
		r = cs_fsync_dir(cs, path);
		if (r < 0)
			return r;
		pthread_mutex_lock(&cs->dir_mu);
		cs_bit_set(cs->yy_new, cs_yy_of(id), false);
		pthread_mutex_unlock(&cs->dir_mu);
	}
	if (xx_new) {
		r = cs_fsync_dir(cs, cs->dir);
		if (r < 0)
			return r;
		pthread_mutex_lock(&cs->dir_mu);
		cs_bit_set(cs->xx_new, cs_xx_of(id), false);
		pthread_mutex_unlock(&cs->dir_mu);
	}
	return 0;
}

/* This thread's 64 KiB block buffer (allocated at its first use, freed
 * when the thread ends), or NULL when out of memory. */
static unsigned char *cs_block_buf(struct chunk_store *cs)
{
	unsigned char *b = pthread_getspecific(cs->block_key);

	if (!b) {
		b = malloc(CHUNK_BLOCK_SIZE);
		if (b && pthread_setspecific(cs->block_key, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

/* ---- header encoding ---------------------------------------------------- */

/* Whether the CRC entries in the second page of h are all 0. */
/* Decode and validate a header read from the file of chunk id whose size
 * is fsize. Returns 0 or -EIO with a log line saying what is wrong. */
static int cs_header_decode(const unsigned char *buf, uint64_t id, uint64_t fsize,
			    struct chunk_header *h)
{
	const char *why;
	int r = chunk_header_decode(buf, id, fsize, h, &why);

	if (r < 0) {
		char idtxt[CHUNK_ID_STRLEN + 1];

		chunk_id_format(id, idtxt);
		log_err("chunk %s: damaged chunk file (%s); not served", idtxt, why);
	}
	return r;
}

/* Read and validate the header of the open file of chunk id (its bytes
 * up to CHUNK_FILE_HEADER_USED: what follows is never looked at). *ret_fsize gets
 * the file size. With linked, a file that has lost its name (deleted or
 * replaced since it was opened) is -ENOENT, before anything is logged. */
static int cs_header_load_ex(int fd, uint64_t id, struct chunk_header *h, uint64_t *ret_fsize,
			     bool linked)
{
	unsigned char buf[CHUNK_FILE_HEADER_USED];
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (linked && st.st_nlink == 0)
		return -ENOENT;
	if ((uint64_t)st.st_size < CHUNK_HEADER_SIZE) {
		char idtxt[CHUNK_ID_STRLEN + 1];

		chunk_id_format(id, idtxt);
		log_err("chunk %s: damaged chunk file (shorter than its header); not served",
			idtxt);
		return -EIO;
	}
	r = chunk_file_pread_full(fd, buf, sizeof(buf), 0);
	if (r < 0)
		return r;
	r = cs_header_decode(buf, id, (uint64_t)st.st_size, h);
	if (r < 0)
		return r;
	*ret_fsize = (uint64_t)st.st_size;
	return 0;
}

static int cs_header_load(int fd, uint64_t id, struct chunk_header *h, uint64_t *ret_fsize)
{
	return cs_header_load_ex(fd, id, h, ret_fsize, false);
}

/* Write h: its first CHUNK_FILE_HEADER_USED bytes, or only its first page when the
 * CRC entries in the second are 0 in h and on disk already (entries past
 * the length are 0: every chunk of up to CHUNK_FILE_PAGE0_BLOCKS blocks). The
 * data, written before, makes the file CHUNK_HEADER_SIZE + length bytes
 * long; a chunk of no data is made that long here (a new file is
 * shorter). */
static int cs_header_store(int fd, struct chunk_header *h)
{
	bool zero = chunk_header_page1_zero(h);
	unsigned char buf[CHUNK_FILE_HEADER_USED];
	int r;

	chunk_header_encode(h, buf);
	r = cs_pwrite_full(fd, buf, zero && h->page1_zero ? CHUNK_FILE_PAGE : CHUNK_FILE_HEADER_USED, 0);
	if (r == 0)
		h->page1_zero = zero;
	if (r == 0 && h->length == 0 && ftruncate(fd, CHUNK_HEADER_SIZE) < 0)
		r = -errno;
	return r;
}

/* ---- descriptor cache (see the head) ------------------------------------ */

/* fd_mu held. One reference less; the last one closes the file. */
static void cs_fd_unref_locked(struct cs_fd *e)
{
	if (--e->refs == 0) {
		close(e->fd);
		free(e);
	}
}

static struct cs_fd **cs_fd_chain(struct chunk_store *cs, uint64_t id)
{
	return &cs->fd_buckets[cs_hash(id) & (cs->fd_nbuckets - 1)];
}

/* fd_mu held. e (in the table) becomes the most recently used. */
static void cs_fd_unlink_use(struct chunk_store *cs, struct cs_fd *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		cs->fd_newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		cs->fd_oldest = e->newer;
	e->newer = e->older = NULL;
}

static void cs_fd_push_use(struct chunk_store *cs, struct cs_fd *e)
{
	e->older = cs->fd_newest;
	e->newer = NULL;
	if (cs->fd_newest)
		cs->fd_newest->newer = e;
	else
		cs->fd_oldest = e;
	cs->fd_newest = e;
}

/* fd_mu held. Take e out of the table (its users keep it until done). */
static void cs_fd_remove_locked(struct chunk_store *cs, struct cs_fd *e)
{
	for (struct cs_fd **p = cs_fd_chain(cs, e->id); *p; p = &(*p)->hnext)
		if (*p == e) {
			*p = e->hnext;
			cs_fd_unlink_use(cs, e);
			e->in_table = false;
			cs->fd_count--;
			cs_fd_unref_locked(e);
			return;
		}
}

/* fd_mu held. id's entry in the table, or NULL. */
static struct cs_fd *cs_fd_find_locked(struct chunk_store *cs, uint64_t id)
{
	for (struct cs_fd *e = *cs_fd_chain(cs, id); e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

/* The cached entry of id with a reference for the caller, or NULL. */
static struct cs_fd *cs_fd_lookup(struct chunk_store *cs, uint64_t id)
{
	pthread_mutex_lock(&cs->fd_mu);
	struct cs_fd *e = cs_fd_find_locked(cs, id);
	if (e) {
		e->refs++;
		cs_fd_unlink_use(cs, e);
		cs_fd_push_use(cs, e);
	}
	pthread_mutex_unlock(&cs->fd_mu);
	return e;
}

/* Give back the caller's reference to e (NULL is fine). */
static void cs_fd_put(struct chunk_store *cs, struct cs_fd *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&cs->fd_mu);
	cs_fd_unref_locked(e);
	pthread_mutex_unlock(&cs->fd_mu);
}

/* Drop e from the table: the next call opens the file afresh. */
static void cs_fd_forget(struct chunk_store *cs, struct cs_fd *e)
{
	pthread_mutex_lock(&cs->fd_mu);
	if (e->in_table)
		cs_fd_remove_locked(cs, e);
	pthread_mutex_unlock(&cs->fd_mu);
}

/* Drop id's entry, if any. Caller holds id's stripe lock exclusively
 * (the file is about to be deleted or replaced). */
static void cs_fd_forget_id(struct chunk_store *cs, uint64_t id)
{
	pthread_mutex_lock(&cs->fd_mu);
	struct cs_fd *e = cs_fd_find_locked(cs, id);
	if (e)
		cs_fd_remove_locked(cs, e);
	pthread_mutex_unlock(&cs->fd_mu);
}

/* Wrap the open descriptor fd of id's file in an entry, put it in the
 * table (in place of another entry of id; the least recently used one
 * goes when the table is full) and return it with a reference for the
 * caller. Out of memory: fd is closed, NULL. */
static struct cs_fd *cs_fd_add(struct chunk_store *cs, uint64_t id, int fd, bool rw)
{
	struct cs_fd *e = calloc(1, sizeof(*e));

	if (!e) {
		close(fd);
		return NULL;
	}
	e->id = id;
	e->fd = fd;
	e->rw = rw;
	e->refs = 2;
	e->in_table = true;
	pthread_mutex_lock(&cs->fd_mu);
	struct cs_fd *o = cs_fd_find_locked(cs, id);
	if (o)
		cs_fd_remove_locked(cs, o);   /* two opened it at once: the newer stays */
	else if (cs->fd_count >= cs->fd_cap && cs->fd_oldest)
		cs_fd_remove_locked(cs, cs->fd_oldest);
	struct cs_fd **chain = cs_fd_chain(cs, id);
	e->hnext = *chain;
	*chain = e;
	cs_fd_push_use(cs, e);
	cs->fd_count++;
	pthread_mutex_unlock(&cs->fd_mu);
	return e;
}

/* How many chunk files to keep open: half of what the process may open,
 * within [CS_FD_MIN, CS_FD_MAX]; the table's chains, one per entry. */
static int cs_fd_init(struct chunk_store *cs)
{
	struct rlimit rl;
	rlim_t half = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur / 2 : CS_FD_MIN;

	cs->fd_cap = half < CS_FD_MIN ? CS_FD_MIN : half > CS_FD_MAX ? CS_FD_MAX : (size_t)half;
	cs->fd_nbuckets = CS_FD_MIN;
	while (cs->fd_nbuckets < cs->fd_cap)
		cs->fd_nbuckets *= 2;
	cs->fd_buckets = calloc(cs->fd_nbuckets, sizeof(*cs->fd_buckets));
	return cs->fd_buckets ? 0 : -ENOMEM;
}

/* Caller holds id's stripe lock (exclusively when rw: it changes the
 * file). Chunk id's file, opened for writing too when rw, with its header
 * loaded into h and *ret_fsize its size: the cached descriptor while its
 * file still has its name and a good header, else a fresh open (cached
 * when the header is good). Returns the entry (give it back with
 * cs_fd_put) or NULL with -errno in *ret_err: -ENOENT for no file, -EIO
 * for a damaged one (logged), another -errno from the file system. */
static struct cs_fd *cs_fd_load(struct chunk_store *cs, uint64_t id, bool rw,
				struct chunk_header *h, uint64_t *ret_fsize, int *ret_err)
{
	char path[PATH_MAX];
	struct cs_fd *e = cs_fd_lookup(cs, id);
	int fd, r;

	if (e && (e->rw || !rw) && cs_header_load_ex(e->fd, id, h, ret_fsize, true) == 0)
		return e;
	if (e) {
		/* renamed over or deleted from outside, damaged, or read-only:
		 * the file as its name has it now decides */
		cs_fd_forget(cs, e);
		cs_fd_put(cs, e);
	}
	cs_file_path(cs, id, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && !rw && (errno == EACCES || errno == EROFS)) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		rw = false;
	} else {
		rw = true;
	}
	if (fd < 0) {
		*ret_err = -errno;
		return NULL;
	}
	r = cs_header_load(fd, id, h, ret_fsize);
	if (r < 0) {
		close(fd);
		*ret_err = r;
		return NULL;
	}
	e = cs_fd_add(cs, id, fd, rw);
	if (!e)
		*ret_err = -ENOMEM;
	return e;
}

/* ---- index ------------------------------------------------------------- */

/* Callers hold index_mu. */
static struct cs_entry *cs_index_find(struct chunk_store *cs, uint64_t id)
{
	struct cs_entry *e = cs->buckets[cs_hash(id) & (cs->nbuckets - 1)];

	while (e && e->id != id)
		e = e->next;
	return e;
}

static void cs_index_grow(struct chunk_store *cs)
{
	size_t n = cs->nbuckets * 2;
	struct cs_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;     /* keep the longer chains; still correct */
	for (size_t i = 0; i < cs->nbuckets; i++) {
		struct cs_entry *e = cs->buckets[i];

		while (e) {
			struct cs_entry *next = e->next;
			size_t k = cs_hash(e->id) & (n - 1);

			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(cs->buckets);
	cs->buckets = b;
	cs->nbuckets = n;
}

/* Insert or update id; adjusts used_bytes. Callers hold index_mu. */
static int cs_index_set(struct chunk_store *cs, uint64_t id, uint32_t version,
			uint32_t length, bool created)
{
	struct cs_entry *e = cs_index_find(cs, id);

	if (!e) {
		size_t k;

		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->id = id;
		k = cs_hash(id) & (cs->nbuckets - 1);
		e->next = cs->buckets[k];
		cs->buckets[k] = e;
		cs->nentries++;
		cs->used_bytes += CHUNK_HEADER_SIZE;
		e->length = 0;
		if (cs->nentries > cs->nbuckets)
			cs_index_grow(cs);
	}
	cs->used_bytes = cs->used_bytes - e->length + length;
	e->version = version;
	e->length = length;
	if (created)
		e->dir_dirty = true;
	return 0;
}

static void cs_index_remove(struct chunk_store *cs, uint64_t id)
{
	struct cs_entry **pp = &cs->buckets[cs_hash(id) & (cs->nbuckets - 1)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	if (*pp) {
		struct cs_entry *e = *pp;

		*pp = e->next;
		cs->nentries--;
		cs->used_bytes -= CHUNK_HEADER_SIZE + (uint64_t)e->length;
		free(e);
	}
}

/* Reserve growth bytes against the capacity limit. */
static int cs_reserve(struct chunk_store *cs, uint64_t growth)
{
	int r = 0;

	if (growth == 0)
		return 0;
	pthread_mutex_lock(&cs->index_mu);
	if (cs->capacity_limit &&
	    cs->used_bytes + cs->reserved_bytes + growth > cs->capacity_limit)
		r = -ENOSPC;
	else
		cs->reserved_bytes += growth;
	pthread_mutex_unlock(&cs->index_mu);
	return r;
}

/* Drop a reservation and, when ok, record the chunk's new state. */
static int cs_commit_index(struct chunk_store *cs, uint64_t growth, bool ok,
			   uint64_t id, uint32_t version, uint32_t length, bool created)
{
	int r = 0;

	pthread_mutex_lock(&cs->index_mu);
	cs->reserved_bytes -= growth;
	if (ok)
		r = cs_index_set(cs, id, version, length, created);
	pthread_mutex_unlock(&cs->index_mu);
	return r;
}

/* ---- block helpers ----------------------------------------------------- */

/* Read the stored bytes of block b (old length old_len) into buf and check
 * them against h->crc[b]. cached: fd is a cached descriptor (read with
 * cs_pread_cached). Returns the number of stored bytes or -errno. */
/* chunk_file_read_range, the bytes read through the cached descriptor's
 * read-around (cached) or plainly; a block that does not check is logged. */
static int cs_read_checked(int fd, const struct chunk_header *h, uint64_t off, size_t len,
			   unsigned char *out, unsigned char *scratch, bool cached)
{
	struct chunk_bad_block bad;
	int r = chunk_file_read_range(fd, h, off, len, out, scratch,
				      cached ? cs_pread_cached : chunk_file_pread_full, &bad);

	if (r == -EIO) {
		char idtxt[CHUNK_ID_STRLEN + 1];

		chunk_id_format(h->id, idtxt);
		log_err("chunk %s v%" PRIu32 ": CRC mismatch in block %" PRIu32
			" (stored %08" PRIx32 ", computed %08" PRIx32 "); block not served",
			idtxt, h->version, bad.block, bad.stored, bad.computed);
	}
	return r;
}

static int64_t cs_read_block(int fd, const struct chunk_header *h, uint32_t b,
			     unsigned char *buf, bool cached)
{
	uint64_t start = (uint64_t)b * CHUNK_BLOCK_SIZE;
	uint64_t n;
	int r;

	if (start >= h->length)
		return 0;
	n = cs_min(CHUNK_BLOCK_SIZE, h->length - start);
	/* one whole block: read straight into buf, no scratch needed */
	r = cs_read_checked(fd, h, start, n, buf, NULL, cached);
	return r < 0 ? r : (int64_t)n;
}

/* a * b modulo the CRC32C polynomial, bit-reflected (zlib's multmodp). */
static uint32_t cs_gf_mul(uint32_t a, uint32_t b)
{
	uint32_t m = (uint32_t)1 << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CS_CRC32C_POLY : b >> 1;
	}
	return p;
}

/* Fill cs->x2n: x^(2^k) for k = 0..31. */
static void cs_x2n_init(struct chunk_store *cs)
{
	uint32_t p = (uint32_t)1 << 30;    /* x^1 */

	cs->x2n[0] = p;
	for (int k = 1; k < 32; k++)
		cs->x2n[k] = p = cs_gf_mul(p, p);
}

/* The new CRC of a block of CRC crc whose bytes [at, at + n) change from
 * old_bytes to new_bytes, tail bytes following them to the block's end.
 * The CRC is affine in the bytes: crc(A ^ B) = crc(A) ^ crc(B) ^ crc(0),
 * so the change adds crc(old) ^ crc(new) of the range, carried through
 * the tail's bytes (multiplied by x^(8 tail)); leading bytes do not
 * matter. A block whose stored bytes do not match crc yields a CRC that
 * does not match its new bytes either. */
static uint32_t cs_crc_patch(const struct chunk_store *cs, uint32_t crc,
			     const unsigned char *old_bytes, const unsigned char *new_bytes,
			     size_t n, uint64_t tail)
{
	uint32_t delta = crc32c(0, old_bytes, n) ^ crc32c(0, new_bytes, n);
	uint32_t shift = (uint32_t)1 << 31;    /* x^0 */

	for (unsigned k = 3; tail; tail >>= 1, k++)   /* x^(8 tail) */
		if (tail & 1)
			shift = cs_gf_mul(cs->x2n[k & 31], shift);
	return crc ^ cs_gf_mul(shift, delta);
}

/* CRC of n zero bytes (n <= CHUNK_BLOCK_SIZE). */
static uint32_t cs_zero_crc(const struct chunk_store *cs, uint64_t n)
{
	if (n == CHUNK_BLOCK_SIZE)
		return cs->zero_block_crc;
	return crc32c(0, cs_zeros, n);
}

/* ---- open / scan -------------------------------------------------------- */

static bool cs_is_hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

static void cs_quarantine(struct chunk_store *cs, const char *path, const char *name)
{
	char dst[PATH_MAX];

	if (cs_mkdir(cs->quarantine) < 0) {
		log_err("cannot create %s: %s; leaving %s in place", cs->quarantine,
			strerror(errno), path);
		return;
	}
	cs_path(dst, sizeof(dst), "%s/%s.%lld", cs->quarantine, name, (long long)time(NULL));
	if (rename(path, dst) < 0)
		log_err("cannot move %s to %s: %s", path, dst, strerror(errno));
	else
		log_warn("moved damaged chunk file %s to %s", path, dst);
}

/* Examine one file in DIR/XX/YY. */
static void cs_scan_file(struct chunk_store *cs, const char *dirpath, const char *name,
			 unsigned xx, unsigned yy)
{
	char path[PATH_MAX];
	struct chunk_header *h;
	uint64_t id, fsize;
	int fd, r;

	cs_path(path, sizeof(path), "%s/%s", dirpath, name);
	if (name[0] == '.') {
		/* temporary file of an interrupted replication */
		if (unlink(path) == 0)
			log_info("removed leftover temporary file %s", path);
		return;
	}
	if (chunk_id_parse(name, &id) < 0 || strspn(name, "0123456789abcdef") != 16 ||
	    ((id >> 8) & 0xff) != xx || (id & 0xff) != yy) {
		log_warn("ignoring unexpected file %s in the chunk folder", path);
		return;
	}
	h = malloc(sizeof(*h));
	if (!h)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		goto out_free;
	}
	r = cs_header_load(fd, id, h, &fsize);
	close(fd);
	if (r == -EIO) {
		cs_quarantine(cs, path, name);
		goto out_free;
	}
	if (r < 0) {
		log_err("cannot read %s: %s", path, strerror(-r));
		goto out_free;
	}
	/* maybe not on disk yet (a previous run may have stopped before the
	 * chunk's fsync): its first fsync syncs its folders too */
	pthread_mutex_lock(&cs->index_mu);
	r = cs_index_set(cs, id, h->version, h->length, true);
	pthread_mutex_unlock(&cs->index_mu);
	if (r < 0)
		log_err("out of memory indexing %s", path);
out_free:
	free(h);
}

static int cs_scan(struct chunk_store *cs)
{
	DIR *top, *mid, *leaf;
	struct dirent *d1, *d2, *d3;
	char p1[PATH_MAX], p2[PATH_MAX];

	top = opendir(cs->dir);
	if (!top)
		return -errno;
	while ((d1 = readdir(top))) {
		if (!cs_is_hex2(d1->d_name))
			continue;
		cs_path(p1, sizeof(p1), "%s/%s", cs->dir, d1->d_name);
		mid = opendir(p1);
		if (!mid)
			continue;
		while ((d2 = readdir(mid))) {
			if (!cs_is_hex2(d2->d_name))
				continue;
			cs_path(p2, sizeof(p2), "%s/%s", p1, d2->d_name);
			leaf = opendir(p2);
			if (!leaf)
				continue;
			/* as for the chunks: these folders may not be on disk yet */
			pthread_mutex_lock(&cs->dir_mu);
			cs_bit_set(cs->xx_new, (unsigned)strtoul(d1->d_name, NULL, 16), true);
			cs_bit_set(cs->yy_new,
				   (unsigned)(strtoul(d1->d_name, NULL, 16) << 8 |
					      strtoul(d2->d_name, NULL, 16)),
				   true);
			pthread_mutex_unlock(&cs->dir_mu);
			while ((d3 = readdir(leaf))) {
				if (!strcmp(d3->d_name, ".") || !strcmp(d3->d_name, ".."))
					continue;
				cs_scan_file(cs, p2, d3->d_name,
					     (unsigned)strtoul(d1->d_name, NULL, 16),
					     (unsigned)strtoul(d2->d_name, NULL, 16));
			}
			closedir(leaf);
		}
		closedir(mid);
	}
	closedir(top);
	return 0;
}

int chunk_store_open(const char *data_dir, uint64_t capacity_limit,
		     struct chunk_store **ret)
{
	struct chunk_store *cs;
	int r = -ENOMEM;

	if (strlen(data_dir) > CS_DIR_MAX) {
		log_err("data folder name too long: %s", data_dir);
		return -ENAMETOOLONG;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	if (asprintf(&cs->dir, "%s/chunks", data_dir) < 0) {
		cs->dir = NULL;
		goto out_free;
	}
	if (asprintf(&cs->quarantine, "%s/quarantine", data_dir) < 0) {
		cs->quarantine = NULL;
		goto out_free;
	}
	cs->nbuckets = 1024;
	cs->buckets = calloc(cs->nbuckets, sizeof(*cs->buckets));
	if (!cs->buckets)
		goto out_free;
	cs->capacity_limit = capacity_limit;
	cs->zero_block_crc = crc32c(0, cs_zeros, CHUNK_BLOCK_SIZE);
	atomic_init(&cs->direct_io, true);
	for (int i = 0; i < CS_STRIPES; i++)
		pthread_rwlock_init(&cs->stripes[i], NULL);
	pthread_mutex_init(&cs->index_mu, NULL);
	pthread_mutex_init(&cs->dir_mu, NULL);
	pthread_mutex_init(&cs->fd_mu, NULL);
	if (cs_fd_init(cs) < 0)
		goto out_close;
	cs_x2n_init(cs);
	if (pthread_key_create(&cs->block_key, free) != 0)
		goto out_close;
	cs->block_key_made = true;

	r = cs_mkdir_new(cs->dir);
	if (r < 0) {
		log_err("cannot create %s: %s", cs->dir, strerror(-r));
		goto out_close;
	}
	if (r > 0 && cs_fsync_dir(cs, data_dir) < 0)
		log_warn("cannot fsync %s after making %s in it", data_dir, cs->dir);
	r = cs_scan(cs);
	if (r < 0) {
		log_err("cannot scan %s: %s", cs->dir, strerror(-r));
		goto out_close;
	}
	*ret = cs;
	return 0;

out_close:
	chunk_store_close(cs);
	return r;
out_free:
	free(cs->dir);
	free(cs->quarantine);
	free(cs->buckets);
	free(cs);
	return r;
}

void chunk_store_close(struct chunk_store *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->nbuckets; i++) {
		struct cs_entry *e = cs->buckets[i];

		while (e) {
			struct cs_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	while (cs->fd_oldest)
		cs_fd_remove_locked(cs, cs->fd_oldest);   /* no call runs: no user */
	free(cs->fd_buckets);
	pthread_mutex_destroy(&cs->fd_mu);
	for (int i = 0; i < CS_STRIPES; i++)
		pthread_rwlock_destroy(&cs->stripes[i]);
	pthread_mutex_destroy(&cs->index_mu);
	pthread_mutex_destroy(&cs->dir_mu);
	if (cs->block_key_made) {
		/* other threads' buffers went with them; this one's goes now */
		free(pthread_getspecific(cs->block_key));
		pthread_key_delete(cs->block_key);
	}
	free(cs->buckets);
	free(cs->dir);
	free(cs->quarantine);
	free(cs);
}

/* ---- read -------------------------------------------------------------- */

/* Copy [offset, offset+len) of the open, validated chunk into out. Whole
 * blocks are read straight into out and checked there; a block of which
 * only a part is asked for is read once into this thread's block buffer,
 * checked, and the part copied out. cached: fd is a cached descriptor
 * (cs_pread_cached); others are read with their own readahead. */
static int cs_read_range(struct chunk_store *cs, int fd, bool cached, const struct chunk_header *h,
			 uint64_t offset, size_t len, unsigned char *out)
{
	unsigned char *scratch = cs_block_buf(cs);
	int r = scratch ? cs_read_checked(fd, h, offset, len, out, scratch, cached) : -ENOMEM;

	if (r < 0)
		memset(out, 0, len);    /* never hand out part of a bad read */
	return r;
}

/* Caller holds id's stripe lock. Open chunk id's file and load its
 * header into h (*ret_fsize: the file size), checking it is at version.
 * Returns the descriptor or -errno (-ESTALE for another version). */
static int cs_open_version(struct chunk_store *cs, uint64_t id, uint32_t version,
			   struct chunk_header *h, uint64_t *ret_fsize)
{
	char path[PATH_MAX];
	int fd, r;
	/* through the cached descriptor's inode: no walk of the folders,
	 * whose entries a cold cache reads from the disk; a descriptor of
	 * its own all the same (its own offset and readahead) */
	struct cs_fd *e = cs_fd_load(cs, id, false, h, ret_fsize, &r);

	if (e) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", e->fd);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		cs_fd_put(cs, e);
		if (fd >= 0) {
			if (h->version == version)
				return fd;
			close(fd);
			return -ESTALE;
		}
	} else if (r != -EMFILE && r != -ENFILE && r != -ENOMEM) {
		return r;
	}
	cs_file_path(cs, id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = cs_header_load(fd, id, h, ret_fsize);
	if (r == 0 && h->version != version)
		r = -ESTALE;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int chunk_store_read(struct chunk_store *cs, uint64_t id, uint32_t version,
		     uint64_t offset, size_t len, void *out)
{
	struct chunk_header *h;
	struct cs_fd *e;
	uint64_t fsize;
	int r;

	if (offset > CHUNK_SIZE_MAX || len > CHUNK_SIZE_MAX - offset)
		return -EINVAL;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_rwlock_rdlock(cs_stripe(cs, id));
	e = cs_fd_load(cs, id, false, h, &fsize, &r);
	if (e && h->version != version)
		r = -ESTALE;
	else if (e)
		r = cs_read_range(cs, e->fd, true, h, offset, len, out);
	cs_fd_put(cs, e);
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	return r;
}

int chunk_store_read_fd(struct chunk_store *cs, uint64_t id, uint32_t version,
			uint64_t offset, size_t len, int *ret_fd, uint64_t *ret_file_off,
			uint32_t *crcs, uint32_t *ret_nblocks)
{
	struct chunk_header *h;
	uint64_t fsize, end = offset + len;
	int fd, r;

	if (offset > CHUNK_SIZE_MAX || len > CHUNK_SIZE_MAX - offset)
		return -EINVAL;
	if (len == 0 || offset % CHUNK_BLOCK_SIZE != 0)
		return -EAGAIN;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_rwlock_rdlock(cs_stripe(cs, id));
	fd = r = cs_open_version(cs, id, version, h, &fsize);
	if (fd >= 0 && (end > h->length || CHUNK_HEADER_SIZE + end > fsize ||
			(end % CHUNK_BLOCK_SIZE != 0 && end != h->length))) {
		close(fd);
		r = -EAGAIN;
	} else if (fd >= 0) {
		*ret_nblocks = (uint32_t)((len + CHUNK_BLOCK_SIZE - 1) / CHUNK_BLOCK_SIZE);
		memcpy(crcs, &h->crc[offset / CHUNK_BLOCK_SIZE], *ret_nblocks * sizeof(*crcs));
		*ret_fd = fd;
		*ret_file_off = CHUNK_HEADER_SIZE + offset;
		r = 0;
	}
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	return r;
}

int chunk_store_open_read(struct chunk_store *cs, uint64_t id, uint32_t version, int *ret_fd)
{
	struct chunk_header *h = malloc(sizeof(*h));
	uint64_t fsize;
	int fd;

	if (!h)
		return -ENOMEM;
	pthread_rwlock_rdlock(cs_stripe(cs, id));
	fd = cs_open_version(cs, id, version, h, &fsize);
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

int chunk_store_verify(struct chunk_store *cs, uint64_t id, struct chunk_info *ret)
{
	const size_t piece = 16 * CHUNK_BLOCK_SIZE;
	char path[PATH_MAX];
	struct chunk_header *h;
	unsigned char *buf;
	uint64_t fsize;
	int fd, r;

	buf = NULL;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	cs_file_path(cs, id, path, sizeof(path));
	pthread_rwlock_rdlock(cs_stripe(cs, id));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out_unlock;
	}
	r = cs_header_load(fd, id, h, &fsize);
	/* A buffer as big as the chunk, up to a piece: a 1 MiB one for
	 * every small chunk was an mmap, page faults and an munmap (with
	 * its TLB flush) each, most of the scrubber's CPU on a store of
	 * small files. */
	if (r == 0 && h->length > 0 && !(buf = malloc(cs_min(piece, h->length))))
		r = -ENOMEM;
	if (r == 0) {
		*ret = (struct chunk_info){ id, h->version, h->length };
		for (uint64_t off = 0; r == 0 && off < h->length; off += piece)
			r = cs_read_range(cs, fd, false, h, off, cs_min(piece, h->length - off), buf);
	}
	close(fd);
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(buf);
	free(h);
	return r;
}

/* ---- write / truncate ----------------------------------------------------- */

/* Create chunk id's file at path (O_EXCL), making its folders when they
 * are missing. Returns the descriptor, -EEXIST when a file is there, or
 * -errno. */
static int cs_create_file(struct chunk_store *cs, uint64_t id, const char *path)
{
	char dir[PATH_MAX];
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		r = cs_make_dirs(cs, id, dir, sizeof(dir));
		if (r < 0)
			return r;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	return fd < 0 ? -errno : fd;
}

/* The loaded file of an existing chunk id, for changing it at version:
 * refuse a newer version (-ESTALE), and cut off any bytes past the stored
 * length (left by an interrupted write) so that growing reads zeros. */
static int cs_check_for_change(struct chunk_store *cs, struct cs_fd *e, uint32_t version,
			       const struct chunk_header *h, uint64_t fsize)
{
	if (h->version > version)
		return -ESTALE;
	if (fsize > (uint64_t)CHUNK_HEADER_SIZE + h->length &&
	    ftruncate(e->fd, (off_t)(CHUNK_HEADER_SIZE + (uint64_t)h->length)) < 0) {
		int r = -errno;

		cs_fd_forget(cs, e);
		return r;
	}
	return 0;
}

/* Open chunk id for changing it at version, creating it if absent.
 * Caller holds the stripe lock exclusively. On success *ret is its cached
 * file (give it back with cs_fd_put; drop it with cs_fd_forget when the
 * change fails half way), h is loaded (cs_check_for_change) or fresh, and
 * *ret_created says whether the file is new. The index knows every chunk
 * file (its writers hold the stripe lock): a chunk it does not know is
 * created at once, without an open that fails first; a file there after
 * all (put there from outside) is opened as an existing chunk. */
static int cs_open_for_change(struct chunk_store *cs, uint64_t id, uint32_t version,
			      struct chunk_header *h, struct cs_fd **ret, bool *ret_created)
{
	char path[PATH_MAX];
	struct cs_fd *e;
	uint64_t fsize;
	bool known;
	int fd = -EEXIST, r;

	cs_file_path(cs, id, path, sizeof(path));
	pthread_mutex_lock(&cs->index_mu);
	known = cs_index_find(cs, id) != NULL;
	pthread_mutex_unlock(&cs->index_mu);
	if (!known)
		fd = cs_create_file(cs, id, path);
	if (fd == -EEXIST) {
		e = cs_fd_load(cs, id, true, h, &fsize, &r);
		if (e) {
			r = cs_check_for_change(cs, e, version, h, fsize);
			if (r < 0) {
				cs_fd_put(cs, e);
				return r;
			}
			*ret = e;
			*ret_created = false;
			return 0;
		}
		/* the index knew it and the file is gone: made again */
		fd = r == -ENOENT ? cs_create_file(cs, id, path) : r;
	}
	if (fd < 0)
		return fd;
	e = cs_fd_add(cs, id, fd, true);
	if (!e) {
		unlink(path);
		return -ENOMEM;
	}
	memset(h, 0, sizeof(*h));
	h->id = id;
	h->version = version;
	h->page1_zero = true;
	*ret = e;
	*ret_created = true;
	return 0;
}

/* A new chunk file whose first write failed is removed again. */
static void cs_discard_new(struct chunk_store *cs, uint64_t id)
{
	char path[PATH_MAX];

	cs_fd_forget_id(cs, id);
	cs_file_path(cs, id, path, sizeof(path));
	unlink(path);
}

int chunk_store_write(struct chunk_store *cs, uint64_t id, uint32_t version,
		      uint64_t offset, const void *data, size_t len,
		      uint32_t *ret_length)
{
	const unsigned char *src = data;
	unsigned char *scratch = NULL;
	struct chunk_header *h;
	uint64_t old_len, new_len, dirty_start, dirty_end, growth = 0;
	bool created = false;
	struct cs_fd *e = NULL;
	int r;

	if (offset > CHUNK_SIZE_MAX || len > CHUNK_SIZE_MAX - offset)
		return -EINVAL;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_rwlock_wrlock(cs_stripe(cs, id));
	r = cs_open_for_change(cs, id, version, h, &e, &created);
	if (r < 0)
		goto out_unlock;
	old_len = h->length;
	new_len = len == 0 ? old_len : (offset + len > old_len ? offset + len : old_len);
	growth = new_len - old_len + (created ? CHUNK_HEADER_SIZE : 0);
	r = cs_reserve(cs, growth);
	if (r < 0) {
		growth = 0;
		goto out_close;
	}

	if (len > 0) {
		dirty_start = offset < old_len ? offset : old_len;
		dirty_end = offset + len;
		for (uint32_t b = (uint32_t)(dirty_start / CHUNK_BLOCK_SIZE);
		     (uint64_t)b * CHUNK_BLOCK_SIZE < dirty_end; b++) {
			uint64_t bstart = (uint64_t)b * CHUNK_BLOCK_SIZE;
			uint64_t bend = cs_min(bstart + CHUNK_BLOCK_SIZE, new_len);
			uint64_t ostart, oend;
			int64_t n;

			if (bstart >= offset && bend <= offset + len) {
				h->crc[b] = crc32c(0, src + (bstart - offset), bend - bstart);
				continue;
			}
			if (!scratch) {
				scratch = cs_block_buf(cs);
				if (!scratch) {
					r = -ENOMEM;
					goto out_close;
				}
			}
			ostart = offset > bstart ? offset : bstart;
			oend = cs_min(offset + len, bend);
			if (bend == cs_min(bstart + CHUNK_BLOCK_SIZE, old_len) && ostart < oend) {
				/* new bytes within the stored ones, the block keeps
				 * its length: patch its CRC from the old bytes of
				 * the range alone */
				r = cs_pread_cached(e->fd, scratch, oend - ostart,
						    CHUNK_HEADER_SIZE + ostart);
				if (r < 0)
					goto out_close;
				h->crc[b] = cs_crc_patch(cs, h->crc[b], scratch,
							 src + (ostart - offset), oend - ostart,
							 bend - oend);
				continue;
			}
			/* the block grows: old bytes, zeros, new bytes */
			n = cs_read_block(e->fd, h, b, scratch, true);
			if (n < 0) {
				r = (int)n;
				goto out_close;
			}
			if ((uint64_t)n < bend - bstart)
				memset(scratch + n, 0, bend - bstart - (uint64_t)n);
			if (ostart < oend)
				memcpy(scratch + (ostart - bstart), src + (ostart - offset),
				       oend - ostart);
			h->crc[b] = crc32c(0, scratch, bend - bstart);
		}
		r = cs_write_data(cs, e->fd, src, len, CHUNK_HEADER_SIZE + offset);
		if (r < 0)
			goto out_close;
	}
	h->length = (uint32_t)new_len;
	h->version = version;
	r = cs_header_store(e->fd, h);
	if (r < 0)
		goto out_close;
	if (ret_length)
		*ret_length = h->length;

out_close:
	if (r < 0)
		cs_fd_forget(cs, e);    /* whatever went wrong, open it afresh next time */
	cs_fd_put(cs, e);
	if (r < 0 && created)
		cs_discard_new(cs, id);
	{
		int r2 = cs_commit_index(cs, growth, r == 0, id, version, (uint32_t)new_len,
					 created);
		if (r == 0)
			r = r2;
	}
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	return r;
}

int chunk_store_truncate(struct chunk_store *cs, uint64_t id, uint32_t version,
			 uint64_t length, uint32_t *ret_length)
{
	unsigned char *scratch = NULL;
	struct chunk_header *h;
	uint64_t old_len, growth = 0;
	bool created = false;
	struct cs_fd *e = NULL;
	int r;

	if (length > CHUNK_SIZE_MAX)
		return -EINVAL;
	h = malloc(sizeof(*h));
	scratch = cs_block_buf(cs);
	if (!h || !scratch) {
		free(h);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(cs_stripe(cs, id));
	r = cs_open_for_change(cs, id, version, h, &e, &created);
	if (r < 0)
		goto out_unlock;
	old_len = h->length;
	if (length > old_len)
		growth = length - old_len;
	if (created)
		growth += CHUNK_HEADER_SIZE;
	r = cs_reserve(cs, growth);
	if (r < 0) {
		growth = 0;
		goto out_close;
	}

	if (length < old_len) {
		uint32_t b = (uint32_t)(length / CHUNK_BLOCK_SIZE);
		uint64_t keep = length - (uint64_t)b * CHUNK_BLOCK_SIZE;

		if (keep > 0) {
			int64_t n = cs_read_block(e->fd, h, b, scratch, true);

			if (n < 0) {
				r = (int)n;
				goto out_close;
			}
			h->crc[b] = crc32c(0, scratch, keep);
			b++;
		}
		for (; b < CHUNK_BLOCKS; b++)
			h->crc[b] = 0;
		if (ftruncate(e->fd, (off_t)(CHUNK_HEADER_SIZE + length)) < 0) {
			r = -errno;
			goto out_close;
		}
	} else if (length > old_len) {
		uint32_t b = (uint32_t)(old_len / CHUNK_BLOCK_SIZE);
		uint64_t bstart = (uint64_t)b * CHUNK_BLOCK_SIZE;

		if (old_len > bstart) {
			/* the old last block grows with zeros */
			int64_t n = cs_read_block(e->fd, h, b, scratch, true);
			uint64_t bend = cs_min(bstart + CHUNK_BLOCK_SIZE, length);

			if (n < 0) {
				r = (int)n;
				goto out_close;
			}
			h->crc[b] = crc32c(crc32c(0, scratch, (size_t)n), cs_zeros,
					   bend - bstart - (uint64_t)n);
			b++;
		}
		for (; (uint64_t)b * CHUNK_BLOCK_SIZE < length; b++) {
			uint64_t s = (uint64_t)b * CHUNK_BLOCK_SIZE;

			h->crc[b] = cs_zero_crc(cs, cs_min(CHUNK_BLOCK_SIZE, length - s));
		}
		if (ftruncate(e->fd, (off_t)(CHUNK_HEADER_SIZE + length)) < 0) {
			r = -errno;
			goto out_close;
		}
	}
	h->length = (uint32_t)length;
	h->version = version;
	r = cs_header_store(e->fd, h);
	if (r < 0)
		goto out_close;
	if (ret_length)
		*ret_length = h->length;

out_close:
	if (r < 0)
		cs_fd_forget(cs, e);    /* whatever went wrong, open it afresh next time */
	cs_fd_put(cs, e);
	if (r < 0 && created)
		cs_discard_new(cs, id);
	{
		int r2 = cs_commit_index(cs, growth, r == 0, id, version, (uint32_t)length,
					 created);
		if (r == 0)
			r = r2;
	}
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	return r;
}

/* ---- fsync / delete / stat / list ---------------------------------------- */

int chunk_store_fsync(struct chunk_store *cs, uint64_t id, uint32_t version)
{
	char path[PATH_MAX];
	struct chunk_header *h;
	struct cs_entry *e;
	uint64_t fsize;
	bool dir_dirty = false;
	int fd, r;

	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	cs_file_path(cs, id, path, sizeof(path));
	/* shared: concurrent writers of this chunk are excluded, readers not */
	pthread_rwlock_rdlock(cs_stripe(cs, id));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out_unlock;
	}
	r = cs_header_load(fd, id, h, &fsize);
	if (r < 0)
		goto out_close;
	if (h->version != version) {
		r = -ESTALE;
		goto out_close;
	}
	if (fdatasync(fd) < 0) {
		r = -errno;
		goto out_close;
	}
	pthread_mutex_lock(&cs->index_mu);
	e = cs_index_find(cs, id);
	if (e)
		dir_dirty = e->dir_dirty;
	pthread_mutex_unlock(&cs->index_mu);
	pthread_mutex_lock(&cs->dir_mu);
	cs->file_fsyncs++;
	pthread_mutex_unlock(&cs->dir_mu);
	if (dir_dirty) {
		r = cs_sync_folders(cs, id);
		if (r < 0)
			goto out_close;
		pthread_mutex_lock(&cs->index_mu);
		e = cs_index_find(cs, id);
		if (e)
			e->dir_dirty = false;
		pthread_mutex_unlock(&cs->index_mu);
	}
out_close:
	close(fd);
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, id));
	free(h);
	return r;
}

static int cs_delete(struct chunk_store *cs, uint64_t id, bool upto, uint32_t max_version)
{
	char path[PATH_MAX];
	struct cs_entry *e;
	int r = 0;

	cs_file_path(cs, id, path, sizeof(path));
	pthread_rwlock_wrlock(cs_stripe(cs, id));
	if (upto) {
		bool newer;

		pthread_mutex_lock(&cs->index_mu);
		e = cs_index_find(cs, id);
		newer = e && e->version > max_version;
		pthread_mutex_unlock(&cs->index_mu);
		if (newer || !e)
			goto out_unlock;
	}
	cs_fd_forget_id(cs, id);
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		goto out_unlock;
	}
	pthread_mutex_lock(&cs->index_mu);
	cs_index_remove(cs, id);
	pthread_mutex_unlock(&cs->index_mu);
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, id));
	return r;
}

int chunk_store_delete(struct chunk_store *cs, uint64_t id)
{
	return cs_delete(cs, id, false, 0);
}

int chunk_store_delete_upto(struct chunk_store *cs, uint64_t id, uint32_t max_version)
{
	return cs_delete(cs, id, true, max_version);
}

int chunk_store_stat(struct chunk_store *cs, uint64_t id, struct chunk_info *ret)
{
	struct cs_entry *e;
	int r = -ENOENT;

	pthread_mutex_lock(&cs->index_mu);
	e = cs_index_find(cs, id);
	if (e) {
		ret->id = id;
		ret->version = e->version;
		ret->length = e->length;
		r = 0;
	}
	pthread_mutex_unlock(&cs->index_mu);
	return r;
}

int chunk_store_list(struct chunk_store *cs, struct chunk_info **ret, size_t *ret_n)
{
	struct chunk_info *v = NULL;
	size_t n = 0;
	int r = 0;

	pthread_mutex_lock(&cs->index_mu);
	if (cs->nentries > 0) {
		v = malloc(cs->nentries * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto out_unlock;
		}
		for (size_t i = 0; i < cs->nbuckets; i++)
			for (struct cs_entry *e = cs->buckets[i]; e; e = e->next)
				v[n++] = (struct chunk_info){ e->id, e->version, e->length };
	}
	*ret = v;
	*ret_n = n;
out_unlock:
	pthread_mutex_unlock(&cs->index_mu);
	return r;
}

void chunk_store_usage(struct chunk_store *cs, uint64_t *ret_chunks, uint64_t *ret_bytes)
{
	pthread_mutex_lock(&cs->index_mu);
	*ret_chunks = cs->nentries;
	*ret_bytes = cs->used_bytes;
	pthread_mutex_unlock(&cs->index_mu);
}

void chunk_store_fsyncs(struct chunk_store *cs, uint64_t *ret_files, uint64_t *ret_folders)
{
	pthread_mutex_lock(&cs->dir_mu);
	*ret_files = cs->file_fsyncs;
	*ret_folders = cs->dir_fsyncs;
	pthread_mutex_unlock(&cs->dir_mu);
}

void chunk_store_space(struct chunk_store *cs, uint64_t *ret_capacity, uint64_t *ret_used)
{
	struct statvfs vfs;
	uint64_t chunks, used, capacity = cs->capacity_limit;

	chunk_store_usage(cs, &chunks, &used);
	if (statvfs(cs->dir, &vfs) == 0) {
		uint64_t total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;

		if (capacity == 0)
			capacity = total;
		if (capacity > used + avail)
			capacity = used + avail;
	}
	if (capacity < used)
		capacity = used;
	*ret_capacity = capacity;
	*ret_used = used;
}

/* ---- staging (atomic whole-chunk replacement) ----------------------------- */

int chunk_store_stage_begin(struct chunk_store *cs, uint64_t id, uint32_t version,
			    struct chunk_staging **ret)
{
	char dir[PATH_MAX], idtxt[CHUNK_ID_STRLEN + 1];
	struct chunk_staging *st;
	int r;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->cs = cs;
	st->id = id;
	st->version = version;
	st->hdr.id = id;
	st->hdr.version = version;
	st->hdr.page1_zero = true;
	cs_dir_path(cs, id, dir, sizeof(dir));
	chunk_id_format(id, idtxt);
	if (asprintf(&st->tmp_path, "%s/.%s.XXXXXX", dir, idtxt) < 0) {
		st->tmp_path = NULL;
		r = -ENOMEM;
		goto out_free;
	}
	st->fd = mkostemp(st->tmp_path, O_CLOEXEC);
	if (st->fd < 0 && errno == ENOENT) {
		/* its folders are missing: made, and the name drawn again */
		r = cs_make_dirs(cs, id, dir, sizeof(dir));
		if (r < 0)
			goto out_free;
		snprintf(st->tmp_path, strlen(st->tmp_path) + 1, "%s/.%s.XXXXXX", dir, idtxt);
		st->fd = mkostemp(st->tmp_path, O_CLOEXEC);
	}
	if (st->fd < 0) {
		r = -errno;
		goto out_free;
	}
	*ret = st;
	return 0;

out_free:
	free(st->tmp_path);
	free(st);
	return r;
}

int chunk_store_stage_append(struct chunk_staging *st, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t left = len;
	int r;

	if (len > CHUNK_SIZE_MAX - st->length)
		return -EINVAL;
	r = cs_pwrite_full(st->fd, data, len, CHUNK_HEADER_SIZE + (uint64_t)st->length);
	if (r < 0)
		return r;
	/* chain the CRC of each block over the pieces that fill it */
	while (left > 0) {
		uint32_t b = st->length / CHUNK_BLOCK_SIZE;
		uint32_t in_block = st->length % CHUNK_BLOCK_SIZE;
		size_t n = cs_min(left, CHUNK_BLOCK_SIZE - in_block);

		st->hdr.crc[b] = crc32c(in_block ? st->hdr.crc[b] : 0, p, n);
		p += n;
		left -= n;
		st->length += (uint32_t)n;
	}
	return 0;
}

void chunk_store_stage_abort(struct chunk_staging *st)
{
	if (!st)
		return;
	close(st->fd);
	if (!st->renamed)
		unlink(st->tmp_path);
	free(st->tmp_path);
	free(st);
}

/* Commit st. For a clone (clone true) a chunk already stored at the
 * staged version is kept: success if it has the staged length (a retried
 * clone), -EEXIST if not (it was written since); a replication replaces
 * it (a copy at the same version may be damaged). A newer stored version
 * is -ESTALE either way. */
static int cs_stage_commit(struct chunk_staging *st, bool clone, uint32_t *ret_length)
{
	struct chunk_store *cs = st->cs;
	char path[PATH_MAX];
	struct chunk_header *old = NULL;
	uint64_t growth = 0, fsize;
	uint32_t old_len = 0;
	bool existed = false;
	int fd, r;

	st->hdr.length = st->length;
	r = cs_header_store(st->fd, &st->hdr);
	if (r < 0)
		goto out_abort;
	if (fsync(st->fd) < 0) {
		r = -errno;
		goto out_abort;
	}
	old = malloc(sizeof(*old));
	if (!old) {
		r = -ENOMEM;
		goto out_abort;
	}
	cs_file_path(cs, st->id, path, sizeof(path));
	pthread_rwlock_wrlock(cs_stripe(cs, st->id));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* a damaged old file is simply replaced */
		if (cs_header_load(fd, st->id, old, &fsize) == 0) {
			existed = true;
			old_len = old->length;
		}
		close(fd);
		if (existed && old->version > st->version) {
			r = -ESTALE;
			goto out_unlock;
		}
		if (existed && clone && old->version == st->version) {
			r = old_len == st->length ? 0 : -EEXIST;
			if (r == 0 && ret_length)
				*ret_length = st->length;
			goto out_unlock;
		}
	}
	if (st->length > old_len)
		growth = st->length - old_len;
	if (!existed)
		growth += CHUNK_HEADER_SIZE;
	r = cs_reserve(cs, growth);
	if (r < 0) {
		growth = 0;
		goto out_unlock;
	}
	cs_fd_forget_id(cs, st->id);   /* the old file, if cached */
	if (rename(st->tmp_path, path) < 0) {
		r = -errno;
		goto out_release;
	}
	st->renamed = true;
	r = cs_sync_folders(cs, st->id);
	if (r < 0)
		log_warn("fsync of the folders of %s failed: %s", path, strerror(-r));
	r = 0;
	if (ret_length)
		*ret_length = st->length;
out_release:
	{
		int r2 = cs_commit_index(cs, growth, r == 0, st->id, st->version, st->length,
					 false);
		if (r == 0)
			r = r2;
	}
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, st->id));
out_abort:
	free(old);
	chunk_store_stage_abort(st);   /* the rename consumed the file on success */
	return r;
}

int chunk_store_stage_commit(struct chunk_staging *st, uint32_t *ret_length)
{
	return cs_stage_commit(st, false, ret_length);
}

/* ---- clone (snapshots) ------------------------------------------------ */

/* What the index says about new_id against a clone of length bytes at
 * new_version: 1 when it is there already (a retried clone), 0 when the
 * clone may go ahead, -ESTALE / -EEXIST as chunk_store_clone. The commit
 * checks again against the file under the chunk's lock. */
static int cs_clone_precheck(struct chunk_store *cs, uint64_t new_id, uint32_t new_version,
			     uint32_t length)
{
	struct cs_entry *e;
	int r = 0;

	pthread_mutex_lock(&cs->index_mu);
	e = cs_index_find(cs, new_id);
	if (e && e->version > new_version)
		r = -ESTALE;
	else if (e && e->version == new_version)
		r = e->length == length ? 1 : -EEXIST;
	pthread_mutex_unlock(&cs->index_mu);
	return r;
}

int chunk_store_clone(struct chunk_store *cs, uint64_t old_id, uint32_t old_version,
		      uint64_t new_id, uint32_t new_version, uint32_t *ret_length)
{
	struct chunk_staging *st = NULL;
	struct chunk_header *h;
	unsigned char *buf;
	uint64_t fsize;
	uint32_t length;
	int fd, r;

	if (old_id == new_id)
		return -EINVAL;
	h = malloc(sizeof(*h));
	buf = malloc(CS_CLONE_PIECE);
	if (!h || !buf) {
		r = -ENOMEM;
		goto out_free;
	}
	/* the source stays locked shared while it is copied: its writers
	 * wait, its readers do not; the copy is one version of it */
	pthread_rwlock_rdlock(cs_stripe(cs, old_id));
	fd = r = cs_open_version(cs, old_id, old_version, h, &fsize);
	if (fd < 0)
		goto out_unlock;
	length = h->length;
	r = cs_clone_precheck(cs, new_id, new_version, length);
	if (r == 0)
		r = chunk_store_stage_begin(cs, new_id, new_version, &st);
	/* whole pieces of whole blocks, each verified against the source's
	 * CRCs before it goes on (cs_read_range: -EIO for a bad block);
	 * stage_append computes the clone's CRCs from the same bytes */
	for (uint64_t off = 0; r == 0 && off < length; off += CS_CLONE_PIECE) {
		size_t n = (size_t)cs_min(CS_CLONE_PIECE, length - off);

		r = cs_read_range(cs, fd, false, h, off, n, buf);
		if (r == 0)
			r = chunk_store_stage_append(st, buf, n);
	}
	close(fd);
out_unlock:
	pthread_rwlock_unlock(cs_stripe(cs, old_id));
	if (r == 1) {
		/* retried: the clone is there already */
		r = 0;
		if (ret_length)
			*ret_length = length;
	} else if (r == 0) {
		/* the commit locks new_id's stripe, maybe the same one: the
		 * source's lock must be let go first */
		r = cs_stage_commit(st, true, ret_length);
		st = NULL;
	}
	chunk_store_stage_abort(st);
out_free:
	free(buf);
	free(h);
	return r;
}
