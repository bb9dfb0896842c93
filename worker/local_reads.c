/* local_reads — descriptors of chunk files for local mounts (see
 * local_reads.h).
 *
 * Owns: the listening socket, an eventfd that stops the thread, and the
 * thread. The thread is the only one touching either socket, so there is
 * no lock; the store locks itself. */
#include "local_reads.h"

#include "chunk_store.h"
#include "ids.h"
#include "load_stats.h"
#include "local_sock.h"
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LR_IO_TIMEOUT_MS 1000

struct local_reads {
	struct local_reads_config cfg;
	int listen_fd;
	int stop_fd;            /* eventfd: written once to stop the thread */
	pthread_t thread;
};

/* Send the answer: err as a little-endian int32, with fd attached when
 * err is 0. */
static void lr_answer(int conn, int32_t err, int fd)
{
	uint32_t code = htole32((uint32_t)err);
	struct iovec iov = { .iov_base = &code, .iov_len = sizeof(code) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (err == 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(conn, &msg, MSG_NOSIGNAL) < 0)
		log_debug("local read: answer not sent: %s", strerror(errno));
}

/* Read the request line into buf (NUL-terminated, without its '\n'). 0,
 * or -EINVAL for a line too long or cut short. */
static int lr_read_line(int conn, char *buf, size_t cap)
{
	size_t have = 0;

	while (have < cap - 1) {
		ssize_t n = recv(conn, buf + have, cap - 1 - have, 0);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EINVAL;
		have += (size_t)n;
		buf[have] = '\0';
		nl = memchr(buf, '\n', have);
		if (nl) {
			*nl = '\0';
			return nl + 1 == buf + have ? 0 : -EINVAL;
		}
	}
	return -EINVAL;
}

/* Parse "CHUNK_ID VERSION TOKEN" and check the token for reading. 0,
 * -EINVAL or -EACCES. */
static int lr_parse(struct local_reads *lr, char *line, uint64_t *id, uint32_t *version)
{
	char *save = NULL, *end;
	char *idtxt = strtok_r(line, " ", &save);
	char *vtxt = strtok_r(NULL, " ", &save);
	char *tok = strtok_r(NULL, " ", &save);
	unsigned long long v;

	if (!idtxt || !vtxt || !tok || strtok_r(NULL, " ", &save) ||
	    chunk_id_parse(idtxt, id) < 0 || vtxt[0] < '0' || vtxt[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(vtxt, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*version = (uint32_t)v;
	if (token_check(lr->cfg.secret, *id, *version, "r", tok, time(NULL)) < 0)
		return -EACCES;
	return 0;
}

static void lr_serve(struct local_reads *lr, int conn)
{
	char line[LOCAL_SOCK_REQ_MAX + 1];
	uint64_t id;
	uint32_t version;
	int fd = -1, r;

	if (!local_sock_peer_trusted(conn)) {
		lr_answer(conn, EACCES, -1);
		load_stats_local_open(lr->cfg.stats, false);
		return;
	}
	local_sock_timeouts(conn, LR_IO_TIMEOUT_MS);
	r = lr_read_line(conn, line, sizeof(line));
	if (r == 0)
		r = lr_parse(lr, line, &id, &version);
	if (r == 0)
		r = chunk_store_open_read(lr->cfg.store, id, version, &fd);
	lr_answer(conn, -r, fd);
	load_stats_local_open(lr->cfg.stats, r == 0);
	if (fd >= 0)
		close(fd);
}

static void *lr_thread(void *arg)
{
	struct local_reads *lr = arg;
	struct pollfd p[2] = {
		{ .fd = lr->listen_fd, .events = POLLIN },
		{ .fd = lr->stop_fd, .events = POLLIN },
	};

	for (;;) {
		int conn;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("local reads: poll: %s; no more local reads", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		conn = accept4(lr->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;   /* the peer gave up, or out of descriptors for now */
		lr_serve(lr, conn);
		close(conn);
	}
	return NULL;
}

int local_reads_start(const struct local_reads_config *cfg, struct local_reads **ret)
{
	struct local_reads *lr = calloc(1, sizeof(*lr));
	struct sockaddr_un sa;
	socklen_t salen;
	int r;

	if (!lr)
		return -ENOMEM;
	lr->cfg = *cfg;
	lr->listen_fd = lr->stop_fd = -1;
	r = local_sock_addr(cfg->worker_id, &sa, &salen);
	if (r < 0)
		goto out_free;
	lr->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	lr->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (lr->listen_fd < 0 || lr->stop_fd < 0 ||
	    bind(lr->listen_fd, (struct sockaddr *)&sa, salen) < 0 ||
	    listen(lr->listen_fd, 64) < 0) {
		r = -errno;
		goto out_free;
	}
	r = -pthread_create(&lr->thread, NULL, lr_thread, lr);
	if (r < 0)
		goto out_free;
	*ret = lr;
	return 0;

out_free:
	if (lr->listen_fd >= 0)
		close(lr->listen_fd);
	if (lr->stop_fd >= 0)
		close(lr->stop_fd);
	free(lr);
	return r;
}

void local_reads_stop(struct local_reads *lr)
{
	uint64_t one = 1;

	if (!lr)
		return;
	if (write(lr->stop_fd, &one, sizeof(one)) < 0)
		log_warn("local reads: cannot stop the thread: %s", strerror(errno));
	pthread_join(lr->thread, NULL);
	close(lr->listen_fd);
	close(lr->stop_fd);
	free(lr);
}
