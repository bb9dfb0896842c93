/* cmd_trash — `bigfs trash list|restore|purge`: the files deleted but
 * kept for their folder's trash time (docs/api.md "Operations").
 *
 * Every call is signed with the cluster secret. PATH operands (the
 * filter of list, the target of restore --to) are namespace paths for
 * the master: a mount path is turned into one through the nearest folder
 * that still exists (target_ns_path), so a deleted folder's files are
 * found by the path they had. `purge` without an ID on a terminal frees
 * the entries one by one under a progress bar, then sweeps whatever
 * remains with one call; elsewhere it is one call. Stateless apart from
 * struct admin. */
#include "admin.h"

#include "progress.h"
#include "table.h"
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_LIMIT_DEFAULT 1000

/* A trash entry id as the master takes it: a positive JSON integer. NULL
 * (said: a usage error) for anything else. */
static json_t *entry_id(struct admin *a, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!s[0] || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ' || v == 0 ||
	    v > INT64_MAX) {
		admin_usage(a, "'%s' is not a trash entry id (a number: bigfs trash list shows them)",
			    s);
		return NULL;
	}
	return json_integer((json_int_t)v);
}

static void id_text(const json_t *e, char *out, size_t cap)
{
	json_t *id = json_object_get(e, "id");
	if (json_is_integer(id))
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	else if (json_is_string(id))
		snprintf(out, cap, "%s", json_string_value(id));
	else
		snprintf(out, cap, "?");
}

/* ---- list ------------------------------------------------------------------------- */

struct list_opts {
	uint64_t limit;
	bool has_limit;
};

enum { O_LIMIT = 256, O_TO };

static int list_opt(struct admin *a, int id, const char *arg, void *ctx)
{
	struct list_opts *o = ctx;
	if (id != O_LIMIT)
		return -EINVAL;
	if (units_parse_count(arg, &o->limit) < 0 || o->limit == 0) {
		admin_usage(a, "--limit: '%s' is not a positive number", arg);
		return -EINVAL;
	}
	o->has_limit = true;
	return 0;
}

static const struct option list_options[] = {
	{"limit", required_argument, NULL, O_LIMIT},
	{NULL, 0, NULL, 0},
};

