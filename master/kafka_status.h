/* kafka_status — the master's Kafka side: the embedded broker (librdkafka
 * mock cluster) when no brokers are given, the consumer of
 * `bigfs.worker-status` that keeps worker_registry fresh, and the
 * best-effort producer of `bigfs.events`. */
#ifndef BIGFS_MASTER_KAFKA_STATUS_H
#define BIGFS_MASTER_KAFKA_STATUS_H

#include <jansson.h>

#include "kafka_opts.h"
#include "worker_registry.h"

#define KSTATUS_TOPIC_STATUS "bigfs.worker-status"
#define KSTATUS_TOPIC_EVENTS "bigfs.events"

struct kstatus;

/* brokers NULL or "": start the embedded broker on loopback. Starts the
 * consumer thread. kopts (borrowed, may be NULL; must outlive ks) is set
 * on the producer and the consumer of a real Kafka, after BigFS's own
 * settings; the embedded broker speaks plaintext and ignores them (a
 * warning says so). 0 or -errno (logged). */
int kstatus_start(const char *brokers, const struct kafka_opts *kopts, struct wreg *reg,
		  struct kstatus **ret);
/* Stop the consumer thread, flush briefly, destroy. NULL is fine. */
void kstatus_stop(struct kstatus *ks);

/* The cluster secret (borrowed, outlives ks) that signs status messages:
 * set right after kstatus_start. Until it is set, and for a message
 * without a valid "bigfs-mac" header, or one not newer than the last of
 * its worker (start_time_ms, seq), the message is dropped and counted bad. */
struct secret;
void kstatus_set_secret(struct kstatus *ks, const struct secret *secret);

/* "HOST:PORT[,...]" workers should produce to (borrowed). */
const char *kstatus_bootstrap(const struct kstatus *ks);

/* Publish {"type": type, ...fields, "ts_ms"} to bigfs.events without
 * blocking; dropped (logged at debug) if the queue is full. Takes
 * ownership of fields (may be NULL). */
void kstatus_event(struct kstatus *ks, const char *type, json_t *fields);

/* Status messages accepted / rejected so far. */
void kstatus_counts(const struct kstatus *ks, unsigned long long *ok,
		    unsigned long long *bad);

/* Parse one status message value and apply it to reg. Returns 1 if the
 * worker became live, 0 otherwise, -EINVAL for a bad message. Exposed for
 * unit tests. */
int kstatus_apply(struct wreg *reg, const void *payload, size_t len,
		  char *ret_worker_id, char *ret_addr);

#endif
