/* Unit tests of master/exports: every NETWORK form and its matching
 * edges, first match wins, subtree containment and normalisation, every
 * option and every error (with the file name and line number of the
 * message), password files relative to the exports file's folder,
 * comments, CRLF, NUL and control bytes, long lines, the rule limit, the
 * built-in default, exports_load, and a few thousand random inputs that
 * must parse or fail without harm (run under ASan to mean something).
 * Everything is checked through the public API (exports.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../master/exports.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static char tmpdir[64];

static int group_setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_exports.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name with content (len bytes). */
static void write_file(const char *name, const char *content, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Parse a NUL-terminated text as "exports.cfg"; must succeed. */
static struct exports *parse_ok(const char *text)
{
	struct exports *ex = NULL;
	char err[512] = "";
	int rc = exports_parse(text, strlen(text), "exports.cfg", &ex, err, sizeof(err));
	if (rc != 0)
		fail_msg("parse failed (%d): %s\n--- text:\n%s", rc, err, text);
	assert_non_null(ex);
	return ex;
}

/* Parse len bytes as origin; must fail with -EINVAL and a message that
 * starts with "origin:line: " and contains want. *ret stays untouched. */
static void expect_error_n(const char *text, size_t len, const char *origin, int line,
			   const char *want)
{
	struct exports *ex = (struct exports *)0x1;
	char err[512] = "";
	char prefix[300];
	int rc = exports_parse(text, len, origin, &ex, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("expected -EINVAL, got %d (%s) for:\n%.200s", rc, err, text);
	assert_ptr_equal(ex, (struct exports *)0x1);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", origin ? origin : "exports", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want))
		fail_msg("message '%s' lacks '%s' / '%s'", err, prefix, want);
	assert_null(strchr(err, '\n'));
}

static void expect_error(const char *text, int line, const char *want)
{
	expect_error_n(text, strlen(text), "exports.cfg", line, want);
}

/* The rule of one-rule text. */
static const struct export_rule *only_rule(struct exports *ex)
{
	assert_int_equal(exports_count(ex), 1);
	return exports_rule(ex, 0);
}

static void test_network_forms(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("*                 /a ro\n"
				      "192.168.1.7       /b ro\n"
				      "10.1.0.0/16       /c ro\n"
				      "10.1.2.3/16       /d ro\n"
				      "172.16.0.0/255.240.0.0 /e ro\n"
				      "0.0.0.0/0         /f ro\n"
				      "8.8.8.8/32        /g ro\n"
				      "9.9.9.9/255.255.255.255 /h ro\n"
				      "1.2.3.4/0.0.0.0   /i ro\n"
				      "255.255.255.255   /j ro\n");
	assert_int_equal(exports_count(ex), 10);
	struct { uint32_t net, mask; } want[] = {
		{ 0, 0 },
		{ IP(192, 168, 1, 7), 0xffffffffu },
		{ IP(10, 1, 0, 0), 0xffff0000u },
		{ IP(10, 1, 0, 0), 0xffff0000u },   /* host bits masked */
		{ IP(172, 16, 0, 0), 0xfff00000u },
		{ 0, 0 },
		{ IP(8, 8, 8, 8), 0xffffffffu },
		{ IP(9, 9, 9, 9), 0xffffffffu },
		{ 0, 0 },
		{ 0xffffffffu, 0xffffffffu },
	};
	for (size_t i = 0; i < 10; i++) {
		const struct export_rule *r = exports_rule(ex, i);
		assert_int_equal(r->net, want[i].net);
		assert_int_equal(r->mask, want[i].mask);
		assert_int_equal(r->line, (int)i + 1);
	}
	assert_null(exports_rule(ex, 10));

	/* "*" and /0: every address */
	assert_non_null(exports_match(ex, 0, "/a"));
	assert_non_null(exports_match(ex, 0xffffffffu, "/a"));
	assert_non_null(exports_match(ex, IP(200, 1, 2, 3), "/f"));
	assert_non_null(exports_match(ex, IP(200, 1, 2, 3), "/i"));
	/* one host */
	assert_non_null(exports_match(ex, IP(192, 168, 1, 7), "/b"));
	assert_null(exports_match(ex, IP(192, 168, 1, 6), "/b"));
	assert_null(exports_match(ex, IP(192, 168, 1, 8), "/b"));
	/* /16: both edges in, one past each out */
	assert_non_null(exports_match(ex, IP(10, 1, 0, 0), "/c"));
	assert_non_null(exports_match(ex, IP(10, 1, 255, 255), "/c"));
	assert_null(exports_match(ex, IP(10, 0, 255, 255), "/c"));
	assert_null(exports_match(ex, IP(10, 2, 0, 0), "/c"));
	assert_non_null(exports_match(ex, IP(10, 1, 200, 9), "/d"));
	/* netmask /12: 172.16.0.0 .. 172.31.255.255 */
	assert_non_null(exports_match(ex, IP(172, 16, 0, 0), "/e"));
	assert_non_null(exports_match(ex, IP(172, 31, 255, 255), "/e"));
	assert_null(exports_match(ex, IP(172, 15, 255, 255), "/e"));
	assert_null(exports_match(ex, IP(172, 32, 0, 0), "/e"));
	/* /32 and its netmask form */
	assert_non_null(exports_match(ex, IP(8, 8, 8, 8), "/g"));
	assert_null(exports_match(ex, IP(8, 8, 8, 9), "/g"));
	assert_non_null(exports_match(ex, IP(9, 9, 9, 9), "/h"));
	assert_null(exports_match(ex, IP(9, 9, 9, 8), "/h"));
	assert_non_null(exports_match(ex, 0xffffffffu, "/j"));
	exports_free(ex);
}

static void test_network_errors(void **state)
{
	(void)state;
	static const char *bad[] = {
		"10.0.0.256", "10.0.0", "1.2.3.4.5", "a.b.c.d", "10..0.1", ".1.2.3",
		"1.2.3.4.", "010.0.0.1", "1.2.3.0001", "-1.2.3.4", "+1.2.3.4",
		"host.example.com", "::1", "**", "*/8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "%s / ro\n", bad[i]);
		expect_error(text, 1, "invalid network");
	}
	expect_error("10.0.0.0/33 / ro", 1, "invalid prefix length '/33' (0..32)");
	expect_error("10.0.0.0/ / ro", 1, "invalid prefix length");
	expect_error("10.0.0.0/-1 / ro", 1, "invalid prefix length");
	expect_error("10.0.0.0/+8 / ro", 1, "invalid prefix length");
	expect_error("10.0.0.0/100 / ro", 1, "invalid prefix length");
	expect_error("10.0.0.0/8x / ro", 1, "invalid prefix length");
	expect_error("10.0.0.0//8 / ro", 1, "invalid prefix length '//8'");
	expect_error("10.0.0.0/255.0.255.0 / ro", 1, "netmask '255.0.255.0' is not contiguous");
	expect_error("10.0.0.0/0.255.255.255 / ro", 1, "not contiguous");
	expect_error("10.0.0.0/255.255.255.254x / ro", 1, "invalid netmask");
	expect_error("10.0.0.0/255.255.256.0 / ro", 1, "invalid netmask");
	/* the message quotes the input, escaping what is not printable */
	expect_error("1.2.3.\xff / ro", 1, "invalid network '1.2.3.\\xff'");
}

static void test_first_match_wins(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("10.0.0.5     /data  ro\n"
				      "10.0.0.0/24  /data  rw\n"
				      "10.0.0.0/24  /      ro,mingoal=2\n"
				      "*            /data  rw,password=x\n");
	const struct export_rule *r = exports_match(ex, IP(10, 0, 0, 5), "/data/x");
	assert_non_null(r);
	assert_int_equal(r->line, 1);
	assert_true(r->ro);
	r = exports_match(ex, IP(10, 0, 0, 6), "/data");
	assert_int_equal(r->line, 2);
	assert_false(r->ro);
	r = exports_match(ex, IP(10, 0, 0, 5), "/other");
	assert_int_equal(r->line, 3);
	r = exports_match(ex, IP(10, 0, 1, 5), "/data");
	assert_int_equal(r->line, 4);
	assert_true(r->has_password);
	assert_null(exports_match(ex, IP(10, 0, 1, 5), "/other"));
	assert_null(exports_match(NULL, IP(10, 0, 1, 5), "/data"));
	assert_null(exports_match(ex, IP(10, 0, 1, 5), NULL));
	exports_free(ex);
}

static void test_subtree_containment(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("* /proj ro\n");
	assert_non_null(exports_match(ex, 1, "/proj"));
	assert_non_null(exports_match(ex, 1, "/proj/a"));
	assert_non_null(exports_match(ex, 1, "/proj/a/b/c"));
	assert_null(exports_match(ex, 1, "/project2"));
	assert_null(exports_match(ex, 1, "/proj2/a"));
	assert_null(exports_match(ex, 1, "/pro"));
	assert_null(exports_match(ex, 1, "/"));
	assert_null(exports_match(ex, 1, "/other/proj"));
	exports_free(ex);

	ex = parse_ok("* / rw\n");
	assert_non_null(exports_match(ex, 1, "/"));
	assert_non_null(exports_match(ex, 1, "/anything/at/all"));
	exports_free(ex);

	/* an empty file: nobody may mount anything */
	ex = parse_ok("");
	assert_int_equal(exports_count(ex), 0);
	assert_null(exports_match(ex, 1, "/"));
	exports_free(ex);
}

static void expect_norm(const char *in, const char *want)
{
	char out[4096];
	assert_int_equal(exports_path_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
	(void)state;
	char out[4096];
	expect_norm("/", "/");
	expect_norm("", "/");
	expect_norm(NULL, "/");
	expect_norm("//", "/");
	expect_norm("/.", "/");
	expect_norm("/./././", "/");
	expect_norm("/a", "/a");
	expect_norm("/a/", "/a");
	expect_norm("//a//b///", "/a/b");
	expect_norm("/a/./b/.", "/a/b");
	expect_norm("/.a/..b/...", "/.a/..b/...");
	expect_norm("/a b/#c", "/a b/#c");
	assert_int_equal(exports_path_normalize("a/b", out, sizeof(out)), -EINVAL);
	assert_int_equal(exports_path_normalize("./a", out, sizeof(out)), -EINVAL);
	assert_int_equal(exports_path_normalize("/a/../b", out, sizeof(out)), -EINVAL);
	assert_int_equal(exports_path_normalize("/..", out, sizeof(out)), -EINVAL);
	assert_int_equal(exports_path_normalize("/a/..", out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "");

	/* 4095 bytes fit, 4096 do not, however many slashes lead there */
	char in[9000];
	in[0] = '/';
	memset(in + 1, 'x', 4094);
	in[4095] = '\0';
	assert_int_equal(exports_path_normalize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 4095);
	in[4095] = 'x';
	in[4096] = '\0';
	assert_int_equal(exports_path_normalize(in, out, sizeof(out)), -ENAMETOOLONG);
	char big[8192];
	assert_int_equal(exports_path_normalize(in, big, sizeof(big)), -ENAMETOOLONG);
	memset(in, '/', 8000);
	strcpy(in + 8000, "a/./b");
	assert_int_equal(exports_path_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
	/* ".." after the limit is still reported as such */
	in[0] = '/';
	memset(in + 1, 'x', 5000);
	strcpy(in + 5001, "/..");
	assert_int_equal(exports_path_normalize(in, out, sizeof(out)), -EINVAL);
	/* a small out */
	char tiny[4];
	assert_int_equal(exports_path_normalize("/abc", tiny, sizeof(tiny)), -ENAMETOOLONG);
	assert_int_equal(exports_path_normalize("/ab", tiny, sizeof(tiny)), 0);
	assert_string_equal(tiny, "/ab");
	assert_int_equal(exports_path_normalize("/", tiny, 1), -ENAMETOOLONG);
	assert_int_equal(exports_path_normalize("/", tiny, 0), -ENAMETOOLONG);
	assert_int_equal(exports_path_normalize("/", tiny, 2), 0);
	assert_string_equal(tiny, "/");
}

static void test_subtree_in_file(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("* //projects//./a/ ro\n* /. rw\n");
	assert_string_equal(exports_rule(ex, 0)->subtree, "/projects/a");
	assert_string_equal(exports_rule(ex, 1)->subtree, "/");
	exports_free(ex);
	expect_error("* /a/../etc ro\n", 1, "subtree '/a/../etc' has a '..' component");
	expect_error("* /.. ro\n", 1, "'..' component");
	expect_error("* projects ro\n", 1, "subtree 'projects' is not an absolute path");
	expect_error("* ./p ro\n", 1, "not an absolute path");

	char line[4200 + 16];
	strcpy(line, "* /");
	memset(line + 3, 'p', 4095);
	strcpy(line + 3 + 4095, " ro\n");
	expect_error(line, 1, "is longer than 4095 bytes");
	strcpy(line + 3 + 4094, " ro\n");   /* a 4095-byte subtree is fine */
	ex = parse_ok(line);
	assert_int_equal(strlen(only_rule(ex)->subtree), 4095);
	exports_free(ex);
}

static void test_options(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("* /a ro\n");
	const struct export_rule *r = only_rule(ex);
	assert_true(r->ro);
	assert_false(r->maproot);
	assert_false(r->mapall);
	assert_false(r->has_password);
	assert_int_equal(r->password_len, 0);
	assert_int_equal(r->mingoal, 1);
	assert_int_equal(r->maxgoal, 16);
	exports_free(ex);

	ex = parse_ok("* /a rw\n");
	assert_false(only_rule(ex)->ro);
	exports_free(ex);

	ex = parse_ok("* /a maproot=1000\n");
	r = only_rule(ex);
	assert_true(r->ro);                        /* ro stays the default */
	assert_true(r->maproot);
	assert_false(r->mapall);
	assert_int_equal(r->map_uid, 1000);
	assert_int_equal(r->map_gid, 1000);
	exports_free(ex);

	ex = parse_ok("* /a rw,maproot=1000:2000\n");
	r = only_rule(ex);
	assert_int_equal(r->map_uid, 1000);
	assert_int_equal(r->map_gid, 2000);
	exports_free(ex);

	ex = parse_ok("* /a mapall=0:4294967294\n");
	r = only_rule(ex);
	assert_true(r->mapall);
	assert_false(r->maproot);
	assert_int_equal(r->map_uid, 0);
	assert_int_equal(r->map_gid, 4294967294u);
	exports_free(ex);

	/* names: root is 0:0 wherever this runs; nobody:nogroup when present */
	ex = parse_ok("* /a maproot=root\n");
	r = only_rule(ex);
	assert_int_equal(r->map_uid, 0);
	assert_int_equal(r->map_gid, 0);
	exports_free(ex);
	ex = parse_ok("* /a mapall=7:root\n");
	r = only_rule(ex);
	assert_int_equal(r->map_uid, 7);
	assert_int_equal(r->map_gid, 0);
	exports_free(ex);
	ex = parse_ok("* /a mapall=root:123\n");
	r = only_rule(ex);
	assert_int_equal(r->map_uid, 0);
	assert_int_equal(r->map_gid, 123);
	exports_free(ex);

	ex = parse_ok("* /a rw,password=s3cret#not-a-comment,mingoal=2,maxgoal=3 # a comment\n");
	r = only_rule(ex);
	assert_false(r->ro);
	assert_true(r->has_password);
	assert_int_equal(r->password_len, strlen("s3cret#not-a-comment"));
	assert_memory_equal(r->password, "s3cret#not-a-comment", r->password_len);
	assert_int_equal(r->mingoal, 2);
	assert_int_equal(r->maxgoal, 3);
	exports_free(ex);

	ex = parse_ok("* /a mingoal=16\n* /b maxgoal=1\n* /c mingoal=4,maxgoal=4\n"
		      "* /d maxgoal=05\n");
	assert_int_equal(exports_rule(ex, 0)->mingoal, 16);
	assert_int_equal(exports_rule(ex, 0)->maxgoal, 16);
	assert_int_equal(exports_rule(ex, 1)->mingoal, 1);
	assert_int_equal(exports_rule(ex, 1)->maxgoal, 1);
	assert_int_equal(exports_rule(ex, 2)->mingoal, 4);
	assert_int_equal(exports_rule(ex, 2)->maxgoal, 4);
	assert_int_equal(exports_rule(ex, 3)->maxgoal, 5);
	exports_free(ex);

	/* a 255-byte password fits */
	char line[400];
	strcpy(line, "* / password=");
	memset(line + strlen(line), 'p', 255);
	strcpy(line + 13 + 255, "\n");
	ex = parse_ok(line);
	assert_int_equal(only_rule(ex)->password_len, 255);
	exports_free(ex);
	/* 256 do not */
	memset(line + 13, 'p', 256);
	strcpy(line + 13 + 256, "\n");
	expect_error(line, 1, "password is longer than 255 bytes");
}

static void test_option_errors(void **state)
{
	(void)state;
	expect_error("# a comment\n\n* / rw\n* / rwx\n", 4, "unknown option 'rwx'");
	expect_error("* / RW\n", 1, "unknown option 'RW'");
	expect_error("* / rw,rw\n", 1, "option 'rw' given twice");
	expect_error("* / mingoal=2,mingoal=2\n", 1, "option 'mingoal' given twice");
	expect_error("* / password=a,password=b\n", 1, "option 'password' given twice");
	expect_error("* / ro,rw\n", 1, "options 'ro' and 'rw' cannot go together");
	expect_error("* / rw,ro\n", 1, "options 'rw' and 'ro' cannot go together");
	expect_error("* / maproot=1,mapall=2\n", 1, "'maproot' and 'mapall' cannot go together");
	expect_error("* / mapall=1,maproot=2\n", 1, "'mapall' and 'maproot' cannot go together");
	expect_error("* / password=a,passfile=/nonexistent\n", 1,
		     "'password' and 'passfile' cannot go together");
	expect_error("* / passfile=/nonexistent,password=a\n", 1, "passfile '/nonexistent'");
	expect_error("* / rw,\n", 1, "empty option");
	expect_error("* / ,rw\n", 1, "empty option");
	expect_error("* / rw,,ro\n", 1, "empty option");
	expect_error("* / ro=1\n", 1, "option 'ro' takes no value");
	expect_error("* / rw=\n", 1, "option 'rw' takes no value");
	expect_error("* / maproot\n", 1, "option 'maproot' needs a value (maproot=UID[:GID])");
	expect_error("* / maproot=\n", 1, "needs a value");
	expect_error("* / password=\n", 1, "option 'password' needs a value");
	expect_error("* / passfile\n", 1, "option 'passfile' needs a value");
	expect_error("* / mingoal\n", 1, "option 'mingoal' needs a value");
	expect_error("* / maproot=:5\n", 1, "maproot needs UID[:GID]");
	expect_error("* / maproot=5:\n", 1, "maproot needs UID[:GID]");
	expect_error("* / mapall=4294967295\n", 1, "uid '4294967295' is out of range");
	expect_error("* / mapall=99999999999999999999\n", 1, "is out of range");
	expect_error("* / mapall=1:4294967295\n", 1, "gid '4294967295' is out of range");
	expect_error("* / mapall=no-such-user-bigfs\n", 1, "mapall: unknown user 'no-such-user-bigfs'");
	expect_error("* / maproot=1:no-such-group-bigfs\n", 1,
		     "maproot: unknown group 'no-such-group-bigfs'");
	expect_error("* / maproot=-1\n", 1, "unknown user '-1'");
	expect_error("* / maproot=1:2:3\n", 1, "unknown group '2:3'");
	expect_error("* / mingoal=0\n", 1, "mingoal='0': a goal is a number from 1 to 16");
	expect_error("* / maxgoal=17\n", 1, "maxgoal='17': a goal is a number from 1 to 16");
	expect_error("* / maxgoal=0\n", 1, "a goal is a number from 1 to 16");
	expect_error("* / mingoal=x\n", 1, "a goal is a number");
	expect_error("* / mingoal=-1\n", 1, "a goal is a number");
	expect_error("* / mingoal=2.5\n", 1, "a goal is a number");
	expect_error("* / mingoal=99999999999999999999999\n", 1, "a goal is a number");
	expect_error("* / mingoal=3,maxgoal=2\n", 1, "mingoal=3 is above maxgoal=2");
	expect_error("* / maxgoal=2,mingoal=3\n", 1, "mingoal=3 is above maxgoal=2");

	/* a misspelt password option names the option, never the password */
	struct exports *ex = NULL;
	char err[512];
	assert_int_equal(exports_parse("* / pasword=TOPSECRET\n", 22, "e", &ex, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "e:1: unknown option 'pasword'");
	char line[400];
	strcpy(line, "* / password=TOPSECRET");
	memset(line + strlen(line), 'q', 250);
	line[22 + 250] = '\0';
	assert_int_equal(exports_parse(line, strlen(line), "e", &ex, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "TOPSECRET"));
	/* a small or absent message buffer is fine */
	assert_int_equal(exports_parse("* / bad\n", 8, "exports.cfg", &ex, err, 6), -EINVAL);
	assert_string_equal(err, "expor");
	assert_int_equal(exports_parse("* / bad\n", 8, "exports.cfg", &ex, NULL, 0), -EINVAL);
	/* origin NULL: messages say "exports" */
	expect_error_n("* / bad\n", 8, NULL, 1, "unknown option 'bad'");
}

static void test_fields(void **state)
{
	(void)state;
	expect_error("*\n", 1, "expected NETWORK SUBTREE OPTIONS, found 1 field");
	expect_error("* /\n", 1, "found 2 fields");
	expect_error("* / # ro\n", 1, "found 2 fields");
	expect_error("* / ro rw\n", 1, "more than 3 fields (options take no spaces): 'rw'");
	expect_error("* / ro, rw\n", 1, "more than 3 fields");
	/* tabs and runs of blanks separate fields */
	struct exports *ex = parse_ok("  \t* \t\t/x\t  rw  \t\n");
	assert_string_equal(only_rule(ex)->subtree, "/x");
	exports_free(ex);
}

static void test_comments_and_line_numbers(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("# the exports of a test cluster\n"
				      "\n"
				      "   \t  \n"
				      "   # indented comment\n"
				      "127.0.0.0/8 / rw,password=s3cret   # loopback\n"
				      "#* / rw\n"
				      "* /public ro #\n"
				      "*\t/pub2\tro\t#x\n"
				      "# last line, no newline");
	assert_int_equal(exports_count(ex), 3);
	assert_int_equal(exports_rule(ex, 0)->line, 5);
	assert_int_equal(exports_rule(ex, 1)->line, 7);
	assert_int_equal(exports_rule(ex, 2)->line, 8);
	/* '#' inside a field is not a comment: "ro#" is an option */
	exports_free(ex);
	expect_error("\n\n\n* / ro#comment\n", 4, "unknown option 'ro#comment'");
	/* errors after comments and blank lines count every line */
	expect_error("#1\n#2\n\n\n* / ro\n* / ro\n\n* / ro,\n", 8, "empty option");
	/* a control byte inside a comment is harmless, in a field it is not */
	ex = parse_ok("# bell \a here\n* / ro\n");
	exports_free(ex);
	expect_error("* /a\ab ro\n", 1, "control character 0x07 in field 2");
	expect_error("* / ro\x1b\n", 1, "control character 0x1b in field 3");
	expect_error("* / ro\x7f\n", 1, "control character 0x7f");
	expect_error("* / ro\n* / r\ro\n", 2, "control character 0x0d");
}

static void test_crlf(void **state)
{
	(void)state;
	struct exports *ex = parse_ok("# dos\r\n\r\n"
				      "10.0.0.0/8 /a rw,password=pw\r\n"
				      "* /b ro\r\n");
	assert_int_equal(exports_count(ex), 2);
	const struct export_rule *r = exports_rule(ex, 0);
	assert_int_equal(r->line, 3);
	assert_false(r->ro);
	assert_int_equal(r->password_len, 2);
	assert_memory_equal(r->password, "pw", 2);
	assert_true(exports_rule(ex, 1)->ro);
	exports_free(ex);
	expect_error("* / ro\r\n* / rx\r\n", 2, "unknown option 'rx'");
}

static void test_nul_byte(void **state)
{
	(void)state;
	static const char text[] = "* / ro\n# comment\0 with a NUL\n* / rw\n";
	expect_error_n(text, sizeof(text) - 1, "exports.cfg", 2, "NUL byte");
	static const char text2[] = "* /a\0b ro\n";
	expect_error_n(text2, sizeof(text2) - 1, "exports.cfg", 1, "NUL byte");
	/* len, not the NUL, bounds the text: a text that is not NUL-terminated */
	char raw[7];
	memcpy(raw, "* / rw\n", 7);
	struct exports *ex = NULL;
	char err[256];
	assert_int_equal(exports_parse(raw, 6, "e", &ex, err, sizeof(err)), 0);
	assert_false(only_rule(ex)->ro);
	exports_free(ex);
	/* len 0 with a NULL text is an empty file */
	assert_int_equal(exports_parse(NULL, 0, "e", &ex, err, sizeof(err)), 0);
	assert_int_equal(exports_count(ex), 0);
	exports_free(ex);
}

static void test_long_lines(void **state)
{
	(void)state;
	char *text = malloc(20000);
	assert_non_null(text);
	/* a 10000-byte line */
	strcpy(text, "* / ro\n");
	memset(text + 7, '#', 10000);
	strcpy(text + 7 + 10000, "\n* / rw\n");
	expect_error(text, 2, "line longer than 8191 bytes (10000)");
	/* an 8191-byte line is fine, 8192 is not (the '\r' of CRLF aside) */
	memset(text, '#', 8191);
	strcpy(text + 8191, "\r\n* / ro\n");
	struct exports *ex = parse_ok(text);
	assert_int_equal(only_rule(ex)->line, 2);
	exports_free(ex);
	memset(text, '#', 8192);
	strcpy(text + 8192, "\n");
	expect_error(text, 1, "line longer than 8191 bytes (8192)");
	/* a rule of 8191 bytes: blanks before it */
	memset(text, ' ', 8191 - 6);
	strcpy(text + 8191 - 6, "* / ro");
	ex = parse_ok(text);
	exports_free(ex);
	/* the last line, without '\n' */
	memset(text, '#', 9000);
	text[9000] = '\0';
	expect_error(text, 1, "line longer");
	free(text);
}

static void test_rule_limit(void **state)
{
	(void)state;
	size_t n = EXPORTS_RULES_MAX + 1;
	char *text = malloc(n * 7 + 1);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * 7, "* / ro\n", 7);
	text[(n - 1) * 7] = '\0';
	struct exports *ex = parse_ok(text);
	assert_int_equal(exports_count(ex), EXPORTS_RULES_MAX);
	assert_int_equal(exports_rule(ex, EXPORTS_RULES_MAX - 1)->line, EXPORTS_RULES_MAX);
	exports_free(ex);
	text[(n - 1) * 7] = '*';
	text[n * 7] = '\0';
	expect_error(text, EXPORTS_RULES_MAX + 1, "more than 4096 rules");
	free(text);
}

static void test_passfile(void **state)
{
	(void)state;
	char text[1024], origin[256], err[512];
	struct exports *ex = NULL;
	const struct export_rule *r;

	assert_int_equal(mkdir(strcat(strcpy(origin, tmpdir), "/sub"), 0700), 0);
	write_file("pw1", "first-line\nsecond line\n", 23);
	write_file("sub/pw2", "crlf\r\n", 6);
	write_file("pw3", "no newline", 10);
	write_file("empty", "", 0);
	write_file("blank", "\nsecond\n", 8);
	write_file("crlfonly", "\r\n", 2);
	write_file("nul", "a\0b\n", 4);
	char big[300];
	memset(big, 'k', 255);
	memcpy(big + 255, "\r\n", 2);
	write_file("pw255", big, 257);
	memset(big, 'k', 256);
	big[256] = '\n';
	write_file("pw256", big, 257);
	memset(big, 'k', 300);
	write_file("pw300", big, 300);

	/* relative to the exports file's folder, absolute as is */
	snprintf(origin, sizeof(origin), "%s/exports.cfg", tmpdir);
	snprintf(text, sizeof(text),
		 "* /a passfile=pw1\n"
		 "* /b passfile=sub/pw2\n"
		 "* /c passfile=%s/pw3\n"
		 "* /d rw,passfile=./pw255\n", tmpdir);
	assert_int_equal(exports_parse(text, strlen(text), origin, &ex, err, sizeof(err)), 0);
	assert_int_equal(exports_count(ex), 4);
	r = exports_rule(ex, 0);
	assert_true(r->has_password);
	assert_int_equal(r->password_len, 10);
	assert_memory_equal(r->password, "first-line", 10);
	r = exports_rule(ex, 1);
	assert_int_equal(r->password_len, 4);
	assert_memory_equal(r->password, "crlf", 4);
	r = exports_rule(ex, 2);
	assert_int_equal(r->password_len, 10);
	assert_memory_equal(r->password, "no newline", 10);
	r = exports_rule(ex, 3);
	assert_int_equal(r->password_len, 255);
	assert_false(r->ro);
	exports_free(ex);

	/* the same through exports_load */
	write_file("exports.cfg", text, strlen(text));
	ex = NULL;
	assert_int_equal(exports_load(origin, &ex, err, sizeof(err)), 0);
	assert_int_equal(exports_count(ex), 4);
	exports_free(ex);

	/* an exports file in a subfolder looks there */
	snprintf(origin, sizeof(origin), "%s/sub/exports.cfg", tmpdir);
	ex = NULL;
	assert_int_equal(exports_parse("* / passfile=pw2\n", 17, origin, &ex, err, sizeof(err)), 0);
	assert_int_equal(only_rule(ex)->password_len, 4);
	exports_free(ex);
	char want[512];
	snprintf(want, sizeof(want), "passfile '%s/sub/pw1': No such file or directory", tmpdir);
	expect_error_n("\n* / passfile=pw1\n", 18, origin, 2, want);

	/* errors name the file */
	snprintf(origin, sizeof(origin), "%s/exports.cfg", tmpdir);
	snprintf(want, sizeof(want), "passfile '%s/empty': the first line is empty", tmpdir);
	expect_error_n("* / passfile=empty\n", 19, origin, 1, want);
	expect_error_n("* / passfile=blank\n", 19, origin, 1, "the first line is empty");
	expect_error_n("* / passfile=crlfonly\n", 22, origin, 1, "the first line is empty");
	expect_error_n("* / passfile=nul\n", 17, origin, 1, "contains a NUL byte");
	expect_error_n("* / passfile=pw256\n", 19, origin, 1, "longer than 255 bytes");
	expect_error_n("* / passfile=pw300\n", 19, origin, 1, "longer than 255 bytes");
	expect_error_n("* / passfile=sub\n", 17, origin, 1, "is not a regular file");
	expect_error_n("* / passfile=/dev/null\n", 23, origin, 1,
		       "passfile '/dev/null' is not a regular file");
	expect_error_n("* / passfile=missing\n", 21, origin, 1, "No such file or directory");
	/* origin NULL or without a folder: relative to the cwd */
	expect_error_n("* / passfile=bigfs-no-such-passfile\n", 36, NULL, 1,
		       "passfile 'bigfs-no-such-passfile': No such file");
	expect_error_n("* / passfile=bigfs-no-such-passfile\n", 36, "exports.cfg", 1,
		       "passfile 'bigfs-no-such-passfile': No such file");
	/* an exports file in "/" */
	expect_error_n("* / passfile=bigfs-no-such-passfile\n", 36, "/exports.cfg", 1,
		       "passfile '/bigfs-no-such-passfile'");
}

static void test_load(void **state)
{
	(void)state;
	char path[256], err[512];
	struct exports *ex = (struct exports *)0x1;
	snprintf(path, sizeof(path), "%s/does-not-exist.cfg", tmpdir);
	assert_int_equal(exports_load(path, &ex, err, sizeof(err)), -ENOENT);
	assert_ptr_equal(ex, (struct exports *)0x1);
	assert_non_null(strstr(err, "does-not-exist.cfg: No such file or directory"));

	write_file("bad.cfg", "* / ro\n* / nope\n", 16);
	snprintf(path, sizeof(path), "%s/bad.cfg", tmpdir);
	assert_int_equal(exports_load(path, &ex, err, sizeof(err)), -EINVAL);
	char want[300];
	snprintf(want, sizeof(want), "%s:2: unknown option 'nope'", path);
	assert_string_equal(err, want);

	/* bigger than 16 KiB: the read buffer grows */
	size_t n = 3000;
	char *text = malloc(n * 7);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * 7, "* / ro\n", 7);
	write_file("big.cfg", text, n * 7);
	free(text);
	snprintf(path, sizeof(path), "%s/big.cfg", tmpdir);
	ex = NULL;
	assert_int_equal(exports_load(path, &ex, err, sizeof(err)), 0);
	assert_int_equal(exports_count(ex), n);
	exports_free(ex);

	/* a directory */
	assert_true(exports_load(tmpdir, &ex, err, sizeof(err)) < 0);
}

static void test_default(void **state)
{
	(void)state;
	struct exports *ex = NULL;
	assert_int_equal(exports_default(&ex), 0);
	const struct export_rule *r = only_rule(ex);
	assert_int_equal(r->net, 0);
	assert_int_equal(r->mask, 0);
	assert_string_equal(r->subtree, "/");
	assert_false(r->ro);
	assert_false(r->maproot);
	assert_false(r->mapall);
	assert_false(r->has_password);
	assert_int_equal(r->mingoal, 1);
	assert_int_equal(r->maxgoal, 16);
	assert_ptr_equal(exports_match(ex, IP(203, 0, 113, 9), "/any/path"), r);
	exports_free(ex);
	exports_free(NULL);
	assert_int_equal(exports_count(NULL), 0);
	assert_null(exports_rule(NULL, 0));
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rnd_state >> 33) % n;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

/* Random texts: lines of NETWORK SUBTREE OPTIONS from the file's own
 * vocabulary, now and then a random byte put in or a field left out.
 * Each text either parses (then its rules hold their invariants and
 * match without harm) or fails with a message; ASan and UBSan do the
 * rest. */
static void test_random_inputs(void **state)
{
	(void)state;
	static const char *nets[] = {
		"*", "10.0.0.0/8", "1.2.3.4", "0.0.0.0/0.0.0.0", "255.255.255.255/32",
		"10.1.2.3/255.255.0.0", "10.0.0.0/33", "1.2.3", "# c",
	};
	static const char *subs[] = { "/", "/a//b/./", "/..", "/a", "rel", "//", "/a/#b" };
	static const char *opts[] = {
		"rw", "ro", "maproot=0", "mapall=root:root", "maproot=1:2", "password=x#y",
		"passfile=/dev/null", "mingoal=1", "maxgoal=16", "mingoal=3", "maxgoal=2",
		"", "=", "mapall=", "bogus",
	};
	static const char *seps[] = { " ", "\t", "  \t " };
	static const char *ends[] = { "\n", "\r\n", "\n\n", " # end\n", "" };
	char text[2048], err[256];
	int parsed = 0, rules = 0;
	for (int iter = 0; iter < 5000; iter++) {
		size_t len = 0;
		unsigned lines = 1 + rnd(6);
		for (unsigned l = 0; l < lines && len < sizeof(text) - 256; l++) {
			char line[200];
			int n = snprintf(line, sizeof(line), "%s%s%s%s", PICK(nets), PICK(seps),
					 PICK(subs), PICK(seps));
			unsigned no = 1 + rnd(3);
			for (unsigned o = 0; o < no; o++)
				n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s", o ? "," : "",
					      PICK(opts));
			n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", PICK(ends));
			if (rnd(8) == 0)
				line[rnd((unsigned)n)] = (char)rnd(256);
			memcpy(text + len, line, (size_t)n);
			len += (size_t)n;
		}
		struct exports *ex = NULL;
		int rc = exports_parse(text, len, "fuzz.cfg", &ex, err, sizeof(err));
		if (rc == 0) {
			parsed++;
			rules += (int)exports_count(ex);
			for (size_t i = 0; i < exports_count(ex); i++) {
				const struct export_rule *r = exports_rule(ex, i);
				assert_true(r->mingoal >= 1 && r->mingoal <= r->maxgoal &&
					    r->maxgoal <= 16);
				assert_false(r->maproot && r->mapall);
				assert_int_equal(r->net & ~r->mask, 0);
				assert_true(r->password_len <= 255);
				assert_true(r->subtree[0] == '/');
			}
			exports_match(ex, rnd(0xffffffffu), "/a/b");
			exports_free(ex);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_true(strncmp(err, "fuzz.cfg:", 9) == 0);
		}
	}
	print_message("%d of 5000 texts parsed, %d rules\n", parsed, rules);
	assert_true(parsed > 0 && parsed < 5000 && rules > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_forms),
		cmocka_unit_test(test_network_errors),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_subtree_containment),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_subtree_in_file),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_comments_and_line_numbers),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_rule_limit),
		cmocka_unit_test(test_passfile),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_random_inputs),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
