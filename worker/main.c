/* bigfs-worker — stores chunks on a local folder and serves them over HTTP.
 *
 *   bigfs-worker --master HOST:PORT[,HOST:PORT...] --data DIR [--listen HOST:PORT]
 *                [--advertise HOST:PORT] [--secret FILE] [--capacity BYTES]
 *                [--status-interval-ms MS] [--config FILE] [--log-level LEVEL]
 *
 * main() is the list of start-up steps; each module has its own start and
 * stop, called in this order and stopped in reverse:
 *   1. configuration (flags, optional key=value file) and logging
 *   2. the data folder: lock, worker id, cluster secret
 *   3. chunk_store      scan the chunk files
 *   4. replicator, load_stats
 *   5. data_api         HTTP server
 *   6. status_reporter  find the master, register, report to Kafka
 *   7. scrubber         verify chunk CRCs slowly in the background
 * Once the reporter's first try is over (registered, or the master does not
 * answer; at most FIRST_REGISTER_WAIT_MS), DATA/worker.addr is written.
 * then wait for SIGTERM/SIGINT (signals are blocked in every thread and
 * taken with sigwait here) and stop cleanly with exit status 0.
 * State: one struct worker on main's stack; modules get what they need
 * from it and never reach back into it. The list of masters is the one
 * thing two modules share (reporter and scrubber call the current master
 * of it; master_list.h keeps that index thread-safe). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "chunk_store.h"
#include "config.h"
#include "data_api.h"
#include "ids.h"
#include "kafka_opts.h"
#include "load_stats.h"
#include "local_reads.h"
#include "log.h"
#include "master_list.h"
#include "replicator.h"
#include "scrubber.h"
#include "status_reporter.h"
#include "token.h"
#include "transport_config.h"
#include "worker_identity.h"

#define DEFAULT_LISTEN "0.0.0.0:9500"
#define FIRST_REGISTER_WAIT_MS 5000

struct worker {
	struct config *cfg;
	struct master_list *masters; /* --master: one, or the list of masters */
	const char *data_dir;
	const char *listen;
	char advertise[300];
	char worker_id[WORKER_ID_STRLEN + 1];
	struct secret secret;
	uint64_t capacity;           /* 0: from the file system */
	int64_t status_interval_ms;  /* 0: from the master */
	int64_t scrub_rate;          /* bytes/s, 0: no scrubbing */
	int64_t scrub_delay_s;
	int lock_fd;
	struct kafka_opts kafka_opts;

	struct chunk_store *store;
	struct load_stats *stats;
	struct replicator *replicator;
	struct data_api *api;
	struct local_reads *local;
	struct status_reporter *reporter;
	struct scrubber *scrubber;
};

