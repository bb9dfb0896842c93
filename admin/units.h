/* units — sizes, counts, durations and rates as an operator types and
 * reads them.
 *
 * Parsing (what `bigfs quota set --bytes 10G --grace 7d` accepts):
 *   sizes      "4096", "10G", "512M", "1.5G", "1T", "10GiB", "10gb", "2k":
 *              binary units K M G T P E (1024^n, case ignored, an optional
 *              "i" and "B" after), a fraction only with a unit; the result
 *              is rounded down to whole bytes.
 *   counts     "100000", "100k", "1.5M": decimal units K M G (1000^n).
 *   durations  "90" (seconds), "30s", "15m", "2h", "7d", "1w", and sums
 *              such as "1h30m" or "1d12h".
 * Every parser takes the whole string (no blanks, no sign) and returns 0
 * with *ret, -EINVAL for anything malformed, -ERANGE for a value above
 * 2^64-1; *ret is untouched on failure.
 *
 * Formatting writes into a caller's buffer (always NUL-terminated,
 * truncated to cap) and returns it, so it can sit inside a printf:
 *   sizes      "0 B", "512 B", "1.5 GiB"        (1024^n, one decimal)
 *   rates      "12.3 MiB/s"
 *   durations  "45s", "5m 03s", "2h 05m", "3d 04h", "7d"
 * Pure functions, no state, any thread. */
#ifndef BIGFS_ADMIN_UNITS_H
#define BIGFS_ADMIN_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define UNITS_BUF 32     /* enough for any formatted value */

int units_parse_size(const char *s, uint64_t *ret);
int units_parse_count(const char *s, uint64_t *ret);
int units_parse_duration(const char *s, uint64_t *ret_s);

const char *units_fmt_size(uint64_t bytes, char *out, size_t cap);
const char *units_fmt_rate(double bytes_per_s, char *out, size_t cap);
const char *units_fmt_duration(uint64_t s, char *out, size_t cap);

#endif
