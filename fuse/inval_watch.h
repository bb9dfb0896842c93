/* inval_watch — the master's change feed, so the kernel may cache long.
 *
 * A thread long-polls POST /v1/events (master/inval_log.h): the entries
 * other clients removed or replaced and the inodes whose attributes they
 * changed. It tells the kernel to forget each (fuse_lowlevel_notify_
 * inval_entry, notify_inval_inode for the attributes only: open drops the
 * page cache anyway). While the feed is live, the replies to lookup,
 * readdirplus, create, mkdir, getattr and setattr give the kernel long
 * timeouts (iw_ttl, -o cache_ttl, default IW_TTL_DEFAULT_S) instead of
 * one second, so a path walk, a stat or an rm of a name seen before costs
 * no round trip. A name's absence is never cached (fs_lookup answers
 * ENOENT as an error), so new names of others show at once.
 *
 * Correctness rests on three rules:
 * - A reply gets the long timeout only if no batch of events arrived
 *   between its call's send (iw_snap) and the reply (iw_ttl): otherwise
 *   the batch may have been applied before the reply reached the kernel,
 *   which would then keep a stale answer. It gets one second then. A
 *   reply just before a batch may still have its name cached by the
 *   kernel after the batch's word (the requesting thread does that once
 *   it runs): every batch is told twice, IW_GATHER_MS apart.
 * - Every long grant still running is in a ring (IW_GRANTS records: the
 *   entry's folder and name, the inode). When the feed cannot say what
 *   was missed — a new log id after a master restart or failover, events
 *   lost from the master's ring, or a note of inode 0 — the watcher tells
 *   the kernel to forget all of them. A grant that does not fit (ring full
 *   of running grants, name longer than IW_NAME_MAX) gets one second.
 * - The feed counts as live only while a poll answered within the last
 *   IW_LIVE_MS; otherwise replies get one second. A master that is gone or
 *   paused leaves at most cache_ttl seconds of staleness for grants made
 *   before, and a master that comes back with a new log resets them.
 *
 * Own changes are not in the feed: this mount's kernel made them.
 * Mounts of a subfolder export get no feed (EPERM: the names would reach
 * outside their subtree) and keep one-second timeouts.
 *
 * Threads: the watcher thread; iw_snap/iw_ttl from any FUSE thread (one
 * mutex for the ring; the kernel is told only outside it, since
 * notify_inval_entry waits for the folder's lock a FUSE request may hold
 * while it waits for us). */
#ifndef BIGFS_FUSE_INVAL_WATCH_H
#define BIGFS_FUSE_INVAL_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#define IW_TTL_DEFAULT_S 10
#define IW_SHORT_TTL 1.0          /* without the feed, as before it */
#define IW_WAIT_MS 5000           /* one long poll */
#define IW_LIVE_MS (IW_WAIT_MS + 2000)
#define IW_GATHER_MS 5            /* after a batch, before the next poll */
#define IW_OPEN_WAIT_MS 500       /* an open waits this long at most for the feed */
/* Sole use (master/inval_log.h): trusted this long from the send of the
 * poll whose reply granted it (the master keeps it INVAL_SOLE_TTL_MS
 * from that reply), and polled this often while it holds. */
#define IW_SOLE_TRUST_MS 2500
#define IW_SOLE_WAIT_MS 800
#define IW_GRANTS 32768
#define IW_NAME_MAX 47

struct inval_watch;
struct master_client;
struct fuse_session;

/* ttl_s: the long timeout (1 disables the feed). */
int iw_new(struct master_client *mc, int ttl_s, struct inval_watch **ret);
void iw_free(struct inval_watch *w);
/* Starts the watcher, which tells se's kernel (call from the FUSE init). */
void iw_start(struct inval_watch *w, struct fuse_session *se);
void iw_stop(struct inval_watch *w);

/* Taken before a master call whose answer goes to the kernel. */
uint64_t iw_snap(struct inval_watch *w);
/* The timeout for the answer to that call: name in folder parent is
 * inode ino, or (name NULL) ino's attributes. Records the grant. */
double iw_ttl(struct inval_watch *w, uint64_t snap, uint64_t parent, const char *name,
	      uint64_t ino);
/* Whether the feed is live now. */
bool iw_live(struct inval_watch *w);
/* Wait (up to timeout_ms) until the feed of log has been told to the
 * kernel up to event seq (an open's "feed": close-to-open). True when it
 * has, or there is nothing to wait for: the feed is not live, or it
 * follows another log (a reset tells the kernel everything). */
bool iw_catch_up(struct inval_watch *w, const char *log, uint64_t seq, int timeout_ms);
/* fn(arg) whenever the feed brings changes or resets (before the kernel
 * hears of them); set before iw_start. */
void iw_on_change(struct inval_watch *w, void (*fn)(void *arg), void *arg);
/* fn(arg, ino) for every inode the feed names, before the feed asks for
 * what follows (the master counts the event taken then: a mount sends
 * what it queued for ino first, fh_table_shared); ino 0 after a reset:
 * any inode. Set before iw_start. */
void iw_on_inode(struct inval_watch *w, void (*fn)(void *arg, uint64_t ino), void *arg);
/* fn(arg, dir, listing) for every folder the master recalls (another
 * client looks a name up there, or lists it: listing), where this mount
 * may hold creates it answered (fs_ops.c fs_create_local), before the
 * feed asks for what follows. Not a change: nothing is forgotten. Set
 * before iw_start. */
void iw_on_recall(struct inval_watch *w, void (*fn)(void *arg, uint64_t dir, bool listing),
		  void *arg);

/* Whether this mount is the master's only client now (master/
 * inval_log.h sole use): nobody else can have changed a file since this
 * mount last knew it. */
bool iw_sole(struct inval_watch *w);
/* fn(arg, on) when sole use begins or ends (the feed then asks for more
 * only after fn returns). Set before iw_start. */
void iw_on_sole(struct inval_watch *w, void (*fn)(void *arg, bool on), void *arg);

#endif
