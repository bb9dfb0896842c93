/* exports — parser and matcher of the exports file (see exports.h and
 * docs/exports.md for the format).
 *
 * Owns: a parsed set, struct exports: an array of pointers to rules, each
 * rule its own allocation so that freeing can wipe every password
 * (explicit_bzero) without a realloc leaving copies behind. A set never
 * changes after exports_parse returns it, so it needs no lock; the master
 * swaps whole sets on SIGHUP and frees the old one itself.
 *
 * Parsing is one pass over the text, line by line, with every input
 * bounded: a line is at most EXPORTS_LINE_MAX bytes (copied to a stack
 * buffer where fields are cut in place), a file at most EXPORTS_RULES_MAX
 * rules, a password file is read for at most its first 258 bytes, a
 * user or group name lookup retries with a bigger buffer up to 1 MiB.
 * The first error stops the parse and frees everything: a file is taken
 * whole or not at all. Every buffer that held a password (the line copy,
 * the password file's bytes, a half-built rule) is wiped before it goes.
 *
 * Deliberately not here: IPv6 (the master listens on IPv4), host names in
 * NETWORK (a DNS lookup at every reload would make the rules depend on the
 * resolver), logging (the caller logs the message it gets), and the login
 * exchange itself (common/auth.h). */
#include "exports.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EX_QUOTE_MAX 64           /* bytes of an input quoted in a message */
#define EX_NAME_BUF_MAX (1 << 20) /* getpwnam_r / getgrnam_r buffer at most */
#define EX_ID_MAX 4294967294u     /* (uid_t)-1 means "no change": refused */

struct exports {
	struct export_rule **v;
	size_t n, cap;
};

/* One parse: where messages go and how relative passfile= paths resolve. */
struct ex_ctx {
	const char *origin;       /* for messages */
	const char *dir;          /* origin's folder (dirlen bytes), NULL: cwd */
	size_t dirlen;
	int line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int ex_fail(struct ex_ctx *c, int rc, const char *fmt, ...)
{
	if (!c->err || !c->errlen)
		return rc;
	int n = snprintf(c->err, c->errlen, "%s:%d: ", c->origin, c->line);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* s (NUL-terminated) for a message: at most EX_QUOTE_MAX bytes, control
 * bytes, bytes >= 0x80, quote and backslash as \xHH, "..." when cut.
 * buf holds at least 4 * EX_QUOTE_MAX + 4 bytes. */
static const char *ex_quote(const char *s, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	for (i = 0; s[i] && i < EX_QUOTE_MAX; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b < 0x20 || b >= 0x7f || b == '\'' || b == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[b >> 4];
			buf[o++] = hex[b & 15];
		} else {
			buf[o++] = (char)b;
		}
	}
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

#define EX_QBUF (4 * EX_QUOTE_MAX + 4)

/* Decimal digits only, value <= max. 0 or -EINVAL. */
static int ex_parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* ---- NETWORK ---------------------------------------------------------- */

/* A strict dotted quad: four decimal octets 0..255, no leading zeros
 * (010 would mean 8 to inet_aton and 10 to a reader). 0 or -EINVAL. */
static int ex_parse_ipv4(const char *s, size_t len, uint32_t *ret)
{
	uint32_t a = 0;
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= len || s[i] != '.')
				return -EINVAL;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		size_t nd = i - start;
		if (nd == 0 || v > 255 || (nd > 1 && s[start] == '0'))
			return -EINVAL;
		a = a << 8 | v;
	}
	if (i != len)
		return -EINVAL;
	*ret = a;
	return 0;
}

static int ex_parse_network(struct ex_ctx *c, const char *s, struct export_rule *r)
{
	char q[EX_QBUF];
	if (strcmp(s, "*") == 0) {
		r->net = 0;
		r->mask = 0;
		return 0;
	}
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint32_t addr, mask = 0xffffffffu;
	if (ex_parse_ipv4(s, alen, &addr) < 0)
		return ex_fail(c, -EINVAL,
			       "invalid network '%s' (expected *, A.B.C.D, A.B.C.D/N or "
			       "A.B.C.D/M.M.M.M)", ex_quote(s, q));
	if (slash) {
		const char *m = slash + 1;
		if (strchr(m, '.')) {
			if (ex_parse_ipv4(m, strlen(m), &mask) < 0)
				return ex_fail(c, -EINVAL, "invalid netmask '%s'", ex_quote(m, q));
			uint32_t inv = ~mask;
			if (inv & (inv + 1))
				return ex_fail(c, -EINVAL, "netmask '%s' is not contiguous",
					       ex_quote(m, q));
		} else {
			size_t n = strlen(m);
			uint32_t bits;
			if (n == 0 || n > 2 || ex_parse_uint(m, 32, &bits) < 0)
				return ex_fail(c, -EINVAL, "invalid prefix length '/%s' (0..32)",
					       ex_quote(m, q));
			mask = bits ? 0xffffffffu << (32 - bits) : 0;
		}
	}
	r->net = addr & mask;
	r->mask = mask;
	return 0;
}

