/* fuzz_worker_request — the worker's HTTP data API as a client reaches it.
 *
 * Feeds: the input as a raw HTTP request (request line, headers, body;
 * several pipelined requests are fine) over a new loopback TCP connection
 * to the real worker data API (worker/data_api.c behind libmicrohttpd via
 * common/http_server.c), started once in this process on a chunk_store in
 * a temporary folder with a fixed secret. So that the fuzzer gets past
 * the token check, every "$TOKEN" in the input is replaced by a valid
 * token for the call the harness reads off the first request line: chunk
 * id after /v1/chunk/, the version= query value, the op of the method and
 * action (GET r, PUT w, POST truncate/fsync w, DELETE d with version 0,
 * GET /v1/chunks l). Replication (op p) is never signed, so the worker
 * is never sent to pull from an address of the input.
 * Asserts: no crash, leak or UB in the worker code or libmicrohttpd; the
 * answer, if any, is an HTTP response; the worker still answers
 * GET /v1/health with 200 afterwards.
 * State reset per input: every chunk the input made is deleted. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk_store.h"
#include "data_api.h"
#include "fuzz_net.h"
#include "fuzz_util.h"
#include "ids.h"
#include "load_stats.h"
#include "replicator.h"
#include "token.h"

#define REQ_MAX (64 * 1024)

static struct {
	char base[64];
	struct secret secret;
	struct chunk_store *store;
	struct load_stats *stats;
	struct replicator *rep;
	struct data_api *api;
	uint16_t port;
} W;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void shutdown_worker(void)
{
	data_api_stop(W.api);
	replicator_free(W.rep);
	load_stats_free(W.stats);
	chunk_store_close(W.store);
	if (W.base[0])
		nftw(W.base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_worker(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	fuzz_quiet_logs();
	snprintf(W.base, sizeof(W.base), "%s/bigfs-fuzz-worker.XXXXXX", tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(W.base));
	for (size_t i = 0; i < 32; i++)
		W.secret.key[i] = (unsigned char)(0x5a ^ i);
	W.secret.len = 32;
	FUZZ_CHECK(chunk_store_open(W.base, 0, &W.store) == 0);
	chunk_store_set_direct_io(W.store, false);
	W.stats = load_stats_new();
	FUZZ_CHECK(W.stats);
	FUZZ_CHECK(replicator_new(W.store, W.stats, &W.rep) == 0);
	struct data_api_config cfg = {
		.listen = "127.0.0.1:0",
		.worker_id = "00000000f022f022",
		.secret = &W.secret,
		.store = W.store,
		.replicator = W.rep,
		.stats = W.stats,
	};
	FUZZ_CHECK(data_api_start(&cfg, &W.api) == 0);
	W.port = data_api_port(W.api);
	atexit(shutdown_worker);
}

/* The token the request line starting at req would need, or false if
 * none is made. */
static bool token_for(const char *req, char *tok)
{
	char line[512];
	size_t n = strcspn(req, "\r\n");
	uint64_t id = 0, version = 0;
	const char *op, *p;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memset(line, 0, sizeof(line));
	memcpy(line, req, n);
	if ((p = strstr(line, "/v1/chunk/"))) {
		char idtxt[CHUNK_ID_STRLEN + 1];

		memcpy(idtxt, p + 10, CHUNK_ID_STRLEN);     /* line is NUL-padded */
		idtxt[CHUNK_ID_STRLEN] = '\0';
		if (strlen(idtxt) != CHUNK_ID_STRLEN || chunk_id_parse(idtxt, &id) < 0)
			return false;
		if ((p = strstr(line, "version=")))
			version = strtoull(p + 8, NULL, 10);
		/* the method just before the path (a pipelined request may
		 * follow the previous body on the same line) */
		if (strstr(line, "GET /v1/chunk/"))
			op = "r";
		else if (strstr(line, "PUT /v1/chunk/"))
			op = "w";
		else if (strstr(line, "POST /v1/chunk/") && !strstr(line, "/replicate"))
			op = "w";
		else if (strstr(line, "DELETE /v1/chunk/"))
			op = "d", version = 0;
		else
			return false;
	} else if (strstr(line, "/v1/chunks")) {
		op = "l";
	} else {
		return false;
	}
	token_make(&W.secret, id, (uint32_t)version, op, time(NULL) + 3600, tok);
	return true;
}

/* The input with each "$TOKEN" replaced by the token its line needs (left
 * as it is where none is made); malloc'ed, *ret_len bytes. */
static char *substitute(const uint8_t *data, size_t size, size_t *ret_len)
{
	char tok[TOKEN_MAX];
	char *in = malloc(size + 1), *out;
	size_t o = 0, line = 0;

	FUZZ_CHECK(in);
	memcpy(in, data, size);
	in[size] = '\0';
	if (!memmem(in, size, "$TOKEN", 6)) {
		*ret_len = size;
		return in;
	}
	out = malloc(size / 6 * TOKEN_MAX + size + 1);
	FUZZ_CHECK(out);
	for (size_t i = 0; i < size;) {
		if (in[i] == '\n')
			line = i + 1;
		if (i + 6 <= size && memcmp(in + i, "$TOKEN", 6) == 0 &&
		    token_for(in + line, tok)) {
			size_t tl = strlen(tok);

			memcpy(out + o, tok, tl);
			o += tl;
			i += 6;
		} else {
			out[o++] = in[i++];
		}
	}
	free(in);
	*ret_len = o;
	return out;
}

static void reset_store(void)
{
	struct chunk_info *list = NULL;
	size_t n = 0;

	FUZZ_CHECK(chunk_store_list(W.store, &list, &n) == 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(chunk_store_delete(W.store, list[i].id) == 0);
	free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char resp[4096];
	static const char health[] = "GET /v1/health HTTP/1.1\r\nHost: w\r\n"
				     "Connection: close\r\n\r\n";
	size_t len;
	char *req;
	int r;

	if (!W.api)
		start_worker();
	if (size > REQ_MAX)
		return 0;
	req = substitute(data, size, &len);
	r = fuzz_http_send(W.port, req, len, resp, sizeof(resp));
	free(req);
	FUZZ_CHECK(r >= 0);
	if (r > 0 && getenv("FUZZ_SHOW"))
		fprintf(stderr, "%s\n", resp);
	FUZZ_CHECK(r == 0 || strncmp(resp, "HTTP/1.", 7) == 0);
	/* still serving: a loaded machine may take a while, a dead or wedged
	 * server never answers */
	for (int i = 0; i < 5; i++) {
		r = fuzz_http_send(W.port, health, sizeof(health) - 1, resp, sizeof(resp));
		if (r > 0 && fuzz_http_status(resp) == 200)
			break;
		fprintf(stderr, "health check %d: %d bytes: %.200s\n", i, r, resp);
	}
	FUZZ_CHECK(r > 0 && fuzz_http_status(resp) == 200);
	reset_store();
	return 0;
}
