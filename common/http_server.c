/* http_server — libmicrohttpd behind a route table (http_server.h).
 *
 * Threads: MHD's listener thread plus one thread per connection; handlers
 * run on connection threads, concurrently. Owns: the daemon and the
 * listening socket; per request, a struct http_request holding the body
 * (collected before the handler runs, bounded by the route's max_body) and
 * the response the handler built; per connection thread, the last big
 * body buffer, kept for the next body (body_alloc). The route table and
 * ctx are borrowed.
 *
 * Request deadlines: MHD times out idle connections itself but has no cap
 * on a request that trickles in. Each connection has a `struct hs_conn`
 * (MHD's socket context), registered in `conns` from MHD's STARTED to its
 * CLOSED notification, with an atomic deadline: set when a request's
 * headers may start (connection start, previous request completed), moved
 * when the headers are in (for the body), cleared while a handler runs and
 * its reply is sent. The watchdog thread looks once a second and shuts
 * down (shutdown(2), never close: MHD owns the fd) the socket of a
 * connection past its deadline; MHD's thread then sees the end of the
 * stream and closes it. MHD sends CLOSED before it closes the fd, and the
 * list is changed and walked under `lock`, so the watchdog never touches a
 * reused descriptor. Lock order: `lock` is a leaf. */
#include "http_server.h"
#include "clock.h"
#include "errors.h"
#include "json_util.h"
#include "log.h"
#include "transport_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HS_BODY_ALIGN 4096
#define HS_BODY_KEEP_MIN (256u << 10)  /* bodies this big are kept for reuse */
#define HS_BODY_ALIGN_MIN (64u << 10)  /* smaller bodies are not page-aligned */

/* Big bodies (a worker's 8 MiB PUTs) are kept for the next one that fits
 * in a pool the connection threads share, at most HS_BODY_POOL of them.
 * Without reuse every PUT took 8 MiB from malloc and gave it back, and the
 * arenas of the connection threads held up to 600 MiB of resident memory
 * per worker through the bench workload; one kept buffer per connection
 * thread (each keep-alive connection has its thread) still held 126-166
 * MiB. What the pool does not keep is freed (the worker has malloc map
 * such sizes, so that goes back to the system at once). */
#define HS_BODY_POOL 4

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static char *pool_buf[HS_BODY_POOL];
static size_t pool_cap[HS_BODY_POOL];
static int pool_n;

/* A page-aligned buffer of at least cap bytes, *ret_cap its size. */
static char *body_alloc(size_t cap, size_t *ret_cap)
{
	char *b = NULL;
	if (cap >= HS_BODY_KEEP_MIN) {
		pthread_mutex_lock(&pool_mu);
		for (int i = 0; i < pool_n; i++) {
			if (pool_cap[i] >= cap) {
				b = pool_buf[i];
				*ret_cap = pool_cap[i];
				pool_buf[i] = pool_buf[--pool_n];
				pool_cap[i] = pool_cap[pool_n];
				break;
			}
		}
		pthread_mutex_unlock(&pool_mu);
		if (b)
			return b;
	}
	/* Only a body that may go to a disk with O_DIRECT needs the page
	 * alignment; an aligned allocation of a small size made glibc
	 * consolidate its fast bins at every request (3% of the master's
	 * time in an rm -r). */
	if (cap < HS_BODY_ALIGN_MIN)
		b = malloc(cap);
	else if (posix_memalign((void **)&b, HS_BODY_ALIGN, cap) != 0)
		b = NULL;
	if (!b)
		return NULL;
	*ret_cap = cap;
	return b;
}

/* Give a body buffer back: a big one is pooled (the pool keeps the
 * biggest it has seen). */
static void body_release(char *buf, size_t cap)
{
	if (!buf)
		return;
	if (cap >= HS_BODY_KEEP_MIN) {
		pthread_mutex_lock(&pool_mu);
		if (pool_n < HS_BODY_POOL) {
			pool_buf[pool_n] = buf;
			pool_cap[pool_n++] = cap;
			buf = NULL;
		} else {
			int small = 0;
			for (int i = 1; i < pool_n; i++)
				if (pool_cap[i] < pool_cap[small])
					small = i;
			if (pool_cap[small] < cap) {
				char *old = pool_buf[small];
				pool_buf[small] = buf;
				pool_cap[small] = cap;
				buf = old;
			}
		}
		pthread_mutex_unlock(&pool_mu);
	}
	free(buf);
}
#define HS_CONN_MEMORY_MIN (32 * 1024)    /* MHD's default */
#define HS_CONN_MEMORY_INCREMENT 1024     /* MHD's default */
#define HS_WATCHDOG_PERIOD_MS 1000

