/* auth — the cryptography of BigFS sessions and cluster calls, shared by
 * the master (which checks) and its clients (which sign).
 *
 * Client sessions (docs/api.md "Authentication"):
 *   1. POST /v1/auth/challenge {}            -> {"nonce": N}
 *   2. the client picks a random cnonce C and proves it knows the
 *      export's password P without sending it:
 *        proof = HMAC-SHA256(P, "bigfs-login\n" N "\n" C "\n" PATH)
 *      POST /v1/auth/login {"nonce", "cnonce", "path", "proof"}
 *      -> {"auth": ID, "root", "ro", "server_proof", ...}
 *      Both sides derive the session key
 *        K = HMAC-SHA256(P, "bigfs-key\n" N "\n" C)
 *      and the client checks
 *        server_proof = HMAC-SHA256(P, "bigfs-server\n" N "\n" C)
 *      (a master that does not know P cannot answer it).
 *   3. every later call carries
 *        Authorization: BigFS ID SEQ MAC
 *      MAC = HMAC-SHA256(K, METHOD "\n" PATH "\n" SEQ "\n" BODY), SEQ a
 *      per-session counter (1, 2, ...). The master keeps a window of the
 *      last AUTH_WINDOW sequence numbers it saw: a repeated or too old SEQ
 *      is a replay and refused, so is any change to method, path or body.
 *
 * Cluster calls (worker -> master): the cluster secret S signs
 *        Authorization: BigFS-Cluster TIME NONCE MAC
 *      MAC = HMAC-SHA256(S, "bigfs-cluster\n" METHOD "\n" PATH "\n" TIME
 *                           "\n" NONCE "\n" BODY)
 *   TIME (Unix seconds) must be within AUTH_CLUSTER_SKEW_S of the
 *   master's clock; the master remembers recent NONCEs to refuse replays.
 *
 * Every MAC and proof travels as 64 lower-case hex digits; comparisons
 * are constant-time. Stateless except struct auth_window, which the
 * caller locks. */
#ifndef BIGFS_AUTH_H
#define BIGFS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_HEX_LEN 64            /* a MAC in hex, without the NUL */
#define AUTH_ID_LEN 32             /* session ids and nonces: 16 random bytes in hex */
#define AUTH_NONCE_MAX 128         /* a challenge nonce as the master formats it */
#define AUTH_PASSWORD_MAX 255
#define AUTH_HEADER_MAX 192        /* an Authorization value, with the NUL */
#define AUTH_WINDOW 1024           /* sequence numbers remembered per session */
#define AUTH_CLUSTER_SKEW_S 300

/* HMAC-SHA256(key, msg) into out: 0, or -ENOMEM. Fast (no allocation per
 * call): the one HMAC of BigFS, also behind common/token.c. */
int auth_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		     unsigned char out[AUTH_KEY_LEN]);

/* hex of HMAC-SHA256(key, the n parts (at most 8) joined by "\n") then
 * "\n" and the body (body may be NULL when body_len is 0). out holds
 * AUTH_HEX_LEN + 1. */
void auth_mac_hex(const void *key, size_t key_len, const char *const *parts, int n,
		  const void *body, size_t body_len, char *out);
/* The raw 32-byte HMAC of the same message (for session keys). */
void auth_mac_raw(const void *key, size_t key_len, const char *const *parts, int n,
		  unsigned char out[AUTH_KEY_LEN]);
/* n bytes as 2n lower-case hex digits and a NUL into out. */
void auth_hex(const unsigned char *in, size_t n, char *out);
/* Constant-time comparison of two NUL-terminated hex strings. */
bool auth_hex_equal(const char *a, const char *b);
/* n random bytes as 2n hex digits into out (2n + 1 bytes). 0 or -errno. */
int auth_random_hex(size_t n, char *out);

/* Client side of a login (formulas above). out holds AUTH_HEX_LEN + 1. */
void auth_login_proof(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		      const char *path, char *out);
void auth_server_proof(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		       char *out);
void auth_session_key(const void *pw, size_t pw_len, const char *nonce, const char *cnonce,
		      unsigned char key[AUTH_KEY_LEN]);

/* "BigFS ID SEQ MAC" for one request into out (AUTH_HEADER_MAX bytes). */
void auth_sign(const unsigned char key[AUTH_KEY_LEN], const char *id, uint64_t seq,
	       const char *method, const char *path, const void *body, size_t body_len,
	       char *out);
/* Split a session Authorization value. id gets AUTH_ID_LEN + 1 bytes, mac
 * AUTH_HEX_LEN + 1. 0, or -EINVAL for anything malformed (wrong scheme,
 * id not 32 hex digits, seq 0 or not a plain decimal, mac not 64 hex). */
int auth_parse(const char *header, char *id, uint64_t *seq, char *mac);
/* Check the MAC of a parsed request with the session key: 0 or -EACCES. */
int auth_verify(const unsigned char key[AUTH_KEY_LEN], uint64_t seq, const char *method,
		const char *path, const void *body, size_t body_len, const char *mac);

/* The path of a URL ("http://h:p/v1/x?q" -> "/v1/x") into out (cap
 * bytes): what a signature covers. 0 or -EINVAL. */
int auth_url_path(const char *url, char *out, size_t cap);

/* Sliding window of sequence numbers already used by one session. */
struct auth_window {
	uint64_t top;                      /* highest accepted, 0 = none yet */
	uint64_t bits[AUTH_WINDOW / 64];   /* bit (top - s) set: s was used */
};
/* Accept seq once: 0, or -EALREADY if it was used or is older than the
 * window. */
int auth_window_accept(struct auth_window *w, uint64_t seq);

/* "BigFS-Cluster TIME NONCE MAC" signed with the cluster secret. */
int auth_cluster_sign(const void *secret, size_t secret_len, const char *method,
		      const char *path, const void *body, size_t body_len, long long now,
		      char *out);
/* Check a cluster Authorization value: 0, -EINVAL (malformed), -EACCES
 * (bad MAC), -ETIMEDOUT (TIME too far from now). *ret_nonce (may be NULL)
 * gets the nonce (AUTH_ID_LEN + 1 bytes) for the caller's replay check. */
int auth_cluster_check(const void *secret, size_t secret_len, const char *method,
		       const char *path, const void *body, size_t body_len,
		       const char *header, long long now, char *ret_nonce);

/* The "bigfs-mac" header of a worker's status message on Kafka (out:
 * AUTH_HEX_LEN + 1 bytes): hex HMAC-SHA256(secret, "bigfs-status\n" KEY
 * "\n" VALUE), KEY the message key (the worker id, at most 64 bytes used). */
void auth_status_mac(const void *secret, size_t secret_len, const void *key, size_t key_len,
		     const void *value, size_t value_len, char *out);

/* An http_sign_fn (http_client.h) for worker calls to the master: arg is
 * the cluster's const struct secret * (token.h). */
int auth_cluster_signer(void *arg, const char *method, const char *url, const void *body,
			size_t body_len, char *out, size_t cap);

#endif
