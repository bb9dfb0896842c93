/* session — the mounts the master knows: client sessions, the files each
 * has open, and what dies with a session.
 *
 * A mount opens a session at start (/v1/session/open) with the random
 * session string it also uses for write leases, renews it with
 * heartbeats, and closes it at unmount. A session whose heartbeats stop
 * for the session timeout is dead: the master drops its open-file
 * references, its locks and its write leases. Sessions live in memory
 * only; after a master restart each mount finds its session unknown
 * (ESTALE), opens it again and re-declares its open files and locks.
 *
 * Open files: the master counts, per (session, inode), whether the
 * session has the inode open. An inode whose last name goes is kept with
 * nlink 0 (an orphan, namespace.c) for the unlink grace period (default
 * SESS_UNLINK_GRACE_MS), so that a mount whose kernel resolved the name
 * to it just before an unlink or a rename over it can still open it, as
 * on a local filesystem, and beyond that while some live session has it
 * open; it is deleted with its chunks at the last close after the grace
 * period, or by the reaper once the grace period is over and nobody has
 * it open. Orphans found in the database at start are deleted once the
 * session timeout has passed without a session re-declaring them. */
#ifndef BIGFS_MASTER_SESSION_H
#define BIGFS_MASTER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_map.h"
#include "locks.h"
#include "namespace.h"

#define SESS_ID_MAX 128
#define SESS_HOST_MAX 64
#define SESS_UNLINK_GRACE_MS 5000

struct sess;

/* A lock a session re-declares when it opens again. */
struct sess_decl_lock {
	uint64_t ino;
	enum lk_kind kind;
	uint64_t owner;
	uint32_t pid;
	enum lk_type type;
	uint64_t start, end;
};

struct sess_stats {
	size_t sessions;
	size_t open_refs;       /* (session, inode) pairs */
	size_t orphans;         /* unlinked inodes kept (open, or in the grace period) */
	size_t locks;
};

/* Borrowed modules must outlive the sessions. Installs the open-file hooks
 * in ns. timeout_ms: how long a session lives without a heartbeat.
 * 0 or -ENOMEM. */
int sess_new(struct ns *ns, struct chunk_map *cm, struct locks *lk, int64_t timeout_ms,
	     struct sess **ret);
/* How long an unlinked inode stays openable (see above); 0 deletes one
 * nobody has open at once. Before sess_start. */
void sess_set_unlink_grace(struct sess *s, int64_t grace_ms);
/* Load the orphans of the database (deleted after the grace period) and
 * start the reaper thread. 0 or -errno. */
int sess_start(struct sess *s);
/* Stop the reaper thread (no session is released). NULL is fine. */
void sess_stop(struct sess *s);
void sess_free(struct sess *s);

int64_t sess_timeout_ms(const struct sess *s);
/* The heartbeat interval the master asks of mounts. */
int64_t sess_heartbeat_ms(const struct sess *s);

/* True if id is 1..SESS_ID_MAX characters of [0-9A-Za-z_.-]. */
bool sess_id_valid(const char *id);

/* /v1/session/open: create the session, or renew it if live; then
 * declare its open inodes and its locks. host_id (may be NULL) names the
 * machine (its boot id): F_GETLK reports a holder's pid only to sessions
 * of the same machine. Inodes that no longer exist go to *ret_lost
 * (malloc'ed, caller frees, may be NULL when *ret_nlost == 0); locks
 * that now conflict with others are dropped and counted in
 * *ret_lost_locks. 0 or -errno. */
int sess_open(struct sess *s, const char *id, const char *host_id, const uint64_t *opens,
	      size_t nopens, const struct sess_decl_lock *locks, size_t nlocks,
	      uint64_t **ret_lost, size_t *ret_nlost, size_t *ret_lost_locks);
/* The change-feed origin (inval_origin) of session id's mount, told at
 * its session/open and heartbeats. */
void sess_set_origin(struct sess *s, const char *id, uint64_t origin);
/* The origins (up to max, each once, none 0 or self) of the live sessions
 * that have ino open: the mounts whose kernels may hold its attributes
 * and open it again without asking. Returns how many. */
size_t sess_open_elsewhere(struct sess *s, uint64_t ino, uint64_t self, uint64_t *origins,
			   size_t max);
/* Whether the one live session is origin's (inval_log.h sole use). */
bool sess_only_origin(struct sess *s, uint64_t origin);
/* Whether a live session is origin's. */
bool sess_origin_live(struct sess *s, uint64_t origin);
/* Session id reserved inode numbers (namespace.h ns_reserve_inos): its
 * mount may answer creates before the master sees them. */
void sess_names_own(struct sess *s, const char *id);
/* The feed origin of live session id if it reserved inode numbers and
 * its origin is known; 0 otherwise. */
uint64_t sess_creates_behind_origin(struct sess *s, const char *id);
/* Files a mount made whose close may leave the commit behind
 * (fuse/file_handle.h): session id made ino in parent and got its first
 * chunk's grant with the create. False when not noted (no such live
 * session, its origin unknown, SESS_FRESH_MAX of them): the mount must
 * then commit at close. sess_fresh_done: its commit gave that grant
 * back (or dropped it). */
#define SESS_FRESH_MAX 4096
bool sess_fresh_add(struct sess *s, const char *id, uint64_t ino, uint64_t parent);
void sess_fresh_done(struct sess *s, const char *id, uint64_t ino);
/* The live sessions of other origins than self with such files in
 * folder dir, or (ino != 0) with ino: their origins (each once, up to
 * max; the count returned) and the files (*ret_ninos, up to max). */
size_t sess_fresh_elsewhere(struct sess *s, uint64_t dir, uint64_t ino, uint64_t self,
			    uint64_t *inos, size_t *ret_ninos, uint64_t *origins, size_t max);
/* Whether a live session of another origin than self has such files. */
bool sess_fresh_any_elsewhere(struct sess *s, uint64_t self);
/* /v1/session/heartbeat: renew; the session closed the inodes in closes.
 * -ESTALE if the session is unknown or dead. */
int sess_heartbeat(struct sess *s, const char *id, const uint64_t *closes, size_t nclose);
/* /v1/session/close: release everything the session holds, now. An
 * unknown session is not an error. */
int sess_close(struct sess *s, const char *id);

/* Locks of a live session (see locks.h). -ESTALE if the session is
 * unknown or dead. sess_lock_test returns 1 with the conflicting lock in
 * *ret (its pid is 0 if the holder is on another machine), or 0. */
int sess_lock(struct sess *s, const char *id, uint64_t ino, enum lk_kind kind,
	      uint64_t owner, uint32_t pid, enum lk_type type, uint64_t start, uint64_t end,
	      struct lk_range **ret_held, size_t *ret_n);
int sess_lock_test(struct sess *s, const char *id, uint64_t ino, enum lk_kind kind,
		   uint64_t owner, enum lk_type type, uint64_t start, uint64_t end,
		   struct lk_range *ret);

void sess_stats(struct sess *s, struct sess_stats *ret);

#endif
