/* metalog — the metadata log on Kafka, standby masters and the election
 * (metalog.h; the protocol and its failure cases: docs/metalog.md).
 *
 * Threads:
 *   follower    standby phase: brings the store up to the log (restoring
 *               a checkpoint if need be), follows the log, applies what
 *               counts, claims the lead; exits once this master leads.
 *   writer      leading: packs the transactions committed since its last
 *               record into one TXNS record (group commit), or a BEAT when
 *               idle, produces it, waits for the delivery and takes it into
 *               its state (reading any records of others before it), then
 *               wakes the waiting transactions.
 *   checkpointer leading: a checkpoint after taking the lead, every
 *               checkpoint_ms, and on demand.
 * `lock` guards everything below it in struct metalog; the store's mutex
 * is taken before it (prepare/finish run under the store's mutex), never
 * the other way round. */
#include "metalog.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

#include "auth.h"
#include "clock.h"
#include "kafka_opts.h"
#include "log.h"
#include "meta_store.h"
#include "token.h"

#define ML_BATCH_MAX (900 * 1024)          /* one TXNS record, bytes */
#define ML_PART_MAX (512 * 1024)           /* one checkpoint part */
#define ML_STATE_MAX 2048
#define ML_FETCH_WAIT_MS "20"

enum role { R_STARTING, R_RESTORING, R_STANDBY, R_ACTIVE, R_FENCED, R_STOPPED, R_FAILED };

/* One committed transaction waiting for the log. */
struct pending {
	struct pending *next;
	uint64_t seq;
	uint64_t chain_before;
	bool ready;                     /* committed (finish ok) */
	size_t n;
	unsigned char cs[];
};

struct metalog {
	struct metalog_config cfg;
	char id[ML_ID_MAX + 1];
	char url[ML_URL_MAX + 1];
	char db_path[4200];
	struct meta_store *ms;
	rd_kafka_t *prod;               /* the log: idempotent, in order */
	rd_kafka_t *ckprod;             /* checkpoints */
	rd_kafka_t *cons;               /* reading any topic (legacy API) */
	pthread_t follower, writer, checkpointer;
	bool writer_started, checkpointer_started, follower_started;

	pthread_mutex_t lock;
	pthread_cond_t cond;            /* any change below */
	enum role role;
	bool stop;
	bool lost_called;
	int fatal;                      /* store cannot be brought up */
	struct ml_state sm;             /* the log as taken in so far */
	uint64_t head_seq, head_chain;  /* leader: last committed change */
	struct pending *pend, **pend_tail;
	uint64_t confirmed_seq;         /* leader: on the log */
	int64_t lease_until;            /* monotonic ms */
	int64_t last_alive;             /* standby: leader last seen (mono) */
	int64_t leader_time_ms;         /* wall time of its last record */
	uint64_t applied, records, batches, beats, checkpoints;
	int64_t checkpoint_seq;
	uint64_t ckpt_asked, ckpt_done; /* on-demand requests and completions */
	uint64_t log_bytes;             /* leader: bytes written to the log */
	uint64_t log_bytes_at_ckpt;
	int ckpt_rc;
};

static const char *const role_names[] = { "starting", "restoring", "standby",
					  "active", "fenced", "stopped", "failed" };

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Kafka clients ------------------------------------------------------ */

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	log_msg(level <= 3 ? LOG_WARNING : LOG_DEBUG, "metalog kafka %s: %s", fac, buf);
}

struct dr {
	bool done;
	rd_kafka_resp_err_t err;
	int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	struct dr *d = m->_private;
	if (!d)
		return;
	d->done = true;
	d->err = m->err;
	d->offset = m->offset;
}

static rd_kafka_t *make_client(struct metalog *ml, rd_kafka_type_t type,
			       const char *const *kv)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, on_log);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", ml->cfg.brokers, err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", "bigfs-master-metalog", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK)
		goto bad;
	for (; kv && kv[0]; kv += 2)
		if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
			goto bad;
	if (kafka_opts_apply(conf, ml->cfg.kopts, err, sizeof(err)) < 0)
		goto bad;
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (!rk)
		log_err("metalog: cannot create a Kafka client: %s", err);
	return rk;
bad:
	rd_kafka_conf_destroy(conf);
	log_err("metalog: bad Kafka configuration: %s", err);
	return NULL;
}

static void know_topic(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	if (!t)
		return;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 5000);
	if (e)
		log_debug("metalog: no metadata for %s yet: %s", topic, rd_kafka_err2str(e));
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
}

static int make_clients(struct metalog *ml)
{
	static const char *const log_kv[] = {
		"enable.idempotence", "true", "linger.ms", "0",
		"message.max.bytes", "67108864", "message.timeout.ms", "30000", NULL,
	};
	static const char *const ck_kv[] = {
		"acks", "all", "linger.ms", "5", "message.max.bytes", "67108864",
		"message.timeout.ms", "60000", NULL,
	};
	static const char *const cons_kv[] = {
		"group.id", "bigfs-master-metalog", "enable.auto.commit", "false",
		"enable.partition.eof", "true", "auto.offset.reset", "error",
		"fetch.wait.max.ms", ML_FETCH_WAIT_MS, "fetch.message.max.bytes", "67108864",
		"receive.message.max.bytes", "134217728", NULL,
	};
	ml->prod = make_client(ml, RD_KAFKA_PRODUCER, log_kv);
	ml->ckprod = make_client(ml, RD_KAFKA_PRODUCER, ck_kv);
	ml->cons = make_client(ml, RD_KAFKA_CONSUMER, cons_kv);
	if (!ml->prod || !ml->ckprod || !ml->cons)
		return -EIO;
	/* A producer learns a topic's partitions when it first sends to it and
	 * only moves the waiting message a timer tick (1 s) later: learn them
	 * now, so a claim or a checkpoint does not wait for that tick. */
	know_topic(ml->prod, METALOG_TOPIC);
	know_topic(ml->ckprod, METALOG_TOPIC_CKPT);
	know_topic(ml->ckprod, METALOG_TOPIC_CKPT_INDEX);
	return 0;
}

/* Produce one message to partition part and wait for its delivery: 0
 * with *offset, or -EIO (logged). */
