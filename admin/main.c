/* bigfs — the operator's command.
 *
 *   bigfs [GLOBAL OPTIONS] COMMAND [ARGS] [--json] [--help]
 *
 * Talks to the master's HTTP/JSON API (docs/api.md) for cluster-wide
 * views and operations, and to a mounted BigFS through xattrs for the
 * per-file settings and to name files (bigfs.ino). docs/cli.md is the
 * manual; `bigfs --help` and `bigfs COMMAND --help` say the same.
 *
 * This file: the command table, the global options, option parsing for
 * every command (admin_parse), help texts and the exit status rules.
 * The commands live in cmd_*.c. The master address comes from --master,
 * else $BIGFS_MASTER, else 127.0.0.1:9400; it may be a list
 * HOST1:PORT,HOST2:PORT (a cluster with standby masters, master_list.h):
 * calls go to the active one.
 *
 * Exit status: 0 success, 1 the operation failed (message on stderr,
 * "bigfs: ..."), 2 usage error (with a hint to --help), 3 not found. */
#include "admin.h"

#include "http_client.h"
#include "log.h"
#include "master_list.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOBAL_HELP                                                                          \
	"Global options (before or after COMMAND):\n"                                          \
	"  --master HOST:PORT[,HOST:PORT...]  the masters (default $BIGFS_MASTER, else\n"    \
	"                   127.0.0.1:9400); with standbys give them all\n"                    \
	"  --cafile FILE    CA certificate of a TLS cluster ($BIGFS_CAFILE)\n"                 \
	"  --secret FILE    the cluster secret (the master's DATA/secret; $BIGFS_SECRET),\n"   \
	"                   needed by the commands that change or inspect the cluster\n"      \
	"  --ns             PATH operands are paths in the namespace (/dir/file), not\n"       \
	"                   files on a mounted BigFS\n"                                        \
	"  --json           machine output: one JSON document on stdout\n"                     \
	"  -h, --help       help (bigfs COMMAND --help: the command's)\n"

