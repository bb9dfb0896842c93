/* worker_io — reads with failover, parallel replica writes (see
 * worker_io.h).
 *
 * Owns: the per-thread HTTP clients used for workers (separate from the
 * master's because transfers need a longer timeout) and a borrowed master
 * client for replica_failed reports. No lock: after worker_io_new nothing
 * here changes; a struct wio_chunk passed in belongs to the caller, who
 * serialises access to it.
 *
 * Does not: decide when to refresh locations or ask for a grant; the
 * caller (file_handle) does, based on what these calls return. */
#include "worker_io.h"

#include "crc32c.h"
#include "http_client.h"
#include "json_util.h"
#include "local_read.h"
#include "log.h"
#include "master_client.h"
#include "metrics.h"
#include "thread_http.h"
#include "worker_health.h"
#include "transport_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIO_CONNECT_TIMEOUT_MS 2000
#define WIO_URL_MAX 512
#define WIO_BLOCK_SIZE ((size_t)64 << 10) /* the workers' CRC block */
/* A read asks the next replica once the ones asked have moved no byte
 * for this long; a write stops waiting for a replica that has moved no
 * byte for this long once another one has the bytes. */
#define WIO_HEDGE_MS 400
#define WIO_WRITE_GRACE_MS 2000

struct worker_io {
	struct master_client *mc;
	struct thread_http *http;
	struct whealth *health;
	struct local_read *local;       /* NULL: local reads off */
};

int worker_io_new(struct master_client *mc, long timeout_ms, struct worker_io **ret)
{
	struct worker_io *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	int rc = thread_http_new(timeout_ms, WIO_CONNECT_TIMEOUT_MS, &w->http);
	if (rc) {
		free(w);
		return rc;
	}
	rc = whealth_new(&w->health);
	if (rc == 0)
		rc = local_read_new(w->health, &w->local);
	if (rc) {
		whealth_free(w->health);
		thread_http_free(w->http);
		free(w);
		return rc;
	}
	w->mc = mc;
	*ret = w;
	return 0;
}

void worker_io_free(struct worker_io *w)
{
	if (!w)
		return;
	thread_http_free(w->http);
	local_read_free(w->local);
	whealth_free(w->health);
	free(w);
}

void worker_io_no_local_reads(struct worker_io *w)
{
	local_read_free(w->local);
	w->local = NULL;
}

struct whealth *worker_io_health(struct worker_io *w)
{
	return w->health;
}

int worker_io_parse_chunk(const json_t *obj, struct wio_chunk *ret)
{
	struct wio_chunk c;
	memset(&c, 0, sizeof(c));
	const char *token;
	if (!json_is_object(obj) || ju_chunk_id(obj, "chunk_id", &c.chunk_id) < 0 ||
	    ju_u32(obj, "version", &c.version) < 0 ||
	    ju_str(obj, "token", TOKEN_MAX - 1, &token) < 0)
		return -EIO;
	snprintf(c.token, sizeof(c.token), "%s", token);
	json_t *reps = json_object_get(obj, "replicas");
	if (!json_is_array(reps))
		return -EIO;
	size_t i;
	json_t *r;
	json_array_foreach(reps, i, r) {
		const char *id, *addr;
		if (ju_str(r, "worker_id", WORKER_ID_STRLEN, &id) < 0 ||
		    ju_str(r, "addr", WIO_ADDR_MAX - 1, &addr) < 0)
			return -EIO;
		if (c.nrep == WIO_MAX_REPLICAS)
			break;
		snprintf(c.rep[c.nrep].worker_id, sizeof(c.rep[c.nrep].worker_id), "%s", id);
		snprintf(c.rep[c.nrep].addr, sizeof(c.rep[c.nrep].addr), "%s", addr);
		c.nrep++;
	}
	*ret = c;
	return 0;
}

/* Tell the master a replica is bad. Failure to report is logged only: the
 * data operation's outcome does not depend on it. */