/* One connection, for the request deadline (see the head). */
struct hs_conn {
	struct hs_conn *prev, *next;    /* in conns, under lock */
	int fd;
	_Atomic int64_t deadline_ms;    /* clock_now_ms() bound; 0: none */
};

struct http_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	uint16_t port;
	const struct http_route *routes;
	void *ctx;
	int64_t request_timeout_ms;     /* 0: no deadlines, no watchdog */
	pthread_mutex_t lock;           /* guards conns, stop */
	pthread_cond_t cond;            /* wakes the watchdog to stop */
	struct hs_conn *conns;
	_Atomic bool started;           /* MHD's messages: errors before, debug after */
	bool stop;
	pthread_t watchdog;
	bool watchdog_started;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	const struct http_route *route;
	int early_err;          /* errno answered without running a handler */
	char *body;
	size_t body_len, body_cap;
	struct MHD_Response *resp;
	unsigned int status;
	void *user;             /* http_req_set_user */
	json_t *json;           /* the body parsed once (http_req_json_peek) */
	bool json_tried;
	bool sub;               /* http_subreq_new: the reply is kept in `kept` */
	struct http_request *parent;   /* of a sub-request */
	json_t *kept;
};

static int parse_listen(const char *addr, struct sockaddr_in *sin)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1)
		return 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -EHOSTUNREACH;
	sin->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

static const struct http_route *route_find(const struct http_server *s, const char *method,
					   const char *path, int *ret_err)
{
	bool path_known = false;
	for (const struct http_route *r = s->routes; r->fn; r++) {
		size_t len = strlen(r->path);
		bool match = r->prefix ? strncmp(path, r->path, len) == 0
				       : strcmp(path, r->path) == 0;
		if (!match)
			continue;
		path_known = true;
		if (strcmp(method, r->method) == 0)
			return r;
	}
	*ret_err = path_known ? EINVAL : ENOENT;
	return NULL;
}

