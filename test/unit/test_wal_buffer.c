/* Unit tests of master/wal_buffer: a database opened through the VFS in
 * the master's modes (exclusive locking, WAL, synchronous=NORMAL)
 *   - has each commit's frames in the WAL file, in the kernel, when the
 *     commit returns (the file's size, read through another
 *     descriptor), also a commit bigger than the default VFS writes at
 *     once;
 *   - loses no commit when the process dies right after it (_exit, as a
 *     kill -9) and another opens the database with the plain VFS;
 *   - fails a commit whose write fails (the file size limit, EFBIG: a
 *     full disk's kind of error) and keeps everything before it; the
 *     next commit, with room again, works;
 *   - reads back through a checkpoint and through rolled-back
 *     transactions bigger than SQLite's page cache (their frames spill
 *     and are then written over). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmp_tree.h"
#include <sqlite3.h>

#include "../../master/wal_buffer.h"

struct fixture {
	char dir[64];
	char db[128];
	char wal[136];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/bigfs-walbuf-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/meta.db", f->dir);
	snprintf(f->wal, sizeof(f->wal), "%s-wal", f->db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tmp_tree_remove(f->dir);
	free(f);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

/* The database through the VFS, in the master's modes. */
static sqlite3 *open_buffered(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(wal_buffer_register(), 0);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 WAL_BUFFER_VFS),
			 SQLITE_OK);
	exec_ok(db, "PRAGMA locking_mode=EXCLUSIVE");
	exec_ok(db, "PRAGMA journal_mode=WAL");
	exec_ok(db, "PRAGMA synchronous=NORMAL");
	exec_ok(db, "PRAGMA wal_autocheckpoint=0");
	exec_ok(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
	exec_ok(db, "CREATE INDEX IF NOT EXISTS t_v ON t(v)");
	return db;
}

static int64_t count_rows(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* One transaction of n rows of blobs (k from first), each in its own
 * pages: SQLite's code for it. */
static int insert_rows(sqlite3 *db, int first, int n, int blob)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE s(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
		 "INSERT INTO t SELECT i, randomblob(%d) FROM s",
		 first, first + n - 1, blob);
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_commits_are_in_the_wal_when_they_return(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = open_buffered(f->db);
	off_t before = file_size(f->wal);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(insert_rows(db, 1 + i * 10, 10, 300), SQLITE_OK);
		off_t now = file_size(f->wal);
		assert_true(now > before);   /* in the kernel: seen by stat */
		before = now;
		/* nothing left gathered after a commit */
		assert_int_equal(wal_buffer_flush(db), 0);
	}
	assert_int_equal(count_rows(db), 200);
	/* a commit bigger than one write of the default VFS (128 KiB) */
	assert_int_equal(insert_rows(db, 1000, 300, 2000), SQLITE_OK);
	assert_true(file_size(f->wal) > before + 600000);
	assert_int_equal(count_rows(db), 500);
	sqlite3_close(db);
}

static void test_a_commit_survives_the_process(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db = open_buffered(f->db);
		for (int i = 0; i < 50; i++)
			if (insert_rows(db, 1 + i * 7, 7, 500) != SQLITE_OK)
				_exit(2);
		_exit(0);   /* no close, no checkpoint: as a kill -9 */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sqlite3 *db = NULL;   /* the plain VFS recovers the WAL */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(count_rows(db), 350);
	sqlite3_close(db);
}

static void test_a_failed_write_fails_the_commit(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);   /* EFBIG instead */
		sqlite3 *db = open_buffered(f->db);
		if (insert_rows(db, 1, 20, 200) != SQLITE_OK)
			_exit(2);
		/* the next commit cannot grow the WAL past its size now */
		off_t wal = file_size(f->wal);
		struct rlimit lim = { (rlim_t)wal + 4096, RLIM_INFINITY };
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(3);
		if (insert_rows(db, 100, 200, 3000) == SQLITE_OK)
			_exit(4);   /* it must fail */
		if (count_rows(db) != 20)
			_exit(5);
		lim.rlim_cur = RLIM_INFINITY;
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(3);
		if (insert_rows(db, 1000, 5, 200) != SQLITE_OK)
			_exit(6);
		_exit(count_rows(db) == 25 ? 0 : 7);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(count_rows(db), 25);
	sqlite3_close(db);
}

static void test_rollbacks_and_checkpoints_read_back(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = open_buffered(f->db);
	exec_ok(db, "PRAGMA cache_size=20");   /* a big transaction spills to the WAL */
	assert_int_equal(insert_rows(db, 1, 10, 100), SQLITE_OK);
	exec_ok(db, "BEGIN IMMEDIATE");
	exec_ok(db, "WITH RECURSIVE s(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM s WHERE i < 2099)"
		    " INSERT INTO t SELECT i, randomblob(2000) FROM s");
	exec_ok(db, "ROLLBACK");
	assert_int_equal(count_rows(db), 10);
	assert_int_equal(insert_rows(db, 5000, 500, 1500), SQLITE_OK);   /* spills, commits */
	assert_int_equal(count_rows(db), 510);
	assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(insert_rows(db, 9000, 3, 100), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(count_rows(db), 513);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commits_are_in_the_wal_when_they_return, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_commit_survives_the_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_write_fails_the_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollbacks_and_checkpoints_read_back, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
