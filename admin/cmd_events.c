/* cmd_events — `bigfs events [--follow] [--since DURATION]`: the
 * cluster's events, read from the Kafka topic bigfs.events.
 *
 * The master publishes what changes in the cluster there (docs/api.md
 * "Kafka": worker joined or lost, drains, repairs, corrupt replicas),
 * {"type", ..., "ts_ms"}. This command learns the brokers from the
 * master's cluster info (GET /v1/cluster/info, signed with the cluster
 * secret; the embedded broker of a lone master is on its loopback) and
 * reads every partition of the topic with a plain assignment — no
 * consumer group, nothing committed, so it never disturbs anyone.
 *
 * Without --follow it reads from the oldest event kept to the end of
 * every partition, prints them in time order and exits; --since keeps
 * only the last DURATION (by the events' own ts_ms). With --follow it
 * starts at the end (or at --since) and prints events as they come until
 * SIGINT or SIGTERM (exit 0). --json: one document {"events": [...]}, or
 * with --follow one JSON object per line (JSON Lines), flushed at once.
 *
 * State: one consumer and its log buffer, local to the command (the
 * buffer's lock because librdkafka logs from its threads); the signal
 * handler only sets a flag. */
#include "admin.h"

#include "kafka_opts.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "units.h"

#define EVENTS_TOPIC "bigfs.events"
#define READ_TIMEOUT_MS 15000     /* without --follow: the end of every partition by then */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

enum { O_FOLLOW = 'f', O_SINCE = 256, O_KOPT };

struct ev_opts {
	bool follow;
	bool has_since;
	uint64_t since_s;
	struct kafka_opts kopts;
};

static const struct option ev_options[] = {
	{"follow", no_argument, NULL, O_FOLLOW},
	{"since", required_argument, NULL, O_SINCE},
	{"kafka-opt", required_argument, NULL, O_KOPT},
	{NULL, 0, NULL, 0},
};

static int ev_opt(struct admin *a, int id, const char *arg, void *ctx)
{
	struct ev_opts *o = ctx;
	switch (id) {
	case O_FOLLOW:
		o->follow = true;
		return 0;
	case O_SINCE:
		if (units_parse_duration(arg, &o->since_s) < 0) {
			admin_usage(a, "--since: '%s' is not a duration (30s, 15m, 2h, 7d)", arg);
			return -EINVAL;
		}
		o->has_since = true;
		return 0;
	case O_KOPT:
		if (o->kopts.n == KAFKA_OPTS_MAX || !strchr(arg, '=')) {
			admin_usage(a, "--kafka-opt: '%s' is not KEY=VALUE (or too many)", arg);
			return -EINVAL;
		}
		o->kopts.kv[o->kopts.n++] = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

/* librdkafka's own log lines are kept quiet (a broker that goes away is
 * reported by this command in one sentence); the last warning or error
 * is remembered for that sentence. librdkafka logs from its own threads:
 * `lock` guards `text`. */
struct kafka_log {
	pthread_mutex_t lock;
	char text[256];
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kafka_log *kl = rd_kafka_opaque(rk);
	(void)fac;
	if (level > 4 || !kl)
		return;
	pthread_mutex_lock(&kl->lock);
	snprintf(kl->text, sizeof(kl->text), "%s", buf);
	pthread_mutex_unlock(&kl->lock);
}

static rd_kafka_t *make_consumer(const char *brokers, const struct kafka_opts *kopts,
				 struct kafka_log *kl)
{
	char err[512], group[64];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	snprintf(group, sizeof(group), "bigfs-cli-%ld", (long)getpid());
	rd_kafka_conf_set_opaque(conf, kl);
	rd_kafka_conf_set_log_cb(conf, on_log);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "client.id", "bigfs-events", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) ||
	    kafka_opts_apply(conf, kopts, err, sizeof(err)) < 0) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "bigfs: events: bad Kafka setting: %s\n", err);
		return NULL;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fprintf(stderr, "bigfs: events: cannot make a Kafka consumer: %s\n", err);
	return rk;
}

/* Assign every partition of the topic at `offset`. Returns the number of
 * partitions (> 0), 0 if the topic does not exist (yet), or -errno (said
 * when fatal). */
static int assign_all(rd_kafka_t *rk, int64_t offset, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, EVENTS_TOPIC, NULL);
	int rc;

	if (!t)
		return -ENOMEM;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, timeout_ms);
	if (e) {
		rc = -ETIMEDOUT;
		goto out_free;
	}
	if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
		rc = 0;
		goto out_free;
	}
	int n = md->topics[0].partition_cnt;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, EVENTS_TOPIC, md->topics[0].partitions[i].id)
			->offset = offset;
	e = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		fprintf(stderr, "bigfs: events: cannot read %s: %s\n", EVENTS_TOPIC, rd_kafka_err2str(e));
		rc = -EIO;
		goto out_free;
	}
	rc = n;
out_free:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	return rc;
}

