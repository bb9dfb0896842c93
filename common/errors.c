/* errors — conversions over BIGFS_ERRNO_MAP (errors.h). Stateless. */
#include "errors.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	int err;
	int http;
	const char *name;
} errno_table[] = {
#define X(e, h) {e, h, #e},
	BIGFS_ERRNO_MAP(X)
#undef X
};

#define N_ERRNO (sizeof(errno_table) / sizeof(errno_table[0]))

const char *errno_name(int err)
{
	err = abs(err);
	for (size_t i = 0; i < N_ERRNO; i++)
		if (errno_table[i].err == err)
			return errno_table[i].name;
	return "EUNKNOWN";
}

int errno_http_status(int err)
{
	err = abs(err);
	for (size_t i = 0; i < N_ERRNO; i++)
		if (errno_table[i].err == err)
			return errno_table[i].http;
	return 500;
}

int errno_from_name(const char *name)
{
	for (size_t i = 0; i < N_ERRNO; i++)
		if (strcmp(errno_table[i].name, name) == 0)
			return errno_table[i].err;
	return EIO;
}
