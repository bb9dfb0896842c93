/* placement — weighted random choice of distinct workers.
 *
 * Owns nothing shared: the only state is a thread-local random generator,
 * so any thread may call in without locks. Placement is by free space
 * only (one worker per host is assumed; racks and labels are not known);
 * a draining worker is a last resort, taken only when the workers that
 * stay cannot hold the goal. */
#include "placement.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static __thread uint64_t rng_state;

uint64_t placement_random(void)
{
	if (rng_state == 0) {
		if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
			rng_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rng_state;
		if (rng_state == 0)
			rng_state = 0x9e3779b97f4a7c15ULL;
	}
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static double weight_of(const struct wreg_info *w)
{
	uint64_t free_b = w->capacity > w->used ? w->capacity - w->used : 0;
	/* 1 MiB floor: a worker that reports no capacity yet is still usable. */
	return (double)free_b + 1048576.0;
}

int placement_pick(const struct wreg_info *cands, size_t n, const bool *excluded,
		   int want, size_t *out)
{
	bool *taken;
	int got = 0;

	if (want <= 0 || n == 0)
		return 0;
	taken = calloc(n, sizeof(*taken));
	if (!taken)
		return 0;
	if (excluded)
		memcpy(taken, excluded, n * sizeof(*taken));
	/* First round: workers that stay; second: draining ones, if the
	 * first left the goal short. */
	for (int round = 0; round < 2 && got < want; round++) {
		bool draining = round == 1;
		while (got < want) {
			double total = 0;
			for (size_t i = 0; i < n; i++)
				if (!taken[i] && cands[i].draining == draining)
					total += weight_of(&cands[i]);
			if (total <= 0)
				break;
			double r = (double)(placement_random() >> 11) / 9007199254740992.0 * total;
			size_t pick = n;
			for (size_t i = 0; i < n; i++) {
				if (taken[i] || cands[i].draining != draining)
					continue;
				pick = i;
				r -= weight_of(&cands[i]);
				if (r < 0)
					break;
			}
			if (pick == n)
				break;
			taken[pick] = true;
			out[got++] = pick;
		}
	}
	free(taken);
	return got;
}

void placement_read_order(const struct wreg_info *ws, size_t n, size_t *order)
{
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	/* Fisher-Yates shuffle, then insertion sort by load (stable). */
	for (size_t i = n; i > 1; i--) {
		size_t j = placement_random() % i;
		size_t t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 1; i < n; i++) {
		size_t v = order[i], j = i;
		while (j > 0 && ws[order[j - 1]].inflight > ws[v].inflight) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
}
