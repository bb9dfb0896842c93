/* ops_api — the operator's routes: trash, snapshots, quotas, file info
 * and the cluster summary (docs/api.md "Operations"). */
#ifndef BIGFS_MASTER_OPS_API_H
#define BIGFS_MASTER_OPS_API_H

#include "api_util.h"

#define OPS_ROUTES(X)

#endif
