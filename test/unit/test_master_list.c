/* Unit tests of common/master_list: the list syntax (every entry checked,
 * a sentence naming the bad one, outputs untouched on refusal), the
 * mount source's ":/PATH" split, which master a switch goes to (a listed
 * hint, else the next; one move when many threads fail at once), how
 * standby answers and health answers are read, and master_list_call
 * against fake masters on loopback (common/http_server): a dead master
 * and a standby are passed over in one pass, a standby's hint is
 * followed, an active master's own errors (EAGAIN too) are not a reason
 * to switch. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http_client.h"
#include "http_server.h"
#include "master_list.h"

/* ---- parsing ---------------------------------------------------------------- */

static struct master_list *parse_ok(const char *spec)
{
	struct master_list *ml = NULL;
	char err[512] = "";
	int rc = master_list_parse(spec, &ml, err, sizeof(err));
	if (rc != 0)
		fail_msg("'%s' refused: %s", spec, err);
	assert_non_null(ml);
	return ml;
}

/* spec is refused with -EINVAL, *ret untouched, and the message holds want. */
static void parse_bad(const char *spec, const char *want)
{
	struct master_list *ml = (struct master_list *)0x1;
	char err[512] = "";
	assert_int_equal(master_list_parse(spec, &ml, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(ml, (struct master_list *)0x1);
	if (!strstr(err, want))
		fail_msg("'%s': message '%s' does not say '%s'", spec, err, want);
}

static void test_parse_good(void **state)
{
	(void)state;
	struct master_list *ml = parse_ok("127.0.0.1:9400");
	assert_int_equal(master_list_count(ml), 1);
	assert_string_equal(master_list_addr(ml, 0), "127.0.0.1:9400");
	assert_string_equal(master_list_text(ml), "127.0.0.1:9400");
	assert_false(master_list_https(ml));
	assert_int_equal(master_list_current(ml), 0);
	master_list_free(ml);

	ml = parse_ok("http://m1.example:9400/,m2-b.example:1, [::1]:65535 ,m_3:80");
	assert_int_equal(master_list_count(ml), 4);
	assert_string_equal(master_list_addr(ml, 0), "m1.example:9400");
	assert_string_equal(master_list_addr(ml, 1), "m2-b.example:1");
	assert_string_equal(master_list_addr(ml, 2), "[::1]:65535");
	assert_string_equal(master_list_addr(ml, 3), "m_3:80");
	assert_string_equal(master_list_text(ml), "m1.example:9400,m2-b.example:1,[::1]:65535,m_3:80");
	assert_false(master_list_https(ml));
	master_list_free(ml);

	ml = parse_ok("https://a:1,b:2");
	assert_true(master_list_https(ml));
	assert_string_equal(master_list_text(ml), "a:1,b:2");
	master_list_free(ml);

	/* exactly the most there may be */
	char spec[16 * 20] = "";
	for (int i = 0; i < MASTER_LIST_MAX; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), "%sh%d:%d", i ? "," : "",
			 i, 9400 + i);
	ml = parse_ok(spec);
	assert_int_equal(master_list_count(ml), MASTER_LIST_MAX);
	assert_string_equal(master_list_addr(ml, 15), "h15:9415");
	master_list_free(ml);
}

static void test_parse_bad(void **state)
{
	(void)state;
	parse_bad("", "'' is not a master address: it is empty");
	parse_bad("host", "'host' is not a master address: expected HOST:PORT");
	parse_bad(":9400", "the host is missing");
	parse_bad("h:0", "the port must be a number from 1 to 65535");
	parse_bad("h:65536", "the port must be a number from 1 to 65535");
	parse_bad("h:123456", "the port must be");
	parse_bad("h:", "the port must be");
	parse_bad("h:+1", "the port must be");
	parse_bad("h:9400x", "the port must be");
	parse_bad("ho st:1", "the host has a character that is not allowed");
	parse_bad("::1:9400", "an IPv6 address goes in []");
	parse_bad("[::1]", "expected [IPV6]:PORT");
	parse_bad("[]:1", "expected [IPV6]:PORT");
	parse_bad("[::g]:1", "IPv6 address has a character");
	parse_bad("h:1/v1", "expected HOST:PORT");
	parse_bad("user@h:1", "expected HOST:PORT");
	parse_bad("ftp://h:1", "'ftp://h:1' is not a master address");
	/* lists name the entry */
	parse_bad("a:1,", "entry 2 of the master list, '' is not a master address: it is empty");
	parse_bad(",a:1", "entry 1 of the master list");
	parse_bad("a:1,,b:2", "entry 2 of the master list");
	parse_bad("a:1,b:2,c", "entry 3 of the master list, 'c' is not a master address");
	parse_bad("a:1,b:99999", "entry 2 of the master list, 'b:99999'");
	parse_bad("a:1,http://A:1/", "'A:1' is in the master list twice");
	parse_bad("http://a:1,https://b:2", "mixes http:// and https://");
	char spec[17 * 8] = "";
	for (int i = 0; i <= MASTER_LIST_MAX; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), "%sh:%d", i ? "," : "",
			 i + 1);
	parse_bad(spec, "the master list has 17 entries: at most 16 masters");
	char longhost[400];
	memset(longhost, 'a', 300);
	strcpy(longhost + 300, ":1");
	parse_bad(longhost, "it is too long");
}