static void wio_report_failed(struct worker_io *w, const struct wio_chunk *c, int i,
			      const char *why)
{
	char id[CHUNK_ID_STRLEN + 1];
	chunk_id_format(c->chunk_id, id);
	log_warn("chunk %s v%u: replica %s (%s) failed: %s; reporting it", id, c->version,
		 c->rep[i].worker_id, c->rep[i].addr, why);
	mount_metrics_add(MM_REPLICAS_REPORTED, 1);
	json_t *req = json_pack("{s:s, s:I, s:s}", "chunk_id", id, "version",
				(json_int_t)c->version, "worker_id", c->rep[i].worker_id);
	if (!req)
		return;
	int rc = master_client_call(w->mc, "replica_failed", req, 0, NULL, NULL);
	if (rc < 0)
		log_warn("chunk %s: reporting replica %s failed: %s", id, c->rep[i].worker_id,
			 strerror(-rc));
	json_decref(req);
}

static void wio_call_text(const struct http_call *call, char *out, size_t cap)
{
	if (call->err)
		snprintf(out, cap, "%s", strerror(-call->err));
	else
		snprintf(out, cap, "HTTP %ld", call->status);
}

/* Check the body of a ?verify=client read against the block CRCs the
 * worker sent (8 hex digits per 64 KiB block; off is on a block boundary
 * when the worker sends them). False on any mismatch or malformed list. */
static bool wio_crcs_match(const char *hex, const unsigned char *buf, size_t len)
{
	size_t nblocks = (len + WIO_BLOCK_SIZE - 1) / WIO_BLOCK_SIZE;
	if (strlen(hex) != nblocks * 8)
		return false;
	for (size_t i = 0; i < nblocks; i++) {
		char digits[9];
		memcpy(digits, hex + 8 * i, 8);
		digits[8] = '\0';
		char *end;
		unsigned long want = strtoul(digits, &end, 16);
		size_t n = len - i * WIO_BLOCK_SIZE < WIO_BLOCK_SIZE ? len - i * WIO_BLOCK_SIZE
								     : WIO_BLOCK_SIZE;
		if (*end != '\0' || crc32c(0, buf + i * WIO_BLOCK_SIZE, n) != (uint32_t)want)
			return false;
	}
	return true;
}

/* One GET of [off, off+len) from replica i into buf, verified by the
 * worker under the chunk's lock (it says 500 EIO for real damage): the
 * second try after the fast way's bytes did not match their CRCs, which
 * may be a write racing the read, or damage. */
static void wio_get_verified(struct http_client *hc, const struct wio_chunk *c, int i,
			     const char *id, uint64_t off, size_t len, void *buf,
			     struct http_call *call)
{
	char url[WIO_URL_MAX];
	snprintf(url, sizeof(url),
		 "%s://%s/v1/chunk/%s?version=%" PRIu32 "&offset=%" PRIu64 "&length=%zu&token=%s",
		 transport_scheme(), c->rep[i].addr, id, c->version, off, len, c->token);
	*call = (struct http_call){ .method = "GET", .url = url, .out = buf, .out_cap = len };
	http_client_call(hc, call);
	call->url = NULL; /* url is this function's */
}

/* What a hedged read needs in its callbacks. */
struct wio_race {
	size_t len;
	char *spare[WIO_MAX_REPLICAS];
};

/* A 200 with every byte, and, for a ?verify=client read, bytes that match
 * their CRCs (a mismatch is no winner: it is read again, verified). */
static bool wio_read_good(const struct http_call *call, void *arg)
{
	struct wio_race *r = arg;
	if (call->err != 0 || call->status != 200 || call->out_len != r->len)
		return false;
	return !call->resp_header_value ||
	       wio_crcs_match(call->resp_header_value, call->out, call->out_len);
}

/* A hedge reads into a buffer of its own: two replicas must not write
 * into the caller's at once. */
static int wio_read_start(struct http_call *call, int i, void *arg)
{
	struct wio_race *r = arg;
	if (i == 0)
		return 0;
	r->spare[i] = malloc(r->len ? r->len : 1);
	if (!r->spare[i])
		return -ENOMEM;
	call->out = r->spare[i];
	return 0;
}

