/* http_client — two engines behind a blocking call/batch interface.
 *
 * Owns: one curl multi handle (its connection cache keeps https
 * connections open between calls) and a pool of easy handles reused from
 * call to call; the raw engine's pool of kept plain sockets and its call
 * states (http_raw.h). Not thread-safe: one client per thread. Never
 * logs; errors go back to the caller.
 *
 * Every batch runs through http_client_run's loop: a turn of the batch's
 * engine (wait for its sockets, move its calls on, finish those done),
 * then decide — hedged batches start the next call when every running
 * one has moved no byte for hedge_ms (progress: CURLOPT_XFERINFOFUNCTION,
 * or the raw call's own clock) and stop at the first good one; grace
 * batches stop once one call is good and the others have stalled for
 * grace_ms. A call cut off has its connection closed (a stalled peer's
 * socket is never reused). A batch goes the raw way when the process is
 * plain and every URL is http://; else libcurl's. */
#include "http_client.h"
#include "http_raw.h"
#include "json_util.h"
#include "errors.h"
#include "transport_config.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 32
#define WARM_MAX 4
#define WARM_ORIGIN_MAX 96
#define HTTP_RECV_BUFFER_MIN (16L * 1024)    /* libcurl's default */
#define HTTP_RECV_BUFFER_JSON (32L * 1024)
#define HTTP_RECV_BUFFER_MAX (512L * 1024)

struct http_client {
	CURLM *multi;
	CURL *pool[POOL_MAX];
	int npool;
	long timeout_ms;
	long connect_timeout_ms;
	bool tls;                 /* the process's setting, read at creation */
	const char *ca_file;      /* borrowed from transport_config */
	char last_error[CURL_ERROR_SIZE]; /* curl's words for the last failure */
	/* Servers whose last call here was answered: libcurl keeps that
	 * connection and sends the next request on it. If the server dies
	 * with the request in hand, libcurl silently sends it again on a
	 * fresh connection, and a refusal of that one must not read as
	 * "never sent" (see call_finish). */
	char warm[WARM_MAX][WARM_ORIGIN_MAX];
	/* plain http:// goes the raw way (http_raw.h) unless
	 * BIGFS_HTTP_CURL=1 was set when the client was made */
	bool raw_enabled;
	struct raw_pool raw_pool;
	struct raw_xfer *xf[RAW_BATCH_MAX]; /* call states, made on first use */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_client *http_client_new(long timeout_ms, long connect_timeout_ms)
{
	pthread_once(&curl_once, curl_init_once);
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)POOL_MAX);
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = connect_timeout_ms;
	c->tls = transport_tls();
	c->ca_file = transport_ca_file();
	const char *e = getenv("BIGFS_HTTP_CURL");
	c->raw_enabled = !(e && strcmp(e, "1") == 0);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	curl_multi_cleanup(c->multi);
	raw_pool_close(&c->raw_pool);
	for (int i = 0; i < RAW_BATCH_MAX; i++)
		free(c->xf[i]);
	free(c);
}

/* Per-call state while it runs. */
struct call_state {
	struct http_call *call;
	CURL *easy;
	struct curl_slist *headers;
	size_t alloc_cap;
	bool overflow;
	bool done;
	int64_t progress_ms;      /* last time bytes moved (or the start) */
	curl_off_t moved;         /* bytes sent + received so far */
	char *https_url;          /* call->url upgraded to https (TLS process) */
	struct raw_xfer *raw;     /* the raw way's state, else NULL */
	bool seen;                /* its end was counted by http_client_run */
	char errbuf[CURL_ERROR_SIZE];
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CURLOPT_XFERINFOFUNCTION: note when bytes last moved either way. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct call_state *st = userdata;
	(void)dltotal;
	(void)ultotal;
	if (dlnow + ulnow != st->moved) {
		st->moved = dlnow + ulnow;
		st->progress_ms = mono_ms();
	}
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct call_state *st = userdata;
	size_t n = size * nmemb;
	int r = http_call_take_body(st->call, &st->alloc_cap, ptr, n);
	if (r == -EOVERFLOW)
		st->overflow = true;
	return r < 0 ? 0 : n;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_URL_MALFORMAT:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EKEYREJECTED;
	default:
		return -EIO;
	}
}

