/* mount.bigfs — FUSE client of BigFS.
 *
 *   mount.bigfs [-f] [-d] [-s] [-n] [-v] [-o OPT[,OPT...]] MASTER MOUNTPOINT
 *
 * Follows the mount.TYPE helper convention, so `mount -t bigfs MASTER DIR`
 * and fstab lines (`MASTER DIR bigfs defaults,_netdev 0 0`) work; options
 * may come before or after the two positional arguments. MASTER is
 * HOST:PORT or http://HOST:PORT (https://HOST:PORT: as -o tls), or a list
 * of them, HOST1:PORT,HOST2:PORT (a cluster with standby masters: the
 * mount follows whichever is active, common/master_list.h), optionally
 * followed by :/PATH, the folder to mount.
 *
 * main() is a list of steps: parse the command line, find the active
 * master, build the modules (master_client -> worker_io -> fh_table ->
 * fs_ops context), mount, daemonize, start the metrics endpoint if asked
 * (-o metrics=ADDR:PORT; after daemonizing, whose fork threads do not
 * survive: a background mount tries the address once before it mounts, so
 * a bad one fails at once), run the multi-threaded loop, and tear down in
 * reverse order. No state is shared through globals but the counters of
 * metrics.c (see there): the fs_ops context is the session's userdata. */
#include "file_handle.h"
#include "fs_ops.h"
#include "inval_watch.h"
#include "http_client.h"
#include "log.h"
#include "master_client.h"
#include "master_list.h"
#include "metrics.h"
#include "transport_config.h"
#include "worker_health.h"
#include "worker_io.h"

#include <errno.h>
#include <malloc.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "mount.bigfs"
#define HEALTH_TIMEOUT_MS 3000
#define WORKER_TIMEOUT_MS 15000
#define FUSE_OPTS_MAX 4096
#define READ_AHEAD_KB 1024

struct mount_opts {
	struct master_list *ml;    /* the masters; handed to master_client */
	const char *mountpoint;
	bool foreground;
	bool fuse_debug;
	bool single_thread;
	bool verbose;
	bool allow_other;
	bool noatime;              /* last of noatime / atime / relatime / strictatime */
	bool ro;                   /* last of ro / rw */
	long master_timeout_s;
	char fuse_opts[FUSE_OPTS_MAX]; /* passed to libfuse as one -o */
	char subdir[4096];         /* folder of the cluster to mount, "/" default */
	char password[256];        /* the export's, from password= or passfile= */
	size_t password_len;
	bool has_password;
	bool tls;                  /* -o tls (or cafile=, or https://MASTER) */
	char cafile[4096];         /* -o cafile=FILE, "" for the system's CAs */
	char metrics[256];         /* -o metrics=ADDR:PORT, "" for none */
	int cache_ttl_s;           /* -o cache_ttl=S: kernel timeouts with the feed */
	bool nolocalreads;         /* -o nolocalreads: every read over HTTP */
	bool nolocalcreates;       /* -o nolocalcreates: every create asks the master */
};