/* One event as a line: "2024-05-01 12:00:03.123  worker_joined  k=v ...". */
static void print_event(const json_t *ev)
{
	uint64_t ts = admin_u64(ev, "ts_ms", 0);
	time_t s = (time_t)(ts / 1000);
	char when[32];
	struct tm tm;
	const char *key;
	json_t *v;

	if (!localtime_r(&s, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	printf("%s.%03u  %-20s", when, (unsigned)(ts % 1000), admin_str(ev, "type", "?"));
	json_object_foreach((json_t *)ev, key, v) {
		if (strcmp(key, "type") == 0 || strcmp(key, "ts_ms") == 0)
			continue;
		if (json_is_string(v)) {
			printf("  %s=%s", key, json_string_value(v));
		} else {
			char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("  %s=%s", key, txt ? txt : "?");
			free(txt);
		}
	}
	putchar('\n');
}

static int cmp_ts(const void *x, const void *y)
{
	uint64_t a = admin_u64(*(json_t *const *)x, "ts_ms", 0);
	uint64_t b = admin_u64(*(json_t *const *)y, "ts_ms", 0);
	return a < b ? -1 : a > b;
}

/* Read until every partition's end (or forever with follow). Events go
 * to out (not following) or are printed at once. 0 or -errno (said). */
static int read_events(struct admin *a, rd_kafka_t *rk, struct kafka_log *kl,
		       const char *brokers, const struct ev_opts *o, json_t *out)
{
	uint64_t since_ms = 0;
	int64_t start = o->follow && !o->has_since ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	struct timespec t0;
	int nparts = 0, eofs = 0;

	if (o->has_since && (uint64_t)time(NULL) > o->since_s)
		since_ms = ((uint64_t)time(NULL) - o->since_s) * 1000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (stop_flag)
			return 0;
		if (!o->follow && waited > READ_TIMEOUT_MS) {
			char why[256];
			pthread_mutex_lock(&kl->lock);
			snprintf(why, sizeof(why), "%s", kl->text);
			pthread_mutex_unlock(&kl->lock);
			fprintf(stderr, "bigfs: events: Kafka at %s did not answer in %d s%s%s\n", brokers,
				READ_TIMEOUT_MS / 1000, why[0] ? ": " : "", why);
			return -ETIMEDOUT;
		}
		if (nparts == 0) {
			int rc = assign_all(rk, start, 2000);
			if (rc < 0 && rc != -ETIMEDOUT)
				return rc;
			if (rc > 0) {
				nparts = rc;
				continue;
			}
			if (rc == 0 && !o->follow)
				return 0;          /* no topic: no event was ever published */
			if (rc == 0) {
				/* the topic appears with the first event: wait
				 * on the consumer (nothing assigned) a while */
				rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
				if (m)
					rd_kafka_message_destroy(m);
			}
			continue;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			if (!o->follow && ++eofs >= nparts)
				return 0;
			continue;
		}
		if (m->err) {
			/* transport trouble is retried by librdkafka; say the rest */
			if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
			    m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
				fprintf(stderr, "bigfs: events: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		json_error_t jerr;
		json_t *ev = json_loadb(m->payload, m->len, 0, &jerr);
		rd_kafka_message_destroy(m);
		if (!json_is_object(ev) || admin_u64(ev, "ts_ms", 0) < since_ms) {
			json_decref(ev);
			continue;
		}
		if (!o->follow) {
			json_array_append_new(out, ev);
			continue;
		}
		if (a->json) {
			char *txt = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (txt)
				puts(txt);
			free(txt);
		} else {
			print_event(ev);
		}
		json_decref(ev);
		if (fflush(stdout) == EOF)
			return -EPIPE;        /* the reader went away */
	}
}

int cmd_events(struct admin *a, int argc, char **argv)
{
	struct ev_opts o = {0};
	json_t *info = NULL, *events = NULL;
	char err[512];
	int first;
	int rc = admin_parse(a, argc, argv, ev_options, ev_opt, &o, 0, 0, &first);
	if (rc >= 0)
		return rc;
	if (kafka_opts_check(&o.kopts, err, sizeof(err)) < 0)
		return admin_usage(a, "%s", err);
	rc = admin_call(a, "GET", "/v1/cluster/info", NULL, true, &info, "events");
	if (rc < 0)
		return admin_exit_for(a, rc);
	const char *brokers = admin_str(info, "kafka_bootstrap", NULL);
	if (!brokers || !brokers[0]) {
		fprintf(stderr, "bigfs: events: the master names no Kafka broker\n");
		json_decref(info);
		return AX_FAIL;
	}
	struct kafka_log kl = {.lock = PTHREAD_MUTEX_INITIALIZER};
	rd_kafka_t *rk = make_consumer(brokers, &o.kopts, &kl);
	if (!rk) {
		json_decref(info);
		return AX_FAIL;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	events = json_array();
	rc = read_events(a, rk, &kl, brokers, &o, events);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	json_decref(info);
	if (rc < 0) {
		json_decref(events);
		return rc == -EPIPE ? AX_OK : AX_FAIL;
	}
	if (o.follow) {
		json_decref(events);
		return AX_OK;
	}
	/* partitions interleave: time order */
	size_t n = json_array_size(events);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		json_decref(events);
		fprintf(stderr, "bigfs: out of memory\n");
		return AX_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(events, i);
	qsort(v, n, sizeof(*v), cmp_ts);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(events);
	if (a->json) {
		json_t *doc = json_pack("{s:o}", "events", sorted);
		rc = admin_print_json(doc);
		json_decref(doc);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		print_event(json_array_get(sorted, i));
	if (!n)
		fprintf(stderr, "bigfs: no events%s\n", o.has_since ? " in that time" : " yet");
	json_decref(sorted);
	return AX_OK;
}
