/* auth_sessions — exports in force, mount sessions, cluster-call replay
 * memory (auth_sessions.h).
 *
 * Owns: the exports set, a random key for challenge nonces (made at start:
 * a nonce outlives neither the process nor ASESS_NONCE_TTL_S), the session
 * table (hash of id -> struct entry) and a ring of recent cluster-call
 * nonces. One mutex guards all of it; HMACs of request bodies are computed
 * outside it (the session key is copied out first, the replay window is
 * updated after).
 *
 * Session life: asess_add -> (asess_check keeps it alive) -> dropped when
 * idle ASESS_IDLE_S (seen at its next check or at a sweep when sessions
 * are added), when the table is full (the longest idle goes), or when the
 * rules change (asess_set_exports forgets all). A dropped session's mount
 * gets 401 EKEYEXPIRED and logs in again. */
#include "auth_sessions.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "exports.h"
#include "log.h"

#define BUCKETS 4096
#define CLUSTER_NONCES ASESS_CLUSTER_CALLS
#define SWEEP_EVERY 256

struct entry {
	struct entry *next;
	struct asess_export exp;
	unsigned char key[AUTH_KEY_LEN];
	struct auth_window win;
	time_t last_used;
};

struct asess {
	pthread_mutex_t lock;
	struct exports *ex;
	uint64_t gen;                    /* bumped by asess_set_exports */
	unsigned char nonce_key[AUTH_KEY_LEN];
	struct entry *buckets[BUCKETS];
	size_t count;
	unsigned adds;
	/* cluster calls: nonces seen in the last AUTH_CLUSTER_SKEW_S * 2 */
	struct {
		char nonce[AUTH_ID_LEN + 1];
		time_t seen;
	} cnonces[CLUSTER_NONCES];
	size_t cnonce_next;
};

static time_t now_s(void)
{
	return (time_t)(clock_now_ms() / 1000);
}

static unsigned bucket_of(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % BUCKETS;
}

int asess_new(struct exports *ex, struct asess **ret)
{
	struct asess *as = calloc(1, sizeof(*as));
	if (!as) {
		exports_free(ex);
		return -ENOMEM;
	}
	if (!ex && exports_default(&ex) < 0) {
		free(as);
		return -ENOMEM;
	}
	if (getrandom(as->nonce_key, sizeof(as->nonce_key), 0) != (ssize_t)sizeof(as->nonce_key)) {
		int e = errno;
		exports_free(ex);
		free(as);
		return -e;
	}
	pthread_mutex_init(&as->lock, NULL);
	as->ex = ex;
	*ret = as;
	return 0;
}

static void drop_all(struct asess *as)
{
	for (size_t b = 0; b < BUCKETS; b++) {
		while (as->buckets[b]) {
			struct entry *e = as->buckets[b];
			as->buckets[b] = e->next;
			explicit_bzero(e, sizeof(*e));
			free(e);
		}
	}
	as->count = 0;
}

void asess_free(struct asess *as)
{
	if (!as)
		return;
	drop_all(as);
	exports_free(as->ex);
	explicit_bzero(as->nonce_key, sizeof(as->nonce_key));
	pthread_mutex_destroy(&as->lock);
	free(as);
}

void asess_set_exports(struct asess *as, struct exports *ex)
{
	pthread_mutex_lock(&as->lock);
	struct exports *old = as->ex;
	size_t n = as->count;
	as->ex = ex;
	as->gen++;
	drop_all(as);
	pthread_mutex_unlock(&as->lock);
	exports_free(old);
	log_info("exports: %zu rules in force; %zu sessions must log in again",
		 exports_count(ex), n);
}

size_t asess_count(struct asess *as)
{
	pthread_mutex_lock(&as->lock);
	size_t n = as->count;
	pthread_mutex_unlock(&as->lock);
	return n;
}

/* ---- challenges ------------------------------------------------------- */

static void nonce_mac(const struct asess *as, const char *t, const char *rnd, char *out)
{
	const char *parts[] = { "bigfs-challenge", t, rnd };
	auth_mac_hex(as->nonce_key, sizeof(as->nonce_key), parts, 3, NULL, 0, out);
	out[32] = '\0';   /* half the MAC is plenty for a 60-second nonce */
}