static void set_response(struct http_request *r, unsigned int status, struct MHD_Response *resp,
			 const char *content_type)
{
	if (!resp)
		return;
	if (r->resp) {
		log_err("http_server: second reply to %s %s ignored", r->method, r->path);
		MHD_destroy_response(resp);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	r->resp = resp;
	r->status = status;
}

void http_reply_raw(struct http_request *r, int status, void *buf, size_t len,
		    const char *content_type)
{
	if (r->sub) {   /* a sub-request answers JSON only */
		json_t *body = strcmp(content_type, "application/json") == 0
				       ? ju_parse_object(buf, len) : NULL;
		free(buf);
		json_decref(r->kept);
		r->kept = body ? body : json_pack("{s:i}", "errno", EIO);
		r->status = body ? (unsigned int)status : 500;
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return;
	}
	set_response(r, (unsigned int)status, resp, content_type);
}

void http_reply_fd(struct http_request *r, int status, int fd, uint64_t offset, uint64_t len,
		   const char *content_type)
{
	if (r->sub) {
		close(fd);
		http_reply_raw(r, status, NULL, 0, content_type);
		return;
	}
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (!resp) {
		close(fd);
		return;
	}
	set_response(r, (unsigned int)status, resp, content_type);
}

int http_reply_header(struct http_request *r, const char *name, const char *value)
{
	if (r->sub)
		return r->kept ? 0 : -EINVAL;
	if (!r->resp)
		return -EINVAL;
	if (MHD_add_response_header(r->resp, name, value) == MHD_YES)
		return 0;
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	return -ENOMEM;
}

int http_reply_status(const struct http_request *r)
{
	return r->resp || r->kept ? (int)r->status : 0;
}

void http_reply_json(struct http_request *r, int status, json_t *body)
{
	if (r->sub) {
		json_decref(r->kept);
		r->kept = body ? body : json_object();
		r->status = (unsigned int)status;
		if (!r->kept) {
			r->kept = json_pack("{s:i}", "errno", ENOMEM);
			r->status = 500;
		}
		return;
	}
	size_t len = 0;
	char *text = body ? ju_dump(body, &len) : strdup("{}");
	json_decref(body);
	if (!text)
		return;
	if (!body)
		len = 2;
	http_reply_raw(r, status, text, len, "application/json");
}

/* The error body for err with HTTP status `status`. A message that is not
 * valid UTF-8 (it may quote a name from the request) has its non-ASCII
 * bytes replaced, so the body always says what went wrong. */
static void reply_error_status(struct http_request *r, int status, int err, char *msg)
{
	err = abs(err);
	json_t *body = json_pack("{s:i, s:s, s:s}", "errno", err, "error", errno_name(err),
				 "message", msg);
	if (!body) {
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
				*p = '?';
		body = json_pack("{s:i, s:s, s:s}", "errno", err, "error", errno_name(err),
				 "message", msg);
	}
	http_reply_json(r, status, body);
}

void http_reply_error(struct http_request *r, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_status(r, errno_http_status(err), err, msg);
}

/* MHD's own messages: why the daemon did not start is an error; once it
 * runs they are about single connections (a port scanner's garbage, a
 * plain-HTTP client at a TLS port) and go to debug. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_msg(atomic_load(&s->started) ? LOG_DEBUG : LOG_ERR, "http_server: %s", msg);
}

/* Start (timed) or stop (!timed) the clock on conn's current request. */
static void conn_deadline(struct http_server *s, struct MHD_Connection *conn, bool timed)
{
	if (!s->request_timeout_ms)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct hs_conn *c = ci ? ci->socket_context : NULL;
	if (c)
		atomic_store(&c->deadline_ms, timed ? clock_now_ms() + s->request_timeout_ms : 0);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct hs_conn *c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (!c)
			return; /* not timed: MHD's idle timeout still applies */
		c->fd = ci->connect_fd;
		atomic_init(&c->deadline_ms, clock_now_ms() + s->request_timeout_ms);
		pthread_mutex_lock(&s->lock);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->lock);
		*socket_context = c;
		return;
	}
	struct hs_conn *c = *socket_context;
	if (!c)
		return;
	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->lock);
	free(c);
	*socket_context = NULL;
}

