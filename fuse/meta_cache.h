/* meta_cache — what this mount learned from the master's replies and
 * answers itself for a short while (MC_TTL_MS), instead of a round trip.
 *
 * Three things, each exactly as fresh as the kernel's own entry and
 * attribute caches (FS_TIMEOUT, one second) would keep them. What the
 * master said of a directory (not what this mount's queued changes
 * predicted of it) the kernel may then keep as long as it keeps the
 * master's own answer: the change feed's time (fs_getattr, iw_ttl), so a
 * path walk through it needs no call while the feed runs:
 *
 * - A directory's attributes after a change this mount made in it. The
 *   kernel drops a directory's cached attributes at every create, unlink,
 *   mkdir, rmdir or rename in it and asks for them at the next path walk
 *   (default_permissions checks the search bit): the master's reply to the
 *   change already carried them ("dirs" in docs/api.md).
 * - That a name is absent from a directory whose every entry this mount
 *   has seen: a directory it made itself (empty, at change count dver),
 *   while it holds the master's lease on it (master/dir_lease.h: granted
 *   with the mkdir, renewed by each reply to its own changes there, which
 *   also show the count went on from the one this mount knew). A lookup of
 *   a name not in it is answered ENOENT without the master — the lookup
 *   before every create, mkdir and symlink of tar, cp, git and rsync —
 *   until MC_LEASE_MS after this mount sent the call that renewed the
 *   lease. After that the next lookup there that reaches the master
 *   asks it to renew the lease, if the folder is still at the count this
 *   mount knows its names at (mcache_names_ver, mcache_lease_again).
 *   Anyone else's change of the folder revokes the lease, and the
 *   master holds that change's reply until the lease (counted from its own
 *   later reply, DL_TTL_MS) has run out: no one who learned of the change
 *   finds this mount still answering for the folder. Such a folder with
 *   no name yet is also listed without the master (mkdir -p, then rm -r
 *   or find, reads each new folder once). And a folder it made there is
 *   answered as it is (mcache_child: its own attributes, kept as above),
 *   for the kernel's second look before a mkdir of a name it holds
 *   (mkdir -p walks every argument from its start).
 * - A directory's attributes read with its entries (readdir): the kernel
 *   asks for them after every read of a folder (which may have changed
 *   its atime), and before each unlink in it once one has changed it.
 * Directory attributes learned before the change feed last brought
 * others' changes are not used (mcache_feed_changed).
 * - That an inode has no extended attributes ("xa": 0 in its attributes):
 *   getxattr of any name but the master's own bigfs.* is ENODATA (ls -l
 *   asks two per file).
 *
 * Names are kept as 64-bit hashes. Two names of one directory with the
 * same hash (about 1 in 10^8 for a million names) would let the removal
 * of one hide the other for at most MC_TTL_MS.
 * Memory is bounded: MC_INOS inodes, MC_NAMES names in all; past either,
 * everything is dropped and learned again.
 *
 * Threads: any FUSE thread. One mutex; no I/O under it. */
#ifndef BIGFS_FUSE_META_CACHE_H
#define BIGFS_FUSE_META_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define MC_TTL_MS 1000
#define MC_LEASE_MS 900          /* < the master's DL_TTL_MS, from the send */
#define MC_INOS 65536            /* inodes remembered before a reset */
#define MC_NAMES (1u << 20)      /* names of complete directories, in all */
#define MC_DIR_NAMES (1u << 17)  /* one directory past this is not kept complete */

struct meta_cache;

/* One entry change a call made: name added to (delta 1) or removed
 * from (delta -1) directory dir, or kept (0: RENAME_EXCHANGE). */
struct mc_change {
	uint64_t dir;
	const char *name;
	int delta;
	uint64_t ino;                /* the inode name is now (delta 1), 0: not known */
};

int mcache_new(struct meta_cache **ret);
void mcache_free(struct meta_cache *mc);

/* The master's reply resp to a call sent at sent_ms (mcache_now_ms) that
 * made the changes ch[0..n): its "dirs" (each directory's count before,
 * attributes after, "lease" if this mount still holds it) update the
 * directories' attributes and, where the lease holds and the count this
 * mount knew was the one before, their names. Any other directory stops
 * being complete. */
void mcache_changed(struct meta_cache *mc, const json_t *resp, const struct mc_change *ch,
		    size_t n, int64_t sent_ms);
/* The reply resp to this mount's mkdir sent at sent_ms: with "lease", the
 * new directory is complete and empty. */
void mcache_dir_made(struct meta_cache *mc, const json_t *resp, int64_t sent_ms);
int64_t mcache_now_ms(void);
/* Whether this mount knew every name of directory dir when its lease
 * last ran (it may have run out since): then *ver is the change count
 * they are exact at, for a lookup to ask the master to renew the lease
 * ("known" in /v1/lookup). */
