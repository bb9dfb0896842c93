/* Unit tests of fuse/master_client.c (with fuse/thread_http.c and
 * fuse/worker_io.c's grant parser) against a fake master served by
 * common/http_server on an ephemeral loopback port: the master's errno is
 * passed through unchanged, EAGAIN is retried only when asked, an
 * unreachable master fails with EIO once master_timeout has passed (not
 * before, and not forever), and attribute / grant objects are validated.
 * With a list of masters (a fake standby next to the fake active one): a
 * dead first master and a standby are passed over at once, a standby's
 * EAGAIN never reaches the caller (it waits for an active master until
 * master_timeout, then EIO), and finding the active master at start
 * follows a standby's hint and waits only while a standby answers. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "http_server.h"
#include "json_util.h"
#include "master_list.h"
#include "../../fuse/master_client.h"
#include "../../fuse/worker_io.h"

struct fake {
	atomic_int write_calls;
	int busy_answers;           /* EAGAIN this many times, then grant */
	bool standby;               /* answer every /v1 call but health as a standby */
	char active[64];            /* the standby's hint, "" for null */
	atomic_int calls;           /* calls other than health */
};

/* A standby's answer (docs/api.md "Several masters"); true if sent. */
static bool fake_standby(struct fake *f, struct http_request *r)
{
	atomic_fetch_add(&f->calls, 1);
	if (!f->standby)
		return false;
	json_t *b = json_pack("{s:i, s:s, s:s, s:s}", "errno", 11, "error", "EAGAIN", "message",
			      "standby", "role", "standby");
	json_object_set_new(b, "active", f->active[0] ? json_string(f->active) : json_null());
	http_reply_json(r, 503, b);
	return true;
}

static json_t *fake_attr(void)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "ino", (json_int_t)17, "mode", (json_int_t)(S_IFREG | 0644), "nlink",
			 (json_int_t)1, "uid", (json_int_t)5, "gid", (json_int_t)6, "size",
			 (json_int_t)12345, "rdev", (json_int_t)0, "goal", (json_int_t)2,
			 "atime_s", (json_int_t)1700000000, "atime_ns", (json_int_t)1,
			 "mtime_s", (json_int_t)1700000001, "mtime_ns", (json_int_t)2,
			 "ctime_s", (json_int_t)1700000002, "ctime_ns", (json_int_t)3);
}

static void h_health(void *ctx, struct http_request *r)
{
	struct fake *f = ctx;
	if (!f->standby) {
		http_reply_json(r, 200, json_pack("{s:b}", "ok", 1));   /* no role: active */
		return;
	}
	json_t *b = json_pack("{s:b, s:s}", "ok", 1, "role", "standby");
	json_object_set_new(b, "active", f->active[0] ? json_string(f->active) : json_null());
	http_reply_json(r, 200, b);
}

static void h_getattr(void *ctx, struct http_request *r)
{
	if (fake_standby(ctx, r))
		return;
	http_reply_json(r, 200, json_pack("{s:o}", "attr", fake_attr()));
}

static void h_lookup(void *ctx, struct http_request *r)
{
	(void)ctx;
	http_reply_error(r, ENOENT, "no entry");
}

static void h_write(void *ctx, struct http_request *r)
{
	struct fake *f = ctx;
	if (fake_standby(f, r))
		return;
	if (atomic_fetch_add(&f->write_calls, 1) < f->busy_answers) {
		http_reply_error(r, EAGAIN, "lease held");
		return;
	}
	http_reply_json(r, 200,
			json_pack("{s:s, s:I, s:[{s:s, s:s}, {s:s, s:s}], s:s, s:I}", "chunk_id",
				  "000000000000002a", "version", (json_int_t)3, "replicas",
				  "worker_id", "00000000000000a1", "addr", "127.0.0.1:1",
				  "worker_id", "00000000000000a2", "addr", "127.0.0.1:2", "token",
				  "1700000000.abcd", "lease_ms", (json_int_t)60000));
}

