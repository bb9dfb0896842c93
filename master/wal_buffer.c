/* wal_buffer — see wal_buffer.h. */
#include "wal_buffer.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WAL_FRAME_HDR 24   /* a frame's header; the page follows */

/* A WAL file: ours, with the default VFS's file right after it. */
struct wb_file {
	sqlite3_file base;
	sqlite3_file *real;
	char *buf;                /* gathered bytes, for offsets off.. */
	sqlite3_int64 off;
	int len;
	bool commit_next;         /* the last write was a commit frame's header */
};

static sqlite3_vfs wb_vfs;
static sqlite3_io_methods wb_methods;

/* Out in pieces of WB_PIECE: the default VFS writes at most 128 KiB
 * at a time (it was made for one page per call). */
#define WB_PIECE 65536

static int wb_flush(struct wb_file *f)
{
	int rc = SQLITE_OK;
	for (int done = 0; rc == SQLITE_OK && done < f->len; done += WB_PIECE) {
		int n = f->len - done < WB_PIECE ? f->len - done : WB_PIECE;
		rc = f->real->pMethods->xWrite(f->real, f->buf + done, n, f->off + done);
	}
	f->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *p)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	int crc = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : crc;
}

static int wb_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

/* Whether a frame header says it ends a commit: its second field, the
 * database's size in pages after the commit, is zero for other frames. */
static bool wb_commit_header(const void *data)
{
	const unsigned char *h = data;
	return (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int wb_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = SQLITE_OK;
	if (f->len > 0 && (off != f->off + f->len || f->len + amt > WAL_BUFFER_CAP ||
			   amt > WB_PIECE))
		rc = wb_flush(f);   /* not the next bytes, no room, or going straight out */
	if (rc != SQLITE_OK)
		return rc;
	bool ends = f->commit_next;
	f->commit_next = amt == WAL_FRAME_HDR && wb_commit_header(data);
	if (amt > WB_PIECE || !f->buf)
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	if (f->len == 0)
		f->off = off;
	memcpy(f->buf + f->len, data, (size_t)amt);
	f->len += amt;
	/* the commit frame's page: the whole commit goes out now */
	return ends ? wb_flush(f) : SQLITE_OK;
}

static int wb_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *p, int flags)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *p, int level)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *p, int level)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *p, int *out)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_file_control(sqlite3_file *p, int op, void *arg)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *p)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_chars(sqlite3_file *p)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int wb_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

static int wb_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *p)
{
	struct wb_file *f = (struct wb_file *)p;
	f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *p, int del)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int wb_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
	struct wb_file *f = (struct wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int wb_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
	struct wb_file *f = (struct wb_file *)p;
	return f->real->pMethods->xUnfetch(f->real, off, ptr);
}

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags,
		   int *out_flags)
{
	sqlite3_vfs *real = vfs->pAppData;
	if (!(flags & SQLITE_OPEN_WAL))   /* not a WAL: the default VFS's file, as is */
		return real->xOpen(real, name, p, flags, out_flags);
	struct wb_file *f = (struct wb_file *)p;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = real->xOpen(real, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		f->base.pMethods = NULL;   /* nothing to close */
		return rc;
	}
	if (f->real->pMethods->iVersion < 3) {
		/* a file without the shared-memory methods ours forward
		 * (never Linux's "unix"): that file itself, unbuffered */
		f->real->pMethods->xClose(f->real);
		return real->xOpen(real, name, p, flags, out_flags);
	}
	f->buf = malloc(WAL_BUFFER_CAP);   /* none: writes go straight through */
	f->base.pMethods = &wb_methods;
	return SQLITE_OK;
}

static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xDelete(real, name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xAccess(real, name, flags, out);
}

static int wb_full_path(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xFullPathname(real, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xDlOpen(real, name);
}

static void wb_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	sqlite3_vfs *real = vfs->pAppData;
	real->xDlError(real, n, msg);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xDlSym(real, h, sym);
}

static void wb_dl_close(sqlite3_vfs *vfs, void *h)
{
	sqlite3_vfs *real = vfs->pAppData;
	real->xDlClose(real, h);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xRandomness(real, n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xSleep(real, us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xCurrentTime(real, out);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xGetLastError(real, n, out);
}

static int wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	return real->xCurrentTimeInt64(real, out);
}

static int wb_result;

static void wb_register_once(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (!real || real->iVersion < 2 || real->szOsFile < (int)sizeof(struct wb_file)) {
		/* a default file smaller than ours would not hold a plain
		 * file opened in our place: never on Linux's "unix" */
		wb_result = -EIO;
		return;
	}
	wb_methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = wb_close,
		.xRead = wb_read,
		.xWrite = wb_write,
		.xTruncate = wb_truncate,
		.xSync = wb_sync,
		.xFileSize = wb_file_size,
		.xLock = wb_lock,
		.xUnlock = wb_unlock,
		.xCheckReservedLock = wb_check_reserved,
		.xFileControl = wb_file_control,
		.xSectorSize = wb_sector_size,
		.xDeviceCharacteristics = wb_device_chars,
		.xShmMap = wb_shm_map,
		.xShmLock = wb_shm_lock,
		.xShmBarrier = wb_shm_barrier,
		.xShmUnmap = wb_shm_unmap,
		.xFetch = wb_fetch,
		.xUnfetch = wb_unfetch,
	};
	wb_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct wb_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = WAL_BUFFER_VFS,
		.pAppData = real,
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_full_path,
		.xDlOpen = wb_dl_open,
		.xDlError = wb_dl_error,
		.xDlSym = wb_dl_sym,
		.xDlClose = wb_dl_close,
		.xRandomness = wb_randomness,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_current_time,
		.xGetLastError = wb_last_error,
		.xCurrentTimeInt64 = wb_current_time64,
	};
	wb_result = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK ? 0 : -EIO;
}

int wal_buffer_flush(sqlite3 *db)
{
	sqlite3_file *p = NULL;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &p) != SQLITE_OK ||
	    !p || p->pMethods != &wb_methods)
		return 0;
	struct wb_file *f = (struct wb_file *)p;
	if (f->len == 0)
		return 0;
	return wb_flush(f) == SQLITE_OK ? 1 : -EIO;
}

int wal_buffer_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, wb_register_once);
	return wb_result;
}
