/* cmd_cluster — the cluster-wide commands of `bigfs`: status, workers
 * (= worker list), worker drain and worker undrain.
 *
 * status and workers read only public views (GET /v1/health,
 * /v1/cluster/workers, /v1/cluster/summary), so they work without the
 * cluster secret. With several masters, status first asks each for its
 * role and then reads the views of the first active one. A view a master
 * does not offer (an older master without the summary) leaves its lines
 * out with a warning; status still succeeds on what it has.
 *
 * worker drain|undrain are signed (POST /v1/worker/drain|undrain);
 * --wait follows the drain through the public workers list, once a
 * second, until the master says the worker is removable (drained, and a
 * repair pass since found nothing under goal), or until the drain has
 * not moved for --stall (default 5 minutes; the master's note says why
 * when it knows: chunks with nowhere to go). Interrupting or giving up the wait
 * leaves the drain running on the master.
 *
 * Stateless apart from struct admin. */
#include "admin.h"

#include "http_client.h"
#include "master_list.h"
#include "progress.h"
#include "table.h"
#include "transport_config.h"
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_POLL_MS 1000
#define DRAIN_PLAIN_EVERY_S 30    /* without a terminal: a line this often */
#define DRAIN_STALL_S 300         /* --wait gives up after this long without progress */

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

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* ---- workers ------------------------------------------------------------------ */

static void print_workers(const json_t *workers)
{
	json_t *w;
	size_t i;
	struct table *t = table_new(10,
				    (const char *[]){"WORKER", "ADDRESS", "LIVE", "STATE", "USED",
						     "CAPACITY", "USE%", "CHUNKS", "IN", "OUT"},
				    "llllrrrrrr");
	json_array_foreach(workers, i, w) {
		char u[UNITS_BUF], c[UNITS_BUF], in[UNITS_BUF], out[UNITS_BUF];
		uint64_t used = admin_u64(w, "used", 0), cap = admin_u64(w, "capacity", 0);
		bool live = admin_bool(w, "live", false);
		table_add(t, "%s", admin_str(w, "worker_id", "?"));
		table_add(t, "%s", admin_str(w, "addr", "?"));
		table_add(t, "%s", live ? "yes" : "NO");
		table_add(t, "%s", admin_str(w, "state", live ? "live" : "down"));
		table_add(t, "%s", units_fmt_size(used, u, sizeof(u)));
		table_add(t, "%s", units_fmt_size(cap, c, sizeof(c)));
		table_add(t, "%.1f", pct(used, cap));
		table_add(t, "%" PRIu64, admin_u64(w, "chunks", 0));
		if (json_object_get(w, "bytes_in_per_s")) {
			table_add(t, "%s", units_fmt_rate((double)admin_u64(w, "bytes_in_per_s", 0), in,
							  sizeof(in)));
			table_add(t, "%s", units_fmt_rate((double)admin_u64(w, "bytes_out_per_s", 0),
							  out, sizeof(out)));
		} else {
			table_add(t, "-");
			table_add(t, "-");
		}
	}
	table_print(t, stdout);
	table_free(t);
}

int cmd_workers(struct admin *a, int argc, char **argv)
{
	json_t *resp = NULL;
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 0, 0, &first);
	if (rc >= 0)
		return rc;
	rc = admin_call(a, "GET", "/v1/cluster/workers", NULL, false, &resp, "workers");
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (a->json) {
		rc = admin_print_json(resp);
	} else {
		json_t *workers = json_object_get(resp, "workers");
		if (json_array_size(workers))
			print_workers(workers);
		else
			printf("no workers have registered\n");
		rc = AX_OK;
	}
	json_decref(resp);
	return rc;
}

/* ---- status --------------------------------------------------------------------- */

struct totals {
	size_t n, live, draining, drained;
	uint64_t cap, used;
};

static void count_workers(const json_t *workers, struct totals *t)
{
	json_t *w;
	size_t i;
	memset(t, 0, sizeof(*t));
	json_array_foreach(workers, i, w) {
		const char *state = admin_str(w, "state", "");
		t->n++;
		if (strcmp(state, "draining") == 0)
			t->draining++;
		else if (strcmp(state, "drained") == 0)
			t->drained++;
		if (admin_bool(w, "live", false)) {
			t->live++;
			t->cap += admin_u64(w, "capacity", 0);
			t->used += admin_u64(w, "used", 0);
		}
	}
}