/* Namespace changes: done (what the marks of master_client_changed
 * follow does not depend on the answer). */
static void h_done(void *ctx, struct http_request *r)
{
	(void)ctx;
	http_reply_json(r, 200, json_object());
}

/* A rename to the name "named" is answered as the master does: with
 * the inodes it changed (21 moved, 22 replaced; in a batch, per op);
 * any other as an older master did, with nothing. */
static void h_renamed(void *ctx, struct http_request *r)
{
	(void)ctx;
	json_t *b = http_req_json(r);
	if (!b)
		return;
	const json_t *ops = json_object_get(b, "ops");
	json_t *o = NULL;
	if (ops) {
		json_t *results = json_array();
		for (size_t i = 0; i < json_array_size(ops); i++) {
			const char *nn = json_string_value(
				json_object_get(json_array_get(ops, i), "newname"));
			json_array_append_new(results,
					      nn && strcmp(nn, "named") == 0
						      ? json_pack("{s:i, s:i, s:i}", "errno", 0, "ino",
								  21, "replaced", 22)
						      : json_pack("{s:i}", "errno", 0));
		}
		o = json_pack("{s:o}", "results", results);
	} else {
		const char *nn = json_string_value(json_object_get(b, "newname"));
		o = nn && strcmp(nn, "named") == 0
			    ? json_pack("{s:i, s:i}", "ino", 21, "replaced", 22)
			    : json_object();
	}
	json_decref(b);
	http_reply_json(r, 200, o);
}

static const struct http_route routes[] = {
	{ .method = "GET", .path = "/v1/health", .fn = h_health },
	{ .method = "POST", .path = "/v1/batch", .max_body = 65536, .fn = h_renamed },
	{ .method = "POST", .path = "/v1/unlink", .max_body = 4096, .fn = h_done },
	{ .method = "POST", .path = "/v1/rename", .max_body = 4096, .fn = h_renamed },
	{ .method = "POST", .path = "/v1/getattr", .max_body = 4096, .fn = h_getattr },
	{ .method = "POST", .path = "/v1/lookup", .max_body = 4096, .fn = h_lookup },
	{ .method = "POST", .path = "/v1/write", .max_body = 4096, .fn = h_write },
	{ .fn = NULL },
};

struct env {
	struct fake fake;
	struct http_server *srv;
	char addr[64];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->fake.busy_answers = 2;
	assert_int_equal(http_server_start(&e->srv, "127.0.0.1:0", routes, &e->fake), 0);
	snprintf(e->addr, sizeof(e->addr), "127.0.0.1:%u", http_server_port(e->srv));
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	http_server_stop(e->srv);
	free(e);
	return 0;
}

/* A loopback port nobody listens on. */
static void closed_port_addr(char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(out, cap, "127.0.0.1:%u", ntohs(sa.sin_port));
	close(fd);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_health(void **state)
{
	struct env *e = *state;
	struct master_client *mc;
	assert_int_equal(master_client_new(e->addr, 1000, &mc), 0);
	assert_int_equal(master_client_health(mc, 1000), 0);
	master_client_free(mc);

	char closed[64];
	closed_port_addr(closed, sizeof(closed));
	assert_int_equal(master_client_new(closed, 1000, &mc), 0);
	assert_int_equal(master_client_health(mc, 1000), -ECONNREFUSED);
	master_client_free(mc);
}

static void test_getattr_and_attr(void **state)
{
	struct env *e = *state;
	struct master_client *mc;
	assert_int_equal(master_client_new(e->addr, 1000, &mc), 0);
	json_t *req = json_pack("{s:I}", "ino", (json_int_t)17), *resp = NULL;
	assert_int_equal(master_client_call(mc, "getattr", req, 0, &resp, NULL), 0);
	struct stat st;
	assert_int_equal(master_client_attr(resp, &st), 0);
	assert_int_equal(st.st_ino, 17);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(st.st_size, 12345);
	assert_int_equal(st.st_mtim.tv_sec, 1700000001);
	assert_int_equal(st.st_ctim.tv_nsec, 3);
	json_decref(resp);
	json_decref(req);
	master_client_free(mc);
}

/* Call op with req (a JSON text) at the fake master; the mutation count
 * before it. */
static uint64_t change(struct master_client *mc, const char *op, const char *req_text)
{
	uint64_t before = master_client_mutations(mc);
	json_t *req = json_loads(req_text, 0, NULL), *resp = NULL;
	assert_non_null(req);
	assert_int_equal(master_client_call(mc, op, req, 0, &resp, NULL), 0);
	json_decref(resp);
	json_decref(req);
	return before;
}

/* A batch of n creates in folders first, first + 1, ... as JSON text in
 * buf. */
static const char *creates_in(char *buf, size_t cap, int n, int first)
{
	size_t used = (size_t)snprintf(buf, cap, "{\"ops\": [");
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, cap - used,
					 "%s{\"op\": \"create\", \"parent\": %d, \"name\": \"x\"}",
					 i ? ", " : "", first + i);
	snprintf(buf + used, cap - used, "]}");
	return buf;
}

