/* chunk_map — the chunk map: chunks, replicas, versions, write leases and
 * the garbage queue, all in meta_store tables.
 *
 * Owns no memory state beyond its configuration: every fact lives in the
 * database (tables chunks, replicas, pending_deletes, workers), so a
 * restart loses nothing. Liveness comes from worker_registry (a leaf lock
 * taken while the meta lock is held). Threads: HTTP handlers, the repair
 * thread. Guarded by meta_store's lock (each function is one transaction,
 * or runs inside the caller's).
 *
 * A chunk's replica set: rows (chunk_id, worker_id, version). A replica is
 * "current" when its version equals the chunk's; only live current
 * replicas are served or written.
 *
 *   (none) --cm_write, first write--> v1 on `goal` live workers, leased
 *   vN --cm_write, new session--> vN+1 on the live current replicas;
 *        the others are queued for deletion (pending_deletes)
 *   leased --cm_release_locked / lease expiry--> unleased
 *   replica --cm_replica_failed / failed truncate--> queued for deletion
 *        (never the last current one)
 *   under goal --cm_repair_scan + cm_repair_done--> new current replica
 *   over goal --cm_repair_scan--> extra replica queued for deletion
 *   leaving (draining worker, rebalance source) --cm_repair_scan, once
 *        goal other copies exist--> queued for deletion
 *   file gone / shrunk --cm_drop_inode_locked / cm_truncate_locked-->
 *        all replicas queued for deletion
 *
 * A queued deletion (chunk, worker) and a replica row for the same pair
 * never coexist: whoever adds one removes the other. */
#include "chunk_map.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "placement.h"
#include "transport_config.h"

struct chunk_map {
	struct meta_store *ms;
	struct wreg *reg;
	const struct secret *secret;
	int64_t lease_ms;
};

/* ---- SQL ---------------------------------------------------------------- */

static const char *const SQL_INODE_FILE =
	"SELECT mode, size, goal FROM inodes WHERE ino = ?1";
static const char *const SQL_CHUNK_BY_IDX =
	"SELECT chunk_id, version, lease_session, lease_expiry_ms FROM chunks"
	" WHERE ino = ?1 AND idx = ?2";
static const char *const SQL_CHUNK_VERSION =
	"SELECT version FROM chunks WHERE chunk_id = ?1 LIMIT 1";
static const char *const SQL_CHUNKS_RANGE =
	"SELECT chunk_id, idx, version FROM chunks"
	" WHERE ino = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx";
static const char *const SQL_CHUNKS_OF_INO =
	"SELECT chunk_id, idx, version FROM chunks WHERE ino = ?1 ORDER BY idx";
static const char *const SQL_LEASE_EXTEND =
	"UPDATE chunks SET lease_expiry_ms = ?2 WHERE chunk_id = ?1";
static const char *const SQL_CHUNK_BUMP =
	"UPDATE chunks SET version = ?2, lease_session = ?3, lease_expiry_ms = ?4"
	" WHERE chunk_id = ?1";
static const char *const SQL_CHUNK_SET_VERSION =
	"UPDATE chunks SET version = ?2 WHERE chunk_id = ?1";
static const char *const SQL_CHUNK_INSERT =
	"INSERT INTO chunks(chunk_id, ino, idx, version, lease_session,"
	" lease_expiry_ms) VALUES(?1, ?2, ?3, 1, ?4, ?5)";
static const char *const SQL_LEASE_RELEASE =
	"UPDATE chunks SET lease_session = NULL, lease_expiry_ms = 0"
	" WHERE ino = ?1 AND idx = ?2 AND lease_session = ?3";
static const char *const SQL_LEASE_RELEASE_SESSION =
	"UPDATE chunks SET lease_session = NULL, lease_expiry_ms = 0"
	" WHERE lease_session = ?1";
static const char *const SQL_REPLICAS_OF =
	"SELECT worker_id, version FROM replicas WHERE chunk_id = ?1";
static const char *const SQL_REPLICA_UPSERT =
	"INSERT INTO replicas(chunk_id, worker_id, version) VALUES(?1, ?2, ?3)"
	" ON CONFLICT(chunk_id, worker_id) DO UPDATE SET version = excluded.version";
static const char *const SQL_REPLICA_DELETE =
	"DELETE FROM replicas WHERE chunk_id = ?1 AND worker_id = ?2";
static const char *const SQL_REPLICA_EXISTS =
	"SELECT 1 FROM replicas WHERE chunk_id = ?1 AND worker_id = ?2";
static const char *const SQL_REPLICAS_OF_WORKER =
	"SELECT chunk_id FROM replicas WHERE worker_id = ?1";
static const char *const SQL_PENDING_ADD =
	"INSERT OR IGNORE INTO pending_deletes(chunk_id, worker_id) VALUES(?1, ?2)";
static const char *const SQL_PENDING_DEL_PAIR =
	"DELETE FROM pending_deletes WHERE chunk_id = ?1 AND worker_id = ?2";
static const char *const SQL_PENDING_EXISTS =
	"SELECT 1 FROM pending_deletes WHERE chunk_id = ?1 AND worker_id = ?2";
static const char *const SQL_PENDING_OF_CHUNK =
	"SELECT worker_id FROM pending_deletes WHERE chunk_id = ?1";
static const char *const SQL_PENDING_PAGE =
	"SELECT id, chunk_id, worker_id FROM pending_deletes WHERE id > ?1"
	" ORDER BY id LIMIT ?2";
static const char *const SQL_PENDING_DEL_ID =
	"DELETE FROM pending_deletes WHERE id = ?1";
static const char *const SQL_DROP_INO_QUEUE =
	"INSERT OR IGNORE INTO pending_deletes(chunk_id, worker_id)"
	" SELECT r.chunk_id, r.worker_id FROM replicas r"
	" JOIN chunks c ON c.chunk_id = r.chunk_id WHERE c.ino = ?1 AND c.idx >= ?2"
	" AND c.idx < ?3 AND NOT EXISTS (SELECT 1 FROM chunks o WHERE"
	" o.chunk_id = c.chunk_id AND (o.ino != ?1 OR o.idx < ?2 OR o.idx >= ?3))";
static const char *const SQL_DROP_INO_REPLICAS =
	"DELETE FROM replicas WHERE chunk_id IN"
	" (SELECT c.chunk_id FROM chunks c WHERE c.ino = ?1 AND c.idx >= ?2 AND c.idx < ?3"
	" AND NOT EXISTS (SELECT 1 FROM chunks o WHERE o.chunk_id = c.chunk_id"
	" AND (o.ino != ?1 OR o.idx < ?2 OR o.idx >= ?3)))";
static const char *const SQL_DROP_INO_CHUNKS =
	"DELETE FROM chunks WHERE ino = ?1 AND idx >= ?2 AND idx < ?3";
static const char *const SQL_WORKER_UPSERT =
	"INSERT INTO workers(worker_id, addr, capacity, used, registered_s)"
	" VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(worker_id) DO UPDATE SET"
	" addr = excluded.addr, capacity = excluded.capacity,"
	" used = excluded.used, registered_s = excluded.registered_s";
static const char *const SQL_WORKERS_ALL =
	"SELECT worker_id, addr, capacity, used FROM workers";
/* One row per chunk, however many files' slots name it (snapshots): the
 * highest goal of those files, leased if any slot is. */
static const char *const SQL_SCAN =
	"SELECT c.chunk_id, MAX(c.version), MAX(i.goal),"
	" MAX(c.lease_session IS NOT NULL AND c.lease_expiry_ms > ?3)"
	" FROM chunks c JOIN inodes i ON i.ino = c.ino"
	" WHERE c.chunk_id > ?1 GROUP BY c.chunk_id ORDER BY c.chunk_id LIMIT ?2";
static const char *const SQL_COUNT_CHUNKS = "SELECT count(DISTINCT chunk_id) FROM chunks";
/* Snapshots: slots naming one chunk. */
static const char *const SQL_CHUNK_SHARED =
	"SELECT 1 FROM chunks WHERE chunk_id = ?1 AND NOT (ino = ?2 AND idx = ?3) LIMIT 1";
static const char *const SQL_CHUNK_REFS =
	"SELECT count(*) FROM chunks WHERE chunk_id = ?1";
static const char *const SQL_SLOT_SET_CHUNK =
	"UPDATE chunks SET chunk_id = ?3, version = ?4, lease_session = NULL,"
	" lease_expiry_ms = 0 WHERE ino = ?1 AND idx = ?2";
