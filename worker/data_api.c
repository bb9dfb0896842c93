/* data_api — HTTP routes of the worker (data_api.h).
 *
 * Owns: the http_server and a copy of its config. No mutable state of its
 * own: the store and the replicator lock themselves, the load counters are
 * atomic. Every data call goes: parse the chunk id and query (400 EINVAL),
 * check the token for (id, version, op) (403 EACCES), check ranges (400
 * EINVAL), then one call into the store or the replicator, whose -errno
 * becomes the HTTP error (common/errors.h). Bodies are bounded by the
 * route table before anything is allocated (413 E2BIG). Every request is
 * counted in load_stats (in flight while it runs, then by route and the
 * status class of its reply); GET /metrics renders those counters with
 * the store's usage and its folder fsyncs.
 *
 * Each connection thread remembers the last API_TOK_SEEN tokens it found
 * valid (pthread key tok_key, freed with the thread): a mount sends the
 * same token with every call on a chunk, so a call that brings one again
 * for the same chunk, version and op, before it expires, skips the HMAC.
 * Only a byte for byte equal token matches, so nothing forged ever does. */
#include "data_api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"

#define API_SEQ_WINDOW_MIN ((uint64_t)1 << 20)
#define API_TOK_SEEN 8          /* tokens remembered per connection thread */

/* MHD's per-connection memory: a body is read in pieces of half of it,
 * and all of it is zeroed after every request (a 4 KiB read too), half
 * of it again when the read buffer shrinks. 128 KiB: 64 KiB pieces of an
 * 8 MiB body. Measured on a worker alone (8 rounds, 40 x 8 MiB PUTs
 * through the page cache, 5000 4 KiB GETs): against 256 KiB, a GET costs
 * the worker 36 us of CPU instead of 43, an 8 MiB PUT 5.5 ms instead of
 * 5.25 (164 PUT/s instead of 170); 64 KiB costs PUTs 19%. */
#define DATA_API_READ_BUFFER (128 * 1024)

struct data_api {
	struct data_api_config cfg;
	struct http_server *srv;
	time_t start_time;
	pthread_key_t tok_key;      /* struct api_tok_seen of each thread */
};

/* The last tokens a connection thread found valid, and for what. */
struct api_tok_seen {
	struct {
		uint64_t id;
		uint32_t version;
		char op[TOKEN_OP_MAX + 1];  /* "" for an empty slot */
		long long expiry;
		char token[TOKEN_MAX];
	} e[API_TOK_SEEN];
	unsigned next;              /* the slot the next one takes */
};

/* What a chunk call is about, parsed from the path and the query. */
struct chunk_call {
	uint64_t id;
	uint32_t version;
	char idtxt[CHUNK_ID_STRLEN + 1];
	const char *action;      /* path part after "ID/", "" for none */
};

/* ---- request helpers ---------------------------------------------------- */

/* Split "ID" or "ID/action" (the rest of a /v1/chunk/ path). */
static int api_parse_path(struct http_request *req, struct chunk_call *cc)
{
	const char *rest = http_req_path_rest(req);
	char idbuf[CHUNK_ID_STRLEN + 1];
	size_t idlen = strcspn(rest, "/");

	if (idlen != CHUNK_ID_STRLEN) {
		http_reply_error(req, EINVAL, "bad chunk id in %s", http_req_path(req));
		return -EINVAL;
	}
	memcpy(idbuf, rest, idlen);
	idbuf[idlen] = '\0';
	if (chunk_id_parse(idbuf, &cc->id) < 0) {
		http_reply_error(req, EINVAL, "bad chunk id in %s", http_req_path(req));
		return -EINVAL;
	}
	chunk_id_format(cc->id, cc->idtxt);
	cc->action = rest[idlen] == '/' ? rest + idlen + 1 : "";
	return 0;
}

