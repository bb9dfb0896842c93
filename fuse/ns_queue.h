/* ns_queue — unlinks (and rmdirs, renames: below) answered at once, sent
 * to the master in ordered batches (POST /v1/batch).
 *
 * `rm` of many files costs one master round trip per file when each
 * unlink waits for its answer. An unlink the kernel has already judged
 * (the name is there: it holds its dentry; the caller may remove it:
 * default_permissions checked the folder's write and search bits and the
 * sticky bit; the mount is not read-only) can only come back as done, or
 * as ENOENT if another mount removed the name first — the same end. So
 * the mount answers it at once and queues it; one thread sends what is
 * queued as one batch while the next fills, each op in its own master
 * transaction, in order.
 *
 * An rmdir of a folder this mount knows is empty (fuse/dir_count.h: rm
 * -r read it and removed every name it held) is answered and queued the
 * same way: the master can only do it, find it gone, or — another
 * mount's create there that the change feed had not told of yet — refuse
 * it, ENOTEMPTY, which is logged and counted; the folder stays.
 *
 * A rename within a folder to a name this mount knows is absent
 * (meta_cache.h: a folder it made and alone changed, under the master's
 * lease), flags 0, is queued too: it replaces nothing and changes no
 * other folder, so the master can only do it or find the old name gone
 * (another mount removed it first: logged and counted; neither name
 * exists). Until it has reached the master, the old name is gone here
 * (nsq_pending_name) and a lookup of the new one waits for the queue
 * (nsq_renamed_to). A queued rename waits NSQ_GATHER_MS for company, as
 * a burst does: rsync's next create usually comes within it.
 *
 * A setattr of a file closed here a moment ago, whose attributes the
 * mount knows (fh_table_settle), is queued too when the master can only
 * do it (fs_ops.c fs_setattr_queued: times, mode, owner, no setuid or
 * setgid bit); a readdir waits for it, and so does a lookup answered
 * from a kept listing that names that inode (nsq_pending_ino).
 *
 * The commit of a close of a file this mount made and wrote once is
 * queued too (nsq_commit; file_handle.h, commit behind): the master can
 * only do it (no quota), or find the file gone. It waits NSQ_GATHER_MS
 * for company, as a rename does: the next file's create. Its result
 * goes to a callback. A lookup whose answer names an inode with a
 * queued commit or setattr (nsq_pending_ino), an open of it and every
 * master call of file_handle.c about it wait for the queue first.
 *
 * A create made while anything is queued rides on the batch that takes
 * it (nsq_call): behind everything queued, as if it had drained the
 * queue first, but in one round trip with it (rsync: rename, create;
 * tar: commit, create). The one exception: a commit held until its
 * close's data is on the workers (nsq_commit_held, file_handle.h's data
 * behind) keeps its place, and so does every op behind it, but a create
 * that no op left behind names (an unlink, rmdir or rename of its name
 * or to it, a setattr of its folder) goes at once, in front of them —
 * the next file's create does not wait for the last file's data. The
 * kernel asks for a create only of a name it knows is absent, so the
 * master sees every name's ops in the kernel's order.
 *
 * Ordering, as seen by this mount: every other call to the master waits
 * until the queue is empty (nsq_drain; fs_ops.c calls it), except a
 * lookup of a name not queued (a queued name is ENOENT at once), a readdir
 * or getattr of a folder with nothing queued in it, and any other rmdir,
 * which joins the queue behind the unlinks of the files it held and waits
 * for its own answer (nsq_rmdir). So the mount never sees its own unlinks
 * undone; fsync of a folder or a file drains, then syncs.
 *
 * As seen by other mounts: a removed name goes when its batch reaches the
 * master — at once if nothing is on its way, else after the batch on its
 * way returns (milliseconds); in a burst (the last batch, of several ops,
 * came back less than NSQ_BURST_MS ago) the sender lets ops gather for
 * NSQ_GATHER_MS first, while nobody waits on the queue (an rmdir, a
 * drain): one batch costs the master and the mount about what one op
 * does, and `rm -r` sent batches of two. As after a crash of a local disk, unlinks
 * still queued when the mount dies (kill -9) did not happen; nothing an
 * fsync acknowledged is lost, and the master applies each op whole. An
 * op the master refuses after all (it cannot, but for a master that
 * stayed unreachable past master_timeout) is logged and counted
 * (bigfs_mount_queued_op_errors_total); the file stays.
 *
 * Threads: FUSE threads queue and wait; one sender thread. One mutex
 * guards the queue; no I/O under it. */
#ifndef BIGFS_FUSE_NS_QUEUE_H
#define BIGFS_FUSE_NS_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define NSQ_BATCH_MAX 512        /* ops in one /v1/batch (the master takes 1024) */
#define NSQ_QUEUE_MAX 4096       /* queued ops before an unlink waits for room */
#define NSQ_GATHER_MS 2          /* a batch waits this long for more, if nobody waits, */
#define NSQ_BURST_MS 20          /* when the last one came back less than this ago */
#define NSQ_COMMIT_GATHER_MS 10  /* a held commit let go waits this long for company */

