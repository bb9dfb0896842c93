/* kafka_status — worker status in, cluster events out.
 *
 * Owns: the producer handle (which, without --kafka, also hosts the
 * embedded mock broker: the broker lives as long as this handle), the
 * consumer handle and its thread.
 *
 * Threads: the consumer thread polls `bigfs.worker-status` with a manual
 * assignment of every partition at OFFSET_END (no group membership, so no
 * rebalance ever delays failure detection) and writes into
 * worker_registry. Any thread may call kstatus_event(): rd_kafka_producev
 * is thread-safe and never blocks here (a full queue drops the event).
 * `lock` guards only `stop` and the condition the thread waits on while
 * the topic does not exist yet. Nothing here is ever awaited by an HTTP
 * reply.
 *
 * What the console and /metrics read: `info_lock` guards the ring of the
 * last KSTATUS_EVENTS_KEEP events (written by whichever thread publishes
 * an event, read by HTTP handlers), the event counts per type, and the
 * throughput table (written by the consumer thread from each accepted
 * status message, read by HTTP handlers). Nothing else is done under it;
 * it is never held together with `lock`.
 *
 * Trust: a status message counts only with a "bigfs-mac" header made with
 * the cluster secret (auth_status_mac) and only if it is newer than the last
 * one of its worker: Kafka access alone cannot mark a worker live. */
#include "kafka_status.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json_util.h"
#include "auth.h"
#include "log.h"
#include "token.h"

struct kstatus {
	struct wreg *reg;
	const struct kafka_opts *kopts; /* NULL with the embedded broker */
	rd_kafka_t *producer;
	rd_kafka_t *consumer;
	char bootstrap[512];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                 /* guarded by lock */
	atomic_ullong n_ok, n_bad;
	_Atomic(const struct secret *) secret;
	/* consumer thread only: the newest (start_time_ms, seq) per worker,
	 * so a recorded status cannot be played back */
	struct last_seen {
		char id[WORKER_ID_STRLEN + 1];
		int64_t start_ms;
		uint64_t seq;
	} *seen;
	size_t nseen, cap_seen;
	/* guarded by info_lock */
	pthread_mutex_t info_lock;
	json_t *ring[KSTATUS_EVENTS_KEEP]; /* oldest at ring_head once full */
	size_t ring_head, ring_n;
	struct event_count {
		char type[KSTATUS_EVENT_TYPE_MAX + 1];
		unsigned long long n;
	} types[KSTATUS_EVENT_TYPES_MAX + 1]; /* the last one is "other" */
	size_t ntypes;
	unsigned long long events_total;
	struct worker_rate {
		char id[WORKER_ID_STRLEN + 1];
		uint64_t in_bps, out_bps;
	} *rates;
	size_t nrates, cap_rates;
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* librdkafka levels are syslog levels; its chatter is debug for us
	 * unless it is an error. */
	log_msg(level <= LOG_ERR ? LOG_WARNING : LOG_DEBUG, "kafka %s: %s", fac, buf);
}

static rd_kafka_conf_t *base_conf(const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, on_log);
	if ((brokers && rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err,
					  errlen) != RD_KAFKA_CONF_OK) ||
	    rd_kafka_conf_set(conf, "client.id", "bigfs-master", err, errlen) !=
		    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

static int make_producer(struct kstatus *ks, const char *brokers)
{
	char err[512];
	bool mock = !brokers || !*brokers;
	rd_kafka_conf_t *conf = base_conf(mock ? NULL : brokers, err, sizeof(err));

	if (!conf)
		goto out_conf_err;
	if ((mock && rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err,
				       sizeof(err)) != RD_KAFKA_CONF_OK) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "10000", err,
			      sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "message.timeout.ms", "30000", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		goto out_conf_err;
	}
	if (kafka_opts_apply(conf, ks->kopts, err, sizeof(err)) < 0) {
		rd_kafka_conf_destroy(conf);
		goto out_conf_err;
	}
	ks->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!ks->producer) {
		log_err("kafka: cannot create producer: %s", err);
		return -EIO;
	}
	if (!mock) {
		snprintf(ks->bootstrap, sizeof(ks->bootstrap), "%s", brokers);
		return 0;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(ks->producer);
	if (!mc) {
		log_err("kafka: embedded broker did not start");
		return -EIO;
	}
	snprintf(ks->bootstrap, sizeof(ks->bootstrap), "%s",
		 rd_kafka_mock_cluster_bootstraps(mc));
	const char *topics[] = { KSTATUS_TOPIC_STATUS, KSTATUS_TOPIC_EVENTS };
	for (int i = 0; i < 2; i++) {
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topics[i], 1, 1);
		if (e) {
			log_err("kafka: cannot create topic %s: %s", topics[i],
				rd_kafka_err2str(e));
			return -EIO;
		}
	}
	log_info("embedded Kafka broker at %s", ks->bootstrap);
	return 0;

