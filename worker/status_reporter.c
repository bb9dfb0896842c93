/* status_reporter — register with the master, report status to Kafka
 * (status_reporter.h).
 *
 * Threads: one reporter thread owns everything here except `stop`, which
 * status_reporter_stop() sets under mu and signals through cond (the
 * thread waits on cond with a deadline, never sleeps). librdkafka's
 * callbacks (error, delivery) are served by rd_kafka_poll() on the
 * reporter thread and only raise kafka_trouble; the log callback may run
 * on librdkafka's threads and only logs.
 *
 * Master link states (reporter thread only):
 *
 *   SEARCHING --info answers--> (producer made for its bootstrap)
 *       REGISTERING --register ok--> REPORTING
 *   REPORTING --info fails (every master tried)--> SEARCHING (status
 *       keeps flowing meanwhile)
 *   REPORTING --info differs (cluster id, bootstrap, topic)--> producer
 *       rebuilt, REGISTERING
 *   REPORTING --info answered by another master than the one registered
 *       with (the active one changed)--> REGISTERING
 *   REPORTING --Kafka error or failed delivery--> info asked at once
 *       (at most every SR_TROUBLE_CHECK_MS) and handled as above.
 *
 * sr_check_master() makes every transition; the loop in sr_main() calls it
 * every SR_INFO_POLL_MS (sooner on trouble, with backoff while the master
 * does not answer) and sends a status every interval. */
#include "clock.h"
#include "status_reporter.h"
#include "auth.h"
#include "token.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"

#define SR_INFO_POLL_MS 5000
#define SR_TROUBLE_CHECK_MS 1000
#define SR_BACKOFF_MIN_MS 200
#define SR_BACKOFF_MAX_MS 1000
#define SR_WAIT_LOG_EVERY_MS 30000
#define SR_INFO_TIMEOUT_MS 3000
#define SR_REGISTER_TIMEOUT_MS 15000
#define SR_CONNECT_TIMEOUT_MS 2000
#define SR_DEFAULT_INTERVAL_MS 2000
#define SR_DEFAULT_TOPIC "bigfs.worker-status"

struct sr_info {
	char cluster_id[128];
	char bootstrap[1024];
	char topic[250];
	int64_t interval_ms;     /* 0 if the master did not say */
};

struct status_reporter {
	struct status_reporter_config cfg;
	pthread_t thread;

	pthread_mutex_t mu;            /* guards stop, first_done */
	pthread_cond_t cond;           /* broadcast on stop and first_done */
	bool stop;
	bool first_done;               /* the first look at the master is over */

	atomic_bool kafka_trouble;     /* set by librdkafka callbacks */

	/* reporter thread only */
	struct http_client *info_client;
	struct http_client *reg_client;
	rd_kafka_t *producer;
	struct sr_info cur;            /* what the producer was made for */
	bool have_info;
	bool master_ok;
	bool need_register;
	bool registered_here;          /* registered since the producer was made */
	size_t reg_master;             /* index of the master registered with, or SIZE_MAX */
	int64_t interval_ms;
	int64_t start_time_ms;
	uint64_t seq;
	struct load_snapshot last_load;
	int64_t last_load_ms;
	int64_t last_wait_log_ms;
	unsigned int rand_state;
};

static int64_t sr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sr_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the monotonic deadline or stop. True if stopping. */
static bool sr_wait_until(struct status_reporter *sr, int64_t deadline_ms)
{
	struct timespec ts = {
		.tv_sec = deadline_ms / 1000,
		.tv_nsec = (deadline_ms % 1000) * 1000000,
	};
	bool stop;

	pthread_mutex_lock(&sr->mu);
	while (!sr->stop && sr_mono_ms() < deadline_ms)
		if (pthread_cond_timedwait(&sr->cond, &sr->mu, &ts) == ETIMEDOUT)
			break;
	stop = sr->stop;
	pthread_mutex_unlock(&sr->mu);
	return stop;
}

static bool sr_stopping(struct status_reporter *sr)
{
	bool stop;

	pthread_mutex_lock(&sr->mu);
	stop = sr->stop;
	pthread_mutex_unlock(&sr->mu);
	return stop;
}

void status_reporter_space(const struct status_reporter_config *cfg, uint64_t *ret_capacity,
			   uint64_t *ret_used)
{
	chunk_store_space(cfg->store, ret_capacity, ret_used);
}

