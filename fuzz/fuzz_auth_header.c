/* fuzz_auth_header — the master's Authorization header checks (common/auth.c).
 *
 * Feeds, by the low 2 bits of the first byte:
 *   0  the rest as an Authorization value to auth_parse, then auth_verify
 *      with a fixed session key, and to auth_cluster_check with a fixed
 *      cluster secret and clock;
 *   1  the rest as a run of sequence numbers (3 bytes each: a flag byte
 *      and a 16-bit offset from the highest seen, or a jump) fed to
 *      auth_window_accept;
 *   2  a key, body and byte position from the rest: a header made by
 *      auth_sign / auth_cluster_sign, checked as it is and with one byte
 *      changed.
 * Asserts: no crash or UB; auth_parse accepts only "BigFS ID SEQ MAC" with
 * 32 and 64 hex digits and a plain decimal SEQ > 0, writing back exactly
 * what it read; results are among the documented errors; the replay
 * window agrees with a plain model (a number is accepted once, if above
 * the highest minus AUTH_WINDOW); a made header verifies and any single
 * changed byte makes it fail. Stateless across inputs. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "fuzz_util.h"

#define NOW 1700000000LL

static const unsigned char key[AUTH_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const char secret[] = "a cluster secret of at least 32 bytes, fixed";

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
			return false;
	return s[n] == '\0';
}

static void parse_one(const char *h)
{
	char id[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1], again[AUTH_HEADER_MAX + 64];
	char nonce[AUTH_ID_LEN + 1];
	uint64_t seq = 0;
	int r = auth_parse(h, id, &seq, mac);

	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(all_hex(id, AUTH_ID_LEN) && all_hex(mac, AUTH_HEX_LEN) && seq > 0);
		snprintf(again, sizeof(again), "BigFS %s %" PRIu64 " %s", id, seq, mac);
		FUZZ_CHECK(strcasecmp(again, h) == 0);
		r = auth_verify(key, seq, "POST", "/v1/getattr", h, strlen(h), mac);
		FUZZ_CHECK(r == 0 || r == -EACCES);
	}
	r = auth_cluster_check(secret, sizeof(secret) - 1, "POST", "/v1/cluster/register", "{}",
			       2, h, NOW, nonce);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EACCES || r == -ETIMEDOUT);
	if (r == 0)
		FUZZ_CHECK(all_hex(nonce, AUTH_ID_LEN));
}

#define MODEL_MAX 4096

static void window(const uint8_t *d, size_t n)
{
	static uint64_t seen[MODEL_MAX];
	struct auth_window w;
	size_t nseen = 0;
	uint64_t top = 0;

	memset(&w, 0, sizeof(w));
	for (size_t i = 0; i + 3 <= n && nseen < MODEL_MAX; i += 3) {
		uint16_t off = (uint16_t)(d[i + 1] | d[i + 2] << 8);
		uint64_t seq;

		switch (d[i] & 3) {
		case 0: seq = top + off % 80; break;                    /* ahead */
		case 1: seq = top >= off % 1500 ? top - off % 1500 : 0; break;   /* behind */
		case 2: seq = top + (uint64_t)off * 64; break;          /* jumps */
		default: seq = (uint64_t)off << (d[i] >> 2 & 63); break;
		}
		bool want = seq != 0 && (seq > top || top - seq < AUTH_WINDOW);
		for (size_t j = 0; want && j < nseen; j++)
			if (seen[j] == seq)
				want = false;
		int r = auth_window_accept(&w, seq);
		FUZZ_CHECK(r == 0 || r == -EALREADY);
		FUZZ_CHECK((r == 0) == want);
		if (r == 0) {
			seen[nseen++] = seq;
			if (seq > top)
				top = seq;
		}
	}
}

static void made(const uint8_t *d, size_t n)
{
	unsigned char k[AUTH_KEY_LEN] = { 0 };
	char h[AUTH_HEADER_MAX], bad[AUTH_HEADER_MAX], id[AUTH_ID_LEN + 1];
	char pid[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1];
	uint64_t seq, pseq;

	if (n < AUTH_KEY_LEN + 10)
		return;
	memcpy(k, d, AUTH_KEY_LEN);
	for (int i = 0; i < AUTH_ID_LEN; i++)
		id[i] = "0123456789abcdef"[d[i % AUTH_KEY_LEN] & 15];
	id[AUTH_ID_LEN] = '\0';
	memcpy(&seq, d + AUTH_KEY_LEN, 8);
	/* auth_parse takes at most 19 digits, auth_sign writes up to 20: a
	 * session never gets that far (it counts from 1), so stay below */
	seq = seq % 10000000000000000000ULL;
	seq = seq ? seq : 1;
	size_t pos = d[AUTH_KEY_LEN + 8];
	uint8_t val = d[AUTH_KEY_LEN + 9];
	const uint8_t *body = d + AUTH_KEY_LEN + 10;
	size_t blen = n - AUTH_KEY_LEN - 10;

	auth_sign(k, id, seq, "POST", "/v1/create", body, blen, h);
	FUZZ_CHECK(auth_parse(h, pid, &pseq, mac) == 0);
	FUZZ_CHECK(pseq == seq && strcmp(pid, id) == 0);
	FUZZ_CHECK(auth_verify(k, seq, "POST", "/v1/create", body, blen, mac) == 0);
	FUZZ_CHECK(auth_verify(k, seq, "POST", "/v1/mkdir", body, blen, mac) == -EACCES);
	if (blen)
		FUZZ_CHECK(auth_verify(k, seq, "POST", "/v1/create", body, blen - 1, mac) ==
			   -EACCES);
	size_t hl = strlen(h);
	if ((uint8_t)h[pos % hl] != val) {
		memcpy(bad, h, hl + 1);
		bad[pos % hl] = (char)val;
		if (auth_parse(bad, pid, &pseq, mac) == 0)
			FUZZ_CHECK(strcmp(pid, id) != 0 ||
				   auth_verify(k, pseq, "POST", "/v1/create", body, blen, mac) ==
					   -EACCES);
	}

	FUZZ_CHECK(auth_cluster_sign(secret, sizeof(secret) - 1, "POST", "/v1/cluster/register",
				     body, blen, NOW, h) == 0);
	FUZZ_CHECK(auth_cluster_check(secret, sizeof(secret) - 1, "POST", "/v1/cluster/register",
				      body, blen, h, NOW, NULL) == 0);
	FUZZ_CHECK(auth_cluster_check(secret, sizeof(secret) - 1, "POST", "/v1/cluster/register",
				      body, blen, h, NOW + AUTH_CLUSTER_SKEW_S + 1, NULL) ==
		   -ETIMEDOUT);
	hl = strlen(h);
	if ((uint8_t)h[pos % hl] != val) {
		memcpy(bad, h, hl + 1);
		bad[pos % hl] = (char)val;
		FUZZ_CHECK(auth_cluster_check(secret, sizeof(secret) - 1, "POST",
					      "/v1/cluster/register", body, blen, bad, NOW,
					      NULL) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char h[1024];

	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0: {
		size_t n = size - 1 < sizeof(h) - 1 ? size - 1 : sizeof(h) - 1;
		memcpy(h, data + 1, n);
		h[n] = '\0';
		parse_one(h);
		break;
	}
	case 1:
		window(data + 1, size - 1);
		break;
	default:
		made(data + 1, size - 1);
		break;
	}
	return 0;
}
