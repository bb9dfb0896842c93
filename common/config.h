/* config — command-line flags and an optional key=value file.
 *
 * Every daemon flag is `--key value` or `--key=value`; `--config FILE`
 * loads FILE (lines `key = value`, `#` comments). Flags win over the file,
 * whatever their order. Getters are typed, take a default, and validate
 * ranges; a bad value is reported once with its key. Not thread-safe for
 * writes: load everything in main() before starting threads. */
#ifndef BIGFS_CONFIG_H
#define BIGFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* Returns NULL only on out-of-memory. */
struct config *config_new(void);
void config_free(struct config *cfg);

/* Parse argv[1..]. Flags must be `--key value`, `--key=value` or a bare
 * `--key` (meaning "true" when the next word starts with "--" or is
 * absent). `-h`/`--help` set key "help". Words that are not flags are
 * returned in order through positional[] (at most max_pos; extra ones are
 * an error). Returns 0, or -EINVAL with a message on stderr. */
int config_parse_args(struct config *cfg, int argc, char **argv,
		      const char **positional, int max_pos, int *ret_npos);

/* Load a key=value file; keys already set (e.g. by flags) are kept.
 * Returns 0, or -errno (message on stderr naming the file and line). */
int config_load_file(struct config *cfg, const char *path);

/* Set key to a copy of value, replacing any earlier value. */
void config_set(struct config *cfg, const char *key, const char *value);

/* Make key repeatable (call before parsing): each `--key VALUE` and each
 * file line `key = VALUE` adds one more value instead of replacing it. At
 * most CONFIG_REPEATABLE_MAX keys. */
#define CONFIG_REPEATABLE_MAX 8
void config_set_repeatable(struct config *cfg, const char *key);

/* The values of a repeatable key, the file's first, then the flags' (a
 * later value can then override an earlier one where order matters).
 * Fills up to max borrowed pointers into ret[]; returns how many values
 * there are (may exceed max). */
size_t config_get_list(const struct config *cfg, const char *key, const char **ret,
		       size_t max);

/* Borrowed pointer, valid until the key is set again or cfg is freed. */
const char *config_get_str(const struct config *cfg, const char *key, const char *def);

/* Integer with optional suffix k/m/g/t (powers of 1024).
 * Out of [min,max] or unparsable: -EINVAL and a message. */
int config_get_int(const struct config *cfg, const char *key, int64_t def,
		   int64_t min, int64_t max, int64_t *ret);
bool config_get_bool(const struct config *cfg, const char *key, bool def);

/* Keys present in cfg that are not in known[] (NULL-terminated): each is
 * reported on stderr; returns their count so main() can refuse typos. */
int config_check_known(const struct config *cfg, const char *const known[]);

#endif
