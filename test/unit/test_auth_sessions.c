/* Unit tests of master/auth_sessions: challenge nonces (fresh ones pass,
 * forged or altered ones do not), login checks against an exports set
 * (no rule, wrong proof, open rules, the rule's fields copied), sessions
 * (signed calls accepted once, replays, wrong keys, unknown ids, no
 * header), the session limit, an exports reload forgetting sessions and
 * refusing logins made under the old rules, cluster-call replay memory
 * (also after many other calls: a full ring makes callers wait), and 4 threads signing
 * on one session with interleaved sequence numbers. Clients are played
 * with common/auth.h, as a mount does. Everything is checked through the
 * public API (auth_sessions.h, exports.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../master/auth_sessions.h"
#include "../../master/exports.h"
#include "auth.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define NET10 IP(10, 1, 2, 3)
#define LOCAL IP(127, 0, 0, 1)
#define OTHER IP(192, 168, 1, 1)

/* line 1 a comment, rules on lines 2..4 */
static const char EXPORTS[] =
	"# test exports\n"
	"10.0.0.0/8   /secret  rw,password=s3cret,maproot=1000:1001,mingoal=2,maxgoal=3\n"
	"10.0.0.0/8   /pub     ro,mapall=2000:2001\n"
	"127.0.0.0/8  /        rw,password=pw2\n";

static const char CSECRET[] = "the cluster secret, 32 bytes at least";
#define CS CSECRET, sizeof(CSECRET) - 1

static struct exports *parse(const char *text)
{
	struct exports *ex = NULL;
	char err[256] = "";
	if (exports_parse(text, strlen(text), "test", &ex, err, sizeof(err)) < 0)
		fail_msg("exports_parse: %s", err);
	return ex;
}

static int setup(void **state)
{
	struct asess *as = NULL;
	struct exports *ex = NULL;
	if (exports_parse(EXPORTS, strlen(EXPORTS), "test", &ex, NULL, 0) < 0)
		return -1;
	if (asess_new(ex, &as) < 0)
		return -1;
	*state = as;
	return 0;
}

