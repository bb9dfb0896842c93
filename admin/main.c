/* bigfs — the admin command.
 *
 * Talks to the master's HTTP/JSON API (docs/api.md) for cluster-wide
 * views, and to a mounted BigFS through xattrs for per-file settings, so
 * it needs nothing the ordinary tools cannot do — it only says it plainly.
 *
 *   bigfs [--master HOST:PORT] status        cluster summary
 *   bigfs [--master HOST:PORT] workers       one line per worker
 *   bigfs locations FILE...                  where each chunk lives
 *   bigfs goal PATH [N]                      show or set the goal
 *   bigfs [--secret FILE] metadata dump FILE     the metadata, as a file
 *   bigfs [--secret FILE] metadata checkpoint    a metadata log checkpoint now
 *
 * The master address comes from --master, else $BIGFS_MASTER, else
 * 127.0.0.1:9400. It may be a list, HOST1:PORT,HOST2:PORT (a cluster with
 * standby masters, master_list.h): the cluster views come from the
 * active one, and `status` first prints one line per master, "master
 * ADDR role active|standby|down". State: the list and one HTTP client. */
#include "auth.h"
#include "http_client.h"
#include "log.h"
#include "token.h"
#include "master_list.h"
#include "transport_config.h"
#include "json_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct admin {
	const char *master;          /* as given */
	struct master_list *ml;
	struct http_client *http;
};

/* GET path from the active master (a TLS process sends every call over
 * https, transport_config.h). 0 with *ret, or -errno said on stderr. */
static int admin_get(struct admin *a, const char *path, json_t **ret)
{
	int rc = master_list_call(a->ml, a->http, "GET", path, NULL, NULL, NULL, ret, NULL);
	if (rc < 0 && master_list_count(a->ml) == 1)
		fprintf(stderr, "bigfs: master at %s: %s\n", a->master, strerror(-rc));
	else if (rc < 0)
		fprintf(stderr, "bigfs: no active master in %s: %s\n", master_list_text(a->ml),
			rc == -EAGAIN ? "only standbys answer" : strerror(-rc));
	return rc;
}

/* What master i is: its GET /v1/health, with the client's timeouts. */
static enum master_role admin_role(struct admin *a, size_t i)
{
	char url[MASTER_ADDR_MAX + 32];
	snprintf(url, sizeof(url), "%s://%s/v1/health", transport_scheme(),
		 master_list_addr(a->ml, i));
	json_t *resp = NULL;
	enum master_role role = MASTER_ROLE_DOWN;
	if (http_json(a->http, "GET", url, NULL, &resp, NULL) < 0 ||
	    master_list_health_role(resp, &role) < 0)
		role = MASTER_ROLE_DOWN;
	json_decref(resp);
	return role;
}

static void human(uint64_t bytes, char *out, size_t cap)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static int cmd_workers(struct admin *a, bool summary)
{
	json_t *resp = NULL;
	int rc = admin_get(a, "/v1/cluster/workers", &resp);
	if (rc < 0)
		return 1;
	json_t *workers = json_object_get(resp, "workers");
	size_t i, live = 0, n = json_array_size(workers);
	uint64_t cap_total = 0, used_total = 0;
	json_t *w;
	if (!summary)
		printf("%-16s  %-21s  %-4s  %10s  %10s  %8s\n", "WORKER", "ADDRESS", "LIVE",
		       "CAPACITY", "USED", "CHUNKS");
	json_array_foreach(workers, i, w) {
		const char *id = "?", *addr = "?";
		uint64_t cap = 0, used = 0, chunks = 0;
		bool is_live = false;
		ju_str(w, "worker_id", 64, &id);
		ju_str(w, "addr", 256, &addr);
		ju_u64(w, "capacity", &cap);
		ju_u64(w, "used", &used);
		ju_u64(w, "chunks", &chunks);
		ju_bool(w, "live", &is_live);
		if (is_live) {
			live++;
			cap_total += cap;
			used_total += used;
		}
		if (!summary) {
			char c[32], u[32];
			human(cap, c, sizeof(c));
			human(used, u, sizeof(u));
			printf("%-16s  %-21s  %-4s  %10s  %10s  %8" PRIu64 "\n", id, addr,
			       is_live ? "yes" : "NO", c, u, chunks);
		}
	}
	if (summary) {
		char c[32], u[32];
		human(cap_total, c, sizeof(c));
		human(used_total, u, sizeof(u));
		if (master_list_count(a->ml) == 1)
			printf("master   %s\n", a->master);
		printf("workers  %zu live of %zu\ncapacity %s, used %s\n", live, n, c, u);
	}
	json_decref(resp);
	return 0;
}

