/* ids — chunk and worker ids as text (ids.h). Stateless. */
#include "ids.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chunk_id_parse(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	if (!s)
		return -EINVAL;
	for (int i = 0; i < CHUNK_ID_STRLEN; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)h;
	}
	if (s[CHUNK_ID_STRLEN] != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

void chunk_id_format(uint64_t id, char *out)
{
	snprintf(out, CHUNK_ID_STRLEN + 1, "%016" PRIx64, id);
}

bool worker_id_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < WORKER_ID_STRLEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[WORKER_ID_STRLEN] == '\0';
}

int worker_id_generate(char *out)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		return -errno;
	chunk_id_format(v, out);
	return 0;
}
