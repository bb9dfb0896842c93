/* metrics — the mount's counters and GET /metrics (metrics.h).
 *
 * State: one static set of atomic counters (struct mm_state), the
 * process's: written with relaxed atomic adds from FUSE's threads, the
 * file handles' reader and flusher threads and the session heartbeat,
 * read by the endpoint's connection threads. This is the one mutable
 * global of the mount, on purpose: a counter is a fact about the process
 * (as a Prometheus client library's default registry is), and passing a
 * handle through every module for it would thread metrics through APIs
 * that have no other use for it. Nothing reads a counter to decide
 * anything. A scrape sees each counter exact but not all at one instant.
 *
 * The wrapped operations table: mm_inner (the real table) is written once
 * by mount_metrics_wrap_ops before the FUSE session exists and only read
 * after. Each wrapper takes the time, calls the real handler (which
 * replies before it returns, or hands the request to another thread, as
 * a blocking lock does; then the time is until that hand-over), and adds
 * one call and the elapsed time to its operation.
 *
 * Does not: keep histograms per operation (count and time sum, from which
 * a rate of mean latency follows), or label anything by inode or path. */
#include "fs_ops.h"     /* FUSE_USE_VERSION and fuse_lowlevel.h first */
#include "metrics.h"

#include "errors.h"
#include "http_server.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every request operation of fuse_lowlevel_ops: X(op, (params), (args)). */
#define MM_OPS(X)                                                                            \
	X(lookup, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))   \
	X(forget, (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup), (req, ino, nlookup))      \
	X(getattr, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi)) \
	X(setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,             \
		    struct fuse_file_info *fi), (req, ino, attr, to_set, fi))                     \
	X(readlink, (fuse_req_t req, fuse_ino_t ino), (req, ino))                               \
	X(mknod, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,            \
		  dev_t rdev), (req, parent, name, mode, rdev))                                   \
	X(mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode),           \
	  (req, parent, name, mode))                                                            \
	X(unlink, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))   \
	X(rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))    \
	X(symlink, (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name),    \
	  (req, link, parent, name))                                                            \
	X(rename, (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,  \
		   const char *newname, unsigned int flags),                                      \
	  (req, parent, name, newparent, newname, flags))                                       \
	X(link, (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname),   \
	  (req, ino, newparent, newname))                                                       \
	X(open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))    \
	X(read, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,                       \
		 struct fuse_file_info *fi), (req, ino, size, off, fi))                           \
	X(write, (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,     \
		  struct fuse_file_info *fi), (req, ino, buf, size, off, fi))                     \
	X(flush, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))   \
	X(release, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi)) \
	X(fsync, (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi),    \
	  (req, ino, datasync, fi))                                                             \
	X(opendir, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi)) \
	X(readdir, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,                    \
		    struct fuse_file_info *fi), (req, ino, size, off, fi))                        \
	X(releasedir, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),             \
	  (req, ino, fi))                                                                       \
	X(fsyncdir, (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi), \
	  (req, ino, datasync, fi))                                                             \
	X(statfs, (fuse_req_t req, fuse_ino_t ino), (req, ino))                                 \
	X(setxattr, (fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,      \
		     size_t size, int flags), (req, ino, name, value, size, flags))               \
	X(getxattr, (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size),           \
	  (req, ino, name, size))                                                               \
	X(listxattr, (fuse_req_t req, fuse_ino_t ino, size_t size), (req, ino, size))           \
	X(removexattr, (fuse_req_t req, fuse_ino_t ino, const char *name), (req, ino, name))    \
	X(access, (fuse_req_t req, fuse_ino_t ino, int mask), (req, ino, mask))                 \
	X(create, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,           \
		   struct fuse_file_info *fi), (req, parent, name, mode, fi))                     \
	X(getlk, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,                   \
		  struct flock *lock), (req, ino, fi, lock))                                      \
	X(setlk, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,                   \
		  struct flock *lock, int sleep), (req, ino, fi, lock, sleep))                    \
	X(bmap, (fuse_req_t req, fuse_ino_t ino, size_t blocksize, uint64_t idx),              \
	  (req, ino, blocksize, idx))                                                           \
	X(ioctl, (fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,                 \
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf,                  \
		  size_t in_bufsz, size_t out_bufsz),                                             \
	  (req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz))                         \
	X(poll, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,                    \
		 struct fuse_pollhandle *ph), (req, ino, fi, ph))                                 \
	X(write_buf, (fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,     \
		      struct fuse_file_info *fi), (req, ino, bufv, off, fi))                      \
	X(forget_multi, (fuse_req_t req, size_t count, struct fuse_forget_data *forgets),      \
	  (req, count, forgets))                                                                \
	X(flock, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op),          \
	  (req, ino, fi, op))                                                                   \
	X(fallocate, (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,    \
		      struct fuse_file_info *fi), (req, ino, mode, offset, length, fi))           \
	X(readdirplus, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,                \
			struct fuse_file_info *fi), (req, ino, size, off, fi))                    \
	X(copy_file_range, (fuse_req_t req, fuse_ino_t ino_in, off_t off_in,                   \
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,      \
			    struct fuse_file_info *fi_out, size_t len, int flags),                \
	  (req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags))                   \
	X(lseek, (fuse_req_t req, fuse_ino_t ino, off_t off, int whence,                       \
		  struct fuse_file_info *fi), (req, ino, off, whence, fi))