int asess_challenge(struct asess *as, char *out)
{
	char t[24], rnd[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1];
	int rc = auth_random_hex(AUTH_ID_LEN / 2, rnd);
	if (rc < 0)
		return rc;
	snprintf(t, sizeof(t), "%lld", (long long)now_s());
	nonce_mac(as, t, rnd, mac);
	snprintf(out, AUTH_NONCE_MAX, "%s.%s.%s", t, rnd, mac);
	return 0;
}

/* 0 if nonce is one asess_challenge made less than ASESS_NONCE_TTL_S ago. */
static int nonce_check(const struct asess *as, const char *nonce)
{
	char t[24], rnd[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1];
	const char *dot1 = strchr(nonce, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot2 || dot1 - nonce < 1 || dot1 - nonce >= (long)sizeof(t) ||
	    dot2 - dot1 - 1 != AUTH_ID_LEN || strlen(dot2 + 1) != 32)
		return -EKEYEXPIRED;
	memcpy(t, nonce, (size_t)(dot1 - nonce));
	t[dot1 - nonce] = '\0';
	memcpy(rnd, dot1 + 1, AUTH_ID_LEN);
	rnd[AUTH_ID_LEN] = '\0';
	nonce_mac(as, t, rnd, mac);
	if (!auth_hex_equal(mac, dot2 + 1))
		return -EKEYEXPIRED;
	char *end;
	long long made = strtoll(t, &end, 10);
	long long age = (long long)now_s() - made;
	if (*end || age < 0 || age > ASESS_NONCE_TTL_S)
		return -EKEYEXPIRED;
	return 0;
}

/* ---- login ------------------------------------------------------------ */

int asess_login_check(struct asess *as, uint32_t addr, const char *nonce, const char *cnonce,
		      const char *path, const char *proof, struct asess_export *ret,
		      unsigned char key[AUTH_KEY_LEN], char *server_proof,
		      const char **ret_why)
{
	char want[AUTH_HEX_LEN + 1];
	int rc = nonce_check(as, nonce);
	if (rc < 0) {
		*ret_why = "the challenge is unknown or older than a minute";
		return rc;
	}
	pthread_mutex_lock(&as->lock);
	const struct export_rule *rule = exports_match(as->ex, addr, path);
	if (!rule) {
		pthread_mutex_unlock(&as->lock);
		*ret_why = "no export rule lets this address mount this folder";
		return -EACCES;
	}
	auth_login_proof(rule->password, rule->password_len, nonce, cnonce, path, want);
	if (rule->has_password && !auth_hex_equal(want, proof)) {
		pthread_mutex_unlock(&as->lock);
		*ret_why = "wrong password for this export";
		return -EACCES;
	}
	memset(ret, 0, sizeof(*ret));
	ret->ro = rule->ro;
	ret->maproot = rule->maproot;
	ret->mapall = rule->mapall;
	ret->map_uid = rule->map_uid;
	ret->map_gid = rule->map_gid;
	ret->mingoal = rule->mingoal;
	ret->maxgoal = rule->maxgoal;
	ret->line = rule->line;
	ret->gen = as->gen;
	auth_session_key(rule->password, rule->password_len, nonce, cnonce, key);
	auth_server_proof(rule->password, rule->password_len, nonce, cnonce, server_proof);
	pthread_mutex_unlock(&as->lock);
	return 0;
}

static void unlink_entry(struct asess *as, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	explicit_bzero(e, sizeof(*e));
	free(e);
	as->count--;
}

/* Drop idle sessions; if still full, the longest idle one. */
static void sweep(struct asess *as, time_t now)
{
	struct entry **oldest = NULL;
	for (size_t b = 0; b < BUCKETS; b++) {
		for (struct entry **pp = &as->buckets[b]; *pp;) {
			if (now - (*pp)->last_used > ASESS_IDLE_S) {
				unlink_entry(as, pp);
				continue;
			}
			if (!oldest || (*pp)->last_used < (*oldest)->last_used)
				oldest = pp;
			pp = &(*pp)->next;
		}
	}
	if (as->count >= ASESS_MAX && oldest)
		unlink_entry(as, oldest);
}