struct master_client;
struct csess;
struct meta_cache;
struct nsq;

int nsq_new(struct master_client *mc, struct csess *cs, struct meta_cache *mcache,
	    struct nsq **ret);
void nsq_start(struct nsq *q);
/* Sends what is queued, then stops the sender. */
void nsq_stop(struct nsq *q);
void nsq_free(struct nsq *q);

/* Queue the unlink (dir: the rmdir, of a folder known empty:
 * fuse/dir_count.h) of name in parent, answered now; 0, or -ENOMEM or
 * -ESHUTDOWN (the caller then removes it the usual way). */
int nsq_remove(struct nsq *q, uint64_t parent, const char *name, bool dir);
/* A call that rides on the next batch, behind everything queued (body:
 * the members of the route `kind`, "create"; copied, with "op" added);
 * waits for its own result: 0 and *ret_result (the route's reply), or
 * -errno (-ESHUTDOWN: not sent, the queue is stopped or memory ran out;
 * the caller calls the route). The
 * queued unlinks and renames and the call cost one round trip.
 * *ret_retried: the batch was sent more than once. */
int nsq_call(struct nsq *q, const char *kind, const json_t *body, json_t **ret_result,
	     bool *ret_retried);
/* The result of a queued commit: rc, and the commit's reply (NULL when
 * rc < 0). Called from the sender thread, without the queue's lock; once
 * per op, -ESHUTDOWN if it was never sent. */
typedef void (*nsq_done_fn)(void *arg, int rc, const json_t *res);
/* Queue the commit of a close (body: the members of /v1/commit; copied,
 * with "op" added), answered already: file_handle.h's commit behind.
 * done(arg) is told its result, also when it could not be queued: then
 * this returns -ENOMEM or -ESHUTDOWN too (done was told so already), and
 * the caller commits itself. */
int nsq_commit(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done, void *arg);
/* The same, held (file_handle.h, data behind): the close's data is still
 * on its way to the workers, so the commit keeps its place in the queue
 * but is not sent until nsq_release. Only calls (creates) pass it; every
 * other op queued behind it waits, as nsq_drain and nsq_pending_ino(ino)
 * do. 0 and *ret_held, or as nsq_commit. */
struct nsq_op;
int nsq_commit_held(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done,
		    void *arg, struct nsq_op **ret_held);
/* Queue a create this mount answered itself, as inode ino from a range
 * the master reserved for it (body: the members of /v1/create with "ino",
 * "parent" and a plain "name"; copied, with "op" added). It goes like a
 * create riding on a batch (it passes held commits that do not name its
 * name), but nobody waits for it: done(arg) is told its result (the
 * create's reply), also when it could not be queued (then this returns
 * -ENOMEM or -ESHUTDOWN too). Until it is back, nsq_pending_ino(ino) and
 * nsq_pending_dir(parent) are true, and nsq_renamed_to(parent, name)
 * (the name is made by what is queued). */
int nsq_create(struct nsq *q, uint64_t ino, const json_t *body, nsq_done_fn done, void *arg);
/* Let a held commit go, with "size" set to size first unless UINT64_MAX
 * (a commit whose data did not reach the workers grows the file by
 * nothing). held is not to be touched after. 0 or -ENOMEM (sent as it
 * was). Every held commit must be released: nsq_stop waits for them. */
int nsq_release(struct nsq *q, struct nsq_op *held, uint64_t size);
/* Queue a setattr of ino (body: the members of /v1/setattr; copied, with
 * "op" added), answered now (fs_ops.c queues only what the
 * master can only do). 0, -ENOMEM or -ESHUTDOWN. */
int nsq_setattr(struct nsq *q, uint64_t ino, const json_t *body);
/* Whether a setattr or commit of ino is queued or on its way. */
bool nsq_pending_ino(struct nsq *q, uint64_t ino);
/* Whether a commit of ino is queued and not on its way yet (held, or
 * waiting its turn): the master has not seen the close it commits. */
bool nsq_commit_unsent(struct nsq *q, uint64_t ino);
/* Queue the rename of name in parent to newname in newparent, answered
 * now (fs_ops.c queues only renames within a folder to a name known
 * absent, flags 0: the master can only do them, or find the old name
 * gone). 0, -ENOMEM or -ESHUTDOWN. */
int nsq_rename(struct nsq *q, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname);
/* Whether a queued rename or create (or one on its way) makes name in parent. */
bool nsq_renamed_to(struct nsq *q, uint64_t parent, const char *name);
/* rmdir behind everything queued; waits for its own answer: 0 or -errno. */
int nsq_rmdir(struct nsq *q, uint64_t parent, const char *name);
/* Wait until nothing is queued or on its way. Cheap when idle. */
void nsq_drain(struct nsq *q);
/* Whether an unlink of name in parent is queued or on its way. */
bool nsq_pending_name(struct nsq *q, uint64_t parent, const char *name);
/* Whether anything is queued or on its way in folder dir / at all. */
bool nsq_pending_dir(struct nsq *q, uint64_t dir);
bool nsq_pending(struct nsq *q);

#endif
