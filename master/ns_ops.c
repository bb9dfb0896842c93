/* ns_ops — the operator's side of the namespace: trash, quotas and
 * snapshots (docs/api.md "Operations", docs/operations.md).
 *
 * Trash: a regular file whose last name goes (unlink, or a rename over
 * it) while its trashtime (bigfs.trashtime, inherited from the folder at
 * creation, 86400 s unless set) is above 0 is kept with nlink 0 and a row
 * in `trash` saying where it was and when it expires; its chunks stay.
 * Restore gives it a name again; purge, or the expiry sweep, deletes it
 * (an open one becomes an ordinary orphan, deleted at its last close).
 * The trash counts in no quota.
 *
 * Quotas: a row in `quotas` per folder with limits and its usage, kept
 * up to date by every change in the namespace below it: logical bytes
 * (the sizes of regular files) and inodes (everything below the folder,
 * the folder itself not counted). A hard limit refuses what would pass
 * it with EDQUOT; a soft one may be passed for grace_s, then acts as a
 * hard one until usage is back under it. A file with several names
 * counts once, in the folders of the name it had when the quota was set
 * or it was made, and leaves them when its last name goes.
 *
 * Snapshots: one transaction makes new inodes for the whole tree (same
 * attributes, xattrs, targets) whose chunk slots name the same chunks
 * (chunk_map.c copies a shared chunk at its next write). A tree with a
 * chunk being written (a write lease held) is refused with EBUSY: there
 * is no point in time to copy. Hard links inside the tree become
 * separate files.
 *
 * Every function here runs in a transaction on the store: the public
 * ones open their own, the _locked ones (ns_internal.h) run in the
 * caller's. */
#include "ns_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

#define PATH_MAX_DEPTH 4096
#define NSO_PATH_MAX 65536
#define QUOTA_CHAIN_MAX 64
#define TRASH_BATCH NS_TRASH_BATCH

static const char *const SQL_TABLES[] = {
	"CREATE TABLE IF NOT EXISTS trash("
	" ino INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT NULL,"
	" path TEXT NOT NULL, deleted_s INTEGER NOT NULL, expire_s INTEGER NOT NULL)",
	"CREATE INDEX IF NOT EXISTS trash_expire ON trash(expire_s)",
	"CREATE TABLE IF NOT EXISTS quotas("
	" ino INTEGER PRIMARY KEY,"
	" bytes_soft INTEGER NOT NULL DEFAULT 0, bytes_hard INTEGER NOT NULL DEFAULT 0,"
	" inodes_soft INTEGER NOT NULL DEFAULT 0, inodes_hard INTEGER NOT NULL DEFAULT 0,"
	" grace_s INTEGER NOT NULL,"
	" bytes_used INTEGER NOT NULL DEFAULT 0, inodes_used INTEGER NOT NULL DEFAULT 0,"
	" bytes_since INTEGER, inodes_since INTEGER)",
};

static const char *const SQL_TRASHTIME = "SELECT trashtime FROM inodes WHERE ino = ?1";
static const char *const SQL_SET_TRASHTIME = "UPDATE inodes SET trashtime = ?2 WHERE ino = ?1";
static const char *const SQL_TRASH_ADD =
	"INSERT OR REPLACE INTO trash(ino, parent, name, path, deleted_s, expire_s)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
static const char *const SQL_TRASH_HAS = "SELECT 1 FROM trash WHERE ino = ?1";
static const char *const SQL_TRASH_GET =
	"SELECT parent, name FROM trash WHERE ino = ?1";
static const char *const SQL_TRASH_DEL = "DELETE FROM trash WHERE ino = ?1";
static const char *const SQL_TRASH_LIST =
	"SELECT t.ino, t.path, t.deleted_s, t.expire_s, i.size, i.mode, i.uid, i.gid"
	" FROM trash t JOIN inodes i ON i.ino = t.ino"
	" WHERE ?1 = '' OR t.path = ?1 OR substr(t.path, 1, length(?1) + 1) = ?1 || '/'"
	" ORDER BY t.deleted_s DESC, t.ino DESC LIMIT ?2";
static const char *const SQL_TRASH_TOTALS =
	"SELECT count(*), IFNULL(sum(i.size), 0) FROM trash t JOIN inodes i ON i.ino = t.ino";
static const char *const SQL_TRASH_PAGE =
	"SELECT ino FROM trash WHERE ?1 = 0 OR ino = ?1 ORDER BY ino LIMIT ?2";
static const char *const SQL_TRASH_EXPIRED =
	"SELECT ino FROM trash WHERE expire_s <= ?1 ORDER BY expire_s LIMIT ?2";
static const char *const SQL_TRASH_DUE =
	"SELECT EXISTS(SELECT 1 FROM trash WHERE expire_s <= ?1)";
static const char *const SQL_NAME_OF =
	"SELECT parent, name FROM dentries WHERE ino = ?1 LIMIT 1";