static const char *const SQL_SLOTS_COPY =
	"INSERT INTO chunks(ino, idx, chunk_id, version, lease_session, lease_expiry_ms)"
	" SELECT ?2, idx, chunk_id, version, NULL, 0 FROM chunks WHERE ino = ?1";
static const char *const SQL_SLOTS_LEASED =
	"SELECT count(*) FROM chunks WHERE ino = ?1 AND lease_session IS NOT NULL"
	" AND lease_expiry_ms > ?2";
static const char *const SQL_SLOTS_OF_INO = "SELECT count(*) FROM chunks WHERE ino = ?1";
static const char *const SQL_RANGE_LEASED =
	"SELECT count(*) FROM chunks WHERE ino = ?1 AND idx >= ?2 AND idx < ?3"
	" AND lease_session IS NOT NULL AND lease_expiry_ms > ?4";
static const char *const SQL_RANGE_COPY =
	"INSERT INTO chunks(ino, idx, chunk_id, version, lease_session, lease_expiry_ms)"
	" SELECT ?4, idx - ?2 + ?5, chunk_id, version, NULL, 0 FROM chunks"
	" WHERE ino = ?1 AND idx >= ?2 AND idx < ?3";
static const char *const SQL_COUNT_INODES = "SELECT count(*) FROM inodes";
static const char *const SQL_COUNT_REPLICAS = "SELECT count(*) FROM replicas";
static const char *const SQL_COUNT_PENDING = "SELECT count(*) FROM pending_deletes";
static const char *const SQL_PER_WORKER =
	"SELECT worker_id, count(*) FROM replicas GROUP BY worker_id";

/* ---- small helpers ------------------------------------------------------ */

int64_t cm_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cm_new(struct meta_store *ms, struct wreg *reg, const struct secret *secret,
	   int64_t lease_ms, struct chunk_map **ret)
{
	struct chunk_map *cm = calloc(1, sizeof(*cm));

	if (!cm)
		return -ENOMEM;
	cm->ms = ms;
	cm->reg = reg;
	cm->secret = secret;
	cm->lease_ms = lease_ms;
	*ret = cm;
	return 0;
}

void cm_free(struct chunk_map *cm)
{
	free(cm);
}

int64_t cm_lease_ms(const struct chunk_map *cm)
{
	return cm->lease_ms;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : "";
}

/* Single-row integer query with up to two int64 and one text binding. */
static int query_i64(struct chunk_map *cm, const char *sql, int64_t a, int64_t b,
		     const char *t, int64_t *ret)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, sql);
	int bound = sqlite3_bind_parameter_count(st);

	if (bound >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (bound >= 2) {
		if (t)
			sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, 2, b);
	}
	int rc = meta_step(cm->ms, st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

static int exec_ct(struct chunk_map *cm, const char *sql, uint64_t chunk_id,
		   const char *worker_id)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, sql);

	sqlite3_bind_int64(st, 1, (int64_t)chunk_id);
	sqlite3_bind_text(st, 2, worker_id, -1, SQLITE_STATIC);
	return meta_exec_stmt(cm->ms, st);
}

/* Row dropped and deletion queued, as one step (the invariant above). */
static int drop_replica(struct chunk_map *cm, uint64_t chunk_id, const char *worker_id)
{
	int rc = exec_ct(cm, SQL_REPLICA_DELETE, chunk_id, worker_id);
	if (rc == 0)
		rc = exec_ct(cm, SQL_PENDING_ADD, chunk_id, worker_id);
	return rc;
}

/* Row added (or its version set) and any queued deletion cancelled. */
static int add_replica(struct chunk_map *cm, uint64_t chunk_id, const char *worker_id,
		       uint32_t version)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_REPLICA_UPSERT);

	sqlite3_bind_int64(st, 1, (int64_t)chunk_id);
	sqlite3_bind_text(st, 2, worker_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, version);
	int rc = meta_exec_stmt(cm->ms, st);
	if (rc == 0)
		rc = exec_ct(cm, SQL_PENDING_DEL_PAIR, chunk_id, worker_id);
	return rc;
}

/* Regular file check: -ENOENT, -EISDIR, -EINVAL. */
static int inode_file(struct chunk_map *cm, uint64_t ino, uint64_t *ret_size,
		      uint32_t *ret_goal)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_INODE_FILE);
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)ino);
	rc = meta_step(cm->ms, st);
	if (rc == SQLITE_ROW) {
		uint32_t mode = (uint32_t)sqlite3_column_int64(st, 0);
		if (S_ISDIR(mode))
			rc = -EISDIR;
		else if (!S_ISREG(mode))
			rc = -EINVAL;
		else {
			if (ret_size)
				*ret_size = (uint64_t)sqlite3_column_int64(st, 1);
			if (ret_goal)
				*ret_goal = (uint32_t)sqlite3_column_int64(st, 2);
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

struct rep_row {
	char worker_id[WORKER_ID_STRLEN + 1];
	uint32_t version;
};

/* All replica rows of a chunk; *ret malloc'ed. */
static int replica_rows(struct chunk_map *cm, uint64_t chunk_id, struct rep_row **ret,
			size_t *ret_n)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_REPLICAS_OF);
	struct rep_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)chunk_id);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct rep_row *nr = realloc(rows, cap * sizeof(*nr));
			if (!nr) {
				rc = -ENOMEM;
				break;
			}
			rows = nr;
		}
		snprintf(rows[n].worker_id, sizeof(rows[n].worker_id), "%s", col_text(st, 0));
		rows[n].version = (uint32_t)sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(rows);
		return rc < 0 ? rc : -EIO;
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

/* Live replicas at `version`, best first for reading, into c->reps. */
static int live_current(struct chunk_map *cm, uint64_t chunk_id, uint32_t version,
			struct cm_chunk *c)
{
	struct rep_row *rows;
	size_t n, nlive = 0;
	struct wreg_info live[CM_MAX_REPLICAS];
	size_t order[CM_MAX_REPLICAS];
	int rc = replica_rows(cm, chunk_id, &rows, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && nlive < CM_MAX_REPLICAS; i++) {
		if (rows[i].version != version)
			continue;
		if (wreg_get(cm->reg, rows[i].worker_id, &live[nlive]) == 0 &&
		    live[nlive].live)
			nlive++;
	}
	free(rows);
	placement_read_order(live, nlive, order);
	c->nrep = (int)nlive;
	for (size_t i = 0; i < nlive; i++) {
		memcpy(c->reps[i].worker_id, live[order[i]].id, sizeof(c->reps[i].worker_id));
		memcpy(c->reps[i].addr, live[order[i]].addr, sizeof(c->reps[i].addr));
	}
	return 0;
}

static void sign(struct chunk_map *cm, struct cm_chunk *c, const char *op)
{
	token_make(cm->secret, c->chunk_id, c->version, op,
		   time(NULL) + CM_TOKEN_TTL_S, c->token);
}

void cm_read_token(struct chunk_map *cm, const struct cm_chunk *c, char out[TOKEN_MAX])
{
	token_make(cm->secret, c->chunk_id, c->version, "r", time(NULL) + CM_TOKEN_TTL_S, out);
}

/* 1 if another slot names chunk_id, 0 if not, or -errno. */
static int slot_shared(struct chunk_map *cm, uint64_t chunk_id, uint64_t ino, uint64_t idx)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNK_SHARED);

	sqlite3_bind_int64(st, 1, (int64_t)chunk_id);
	sqlite3_bind_int64(st, 2, (int64_t)ino);
	sqlite3_bind_int64(st, 3, (int64_t)idx);
	int rc = meta_step(cm->ms, st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : rc;
}

/* ---- registry persistence ----------------------------------------------- */

int cm_load_workers(struct chunk_map *cm)
{
	int rc = meta_txn_begin(cm->ms, false);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_WORKERS_ALL);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		const char *id = col_text(st, 0), *addr = col_text(st, 1);
		if (!worker_id_valid(id) || !wreg_addr_valid(addr))
			continue;
		rc = wreg_add_known(cm->reg, id, addr,
				    (uint64_t)sqlite3_column_int64(st, 2),
				    (uint64_t)sqlite3_column_int64(st, 3));
		if (rc < 0)
			break;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE) ? 0 : (rc < 0 ? rc : -EIO);
	return meta_txn_end(cm->ms, rc);
}

/* ---- reads -------------------------------------------------------------- */

