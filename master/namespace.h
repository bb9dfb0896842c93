/* namespace — inodes, directory entries, attributes and xattrs.
 *
 * Every function is one transaction on the meta_store and returns 0 or a
 * negative errno as a local filesystem would (see docs/api.md). Outputs
 * are written only on success. */
#ifndef BIGFS_MASTER_NAMESPACE_H
#define BIGFS_MASTER_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chunk_map.h"
#include "inval_log.h"
#include "meta_store.h"

#define NS_NAME_MAX 255
#define NS_SYMLINK_MAX 4095
#define NS_XATTR_NAME_MAX 255
#define NS_XATTR_VALUE_MAX 65536
#define NS_GOAL_MAX 16
#define NS_READDIR_MAX 4096

struct ns;

struct ns_attr {
	uint64_t ino;
	uint32_t mode, nlink, uid, gid;
	uint64_t size, rdev;
	uint64_t blocks;        /* 512-byte units the file's chunks cover */
	uint32_t goal;
	int64_t atime_s, mtime_s, ctime_s;
	uint32_t atime_ns, mtime_ns, ctime_ns;
	uint64_t dver;          /* a directory's entry changes so far (touch_dir) */
	bool has_xattrs;        /* any stored extended attribute (ACLs included) */
};

struct ns_setattr {
	bool has_mode, has_uid, has_gid, has_size;
	bool has_atime, atime_now, has_mtime, mtime_now;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_s, mtime_s;
	uint32_t atime_ns, mtime_ns;
	/* The caller has no CAP_FSETID and is in groups[0..ngroups): a
	 * regular file's S_ISGID goes unless its group is one of them (what
	 * Linux does on a write, truncate or chmod by a non-member). */
	bool drop_sgid;
	const uint32_t *groups;
	size_t ngroups;
	/* The change's time (its ctime, and the "now" of atime_now and
	 * mtime_now) when set: a commit's setattr at the time its mount told
	 * its kernel (fuse/file_handle.h, commit behind). Otherwise now. */
	bool has_at;
	int64_t at_s;
	uint32_t at_ns;
};

struct ns_dirent {
	char name[NS_NAME_MAX + 1];
	uint64_t cookie;
	struct ns_attr attr;
};

/* The directories the calling thread's namespace calls changed since its
 * last ns_touch_reset (at most NS_TOUCH_MAX: a rename changes two): each
 * one's dver before the first change and its attributes after the last.
 * A mount that knew every entry of a directory at dver == prev still
 * knows them all after applying its own change (see fuse/meta_cache.c).
 * A call that failed may leave entries of a rolled-back change: use them
 * only after a success. */
#define NS_TOUCH_MAX 2
struct ns_touch {
	uint64_t prev;
	struct ns_attr attr;
};
void ns_touch_reset(void);
size_t ns_touch_get(const struct ns_touch **ret);

/* cm is used for chunk bookkeeping on unlink, truncate and commit. */
int ns_new(struct meta_store *ms, struct chunk_map *cm, struct ns **ret);
void ns_free(struct ns *ns);

/* 0, -EINVAL (empty, '/', "." or "..") or -ENAMETOOLONG. Any other
 * byte makes a name, UTF-8 or not (names are stored as given). */
int ns_check_name(const char *name);

int ns_lookup(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *ret);
int ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *ret);
/* Shrinking truncates the cut chunk on its workers before returning. */
int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *sa,
	       struct ns_attr *ret);
/* Reads of inos[0..n) happened now: relatime (atime moves if it is not
 * after mtime or ctime, or is a day old; ctime stays). Noted in memory:
 * every attribute this ns returns shows them at once, and
 * ns_atime_flush writes them (a master that dies first loses them).
 * Unknown inodes are skipped. */
int ns_atime_read(struct ns *ns, const uint64_t *inos, size_t n);
/* Writes the noted read atimes, up to 4096 per transaction; on failure
 * they stay noted. session.c's reaper calls it every second, ns_free at
 * the end. */
int ns_atime_flush(struct ns *ns);
/* mkdir, create, mknod: umask (0..0777) is applied unless the parent has a
 * default ACL, which is inherited instead; a setgid parent gives its
 * group (and, to directories, its setgid bit). */
int ns_mkdir(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint32_t uid, uint32_t gid, uint32_t umask, struct ns_attr *ret);
/* Existing name without excl: its attr and *ret_created = false. */
int ns_create(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	      uint32_t uid, uint32_t gid, uint32_t umask, bool excl, struct ns_attr *ret,
	      bool *ret_created);
