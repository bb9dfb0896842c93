/* master_client — HTTP/JSON calls to the master, with retry (see
 * master_client.h).
 *
 * Owns: the list of masters (common/master_list: which one calls go to
 * now is an atomic there, shared by every thread), the per-thread HTTP
 * clients (thread_http), and a stop flag with the condition variable
 * that backoff waits on. `lock` guards `stopping`; the login data and
 * session under `auth_lock` (below); everything else is written once in
 * master_client_new and only read afterwards.
 *
 * One call, with several masters (one: the same without the switches):
 *
 *   call the current master
 *     answer (not a standby's) ----------------------------> done
 *     401 --------> log in again at the current master, call again
 *     no answer, or a standby's 503 ("role": "standby")
 *       --> switch (the standby's listed hint, else the next master)
 *           first pass through the list: call again at once
 *           afterwards: backoff (50 ms doubling to 1 s), call again
 *     master_timeout passed ----------------------------> -EIO
 *
 * A login that meets a dead master or a standby is such a failure too.
 * The master switched to does not know this mount's login: its first
 * answer is a 401, and the login again is the one a master restart
 * causes (client_session and lock_ops then re-open the session and
 * re-declare opens and locks, as after a restart).
 *
 * Does not: know what an operation means. Callers build the request and
 * read the reply; this module only moves it and turns failures into one
 * errno (master_client_errno below is the single conversion point). A
 * standby's EAGAIN never reaches a caller (lock_ops would take it for a
 * conflict). */
#include "auth.h"
#include "clock.h"
#include "hash.h"
#include "master_client.h"
#include "metrics.h"

#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "master_list.h"
#include "thread_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MC_BACKOFF_FIRST_MS 50
#define MC_BACKOFF_MAX_MS 1000
#define MC_REQUEST_TIMEOUT_MS 10000
#define MC_CONNECT_TIMEOUT_MS 2000

struct master_client {
	struct master_list *ml;    /* owned; its current index is shared */
	long timeout_ms;           /* master_timeout */
	struct thread_http *http;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* signalled by master_client_stop */
	bool stopping;
	/* authentication: login data written once before the first call;
	 * the session under auth_lock (held through a login, so one thread
	 * logs in while the others wait for its result) */
	unsigned char password[AUTH_PASSWORD_MAX];
	size_t password_len;
	char path[4096];
	pthread_mutex_t auth_lock;
	uint64_t auth_gen;         /* bumped by every login */
	char auth_id[AUTH_ID_LEN + 1];   /* "" until logged in */
	unsigned char key[AUTH_KEY_LEN];
	atomic_uint_fast64_t seq;
	_Atomic uint64_t root;     /* master inode of the mounted folder */
	atomic_uint_fast64_t mutations;   /* master_client_mutations */
	/* the inodes changes named (master_client_changed): under mark_lock */
	pthread_mutex_t mark_lock;
	struct mc_mark *marks;     /* MC_MARKS, open addressing */
	size_t nmarks;
	unsigned floor_pending;    /* changes naming no inode on their way, */
	uint64_t floor_seq;        /* and the mutation count when the last one ended */
	unsigned links_pending;    /* removals on their way (other names' link */
	uint64_t links_seq;        /* counts), and the count when the last ended */
	unsigned inflight;         /* changes on their way, of any kind */
	int64_t last_ms;           /* when the last of any kind ended */
	bool wiped;                /* marks were forgotten with changes on their way: all
				    * count as changed until none is */
	atomic_uint_fast64_t changes;     /* master_client_changes */
	bool ro;
	bool maps;
};

/* One signing of a call: the session as it was when the call was made. */
struct mc_signer {
	struct master_client *mc;
	uint64_t gen;
};

/* A failure another master could fix: master idx gave no answer, or
 * answered as a standby (naming hint as active, "" if not). */
struct mc_fail {
	bool failover;
	size_t idx;
	char hint[MASTER_ADDR_MAX];
	char reason[MASTER_ADDR_MAX + 64];
};

/* An inode a change of this mount named: how many such changes are on
 * their way, the mutation count when the last ended, and when. */
struct mc_mark {
	uint64_t ino;                /* 0: free */
	unsigned pending;
	uint64_t seq;
	int64_t ms;
};

int master_client_new(const char *masters, long master_timeout_ms,
		      struct master_client **ret)
{
	struct master_list *ml;
	char err[512];
	int rc = master_list_parse(masters, &ml, err, sizeof(err));
	if (rc < 0)
		return rc;
	rc = master_client_new_list(ml, master_timeout_ms, ret);
	if (rc < 0)
		master_list_free(ml);
	return rc;
}

int master_client_new_list(struct master_list *ml, long master_timeout_ms,
			   struct master_client **ret)
{
	struct master_client *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	mc->timeout_ms = master_timeout_ms;
	long req_timeout = MC_REQUEST_TIMEOUT_MS;
	if (master_timeout_ms > 0 && master_timeout_ms < req_timeout)
		req_timeout = master_timeout_ms;
	if (req_timeout < 500)
		req_timeout = 500;
	int rc = thread_http_new(req_timeout, MC_CONNECT_TIMEOUT_MS, &mc->http);
	if (rc) {
		free(mc);
		return rc;
	}
	mc->marks = calloc(MC_MARKS, sizeof(*mc->marks));
	if (!mc->marks) {
		thread_http_free(mc->http);
		free(mc);
		return -ENOMEM;
	}
	mc->ml = ml;
	pthread_mutex_init(&mc->mark_lock, NULL);
	pthread_mutex_init(&mc->lock, NULL);
	pthread_mutex_init(&mc->auth_lock, NULL);
	clock_cond_init(&mc->cond);
	snprintf(mc->path, sizeof(mc->path), "/");
	atomic_init(&mc->seq, 0);
	atomic_init(&mc->root, 1);
	*ret = mc;
	return 0;
}

