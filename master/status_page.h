/* status_page — the human status page (GET /) and Prometheus text
 * (GET /metrics), rendered from the registry, chunk map and repair stats. */
#ifndef BIGFS_MASTER_STATUS_PAGE_H
#define BIGFS_MASTER_STATUS_PAGE_H

#include <stddef.h>

#include "master.h"

/* Each returns a malloc'ed text in *ret (caller frees) or -errno. */
int status_page_html(struct master *m, char **ret, size_t *ret_len);
int status_page_metrics(struct master *m, char **ret, size_t *ret_len);

#endif