/* Inode numbers a mount names its own creates with (fuse/ns_queue.h,
 * creates answered by the mount): count (1..NS_INO_RANGE_MAX) numbers
 * lo..hi above every number in use or reserved, kept for session in the
 * database (so a standby that takes over knows them), with the session's
 * last range before them; older ones are dropped. 0 or -errno. */
#define NS_INO_RANGE_MAX 65536
#define NS_INO_LAST ((uint64_t)INT64_MAX)
int ns_reserve_inos(struct ns *ns, const char *session, uint32_t count, uint64_t *ret_lo,
		    uint64_t *ret_hi);
/* The session ended: its ranges go. */
int ns_release_inos(struct ns *ns, const char *session);
/* Create a regular file as O_EXCL does, as inode ino, which must be in a
 * range reserved for session and unused: -EPERM if it is not reserved
 * for session, -EEXIST if the name or the inode exists. when (NULL: now)
 * is its atime, mtime and ctime: the mount's, which made it. */
struct timespec;
int ns_create_ino(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint32_t umask, uint64_t ino, const char *session,
		  const struct timespec *when, struct ns_attr *ret);
int ns_mknod(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint64_t rdev, uint32_t uid, uint32_t gid, uint32_t umask, struct ns_attr *ret);
int ns_symlink(struct ns *ns, uint64_t parent, const char *name, const char *target,
	       uint32_t uid, uint32_t gid, struct ns_attr *ret);
/* *ret malloc'ed, NUL-terminated; caller frees. */
int ns_readlink(struct ns *ns, uint64_t ino, char **ret);
int ns_link(struct ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
	    struct ns_attr *ret);
int ns_unlink(struct ns *ns, uint64_t parent, const char *name);
int ns_rmdir(struct ns *ns, uint64_t parent, const char *name);

#define NS_RENAME_NOREPLACE 1
#define NS_RENAME_EXCHANGE 2
int ns_rename(struct ns *ns, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, uint32_t flags);
/* The same, telling which inodes it changed: *ret_ino the one renamed
 * (its ctime; a folder's ".."), *ret_replaced the one it replaced or
 * exchanged with (0: none). Both 0 when it changed nothing (same file). */
int ns_rename_inos(struct ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, uint32_t flags, uint64_t *ret_ino, uint64_t *ret_replaced);

/* Entries after cookie, at most limit (1..NS_READDIR_MAX); *ret
 * malloc'ed (caller frees, may be NULL when *ret_n == 0). ret_dir (may
 * be NULL): the folder's own attributes, as of the same read. */
int ns_readdir(struct ns *ns, uint64_t ino, uint64_t cookie, uint32_t limit,
	       struct ns_dirent **ret, size_t *ret_n, bool *ret_eof, struct ns_attr *ret_dir);

/* /v1/commit: grow size to at least size, mtime = ctime = now, release
 * the session's leases on indexes. */
int ns_commit(struct ns *ns, uint64_t ino, uint64_t size, const char *session,
	      const uint64_t *release, size_t nrelease, struct ns_attr *ret);
/* The same with mtime = ctime = *when when data landed (a mount that
 * answered the close before its commit came told its kernel that time:
 * fuse/file_handle.h, commit behind); when NULL: now. */
struct timespec;
int ns_commit_at(struct ns *ns, uint64_t ino, uint64_t size, const char *session,
		 const uint64_t *release, size_t nrelease, const struct timespec *when,
		 struct ns_attr *ret);

/* Open files (session.c). The hooks are called inside namespace
 * transactions, i.e. with meta_store's lock held: they must not call the
 * namespace or the store. register_open records that session has ino
 * open (0, or -ESTALE for an unknown or dead session); is_open tells
 * whether any live session has ino open; orphaned is told that ino was
 * kept with nlink 0 (an orphan). keep_unlinked: keep a non-directory
 * whose last name a rename replaced as an orphan, open or not (session.c
 * deletes one nobody opens after a grace period), so that an inode the
 * kernel has just looked up under that name stays openable. Otherwise
 * (plain unlink, or keep_unlinked false) only open ones are kept, the
 * rest goes at once. */
struct ns_open_hooks {
	void *arg;
	int (*register_open)(void *arg, const char *session, uint64_t ino);
	bool (*is_open)(void *arg, uint64_t ino);
	void (*orphaned)(void *arg, uint64_t ino);
	bool keep_unlinked;
};
/* Install the hooks (copied); before any other thread uses ns. Without
 * them nothing counts as open and unlinked inodes go at once. */