static const char *const SQL_QUOTAS_ANY = "SELECT EXISTS(SELECT 1 FROM quotas)";
static const char *const SQL_QUOTA_GET =
	"SELECT bytes_soft, bytes_hard, inodes_soft, inodes_hard, grace_s, bytes_used,"
	" inodes_used, bytes_since, inodes_since FROM quotas WHERE ino = ?1";
static const char *const SQL_QUOTA_PUT =
	"INSERT OR REPLACE INTO quotas(ino, bytes_soft, bytes_hard, inodes_soft, inodes_hard,"
	" grace_s, bytes_used, inodes_used, bytes_since, inodes_since)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char *const SQL_QUOTA_USE =
	"UPDATE quotas SET bytes_used = ?2, inodes_used = ?3, bytes_since = ?4,"
	" inodes_since = ?5 WHERE ino = ?1";
static const char *const SQL_QUOTA_DEL = "DELETE FROM quotas WHERE ino = ?1";
static const char *const SQL_QUOTA_LIST = "SELECT ino FROM quotas ORDER BY ino";
/* Usage below a folder, itself not counted: inodes, logical bytes and
 * bytes times goal of the regular files. */
static const char *const SQL_TREE_USAGE =
	"WITH RECURSIVE tree(ino, mode) AS ("
	" SELECT ino, mode FROM inodes WHERE ino = ?1"
	" UNION ALL SELECT d.ino, i.mode FROM tree t JOIN dentries d ON d.parent = t.ino"
	" JOIN inodes i ON i.ino = d.ino WHERE (t.mode & 61440) = 16384)"
	" SELECT count(*) - 1,"
	" IFNULL(sum(CASE WHEN (i.mode & 61440) = 32768 THEN i.size ELSE 0 END), 0),"
	" IFNULL(sum(CASE WHEN (i.mode & 61440) = 32768 THEN i.size * i.goal ELSE 0 END), 0)"
	" FROM inodes i WHERE i.ino IN (SELECT ino FROM tree)";
static const char *const SQL_CHILDREN =
	"SELECT d.name, d.ino FROM dentries d WHERE d.parent = ?1 ORDER BY d.id";
static const char *const SQL_INODE_COPY =
	"INSERT INTO inodes(mode, nlink, uid, gid, size, rdev, goal, atime_s, atime_ns,"
	" mtime_s, mtime_ns, ctime_s, ctime_ns, target, trashtime)"
	" SELECT mode, CASE WHEN (mode & 61440) = 16384 THEN nlink ELSE 1 END, uid, gid,"
	" size, rdev, goal, atime_s, atime_ns, mtime_s, mtime_ns, ?2, ?3, target, trashtime"
	" FROM inodes WHERE ino = ?1";
static const char *const SQL_XATTRS_COPY =
	"INSERT INTO xattrs(ino, name, value) SELECT ?2, name, value FROM xattrs WHERE ino = ?1";

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

int nso_init_locked(struct ns *ns)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(SQL_TABLES) / sizeof(SQL_TABLES[0]) && rc == 0; i++)
		rc = meta_exec_stmt(ns->ms, meta_stmt(ns->ms, SQL_TABLES[i]));
	return rc;
}

/* One integer column of a one-row query bound to (a, b). */
static int one_i64(struct ns *ns, const char *sql, int64_t a, int64_t *ret)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, sql);
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

/* ---- paths ---------------------------------------------------------------- */

/* "/a/b/c" of ino (malloc'ed); "/" for the root. -ENOENT for an inode
 * with no name (in the trash, or unlinked). */
static int path_of_locked(struct ns *ns, uint64_t ino, char **ret)
{
	char *buf = malloc(NSO_PATH_MAX);
	size_t pos = NSO_PATH_MAX - 1;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	buf[pos] = '\0';
	for (int depth = 0; ino != META_ROOT_INO; depth++) {
		if (depth > PATH_MAX_DEPTH) {
			rc = -ELOOP;
			break;
		}
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_NAME_OF);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_step(ns->ms, st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			rc = rc < 0 ? rc : -ENOENT;
			break;
		}
		const char *name = (const char *)sqlite3_column_text(st, 1);
		size_t len = name ? strlen(name) : 0;
		ino = (uint64_t)sqlite3_column_int64(st, 0);
		if (len + 1 > pos) {
			sqlite3_reset(st);
			rc = -ENAMETOOLONG;
			break;
		}
		pos -= len;
		memcpy(buf + pos, name, len);
		buf[--pos] = '/';
		sqlite3_reset(st);
		rc = 0;
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	if (pos == NSO_PATH_MAX - 1)
		buf[--pos] = '/';
	memmove(buf, buf + pos, NSO_PATH_MAX - pos);
	*ret = buf;
	return 0;
}

int ns_path(struct ns *ns, uint64_t ino, char **ret)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	return meta_txn_end(ns->ms, path_of_locked(ns, ino, ret));
}

/* Walk path from the root: any kind of inode at the end. With
 * ret_parent/ret_name, the last part need not exist: its folder and name. */
