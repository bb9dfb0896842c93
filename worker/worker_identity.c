/* worker_identity — the worker's id, data-folder lock and address file
 * (worker_identity.h). No state of its own; main() calls it before any
 * thread starts and at shutdown. Files are written to a temporary name,
 * fsynced and renamed, so a crash leaves the old file or the new one. */
#include "worker_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int wi_path(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Write text to dir/name atomically. */
static int wi_write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, r = 0;

	if (wi_path(path, sizeof(path), dir, name) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	else if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int worker_identity_lock(const char *data_dir, int *ret_fd)
{
	char path[PATH_MAX];
	int fd;

	if (mkdir(data_dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;

		log_err("cannot create data folder %s: %s", data_dir, strerror(errno));
		return r;
	}
	if (wi_path(path, sizeof(path), data_dir, "lock") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int r = -errno;

		log_err("cannot open %s: %s", path, strerror(errno));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		log_err("data folder %s is in use by another worker (%s is locked)", data_dir,
			path);
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int worker_identity_load(const char *data_dir, char *out)
{
	char path[PATH_MAX], buf[64], id[WORKER_ID_STRLEN + 2];
	ssize_t n;
	int fd, r;

	if (wi_path(path, sizeof(path), data_dir, "worker_id") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		r = n < 0 ? -errno : 0;
		close(fd);
		if (r < 0) {
			log_err("cannot read %s: %s", path, strerror(-r));
			return r;
		}
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!worker_id_valid(buf)) {
			log_err("%s does not hold a worker id (16 lowercase hex digits); "
				"fix or remove it", path);
			return -EINVAL;
		}
		memcpy(out, buf, WORKER_ID_STRLEN + 1);
		return 0;
	}
	if (errno != ENOENT) {
		r = -errno;
		log_err("cannot open %s: %s", path, strerror(errno));
		return r;
	}
	r = worker_id_generate(id);
	if (r < 0) {
		log_err("cannot make a worker id: %s", strerror(-r));
		return r;
	}
	id[WORKER_ID_STRLEN] = '\n';
	id[WORKER_ID_STRLEN + 1] = '\0';
	r = wi_write_file(data_dir, "worker_id", id);
	if (r < 0) {
		log_err("cannot write %s: %s", path, strerror(-r));
		return r;
	}
	memcpy(out, id, WORKER_ID_STRLEN);
	out[WORKER_ID_STRLEN] = '\0';
	log_info("new worker id %s written to %s", out, path);
	return 0;
}

int worker_identity_write_addr(const char *data_dir, const char *addr)
{
	char text[300];

	if (snprintf(text, sizeof(text), "%s\n", addr) >= (int)sizeof(text))
		return -ENAMETOOLONG;
	return wi_write_file(data_dir, "worker.addr", text);
}

void worker_identity_remove_addr(const char *data_dir)
{
	char path[PATH_MAX];

	if (wi_path(path, sizeof(path), data_dir, "worker.addr") == 0)
		unlink(path);
}
