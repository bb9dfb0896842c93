/* hash — the 64-bit hashes the tables of the mount and master share. */
#ifndef BIGFS_COMMON_HASH_H
#define BIGFS_COMMON_HASH_H

#include <stdint.h>

/* splitmix64's finaliser: spreads every input bit over the word. */
static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A name's hash (FNV-1a, then mixed); never 0, so 0 can mark a free slot. */
static inline uint64_t hash_name(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = hash_mix64(h);
	return h ? h : 1;
}

#endif
