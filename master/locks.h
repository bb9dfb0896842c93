/* locks — the cluster's file locks: flock() and POSIX byte-range locks,
 * arbitrated by the master between every mount.
 *
 * In memory only: a master restart forgets every lock, and each mount
 * declares its own again when it re-opens its session (see session.h).
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

enum lk_kind { LK_POSIX = 0, LK_FLOCK = 1 };
enum lk_type { LK_UNLCK = 0, LK_RDLCK = 1, LK_WRLCK = 2 };

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

/* Set or remove (type LK_UNLCK) the lock of owner (sid, owner) on
 * [start, end] of ino, merging and splitting that owner's ranges the way
 * Linux does (an flock lock always covers the whole file and replaces the
 * owner's previous one). -EAGAIN if another owner's lock conflicts (then
 * nothing changes), -EINVAL for start > end or end > LK_EOF, -ENOLCK when
 * the session holds LK_PER_SESSION_MAX locks, -ENOMEM. On success, if
 * ret_held is not NULL, *ret_held is a malloc'ed array (caller frees, may
 * be NULL when *ret_n == 0) of the ranges this owner now holds on ino. */
int locks_set(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	      uint64_t owner, uint32_t pid, enum lk_type type, uint64_t start,
	      uint64_t end, struct lk_range **ret_held, size_t *ret_n);

/* F_GETLK: the first lock of another owner that conflicts with a lock of
 * type on [start, end]. Returns 1 and fills *ret, or 0 (no conflict), or
 * -EINVAL. */
int locks_test(struct locks *lk, uint64_t ino, enum lk_kind kind, uint64_t sid,
	       uint64_t owner, enum lk_type type, uint64_t start, uint64_t end,
	       struct lk_range *ret);

/* Drop every lock of session sid (it closed or died). Returns how many. */
size_t locks_drop_session(struct locks *lk, uint64_t sid);

/* Number of locks held in the cluster. */
size_t locks_count(struct locks *lk);

#endif