static int produce_to(rd_kafka_t *rk, const char *topic, int32_t part, const void *p,
		      size_t len, int timeout_ms, int64_t *offset)
{
	struct dr d = { .offset = -1 };
	rd_kafka_resp_err_t e = rd_kafka_producev(
		rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
		RD_KAFKA_V_VALUE((void *)p, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
	if (e) {
		log_warn("metalog: cannot send to %s: %s", topic, rd_kafka_err2str(e));
		return -EIO;
	}
	int64_t deadline = clock_now_ms() + timeout_ms;
	while (!d.done && clock_now_ms() < deadline)
		rd_kafka_flush(rk, 100);
	if (!d.done) {
		/* it stays queued; its opaque must outlive it: purge it */
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(rk, 1000);
		if (!d.done) {
			log_err("metalog: a record to %s is still undelivered after a purge", topic);
			abort();
		}
		log_warn("metalog: no delivery of a record to %s within %d ms", topic, timeout_ms);
		return -EIO;
	}
	if (d.err) {
		log_warn("metalog: a record to %s was not delivered: %s", topic,
			 rd_kafka_err2str(d.err));
		return -EIO;
	}
	*offset = d.offset;
	return 0;
}

static int produce_wait(rd_kafka_t *rk, const char *topic, const void *p, size_t len,
			int timeout_ms, int64_t *offset)
{
	return produce_to(rk, topic, 0, p, len, timeout_ms, offset);
}

/* A reader positioned at offset of topic's partition 0. */
struct reader {
	rd_kafka_topic_t *t;
	int32_t part;
	bool started;
};

static int reader_open_part(struct metalog *ml, struct reader *r, const char *topic,
			    int32_t part, int64_t offset)
{
	r->t = rd_kafka_topic_new(ml->cons, topic, NULL);
	r->part = part;
	r->started = false;
	if (!r->t)
		return -ENOMEM;
	if (rd_kafka_consume_start(r->t, part, offset) < 0) {
		log_warn("metalog: cannot read %s at %" PRId64 ": %s", topic, offset,
			 rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_topic_destroy(r->t);
		r->t = NULL;
		return -EIO;
	}
	r->started = true;
	return 0;
}

static int reader_open(struct metalog *ml, struct reader *r, const char *topic, int64_t offset)
{
	return reader_open_part(ml, r, topic, 0, offset);
}

static void reader_close(struct reader *r)
{
	if (r->t) {
		if (r->started)
			rd_kafka_consume_stop(r->t, r->part);
		rd_kafka_topic_destroy(r->t);
	}
	r->t = NULL;
}

/* Next message: 1 with *m (destroy it), 0 at the partition's end or on a
 * timeout, -ERANGE if the offset is gone, -EIO. */
static int reader_next(struct reader *r, int timeout_ms, rd_kafka_message_t **m)
{
	rd_kafka_message_t *msg = rd_kafka_consume(r->t, r->part, timeout_ms);
	if (!msg)
		return 0;
	if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		rd_kafka_message_destroy(msg);
		return 0;
	}
	if (msg->err) {
		/* out of range: Kafka's retention deleted that part of the log */
		int rc = msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
					 msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
				 ? -ERANGE : -EIO;
		log_warn("metalog: reading %s: %s", rd_kafka_topic_name(r->t),
			 rd_kafka_err2str(msg->err));
		rd_kafka_message_destroy(msg);
		return rc;
	}
	*m = msg;
	return 1;
}

/* The message at offset of topic (exactly), within timeout_ms. */
static int read_at(struct metalog *ml, const char *topic, int64_t offset, int timeout_ms,
		   rd_kafka_message_t **ret)
{
	struct reader r;
	int rc = reader_open(ml, &r, topic, offset);
	int64_t deadline = clock_now_ms() + timeout_ms;
	while (rc == 0 && clock_now_ms() < deadline) {
		rd_kafka_message_t *m;
		rc = reader_next(&r, 100, &m);
		if (rc == 1) {
			if (m->offset == offset) {
				*ret = m;
				reader_close(&r);
				return 0;
			}
			rd_kafka_message_destroy(m);
			rc = 0;
		}
	}
	reader_close(&r);
	return rc < 0 ? rc : -ETIMEDOUT;
}

/* ---- the store's own record ------------------------------------------- */

/* {"db": state of the database's contents, "hint": a state the log had at
 * hint.offset, at or before db} */
static int state_put(struct meta_store *ms, const struct ml_state *db, const struct ml_state *hint)
{
	char *a = ml_state_to_json(db), *b = ml_state_to_json(hint);
	char buf[ML_STATE_MAX];
	int rc = -ENOMEM;
	if (a && b) {
		int n = snprintf(buf, sizeof(buf), "{\"db\":%s,\"hint\":%s}", a, b);
		rc = n > 0 && n < (int)sizeof(buf) ? meta_state_put(ms, buf, (size_t)n) : -EOVERFLOW;
	}
	free(a);
	free(b);
	return rc;
}

static int state_parse(const char *buf, size_t len, struct ml_state *db, struct ml_state *hint)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	int rc = -EINVAL;
	if (o) {
		char *a = json_dumps(json_object_get(o, "db"), JSON_COMPACT);
		char *b = json_dumps(json_object_get(o, "hint"), JSON_COMPACT);
		if (a && b && ml_state_from_json(a, strlen(a), db) == 0 &&
		    ml_state_from_json(b, strlen(b), hint) == 0)
			rc = 0;
		free(a);
		free(b);
		json_decref(o);
	}
	return rc;
}

/* The store's record, or a fresh one (seq 0, nothing known). */
static int state_get(struct meta_store *ms, struct ml_state *db, struct ml_state *hint)
{
	char buf[ML_STATE_MAX];
	size_t len = 0;
	int rc = meta_txn_begin(ms, false);
	if (rc < 0)
		return rc;
	rc = meta_state_get(ms, buf, sizeof(buf), &len);
	meta_txn_end(ms, 0);
	ml_state_init(db);
	ml_state_init(hint);
	if (rc < 0 || len == 0)
		return rc;
	if (state_parse(buf, len, db, hint) < 0) {
		log_err("metalog: the database's record of its place in the log is unreadable");
		return -EIO;
	}
	return 0;
}

/* ---- checkpoints --------------------------------------------------------- */

/* The image is compressed (zlib) and cut into parts of ML_PART_MAX bytes,
 * spread over the partitions of bigfs.checkpoints (part i on partition
 * i mod P: a broker that keeps little per partition, like the development
 * one, still holds a big checkpoint). A part: "BCP1", id u64, index u32,
 * count u32, data; then the MAC. The manifest on bigfs.checkpoint-index:
 * JSON {id, parts, size, zsize, sha256 (of the image), locs: [[partition,
 * offset]...], state}, then the MAC. */
static int sign_append(struct metalog *ml, unsigned char *buf, size_t len)
{
	unsigned char mac[AUTH_KEY_LEN];
	if (auth_hmac_sha256(ml->cfg.secret->key, ml->cfg.secret->len, buf, len, mac) < 0)
		return -ENOMEM;
	memcpy(buf + len, mac, AUTH_KEY_LEN);
	return 0;
}

static bool signed_ok(struct metalog *ml, const unsigned char *buf, size_t len)
{
	unsigned char mac[AUTH_KEY_LEN];
	return len >= AUTH_KEY_LEN &&
	       auth_hmac_sha256(ml->cfg.secret->key, ml->cfg.secret->len, buf,
				len - AUTH_KEY_LEN, mac) == 0 &&
	       CRYPTO_memcmp(mac, buf + len - AUTH_KEY_LEN, AUTH_KEY_LEN) == 0;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#define PART_HDR 20

static int32_t checkpoint_partitions(struct metalog *ml)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(ml->ckprod, METALOG_TOPIC_CKPT, NULL);
	int32_t n = 1;
	if (t && rd_kafka_metadata(ml->ckprod, 0, t, &md, 5000) == 0 && md &&
	    md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	if (t)
		rd_kafka_topic_destroy(t);
	return n;
}

/* Write image (a database at state st) as a checkpoint. 0 or -errno. */
static int checkpoint_write(struct metalog *ml, const void *image, size_t len,
			    const struct ml_state *st)
{
	uint64_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		return -EIO;
	uLongf zlen = compressBound(len);
	unsigned char *z = malloc(zlen);
	if (!z)
		return -ENOMEM;
	if (compress2(z, &zlen, image, len, 1) != Z_OK) {
		free(z);
		return -EIO;
	}
	int32_t nparts_k = checkpoint_partitions(ml);
	uint32_t nparts = (uint32_t)((zlen + ML_PART_MAX - 1) / ML_PART_MAX);
	if (nparts == 0)
		nparts = 1;
	unsigned char *buf = malloc(PART_HDR + ML_PART_MAX + AUTH_KEY_LEN);
	json_t *locs = json_array();
	int rc = buf && locs ? 0 : -ENOMEM;
	for (uint32_t i = 0; i < nparts && rc == 0; i++) {
		size_t off = (size_t)i * ML_PART_MAX;
		size_t n = zlen - off < ML_PART_MAX ? zlen - off : ML_PART_MAX;
		memcpy(buf, "BCP1", 4);
		for (int k = 0; k < 8; k++)
			buf[4 + k] = (unsigned char)(id >> (8 * k));
		for (int k = 0; k < 4; k++) {
			buf[12 + k] = (unsigned char)(i >> (8 * k));
			buf[16 + k] = (unsigned char)(nparts >> (8 * k));
		}
		memcpy(buf + PART_HDR, z + off, n);
		if ((rc = sign_append(ml, buf, PART_HDR + n)) < 0)
			break;
		int32_t part = (int32_t)(i % (uint32_t)nparts_k);
		int64_t o;
		rc = produce_to(ml->ckprod, METALOG_TOPIC_CKPT, part, buf,
				PART_HDR + n + AUTH_KEY_LEN, 60000, &o);
		if (rc == 0)
			json_array_append_new(locs, json_pack("[i, I]", part, (json_int_t)o));
	}
	free(buf);
	free(z);
	if (rc < 0) {
		json_decref(locs);
		return rc;
	}
	char sha[65], idtxt[17], *stxt = ml_state_to_json(st);
	json_t *stj = stxt ? json_loads(stxt, 0, NULL) : NULL;
	free(stxt);
	sha256_hex(image, len, sha);
	snprintf(idtxt, sizeof(idtxt), "%016" PRIx64, id);
	json_t *man = json_pack("{s:s, s:i, s:I, s:I, s:s, s:I, s:o, s:o*}", "id", idtxt, "parts",
				(int)nparts, "size", (json_int_t)len, "zsize", (json_int_t)zlen,
				"sha256", sha, "time_ms", (json_int_t)wall_ms(), "locs", locs,
				"state", stj);
	char *text = man ? json_dumps(man, JSON_COMPACT) : NULL;
	json_decref(man);
	if (!text)
		return -ENOMEM;
	size_t tl = strlen(text);
	unsigned char *mb = malloc(tl + AUTH_KEY_LEN);
	if (!mb) {
		free(text);
		return -ENOMEM;
	}
	memcpy(mb, text, tl);
	free(text);
	int64_t o;
	rc = sign_append(ml, mb, tl);
	if (rc == 0)
		rc = produce_wait(ml->ckprod, METALOG_TOPIC_CKPT_INDEX, mb, tl + AUTH_KEY_LEN, 60000, &o);
	free(mb);
	return rc;
}

/* The parts of checkpoint id listed in locs, in order, into z (zsize). */
static bool checkpoint_parts(struct metalog *ml, uint64_t id, json_t *locs, unsigned char *z,
			     size_t zsize)
{
	size_t nparts = json_array_size(locs), got = 0;
	size_t *at = calloc(nparts ? nparts : 1, sizeof(*at));
	size_t *len = calloc(nparts ? nparts : 1, sizeof(*len));
	bool ok = at && len && nparts > 0;
	/* one pass per partition, from its first part's offset on */
	for (size_t i = 0; ok && i < nparts; i++) {
		json_int_t part, off;
		if (json_unpack(json_array_get(locs, i), "[I, I]", &part, &off) != 0 || part < 0 ||
		    part > INT32_MAX || off < 0) {
			ok = false;
			break;
		}
		if (len[i])
			continue;  /* read in an earlier pass */
		struct reader r;
		if (reader_open_part(ml, &r, METALOG_TOPIC_CKPT, (int32_t)part, off) < 0) {
			ok = false;
			break;
		}
		/* the parts of this partition not read yet */
		size_t want = 0;
		for (size_t j = i; j < nparts; j++) {
			json_int_t pj;
			if (json_unpack(json_array_get(locs, j), "[I, I]", &pj, &off) == 0 && pj == part)
				want++;
		}
		while (ok && want > 0) {
			rd_kafka_message_t *m;
			if (reader_next(&r, 10000, &m) != 1) {
				ok = false;
				break;
			}
			const unsigned char *p = m->payload;
			if (m->len >= PART_HDR + AUTH_KEY_LEN && signed_ok(ml, p, m->len) &&
			    !memcmp(p, "BCP1", 4)) {
				uint64_t pid = 0;
				uint32_t idx = 0;
				for (int k = 0; k < 8; k++)
					pid |= (uint64_t)p[4 + k] << (8 * k);
				for (int k = 0; k < 4; k++)
					idx |= (uint32_t)p[12 + k] << (8 * k);
				size_t n = m->len - PART_HDR - AUTH_KEY_LEN;
				if (pid == id && idx < nparts && !len[idx] && n > 0) {
					at[idx] = (size_t)idx * ML_PART_MAX;
					if (at[idx] + n > zsize) {
						ok = false;
					} else {
						memcpy(z + at[idx], p + PART_HDR, n);
						len[idx] = n;
						got += n;
						want--;
					}
				}
			}
			rd_kafka_message_destroy(m);
		}
		reader_close(&r);
	}
	ok = ok && got == zsize;
	free(at);
	free(len);
	return ok;
}

/* The latest complete checkpoint: 0 with *image (free) and *st, -ENOENT
 * when there is none, -EIO. */
static int checkpoint_read(struct metalog *ml, void **image, size_t *ret_len,
			   struct ml_state *st)
{
	int64_t lo = 0, hi = 0;
	rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
		ml->cons, METALOG_TOPIC_CKPT_INDEX, 0, &lo, &hi, 5000);
	if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return -ENOENT;
	if (e) {
		log_warn("metalog: cannot read the checkpoint index: %s", rd_kafka_err2str(e));
		return -EIO;
	}
	/* the newest manifest that checks out */
	for (int64_t at = hi - 1; at >= lo; at--) {
		rd_kafka_message_t *m;
		int rc = read_at(ml, METALOG_TOPIC_CKPT_INDEX, at, 10000, &m);
		if (rc < 0)
			return rc == -ETIMEDOUT ? -EIO : rc;
		json_t *o = NULL;
		if (signed_ok(ml, m->payload, m->len))
			o = json_loadb(m->payload, m->len - AUTH_KEY_LEN, 0, NULL);
		rd_kafka_message_destroy(m);
		json_int_t size, zsize;
		const char *sha, *idtxt;
		json_t *stj, *locs;
		char *stxt = NULL;
		unsigned char *z = NULL, *img = NULL;
		bool ok = o && json_unpack(o, "{s:s, s:I, s:I, s:s, s:o, s:o}", "id", &idtxt, "size",
					   &size, "zsize", &zsize, "sha256", &sha, "locs", &locs,
					   "state", &stj) == 0 &&
			  size > 0 && zsize > 0 && size < ((json_int_t)1 << 40) &&
			  zsize < ((json_int_t)1 << 40) && json_is_array(locs);
		if (ok) {
			stxt = json_dumps(stj, JSON_COMPACT);
			ok = stxt && ml_state_from_json(stxt, strlen(stxt), st) == 0;
		}
		if (ok) {
			z = malloc((size_t)zsize);
			img = malloc((size_t)size);
			ok = z && img &&
			     checkpoint_parts(ml, strtoull(idtxt, NULL, 16), locs, z, (size_t)zsize);
		}
		if (ok) {
			uLongf out = (uLongf)size;
			char have[65];
			ok = uncompress(img, &out, z, (uLong)zsize) == Z_OK && out == (uLongf)size;
			if (ok) {
				sha256_hex(img, (size_t)size, have);
				ok = strcmp(have, sha) == 0;
			}
		}
		free(stxt);
		free(z);
		json_decref(o);
		if (ok) {
			*image = img;
			*ret_len = (size_t)size;
			return 0;
		}
		free(img);
		log_warn("metalog: the checkpoint listed at index offset %" PRId64
			 " is incomplete, gone or damaged", at);
	}
	return -ENOENT;
}

/* Replace the store by the latest checkpoint. 0 with *st the state it
 * covers, -ENOENT if there is none yet, -EIO. The store is reopened. */
static int restore_checkpoint(struct metalog *ml, struct ml_state *st)
{
	void *img = NULL;
	size_t len = 0;
	int rc = checkpoint_read(ml, &img, &len, st);
	if (rc < 0)
		return rc;
	meta_close(ml->ms);
	ml->ms = NULL;
	rc = meta_replace_file(ml->db_path, img, len);
	free(img);
	if (rc < 0) {
		log_err("metalog: cannot write the checkpoint to %s: %s", ml->db_path, strerror(-rc));
		return -EIO;
	}
	rc = meta_open(ml->db_path, ml->cfg.default_goal, &ml->ms);
	if (rc < 0)
		return -EIO;
	if ((rc = meta_txn_begin(ml->ms, true)) == 0)
		rc = meta_txn_end(ml->ms, state_put(ml->ms, st, st));
	if (rc < 0)
		return -EIO;
	log_info("metalog: restored the checkpoint at seq %" PRIu64 " (epoch %" PRIu64
		 ", log offset %" PRId64 ", %zu bytes)", st->seq, st->epoch, st->offset, len);
	pthread_mutex_lock(&ml->lock);
	ml->checkpoint_seq = (int64_t)st->seq;
	pthread_mutex_unlock(&ml->lock);
	return 0;
}

/* ---- following the log (standby) ----------------------------------------- */

static void set_role(struct metalog *ml, enum role r)
{
	pthread_mutex_lock(&ml->lock);
	if (ml->role != r)
		log_info("metalog: %s -> %s", role_names[ml->role], role_names[r]);
	ml->role = r;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
}

static bool stopping(struct metalog *ml)
{
	pthread_mutex_lock(&ml->lock);
	bool s = ml->stop;
	pthread_mutex_unlock(&ml->lock);
	return s;
}

/* What the follower is doing with the store. */
struct follow {
	struct ml_state db;             /* the store's contents */
	bool fresh;                     /* store never followed any log */
	bool need_restore;
	bool caught_up;                 /* reached the end once */
	int64_t claim_offset;           /* our claim's offset, -1 */
	uint64_t claim_epoch;
	int64_t claim_sent;             /* mono time the claim was sent */
};

/* Apply the changes of r that the store lacks, in one transaction. */
static int apply_record(struct metalog *ml, struct follow *f, const struct ml_record *r,
			int64_t offset)
{
	size_t pos = 0, n;
	const void *cs;
	uint64_t seq = r->seq, chain = r->chain;
	int rc = meta_txn_begin(ml->ms, true);
	if (rc < 0)
		return rc;
	uint64_t done = 0;
	while (rc == 0 && ml_txn_next(r, &pos, &cs, &n) == 1) {
		seq++;
		chain = ml_chain_next(chain, seq, cs, n);
		if (seq < f->db.seq)
			continue;
		if (seq == f->db.seq) {
			if (chain != f->db.chain)
				rc = -ESTALE;
			continue;
		}
		rc = meta_apply_changeset(ml->ms, cs, n);
		done++;
	}
	struct ml_state after = ml->sm;
	ml_advance(&after, r, offset);
	if (rc == 0 && after.seq >= f->db.seq)
		rc = state_put(ml->ms, &after, &after);
	rc = meta_txn_end(ml->ms, rc);
	if (rc == 0 && after.seq >= f->db.seq) {
		f->db = after;
		pthread_mutex_lock(&ml->lock);
		ml->applied += done;
		pthread_mutex_unlock(&ml->lock);
	}
	return rc;
}

/* Take one log record into the follower's view. -ESTALE: the store
 * differs from the log. */
static int follow_record(struct metalog *ml, struct follow *f, rd_kafka_message_t *m)
{
	struct ml_record r;
	if (ml_decode(m->payload, m->len, ml->cfg.secret->key, ml->cfg.secret->len, &r) < 0) {
		log_warn("metalog: record at offset %" PRId64 " is malformed or not signed with "
			 "the cluster secret: ignored", m->offset);
		pthread_mutex_lock(&ml->lock);
		ml->sm.offset = m->offset;
		pthread_mutex_unlock(&ml->lock);
		return 0;
	}
	enum ml_verdict v = ml_judge(&ml->sm, &r);
	int rc = 0;
	if (v == ML_NEW_LEADER && ml->sm.seq < f->db.seq && !f->fresh)
		return -ESTALE;  /* the log went on without changes this store has */
	bool ours = f->claim_offset == m->offset;
	if (v == ML_NEW_LEADER && f->fresh && !ours) {
		if (ml->cfg.restored) {
			log_err("metalog: --restore: the log already has a history (%s led it); a "
				"dump only starts a new one, in an empty log", r.id);
			return -EEXIST;
		}
		f->need_restore = true;   /* another master's contents lead */
		return 0;
	}
	if (v == ML_APPLY && !f->fresh)
		rc = apply_record(ml, f, &r, m->offset);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ml->lock);
	ml_advance(&ml->sm, &r, m->offset);
	ml->records++;
	if (v == ML_NEW_LEADER || v == ML_APPLY || v == ML_ALIVE) {
		ml->last_alive = clock_now_ms();
		ml->leader_time_ms = r.time_ms;
	}
	pthread_mutex_unlock(&ml->lock);
	if (v == ML_NEW_LEADER)
		log_info("metalog: %s leads (epoch %" PRIu64 ", seq %" PRIu64 ", at %s)", r.id,
			 r.epoch, r.seq, r.url);
	return 0;
}