void master_client_stop(struct master_client *mc)
{
	pthread_mutex_lock(&mc->lock);
	mc->stopping = true;
	pthread_cond_broadcast(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
}

void master_client_free(struct master_client *mc)
{
	if (!mc)
		return;
	master_client_stop(mc);
	thread_http_free(mc->http);
	pthread_cond_destroy(&mc->cond);
	pthread_mutex_destroy(&mc->lock);
	pthread_mutex_destroy(&mc->auth_lock);
	pthread_mutex_destroy(&mc->mark_lock);
	free(mc->marks);
	explicit_bzero(mc->password, sizeof(mc->password));
	explicit_bzero(mc->key, sizeof(mc->key));
	master_list_free(mc->ml);
	free(mc);
}

struct master_list *master_client_masters(struct master_client *mc)
{
	return mc->ml;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait ms (less if stopped). Returns false if the client is stopping. */
static bool mc_backoff_wait(struct master_client *mc, long ms)
{
	struct timespec ts = clock_deadline_ms(ms);
	pthread_mutex_lock(&mc->lock);
	while (!mc->stopping) {
		if (pthread_cond_timedwait(&mc->cond, &mc->lock, &ts) == ETIMEDOUT)
			break;
	}
	bool ok = !mc->stopping;
	pthread_mutex_unlock(&mc->lock);
	return ok;
}

/* The single conversion from what came back to the errno the kernel gets:
 * the master's errno unchanged when it answered; EIO for a transport
 * failure that outlived the deadline or anything out of range. */
static int master_client_errno(int rc, long status)
{
	if (rc >= 0)
		return rc;
	if (status == 0)
		return -EIO;
	if (rc <= -4096)
		return -EIO;
	return rc;
}


/* ---- which master ---------------------------------------------------------- */

/* The URL of path (after "/v1/") at master idx. 0 or -ENAMETOOLONG. */
static int mc_url(const struct master_client *mc, size_t idx, const char *path, char *out,
		  size_t cap)
{
	if (snprintf(out, cap, "http://%s/v1/%s", master_list_addr(mc->ml, idx), path) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Note in f whether what master f->idx did (rc, status, error body) is a
 * failure another master could fix: no answer at all, or a standby's
 * refusal. */
static void mc_fail_note(struct mc_fail *f, int rc, long status, const json_t *errb)
{
	if (rc < 0 && status == 0) {
		f->failover = true;
		snprintf(f->reason, sizeof(f->reason), "%s", strerror(-rc));
	} else if (master_list_is_standby_reply(status, errb)) {
		const char *h = master_list_reply_active(errb);
		f->failover = true;
		snprintf(f->hint, sizeof(f->hint), "%s", h ? h : "");
		snprintf(f->reason, sizeof(f->reason), "standby%s%s", h ? ", active is " : "",
			 h ? h : "");
	}
}

/* ---- authentication ---------------------------------------------------- */

int master_client_set_login(struct master_client *mc, const void *password, size_t len,
			    const char *path)
{
	if (len > sizeof(mc->password) || strlen(path) >= sizeof(mc->path) || path[0] != '/')
		return -EINVAL;
	memcpy(mc->password, password, len);
	mc->password_len = len;
	snprintf(mc->path, sizeof(mc->path), "%s", path);
	return 0;
}

/* Challenge and login with the stored password at the current master;
 * caller holds auth_lock. 0, or -errno with why filled; when that master
 * did not answer or is a standby, *fail says so (fail->idx: the master
 * asked). */
static int mc_login_locked(struct master_client *mc, char *why, size_t whylen,
			   struct mc_fail *fail)
{
	char url[MASTER_ADDR_MAX + 64], cnonce[AUTH_ID_LEN + 1], proof[AUTH_HEX_LEN + 1],
		sp[AUTH_HEX_LEN + 1];
	const char *nonce, *id, *their_sp;
	json_t *ch = NULL, *req = NULL, *resp = NULL, *errb = NULL;
	long status = 0;
	uint64_t root;
	bool ro = false;
	int rc;

	struct http_client *c = thread_http_get(mc->http);
	if (!c)
		return -ENOMEM;
	size_t idx = master_list_current(mc->ml);
	*fail = (struct mc_fail){ .idx = idx };
	if ((rc = mc_url(mc, idx, "auth/challenge", url, sizeof(url))) < 0)
		return rc;
	rc = http_json_signed_ex(c, "POST", url, NULL, NULL, NULL, &ch, &status, &errb);
	mc_fail_note(fail, rc, status, errb);
	json_decref(errb);
	if (rc < 0 || !ch || ju_str(ch, "nonce", AUTH_NONCE_MAX, &nonce) < 0) {
		snprintf(why, whylen, "the master gave no login challenge: %s",
			 rc < 0 ? strerror(-rc) : "malformed answer");
		rc = rc < 0 ? (status == 0 ? rc : master_client_errno(rc, status)) : -EPROTO;
		goto out_free;
	}
	if ((rc = auth_random_hex(AUTH_ID_LEN / 2, cnonce)) < 0)
		goto out_free;
	auth_login_proof(mc->password, mc->password_len, nonce, cnonce, mc->path, proof);
	req = json_pack("{s:s, s:s, s:s, s:s}", "nonce", nonce, "cnonce", cnonce, "path",
			mc->path, "proof", proof);
	if (!req) {
		rc = -ENOMEM;
		goto out_free;
	}
	if ((rc = mc_url(mc, idx, "auth/login", url, sizeof(url))) < 0)
		goto out_free;
	size_t body_len;
	char *body = ju_dump(req, &body_len);
	if (!body) {
		rc = -ENOMEM;
		goto out_free;
	}
	struct http_call call = { .method = "POST", .url = url, .content_type = "application/json",
				  .body = body, .body_len = body_len };
	rc = http_client_call(c, &call);
	free(body);
	resp = rc == 0 && call.out_len ? ju_parse_object(call.out_alloc, call.out_len) : NULL;
	free(call.out_alloc);
	mc_fail_note(fail, rc, rc < 0 ? 0 : call.status, resp);
	if (rc < 0) {
		snprintf(why, whylen, "cannot reach the master: %s", strerror(-rc));
		goto out_free;
	}
	if (fail->failover) {
		snprintf(why, whylen, "the master at %s is a standby", master_list_addr(mc->ml, idx));
		rc = -EAGAIN;
		goto out_free;
	}
	if (call.status != 200) {
		/* the master's message says why (no rule, wrong password) */
		const char *msg = NULL;
		uint32_t e = EACCES;
		if (resp) {
			ju_str(resp, "message", 1024, &msg);
			ju_u32(resp, "errno", &e);
		}
		snprintf(why, whylen, "%s", msg ? msg : "the master refused the login");
		rc = e > 0 && e < 4096 ? -(int)e : -EACCES;
		goto out_free;
	}
	if (!resp || ju_str(resp, "auth", AUTH_ID_LEN + 1, &id) < 0 || strlen(id) != AUTH_ID_LEN ||
	    ju_u64(resp, "root", &root) < 0 || root == 0 || ju_bool(resp, "ro", &ro) < 0 ||
	    ju_str(resp, "server_proof", AUTH_HEX_LEN + 1, &their_sp) < 0) {
		snprintf(why, whylen, "the master's login answer is malformed");
		rc = -EPROTO;
		goto out_free;
	}
	auth_server_proof(mc->password, mc->password_len, nonce, cnonce, sp);
	if (!auth_hex_equal(sp, their_sp)) {
		snprintf(why, whylen, "the master could not prove it knows the export's password "
			 "(not the master you meant?)");
		rc = -EPROTO;
		goto out_free;
	}
	auth_session_key(mc->password, mc->password_len, nonce, cnonce, mc->key);
	memcpy(mc->auth_id, id, AUTH_ID_LEN + 1);
	atomic_store(&mc->seq, 0);
	atomic_store(&mc->root, root);
	mc->ro = ro;
	mc->maps = json_object_get(resp, "maproot") || json_object_get(resp, "mapall");
	mc->auth_gen++;
	rc = 0;
out_free:
	json_decref(ch);
	json_decref(req);
	json_decref(resp);
	return rc;
}

int master_client_login(struct master_client *mc, struct mc_login_info *ret, char *why,
			size_t whylen)
{
	size_t n = master_list_count(mc->ml);
	int rc = -EIO;
	pthread_mutex_lock(&mc->auth_lock);
	/* one pass through the list past masters that are gone or standbys */
	for (size_t attempt = 0; attempt < n; attempt++) {
		struct mc_fail fail;
		rc = mc_login_locked(mc, why, whylen, &fail);
		if (rc == 0 || !fail.failover || n == 1)
			break;
		master_list_switch(mc->ml, fail.idx, fail.hint[0] ? fail.hint : NULL, fail.reason);
	}
	if (rc == 0) {
		ret->root = atomic_load(&mc->root);
		ret->ro = mc->ro;
		ret->maps = mc->maps;
	}
	pthread_mutex_unlock(&mc->auth_lock);
	return rc;
}

/* After a 401 to a call signed under generation gen: log in again unless
 * another thread already did. 0 or -errno; *fail says whether the master
 * asked did not answer or was a standby. */
static int mc_relogin(struct master_client *mc, uint64_t gen, struct mc_fail *fail)
{
	char why[256];
	int rc = 0;
	pthread_mutex_lock(&mc->auth_lock);
	if (mc->auth_gen == gen) {
		rc = mc_login_locked(mc, why, sizeof(why), fail);
		const char *addr = master_list_addr(mc->ml, fail->idx);
		if (rc < 0)
			log_warn("master %s: login again failed: %s", addr, why);
		else
			log_info("master %s: logged in again (the master forgot the session)", addr);
	}
	pthread_mutex_unlock(&mc->auth_lock);
	return rc;
}

/* http_sign_fn: "BigFS ID SEQ MAC" with the current session. */
static int mc_sign(void *arg, const char *method, const char *url, const void *body,
		   size_t body_len, char *out, size_t cap)
{
	struct mc_signer *sg = arg;
	struct master_client *mc = sg->mc;
	char path[512], id[AUTH_ID_LEN + 1];
	unsigned char key[AUTH_KEY_LEN];

	if (cap < AUTH_HEADER_MAX || auth_url_path(url, path, sizeof(path)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&mc->auth_lock);
	memcpy(id, mc->auth_id, sizeof(id));
	memcpy(key, mc->key, sizeof(key));
	sg->gen = mc->auth_gen;
	pthread_mutex_unlock(&mc->auth_lock);
	if (!id[0])
		snprintf(id, sizeof(id), "%0*d", AUTH_ID_LEN, 0);  /* never logged in: 401 */
	uint64_t seq = atomic_fetch_add(&mc->seq, 1) + 1;
	auth_sign(key, id, seq, method, path, body, body_len, out);
	explicit_bzero(key, sizeof(key));
	return 0;
}

/* ---- inode numbers of a mounted subfolder -------------------------------- */

static const char *const MC_INO_KEYS[] = { "ino", "parent", "newparent", "src_ino", "replaced",
					    NULL };
static const char *const MC_INO_ARRAYS[] = { "inos", "atime", "opens", "close", "lost_opens",
					      NULL };

static bool key_in(const char *key, const char *const *set)
{
	for (int i = 0; set[i]; i++)
		if (strcmp(key, set[i]) == 0)
			return true;
	return false;
}

/* Replace inode number `from` by `to` wherever v names inodes. */
static void mc_remap(json_t *v, uint64_t from, uint64_t to, int depth)
{
	const char *key;
	json_t *m;
	size_t i;
	if (depth > 8)
		return;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			mc_remap(m, from, to, depth + 1);
		return;
	}
	json_object_foreach(v, key, m) {
		if (json_is_integer(m) && key_in(key, MC_INO_KEYS)) {
			if ((uint64_t)json_integer_value(m) == from)
				json_integer_set(m, (json_int_t)to);
		} else if (json_is_array(m) && key_in(key, MC_INO_ARRAYS)) {
			json_t *e;
			json_array_foreach(m, i, e)
				if (json_is_integer(e) && (uint64_t)json_integer_value(e) == from)
					json_integer_set(e, (json_int_t)to);
		} else if (json_is_object(m) || json_is_array(m)) {
			mc_remap(m, from, to, depth + 1);
		}
	}
}

/* Calls that change nothing a lookup answers (names, attributes but
 * read atimes). Any other call may: the safe side for an op not listed. */
static const char *const MC_READ_ONLY[] = {
	"lookup", "getattr", "readdir", "readlink", "getxattr", "listxattr", "open",
	"statfs", "events", "atime", "chunks", "access", "session/open",
	"session/heartbeat", "lock", "sync", "quota/room", NULL,
};

static bool mc_read_only(const char *op)
{
	for (int i = 0; MC_READ_ONLY[i]; i++)
		if (strcmp(op, MC_READ_ONLY[i]) == 0)
			return true;
	return false;
}

uint64_t master_client_mutations(struct master_client *mc)
{
	return atomic_load(&mc->mutations);
}

uint64_t master_client_changes(struct master_client *mc)
{
	return atomic_load(&mc->changes);
}

static int mc_call(struct master_client *mc, const char *op, const json_t *req,
		   unsigned flags, json_t **ret_resp, bool *ret_retried);

/* Lock held: ino's mark, made if need be (NULL: none, or the table is
 * half full). */
static struct mc_mark *mark_of(struct master_client *mc, uint64_t ino, bool make)
{
	size_t mask = MC_MARKS - 1;
	for (size_t i = hash_mix64(ino) & mask;; i = (i + 1) & mask) {
		struct mc_mark *m = &mc->marks[i];
		if (m->ino == ino)
			return m;
		if (m->ino == 0) {
			if (!make || mc->nmarks >= MC_MARKS / 2)
				return NULL;
			m->ino = ino;
			mc->nmarks++;
			return m;
		}
	}
}

/* Add ino to inos[0..*n) unless there; false if there is no room. */
static bool target_add(uint64_t inos[MC_TARGETS], int *n, const json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return true;
	uint64_t ino = (uint64_t)json_integer_value(v);
	for (int i = 0; i < *n; i++)
		if (inos[i] == ino)
			return true;
	if (*n == MC_TARGETS)
		return false;
	inos[(*n)++] = ino;
	return true;
}

/* What a change does to the marks (master_client_changed). */
enum mc_reach {
	MC_NAMED,   /* changes only the inodes it names */
	MC_LINKS,   /* and the link count of the removed file's other names */
	MC_ANY,     /* may change any inode */
};

/* An op changes its folder ("parent", "newparent") and inode ("ino",
 * "src_ino"); an unlink or rmdir also the link count (and ctime) of the
 * removed file's other names, if it had any; a rename may replace a
 * file, whose other names then lose a link, and changes the inode it
 * moves (its ctime, a folder's ".."), which its request does not name:
 * the master's reply does (renamed_inos). In a batch, an op other than
 * those known to change only what they name may change anything. */
static enum mc_reach op_reach(const char *kind, bool batch)
{
	static const char *const batched[] = { "create", "setattr", "commit", NULL };
	if (!kind)
		return MC_ANY;
	if (strcmp(kind, "unlink") == 0 || strcmp(kind, "rmdir") == 0 ||
	    strcmp(kind, "rename") == 0)
		return MC_LINKS;
	for (int i = 0; batch && batched[i]; i++)
		if (strcmp(kind, batched[i]) == 0)
			return MC_NAMED;
	return batch ? MC_ANY : MC_NAMED;
}

/* Whether op with req holds a rename (its reply then names what it
 * changed). */
static bool has_rename(const char *op, const json_t *req)
{
	if (strcmp(op, "rename") == 0)
		return true;
	if (strcmp(op, "batch") != 0)
		return false;
	const json_t *ops = json_object_get(req, "ops");
	for (size_t i = 0; i < json_array_size(ops); i++) {
		const char *kind = json_string_value(json_object_get(json_array_get(ops, i), "op"));
		if (kind && strcmp(kind, "rename") == 0)
			return true;
	}
	return false;
}

/* One rename's reply (or batch result) res: the inodes it names into
 * inos[0..*n); false when it names none (an error, which an earlier
 * attempt that reached the master may hide; an older master): the
 * rename may then have changed any inode. */
static bool rename_reply_inos(const json_t *res, uint64_t inos[MC_TARGETS], int *n)
{
	const json_t *ino = json_object_get(res, "ino");
	const json_t *replaced = json_object_get(res, "replaced");
	json_t *err = json_object_get(res, "errno");
	if (!json_is_integer(ino) || !json_is_integer(replaced) ||
	    (err && json_integer_value(err) != 0))
		return false;
	return target_add(inos, n, ino) && target_add(inos, n, replaced);
}

/* The inodes the renames of op (req, answered rc and resp) changed
 * beyond what their requests name, into inos; their count, or -1 when
 * some rename's are not known. */
static int renamed_inos(const char *op, const json_t *req, int rc, const json_t *resp,
			uint64_t inos[MC_TARGETS])
{
	int n = 0;
	if (rc < 0 || !resp)
		return -1;
	if (strcmp(op, "rename") == 0)
		return rename_reply_inos(resp, inos, &n) ? n : -1;
	const json_t *ops = json_object_get(req, "ops");
	const json_t *results = json_object_get(resp, "results");
	for (size_t i = 0; i < json_array_size(ops); i++) {
		const char *kind = json_string_value(json_object_get(json_array_get(ops, i), "op"));
		if (kind && strcmp(kind, "rename") == 0 &&
		    !rename_reply_inos(json_array_get(results, i), inos, &n))
			return -1;
	}
	return n;
}

/* The inodes whose names or attributes op with req changes: up to
 * MC_TARGETS in inos (a batch: its ops' folders and inodes), their count
 * returned; the reach beyond them in *reach (MC_ANY also for an op that
 * names none, or a batch naming more than MC_TARGETS). */
static int change_targets(const char *op, const json_t *req, uint64_t inos[MC_TARGETS],
			  enum mc_reach *reach)
{
	static const char *const keys[] = { "ino", "parent", "newparent", "src_ino" };
	bool batch = strcmp(op, "batch") == 0;
	int n = 0;
	const json_t *ops = batch ? json_object_get(req, "ops") : NULL;
	size_t nops = batch ? json_array_size(ops) : 1;
	*reach = MC_NAMED;
	for (size_t i = 0; i < nops && *reach != MC_ANY; i++) {
		const json_t *o = batch ? json_array_get(ops, i) : req;
		enum mc_reach r = batch ? op_reach(json_string_value(json_object_get(o, "op")), true)
					: op_reach(op, false);
		if (r > *reach)
			*reach = r;
		for (int k = 0; k < 4 && *reach != MC_ANY; k++)
			if (!target_add(inos, &n, json_object_get(o, keys[k])))
				*reach = MC_ANY;
	}
	if (n == 0)
		*reach = MC_ANY;
	return n;
}

/* A change naming inos[0..n) (reach: and maybe others) begins (end
 * false) or ended: the mutation count goes up, and the marks follow.
 * At the end, late[0..nlate) are the inodes its reply named (renamed_inos;
 * nlate < 0: not known, so every inode counts as changed). */
static void mark_change(struct master_client *mc, const uint64_t *inos, int n,
			enum mc_reach reach, bool end, const uint64_t *late, int nlate)
{
	int64_t ms = now_ms();
	pthread_mutex_lock(&mc->mark_lock);
	uint64_t seq = atomic_fetch_add(&mc->mutations, 1) + 1;
	if (end) {
		mc->inflight -= mc->inflight > 0;
		mc->last_ms = ms;
	} else {
		mc->inflight++;
	}
	for (int i = 0; i < n + (nlate > 0 ? nlate : 0); i++) {
		bool named = i < n;
		uint64_t ino = named ? inos[i] : late[i - n];
		struct mc_mark *m = mark_of(mc, ino, !end || !named);
		if (!m && end && named)
			continue;    /* wiped meanwhile: mc->wiped covers it */
		if (!m) {
			/* half full: forget them all; the changes on their way
			 * (this one too) lost their marks, so everything counts
			 * as changed until none is left */
			memset(mc->marks, 0, MC_MARKS * sizeof(*mc->marks));
			mc->nmarks = 0;
			mc->wiped = true;
			break;
		}
		if (end) {
			m->pending -= named && m->pending > 0;
			m->seq = seq;
			m->ms = ms;
		} else {
			m->pending++;
		}
	}
	unsigned *pending = reach == MC_ANY ? &mc->floor_pending : &mc->links_pending;
	uint64_t *last = reach == MC_ANY ? &mc->floor_seq : &mc->links_seq;
	if (reach != MC_NAMED && !end) {
		(*pending)++;
	} else if (reach != MC_NAMED) {
		*pending -= *pending > 0;
		*last = seq;
	}
	if (end && nlate < 0)
		mc->floor_seq = seq;
	if (mc->wiped && mc->inflight == 0) {
		mc->wiped = false;   /* a listing asked from now on is current */
		mc->floor_seq = seq;
	}
	pthread_mutex_unlock(&mc->mark_lock);
}

static bool mc_changed(struct master_client *mc, uint64_t ino, uint64_t since, bool sole)
{
	pthread_mutex_lock(&mc->mark_lock);
	const struct mc_mark *m = mark_of(mc, ino, false);
	bool changed = mc->wiped || mc->floor_pending > 0 || mc->floor_seq > since ||
		       (!sole && (mc->links_pending > 0 || mc->links_seq > since)) ||
		       (m && (m->pending > 0 || m->seq > since));
	pthread_mutex_unlock(&mc->mark_lock);
	return changed;
}

bool master_client_changed(struct master_client *mc, uint64_t ino, uint64_t since)
{
	return mc_changed(mc, ino, since, false);
}

bool master_client_changed_sole(struct master_client *mc, uint64_t ino, uint64_t since)
{
	return mc_changed(mc, ino, since, true);
}

int64_t master_client_quiet_ms(struct master_client *mc)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&mc->mark_lock);
	int64_t last = mc->last_ms;
	bool busy = mc->inflight > 0;
	pthread_mutex_unlock(&mc->mark_lock);
	return busy ? 0 : last ? now - last : INT64_MAX;
}

int64_t master_client_quiet_ms_of(struct master_client *mc, uint64_t ino)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&mc->mark_lock);
	const struct mc_mark *m = mark_of(mc, ino, false);
	int64_t last = m ? m->ms : 0;
	bool busy = m && m->pending > 0;
	pthread_mutex_unlock(&mc->mark_lock);
	return busy ? 0 : last ? now - last : INT64_MAX;
}

