/* http_api — routes of the master API to module calls.
 *
 * Owns: the http_server and the per-route request counters (atomics, no
 * lock). Each handler: parse and check the JSON body through json_util
 * (bad or missing members are 400 EINVAL naming the member), call one
 * module function, turn the result into JSON or an errno reply. Handlers
 * run concurrently on libmicrohttpd's threads; all state they touch is
 * locked by its module. Deliberately no policy here. */
#include "http_api.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api_util.h"
#include "auth.h"
#include "dir_lease.h"
#include "inval_log.h"
#include "drain.h"
#include "auth_sessions.h"
#include "chunk_map.h"
#include "exports.h"
#include "http_server.h"
#include "json_util.h"
#include "kafka_status.h"
#include "log.h"
#include "meta_store.h"
#include "master.h"
#include "namespace.h"
#include "ops_api.h"
#include "repair.h"
#include "session.h"
#include "status_page.h"
#include "metalog.h"
#include "worker_registry.h"

#define NAME_IN_MAX 4096          /* longer than any valid name: 255 → ENAMETOOLONG */
#define TARGET_IN_MAX 65536
#define RELEASE_MAX 65536
#define BATCH_MAX 1024            /* ops in one /v1/batch */
#define COMMIT_TOLD_MAX 16        /* other mounts a commit waits for (commit_told) */
#define COMMIT_TOLD_MS 200        /* at most this long */
/* A writer's mount sends what it queued for a file once told, after the
 * close's data behind reached the workers (fuse/file_handle.h): that may
 * meet a stalled replica, cut off after the mounts' write grace (2 s). */
#define WRITERS_TOLD_MS 2500
/* A call of another client waits this long at most for a mount's sole
 * use to end (inval_log.h): past the grant's own time, which bounds it. */
#define SOLE_END_MS (INVAL_SOLE_TTL_MS + 500)
/* A folder's lease holder may still be sending creates it answered up
 * to this long after its lease ran out (writers_told). */
#define CREATES_TOLD_GRACE_MS 10000
#define BATCH_GROUP 32            /* of them in one transaction (the mutex
				     is held throughout: about a ms) */
#define CHUNKS_COUNT_MAX (1u << 20)
#define OPEN_CHUNKS_MAX 64
#define GROUPS_MAX 256
/* Inodes are rows: no fixed table. statfs says 2^40 more can be made;
 * "files" (the total) is that plus those in use. */
#define STATFS_FFREE (1ULL << 40)

/* X(id, method, path, max_body, auth, handler) */
#define API_ROUTES(X)                                                      \
	X(AUTH_CHALLENGE, "POST", "/v1/auth/challenge", BODY_SMALL, A_PUBLIC, h_auth_challenge) \
	X(AUTH_LOGIN, "POST", "/v1/auth/login", BODY_SMALL, A_PUBLIC, h_auth_login) \
	X(LOOKUP, "POST", "/v1/lookup", BODY_SMALL, A_CLIENT, h_lookup)              \
	X(GETATTR, "POST", "/v1/getattr", BODY_SMALL, A_CLIENT, h_getattr)           \
	X(SETATTR, "POST", "/v1/setattr", BODY_SMALL, A_WRITE, h_setattr)           \
	X(ATIME, "POST", "/v1/atime", BODY_SMALL, A_WRITE, h_atime)                 \
	X(MKDIR, "POST", "/v1/mkdir", BODY_SMALL, A_WRITE, h_mkdir)                 \
	X(CREATE, "POST", "/v1/create", BODY_SMALL, A_WRITE, h_create)              \
	X(MKNOD, "POST", "/v1/mknod", BODY_SMALL, A_WRITE, h_mknod)                 \
	X(SYMLINK, "POST", "/v1/symlink", BODY_SMALL, A_WRITE, h_symlink)           \
	X(READLINK, "POST", "/v1/readlink", BODY_SMALL, A_CLIENT, h_readlink)        \
	X(LINK, "POST", "/v1/link", BODY_SMALL, A_WRITE, h_link)                    \
	X(UNLINK, "POST", "/v1/unlink", BODY_SMALL, A_WRITE, h_unlink)              \
	X(RMDIR, "POST", "/v1/rmdir", BODY_SMALL, A_WRITE, h_rmdir)                 \
	X(RENAME, "POST", "/v1/rename", BODY_SMALL, A_WRITE, h_rename)              \
	X(BATCH, "POST", "/v1/batch", BODY_SMALL, A_WRITE, h_batch)                 \
	X(INOS, "POST", "/v1/inos", BODY_SMALL, A_WRITE, h_inos)                    \
	X(EVENTS, "POST", "/v1/events", BODY_SMALL, A_CLIENT, h_events)              \
	X(READDIR, "POST", "/v1/readdir", BODY_SMALL, A_CLIENT, h_readdir)           \
	X(STATFS, "POST", "/v1/statfs", BODY_SMALL, A_CLIENT, h_statfs)              \
	X(GETXATTR, "POST", "/v1/getxattr", BODY_SMALL, A_CLIENT, h_getxattr)        \
	X(SETXATTR, "POST", "/v1/setxattr", BODY_SMALL, A_WRITE, h_setxattr)        \
	X(LISTXATTR, "POST", "/v1/listxattr", BODY_SMALL, A_CLIENT, h_listxattr)     \
	X(REMOVEXATTR, "POST", "/v1/removexattr", BODY_SMALL, A_WRITE, h_removexattr) \
	X(CHUNKS, "POST", "/v1/chunks", BODY_SMALL, A_CLIENT, h_chunks)              \
	X(WRITE, "POST", "/v1/write", BODY_SMALL, A_WRITE, h_write)                 \
	X(COMMIT, "POST", "/v1/commit", BODY_REGISTER, A_WRITE, h_commit)           \
	X(SYNC, "POST", "/v1/sync", BODY_SMALL, A_CLIENT, h_sync)                    \
	X(ACCESS, "POST", "/v1/access", BODY_SMALL, A_CLIENT, h_access)              \
	X(REPLICA_FAILED, "POST", "/v1/replica_failed", BODY_SMALL, A_ANY, h_replica_failed) \
	X(PUNCH, "POST", "/v1/punch", BODY_SMALL, A_WRITE, h_punch)                 \
	X(OPEN, "POST", "/v1/open", BODY_SMALL, A_CLIENT, h_open)                    \
	X(LOCK, "POST", "/v1/lock", BODY_SMALL, A_CLIENT, h_lock)                    \
	X(LOCK_TEST, "POST", "/v1/lock/test", BODY_SMALL, A_CLIENT, h_lock_test)     \
	X(SESSION_OPEN, "POST", "/v1/session/open", BODY_REGISTER, A_CLIENT, h_session_open) \
	X(SESSION_HEARTBEAT, "POST", "/v1/session/heartbeat", BODY_REGISTER, A_CLIENT, h_session_heartbeat) \
	X(SESSION_CLOSE, "POST", "/v1/session/close", BODY_SMALL, A_CLIENT, h_session_close) \
	X(CLUSTER_INFO, "GET", "/v1/cluster/info", 0, A_ANY, h_cluster_info)      \
	X(REGISTER, "POST", "/v1/cluster/register", BODY_REGISTER, A_CLUSTER, h_register) \
	X(WORKERS, "GET", "/v1/cluster/workers", 0, A_PUBLIC, h_workers)             \
	X(HEALTH, "GET", "/v1/health", 0, A_PUBLIC, h_health)                        \
	X(META_DUMP, "GET", "/v1/metadata/dump", 0, A_CLUSTER, h_meta_dump)          \
	X(META_CKPT, "POST", "/v1/metadata/checkpoint", BODY_SMALL, A_CLUSTER, h_meta_ckpt) \
	X(METRICS, "GET", "/metrics", 0, A_PUBLIC, h_metrics)                        \
	X(STATUS, "GET", "/", 0, A_PUBLIC, h_status)                          \
	OPS_ROUTES(X)                                                      \
	DRAIN_ROUTES(X)

enum route_id {
#define X(id, meth, path, body, auth, fn) R_##id,
	API_ROUTES(X)
#undef X
	R_COUNT
};

static const char *const route_names[R_COUNT] = {
#define X(id, meth, path, body, auth, fn) path,
	API_ROUTES(X)
#undef X
};

struct http_api {
	struct http_server *srv;
	atomic_ullong counts[R_COUNT];
	atomic_ullong batch_counts[R_COUNT];   /* ops of /v1/batch, by their route */
};

/* ---- reply helpers ---------------------------------------------------- */

/* "xa": whether any xattr is stored (a mount answers ENODATA itself for
 * a while after 0); "dver": a directory's change count (ns_touch). */
static json_t *attr_json(const struct ns_attr *a)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			      " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
			      "ino", (json_int_t)a->ino, "mode", (json_int_t)a->mode,
			      "nlink", (json_int_t)a->nlink, "uid", (json_int_t)a->uid,
			      "gid", (json_int_t)a->gid, "size", (json_int_t)a->size,
			      "rdev", (json_int_t)a->rdev, "goal", (json_int_t)a->goal,
			      "blocks", (json_int_t)a->blocks,
			      "atime_s", (json_int_t)a->atime_s, "atime_ns", (json_int_t)a->atime_ns,
			      "mtime_s", (json_int_t)a->mtime_s, "mtime_ns", (json_int_t)a->mtime_ns,
			      "ctime_s", (json_int_t)a->ctime_s, "ctime_ns", (json_int_t)a->ctime_ns,
			      "xa", a->has_xattrs ? 1 : 0);
	if (o && S_ISDIR(a->mode))
		json_object_set_new(o, "dver", json_integer((json_int_t)a->dver));
	return o;
}

static void reply_attr(struct http_request *r, const struct ns_attr *a)
{
	http_reply_json(r, 200, json_pack("{s:o}", "attr", attr_json(a)));
}

/* The calling mount's session ("session" in the body; for one op of a
 * batch without one, the batch's), or NULL. */
static const char *req_session(struct http_request *r)
{
	const char *s = json_string_value(json_object_get(http_req_json_peek(r), "session"));
	struct http_request *p = http_req_parent(r);
	if (!s && p)
		s = json_string_value(json_object_get(http_req_json_peek(p), "session"));
	return s && sess_id_valid(s) ? s : NULL;
}

static uint64_t call_origin(const struct http_request *r);

/* Whether this thread's call changed names in a folder since its last
 * wait_leases (which then waits for the other mounts' listings). */
static __thread bool names_changed;

/* The folders the call changed (ns_touch_get), each as {"prev", "attr",
 * "lease"?}: "lease" when the calling mount holds that folder's lease
 * (renewed now, dir_lease.h). Any other holder's lease is revoked and
 * *wait_until (if later) becomes when it runs out. The notes are used up. */
static json_t *touched_json(struct master *m, struct http_request *r, int64_t *wait_until)
{
	const struct ns_touch *t;
	size_t n = ns_touch_get(&t);
	json_t *dirs = json_array();
	if (n == 0)
		return dirs;
	const char *session = req_session(r);

	names_changed = true;
	for (size_t i = 0; i < n; i++) {
		int64_t until;
		bool held = dlease_changed(m->dl, t[i].attr.ino, session, &until);
		if (until > *wait_until)
			*wait_until = until;
		json_t *d = json_pack("{s:I, s:o}", "prev", (json_int_t)t[i].prev, "attr",
				      attr_json(&t[i].attr));
		if (d && held)
			json_object_set_new(d, "lease", json_true());
		if (dirs && d)
			json_array_append_new(dirs, d);
		else
			json_decref(d);
	}
	ns_touch_reset();
	return dirs;
}

/* While a batch runs its ops (inside a transaction group), their lease
 * waits are gathered here and waited for once the group has committed. */
static __thread int64_t *batch_until;

/* Hold a reply until until (monotonic ms): another mount's folder lease
 * this change revoked has run out (dir_lease.h). And when the call
 * changed names, until the other mounts that may answer from a folder
 * listing read before (fuse/dir_cache.h) have had the change from their
 * feeds (inval_log_wait_listers, at most COMMIT_TOLD_MS): whoever learns
 * of a new name from its maker finds it on every mount. */