/* Replica indexes of c, those this mount does not avoid first, each group
 * in the master's order (best first). */
static void wio_order(struct worker_io *w, const struct wio_chunk *c, int order[])
{
	int n = 0;
	bool bad[WIO_MAX_REPLICAS];
	for (int i = 0; i < c->nrep; i++) {
		bad[i] = whealth_bad(w->health, c->rep[i].worker_id);
		if (!bad[i])
			order[n++] = i;
	}
	for (int i = 0; i < c->nrep; i++)
		if (bad[i])
			order[n++] = i;
}

/* Note what a call says about its worker's health. */
static void wio_note(struct worker_io *w, const struct wio_replica *rep,
		     const struct http_call *call)
{
	if (call->slow || (call->err != 0 && call->err != -ECANCELED))
		whealth_suspect(w->health, rep->worker_id);
	else if (call->err == 0)
		whealth_ok(w->health, rep->worker_id);
}

/* The hedged read: the replicas in wio_order, the next one asked when the
 * ones asked have stalled for WIO_HEDGE_MS (or failed), the first good
 * answer taken. Returns the index (into c->rep) of the replica whose bytes
 * are in buf, or -1; retry[] marks replicas that answered bytes that were
 * not good (a short reply, a CRC mismatch) and may be worth a verified
 * read, corrupt[] those that said their copy is damaged (500 EIO). quiet: a guess (worker_io_read_try) — what the replicas
 * answer says nothing of their health, and is neither logged nor
 * reported. */
static int wio_read_race(struct worker_io *w, struct http_client *hc, const struct wio_chunk *c,
			 const char *id, uint64_t off, size_t len, void *buf, bool retry[],
			 bool corrupt[], bool quiet)
{
	int order[WIO_MAX_REPLICAS];
	char urls[WIO_MAX_REPLICAS][WIO_URL_MAX];
	struct http_call calls[WIO_MAX_REPLICAS];
	struct wio_race race = { .len = len };
	wio_order(w, c, order);
	memset(calls, 0, sizeof(calls));
	for (int k = 0; k < c->nrep; k++) {
		int i = order[k];
		snprintf(urls[k], WIO_URL_MAX,
			 "%s://%s/v1/chunk/%s?version=%" PRIu32 "&offset=%" PRIu64
			 "&length=%zu&token=%s&verify=client",
			 transport_scheme(), c->rep[i].addr, id, c->version, off, len, c->token);
		calls[k] = (struct http_call){
			.method = "GET", .url = urls[k], .out = k == 0 ? buf : NULL, .out_cap = len,
			.resp_header = "X-Bigfs-Crc32c",
		};
	}
	struct http_run_opts opts = {
		.hedge_ms = WIO_HEDGE_MS, .good = wio_read_good,
		.before_start = wio_read_start, .arg = &race,
	};
	int winner = -1;
	if (http_client_run(hc, calls, c->nrep, &opts, &winner) < 0)
		winner = -1;
	for (int k = 0; k < c->nrep; k++) {
		int i = order[k];
		const struct http_call *call = &calls[k];
		retry[i] = false;
		corrupt[i] = call->err == 0 && call->status == 500;
		if (call->err == -ECANCELED && !call->slow)
			continue; /* never asked, or hedged over while fine */
		if (quiet)
			continue;
		wio_note(w, &c->rep[i], call);
		if (k == winner)
			continue;
		char why[64];
		wio_call_text(call, why, sizeof(why));
		if (call->err == 0 && call->status == 200 && call->out_len == len)
			snprintf(why, sizeof(why), "bytes do not match their CRCs");
		else if (call->err == 0 && call->status == 200)
			snprintf(why, sizeof(why), "short reply %zu of %zu bytes", call->out_len, len);
		if (call->slow)
			log_info("chunk %s v%u: %s is slow to answer (%s); asked another replica",
				 id, c->version, c->rep[i].addr, why);
		else if (call->err == 0 && call->status == 500 && c->nrep > 1)
			wio_report_failed(w, c, i, "corrupt data (500 EIO)");
		else
			log_info("chunk %s v%u: read from %s failed (%s), trying next replica", id,
				 c->version, c->rep[i].addr, why);
		/* a reply that was not good bytes, from a replica that answers:
		 * a verified read there may still serve (a write raced the read) */
		retry[i] = call->err == 0 && call->status == 200;
	}
	int got = winner >= 0 ? order[winner] : -1;
	mount_metrics_add(MM_WORKER_READ_FAILOVERS, winner > 0);
	if (winner > 0)
		memcpy(buf, calls[winner].out, len);
	for (int k = 0; k < c->nrep; k++) {
		free(calls[k].resp_header_value);
		free(race.spare[k]);
	}
	return got;
}

