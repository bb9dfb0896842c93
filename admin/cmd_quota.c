/* cmd_quota — `bigfs quota set|get|list|remove`: limits of bytes and
 * inodes per folder (docs/api.md "Operations", the quota object).
 *
 * Limits count logical bytes (file sizes) and inodes below the folder,
 * the folder itself included; the bytes stored on workers (times the
 * goal) are shown beside them, not limited. Sizes are typed with binary
 * units (10G), counts with decimal ones (100k), the grace as a duration
 * (7d) — units.h. Every call is signed with the cluster secret.
 * Stateless apart from struct admin. */
#include "admin.h"

#include "table.h"
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { O_BYTES = 256, O_BYTES_SOFT, O_INODES, O_INODES_SOFT, O_GRACE };

struct set_opts {
	json_t *req;      /* the limits given, by their API names */
};

static const struct option set_options[] = {
	{"bytes", required_argument, NULL, O_BYTES},
	{"bytes-soft", required_argument, NULL, O_BYTES_SOFT},
	{"inodes", required_argument, NULL, O_INODES},
	{"inodes-soft", required_argument, NULL, O_INODES_SOFT},
	{"grace", required_argument, NULL, O_GRACE},
	{NULL, 0, NULL, 0},
};

static int set_opt(struct admin *a, int id, const char *arg, void *ctx)
{
	struct set_opts *o = ctx;
	uint64_t v;
	int rc;
	const char *key, *opt, *what;

	switch (id) {
	case O_BYTES: key = "bytes_hard", opt = "--bytes", what = "a size (10G, 512M, 4096)"; break;
	case O_BYTES_SOFT: key = "bytes_soft", opt = "--bytes-soft", what = "a size (10G, 512M, 4096)"; break;
	case O_INODES: key = "inodes_hard", opt = "--inodes", what = "a count (100000, 100k)"; break;
	case O_INODES_SOFT: key = "inodes_soft", opt = "--inodes-soft", what = "a count (100000, 100k)"; break;
	case O_GRACE: key = "grace_s", opt = "--grace", what = "a duration (7d, 12h, 30m)"; break;
	default: return -EINVAL;
	}
	rc = id == O_GRACE ? units_parse_duration(arg, &v)
	   : id == O_BYTES || id == O_BYTES_SOFT ? units_parse_size(arg, &v)
						 : units_parse_count(arg, &v);
	if (rc == 0 && v > INT64_MAX)
		rc = -ERANGE;
	if (rc < 0) {
		admin_usage(a, "%s: '%s' is not %s%s", opt, arg, what,
			    rc == -ERANGE ? " (too big)" : "");
		return -EINVAL;
	}
	json_object_set_new(o->req, key, json_integer((json_int_t)v));
	return 0;
}

static const char *limit_text(const json_t *q, const char *key, bool bytes, char *out,
			      size_t cap)
{
	uint64_t v = admin_u64(q, key, 0);
	if (!v)
		snprintf(out, cap, "-");
	else if (bytes)
		units_fmt_size(v, out, cap);
	else
		snprintf(out, cap, "%" PRIu64, v);
	return out;
}

/* "since 2024-05-01 12:00 (grace ends in 6d 23h)" for a soft limit
 * exceeded, "" otherwise. */
static const char *soft_text(const json_t *q, const char *kind, char *out, size_t cap)
{
	json_t *since = json_object_get(json_object_get(q, "soft_since_s"), kind);
	char when[32], left[UNITS_BUF];
	if (!json_is_integer(since)) {
		snprintf(out, cap, "%s", "");
		return out;
	}
	time_t t = (time_t)json_integer_value(since), now = time(NULL);
	time_t end = t + (time_t)admin_u64(q, "grace_s", 0);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		snprintf(when, sizeof(when), "?");
	if (end > now)
		snprintf(out, cap, "over soft since %s, grace ends in %s", when,
			 units_fmt_duration((uint64_t)(end - now), left, sizeof(left)));
	else
		snprintf(out, cap, "over soft since %s, grace over", when);
	return out;
}

/* The quota object's "over" in words. */
static const char *over_text(const char *over)
{
	if (strcmp(over, "none") == 0)
		return "within its limits";
	if (strcmp(over, "soft") == 0)
		return "over a soft limit, in its grace period";
	if (strcmp(over, "grace_expired") == 0)
		return "over a soft limit past its grace period: writes that grow it fail";
	if (strcmp(over, "hard") == 0)
		return "at a hard limit: writes that grow it fail";
	return over;
}

static void print_quota(const json_t *q)
{
	const json_t *u = json_object_get(q, "usage");
	char a[UNITS_BUF], b[UNITS_BUF], c[UNITS_BUF], s[128];

	printf("quota of %s (inode %" PRIu64 "): %s\n", admin_str(q, "path", "?"),
	       admin_u64(q, "ino", 0), over_text(admin_str(q, "over", "?")));
	struct table *t = table_new(5, (const char *[]){"", "USED", "SOFT", "HARD", ""}, "lrrrl");
	table_add(t, "bytes");
	table_add(t, "%s", units_fmt_size(admin_u64(u, "bytes", 0), a, sizeof(a)));
	table_add(t, "%s", limit_text(q, "bytes_soft", true, b, sizeof(b)));
	table_add(t, "%s", limit_text(q, "bytes_hard", true, c, sizeof(c)));
	table_add(t, "%s", soft_text(q, "bytes", s, sizeof(s)));
	table_add(t, "inodes");
	table_add(t, "%" PRIu64, admin_u64(u, "inodes", 0));
	table_add(t, "%s", limit_text(q, "inodes_soft", false, b, sizeof(b)));
	table_add(t, "%s", limit_text(q, "inodes_hard", false, c, sizeof(c)));
	table_add(t, "%s", soft_text(q, "inodes", s, sizeof(s)));
	table_print(t, stdout);
	table_free(t);
	printf("stored on workers: %s (bytes times goal; not limited)\n",
	       units_fmt_size(admin_u64(u, "replica_bytes", 0), a, sizeof(a)));
	printf("grace period: %s\n", units_fmt_duration(admin_u64(q, "grace_s", 0), a, sizeof(a)));
}