static void wait_leases(struct master *m, struct http_request *r, int64_t until)
{
	if (batch_until) {
		if (until > *batch_until)
			*batch_until = until;
		return;
	}
	int64_t now = dlease_now_ms();
	if (until > now) {
		struct timespec ts = { (until - now) / 1000, ((until - now) % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (!names_changed)
		return;
	names_changed = false;
	if (!inval_log_wait_listers(m->il, call_origin(r), inval_log_last(m->il), COMMIT_TOLD_MS))
		log_debug("other mounts' listings: change feeds not caught up after %d ms",
			  COMMIT_TOLD_MS);
}

/* The reply o to a call that changed entries, with "dirs": every
 * directory the call changed, its dver before and its attributes after
 * (ns_touch_get), so the mount keeps them without asking again. */
static void reply_changed(struct master *m, struct http_request *r, json_t *o)
{
	int64_t until = 0;
	json_t *dirs = touched_json(m, r, &until);

	if (o && dirs)
		json_object_set_new(o, "dirs", dirs);
	else
		json_decref(dirs);
	wait_leases(m, r, until);
	http_reply_json(r, 200, o);
}

static void reply_attr_changed(struct master *m, struct http_request *r,
			       const struct ns_attr *a)
{
	reply_changed(m, r, json_pack("{s:o}", "attr", attr_json(a)));
}

static void reply_empty(struct http_request *r)
{
	http_reply_json(r, 200, json_object());
}

/* The process's master, for the standby answer (one per process). */
static struct master *the_master;

/* 503 with where the active master is (docs/api.md "Several masters"). */
static void reply_standby(struct master *m, struct http_request *r)
{
	char url[ML_URL_MAX + 1] = "";
	const char *role = "starting";
	if (m->ml) {
		metalog_leader_url(m->ml, url, sizeof(url));
		role = metalog_role(m->ml);
		if (strcmp(role, "active") == 0)
			role = "standby";  /* leading but not (yet, or any more) serving */
	}
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s*}", "errno", EAGAIN, "error", "EAGAIN",
			      "message", "this master does not lead the cluster now; ask the active one",
			      "role", role, "active", *url ? url : NULL);
	http_reply_json(r, 503, o);
}

/* Does a master that cannot serve answer this call? */
static bool not_serving(struct master *m)
{
	return m && (!atomic_load(&m->ready) || (m->ml && !metalog_serving(m->ml)));
}

static void reply_err(struct http_request *r, int rc, const char *what)
{
	if ((rc == -EAGAIN || rc == EAGAIN) && not_serving(the_master)) {
		reply_standby(the_master, r);
		return;
	}
	http_reply_error(r, rc, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
}

static void bad_member(struct http_request *r, const char *key)
{
	http_reply_error(r, EINVAL, "member '%s' is missing or has the wrong type or range", key);
}

json_t *api_attr_json(const struct ns_attr *a)
{
	return attr_json(a);
}

void api_reply_err(struct http_request *r, int rc, const char *what)
{
	reply_err(r, rc, what);
}

void api_bad_member(struct http_request *r, const char *key)
{
	bad_member(r, key);
}

/* Shorthands: on failure reply 400 naming the member and leave. */
#define GET_U64(o, key, var)                         \
	do {                                         \
		if (ju_u64(o, key, &(var)) < 0) {    \
			bad_member(r, key);          \
			goto out_put;                \
		}                                    \
	} while (0)
#define GET_U32(o, key, var)                         \
	do {                                         \
		if (ju_u32(o, key, &(var)) < 0) {    \
			bad_member(r, key);          \
			goto out_put;                \
		}                                    \
	} while (0)
#define GET_STR(o, key, max, var)                         \
	do {                                              \
		if (ju_str(o, key, max, &(var)) < 0) {    \
			bad_member(r, key);               \
			goto out_put;                     \
		}                                         \
	} while (0)
#define GET_BOOL(o, key, var)                        \
	do {                                         \
		if (ju_bool(o, key, &(var)) < 0) {   \
			bad_member(r, key);          \
			goto out_put;                \
		}                                    \
	} while (0)

/* A name member (file name, newname, symlink target) in either of its
 * forms, UTF-8 string or "<key>_b64" (json_util.h): var is malloc'ed and
 * must be freed at out_put (initialise it to NULL). */
#define GET_NAME(o, key, max, var)                                               \
	do {                                                                     \
		size_t len_;                                                     \
		if (ju_name_get(o, key, max, &(var), &len_) < 0) {               \
			http_reply_error(r, EINVAL, "member '%s' (or '%s_b64') is " \
					 "missing, given twice or malformed", key, key); \
			goto out_put;                                            \
		}                                                                \
	} while (0)

/* Optional "umask" member (0..0777, default 0) of mkdir, create, mknod. */
#define GET_UMASK(o, var)                                                    \
	do {                                                                 \
		if (ju_u32_opt(o, "umask", 0, &(var)) < 0 || (var) > 0777) { \
			bad_member(r, "umask");                              \
			goto out_put;                                        \
		}                                                            \
	} while (0)

/* A name for an error message: at most ~64 bytes, cut on a UTF-8
 * character boundary (a cut inside a character would make the JSON
 * reply invalid). Writes into buf (80 bytes) and returns it. */
static const char *short_name(const char *name, char *buf)
{
	size_t len = strlen(name);

	if (len <= 64)
		return memcpy(buf, name, len + 1);
	len = 64;
	while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
		len--;
	memcpy(buf, name, len);
	memcpy(buf + len, "...", 4);
	return buf;
}
#define SHORT(name) short_name(name, (char[80]){ 0 })

/* ---- authentication (docs/api.md "Authentication") --------------------- */

/* The export of the session that signed this call; NULL for a worker's
 * call or a public route. */
static const struct asess_export *req_export(const struct http_request *r)
{
	return http_req_user(r);
}

/* maproot / mapall: the owner a new file gets. */
static void map_owner(const struct http_request *r, uint32_t *uid, uint32_t *gid)
{
	const struct asess_export *e = req_export(r);
	if (e && (e->mapall || (e->maproot && *uid == 0))) {
		*uid = e->map_uid;
		*gid = e->map_gid;
	}
}

/* A goal set through bigfs.goal must lie in the export's range. 0, or
 * -EPERM after replying. Other names and unparsable values pass (the
 * namespace judges them). */
static int goal_allowed(struct http_request *r, const char *name, const unsigned char *val,
			size_t len)
{
	const struct asess_export *e = req_export(r);
	char buf[16];
	if (!e || strcmp(name, "bigfs.goal") != 0 || len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, val, len);
	buf[len] = '\0';
	char *end;
	unsigned long g = strtoul(buf, &end, 10);
	if (end == buf || (*end && strcmp(end, "\n") != 0) || g < 1 || g > NS_GOAL_MAX)
		return 0;    /* not a goal at all: the namespace says EINVAL */
	if (g >= e->mingoal && g <= e->maxgoal)
		return 0;
	http_reply_error(r, EPERM, "goal %lu is outside this export's range %u..%u", g,
			 e->mingoal, e->maxgoal);
	return -EPERM;
}

/* Members of a request that name inodes: plain numbers, arrays of them,
 * and lock objects (arrays of objects with "ino"). */
static const char *const INO_KEYS[] = { "ino", "parent", "newparent", "src_ino", NULL };
static const char *const INO_ARRAY_KEYS[] = { "inos", "atime", "opens", "close", NULL };

/* 1 if every inode the request names lies in the session's subtree; 0
 * after replying EACCES. (The body's parse is shared with the handler.) */
static int inos_within(struct master *m, struct http_request *r, const struct asess_export *e)
{
	uint64_t inos[64 + 1];
	size_t n = 0;
	const json_t *b = http_req_json_peek(r);

	if (!json_is_object(b))
		return 1;    /* no inode named: the handler answers */
	for (int i = 0; INO_KEYS[i]; i++) {
		json_t *v = json_object_get(b, INO_KEYS[i]);
		if (json_is_integer(v) && n < 64)
			inos[n++] = (uint64_t)json_integer_value(v);
	}
	int ok = 1;
	for (int i = 0; ok && INO_ARRAY_KEYS[i]; i++) {
		json_t *a = json_object_get(b, INO_ARRAY_KEYS[i]);
		size_t k;
		json_t *v;
		json_array_foreach(a, k, v) {
			if (!json_is_integer(v))
				continue;
			int w = ns_within(m->ns, (uint64_t)json_integer_value(v), e->root);
			if (w != 1) {
				ok = 0;
				inos[n++] = (uint64_t)json_integer_value(v);
				break;
			}
		}
	}
	json_t *locks = json_object_get(b, "locks");
	size_t k;
	json_t *l;
	json_array_foreach(locks, k, l) {
		json_t *v = json_object_get(l, "ino");
		if (!ok || !json_is_integer(v))
			continue;
		if (ns_within(m->ns, (uint64_t)json_integer_value(v), e->root) != 1) {
			ok = 0;
			inos[n++] = (uint64_t)json_integer_value(v);
		}
	}
	for (size_t i = 0; ok && i < n; i++) {
		int w = ns_within(m->ns, inos[i], e->root);
		if (w < 0) {
			http_reply_error(r, w, "%s: %s", http_req_path(r), strerror(-w));
			return 0;
		}
		if (w == 0) {
			ok = 0;
			inos[n++] = inos[i];
		}
	}
	if (!ok)
		http_reply_error(r, EACCES, "%s: inode %llu is outside the exported folder",
				 http_req_path(r), (unsigned long long)inos[n - 1]);
	return ok;
}

/* Apply the route's rule to this call; false after replying. */
static bool api_auth(struct master *m, struct http_request *r, enum route_auth a,
		     struct asess_export *exp)
{
	const char *hdr, *method = http_req_method(r), *path = http_req_path(r);
	const char *body;
	size_t len;
	int rc;

	http_req_set_user(r, NULL);
	if (a == A_PUBLIC)
		return true;
	hdr = http_req_header(r, "Authorization");
	body = http_req_body(r, &len);
	if (a == A_CLUSTER || (a == A_ANY && hdr && strncmp(hdr, "BigFS-Cluster ", 14) == 0)) {
		rc = asess_cluster_check(m->auth, m->secret.key, m->secret.len, hdr, method, path,
					 body, len);
		if (rc < 0) {
			http_reply_error(r, rc, "%s %s: %s", method, path,
					 rc == -EKEYEXPIRED
						 ? "a cluster call must be signed with the cluster secret"
					 : rc == -EAGAIN ? "too many cluster calls, retry later"
						 : "bad, replayed or outdated cluster signature");
			return false;
		}
		return true;
	}
	rc = asess_check(m->auth, hdr, method, path, body, len, exp);
	if (rc < 0) {
		http_reply_error(r, rc, "%s %s: %s", method, path,
				 rc == -EKEYEXPIRED
					 ? "no session: log in first (/v1/auth/login), or again"
					 : "bad signature or replayed request");
		return false;
	}
	if (a == A_WRITE && exp->ro) {
		http_reply_error(r, EROFS, "%s: the export is read-only", path);
		return false;
	}
	if (!exp->whole && !inos_within(m, r, exp))
		return false;
	http_req_set_user(r, exp);
	return true;
}

static void h_auth_challenge(struct master *m, struct http_request *r)
{
	char nonce[AUTH_NONCE_MAX];
	int rc = asess_challenge(m->auth, nonce);

	if (rc < 0)
		reply_err(r, rc, "challenge");
	else
		http_reply_json(r, 200, json_pack("{s:s}", "nonce", nonce));
}

static bool is_lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void h_auth_login(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *nonce, *cnonce, *path = "/", *proof, *why = "";
	char norm[EXPORTS_PATH_MAX + 1], sp[AUTH_HEX_LEN + 1], who[20];
	unsigned char key[AUTH_KEY_LEN];
	struct asess_export exp;
	uint32_t addr = 0;
	uint64_t root;

	if (!b)
		return;
	GET_STR(b, "nonce", AUTH_NONCE_MAX, nonce);
	GET_STR(b, "cnonce", AUTH_ID_LEN + 1, cnonce);
	GET_STR(b, "proof", AUTH_HEX_LEN + 1, proof);
	if (!is_lower_hex(cnonce, AUTH_ID_LEN)) {
		bad_member(r, "cnonce");
		goto out_put;
	}
	if (!is_lower_hex(proof, AUTH_HEX_LEN)) {
		bad_member(r, "proof");
		goto out_put;
	}
	if (ju_str_opt(b, "path", EXPORTS_PATH_MAX + 1, "/", &path) < 0 ||
	    exports_path_normalize(path, norm, sizeof(norm)) < 0) {
		bad_member(r, "path");
		goto out_put;
	}
	if (http_req_peer_ipv4(r, &addr) < 0) {
		http_reply_error(r, EACCES, "login: not an IPv4 client");
		goto out_put;
	}
	snprintf(who, sizeof(who), "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255,
		 (addr >> 8) & 255, addr & 255);
	int rc = asess_login_check(m->auth, addr, nonce, cnonce, norm, proof, &exp, key, sp, &why);
	if (rc < 0) {
		log_warn("login of %s to %s refused: %s", who, SHORT(norm), why);
		http_reply_error(r, rc, "login to %s from %s refused: %s", SHORT(norm), who, why);
		goto out_put;
	}
	rc = ns_resolve(m->ns, norm, &root);
	if (rc < 0) {
		http_reply_error(r, rc, "login: the exported folder %s: %s", SHORT(norm),
				 strerror(-rc));
		goto out_key;
	}
	exp.root = root;
	exp.whole = root == META_ROOT_INO;
	rc = asess_add(m->auth, &exp, key);
	if (rc < 0) {
		http_reply_error(r, rc, "login: %s", rc == -EKEYEXPIRED ?
				 "the exports were reloaded meanwhile, log in again" : strerror(-rc));
		goto out_key;
	}
	log_info("login of %s to %s: rule at line %d, %s%s", who, SHORT(norm), exp.line,
		 exp.ro ? "read-only" : "read-write",
		 exp.mapall ? ", mapall" : exp.maproot ? ", maproot" : "");
	json_t *reply = json_pack("{s:s, s:I, s:b, s:i, s:i, s:s}", "auth", exp.id,
				  "root", (json_int_t)root, "ro", exp.ro, "mingoal",
				  (int)exp.mingoal, "maxgoal", (int)exp.maxgoal, "server_proof", sp);
	if (reply && (exp.mapall || exp.maproot))
		json_object_set_new(reply, exp.mapall ? "mapall" : "maproot",
				    json_pack("[I, I]", (json_int_t)exp.map_uid,
					      (json_int_t)exp.map_gid));
	http_reply_json(r, 200, reply);
out_key:
	explicit_bzero(key, sizeof(key));
out_put:
	json_decref(b);
}

/* ---- callers an export maps (maproot, mapall) ---------------------------- */

/* Such a caller is not who the client's kernel checked (root passes every
 * check there): the master checks for the mapped one, route by route, as
 * an NFS server does for a squashed root. Others keep the client kernel's
 * verdict. "caller" in the body is the client's uid; without it under
 * maproot the call counts as root's (closed, not open, by default). */
static int squash_route(struct master *m, int route, const json_t *b, uint32_t uid,
			uint32_t gid, const char **what)
{
	uint64_t ino = 0, parent = 0, newparent = 0, v;
	char *name = NULL, *newname = NULL;
	size_t len;
	struct ns_attr a;
	int rc = 0;

	ju_u64(b, "ino", &ino);
	ju_u64(b, "parent", &parent);
	ju_u64(b, "newparent", &newparent);
	ju_name_get(b, "name", NAME_IN_MAX, &name, &len);
	ju_name_get(b, "newname", NAME_IN_MAX, &newname, &len);
	switch (route) {
	case R_LOOKUP:
		*what = "search the folder";
		rc = ns_may(m->ns, parent, uid, gid, NS_MAY_EXEC, NULL);
		break;
	case R_READDIR:
		*what = "list the folder";
		rc = ns_may(m->ns, ino, uid, gid, NS_MAY_READ, NULL);
		break;
	case R_CREATE:
		/* an existing file is opened: writing it is what is asked */
		if (name && ns_lookup(m->ns, parent, name, &a) == 0) {
			*what = "open the file for writing";
			rc = ns_may(m->ns, a.ino, uid, gid, NS_MAY_WRITE, NULL);
			break;
		}
		/* fall through */
	case R_MKDIR:
	case R_MKNOD:
	case R_SYMLINK:
		*what = "create in the folder";
		rc = ns_may(m->ns, parent, uid, gid, NS_MAY_WRITE | NS_MAY_EXEC, NULL);
		break;
	case R_LINK:
		*what = "link into the folder";
		rc = ns_may(m->ns, newparent, uid, gid, NS_MAY_WRITE | NS_MAY_EXEC, NULL);
		break;
	case R_UNLINK:
	case R_RMDIR:
		*what = "remove from the folder";
		rc = name ? ns_may_remove(m->ns, parent, name, uid, gid) : 0;
		break;
	case R_RENAME:
		*what = "rename in these folders";
		rc = name ? ns_may_remove(m->ns, parent, name, uid, gid) : 0;
		if (rc == 0 && newname)
			rc = ns_may_remove(m->ns, newparent, newname, uid, gid);
		break;
	case R_SETATTR: {
		*what = "change the attributes";
		rc = ns_getattr(m->ns, ino, &a);
		if (rc < 0)
			break;
		bool owner = a.uid == uid || uid == 0;
		bool to_now = json_is_true(json_object_get(b, "atime_now")) ||
			      json_is_true(json_object_get(b, "mtime_now"));
		if ((ju_u64(b, "uid", &v) == 0 && v != a.uid && uid != 0) ||
		    (ju_u64(b, "gid", &v) == 0 && (!owner || (v != gid && v != a.gid && uid != 0))) ||
		    ((json_object_get(b, "mode") || json_object_get(b, "atime_s") ||
		      json_object_get(b, "mtime_s")) && !owner))
			rc = -EPERM;
		else if (json_object_get(b, "size") || (to_now && !owner))
			rc = ns_may(m->ns, ino, uid, gid, NS_MAY_WRITE, NULL);
		break;
	}
	case R_SETXATTR:
	case R_REMOVEXATTR:
	case R_GETXATTR: {
		const char *xn = json_string_value(json_object_get(b, "name"));
		bool get = route == R_GETXATTR;
		*what = get ? "read the attribute" : "change the attribute";
		if (!xn)
			break;
		if (strncmp(xn, "user.", 5) == 0 || strncmp(xn, "bigfs.", 6) == 0) {
			if (!get || strncmp(xn, "user.", 5) == 0)
				rc = ns_may(m->ns, ino, uid, gid, get ? NS_MAY_READ : NS_MAY_WRITE,
					    NULL);
		} else if (!get && strncmp(xn, "system.posix_acl_", 17) == 0) {
			rc = ns_getattr(m->ns, ino, &a);
			if (rc == 0 && a.uid != uid && uid != 0)
				rc = -EPERM;
		} else if (!get && uid != 0) {
			rc = -EPERM;          /* trusted.*, security.*: root's */
		}
		break;
	}
	case R_ACCESS:
		*what = "open the file this way";
		if (ju_u64(b, "mask", &v) == 0 && v <= 7)
			rc = ns_may(m->ns, ino, uid, gid, (uint32_t)v, NULL);
		break;
	default:
		break;
	}
	free(name);
	free(newname);
	return rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;   /* the call answers those */
}

/* false after replying EACCES / EPERM for a mapped caller. */
static bool squash_check(struct master *m, struct http_request *r, int route)
{
	const struct asess_export *e = req_export(r);
	const char *what = "do this";
	uint64_t caller = 0;

	if (!e || (!e->maproot && !e->mapall))
		return true;
	const json_t *b = http_req_json_peek(r);
	if (!json_is_object(b))
		return true;    /* the handler refuses it */
	bool has_caller = ju_u64(b, "caller", &caller) == 0;
	if (e->maproot && has_caller && caller != 0)
		return true;
	int rc = squash_route(m, route, b, e->map_uid, e->map_gid, &what);
	if (rc == 0)
		return true;
	http_reply_error(r, rc, "%s: the export maps this caller to %u:%u, who may not %s",
			 http_req_path(r), e->map_uid, e->map_gid, what);
	return false;
}

static void h_access(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, mask;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	if (ju_u64(b, "mask", &mask) < 0 || mask > 7) {
		bad_member(r, "mask");
		goto out_put;
	}
	/* squash_check judged a mapped caller; anyone else was judged by
	 * the client's kernel: here only whether the inode is there */
	int rc = ns_getattr(m->ns, ino, &a);
	if (rc < 0)
		http_reply_error(r, rc, "access %llu: %s", (unsigned long long)ino, strerror(-rc));
	else
		reply_empty(r);
out_put:
	json_decref(b);
}

/* ---- namespace -------------------------------------------------------- */

static bool writers_told(struct master *m, struct http_request *r, uint64_t dir,
			 uint64_t ino);
static void creator_told(struct master *m, struct http_request *r, const json_t *b);
static void listing_told(struct master *m, struct http_request *r, uint64_t dir);
static void recall_creator(struct master *m, struct http_request *r, uint64_t dir, bool listing);

static int opt_u64(const json_t *b, const char *key, bool *has, uint64_t *ret);

static void h_lookup(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent;
	char *name = NULL;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	bool has_known;
	uint64_t known;
	if (opt_u64(b, "known", &has_known, &known) < 0) {
		bad_member(r, "known");
		goto out_put;
	}
	writers_told(m, r, parent, 0);
	int rc = ns_lookup(m->ns, parent, name, &a);
	if (!has_known || (rc < 0 && rc != -ENOENT)) {
		if (rc < 0)
			http_reply_error(r, rc, "lookup '%s' in %llu: %s", SHORT(name),
					 (unsigned long long)parent, strerror(-rc));
		else
			reply_attr(r, &a);
		goto out_put;
	}
	/* the mount still knows every name of parent as of change count
	 * "known": if that is still the count and its lease can be renewed,
	 * it answers for the folder again (dir_lease.h) */
	json_t *o = rc == 0 ? json_pack("{s:o}", "attr", attr_json(&a))
			    : json_pack("{s:b}", "absent", true);
	struct ns_attr pa;
	if (o && ns_getattr(m->ns, parent, &pa) == 0 && S_ISDIR(pa.mode) && pa.dver == known &&
	    dlease_renew(m->dl, parent, req_session(r)))
		json_object_set_new(o, "dir", attr_json(&pa));
	http_reply_json(r, 200, o);
out_put:
	free(name);
	json_decref(b);
}

static void h_getattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	writers_told(m, r, 0, ino);
	int rc = ns_getattr(m->ns, ino, &a);
	if (rc < 0)
		http_reply_error(r, rc, "getattr %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
	else
		reply_attr(r, &a);
out_put:
	json_decref(b);
}

/* Optional integer member into *ret with presence flag. */
static int opt_u64(const json_t *b, const char *key, bool *has, uint64_t *ret)
{
	*ret = 0;
	*has = ju_has(b, key);
	return *has ? ju_u64(b, key, ret) : 0;
}

static int opt_i64(const json_t *b, const char *key, bool *has, int64_t *ret)
{
	*ret = 0;
	*has = ju_has(b, key);
	return *has ? ju_i64(b, key, ret) : 0;
}

/* The members of a setattr (b: the body, or a commit's "setattr") into
 * *sa; groups gets "groups" (GROUPS_MAX). 0, or -EINVAL after replying. */
static int parse_setattr(const json_t *b, struct http_request *r, struct ns_setattr *sa,
			 uint32_t *groups)
{
	uint64_t v;
	int64_t t;
	bool has, now;

	memset(sa, 0, sizeof(*sa));
	if (opt_u64(b, "mode", &has, &v) < 0 || v > UINT32_MAX) {
		bad_member(r, "mode");
		return -EINVAL;
	}
	sa->has_mode = has;
	sa->mode = (uint32_t)v;
	if (opt_u64(b, "uid", &has, &v) < 0 || v > UINT32_MAX) {
		bad_member(r, "uid");
		return -EINVAL;
	}
	sa->has_uid = has;
	sa->uid = (uint32_t)v;
	if (opt_u64(b, "gid", &has, &v) < 0 || v > UINT32_MAX) {
		bad_member(r, "gid");
		return -EINVAL;
	}
	sa->has_gid = has;
	sa->gid = (uint32_t)v;
	if (opt_u64(b, "size", &sa->has_size, &sa->size) < 0) {
		bad_member(r, "size");
		return -EINVAL;
	}
	/* atime / mtime: *_now wins; else *_s with optional *_ns. */
	const char *const keys[2][3] = { { "atime_now", "atime_s", "atime_ns" },
					 { "mtime_now", "mtime_s", "mtime_ns" } };
	for (int i = 0; i < 2; i++) {
		uint32_t tns = 0;
		if (ju_bool_opt(b, keys[i][0], false, &now) < 0) {
			bad_member(r, keys[i][0]);
			return -EINVAL;
		}
		if (opt_i64(b, keys[i][1], &has, &t) < 0) {
			bad_member(r, keys[i][1]);
			return -EINVAL;
		}
		if (ju_u32_opt(b, keys[i][2], 0, &tns) < 0 || tns > 999999999) {
			bad_member(r, keys[i][2]);
			return -EINVAL;
		}
		if (i == 0) {
			sa->has_atime = now || has;
			sa->atime_now = now;
			sa->atime_s = has ? t : 0;
			sa->atime_ns = tns;
		} else {
			sa->has_mtime = now || has;
			sa->mtime_now = now;
			sa->mtime_s = has ? t : 0;
			sa->mtime_ns = tns;
		}
	}
	json_t *ga = json_object_get(b, "groups");
	if (ga) {
		if (!json_is_array(ga) || json_array_size(ga) > GROUPS_MAX) {
			bad_member(r, "groups");
			return -EINVAL;
		}
		for (size_t i = 0; i < json_array_size(ga); i++) {
			json_t *g = json_array_get(ga, i);
			if (!json_is_integer(g) || json_integer_value(g) < 0 ||
			    json_integer_value(g) > UINT32_MAX) {
				bad_member(r, "groups");
				return -EINVAL;
			}
			groups[i] = (uint32_t)json_integer_value(g);
		}
		sa->drop_sgid = true;
		sa->groups = groups;
		sa->ngroups = json_array_size(ga);
	}
	return 0;
}

static void h_setattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	struct ns_setattr sa;
	struct ns_attr a;
	uint32_t groups[GROUPS_MAX];
	uint64_t ino;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	if (parse_setattr(b, r, &sa, groups) < 0)
		goto out_put;
	int rc = ns_setattr(m->ns, ino, &sa, &a);
	if (rc < 0)
		http_reply_error(r, rc, "setattr %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
	else
		reply_attr(r, &a);
out_put:
	json_decref(b);
}

static void h_mkdir(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent;
	uint32_t mode, uid, gid, umask;
	char *name = NULL;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	GET_U32(b, "mode", mode);
	GET_U32(b, "uid", uid);
	GET_U32(b, "gid", gid);
	map_owner(r, &uid, &gid);
	GET_UMASK(b, umask);
	int rc = ns_mkdir(m->ns, parent, name, mode, uid, gid, umask, &a);
	if (rc < 0) {
		http_reply_error(r, rc, "mkdir '%s' in %llu: %s", SHORT(name),
				 (unsigned long long)parent, strerror(-rc));
	} else {
		/* the mount that made it may answer for its names (dir_lease.h) */
		const char *session = req_session(r);
		if (session)
			dlease_grant(m->dl, a.ino, session);
		reply_changed(m, r, json_pack("{s:o, s:b}", "attr", attr_json(&a), "lease",
					      session != NULL));
	}
out_put:
	free(name);
	json_decref(b);
}

static json_t *grant_json(struct master *m, const struct cm_chunk *c);

/* A close behind may be answered before its data is on the workers
 * (fuse/file_handle.h, data behind), where a full disk would then show
 * as an empty file instead of ENOSPC at the close: a fresh file's grant
 * is noted "behind" only while each of its workers has BEHIND_ROOM free. */
#define BEHIND_ROOM ((uint64_t)256 << 20)
static bool grant_roomy(struct master *m, const struct cm_chunk *c)
{
	for (int i = 0; i < c->nrep; i++) {
		struct wreg_info w;
		if (wreg_get(m->reg, c->reps[i].worker_id, &w) < 0 || w.capacity < w.used ||
		    w.capacity - w.used < BEHIND_ROOM)
			return false;
	}
	return c->nrep > 0;
}

static void h_create(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent;
	uint32_t mode, uid, gid, umask;
	const char *session = NULL;
	char *name = NULL;
	bool excl, created, opened = false, want_grant;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	GET_U32(b, "mode", mode);
	GET_U32(b, "uid", uid);
	GET_U32(b, "gid", gid);
	map_owner(r, &uid, &gid);
	if (ju_bool_opt(b, "excl", false, &excl) < 0) {
		bad_member(r, "excl");
		goto out_put;
	}
	GET_UMASK(b, umask);
	if (ju_str_opt(b, "session", SESS_ID_MAX, NULL, &session) < 0 ||
	    (session && !sess_id_valid(session))) {
		bad_member(r, "session");
		goto out_put;
	}
	if (ju_bool_opt(b, "grant", false, &want_grant) < 0) {
		bad_member(r, "grant");
		goto out_put;
	}
	/* "ino": a number reserved for the session (/v1/inos): a create the
	 * mount answered itself (fuse/ns_queue.h), always exclusive */
	bool has_ino;
	uint64_t want_ino = 0;
	if (opt_u64(b, "ino", &has_ino, &want_ino) < 0 || (has_ino && !session)) {
		bad_member(r, "ino");
		goto out_put;
	}
	/* with it, "time_s", "time_ns": when the mount made it, the times it
	 * told its kernel */
	bool has_when = false;
	int64_t ts = 0;
	uint32_t tns = 0;
	if (has_ino && (opt_i64(b, "time_s", &has_when, &ts) < 0 || ts < 0)) {
		bad_member(r, "time_s");
		goto out_put;
	}
	if (has_ino && (ju_u32_opt(b, "time_ns", 0, &tns) < 0 || tns > 999999999)) {
		bad_member(r, "time_ns");
		goto out_put;
	}
	if (has_ino)
		sess_names_own(m->sess, session);
	int rc;
	for (int attempt = 0;; attempt++) {
		if (has_ino) {
			struct timespec when = { (time_t)ts, (long)tns };
			rc = ns_create_ino(m->ns, parent, name, mode, uid, gid, umask, want_ino,
					   session, has_when ? &when : NULL, &a);
			created = rc == 0;
		} else {
			rc = ns_create(m->ns, parent, name, mode, uid, gid, umask, excl, &a,
				       &created);
		}
		if (rc < 0 || !session)
			break;
		/* with "session": the file is open by that session from now on */
		rc = ns_open(m->ns, a.ino, session);
		opened = rc == 0;
		if (rc == -ESTALE)
			rc = 0;   /* unknown session: the mount registers the open itself */
		if (rc != -ENOENT || attempt == 2)
			break;
		/* another mount unlinked it in between: create it again */
	}
	if (rc < 0) {
		http_reply_error(r, rc, "create '%s' in %llu: %s", SHORT(name),
				 (unsigned long long)parent, strerror(-rc));
		goto out_put;
	}
	if (opened && !created && writers_told(m, r, 0, a.ino))
		(void)ns_getattr(m->ns, a.ino, &a);   /* an open of a file that was there */
	json_t *o = json_pack("{s:o, s:b, s:b}", "attr", attr_json(&a), "created", created,
			      "opened", opened);
	/* "grant": the write grant of a new file's first chunk comes along,
	 * which spares the writer a /v1/write; one it never writes goes back
	 * with "drop" in its commit */
	struct cm_chunk c;
	if (o && want_grant && created && session && S_ISREG(a.mode) &&
	    cm_grant_fresh(m->cm, a.ino, 0, session, &c) == 0) {
		json_t *g = grant_json(m, &c);
		/* its close may leave the commit behind: noted until it comes */
		if (g && grant_roomy(m, &c) && sess_fresh_add(m->sess, session, a.ino, parent))
			json_object_set_new(g, "behind", json_true());
		json_object_set_new(o, "grant", g);
	}
	reply_changed(m, r, o);
out_put:
	free(name);
	json_decref(b);
}

static int get_session(json_t *b, struct http_request *r, const char **ret);

/* Inode numbers for the creates a mount answers itself: {"session",
 * "count"} -> {"lo", "hi"} (namespace.h ns_reserve_inos). */
static void h_inos(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session;
	uint32_t count;
	uint64_t lo, hi;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0)
		goto out_put;
	GET_U32(b, "count", count);
	if (count == 0 || count > NS_INO_RANGE_MAX) {
		bad_member(r, "count");
		goto out_put;
	}
	int rc = ns_reserve_inos(m->ns, session, count, &lo, &hi);
	if (rc < 0) {
		http_reply_error(r, rc, "inode numbers for %s: %s", session, strerror(-rc));
		goto out_put;
	}
	sess_names_own(m->sess, session);
	http_reply_json(r, 200, json_pack("{s:I, s:I}", "lo", (json_int_t)lo, "hi", (json_int_t)hi));
out_put:
	json_decref(b);
}

static void h_mknod(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent, rdev;
	uint32_t mode, uid, gid, umask;
	char *name = NULL;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	GET_U32(b, "mode", mode);
	GET_U32(b, "uid", uid);
	GET_U32(b, "gid", gid);
	map_owner(r, &uid, &gid);
	if (ju_u64_opt(b, "rdev", 0, &rdev) < 0) {
		bad_member(r, "rdev");
		goto out_put;
	}
	GET_UMASK(b, umask);
	int rc = ns_mknod(m->ns, parent, name, mode, rdev, uid, gid, umask, &a);
	if (rc < 0)
		http_reply_error(r, rc, "mknod '%s' in %llu: %s", SHORT(name),
				 (unsigned long long)parent, strerror(-rc));
	else
		reply_attr_changed(m, r, &a);
out_put:
	free(name);
	json_decref(b);
}

static void h_symlink(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent;
	uint32_t uid, gid;
	char *name = NULL, *target = NULL;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	GET_NAME(b, "target", TARGET_IN_MAX, target);
	GET_U32(b, "uid", uid);
	GET_U32(b, "gid", gid);
	map_owner(r, &uid, &gid);
	int rc = ns_symlink(m->ns, parent, name, target, uid, gid, &a);
	if (rc < 0)
		http_reply_error(r, rc, "symlink '%s' in %llu: %s", SHORT(name),
				 (unsigned long long)parent, strerror(-rc));
	else
		reply_attr_changed(m, r, &a);
out_put:
	free(target);
	free(name);
	json_decref(b);
}

static void h_readlink(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	char *target;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	int rc = ns_readlink(m->ns, ino, &target);
	if (rc < 0) {
		http_reply_error(r, rc, "readlink %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
	} else {
		json_t *o = json_object();
		if (!o || ju_set_name(o, "target", target, strlen(target)) < 0) {
			json_decref(o);
			reply_err(r, -ENOMEM, "readlink");
		} else {
			http_reply_json(r, 200, o);
		}
		free(target);
	}
out_put:
	json_decref(b);
}

static void h_link(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, newparent;
	char *newname = NULL;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_U64(b, "newparent", newparent);
	GET_NAME(b, "newname", NAME_IN_MAX, newname);
	int rc = ns_link(m->ns, ino, newparent, newname, &a);
	if (rc < 0)
		http_reply_error(r, rc, "link %llu as '%s' in %llu: %s",
				 (unsigned long long)ino, SHORT(newname),
				 (unsigned long long)newparent, strerror(-rc));
	else
		reply_attr_changed(m, r, &a);
out_put:
	free(newname);
	json_decref(b);
}

static int apply_closes(struct master *m, json_t *b, struct http_request *r);

static void remove_common(struct master *m, struct http_request *r, bool dir)
{
	json_t *b = http_req_json(r);
	uint64_t parent;
	char *name = NULL;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	if (apply_closes(m, b, r) < 0)
		goto out_put;
	int rc = dir ? ns_rmdir(m->ns, parent, name) : ns_unlink(m->ns, parent, name);
	if (rc < 0)
		http_reply_error(r, rc, "%s '%s' in %llu: %s", dir ? "rmdir" : "unlink",
				 SHORT(name), (unsigned long long)parent, strerror(-rc));
	else
		reply_changed(m, r, json_object());
out_put:
	free(name);
	json_decref(b);
}

static void h_unlink(struct master *m, struct http_request *r)
{
	remove_common(m, r, false);
}

static void h_create(struct master *m, struct http_request *r);
static void h_commit(struct master *m, struct http_request *r);
static void h_setattr(struct master *m, struct http_request *r);
static void h_rmdir(struct master *m, struct http_request *r);
static void h_rename(struct master *m, struct http_request *r);

/* The ops a batch takes: each is its route's own call. */
static const struct batch_kind {
	const char *op, *path;
	int route;
	void (*fn)(struct master *m, struct http_request *r);
} BATCH_KINDS[] = {
	{ "unlink", "/v1/unlink", R_UNLINK, h_unlink },
	{ "rmdir", "/v1/rmdir", R_RMDIR, h_rmdir },
	{ "rename", "/v1/rename", R_RENAME, h_rename },
	{ "create", "/v1/create", R_CREATE, h_create },
	{ "setattr", "/v1/setattr", R_SETATTR, h_setattr },
	{ "commit", "/v1/commit", R_COMMIT, h_commit },
};

/* The ops /v1/batch takes, as session/open names them (a mount queues
 * only those). */
static json_t *batch_kinds_json(void)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < sizeof(BATCH_KINDS) / sizeof(BATCH_KINDS[0]); i++)
		json_array_append_new(a, json_string(BATCH_KINDS[i].op));
	return a;
}