/* ---- SUBTREE ---------------------------------------------------------- */

int exports_path_normalize(const char *in, char *out, size_t cap)
{
	if (cap == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (!in || !*in)
		in = "/";
	if (in[0] != '/')
		return -EINVAL;
	size_t limit = cap - 1 < EXPORTS_PATH_MAX ? cap - 1 : EXPORTS_PATH_MAX;
	size_t o = 0;
	int rc = 0;
	const char *p = in;
	/* keeps scanning after the result got too long: a ".." further on
	 * is the more useful error */
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			out[0] = '\0';
			return -EINVAL;
		}
		if (!(n == 1 && p[0] == '.') && rc == 0) {
			if (o + 1 + n > limit) {
				rc = -ENAMETOOLONG;
			} else {
				out[o++] = '/';
				memcpy(out + o, p, n);
				o += n;
			}
		}
		p = e;
	}
	if (rc == 0 && o == 0) {
		if (limit < 1)
			rc = -ENAMETOOLONG;
		else
			out[o++] = '/';
	}
	out[rc ? 0 : o] = '\0';
	return rc;
}

static int ex_parse_subtree(struct ex_ctx *c, const char *s, struct export_rule *r)
{
	char q[EX_QBUF];
	int rc = exports_path_normalize(s, r->subtree, sizeof(r->subtree));
	if (rc == -ENAMETOOLONG)
		return ex_fail(c, -EINVAL, "subtree '%s' is longer than %d bytes", ex_quote(s, q),
			       EXPORTS_PATH_MAX);
	if (rc < 0 && s[0] != '/')
		return ex_fail(c, -EINVAL, "subtree '%s' is not an absolute path", ex_quote(s, q));
	if (rc < 0)
		return ex_fail(c, -EINVAL, "subtree '%s' has a '..' component", ex_quote(s, q));
	return 0;
}

/* ---- OPTIONS ---------------------------------------------------------- */

