/* Unit tests of admin/units: sizes with binary units and fractions
 * ("1.5G" exactly), counts with decimal units, durations and their sums,
 * every malformed spelling refused with the output untouched, overflow
 * at 2^64 refused, and the formatting of sizes, rates and durations at
 * their unit boundaries. Through the public API (units.h) only. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/units.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

static void check_size(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;
	int rc = units_parse_size(s, &v);
	if (rc != 0 || v != want)
		fail_msg("size '%s': rc %d value %llu, want %llu", s, rc, (unsigned long long)v,
			 (unsigned long long)want);
}

static void check_size_bad(const char *s, int want_rc)
{
	uint64_t v = SENTINEL;
	int rc = units_parse_size(s, &v);
	if (rc != want_rc || v != SENTINEL)
		fail_msg("size '%s': rc %d (want %d), value %s", s, rc, want_rc,
			 v == SENTINEL ? "untouched" : "CHANGED");
}

static void test_size_plain_and_units(void **state)
{
	(void)state;
	check_size("0", 0);
	check_size("4096", 4096);
	check_size("10B", 10);
	check_size("2k", 2048);
	check_size("2K", 2048);
	check_size("512M", 512ULL << 20);
	check_size("10G", 10ULL << 30);
	check_size("10g", 10ULL << 30);
	check_size("10GiB", 10ULL << 30);
	check_size("10Gi", 10ULL << 30);
	check_size("10gb", 10ULL << 30);
	check_size("1T", 1ULL << 40);
	check_size("3P", 3ULL << 50);
	check_size("1E", 1ULL << 60);
	check_size("15E", 15ULL << 60);
	check_size("18446744073709551615", UINT64_MAX);
	check_size("007", 7);
}

static void test_size_fractions_exact(void **state)
{
	(void)state;
	check_size("1.5G", 1610612736ULL);          /* 1.5 * 2^30 exactly */
	check_size("0.5K", 512);
	check_size("1.1K", 1126);                   /* 1126.4 rounded down */
	check_size("2.25M", 2359296);
	check_size("0.001T", 1099511627);           /* 1099511627.776 */
	check_size("15.9999E", (15ULL << 60) + (uint64_t)((unsigned __int128)9999 * (1ULL << 60) / 10000));
	/* the largest fraction below 16E still fits */
	check_size("15.999999999999999999E", UINT64_MAX - 1);
	/* more fraction digits than a byte needs: the tail is ignored */
	check_size("1.0000000000000000000000001G", 1ULL << 30);
}