/* Should this master claim now? (lock held) */
static bool claim_due(struct metalog *ml, const struct follow *f, int64_t started)
{
	int64_t now = clock_now_ms();
	if (!f->caught_up || f->need_restore || f->claim_offset >= 0 || ml->sm.seq < f->db.seq)
		return false;
	if (f->fresh && ml->sm.epoch > 0)
		return false;
	if (ml->sm.epoch == 0)
		return !ml->cfg.standby || now - started >= ml->cfg.failover_ms;
	if (ml->sm.left)
		return true;
	return now - ml->last_alive >= ml->cfg.failover_ms;
}

static int send_claim(struct metalog *ml, struct follow *f)
{
	struct ml_record r = { .kind = ML_CLAIM, .time_ms = wall_ms() };
	struct ml_buf b = { 0 };
	pthread_mutex_lock(&ml->lock);
	r.epoch = ml->sm.epoch + 1;
	r.seq = ml->sm.seq;
	r.chain = ml->sm.chain;
	pthread_mutex_unlock(&ml->lock);
	snprintf(r.id, sizeof(r.id), "%s", ml->id);
	snprintf(r.url, sizeof(r.url), "%s", ml->url);
	int rc = ml_encode_begin(&b, &r);
	if (rc == 0)
		rc = ml_encode_end(&b, ml->cfg.secret->key, ml->cfg.secret->len);
	int64_t sent = clock_now_ms(), off = -1;
	if (rc == 0)
		rc = produce_wait(ml->prod, METALOG_TOPIC, b.p, b.len,
				  (int)(ml->cfg.failover_ms / 2), &off);
	ml_buf_free(&b);
	if (rc == 0) {
		log_info("metalog: claimed the lead (epoch %" PRIu64 " on seq %" PRIu64
			 ") at offset %" PRId64, r.epoch, r.seq, off);
		f->claim_offset = off;
		f->claim_epoch = r.epoch;
		f->claim_sent = sent;
	}
	return rc;
}

