/* Unit tests of master/kafka_status beyond Kafka itself: the ring of
 * recent events (newest first, bounded, copies), the counts per event
 * type (with the "other" bucket), and the throughput it keeps per worker
 * from signed status messages sent through its embedded broker, as a
 * worker sends them; kstatus_apply's checks of the rate members. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "../../master/kafka_status.h"
#include "auth.h"
#include "clock.h"
#include "token.h"

#define WID "0123456789abcdef"

struct fixture {
	struct wreg *reg;
	struct kstatus *ks;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || wreg_new(10000, &f->reg) < 0 || kstatus_start(NULL, NULL, f->reg, &f->ks) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kstatus_stop(f->ks);
	wreg_free(f->reg);
	free(f);
	return 0;
}

static void count_cb(const char *type, unsigned long long n, void *arg)
{
	json_t *o = arg;

	json_object_set_new(o, type, json_integer((json_int_t)n));
}

static json_int_t count_of(json_t *counts, const char *type)
{
	return json_integer_value(json_object_get(counts, type));
}

static void test_ring_newest_first_bounded(void **state)
{
	struct fixture *f = *state;
	char type[8];

	json_t *none = kstatus_recent_events(f->ks, 10);
	assert_non_null(none);
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);
	for (int i = 0; i < 250; i++) {
		snprintf(type, sizeof(type), "t%d", i % 3);
		kstatus_event(f->ks, type, json_pack("{s:i}", "i", i));
	}
	json_t *a = kstatus_recent_events(f->ks, 1000);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), KSTATUS_EVENTS_KEEP);
	for (size_t k = 0; k < json_array_size(a); k++) {
		json_t *e = json_array_get(a, k);
		assert_int_equal(json_integer_value(json_object_get(e, "i")), 249 - (json_int_t)k);
		snprintf(type, sizeof(type), "t%d", (int)((249 - k) % 3));
		assert_string_equal(json_string_value(json_object_get(e, "type")), type);
		assert_true(json_integer_value(json_object_get(e, "ts_ms")) > 1600000000000LL);
	}
	/* what the caller gets is a copy */
	json_object_set_new(json_array_get(a, 0), "i", json_integer(-1));
	json_decref(a);
	a = kstatus_recent_events(f->ks, 5);
	assert_int_equal(json_array_size(a), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0), "i")), 249);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 4), "i")), 245);
	json_decref(a);

	json_t *counts = json_object();
	assert_int_equal(kstatus_event_counts(f->ks, count_cb, counts), 250);
	assert_int_equal(json_object_size(counts), 3);
	assert_int_equal(count_of(counts, "t0"), 84);
	assert_int_equal(count_of(counts, "t1"), 83);
	assert_int_equal(count_of(counts, "t2"), 83);
	json_decref(counts);
}

static void test_event_types_past_the_limit(void **state)
{
	struct fixture *f = *state;
	char type[KSTATUS_EVENT_TYPE_MAX + 16];

	for (int i = 0; i < KSTATUS_EVENT_TYPES_MAX + 8; i++) {
		snprintf(type, sizeof(type), "type_%d", i);
		kstatus_event(f->ks, type, NULL);
	}
	memset(type, 'x', KSTATUS_EVENT_TYPE_MAX + 1);
	type[KSTATUS_EVENT_TYPE_MAX + 1] = '\0';
	kstatus_event(f->ks, type, NULL);   /* too long a name to count alone */
	kstatus_event(f->ks, NULL, NULL);   /* no type: nothing happens */
	json_t *counts = json_object();
	assert_int_equal(kstatus_event_counts(f->ks, count_cb, counts),
			 KSTATUS_EVENT_TYPES_MAX + 9);
	assert_int_equal(json_object_size(counts), KSTATUS_EVENT_TYPES_MAX + 1);
	assert_int_equal(count_of(counts, "type_0"), 1);
	assert_int_equal(count_of(counts, "other"), 9);
	json_decref(counts);
	json_t *a = kstatus_recent_events(f->ks, 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "type")), type);
	json_decref(a);
}

static int apply(struct wreg *reg, const char *json)
{
	return kstatus_apply(reg, json, strlen(json), NULL, NULL);
}

