/* dir_count — folders this mount knows to be empty, so that rm -r's
 * rmdirs are queued like its unlinks (ns_queue.h) instead of each
 * waiting for the master.
 *
 * rm -r reads a folder whole, removes what it held, then removes the
 * folder. An rmdir the master would refuse only if the folder still held
 * something (ENOTEMPTY); that it was already gone (ENOENT) is the same
 * end. So the mount may answer one at once when it knows the folder is
 * empty: it read the folder's whole listing (n entries) and has since
 * queued or made the removal of n of its names, and
 * - this mount added no name anywhere since the listing began (creates,
 *   mkdirs, links and renames count as adding: dcnt_grew, dcnt_reset);
 * - the change feed brought no change of another client since the
 *   listing began, and is live (the generation, iw_snap): another
 *   mount's create there shows as a newer generation, which forgets
 *   everything.
 * The kernel serialises a folder's reads with the changes made in it
 * through this mount (the folder's inode lock), so a listing counts the
 * names the master held then. What the feed has not brought yet (it
 * lags a change by milliseconds) is the one gap: a create of another
 * mount in that folder within those milliseconds makes the queued rmdir
 * fail; the folder then stays, with that file, is logged and counted
 * (bigfs_mount_queued_op_errors_total), and is found again by the next
 * lookup — nothing is lost, the same window an unlink has.
 *
 * The folder an rmdir names is found by (parent, name): every entry the
 * mount hands the kernel (lookup, readdirplus, mkdir) says which inode a
 * folder's name is (dcnt_named). Names are kept as 64-bit hashes (two
 * folder names of one parent with the same hash: about 1 in 10^19).
 *
 * Memory: DCNT_SLOTS slots in each of two tables (about 2 MiB); past half
 * of them in use, both are emptied and learned again.
 *
 * Every call takes a NULL table (a mount without the feed): nothing is
 * known, every rmdir waits.
 *
 * Threads: any FUSE thread. One mutex; no I/O under it. */
#ifndef BIGFS_FUSE_DIR_COUNT_H
#define BIGFS_FUSE_DIR_COUNT_H

#include <stdbool.h>
#include <stdint.h>

#define DCNT_SLOTS 32768         /* per table; a power of two */

struct dir_count;

/* Where a listing began: dcnt_listed installs its count only if nothing
 * was added and no generation passed since. */
struct dcnt_mark {
	uint64_t gen, adds;
};

int dcnt_new(struct dir_count **ret);
void dcnt_free(struct dir_count *t);

/* The kernel was handed name in parent as folder ino, by a reply sent at
 * generation gen. */
void dcnt_named(struct dir_count *t, uint64_t parent, const char *name, uint64_t ino,
		uint64_t gen);
/* A listing of a folder begins now, at generation gen. */
struct dcnt_mark dcnt_begin(struct dir_count *t, uint64_t gen);
/* It ended complete with n entries; gen: the generation now. */
void dcnt_listed(struct dir_count *t, uint64_t dir, uint64_t n, struct dcnt_mark m,
		 uint64_t gen);
/* This mount removed (or queued the removal of) one name of folder dir. */
void dcnt_removed(struct dir_count *t, uint64_t dir);
/* This mount added a name to folder dir. */
void dcnt_grew(struct dir_count *t, uint64_t dir);
/* Forget everything (a rename: names may now be other folders). */
void dcnt_reset(struct dir_count *t);
/* Whether name in parent is a folder known empty at generation gen. */
bool dcnt_empty(struct dir_count *t, uint64_t parent, const char *name, uint64_t gen);
/* Whether folder dir is known empty at generation gen: a listing of it
 * read again (find, then rm -r) is answered by the mount, the same rule
 * as a queued rmdir's. */
bool dcnt_dir_empty(struct dir_count *t, uint64_t dir, uint64_t gen);

#endif