/* What the metrics endpoint shows besides the counters (metrics_gauges). */
struct mount_gauges {
	struct master_client *mc;
	struct worker_io *wio;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " [-f] [-d] [-s] [-n] [-v] [-o OPT[,OPT...]] MASTER MOUNTPOINT\n"
		"\n"
		"Mount the BigFS cluster whose master is MASTER (HOST:PORT or http://HOST:PORT)\n"
		"on MOUNTPOINT. Also run by `mount -t bigfs MASTER MOUNTPOINT` and by fstab.\n"
		"A cluster with standby masters: MASTER is their list, HOST1:PORT,HOST2:PORT\n"
		"(at most 16); the mount follows whichever is active. MASTER:/PATH mounts\n"
		"the folder PATH of the cluster.\n"
		"\n"
		"  -f            stay in the foreground\n"
		"  -d            FUSE debug output (implies -f)\n"
		"  -s            single-threaded\n"
		"  -n            ignored (no mtab to write)\n"
		"  -v            verbose logging\n"
		"  -o OPTS       comma-separated options:\n"
		"     passfile=FILE           the export's password, first line of FILE\n"
		"     password=PASS           the same on the command line (visible to\n"
		"                             other users in ps: prefer passfile)\n"
		"     subdir=/PATH            mount this folder of the cluster (also\n"
		"                             MASTER:/PATH); the exports decide who may\n"
		"     master_timeout=SECONDS  how long a call retries while the master is\n"
		"                             unreachable before failing with EIO (default 30)\n"
		"     tls                     require TLS: https to the master and the\n"
		"                             workers, never plain HTTP (also: MASTER\n"
		"                             given as https://HOST:PORT)\n"
		"     cafile=FILE             CA certificate(s), PEM, that verify the\n"
		"                             cluster's certificates (implies tls;\n"
		"                             default: the system's CA store)\n"
		"     metrics=ADDR:PORT       serve Prometheus metrics (bigfs_mount_*) at\n"
		"                             http://ADDR:PORT/metrics, e.g. 127.0.0.1:9600\n"
		"                             (port 0: any free one, logged; default: off)\n"
		"     cache_ttl=SECONDS       how long the kernel keeps names and attributes\n"
		"                             while the master's change feed runs (default 10;\n"
		"                             1: one second, no feed)\n"
		"     nolocalreads            read replicas on this machine over HTTP too,\n"
		"                             not straight from their chunk files\n"
		"                             (localreads: the default)\n"
		"     nolocalcreates          every create waits for the master, also in\n"
		"                             folders this mount alone fills (localcreates:\n"
		"                             the default; docs/posix.md)\n"
		"     debug                   verbose logging\n"
		"     noallow_other           only the mounting user may use the mount\n"
		"                             (allow_other is the default when run as root)\n"
		"     noatime                 reads do not update atime (also on ro mounts);\n"
		"                             atime, relatime: relatime (the default)\n"
		"     ro, rw, nosuid, suid, nodev, dev, noexec, exec, noatime, atime, sync,\n"
		"     async, dirsync           passed to the kernel\n"
		"     defaults, auto, noauto, user, nouser, users, _netdev, nofail, x-*,\n"
		"     comment=*                accepted and ignored (mount/fstab options)\n");
}

static int opts_append_fuse(struct mount_opts *o, const char *opt)
{
	size_t len = strlen(o->fuse_opts);
	int n = snprintf(o->fuse_opts + len, sizeof(o->fuse_opts) - len, "%s%s", len ? "," : "",
			 opt);
	if (n < 0 || (size_t)n >= sizeof(o->fuse_opts) - len) {
		fprintf(stderr, PROG ": too many mount options\n");
		return -E2BIG;
	}
	return 0;
}

/* passfile=FILE: the password is FILE's first line (without its line
 * end). A file others may read is used, with a warning. */
