/* Unit tests of master/metalog_record: the records of the metadata log
 * and the rule that decides which of them count.
 *
 * Encoding: CLAIM, TXNS (several changesets, an empty one, a 100 KB one),
 * BEAT and LEAVE records decode to every field they were made of, the
 * changesets in order; the bytes are the wire form the header documents.
 * Decoding refuses (-EBADMSG, never a crash) a record signed with another
 * key, every single flipped bit of a small record, every truncation,
 * trailing bytes, a wrong magic or kind, an id of 64+ bytes or a url of
 * 256+, an id with a NUL, ntxn claiming more changesets than present or a
 * changeset longer than the record, and a non-TXNS record that carries
 * changesets. The malformed records are signed with the right key, so
 * they reach the parser instead of stopping at the MAC.
 *
 * Judging: scripted sequences against the expected verdict of each step
 * (first claim, stale claims, claims that missed a change, TXNS on top
 * and not, records of a replaced leader, beats, a clean leave, a race of
 * two claimers with one epoch), then a few thousand random records of
 * three masters replayed twice and through a model written here from the
 * header's rule: the replays agree with each other and with the model,
 * and seq, epoch never go back.
 *
 * The state as JSON: round trip, and refusal of missing members, wrong
 * types, negative numbers, over-long strings, and of a chain that is not
 * exactly 16 hex digits (test_json_chain_digits: a sign, leading blanks
 * or a 0x prefix, which strtoull() takes, must be refused too); the
 * output is left untouched on failure. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../master/metalog_record.h"
#include "auth.h"

static const char key[] = "the cluster secret of the tests!";       /* 32 bytes */
static const char other_key[] = "the cluster secret of the tests?";
#define KEY key, sizeof(key) - 1

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd64(void)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	uint64_t hi = rnd_state >> 32;
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return hi << 32 | rnd_state >> 32;
}

static unsigned rnd(unsigned n)
{
	return (unsigned)(rnd64() % n);
}

/* ---- helpers ------------------------------------------------------------ */

struct cs {
	const void *p;
	size_t n;
};

static struct ml_record mkrec(uint8_t kind, uint64_t epoch, uint64_t seq, uint64_t chain,
			      const char *id, const char *url)
{
	struct ml_record r = { .kind = kind, .epoch = epoch, .seq = seq, .chain = chain,
			       .time_ms = 1700000000123 };
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.url, sizeof(r.url), "%s", url);
	return r;
}

/* Encode r with its changesets into b (signed with k). */
static void encode(struct ml_buf *b, const struct ml_record *r, const struct cs *cs, size_t ncs,
		   const void *k, size_t klen)
{
	assert_int_equal(ml_encode_begin(b, r), 0);
	for (size_t i = 0; i < ncs; i++)
		assert_int_equal(ml_encode_txn(b, cs[i].p, cs[i].n), 0);
	assert_int_equal(ml_encode_end(b, k, klen), 0);
}

/* A hand-made record body, for malformed forms ml_encode cannot make. */
struct raw {
	unsigned char p[4096];
	size_t len;
};

static void raw_put(struct raw *w, const void *p, size_t n)
{
	assert_true(w->len + n <= sizeof(w->p));
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void raw_u(struct raw *w, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		unsigned char c = (unsigned char)(v >> (8 * i));
		raw_put(w, &c, 1);
	}
}

/* Header as the wire form says; id and url of any length (and bytes). */
static void raw_header(struct raw *w, const char *magic, uint64_t kind, uint64_t epoch,
		       uint64_t seq, uint64_t chain, int64_t time_ms, const void *id,
		       size_t idlen, const void *url, size_t urllen, uint32_t ntxn)
{
	w->len = 0;
	raw_put(w, magic, 4);
	raw_u(w, kind, 1);
	raw_u(w, epoch, 8);
	raw_u(w, seq, 8);
	raw_u(w, chain, 8);
	raw_u(w, (uint64_t)time_ms, 8);
	raw_u(w, idlen, 2);
	raw_put(w, id, idlen);
	raw_u(w, urllen, 2);
	raw_put(w, url, urllen);
	raw_u(w, ntxn, 4);
}

static void raw_txn(struct raw *w, uint32_t len, const void *p, size_t have)
{
	raw_u(w, len, 4);
	raw_put(w, p, have);
}

/* Append the MAC of w's body with k. */
static void raw_sign(struct raw *w, const void *k, size_t klen)
{
	unsigned char mac[AUTH_KEY_LEN];
	assert_int_equal(auth_hmac_sha256(k, klen, w->p, w->len, mac), 0);
	raw_put(w, mac, sizeof(mac));
}

static int raw_decode(const struct raw *w)
{
	struct ml_record r;
	return ml_decode(w->p, w->len, KEY, &r);
}

/* The body of a good small BEAT record, unsigned. */
static void raw_good_beat(struct raw *w)
{
	raw_header(w, "BML1", ML_BEAT, 7, 9, 11, 13, "m1", 2, "u", 1, 0);
}

static void expect_same_record(const struct ml_record *got, const struct ml_record *want)
{
	assert_int_equal(got->kind, want->kind);
	assert_true(got->epoch == want->epoch);
	assert_true(got->seq == want->seq);
	assert_true(got->chain == want->chain);
	assert_true(got->time_ms == want->time_ms);
	assert_string_equal(got->id, want->id);
	assert_string_equal(got->url, want->url);
}

/* ---- encoding and decoding ------------------------------------------- */

/* CLAIM, BEAT and LEAVE: every field back, no changesets. */
static void test_roundtrip_plain_kinds(void **state)
{
	(void)state;
	static const uint8_t kinds[] = { ML_CLAIM, ML_BEAT, ML_LEAVE };
	char longid[ML_ID_MAX + 1], longurl[ML_URL_MAX + 1];
	memset(longid, 'i', ML_ID_MAX);
	longid[ML_ID_MAX] = '\0';
	memset(longurl, 'u', ML_URL_MAX);
	longurl[ML_URL_MAX] = '\0';

	for (size_t k = 0; k < sizeof(kinds); k++) {
		for (int variant = 0; variant < 3; variant++) {
			struct ml_record w;
			if (variant == 0)
				w = mkrec(kinds[k], 3, 42, 0x0123456789abcdefULL, "master-a",
					  "https://10.0.0.1:9420");
			else if (variant == 1)
				w = mkrec(kinds[k], UINT64_MAX, UINT64_MAX, UINT64_MAX, longid,
					  longurl);
			else
				w = mkrec(kinds[k], 0, 0, 0, "", "");
			if (variant == 1)
				w.time_ms = INT64_MIN;
			if (variant == 2)
				w.time_ms = -1;
			struct ml_buf b = { 0 };
			struct ml_record r;
			encode(&b, &w, NULL, 0, KEY);
			assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
			expect_same_record(&r, &w);
			assert_int_equal(r.ntxn, 0);
			size_t pos = 0, n;
			const void *cs;
			assert_int_equal(ml_txn_next(&r, &pos, &cs, &n), 0);
			ml_buf_free(&b);
			assert_null(b.p);
		}
	}
}