int cm_chunks(struct chunk_map *cm, uint64_t ino, uint64_t index, uint64_t count,
	      uint64_t *ret_size, struct cm_chunk **ret, size_t *ret_n)
{
	struct cm_chunk *out = NULL;
	size_t n = 0, cap = 0;
	uint64_t size = 0;
	int rc;

	if (count > CM_MAX_INDEX)
		return -EINVAL;
	rc = meta_txn_begin(cm->ms, false);
	if (rc < 0)
		return rc;
	rc = inode_file(cm, ino, &size, NULL);
	if (rc < 0 || count == 0 || index >= CM_MAX_INDEX)
		goto out_end;

	uint64_t end = index + count > CM_MAX_INDEX ? CM_MAX_INDEX : index + count;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNKS_RANGE);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_int64(st, 2, (int64_t)index);
	sqlite3_bind_int64(st, 3, (int64_t)end);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			struct cm_chunk *no = realloc(out, cap * sizeof(*no));
			if (!no) {
				rc = -ENOMEM;
				break;
			}
			out = no;
		}
		memset(&out[n], 0, sizeof(out[n]));
		out[n].chunk_id = (uint64_t)sqlite3_column_int64(st, 0);
		out[n].index = (uint64_t)sqlite3_column_int64(st, 1);
		out[n].version = (uint32_t)sqlite3_column_int64(st, 2);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = rc < 0 ? rc : -EIO;
		goto out_end;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = live_current(cm, out[i].chunk_id, out[i].version, &out[i]);
		sign(cm, &out[i], "r");
	}
out_end:
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0) {
		free(out);
		return rc;
	}
	*ret_size = size;
	*ret = out;
	*ret_n = n;
	return 0;
}

/* ---- write grant -------------------------------------------------------- */

/* Allocate placement for a chunk with no usable replica: goal live
 * workers, recorded at version. */
/* Mark in excluded[] the live workers named in avoid, unless that would
 * leave none: then nothing is excluded. */
static void avoid_mark(const struct wreg_info *live, size_t nlive, const struct cm_avoid *avoid,
		       bool *excluded)
{
	size_t left = nlive;
	for (size_t i = 0; i < nlive; i++) {
		excluded[i] = false;
		for (size_t k = 0; avoid && k < avoid->n; k++)
			if (strcmp(live[i].id, avoid->ids[k]) == 0)
				excluded[i] = true;
		left -= excluded[i];
	}
	if (left == 0)
		memset(excluded, 0, nlive * sizeof(*excluded));
}

static int place_fresh(struct chunk_map *cm, uint64_t chunk_id, uint32_t goal,
		       uint32_t version, const struct cm_avoid *avoid, struct cm_chunk *c)
{
	struct wreg_info *live;
	size_t nlive;
	size_t pick[CM_MAX_REPLICAS];
	int rc = wreg_snapshot(cm->reg, true, &live, &nlive);

	if (rc < 0)
		return rc;
	if (nlive == 0) {
		free(live);
		/* Workers are known but none is live (the master just started
		 * and they have not registered again, or all are restarting):
		 * the client waits and asks again. No worker at all: no room. */
		return wreg_count(cm->reg) > 0 ? -EAGAIN : -ENOSPC;
	}
	int want = goal > CM_MAX_REPLICAS ? CM_MAX_REPLICAS : (int)goal;
	bool *excluded = calloc(nlive, sizeof(*excluded));
	if (!excluded) {
		free(live);
		return -ENOMEM;
	}
	/* Workers the client cannot use now (it stalled on them, or cannot
	 * reach them) get no new chunk while others can take it: a copy
	 * there would be left out of the first write and repaired anyway. */
	avoid_mark(live, nlive, avoid, excluded);
	int got = placement_pick(live, nlive, excluded, want, pick);
	free(excluded);
	c->nrep = 0;
	for (int i = 0; i < got && rc == 0; i++) {
		struct wreg_info *w = &live[pick[i]];
		rc = add_replica(cm, chunk_id, w->id, version);
		memcpy(c->reps[i].worker_id, w->id, sizeof(c->reps[i].worker_id));
		memcpy(c->reps[i].addr, w->addr, sizeof(c->reps[i].addr));
		c->nrep++;
	}
	free(live);
	if (rc == 0 && got == 0)
		rc = -ENOSPC;
	return rc;
}

static int write_existing(struct chunk_map *cm, struct cm_chunk *c, uint32_t goal,
			  const char *session, int64_t now, const struct cm_avoid *avoid,
			  sqlite3_stmt *row)
{
	const char *holder = (const char *)sqlite3_column_text(row, 2);
	int64_t expiry = sqlite3_column_int64(row, 3);
	bool held = holder && expiry > now;
	bool mine = held && strcmp(holder, session) == 0;
	int rc;

	c->chunk_id = (uint64_t)sqlite3_column_int64(row, 0);
	c->version = (uint32_t)sqlite3_column_int64(row, 1);
	sqlite3_reset(row);    /* holder points into row: done with it */
	if (held && !mine)
		return -EAGAIN;
	if (mine) {
		sqlite3_stmt *st = meta_stmt(cm->ms, SQL_LEASE_EXTEND);
		sqlite3_bind_int64(st, 1, (int64_t)c->chunk_id);
		sqlite3_bind_int64(st, 2, now + cm->lease_ms);
		rc = meta_exec_stmt(cm->ms, st);
		if (rc == 0)
			rc = live_current(cm, c->chunk_id, c->version, c);
		if (rc < 0 || c->nrep > 0)
			return rc;
		/* None of its copies is live (a grant never written whose replicas
		 * a new master forgot when the workers registered without it):
		 * as for any writer, wait for copies on down workers, or place it
		 * anew - not EAGAIN until the writer gives up with EIO. */
	}
	if (c->version == UINT32_MAX)
		return -EOVERFLOW;

	struct rep_row *rows;
	size_t nrows;
	rc = live_current(cm, c->chunk_id, c->version, c);
	if (rc == 0)
		rc = replica_rows(cm, c->chunk_id, &rows, &nrows);
	if (rc < 0)
		return rc;
	uint32_t newv = c->version + 1;
	if (c->nrep == 0 && nrows > 0) {
		/* Copies exist on workers that are down: wait for them. */
		free(rows);
		return -EAGAIN;
	}
	/* Every row not kept moves to the garbage queue. */
	for (size_t i = 0; i < nrows && rc == 0; i++) {
		bool keep = false;
		for (int j = 0; j < c->nrep; j++)
			if (strcmp(rows[i].worker_id, c->reps[j].worker_id) == 0)
				keep = true;
		if (!keep)
			rc = drop_replica(cm, c->chunk_id, rows[i].worker_id);
	}
	free(rows);
	for (int j = 0; j < c->nrep && rc == 0; j++)
		rc = add_replica(cm, c->chunk_id, c->reps[j].worker_id, newv);
	if (rc == 0 && c->nrep == 0)
		rc = place_fresh(cm, c->chunk_id, goal, newv, avoid, c);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNK_BUMP);
	sqlite3_bind_int64(st, 1, (int64_t)c->chunk_id);
	sqlite3_bind_int64(st, 2, newv);
	sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now + cm->lease_ms);
	rc = meta_exec_stmt(cm->ms, st);
	c->version = newv;
	return rc;
}

int cm_write(struct chunk_map *cm, uint64_t ino, uint64_t index,
	     const char *session, struct cm_chunk *ret)
{
	return cm_write_avoiding(cm, ino, index, session, NULL, ret);
}

static int write_once(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		      const struct cm_avoid *avoid, struct cm_chunk *ret, bool *fresh_only);

int cm_grant_fresh(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		   struct cm_chunk *ret)
{
	bool fresh_only = true;
	return write_once(cm, ino, index, session, NULL, ret, &fresh_only);
}

int cm_write_avoiding(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		      const struct cm_avoid *avoid, struct cm_chunk *ret)
{
	int rc = -EXDEV;

	/* A slot a snapshot shares gets its own chunk first; a snapshot
	 * made in between shares it again, hence the few rounds. */
	for (int i = 0; i < 4 && rc == -EXDEV; i++) {
		rc = write_once(cm, ino, index, session, avoid, ret, NULL);
		if (rc == -EXDEV) {
			int c = cm_cow(cm, ino, index);
			if (c < 0)
				return c;
		}
	}
	return rc == -EXDEV ? -EAGAIN : rc;
}

/* fresh_only (cm_grant_fresh): only a slot that has no chunk yet gets
 * one; an existing one is -EEXIST. */
