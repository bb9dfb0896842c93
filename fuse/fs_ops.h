/* fs_ops — the FUSE low-level operations of mount.bigfs.
 *
 * Maps each kernel request onto the master's API (namespace, attributes,
 * xattrs) or onto a file handle (data). Every handler ends in exactly one
 * fuse_reply_*. The context built here is the session's userdata. */
#ifndef BIGFS_FUSE_FS_OPS_H
#define BIGFS_FUSE_FS_OPS_H

#include <stdbool.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

struct master_client;
struct worker_io;
struct fh_table;
struct fs_ctx;

/* The operations table, with designated initialisers. */
extern const struct fuse_lowlevel_ops fs_ops;

/* Borrowed pointers must outlive the context. 0 or -ENOMEM. */
int fs_ctx_new(struct master_client *mc, struct worker_io *wio, struct fh_table *fht,
	       struct fs_ctx **ret);
/* Log the operation counters and free. */
void fs_ctx_free(struct fs_ctx *ctx);
/* noatime: reads do not update atime (noatime and ro mounts). Call
 * before mounting. */
void fs_ctx_set_noatime(struct fs_ctx *ctx, bool noatime);
/* The export maps root or every caller (maproot=, mapall=): the master
 * then checks permissions for the mapped caller, so namespace calls say
 * who asks ("caller") and every open is checked (/v1/access). */
void fs_ctx_set_send_caller(struct fs_ctx *ctx, bool on);
/* The master's change feed (inval_watch.h) for session se, which the
 * kernel then caches ttl_s seconds (1: no feed). Call before the session
 * runs. 0 or -ENOMEM. */
struct fuse_session;
int fs_ctx_set_feed(struct fs_ctx *ctx, struct fuse_session *se, int ttl_s);

/* Whether creates may be answered by the mount (fs_ops.c
 * fs_create_local; -o local_creates=0 turns them off). Default on. */
void fs_ctx_set_local_creates(struct fs_ctx *ctx, bool on);

#endif