/* ---- Kafka --------------------------------------------------------------- */

static void sr_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct status_reporter *sr = opaque;

	(void)rk;
	log_debug("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE || err == RD_KAFKA_RESP_ERR__FATAL ||
	    err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
		atomic_store(&sr->kafka_trouble, true);
}

static void sr_kafka_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct status_reporter *sr = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	    m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		return;
	log_debug("kafka: status delivery failed: %s", rd_kafka_err2str(m->err));
	atomic_store(&sr->kafka_trouble, true);
}

static void sr_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	log_debug("kafka %s: %s", fac, buf);
}

static void sr_drop_producer(struct status_reporter *sr)
{
	if (!sr->producer)
		return;
	rd_kafka_purge(sr->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(sr->producer, 0);
	rd_kafka_destroy(sr->producer);
	sr->producer = NULL;
}

static int sr_make_producer(struct status_reporter *sr, const struct sr_info *info)
{
	char errstr[512], client_id[64];
	rd_kafka_conf_t *conf;
	static const char *const settings[][2] = {
		{ "linger.ms", "5" },
		{ "message.timeout.ms", "5000" },
		{ "request.required.acks", "1" },
		{ "reconnect.backoff.ms", "100" },
		{ "reconnect.backoff.max.ms", "1000" },
		{ "socket.connection.setup.timeout.ms", "5000" },
		{ "queue.buffering.max.messages", "1000" },
		{ "log.connection.close", "false" },
	};

	sr_drop_producer(sr);
	if (info->bootstrap[0] == '\0') {
		log_warn("the master gave no Kafka bootstrap address; no status reports");
		return -EINVAL;
	}
	conf = rd_kafka_conf_new();
	snprintf(client_id, sizeof(client_id), "bigfs-worker-%s", sr->cfg.worker_id);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", info->bootstrap, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", client_id, errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK)
		goto out_conf;
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK)
			goto out_conf;
	if (kafka_opts_apply(conf, sr->cfg.kafka_opts, errstr, sizeof(errstr)) < 0)
		goto out_conf;
	rd_kafka_conf_set_opaque(conf, sr);
	rd_kafka_conf_set_error_cb(conf, sr_kafka_error);
	rd_kafka_conf_set_dr_msg_cb(conf, sr_kafka_delivery);
	rd_kafka_conf_set_log_cb(conf, sr_kafka_log);
	sr->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!sr->producer) {
		log_err("cannot create the Kafka producer: %s", errstr);
		return -EINVAL;     /* rd_kafka_new freed conf */
	}
	log_info("reporting status to Kafka at %s, topic %s", info->bootstrap, info->topic);
	return 0;

out_conf:
	log_err("bad Kafka setting: %s", errstr);
	rd_kafka_conf_destroy(conf);
	return -EINVAL;
}

static void sr_send_status(struct status_reporter *sr)
{
	struct load_snapshot now_load;
	uint64_t capacity, used, chunks, dummy, in_rate = 0, out_rate = 0;
	int64_t now = sr_mono_ms();
	rd_kafka_resp_err_t err;
	json_t *o;
	char *text;
	size_t len;

	load_stats_snapshot(sr->cfg.stats, &now_load);
	if (sr->last_load_ms && now > sr->last_load_ms) {
		int64_t dt = now - sr->last_load_ms;

		in_rate = (now_load.bytes_in - sr->last_load.bytes_in) * 1000 / (uint64_t)dt;
		out_rate = (now_load.bytes_out - sr->last_load.bytes_out) * 1000 / (uint64_t)dt;
	}
	sr->last_load = now_load;
	sr->last_load_ms = now;
	status_reporter_space(&sr->cfg, &capacity, &used);
	chunk_store_usage(sr->cfg.store, &chunks, &dummy);

	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
		      "worker_id", sr->cfg.worker_id, "addr", sr->cfg.addr,
		      "capacity", (json_int_t)capacity, "used", (json_int_t)used,
		      "chunks", (json_int_t)chunks,
		      "inflight", (json_int_t)(now_load.inflight > 0 ? now_load.inflight : 0),
		      "bytes_in_per_s", (json_int_t)in_rate, "bytes_out_per_s", (json_int_t)out_rate,
		      "version", WORKER_SOFTWARE_VERSION,
		      "start_time_ms", (json_int_t)sr->start_time_ms,
		      "seq", (json_int_t)++sr->seq, "ts_ms", (json_int_t)sr_wall_ms());
	text = o ? ju_dump(o, &len) : NULL;
	json_decref(o);
	if (!text)
		return;
	/* signed: Kafka access alone must not make a worker live */
	char mac[AUTH_HEX_LEN + 1];
	auth_status_mac(sr->cfg.secret->key, sr->cfg.secret->len, sr->cfg.worker_id,
			strlen(sr->cfg.worker_id), text, len, mac);
	err = rd_kafka_producev(sr->producer, RD_KAFKA_V_TOPIC(sr->cur.topic),
				RD_KAFKA_V_KEY(sr->cfg.worker_id, strlen(sr->cfg.worker_id)),
				RD_KAFKA_V_VALUE(text, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADER("bigfs-mac", mac, AUTH_HEX_LEN), RD_KAFKA_V_END);
	free(text);
	if (err) {
		log_debug("kafka: cannot queue status: %s", rd_kafka_err2str(err));
		atomic_store(&sr->kafka_trouble, true);
	}
	rd_kafka_poll(sr->producer, 0);
}

