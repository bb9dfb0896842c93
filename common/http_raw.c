/* http_raw — plain HTTP/1.1 over kept sockets (http_raw.h).
 *
 * Owns: the pool's idle sockets, and while a call runs its socket and
 * its request head. Never logs; a failure's words go into x->err. */
#include "http_raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void raw_pool_close(struct raw_pool *p)
{
	for (int i = 0; i < p->n; i++)
		close(p->e[i].fd);
	p->n = 0;
}

/* Split "http://host:port/rest" into x's origin, host and port; returns
 * the path ("/rest", "/" when empty) or NULL. */
static const char *raw_parse_url(const char *url, struct raw_xfer *x)
{
	if (strncmp(url, "http://", 7) != 0)
		return NULL;
	const char *o = url + 7;
	size_t olen = strcspn(o, "/?#");
	if (olen == 0 || olen >= sizeof(x->origin))
		return NULL;
	memcpy(x->origin, o, olen);
	x->origin[olen] = '\0';
	const char *colon;
	if (x->origin[0] == '[') {
		const char *close_br = strchr(x->origin, ']');
		if (!close_br)
			return NULL;
		colon = close_br[1] == ':' ? close_br + 1 : NULL;
		size_t hl = (size_t)(close_br - x->origin - 1);
		memcpy(x->host, x->origin + 1, hl);
		x->host[hl] = '\0';
	} else {
		colon = strrchr(x->origin, ':');
		size_t hl = colon ? (size_t)(colon - x->origin) : olen;
		memcpy(x->host, x->origin, hl);
		x->host[hl] = '\0';
	}
	const char *port = colon ? colon + 1 : "80";
	if (!x->host[0] || strlen(port) >= sizeof(x->port) || !*port ||
	    strspn(port, "0123456789") != strlen(port))
		return NULL;
	strcpy(x->port, port);
	return o[olen] == '/' ? o + olen : "/";
}

bool raw_takes(const struct http_call *call)
{
	/* a URL raw_start cannot parse fails there, -EHOSTUNREACH, as
	 * libcurl's malformed URL does */
	return call->url && strncmp(call->url, "http://", 7) == 0 &&
	       call->url[strcspn(call->url, " \r\n")] == '\0' && call->method &&
	       call->method[strcspn(call->method, " \r\n")] == '\0';
}

static void raw_fail(struct raw_xfer *x, int err, const char *what)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->keep = false;
	x->phase = RAW_DONE;
	x->call->err = err;
	snprintf(x->err, sizeof(x->err), "%s %s: %s", what, x->origin,
		 err == -ETIMEDOUT ? "timed out" : strerror(-err));
	/* out_alloc and resp_header_value: http_client_run frees those of
	 * every failed call */
}

/* An idle kept connection to x's origin the server has not closed. */
static int raw_pool_take(struct raw_pool *p, const char *origin)
{
	for (int i = p->n - 1; i >= 0; i--) {
		if (strcmp(p->e[i].origin, origin) != 0)
			continue;
		int fd = p->e[i].fd;
		p->e[i] = p->e[--p->n];
		char b;
		ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return fd;
		close(fd); /* closed by the server, or bytes nobody asked for */
	}
	return -1;
}

static void raw_pool_put(struct raw_pool *p, const char *origin, int fd)
{
	if (p->n == RAW_POOL_MAX) {
		close(p->e[0].fd);
		p->e[0] = p->e[--p->n];
	}
	snprintf(p->e[p->n].origin, sizeof(p->e[p->n].origin), "%s", origin);
	p->e[p->n++].fd = fd;
}

/* A fresh non-blocking connection to x's origin: x->phase RAW_CONNECTING
 * or RAW_SENDING, or done with the error. */
static void raw_connect(struct raw_xfer *x)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, x->host, buf) == 1 || inet_pton(AF_INET6, x->host, buf) == 1)
		hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(x->host, x->port, &hints, &ai) != 0 || !ai) {
		raw_fail(x, -EHOSTUNREACH, "resolve");
		return;
	}
	x->reused = false;
	x->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		freeaddrinfo(ai);
		raw_fail(x, errno == ENOMEM || errno == ENOBUFS ? -ENOMEM : -EIO, "socket for");
		return;
	}
	int one = 1;
	(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int r = connect(x->fd, ai->ai_addr, ai->ai_addrlen);
	int e = errno;
	freeaddrinfo(ai);
	if (r == 0)
		x->phase = RAW_SENDING;
	else if (e == EINPROGRESS)
		x->phase = RAW_CONNECTING;
	else
		/* as libcurl's "could not connect": refused, no route, ... */
		raw_fail(x, x->retried ? -ECONNRESET : -ECONNREFUSED, "connect to");
}