static void print_trash(const json_t *resp, const char *filter, uint64_t limit)
{
	json_t *entries = json_object_get(resp, "entries"), *e;
	uint64_t files = admin_u64(resp, "files", json_array_size(entries));
	char sz[UNITS_BUF];
	size_t i;
	time_t now = time(NULL);

	if (json_array_size(entries)) {
		struct table *t = table_new(5, (const char *[]){"ID", "DELETED", "EXPIRES", "SIZE",
								 "PATH"},
					    "rlrrl");
		json_array_foreach(entries, i, e) {
			char id[64], when[32], left[UNITS_BUF];
			time_t del = (time_t)admin_u64(e, "deleted_s", 0);
			uint64_t exp = admin_u64(e, "expire_s", 0);
			struct tm tm;
			id_text(e, id, sizeof(id));
			if (!localtime_r(&del, &tm) ||
			    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
				snprintf(when, sizeof(when), "?");
			table_add(t, "%s", id);
			table_add(t, "%s", when);
			if ((time_t)exp > now) {
				uint64_t s = (uint64_t)((time_t)exp - now);
				/* Hours and minutes shown: round up, so a file
				 * deleted a second ago under a 1-day keep reads
				 * "in 1d", not "in 23h 59m". */
				if (s >= 3600)
					s = (s + 59) / 60 * 60;
				table_add(t, "in %s", units_fmt_duration(s, left, sizeof(left)));
			} else {
				table_add(t, "now");
			}
			table_add(t, "%s", units_fmt_size(admin_u64(e, "size", 0), sz, sizeof(sz)));
			table_add(t, "%s", admin_str(e, "path", "?"));
		}
		table_print(t, stdout);
		table_free(t);
	}
	if (filter || files > json_array_size(entries))
		printf("%zu entr%s shown%s%s; ", json_array_size(entries),
		       json_array_size(entries) == 1 ? "y" : "ies", filter ? " under " : "",
		       filter ? filter : "");
	printf("the trash holds %" PRIu64 " file%s, %s", files, files == 1 ? "" : "s",
	       units_fmt_size(admin_u64(resp, "bytes", 0), sz, sizeof(sz)));
	if (json_array_size(entries) == limit && files > limit)
		printf(" (--limit shows more)");
	putchar('\n');
}

int cmd_trash_list(struct admin *a, int argc, char **argv)
{
	struct list_opts o = {.limit = LIST_LIMIT_DEFAULT};
	int first;
	int rc = admin_parse(a, argc, argv, list_options, list_opt, &o, 0, 1, &first);
	if (rc >= 0)
		return rc;
	json_t *req = json_object(), *resp = NULL;
	char *path = NULL;
	if (first < argc) {
		rc = target_ns_path(a, argv[first], true, &path);
		if (rc < 0) {
			json_decref(req);
			return admin_exit_for(a, rc);
		}
		json_object_set_new(req, "path", json_string(path));
	}
	if (o.has_limit)
		json_object_set_new(req, "limit", json_integer((json_int_t)o.limit));
	rc = admin_call(a, "POST", "/v1/trash/list", req, true, &resp, "trash list");
	json_decref(req);
	free(path);
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (a->json) {
		rc = admin_print_json(resp);
	} else {
		print_trash(resp, first < argc ? argv[first] : NULL, o.limit);
		rc = AX_OK;
	}
	json_decref(resp);
	return rc;
}

/* ---- restore ----------------------------------------------------------------------- */

struct restore_opts {
	const char *to;
};

static int restore_opt(struct admin *a, int id, const char *arg, void *ctx)
{
	struct restore_opts *o = ctx;
	(void)a;
	if (id != O_TO)
		return -EINVAL;
	o->to = arg;
	return 0;
}

static const struct option restore_options[] = {
	{"to", required_argument, NULL, O_TO},
	{NULL, 0, NULL, 0},
};

int cmd_trash_restore(struct admin *a, int argc, char **argv)
{
	struct restore_opts o = {0};
	int first;
	int rc = admin_parse(a, argc, argv, restore_options, restore_opt, &o, 1, 1, &first);
	if (rc >= 0)
		return rc;
	json_t *id = entry_id(a, argv[first]);
	if (!id)
		return AX_USAGE;
	json_t *req = json_pack("{s:o}", "id", id), *resp = NULL;
	char *to = NULL;
	if (o.to) {
		rc = target_ns_path(a, o.to, true, &to);
		if (rc < 0) {
			json_decref(req);
			return admin_exit_for(a, rc);
		}
		json_object_set_new(req, "to", json_string(to));
	}
	rc = admin_call(a, "POST", "/v1/trash/restore", req, true, &resp, "trash restore");
	json_decref(req);
	free(to);
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (a->json) {
		rc = admin_print_json(resp);
	} else {
		printf("restored trash entry %s as %s (inode %" PRIu64 ")\n", argv[first],
		       admin_str(resp, "path", "?"), admin_u64(resp, "ino", 0));
		rc = AX_OK;
	}
	json_decref(resp);
	return rc;
}

/* ---- purge ------------------------------------------------------------------------- */

/* Purge the listed entries one by one under a progress bar; adds what
 * was freed to *files / *bytes. 0 or -errno (said). */
static int purge_each(struct admin *a, const json_t *list, struct progress *p, uint64_t *files,
		      uint64_t *bytes)
{
	json_t *entries = json_object_get(list, "entries"), *e;
	size_t i, n = json_array_size(entries);
	uint64_t total_bytes = 0;
	char sz[UNITS_BUF], tot[UNITS_BUF], text[160];

	json_array_foreach(entries, i, e)
		total_bytes += admin_u64(e, "size", 0);
	units_fmt_size(total_bytes, tot, sizeof(tot));
	json_array_foreach(entries, i, e) {
		json_t *req = json_object(), *resp = NULL;
		json_object_set(req, "id", json_object_get(e, "id"));
		snprintf(text, sizeof(text), "%zu of %zu files, %s of %s freed", i, n,
			 units_fmt_size(*bytes, sz, sizeof(sz)), tot);
		progress_show(p, n ? (double)i / (double)n : 1, text);
		int rc = admin_call_quiet(a, "POST", "/v1/trash/purge", req, true, &resp);
		json_decref(req);
		if (rc == -ENOENT)
			continue;               /* gone meanwhile (expired, or another purge) */
		if (rc < 0) {
			char id[64];
			progress_end(p);
			id_text(e, id, sizeof(id));
			if (a->setup_exit == 0)
				fprintf(stderr, "bigfs: trash purge: entry %s: %s\n", id, strerror(-rc));
			return rc;
		}
		*files += admin_u64(resp, "files", 0);
		*bytes += admin_u64(resp, "bytes", 0);
		json_decref(resp);
	}
	return 0;
}

int cmd_trash_purge(struct admin *a, int argc, char **argv)
{
	struct progress p;
	uint64_t files = 0, bytes = 0;
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 0, 1, &first);
	if (rc >= 0)
		return rc;
	a->timeout_ms = 300000;       /* a whole trash may be big (before admin_connect) */
	json_t *req = json_object(), *resp = NULL;
	if (first < argc) {
		json_t *id = entry_id(a, argv[first]);
		if (!id) {
			json_decref(req);
			return AX_USAGE;
		}
		json_object_set_new(req, "id", id);
	}
	progress_init(&p, stderr, !a->json && first == argc);
	if (p.on) {
		json_t *list = NULL, *lreq = json_pack("{s:i}", "limit", LIST_LIMIT_DEFAULT);
		rc = admin_call(a, "POST", "/v1/trash/list", lreq, true, &list, "trash purge");
		json_decref(lreq);
		if (rc == 0)
			rc = purge_each(a, list, &p, &files, &bytes);
		json_decref(list);
		if (rc < 0) {
			json_decref(req);
			return admin_exit_for(a, rc);
		}
		progress_show(&p, -1, "freeing the rest");
	}
	/* one call: the entry, or the whole trash (what is left of it) */
	char what[80];
	snprintf(what, sizeof(what), "trash purge%s%s", first < argc ? " " : "",
		 first < argc ? argv[first] : "");
	rc = admin_call(a, "POST", "/v1/trash/purge", req, true, &resp, what);
	progress_end(&p);
	json_decref(req);
	if (rc < 0)
		return admin_exit_for(a, rc);
	files += admin_u64(resp, "files", 0);
	bytes += admin_u64(resp, "bytes", 0);
	json_decref(resp);
	if (a->json) {
		json_t *doc = json_pack("{s:I, s:I}", "files", (json_int_t)files, "bytes",
					(json_int_t)bytes);
		rc = admin_print_json(doc);
		json_decref(doc);
		return rc;
	}
	char sz[UNITS_BUF];
	printf("purged %" PRIu64 " file%s, %s freed\n", files, files == 1 ? "" : "s",
	       units_fmt_size(bytes, sz, sizeof(sz)));
	return AX_OK;
}
