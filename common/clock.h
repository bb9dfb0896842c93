/* clock — monotonic waits, written once.
 *
 * Every BigFS thread that waits "until stopped or ms pass" waits on a
 * condition variable bound to CLOCK_MONOTONIC (a wall-clock jump must not
 * stretch or cut a wait). Stateless. */
#ifndef BIGFS_CLOCK_H
#define BIGFS_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Initialise c to measure timed waits on CLOCK_MONOTONIC. 0 or -errno. */
int clock_cond_init(pthread_cond_t *c);

/* The CLOCK_MONOTONIC time ms milliseconds from now, for
 * pthread_cond_timedwait on a condition made by clock_cond_init. */
struct timespec clock_deadline_ms(int64_t ms);

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t clock_now_ms(void);

#endif
