/* local_read — chunk files of local replicas, read in place (see
 * local_read.h).
 *
 * Owns: the kept descriptors (a hash table by chunk id with a use order,
 * LR_FDS_MAX at most), what it learnt of workers (which have no socket in
 * this namespace, until when), and each thread's block buffer. One
 * mutex, mu, guards the table and the workers; it is never held across a
 * system call on a chunk file or a socket. An entry in use is held by a
 * reference; one pushed out or dropped while in use is closed by its last
 * user. A sweeper thread closes the files deleted or replaced since they
 * were handed over, and those left unread (LR_SWEEP_MS, LR_IDLE_MS). */
#include "local_read.h"

#include "chunk_file.h"
#include "clock.h"
#include "ids.h"
#include "local_sock.h"
#include "log.h"
#include "metrics.h"
#include "worker_health.h"
#include "worker_io.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LR_FDS_MAX 256          /* chunk files kept open */
#define LR_BUCKETS 512
#define LR_WORKERS_MAX 64       /* workers remembered as not local */
#define LR_ASK_TIMEOUT_MS 500   /* a worker's answer for a descriptor */
#define LR_NOT_LOCAL_MS 30000   /* a worker with no socket here is asked again after */
/* A read this long is a sequential reader's window: the disk is asked for
 * all of it, and for the window after it, before the first byte is read
 * (what the worker does for the windows it serves). */
#define LR_WILLNEED_MIN ((size_t)1 << 20)
/* Every LR_SWEEP_MS the kept files are looked at: one that lost its name
 * (the chunk was deleted or replaced: its disk space stays taken while a
 * descriptor holds it) or was not read for LR_IDLE_MS is closed. */
#define LR_SWEEP_MS 1000
#define LR_IDLE_MS 120000

struct lr_fd {
	uint64_t chunk_id;
	uint32_t version;
	char worker_id[WORKER_ID_STRLEN + 1];
	int fd;
	int refs;               /* users, plus one while in the table */
	bool in_table;
	int64_t used_ms;        /* last read */
	struct lr_fd *hnext;
	struct lr_fd *newer, *older;
};

struct lr_worker {
	char id[WORKER_ID_STRLEN + 1];
	int64_t until_ms;       /* not local until then */
};

struct local_read {
	struct whealth *health;
	pthread_key_t block_key;        /* each thread's CHUNK_BLOCK_SIZE buffer */

	pthread_mutex_t mu;
	struct lr_fd *buckets[LR_BUCKETS];
	size_t count;
	struct lr_fd *newest, *oldest;
	struct lr_worker remote[LR_WORKERS_MAX];
	size_t nremote;
	bool stop;
	pthread_cond_t stop_cond;       /* wakes the sweeper to stop */
	pthread_t sweeper;
	bool sweeping;          /* the sweeper runs: started with the first
				 * kept file (after the mount daemonized) */
};

static void *lr_sweeper(void *arg);

int local_read_new(struct whealth *health, struct local_read **ret)
{
	struct local_read *lr = calloc(1, sizeof(*lr));

	if (!lr)
		return -ENOMEM;
	if (pthread_key_create(&lr->block_key, free) != 0) {
		free(lr);
		return -ENOMEM;
	}
	pthread_mutex_init(&lr->mu, NULL);
	clock_cond_init(&lr->stop_cond);
	lr->health = health;
	*ret = lr;
	return 0;
}

static struct lr_fd **lr_chain(struct local_read *lr, uint64_t chunk_id)
{
	return &lr->buckets[(chunk_id * 0x9e3779b97f4a7c15ull) >> 55];
}

/* Under mu: drop one reference; the last closes the file. */
static void lr_unref_locked(struct lr_fd *e)
{
	if (--e->refs > 0)
		return;
	close(e->fd);
	free(e);
}

/* Under mu: take e out of the use order. */
static void lr_unlink_use_locked(struct local_read *lr, struct lr_fd *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		lr->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		lr->oldest = e->newer;
}

