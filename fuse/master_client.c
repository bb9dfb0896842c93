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
#include "clock.h"
#include "master_client.h"

#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "thread_http.h"

#include <errno.h>
#include <pthread.h>
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
	clock_cond_init(&mc->cond);
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

int master_client_call(struct master_client *mc, const char *op, const json_t *req,
		       unsigned flags, json_t **ret_resp, bool *ret_retried)
{
	char url[400];
	if (snprintf(url, sizeof(url), "%s%s", mc->base, op) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	json_t *empty = NULL;
	if (!req) {
		empty = json_object();
		if (!empty)
			return -ENOMEM;
		req = empty;
	}
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
		rc = http_json(c, "POST", url, req, &resp, &status);
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