/* What a change of this mount makes count as changed for a listing read
 * before it (dir_cache.h): the folders and inodes its ops name; after a
 * removal also every file that may have had another name (its link
 * count), but not an inode known to have one name (a folder, a file with
 * one link: master_client_changed_sole); after a rename, also the
 * inodes its reply names (moved, replaced), and everything when it names
 * none (an older master); after a batch naming more inodes than are
 * tracked, everything. */
static void test_changes_name_what_they_change(void **state)
{
	struct env *e = *state;
	struct master_client *mc;
	assert_int_equal(master_client_new(e->addr, 1000, &mc), 0);

	/* a create and a commit: their folder and inode only */
	uint64_t at = change(mc, "batch", "{\"ops\": [{\"op\": \"create\", \"parent\": 5, \"name\": \"a\"},"
				     " {\"op\": \"commit\", \"ino\": 9, \"size\": 4096}]}");
	assert_true(master_client_changed(mc, 5, at));
	assert_true(master_client_changed(mc, 9, at));
	assert_false(master_client_changed(mc, 7, at));
	assert_false(master_client_changed_sole(mc, 7, at));
	assert_false(master_client_changed(mc, 5, master_client_mutations(mc)));

	/* queued unlinks and an rmdir: their folders; files of more names */
	at = change(mc, "batch", "{\"ops\": [{\"op\": \"unlink\", \"parent\": 11, \"name\": \"a\"},"
				 " {\"op\": \"unlink\", \"parent\": 11, \"name\": \"b\"},"
				 " {\"op\": \"rmdir\", \"parent\": 12, \"name\": \"d\"}]}");
	assert_true(master_client_changed_sole(mc, 11, at));
	assert_true(master_client_changed_sole(mc, 12, at));
	assert_false(master_client_changed_sole(mc, 7, at));
	assert_true(master_client_changed(mc, 7, at));   /* may be another name of a or b */
	uint64_t later = master_client_mutations(mc);
	assert_false(master_client_changed(mc, 7, later));

	/* an unlink sent alone: the same */
	at = change(mc, "unlink", "{\"parent\": 13, \"name\": \"c\"}");
	assert_true(master_client_changed_sole(mc, 13, at));
	assert_false(master_client_changed_sole(mc, 7, at));
	assert_true(master_client_changed(mc, 7, at));

	/* a rename whose reply names nothing, queued or not: everything */
	at = change(mc, "batch", "{\"ops\": [{\"op\": \"rename\", \"parent\": 14, \"name\": \"a\","
				 " \"newparent\": 14, \"newname\": \"b\"}]}");
	assert_true(master_client_changed_sole(mc, 7, at));
	at = change(mc, "rename", "{\"parent\": 14, \"name\": \"b\", \"newparent\": 15,"
				  " \"newname\": \"c\", \"flags\": 0}");
	assert_true(master_client_changed_sole(mc, 7, at));

	/* one whose reply names them: its folders, the inodes moved and
	 * replaced, and files of more names (the replaced one's) */
	at = change(mc, "rename", "{\"parent\": 16, \"name\": \"b\", \"newparent\": 17,"
				  " \"newname\": \"named\", \"flags\": 0}");
	assert_true(master_client_changed_sole(mc, 16, at));
	assert_true(master_client_changed_sole(mc, 17, at));
	assert_true(master_client_changed_sole(mc, 21, at));
	assert_true(master_client_changed_sole(mc, 22, at));
	assert_false(master_client_changed_sole(mc, 7, at));
	assert_true(master_client_changed(mc, 7, at));
	assert_false(master_client_changed(mc, 21, master_client_mutations(mc)));
	at = change(mc, "batch", "{\"ops\": [{\"op\": \"rename\", \"parent\": 18, \"name\": \"a\","
				 " \"newparent\": 18, \"newname\": \"named\"}]}");
	assert_true(master_client_changed_sole(mc, 18, at));
	assert_true(master_client_changed_sole(mc, 21, at));
	assert_false(master_client_changed_sole(mc, 7, at));
	/* a batch with one rename that names nothing: everything */
	at = change(mc, "batch", "{\"ops\": [{\"op\": \"rename\", \"parent\": 18, \"name\": \"a\","
				 " \"newparent\": 18, \"newname\": \"named\"},"
				 " {\"op\": \"rename\", \"parent\": 18, \"name\": \"c\","
				 " \"newparent\": 18, \"newname\": \"d\"}]}");
	assert_true(master_client_changed_sole(mc, 7, at));

	/* a batch naming more folders than are tracked: everything */
	char big[32768];
	at = change(mc, "batch", creates_in(big, sizeof(big), MC_TARGETS + 1, 100));
	assert_true(master_client_changed_sole(mc, 7, at));
	/* one op fewer: only those named */
	at = change(mc, "batch", creates_in(big, sizeof(big), MC_TARGETS, 200));
	assert_false(master_client_changed(mc, 7, at));
	assert_true(master_client_changed_sole(mc, 200 + MC_TARGETS - 1, at));
	master_client_free(mc);
}