/* Under mu: take e out of the table and the use order. */
static void lr_remove_locked(struct local_read *lr, struct lr_fd *e)
{
	struct lr_fd **pp = lr_chain(lr, e->chunk_id);

	if (!e->in_table)
		return;
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lr_unlink_use_locked(lr, e);
	e->in_table = false;
	lr->count--;
	lr_unref_locked(e);
}

static void lr_push_newest_locked(struct local_read *lr, struct lr_fd *e)
{
	e->older = lr->newest;
	e->newer = NULL;
	if (lr->newest)
		lr->newest->newer = e;
	else
		lr->oldest = e;
	lr->newest = e;
}

static struct lr_fd *lr_find_locked(struct local_read *lr, uint64_t chunk_id)
{
	for (struct lr_fd *e = *lr_chain(lr, chunk_id); e; e = e->hnext)
		if (e->chunk_id == chunk_id)
			return e;
	return NULL;
}

static bool lr_lists(const struct wio_chunk *c, const char *worker_id)
{
	for (int i = 0; i < c->nrep; i++)
		if (strcmp(c->rep[i].worker_id, worker_id) == 0)
			return true;
	return false;
}

/* The kept entry for c, referenced, or NULL. An entry for another
 * version, or from a worker the master no longer lists, is dropped. */
static struct lr_fd *lr_lookup(struct local_read *lr, const struct wio_chunk *c)
{
	struct lr_fd *e;

	pthread_mutex_lock(&lr->mu);
	e = lr_find_locked(lr, c->chunk_id);
	if (e && (e->version != c->version || !lr_lists(c, e->worker_id))) {
		lr_remove_locked(lr, e);
		e = NULL;
	}
	if (e) {
		e->refs++;
		e->used_ms = clock_now_ms();
		lr_unlink_use_locked(lr, e);    /* to the front of the use order */
		lr_push_newest_locked(lr, e);
	}
	pthread_mutex_unlock(&lr->mu);
	return e;
}

/* Keep fd, chunk c's file from worker_id; returns the entry referenced
 * (another thread's entry, when it got there first: fd is closed). */
static struct lr_fd *lr_insert(struct local_read *lr, const struct wio_chunk *c,
			       const char *worker_id, int fd)
{
	struct lr_fd *e = calloc(1, sizeof(*e)), *old;

	if (!e) {
		close(fd);
		return NULL;
	}
	e->chunk_id = c->chunk_id;
	e->version = c->version;
	snprintf(e->worker_id, sizeof(e->worker_id), "%s", worker_id);
	e->fd = fd;
	e->refs = 2;
	e->in_table = true;
	e->used_ms = clock_now_ms();
	pthread_mutex_lock(&lr->mu);
	old = lr_find_locked(lr, c->chunk_id);
	if (old && old->version == c->version) {
		old->refs++;
		pthread_mutex_unlock(&lr->mu);
		close(fd);
		free(e);
		return old;
	}
	if (!lr->sweeping && pthread_create(&lr->sweeper, NULL, lr_sweeper, lr) != 0) {
		pthread_mutex_unlock(&lr->mu);
		close(fd);
		free(e);
		return NULL;    /* no file is kept that nobody would close */
	}
	lr->sweeping = true;
	if (old)
		lr_remove_locked(lr, old);
	while (lr->count >= LR_FDS_MAX && lr->oldest)
		lr_remove_locked(lr, lr->oldest);
	e->hnext = *lr_chain(lr, c->chunk_id);
	*lr_chain(lr, c->chunk_id) = e;
	lr_push_newest_locked(lr, e);
	lr->count++;
	pthread_mutex_unlock(&lr->mu);
	return e;
}

static void lr_release(struct local_read *lr, struct lr_fd *e, bool drop)
{
	pthread_mutex_lock(&lr->mu);
	if (drop)
		lr_remove_locked(lr, e);
	lr_unref_locked(e);
	pthread_mutex_unlock(&lr->mu);
}

/* Under mu: worker id's slot in remote[], or NULL. */
static struct lr_worker *lr_remote_locked(struct local_read *lr, const char *id)
{
	for (size_t i = 0; i < lr->nremote; i++)
		if (strcmp(lr->remote[i].id, id) == 0)
			return &lr->remote[i];
	return NULL;
}

