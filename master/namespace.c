/* namespace — the file tree: inodes, directory entries, attributes and
 * extended attributes, with the rules a local filesystem applies.
 *
 * Owns almost no memory state: it lives in meta_store tables (inodes,
 * dentries, xattrs). The exception is read atimes (relatime): a read is
 * noted in an atime_table, laid over the attributes every query returns,
 * and written out within a second, thousands per transaction, so reading
 * many files costs no metadata write each. A note counts only while the
 * inode's ctime is not after it (see apply_read): a change made later
 * (utimensat, a write) needs no undoing of it, an inode created later
 * under a number noted by mistake is not touched, and a transaction that
 * rolls back loses nothing. Each public function is one transaction under
 * meta_store's lock, so operations are atomic and serialised; HTTP
 * handler threads call in concurrently. Chunk bookkeeping (dropping the
 * chunks of a removed inode, truncating, releasing leases) is delegated to
 * chunk_map inside the same transaction.
 *
 * Deliberately not here: permission checks (the FUSE client mounts with
 * default_permissions and POSIX ACLs, so the kernel checks mode bits and
 * ACLs), and knowing who has a file open (session.c, asked through
 * `hooks`). What the kernel leaves to the filesystem is here: the umask
 * (skipped below a default ACL), setgid-directory inheritance, default
 * ACL inheritance, and keeping the mode and the access ACL in sync
 * (posix_acl.c does the ACL arithmetic).
 *
 * Unlinked-but-open files: when the last name of an inode goes while a
 * live session has it open (hooks.is_open), the inode stays with nlink 0
 * and a row in `orphans`; reads, writes and attributes keep working
 * through its number. ns_orphan_drop deletes it (and queues its chunks
 * for deletion) once nobody has it open; session.c calls it at the last
 * close, when a session dies, and for orphans left from before a master
 * restart. With hooks.keep_unlinked a non-directory whose last name a
 * rename replaced is kept that way, open or not, and session.c deletes it
 * after a grace period: a mount whose kernel looked the name up just
 * before the rename can still open the inode it was given, as on a local
 * filesystem. Otherwise (a plain unlink, or no keep_unlinked) an inode
 * nobody has open goes at once; a kernel that still opens it by a stale
 * name gets ESTALE from the mount and looks the name up again.
 *
 * Invariants: nlink of a directory = 2 + number of subdirectories; a
 * directory has exactly one entry naming it (root none); readdir cookies
 * are dentry row ids, never reused (AUTOINCREMENT), and rename keeps an
 * entry's row id. */
#include "namespace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "atime_table.h"
#include "ns_internal.h"
#include "log.h"
#include "posix_acl.h"

/* Noted read atimes beyond this are written out by the noter at once (a
 * bound on memory, whatever the clients send). */
#define NS_ATIME_PENDING_MAX (1u << 18)
/* Noted read atimes written per transaction: the others wait that long. */
#define NS_ATIME_FLUSH_BATCH 4096


static const char *const SQL_ORPHANS_TABLE =
	"CREATE TABLE IF NOT EXISTS orphans(ino INTEGER PRIMARY KEY)";
static const char *const SQL_ORPHAN_ADD = "INSERT OR IGNORE INTO orphans(ino) VALUES(?1)";
static const char *const SQL_ORPHAN_DEL = "DELETE FROM orphans WHERE ino = ?1";
static const char *const SQL_ORPHAN_LIST = "SELECT ino FROM orphans ORDER BY ino";
static const char *const SQL_INODES_IN_USE =
	"SELECT (SELECT COUNT(*) FROM inodes) - (SELECT COUNT(*) FROM orphans)"
	" - (SELECT COUNT(*) FROM trash)";

#define ATTR_COLS \
	"i.ino, i.mode, i.nlink, i.uid, i.gid, i.size, i.rdev, i.goal," \
	" i.atime_s, i.atime_ns, i.mtime_s, i.mtime_ns, i.ctime_s, i.ctime_ns," \
	" (SELECT IFNULL(SUM(MAX(0, MIN(" CHUNK_BYTES_SQL ", i.size - c.idx * " CHUNK_BYTES_SQL \
	"))), 0) FROM chunks c WHERE c.ino = i.ino)," \
	" i.dver, EXISTS (SELECT 1 FROM xattrs x WHERE x.ino = i.ino)"
/* Columns of ATTR_COLS; what a query selects after them starts here.
 * Column 14 is the bytes the file's existing chunks cover (st_blocks),
 * 15 a directory's change count, 16 whether any xattr is stored. */
#define ATTR_NCOLS 17
#define CHUNK_BYTES_SQL "67108864"

static const char *const SQL_GETATTR =
	"SELECT " ATTR_COLS " FROM inodes i WHERE i.ino = ?1";
static const char *const SQL_LOOKUP =
	"SELECT " ATTR_COLS ", d.id FROM dentries d JOIN inodes i ON i.ino = d.ino"
	" WHERE d.parent = ?1 AND d.name = ?2";
static const char *const SQL_READDIR =
	"SELECT " ATTR_COLS ", d.id, d.name FROM dentries d"
	" JOIN inodes i ON i.ino = d.ino"
	" WHERE d.parent = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3";
static const char *const SQL_INODE_INSERT =
	"INSERT INTO inodes(mode, nlink, uid, gid, size, rdev, goal,"
	" atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target, trashtime)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9, ?8, ?9, ?10,"
	" (SELECT trashtime FROM inodes WHERE ino = ?11))";
/* the same, with the inode number a mount chose (ns_create_ino) */
static const char *const SQL_INODE_INSERT_INO =
	"INSERT INTO inodes(mode, nlink, uid, gid, size, rdev, goal,"
	" atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, target, trashtime, ino)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9, ?8, ?9, ?10,"
	" (SELECT trashtime FROM inodes WHERE ino = ?11), ?12)";
/* Reserved inode numbers (ns_reserve_inos): above every number used or
 * reserved; AUTOINCREMENT's counter is moved past them, so the master's
 * own creates never take one. */
static const char *const SQL_INO_TOP =
	"SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'inodes'), 0),"
	" IFNULL((SELECT MAX(ino) FROM inodes), 0), IFNULL((SELECT MAX(hi) FROM ino_ranges), 0))";
static const char *const SQL_INO_SEQ_SET =
	"UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'inodes' AND seq < ?1";
static const char *const SQL_INO_RANGE_ADD =
	"INSERT INTO ino_ranges(lo, hi, session) VALUES(?1, ?2, ?3)";
/* a session keeps its last range (creates from it may still be on their
 * way) and the new one */
static const char *const SQL_INO_RANGE_TRIM =
	"DELETE FROM ino_ranges WHERE session = ?1 AND lo <"
	" (SELECT MAX(lo) FROM ino_ranges WHERE session = ?1)";
static const char *const SQL_INO_RANGE_OF =
	"SELECT session FROM ino_ranges WHERE lo = (SELECT MAX(lo) FROM ino_ranges"
	" WHERE lo <= ?1) AND hi >= ?1";
static const char *const SQL_INO_RANGE_DROP = "DELETE FROM ino_ranges WHERE session = ?1";
static int ino_seq_past_ranges(struct ns *ns);
static const char *const SQL_INODE_UPDATE =
	"UPDATE inodes SET mode = ?2, nlink = ?3, uid = ?4, gid = ?5, size = ?6,"
	" goal = ?7, atime_s = ?8, atime_ns = ?9, mtime_s = ?10, mtime_ns = ?11,"
	" ctime_s = ?12, ctime_ns = ?13 WHERE ino = ?1";
static const char *const SQL_DIR_TOUCH =
	"UPDATE inodes SET nlink = ?2, mtime_s = ?3, mtime_ns = ?4, ctime_s = ?3,"
	" ctime_ns = ?4, dver = ?5, atime_s = ?6, atime_ns = ?7 WHERE ino = ?1";
static const char *const SQL_INODE_DELETE = "DELETE FROM inodes WHERE ino = ?1";
static const char *const SQL_XATTRS_DELETE_INO = "DELETE FROM xattrs WHERE ino = ?1";
static const char *const SQL_DENTRY_INSERT =
	"INSERT INTO dentries(parent, name, ino) VALUES(?1, ?2, ?3)";
static const char *const SQL_DENTRY_DELETE = "DELETE FROM dentries WHERE id = ?1";
static const char *const SQL_DENTRY_MOVE =
	"UPDATE dentries SET parent = ?2, name = ?3 WHERE id = ?1";
static const char *const SQL_DENTRY_SET_INO =
	"UPDATE dentries SET ino = ?2 WHERE id = ?1";
static const char *const SQL_DIR_HAS_CHILD =
	"SELECT 1 FROM dentries WHERE parent = ?1 LIMIT 1";
static const char *const SQL_PARENT_OF =
	"SELECT parent FROM dentries WHERE ino = ?1 LIMIT 1";
static const char *const SQL_ENTRY_OF_DIR =
	"SELECT parent, id FROM dentries WHERE ino = ?1 LIMIT 1";
static const char *const SQL_PARENTS_OF =
	"SELECT parent FROM dentries WHERE ino = ?1 LIMIT 64";
static const char *const SQL_IS_ORPHAN =
	"SELECT 1 FROM orphans WHERE ino = ?1"
	" UNION ALL SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM inodes WHERE ino = ?1)";