/* Required unsigned query parameter no bigger than max. */
static int api_query_u64(struct http_request *req, const char *key, uint64_t max,
			 uint64_t *ret)
{
	uint64_t v;
	int r = http_req_query_u64(req, key, &v);

	if (r == -ENOENT) {
		http_reply_error(req, EINVAL, "missing query parameter '%s'", key);
		return -EINVAL;
	}
	if (r < 0 || v > max) {
		http_reply_error(req, EINVAL, "bad query parameter '%s'", key);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int api_query_version(struct http_request *req, struct chunk_call *cc)
{
	uint64_t v;
	int r = api_query_u64(req, "version", UINT32_MAX, &v);

	if (r == 0)
		cc->version = (uint32_t)v;
	return r;
}

/* Whether this thread found tok valid for (id, version, op) lately, and
 * it has not expired at now (token_check's rule: valid through its EXPIRY
 * second). */
static bool api_token_seen(struct data_api *api, uint64_t id, uint32_t version,
			   const char *op, const char *tok, time_t now)
{
	const struct api_tok_seen *t = pthread_getspecific(api->tok_key);

	for (unsigned i = 0; t && i < API_TOK_SEEN; i++)
		if (t->e[i].id == id && t->e[i].version == version &&
		    strcmp(t->e[i].op, op) == 0 && t->e[i].expiry >= (long long)now &&
		    strcmp(t->e[i].token, tok) == 0)
			return true;
	return false;
}

/* Remember tok, just found valid, for this thread, in place of the oldest
 * one. Not remembering (out of memory) only costs the next call an HMAC. */
static void api_token_remember(struct data_api *api, uint64_t id, uint32_t version,
			       const char *op, const char *tok)
{
	struct api_tok_seen *t = pthread_getspecific(api->tok_key);
	unsigned i;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(api->tok_key, t) != 0) {
			free(t);
			return;
		}
	}
	i = t->next;
	t->next = (i + 1) % API_TOK_SEEN;
	t->e[i].id = id;
	t->e[i].version = version;
	snprintf(t->e[i].op, sizeof(t->e[i].op), "%s", op);
	t->e[i].expiry = strtoll(tok, NULL, 10);   /* token_check read it: digits, '.' */
	snprintf(t->e[i].token, sizeof(t->e[i].token), "%s", tok);
}

static int api_check_token(struct data_api *api, struct http_request *req, uint64_t id,
			   uint32_t version, const char *op)
{
	const char *tok = http_req_query(req, "token");
	time_t now = time(NULL);

	if (tok && api_token_seen(api, id, version, op, tok, now))
		return 0;
	if (!tok || token_check(api->cfg.secret, id, version, op, tok, now) < 0) {
		http_reply_error(req, EACCES, "%s token for op '%s'",
				 tok ? "invalid or expired" : "missing", op);
		return -EACCES;
	}
	api_token_remember(api, id, version, op, tok);
	return 0;
}

/* Parse path, version and token for a call on one chunk. */
static int api_chunk_prologue(struct data_api *api, struct http_request *req,
			      struct chunk_call *cc, const char *op)
{
	int r = api_parse_path(req, cc);

	if (r == 0)
		r = api_query_version(req, cc);
	if (r == 0)
		r = api_check_token(api, req, cc->id, cc->version, op);
	return r;
}

static void api_reply_store_error(struct http_request *req, int err, const char *what,
				  const struct chunk_call *cc)
{
	switch (-err) {
	case ENOENT:
		http_reply_error(req, err, "%s: chunk %s not found", what, cc->idtxt);
		break;
	case ESTALE:
		http_reply_error(req, err, "%s: chunk %s is not at version %" PRIu32, what,
				 cc->idtxt, cc->version);
		break;
	case EIO:
		http_reply_error(req, err, "%s: chunk %s: damaged data on this worker", what,
				 cc->idtxt);
		break;
	default:
		if (err != -EINVAL && err != -ENOSPC)
			log_warn("%s of chunk %s failed: %s", what, cc->idtxt, strerror(-err));
		http_reply_error(req, err, "%s: chunk %s: %s", what, cc->idtxt, strerror(-err));
		break;
	}
}

static void api_reply_length(struct http_request *req, uint32_t length)
{
	http_reply_json(req, 200, json_pack("{s:I}", "length", (json_int_t)length));
}

