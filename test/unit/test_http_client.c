/* Unit tests of common/http_client.c's raw engine (common/http_raw.c):
 * plain HTTP/1.1 over kept sockets, against real loopback servers.
 *
 * The cast, on ephemeral 127.0.0.1 ports, new for every test:
 * - an echo server (common/http_server, libmicrohttpd): GET answers the
 *   asked number of pattern bytes with an X-Echo header; PUT and POST
 *   answer their body's length, a rolling sum of it, the method and the
 *   Authorization header; an unknown path 404 with a JSON error;
 * - a scripted server (a thread on a raw socket) that answers as a test
 *   tells it: keeps or closes connections, drops a request unanswered,
 *   speaks chunked, sends a 100 interim head, a body ended by close, a
 *   body bigger than the caller's buffer, or nothing at all; it counts
 *   the connections it accepted and the requests it read.
 *
 * Checked: bodies both ways and response headers through MHD, the same
 * with BIGFS_HTTP_CURL=1 (libcurl); connections are kept and reused; a
 * kept connection the server closed while idle is not used; a request a
 * kept connection dropped is sent once more on a fresh one, and when that
 * one is refused the error is -ECONNRESET (it may have been applied); a
 * refused first connect is -ECONNREFUSED; an early answer (413 before
 * the body went out) is the answer, and its connection is not kept;
 * chunked replies are refused (-EIO); a body ended by close; a 1xx head
 * skipped; -EOVERFLOW; a silent server times out in time; a hedged batch
 * takes the answering replica. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http_client.h"
#include "http_server.h"
#include "json_util.h"

#define TIMEOUT_MS 5000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the echo server (MHD) ----------------------------------------------- */

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

static void echo_get(void *ctx, struct http_request *r)
{
	(void)ctx;
	uint64_t n;
	if (http_req_query_u64(r, "n", &n) < 0 || n > (32u << 20)) {
		http_reply_error(r, EINVAL, "bad n");
		return;
	}
	unsigned char *b = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		b[i] = pat(i);
	http_reply_raw(r, 200, b, n, "application/octet-stream");
	http_reply_header(r, "X-Echo", "  seen  ");
}

static void echo_body(void *ctx, struct http_request *r)
{
	(void)ctx;
	size_t len;
	const char *b = http_req_body(r, &len);
	uint64_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + (unsigned char)b[i];
	const char *auth = http_req_header(r, "Authorization");
	http_reply_json(r, 200, json_pack("{s:I, s:I, s:s, s:s}", "len", (json_int_t)len, "sum",
					  (json_int_t)(sum & 0xffffffffffff), "method",
					  http_req_method(r), "auth", auth ? auth : ""));
}

static const struct http_route echo_routes[] = {
	{ "GET", "/get", false, 0, echo_get },
	{ "PUT", "/body", false, 64u << 20, echo_body },
	{ "POST", "/body", false, 64u << 20, echo_body },
	{ NULL, NULL, false, 0, NULL },
};

/* ---- the scripted server ------------------------------------------------- */

enum script {
	S_KEEP,          /* answer every request, keep the connection */
	S_CLOSE_IDLE,    /* answer one request per connection, then close */
	S_DROP_SECOND,   /* per connection: answer the first, drop the second */
	S_DROP_AND_DIE,  /* answer the first; drop the second and stop listening */
	S_CHUNKED,       /* a chunked reply */
	S_EOF_BODY,      /* no Content-Length: the body ends at close */
	S_INTERIM,       /* a 100 head before the real one */
	S_BIG,           /* a 100-byte body */
	S_SILENT,        /* read the request, never answer */
	S_TRICKLE,       /* the reply one byte at a time */
	S_EARLY,         /* answer 413 after the head, before the body */
};

struct scripted {
	enum script script;
	int lfd;
	uint16_t port;
	pthread_t thr;
	atomic_int accepted;
	atomic_int requests;
	atomic_bool stop;
};

/* Wait for fd to be readable; false once the server is told to stop. */
static bool wait_readable(int fd, const atomic_bool *stop)
{
	while (!atomic_load(stop)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 20) > 0)
			return true;
	}
	return false;
}

/* Read one request head (and, unless head_only, its Content-Length
 * body); false at EOF. */
