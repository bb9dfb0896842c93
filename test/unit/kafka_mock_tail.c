/* kafka_mock_tail — test helper for test/unit/worker_smoke.py (not a unit
 * test; built by the smoke script with gcc). Starts librdkafka's mock
 * cluster, prints "BOOTSTRAP host:port" and then one line
 * "KEY <tab> VALUE" per message on the topic given as argv[1], until
 * SIGTERM. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *topic = argc > 1 ? argv[1] : "bigfs.worker-status";
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *holder, *consumer;
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_topic_partition_list_t *parts;
	const char *boot;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!holder)
		return 1;
	mc = rd_kafka_mock_cluster_new(holder, 1);
	if (!mc)
		return 1;
	rd_kafka_mock_topic_create(mc, topic, 1, 1);
	boot = rd_kafka_mock_cluster_bootstraps(mc);
	printf("BOOTSTRAP %s\n", boot);
	fflush(stdout);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "tail", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!consumer)
		return 1;
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(consumer, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	while (!stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);

		if (!m)
			continue;
		if (!m->err)
			printf("%.*s\t%.*s\n", (int)m->key_len, (const char *)m->key, (int)m->len,
			       (const char *)m->payload);
		fflush(stdout);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(consumer);
	rd_kafka_destroy(consumer);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(holder);
	return 0;
}
