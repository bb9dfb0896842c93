/* Unit tests of fuse/worker_io.c and fuse/worker_health.c: the mount's
 * replica I/O when workers are sick, over real loopback sockets.
 *
 * The cast, all on ephemeral 127.0.0.1 ports, new for every test:
 * - good workers (common/http_server): GET /v1/chunk/ID answers a
 *   deterministic byte pattern for the asked offset/length (worker A with
 *   correct X-Bigfs-Crc32c block CRCs on ?verify=client reads, worker B
 *   without them), PUT checks and counts the bytes, POST .../fsync counts;
 * - a refusing worker: PUT answers 409 ESTALE;
 * - silent workers: a socket that listen()s and never accept()s — what a
 *   kill -STOP'ed worker looks like (the kernel completes the handshake,
 *   nobody answers);
 * - a fake master counting POST /v1/replica_failed reports.
 *
 * Checked: a read overtakes a silent replica by hedging and asks it last
 * afterwards; a silent replica never asked is never marked; two silent
 * replicas fail the read with EIO within the transfer timeout; a write
 * cuts a silent replica off after the grace period, drops it from the
 * grant and reports it; a refusal makes the grant stale without a report;
 * suspect replicas are left out of a write up front, but never the last
 * one; CRC mismatches and 500 EIO answers on reads; worker_health's
 * suspect/down bookkeeping. Timings use CLOCK_MONOTONIC; nothing sleeps. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "crc32c.h"
#include "http_server.h"
#include "ids.h"
#include "json_util.h"
#include "../../fuse/master_client.h"
#include "../../fuse/worker_health.h"
#include "../../fuse/worker_io.h"

#define CRC_BLOCK ((size_t)64 << 10)    /* the workers' CRC block */
#define IO_TIMEOUT_MS 10000             /* transfers, unless a test says otherwise */
#define SHORT_TIMEOUT_MS 1500
#define WRITE_GRACE_S 2.0               /* WIO_WRITE_GRACE_MS */

#define ID_A "00000000000000a1"
#define ID_B "00000000000000b2"
#define ID_R "00000000000000c3"
#define ID_S1 "00000000000000d4"
#define ID_S2 "00000000000000e5"

/* ---- fake workers ---------------------------------------------------------- */

enum get_mode {
	GET_CRC,        /* right bytes, right CRCs on ?verify=client */
	GET_NO_CRC,     /* right bytes, no CRC header */
	GET_BAD_CRC,    /* right bytes, wrong CRCs on ?verify=client */
	GET_EIO,        /* 500 EIO: the worker found its copy corrupt */
};

struct fake_worker {
	struct http_server *srv;
	char id[WORKER_ID_STRLEN + 1];
	char addr[32];
	enum get_mode get_mode;
	int put_errno;              /* 0: PUT answers 200, else this error */
	atomic_int gets;
	atomic_int verified_gets;   /* GETs without ?verify=client */
	atomic_int puts;
	atomic_int puts_bad_body;   /* PUTs whose bytes were not the pattern */
	atomic_int fsyncs;
};

/* The byte at offset x of every chunk. */
static unsigned char pattern_at(uint64_t x)
{
	return (unsigned char)((x ^ (x >> 8) ^ (x >> 16)) * 31u + 7u);
}

static void pattern_fill(unsigned char *buf, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_at(off + i);
}

static bool pattern_matches(const unsigned char *buf, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_at(off + i))
			return false;
	return true;
}