static int walk_locked(struct ns *ns, const char *path, uint64_t *ret, uint64_t *ret_parent,
		       char *ret_name)
{
	struct ns_attr a;
	uint64_t ino = META_ROOT_INO, parent = META_ROOT_INO;
	char name[NS_NAME_MAX + 1] = "";
	int rc = 0;

	if (path[0] != '/')
		return -EINVAL;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > NS_NAME_MAX)
			return -ENAMETOOLONG;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (ino == 0)
			return -ENOENT;   /* a missing folder in the middle */
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		rc = nsi_get_dir(ns, ino, &a);
		if (rc < 0)
			return rc;
		parent = ino;
		rc = nsi_get_entry(ns, ino, name, &a);
		if (rc == -ENOENT && ret_parent) {
			ino = 0;
			rc = 0;
			continue;
		}
		if (rc < 0)
			return rc;
		ino = a.ino;
	}
	if (ret_parent) {
		if (!*name)
			return -EINVAL;  /* the root has no folder */
		*ret_parent = parent;
		memcpy(ret_name, name, strlen(name) + 1);
	}
	if (ret)
		*ret = ino;
	return ino == 0 && !ret_parent ? -ENOENT : 0;
}

int ns_lookup_path(struct ns *ns, const char *path, uint64_t *ret)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	return meta_txn_end(ns->ms, walk_locked(ns, path, ret, NULL, NULL));
}

int ns_lookup_parent(struct ns *ns, const char *path, uint64_t *ret_parent, char *ret_name)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	return meta_txn_end(ns->ms, walk_locked(ns, path, NULL, ret_parent, ret_name));
}

/* ---- trash ---------------------------------------------------------------- */

int nst_put_locked(struct ns *ns, struct ns_attr *a, uint64_t parent, const char *name)
{
	int64_t tt = 0;
	char *dir = NULL, *path;
	int rc;

	if (!S_ISREG(a->mode))
		return 0;
	rc = one_i64(ns, SQL_TRASHTIME, (int64_t)a->ino, &tt);
	if (rc < 0 || tt <= 0)
		return rc;
	rc = path_of_locked(ns, parent, &dir);
	if (rc == -ENOENT || rc == -ELOOP || rc == -ENAMETOOLONG) {
		dir = strdup("?");   /* its folder has no name either: say so */
		rc = dir ? 0 : -ENOMEM;
	}
	if (rc < 0)
		return rc;
	size_t len = strlen(dir) + strlen(name) + 2;
	path = malloc(len);
	if (!path) {
		free(dir);
		return -ENOMEM;
	}
	snprintf(path, len, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
	free(dir);
	int64_t now = wall_s();
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASH_ADD);
	sqlite3_bind_int64(st, 1, (int64_t)a->ino);
	sqlite3_bind_int64(st, 2, (int64_t)parent);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now + tt);
	rc = meta_exec_stmt(ns->ms, st);
	free(path);
	if (rc < 0)
		return rc;
	a->nlink = 0;
	nsi_now(&a->ctime_s, &a->ctime_ns);
	rc = nsi_put_attr(ns, a);
	return rc < 0 ? rc : 1;
}

int nst_has_locked(struct ns *ns, uint64_t ino)
{
	int64_t v;
	int rc = one_i64(ns, SQL_TRASH_HAS, (int64_t)ino, &v);
	return rc == -ENOENT ? 0 : rc < 0 ? rc : 1;
}

int ns_trashtime_get(struct ns *ns, uint64_t ino, uint32_t *ret)
{
	int64_t v = 0;
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	rc = meta_txn_end(ns->ms, one_i64(ns, SQL_TRASHTIME, (int64_t)ino, &v));
	if (rc == 0)
		*ret = (uint32_t)v;
	return rc;
}

int nst_set_trashtime_locked(struct ns *ns, uint64_t ino, uint32_t seconds)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_SET_TRASHTIME);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_int64(st, 2, seconds);
	return meta_exec_stmt(ns->ms, st);
}

int ns_trash_list(struct ns *ns, const char *prefix, uint32_t limit, json_t **ret)
{
	json_t *arr = json_array();
	int64_t files = 0, bytes = 0;
	size_t plen = prefix ? strlen(prefix) : 0;
	int rc;

	if (!arr)
		return -ENOMEM;
	/* "/a/" and "/a" name the same folder */
	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	if (plen == 1)
		plen = 0;   /* the root: everything */
	rc = meta_txn_begin(ns->ms, false);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASH_LIST);
	sqlite3_bind_text(st, 1, plen ? prefix : "", (int)plen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		json_array_append_new(arr, json_pack(
			"{s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"id", sqlite3_column_int64(st, 0), "ino", sqlite3_column_int64(st, 0),
			"path", (const char *)sqlite3_column_text(st, 1),
			"deleted_s", sqlite3_column_int64(st, 2),
			"expire_s", sqlite3_column_int64(st, 3),
			"size", sqlite3_column_int64(st, 4), "mode", sqlite3_column_int64(st, 5),
			"uid", sqlite3_column_int64(st, 6), "gid", sqlite3_column_int64(st, 7)));
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : -EIO;
	if (rc == 0) {
		st = meta_stmt(ns->ms, SQL_TRASH_TOTALS);
		rc = meta_step(ns->ms, st);
		if (rc == SQLITE_ROW) {
			files = sqlite3_column_int64(st, 0);
			bytes = sqlite3_column_int64(st, 1);
			rc = 0;
		}
		sqlite3_reset(st);
		rc = rc < 0 ? rc : 0;
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*ret = json_pack("{s:I, s:I, s:o}", "files", (json_int_t)files, "bytes",
			 (json_int_t)bytes, "entries", arr);
	return *ret ? 0 : -ENOMEM;
}

int ns_trash_totals(struct ns *ns, uint64_t *ret_files, uint64_t *ret_bytes)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASH_TOTALS);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		*ret_files = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_reset(st);
	return meta_txn_end(ns->ms, rc < 0 ? rc : 0);
}