static int teardown(void **state)
{
	asess_free(*state);
	return 0;
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A client's login: challenge, proof with pw, asess_login_check. Returns
 * its result; on success checks the server proof and that the key is the
 * one the client derives. */
static int login(struct asess *as, uint32_t addr, const char *path, const char *pw,
		 struct asess_export *exp, unsigned char key[AUTH_KEY_LEN], const char **why)
{
	char nonce[AUTH_NONCE_MAX], cnonce[AUTH_ID_LEN + 1], proof[AUTH_HEX_LEN + 1];
	char sproof[AUTH_HEX_LEN + 1], want[AUTH_HEX_LEN + 1];
	unsigned char ckey[AUTH_KEY_LEN];
	assert_int_equal(asess_challenge(as, nonce), 0);
	assert_int_equal(auth_random_hex(AUTH_ID_LEN / 2, cnonce), 0);
	auth_login_proof(pw, strlen(pw), nonce, cnonce, path, proof);
	*why = NULL;
	int rc = asess_login_check(as, addr, nonce, cnonce, path, proof, exp, key, sproof, why);
	if (rc == 0) {
		auth_server_proof(pw, strlen(pw), nonce, cnonce, want);
		assert_string_equal(sproof, want);
		auth_session_key(pw, strlen(pw), nonce, cnonce, ckey);
		assert_memory_equal(ckey, key, AUTH_KEY_LEN);
	} else {
		assert_non_null(*why);
		assert_true(strlen(*why) > 0);
	}
	return rc;
}

/* login + asess_add with root; the session id in exp->id */
static void session(struct asess *as, uint32_t addr, const char *path, const char *pw,
		    uint64_t root, struct asess_export *exp, unsigned char key[AUTH_KEY_LEN])
{
	const char *why;
	assert_int_equal(login(as, addr, path, pw, exp, key, &why), 0);
	exp->root = root;
	exp->whole = path[0] == '/' && path[1] == '\0';
	assert_int_equal(asess_add(as, exp, key), 0);
	assert_true(is_lower_hex(exp->id, AUTH_ID_LEN));
}

static int call(struct asess *as, const unsigned char key[AUTH_KEY_LEN], const char *id,
		uint64_t seq, const char *method, const char *path, const char *body,
		struct asess_export *ret)
{
	char hdr[AUTH_HEADER_MAX];
	size_t len = body ? strlen(body) : 0;
	auth_sign(key, id, seq, method, path, body, len, hdr);
	return asess_check(as, hdr, method, path, body, len, ret);
}

/* ---- challenges and logins -------------------------------------------- */

static void test_challenge_ok(void **state)
{
	struct asess *as = *state;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	const char *why;
	char n1[AUTH_NONCE_MAX], n2[AUTH_NONCE_MAX];
	assert_int_equal(asess_challenge(as, n1), 0);
	assert_int_equal(asess_challenge(as, n2), 0);
	assert_true(strlen(n1) < AUTH_NONCE_MAX);
	assert_string_not_equal(n1, n2);
	assert_int_equal(login(as, NET10, "/secret", "s3cret", &exp, key, &why), 0);
	assert_int_equal(login(as, LOCAL, "/", "pw2", &exp, key, &why), 0);
	assert_int_equal(login(as, LOCAL, "/any/where", "pw2", &exp, key, &why), 0);
}

/* asess_login_check with a given nonce, a correct proof for it */
static int login_nonce(struct asess *as, const char *nonce)
{
	char proof[AUTH_HEX_LEN + 1], sproof[AUTH_HEX_LEN + 1];
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	const char *why = NULL;
	auth_login_proof("s3cret", 6, nonce, "cn", "/secret", proof);
	int rc = asess_login_check(as, NET10, nonce, "cn", "/secret", proof, &exp, key, sproof,
				   &why);
	if (rc < 0)
		assert_non_null(why);
	return rc;
}

static void test_forged_nonce(void **state)
{
	struct asess *as = *state;
	char n[AUTH_NONCE_MAX], t[AUTH_NONCE_MAX + 8];
	assert_int_equal(asess_challenge(as, n), 0);
	assert_int_equal(login_nonce(as, n), 0);
	/* reusable within its TTL (the session key depends on the cnonce) */
	assert_int_equal(login_nonce(as, n), 0);

	/* every character changed */
	size_t len = strlen(n);
	for (size_t i = 0; i < len; i++) {
		strcpy(t, n);
		t[i] = t[i] == '1' ? '2' : '1';
		if (strcmp(t, n) == 0)
			continue;
		if (login_nonce(as, t) != -EKEYEXPIRED)
			fail_msg("nonce altered at %zu accepted: %s", i, t);
	}
	/* cut, extended, made up */
	strcpy(t, n);
	t[len - 1] = '\0';
	assert_int_equal(login_nonce(as, t), -EKEYEXPIRED);
	snprintf(t, sizeof(t), "%s0", n);
	assert_int_equal(login_nonce(as, t), -EKEYEXPIRED);
	snprintf(t, sizeof(t), "0%s", n);
	assert_int_equal(login_nonce(as, t), -EKEYEXPIRED);
	assert_int_equal(login_nonce(as, ""), -EKEYEXPIRED);
	assert_int_equal(login_nonce(as, ".."), -EKEYEXPIRED);
	assert_int_equal(login_nonce(as, "1700000000.0123456789abcdef0123456789abcdef."
					 "0123456789abcdef0123456789abcdef"), -EKEYEXPIRED);
	/* a time without the rest */
	char *dot = strchr(n, '.');
	assert_non_null(dot);
	snprintf(t, sizeof(t), "%.*s", (int)(dot - n), n);
	assert_int_equal(login_nonce(as, t), -EKEYEXPIRED);

	/* another master's nonce (another nonce key) */
	struct asess *other = NULL;
	assert_int_equal(asess_new(parse(EXPORTS), &other), 0);
	assert_int_equal(asess_challenge(other, t), 0);
	assert_int_equal(login_nonce(other, t), 0);
	assert_int_equal(login_nonce(as, t), -EKEYEXPIRED);
	asess_free(other);

	/* the original is still good */
	assert_int_equal(login_nonce(as, n), 0);
}

static void test_no_rule(void **state)
{
	struct asess *as = *state;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	const char *why;
	assert_int_equal(login(as, OTHER, "/", "pw2", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, OTHER, "/secret", "s3cret", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, NET10, "/", "pw2", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, NET10, "/secretary", "s3cret", &exp, key, &why), -EACCES);

	/* an empty set: nobody */
	asess_set_exports(as, parse(""));
	assert_int_equal(login(as, LOCAL, "/", "pw2", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, LOCAL, "/", "", &exp, key, &why), -EACCES);
}

static void test_wrong_proof(void **state)
{
	struct asess *as = *state;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	const char *why, *why_norule;
	assert_int_equal(login(as, NET10, "/secret", "s3creT", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, NET10, "/secret", "", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, NET10, "/secret", "pw2", &exp, key, &why), -EACCES);
	assert_int_equal(login(as, OTHER, "/", "pw2", &exp, key, &why_norule), -EACCES);
	assert_string_not_equal(why, why_norule);   /* says which */

	/* a right proof for another path, another cnonce, or garbage */
	char nonce[AUTH_NONCE_MAX], proof[AUTH_HEX_LEN + 1], sproof[AUTH_HEX_LEN + 1];
	assert_int_equal(asess_challenge(as, nonce), 0);
	auth_login_proof("s3cret", 6, nonce, "c1", "/secret", proof);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c1", "/secret/sub", proof, &exp, key,
					   sproof, &why), -EACCES);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c2", "/secret", proof, &exp, key,
					   sproof, &why), -EACCES);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c1", "/secret", "", &exp, key,
					   sproof, &why), -EACCES);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c1", "/secret", "zz", &exp, key,
					   sproof, &why), -EACCES);
	char orig = proof[0];
	proof[0] = orig == 'a' ? 'b' : 'a';
	assert_int_equal(asess_login_check(as, NET10, nonce, "c1", "/secret", proof, &exp, key,
					   sproof, &why), -EACCES);
	proof[0] = orig;
	assert_int_equal(asess_login_check(as, NET10, nonce, "c1", "/secret", proof, &exp, key,
					   sproof, &why), 0);
}