static bool ex_is_number(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* A user or group (group true) name through getpwnam_r / getgrnam_r.
 * 0 with *id (and *gid for a user: its primary group), -ENOENT unknown,
 * -ENOMEM, or another -errno of the lookup. */
static int ex_lookup(const char *name, bool group, uint32_t *id, uint32_t *gid)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 && hint <= EX_NAME_BUF_MAX ? (size_t)hint : 1024;
	for (;;) {
		char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		int e;
		bool found;
		if (group) {
			struct group gr, *res = NULL;
			e = getgrnam_r(name, &gr, buf, size, &res);
			found = !e && res;
			if (found)
				*id = (uint32_t)gr.gr_gid;
		} else {
			struct passwd pw, *res = NULL;
			e = getpwnam_r(name, &pw, buf, size, &res);
			found = !e && res;
			if (found) {
				*id = (uint32_t)pw.pw_uid;
				*gid = (uint32_t)pw.pw_gid;
			}
		}
		free(buf);
		if (e == ERANGE && size < EX_NAME_BUF_MAX) {
			size *= 2;
			continue;
		}
		if (found)
			return 0;
		/* glibc answers "not found" as 0, ENOENT, ESRCH, EBADF or EPERM */
		if (!e || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
			return -ENOENT;
		return -e;
	}
}

/* "UID[:GID]" of maproot= / mapall= (value is ours to cut). */
static int ex_parse_map(struct ex_ctx *c, const char *opt, char *value, struct export_rule *r)
{
	char q[EX_QBUF];
	char *g = strchr(value, ':');
	if (g)
		*g++ = '\0';
	if (!*value || (g && !*g))
		return ex_fail(c, -EINVAL, "%s needs UID[:GID], a user and an optional group", opt);
	uint32_t uid, gid;
	if (ex_is_number(value)) {
		if (ex_parse_uint(value, EX_ID_MAX, &uid) < 0)
			return ex_fail(c, -EINVAL, "%s: uid '%s' is out of range (0..%u)", opt,
				       ex_quote(value, q), EX_ID_MAX);
		gid = uid;
	} else {
		int rc = ex_lookup(value, false, &uid, &gid);
		if (rc == -ENOMEM)
			return ex_fail(c, rc, "out of memory");
		if (rc == -ENOENT)
			return ex_fail(c, -EINVAL, "%s: unknown user '%s'", opt, ex_quote(value, q));
		if (rc < 0)
			return ex_fail(c, -EINVAL, "%s: cannot look up user '%s': %s", opt,
				       ex_quote(value, q), strerror(-rc));
	}
	if (g && ex_is_number(g)) {
		if (ex_parse_uint(g, EX_ID_MAX, &gid) < 0)
			return ex_fail(c, -EINVAL, "%s: gid '%s' is out of range (0..%u)", opt,
				       ex_quote(g, q), EX_ID_MAX);
	} else if (g) {
		int rc = ex_lookup(g, true, &gid, NULL);
		if (rc == -ENOMEM)
			return ex_fail(c, rc, "out of memory");
		if (rc == -ENOENT)
			return ex_fail(c, -EINVAL, "%s: unknown group '%s'", opt, ex_quote(g, q));
		if (rc < 0)
			return ex_fail(c, -EINVAL, "%s: cannot look up group '%s': %s", opt,
				       ex_quote(g, q), strerror(-rc));
	}
	r->map_uid = uid;
	r->map_gid = gid;
	return 0;
}

static int ex_opt_ro(struct ex_ctx *c, const char *opt, char *value, struct export_rule *r)
{
	(void)c;
	(void)value;
	r->ro = strcmp(opt, "ro") == 0;
	return 0;
}

static int ex_opt_map(struct ex_ctx *c, const char *opt, char *value, struct export_rule *r)
{
	if (strcmp(opt, "mapall") == 0)
		r->mapall = true;
	else
		r->maproot = true;
	return ex_parse_map(c, opt, value, r);
}

static int ex_opt_password(struct ex_ctx *c, const char *opt, char *value,
			   struct export_rule *r)
{
	(void)opt;
	size_t n = strlen(value);
	if (n > EXPORTS_PASSWORD_MAX)
		return ex_fail(c, -EINVAL, "password is longer than %d bytes (%zu)",
			       EXPORTS_PASSWORD_MAX, n);
	memcpy(r->password, value, n);
	r->password_len = n;
	r->has_password = true;
	return 0;
}

/* The first line of the file at path, without its "\n" or "\r\n", 1 to
 * EXPORTS_PASSWORD_MAX bytes, no NUL. Only a regular file is read (not a
 * FIFO or a device that could block or never end). */
static int ex_read_passfile(struct ex_ctx *c, const char *path, struct export_rule *r)
{
	char q[EX_QBUF];
	unsigned char b[EXPORTS_PASSWORD_MAX + 3]; /* the longest line, "\r\n", one more */
	size_t got = 0;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return ex_fail(c, -EINVAL, "passfile '%s': %s", ex_quote(path, q), strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		rc = ex_fail(c, -EINVAL, "passfile '%s': %s", ex_quote(path, q), strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = ex_fail(c, -EINVAL, "passfile '%s' is not a regular file", ex_quote(path, q));
		goto out_close;
	}
	while (got < sizeof(b)) {
		ssize_t k = read(fd, b + got, sizeof(b) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = ex_fail(c, -EINVAL, "passfile '%s': %s", ex_quote(path, q),
				     strerror(errno));
			goto out_wipe;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	unsigned char *nl = memchr(b, '\n', got);
	size_t n = nl ? (size_t)(nl - b) : got;
	if (!nl && got == sizeof(b)) {
		rc = ex_fail(c, -EINVAL, "passfile '%s': the password is longer than %d bytes",
			     ex_quote(path, q), EXPORTS_PASSWORD_MAX);
		goto out_wipe;
	}
	if (n && b[n - 1] == '\r')
		n--;
	if (n == 0)
		rc = ex_fail(c, -EINVAL, "passfile '%s': the first line is empty", ex_quote(path, q));
	else if (n > EXPORTS_PASSWORD_MAX)
		rc = ex_fail(c, -EINVAL, "passfile '%s': the password is longer than %d bytes",
			     ex_quote(path, q), EXPORTS_PASSWORD_MAX);
	else if (memchr(b, '\0', n))
		rc = ex_fail(c, -EINVAL, "passfile '%s': the password contains a NUL byte",
			     ex_quote(path, q));
	if (rc == 0) {
		memcpy(r->password, b, n);
		r->password_len = n;
		r->has_password = true;
	}
out_wipe:
	explicit_bzero(b, sizeof(b));
out_close:
	close(fd);
	return rc;
}

static int ex_opt_passfile(struct ex_ctx *c, const char *opt, char *value,
			   struct export_rule *r)
{
	(void)opt;
	char q[EX_QBUF];
	char path[PATH_MAX];
	size_t vlen = strlen(value);
	if (value[0] == '/' || !c->dir) {
		if (vlen >= sizeof(path))
			return ex_fail(c, -EINVAL, "passfile path '%s' is too long",
				       ex_quote(value, q));
		memcpy(path, value, vlen + 1);
	} else {
		/* dirlen 0: the exports file is in "/" */
		if (c->dirlen + 1 + vlen >= sizeof(path))
			return ex_fail(c, -EINVAL, "passfile path '%s' is too long",
				       ex_quote(value, q));
		memcpy(path, c->dir, c->dirlen);
		path[c->dirlen] = '/';
		memcpy(path + c->dirlen + 1, value, vlen + 1);
	}
	return ex_read_passfile(c, path, r);
}

static int ex_opt_goal(struct ex_ctx *c, const char *opt, char *value, struct export_rule *r)
{
	char q[EX_QBUF];
	uint32_t v;
	if (ex_parse_uint(value, EXPORTS_GOAL_MAX, &v) < 0 || v < 1)
		return ex_fail(c, -EINVAL, "%s='%s': a goal is a number from 1 to %d", opt,
			       ex_quote(value, q), EXPORTS_GOAL_MAX);
	if (strcmp(opt, "mingoal") == 0)
		r->mingoal = v;
	else
		r->maxgoal = v;
	return 0;
}

enum {
	EX_RO = 1 << 0,
	EX_RW = 1 << 1,
	EX_MAPROOT = 1 << 2,
	EX_MAPALL = 1 << 3,
	EX_PASSWORD = 1 << 4,
	EX_PASSFILE = 1 << 5,
	EX_MINGOAL = 1 << 6,
	EX_MAXGOAL = 1 << 7,
};

static const struct ex_option {
	const char *name;
	unsigned bit;
	unsigned excludes;        /* options it cannot be given with */
	bool takes_value;
	const char *syntax;       /* for "needs a value" */
	int (*set)(struct ex_ctx *c, const char *opt, char *value, struct export_rule *r);
} ex_options[] = {
	{ "ro", EX_RO, EX_RW, false, "ro", ex_opt_ro },
	{ "rw", EX_RW, EX_RO, false, "rw", ex_opt_ro },
	{ "maproot", EX_MAPROOT, EX_MAPALL, true, "maproot=UID[:GID]", ex_opt_map },
	{ "mapall", EX_MAPALL, EX_MAPROOT, true, "mapall=UID[:GID]", ex_opt_map },
	{ "password", EX_PASSWORD, EX_PASSFILE, true, "password=PASS", ex_opt_password },
	{ "passfile", EX_PASSFILE, EX_PASSWORD, true, "passfile=PATH", ex_opt_passfile },
	{ "mingoal", EX_MINGOAL, 0, true, "mingoal=N", ex_opt_goal },
	{ "maxgoal", EX_MAXGOAL, 0, true, "maxgoal=N", ex_opt_goal },
};

static const struct ex_option *ex_option_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ex_options) / sizeof(ex_options[0]); i++)
		if (strcmp(ex_options[i].name, name) == 0)
			return &ex_options[i];
	return NULL;
}

static const char *ex_option_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(ex_options) / sizeof(ex_options[0]); i++)
		if (ex_options[i].bit == bit)
			return ex_options[i].name;
	return "?";
}