static void test_attr_rejects_malformed(void **state)
{
	(void)state;
	struct stat st;
	memset(&st, 0x5a, sizeof(st));
	json_t *a = fake_attr();
	json_object_set_new(a, "size", json_string("12"));
	assert_int_equal(master_client_attr_obj(a, &st), -EIO);
	json_object_set_new(a, "size", json_integer(1));
	json_object_set_new(a, "mtime_ns", json_integer(1000000000));
	assert_int_equal(master_client_attr_obj(a, &st), -EIO);
	json_object_del(a, "mtime_ns");
	assert_int_equal(master_client_attr_obj(a, &st), -EIO);
	assert_int_equal(st.st_ino, (ino_t)0x5a5a5a5a5a5a5a5aULL); /* untouched */
	json_decref(a);
	json_t *resp = json_object();
	assert_int_equal(master_client_attr(resp, &st), -EIO);
	json_decref(resp);
}

static void test_errno_passthrough(void **state)
{
	struct env *e = *state;
	struct master_client *mc;
	assert_int_equal(master_client_new(e->addr, 1000, &mc), 0);
	json_t *req = json_pack("{s:I, s:s}", "parent", (json_int_t)1, "name", "x");
	json_t *resp = (json_t *)0x1;
	bool retried = true;
	assert_int_equal(master_client_call(mc, "lookup", req, 0, &resp, &retried), -ENOENT);
	assert_ptr_equal(resp, (json_t *)0x1); /* untouched on failure */
	assert_false(retried);
	json_decref(req);
	master_client_free(mc);
}

