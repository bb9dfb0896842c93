/* fuzz_util — what every libFuzzer target of BigFS shares.
 *
 * FUZZ_CHECK(cond) aborts with file:line when an invariant the target
 * asserts does not hold: libFuzzer reports the abort as a crash and keeps
 * the input. fuzz_quiet_logs() keeps the modules' log_err lines (every bad
 * input makes some) out of the fuzzer's output. */
#ifndef BIGFS_FUZZ_UTIL_H
#define BIGFS_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "log.h"

#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                               \
			abort();                                                \
		}                                                               \
	} while (0)

static inline void fuzz_quiet_logs(void)
{
	log_init("fuzz", true, getenv("FUZZ_LOG") ? LOG_DEBUG : LOG_CRIT);
}

#endif