/* "40 chunks left, 1.2 GiB moved, 80.0 MiB/s, ETA 2m" of a drain object. */
static void drain_text(const json_t *d, char *out, size_t cap)
{
	char moved[UNITS_BUF], rate[UNITS_BUF], eta[UNITS_BUF];
	json_t *e = json_object_get(d, "eta_s");
	if (admin_bool(d, "done", false)) {
		snprintf(out, cap, "done, %s moved%s", units_fmt_size(admin_u64(d, "bytes_moved", 0),
								  moved, sizeof(moved)),
			 admin_bool(d, "removable", false) ? "; it can be removed"
							   : "; waiting for a repair pass");
		return;
	}
	const char *note = admin_str(d, "note", NULL);
	uint64_t left = admin_u64(d, "chunks_left", 0);
	snprintf(out, cap, "%" PRIu64 " chunk%s left, %s moved, %s, ETA %s%s%s", left,
		 left == 1 ? "" : "s",
		 units_fmt_size(admin_u64(d, "bytes_moved", 0), moved, sizeof(moved)),
		 units_fmt_rate((double)admin_u64(d, "rate_bps", 0), rate, sizeof(rate)),
		 json_is_integer(e) ? units_fmt_duration((uint64_t)json_integer_value(e), eta,
							 sizeof(eta))
				    : "unknown",
		 note ? "; " : "", note ? note : "");
}

static void print_status(const char *master, const json_t *workers, const json_t *sum)
{
	struct totals t;
	char c[UNITS_BUF], u[UNITS_BUF], b[UNITS_BUF];
	json_t *w, *q;
	size_t i;

	count_workers(workers, &t);
	if (master)
		printf("master   %s\n", master);
	printf("workers  %zu live of %zu\n", t.live, t.n);
	printf("capacity %s, used %s (%.1f%%)\n", units_fmt_size(t.cap, c, sizeof(c)),
	       units_fmt_size(t.used, u, sizeof(u)), pct(t.used, t.cap));
	bool any = false;
	json_array_foreach(workers, i, w) {
		const json_t *d = json_object_get(w, "drain");
		char text[256];
		if (!d)
			continue;
		drain_text(d, text, sizeof(text));
		printf("%s %s %s: %s\n", any ? "        " : "drains  ", admin_str(w, "worker_id", "?"),
		       admin_str(w, "state", "?"), text);
		any = true;
	}
	if (!any)
		printf("drains   none\n");
	if (!sum)
		return;
	printf("chunks   %" PRIu64 ": %" PRIu64 " under goal, %" PRIu64 " lost, %" PRIu64
	       " repairs running\n",
	       admin_u64(sum, "chunks", 0), admin_u64(sum, "chunks_undergoal", 0),
	       admin_u64(sum, "chunks_lost", 0), admin_u64(sum, "repairs", 0));
	const json_t *trash = json_object_get(sum, "trash");
	printf("trash    %" PRIu64 " files, %s\n", admin_u64(trash, "files", 0),
	       units_fmt_size(admin_u64(trash, "bytes", 0), b, sizeof(b)));
	const json_t *rb = json_object_get(sum, "rebalance");
	if (json_is_object(rb)) {
		const json_t *run = json_object_get(rb, "run");
		printf("rebalance %s", admin_str(rb, "state", "?"));
		if (json_is_object(run))
			printf(": %" PRIu64 " chunks (%s) moved in this run",
			       admin_u64(run, "moved_chunks", 0),
			       units_fmt_size(admin_u64(run, "moved_bytes", 0), b, sizeof(b)));
		json_t *spread = json_object_get(rb, "spread"), *margin = json_object_get(rb, "margin");
		if (json_is_number(spread) && json_is_number(margin))
			printf(" (usage spread %.1f%%, margin %.1f%%)", 100 * json_number_value(spread),
			       100 * json_number_value(margin));
		const char *reason = admin_str(rb, "reason", NULL);
		if (reason)
			printf(", %s", reason);
		putchar('\n');
	}
	const json_t *quotas = json_object_get(sum, "quotas");
	size_t over = 0;
	json_array_foreach(quotas, i, q)
		if (strcmp(admin_str(q, "over", "none"), "none") != 0)
			over++;
	printf("quotas   %zu set, %zu over a limit", json_array_size(quotas), over);
	const char *sep = ": ";
	json_array_foreach(quotas, i, q) {
		if (strcmp(admin_str(q, "over", "none"), "none") == 0)
			continue;
		printf("%s%s (%s)", sep, admin_str(q, "path", "?"), admin_str(q, "over", "?"));
		sep = ", ";
	}
	putchar('\n');
}

