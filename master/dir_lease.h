/* dir_lease — which mount may answer "no such name" in a folder itself.
 *
 * A mount that makes a folder gets a lease on it (DL_TTL_MS), renewed by
 * each reply to its own changes there; one that ran out while nobody
 * else changed the folder is taken again by the holder's next change,
 * or by its next lookup there that shows it still knows every name
 * (/v1/lookup "known": rsync makes its folders long before it looks up
 * their names, one round trip each). While it holds one it knows every
 * name of the folder and answers a lookup of any other with ENOENT
 * without a call (fuse/meta_cache.h), which spares the lookup before each
 * create of tar, cp, git and rsync.
 *
 * A change of the folder by anyone else (another mount, an operator's
 * snapshot or trash restore) revokes the lease, and the master holds that
 * change's reply until the lease's last renewal has run out: whoever
 * learns of the change from its maker finds the holder asking the master
 * again. The holder stops answering on its own a little before the
 * master's time runs out, counting from when it sent the call that
 * renewed it (the master counts from its reply), so no clock is shared.
 * The cost is that wait — up to DL_TTL_MS, once per folder a mount has
 * been filling — for the first other client to change that folder.
 *
 * Leases live in the master's memory: a restarted or new active master
 * grants none until folders are made again (a mount holding one from the
 * old master lets it run out).
 *
 * Threads: any HTTP thread. One mutex; no I/O and no waiting under it. */
#ifndef BIGFS_MASTER_DIR_LEASE_H
#define BIGFS_MASTER_DIR_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#define DL_TTL_MS 1000
#define DL_MAX 65536             /* leases at once; past it, new ones are not granted */

struct dir_leases;

int dlease_new(struct dir_leases **ret);
void dlease_free(struct dir_leases *t);

/* session made folder dir: it holds the lease. */
void dlease_grant(struct dir_leases *t, uint64_t dir, const char *session);
/* Folder dir changed by session (NULL or "": not a mount). Returns true
 * if session holds the lease, renewed now (or taken again: its own lease
 * ran out and nobody changed the folder since). Otherwise any other holder's
 * lease is revoked and *wait_until_ms (monotonic) is when its last
 * renewal runs out (0: nothing to wait for): the change's reply must not
 * leave before. */
bool dlease_changed(struct dir_leases *t, uint64_t dir, const char *session,
		    int64_t *wait_until_ms);
/* A lookup in folder dir by session, which still knows every name of it
 * (fuse/meta_cache.h): true if session holds the lease, renewed now, or
 * held it and nobody else changed the folder since it ran out (taken
 * again, as dlease_changed does). Anyone else's lease is left alone. */
bool dlease_renew(struct dir_leases *t, uint64_t dir, const char *session);
/* Whether another session than session (NULL: anyone's) holds the lease
 * on dir, or held it until less than grace_ms ago and nobody else
 * changed the folder since: its holder (*holder) may have answered
 * creates there that are still on their way (fuse/ns_queue.h). */
bool dlease_held_by_other(struct dir_leases *t, uint64_t dir, const char *session,
			  int64_t grace_ms, char holder[]);
/* A listing of dir by session (NULL: not a mount): 1 and *holder as
 * dlease_held_by_other. A lease of another session that ran out longer
 * ago ends instead (0): its holder's next lookup does not take it again,
 * as the listing's reader may answer from it (fuse/dir_cache.h). */
int dlease_listed(struct dir_leases *t, uint64_t dir, const char *session, int64_t grace_ms,
		  char holder[]);
/* How many leases are held now (for /metrics). */
uint64_t dlease_count(struct dir_leases *t);
int64_t dlease_now_ms(void);

#endif
