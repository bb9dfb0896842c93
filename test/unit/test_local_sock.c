/* Unit tests of common/local_sock: the worker's abstract socket name,
 * and whom each end believes — root, its own user, the service user —
 * with real processes of other users connecting (a child that drops to
 * uid 65534 before it connects). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "local_sock.h"

#define WID "0123456789abcdef"
#define NOBODY 65534

static void test_addr(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	static const char want[] = "bigfs-worker-" WID;

	(void)state;
	assert_int_equal(local_sock_addr(WID, &sa, &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_int_equal(sa.sun_path[0], '\0');         /* abstract: no file */
	assert_memory_equal(sa.sun_path + 1, want, sizeof(want) - 1);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + sizeof(want));
	assert_int_equal(local_sock_addr("0123", &sa, &len), -EINVAL);
	assert_int_equal(local_sock_addr("../../etc/passwd", &sa, &len), -EINVAL);
	assert_int_equal(local_sock_addr("0123456789ABCDEF", &sa, &len), -EINVAL);
	assert_int_equal(local_sock_addr(WID "0", &sa, &len), -EINVAL);
}

/* Listen on WID's name, let a child running as uid connect, and say
 * whether the accepted peer is trusted. */
static bool peer_as(uid_t uid)
{
	struct sockaddr_un sa;
	socklen_t len;
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c;
	pid_t pid;
	bool trusted;
	int status;

	assert_int_equal(local_sock_addr(WID, &sa, &len), 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(l, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		char b;

		if ((uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0)) ||
		    connect(s, (struct sockaddr *)&sa, len) != 0)
			_exit(1);
		(void)!read(s, &b, 1);  /* until the parent is done */
		_exit(0);
	}
	c = accept(l, NULL, NULL);
	assert_true(c >= 0);
	trusted = local_sock_peer_trusted(c);
	close(c);
	close(l);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return trusted;
}

/* Run as root (as the tests are): root is believed, another user is not,
 * and the service user is. The service user is looked up once per
 * process, so its case runs in a child of its own with
 * BIGFS_SERVICE_USER naming "nobody". */
static void test_peer_credentials(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip();
	/* first: the lookup must not have happened in this process yet */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("BIGFS_SERVICE_USER", "nobody", 1);
		_exit(peer_as(NOBODY) ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(peer_as(0));
	assert_false(peer_as(NOBODY));
	/* not a connected unix socket: nobody to believe */
	assert_false(local_sock_peer_trusted(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_peer_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