/* The route a request counts under, from its method and the action at
 * the end of its path (also for a request refused before it was parsed). */
static enum load_route api_route_of(struct http_request *req)
{
	const char *m = http_req_method(req);
	const char *slash = strchr(http_req_path_rest(req), '/');
	const char *action = slash ? slash + 1 : "";

	if (strcmp(m, "GET") == 0)
		return !slash ? LOAD_ROUTE_READ
		       : strcmp(action, "info") == 0 ? LOAD_ROUTE_INFO : LOAD_ROUTE_OTHER;
	if (strcmp(m, "PUT") == 0)
		return slash ? LOAD_ROUTE_OTHER : LOAD_ROUTE_WRITE;
	if (strcmp(m, "DELETE") == 0)
		return slash ? LOAD_ROUTE_OTHER : LOAD_ROUTE_DELETE;
	if (strcmp(action, "truncate") == 0)
		return LOAD_ROUTE_TRUNCATE;
	if (strcmp(action, "fsync") == 0)
		return LOAD_ROUTE_FSYNC;
	if (strcmp(action, "replicate") == 0)
		return LOAD_ROUTE_REPLICATE;
	if (strcmp(action, "clone") == 0)
		return LOAD_ROUTE_CLONE;
	return LOAD_ROUTE_OTHER;
}

/* A request is over: count it under route with its reply's status. */
static void api_done(struct data_api *api, struct http_request *req, enum load_route route)
{
	load_stats_request(api->cfg.stats, route, http_reply_status(req));
	load_stats_end(api->cfg.stats);
}

static uint64_t api_mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- handlers ------------------------------------------------------------ */

/* ?verify=client: the reader checks the CRCs itself. The bytes go from
 * the page cache to the socket with sendfile, the block CRCs in the
 * X-Bigfs-Crc32c header (8 hex digits per block). Saves this worker a
 * copy of the data into its memory and one out of it, and the check then
 * covers the network too. -EAGAIN: the range does not qualify (see
 * chunk_store_read_fd), read it the verified way. */
static int api_read_unverified(struct data_api *api, struct http_request *req,
			       struct chunk_call *cc, uint64_t offset, uint64_t length)
{
	size_t most = (size_t)((length + CHUNK_BLOCK_SIZE - 1) / CHUNK_BLOCK_SIZE);
	uint32_t *crcs = NULL;
	char *hex = NULL;
	uint64_t file_off;
	uint32_t nblocks;
	int fd, r;

	/* a small random read never qualifies (chunk_store_read_fd): no
	 * allocation for it */
	if (length == 0 || offset % CHUNK_BLOCK_SIZE != 0)
		return -EAGAIN;
	crcs = malloc(most * sizeof(*crcs));
	hex = malloc(most * 8 + 1);
	if (!crcs || !hex) {
		r = -ENOMEM;
		goto out;
	}
	r = chunk_store_read_fd(api->cfg.store, cc->id, cc->version, offset, length, &fd,
				&file_off, crcs, &nblocks);
	if (r < 0)
		goto out;
	for (uint32_t i = 0; i < nblocks; i++)
		snprintf(hex + 8 * i, 9, "%08" PRIx32, crcs[i]);
	hex[8 * nblocks] = '\0';
	/* a long range is a sequential reader's window (random reads ask for
	 * small ones): it asks for the next range next, so have the disk read
	 * that while this one goes out */
	if (length >= API_SEQ_WINDOW_MIN)
		(void)posix_fadvise(fd, (off_t)(file_off + length), (off_t)length,
				    POSIX_FADV_WILLNEED);
	load_stats_add(api->cfg.stats, 0, length);
	http_reply_fd(req, 200, fd, file_off, length, "application/octet-stream");
	if (http_reply_header(req, "X-Bigfs-Crc32c", hex) < 0)
		r = -ENOMEM;
out:
	if (r == -ENOMEM)
		http_reply_error(req, ENOMEM, "out of memory");
	else if (r < 0 && r != -EAGAIN)
		api_reply_store_error(req, r, "read", cc);
	free(crcs);
	free(hex);
	return r;
}

