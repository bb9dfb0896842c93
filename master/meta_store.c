/* meta_store — SQLite persistence for the master.
 *
 * Owns: the single sqlite3 connection to DIR/meta.db, its prepared
 * statement cache and the mutex that serialises every use of both; and
 * the group-commit state of meta_sync() (a read-only fd on DIR/meta.db-wal,
 * sequence numbers, counters) with its own mutex and condition variable.
 * Does not own: any policy (namespace rules, chunk placement); modules
 * above build their transactions out of meta_stmt() statements.
 *
 * Threads: HTTP handler threads, the repair thread and the Kafka consumer
 * thread all call in; `lock` guards the connection, the statement cache
 * and the transaction state. A transaction is always bracketed by
 * meta_txn_begin()/meta_txn_end(), which take and drop the lock.
 * `sync_lock` guards syncing, synced_seq, sync_failed and the counters;
 * commit_seq is an atomic (written under `lock`, read anywhere). Lock
 * order: never both — meta_sync() takes only sync_lock, transactions only
 * lock.
 *
 * Durability: WAL journal with synchronous=NORMAL. In WAL mode NORMAL
 * syncs at checkpoints only: a committed transaction is in the WAL file
 * (in the OS page cache) when COMMIT returns, so it survives a crash or
 * kill -9 of the process, but a power loss or kernel crash may lose the
 * last transactions (never corrupt the database). FULL would fsync every
 * commit and cap namespace operations at disk-flush rate, so ordinary
 * calls stay on NORMAL and a client that asks for durability (fsync,
 * fsyncdir) calls meta_sync():
 *
 *   - meta_txn_end() gives every successful write commit a number
 *     (commit_seq). No fsync there.
 *   - meta_sync() notes commit_seq as its target. If a completed sync
 *     covered it (synced_seq >= target) it returns at once. If a sync is
 *     running, it waits for it: that sync may cover it, and if not, the
 *     waiters elect one of them to run the next sync, which covers
 *     everything committed up to its start, so all of them share it.
 *   - The syncing thread reads commit_seq (what it covers), drops
 *     sync_lock and calls fdatasync() on its own fd of DIR/meta.db-wal,
 *     while transactions go on under `lock`. (fdatasync: the frames and
 *     the file's size, which reading them back needs, not its mtime — as
 *     SQLite syncs its own files on Linux.)
 *
 * Why a sync of the WAL file alone is enough (SQLite 3.40 wal.c, as
 * documented at sqlite.org/pragma.html#pragma_synchronous): a commit
 * writes its frames and a commit frame to the WAL with write(2), no sync.
 * A checkpoint syncs the WAL, copies frames into meta.db, syncs meta.db,
 * and only then records them as backfilled; the WAL is restarted (its
 * frames overwritten, the header rewritten with new salts and synced)
 * only after every frame was backfilled. So when our sync starts, each
 * commit counted in commit_seq is either still in the WAL — all its
 * frames, the frames before it and the header were written before, and
 * the sync puts them on disk, where recovery finds a valid chain — or
 * its frames were already overwritten, which happens only after meta.db
 * holding them was synced. meta.db never needs a sync of ours. A sync
 * works on the file, not on the descriptor, so our own fd flushes what
 * SQLite's fd wrote. The alternatives cost more: a transaction run with
 * synchronous=FULL or a `PRAGMA wal_checkpoint` has to hold `lock` for
 * the whole disk flush (stalling every other metadata call) and the
 * checkpoint also copies pages. We only open the WAL (never meta.db,
 * whose POSIX locks a close() of another fd would drop) and keep the fd
 * until SQLite has closed and deleted the WAL. meta_open() syncs the WAL
 * and its folder once, so commits left by an earlier run are on disk too.
 *
 * An fsync error is sticky: Linux may mark the failed pages clean and
 * report success to the next fsync, so after one failure no meta_sync()
 * can promise anything until the master restarts (and SQLite recovers
 * from what is on disk); every call returns -EIO, logged once. */