enum mm_op {
#define MM_OP_ENUM(op, params, args) MM_OP_##op,
	MM_OPS(MM_OP_ENUM)
#undef MM_OP_ENUM
	MM_OP_COUNT
};

static const char *const mm_op_names[MM_OP_COUNT] = {
#define MM_OP_NAME(op, params, args) #op,
	MM_OPS(MM_OP_NAME)
#undef MM_OP_NAME
};

/* The errnos the wire knows (errors.h), a few more the mount gives, then
 * "other". A number listed twice is counted at its first place. */
static const int mm_errnos[] = {
#define MM_ERRNO(e, http) e,
	BIGFS_ERRNO_MAP(MM_ERRNO)
#undef MM_ERRNO
	EDQUOT, EINTR, ENOTTY, EOPNOTSUPP,
};
#define MM_NERRNO (sizeof(mm_errnos) / sizeof(mm_errnos[0]))

static const struct {
	const char *name, *type, *help;
} mm_counter_info[MM_COUNTER_COUNT] = {
#define MM_COUNTER_INFO(e, name, type, help) { name, type, help },
	MM_COUNTER_LIST(MM_COUNTER_INFO)
#undef MM_COUNTER_INFO
};

typedef atomic_uint_fast64_t mm_count;

static struct mm_state {
	mm_count counters[MM_COUNTER_COUNT];
	mm_count op_calls[MM_OP_COUNT];
	mm_count op_ns[MM_OP_COUNT];
	mm_count errors[MM_NERRNO + 1];       /* the last: any other errno */
	atomic_int master_answered;           /* -1: no request yet */
} mm = { .master_answered = -1 };

static const struct fuse_lowlevel_ops *mm_inner;

struct mount_metrics_server {
	struct http_server *srv;
	mount_metrics_gauges_fn gauges;
	void *arg;
	time_t start_time;
};

