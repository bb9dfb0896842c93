/* status_page — renders GET / (the web console, HTML) and GET /metrics
 * (Prometheus text).
 *
 * The console is one page: console_page.c's stylesheet, panels and
 * script, a small JSON config object the script reads (poll period,
 * chart window, whether this master serves /v1/cluster/summary, cluster
 * id, Kafka address), and inside <noscript> the server-rendered tables
 * (totals, workers) that a browser without JavaScript shows instead,
 * refreshed every 5 s. The script itself fetches the JSON routes; the
 * server never waits on it.
 *
 * Owns nothing: every call takes fresh snapshots from worker_registry,
 * chunk_map (counts from the database), repair (stats), kafka_status
 * (throughput per worker, event counts), meta_store (disk sync counters)
 * and http_api (request counters, the routes it serves), each of which
 * locks itself. Text is built with open_memstream; worker fields are
 * validated on input and escaped again here for HTML. */
#include "status_page.h"
#include "metalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_map.h"
#include "console_page.h"
#include "dir_lease.h"
#include "http_api.h"
#include "json_util.h"
#include "kafka_status.h"
#include "meta_store.h"
#include "repair.h"
#include "worker_registry.h"

/* What the console's script is told (console_page.h): the workers and
 * health every second, the summary (a few queries of the database) every
 * two; a hidden tab every 15 s. */
#define CONSOLE_POLL_MS 1000
#define CONSOLE_SUMMARY_MS 2000
#define CONSOLE_WINDOW_S 180
#define CONSOLE_EVENTS_MAX 50
#define SUMMARY_ROUTE "/v1/cluster/summary"

struct snapshot {
	struct wreg_info *ws;
	uint64_t *counts;
	uint64_t *in_bps, *out_bps; /* 0 for a worker that is not live */
	size_t n, nlive;
	uint64_t cap, used, cap_live, used_live;
	struct cm_stats cs;
	struct repair_stats rs;
};

static int take_snapshot(struct master *m, struct snapshot *s)
{
	int rc;

	memset(s, 0, sizeof(*s));
	rc = wreg_snapshot(m->reg, false, &s->ws, &s->n);
	if (rc < 0)
		return rc;
	s->counts = calloc(s->n ? s->n : 1, sizeof(*s->counts));
	s->in_bps = calloc(s->n ? s->n : 1, sizeof(*s->in_bps));
	s->out_bps = calloc(s->n ? s->n : 1, sizeof(*s->out_bps));
	rc = s->counts && s->in_bps && s->out_bps ? 0 : -ENOMEM;
	if (rc == 0)
		rc = cm_worker_chunk_counts(m->cm, s->ws, s->n, s->counts);
	if (rc == 0)
		rc = cm_stats(m->cm, &s->cs);
	if (rc < 0) {
		free(s->out_bps);
		free(s->in_bps);
		free(s->counts);
		free(s->ws);
		return rc;
	}
	repair_get_stats(m->rep, &s->rs);
	for (size_t i = 0; i < s->n; i++) {
		if (s->ws[i].live &&
		    kstatus_worker_rates(m->ks, s->ws[i].id, &s->in_bps[i], &s->out_bps[i]) < 0)
			s->in_bps[i] = s->out_bps[i] = 0;
		s->cap += s->ws[i].capacity;
		s->used += s->ws[i].used;
		if (s->ws[i].live) {
			s->nlive++;
			s->cap_live += s->ws[i].capacity;
			s->used_live += s->ws[i].used;
		}
	}
	return 0;
}

