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
#include <stddef.h>
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

/* A group: several operations' transactions as one, so that they cost
 * one commit (one WAL append, one changeset for the metadata log, one end
 * hook call) instead of one each. Between meta_group_begin() and
 * meta_group_end() this thread's meta_txn_begin()/meta_txn_end() become a
 * savepoint and its release (rc == 0) or rollback (rc < 0): an operation
 * that fails leaves no trace and the others go on. Nothing is committed,
 * logged or announced (end hook) before meta_group_end(), which commits
 * (rc == 0) or rolls back everything and returns as meta_txn_end(). When
 * SQLite itself ended the transaction inside (an I/O error, a full disk)
 * the operations after it fail with -EIO and meta_group_end() returns
 * -EIO: none of the group's changes stand. The mutex is held throughout:
 * keep groups short. -EBUSY if this thread already has a group open. */
int meta_group_begin(struct meta_store *ms);
int meta_group_end(struct meta_store *ms, int rc);

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

/* ---- the metadata log (master/metalog.c) ------------------------------
 *
 * With a hook set, every transaction records its row changes (SQLite's
 * session extension: a changeset, logical rows, not pages; the table
 * metalog_state is left out). A write transaction that changed anything
 * calls, in this order:
 *   prepare(cs, n, &ticket)  under the store's mutex, before COMMIT, with
 *                            the transaction still open (it may write
 *                            metalog_state through meta_state_put); a
 *                            negative return rolls everything back and is
 *                            what meta_txn_end() returns;
 *   finish(ticket, ok)       under the mutex, after the COMMIT (ok) or
 *                            its failure (the transaction rolled back);
 *   wait(ticket)             after the mutex is released, when the commit
 *                            succeeded: returns once the change is on the
 *                            log (0) or cannot be (-errno, which
 *                            meta_txn_end() returns; the change stays in
 *                            this database, which the log then disowns).
 * Transactions commit in log order because both happen under the mutex. */
struct meta_log_hook {
	int (*prepare)(void *arg, const void *cs, size_t n, uint64_t *ticket);
	void (*finish)(void *arg, uint64_t ticket, bool ok);
	int (*wait)(void *arg, uint64_t ticket);
	void *arg;
};
/* Set (or with NULL remove) the hook. No transaction may be open. */
void meta_set_log_hook(struct meta_store *ms, const struct meta_log_hook *hook);
/* fn(arg, committed) at the end of every transaction, by the thread that
 * ran it, with the store's mutex still held (so in commit order): true
 * after a COMMIT, false after a rollback. It must not call the store.
 * Set before other threads use the store; NULL removes it. */
void meta_set_end_hook(struct meta_store *ms, void (*fn)(void *arg, bool committed), void *arg);
/* Apply a changeset made by another master's meta_txn_end(). Inside a
 * write transaction. 0; -ESTALE if a row is not as the change expects
 * (this database differs from the one the change was made on); -EIO. */
int meta_apply_changeset(struct meta_store *ms, const void *cs, size_t n);
/* The metalog's own record of where this database stands in the log (an
 * opaque blob of at most cap bytes; *len 0 when there is none). Inside a
 * transaction. 0 or -errno. */
int meta_state_get(struct meta_store *ms, void *buf, size_t cap, size_t *len);
int meta_state_put(struct meta_store *ms, const void *buf, size_t len);
/* A consistent copy of the whole database file (an SQLite image), taken
 * outside any transaction; free with meta_snapshot_free. quiesce (may be
 * NULL) runs first under the store's mutex, no transaction open: a
 * negative return is returned instead of taking the copy. 0, -ENOMEM. */
int meta_snapshot_quiesced(struct meta_store *ms, int (*quiesce)(void *arg), void *arg,
			   void **ret, size_t *len);
void meta_snapshot_free(void *p);
/* Replace the database file at path (closed) with an image from
 * meta_snapshot(), durably, dropping any WAL of the old file. 0 or
 * -errno. */
int meta_replace_file(const char *path, const void *buf, size_t len);

/* Stable cluster id (16 hex digits, made at creation). */
const char *meta_cluster_id(const struct meta_store *ms);

#endif