static void test_find(void **state)
{
	(void)state;
	struct master_list *ml = parse_ok("m1:9400,M2.Example:9401");
	assert_int_equal(master_list_find(ml, "m1:9400"), 0);
	assert_int_equal(master_list_find(ml, "m2.example:9401"), 1);
	assert_int_equal(master_list_find(ml, "http://M1:9400/"), 0);
	assert_int_equal(master_list_find(ml, "m1:940"), -1);
	assert_int_equal(master_list_find(ml, "m1:94000"), -1);
	assert_int_equal(master_list_find(ml, "m3:9400"), -1);
	assert_int_equal(master_list_find(ml, ""), -1);
	master_list_free(ml);
}

static void test_split_path(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		size_t len;        /* of the list part */
		const char *path;  /* NULL: none */
	} cases[] = {
		{ "h:1", 3, NULL },
		{ "h:1:/", 3, "/" },
		{ "h:1:/projects/a", 3, "/projects/a" },
		{ "http://h:1", 10, NULL },
		{ "http://h:1/", 11, NULL },
		{ "https://h:1:/p", 11, "/p" },
		{ "a:1,b:2", 7, NULL },
		{ "a:1,b:2:/x,y", 7, "/x,y" },
		{ "http://a:1,http://b:2:/p", 21, "/p" },
		{ "a:1, https://b:2", 16, NULL },
		{ "h:1://x", 3, "//x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 999;
		const char *path = (const char *)0x1;
		master_list_split_path(cases[i].spec, &len, &path);
		if (len != cases[i].len)
			fail_msg("'%s': list of %zu bytes, not %zu", cases[i].spec, len, cases[i].len);
		if (!cases[i].path)
			assert_null(path);
		else
			assert_string_equal(path, cases[i].path);
	}
}

/* ---- switching ------------------------------------------------------------------ */

static void test_switch(void **state)
{
	(void)state;
	struct master_list *ml = parse_ok("a:1,b:2,c:3");
	/* no hint: the next, round the list */
	assert_int_equal(master_list_switch(ml, 0, NULL, "refused"), 1);
	assert_int_equal(master_list_current(ml), 1);
	assert_int_equal(master_list_switch(ml, 1, NULL, "refused"), 2);
	assert_int_equal(master_list_switch(ml, 2, NULL, "refused"), 0);
	/* a listed hint is followed */
	assert_int_equal(master_list_switch(ml, 0, "c:3", "standby"), 2);
	assert_int_equal(master_list_switch(ml, 2, "http://A:1", "standby"), 0);
	/* a hint that is not listed, or names the failed master itself: rotate */
	assert_int_equal(master_list_switch(ml, 0, "d:4", "standby"), 1);
	assert_int_equal(master_list_switch(ml, 1, "b:2", "standby"), 2);
	/* a failure of a master that is no longer current moves nothing */
	assert_int_equal(master_list_switch(ml, 0, "b:2", "late"), 2);
	assert_int_equal(master_list_current(ml), 2);
	master_list_set_current(ml, 1);
	assert_int_equal(master_list_current(ml), 1);
	master_list_free(ml);

	ml = parse_ok("a:1");
	assert_int_equal(master_list_switch(ml, 0, NULL, "refused"), 0);
	assert_int_equal(master_list_switch(ml, 0, "b:2", "standby"), 0);
	master_list_free(ml);
}

