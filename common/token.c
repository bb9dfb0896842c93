/* token — HMAC-SHA256 data-access tokens (token.h). Stateless; the secret
 * is read once at start and then only read. */
#include "token.h"
#include "auth.h"
#include "ids.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int secret_load(const char *path, struct secret *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct secret s;
	ssize_t n = read(fd, s.key, sizeof(s.key));
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	if (n < 32)
		return -EINVAL;
	s.len = (size_t)n;
	*ret = s;
	return 0;
}

int secret_load_or_create(const char *path, struct secret *ret)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		unsigned char key[32];
		int err = 0;
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key) ||
		    write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0)
			err = -errno;
		close(fd);
		if (err) {
			unlink(path);
			return err;
		}
	} else if (errno != EEXIST) {
		return -errno;
	}
	return secret_load(path, ret);
}

static void token_mac(const struct secret *s, uint64_t chunk_id, uint32_t version,
		      const char *op, long long expiry, char *hex)
{
	char msg[128];
	char id[CHUNK_ID_STRLEN + 1];
	chunk_id_format(chunk_id, id);
	int n = snprintf(msg, sizeof(msg), "%s:%" PRIu32 ":%s:%lld", id, version, op, expiry);
	/* ops are at most TOKEN_OP_MAX bytes (callers check), so msg holds it
	 * all: a cut message would sign two ops alike */
	bigfs_assert(n > 0 && (size_t)n < sizeof(msg));
	unsigned char mac[AUTH_KEY_LEN];
	/* auth's HMAC: no allocation or algorithm lookup per token (OpenSSL's
	 * HMAC() has both, on every chunk call of master and worker) */
	if (auth_hmac_sha256(s->key, s->len, msg, (size_t)n, mac) < 0) {
		/* no MAC could be made: one that matches nothing */
		if (getrandom(mac, sizeof(mac), 0) != (ssize_t)sizeof(mac))
			memset(mac, 0xa5, sizeof(mac));
	}
	auth_hex(mac, sizeof(mac), hex);
}

void token_make(const struct secret *s, uint64_t chunk_id, uint32_t version,
		const char *op, time_t expiry, char *out)
{
	char hex[2 * 32 + 1];

	bigfs_assert(strlen(op) <= TOKEN_OP_MAX && expiry >= 0);
	token_mac(s, chunk_id, version, op, (long long)expiry, hex);
	snprintf(out, TOKEN_MAX, "%lld.%s", (long long)expiry, hex);
}

int token_check(const struct secret *s, uint64_t chunk_id, uint32_t version,
		const char *op, const char *token, time_t now)
{
	if (!token || strlen(token) >= TOKEN_MAX || !op || strlen(op) > TOKEN_OP_MAX)
		return -EACCES;
	/* EXPIRY exactly as token_make writes it: digits, no sign, blank or
	 * leading zero (strtoll would take " 017" for 17: a second spelling
	 * of the same token), at most 18 of them (no overflow) */
	const char *end = token;
	long long expiry = 0;
	while (*end >= '0' && *end <= '9' && end - token < 18)
		expiry = expiry * 10 + (*end++ - '0');
	if (end == token || *end != '.' || (token[0] == '0' && end - token > 1))
		return -EACCES;
	if (expiry < (long long)now)
		return -EACCES;
	char hex[2 * 32 + 1];
	token_mac(s, chunk_id, version, op, expiry, hex);
	const char *given = end + 1;
	size_t len = strlen(hex);
	if (strlen(given) != len)
		return -EACCES;
	return CRYPTO_memcmp(hex, given, len) == 0 ? 0 : -EACCES;
}
