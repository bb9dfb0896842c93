/* meta_store — SQLite persistence for the master.
 *
 * Owns: the single sqlite3 connection to DIR/meta.db, its prepared
 * statement cache and the mutex that serialises every use of both.
 * Does not own: any policy (namespace rules, chunk placement); modules
 * above build their transactions out of meta_stmt() statements.
 *
 * Threads: HTTP handler threads, the repair thread and the Kafka consumer
 * thread all call in; `lock` guards the connection, the statement cache
 * and the transaction state. A transaction is always bracketed by
 * meta_txn_begin()/meta_txn_end(), which take and drop the lock.
 *
 * Durability: WAL journal with synchronous=NORMAL. In WAL mode NORMAL
 * syncs the WAL at checkpoints only, so a committed transaction is in the
 * WAL file (in the OS page cache) when COMMIT returns: it survives a crash
 * or kill -9 of the process, but not a power loss / kernel crash, which
 * may lose the last transactions (never corrupt the database). FULL would
 * fsync every commit and cap namespace operations at disk-flush rate. */
#include "meta_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#define STMT_CACHE_MAX 160

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
};

struct meta_store {
	pthread_mutex_t lock;
	sqlite3 *db;
	struct stmt_slot cache[STMT_CACHE_MAX];
	int ncache;
	char cluster_id[17];
};

static const char *const schema_sql =
	"CREATE TABLE IF NOT EXISTS inodes("
	" ino INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mode INTEGER NOT NULL, nlink INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
	" size INTEGER NOT NULL DEFAULT 0, rdev INTEGER NOT NULL DEFAULT 0,"
	" goal INTEGER NOT NULL,"
	" atime_s INTEGER NOT NULL, atime_ns INTEGER NOT NULL,"
	" mtime_s INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
	" ctime_s INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
	" target BLOB);"
	"CREATE TABLE IF NOT EXISTS dentries("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" parent INTEGER NOT NULL, name TEXT NOT NULL, ino INTEGER NOT NULL,"
	" UNIQUE(parent, name));"
	"CREATE INDEX IF NOT EXISTS dentries_ino ON dentries(ino);"
	/* readdir pages by (parent, id > cookie): without this index every
	 * page scans and sorts the whole directory. */
	"CREATE INDEX IF NOT EXISTS dentries_parent_id ON dentries(parent, id);"
	"CREATE TABLE IF NOT EXISTS xattrs("
	" ino INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
	" PRIMARY KEY(ino, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS chunks("
	" chunk_id INTEGER PRIMARY KEY, ino INTEGER NOT NULL,"
	" idx INTEGER NOT NULL, version INTEGER NOT NULL,"
	" lease_session TEXT, lease_expiry_ms INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(ino, idx));"
	"CREATE TABLE IF NOT EXISTS replicas("
	" chunk_id INTEGER NOT NULL, worker_id TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" PRIMARY KEY(chunk_id, worker_id)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS replicas_worker ON replicas(worker_id);"
	"CREATE TABLE IF NOT EXISTS workers("
	" worker_id TEXT PRIMARY KEY, addr TEXT NOT NULL,"
	" capacity INTEGER NOT NULL, used INTEGER NOT NULL,"
	" registered_s INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pending_deletes("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" chunk_id INTEGER NOT NULL, worker_id TEXT NOT NULL,"
	" UNIQUE(chunk_id, worker_id));"
	"CREATE TABLE IF NOT EXISTS counters("
	" name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS settings("
	" name TEXT PRIMARY KEY, value TEXT NOT NULL);";