static bool lr_not_local(struct local_read *lr, const char *id, int64_t now)
{
	struct lr_worker *w;
	bool r;

	pthread_mutex_lock(&lr->mu);
	w = lr_remote_locked(lr, id);
	r = w && w->until_ms > now;
	pthread_mutex_unlock(&lr->mu);
	return r;
}

/* Remember that worker id has no socket this mount may use, for a while;
 * with the table full, the slot whose time is up soonest is reused. */
static void lr_mark_not_local(struct local_read *lr, const char *id, int64_t now)
{
	struct lr_worker *w;

	pthread_mutex_lock(&lr->mu);
	w = lr_remote_locked(lr, id);
	if (!w && lr->nremote < LR_WORKERS_MAX)
		w = &lr->remote[lr->nremote++];
	if (!w) {
		w = &lr->remote[0];
		for (size_t i = 1; i < LR_WORKERS_MAX; i++)
			if (lr->remote[i].until_ms < w->until_ms)
				w = &lr->remote[i];
	}
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->until_ms = now + LR_NOT_LOCAL_MS;
	pthread_mutex_unlock(&lr->mu);
}

/* Receive the worker's 4-byte answer and the descriptor it carries. The
 * descriptor, or -errno: the worker's refusal, -EPROTO for an answer
 * without one, -EAGAIN on a timeout. */
static int lr_recv_fd(int s)
{
	uint32_t code;
	struct iovec iov = { .iov_base = &code, .iov_len = sizeof(code) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	int fd = -1;
	ssize_t n;

	do
		n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (n != (ssize_t)sizeof(code) || (msg.msg_flags & MSG_CTRUNC)) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	code = le32toh(code);
	if (code != 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return code != 0 && code < 4096 ? -(int)code : -EPROTO;
	}
	return fd;
}

/* Ask worker_id, through its local socket, for chunk c's file. The
 * descriptor, or -errno: -ECONNREFUSED (no such socket in this
 * namespace), -EPERM (the socket's owner is not to be believed), the
 * worker's refusal (-ESTALE, -ENOENT, -EACCES), -EAGAIN (no answer in
 * time). */
static int lr_ask(const struct wio_chunk *c, const char *worker_id)
{
	struct sockaddr_un sa;
	socklen_t salen;
	char line[LOCAL_SOCK_REQ_MAX + 1];
	char id[CHUNK_ID_STRLEN + 1];
	int s, n, r;

	if (local_sock_addr(worker_id, &sa, &salen) < 0)
		return -ECONNREFUSED;
	chunk_id_format(c->chunk_id, id);
	n = snprintf(line, sizeof(line), "%s %" PRIu32 " %s\n", id, c->version, c->token);
	if (n < 0 || n > LOCAL_SOCK_REQ_MAX)
		return -EINVAL;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	local_sock_timeouts(s, LR_ASK_TIMEOUT_MS);
	if (connect(s, (struct sockaddr *)&sa, salen) < 0) {
		r = errno == ENOENT ? -ECONNREFUSED : -errno;
		goto out;
	}
	if (!local_sock_peer_trusted(s)) {
		r = -EPERM;
		goto out;
	}
	if (send(s, line, (size_t)n, MSG_NOSIGNAL) != n) {
		r = -EAGAIN;
		goto out;
	}
	r = lr_recv_fd(s);
out:
	close(s);
	return r;
}

/* A descriptor of c's file from one of its local replicas, kept and
 * referenced, or NULL. */
static struct lr_fd *lr_obtain(struct local_read *lr, const struct wio_chunk *c)
{
	int64_t now = clock_now_ms();

	for (int i = 0; i < c->nrep; i++) {
		const char *wid = c->rep[i].worker_id;
		int fd;

		if (lr_not_local(lr, wid, now) || whealth_bad(lr->health, wid))
			continue;
		fd = lr_ask(c, wid);
		if (fd >= 0)
			return lr_insert(lr, c, wid, fd);
		if (fd == -EPERM)
			log_warn("local reads: the local socket of worker %s belongs to "
				 "another user; not used", wid);
		if (fd == -ECONNREFUSED || fd == -EPERM || fd == -EINVAL)
			lr_mark_not_local(lr, wid, now);
		else if (fd == -EAGAIN)
			whealth_suspect(lr->health, wid);
	}
	return NULL;
}

static unsigned char *lr_block(struct local_read *lr)
{
	unsigned char *b = pthread_getspecific(lr->block_key);

	if (b)
		return b;
	b = malloc(CHUNK_BLOCK_SIZE);
	if (b && pthread_setspecific(lr->block_key, b) != 0) {
		free(b);
		b = NULL;
	}
	return b;
}

int local_read(struct local_read *lr, const struct wio_chunk *c, uint64_t off, size_t len,
	       void *buf)
{
	unsigned char *block;
	struct lr_fd *e = lr_lookup(lr, c);
	int r;

	if (!e)
		e = lr_obtain(lr, c);
	if (!e)
		return -EAGAIN;
	block = lr_block(lr);
	if (!block) {
		lr_release(lr, e, false);
		return -EAGAIN;
	}
	if (len >= LR_WILLNEED_MIN)
		posix_fadvise(e->fd, (off_t)(CHUNK_HEADER_SIZE + off), (off_t)(2 * len),
			      POSIX_FADV_WILLNEED);
	r = chunk_file_read(e->fd, c->chunk_id, c->version, off, len, buf, block);
	/* a block that does not check may be a write racing the read: the
	 * file stays kept; one replaced, deleted or moved on is let go */
	lr_release(lr, e, r < 0 && r != -EIO);
	if (r < 0)
		return -EAGAIN;
	mount_metrics_add(MM_LOCAL_READS, 1);
	return 0;
}

/* Close the kept files that lost their name or were left unread. The
 * fstats run without mu, on entries referenced for the while. */
static void lr_sweep(struct local_read *lr)
{
	struct lr_fd *all[LR_FDS_MAX];
	bool drop[LR_FDS_MAX];
	int64_t idle_before = clock_now_ms() - LR_IDLE_MS;
	size_t n = 0;

	pthread_mutex_lock(&lr->mu);
	for (struct lr_fd *e = lr->newest; e && n < LR_FDS_MAX; e = e->older) {
		e->refs++;
		all[n++] = e;
	}
	pthread_mutex_unlock(&lr->mu);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		drop[i] = all[i]->used_ms < idle_before ||
			  (fstat(all[i]->fd, &st) == 0 && st.st_nlink == 0);
	}
	pthread_mutex_lock(&lr->mu);
	for (size_t i = 0; i < n; i++) {
		if (drop[i])
			lr_remove_locked(lr, all[i]);
		lr_unref_locked(all[i]);
	}
	pthread_mutex_unlock(&lr->mu);
}