static void test_eagain_retried_only_when_asked(void **state)
{
	struct env *e = *state;
	struct master_client *mc;
	assert_int_equal(master_client_new(e->addr, 5000, &mc), 0);
	json_t *req = json_pack("{s:I, s:I, s:s}", "ino", (json_int_t)17, "index", (json_int_t)0,
				"session", "s");
	json_t *resp = NULL;
	assert_int_equal(master_client_call(mc, "write", req, 0, &resp, NULL), -EAGAIN);
	assert_int_equal(master_client_call(mc, "write", req, MC_RETRY_EAGAIN, &resp, NULL), 0);
	assert_int_equal(atomic_load(&e->fake.write_calls), 3);
	struct wio_chunk c;
	assert_int_equal(worker_io_parse_chunk(resp, &c), 0);
	assert_true(c.chunk_id == 42);
	assert_int_equal(c.version, 3);
	assert_int_equal(c.nrep, 2);
	assert_string_equal(c.rep[1].addr, "127.0.0.1:2");
	assert_string_equal(c.token, "1700000000.abcd");
	json_object_set_new(resp, "chunk_id", json_string("xyz"));
	assert_int_equal(worker_io_parse_chunk(resp, &c), -EIO);
	json_decref(resp);
	json_decref(req);
	master_client_free(mc);
}

static void test_unreachable_gives_eio_after_deadline(void **state)
{
	(void)state;
	char closed[64];
	closed_port_addr(closed, sizeof(closed));
	struct master_client *mc;
	assert_int_equal(master_client_new(closed, 600, &mc), 0);
	json_t *req = json_pack("{s:I}", "ino", (json_int_t)1), *resp = NULL;
	double t0 = now_s();
	assert_int_equal(master_client_call(mc, "getattr", req, 0, &resp, NULL), -EIO);
	double took = now_s() - t0;
	assert_true(took >= 0.55);
	assert_true(took < 3.0);
	json_decref(req);
	master_client_free(mc);
}

/* ---- a master that dies with a request in hand ---------------------------- */

/* Reads one HTTP request from fd (headers and Content-Length body); false
 * at EOF or error. */
static bool read_request(int fd)
{
	char buf[8192];
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		if (len + 1 >= sizeof(buf))
			return false;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	const char *cl = strcasestr(buf, "content-length:");
	size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t have = len - (size_t)(end + 4 - buf);
	while (have < want) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	return true;
}

struct dying {
	int lfd;
	atomic_int requests;
};

/* Answers the first request on a kept connection, then takes the second
 * and dies before answering it: the listener and the connection close. */
static void *dying_master(void *arg)
{
	struct dying *d = arg;
	int fd = accept(d->lfd, NULL, NULL);
	if (fd >= 0 && read_request(fd)) {
		atomic_fetch_add(&d->requests, 1);
		static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					    "Content-Length: 11\r\n\r\n{\"ok\":true}";
		if (write(fd, reply, sizeof(reply) - 1) == (ssize_t)sizeof(reply) - 1 &&
		    read_request(fd))
			atomic_fetch_add(&d->requests, 1);
	}
	close(d->lfd);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* A master killed after it took a create and before it answered: libcurl
 * sends the request again on a fresh connection, which is refused. The
 * caller must hear "maybe reached" (its retry at the next master may meet
 * its own create as EEXIST), where a master refusing from the start
 * means "never sent". */
static void test_refused_after_kept_connection_maybe_reached(void **state)
{
	(void)state;
	struct dying d = { .lfd = socket(AF_INET, SOCK_STREAM, 0) };
	assert_true(d.lfd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(d.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(d.lfd, 4), 0);
	socklen_t slen = sizeof(sa);
	assert_int_equal(getsockname(d.lfd, (struct sockaddr *)&sa, &slen), 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, dying_master, &d), 0);

	struct master_client *mc;
	assert_int_equal(master_client_new(addr, 400, &mc), 0);
	json_t *req = json_pack("{s:I, s:s}", "parent", (json_int_t)1, "name", "f");
	json_t *resp = NULL;
	bool retried = false;
	assert_int_equal(master_client_call(mc, "mkdir", req, 0, &resp, &retried), 0);
	assert_false(retried);
	json_decref(resp);
	resp = NULL;
	assert_int_equal(master_client_call(mc, "mkdir", req, 0, &resp, &retried), -EIO);
	assert_true(retried);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&d.requests), 2);
	master_client_free(mc);

	/* refused from the first try: surely not applied */
	char closed[64];
	closed_port_addr(closed, sizeof(closed));
	assert_int_equal(master_client_new(closed, 300, &mc), 0);
	retried = true;
	assert_int_equal(master_client_call(mc, "mkdir", req, 0, &resp, &retried), -EIO);
	assert_false(retried);
	json_decref(req);
	master_client_free(mc);
}

