/* inval_log — what changed in the namespace, for mounts that cache it.
 *
 * Every committed change of an entry (a folder's name) or of an inode's
 * attributes is one event, numbered in commit order. Mounts long-poll
 * POST /v1/events for the events after the last they saw, leaving out
 * their own (the kernel of the mount that made a change knows it), and
 * tell their kernel to forget what the events name. That lets them give
 * the kernel long entry and attribute timeouts (fuse/inval_watch.h).
 *
 * The log is a ring in memory: a mount that fell more than `cap` events
 * behind, or polls a master that started since (another log id), is told
 * to reset, and forgets everything it let the kernel keep long.
 *
 * Thread-safe (one mutex); readers wait on a condition variable. */
#ifndef BIGFS_MASTER_INVAL_LOG_H
#define BIGFS_MASTER_INVAL_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inval_log;

/* One change: the entry `name` in folder `ino`, or (name NULL) the
 * attributes of inode `ino`. Or, recall (name NULL), no change: a word to
 * the mount that holds folder `ino`'s lease to send the creates it
 * answered there itself before it asks the feed for more (fuse/ns_queue.h),
 * or to the mount that made file `ino` to send the commit its close left
 * behind (fuse/file_handle.h); readers get those as "r": [ino, ...]
 * (INVAL_RECALL: another client looks a name up there, or opens the file)
 * or "rl" (INVAL_RECALL_LISTING: another client lists the folder, and may
 * keep the listing: the holder answers no creates there itself until one
 * of its own went to the master and came back), and nobody forgets
 * anything (nor drops a listing: a reply of recalls only is not one that
 * makes a mount drop them, inval_log_wait_listers). */
enum { INVAL_CHANGE, INVAL_RECALL, INVAL_RECALL_LISTING };
struct inval_note {
	uint64_t ino;
	const char *name;
	int recall;
};

#define INVAL_LOG_CAP_DEFAULT 32768
#define INVAL_READ_MAX 2048           /* events in one reply */
#define INVAL_WAIT_MAX_MS 30000

int inval_log_new(size_t cap, struct inval_log **ret);
void inval_log_free(struct inval_log *l);
/* Wakes every waiting reader (they return what they have). */
void inval_log_stop(struct inval_log *l);

/* Makes the readers waiting for origin return now (a mount going away
 * ends its own long poll). */
void inval_log_wake(struct inval_log *l, uint64_t origin);

/* This log's id: random per master start, as a string for JSON. */
const char *inval_log_id(const struct inval_log *l);

/* The origin of a caller (a mount's login id): a nonzero hash, or 0 for
 * none (an operator, a background job: everybody gets those). */
uint64_t inval_origin(const char *id);

/* The origin of what this thread changes next (the HTTP API sets it for
 * each call, and back to 0 after). */
void inval_set_origin(uint64_t origin);
/* ns_set_change_hook's fn, arg the log: publishes with this thread's
 * origin. */
void inval_log_ns_hook(void *arg, const struct inval_note *notes, size_t n);

/* Appends n notes from origin, in order, and wakes the readers. A note
 * the same as the one before it in the same call is kept once. */
void inval_log_publish(struct inval_log *l, uint64_t origin, const struct inval_note *notes,
		       size_t n);

/* The events after `since` not from `origin`: at most max of them, in
 * {"e": [[folder, name], ...], "i": [ino, ...]} (entries, then inodes,
 * each once). Waits up to wait_ms while there are none. *ret_last is the
 * number to ask from next time. *ret_reset is set (and no events given)
 * when events after `since` are gone from the ring. Returns 0 or
 * -ENOMEM. */
int inval_log_read(struct inval_log *l, uint64_t origin, uint64_t since, int wait_ms,
		   size_t max, json_t **ret_events, uint64_t *ret_last, bool *ret_reset);