static bool read_request(int fd, const atomic_bool *stop, bool head_only)
{
	char buf[65536];
	size_t n = 0;
	for (;;) {
		if (!wait_readable(fd, stop))
			return false;
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r <= 0)
			return false;
		n += (size_t)r;
		buf[n] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		const char *cl = strcasestr(buf, "Content-Length:");
		size_t want = cl && cl < end && !head_only ? strtoul(cl + 15, NULL, 10) : 0;
		size_t have = n - (size_t)(end + 4 - buf);
		while (have < want) {
			r = recv(fd, buf, sizeof(buf), 0);
			if (r <= 0)
				return false;
			have += (size_t)r;
		}
		return true;
	}
}

static void say(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

#define OK5 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static void *scripted_main(void *arg)
{
	struct scripted *s = arg;
	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		for (int k = 0; read_request(fd, &s->stop, s->script == S_EARLY); k++) {
			atomic_fetch_add(&s->requests, 1);
			if (s->script == S_SILENT) {
				while (!atomic_load(&s->stop))
					usleep(10000);
				break;
			}
			if ((s->script == S_DROP_SECOND || s->script == S_DROP_AND_DIE) && k == 1) {
				if (s->script == S_DROP_AND_DIE) {
					close(s->lfd);
					s->lfd = -1;
				}
				break;
			}
			switch (s->script) {
			case S_CHUNKED:
				say(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\r\nhello\r\n0\r\n\r\n");
				break;
			case S_EOF_BODY:
				say(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world");
				shutdown(fd, SHUT_WR);
				break;
			case S_INTERIM:
				say(fd, "HTTP/1.1 100 Continue\r\n\r\n" OK5);
				break;
			case S_EARLY:
				/* answer with the body still coming, read none of it
				 * for a while (the client is stuck sending), then
				 * drain what it sent until it closes */
				say(fd, "HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno");
				usleep(300000);
				while (wait_readable(fd, &s->stop)) {
					char junk[65536];
					if (recv(fd, junk, sizeof(junk), 0) <= 0)
						break;
				}
				break;
			case S_BIG:
				say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
				break;
			case S_TRICKLE:
				for (const char *c = "HTTP/1.1 201 Created\r\nX-Echo: a\r\n"
						     "Content-Length: 5\r\n\r\nhello"; *c; c++) {
					(void)!send(fd, c, 1, MSG_NOSIGNAL);
					usleep(200);
				}
				break;
			default:
				say(fd, OK5);
			}
			if (s->script == S_CLOSE_IDLE || s->script == S_EOF_BODY || s->script == S_EARLY)
				break;
		}
		close(fd);
		if (s->lfd < 0)
			break;
	}
	return NULL;
}

static void scripted_start(struct scripted *s, enum script script)
{
	memset(s, 0, sizeof(*s));
	s->script = script;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thr, NULL, scripted_main, s), 0);
}

static void scripted_stop(struct scripted *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thr, NULL);
	if (s->lfd >= 0)
		close(s->lfd);
}

/* One GET of the scripted server into a 64-byte buffer. */
static int get_small(struct http_client *c, const struct scripted *s, char *out,
		     struct http_call *call)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", s->port);
	*call = (struct http_call){ .method = "GET", .url = url, .out = out, .out_cap = 64,
				    .resp_header = "X-Echo" };
	int r = http_client_call(c, call);
	call->url = NULL;
	return r;
}

/* ---- tests ---------------------------------------------------------------- */

