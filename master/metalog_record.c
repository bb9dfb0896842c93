/* metalog_record — encoding, authentication and the judging rule of the
 * metadata log's records (metalog_record.h). Pure: no I/O, no threads. */
#include "metalog_record.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static const unsigned char magic[4] = { 'B', 'M', 'L', '1' };

void ml_state_init(struct ml_state *s)
{
	memset(s, 0, sizeof(*s));
	s->offset = -1;
}

enum ml_verdict ml_judge(const struct ml_state *s, const struct ml_record *r)
{
	bool on_top = r->seq == s->seq && r->chain == s->chain;
	bool current = s->epoch > 0 && r->epoch == s->epoch && !s->left;

	switch (r->kind) {
	case ML_CLAIM:
		return r->epoch > s->epoch && on_top ? ML_NEW_LEADER : ML_IGNORED;
	case ML_TXNS:
		return current && on_top ? ML_APPLY : ML_IGNORED;
	case ML_BEAT:
		return current ? ML_ALIVE : ML_IGNORED;
	case ML_LEAVE:
		return current && on_top ? ML_LEFT : ML_IGNORED;
	default:
		return ML_IGNORED;
	}
}

uint64_t ml_chain_next(uint64_t chain, uint64_t seq, const void *cs, size_t n)
{
	unsigned char key[16], mac[AUTH_KEY_LEN];
	uint64_t out = 0;

	for (int i = 0; i < 8; i++) {
		key[i] = (unsigned char)(chain >> (8 * i));
		key[8 + i] = (unsigned char)(seq >> (8 * i));
	}
	auth_hmac_sha256(key, sizeof(key), cs, n, mac);
	for (int i = 0; i < 8; i++)
		out |= (uint64_t)mac[i] << (8 * i);
	return out;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int ml_txn_next(const struct ml_record *r, size_t *pos, const void **cs, size_t *n)
{
	if (*pos + 4 > r->txns_len)
		return 0;
	uint32_t len = get32(r->txns + *pos);
	*cs = r->txns + *pos + 4;
	*n = len;
	*pos += 4 + (size_t)len;
	return 1;
}

void ml_advance(struct ml_state *s, const struct ml_record *r, int64_t offset)
{
	switch (ml_judge(s, r)) {
	case ML_NEW_LEADER:
		s->epoch = r->epoch;
		s->left = false;
		snprintf(s->leader, sizeof(s->leader), "%s", r->id);
		snprintf(s->url, sizeof(s->url), "%s", r->url);
		break;
	case ML_APPLY: {
		size_t pos = 0, n;
		const void *cs;
		while (ml_txn_next(r, &pos, &cs, &n) == 1) {
			s->seq++;
			s->chain = ml_chain_next(s->chain, s->seq, cs, n);
		}
		break;
	}
	case ML_LEFT:
		s->left = true;
		break;
	default:
		break;
	}
	s->offset = offset;
}

/* ---- encoding ---------------------------------------------------------- */

static int reserve(struct ml_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void put(struct ml_buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u(struct ml_buf *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

int ml_encode_begin(struct ml_buf *b, const struct ml_record *r)
{
	size_t il = strnlen(r->id, ML_ID_MAX), ul = strnlen(r->url, ML_URL_MAX);

	b->len = 0;
	b->ntxn = 0;
	if (reserve(b, 4 + 1 + 8 * 4 + 2 + il + 2 + ul + 4) < 0)
		return -ENOMEM;
	put(b, magic, 4);
	put_u(b, r->kind, 1);
	put_u(b, r->epoch, 8);
	put_u(b, r->seq, 8);
	put_u(b, r->chain, 8);
	put_u(b, (uint64_t)r->time_ms, 8);
	put_u(b, il, 2);
	put(b, r->id, il);
	put_u(b, ul, 2);
	put(b, r->url, ul);
	b->ntxn_at = b->len;
	put_u(b, 0, 4);
	return 0;
}

int ml_encode_txn(struct ml_buf *b, const void *cs, size_t n)
{
	if (n > UINT32_MAX || reserve(b, 4 + n) < 0)
		return -ENOMEM;
	put_u(b, n, 4);
	put(b, cs, n);
	b->ntxn++;
	return 0;
}

int ml_encode_end(struct ml_buf *b, const void *key, size_t key_len)
{
	unsigned char mac[AUTH_KEY_LEN];

	if (reserve(b, AUTH_KEY_LEN) < 0)
		return -ENOMEM;
	for (int i = 0; i < 4; i++)
		b->p[b->ntxn_at + (size_t)i] = (unsigned char)(b->ntxn >> (8 * i));
	if (auth_hmac_sha256(key, key_len, b->p, b->len, mac) < 0)
		return -ENOMEM;
	put(b, mac, sizeof(mac));
	return 0;
}

void ml_buf_free(struct ml_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- decoding ---------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t len, pos;
};

static bool take(struct rd *d, size_t n, const unsigned char **out)
{
	if (d->len - d->pos < n)
		return false;
	*out = d->p + d->pos;
	d->pos += n;
	return true;
}

static bool take_u(struct rd *d, int bytes, uint64_t *v)
{
	const unsigned char *p;
	if (!take(d, (size_t)bytes, &p))
		return false;
	*v = 0;
	for (int i = 0; i < bytes; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return true;
}

static bool take_str(struct rd *d, char *out, size_t cap)
{
	uint64_t n;
	const unsigned char *p;
	if (!take_u(d, 2, &n) || n >= cap || !take(d, (size_t)n, &p) || memchr(p, 0, (size_t)n))
		return false;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return true;
}

int ml_decode(const void *buf, size_t len, const void *key, size_t key_len,
	      struct ml_record *r)
{
	unsigned char mac[AUTH_KEY_LEN];
	const unsigned char *p = buf, *m;
	uint64_t kind, t, ntxn;

	memset(r, 0, sizeof(*r));
	if (!buf || len < 4 + AUTH_KEY_LEN || memcmp(p, magic, 4) != 0)
		return -EBADMSG;
	len -= AUTH_KEY_LEN;
	if (auth_hmac_sha256(key, key_len, p, len, mac) < 0 ||
	    CRYPTO_memcmp(mac, p + len, AUTH_KEY_LEN) != 0)
		return -EBADMSG;
	struct rd d = { p, len, 4 };
	if (!take_u(&d, 1, &kind) || !take_u(&d, 8, &r->epoch) || !take_u(&d, 8, &r->seq) ||
	    !take_u(&d, 8, &r->chain) || !take_u(&d, 8, &t) ||
	    !take_str(&d, r->id, sizeof(r->id)) || !take_str(&d, r->url, sizeof(r->url)) ||
	    !take_u(&d, 4, &ntxn) || kind < ML_CLAIM || kind > ML_LEAVE)
		return -EBADMSG;
	r->kind = (uint8_t)kind;
	r->time_ms = (int64_t)t;
	r->ntxn = (uint32_t)ntxn;
	r->txns = p + d.pos;
	r->txns_len = len - d.pos;
	for (uint64_t i = 0; i < ntxn; i++) {
		uint64_t n;
		if (!take_u(&d, 4, &n) || !take(&d, (size_t)n, &m))
			return -EBADMSG;
	}
	if (d.pos != len || (r->kind != ML_TXNS && ntxn != 0))
		return -EBADMSG;
	return 0;
}

/* ---- a state as JSON ---------------------------------------------------- */

char *ml_state_to_json(const struct ml_state *s)
{
	char chain[17];
	snprintf(chain, sizeof(chain), "%016" PRIx64, s->chain);
	json_t *o = json_pack("{s:I, s:I, s:s, s:b, s:s, s:s, s:I}", "epoch",
			      (json_int_t)s->epoch, "seq", (json_int_t)s->seq, "chain", chain,
			      "left", s->left, "leader", s->leader, "url", s->url, "offset",
			      (json_int_t)s->offset);
	if (!o)
		return NULL;
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

int ml_state_from_json(const char *text, size_t len, struct ml_state *s)
{
	json_t *o = json_loadb(text, len, 0, NULL);
	json_int_t epoch, seq, offset;
	const char *chain, *leader, *url;
	int left;
	int rc = -EINVAL;

	if (!o)
		return -EINVAL;
	if (json_unpack(o, "{s:I, s:I, s:s, s:b, s:s, s:s, s:I}", "epoch", &epoch, "seq", &seq,
			"chain", &chain, "left", &left, "leader", &leader, "url", &url, "offset",
			&offset) == 0 &&
	    epoch >= 0 && seq >= 0 && offset >= -1 && strlen(chain) == 16 &&
	    strlen(leader) <= ML_ID_MAX && strlen(url) <= ML_URL_MAX &&
	    strspn(chain, "0123456789abcdefABCDEF") == 16) {
		char *end;
		uint64_t c = strtoull(chain, &end, 16);
		if (*end == '\0') {
			ml_state_init(s);
			s->epoch = (uint64_t)epoch;
			s->seq = (uint64_t)seq;
			s->chain = c;
			s->left = left;
			snprintf(s->leader, sizeof(s->leader), "%s", leader);
			snprintf(s->url, sizeof(s->url), "%s", url);
			s->offset = offset;
			rc = 0;
		}
	}
	json_decref(o);
	return rc;
}
