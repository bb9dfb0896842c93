/* wal_buffer — an SQLite VFS that writes each transaction's WAL frames
 * to the kernel in one write instead of two per page.
 *
 * SQLite appends a commit to the WAL as one 24-byte frame header and
 * one page per changed page, each its own pwrite: a create with its
 * first chunk's grant changes some twenty pages, forty system calls,
 * about a quarter of the master's CPU in a small-file workload. This
 * VFS ("bigfs-walbuf", over the default one) gathers the WAL's
 * contiguous writes in memory and writes them out when the frame that
 * ends a commit (a header with a nonzero database size) has its page:
 * still inside SQLite's commit, before it publishes the frames, so a
 * failed write (a full disk) fails the commit exactly as before, and a
 * commit that returned is in the kernel (it survives a kill -9, as
 * before). Anything else SQLite does with the WAL (a read, a sync, a
 * truncate, its size, a write elsewhere) first writes out what is
 * gathered, so SQLite never sees the file otherwise than it wrote it.
 * Other files (the database, journals) are the default VFS's own,
 * untouched.
 *
 * One connection per file (the master's, under its mutex): no locking
 * here. */
#ifndef BIGFS_MASTER_WAL_BUFFER_H
#define BIGFS_MASTER_WAL_BUFFER_H

#include <sqlite3.h>

#define WAL_BUFFER_VFS "bigfs-walbuf"
#define WAL_BUFFER_CAP (1 << 20)   /* gathered at most; more goes out first */

/* Register the VFS (once per process; later calls return the first
 * result). 0 or -ENOMEM / -EIO. */
int wal_buffer_register(void);
/* After a commit of db: write out anything still gathered (none, when
 * SQLite wrote its commit frame as it always does: header, then page).
 * 0 when nothing was left, 1 when something was and is written now,
 * -EIO when that failed. */
int wal_buffer_flush(sqlite3 *db);

#endif
