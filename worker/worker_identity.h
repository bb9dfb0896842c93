/* worker_identity — who this worker is, kept in its data folder.
 *
 * DATA/worker_id holds the worker's id (16 lowercase hex digits and a
 * newline), made at random on the first start and read on every later
 * one, so the master recognises the worker and its chunks after a
 * restart. DATA/lock is held with flock(2) while the worker runs so that
 * two workers never share one data folder. DATA/worker.addr tells scripts
 * and tests where the worker listens. Called from main() only. */
#ifndef BIGFS_WORKER_IDENTITY_H
#define BIGFS_WORKER_IDENTITY_H

#include "ids.h"

/* Create data_dir if missing and take its lock; *ret_fd keeps it (close
 * to release). -EBUSY if another process holds it. */
int worker_identity_lock(const char *data_dir, int *ret_fd);

/* Read DATA/worker_id, or create it. out holds WORKER_ID_STRLEN + 1.
 * A file that exists but does not hold a valid id is -EINVAL (never
 * silently replaced: the id names the worker's chunks to the master). */
int worker_identity_load(const char *data_dir, char *out);

/* Write DATA/worker.addr ("HOST:PORT\n") through a temp file and rename;
 * remove it. */
int worker_identity_write_addr(const char *data_dir, const char *addr);
void worker_identity_remove_addr(const char *data_dir);

#endif
