/* api_util — what the master's route handlers outside http_api.c share
 * with it: body limits, who may call a route, and the error replies.
 *
 * Route tables: http_api.c serves API_ROUTES followed by the tables of
 * the operation modules (OPS_ROUTES in ops_api.h, DRAIN_ROUTES in
 * drain.h), each X(id, method, path, max_body, auth, handler) with
 * handler `void h(struct master *m, struct http_request *r)`. Every
 * route goes through the same gate: standby answer, authentication,
 * root squash, counters. */
#ifndef BIGFS_MASTER_API_UTIL_H
#define BIGFS_MASTER_API_UTIL_H

#include <jansson.h>

#include "http_server.h"

struct master;

#define BODY_SMALL (256 * 1024)
#define BODY_REGISTER (64 * 1024 * 1024)

/* Who may call a route (docs/api.md "Authentication"):
 * A_PUBLIC   anyone (health, metrics, status, the login itself)
 * A_CLIENT   a mount's session, signed; inodes checked against its subtree
 * A_WRITE    the same, and refused (EROFS) to a read-only export
 * A_CLUSTER  a worker or the operator's `bigfs`, signed with the cluster secret
 * A_ANY      a mount's session or a worker */
enum route_auth { A_PUBLIC, A_CLIENT, A_WRITE, A_CLUSTER, A_ANY };

struct ns_attr;
/* The attribute object of docs/api.md. */
json_t *api_attr_json(const struct ns_attr *a);

/* An errno reply "what: strerror" (rc negative or positive); a standby
 * answers 503 with where the active master is instead. */
void api_reply_err(struct http_request *r, int rc, const char *what);
/* 400 EINVAL naming a missing or malformed member. */
void api_bad_member(struct http_request *r, const char *key);

#endif