/* The OPTIONS field (ours to cut). */
static int ex_parse_options(struct ex_ctx *c, char *s, struct export_rule *r)
{
	char q[EX_QBUF];
	unsigned seen = 0;
	char *opt = s;
	for (;;) {
		char *comma = strchr(opt, ',');
		if (comma)
			*comma = '\0';
		if (!*opt)
			return ex_fail(c, -EINVAL, "empty option (a comma too many)");
		char *value = strchr(opt, '=');
		if (value)
			*value++ = '\0';
		const struct ex_option *o = ex_option_find(opt);
		/* the name only: a mistyped "pasword=..." must not print the password */
		if (!o)
			return ex_fail(c, -EINVAL, "unknown option '%s'", ex_quote(opt, q));
		if (seen & o->bit)
			return ex_fail(c, -EINVAL, "option '%s' given twice", o->name);
		if (seen & o->excludes) {
			unsigned other = seen & o->excludes;
			return ex_fail(c, -EINVAL, "options '%s' and '%s' cannot go together",
				       ex_option_name(other), o->name);
		}
		if (o->takes_value && (!value || !*value))
			return ex_fail(c, -EINVAL, "option '%s' needs a value (%s)", o->name,
				       o->syntax);
		if (!o->takes_value && value)
			return ex_fail(c, -EINVAL, "option '%s' takes no value", o->name);
		seen |= o->bit;
		int rc = o->set(c, o->name, value, r);
		if (rc < 0)
			return rc;
		if (!comma)
			break;
		opt = comma + 1;
	}
	if (r->mingoal > r->maxgoal)
		return ex_fail(c, -EINVAL, "mingoal=%u is above maxgoal=%u", r->mingoal, r->maxgoal);
	return 0;
}

