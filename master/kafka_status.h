/* kafka_status — the master's Kafka side: the embedded broker (librdkafka
 * mock cluster) when no brokers are given, the consumer of
 * `bigfs.worker-status` that keeps worker_registry fresh, and the
 * best-effort producer of `bigfs.events`. It also remembers what the
 * console and /metrics show of them: the last KSTATUS_EVENTS_KEEP events
 * this master published, how many of each type, and each worker's
 * throughput from its last status message. */
#ifndef BIGFS_MASTER_KAFKA_STATUS_H
#define BIGFS_MASTER_KAFKA_STATUS_H

#include <jansson.h>

#include "kafka_opts.h"
#include "worker_registry.h"

#define KSTATUS_TOPIC_STATUS "bigfs.worker-status"
#define KSTATUS_TOPIC_EVENTS "bigfs.events"

/* Events kept in memory for kstatus_recent_events. */
#define KSTATUS_EVENTS_KEEP 200
/* Distinct event types counted by name; more fold into "other". */
#define KSTATUS_EVENT_TYPES_MAX 32
#define KSTATUS_EVENT_TYPE_MAX 48   /* longest type name counted, bytes */

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
 * ownership of fields (may be NULL). The event is also kept in the ring
 * of recent events and counted, whether Kafka took it or not. */
void kstatus_event(struct kstatus *ks, const char *type, json_t *fields);

/* The last events kstatus_event published, newest first, at most max
 * (and at most KSTATUS_EVENTS_KEEP): a new JSON array of copies (the
 * caller owns it), NULL only on allocation failure. */
json_t *kstatus_recent_events(struct kstatus *ks, size_t max);

/* Events published since start, and per type: fn(type, count, arg) for
 * each type seen, in the order first seen ("other" counts the types past
 * KSTATUS_EVENT_TYPES_MAX). fn runs under the module's lock: it must not
 * call back into kstatus. Returns the total. */
unsigned long long kstatus_event_counts(struct kstatus *ks,
					void (*fn)(const char *type, unsigned long long n,
						   void *arg),
					void *arg);

/* Throughput of a worker, bytes per second in (written to it) and out
 * (read from it), as its last accepted status message said
 * (bytes_in_per_s, bytes_out_per_s). 0, or -ENOENT when no status of that
 * worker arrived since this master started (outputs untouched). A worker
 * that stopped reporting keeps its last rates: check it is live
 * (worker_registry) before showing them. */
int kstatus_worker_rates(struct kstatus *ks, const char *worker_id, uint64_t *in_bps,
			 uint64_t *out_bps);

/* Status messages accepted / rejected so far. */
void kstatus_counts(const struct kstatus *ks, unsigned long long *ok,
		    unsigned long long *bad);

/* Parse one status message value and apply it to reg. Returns 1 if the
 * worker became live, 0 otherwise, -EINVAL for a bad message (also a
 * bytes_in_per_s / bytes_out_per_s that is not a non-negative integer;
 * absent, they count as 0). Exposed for unit tests. */
int kstatus_apply(struct wreg *reg, const void *payload, size_t len,
		  char *ret_worker_id, char *ret_addr);

#endif