static void *lr_sweeper(void *arg)
{
	struct local_read *lr = arg;

	pthread_mutex_lock(&lr->mu);
	while (!lr->stop) {
		struct timespec at = clock_deadline_ms(LR_SWEEP_MS);

		if (pthread_cond_timedwait(&lr->stop_cond, &lr->mu, &at) == 0 || lr->stop)
			continue;
		pthread_mutex_unlock(&lr->mu);
		lr_sweep(lr);
		pthread_mutex_lock(&lr->mu);
	}
	pthread_mutex_unlock(&lr->mu);
	return NULL;
}

void local_read_free(struct local_read *lr)
{
	if (!lr)
		return;
	pthread_mutex_lock(&lr->mu);
	lr->stop = true;
	pthread_cond_signal(&lr->stop_cond);
	pthread_mutex_unlock(&lr->mu);
	if (lr->sweeping)
		pthread_join(lr->sweeper, NULL);
	pthread_mutex_lock(&lr->mu);
	while (lr->oldest)
		lr_remove_locked(lr, lr->oldest);
	pthread_mutex_unlock(&lr->mu);
	pthread_mutex_destroy(&lr->mu);
	pthread_cond_destroy(&lr->stop_cond);
	/* the calling thread's buffer: deleting the key runs no destructor */
	free(pthread_getspecific(lr->block_key));
	pthread_key_delete(lr->block_key);
	free(lr);
}
