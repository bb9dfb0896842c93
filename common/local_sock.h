/* local_sock — the worker's local socket, through which a mount on the
 * same machine is handed a chunk file's descriptor (docs/api.md "Local
 * reads").
 *
 * The socket is a Linux abstract one, "bigfs-worker-WORKER_ID": it lives
 * in a network namespace, so a mount reaches it only when it runs in the
 * worker's (the same machine, or the same container). Abstract names
 * carry no file permissions, so each end checks the other's credentials
 * (SO_PEERCRED): only root, the user the process itself runs as, or the
 * user the packaged services run as (LOCAL_SOCK_SERVICE_USER, systemd/:
 * a worker runs as "bigfs", a mount from fstab as root) is served or
 * believed — a process that could read the worker's data folder anyway.
 * BIGFS_SERVICE_USER in the environment names another service user.
 *
 * The exchange, one per connection: the mount sends one line
 *   "CHUNK_ID VERSION TOKEN\n"   (16 hex digits, decimal, a read token)
 * at most LOCAL_SOCK_REQ_MAX bytes; the worker answers 4 bytes, an errno
 * as a little-endian int32 (0: success), carrying the descriptor (read
 * only) as SCM_RIGHTS ancillary data on success. */
#ifndef BIGFS_LOCAL_SOCK_H
#define BIGFS_LOCAL_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LOCAL_SOCK_REQ_MAX 512
#define LOCAL_SOCK_SERVICE_USER "bigfs"

/* Fill *sa with worker_id's abstract socket address; *len gets its
 * length. -EINVAL for a malformed worker id. */
int local_sock_addr(const char *worker_id, struct sockaddr_un *sa, socklen_t *len);

/* True when the peer of the connected unix socket fd runs as root, as
 * this process's effective user, or as LOCAL_SOCK_SERVICE_USER. */
bool local_sock_peer_trusted(int fd);

/* Bound every later send and recv on fd to ms milliseconds. */
void local_sock_timeouts(int fd, long ms);

#endif