int ns_trash_restore(struct ns *ns, uint64_t ino, const char *to, uint64_t *ret_ino,
		     char **ret_path)
{
	struct ns_attr a, p, other;
	char name[NS_NAME_MAX + 1];
	uint64_t parent = 0;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASH_GET);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		parent = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 1));
		rc = 0;
	} else {
		rc = rc < 0 ? rc : -ENOENT;
	}
	sqlite3_reset(st);
	if (rc == 0 && to)
		rc = walk_locked(ns, to, NULL, &parent, name);
	if (rc == 0)
		rc = nsi_get_dir(ns, parent, &p);
	if (rc == 0) {
		rc = nsi_get_entry(ns, parent, name, &other);
		rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
	}
	if (rc == 0)
		rc = nsi_get_attr(ns, ino, &a);
	if (rc == 0)
		rc = nsq_charge_locked(ns, parent, (int64_t)a.size, 1, true);
	if (rc == 0)
		rc = nsi_dentry_insert(ns, parent, name, ino);
	if (rc == 0) {
		a.nlink = 1;
		nsi_now(&a.ctime_s, &a.ctime_ns);
		rc = nsi_put_attr(ns, &a);
	}
	if (rc == 0)
		rc = nsi_touch_dir(ns, parent, 0);
	if (rc == 0) {
		st = meta_stmt(ns->ms, SQL_TRASH_DEL);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_exec_stmt(ns->ms, st);
	}
	if (rc == 0 && ret_path)
		rc = path_of_locked(ns, ino, ret_path);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret_ino = ino;
	return rc;
}

/* Delete trash entry ino: the inode goes (or, open somewhere, becomes an
 * orphan deleted at its last close). */
static int trash_drop_locked(struct ns *ns, uint64_t ino, uint64_t *bytes)
{
	struct ns_attr a;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASH_DEL);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_exec_stmt(ns->ms, st);

	if (rc < 0)
		return rc;
	rc = nsi_get_attr(ns, ino, &a);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	*bytes += a.size;
	if (a.nlink > 0)
		return 0;
	if (nsi_is_open(ns, ino))
		return nsi_orphan_add(ns, ino);
	return nsi_drop_inode(ns, &a);
}

/* One transaction: up to TRASH_BATCH entries chosen by sql (bound to a,
 * TRASH_BATCH) dropped. *ret_n of them. */
static int trash_batch(struct ns *ns, const char *sql, int64_t a, uint64_t *ret_n,
		       uint64_t *bytes)
{
	uint64_t inos[TRASH_BATCH];
	size_t n = 0;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, sql);
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, TRASH_BATCH);
	while (n < TRASH_BATCH && (rc = meta_step(ns->ms, st)) == SQLITE_ROW)
		inos[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	rc = rc < 0 ? rc : 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = trash_drop_locked(ns, inos[i], bytes);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret_n = n;
	return rc;
}

int ns_trash_purge(struct ns *ns, uint64_t ino, uint64_t *ret_files, uint64_t *ret_bytes)
{
	uint64_t files = 0, bytes = 0, n;
	int rc;

	do {
		n = 0;
		rc = trash_batch(ns, SQL_TRASH_PAGE, (int64_t)ino, &n, &bytes);
		files += n;
	} while (rc == 0 && n == TRASH_BATCH && ino == 0);
	if (rc == 0 && ino != 0 && files == 0)
		rc = -ENOENT;
	*ret_files = files;
	*ret_bytes = bytes;
	return rc;
}

int ns_trash_expire(struct ns *ns, uint64_t *ret_n)
{
	uint64_t bytes = 0;
	int64_t due = 0;

	*ret_n = 0;
	/* most seconds nothing is due: no write transaction then */
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	rc = meta_txn_end(ns->ms, one_i64(ns, SQL_TRASH_DUE, wall_s(), &due));
	if (rc == -ENOENT || (rc == 0 && !due))
		return 0;
	if (rc < 0)
		return rc;
	return trash_batch(ns, SQL_TRASH_EXPIRED, wall_s(), ret_n, &bytes);
}

/* ---- quotas --------------------------------------------------------------- */

struct quota {
	uint64_t ino;
	int64_t bytes_soft, bytes_hard, inodes_soft, inodes_hard, grace_s;
	int64_t bytes_used, inodes_used;
	int64_t bytes_since, inodes_since;     /* 0: under the soft limit */
};

