/* ops_api — the operator's routes: trash, snapshots, quotas, file info
 * and the cluster summary (docs/api.md "Operations"). */
#ifndef BIGFS_MASTER_OPS_API_H
#define BIGFS_MASTER_OPS_API_H

#include "api_util.h"

#define OPS_ROUTES(X)                                                      \
	X(TRASH_LIST, "POST", "/v1/trash/list", BODY_SMALL, A_CLUSTER, ops_h_trash_list)      \
	X(TRASH_RESTORE, "POST", "/v1/trash/restore", BODY_SMALL, A_CLUSTER, ops_h_trash_restore) \
	X(TRASH_PURGE, "POST", "/v1/trash/purge", BODY_SMALL, A_CLUSTER, ops_h_trash_purge)   \
	X(SNAPSHOT, "POST", "/v1/snapshot", BODY_SMALL, A_CLUSTER, ops_h_snapshot)           \
	X(QUOTA_SET, "POST", "/v1/quota/set", BODY_SMALL, A_CLUSTER, ops_h_quota_set)        \
	X(QUOTA_GET, "POST", "/v1/quota/get", BODY_SMALL, A_CLUSTER, ops_h_quota_get)        \
	X(QUOTA_REMOVE, "POST", "/v1/quota/remove", BODY_SMALL, A_CLUSTER, ops_h_quota_remove) \
	X(QUOTA_LIST, "GET", "/v1/quota/list", 0, A_CLUSTER, ops_h_quota_list)               \
	X(FILEINFO, "POST", "/v1/fileinfo", BODY_SMALL, A_CLUSTER, ops_h_fileinfo)          \
	X(QUOTA_ROOM, "POST", "/v1/quota/room", BODY_SMALL, A_CLIENT, ops_h_quota_room)      \
	X(SUMMARY, "GET", "/v1/cluster/summary", 0, A_PUBLIC, ops_h_summary)                 \
	X(SHARE, "POST", "/v1/share", BODY_SMALL, A_WRITE, ops_h_share)

struct http_request;
void ops_h_trash_list(struct master *m, struct http_request *r);
void ops_h_trash_restore(struct master *m, struct http_request *r);
void ops_h_trash_purge(struct master *m, struct http_request *r);
void ops_h_snapshot(struct master *m, struct http_request *r);
void ops_h_quota_set(struct master *m, struct http_request *r);
void ops_h_quota_get(struct master *m, struct http_request *r);
void ops_h_quota_remove(struct master *m, struct http_request *r);
void ops_h_quota_list(struct master *m, struct http_request *r);
void ops_h_fileinfo(struct master *m, struct http_request *r);
void ops_h_quota_room(struct master *m, struct http_request *r);
void ops_h_summary(struct master *m, struct http_request *r);
void ops_h_share(struct master *m, struct http_request *r);

#endif
