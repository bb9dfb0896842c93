/* test_common — unit tests of the shared library in common/: errors, ids,
 * crc32c, token, json_util and config.
 *
 * Each test states a contract from the module's header and checks both the
 * good path and the refusals (bad input must give -EINVAL/-EACCES and leave
 * outputs untouched). No network, no threads; config tests write their
 * files under a mkdtemp(3) folder that is removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "crc32c.h"
#include "errors.h"
#include "ids.h"
#include "json_util.h"
#include "token.h"

/* ---- errors ------------------------------------------------------------ */

static void test_errors_map_round_trip(void **state)
{
	(void)state;
#define CHECK_ONE(e, status)                                                   \
	assert_string_equal(errno_name(e), #e);                                \
	assert_string_equal(errno_name(-(e)), #e);                             \
	assert_int_equal(errno_http_status(e), status);                        \
	assert_int_equal(errno_http_status(-(e)), status);                     \
	assert_int_equal(errno_from_name(#e), e);
	BIGFS_ERRNO_MAP(CHECK_ONE)
#undef CHECK_ONE
}

static void test_errors_unknown(void **state)
{
	(void)state;
	assert_string_equal(errno_name(4095), "EUNKNOWN");
	assert_int_equal(errno_http_status(4095), 500);
	assert_int_equal(errno_from_name("ENOTANERRNO"), EIO);
	assert_int_equal(errno_from_name(""), EIO);
}

/* ---- crc32c ------------------------------------------------------------ */

static void test_crc32c_check_value(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_crc32c_chaining(void **state)
{
	(void)state;
	uint32_t c = crc32c(0, "1234", 4);
	c = crc32c(c, "56789", 5);
	assert_int_equal(c, 0xE3069283u);

	/* Byte by byte over a larger random-ish buffer equals one call. */
	unsigned char buf[70000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	uint32_t whole = crc32c(0, buf, sizeof(buf));
	uint32_t parts = 0;
	for (size_t off = 0; off < sizeof(buf); off += 4093) {
		size_t n = sizeof(buf) - off < 4093 ? sizeof(buf) - off : 4093;
		parts = crc32c(parts, buf + off, n);
	}
	assert_int_equal(whole, parts);
	buf[12345] ^= 1;
	assert_int_not_equal(crc32c(0, buf, sizeof(buf)), whole);
}

/* ---- ids --------------------------------------------------------------- */

static void test_chunk_id_round_trip(void **state)
{
	(void)state;
	const uint64_t ids[] = {0, 1, 42, 0xdeadbeefcafebabeULL, UINT64_MAX};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char s[CHUNK_ID_STRLEN + 1];
		memset(s, 'z', sizeof(s));
		chunk_id_format(ids[i], s);
		assert_int_equal(strlen(s), CHUNK_ID_STRLEN);
		for (int k = 0; k < CHUNK_ID_STRLEN; k++)
			assert_true((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f'));
		uint64_t back = 7;
		assert_int_equal(chunk_id_parse(s, &back), 0);
		assert_true(back == ids[i]);
	}
	char s[CHUNK_ID_STRLEN + 1];
	chunk_id_format(42, s);
	assert_string_equal(s, "000000000000002a");
}

static void test_chunk_id_parse_accepts_upper(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_int_equal(chunk_id_parse("DEADBEEFCAFEBABE", &v), 0);
	assert_true(v == 0xdeadbeefcafebabeULL);
}

static void test_chunk_id_parse_rejects(void **state)
{
	(void)state;
	const char *bad[] = {
		"",
		"000000000000002",    /* 15 digits */
		"000000000000002a0",  /* 17 digits */
		"000000000000002g",   /* non-hex */
		"00000000000000 a",
		"-00000000000002a",
		"0x0000000000002a",
		"+000000000000002a",
		" 000000000000002a",
		"000000000000002a ",
		"000000000000002a\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 12345;
		assert_int_equal(chunk_id_parse(bad[i], &v), -EINVAL);
		assert_true(v == 12345); /* untouched on failure */
	}
}

static void test_worker_id(void **state)
{
	(void)state;
	char a[WORKER_ID_STRLEN + 1], b[WORKER_ID_STRLEN + 1];
	assert_int_equal(worker_id_generate(a), 0);
	assert_int_equal(worker_id_generate(b), 0);
	assert_true(worker_id_valid(a));
	assert_true(worker_id_valid(b));
	assert_int_equal(strlen(a), WORKER_ID_STRLEN);
	assert_string_not_equal(a, b);

	assert_true(worker_id_valid("0123456789abcdef"));
	assert_false(worker_id_valid("0123456789ABCDEF"));  /* lowercase only */
	assert_false(worker_id_valid("0123456789abcde"));   /* 15 */
	assert_false(worker_id_valid("0123456789abcdef0")); /* 17 */
	assert_false(worker_id_valid("0123456789abcdeg"));
	assert_false(worker_id_valid(""));
	assert_false(worker_id_valid("../../etc/passwd"));
}

/* ---- token ------------------------------------------------------------- */

static void make_secret(struct secret *s, unsigned char fill)
{
	memset(s, 0, sizeof(*s));
	s->len = 32;
	for (size_t i = 0; i < s->len; i++)
		s->key[i] = (unsigned char)(fill + i * 7);
}

static void test_token_ok(void **state)
{
	(void)state;
	struct secret s;
	make_secret(&s, 1);
	char tok[TOKEN_MAX];
	time_t now = 1700000000;
	token_make(&s, 0x2a, 3, "r", now + 60, tok);
	assert_true(strlen(tok) < TOKEN_MAX);
	/* "EXPIRY.HMAC" with 64 hex digits */
	const char *dot = strchr(tok, '.');
	assert_non_null(dot);
	assert_int_equal(strlen(dot + 1), 64);
	assert_int_equal(strtoll(tok, NULL, 10), now + 60);
	assert_int_equal(token_check(&s, 0x2a, 3, "r", tok, now), 0);
	assert_int_equal(token_check(&s, 0x2a, 3, "r", tok, now + 59), 0);
}

static void test_token_matches_reference_hmac(void **state)
{
	(void)state;
	/* HMAC-SHA256(key = 32 x 'k', "000000000000002a:3:r:1700000060"),
	 * computed independently with Python's hmac module. */
	struct secret s;
	memset(&s, 0, sizeof(s));
	s.len = 32;
	memset(s.key, 'k', 32);
	char tok[TOKEN_MAX];
	token_make(&s, 0x2a, 3, "r", 1700000060, tok);
	assert_string_equal(tok, "1700000060."
			    "771f44ec175b731f15cb552e30baeb1a3beb0d5ccad0fe53eaa2a9dc57187de1");
	assert_int_equal(token_check(&s, 0x2a, 3, "r", tok, 1700000000), 0);
}

static void test_token_refusals(void **state)
{
	(void)state;
	struct secret s, other;
	make_secret(&s, 1);
	make_secret(&other, 2);
	char tok[TOKEN_MAX];
	time_t now = 1700000000;
	token_make(&s, 0x2a, 3, "w", now + 60, tok);

	assert_int_equal(token_check(&s, 0x2a, 3, "r", tok, now), -EACCES);  /* op */
	assert_int_equal(token_check(&s, 0x2a, 4, "w", tok, now), -EACCES);  /* version */
	assert_int_equal(token_check(&s, 0x2b, 3, "w", tok, now), -EACCES);  /* chunk */
	assert_int_equal(token_check(&other, 0x2a, 3, "w", tok, now), -EACCES); /* secret */
	assert_int_equal(token_check(&s, 0x2a, 3, "w", tok, now + 61), -EACCES); /* expired */
	assert_int_equal(token_check(&s, 0x2a, 3, "w", tok, now + 100000), -EACCES);

	/* Tampered: flip each kind of character once. */
	char t2[TOKEN_MAX];
	size_t n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		memcpy(t2, tok, n + 1);
		if (t2[i] == '.')
			continue;
		t2[i] = t2[i] == '0' ? '1' : '0';
		assert_int_equal(token_check(&s, 0x2a, 3, "w", t2, now), -EACCES);
	}
	/* Expiry moved later but same HMAC. */
	char later[TOKEN_MAX];
	snprintf(later, sizeof(later), "%lld%s", (long long)(now + 100000), strchr(tok, '.'));
	assert_int_equal(token_check(&s, 0x2a, 3, "w", later, now + 61), -EACCES);

	/* Truncated / extended. */
	memcpy(t2, tok, n + 1);
	t2[n - 1] = '\0';
	assert_int_equal(token_check(&s, 0x2a, 3, "w", t2, now), -EACCES);
	snprintf(t2, sizeof(t2), "%s0", tok);
	assert_int_equal(token_check(&s, 0x2a, 3, "w", t2, now), -EACCES);

	const char *garbage[] = {
		"", ".", "abc", "123.", ".abcdef", "-1.00", "1700000060",
		"1700000060.zzzz",
		"99999999999999999999999999.0000000000000000000000000000000000000000000000000000000000000000",
		"1700000060.000000000000000000000000000000000000000000000000000000000000000g",
		"1700000060..0000000000000000000000000000000000000000000000000000000000000000",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		assert_int_equal(token_check(&s, 0x2a, 3, "w", garbage[i], now), -EACCES);
	assert_int_equal(token_check(&s, 0x2a, 3, "w", NULL, now), -EACCES);

	/* Found by fuzz_token: the valid token with a prefix strtoll skips
	 * was accepted too (one spelling per token now). */
	const char *prefixes[] = { "0", " ", "\t", "+", "00" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		snprintf(t2, sizeof(t2), "%s%s", prefixes[i], tok);
		assert_int_equal(token_check(&s, 0x2a, 3, "w", t2, now), -EACCES);
	}
	/* ... and an op too long for the signed message overran its buffer. */
	char longop[200];
	memset(longop, 'x', sizeof(longop) - 1);
	longop[sizeof(longop) - 1] = '\0';
	assert_int_equal(token_check(&s, 0x2a, 3, longop, tok, now), -EACCES);
}

static void test_secret_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/bigfs-test-secret.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/secret", dir);

	struct secret a, b;
	assert_int_equal(secret_load_or_create(path, &a), 0);
	assert_true(a.len >= 32);
	assert_int_equal(secret_load_or_create(path, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.key, b.key, a.len);
	struct secret c;
	assert_int_equal(secret_load(path, &c), 0);
	assert_memory_equal(a.key, c.key, a.len);

	/* A token made with the loaded secret checks with the re-loaded one. */
	char tok[TOKEN_MAX];
	token_make(&a, 7, 1, "d", 2000000000, tok);
	assert_int_equal(token_check(&c, 7, 1, "d", tok, 1999999999), 0);

	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_true(secret_load(missing, &c) < 0);

	/* Too short a secret is refused. */
	char shortp[300];
	snprintf(shortp, sizeof(shortp), "%s/short", dir);
	FILE *f = fopen(shortp, "w");
	assert_non_null(f);
	fputs("tooshort", f);
	fclose(f);
	assert_true(secret_load(shortp, &c) < 0);

	unlink(shortp);
	unlink(path);
	rmdir(dir);
}

/* ---- json_util --------------------------------------------------------- */

static json_t *parse(const char *text)
{
	json_t *o = ju_parse_object(text, strlen(text));
	assert_non_null(o);
	return o;
}

static void test_ju_parse_object(void **state)
{
	(void)state;
	json_t *o = ju_parse_object("{\"a\":1}", 7);
	assert_non_null(o);
	json_decref(o);
	/* Not NUL-terminated: only len bytes are read. */
	const char buf[] = {'{', '"', 'a', '"', ':', '2', '}', 'x', 'x'};
	o = ju_parse_object(buf, 7);
	assert_non_null(o);
	uint64_t v = 0;
	assert_int_equal(ju_u64(o, "a", &v), 0);
	assert_true(v == 2);
	json_decref(o);

	assert_null(ju_parse_object("[1,2]", 5));
	assert_null(ju_parse_object("17", 2));
	assert_null(ju_parse_object("\"s\"", 3));
	assert_null(ju_parse_object("{\"a\":", 5));
	assert_null(ju_parse_object("", 0));
	assert_null(ju_parse_object("{} trailing", 11));
	assert_null(ju_parse_object("\xff\xfe{}", 4));
}

static void test_ju_integers(void **state)
{
	(void)state;
	/* Beyond int64 is not a JSON integer jansson holds: the body is refused. */
	assert_null(ju_parse_object("{\"u\": 18446744073709551616}", 27));
	json_t *o = parse("{\"neg\": -1, \"big32\": 4294967296,"
			  " \"ok32\": 4294967295, \"real\": 1.0, \"str\": \"5\", \"t\": true,"
			  " \"nul\": null, \"i\": -42, \"obj\": {}, \"arr\": [1],"
			  " \"max\": 9223372036854775807}");
	uint64_t u = 99;
	uint32_t u32 = 99;
	int64_t i = 99;

	assert_int_equal(ju_u64(o, "max", &u), 0);
	assert_true(u == 9223372036854775807ULL);

	u = 99;
	assert_int_equal(ju_u64(o, "neg", &u), -EINVAL);
	assert_true(u == 99);
	assert_int_equal(ju_u64(o, "real", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "str", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "t", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "nul", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "obj", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "arr", &u), -EINVAL);
	assert_int_equal(ju_u64(o, "missing", &u), -EINVAL);
	assert_true(u == 99);
	assert_int_equal(ju_u64(o, "big32", &u), 0);
	assert_true(u == 4294967296ULL);

	assert_int_equal(ju_u32(o, "big32", &u32), -EINVAL);
	assert_true(u32 == 99);
	assert_int_equal(ju_u32(o, "neg", &u32), -EINVAL);
	assert_int_equal(ju_u32(o, "ok32", &u32), 0);
	assert_true(u32 == 4294967295u);

	assert_int_equal(ju_i64(o, "i", &i), 0);
	assert_true(i == -42);
	i = 5;
	assert_int_equal(ju_i64(o, "real", &i), -EINVAL);
	assert_int_equal(ju_i64(o, "str", &i), -EINVAL);
	assert_true(i == 5);

	bool b = false;
	assert_int_equal(ju_bool(o, "t", &b), 0);
	assert_true(b);
	b = false;
	assert_int_equal(ju_bool(o, "i", &b), -EINVAL);
	assert_int_equal(ju_bool(o, "missing", &b), -EINVAL);
	assert_false(b);
	json_decref(o);
}

static void test_ju_strings(void **state)
{
	(void)state;
	json_t *o = parse("{\"s\": \"hello\", \"n\": 5, \"c\": \"000000000000002a\","
			  " \"c15\": \"000000000000002\", \"cx\": \"00000000000000zz\"}");
	json_object_set_new(o, "nul", json_stringn("a\0b", 3));
	const char *s = "untouched";
	assert_int_equal(ju_str(o, "s", 5, &s), 0);
	assert_string_equal(s, "hello");
	s = "untouched";
	assert_int_equal(ju_str(o, "s", 4, &s), -EINVAL);  /* too long */
	assert_string_equal(s, "untouched");
	assert_int_equal(ju_str(o, "n", 100, &s), -EINVAL);
	assert_int_equal(ju_str(o, "missing", 100, &s), -EINVAL);
	assert_int_equal(ju_str(o, "nul", 100, &s), -EINVAL); /* NUL inside */
	assert_string_equal(s, "untouched");

	uint64_t id = 1;
	assert_int_equal(ju_chunk_id(o, "c", &id), 0);
	assert_true(id == 42);
	id = 1;
	assert_int_equal(ju_chunk_id(o, "c15", &id), -EINVAL);
	assert_int_equal(ju_chunk_id(o, "cx", &id), -EINVAL);
	assert_int_equal(ju_chunk_id(o, "n", &id), -EINVAL);
	assert_true(id == 1);

	json_t *out = json_object();
	assert_int_equal(ju_set_chunk_id(out, "id", 0xabcdefULL), 0);
	assert_string_equal(json_string_value(json_object_get(out, "id")), "0000000000abcdef");
	size_t len = 0;
	char *dump = ju_dump(out, &len);
	assert_non_null(dump);
	assert_string_equal(dump, "{\"id\":\"0000000000abcdef\"}");
	assert_int_equal(len, strlen(dump));
	free(dump);
	json_decref(out);

	assert_true(ju_has(o, "s"));
	assert_false(ju_has(o, "missing"));
	json_object_set_new(o, "null", json_null());
	assert_false(ju_has(o, "null"));
	json_decref(o);
}

static void test_ju_optional(void **state)
{
	(void)state;
	json_t *o = parse("{\"n\": 7, \"nul\": null, \"s\": \"x\", \"neg\": -3, \"b\": false}");
	uint64_t u = 0;
	assert_int_equal(ju_u64_opt(o, "missing", 11, &u), 0);
	assert_true(u == 11);
	assert_int_equal(ju_u64_opt(o, "nul", 12, &u), 0);
	assert_true(u == 12);
	assert_int_equal(ju_u64_opt(o, "n", 13, &u), 0);
	assert_true(u == 7);
	u = 99;
	assert_int_equal(ju_u64_opt(o, "s", 13, &u), -EINVAL);
	assert_int_equal(ju_u64_opt(o, "neg", 13, &u), -EINVAL);
	assert_true(u == 99);

	uint32_t u32 = 0;
	assert_int_equal(ju_u32_opt(o, "missing", 5, &u32), 0);
	assert_int_equal(u32, 5);
	assert_int_equal(ju_u32_opt(o, "s", 5, &u32), -EINVAL);

	bool b = true;
	assert_int_equal(ju_bool_opt(o, "b", true, &b), 0);
	assert_false(b);
	assert_int_equal(ju_bool_opt(o, "missing", true, &b), 0);
	assert_true(b);
	assert_int_equal(ju_bool_opt(o, "n", true, &b), -EINVAL);

	const char *s = NULL;
	assert_int_equal(ju_str_opt(o, "missing", 10, "def", &s), 0);
	assert_string_equal(s, "def");
	assert_int_equal(ju_str_opt(o, "s", 10, "def", &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(ju_str_opt(o, "n", 10, "def", &s), -EINVAL);
	assert_int_equal(ju_str_opt(o, "s", 0, "def", &s), -EINVAL);
	json_decref(o);
}

/* Round trip of one name through ju_set_name, the wire text and
 * ju_name_get; returns the member the writer chose (1: "<key>_b64"). */
static int name_round_trip(const char *name, size_t len)
{
	json_t *o = json_object();
	assert_int_equal(ju_set_name(o, "name", name, len), 0);
	size_t tlen;
	char *text = ju_dump(o, &tlen);
	assert_non_null(text);
	json_t *back = ju_parse_object(text, tlen);   /* what the other side parses */
	assert_non_null(back);
	char *got = NULL;
	size_t got_len = 0;
	assert_int_equal(ju_name_get(back, "name", 4096, &got, &got_len), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, name, len);
	assert_int_equal(got[len], '\0');
	int b64 = ju_has(back, "name_b64");
	assert_int_equal(ju_has(back, "name"), !b64);
	free(got);
	free(text);
	json_decref(back);
	json_decref(o);
	return b64;
}

static void test_ju_names(void **state)
{
	(void)state;
	/* valid UTF-8 travels as the plain string */
	assert_int_equal(name_round_trip("plain", 5), 0);
	assert_int_equal(name_round_trip("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", 10), 0);
	assert_int_equal(name_round_trip("with\nnewline\x01\x7f", 14), 0);
	assert_int_equal(name_round_trip("", 0), 0);
	/* anything else as base64 */
	const char *const bad[] = { "latin1-\xe9t\xe9", "\xff\xfe", "cont-\x80",
				    "truncated-\xe2\x82", "overlong-\xc0\xaf",
				    "surrogate-\xed\xa0\x80", "above-\xf4\x90\x80\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(name_round_trip(bad[i], strlen(bad[i])), 1);
	/* every byte value but NUL, in names of 1 to 255 bytes */
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	for (size_t len = 1; len <= 255; len++)
		name_round_trip(all + 255 - len, len);
	/* the known base64 of one name */
	json_t *o = json_object();
	assert_int_equal(ju_set_name(o, "target", "caf\xe9", 4), 0);
	assert_string_equal(json_string_value(json_object_get(o, "target_b64")), "Y2Fm6Q==");
	assert_null(json_object_get(o, "target"));
	/* setting again replaces the other form */
	assert_int_equal(ju_set_name(o, "target", "cafe", 4), 0);
	assert_null(json_object_get(o, "target_b64"));
	assert_string_equal(json_string_value(json_object_get(o, "target")), "cafe");
	/* a NUL inside, a key too long, not an object */
	assert_int_equal(ju_set_name(o, "target", "a\0b", 3), -EINVAL);
	char longkey[JU_NAME_KEY_MAX + 2];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(ju_set_name(o, longkey, "x", 1), -EINVAL);
	json_t *arr = json_array();
	assert_int_equal(ju_set_name(arr, "name", "x", 1), -EINVAL);
	json_decref(arr);
	json_decref(o);
}

static void test_ju_names_refused(void **state)
{
	(void)state;
	char *got = (char *)"untouched";
	size_t len = 77;
	json_t *o = parse("{\"both\": \"a\", \"both_b64\": \"YQ==\","
			  " \"num\": 4, \"num2_b64\": 4,"
			  " \"bad1_b64\": \"Y2Fm6Q=\", \"bad2_b64\": \"Y2F!6Q==\","
			  " \"bad3_b64\": \"YQ==YQ==\", \"bad4_b64\": \"YR==\", \"bad5_b64\": \"Y2Fm 6Q==\","
			  " \"bad6_b64\": \"Y===\", \"nul_b64\": \"YQBi\","
			  " \"long\": \"abcdef\", \"long_b64\": \"YWJjZGVm\","
			  " \"ok_b64\": \"YWJj\", \"nil\": null, \"nil_b64\": \"YQ==\", \"e_b64\": \"\"}");
	assert_int_equal(ju_name_get(o, "both", 100, &got, &len), -EINVAL);
	assert_int_equal(ju_name_get(o, "missing", 100, &got, &len), -EINVAL);
	assert_int_equal(ju_name_get(o, "num", 100, &got, &len), -EINVAL);
	assert_int_equal(ju_name_get(o, "num2", 100, &got, &len), -EINVAL);
	for (int i = 1; i <= 6; i++) {
		char key[8];
		snprintf(key, sizeof(key), "bad%d", i);
		assert_int_equal(ju_name_get(o, key, 100, &got, &len), -EINVAL);
	}
	assert_int_equal(ju_name_get(o, "nul", 100, &got, &len), -EINVAL);
	json_object_set_new(o, "nul", json_stringn("a\0b", 3));    /* the string form */
	json_object_del(o, "nul_b64");
	assert_int_equal(ju_name_get(o, "nul", 100, &got, &len), -EINVAL);
	/* "long" is both a string and a base64 member here: refused */
	assert_int_equal(ju_name_get(o, "long", 100, &got, &len), -EINVAL);
	assert_string_equal(got, "untouched");
	assert_int_equal(len, 77);
	/* over-long, each form alone */
	json_t *s = parse("{\"n\": \"abcdef\"}");
	json_t *b = parse("{\"n_b64\": \"YWJjZGVm\"}");
	assert_int_equal(ju_name_get(s, "n", 5, &got, &len), -E2BIG);
	assert_int_equal(ju_name_get(b, "n", 5, &got, &len), -E2BIG);
	assert_int_equal(ju_name_get(b, "n", 6, &got, &len), 0);
	assert_string_equal(got, "abcdef");
	assert_int_equal(len, 6);
	free(got);
	assert_int_equal(ju_name_get(s, "n", 6, &got, &len), 0);
	assert_string_equal(got, "abcdef");
	free(got);
	json_decref(s);
	json_decref(b);
	/* base64 of valid UTF-8 is fine too; null counts as absent */
	assert_int_equal(ju_name_get(o, "ok", 100, &got, &len), 0);
	assert_string_equal(got, "abc");
	free(got);
	assert_int_equal(ju_name_get(o, "nil", 100, &got, &len), 0);
	assert_string_equal(got, "a");
	free(got);
	assert_int_equal(ju_name_get(o, "e", 100, &got, &len), 0);
	assert_int_equal(len, 0);
	free(got);
	json_decref(o);
}

static void test_ju_base64(void **state)
{
	(void)state;
	unsigned char data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37);
	for (size_t len = 0; len <= 7; len++) {
		json_t *o = json_object();
		json_object_set_new(o, "v", ju_b64_new(data, len));
		unsigned char *back = NULL;
		size_t back_len = 999;
		assert_int_equal(ju_b64_get(o, "v", 1000, &back, &back_len), 0);
		assert_int_equal(back_len, len);
		if (len)
			assert_memory_equal(back, data, len);
		free(back);
		json_decref(o);
	}
	json_t *o = json_object();
	json_object_set_new(o, "v", ju_b64_new(data, sizeof(data)));
	unsigned char *back = NULL;
	size_t back_len = 0;
	assert_int_equal(ju_b64_get(o, "v", sizeof(data), &back, &back_len), 0);
	assert_int_equal(back_len, sizeof(data));
	assert_memory_equal(back, data, sizeof(data));
	free(back);
	back = NULL;
	assert_int_equal(ju_b64_get(o, "v", sizeof(data) - 1, &back, &back_len), -E2BIG);
	assert_null(back);
	json_decref(o);

	/* Known vector. */
	o = json_object();
	json_object_set_new(o, "v", ju_b64_new("foobar", 6));
	assert_string_equal(json_string_value(json_object_get(o, "v")), "Zm9vYmFy");
	json_decref(o);

	o = parse("{\"bad1\": \"Zm9v!mFy\", \"bad2\": \"Zm9vY\", \"n\": 4, \"ok\": \"Zm8=\"}");
	assert_int_equal(ju_b64_get(o, "bad1", 100, &back, &back_len), -EINVAL);
	assert_int_equal(ju_b64_get(o, "bad2", 100, &back, &back_len), -EINVAL);
	assert_int_equal(ju_b64_get(o, "n", 100, &back, &back_len), -EINVAL);
	assert_int_equal(ju_b64_get(o, "missing", 100, &back, &back_len), -EINVAL);
	assert_null(back);
	assert_int_equal(ju_b64_get(o, "ok", 100, &back, &back_len), 0);
	assert_int_equal(back_len, 2);
	assert_memory_equal(back, "fo", 2);
	free(back);
	json_decref(o);
}

/* ---- config ------------------------------------------------------------ */

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	char *path = malloc(512);
	assert_non_null(path);
	snprintf(path, 512, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Nesting beyond JU_MAX_DEPTH is refused before jansson parses; brackets
 * inside strings do not count. */
static void test_ju_parse_depth(void **state)
{
	(void)state;
	char buf[1024];
	size_t n = 0;
	n += (size_t)sprintf(buf + n, "{\"a\":");
	for (int i = 0; i < JU_MAX_DEPTH - 1; i++)
		buf[n++] = '[';
	for (int i = 0; i < JU_MAX_DEPTH - 1; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	json_t *o = ju_parse_object(buf, n);
	assert_non_null(o); /* exactly JU_MAX_DEPTH deep */
	json_decref(o);
	n = 0;
	n += (size_t)sprintf(buf + n, "{\"a\":");
	for (int i = 0; i < JU_MAX_DEPTH; i++)
		buf[n++] = '[';
	for (int i = 0; i < JU_MAX_DEPTH; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	assert_null(ju_parse_object(buf, n));
	const char *in_string = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
				"[[[[[[[[[[[[[[[[[[\\\"\"}";
	o = ju_parse_object(in_string, strlen(in_string));
	assert_non_null(o);
	json_decref(o);
}

/* A repeatable key collects every value, the file's before the flags'. */
static void test_config_repeatable(void **state)
{
	(void)state;
	char dir[] = "/tmp/bigfs-test-config.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *file = write_tmp(dir, "rep.cfg", "kafka-opt = a=file\nlisten = 1.1.1.1:1\n");
	struct config *cfg = config_new();
	config_set_repeatable(cfg, "kafka-opt");
	char *argv[] = {"prog", "--kafka-opt", "b=1", "--kafka_opt=c=2", NULL};
	assert_int_equal(config_parse_args(cfg, 4, argv, NULL, 0, NULL), 0);
	assert_int_equal(config_load_file(cfg, file), 0);
	const char *v[4];
	assert_int_equal(config_get_list(cfg, "kafka-opt", v, 4), 3);
	assert_string_equal(v[0], "a=file");
	assert_string_equal(v[1], "b=1");
	assert_string_equal(v[2], "c=2");
	assert_int_equal(config_get_list(cfg, "kafka-opt", v, 1), 3);
	assert_int_equal(config_get_list(cfg, "nothing", v, 4), 0);
	config_free(cfg);
	unlink(file);
	free(file);
	rmdir(dir);
}

static void test_config_args(void **state)
{
	(void)state;
	struct config *cfg = config_new();
	assert_non_null(cfg);
	char *argv[] = {"prog", "--data", "/d", "--listen=127.0.0.1:0", "--verbose",
			"--capacity", "4k", "pos1", "--flag", "pos2", NULL};
	int argc = 10;
	const char *pos[4] = {0};
	int npos = -1;
	assert_int_equal(config_parse_args(cfg, argc, argv, pos, 4, &npos), 0);
	assert_string_equal(config_get_str(cfg, "data", NULL), "/d");
	assert_string_equal(config_get_str(cfg, "listen", NULL), "127.0.0.1:0");
	assert_true(config_get_bool(cfg, "verbose", false));
	assert_false(config_get_bool(cfg, "absent", false));
	assert_string_equal(config_get_str(cfg, "absent", "dflt"), "dflt");
	int64_t v = 0;
	assert_int_equal(config_get_int(cfg, "capacity", 0, 0, INT64_MAX, &v), 0);
	assert_true(v == 4096);
	/* "--flag pos2": a bare flag only when the next word starts with "--"
	 * or is absent, so pos2 is flag's value. */
	assert_int_equal(npos, 1);
	assert_string_equal(pos[0], "pos1");
	assert_string_equal(config_get_str(cfg, "flag", NULL), "pos2");
	config_free(cfg);

	/* Too many positionals. */
	cfg = config_new();
	char *argv2[] = {"prog", "a", "b", "c", NULL};
	assert_int_equal(config_parse_args(cfg, 4, argv2, pos, 2, &npos), -EINVAL);
	config_free(cfg);

	/* -h */
	cfg = config_new();
	char *argv3[] = {"prog", "-h", NULL};
	assert_int_equal(config_parse_args(cfg, 2, argv3, pos, 2, &npos), 0);
	assert_true(config_get_bool(cfg, "help", false));
	config_free(cfg);
}

static void test_config_ints(void **state)
{
	(void)state;
	struct config *cfg = config_new();
	config_set(cfg, "a", "12");
	config_set(cfg, "k", "2k");
	config_set(cfg, "m", "3m");
	config_set(cfg, "g", "1g");
	config_set(cfg, "t", "1t");
	config_set(cfg, "bad", "12abc");
	config_set(cfg, "empty", "");
	config_set(cfg, "neg", "-5");
	config_set(cfg, "huge", "99999999999999999999999");
	config_set(cfg, "word", "lots");
	int64_t v = 0;
	assert_int_equal(config_get_int(cfg, "a", 0, 0, 100, &v), 0);
	assert_true(v == 12);
	assert_int_equal(config_get_int(cfg, "k", 0, 0, INT64_MAX, &v), 0);
	assert_true(v == 2048);
	assert_int_equal(config_get_int(cfg, "m", 0, 0, INT64_MAX, &v), 0);
	assert_true(v == 3LL << 20);
	assert_int_equal(config_get_int(cfg, "g", 0, 0, INT64_MAX, &v), 0);
	assert_true(v == 1LL << 30);
	assert_int_equal(config_get_int(cfg, "t", 0, 0, INT64_MAX, &v), 0);
	assert_true(v == 1LL << 40);
	assert_int_equal(config_get_int(cfg, "absent", 77, 0, 100, &v), 0);
	assert_true(v == 77);

	v = 555;
	assert_int_equal(config_get_int(cfg, "a", 0, 13, 100, &v), -EINVAL); /* below min */
	assert_int_equal(config_get_int(cfg, "a", 0, 0, 11, &v), -EINVAL);   /* above max */
	assert_int_equal(config_get_int(cfg, "bad", 0, 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(config_get_int(cfg, "empty", 0, 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(config_get_int(cfg, "neg", 0, 0, INT64_MAX, &v), -EINVAL);
	assert_int_equal(config_get_int(cfg, "huge", 0, INT64_MIN, INT64_MAX, &v), -EINVAL);
	assert_int_equal(config_get_int(cfg, "word", 0, 0, INT64_MAX, &v), -EINVAL);
	assert_true(v == 555);
	assert_int_equal(config_get_int(cfg, "neg", 0, -10, 10, &v), 0);
	assert_true(v == -5);

	config_set(cfg, "a", "13");
	assert_int_equal(config_get_int(cfg, "a", 0, 0, 100, &v), 0);
	assert_true(v == 13);
	config_free(cfg);
}

static void test_config_file_and_precedence(void **state)
{
	(void)state;
	char dir[] = "/tmp/bigfs-test-config.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *good = write_tmp(dir, "good.cfg",
			       "# comment\n"
			       "\n"
			       "data = /from/file\n"
			       "listen=1.2.3.4:5\n"
			       "  worker-timeout =  7  \n"
			       "log-level = debug # trailing is part of value or a comment\n");
	char *bad = write_tmp(dir, "bad.cfg", "data = /x\nthis line has no equals sign\n");

	/* Flags win over the file whatever the order. */
	struct config *cfg = config_new();
	char cfgflag[600];
	snprintf(cfgflag, sizeof(cfgflag), "--config=%s", good);
	char *argv[] = {"prog", "--listen", "9.9.9.9:1", cfgflag, NULL};
	const char *pos[1];
	int npos = 0;
	assert_int_equal(config_parse_args(cfg, 4, argv, pos, 1, &npos), 0);
	assert_int_equal(config_load_file(cfg, good), 0);
	assert_string_equal(config_get_str(cfg, "listen", NULL), "9.9.9.9:1");
	assert_string_equal(config_get_str(cfg, "data", NULL), "/from/file");
	int64_t v = 0;
	assert_int_equal(config_get_int(cfg, "worker-timeout", 0, 0, 1000, &v), 0);
	assert_true(v == 7);

	/* Unknown keys are counted. */
	const char *const known[] = {"listen", "data", "worker-timeout", "log-level", "config", NULL};
	assert_int_equal(config_check_known(cfg, known), 0);
	config_set(cfg, "lisen", "typo");
	assert_int_equal(config_check_known(cfg, known), 1);
	config_free(cfg);

	cfg = config_new();
	assert_true(config_load_file(cfg, bad) < 0);
	config_free(cfg);

	cfg = config_new();
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/missing.cfg", dir);
	assert_int_equal(config_load_file(cfg, missing), -ENOENT);
	config_free(cfg);

	unlink(good);
	unlink(bad);
	free(good);
	free(bad);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_map_round_trip),
		cmocka_unit_test(test_errors_unknown),
		cmocka_unit_test(test_crc32c_check_value),
		cmocka_unit_test(test_crc32c_chaining),
		cmocka_unit_test(test_chunk_id_round_trip),
		cmocka_unit_test(test_chunk_id_parse_accepts_upper),
		cmocka_unit_test(test_chunk_id_parse_rejects),
		cmocka_unit_test(test_worker_id),
		cmocka_unit_test(test_token_ok),
		cmocka_unit_test(test_token_matches_reference_hmac),
		cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_ju_parse_object),
		cmocka_unit_test(test_ju_integers),
		cmocka_unit_test(test_ju_strings),
		cmocka_unit_test(test_ju_optional),
		cmocka_unit_test(test_ju_base64),
		cmocka_unit_test(test_ju_names),
		cmocka_unit_test(test_ju_names_refused),
		cmocka_unit_test(test_config_args),
		cmocka_unit_test(test_config_ints),
		cmocka_unit_test(test_config_file_and_precedence),
		cmocka_unit_test(test_ju_parse_depth),
		cmocka_unit_test(test_config_repeatable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