/* One op of a batch: {"op": KIND, ...} with the members of /v1/KIND
 * (BATCH_KINDS). Its route's own handler runs on a sub-request of r whose
 * body is op, after the checks the route's wrapper makes: the session's
 * subtree and a mapped caller's rights (squash_check). 0 or -errno;
 * *reason a short word for the log; *ret_res the handler's reply (NULL
 * on failure). */
static int batch_op(struct master *m, struct http_request *r, const json_t *op,
		    const char **reason, json_t **ret_res)
{
	const struct asess_export *e = req_export(r);
	const char *kind = json_string_value(json_object_get(op, "op"));
	const struct batch_kind *k = NULL;

	*reason = "bad op";
	*ret_res = NULL;
	for (size_t i = 0; kind && i < sizeof(BATCH_KINDS) / sizeof(BATCH_KINDS[0]); i++)
		if (strcmp(kind, BATCH_KINDS[i].op) == 0)
			k = &BATCH_KINDS[i];
	if (!json_is_object(op) || !k)
		return -EINVAL;
	*reason = k->op;
	if (m->api)
		atomic_fetch_add(&m->api->batch_counts[k->route], 1);
	struct http_request *sub = http_subreq_new(r, k->path, (json_t *)op);
	if (!sub)
		return -ENOMEM;
	if ((!e || e->whole || inos_within(m, sub, e)) && squash_check(m, sub, k->route))
		k->fn(m, sub);
	int status;
	json_t *res = http_subreq_end(sub, &status);
	json_int_t err = json_integer_value(json_object_get(res, "errno"));
	int rc = status == 200 ? 0 : err > 0 && err < 4096 ? -(int)err : -EIO;
	if (rc < 0) {
		json_decref(res);
		res = NULL;
	}
	*ret_res = res;
	return rc;
}