static const struct admin_cmd commands[] = {
	{NULL, "status", "",
	 "cluster summary: workers, capacity, chunks, trash",
	 "One line per master (with several), then the active master's view: workers\n"
	 "live of total, capacity, chunks (under goal, lost, repairs), the trash,\n"
	 "drains and rebalancing, and the quotas over their limits. Needs no secret.\n",
	 cmd_status},
	{NULL, "workers", "",
	 "one line per worker: state, usage, rates",
	 "Columns: worker id, address, live, state (drain), used and capacity, use %,\n"
	 "chunks, bytes/s in and out. Same as `bigfs worker list`. Needs no secret.\n",
	 cmd_workers},
	{"worker", "list", "", "the same as `bigfs workers`",
	 "Same as `bigfs workers`.\n", cmd_workers},
	{"worker", "drain", "ID [--wait [--stall DURATION]]", "empty a worker before removing it",
	 "ID is a worker id (or a unique prefix of one, or its HOST:PORT).\n"
	 "  --wait    follow the drain until the worker can be removed with no chunk under\n"
	 "            goal (a progress bar on a terminal: chunks left, bytes moved, rate,\n"
	 "            ETA); Ctrl-C stops waiting, not the drain\n"
	 "  --stall DURATION  with --wait: give up (exit 1, the master's reason said) when\n"
	 "            the drain has not moved for DURATION (default 5m; 0: never)\n"
	 "Signed with the cluster secret.\n",
	 cmd_worker_drain},
	{"worker", "undrain", "ID", "stop a drain; the worker takes chunks again",
	 "Signed with the cluster secret.\n", cmd_worker_undrain},
	{NULL, "fileinfo", "PATH...", "attributes, goal, chunks and their replicas",
	 "For each PATH: inode, namespace path, type, size, owner, goal, trash time,\n"
	 "and every chunk: index, id, version, references (shared by snapshots) and\n"
	 "its replicas (worker, live, version). Signed with the cluster secret.\n",
	 cmd_fileinfo},
	{NULL, "goal", "PATH [N]", "show or set the replication goal (1..16)",
	 "Through the bigfs.goal xattr of a file or folder on a mount (a folder's goal\n"
	 "is what new entries below it get).\n",
	 cmd_goal},
	{NULL, "locations", "FILE...", "where each chunk of a file lives",
	 "One line per chunk: index, chunk id, version, the workers holding it (the\n"
	 "bigfs.locations xattr of a file on a mount).\n",
	 cmd_locations},
	{NULL, "snapshot", "SRC DST", "instant copy of a file or tree",
	 "DST must not exist; its folder must. The copy shares every chunk with SRC\n"
	 "until one side writes to it (copy on write). Signed with the cluster secret.\n",
	 cmd_snapshot},
	{"trash", "list", "[PATH] [--limit N]", "deleted files waiting in the trash",
	 "Entries newest first; with PATH only those whose original path was below it.\n"
	 "  --limit N   at most N entries (default 1000)\n"
	 "Signed with the cluster secret.\n",
	 cmd_trash_list},
	{"trash", "restore", "ID [--to PATH]", "bring a deleted file back",
	 "  --to PATH   restore under this new name (its folder must exist); default\n"
	 "              the original path\n"
	 "Signed with the cluster secret.\n",
	 cmd_trash_restore},
	{"trash", "purge", "[ID]", "free a trash entry, or the whole trash, now",
	 "Without ID every entry goes (a progress bar on a terminal). Signed with the\n"
	 "cluster secret.\n",
	 cmd_trash_purge},
	{"quota", "set", "DIR [--bytes N] [--bytes-soft N] [--inodes N] [--inodes-soft N] "
			 "[--grace DURATION]",
	 "set the limits of a folder",
	 "  --bytes N         hard limit of logical bytes (10G, 512M, 1.5T: binary units)\n"
	 "  --bytes-soft N    soft limit of bytes (may be exceeded for the grace period)\n"
	 "  --inodes N        hard limit of files and folders (100000, 100k)\n"
	 "  --inodes-soft N   soft limit of inodes\n"
	 "  --grace DURATION  how long a soft limit may be exceeded (7d, 12h, 30m)\n"
	 "0 means no limit. Writes past a hard limit fail with EDQUOT on the mount.\n"
	 "Signed with the cluster secret.\n",
	 cmd_quota_set},
	{"quota", "get", "DIR", "the limits and usage of a folder",
	 "Usage counts logical bytes (what du --apparent-size shows) and inodes; the\n"
	 "bytes stored on workers (times the goal) are shown too. Exit status 3 when\n"
	 "the folder has no quota. Signed with the cluster secret.\n",
	 cmd_quota_get},
	{"quota", "list", "", "every quota, with its usage",
	 "Signed with the cluster secret.\n", cmd_quota_list},
	{"quota", "remove", "DIR", "remove the quota of a folder",
	 "Signed with the cluster secret.\n", cmd_quota_remove},
	{NULL, "events", "[--follow] [--since DURATION]", "the cluster's events (bigfs.events)",
	 "Reads the Kafka topic bigfs.events (the brokers the master names in its\n"
	 "cluster info): workers joined and lost, drains, repairs, corrupt replicas.\n"
	 "  --follow, -f        keep printing new events until interrupted; with --json\n"
	 "                      one JSON object per line\n"
	 "  --since DURATION    only events of the last DURATION (15m, 2h, 7d); default\n"
	 "                      every event kept, or only new ones with --follow\n"
	 "  --kafka-opt KEY=VALUE  a librdkafka setting (a real Kafka's TLS or SASL)\n"
	 "Signed with the cluster secret (to learn the brokers).\n",
	 cmd_events},
	{"metadata", "dump", "FILE", "save the metadata database to FILE",
	 "What bigfs-master --restore FILE starts from. Signed with the cluster secret.\n",
	 cmd_metadata_dump},
	{"metadata", "checkpoint", "", "write a checkpoint of the metadata log now",
	 "Only for masters with a metadata log (several masters, or --kafka). Signed\n"
	 "with the cluster secret.\n",
	 cmd_metadata_checkpoint},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const groups[] = {"worker", "trash", "quota", "metadata"};

const char *admin_cmd_name(const struct admin *a)
{
	static char buf[64];
	if (!a->cmd)
		return "bigfs";
	if (!a->cmd->group)
		return a->cmd->name;
	snprintf(buf, sizeof(buf), "%s %s", a->cmd->group, a->cmd->name);
	return buf;
}

static void print_cmd_line(FILE *f, const struct admin_cmd *c)
{
	char head[128];
	snprintf(head, sizeof(head), "%s%s%s%s%s", c->group ? c->group : "", c->group ? " " : "",
		 c->name, c->synopsis[0] ? " " : "", c->synopsis);
	if (strlen(head) <= 30)
		fprintf(f, "  %-30s  %s\n", head, c->summary);
	else
		fprintf(f, "  %s\n  %-30s  %s\n", head, "", c->summary);
}

static void usage_all(FILE *f)
{
	fputs("usage: bigfs [GLOBAL OPTIONS] COMMAND [ARGS] [--json] [--help]\n\n"
	      "The operator's tool of a BigFS cluster. Commands:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		print_cmd_line(f, &commands[i]);
	fputs("\n" GLOBAL_HELP
	      "\nPATH: a file or folder on a mounted BigFS (/mnt/bigfs/x), or with --ns a\n"
	      "path from the namespace's root (/x). Sizes: 4096, 10G, 512M, 1.5T (binary\n"
	      "units). Durations: 90, 30s, 15m, 2h, 7d, 1w.\n"
	      "\nExit status: 0 success; 1 the operation failed (message on stderr); 2 usage\n"
	      "error (unknown command or option, missing argument); 3 not found (no such\n"
	      "file, trash entry, quota or worker).\n"
	      "Docs: docs/cli.md. Completion: scripts/bigfs-completion.bash.\n",
	      f);
}

static void usage_cmd(FILE *f, const struct admin_cmd *c)
{
	fprintf(f, "usage: bigfs %s%s%s%s%s [--json]\n\n%s.\n\n%s\n%s", c->group ? c->group : "",
		c->group ? " " : "", c->name, c->synopsis[0] ? " " : "", c->synopsis, c->summary,
		c->help, GLOBAL_HELP);
}

static void usage_group(FILE *f, const char *group)
{
	fprintf(f, "usage: bigfs %s SUBCOMMAND ...\n\n", group);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].group && strcmp(commands[i].group, group) == 0)
			print_cmd_line(f, &commands[i]);
	fprintf(f, "\nbigfs %s SUBCOMMAND --help: the subcommand's help.\n", group);
}

