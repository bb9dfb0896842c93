/* drain — emptying a worker before removal, and rebalancing onto new
 * ones (docs/api.md "Drain and rebalance").
 *
 * A drain marks a worker draining (worker_registry): placement gives it
 * no new chunk while another worker can take it, and its replicas are
 * leaving — this module copies them to other workers at a set rate, and
 * the repair scan drops each once its chunk has its goal without it. It
 * keeps the drain's record in the metadata (table settings, so a restart
 * and the standby masters keep it), measures its progress and says when
 * the worker can be removed. Its thread also rebalances:
 * while live workers' usage differs by more than a margin it moves chunks,
 * rate-limited, from the fullest to the emptiest one (copy, then drop). */
#ifndef BIGFS_MASTER_DRAIN_H
#define BIGFS_MASTER_DRAIN_H

#include <jansson.h>
#include <stdint.h>

#include "api_util.h"
#include "worker_registry.h"

struct chunk_map;
struct kstatus;
struct master;
struct meta_store;
struct repair;
struct secret;

#define DRAIN_ROUTES(X)                                                               \
	X(WORKER_DRAIN, "POST", "/v1/worker/drain", BODY_SMALL, A_CLUSTER, drain_h_drain)     \
	X(WORKER_UNDRAIN, "POST", "/v1/worker/undrain", BODY_SMALL, A_CLUSTER, drain_h_undrain) \
	X(WORKER_DRAINS, "GET", "/v1/worker/drains", 0, A_CLUSTER, drain_h_drains)

struct drain;

struct drain_config {
	struct meta_store *ms;
	struct chunk_map *cm;
	struct wreg *reg;
	struct kstatus *ks;           /* may be NULL */
	struct repair *rep;
	const struct secret *secret;
	uint32_t default_goal;        /* for the "too few workers" warning */
	double rebalance_margin;      /* usage spread that starts a rebalance,
				       * a fraction of capacity in (0, 1) */
	uint64_t rebalance_bps;       /* bytes/s a rebalance moves; 0 = none */
	uint64_t drain_bps;           /* bytes/s drains move; 0 = no limit but
				       * four chunks at a time */
};

/* Load the drains recorded in the metadata (marking those workers
 * draining in cfg->reg, which must already hold the known workers) and
 * start the thread. Everything in cfg is borrowed and must outlive the
 * module. 0 or -errno (logged). */
int drain_start(const struct drain_config *cfg, struct drain **ret);
/* Stop and join the thread, free. NULL is fine. */
void drain_stop(struct drain *d);

/* A worker's state for GET /v1/cluster/workers: "live", "down",
 * "draining" or "drained"; *ret_drain (may be NULL) gets a new drain
 * object while it drains or is drained, else NULL. d may be NULL. */
const char *drain_worker_state(struct drain *d, const struct wreg_info *w, json_t **ret_drain);

/* {"rebalance": {...}, "drains": [...]}: what the cluster summary and
 * the status page show. New reference; never NULL but on ENOMEM. */
json_t *drain_summary_json(struct master *m);

/* Route handlers (DRAIN_ROUTES). */
void drain_h_drain(struct master *m, struct http_request *r);
void drain_h_undrain(struct master *m, struct http_request *r);
void drain_h_drains(struct master *m, struct http_request *r);

#endif