static void start_leading(struct metalog *ml, int64_t since);

/* Bring the store up to the log and follow it until this master leads. */
static void *follower_main(void *arg)
{
	struct metalog *ml = arg;
	struct follow f = { .claim_offset = -1 };
	struct ml_state hint;
	int64_t started = clock_now_ms();
	int rc;

again:
	if (state_get(ml->ms, &f.db, &hint) < 0)
		goto fatal;
	f.fresh = f.db.seq == 0 && f.db.epoch == 0;
	f.need_restore = false;
	f.caught_up = false;
	f.claim_offset = -1;
	pthread_mutex_lock(&ml->lock);
	ml->sm = hint;
	if (f.fresh)
		ml_state_init(&ml->sm);
	pthread_mutex_unlock(&ml->lock);
	if (f.fresh && !ml->cfg.restored) {
		/* a new standby starts from the latest checkpoint, if any (the
		 * log before it may be gone); none: a new cluster, from 0 */
		struct ml_state st;
		set_role(ml, R_RESTORING);
		rc = restore_checkpoint(ml, &st);
		if (rc == 0)
			goto again;
		if (rc != -ENOENT)
			goto fatal;
	}
	set_role(ml, R_STANDBY);
	log_info("metalog: the database is at seq %" PRIu64 " (epoch %" PRIu64 "); reading %s "
		 "from offset %" PRId64, f.db.seq, f.db.epoch, METALOG_TOPIC, ml->sm.offset + 1);

	struct reader rd;
	if (reader_open(ml, &rd, METALOG_TOPIC, ml->sm.offset + 1) < 0) {
		if (!stopping(ml))
			clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){ 1, 0 }, NULL);
		if (stopping(ml))
			return NULL;
		goto again;
	}
	while (!stopping(ml)) {
		rd_kafka_message_t *m = NULL;
		rc = reader_next(&rd, 50, &m);
		if (rc == 1) {
			rc = follow_record(ml, &f, m);
			rd_kafka_message_destroy(m);
		} else if (rc == 0) {
			f.caught_up = true;
		}
		if (rc == -ERANGE && ml->cfg.restored) {
			log_err("metalog: --restore: the log already has a history (its start is "
				"gone); a dump only starts a new one, in an empty log");
			reader_close(&rd);
			goto fatal;
		}
		if (rc == -ERANGE || rc == -ESTALE || f.need_restore) {
			reader_close(&rd);
			log_warn("metalog: %s: restoring from the latest checkpoint",
				 rc == -ERANGE ? "the log no longer holds this database's place"
				 : rc == -ESTALE ? "this database holds changes the log does not"
						 : "another master's database leads");
			set_role(ml, R_RESTORING);
			struct ml_state st;
			while ((rc = restore_checkpoint(ml, &st)) == -ENOENT && !stopping(ml)) {
				log_info("metalog: no checkpoint yet; waiting for the leader's first");
				clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){ 1, 0 }, NULL);
			}
			if (stopping(ml))
				return NULL;
			if (rc < 0)
				goto fatal;
			goto again;
		}
		if (rc == -EIO) {
			/* the reader broke: read again from where we are */
			reader_close(&rd);
			f.caught_up = false;
			clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){ 0, 200000000 }, NULL);
			if (stopping(ml) || reader_open(ml, &rd, METALOG_TOPIC, ml->sm.offset + 1) < 0)
				goto again_or_stop;
			continue;
		}
		if (rc < 0) {
			reader_close(&rd);
			goto fatal;
		}
		/* the view after the end of what is there: claim? */
		if (f.caught_up && f.fresh && ml->sm.epoch > 0 && f.claim_offset < 0) {
			if (ml->cfg.restored) {
				reader_close(&rd);
				goto fatal;
			}
			f.need_restore = true;
		}
		if (f.claim_offset >= 0) {
			pthread_mutex_lock(&ml->lock);
			bool seen = ml->sm.offset >= f.claim_offset;
			bool won = seen && ml->sm.epoch == f.claim_epoch &&
				   strcmp(ml->sm.leader, ml->id) == 0;
			pthread_mutex_unlock(&ml->lock);
			if (won) {
				reader_close(&rd);
				start_leading(ml, f.claim_sent);
				return NULL;
			}
			if (seen) {
				log_info("metalog: the claim did not count (another master's came "
					 "first, or the leader wrote again)");
				f.claim_offset = -1;
			}
			continue;
		}
		pthread_mutex_lock(&ml->lock);
		bool due = claim_due(ml, &f, started);
		bool ahead = ml->sm.seq < f.db.seq;
		if (ahead) {
			/* would we claim if the store were not ahead of the log? */
			struct follow g = f;
			g.db.seq = ml->sm.seq;
			ahead = claim_due(ml, &g, started);
		}
		pthread_mutex_unlock(&ml->lock);
		if (ahead) {
			/* nobody leads, and the store has changes the log never
			 * took (its last leader died before they were on it):
			 * they were never acknowledged; the log is the truth */
			f.need_restore = true;
			continue;
		}
		if (due && send_claim(ml, &f) < 0)
			clock_nanosleep(CLOCK_MONOTONIC, 0, &(struct timespec){ 0, 200000000 }, NULL);
	}
	reader_close(&rd);
	return NULL;
