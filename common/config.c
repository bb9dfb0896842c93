/* config — flags and key=value files (config.h).
 *
 * State: a small array of (key, value, from_file) pairs owned by the
 * struct. Keys are stored with '-' and '_' treated alike ("worker-timeout"
 * and "worker_timeout" are one key), so flags and file lines can use
 * either spelling. A repeatable key may have several entries (each marked
 * with where it came from). Single-threaded by contract. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct config_entry {
	char *key;
	char *value;
	bool from_file;
};

struct config {
	struct config_entry *v;
	size_t n, cap;
	const char *repeatable[CONFIG_REPEATABLE_MAX];
	size_t nrepeatable;
};

struct config *config_new(void)
{
	return calloc(1, sizeof(struct config));
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->v[i].key);
		free(cfg->v[i].value);
	}
	free(cfg->v);
	free(cfg);
}

static bool key_eq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char ca = *a == '_' ? '-' : *a, cb = *b == '_' ? '-' : *b;
		if (ca != cb)
			return false;
		if (!ca)
			return true;
	}
}

static struct config_entry *config_find(const struct config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (key_eq(cfg->v[i].key, key))
			return &cfg->v[i];
	return NULL;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return d;
}

static bool is_repeatable(const struct config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->nrepeatable; i++)
		if (key_eq(cfg->repeatable[i], key))
			return true;
	return false;
}

void config_set_repeatable(struct config *cfg, const char *key)
{
	if (cfg->nrepeatable < CONFIG_REPEATABLE_MAX)
		cfg->repeatable[cfg->nrepeatable++] = key;
}

static void config_append(struct config *cfg, const char *key, const char *value,
			  bool from_file)
{
	if (cfg->n == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 16;
		struct config_entry *v = realloc(cfg->v, cap * sizeof(*v));
		if (!v) {
			fprintf(stderr, "out of memory\n");
			abort();
		}
		cfg->v = v;
		cfg->cap = cap;
	}
	cfg->v[cfg->n].key = xstrdup(key);
	cfg->v[cfg->n].value = xstrdup(value);
	cfg->v[cfg->n].from_file = from_file;
	cfg->n++;
}

void config_set(struct config *cfg, const char *key, const char *value)
{
	struct config_entry *e = is_repeatable(cfg, key) ? NULL : config_find(cfg, key);
	if (e) {
		free(e->value);
		e->value = xstrdup(value);
		return;
	}
	config_append(cfg, key, value, false);
}

size_t config_get_list(const struct config *cfg, const char *key, const char **ret,
		       size_t max)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cfg->n; i++)
			if (cfg->v[i].from_file == (pass == 0) && key_eq(cfg->v[i].key, key)) {
				if (n < max)
					ret[n] = cfg->v[i].value;
				n++;
			}
	return n;
}

int config_parse_args(struct config *cfg, int argc, char **argv,
		      const char **positional, int max_pos, int *ret_npos)
{
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			config_set(cfg, "help", "true");
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (npos >= max_pos) {
				fprintf(stderr, "unexpected argument: %s\n", a);
				return -EINVAL;
			}
			positional[npos++] = a;
			continue;
		}
		const char *key = a + 2;
		const char *eq = strchr(key, '=');
		if (eq) {
			char k[128];
			size_t klen = (size_t)(eq - key);
			if (klen == 0 || klen >= sizeof(k)) {
				fprintf(stderr, "bad option: %s\n", a);
				return -EINVAL;
			}
			memcpy(k, key, klen);
			k[klen] = '\0';
			config_set(cfg, k, eq + 1);
		} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
			config_set(cfg, key, argv[++i]);
		} else {
			config_set(cfg, key, "true");
		}
	}
	if (ret_npos)
		*ret_npos = npos;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int err = errno;
		fprintf(stderr, "cannot read config file %s: %s\n", path, strerror(err));
		return -err;
	}
	char line[4096];
	int lineno = 0, ret = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "%s:%d: expected 'key = value'\n", path, lineno);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		if (*key == '\0') {
			fprintf(stderr, "%s:%d: empty key\n", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (is_repeatable(cfg, key))
			config_append(cfg, key, value, true);
		else if (!config_find(cfg, key))
			config_set(cfg, key, value);
	}
	fclose(f);
	return ret;
}

const char *config_get_str(const struct config *cfg, const char *key, const char *def)
{
	const struct config_entry *e = config_find(cfg, key);
	return e ? e->value : def;
}

int config_get_int(const struct config *cfg, const char *key, int64_t def,
		   int64_t min, int64_t max, int64_t *ret)
{
	const struct config_entry *e = config_find(cfg, key);
	if (!e) {
		*ret = def;
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(e->value, &end, 10);
	if (errno || end == e->value)
		goto out_bad;
	int64_t mul = 1;
	if (strcasecmp(end, "k") == 0)
		mul = 1LL << 10;
	else if (strcasecmp(end, "m") == 0)
		mul = 1LL << 20;
	else if (strcasecmp(end, "g") == 0)
		mul = 1LL << 30;
	else if (strcasecmp(end, "t") == 0)
		mul = 1LL << 40;
	else if (*end != '\0')
		goto out_bad;
	if (v > INT64_MAX / mul || v < INT64_MIN / mul)
		goto out_bad;
	v *= mul;
	if (v < min || v > max) {
		fprintf(stderr, "option %s=%s out of range [%" PRId64 ", %" PRId64 "]\n", key,
			e->value, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
out_bad:
	fprintf(stderr, "option %s=%s is not an integer\n", key, e->value);
	return -EINVAL;
}

bool config_get_bool(const struct config *cfg, const char *key, bool def)
{
	const struct config_entry *e = config_find(cfg, key);
	if (!e)
		return def;
	return strcasecmp(e->value, "true") == 0 || strcasecmp(e->value, "yes") == 0 ||
	       strcmp(e->value, "1") == 0 || strcasecmp(e->value, "on") == 0;
}

int config_check_known(const struct config *cfg, const char *const known[])
{
	int unknown = 0;
	for (size_t i = 0; i < cfg->n; i++) {
		bool ok = false;
		for (size_t k = 0; known[k]; k++)
			if (key_eq(cfg->v[i].key, known[k]))
				ok = true;
		if (!ok) {
			fprintf(stderr, "unknown option: %s\n", cfg->v[i].key);
			unknown++;
		}
	}
	return unknown;
}
