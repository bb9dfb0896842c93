/* drain — emptying a worker before removal, and rebalancing onto new
 * ones (docs/api.md "Drain and rebalance"). */
#ifndef BIGFS_MASTER_DRAIN_H
#define BIGFS_MASTER_DRAIN_H

#include "api_util.h"

#define DRAIN_ROUTES(X)

#endif