static int write_once(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session,
		      const struct cm_avoid *avoid, struct cm_chunk *ret, bool *fresh_only)
{
	struct cm_chunk c;
	uint32_t goal = 1;
	int64_t now = cm_wall_ms();
	int rc;

	if (index >= CM_MAX_INDEX)
		return -EFBIG;
	memset(&c, 0, sizeof(c));
	c.index = index;
	rc = meta_txn_begin(cm->ms, true);
	if (rc < 0)
		return rc;
	rc = inode_file(cm, ino, NULL, &goal);
	if (rc < 0)
		goto out_end;

	sqlite3_stmt *row = meta_stmt(cm->ms, SQL_CHUNK_BY_IDX);
	sqlite3_bind_int64(row, 1, (int64_t)ino);
	sqlite3_bind_int64(row, 2, (int64_t)index);
	rc = meta_step(cm->ms, row);
	if (rc == SQLITE_ROW && fresh_only) {
		sqlite3_reset(row);
		rc = -EEXIST;
		goto out_end;
	}
	if (rc == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(row, 0);
		int shared = slot_shared(cm, id, ino, index);
		if (shared != 0) {
			sqlite3_reset(row);
			rc = shared < 0 ? shared : -EXDEV;  /* copy on write first */
			goto out_end;
		}
		rc = write_existing(cm, &c, goal, session, now, avoid, row);
		goto out_end;
	}
	sqlite3_reset(row);
	if (rc < 0)
		goto out_end;

	rc = meta_counter_next(cm->ms, "chunk_id", &c.chunk_id);
	if (rc < 0)
		goto out_end;
	c.version = 1;
	rc = place_fresh(cm, c.chunk_id, goal, 1, avoid, &c);
	if (rc < 0)
		goto out_end;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNK_INSERT);
	sqlite3_bind_int64(st, 1, (int64_t)c.chunk_id);
	sqlite3_bind_int64(st, 2, (int64_t)ino);
	sqlite3_bind_int64(st, 3, (int64_t)index);
	sqlite3_bind_text(st, 4, session, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now + cm->lease_ms);
	rc = meta_exec_stmt(cm->ms, st);
out_end:
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0)
		return rc;
	sign(cm, &c, "w");
	*ret = c;
	return 0;
}

int cm_release_locked(struct chunk_map *cm, uint64_t ino, const char *session,
		      const uint64_t *indexes, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (indexes[i] >= CM_MAX_INDEX)
			continue;
		sqlite3_stmt *st = meta_stmt(cm->ms, SQL_LEASE_RELEASE);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		sqlite3_bind_int64(st, 2, (int64_t)indexes[i]);
		sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
		rc = meta_exec_stmt(cm->ms, st);
	}
	return rc;
}

static int drop_range(struct chunk_map *cm, uint64_t ino, uint64_t first_idx, uint64_t end_idx);

int cm_drop_unwritten(struct chunk_map *cm, uint64_t ino, uint64_t index, const char *session)
{
	if (index >= CM_MAX_INDEX)
		return 0;
	int rc = meta_txn_begin(cm->ms, true);
	if (rc < 0)
		return rc;
	sqlite3_stmt *row = meta_stmt(cm->ms, SQL_CHUNK_BY_IDX);
	sqlite3_bind_int64(row, 1, (int64_t)ino);
	sqlite3_bind_int64(row, 2, (int64_t)index);
	rc = meta_step(cm->ms, row);
	bool drop = false;
	if (rc == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(row, 0);
		const char *holder = (const char *)sqlite3_column_text(row, 2);
		/* still the fresh chunk of the create's grant, under this
		 * session's lease: nobody else wrote it */
		drop = sqlite3_column_int64(row, 1) == 1 && holder && strcmp(holder, session) == 0 &&
		       slot_shared(cm, id, ino, index) == 0;
		rc = 0;
	}
	sqlite3_reset(row);
	if (rc >= 0 && drop)
		rc = drop_range(cm, ino, index, index + 1);
	return meta_txn_end(cm->ms, rc < 0 ? rc : 0);
}

int cm_release_session(struct chunk_map *cm, const char *session)
{
	int rc = meta_txn_begin(cm->ms, true);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_LEASE_RELEASE_SESSION);
	sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
	rc = meta_exec_stmt(cm->ms, st);
	return meta_txn_end(cm->ms, rc);
}

/* Drop worker's replica of chunk at version unless it is the last current
 * one. Inside a write txn. */
static int drop_failed_replica(struct chunk_map *cm, uint64_t chunk_id,
			       uint32_t version, const char *worker_id)
{
	struct rep_row *rows;
	size_t n, ncur = 0;
	bool has = false;
	int rc = replica_rows(cm, chunk_id, &rows, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].version != version)
			continue;
		ncur++;
		if (strcmp(rows[i].worker_id, worker_id) == 0)
			has = true;
	}
	free(rows);
	if (!has)
		return 0;
	if (ncur <= 1) {
		log_warn("chunk %016llx: keeping worker %s, its last current replica",
			 (unsigned long long)chunk_id, worker_id);
		return 0;
	}
	log_info("chunk %016llx v%u: dropping failed replica on worker %s",
		 (unsigned long long)chunk_id, version, worker_id);
	return drop_replica(cm, chunk_id, worker_id);
}

int cm_replica_failed(struct chunk_map *cm, uint64_t chunk_id, uint32_t version,
		      const char *worker_id)
{
	int64_t cur;
	int rc = meta_txn_begin(cm->ms, true);

	if (rc < 0)
		return rc;
	rc = query_i64(cm, SQL_CHUNK_VERSION, (int64_t)chunk_id, 0, NULL, &cur);
	if (rc == 0 && (uint32_t)cur == version)
		rc = drop_failed_replica(cm, chunk_id, version, worker_id);
	return meta_txn_end(cm->ms, rc);
}

/* ---- registration ------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Forget replicas recorded for the worker that it no longer reports. */
static int forget_unreported(struct chunk_map *cm, const char *worker_id,
			     const uint64_t *sorted, size_t n)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_REPLICAS_OF_WORKER);
	uint64_t *gone = NULL;
	size_t ngone = 0, cap = 0;
	int rc;

	sqlite3_bind_text(st, 1, worker_id, -1, SQLITE_STATIC);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		if (n && bsearch(&id, sorted, n, sizeof(*sorted), cmp_u64))
			continue;
		if (ngone == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *ng = realloc(gone, cap * sizeof(*ng));
			if (!ng) {
				rc = -ENOMEM;
				break;
			}
			gone = ng;
		}
		gone[ngone++] = id;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE) ? 0 : (rc < 0 ? rc : -EIO);
	for (size_t i = 0; i < ngone && rc == 0; i++)
		rc = exec_ct(cm, SQL_REPLICA_DELETE, gone[i], worker_id);
	if (ngone)
		log_info("worker %s no longer holds %zu recorded replicas", worker_id, ngone);
	free(gone);
	return rc;
}

int cm_register(struct chunk_map *cm, const char *worker_id, const char *addr,
		uint64_t capacity, uint64_t used, const struct cm_reported *chunks,
		size_t n, uint64_t **ret_del, size_t *ret_ndel)
{
	uint64_t *del = NULL, *sorted = NULL;
	size_t ndel = 0;
	int joined = 0, rc;

	if (n) {
		del = malloc(n * sizeof(*del));
		sorted = malloc(n * sizeof(*sorted));
		if (!del || !sorted) {
			rc = -ENOMEM;
			goto out_free;
		}
		for (size_t i = 0; i < n; i++)
			sorted[i] = chunks[i].chunk_id;
		qsort(sorted, n, sizeof(*sorted), cmp_u64);
	}
	rc = meta_txn_begin(cm->ms, true);
	if (rc < 0)
		goto out_free;

	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_WORKER_UPSERT);
	sqlite3_bind_text(st, 1, worker_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)(capacity > INT64_MAX ? INT64_MAX : capacity));
	sqlite3_bind_int64(st, 4, (int64_t)(used > INT64_MAX ? INT64_MAX : used));
	sqlite3_bind_int64(st, 5, time(NULL));
	rc = meta_exec_stmt(cm->ms, st);
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t cur, pend;
		uint64_t id = chunks[i].chunk_id;
		rc = query_i64(cm, SQL_CHUNK_VERSION, (int64_t)id, 0, NULL, &cur);
		if (rc == -ENOENT || (rc == 0 && chunks[i].version < (uint64_t)cur)) {
			del[ndel++] = id;
			rc = rc == 0 ? exec_ct(cm, SQL_REPLICA_DELETE, id, worker_id) : 0;
			continue;
		}
		if (rc < 0)
			break;
		if (chunks[i].version > (uint64_t)cur) {
			log_warn("worker %s reports chunk %016llx at v%u, newer than v%lld",
				 worker_id, (unsigned long long)id, chunks[i].version,
				 (long long)cur);
			continue;
		}
		rc = query_i64(cm, SQL_PENDING_EXISTS, (int64_t)id, 0, worker_id, &pend);
		if (rc == 0) {
			/* Queued for deletion (e.g. failed writes): never re-admit. */
			del[ndel++] = id;
			rc = exec_ct(cm, SQL_PENDING_DEL_PAIR, id, worker_id);
			continue;
		}
		if (rc != -ENOENT)
			break;
		rc = add_replica(cm, id, worker_id, (uint32_t)cur);
	}
	if (rc == 0)
		rc = forget_unreported(cm, worker_id, sorted, n);
	if (rc == 0) {
		joined = wreg_seen(cm->reg, worker_id, addr, capacity, used, -1, -1);
		if (joined < 0)
			rc = joined;
	}
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0)
		goto out_free;
	free(sorted);
	*ret_del = del;
	*ret_ndel = ndel;
	return joined;