static void api_read(struct data_api *api, struct http_request *req, struct chunk_call *cc)
{
	uint64_t offset, length;
	const char *verify;
	void *buf;
	int r;

	if (api_query_u64(req, "offset", CHUNK_SIZE_MAX, &offset) < 0 ||
	    api_query_u64(req, "length", CHUNK_SIZE_MAX, &length) < 0)
		return;
	if (offset + length > CHUNK_SIZE_MAX) {
		http_reply_error(req, EINVAL, "range %" PRIu64 "+%" PRIu64 " beyond 64 MiB",
				 offset, length);
		return;
	}
	verify = http_req_query(req, "verify");
	if (verify && strcmp(verify, "client") == 0) {
		r = api_read_unverified(api, req, cc, offset, length);
		if (r != -EAGAIN)
			return;
	}
	buf = malloc(length ? length : 1);
	if (!buf) {
		http_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	r = chunk_store_read(api->cfg.store, cc->id, cc->version, offset, length, buf);
	if (r < 0) {
		free(buf);
		if (r == -EIO)
			load_stats_corrupt_read(api->cfg.stats);
		api_reply_store_error(req, r, "read", cc);
		return;
	}
	load_stats_add(api->cfg.stats, 0, length);
	http_reply_raw(req, 200, buf, length, "application/octet-stream");
}

static void api_info(struct data_api *api, struct http_request *req, struct chunk_call *cc)
{
	struct chunk_info ci;
	json_t *o;
	int r = chunk_store_stat(api->cfg.store, cc->id, &ci);

	if (r == 0 && ci.version != cc->version)
		r = -ESTALE;
	if (r < 0) {
		api_reply_store_error(req, r, "info", cc);
		return;
	}
	o = json_pack("{s:I, s:I}", "version", (json_int_t)ci.version, "length",
		      (json_int_t)ci.length);
	if (o)
		ju_set_chunk_id(o, "chunk_id", ci.id);
	http_reply_json(req, 200, o);
}

static void h_chunk_get(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;
	struct chunk_call cc;

	load_stats_begin(api->cfg.stats);
	if (api_chunk_prologue(api, req, &cc, "r") < 0)
		goto out;
	if (cc.action[0] == '\0')
		api_read(api, req, &cc);
	else if (strcmp(cc.action, "info") == 0)
		api_info(api, req, &cc);
	else
		http_reply_error(req, ENOENT, "no such path %s", http_req_path(req));
out:
	api_done(api, req, api_route_of(req));
}

static void h_chunk_put(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;
	struct chunk_call cc;
	uint64_t offset;
	uint32_t length;
	const char *body;
	size_t len;
	int r;

	load_stats_begin(api->cfg.stats);
	if (api_parse_path(req, &cc) < 0)
		goto out;
	if (cc.action[0] != '\0') {
		http_reply_error(req, ENOENT, "no such path %s", http_req_path(req));
		goto out;
	}
	if (api_query_version(req, &cc) < 0 ||
	    api_check_token(api, req, cc.id, cc.version, "w") < 0 ||
	    api_query_u64(req, "offset", CHUNK_SIZE_MAX, &offset) < 0)
		goto out;
	body = http_req_body(req, &len);
	load_stats_add(api->cfg.stats, len, 0);
	if (len > CHUNK_SIZE_MAX - offset) {
		http_reply_error(req, EINVAL, "write of %zu bytes at %" PRIu64 " beyond 64 MiB",
				 len, offset);
		goto out;
	}
	r = chunk_store_write(api->cfg.store, cc.id, cc.version, offset, body, len, &length);
	if (r < 0)
		api_reply_store_error(req, r, "write", &cc);
	else
		api_reply_length(req, length);
out:
	api_done(api, req, api_route_of(req));
}

static void api_truncate(struct data_api *api, struct http_request *req, struct chunk_call *cc)
{
	uint64_t length;
	uint32_t newlen;
	int r;

	if (api_query_u64(req, "length", CHUNK_SIZE_MAX, &length) < 0)
		return;
	r = chunk_store_truncate(api->cfg.store, cc->id, cc->version, length, &newlen);
	if (r < 0)
		api_reply_store_error(req, r, "truncate", cc);
	else
		api_reply_length(req, newlen);
}

static void api_fsync(struct data_api *api, struct http_request *req, struct chunk_call *cc)
{
	uint64_t t0 = api_mono_usec();
	int r = chunk_store_fsync(api->cfg.store, cc->id, cc->version);

	load_stats_fsync(api->cfg.stats, r == 0, api_mono_usec() - t0);
	if (r < 0)
		api_reply_store_error(req, r, "fsync", cc);
	else
		http_reply_json(req, 200, json_object());
}

static void api_replicate(struct data_api *api, struct http_request *req,
			  struct chunk_call *cc)
{
	const char *source = http_req_query(req, "source");
	const char *stoken = http_req_query(req, "source_token");
	uint32_t length;
	int r;

	if (!source || replicator_check_addr(source) < 0) {
		http_reply_error(req, EINVAL, "missing or bad 'source' (want HOST:PORT)");
		return;
	}
	if (!stoken || strlen(stoken) >= TOKEN_MAX) {
		http_reply_error(req, EINVAL, "missing or bad 'source_token'");
		return;
	}
	r = replicator_pull(api->cfg.replicator, cc->id, cc->version, source, stoken, &length);
	if (r < 0)
		http_reply_error(req, r, "replicate chunk %s v%" PRIu32 " from %s: %s", cc->idtxt,
				 cc->version, source, strerror(-r));
	else
		api_reply_length(req, length);
}

/* POST /v1/chunk/NEW/clone?version=NV&from=OLD&from_version=OV&
 * from_token=T2 (the token for NEW, op "c", is checked already): copy the
 * local chunk OLD at OV into NEW at NV (chunk_store_clone). from_token is
 * a read token ("r") for (OLD, OV): whoever may clone must also be allowed
 * to read the source. */
static void api_clone(struct data_api *api, struct http_request *req, struct chunk_call *cc)
{
	const char *from = http_req_query(req, "from");
	const char *ftok = http_req_query(req, "from_token");
	char fromtxt[CHUNK_ID_STRLEN + 1];
	struct chunk_info ci;
	uint64_t from_id, from_version;
	uint32_t length = 0;
	int r;

	if (!from || chunk_id_parse(from, &from_id) < 0) {
		http_reply_error(req, EINVAL, "missing or bad 'from' (a chunk id, 16 hex digits)");
		return;
	}
	if (api_query_u64(req, "from_version", UINT32_MAX, &from_version) < 0)
		return;
	chunk_id_format(from_id, fromtxt);
	if (!ftok || token_check(api->cfg.secret, from_id, (uint32_t)from_version, "r", ftok,
				 time(NULL)) < 0) {
		http_reply_error(req, EACCES, "%s from_token (op 'r' for chunk %s v%" PRIu64 ")",
				 ftok ? "invalid or expired" : "missing", fromtxt, from_version);
		return;
	}
	if (from_id == cc->id) {
		http_reply_error(req, EINVAL, "clone: chunk %s onto itself", cc->idtxt);
		return;
	}
	r = chunk_store_clone(api->cfg.store, from_id, (uint32_t)from_version, cc->id,
			      cc->version, &length);
	load_stats_clone(api->cfg.stats, r == 0, length);
	switch (-r) {
	case 0:
		log_info("cloned chunk %s v%" PRIu64 " into %s v%" PRIu32 " (%" PRIu32 " bytes)",
			 fromtxt, from_version, cc->idtxt, cc->version, length);
		api_reply_length(req, length);
		break;
	case ENOENT:
		http_reply_error(req, r, "clone: source chunk %s not found", fromtxt);
		break;
	case ESTALE:
		if (chunk_store_stat(api->cfg.store, from_id, &ci) == 0 &&
		    ci.version != from_version)
			http_reply_error(req, r, "clone: source chunk %s is at version %" PRIu32
					 ", not %" PRIu64, fromtxt, ci.version, from_version);
		else
			http_reply_error(req, r, "clone: chunk %s is stored at a version newer than %"
					 PRIu32, cc->idtxt, cc->version);
		break;
	case EEXIST:
		http_reply_error(req, r, "clone: chunk %s v%" PRIu32 " exists already with "
				 "other data", cc->idtxt, cc->version);
		break;
	case EIO:
		load_stats_corrupt_read(api->cfg.stats);
		http_reply_error(req, r, "clone: source chunk %s: damaged data on this worker",
				 fromtxt);
		break;
	default:
		api_reply_store_error(req, r, "clone", cc);
		break;
	}
}

static void h_chunk_post(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;
	struct chunk_call cc;
	const char *op;

	load_stats_begin(api->cfg.stats);
	if (api_parse_path(req, &cc) < 0)
		goto out;
	if (strcmp(cc.action, "truncate") == 0 || strcmp(cc.action, "fsync") == 0) {
		op = "w";
	} else if (strcmp(cc.action, "replicate") == 0) {
		op = "p";
	} else if (strcmp(cc.action, "clone") == 0) {
		op = "c";
	} else {
		http_reply_error(req, ENOENT, "no such path %s", http_req_path(req));
		goto out;
	}
	if (api_query_version(req, &cc) < 0 || api_check_token(api, req, cc.id, cc.version, op) < 0)
		goto out;
	if (cc.action[0] == 't')
		api_truncate(api, req, &cc);
	else if (cc.action[0] == 'f')
		api_fsync(api, req, &cc);
	else if (cc.action[0] == 'c')
		api_clone(api, req, &cc);
	else
		api_replicate(api, req, &cc);
out:
	api_done(api, req, api_route_of(req));
}

static void h_chunk_delete(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;
	struct chunk_call cc;
	int r;

	load_stats_begin(api->cfg.stats);
	if (api_parse_path(req, &cc) < 0)
		goto out;
	if (cc.action[0] != '\0') {
		http_reply_error(req, ENOENT, "no such path %s", http_req_path(req));
		goto out;
	}
	cc.version = 0;
	if (api_check_token(api, req, cc.id, 0, "d") < 0)
		goto out;
	r = chunk_store_delete(api->cfg.store, cc.id);
	if (r < 0)
		api_reply_store_error(req, r, "delete", &cc);
	else
		http_reply_json(req, 200, json_object());
out:
	api_done(api, req, api_route_of(req));
}

static void api_list(struct data_api *api, struct http_request *req)
{
	struct chunk_info *list = NULL;
	json_t *arr, *o;
	size_t n = 0;
	int r;

	if (api_check_token(api, req, 0, 0, "l") < 0)
		return;
	r = chunk_store_list(api->cfg.store, &list, &n);
	if (r < 0) {
		http_reply_error(req, r, "cannot list chunks");
		return;
	}
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
	free(list);
	o = arr ? json_pack("{s:o}", "chunks", arr) : NULL;
	if (!o) {
		http_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	http_reply_json(req, 200, o);
}

static void h_chunks(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;

	load_stats_begin(api->cfg.stats);
	api_list(api, req);
	api_done(api, req, LOAD_ROUTE_LIST);
}

static void h_health(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;

	load_stats_begin(api->cfg.stats);
	http_reply_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "worker_id",
					    api->cfg.worker_id));
	api_done(api, req, LOAD_ROUTE_HEALTH);
}

