/* auth — HMAC-SHA256 signatures of sessions and cluster calls (auth.h).
 *
 * HMAC is computed here from SHA-256 (RFC 2104: H((K^opad) || H((K^ipad) ||
 * m))) on OpenSSL's digest, fetched once, with one digest context per
 * thread kept for the thread's life: no allocation and no algorithm lookup
 * per message. OpenSSL's EVP_MAC and HMAC() fetch and allocate on every
 * call, which cost 10-20 us per signed request in the mount and in the
 * master (measured: a quarter of a metadata call's CPU).
 *
 * Owns: the SHA-256 algorithm object (pthread_once, then read-only) and a
 * thread-specific key whose destructor frees each thread's context. */
#include "auth.h"
#include "token.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define HMAC_BLOCK 64     /* SHA-256's block */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;
static pthread_key_t md_ctx_key;

static void md_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void md_setup(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&md_ctx_key, md_ctx_free) != 0)
		md_sha256 = NULL;     /* every MAC then fails closed */
}

/* This thread's digest context, made on first use. NULL: out of memory. */
static EVP_MD_CTX *md_ctx(void)
{
	pthread_once(&md_once, md_setup);
	if (!md_sha256)
		return NULL;
	EVP_MD_CTX *ctx = pthread_getspecific(md_ctx_key);
	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		if (ctx && pthread_setspecific(md_ctx_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			ctx = NULL;
		}
	}
	return ctx;
}

/* A piece of the message: n bytes at p. */
struct piece {
	const void *p;
	size_t n;
};

/* HMAC-SHA256(key, the pieces one after another) into out. 0 or -ENOMEM
 * (out then holds nothing meaningful). */
static int hmac_pieces(const void *key, size_t key_len, const struct piece *pc, int npc,
		       unsigned char out[AUTH_KEY_LEN])
{
	unsigned char k0[HMAC_BLOCK], pad[HMAC_BLOCK], inner[AUTH_KEY_LEN];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = md_ctx();
	int rc = -ENOMEM;

	if (!ctx)
		return -ENOMEM;
	memset(k0, 0, sizeof(k0));
	if (key_len > HMAC_BLOCK) {
		if (!EVP_DigestInit_ex2(ctx, md_sha256, NULL) ||
		    !EVP_DigestUpdate(ctx, key, key_len) || !EVP_DigestFinal_ex(ctx, k0, &len))
			goto out_wipe;
	} else if (key_len) {
		memcpy(k0, key, key_len);
	}
	for (int i = 0; i < HMAC_BLOCK; i++)
		pad[i] = k0[i] ^ 0x36;
	if (!EVP_DigestInit_ex2(ctx, md_sha256, NULL) || !EVP_DigestUpdate(ctx, pad, sizeof(pad)))
		goto out_wipe;
	for (int i = 0; i < npc; i++)
		if (pc[i].n && !EVP_DigestUpdate(ctx, pc[i].p, pc[i].n))
			goto out_wipe;
	if (!EVP_DigestFinal_ex(ctx, inner, &len) || len != AUTH_KEY_LEN)
		goto out_wipe;
	for (int i = 0; i < HMAC_BLOCK; i++)
		pad[i] = k0[i] ^ 0x5c;
	if (!EVP_DigestInit_ex2(ctx, md_sha256, NULL) || !EVP_DigestUpdate(ctx, pad, sizeof(pad)) ||
	    !EVP_DigestUpdate(ctx, inner, sizeof(inner)) || !EVP_DigestFinal_ex(ctx, out, &len) ||
	    len != AUTH_KEY_LEN)
		goto out_wipe;
	rc = 0;
out_wipe:
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return rc;
}

int auth_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		     unsigned char out[AUTH_KEY_LEN])
{
	struct piece pc = { msg, len };
	return hmac_pieces(key, key_len, &pc, 1, out);
}

void auth_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* HMAC-SHA256 over parts joined by "\n", then (if has_body) "\n" + body. */
static void mac_compute(const void *key, size_t key_len, const char *const *parts, int n,
			bool has_body, const void *body, size_t body_len,
			unsigned char out[AUTH_KEY_LEN])
{
	struct piece pc[2 * 8 + 2];
	int k = 0;

	if (n > 8)
		goto out_fail;
	for (int i = 0; i < n; i++) {
		if (i > 0)
			pc[k++] = (struct piece){ "\n", 1 };
		pc[k++] = (struct piece){ parts[i], strlen(parts[i]) };
	}
	if (has_body) {
		pc[k++] = (struct piece){ "\n", 1 };
		pc[k++] = (struct piece){ body, body_len };
	}
	if (hmac_pieces(key, key_len, pc, k, out) == 0)
		return;
out_fail:
	/* never a predictable MAC: random bytes match nothing */
	if (getrandom(out, AUTH_KEY_LEN, 0) != AUTH_KEY_LEN)
		memset(out, 0xa5, AUTH_KEY_LEN);
}