/* Apply ops[from..to) in one transaction (meta_group_begin; each op in
 * its own when the group cannot begin), appending a result per op to
 * results (which holds those of ops[0..from)). When the group's commit
 * fails, none of them stands: each result becomes that errno. 0, or
 * -ENOMEM (the group rolled back). */
static int batch_group(struct master *m, struct http_request *r, const json_t *ops,
		       size_t from, size_t to, json_t *results, int64_t *until)
{
	bool grouped = meta_group_begin(m->ms) == 0;
	batch_until = until;
	for (size_t i = from; i < to; i++) {
		const char *reason;
		json_t *res = NULL;
		ns_touch_reset();
		int rc = batch_op(m, r, json_array_get(ops, i), &reason, &res);
		if (!res)
			res = json_object();
		if (res && json_object_set_new(res, "errno", json_integer(-rc)) < 0) {
			json_decref(res);
			res = NULL;
		}
		json_t *dirs = touched_json(m, r, until);
		if (rc == 0 && res && !json_object_get(res, "dirs"))
			json_object_set_new(res, "dirs", dirs);
		else
			json_decref(dirs);
		if (rc < 0 && rc != -ENOENT)
			log_debug("batch op %zu (%s): %s", i, reason, strerror(-rc));
		if (!res || json_array_append_new(results, res) < 0) {
			batch_until = NULL;
			if (grouped)
				meta_group_end(m->ms, -ENOMEM);
			return -ENOMEM;
		}
	}
	batch_until = NULL;
	int rc = grouped ? meta_group_end(m->ms, 0) : 0;
	if (rc == 0)
		return 0;
	log_warn("batch: ops %zu-%zu not committed: %s", from, to - 1, strerror(-rc));
	for (size_t k = from; k < to; k++) {
		json_t *res = json_array_get(results, k);
		json_object_clear(res);   /* no "dirs", no create's "attr" or "grant" */
		if (json_object_set_new(res, "errno", json_integer(-rc)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* {"ops": [op, ..], "close"?, "session"?}: a mount's queued namespace
 * changes (fuse/ns_queue.c), applied in order, each as its own route
 * would; an op that fails does not stop the ones after it (each was a
 * separate call for the application). Up to BATCH_GROUP ops share one
 * transaction (meta_group_begin: one commit, one metalog record), each
 * in a savepoint of its own. Answers {"results": [{"errno", "dirs"},
 * ..]}, one per op. */
static void h_batch(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	json_t *ops, *results = NULL;

	if (!b)
		return;
	ops = json_object_get(b, "ops");
	if (!json_is_array(ops) || json_array_size(ops) > BATCH_MAX) {
		bad_member(r, "ops");
		goto out_put;
	}
	if (apply_closes(m, b, r) < 0)
		goto out_put;
	/* creates another mount answered in these folders go first (outside
	 * the groups' transactions: the holder's own batch must get in) */
	size_t k;
	const json_t *op;
	json_array_foreach(ops, k, op)
		creator_told(m, r, op);
	results = json_array();
	if (!results) {
		reply_err(r, -ENOMEM, "batch");
		goto out_put;
	}
	int64_t until = 0;
	size_t n = json_array_size(ops);
	for (size_t from = 0; from < n; from += BATCH_GROUP) {
		size_t to = n - from > BATCH_GROUP ? from + BATCH_GROUP : n;
		if (batch_group(m, r, ops, from, to, results, &until) < 0) {
			reply_err(r, -ENOMEM, "batch");
			goto out_put;
		}
	}
	wait_leases(m, r, until);
	http_reply_json(r, 200, json_pack("{s:O}", "results", results));
out_put:
	json_decref(results);
	json_decref(b);
}

static void h_rmdir(struct master *m, struct http_request *r)
{
	remove_common(m, r, true);
}

static void h_rename(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t parent, newparent;
	uint32_t flags;
	char *name = NULL, *newname = NULL;

	if (!b)
		return;
	GET_U64(b, "parent", parent);
	GET_NAME(b, "name", NAME_IN_MAX, name);
	GET_U64(b, "newparent", newparent);
	GET_NAME(b, "newname", NAME_IN_MAX, newname);
	if (ju_u32_opt(b, "flags", 0, &flags) < 0) {
		bad_member(r, "flags");
		goto out_put;
	}
	if (apply_closes(m, b, r) < 0)
		goto out_put;
	uint64_t ino, replaced;
	int rc = ns_rename_inos(m->ns, parent, name, newparent, newname, flags, &ino, &replaced);
	if (rc < 0)
		http_reply_error(r, rc, "rename '%s' in %llu to '%s' in %llu: %s",
				 SHORT(name), (unsigned long long)parent, SHORT(newname),
				 (unsigned long long)newparent, strerror(-rc));
	else   /* the inodes it changed besides the folders: a mount's kept
		* listings of other folders stay good (api.md) */
		reply_changed(m, r, json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "replaced",
					      (json_int_t)replaced));
out_put:
	free(newname);
	free(name);
	json_decref(b);
}

/* Entries ents[0..n) as the JSON array of a readdir answer; NULL: no memory. */
static json_t *dirents_json(const struct ns_dirent *ents, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *e = json_pack("{s:I, s:o}", "cookie", (json_int_t)ents[i].cookie,
				      "attr", attr_json(&ents[i].attr));
		if (e && ju_set_name(e, "name", ents[i].name, strlen(ents[i].name)) < 0) {
			json_decref(e);
			e = NULL;
		}
		if (json_array_append_new(arr, e) < 0) {   /* takes e, or fails on NULL */
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* Push the folders of ents[0..n) on the stack (*sn of BELOW_DIRS), the
 * first on top. */
enum { BELOW_DIRS = 1024, BELOW_MISSES = 16 };
static void below_push(uint64_t *stack, size_t *sn, const struct ns_dirent *ents, size_t n)
{
	for (size_t i = n; i-- > 0 && *sn < BELOW_DIRS;)
		if (S_ISDIR(ents[i].attr.mode))
			stack[(*sn)++] = ents[i].attr.ino;
}

/* The whole listings of the folders a walk of the tree visits after
 * folder dir, whose listing is ents[0..n): depth first, each folder's
 * entries in listing order (du, find, git status), first the folders
 * below dir, then those after it in its parent, and so on up to the
 * export's root (top) - while they hold at most budget entries in all; a
 * folder too big for what is left is skipped. Such a walk then needs one
 * call per few hundred folders. NULL: no memory. */
static uint64_t creator_of(struct master *m, struct http_request *r, uint64_t dir, bool listing);

static json_t *readdir_below(struct master *m, struct http_request *r, uint64_t dir,
			     uint64_t top, const struct ns_dirent *ents, size_t n,
			     uint32_t budget)
{
	enum { BELOW_CLIMBS = 16 };
	uint64_t *stack = malloc(BELOW_DIRS * sizeof(*stack));
	json_t *out = json_array();
	size_t sn = 0;
	int misses = 0, climbs = 0;
	bool follower = inval_log_follows(m->il, call_origin(r));
	if (!stack || !out)
		goto fail;
	below_push(stack, &sn, ents, n);
	while (budget > 0 && misses < BELOW_MISSES) {
		struct ns_dirent *sub;
		size_t subn;
		bool eof;
		uint64_t parent, cookie;
		if (sn == 0) {
			/* this subtree is done: on to the folders after it */
			if (dir == top || climbs++ == BELOW_CLIMBS ||
			    ns_dir_entry(m->ns, dir, &parent, &cookie) < 0 ||
			    ns_readdir(m->ns, parent, cookie, NS_READDIR_MAX, &sub, &subn, &eof,
				       NULL) < 0)
				break;
			below_push(stack, &sn, sub, subn);
			free(sub);
			dir = parent;
			continue;
		}
		uint64_t d = stack[--sn];
		/* a folder another mount fills with creates it answers itself
		 * is listed only through listing_told, for a mount that may
		 * keep the listing */
		if (follower && creator_of(m, r, d, true))
			continue;
		uint32_t limit = budget < NS_READDIR_MAX ? budget : NS_READDIR_MAX;
		struct ns_attr da;
		if (ns_readdir(m->ns, d, 0, limit, &sub, &subn, &eof, &da) < 0) {
			misses++;      /* gone meanwhile */
			continue;
		}
		if (!eof) {
			free(sub);
			misses++;
			continue;
		}
		json_t *arr = dirents_json(sub, subn);
		below_push(stack, &sn, sub, subn);
		free(sub);
		if (!arr || json_array_append_new(out, json_pack("{s:I, s:o, s:o}", "ino",
								 (json_int_t)d, "entries", arr,
								 "attr", attr_json(&da))) < 0)
			goto fail;
		budget -= (uint32_t)subn;
	}
	free(stack);
	return out;
fail:
	free(stack);
	json_decref(out);
	return NULL;
}

static void h_readdir(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, cookie;
	uint32_t limit, below;
	struct ns_dirent *ents;
	struct ns_attr dir;
	size_t n;
	bool eof;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	if (ju_u64_opt(b, "cookie", 0, &cookie) < 0) {
		bad_member(r, "cookie");
		goto out_put;
	}
	if (ju_u32_opt(b, "limit", 1000, &limit) < 0 || limit == 0) {
		bad_member(r, "limit");
		goto out_put;
	}
	if (ju_u32_opt(b, "below", 0, &below) < 0) {
		bad_member(r, "below");
		goto out_put;
	}
	if (limit > NS_READDIR_MAX)
		limit = NS_READDIR_MAX;
	if (below > NS_READDIR_MAX)
		below = NS_READDIR_MAX;
	/* files of another mount whose commit may be on its way: here, sent
	 * first (writers_told); in the folders below, none of them listed */
	/* before the read: a change after it waits for this mount's feed
	 * (also a create of the lease holder that listing_told recalls) */
	inval_log_listed(m->il, call_origin(r));
	listing_told(m, r, ino);
	writers_told(m, r, ino, 0);
	if (below && sess_fresh_any_elsewhere(m->sess, call_origin(r)))
		below = 0;
	int rc = ns_readdir(m->ns, ino, cookie, limit, &ents, &n, &eof, &dir);
	if (rc < 0) {
		http_reply_error(r, rc, "readdir %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
		goto out_put;
	}
	json_t *arr = dirents_json(ents, n);
	const struct asess_export *e = req_export(r);
	json_t *sub = arr && below > 0 && cookie == 0 && eof
			      ? readdir_below(m, r, ino, e ? e->root : META_ROOT_INO, ents, n, below)
			      : NULL;
	free(ents);
	if (!arr) {
		reply_err(r, -ENOMEM, "readdir");
		goto out_put;
	}
	/* the folder's own attributes: the kernel asks for them after every
	 * read of it (the read may have changed its atime) */
	json_t *resp = json_pack("{s:o, s:b, s:o}", "entries", arr, "eof", eof, "attr",
				 attr_json(&dir));
	if (resp && sub)
		json_object_set_new(resp, "below", sub);
	else
		json_decref(sub);
	http_reply_json(r, 200, resp);
out_put:
	json_decref(b);
}

static void h_statfs(struct master *m, struct http_request *r)
{
	struct wreg_info *ws;
	size_t n;
	uint64_t total = 0, free_b = 0, inodes = 0;
	int rc;

	/* The body, if any, is not used: {} is the documented request.
	 * Unlinked inodes kept for the grace period or while open do not
	 * count (namespace.h). */
	rc = ns_inodes_in_use(m->ns, &inodes);
	if (rc == 0)
		rc = wreg_snapshot(m->reg, true, &ws, &n);
	if (rc < 0) {
		reply_err(r, rc, "statfs");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		total += ws[i].capacity;
		free_b += ws[i].capacity > ws[i].used ? ws[i].capacity - ws[i].used : 0;
	}
	free(ws);
	http_reply_json(r, 200,
			json_pack("{s:I, s:I, s:I, s:I, s:I}", "total_bytes", (json_int_t)total,
				  "free_bytes", (json_int_t)free_b, "avail_bytes",
				  (json_int_t)free_b, "files",
				  (json_int_t)(inodes + STATFS_FFREE), "ffree",
				  (json_int_t)STATFS_FFREE));
}

static void h_getxattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	const char *name;
	void *val;
	size_t len;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_STR(b, "name", NAME_IN_MAX, name);
	int rc = ns_getxattr(m->ns, ino, name, &val, &len);
	if (rc < 0) {
		http_reply_error(r, rc, "getxattr '%s' of %llu: %s", SHORT(name),
				 (unsigned long long)ino, strerror(-rc));
	} else {
		http_reply_json(r, 200, json_pack("{s:o}", "value", ju_b64_new(val, len)));
		free(val);
	}
out_put:
	json_decref(b);
}

static void h_setxattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	uint32_t flags;
	const char *name;
	unsigned char *val = NULL;
	size_t len;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_STR(b, "name", NAME_IN_MAX, name);
	if (ju_u32_opt(b, "flags", 0, &flags) < 0) {
		bad_member(r, "flags");
		goto out_put;
	}
	int rc = ju_b64_get(b, "value", NS_XATTR_VALUE_MAX, &val, &len);
	if (rc == -E2BIG) {
		http_reply_error(r, E2BIG, "xattr value longer than %d bytes", NS_XATTR_VALUE_MAX);
		goto out_put;
	}
	if (rc < 0) {
		bad_member(r, "value");
		goto out_put;
	}
	rc = goal_allowed(r, name, val, len);
	if (rc == 0)
		rc = ns_setxattr(m->ns, ino, name, val, len, flags);
	if (rc < 0)
		http_reply_error(r, rc, "setxattr '%s' of %llu: %s", SHORT(name),
				 (unsigned long long)ino, strerror(-rc));
	else
		reply_empty(r);
	free(val);
out_put:
	json_decref(b);
}

static void h_listxattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	char **names;
	size_t n;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	int rc = ns_listxattr(m->ns, ino, &names, &n);
	if (rc < 0) {
		http_reply_error(r, rc, "listxattr %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
		goto out_put;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(names[i]));
	ns_free_names(names, n);
	http_reply_json(r, 200, json_pack("{s:o}", "names", arr));
out_put:
	json_decref(b);
}

static void h_removexattr(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;
	const char *name;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_STR(b, "name", NAME_IN_MAX, name);
	int rc = ns_removexattr(m->ns, ino, name);
	if (rc < 0)
		http_reply_error(r, rc, "removexattr '%s' of %llu: %s", SHORT(name),
				 (unsigned long long)ino, strerror(-rc));
	else
		reply_empty(r);
out_put:
	json_decref(b);
}

/* ---- data ------------------------------------------------------------- */

static void h_punch(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, index, count;
	struct ns_attr a;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_U64(b, "index", index);
	GET_U64(b, "count", count);
	int rc = ns_punch(m->ns, ino, index, count, &a);
	if (rc < 0)
		http_reply_error(r, rc, "punch %llu [%llu, +%llu): %s", (unsigned long long)ino,
				 (unsigned long long)index, (unsigned long long)count,
				 strerror(-rc));
	else
		reply_attr(r, &a);
out_put:
	json_decref(b);
}

static json_t *replicas_json(const struct cm_chunk *c)
{
	json_t *arr = json_array();

	for (int i = 0; i < c->nrep; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "worker_id",
						     c->reps[i].worker_id, "addr",
						     c->reps[i].addr));
	return arr;
}

/* {"size", "chunks": [...]}: the reply of /v1/chunks, also part of
 * /v1/open's when asked for. */
static int chunks_json(struct master *m, uint64_t ino, uint64_t index, uint64_t count,
		       json_t **ret)
{
	struct cm_chunk *cs;
	uint64_t size;
	size_t n;
	int rc = cm_chunks(m->cm, ino, index, count, &size, &cs, &n);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:I, s:o, s:s}", "index", (json_int_t)cs[i].index,
				      "version", (json_int_t)cs[i].version, "replicas",
				      replicas_json(&cs[i]), "token", cs[i].token);
		ju_set_chunk_id(o, "chunk_id", cs[i].chunk_id);
		json_array_append_new(arr, o);
	}
	free(cs);
	*ret = json_pack("{s:I, s:o}", "size", (json_int_t)size, "chunks", arr);
	return *ret ? 0 : -ENOMEM;
}

