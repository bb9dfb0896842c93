/* cmd_metadata — `bigfs metadata dump FILE` and `bigfs metadata
 * checkpoint`: the metadata database as a backup file, and a checkpoint
 * of the metadata log (docs/api.md "Cluster", docs/metalog.md).
 *
 * Both are signed with the cluster secret. The dump is a raw SQLite
 * file, not JSON, so it does not go through admin_call: it asks each
 * listed master for its role and takes the dump from the active one,
 * written to FILE.tmp then renamed (bigfs-master --restore FILE reads
 * it). Stateless apart from struct admin. */
#include "admin.h"

#include "auth.h"
#include "http_client.h"
#include "master_list.h"
#include "transport_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What master i is: its GET /v1/health. */
static enum master_role role_of(struct admin *a, size_t i)
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

int cmd_metadata_checkpoint(struct admin *a, int argc, char **argv)
{
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 0, 0, &first);
	if (rc >= 0)
		return rc;
	a->timeout_ms = 120000;
	json_t *req = json_object(), *resp = NULL;
	/* a master without a log says so itself (ENOTSUP, "no --kafka") */
	rc = admin_call(a, "POST", "/v1/metadata/checkpoint", req, true, &resp, NULL);
	json_decref(req);
	if (rc < 0)
		return admin_exit_for(a, rc);
	json_int_t seq = json_integer_value(json_object_get(resp, "seq"));
	if (a->json)
		rc = admin_print_json(resp);
	else
		printf("checkpoint written: it covers the metadata log up to change %lld\n",
		       (long long)seq);
	json_decref(resp);
	return rc;
}

int cmd_metadata_dump(struct admin *a, int argc, char **argv)
{
	const char *path = "/v1/metadata/dump";
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 1, 1, &first);
	if (rc >= 0)
		return rc;
	const char *file = argv[first];
	a->timeout_ms = 120000;
	if ((rc = admin_secret(a)) != 0 || (rc = admin_connect(a)) != 0)
		return rc;
	for (size_t n = 0; n < master_list_count(a->ml); n++) {
		size_t i = (master_list_current(a->ml) + n) % master_list_count(a->ml);
		if (role_of(a, i) != MASTER_ROLE_ACTIVE)
			continue;
		char url[MASTER_ADDR_MAX + 64], auth[AUTH_HEADER_MAX], tmp[4200];
		snprintf(url, sizeof(url), "%s://%s%s", transport_scheme(), master_list_addr(a->ml, i),
			 path);
		if (auth_cluster_sign(a->sec.key, a->sec.len, "GET", path, NULL, 0,
				      (long long)time(NULL), auth) < 0)
			return AX_FAIL;
		struct http_call c = {.method = "GET", .url = url, .authorization = auth};
		rc = http_client_call(a->http, &c);
		if (rc == 0 && c.err == 0 && c.status == 200 && c.out_len >= 16 &&
		    memcmp(c.out_alloc, "SQLite format 3", 16) == 0) {
			snprintf(tmp, sizeof(tmp), "%s.tmp", file);
			FILE *f = fopen(tmp, "wb");
			bool ok = f && fwrite(c.out_alloc, 1, c.out_len, f) == c.out_len;
			ok = (f && fclose(f) == 0) && ok && rename(tmp, file) == 0;
			if (!ok) {
				fprintf(stderr, "bigfs: cannot write %s: %s\n", file, strerror(errno));
				unlink(tmp);
			} else if (a->json) {
				json_t *doc = json_pack("{s:s, s:I, s:s}", "file", file, "bytes",
							(json_int_t)c.out_len, "master",
							master_list_addr(a->ml, i));
				if (admin_print_json(doc) != AX_OK)
					ok = false;
				json_decref(doc);
			} else {
				printf("%s: %zu bytes of metadata from %s\n", file, c.out_len,
				       master_list_addr(a->ml, i));
			}
			free(c.out_alloc);
			return ok ? AX_OK : AX_FAIL;
		}
		fprintf(stderr, "bigfs: metadata dump from %s failed: %s\n", master_list_addr(a->ml, i),
			c.err ? strerror(-c.err) : c.status ? "the master refused it" : "no answer");
		if (c.status)
			fprintf(stderr, "bigfs: HTTP %ld: %.300s\n", c.status,
				c.out_alloc ? c.out_alloc : "");
		free(c.out_alloc);
		return AX_FAIL;
	}
	fprintf(stderr, "bigfs: no active master in %s\n", master_list_text(a->ml));
	return AX_FAIL;
}