/* Once a second: shut down connections whose request is overdue. */
static void *watchdog_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec until = clock_deadline_ms(HS_WATCHDOG_PERIOD_MS);
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
			;
		int64_t now = clock_now_ms();
		int cut = 0;
		for (struct hs_conn *c = s->conns; c && !s->stop; c = c->next) {
			int64_t d = atomic_load(&c->deadline_ms);
			if (d == 0 || now < d)
				continue;
			atomic_store(&c->deadline_ms, 0);
			shutdown(c->fd, SHUT_RDWR);
			cut++;
		}
		if (cut)
			log_info("http_server: port %u: shut down %d connection%s whose request "
				 "did not arrive within %lld s",
				 s->port, cut, cut == 1 ? "" : "s",
				 (long long)(s->request_timeout_ms / 1000));
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct http_request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = s;
		r->conn = conn;
		r->method = method;
		r->path = url;
		int err = 0;
		r->route = route_find(s, method, url, &err);
		*con_cls = r;
		conn_deadline(s, conn, true); /* now the body's clock */
		if (!r->route) {
			r->early_err = err;
		} else {
			const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								    MHD_HTTP_HEADER_CONTENT_LENGTH);
			if (cl) {
				char *end;
				errno = 0;
				unsigned long long n = strtoull(cl, &end, 10);
				if (errno || *end || cl[0] == '-') {
					r->early_err = EINVAL;
				} else if (n > r->route->max_body) {
					r->early_err = E2BIG;
				} else if (n > 0) {
					/* page-aligned: a worker can hand a data
					 * body to O_DIRECT without copying it */
					r->body = body_alloc((size_t)n + 1, &r->body_cap);
					if (!r->body)
						r->early_err = ENOMEM;
				}
			}
		}
		if (!r->early_err)
			return MHD_YES;
		conn_deadline(s, conn, false);
		/* Answer at once without reading a body we will not use. A
		 * known path asked with another method is 405 (errno EINVAL). */
		char msg[512];
		snprintf(msg, sizeof(msg), "%s %s: %s", method, url,
			 r->early_err == E2BIG ? "request body too large"
			 : r->early_err == ENOENT ? "no such path"
			 : r->early_err == EINVAL ? (r->route ? "bad Content-Length"
							      : "method not allowed on this path")
						  : "out of memory");
		int status = r->early_err == EINVAL && !r->route ? 405
							     : errno_http_status(r->early_err);
		reply_error_status(r, status, r->early_err, msg);
		enum MHD_Result ret = MHD_queue_response(conn, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		return ret;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->early_err)
			return MHD_YES;
		if (n > r->route->max_body - r->body_len) {
			r->early_err = E2BIG;
			return MHD_YES;
		}
		if (r->body_len + n + 1 > r->body_cap) {
			size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
			while (cap < r->body_len + n + 1)
				cap *= 2;
			char *p = realloc(r->body, cap);
			if (!p) {
				r->early_err = ENOMEM;
				return MHD_YES;
			}
			r->body = p;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		r->body[r->body_len] = '\0';
		return MHD_YES;
	}
	if (r->resp == NULL && r->status != 0)
		return MHD_YES; /* already answered early */
	conn_deadline(s, conn, false);
	if (r->early_err)
		http_reply_error(r, r->early_err, "%s %s: request body too large", method, url);
	else
		r->route->fn(s->ctx, r);
	if (!r->resp)
		http_reply_error(r, EIO, "%s %s: handler gave no reply", method, url);
	if (!r->resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(conn, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	struct http_request *r = *con_cls;
	conn_deadline(cls, conn, true); /* the next request's headers */
	if (!r)
		return;
	if (r->resp)
		MHD_destroy_response(r->resp);
	json_decref(r->json);
	body_release(r->body, r->body_cap);
	free(r);
	*con_cls = NULL;
}

void http_server_opts_default(struct http_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->read_buffer = HS_CONN_MEMORY_MIN;
	o->tls_cert_pem = transport_server_cert_pem();
	o->tls_key_pem = transport_server_key_pem();
	o->idle_timeout_s = transport_idle_timeout_s();
	o->request_timeout_s = transport_request_timeout_s();
	o->per_ip_limit = transport_per_ip_limit();
	o->conn_limit = transport_conn_limit();
}

int http_server_start(struct http_server **ret, const char *listen_addr,
		      const struct http_route *routes, void *ctx)
{
	return http_server_start_opts(ret, listen_addr, routes, ctx, NULL);
}

int http_server_start_ex(struct http_server **ret, const char *listen_addr,
			 const struct http_route *routes, void *ctx, size_t read_buffer)
{
	struct http_server_opts o;
	http_server_opts_default(&o);
	o.read_buffer = read_buffer;
	return http_server_start_opts(ret, listen_addr, routes, ctx, &o);
}

int http_server_start_opts(struct http_server **ret, const char *listen_addr,
			   const struct http_route *routes, void *ctx,
			   const struct http_server_opts *opts)
{
	struct http_server_opts o;
	if (opts)
		o = *opts;
	else
		http_server_opts_default(&o);
	size_t read_buffer = o.read_buffer < HS_CONN_MEMORY_MIN ? HS_CONN_MEMORY_MIN
								: o.read_buffer;
	bool tls = o.tls_cert_pem != NULL;
	if (tls != (o.tls_key_pem != NULL))
		return -EINVAL;
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return -EPROTONOSUPPORT;
	struct sockaddr_in sin;
	int err = parse_listen(listen_addr, &sin);
	if (err)
		return err;
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->routes = routes;
	s->ctx = ctx;
	s->request_timeout_ms = (int64_t)o.request_timeout_s * 1000;
	pthread_mutex_init(&s->lock, NULL);
	clock_cond_init(&s->cond);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		err = -errno;
		goto out_free;
	}
	int one = 1;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(s->listen_fd, 512) < 0) {
		err = -errno;
		goto out_close;
	}
	socklen_t slen = sizeof(sin);
	if (getsockname(s->listen_fd, (struct sockaddr *)&sin, &slen) < 0) {
		err = -errno;
		goto out_close;
	}
	s->port = ntohs(sin.sin_port);
	/* Options after the TLS pair are only read when TLS is on (the
	 * plain case ends the list with MHD_OPTION_END in its place). */
	s->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0),
		0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,   /* first: MHD wants it so */
		MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_CONNECTION_TIMEOUT, o.idle_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, o.conn_limit ? o.conn_limit : 4000u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o.per_ip_limit,
		/* MHD reads a body in pieces of its per-connection buffer:
		 * bigger pieces, fewer polls, reads and callbacks per megabyte
		 * of body. But MHD zeroes the whole buffer after each request,
		 * so servers of small requests keep the default. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, read_buffer,
		MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)HS_CONN_MEMORY_INCREMENT,
		tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, o.tls_cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, o.tls_key_pem,
		MHD_OPTION_END);
	if (!s->daemon) {
		/* MHD logged why; with TLS it is most often the PEM */
		err = tls ? -EINVAL : -EIO;
		goto out_close;
	}
	atomic_store(&s->started, true);
	if (s->request_timeout_ms) {
		err = -pthread_create(&s->watchdog, NULL, watchdog_main, s);
		if (err) {
			MHD_stop_daemon(s->daemon);
			goto out_close;
		}
		s->watchdog_started = true;
	}
	*ret = s;
	return 0;