static void fw_get(void *ctx, struct http_request *r)
{
	struct fake_worker *fw = ctx;
	uint64_t off, len;
	atomic_fetch_add(&fw->gets, 1);
	if (http_req_query_u64(r, "offset", &off) < 0 ||
	    http_req_query_u64(r, "length", &len) < 0 || len > ((uint64_t)64 << 20)) {
		http_reply_error(r, EINVAL, "bad range");
		return;
	}
	const char *verify = http_req_query(r, "verify");
	bool client = verify && strcmp(verify, "client") == 0;
	if (!client)
		atomic_fetch_add(&fw->verified_gets, 1);
	if (fw->get_mode == GET_EIO) {
		http_reply_error(r, EIO, "chunk is corrupt");
		return;
	}
	unsigned char *buf = malloc(len ? len : 1);
	if (!buf) {
		http_reply_error(r, ENOMEM, "out of memory");
		return;
	}
	pattern_fill(buf, off, len);
	char *hex = NULL;
	if (client && (fw->get_mode == GET_CRC || fw->get_mode == GET_BAD_CRC)) {
		size_t nblocks = (len + CRC_BLOCK - 1) / CRC_BLOCK;
		hex = malloc(nblocks * 8 + 1);
		if (!hex) {
			free(buf);
			http_reply_error(r, ENOMEM, "out of memory");
			return;
		}
		hex[0] = '\0';
		for (size_t i = 0; i < nblocks; i++) {
			size_t n = len - i * CRC_BLOCK < CRC_BLOCK ? len - i * CRC_BLOCK : CRC_BLOCK;
			uint32_t crc = crc32c(0, buf + i * CRC_BLOCK, n);
			if (fw->get_mode == GET_BAD_CRC)
				crc ^= 0x5a5a5a5au;
			snprintf(hex + 8 * i, 9, "%08" PRIx32, crc);
		}
	}
	http_reply_raw(r, 200, buf, len, "application/octet-stream");
	if (hex)
		http_reply_header(r, "X-Bigfs-Crc32c", hex);
	free(hex);
}

static void fw_put(void *ctx, struct http_request *r)
{
	struct fake_worker *fw = ctx;
	atomic_fetch_add(&fw->puts, 1);
	if (fw->put_errno) {
		http_reply_error(r, fw->put_errno, "grant refused");
		return;
	}
	uint64_t off;
	size_t len;
	const char *body = http_req_body(r, &len);
	if (http_req_query_u64(r, "offset", &off) < 0 || !http_req_query(r, "token") ||
	    !pattern_matches((const unsigned char *)body, off, len))
		atomic_fetch_add(&fw->puts_bad_body, 1);
	http_reply_json(r, 200, json_object());
}

static void fw_post(void *ctx, struct http_request *r)
{
	struct fake_worker *fw = ctx;
	const char *rest = http_req_path_rest(r);
	size_t n = strlen(rest);
	if (n < 6 || strcmp(rest + n - 6, "/fsync") != 0) {
		http_reply_error(r, ENOENT, "no such call");
		return;
	}
	atomic_fetch_add(&fw->fsyncs, 1);
	http_reply_json(r, 200, json_object());
}

static const struct http_route worker_routes[] = {
	{ .method = "GET", .path = "/v1/chunk/", .prefix = true, .fn = fw_get },
	{ .method = "PUT", .path = "/v1/chunk/", .prefix = true, .max_body = 1 << 20,
	  .fn = fw_put },
	{ .method = "POST", .path = "/v1/chunk/", .prefix = true, .fn = fw_post },
	{ .fn = NULL },
};

static void fw_start(struct fake_worker *fw, const char *id, enum get_mode mode, int put_errno)
{
	snprintf(fw->id, sizeof(fw->id), "%s", id);
	fw->get_mode = mode;
	fw->put_errno = put_errno;
	assert_int_equal(http_server_start(&fw->srv, "127.0.0.1:0", worker_routes, fw), 0);
	snprintf(fw->addr, sizeof(fw->addr), "127.0.0.1:%u", http_server_port(fw->srv));
}

/* A worker that is there and says nothing: a listening socket nobody
 * accepts on. */
struct silent_worker {
	int fd;
	char id[WORKER_ID_STRLEN + 1];
	char addr[32];
};