static void h_chunks(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, index, count;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_U64(b, "index", index);
	GET_U64(b, "count", count);
	if (count > CHUNKS_COUNT_MAX) {
		bad_member(r, "count");
		goto out_put;
	}
	json_t *reply = NULL;
	int rc = chunks_json(m, ino, index, count, &reply);
	if (rc < 0)
		http_reply_error(r, rc, "chunks of %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
	else
		http_reply_json(r, 200, reply);
out_put:
	json_decref(b);
}

/* Optional "avoid": [worker_id, ..] (at most CM_AVOID_MAX): workers the
 * client cannot use now. Replies 400 itself on a bad member. */
static int get_avoid(json_t *b, struct http_request *r, struct cm_avoid *ret)
{
	json_t *a = json_object_get(b, "avoid");
	size_t i;
	json_t *v;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > CM_AVOID_MAX)
		goto out_bad;
	json_array_foreach(a, i, v) {
		const char *id = json_string_value(v);
		if (!id || !worker_id_valid(id))
			goto out_bad;
		snprintf(ret->ids[ret->n++], sizeof(ret->ids[0]), "%s", id);
	}
	return 0;
out_bad:
	bad_member(r, "avoid");
	return -EINVAL;
}

/* A write grant as /v1/write answers it (and /v1/create with "grant").
 * "rtoken", a read token of the same chunk and version, lets the writer
 * read back what it wrote, and a later open here read it, without asking
 * for the locations (fuse/file_handle.c, the inode location cache). */
static json_t *grant_json(struct master *m, const struct cm_chunk *c)
{
	char rtok[TOKEN_MAX];
	cm_read_token(m->cm, c, rtok);
	json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:I}", "version", (json_int_t)c->version,
			      "replicas", replicas_json(c), "token", c->token, "rtoken", rtok,
			      "lease_ms", (json_int_t)cm_lease_ms(m->cm));
	if (o)
		ju_set_chunk_id(o, "chunk_id", c->chunk_id);
	return o;
}

static void h_write(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, index;
	const char *session;
	struct cm_chunk c;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_U64(b, "index", index);
	GET_STR(b, "session", CM_SESSION_MAX, session);
	if (!*session) {
		bad_member(r, "session");
		goto out_put;
	}
	struct cm_avoid avoid = { .n = 0 };
	if (get_avoid(b, r, &avoid) < 0)
		goto out_put;
	int rc = cm_write_avoiding(m->cm, ino, index, session, &avoid, &c);
	if (rc < 0) {
		http_reply_error(r, rc, "write grant for %llu chunk %llu: %s",
				 (unsigned long long)ino, (unsigned long long)index,
				 strerror(-rc));
		goto out_put;
	}
	http_reply_json(r, 200, grant_json(m, &c));
out_put:
	json_decref(b);
}