static const char *const known_keys[] = {
	"master", "data", "listen", "advertise", "secret", "capacity",
	"status-interval-ms", "scrub-rate", "scrub-first-delay-s", "direct-io", "local-reads",
	"config",
	"log-level", "help", KAFKA_OPTS_KEY, TRANSPORT_CONFIG_KEYS, NULL,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bigfs-worker --master HOST:PORT[,HOST:PORT...] --data DIR [options]\n"
		"  --master HOST:PORT        the master (http://HOST:PORT also accepted); with\n"
		"                            standby masters all of them, HOST1:PORT,HOST2:PORT:\n"
		"                            the worker registers with whichever is active\n"
		"  --data DIR                data folder (chunks, worker id, secret)\n"
		"  --listen HOST:PORT        where to serve (default %s; port 0 = any)\n"
		"  --advertise HOST:PORT     address given to the master (default: the\n"
		"                            listen address, 0.0.0.0 -> 127.0.0.1)\n"
		"  --secret FILE             cluster secret (default DIR/secret)\n"
		"  --capacity BYTES          capacity to offer (k/m/g/t suffixes; default:\n"
		"                            the size of DIR's file system)\n"
		"  --status-interval-ms MS   status report period (default: the master's, 2000)\n"
		"  --scrub-rate BYTES        background CRC check, bytes/s, a chunk counting as\n"
		"                            256 KiB at least (default 16m; 0 = off)\n"
		"  --scrub-first-delay-s S   seconds before the first scrub pass (default 60)\n"
		"  --direct-io BOOL          long aligned writes bypass the page cache\n"
		"                            (O_DIRECT; default true, off by itself where\n"
		"                            the file system refuses it)\n"
		"  --local-reads BOOL        hand mounts on this machine the descriptors of\n"
		"                            chunk files they may read (default true)\n"
		"  --tls-cert FILE --tls-key FILE\n"
		"                            serve https only (PEM certificate and key);\n"
		"                            calls to the master and peers use https too\n"
		"  --tls-ca FILE             CA that verifies the master and peers (default:\n"
		"                            the system's). A cluster is all TLS or none\n"
		"  --kafka-opt KEY=VALUE     librdkafka setting for the status producer,\n"
		"                            repeatable (a real Kafka's TLS/SASL, e.g.\n"
		"                            security.protocol=SSL); not for the embedded broker\n"
		"  --http-idle-timeout S     close idle connections (default 30)\n"
		"  --http-request-timeout S  a request's headers, then its body, must arrive\n"
		"                            within S seconds each (default 60)\n"
		"  --http-per-ip-limit N     connections from one address (default 512)\n"
		"  --http-max-connections N  connections in all (default 4000)\n"
		"  --config FILE             key = value file with the same keys\n"
		"  --log-level LEVEL         error, warning, info (default), debug\n",
		DEFAULT_LISTEN);
}

/* Step 1: flags, config file, logging. */
static int worker_configure(struct worker *w, int argc, char **argv)
{
	const char *file, *level, *master;
	int lvl;

	w->cfg = config_new();
	if (!w->cfg)
		return -ENOMEM;
	config_set_repeatable(w->cfg, KAFKA_OPTS_KEY);
	if (config_parse_args(w->cfg, argc, argv, NULL, 0, NULL) < 0) {
		usage(stderr);
		return -EINVAL;
	}
	if (config_get_bool(w->cfg, "help", false)) {
		usage(stdout);
		exit(0);
	}
	file = config_get_str(w->cfg, "config", NULL);
	if (file && config_load_file(w->cfg, file) < 0)
		return -EINVAL;
	if (config_check_known(w->cfg, known_keys) > 0) {
		usage(stderr);
		return -EINVAL;
	}
	level = config_get_str(w->cfg, "log-level", "info");
	lvl = log_level_parse(level);
	if (lvl < 0) {
		fprintf(stderr, "unknown log level '%s' (error, warning, info, debug)\n", level);
		return -EINVAL;
	}
	log_init("bigfs-worker", true, lvl);
	char why[512];
	if (transport_config_load(w->cfg, why, sizeof(why)) < 0 ||
	    kafka_opts_load(w->cfg, &w->kafka_opts, why, sizeof(why)) < 0) {
		fprintf(stderr, "bigfs-worker: %s\n", why);
		return -EINVAL;
	}

	master = config_get_str(w->cfg, "master", NULL);
	w->data_dir = config_get_str(w->cfg, "data", NULL);
	w->listen = config_get_str(w->cfg, "listen", DEFAULT_LISTEN);
	if (!master || !w->data_dir) {
		fprintf(stderr, "bigfs-worker: --master and --data are required\n");
		usage(stderr);
		return -EINVAL;
	}
	if (master_list_parse(master, &w->masters, why, sizeof(why)) < 0) {
		fprintf(stderr, "bigfs-worker: bad --master '%s': %s\n", master, why);
		return -EINVAL;
	}
	if (master_list_https(w->masters) && !transport_tls()) {
		fprintf(stderr, "bigfs-worker: --master '%s' is https://, but this worker has no "
				"TLS (--tls-cert, --tls-key, --tls-ca)\n", master);
		return -EINVAL;
	}
	if (config_get_int(w->cfg, "capacity", 0, 0, INT64_MAX, (int64_t *)&w->capacity) < 0 ||
	    config_get_int(w->cfg, "status-interval-ms", 0, 0, 3600000,
			   &w->status_interval_ms) < 0 ||
	    config_get_int(w->cfg, "scrub-rate", 16 << 20, 0, INT64_MAX, &w->scrub_rate) < 0 ||
	    config_get_int(w->cfg, "scrub-first-delay-s", 60, 0, 86400, &w->scrub_delay_s) < 0)
		return -EINVAL;
	if (w->status_interval_ms != 0 && w->status_interval_ms < 100) {
		fprintf(stderr, "bigfs-worker: --status-interval-ms must be at least 100\n");
		return -EINVAL;
	}
	return 0;
}

