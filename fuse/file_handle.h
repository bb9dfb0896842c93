/* file_handle — per-open-file state of the FUSE client: write buffer,
 * read-ahead window, chunk locations and write grants.
 *
 * A handle is created at open/create and freed at release. Writes are
 * buffered (up to FH_WBUF_MAX bytes, never across a chunk end) and flushed
 * by per-handle background threads, two buffers on the way while a third
 * fills; flush/fsync/release wait for them and report any error they
 * met. Reads are served from a read-ahead window that grows to
 * FH_RA_WINDOW on a sequential pattern.
 *
 * The fh_table is the per-mount registry of open inodes: it knows, per
 * inode, the largest offset written but maybe not committed yet (so
 * getattr can report it), a generation bumped whenever this mount
 * changes the file's data, which makes other handles drop cached data,
 * and the writer shared by the inode's writable handles (one set of write
 * buffers and grants per inode and mount, so writes through different
 * handles land in order and never undo each other). */
#ifndef BIGFS_FUSE_FILE_HANDLE_H
#define BIGFS_FUSE_FILE_HANDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <time.h>

#define FH_CHUNK_SIZE ((uint64_t)64 << 20)
#define FH_WBUF_MAX ((size_t)8 << 20)
#define FH_RA_WINDOW ((size_t)8 << 20)
#define FH_SPEC_MAX ((uint64_t)1 << 20)   /* files read whole at the open, at most */

struct master_client;
struct worker_io;
struct fh_table;
struct file_handle;

/* mc and wio are borrowed and must outlive the table. A random session
 * string (the write-lease owner name) is made here. 0 or -errno. */
int fh_table_new(struct master_client *mc, struct worker_io *wio, struct fh_table **ret);
/* All handles must have been released. */
void fh_table_free(struct fh_table *t);
const char *fh_table_session(const struct fh_table *t);
struct nsq;
/* Commit behind: a close of a file this mount made (its create) and
 * wrote once, in its first chunk, alone, is answered once the data is on
 * the workers; its commit is queued on q (ns_queue.h) and rides on the
 * next batch, usually the next file's create, instead of a round trip
 * of its own. ok(arg) says whether the mount may queue it now (the
 * master takes commits in batches; the change feed is live). Every
 * later master call of this mount about the file, and the fs_ops calls
 * that drain the queue, come after it; an fsync or fsyncdir drains.
 * Only files whose create's grant the master noted ("behind": it keeps
 * them until their commit comes): another mount's lookup or readdir in
 * their folder, or open or getattr of one, makes the master name it in
 * this mount's change feed and wait for the feed (fh_table_shared): what
 * is queued for the file goes first, and its later closes here commit
 * before they return. Set before any handle opens.
 *
 * Data behind: when such a file was not written to the workers at all
 * before its close (it fits its write buffer: up to 1 MiB), no other
 * handle of this mount has it open, and less than 32 MiB of such data is
 * on its way, the close does not wait for the workers either. The
 * buffer goes to a data-behind thread, which puts it on the replicas
 * (asking for new grants if they all fail) while the mount goes on with
 * the next file's create; the commit is queued at once, held in its
 * place until the data is there (nsq_commit_held), so everything that
 * waits for the queue or for the file's queued commit (its reopen,
 * fsync, a read through a dup, another mount's open) waits for the data
 * too. Data that no replica takes after all is committed as an empty
 * file, logged and counted; the next fsync or fsyncdir of the mount
 * fails with that error (fh_table_behind_error), as a local disk's
 * writeback errors show at the next fsync. */
void fh_table_set_behind(struct fh_table *t, struct nsq *q, bool (*ok)(void *arg), void *arg);
/* The change feed named ino (another client changed it or opened it
 * while this mount wrote it): its closes here commit before they return
 * from now on, and its queued commit is sent before this returns. Ino 0
 * (the feed was reset): so for every inode open here. */
void fh_table_shared(struct fh_table *t, uint64_t ino);

/* If a handle of ino open in this mount wrote data, the largest end offset
 * written (committed or not) in *ret and true; false otherwise. */
bool fh_table_local_size(struct fh_table *t, uint64_t ino, uint64_t *ret);
/* A counter that moves when the last handle of an inode closes after
 * writing: from then on its local size is no longer known here (the
 * master has it, committed at that close). An attribute reply the master
 * made before the epoch moved may lack that size: read the epoch before
 * asking, and ask again if it moved. */
uint64_t fh_table_size_epoch(struct fh_table *t);
/* How many chunk locations to ask for with the open (/v1/open "chunks"),
 * and hand the reply to a new handle: its first reads then need no
 * /v1/chunks call. Takes resp (NULL or a reply without chunks: nothing). */
uint64_t fh_open_chunks(void);
void fh_prefill_locations(struct file_handle *fh, json_t *resp);

