/* master_client — HTTP/JSON calls to the master, with retry (see
 * master_client.h).
 *
 * Owns: the master's base URL, the per-thread HTTP clients used for it
 * (thread_http), and a stop flag with the condition variable that backoff
 * waits on. `lock` guards `stopping`; everything else is written once in
 * master_client_new and only read afterwards.
 *
 * Does not: know what an operation means. Callers build the request and
 * read the reply; this module only moves it and turns failures into one
 * errno (master_client_errno below is the single conversion point). */
#include "auth.h"
#include "clock.h"
#include "master_client.h"

#include "http_client.h"
#include "json_util.h"
#include "log.h"
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
	char base[300];            /* "http://HOST:PORT/v1/" */
	char host_port[256];
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
	bool ro;
	bool maps;
};

/* One signing of a call: the session as it was when the call was made. */
struct mc_signer {
	struct master_client *mc;
	uint64_t gen;
};

int master_client_new(const char *host_port, long master_timeout_ms,
		      struct master_client **ret)
{
	struct master_client *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	if (snprintf(mc->host_port, sizeof(mc->host_port), "%s", host_port) >=
	    (int)sizeof(mc->host_port)) {
		free(mc);
		return -ENAMETOOLONG;
	}
	snprintf(mc->base, sizeof(mc->base), "http://%s/v1/", host_port);
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
	explicit_bzero(mc->password, sizeof(mc->password));
	explicit_bzero(mc->key, sizeof(mc->key));
	free(mc);
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

/* Challenge and login with the stored password; caller holds auth_lock.
 * 0, or -errno with why filled. */
static int mc_login_locked(struct master_client *mc, char *why, size_t whylen)
{
	char url[400], cnonce[AUTH_ID_LEN + 1], proof[AUTH_HEX_LEN + 1], sp[AUTH_HEX_LEN + 1];
	const char *nonce, *id, *their_sp;
	json_t *ch = NULL, *req = NULL, *resp = NULL;
	long status = 0;
	uint64_t root;
	bool ro = false;
	int rc;

	struct http_client *c = thread_http_get(mc->http);
	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%sauth/challenge", mc->base);
	rc = http_json(c, "POST", url, NULL, &ch, &status);
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
	snprintf(url, sizeof(url), "%sauth/login", mc->base);
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
	if (rc < 0) {
		snprintf(why, whylen, "cannot reach the master: %s", strerror(-rc));
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
	pthread_mutex_lock(&mc->auth_lock);
	int rc = mc_login_locked(mc, why, whylen);
	if (rc == 0) {
		ret->root = atomic_load(&mc->root);
		ret->ro = mc->ro;
		ret->maps = mc->maps;
	}
	pthread_mutex_unlock(&mc->auth_lock);
	return rc;
}

/* After a 401 to a call signed under generation gen: log in again unless
 * another thread already did. 0 or -errno. */
static int mc_relogin(struct master_client *mc, uint64_t gen)
{
	char why[256];
	int rc = 0;
	pthread_mutex_lock(&mc->auth_lock);
	if (mc->auth_gen == gen) {
		rc = mc_login_locked(mc, why, sizeof(why));
		if (rc < 0)
			log_warn("master %s: login again failed: %s", mc->host_port, why);
		else
			log_info("master %s: logged in again (the master forgot the session)",
				 mc->host_port);
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

static const char *const MC_INO_KEYS[] = { "ino", "parent", "newparent", NULL };
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

int master_client_call(struct master_client *mc, const char *op, const json_t *req,
		       unsigned flags, json_t **ret_resp, bool *ret_retried)
{
	char url[400];
	if (snprintf(url, sizeof(url), "%s%s", mc->base, op) >= (int)sizeof(url))
		return -ENAMETOOLONG;
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
		resp = NULL;
		status = 0;
		rc = http_json_signed(c, "POST", url, req, mc_sign, &sg, &resp, &status);
		if (status == 401 && relogins++ < 2) {
			/* the master forgot the session or refused the signature */
			json_decref(resp);
			resp = NULL;
			int lrc = mc_relogin(mc, sg.gen);
			if (lrc == 0)
				continue;
			rc = lrc == -EACCES ? -EACCES : rc;
			status = lrc == -EACCES ? 403 : status;
		}
		if (status == 401)
			rc = -EACCES;   /* still refused: the kernel gets EACCES */
		bool transport = status == 0;
		bool lease_busy = !transport && rc == -EAGAIN && (flags & MC_RETRY_EAGAIN);
		if (!transport && !lease_busy)
			break;
		if (transport && rc != -ECONNREFUSED && rc != -EHOSTUNREACH)
			maybe_reached = true;
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			log_warn("master %s: %s failed for %ld ms (%s), giving up", mc->host_port,
				 op, mc->timeout_ms, lease_busy ? "write lease busy" : strerror(-rc));
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
		log_debug("master %s: %s: %s, retrying in %ld ms", mc->host_port, op,
			  lease_busy ? "lease busy" : strerror(-rc), wait);
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

int master_client_health(struct master_client *mc, long timeout_ms)
{
	char url[400];
	snprintf(url, sizeof(url), "%shealth", mc->base);
	struct http_client *c = http_client_new(timeout_ms, timeout_ms);
	if (!c)
		return -ENOMEM;
	json_t *resp = NULL;
	long status = 0;
	int rc = http_json(c, "GET", url, NULL, &resp, &status);
	http_client_free(c);
	if (rc == 0) {
		bool ok = false;
		if (!resp || ju_bool(resp, "ok", &ok) < 0 || !ok)
			rc = -EPROTO;
	} else if (status != 0) {
		rc = -EPROTO;
	}
	json_decref(resp);
	return rc;
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