static int quota_get_locked(struct ns *ns, uint64_t ino, struct quota *q)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_QUOTA_GET);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		q->ino = ino;
		q->bytes_soft = sqlite3_column_int64(st, 0);
		q->bytes_hard = sqlite3_column_int64(st, 1);
		q->inodes_soft = sqlite3_column_int64(st, 2);
		q->inodes_hard = sqlite3_column_int64(st, 3);
		q->grace_s = sqlite3_column_int64(st, 4);
		q->bytes_used = sqlite3_column_int64(st, 5);
		q->inodes_used = sqlite3_column_int64(st, 6);
		q->bytes_since = sqlite3_column_int64(st, 7);
		q->inodes_since = sqlite3_column_int64(st, 8);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

static int quotas_any(struct ns *ns)
{
	int64_t v = 0;
	int rc = one_i64(ns, SQL_QUOTAS_ANY, 0, &v);
	return rc < 0 ? rc : v != 0;
}

/* The folders with a quota at or above dir, nearest first. */
static int quota_chain(struct ns *ns, uint64_t dir, struct quota *qs, size_t *ret_n)
{
	size_t n = 0;
	int rc = 0;

	for (int depth = 0; depth <= PATH_MAX_DEPTH; depth++) {
		rc = quota_get_locked(ns, dir, &qs[n]);
		if (rc == 0 && n < QUOTA_CHAIN_MAX)
			n++;
		else if (rc < 0 && rc != -ENOENT)
			return rc;
		if (dir == META_ROOT_INO)
			break;
		rc = nsi_parent_of(ns, dir, &dir);
		if (rc == -ENOENT)
			break;   /* a folder without a name (being removed) */
		if (rc < 0)
			return rc;
	}
	*ret_n = n;
	return 0;
}

int ns_quotas_exist(struct ns *ns)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	int any = quotas_any(ns);
	rc = meta_txn_end(ns->ms, any < 0 ? any : 0);
	return rc < 0 ? rc : any;
}

/* Would usage u (after growing) break limit soft/hard with grace? */
static bool over(int64_t u, int64_t soft, int64_t hard, int64_t since, int64_t grace,
		 int64_t now)
{
	if (hard > 0 && u > hard)
		return true;
	return soft > 0 && u > soft && since > 0 && now - since > grace;
}

static int quota_apply(struct ns *ns, struct quota *q, int64_t dbytes, int64_t dinodes,
		       int64_t now)
{
	q->bytes_used += dbytes;
	q->inodes_used += dinodes;
	if (q->bytes_used < 0)
		q->bytes_used = 0;
	if (q->inodes_used < 0)
		q->inodes_used = 0;
	if (q->bytes_soft > 0 && q->bytes_used > q->bytes_soft) {
		if (!q->bytes_since)
			q->bytes_since = now;
	} else {
		q->bytes_since = 0;
	}
	if (q->inodes_soft > 0 && q->inodes_used > q->inodes_soft) {
		if (!q->inodes_since)
			q->inodes_since = now;
	} else {
		q->inodes_since = 0;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_QUOTA_USE);
	sqlite3_bind_int64(st, 1, (int64_t)q->ino);
	sqlite3_bind_int64(st, 2, q->bytes_used);
	sqlite3_bind_int64(st, 3, q->inodes_used);
	if (q->bytes_since)
		sqlite3_bind_int64(st, 4, q->bytes_since);
	else
		sqlite3_bind_null(st, 4);
	if (q->inodes_since)
		sqlite3_bind_int64(st, 5, q->inodes_since);
	else
		sqlite3_bind_null(st, 5);
	return meta_exec_stmt(ns->ms, st);
}

/* Change every quota of chain qs[0..n) by (dbytes, dinodes), except
 * those also in skip[0..nskip). */
static int charge_chain(struct ns *ns, struct quota *qs, size_t n, const struct quota *skip,
			size_t nskip, int64_t dbytes, int64_t dinodes, bool check)
{
	int64_t now = wall_s();
	int rc = 0;

	for (int pass = check ? 0 : 1; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			bool skipped = false;
			for (size_t k = 0; k < nskip; k++)
				skipped |= skip[k].ino == qs[i].ino;
			if (skipped)
				continue;
			if (pass == 0) {
				struct quota *q = &qs[i];
				if ((dbytes > 0 && over(q->bytes_used + dbytes, q->bytes_soft,
							q->bytes_hard, q->bytes_since, q->grace_s,
							now)) ||
				    (dinodes > 0 && over(q->inodes_used + dinodes, q->inodes_soft,
							 q->inodes_hard, q->inodes_since,
							 q->grace_s, now)))
					rc = -EDQUOT;
			} else {
				rc = quota_apply(ns, &qs[i], dbytes, dinodes, now);
			}
		}
	}
	return rc;
}