/* Send what the socket takes of head + body. */
static void raw_send(struct raw_xfer *x, int64_t now)
{
	const struct http_call *call = x->call;
	size_t total = x->req_len + call->body_len;
	while (x->sent < total) {
		struct iovec iov[2];
		int k = 0;
		if (x->sent < x->req_len)
			iov[k++] = (struct iovec){ x->req + x->sent, x->req_len - x->sent };
		size_t boff = x->sent > x->req_len ? x->sent - x->req_len : 0;
		if (call->body_len > boff)
			iov[k++] = (struct iovec){ (char *)call->body + boff, call->body_len - boff };
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)k };
		ssize_t n = sendmsg(x->fd, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			x->call->err = -errno;
			return;
		}
		x->sent += (size_t)n;
		x->progress_ms = now;
	}
	x->phase = RAW_HEAD;
}

static void raw_send_failed(struct raw_xfer *x, int64_t now);

void raw_start(struct raw_pool *p, struct raw_xfer *x, struct http_call *call, int64_t now)
{
	x->call = call;
	x->fd = -1;
	x->phase = RAW_CONNECTING;
	x->reused = x->retried = x->keep = false;
	x->req = x->req_inline;
	x->req_len = x->sent = x->head_len = x->alloc_cap = 0;
	x->clen = -1;
	x->start_ms = x->progress_ms = now;
	x->err[0] = '\0';
	call->err = 0;
	call->status = 0;
	call->out_len = 0;
	call->out_alloc = NULL;
	call->resp_header_value = NULL;
	const char *path = raw_parse_url(call->url, x);
	if (!path) {
		raw_fail(x, -EHOSTUNREACH, "bad URL for");
		return;
	}
	bool body = call->body || strcmp(call->method, "POST") == 0 ||
		    strcmp(call->method, "PUT") == 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t cap = pass == 0 ? sizeof(x->req_inline) : x->req_len + 1;
		int n = snprintf(x->req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n%s%s%s",
				 call->method, path, x->origin,
				 call->authorization ? "Authorization: " : "",
				 call->authorization ? call->authorization : "",
				 call->authorization ? "\r\n" : "");
		if (n >= 0 && body)
			n += snprintf(x->req + n, (size_t)n < cap ? cap - (size_t)n : 0,
				      "Content-Type: %s\r\nContent-Length: %zu\r\n",
				      call->content_type ? call->content_type
							 : "application/octet-stream",
				      call->body_len);
		if (n >= 0)
			n += snprintf(x->req + n, (size_t)n < cap ? cap - (size_t)n : 0, "\r\n");
		if (n < 0) {
			raw_fail(x, -EIO, "request for");
			return;
		}
		x->req_len = (size_t)n;
		if ((size_t)n < cap)
			break;
		x->req = malloc((size_t)n + 1);
		if (!x->req) {
			x->req = x->req_inline;
			raw_fail(x, -ENOMEM, "request for");
			return;
		}
	}
	x->fd = raw_pool_take(p, x->origin);
	if (x->fd >= 0) {
		x->reused = true;
		x->phase = RAW_SENDING;
	} else {
		raw_connect(x);
	}
	if (x->phase == RAW_SENDING)
		raw_send(x, now);
	if (x->phase != RAW_DONE && x->call->err != 0)
		raw_send_failed(x, now);
}

short raw_events(const struct raw_xfer *x)
{
	switch (x->phase) {
	case RAW_CONNECTING:
		return POLLOUT;
	case RAW_SENDING:
		return POLLOUT | POLLIN; /* the server may answer early (413) */
	case RAW_HEAD:
	case RAW_BODY:
		return POLLIN;
	default:
		return 0;
	}
}

int64_t raw_deadline(const struct raw_xfer *x, long timeout_ms, long connect_timeout_ms)
{
	int64_t end = timeout_ms > 0 ? x->start_ms + timeout_ms : INT64_MAX / 2; /* 0: none */
	if (x->phase == RAW_CONNECTING && connect_timeout_ms > 0 &&
	    x->start_ms + connect_timeout_ms < end)
		end = x->start_ms + connect_timeout_ms;
	return end;
}

/* The connection died before any byte of the reply: on a kept one, send
 * again once on a fresh one. Returns false if that is not allowed. */
static bool raw_retry(struct raw_xfer *x, int64_t now)
{
	if (!x->reused || x->retried || x->head_len > 0)
		return false;
	close(x->fd);
	x->fd = -1;
	x->retried = true;
	x->sent = 0;
	x->call->err = 0;
	x->phase = RAW_CONNECTING;
	raw_connect(x);
	if (x->phase == RAW_SENDING)
		raw_send(x, now);
	if (x->phase != RAW_DONE && x->call->err != 0)
		raw_send_failed(x, now);
	return true;
}