static void drop_snapshot(struct snapshot *s)
{
	free(s->out_bps);
	free(s->in_bps);
	free(s->counts);
	free(s->ws);
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void human(char *out, size_t cap, uint64_t b)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* Close the stream (which sets buf and len) and hand the text over. */
static int finish(FILE *f, char **buf, size_t *len, char **ret, size_t *ret_len)
{
	if (fclose(f) != 0) {
		free(*buf);
		return -ENOMEM;
	}
	*ret = *buf;
	*ret_len = *len;
	return 0;
}

struct route_find {
	const char *path;
	bool found;
};

static void route_find_cb(const char *route, uint64_t count, void *arg)
{
	struct route_find *rf = arg;

	(void)count;
	if (strcmp(route, rf->path) == 0)
		rf->found = true;
}

/* The config object the script reads, as JSON that is safe inside
 * <script>: every <, > and & (only ever inside strings) as \u escapes. */
static int write_config(struct master *m, FILE *f)
{
	struct route_find rf = { SUMMARY_ROUTE, false };
	size_t len;

	if (m->api)
		http_api_foreach_count(m->api, route_find_cb, &rf);
	json_t *o = json_pack("{s:i, s:i, s:i, s:b, s:i, s:s, s:s}", "poll_ms", CONSOLE_POLL_MS,
			      "summary_ms", CONSOLE_SUMMARY_MS, "window_s", CONSOLE_WINDOW_S,
			      "summary", rf.found, "events_max",
			      CONSOLE_EVENTS_MAX, "cluster_id", meta_cluster_id(m->ms), "kafka",
			      kstatus_bootstrap(m->ks));
	char *text = o ? ju_dump(o, &len) : NULL;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	fputs("<script type=\"application/json\" id=\"bigfs-config\">", f);
	for (size_t i = 0; i < len; i++) {
		switch (text[i]) {
		case '<': fputs("\\u003c", f); break;
		case '>': fputs("\\u003e", f); break;
		case '&': fputs("\\u0026", f); break;
		default: fputc(text[i], f);
		}
	}
	fputs("</script>\n", f);
	free(text);
	return 0;
}

/* What a browser without JavaScript shows: the totals and the workers as
 * tables, rendered now. */
static void write_fallback(struct master *m, const struct snapshot *s, FILE *f)
{
	char a[32], b[32], c[32], d[32];

	fprintf(f, "<h1>BigFS master</h1>\n<p>Cluster <code>%s</code> &middot; Kafka <code>",
		meta_cluster_id(m->ms));
	html_escape(f, kstatus_bootstrap(m->ks));
	fputs("</code>", f);
	if (m->ml) {
		struct metalog_stats ls;
		metalog_stats(m->ml, &ls);
		fputs(" &middot; this master leads (", f);
		html_escape(f, ls.leader);
		fprintf(f, ", epoch %llu), metadata log at change %llu, offset %lld",
			(unsigned long long)ls.epoch, (unsigned long long)ls.seq,
			(long long)ls.offset);
	}
	fputs(" &middot; this page refreshes every 5 s; with JavaScript it is a live "
	      "console.</p>\n<h2>Totals</h2>\n<table>\n", f);
	human(a, sizeof(a), s->cap_live);
	human(b, sizeof(b), s->used_live);
	fprintf(f, "<tr><th>workers live / known</th><td>%zu / %zu</td></tr>\n", s->nlive, s->n);
	fprintf(f, "<tr><th>capacity (live)</th><td>%s</td></tr>\n", a);
	fprintf(f, "<tr><th>used (live)</th><td>%s</td></tr>\n", b);
	fprintf(f, "<tr><th>inodes</th><td>%llu</td></tr>\n", (unsigned long long)s->cs.inodes);
	fprintf(f, "<tr><th>chunks</th><td>%llu</td></tr>\n", (unsigned long long)s->cs.chunks);
	fprintf(f, "<tr><th>replicas</th><td>%llu</td></tr>\n", (unsigned long long)s->cs.replicas);
	fprintf(f, "<tr><th>chunks under goal</th><td>%llu</td></tr>\n",
		(unsigned long long)s->rs.undergoal);
	fprintf(f, "<tr><th>chunks without a live copy</th><td>%llu</td></tr>\n",
		(unsigned long long)s->rs.lost);
	fprintf(f, "<tr><th>repairs in progress / done / failed</th><td>%llu / %llu / %llu</td></tr>\n",
		(unsigned long long)s->rs.repairs_in_progress,
		(unsigned long long)s->rs.repairs_done,
		(unsigned long long)s->rs.repairs_failed);
	fprintf(f, "<tr><th>deletions queued / done</th><td>%llu / %llu</td></tr>\n",
		(unsigned long long)s->cs.pending_deletes, (unsigned long long)s->rs.deletes_done);
	fputs("</table>\n<h2>Workers</h2>\n<table>\n<tr><th>id</th><th>address</th>"
	      "<th>state</th><th>capacity</th><th>used</th><th>chunks</th>"
	      "<th>in</th><th>out</th></tr>\n", f);
	for (size_t i = 0; i < s->n; i++) {
		human(a, sizeof(a), s->ws[i].capacity);
		human(b, sizeof(b), s->ws[i].used);
		human(c, sizeof(c), s->in_bps[i]);
		human(d, sizeof(d), s->out_bps[i]);
		fputs("<tr><td><code>", f);
		html_escape(f, s->ws[i].id);
		fputs("</code></td><td>", f);
		html_escape(f, s->ws[i].addr);
		fprintf(f, "</td><td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>%llu</td>"
			"<td>%s/s</td><td>%s/s</td></tr>\n",
			s->ws[i].live ? "live" : "dead", s->ws[i].live ? "live" : "down", a, b,
			(unsigned long long)s->counts[i], c, d);
	}
	fputs("</table>\n", f);
}

int status_page_html(struct master *m, char **ret, size_t *ret_len)
{
	struct snapshot s;
	char *buf = NULL;
	size_t len = 0;
	int rc = take_snapshot(m, &s);

	if (rc < 0)
		return rc;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		drop_snapshot(&s);
		return -ENOMEM;
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>BigFS master</title>\n<link rel=\"icon\" href=\"data:,\">\n"
	      "<noscript><meta http-equiv=\"refresh\" content=\"5\">"
	      "<style>#console,header.top{display:none}</style></noscript>\n<style>\n", f);
	fputs(console_css, f);
	fputs("</style>\n</head>\n<body>\n", f);
	rc = write_config(m, f);
	fputs(console_body, f);
	fputs("<noscript><div class=\"fallback\">\n", f);
	write_fallback(m, &s, f);
	fputs("</div></noscript>\n<script>\n", f);
	fputs(console_js, f);
	fputs("</script>\n</body></html>\n", f);
	drop_snapshot(&s);
	if (rc < 0) {
		fclose(f);
		free(buf);
		return rc;
	}
	return finish(f, &buf, &len, ret, ret_len);
}

