/* http_raw — plain HTTP/1.1 over kept sockets: http_client's engine for
 * http:// calls (libcurl stays for https). Internal to http_client.c.
 *
 * Why: a 4 KiB random read cost the mount 70 us of CPU, a third of it in
 * libcurl and the libc calls it makes per transfer (header lists, URL
 * parsing, its receive buffer, several polls). Here a call is one
 * request head written with the body in one sendmsg, and the reply read
 * with recv: its head into a small buffer, its body straight into the
 * caller's.
 *
 * What it speaks: requests with Content-Length bodies; replies with
 * Content-Length, or none (the body then ends at close). A chunked reply
 * is an error (-EIO): BigFS's servers never send one. No proxies, no
 * redirects, no 100-continue (Expect is never sent), as libcurl was set.
 *
 * Kept connections: a call's connection goes back to the pool when its
 * reply was whole and the server did not say close. A kept connection
 * the server closed while idle is found before use (a peek says EOF). If
 * one still dies before any byte of the reply, the request is sent once
 * more on a fresh connection (libcurl does the same); a refusal of that
 * one is -ECONNRESET, not -ECONNREFUSED: the first may have been applied
 * (http_client.h). */
#ifndef BIGFS_HTTP_RAW_H
#define BIGFS_HTTP_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

#define RAW_POOL_MAX 16
#define RAW_ORIGIN_MAX 96
#define RAW_HEAD_MAX 8192
#define RAW_REQ_INLINE 1024
#define RAW_BATCH_MAX 8  /* calls of one batch the raw way (replicas: at most 8) */

/* Idle kept connections, by "host:port". */
struct raw_pool {
	struct {
		char origin[RAW_ORIGIN_MAX];
		int fd;
	} e[RAW_POOL_MAX];
	int n;
};

enum raw_phase { RAW_CONNECTING, RAW_SENDING, RAW_HEAD, RAW_BODY, RAW_DONE };

/* One call in flight. */
struct raw_xfer {
	struct http_call *call;
	enum raw_phase phase;
	int fd;
	bool reused;            /* fd came from the pool */
	bool retried;           /* sent again on a fresh connection */
	bool keep;              /* the reply allows the connection to be kept */
	char origin[RAW_ORIGIN_MAX];
	char host[RAW_ORIGIN_MAX]; /* without brackets, for getaddrinfo */
	char port[8];
	char req_inline[RAW_REQ_INLINE];
	char *req;              /* the request head: req_inline, or malloc'ed */
	size_t req_len;
	size_t sent;            /* of head + body */
	char head[RAW_HEAD_MAX];
	size_t head_len;
	int64_t clen;           /* Content-Length of the reply, -1 if none */
	size_t alloc_cap;
	int64_t start_ms;       /* for the whole call's and the connect's timeouts */
	int64_t progress_ms;    /* the last time bytes moved either way */
	char err[128];          /* why it failed, for http_client_last_error */
};

/* A zeroed pool is empty. */
void raw_pool_close(struct raw_pool *p);

/* n body bytes at p into call: its buffer (-EOVERFLOW past out_cap), or
 * out_alloc grown as needed (*alloc_cap its size) and NUL-terminated.
 * Both engines take bodies this way. 0, -EOVERFLOW or -ENOMEM. */
int http_call_take_body(struct http_call *call, size_t *alloc_cap, const void *p, size_t n);

/* Whether call can go this way: an http:// URL the parser takes. */
bool raw_takes(const struct http_call *call);

/* Start call (the results zeroed first): a kept connection or a fresh
 * one, and as much of the request as the socket takes. Leaves x->phase
 * RAW_DONE with call->err set if it failed at once. */
void raw_start(struct raw_pool *p, struct raw_xfer *x, struct http_call *call, int64_t now);

/* The poll events x waits for (0 when done). */
short raw_events(const struct raw_xfer *x);

/* Move x on after poll said revents (0: only check the clock): returns
 * true once x is done (call's results filled). */
bool raw_step(struct raw_xfer *x, short revents, int64_t now, long timeout_ms,
	      long connect_timeout_ms);

/* When x's clock runs out, in mono ms. */
int64_t raw_deadline(const struct raw_xfer *x, long timeout_ms, long connect_timeout_ms);

/* x is over: a whole reply's kept connection goes back to p, any other is
 * closed (a call cut off mid-way never leaves its socket for reuse). */
void raw_end(struct raw_pool *p, struct raw_xfer *x);

#endif