/* Close-to-open with mounts that have ino open too: one whose close of
 * it is still queued opens it again without asking the master, its
 * kernel holding the old size until the change feed tells it. So the
 * writer's commit is answered once their feeds have brought it to their
 * kernels (at most COMMIT_TOLD_MS). Files open on one mount wait for
 * nothing. */
static void commit_told(struct master *m, struct http_request *r, uint64_t ino)
{
	uint64_t others[COMMIT_TOLD_MAX];
	size_t n = sess_open_elsewhere(m->sess, ino, call_origin(r), others, COMMIT_TOLD_MAX);
	if (n > 0 && !inval_log_wait_told(m->il, others, n, inval_log_last(m->il), COMMIT_TOLD_MS))
		log_debug("commit %llu: %zu other mounts' change feeds not caught up after %d ms",
			  (unsigned long long)ino, n, COMMIT_TOLD_MS);
}

/* Close-to-open with a writer whose commit may be on its way: a mount
 * answers the close of a file it made (with its first chunk's grant) and
 * wrote once before the commit reaches the master (fuse/file_handle.h,
 * "commit behind"); the master notes such files (sess_fresh_add) until
 * their commit comes. A lookup or readdir in their folder, or an open or
 * getattr of one, by another mount first puts a recall of each in the
 * change feed (a word to its writer: no other mount forgets anything, as
 * an attribute event made every mount drop its listings) and waits, at
 * most WRITERS_TOLD_MS, until their
 * mounts' feeds took it: such a mount sends what it queued for the file
 * before it asks the feed for more, and commits the file at its closes
 * from then on. Files written for long cost the call one feed round
 * trip. dir or ino: 0 for none. True if it waited (the attributes of
 * what the call reads may have changed). */
static bool writers_told(struct master *m, struct http_request *r, uint64_t dir, uint64_t ino)
{
	uint64_t inos[COMMIT_TOLD_MAX + 1], others[COMMIT_TOLD_MAX + 1];
	size_t ni = 0;
	uint64_t self = call_origin(r);
	size_t n = sess_fresh_elsewhere(m->sess, dir, ino, self, inos, &ni, others,
					COMMIT_TOLD_MAX);
	/* creates answered by the mount that holds the folder's lease may be
	 * on their way (fuse/ns_queue.h): its feed brings it an event of the
	 * folder, and it sends what it queued there before it asks for more */
	uint64_t o = dir ? creator_of(m, r, dir, false) : 0;
	bool recall = o != 0;
	if (recall) {
		size_t k = 0;
		while (k < n && others[k] != o)
			k++;
		if (k == n)
			others[n++] = o;
	}
	if (n == 0)
		return false;
	struct inval_note notes[COMMIT_TOLD_MAX + 1];
	/* words to the writers, not changes: no other mount forgets anything */
	for (size_t i = 0; i < ni; i++)
		notes[i] = (struct inval_note){ inos[i], NULL, INVAL_RECALL };
	if (recall)
		notes[ni++] = (struct inval_note){ dir, NULL, INVAL_RECALL };
	inval_log_publish(m->il, self, notes, ni);
	if (!inval_log_wait_told(m->il, others, n, inval_log_last(m->il), WRITERS_TOLD_MS))
		log_debug("%llu: %zu writers' change feeds not caught up after %d ms",
			  (unsigned long long)(dir ? dir : ino), n, WRITERS_TOLD_MS);
	return true;
}

/* A listing of folder dir by another mount than the one whose lease
 * lets it answer creates there itself (fuse/ns_queue.h): that mount may
 * keep the listing and answer "no such file" from it (fuse/dir_cache.h),
 * which no later create of the holder would correct, as none reaches the
 * master before it returns. So the holder is recalled: told through its
 * feed, it sends what it queued there and answers no more creates there
 * itself until one of its own creates there has reached the master
 * (whose reply waits for this mount's feed: wait_leases); the listing is
 * read once the holder's feed has taken the word. A lease that ran out
 * long ago ends instead: it is not taken again. */
static void listing_told(struct master *m, struct http_request *r, uint64_t dir)
{
	recall_creator(m, r, dir, true);
}

/* Whether another mount than the caller's holds dir's lease (or did until
 * CREATES_TOLD_GRACE_MS ago) and answers creates itself. listing: the
 * caller lists dir, and one that ran out longer ago ends (dlease_listed). */
static uint64_t creator_of(struct master *m, struct http_request *r, uint64_t dir, bool listing)
{
	char holder[SESS_ID_MAX + 1];
	uint64_t o;
	bool held = listing ? dlease_listed(m->dl, dir, req_session(r), CREATES_TOLD_GRACE_MS,
					    holder) == 1
			    : dlease_held_by_other(m->dl, dir, req_session(r),
						   CREATES_TOLD_GRACE_MS, holder);
	return held && (o = sess_creates_behind_origin(m->sess, holder)) != 0 &&
			       o != call_origin(r)
		       ? o
		       : 0;
}

/* The creates that creator_of(dir, listing) names answered in dir go
 * to the master first: a recall in the feed (INVAL_RECALL_LISTING for a
 * listing), waited for until the holder's feed took it. */
static void recall_creator(struct master *m, struct http_request *r, uint64_t dir, bool listing)
{
	uint64_t o = creator_of(m, r, dir, listing);
	if (o == 0)
		return;
	struct inval_note note = { dir, NULL, listing ? INVAL_RECALL_LISTING : INVAL_RECALL };
	inval_log_publish(m->il, call_origin(r), &note, 1);
	if (!inval_log_wait_told(m->il, &o, 1, inval_log_last(m->il), WRITERS_TOLD_MS))
		log_debug("%llu: the lease holder's change feed not caught up after %d ms",
			  (unsigned long long)dir, WRITERS_TOLD_MS);
}

/* Another client changes names in dir (by name, as the API lets it
 * without a lookup first): the creates the folder's lease holder
 * answered there itself go first. */
static void creator_told(struct master *m, struct http_request *r, const json_t *b)
{
	static const char *const keys[] = { "parent", "newparent" };
	for (size_t i = 0; i < 2; i++) {
		const json_t *v = json_object_get(b, keys[i]);
		if (json_is_integer(v) && json_integer_value(v) > 0)
			recall_creator(m, r, (uint64_t)json_integer_value(v), false);
	}
}

static void h_commit(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, size, *rel = NULL;
	const char *session;
	size_t nrel = 0;
	struct ns_attr a;
	bool durable;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	GET_U64(b, "size", size);
	GET_STR(b, "session", CM_SESSION_MAX, session);
	if (ju_bool_opt(b, "durable", false, &durable) < 0) {
		bad_member(r, "durable");
		goto out_put;
	}
	/* "time_s", "time_ns": the mtime and ctime of the data, which a
	 * mount that answered the close before this commit (commit behind,
	 * fuse/file_handle.h) told its kernel; without them: now */
	bool has_when;
	int64_t ts;
	uint32_t tns = 0;
	if (opt_i64(b, "time_s", &has_when, &ts) < 0 || (has_when && ts < 0)) {
		bad_member(r, "time_s");
		goto out_put;
	}
	if (ju_u32_opt(b, "time_ns", 0, &tns) < 0 || tns > 999999999) {
		bad_member(r, "time_ns");
		goto out_put;
	}
	struct timespec when = { (time_t)ts, (long)tns };
	json_t *ra = json_object_get(b, "release");
	if (ra && !json_is_null(ra)) {
		if (!json_is_array(ra) || json_array_size(ra) > RELEASE_MAX) {
			bad_member(r, "release");
			goto out_put;
		}
		nrel = json_array_size(ra);
		rel = malloc((nrel ? nrel : 1) * sizeof(*rel));
		if (!rel) {
			reply_err(r, -ENOMEM, "commit");
			goto out_put;
		}
		for (size_t i = 0; i < nrel; i++) {
			json_t *v = json_array_get(ra, i);
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				bad_member(r, "release");
				goto out_put;
			}
			rel[i] = (uint64_t)json_integer_value(v);
		}
	}
	/* "setattr": attributes the mount kept while the file was open there
	 * (mode, owner, times set by tar, cp -p, rsync before close), applied
	 * after the size, so an explicit mtime stays (fuse/file_handle.c) */
	struct ns_setattr sa;
	uint32_t groups[GROUPS_MAX];
	json_t *so = json_object_get(b, "setattr");
	if (so && (!json_is_object(so) || json_object_get(so, "size") ||
		   json_object_get(so, "groups"))) {
		bad_member(r, "setattr");
		goto out_put;
	}
	const struct asess_export *e = req_export(r);
	if (so && e && (e->maproot || e->mapall)) {
		/* the master judges mapped callers' setattrs itself: one at a time */
		http_reply_error(r, EPERM, "commit %llu: no \"setattr\" for an export that "
				 "maps callers", (unsigned long long)ino);
		goto out_put;
	}
	if (so && parse_setattr(so, r, &sa, groups) < 0)
		goto out_put;
	if (so && has_when) {
		/* stamped as the mount that sent it behind told its kernel */
		sa.has_at = true;
		sa.at_s = when.tv_sec;
		sa.at_ns = (uint32_t)when.tv_nsec;
	}
	json_t *da = json_object_get(b, "drop");
	if (da && (!json_is_array(da) || json_array_size(da) > RELEASE_MAX)) {
		bad_member(r, "drop");
		goto out_put;
	}
	size_t di;
	json_t *dv;
	json_array_foreach(da, di, dv) {
		if (!json_is_integer(dv) || json_integer_value(dv) < 0) {
			bad_member(r, "drop");
			goto out_put;
		}
	}
	int rc = 0;
	/* "drop": chunks granted with the create and never written */
	json_array_foreach(da, di, dv) {
		if (rc == 0)
			rc = cm_drop_unwritten(m->cm, ino, (uint64_t)json_integer_value(dv), session);
	}
	if (rc == 0)
		rc = ns_commit_at(m->ns, ino, size, session, rel, nrel, has_when ? &when : NULL, &a);
	if (rc == 0 && so)
		rc = ns_setattr(m->ns, ino, &sa, &a);
	if (rc < 0) {
		http_reply_error(r, rc, "commit %llu: %s", (unsigned long long)ino,
				 strerror(-rc));
		goto out_put;
	}
	/* the create's grant given back (or dropped): no commit on its way */
	bool first = false;
	for (size_t i = 0; i < nrel; i++)
		first = first || rel[i] == 0;
	json_array_foreach(da, di, dv) {
		first = first || json_integer_value(dv) == 0;
	}
	if (first)
		sess_fresh_done(m->sess, session, ino);
	commit_told(m, r, ino);
	/* fsync: the size (and every earlier change) on the master's disk */
	rc = durable ? meta_sync(m->ms) : 0;
	if (rc < 0)
		http_reply_error(r, rc, "commit %llu: committed, but the metadata is not "
				 "known to be on disk: %s", (unsigned long long)ino,
				 strerror(-rc));
	else
		reply_attr(r, &a);
out_put:
	free(rel);
	json_decref(b);
}

/* {} or {"ino"}: fsyncdir — every metadata change made before the call
 * (entries, attributes, sizes) on the master's disk before the reply.
 * "ino" is checked but not used yet: everything is synced. */
static void h_sync(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;

	if (!b)
		return;
	if (ju_u64_opt(b, "ino", 0, &ino) < 0) {
		bad_member(r, "ino");
		goto out_put;
	}
	int rc = meta_sync(m->ms);
	if (rc < 0)
		http_reply_error(r, rc, "sync: the metadata is not known to be on disk: %s",
				 strerror(-rc));
	else
		reply_empty(r);
out_put:
	json_decref(b);
}

static void h_replica_failed(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t chunk_id;
	uint32_t version;
	const char *worker_id;

	if (!b)
		return;
	if (ju_chunk_id(b, "chunk_id", &chunk_id) < 0) {
		bad_member(r, "chunk_id");
		goto out_put;
	}
	GET_U32(b, "version", version);
	GET_STR(b, "worker_id", WORKER_ID_STRLEN, worker_id);
	if (!worker_id_valid(worker_id)) {
		bad_member(r, "worker_id");
		goto out_put;
	}
	int rc = cm_replica_failed(m->cm, chunk_id, version, worker_id);
	if (rc < 0) {
		http_reply_error(r, rc, "replica_failed %016llx: %s",
				 (unsigned long long)chunk_id, strerror(-rc));
		goto out_put;
	}
	json_t *ev = json_pack("{s:s, s:I, s:s}", "worker_id", worker_id, "version",
			       (json_int_t)version, "reason", "client reported a failed replica");
	ju_set_chunk_id(ev, "chunk_id", chunk_id);
	kstatus_event(m->ks, "replica_corrupt", ev);
	repair_kick(m->rep);
	reply_empty(r);
out_put:
	json_decref(b);
}

/* ---- sessions, opens and locks ------------------------------------------ */

#define SESSION_INOS_MAX (1u << 20)
#define ATIME_INOS_MAX 4096

/* The required "session" member: a valid session id, else 400. */
static int get_session(json_t *b, struct http_request *r, const char **ret)
{
	const char *id;
	if (ju_str(b, "session", SESS_ID_MAX, &id) < 0 || !sess_id_valid(id)) {
		bad_member(r, "session");
		return -EINVAL;
	}
	*ret = id;
	return 0;
}

/* Optional array of at most max inode numbers under key: *ret malloc'ed
 * (NULL when absent or empty). Replies 400 itself on a bad member. */