/* The store's usage and the worker's identity, after the counters. */
static void api_metrics_store(struct data_api *api, FILE *f)
{
	uint64_t chunks, used, capacity, files, folders;

	chunk_store_usage(api->cfg.store, &chunks, &used);
	chunk_store_space(api->cfg.store, &capacity, &used);
	fprintf(f, "# HELP bigfs_worker_store_chunks Chunks held in the data folder.\n"
		   "# TYPE bigfs_worker_store_chunks gauge\n"
		   "bigfs_worker_store_chunks %" PRIu64 "\n", chunks);
	fprintf(f, "# HELP bigfs_worker_used_bytes Bytes the chunk files hold "
		   "(headers and data).\n"
		   "# TYPE bigfs_worker_used_bytes gauge\n"
		   "bigfs_worker_used_bytes %" PRIu64 "\n", used);
	fprintf(f, "# HELP bigfs_worker_capacity_bytes Capacity offered to the cluster "
		   "(--capacity, bounded by the free space).\n"
		   "# TYPE bigfs_worker_capacity_bytes gauge\n"
		   "bigfs_worker_capacity_bytes %" PRIu64 "\n", capacity);
	chunk_store_fsyncs(api->cfg.store, &files, &folders);
	fprintf(f, "# HELP bigfs_worker_folder_fsyncs_total Folder fsyncs, for the names of "
		   "new chunk files (at their chunk's first fsync, replications, clones).\n"
		   "# TYPE bigfs_worker_folder_fsyncs_total counter\n"
		   "bigfs_worker_folder_fsyncs_total %" PRIu64 "\n", folders);
	fprintf(f, "# HELP bigfs_worker_info This worker's id (value always 1).\n"
		   "# TYPE bigfs_worker_info gauge\n"
		   "bigfs_worker_info{worker_id=\"%s\"} 1\n", api->cfg.worker_id);
	fprintf(f, "# HELP bigfs_worker_start_time_seconds When this worker started "
		   "(Unix time).\n"
		   "# TYPE bigfs_worker_start_time_seconds gauge\n"
		   "bigfs_worker_start_time_seconds %lld\n", (long long)api->start_time);
}

