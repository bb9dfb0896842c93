/* ops_api — the operator's routes: trash, snapshots, quotas, file info
 * and the cluster summary (docs/api.md "Operations").
 *
 * Handlers as in http_api.c: parse and check the body, call one module
 * function, reply JSON or an errno. A file or folder is named by "ino"
 * or by "path" from the root of the namespace. No state of its own. */
#include "ops_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk_map.h"
#include "drain.h"
#include "inval_log.h"
#include "kafka_status.h"
#include "log.h"
#include "json_util.h"
#include "master.h"
#include "namespace.h"
#include "repair.h"

#define PATH_IN_MAX 65536
#define TRASH_LIST_DEFAULT 1000
#define TRASH_LIST_MAX 100000

/* The inode a body names by "ino" or "path". false after replying. */
static bool target(struct master *m, struct http_request *r, const json_t *b,
		   const char *ino_key, const char *path_key, uint64_t *ret)
{
	const json_t *p = json_object_get(b, path_key);
	int rc;

	if (json_object_get(b, ino_key)) {
		if (ju_u64(b, ino_key, ret) < 0 || *ret == 0) {
			api_bad_member(r, ino_key);
			return false;
		}
		return true;
	}
	if (json_is_integer(p)) {   /* "src": 42 names an inode too */
		if (ju_u64(b, path_key, ret) < 0 || *ret == 0) {
			api_bad_member(r, path_key);
			return false;
		}
		return true;
	}
	if (!json_is_string(p) || json_string_length(p) > PATH_IN_MAX) {
		http_reply_error(r, EINVAL, "name the file by \"%s\" (a number) or \"%s\""
				 " (a path from the root)", ino_key, path_key);
		return false;
	}
	rc = ns_lookup_path(m->ns, json_string_value(p), ret);
	if (rc < 0) {
		http_reply_error(r, rc, "%s %s: %s", path_key, json_string_value(p),
				 strerror(-rc));
		return false;
	}
	return true;
}

void ops_h_trash_list(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r), *out = NULL;
	const char *path = NULL;
	uint32_t limit = TRASH_LIST_DEFAULT;

	if (json_object_get(b, "path") && ju_str(b, "path", PATH_IN_MAX, &path) < 0) {
		api_bad_member(r, "path");
		goto out_put;
	}
	if (ju_u32_opt(b, "limit", TRASH_LIST_DEFAULT, &limit) < 0 || limit == 0 ||
	    limit > TRASH_LIST_MAX) {
		api_bad_member(r, "limit");
		goto out_put;
	}
	int rc = ns_trash_list(m->ns, path, limit, &out);
	if (rc < 0)
		api_reply_err(r, rc, "trash list");
	else
		http_reply_json(r, 200, out);
out_put:
	json_decref(b);
}

/* An operator's change of names (a snapshot, a restore from the trash)
 * is answered once every mount's change feed has brought it to its
 * kernel and its folder listings (at most OPS_TOLD_MS): a mount then
 * finds the new name at once, as when it asks the master itself. */
#define OPS_TOLD_MS 200
static void ops_told(struct master *m)
{
	if (!inval_log_wait_told(m->il, NULL, 0, inval_log_last(m->il), OPS_TOLD_MS))
		log_debug("operator change: mounts' change feeds not caught up after %d ms",
			  OPS_TOLD_MS);
}

void ops_h_trash_restore(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	const char *to = NULL;
	char *path = NULL;
	uint64_t id, ino;

	if (ju_u64(b, "id", &id) < 0 || id == 0) {
		api_bad_member(r, "id");
		goto out_put;
	}
	if (json_object_get(b, "to") && ju_str(b, "to", PATH_IN_MAX, &to) < 0) {
		api_bad_member(r, "to");
		goto out_put;
	}
	int rc = ns_trash_restore(m->ns, id, to, &ino, &path);
	if (rc == -ENOENT && !to)
		http_reply_error(r, ENOENT, "trash entry %llu: no such entry, or the folder it"
				 " was in is gone (restore it with \"to\")", (unsigned long long)id);
	else if (rc == -EEXIST)
		http_reply_error(r, EEXIST, "trash entry %llu: its name is taken (restore it"
				 " with \"to\")", (unsigned long long)id);
	else if (rc < 0)
		api_reply_err(r, rc, "trash restore");
	else {
		ops_told(m);
		http_reply_json(r, 200, json_pack("{s:I, s:s}", "ino", (json_int_t)ino,
						  "path", path));
	}
	free(path);
out_put:
	json_decref(b);
}

void ops_h_trash_purge(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t id = 0, files = 0, bytes = 0;

	if (ju_u64_opt(b, "id", 0, &id) < 0) {
		api_bad_member(r, "id");
		goto out_put;
	}
	int rc = ns_trash_purge(m->ns, id, &files, &bytes);
	if (rc < 0) {
		api_reply_err(r, rc, "trash purge");
	} else {
		repair_kick(m->rep);   /* the chunks' deletions are queued */
		http_reply_json(r, 200, json_pack("{s:I, s:I}", "files", (json_int_t)files,
						  "bytes", (json_int_t)bytes));
	}
out_put:
	json_decref(b);
}