static const char *const SQL_TARGET = "SELECT target FROM inodes WHERE ino = ?1";
static const char *const SQL_TRASHTIME_OF = "SELECT trashtime FROM inodes WHERE ino = ?1";
static const char *const SQL_XATTR_GET =
	"SELECT value FROM xattrs WHERE ino = ?1 AND name = ?2";
static const char *const SQL_XATTR_PUT =
	"INSERT INTO xattrs(ino, name, value) VALUES(?1, ?2, ?3)"
	" ON CONFLICT(ino, name) DO UPDATE SET value = excluded.value";
static const char *const SQL_XATTR_DEL =
	"DELETE FROM xattrs WHERE ino = ?1 AND name = ?2";
static const char *const SQL_XATTR_LIST =
	"SELECT name FROM xattrs WHERE ino = ?1 ORDER BY name";

int ns_new(struct meta_store *ms, struct chunk_map *cm, struct ns **ret)
{
	struct ns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	ns->ms = ms;
	ns->cm = cm;
	at_init(&ns->atimes);
	/* The orphans table belongs to this module (unlinked-but-open
	 * inodes, see the top of the file). */
	ns->default_grace_s = 7 * 86400;
	int rc = meta_txn_begin(ms, true);
	if (rc == 0) {
		rc = meta_exec_stmt(ms, meta_stmt(ms, SQL_ORPHANS_TABLE));
		if (rc == 0)
			rc = nso_init_locked(ns);
		/* a standby's counter never saw the ranges the last active
		 * master reserved (sqlite_sequence is not in the log) */
		if (rc == 0)
			rc = ino_seq_past_ranges(ns);
		rc = meta_txn_end(ms, rc);
	}
	if (rc < 0) {
		at_destroy(&ns->atimes);
		free(ns);
		return rc;
	}
	*ret = ns;
	return 0;
}

void ns_set_open_hooks(struct ns *ns, const struct ns_open_hooks *h)
{
	ns->hooks = *h;
}

/* The changes of this thread's open transaction (ns_set_change_hook),
 * names copied: some come from statements stepped on since. */
static _Thread_local struct {
	size_t n, cap;
	bool overflow;
	bool muted;          /* ns_atime_flush: read atimes are not news */
	struct inval_note *v;
} notes;

static void notes_clear(void)
{
	for (size_t i = 0; i < notes.n; i++)
		free((char *)notes.v[i].name);
	notes.n = 0;
	notes.overflow = false;
}

static void note_add(uint64_t ino, const char *name)
{
	if (notes.overflow || notes.muted)
		return;
	if (notes.n == notes.cap) {
		size_t cap = notes.cap ? notes.cap * 2 : 16;
		struct inval_note *v = cap <= NS_NOTES_MAX ? realloc(notes.v, cap * sizeof(*v))
							   : NULL;
		if (!v) {
			notes.overflow = true;    /* no room: everything */
			return;
		}
		notes.v = v;
		notes.cap = cap;
	}
	char *copy = NULL;
	if (name && !(copy = strdup(name))) {
		notes.overflow = true;
		return;
	}
	notes.v[notes.n++] = (struct inval_note){ .ino = ino, .name = copy };
}

void nsi_note_entry(struct ns *ns, uint64_t parent, const char *name)
{
	if (ns->changed)
		note_add(parent, name);
}

void nsi_note_inode(struct ns *ns, uint64_t ino)
{
	if (ns->changed)
		note_add(ino, NULL);
}

static void ns_txn_ended(void *arg, bool committed)
{
	struct ns *ns = arg;
	if (committed && ns->changed && (notes.n || notes.overflow)) {
		static const struct inval_note all = { 0, NULL, INVAL_CHANGE };
		if (notes.overflow)
			ns->changed(ns->changed_arg, &all, 1);
		else
			ns->changed(ns->changed_arg, notes.v, notes.n);
	}
	notes_clear();
	/* not kept for the next: HTTP connection threads come and go, and a
	 * thread-local array would leak with each (one malloc per
	 * transaction that changed something is nothing next to SQLite's) */
	free(notes.v);
	notes.v = NULL;
	notes.cap = 0;
}

void ns_set_change_hook(struct ns *ns,
			void (*fn)(void *arg, const struct inval_note *n, size_t count), void *arg)
{
	ns->changed = fn;
	ns->changed_arg = arg;
	meta_set_end_hook(ns->ms, fn ? ns_txn_ended : NULL, fn ? ns : NULL);
}

static bool ino_is_open(struct ns *ns, uint64_t ino)
{
	return ns->hooks.is_open && ns->hooks.is_open(ns->hooks.arg, ino);
}

void ns_free(struct ns *ns)
{
	if (!ns)
		return;
	int rc = ns_atime_flush(ns);
	if (rc < 0)
		log_warn("writing out %zu read atimes: %s", at_count(&ns->atimes),
			 strerror(-rc));
	at_destroy(&ns->atimes);
	free(ns);
}

int ns_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	if (len > NS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static void now_ts(int64_t *s, uint32_t *ns_)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*s = ts.tv_sec;
	*ns_ = (uint32_t)ts.tv_nsec;
}

/* s1.n1 is after s2.n2 */
static bool ts_after(int64_t s1, uint32_t n1, int64_t s2, uint32_t n2)
{
	return s1 > s2 || (s1 == s2 && n1 > n2);
}

/* relatime: a read moves atime if it is not after mtime or ctime, or is a
 * day old; ctime stays. */
static bool relatime_due(const struct ns_attr *a, int64_t now_s)
{
	return !ts_after(a->atime_s, a->atime_ns, a->mtime_s, a->mtime_ns) ||
	       !ts_after(a->atime_s, a->atime_ns, a->ctime_s, a->ctime_ns) ||
	       now_s - a->atime_s >= 24 * 3600;
}

/* A read at s.n, noted and not written yet: it counts if the inode has
 * not changed since (every change but a read's sets ctime to now, and
 * writes what get_attr showed it, reads included), and relatime moves
 * atime for it. */
static bool apply_read(struct ns_attr *a, int64_t s, uint32_t n)
{
	if (ts_after(a->ctime_s, a->ctime_ns, s, n) || !relatime_due(a, s))
		return false;
	a->atime_s = s;
	a->atime_ns = n;
	return true;
}

/* The first read of a note, then the last. True if atime moved. */
static bool apply_note(struct ns_attr *a, const struct at_entry *e)
{
	bool moved = apply_read(a, e->first_s, e->first_ns);
	return apply_read(a, e->last_s, e->last_ns) || moved;
}

/* Reads noted and not yet written show in the attributes. */
static void atime_overlay(struct ns *ns, struct ns_attr *a)
{
	struct at_entry e;

	if (at_get(&ns->atimes, a->ino, &e) == 0)
		apply_note(a, &e);
}

static void attr_from_row(struct ns *ns, sqlite3_stmt *st, struct ns_attr *a)
{
	a->ino = (uint64_t)sqlite3_column_int64(st, 0);
	a->mode = (uint32_t)sqlite3_column_int64(st, 1);
	a->nlink = (uint32_t)sqlite3_column_int64(st, 2);
	a->uid = (uint32_t)sqlite3_column_int64(st, 3);
	a->gid = (uint32_t)sqlite3_column_int64(st, 4);
	a->size = (uint64_t)sqlite3_column_int64(st, 5);
	a->rdev = (uint64_t)sqlite3_column_int64(st, 6);
	a->goal = (uint32_t)sqlite3_column_int64(st, 7);
	a->atime_s = sqlite3_column_int64(st, 8);
	a->atime_ns = (uint32_t)sqlite3_column_int64(st, 9);
	a->mtime_s = sqlite3_column_int64(st, 10);
	a->mtime_ns = (uint32_t)sqlite3_column_int64(st, 11);
	a->ctime_s = sqlite3_column_int64(st, 12);
	a->ctime_ns = (uint32_t)sqlite3_column_int64(st, 13);
	a->blocks = ((uint64_t)sqlite3_column_int64(st, 14) + 511) / 512;
	a->dver = (uint64_t)sqlite3_column_int64(st, 15);
	a->has_xattrs = sqlite3_column_int64(st, 16) != 0;
	atime_overlay(ns, a);
}

/* ---- helpers inside a transaction ----------------------------------------- */

static int get_attr(struct ns *ns, uint64_t ino, struct ns_attr *a)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_GETATTR);
	int rc;

	if (ino == 0 || ino > INT64_MAX)
		return -ENOENT;
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		attr_from_row(ns, st, a);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

static int get_dir(struct ns *ns, uint64_t ino, struct ns_attr *a)
{
	int rc = get_attr(ns, ino, a);

	if (rc == 0 && !S_ISDIR(a->mode))
		rc = -ENOTDIR;
	return rc;
}

/* Entry `name` in `parent`: its attr and dentry row id. */
static int get_entry(struct ns *ns, uint64_t parent, const char *name,
		     struct ns_attr *a, int64_t *ret_id)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_LOOKUP);
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		attr_from_row(ns, st, a);
		if (ret_id)
			*ret_id = sqlite3_column_int64(st, ATTR_NCOLS);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