out_conf_err:
	log_err("kafka: bad configuration: %s", err);
	return -EINVAL;
}

static int make_consumer(struct kstatus *ks)
{
	char err[512];
	rd_kafka_conf_t *conf = base_conf(ks->bootstrap, err, sizeof(err));

	if (!conf ||
	    rd_kafka_conf_set(conf, "group.id", "bigfs-master", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    kafka_opts_apply(conf, ks->kopts, err, sizeof(err)) < 0) {
		if (conf)
			rd_kafka_conf_destroy(conf);
		log_err("kafka: bad consumer configuration: %s", err);
		return -EINVAL;
	}
	ks->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!ks->consumer) {
		log_err("kafka: cannot create consumer: %s", err);
		return -EIO;
	}
	return 0;
}

void kstatus_set_secret(struct kstatus *ks, const struct secret *secret)
{
	atomic_store(&ks->secret, secret);
}

/* The message is signed with the cluster secret and newer than the last
 * one of its worker (that one is then remembered). */
static bool status_trusted(struct kstatus *ks, const rd_kafka_message_t *m)
{
	const struct secret *sec = atomic_load(&ks->secret);
	rd_kafka_headers_t *hdrs = NULL;
	const void *val = NULL;
	size_t vlen = 0;
	char want[AUTH_HEX_LEN + 1], got[AUTH_HEX_LEN + 1];

	if (!sec || !m->key || m->key_len != WORKER_ID_STRLEN ||
	    rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_get_last(hdrs, "bigfs-mac", &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    vlen != AUTH_HEX_LEN)
		return false;
	memcpy(got, val, AUTH_HEX_LEN);
	got[AUTH_HEX_LEN] = '\0';
	auth_status_mac(sec->key, sec->len, m->key, m->key_len, m->payload, m->len, want);
	if (!auth_hex_equal(want, got))
		return false;
	json_t *o = ju_parse_object(m->payload, m->len);
	const char *id;
	int64_t start;
	uint64_t seq;
	bool ok = o && ju_str(o, "worker_id", WORKER_ID_STRLEN, &id) == 0 &&
		  strlen(id) == WORKER_ID_STRLEN && memcmp(id, m->key, WORKER_ID_STRLEN) == 0 &&
		  ju_i64(o, "start_time_ms", &start) == 0 && ju_u64(o, "seq", &seq) == 0;
	if (ok) {
		size_t i = 0;
		while (i < ks->nseen && strcmp(ks->seen[i].id, id) != 0)
			i++;
		if (i == ks->nseen) {
			if (ks->nseen == ks->cap_seen) {
				size_t cap = ks->cap_seen ? ks->cap_seen * 2 : 16;
				struct last_seen *p = realloc(ks->seen, cap * sizeof(*p));
				if (!p) {
					json_decref(o);
					return false;
				}
				ks->seen = p;
				ks->cap_seen = cap;
			}
			snprintf(ks->seen[i].id, sizeof(ks->seen[i].id), "%s", id);
			ks->seen[i].start_ms = INT64_MIN;
			ks->seen[i].seq = 0;
			ks->nseen++;
		}
		struct last_seen *l = &ks->seen[i];
		ok = start > l->start_ms || (start == l->start_ms && seq > l->seq);
		if (ok) {
			l->start_ms = start;
			l->seq = seq;
		}
	}
	json_decref(o);
	return ok;
}

/* kstatus_apply, also handing back the message's throughput figures. */
static int apply_status(struct wreg *reg, const void *payload, size_t len,
			char *ret_worker_id, char *ret_addr, uint64_t *ret_in, uint64_t *ret_out)
{
	const char *id, *addr;
	uint64_t cap, used, chunks = 0, inflight = 0, in_bps = 0, out_bps = 0;
	json_t *o = ju_parse_object(payload, len);
	int rc = -EINVAL;

	if (!o)
		return -EINVAL;
	if (ju_str(o, "worker_id", WORKER_ID_STRLEN, &id) < 0 || !worker_id_valid(id) ||
	    ju_str(o, "addr", WREG_ADDR_MAX - 1, &addr) < 0 || !wreg_addr_valid(addr) ||
	    ju_u64(o, "capacity", &cap) < 0 || ju_u64(o, "used", &used) < 0 ||
	    ju_u64_opt(o, "chunks", 0, &chunks) < 0 ||
	    ju_u64_opt(o, "inflight", 0, &inflight) < 0 ||
	    ju_u64_opt(o, "bytes_in_per_s", 0, &in_bps) < 0 ||
	    ju_u64_opt(o, "bytes_out_per_s", 0, &out_bps) < 0)
		goto out_put;
	rc = wreg_seen(reg, id, addr, cap, used,
		       (int64_t)(chunks > INT64_MAX ? INT64_MAX : chunks),
		       (int64_t)(inflight > INT64_MAX ? INT64_MAX : inflight));
	if (rc >= 0 && ret_worker_id)
		snprintf(ret_worker_id, WORKER_ID_STRLEN + 1, "%s", id);
	if (rc >= 0 && ret_addr)
		snprintf(ret_addr, WREG_ADDR_MAX, "%s", addr);
	if (rc >= 0 && ret_in)
		*ret_in = in_bps;
	if (rc >= 0 && ret_out)
		*ret_out = out_bps;
out_put:
	json_decref(o);
	return rc;
}

int kstatus_apply(struct wreg *reg, const void *payload, size_t len,
		  char *ret_worker_id, char *ret_addr)
{
	return apply_status(reg, payload, len, ret_worker_id, ret_addr, NULL, NULL);
}

/* Remember a worker's throughput (consumer thread). A worker that cannot
 * be added for want of memory shows no rates; nothing else suffers. */
static void note_rates(struct kstatus *ks, const char *id, uint64_t in_bps, uint64_t out_bps)
{
	size_t i;

	pthread_mutex_lock(&ks->info_lock);
	for (i = 0; i < ks->nrates && strcmp(ks->rates[i].id, id) != 0; i++)
		;
	if (i == ks->nrates) {
		if (ks->nrates == ks->cap_rates) {
			size_t cap = ks->cap_rates ? ks->cap_rates * 2 : 16;
			struct worker_rate *p = realloc(ks->rates, cap * sizeof(*p));
			if (!p)
				goto out_unlock;
			ks->rates = p;
			ks->cap_rates = cap;
		}
		snprintf(ks->rates[i].id, sizeof(ks->rates[i].id), "%s", id);
		ks->nrates++;
	}
	ks->rates[i].in_bps = in_bps;
	ks->rates[i].out_bps = out_bps;
out_unlock:
	pthread_mutex_unlock(&ks->info_lock);
}

int kstatus_worker_rates(struct kstatus *ks, const char *worker_id, uint64_t *in_bps,
			 uint64_t *out_bps)
{
	int rc = -ENOENT;

	if (!ks || !worker_id)
		return -ENOENT;
	pthread_mutex_lock(&ks->info_lock);
	for (size_t i = 0; i < ks->nrates; i++) {
		if (strcmp(ks->rates[i].id, worker_id) == 0) {
			*in_bps = ks->rates[i].in_bps;
			*out_bps = ks->rates[i].out_bps;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ks->info_lock);
	return rc;
}

/* Assign every partition of the status topic at its end. */
static int assign_all(struct kstatus *ks)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(ks->consumer, KSTATUS_TOPIC_STATUS, NULL);
	int rc = -EAGAIN;

	if (!t)
		return -ENOMEM;
	rd_kafka_resp_err_t e = rd_kafka_metadata(ks->consumer, 0, t, &md, 2000);
	if (e || !md || md->topic_cnt != 1 || md->topics[0].err ||
	    md->topics[0].partition_cnt <= 0) {
		log_debug("kafka: status topic not available yet: %s",
			  rd_kafka_err2str(e ? e : (md && md->topic_cnt ? md->topics[0].err : 0)));
		goto out_free;
	}
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int i = 0; i < md->topics[0].partition_cnt; i++)
		rd_kafka_topic_partition_list_add(l, KSTATUS_TOPIC_STATUS,
						  md->topics[0].partitions[i].id)
			->offset = RD_KAFKA_OFFSET_END;
	e = rd_kafka_assign(ks->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		log_warn("kafka: assign failed: %s", rd_kafka_err2str(e));
		goto out_free;
	}
	log_info("kafka: consuming %s (%d partitions) from the latest offset",
		 KSTATUS_TOPIC_STATUS, md->topics[0].partition_cnt);
	rc = 0;
out_free:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	return rc;
}

