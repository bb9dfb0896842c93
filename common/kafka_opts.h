/* kafka_opts — librdkafka settings passed through from the command line.
 *
 * `--kafka-opt KEY=VALUE` (repeatable) on the master and the workers is
 * handed to rd_kafka_conf_set() for every Kafka client they create, after
 * BigFS's own settings, so a real Kafka cluster's TLS and SASL work:
 * security.protocol=SSL|SASL_SSL, ssl.ca.location=FILE,
 * ssl.certificate.location=FILE, ssl.key.location=FILE,
 * sasl.mechanism=PLAIN|SCRAM-SHA-256|..., sasl.username=..., and so on.
 * Stateless; the strings are borrowed. */
#ifndef BIGFS_KAFKA_OPTS_H
#define BIGFS_KAFKA_OPTS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define KAFKA_OPTS_MAX 64
#define KAFKA_OPTS_KEY "kafka-opt"

struct config;

struct kafka_opts {
	const char *kv[KAFKA_OPTS_MAX];   /* "KEY=VALUE", borrowed */
	size_t n;
};

/* Read the repeatable `kafka-opt` key of cfg (the caller has made it
 * repeatable with config_set_repeatable before parsing) into o and check
 * it (kafka_opts_check). o borrows cfg's strings. Same returns. */
int kafka_opts_load(const struct config *cfg, struct kafka_opts *o, char *err, size_t errlen);

/* Set every KEY=VALUE of o on conf, in order. Returns 0, or -EINVAL with
 * a sentence naming the option in err (conf is then half-set; the caller
 * destroys it). o may be NULL. */
int kafka_opts_apply(rd_kafka_conf_t *conf, const struct kafka_opts *o, char *err,
		     size_t errlen);

/* Check o on a scratch configuration, so a bad key or value is reported
 * at start, before any client is made. Same returns. */
int kafka_opts_check(const struct kafka_opts *o, char *err, size_t errlen);

#endif