static int exec_sql(struct meta_store *ms, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(ms->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("meta: '%.60s': %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

sqlite3_stmt *meta_stmt(struct meta_store *ms, const char *sql)
{
	for (int i = 0; i < ms->ncache; i++) {
		if (ms->cache[i].sql == sql) {
			sqlite3_reset(ms->cache[i].st);
			sqlite3_clear_bindings(ms->cache[i].st);
			return ms->cache[i].st;
		}
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(ms->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK) {
		log_err("meta: prepare '%s': %s", sql, sqlite3_errmsg(ms->db));
		log_abort(__FILE__, __LINE__, "SQL statement does not prepare");
	}
	if (ms->ncache < STMT_CACHE_MAX)
		ms->cache[ms->ncache++] = (struct stmt_slot){ sql, st };
	else
		log_abort(__FILE__, __LINE__, "statement cache full");
	return st;
}

int meta_step(struct meta_store *ms, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		sqlite3_reset(st);
		return -EEXIST;
	}
	log_err("meta: step '%.80s': %s", sqlite3_sql(st), sqlite3_errmsg(ms->db));
	sqlite3_reset(st);
	return -EIO;
}

int meta_exec_stmt(struct meta_store *ms, sqlite3_stmt *st)
{
	int rc = meta_step(ms, st);
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	return 0;
}

int meta_changes(struct meta_store *ms)
{
	return sqlite3_changes(ms->db);
}

int64_t meta_last_rowid(struct meta_store *ms)
{
	return sqlite3_last_insert_rowid(ms->db);
}

int meta_txn_begin(struct meta_store *ms, bool write)
{
	pthread_mutex_lock(&ms->lock);
	int rc = exec_sql(ms, write ? "BEGIN IMMEDIATE" : "BEGIN");
	if (rc < 0)
		pthread_mutex_unlock(&ms->lock);
	return rc;
}

int meta_txn_end(struct meta_store *ms, int rc)
{
	if (rc == 0) {
		rc = exec_sql(ms, "COMMIT");
		if (rc < 0)
			exec_sql(ms, "ROLLBACK");
	} else if (!sqlite3_get_autocommit(ms->db)) {
		exec_sql(ms, "ROLLBACK");
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

int meta_counter_next(struct meta_store *ms, const char *name, uint64_t *ret)
{
	static const char *const upd =
		"INSERT INTO counters(name, value) VALUES(?1, 1) "
		"ON CONFLICT(name) DO UPDATE SET value = value + 1 "
		"RETURNING value";
	sqlite3_stmt *st = meta_stmt(ms, upd);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = meta_step(ms, st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc < 0 ? rc : -EIO;
	}
	*ret = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

const char *meta_cluster_id(const struct meta_store *ms)
{
	return ms->cluster_id;
}

/* Root inode and cluster id, created once. */
static int init_contents(struct meta_store *ms, uint32_t default_goal)
{
	static const char *const ins_root =
		"INSERT OR IGNORE INTO inodes(ino, mode, nlink, uid, gid, goal,"
		" atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns)"
		" VALUES(1, 16877, 2, 0, 0, ?1, ?2, ?3, ?2, ?3, ?2, ?3)";
	static const char *const get_id =
		"SELECT value FROM settings WHERE name = 'cluster_id'";
	static const char *const set_id =
		"INSERT INTO settings(name, value) VALUES('cluster_id', ?1)";
	struct timespec now;
	int rc = meta_txn_begin(ms, true);
	if (rc < 0)
		return rc;

	clock_gettime(CLOCK_REALTIME, &now);
	sqlite3_stmt *st = meta_stmt(ms, ins_root);
	sqlite3_bind_int64(st, 1, default_goal);
	sqlite3_bind_int64(st, 2, now.tv_sec);
	sqlite3_bind_int64(st, 3, now.tv_nsec);
	rc = meta_exec_stmt(ms, st);
	if (rc < 0)
		goto out_end;

	st = meta_stmt(ms, get_id);
	rc = meta_step(ms, st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		snprintf(ms->cluster_id, sizeof(ms->cluster_id), "%s", v ? v : "");
		sqlite3_reset(st);
		rc = 0;
		goto out_end;
	}
	sqlite3_reset(st);
	if (rc < 0)
		goto out_end;
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = -errno;
		goto out_end;
	}
	for (int i = 0; i < 8; i++)
		snprintf(ms->cluster_id + 2 * i, 3, "%02x", rnd[i]);
	st = meta_stmt(ms, set_id);
	sqlite3_bind_text(st, 1, ms->cluster_id, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(ms, st);
out_end:
	return meta_txn_end(ms, rc);
}

int meta_open(const char *path, uint32_t default_goal, struct meta_store **ret)
{
	struct meta_store *ms = calloc(1, sizeof(*ms));
	int rc;

	if (!ms)
		return -ENOMEM;
	pthread_mutex_init(&ms->lock, NULL);
	if (sqlite3_open_v2(path, &ms->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_err("meta: cannot open %s: %s", path,
			ms->db ? sqlite3_errmsg(ms->db) : "out of memory");
		rc = -EIO;
		goto out_close;
	}
	sqlite3_busy_timeout(ms->db, 5000);
	/* The master is the database's only user: exclusive locking keeps
	 * the file locked from the first transaction to the close, so a
	 * transaction costs no fcntl lock calls and the WAL index lives in
	 * the heap instead of a -shm file; a second master started on the
	 * same folder gets "database is locked" instead of sharing it. */
	rc = exec_sql(ms, "PRAGMA locking_mode=EXCLUSIVE");
	if (rc == 0)
		rc = exec_sql(ms, "PRAGMA journal_mode=WAL");
	if (rc == 0)
		rc = exec_sql(ms, "PRAGMA synchronous=NORMAL");
	if (rc == 0)
		rc = exec_sql(ms, "PRAGMA foreign_keys=OFF");
	if (rc == 0)
		rc = exec_sql(ms, schema_sql);
	if (rc < 0)
		goto out_close;
	rc = init_contents(ms, default_goal);
	if (rc < 0)
		goto out_close;
	*ret = ms;
	return 0;

out_close:
	meta_close(ms);
	return rc;
}

void meta_close(struct meta_store *ms)
{
	if (!ms)
		return;
	pthread_mutex_lock(&ms->lock);
	for (int i = 0; i < ms->ncache; i++)
		sqlite3_finalize(ms->cache[i].st);
	ms->ncache = 0;
	if (ms->db) {
		sqlite3_wal_checkpoint_v2(ms->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
					  NULL, NULL);
		if (sqlite3_close(ms->db) != SQLITE_OK)
			log_err("meta: close: %s", sqlite3_errmsg(ms->db));
	}
	pthread_mutex_unlock(&ms->lock);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}