/* a came from get_attr or get_entry in this transaction, so the reads
 * noted before are in it; a changes ctime (but for ns_atime_flush), so
 * they no longer count (apply_read). */
static int put_attr(struct ns *ns, const struct ns_attr *a)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INODE_UPDATE);

	sqlite3_bind_int64(st, 1, (int64_t)a->ino);
	sqlite3_bind_int64(st, 2, a->mode);
	sqlite3_bind_int64(st, 3, a->nlink);
	sqlite3_bind_int64(st, 4, a->uid);
	sqlite3_bind_int64(st, 5, a->gid);
	sqlite3_bind_int64(st, 6, (int64_t)a->size);
	sqlite3_bind_int64(st, 7, a->goal);
	sqlite3_bind_int64(st, 8, a->atime_s);
	sqlite3_bind_int64(st, 9, a->atime_ns);
	sqlite3_bind_int64(st, 10, a->mtime_s);
	sqlite3_bind_int64(st, 11, a->mtime_ns);
	sqlite3_bind_int64(st, 12, a->ctime_s);
	sqlite3_bind_int64(st, 13, a->ctime_ns);
	int rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0)
		nsi_note_inode(ns, a->ino);
	return rc;
}

/* What this thread's namespace calls since ns_touch_reset did to
 * directories (see ns_touch_get). Only the thread that runs the call
 * reads it, so it needs no lock. */
static _Thread_local struct {
	size_t n;
	struct ns_touch d[NS_TOUCH_MAX];
} touched;

void ns_touch_reset(void)
{
	touched.n = 0;
}

size_t ns_touch_get(const struct ns_touch **ret)
{
	*ret = touched.d;
	return touched.n;
}

static void touch_note(uint64_t prev, const struct ns_attr *a)
{
	for (size_t i = 0; i < touched.n; i++) {
		if (touched.d[i].attr.ino == a->ino) {
			touched.d[i].attr = *a;   /* keeps the first prev */
			return;
		}
	}
	if (touched.n < NS_TOUCH_MAX)
		touched.d[touched.n++] = (struct ns_touch){ .prev = prev, .attr = *a };
}

/* Directory contents changed: mtime = ctime = now, nlink += dlink, one
 * more change (dver). The only writer of dver, so no stale copy of the
 * attributes elsewhere can take it back. */
static int touch_dir(struct ns *ns, uint64_t dir, int dlink)
{
	struct ns_attr a;
	int rc = get_attr(ns, dir, &a);

	if (rc < 0)
		return rc;
	now_ts(&a.mtime_s, &a.mtime_ns);
	a.ctime_s = a.mtime_s;
	a.ctime_ns = a.mtime_ns;
	a.nlink = (uint32_t)((int64_t)a.nlink + dlink);
	uint64_t prev = a.dver++;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DIR_TOUCH);
	sqlite3_bind_int64(st, 1, (int64_t)dir);
	sqlite3_bind_int64(st, 2, a.nlink);
	sqlite3_bind_int64(st, 3, a.mtime_s);
	sqlite3_bind_int64(st, 4, a.mtime_ns);
	sqlite3_bind_int64(st, 5, (int64_t)a.dver);
	sqlite3_bind_int64(st, 6, a.atime_s);     /* as put_attr: the reads noted */
	sqlite3_bind_int64(st, 7, a.atime_ns);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0) {
		touch_note(prev, &a);
		nsi_note_inode(ns, dir);
	}
	return rc;
}

/* Raw stored xattr value (any name, no virtual ones). *ret malloc'ed.
 * -ENODATA if absent. */
static int xattr_get_raw(struct ns *ns, uint64_t ino, const char *name, void **ret,
			 size_t *ret_len)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_GET);
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		void *out = malloc(len ? len : 1);
		if (out) {
			if (len)
				memcpy(out, sqlite3_column_blob(st, 0), len);
			*ret = out;
			*ret_len = len;
			rc = 0;
		} else {
			rc = -ENOMEM;
		}
	} else if (rc == SQLITE_DONE) {
		rc = -ENODATA;
	}
	sqlite3_reset(st);
	return rc;
}

static int xattr_put_raw(struct ns *ns, uint64_t ino, const char *name, const void *value,
			 size_t len)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_PUT);

	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, len ? value : "", (int)len, SQLITE_STATIC);
	return meta_exec_stmt(ns->ms, st);
}

static int chmod_acl(struct ns *ns, const struct ns_attr *a);

/* A new node's mode, group and ACLs from its parent p (the rules of
 * Linux's inode_init_owner and posix_acl_create): a setgid directory
 * gives its group, and its setgid bit to subdirectories; a parent's
 * default ACL replaces the umask, becomes the new node's access ACL
 * (*ret_acl, malloc'ed, when it says more than the mode) and, for a
 * directory, its default ACL too (*ret_dacl). */
static int node_init_owner(struct ns *ns, const struct ns_attr *p, uint32_t *mode,
			   uint32_t *gid, uint32_t umask, void **ret_acl, void **ret_dacl,
			   size_t *ret_len)
{
	void *dacl = NULL, *acl = NULL;
	size_t len = 0;
	int rc;

	*ret_acl = *ret_dacl = NULL;
	*ret_len = 0;
	if (p->mode & S_ISGID) {
		*gid = p->gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
	if (S_ISLNK(*mode))
		return 0;
	rc = xattr_get_raw(ns, p->ino, PACL_DEFAULT, &dacl, &len);
	if (rc == -ENODATA || (rc == 0 && len <= 4)) {
		free(dacl);
		*mode &= ~(umask & 0777);
		return 0;
	}
	if (rc < 0)
		return rc;
	acl = malloc(len);
	if (!acl) {
		free(dacl);
		return -ENOMEM;
	}
	memcpy(acl, dacl, len);
	rc = pacl_create_masq(acl, len, mode);
	if (rc < 0) {
		log_err("namespace: inode %llu has a malformed default ACL",
			(unsigned long long)p->ino);
		free(acl);
		free(dacl);
		return -EIO;
	}
	if (rc == 0) {
		free(acl);
		acl = NULL;
	}
	if (!S_ISDIR(*mode)) {
		free(dacl);
		dacl = NULL;
	}
	*ret_acl = acl;
	*ret_dacl = dacl;
	*ret_len = len;
	return 0;
}

/* make_node, after the owner rules: insert the inode, its ACLs, its entry. */
static _Thread_local uint64_t tl_want_ino;
static _Thread_local const struct timespec *tl_want_time;

static int make_node_acl(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
			 uint64_t rdev, uint32_t uid, uint32_t gid, const char *target,
			 const struct ns_attr *pp, const void *acl, const void *dacl,
			 size_t acl_len, struct ns_attr *ret)
{
	const struct ns_attr p = *pp;
	int64_t now_s;
	uint32_t now_ns;
	int rc;

	now_ts(&now_s, &now_ns);
	if (tl_want_time) {
		now_s = (int64_t)tl_want_time->tv_sec;
		now_ns = (uint32_t)tl_want_time->tv_nsec;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, tl_want_ino ? SQL_INODE_INSERT_INO : SQL_INODE_INSERT);
	sqlite3_bind_int64(st, 1, mode);
	sqlite3_bind_int64(st, 2, S_ISDIR(mode) ? 2 : 1);
	sqlite3_bind_int64(st, 3, uid);
	sqlite3_bind_int64(st, 4, gid);
	sqlite3_bind_int64(st, 5, target ? (int64_t)strlen(target) : 0);
	sqlite3_bind_int64(st, 6, (int64_t)rdev);
	sqlite3_bind_int64(st, 7, p.goal);
	sqlite3_bind_int64(st, 8, now_s);
	sqlite3_bind_int64(st, 9, now_ns);
	if (target)
		sqlite3_bind_blob(st, 10, target, (int)strlen(target), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	sqlite3_bind_int64(st, 11, (int64_t)parent);
	if (tl_want_ino)
		sqlite3_bind_int64(st, 12, (int64_t)tl_want_ino);
	rc = nsq_charge_locked(ns, parent, 0, 1, true);
	if (rc < 0)
		return rc;
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		return rc == -EEXIST ? -EIO : rc;
	uint64_t ino = tl_want_ino ? tl_want_ino : (uint64_t)meta_last_rowid(ns->ms);
	if (acl)
		rc = xattr_put_raw(ns, ino, PACL_ACCESS, acl, acl_len);
	if (rc == 0 && dacl)
		rc = xattr_put_raw(ns, ino, PACL_DEFAULT, dacl, acl_len);
	if (rc < 0)
		return rc;

	st = meta_stmt(ns->ms, SQL_DENTRY_INSERT);
	sqlite3_bind_int64(st, 1, (int64_t)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)ino);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		return rc;
	rc = touch_dir(ns, parent, S_ISDIR(mode) ? 1 : 0);
	if (rc < 0)
		return rc;
	return get_attr(ns, ino, ret);
}

/* Create an inode and its entry. umask applies unless the parent has a
 * default ACL. The inode's number is tl_want_ino when set (ns_create_ino). */
static int make_node(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, uint32_t uid, uint32_t gid, uint32_t umask,
		     const char *target, struct ns_attr *ret)
{
	struct ns_attr p;
	void *acl = NULL, *dacl = NULL;
	size_t acl_len = 0;
	int rc = ns_check_name(name);

	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc < 0)
		return rc;
	rc = node_init_owner(ns, &p, &mode, &gid, umask, &acl, &dacl, &acl_len);
	if (rc < 0)
		return rc;
	rc = make_node_acl(ns, parent, name, mode, rdev, uid, gid, target, &p, acl, dacl,
			   acl_len, ret);
	free(acl);
	free(dacl);
	return rc;
}

