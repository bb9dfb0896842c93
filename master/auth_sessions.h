/* auth_sessions — who is calling the master: the exports in force, the
 * authenticated sessions of mounts, and the replay memory of cluster
 * calls (protocol in common/auth.h, format in docs/exports.md).
 *
 * A mount logs in once (challenge, then login with a proof of the export's
 * password); the session it gets carries a copy of what its export rule
 * allows (struct asess_export) and a key that signs every later call.
 * Sessions live in memory only: a master restart, an exports reload
 * (SIGHUP) or ASESS_IDLE_S without a call forgets them, and the mount's
 * next call gets 401 EKEYEXPIRED and logs in again under the rules then in
 * force. */
#ifndef BIGFS_MASTER_AUTH_SESSIONS_H
#define BIGFS_MASTER_AUTH_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define ASESS_IDLE_S 900            /* a session unused this long is dropped */
#define ASESS_MAX 65536             /* sessions at most; the longest idle goes first */
#define ASESS_NONCE_TTL_S 60        /* a challenge must be answered within this */

struct asess;
struct exports;

/* What a session may do: its export rule, resolved at login. */
struct asess_export {
	uint64_t root;          /* inode of the mounted folder */
	bool whole;             /* root is the namespace's root: nothing to check */
	bool ro;
	bool maproot, mapall;
	uint32_t map_uid, map_gid;
	uint32_t mingoal, maxgoal;
	int line;               /* the rule's line, for logs */
	uint64_t gen;           /* rules generation at login */
	char id[AUTH_ID_LEN + 1];
};

/* ex (ownership taken; NULL: the built-in default, everyone may mount /
 * read-write). 0 or -ENOMEM. */
int asess_new(struct exports *ex, struct asess **ret);
void asess_free(struct asess *as);
/* Replace the rules (ownership taken) and forget every session. */
void asess_set_exports(struct asess *as, struct exports *ex);
size_t asess_count(struct asess *as);

/* A fresh challenge nonce (AUTH_NONCE_MAX bytes), valid ASESS_NONCE_TTL_S. */
int asess_challenge(struct asess *as, char *out);

/* Login step 1: checks that nonce is one of ours and fresh (-EKEYEXPIRED),
 * that a rule lets addr mount path (-EACCES, why in *ret_why) and that
 * proof matches its password (-EACCES). On success fills *ret (root not
 * yet known), the session key and the server's proof. */
int asess_login_check(struct asess *as, uint32_t addr, const char *nonce, const char *cnonce,
		      const char *path, const char *proof, struct asess_export *ret,
		      unsigned char key[AUTH_KEY_LEN], char *server_proof,
		      const char **ret_why);
/* Login step 2: the session, now that its root is known; ret->id gets its
 * id. 0 or -ENOMEM / -EKEYEXPIRED (the rules were reloaded meanwhile). */
int asess_add(struct asess *as, struct asess_export *exp, const unsigned char key[AUTH_KEY_LEN]);

/* Check one signed call (header: its Authorization value, may be NULL).
 * 0 with the session's export in *ret; -EKEYEXPIRED (no such session, or
 * no header), -EKEYREJECTED (malformed, wrong MAC, replayed sequence). */
int asess_check(struct asess *as, const char *header, const char *method, const char *path,
		const void *body, size_t body_len, struct asess_export *ret);

/* A cluster call signed with the cluster secret: 0, -EKEYEXPIRED (no
 * header), -EKEYREJECTED (bad, replayed or too old), -EAGAIN (more than
 * ASESS_CLUSTER_CALLS calls within the time a signature stays valid: the
 * nonces that prove they are not replays cannot all be remembered). */
#define ASESS_CLUSTER_CALLS 4096
int asess_cluster_check(struct asess *as, const void *secret, size_t secret_len,
			const char *header, const char *method, const char *path,
			const void *body, size_t body_len);

#endif
