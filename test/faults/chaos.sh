#!/bin/sh
# chaos.sh DURATION_S [--seed N] [--dir DIR] — faults at random under a mixed
# workload for DURATION_S seconds, then a summary line (see chaos.py).
# Needs root, /dev/fuse, fiu-utils, and `make` done (BIGFS_BUILD or ./build).
HERE=$(cd "$(dirname "$0")" && pwd)
export BIGFS_BUILD=${BIGFS_BUILD:-$HERE/../../build}
exec /usr/bin/python3 "$HERE/chaos.py" "$@"