out_free:
	free(del);
	free(sorted);
	return rc;
}

/* ---- namespace support ------------------------------------------------- */

/* Drop the chunks of ino with first_idx <= index < end_idx. */
static int drop_range(struct chunk_map *cm, uint64_t ino, uint64_t first_idx, uint64_t end_idx)
{
	static const char *const *const seq[] = {
		&SQL_DROP_INO_QUEUE, &SQL_DROP_INO_REPLICAS, &SQL_DROP_INO_CHUNKS,
	};
	int rc = 0;

	if (end_idx > INT64_MAX)
		end_idx = INT64_MAX;
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]) && rc == 0; i++) {
		sqlite3_stmt *st = meta_stmt(cm->ms, *seq[i]);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		sqlite3_bind_int64(st, 2, (int64_t)first_idx);
		sqlite3_bind_int64(st, 3, (int64_t)end_idx);
		rc = meta_exec_stmt(cm->ms, st);
	}
	return rc;
}

static int drop_from_index(struct chunk_map *cm, uint64_t ino, uint64_t first_idx)
{
	return drop_range(cm, ino, first_idx, INT64_MAX);
}

int cm_punch_locked(struct chunk_map *cm, uint64_t ino, uint64_t first_idx, uint64_t count)
{
	if (first_idx >= CM_MAX_INDEX || count == 0)
		return 0;
	if (count > CM_MAX_INDEX - first_idx)
		count = CM_MAX_INDEX - first_idx;
	return drop_range(cm, ino, first_idx, first_idx + count);
}

int cm_drop_inode_locked(struct chunk_map *cm, uint64_t ino)
{
	return drop_from_index(cm, ino, 0);
}

int cm_truncate_locked(struct chunk_map *cm, uint64_t ino, uint64_t old_size,
		       uint64_t new_size, struct cm_trunc_job *job)
{
	int rc;

	memset(job, 0, sizeof(*job));
	if (new_size >= old_size)
		return 0;
	rc = drop_from_index(cm, ino, (new_size + CM_CHUNK_SIZE - 1) / CM_CHUNK_SIZE);
	if (rc < 0 || new_size % CM_CHUNK_SIZE == 0)
		return rc;

	struct cm_chunk *c = &job->chunk;
	sqlite3_stmt *row = meta_stmt(cm->ms, SQL_CHUNK_BY_IDX);
	sqlite3_bind_int64(row, 1, (int64_t)ino);
	sqlite3_bind_int64(row, 2, (int64_t)(new_size / CM_CHUNK_SIZE));
	rc = meta_step(cm->ms, row);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(row);
		return rc < 0 ? rc : 0;   /* a hole: nothing to cut */
	}
	c->chunk_id = (uint64_t)sqlite3_column_int64(row, 0);
	c->version = (uint32_t)sqlite3_column_int64(row, 1);
	c->index = new_size / CM_CHUNK_SIZE;
	sqlite3_reset(row);
	if (c->version == UINT32_MAX)
		return -EOVERFLOW;
	rc = slot_shared(cm, c->chunk_id, ino, c->index);
	if (rc != 0)
		return rc < 0 ? rc : -EXDEV;   /* the caller runs cm_cow first */

	struct rep_row *rows;
	size_t nrows;
	rc = live_current(cm, c->chunk_id, c->version, c);
	if (rc == 0)
		rc = replica_rows(cm, c->chunk_id, &rows, &nrows);
	if (rc < 0)
		return rc;
	if (c->nrep == 0) {
		free(rows);
		if (nrows)
			return -EAGAIN;   /* copies only on workers that are down */
		return drop_from_index(cm, ino, c->index);
	}
	for (size_t i = 0; i < nrows && rc == 0; i++) {
		bool keep = false;
		for (int j = 0; j < c->nrep; j++)
			if (strcmp(rows[i].worker_id, c->reps[j].worker_id) == 0)
				keep = true;
		if (!keep)
			rc = drop_replica(cm, c->chunk_id, rows[i].worker_id);
	}
	free(rows);
	c->version++;
	for (int j = 0; j < c->nrep && rc == 0; j++)
		rc = add_replica(cm, c->chunk_id, c->reps[j].worker_id, c->version);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNK_SET_VERSION);
	sqlite3_bind_int64(st, 1, (int64_t)c->chunk_id);
	sqlite3_bind_int64(st, 2, c->version);
	rc = meta_exec_stmt(cm->ms, st);
	if (rc < 0)
		return rc;
	sign(cm, c, "w");
	job->length = new_size % CM_CHUNK_SIZE;
	job->needed = true;
	return 0;
}

void cm_truncate_apply(struct chunk_map *cm, const struct cm_trunc_job *job)
{
	const struct cm_chunk *c = &job->chunk;
	struct http_call calls[CM_MAX_REPLICAS];
	char urls[CM_MAX_REPLICAS][WREG_ADDR_MAX + 256];
	char id[CHUNK_ID_STRLEN + 1];
	struct http_client *hc;

	if (!job->needed || c->nrep == 0)
		return;
	hc = http_client_new(30000, 3000);
	if (!hc) {
		log_err("truncate of chunk %016llx: out of memory",
			(unsigned long long)c->chunk_id);
		return;
	}
	chunk_id_format(c->chunk_id, id);
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < c->nrep; i++) {
		snprintf(urls[i], sizeof(urls[i]),
			 "%s://%s/v1/chunk/%s/truncate?version=%u&length=%llu&token=%s",
			 transport_scheme(), c->reps[i].addr, id, c->version,
			 (unsigned long long)job->length, c->token);
		calls[i].method = "POST";
		calls[i].url = urls[i];
	}
	if (http_client_parallel(hc, calls, c->nrep) < 0) {
		for (int i = 0; i < c->nrep; i++)
			calls[i].err = -ENOMEM;
	}
	for (int i = 0; i < c->nrep; i++) {
		bool ok = calls[i].err == 0 && calls[i].status / 100 == 2;
		if (!ok) {
			log_warn("truncate of chunk %s v%u on worker %s (%s) failed: %s %ld",
				 id, c->version, c->reps[i].worker_id, c->reps[i].addr,
				 calls[i].err ? errno_name(calls[i].err) : "HTTP status",
				 calls[i].status);
			if (meta_txn_begin(cm->ms, true) == 0)
				meta_txn_end(cm->ms, drop_failed_replica(cm, c->chunk_id,
							 c->version, c->reps[i].worker_id));
		}
		free(calls[i].out_alloc);
	}
	http_client_free(hc);
}

/* A regular file's chunk slots, by index: *ret malloc'ed (caller frees). */
struct slot {
	uint64_t id, idx;
	uint32_t v;
};

static int slots_of(struct chunk_map *cm, uint64_t ino, struct slot **ret, size_t *ret_n)
{
	struct slot *list = NULL;
	size_t n = 0, cap = 0;
	int rc = inode_file(cm, ino, NULL, NULL);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_CHUNKS_OF_INO);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct slot *nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				rc = -ENOMEM;
				break;
			}
			list = nl;
		}
		list[n].id = (uint64_t)sqlite3_column_int64(st, 0);
		list[n].idx = (uint64_t)sqlite3_column_int64(st, 1);
		list[n].v = (uint32_t)sqlite3_column_int64(st, 2);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(list);
		return rc < 0 ? rc : -EIO;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