bool mcache_names_ver(struct meta_cache *mc, uint64_t dir, uint64_t *ver);
/* The reply to that lookup, sent at sent_ms with count known, said (dir:
 * its "dir", the folder's attributes, or NULL: not renewed) the folder is
 * still at that count and the lease is this mount's again: its names are
 * known as before. */
void mcache_lease_again(struct meta_cache *mc, uint64_t dir, const json_t *attr, uint64_t known,
			int64_t sent_ms);
/* Whether name is known absent from directory dir now. */
bool mcache_absent(struct meta_cache *mc, uint64_t dir, const char *name);
/* This mount made name (inode ino) in dir itself and the master will
 * learn it later (fuse/ns_queue.h nsq_create): dir's names hold it from
 * now. False if they are not known (no lease) or have no room: then the
 * create must go to the master first. */
bool mcache_add_made(struct meta_cache *mc, uint64_t dir, const char *name, uint64_t ino);
/* The master recalled this mount's creates in dir (another client lists
 * it, master/http_api.c listing_told): mcache_add_made refuses dir until
 * a create there sent after the recall came back (the master held its
 * reply until the lister's feed had it, so the lister keeps no listing
 * without it): mcache_recall_over with mcache_recalls() as of its send. */
void mcache_recall(struct meta_cache *mc, uint64_t dir);
uint64_t mcache_recalls(struct meta_cache *mc);
void mcache_recall_over(struct meta_cache *mc, uint64_t dir, uint64_t recalls_at_send);
/* A folder this mount made, named name in dir, where dir is as
 * mcache_absent knows it: its attributes (as mcache_attr has them) in *st
 * and true, so a lookup needs no call (the kernel asks again for a name
 * it holds before mkdir and O_EXCL creates: mkdir -p of a tree looked
 * every existing folder up at the master). False if not known. */
bool mcache_child(struct meta_cache *mc, uint64_t dir, const char *name, struct stat *st,
		  double *ret_valid_s);
/* Whether directory dir is known to be empty now (complete, as above,
 * with no name): a readdir is answered with "." and ".." alone. */
bool mcache_dir_empty(struct meta_cache *mc, uint64_t dir);
/* The master says name exists in dir: if this mount did not know it, dir
 * is not complete here. */
void mcache_seen(struct meta_cache *mc, uint64_t dir, const char *name);
/* Attributes of ino fresh enough to answer a getattr: *st and how many
 * seconds more they may be cached (> 0); *ret_exact (if not NULL): as the
 * master said them, not as this mount's queued changes would leave them
 * (mcache_dir_predict). */
bool mcache_attr(struct meta_cache *mc, uint64_t ino, struct stat *st, double *ret_valid_s,
		 bool *ret_exact);
/* The change feed brought changes of others: directory attributes known
 * so far may be old. mcache_feed_gen: how many times so far (take it
 * before a call whose reply goes to mcache_dir_listed). */
void mcache_feed_changed(struct meta_cache *mc);
uint64_t mcache_feed_gen(struct meta_cache *mc);
/* attr: a folder's attributes from a readdir sent when the feed count
 * was gen; kept only if the feed brought nothing since. */
void mcache_dir_listed(struct meta_cache *mc, const json_t *attr, uint64_t gen);
/* The same, parsed: *st and dver from attr (false if it is not a
 * folder's), then kept. */
bool mcache_dir_attr_parse(const json_t *attr, struct stat *st, uint64_t *dver);
void mcache_dir_attr(struct meta_cache *mc, const struct stat *st, uint64_t dver, uint64_t gen);
/* This mount changed an entry of folder dir and the master will learn it
 * later (ns_queue): its known attributes take the change's time now, and
 * its link count moves by nlink_delta (-1: a folder in it removed). */
void mcache_dir_predict(struct meta_cache *mc, uint64_t dir, int nlink_delta);
/* ino's attributes may have changed in a way no reply said (setattr,
 * xattrs, ACLs): forget them. */
void mcache_forget_attr(struct meta_cache *mc, uint64_t ino);
/* The feed was reset (what others changed meanwhile is not known). */
void mcache_feed_reset(struct meta_cache *mc);
/* Folder dir's attributes as far as a create there depends on them
 * (mode's setgid bit, group) and that it has no extended attributes (no
 * default ACL): known from a reply that no change of another client
 * overtook, and the feed named no change of dir since (fs_ops.c forgets
 * what it names: mcache_forget_attr). False if not known so. */
bool mcache_dir_owner(struct meta_cache *mc, uint64_t dir, struct stat *st);

/* attr is an inode's attributes from the master: note whether it has
 * extended attributes ("xa"; absent says nothing). */
void mcache_note_xattrs(struct meta_cache *mc, const json_t *attr);
/* Whether ino is known to have no stored extended attribute now. */
bool mcache_no_xattrs(struct meta_cache *mc, uint64_t ino);
/* This mount is changing ino's extended attributes. */
void mcache_xattrs_changed(struct meta_cache *mc, uint64_t ino);

#endif