static CURL *pool_get(struct http_client *c)
{
	if (c->npool > 0) {
		CURL *e = c->pool[--c->npool];
		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

static void pool_put(struct http_client *c, CURL *e)
{
	if (c->npool < POOL_MAX)
		c->pool[c->npool++] = e;
	else
		curl_easy_cleanup(e);
}

/* libcurl allocates its receive buffer for each transfer and frees it
 * when the transfer ends. At 512 KiB every call, a 4 KiB read or a create
 * too, cost the mount a fresh mapping (malloc's sysmalloc, page faults,
 * the unmap's TLB shootdown across threads): 8% of its CPU in a loop of
 * 4 KiB creates. A big buffer only pays for big bodies, so a call that
 * says how big its body can be (out_cap) gets one as big as that (16 KiB
 * - 512 KiB); a JSON answer, mostly small, gets 32 KiB. */
static long recv_buffer(const struct http_call *call)
{
	if (call->out_cap == 0)
		return HTTP_RECV_BUFFER_JSON;
	if (call->out_cap >= HTTP_RECV_BUFFER_MAX)
		return HTTP_RECV_BUFFER_MAX;
	return call->out_cap <= HTTP_RECV_BUFFER_MIN ? HTTP_RECV_BUFFER_MIN : (long)call->out_cap;
}

static int call_setup(struct http_client *c, struct call_state *st, bool track)
{
	struct http_call *call = st->call;
	CURL *e = pool_get(c);
	if (!e)
		return -ENOMEM;
	st->easy = e;
	call->err = 0;
	call->status = 0;
	call->out_len = 0;
	call->out_alloc = NULL;
	call->resp_header_value = NULL;
	const char *url = call->url;
	if (c->tls && strncmp(url, "http://", 7) == 0) {
		/* one scheme per process (transport_config.h) */
		if (asprintf(&st->https_url, "https://%s", url + 7) < 0) {
			st->https_url = NULL;
			pool_put(c, e);
			st->easy = NULL;
			return -ENOMEM;
		}
		url = st->https_url;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	st->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, st);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, recv_buffer(call));
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
	if (track) {
		/* progress is only watched for hedges and graces */
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, st);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	st->progress_ms = mono_ms();
	st->moved = 0;
	st->done = false;
	/* A TLS process never speaks plaintext; the peer is always verified
	 * (libcurl's default, never turned off), against the CA file if one
	 * was given, else the system's store. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, c->tls ? "https" : "http,https");
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	st->headers = curl_slist_append(NULL, "Expect:");
	if (call->body || strcmp(call->method, "POST") == 0 || strcmp(call->method, "PUT") == 0) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s",
			 call->content_type ? call->content_type : "application/octet-stream");
		st->headers = curl_slist_append(st->headers, ct);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body ? call->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
	}
	if (call->authorization) {
		char ah[512];
		snprintf(ah, sizeof(ah), "Authorization: %s", call->authorization);
		st->headers = curl_slist_append(st->headers, ah);
	}
	if (strcmp(call->method, "GET") == 0)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else if (strcmp(call->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->headers);
	return 0;
}

/* "scheme://host:port" of url into out; false if it does not fit. */
static bool url_origin(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#") + (size_t)(p - url);
	if (n >= cap)
		return false;
	memcpy(out, url, n);
	out[n] = '\0';
	return true;
}

/* Note whether url's server answered (a connection is kept for it);
 * returns whether one was kept before this call. */
static bool warm_note(struct http_client *c, const char *url, bool answered)
{
	char o[WARM_ORIGIN_MAX];
	if (!url || !url_origin(url, o, sizeof(o)))
		return false;
	int at = -1, free_at = -1;
	for (int i = 0; i < WARM_MAX; i++) {
		if (strcmp(c->warm[i], o) == 0)
			at = i;
		else if (!c->warm[i][0] && free_at < 0)
			free_at = i;
	}
	if (answered && at < 0) {
		/* full: forget the first (a client talks to few servers) */
		at = free_at >= 0 ? free_at : 0;
		memcpy(c->warm[at], o, strlen(o) + 1);
		return false;
	}
	if (!answered && at >= 0) {
		c->warm[at][0] = '\0';
		return true;
	}
	return at >= 0;
}

/* A finished transfer: its results into its call. */
static void call_finish(struct http_client *c, struct call_state *s, CURLMsg *msg)
{
	struct http_call *call = s->call;
	s->done = true;
	call->err = curl_errno(msg->data.result);
	bool was_warm = warm_note(c, call->url, msg->data.result == CURLE_OK);
	/* A refused connect after a kept connection: the request may have
	 * gone out on the kept one before its server died (libcurl then
	 * retries on a fresh connection without telling). Not "refused":
	 * a caller retrying a create or unlink elsewhere must know its
	 * first attempt may have been applied. */
	if (call->err == -ECONNREFUSED && was_warm)
		call->err = -ECONNRESET;
	if (msg->data.result != CURLE_OK)
		snprintf(c->last_error, sizeof(c->last_error), "%s",
			 s->errbuf[0] ? s->errbuf : curl_easy_strerror(msg->data.result));
	if (s->overflow)
		call->err = -EOVERFLOW;
	if (call->err == 0)
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &call->status);
	struct curl_header *h;
	if (call->err == 0 && call->resp_header &&
	    curl_easy_header(msg->easy_handle, call->resp_header, 0, CURLH_HEADER, -1, &h) ==
		    CURLHE_OK) {
		call->resp_header_value = strdup(h->value);
		if (!call->resp_header_value)
			call->err = -ENOMEM;
	}
}

static bool call_good(const struct http_run_opts *o, const struct http_call *call)
{
	if (o && o->good)
		return o->good(call, o->arg);
	return call->err == 0 && call->status >= 200 && call->status < 300;
}

/* Start call i: the caller's hook, then the transfer (raw: plain HTTP of
 * our own). False if it could not start (its err says why). */
static bool call_start(struct http_client *c, struct call_state *st, int i,
		       const struct http_run_opts *o, bool raw)
{
	struct call_state *s = &st[i];
	if (o && o->before_start && o->before_start(s->call, i, o->arg) < 0) {
		s->call->err = -ENOMEM;
		s->done = s->seen = true;
		return false;
	}
	if (raw) {
		s->raw = c->xf[i];
		raw_start(&c->raw_pool, s->raw, s->call, mono_ms());
		s->done = s->raw->phase == RAW_DONE;
		return true;
	}
	if (call_setup(c, s, o && (o->hedge_ms > 0 || o->grace_ms > 0)) < 0) {
		s->call->err = -ENOMEM;
		s->done = s->seen = true;
		return false;
	}
	curl_multi_add_handle(c->multi, s->easy);
	return true;
}

static bool call_running(const struct call_state *s)
{
	return (s->easy || s->raw) && !s->done;
}

static int64_t call_progress(const struct call_state *s)
{
	return s->raw ? s->raw->progress_ms : s->progress_ms;
}

/* True when every running call has moved no byte for ms. */
static bool all_stalled(const struct call_state *st, int started, int64_t now, long ms)
{
	for (int i = 0; i < started; i++)
		if (call_running(&st[i]) && now - call_progress(&st[i]) < ms)
			return false;
	return true;
}

/* libcurl's turn: wait up to wait ms for its sockets, move its transfers
 * on, finish those done. < 0: the multi handle failed. */
static int curl_turn(struct http_client *c, long wait)
{
	if (wait > 0)
		curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
	int still = 0;
	if (curl_multi_perform(c->multi, &still) != CURLM_OK)
		return -1;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct call_state *s;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		call_finish(c, s, msg);
	}
	return 0;
}