static int opts_passfile(struct mount_opts *o, const char *path)
{
	char buf[512];
	struct stat st;
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, PROG ": passfile %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, PROG ": warning: passfile %s may be read by others (chmod 600 it)\n",
			path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	if (n == 0 || n >= sizeof(o->password)) {
		fprintf(stderr, PROG ": passfile %s: the first line must hold a password of "
			"1..255 bytes\n", path);
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(o->password, buf, n);
	o->password_len = n;
	o->has_password = true;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* One -o option. */
static int opts_one(struct mount_opts *o, const char *opt)
{
	static const char *const kernel[] = {
		"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime",
		"atime", "nodiratime", "diratime", "sync", "async", "dirsync", NULL,
	};
	static const char *const ignored[] = {
		"defaults", "auto", "noauto", "user", "nouser", "users", "owner", "_netdev",
		"nofail", "relatime", "norelatime", "strictatime", "lazytime", "nolazytime",
		"default_permissions", "loop", NULL,
	};
	if (opt[0] == '\0')
		return 0;
	/* The kernel leaves atime of a FUSE mount to us: noatime and ro
	 * mounts must not report reads. */
	if (strcmp(opt, "noatime") == 0 || strcmp(opt, "atime") == 0 ||
	    strcmp(opt, "relatime") == 0 || strcmp(opt, "strictatime") == 0)
		o->noatime = strcmp(opt, "noatime") == 0;
	if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0)
		o->ro = strcmp(opt, "ro") == 0;
	for (int i = 0; kernel[i]; i++)
		if (strcmp(opt, kernel[i]) == 0)
			return opts_append_fuse(o, opt);
	for (int i = 0; ignored[i]; i++)
		if (strcmp(opt, ignored[i]) == 0)
			return 0;
	if (strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0)
		return 0;
	if (strcmp(opt, "debug") == 0) {
		o->verbose = true;
		return 0;
	}
	if (strcmp(opt, "allow_other") == 0) {
		o->allow_other = true;
		return 0;
	}
	if (strcmp(opt, "noallow_other") == 0) {
		o->allow_other = false;
		return 0;
	}
	if (strncmp(opt, "master_timeout=", 15) == 0) {
		char *end;
		errno = 0;
		long v = strtol(opt + 15, &end, 10);
		if (errno || end == opt + 15 || *end || v < 1 || v > 86400) {
			fprintf(stderr, PROG ": master_timeout must be 1..86400 seconds, not '%s'\n",
				opt + 15);
			return -EINVAL;
		}
		o->master_timeout_s = v;
		return 0;
	}
	if (strncmp(opt, "cache_ttl=", 10) == 0) {
		char *end;
		errno = 0;
		long v = strtol(opt + 10, &end, 10);
		if (errno || end == opt + 10 || *end || v < 1 || v > 3600) {
			fprintf(stderr, PROG ": cache_ttl must be 1..3600 seconds, not '%s'\n",
				opt + 10);
			return -EINVAL;
		}
		o->cache_ttl_s = (int)v;
		return 0;
	}
	if (strncmp(opt, "password=", 9) == 0) {
		size_t n = strlen(opt + 9);
		if (n == 0 || n >= sizeof(o->password)) {
			fprintf(stderr, PROG ": password must be 1..255 bytes\n");
			return -EINVAL;
		}
		memcpy(o->password, opt + 9, n);
		o->password_len = n;
		o->has_password = true;
		return 0;
	}
	if (strncmp(opt, "passfile=", 9) == 0)
		return opts_passfile(o, opt + 9);
	if (strcmp(opt, "nolocalcreates") == 0 || strcmp(opt, "localcreates") == 0) {
		o->nolocalcreates = strcmp(opt, "nolocalcreates") == 0;
		return 0;
	}
	if (strcmp(opt, "nolocalreads") == 0 || strcmp(opt, "localreads") == 0) {
		o->nolocalreads = strcmp(opt, "nolocalreads") == 0;
		return 0;
	}
	if (strcmp(opt, "tls") == 0) {
		o->tls = true;
		return 0;
	}
	if (strncmp(opt, "cafile=", 7) == 0) {
		if (opt[7] == '\0' || strlen(opt + 7) >= sizeof(o->cafile)) {
			fprintf(stderr, PROG ": cafile needs a file name\n");
			return -EINVAL;
		}
		snprintf(o->cafile, sizeof(o->cafile), "%s", opt + 7);
		o->tls = true;
		return 0;
	}
	if (strncmp(opt, "subdir=", 7) == 0) {
		if (opt[7] != '/' || strlen(opt + 7) >= sizeof(o->subdir)) {
			fprintf(stderr, PROG ": subdir must be an absolute path, not '%s'\n",
				opt + 7);
			return -EINVAL;
		}
		snprintf(o->subdir, sizeof(o->subdir), "%s", opt + 7);
		return 0;
	}
	if (strncmp(opt, "metrics=", 8) == 0) {
		if (mount_metrics_check_addr(opt + 8) < 0 || strlen(opt + 8) >= sizeof(o->metrics)) {
			fprintf(stderr, PROG ": metrics must be ADDR:PORT (e.g. 127.0.0.1:9600), "
				"not '%s'\n", opt + 8);
			return -EINVAL;
		}
		snprintf(o->metrics, sizeof(o->metrics), "%s", opt + 8);
		return 0;
	}
	if (strcmp(opt, "allow_root") == 0 || strcmp(opt, "auto_unmount") == 0)
		return opts_append_fuse(o, opt);
	fprintf(stderr, PROG ": unknown mount option '%s' (see " PROG " -h)\n", opt);
	return -EINVAL;
}

static int opts_list(struct mount_opts *o, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	char *save = NULL;
	for (char *opt = strtok_r(copy, ",", &save); opt && rc == 0;
	     opt = strtok_r(NULL, ",", &save))
		rc = opts_one(o, opt);
	free(copy);
	return rc;
}

/* MASTER as HOST:PORT, [V6]:PORT or http://HOST:PORT[/], or a list of
 * them separated by commas (master_list.h), optionally followed by
 * ":/PATH", the folder to mount (as NFS's HOST:/PATH). */
static int opts_master(struct mount_opts *o, const char *spec)
{
	size_t len;
	const char *sub;
	master_list_split_path(spec, &len, &sub);
	if (sub) {
		if (strlen(sub) >= sizeof(o->subdir)) {
			fprintf(stderr, PROG ": the folder to mount in '%s' is too long\n", spec);
			return -EINVAL;
		}
		snprintf(o->subdir, sizeof(o->subdir), "%s", sub);
	}
	char *list = strndup(spec, len), err[512];
	if (!list)
		return -ENOMEM;
	int rc = master_list_parse(list, &o->ml, err, sizeof(err));
	free(list);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return rc;
	}
	if (master_list_https(o->ml))
		o->tls = true;
	return 0;
}

