/* admin — what the parts of the `bigfs` command share.
 *
 * main.c parses the global options, finds the command in its table and
 * runs it; each cmd_*.c holds the commands of one area (cluster, files,
 * trash, quota, events, metadata); call.c talks to the masters and reads
 * the cluster secret; target.c turns the PATH operands into what the
 * master understands; table.c, units.c and progress.c print. Every
 * command takes --json (one JSON document on stdout) and --help.
 *
 * One struct admin per run (no globals): the options, and the master
 * list and HTTP client, made on first use so that usage errors and
 * --help never touch the network. Single-threaded. */
#ifndef BIGFS_ADMIN_ADMIN_H
#define BIGFS_ADMIN_ADMIN_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "token.h"

/* Exit status (docs/cli.md, `bigfs --help`). */
#define AX_OK 0
#define AX_FAIL 1         /* the operation failed: a message on stderr */
#define AX_USAGE 2        /* unknown command or option, missing or bad argument */
#define AX_NOTFOUND 3     /* no such file, trash entry, quota or worker */

#define ADMIN_DEFAULT_MASTER "127.0.0.1:9400"

struct master_list;
struct http_client;
struct admin_cmd;

struct admin {
	/* global options */
	const char *master;          /* --master, $BIGFS_MASTER or the default */
	const char *cafile;          /* --cafile, $BIGFS_CAFILE */
	const char *secret_file;     /* --secret, $BIGFS_SECRET */
	bool json;                   /* --json */
	bool ns;                     /* --ns: PATH operands are namespace paths */
	long timeout_ms;             /* per call: 10 s; longer for dumps */
	const struct admin_cmd *cmd; /* the command running */
	/* made by admin_connect / admin_secret on first use */
	struct master_list *ml;
	struct http_client *http;
	bool connected, tls_done;
	struct secret sec;
	bool have_sec;
	int setup_exit;              /* exit status of a failed setup, or 0 */
};

/* A command of the table in main.c. `group` is "trash", "quota",
 * "worker" or "metadata" for the two-word commands, else NULL. */
struct admin_cmd {
	const char *group;
	const char *name;
	const char *synopsis;        /* operands and options, after the name */
	const char *summary;         /* one line for `bigfs --help` */
	const char *help;            /* what --help adds: options and notes */
	int (*run)(struct admin *a, int argc, char **argv);
};

/* ---- main.c: options ----------------------------------------------------- */

/* A command's own option: id (>= 256) is what on_opt gets. */
typedef int (*admin_opt_fn)(struct admin *a, int id, const char *arg, void *ctx);

/* Parse argv (argv[0] the command's name) with the command's options
 * (opts: a {0}-terminated array, may be NULL) plus the global ones,
 * --json and --help, in any order; "--" ends the options. on_opt(a, id,
 * arg, ctx) handles the command's own; it returns 0, or prints why and
 * returns -EINVAL (a usage error). Then checks the operand count is in
 * min_ops..max_ops (max_ops < 0: no limit).
 * Returns -1 to go on, with the operands at argv[*ret_first..argc), or
 * an exit status the command returns at once: 0 after --help (printed
 * on stdout), AX_USAGE after a usage error (said on stderr with a hint). */
int admin_parse(struct admin *a, int argc, char **argv, const struct option *opts,
		admin_opt_fn on_opt, void *ctx, int min_ops, int max_ops, int *ret_first);

/* "bigfs: <message>" and "Try 'bigfs CMD --help'." on stderr; returns
 * AX_USAGE. */