static int drop_inode(struct ns *ns, const struct ns_attr *a);

/* One link of inode a went away: drop the inode when none is left and
 * nobody has it open. replaced: the link went because rename put another
 * inode under its name (hooks.keep_unlinked applies to that case only: a
 * plain unlink leaves no name a kernel could have resolved to it). */
static int unref_inode(struct ns *ns, struct ns_attr *a, bool replaced, uint64_t parent,
		       const char *name)
{
	int rc;

	if (!S_ISDIR(a->mode) && a->nlink > 1) {
		a->nlink--;
		now_ts(&a->ctime_s, &a->ctime_ns);
		return put_attr(ns, a);
	}
	/* the last name: out of the folders' quotas, into the trash */
	rc = nsq_charge_locked(ns, parent, -(int64_t)(S_ISREG(a->mode) ? a->size : 0), -1,
			       false);
	if (rc < 0)
		return rc;
	rc = nst_put_locked(ns, a, parent, name);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!S_ISDIR(a->mode) &&
	    ((replaced && ns->hooks.keep_unlinked) || ino_is_open(ns, a->ino))) {
		/* open somewhere, or maybe about to be: keep it, nameless,
		 * until the last close or the grace period's end */
		a->nlink = 0;
		now_ts(&a->ctime_s, &a->ctime_ns);
		rc = put_attr(ns, a);
		if (rc < 0)
			return rc;
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ORPHAN_ADD);
		sqlite3_bind_int64(st, 1, (int64_t)a->ino);
		rc = meta_exec_stmt(ns->ms, st);
		if (rc == 0)
			ns->hooks.orphaned(ns->hooks.arg, a->ino);
		return rc;
	}
	return drop_inode(ns, a);
}

/* Delete inode a: its row, xattrs, orphan mark and chunks. */
static int drop_inode(struct ns *ns, const struct ns_attr *a)
{
	int rc;
	const char *const seq[] = { SQL_INODE_DELETE, SQL_XATTRS_DELETE_INO, SQL_ORPHAN_DEL };
	for (int i = 0; i < 3; i++) {
		sqlite3_stmt *st = meta_stmt(ns->ms, seq[i]);
		sqlite3_bind_int64(st, 1, (int64_t)a->ino);
		rc = meta_exec_stmt(ns->ms, st);
		if (rc < 0)
			return rc;
	}
	if (S_ISREG(a->mode))
		return cm_drop_inode_locked(ns->cm, a->ino);
	return 0;
}

static int delete_dentry(struct ns *ns, int64_t id, uint64_t parent, const char *name)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DENTRY_DELETE);

	sqlite3_bind_int64(st, 1, id);
	int rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0)
		nsi_note_entry(ns, parent, name);
	return rc;
}

static int dir_is_empty(struct ns *ns, uint64_t ino)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DIR_HAS_CHILD);

	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_step(ns->ms, st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return -ENOTEMPTY;
	return rc == SQLITE_DONE ? 0 : rc;
}

static int dir_within(struct ns *ns, uint64_t d, uint64_t root);

/* -EINVAL if dir `d` is `ancestor` or lies below it. */
static int check_not_below(struct ns *ns, uint64_t d, uint64_t ancestor)
{
	int w = dir_within(ns, d, ancestor);

	return w < 0 ? w : w ? -EINVAL : 0;
}

/* ---- public operations ---------------------------------------------------- */

int ns_lookup(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *ret)
{
	struct ns_attr p, a;
	int rc = ns_check_name(name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc == 0)
		rc = get_entry(ns, parent, name, &a, NULL);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *ret)
{
	struct ns_attr a;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_atime_read(struct ns *ns, const uint64_t *inos, size_t n)
{
	struct at_entry e;

	now_ts(&e.first_s, &e.first_ns);
	e.last_s = e.first_s;
	e.last_ns = e.first_ns;
	for (size_t i = 0; i < n; i++) {
		if (inos[i] == 0 || inos[i] > INT64_MAX)
			continue; /* no such inode */
		e.ino = inos[i];
		int rc = at_note(&ns->atimes, &e);
		if (rc < 0)
			return rc;
	}
	return at_count(&ns->atimes) >= NS_ATIME_PENDING_MAX ? ns_atime_flush(ns) : 0;
}

/* One transaction: up to NS_ATIME_FLUSH_BATCH noted reads written.
 * *ret_n: how many were taken. Those not written (the transaction failed)
 * go back to the table; if a change came first meanwhile, its ctime makes
 * them not count (apply_read). */
static int atime_flush_batch(struct ns *ns, size_t *ret_n)
{
	struct at_entry *v = NULL;
	struct ns_attr a;
	size_t n = 0;
	int rc = meta_txn_begin(ns->ms, true);

	*ret_n = 0;
	if (rc < 0)
		return rc;
	rc = at_take(&ns->atimes, NS_ATIME_FLUSH_BATCH, &v, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = get_attr(ns, v[i].ino, &a); /* with any read noted since the take */
		if (rc == -ENOENT) {
			rc = 0; /* removed since the read: nothing to record */
			continue;
		}
		if (rc == 0 && apply_note(&a, &v[i]))
			rc = put_attr(ns, &a);
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			at_note(&ns->atimes, &v[i]);
	free(v);
	*ret_n = n;
	return rc;
}

int ns_atime_flush(struct ns *ns)
{
	/* what is there now, not what readers add meanwhile */
	size_t left = at_count(&ns->atimes), n;
	int rc = 0;

	/* Not in the change feed: the reading mount's kernel dropped the
	 * atime itself, and every other mount would drop the attributes of
	 * every file anyone reads. Others see a read atime when they ask
	 * for the attributes anyway (up to cache_ttl later). */
	notes.muted = true;
	while (left > 0 && rc == 0) {
		rc = atime_flush_batch(ns, &n);
		if (n == 0)
			break;
		left = n < left ? left - n : 0;
	}
	notes.muted = false;
	return rc;
}

static int setattr_once(struct ns *ns, uint64_t ino, const struct ns_setattr *sa,
			struct ns_attr *ret);

int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *sa,
	       struct ns_attr *ret)
{
	int rc = -EXDEV;

	/* a cut chunk a snapshot shares gets its own copy first */
	for (int i = 0; i < 4 && rc == -EXDEV; i++) {
		rc = setattr_once(ns, ino, sa, ret);
		if (rc == -EXDEV) {
			int c = cm_cow(ns->cm, ino, sa->size / CM_CHUNK_SIZE);
			if (c < 0)
				return c;
		}
	}
	return rc == -EXDEV ? -EAGAIN : rc;
}

static int setattr_once(struct ns *ns, uint64_t ino, const struct ns_setattr *sa,
			struct ns_attr *ret)
{
	struct ns_attr a;
	struct cm_trunc_job job = { .needed = false };
	int64_t now_s;
	uint32_t now_ns;
	int rc;

	if ((sa->has_atime && !sa->atime_now && sa->atime_ns > 999999999) ||
	    (sa->has_mtime && !sa->mtime_now && sa->mtime_ns > 999999999))
		return -EINVAL;
	if (sa->has_size && sa->size > CM_MAX_FILE_SIZE)
		return -EFBIG;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	now_ts(&now_s, &now_ns);
	if (sa->has_at) {
		now_s = sa->at_s;
		now_ns = sa->at_ns;
	}
	if (sa->has_size) {
		if (S_ISDIR(a.mode)) {
			rc = -EISDIR;
			goto out_end;
		}
		if (!S_ISREG(a.mode)) {
			rc = -EINVAL;
			goto out_end;
		}
		rc = cm_truncate_locked(ns->cm, ino, a.size, sa->size, &job);
		if (rc == 0 && sa->size != a.size)
			rc = nsq_charge_file_locked(ns, ino, (int64_t)sa->size - (int64_t)a.size,
						    sa->size > a.size);
		if (rc < 0)
			goto out_end;
		a.size = sa->size;
		a.mtime_s = now_s;
		a.mtime_ns = now_ns;
	}
	if (sa->has_mode) {
		a.mode = (a.mode & S_IFMT) | (sa->mode & 07777);
		rc = chmod_acl(ns, &a);
		if (rc < 0)
			goto out_end;
	}
	if (sa->has_uid)
		a.uid = sa->uid;
	if (sa->has_gid)
		a.gid = sa->gid;
	if (sa->drop_sgid && S_ISREG(a.mode) && (a.mode & S_ISGID)) {
		bool member = false;
		for (size_t i = 0; i < sa->ngroups && !member; i++)
			member = sa->groups[i] == a.gid;
		if (!member)
			a.mode &= ~(uint32_t)S_ISGID;
	}
	if (sa->has_atime) {
		a.atime_s = sa->atime_now ? now_s : sa->atime_s;
		a.atime_ns = sa->atime_now ? now_ns : sa->atime_ns;
	}
	if (sa->has_mtime) {
		a.mtime_s = sa->mtime_now ? now_s : sa->mtime_s;
		a.mtime_ns = sa->mtime_now ? now_ns : sa->mtime_ns;
	}
	a.ctime_s = now_s;
	a.ctime_ns = now_ns;
	rc = put_attr(ns, &a);
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0)
		return rc;
	cm_truncate_apply(ns->cm, &job);
	*ret = a;
	return 0;
}