/* A new reference to o's member key, or def (new) when it is absent. */
static json_t *member_or(const json_t *o, const char *key, json_t *def)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return def;
	json_decref(def);
	return json_incref(v);
}

/* The status document for --json. Takes references to nothing. */
static json_t *status_json(json_t *masters, const char *active, const json_t *workers,
			   const json_t *sum)
{
	struct totals t;
	json_t *drains = json_array(), *over = json_array(), *w, *q;
	size_t i;

	count_workers(workers, &t);
	json_array_foreach(workers, i, w)
		if (json_object_get(w, "drain"))
			json_array_append(drains, w);
	json_array_foreach(json_object_get(sum, "quotas"), i, q)
		if (strcmp(admin_str(q, "over", "none"), "none") != 0)
			json_array_append(over, q);
	json_t *trash = json_object_get(sum, "trash");
	json_t *doc = json_pack(
		"{s:O, s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "masters", masters,
		"active", active, "workers", "total", (json_int_t)t.n, "live", (json_int_t)t.live,
		"draining", (json_int_t)t.draining, "drained", (json_int_t)t.drained, "capacity",
		"total", (json_int_t)t.cap, "used", (json_int_t)t.used, "free",
		(json_int_t)(t.cap > t.used ? t.cap - t.used : 0));
	json_object_set_new(doc, "drains", drains);
	if (sum) {
		static const char *const keys[] = {"chunks", "chunks_undergoal", "chunks_lost",
						   "repairs"};
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			json_object_set_new(doc, keys[k],
					    json_integer((json_int_t)admin_u64(sum, keys[k], 0)));
		json_object_set_new(doc, "trash", trash ? json_copy(trash) : json_null());
		json_object_set_new(doc, "rebalance", member_or(sum, "rebalance", json_null()));
		json_object_set_new(doc, "quotas",
				    json_pack("{s:I, s:o}", "count",
					      (json_int_t)json_array_size(json_object_get(sum, "quotas")),
					      "over", over));
		json_object_set_new(doc, "events", member_or(sum, "events", json_array()));
	} else {
		json_decref(over);
		json_object_set_new(doc, "summary", json_null());
	}
	return doc;
}

int cmd_status(struct admin *a, int argc, char **argv)
{
	json_t *health = NULL, *workers = NULL, *sum = NULL, *masters = json_array();
	int first, ret = AX_FAIL;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 0, 0, &first);
	if (rc >= 0) {
		json_decref(masters);
		return rc;
	}
	if ((rc = admin_connect(a)) != 0) {
		json_decref(masters);
		return rc;
	}
	size_t n = master_list_count(a->ml);
	if (n > 1) {
		/* several: one line each, then the views of the (first) active one */
		int active = -1;
		for (size_t i = 0; i < n; i++) {
			enum master_role role = role_of(a, i);
			if (!a->json)
				printf("master %s role %s\n", master_list_addr(a->ml, i),
				       master_role_name(role));
			json_array_append_new(masters, json_pack("{s:s, s:s}", "addr",
								 master_list_addr(a->ml, i), "role",
								 master_role_name(role)));
			if (role == MASTER_ROLE_ACTIVE && active < 0)
				active = (int)i;
		}
		if (active < 0) {
			fprintf(stderr, "bigfs: no active master in %s\n", master_list_text(a->ml));
			goto out_put;
		}
		master_list_set_current(a->ml, (size_t)active);
	} else {
		rc = admin_call(a, "GET", "/v1/health", NULL, false, &health, "status");
		if (rc < 0) {
			ret = admin_exit_for(a, rc);
			goto out_put;
		}
		json_array_append_new(masters, json_pack("{s:s, s:s}", "addr", master_list_addr(a->ml, 0),
							 "role", admin_str(health, "role", "active")));
	}
	rc = admin_call(a, "GET", "/v1/cluster/workers", NULL, false, &workers, "status");
	if (rc < 0) {
		ret = admin_exit_for(a, rc);
		goto out_put;
	}
	rc = admin_call_quiet(a, "GET", "/v1/cluster/summary", NULL, false, &sum);
	if (rc < 0)
		fprintf(stderr, "bigfs: status: the master gives no cluster summary (%s): chunks, "
				"trash, rebalance and quotas left out\n",
			rc == -ENOENT ? "an older version" : strerror(-rc));
	const char *active = master_list_addr(a->ml, master_list_current(a->ml));
	json_t *wl = json_object_get(workers, "workers");
	if (a->json) {
		json_t *doc = status_json(masters, active, wl, sum);
		ret = admin_print_json(doc);
		json_decref(doc);
	} else {
		print_status(n == 1 ? a->master : NULL, wl, sum);
		ret = AX_OK;
	}