/* Whether a batch carries more than removals and renames (which the
 * caller counts itself): a create, a setattr, a commit (a listing read
 * before it shows the file's old size and times). */
static bool batch_adds(const json_t *req)
{
	const json_t *ops = json_object_get(req, "ops");
	for (size_t i = 0; i < json_array_size(ops); i++) {
		const char *kind = json_string_value(json_object_get(json_array_get(ops, i), "op"));
		if (kind && (strcmp(kind, "create") == 0 || strcmp(kind, "setattr") == 0 ||
			     strcmp(kind, "commit") == 0))
			return true;
	}
	return false;
}

int master_client_call(struct master_client *mc, const char *op, const json_t *req,
		       unsigned flags, json_t **ret_resp, bool *ret_retried)
{
	bool change = !mc_read_only(op);
	bool shown = (change && (strcmp(op, "batch") != 0 || batch_adds(req))) ||
		     strcmp(op, "atime") == 0;
	uint64_t inos[MC_TARGETS] = { 0 };
	enum mc_reach reach = MC_ANY;
	int n = change ? change_targets(op, req, inos, &reach) : 0;
	if (change)
		mark_change(mc, inos, n, reach, false, NULL, 0);
	if (shown)
		atomic_fetch_add(&mc->changes, 1);

	/* a rename's reply names the inodes it changed: read it here too */
	bool renames = change && has_rename(op, req);
	json_t *resp = NULL;
	int rc = mc_call(mc, op, req, flags, renames || ret_resp ? &resp : NULL, ret_retried);
	if (shown)
		atomic_fetch_add(&mc->changes, 1);
	uint64_t late[MC_TARGETS];
	int nlate = renames ? renamed_inos(op, req, rc, resp, late) : 0;
	if (change)
		mark_change(mc, inos, n, reach, true, late, nlate);
	if (ret_resp && rc == 0)
		*ret_resp = resp;
	else
		json_decref(resp);
	return rc;
}