static uint64_t mm_load(mm_count *c)
{
	return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

void mount_metrics_add(enum mm_counter c, uint64_t n)
{
	if ((unsigned)c < MM_COUNTER_COUNT && n)
		atomic_fetch_add_explicit(&mm.counters[c], n, memory_order_relaxed);
}

void mount_metrics_sub(enum mm_counter c, uint64_t n)
{
	if ((unsigned)c < MM_COUNTER_COUNT && n)
		atomic_fetch_sub_explicit(&mm.counters[c], n, memory_order_relaxed);
}

uint64_t mount_metrics_get(enum mm_counter c)
{
	return (unsigned)c < MM_COUNTER_COUNT ? mm_load(&mm.counters[c]) : 0;
}

void mount_metrics_fuse_error(int err)
{
	size_t i = 0;

	if (err >= 0)
		return;
	while (i < MM_NERRNO && mm_errnos[i] != -err)
		i++;
	atomic_fetch_add_explicit(&mm.errors[i], 1, memory_order_relaxed);
}

void mount_metrics_master_attempt(bool answered)
{
	atomic_fetch_add_explicit(&mm.counters[MM_MASTER_REQUESTS], 1, memory_order_relaxed);
	atomic_store_explicit(&mm.master_answered, answered ? 1 : 0, memory_order_relaxed);
}

/* ---- the wrapped operations table ------------------------------------- */

static uint64_t mm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mm_op_done(enum mm_op op, uint64_t t0)
{
	atomic_fetch_add_explicit(&mm.op_calls[op], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mm.op_ns[op], mm_now_ns() - t0, memory_order_relaxed);
}

#define MM_WRAP(op, params, args)                 \
	static void mm_##op params                \
	{                                         \
		uint64_t t0 = mm_now_ns();        \
		mm_inner->op args;                \
		mm_op_done(MM_OP_##op, t0);       \
	}
MM_OPS(MM_WRAP)
#undef MM_WRAP

void mount_metrics_wrap_ops(const struct fuse_lowlevel_ops *ops, struct fuse_lowlevel_ops *out)
{
	mm_inner = ops;
	*out = *ops;
#define MM_SET(op, params, args) \
	if (ops->op)             \
		out->op = mm_##op;
	MM_OPS(MM_SET)
#undef MM_SET
}

/* ---- rendering ------------------------------------------------------------ */

static void mm_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Whether the real table has operation i (only those are shown). */
static bool mm_wrapped(int i)
{
	switch (i) {
#define MM_CASE(op, params, args) \
	case MM_OP_##op:          \
		return mm_inner->op != NULL;
		MM_OPS(MM_CASE)
#undef MM_CASE
	}
	return false;
}

/* errno's symbolic name ("EDQUOT"); "other" past the table. */
static const char *mm_errno_name(size_t i)
{
	const char *name;

	if (i >= MM_NERRNO)
		return "other";
	name = errno_name(mm_errnos[i]);
	if (strcmp(name, "EUNKNOWN") == 0)
		name = strerrorname_np(mm_errnos[i]);
	return name ? name : "other";
}

static void mm_render_errors(FILE *f)
{
	mm_head(f, "bigfs_mount_fuse_errors_total", "counter",
		"FUSE requests answered with an error, by errno.");
	for (size_t i = 0; i <= MM_NERRNO; i++) {
		uint64_t v = mm_load(&mm.errors[i]);
		bool always = i < MM_NERRNO && (mm_errnos[i] == EIO || mm_errnos[i] == ENOENT ||
						 mm_errnos[i] == EACCES || mm_errnos[i] == ENOSPC);

		/* the common ones always (zeros too), the rest once they
		 * happened; a duplicate of the table is never counted */
		if (v == 0 && !always)
			continue;
		fprintf(f, "bigfs_mount_fuse_errors_total{errno=\"%s\"} %" PRIu64 "\n",
			mm_errno_name(i), v);
	}
}

static void mm_render(struct mount_metrics_server *s, FILE *f)
{
	int answered = atomic_load_explicit(&mm.master_answered, memory_order_relaxed);

	mm_head(f, "bigfs_mount_fuse_requests", "summary",
		"FUSE requests handled, by operation, and the seconds their handlers took.");
	for (int i = 0; mm_inner && i < MM_OP_COUNT; i++) {
		uint64_t ns = mm_load(&mm.op_ns[i]);

		if (!mm_wrapped(i))
			continue;
		fprintf(f, "bigfs_mount_fuse_requests_count{op=\"%s\"} %" PRIu64 "\n",
			mm_op_names[i], mm_load(&mm.op_calls[i]));
		fprintf(f, "bigfs_mount_fuse_requests_sum{op=\"%s\"} %" PRIu64 ".%09" PRIu64 "\n",
			mm_op_names[i], ns / 1000000000u, ns % 1000000000u);
	}
	mm_render_errors(f);
	for (int c = 0; c < MM_COUNTER_COUNT; c++) {
		mm_head(f, mm_counter_info[c].name, mm_counter_info[c].type, mm_counter_info[c].help);
		fprintf(f, "%s %" PRIu64 "\n", mm_counter_info[c].name, mm_load(&mm.counters[c]));
	}
	mm_head(f, "bigfs_mount_master_connected", "gauge",
		"Whether the last attempt to call the master got an answer (1) or not (0).");
	fprintf(f, "bigfs_mount_master_connected %d\n", answered > 0);
	mm_head(f, "bigfs_mount_start_time_seconds", "gauge", "When this mount started (Unix time).");
	fprintf(f, "bigfs_mount_start_time_seconds %lld\n", (long long)s->start_time);
	if (s->gauges)
		s->gauges(s->arg, f);
}

/* ---- the endpoint --------------------------------------------------------- */

static void mm_h_metrics(void *ctx, struct http_request *req)
{
	struct mount_metrics_server *s = ctx;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		http_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	mm_render(s, f);
	if (ferror(f) | fclose(f)) {
		free(text);
		http_reply_error(req, ENOMEM, "cannot render the metrics");
		return;
	}
	http_reply_raw(req, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

static const struct http_route mm_routes[] = {
	{ "GET", "/metrics", false, 0, mm_h_metrics },
	{ NULL, NULL, false, 0, NULL },
};

int mount_metrics_check_addr(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;

	if (!colon || colon == listen || strlen(listen) > 255)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || colon[1] == '-' || colon[1] == '+' ||
	    port < 0 || port > 65535)
		return -EINVAL;
	return 0;
}

int mount_metrics_start(const char *listen, mount_metrics_gauges_fn gauges, void *arg,
			struct mount_metrics_server **ret)
{
	struct mount_metrics_server *s;
	struct http_server_opts o;
	int r;

	if (mount_metrics_check_addr(listen) < 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->gauges = gauges;
	s->arg = arg;
	s->start_time = time(NULL);
	/* plain HTTP whatever the cluster's transport: the mount has no
	 * certificate of its own, and a scraper on the host needs none */
	http_server_opts_default(&o);
	o.tls_cert_pem = NULL;
	o.tls_key_pem = NULL;
	o.per_ip_limit = 16;
	o.conn_limit = 64;
	r = http_server_start_opts(&s->srv, listen, mm_routes, s, &o);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

uint16_t mount_metrics_port(const struct mount_metrics_server *s)
{
	return http_server_port(s->srv);
}

void mount_metrics_stop(struct mount_metrics_server *s)
{
	if (!s)
		return;
	http_server_stop(s->srv);
	free(s);
}