struct race {
	struct master_list *ml;
	pthread_barrier_t start;
	atomic_int next;
	size_t seen[8];
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	int me = atomic_fetch_add(&r->next, 1);
	pthread_barrier_wait(&r->start);
	r->seen[me] = master_list_switch(r->ml, 0, NULL, "refused");
	return NULL;
}

static void test_switch_race(void **state)
{
	(void)state;
	/* eight threads fail on master 0 at once: it moves once, to 1, and
	 * every thread is told 1 (not 2, 3, ...) */
	for (int round = 0; round < 20; round++) {
		struct race r = { .ml = parse_ok("a:1,b:2,c:3,d:4") };
		pthread_t t[8];
		pthread_barrier_init(&r.start, NULL, 8);
		for (int i = 0; i < 8; i++)
			assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r), 0);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < 8; i++)
			assert_int_equal(r.seen[i], 1);
		assert_int_equal(master_list_current(r.ml), 1);
		pthread_barrier_destroy(&r.start);
		master_list_free(r.ml);
	}
}

/* ---- answers ------------------------------------------------------------------------ */

static void test_standby_reply(void **state)
{
	(void)state;
	json_t *sb = json_pack("{s:i, s:s, s:s, s:s}", "errno", 11, "error", "EAGAIN", "role",
			       "standby", "active", "b:2");
	json_t *busy = json_pack("{s:i, s:s}", "errno", 11, "error", "EAGAIN");
	json_t *odd = json_pack("{s:i, s:i}", "errno", 11, "role", 1);
	json_t *fenced = json_pack("{s:i, s:s}", "errno", 11, "role", "fenced");
	json_t *act = json_pack("{s:i, s:s}", "errno", 11, "role", "active");
	assert_true(master_list_is_standby_reply(503, sb));
	assert_false(master_list_is_standby_reply(200, sb));
	assert_false(master_list_is_standby_reply(500, sb));
	assert_false(master_list_is_standby_reply(503, busy));   /* a lease held elsewhere */
	assert_false(master_list_is_standby_reply(503, odd));
	assert_true(master_list_is_standby_reply(503, fenced));  /* not active: as a standby */
	assert_false(master_list_is_standby_reply(503, act));    /* the active one, busy */
	assert_false(master_list_is_standby_reply(503, NULL));
	assert_string_equal(master_list_reply_active(sb), "b:2");
	assert_null(master_list_reply_active(busy));
	assert_null(master_list_reply_active(NULL));
	json_object_set_new(sb, "active", json_null());
	assert_null(master_list_reply_active(sb));
	json_object_set_new(sb, "active", json_integer(2));
	assert_null(master_list_reply_active(sb));
	json_object_set_new(sb, "active", json_string(""));
	assert_null(master_list_reply_active(sb));
	char lng[MASTER_ADDR_MAX + 10];
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	json_object_set_new(sb, "active", json_string(lng));
	assert_null(master_list_reply_active(sb));
	json_decref(sb);
	json_decref(busy);
	json_decref(odd);
	json_decref(fenced);
	json_decref(act);
}

