/* placement — choose workers for new chunks and repairs.
 *
 * Pure functions over a snapshot of live workers: no locks, no state but a
 * per-thread random generator. Draining workers (wreg_info.draining) come
 * last. */
#ifndef BIGFS_MASTER_PLACEMENT_H
#define BIGFS_MASTER_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker_registry.h"

/* Pick up to want distinct workers from cands[0..n) whose excluded[i] is
 * false (excluded may be NULL), each draw weighted by free space
 * (capacity - used, plus a little so empty reports still count).
 * Draining workers are drawn only once no other candidate is left: a
 * chunk goes to them only when the goal cannot be met otherwise (a
 * cluster too small for its drain), never instead of a worker that stays.
 * Writes the chosen indexes to out[] in draw order; returns how many
 * (fewer than want when there are not enough candidates). */
int placement_pick(const struct wreg_info *cands, size_t n, const bool *excluded,
		   int want, size_t *out);

/* Sort replicas best first for reading: least in-flight requests first,
 * random among equals. order[] receives a permutation of 0..n-1. */
void placement_read_order(const struct wreg_info *ws, size_t n, size_t *order);

/* Uniform random 64-bit number (per-thread xorshift seeded by getrandom). */
uint64_t placement_random(void);

#endif