int nsq_charge_locked(struct ns *ns, uint64_t dir, int64_t dbytes, int64_t dinodes,
		      bool check)
{
	struct quota qs[QUOTA_CHAIN_MAX];
	size_t n = 0;
	int rc = quotas_any(ns);

	if (rc <= 0 || (dbytes == 0 && dinodes == 0))
		return rc < 0 ? rc : 0;
	rc = quota_chain(ns, dir, qs, &n);
	if (rc == 0 && n > 0)
		rc = charge_chain(ns, qs, n, NULL, 0, dbytes, dinodes, check);
	return rc;
}

int nsq_charge_file_locked(struct ns *ns, uint64_t ino, int64_t dbytes, bool check)
{
	uint64_t parent;
	int rc = quotas_any(ns);

	if (rc <= 0 || dbytes == 0)
		return rc < 0 ? rc : 0;
	rc = nsi_parent_of(ns, ino, &parent);
	if (rc == -ENOENT)
		return 0;   /* no name (unlinked, in the trash): no quota */
	if (rc < 0)
		return rc;
	return nsq_charge_locked(ns, parent, dbytes, 0, check);
}

/* Inodes, bytes and replica bytes of the tree at ino, itself included. */
static int tree_usage(struct ns *ns, uint64_t ino, int64_t *inodes, int64_t *bytes,
		      int64_t *rbytes)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TREE_USAGE);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		*inodes = sqlite3_column_int64(st, 0) + 1;
		*bytes = sqlite3_column_int64(st, 1);
		if (rbytes)
			*rbytes = sqlite3_column_int64(st, 2);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc < 0 ? rc : rc == 0 ? 0 : -EIO;
}

int nsq_move_locked(struct ns *ns, const struct ns_attr *src, uint64_t from, uint64_t to)
{
	struct quota a[QUOTA_CHAIN_MAX], b[QUOTA_CHAIN_MAX];
	size_t na = 0, nb = 0;
	int64_t inodes = 1, bytes = S_ISREG(src->mode) ? (int64_t)src->size : 0;
	int rc = quotas_any(ns);

	if (rc <= 0)
		return rc;
	rc = quota_chain(ns, from, a, &na);
	if (rc == 0)
		rc = quota_chain(ns, to, b, &nb);
	if (rc < 0 || na + nb == 0)
		return rc;
	if (S_ISDIR(src->mode))
		rc = tree_usage(ns, src->ino, &inodes, &bytes, NULL);
	/* limits where it goes first: a refusal changes nothing */
	if (rc == 0)
		rc = charge_chain(ns, b, nb, a, na, bytes, inodes, true);
	if (rc == 0)
		rc = charge_chain(ns, a, na, b, nb, -bytes, -inodes, false);
	return rc;
}

int ns_quota_room(struct ns *ns, uint64_t ino, int64_t *ret_room, uint64_t *ret_size)
{
	struct quota qs[QUOTA_CHAIN_MAX];
	struct ns_attr a;
	uint64_t parent;
	size_t n = 0;
	int64_t room = -1, now = wall_s();
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = nsi_get_attr(ns, ino, &a);
	if (rc == 0 && quotas_any(ns) > 0) {
		rc = nsi_parent_of(ns, ino, &parent);
		if (rc == 0)
			rc = quota_chain(ns, parent, qs, &n);
		else if (rc == -ENOENT)
			rc = 0;   /* no name: no quota */
	}
	for (size_t i = 0; i < n; i++) {
		const struct quota *q = &qs[i];
		int64_t lim = q->bytes_hard;
		if (q->bytes_soft > 0 && q->bytes_since && now - q->bytes_since > q->grace_s &&
		    (lim == 0 || q->bytes_soft < lim))
			lim = q->bytes_soft;
		if (lim <= 0)
			continue;
		int64_t r = lim - q->bytes_used;
		if (r < 0)
			r = 0;
		if (room < 0 || r < room)
			room = r;
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0) {
		*ret_room = room;
		*ret_size = a.size;
	}
	return rc;
}

static const char *over_word(const struct quota *q, int64_t now)
{
	if ((q->bytes_hard > 0 && q->bytes_used >= q->bytes_hard) ||
	    (q->inodes_hard > 0 && q->inodes_used >= q->inodes_hard))
		return "hard";
	if ((q->bytes_since && now - q->bytes_since > q->grace_s) ||
	    (q->inodes_since && now - q->inodes_since > q->grace_s))
		return "grace_expired";
	if (q->bytes_since || q->inodes_since)
		return "soft";
	return "none";
}

static json_t *since_json(int64_t t)
{
	return t ? json_integer(t) : json_null();
}

static int quota_json_locked(struct ns *ns, const struct quota *q, json_t **ret)
{
	int64_t inodes, bytes, rbytes;
	char *path = NULL;
	int rc = tree_usage(ns, q->ino, &inodes, &bytes, &rbytes);

	if (rc == 0)
		rc = path_of_locked(ns, q->ino, &path);
	if (rc < 0)
		return rc;
	*ret = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I,"
			 " s:{s:I, s:I, s:I}, s:{s:o, s:o}, s:s}",
			 "ino", (json_int_t)q->ino, "path", path,
			 "bytes_soft", (json_int_t)q->bytes_soft,
			 "bytes_hard", (json_int_t)q->bytes_hard,
			 "inodes_soft", (json_int_t)q->inodes_soft,
			 "inodes_hard", (json_int_t)q->inodes_hard,
			 "grace_s", (json_int_t)q->grace_s,
			 "usage", "bytes", (json_int_t)q->bytes_used,
			 "replica_bytes", (json_int_t)rbytes,
			 "inodes", (json_int_t)q->inodes_used,
			 "soft_since_s", "bytes", since_json(q->bytes_since),
			 "inodes", since_json(q->inodes_since),
			 "over", over_word(q, wall_s()));
	free(path);
	return *ret ? 0 : -ENOMEM;
}