static void test_health_role(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		int rc;
		enum master_role role;
	} cases[] = {
		{ "{\"ok\": true}", 0, MASTER_ROLE_ACTIVE },  /* today's master */
		{ "{\"ok\": true, \"role\": null}", 0, MASTER_ROLE_ACTIVE },
		{ "{\"ok\": true, \"role\": \"active\", \"active\": \"a:1\"}", 0, MASTER_ROLE_ACTIVE },
		{ "{\"ok\": true, \"role\": \"standby\", \"active\": null}", 0, MASTER_ROLE_STANDBY },
		{ "{\"ok\": true, \"role\": \"leader\"}", -EPROTO, MASTER_ROLE_DOWN },
		{ "{\"ok\": true, \"role\": 1}", -EPROTO, MASTER_ROLE_DOWN },
		{ "{\"ok\": false, \"role\": \"active\"}", -EPROTO, MASTER_ROLE_DOWN },
		{ "{\"role\": \"active\"}", -EPROTO, MASTER_ROLE_DOWN },
		{ "{\"ok\": true, \"worker_id\": \"0000000000000001\"}", 0, MASTER_ROLE_ACTIVE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		assert_non_null(j);
		enum master_role role = MASTER_ROLE_DOWN;
		assert_int_equal(master_list_health_role(j, &role), cases[i].rc);
		assert_int_equal(role, cases[i].role);
		json_decref(j);
	}
	enum master_role role = MASTER_ROLE_DOWN;
	assert_int_equal(master_list_health_role(NULL, &role), -EPROTO);
	assert_string_equal(master_role_name(MASTER_ROLE_ACTIVE), "active");
	assert_string_equal(master_role_name(MASTER_ROLE_STANDBY), "standby");
	assert_string_equal(master_role_name(MASTER_ROLE_DOWN), "down");
}

/* ---- master_list_call against fake masters ----------------------------------------------- */

struct fake_master {
	bool standby;
	char active[64];           /* a standby's hint, "" for null */
	atomic_int calls;          /* /v1 calls other than health */
	struct http_server *srv;
	char addr[64];
};

static void fake_standby_reply(struct fake_master *f, struct http_request *r)
{
	json_t *b = json_pack("{s:i, s:s, s:s, s:s}", "errno", 11, "error", "EAGAIN", "message",
			      "this master is a standby", "role", "standby");
	json_object_set_new(b, "active", f->active[0] ? json_string(f->active) : json_null());
	http_reply_json(r, 503, b);
}

static void h_info(void *ctx, struct http_request *r)
{
	struct fake_master *f = ctx;
	atomic_fetch_add(&f->calls, 1);
	if (f->standby) {
		fake_standby_reply(f, r);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "who", f->addr));
}

static void h_lookup(void *ctx, struct http_request *r)
{
	struct fake_master *f = ctx;
	atomic_fetch_add(&f->calls, 1);
	if (f->standby)
		fake_standby_reply(f, r);
	else
		http_reply_error(r, ENOENT, "no entry");
}

static void h_busy(void *ctx, struct http_request *r)
{
	struct fake_master *f = ctx;
	atomic_fetch_add(&f->calls, 1);
	if (f->standby)
		fake_standby_reply(f, r);
	else
		http_reply_error(r, EAGAIN, "lease held");
}

static const struct http_route fake_routes[] = {
	{ .method = "GET", .path = "/v1/cluster/info", .fn = h_info },
	{ .method = "POST", .path = "/v1/lookup", .max_body = 4096, .fn = h_lookup },
	{ .method = "POST", .path = "/v1/busy", .max_body = 4096, .fn = h_busy },
	{ .fn = NULL },
};