/* Bodies both ways through MHD, with the engine the environment picks. */
static void echo_round(void)
{
	struct http_server *srv;
	assert_int_equal(http_server_start(&srv, "127.0.0.1:0", echo_routes, NULL), 0);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char url[128];
	/* GET into the caller's buffer: 0 bytes, 4 KiB, 3 MiB (many recvs) */
	size_t sizes[] = { 0, 4096, 3u << 20 };
	for (int k = 0; k < 3; k++) {
		size_t n = sizes[k];
		unsigned char *buf = malloc(n + 1);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/get?n=%zu", http_server_port(srv), n);
		struct http_call call = { .method = "GET", .url = url, .out = buf, .out_cap = n,
					  .resp_header = "x-echo" };
		assert_int_equal(http_client_call(c, &call), 0);
		assert_int_equal(call.status, 200);
		assert_int_equal(call.out_len, n);
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pat(i))
				fail_msg("byte %zu of %zu differs", i, n);
		assert_non_null(call.resp_header_value);
		assert_string_equal(call.resp_header_value, "seen");
		free(call.resp_header_value);
		free(buf);
	}
	/* GET into a buffer too small: -EOVERFLOW */
	char small[10];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/get?n=100", http_server_port(srv));
	struct http_call ov = { .method = "GET", .url = url, .out = small, .out_cap = 10 };
	assert_int_equal(http_client_call(c, &ov), -EOVERFLOW);
	/* PUT of 9 MiB, POST JSON signed, both answered in an allocated body */
	size_t big = 9u << 20;
	unsigned char *body = malloc(big);
	uint64_t sum = 0;
	for (size_t i = 0; i < big; i++) {
		body[i] = pat(i * 3);
		sum = sum * 31 + body[i];
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body", http_server_port(srv));
	struct http_call put = { .method = "PUT", .url = url, .body = body, .body_len = big,
				 .authorization = "Bearer t0k" };
	assert_int_equal(http_client_call(c, &put), 0);
	assert_int_equal(put.status, 200);
	json_t *j = ju_parse_object(put.out_alloc, put.out_len);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), big);
	assert_int_equal(json_integer_value(json_object_get(j, "sum")), sum & 0xffffffffffff);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "PUT");
	assert_string_equal(json_string_value(json_object_get(j, "auth")), "Bearer t0k");
	json_decref(j);
	free(put.out_alloc);
	free(body);
	json_t *resp = NULL, *req = json_pack("{s:s}", "a", "b");
	assert_int_equal(http_json(c, "POST", url, req, &resp, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(resp, "len")), 9);
	json_decref(resp);
	json_decref(req);
	/* an error status is an answer: http_json maps its errno */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing", http_server_port(srv));
	long status = 0;
	assert_int_equal(http_json(c, "GET", url, NULL, &resp, &status), -ENOENT);
	assert_int_equal(status, 404);
	http_client_free(c);
	http_server_stop(srv);
}

static void test_echo_raw(void **state)
{
	(void)state;
	unsetenv("BIGFS_HTTP_CURL");
	echo_round();
}

static void test_echo_curl(void **state)
{
	(void)state;
	setenv("BIGFS_HTTP_CURL", "1", 1);
	echo_round();
	unsetenv("BIGFS_HTTP_CURL");
}

/* Many calls, one connection. */
static void test_keeps_connection(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_KEEP);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char out[64];
	struct http_call call;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(get_small(c, &s, out, &call), 0);
		assert_int_equal(call.out_len, 5);
		assert_memory_equal(out, "hello", 5);
	}
	assert_int_equal(atomic_load(&s.accepted), 1);
	assert_int_equal(atomic_load(&s.requests), 20);
	http_client_free(c);
	scripted_stop(&s);
}

/* A connection the server closed while idle is not sent on: each call
 * gets a fresh one and its request is read once. */
static void test_idle_closed_not_reused(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_CLOSE_IDLE);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char out[64];
	struct http_call call;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(get_small(c, &s, out, &call), 0);
		/* let the server's close reach this side */
		for (int k = 0; k < 100 && atomic_load(&s.accepted) == i; k++)
			usleep(1000);
		usleep(2000);
	}
	assert_int_equal(atomic_load(&s.accepted), 5);
	assert_int_equal(atomic_load(&s.requests), 5);
	http_client_free(c);
	scripted_stop(&s);
}

/* A kept connection that drops the request: sent once more, fresh. */
static void test_dropped_request_sent_again(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_DROP_SECOND);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char out[64];
	struct http_call call;
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(call.status, 200);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(atomic_load(&s.accepted), 2);
	assert_int_equal(atomic_load(&s.requests), 3);
	http_client_free(c);
	scripted_stop(&s);
}

/* The server dies with the request: the fresh connection is refused, and
 * that is -ECONNRESET (the request may have been applied); a server never
 * reached is -ECONNREFUSED. */
static void test_dropped_then_refused(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_DROP_AND_DIE);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char out[64];
	struct http_call call;
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(get_small(c, &s, out, &call), -ECONNRESET);
	assert_int_equal(atomic_load(&s.requests), 2);
	pthread_join(s.thr, NULL);
	assert_int_equal(get_small(c, &s, out, &call), -ECONNREFUSED);
	assert_string_not_equal(http_client_last_error(c), "no error");
	http_client_free(c);
	s.stop = true;
}