/* TXNS with a small, an empty, a 100 KB, another small and a last empty
 * changeset: all back, in order, byte for byte. */
static void test_roundtrip_txns(void **state)
{
	(void)state;
	size_t big_n = 100 * 1024;
	unsigned char *big = malloc(big_n);
	assert_non_null(big);
	for (size_t i = 0; i < big_n; i++)
		big[i] = (unsigned char)rnd(256);
	const struct cs cs[] = {
		{ "first change", 12 }, { "", 0 }, { big, big_n }, { "\0\1\2\3", 4 }, { NULL, 0 },
	};
	size_t ncs = sizeof(cs) / sizeof(cs[0]);
	struct ml_record w = mkrec(ML_TXNS, 5, 1000, 0xfeedfacecafebeefULL, "m2", "http://m2:1");
	struct ml_buf b = { 0 };
	struct ml_record r;

	encode(&b, &w, cs, ncs, KEY);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
	expect_same_record(&r, &w);
	assert_int_equal(r.ntxn, ncs);
	size_t pos = 0, n, i = 0;
	const void *p;
	while (ml_txn_next(&r, &pos, &p, &n) == 1) {
		assert_true(i < ncs);
		assert_int_equal(n, cs[i].n);
		if (n)
			assert_memory_equal(p, cs[i].p, n);
		/* every changeset lies inside the decoded buffer */
		assert_true((const unsigned char *)p >= b.p &&
			    (const unsigned char *)p + n <= b.p + b.len);
		i++;
	}
	assert_int_equal(i, ncs);
	/* at the end it stays at the end */
	assert_int_equal(ml_txn_next(&r, &pos, &p, &n), 0);

	/* the buffer is reused: a BEAT after it carries no changeset */
	struct ml_record beat = mkrec(ML_BEAT, 5, 1005, 1, "m2", "http://m2:1");
	encode(&b, &beat, NULL, 0, KEY);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
	expect_same_record(&r, &beat);
	assert_int_equal(r.ntxn, 0);
	assert_int_equal(r.txns_len, 0);

	/* a TXNS record with no changeset at all is well-formed too */
	struct ml_record none = mkrec(ML_TXNS, 5, 1005, 1, "m2", "");
	encode(&b, &none, NULL, 0, KEY);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
	assert_int_equal(r.ntxn, 0);
	ml_buf_free(&b);
	free(big);
}

/* The bytes are the documented wire form: a record built by hand from
 * the header's description is what ml_encode makes. */
static void test_wire_form(void **state)
{
	(void)state;
	struct ml_record w = mkrec(ML_TXNS, 0x0102030405060708ULL, 0x1112131415161718ULL,
				   0x2122232425262728ULL, "id-x", "url-y");
	w.time_ms = -2;
	const struct cs cs[] = { { "abc", 3 }, { "", 0 }, { "defgh", 5 } };
	struct ml_buf b = { 0 };
	struct raw raw;

	encode(&b, &w, cs, 3, KEY);
	raw_header(&raw, "BML1", ML_TXNS, w.epoch, w.seq, w.chain, w.time_ms, "id-x", 4, "url-y",
		   5, 3);
	raw_txn(&raw, 3, "abc", 3);
	raw_txn(&raw, 0, "", 0);
	raw_txn(&raw, 5, "defgh", 5);
	raw_sign(&raw, KEY);
	assert_int_equal(b.len, raw.len);
	assert_memory_equal(b.p, raw.p, raw.len);
	ml_buf_free(&b);
}

/* Another cluster's secret, or none: refused. */
static void test_wrong_key(void **state)
{
	(void)state;
	struct ml_record w = mkrec(ML_CLAIM, 1, 0, 0, "m1", "u");
	struct ml_buf b = { 0 };
	struct ml_record r;

	encode(&b, &w, NULL, 0, other_key, sizeof(other_key) - 1);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), -EBADMSG);
	assert_int_equal(ml_decode(b.p, b.len, other_key, sizeof(other_key) - 1, &r), 0);
	/* a key that is a prefix of the right one */
	assert_int_equal(ml_decode(b.p, b.len, other_key, 16, &r), -EBADMSG);
	encode(&b, &w, NULL, 0, KEY);
	assert_int_equal(ml_decode(b.p, b.len, "", 0, &r), -EBADMSG);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
	ml_buf_free(&b);
}

/* Every single bit of a small record flipped, one at a time: refused. */
static void flip_every_bit(struct ml_buf *b)
{
	struct ml_record r;
	assert_int_equal(ml_decode(b->p, b->len, KEY, &r), 0);
	for (size_t i = 0; i < b->len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b->p[i] ^= (unsigned char)(1u << bit);
			int rc = ml_decode(b->p, b->len, KEY, &r);
			if (rc != -EBADMSG)
				fail_msg("bit %d of byte %zu flipped: %d", bit, i, rc);
			b->p[i] ^= (unsigned char)(1u << bit);
		}
		/* and the whole byte */
		b->p[i] ^= 0xff;
		assert_int_equal(ml_decode(b->p, b->len, KEY, &r), -EBADMSG);
		b->p[i] ^= 0xff;
	}
	assert_int_equal(ml_decode(b->p, b->len, KEY, &r), 0);
}

static void test_flipped_bits(void **state)
{
	(void)state;
	struct ml_buf b = { 0 };
	struct ml_record w = mkrec(ML_BEAT, 2, 3, 4, "m1", "u");
	encode(&b, &w, NULL, 0, KEY);
	flip_every_bit(&b);
	const struct cs cs[] = { { "ab", 2 }, { "", 0 }, { "c", 1 } };
	w = mkrec(ML_TXNS, 2, 3, 4, "m1", "u");
	encode(&b, &w, cs, 3, KEY);
	flip_every_bit(&b);
	ml_buf_free(&b);
}