int admin_usage(struct admin *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "trash list" or "status": the running command's full name. */
const char *admin_cmd_name(const struct admin *a);

/* ---- call.c: the masters ------------------------------------------------- */

/* Make the master list and the HTTP client (once). 0, or an exit status
 * with the reason said (AX_USAGE: a bad --master; AX_FAIL: TLS setup). */
int admin_connect(struct admin *a);
/* Load the cluster secret (once). 0, or an exit status with the reason
 * said: AX_USAGE when none was given, AX_FAIL when it cannot be read. */
int admin_secret(struct admin *a);

/* One call to the active master: METHOD path with req (borrowed, may be
 * NULL), signed with the cluster secret if sign (admin_secret first).
 * 0 with the reply in *ret (new reference, may be NULL; ret may be NULL),
 * or -errno after saying on stderr "bigfs: WHAT: why" — the master's own
 * message when it gave one, the master's address when none answered.
 * what NULL: the command's name. */
int admin_call(struct admin *a, const char *method, const char *path, const json_t *req,
	       bool sign, json_t **ret, const char *what);
/* Like admin_call, but nothing is said on failure (the caller decides). */
int admin_call_quiet(struct admin *a, const char *method, const char *path, const json_t *req,
		     bool sign, json_t **ret);

/* The exit status for a failed call's -errno: the setup's (a bad
 * --master, no secret: AX_USAGE) if that failed, AX_NOTFOUND for -ENOENT
 * (and -ENODEV: no such worker), else AX_FAIL. */
int admin_exit_for(const struct admin *a, int rc);

/* Print v on stdout as one JSON document (indented) and a newline; takes
 * no reference. 0 or AX_FAIL. */
int admin_print_json(const json_t *v);

/* Members read leniently for printing: a missing or mistyped member
 * gives def. */
uint64_t admin_u64(const json_t *o, const char *key, uint64_t def);
const char *admin_str(const json_t *o, const char *key, const char *def);
bool admin_bool(const json_t *o, const char *key, bool def);

/* ---- target.c: PATH operands ---------------------------------------------- */

/* Put the file or folder arg names into req: "path" with --ns, else
 * "ino" read from the mount (getxattr bigfs.ino). 0, or -errno said on
 * stderr. */
int target_set(struct admin *a, json_t *req, const char *key_ino, const char *key_path,
	       const char *arg);
/* The master's inode of a file on a mount. 0 or -errno (said). */
int target_ino(const char *path, uint64_t *ret);
/* For a name that does not exist yet: its parent folder's inode and its
 * last component (malloc'ed). 0 or -errno (said). */
int target_parent(const char *path, uint64_t *ret_parent, char **ret_name);
/* The namespace path ("/a/b") of arg: as given with --ns; else the path
 * the master gives for the file (fileinfo). With allow_new, a path that
 * does not exist is the master's path of the nearest folder above it
 * that does, joined with the missing components (a restore target, or a
 * deleted folder's files in the trash). malloc'ed in *ret. 0 or -errno
 * (said). */
int target_ns_path(struct admin *a, const char *arg, bool allow_new, char **ret);

/* ---- the commands ----------------------------------------------------------- */

int cmd_status(struct admin *a, int argc, char **argv);
int cmd_workers(struct admin *a, int argc, char **argv);
int cmd_worker_drain(struct admin *a, int argc, char **argv);
int cmd_worker_undrain(struct admin *a, int argc, char **argv);
int cmd_fileinfo(struct admin *a, int argc, char **argv);
int cmd_goal(struct admin *a, int argc, char **argv);
int cmd_locations(struct admin *a, int argc, char **argv);
int cmd_snapshot(struct admin *a, int argc, char **argv);
int cmd_trash_list(struct admin *a, int argc, char **argv);
int cmd_trash_restore(struct admin *a, int argc, char **argv);
int cmd_trash_purge(struct admin *a, int argc, char **argv);
int cmd_quota_set(struct admin *a, int argc, char **argv);
int cmd_quota_get(struct admin *a, int argc, char **argv);
int cmd_quota_list(struct admin *a, int argc, char **argv);
int cmd_quota_remove(struct admin *a, int argc, char **argv);
int cmd_events(struct admin *a, int argc, char **argv);
int cmd_metadata_dump(struct admin *a, int argc, char **argv);
int cmd_metadata_checkpoint(struct admin *a, int argc, char **argv);

#endif
