/* exports — the exports file: which client addresses may mount which
 * subtree, read-only or read-write, with which password, uid mapping and
 * replication goals (docs/exports.md). The master reads it at start
 * (--exports FILE) and again on SIGHUP; its login handler asks
 * exports_match for the rule of each mount.
 *
 * One rule per line:  NETWORK  SUBTREE  OPTIONS
 *   NETWORK  "*", "A.B.C.D", "A.B.C.D/N" or "A.B.C.D/M.M.M.M" (IPv4)
 *   SUBTREE  an absolute path, normalised (exports_path_normalize)
 *   OPTIONS  ro | rw, maproot=U[:G] | mapall=U[:G], password=P | passfile=F,
 *            mingoal=N, maxgoal=N — comma separated, none repeated
 * A '#' at the start of a field starts a comment; inside a field (a
 * password, a path) it is an ordinary byte. Rules are tried in file
 * order: the first that matches the address and contains the path wins.
 *
 * A parsed struct exports is immutable: any number of threads may read it
 * at once without a lock. Replacing it (SIGHUP) is the caller's business:
 * parse the new file, swap pointers, free the old set once no thread uses
 * it any more. */
#ifndef BIGFS_MASTER_EXPORTS_H
#define BIGFS_MASTER_EXPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORTS_LINE_MAX 8191       /* bytes of a line, without its '\n' */
#define EXPORTS_PATH_MAX 4095       /* bytes of a normalised subtree */
#define EXPORTS_PASSWORD_MAX 255
#define EXPORTS_GOAL_MAX 16
#define EXPORTS_RULES_MAX 4096      /* rules in one file */
#define EXPORTS_FILE_MAX (4 << 20)  /* bytes exports_load reads at most */

struct exports;

struct export_rule {             /* read-only view of one rule */
	uint32_t net, mask;       /* IPv4, host byte order; "*" is 0/0 */
	char subtree[4096];       /* normalised */
	bool ro;
	bool maproot, mapall;     /* at most one true */
	uint32_t map_uid, map_gid;
	bool has_password;
	unsigned char password[256];
	size_t password_len;
	uint32_t mingoal, maxgoal;
	int line;                 /* line number in the file, for logs */
};

/* Parse text (len bytes, need not be NUL-terminated; any bytes are
 * handled: a NUL or another control byte is an error). origin names the
 * file in error messages and its folder resolves relative passfile= paths
 * (may be NULL: then relative passfile paths are relative to the cwd and
 * messages say "exports"). On success *ret is a new set the caller frees
 * with exports_free (an empty file gives a set of 0 rules: nobody may
 * mount). On failure returns -EINVAL (or -ENOMEM) and writes one line
 * "origin:LINE: message" into err (errlen bytes; err may be NULL when
 * errlen is 0); *ret untouched. Messages never quote a password. */
int exports_parse(const char *text, size_t len, const char *origin, struct exports **ret,
		  char *err, size_t errlen);

/* Read the file at path (at most EXPORTS_FILE_MAX bytes, else -EFBIG) and
 * parse it with origin = path. A failure to open or read it returns its
 * -errno with "path: reason" in err; parse errors as exports_parse. */
int exports_load(const char *path, struct exports **ret, char *err, size_t errlen);

/* Free a set; NULL is fine. Passwords are wiped from memory first. */
void exports_free(struct exports *ex);

size_t exports_count(const struct exports *ex);
/* Rule i (0 <= i < exports_count), borrowed: valid until exports_free. */
const struct export_rule *exports_rule(const struct exports *ex, size_t i);

/* The first rule whose network contains addr (host byte order) and whose
 * subtree contains path (already normalised by the caller with
 * exports_path_normalize): the subtree S contains P when P == S or P
 * starts with S + "/" ("/" contains everything). NULL (also for ex or
 * path NULL): no rule — no mount. Borrowed, valid until exports_free. */
const struct export_rule *exports_match(const struct exports *ex, uint32_t addr,
					const char *path);

/* Normalise a mount path: collapse repeated '/', drop "." components and
 * a trailing '/' (except for "/" itself); in NULL or "" means "/".
 * Returns 0, -EINVAL (relative path, a ".." component) or -ENAMETOOLONG
 * (the result is longer than EXPORTS_PATH_MAX bytes or does not fit in
 * out's cap bytes with its NUL). out is written even on failure (an
 * unspecified string, or nothing when cap is 0). */
int exports_path_normalize(const char *in, char *out, size_t cap);

/* The built-in set of a master started without --exports: one rule
 * "* / rw", no password, goals 1..16 (the master warns that everyone may
 * mount). 0 or -ENOMEM. */
int exports_default(struct exports **ret);

#endif
