/* atime_table — read atimes the master has taken in but not yet written:
 * inode number -> times of the first and of the last read reported since
 * the entry was made. namespace.c lays them over the stored attributes
 * and writes them out in batches now and then (see ns_atime_flush), so a
 * read costs no metadata write of its own.
 *
 * Thread-safe: its own mutex, never held while calling out. An open-
 * addressing hash (linear probing); a taken entry leaves a tombstone
 * until the table is empty, which resets it. */
#ifndef BIGFS_MASTER_ATIME_TABLE_H
#define BIGFS_MASTER_ATIME_TABLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct at_entry {
	uint64_t ino;          /* 0: empty slot */
	int64_t first_s;       /* INT64_MIN: taken (tombstone) */
	uint32_t first_ns, last_ns;
	int64_t last_s;
};

struct atime_table {
	pthread_mutex_t lock;
	struct at_entry *slots;
	size_t cap;     /* a power of two, or 0 */
	size_t used;    /* slots taken, tombstones included */
	size_t live;    /* read without the lock by at_count */
	size_t cursor;  /* where at_take goes on looking */
};

void at_init(struct atime_table *t);
void at_destroy(struct atime_table *t);
/* Reads of e->ino between e's first and last time (one read: both the
 * same; or an entry taken out and not written, going back). Merged with
 * the entry ino has: the earlier first, the later last. 0, -EINVAL (ino
 * 0) or -ENOMEM (nothing noted). */
int at_note(struct atime_table *t, const struct at_entry *e);
/* ino's entry, if it has one: 0, or -ENOENT. */
int at_get(struct atime_table *t, uint64_t ino, struct at_entry *ret);
/* Live entries (a hint: read without the lock). */
size_t at_count(struct atime_table *t);
/* Up to max live entries out of the table, in a malloc'ed array (*ret
 * NULL if none). -ENOMEM leaves the table as it was. */
int at_take(struct atime_table *t, size_t max, struct at_entry **ret, size_t *ret_n);

#endif