static bool should_stop(struct kstatus *ks, int wait_ms)
{
	bool stop;

	pthread_mutex_lock(&ks->lock);
	if (!ks->stop && wait_ms > 0) {
		struct timespec ts = clock_deadline_ms(wait_ms);

		pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
	}
	stop = ks->stop;
	pthread_mutex_unlock(&ks->lock);
	return stop;
}

static void handle_message(struct kstatus *ks, rd_kafka_message_t *m)
{
	char id[WORKER_ID_STRLEN + 1], addr[WREG_ADDR_MAX];
	uint64_t in_bps = 0, out_bps = 0;

	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_debug("kafka: consume: %s", rd_kafka_message_errstr(m));
		return;
	}
	if (!status_trusted(ks, m)) {
		if (atomic_fetch_add(&ks->n_bad, 1) % 100 == 0)
			log_warn("kafka: dropping a status message that is not signed with the cluster "
			 "secret or is a replay (%zu bytes, offset %lld)", m->len,
			 (long long)m->offset);
		return;
	}
	int rc = apply_status(ks->reg, m->payload, m->len, id, addr, &in_bps, &out_bps);
	if (rc < 0) {
		atomic_fetch_add(&ks->n_bad, 1);
		log_warn("kafka: skipping malformed status message (%zu bytes, offset %lld)",
			 m->len, (long long)m->offset);
		return;
	}
	atomic_fetch_add(&ks->n_ok, 1);
	note_rates(ks, id, in_bps, out_bps);
	if (rc == 1) {
		log_info("worker %s at %s is live (status)", id, addr);
		kstatus_event(ks, "worker_joined",
			      json_pack("{s:s, s:s}", "worker_id", id, "addr", addr));
	}
}