static int get_inos(json_t *b, struct http_request *r, const char *key, size_t max,
		    uint64_t **ret, size_t *ret_n)
{
	json_t *arr = json_object_get(b, key);
	*ret = NULL;
	*ret_n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max) {
		bad_member(r, key);
		return -EINVAL;
	}
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	uint64_t *v = malloc(n * sizeof(*v));
	if (!v) {
		reply_err(r, -ENOMEM, key);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(arr, i);
		if (!json_is_integer(x) || json_integer_value(x) <= 0) {
			free(v);
			bad_member(r, key);
			return -EINVAL;
		}
		v[i] = (uint64_t)json_integer_value(x);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static const char *const lk_type_names[] = { "u", "r", "w" };

/* The members of one lock: ino, kind, owner, type, start, end, pid. */
static int parse_lock(const json_t *o, struct sess_decl_lock *l, const char **ret_bad)
{
	const char *kind, *type;
	uint64_t end;

	memset(l, 0, sizeof(*l));
	if (ju_u64(o, "ino", &l->ino) < 0 || l->ino == 0)
		return *ret_bad = "ino", -EINVAL;
	if (ju_str_opt(o, "kind", 8, "posix", &kind) < 0 ||
	    (strcmp(kind, "posix") != 0 && strcmp(kind, "flock") != 0))
		return *ret_bad = "kind", -EINVAL;
	l->kind = strcmp(kind, "flock") == 0 ? LK_FLOCK : LK_POSIX;
	/* owner: the kernel's 64-bit lock owner, as 16 hex digits */
	if (ju_chunk_id(o, "owner", &l->owner) < 0)
		return *ret_bad = "owner", -EINVAL;
	if (ju_str(o, "type", 1, &type) < 0)
		return *ret_bad = "type", -EINVAL;
	if (type[0] == 'u')
		l->type = LK_UNLCK;
	else if (type[0] == 'r')
		l->type = LK_RDLCK;
	else if (type[0] == 'w')
		l->type = LK_WRLCK;
	else
		return *ret_bad = "type", -EINVAL;
	if (ju_u64_opt(o, "start", 0, &l->start) < 0 || l->start > LK_EOF)
		return *ret_bad = "start", -EINVAL;
	if (ju_u64_opt(o, "end", LK_EOF, &end) < 0 || end > LK_EOF || end < l->start)
		return *ret_bad = "end", -EINVAL;
	l->end = end;
	if (ju_u32_opt(o, "pid", 0, &l->pid) < 0)
		return *ret_bad = "pid", -EINVAL;
	return 0;
}

/* unlink, rmdir, rename: optional "session" + "close" (the mount's
 * queued closes, applied first, as a heartbeat would). Replies 400 itself
 * on bad members; an unknown session is ignored. */
static int apply_closes(struct master *m, json_t *b, struct http_request *r)
{
	const char *session;
	uint64_t *closes = NULL;
	size_t n = 0;

	if (!ju_has(b, "close"))
		return 0;
	if (get_session(b, r, &session) < 0 || get_inos(b, r, "close", SESSION_INOS_MAX, &closes, &n) < 0)
		return -EINVAL;
	sess_heartbeat(m->sess, session, closes, n);
	free(closes);
	return 0;
}

/* {"inos": [ino, ..]}: a mount read these inodes (relatime; removed
 * inodes are skipped). Answers how many it took in. */
static void h_atime(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t *inos = NULL;
	size_t n = 0;

	if (!b)
		return;
	if (!json_is_array(json_object_get(b, "inos"))) {
		bad_member(r, "inos"); /* required: get_inos takes absent as none */
		goto out_put;
	}
	if (get_inos(b, r, "inos", ATIME_INOS_MAX, &inos, &n) < 0)
		goto out_put;
	int rc = ns_atime_read(m->ns, inos, n);
	if (rc < 0)
		reply_err(r, rc, "atime");
	else
		http_reply_json(r, 200, json_pack("{s:I}", "noted", (json_int_t)n));
	free(inos);
out_put:
	json_decref(b);
}

/* inval_sole_fn: the one live session is origin's (an export of the
 * whole namespace: h_events answers only those). */
static bool sole_eligible(void *arg, uint64_t origin)
{
	return sess_only_origin(arg, origin);
}

/* Long poll for what others changed (inval_log.h): {"log", "since",
 * "wait_ms"} -> {"log", "last", "reset", "e": [[folder, name]], "i":
 * [ino]}. {"wake": true} ends the caller's own poll at once. Without "since", or with another log's id, it answers at once
 * with where the log stands (a reset when a log was named). Entry names
 * are only for mounts of the whole namespace: a mount of a subfolder
 * gets EPERM and keeps short kernel timeouts. */
static void h_events(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const struct asess_export *exp = req_export(r);
	uint64_t since, wait_ms;
	const char *log_id = NULL;

	if (!b)
		return;
	if (!exp || !exp->whole) {
		http_reply_error(r, EPERM, "events: only for mounts of the whole namespace");
		goto out_put;
	}
	if (ju_u64_opt(b, "since", 0, &since) < 0) {
		bad_member(r, "since");
		goto out_put;
	}
	if (ju_u64_opt(b, "wait_ms", 0, &wait_ms) < 0 || wait_ms > INVAL_WAIT_MAX_MS) {
		bad_member(r, "wait_ms");
		goto out_put;
	}
	json_t *jl = json_object_get(b, "log");
	if (jl && !(log_id = json_string_value(jl))) {
		bad_member(r, "log");
		goto out_put;
	}
	bool wake;
	if (ju_bool_opt(b, "wake", false, &wake) < 0) {
		bad_member(r, "wake");
		goto out_put;
	}
	if (wake) {       /* the mount goes away: its poll returns now */
		inval_log_wake(m->il, inval_origin(exp->id));
		reply_empty(r);
		goto out_put;
	}
	bool reset = false, sole = false;
	json_t *ev = NULL;
	uint64_t last;
	if (!log_id || strcmp(log_id, inval_log_id(m->il)) != 0 ||
	    !json_object_get(b, "since")) {
		reset = log_id != NULL;
		last = inval_log_last(m->il);
		inval_log_joined(m->il, inval_origin(exp->id));
		ev = json_pack("{s:[], s:[]}", "e", "i");
	} else {
		uint64_t origin = inval_origin(exp->id);
		if (inval_log_read_sole(m->il, origin, since, (int)wait_ms, INVAL_READ_MAX,
					sole_eligible, m->sess, &ev, &last, &reset, &sole) < 0)
			ev = NULL;
	}
	if (!ev) {
		reply_err(r, -ENOMEM, "events");
		goto out_put;
	}
	json_object_set_new(ev, "log", json_string(inval_log_id(m->il)));
	json_object_set_new(ev, "last", json_integer((json_int_t)last));
	json_object_set_new(ev, "reset", json_boolean(reset));
	if (sole)
		json_object_set_new(ev, "sole", json_true());
	http_reply_json(r, 200, ev);
out_put:
	json_decref(b);
}

static void h_open(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session;
	uint64_t ino, nchunks;

	if (!b)
		return;
	GET_U64(b, "ino", ino);
	if (get_session(b, r, &session) < 0)
		goto out_put;
	if (ju_u64_opt(b, "chunks", 0, &nchunks) < 0 || nchunks > OPEN_CHUNKS_MAX) {
		bad_member(r, "chunks");
		goto out_put;
	}
	/* read-atime reports riding on the open (see h_atime); applied
	 * first, and whatever the open's fate */
	uint64_t *atimes = NULL;
	size_t natimes = 0;
	if (get_inos(b, r, "atime", ATIME_INOS_MAX, &atimes, &natimes) < 0)
		goto out_put;
	int rc = natimes ? ns_atime_read(m->ns, atimes, natimes) : 0;
	free(atimes);
	if (rc < 0)
		log_warn("atime of %zu inodes with an open: %s", natimes, strerror(-rc));
	rc = ns_open(m->ns, ino, session);
	if (rc < 0) {
		http_reply_error(r, rc, "open %llu for session %s: %s", (unsigned long long)ino,
				 session, strerror(-rc));
		goto out_put;
	}
	writers_told(m, r, 0, ino);
	/* The locations of the first chunks with the open: a reader of a
	 * small file saves its first /v1/chunks round trip. */
	json_t *reply = NULL;
	if (nchunks == 0 || chunks_json(m, ino, 0, nchunks, &reply) < 0)
		reply = json_object();
	/* Close-to-open: the last change of another client that this
	 * mount's change feed will bring it. The mount answers the open once
	 * its feed has brought that far (its kernel then has forgotten what
	 * those changes made old: another mount's append just closed). */
	const struct asess_export *exp = req_export(r);
	if (reply && exp && exp->whole)
		json_object_set_new(reply, "feed",
				    json_pack("{s:s, s:I}", "log", inval_log_id(m->il), "seq",
					      (json_int_t)inval_log_last_other(
						      m->il, inval_origin(exp->id))));
	http_reply_json(r, 200, reply);
out_put:
	json_decref(b);
}

static void h_lock(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session, *bad = NULL;
	struct sess_decl_lock l;
	struct lk_range *held = NULL;
	size_t n = 0;
	bool wait, cancel;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0)
		goto out_put;
	if (parse_lock(b, &l, &bad) < 0) {
		bad_member(r, bad);
		goto out_put;
	}
	if (ju_bool_opt(b, "wait", false, &wait) < 0) {
		bad_member(r, "wait");
		goto out_put;
	}
	if (ju_bool_opt(b, "cancel", false, &cancel) < 0) {
		bad_member(r, "cancel");
		goto out_put;
	}
	/* flags for locks.c ride in the type (see locks.h) */
	unsigned flags = LK_F_NEW | (wait ? LK_F_WAIT : 0) | (cancel ? LK_F_CANCEL : 0);
	int rc = sess_lock(m->sess, session, l.ino, l.kind, l.owner, l.pid,
			   (enum lk_type)((unsigned)l.type | flags), l.start, l.end, &held, &n);
	if (rc < 0) {
		const char *why = rc == -EDEADLK ? "waiting would deadlock"
				  : rc != -EAGAIN ? strerror(-rc)
				  : locks_grace_left_ms(m->locks) > 0
				  ? "grace period after the master's start: only locks held before "
				    "are granted"
				  : "held by another owner";
		http_reply_error(r, rc, "lock on %llu: %s", (unsigned long long)l.ino, why);
		goto out_put;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "type",
						     lk_type_names[held[i].type], "start",
						     (json_int_t)held[i].start, "end",
						     (json_int_t)held[i].end));
	free(held);
	http_reply_json(r, 200, json_pack("{s:o}", "held", arr));
out_put:
	json_decref(b);
}

static void h_lock_test(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session, *bad = NULL;
	struct sess_decl_lock l;
	struct lk_range c;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0)
		goto out_put;
	if (parse_lock(b, &l, &bad) < 0) {
		bad_member(r, bad);
		goto out_put;
	}
	int rc = sess_lock_test(m->sess, session, l.ino, l.kind, l.owner,
				(enum lk_type)((unsigned)l.type | LK_F_NEW), l.start, l.end, &c);
	if (rc < 0)
		http_reply_error(r, rc, "lock test on %llu: %s", (unsigned long long)l.ino,
				 rc == -EAGAIN ? "grace period after the master's start: locks held "
				 "before are not all declared yet" : strerror(-rc));
	else if (rc == 0)
		http_reply_json(r, 200, json_pack("{s:s}", "type", "u"));
	else
		http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:I}", "type",
						  lk_type_names[c.type], "start",
						  (json_int_t)c.start, "end", (json_int_t)c.end,
						  "pid", (json_int_t)c.pid));
out_put:
	json_decref(b);
}

static void h_session_open(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session, *host = NULL, *bad = NULL;
	uint64_t *opens = NULL, *lost = NULL;
	size_t nopens = 0, nlost = 0, lost_locks = 0, nlocks = 0;
	struct sess_decl_lock *locks = NULL;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0)
		goto out_put;
	if (ju_str_opt(b, "host_id", SESS_HOST_MAX, NULL, &host) < 0) {
		bad_member(r, "host_id");
		goto out_put;
	}
	if (get_inos(b, r, "opens", SESSION_INOS_MAX, &opens, &nopens) < 0)
		goto out_put;
	json_t *la = json_object_get(b, "locks");
	if (la && !json_is_null(la)) {
		if (!json_is_array(la) || json_array_size(la) > LK_PER_SESSION_MAX) {
			bad_member(r, "locks");
			goto out_put;
		}
		nlocks = json_array_size(la);
		locks = calloc(nlocks ? nlocks : 1, sizeof(*locks));
		if (!locks) {
			reply_err(r, -ENOMEM, "session open");
			goto out_put;
		}
		for (size_t i = 0; i < nlocks; i++) {
			json_t *o = json_array_get(la, i);
			if (!json_is_object(o) || parse_lock(o, &locks[i], &bad) < 0 ||
			    locks[i].type == LK_UNLCK) {
				http_reply_error(r, EINVAL, "locks[%zu]: member '%s' is missing or "
					"has the wrong type or range", i, bad ? bad : "type");
				goto out_put;
			}
		}
	}
	int rc = sess_open(m->sess, session, host, opens, nopens, locks, nlocks, &lost, &nlost,
			   &lost_locks);
	if (rc == 0)
		sess_set_origin(m->sess, session, call_origin(r));
	/* "creates": its mount answers creates itself (fuse/ns_queue.h) */
	if (rc == 0 && json_is_true(json_object_get(b, "creates")))
		sess_names_own(m->sess, session);
	if (rc < 0) {
		http_reply_error(r, rc, "session open %s: %s", session, strerror(-rc));
		goto out_put;
	}
	json_t *arr = ju_u64_array(lost, nlost);
	/* "batch": the ops /v1/batch takes (a mount queues only those) */
	/* "inos": creates may name their inode (/v1/inos, fuse/ns_queue.h) */
	http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:o, s:I, s:b, s:o, s:b}",
					  "session", session,
					  "timeout_ms", (json_int_t)sess_timeout_ms(m->sess),
					  "heartbeat_ms", (json_int_t)sess_heartbeat_ms(m->sess),
					  "lost_opens", arr, "lost_locks", (json_int_t)lost_locks,
					  "quotas", ns_quotas_exist(m->ns) > 0, "batch",
					  batch_kinds_json(), "inos", 1));
out_put:
	free(lost);
	free(locks);
	free(opens);
	json_decref(b);
}

/* A heartbeat's reply: {"down_workers": [ids]}, the registered workers
 * not live now, so mounts stop waiting on them (fuse/worker_health.c). */