/* Returns 0, 1 for "help printed, exit 0", or -EINVAL. */
static int parse_args(int argc, char **argv, struct mount_opts *o)
{
	const char *pos[2];
	int npos = 0;
	o->allow_other = geteuid() == 0;
	o->master_timeout_s = 30;
	o->cache_ttl_s = IW_TTL_DEFAULT_S;
	snprintf(o->subdir, sizeof(o->subdir), "/");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++) {
				if (npos == 2)
					goto out_extra;
				pos[npos++] = argv[i];
			}
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (npos == 2)
				goto out_extra;
			pos[npos++] = a;
			continue;
		}
		for (const char *f = a + 1; *f; f++) {
			switch (*f) {
			case 'f':
				o->foreground = true;
				break;
			case 'd':
				o->fuse_debug = true;
				o->foreground = true;
				break;
			case 's':
				o->single_thread = true;
				break;
			case 'n':
				break;
			case 'v':
				o->verbose = true;
				break;
			case 'o':
			case 't': {
				const char *val = f[1] ? f + 1 : (i + 1 < argc ? argv[++i] : NULL);
				if (!val) {
					fprintf(stderr, PROG ": -%c needs a value\n", *f);
					return -EINVAL;
				}
				if (*f == 'o') {
					int rc = opts_list(o, val);
					if (rc < 0)
						return rc;
				}
				f = " "; /* the rest of this word was the value */
				break;
			}
			case ' ':
				break;
			default:
				fprintf(stderr, PROG ": unknown flag -%c (see " PROG " -h)\n", *f);
				return -EINVAL;
			}
			if (*f == ' ')
				break;
		}
	}
	if (npos != 2) {
		usage(stderr);
		return -EINVAL;
	}
	o->mountpoint = pos[1];
	return opts_master(o, pos[0]);
out_extra:
	fprintf(stderr, PROG ": too many arguments (expected MASTER MOUNTPOINT)\n");
	return -EINVAL;
}

static int check_mountpoint(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, PROG ": mount point %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": mount point %s is not a directory\n", path);
		return -ENOTDIR;
	}
	return 0;
}

/* The kernel caps FUSE read-ahead at the backing device's read_ahead_kb
 * (128 KiB by default), whatever max_readahead says. Raise it for this
 * mount so sequential reads arrive as 1 MiB requests. Finds the device
 * number in /proc/self/mountinfo: touching the mount itself would wait for
 * the loop that is not running yet. Failure only costs speed: logged. */
