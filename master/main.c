/* bigfs-master — entry point.
 *
 * main() is the list of steps: read the configuration, open the metadata
 * store, create the worker registry, chunk map and namespace, start Kafka
 * (embedded broker or real brokers), the repair thread and the HTTP API,
 * announce the address in DATA/master.addr, wait for SIGTERM/SIGINT, then
 * stop everything in reverse order (closing SQLite cleanly). Signals are
 * blocked in every thread and taken synchronously with sigwait(). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_sessions.h"
#include "chunk_map.h"
#include "exports.h"
#include "config.h"
#include "drain.h"
#include "http_api.h"
#include "kafka_opts.h"
#include "kafka_status.h"
#include "log.h"
#include "master.h"
#include "dir_lease.h"
#include "inval_log.h"
#include "meta_store.h"
#include "metalog.h"
#include "namespace.h"
#include "locks.h"
#include "repair.h"
#include "session.h"
#include "transport_config.h"
#include "worker_registry.h"

struct options {
	const char *data;
	const char *listen;
	const char *kafka;
	const char *secret;
	char secret_buf[4096];
	const char *exports;
	int64_t worker_timeout_s;
	int64_t default_goal;
	int64_t lease_ms;
	int64_t status_interval_ms;
	int64_t repair_parallel;
	int64_t session_timeout_s;
	int64_t lock_grace_s;
	int64_t unlink_grace_ms;
	int64_t rebalance_margin;    /* percent of capacity */
	int64_t rebalance_mbps;      /* MiB/s, 0 = off */
	int64_t drain_mbps;          /* MiB/s, 0 = no limit */
	int log_level;
	struct kafka_opts kafka_opts;
	/* several masters (metalog.h) */
	const char *id;
	const char *advertise;
	char advertise_buf[300];
	bool standby;
	bool metalog;
	int64_t failover_ms;
	int64_t checkpoint_s;
	int64_t checkpoint_mb;
	const char *restore;
};

static const char *const known_keys[] = {
	"data", "listen", "kafka", "worker-timeout", "default-goal", "secret",
	"lease-ms", "config", "log-level", "status-interval-ms", "repair-parallel",
	"session-timeout", "lock-grace", "unlink-grace-ms", "exports", "help",
	"id", "advertise", "standby", "metalog", "failover-ms", "checkpoint-s", "checkpoint-mb", "restore",
	"rebalance-margin", "rebalance-mbps", "drain-mbps",
	KAFKA_OPTS_KEY, TRANSPORT_CONFIG_KEYS, NULL,
};