void auth_mac_hex(const void *key, size_t key_len, const char *const *parts, int n,
		  const void *body, size_t body_len, char *out)
{
	unsigned char mac[AUTH_KEY_LEN];
	mac_compute(key, key_len, parts, n, true, body, body_len, mac);
	auth_hex(mac, sizeof(mac), out);
}

void auth_mac_raw(const void *key, size_t key_len, const char *const *parts, int n,
		  unsigned char out[AUTH_KEY_LEN])
{
	mac_compute(key, key_len, parts, n, false, NULL, 0, out);
}

bool auth_hex_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

int auth_random_hex(size_t n, char *out)
{
	unsigned char buf[64];
	if (n > sizeof(buf))
		return -EINVAL;
	if (getrandom(buf, n, 0) != (ssize_t)n)
		return -errno;
	auth_hex(buf, n, out);
	return 0;
}

void auth_login_proof(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		      const char *path, char *out)
{
	const char *parts[] = { "bigfs-login", nonce, cnonce, path };
	unsigned char mac[AUTH_KEY_LEN];
	mac_compute(pw, pw_len, parts, 4, false, NULL, 0, mac);
	auth_hex(mac, sizeof(mac), out);
}

void auth_server_proof(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		       char *out)
{
	const char *parts[] = { "bigfs-server", nonce, cnonce };
	unsigned char mac[AUTH_KEY_LEN];
	mac_compute(pw, pw_len, parts, 3, false, NULL, 0, mac);
	auth_hex(mac, sizeof(mac), out);
}

void auth_session_key(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		      unsigned char key[AUTH_KEY_LEN])
{
	const char *parts[] = { "bigfs-key", nonce, cnonce };
	mac_compute(pw, pw_len, parts, 3, false, NULL, 0, key);
}

static void request_mac(const unsigned char key[AUTH_KEY_LEN], uint64_t seq, const char *method,
			const char *path, const void *body, size_t body_len, char *out)
{
	char seq_s[24];
	snprintf(seq_s, sizeof(seq_s), "%" PRIu64, seq);
	const char *parts[] = { method, path, seq_s };
	auth_mac_hex(key, AUTH_KEY_LEN, parts, 3, body, body_len, out);
}

void auth_sign(const unsigned char key[AUTH_KEY_LEN], const char *id, uint64_t seq,
	       const char *method, const char *path, const void *body, size_t body_len,
	       char *out)
{
	char mac[AUTH_HEX_LEN + 1];
	request_mac(key, seq, method, path, body, body_len, mac);
	snprintf(out, AUTH_HEADER_MAX, "BigFS %s %" PRIu64 " %s", id, seq, mac);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One space-separated field of exactly `len` lower-case hex digits at *p
 * into out; advances *p past it and one following space (or to the end). */
static int take_hex(const char **p, size_t len, char *out, bool last)
{
	const char *s = *p;
	if (strlen(s) < len || !is_hex(s, len))
		return -EINVAL;
	if (last ? s[len] != '\0' : s[len] != ' ')
		return -EINVAL;
	memcpy(out, s, len);
	out[len] = '\0';
	*p = s + len + (last ? 0 : 1);
	return 0;
}

/* A decimal number > 0 without sign or leading zeros, then one space. */
static int take_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	size_t i = 0;
	if (s[0] < '1' || s[0] > '9')
		return -EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i >= 19)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[i] != ' ')
		return -EINVAL;
	*ret = v;
	*p = s + i + 1;
	return 0;
}

int auth_parse(const char *header, char *id, uint64_t *seq, char *mac)
{
	if (!header || strncmp(header, "BigFS ", 6) != 0)
		return -EINVAL;
	const char *p = header + 6;
	char id_b[AUTH_ID_LEN + 1], mac_b[AUTH_HEX_LEN + 1];
	uint64_t s;
	if (take_hex(&p, AUTH_ID_LEN, id_b, false) < 0 || take_u64(&p, &s) < 0 ||
	    take_hex(&p, AUTH_HEX_LEN, mac_b, true) < 0)
		return -EINVAL;
	memcpy(id, id_b, sizeof(id_b));
	memcpy(mac, mac_b, sizeof(mac_b));
	*seq = s;
	return 0;
}

int auth_verify(const unsigned char key[AUTH_KEY_LEN], uint64_t seq, const char *method,
		const char *path, const void *body, size_t body_len, const char *mac)
{
	char want[AUTH_HEX_LEN + 1];
	request_mac(key, seq, method, path, body, body_len, want);
	return auth_hex_equal(want, mac) ? 0 : -EACCES;
}