void ns_set_open_hooks(struct ns *ns, const struct ns_open_hooks *h);
/* Committed changes, for mounts that cache names and attributes
 * (inval_log.h): after each transaction that removed or replaced an entry
 * or wrote an inode's attributes, fn(arg, notes, n) by the thread that
 * ran it, with meta_store's lock held (so in commit order; fn must not
 * call the namespace or the store). New entries are not named: a mount
 * never keeps a name's absence. More changes than NS_NOTES_MAX in one
 * transaction come as one note of inode 0: forget everything. Set before
 * other threads use ns. */
#define NS_NOTES_MAX 4096
void ns_set_change_hook(struct ns *ns,
			void (*fn)(void *arg, const struct inval_note *notes, size_t n), void *arg);

/* /v1/open: check ino exists (and is no directory: -EISDIR) and register
 * it open by session, in one transaction. -ENOTSUP without hooks. */
int ns_open(struct ns *ns, uint64_t ino, const char *session);
/* Delete ino if it is an orphan (nlink 0) nobody has open: 0 when it is
 * deleted, was already gone or is no orphan; -EBUSY while it is open. */
int ns_orphan_drop(struct ns *ns, uint64_t ino);
/* The same for n inodes in one transaction (n <= NS_ORPHAN_DROP_MAX):
 * ret[i] is what ns_orphan_drop would return for inos[i]. Returns 0, or
 * -errno when the transaction failed (nothing deleted, ret untouched). */
#define NS_ORPHAN_DROP_MAX 256
int ns_orphans_drop(struct ns *ns, const uint64_t *inos, size_t n, int *ret);
/* Inodes in use for statfs: every inode but the orphans (unlinked ones,
 * kept while open or for the grace period). */
int ns_inodes_in_use(struct ns *ns, uint64_t *ret);
/* The orphans recorded in the database (*ret malloc'ed, caller frees). */
int ns_orphans_list(struct ns *ns, uint64_t **ret, size_t *ret_n);

/* /v1/punch: drop the chunks with index in [index, index + count) (they
 * become holes); mtime = ctime = now. Size unchanged. */
int ns_punch(struct ns *ns, uint64_t ino, uint64_t index, uint64_t count,
	     struct ns_attr *ret);

/* Extended attributes; "bigfs.goal" and "bigfs.locations" are virtual.
 * Values are malloc'ed (caller frees). */
int ns_getxattr(struct ns *ns, uint64_t ino, const char *name, void **ret,
		size_t *ret_len);
#define NS_XATTR_CREATE 1
#define NS_XATTR_REPLACE 2
int ns_setxattr(struct ns *ns, uint64_t ino, const char *name, const void *value,
		size_t len, uint32_t flags);
/* Names as a malloc'ed array of malloc'ed strings. */
int ns_listxattr(struct ns *ns, uint64_t ino, char ***ret, size_t *ret_n);
void ns_free_names(char **names, size_t n);
int ns_removexattr(struct ns *ns, uint64_t ino, const char *name);

/* Exported subtrees (docs/exports.md). ns_resolve: the directory at an
 * absolute, normalised path ("/" is the root): its inode in *ret, or
 * -ENOENT / -ENOTDIR. ns_within: 1 if ino is root or lies below it
 * through any of its names (a hard-linked file is inside when one of its
 * names is), or has no name at all but is still open (an unlinked open
 * file: it cannot be reached by name from anywhere) or does not exist
 * (the call then fails as it would anyway); 0 if it lies outside;
 * -errno on a database error. */
int ns_resolve(struct ns *ns, const char *path, uint64_t *ret);

/* Permission checks for a squashed caller (an export's maproot or mapall:
 * the master acts for it, the client's kernel let it through as root or
 * as someone else). ns_may: may uid (with gid as its one group) do want
 * (4 read, 2 write, 1 search/execute) on ino, by the mode bits or the
 * access ACL? uid 0 (a rule mapping to root) may do all but execute a
 * file without any x bit. 0, -EACCES, -ENOENT. *ret_attr (may be NULL)
 * gets the inode's attributes. ns_may_remove: may it remove or rename
 * away `name` in parent: search and write on parent, and in a sticky
 * folder own the folder or the entry (else -EPERM). An absent entry is
 * no refusal (the call answers ENOENT itself). */
#define NS_MAY_READ 4u
#define NS_MAY_WRITE 2u
#define NS_MAY_EXEC 1u
int ns_may(struct ns *ns, uint64_t ino, uint32_t uid, uint32_t gid, uint32_t want,
	   struct ns_attr *ret_attr);
