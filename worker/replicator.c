/* replicator — pull a chunk from a peer worker (replicator.h).
 *
 * Threads: replicator_pull runs on the data API's connection thread that
 * received the replicate call; each pull uses its own http_client (they
 * are not thread-safe) and its own piece buffer. State: a counter of
 * active pulls guarded by mu, with cond to wait for a free slot. The store
 * does its own locking; the local chunk stays readable until the staged
 * copy is renamed over it. */
#include "replicator.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"
#include "token.h"
#include "transport_config.h"

#define REPL_PIECE (8u * 1024 * 1024)
#define REPL_TIMEOUT_MS 60000
#define REPL_CONNECT_TIMEOUT_MS 5000
#define REPL_ADDR_MAX 255

struct replicator {
	struct chunk_store *store;
	struct load_stats *stats;
	pthread_mutex_t mu;    /* guards active */
	pthread_cond_t cond;   /* signalled when active drops */
	int active;
};

int replicator_new(struct chunk_store *store, struct load_stats *stats,
		   struct replicator **ret)
{
	struct replicator *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return -ENOMEM;
	rp->store = store;
	rp->stats = stats;
	pthread_mutex_init(&rp->mu, NULL);
	pthread_cond_init(&rp->cond, NULL);
	*ret = rp;
	return 0;
}

void replicator_free(struct replicator *rp)
{
	if (!rp)
		return;
	pthread_mutex_destroy(&rp->mu);
	pthread_cond_destroy(&rp->cond);
	free(rp);
}

int replicator_check_addr(const char *addr)
{
	const char *colon;
	char *end;
	long port;
	size_t len = strlen(addr);

	if (len == 0 || len > REPL_ADDR_MAX)
		return -EINVAL;
	if (strspn(addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-:[]") != len)
		return -EINVAL;
	colon = strrchr(addr, ':');
	if (!colon || colon == addr)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	return 0;
}

/* The errno of a non-2xx answer from the source, as this call reports it:
 * the source's errno, except that a refused token is the source's
 * problem, not the caller's (-EIO rather than -EACCES). */
static int repl_http_error(const struct http_call *call)
{
	int err = EIO;
	json_t *body = NULL;
	uint32_t e;

	if (call->out_len > 0 && call->out)
		body = ju_parse_object(call->out, call->out_len);
	else if (call->out_alloc)
		body = ju_parse_object(call->out_alloc, call->out_len);
	if (body && ju_u32(body, "errno", &e) == 0 && e > 0 && e < 4096)
		err = (int)e;
	json_decref(body);
	if (err == EACCES || err == EPERM)
		err = EIO;
	return -err;
}

/* GET the length of the chunk at the source. */
static int repl_fetch_length(struct http_client *hc, const char *base, const char *query,
			     uint32_t version, uint32_t *ret)
{
	char url[1024];
	struct http_call call = { .method = "GET", .url = url };
	json_t *body = NULL;
	uint32_t v, len;
	int r;

	snprintf(url, sizeof(url), "%s/info?%s", base, query);
	r = http_client_call(hc, &call);
	if (r < 0)
		return r;
	if (call.status != 200) {
		r = repl_http_error(&call);
		goto out_free;
	}
	body = ju_parse_object(call.out_alloc, call.out_len);
	if (!body || ju_u32(body, "version", &v) < 0 || ju_u32(body, "length", &len) < 0 ||
	    v != version || len > CHUNK_SIZE_MAX) {
		r = -EIO;
		goto out_free;
	}
	*ret = len;
out_free:
	json_decref(body);
	free(call.out_alloc);
	return r;
}

static void repl_acquire(struct replicator *rp)
{
	pthread_mutex_lock(&rp->mu);
	while (rp->active >= REPLICATOR_MAX_ACTIVE)
		pthread_cond_wait(&rp->cond, &rp->mu);
	rp->active++;
	pthread_mutex_unlock(&rp->mu);
}

static void repl_release(struct replicator *rp)
{
	pthread_mutex_lock(&rp->mu);
	rp->active--;
	pthread_cond_signal(&rp->cond);
	pthread_mutex_unlock(&rp->mu);
}

int replicator_pull(struct replicator *rp, uint64_t id, uint32_t version,
		    const char *source, const char *source_token, uint32_t *ret_length)
{
	char idtxt[CHUNK_ID_STRLEN + 1], tok[3 * TOKEN_MAX + 1];
	char base[REPL_ADDR_MAX + 64], query[4 * TOKEN_MAX], url[1024];
	struct chunk_staging *st = NULL;
	struct http_client *hc;
	unsigned char *buf = NULL;
	uint32_t length = 0, got = 0;
	int r;

	r = replicator_check_addr(source);
	if (r < 0)
		return r;
	if (http_urlencode(source_token, tok, sizeof(tok)) < 0)
		return -EINVAL;
	chunk_id_format(id, idtxt);
	snprintf(base, sizeof(base), "%s://%s/v1/chunk/%s", transport_scheme(), source, idtxt);
	snprintf(query, sizeof(query), "version=%" PRIu32 "&token=%s", version, tok);

	repl_acquire(rp);
	hc = http_client_new(REPL_TIMEOUT_MS, REPL_CONNECT_TIMEOUT_MS);
	if (!hc) {
		r = -ENOMEM;
		goto out_release;
	}
	r = repl_fetch_length(hc, base, query, version, &length);
	if (r < 0)
		goto out_client;
	buf = malloc(length < REPL_PIECE ? (length ? length : 1) : REPL_PIECE);
	if (!buf) {
		r = -ENOMEM;
		goto out_client;
	}
	r = chunk_store_stage_begin(rp->store, id, version, &st);
	if (r < 0)
		goto out_client;
	while (got < length) {
		uint32_t n = length - got < REPL_PIECE ? length - got : REPL_PIECE;
		struct http_call call = {
			.method = "GET", .url = url, .out = buf, .out_cap = n,
		};

		snprintf(url, sizeof(url), "%s?%s&offset=%" PRIu32 "&length=%" PRIu32, base,
			 query, got, n);
		r = http_client_call(hc, &call);
		if (r == -EOVERFLOW)
			r = -EIO;       /* an error body longer than the piece */
		if (r < 0)
			goto out_abort;
		if (call.status != 200) {
			r = repl_http_error(&call);
			goto out_abort;
		}
		if (call.out_len != n) {
			r = -EIO;
			goto out_abort;
		}
		load_stats_add(rp->stats, n, 0);
		r = chunk_store_stage_append(st, buf, n);
		if (r < 0)
			goto out_abort;
		got += n;
	}
	r = chunk_store_stage_commit(st, ret_length);
	st = NULL;
	if (r == 0)
		log_info("replicated chunk %s v%" PRIu32 " (%" PRIu32 " bytes) from %s", idtxt,
			 version, length, source);
out_abort:
	chunk_store_stage_abort(st);
out_client:
	free(buf);
	http_client_free(hc);
out_release:
	repl_release(rp);
	load_stats_replicated(rp->stats, r == 0, r == 0 ? length : 0);
	if (r < 0)
		log_warn("replication of chunk %s v%" PRIu32 " from %s failed: %s", idtxt, version,
			 source, strerror(-r));
	return r;
}
