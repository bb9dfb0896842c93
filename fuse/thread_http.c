/* thread_http — per-thread http_client instances (see thread_http.h).
 *
 * Owns: a pthread key whose value, per thread, is that thread's client.
 * No lock: each value is only touched by its own thread; the timeouts are
 * written once in thread_http_new before any thread uses the pool. */
#include "thread_http.h"

#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct thread_http {
	pthread_key_t key;
	long timeout_ms;
	long connect_timeout_ms;
};

static void thread_http_destroy(void *value)
{
	http_client_free(value);
}

int thread_http_new(long timeout_ms, long connect_timeout_ms, struct thread_http **ret)
{
	struct thread_http *th = calloc(1, sizeof(*th));
	if (!th)
		return -ENOMEM;
	int rc = pthread_key_create(&th->key, thread_http_destroy);
	if (rc) {
		free(th);
		return -rc;
	}
	th->timeout_ms = timeout_ms;
	th->connect_timeout_ms = connect_timeout_ms;
	*ret = th;
	return 0;
}

void thread_http_free(struct thread_http *th)
{
	if (!th)
		return;
	http_client_free(pthread_getspecific(th->key));
	pthread_setspecific(th->key, NULL);
	pthread_key_delete(th->key);
	free(th);
}

struct http_client *thread_http_get(struct thread_http *th)
{
	struct http_client *c = pthread_getspecific(th->key);
	if (c)
		return c;
	c = http_client_new(th->timeout_ms, th->connect_timeout_ms);
	if (!c)
		return NULL;
	if (pthread_setspecific(th->key, c) != 0) {
		http_client_free(c);
		return NULL;
	}
	return c;
}