int auth_window_accept(struct auth_window *w, uint64_t seq)
{
	if (seq == 0)
		return -EALREADY;
	if (seq > w->top) {
		uint64_t shift = seq - w->top;
		if (w->top == 0 || shift >= AUTH_WINDOW) {
			memset(w->bits, 0, sizeof(w->bits));
		} else {
			/* bit i is sequence top - i: move every mark `shift`
			 * places up, word by word */
			int words = (int)(shift / 64), sh = (int)(shift % 64);
			for (int i = AUTH_WINDOW / 64 - 1; i >= 0; i--) {
				int src = i - words;
				uint64_t v = 0;
				if (src >= 0)
					v = w->bits[src] << sh;
				if (sh && src >= 1)
					v |= w->bits[src - 1] >> (64 - sh);
				w->bits[i] = v;
			}
		}
		w->top = seq;
		w->bits[0] |= 1;
		return 0;
	}
	uint64_t back = w->top - seq;
	if (back >= AUTH_WINDOW)
		return -EALREADY;
	uint64_t bit = 1ull << (back % 64);
	if (w->bits[back / 64] & bit)
		return -EALREADY;
	w->bits[back / 64] |= bit;
	return 0;
}

static void cluster_mac(const void *secret, size_t secret_len, const char *method,
			const char *path, const char *time_s, const char *nonce, const void *body,
			size_t body_len, char *out)
{
	const char *parts[] = { "bigfs-cluster", method, path, time_s, nonce };
	auth_mac_hex(secret, secret_len, parts, 5, body, body_len, out);
}

int auth_cluster_sign(const void *secret, size_t secret_len, const char *method,
		      const char *path, const void *body, size_t body_len, long long now,
		      char *out)
{
	char nonce[AUTH_ID_LEN + 1], time_s[24], mac[AUTH_HEX_LEN + 1];
	int rc = auth_random_hex(AUTH_ID_LEN / 2, nonce);
	if (rc < 0)
		return rc;
	snprintf(time_s, sizeof(time_s), "%lld", now);
	cluster_mac(secret, secret_len, method, path, time_s, nonce, body, body_len, mac);
	snprintf(out, AUTH_HEADER_MAX, "BigFS-Cluster %s %s %s", time_s, nonce, mac);
	return 0;
}

int auth_cluster_check(const void *secret, size_t secret_len, const char *method,
		       const char *path, const void *body, size_t body_len,
		       const char *header, long long now, char *ret_nonce)
{
	if (!header || strncmp(header, "BigFS-Cluster ", 14) != 0)
		return -EINVAL;
	const char *p = header + 14;
	uint64_t t;
	char time_s[24], nonce[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1], want[AUTH_HEX_LEN + 1];
	if (take_u64(&p, &t) < 0 || take_hex(&p, AUTH_ID_LEN, nonce, false) < 0 ||
	    take_hex(&p, AUTH_HEX_LEN, mac, true) < 0 || t > (uint64_t)INT64_MAX)
		return -EINVAL;
	snprintf(time_s, sizeof(time_s), "%" PRIu64, t);
	cluster_mac(secret, secret_len, method, path, time_s, nonce, body, body_len, want);
	if (!auth_hex_equal(want, mac))
		return -EACCES;
	long long d = (long long)t - now;
	if (d > AUTH_CLUSTER_SKEW_S || d < -AUTH_CLUSTER_SKEW_S)
		return -ETIMEDOUT;
	if (ret_nonce)
		memcpy(ret_nonce, nonce, sizeof(nonce));
	return 0;
}

int auth_url_path(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	if (!p)
		return -EINVAL;
	p += 3 + strcspn(p + 3, "/?#");    /* past the host */
	if (*p != '/')
		return -EINVAL;          /* no path (we always send one) */
	size_t n = strcspn(p, "?#");
	if (n >= cap)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int auth_cluster_signer(void *arg, const char *method, const char *url, const void *body,
			size_t body_len, char *out, size_t cap)
{
	const struct secret *sec = arg;
	char path[1024];
	if (cap < AUTH_HEADER_MAX || auth_url_path(url, path, sizeof(path)) < 0)
		return -EINVAL;
	return auth_cluster_sign(sec->key, sec->len, method, path, body, body_len,
				 (long long)time(NULL), out);
}

void auth_status_mac(const void *secret, size_t secret_len, const void *key, size_t key_len,
		     const void *value, size_t value_len, char *out)
{
	char k[65];
	size_t n = key_len < sizeof(k) - 1 ? key_len : sizeof(k) - 1;
	memcpy(k, key, n);
	k[n] = '\0';
	const char *parts[] = { "bigfs-status", k };
	auth_mac_hex(secret, secret_len, parts, 2, value, value_len, out);
}