/* Step 2: the data folder and what it holds about this worker. */
static int worker_open_data(struct worker *w)
{
	char path[PATH_MAX];
	const char *secret;
	int r;

	r = worker_identity_lock(w->data_dir, &w->lock_fd);
	if (r < 0)
		return r;
	r = worker_identity_load(w->data_dir, w->worker_id);
	if (r < 0)
		return r;
	secret = config_get_str(w->cfg, "secret", NULL);
	if (!secret) {
		snprintf(path, sizeof(path), "%s/secret", w->data_dir);
		secret = path;
	}
	r = secret_load(secret, &w->secret);
	if (r < 0) {
		log_err("cannot read the cluster secret %s: %s%s", secret,
			r == -EINVAL ? "it holds fewer than 32 bytes" : strerror(-r),
			" (use the master's secret file: --secret FILE, or copy it to DIR/secret)");
		return r;
	}
	return 0;
}

/* The address the master should use: the listen address, with a wildcard
 * host made 127.0.0.1 and port 0 made the real port. */
static int worker_advertise(struct worker *w, uint16_t port)
{
	const char *adv = config_get_str(w->cfg, "advertise", NULL);
	const char *src = adv ? adv : w->listen;
	const char *colon = strrchr(src, ':');
	char host[256];
	size_t hlen;

	if (!colon || (size_t)(colon - src) >= sizeof(host)) {
		log_err("bad address '%s' (want HOST:PORT)", src);
		return -EINVAL;
	}
	hlen = (size_t)(colon - src);
	memcpy(host, src, hlen);
	host[hlen] = '\0';
	if (!adv && (hlen == 0 || !strcmp(host, "0.0.0.0") || !strcmp(host, "*")))
		strcpy(host, "127.0.0.1");
	if (hlen == 0 && adv) {
		log_err("--advertise needs a host: '%s'", adv);
		return -EINVAL;
	}
	if (!strcmp(colon + 1, "0") || !adv)
		snprintf(w->advertise, sizeof(w->advertise), "%s:%u", host, (unsigned)port);
	else
		snprintf(w->advertise, sizeof(w->advertise), "%s:%s", host, colon + 1);
	if (replicator_check_addr(w->advertise) < 0) {
		log_err("bad advertised address '%s' (want HOST:PORT)", w->advertise);
		return -EINVAL;
	}
	return 0;
}