static int mc_call(struct master_client *mc, const char *op, const json_t *req,
		   unsigned flags, json_t **ret_resp, bool *ret_retried)
{
	char url[MASTER_ADDR_MAX + 128];
	if (strlen(op) > 100)
		return -ENAMETOOLONG;
	mount_metrics_add(MM_MASTER_CALLS, 1);
	json_t *empty = NULL;
	uint64_t root = atomic_load(&mc->root);
	if (!req || root != 1) {
		/* a subfolder's root is inode 1 here: the master's number there */
		empty = req ? json_deep_copy(req) : json_object();
		if (!empty)
			return -ENOMEM;
		if (root != 1)
			mc_remap(empty, 1, root, 0);
		req = empty;
	}
	struct mc_signer sg = { .mc = mc };
	int relogins = 0;
	size_t n = master_list_count(mc->ml);
	size_t quick = n - 1;      /* switches without a wait: one pass through the list */
	int64_t deadline = now_ms() + mc->timeout_ms;
	long backoff = MC_BACKOFF_FIRST_MS;
	bool maybe_reached = false;
	int rc;
	long status;
	json_t *resp = NULL;
	for (;;) {
		struct http_client *c = thread_http_get(mc->http);
		if (!c) {
			rc = -ENOMEM;
			status = 500;
			break;
		}
		size_t idx = master_list_current(mc->ml);
		mc_url(mc, idx, op, url, sizeof(url));    /* fits: op checked above */
		struct mc_fail fail = { .idx = idx };
		json_t *errb = NULL;
		resp = NULL;
		status = 0;
		rc = http_json_signed_ex(c, "POST", url, req, mc_sign, &sg, &resp, &status, &errb);
		mount_metrics_master_attempt(status != 0);
		mc_fail_note(&fail, rc, status, errb);
		json_decref(errb);
		if (status == 0 && rc != -ECONNREFUSED && rc != -EHOSTUNREACH)
			maybe_reached = true;    /* a timeout, cut off mid-request, or
						    refused after a kept connection
						    (ECONNRESET, http_client.h) */
		if (status == 401 && relogins++ < 2) {
			/* the master forgot the session (it restarted, or it is
			 * another master than the one logged in to) or refused
			 * the signature */
			json_decref(resp);
			resp = NULL;
			int lrc = mc_relogin(mc, sg.gen, &fail);
			if (lrc == 0)
				continue;
			if (!fail.failover) {
				rc = lrc == -EACCES ? -EACCES : rc;
				status = lrc == -EACCES ? 403 : status;
			}
		}
		if (status == 401 && !fail.failover)
			rc = -EACCES;   /* still refused: the kernel gets EACCES */
		bool lease_busy = !fail.failover && rc == -EAGAIN && (flags & MC_RETRY_EAGAIN);
		if (!fail.failover && !lease_busy)
			break;
		if (fail.failover)
			relogins = 0;   /* the next master may want a login of its own */
		if (fail.failover && n > 1) {
			mount_metrics_add(MM_MASTER_SWITCHES, 1);
			master_list_switch(mc->ml, fail.idx, fail.hint[0] ? fail.hint : NULL,
					   fail.reason);
			if (quick > 0 && now_ms() < deadline) {
				quick--;
				continue;
			}
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			log_warn("master %s: %s failed for %ld ms (%s), giving up",
				 master_list_text(mc->ml), op, mc->timeout_ms,
				 lease_busy ? "write lease busy" : fail.reason);
			rc = -EIO;
			status = 0;
			break;
		}
		uint16_t jitter = 0;
		if (getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK) < 0)
			jitter = 0;
		long wait = backoff + (long)(jitter % (backoff / 4 + 1));
		if (wait > left)
			wait = (long)left;
		log_debug("master %s: %s: %s, retrying in %ld ms",
			  master_list_addr(mc->ml, master_list_current(mc->ml)), op,
			  lease_busy ? "lease busy" : fail.reason, wait);
		if (!mc_backoff_wait(mc, wait)) {
			rc = -EIO;
			status = 0;
			break;
		}
		backoff = backoff * 2 > MC_BACKOFF_MAX_MS ? MC_BACKOFF_MAX_MS : backoff * 2;
	}
	json_decref(empty);
	if (ret_retried)
		*ret_retried = maybe_reached;
	if (rc < 0) {
		mount_metrics_add(status == 0 && rc == -EIO ? MM_MASTER_UNREACHABLE : MM_MASTER_ERRORS, 1);
		json_decref(resp);
		return master_client_errno(rc, status);
	}
	if (!resp) {
		resp = json_object();
		if (!resp)
			return -ENOMEM;
	}
	root = atomic_load(&mc->root);
	if (root != 1)
		mc_remap(resp, root, 1, 0);
	if (ret_resp)
		*ret_resp = resp;
	else
		json_decref(resp);
	return 0;
}