int asess_add(struct asess *as, struct asess_export *exp, const unsigned char key[AUTH_KEY_LEN])
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int rc = auth_random_hex(AUTH_ID_LEN / 2, exp->id);
	if (rc < 0) {
		free(e);
		return rc;
	}
	e->exp = *exp;
	memcpy(e->key, key, AUTH_KEY_LEN);
	pthread_mutex_lock(&as->lock);
	if (exp->gen != as->gen) {
		pthread_mutex_unlock(&as->lock);
		free(e);
		return -EKEYEXPIRED;
	}
	e->last_used = now_s();
	if (++as->adds % SWEEP_EVERY == 0 || as->count >= ASESS_MAX)
		sweep(as, e->last_used);
	unsigned b = bucket_of(exp->id);
	e->next = as->buckets[b];
	as->buckets[b] = e;
	as->count++;
	pthread_mutex_unlock(&as->lock);
	return 0;
}

static struct entry **find(struct asess *as, const char *id)
{
	for (struct entry **pp = &as->buckets[bucket_of(id)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->exp.id, id) == 0)
			return pp;
	return NULL;
}

int asess_check(struct asess *as, const char *header, const char *method, const char *path,
		const void *body, size_t body_len, struct asess_export *ret)
{
	char id[AUTH_ID_LEN + 1], mac[AUTH_HEX_LEN + 1];
	unsigned char key[AUTH_KEY_LEN];
	uint64_t seq;

	if (!header)
		return -EKEYEXPIRED;
	if (auth_parse(header, id, &seq, mac) < 0)
		return -EKEYREJECTED;
	pthread_mutex_lock(&as->lock);
	struct entry **pp = find(as, id);
	time_t now = now_s();
	if (pp && now - (*pp)->last_used > ASESS_IDLE_S) {
		unlink_entry(as, pp);
		pp = NULL;
	}
	if (!pp) {
		pthread_mutex_unlock(&as->lock);
		return -EKEYEXPIRED;
	}
	memcpy(key, (*pp)->key, sizeof(key));
	pthread_mutex_unlock(&as->lock);

	int rc = auth_verify(key, seq, method, path, body, body_len, mac);
	explicit_bzero(key, sizeof(key));
	if (rc < 0)
		return -EKEYREJECTED;

	pthread_mutex_lock(&as->lock);
	pp = find(as, id);    /* it may have gone meanwhile */
	if (!pp) {
		rc = -EKEYEXPIRED;
	} else if (auth_window_accept(&(*pp)->win, seq) < 0) {
		rc = -EKEYREJECTED;
	} else {
		(*pp)->last_used = now;
		*ret = (*pp)->exp;
	}
	pthread_mutex_unlock(&as->lock);
	return rc;
}

/* Ring slot i holds a nonce whose call could still pass the time check. */
static bool fresh_nonce(const struct asess *as, size_t i, time_t now)
{
	return as->cnonces[i].seen && now - as->cnonces[i].seen <= 2 * AUTH_CLUSTER_SKEW_S + 1;
}

int asess_cluster_check(struct asess *as, const void *secret, size_t secret_len,
			const char *header, const char *method, const char *path,
			const void *body, size_t body_len)
{
	char nonce[AUTH_ID_LEN + 1];

	if (!header)
		return -EKEYEXPIRED;
	int rc = auth_cluster_check(secret, secret_len, method, path, body, body_len, header,
				    (long long)time(NULL), nonce);
	if (rc < 0)
		return -EKEYREJECTED;
	time_t now = now_s();
	pthread_mutex_lock(&as->lock);
	for (size_t i = 0; i < CLUSTER_NONCES; i++) {
		if (fresh_nonce(as, i, now) && strcmp(as->cnonces[i].nonce, nonce) == 0) {
			rc = -EKEYREJECTED;
			break;
		}
	}
	/* the ring forgets only nonces whose TIME can no longer pass the
	 * skew check: when the oldest is still fresh, the call must wait */
	if (rc == 0 && fresh_nonce(as, as->cnonce_next, now))
		rc = -EAGAIN;
	if (rc == 0) {
		memcpy(as->cnonces[as->cnonce_next].nonce, nonce, sizeof(nonce));
		as->cnonces[as->cnonce_next].seen = now;
		as->cnonce_next = (as->cnonce_next + 1) % CLUSTER_NONCES;
	}
	pthread_mutex_unlock(&as->lock);
	return rc;
}