int ns_mkdir(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint32_t uid, uint32_t gid, uint32_t umask, struct ns_attr *ret)
{
	struct ns_attr a;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	rc = make_node(ns, parent, name, S_IFDIR | (mode & 07777), 0, uid, gid, umask, NULL,
		       &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

/* Transaction open: the highest inode number used or reserved, and
 * AUTOINCREMENT's counter set to it (past every reserved number). */
static int ino_top(struct ns *ns, int64_t *ret)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INO_TOP);
	int64_t top = 0;
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW)
		top = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	*ret = top;
	st = meta_stmt(ns->ms, SQL_INO_SEQ_SET);
	sqlite3_bind_int64(st, 1, top);
	return meta_exec_stmt(ns->ms, st);
}

static int ino_seq_past_ranges(struct ns *ns)
{
	int64_t top;
	return ino_top(ns, &top);
}

int ns_reserve_inos(struct ns *ns, const char *session, uint32_t count, uint64_t *ret_lo,
		    uint64_t *ret_hi)
{
	if (count == 0 || count > NS_INO_RANGE_MAX)
		return -EINVAL;
	int rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	int64_t top = 0;
	sqlite3_stmt *st;
	rc = ino_top(ns, &top);
	if (rc == 0 && (top < 0 || (uint64_t)top > NS_INO_LAST - count))
		rc = -ENOSPC;
	uint64_t lo = (uint64_t)top + 1, hi = (uint64_t)top + count;
	if (rc == 0) {
		st = meta_stmt(ns->ms, SQL_INO_RANGE_TRIM);
		sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
		rc = meta_exec_stmt(ns->ms, st);
	}
	if (rc == 0) {
		st = meta_stmt(ns->ms, SQL_INO_RANGE_ADD);
		sqlite3_bind_int64(st, 1, (int64_t)lo);
		sqlite3_bind_int64(st, 2, (int64_t)hi);
		sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
		rc = meta_exec_stmt(ns->ms, st);
	}
	if (rc == 0) {
		st = meta_stmt(ns->ms, SQL_INO_SEQ_SET);
		sqlite3_bind_int64(st, 1, (int64_t)hi);
		rc = meta_exec_stmt(ns->ms, st);
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0) {
		*ret_lo = lo;
		*ret_hi = hi;
	}
	return rc;
}

int ns_release_inos(struct ns *ns, const char *session)
{
	int rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INO_RANGE_DROP);
	sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(ns->ms, st);
	return meta_txn_end(ns->ms, rc);
}

/* Transaction open: ino is in a range reserved for session and names no
 * inode yet. */
static int ino_reserved_for(struct ns *ns, uint64_t ino, const char *session)
{
	if (ino == 0 || ino > NS_INO_LAST)
		return -EINVAL;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INO_RANGE_OF);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		const char *who = (const char *)sqlite3_column_text(st, 0);
		rc = who && strcmp(who, session) == 0 ? 0 : -EPERM;
	} else if (rc == SQLITE_DONE) {
		rc = -EPERM;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	struct ns_attr a;
	rc = get_attr(ns, ino, &a);
	return rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
}

int ns_create_ino(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint32_t umask, uint64_t ino, const char *session,
		  const struct timespec *when, struct ns_attr *ret)
{
	struct ns_attr a, p;
	int rc = ns_check_name(name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc == 0) {
		rc = get_entry(ns, parent, name, &a, NULL);
		rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
	}
	if (rc == 0)
		rc = ino_reserved_for(ns, ino, session);
	if (rc == 0) {
		tl_want_ino = ino;
		tl_want_time = when;
		rc = make_node(ns, parent, name, S_IFREG | (mode & 07777), 0, uid, gid, umask,
			       NULL, &a);
		tl_want_ino = 0;
		tl_want_time = NULL;
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_create(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	      uint32_t uid, uint32_t gid, uint32_t umask, bool excl, struct ns_attr *ret,
	      bool *ret_created)
{
	struct ns_attr a, p;
	bool created = false;
	int rc = ns_check_name(name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc < 0)
		goto out_end;
	rc = get_entry(ns, parent, name, &a, NULL);
	if (rc == 0) {
		if (excl)
			rc = -EEXIST;
		else if (S_ISDIR(a.mode))
			rc = -EISDIR;
		goto out_end;
	}
	if (rc != -ENOENT)
		goto out_end;
	rc = make_node(ns, parent, name, S_IFREG | (mode & 07777), 0, uid, gid, umask, NULL,
		       &a);
	created = true;
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0) {
		*ret = a;
		*ret_created = created;
	}
	return rc;
}

int ns_open(struct ns *ns, uint64_t ino, const char *session)
{
	struct ns_attr a;
	int rc;

	if (!ns->hooks.register_open)
		return -ENOTSUP;
	rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc == 0)
		rc = ns->hooks.register_open(ns->hooks.arg, session, ino);
	return meta_txn_end(ns->ms, rc);
}

/* In a transaction: ns_orphan_drop of one inode. -EBUSY (still open)
 * leaves the transaction good; other errors spoil it. */
static int orphan_drop_one(struct ns *ns, uint64_t ino)
{
	struct ns_attr a;
	int rc = get_attr(ns, ino, &a);

	if (rc == -ENOENT || (rc == 0 && a.nlink > 0)) {
		/* gone already, or not an orphan (any more): forget the mark */
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ORPHAN_DEL);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_exec_stmt(ns->ms, st);
	} else if (rc == 0 && ino_is_open(ns, ino)) {
		rc = -EBUSY;
	} else if (rc == 0 && (rc = nst_has_locked(ns, ino)) != 0) {
		/* in the trash: the trash deletes it; forget the mark */
		if (rc > 0) {
			sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ORPHAN_DEL);
			sqlite3_bind_int64(st, 1, (int64_t)ino);
			rc = meta_exec_stmt(ns->ms, st);
		}
	} else if (rc == 0) {
		rc = drop_inode(ns, &a);
	}
	return rc;
}

int ns_orphan_drop(struct ns *ns, uint64_t ino)
{
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	return meta_txn_end(ns->ms, orphan_drop_one(ns, ino));
}

int ns_orphans_drop(struct ns *ns, const uint64_t *inos, size_t n, int *ret)
{
	int res[NS_ORPHAN_DROP_MAX];
	int rc;

	if (n > NS_ORPHAN_DROP_MAX)
		return -EINVAL;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		res[i] = orphan_drop_one(ns, inos[i]);
		if (res[i] < 0 && res[i] != -EBUSY)
			rc = res[i];
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		memcpy(ret, res, n * sizeof(*res));
	return rc;
}

int ns_inodes_in_use(struct ns *ns, uint64_t *ret)
{
	int64_t v = 0;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_INODES_IN_USE);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = rc < 0 ? rc : -EIO;
	}
	sqlite3_reset(st);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = v > 0 ? (uint64_t)v : 0;
	return rc;
}

int ns_orphans_list(struct ns *ns, uint64_t **ret, size_t *ret_n)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ORPHAN_LIST);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : (rc < 0 ? rc : -EIO);
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int ns_mknod(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint64_t rdev, uint32_t uid, uint32_t gid, uint32_t umask, struct ns_attr *ret)
{
	struct ns_attr a;
	uint32_t type = mode & S_IFMT;
	int rc;

	if (type == 0)
		type = S_IFREG;
	if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFIFO && type != S_IFSOCK)
		return -EINVAL;
	if (type != S_IFCHR && type != S_IFBLK)
		rdev = 0;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = make_node(ns, parent, name, type | (mode & 07777), rdev, uid, gid, umask, NULL,
		       &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_symlink(struct ns *ns, uint64_t parent, const char *name, const char *target,
	       uint32_t uid, uint32_t gid, struct ns_attr *ret)
{
	struct ns_attr a;
	size_t len = strlen(target);
	int rc;

	if (len == 0)
		return -ENOENT;
	if (len > NS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = make_node(ns, parent, name, S_IFLNK | 0777, 0, uid, gid, 0, target, &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_readlink(struct ns *ns, uint64_t ino, char **ret)
{
	struct ns_attr a;
	char *out = NULL;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc == 0 && !S_ISLNK(a.mode))
		rc = -EINVAL;
	if (rc == 0) {
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TARGET);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_step(ns->ms, st);
		if (rc == SQLITE_ROW) {
			int len = sqlite3_column_bytes(st, 0);
			out = malloc((size_t)len + 1);
			if (out) {
				if (len)
					memcpy(out, sqlite3_column_blob(st, 0), (size_t)len);
				out[len] = '\0';
				rc = 0;
			} else {
				rc = -ENOMEM;
			}
		} else {
			rc = rc < 0 ? rc : -EIO;
		}
		sqlite3_reset(st);
	}
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		free(out);
		return rc;
	}
	*ret = out;
	return 0;
}

int ns_link(struct ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
	    struct ns_attr *ret)
{
	struct ns_attr a, p;
	int rc = ns_check_name(newname);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	if (S_ISDIR(a.mode)) {
		rc = -EPERM;
		goto out_end;
	}
	if (a.nlink == 0) {     /* unlinked while open: no new names (as Linux) */
		rc = -ENOENT;
		goto out_end;
	}
	if (a.nlink >= INT32_MAX) {
		rc = -EMLINK;
		goto out_end;
	}
	rc = get_dir(ns, newparent, &p);
	if (rc < 0)
		goto out_end;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DENTRY_INSERT);
	sqlite3_bind_int64(st, 1, (int64_t)newparent);
	sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)ino);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		goto out_end;
	a.nlink++;
	now_ts(&a.ctime_s, &a.ctime_ns);
	rc = put_attr(ns, &a);
	if (rc == 0)
		rc = touch_dir(ns, newparent, 0);
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