/* ---- lines and the set ------------------------------------------------ */

static void ex_rule_free(struct export_rule *r)
{
	if (!r)
		return;
	explicit_bzero(r, sizeof(*r));
	free(r);
}

void exports_free(struct exports *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->n; i++)
		ex_rule_free(ex->v[i]);
	free(ex->v);
	free(ex);
}

/* Append r (ownership passes to ex, also on failure: then r is freed). */
static int ex_add(struct exports *ex, struct export_rule *r)
{
	if (ex->n == ex->cap) {
		size_t cap = ex->cap ? ex->cap * 2 : 8;
		struct export_rule **v = realloc(ex->v, cap * sizeof(*v));
		if (!v) {
			ex_rule_free(r);
			return -ENOMEM;
		}
		ex->v = v;
		ex->cap = cap;
	}
	ex->v[ex->n++] = r;
	return 0;
}

static struct export_rule *ex_rule_new(int line)
{
	struct export_rule *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ro = true;
	r->mingoal = 1;
	r->maxgoal = EXPORTS_GOAL_MAX;
	r->line = line;
	return r;
}

/* One line (n bytes, no '\n', no trailing '\r', no NUL, n <=
 * EXPORTS_LINE_MAX), copied into buf and cut there. Adds its rule to ex
 * unless the line is blank or a comment. */
