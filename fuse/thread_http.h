/* thread_http — one libcurl client per thread, created on first use.
 *
 * libfuse runs handlers on a pool of threads that come and go; an
 * http_client is not thread-safe, so each thread gets its own through a
 * pthread key, and loses it (freed by the key's destructor) when the thread
 * exits. Each client keeps its own keep-alive connections. */
#ifndef BIGFS_FUSE_THREAD_HTTP_H
#define BIGFS_FUSE_THREAD_HTTP_H

struct http_client;
struct thread_http;

/* Clients made by this pool use the given whole-request and connect
 * timeouts. Returns 0 or -ENOMEM / -errno from pthread_key_create. */
int thread_http_new(long timeout_ms, long connect_timeout_ms, struct thread_http **ret);
/* Frees the pool and the calling thread's client. Other threads' clients
 * are freed when those threads exit. */
void thread_http_free(struct thread_http *th);
/* The calling thread's client, created if needed; NULL on out-of-memory. */
struct http_client *thread_http_get(struct thread_http *th);

#endif