/* The raw calls' turn: wait up to wait ms (less if a call's clock runs
 * out sooner) for their sockets, move them on. */
static void raw_turn(struct http_client *c, struct call_state *st, int started, long wait)
{
	struct pollfd pfd[RAW_BATCH_MAX];
	int idx[RAW_BATCH_MAX], np = 0;
	int64_t now = mono_ms();
	for (int i = 0; i < started; i++) {
		if (!call_running(&st[i]))
			continue;
		int64_t end = raw_deadline(st[i].raw, c->timeout_ms, c->connect_timeout_ms);
		if (end - now < wait)
			wait = end > now ? (long)(end - now) : 0;
		pfd[np] = (struct pollfd){ .fd = st[i].raw->fd, .events = raw_events(st[i].raw) };
		idx[np++] = i;
	}
	if (np == 0)
		return;
	/* wait 0: calls just started; their answers are not in yet */
	int r = wait > 0 ? poll(pfd, (nfds_t)np, (int)wait) : 0;
	now = mono_ms();
	for (int k = 0; k < np; k++) {
		struct call_state *s = &st[idx[k]];
		short rev = r > 0 ? pfd[k].revents : 0;
		s->done = raw_step(s->raw, rev, now, c->timeout_ms, c->connect_timeout_ms);
		if (s->done && s->call->err != 0)
			snprintf(c->last_error, sizeof(c->last_error), "%s", s->raw->err);
	}
}