static int ex_parse_line(struct ex_ctx *c, struct exports *ex, const char *line, size_t n,
			 char *buf)
{
	char q[EX_QBUF];
	char *field[4];
	int nf = 0;
	memcpy(buf, line, n);
	buf[n] = '\0';
	char *p = buf;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		if (nf == 4)
			break;
		field[nf++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (nf == 0)
		return 0;
	for (int i = 0; i < nf; i++)
		for (const unsigned char *s = (const unsigned char *)field[i]; *s; s++)
			if (*s < 0x20 || *s == 0x7f)
				return ex_fail(c, -EINVAL, "control character 0x%02x in field %d",
					       *s, i + 1);
	if (nf < 3)
		return ex_fail(c, -EINVAL,
			       "expected NETWORK SUBTREE OPTIONS, found %d field%s", nf,
			       nf == 1 ? "" : "s");
	if (nf > 3)
		return ex_fail(c, -EINVAL, "more than 3 fields (options take no spaces): '%s'",
			       ex_quote(field[3], q));
	if (ex->n >= EXPORTS_RULES_MAX)
		return ex_fail(c, -EINVAL, "more than %d rules", EXPORTS_RULES_MAX);

	struct export_rule *r = ex_rule_new(c->line);
	if (!r)
		return ex_fail(c, -ENOMEM, "out of memory");
	int rc = ex_parse_network(c, field[0], r);
	if (rc == 0)
		rc = ex_parse_subtree(c, field[1], r);
	if (rc == 0)
		rc = ex_parse_options(c, field[2], r);
	if (rc < 0) {
		ex_rule_free(r);
		return rc;
	}
	rc = ex_add(ex, r);
	if (rc < 0)
		return ex_fail(c, rc, "out of memory");
	return 0;
}

int exports_parse(const char *text, size_t len, const char *origin, struct exports **ret,
		  char *err, size_t errlen)
{
	struct ex_ctx c = {
		.origin = origin ? origin : "exports",
		.err = err,
		.errlen = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	const char *slash = origin ? strrchr(origin, '/') : NULL;
	if (slash) {
		c.dir = origin;
		c.dirlen = (size_t)(slash - origin);
	}
	struct exports *ex = calloc(1, sizeof(*ex));
	char *buf = malloc(EXPORTS_LINE_MAX + 1);
	int rc = 0;
	if (!ex || !buf) {
		rc = ex_fail(&c, -ENOMEM, "out of memory");
		goto out_free;
	}
	size_t pos = 0;
	while (pos < len) {
		if (c.line == INT_MAX) {
			rc = ex_fail(&c, -EINVAL, "too many lines");
			goto out_free;
		}
		c.line++;
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		if (n > EXPORTS_LINE_MAX) {
			rc = ex_fail(&c, -EINVAL, "line longer than %d bytes (%zu)",
				     EXPORTS_LINE_MAX, n);
			goto out_free;
		}
		if (memchr(line, '\0', n)) {
			rc = ex_fail(&c, -EINVAL, "NUL byte in the line");
			goto out_free;
		}
		rc = ex_parse_line(&c, ex, line, n, buf);
		explicit_bzero(buf, n + 1);
		if (rc < 0)
			goto out_free;
	}
	*ret = ex;
	ex = NULL;
out_free:
	free(buf);
	exports_free(ex);
	return rc;
}

int exports_load(const char *path, struct exports **ret, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	/* Read at most EXPORTS_FILE_MAX + 1 bytes (one more tells "too big").
	 * Grown by hand, not with realloc: the old buffer holds passwords. */
	size_t cap = 16384, got = 0;
	char *text = malloc(cap);
	int rc = text ? 0 : -ENOMEM;
	while (rc == 0 && got <= EXPORTS_FILE_MAX) {
		if (got == cap) {
			char *bigger = malloc(cap * 2);
			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			memcpy(bigger, text, got);
			explicit_bzero(text, got);
			free(text);
			text = bigger;
			cap *= 2;
		}
		size_t want = cap - got;
		if (want > (size_t)EXPORTS_FILE_MAX + 1 - got)
			want = (size_t)EXPORTS_FILE_MAX + 1 - got;
		ssize_t k = read(fd, text + got, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			rc = -errno;
		else if (k == 0)
			break;
		else
			got += (size_t)k;
	}
	close(fd);
	if (rc == 0 && got > EXPORTS_FILE_MAX)
		rc = -EFBIG;
	if (rc == -EFBIG && err && errlen)
		snprintf(err, errlen, "%s: larger than %d bytes", path, EXPORTS_FILE_MAX);
	else if (rc < 0 && err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	if (rc == 0)
		rc = exports_parse(text, got, path, ret, err, errlen);
	if (text) {
		explicit_bzero(text, got);
		free(text);
	}
	return rc;
}

size_t exports_count(const struct exports *ex)
{
	return ex ? ex->n : 0;
}

const struct export_rule *exports_rule(const struct exports *ex, size_t i)
{
	return ex && i < ex->n ? ex->v[i] : NULL;
}

/* Subtree s contains path p (both normalised). */
static bool ex_contains(const char *s, const char *p)
{
	if (s[0] == '/' && s[1] == '\0')
		return p[0] == '/';
	size_t n = strlen(s);
	return strncmp(p, s, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

const struct export_rule *exports_match(const struct exports *ex, uint32_t addr,
					const char *path)
{
	if (!ex || !path)
		return NULL;
	for (size_t i = 0; i < ex->n; i++) {
		const struct export_rule *r = ex->v[i];
		if ((addr & r->mask) == r->net && ex_contains(r->subtree, path))
			return r;
	}
	return NULL;
}

int exports_default(struct exports **ret)
{
	struct exports *ex = calloc(1, sizeof(*ex));
	struct export_rule *r = ex_rule_new(0);
	if (!ex || !r) {
		free(ex);
		free(r);
		return -ENOMEM;
	}
	strcpy(r->subtree, "/");
	r->ro = false;
	if (ex_add(ex, r) < 0) {
		free(ex);
		return -ENOMEM;
	}
	*ret = ex;
	return 0;
}