static void fake_start(struct fake_master *f, bool standby)
{
	memset(f, 0, sizeof(*f));
	f->standby = standby;
	assert_int_equal(http_server_start(&f->srv, "127.0.0.1:0", fake_routes, f), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", http_server_port(f->srv));
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

struct call_env {
	struct fake_master active, standby;
	char dead[64], dead2[64];
	struct http_client *hc;
};

static int call_setup(void **state)
{
	struct call_env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	fake_start(&e->active, false);
	fake_start(&e->standby, true);
	snprintf(e->standby.active, sizeof(e->standby.active), "%s", e->active.addr);
	closed_port_addr(e->dead, sizeof(e->dead));
	closed_port_addr(e->dead2, sizeof(e->dead2));
	e->hc = http_client_new(2000, 1000);
	assert_non_null(e->hc);
	*state = e;
	return 0;
}

static int call_teardown(void **state)
{
	struct call_env *e = *state;
	http_server_stop(e->active.srv);
	http_server_stop(e->standby.srv);
	http_client_free(e->hc);
	free(e);
	return 0;
}

static struct master_list *list_of(const char *a, const char *b, const char *c)
{
	char spec[256];
	snprintf(spec, sizeof(spec), "%s%s%s%s%s", a, b ? "," : "", b ? b : "", c ? "," : "",
		 c ? c : "");
	return parse_ok(spec);
}

static void test_call_passes_dead_and_standby(void **state)
{
	struct call_env *e = *state;
	json_t *resp = NULL;
	size_t idx = 99;

	/* the first one dead: the second answers, and stays current */
	struct master_list *ml = list_of(e->dead, e->active.addr, NULL);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  &resp, &idx), 0);
	assert_int_equal(idx, 1);
	assert_string_equal(json_string_value(json_object_get(resp, "who")), e->active.addr);
	json_decref(resp);
	assert_int_equal(master_list_current(ml), 1);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), 0);
	assert_int_equal(idx, 1);
	master_list_free(ml);

	/* a standby first: its hint is followed past a dead one */
	ml = list_of(e->standby.addr, e->dead, e->active.addr);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), 0);
	assert_int_equal(idx, 2);
	assert_int_equal(atomic_load(&e->standby.calls), 1);
	master_list_free(ml);

	/* a hint that is not in the list: the next one */
	snprintf(e->standby.active, sizeof(e->standby.active), "10.255.255.1:9400");
	ml = list_of(e->standby.addr, e->active.addr, NULL);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), 0);
	assert_int_equal(idx, 1);
	master_list_free(ml);
}

static void test_call_active_errors_are_answers(void **state)
{
	struct call_env *e = *state;
	json_t *req = json_pack("{s:i, s:s}", "parent", 1, "name", "x");
	json_t *resp = (json_t *)0x1;
	size_t idx = 99;
	struct master_list *ml = list_of(e->active.addr, e->standby.addr, NULL);

	/* ENOENT and an active master's EAGAIN come back as they are: no switch */
	assert_int_equal(master_list_call(ml, e->hc, "POST", "/v1/lookup", req, NULL, NULL, &resp,
					  &idx), -ENOENT);
	assert_int_equal(master_list_call(ml, e->hc, "POST", "/v1/busy", req, NULL, NULL, &resp,
					  &idx), -EAGAIN);
	assert_ptr_equal(resp, (json_t *)0x1);
	assert_int_equal(idx, 99);
	assert_int_equal(master_list_current(ml), 0);
	assert_int_equal(atomic_load(&e->active.calls), 2);
	assert_int_equal(atomic_load(&e->standby.calls), 0);
	master_list_free(ml);
	json_decref(req);
}

static void test_call_nobody_active(void **state)
{
	struct call_env *e = *state;
	size_t idx = 99;

	/* every master dead: the transport error, after one try each */
	struct master_list *ml = list_of(e->dead, e->dead2, NULL);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), -ECONNREFUSED);
	assert_int_equal(idx, 99);
	master_list_free(ml);

	/* a lone standby without a hint: EAGAIN, one call */
	e->standby.active[0] = '\0';
	ml = list_of(e->standby.addr, NULL, NULL);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), -EAGAIN);
	assert_int_equal(atomic_load(&e->standby.calls), 1);
	master_list_free(ml);

	/* a dead one and a standby naming the dead one: one pass, then EAGAIN */
	snprintf(e->standby.active, sizeof(e->standby.active), "%s", e->dead);
	ml = list_of(e->dead, e->standby.addr, NULL);
	assert_int_equal(master_list_call(ml, e->hc, "GET", "/v1/cluster/info", NULL, NULL, NULL,
					  NULL, &idx), -EAGAIN);
	assert_int_equal(atomic_load(&e->standby.calls), 2);
	assert_int_equal(master_list_current(ml), 0);   /* back to the one named active */
	master_list_free(ml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_split_path),
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_switch_race),
		cmocka_unit_test(test_standby_reply),
		cmocka_unit_test(test_health_role),
		cmocka_unit_test_setup_teardown(test_call_passes_dead_and_standby, call_setup,
						call_teardown),
		cmocka_unit_test_setup_teardown(test_call_active_errors_are_answers, call_setup,
						call_teardown),
		cmocka_unit_test_setup_teardown(test_call_nobody_active, call_setup, call_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
