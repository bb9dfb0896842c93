/* kafka_opts — pass-through librdkafka settings (kafka_opts.h).
 *
 * Owns nothing; each call works on the configuration it is given (or a
 * scratch one it frees). Any thread. */
#include "kafka_opts.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int kafka_opts_apply(rd_kafka_conf_t *conf, const struct kafka_opts *o, char *err,
		     size_t errlen)
{
	if (!o)
		return 0;
	for (size_t i = 0; i < o->n; i++) {
		const char *kv = o->kv[i], *eq = strchr(kv, '=');
		char key[256], why[512];
		if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
			snprintf(err, errlen, "--kafka-opt '%s': expected KEY=VALUE", kv);
			return -EINVAL;
		}
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = '\0';
		if (rd_kafka_conf_set(conf, key, eq + 1, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "--kafka-opt %s: %s", key, why);
			return -EINVAL;
		}
	}
	return 0;
}

int kafka_opts_load(const struct config *cfg, struct kafka_opts *o, char *err, size_t errlen)
{
	size_t n = config_get_list(cfg, KAFKA_OPTS_KEY, o->kv, KAFKA_OPTS_MAX);
	if (n > KAFKA_OPTS_MAX) {
		snprintf(err, errlen, "more than %d --kafka-opt", KAFKA_OPTS_MAX);
		return -EINVAL;
	}
	o->n = n;
	return kafka_opts_check(o, err, errlen);
}

int kafka_opts_check(const struct kafka_opts *o, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = kafka_opts_apply(conf, o, err, errlen);
	rd_kafka_conf_destroy(conf);
	return rc;
}