static void test_size_malformed(void **state)
{
	(void)state;
	const char *bad[] = {"", "G", "-1", "+1", " 1", "1 ", "1 G", "1G ", "1.G", ".5G",
			     "1.5", "1.5B", "1Gx", "1GiBB", "1Gi B", "1Z", "1..5G", "1,5G",
			     "0x10", "1e3", "10Bi", "1iB"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_size_bad(bad[i], -EINVAL);
	check_size_bad(NULL, -EINVAL);
}

static void test_size_overflow(void **state)
{
	(void)state;
	check_size_bad("18446744073709551616", -ERANGE);
	check_size_bad("16E", -ERANGE);
	check_size_bad("99999999999999999999999G", -ERANGE);
	check_size_bad("16384P", -ERANGE);
}

static void test_count(void **state)
{
	(void)state;
	uint64_t v = SENTINEL;
	struct { const char *s; uint64_t want; } ok[] = {
		{"0", 0}, {"100000", 100000}, {"100k", 100000}, {"100K", 100000},
		{"1.5M", 1500000}, {"2G", 2000000000ULL}, {"0.5k", 500},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = SENTINEL;
		assert_int_equal(units_parse_count(ok[i].s, &v), 0);
		assert_true(v == ok[i].want);
	}
	const char *bad[] = {"", "k", "1.5", "1T", "1KiB", "1kb", "-3", "1 k", "1k "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = SENTINEL;
		if (units_parse_count(bad[i], &v) != -EINVAL || v != SENTINEL)
			fail_msg("count '%s' accepted or output changed", bad[i]);
	}
	v = SENTINEL;
	assert_int_equal(units_parse_count("18446744073709552G", &v), -ERANGE);
	assert_true(v == SENTINEL);
}

static void test_duration(void **state)
{
	(void)state;
	struct { const char *s; uint64_t want; } ok[] = {
		{"0", 0}, {"90", 90}, {"30s", 30}, {"15m", 900}, {"2h", 7200}, {"7d", 604800},
		{"1w", 604800}, {"1h30m", 5400}, {"1d12h", 129600}, {"1w1d1h1m1s", 694861},
		{"0s", 0}, {"100000m", 6000000},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = SENTINEL;
		int rc = units_parse_duration(ok[i].s, &v);
		if (rc != 0 || v != ok[i].want)
			fail_msg("duration '%s': rc %d value %llu", ok[i].s, rc, (unsigned long long)v);
	}
	const char *bad[] = {"", "s", "1x", "1h30", "1.5h", "-1s", "1 h", "1h ", " 1h", "1H",
			     "1hh", "h1", "1d-1h", "1M"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = SENTINEL;
		int rc = units_parse_duration(bad[i], &v);
		if (rc != -EINVAL || v != SENTINEL)
			fail_msg("duration '%s': rc %d, output %s", bad[i], rc,
				 v == SENTINEL ? "untouched" : "changed");
	}
	uint64_t v = SENTINEL;
	assert_int_equal(units_parse_duration("18446744073709551615w", &v), -ERANGE);
	assert_int_equal(units_parse_duration("18446744073709551615s1s", &v), -ERANGE);
	assert_int_equal(units_parse_duration("99999999999999999999", &v), -ERANGE);
	assert_true(v == SENTINEL);
	assert_int_equal(units_parse_duration(NULL, &v), -EINVAL);
}

static void test_fmt_size(void **state)
{
	(void)state;
	char b[UNITS_BUF];
	struct { uint64_t v; const char *want; } cases[] = {
		{0, "0 B"}, {1, "1 B"}, {512, "512 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"},
		{1536, "1.5 KiB"}, {1048575, "1.0 MiB"}, {1048576, "1.0 MiB"},
		{1610612736ULL, "1.5 GiB"}, {10ULL << 30, "10.0 GiB"}, {1ULL << 40, "1.0 TiB"},
		{1ULL << 60, "1.0 EiB"}, {UINT64_MAX, "16.0 EiB"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r = units_fmt_size(cases[i].v, b, sizeof(b));
		assert_ptr_equal(r, b);
		assert_string_equal(b, cases[i].want);
	}
	char small[4];
	units_fmt_size(1536, small, sizeof(small));
	assert_string_equal(small, "1.5");        /* cut, still a string */
}

static void test_fmt_rate(void **state)
{
	(void)state;
	char b[UNITS_BUF];
	assert_string_equal(units_fmt_rate(12.3 * 1048576, b, sizeof(b)), "12.3 MiB/s");
	assert_string_equal(units_fmt_rate(0, b, sizeof(b)), "0 B/s");
	assert_string_equal(units_fmt_rate(-5, b, sizeof(b)), "0 B/s");
	assert_string_equal(units_fmt_rate(NAN, b, sizeof(b)), "0 B/s");
	assert_string_equal(units_fmt_rate(999.6, b, sizeof(b)), "1000 B/s");
	assert_string_equal(units_fmt_rate(1e300, b, sizeof(b)), "15.6 EiB/s");
}

static void test_fmt_duration(void **state)
{
	(void)state;
	char b[UNITS_BUF];
	struct { uint64_t v; const char *want; } cases[] = {
		{0, "0s"}, {59, "59s"}, {60, "1m"}, {61, "1m 01s"}, {3599, "59m 59s"},
		{3600, "1h"}, {3661, "1h 01m"}, {86399, "23h 59m"}, {86400, "1d"},
		{90000, "1d 01h"}, {604800, "7d"}, {UINT64_MAX, "213503982334601d 07h"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(units_fmt_duration(cases[i].v, b, sizeof(b)), cases[i].want);
}

/* What is printed parses back to the same number (durations exactly;
 * for whole units sizes too). */
static void test_round_trip(void **state)
{
	(void)state;
	char b[UNITS_BUF];
	uint64_t v;
	for (uint64_t s = 0; s < 3 * 86400; s += 37) {
		units_fmt_duration(s, b, sizeof(b));
		char compact[UNITS_BUF];
		size_t n = 0;
		for (const char *p = b; *p; p++)
			if (*p != ' ')
				compact[n++] = *p;
		compact[n] = '\0';
		assert_int_equal(units_parse_duration(compact, &v), 0);
		if (s < 3600)
			assert_true(v == s);
		else
			assert_true(v <= s && s - v < (s < 86400 ? 60u : 3600u));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain_and_units),
		cmocka_unit_test(test_size_fractions_exact),
		cmocka_unit_test(test_size_malformed),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_fmt_size),
		cmocka_unit_test(test_fmt_rate),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