int cm_locations_locked(struct chunk_map *cm, uint64_t ino, char **ret, size_t *ret_len)
{
	struct slot *list = NULL;
	size_t n = 0;
	char *buf = NULL;
	size_t len = 0;
	int rc = slots_of(cm, ino, &list, &n);

	if (rc < 0)
		return rc;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		free(list);
		return -ENOMEM;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cm_chunk c;
		rc = live_current(cm, list[i].id, list[i].v, &c);
		if (rc < 0)
			break;
		fprintf(f, "%llu %016llx %u", (unsigned long long)list[i].idx,
			(unsigned long long)list[i].id, list[i].v);
		for (int j = 0; j < c.nrep; j++)
			fprintf(f, " %s", c.reps[j].worker_id);
		fputc('\n', f);
	}
	free(list);
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ---- repair support ----------------------------------------------------- */

struct scan_row {
	uint64_t id;
	uint32_t version, goal;
	bool leased;
};

static int pending_workers(struct chunk_map *cm, uint64_t chunk_id,
			   const struct wreg_info *live, size_t nlive, bool *excluded)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_PENDING_OF_CHUNK);
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)chunk_id);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		const char *w = col_text(st, 0);
		for (size_t i = 0; i < nlive; i++)
			if (strcmp(live[i].id, w) == 0)
				excluded[i] = true;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : (rc < 0 ? rc : -EIO);
}

/* Dropped as above goal: counted, logged. */
static int scan_drop(struct chunk_map *cm, const struct scan_row *sr, const char *worker_id,
		     const char *why, struct cm_scan_result *res)
{
	log_info("chunk %016llx at goal %u %s: dropping copy on %s",
		 (unsigned long long)sr->id, sr->goal, why, worker_id);
	res->overgoal_dropped++;
	return drop_replica(cm, sr->id, worker_id);
}

static uint64_t free_of(const struct wreg_info *w)
{
	return w->capacity - (w->used < w->capacity ? w->used : w->capacity);
}

/* One chunk of the scan: count, maybe drop extras, maybe plan a repair.
 *
 * Its live current replicas are kept or leaving (wreg_replica_leaving: on
 * a draining worker, or the source of a rebalance move). Leaving ones
 * still serve reads and keep the chunk safe, but they are on their way
 * out: once the kept ones reach the goal, the leaving ones are dropped
 * (queued for deletion), and so are the other rows of draining workers
 * (down, or at an old version). Copy first, then drop, so no chunk goes
 * below its goal. A chunk at goal only with its leaving copies is not
 * under goal: master/drain.c moves it, at the drain rate. One below goal
 * even with them is repaired, from any current copy, to a worker that
 * stays. */
static int scan_one(struct chunk_map *cm, const struct scan_row *sr,
		    const struct wreg_info *live, size_t nlive, bool *excluded,
		    struct cm_repair_task *task, bool *ret_task, struct cm_scan_result *res)
{
	struct rep_row *rows;
	size_t nrows, keep[CM_MAX_REPLICAS], leave[CM_MAX_REPLICAS], gone[CM_MAX_REPLICAS];
	int nkeep = 0, nleave = 0, ngone = 0;
	int rc = replica_rows(cm, sr->id, &rows, &nrows);

	*ret_task = false;
	if (rc < 0)
		return rc;
	memset(excluded, 0, nlive * sizeof(*excluded));
	for (size_t i = 0; i < nrows; i++) {
		bool leaving = wreg_replica_leaving(cm->reg, sr->id, rows[i].worker_id);
		size_t k = 0;
		while (k < nlive && strcmp(live[k].id, rows[i].worker_id) != 0)
			k++;
		if (k == nlive || rows[i].version != sr->version) {
			/* down, or stale: on a draining worker, it goes too */
			if (leaving && ngone < CM_MAX_REPLICAS)
				gone[ngone++] = i;
			if (k < nlive)
				excluded[k] = true;
			continue;
		}
		excluded[k] = true;
		if (leaving && nleave < CM_MAX_REPLICAS)
			leave[nleave++] = k;
		else if (!leaving && nkeep < CM_MAX_REPLICAS)
			keep[nkeep++] = k;
	}
	if (nkeep + nleave == 0) {
		free(rows);
		res->lost++;
		res->undergoal++;
		return 0;
	}
	if ((uint32_t)nkeep >= sr->goal) {
		/* Extras go from the workers with the least free space. */
		while ((uint32_t)nkeep > sr->goal && rc == 0) {
			int worst = 0;
			for (int j = 1; j < nkeep; j++)
				if (free_of(&live[keep[j]]) < free_of(&live[keep[worst]]))
					worst = j;
			rc = scan_drop(cm, sr, live[keep[worst]].id, "above goal", res);
			keep[worst] = keep[--nkeep];
		}
		for (int j = 0; j < nleave && rc == 0; j++)
			rc = scan_drop(cm, sr, live[leave[j]].id, "elsewhere, leaving", res);
		for (int j = 0; j < ngone && rc == 0; j++)
			rc = scan_drop(cm, sr, rows[gone[j]].worker_id,
				       "elsewhere, leaving a worker that is down or behind", res);
		free(rows);
		return rc;
	}
	free(rows);
	if ((uint32_t)(nkeep + nleave) >= sr->goal)
		return 0;   /* safe; drain.c moves its leaving copies */
	res->undergoal++;
	rc = pending_workers(cm, sr->id, live, nlive, excluded);
	if (rc < 0)
		return rc;
	size_t pick;
	if (placement_pick(live, nlive, excluded, 1, &pick) != 1)
		return 0;   /* no eligible target right now */
	/* The source: the least loaded current copy, kept or leaving; the
	 * target never a draining worker while another can take it. */
	const struct wreg_info *src = NULL;
	for (int j = 0; j < nkeep + nleave; j++) {
		const struct wreg_info *w = &live[j < nkeep ? keep[j] : leave[j - nkeep]];
		if (!src || w->inflight < src->inflight)
			src = w;
	}
	task->chunk_id = sr->id;
	task->version = sr->version;
	memcpy(task->source.worker_id, src->id, sizeof(src->id));
	memcpy(task->source.addr, src->addr, sizeof(src->addr));
	memcpy(task->target.worker_id, live[pick].id, sizeof(live[pick].id));
	memcpy(task->target.addr, live[pick].addr, sizeof(live[pick].addr));
	*ret_task = true;
	return 0;
}

int cm_repair_scan(struct chunk_map *cm, uint64_t *cursor, int max_chunks,
		   struct cm_repair_task *tasks, int max_tasks, int *ret_ntasks,
		   struct cm_scan_result *res)
{
	struct scan_row *rows = NULL;
	struct wreg_info *live = NULL;
	bool *excluded = NULL;
	size_t nlive = 0;
	int n = 0, ntasks = 0, rc;
	int64_t now = cm_wall_ms();

	memset(res, 0, sizeof(*res));
	if (max_chunks <= 0)
		return -EINVAL;
	rows = calloc((size_t)max_chunks, sizeof(*rows));
	rc = rows ? wreg_snapshot(cm->reg, true, &live, &nlive) : -ENOMEM;
	if (rc == 0 && nlive) {
		excluded = calloc(nlive, sizeof(*excluded));
		if (!excluded)
			rc = -ENOMEM;
	}
	if (rc < 0)
		goto out_free;
	rc = meta_txn_begin(cm->ms, true);
	if (rc < 0)
		goto out_free;

	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_SCAN);
	sqlite3_bind_int64(st, 1, (int64_t)*cursor);
	sqlite3_bind_int64(st, 2, max_chunks);
	sqlite3_bind_int64(st, 3, now);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW && n < max_chunks) {
		rows[n].id = (uint64_t)sqlite3_column_int64(st, 0);
		rows[n].version = (uint32_t)sqlite3_column_int64(st, 1);
		rows[n].goal = (uint32_t)sqlite3_column_int64(st, 2);
		rows[n].leased = sqlite3_column_int64(st, 3) != 0;
		n++;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (rc < 0 ? rc : -EIO);
	for (int i = 0; i < n && rc == 0; i++) {
		bool have = false;
		res->scanned++;
		if (rows[i].leased)
			continue;   /* being written: not a stable source */
		rc = scan_one(cm, &rows[i], live, nlive, excluded,
			      ntasks < max_tasks ? &tasks[ntasks] : &(struct cm_repair_task){ 0 },
			      &have, res);
		if (have && ntasks < max_tasks)
			ntasks++;
	}
	rc = meta_txn_end(cm->ms, rc);
	if (rc == 0) {
		if (n < max_chunks) {
			*cursor = 0;
			res->wrapped = true;
		} else {
			*cursor = rows[n - 1].id;
		}
		*ret_ntasks = ntasks;
	}
out_free:
	free(rows);
	free(live);
	free(excluded);
	return rc;
}

