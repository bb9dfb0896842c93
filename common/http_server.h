/* http_server — libmicrohttpd behind a route table.
 *
 * A server owns one MHD daemon in thread-per-connection mode, so handlers
 * may block (disk, SQLite, calls to peers). Request bodies are collected
 * into memory up to the route's max_body (checked against Content-Length
 * before anything is allocated: a bigger body gets 413 E2BIG). Handlers run
 * on MHD's threads, concurrently: the context they get must be locked by
 * its owner.
 *
 * Dispatch: the first route whose method matches and whose path equals
 * `path`, or starts with it when `prefix` is true, handles the request;
 * none gives 404 ENOENT, a path with another method 405 EINVAL.
 *
 * Transport (struct http_server_opts): TLS when given a certificate and
 * key (by default the process's, transport_config.h; a TLS server refuses
 * plain HTTP). Limits against hostile clients: a connection idle for
 * idle_timeout_s is closed; a request's headers must all arrive within
 * request_timeout_s of the connection's start or the previous request's
 * end, and its body within request_timeout_s of the headers — else the
 * connection is shut down (a client sending a byte a second cannot hold a
 * thread); at most per_ip_limit connections from one address and
 * conn_limit in all (more are closed at once). The time a handler runs
 * and a reply takes to send is not counted (only idleness is). */
#ifndef BIGFS_HTTP_SERVER_H
#define BIGFS_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request;

/* Build the response through exactly one http_reply_* call; returning
 * without one sends 500 EIO. */
typedef void (*http_handler_fn)(void *ctx, struct http_request *req);

struct http_route {
	const char *method;
	const char *path;
	bool prefix;
	size_t max_body;   /* 0: no body allowed */
	http_handler_fn fn;
};

struct http_server_opts {
	size_t read_buffer;          /* per-connection read buffer (>= 32 KiB) */
	const char *tls_cert_pem;    /* NUL-terminated PEM; NULL: plain HTTP */
	const char *tls_key_pem;     /* borrowed, must outlive the server */
	unsigned idle_timeout_s;     /* 0: never */
	unsigned request_timeout_s;  /* 0: no cap */
	unsigned per_ip_limit;       /* 0: none */
	unsigned conn_limit;         /* 0: MHD's default */
};

/* The defaults: a 32 KiB buffer, the process's TLS identity and limits
 * (transport_config.h). */
void http_server_opts_default(struct http_server_opts *o);

/* Start listening on listen_addr with opts o (NULL: the defaults).
 * Returns 0 or -errno: -EPROTONOSUPPORT when TLS is asked for and
 * libmicrohttpd cannot serve it, -EINVAL for a certificate or key it
 * refuses (it logs why), -EADDRINUSE and the like from the socket. */
int http_server_start_opts(struct http_server **ret, const char *listen_addr,
			   const struct http_route *routes, void *ctx,
			   const struct http_server_opts *o);
/* Start listening on listen_addr ("HOST:PORT", port 0 = ephemeral), with
 * the defaults.
 * routes[] ends with an entry whose fn is NULL; it and ctx must outlive
 * the server. Returns 0 or -errno (e.g. -EADDRINUSE). */
int http_server_start(struct http_server **ret, const char *listen_addr,
		      const struct http_route *routes, void *ctx);
/* The same with a per-connection read buffer of read_buffer bytes (at
 * least 32 KiB, the default): servers of large bodies read them in
 * fewer, larger pieces. */
int http_server_start_ex(struct http_server **ret, const char *listen_addr,
			 const struct http_route *routes, void *ctx, size_t read_buffer);
/* The port actually bound. */
uint16_t http_server_port(const struct http_server *s);
/* Stop accepting, wait for running handlers, free. NULL is fine. */
void http_server_stop(struct http_server *s);

/* Request accessors; pointers are borrowed for the handler's duration. */
const char *http_req_method(const struct http_request *r);
const char *http_req_path(const struct http_request *r);
/* Remainder of the path after a prefix route's path. */
const char *http_req_path_rest(const struct http_request *r);
/* Query parameter or NULL. */
const char *http_req_query(const struct http_request *r, const char *key);
/* Request header or NULL. */
const char *http_req_header(const struct http_request *r, const char *name);
/* The body (NUL-terminated after ret_len bytes). A body announced by
 * Content-Length starts on a page boundary. */
const char *http_req_body(const struct http_request *r, size_t *ret_len);
/* Parse the body as a JSON object; on failure replies 400 EINVAL itself and
 * returns NULL. New reference otherwise. */
json_t *http_req_json(struct http_request *r);
/* The body as a JSON object, parsed once per request however many times
 * it is asked for (checks before the handler and the handler itself share
 * the parse): borrowed, valid for the request; NULL if it is not one (no
 * reply is made). http_req_json returns a new reference to the same. */
const json_t *http_req_json_peek(struct http_request *r);
/* A pointer the route's code keeps with the request (e.g. the session a
 * wrapper checked before the handler runs); NULL until set. */
void http_req_set_user(struct http_request *r, void *user);
void *http_req_user(const struct http_request *r);
/* The client's IPv4 address in host byte order: 0 or -EAFNOSUPPORT. */
int http_req_peer_ipv4(const struct http_request *r, uint32_t *ret);
/* Typed query getters: 0, -ENOENT if absent, -EINVAL if malformed. */
int http_req_query_u64(const struct http_request *r, const char *key, uint64_t *ret);

/* A request made inside parent (one op of a batch): the body is `body`
 * (a reference is taken), the path `path` (static), the method, route
 * and user parent's; no headers, query or peer. A route's handler runs
 * on it as on any request, and its reply is kept, not sent: JSON only.
 * NULL if out of memory. */
struct http_request *http_subreq_new(struct http_request *parent, const char *path,
				     json_t *body);
/* The request r was made inside (http_subreq_new), NULL for one that
 * came over the wire. */
struct http_request *http_req_parent(const struct http_request *r);
/* The reply the handler made (a new reference; {"errno": EIO} if it made
 * none) and its HTTP status; frees r. */
json_t *http_subreq_end(struct http_request *r, int *ret_status);

/* Replies. Each takes ownership of what it is given. */
void http_reply_json(struct http_request *r, int status, json_t *body);
/* err is a positive or negative errno; message is printf-style. */
void http_reply_error(struct http_request *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Raw bytes; buf is malloc'ed and freed by the server. */
void http_reply_raw(struct http_request *r, int status, void *buf, size_t len,
		    const char *content_type);
/* len bytes of the open file fd from offset; the server closes fd (also
 * when the reply cannot be built). Sent with sendfile(2): the bytes go
 * from the page cache to the socket without a copy through this process. */
void http_reply_fd(struct http_request *r, int status, int fd, uint64_t offset, uint64_t len,
		   const char *content_type);
/* Add a header to the reply built by the http_reply_* call just made.
 * Returns 0, or -ENOMEM (the reply then becomes a 500). */
int http_reply_header(struct http_request *r, const char *name, const char *value);
/* The HTTP status of the reply made so far, 0 if none (a handler that
 * counts its replies by status asks after making one). */
int http_reply_status(const struct http_request *r);

#endif