again_or_stop:
	if (!stopping(ml))
		goto again;
	return NULL;
fatal:
	pthread_mutex_lock(&ml->lock);
	ml->fatal = -EIO;
	ml->role = R_FAILED;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
	log_err("metalog: cannot bring the database up to the log; this master stays out");
	return NULL;
}

/* ---- leading: the hook ---------------------------------------------------- */

static int hook_prepare(void *arg, const void *cs, size_t n, uint64_t *ticket)
{
	struct metalog *ml = arg;
	struct pending *p = malloc(sizeof(*p) + n);
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&ml->lock);
	if (ml->role != R_ACTIVE) {
		pthread_mutex_unlock(&ml->lock);
		free(p);
		return -EAGAIN;
	}
	p->next = NULL;
	p->seq = ml->head_seq + 1;
	p->chain_before = ml->head_chain;
	p->ready = false;
	p->n = n;
	memcpy(p->cs, cs, n);
	struct ml_state db = ml->sm, hint = ml->sm;
	db.seq = p->seq;
	db.chain = ml_chain_next(p->chain_before, p->seq, cs, n);
	ml->head_seq = db.seq;
	ml->head_chain = db.chain;
	*ml->pend_tail = p;
	ml->pend_tail = &p->next;
	pthread_mutex_unlock(&ml->lock);
	*ticket = p->seq;
	return state_put(ml->ms, &db, &hint);
}