/* ---- several masters ------------------------------------------------------ */

struct multi {
	struct fake active, standby;
	struct http_server *asrv, *ssrv;
	char aaddr[64], saddr[64], dead[64];
};

static int multi_setup(void **state)
{
	struct multi *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->standby.standby = true;
	assert_int_equal(http_server_start(&m->asrv, "127.0.0.1:0", routes, &m->active), 0);
	assert_int_equal(http_server_start(&m->ssrv, "127.0.0.1:0", routes, &m->standby), 0);
	snprintf(m->aaddr, sizeof(m->aaddr), "127.0.0.1:%u", http_server_port(m->asrv));
	snprintf(m->saddr, sizeof(m->saddr), "127.0.0.1:%u", http_server_port(m->ssrv));
	snprintf(m->standby.active, sizeof(m->standby.active), "%s", m->aaddr);
	closed_port_addr(m->dead, sizeof(m->dead));
	*state = m;
	return 0;
}

static int multi_teardown(void **state)
{
	struct multi *m = *state;
	http_server_stop(m->asrv);
	http_server_stop(m->ssrv);
	free(m);
	return 0;
}

static struct master_client *multi_client(const char *a, const char *b, const char *c,
					  long timeout_ms)
{
	char spec[256];
	struct master_client *mc;
	snprintf(spec, sizeof(spec), "%s,%s%s%s", a, b, c ? "," : "", c ? c : "");
	assert_int_equal(master_client_new(spec, timeout_ms, &mc), 0);
	return mc;
}

static void test_list_refused(void **state)
{
	(void)state;
	struct master_client *mc = (struct master_client *)0x1;
	assert_int_equal(master_client_new("127.0.0.1:1,nothost", 1000, &mc), -EINVAL);
	assert_int_equal(master_client_new("127.0.0.1:1,,127.0.0.1:2", 1000, &mc), -EINVAL);
	assert_ptr_equal(mc, (struct master_client *)0x1);
}

static void test_dead_first_master_passed_at_once(void **state)
{
	struct multi *m = *state;
	struct master_client *mc = multi_client(m->dead, m->aaddr, NULL, 5000);
	json_t *req = json_pack("{s:I}", "ino", (json_int_t)17), *resp = NULL;
	bool retried = true;
	double t0 = now_s();
	assert_int_equal(master_client_call(mc, "getattr", req, 0, &resp, &retried), 0);
	assert_true(now_s() - t0 < 1.0);      /* no backoff on the first pass */
	assert_false(retried);                /* refused: never reached */
	assert_int_equal(master_list_current(master_client_masters(mc)), 1);
	json_decref(resp);
	json_decref(req);
	master_client_free(mc);
}