/* ---- master ---------------------------------------------------------------- */

/* Cluster info from the active master: its index in *ret_master. */
static int sr_fetch_info(struct status_reporter *sr, struct sr_info *ret, size_t *ret_master)
{
	json_t *resp = NULL;
	const char *cid, *boot, *topic;
	uint64_t interval;
	int r;

	r = master_list_call(sr->cfg.masters, sr->info_client, "GET", "/v1/cluster/info", NULL,
			     auth_cluster_signer, (void *)sr->cfg.secret, &resp, ret_master);
	if (r < 0)
		return r;
	if (!resp || ju_str(resp, "cluster_id", sizeof(ret->cluster_id) - 1, &cid) < 0 ||
	    ju_str(resp, "kafka_bootstrap", sizeof(ret->bootstrap) - 1, &boot) < 0 ||
	    ju_str_opt(resp, "status_topic", sizeof(ret->topic) - 1, SR_DEFAULT_TOPIC, &topic) < 0 ||
	    ju_u64_opt(resp, "status_interval_ms", 0, &interval) < 0) {
		json_decref(resp);
		return -EBADMSG;
	}
	memset(ret, 0, sizeof(*ret));
	strcpy(ret->cluster_id, cid);
	strcpy(ret->bootstrap, boot);
	strcpy(ret->topic, topic[0] ? topic : SR_DEFAULT_TOPIC);
	ret->interval_ms = interval >= 100 && interval <= 600000 ? (int64_t)interval : 0;
	json_decref(resp);
	return 0;
}

static int sr_cmp_info(const void *a, const void *b)
{
	const struct chunk_info *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Delete what the register reply lists, if still at the reported version. */
static void sr_apply_deletes(struct status_reporter *sr, json_t *resp,
			     struct chunk_info *list, size_t n)
{
	json_t *del = resp ? json_object_get(resp, "delete") : NULL;
	size_t i, ndel = 0;
	json_t *v;

	if (!del)
		return;
	if (!json_is_array(del)) {
		log_warn("register reply: 'delete' is not a list; ignored");
		return;
	}
	json_array_foreach(del, i, v) {
		struct chunk_info key, *found;
		int r;

		if (!json_is_string(v) || chunk_id_parse(json_string_value(v), &key.id) < 0) {
			log_warn("register reply: bad chunk id in 'delete'; ignored");
			continue;
		}
		found = bsearch(&key, list, n, sizeof(*list), sr_cmp_info);
		if (!found) {
			log_warn("master asked to delete chunk %s, which was not reported",
				 json_string_value(v));
			continue;
		}
		r = chunk_store_delete_upto(sr->cfg.store, key.id, found->version);
		if (r < 0)
			log_warn("cannot delete chunk %s: %s", json_string_value(v), strerror(-r));
		else
			ndel++;
	}
	if (ndel)
		log_info("deleted %zu chunks the master no longer wants", ndel);
}

static int sr_register(struct status_reporter *sr)
{
	struct chunk_info *list = NULL;
	uint64_t capacity, used;
	json_t *req = NULL, *arr, *resp = NULL;
	size_t n = 0, idx = 0;
	int r;

	r = chunk_store_list(sr->cfg.store, &list, &n);
	if (r < 0)
		return r;
	if (n)
		qsort(list, n, sizeof(*list), sr_cmp_info);
	status_reporter_space(&sr->cfg, &capacity, &used);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *c = json_pack("{s:I, s:I}", "version", (json_int_t)list[i].version,
				      "length", (json_int_t)list[i].length);

		if (!c || ju_set_chunk_id(c, "chunk_id", list[i].id) < 0 ||
		    json_array_append_new(arr, c) < 0) {
			json_decref(c);
			json_decref(arr);
			arr = NULL;
		}
	}
	if (arr)
		req = json_pack("{s:s, s:s, s:I, s:I, s:o}", "worker_id", sr->cfg.worker_id,
				"addr", sr->cfg.addr, "capacity", (json_int_t)capacity,
				"used", (json_int_t)used, "chunks", arr);
	if (!req) {
		r = -ENOMEM;
		goto out_free;
	}
	r = master_list_call(sr->cfg.masters, sr->reg_client, "POST", "/v1/cluster/register", req,
			     auth_cluster_signer, (void *)sr->cfg.secret, &resp, &idx);
	if (r < 0) {
		log_warn("register with the master at %s failed: %s",
			 master_list_addr(sr->cfg.masters, master_list_current(sr->cfg.masters)),
			 strerror(-r));
		goto out_free;
	}
	sr->reg_master = idx;
	log_info("registered with the master at %s as %s (%s), %zu chunks",
		 master_list_addr(sr->cfg.masters, idx), sr->cfg.worker_id, sr->cfg.addr, n);
	sr_apply_deletes(sr, resp, list, n);
out_free:
	json_decref(resp);
	json_decref(req);
	free(list);
	return r;
}