int admin_usage(struct admin *a, const char *fmt, ...)
{
	va_list ap;
	fputs("bigfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (a->cmd)
		fprintf(stderr, "\nTry 'bigfs %s --help'.\n", admin_cmd_name(a));
	else
		fputs("\nTry 'bigfs --help'.\n", stderr);
	return AX_USAGE;
}

/* ---- options ---------------------------------------------------------------- */

enum { O_MASTER = 1, O_CAFILE, O_SECRET, O_NS, O_JSON };

static const struct option global_opts[] = {
	{"master", required_argument, NULL, O_MASTER},
	{"cafile", required_argument, NULL, O_CAFILE},
	{"secret", required_argument, NULL, O_SECRET},
	{"ns", no_argument, NULL, O_NS},
	{"json", no_argument, NULL, O_JSON},
	{"help", no_argument, NULL, 'h'},
};
#define NGLOBAL (sizeof(global_opts) / sizeof(global_opts[0]))
#define OPTS_MAX 32

/* A global option: true if c was one (and is now applied). */
static bool global_opt(struct admin *a, int c, const char *arg)
{
	switch (c) {
	case O_MASTER: a->master = arg; return true;
	case O_CAFILE: a->cafile = arg; return true;
	case O_SECRET: a->secret_file = arg; return true;
	case O_NS: a->ns = true; return true;
	case O_JSON: a->json = true; return true;
	default: return false;
	}
}

/* The spelling of the option getopt stopped at, for a message. */
static const char *bad_opt_text(char **argv, int c, char *buf, size_t cap)
{
	if (optopt > 0 && optopt < 128 && optopt != '?' && optopt != ':' && optopt > ' ')
		snprintf(buf, cap, "-%c", optopt);
	else
		snprintf(buf, cap, "%s", argv[optind - 1] ? argv[optind - 1] : "?");
	(void)c;
	return buf;
}

int admin_parse(struct admin *a, int argc, char **argv, const struct option *opts,
		admin_opt_fn on_opt, void *ctx, int min_ops, int max_ops, int *ret_first)
{
	struct option all[OPTS_MAX + 1];
	size_t n = 0;
	char shorts[64] = ":h";
	char buf[128];

	for (size_t i = 0; i < NGLOBAL; i++)
		all[n++] = global_opts[i];
	for (size_t i = 0; opts && opts[i].name && n < OPTS_MAX; i++) {
		all[n++] = opts[i];
		/* a command option whose id is a letter is its short form too */
		if (opts[i].val > ' ' && opts[i].val < 127 && strlen(shorts) + 3 < sizeof(shorts)) {
			size_t l = strlen(shorts);
			shorts[l++] = (char)opts[i].val;
			if (opts[i].has_arg == required_argument)
				shorts[l++] = ':';
			shorts[l] = '\0';
		}
	}
	memset(&all[n], 0, sizeof(all[n]));

	optind = 0;        /* glibc: start afresh (main used getopt too) */
	opterr = 0;
	for (;;) {
		int idx = -1;
		int c = getopt_long(argc, argv, shorts, all, &idx);
		if (c == -1)
			break;
		if (c == 'h') {
			usage_cmd(stdout, a->cmd);
			return AX_OK;
		}
		if (c == '?')
			return admin_usage(a, "unknown option '%s'", bad_opt_text(argv, c, buf, sizeof(buf)));
		if (c == ':')
			return admin_usage(a, "option '%s' needs a value",
					   bad_opt_text(argv, c, buf, sizeof(buf)));
		if (global_opt(a, c, optarg))
			continue;
		if (!on_opt || on_opt(a, c, optarg, ctx) < 0)
			return on_opt ? AX_USAGE : admin_usage(a, "unknown option");
	}
	int nops = argc - optind;
	if (nops < min_ops)
		return admin_usage(a, "%s: missing %s", admin_cmd_name(a),
				   nops == 0 && min_ops == 1 ? "argument" : "arguments");
	if (max_ops >= 0 && nops > max_ops)
		return admin_usage(a, "%s: unexpected argument '%s'", admin_cmd_name(a),
				   argv[optind + max_ops]);
	*ret_first = optind;
	return -1;
}

/* ---- the command line -------------------------------------------------------- */

static const struct admin_cmd *find_cmd(const char *group, const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct admin_cmd *c = &commands[i];
		if ((group ? c->group && strcmp(c->group, group) == 0 : !c->group) &&
		    strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

static bool is_group(const char *w)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i], w) == 0)
			return true;
	return false;
}