/* One GET /v1/health of master idx with its own client and timeout: 0
 * with *ret_role (and a standby's hint in hint, "" if none), -EPROTO for
 * an answer that is not a BigFS master's, or the transport error. */
static int mc_probe(struct master_client *mc, size_t idx, long timeout_ms,
		    enum master_role *ret_role, char *hint, size_t hintlen)
{
	char url[MASTER_ADDR_MAX + 64];
	mc_url(mc, idx, "health", url, sizeof(url));
	hint[0] = '\0';
	struct http_client *c = http_client_new(timeout_ms, timeout_ms);
	if (!c)
		return -ENOMEM;
	json_t *resp = NULL;
	long status = 0;
	int rc = http_json(c, "GET", url, NULL, &resp, &status);
	http_client_free(c);
	if (rc == 0) {
		rc = master_list_health_role(resp, ret_role);
		const char *h = master_list_reply_active(resp);
		if (rc == 0 && *ret_role == MASTER_ROLE_STANDBY && h)
			snprintf(hint, hintlen, "%s", h);
	} else if (status != 0) {
		rc = -EPROTO;
	}
	json_decref(resp);
	return rc;
}

int master_client_health(struct master_client *mc, long timeout_ms)
{
	enum master_role role;
	char hint[MASTER_ADDR_MAX];
	return mc_probe(mc, master_list_current(mc->ml), timeout_ms, &role, hint, sizeof(hint));
}