static void hook_finish(void *arg, uint64_t ticket, bool ok)
{
	struct metalog *ml = arg;
	pthread_mutex_lock(&ml->lock);
	struct pending **pp = &ml->pend, *p;
	while ((p = *pp) && p->seq != ticket)
		pp = &p->next;
	if (p) {
		if (ok) {
			p->ready = true;
		} else {
			/* rolled back: the last one; the head goes back */
			ml->head_seq = p->seq - 1;
			ml->head_chain = p->chain_before;
			*pp = NULL;
			ml->pend_tail = pp;
			free(p);
		}
	}
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
}

static int hook_wait(void *arg, uint64_t ticket)
{
	struct metalog *ml = arg;
	int rc = 0;
	pthread_mutex_lock(&ml->lock);
	while (ml->confirmed_seq < ticket && ml->role == R_ACTIVE)
		pthread_cond_wait(&ml->cond, &ml->lock);
	if (ml->confirmed_seq < ticket)
		rc = -EAGAIN;
	pthread_mutex_unlock(&ml->lock);
	return rc;
}

/* ---- leading: the writer ------------------------------------------------- */

static void lose_lead(struct metalog *ml, const char *why)
{
	pthread_mutex_lock(&ml->lock);
	bool call = !ml->lost_called && ml->role == R_ACTIVE;
	if (ml->role == R_ACTIVE) {
		ml->role = R_FENCED;
		log_err("metalog: this master no longer leads: %s", why);
	}
	ml->lost_called = true;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
	if (call && ml->cfg.on_lost)
		ml->cfg.on_lost(ml->cfg.on_lost_arg);
}

/* Take the log from the writer's state up to (not including) offset into
 * the state: others' records. false if one of them counts (we are
 * fenced). */
static bool take_gap(struct metalog *ml, int64_t offset)
{
	struct reader r;
	int64_t from = ml->sm.offset + 1;
	if (reader_open(ml, &r, METALOG_TOPIC, from) < 0)
		return false;
	bool ok = true;
	int64_t deadline = clock_now_ms() + 10000;
	while (ml->sm.offset + 1 < offset) {
		rd_kafka_message_t *m;
		int rc = reader_next(&r, 100, &m);
		if (rc < 0 || clock_now_ms() > deadline) {
			ok = false;
			break;
		}
		if (rc == 0)
			continue;
		struct ml_record rec;
		if (m->offset < offset) {
			pthread_mutex_lock(&ml->lock);
			if (ml_decode(m->payload, m->len, ml->cfg.secret->key, ml->cfg.secret->len,
				      &rec) == 0 &&
			    ml_judge(&ml->sm, &rec) != ML_IGNORED) {
				log_warn("metalog: a record by %s (epoch %" PRIu64 ") counts before ours",
					 rec.id, rec.epoch);
				ok = false;
			}
			if (ok)
				ml->sm.offset = m->offset;
			pthread_mutex_unlock(&ml->lock);
		}
		rd_kafka_message_destroy(m);
		if (!ok)
			break;
	}
	reader_close(&r);
	return ok;
}

/* Send one record and take it in. 0, or -EIO (we no longer lead). */
static int write_record(struct metalog *ml, const struct ml_buf *b, uint64_t last_seq)
{
	int64_t sent = clock_now_ms(), off;
	int rc = produce_wait(ml->prod, METALOG_TOPIC, b->p, b->len,
			      (int)ml->cfg.failover_ms, &off);
	if (rc < 0) {
		lose_lead(ml, "the log did not take a record in time");
		return -EIO;
	}
	if (off != ml->sm.offset + 1 && !take_gap(ml, off)) {
		lose_lead(ml, "another master's record counts before ours");
		return -EIO;
	}
	struct ml_record r;
	pthread_mutex_lock(&ml->lock);
	if (ml_decode(b->p, b->len, ml->cfg.secret->key, ml->cfg.secret->len, &r) < 0 ||
	    ml_judge(&ml->sm, &r) == ML_IGNORED) {
		pthread_mutex_unlock(&ml->lock);
		lose_lead(ml, "our record does not count");
		return -EIO;
	}
	ml_advance(&ml->sm, &r, off);
	if (last_seq > ml->confirmed_seq)
		ml->confirmed_seq = last_seq;
	if (sent + ml->cfg.failover_ms / 2 > ml->lease_until)
		ml->lease_until = sent + ml->cfg.failover_ms / 2;
	ml->records++;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
	return 0;
}