/* A call is over: its transfer let go (raw: its socket kept or closed). */
static void call_end(struct http_client *c, struct call_state *s)
{
	if (s->raw) {
		raw_end(&c->raw_pool, s->raw);
		return;
	}
	if (!s->easy)
		return;
	curl_multi_remove_handle(c->multi, s->easy);
	pool_put(c, s->easy);
	curl_slist_free_all(s->headers);
	free(s->https_url);
}

/* Whether the batch goes the raw way: a plain process, every URL one it
 * takes, and its buffers made. */
static bool run_raw(struct http_client *c, const struct http_call *calls, int n)
{
	if (c->tls || n > RAW_BATCH_MAX)
		return false;
	for (int i = 0; i < n; i++)
		if (!raw_takes(&calls[i]))
			return false;
	for (int i = 0; i < n; i++)
		if (!c->xf[i] && !(c->xf[i] = malloc(sizeof(*c->xf[i]))))
			return false;
	return true;
}

int http_client_run(struct http_client *c, struct http_call *calls, int n,
		    const struct http_run_opts *o, int *ret_winner)
{
	struct call_state stack_st[8];
	struct call_state *st = n <= 8 ? stack_st : calloc((size_t)n, sizeof(*st));
	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof(*st) * (size_t)(n <= 8 ? 8 : n));
	bool hedge = o && o->hedge_ms > 0;
	bool raw = c->raw_enabled && run_raw(c, calls, n);
	long grace = o ? o->grace_ms : 0;
	int started = 0, running = 0, winner = -1;
	int64_t deadline = 0; /* grace: stragglers are cut off then */
	for (int i = 0; i < n; i++) {
		st[i].call = &calls[i];
		calls[i].err = -ECANCELED;
		calls[i].status = 0;
		calls[i].out_len = 0;
		calls[i].out_alloc = NULL;
		calls[i].resp_header_value = NULL;
		calls[i].slow = false;
	}
	for (; started < (hedge ? 1 : n) && started < n; started++)
		running += call_start(c, st, started, o, raw);
	long wait = 0;
	for (;;) {
		if (raw)
			raw_turn(c, st, started, wait);
		else if (curl_turn(c, wait) < 0)
			break;
		for (int i = 0; i < started; i++) {
			if (!st[i].done || st[i].seen)
				continue;
			st[i].seen = true;
			running--;
			if (winner < 0 && call_good(o, st[i].call))
				winner = i;
		}
		int64_t now = mono_ms();
		if (hedge && winner >= 0)
			break;
		if (winner >= 0 && grace > 0 && deadline == 0)
			deadline = now + grace;
		if (deadline && now >= deadline && all_stalled(st, started, now, grace))
			break;
		if (hedge && started < n &&
		    (running == 0 || all_stalled(st, started, now, o->hedge_ms))) {
			for (int i = 0; i < started; i++)
				if (call_running(&st[i]))
					calls[i].slow = true;
			running += call_start(c, st, started, o, raw);
			started++;
			wait = 0;
			continue;
		}
		if (running <= 0)
			break;
		wait = 1000;
		if (hedge)
			wait = o->hedge_ms / 4 > 0 ? o->hedge_ms / 4 : 1;
		if (deadline) {
			/* until the stragglers could all count as stalled: the
			 * deadline, or grace after the latest byte one moved
			 * (bytes moving meanwhile wake the poll and push it on) */
			int64_t at = deadline;
			for (int i = 0; i < started; i++)
				if (call_running(&st[i]) && call_progress(&st[i]) + grace > at)
					at = call_progress(&st[i]) + grace;
			wait = at > now ? (long)(at - now) : 1;
		}
	}
	for (int i = 0; i < started; i++) {
		if (call_running(&st[i])) {
			/* cut off: its connection is closed, not reused */
			calls[i].err = hedge ? -ECANCELED : -ETIMEDOUT;
			calls[i].slow = true;
		}
		if (calls[i].err != 0) {
			free(calls[i].out_alloc);
			calls[i].out_alloc = NULL;
			free(calls[i].resp_header_value);
			calls[i].resp_header_value = NULL;
		}
		call_end(c, &st[i]);
	}
	if (st != stack_st)
		free(st);
	if (ret_winner)
		*ret_winner = winner;
	return 0;
}

