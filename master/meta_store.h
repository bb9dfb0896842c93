/* meta_store — the master's SQLite database (DIR/meta.db, WAL mode).
 *
 * One connection guarded by one mutex. Callers run each operation as one
 * transaction between meta_txn_begin() and meta_txn_end(); statements are
 * prepared once and cached (meta_stmt). The schema (inodes, dentries,
 * xattrs, chunks, replicas, workers, pending_deletes, counters) is created
 * on first open together with the root inode. */
#ifndef BIGFS_MASTER_META_STORE_H
#define BIGFS_MASTER_META_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct meta_store;

#define META_ROOT_INO 1

/* Open (creating if needed) the database at path. default_goal is the goal
 * given to the root inode on creation. 0 or -errno (-EIO on SQLite errors,
 * logged with the cause). */
int meta_open(const char *path, uint32_t default_goal, struct meta_store **ret);
/* Finalize statements, checkpoint and close. NULL is fine. */
void meta_close(struct meta_store *ms);

/* Take the store's mutex and BEGIN (IMMEDIATE when write is true).
 * Returns 0 or -EIO (lock released on failure). */
int meta_txn_begin(struct meta_store *ms, bool write);
/* COMMIT when rc == 0, ROLLBACK otherwise; release the mutex. Returns rc,
 * or -EIO if the commit failed (then everything was rolled back). */
int meta_txn_end(struct meta_store *ms, int rc);

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