/* Wait (up to timeout_ms) until each reader of origins (that polls;
 * origins NULL: every reader) has told its kernel of the events up to
 * seq: it asked for the events after seq or later. A reader that has not
 * polled for INVAL_WAIT_MAX_MS + INVAL_ACK_SLACK_MS is not waited for,
 * nor is one that a wait (of either kind) ran out on, until it polls
 * again: a mount that does not answer (paused, cut off) costs one wait.
 * True if none was still behind. */
bool inval_log_wait_told(struct inval_log *l, const uint64_t *origins, size_t n, uint64_t seq,
			 int timeout_ms);
#define INVAL_ACK_SLACK_MS 5000

/* A mount's first poll (it starts from the last event): it is followed
 * from now on (inval_log_wait_told, inval_log_wait_listers). */
void inval_log_joined(struct inval_log *l, uint64_t origin);

/* origin's mount read a folder listing, which it may keep to answer
 * lookups, "no such file" included (fuse/dir_cache.h), until its feed
 * brings it any change of another client (it then drops them all). Only
 * a mount whose feed polls is followed. */
void inval_log_listed(struct inval_log *l, uint64_t origin);
/* Whether origin's mount polls the feed (only such a mount keeps
 * listings, fuse/dir_cache.h). */
bool inval_log_follows(struct inval_log *l, uint64_t origin);
/* Close-to-open for names: wait (up to timeout_ms) until every mount but
 * origin that may hold a listing read before event seq has been told of
 * the events up to seq, so that none of them answers "no such file" for
 * a name made by a change that ended before. True if none was behind;
 * one still behind is not waited for again until it polls (a paused or
 * cut-off mount costs the others one wait per poll of its own). */
bool inval_log_wait_listers(struct inval_log *l, uint64_t origin, uint64_t seq,
			    int timeout_ms);

/* Sole use. A mount that is the master's only client may open files
 * without asking (nobody else can have changed them since it last
 * knew), as long as the master says so in the replies to its feed: a
 * reply tells it "sole" while eligible(arg, origin) (the caller judges:
 * one live session, this reader's; called under the log's lock as the
 * reply is made, so it must not call back in) and no inval_log_sole_enter
 * runs. The master keeps such a grant for
 * INVAL_SOLE_TTL_MS from the reply; the mount trusts it for less,
 * counted from when it sent the poll (fuse/inval_watch.h IW_SOLE_*), and
 * takes the next reply in full (what it opened without asking is then
 * declared) before it polls again. */
#define INVAL_SOLE_TTL_MS 3000
typedef bool (*inval_sole_fn)(void *arg, uint64_t origin);
int inval_log_read_sole(struct inval_log *l, uint64_t origin, uint64_t since, int wait_ms,
			size_t max, inval_sole_fn eligible, void *arg, json_t **ret_events,
			uint64_t *ret_last, bool *ret_reset, bool *ret_sole);
/* Before a change of anyone but a holder (another mount's session
 * opening, an operator's call): no grant is made until
 * inval_log_sole_leave, and every holder but origin's is answered now
 * (its poll returns, saying no) and waited for until it polls again or
 * its grant runs out (up to timeout_ms). floor: also until a restarted
 * master's INVAL_SOLE_TTL_MS have passed (the one before may have
 * granted; inval_log_sole_restarted). Returns false, doing nothing, when
 * origin holds a grant itself (its own change); true otherwise: call
 * inval_log_sole_leave after the change. */
bool inval_log_sole_enter(struct inval_log *l, uint64_t origin, bool floor, int timeout_ms);
void inval_log_sole_leave(struct inval_log *l);
/* Whether a master ran before on this store (the floor above). */
void inval_log_sole_restarted(struct inval_log *l, bool restarted);

/* The number of the last event (0: none yet). */
uint64_t inval_log_last(struct inval_log *l);
/* The number of the last event not from origin (0: none yet): the last
 * one origin's reader will be given. */
uint64_t inval_log_last_other(struct inval_log *l, uint64_t origin);

#endif