/* Every prefix of a record, as sent (MAC cut) and re-signed (so the
 * parser sees a body that ends early): refused. */
static void test_truncated(void **state)
{
	(void)state;
	struct ml_buf b = { 0 };
	struct ml_record r;
	const struct cs cs[] = { { "abcdef", 6 }, { "", 0 }, { "gh", 2 } };
	struct ml_record w = mkrec(ML_TXNS, 2, 3, 4, "m1", "http://x");
	encode(&b, &w, cs, 3, KEY);

	assert_int_equal(ml_decode(NULL, 0, KEY, &r), -EBADMSG);
	for (size_t len = 0; len < b.len; len++) {
		unsigned char *copy = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
		assert_non_null(copy);
		memcpy(copy, b.p, len);
		assert_int_equal(ml_decode(copy, len, KEY, &r), -EBADMSG);
		free(copy);
	}
	size_t body = b.len - AUTH_KEY_LEN;
	for (size_t len = 0; len < body; len++) {
		struct raw raw = { .len = 0 };
		raw_put(&raw, b.p, len);
		raw_sign(&raw, KEY);
		int rc = raw_decode(&raw);
		if (rc != -EBADMSG)
			fail_msg("body cut to %zu of %zu bytes and signed: %d", len, body, rc);
	}
	ml_buf_free(&b);
}

/* Bytes after the MAC, or after the last field and signed: refused. */
static void test_trailing_garbage(void **state)
{
	(void)state;
	struct ml_buf b = { 0 };
	struct ml_record r;
	const struct cs cs[] = { { "abc", 3 } };
	for (int kind = ML_CLAIM; kind <= ML_LEAVE; kind++) {
		struct ml_record w = mkrec((uint8_t)kind, 2, 3, 4, "m1", "u");
		encode(&b, &w, kind == ML_TXNS ? cs : NULL, kind == ML_TXNS ? 1 : 0, KEY);
		for (size_t extra = 1; extra <= 40; extra++) {
			unsigned char *p = malloc(b.len + extra);
			assert_non_null(p);
			memcpy(p, b.p, b.len);
			memset(p + b.len, (int)extra, extra);
			assert_int_equal(ml_decode(p, b.len + extra, KEY, &r), -EBADMSG);
			free(p);

			struct raw raw = { .len = 0 };
			raw_put(&raw, b.p, b.len - AUTH_KEY_LEN);
			for (size_t i = 0; i < extra; i++)
				raw_put(&raw, "\0", 1);
			raw_sign(&raw, KEY);
			assert_int_equal(raw_decode(&raw), -EBADMSG);
		}
	}
	ml_buf_free(&b);
}

/* A wrong magic (signed), a kind outside 1..4 (signed): refused. */
static void test_wrong_magic_and_kind(void **state)
{
	(void)state;
	static const char *const magics[] = { "BML0", "BML2", "bml1", "XML1", "\0\0\0\0", "1LMB" };
	struct raw w;

	raw_good_beat(&w);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), 0);
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		raw_header(&w, magics[i], ML_BEAT, 7, 9, 11, 13, "m1", 2, "u", 1, 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
	static const unsigned kinds[] = { 0, 5, 6, 127, 128, 255 };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		raw_header(&w, "BML1", kinds[i], 7, 9, 11, 13, "m1", 2, "u", 1, 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
}

/* id: 63 bytes fine, 64 and more refused, a NUL inside refused, a length
 * beyond the record refused; url the same at 255/256. All signed. */
static void test_id_and_url_limits(void **state)
{
	(void)state;
	char s[70000];
	struct raw w;
	struct ml_record r;
	memset(s, 'x', sizeof(s));

	raw_header(&w, "BML1", ML_CLAIM, 1, 0, 0, 0, s, ML_ID_MAX, s, ML_URL_MAX, 0);
	raw_sign(&w, KEY);
	assert_int_equal(ml_decode(w.p, w.len, KEY, &r), 0);
	assert_int_equal(strlen(r.id), ML_ID_MAX);
	assert_int_equal(strlen(r.url), ML_URL_MAX);

	static const size_t idlens[] = { ML_ID_MAX + 1, ML_ID_MAX + 2, 100, 1000 };
	for (size_t i = 0; i < sizeof(idlens) / sizeof(idlens[0]); i++) {
		raw_header(&w, "BML1", ML_CLAIM, 1, 0, 0, 0, s, idlens[i], "u", 1, 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
	static const size_t urllens[] = { ML_URL_MAX + 1, 1000, 4000 };
	for (size_t i = 0; i < sizeof(urllens) / sizeof(urllens[0]); i++) {
		raw_header(&w, "BML1", ML_CLAIM, 1, 0, 0, 0, "m", 1, s, urllens[i], 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
	/* a NUL inside the id or the url */
	raw_header(&w, "BML1", ML_CLAIM, 1, 0, 0, 0, "m\0x", 3, "u", 1, 0);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);
	raw_header(&w, "BML1", ML_CLAIM, 1, 0, 0, 0, "m", 1, "u\0", 2, 0);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);
	/* an id length that runs past the end of the record */
	w.len = 0;
	raw_put(&w, "BML1", 4);
	raw_u(&w, ML_CLAIM, 1);
	raw_u(&w, 1, 8);
	raw_u(&w, 0, 8);
	raw_u(&w, 0, 8);
	raw_u(&w, 0, 8);
	raw_u(&w, 50, 2);
	raw_put(&w, "short", 5);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);
	w.len = 0;
	raw_put(&w, "BML1", 4);
	raw_u(&w, ML_CLAIM, 1);
	for (int i = 0; i < 4; i++)
		raw_u(&w, 0, 8);
	raw_u(&w, 0xffff, 2);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);
}

/* ntxn or a changeset length that promises more than is there; a record
 * of another kind that carries changesets. All signed. */
static void test_changeset_counts(void **state)
{
	(void)state;
	struct raw w;

	/* the good form first */
	raw_header(&w, "BML1", ML_TXNS, 1, 0, 0, 0, "m", 1, "u", 1, 2);
	raw_txn(&w, 2, "ab", 2);
	raw_txn(&w, 0, "", 0);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), 0);

	static const uint32_t counts[] = { 3, 4, 100, 0x10000, UINT32_MAX };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		raw_header(&w, "BML1", ML_TXNS, 1, 0, 0, 0, "m", 1, "u", 1, counts[i]);
		raw_txn(&w, 2, "ab", 2);
		raw_txn(&w, 0, "", 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
	/* fewer announced than present: the rest is trailing bytes */
	raw_header(&w, "BML1", ML_TXNS, 1, 0, 0, 0, "m", 1, "u", 1, 1);
	raw_txn(&w, 2, "ab", 2);
	raw_txn(&w, 0, "", 0);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);
	/* a changeset longer than the record */
	static const uint32_t lens[] = { 3, 33, 1000, 0x7fffffff, UINT32_MAX };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		raw_header(&w, "BML1", ML_TXNS, 1, 0, 0, 0, "m", 1, "u", 1, 1);
		raw_txn(&w, lens[i], "ab", 2);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
	}
	/* a length field cut short */
	raw_header(&w, "BML1", ML_TXNS, 1, 0, 0, 0, "m", 1, "u", 1, 1);
	raw_put(&w, "\1\0", 2);
	raw_sign(&w, KEY);
	assert_int_equal(raw_decode(&w), -EBADMSG);

	/* CLAIM, BEAT, LEAVE with changesets: by hand and through ml_encode */
	for (int kind = ML_CLAIM; kind <= ML_LEAVE; kind++) {
		if (kind == ML_TXNS)
			continue;
		raw_header(&w, "BML1", (uint64_t)kind, 1, 0, 0, 0, "m", 1, "u", 1, 1);
		raw_txn(&w, 2, "ab", 2);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);
		/* ntxn 1 with an empty changeset */
		raw_header(&w, "BML1", (uint64_t)kind, 1, 0, 0, 0, "m", 1, "u", 1, 1);
		raw_txn(&w, 0, "", 0);
		raw_sign(&w, KEY);
		assert_int_equal(raw_decode(&w), -EBADMSG);

		struct ml_buf b = { 0 };
		struct ml_record r, rec = mkrec((uint8_t)kind, 1, 0, 0, "m", "u");
		const struct cs cs[] = { { "x", 1 } };
		encode(&b, &rec, cs, 1, KEY);
		assert_int_equal(ml_decode(b.p, b.len, KEY, &r), -EBADMSG);
		ml_buf_free(&b);
	}
}