int ns_quota_set(struct ns *ns, uint64_t ino, const struct ns_quota_limits *l, json_t **ret)
{
	struct ns_attr a;
	struct quota q = { .ino = ino };
	int64_t inodes, bytes, rbytes;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	rc = nsi_get_dir(ns, ino, &a);
	if (rc == 0)
		rc = tree_usage(ns, ino, &inodes, &bytes, &rbytes);
	if (rc < 0)
		goto out_end;
	q.bytes_soft = (int64_t)l->bytes_soft;
	q.bytes_hard = (int64_t)l->bytes_hard;
	q.inodes_soft = (int64_t)l->inodes_soft;
	q.inodes_hard = (int64_t)l->inodes_hard;
	q.grace_s = l->grace_s ? (int64_t)l->grace_s : ns->default_grace_s;
	q.bytes_used = bytes;
	q.inodes_used = inodes - 1;
	struct quota old;
	if (quota_get_locked(ns, ino, &old) == 0) {
		/* a soft limit already passed keeps its clock */
		q.bytes_since = old.bytes_since;
		q.inodes_since = old.inodes_since;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_QUOTA_PUT);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_int64(st, 2, q.bytes_soft);
	sqlite3_bind_int64(st, 3, q.bytes_hard);
	sqlite3_bind_int64(st, 4, q.inodes_soft);
	sqlite3_bind_int64(st, 5, q.inodes_hard);
	sqlite3_bind_int64(st, 6, q.grace_s);
	sqlite3_bind_int64(st, 7, q.bytes_used);
	sqlite3_bind_int64(st, 8, q.inodes_used);
	sqlite3_bind_null(st, 9);
	sqlite3_bind_null(st, 10);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0)
		rc = quota_apply(ns, &q, 0, 0, wall_s());   /* the soft clocks */
	if (rc == 0)
		rc = quota_json_locked(ns, &q, ret);
out_end:
	return meta_txn_end(ns->ms, rc);
}

int ns_quota_get(struct ns *ns, uint64_t ino, json_t **ret)
{
	struct quota q;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = quota_get_locked(ns, ino, &q);
	if (rc == 0)
		rc = quota_json_locked(ns, &q, ret);
	return meta_txn_end(ns->ms, rc);
}

int ns_quota_remove(struct ns *ns, uint64_t ino)
{
	struct quota q;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	rc = quota_get_locked(ns, ino, &q);
	if (rc == 0) {
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_QUOTA_DEL);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_exec_stmt(ns->ms, st);
	}
	return meta_txn_end(ns->ms, rc);
}

int ns_quota_list(struct ns *ns, json_t **ret)
{
	json_t *arr = json_array();
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0 || !arr) {
		json_decref(arr);
		return rc < 0 ? rc : -ENOMEM;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_QUOTA_LIST);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *ni = realloc(inos, cap * sizeof(*ni));
			if (!ni) {
				rc = -ENOMEM;
				break;
			}
			inos = ni;
		}
		inos[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : -EIO;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct quota q;
		json_t *o;
		rc = quota_get_locked(ns, inos[i], &q);
		if (rc == 0)
			rc = quota_json_locked(ns, &q, &o);
		if (rc == 0)
			json_array_append_new(arr, o);
	}
	free(inos);
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*ret = arr;
	return 0;
}

/* ---- snapshots ------------------------------------------------------------ */

struct snap_dir {
	uint64_t src, dst;
};

struct snap {
	struct snap_dir *dirs;      /* folders whose entries are still to copy */
	size_t ndirs, cap;
	uint64_t inodes, chunks;
	int64_t bytes;
};

/* Copy inode src as `name` in folder dst_parent: a new inode, its
 * xattrs, its chunks (shared), and the folder to the work list. */