static void usage(void)
{
	fputs("usage: bigfs-master --data DIR [--listen HOST:PORT] [--kafka BROKERS]\n"
	      "         [--worker-timeout SECONDS] [--default-goal N] [--secret FILE]\n"
	      "         [--lease-ms MS] [--status-interval-ms MS] [--repair-parallel N]\n"
	      "         [--session-timeout SECONDS] [--lock-grace SECONDS]\n"
	      "         [--unlink-grace-ms MS] [--exports FILE]\n"
	      "         [--rebalance-margin PERCENT] [--rebalance-mbps MIB_PER_S]\n"
	      "         [--drain-mbps MIB_PER_S]\n"
	      "         [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]\n"
	      "         [--kafka-opt KEY=VALUE]... [--http-idle-timeout S]\n"
	      "         [--http-request-timeout S] [--http-per-ip-limit N]\n"
	      "         [--http-max-connections N]\n"
	      "         [--metalog auto|on|off] [--id NAME] [--advertise HOST:PORT]\n"
	      "         [--standby] [--failover-ms MS] [--checkpoint-s S] [--checkpoint-mb M]\n"
	      "         [--restore FILE]\n"
	      "         [--config FILE] [--log-level error|warning|info|debug]\n"
	      "Runs in the foreground; writes DIR/master.addr once listening.\n"
	      "--rebalance-margin: chunks move from the fullest worker to the emptiest\n"
	      "while their usage differs by more than this share of capacity (10);\n"
	      "--rebalance-mbps: at most this many MiB/s (32; 0 turns rebalancing off).\n"
	      "--drain-mbps: chunks move off draining workers at most this fast (64;\n"
	      "0: no limit but four chunks at a time).\n"
	      "--exports FILE: who may mount what (docs/exports.md), re-read on SIGHUP;\n"
	      "without it every client may mount everything read-write.\n"
	      "--tls-cert/--tls-key: serve https only (PEM); --tls-ca: the CA that\n"
	      "verifies the workers it calls (default: the system's). A cluster is all\n"
	      "TLS or none. --kafka-opt: librdkafka settings for a real Kafka (e.g.\n"
	      "security.protocol=SSL); the embedded broker ignores them.\n"
	      "Several masters (docs/metalog.md): with --kafka the master keeps its\n"
	      "metadata log on Kafka (--metalog auto; on/off to force) and any number\n"
	      "of masters may run against it: one leads, the others follow as hot\n"
	      "standbys and take over after --failover-ms (5000) of silence. --id names\n"
	      "this master (default: HOST:PORT it advertises); --advertise is where\n"
	      "clients are sent; --standby never leads a new cluster first. The leader\n"
	      "writes a checkpoint every --checkpoint-s (600) or --checkpoint-mb (64) of\n"
	      "log, whichever comes first: keep Kafka's retention of bigfs.metalog above.\n"
	      "--restore FILE: start from a metadata dump (bigfs metadata dump) instead\n"
	      "of DIR/meta.db, which it replaces; with a metadata log, only into an\n"
	      "empty log (a log with a history is newer than any dump).\n", stderr);
}