static void *writer_main(void *arg)
{
	struct metalog *ml = arg;
	struct ml_buf b = { 0 };
	int64_t beat_ms = ml->cfg.failover_ms / 5, last_sent = 0;

	pthread_mutex_lock(&ml->lock);
	for (;;) {
		while (!ml->stop && ml->role == R_ACTIVE && !(ml->pend && ml->pend->ready) &&
		       clock_now_ms() - last_sent < beat_ms) {
			struct timespec ts = clock_deadline_ms(beat_ms - (clock_now_ms() - last_sent));
			pthread_cond_timedwait(&ml->cond, &ml->lock, &ts);
		}
		if (ml->role != R_ACTIVE || (ml->stop && !(ml->pend && ml->pend->ready)))
			break;
		struct ml_record r = { .epoch = ml->sm.epoch, .time_ms = wall_ms() };
		snprintf(r.id, sizeof(r.id), "%s", ml->id);
		snprintf(r.url, sizeof(r.url), "%s", ml->url);
		struct pending *take = NULL;
		uint64_t last_seq = 0;
		if (ml->pend && ml->pend->ready) {
			r.kind = ML_TXNS;
			r.seq = ml->pend->seq - 1;
			r.chain = ml->pend->chain_before;
			ml_encode_begin(&b, &r);
			take = ml->pend;
			struct pending *p = take, *lastp = NULL;
			size_t total = 0;
			while (p && p->ready && (total == 0 || total + p->n <= ML_BATCH_MAX)) {
				ml_encode_txn(&b, p->cs, p->n);
				total += p->n;
				last_seq = p->seq;
				lastp = p;
				p = p->next;
			}
			ml->pend = p;
			if (!p)
				ml->pend_tail = &ml->pend;
			lastp->next = NULL;
			ml->batches++;
		} else {
			r.kind = ML_BEAT;
			r.seq = ml->sm.seq;
			r.chain = ml->sm.chain;
			ml_encode_begin(&b, &r);
			ml->beats++;
		}
		pthread_mutex_unlock(&ml->lock);
		int rc = ml_encode_end(&b, ml->cfg.secret->key, ml->cfg.secret->len);
		last_sent = clock_now_ms();
		if (rc == 0)
			rc = write_record(ml, &b, last_seq);
		else
			lose_lead(ml, "out of memory");
		if (rc == 0) {
			pthread_mutex_lock(&ml->lock);
			ml->log_bytes += b.len;
			if (ml->log_bytes - ml->log_bytes_at_ckpt >= ml->cfg.checkpoint_bytes)
				pthread_cond_broadcast(&ml->cond);
			pthread_mutex_unlock(&ml->lock);
		}
		while (take) {
			struct pending *n = take->next;
			free(take);
			take = n;
		}
		pthread_mutex_lock(&ml->lock);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&ml->lock);
	ml_buf_free(&b);
	return NULL;
}

/* ---- leading: checkpoints -------------------------------------------------- */

struct quiesce {
	struct metalog *ml;
	struct ml_state st;
};

/* Under the store's mutex: wait until every committed change is on the
 * log, so the image holds exactly the log's state. */
static int quiesce(void *arg)
{
	struct quiesce *q = arg;
	struct metalog *ml = q->ml;
	int rc = 0;
	struct timespec ts = clock_deadline_ms(10000);
	pthread_mutex_lock(&ml->lock);
	while (ml->role == R_ACTIVE && ml->confirmed_seq < ml->head_seq && rc == 0)
		rc = pthread_cond_timedwait(&ml->cond, &ml->lock, &ts);
	if (ml->role != R_ACTIVE || ml->confirmed_seq < ml->head_seq)
		rc = -EAGAIN;
	q->st = ml->sm;
	pthread_mutex_unlock(&ml->lock);
	return rc;
}

static int checkpoint_once(struct metalog *ml)
{
	struct quiesce q = { .ml = ml };
	void *img;
	size_t len;
	int64_t t0 = clock_now_ms();
	pthread_mutex_lock(&ml->lock);
	uint64_t bytes = ml->log_bytes;
	pthread_mutex_unlock(&ml->lock);
	int rc = meta_snapshot_quiesced(ml->ms, quiesce, &q, &img, &len);
	if (rc < 0)
		return rc;
	log_debug("metalog: checkpoint image of %zu bytes after %" PRId64 " ms", len,
		  clock_now_ms() - t0);
	rc = checkpoint_write(ml, img, len, &q.st);
	meta_snapshot_free(img);
	if (rc == 0) {
		log_info("metalog: checkpoint at seq %" PRIu64 " (log offset %" PRId64 ", %zu bytes, "
			 "%" PRId64 " ms)", q.st.seq, q.st.offset, len, clock_now_ms() - t0);
		pthread_mutex_lock(&ml->lock);
		ml->checkpoints++;
		ml->checkpoint_seq = (int64_t)q.st.seq;
		ml->log_bytes_at_ckpt = bytes;
		pthread_mutex_unlock(&ml->lock);
	} else {
		log_warn("metalog: checkpoint failed: %s", strerror(-rc));
	}
	return rc;
}

static void *checkpointer_main(void *arg)
{
	struct metalog *ml = arg;
	bool first = true;
	int64_t last = clock_now_ms();

	pthread_mutex_lock(&ml->lock);
	while (!ml->stop && ml->role == R_ACTIVE) {
		bool asked = ml->ckpt_asked > ml->ckpt_done;
		bool due = first || clock_now_ms() - last >= ml->cfg.checkpoint_ms ||
			   ml->log_bytes - ml->log_bytes_at_ckpt >= ml->cfg.checkpoint_bytes;
		if (!asked && !due) {
			struct timespec ts = clock_deadline_ms(1000);
			pthread_cond_timedwait(&ml->cond, &ml->lock, &ts);
			continue;
		}
		uint64_t asked_upto = ml->ckpt_asked;
		pthread_mutex_unlock(&ml->lock);
		int rc = checkpoint_once(ml);
		last = clock_now_ms();
		if (rc == 0)
			first = false;
		pthread_mutex_lock(&ml->lock);
		ml->ckpt_done = asked_upto;
		ml->ckpt_rc = rc;
		pthread_cond_broadcast(&ml->cond);
	}
	pthread_mutex_unlock(&ml->lock);
	return NULL;
}

/* The follower's claim counted: hand the store to the leader threads. */
static void start_leading(struct metalog *ml, int64_t since)
{
	static const struct meta_log_hook hook_ops = { hook_prepare, hook_finish, hook_wait, NULL };
	struct meta_log_hook h = hook_ops;
	h.arg = ml;

	pthread_mutex_lock(&ml->lock);
	ml->head_seq = ml->sm.seq;
	ml->head_chain = ml->sm.chain;
	ml->confirmed_seq = ml->sm.seq;
	ml->lease_until = since + ml->cfg.failover_ms / 2;
	ml->pend = NULL;
	ml->pend_tail = &ml->pend;
	pthread_mutex_unlock(&ml->lock);
	meta_set_log_hook(ml->ms, &h);
	set_role(ml, R_ACTIVE);
	if (pthread_create(&ml->writer, NULL, writer_main, ml) == 0)
		ml->writer_started = true;
	if (pthread_create(&ml->checkpointer, NULL, checkpointer_main, ml) == 0)
		ml->checkpointer_started = true;
	if (!ml->writer_started)
		lose_lead(ml, "cannot start the log writer");
	log_info("metalog: this master leads (epoch %" PRIu64 ", seq %" PRIu64 ")", ml->sm.epoch,
		 ml->sm.seq);
}

/* ---- API ------------------------------------------------------------------- */

