/* fuzz_net — raw HTTP over loopback for the network fuzz targets.
 *
 * fuzz_http_send sends bytes as they are on a new connection to
 * 127.0.0.1:port, half-closes it and reads the answer until the server
 * closes, FUZZ_NET_READ_MAX bytes were read or FUZZ_NET_TIMEOUT_MS passed
 * without a byte (each socket call has that deadline). It returns the
 * number of bytes read into resp (cap bytes, NUL-terminated) or -errno.
 * fuzz_http_status is the status code of a response ("HTTP/1.x NNN"), 0 if
 * there is none.
 *
 * Each connection leaves a TIME_WAIT socket behind for a minute (we close
 * second, after the server's answer), so at hundreds of inputs a second
 * one source address would run out of ports: connections come from
 * source addresses rotating over 127.1.0.0/16 instead. */
#ifndef BIGFS_FUZZ_NET_H
#define BIGFS_FUZZ_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FUZZ_NET_TIMEOUT_MS 3000
#define FUZZ_NET_READ_MAX (1u << 20)

/* Connect fd to sa from the next source address. 0 or -errno. */
static inline int fuzz_connect(int fd, const struct sockaddr_in *sa)
{
	static uint32_t next;
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	src.sin_addr.s_addr = htonl(0x7f010000u | (next++ & 0xffff));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&src, sizeof(src)) < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -errno;
	/* libFuzzer's SIGALRM (its -timeout watch) came: the connect goes on
	 * in the background, wait for its end */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t el = sizeof(err);
	int n;

	do
		n = poll(&p, 1, FUZZ_NET_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

static inline int fuzz_http_send1(uint16_t port, const void *buf, size_t len, char *resp,
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
	r = fuzz_connect(fd, &sa);
	if (r < 0)
		goto out_close;
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

/* fuzz_http_send1, again from another source address while the one
 * tried has no port left. */
static inline int fuzz_http_send(uint16_t port, const void *buf, size_t len, char *resp,
				 size_t cap)
{
	int r = -EADDRNOTAVAIL;

	for (int tries = 0; tries < 8 && r == -EADDRNOTAVAIL; tries++)
		r = fuzz_http_send1(port, buf, len, resp, cap);
	if (r < 0)
		fprintf(stderr, "fuzz_http_send to port %u: %s\n", port, strerror(-r));
	return r;
}

static inline int fuzz_http_status(const char *resp)
{
	if (strncmp(resp, "HTTP/1.", 7) != 0 || !resp[7] || resp[8] != ' ')
		return 0;
	return atoi(resp + 9);
}

#endif