static void route_count_line(const char *route, uint64_t count, void *arg)
{
	fprintf(arg, "bigfs_http_requests_total{route=\"%s\"} %llu\n", route,
		(unsigned long long)count);
}

static void batch_count_line(const char *op, uint64_t count, void *arg)
{
	fprintf(arg, "bigfs_batch_ops_total{op=\"%s\"} %llu\n", op, (unsigned long long)count);
}

/* A label value as the Prometheus text format wants it. */
static void label_escape(FILE *f, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		default: fputc(*v, f);
		}
	}
}

static void event_count_line(const char *type, unsigned long long n, void *arg)
{
	FILE *f = arg;

	fputs("bigfs_events_total{type=\"", f);
	label_escape(f, type);
	fprintf(f, "\"} %llu\n", n);
}

int status_page_metrics(struct master *m, char **ret, size_t *ret_len)
{
	struct snapshot s;
	char *buf = NULL;
	size_t len = 0;
	unsigned long long k_ok, k_bad;
	int rc = take_snapshot(m, &s);

	if (rc < 0)
		return rc;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		drop_snapshot(&s);
		return -ENOMEM;
	}
#define GAUGE(name, help, val)                                                  \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " %llu\n", \
		(unsigned long long)(val))
#define COUNTER(name, help, val)                                                  \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n", \
		(unsigned long long)(val))
	GAUGE("bigfs_workers_live", "Workers currently live.", s.nlive);
	GAUGE("bigfs_workers_total", "Workers known to the master.", s.n);
	GAUGE("bigfs_capacity_bytes", "Capacity of live workers.", s.cap_live);
	GAUGE("bigfs_used_bytes", "Bytes used on live workers.", s.used_live);
	GAUGE("bigfs_chunks_total", "Chunks in the chunk map.", s.cs.chunks);
	GAUGE("bigfs_replicas_total", "Replica records in the chunk map.", s.cs.replicas);
	GAUGE("bigfs_chunks_undergoal", "Chunks below their goal (last full scan).",
	      s.rs.undergoal);
	GAUGE("bigfs_chunks_lost", "Chunks without a live current copy (last full scan).",
	      s.rs.lost);
	GAUGE("bigfs_inodes_total", "Inodes in the namespace.", s.cs.inodes);
	GAUGE("bigfs_repairs_in_progress", "Chunk copies running now.",
	      s.rs.repairs_in_progress);
	COUNTER("bigfs_repairs_done_total", "Chunk copies that restored a goal.",
		s.rs.repairs_done);
	COUNTER("bigfs_repairs_failed_total", "Chunk copies that failed.", s.rs.repairs_failed);
	COUNTER("bigfs_overgoal_dropped_total", "Replicas dropped above goal.",
		s.rs.overgoal_dropped);
	GAUGE("bigfs_deletes_pending", "Chunk deletions queued for workers.",
	      s.cs.pending_deletes);
	COUNTER("bigfs_deletes_done_total", "Chunk deletions done on workers.",
		s.rs.deletes_done);
	COUNTER("bigfs_meta_syncs_total",
		"Disk syncs of the metadata database for fsync and fsyncdir (group commits).",
		meta_sync_count(m->ms));
	COUNTER("bigfs_meta_sync_calls_total",
		"Calls that asked for the metadata on disk (each fsync or fsyncdir).",
		meta_sync_calls(m->ms));
	GAUGE("bigfs_dir_leases", "Folders a mount holds the lease of (it answers absent "
	      "names itself, dir_lease.h).", m->dl ? dlease_count(m->dl) : 0);
	kstatus_counts(m->ks, &k_ok, &k_bad);
	COUNTER("bigfs_status_messages_total", "Worker status messages applied.", k_ok);
	COUNTER("bigfs_status_messages_bad_total", "Worker status messages rejected.", k_bad);
	fputs("# HELP bigfs_events_total Cluster events this master published (bigfs.events), "
	      "by type.\n# TYPE bigfs_events_total counter\n", f);
	kstatus_event_counts(m->ks, event_count_line, f);
	if (m->ml) {
		struct metalog_stats ls;
		metalog_stats(m->ml, &ls);
		GAUGE("bigfs_metalog_epoch", "Epoch of the leading master (docs/metalog.md).",
		      ls.epoch);
		GAUGE("bigfs_metalog_seq", "Changes in the metadata log so far.", ls.seq);
		GAUGE("bigfs_metalog_offset", "Last bigfs.metalog offset taken in.",
		      (uint64_t)(ls.offset < 0 ? 0 : ls.offset));
		COUNTER("bigfs_metalog_records_total", "Log records this master took in.",
			ls.records);
		COUNTER("bigfs_metalog_batches_total", "Records of changes this master wrote.",
			ls.batches);
		COUNTER("bigfs_metalog_beats_total", "Beats this master wrote.", ls.beats);
		COUNTER("bigfs_metalog_checkpoints_total", "Checkpoints this master wrote.",
			ls.checkpoints);
	}
