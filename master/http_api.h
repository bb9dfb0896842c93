/* http_api — the master's HTTP routes (docs/api.md): a table mapping each
 * path to a handler that validates the JSON request and calls one module
 * function. Counts requests per route for /metrics. */
#ifndef BIGFS_MASTER_HTTP_API_H
#define BIGFS_MASTER_HTTP_API_H

#include <stdint.h>

#include "master.h"

struct http_api;

/* Listen on listen_addr ("HOST:PORT", port 0 = ephemeral). m must be
 * complete and outlive the server. 0 or -errno. */
int http_api_start(struct master *m, const char *listen_addr, struct http_api **ret);
uint16_t http_api_port(const struct http_api *api);
/* Stop accepting, wait for running handlers, free. NULL is fine. */
void http_api_stop(struct http_api *api);

/* Call fn(route_name, count, arg) for each route. */
void http_api_foreach_count(const struct http_api *api,
			    void (*fn)(const char *route, uint64_t count, void *arg),
			    void *arg);
/* Call fn(op, count, arg) for each kind of op /v1/batch takes: how many
 * it ran (bigfs_batch_ops_total). */
void http_api_foreach_batch_count(const struct http_api *api,
				  void (*fn)(const char *op, uint64_t count, void *arg), void *arg);

#endif