/* The inode location cache: where a file of up to FH_SPEC_MAX bytes is, kept
 * after its last close — learned from the master with an open or a read,
 * or from this mount's own write and last commit (the write grant carries
 * a read token, "rtoken"); forgotten when this mount writes, truncates or
 * opens the file for writing.
 *
 * fh_open_prefetch, called on a new read-only handle before the open's
 * call to the master, starts reading the whole file (up to FH_SPEC_MAX
 * bytes) from those locations on a prefetch thread, so the worker's
 * answer and the master's come in parallel. The bytes are used only if
 * the open's reply (fh_prefill_locations) names the same chunk version
 * and size: the master answered after the open began, so close-to-open
 * holds exactly as without it. True if a prefetch started. */
bool fh_open_prefetch(struct file_handle *fh);
/* fh was opened without the master while nobody else could change the
 * file (sole use, fs_ops.c fs_open): what the cache says counts as a
 * reply would, and the prefetch needs no confirming. */
void fh_open_trust(struct file_handle *fh);
/* fh (read-only) was opened without the master while the commit of the
 * close before was still queued here (fs_ops.c fs_open): its first read
 * waits for the queue (the close's data behind) before it locates. */
void fh_open_queued(struct file_handle *fh);
/* The write grant of chunk 0 that came with the create (fh writable, just
 * made): the first flush needs no /v1/write. Unwritten, it goes back with
 * "drop" in the commit at close. 0, or -errno (then it asks as usual). */
int fh_prefill_grant(struct file_handle *fh, const json_t *grant);
/* The same for a create this mount answered itself and queued
 * (fs_ops.c, fuse/ns_queue.h): the grant is held as pending; whoever
 * needs it (a flush, a close's data behind, fsync) waits for the
 * create's reply. Returns the create's handle for fh_acreate_done, or
 * NULL (out of memory, or fh already has a grant: create the usual way). */
struct fh_acreate;
struct fh_acreate *fh_prefill_pending(struct file_handle *fh);
/* The queued create's reply: rc, and the grant that came with it (NULL:
 * none). Called once per fh_prefill_pending, from any thread holding no
 * file_handle lock. */
void fh_acreate_done(struct fh_acreate *ac, int rc, const json_t *grant);
/* The time of the last write() through this mount to an inode open here,
 * until an explicit mtime is set (fh_table_mtime_set): getattr reports it
 * when the master's mtime (set when the data is committed) is older, so
 * stat() of a file being written shows the write's time, as on a local
 * filesystem. */
bool fh_table_local_mtime(struct fh_table *t, uint64_t ino, struct timespec *ret);
void fh_table_mtime_set(struct fh_table *t, uint64_t ino);
/* Flush the write buffers of ino (before a truncate).
 * With release, the handles' write leases go back in the same commit (a
 * later write asks for a new grant). Returns 0 or the first error met. */
int fh_table_flush_inode(struct fh_table *t, uint64_t ino, bool release);
/* The file's size was set to size by someone in this mount: forget larger
 * local sizes and cached data. */
void fh_table_truncated(struct fh_table *t, uint64_t ino, uint64_t size);

/* The master dropped the chunks of ino with first_index <= index <
 * end_index (truncate, punch): every handle forgets its write grants for
 * them, so a later write there asks for a new chunk instead of writing
 * into a deleted one. Waits for background flushes of those handles. */
void fh_table_forget_grants(struct fh_table *t, uint64_t ino, uint64_t first_index,
			    uint64_t end_index);

/* The kernel asks for security.capability before every write(); while ino
 * is open here, a known "no such xattr" answer is kept (cleared when this
 * mount sets or removes that xattr). nocaps_get is false when unknown. */
bool fh_table_nocaps_get(struct fh_table *t, uint64_t ino);
void fh_table_nocaps_set(struct fh_table *t, uint64_t ino, bool nocaps);

/* Attributes one setattr sets ("now" already resolved to a time). */
struct fh_setattr {
	bool has_mode, has_uid, has_gid, has_atime, has_mtime;
	uint32_t mode, uid, gid;
	struct timespec atime, mtime;
};

/* st with what sa sets (not ctime). */
void fh_setattr_apply(const struct fh_setattr *sa, struct stat *st);
/* fh (writable) was made by this mount's create with attributes st (the
 * master's reply): setattrs of the file while it is open here for
 * writing may be kept until its next commit. */
void fh_created_attrs(struct file_handle *fh, const struct stat *st);
/* A setattr (mode, owner, times) of ino, a file this mount made and has
 * open for writing, not closed through any descriptor yet: kept and sent
 * with the next commit (its first close, or an fsync), which tar and cp -p
 * reach a moment later anyway. *st
 * gets the attributes the kernel is to see now (ctime: now). -EAGAIN if
 * ino is not such a file (the caller asks the master). */
int fh_table_defer_setattr(struct fh_table *t, uint64_t ino, const struct fh_setattr *sa,
			   struct stat *st);