/* One look at the master; makes every link transition (see the top). */
static int sr_check_master(struct status_reporter *sr)
{
	struct sr_info info;
	int64_t now = sr_mono_ms();
	size_t idx = 0;
	int r = sr_fetch_info(sr, &info, &idx);
	const struct master_list *ml = sr->cfg.masters;

	if (r < 0) {
		if (sr->master_ok || !sr->last_wait_log_ms ||
		    now - sr->last_wait_log_ms >= SR_WAIT_LOG_EVERY_MS) {
			log_warn("waiting for master at %s (%s)", master_list_text(ml),
				 r == -EBADMSG ? "bad cluster info"
				 : r == -EAGAIN && master_list_count(ml) > 1
					 ? "no master answers as the active one"
					 : strerror(-r));
			sr->last_wait_log_ms = now;
		}
		sr->master_ok = false;
		sr->need_register = true;
		return r;
	}
	if (!sr->master_ok)
		log_info("master at %s answers: cluster %s, kafka %s", master_list_addr(ml, idx),
			 info.cluster_id, info.bootstrap[0] ? info.bootstrap : "(none)");
	if (sr->reg_master != SIZE_MAX && sr->reg_master != idx && !sr->need_register) {
		log_info("the active master is %s now (registered with %s): registering again",
			 master_list_addr(ml, idx), master_list_addr(ml, sr->reg_master));
		sr->need_register = true;
	}
	sr->master_ok = true;
	sr->last_wait_log_ms = 0;
	if (sr->cfg.interval_ms > 0)
		sr->interval_ms = sr->cfg.interval_ms;
	else
		sr->interval_ms = info.interval_ms ? info.interval_ms : SR_DEFAULT_INTERVAL_MS;
	if (!sr->have_info || strcmp(info.cluster_id, sr->cur.cluster_id) != 0 ||
	    strcmp(info.bootstrap, sr->cur.bootstrap) != 0 ||
	    strcmp(info.topic, sr->cur.topic) != 0 || (!sr->producer && info.bootstrap[0])) {
		if (sr->have_info)
			log_info("cluster info changed (cluster %s, kafka %s): reconnecting",
				 info.cluster_id, info.bootstrap);
		sr->cur = info;
		sr->have_info = true;
		sr_make_producer(sr, &info);
		sr->need_register = true;
		sr->registered_here = false;
	}
	atomic_store(&sr->kafka_trouble, false);
	if (sr->need_register) {
		r = sr_register(sr);
		if (r < 0)
			return r;
		sr->need_register = false;
		sr->registered_here = true;
	}
	return 0;
}

