/* status_reporter — the worker's link to the master.
 *
 * One thread that (1) finds the master (GET /v1/cluster/info, retried with
 * backoff until it answers), (2) registers with the full chunk list (POST
 * /v1/cluster/register) and deletes the chunks the reply lists, (3) sends
 * a JSON status to Kafka (topic from cluster info, key = worker id) every
 * status interval, and (4) notices when the master or its broker changed
 * (Kafka errors, failed deliveries, cluster info every few seconds: it
 * became reachable again, another master is active, or its cluster id or
 * bootstrap address differs) and then rebuilds the producer if needed and
 * registers again.
 *
 * With several masters (master_list.h) every call goes to the current
 * one of the list; one that does not answer or answers as a standby is
 * passed over (to the active one it names, else the next) within the same
 * look, and a new active master is registered with at once: it needs the
 * registration to count this worker's chunks.
 *
 * Capacity reported: --capacity if given, else the size of the file
 * system holding the data folder; never more than used + the space still
 * available on that file system, so the master's idea of free space is
 * what this worker can really store. Used: bytes of the chunk files this
 * worker holds (headers included). */
#ifndef BIGFS_WORKER_STATUS_REPORTER_H
#define BIGFS_WORKER_STATUS_REPORTER_H

#include <stdint.h>

#include "chunk_store.h"
#include "kafka_opts.h"
#include "load_stats.h"
#include "master_list.h"

#define WORKER_SOFTWARE_VERSION "0.1.0"

struct status_reporter;

/* Everything is borrowed and must outlive the reporter. */
struct status_reporter_config {
	struct master_list *masters; /* shared with the scrubber */
	const char *worker_id;
	const char *addr;            /* address given to the master */
	int64_t interval_ms;         /* 0: what the master's cluster info says */
	struct chunk_store *store;
	struct load_stats *stats;
	const struct secret *secret; /* signs calls to the master */
	const struct kafka_opts *kafka_opts; /* set on the producer; NULL: none */
};

/* Start the reporter thread. 0 or -errno. */
int status_reporter_start(const struct status_reporter_config *cfg,
			  struct status_reporter **ret);
/* Wait until the first look at the master (cluster info and, if it
 * answered, registration) is over, whatever its result, or timeout_ms. */
void status_reporter_wait_first(struct status_reporter *sr, int64_t timeout_ms);
/* Ask the thread to stop, join it, free. NULL is fine. */
void status_reporter_stop(struct status_reporter *sr);

/* Capacity and used bytes as reported (see above). */
void status_reporter_space(const struct status_reporter_config *cfg, uint64_t *ret_capacity,
			   uint64_t *ret_used);

#endif