/* Steps 3-6. */
static int worker_start(struct worker *w)
{
	struct data_api_config api_cfg;
	struct status_reporter_config sr_cfg;
	uint64_t chunks, bytes;
	int r;

	r = chunk_store_open(w->data_dir, w->capacity, &w->store);
	if (r == 0)
		chunk_store_set_direct_io(w->store, config_get_bool(w->cfg, "direct-io", true));
	if (r < 0)
		return r;
	chunk_store_usage(w->store, &chunks, &bytes);
	log_info("worker %s: %" PRIu64 " chunks (%" PRIu64 " bytes) in %s", w->worker_id, chunks,
		 bytes, w->data_dir);

	w->stats = load_stats_new();
	if (!w->stats)
		return -ENOMEM;
	r = replicator_new(w->store, w->stats, &w->replicator);
	if (r < 0)
		return r;

	worker_identity_remove_addr(w->data_dir);
	api_cfg = (struct data_api_config){
		.listen = w->listen,
		.worker_id = w->worker_id,
		.secret = &w->secret,
		.store = w->store,
		.replicator = w->replicator,
		.stats = w->stats,
	};
	r = data_api_start(&api_cfg, &w->api);
	if (r < 0) {
		log_err("cannot listen on %s: %s", w->listen, strerror(-r));
		return r;
	}
	r = worker_advertise(w, data_api_port(w->api));
	if (r < 0)
		return r;
	log_info("serving on %s (port %u), advertised as %s", w->listen,
		 (unsigned)data_api_port(w->api), w->advertise);

	if (config_get_bool(w->cfg, "local-reads", true)) {
		struct local_reads_config lr_cfg = {
			.worker_id = w->worker_id, .secret = &w->secret, .store = w->store,
			.stats = w->stats,
		};

		r = local_reads_start(&lr_cfg, &w->local);
		if (r < 0)
			log_warn("no local reads: cannot listen on the local socket: %s",
				 strerror(-r));
	}

	sr_cfg = (struct status_reporter_config){
		.masters = w->masters,
		.secret = &w->secret,
		.worker_id = w->worker_id,
		.addr = w->advertise,
		.kafka_opts = &w->kafka_opts,
		.interval_ms = w->status_interval_ms,
		.store = w->store,
		.stats = w->stats,
	};
	r = status_reporter_start(&sr_cfg, &w->reporter);
	if (r < 0)
		return r;
	if (w->scrub_rate > 0) {
		struct scrubber_config sc_cfg = {
			.masters = w->masters,
			.secret = &w->secret,
			.worker_id = w->worker_id,
			.store = w->store,
			.rate = (uint64_t)w->scrub_rate,
			.first_delay_s = w->scrub_delay_s,
			.stats = w->stats,
		};

		r = scrubber_start(&sc_cfg, &w->scrubber);
		if (r < 0)
			return r;
	}
	/* When the master is up, be registered before telling anyone where we
	 * are; when it is not, do not wait for it. */
	status_reporter_wait_first(w->reporter, FIRST_REGISTER_WAIT_MS);
	r = worker_identity_write_addr(w->data_dir, w->advertise);
	if (r < 0)
		log_err("cannot write %s/worker.addr: %s", w->data_dir, strerror(-r));
	return r;
}

static void worker_stop(struct worker *w)
{
	scrubber_stop(w->scrubber);
	status_reporter_stop(w->reporter);
	local_reads_stop(w->local);
	data_api_stop(w->api);
	if (w->api)
		worker_identity_remove_addr(w->data_dir);
	replicator_free(w->replicator);
	load_stats_free(w->stats);
	chunk_store_close(w->store);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	master_list_free(w->masters);
	config_free(w->cfg);
}

/* Block the stop signals in every thread (they inherit the mask) so that
 * only sigwait() below takes them. */
static void worker_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The chunk store keeps up to half of the descriptors it may open on
 * recently used chunk files (chunk_store.c): take what the hard limit
 * allows, up to 65536, instead of the usual soft 1024. */
static void worker_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= 65536)
		return;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open-file limit to %llu: %s",
				 (unsigned long long)want, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct worker w = { .lock_fd = -1 };
	sigset_t set;
	int r, sig = 0;

	worker_block_signals(&set);
	/* Request bodies of up to 8 MiB come and go all the time: the HTTP
	 * server keeps a few for reuse (common/http_server.c), so they are
	 * not faulted in and zeroed for every request; the others are mapped
	 * and unmapped, so they never pile up in malloc's heap (peak RSS
	 * 126-166 MiB through the bench workload with a heap that kept
	 * them). */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	log_init("bigfs-worker", true, LOG_INFO);
	worker_raise_nofile();
	r = worker_configure(&w, argc, argv);
	if (r == 0)
		r = worker_open_data(&w);
	if (r == 0)
		r = worker_start(&w);
	if (r < 0) {
		log_err("bigfs-worker: cannot start: %s", strerror(-r));
		worker_stop(&w);
		return 1;
	}
	while (sigwait(&set, &sig) != 0)
		;
	log_info("signal %d: stopping", sig);
	worker_stop(&w);
	log_info("stopped");
	return 0;
}