/* A send failed (call->err): a kept connection the server closed is
 * tried once more, fresh; else the call fails. */
static void raw_send_failed(struct raw_xfer *x, int64_t now)
{
	int e = x->call->err;
	if (!raw_retry(x, now))
		raw_fail(x, e == -EPIPE || e == -ECONNRESET ? -EIO : e, "send to");
}

int http_call_take_body(struct http_call *call, size_t *alloc_cap, const void *p, size_t n)
{
	if (call->out) {
		if (n > call->out_cap - call->out_len)
			return -EOVERFLOW;
		memcpy((char *)call->out + call->out_len, p, n);
		call->out_len += n;
		return 0;
	}
	if (call->out_len + n + 1 > *alloc_cap) {
		size_t cap = *alloc_cap ? *alloc_cap : 4096;
		while (cap < call->out_len + n + 1)
			cap *= 2;
		char *q = realloc(call->out_alloc, cap);
		if (!q)
			return -ENOMEM;
		call->out_alloc = q;
		*alloc_cap = cap;
	}
	memcpy(call->out_alloc + call->out_len, p, n);
	call->out_len += n;
	call->out_alloc[call->out_len] = '\0';
	return 0;
}

/* Trim a header value in place; returns its start. */
static char *raw_trim(char *v, char *end)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return v;
}

/* Parse the reply head (x->head, its end at hend). Returns 0, 1 for an
 * interim (1xx) head to skip, or -errno. */
static int raw_parse_head(struct raw_xfer *x, char *hend)
{
	struct http_call *call = x->call;
	char *line = x->head;
	char *eol = strstr(line, "\r\n");
	int minor, status;
	if (!eol || sscanf(line, "HTTP/1.%d %3d", &minor, &status) != 2 || status < 100 ||
	    status > 999)
		return -EIO;
	if (status < 200)
		return 1;
	call->status = status;
	x->keep = minor >= 1;
	x->clen = status == 204 || status == 304 ? 0 : -1;
	for (line = eol + 2; line < hend; line = eol + 2) {
		eol = strstr(line, "\r\n");
		if (!eol || eol > hend)
			break;
		char *colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon)
			continue;
		*colon = '\0';
		char *v = raw_trim(colon + 1, eol);
		if (strcasecmp(line, "Content-Length") == 0) {
			char *e;
			long long cl = strtoll(v, &e, 10);
			if (*e || cl < 0)
				return -EIO;
			x->clen = status == 204 || status == 304 ? 0 : cl;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (strcasecmp(v, "identity") != 0)
				return -EIO; /* chunked: never sent by BigFS's servers */
		} else if (strcasecmp(line, "Connection") == 0) {
			if (strcasecmp(v, "close") == 0)
				x->keep = false;
			else if (strcasecmp(v, "keep-alive") == 0)
				x->keep = true;
		} else if (call->resp_header && !call->resp_header_value &&
			   strcasecmp(line, call->resp_header) == 0) {
			call->resp_header_value = strdup(v);
			if (!call->resp_header_value)
				return -ENOMEM;
		}
	}
	if (x->clen < 0)
		x->keep = false; /* the body ends at close */
	if (call->out && x->clen > (int64_t)call->out_cap)
		return -EOVERFLOW;
	return 0;
}

/* The reply is whole when its length is reached. */
static bool raw_whole(const struct raw_xfer *x)
{
	return x->clen >= 0 && x->call->out_len >= (size_t)x->clen;
}

