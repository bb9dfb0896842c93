/* http_client — HTTP calls behind a small, blocking interface.
 *
 * One struct http_client per thread (it is not thread-safe); its
 * connection cache keeps connections to the master and workers alive
 * between calls. http_client_parallel runs several requests at once on
 * that cache; http_client_run does too, hedged (replica reads: the next
 * replica when the first stalls) or with a grace (replica writes: a
 * stalled replica is cut off once another has the bytes).
 *
 * Two engines under the one interface: plain http:// calls go through
 * http_raw (HTTP/1.1 of its own over kept sockets: a third less CPU per
 * call than libcurl), https through libcurl's multi handle. The
 * environment variable BIGFS_HTTP_CURL=1, set before a client is made,
 * sends plain calls through libcurl too (a fallback, and the A/B).
 *
 * TLS: a client takes the process's setting (transport_config.h) when it
 * is made. In a TLS process every URL is fetched over https — one written
 * "http://" is sent as "https://" — plaintext is refused, and the peer's
 * certificate is always verified (against the configured CA file, else the
 * system's store). Callers build URLs with transport_scheme().
 *
 * Transport errors come back as negative errno: -ECONNREFUSED (peer down,
 * the request surely not sent), -ECONNRESET (a connect refused right after
 * the peer had answered on a kept connection: libcurl may have sent the
 * request on that one before the peer died, then silently retried),
 * -ETIMEDOUT (deadline passed), -EHOSTUNREACH (name/route), -EPROTO (the
 * TLS handshake failed: e.g. the peer speaks plain HTTP), -EKEYREJECTED
 * (the peer's certificate did not verify, or the CA file is unusable),
 * -EIO (other; e.g. a plain client talking to a TLS server).
 * An HTTP response of any status is success at this layer; http_json turns
 * a non-2xx status into the errno of the JSON error body. */
#ifndef BIGFS_HTTP_CLIENT_H
#define BIGFS_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_client;

/* timeout_ms bounds each whole request; connect_timeout_ms the connect.
 * Returns NULL on out-of-memory. */
struct http_client *http_client_new(long timeout_ms, long connect_timeout_ms);
void http_client_free(struct http_client *c);

/* One request of a parallel batch. The caller fills the inputs; the call
 * fills the outputs.
 * - body/body_len: request body (borrowed), may be NULL/0.
 * - out/out_cap: where the response body goes (borrowed). If out is NULL
 *   the body is collected in a malloc'ed buffer returned in out_alloc
 *   (caller frees), NUL-terminated. A body longer than out_cap is an
 *   error (-EOVERFLOW in err). */
struct http_call {
	const char *method;       /* "GET", "PUT", "POST", "DELETE" */
	const char *url;
	const char *content_type; /* NULL: application/octet-stream if body */
	const void *body;
	size_t body_len;
	void *out;
	size_t out_cap;
	const char *resp_header;  /* NULL, or the name of a response header to keep */
	const char *authorization; /* NULL, or the value of an Authorization header */
	/* results */
	int err;                  /* 0, or -errno transport error */
	long status;              /* HTTP status when err == 0 */
	size_t out_len;           /* bytes of response body */
	char *out_alloc;          /* when out == NULL */
	char *resp_header_value;  /* that header's value (caller frees), NULL if absent */
	bool slow;                /* http_client_run: it stalled, and was hedged or cut off */
};

/* Run n calls concurrently; returns when all have finished. Returns 0 (look
 * at each call's err/status) or -ENOMEM. */
int http_client_parallel(struct http_client *c, struct http_call *calls, int n);

/* How http_client_run drives a batch; NULL or all zero: as
 * http_client_parallel. "Good" is `good` if set, else a 2xx status.
 * - hedge_ms > 0 (hedged, for reads of the same bytes from replicas):
 *   start calls[0] only; start the next call when every running one has
 *   moved no byte for hedge_ms, or all of them failed; stop at the first
 *   good call; the others are cut off (err -ECANCELED). A call that was
 *   hedged over or cut off while stalled has `slow` set.
 * - grace_ms > 0 (for writes to every replica): start all; once one call
 *   is good, stop as soon as every call still running has moved no byte
 *   for grace_ms (err -ETIMEDOUT, `slow` set) — a stalled replica cannot
 *   hold the batch past its whole timeout while another has the bytes.
 * - before_start(call, i, arg), if set, runs just before call i starts
 *   (e.g. to give a hedge its own output buffer); < 0 fails that call. */
struct http_run_opts {
	long hedge_ms;
	long grace_ms;
	bool (*good)(const struct http_call *call, void *arg);
	int (*before_start)(struct http_call *call, int i, void *arg);
	void *arg;
};

/* Run calls as o says. *ret_winner (if not NULL) gets the index of the
 * first good call, or -1. Every call's results are filled (calls never
 * started: err -ECANCELED). Returns 0 or -ENOMEM. */
int http_client_run(struct http_client *c, struct http_call *calls, int n,
		    const struct http_run_opts *o, int *ret_winner);

/* One call (same semantics as a batch of one). Returns call->err. */
int http_client_call(struct http_client *c, struct http_call *call);

/* JSON request/response. req is borrowed and may be NULL (no body). On a
 * 2xx status, *ret_resp gets a new reference to the parsed object (or NULL
 * if the body was empty) and the call returns 0. On another status, it
 * returns -errno from the body's "errno" member (-EIO if absent). Transport
 * errors as above. *ret_status, if not NULL, gets the HTTP status (0 on a
 * transport error). */
int http_json(struct http_client *c, const char *method, const char *url,
	      const json_t *req, json_t **ret_resp, long *ret_status);

/* http_json with an Authorization header: sign(arg, method, url, body,
 * body_len, out, cap) gets the exact body bytes about to be sent and
 * writes the header's value into out; its error (< 0) is returned without
 * a request. sign NULL: no header. */
typedef int (*http_sign_fn)(void *arg, const char *method, const char *url, const void *body,
			    size_t body_len, char *out, size_t cap);
int http_json_signed(struct http_client *c, const char *method, const char *url,
		     const json_t *req, http_sign_fn sign, void *sign_arg, json_t **ret_resp,
		     long *ret_status);
/* http_json_signed that also keeps an error answer's body: on a non-2xx
 * status *ret_err_body (if not NULL) gets a new reference to the parsed
 * JSON object of the body, or NULL if there was none (a standby master's
 * 503 says which master is active there: master_list.h). Untouched on
 * success and on transport errors. */
int http_json_signed_ex(struct http_client *c, const char *method, const char *url,
			const json_t *req, http_sign_fn sign, void *sign_arg, json_t **ret_resp,
			long *ret_status, json_t **ret_err_body);

/* libcurl's words for this client's last transport failure (for a log
 * line or a message to the user), "no error" if none. Borrowed until the
 * next call on c. */
const char *http_client_last_error(const struct http_client *c);

/* Percent-encode s for use in a URL query into out (cap bytes). Returns
 * the length, or -ENAMETOOLONG if it does not fit. */
int http_urlencode(const char *s, char *out, size_t cap);

#endif