static int remove_entry(struct ns *ns, uint64_t parent, const char *name, bool dir)
{
	struct ns_attr p, a;
	int64_t id;
	int rc = ns_check_name(name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc == 0)
		rc = get_entry(ns, parent, name, &a, &id);
	if (rc < 0)
		goto out_end;
	if (dir && !S_ISDIR(a.mode)) {
		rc = -ENOTDIR;
		goto out_end;
	}
	if (!dir && S_ISDIR(a.mode)) {
		rc = -EISDIR;
		goto out_end;
	}
	if (dir) {
		rc = dir_is_empty(ns, a.ino);
		if (rc < 0)
			goto out_end;
	}
	rc = delete_dentry(ns, id, parent, name);
	if (rc == 0)
		rc = unref_inode(ns, &a, false, parent, name);
	if (rc == 0)
		rc = touch_dir(ns, parent, dir ? -1 : 0);
out_end:
	return meta_txn_end(ns->ms, rc);
}

int ns_unlink(struct ns *ns, uint64_t parent, const char *name)
{
	return remove_entry(ns, parent, name, false);
}

int ns_rmdir(struct ns *ns, uint64_t parent, const char *name)
{
	return remove_entry(ns, parent, name, true);
}

static int rename_exchange(struct ns *ns, uint64_t parent, uint64_t newparent,
			   struct ns_attr *src, int64_t src_id, struct ns_attr *dst,
			   int64_t dst_id)
{
	bool sdir = S_ISDIR(src->mode), ddir = S_ISDIR(dst->mode);
	int rc = 0;

	if (parent != newparent) {
		if (sdir)
			rc = check_not_below(ns, newparent, src->ino);
		if (rc == 0 && ddir)
			rc = check_not_below(ns, parent, dst->ino);
		if (rc < 0)
			return rc;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DENTRY_SET_INO);
	sqlite3_bind_int64(st, 1, src_id);
	sqlite3_bind_int64(st, 2, (int64_t)dst->ino);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		return rc;
	st = meta_stmt(ns->ms, SQL_DENTRY_SET_INO);
	sqlite3_bind_int64(st, 1, dst_id);
	sqlite3_bind_int64(st, 2, (int64_t)src->ino);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		return rc;
	int dlink = (parent != newparent) ? (int)ddir - (int)sdir : 0;
	rc = touch_dir(ns, parent, dlink);
	if (rc == 0 && parent != newparent)
		rc = touch_dir(ns, newparent, -dlink);
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct ns_attr *a = i ? dst : src;
		struct ns_attr fresh;
		rc = get_attr(ns, a->ino, &fresh);
		if (rc == 0) {
			now_ts(&fresh.ctime_s, &fresh.ctime_ns);
			rc = put_attr(ns, &fresh);
		}
	}
	return rc;
}

int ns_rename(struct ns *ns, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, uint32_t flags)
{
	uint64_t ino, replaced;
	return ns_rename_inos(ns, parent, name, newparent, newname, flags, &ino, &replaced);
}

int ns_rename_inos(struct ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, uint32_t flags, uint64_t *ret_ino, uint64_t *ret_replaced)
{
	struct ns_attr p, np, src, dst;
	int64_t src_id, dst_id;
	bool have_dst;
	int rc;

	*ret_ino = *ret_replaced = 0;

	if (flags & ~(uint32_t)(NS_RENAME_NOREPLACE | NS_RENAME_EXCHANGE) ||
	    flags == (NS_RENAME_NOREPLACE | NS_RENAME_EXCHANGE))
		return -EINVAL;
	rc = ns_check_name(name);
	if (rc == 0)
		rc = ns_check_name(newname);
	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_dir(ns, parent, &p);
	if (rc == 0)
		rc = get_dir(ns, newparent, &np);
	if (rc == 0)
		rc = get_entry(ns, parent, name, &src, &src_id);
	if (rc < 0)
		goto out_end;
	rc = get_entry(ns, newparent, newname, &dst, &dst_id);
	if (rc < 0 && rc != -ENOENT)
		goto out_end;
	have_dst = rc == 0;
	rc = 0;

	if (flags & NS_RENAME_EXCHANGE) {
		if (!have_dst)
			rc = -ENOENT;
		else if (dst.ino != src.ino)
			rc = rename_exchange(ns, parent, newparent, &src, src_id, &dst, dst_id);
		if (rc == 0 && dst.ino != src.ino) {
			*ret_ino = src.ino;
			*ret_replaced = dst.ino;
		}
		if (rc == 0) {
			nsi_note_entry(ns, parent, name);
			nsi_note_entry(ns, newparent, newname);
		}
		goto out_end;
	}
	if (have_dst && (flags & NS_RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out_end;
	}
	if (have_dst && dst.ino == src.ino)
		goto out_end;   /* same file: POSIX says do nothing */
	bool sdir = S_ISDIR(src.mode);
	if (sdir && parent != newparent) {
		rc = check_not_below(ns, newparent, src.ino);
		if (rc < 0)
			goto out_end;
	}
	if (have_dst) {
		if (S_ISDIR(dst.mode)) {
			if (!sdir)
				rc = -EISDIR;
			else
				rc = dir_is_empty(ns, dst.ino);
		} else if (sdir) {
			rc = -ENOTDIR;
		}
		if (rc == 0)
			rc = delete_dentry(ns, dst_id, newparent, newname);
		if (rc == 0)
			rc = unref_inode(ns, &dst, true, newparent, newname);
		if (rc == 0 && S_ISDIR(dst.mode))
			rc = touch_dir(ns, newparent, -1);
		if (rc < 0)
			goto out_end;
	}
	if (parent != newparent) {
		rc = nsq_move_locked(ns, &src, parent, newparent);
		if (rc < 0)
			goto out_end;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DENTRY_MOVE);
	sqlite3_bind_int64(st, 1, src_id);
	sqlite3_bind_int64(st, 2, (int64_t)newparent);
	sqlite3_bind_text(st, 3, newname, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc < 0)
		goto out_end;
	nsi_note_entry(ns, parent, name);
	int dlink = (sdir && parent != newparent) ? 1 : 0;
	rc = touch_dir(ns, parent, -dlink);
	if (rc == 0 && parent != newparent)
		rc = touch_dir(ns, newparent, dlink);
	if (rc == 0) {
		struct ns_attr fresh;
		rc = get_attr(ns, src.ino, &fresh);
		if (rc == 0) {
			now_ts(&fresh.ctime_s, &fresh.ctime_ns);
			rc = put_attr(ns, &fresh);
		}
	}
	if (rc == 0) {
		*ret_ino = src.ino;
		*ret_replaced = have_dst ? dst.ino : 0;
	}
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0)
		*ret_ino = *ret_replaced = 0;
	return rc;
}

int ns_readdir(struct ns *ns, uint64_t ino, uint64_t cookie, uint32_t limit,
	       struct ns_dirent **ret, size_t *ret_n, bool *ret_eof, struct ns_attr *ret_dir)
{
	struct ns_attr d;
	struct ns_dirent *out = NULL;
	size_t n = 0;
	bool eof = true;
	int rc;

	if (limit == 0 || limit > NS_READDIR_MAX)
		return -EINVAL;
	if (cookie > INT64_MAX)
		cookie = INT64_MAX;
	/* grown as rows come: an entry is some 370 bytes, and most folders
	 * hold far fewer than the limit asked (1,000 from a mount, the
	 * rest of the budget for the folders of a walk) */
	size_t cap = limit < 16 ? limit : 16;
	out = malloc(cap * sizeof(*out));
	if (!out)
		return -ENOMEM;
	rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		goto out_free;
	rc = get_dir(ns, ino, &d);
	if (rc < 0)
		goto out_end;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_READDIR);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_int64(st, 2, (int64_t)cookie);
	sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		if (n == limit) {
			eof = false;
			break;
		}
		if (n == cap) {
			cap = cap * 2 < limit ? cap * 2 : limit;
			struct ns_dirent *more = realloc(out, cap * sizeof(*out));
			if (!more) {
				rc = -ENOMEM;
				break;
			}
			out = more;
		}
		attr_from_row(ns, st, &out[n].attr);
		out[n].cookie = (uint64_t)sqlite3_column_int64(st, ATTR_NCOLS);
		const char *nm = (const char *)sqlite3_column_text(st, ATTR_NCOLS + 1);
		snprintf(out[n].name, sizeof(out[n].name), "%s", nm ? nm : "");
		n++;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (rc < 0 ? rc : -EIO);
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0) {
		*ret = out;
		*ret_n = n;
		*ret_eof = eof;
		if (ret_dir)
			*ret_dir = d;
		return 0;
	}
