/* fuzz_net — raw HTTP over loopback for the network fuzz targets.
 *
 * fuzz_http_send sends bytes as they are on a new connection to
 * 127.0.0.1:port, half-closes it and reads the answer until the server
 * closes, FUZZ_NET_READ_MAX bytes were read or FUZZ_NET_TIMEOUT_MS passed
 * without a byte (each socket call has that deadline). It returns the
 * number of bytes read into resp (cap bytes, NUL-terminated) or -errno.
 * fuzz_http_status is the status code of a response ("HTTP/1.x NNN"), 0 if
 * there is none. */
#ifndef BIGFS_FUZZ_NET_H
#define BIGFS_FUZZ_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FUZZ_NET_TIMEOUT_MS 3000
#define FUZZ_NET_READ_MAX (1u << 20)

static inline int fuzz_http_send(uint16_t port, const void *buf, size_t len, char *resp,
				 size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { FUZZ_NET_TIMEOUT_MS / 1000, (FUZZ_NET_TIMEOUT_MS % 1000) * 1000 };
	struct linger lg = { 1, 0 };
	size_t got = 0, total = 0;
	int fd, r = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* close with RST: no TIME_WAIT pile-up over millions of runs */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out_close;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;      /* the server may close early: read what it said */
		}
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (total < FUZZ_NET_READ_MAX) {
		char sink[16384];
		ssize_t n = recv(fd, sink, sizeof(sink), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + 1 < cap) {
			size_t k = (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got;
			memcpy(resp + got, sink, k);
			got += k;
		}
		total += (size_t)n;
	}
	r = (int)got;
out_close:
	if (cap)
		resp[got] = '\0';
	close(fd);
	return r;
}

static inline int fuzz_http_status(const char *resp)
{
	if (strncmp(resp, "HTTP/1.", 7) != 0 || !resp[7] || resp[8] != ' ')
		return 0;
	return atoi(resp + 9);
}

#endif