int cm_repair_done(struct chunk_map *cm, const struct cm_repair_task *t, bool ok)
{
	int64_t cur;
	int rc = meta_txn_begin(cm->ms, true);

	if (rc < 0)
		return rc;
	rc = query_i64(cm, SQL_CHUNK_VERSION, (int64_t)t->chunk_id, 0, NULL, &cur);
	if (ok && rc == 0 && (uint32_t)cur == t->version) {
		rc = add_replica(cm, t->chunk_id, t->target.worker_id, t->version);
	} else if (rc == 0 || rc == -ENOENT) {
		/* Failed, or the chunk moved on meanwhile: the copy is garbage. */
		rc = exec_ct(cm, SQL_PENDING_ADD, t->chunk_id, t->target.worker_id);
	}
	return meta_txn_end(cm->ms, rc);
}

int cm_delete_fetch(struct chunk_map *cm, int64_t *cursor, struct cm_delete_task *out,
		    int max, int *ret_n)
{
	enum { PAGE = 256 };
	struct {
		int64_t id;
		uint64_t chunk;
		char w[WORKER_ID_STRLEN + 1];
	} page[PAGE];
	int n = 0, got = 0, rc;
	int64_t last = *cursor;

	rc = meta_txn_begin(cm->ms, true);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_PENDING_PAGE);
	sqlite3_bind_int64(st, 1, *cursor);
	sqlite3_bind_int64(st, 2, PAGE);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW && n < PAGE) {
		page[n].id = sqlite3_column_int64(st, 0);
		page[n].chunk = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(page[n].w, sizeof(page[n].w), "%s", col_text(st, 2));
		n++;
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : (rc < 0 ? rc : -EIO);
	for (int i = 0; i < n && rc == 0 && got < max; i++) {
		int64_t one;
		struct wreg_info wi;
		last = page[i].id;
		rc = query_i64(cm, SQL_REPLICA_EXISTS, (int64_t)page[i].chunk, 0,
			       page[i].w, &one);
		if (rc == 0) {
			/* Re-admitted since: the queued deletion is void. */
			rc = exec_ct(cm, SQL_PENDING_DEL_PAIR, page[i].chunk, page[i].w);
			continue;
		}
		if (rc != -ENOENT)
			break;
		rc = 0;
		if (wreg_get(cm->reg, page[i].w, &wi) < 0 || !wi.live)
			continue;
		out[got].id = page[i].id;
		out[got].chunk_id = page[i].chunk;
		memcpy(out[got].worker.worker_id, wi.id, sizeof(wi.id));
		memcpy(out[got].worker.addr, wi.addr, sizeof(wi.addr));
		got++;
	}
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0)
		return rc;
	*cursor = (n < PAGE && got < max) ? 0 : last;
	*ret_n = got;
	return 0;
}

int cm_delete_done(struct chunk_map *cm, int64_t id)
{
	int rc = meta_txn_begin(cm->ms, true);

	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_PENDING_DEL_ID);
	sqlite3_bind_int64(st, 1, id);
	rc = meta_exec_stmt(cm->ms, st);
	return meta_txn_end(cm->ms, rc);
}

/* ---- statistics --------------------------------------------------------- */

int cm_stats(struct chunk_map *cm, struct cm_stats *ret)
{
	int64_t v[4] = { 0 };
	const char *const sql[4] = { SQL_COUNT_CHUNKS, SQL_COUNT_INODES,
				     SQL_COUNT_REPLICAS, SQL_COUNT_PENDING };
	int rc = meta_txn_begin(cm->ms, false);

	if (rc < 0)
		return rc;
	for (int i = 0; i < 4 && rc == 0; i++) {
		sqlite3_stmt *st = meta_stmt(cm->ms, sql[i]);
		rc = meta_step(cm->ms, st);
		if (rc == SQLITE_ROW) {
			v[i] = sqlite3_column_int64(st, 0);
			rc = 0;
		} else {
			rc = rc < 0 ? rc : -EIO;
		}
		sqlite3_reset(st);
	}
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0)
		return rc;
	ret->chunks = (uint64_t)v[0];
	ret->inodes = (uint64_t)v[1];
	ret->replicas = (uint64_t)v[2];
	ret->pending_deletes = (uint64_t)v[3];
	return 0;
}

int cm_worker_chunk_counts(struct chunk_map *cm, const struct wreg_info *ws,
			   size_t n, uint64_t *counts)
{
	int rc = meta_txn_begin(cm->ms, false);

	memset(counts, 0, n * sizeof(*counts));
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_PER_WORKER);
	while ((rc = meta_step(cm->ms, st)) == SQLITE_ROW) {
		const char *w = col_text(st, 0);
		for (size_t i = 0; i < n; i++)
			if (strcmp(ws[i].id, w) == 0)
				counts[i] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	rc = (rc == SQLITE_DONE) ? 0 : (rc < 0 ? rc : -EIO);
	return meta_txn_end(cm->ms, rc);
}

/* ---- snapshots: shared chunks and copy on write ------------------------- */

int cm_share_locked(struct chunk_map *cm, uint64_t src_ino, uint64_t dst_ino, uint64_t *ret_n)
{
	int64_t leased = 0, n = 0;
	int rc = query_i64(cm, SQL_SLOTS_LEASED, (int64_t)src_ino, cm_wall_ms(), NULL, &leased);

	if (rc < 0)
		return rc;
	if (leased > 0)
		return -EBUSY;  /* being written: no point in time to share */
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_SLOTS_COPY);
	sqlite3_bind_int64(st, 1, (int64_t)src_ino);
	sqlite3_bind_int64(st, 2, (int64_t)dst_ino);
	rc = meta_exec_stmt(cm->ms, st);
	if (rc == 0)
		rc = query_i64(cm, SQL_SLOTS_OF_INO, (int64_t)dst_ino, 0, NULL, &n);
	if (rc == 0)
		*ret_n = (uint64_t)n;
	return rc;
}

int cm_refs_locked(struct chunk_map *cm, uint64_t chunk_id, uint32_t *ret)
{
	int64_t n = 0;
	int rc = query_i64(cm, SQL_CHUNK_REFS, (int64_t)chunk_id, 0, NULL, &n);

	if (rc == 0)
		*ret = (uint32_t)n;
	return rc;
}

/* The clone of slot (ino, idx): what the first transaction found. */
struct cow_plan {
	uint64_t old_id, new_id;
	uint32_t old_version;
	struct cm_chunk src;       /* live current replicas of old_id */
};

/* First transaction: is the slot shared, where are its live copies, and
 * a new chunk id. 1 with plan, 0 when there is nothing to do. */
static int cow_plan(struct chunk_map *cm, uint64_t ino, uint64_t idx, struct cow_plan *p)
{
	int rc = meta_txn_begin(cm->ms, true);

	if (rc < 0)
		return rc;
	sqlite3_stmt *row = meta_stmt(cm->ms, SQL_CHUNK_BY_IDX);
	sqlite3_bind_int64(row, 1, (int64_t)ino);
	sqlite3_bind_int64(row, 2, (int64_t)idx);
	rc = meta_step(cm->ms, row);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(row);
		return meta_txn_end(cm->ms, rc < 0 ? rc : 0);
	}
	p->old_id = (uint64_t)sqlite3_column_int64(row, 0);
	p->old_version = (uint32_t)sqlite3_column_int64(row, 1);
	sqlite3_reset(row);
	rc = slot_shared(cm, p->old_id, ino, idx);
	if (rc == 1) {
		rc = live_current(cm, p->old_id, p->old_version, &p->src);
		if (rc == 0 && p->src.nrep == 0)
			rc = -EAGAIN;   /* its copies are on workers that are down */
		if (rc == 0)
			rc = meta_counter_next(cm->ms, "chunk_id", &p->new_id);
		if (rc == 0)
			rc = 1;
	}
	int end = meta_txn_end(cm->ms, rc < 0 ? rc : 0);
	return end < 0 ? end : rc;
}

/* Each live copy clones old into new on its own worker. ok[i] says which
 * did. */