static int read_options(int argc, char **argv, struct config *cfg, struct options *o)
{
	int npos = 0, rc;

	config_set_repeatable(cfg, KAFKA_OPTS_KEY);
	rc = config_parse_args(cfg, argc, argv, NULL, 0, &npos);
	if (rc < 0)
		return rc;
	if (config_get_bool(cfg, "help", false)) {
		usage();
		exit(0);
	}
	const char *file = config_get_str(cfg, "config", NULL);
	if (file && (rc = config_load_file(cfg, file)) < 0)
		return rc;
	if (config_check_known(cfg, known_keys) > 0)
		return -EINVAL;
	o->data = config_get_str(cfg, "data", NULL);
	if (!o->data || !*o->data) {
		fputs("bigfs-master: --data DIR is required\n", stderr);
		return -EINVAL;
	}
	char why[512];
	if (transport_config_load(cfg, why, sizeof(why)) < 0 ||
	    kafka_opts_load(cfg, &o->kafka_opts, why, sizeof(why)) < 0) {
		fprintf(stderr, "bigfs-master: %s\n", why);
		return -EINVAL;
	}
	o->listen = config_get_str(cfg, "listen", "127.0.0.1:9400");
	o->kafka = config_get_str(cfg, "kafka", NULL);
	o->exports = config_get_str(cfg, "exports", NULL);
	o->secret = config_get_str(cfg, "secret", NULL);
	if (!o->secret) {
		snprintf(o->secret_buf, sizeof(o->secret_buf), "%s/secret", o->data);
		o->secret = o->secret_buf;
	}
	const char *lvl = config_get_str(cfg, "log-level", "info");
	o->log_level = log_level_parse(lvl);
	if (o->log_level < 0) {
		fprintf(stderr, "bigfs-master: unknown log level '%s'\n", lvl);
		return -EINVAL;
	}
	if (config_get_int(cfg, "worker-timeout", 10, 1, 86400, &o->worker_timeout_s) < 0 ||
	    config_get_int(cfg, "default-goal", 2, 1, 16, &o->default_goal) < 0 ||
	    config_get_int(cfg, "lease-ms", 60000, 100, 86400000, &o->lease_ms) < 0 ||
	    config_get_int(cfg, "status-interval-ms", 2000, 100, 600000,
			   &o->status_interval_ms) < 0 ||
	    config_get_int(cfg, "repair-parallel", 4, 1, 64, &o->repair_parallel) < 0 ||
	    config_get_int(cfg, "session-timeout", 15, 1, 86400, &o->session_timeout_s) < 0 ||
	    config_get_int(cfg, "lock-grace", o->session_timeout_s, 0, 86400,
			   &o->lock_grace_s) < 0 ||
	    config_get_int(cfg, "unlink-grace-ms", SESS_UNLINK_GRACE_MS, 0, 3600000,
			   &o->unlink_grace_ms) < 0 ||
	    config_get_int(cfg, "failover-ms", 5000, 500, 600000, &o->failover_ms) < 0 ||
	    config_get_int(cfg, "checkpoint-s", 600, 1, 86400 * 7, &o->checkpoint_s) < 0 ||
	    config_get_int(cfg, "checkpoint-mb", 64, 1, 1 << 20, &o->checkpoint_mb) < 0 ||
	    config_get_int(cfg, "rebalance-margin", 10, 1, 99, &o->rebalance_margin) < 0 ||
	    config_get_int(cfg, "rebalance-mbps", 32, 0, 1 << 20, &o->rebalance_mbps) < 0 ||
	    config_get_int(cfg, "drain-mbps", 64, 0, 1 << 20, &o->drain_mbps) < 0)
		return -EINVAL;
	const char *mode = config_get_str(cfg, "metalog", "auto");
	if (strcmp(mode, "on") == 0) {
		o->metalog = true;
	} else if (strcmp(mode, "auto") == 0) {
		o->metalog = o->kafka && *o->kafka;
	} else if (strcmp(mode, "off") != 0) {
		fprintf(stderr, "bigfs-master: --metalog is auto, on or off, not '%s'\n", mode);
		return -EINVAL;
	}
	if (o->metalog && !(o->kafka && *o->kafka)) {
		fputs("bigfs-master: the metadata log needs a Kafka that outlives the master: "
		      "--kafka BROKERS (a real Kafka, or scripts/local-cluster's development "
		      "broker)\n", stderr);
		return -EINVAL;
	}
	o->standby = config_get_bool(cfg, "standby", false);
	o->restore = config_get_str(cfg, "restore", NULL);
	o->advertise = config_get_str(cfg, "advertise", NULL);
	if (!o->advertise) {
		/* the listen address, a wildcard host made loopback */
		const char *colon = strrchr(o->listen, ':');
		int hl = colon ? (int)(colon - o->listen) : 0;
		if (hl == 0 || (hl == 7 && strncmp(o->listen, "0.0.0.0", 7) == 0))
			snprintf(o->advertise_buf, sizeof(o->advertise_buf), "127.0.0.1%s",
				 colon ? colon : ":9400");
		else
			snprintf(o->advertise_buf, sizeof(o->advertise_buf), "%s", o->listen);
		o->advertise = o->advertise_buf;
	}
	o->id = config_get_str(cfg, "id", o->advertise);
	if (strlen(o->id) > ML_ID_MAX || strlen(o->advertise) > ML_URL_MAX || !*o->id) {
		fputs("bigfs-master: --id or --advertise is empty or too long\n", stderr);
		return -EINVAL;
	}
	return 0;
}

static int prepare_data_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_err("cannot create data folder %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("data folder %s is not a folder", dir);
		return -ENOTDIR;
	}
	return 0;
}

