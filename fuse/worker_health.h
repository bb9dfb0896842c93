/* worker_health — this mount's memory of workers to avoid.
 *
 * One per mount, shared by every chunk and every open file: a worker that
 * stalled or failed a call is "suspect" for WH_SUSPECT_MS, and one the
 * master holds dead (its verdict arrives with every session heartbeat) is
 * "down" until the master says otherwise. Reads ask such workers last,
 * and writes leave them out (reporting them, so the master marks their
 * copy stale) while a good replica remains, and write grants ask the
 * master to place new chunks elsewhere ("avoid"), so a paused or cut-off
 * worker costs one stall, not one per chunk and file. */
#ifndef BIGFS_FUSE_WORKER_HEALTH_H
#define BIGFS_FUSE_WORKER_HEALTH_H

#include "ids.h"

#include <stdbool.h>
#include <stddef.h>

#define WH_SUSPECT_MS 15000

struct whealth;

/* 0 or -ENOMEM. */
int whealth_new(struct whealth **ret);
void whealth_free(struct whealth *h);

/* A call to worker id stalled or failed at the transport level (no
 * answer, refused, reset): suspect it for WH_SUSPECT_MS from now. */
void whealth_suspect(struct whealth *h, const char *id);
/* A call to id was answered: it is no longer suspect (a "down" verdict of
 * the master stays until the master lifts it). */
void whealth_ok(struct whealth *h, const char *id);
/* The master's verdict: ids (n of them) are the workers it holds dead
 * now; every other worker is not down. */
void whealth_set_down(struct whealth *h, const char *const *ids, size_t n);
/* Suspect or down. */
bool whealth_bad(struct whealth *h, const char *id);
/* How many workers are suspect or down now (for the mount's counters). */
size_t whealth_count_bad(struct whealth *h);
/* The ids of up to max workers suspect or down now, copied into ids
 * (each WORKER_ID_STRLEN + 1 bytes). Returns how many. */
size_t whealth_list_bad(struct whealth *h, char (*ids)[WORKER_ID_STRLEN + 1], size_t max);

#endif
