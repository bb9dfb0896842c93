/* master_client — JSON calls to the BigFS master, with retry.
 *
 * Every call is a POST to /v1/<op> with a JSON object (docs/api.md
 * "Master"). While the master is unreachable (connection refused, timeout,
 * no route) a call is retried with backoff (50 ms doubling to 1 s, with
 * jitter) until master_timeout has passed, then fails with -EIO. An error
 * answer from the master is returned as its -errno at once. This module is
 * the one place where wire errors become the errno handed to the kernel.
 *
 * Several masters (docs/api.md "Several masters (client side)"): the
 * client holds their list and calls the one current there. A master that
 * does not answer, or answers as a standby (503 with "role": "standby"),
 * makes the client switch — to the active master the standby named if it
 * is listed, else to the next — and call again: at once during the first
 * pass through the list, then with the backoff above, all within the one
 * master_timeout. One info line per switch: "master: X -> Y (reason)".
 *
 * Every call is signed with the session this client logged in to; a 401
 * (session unknown after a master restart or an exports reload, or a
 * signature refused) logs in again and repeats the call once. When the
 * mounted folder is not the namespace's root, inode numbers are mapped
 * here, in both directions: the mount sees the folder as inode 1 (FUSE's
 * root), the master sees its own number. */
#ifndef BIGFS_FUSE_MASTER_CLIENT_H
#define BIGFS_FUSE_MASTER_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct master_client;

/* Also retry while the master answers EAGAIN (a write lease held by
 * another session), up to the same deadline; then -EIO. */
#define MC_RETRY_EAGAIN 1u
#define MC_MARKS 32768           /* slots for inodes changes named (master_client_changed) */
#define MC_TARGETS 128           /* inodes one change names, at most (more: all changed) */

struct master_list;

/* masters is "HOST:PORT" or a list "HOST:PORT,HOST:PORT" (master_list.h;
 * copied). master_timeout_ms bounds how long a call keeps retrying.
 * Returns 0, -EINVAL for a list master_list_parse refuses, or -ENOMEM. */
int master_client_new(const char *masters, long master_timeout_ms,
		      struct master_client **ret);
/* The same from a parsed list, which the client then owns (freed with it;
 * on failure the caller still owns it). */
int master_client_new_list(struct master_list *ml, long master_timeout_ms,
			   struct master_client **ret);
/* The client's list (borrowed): its current master is the one calls go
 * to. */
struct master_list *master_client_masters(struct master_client *mc);
/* Wakes any call waiting in backoff (it fails with -EIO), then frees. Call
 * only once no other thread uses mc. */
void master_client_free(struct master_client *mc);
/* Make calls in backoff give up now (used at unmount). Thread-safe. */
void master_client_stop(struct master_client *mc);

/* Authentication (docs/api.md "Authentication"). Before the first call:
 * the export's password (len bytes, may be 0: an export without one) and
 * the folder to mount ("/" by default). Both copied. 0 or -EINVAL. */
int master_client_set_login(struct master_client *mc, const void *password, size_t len,
			    const char *path);
/* What the master said at the last login. */
struct mc_login_info {
	uint64_t root;          /* the master's inode of the mounted folder */
	bool ro;                /* the export is read-only */
	bool maps;              /* it maps root or every caller (maproot, mapall) */
};
/* Log in now at the current master (one attempt each for challenge and
 * login; a master that does not answer or is a standby is passed over
 * once, to the next in the list; the mount does this before mounting so
 * that a wrong password fails at once). 0 with *ret filled, or -errno
 * with a sentence for the user in why (whylen bytes): -EACCES (no export
 * rule, wrong password), -EPROTO (the master could not prove it knows the
 * password), -EAGAIN (a standby), a transport error. Later calls log in
 * again by themselves whenever the master answers 401. */
int master_client_login(struct master_client *mc, struct mc_login_info *ret, char *why,
			size_t whylen);

/* One GET /v1/health of the current master with its own timeout, no
 * retry. 0 if the master answered {"ok": true} (active or standby);
 * -errno otherwise (transport error, or -EPROTO for an answer that is not
 * a BigFS master). */
int master_client_health(struct master_client *mc, long timeout_ms);

/* Find the active master (the mount does this at start): GET /v1/health
 * of each master, from the current one, going next to the one a standby
 * names as active when it is listed, each with probe_timeout_ms; the
 * first that answers as active ("role" absent or "active") becomes
 * current: 0. When none is active but some standby answered (a failover
 * under way), ask them all again with backoff for up to wait_ms. Else
 * -errno, with what each master is in why (whylen bytes): the last
 * master's transport error or -EPROTO when none answered as a standby,
 * -EAGAIN when standbys answered but no master became active. */
int master_client_find_active(struct master_client *mc, long probe_timeout_ms, long wait_ms,
			      char *why, size_t whylen);

/* POST /v1/<op> with req (borrowed, may be NULL for {}). On success returns
 * 0 and, if ret_resp is not NULL, a new reference to the reply object in
 * *ret_resp (an empty object if the master sent no body). On failure
 * returns the master's -errno, or -EIO after the deadline; *ret_resp is
 * untouched. *ret_retried (may be NULL) tells whether an attempt may have
 * reached the master before the one that answered (a timeout, or a
 * connection lost mid-request) — callers of non-idempotent operations use
 * it to recognise their own earlier success (EEXIST after mkdir). */
/* How many times a call that may change names or attributes started or
 * ended (dir_cache.h): equal counts around a read mean none overlapped. */
uint64_t master_client_mutations(struct master_client *mc);
/* The same but for the queued namespace changes ("batch", ns_queue.h:
 * removals, which a reader of a folder tracks by folder), and counting
 * read-atime reports: equal counts around a folder's listing and a later
 * use of it mean no name or attribute it shows changed here but by a
 * removal. */
uint64_t master_client_changes(struct master_client *mc);
/* Whether a change of this mount that may have changed inode ino's names
 * (a folder) or attributes was on its way, or ended after the mutation
 * count was since: a listing read from then on may be old for ino. A
 * change names its folders and inodes; a removal also changes the link
 * count of the removed file's other names, so it counts for every inode
 * here; a rename (which may replace a file) and anything past MC_MARKS /
 * 2 inodes named count for every inode. */
bool master_client_changed(struct master_client *mc, uint64_t ino, uint64_t since);
/* The same for an inode known to have one name (a folder, or a file with
 * a link count of 1 when listed: a link made here since names it): a
 * removal elsewhere does not change it. */
bool master_client_changed_sole(struct master_client *mc, uint64_t ino, uint64_t since);
/* Milliseconds since a change naming ino (a create, removal or rename in
 * that folder; a setattr or commit of that file) last ended (0: one is on
 * its way; INT64_MAX: none lately). */
int64_t master_client_quiet_ms_of(struct master_client *mc, uint64_t ino);
/* The same for any change of this mount. */
int64_t master_client_quiet_ms(struct master_client *mc);
int master_client_call(struct master_client *mc, const char *op, const json_t *req,
		       unsigned flags, json_t **ret_resp, bool *ret_retried);

/* Fill *st from the "attr" member of a master reply. 0, or -EIO if the
 * attribute object is missing or malformed (*st untouched). */
int master_client_attr(const json_t *resp, struct stat *st);
/* Same, from an attribute object itself. */
int master_client_attr_obj(const json_t *attr, struct stat *st);

#endif