/* Random bytes and random mutations of good records, signed with the
 * right key so that they reach the parser: refused or accepted, never
 * harmful; what is accepted has walkable changesets. (Under ASan.) */
static void test_random_records(void **state)
{
	(void)state;
	int accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		struct raw w = { .len = 0 };
		if (iter % 2 == 0) {
			unsigned n = rnd(200);
			for (unsigned i = 0; i < n; i++)
				raw_u(&w, rnd(256), 1);
			if (n >= 4 && rnd(2))
				memcpy(w.p, "BML1", 4);
		} else {
			unsigned ntxn = rnd(4);
			raw_header(&w, "BML1", 1 + rnd(4), rnd64(), rnd64(), rnd64(), (int64_t)rnd64(),
				   "abc", rnd(4), "http://x", rnd(9), ntxn);
			for (unsigned t = 0; t < ntxn; t++) {
				unsigned n = rnd(8);
				raw_txn(&w, n, "01234567", n);
			}
			unsigned muts = rnd(4);
			for (unsigned m = 0; m < muts && w.len; m++)
				w.p[rnd((unsigned)w.len)] = (unsigned char)rnd(256);
			if (rnd(4) == 0)
				w.len -= rnd((unsigned)w.len);
		}
		raw_sign(&w, KEY);
		unsigned char *p = malloc(w.len);
		assert_non_null(p);
		memcpy(p, w.p, w.len);
		struct ml_record r;
		int rc = ml_decode(p, w.len, KEY, &r);
		if (rc == 0) {
			accepted++;
			assert_true(r.kind >= ML_CLAIM && r.kind <= ML_LEAVE);
			assert_true(r.kind == ML_TXNS || r.ntxn == 0);
			assert_true(strlen(r.id) <= ML_ID_MAX && strlen(r.url) <= ML_URL_MAX);
			size_t pos = 0, n, total = 0;
			uint32_t count = 0;
			const void *cs;
			while (ml_txn_next(&r, &pos, &cs, &n) == 1) {
				count++;
				total += n;
				assert_true((const unsigned char *)cs + n <= p + w.len);
			}
			assert_int_equal(count, r.ntxn);
			assert_true(total <= r.txns_len);
		} else {
			assert_int_equal(rc, -EBADMSG);
		}
		free(p);
	}
	print_message("%d of 20000 random records accepted\n", accepted);
	assert_true(accepted > 0);
}

/* ---- ml_chain_next -------------------------------------------------------- */

static void test_chain_next(void **state)
{
	(void)state;
	uint64_t c = ml_chain_next(0, 1, "abc", 3);
	assert_true(c == ml_chain_next(0, 1, "abc", 3));     /* a function */
	assert_true(c != ml_chain_next(1, 1, "abc", 3));     /* of the chain */
	assert_true(c != ml_chain_next(0, 2, "abc", 3));     /* of seq */
	assert_true(c != ml_chain_next(0, 1, "abd", 3));     /* of the change */
	assert_true(c != ml_chain_next(0, 1, "ab", 2));
	assert_true(ml_chain_next(0, 1, "", 0) != ml_chain_next(0, 2, "", 0));
	assert_true(ml_chain_next(0, 1, NULL, 0) == ml_chain_next(0, 1, "", 0));
	/* order matters */
	uint64_t ab = ml_chain_next(ml_chain_next(0, 1, "a", 1), 2, "b", 1);
	uint64_t ba = ml_chain_next(ml_chain_next(0, 1, "b", 1), 2, "a", 1);
	assert_true(ab != ba);
}

/* ---- judging: scripted ------------------------------------------------ */

struct judge_run {
	struct ml_state s;
	int64_t offset;
};

static uint64_t fold(uint64_t seq, uint64_t chain, const struct cs *cs, size_t ncs)
{
	for (size_t i = 0; i < ncs; i++)
		chain = ml_chain_next(chain, seq + 1 + i, cs[i].p, cs[i].n);
	return chain;
}