static void *sr_main(void *arg)
{
	struct status_reporter *sr = arg;
	int64_t backoff = SR_BACKOFF_MIN_MS, next_info = 0, next_status = 0, last_check = 0;

	while (!sr_stopping(sr)) {
		int64_t now = sr_mono_ms(), deadline;
		bool trouble = atomic_load(&sr->kafka_trouble);

		if (now >= next_info ||
		    (trouble && sr->master_ok && now - last_check >= SR_TROUBLE_CHECK_MS)) {
			last_check = now;
			if (sr_check_master(sr) == 0) {
				backoff = SR_BACKOFF_MIN_MS;
				next_info = now + SR_INFO_POLL_MS;
			} else {
				/* jitter: 75%..125% of the backoff */
				int64_t j = backoff * 3 / 4 +
					    (int64_t)(rand_r(&sr->rand_state) % (backoff / 2 + 1));

				next_info = sr_mono_ms() + j;
				backoff = backoff * 2 > SR_BACKOFF_MAX_MS ? SR_BACKOFF_MAX_MS
									  : backoff * 2;
			}
			now = sr_mono_ms();
			pthread_mutex_lock(&sr->mu);
			if (!sr->first_done) {
				sr->first_done = true;
				pthread_cond_broadcast(&sr->cond);
			}
			pthread_mutex_unlock(&sr->mu);
		}
		/* status keeps flowing while the master is briefly unreachable */
		if (sr->producer && sr->registered_here && now >= next_status) {
			sr_send_status(sr);
			next_status = now + sr->interval_ms;
		}
		if (sr->producer)
			rd_kafka_poll(sr->producer, 0);
		deadline = next_info;
		if (sr->producer && sr->registered_here && next_status < deadline)
			deadline = next_status;
		if (atomic_load(&sr->kafka_trouble) && sr->master_ok &&
		    last_check + SR_TROUBLE_CHECK_MS < deadline)
			deadline = last_check + SR_TROUBLE_CHECK_MS;
		/* serve delivery reports at least every half second */
		if (sr->producer && deadline > now + 500)
			deadline = now + 500;
		if (sr_wait_until(sr, deadline))
			break;
	}
	sr_drop_producer(sr);
	return NULL;
}

int status_reporter_start(const struct status_reporter_config *cfg,
			  struct status_reporter **ret)
{
	struct status_reporter *sr = calloc(1, sizeof(*sr));
	int r;

	if (!sr)
		return -ENOMEM;
	sr->cfg = *cfg;
	sr->reg_master = SIZE_MAX;
	sr->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : SR_DEFAULT_INTERVAL_MS;
	sr->start_time_ms = sr_wall_ms();
	sr->rand_state = (unsigned int)sr->start_time_ms ^ (unsigned int)(uintptr_t)sr;
	atomic_init(&sr->kafka_trouble, false);
	sr->need_register = true;
	sr->info_client = http_client_new(SR_INFO_TIMEOUT_MS, SR_CONNECT_TIMEOUT_MS);
	sr->reg_client = http_client_new(SR_REGISTER_TIMEOUT_MS, SR_CONNECT_TIMEOUT_MS);
	if (!sr->info_client || !sr->reg_client) {
		r = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&sr->mu, NULL);
	clock_cond_init(&sr->cond);
	r = -pthread_create(&sr->thread, NULL, sr_main, sr);
	if (r < 0) {
		pthread_mutex_destroy(&sr->mu);
		pthread_cond_destroy(&sr->cond);
		goto out_free;
	}
	*ret = sr;
	return 0;

out_free:
	http_client_free(sr->info_client);
	http_client_free(sr->reg_client);
	free(sr);
	return r;
}

void status_reporter_wait_first(struct status_reporter *sr, int64_t timeout_ms)
{
	int64_t deadline = sr_mono_ms() + timeout_ms;
	struct timespec ts = {
		.tv_sec = deadline / 1000,
		.tv_nsec = (deadline % 1000) * 1000000,
	};

	pthread_mutex_lock(&sr->mu);
	while (!sr->first_done && !sr->stop)
		if (pthread_cond_timedwait(&sr->cond, &sr->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&sr->mu);
}

void status_reporter_stop(struct status_reporter *sr)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->mu);
	sr->stop = true;
	pthread_cond_broadcast(&sr->cond);
	pthread_mutex_unlock(&sr->mu);
	pthread_join(sr->thread, NULL);
	pthread_mutex_destroy(&sr->mu);
	pthread_cond_destroy(&sr->cond);
	http_client_free(sr->info_client);
	http_client_free(sr->reg_client);
	free(sr);
}