static void raise_read_ahead(const char *mountpoint)
{
	char real[PATH_MAX];
	if (!realpath(mountpoint, real))
		return;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	char line[4096], dev[64] = "";
	while (fgets(line, sizeof(line), f)) {
		char d[64], mnt[PATH_MAX];
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %63s %*s %4095s", d, mnt) == 2 && strcmp(mnt, real) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	if (!dev[0])
		return;
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	FILE *ra = fopen(path, "w");
	if (!ra || fprintf(ra, "%d\n", READ_AHEAD_KB) < 0 || fclose(ra) != 0) {
		if (ra)
			fclose(ra);
		log_info("could not raise read-ahead through %s: %s", path, strerror(errno));
	}
}

static void shutdown_ignore_signals(void)
{
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)signal(sigs[i], SIG_IGN);
}

static int run_loop(struct fuse_session *se, const struct mount_opts *o)
{
	if (o->single_thread)
		return fuse_session_loop(se);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_idle_threads(cfg, 16);
	fuse_loop_cfg_set_max_threads(cfg, 64);
	int rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* The process's transport: TLS or not, and the CA, before any thread. */
static int setup_transport(const struct mount_opts *o)
{
	struct transport_settings ts = {
		.tls = o->tls,
		.ca_file = o->cafile[0] ? o->cafile : NULL,
	};
	char why[512];
	if (transport_config_init(&ts, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/* With TLS required: one https call to each master's public /v1/health,
 * so a master that speaks plain HTTP, or whose certificate does not
 * verify, fails the mount at once and says which. Other failures (a
 * master that is down) are left to finding the active master. */
static int check_tls(const struct mount_opts *o, const struct master_list *ml)
{
	for (size_t i = 0; i < master_list_count(ml); i++) {
		const char *addr = master_list_addr(ml, i);
		char url[MASTER_ADDR_MAX + 32];
		snprintf(url, sizeof(url), "https://%s/v1/health", addr);
		struct http_client *c = http_client_new(HEALTH_TIMEOUT_MS, HEALTH_TIMEOUT_MS);
		if (!c)
			return -ENOMEM;
		struct http_call call = {.method = "GET", .url = url};
		int rc = http_client_call(c, &call);
		free(call.out_alloc);
		if (rc == -EPROTO)
			fprintf(stderr,
				PROG ": TLS was required (-o tls) but the master at %s did not "
				     "complete a TLS handshake (%s): it may serve plain HTTP only\n",
				addr, http_client_last_error(c));
		else if (rc == -EKEYREJECTED)
			fprintf(stderr,
				PROG ": TLS was required (-o tls) but the master at %s has a "
				     "certificate that does not verify against %s (%s)\n",
				addr, o->cafile[0] ? o->cafile : "the system's CA store",
				http_client_last_error(c));
		http_client_free(c);
		if (rc == -EPROTO || rc == -EKEYREJECTED)
			return rc;
	}
	return 0;
}

/* The masters as the value of libfuse's fsname option: a comma or a
 * backslash in it escaped with a backslash (libfuse's option parser
 * splits at commas). */
static void fsname_escape(const char *text, char *out, size_t cap)
{
	size_t n = 0;
	for (; *text && n + 3 < cap; text++) {
		if (*text == ',' || *text == '\\')
			out[n++] = '\\';
		out[n++] = *text;
	}
	out[n] = '\0';
}

/* The metrics endpoint's gauges from other modules: the master in use
 * and the workers this mount avoids. Runs on a server thread: both
 * answers are thread-safe. */
static void metrics_gauges(void *arg, FILE *f)
{
	struct mount_gauges *g = arg;
	const struct master_list *ml = master_client_masters(g->mc);

	fprintf(f, "# HELP bigfs_mount_master_info The master this mount calls now (value 1).\n"
		   "# TYPE bigfs_mount_master_info gauge\n"
		   "bigfs_mount_master_info{master=\"%s\"} 1\n",
		master_list_addr(ml, master_list_current(ml)));
	fprintf(f, "# HELP bigfs_mount_masters Masters in this mount's list.\n"
		   "# TYPE bigfs_mount_masters gauge\n"
		   "bigfs_mount_masters %zu\n", master_list_count(ml));
	fprintf(f, "# HELP bigfs_mount_workers_avoided Workers this mount asks last or leaves "
		   "out (stalled lately, or dead by the master's word).\n"
		   "# TYPE bigfs_mount_workers_avoided gauge\n"
		   "bigfs_mount_workers_avoided %zu\n",
		whealth_count_bad(worker_io_health(g->wio)));
}

/* Start the metrics endpoint; try_only (a background mount, before it
 * daemonizes) stops it again at once and leaves *ret alone. */
static int metrics_start(const struct mount_opts *o, struct mount_gauges *g, bool try_only,
			 struct mount_metrics_server **ret)
{
	struct mount_metrics_server *s;
	int rc = mount_metrics_start(o->metrics, metrics_gauges, g, &s);
	if (rc < 0) {
		if (try_only || o->foreground)
			fprintf(stderr, PROG ": cannot serve metrics on %s: %s\n", o->metrics,
				strerror(-rc));
		else
			log_err("cannot serve metrics on %s: %s; the mount runs without them",
				o->metrics, strerror(-rc));
		return rc;
	}
	if (try_only) {
		mount_metrics_stop(s);
		return 0;
	}
	const char *colon = strrchr(o->metrics, ':');
	log_info("metrics on http://%.*s:%u/metrics", (int)(colon - o->metrics), o->metrics,
		 (unsigned)mount_metrics_port(s));
	*ret = s;
	return 0;
}

/* Find the active master; a message for the user if there is none. */
static int find_master(struct master_client *mc, const struct mount_opts *o)
{
	const struct master_list *ml = master_client_masters(mc);
	char why[2048];
	int rc = master_client_find_active(mc, HEALTH_TIMEOUT_MS, o->master_timeout_s * 1000, why,
					   sizeof(why));
	if (rc == 0)
		return 0;
	const char *tls_hint = !o->tls && rc == -EIO
				       ? " (if it serves TLS, mount with -o tls,cafile=FILE)" : "";
	if (master_list_count(ml) == 1 && rc != -EAGAIN)
		fprintf(stderr, PROG ": the BigFS master at %s does not answer: %s%s\n",
			master_list_text(ml),
			rc == -EPROTO ? "not a BigFS master" : strerror(-rc), tls_hint);
	else
		fprintf(stderr, PROG ": no active BigFS master in %s: %s%s\n", master_list_text(ml),
			why, tls_hint);
	return rc;
}

int main(int argc, char **argv)
{
	struct mount_opts o;
	memset(&o, 0, sizeof(o));
	/* Write and read-ahead buffers (up to 8 MiB each) come and go in
	 * many threads: with an arena per thread, each kept its own freed
	 * ones (185 MiB of RSS after compare.sh). Two arenas share them. */
	mallopt(M_ARENA_MAX, 2);
	int rc = parse_args(argc, argv, &o);
	if (rc) {
		master_list_free(o.ml);
		return rc > 0 ? 0 : 1;
	}
	log_init(PROG, true, o.verbose ? LOG_DEBUG : LOG_INFO);
	if (check_mountpoint(o.mountpoint) < 0 || setup_transport(&o) < 0) {
		master_list_free(o.ml);
		return 1;
	}

	int status = 1;
	struct master_client *mc = NULL;
	struct worker_io *wio = NULL;
	struct fh_table *fht = NULL;
	struct fs_ctx *ctx = NULL;
	struct mount_metrics_server *msrv = NULL;
	struct mount_gauges gauges = {0};
	if (master_client_new_list(o.ml, o.master_timeout_s * 1000, &mc) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		master_list_free(o.ml);
		return 1;
	}
	const struct master_list *ml = master_client_masters(mc);   /* mc owns it now */
	const char *masters = master_list_text(ml);
	if (o.tls && check_tls(&o, ml) < 0)
		goto out_free_mc;
	if (find_master(mc, &o) < 0)
		goto out_free_mc;
	struct mc_login_info li;
	char why[512];
	if (master_client_set_login(mc, o.password, o.password_len, o.subdir) < 0) {
		fprintf(stderr, PROG ": bad folder to mount '%s'\n", o.subdir);
		goto out_free_mc;
	}
	explicit_bzero(o.password, sizeof(o.password));
	rc = master_client_login(mc, &li, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot mount %s:%s: %s%s\n", masters, o.subdir, why,
			rc == -EACCES && !o.has_password
				? " (does the export need a password? -o passfile=FILE)" : "");
		goto out_free_mc;
	}
	mount_metrics_master_attempt(true);   /* logged in: connected */
	if (li.ro && !o.ro) {
		/* the export is read-only: so is the mount (EROFS from the kernel) */
		o.ro = true;
		if (opts_append_fuse(&o, "ro") < 0)
			goto out_free_mc;
	}
	if (worker_io_new(mc, WORKER_TIMEOUT_MS, &wio) < 0 || fh_table_new(mc, wio, &fht) < 0 ||
	    fs_ctx_new(mc, wio, fht, &ctx) < 0) {
		fprintf(stderr, PROG ": cannot set up the client (out of memory)\n");
		goto out_free_modules;
	}
	if (o.nolocalreads)
		worker_io_no_local_reads(wio);
	fs_ctx_set_noatime(ctx, o.noatime || o.ro);
	fs_ctx_set_send_caller(ctx, li.maps);
	gauges = (struct mount_gauges){ .mc = mc, .wio = wio };
	/* with metrics, every operation is counted and timed on its way to
	 * fs_ops (libfuse copies the table) */
	struct fuse_lowlevel_ops ops = fs_ops;
	if (o.metrics[0])
		mount_metrics_wrap_ops(&fs_ops, &ops);

	char fsname[2 * MASTER_LIST_MAX * MASTER_ADDR_MAX];
	char opts[sizeof(fsname) + FUSE_OPTS_MAX + 512];
	fsname_escape(masters, fsname, sizeof(fsname));
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=bigfs,default_permissions%s%s%s", fsname,
		 o.allow_other ? ",allow_other" : "", o.fuse_opts[0] ? "," : "", o.fuse_opts);
	char *fargv[] = {argv[0], "-o", opts, o.fuse_debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(o.fuse_debug ? 4 : 3, fargv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), ctx);
	if (!se) {
		fprintf(stderr, PROG ": cannot create the FUSE session (options: %s)\n", opts);
		goto out_free_modules;
	}
	fs_ctx_set_local_creates(ctx, !o.nolocalcreates);
	if (fs_ctx_set_feed(ctx, se, o.cache_ttl_s) < 0) {
		fprintf(stderr, PROG ": cannot set up the client (out of memory)\n");
		goto out_destroy_session;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, PROG ": cannot install signal handlers\n");
		goto out_destroy_session;
	}
	if (o.metrics[0] && metrics_start(&o, &gauges, !o.foreground, &msrv) < 0)
		goto out_remove_signals;
	if (fuse_session_mount(se, o.mountpoint) != 0) {
		fprintf(stderr, PROG ": cannot mount on %s\n", o.mountpoint);
		goto out_remove_signals;
	}
	raise_read_ahead(o.mountpoint);
	if (fuse_daemonize(o.foreground) != 0) {
		fprintf(stderr, PROG ": cannot daemonize\n");
		goto out_unmount;
	}
	if (!o.foreground)
		log_init(PROG, false, o.verbose ? LOG_DEBUG : LOG_INFO);
	if (o.metrics[0] && !o.foreground)
		(void)metrics_start(&o, &gauges, false, &msrv);
	log_info("mounted %s:%s on %s (session %s%s)", masters, o.subdir, o.mountpoint,
		 fh_table_session(fht), li.ro ? ", read-only export" : "");
	rc = run_loop(se, &o);
	/* the loop ends at the unmount, or at a signal (libfuse's handler
	 * reports its number): both a clean stop */
	status = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
	log_info("unmounting %s", o.mountpoint);
	master_client_stop(mc);
out_unmount:
	fuse_session_unmount(se);
out_remove_signals:
	fuse_remove_signal_handlers(se);
	/* what is queued and the session's close still go to the master
	 * (fs_destroy): a SIGTERM now (fusermount -u, then kill, as a
	 * service manager does) must not end the process before. SIGKILL
	 * still does. */
	shutdown_ignore_signals();
out_destroy_session:
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
out_free_modules:
	mount_metrics_stop(msrv);   /* before the modules its gauges read */
	fs_ctx_free(ctx);
	fh_table_free(fht);
	worker_io_free(wio);
out_free_mc:
	master_client_free(mc);
	return status;
}
