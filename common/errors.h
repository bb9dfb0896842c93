/* errors — the wire status codes, defined once.
 *
 * Every error that crosses HTTP is a POSIX errno carried in a JSON body
 * {"errno": N, "error": "ENOENT", "message": "..."} with the HTTP status
 * below. BIGFS_ERRNO_MAP yields the names, the HTTP statuses and the
 * table used to convert in both directions.
 *
 * 401 means "log in (again)": EKEYEXPIRED for a call without a session the
 * master knows (none given, expired, or forgotten at a restart or an
 * exports reload), EKEYREJECTED for a bad signature or a replay. */
#ifndef BIGFS_ERRORS_H
#define BIGFS_ERRORS_H

#include <errno.h>

#define BIGFS_ERRNO_MAP(X)            \
	X(EPERM, 403)                 \
	X(ENOENT, 404)                \
	X(EIO, 500)                   \
	X(ENXIO, 404)                 \
	X(E2BIG, 413)                 \
	X(EBADF, 400)                 \
	X(EAGAIN, 503)                \
	X(ENOMEM, 507)                \
	X(EACCES, 403)                \
	X(EBUSY, 409)                 \
	X(EEXIST, 409)                \
	X(EXDEV, 409)                 \
	X(ENODEV, 404)                \
	X(ENOTDIR, 409)               \
	X(EISDIR, 409)                \
	X(EINVAL, 400)                \
	X(ENFILE, 503)                \
	X(EFBIG, 413)                 \
	X(ENOSPC, 507)                \
	X(ESPIPE, 400)                \
	X(EROFS, 403)                 \
	X(EMLINK, 409)                \
	X(ERANGE, 400)                \
	X(ENAMETOOLONG, 400)          \
	X(ENOTEMPTY, 409)             \
	X(ELOOP, 400)                 \
	X(ENODATA, 404)               \
	X(EOVERFLOW, 400)             \
	X(EBADMSG, 400)               \
	X(ENOTSUP, 501)               \
	X(ECONNREFUSED, 502)          \
	X(ETIMEDOUT, 504)             \
	X(ESTALE, 409)                \
	X(EHOSTUNREACH, 502)          \
	X(ENOSYS, 501)                \
	X(ENOLCK, 507)                 \
	X(EDEADLK, 409)               \
	X(EKEYEXPIRED, 401)           \
	X(EKEYREJECTED, 401)

/* "ENOENT" for ENOENT; "EUNKNOWN" for anything not in the map. Accepts a
 * negative errno too. */
const char *errno_name(int err);
/* HTTP status for an errno (positive or negative); 500 if unknown. */
int errno_http_status(int err);
/* Positive errno for a name from the map; EIO if unknown. */
int errno_from_name(const char *name);

#endif