/* worker_io_read, or with quiet worker_io_read_try. */
static int wio_read(struct worker_io *w, const struct wio_chunk *c, uint64_t off, size_t len,
		    void *buf, bool quiet)
{
	struct http_client *hc = thread_http_get(w->http);
	if (!hc)
		return -ENOMEM;
	char id[CHUNK_ID_STRLEN + 1];
	chunk_id_format(c->chunk_id, id);
	bool retry[WIO_MAX_REPLICAS], corrupt[WIO_MAX_REPLICAS] = { false };
	if (c->nrep == 0)
		return -EIO;
	if (w->local && local_read(w->local, c, off, len, buf) == 0)
		return 0;
	if (wio_read_race(w, hc, c, id, off, len, buf, retry, corrupt, quiet) >= 0)
		return 0;
	if (quiet)
		return -EIO;
	/* No replica gave good bytes at once: ask those whose bytes did not
	 * match their CRCs again, verified by the worker under its lock. */
	for (int i = 0; i < c->nrep; i++) {
		if (!retry[i])
			continue;
		struct http_call call;
		log_warn("chunk %s v%u: bytes from %s do not match their CRCs; reading them "
			 "again, verified by the worker", id, c->version, c->rep[i].addr);
		wio_get_verified(hc, c, i, id, off, len, buf, &call);
		if (call.err == 0 && call.status == 200 && call.out_len == len)
			return 0;
		corrupt[i] = call.err == 0 && call.status == 500;
		if (corrupt[i] && c->nrep > 1)
			wio_report_failed(w, c, i, "corrupt data (500 EIO)");
	}
	for (int i = 0; i < c->nrep; i++)
		if (!corrupt[i])
			return -EIO;
	return -EBADMSG;    /* every copy is damaged: asking again will not help */
}

int worker_io_read(struct worker_io *w, const struct wio_chunk *c, uint64_t off, size_t len,
		   void *buf)
{
	return wio_read(w, c, off, len, buf, false);
}

int worker_io_read_try(struct worker_io *w, const struct wio_chunk *c, uint64_t off, size_t len,
		       void *buf)
{
	return wio_read(w, c, off, len, buf, true);
}

/* The errno of a worker's error reply (its JSON body), or 0. */
static int wio_call_errno(const struct http_call *call)
{
	if (call->err != 0 || call->status < 400 || !call->out_alloc)
		return 0;
	json_t *body = ju_parse_object(call->out_alloc, call->out_len);
	uint32_t e = 0;
	if (!body || ju_u32(body, "errno", &e) < 0)
		e = 0;
	json_decref(body);
	return (int)e;
}

/* Leave the replicas this mount avoids (stalled lately, or dead by the
 * master's word) out of the grant c while another one remains, reporting
 * them so the master marks their copy stale: writing them would stall
 * every write, skipping them silently would leave a copy that claims to
 * be current without the bytes. */
static void wio_leave_out_bad(struct worker_io *w, struct wio_chunk *c)
{
	bool bad[WIO_MAX_REPLICAS];
	int ngood = 0;
	for (int i = 0; i < c->nrep; i++) {
		bad[i] = whealth_bad(w->health, c->rep[i].worker_id);
		ngood += !bad[i];
	}
	if (ngood == 0 || ngood == c->nrep)
		return;
	int n = 0;
	for (int i = 0; i < c->nrep; i++) {
		if (bad[i])
			wio_report_failed(w, c, i, "avoided by this mount (stalled or down)");
		else
			c->rep[n++] = c->rep[i];
	}
	c->nrep = n;
}

