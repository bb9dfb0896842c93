/* fuzz_exports — the master's exports file parser and matcher (master/exports.c).
 *
 * Feeds: the input as the text of an exports file to exports_parse, with
 * an origin in a temporary folder that holds passfiles "pw" (a good
 * password), "empty" and "long" (refused) for relative passfile= options;
 * on success every rule is read back and exports_match is asked about a
 * few addresses and paths; the input is also given to
 * exports_path_normalize line by line.
 * Asserts: no crash, leak or UB; a failed parse writes one NUL-terminated
 * message and leaves *ret alone; a parsed rule is consistent (net inside
 * its mask, the mask contiguous, the subtree normalised, mingoal <=
 * maxgoal within 1..EXPORTS_GOAL_MAX, not both maproot and mapall, a
 * password within bounds); exports_match returns the first rule whose
 * network holds the address and whose subtree holds the path, and NULL
 * only when none does; normalising is idempotent and gives an absolute
 * path without "//", "/./" or a trailing '/'. Stateless across inputs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exports.h"
#include "fuzz_util.h"

static char dir[64], origin[128];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *name, const char *text)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	FUZZ_CHECK(f);
	fputs(text, f);
	fclose(f);
}

static void setup_once(void)
{
	char big[400];
	const char *tmp = getenv("TMPDIR");

	fuzz_quiet_logs();
	snprintf(dir, sizeof(dir), "%s/bigfs-fuzz-exports.XXXXXX", tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir));
	atexit(cleanup);
	snprintf(origin, sizeof(origin), "%s/exports", dir);
	put("pw", "secret\n");
	put("empty", "");
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put("long", big);
}

static bool contains(const char *subtree, const char *path)
{
	size_t n = strlen(subtree);

	if (strcmp(subtree, "/") == 0)
		return true;
	return strncmp(path, subtree, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void check_normalized(const char *p)
{
	char again[EXPORTS_PATH_MAX + 1];
	size_t n = strlen(p);

	FUZZ_CHECK(p[0] == '/');
	FUZZ_CHECK(!strstr(p, "//") && !strstr(p, "/./") && (n == 1 || p[n - 1] != '/'));
	FUZZ_CHECK(!(n >= 2 && strcmp(p + n - 2, "/.") == 0));
	FUZZ_CHECK(exports_path_normalize(p, again, sizeof(again)) == 0);
	FUZZ_CHECK(strcmp(again, p) == 0);
}

static void check_rule(const struct export_rule *r)
{
	FUZZ_CHECK((r->net & ~r->mask) == 0);
	FUZZ_CHECK((~r->mask & (~r->mask + 1)) == 0);    /* contiguous */
	FUZZ_CHECK(memchr(r->subtree, '\0', sizeof(r->subtree)));
	check_normalized(r->subtree);
	FUZZ_CHECK(r->mingoal >= 1 && r->mingoal <= r->maxgoal &&
		   r->maxgoal <= EXPORTS_GOAL_MAX);
	FUZZ_CHECK(!(r->maproot && r->mapall));
	FUZZ_CHECK(r->password_len <= EXPORTS_PASSWORD_MAX);
	if (!r->has_password)
		FUZZ_CHECK(r->password_len == 0);
	FUZZ_CHECK(r->line >= 1);
}

static void check_match(const struct exports *ex, uint32_t addr, const char *path)
{
	const struct export_rule *want = NULL;
	size_t n = exports_count(ex);

	for (size_t i = 0; i < n && !want; i++) {
		const struct export_rule *r = exports_rule(ex, i);
		if ((addr & r->mask) == r->net && contains(r->subtree, path))
			want = r;
	}
	FUZZ_CHECK(exports_match(ex, addr, path) == want);
}

static void normalize_lines(const uint8_t *data, size_t size)
{
	char in[512], out[EXPORTS_PATH_MAX + 1];

	for (size_t i = 0; i < size;) {
		size_t n = 0;
		while (i < size && data[i] != '\n' && n < sizeof(in) - 1)
			in[n++] = (char)data[i++];
		i++;
		in[n] = '\0';
		int r = exports_path_normalize(in, out, sizeof(out));
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENAMETOOLONG);
		if (r == 0)
			check_normalized(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exports *ex = (struct exports *)&dir;     /* must stay as it is on failure */
	char err[256];

	if (!dir[0])
		setup_once();
	memset(err, 'x', sizeof(err));
	int r = exports_parse((const char *)data, size, origin, &ex, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(ex == (struct exports *)&dir);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
	} else {
		size_t n = exports_count(ex);

		FUZZ_CHECK(n <= EXPORTS_RULES_MAX);
		for (size_t i = 0; i < n; i++)
			check_rule(exports_rule(ex, i));
		static const uint32_t addrs[] = { 0x7f000001, 0x0a000005, 0xc0a80101, 0, 0xffffffff };
		static const char *const paths[] = { "/", "/data", "/data/x", "/home/u", "/datax" };
		for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++)
			for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
				check_match(ex, addrs[a], paths[p]);
		for (size_t i = 0; i < n; i++) {
			const struct export_rule *rl = exports_rule(ex, i);
			check_match(ex, rl->net, rl->subtree);
		}
		exports_free(ex);
	}
	normalize_lines(data, size);
	return 0;
}