static void test_open_rule(void **state)
{
	struct asess *as = *state;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN], want[AUTH_KEY_LEN];
	char nonce[AUTH_NONCE_MAX], sproof[AUTH_HEX_LEN + 1], wsp[AUTH_HEX_LEN + 1];
	const char *why = NULL;
	/* any proof: garbage, empty, one made with some password */
	assert_int_equal(asess_challenge(as, nonce), 0);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c", "/pub", "garbage", &exp, key,
					   sproof, &why), 0);
	/* the key and server proof are those of the empty password */
	auth_session_key("", 0, nonce, "c", want);
	assert_memory_equal(key, want, AUTH_KEY_LEN);
	auth_server_proof("", 0, nonce, "c", wsp);
	assert_string_equal(sproof, wsp);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c", "/pub/a/b", "", &exp, key,
					   sproof, &why), 0);
	assert_int_equal(login(as, NET10, "/pub", "", &exp, key, &why), 0);
	/* a proof made with some password is accepted too; the key and
	 * server proof stay those of the empty password (the rule's) */
	char proof[AUTH_HEX_LEN + 1];
	auth_login_proof("whatever", 8, nonce, "c", "/pub", proof);
	assert_int_equal(asess_login_check(as, NET10, nonce, "c", "/pub", proof, &exp, key,
					   sproof, &why), 0);
	assert_memory_equal(key, want, AUTH_KEY_LEN);
	assert_string_equal(sproof, wsp);

	/* the built-in default: everyone, everything, read-write */
	struct asess *def = NULL;
	assert_int_equal(asess_new(NULL, &def), 0);
	assert_int_equal(login(def, OTHER, "/", "", &exp, key, &why), 0);
	assert_false(exp.ro);
	assert_int_equal(login(def, LOCAL, "/x/y", "", &exp, key, &why), 0);
	asess_free(def);
}

