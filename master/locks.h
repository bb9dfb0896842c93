/* locks — the cluster's file locks: flock() and POSIX byte-range locks,
 * arbitrated by the master between every mount.
 *
 * In memory only: a master restart forgets every lock, and each mount
 * declares its own again when it re-opens its session (see session.h).
 * For a while after a restart (the grace period, locks_set_grace) only
 * those re-declarations are granted: new requests (LK_F_NEW) get -EAGAIN,
 * so no mount takes a lock another mount held before the restart and has
 * not declared again yet.
 *
 * Waiting (F_SETLKW) is the mount's loop, but a waiting request says so
 * (LK_F_WAIT): the master keeps a short-lived record of who waits for
 * what, and refuses with -EDEADLK a POSIX request whose wait would close
 * a cycle of owners waiting for each other, as Linux does.
 * An owner is (session number, lock_owner the kernel gave the mount); a
 * session number is the small integer session.c gives each live session.
 * Ranges are inclusive [start, end] with end = LK_EOF meaning "to the end
 * of the file, whatever it becomes" (the kernel's OFFSET_MAX). */
#ifndef BIGFS_MASTER_LOCKS_H
#define BIGFS_MASTER_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#define LK_EOF ((uint64_t)INT64_MAX)
/* Locks one session may hold at most (bounds what a client can make the
 * master allocate). */
#define LK_PER_SESSION_MAX 65536

/* How long a waiter record lives after the request that made it: the
 * mount asks again at least every 200 ms while it waits. */
#define LK_WAIT_TTL_MS 1000
/* Waiter records the master keeps at most (further waiters are not
 * recorded: their deadlocks go undetected). */
#define LK_WAITERS_MAX 4096

enum lk_kind { LK_POSIX = 0, LK_FLOCK = 1 };
enum lk_type { LK_UNLCK = 0, LK_RDLCK = 1, LK_WRLCK = 2 };

/* Flags a caller ORs into the type given to locks_set and locks_test
 * (they pass unchanged through session.c's sess_lock / sess_lock_test):
 * - LK_F_NEW: a request of a program, not a re-declaration after a master
 *   restart: during the grace period a lock (not an unlock) is refused
 *   with -EAGAIN, and locks_test answers -EAGAIN unless it finds a
 *   conflict among the locks declared so far;
 * - LK_F_WAIT: the caller will wait for this lock (F_SETLKW, blocking
 *   flock) and asks again until it gets it. On a conflict, a POSIX
 *   request whose owner would wait, directly or through other waiters,
 *   for itself fails with -EDEADLK; otherwise the master records that the
 *   owner waits for [start, end] of ino, for LK_WAIT_TTL_MS after each
 *   request, until it is granted or cancelled;
 * - LK_F_CANCEL: the caller stopped waiting for this request (the
 *   process was interrupted): its waiter record goes; nothing else
 *   changes (*ret_held is filled as usual). */
#define LK_TYPE_MASK 0x0f
#define LK_F_NEW 0x10
#define LK_F_WAIT 0x20
#define LK_F_CANCEL 0x40

struct locks;

struct lk_range {
	enum lk_type type;
	uint64_t start, end;
	uint32_t pid;
	uint64_t sid;      /* holder's session number (locks_test only) */
};

int locks_new(struct locks **ret);
/* Frees every lock. NULL is fine. */
void locks_free(struct locks *lk);

/* Start a grace period of ms milliseconds from now (0 ends it). */
void locks_set_grace(struct locks *lk, int64_t ms);
/* Milliseconds left of the grace period, 0 when over. */
int64_t locks_grace_left_ms(struct locks *lk);

/* Set or remove (type LK_UNLCK) the lock of owner (sid, owner) on
 * [start, end] of ino, merging and splitting that owner's ranges the way
 * Linux does (an flock lock always covers the whole file and replaces the
 * owner's previous one). type may carry LK_F_* flags (above). -EAGAIN if
 * another owner's lock conflicts or LK_F_NEW in the grace period (then
 * nothing changes), -EDEADLK (LK_F_WAIT, POSIX only) if waiting would
 * deadlock, -EINVAL for start > end or end > LK_EOF or an unknown type or
 * flag, -ENOLCK when
 * the session holds LK_PER_SESSION_MAX locks, -ENOMEM. On success, if
 * ret_held is not NULL, *ret_held is a malloc'ed array (caller frees, may
 * be NULL when *ret_n == 0) of the ranges this owner now holds on ino. */
int locks_set(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	      uint64_t owner, uint32_t pid, enum lk_type type, uint64_t start,
	      uint64_t end, struct lk_range **ret_held, size_t *ret_n);

/* F_GETLK: the first lock of another owner that conflicts with a lock of
 * type on [start, end]. Returns 1 and fills *ret, or 0 (no conflict), or
 * -EINVAL, or -EAGAIN (LK_F_NEW during the grace period, no conflict
 * known yet). */
int locks_test(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	       uint64_t owner, enum lk_type type, uint64_t start, uint64_t end,
	       struct lk_range *ret);

/* Drop every lock and waiter record of session sid (it closed or died).
 * Returns how many locks. */
size_t locks_drop_session(struct locks *lk, uint64_t sid);

/* Number of locks held in the cluster. */
size_t locks_count(struct locks *lk);
/* Number of live waiter records (LK_F_WAIT requests still waiting). */
size_t locks_waiters(struct locks *lk);

#endif
