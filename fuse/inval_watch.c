/* inval_watch — see inval_watch.h.
 *
 * Owns: the watcher thread, the ring of long grants (grants[], next), the
 * feed's position (log id, since), the batch counter (gen) and the time
 * of the last answered poll. `lock` guards the ring and the stop flag;
 * gen and last_ok_ms are atomics read by every reply. */
#include "fs_ops.h"       /* FUSE_USE_VERSION and fuse_lowlevel.h first */
#include "inval_watch.h"

#include "clock.h"
#include "json_util.h"
#include "log.h"
#include "master_client.h"
#include "meta_cache.h"
#include "metrics.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct iw_grant {
	int64_t until_ms;
	uint64_t parent;          /* 0: attributes only */
	uint64_t ino;
	char name[IW_NAME_MAX + 1];
};

struct inval_watch {
	struct master_client *mc;
	struct fuse_session *se;
	int ttl_s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t fed;             /* told moved (iw_catch_up) */
	char log_id[64];                /* the log followed, */
	uint64_t told;                  /* and its last event the kernel was told */
	bool started, stop;
	pthread_t thread;
	atomic_uint_fast64_t gen;       /* batches received */
	atomic_int_fast64_t last_ok_ms; /* 0: not live */
	atomic_int_fast64_t sole_until_ms; /* sole use trusted until (0: not) */
	size_t next;
	struct iw_grant *grants;        /* IW_GRANTS, allocated when started */
	void (*on_change)(void *arg);   /* iw_on_change */
	void *on_change_arg;
	void (*on_inode)(void *arg, uint64_t ino);   /* iw_on_inode */
	void *on_inode_arg;
	void (*on_recall)(void *arg, uint64_t dir, bool listing);  /* iw_on_recall */
	void *on_recall_arg;
	void (*on_sole)(void *arg, bool on);   /* iw_on_sole */
	void *on_sole_arg;
};

void iw_on_sole(struct inval_watch *w, void (*fn)(void *arg, bool on), void *arg)
{
	w->on_sole = fn;
	w->on_sole_arg = arg;
}

bool iw_sole(struct inval_watch *w)
{
	return w && atomic_load(&w->sole_until_ms) > mcache_now_ms();
}

void iw_on_recall(struct inval_watch *w, void (*fn)(void *arg, uint64_t dir, bool listing),
		  void *arg)
{
	w->on_recall = fn;
	w->on_recall_arg = arg;
}

void iw_on_inode(struct inval_watch *w, void (*fn)(void *arg, uint64_t ino), void *arg)
{
	w->on_inode = fn;
	w->on_inode_arg = arg;
}

void iw_on_change(struct inval_watch *w, void (*fn)(void *arg), void *arg)
{
	w->on_change = fn;
	w->on_change_arg = arg;
}

int iw_new(struct master_client *mc, int ttl_s, struct inval_watch **ret)
{
	struct inval_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->mc = mc;
	w->ttl_s = ttl_s < 1 ? 1 : ttl_s;
	pthread_mutex_init(&w->lock, NULL);
	clock_cond_init(&w->cond);
	clock_cond_init(&w->fed);
	*ret = w;
	return 0;
}

void iw_free(struct inval_watch *w)
{
	if (!w)
		return;
	iw_stop(w);
	free(w->grants);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->fed);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

uint64_t iw_snap(struct inval_watch *w)
{
	return atomic_load(&w->gen);
}

/* Lock held: nothing to wait for (any more) — the kernel was told up to
 * seq of log, the feed follows another log (a reset tells it all), or
 * it stops. */
static bool iw_told(const struct inval_watch *w, const char *log, uint64_t seq)
{
	return w->stop || strcmp(w->log_id, log) != 0 || w->told >= seq;
}