/* `bigfs help [COMMAND [SUB]]` */
static int help_for(struct admin *a, int argc, char **argv)
{
	if (argc == 0) {
		usage_all(stdout);
		return AX_OK;
	}
	if (is_group(argv[0]) && argc == 1) {
		usage_group(stdout, argv[0]);
		return AX_OK;
	}
	const struct admin_cmd *c = is_group(argv[0]) ? find_cmd(argv[0], argv[1])
						      : find_cmd(NULL, argv[0]);
	if (!c)
		return admin_usage(a, "no command '%s%s%s'", argv[0], is_group(argv[0]) ? " " : "",
				   is_group(argv[0]) ? argv[1] : "");
	usage_cmd(stdout, c);
	return AX_OK;
}

static void admin_done(struct admin *a)
{
	http_client_free(a->http);
	master_list_free(a->ml);
}

int main(int argc, char **argv)
{
	struct admin a = {
		.master = getenv("BIGFS_MASTER"),
		.cafile = getenv("BIGFS_CAFILE"),
		.secret_file = getenv("BIGFS_SECRET"),
		.timeout_ms = 10000,
	};
	char buf[128];
	int ret;

	if (!a.master || !a.master[0])
		a.master = ADMIN_DEFAULT_MASTER;
	if (a.cafile && !a.cafile[0])
		a.cafile = NULL;
	if (a.secret_file && !a.secret_file[0])
		a.secret_file = NULL;
	log_init("bigfs", true, LOG_WARNING);   /* no line per master switch */

	/* global options up to the command word */
	struct option gl[NGLOBAL + 1];
	memcpy(gl, global_opts, sizeof(global_opts));
	memset(&gl[NGLOBAL], 0, sizeof(gl[NGLOBAL]));
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, "+:h", gl, NULL);
		if (c == -1)
			break;
		if (c == 'h') {
			usage_all(stdout);
			return AX_OK;
		}
		if (c == '?')
			return admin_usage(&a, "unknown option '%s'", bad_opt_text(argv, c, buf, sizeof(buf)));
		if (c == ':')
			return admin_usage(&a, "option '%s' needs a value",
					   bad_opt_text(argv, c, buf, sizeof(buf)));
		global_opt(&a, c, optarg);
	}
	int i = optind;
	if (i >= argc)
		return admin_usage(&a, "no command given");
	const char *word = argv[i];
	if (strcmp(word, "help") == 0)
		return help_for(&a, argc - i - 1, argv + i + 1);
	const struct admin_cmd *cmd;
	if (is_group(word)) {
		if (i + 1 >= argc) {
			usage_group(stderr, word);
			return AX_USAGE;
		}
		const char *sub = argv[i + 1];
		if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
			usage_group(stdout, word);
			return AX_OK;
		}
		cmd = find_cmd(word, sub);
		if (!cmd) {
			fprintf(stderr, "bigfs: unknown subcommand '%s %s'\nTry 'bigfs %s --help'.\n",
				word, sub, word);
			return AX_USAGE;
		}
		i++;
	} else {
		cmd = find_cmd(NULL, word);
		if (!cmd)
			return admin_usage(&a, "unknown command '%s'", word);
	}
	a.cmd = cmd;
	ret = cmd->run(&a, argc - i, argv + i);
	admin_done(&a);
	return ret;
}