void ops_h_snapshot(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	struct ns_snapshot_result res;
	char name[NS_NAME_MAX + 1];
	const char *dst = NULL, *dname = NULL;
	uint64_t src, parent;
	int rc;

	if (!target(m, r, b, "src_ino", "src", &src))
		goto out_put;
	if (json_object_get(b, "dst_parent")) {
		if (ju_u64(b, "dst_parent", &parent) < 0) {
			api_bad_member(r, "dst_parent");
			goto out_put;
		}
		if (ju_str(b, "dst_name", NS_NAME_MAX + 1, &dname) < 0) {
			api_bad_member(r, "dst_name");
			goto out_put;
		}
		snprintf(name, sizeof(name), "%s", dname);
	} else {
		if (ju_str(b, "dst", PATH_IN_MAX, &dst) < 0) {
			api_bad_member(r, "dst");
			goto out_put;
		}
		rc = ns_lookup_parent(m->ns, dst, &parent, name);
		if (rc < 0) {
			http_reply_error(r, rc, "dst %s: %s", dst, strerror(-rc));
			goto out_put;
		}
	}
	rc = ns_snapshot(m->ns, src, parent, name, &res);
	if (rc == -EBUSY)
		http_reply_error(r, EBUSY, "a file in the snapshot is being written (a write"
				 " lease is held); try again once it is closed");
	else if (rc == -EINVAL)
		http_reply_error(r, EINVAL, "a snapshot cannot go inside its own source, and"
				 " needs a valid name");
	else if (rc < 0)
		api_reply_err(r, rc, "snapshot");
	else {
		ops_told(m);
		http_reply_json(r, 200, json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)res.ino,
						  "inodes", (json_int_t)res.inodes,
						  "chunks", (json_int_t)res.chunks));
	}
out_put:
	json_decref(b);
}

/* A limit member: absent keeps *v. */
static bool limit_opt(struct http_request *r, const json_t *b, const char *key, uint64_t *v)
{
	if (ju_u64_opt(b, key, *v, v) < 0 || *v > INT64_MAX) {
		api_bad_member(r, key);
		return false;
	}
	return true;
}

void ops_h_quota_set(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r), *out = NULL, *old = NULL;
	struct ns_quota_limits l = { 0 };
	uint64_t ino;

	if (!target(m, r, b, "ino", "path", &ino))
		goto out_put;
	/* limits not named keep their value */
	if (ns_quota_get(m->ns, ino, &old) == 0) {
		l.bytes_soft = (uint64_t)json_integer_value(json_object_get(old, "bytes_soft"));
		l.bytes_hard = (uint64_t)json_integer_value(json_object_get(old, "bytes_hard"));
		l.inodes_soft = (uint64_t)json_integer_value(json_object_get(old, "inodes_soft"));
		l.inodes_hard = (uint64_t)json_integer_value(json_object_get(old, "inodes_hard"));
		l.grace_s = (uint64_t)json_integer_value(json_object_get(old, "grace_s"));
		json_decref(old);
	}
	if (!limit_opt(r, b, "bytes_soft", &l.bytes_soft) ||
	    !limit_opt(r, b, "bytes_hard", &l.bytes_hard) ||
	    !limit_opt(r, b, "inodes_soft", &l.inodes_soft) ||
	    !limit_opt(r, b, "inodes_hard", &l.inodes_hard) ||
	    !limit_opt(r, b, "grace_s", &l.grace_s))
		goto out_put;
	if ((l.bytes_soft && l.bytes_hard && l.bytes_soft > l.bytes_hard) ||
	    (l.inodes_soft && l.inodes_hard && l.inodes_soft > l.inodes_hard)) {
		http_reply_error(r, EINVAL, "a soft limit above its hard limit");
		goto out_put;
	}
	int rc = ns_quota_set(m->ns, ino, &l, &out);
	if (rc == -ENOTDIR)
		http_reply_error(r, ENOTDIR, "quotas are set on folders");
	else if (rc < 0)
		api_reply_err(r, rc, "quota set");
	else
		http_reply_json(r, 200, out);
out_put:
	json_decref(b);
}

void ops_h_quota_get(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r), *out = NULL;
	uint64_t ino;

	if (!target(m, r, b, "ino", "path", &ino))
		goto out_put;
	int rc = ns_quota_get(m->ns, ino, &out);
	if (rc == -ENOENT)
		http_reply_error(r, ENOENT, "inode %llu has no quota", (unsigned long long)ino);
	else if (rc < 0)
		api_reply_err(r, rc, "quota get");
	else
		http_reply_json(r, 200, out);
out_put:
	json_decref(b);
}

void ops_h_quota_remove(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino;

	if (!target(m, r, b, "ino", "path", &ino))
		goto out_put;
	int rc = ns_quota_remove(m->ns, ino);
	if (rc == -ENOENT)
		http_reply_error(r, ENOENT, "inode %llu has no quota", (unsigned long long)ino);
	else if (rc < 0)
		api_reply_err(r, rc, "quota remove");
	else
		http_reply_json(r, 200, json_object());
out_put:
	json_decref(b);
}