static int snap_node(struct ns *ns, struct snap *s, uint64_t src, uint64_t dst_parent,
		     const char *name, uint64_t *ret)
{
	struct ns_attr a;
	int64_t now_s;
	uint32_t now_ns;
	int rc = nsi_get_attr(ns, src, &a);

	if (rc < 0)
		return rc;
	nsi_now(&now_s, &now_ns);
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INODE_COPY);
	sqlite3_bind_int64(st, 1, (int64_t)src);
	sqlite3_bind_int64(st, 2, now_s);
	sqlite3_bind_int64(st, 3, now_ns);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		return rc == -EEXIST ? -EIO : rc;
	uint64_t ino = (uint64_t)meta_last_rowid(ns->ms);
	st = meta_stmt(ns->ms, SQL_XATTRS_COPY);
	sqlite3_bind_int64(st, 1, (int64_t)src);
	sqlite3_bind_int64(st, 2, (int64_t)ino);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0)
		rc = nsi_dentry_insert(ns, dst_parent, name, ino);
	if (rc < 0)
		return rc;
	s->inodes++;
	if (S_ISREG(a.mode)) {
		uint64_t n = 0;
		rc = cm_share_locked(ns->cm, src, ino, &n);
		s->chunks += n;
		s->bytes += (int64_t)a.size;
	} else if (S_ISDIR(a.mode)) {
		if (s->ndirs == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 64;
			struct snap_dir *nd = realloc(s->dirs, cap * sizeof(*nd));
			if (!nd)
				return -ENOMEM;
			s->dirs = nd;
			s->cap = cap;
		}
		s->dirs[s->ndirs++] = (struct snap_dir){ src, ino };
	}
	if (rc == 0 && ret)
		*ret = ino;
	return rc;
}

/* The entries of folder d.src, copied into d.dst. */
static int snap_dir(struct ns *ns, struct snap *s, struct snap_dir d)
{
	struct child {
		char *name;
		uint64_t ino;
	} *kids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_CHILDREN);
	sqlite3_bind_int64(st, 1, (int64_t)d.src);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			struct child *nk = realloc(kids, cap * sizeof(*nk));
			if (!nk) {
				rc = -ENOMEM;
				break;
			}
			kids = nk;
		}
		kids[n].name = strdup((const char *)sqlite3_column_text(st, 0));
		kids[n].ino = (uint64_t)sqlite3_column_int64(st, 1);
		if (!kids[n].name) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : -EIO;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = snap_node(ns, s, kids[i].ino, d.dst, kids[i].name, NULL);
	for (size_t i = 0; i < n; i++)
		free(kids[i].name);
	free(kids);
	return rc;
}

int ns_snapshot(struct ns *ns, uint64_t src, uint64_t dst_parent, const char *dst_name,
		struct ns_snapshot_result *ret)
{
	struct ns_attr a, p, other;
	struct snap s = { 0 };
	uint64_t root = 0;
	int rc = ns_check_name(dst_name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = nsi_get_attr(ns, src, &a);
	if (rc == 0 && a.nlink == 0)
		rc = -ENOENT;   /* unlinked or in the trash: restore it first */
	if (rc == 0)
		rc = nsi_get_dir(ns, dst_parent, &p);
	if (rc == 0) {
		rc = nsi_get_entry(ns, dst_parent, dst_name, &other);
		rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
	}
	if (rc == 0 && S_ISDIR(a.mode))
		rc = nsi_check_not_below(ns, dst_parent, src);
	if (rc == 0)
		rc = snap_node(ns, &s, src, dst_parent, dst_name, &root);
	for (size_t i = 0; i < s.ndirs && rc == 0; i++)
		rc = snap_dir(ns, &s, s.dirs[i]);
	if (rc == 0)
		rc = nsi_touch_dir(ns, dst_parent, S_ISDIR(a.mode) ? 1 : 0);
	if (rc == 0)
		rc = nsq_charge_locked(ns, dst_parent, s.bytes, (int64_t)s.inodes, true);
	free(s.dirs);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0) {
		ret->ino = root;
		ret->inodes = s.inodes;
		ret->chunks = s.chunks;
	}
	return rc;
}

int ns_share_range(struct ns *ns, uint64_t src, uint64_t src_idx, uint64_t dst, uint64_t dst_idx,
		   uint64_t count, uint64_t end, struct ns_attr *ret)
{
	struct ns_attr a, b;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	rc = nsi_get_attr(ns, src, &a);
	if (rc == 0)
		rc = nsi_get_attr(ns, dst, &b);
	if (rc == 0 && (S_ISDIR(a.mode) || S_ISDIR(b.mode)))
		rc = -EISDIR;
	else if (rc == 0 && (!S_ISREG(a.mode) || !S_ISREG(b.mode)))
		rc = -EINVAL;
	/* only what the source has: its size bounds the range */
	if (rc == 0 && (src_idx + count) * (uint64_t)CM_CHUNK_SIZE >
			       a.size + CM_CHUNK_SIZE - 1)
		rc = -EINVAL;
	if (rc == 0 && end > CM_MAX_FILE_SIZE)
		rc = -EFBIG;
	if (rc == 0 && end > b.size)
		rc = nsq_charge_file_locked(ns, dst, (int64_t)(end - b.size), true);
	if (rc == 0)
		rc = cm_share_range_locked(ns->cm, src, src_idx, dst, dst_idx, count);
	if (rc == 0) {
		if (end > b.size)
			b.size = end;
		nsi_now(&b.mtime_s, &b.mtime_ns);
		b.ctime_s = b.mtime_s;
		b.ctime_ns = b.mtime_ns;
		rc = nsi_put_attr(ns, &b);
	}
	if (rc == 0)
		rc = nsi_get_attr(ns, dst, &b);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = b;
	return rc;
}
