/* lock_ops — flock() and POSIX (fcntl) locks on the mount, arbitrated by
 * the master so they hold between mounts (docs/api.md "Sessions, opens
 * and locks").
 *
 * The handlers here are called from fs_ops.c's operations table and send
 * the FUSE reply themselves. A lock owner is this mount's session plus the
 * kernel's lock_owner (the process's file table for POSIX locks, the open
 * file for flock). The table mirrors what the master granted this mount,
 * so that closing a file costs a call only when its owner holds a lock,
 * and so that the locks can be declared again after a master restart.
 *
 * F_SETLKW and blocking flock() wait in a loop (the master is asked again
 * after 10 ms, doubling up to 200 ms) that a signal to the waiting process
 * (FUSE interrupt) ends with EINTR; at unmount the waiting threads are
 * cancelled while they sleep. A waiting F_SETLKW tells the master it
 * waits, so that the master can answer EDEADLK when waiting would
 * deadlock. While the master is in its grace period after a restart,
 * new locks and F_GETLK wait the same way (non-blocking ones: EAGAIN).
 *
 * OFD locks (F_OFD_SETLK, ...) are POSIX locks whose owner is the open
 * file; they are released when the handle is (lock_ops_release). */
#ifndef BIGFS_FUSE_LOCK_OPS_H
#define BIGFS_FUSE_LOCK_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <jansson.h>
#include <stdint.h>

struct csess;
struct lock_table;

/* cs is borrowed. 0 or -ENOMEM. */
int lock_table_new(struct csess *cs, struct lock_table **ret);
void lock_table_free(struct lock_table *lt);
/* Wake every waiting lock request; they fail with EINTR. */
void lock_table_stop(struct lock_table *lt);
/* csess_lock_provider_fn: the locks held here, as a new JSON array. */
json_t *lock_table_declare(void *lt);

/* FUSE getlk / setlk / flock. Each sends exactly one reply. */
void lock_ops_getlk(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct flock *lock);
void lock_ops_setlk(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct flock *lock, int sleep);
void lock_ops_flock(struct lock_table *lt, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi, int op);

/* flush carries the closing process's lock_owner: drop its POSIX locks on
 * ino. release with FUSE_RELEASE_FLOCK_UNLOCK: drop the open file's flock.
 * No call to the master unless this owner holds a lock on ino. 0 or
 * -errno (logged by the caller; the kernel ignores release errors). */
int lock_ops_drop_posix(struct lock_table *lt, uint64_t ino, uint64_t owner);
int lock_ops_drop_flock(struct lock_table *lt, uint64_t ino, uint64_t owner);
/* release (the last close of an open file): drop its flock (if
 * fi->flock_release) and the OFD locks set through it (POSIX owners first
 * seen through fi->fh). No call to the master when there are none. 0 or
 * the first -errno. */
int lock_ops_release(struct lock_table *lt, uint64_t ino, const struct fuse_file_info *fi);

#endif
