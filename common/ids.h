/* ids — chunk ids and worker ids as text, parsed in one place.
 *
 * A chunk id is a 64-bit number written as exactly 16 lowercase hex digits
 * ("000000000000002a"). A worker id is 16 lowercase hex digits too, made
 * at random when a worker first starts and kept in its data folder. */
#ifndef BIGFS_IDS_H
#define BIGFS_IDS_H

#include <stdbool.h>
#include <stdint.h>

#define CHUNK_ID_STRLEN 16
#define WORKER_ID_STRLEN 16

/* Parse exactly 16 hex digits (either case), nothing else. 0 or -EINVAL. */
int chunk_id_parse(const char *s, uint64_t *ret);
/* out must hold CHUNK_ID_STRLEN + 1 bytes. */
void chunk_id_format(uint64_t id, char *out);

/* True if s is exactly 16 lowercase hex digits. */
bool worker_id_valid(const char *s);
/* Fill out (WORKER_ID_STRLEN + 1 bytes) with a new random id from
 * getrandom(2). 0 or -errno. */
int worker_id_generate(char *out);

#endif