static void cow_clone(struct chunk_map *cm, const struct cow_plan *p, bool *ok)
{
	struct http_call calls[CM_MAX_REPLICAS];
	char urls[CM_MAX_REPLICAS][WREG_ADDR_MAX + 3 * TOKEN_MAX + 160];
	char old_id[CHUNK_ID_STRLEN + 1], new_id[CHUNK_ID_STRLEN + 1];
	char tok[TOKEN_MAX], from_tok[TOKEN_MAX];
	time_t exp = time(NULL) + CM_TOKEN_TTL_S;
	int n = p->src.nrep;
	struct http_client *hc = http_client_new(120000, 3000);

	memset(ok, 0, (size_t)n * sizeof(*ok));
	if (!hc)
		return;
	chunk_id_format(p->old_id, old_id);
	chunk_id_format(p->new_id, new_id);
	token_make(cm->secret, p->new_id, 1, "c", exp, tok);
	token_make(cm->secret, p->old_id, p->old_version, "r", exp, from_tok);
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < n; i++) {
		snprintf(urls[i], sizeof(urls[i]),
			 "%s://%s/v1/chunk/%s/clone?version=1&from=%s&from_version=%u&token=%s"
			 "&from_token=%s", transport_scheme(), p->src.reps[i].addr, new_id,
			 old_id, p->old_version, tok, from_tok);
		calls[i].method = "POST";
		calls[i].url = urls[i];
	}
	if (http_client_parallel(hc, calls, n) == 0) {
		for (int i = 0; i < n; i++) {
			ok[i] = calls[i].err == 0 && calls[i].status / 100 == 2;
			if (!ok[i])
				log_warn("clone of chunk %s v%u into %s on worker %s failed: %s %ld",
					 old_id, p->old_version, new_id, p->src.reps[i].worker_id,
					 calls[i].err ? errno_name(calls[i].err) : "HTTP status",
					 calls[i].status);
		}
	}
	for (int i = 0; i < n; i++)
		free(calls[i].out_alloc);
	http_client_free(hc);
}

/* Last transaction: the slot takes the new chunk if it still names the
 * old one; else the clones are garbage. */
static int cow_install(struct chunk_map *cm, uint64_t ino, uint64_t idx,
		       const struct cow_plan *p, const bool *ok)
{
	int nok = 0, rc = meta_txn_begin(cm->ms, true);
	bool still = false;

	if (rc < 0)
		return rc;
	sqlite3_stmt *row = meta_stmt(cm->ms, SQL_CHUNK_BY_IDX);
	sqlite3_bind_int64(row, 1, (int64_t)ino);
	sqlite3_bind_int64(row, 2, (int64_t)idx);
	rc = meta_step(cm->ms, row);
	if (rc == SQLITE_ROW)
		still = (uint64_t)sqlite3_column_int64(row, 0) == p->old_id &&
			(uint32_t)sqlite3_column_int64(row, 1) == p->old_version;
	sqlite3_reset(row);
	rc = rc < 0 ? rc : 0;
	for (int i = 0; i < p->src.nrep; i++)
		nok += ok[i];
	if (rc == 0 && still && nok > 0) {
		sqlite3_stmt *st = meta_stmt(cm->ms, SQL_SLOT_SET_CHUNK);
		sqlite3_bind_int64(st, 1, (int64_t)ino);
		sqlite3_bind_int64(st, 2, (int64_t)idx);
		sqlite3_bind_int64(st, 3, (int64_t)p->new_id);
		sqlite3_bind_int64(st, 4, 1);
		rc = meta_exec_stmt(cm->ms, st);
	}
	for (int i = 0; i < p->src.nrep && rc == 0; i++) {
		if (!ok[i])
			continue;
		if (still)
			rc = add_replica(cm, p->new_id, p->src.reps[i].worker_id, 1);
		else
			rc = exec_ct(cm, SQL_PENDING_ADD, p->new_id, p->src.reps[i].worker_id);
	}
	rc = meta_txn_end(cm->ms, rc);
	if (rc == 0 && still && nok == 0)
		rc = -EAGAIN;   /* no worker could clone it now: the client retries */
	return rc;
}

int cm_cow(struct chunk_map *cm, uint64_t ino, uint64_t idx)
{
	struct cow_plan p;
	bool ok[CM_MAX_REPLICAS];

	memset(&p, 0, sizeof(p));
	int rc = cow_plan(cm, ino, idx, &p);
	if (rc <= 0)
		return rc;
	cow_clone(cm, &p, ok);
	rc = cow_install(cm, ino, idx, &p, ok);
	if (rc == 0)
		log_info("copy on write: inode %llu chunk %llu now %016llx (was %016llx)",
			 (unsigned long long)ino, (unsigned long long)idx,
			 (unsigned long long)p.new_id, (unsigned long long)p.old_id);
	return rc;
}

int cm_fileinfo(struct chunk_map *cm, uint64_t ino, json_t **ret)
{
	json_t *arr = json_array();
	struct slot *slots = NULL;
	size_t n = 0;
	int rc = meta_txn_begin(cm->ms, false);

	if (rc < 0 || !arr) {
		json_decref(arr);
		return rc < 0 ? rc : -ENOMEM;
	}
	rc = slots_of(cm, ino, &slots, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct rep_row *rows;
		size_t nrows;
		uint32_t refs = 0;
		char id[CHUNK_ID_STRLEN + 1];
		rc = cm_refs_locked(cm, slots[i].id, &refs);
		if (rc == 0)
			rc = replica_rows(cm, slots[i].id, &rows, &nrows);
		if (rc < 0)
			break;
		json_t *reps = json_array();
		for (size_t k = 0; k < nrows; k++) {
			struct wreg_info w;
			bool known = wreg_get(cm->reg, rows[k].worker_id, &w) == 0;
			json_array_append_new(reps, json_pack(
				"{s:s, s:s, s:b, s:I}", "worker_id", rows[k].worker_id,
				"addr", known ? w.addr : "", "live", known && w.live,
				"version", (json_int_t)rows[k].version));
		}
		free(rows);
		chunk_id_format(slots[i].id, id);
		json_array_append_new(arr, json_pack(
			"{s:I, s:s, s:I, s:I, s:o}", "index", (json_int_t)slots[i].idx,
			"chunk_id", id, "version", (json_int_t)slots[i].v,
			"refs", (json_int_t)refs, "replicas", reps));
	}
	free(slots);
	rc = meta_txn_end(cm->ms, rc);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*ret = arr;
	return 0;
}

/* Slots of ino in [first, end) with a write lease held now. */
static int range_leased(struct chunk_map *cm, uint64_t ino, uint64_t first, uint64_t end,
			int64_t *ret)
{
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_RANGE_LEASED);
	sqlite3_bind_int64(st, 1, (int64_t)ino);
	sqlite3_bind_int64(st, 2, (int64_t)first);
	sqlite3_bind_int64(st, 3, (int64_t)end);
	sqlite3_bind_int64(st, 4, cm_wall_ms());
	int rc = meta_step(cm->ms, st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc < 0 ? rc : rc == 0 ? 0 : -EIO;
}

int cm_share_range_locked(struct chunk_map *cm, uint64_t src, uint64_t src_idx, uint64_t dst,
			  uint64_t dst_idx, uint64_t count)
{
	int64_t busy = 0, busy_dst = 0;
	int rc;

	if (count == 0)
		return 0;
	if (src_idx >= CM_MAX_INDEX || dst_idx >= CM_MAX_INDEX || count > CM_MAX_INDEX ||
	    src_idx + count > CM_MAX_INDEX || dst_idx + count > CM_MAX_INDEX)
		return -EFBIG;
	if (src == dst && src_idx < dst_idx + count && dst_idx < src_idx + count)
		return -EINVAL;   /* overlapping ranges of one file */
	rc = range_leased(cm, src, src_idx, src_idx + count, &busy);
	if (rc == 0)
		rc = range_leased(cm, dst, dst_idx, dst_idx + count, &busy_dst);
	if (rc < 0)
		return rc;
	if (busy || busy_dst)
		return -EBUSY;
	rc = drop_range(cm, dst, dst_idx, dst_idx + count);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = meta_stmt(cm->ms, SQL_RANGE_COPY);
	sqlite3_bind_int64(st, 1, (int64_t)src);
	sqlite3_bind_int64(st, 2, (int64_t)src_idx);
	sqlite3_bind_int64(st, 3, (int64_t)(src_idx + count));
	sqlite3_bind_int64(st, 4, (int64_t)dst);
	sqlite3_bind_int64(st, 5, (int64_t)dst_idx);
	return meta_exec_stmt(cm->ms, st);
}
