/* client_session — this mount's session on the master, and the files it
 * has open.
 *
 * At start the mount opens its session (/v1/session/open, with the random
 * session string that also names its write leases) and a thread renews it
 * every heartbeat_ms (/v1/session/heartbeat). The master keeps an
 * unlinked file alive while a live session has it open, so the mount
 * tells it when an inode becomes open here (first open of it in this
 * mount: one /v1/open call, or nothing when /v1/create already did it)
 * and when it is closed here for the last time (queued and sent with the
 * next heartbeat: closing costs no call of its own). At unmount the
 * session is closed; a mount killed with -9 is released by the master
 * after the session timeout.
 *
 * When the master answers ESTALE (it restarted and forgot the session, or
 * it declared this mount dead), csess opens the session again, declaring
 * every file open here and, through the lock provider, every lock held
 * here, then retries the call once. */
#ifndef BIGFS_FUSE_CLIENT_SESSION_H
#define BIGFS_FUSE_CLIENT_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct master_client;
struct csess;

/* Returns a new JSON array of the locks to declare again (see docs/api.md
 * "Sessions, opens and locks"), or NULL for none / out of memory. */
typedef json_t *(*csess_lock_provider_fn)(void *arg);

/* mc is borrowed; id (the session string) is copied. 0 or -ENOMEM. */
int csess_new(struct master_client *mc, const char *id, struct csess **ret);
/* Stops the thread if csess_stop was not called. NULL is fine. */
void csess_free(struct csess *cs);
/* Set before csess_start. */
void csess_set_lock_provider(struct csess *cs, csess_lock_provider_fn fn, void *arg);
/* Set before csess_start: each /v1/open carries the read-atime reports
 * queued in q ("atime"), so reading file after file needs no /v1/atime
 * call. q is borrowed. */
struct atime_queue;
void csess_set_atime_queue(struct csess *cs, struct atime_queue *q);
/* Set before csess_start: every heartbeat reply's "down_workers" (the
 * workers the master holds dead) goes to h (borrowed). */
struct whealth;
void csess_set_health(struct csess *cs, struct whealth *h);

/* Open the session (one attempt; the heartbeat thread keeps trying if the
 * master does not answer) and start the heartbeat thread. */
void csess_start(struct csess *cs);
/* Stop the heartbeat thread and close the session on the master (one
 * attempt, no retry: this runs at unmount). */
void csess_stop(struct csess *cs);

const char *csess_id(const struct csess *cs);
/* Set before csess_start: this mount answers creates itself (fs_ops.c
 * fs_create_local); its session open and heartbeats say so ("creates"),
 * so the master asks it for them before others read its folders. */
void csess_set_local_creates(struct csess *cs, bool on);

/* POST op with req (reference stolen; NULL means out of memory) after
 * setting its "session" member; on ESTALE open the session again and
 * retry once. As master_client_call otherwise. */
int csess_call(struct csess *cs, const char *op, json_t *req, json_t **ret_resp);

/* An open of ino in this mount: the first one registers it with the
 * master (/v1/open). 0 or -errno (then the open must fail). With chunks
 * > 0, the master is asked for the locations of the first `chunks`
 * chunks too. *ret_resp (if not NULL) gets its reply ({"size", "chunks"}
 * as /v1/chunks, and "feed", docs/api.md) when a call was made, else
 * NULL. */
int csess_open(struct csess *cs, uint64_t ino, uint64_t chunks, json_t **ret_resp);
/* An open of ino that needs no call: the master has it open for this
 * mount already (another descriptor, or a close still queued, which is
 * then cancelled). true, counted as csess_open's; false: call
 * csess_open. */
bool csess_reopen(struct csess *cs, uint64_t ino);
/* Sole use (master/inval_log.h): while on, an open of ino may skip the
 * master altogether. true, counted as csess_open's (the master is not
 * told: an inode open only so needs no close either); false: call
 * csess_open. */
bool csess_open_sole(struct csess *cs, uint64_t ino);
/* The feed says whether sole use holds. When it ends, every inode open
 * here that the master was not told of is declared (/v1/open) before
 * this returns: the feed asks for more (which tells the master sole use
 * ended here) only after. */
void csess_sole(struct csess *cs, bool on);
/* Declare every inode opened under sole use now (before a change of this
 * mount that may drop a name: the master keeps an unlinked file only
 * while it knows it is open). Costs nothing when there is none. */
void csess_register_all(struct csess *cs);
/* Which ops the master's /v1/batch takes (its session/open reply says;
 * an older master: unlinks and rmdirs), so that a mount queues nothing a
 * master of another version would refuse. */
#define CS_BATCH_UNLINK 1u       /* and rmdir */
#define CS_BATCH_RENAME 2u
#define CS_BATCH_CREATE 4u
#define CS_BATCH_SETATTR 8u
#define CS_BATCH_COMMIT 16u
#define CS_BATCH_INOS 32u        /* creates of inodes this mount names (/v1/inos) */
bool csess_batches(struct csess *cs, unsigned op);
/* A create of ino in this mount succeeded; registered tells whether the
 * master registered the open with it ("opened" in the reply). 0 or -errno
 * (then the create must fail). */
int csess_created(struct csess *cs, uint64_t ino, bool registered);
/* A create of ino this mount answered itself and queued (fs_ops.c
 * fs_create_local), whose create will register the open at the master:
 * its close is not sent before csess_born (the create's reply came: a
 * close must not reach the master before the create). 0 or -ENOMEM. */
int csess_created_here(struct csess *cs, uint64_t ino);
void csess_born(struct csess *cs, uint64_t ino);
/* A release of ino in this mount (one per successful csess_open /
 * csess_created / csess_created_here). The last one queues the close for
 * the next heartbeat. */
void csess_close(struct csess *cs, uint64_t ino);

/* Closes queued here, sent along with an unlink, a rename or a queued
 * batch so that the master applies them first: a file closed just before its unlink is then
 * deleted at once instead of kept as an orphan until the next heartbeat.
 * csess_attach_closes sets "session" and "close" in req when closes are
 * queued; csess_closes_sent gets the call's result. */
struct csess_closes {
	uint64_t *inos;
	size_t n;
};
void csess_attach_closes(struct csess *cs, json_t *req, struct csess_closes *b);
/* The same but for the closes of keep[0..nkeep), which stay queued (a
 * file whose commit is still queued here: reopened at once, rsync's
 * chmod, it is still open at the master, csess_reopen). */
void csess_attach_closes_but(struct csess *cs, json_t *req, struct csess_closes *b,
			     const uint64_t *keep, size_t nkeep);
void csess_closes_sent(struct csess *cs, struct csess_closes *b, int rc);

#endif