out_free:
	free(out);
	return rc;
}

int ns_commit(struct ns *ns, uint64_t ino, uint64_t size, const char *session,
	      const uint64_t *release, size_t nrelease, struct ns_attr *ret)
{
	return ns_commit_at(ns, ino, size, session, release, nrelease, NULL, ret);
}

int ns_commit_at(struct ns *ns, uint64_t ino, uint64_t size, const char *session,
		 const uint64_t *release, size_t nrelease, const struct timespec *when,
		 struct ns_attr *ret)
{
	struct ns_attr a;
	int rc;

	if (size > CM_MAX_FILE_SIZE)
		return -EFBIG;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	else if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	if (rc < 0)
		goto out_end;
	if (size > a.size) {
		rc = nsq_charge_file_locked(ns, ino, (int64_t)(size - a.size), false);
		a.size = size;
	}
	if (rc == 0 && size > 0) {
		/* data landed; size 0 is a commit that only gives leases back */
		if (when) {
			a.mtime_s = (int64_t)when->tv_sec;
			a.mtime_ns = (uint32_t)when->tv_nsec;
		} else {
			now_ts(&a.mtime_s, &a.mtime_ns);
		}
		a.ctime_s = a.mtime_s;
		a.ctime_ns = a.mtime_ns;
		rc = put_attr(ns, &a);
	}
	if (rc == 0)
		rc = cm_release_locked(ns->cm, ino, session, release, nrelease);
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

int ns_punch(struct ns *ns, uint64_t ino, uint64_t index, uint64_t count,
	     struct ns_attr *ret)
{
	struct ns_attr a;
	int rc = meta_txn_begin(ns->ms, true);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	else if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	if (rc == 0)
		rc = cm_punch_locked(ns->cm, ino, index, count);
	if (rc == 0) {
		now_ts(&a.mtime_s, &a.mtime_ns);
		a.ctime_s = a.mtime_s;
		a.ctime_ns = a.mtime_ns;
		rc = put_attr(ns, &a);
	}
	if (rc == 0)
		rc = get_attr(ns, ino, &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = a;
	return rc;
}

/* ---- xattrs -------------------------------------------------------------- */

#define XATTR_GOAL "bigfs.goal"
#define XATTR_LOCATIONS "bigfs.locations"
#define XATTR_TRASHTIME "bigfs.trashtime"
#define XATTR_INO "bigfs.ino"

static int check_xattr_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -EINVAL;
	if (len > NS_XATTR_NAME_MAX)
		return -ERANGE;
	return 0;
}

static bool reserved(const char *name)
{
	return strncmp(name, "bigfs.", 6) == 0;
}

static int xattr_del_raw(struct ns *ns, uint64_t ino, const char *name)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_DEL);

	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return meta_exec_stmt(ns->ms, st);
}

/* Set a checked POSIX ACL value on inode a (written back): an access ACL
 * sets the mode's permission bits, and is not stored when the mode says
 * it all; a default ACL only exists on directories; an empty ACL removes
 * it. ctime becomes now. */
static int set_acl(struct ns *ns, struct ns_attr *a, const char *name, const void *value,
		   size_t len)
{
	bool access = strcmp(name, PACL_ACCESS) == 0;
	bool store = len > 4;
	int rc;

	if (S_ISLNK(a->mode))
		return -ENOTSUP;
	if (!access && !S_ISDIR(a->mode))
		return store ? -EACCES : 0;
	if (access && store) {
		rc = pacl_equiv_mode(value, len, &a->mode);
		if (rc < 0)
			return rc;
		store = rc == 1;
	}
	rc = store ? xattr_put_raw(ns, a->ino, name, value, len)
		   : xattr_del_raw(ns, a->ino, name);
	if (rc < 0)
		return rc;
	now_ts(&a->ctime_s, &a->ctime_ns);
	return put_attr(ns, a);
}

/* chmod of inode a: its access ACL, if any, follows the new mode. */
static int chmod_acl(struct ns *ns, const struct ns_attr *a)
{
	void *acl;
	size_t len;
	int rc = xattr_get_raw(ns, a->ino, PACL_ACCESS, &acl, &len);

	if (rc == -ENODATA)
		return 0;
	if (rc < 0)
		return rc;
	rc = pacl_chmod(acl, len, a->mode);
	if (rc == 0)
		rc = xattr_put_raw(ns, a->ino, PACL_ACCESS, acl, len);
	else
		log_err("namespace: inode %llu has a malformed access ACL",
			(unsigned long long)a->ino);
	free(acl);
	return rc < 0 && rc != -EINVAL ? rc : 0;
}

int ns_getxattr(struct ns *ns, uint64_t ino, const char *name, void **ret,
		size_t *ret_len)
{
	struct ns_attr a;
	char *out = NULL;
	size_t len = 0;
	int rc = check_xattr_name(name);

	if (rc < 0)
		return rc;
	rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	if (strcmp(name, XATTR_GOAL) == 0) {
		out = malloc(16);
		if (!out) {
			rc = -ENOMEM;
			goto out_end;
		}
		len = (size_t)snprintf(out, 16, "%u", a.goal);
	} else if (strcmp(name, XATTR_LOCATIONS) == 0) {
		rc = S_ISREG(a.mode) ? cm_locations_locked(ns->cm, ino, &out, &len)
				     : -ENODATA;
	} else if (strcmp(name, XATTR_TRASHTIME) == 0 || strcmp(name, XATTR_INO) == 0) {
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_TRASHTIME_OF);
		int64_t tt = 0;
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		rc = meta_step(ns->ms, st);
		if (rc == SQLITE_ROW)
			tt = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		rc = rc < 0 ? rc : 0;
		out = malloc(24);
		if (!out)
			rc = -ENOMEM;
		else if (strcmp(name, XATTR_INO) == 0)
			len = (size_t)snprintf(out, 24, "%llu", (unsigned long long)ino);
		else
			len = (size_t)snprintf(out, 24, "%lld", (long long)tt);
	} else if (reserved(name)) {
		rc = -ENODATA;
	} else {
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_GET);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = meta_step(ns->ms, st);
		if (rc == SQLITE_ROW) {
			len = (size_t)sqlite3_column_bytes(st, 0);
			out = malloc(len ? len : 1);
			if (out) {
				if (len)
					memcpy(out, sqlite3_column_blob(st, 0), len);
				rc = 0;
			} else {
				rc = -ENOMEM;
			}
		} else if (rc == SQLITE_DONE) {
			rc = -ENODATA;
		}
		sqlite3_reset(st);
	}
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		free(out);
		return rc;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

/* "3" or "3\n" with 1 <= value <= NS_GOAL_MAX. */
static int parse_goal(const void *value, size_t len, uint32_t *ret)
{
	const char *s = value;
	uint32_t v = 0;
	size_t i = 0;

	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len == 0 || len > 3)
		return -EINVAL;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v < 1 || v > NS_GOAL_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "86400" or "86400\n", 0 <= value <= 10 years. */
static int parse_seconds(const void *value, size_t len, uint32_t *ret)
{
	const char *s = value;
	uint64_t v = 0;

	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len == 0 || len > 9)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > 10ULL * 366 * 86400)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int ns_setxattr(struct ns *ns, uint64_t ino, const char *name, const void *value,
		size_t len, uint32_t flags)
{
	struct ns_attr a;
	uint32_t goal;
	int rc = check_xattr_name(name);

	if (rc < 0)
		return rc;
	if (flags & ~(uint32_t)(NS_XATTR_CREATE | NS_XATTR_REPLACE) ||
	    flags == (NS_XATTR_CREATE | NS_XATTR_REPLACE))
		return -EINVAL;
	if (len > NS_XATTR_VALUE_MAX)
		return -E2BIG;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	if (strcmp(name, XATTR_GOAL) == 0) {
		if (flags & NS_XATTR_CREATE) {
			rc = -EEXIST;
			goto out_end;
		}
		rc = parse_goal(value, len, &goal);
		if (rc < 0)
			goto out_end;
		a.goal = goal;
		now_ts(&a.ctime_s, &a.ctime_ns);
		rc = put_attr(ns, &a);
		goto out_end;
	}
	if (strcmp(name, XATTR_TRASHTIME) == 0) {
		uint32_t tt;
		rc = flags & NS_XATTR_CREATE ? -EEXIST : parse_seconds(value, len, &tt);
		if (rc == 0)
			rc = nst_set_trashtime_locked(ns, ino, tt);
		if (rc == 0) {
			now_ts(&a.ctime_s, &a.ctime_ns);
			rc = put_attr(ns, &a);
		}
		goto out_end;
	}
	if (reserved(name)) {
		rc = strcmp(name, XATTR_LOCATIONS) == 0 || strcmp(name, XATTR_INO) == 0 ? -EPERM
											: -ENOTSUP;
		goto out_end;
	}
	if (pacl_is_acl_name(name) && pacl_check(value, len) < 0) {
		rc = -EINVAL;
		goto out_end;
	}
	if (flags) {
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_GET);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = meta_step(ns->ms, st);
		sqlite3_reset(st);
		if (rc < 0)
			goto out_end;
		if (rc == SQLITE_ROW && (flags & NS_XATTR_CREATE)) {
			rc = -EEXIST;
			goto out_end;
		}
		if (rc == SQLITE_DONE && (flags & NS_XATTR_REPLACE)) {
			rc = -ENODATA;
			goto out_end;
		}
	}
	if (pacl_is_acl_name(name)) {
		rc = set_acl(ns, &a, name, value, len);
		goto out_end;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_PUT);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, len ? value : "", (int)len, SQLITE_STATIC);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0) {
		now_ts(&a.ctime_s, &a.ctime_ns);
		rc = put_attr(ns, &a);
	}