static void test_standby_eagain_never_reaches_caller(void **state)
{
	struct multi *m = *state;
	json_t *req = json_pack("{s:I, s:I, s:s}", "ino", (json_int_t)17, "index", (json_int_t)0,
				"session", "s"), *resp = NULL;
	m->active.busy_answers = 0;
	/* standby first, naming the active one past a dead one */
	struct master_client *mc = multi_client(m->saddr, m->dead, m->aaddr, 5000);
	assert_int_equal(master_client_call(mc, "write", req, 0, &resp, NULL), 0);
	assert_int_equal(master_list_current(master_client_masters(mc)), 2);
	assert_int_equal(atomic_load(&m->standby.calls), 1);
	assert_int_equal(atomic_load(&m->active.write_calls), 1);
	json_decref(resp);
	resp = NULL;
	master_client_free(mc);

	/* an active master's own EAGAIN still is EAGAIN (a lease held) */
	m->active.busy_answers = 2;
	atomic_store(&m->active.write_calls, 0);
	mc = multi_client(m->aaddr, m->saddr, NULL, 5000);
	assert_int_equal(master_client_call(mc, "write", req, 0, &resp, NULL), -EAGAIN);
	assert_int_equal(master_list_current(master_client_masters(mc)), 0);
	master_client_free(mc);

	/* only standbys (the one named active is dead): no EAGAIN, but EIO
	 * at master_timeout, whatever the flags */
	snprintf(m->standby.active, sizeof(m->standby.active), "%s", m->dead);
	for (unsigned flags = 0; flags <= MC_RETRY_EAGAIN; flags += MC_RETRY_EAGAIN) {
		mc = multi_client(m->saddr, m->dead, NULL, 700);
		double t0 = now_s();
		assert_int_equal(master_client_call(mc, "write", req, flags, &resp, NULL), -EIO);
		double took = now_s() - t0;
		assert_true(took >= 0.65);
		assert_true(took < 3.0);
		master_client_free(mc);
	}
	json_decref(req);
}

static void test_find_active(void **state)
{
	struct multi *m = *state;
	char why[1024];
	/* dead, then a standby naming the active one: found, made current */
	struct master_client *mc = multi_client(m->dead, m->saddr, m->aaddr, 5000);
	assert_int_equal(master_client_find_active(mc, 1000, 5000, why, sizeof(why)), 0);
	assert_int_equal(master_list_current(master_client_masters(mc)), 2);
	master_client_free(mc);

	/* a standby with no active master: waits wait_ms, then EAGAIN and
	 * says what each master is */
	m->standby.active[0] = '\0';
	mc = multi_client(m->dead, m->saddr, NULL, 5000);
	double t0 = now_s();
	assert_int_equal(master_client_find_active(mc, 1000, 400, why, sizeof(why)), -EAGAIN);
	double took = now_s() - t0;
	assert_true(took >= 0.35);
	assert_true(took < 3.0);
	assert_non_null(strstr(why, m->dead));
	assert_non_null(strstr(why, "does not answer (Connection refused)"));
	assert_non_null(strstr(why, m->saddr));
	assert_non_null(strstr(why, "is a standby"));
	master_client_free(mc);

	/* nobody answers: the error at once, however long wait_ms */
	char dead2[64];
	closed_port_addr(dead2, sizeof(dead2));
	mc = multi_client(m->dead, dead2, NULL, 5000);
	t0 = now_s();
	assert_int_equal(master_client_find_active(mc, 1000, 30000, why, sizeof(why)),
			 -ECONNREFUSED);
	assert_true(now_s() - t0 < 2.0);
	master_client_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getattr_and_attr, setup, teardown),
		cmocka_unit_test(test_attr_rejects_malformed),
		cmocka_unit_test_setup_teardown(test_changes_name_what_they_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_passthrough, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eagain_retried_only_when_asked, setup, teardown),
		cmocka_unit_test(test_unreachable_gives_eio_after_deadline),
		cmocka_unit_test(test_refused_after_kept_connection_maybe_reached),
		cmocka_unit_test(test_list_refused),
		cmocka_unit_test_setup_teardown(test_dead_first_master_passed_at_once, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_standby_eagain_never_reaches_caller, multi_setup,
						multi_teardown),
		cmocka_unit_test_setup_teardown(test_find_active, multi_setup, multi_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
