/* fuzz_master_request — the master's HTTP API as a mount or worker reaches it.
 *
 * Feeds: the input as one request to the real master (master/http_api.c
 * behind libmicrohttpd), started once in this process the way
 * master/main.c starts it (meta store in a temporary folder, worker
 * registry, chunk map, namespace, locks, client sessions, the embedded
 * Kafka broker, repair, auth sessions with the built-in exports, HTTP API
 * on 127.0.0.1:0). Input format, easy to mutate:
 *   byte 0  the route: index into routes[] below (the master's table and
 *           two paths it does not have)
 *   byte 1  how it is signed: bit 0 with the session key of a login the
 *           harness made once at start (`Authorization: BigFS ...`), bit 1
 *           with the cluster secret (`BigFS-Cluster ...`), bit 2 a
 *           signature over another body (must be refused), none of them:
 *           no header; bit 3 leaves out Content-Length and the body
 *   rest    the body; every "$SESSION" in it becomes the id of a client
 *           session the harness opens for this input.
 * Asserts: no crash, leak or UB in the master's code; the answer is an
 * HTTP response; a request signed wrongly or not at all on a client route
 * is refused with 401; the master still answers GET /v1/health with 200.
 * State reset per input: the client session is closed and everything the
 * input made under the root (files, folders, the root's own attributes
 * and xattrs) is removed in-process. What is not reset: inode numbers go
 * on growing, and a worker the input registered stays known until the
 * registry times it out. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "auth_sessions.h"
#include "chunk_map.h"
#include "fuzz_net.h"
#include "fuzz_util.h"
#include "http_api.h"
#include "json_util.h"
#include "kafka_status.h"
#include "locks.h"
#include "master.h"
#include "meta_store.h"
#include "namespace.h"
#include "repair.h"
#include "session.h"
#include "worker_registry.h"

#define BODY_MAX (64 * 1024)
#define SESSION_ID "fuzz-session-1"

static const struct route {
	const char *method, *path;
	bool client;            /* a client route: needs a signed session */
} routes[] = {
	{ "POST", "/v1/lookup", true }, { "POST", "/v1/getattr", true },
	{ "POST", "/v1/setattr", true }, { "POST", "/v1/atime", true },
	{ "POST", "/v1/mkdir", true }, { "POST", "/v1/create", true },
	{ "POST", "/v1/mknod", true }, { "POST", "/v1/symlink", true },
	{ "POST", "/v1/readlink", true }, { "POST", "/v1/link", true },
	{ "POST", "/v1/unlink", true }, { "POST", "/v1/rmdir", true },
	{ "POST", "/v1/rename", true }, { "POST", "/v1/readdir", true },
	{ "POST", "/v1/statfs", true }, { "POST", "/v1/getxattr", true },
	{ "POST", "/v1/setxattr", true }, { "POST", "/v1/listxattr", true },
	{ "POST", "/v1/removexattr", true }, { "POST", "/v1/chunks", true },
	{ "POST", "/v1/write", true }, { "POST", "/v1/commit", true },
	{ "POST", "/v1/sync", true }, { "POST", "/v1/replica_failed", false },
	{ "POST", "/v1/punch", true }, { "POST", "/v1/open", true },
	{ "POST", "/v1/lock", true }, { "POST", "/v1/lock/test", true },
	{ "POST", "/v1/session/open", true }, { "POST", "/v1/session/heartbeat", true },
	{ "POST", "/v1/session/close", true }, { "GET", "/v1/cluster/info", false },
	{ "POST", "/v1/cluster/register", false }, { "GET", "/v1/cluster/workers", false },
	{ "GET", "/v1/health", false }, { "GET", "/metrics", false }, { "GET", "/", false },
	{ "POST", "/v1/auth/challenge", false }, { "POST", "/v1/auth/login", false },
	{ "POST", "/v1/nosuchroute", false }, { "GET", "/v1/getattr", false },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static struct {
	char base[64];
	struct master m;
	struct http_api *api;
	uint16_t port;
	unsigned char key[AUTH_KEY_LEN];
	char auth_id[AUTH_ID_LEN + 1];
	uint64_t seq;
} M;

static char resp[65536];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void stop_master(void)
{
	http_api_stop(M.api);
	asess_free(M.m.auth);
	repair_stop(M.m.rep);
	kstatus_stop(M.m.ks);
	sess_free(M.m.sess);
	locks_free(M.m.locks);
	ns_free(M.m.ns);
	cm_free(M.m.cm);
	wreg_free(M.m.reg);
	meta_close(M.m.ms);
	if (M.base[0])
		nftw(M.base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Build and send one request; the response is in resp. Returns the status. */
static int request(const char *method, const char *path, const char *auth, const char *body,
		   size_t blen, bool with_body)
{
	size_t cap = blen + 1024;
	char *req = malloc(cap);
	int n;

	FUZZ_CHECK(req);
	n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: m\r\n%s%s%s", method, path,
		     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
	if (with_body)
		n += snprintf(req + n, cap - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	n += snprintf(req + n, cap - (size_t)n, "Connection: close\r\n\r\n");
	if (with_body) {
		memcpy(req + n, body, blen);
		n += (int)blen;
	}
	int r = fuzz_http_send(M.port, req, (size_t)n, resp, sizeof(resp));
	free(req);
	FUZZ_CHECK(r >= 0);
	return fuzz_http_status(resp);
}

static json_t *response_json(void)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? ju_parse_object(b + 4, strlen(b + 4)) : NULL;
}

/* Log in as a mount does, with the built-in export (no password). */
static void login(void)
{
	char cnonce[AUTH_ID_LEN + 1], proof[AUTH_HEX_LEN + 1], body[512];
	const char *nonce, *id;
	json_t *o, *o2;

	FUZZ_CHECK(request("POST", "/v1/auth/challenge", NULL, "{}", 2, true) == 200);
	o = response_json();
	FUZZ_CHECK(o && ju_str(o, "nonce", AUTH_NONCE_MAX, &nonce) == 0);
	memset(cnonce, 'c', AUTH_ID_LEN);
	cnonce[AUTH_ID_LEN] = '\0';
	auth_login_proof("", 0, nonce, cnonce, "/", proof);
	snprintf(body, sizeof(body),
		 "{\"nonce\":\"%s\",\"cnonce\":\"%s\",\"path\":\"/\",\"proof\":\"%s\"}", nonce,
		 cnonce, proof);
	FUZZ_CHECK(request("POST", "/v1/auth/login", NULL, body, strlen(body), true) == 200);
	o2 = response_json();
	FUZZ_CHECK(o2 && ju_str(o2, "auth", AUTH_ID_LEN, &id) == 0);
	snprintf(M.auth_id, sizeof(M.auth_id), "%s", id);
	auth_session_key("", 0, nonce, cnonce, M.key);
	json_decref(o2);
	json_decref(o);
}

static void start_master(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	struct kafka_opts kopts;
	char db[128];

	fuzz_quiet_logs();
	snprintf(M.base, sizeof(M.base), "%s/bigfs-fuzz-master.XXXXXX", tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(M.base));
	for (size_t i = 0; i < 32; i++)
		M.m.secret.key[i] = (unsigned char)(0xa5 ^ i);
	M.m.secret.len = 32;
	M.m.data_dir = M.base;
	M.m.default_goal = 2;
	M.m.status_interval_ms = 2000;
	memset(&kopts, 0, sizeof(kopts));
	snprintf(db, sizeof(db), "%s/meta.db", M.base);
	FUZZ_CHECK(meta_open(db, 2, &M.m.ms) == 0);
	FUZZ_CHECK(wreg_new(10000, &M.m.reg) == 0);
	FUZZ_CHECK(cm_new(M.m.ms, M.m.reg, &M.m.secret, 60000, &M.m.cm) == 0);
	FUZZ_CHECK(cm_load_workers(M.m.cm) == 0);
	FUZZ_CHECK(ns_new(M.m.ms, M.m.cm, &M.m.ns) == 0);
	FUZZ_CHECK(locks_new(&M.m.locks) == 0);
	FUZZ_CHECK(sess_new(M.m.ns, M.m.cm, M.m.locks, 15000, &M.m.sess) == 0);
	sess_set_unlink_grace(M.m.sess, 0);
	FUZZ_CHECK(sess_start(M.m.sess) == 0);
	FUZZ_CHECK(kstatus_start(NULL, &kopts, M.m.reg, &M.m.ks) == 0);
	FUZZ_CHECK(repair_start(M.m.cm, M.m.reg, M.m.ks, &M.m.secret, 4, &M.m.rep) == 0);
	FUZZ_CHECK(asess_new(NULL, &M.m.auth) == 0);
	FUZZ_CHECK(http_api_start(&M.m, "127.0.0.1:0", &M.api) == 0);
	M.port = http_api_port(M.api);
	atexit(stop_master);
	login();
}

/* Remove everything under folder ino. */
static void clean_dir(uint64_t ino, int depth)
{
	struct ns_dirent *ents;
	size_t n;
	bool eof = false;

	FUZZ_CHECK(depth < 64);
	while (!eof) {
		ents = NULL;
		n = 0;
		if (ns_readdir(M.m.ns, ino, 0, 256, &ents, &n, &eof) < 0)
			return;
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(ents[i].name, ".") || !strcmp(ents[i].name, ".."))
				continue;
			if (S_ISDIR(ents[i].attr.mode)) {
				clean_dir(ents[i].attr.ino, depth + 1);
				FUZZ_CHECK(ns_rmdir(M.m.ns, ino, ents[i].name) == 0);
			} else {
				FUZZ_CHECK(ns_unlink(M.m.ns, ino, ents[i].name) == 0);
			}
		}
		free(ents);
		if (n == 0)
			break;
	}
}

static void reset_state(void)
{
	struct ns_setattr sa = { .has_mode = true, .has_uid = true, .has_gid = true,
				 .mode = 0755, .uid = 0, .gid = 0 };
	struct ns_attr attr;
	char **names = NULL;
	size_t n = 0;

	sess_close(M.m.sess, SESSION_ID);
	clean_dir(META_ROOT_INO, 0);
	FUZZ_CHECK(ns_setattr(M.m.ns, META_ROOT_INO, &sa, &attr) == 0);
	if (ns_listxattr(M.m.ns, META_ROOT_INO, &names, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			ns_removexattr(M.m.ns, META_ROOT_INO, names[i]);
		ns_free_names(names, n);
	}
}

/* data with every "$SESSION" replaced; malloc'ed, *ret_len bytes. */
static char *substitute(const uint8_t *data, size_t size, size_t *ret_len)
{
	static const char pat[] = "$SESSION";
	const size_t pl = sizeof(pat) - 1, sl = strlen(SESSION_ID);
	char *out = malloc(size / pl * sl + size + 1);
	size_t o = 0;

	FUZZ_CHECK(out);
	for (size_t i = 0; i < size;) {
		if (i + pl <= size && memcmp(data + i, pat, pl) == 0) {
			memcpy(out + o, SESSION_ID, sl);
			o += sl;
			i += pl;
		} else {
			out[o++] = (char)data[i++];
		}
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hdr[AUTH_HEADER_MAX];
	const char *auth = NULL;
	uint64_t *lost = NULL;
	size_t nlost = 0, nlocks = 0, blen;

	if (!M.api)
		start_master();
	if (size < 2 || size > BODY_MAX)
		return 0;
	const struct route *rt = &routes[data[0] % NROUTES];
	uint8_t how = data[1];
	bool with_body = !(how & 8) && strcmp(rt->method, "GET") != 0;
	char *body = substitute(data + 2, size - 2, &blen);
	size_t slen = with_body ? blen : 0;

	FUZZ_CHECK(sess_open(M.m.sess, SESSION_ID, "fuzz", NULL, 0, NULL, 0, &lost, &nlost,
			     &nlocks) == 0);
	free(lost);
	if (how & 1) {
		auth_sign(M.key, M.auth_id, ++M.seq, rt->method, rt->path,
			  (how & 4) ? "x" : body, (how & 4) ? 1 : slen, hdr);
		auth = hdr;
	} else if (how & 2) {
		FUZZ_CHECK(auth_cluster_sign(M.m.secret.key, M.m.secret.len, rt->method, rt->path,
					     (how & 4) ? "x" : body, (how & 4) ? 1 : slen,
					     (long long)time(NULL), hdr) == 0);
		auth = hdr;
	}
	int status = request(rt->method, rt->path, auth, body, slen, with_body);
	if (getenv("FUZZ_SHOW"))
		fprintf(stderr, "%s %s -> %s\n", rt->method, rt->path, resp);
	FUZZ_CHECK(status >= 100 && status <= 599);
	if (rt->client && (!(how & 1) || (how & 4)))
		FUZZ_CHECK(status == 401 || status == 413);
	free(body);
	/* still serving: a loaded machine may take a while, a dead or wedged
	 * server never answers */
	status = 0;
	for (int i = 0; i < 5 && status != 200; i++) {
		status = request("GET", "/v1/health", NULL, NULL, 0, false);
		if (status != 200)
			fprintf(stderr, "health check %d: %.200s\n", i, resp);
	}
	FUZZ_CHECK(status == 200);
	reset_state();
	return 0;
}