/* DIR/master.addr = "HOST:PORT\n", written atomically. */
static int write_addr_file(const char *dir, const char *listen, uint16_t port)
{
	char host[256], path[4096], tmp[4200];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : 0;

	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(path, sizeof(path), "%s/master.addr", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s:%u\n", host, port);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

/* The exports file, or the built-in "everyone, everything" without one. */
static int load_exports(const char *path, struct asess **ret)
{
	struct exports *ex = NULL;
	char err[512];
	int rc;

	if (!path) {
		log_warn("no --exports file: every client that reaches this master may mount "
			 "everything read-write (docs/exports.md)");
	} else if ((rc = exports_load(path, &ex, err, sizeof(err))) < 0) {
		log_err("cannot use the exports file: %s", err);
		return rc;
	} else {
		log_info("exports: %zu rules from %s", exports_count(ex), path);
	}
	rc = asess_new(ex, ret);
	if (rc < 0)
		log_err("cannot set up sessions: %s", strerror(-rc));
	return rc;
}

/* SIGHUP: read the exports file again; a file with an error changes
 * nothing. */
static void reload_exports(const char *path, struct asess *as)
{
	struct exports *ex;
	char err[512];

	if (!path) {
		log_info("SIGHUP: no --exports file to read again");
		return;
	}
	if (exports_load(path, &ex, err, sizeof(err)) < 0) {
		log_err("SIGHUP: the exports file is refused, the rules in force stay: %s", err);
		return;
	}
	asess_set_exports(as, ex);
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --restore FILE: FILE (an image of a master's database) becomes db, with
 * no place in any metadata log. 0 or -errno, logged. */
static int restore_dump(const char *file, const char *db, uint32_t goal)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		log_err("--restore: cannot open %s: %s", file, strerror(errno));
		return -errno;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc = 0;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc == 0 && (len < 100 || memcmp(buf, "SQLite format 3", 16) != 0)) {
		log_err("--restore: %s is not a metadata dump (not an SQLite database)", file);
		rc = -EINVAL;
	}
	if (rc == 0 && (rc = meta_replace_file(db, buf, len)) < 0)
		log_err("--restore: cannot write %s: %s", db, strerror(-rc));
	free(buf);
	if (rc < 0)
		return rc;
	struct meta_store *ms;
	if ((rc = meta_open(db, goal, &ms)) < 0) {
		log_err("--restore: %s does not open as a metadata database", file);
		return rc;
	}
	if ((rc = meta_txn_begin(ms, true)) == 0)
		rc = meta_txn_end(ms, meta_state_put(ms, "", 0));
	meta_close(ms);
	if (rc == 0)
		log_info("--restore: %s is now %s (%zu bytes)", file, db, len);
	return rc;
}

/* The metalog lost the lead: main() stops and starts again as a standby. */
static void on_lost(void *arg)
{
	(void)arg;
	kill(getpid(), SIGUSR1);
}

/* Wait for a signal, at most ms; the signal or 0. */
static int wait_signal(const sigset_t *sigs, int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	int sig = sigtimedwait(sigs, NULL, &ts);
	return sig > 0 ? sig : 0;
}

/* Everything that reads the store into memory, once this master may
 * change it. restart: the store existed before. */
static int start_modules(struct master *m, const struct options *o, bool restart)
{
	int rc;
	if ((rc = wreg_new(o->worker_timeout_s * 1000, &m->reg)) < 0 ||
	    (rc = cm_new(m->ms, m->reg, &m->secret, o->lease_ms, &m->cm)) < 0 ||
	    (rc = cm_load_workers(m->cm)) < 0 || (rc = ns_new(m->ms, m->cm, &m->ns)) < 0) {
		log_err("cannot set up the chunk map: %s", strerror(-rc));
		return rc;
	}
	if ((rc = dlease_new(&m->dl)) < 0) {
		log_err("cannot set up folder leases: %s", strerror(-rc));
		return rc;
	}
	if ((rc = inval_log_new(INVAL_LOG_CAP_DEFAULT, &m->il)) < 0) {
		log_err("cannot set up the change log: %s", strerror(-rc));
		return rc;
	}
	inval_log_sole_restarted(m->il, restart);
	ns_set_change_hook(m->ns, inval_log_ns_hook, m->il);
	if ((rc = locks_new(&m->locks)) < 0 ||
	    (rc = sess_new(m->ns, m->cm, m->locks, o->session_timeout_s * 1000, &m->sess)) < 0) {
		log_err("cannot set up client sessions: %s", strerror(-rc));
		return rc;
	}
	sess_set_unlink_grace(m->sess, o->unlink_grace_ms);
	if ((rc = sess_start(m->sess)) < 0) {
		log_err("cannot set up client sessions: %s", strerror(-rc));
		return rc;
	}
	/* Mounts that held locks before this start declare them again within
	 * a heartbeat; until the grace period ends nobody else gets a lock.
	 * A new cluster (no database yet) had no locks. */
	if (restart && o->lock_grace_s > 0) {
		int64_t grace = o->lock_grace_s * 1000;
		/* a master taking over from another: every mount finds it within
		 * a heartbeat of its start (the old one is gone or answers 503)
		 * and declares its locks again at once */
		if (m->ml && grace > 2 * sess_heartbeat_ms(m->sess))
			grace = 2 * sess_heartbeat_ms(m->sess);
		locks_set_grace(m->locks, grace);
		log_info("lock grace period: %lld ms (only locks declared again are granted)",
			 (long long)grace);
	}
	if ((rc = kstatus_start(o->kafka, &o->kafka_opts, m->reg, &m->ks)) < 0) {
		log_err("cannot start Kafka (%s): %s", o->kafka ? o->kafka : "embedded broker",
			strerror(-rc));
		return rc;
	}
	kstatus_set_secret(m->ks, &m->secret);
	if ((rc = repair_start(m->cm, m->reg, m->ks, &m->secret, (int)o->repair_parallel,
			       &m->rep)) < 0) {
		log_err("cannot start the repair thread: %s", strerror(-rc));
		return rc;
	}
	struct drain_config dc = {
		.ms = m->ms, .cm = m->cm, .reg = m->reg, .ks = m->ks, .rep = m->rep,
		.secret = &m->secret, .default_goal = m->default_goal,
		.rebalance_margin = (double)o->rebalance_margin / 100.0,
		.rebalance_bps = (uint64_t)o->rebalance_mbps << 20,
		.drain_bps = (uint64_t)o->drain_mbps << 20,
	};
	if ((rc = drain_start(&dc, &m->drain)) < 0)
		return rc;
	return 0;
}

/* In reverse; each step is a no-op for a module never started. */
static void stop_modules(struct master *m)
{
	atomic_store(&m->ready, false);
	drain_stop(m->drain);
	m->drain = NULL;
	repair_stop(m->rep);
	m->rep = NULL;
	kstatus_stop(m->ks);
	m->ks = NULL;
	sess_free(m->sess);
	m->sess = NULL;
	locks_free(m->locks);
	m->locks = NULL;
	dlease_free(m->dl);
	m->dl = NULL;
	if (m->ns)
		ns_set_change_hook(m->ns, NULL, NULL);
	inval_log_free(m->il);
	m->il = NULL;
	ns_free(m->ns);
	m->ns = NULL;
	cm_free(m->cm);
	m->cm = NULL;
	wreg_free(m->reg);
	m->reg = NULL;
}

int main(int argc, char **argv)
{
	struct master m;
	struct options o;
	struct config *cfg = config_new();
	struct http_api *api = NULL;
	sigset_t sigs;
	int sig = 0, rc, status = 1;
	bool again = false;

	memset(&m, 0, sizeof(m));
	memset(&o, 0, sizeof(o));
	if (!cfg)
		return 1;
	log_init("bigfs-master", true, LOG_INFO);
	if (read_options(argc, argv, cfg, &o) < 0) {
		usage();
		goto out_cfg;
	}
	log_init("bigfs-master", true, o.log_level);
	block_signals(&sigs);
	m.data_dir = o.data;
	m.default_goal = (uint32_t)o.default_goal;
	m.status_interval_ms = o.status_interval_ms;

	if (prepare_data_dir(o.data) < 0)
		goto out_cfg;
	rc = secret_load_or_create(o.secret, &m.secret);
	if (rc < 0) {
		log_err("cannot load or create the cluster secret %s: %s", o.secret,
			strerror(-rc));
		goto out_cfg;
	}
	char db[4200];
	snprintf(db, sizeof(db), "%s/meta.db", o.data);
	struct stat db_st;
	bool restart = stat(db, &db_st) == 0;
	if (o.restore && restore_dump(o.restore, db, m.default_goal) < 0)
		goto out_cfg;
	if (o.metalog) {
		struct metalog_config mc = {
			.brokers = o.kafka, .kopts = &o.kafka_opts, .id = o.id,
			.url = o.advertise, .db_path = db, .default_goal = m.default_goal,
			.failover_ms = o.failover_ms, .checkpoint_ms = o.checkpoint_s * 1000,
			.checkpoint_bytes = (uint64_t)o.checkpoint_mb << 20,
			.standby = o.standby, .secret = &m.secret, .on_lost = on_lost,
			.restored = o.restore != NULL,
		};
		if ((rc = metalog_start(&mc, &m.ml)) < 0) {
			log_err("cannot start the metadata log at %s: %s", o.kafka, strerror(-rc));
			goto out_cfg;
		}
	} else if ((rc = meta_open(db, m.default_goal, &m.ms)) < 0) {
		log_err("cannot open the metadata database %s: %s", db, strerror(-rc));
		goto out_cfg;
	}
	if ((rc = load_exports(o.exports, &m.auth)) < 0)
		goto out_store;
	/* one master: everything up before it listens; several: it listens as
	 * a standby at once and starts the modules when it leads */
	if (!m.ml) {
		if (start_modules(&m, &o, restart) < 0)
			goto out_modules;
		atomic_store(&m.ready, true);
	}
	if ((rc = http_api_start(&m, o.listen, &api)) < 0) {
		log_err("cannot listen on %s: %s", o.listen, strerror(-rc));
		goto out_modules;
	}
	if ((rc = write_addr_file(o.data, o.listen, http_api_port(api))) < 0) {
		log_err("cannot write %s/master.addr: %s", o.data, strerror(-rc));
		goto out_modules;
	}
	if (m.ml) {
		log_info("master %s listening on port %u (%s) as a standby until it leads", o.id,
			 http_api_port(api), transport_scheme());
		/* a standby: follow the log until this master leads */
		while ((rc = strcmp(metalog_role(m.ml), "active")) != 0) {
			const char *role = metalog_role(m.ml);
			if (strcmp(role, "failed") == 0)
				goto out_modules;
			if (strcmp(role, "stopped") == 0 || strcmp(role, "fenced") == 0)
				break;
			sig = wait_signal(&sigs, 100);
			if (sig == SIGHUP)
				reload_exports(o.exports, m.auth);
			else if (sig)
				break;
		}
		if (sig || rc != 0 || metalog_wait_leader(m.ml, &m.ms) < 0) {
			again = sig == SIGUSR1;
			goto out_stopping;
		}
		if (start_modules(&m, &o, true) < 0)
			goto out_modules;
		atomic_store(&m.ready, true);
	}
	log_info("master listening on port %u (%s), data in %s, Kafka at %s%s",
		 http_api_port(api), transport_scheme(), o.data, kstatus_bootstrap(m.ks),
		 m.ml ? ", leading" : "");

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reload_exports(o.exports, m.auth);
	}
	again = sig == SIGUSR1;
out_stopping:
	if (again)
		log_warn("this master lost the lead: starting again as a standby");
	else
		log_info("signal %d: stopping", sig);
	status = 0;
out_modules:
	atomic_store(&m.ready, false);
	if (m.il)
		inval_log_stop(m.il);     /* long polls return at once */
	http_api_stop(api);
	api = NULL;
	m.api = NULL;
	log_debug("HTTP server stopped");
	stop_modules(&m);
	log_debug("modules stopped");
out_store:
	asess_free(m.auth);
	m.auth = NULL;
	if (m.ml) {
		m.ms = metalog_store(m.ml);
		metalog_free(m.ml);
		m.ml = NULL;
	}
	meta_close(m.ms);
	log_debug("metadata closed");
out_cfg:
	config_free(cfg);
	if (again) {
		execv("/proc/self/exe", argv);
		log_err("cannot start again: %s", strerror(errno));
		return 1;
	}
	return status;
}