#undef GAUGE
#undef COUNTER
	fputs("# HELP bigfs_http_requests_total HTTP requests by route.\n"
	      "# TYPE bigfs_http_requests_total counter\n", f);
	http_api_foreach_count(m->api, route_count_line, f);
	fputs("# HELP bigfs_batch_ops_total Ops run in /v1/batch calls, by kind.\n"
	      "# TYPE bigfs_batch_ops_total counter\n", f);
	http_api_foreach_batch_count(m->api, batch_count_line, f);
	fputs("# HELP bigfs_worker_up Whether a worker is live.\n"
	      "# TYPE bigfs_worker_up gauge\n", f);
	for (size_t i = 0; i < s.n; i++)
		fprintf(f, "bigfs_worker_up{worker_id=\"%s\"} %d\n", s.ws[i].id, s.ws[i].live);
	fputs("# HELP bigfs_worker_chunks Replicas recorded per worker.\n"
	      "# TYPE bigfs_worker_chunks gauge\n", f);
	for (size_t i = 0; i < s.n; i++)
		fprintf(f, "bigfs_worker_chunks{worker_id=\"%s\"} %llu\n", s.ws[i].id,
			(unsigned long long)s.counts[i]);
	fputs("# HELP bigfs_worker_bytes_in_per_second Bytes per second written to a worker "
	      "(its last status; 0 while it is down).\n"
	      "# TYPE bigfs_worker_bytes_in_per_second gauge\n", f);
	for (size_t i = 0; i < s.n; i++)
		fprintf(f, "bigfs_worker_bytes_in_per_second{worker_id=\"%s\"} %llu\n", s.ws[i].id,
			(unsigned long long)s.in_bps[i]);
	fputs("# HELP bigfs_worker_bytes_out_per_second Bytes per second read from a worker "
	      "(its last status; 0 while it is down).\n"
	      "# TYPE bigfs_worker_bytes_out_per_second gauge\n", f);
	for (size_t i = 0; i < s.n; i++)
		fprintf(f, "bigfs_worker_bytes_out_per_second{worker_id=\"%s\"} %llu\n",
			s.ws[i].id, (unsigned long long)s.out_bps[i]);
	drop_snapshot(&s);
	return finish(f, &buf, &len, ret, ret_len);
}