static void *consumer_main(void *arg)
{
	struct kstatus *ks = arg;
	bool assigned = false;

	while (!should_stop(ks, 0)) {
		if (!assigned) {
			assigned = assign_all(ks) == 0;
			if (!assigned && should_stop(ks, 1000))
				break;
			continue;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(ks->consumer, 300);
		if (m) {
			handle_message(ks, m);
			rd_kafka_message_destroy(m);
		}
		rd_kafka_poll(ks->producer, 0);
	}
	return NULL;
}

int kstatus_start(const char *brokers, const struct kafka_opts *kopts, struct wreg *reg,
		  struct kstatus **ret)
{
	struct kstatus *ks = calloc(1, sizeof(*ks));
	int rc;

	if (!ks)
		return -ENOMEM;
	ks->reg = reg;
	if (brokers && *brokers)
		ks->kopts = kopts;
	else if (kopts && kopts->n > 0)
		log_warn("kafka: --kafka-opt ignored: the embedded broker speaks plaintext "
			 "(the options are for a real Kafka, --kafka BROKERS)");
	pthread_mutex_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->info_lock, NULL);
	clock_cond_init(&ks->cond);
	rc = make_producer(ks, brokers);
	if (rc == 0)
		rc = make_consumer(ks);
	if (rc == 0) {
		rc = -pthread_create(&ks->thread, NULL, consumer_main, ks);
		ks->thread_started = rc == 0;
	}
	if (rc < 0) {
		kstatus_stop(ks);
		return rc;
	}
	*ret = ks;
	return 0;
}

void kstatus_stop(struct kstatus *ks)
{
	if (!ks)
		return;
	pthread_mutex_lock(&ks->lock);
	ks->stop = true;
	pthread_cond_broadcast(&ks->cond);
	pthread_mutex_unlock(&ks->lock);
	if (ks->thread_started)
		pthread_join(ks->thread, NULL);
	if (ks->consumer) {
		rd_kafka_consumer_close(ks->consumer);
		rd_kafka_destroy(ks->consumer);
	}
	if (ks->producer) {
		rd_kafka_flush(ks->producer, 500);
		rd_kafka_destroy(ks->producer);
	}
	pthread_cond_destroy(&ks->cond);
	pthread_mutex_destroy(&ks->lock);
	for (size_t i = 0; i < ks->ring_n; i++)
		json_decref(ks->ring[(ks->ring_head + i) % KSTATUS_EVENTS_KEEP]);
	pthread_mutex_destroy(&ks->info_lock);
	free(ks->rates);
	free(ks->seen);
	free(ks);
}