int ns_may_remove(struct ns *ns, uint64_t parent, const char *name, uint32_t uid, uint32_t gid);
int ns_within(struct ns *ns, uint64_t ino, uint64_t root);
/* The entry naming folder dir (a folder has one): its parent, and its
 * readdir cookie there (a listing of the parent from that cookie on goes
 * on after it). -ENOENT for the root or no such folder. */
int ns_dir_entry(struct ns *ns, uint64_t dir, uint64_t *ret_parent, uint64_t *ret_cookie);

/* ---- operations (ns_ops.c; docs/api.md "Operations") ---------------- */

/* "/a/b" of ino (malloc'ed). -ENOENT if it has no name. */
int ns_path(struct ns *ns, uint64_t ino, char **ret);
/* The inode at a path from the root ("/a/b", no "." or ".." parts). */
int ns_lookup_path(struct ns *ns, const char *path, uint64_t *ret);
/* The existing folder and the last name of path (which need not exist). */
int ns_lookup_parent(struct ns *ns, const char *path, uint64_t *ret_parent, char *ret_name);

/* Trash (bigfs.trashtime: seconds a removed file is kept, 0 = none). */
int ns_trashtime_get(struct ns *ns, uint64_t ino, uint32_t *ret);
/* {"files", "bytes", "entries": [...]} of entries whose original path is
 * prefix or below it (NULL or "/": all), newest first, at most limit. */
int ns_trash_list(struct ns *ns, const char *prefix, uint32_t limit, json_t **ret);
int ns_trash_totals(struct ns *ns, uint64_t *ret_files, uint64_t *ret_bytes);
/* Give trash entry ino its name back, or the path `to` (NULL: the
 * original). -ENOENT no such entry or its folder is gone, -EEXIST the
 * name is taken, -EDQUOT. *ret_path malloc'ed. */
int ns_trash_restore(struct ns *ns, uint64_t ino, const char *to, uint64_t *ret_ino,
		     char **ret_path);
/* Delete entry ino now (0: the whole trash). -ENOENT no such entry. */
int ns_trash_purge(struct ns *ns, uint64_t ino, uint64_t *ret_files, uint64_t *ret_bytes);
/* Delete up to NS_TRASH_BATCH expired entries (one transaction); *ret_n
 * of them. */
#define NS_TRASH_BATCH 256
int ns_trash_expire(struct ns *ns, uint64_t *ret_n);

/* Quotas on folders: 0 = no limit; grace_s 0 = the default (7 days). */
struct ns_quota_limits {
	uint64_t bytes_soft, bytes_hard, inodes_soft, inodes_hard, grace_s;
};
/* Each replies the quota object of docs/api.md. -ENOTDIR, -ENOENT. */
int ns_quota_set(struct ns *ns, uint64_t ino, const struct ns_quota_limits *l, json_t **ret);
int ns_quota_get(struct ns *ns, uint64_t ino, json_t **ret);
int ns_quota_remove(struct ns *ns, uint64_t ino);
int ns_quota_list(struct ns *ns, json_t **ret);
/* 1 if any folder has a quota, 0 if none, or -errno. */
int ns_quotas_exist(struct ns *ns);
/* How many more bytes file ino may grow by (*ret_room, -1: no limit) and
 * its size now: the least room of the quotas above it (a soft limit
 * whose grace is over counts as hard). */
int ns_quota_room(struct ns *ns, uint64_t ino, int64_t *ret_room, uint64_t *ret_size);

/* Snapshot: a copy of src (a file or a whole tree) as dst_name in
 * dst_parent whose files share src's chunks. -EEXIST, -ENOENT, -EINVAL
 * (into itself), -EBUSY (a file in it is being written), -EDQUOT. */
struct ns_snapshot_result {
	uint64_t ino, inodes, chunks;
};
int ns_snapshot(struct ns *ns, uint64_t src, uint64_t dst_parent, const char *dst_name,
		struct ns_snapshot_result *ret);
/* copy_file_range of whole chunks: dst's chunks [dst_idx, dst_idx +
 * count) become src's from src_idx, shared; dst grows to at least end.
 * -EBUSY while either range is being written (a lease held). */
int ns_share_range(struct ns *ns, uint64_t src, uint64_t src_idx, uint64_t dst, uint64_t dst_idx,
		   uint64_t count, uint64_t end, struct ns_attr *ret);

#endif
