/* fuzz_token — data-access tokens as a worker checks them (common/token.c).
 *
 * Feeds: the input split as
 *   bytes 0..7   chunk id (little endian)       bytes 8..11 version
 *   byte  12     op: low 3 bits pick r/w/d/p/l, 5..7 take the op from the
 *                input (length = byte 13 & 0x7f, up to 127 bytes)
 *   bytes 13..17 expiry offset from now, position and value of one byte
 *                to change, a prefix choice
 *   rest         a token string
 * to token_check with a fixed secret: the fuzzed token (NUL-terminated at
 * its first NUL) for the fuzzed (id, version, op); then a token made by
 * token_make for the same call, unchanged, with one byte changed, and
 * with a prefix a lax number parser would skip ("0", " ", "+", "\t").
 * Asserts: a made token checks 0; a changed byte, a prefix, another op,
 * version or id, or an expiry in the past fail; a fuzzed token that
 * checks 0 is byte for byte the token token_make gives for its expiry (no
 * second spelling of a valid token). Stateless. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fuzz_util.h"
#include "token.h"

#define NOW ((time_t)1700000000)

static const char *const ops[] = { "r", "w", "d", "p", "l" };

static const struct secret *fixed_secret(void)
{
	static struct secret s;

	if (s.len == 0) {
		for (size_t i = 0; i < 32; i++)
			s.key[i] = (unsigned char)(i * 7 + 1);
		s.len = 32;
	}
	return &s;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct secret *s = fixed_secret();
	char op[128], fuzzed[TOKEN_MAX * 2], tok[TOKEN_MAX], bad[TOKEN_MAX + 2];

	if (size < 18)
		return 0;
	uint64_t id = le(data, 8);
	uint32_t version = (uint32_t)le(data + 8, 4);
	uint8_t opsel = data[12];
	size_t oplen = data[13] & 0x7f;
	time_t expiry = NOW + (time_t)data[14] * 3600 - 3600;   /* may be past */
	size_t pos = data[15];
	uint8_t val = data[16];
	uint8_t prefix = data[17];
	data += 18;
	size -= 18;

	bool own_op = (opsel & 7) >= 5;
	if (own_op) {
		if (oplen > size)
			oplen = size;
		memcpy(op, data, oplen);
		op[oplen] = '\0';
		data += oplen;
		size -= oplen;
	} else {
		strcpy(op, ops[opsel & 7]);
	}

	/* 1. the fuzzed token string */
	size_t n = size < sizeof(fuzzed) - 1 ? size : sizeof(fuzzed) - 1;
	memcpy(fuzzed, data, n);
	fuzzed[n] = '\0';
	int r = token_check(s, id, version, op, fuzzed, NOW);
	FUZZ_CHECK(r == 0 || r == -EACCES);
	if (r == 0) {
		char canon[TOKEN_MAX];

		token_make(s, id, version, op, (time_t)strtoll(fuzzed, NULL, 10), canon);
		FUZZ_CHECK(strcmp(canon, fuzzed) == 0);
	}

	/* token_make's ops are the short fixed ones; an op of the input is
	 * only ever checked */
	if (own_op && (oplen == 0 || oplen > 8))
		return 0;

	/* 2. a made token: valid unless expired, and only for its own call */
	token_make(s, id, version, op, expiry, tok);
	FUZZ_CHECK(strlen(tok) < TOKEN_MAX);
	r = token_check(s, id, version, op, tok, NOW);
	FUZZ_CHECK(expiry < NOW ? r == -EACCES : r == 0);
	if (r != 0)
		return 0;
	FUZZ_CHECK(token_check(s, id, version, op, tok, expiry + 1) == -EACCES);
	FUZZ_CHECK(token_check(s, id ^ 1, version, op, tok, NOW) == -EACCES);
	FUZZ_CHECK(token_check(s, id, version + 1, op, tok, NOW) == -EACCES);
	FUZZ_CHECK(token_check(s, id, version, strcmp(op, "r") ? "r" : "w", tok, NOW) ==
		   -EACCES);

	/* 3. any single-byte change fails */
	size_t tlen = strlen(tok);
	pos %= tlen;
	if ((uint8_t)tok[pos] != val) {
		memcpy(bad, tok, tlen + 1);
		bad[pos] = (char)val;
		FUZZ_CHECK(token_check(s, id, version, op, bad, NOW) == -EACCES);
	}

	/* 4. so does a prefix that leaves the number's value alone */
	static const char prefixes[] = { '0', ' ', '+', '\t' };
	bad[0] = prefixes[prefix & 3];
	memcpy(bad + 1, tok, tlen + 1);
	FUZZ_CHECK(token_check(s, id, version, op, bad, NOW) == -EACCES);
	return 0;
}