int http_client_parallel(struct http_client *c, struct http_call *calls, int n)
{
	return http_client_run(c, calls, n, NULL, NULL);
}

int http_client_call(struct http_client *c, struct http_call *call)
{
	int rc = http_client_parallel(c, call, 1);
	return rc < 0 ? rc : call->err;
}

int http_json(struct http_client *c, const char *method, const char *url,
	      const json_t *req, json_t **ret_resp, long *ret_status)
{
	return http_json_signed(c, method, url, req, NULL, NULL, ret_resp, ret_status);
}

int http_json_signed(struct http_client *c, const char *method, const char *url,
		     const json_t *req, http_sign_fn sign, void *sign_arg, json_t **ret_resp,
		     long *ret_status)
{
	return http_json_signed_ex(c, method, url, req, sign, sign_arg, ret_resp, ret_status,
				   NULL);
}

int http_json_signed_ex(struct http_client *c, const char *method, const char *url,
			const json_t *req, http_sign_fn sign, void *sign_arg, json_t **ret_resp,
			long *ret_status, json_t **ret_err_body)
{
	size_t body_len = 0;
	char *body = NULL;
	char authz[256];
	if (req) {
		body = ju_dump(req, &body_len);
		if (!body)
			return -ENOMEM;
	}
	if (sign) {
		int src = sign(sign_arg, method, url, body, body_len, authz, sizeof(authz));
		if (src < 0) {
			free(body);
			return src;
		}
	}
	struct http_call call = {
		.method = method,
		.url = url,
		.content_type = "application/json",
		.body = body,
		.body_len = body_len,
		.authorization = sign ? authz : NULL,
	};
	int rc = http_client_call(c, &call);
	free(body);
	if (ret_status)
		*ret_status = rc ? 0 : call.status;
	if (rc) {
		free(call.out_alloc);
		return rc;
	}
	json_t *resp = call.out_len ? ju_parse_object(call.out_alloc, call.out_len) : NULL;
	free(call.out_alloc);
	if (call.status >= 200 && call.status < 300) {
		if (ret_resp)
			*ret_resp = resp;
		else
			json_decref(resp);
		return 0;
	}
	int err = EIO;
	uint32_t e;
	if (resp && ju_u32(resp, "errno", &e) == 0 && e > 0 && e < 4096)
		err = (int)e;
	if (ret_err_body)
		*ret_err_body = resp;
	else
		json_decref(resp);
	return -err;
}

const char *http_client_last_error(const struct http_client *c)
{
	return c->last_error[0] ? c->last_error : "no error";
}

int http_urlencode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
			     ch == '~';
		size_t need = plain ? 1 : 3;
		if (n + need >= cap)
			return -ENAMETOOLONG;
		if (plain) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	if (n >= cap)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (int)n;
}
