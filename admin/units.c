/* units — parse and print sizes, counts, durations and rates (units.h).
 *
 * Numbers are parsed with integer arithmetic only: "1.5G" is
 * 1 * 2^30 + 5 * 2^30 / 10, so a value an operator types exactly is
 * stored exactly, and every multiplication is checked for overflow.
 * Stateless. */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FRAC_DIGITS_MAX 18      /* 10^18 < 2^64 */

/* a * b + c without overflow: 0, or -ERANGE. */
static int mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t *ret)
{
	uint64_t p;
	if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(p, c, &p))
		return -ERANGE;
	*ret = p;
	return 0;
}

/* A decimal number at the start of s: digits, then optionally '.' and
 * digits (only if allow_frac). Fills the integer part, the fraction's
 * digits as an integer and their count, and where the number ends.
 * -EINVAL if s does not start with a digit or the fraction is empty,
 * -ERANGE if the integer part overflows. */
static int parse_decimal(const char *s, bool allow_frac, uint64_t *ret_int, uint64_t *ret_frac,
			 unsigned *ret_frac_digits, const char **ret_end)
{
	uint64_t v = 0, frac = 0;
	unsigned nfrac = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++)
		if (mul_add(v, 10, (uint64_t)(*p - '0'), &v) < 0)
			return -ERANGE;
	if (*p == '.' && allow_frac) {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (nfrac == FRAC_DIGITS_MAX)
				continue;          /* finer than a byte anyway */
			frac = frac * 10 + (uint64_t)(*p - '0');
			nfrac++;
		}
	}
	*ret_int = v;
	*ret_frac = frac;
	*ret_frac_digits = nfrac;
	*ret_end = p;
	return 0;
}

/* int + frac / 10^nfrac, times mult, rounded down. */
static int scale(uint64_t whole, uint64_t frac, unsigned nfrac, uint64_t mult, uint64_t *ret)
{
	uint64_t v, pow10 = 1, part;
	if (mul_add(whole, mult, 0, &v) < 0)
		return -ERANGE;
	for (unsigned i = 0; i < nfrac; i++)
		pow10 *= 10;
	/* frac * mult / pow10 without overflowing frac * mult: frac < pow10 */
	unsigned __int128 f = (unsigned __int128)frac * mult / pow10;
	part = (uint64_t)f;
	if (__builtin_add_overflow(v, part, &v))
		return -ERANGE;
	*ret = v;
	return 0;
}

/* The power of base that a unit letter names: K 1, M 2, G 3, T 4, P 5, E 6;
 * -1 for anything else. */
static int unit_power(char c)
{
	static const char letters[] = "KMGTPE";
	const char *at = c ? strchr(letters, toupper((unsigned char)c)) : NULL;
	return at ? (int)(at - letters) + 1 : -1;
}

int units_parse_size(const char *s, uint64_t *ret)
{
	uint64_t whole, frac, mult = 1, v;
	unsigned nfrac;
	const char *p;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_decimal(s, true, &whole, &frac, &nfrac, &p);
	if (rc < 0)
		return rc;
	int pw = unit_power(*p);
	if (pw > 0) {
		p++;
		for (int i = 0; i < pw; i++)
			mult *= 1024;
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'B' || *p == 'b')
			p++;
	} else if (*p == 'B' || *p == 'b') {
		p++;
		if (nfrac)
			return -EINVAL;       /* "1.5B": a byte does not split */
	} else if (nfrac) {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	rc = scale(whole, frac, nfrac, mult, &v);
	if (rc < 0)
		return rc;
	*ret = v;
	return 0;
}

int units_parse_count(const char *s, uint64_t *ret)
{
	uint64_t whole, frac, mult = 1, v;
	unsigned nfrac;
	const char *p;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_decimal(s, true, &whole, &frac, &nfrac, &p);
	if (rc < 0)
		return rc;
	int pw = unit_power(*p);
	if (pw > 0 && pw <= 3) {
		p++;
		for (int i = 0; i < pw; i++)
			mult *= 1000;
	} else if (nfrac) {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	rc = scale(whole, frac, nfrac, mult, &v);
	if (rc < 0)
		return rc;
	*ret = v;
	return 0;
}

int units_parse_duration(const char *s, uint64_t *ret_s)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		uint64_t n, frac, mult;
		unsigned nfrac;
		int rc = parse_decimal(p, false, &n, &frac, &nfrac, &p);
		if (rc < 0)
			return rc;
		switch (*p) {
		case '\0':
			if (p != s + strspn(s, "0123456789"))
				return -EINVAL;   /* "1h30": a bare number only alone */
			mult = 1;
			break;
		case 's': mult = 1; p++; break;
		case 'm': mult = 60; p++; break;
		case 'h': mult = 3600; p++; break;
		case 'd': mult = 86400; p++; break;
		case 'w': mult = 604800; p++; break;
		default:
			return -EINVAL;
		}
		uint64_t part;
		if (mul_add(n, mult, 0, &part) < 0 || __builtin_add_overflow(total, part, &total))
			return -ERANGE;
	}
	*ret_s = total;
	return 0;
}

const char *units_fmt_size(uint64_t bytes, char *out, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	/* 1023.96 KiB would print as "1024.0 KiB": say 1.0 MiB */
	if (u > 0 && u < 6 && v >= 1023.95) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return out;
}

const char *units_fmt_rate(double bytes_per_s, char *out, size_t cap)
{
	char sz[UNITS_BUF];
	if (!(bytes_per_s > 0))          /* also NaN */
		bytes_per_s = 0;
	if (bytes_per_s > 1.8e19)
		bytes_per_s = 1.8e19;
	units_fmt_size((uint64_t)(bytes_per_s + 0.5), sz, sizeof(sz));
	snprintf(out, cap, "%s/s", sz);
	return out;
}

const char *units_fmt_duration(uint64_t s, char *out, size_t cap)
{
	unsigned long long big, small;
	const char *bu, *su;

	if (s < 60) {
		snprintf(out, cap, "%llus", (unsigned long long)s);
		return out;
	}
	if (s < 3600) {
		big = s / 60, small = s % 60, bu = "m", su = "s";
	} else if (s < 86400) {
		big = s / 3600, small = s % 3600 / 60, bu = "h", su = "m";
	} else {
		big = s / 86400, small = s % 86400 / 3600, bu = "d", su = "h";
	}
	if (small)
		snprintf(out, cap, "%llu%s %02llu%s", big, bu, small, su);
	else
		snprintf(out, cap, "%llu%s", big, bu);
	return out;
}