/* Read the head; then the body bytes that came with it. */
static void raw_read_head(struct raw_xfer *x, int64_t now)
{
	size_t from = 0; /* where "\r\n\r\n" may start */
	for (;;) {
		char *hend = x->head_len ? strstr(x->head + from, "\r\n\r\n") : NULL;
		if (!hend) {
			if (x->head_len >= sizeof(x->head) - 1) {
				raw_fail(x, -EIO, "reply head too long from");
				return;
			}
			ssize_t n = recv(x->fd, x->head + x->head_len,
					 sizeof(x->head) - 1 - x->head_len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n <= 0) {
				int e = n == 0 ? -ECONNRESET : -errno;
				if (!raw_retry(x, now))
					raw_fail(x, e == -ECONNRESET ? -EIO : e, "reply from");
				return;
			}
			x->progress_ms = now;
			from = x->head_len > 3 ? x->head_len - 3 : 0;
			x->head_len += (size_t)n;
			x->head[x->head_len] = '\0';
			continue;
		}
		size_t used = (size_t)(hend + 4 - x->head);
		int r = raw_parse_head(x, hend + 2);
		if (r == 1) { /* interim: the real head follows */
			memmove(x->head, x->head + used, x->head_len - used + 1);
			x->head_len -= used;
			from = 0;
			continue;
		}
		if (r == 0 && x->clen > 0 && !x->call->out && x->call->out_alloc == NULL) {
			/* the whole body's room at once */
			x->alloc_cap = (size_t)x->clen + 1;
			x->call->out_alloc = malloc(x->alloc_cap);
			if (!x->call->out_alloc)
				r = -ENOMEM;
			else
				x->call->out_alloc[0] = '\0';
		}
		size_t extra = x->head_len - used;
		if (r == 0 && x->clen >= 0 && extra > (size_t)x->clen)
			r = -EIO; /* bytes past the reply */
		if (r == 0 && extra > 0)
			r = http_call_take_body(x->call, &x->alloc_cap, x->head + used, extra);
		if (r < 0) {
			raw_fail(x, r, "reply from");
			return;
		}
		x->phase = RAW_BODY;
		return;
	}
}

/* Read body bytes straight into their place: the caller's buffer, or
 * the one made as big as Content-Length; only a body that ends at close
 * goes through a bounce buffer. */
static void raw_read_body(struct raw_xfer *x, int64_t now)
{
	struct http_call *call = x->call;
	while (!raw_whole(x)) {
		char tmp[16384];
		char *dst = tmp;
		size_t want = sizeof(tmp);
		if (x->clen >= 0) {
			dst = (call->out ? (char *)call->out : call->out_alloc) + call->out_len;
			want = (size_t)x->clen - call->out_len;
		} else if (call->out && call->out_len < call->out_cap) {
			dst = (char *)call->out + call->out_len;
			want = call->out_cap - call->out_len;
		} else if (call->out) {
			want = 1; /* the buffer is full: one more byte overflows */
		}
		ssize_t n = recv(x->fd, dst, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0 && x->clen < 0)
			break; /* the body ends at close */
		if (n <= 0) {
			raw_fail(x, n == 0 ? -EIO : -errno, "reply body from");
			return;
		}
		x->progress_ms = now;
		int r = 0;
		if (dst == tmp)
			r = call->out ? -EOVERFLOW
				      : http_call_take_body(call, &x->alloc_cap, tmp, (size_t)n);
		else
			call->out_len += (size_t)n;
		if (r < 0) {
			raw_fail(x, r, "reply body from");
			return;
		}
	}
	if (call->out_alloc)
		call->out_alloc[call->out_len] = '\0';
	x->phase = RAW_DONE;
}

bool raw_step(struct raw_xfer *x, short revents, int64_t now, long timeout_ms,
	      long connect_timeout_ms)
{
	if (x->phase == RAW_DONE)
		return true;
	if (x->phase == RAW_CONNECTING && revents) {
		int e = 0;
		socklen_t el = sizeof(e);
		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e != 0) {
			raw_fail(x, x->retried ? -ECONNRESET : -ECONNREFUSED, "connect to");
			return true;
		}
		x->phase = RAW_SENDING;
		x->progress_ms = now;
	}
	if (x->phase == RAW_SENDING && (revents & POLLIN))
		x->phase = RAW_HEAD; /* an early answer: read it */
	else if (x->phase == RAW_SENDING && revents)
		raw_send(x, now);
	if (x->call->err != 0 && x->phase != RAW_DONE)
		raw_send_failed(x, now);
	if (x->phase == RAW_HEAD && (revents & (POLLIN | POLLERR | POLLHUP)))
		raw_read_head(x, now);
	if (x->phase == RAW_BODY)
		raw_read_body(x, now);
	if (x->phase != RAW_DONE && now >= raw_deadline(x, timeout_ms, connect_timeout_ms))
		raw_fail(x, -ETIMEDOUT, x->phase == RAW_CONNECTING ? "connect to" : "call to");
	return x->phase == RAW_DONE;
}

void raw_end(struct raw_pool *p, struct raw_xfer *x)
{
	if (x->fd >= 0) {
		/* not one whose request was cut short by an early answer */
		if (x->phase == RAW_DONE && x->keep && x->call->err == 0 &&
		    x->sent == x->req_len + x->call->body_len)
			raw_pool_put(p, x->origin, x->fd);
		else
			close(x->fd);
	}
	x->fd = -1;
	if (x->req != x->req_inline)
		free(x->req);
	x->req = x->req_inline;
}
