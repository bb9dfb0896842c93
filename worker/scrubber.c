/* scrubber — background verification of the chunk files (scrubber.h).
 *
 * Threads: one scrubber thread. State: the stop flag, guarded by mu and
 * signalled through cond (the thread paces itself with timed waits on
 * cond, never with sleep). Everything else is the thread's own; its
 * progress and the damage it finds go to the load_stats counters (atomic).
 * The store locks each chunk shared while it is verified, so writers of
 * that one chunk wait for at most one chunk read (<= 64 MiB). */
#include "clock.h"
#include "scrubber.h"
#include "auth.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"

struct scrubber {
	struct scrubber_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;     /* guards stop */
	pthread_cond_t cond;    /* signalled on stop */
	bool stop;
	struct http_client *hc; /* scrubber thread only */
};

static int64_t sc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the monotonic deadline or stop; true if stopping. */
static bool sc_wait_until(struct scrubber *sc, int64_t deadline_ms)
{
	struct timespec ts = {
		.tv_sec = deadline_ms / 1000,
		.tv_nsec = (deadline_ms % 1000) * 1000000,
	};
	bool stop;

	pthread_mutex_lock(&sc->mu);
	while (!sc->stop && sc_mono_ms() < deadline_ms)
		if (pthread_cond_timedwait(&sc->cond, &sc->mu, &ts) == ETIMEDOUT)
			break;
	stop = sc->stop;
	pthread_mutex_unlock(&sc->mu);
	return stop;
}

static void sc_report(struct scrubber *sc, const struct chunk_info *ci)
{
	char idtxt[CHUNK_ID_STRLEN + 1];
	json_t *req;
	int r;

	chunk_id_format(ci->id, idtxt);
	req = json_pack("{s:s, s:I, s:s}", "chunk_id", idtxt, "version", (json_int_t)ci->version,
			"worker_id", sc->cfg.worker_id);
	if (!req)
		return;
	r = master_list_call(sc->cfg.masters, sc->hc, "POST", "/v1/replica_failed", req,
			     auth_cluster_signer, (void *)sc->cfg.secret, NULL, NULL);
	json_decref(req);
	if (r < 0)
		log_warn("scrubber: cannot report damaged chunk %s to the master: %s", idtxt,
			 strerror(-r));
	else
		log_info("scrubber: reported damaged chunk %s v%" PRIu32 " to the master", idtxt,
			 ci->version);
}

/* One pass over every chunk. False if stopping. */
static bool sc_pass(struct scrubber *sc)
{
	struct chunk_info *list = NULL;
	size_t n = 0, bad = 0;
	uint64_t bytes = 0, cost = 0;
	int64_t t0 = sc_mono_ms();

	if (chunk_store_list(sc->cfg.store, &list, &n) < 0)
		return true;
	load_stats_scrub_begin(sc->cfg.stats, n);
	for (size_t i = 0; i < n; i++) {
		struct chunk_info ci = list[i];
		int r = chunk_store_verify(sc->cfg.store, list[i].id, &ci);

		if (r == -EIO) {
			bad++;
			sc_report(sc, &ci);
		} else if (r < 0 && r != -ENOENT) {
			log_warn("scrubber: cannot check chunk %016" PRIx64 ": %s", list[i].id,
				 strerror(-r));
		}
		uint64_t size = CHUNK_HEADER_SIZE + (uint64_t)ci.length;
		bytes += size;
		load_stats_scrub_chunk(sc->cfg.stats, size, r == -EIO);
		/* pace: be no further than cost/rate seconds into the pass, a
		 * chunk costing at least SCRUBBER_CHUNK_COST: a store of small
		 * files was checked at 1,300 chunks/s, a quarter of a core per
		 * worker, whatever the byte rate */
		cost += size > SCRUBBER_CHUNK_COST ? size : SCRUBBER_CHUNK_COST;
		if (sc_wait_until(sc, t0 + (int64_t)(cost * 1000 / sc->cfg.rate))) {
			free(list);
			return false;
		}
	}
	free(list);
	load_stats_scrub_end(sc->cfg.stats);
	log_info("scrubber: checked %zu chunks (%" PRIu64 " bytes), %zu damaged", n, bytes, bad);
	return true;
}

static void *sc_main(void *arg)
{
	struct scrubber *sc = arg;
	int64_t next = sc_mono_ms() + sc->cfg.first_delay_s * 1000;

	while (!sc_wait_until(sc, next)) {
		next = sc_mono_ms() + SCRUBBER_PASS_MIN_S * 1000;
		if (!sc_pass(sc))
			break;
	}
	return NULL;
}

int scrubber_start(const struct scrubber_config *cfg, struct scrubber **ret)
{
	struct scrubber *sc = calloc(1, sizeof(*sc));
	int r;

	if (!sc)
		return -ENOMEM;
	sc->cfg = *cfg;
	sc->hc = http_client_new(5000, 2000);
	if (!sc->hc) {
		free(sc);
		return -ENOMEM;
	}
	pthread_mutex_init(&sc->mu, NULL);
	clock_cond_init(&sc->cond);
	r = -pthread_create(&sc->thread, NULL, sc_main, sc);
	if (r < 0) {
		pthread_mutex_destroy(&sc->mu);
		pthread_cond_destroy(&sc->cond);
		http_client_free(sc->hc);
		free(sc);
		return r;
	}
	*ret = sc;
	return 0;
}

void scrubber_stop(struct scrubber *sc)
{
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	sc->stop = true;
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->mu);
	pthread_join(sc->thread, NULL);
	pthread_mutex_destroy(&sc->mu);
	pthread_cond_destroy(&sc->cond);
	http_client_free(sc->hc);
	free(sc);
}
