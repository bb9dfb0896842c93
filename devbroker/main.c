/* bigfs-devbroker — a Kafka-protocol broker for development and tests.
 *
 *   bigfs-devbroker [--addr-file FILE] [--brokers N]
 *
 * librdkafka's mock cluster (rdkafka_mock.h) in a process of its own, so
 * that it outlives any master: several masters (docs/metalog.md) share
 * its metadata log and fail over. It keeps everything in memory and is
 * gone when it stops, so it is a development broker only: a real
 * deployment uses a real Kafka (docker-compose.yml). The mock keeps at most
 * 5 MB per partition (older records go, as retention would): masters on it
 * want --checkpoint-mb 1. It creates the BigFS topics (one partition each,
 * but bigfs.checkpoints gets 64 so a checkpoint of up to about 300 MB of
 * compressed metadata fits), prints its bootstrap address on stdout and
 * into FILE (written atomically), and runs until SIGTERM or SIGINT. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const topics[] = {
	"bigfs.metalog", "bigfs.checkpoints", "bigfs.checkpoint-index",
	"bigfs.worker-status", "bigfs.events",
};

static int write_addr(const char *path, const char *addr)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", addr);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr_file = NULL;
	int nbrokers = 1;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--addr-file") == 0 && i + 1 < argc) {
			addr_file = argv[++i];
		} else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
			nbrokers = atoi(argv[++i]);
			if (nbrokers < 1 || nbrokers > 9) {
				fputs("bigfs-devbroker: --brokers is 1 to 9\n", stderr);
				return 2;
			}
		} else {
			fputs("usage: bigfs-devbroker [--addr-file FILE] [--brokers N]\n"
			      "A development Kafka broker (librdkafka's mock cluster, in memory).\n",
			      stderr);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "bigfs-devbroker: %s\n", err);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "bigfs-devbroker: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (!mc) {
		fputs("bigfs-devbroker: the mock cluster did not start\n", stderr);
		return 1;
	}
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		int parts = strcmp(topics[i], "bigfs.checkpoints") == 0 ? 64 : 1;
		rd_kafka_resp_err_t e =
			rd_kafka_mock_topic_create(mc, topics[i], parts, nbrokers < 3 ? nbrokers : 3);
		if (e) {
			fprintf(stderr, "bigfs-devbroker: cannot create %s: %s\n", topics[i],
				rd_kafka_err2str(e));
			return 1;
		}
	}
	const char *addr = rd_kafka_mock_cluster_bootstraps(mc);
	if (addr_file && write_addr(addr_file, addr) < 0) {
		fprintf(stderr, "bigfs-devbroker: cannot write %s: %s\n", addr_file,
			strerror(errno));
		return 1;
	}
	printf("%s\n", addr);
	fflush(stdout);
	fprintf(stderr, "bigfs-devbroker: development Kafka broker (in memory) at %s\n", addr);
	int sig;
	while (sigwait(&sigs, &sig) != 0)
		;
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