static void test_export_fields(void **state)
{
	struct asess *as = *state;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	const char *why;
	memset(&exp, 0xee, sizeof(exp));
	assert_int_equal(login(as, NET10, "/secret/sub", "s3cret", &exp, key, &why), 0);
	assert_false(exp.ro);
	assert_true(exp.maproot);
	assert_false(exp.mapall);
	assert_int_equal(exp.map_uid, 1000);
	assert_int_equal(exp.map_gid, 1001);
	assert_int_equal(exp.mingoal, 2);
	assert_int_equal(exp.maxgoal, 3);
	assert_int_equal(exp.line, 2);
	assert_int_equal(exp.root, 0);       /* not yet known */

	memset(&exp, 0xee, sizeof(exp));
	assert_int_equal(login(as, NET10, "/pub", "", &exp, key, &why), 0);
	assert_true(exp.ro);
	assert_false(exp.maproot);
	assert_true(exp.mapall);
	assert_int_equal(exp.map_uid, 2000);
	assert_int_equal(exp.map_gid, 2001);
	assert_int_equal(exp.mingoal, 1);
	assert_int_equal(exp.maxgoal, 16);
	assert_int_equal(exp.line, 3);

	memset(&exp, 0xee, sizeof(exp));
	assert_int_equal(login(as, LOCAL, "/", "pw2", &exp, key, &why), 0);
	assert_false(exp.ro);
	assert_false(exp.maproot);
	assert_false(exp.mapall);
	assert_int_equal(exp.line, 4);
}

/* ---- sessions --------------------------------------------------------- */