/* Encode w, decode it, check the verdict, advance, and check the state
 * moved exactly as the verdict says. */
static void feed(struct judge_run *j, const struct ml_record *w, const struct cs *cs, size_t ncs,
		 enum ml_verdict want)
{
	struct ml_buf b = { 0 };
	struct ml_record r;
	encode(&b, w, cs, ncs, KEY);
	assert_int_equal(ml_decode(b.p, b.len, KEY, &r), 0);
	struct ml_state before = j->s;
	enum ml_verdict v = ml_judge(&j->s, &r);
	if (v != want)
		fail_msg("record kind %d epoch %" PRIu64 " base %" PRIu64 "/%016" PRIx64
			 " by %s on state epoch %" PRIu64 " seq %" PRIu64 " left %d: verdict %d, "
			 "want %d", w->kind, w->epoch, w->seq, w->chain, w->id, before.epoch,
			 before.seq, before.left, v, want);
	j->offset++;
	ml_advance(&j->s, &r, j->offset);
	assert_true(j->s.offset == j->offset);

	struct ml_state exp = before;
	exp.offset = j->offset;
	switch (want) {
	case ML_NEW_LEADER:
		exp.epoch = w->epoch;
		exp.left = false;
		memset(exp.leader, 0, sizeof(exp.leader));
		memset(exp.url, 0, sizeof(exp.url));
		snprintf(exp.leader, sizeof(exp.leader), "%s", w->id);
		snprintf(exp.url, sizeof(exp.url), "%s", w->url);
		break;
	case ML_APPLY:
		exp.chain = fold(before.seq, before.chain, cs, ncs);
		exp.seq = before.seq + ncs;
		break;
	case ML_LEFT:
		exp.left = true;
		break;
	default:
		break;
	}
	assert_true(j->s.epoch == exp.epoch);
	assert_true(j->s.seq == exp.seq);
	assert_true(j->s.chain == exp.chain);
	assert_int_equal(j->s.left, exp.left);
	assert_string_equal(j->s.leader, exp.leader);
	assert_string_equal(j->s.url, exp.url);
	ml_buf_free(&b);
}

static void judge_init(struct judge_run *j)
{
	ml_state_init(&j->s);
	j->offset = 99;
	assert_true(j->s.epoch == 0 && j->s.seq == 0 && j->s.chain == 0 && !j->s.left);
	assert_true(j->s.offset == -1);
	assert_string_equal(j->s.leader, "");
}