#include "meta_store.h"
#include "wal_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

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
	/* group commit (see the head of the file) */
	_Atomic uint64_t commit_seq;    /* write commits so far; under lock */
	int wal_fd;                     /* DIR/meta.db-wal, read-only; -1 */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_done;       /* a sync finished: look again */
	bool syncing;                   /* a thread is syncing now */
	bool sync_failed;               /* sticky; logged when it happened */
	uint64_t synced_seq;            /* commits 1..synced_seq are on disk */
	uint64_t nsyncs, ncalls;
	int (*sync_hook)(void *arg);    /* tests only */
	void *sync_hook_arg;
	/* the metadata log: every write transaction's changes (under lock) */
	struct meta_log_hook log;
	void (*end_fn)(void *arg, bool committed);   /* meta_set_end_hook */
	void *end_arg;
	sqlite3_session *sess;          /* of the open transaction, or NULL */
	bool group_broken;              /* SQLite ended the group's transaction */
};

/* The store whose group (meta_group_begin) this thread has open: its
 * transactions become savepoints of the group's. */
static __thread struct meta_store *tl_group;

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
	" target BLOB, trashtime INTEGER NOT NULL DEFAULT 86400,"
	" dver INTEGER NOT NULL DEFAULT 0);"
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
	/* A file's chunk slots. chunk_id names the chunk on the workers;
	 * snapshots make several slots name one chunk (copy-on-write at
	 * the next write, chunk_map.c), so it is no key here. */
	"CREATE TABLE IF NOT EXISTS chunks("
	" ino INTEGER NOT NULL, idx INTEGER NOT NULL,"
	" chunk_id INTEGER NOT NULL, version INTEGER NOT NULL,"
	" lease_session TEXT, lease_expiry_ms INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(ino, idx)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS chunks_id ON chunks(chunk_id);"
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
	/* inode numbers given to a mount to name the files it creates
	 * before the master has seen them (namespace.h ns_reserve_inos) */
	"CREATE TABLE IF NOT EXISTS ino_ranges("
	" lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL, session TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS settings("
	" name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	/* where this database stands in the metadata log (master/metalog.c);
	 * never part of a logged change itself */
	"CREATE TABLE IF NOT EXISTS metalog_state("
	" id INTEGER PRIMARY KEY CHECK(id = 1), state BLOB NOT NULL);";

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

/* Transaction control, prepared once (sqlite3_exec parses its text at
 * every call: about 4% of the master's CPU in an rm -rf). */
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT op";
static const char SQL_RELEASE[] = "RELEASE op";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO op";
static int exec_cached(struct meta_store *ms, const char *sql);

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

static int exec_cached(struct meta_store *ms, const char *sql)
{
	sqlite3_stmt *st = meta_stmt(ms, sql);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_err("meta: '%s': %s", sql, sqlite3_errmsg(ms->db));
		return -EIO;
	}
	return 0;
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

/* Every table but metalog_state goes into a logged change. */
static int log_table_filter(void *arg, const char *table)
{
	(void)arg;
	return strcmp(table, "metalog_state") != 0;
}

/* A transaction inside this thread's group: a savepoint. */
static int nested_begin(struct meta_store *ms)
{
	if (ms->group_broken)
		return -EIO;
	return exec_cached(ms, SQL_SAVEPOINT);
}

static int nested_end(struct meta_store *ms, int rc)
{
	if (sqlite3_get_autocommit(ms->db)) {
		/* an I/O error or a full disk made SQLite roll the whole
		 * transaction back: nothing of the group stands */
		ms->group_broken = true;
		return rc < 0 ? rc : -EIO;
	}
	if (rc == 0 && exec_cached(ms, SQL_RELEASE) == 0)
		return 0;
	if (exec_cached(ms, SQL_ROLLBACK_TO) < 0 || exec_cached(ms, SQL_RELEASE) < 0)
		ms->group_broken = true;
	return rc < 0 ? rc : -EIO;
}

int meta_txn_begin(struct meta_store *ms, bool write)
{
	if (tl_group == ms)
		return nested_begin(ms);
	pthread_mutex_lock(&ms->lock);
	int rc = exec_cached(ms, write ? SQL_BEGIN_IMMEDIATE : SQL_BEGIN);
	if (rc < 0) {
		pthread_mutex_unlock(&ms->lock);
		return rc;
	}
	if (ms->log.prepare) {
		if (sqlite3session_create(ms->db, "main", &ms->sess) != SQLITE_OK ||
		    sqlite3session_attach(ms->sess, NULL) != SQLITE_OK) {
			log_err("meta: cannot record the transaction's changes: %s",
				sqlite3_errmsg(ms->db));
			if (ms->sess)
				sqlite3session_delete(ms->sess);
			ms->sess = NULL;
			exec_cached(ms, SQL_ROLLBACK);
			pthread_mutex_unlock(&ms->lock);
			return -EIO;
		}
		sqlite3session_table_filter(ms->sess, log_table_filter, NULL);
	}
	return 0;
}