const char *kstatus_bootstrap(const struct kstatus *ks)
{
	return ks->bootstrap;
}

void kstatus_counts(const struct kstatus *ks, unsigned long long *ok,
		    unsigned long long *bad)
{
	*ok = atomic_load(&ks->n_ok);
	*bad = atomic_load(&ks->n_bad);
}

/* Count an event of this type and keep it (taking the reference o) as
 * the newest of the ring, dropping the oldest when full. */
static void remember_event(struct kstatus *ks, const char *type, json_t *o)
{
	size_t i;

	pthread_mutex_lock(&ks->info_lock);
	ks->events_total++;
	for (i = 0; i < ks->ntypes && strcmp(ks->types[i].type, type) != 0; i++)
		;
	if (i == ks->ntypes) {
		if (ks->ntypes < KSTATUS_EVENT_TYPES_MAX && strlen(type) <= KSTATUS_EVENT_TYPE_MAX) {
			snprintf(ks->types[i].type, sizeof(ks->types[i].type), "%s", type);
			ks->ntypes++;
		} else {
			i = KSTATUS_EVENT_TYPES_MAX;
			snprintf(ks->types[i].type, sizeof(ks->types[i].type), "other");
		}
	}
	ks->types[i].n++;
	if (ks->ring_n == KSTATUS_EVENTS_KEEP) {
		json_decref(ks->ring[ks->ring_head]);
		ks->ring[ks->ring_head] = o;
		ks->ring_head = (ks->ring_head + 1) % KSTATUS_EVENTS_KEEP;
	} else {
		ks->ring[(ks->ring_head + ks->ring_n) % KSTATUS_EVENTS_KEEP] = o;
		ks->ring_n++;
	}
	pthread_mutex_unlock(&ks->info_lock);
}

json_t *kstatus_recent_events(struct kstatus *ks, size_t max)
{
	json_t *a = json_array();

	if (!a || !ks)
		return a;
	pthread_mutex_lock(&ks->info_lock);
	for (size_t k = 0; k < ks->ring_n && k < max; k++) {
		size_t i = (ks->ring_head + ks->ring_n - 1 - k) % KSTATUS_EVENTS_KEEP;
		if (json_array_append_new(a, json_deep_copy(ks->ring[i])) < 0) {
			json_decref(a);
			a = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&ks->info_lock);
	return a;
}

unsigned long long kstatus_event_counts(struct kstatus *ks,
					void (*fn)(const char *type, unsigned long long n,
						   void *arg),
					void *arg)
{
	unsigned long long total;

	if (!ks)
		return 0;
	pthread_mutex_lock(&ks->info_lock);
	total = ks->events_total;
	for (size_t i = 0; fn && i <= KSTATUS_EVENT_TYPES_MAX; i++) {
		if (i < ks->ntypes || (i == KSTATUS_EVENT_TYPES_MAX && ks->types[i].n))
			fn(ks->types[i].type, ks->types[i].n, arg);
	}
	pthread_mutex_unlock(&ks->info_lock);
	return total;
}

void kstatus_event(struct kstatus *ks, const char *type, json_t *fields)
{
	struct timespec ts;
	json_t *o = fields ? fields : json_object();
	char *text;
	size_t len;

	if (!ks || !o || !type) {
		json_decref(o);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "ts_ms",
			    json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
	text = ju_dump(o, &len);
	remember_event(ks, type, o); /* o is the ring's now */
	if (!text)
		return;
	rd_kafka_resp_err_t e = rd_kafka_producev(
		ks->producer, RD_KAFKA_V_TOPIC(KSTATUS_TOPIC_EVENTS),
		RD_KAFKA_V_VALUE(text, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_END);
	if (e)
		log_debug("kafka: event %s dropped: %s", type, rd_kafka_err2str(e));
	free(text);
	rd_kafka_poll(ks->producer, 0);
}