static void test_reply_shapes(void **state)
{
	(void)state;
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char out[64];
	struct http_call call;
	struct scripted s;

	scripted_start(&s, S_CHUNKED);
	assert_int_equal(get_small(c, &s, out, &call), -EIO);
	scripted_stop(&s);

	scripted_start(&s, S_EOF_BODY);
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(call.out_len, 11);
	assert_memory_equal(out, "hello world", 11);
	scripted_stop(&s);

	scripted_start(&s, S_INTERIM);
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(call.status, 200);
	assert_int_equal(call.out_len, 5);
	scripted_stop(&s);

	scripted_start(&s, S_BIG);
	assert_int_equal(get_small(c, &s, out, &call), -EOVERFLOW);
	scripted_stop(&s);

	scripted_start(&s, S_TRICKLE);
	assert_int_equal(get_small(c, &s, out, &call), 0);
	assert_int_equal(call.status, 201);
	assert_memory_equal(out, "hello", 5);
	assert_string_equal(call.resp_header_value, "a");
	free(call.resp_header_value);
	scripted_stop(&s);
	http_client_free(c);
}

/* An answer before the whole body went out (413) is the call's answer;
 * that connection, its request cut short, is never used again. */
static void test_early_answer_not_kept(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_EARLY);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	size_t big = 16u << 20;
	char *body = calloc(1, big);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/put", s.port);
	for (int i = 0; i < 2; i++) {
		struct http_call call = { .method = "PUT", .url = url, .body = body,
					  .body_len = big };
		assert_int_equal(http_client_call(c, &call), 0);
		assert_int_equal(call.status, 413);
		assert_int_equal(call.out_len, 2);
		free(call.out_alloc);
	}
	assert_int_equal(atomic_load(&s.accepted), 2);
	free(body);
	http_client_free(c);
	scripted_stop(&s);
}

/* A server that never answers fails the call at its timeout, not later. */
static void test_silent_times_out(void **state)
{
	(void)state;
	struct scripted s;
	scripted_start(&s, S_SILENT);
	struct http_client *c = http_client_new(600, 2000);
	char out[64];
	struct http_call call;
	int64_t t0 = now_ms();
	assert_int_equal(get_small(c, &s, out, &call), -ETIMEDOUT);
	int64_t took = now_ms() - t0;
	assert_true(took >= 550 && took < 1500);
	http_client_free(c);
	scripted_stop(&s);
}

/* A hedged batch: the silent first replica is overtaken by the second. */
static void test_hedge_overtakes_silent(void **state)
{
	(void)state;
	struct scripted silent, good;
	scripted_start(&silent, S_SILENT);
	scripted_start(&good, S_KEEP);
	struct http_client *c = http_client_new(TIMEOUT_MS, 2000);
	char u0[64], u1[64], o0[64], o1[64];
	snprintf(u0, sizeof(u0), "http://127.0.0.1:%u/x", silent.port);
	snprintf(u1, sizeof(u1), "http://127.0.0.1:%u/x", good.port);
	struct http_call calls[2] = {
		{ .method = "GET", .url = u0, .out = o0, .out_cap = 64 },
		{ .method = "GET", .url = u1, .out = o1, .out_cap = 64 },
	};
	struct http_run_opts o = { .hedge_ms = 100 };
	int winner = -1;
	int64_t t0 = now_ms();
	assert_int_equal(http_client_run(c, calls, 2, &o, &winner), 0);
	assert_int_equal(winner, 1);
	assert_true(now_ms() - t0 < 1000);
	assert_true(calls[0].slow);
	assert_int_equal(calls[0].err, -ECANCELED);
	assert_memory_equal(o1, "hello", 5);
	http_client_free(c);
	scripted_stop(&silent);
	scripted_stop(&good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_raw),
		cmocka_unit_test(test_echo_curl),
		cmocka_unit_test(test_keeps_connection),
		cmocka_unit_test(test_idle_closed_not_reused),
		cmocka_unit_test(test_dropped_request_sent_again),
		cmocka_unit_test(test_dropped_then_refused),
		cmocka_unit_test(test_reply_shapes),
		cmocka_unit_test(test_early_answer_not_kept),
		cmocka_unit_test(test_silent_times_out),
		cmocka_unit_test(test_hedge_overtakes_silent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