/* Hand the transaction's changes to the log before COMMIT. Returns 0 with
 * *logged false when there is nothing to log, or the hook's answer. */
static int log_prepare(struct meta_store *ms, bool *logged, uint64_t *ticket)
{
	int n = 0, rc;
	void *cs = NULL;

	*logged = false;
	if (sqlite3session_changeset(ms->sess, &n, &cs) != SQLITE_OK) {
		log_err("meta: cannot read the transaction's changes: %s",
			sqlite3_errmsg(ms->db));
		return -EIO;
	}
	rc = 0;
	if (n > 0) {
		rc = ms->log.prepare(ms->log.arg, cs, (size_t)n, ticket);
		*logged = rc == 0;
	}
	sqlite3_free(cs);
	return rc;
}

/* Lock held, after a commit: its WAL frames are in the kernel (the WAL
 * buffer wrote them with the commit frame; wal_buffer.h). Anything still
 * gathered means SQLite wrote its frames otherwise than it does: written
 * now, and if that fails the store is as after a failed fsync. */
static void wal_written(struct meta_store *ms)
{
	int left = wal_buffer_flush(ms->db);
	if (left == 0)
		return;
	if (left > 0) {
		log_warn("meta: a commit's WAL frames were still gathered after it; written now");
		return;
	}
	pthread_mutex_lock(&ms->sync_lock);
	ms->sync_failed = true;
	pthread_mutex_unlock(&ms->sync_lock);
	log_err("meta: a commit's WAL frames could not be written; fsync and changes fail "
		"from now on");
}

int meta_txn_end(struct meta_store *ms, int rc)
{
	bool logged = false;
	uint64_t ticket = 0;

	if (tl_group == ms)
		return nested_end(ms, rc);

	if (rc == 0) {
		/* a write transaction (BEGIN IMMEDIATE, or one that wrote)
		 * appends to the WAL: meta_sync() must cover it */
		bool wrote = sqlite3_txn_state(ms->db, NULL) == SQLITE_TXN_WRITE;
		if (ms->sess && wrote)
			rc = log_prepare(ms, &logged, &ticket);
		if (rc == 0)
			rc = exec_cached(ms, SQL_COMMIT);
		if (rc < 0)
			exec_cached(ms, SQL_ROLLBACK);
		else if (wrote) {
			wal_written(ms);
			atomic_fetch_add_explicit(&ms->commit_seq, 1, memory_order_release);
		}
		if (logged)
			ms->log.finish(ms->log.arg, ticket, rc == 0);
	} else if (!sqlite3_get_autocommit(ms->db)) {
		exec_cached(ms, SQL_ROLLBACK);
	}
	if (ms->end_fn)
		ms->end_fn(ms->end_arg, rc == 0);
	if (ms->sess) {
		sqlite3session_delete(ms->sess);
		ms->sess = NULL;
	}
	pthread_mutex_unlock(&ms->lock);
	if (logged && rc == 0)
		rc = ms->log.wait(ms->log.arg, ticket);
	return rc;
}

int meta_group_begin(struct meta_store *ms)
{
	if (tl_group)
		return -EBUSY;
	int rc = meta_txn_begin(ms, true);
	if (rc < 0)
		return rc;
	ms->group_broken = false;
	tl_group = ms;
	return 0;
}

int meta_group_end(struct meta_store *ms, int rc)
{
	if (tl_group != ms)
		return -EINVAL;
	tl_group = NULL;
	if (ms->group_broken && rc == 0)
		rc = -EIO;
	ms->group_broken = false;
	return meta_txn_end(ms, rc);
}

void meta_set_log_hook(struct meta_store *ms, const struct meta_log_hook *hook)
{
	pthread_mutex_lock(&ms->lock);
	if (hook)
		ms->log = *hook;
	else
		memset(&ms->log, 0, sizeof(ms->log));
	pthread_mutex_unlock(&ms->lock);
}