static void reply_down_workers(struct master *m, struct http_request *r)
{
	struct wreg_info *ws = NULL;
	size_t n = 0;
	json_t *down = json_array();
	if (!down || wreg_snapshot(m->reg, false, &ws, &n) < 0) {
		json_decref(down);
		reply_empty(r);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!ws[i].live)
			json_array_append_new(down, json_string(ws[i].id));
	free(ws);
	/* quotas: whether a mount must ask for room before it grows a file */
	http_reply_json(r, 200, json_pack("{s:o, s:b}", "down_workers", down, "quotas",
					  ns_quotas_exist(m->ns) > 0));
}

static void h_session_heartbeat(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session;
	uint64_t *closes = NULL;
	size_t n = 0;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0 || get_inos(b, r, "close", SESSION_INOS_MAX, &closes, &n) < 0)
		goto out_put;
	int rc = sess_heartbeat(m->sess, session, closes, n);
	if (rc == 0)
		sess_set_origin(m->sess, session, call_origin(r));
	/* "creates": its mount answers creates itself (fuse/ns_queue.h) */
	if (rc == 0 && json_is_true(json_object_get(b, "creates")))
		sess_names_own(m->sess, session);
	if (rc < 0)
		http_reply_error(r, rc, "session %s: %s", session,
				 rc == -ESTALE ? "unknown or timed out" : strerror(-rc));
	else
		reply_down_workers(m, r);
out_put:
	free(closes);
	json_decref(b);
}

static void h_session_close(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *session;

	if (!b)
		return;
	if (get_session(b, r, &session) < 0)
		goto out_put;
	int rc = sess_close(m->sess, session);
	if (rc == 0 && (rc = ns_release_inos(m->ns, session)) < 0)
		rc = 0;   /* the ranges stay: numbers skipped, nothing more */
	if (rc < 0)
		http_reply_error(r, rc, "session close %s: %s", session, strerror(-rc));
	else
		reply_empty(r);
out_put:
	json_decref(b);
}

/* ---- cluster ---------------------------------------------------------- */

static void h_cluster_info(struct master *m, struct http_request *r)
{
	http_reply_json(r, 200,
			json_pack("{s:s, s:s, s:s, s:I}", "cluster_id", meta_cluster_id(m->ms),
				  "kafka_bootstrap", kstatus_bootstrap(m->ks), "status_topic",
				  KSTATUS_TOPIC_STATUS, "status_interval_ms",
				  (json_int_t)m->status_interval_ms));
}

static void h_register(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *id, *addr;
	uint64_t cap, used, *del = NULL;
	size_t ndel = 0, n = 0;
	struct cm_reported *rep = NULL;

	if (!b)
		return;
	GET_STR(b, "worker_id", WORKER_ID_STRLEN, id);
	if (!worker_id_valid(id)) {
		bad_member(r, "worker_id");
		goto out_put;
	}
	GET_STR(b, "addr", WREG_ADDR_MAX - 1, addr);
	if (!wreg_addr_valid(addr)) {
		bad_member(r, "addr");
		goto out_put;
	}
	GET_U64(b, "capacity", cap);
	GET_U64(b, "used", used);
	json_t *arr = json_object_get(b, "chunks");
	if (arr && !json_is_null(arr)) {
		if (!json_is_array(arr)) {
			bad_member(r, "chunks");
			goto out_put;
		}
		n = json_array_size(arr);
		rep = malloc((n ? n : 1) * sizeof(*rep));
		if (!rep) {
			reply_err(r, -ENOMEM, "register");
			goto out_put;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *c = json_array_get(arr, i);
			uint64_t len;
			if (!json_is_object(c) || ju_chunk_id(c, "chunk_id", &rep[i].chunk_id) < 0 ||
			    ju_u32(c, "version", &rep[i].version) < 0 ||
			    ju_u64_opt(c, "length", 0, &len) < 0) {
				http_reply_error(r, EINVAL, "chunks[%zu] is not {chunk_id, version, length}", i);
				goto out_put;
			}
		}
	}
	int rc = cm_register(m->cm, id, addr, cap, used, rep, n, &del, &ndel);
	if (rc < 0) {
		http_reply_error(r, rc, "register %s: %s", id, strerror(-rc));
		goto out_put;
	}
	log_info("worker %s registered at %s with %zu chunks (%zu to delete)", id, addr, n, ndel);
	if (rc == 1)
		kstatus_event(m->ks, "worker_joined",
			      json_pack("{s:s, s:s}", "worker_id", id, "addr", addr));
	json_t *da = json_array();
	for (size_t i = 0; i < ndel; i++) {
		char s[CHUNK_ID_STRLEN + 1];
		chunk_id_format(del[i], s);
		json_array_append_new(da, json_string(s));
	}
	http_reply_json(r, 200, json_pack("{s:o}", "delete", da));
	repair_kick(m->rep);
out_put:
	free(rep);
	free(del);
	json_decref(b);
}

static void h_workers(struct master *m, struct http_request *r)
{
	struct wreg_info *ws;
	uint64_t *counts;
	size_t n;
	int64_t mono = wreg_now_ms(), wall = cm_wall_ms();

	if (wreg_snapshot(m->reg, false, &ws, &n) < 0) {
		reply_err(r, -ENOMEM, "workers");
		return;
	}
	counts = calloc(n ? n : 1, sizeof(*counts));
	if (!counts || cm_worker_chunk_counts(m->cm, ws, n, counts) < 0) {
		free(counts);
		free(ws);
		reply_err(r, -EIO, "workers");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		int64_t seen = ws[i].last_seen_ms ? wall - (mono - ws[i].last_seen_ms) : 0;
		uint64_t in_bps = 0, out_bps = 0; /* a down worker moves nothing */
		if (ws[i].live && kstatus_worker_rates(m->ks, ws[i].id, &in_bps, &out_bps) < 0)
			in_bps = out_bps = 0;
		json_array_append_new(arr,
			json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "worker_id", ws[i].id,
				  "addr", ws[i].addr, "live", ws[i].live, "capacity",
				  (json_int_t)ws[i].capacity, "used", (json_int_t)ws[i].used,
				  "chunks", (json_int_t)counts[i], "last_seen_ms",
				  (json_int_t)seen, "bytes_in_per_s", (json_int_t)in_bps,
				  "bytes_out_per_s", (json_int_t)out_bps));
		/* "state": live, down, draining or drained; "drain": progress */
		json_t *wj = json_array_get(arr, json_array_size(arr) - 1), *dj;
		json_object_set_new(wj, "state",
				    json_string(drain_worker_state(m->drain, &ws[i], &dj)));
		if (dj)
			json_object_set_new(wj, "drain", dj);
	}
	free(counts);
	free(ws);
	http_reply_json(r, 200, json_pack("{s:o}", "workers", arr));
}

static void h_health(struct master *m, struct http_request *r)
{
	char url[ML_URL_MAX + 1] = "";
	const char *role = "active";
	json_t *o = json_pack("{s:b}", "ok", 1);
	if (!m->ml && !atomic_load(&m->ready))
		role = "starting";
	if (m->ml) {
		struct metalog_stats st;
		metalog_leader_url(m->ml, url, sizeof(url));
		role = not_serving(m) ? "standby" : "active";
		metalog_stats(m->ml, &st);
		json_object_set_new(o, "metalog", json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			"state", metalog_role(m->ml), "epoch", (json_int_t)st.epoch,
			"seq", (json_int_t)st.seq, "offset", (json_int_t)st.offset,
			"lag_ms", (json_int_t)st.lag_ms, "applied", (json_int_t)st.applied,
			"records", (json_int_t)st.records, "checkpoints", (json_int_t)st.checkpoints,
			"checkpoint_seq", (json_int_t)st.checkpoint_seq, "leader", st.leader));
	}
	json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "active", *url ? json_string(url) : json_null());
	http_reply_json(r, 200, o);
}

/* The whole metadata database, as a file (bigfs metadata dump). */
static void h_meta_dump(struct master *m, struct http_request *r)
{
	void *img;
	size_t len;
	int rc = meta_snapshot_quiesced(m->ms, NULL, NULL, &img, &len);
	if (rc < 0) {
		reply_err(r, rc, "metadata dump");
		return;
	}
	void *copy = malloc(len);
	if (!copy) {
		meta_snapshot_free(img);
		reply_err(r, -ENOMEM, "metadata dump");
		return;
	}
	memcpy(copy, img, len);
	meta_snapshot_free(img);
	http_reply_raw(r, 200, copy, len, "application/octet-stream");
}

/* A checkpoint of the metadata log now (bigfs metadata checkpoint). */
static void h_meta_ckpt(struct master *m, struct http_request *r)
{
	if (!m->ml) {
		http_reply_error(r, ENOTSUP, "this master keeps no metadata log (no --kafka)");
		return;
	}
	int rc = metalog_checkpoint(m->ml, 60000);
	if (rc < 0) {
		reply_err(r, rc, "checkpoint");
		return;
	}
	struct metalog_stats st;
	metalog_stats(m->ml, &st);
	http_reply_json(r, 200, json_pack("{s:I}", "seq", (json_int_t)st.checkpoint_seq));
}

static void h_metrics(struct master *m, struct http_request *r)
{
	char *text;
	size_t len;
	int rc = status_page_metrics(m, &text, &len);

	if (rc < 0)
		reply_err(r, rc, "metrics");
	else
		http_reply_raw(r, 200, text, len, "text/plain; version=0.0.4");
}

static void h_status(struct master *m, struct http_request *r)
{
	char *text;
	size_t len;
	int rc = status_page_html(m, &text, &len);

	if (rc < 0)
		reply_err(r, rc, "status page");
	else
		http_reply_raw(r, 200, text, len, "text/html; charset=utf-8");
}

/* ---- table ------------------------------------------------------------ */

/* After any handler: the folders it changed that no reply_changed
 * accounted for (an operator's snapshot or trash restore, ...) revoke
 * other mounts' leases on them, and the reply (queued, sent once this
 * returns) waits until those have run out. */
static void settle_leases(struct master *m, struct http_request *r)
{
	const struct ns_touch *t;
	int64_t until = 0;
	if (ns_touch_get(&t) > 0)
		json_decref(touched_json(m, r, &until));
	else if (!names_changed)
		return;          /* most calls change no folder */
	wait_leases(m, r, until);
}

/* A mount that is the only client opens files without asking
 * (inval_log.h sole use): a call that may change what it would read,
 * from anyone else, waits until it no longer does. Calls that change
 * nothing pass: reads of the namespace, the feed itself, locks, a
 * session's heartbeat or close. Returns whether inval_log_sole_leave is
 * due after the call. */
static bool sole_enter(struct master *m, const struct http_request *r, enum route_id id,
		       enum route_auth auth)
{
	/* an operator's POSTs may change files (trash, snapshots, drains);
	 * a worker's registration and a checkpoint do not */
	bool op = auth == A_CLUSTER && strcmp(http_req_method(r), "GET") != 0 &&
		  id != R_REGISTER && id != R_META_CKPT;
	bool changes = auth == A_WRITE || op || id == R_OPEN || id == R_SESSION_OPEN;
	if (!changes || !m->il)
		return false;
	uint64_t origin = call_origin(r);
	/* a mount's session opened since this master started: it waited */
	bool floor = id == R_SESSION_OPEN || !sess_origin_live(m->sess, origin);
	return inval_log_sole_enter(m->il, origin, floor, SOLE_END_MS);
}

/* Whose changes the call makes (inval_log.h): the signing mount's. */
static uint64_t call_origin(const struct http_request *r)
{
	const struct asess_export *e = req_export(r);
	return e ? inval_origin(e->id) : 0;
}

#define X(id, meth, path, body, auth, fn)                              \
	static void w_##id(void *ctx, struct http_request *r)          \
	{                                                              \
		struct master *m = ctx;                                \
		struct asess_export exp;                               \
		memset(&exp, 0, sizeof(exp));                          \
		atomic_fetch_add(&m->api->counts[R_##id], 1);          \
		if (R_##id != R_HEALTH && not_serving(m)) {            \
			reply_standby(m, r);                           \
			return;                                        \
		}                                                      \
		if (!api_auth(m, r, auth, &exp) ||                     \
		    !squash_check(m, r, R_##id))                       \
			return;                                        \
		repair_note_client_call(m->rep);                       \
		ns_touch_reset();                                      \
		inval_set_origin(call_origin(r));                      \
		bool sole_held = sole_enter(m, r, R_##id, auth);       \
		if (auth == A_WRITE)                                   \
			creator_told(m, r, http_req_json_peek(r));     \
		fn(m, r);                                              \
		if (sole_held)                                         \
			inval_log_sole_leave(m->il);                   \
		inval_set_origin(0);                                   \
		settle_leases(m, r);                                   \
	}
API_ROUTES(X)
#undef X

static const struct http_route routes[] = {
#define X(id, meth, path, body, auth, fn) { meth, path, false, body, w_##id },
	API_ROUTES(X)
#undef X
	{ NULL, NULL, false, 0, NULL },
};

int http_api_start(struct master *m, const char *listen_addr, struct http_api **ret)
{
	struct http_api *api = calloc(1, sizeof(*api));
	int rc;

	if (!api)
		return -ENOMEM;
	m->api = api;     /* handlers count through m->api */
	the_master = m;
	rc = http_server_start(&api->srv, listen_addr, routes, m);
	if (rc < 0) {
		m->api = NULL;
		free(api);
		return rc;
	}
	*ret = api;
	return 0;
}

uint16_t http_api_port(const struct http_api *api)
{
	return http_server_port(api->srv);
}

void http_api_stop(struct http_api *api)
{
	if (!api)
		return;
	http_server_stop(api->srv);
	free(api);
}

void http_api_foreach_count(const struct http_api *api,
			    void (*fn)(const char *route, uint64_t count, void *arg),
			    void *arg)
{
	for (int i = 0; i < R_COUNT; i++)
		fn(route_names[i], atomic_load(&api->counts[i]), arg);
}

void http_api_foreach_batch_count(const struct http_api *api,
				  void (*fn)(const char *op, uint64_t count, void *arg), void *arg)
{
	for (size_t i = 0; i < sizeof(BATCH_KINDS) / sizeof(BATCH_KINDS[0]); i++)
		fn(BATCH_KINDS[i].op, atomic_load(&api->batch_counts[BATCH_KINDS[i].route]), arg);
}