out_put:
	json_decref(masters);
	json_decref(health);
	json_decref(workers);
	json_decref(sum);
	return ret;
}

/* ---- worker drain / undrain --------------------------------------------------------- */

/* The worker arg names: an id, a unique prefix of one, or an address.
 * 0 with the id (16 hex digits) in out, or an exit status (said). */
static int find_worker(struct admin *a, const char *arg, char *out, size_t cap)
{
	json_t *resp = NULL, *w;
	const char *match = NULL;
	size_t i, nmatch = 0;
	int rc = admin_call(a, "GET", "/v1/cluster/workers", NULL, false, &resp, admin_cmd_name(a));
	if (rc < 0)
		return admin_exit_for(a, rc);
	json_array_foreach(json_object_get(resp, "workers"), i, w) {
		const char *id = admin_str(w, "worker_id", ""), *addr = admin_str(w, "addr", "");
		if (strcmp(id, arg) == 0 || strcmp(addr, arg) == 0) {
			match = id;
			nmatch = 1;
			break;
		}
		if (arg[0] && strncmp(id, arg, strlen(arg)) == 0) {
			match = id;
			nmatch++;
		}
	}
	if (nmatch == 1)
		snprintf(out, cap, "%s", match);
	json_decref(resp);
	if (nmatch == 0) {
		fprintf(stderr, "bigfs: %s: no worker '%s' (bigfs workers lists them)\n",
			admin_cmd_name(a), arg);
		return AX_NOTFOUND;
	}
	if (nmatch > 1)
		return admin_usage(a, "'%s' names %zu workers: give more of the id", arg, nmatch);
	return 0;
}

/* The worker's entry of the workers list, or NULL (said). New reference. */
static json_t *worker_entry(struct admin *a, const char *id, int *ret_rc)
{
	json_t *resp = NULL, *w, *found = NULL;
	size_t i;
	*ret_rc = admin_call(a, "GET", "/v1/cluster/workers", NULL, false, &resp, admin_cmd_name(a));
	if (*ret_rc < 0)
		return NULL;
	json_array_foreach(json_object_get(resp, "workers"), i, w)
		if (strcmp(admin_str(w, "worker_id", ""), id) == 0)
			found = json_incref(w);
	json_decref(resp);
	if (!found) {
		fprintf(stderr, "bigfs: %s: worker %s is gone from the master's list\n",
			admin_cmd_name(a), id);
		*ret_rc = -ENOENT;
	}
	return found;
}

struct drain_opts {
	bool wait;
	uint64_t stall_s;       /* give up after this long without progress */
};

/* Follow the drain of id until removable, or until it has not moved for
 * o->stall_s while the master says why. Returns an exit status. */