/* GET /metrics: Prometheus text, no token (the same as the master's). */
static void h_metrics(void *ctx, struct http_request *req)
{
	struct data_api *api = ctx;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	load_stats_begin(api->cfg.stats);
	f = open_memstream(&text, &len);
	if (!f) {
		http_reply_error(req, ENOMEM, "out of memory");
		goto out;
	}
	r = load_stats_render(api->cfg.stats, f);
	api_metrics_store(api, f);
	if (fclose(f) != 0 || r < 0) {
		free(text);
		http_reply_error(req, ENOMEM, "cannot render the metrics");
		goto out;
	}
	http_reply_raw(req, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
out:
	api_done(api, req, LOAD_ROUTE_METRICS);
}

/* The PUT body limit: one whole chunk. */
static const struct http_route api_routes[] = {
	{ "GET", "/v1/chunks", false, 0, h_chunks },
	{ "GET", "/v1/health", false, 0, h_health },
	{ "GET", "/metrics", false, 0, h_metrics },
	{ "GET", "/v1/chunk/", true, 0, h_chunk_get },
	{ "PUT", "/v1/chunk/", true, CHUNK_SIZE_MAX, h_chunk_put },
	{ "POST", "/v1/chunk/", true, 0, h_chunk_post },
	{ "DELETE", "/v1/chunk/", true, 0, h_chunk_delete },
	{ NULL, NULL, false, 0, NULL },
};

int data_api_start(const struct data_api_config *cfg, struct data_api **ret)
{
	struct data_api *api = calloc(1, sizeof(*api));
	int r;

	if (!api)
		return -ENOMEM;
	api->cfg = *cfg;
	api->start_time = time(NULL);
	if (pthread_key_create(&api->tok_key, free) != 0) {
		free(api);
		return -ENOMEM;
	}
	r = http_server_start_ex(&api->srv, cfg->listen, api_routes, api, DATA_API_READ_BUFFER);
	if (r < 0) {
		pthread_key_delete(api->tok_key);
		free(api);
		return r;
	}
	*ret = api;
	return 0;
}

uint16_t data_api_port(const struct data_api *api)
{
	return http_server_port(api->srv);
}

void data_api_stop(struct data_api *api)
{
	if (!api)
		return;
	http_server_stop(api->srv);   /* its threads, and their tokens, are gone */
	pthread_key_delete(api->tok_key);
	free(api);
}
