/* master — the one context struct of the bigfs-master process.
 *
 * main.c fills it in start-up order (meta_store, worker_registry,
 * chunk_map, namespace, locks, sess, kafka_status, repair, drain, http_api) and tears it down
 * in reverse. Handlers reach every module through it (libmicrohttpd's
 * `cls`); the modules themselves only get the pieces they need. The
 * struct is written only by main() before the threads start and after
 * they stop; everything it points to locks itself. */
#ifndef BIGFS_MASTER_MASTER_H
#define BIGFS_MASTER_MASTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "token.h"

struct master {
	/* configuration */
	const char *data_dir;
	uint32_t default_goal;
	int64_t status_interval_ms;
	/* modules */
	struct secret secret;
	struct meta_store *ms;
	struct wreg *reg;
	struct chunk_map *cm;
	struct ns *ns;
	struct locks *locks;
	struct sess *sess;
	struct kstatus *ks;
	struct repair *rep;
	struct drain *drain;       /* drains and rebalance */
	struct http_api *api;
	struct asess *auth;        /* exports and mount sessions */
	struct dir_leases *dl;     /* folders mounts may answer ENOENT in */
	struct inval_log *il;      /* changes, for mounts' long kernel caches */
	struct metalog *ml;        /* several masters: the log; else NULL */
	atomic_bool ready;         /* modules up: calls may be served */
};

#endif