/* The master's attributes of ino after a setattr it made (a truncate):
 * the base of what this mount knows of the file, if it knows it. */
void fh_table_base_attrs(struct fh_table *t, uint64_t ino, const struct stat *st);
/* This mount unlinked, renamed or linked something: attributes it knows
 * of files it made may have the wrong link count now. */
void fh_table_names_changed(struct fh_table *t);
/* The attributes of ino, a file this mount made and has open for writing
 * (its create reply with the setattrs kept since), as long as no name
 * changed here since: true and *st (size and times before fs_ops' local
 * overlays). Another mount's changes show at the next open, as data. */
bool fh_table_known_attrs(struct fh_table *t, uint64_t ino, struct stat *st);
/* Whether setattrs of ino are kept here (fh_table_flush_inode sends them). */
bool fh_table_has_kept_attrs(struct fh_table *t, uint64_t ino);
/* Attributes of ino kept here, over st (a master reply's). */
void fh_table_overlay_attrs(struct fh_table *t, uint64_t ino, struct stat *st);

/* Open a handle on ino. 0 or -ENOMEM. */
int fh_open(struct fh_table *t, uint64_t ino, bool writable, struct file_handle **ret);

/* How fh_read hands over bytes without a copy. */
typedef void (*fh_emit_fn)(void *arg, const void *data, size_t len);
/* What a read gave (fh_read). */
struct fh_read_out {
	char *buf;        /* the bytes copied (malloc'ed, the caller frees; NULL if none) */
	size_t len;       /* how many bytes were read */
	bool emitted;     /* handed to emit instead of copied */
	bool atime_due;   /* the handle's first read with atime: tell the master */
};
/* Read up to size bytes at off (clamped to the file size; holes are
 * zeros). When the whole answer lies in the handle's read-ahead buffer
 * (most reads of a sequential reader) and emit is given, emit gets it
 * from there, under the handle's lock (it must not call back into fh);
 * otherwise the bytes are copied into out->buf. With atime, the handle's
 * first successful read sets out->atime_due (once) and is copied: its
 * atime report goes before the reply. 0 or -errno (EIO once every
 * replica failed even after refreshing the locations). */
int fh_read(struct file_handle *fh, uint64_t off, size_t size, bool atime, fh_emit_fn emit,
	    void *arg, struct fh_read_out *out);
/* Buffer size bytes at off. 0 or -errno (an earlier background flush
 * failure is reported here, and stays reported). */
int fh_write(struct file_handle *fh, uint64_t off, const void *buf, size_t *size);
/* Quotas exist in the cluster (from the master's session replies): writes
 * that grow a file first check the room left (*size of fh_write may then
 * be cut; EDQUOT when none is left). */
bool fh_quotas_on(void);
void fh_quotas_in_use(bool on);
/* Push buffered data to the workers and commit it (or queue the commit:
 * fh_table_set_behind). 0 or -errno. With gen
 * (the caller's generation of what others changed, taken before): the
 * attributes the master replied to a commit made now that gave every
 * lease back (a close's) are kept (fh_table_settle). */
int fh_flush(struct file_handle *fh, const uint64_t *gen);
/* Let the data-behind threads finish what is queued, and end them;
 * later closes wait for the workers. Before the queue stops (the held
 * commits need releasing) and before whatever fh_table_on_lost's fn
 * reads goes. */
void fh_table_behind_stop(struct fh_table *t);
/* A close's data behind that no replica took since the last call:
 * -EIO or -ENOSPC (once), else 0. */
int fh_table_behind_error(struct fh_table *t);
/* fn(arg, ino) hears of each such file, after its empty commit was let
 * go (fs_ops tells the kernel to forget the size it was told). Set
 * before any handle opens. */
void fh_table_on_lost(struct fh_table *t, void (*fn)(void *arg, uint64_t ino), void *arg);
/* A closed file's attributes st, from the master at generation gen, kept
 * for a second: a getattr or a queued setattr right after the close
 * needs no call (rsync's lstat, utimensat and chmod of each file it
 * wrote). fh_table_settled gives them back while gen is still the
 * caller's, no link, unlink or rename was made here since, and nothing
 * was written to it since; fh_table_unsettle forgets them (a setattr
 * sent to the master, an open for writing, an xattr change). */
void fh_table_settle(struct fh_table *t, uint64_t ino, const struct stat *st, uint64_t gen);
bool fh_table_settled(struct fh_table *t, uint64_t ino, uint64_t gen, struct stat *st);
void fh_table_unsettle(struct fh_table *t, uint64_t ino);
/* fh_flush plus an fsync, on every replica, of every chunk this mount
 * wrote to the file (through any handle) since the last fsync. */
int fh_fsync(struct file_handle *fh);
/* Flush, give the write leases back, free the handle. Returns the flush
 * result (the kernel ignores it; it is logged). fh is gone afterwards. */
int fh_release(struct file_handle *fh);

#endif