/* Print one quota object (or JSON). */
static int show_quota(struct admin *a, const json_t *q)
{
	if (a->json)
		return admin_print_json(q);
	print_quota(q);
	return AX_OK;
}

int cmd_quota_set(struct admin *a, int argc, char **argv)
{
	struct set_opts o = {.req = json_object()};
	json_t *resp = NULL;
	int first;
	int rc = admin_parse(a, argc, argv, set_options, set_opt, &o, 1, 1, &first);
	if (rc >= 0)
		goto out_req;
	if (json_object_size(o.req) == 0) {
		rc = admin_usage(a, "quota set: give at least one limit (--bytes, --bytes-soft, "
				    "--inodes, --inodes-soft) or --grace");
		goto out_req;
	}
	rc = target_set(a, o.req, "ino", "path", argv[first]);
	if (rc == 0)
		rc = admin_call(a, "POST", "/v1/quota/set", o.req, true, &resp, "quota set");
	if (rc < 0) {
		rc = admin_exit_for(a, rc);
		goto out_req;
	}
	rc = show_quota(a, resp);
	json_decref(resp);
out_req:
	json_decref(o.req);
	return rc;
}

/* `quota get|remove DIR`: parse, name DIR, call route. -1 with *resp and
 * *ret_first when the call worked, else the exit status to return. */
static int quota_dir_call(struct admin *a, int argc, char **argv, const char *route,
			  json_t **resp, int *ret_first)
{
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 1, 1, ret_first);
	if (rc >= 0)
		return rc;
	json_t *req = json_object();
	rc = target_set(a, req, "ino", "path", argv[*ret_first]);
	if (rc == 0)
		rc = admin_call(a, "POST", route, req, true, resp, argv[*ret_first]);
	json_decref(req);
	return rc < 0 ? admin_exit_for(a, rc) : -1;
}

int cmd_quota_get(struct admin *a, int argc, char **argv)
{
	json_t *resp = NULL;
	int first;
	int rc = quota_dir_call(a, argc, argv, "/v1/quota/get", &resp, &first);
	if (rc >= 0)
		return rc;
	rc = show_quota(a, resp);
	json_decref(resp);
	return rc;
}

int cmd_quota_remove(struct admin *a, int argc, char **argv)
{
	json_t *resp = NULL;
	int first;
	int rc = quota_dir_call(a, argc, argv, "/v1/quota/remove", &resp, &first);
	if (rc >= 0)
		return rc;
	json_decref(resp);
	if (a->json) {
		json_t *doc = json_pack("{s:s, s:b}", "path", argv[first], "removed", 1);
		rc = admin_print_json(doc);
		json_decref(doc);
		return rc;
	}
	printf("quota of %s removed\n", argv[first]);
	return AX_OK;
}

int cmd_quota_list(struct admin *a, int argc, char **argv)
{
	json_t *resp = NULL, *q;
	int first;
	size_t i;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 0, 0, &first);
	if (rc >= 0)
		return rc;
	rc = admin_call(a, "GET", "/v1/quota/list", NULL, true, &resp, "quota list");
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (a->json) {
		rc = admin_print_json(resp);
		json_decref(resp);
		return rc;
	}
	json_t *quotas = json_object_get(resp, "quotas");
	if (!json_array_size(quotas)) {
		printf("no quotas\n");
		json_decref(resp);
		return AX_OK;
	}
	struct table *t = table_new(10,
				    (const char *[]){"PATH", "BYTES", "SOFT", "HARD", "STORED",
						     "INODES", "SOFT", "HARD", "GRACE", "OVER"},
				    "lrrrrrrrrl");
	json_array_foreach(quotas, i, q) {
		const json_t *u = json_object_get(q, "usage");
		char x[UNITS_BUF];
		table_add(t, "%s", admin_str(q, "path", "?"));
		table_add(t, "%s", units_fmt_size(admin_u64(u, "bytes", 0), x, sizeof(x)));
		table_add(t, "%s", limit_text(q, "bytes_soft", true, x, sizeof(x)));
		table_add(t, "%s", limit_text(q, "bytes_hard", true, x, sizeof(x)));
		table_add(t, "%s", units_fmt_size(admin_u64(u, "replica_bytes", 0), x, sizeof(x)));
		table_add(t, "%" PRIu64, admin_u64(u, "inodes", 0));
		table_add(t, "%s", limit_text(q, "inodes_soft", false, x, sizeof(x)));
		table_add(t, "%s", limit_text(q, "inodes_hard", false, x, sizeof(x)));
		table_add(t, "%s", units_fmt_duration(admin_u64(q, "grace_s", 0), x, sizeof(x)));
		table_add(t, "%s", admin_str(q, "over", "?"));
	}
	rc = table_print(t, stdout) < 0 ? AX_FAIL : AX_OK;
	table_free(t);
	json_decref(resp);
	return rc;
}