static void test_session_calls(void **state)
{
	struct asess *as = *state;
	struct asess_export exp, got;
	unsigned char key[AUTH_KEY_LEN];
	assert_int_equal(asess_count(as), 0);
	session(as, NET10, "/secret", "s3cret", 77, &exp, key);
	assert_int_equal(asess_count(as), 1);

	memset(&got, 0, sizeof(got));
	assert_int_equal(call(as, key, exp.id, 1, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(got.root, 77);
	assert_false(got.whole);
	assert_string_equal(got.id, exp.id);
	assert_true(got.maproot);
	assert_int_equal(got.map_uid, 1000);
	assert_int_equal(got.line, 2);
	assert_int_equal(got.mingoal, 2);

	/* replay of the same header */
	char hdr[AUTH_HEADER_MAX];
	auth_sign(key, exp.id, 2, "POST", "/v1/y", "{}", 2, hdr);
	assert_int_equal(asess_check(as, hdr, "POST", "/v1/y", "{}", 2, &got), 0);
	assert_int_equal(asess_check(as, hdr, "POST", "/v1/y", "{}", 2, &got), -EKEYREJECTED);
	assert_int_equal(call(as, key, exp.id, 1, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);
	/* out of order within the window, once */
	assert_int_equal(call(as, key, exp.id, 10, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(call(as, key, exp.id, 5, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(call(as, key, exp.id, 5, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);
	/* too old */
	assert_int_equal(call(as, key, exp.id, 10 + AUTH_WINDOW, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(call(as, key, exp.id, 9, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);

	/* a request whose signature does not match does not use up its seq */
	auth_sign(key, exp.id, 2000, "PUT", "/v1/z", "body", 4, hdr);
	assert_int_equal(asess_check(as, hdr, "PUT", "/v1/zz", "body", 4, &got), -EKEYREJECTED);
	assert_int_equal(asess_check(as, hdr, "GET", "/v1/z", "body", 4, &got), -EKEYREJECTED);
	assert_int_equal(asess_check(as, hdr, "PUT", "/v1/z", "bodY", 4, &got), -EKEYREJECTED);
	assert_int_equal(asess_check(as, hdr, "PUT", "/v1/z", "body", 4, &got), 0);

	/* wrong key */
	unsigned char k2[AUTH_KEY_LEN];
	memcpy(k2, key, sizeof(k2));
	k2[AUTH_KEY_LEN - 1] ^= 0x40;
	assert_int_equal(call(as, k2, exp.id, 3000, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);
	assert_int_equal(call(as, key, exp.id, 3000, "GET", "/v1/x", NULL, &got), 0);

	/* unknown id, no header, malformed header */
	char other[AUTH_ID_LEN + 1];
	assert_int_equal(auth_random_hex(AUTH_ID_LEN / 2, other), 0);
	assert_int_equal(call(as, key, other, 3001, "GET", "/v1/x", NULL, &got), -EKEYEXPIRED);
	assert_int_equal(asess_check(as, NULL, "GET", "/v1/x", NULL, 0, &got), -EKEYEXPIRED);
	assert_int_equal(asess_check(as, "", "GET", "/v1/x", NULL, 0, &got), -EKEYREJECTED);
	assert_int_equal(asess_check(as, "BigFS x", "GET", "/v1/x", NULL, 0, &got), -EKEYREJECTED);
	auth_sign(key, exp.id, 3002, "GET", "/v1/x", NULL, 0, hdr);
	hdr[strlen(hdr) - 1] = '\0';
	assert_int_equal(asess_check(as, hdr, "GET", "/v1/x", NULL, 0, &got), -EKEYREJECTED);

	/* a second session: its own key and window */
	struct asess_export exp2;
	unsigned char key2[AUTH_KEY_LEN];
	session(as, LOCAL, "/", "pw2", 1, &exp2, key2);
	assert_int_equal(asess_count(as), 2);
	assert_string_not_equal(exp.id, exp2.id);
	assert_int_equal(call(as, key2, exp2.id, 1, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(got.root, 1);
	assert_true(got.whole);
	assert_int_equal(got.line, 4);
	assert_int_equal(call(as, key, exp2.id, 2, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);
	assert_int_equal(call(as, key2, exp.id, 4000, "GET", "/v1/x", NULL, &got), -EKEYREJECTED);
	assert_int_equal(call(as, key, exp.id, 4000, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(got.root, 77);
}

static void test_reload(void **state)
{
	struct asess *as = *state;
	struct asess_export exp, old, got;
	unsigned char key[AUTH_KEY_LEN], oldkey[AUTH_KEY_LEN];
	const char *why;
	session(as, NET10, "/secret", "s3cret", 5, &exp, key);
	assert_int_equal(call(as, key, exp.id, 1, "GET", "/v1/x", NULL, &got), 0);
	/* a login checked under the current rules, not yet added */
	assert_int_equal(login(as, NET10, "/secret", "s3cret", &old, oldkey, &why), 0);

	asess_set_exports(as, parse("10.0.0.0/8 /secret rw,password=new\n"));
	assert_int_equal(asess_count(as), 0);
	assert_int_equal(call(as, key, exp.id, 2, "GET", "/v1/x", NULL, &got), -EKEYEXPIRED);
	old.root = 5;
	assert_int_equal(asess_add(as, &old, oldkey), -EKEYEXPIRED);
	assert_int_equal(asess_count(as), 0);

	/* the new rules are the ones in force */
	assert_int_equal(login(as, NET10, "/secret", "s3cret", &exp, key, &why), -EACCES);
	session(as, NET10, "/secret", "new", 6, &exp, key);
	assert_int_equal(call(as, key, exp.id, 1, "GET", "/v1/x", NULL, &got), 0);
	assert_int_equal(got.root, 6);
	assert_int_equal(got.line, 1);
	assert_int_equal(asess_count(as), 1);
}

/* The table holds ASESS_MAX sessions at most; the newest always works. */
static void test_session_limit(void **state)
{
	struct asess *as = *state;
	struct asess_export exp, got;
	unsigned char key[AUTH_KEY_LEN];
	const char *why;
	assert_int_equal(login(as, LOCAL, "/", "pw2", &exp, key, &why), 0);
	exp.root = 1;
	for (int i = 0; i < ASESS_MAX + 10; i++) {
		assert_int_equal(asess_add(as, &exp, key), 0);
		assert_true(asess_count(as) <= ASESS_MAX);
	}
	assert_int_equal(asess_count(as), ASESS_MAX);
	assert_int_equal(call(as, key, exp.id, 1, "GET", "/v1/x", NULL, &got), 0);
	assert_string_equal(got.id, exp.id);
}

/* ---- cluster calls ---------------------------------------------------- */

static void test_cluster(void **state)
{
	struct asess *as = *state;
	char hdr[AUTH_HEADER_MAX], hdr2[AUTH_HEADER_MAX];
	long long now = (long long)time(NULL);
	const char *body = "{\"id\":1}";
	size_t bl = strlen(body);
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/cluster/register", body, bl, now, hdr),
			 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/cluster/register", body, bl),
			 0);
	/* its replay */
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/cluster/register", body, bl),
			 -EKEYREJECTED);
	/* a fresh one is fine */
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/cluster/register", body, bl, now, hdr2),
			 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr2, "POST", "/v1/cluster/register", body,
					     bl), 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr2, "POST", "/v1/cluster/register", body,
					     bl), -EKEYREJECTED);
	/* no header, tampered, wrong secret, malformed, too old, from the future */
	assert_int_equal(asess_cluster_check(as, CS, NULL, "POST", "/v1/cluster/register", body,
					     bl), -EKEYEXPIRED);
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/a", body, bl, now, hdr), 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/b", body, bl),
			 -EKEYREJECTED);
	assert_int_equal(asess_cluster_check(as, "another secret", 14, hdr, "POST", "/v1/a", body,
					     bl), -EKEYREJECTED);
	assert_int_equal(asess_cluster_check(as, CS, "BigFS-Cluster x", "POST", "/v1/a", body, bl),
			 -EKEYREJECTED);
	/* those refusals did not record its nonce: the right call still passes */
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/a", body, bl), 0);
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/a", body, bl,
					   now - AUTH_CLUSTER_SKEW_S - 60, hdr), 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/a", body, bl),
			 -EKEYREJECTED);
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/a", body, bl,
					   now + AUTH_CLUSTER_SKEW_S + 60, hdr), 0);
	assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/a", body, bl),
			 -EKEYREJECTED);
}

/* Fixed (was a bug): the replay memory of cluster calls is a
 * ring of a fixed number of nonces, so after enough other cluster calls
 * (4096, CLUSTER_NONCES in auth_sessions.c; a few workers reporting every
 * second get there in minutes) a recorded call can be replayed while its
 * TIME is still within AUTH_CLUSTER_SKEW_S. auth_sessions.h promises
 * -EKEYREJECTED for a replayed call; asess_cluster_check returns 0. */
static void test_cluster_replay_after_many(void **state)
{
	struct asess *as = *state;
	char first[AUTH_HEADER_MAX], hdr[AUTH_HEADER_MAX];
	long long now = (long long)time(NULL);
	assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/cluster/report", "{}", 2, now, first),
			 0);
	assert_int_equal(asess_cluster_check(as, CS, first, "POST", "/v1/cluster/report", "{}", 2),
			 0);
	/* the ring remembers ASESS_CLUSTER_CALLS nonces: one more call while
	 * they are all fresh must wait (EAGAIN), never push one out */
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(auth_cluster_sign(CS, "POST", "/v1/cluster/report", "{}", 2, now,
						   hdr), 0);
		assert_int_equal(asess_cluster_check(as, CS, hdr, "POST", "/v1/cluster/report", "{}",
						     2), i < ASESS_CLUSTER_CALLS - 1 ? 0 : -EAGAIN);
	}
	/* still well within the skew: the replay must be refused */
	assert_true((long long)time(NULL) - now < AUTH_CLUSTER_SKEW_S / 2);
	assert_int_equal(asess_cluster_check(as, CS, first, "POST", "/v1/cluster/report", "{}", 2),
			 -EKEYREJECTED);
}

/* ---- concurrency ------------------------------------------------------ */

#define THREADS 4
#define PER_THREAD 2000

struct conc {
	struct asess *as;
	const unsigned char *key;
	const char *id;
	atomic_uint_fast64_t next;            /* the last sequence number handed out */
	/* per thread: 0 when idle, else a lower bound of the seq it works on */
	atomic_uint_fast64_t busy[THREADS];
	atomic_uint_fast64_t highest;         /* highest seq checked so far */
	atomic_int failures, out_of_order;
	int first_rc;
};

struct worker {
	struct conc *c;
	int t;
};

static void *conc_worker(void *arg)
{
	struct worker *wk = arg;
	struct conc *c = wk->c;
	struct asess_export got;
	char body[64], hdr[AUTH_HEADER_MAX];
	for (int i = 0; i < PER_THREAD; i++) {
		/* announce a lower bound before taking the seq, so a thread
		 * that takes a much later one sees this one is in flight */
		atomic_store(&c->busy[wk->t], atomic_load(&c->next) + 1);
		uint64_t seq = atomic_fetch_add(&c->next, 1) + 1;
		atomic_store(&c->busy[wk->t], seq);
		/* a thread that stalls between taking its seq and checking
		 * it must not fall a whole window behind (the master would
		 * rightly refuse it as too old): wait for stragglers more
		 * than half a window back. The seqs still arrive out of
		 * order, by up to AUTH_WINDOW / 2. */
		for (int u = 0; u < THREADS; u++) {
			if (u == wk->t)
				continue;
			for (;;) {
				uint64_t b = atomic_load(&c->busy[u]);
				if (b == 0 || b + AUTH_WINDOW / 2 > seq)
					break;
				sched_yield();
			}
		}
		int len = snprintf(body, sizeof(body), "{\"t\":%d,\"i\":%d}", wk->t, i);
		const char *path = (i & 1) ? "/v1/read" : "/v1/write";
		auth_sign(c->key, c->id, seq, "POST", path, body, (size_t)len, hdr);
		uint64_t hi = atomic_load(&c->highest);
		if (seq < hi)
			atomic_fetch_add(&c->out_of_order, 1);
		while (seq > hi && !atomic_compare_exchange_weak(&c->highest, &hi, seq))
			;
		int rc = asess_check(c->as, hdr, "POST", path, body, (size_t)len, &got);
		if (rc != 0 || got.root != 99) {
			if (atomic_fetch_add(&c->failures, 1) == 0)
				c->first_rc = rc;
		}
		atomic_store(&c->busy[wk->t], 0);
	}
	return NULL;
}

static void test_concurrent_session(void **state)
{
	struct asess *as = *state;
	struct asess_export exp, got;
	unsigned char key[AUTH_KEY_LEN];
	session(as, LOCAL, "/", "pw2", 99, &exp, key);

	struct conc c;
	memset(&c, 0, sizeof(c));
	c.as = as;
	c.key = key;
	c.id = exp.id;
	atomic_init(&c.next, 0);
	atomic_init(&c.highest, 0);
	atomic_init(&c.failures, 0);
	atomic_init(&c.out_of_order, 0);
	for (int t = 0; t < THREADS; t++)
		atomic_init(&c.busy[t], 0);
	pthread_t th[THREADS];
	struct worker wk[THREADS];
	for (int t = 0; t < THREADS; t++) {
		wk[t].c = &c;
		wk[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, conc_worker, &wk[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	if (atomic_load(&c.failures))
		fail_msg("%d of %d concurrent calls failed (first: %d)", atomic_load(&c.failures),
			 THREADS * PER_THREAD, c.first_rc);
	print_message("concurrent: %d calls, %d signed out of order\n", THREADS * PER_THREAD,
		      atomic_load(&c.out_of_order));
	assert_true(atomic_load(&c.next) == THREADS * PER_THREAD);
	/* every seq was used exactly once: none can be used again */
	for (uint64_t s = THREADS * PER_THREAD - AUTH_WINDOW + 1; s <= THREADS * PER_THREAD; s++)
		assert_int_equal(call(as, key, exp.id, s, "GET", "/v1/x", NULL, &got),
				 -EKEYREJECTED);
	assert_int_equal(call(as, key, exp.id, THREADS * PER_THREAD + 1, "GET", "/v1/x", NULL,
			      &got), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_challenge_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_proof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_replay_after_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_session, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
