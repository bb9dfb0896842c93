/* local_sock — address and checks of the worker's local socket (see
 * local_sock.h). */
#include "local_sock.h"

#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int local_sock_addr(const char *worker_id, struct sockaddr_un *sa, socklen_t *len)
{
	int n;

	if (!worker_id_valid(worker_id))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays '\0': an abstract name, not a file */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "bigfs-worker-%s", worker_id);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	return 0;
}

static pthread_once_t ls_once = PTHREAD_ONCE_INIT;
static uid_t ls_service_uid = (uid_t)-1;    /* the user "bigfs", if any */

static void ls_find_service_user(void)
{
	struct passwd pw, *found = NULL;
	char buf[1024];

	const char *name = getenv("BIGFS_SERVICE_USER");

	if (!name || !*name)
		name = LOCAL_SOCK_SERVICE_USER;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) == 0 && found)
		ls_service_uid = found->pw_uid;
}

bool local_sock_peer_trusted(int fd)
{
	struct ucred cred;
	socklen_t n = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0 || n != sizeof(cred))
		return false;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	pthread_once(&ls_once, ls_find_service_user);
	return cred.uid == ls_service_uid;
}

void local_sock_timeouts(int fd, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}