/* Run the same request against every replica; keep those that answered
 * 200 (a replica that stalls while another has answered is cut off after
 * WIO_WRITE_GRACE_MS without progress). Shared by write and fsync. */
static int wio_all_replicas(struct worker_io *w, struct wio_chunk *c, const char *method,
			    const char *what, bool fsync, uint64_t off,
			    const void *buf, size_t len)
{
	if (c->nrep == 0)
		return -EIO;
	struct http_client *hc = thread_http_get(w->http);
	if (!hc)
		return -ENOMEM;
	char id[CHUNK_ID_STRLEN + 1];
	chunk_id_format(c->chunk_id, id);
	wio_leave_out_bad(w, c);
	char urls[WIO_MAX_REPLICAS][WIO_URL_MAX];
	struct http_call calls[WIO_MAX_REPLICAS];
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < c->nrep; i++) {
		if (fsync)
			snprintf(urls[i], WIO_URL_MAX,
				 "%s://%s/v1/chunk/%s/fsync?version=%" PRIu32 "&token=%s",
				 transport_scheme(), c->rep[i].addr, id, c->version, c->token);
		else
			snprintf(urls[i], WIO_URL_MAX,
				 "%s://%s/v1/chunk/%s?version=%" PRIu32 "&offset=%" PRIu64
				 "&token=%s",
				 transport_scheme(), c->rep[i].addr, id, c->version, off, c->token);
		calls[i].method = method;
		calls[i].url = urls[i];
		calls[i].body = buf;
		calls[i].body_len = len;
	}
	struct http_run_opts opts = { .grace_ms = WIO_WRITE_GRACE_MS };
	int rc = http_client_run(hc, calls, c->nrep, &opts, NULL);
	if (rc < 0)
		return rc;
	int ok = 0, refused = 0, full = 0;
	bool good[WIO_MAX_REPLICAS];
	for (int i = 0; i < c->nrep; i++) {
		wio_note(w, &c->rep[i], &calls[i]);
		good[i] = calls[i].err == 0 && calls[i].status == 200;
		ok += good[i];
		if (calls[i].err == 0 && (calls[i].status == 409 || calls[i].status == 403))
			refused++;
		full += wio_call_errno(&calls[i]) == ENOSPC;
		free(calls[i].out_alloc);
	}
	if (ok == 0 || refused > 0) {
		for (int i = 0; i < c->nrep; i++) {
			if (good[i])
				continue;
			char why[64];
			wio_call_text(&calls[i], why, sizeof(why));
			log_warn("chunk %s v%u: %s on %s failed: %s", id, c->version, what,
				 c->rep[i].addr, why);
		}
		/* A replica that refused the grant holds a newer version (or
		 * the token expired): the grant is stale for all of them, and
		 * bytes that landed on the others would be lost when the chunk
		 * moves on. Not the replica's fault: ask for a new grant. */
		if (refused > 0)
			return -ESTALE;
		/* every replica's disk is full: say so, not "I/O error" */
		return full == c->nrep ? -ENOSPC : -EIO;
	}
	int n = 0;
	for (int i = 0; i < c->nrep; i++) {
		if (good[i]) {
			c->rep[n++] = c->rep[i];
			continue;
		}
		char why[64];
		wio_call_text(&calls[i], why, sizeof(why));
		wio_report_failed(w, c, i, why);
	}
	c->nrep = n;
	return 0;
}

int worker_io_write(struct worker_io *w, struct wio_chunk *c, uint64_t off, const void *buf,
		    size_t len)
{
	return wio_all_replicas(w, c, "PUT", "write", false, off, buf, len);
}

int worker_io_fsync(struct worker_io *w, struct wio_chunk *c)
{
	return wio_all_replicas(w, c, "POST", "fsync", true, 0, NULL, 0);
}