bool iw_catch_up(struct inval_watch *w, const char *log, uint64_t seq, int timeout_ms)
{
	if (!w || !log || !iw_live(w))
		return true;
	struct timespec until = clock_deadline_ms(timeout_ms);
	pthread_mutex_lock(&w->lock);
	if (w->told < seq)
		pthread_cond_broadcast(&w->cond);   /* the watcher's gathering pause ends */
	while (!iw_told(w, log, seq) &&
	       pthread_cond_timedwait(&w->fed, &w->lock, &until) != ETIMEDOUT)
		;
	bool ok = iw_told(w, log, seq);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

bool iw_live(struct inval_watch *w)
{
	int64_t ok = atomic_load(&w->last_ok_ms);
	return ok > 0 && mcache_now_ms() - ok < IW_LIVE_MS;
}

double iw_ttl(struct inval_watch *w, uint64_t snap, uint64_t parent, const char *name,
	      uint64_t ino)
{
	if (!w || w->ttl_s <= 1 || !w->grants || !iw_live(w) || atomic_load(&w->gen) != snap)
		return IW_SHORT_TTL;
	size_t len = name ? strlen(name) : 0;
	if (len > IW_NAME_MAX)
		return IW_SHORT_TTL;
	int64_t now = mcache_now_ms();
	pthread_mutex_lock(&w->lock);
	struct iw_grant *g = &w->grants[w->next % IW_GRANTS];
	if (g->until_ms > now) {
		/* the ring is full of running grants: this one could not be
		 * taken back at a reset */
		pthread_mutex_unlock(&w->lock);
		return IW_SHORT_TTL;
	}
	w->next++;
	g->until_ms = now + (int64_t)w->ttl_s * 1000 + 1000;   /* the kernel's clock may lag */
	g->parent = name ? parent : 0;
	g->ino = ino;
	memcpy(g->name, name ? name : "", len + 1);
	pthread_mutex_unlock(&w->lock);
	return (double)w->ttl_s;
}

static void tell_entry(struct inval_watch *w, uint64_t parent, const char *name, size_t len)
{
	/* -ENOENT: the kernel does not have it; nothing to forget */
	(void)fuse_lowlevel_notify_inval_entry(w->se, (fuse_ino_t)parent, name, len);
	mount_metrics_add(MM_INVALIDATIONS, 1);
}

static void tell_inode(struct inval_watch *w, uint64_t ino)
{
	(void)fuse_lowlevel_notify_inval_inode(w->se, (fuse_ino_t)ino, -1, 0);
	mount_metrics_add(MM_INVALIDATIONS, 1);
}

/* The feed cannot say what was missed: forget every running grant. */
static void reset_all(struct inval_watch *w)
{
	int64_t now = mcache_now_ms();
	struct iw_grant *copy = malloc(IW_GRANTS * sizeof(*copy));
	size_t n = 0;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < IW_GRANTS; i++) {
		if (w->grants[i].until_ms <= now)
			continue;
		if (copy)
			copy[n++] = w->grants[i];
		w->grants[i].until_ms = 0;
	}
	pthread_mutex_unlock(&w->lock);
	mount_metrics_add(MM_INVAL_RESETS, 1);
	if (!copy) {
		/* no memory to copy them: wait until they have all run out,
		 * not live meanwhile (replies get one second) */
		log_warn("change feed: reset without memory; caching short for %d s", w->ttl_s);
		atomic_store(&w->last_ok_ms, 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (copy[i].parent)
			tell_entry(w, copy[i].parent, copy[i].name, strlen(copy[i].name));
		tell_inode(w, copy[i].ino);
	}
	free(copy);
	log_info("change feed: reset, %zu cached names and attributes forgotten", n);
}

/* One answer of /v1/events: tell the kernel (and, first, with hooks,
 * iw_on_inode). Returns false when the feed must be reset. */
static bool apply(struct inval_watch *w, const json_t *resp, bool hooks)
{
	const json_t *e = json_object_get(resp, "e"), *i = json_object_get(resp, "i");
	size_t k;
	const json_t *v;
	json_array_foreach(e, k, v) {
		const json_t *p = json_array_get(v, 0), *nm = json_array_get(v, 1);
		if (!json_is_integer(p))
			continue;
		if (json_is_string(nm)) {
			tell_entry(w, (uint64_t)json_integer_value(p), json_string_value(nm),
				   json_string_length(nm));
			continue;
		}
		/* a name that is not UTF-8: {"name_b64"} (json_util.h) */
		char *name;
		size_t len;
		if (json_is_object(nm) && ju_name_get(nm, "name", NAME_MAX, &name, &len) == 0) {
			tell_entry(w, (uint64_t)json_integer_value(p), name, len);
			free(name);
		}
	}
	/* recalls: no change, but the creates this mount answered in those
	 * folders, or the commits behind of those files, go to the master
	 * before it asks for more */
	json_array_foreach(json_object_get(resp, "r"), k, v)
		if (hooks && w->on_recall && json_is_integer(v))
			w->on_recall(w->on_recall_arg, (uint64_t)json_integer_value(v), false);
	json_array_foreach(json_object_get(resp, "rl"), k, v)
		if (hooks && w->on_recall && json_is_integer(v))
			w->on_recall(w->on_recall_arg, (uint64_t)json_integer_value(v), true);
	json_array_foreach(i, k, v) {
		if (!json_is_integer(v))
			continue;
		if (json_integer_value(v) == 0)
			return false;        /* too many changes at once to name */
		if (hooks && w->on_inode)
			w->on_inode(w->on_inode_arg, (uint64_t)json_integer_value(v));
		tell_inode(w, (uint64_t)json_integer_value(v));
	}
	return true;
}

static bool stopping(struct inval_watch *w, long wait_ms)
{
	pthread_mutex_lock(&w->lock);
	if (!w->stop && wait_ms > 0) {
		struct timespec ts = clock_deadline_ms(wait_ms);
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	bool stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* Sole use holds now (trusted until until_ms) or not; *sole is the
 * watcher's word of it, and on_sole hears each change of it (an end
 * before the feed polls again, which tells the master it was heard). */
static void sole_set(struct inval_watch *w, bool *sole, bool on, int64_t until_ms)
{
	if (!on)
		atomic_store(&w->sole_until_ms, 0);
	if (on != *sole) {
		log_info("change feed: %s", on ? "this mount is the master's only client"
					       : "other clients, or no answer: opens go to the master");
		*sole = on;
		w->on_sole(w->on_sole_arg, on);
	}
	if (on)
		atomic_store(&w->sole_until_ms, until_ms);
}

static void *watcher(void *arg)
{
	struct inval_watch *w = arg;
	char log_id[64] = "";
	uint64_t since = 0;
	bool have = false, down = false, sole = false;
	while (!stopping(w, 0)) {
		/* sole use is trusted from the poll's send, so its replies must
		 * come more often than the trust lasts */
		json_t *body = have ? json_pack("{s:s, s:I, s:i}", "log", log_id, "since",
						(json_int_t)since, "wait_ms",
						sole ? IW_SOLE_WAIT_MS : IW_WAIT_MS)
				    : json_pack("{s:i}", "wait_ms", 0);
		int64_t sent = mcache_now_ms();
		json_t *resp = NULL;
		int rc = body ? master_client_call(w->mc, "events", body, 0, &resp, NULL) : -ENOMEM;
		json_decref(body);
		if (rc == -EPERM || rc == -ENOENT || rc == -ENOSYS) {
			/* a subfolder's mount, or a master without the feed */
			log_info("change feed: not available (%s); the kernel caches for 1 s",
				 strerror(-rc));
			atomic_store(&w->last_ok_ms, 0);
			break;
		}
		const char *lid = json_string_value(json_object_get(resp, "log"));
		const json_t *jl = json_object_get(resp, "last");
		if (rc < 0 || !lid || strlen(lid) >= sizeof(log_id) || !json_is_integer(jl)) {
			/* said once per outage: a feed that stays down leaves
			 * every kernel cache at 1 s */
			if (!down)
				log_warn("change feed: %s; the kernel caches for 1 s until it answers",
					 rc < 0 ? strerror(-rc) : "malformed answer");
			down = true;
			json_decref(resp);
			atomic_store(&w->last_ok_ms, 0);
			/* what the master says from now on, once it answers, may
			 * not follow what it granted: sole use ends here */
			sole_set(w, &sole, false, 0);
			if (stopping(w, 500))
				break;
			continue;
		}
		if (down)
			log_info("change feed: answering again");
		down = false;
		bool same = have && strcmp(lid, log_id) == 0;
		bool reset = json_is_true(json_object_get(resp, "reset")) || (have && !same);
		size_t nev = json_array_size(json_object_get(resp, "e")) +
			     json_array_size(json_object_get(resp, "i"));
		if (reset || nev > 0) {
			/* both before the kernel hears; the hook's first, so one
			 * who read the generation (iw_snap) and then found the
			 * hook's caches current has the generation they are of */
			if (w->on_change)
				w->on_change(w->on_change_arg);
			atomic_fetch_add(&w->gen, 1);
		}
		if (!reset && (nev > 0 || json_array_size(json_object_get(resp, "r")) > 0 ||
			       json_array_size(json_object_get(resp, "rl")) > 0))
			reset = !apply(w, resp, true);
		if (reset && have) {
			reset_all(w);
			if (w->on_inode)
				w->on_inode(w->on_inode_arg, 0);   /* any inode */
		}
		/* sole use: after the changes above are told; its end before
		 * the next poll, which tells the master it was heard */
		if (reset)   /* another log (a new master) or events lost: a
			      * grant now starts a new period, as after an end */
			sole_set(w, &sole, false, 0);
		sole_set(w, &sole, json_is_true(json_object_get(resp, "sole")) && w->on_sole,
			 sent + IW_SOLE_TRUST_MS);
		snprintf(log_id, sizeof(log_id), "%s", lid);
		since = (uint64_t)json_integer_value(jl);
		have = true;
		atomic_store(&w->last_ok_ms, mcache_now_ms());
		/* the kernel has heard of everything up to since */
		pthread_mutex_lock(&w->lock);
		snprintf(w->log_id, sizeof(w->log_id), "%s", lid);
		w->told = since;
		pthread_cond_broadcast(&w->fed);
		pthread_mutex_unlock(&w->lock);
		/* a busy writer elsewhere: let its changes gather for a few
		 * milliseconds instead of a poll per change. Then tell the
		 * kernel once more: a lookup answered just before the batch
		 * came may not have put its name in the kernel's cache yet when
		 * the first word reached it (the requesting thread does that
		 * after our reply), and would keep it long. */
		bool stop = nev > 0 && stopping(w, IW_GATHER_MS);
		if (!reset && nev > 0 && !stop)
			(void)apply(w, resp, false);
		json_decref(resp);
		if (stop)
			break;
	}
	return NULL;
}

void iw_start(struct inval_watch *w, struct fuse_session *se)
{
	if (!w || w->ttl_s <= 1 || !se)
		return;
	w->grants = calloc(IW_GRANTS, sizeof(*w->grants));
	if (!w->grants)
		return;
	w->se = se;
	pthread_mutex_lock(&w->lock);
	w->stop = false;
	w->started = pthread_create(&w->thread, NULL, watcher, w) == 0;
	pthread_mutex_unlock(&w->lock);
	if (!w->started)
		log_warn("change feed: no thread; the kernel caches for 1 s");
}

void iw_stop(struct inval_watch *w)
{
	pthread_mutex_lock(&w->lock);
	bool started = w->started;
	w->stop = true;
	w->started = false;
	pthread_cond_broadcast(&w->cond);
	pthread_cond_broadcast(&w->fed);
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->last_ok_ms, 0);
	atomic_store(&w->sole_until_ms, 0);
	if (started) {
		/* no more retries (the mount is going away; main stops the
		 * client before the FUSE session's destroy anyway), and the
		 * poll in flight returns at once: the master ends the polls of
		 * this login. Else within IW_WAIT_MS. */
		master_client_stop(w->mc);
		json_t *body = json_pack("{s:b}", "wake", 1);
		if (body)
			(void)master_client_call(w->mc, "events", body, 0, NULL, NULL);
		json_decref(body);
		pthread_join(w->thread, NULL);
	}
}