/* Append to why (whylen bytes, NUL-terminated) what master idx is. */
static void mc_why_add(struct master_client *mc, char *why, size_t whylen, size_t idx, int rc,
		       enum master_role role, const char *hint)
{
	size_t len = strlen(why);
	if (len + 1 >= whylen)
		return;
	const char *addr = master_list_addr(mc->ml, idx);
	const char *sep = len ? "; " : "";
	if (rc < 0)
		snprintf(why + len, whylen - len, "%s%s %s%s%s", sep, addr,
			 rc == -EPROTO ? "is not a BigFS master" : "does not answer (",
			 rc == -EPROTO ? "" : strerror(-rc), rc == -EPROTO ? "" : ")");
	else if (role == MASTER_ROLE_STANDBY)
		snprintf(why + len, whylen - len, "%s%s is a standby%s%s", sep, addr,
			 hint[0] ? " (active: " : "", hint[0] ? hint : "");
	if (rc == 0 && role == MASTER_ROLE_STANDBY && hint[0] && strlen(why) + 2 < whylen)
		strcat(why, ")");
}

int master_client_find_active(struct master_client *mc, long probe_timeout_ms, long wait_ms,
			      char *why, size_t whylen)
{
	size_t n = master_list_count(mc->ml), first = master_list_current(mc->ml);
	int64_t deadline = now_ms() + wait_ms;
	long backoff = 200;
	for (;;) {
		bool probed[MASTER_LIST_MAX] = { false }, any_standby = false;
		int last_rc = -EIO;
		size_t idx = first;
		why[0] = '\0';
		for (size_t k = 0; k < n; k++) {
			enum master_role role = MASTER_ROLE_DOWN;
			char hint[MASTER_ADDR_MAX];
			probed[idx] = true;
			int rc = mc_probe(mc, idx, probe_timeout_ms, &role, hint, sizeof(hint));
			if (rc == 0 && role == MASTER_ROLE_ACTIVE) {
				if (idx != first)
					log_info("master: %s -> %s (%s)", master_list_addr(mc->ml, first),
						 master_list_addr(mc->ml, idx), why);
				master_list_set_current(mc->ml, idx);
				why[0] = '\0';
				return 0;
			}
			mc_why_add(mc, why, whylen, idx, rc, role, hint);
			if (rc == 0)
				any_standby = true;
			else
				last_rc = rc;
			/* next: the active one a standby named, else the next unprobed */
			int h = hint[0] ? master_list_find(mc->ml, hint) : -1;
			if (h >= 0 && !probed[h]) {
				idx = (size_t)h;
			} else {
				for (size_t j = 1; j <= n; j++) {
					if (!probed[(idx + j) % n]) {
						idx = (idx + j) % n;
						break;
					}
				}
			}
		}
		/* nobody active: wait for one only while a standby answers
		 * (a failover under way); all gone is an error at once */
		if (!any_standby)
			return last_rc;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -EAGAIN;
		if (!mc_backoff_wait(mc, backoff < left ? backoff : (long)left))
			return -EAGAIN;
		backoff = backoff * 2 > MC_BACKOFF_MAX_MS ? MC_BACKOFF_MAX_MS : backoff * 2;
	}
}