out_close:
	close(s->listen_fd);
out_free:
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return err;
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->watchdog_started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->watchdog, NULL);
	}
	MHD_stop_daemon(s->daemon);
	close(s->listen_fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *http_req_method(const struct http_request *r)
{
	return r->method;
}

const char *http_req_path(const struct http_request *r)
{
	return r->path;
}

const char *http_req_path_rest(const struct http_request *r)
{
	size_t len = strlen(r->route->path);
	return strlen(r->path) >= len ? r->path + len : "";
}

const char *http_req_query(const struct http_request *r, const char *key)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

const char *http_req_header(const struct http_request *r, const char *name)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *http_req_body(const struct http_request *r, size_t *ret_len)
{
	*ret_len = r->body_len;
	return r->body ? r->body : "";
}

const json_t *http_req_json_peek(struct http_request *r)
{
	if (!r->json_tried) {
		r->json = ju_parse_object(r->body, r->body_len);
		r->json_tried = true;
	}
	return r->json;
}

json_t *http_req_json(struct http_request *r)
{
	json_t *v = json_incref((json_t *)http_req_json_peek(r));
	if (!v)
		http_reply_error(r, EINVAL, "%s: request body is not a JSON object", r->path);
	return v;
}

int http_req_query_u64(const struct http_request *r, const char *key, uint64_t *ret)
{
	const char *s = http_req_query(r, key);
	if (!s)
		return -ENOENT;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

struct http_request *http_subreq_new(struct http_request *parent, const char *path,
				     json_t *body)
{
	struct http_request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->srv = parent->srv;
	r->method = parent->method;
	r->path = path;
	r->route = parent->route;
	r->user = parent->user;
	r->json = json_incref(body);
	r->json_tried = true;
	r->sub = true;
	r->parent = parent;
	return r;
}

struct http_request *http_req_parent(const struct http_request *r)
{
	return r->parent;
}

json_t *http_subreq_end(struct http_request *r, int *ret_status)
{
	json_t *kept = r->kept;
	*ret_status = kept ? (int)r->status : 500;
	if (!kept)
		kept = json_pack("{s:i}", "errno", EIO);   /* the handler made no reply */
	json_decref(r->json);
	free(r);
	return kept;
}

void http_req_set_user(struct http_request *r, void *user)
{
	r->user = user;
}

void *http_req_user(const struct http_request *r)
{
	return r->user;
}

int http_req_peer_ipv4(const struct http_request *r, uint32_t *ret)
{
	const union MHD_ConnectionInfo *ci =
		r->conn ? MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)
			: NULL;
	if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	*ret = ntohl(((const struct sockaddr_in *)ci->client_addr)->sin_addr.s_addr);
	return 0;
}