void ops_h_quota_list(struct master *m, struct http_request *r)
{
	json_t *out = NULL;
	int rc = ns_quota_list(m->ns, &out);

	if (rc < 0)
		api_reply_err(r, rc, "quota list");
	else
		http_reply_json(r, 200, json_pack("{s:o}", "quotas", out));
}

void ops_h_fileinfo(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r), *chunks = NULL;
	struct ns_attr a;
	uint32_t tt = 0;
	char *path = NULL;
	uint64_t ino;
	int rc;

	if (!target(m, r, b, "ino", "path", &ino))
		goto out_put;
	rc = ns_getattr(m->ns, ino, &a);
	if (rc == 0)
		rc = ns_trashtime_get(m->ns, ino, &tt);
	if (rc == 0 && ns_path(m->ns, ino, &path) < 0)
		path = NULL;   /* no name: unlinked, or in the trash */
	if (rc == 0 && S_ISREG(a.mode))
		rc = cm_fileinfo(m->cm, ino, &chunks);
	if (rc < 0) {
		api_reply_err(r, rc, "fileinfo");
	} else {
		http_reply_json(r, 200, json_pack(
			"{s:I, s:s?, s:o, s:I, s:I, s:o}", "ino", (json_int_t)ino, "path", path,
			"attr", api_attr_json(&a), "goal", (json_int_t)a.goal,
			"trashtime", (json_int_t)tt, "chunks", chunks ? chunks : json_array()));
	}
	free(path);
out_put:
	json_decref(b);
}

void ops_h_quota_room(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t ino, size = 0;
	int64_t room = -1;

	if (ju_u64(b, "ino", &ino) < 0) {
		api_bad_member(r, "ino");
		goto out_put;
	}
	int rc = ns_quota_room(m->ns, ino, &room, &size);
	if (rc < 0)
		api_reply_err(r, rc, "quota room");
	else
		http_reply_json(r, 200, json_pack("{s:o, s:I}", "room",
						  room < 0 ? json_null() : json_integer(room),
						  "size", (json_int_t)size));
out_put:
	json_decref(b);
}

#define SUMMARY_EVENTS 50

/* GET /v1/cluster/summary (public, like the status page): the whole
 * cluster at a glance, for the console and `bigfs status`. */
void ops_h_summary(struct master *m, struct http_request *r)
{
	struct cm_stats cs;
	struct repair_stats rs;
	uint64_t tfiles = 0, tbytes = 0;
	json_t *quotas = NULL, *drains;
	int rc = cm_stats(m->cm, &cs);

	if (rc == 0)
		rc = ns_trash_totals(m->ns, &tfiles, &tbytes);
	if (rc == 0)
		rc = ns_quota_list(m->ns, &quotas);
	if (rc < 0) {
		json_decref(quotas);
		api_reply_err(r, rc, "cluster summary");
		return;
	}
	repair_get_stats(m->rep, &rs);
	json_t *o = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I}, s:o, s:o}",
		"chunks", (json_int_t)cs.chunks, "inodes", (json_int_t)cs.inodes,
		"replicas", (json_int_t)cs.replicas, "pending_deletes", (json_int_t)cs.pending_deletes,
		"chunks_undergoal", (json_int_t)rs.undergoal, "chunks_lost", (json_int_t)rs.lost,
		"repairs", (json_int_t)rs.repairs_in_progress,
		"trash", "files", (json_int_t)tfiles, "bytes", (json_int_t)tbytes,
		"quotas", quotas, "events", kstatus_recent_events(m->ks, SUMMARY_EVENTS));
	drains = drain_summary_json(m);
	if (o && drains)
		json_object_update(o, drains);   /* "rebalance", "drains" */
	json_decref(drains);
	if (!o)
		api_reply_err(r, -ENOMEM, "cluster summary");
	else
		http_reply_json(r, 200, o);
}

/* POST /v1/share: the mount's copy_file_range of whole chunks. */
void ops_h_share(struct master *m, struct http_request *r)
{
	json_t *b = http_req_json(r);
	uint64_t src, src_idx, dst, dst_idx, count, end;
	struct ns_attr a;

	if (ju_u64(b, "src_ino", &src) < 0 || ju_u64(b, "src_index", &src_idx) < 0 ||
	    ju_u64(b, "ino", &dst) < 0 || ju_u64(b, "index", &dst_idx) < 0 ||
	    ju_u64(b, "count", &count) < 0 || ju_u64(b, "size", &end) < 0) {
		http_reply_error(r, EINVAL, "share needs src_ino, src_index, ino, index, count"
				 " and size, each a number");
		goto out_put;
	}
	int rc = ns_share_range(m->ns, src, src_idx, dst, dst_idx, count, end, &a);
	if (rc < 0)
		api_reply_err(r, rc, "share");
	else
		http_reply_json(r, 200, json_pack("{s:o}", "attr", api_attr_json(&a)));
out_put:
	json_decref(b);
}
