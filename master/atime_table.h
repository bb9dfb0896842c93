/* atime_table — read atimes the master has taken in but not yet written:
 * inode number -> time of the first read reported since the inode's row
 * was last written. namespace.c lays them over the stored attributes and
 * writes them out in one transaction now and then (see ns_atime_flush),
 * so a read costs no metadata write of its own.
 *
 * Thread-safe: its own mutex, never held while calling out. An open-
 * addressing hash (linear probing); a forgotten entry leaves a tombstone
 * until the table is taken, which empties it. */
#ifndef BIGFS_MASTER_ATIME_TABLE_H
#define BIGFS_MASTER_ATIME_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct at_entry {
	uint64_t ino;   /* 0: empty slot */
	int64_t s;      /* INT64_MIN: forgotten (tombstone) */
	uint32_t ns;
};

struct atime_table {
	pthread_mutex_t lock;
	struct at_entry *slots;
	size_t cap;     /* a power of two, or 0 */
	size_t used;    /* slots taken, tombstones included */
	size_t live;    /* read without the lock by at_count */
};

void at_init(struct atime_table *t);
void at_destroy(struct atime_table *t);
/* A read of ino at s.ns. An entry already there keeps its (earlier)
 * time. 0, or -ENOMEM (nothing noted). *ret_live (may be NULL): live
 * entries after it. */
int at_note(struct atime_table *t, uint64_t ino, int64_t s, uint32_t ns, size_t *ret_live);
/* The noted time of ino, if any. */
bool at_get(struct atime_table *t, uint64_t ino, int64_t *s, uint32_t *ns);
void at_forget(struct atime_table *t, uint64_t ino);
/* Live entries (a hint: read without the lock). */
size_t at_count(struct atime_table *t);
/* All live entries, in a malloc'ed array (*ret NULL if none), and the
 * table is empty again. -ENOMEM leaves the table as it was. */
int at_take(struct atime_table *t, struct at_entry **ret, size_t *ret_n);

#endif