out_end:
	return meta_txn_end(ns->ms, rc);
}

void ns_free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int ns_listxattr(struct ns *ns, uint64_t ino, char ***ret, size_t *ret_n)
{
	struct ns_attr a;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_LIST);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup((const char *)sqlite3_column_text(st, 0));
		if (!names[n]) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE) ? 0 : (rc < 0 ? rc : -EIO);
out_end:
	rc = meta_txn_end(ns->ms, rc);
	if (rc < 0) {
		ns_free_names(names, n);
		return rc;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

int ns_removexattr(struct ns *ns, uint64_t ino, const char *name)
{
	struct ns_attr a;
	int rc = check_xattr_name(name);

	if (rc < 0)
		return rc;
	if (strcmp(name, XATTR_GOAL) == 0 || strcmp(name, XATTR_LOCATIONS) == 0)
		return -EPERM;
	rc = meta_txn_begin(ns->ms, true);
	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc < 0)
		goto out_end;
	if (reserved(name)) {
		rc = -ENODATA;
		goto out_end;
	}
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_XATTR_DEL);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0 && meta_changes(ns->ms) == 0)
		rc = -ENODATA;
	if (rc == 0) {
		now_ts(&a.ctime_s, &a.ctime_ns);
		rc = put_attr(ns, &a);
	}
out_end:
	return meta_txn_end(ns->ms, rc);
}

/* ---- exported subtrees --------------------------------------------------- */

int ns_resolve(struct ns *ns, const char *path, uint64_t *ret)
{
	struct ns_attr a;
	uint64_t ino = META_ROOT_INO;
	char name[NS_NAME_MAX + 1];

	if (path[0] != '/')
		return -EINVAL;
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	for (const char *p = path; rc == 0 && *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > NS_NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		rc = get_dir(ns, ino, &a);
		if (rc == 0)
			rc = get_entry(ns, ino, name, &a, NULL);
		if (rc == 0)
			ino = a.ino;
	}
	if (rc == 0)
		rc = get_dir(ns, ino, &a);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0)
		*ret = ino;
	return rc;
}

/* 1 if directory d is root or below it, 0 if not (caller in a txn). */
static int dir_within(struct ns *ns, uint64_t d, uint64_t root)
{
	for (int guard = 0; guard < 100000; guard++) {
		if (d == root)
			return 1;
		if (d == META_ROOT_INO)
			return 0;
		sqlite3_stmt *st = meta_stmt(ns->ms, SQL_PARENT_OF);
		sqlite3_bind_int64(st, 1, (int64_t)d);
		int rc = meta_step(ns->ms, st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return rc < 0 ? rc : 0;
		}
		d = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	log_err("namespace: parent chain of %llu loops", (unsigned long long)d);
	return -EIO;
}

int ns_within(struct ns *ns, uint64_t ino, uint64_t root)
{
	uint64_t parents[64];
	size_t n = 0;

	if (ino == root || root == META_ROOT_INO)
		return 1;
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_PARENTS_OF);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	while ((rc = meta_step(ns->ms, st)) == SQLITE_ROW && n < 64)
		parents[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	rc = rc < 0 ? rc : 0;
	if (rc == 0 && n == 0) {
		/* no name: an unlinked file kept while open, or no such
		 * inode (the handler answers ENOENT) */
		st = meta_stmt(ns->ms, SQL_IS_ORPHAN);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		int orc = meta_step(ns->ms, st);
		sqlite3_reset(st);
		rc = orc == SQLITE_ROW ? 1 : orc < 0 ? orc : 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = dir_within(ns, parents[i], root);
	int within = rc;
	rc = meta_txn_end(ns->ms, rc < 0 ? rc : 0);
	return rc < 0 ? rc : within;
}

int ns_dir_entry(struct ns *ns, uint64_t dir, uint64_t *ret_parent, uint64_t *ret_cookie)
{
	int rc = meta_txn_begin(ns->ms, false);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ENTRY_OF_DIR);
	sqlite3_bind_int64(st, 1, (int64_t)dir);
	rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		*ret_parent = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_cookie = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = rc < 0 ? rc : -ENOENT;
	}
	sqlite3_reset(st);
	return meta_txn_end(ns->ms, rc);
}

/* ---- permissions of squashed callers ------------------------------------ */

/* ns_may on attributes already read (caller in a txn). */
static int may_attr(struct ns *ns, const struct ns_attr *a, uint32_t uid, uint32_t gid,
		    uint32_t want)
{
	void *acl = NULL;
	size_t len = 0;

	if (uid == 0) {
		bool any_x = S_ISDIR(a->mode) || (a->mode & 0111);
		return (want & NS_MAY_EXEC) && !any_x ? -EACCES : 0;
	}
	int rc = xattr_get_raw(ns, a->ino, PACL_ACCESS, &acl, &len);
	if (rc == 0) {
		rc = pacl_permission(acl, len, a->uid, a->gid, uid, gid, want);
		free(acl);
		return rc == -EINVAL ? -EACCES : rc;
	}
	if (rc != -ENODATA)
		return rc;
	uint32_t bits = uid == a->uid ? a->mode >> 6 : gid == a->gid ? a->mode >> 3 : a->mode;
	return ((bits & 7u) & want) == want ? 0 : -EACCES;
}

int ns_may(struct ns *ns, uint64_t ino, uint32_t uid, uint32_t gid, uint32_t want,
	   struct ns_attr *ret_attr)
{
	struct ns_attr a;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, ino, &a);
	if (rc == 0)
		rc = may_attr(ns, &a, uid, gid, want);
	rc = meta_txn_end(ns->ms, rc);
	if (rc == 0 && ret_attr)
		*ret_attr = a;
	return rc;
}

int ns_may_remove(struct ns *ns, uint64_t parent, const char *name, uint32_t uid, uint32_t gid)
{
	struct ns_attr p, e;
	int rc = meta_txn_begin(ns->ms, false);

	if (rc < 0)
		return rc;
	rc = get_attr(ns, parent, &p);
	if (rc == 0)
		rc = may_attr(ns, &p, uid, gid, NS_MAY_WRITE | NS_MAY_EXEC);
	if (rc == 0 && (p.mode & S_ISVTX) && uid != 0 && uid != p.uid) {
		int erc = get_entry(ns, parent, name, &e, NULL);
		if (erc == 0 && e.uid != uid)
			rc = -EPERM;
	}
	return meta_txn_end(ns->ms, rc);
}

/* ---- for the other parts of the namespace (ns_internal.h) --------------- */

int nsi_get_attr(struct ns *ns, uint64_t ino, struct ns_attr *a)
{
	return get_attr(ns, ino, a);
}

int nsi_get_dir(struct ns *ns, uint64_t ino, struct ns_attr *a)
{
	return get_dir(ns, ino, a);
}

int nsi_get_entry(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *a)
{
	return get_entry(ns, parent, name, a, NULL);
}

int nsi_put_attr(struct ns *ns, const struct ns_attr *a)
{
	return put_attr(ns, a);
}

int nsi_touch_dir(struct ns *ns, uint64_t dir, int dlink)
{
	return touch_dir(ns, dir, dlink);
}

void nsi_now(int64_t *s, uint32_t *ns_)
{
	now_ts(s, ns_);
}

bool nsi_is_open(struct ns *ns, uint64_t ino)
{
	return ino_is_open(ns, ino);
}

int nsi_drop_inode(struct ns *ns, const struct ns_attr *a)
{
	return drop_inode(ns, a);
}

int nsi_check_not_below(struct ns *ns, uint64_t d, uint64_t ancestor)
{
	return check_not_below(ns, d, ancestor);
}

int nsi_orphan_add(struct ns *ns, uint64_t ino)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_ORPHAN_ADD);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_exec_stmt(ns->ms, st);
	if (rc == 0 && ns->hooks.orphaned)
		ns->hooks.orphaned(ns->hooks.arg, ino);
	return rc;
}

int nsi_dentry_insert(struct ns *ns, uint64_t parent, const char *name, uint64_t ino)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_DENTRY_INSERT);
	sqlite3_bind_int64(st, 1, (int64_t)parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)ino);
	return meta_exec_stmt(ns->ms, st);
}

int nsi_parent_of(struct ns *ns, uint64_t ino, uint64_t *ret)
{
	sqlite3_stmt *st = meta_stmt(ns->ms, SQL_PARENT_OF);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	int rc = meta_step(ns->ms, st);
	if (rc == SQLITE_ROW) {
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}
