/* token — data-access tokens the master signs and workers check.
 *
 * A token is "EXPIRY.HMAC": EXPIRY is a Unix time in seconds, HMAC is
 * HMAC-SHA256 with the cluster secret over "chunk_id:version:op:expiry"
 * (chunk id as 16 hex digits, version decimal), written as 64 hex digits.
 * Ops: "r" read, "w" write/truncate/fsync, "d" delete, "p" replicate into
 * this worker, "c" clone into this chunk from another on the same worker
 * (snapshots: for the new chunk id and version; the call carries an "r"
 * token for the source too), "l" list (chunk_id 0, version 0). The
 * cluster secret is a file of 32+ random bytes shared by master and
 * workers. */
#ifndef BIGFS_TOKEN_H
#define BIGFS_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TOKEN_MAX 96       /* buffer size for a token, with the NUL */
#define SECRET_MAX 256
#define TOKEN_OP_MAX 8     /* longest op token_make signs */

struct secret {
	unsigned char key[SECRET_MAX];
	size_t len;
};

/* Read a secret file (32..256 bytes used as is). 0 or -errno. */
int secret_load(const char *path, struct secret *ret);
/* Create path with 32 random bytes, mode 0600, if it does not exist yet;
 * then load it. 0 or -errno. */
int secret_load_or_create(const char *path, struct secret *ret);

/* Sign. out holds TOKEN_MAX bytes. op is at most TOKEN_OP_MAX bytes and
 * expiry >= 0 (a caller's bug otherwise: aborts). */
void token_make(const struct secret *s, uint64_t chunk_id, uint32_t version,
		const char *op, time_t expiry, char *out);
/* Check a token against what the call is about and the current time.
 * 0 if valid; -EACCES if malformed (EXPIRY not written the way token_make
 * writes it, op longer than TOKEN_OP_MAX), forged, for something else, or
 * expired. */
int token_check(const struct secret *s, uint64_t chunk_id, uint32_t version,
		const char *op, const char *token, time_t now);

#endif