static void test_judge_script(void **state)
{
	(void)state;
	struct judge_run j;
	struct ml_record w;
	const struct cs three[] = { { "a", 1 }, { "", 0 }, { "ccc", 3 } };
	const struct cs one[] = { { "d", 1 } };
	judge_init(&j);

	/* nobody leads: beats, changes and leaves count for nothing */
	w = mkrec(ML_BEAT, 0, 0, 0, "m1", "u1");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_TXNS, 0, 0, 0, "m1", "u1");
	feed(&j, &w, three, 3, ML_IGNORED);
	w = mkrec(ML_LEAVE, 0, 0, 0, "m1", "u1");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_TXNS, 1, 0, 0, "m1", "u1");   /* an epoch nobody claimed */
	feed(&j, &w, three, 3, ML_IGNORED);
	w = mkrec(ML_CLAIM, 0, 0, 0, "m1", "u1");  /* not above 0 */
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 1, 1, 0, "m1", "u1");  /* a base that never was */
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 1, 0, 5, "m1", "u1");
	feed(&j, &w, NULL, 0, ML_IGNORED);

	/* the first claim: epoch 1 on (0, 0) */
	w = mkrec(ML_CLAIM, 1, 0, 0, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_NEW_LEADER);
	/* a claim not above the current epoch, on top: ignored */
	w = mkrec(ML_CLAIM, 1, 0, 0, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 0, 0, 0, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	assert_string_equal(j.s.leader, "m1");

	/* the leader's changes on top: seq +3, chain over all three */
	w = mkrec(ML_TXNS, 1, 0, 0, "m1", "http://m1");
	feed(&j, &w, three, 3, ML_APPLY);
	assert_true(j.s.seq == 3);
	uint64_t c3 = j.s.chain;
	assert_true(c3 == ml_chain_next(ml_chain_next(ml_chain_next(0, 1, "a", 1), 2, "", 0), 3,
					"ccc", 3));
	/* the same record again (a duplicate), and bases not on top */
	w = mkrec(ML_TXNS, 1, 0, 0, "m1", "http://m1");
	feed(&j, &w, three, 3, ML_IGNORED);
	w = mkrec(ML_TXNS, 1, 2, c3, "m1", "http://m1");
	feed(&j, &w, one, 1, ML_IGNORED);
	w = mkrec(ML_TXNS, 1, 3, c3 ^ 1, "m1", "http://m1");
	feed(&j, &w, one, 1, ML_IGNORED);
	w = mkrec(ML_TXNS, 1, 4, c3, "m1", "http://m1");
	feed(&j, &w, one, 1, ML_IGNORED);
	/* on top but of an epoch nobody won */
	w = mkrec(ML_TXNS, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, one, 1, ML_IGNORED);
	/* a TXNS with no changeset on top: applies, changes nothing */
	w = mkrec(ML_TXNS, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_APPLY);
	assert_true(j.s.seq == 3 && j.s.chain == c3);
	/* beats of the leader count, whatever their base */
	w = mkrec(ML_BEAT, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_ALIVE);
	w = mkrec(ML_BEAT, 1, 0, 0, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_ALIVE);
	w = mkrec(ML_BEAT, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);

	/* claims that missed a change: ignored */
	w = mkrec(ML_CLAIM, 2, 0, 0, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 2, 3, c3 ^ 0x100, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 2, 2, c3, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	/* m2 takes over on top */
	w = mkrec(ML_CLAIM, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_NEW_LEADER);
	assert_string_equal(j.s.url, "http://m2");

	/* m1 was paused and resumes: its records, on top or not, count for
	 * nothing */
	w = mkrec(ML_TXNS, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, one, 1, ML_IGNORED);
	w = mkrec(ML_BEAT, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_LEAVE, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 1, 3, c3, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	assert_false(j.s.left);

	w = mkrec(ML_BEAT, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_ALIVE);
	w = mkrec(ML_TXNS, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, one, 1, ML_APPLY);
	uint64_t c4 = j.s.chain;
	assert_true(j.s.seq == 4 && c4 == ml_chain_next(c3, 4, "d", 1));

	/* a leave not on top is ignored; on top it counts */
	w = mkrec(ML_LEAVE, 2, 3, c3, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_LEAVE, 2, 4, c4, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_LEFT);
	assert_true(j.s.left);
	assert_string_equal(j.s.leader, "m2");   /* still who led last */
	/* after it, the leaver's records count for nothing */
	w = mkrec(ML_TXNS, 2, 4, c4, "m2", "http://m2");
	feed(&j, &w, one, 1, ML_IGNORED);
	w = mkrec(ML_BEAT, 2, 4, c4, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_LEAVE, 2, 4, c4, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	/* nor does a claim of the same epoch, or one not on top */
	w = mkrec(ML_CLAIM, 2, 4, c4, "m3", "http://m3");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_CLAIM, 3, 3, c3, "m3", "http://m3");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	/* a higher claim on top does */
	w = mkrec(ML_CLAIM, 3, 4, c4, "m3", "http://m3");
	feed(&j, &w, NULL, 0, ML_NEW_LEADER);
	assert_false(j.s.left);
	w = mkrec(ML_BEAT, 3, 4, c4, "m3", "http://m3");
	feed(&j, &w, NULL, 0, ML_ALIVE);

	/* two claimers race with the same epoch: the first counts */
	w = mkrec(ML_CLAIM, 4, 4, c4, "m1", "http://m1");
	feed(&j, &w, NULL, 0, ML_NEW_LEADER);
	w = mkrec(ML_CLAIM, 4, 4, c4, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	assert_string_equal(j.s.leader, "m1");
	assert_string_equal(j.s.url, "http://m1");
	assert_true(j.s.epoch == 4);

	/* an epoch may jump */
	w = mkrec(ML_CLAIM, 1000, 4, c4, "m2", "http://m2");
	feed(&j, &w, NULL, 0, ML_NEW_LEADER);
	w = mkrec(ML_CLAIM, 999, 4, c4, "m3", "http://m3");
	feed(&j, &w, NULL, 0, ML_IGNORED);
	w = mkrec(ML_TXNS, 4, 4, c4, "m1", "http://m1");
	feed(&j, &w, one, 1, ML_IGNORED);
}

/* A record of an unknown kind (not decodable, but a caller might judge a
 * record it built) is ignored. */
static void test_judge_unknown_kind(void **state)
{
	(void)state;
	struct ml_state s;
	ml_state_init(&s);
	struct ml_record r = mkrec(0, 1, 0, 0, "m", "u");
	assert_int_equal(ml_judge(&s, &r), ML_IGNORED);
	r.kind = 9;
	assert_int_equal(ml_judge(&s, &r), ML_IGNORED);
	ml_advance(&s, &r, 5);
	assert_true(s.epoch == 0 && s.offset == 5);
}

/* ---- judging: random, against a model ----------------------------------- */

#define NREC 4000
#define CS_MAX 24

/* One generated record, kept so the model can see its changesets. */
struct gen_rec {
	struct ml_record w;
	unsigned ncs;
	size_t n[3];
	unsigned char cs[3][CS_MAX];
	struct ml_buf b;
};

/* The rule as the header states it, written from the text. */
struct model {
	uint64_t epoch, seq, chain;
	bool left;
	char leader[ML_ID_MAX + 1], url[ML_URL_MAX + 1];
};

static enum ml_verdict model_step(struct model *m, const struct gen_rec *g)
{
	const struct ml_record *r = &g->w;
	bool top = r->seq == m->seq && r->chain == m->chain;
	bool leads = m->epoch != 0 && r->epoch == m->epoch && !m->left;

	if (r->kind == ML_CLAIM && r->epoch > m->epoch && top) {
		m->epoch = r->epoch;
		m->left = false;
		snprintf(m->leader, sizeof(m->leader), "%s", r->id);
		snprintf(m->url, sizeof(m->url), "%s", r->url);
		return ML_NEW_LEADER;
	}
	if (r->kind == ML_TXNS && leads && top) {
		for (unsigned i = 0; i < g->ncs; i++) {
			m->seq++;
			m->chain = ml_chain_next(m->chain, m->seq, g->cs[i], g->n[i]);
		}
		return ML_APPLY;
	}
	if (r->kind == ML_BEAT && leads)
		return ML_ALIVE;
	if (r->kind == ML_LEAVE && leads && top) {
		m->left = true;
		return ML_LEFT;
	}
	return ML_IGNORED;
}

struct base {
	uint64_t seq, chain;
};

static void test_judge_random(void **state)
{
	(void)state;
	static const char *const ids[] = { "m0", "m1", "m2" };
	struct gen_rec *recs = calloc(NREC, sizeof(*recs));
	struct base *seen = calloc(NREC + 1, sizeof(*seen));
	assert_non_null(recs);
	assert_non_null(seen);
	struct model gen = { 0 };
	size_t nseen = 1;          /* (0, 0) */
	uint64_t believed[3] = { 0 }; /* each master's idea of the epoch */
	int verdicts[5] = { 0 };

	/* generate: the generator follows the log itself (with the model) so
	 * that many records are on top, but masters act on stale views */
	for (int i = 0; i < NREC; i++) {
		struct gen_rec *g = &recs[i];
		unsigned who = rnd(3);
		unsigned what = rnd(10);
		uint8_t kind = what < 2 ? ML_CLAIM : what < 7 ? ML_TXNS : what < 9 ? ML_BEAT
									     : ML_LEAVE;
		struct base base;
		unsigned pick = rnd(10);
		if (pick < 6)
			base = (struct base){ gen.seq, gen.chain };
		else if (pick < 9)
			base = seen[rnd((unsigned)nseen)];
		else
			base = (struct base){ rnd(8), rnd(2) ? rnd64() : 0 };
		uint64_t epoch;
		if (kind == ML_CLAIM) {
			epoch = believed[who] + rnd(3);   /* may not be above */
			if (rnd(8) == 0)
				epoch = rnd(5);
		} else {
			epoch = rnd(4) ? believed[who] : gen.epoch + rnd(3) - 1;
		}
		g->w = mkrec(kind, epoch, base.seq, base.chain, ids[who], ids[who]);
		g->w.time_ms = i;
		if (kind == ML_TXNS) {
			g->ncs = rnd(4);
			for (unsigned k = 0; k < g->ncs; k++) {
				g->n[k] = rnd(CS_MAX + 1);
				for (size_t x = 0; x < g->n[k]; x++)
					g->cs[k][x] = (unsigned char)rnd(256);
			}
		}
		struct cs cs[3];
		for (unsigned k = 0; k < g->ncs; k++)
			cs[k] = (struct cs){ g->cs[k], g->n[k] };
		encode(&g->b, &g->w, cs, g->ncs, KEY);

		enum ml_verdict v = model_step(&gen, g);
		verdicts[v]++;
		if (v == ML_APPLY && g->ncs)
			seen[nseen++] = (struct base){ gen.seq, gen.chain };
		/* the masters that happen to read the log now learn the epoch */
		for (int m = 0; m < 3; m++)
			if (rnd(3) == 0)
				believed[m] = gen.epoch;
		if (v == ML_NEW_LEADER)
			believed[who] = gen.epoch;
	}
	print_message("%d records: %d ignored, %d claims, %d applied, %d beats, %d leaves count\n",
		      NREC, verdicts[ML_IGNORED], verdicts[ML_NEW_LEADER], verdicts[ML_APPLY],
		      verdicts[ML_ALIVE], verdicts[ML_LEFT]);
	for (int v = 0; v < 5; v++)
		assert_true(verdicts[v] > 0);

	/* replay twice, each from the bytes, and through the model */
	struct ml_state a, b;
	struct model m = { 0 };
	ml_state_init(&a);
	ml_state_init(&b);
	for (int i = 0; i < NREC; i++) {
		struct ml_record ra, rb;
		assert_int_equal(ml_decode(recs[i].b.p, recs[i].b.len, KEY, &ra), 0);
		assert_int_equal(ml_decode(recs[i].b.p, recs[i].b.len, KEY, &rb), 0);
		struct ml_state prev = a;
		enum ml_verdict va = ml_judge(&a, &ra);
		enum ml_verdict want = model_step(&m, &recs[i]);
		if (va != want)
			fail_msg("record %d: verdict %d, the model says %d", i, va, want);
		ml_advance(&a, &ra, i);
		ml_advance(&b, &rb, i);
		assert_true(a.seq >= prev.seq);
		assert_true(a.epoch >= prev.epoch);
		assert_true(a.seq == m.seq && a.chain == m.chain && a.epoch == m.epoch);
		assert_int_equal(a.left, m.left);
		assert_string_equal(a.leader, m.leader);
		assert_string_equal(a.url, m.url);
		assert_true(a.offset == i);
	}
	assert_true(a.epoch == b.epoch && a.seq == b.seq && a.chain == b.chain);
	assert_int_equal(a.left, b.left);
	assert_string_equal(a.leader, b.leader);
	assert_string_equal(a.url, b.url);
	assert_true(a.offset == b.offset);
	assert_true(a.seq == gen.seq && a.chain == gen.chain);
	char *ja = ml_state_to_json(&a), *jb = ml_state_to_json(&b);
	assert_non_null(ja);
	assert_non_null(jb);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
	for (int i = 0; i < NREC; i++)
		ml_buf_free(&recs[i].b);
	free(recs);
	free(seen);
}

/* ---- the state as JSON -------------------------------------------------- */

static void expect_same_state(const struct ml_state *a, const struct ml_state *b)
{
	assert_true(a->epoch == b->epoch);
	assert_true(a->seq == b->seq);
	assert_true(a->chain == b->chain);
	assert_int_equal(a->left, b->left);
	assert_string_equal(a->leader, b->leader);
	assert_string_equal(a->url, b->url);
	assert_true(a->offset == b->offset);
}

static void json_roundtrip(const struct ml_state *s)
{
	char *text = ml_state_to_json(s);
	assert_non_null(text);
	struct ml_state back;
	memset(&back, 0x5a, sizeof(back));
	int rc = ml_state_from_json(text, strlen(text), &back);
	if (rc != 0)
		fail_msg("%s does not read back: %d", text, rc);
	expect_same_state(&back, s);
	free(text);
}

static void test_json_roundtrip(void **state)
{
	(void)state;
	struct ml_state s;

	ml_state_init(&s);
	json_roundtrip(&s);

	s.epoch = 7;
	s.seq = 123456789;
	s.chain = 0x00000000000000abULL;   /* leading zeros */
	s.left = true;
	snprintf(s.leader, sizeof(s.leader), "%s", "master \"one\" \\ é");
	snprintf(s.url, sizeof(s.url), "%s", "https://[::1]:9420/x?y=z");
	s.offset = 0;
	json_roundtrip(&s);

	s.epoch = INT64_MAX;
	s.seq = INT64_MAX;
	s.chain = UINT64_MAX;
	s.left = false;
	memset(s.leader, 'L', ML_ID_MAX);
	s.leader[ML_ID_MAX] = '\0';
	memset(s.url, 'U', ML_URL_MAX);
	s.url[ML_URL_MAX] = '\0';
	s.offset = INT64_MAX;
	json_roundtrip(&s);

	/* the text need not end in NUL: len counts */
	ml_state_init(&s);
	s.seq = 5;
	char *text = ml_state_to_json(&s);
	assert_non_null(text);
	size_t n = strlen(text);
	char *copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, text, n);
	struct ml_state back;
	assert_int_equal(ml_state_from_json(copy, n, &back), 0);
	expect_same_state(&back, &s);
	free(copy);
	free(text);
}

/* obj (a valid state) with member name set to v (NULL: removed), as text;
 * from_json must refuse it and leave the output untouched. */
static void expect_refused_obj(json_t *base, const char *name, json_t *v)
{
	json_t *o = json_deep_copy(base);
	assert_non_null(o);
	if (v)
		json_object_set_new(o, name, v);
	else
		json_object_del(o, name);
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	struct ml_state s, pristine;
	memset(&s, 0x5a, sizeof(s));
	pristine = s;
	int rc = ml_state_from_json(text, strlen(text), &s);
	if (rc != -EINVAL)
		fail_msg("accepted (%d): %s", rc, text);
	assert_memory_equal(&s, &pristine, sizeof(s));
	free(text);
	json_decref(o);
}

static void expect_refused_text(const char *text)
{
	struct ml_state s, pristine;
	memset(&s, 0x5a, sizeof(s));
	pristine = s;
	int rc = ml_state_from_json(text, strlen(text), &s);
	if (rc != -EINVAL)
		fail_msg("accepted (%d): %s", rc, text);
	assert_memory_equal(&s, &pristine, sizeof(s));
}

static void test_json_refuses(void **state)
{
	(void)state;
	static const char *const members[] = { "epoch", "seq", "chain", "left",
					       "leader", "url", "offset" };
	struct ml_state s;
	ml_state_init(&s);
	s.epoch = 2;
	s.seq = 3;
	s.chain = 0x1234;
	snprintf(s.leader, sizeof(s.leader), "m1");
	snprintf(s.url, sizeof(s.url), "http://m1");
	char *good = ml_state_to_json(&s);
	assert_non_null(good);
	json_t *base = json_loads(good, 0, NULL);
	assert_non_null(base);
	free(good);

	/* not an object, not JSON, cut short, trailing bytes */
	expect_refused_text("");
	expect_refused_text("null");
	expect_refused_text("[]");
	expect_refused_text("{}");
	expect_refused_text("\"x\"");
	expect_refused_text("{\"epoch\":1");
	good = json_dumps(base, JSON_COMPACT);
	assert_non_null(good);
	size_t n = strlen(good);
	for (size_t len = 0; len < n; len++) {
		struct ml_state t;
		memset(&t, 0x5a, sizeof(t));
		assert_int_equal(ml_state_from_json(good, len, &t), -EINVAL);
	}
	char *trail = malloc(n + 3);
	assert_non_null(trail);
	memcpy(trail, good, n);
	memcpy(trail + n, " x", 3);
	expect_refused_text(trail);
	free(trail);
	free(good);

	/* every member missing, and every member of a wrong type */
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const char *mname = members[i];
		bool is_int = !strcmp(mname, "epoch") || !strcmp(mname, "seq") ||
			      !strcmp(mname, "offset");
		bool is_bool = !strcmp(mname, "left");
		expect_refused_obj(base, mname, NULL);
		expect_refused_obj(base, mname, json_null());
		expect_refused_obj(base, mname, json_array());
		expect_refused_obj(base, mname, json_object());
		if (is_int) {
			expect_refused_obj(base, mname, json_string("1"));
			expect_refused_obj(base, mname, json_real(1.0));
			expect_refused_obj(base, mname, json_true());
		} else if (is_bool) {
			expect_refused_obj(base, mname, json_integer(1));
			expect_refused_obj(base, mname, json_integer(0));
			expect_refused_obj(base, mname, json_string("true"));
		} else {
			expect_refused_obj(base, mname, json_integer(1));
			expect_refused_obj(base, mname, json_true());
		}
	}

	/* negative numbers */
	expect_refused_obj(base, "seq", json_integer(-1));
	expect_refused_obj(base, "epoch", json_integer(-1));
	expect_refused_obj(base, "seq", json_integer(INT64_MIN));
	expect_refused_obj(base, "offset", json_integer(-2));
	/* numbers beyond 64 bits */
	expect_refused_text("{\"epoch\":2,\"seq\":99999999999999999999,\"chain\":"
			    "\"0000000000001234\",\"left\":false,\"leader\":\"m1\",\"url\":\"u\","
			    "\"offset\":-1}");


	/* over-long strings */
	char longs[ML_URL_MAX + 2];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[ML_ID_MAX + 1] = '\0';
	expect_refused_obj(base, "leader", json_string(longs));
	memset(longs, 'x', sizeof(longs) - 1);
	longs[ML_URL_MAX + 1] = '\0';
	expect_refused_obj(base, "url", json_string(longs));

	/* and the limits themselves are fine */
	json_t *o = json_deep_copy(base);
	longs[ML_ID_MAX] = '\0';
	json_object_set_new(o, "leader", json_string(longs));
	json_object_set_new(o, "chain", json_string("ABCDEF0123456789"));
	char *text = json_dumps(o, JSON_COMPACT);
	struct ml_state back;
	assert_int_equal(ml_state_from_json(text, strlen(text), &back), 0);
	assert_int_equal(strlen(back.leader), ML_ID_MAX);
	assert_true(back.chain == 0xABCDEF0123456789ULL);
	free(text);
	json_decref(o);
	json_decref(base);
}

/* chain: exactly 16 hex digits. Everything else is refused, including
 * the forms strtoull() would take: a sign, leading blanks, a 0x prefix
 * (it took them as 0x1234 until every character was checked). */
static void test_json_chain_digits(void **state)
{
	(void)state;
	struct ml_state s;
	ml_state_init(&s);
	s.chain = 0x1234;
	char *good = ml_state_to_json(&s);
	assert_non_null(good);
	json_t *base = json_loads(good, 0, NULL);
	assert_non_null(base);
	free(good);

	static const char *const chains[] = {
		"", "123", "000000000000123", "00000000000001234", "000000000000123g",
		"zzzzzzzzzzzzzzzz", "0000000000 01234", "000000000000123 ",
		/* strtoull would take these: a sign, blanks, a 0x prefix */
		"0x00000000001234", "0X00000000001234", " 000000000001234", "\t000000000001234",
		"-000000000001234", "+000000000001234",
	};
	int taken = 0;
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		json_t *o = json_deep_copy(base);
		json_object_set_new(o, "chain", json_string(chains[i]));
		char *text = json_dumps(o, JSON_COMPACT);
		struct ml_state t;
		if (ml_state_from_json(text, strlen(text), &t) != -EINVAL) {
			print_error("chain #%zu \"%s\" accepted, read as %016" PRIx64 "\n", i,
				    chains[i], t.chain);
			taken++;
		}
		free(text);
		json_decref(o);
	}
	json_decref(base);
	assert_int_equal(taken, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_plain_kinds),
		cmocka_unit_test(test_roundtrip_txns),
		cmocka_unit_test(test_wire_form),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_flipped_bits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_wrong_magic_and_kind),
		cmocka_unit_test(test_id_and_url_limits),
		cmocka_unit_test(test_changeset_counts),
		cmocka_unit_test(test_random_records),
		cmocka_unit_test(test_chain_next),
		cmocka_unit_test(test_judge_script),
		cmocka_unit_test(test_judge_unknown_kind),
		cmocka_unit_test(test_judge_random),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_refuses),
		cmocka_unit_test(test_json_chain_digits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
