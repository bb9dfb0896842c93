/* client_session — the mount's session and its open files (see
 * client_session.h).
 *
 * Owns: the session id, the heartbeat thread, and a hash of the inodes
 * open in this mount. `lock` guards the hash, the pending-close list, the
 * heartbeat interval and the stop flag; `hb_cond` wakes the heartbeat
 * thread (stop, or a full batch of closes: nothing else, so opens and
 * closes do not cost a heartbeat each), `cond` wakes threads waiting for
 * an inode's registration or close to finish.
 * `estab_lock` serialises re-opening the session (never taken while
 * `lock` is held; `lock` may be taken inside it).
 *
 * An inode's entry, per mount:
 *
 *   (none) --csess_open: /v1/open--> registering --ok--> open (count > 0)
 *   open --csess_close, last--> pending_close (still open on the master)
 *   pending_close --csess_open--> open, no call (the master never knew)
 *   pending_close --heartbeat thread takes it--> closing --reply--> (none)
 *
 * Opens wait while an entry is registering or closing, so the master sees
 * the open and close calls of one inode in order. A heartbeat that fails
 * without an answer puts its closes back; an ESTALE answer re-opens the
 * session, which declares only the inodes open now (the closes are
 * implied). */
#include "atime_queue.h"
#include "clock.h"
#include "client_session.h"

#include "ids.h"
#include "json_util.h"
#include "file_handle.h"
#include "log.h"
#include "master_client.h"
#include "worker_health.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CS_HASH_SIZE 4096
#define CS_HEARTBEAT_DEFAULT_MS 2000
#define CS_HEARTBEAT_MIN_MS 100
#define CS_CLOSE_BATCH_WAKE 512
#define CS_HOST_ID_MAX 64
#define CS_DOWN_MAX 256           /* down workers taken from one heartbeat */

struct cs_file {
	uint64_t ino;
	int count;                 /* opens in this mount */
	bool registering, pending_close, closing;
	bool unborn;               /* made here, its create not at the master yet */
	bool unregistered;         /* opened under sole use: the master does not
				    * know (csess_open_sole) */
	struct cs_file *next;
};

struct csess {
	atomic_uint batch_ops;       /* CS_BATCH_*: what the master's /v1/batch takes */
	bool local_creates;          /* csess_set_local_creates */
	struct master_client *mc;
	char id[129];
	char host_id[CS_HOST_ID_MAX + 1];
	csess_lock_provider_fn locks_fn;
	void *locks_arg;
	struct atime_queue *atq;   /* borrowed; reports ride on /v1/open */
	struct whealth *health;    /* borrowed; heartbeats feed the verdict */
	pthread_mutex_t estab_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t hb_cond;
	bool stop;
	bool started;
	bool established;          /* the master answered a session open */
	uint64_t gen;              /* bumped by each session (re-)open */
	long heartbeat_ms;
	pthread_t thread;
	bool sole;                 /* csess_sole */
	size_t nunreg;             /* entries unregistered */
	struct cs_file *hash[CS_HASH_SIZE];
	uint64_t *pending;         /* inodes whose close is queued */
	size_t npending, pending_cap;
};

/* ---- helpers ------------------------------------------------------------ */

static void cs_queue_close(struct csess *cs, struct cs_file *f);