void meta_set_end_hook(struct meta_store *ms, void (*fn)(void *arg, bool committed), void *arg)
{
	pthread_mutex_lock(&ms->lock);
	ms->end_fn = fn;
	ms->end_arg = arg;
	pthread_mutex_unlock(&ms->lock);
}

/* A conflict means this database is not the one the change was made on. */
static int apply_conflict(void *arg, int why, sqlite3_changeset_iter *it)
{
	(void)it;
	*(int *)arg = why;
	return SQLITE_CHANGESET_ABORT;
}

int meta_apply_changeset(struct meta_store *ms, const void *cs, size_t n)
{
	int why = 0;

	if (n > INT32_MAX)
		return -EINVAL;
	int rc = sqlite3changeset_apply(ms->db, (int)n, (void *)cs, NULL, apply_conflict, &why);
	if (rc == SQLITE_OK)
		return 0;
	log_err("meta: a logged change does not apply here (%s, conflict %d): this database "
		"differs from the log", sqlite3_errstr(rc), why);
	return why ? -ESTALE : -EIO;
}

int meta_state_get(struct meta_store *ms, void *buf, size_t cap, size_t *len)
{
	static const char *const sql = "SELECT state FROM metalog_state WHERE id = 1";
	sqlite3_stmt *st = meta_stmt(ms, sql);
	int rc = meta_step(ms, st);

	*len = 0;
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		if (n > cap) {
			rc = -EOVERFLOW;
		} else {
			if (n)
				memcpy(buf, sqlite3_column_blob(st, 0), n);
			*len = n;
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

int meta_state_put(struct meta_store *ms, const void *buf, size_t len)
{
	static const char *const sql =
		"INSERT INTO metalog_state(id, state) VALUES(1, ?1) "
		"ON CONFLICT(id) DO UPDATE SET state = excluded.state";
	sqlite3_stmt *st = meta_stmt(ms, sql);
	sqlite3_bind_blob(st, 1, buf, (int)len, SQLITE_STATIC);
	return meta_exec_stmt(ms, st);
}

int meta_snapshot_quiesced(struct meta_store *ms, int (*quiesce)(void *arg), void *arg,
			   void **ret, size_t *len)
{
	sqlite3_int64 n = 0;

	pthread_mutex_lock(&ms->lock);
	int rc = quiesce ? quiesce(arg) : 0;
	if (rc < 0) {
		pthread_mutex_unlock(&ms->lock);
		return rc;
	}
	unsigned char *p = sqlite3_serialize(ms->db, "main", &n, 0);
	pthread_mutex_unlock(&ms->lock);
	if (!p) {
		log_err("meta: cannot make a snapshot of the database");
		return -ENOMEM;
	}
	*ret = p;
	*len = (size_t)n;
	return 0;
}

void meta_snapshot_free(void *p)
{
	sqlite3_free(p);
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

/* ---- durability: group commit ----------------------------------------- */

/* One disk sync of every commit written so far. The caller holds no lock. */
static int sync_wal(struct meta_store *ms)
{
	struct stat st;

	if (ms->sync_hook) {
		int rc = ms->sync_hook(ms->sync_hook_arg);
		if (rc < 0)
			return rc;
	}
	if (fdatasync(ms->wal_fd) < 0)
		return -errno;
	/* SQLite deletes the WAL only at close: a WAL gone while we run
	 * means our fd no longer reaches the file commits go to */
	if (fstat(ms->wal_fd, &st) < 0)
		return -errno;
	if (st.st_nlink == 0)
		return -ESTALE;
	return 0;
}

int meta_sync(struct meta_store *ms)
{
	uint64_t target = atomic_load_explicit(&ms->commit_seq, memory_order_acquire);
	int rc = 0;

	pthread_mutex_lock(&ms->sync_lock);
	ms->ncalls++;
	for (;;) {
		if (ms->sync_failed) {
			rc = -EIO;
			break;
		}
		if (ms->synced_seq >= target)
			break;
		if (ms->syncing) {
			/* it may cover target; if not, the next one will */
			pthread_cond_wait(&ms->sync_done, &ms->sync_lock);
			continue;
		}
		/* this thread syncs, for itself and every waiter */
		ms->syncing = true;
		uint64_t covers = atomic_load_explicit(&ms->commit_seq, memory_order_acquire);
		pthread_mutex_unlock(&ms->sync_lock);
		int src = sync_wal(ms);
		pthread_mutex_lock(&ms->sync_lock);
		ms->syncing = false;
		ms->nsyncs++;
		if (src < 0) {
			ms->sync_failed = true;
			log_err("meta: sync of the metadata WAL failed: %s; fsync and "
				"fsyncdir of every client fail with EIO until the master "
				"restarts", strerror(-src));
		} else if (covers > ms->synced_seq) {
			ms->synced_seq = covers;
		}
		pthread_cond_broadcast(&ms->sync_done);
	}
	pthread_mutex_unlock(&ms->sync_lock);
	return rc;
}

uint64_t meta_sync_count(struct meta_store *ms)
{
	pthread_mutex_lock(&ms->sync_lock);
	uint64_t n = ms->nsyncs;
	pthread_mutex_unlock(&ms->sync_lock);
	return n;
}

uint64_t meta_sync_calls(struct meta_store *ms)
{
	pthread_mutex_lock(&ms->sync_lock);
	uint64_t n = ms->ncalls;
	pthread_mutex_unlock(&ms->sync_lock);
	return n;
}

void meta_sync_set_hook(struct meta_store *ms, int (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&ms->sync_lock);
	ms->sync_hook = fn;
	ms->sync_hook_arg = arg;
	pthread_mutex_unlock(&ms->sync_lock);
}

/* Open DIR/meta.db-wal for meta_sync() and put the WAL and the folder
 * entry naming it on disk, so commits of an earlier run are durable too.
 * SQLite has created the WAL by now (journal_mode=WAL and a first
 * transaction). 0 or -errno, logged. */
static int open_wal(struct meta_store *ms, const char *path)
{
	const char *wal = sqlite3_filename_wal(sqlite3_db_filename(ms->db, "main"));
	char *dir_copy;
	int dfd, rc = 0;

	ms->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (ms->wal_fd < 0) {
		rc = -errno;
		log_err("meta: cannot open the WAL %s: %s", wal, strerror(-rc));
		return rc;
	}
	if (fsync(ms->wal_fd) < 0) {
		rc = -errno;
		log_err("meta: fsync %s: %s", wal, strerror(-rc));
		return rc;
	}
	dir_copy = strdup(path);
	if (!dir_copy)
		return -ENOMEM;
	dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = -errno;
		log_err("meta: fsync of the folder of %s: %s", path, strerror(-rc));
	}
	if (dfd >= 0)
		close(dfd);
	free(dir_copy);
	return rc;
}

/* Root inode and cluster id, created once. */
/* Does table have column? 1, 0 (also when there is no such table). */
static int has_column(struct meta_store *ms, const char *table, const char *column,
		      bool *ret_pk)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	int found = 0;

	snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
	if (sqlite3_prepare_v2(ms->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (name && strcmp(name, column) == 0) {
			found = 1;
			if (ret_pk)
				*ret_pk = sqlite3_column_int(st, 5) == 1;
		}
	}
	sqlite3_finalize(st);
	return found;
}

/* Databases of earlier versions: inodes get trashtime and dver; chunks,
 * keyed by chunk_id then, become slots keyed by (ino, idx). */
static int migrate(struct meta_store *ms)
{
	bool pk = false;
	int rc = has_column(ms, "inodes", "ino", NULL);

	if (rc <= 0)
		return rc;      /* a new database */
	rc = has_column(ms, "inodes", "trashtime", NULL);
	if (rc == 0)
		rc = exec_sql(ms, "ALTER TABLE inodes ADD COLUMN trashtime INTEGER NOT NULL"
				  " DEFAULT 86400");
	if (rc < 0)
		return rc;
	rc = has_column(ms, "inodes", "dver", NULL);
	if (rc == 0)
		rc = exec_sql(ms, "ALTER TABLE inodes ADD COLUMN dver INTEGER NOT NULL DEFAULT 0");
	if (rc < 0)
		return rc;
	rc = has_column(ms, "chunks", "chunk_id", &pk);
	if (rc <= 0 || !pk)
		return rc < 0 ? rc : 0;
	log_info("meta: moving the chunks table to per-file slots (snapshots)");
	return exec_sql(ms,
		"BEGIN;"
		"CREATE TABLE chunks_slots(ino INTEGER NOT NULL, idx INTEGER NOT NULL,"
		" chunk_id INTEGER NOT NULL, version INTEGER NOT NULL,"
		" lease_session TEXT, lease_expiry_ms INTEGER NOT NULL DEFAULT 0,"
		" PRIMARY KEY(ino, idx)) WITHOUT ROWID;"
		"INSERT INTO chunks_slots SELECT ino, idx, chunk_id, version, lease_session,"
		" lease_expiry_ms FROM chunks;"
		"DROP TABLE chunks;"
		"ALTER TABLE chunks_slots RENAME TO chunks;"
		"COMMIT;");
}

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

/* Each op of a group (meta_group_begin) is a savepoint, whose first change
 * of a page copies the page to the sub-journal (to roll the op back).
 * Past 64 KiB (SQLite's default spill) that journal becomes a temporary
 * file, and with locking_mode=EXCLUSIVE SQLite keeps the file until the
 * database closes: after one big op, two write(2) per page copied, 16
 * per queued unlink, 147,000 for an rm -r of 9,000 entries, a third of
 * the master's time. Kept in memory up to this much instead (emptied when
 * the op's savepoint is released); an op bigger than that still goes to
 * a file. SQLite allocates such a journal as one block of this size, so
 * it must stay under glibc's largest mmap threshold (32 MiB): at 64 MiB
 * every op mapped and unmapped 64 MiB, and rm -r ran twice as long as
 * with the file. At 8 MiB the block is reused from the heap. */
#define META_SUBJOURNAL_SPILL (8 << 20)

static void sqlite_config_once(void)
{
	/* only before SQLite initialises (the first VFS or open call);
	 * if something did that first, the journal spills as before */
	if (sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, META_SUBJOURNAL_SPILL) != SQLITE_OK)
		log_info("meta: sub-journals go to a file past 64 KiB (SQLite initialised already)");
}

int meta_open(const char *path, uint32_t default_goal, struct meta_store **ret)
{
	static pthread_once_t config_once = PTHREAD_ONCE_INIT;
	pthread_once(&config_once, sqlite_config_once);
	struct meta_store *ms = calloc(1, sizeof(*ms));
	int rc;

	if (!ms)
		return -ENOMEM;
	pthread_mutex_init(&ms->lock, NULL);
	pthread_mutex_init(&ms->sync_lock, NULL);
	pthread_cond_init(&ms->sync_done, NULL);
	ms->wal_fd = -1;
	/* each commit's WAL frames in one write (wal_buffer.h) */
	const char *vfs = wal_buffer_register() == 0 ? WAL_BUFFER_VFS : NULL;
	if (sqlite3_open_v2(path, &ms->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    vfs) != SQLITE_OK) {
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
		rc = migrate(ms);
	if (rc == 0)
		rc = exec_sql(ms, schema_sql);
	if (rc < 0)
		goto out_close;
	rc = init_contents(ms, default_goal);
	if (rc == 0)
		rc = open_wal(ms, path);
	if (rc < 0)
		goto out_close;
	/* everything so far is on disk */
	ms->synced_seq = atomic_load(&ms->commit_seq);
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
	/* after SQLite let go of (and deleted) the WAL */
	if (ms->wal_fd >= 0)
		close(ms->wal_fd);
	pthread_mutex_unlock(&ms->lock);
	pthread_cond_destroy(&ms->sync_done);
	pthread_mutex_destroy(&ms->sync_lock);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

/* Write len bytes to path, synced; 0 or -errno. */
static int write_file_synced(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const char *p = buf;
	int rc = 0;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int meta_replace_file(const char *path, const void *buf, size_t len)
{
	char tmp[4200], side[4200];
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((rc = write_file_synced(tmp, buf, len)) < 0) {
		unlink(tmp);
		return rc;
	}
	/* a WAL left by a killed run belongs to the old file: it must not
	 * be played onto the new one */
	static const char *const sides[] = { "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, sides[i]);
		if (unlink(side) < 0 && errno != ENOENT)
			return -errno;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	char *dir_copy = strdup(path);
	if (!dir_copy)
		return -ENOMEM;
	int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd < 0 || fsync(dfd) < 0 ? -errno : 0;
	if (dfd >= 0)
		close(dfd);
	free(dir_copy);
	return rc;
}