static void test_apply_checks_rates(void **state)
{
	struct fixture *f = *state;
	const char *base = "{\"worker_id\": \"" WID "\", \"addr\": \"127.0.0.1:9501\", "
			   "\"capacity\": 100, \"used\": 1";
	char buf[512];

	snprintf(buf, sizeof(buf), "%s}", base);
	assert_true(apply(f->reg, buf) >= 0);   /* absent: 0 */
	snprintf(buf, sizeof(buf), "%s, \"bytes_in_per_s\": 5, \"bytes_out_per_s\": 7}", base);
	assert_true(apply(f->reg, buf) >= 0);
	snprintf(buf, sizeof(buf), "%s, \"bytes_in_per_s\": -5}", base);
	assert_int_equal(apply(f->reg, buf), -EINVAL);
	snprintf(buf, sizeof(buf), "%s, \"bytes_out_per_s\": \"fast\"}", base);
	assert_int_equal(apply(f->reg, buf), -EINVAL);
	snprintf(buf, sizeof(buf), "%s, \"bytes_out_per_s\": 1.5}", base);
	assert_int_equal(apply(f->reg, buf), -EINVAL);
	/* kstatus_apply alone records no rates: only the consumer does */
	uint64_t in = 42, out = 43;
	assert_int_equal(kstatus_worker_rates(f->ks, WID, &in, &out), -ENOENT);
	assert_int_equal(in, 42);
	assert_int_equal(out, 43);
}

/* A status message as status_reporter.c sends it, signed. */
static void produce_status(rd_kafka_t *p, const struct secret *sec, uint64_t seq,
			   uint64_t in_bps, uint64_t out_bps)
{
	char val[512], mac[AUTH_HEX_LEN + 1];
	int n = snprintf(val, sizeof(val),
			 "{\"worker_id\": \"" WID "\", \"addr\": \"127.0.0.1:9501\", "
			 "\"capacity\": 1000, \"used\": 10, \"chunks\": 1, \"inflight\": 0, "
			 "\"bytes_in_per_s\": %llu, \"bytes_out_per_s\": %llu, \"version\": \"t\", "
			 "\"start_time_ms\": 1000, \"seq\": %llu, \"ts_ms\": 1}",
			 (unsigned long long)in_bps, (unsigned long long)out_bps,
			 (unsigned long long)seq);

	auth_status_mac(sec->key, sec->len, WID, strlen(WID), val, (size_t)n, mac);
	assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(KSTATUS_TOPIC_STATUS),
					   RD_KAFKA_V_KEY(WID, strlen(WID)),
					   RD_KAFKA_V_VALUE(val, (size_t)n),
					   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					   RD_KAFKA_V_HEADER("bigfs-mac", mac, AUTH_HEX_LEN),
					   RD_KAFKA_V_END),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_flush(p, 2000);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_rates_from_status_messages(void **state)
{
	struct fixture *f = *state;
	struct secret sec = { .len = 32 };
	char err[256];
	uint64_t in = 0, out = 0, seq = 0;

	memset(sec.key, 7, sec.len);
	kstatus_set_secret(f->ks, &sec);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", kstatus_bootstrap(f->ks),
					   err, sizeof(err)), RD_KAFKA_CONF_OK);
	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(p);

	/* The consumer starts at the end of the topic once it has found it:
	 * send until one message arrives (a new seq each time). */
	int64_t deadline = now_ms() + 30000;
	while (kstatus_worker_rates(f->ks, WID, &in, &out) < 0) {
		assert_true(now_ms() < deadline);
		produce_status(p, &sec, ++seq, 1000, 2000);
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL); /* the consumer thread's poll */
	}
	assert_int_equal(in, 1000);
	assert_int_equal(out, 2000);
	assert_true(wreg_is_live(f->reg, WID));

	/* A newer message replaces the rates; a replayed one does not. */
	produce_status(p, &sec, ++seq, 5, 6);
	deadline = now_ms() + 10000;
	while (kstatus_worker_rates(f->ks, WID, &in, &out) == 0 && in != 5) {
		assert_true(now_ms() < deadline);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(out, 6);
	unsigned long long ok0, bad0, ok1, bad1;
	kstatus_counts(f->ks, &ok0, &bad0);
	produce_status(p, &sec, seq, 77, 77); /* same seq: a replay */
	deadline = now_ms() + 10000;
	do {
		assert_true(now_ms() < deadline);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		kstatus_counts(f->ks, &ok1, &bad1);
	} while (bad1 == bad0);
	assert_int_equal(ok1, ok0);
	assert_int_equal(kstatus_worker_rates(f->ks, WID, &in, &out), 0);
	assert_int_equal(in, 5);
	assert_int_equal(out, 6);
	assert_int_equal(kstatus_worker_rates(f->ks, "fedcba9876543210", &in, &out), -ENOENT);
	/* the worker joined: an event was kept */
	json_t *a = kstatus_recent_events(f->ks, 10);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "type")),
			    "worker_joined");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "worker_id")),
			    WID);
	json_decref(a);
	rd_kafka_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ring_newest_first_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_types_past_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_checks_rates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rates_from_status_messages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