static struct cs_file **cs_slot(struct csess *cs, uint64_t ino)
{
	struct cs_file **p = &cs->hash[(ino * 0x9e3779b97f4a7c15ULL) >> 52];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

/* Lock held. Free the entry if nothing refers to it any more. */
static void cs_forget_if_idle(struct csess *cs, struct cs_file *f)
{
	if (f->count > 0 || f->registering || f->pending_close || f->closing)
		return;
	struct cs_file **p = cs_slot(cs, f->ino);
	if (*p == f) {
		*p = f->next;
		free(f);
	}
}

/* The machine's boot id: F_GETLK shows pids only between mounts of one
 * machine. Empty if unreadable (then pids are shown only within this
 * mount). */
static void cs_read_host_id(char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* ---- session (re-)open ---------------------------------------------------- */

/* POST /v1/session/open declaring what is open and locked here. Caller
 * holds estab_lock. */
static int cs_establish(struct csess *cs)
{
	json_t *opens = json_array();
	if (!opens)
		return -ENOMEM;
	pthread_mutex_lock(&cs->lock);
	for (size_t b = 0; b < CS_HASH_SIZE; b++)
		for (struct cs_file *f = cs->hash[b]; f; f = f->next) {
			if (f->count > 0 && !f->registering)
				json_array_append_new(opens, json_integer((json_int_t)f->ino));
			if (f->unregistered && f->count > 0 && !f->registering) {
				f->unregistered = false;   /* declared now */
				cs->nunreg--;
			}
		}
	pthread_mutex_unlock(&cs->lock);
	json_t *locks = cs->locks_fn ? cs->locks_fn(cs->locks_arg) : NULL;
	json_t *req = json_pack("{s:s, s:s, s:o, s:o, s:b}", "session", cs->id, "host_id",
				cs->host_id, "opens", opens, "locks", locks ? locks : json_array(),
				"creates", cs->local_creates);
	if (!req)
		return -ENOMEM;
	json_t *resp = NULL;
	int rc = master_client_call(cs->mc, "session/open", req, 0, &resp, NULL);
	json_decref(req);
	if (rc < 0)
		return rc;
	json_int_t hb = json_integer_value(json_object_get(resp, "heartbeat_ms"));
	/* the batch ops this master takes; one without the list takes
	 * unlinks and rmdirs */
	unsigned ops = CS_BATCH_UNLINK;
	size_t k;
	const json_t *v;
	json_array_foreach(json_object_get(resp, "batch"), k, v) {
		const char *s = json_string_value(v);
		ops |= s && strcmp(s, "rename") == 0 ? CS_BATCH_RENAME
		       : s && strcmp(s, "create") == 0 ? CS_BATCH_CREATE
		       : s && strcmp(s, "setattr") == 0 ? CS_BATCH_SETATTR
		       : s && strcmp(s, "commit") == 0 ? CS_BATCH_COMMIT : 0;
	}
	/* and a create may name the inode, from numbers it reserved (/v1/inos) */
	if (json_is_true(json_object_get(resp, "inos")))
		ops |= CS_BATCH_INOS;
	atomic_store(&cs->batch_ops, ops);
	fh_quotas_in_use(json_is_true(json_object_get(resp, "quotas")));
	json_t *lost = json_object_get(resp, "lost_opens");
	json_int_t lost_locks = json_integer_value(json_object_get(resp, "lost_locks"));
	if (json_array_size(lost) || lost_locks)
		log_warn("session %s: the master lost %zu open files and %lld locks of this mount "
			 "while it was away", cs->id, json_array_size(lost), (long long)lost_locks);
	json_decref(resp);
	pthread_mutex_lock(&cs->lock);
	if (hb >= CS_HEARTBEAT_MIN_MS && hb <= 3600000)
		cs->heartbeat_ms = (long)hb;
	if (cs->established)
		log_info("session %s opened again on the master", cs->id);
	cs->established = true;
	cs->gen++;
	pthread_mutex_unlock(&cs->lock);
	return 0;
}

/* The master did not know the session when generation seen was current:
 * open it again unless another thread already did. */
static int cs_reestablish(struct csess *cs, uint64_t seen)
{
	int rc = 0;
	pthread_mutex_lock(&cs->estab_lock);
	pthread_mutex_lock(&cs->lock);
	bool again = cs->gen == seen;
	pthread_mutex_unlock(&cs->lock);
	if (again)
		rc = cs_establish(cs);
	pthread_mutex_unlock(&cs->estab_lock);
	return rc;
}

static uint64_t cs_gen(struct csess *cs)
{
	pthread_mutex_lock(&cs->lock);
	uint64_t g = cs->gen;
	pthread_mutex_unlock(&cs->lock);
	return g;
}

int csess_call(struct csess *cs, const char *op, json_t *req, json_t **ret_resp)
{
	if (!req)
		return -ENOMEM;
	int rc = json_object_set_new(req, "session", json_string(cs->id)) < 0 ? -ENOMEM : 0;
	for (int attempt = 0; rc == 0; attempt++) {
		uint64_t seen = cs_gen(cs);
		rc = master_client_call(cs->mc, op, req, 0, ret_resp, NULL);
		if (rc != -ESTALE || attempt == 1)
			break;
		rc = cs_reestablish(cs, seen);
	}
	json_decref(req);
	return rc;
}

/* ---- heartbeat thread ------------------------------------------------------ */

/* Wait up to ms or until stopped / woken. Returns false when stopping. */
static bool cs_wait(struct csess *cs, long ms)
{
	struct timespec ts = clock_deadline_ms(ms);
	pthread_mutex_lock(&cs->lock);
	while (!cs->stop && cs->npending < CS_CLOSE_BATCH_WAKE &&
	       pthread_cond_timedwait(&cs->hb_cond, &cs->lock, &ts) != ETIMEDOUT)
		;
	bool go_on = !cs->stop;
	pthread_mutex_unlock(&cs->lock);
	return go_on;
}

/* Take the queued closes: they are in flight until cs_closes_done.
 * Returns a new JSON array of them (maybe empty), NULL if out of memory. */
static bool ino_in(uint64_t ino, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == ino)
			return true;
	return false;
}

/* The queued closes into a new array (b: which), but those of keep[0..nkeep),
 * which stay queued. */
static json_t *cs_closes_take(struct csess *cs, struct csess_closes *b, const uint64_t *keep,
			      size_t nkeep)
{
	json_t *closes = json_array();
	b->inos = NULL;
	b->n = 0;
	if (!closes)
		return NULL;
	pthread_mutex_lock(&cs->lock);
	if (cs->npending) {
		b->inos = malloc(cs->npending * sizeof(*b->inos));
		size_t left = 0;
		for (size_t i = 0; b->inos && i < cs->npending; i++) {
			struct cs_file *f = *cs_slot(cs, cs->pending[i]);
			if (!f || !f->pending_close || f->count > 0)
				continue;
			if (f->unborn || ino_in(f->ino, keep, nkeep)) {
				cs->pending[left++] = f->ino;
				continue;
			}
			f->pending_close = false;
			f->closing = true;
			b->inos[b->n++] = f->ino;
			json_array_append_new(closes, json_integer((json_int_t)f->ino));
		}
		if (b->inos)
			cs->npending = left;
	}
	pthread_mutex_unlock(&cs->lock);
	return closes;
}

/* The closes of b reached the master (delivered) or maybe not: then they
 * are queued again (a close the master already applied is harmless). */
static void cs_closes_done(struct csess *cs, struct csess_closes *b, bool delivered)
{
	pthread_mutex_lock(&cs->lock);
	for (size_t i = 0; i < b->n; i++) {
		struct cs_file *f = *cs_slot(cs, b->inos[i]);
		if (!f)
			continue;
		f->closing = false;
		if (!delivered && f->count == 0 && !f->pending_close &&
		    cs->npending < cs->pending_cap) {
			f->pending_close = true;
			cs->pending[cs->npending++] = f->ino;
		}
		cs_forget_if_idle(cs, f);
	}
	pthread_cond_broadcast(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	free(b->inos);
	b->inos = NULL;
	b->n = 0;
}

void csess_attach_closes(struct csess *cs, json_t *req, struct csess_closes *b)
{
	csess_attach_closes_but(cs, req, b, NULL, 0);
}

void csess_attach_closes_but(struct csess *cs, json_t *req, struct csess_closes *b,
			     const uint64_t *keep, size_t nkeep)
{
	b->inos = NULL;
	b->n = 0;
	pthread_mutex_lock(&cs->lock);
	bool any = cs->npending > 0;
	pthread_mutex_unlock(&cs->lock);
	if (!req || !any)
		return;
	json_t *closes = cs_closes_take(cs, b, keep, nkeep);
	if (!closes || json_object_set_new(req, "session", json_string(cs->id)) < 0 ||
	    json_object_set_new(req, "close", closes) < 0) {
		cs_closes_done(cs, b, false);
		return;
	}
}

void csess_closes_sent(struct csess *cs, struct csess_closes *b, int rc)
{
	/* the master applies the closes before the operation, whatever the
	 * operation's own outcome; ESTALE: the session re-opening declares
	 * only what is open, which implies them */
	if (b->n) {
		cs_closes_done(cs, b, rc == 0 || rc == -ESTALE || rc == -ENOENT || rc == -EEXIST ||
					      rc == -ENOTEMPTY || rc == -EISDIR || rc == -ENOTDIR);
	} else {
		/* taken, but every queued close had been reopened meanwhile */
		free(b->inos);
		b->inos = NULL;
	}
}

/* Hand the master's "down_workers" to the mount's worker health. A reply
 * without it (an older master) changes nothing. */
static void cs_note_down(struct csess *cs, const json_t *resp)
{
	json_t *down = json_object_get(resp, "down_workers");
	fh_quotas_in_use(json_is_true(json_object_get(resp, "quotas")));
	if (!cs->health || !json_is_array(down))
		return;
	const char *ids[CS_DOWN_MAX];
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(down, i, v) {
		const char *id = json_string_value(v);
		if (n < CS_DOWN_MAX && id && worker_id_valid(id))
			ids[n++] = id;
	}
	whealth_set_down(cs->health, ids, n);
}

/* One heartbeat carrying the queued closes. */
static void cs_heartbeat(struct csess *cs)
{
	struct csess_closes b;
	json_t *closes = cs_closes_take(cs, &b, NULL, 0);
	if (!closes)
		return;
	uint64_t seen = cs_gen(cs);
	json_t *req = json_pack("{s:s, s:o, s:b}", "session", cs->id, "close", closes, "creates",
				cs->local_creates);
	json_t *resp = NULL;
	int rc = req ? master_client_call(cs->mc, "session/heartbeat", req, 0, &resp, NULL)
		     : -ENOMEM;
	json_decref(req);
	if (rc == 0)
		cs_note_down(cs, resp);
	json_decref(resp);
	if (rc < 0 && rc != -ESTALE)
		log_warn("session %s: heartbeat failed: %s", cs->id, strerror(-rc));
	/* ESTALE: forgotten; opening again declares only what is open now */
	cs_closes_done(cs, &b, rc == 0 || rc == -ESTALE);
	if (rc == -ESTALE) {
		rc = cs_reestablish(cs, seen);
		if (rc < 0)
			log_warn("session %s: cannot open it again: %s", cs->id, strerror(-rc));
	}
}

static void *cs_thread_main(void *arg)
{
	struct csess *cs = arg;
	for (;;) {
		pthread_mutex_lock(&cs->lock);
		long ms = cs->heartbeat_ms;
		bool established = cs->established;
		pthread_mutex_unlock(&cs->lock);
		if (!cs_wait(cs, established ? ms : CS_HEARTBEAT_MIN_MS * 10))
			break;
		if (!established) {
			pthread_mutex_lock(&cs->estab_lock);
			int rc = cs_establish(cs);
			pthread_mutex_unlock(&cs->estab_lock);
			if (rc < 0)
				log_warn("session %s: cannot open it on the master: %s", cs->id,
					 strerror(-rc));
			continue;
		}
		cs_heartbeat(cs);
	}
	return NULL;
}

/* ---- public ------------------------------------------------------------- */

int csess_new(struct master_client *mc, const char *id, struct csess **ret)
{
	struct csess *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	if (snprintf(cs->id, sizeof(cs->id), "%s", id) >= (int)sizeof(cs->id)) {
		free(cs);
		return -ENAMETOOLONG;
	}
	cs->mc = mc;
	cs->heartbeat_ms = CS_HEARTBEAT_DEFAULT_MS;
	cs->gen = 1;
	cs_read_host_id(cs->host_id, sizeof(cs->host_id));
	pthread_mutex_init(&cs->estab_lock, NULL);
	pthread_mutex_init(&cs->lock, NULL);
	if (clock_cond_init(&cs->cond) < 0 || clock_cond_init(&cs->hb_cond) < 0) {
		pthread_mutex_destroy(&cs->lock);
		pthread_mutex_destroy(&cs->estab_lock);
		free(cs);
		return -ENOMEM;
	}
	*ret = cs;
	return 0;
}

void csess_set_lock_provider(struct csess *cs, csess_lock_provider_fn fn, void *arg)
{
	cs->locks_fn = fn;
	cs->locks_arg = arg;
}

void csess_set_health(struct csess *cs, struct whealth *h)
{
	cs->health = h;
}

void csess_set_atime_queue(struct csess *cs, struct atime_queue *q)
{
	cs->atq = q;
}

void csess_set_local_creates(struct csess *cs, bool on)
{
	cs->local_creates = on;
}

const char *csess_id(const struct csess *cs)
{
	return cs->id;
}

void csess_start(struct csess *cs)
{
	pthread_mutex_lock(&cs->estab_lock);
	int rc = cs_establish(cs);
	pthread_mutex_unlock(&cs->estab_lock);
	if (rc < 0)
		log_warn("session %s: cannot open it on the master yet: %s", cs->id, strerror(-rc));
	if (pthread_create(&cs->thread, NULL, cs_thread_main, cs) != 0) {
		log_err("session %s: cannot start the heartbeat thread; the master will "
			"release this mount's open files and locks after its session timeout",
			cs->id);
		return;
	}
	cs->started = true;
}

void csess_stop(struct csess *cs)
{
	if (!cs)
		return;
	pthread_mutex_lock(&cs->lock);
	cs->stop = true;
	bool established = cs->established;
	pthread_cond_broadcast(&cs->cond);
	pthread_cond_signal(&cs->hb_cond);
	pthread_mutex_unlock(&cs->lock);
	if (cs->started) {
		pthread_join(cs->thread, NULL);
		cs->started = false;
	}
	if (!established)
		return;
	json_t *req = json_pack("{s:s}", "session", cs->id);
	int rc = req ? master_client_call(cs->mc, "session/close", req, 0, NULL, NULL) : -ENOMEM;
	json_decref(req);
	if (rc < 0)
		log_warn("session %s: cannot close it on the master (%s); it times out there",
			 cs->id, strerror(-rc));
	pthread_mutex_lock(&cs->lock);
	cs->established = false;
	pthread_mutex_unlock(&cs->lock);
}

void csess_free(struct csess *cs)
{
	if (!cs)
		return;
	if (cs->started) {
		pthread_mutex_lock(&cs->lock);
		cs->stop = true;
		pthread_cond_broadcast(&cs->cond);
		pthread_cond_signal(&cs->hb_cond);
		pthread_mutex_unlock(&cs->lock);
		pthread_join(cs->thread, NULL);
	}
	for (size_t b = 0; b < CS_HASH_SIZE; b++) {
		while (cs->hash[b]) {
			struct cs_file *f = cs->hash[b];
			cs->hash[b] = f->next;
			free(f);
		}
	}
	free(cs->pending);
	pthread_cond_destroy(&cs->cond);
	pthread_cond_destroy(&cs->hb_cond);
	pthread_mutex_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->estab_lock);
	free(cs);
}

/* Lock held. The entry of ino, made if needed (NULL: out of memory). */
static struct cs_file *cs_get(struct csess *cs, uint64_t ino)
{
	struct cs_file **p = cs_slot(cs, ino);
	if (*p)
		return *p;
	struct cs_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->ino = ino;
	*p = f;
	return f;
}

/* Lock held. The entry of ino (made if absent) once no open or close of
 * it is in flight; NULL on out-of-memory. Waiting drops the lock, and the
 * entry may be freed meanwhile (a failed open forgets it), so it is looked
 * up again after every wait. *ret_waited (if not NULL) is set if it had
 * to wait. */
static struct cs_file *cs_get_idle(struct csess *cs, uint64_t ino, bool *ret_waited)
{
	for (;;) {
		struct cs_file *f = cs_get(cs, ino);
		if (!f || !(f->registering || f->closing))
			return f;
		if (ret_waited)
			*ret_waited = true;
		pthread_cond_wait(&cs->cond, &cs->lock);
	}
}

bool csess_batches(struct csess *cs, unsigned op)
{
	return (atomic_load(&cs->batch_ops) & op) == op;
}

int csess_open(struct csess *cs, uint64_t ino, uint64_t chunks, json_t **ret_resp)
{
	if (ret_resp)
		*ret_resp = NULL;
	pthread_mutex_lock(&cs->lock);
	struct cs_file *f = cs_get_idle(cs, ino, NULL);
	if (!f) {
		pthread_mutex_unlock(&cs->lock);
		return -ENOMEM;
	}
	if ((f->count > 0 || f->pending_close) && !f->unregistered) {
		/* open on the master already (a queued close is cancelled) */
		f->pending_close = false;
		f->count++;
		pthread_mutex_unlock(&cs->lock);
		return 0;
	}
	f->registering = true;
	pthread_mutex_unlock(&cs->lock);

	json_t *req = json_pack("{s:I}", "ino", (json_int_t)ino);
	if (req && chunks > 0 && ret_resp &&
	    json_object_set_new(req, "chunks", json_integer((json_int_t)chunks)) < 0) {
		json_decref(req);
		req = NULL;
	}
	struct atq_ride ride = { .n = 0 };
	if (req && cs->atq && atime_queue_ride_begin(cs->atq, &ride) > 0)
		json_object_set_new(req, "atime", ju_u64_array(ride.inos, ride.n)); /* NULL: not set */
	int rc = csess_call(cs, "open", req, ret_resp);
	if (ride.n)
		atime_queue_ride_end(cs->atq, &ride);

	pthread_mutex_lock(&cs->lock);
	f->registering = false;
	if (rc == 0) {
		f->count++;
		if (f->unregistered) {
			f->unregistered = false;
			cs->nunreg--;
		}
	} else {
		cs_forget_if_idle(cs, f);
	}
	pthread_cond_broadcast(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	return rc;
}

/* Lock held: one more open of f if the master has it open for this
 * mount already (a queued close is taken back), or (alone: sole use)
 * need not know. */
static bool cs_reopen(struct cs_file *f)
{
	bool open = !f->registering && !f->closing && (f->count > 0 || f->pending_close);
	if (open) {
		f->pending_close = false;
		f->count++;
	}
	return open;
}

bool csess_reopen(struct csess *cs, uint64_t ino)
{
	pthread_mutex_lock(&cs->lock);
	struct cs_file *f = *cs_slot(cs, ino);
	bool open = f && cs_reopen(f);
	pthread_mutex_unlock(&cs->lock);
	return open;
}

int csess_created(struct csess *cs, uint64_t ino, bool registered)
{
	pthread_mutex_lock(&cs->lock);
	/* A close of ino in flight may reach the master after the create
	 * registered the open: then register it again, in order. */
	bool was_busy = false;
	struct cs_file *f = cs_get_idle(cs, ino, &was_busy);
	if (!f) {
		pthread_mutex_unlock(&cs->lock);
		return -ENOMEM;
	}
	if (registered && !was_busy) {
		f->pending_close = false;
		f->count++;
		pthread_mutex_unlock(&cs->lock);
		return 0;
	}
	pthread_mutex_unlock(&cs->lock);
	return csess_open(cs, ino, 0, NULL);
}

int csess_created_here(struct csess *cs, uint64_t ino)
{
	pthread_mutex_lock(&cs->lock);
	bool was_busy = false;
	struct cs_file *f = cs_get_idle(cs, ino, &was_busy);
	if (f) {
		f->pending_close = false;
		f->count++;
		f->unborn = true;
	}
	pthread_mutex_unlock(&cs->lock);
	return f ? 0 : -ENOMEM;
}

void csess_born(struct csess *cs, uint64_t ino)
{
	pthread_mutex_lock(&cs->lock);
	struct cs_file *f = *cs_slot(cs, ino);
	if (f)
		f->unborn = false;
	pthread_mutex_unlock(&cs->lock);
}

void csess_close(struct csess *cs, uint64_t ino)
{
	pthread_mutex_lock(&cs->lock);
	struct cs_file *f = *cs_slot(cs, ino);
	if (!f || f->count <= 0) {
		pthread_mutex_unlock(&cs->lock);
		log_err("session %s: close of inode %llu that is not open here", cs->id,
			(unsigned long long)ino);
		return;
	}
	if (--f->count == 0 && f->unregistered) {
		/* the master never knew: nothing to tell it */
		f->unregistered = false;
		cs->nunreg--;
		cs_forget_if_idle(cs, f);
	} else if (f->count == 0 && f->registering) {
		/* csess_sole's registration queues the close when it ends */
	} else if (f->count == 0) {
		cs_queue_close(cs, f);
	}
	pthread_mutex_unlock(&cs->lock);
}

/* Lock held: f's last close here goes to the master with the next
 * heartbeat. */
static void cs_queue_close(struct csess *cs, struct cs_file *f)
{
	if (cs->npending == cs->pending_cap) {
		size_t cap = cs->pending_cap ? cs->pending_cap * 2 : 256;
		uint64_t *v = realloc(cs->pending, cap * sizeof(*v));
		if (v) {
			cs->pending = v;
			cs->pending_cap = cap;
		}
	}
	if (cs->npending < cs->pending_cap) {
		f->pending_close = true;
		cs->pending[cs->npending++] = f->ino;
		if (cs->npending >= CS_CLOSE_BATCH_WAKE)
			pthread_cond_signal(&cs->hb_cond);
	} else {
		/* Out of memory: the master keeps the inode counted as open
		 * here until the session ends. */
		log_warn("session %s: cannot queue the close of inode %llu", cs->id,
			 (unsigned long long)f->ino);
		f->count = 0;
		cs_forget_if_idle(cs, f);
	}
}

bool csess_open_sole(struct csess *cs, uint64_t ino)
{
	pthread_mutex_lock(&cs->lock);
	bool ok = cs->sole;
	struct cs_file **p = cs_slot(cs, ino), *f = *p;
	if (ok && f) {
		ok = !f->unborn && cs_reopen(f);
	} else if (ok && (f = calloc(1, sizeof(*f)))) {
		f->ino = ino;
		f->count = 1;
		f->unregistered = true;
		cs->nunreg++;
		*p = f;
	} else {
		ok = false;
	}
	pthread_mutex_unlock(&cs->lock);
	return ok;
}

void csess_sole(struct csess *cs, bool on)
{
	pthread_mutex_lock(&cs->lock);
	cs->sole = on;
	pthread_mutex_unlock(&cs->lock);
	if (!on)
		csess_register_all(cs);
}

void csess_register_all(struct csess *cs)
{
	/* taken in one pass (registering: csess_close leaves their last
	 * close to us), then told one /v1/open each; without memory for
	 * the list none is taken, and the next end of sole use tries again */
	pthread_mutex_lock(&cs->lock);
	size_t n = 0, cap = cs->nunreg;
	struct cs_file **undeclared = cap ? malloc(cap * sizeof(*undeclared)) : NULL;
	for (size_t b = 0; b < CS_HASH_SIZE && n < cap && undeclared; b++)
		for (struct cs_file *f = cs->hash[b]; f && n < cap; f = f->next)
			if (f->unregistered && !f->registering) {
				f->registering = true;
				f->unregistered = false;
				cs->nunreg--;
				undeclared[n++] = f;
			}
	pthread_mutex_unlock(&cs->lock);
	bool answered = true;
	for (size_t i = 0; i < n; i++) {
		struct cs_file *f = undeclared[i];
		int rc = answered ? csess_call(cs, "open",
					       json_pack("{s:I}", "ino", (json_int_t)f->ino), NULL)
				  : -EAGAIN;
		if (rc < 0 && rc != -ENOENT && rc != -EAGAIN)
			log_warn("session %s: cannot declare inode %llu open: %s", cs->id,
				 (unsigned long long)f->ino, strerror(-rc));
		pthread_mutex_lock(&cs->lock);
		f->registering = false;
		if (rc < 0 && rc != -ENOENT) {
			/* not taken: unknown there as before; the next end of
			 * sole use (or a session re-open) tries again */
			answered = false;
			if (f->count > 0) {
				f->unregistered = true;
				cs->nunreg++;
			}
			cs_forget_if_idle(cs, f);
		} else if (rc == 0 && f->count == 0) {
			cs_queue_close(cs, f);   /* closed meanwhile */
		} else {
			cs_forget_if_idle(cs, f);
		}
		pthread_cond_broadcast(&cs->cond);
		pthread_mutex_unlock(&cs->lock);
	}
	free(undeclared);
}