int metalog_start(const struct metalog_config *cfg, struct metalog **ret)
{
	struct metalog *ml = calloc(1, sizeof(*ml));
	if (!ml)
		return -ENOMEM;
	ml->cfg = *cfg;
	snprintf(ml->id, sizeof(ml->id), "%s", cfg->id);
	snprintf(ml->url, sizeof(ml->url), "%s", cfg->url);
	snprintf(ml->db_path, sizeof(ml->db_path), "%s", cfg->db_path);
	pthread_mutex_init(&ml->lock, NULL);
	clock_cond_init(&ml->cond);
	ml_state_init(&ml->sm);
	ml->checkpoint_seq = -1;
	ml->pend_tail = &ml->pend;
	if (ml->cfg.failover_ms < 500)
		ml->cfg.failover_ms = 500;
	if (ml->cfg.checkpoint_ms <= 0)
		ml->cfg.checkpoint_ms = 600000;
	if (ml->cfg.checkpoint_bytes == 0)
		ml->cfg.checkpoint_bytes = (uint64_t)64 << 20;
	int rc = meta_open(cfg->db_path, cfg->default_goal, &ml->ms);
	if (rc < 0) {
		metalog_free(ml);
		return rc;
	}
	if ((rc = make_clients(ml)) < 0) {
		metalog_free(ml);
		return rc;
	}
	if (pthread_create(&ml->follower, NULL, follower_main, ml) != 0) {
		metalog_free(ml);
		return -EAGAIN;
	}
	ml->follower_started = true;
	log_info("metalog: master %s (%s) follows %s at %s; failover after %" PRId64 " ms",
		 ml->id, ml->url, METALOG_TOPIC, cfg->brokers, ml->cfg.failover_ms);
	*ret = ml;
	return 0;
}

int metalog_wait_leader(struct metalog *ml, struct meta_store **ms)
{
	int rc;
	pthread_mutex_lock(&ml->lock);
	while (!ml->stop && ml->role != R_ACTIVE && !ml->fatal)
		pthread_cond_wait(&ml->cond, &ml->lock);
	rc = ml->role == R_ACTIVE && !ml->stop ? 0 : ml->fatal ? -EIO : -ECANCELED;
	pthread_mutex_unlock(&ml->lock);
	if (rc == 0)
		*ms = ml->ms;
	return rc;
}

bool metalog_serving(struct metalog *ml)
{
	pthread_mutex_lock(&ml->lock);
	bool ok = ml->role == R_ACTIVE && !ml->stop && clock_now_ms() < ml->lease_until;
	pthread_mutex_unlock(&ml->lock);
	return ok;
}

const char *metalog_role(struct metalog *ml)
{
	pthread_mutex_lock(&ml->lock);
	const char *r = role_names[ml->stop ? R_STOPPED : ml->role];
	pthread_mutex_unlock(&ml->lock);
	return r;
}

void metalog_leader_url(struct metalog *ml, char *buf, size_t cap)
{
	pthread_mutex_lock(&ml->lock);
	/* a standby names the leader only while it hears from it: during a
	 * failover, clients should not be sent to a dead one */
	bool known = ml->sm.epoch > 0 && !ml->sm.left &&
		     (ml->role == R_ACTIVE ||
		      clock_now_ms() - ml->last_alive < ml->cfg.failover_ms / 2);
	snprintf(buf, cap, "%s", known ? ml->sm.url : "");
	pthread_mutex_unlock(&ml->lock);
}

int metalog_checkpoint(struct metalog *ml, int64_t timeout_ms)
{
	struct timespec ts = clock_deadline_ms(timeout_ms);
	int rc = 0;
	pthread_mutex_lock(&ml->lock);
	if (ml->role != R_ACTIVE) {
		pthread_mutex_unlock(&ml->lock);
		return -EAGAIN;
	}
	uint64_t mine = ++ml->ckpt_asked;
	pthread_cond_broadcast(&ml->cond);
	while (ml->ckpt_done < mine && ml->role == R_ACTIVE && rc == 0)
		rc = pthread_cond_timedwait(&ml->cond, &ml->lock, &ts);
	if (ml->ckpt_done >= mine)
		rc = ml->ckpt_rc;
	else
		rc = ml->role == R_ACTIVE ? -ETIMEDOUT : -EAGAIN;
	pthread_mutex_unlock(&ml->lock);
	return rc;
}

void metalog_stats(struct metalog *ml, struct metalog_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&ml->lock);
	st->epoch = ml->sm.epoch;
	st->seq = ml->role == R_ACTIVE ? ml->head_seq : ml->sm.seq;
	st->applied = ml->applied;
	st->records = ml->records;
	st->batches = ml->batches;
	st->beats = ml->beats;
	st->offset = ml->sm.offset;
	st->lag_ms = ml->role == R_ACTIVE || !ml->leader_time_ms
			     ? 0 : wall_ms() - ml->leader_time_ms;
	st->checkpoints = ml->checkpoints;
	st->checkpoint_seq = ml->checkpoint_seq;
	snprintf(st->leader, sizeof(st->leader), "%s", ml->sm.leader);
	pthread_mutex_unlock(&ml->lock);
}

void metalog_stop(struct metalog *ml)
{
	if (!ml)
		return;
	pthread_mutex_lock(&ml->lock);
	bool leading = ml->role == R_ACTIVE;
	ml->stop = true;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
	if (ml->follower_started) {
		pthread_join(ml->follower, NULL);
		ml->follower_started = false;
	}
	if (ml->writer_started) {
		pthread_join(ml->writer, NULL);   /* it sends what is committed first */
		ml->writer_started = false;
	}
	if (ml->checkpointer_started) {
		pthread_join(ml->checkpointer, NULL);
		ml->checkpointer_started = false;
	}
	pthread_mutex_lock(&ml->lock);
	bool in_order = leading && ml->role == R_ACTIVE && ml->confirmed_seq == ml->head_seq;
	struct ml_record r = { .kind = ML_LEAVE, .epoch = ml->sm.epoch, .seq = ml->sm.seq,
			       .chain = ml->sm.chain, .time_ms = wall_ms() };
	ml->role = R_STOPPED;
	pthread_cond_broadcast(&ml->cond);
	pthread_mutex_unlock(&ml->lock);
	if (ml->ms)
		meta_set_log_hook(ml->ms, NULL);
	if (in_order) {
		struct ml_buf b = { 0 };
		int64_t off;
		snprintf(r.id, sizeof(r.id), "%s", ml->id);
		snprintf(r.url, sizeof(r.url), "%s", ml->url);
		if (ml_encode_begin(&b, &r) == 0 &&
		    ml_encode_end(&b, ml->cfg.secret->key, ml->cfg.secret->len) == 0 &&
		    produce_wait(ml->prod, METALOG_TOPIC, b.p, b.len, 3000, &off) == 0)
			log_info("metalog: left the lead cleanly (offset %" PRId64 ")", off);
		ml_buf_free(&b);
	}
}

void metalog_free(struct metalog *ml)
{
	if (!ml)
		return;
	metalog_stop(ml);
	if (ml->prod) {
		rd_kafka_flush(ml->prod, 2000);
		rd_kafka_destroy(ml->prod);
	}
	if (ml->ckprod) {
		rd_kafka_flush(ml->ckprod, 2000);
		rd_kafka_destroy(ml->ckprod);
	}
	if (ml->cons)
		/* a reader of assigned partitions, never in a group: nothing to
		 * leave (a consumer close would wait for a coordinator) */
		rd_kafka_destroy_flags(ml->cons, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	while (ml->pend) {
		struct pending *n = ml->pend->next;
		free(ml->pend);
		ml->pend = n;
	}
	pthread_cond_destroy(&ml->cond);
	pthread_mutex_destroy(&ml->lock);
	free(ml);
}

struct meta_store *metalog_store(struct metalog *ml)
{
	return ml->ms;
}