static void silent_start(struct silent_worker *sw, const char *id)
{
	snprintf(sw->id, sizeof(sw->id), "%s", id);
	sw->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sw->fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(sw->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(sw->fd, 64), 0);
	socklen_t len = sizeof(sa);
	assert_int_equal(getsockname(sw->fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(sw->addr, sizeof(sw->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
}

/* Whether anyone connected to the silent worker (a connection waits in
 * its accept queue). */
static bool silent_contacted(const struct silent_worker *sw)
{
	struct pollfd p = { .fd = sw->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* ---- fake master ------------------------------------------------------------ */

#define REPORTS_MAX 16

struct fake_master {
	struct http_server *srv;
	char addr[32];
	pthread_mutex_t lock;
	int nreports;
	char reported[REPORTS_MAX][WORKER_ID_STRLEN + 1];
};

static void fm_replica_failed(void *ctx, struct http_request *r)
{
	struct fake_master *fm = ctx;
	json_t *req = http_req_json(r);
	if (!req)
		return;
	const char *id = json_string_value(json_object_get(req, "worker_id"));
	pthread_mutex_lock(&fm->lock);
	if (fm->nreports < REPORTS_MAX)
		snprintf(fm->reported[fm->nreports], WORKER_ID_STRLEN + 1, "%s", id ? id : "?");
	fm->nreports++;
	pthread_mutex_unlock(&fm->lock);
	json_decref(req);
	http_reply_json(r, 200, json_object());
}

static const struct http_route master_routes[] = {
	{ .method = "POST", .path = "/v1/replica_failed", .max_body = 4096,
	  .fn = fm_replica_failed },
	{ .fn = NULL },
};

static int reports(struct fake_master *fm)
{
	pthread_mutex_lock(&fm->lock);
	int n = fm->nreports;
	pthread_mutex_unlock(&fm->lock);
	return n;
}

/* The worker id of report i (copied under the lock). */
static void report_id(struct fake_master *fm, int i, char out[WORKER_ID_STRLEN + 1])
{
	pthread_mutex_lock(&fm->lock);
	snprintf(out, WORKER_ID_STRLEN + 1, "%s", fm->reported[i]);
	pthread_mutex_unlock(&fm->lock);
}

/* ---- fixture ---------------------------------------------------------------- */

struct env {
	struct fake_worker a, b, refusing;
	struct silent_worker s1, s2;
	struct fake_master master;
	struct master_client *mc;
	struct worker_io *w;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	fw_start(&e->a, ID_A, GET_CRC, 0);
	fw_start(&e->b, ID_B, GET_NO_CRC, 0);
	fw_start(&e->refusing, ID_R, GET_CRC, ESTALE);
	silent_start(&e->s1, ID_S1);
	silent_start(&e->s2, ID_S2);
	pthread_mutex_init(&e->master.lock, NULL);
	assert_int_equal(http_server_start(&e->master.srv, "127.0.0.1:0", master_routes, &e->master),
			 0);
	snprintf(e->master.addr, sizeof(e->master.addr), "127.0.0.1:%u",
		 http_server_port(e->master.srv));
	assert_int_equal(master_client_new(e->master.addr, 5000, &e->mc), 0);
	assert_int_equal(worker_io_new(e->mc, IO_TIMEOUT_MS, &e->w), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	worker_io_free(e->w);           /* closes this thread's connections first */
	master_client_free(e->mc);
	http_server_stop(e->master.srv);
	pthread_mutex_destroy(&e->master.lock);
	http_server_stop(e->a.srv);
	http_server_stop(e->b.srv);
	http_server_stop(e->refusing.srv);
	close(e->s1.fd);
	close(e->s2.fd);
	free(e);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A chunk located on the given replicas (id, addr pairs), NULL-ended. */
static struct wio_chunk chunk_on(const char *id, const char *addr, ...)
{
	struct wio_chunk c;
	memset(&c, 0, sizeof(c));
	c.chunk_id = 0x2a;
	c.version = 3;
	snprintf(c.token, sizeof(c.token), "1700000000.test");
	va_list ap;
	va_start(ap, addr);
	while (id) {
		assert_true(c.nrep < WIO_MAX_REPLICAS);
		snprintf(c.rep[c.nrep].worker_id, sizeof(c.rep[c.nrep].worker_id), "%s", id);
		snprintf(c.rep[c.nrep].addr, sizeof(c.rep[c.nrep].addr), "%s", addr);
		c.nrep++;
		id = va_arg(ap, const char *);
		addr = id ? va_arg(ap, const char *) : NULL;
	}
	va_end(ap);
	return c;
}

/* Reads: 4 CRC blocks, the last one partial, starting on a block. */
#define READ_OFF ((uint64_t)3 * CRC_BLOCK)
#define READ_LEN ((size_t)200000)
/* Writes: not on a block boundary, across one. */
#define WRITE_OFF ((uint64_t)100000)
#define WRITE_LEN ((size_t)100000)

/* Read the test range of c; check the bytes; return the seconds taken. */
static double timed_read(struct worker_io *w, const struct wio_chunk *c, int want_rc)
{
	unsigned char *buf = malloc(READ_LEN);
	assert_non_null(buf);
	memset(buf, 0, READ_LEN);
	double t0 = now_s();
	int rc = worker_io_read(w, c, READ_OFF, READ_LEN, buf);
	double took = now_s() - t0;
	assert_int_equal(rc, want_rc);
	if (rc == 0)
		assert_true(pattern_matches(buf, READ_OFF, READ_LEN));
	free(buf);
	return took;
}

/* Write the test range to c; return the seconds taken. */
static double timed_write(struct worker_io *w, struct wio_chunk *c, int want_rc)
{
	unsigned char *buf = malloc(WRITE_LEN);
	assert_non_null(buf);
	pattern_fill(buf, WRITE_OFF, WRITE_LEN);
	double t0 = now_s();
	int rc = worker_io_write(w, c, WRITE_OFF, buf, WRITE_LEN);
	double took = now_s() - t0;
	assert_int_equal(rc, want_rc);
	free(buf);
	return took;
}

/* ---- reads ------------------------------------------------------------------- */

/* [silent, good]: the hedge overtakes the silent replica after
 * WIO_HEDGE_MS; it is then suspect and asked last, so the next read of
 * the chunk does not wait for it. */
static void test_read_hedges_past_silent(void **state)
{
	struct env *e = *state;
	struct whealth *h = worker_io_health(e->w);
	struct wio_chunk c = chunk_on(e->s1.id, e->s1.addr, e->a.id, e->a.addr, NULL);

	double first = timed_read(e->w, &c, 0);
	print_message("read [silent, good]: %.3f s\n", first);
	assert_true(first < 1.5);
	assert_true(silent_contacted(&e->s1));
	assert_true(whealth_bad(h, e->s1.id));
	assert_false(whealth_bad(h, e->a.id));
	assert_int_equal(atomic_load(&e->a.gets), 1);
	assert_int_equal(atomic_load(&e->a.verified_gets), 0);  /* its CRCs matched */

	double second = timed_read(e->w, &c, 0);
	print_message("read again, silent one now asked last: %.3f s\n", second);
	assert_true(second < 0.3);
	assert_int_equal(atomic_load(&e->a.gets), 2);
	assert_int_equal(reports(&e->master), 0);  /* a stall is not corruption */
}

/* [good, silent]: the good replica answers at once; the silent one is
 * never asked, so never marked. */
static void test_read_good_first_never_asks_silent(void **state)
{
	struct env *e = *state;
	struct wio_chunk c = chunk_on(e->b.id, e->b.addr, e->s1.id, e->s1.addr, NULL);

	double took = timed_read(e->w, &c, 0);
	print_message("read [good, silent]: %.3f s\n", took);
	assert_true(took < 0.3);
	assert_int_equal(atomic_load(&e->b.gets), 1);
	assert_false(silent_contacted(&e->s1));
	assert_false(whealth_bad(worker_io_health(e->w), e->s1.id));
	assert_int_equal(whealth_count_bad(worker_io_health(e->w)), 0);
}

/* [silent, silent]: EIO, bounded by the transfer timeout (the second one
 * starts WIO_HEDGE_MS after the first); both are suspect afterwards. */
static void test_read_all_silent_fails_in_time(void **state)
{
	struct env *e = *state;
	struct worker_io *w;
	assert_int_equal(worker_io_new(e->mc, SHORT_TIMEOUT_MS, &w), 0);
	struct wio_chunk c = chunk_on(e->s1.id, e->s1.addr, e->s2.id, e->s2.addr, NULL);

	double took = timed_read(w, &c, -EIO);
	print_message("read [silent, silent]: -EIO after %.3f s (timeout %.1f s)\n", took,
		      SHORT_TIMEOUT_MS / 1000.0);
	assert_true(took >= SHORT_TIMEOUT_MS / 1000.0 - 0.05);
	assert_true(took < SHORT_TIMEOUT_MS / 1000.0 + 2.0);
	assert_true(silent_contacted(&e->s1));
	assert_true(silent_contacted(&e->s2));
	assert_true(whealth_bad(worker_io_health(w), e->s1.id));
	assert_true(whealth_bad(worker_io_health(w), e->s2.id));
	assert_int_equal(reports(&e->master), 0);
	worker_io_free(w);
}

/* Bytes that do not match their CRCs are read again verified by the
 * worker (one replica), or lose to the next replica (two); a 500 EIO
 * (corrupt copy) is reported to the master when another replica served;
 * with every copy corrupt the read says so (-EBADMSG, not -EIO). */
static void test_read_crc_mismatch_and_corrupt(void **state)
{
	struct env *e = *state;
	e->a.get_mode = GET_BAD_CRC;
	e->refusing.get_mode = GET_EIO;

	struct wio_chunk one = chunk_on(e->a.id, e->a.addr, NULL);
	timed_read(e->w, &one, 0);
	assert_int_equal(atomic_load(&e->a.verified_gets), 1);
	assert_int_equal(reports(&e->master), 0);

	int a_gets = atomic_load(&e->a.gets);
	struct wio_chunk two = chunk_on(e->a.id, e->a.addr, e->b.id, e->b.addr, NULL);
	double took = timed_read(e->w, &two, 0);
	assert_true(took < 0.3);  /* a failed answer is hedged over at once */
	assert_int_equal(atomic_load(&e->a.gets), a_gets + 1);
	assert_int_equal(atomic_load(&e->b.gets), 1);
	assert_int_equal(reports(&e->master), 0);

	struct wio_chunk corrupt = chunk_on(e->refusing.id, e->refusing.addr, e->b.id, e->b.addr,
					    NULL);
	timed_read(e->w, &corrupt, 0);
	assert_int_equal(atomic_load(&e->b.gets), 2);
	assert_int_equal(reports(&e->master), 1);
	char id[WORKER_ID_STRLEN + 1];
	report_id(&e->master, 0, id);
	assert_string_equal(id, e->refusing.id);
	/* it answered: corrupt, not sick */
	assert_false(whealth_bad(worker_io_health(e->w), e->refusing.id));

	/* every copy damaged: EBADMSG, which the caller does not wait out */
	struct wio_chunk damaged = chunk_on(e->refusing.id, e->refusing.addr, NULL);
	timed_read(e->w, &damaged, -EBADMSG);
	/* damaged and unreachable: EIO, a copy may come back */
	struct wio_chunk mixed = chunk_on(e->refusing.id, e->refusing.addr, e->b.id,
					  "127.0.0.1:1", NULL);
	timed_read(e->w, &mixed, -EIO);
}

/* ---- writes ------------------------------------------------------------------ */

/* [silent, good]: the good one has the bytes at once; the silent one is
 * cut off WIO_WRITE_GRACE_MS later (not after the whole transfer
 * timeout), dropped from the grant and reported. The next write leaves it
 * out up front. */
static void test_write_cuts_off_silent(void **state)
{
	struct env *e = *state;
	struct wio_chunk c = chunk_on(e->s1.id, e->s1.addr, e->a.id, e->a.addr, NULL);

	double took = timed_write(e->w, &c, 0);
	print_message("write [silent, good]: %.3f s (grace %.1f s, timeout %.1f s)\n", took,
		      WRITE_GRACE_S, IO_TIMEOUT_MS / 1000.0);
	assert_true(took >= WRITE_GRACE_S - 0.05);
	assert_true(took < WRITE_GRACE_S + 2.0);
	assert_int_equal(c.nrep, 1);
	assert_string_equal(c.rep[0].worker_id, e->a.id);
	assert_string_equal(c.rep[0].addr, e->a.addr);
	assert_int_equal(atomic_load(&e->a.puts), 1);
	assert_int_equal(atomic_load(&e->a.puts_bad_body), 0);
	assert_int_equal(reports(&e->master), 1);
	char id[WORKER_ID_STRLEN + 1];
	report_id(&e->master, 0, id);
	assert_string_equal(id, e->s1.id);
	assert_true(whealth_bad(worker_io_health(e->w), e->s1.id));

	/* the same grant as the master would hand it out again */
	struct wio_chunk again = chunk_on(e->s1.id, e->s1.addr, e->a.id, e->a.addr, NULL);
	took = timed_write(e->w, &again, 0);
	print_message("write again, silent one left out: %.3f s\n", took);
	assert_true(took < 0.3);
	assert_int_equal(again.nrep, 1);
	assert_string_equal(again.rep[0].worker_id, e->a.id);
	assert_int_equal(atomic_load(&e->a.puts), 2);
	assert_int_equal(reports(&e->master), 2);
	report_id(&e->master, 1, id);
	assert_string_equal(id, e->s1.id);
}

/* [refusing, good]: a refusal makes the whole grant stale; nothing is
 * reported (the replica is not at fault) and the grant is untouched. */
static void test_write_refused_is_stale(void **state)
{
	struct env *e = *state;
	struct wio_chunk c = chunk_on(e->refusing.id, e->refusing.addr, e->b.id, e->b.addr, NULL);

	timed_write(e->w, &c, -ESTALE);
	assert_int_equal(atomic_load(&e->refusing.puts), 1);
	assert_int_equal(atomic_load(&e->b.puts), 1);
	assert_int_equal(c.nrep, 2);
	assert_int_equal(reports(&e->master), 0);
	assert_false(whealth_bad(worker_io_health(e->w), e->refusing.id));
}

/* [suspect good]: the last replica is written anyway; fsync too. */
static void test_write_keeps_last_replica(void **state)
{
	struct env *e = *state;
	struct whealth *h = worker_io_health(e->w);
	whealth_suspect(h, e->a.id);
	struct wio_chunk c = chunk_on(e->a.id, e->a.addr, NULL);

	timed_write(e->w, &c, 0);
	assert_int_equal(c.nrep, 1);
	assert_int_equal(atomic_load(&e->a.puts), 1);
	assert_int_equal(atomic_load(&e->a.puts_bad_body), 0);
	assert_int_equal(worker_io_fsync(e->w, &c), 0);
	assert_int_equal(atomic_load(&e->a.fsyncs), 1);
	assert_int_equal(reports(&e->master), 0);
	assert_false(whealth_bad(h, e->a.id));  /* it answered */
}

/* [suspect good A, good B]: A is left out up front and reported; B gets
 * the bytes, and the fsync that follows goes to B only. */
static void test_write_leaves_out_suspect(void **state)
{
	struct env *e = *state;
	whealth_suspect(worker_io_health(e->w), e->a.id);
	struct wio_chunk c = chunk_on(e->a.id, e->a.addr, e->b.id, e->b.addr, NULL);

	double took = timed_write(e->w, &c, 0);
	assert_true(took < 0.3);
	assert_int_equal(c.nrep, 1);
	assert_string_equal(c.rep[0].worker_id, e->b.id);
	assert_int_equal(atomic_load(&e->a.puts), 0);
	assert_int_equal(atomic_load(&e->b.puts), 1);
	assert_int_equal(atomic_load(&e->b.puts_bad_body), 0);
	assert_int_equal(reports(&e->master), 1);
	char id[WORKER_ID_STRLEN + 1];
	report_id(&e->master, 0, id);
	assert_string_equal(id, e->a.id);

	assert_int_equal(worker_io_fsync(e->w, &c), 0);
	assert_int_equal(atomic_load(&e->a.fsyncs), 0);
	assert_int_equal(atomic_load(&e->b.fsyncs), 1);
	assert_int_equal(reports(&e->master), 1);
}

/* ---- worker_health ----------------------------------------------------------- */

static void test_whealth(void **state)
{
	(void)state;
	struct whealth *h;
	assert_int_equal(whealth_new(&h), 0);
	assert_false(whealth_bad(h, ID_A));
	assert_int_equal(whealth_count_bad(h), 0);

	const char *down1[] = { ID_A, ID_B };
	whealth_set_down(h, down1, 2);
	assert_true(whealth_bad(h, ID_A));
	assert_true(whealth_bad(h, ID_B));
	assert_false(whealth_bad(h, ID_R));
	assert_int_equal(whealth_count_bad(h), 2);

	/* a later verdict without A lifts it */
	const char *down2[] = { ID_B };
	whealth_set_down(h, down2, 1);
	assert_false(whealth_bad(h, ID_A));
	assert_true(whealth_bad(h, ID_B));
	assert_int_equal(whealth_count_bad(h), 1);

	/* an answer does not lift the master's verdict */
	whealth_ok(h, ID_B);
	assert_true(whealth_bad(h, ID_B));

	/* suspect, then answered */
	whealth_suspect(h, ID_R);
	assert_true(whealth_bad(h, ID_R));
	assert_int_equal(whealth_count_bad(h), 2);
	whealth_ok(h, ID_R);
	assert_false(whealth_bad(h, ID_R));
	assert_int_equal(whealth_count_bad(h), 1);

	/* suspect outlives a verdict that does not name it */
	whealth_suspect(h, ID_S1);
	whealth_set_down(h, NULL, 0);
	assert_false(whealth_bad(h, ID_B));
	assert_true(whealth_bad(h, ID_S1));
	assert_int_equal(whealth_count_bad(h), 1);
	whealth_ok(h, ID_S1);
	assert_int_equal(whealth_count_bad(h), 0);
	whealth_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_hedges_past_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_good_first_never_asks_silent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_all_silent_fails_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_crc_mismatch_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_cuts_off_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_refused_is_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_keeps_last_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_leaves_out_suspect, setup, teardown),
		cmocka_unit_test(test_whealth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