static int drain_wait(struct admin *a, const char *id, const struct drain_opts *o)
{
	struct progress p;
	time_t last_plain = time(NULL), last_move = time(NULL);
	uint64_t last_left = UINT64_MAX;
	char text[512], stall[UNITS_BUF];
	int rc;

	progress_init(&p, stderr, !a->json);
	for (;;) {
		json_t *w = worker_entry(a, id, &rc);
		if (!w) {
			progress_end(&p);
			return admin_exit_for(a, rc);
		}
		const json_t *d = json_object_get(w, "drain");
		if (!d) {
			progress_end(&p);
			fprintf(stderr, "bigfs: worker drain: worker %s is no longer draining "
					"(undrained meanwhile?)\n", id);
			json_decref(w);
			return AX_FAIL;
		}
		uint64_t at_start = admin_u64(d, "chunks_at_start", 0), left = admin_u64(d, "chunks_left", 0);
		uint64_t bytes_left = admin_u64(d, "bytes_left", 0);
		const char *note = admin_str(d, "note", NULL);
		bool done = admin_bool(d, "done", false);
		drain_text(d, text, sizeof(text));
		if (!admin_bool(w, "live", true))
			snprintf(text + strlen(text), sizeof(text) - strlen(text), " (worker down)");
		progress_show(&p, at_start ? 1.0 - (double)(left < at_start ? left : at_start) /
							   (double)at_start
					   : 1.0,
			      text);
		if (!p.on && !a->json && time(NULL) - last_plain >= DRAIN_PLAIN_EVERY_S) {
			fprintf(stderr, "bigfs: worker %s: %s\n", id, text);
			last_plain = time(NULL);
		}
		if (admin_bool(d, "removable", false)) {
			progress_end(&p);
			if (a->json) {
				rc = admin_print_json(w);
			} else {
				char moved[UNITS_BUF], took[UNITS_BUF];
				printf("worker %s is drained: %" PRIu64 " chunk%s (%s) moved in %s; it "
				       "can be removed, no chunk is under goal\n",
				       id, at_start, at_start == 1 ? "" : "s",
				       units_fmt_size(admin_u64(d, "bytes_moved", 0), moved, sizeof(moved)),
				       units_fmt_duration(admin_u64(d, "elapsed_s", 0), took, sizeof(took)));
				rc = AX_OK;
			}
			json_decref(w);
			return rc;
		}
		if (bytes_left + left != last_left) {
			last_left = bytes_left + left;
			last_move = time(NULL);
		} else if (!done && o->stall_s &&
			   (uint64_t)(time(NULL) - last_move) >= o->stall_s) {
			progress_end(&p);
			fprintf(stderr, "bigfs: worker drain: no progress for %s, %" PRIu64 " chunk%s "
					"left: %s. The drain goes on; bigfs worker undrain %s stops it.\n",
				units_fmt_duration(o->stall_s, stall, sizeof(stall)), left,
				left == 1 ? "" : "s",
				note ? note
				     : "the master says no more (a chunk whose goal needs this worker? "
				       "bigfs fileinfo shows goals)",
				id);
			json_decref(w);
			return AX_FAIL;
		}
		json_decref(w);
		struct timespec ts = {.tv_sec = DRAIN_POLL_MS / 1000,
				      .tv_nsec = (DRAIN_POLL_MS % 1000) * 1000000L};
		nanosleep(&ts, NULL);      /* a poll of the master, not a settle */
	}
}

enum { O_WAIT = 256, O_STALL };

static int drain_opt(struct admin *a, int id, const char *arg, void *ctx)
{
	struct drain_opts *o = ctx;
	if (id == O_WAIT) {
		o->wait = true;
		return 0;
	}
	if (id == O_STALL) {
		if (units_parse_duration(arg, &o->stall_s) < 0) {
			admin_usage(a, "--stall: '%s' is not a duration (30s, 2m, 1h; 0: never)", arg);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static const struct option drain_options[] = {
	{"wait", no_argument, NULL, O_WAIT},
	{"stall", required_argument, NULL, O_STALL},
	{NULL, 0, NULL, 0},
};

static int drain_call(struct admin *a, int argc, char **argv, bool undrain)
{
	char id[80];
	struct drain_opts o = {.stall_s = DRAIN_STALL_S};
	json_t *req, *resp = NULL;
	int first;
	int rc = admin_parse(a, argc, argv, undrain ? NULL : drain_options, drain_opt, &o, 1, 1,
			     &first);
	if (rc >= 0)
		return rc;
	if ((rc = admin_secret(a)) != 0)     /* before anything is asked */
		return rc;
	if ((rc = find_worker(a, argv[first], id, sizeof(id))) != 0)
		return rc;
	req = json_pack("{s:s}", "worker_id", id);
	rc = admin_call(a, "POST", undrain ? "/v1/worker/undrain" : "/v1/worker/drain", req, true,
			&resp, admin_cmd_name(a));
	json_decref(req);
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (o.wait) {
		json_decref(resp);
		return drain_wait(a, id, &o);
	}
	if (a->json) {
		rc = admin_print_json(resp);
	} else if (undrain) {
		printf("worker %s: %s; it takes new chunks again\n", id,
		       admin_bool(resp, "was_draining", false) ? "drain stopped" : "was not draining");
		rc = AX_OK;
	} else {
		char text[256] = "";
		const json_t *d = json_object_get(resp, "drain");
		if (d)
			drain_text(d, text, sizeof(text));
		printf("worker %s %s: %s\n(bigfs worker drain %s --wait follows it; bigfs status "
		       "shows it)\n",
		       id, admin_bool(resp, "already", false) ? "was already draining" : "is draining",
		       text, id);
		rc = AX_OK;
	}
	json_decref(resp);
	return rc;
}

int cmd_worker_drain(struct admin *a, int argc, char **argv)
{
	return drain_call(a, argc, argv, false);
}

int cmd_worker_undrain(struct admin *a, int argc, char **argv)
{
	return drain_call(a, argc, argv, true);
}
