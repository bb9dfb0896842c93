/* meta_store — the master's SQLite database (DIR/meta.db, WAL mode).
 *
 * One connection guarded by one mutex. Callers run each operation as one
 * transaction between meta_txn_begin() and meta_txn_end(); statements are
 * prepared once and cached (meta_stmt). The schema (inodes, dentries,
 * xattrs, chunks, replicas, workers, pending_deletes, counters) is created
 * on first open together with the root inode.
 *
 * A commit is in the OS page cache when meta_txn_end() returns (it survives
 * a kill -9, not a power cut); meta_sync() makes every earlier commit
 * durable on disk, one fsync shared by concurrent callers (group commit). */
#ifndef BIGFS_MASTER_META_STORE_H
#define BIGFS_MASTER_META_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct meta_store;

#define META_ROOT_INO 1

/* Open (creating if needed) the database at path. default_goal is the goal
 * given to the root inode on creation. Everything in the database when it
 * returns is on disk (one fsync of the WAL and of its folder). 0 or -errno
 * (-EIO on SQLite errors, logged with the cause). */
int meta_open(const char *path, uint32_t default_goal, struct meta_store **ret);
/* Finalize statements, checkpoint and close. NULL is fine. No
 * meta_sync() may be running. */
void meta_close(struct meta_store *ms);

/* Take the store's mutex and BEGIN (IMMEDIATE when write is true).
 * Returns 0 or -EIO (lock released on failure). */
int meta_txn_begin(struct meta_store *ms, bool write);
/* COMMIT when rc == 0, ROLLBACK otherwise; release the mutex. Returns rc,
 * or -EIO if the commit failed (then everything was rolled back). Never
 * syncs the disk: a write commit only takes a sequence number that
 * meta_sync() waits for. */
int meta_txn_end(struct meta_store *ms, int rc);

/* Make every transaction whose meta_txn_end() returned before this call
 * durable on the master's disk. Blocks for at most one running disk sync
 * plus one of its own; concurrent callers share syncs (group commit), and
 * a call with nothing committed since the last completed sync returns at
 * once. Never takes the transaction mutex: other transactions go on
 * meanwhile. Call from any thread, outside a transaction. Returns 0, or
 * -EIO once any sync has failed (logged once; sticky until a restart,
 * because after a failed fsync the kernel may have dropped the pages). */
int meta_sync(struct meta_store *ms);

/* Disk syncs meta_sync() has done since the open, and meta_sync() calls
 * (calls - syncs is what group commit saved). Any thread. */
uint64_t meta_sync_count(struct meta_store *ms);
uint64_t meta_sync_calls(struct meta_store *ms);

/* Test seam: fn(arg) runs in the thread that does a disk sync, after it
 * has fixed which commits the sync covers and just before the fsync, with
 * no lock held; a negative return is taken as the fsync's result (-errno)
 * instead of calling fsync. NULL removes it. Set it while no meta_sync()
 * runs. */
void meta_sync_set_hook(struct meta_store *ms, int (*fn)(void *arg), void *arg);

/* The cached, reset statement for sql (must have static storage duration:
 * the pointer is the cache key). Only valid between txn_begin/txn_end.
 * Never NULL: SQL that does not prepare is a bug and aborts (file:line). */
sqlite3_stmt *meta_stmt(struct meta_store *ms, const char *sql);

/* Step a statement that returns no rows (then reset). 0 or -EIO; a
 * constraint violation is -EEXIST. */
int meta_exec_stmt(struct meta_store *ms, sqlite3_stmt *st);
/* sqlite3_step with logging: SQLITE_ROW, SQLITE_DONE, or -EIO. */
int meta_step(struct meta_store *ms, sqlite3_stmt *st);

/* Rows changed by the last statement; last inserted rowid. */
int meta_changes(struct meta_store *ms);
int64_t meta_last_rowid(struct meta_store *ms);

/* Next value of a named counter (first value 1). Inside a write txn.
 * 0 or -EIO. */
int meta_counter_next(struct meta_store *ms, const char *name, uint64_t *ret);

/* Stable cluster id (16 hex digits, made at creation). */
const char *meta_cluster_id(const struct meta_store *ms);

#endif