static int attr_time(const json_t *attr, const char *s_key, const char *ns_key,
		     struct timespec *ret)
{
	int64_t s;
	uint32_t ns;
	if (ju_i64(attr, s_key, &s) < 0 || ju_u32(attr, ns_key, &ns) < 0 || ns > 999999999u)
		return -EIO;
	ret->tv_sec = (time_t)s;
	ret->tv_nsec = (long)ns;
	return 0;
}

int master_client_attr_obj(const json_t *attr, struct stat *st)
{
	struct stat s;
	memset(&s, 0, sizeof(s));
	uint64_t ino, size, rdev, blocks;
	uint32_t mode, nlink, uid, gid;
	if (!json_is_object(attr) || ju_u64(attr, "ino", &ino) < 0 ||
	    ju_u32(attr, "mode", &mode) < 0 || ju_u32(attr, "nlink", &nlink) < 0 ||
	    ju_u32(attr, "uid", &uid) < 0 || ju_u32(attr, "gid", &gid) < 0 ||
	    ju_u64(attr, "size", &size) < 0 || ju_u64_opt(attr, "rdev", 0, &rdev) < 0 ||
	    ju_u64_opt(attr, "blocks", (size + 511) / 512, &blocks) < 0 ||
	    ino == 0 || size > ((uint64_t)1 << 62) || blocks > ((uint64_t)1 << 53))
		return -EIO;
	if (attr_time(attr, "atime_s", "atime_ns", &s.st_atim) < 0 ||
	    attr_time(attr, "mtime_s", "mtime_ns", &s.st_mtim) < 0 ||
	    attr_time(attr, "ctime_s", "ctime_ns", &s.st_ctim) < 0)
		return -EIO;
	s.st_ino = (ino_t)ino;
	s.st_mode = (mode_t)mode;
	s.st_nlink = (nlink_t)nlink;
	s.st_uid = (uid_t)uid;
	s.st_gid = (gid_t)gid;
	s.st_size = (off_t)size;
	s.st_rdev = (dev_t)rdev;
	s.st_blksize = 1 << 20;
	s.st_blocks = (blkcnt_t)blocks; /* what the file's chunks cover: holes excluded */
	*st = s;
	return 0;
}

int master_client_attr(const json_t *resp, struct stat *st)
{
	return master_client_attr_obj(json_object_get(resp, "attr"), st);
}