static int cmd_status(struct admin *a)
{
	json_t *resp = NULL;
	size_t n = master_list_count(a->ml);
	if (n == 1) {
		if (admin_get(a, "/v1/health", &resp) < 0)
			return 1;
		json_decref(resp);
		return cmd_workers(a, true);
	}
	/* several: one line each, then the views of the (first) active one */
	int active = -1;
	for (size_t i = 0; i < n; i++) {
		enum master_role role = admin_role(a, i);
		printf("master %s role %s\n", master_list_addr(a->ml, i), master_role_name(role));
		if (role == MASTER_ROLE_ACTIVE && active < 0)
			active = (int)i;
	}
	if (active < 0) {
		fprintf(stderr, "bigfs: no active master in %s\n", master_list_text(a->ml));
		return 1;
	}
	master_list_set_current(a->ml, (size_t)active);
	return cmd_workers(a, true);
}

static int cmd_locations(int argc, char **argv)
{
	int ret = 0;
	for (int i = 0; i < argc; i++) {
		char buf[1 << 16];
		ssize_t n = getxattr(argv[i], "bigfs.locations", buf, sizeof(buf) - 1);
		if (n < 0) {
			fprintf(stderr, "bigfs: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
			continue;
		}
		buf[n] = '\0';
		if (argc > 1)
			printf("%s:\n", argv[i]);
		fputs(buf, stdout);
	}
	return ret;
}

static int cmd_goal(int argc, char **argv)
{
	if (argc == 2) {
		if (setxattr(argv[0], "bigfs.goal", argv[1], strlen(argv[1]), 0) < 0) {
			fprintf(stderr, "bigfs: %s: cannot set goal %s: %s\n", argv[0], argv[1],
				strerror(errno));
			return 1;
		}
	}
	char buf[64];
	ssize_t n = getxattr(argv[0], "bigfs.goal", buf, sizeof(buf) - 1);
	if (n < 0) {
		fprintf(stderr, "bigfs: %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	buf[n] = '\0';
	printf("%s: goal %s\n", argv[0], buf);
	return 0;
}

/* ---- metadata: calls signed with the cluster secret ------------------------ */

static int admin_secret(const char *path, struct secret *sec)
{
	if (!path) {
		fputs("bigfs: metadata commands are signed with the cluster secret: --secret FILE "
		      "(or $BIGFS_SECRET; the master's DATA/secret)\n", stderr);
		return -EINVAL;
	}
	int rc = secret_load(path, sec);
	if (rc < 0)
		fprintf(stderr, "bigfs: cannot read the cluster secret %s: %s\n", path, strerror(-rc));
	return rc;
}

/* bigfs metadata checkpoint */
static int cmd_checkpoint(struct admin *a, struct secret *sec)
{
	json_t *req = json_object(), *resp = NULL;
	int rc = master_list_call(a->ml, a->http, "POST", "/v1/metadata/checkpoint", req,
				  auth_cluster_signer, sec, &resp, NULL);
	json_decref(req);
	if (rc < 0) {
		fprintf(stderr, "bigfs: checkpoint: %s\n",
			rc == -ENOTSUP ? "this master keeps no metadata log (it runs without --kafka)"
				       : strerror(-rc));
		return 1;
	}
	json_int_t seq = json_integer_value(json_object_get(resp, "seq"));
	printf("checkpoint written: it covers the metadata log up to change %lld\n",
	       (long long)seq);
	json_decref(resp);
	return 0;
}

/* bigfs metadata dump FILE: the active master's whole database, written
 * to FILE.tmp then renamed (bigfs-master --restore FILE reads it). */
static int cmd_dump(struct admin *a, struct secret *sec, const char *file)
{
	const char *path = "/v1/metadata/dump";
	for (size_t n = 0; n < master_list_count(a->ml); n++) {
		size_t i = (master_list_current(a->ml) + n) % master_list_count(a->ml);
		if (admin_role(a, i) != MASTER_ROLE_ACTIVE)
			continue;
		char url[MASTER_ADDR_MAX + 64], auth[AUTH_HEADER_MAX], tmp[4200];
		snprintf(url, sizeof(url), "%s://%s%s", transport_scheme(), master_list_addr(a->ml, i),
			 path);
		if (auth_cluster_sign(sec->key, sec->len, "GET", path, NULL, 0, (long long)time(NULL),
				      auth) < 0)
			return 1;
		struct http_call c = { .method = "GET", .url = url, .authorization = auth };
		int rc = http_client_call(a->http, &c);
		if (rc == 0 && c.err == 0 && c.status == 200 && c.out_len >= 16 &&
		    memcmp(c.out_alloc, "SQLite format 3", 16) == 0) {
			snprintf(tmp, sizeof(tmp), "%s.tmp", file);
			FILE *f = fopen(tmp, "wb");
			bool ok = f && fwrite(c.out_alloc, 1, c.out_len, f) == c.out_len;
			ok = (f && fclose(f) == 0) && ok && rename(tmp, file) == 0;
			if (!ok) {
				fprintf(stderr, "bigfs: cannot write %s: %s\n", file, strerror(errno));
				unlink(tmp);
			} else {
				printf("%s: %zu bytes of metadata from %s\n", file, c.out_len,
				       master_list_addr(a->ml, i));
			}
			free(c.out_alloc);
			return ok ? 0 : 1;
		}
		fprintf(stderr, "bigfs: metadata dump from %s failed: %s\n", master_list_addr(a->ml, i),
			c.err ? strerror(-c.err) : c.status ? "the master refused it" : "no answer");
		if (c.status)
			fprintf(stderr, "bigfs: HTTP %ld: %.300s\n", c.status,
				c.out_alloc ? c.out_alloc : "");
		free(c.out_alloc);
		return 1;
	}
	fprintf(stderr, "bigfs: no active master in %s\n", master_list_text(a->ml));
	return 1;
}

static void usage(FILE *f)
{
	fputs("usage: bigfs [--master HOST:PORT] [--cafile CA.pem] status|workers\n"
	      "       bigfs locations FILE...\n"
	      "       bigfs goal PATH [N]\n"
	      "       bigfs [--master ...] [--secret FILE] metadata dump FILE\n"
	      "       bigfs [--master ...] [--secret FILE] metadata checkpoint\n"
	      "The master defaults to $BIGFS_MASTER, else 127.0.0.1:9400; a master with\n"
	      "TLS: --cafile (or $BIGFS_CAFILE) or https://HOST:PORT. With standby\n"
	      "masters give them all, HOST1:PORT,HOST2:PORT: the active one answers.\n"
	      "metadata: signed with the cluster secret, --secret FILE or $BIGFS_SECRET;\n"
	      "a dump is what bigfs-master --restore FILE starts from.\n",
	      f);
}

int main(int argc, char **argv)
{
	struct admin a = {.master = getenv("BIGFS_MASTER")};
	if (!a.master)
		a.master = "127.0.0.1:9400";
	log_init("bigfs", true, LOG_WARNING);   /* no line per master switch */
	const char *cafile = getenv("BIGFS_CAFILE");
	const char *secret_file = getenv("BIGFS_SECRET");
	int i = 1;
	while (i + 1 < argc && (strcmp(argv[i], "--master") == 0 || strcmp(argv[i], "--cafile") == 0 ||
				strcmp(argv[i], "--secret") == 0)) {
		if (strcmp(argv[i], "--master") == 0)
			a.master = argv[i + 1];
		else if (strcmp(argv[i], "--secret") == 0)
			secret_file = argv[i + 1];
		else
			cafile = argv[i + 1];
		i += 2;
	}
	if (i >= argc || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	const char *cmd = argv[i++];
	if (strcmp(cmd, "locations") == 0 && i < argc)
		return cmd_locations(argc - i, argv + i);
	if (strcmp(cmd, "goal") == 0 && (argc - i == 1 || argc - i == 2))
		return cmd_goal(argc - i, argv + i);
	bool meta_dump = strcmp(cmd, "metadata") == 0 && argc - i == 2 &&
			 strcmp(argv[i], "dump") == 0;
	bool meta_ckpt = strcmp(cmd, "metadata") == 0 && argc - i == 1 &&
			 strcmp(argv[i], "checkpoint") == 0;
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "workers") != 0 && !meta_dump && !meta_ckpt) {
		usage(stderr);
		return 2;
	}
	struct secret sec;
	if ((meta_dump || meta_ckpt) && admin_secret(secret_file, &sec) < 0)
		return 2;
	char err[512];
	if (master_list_parse(a.master, &a.ml, err, sizeof(err)) < 0) {
		fprintf(stderr, "bigfs: bad master '%s': %s\n", a.master, err);
		return 2;
	}
	/* TLS: a CA file, or a master given as https:// */
	if (cafile || master_list_https(a.ml)) {
		struct transport_settings ts = {.tls = true, .ca_file = cafile};
		if (transport_config_init(&ts, err, sizeof(err)) < 0) {
			fprintf(stderr, "bigfs: %s\n", err);
			master_list_free(a.ml);
			return 1;
		}
	}
	a.http = http_client_new(meta_dump || meta_ckpt ? 120000 : 10000, 3000);
	if (!a.http) {
		fprintf(stderr, "bigfs: out of memory\n");
		master_list_free(a.ml);
		return 1;
	}
	int ret = meta_dump   ? cmd_dump(&a, &sec, argv[i + 1])
		  : meta_ckpt ? cmd_checkpoint(&a, &sec)
		  : strcmp(cmd, "status") == 0 ? cmd_status(&a) : cmd_workers(&a, false);
	http_client_free(a.http);
	master_list_free(a.ml);
	return ret;
}
