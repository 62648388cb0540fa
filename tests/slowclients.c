/* slowclients: holds many TCP connections to a server open, silent or
 * trickling a ClientHello that never ends, and reports when the server
 * closes them. For the limits tests (t_slowloris.sh, t_limits.sh):
 * bounded in count and time, loopback addresses only.
 *
 *   slowclients -p PORT [-a ADDR] [-n COUNT] [-b SRC] [-k NSRC]
 *               [-m silent|trickle] [-i MS] [-t SECONDS]
 *
 * COUNT connections (1..5000) to ADDR:PORT (default 127.0.0.1), from the
 * NSRC source addresses SRC, SRC+1, ... in turn (default: the kernel's
 * choice); all of them loopback. Prints "connected N failed M" once all
 * are up, then after SECONDS (1..120, default 10) of holding them,
 * "open N closed M first_close_ms A last_close_ms B" (times from the
 * first connect, which is the earliest the server can have accepted any;
 * -1 when none closed) and exits 0. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 5000

/* A TLS record header announcing a 16 KiB handshake record, then the
 * start of a ClientHello: the server waits for the rest, which never
 * comes. */
static const unsigned char hello[] = {
	0x16, 0x03, 0x01, 0x40, 0x00,  /* handshake record, 16384 bytes */
	0x01, 0x00, 0x3f, 0xfc,        /* ClientHello, 16380 bytes */
	0x03, 0x03,                    /* legacy version */
};

struct conn {
	int fd;
	size_t sent;        /* bytes of the trickle written */
	long closed_ms;     /* -1 while open */
};

struct opts {
	struct in_addr addr, src;
	unsigned port, count, nsrc, interval_ms, hold_s;
	int trickle, bind_src;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
loopback(struct in_addr a)
{
	return (ntohl(a.s_addr) >> 24) == 127;
}

static int
num(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	int ch;

	inet_pton(AF_INET, "127.0.0.1", &o->addr);
	o->count = 1;
	o->nsrc = 1;
	o->interval_ms = 500;
	o->hold_s = 10;
	while ((ch = getopt(argc, argv, "a:b:i:k:m:n:p:t:")) != -1) {
		switch (ch) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &o->addr) != 1)
				return -1;
			break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &o->src) != 1)
				return -1;
			o->bind_src = 1;
			break;
		case 'i':
			if (num(optarg, 10, 10000, &o->interval_ms) != 0)
				return -1;
			break;
		case 'k':
			if (num(optarg, 1, 250, &o->nsrc) != 0)
				return -1;
			break;
		case 'm':
			if (strcmp(optarg, "trickle") == 0)
				o->trickle = 1;
			else if (strcmp(optarg, "silent") != 0)
				return -1;
			break;
		case 'n':
			if (num(optarg, 1, MAX_CONNS, &o->count) != 0)
				return -1;
			break;
		case 'p':
			if (num(optarg, 1, 65535, &o->port) != 0)
				return -1;
			break;
		case 't':
			if (num(optarg, 1, 120, &o->hold_s) != 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (o->port == 0 || optind != argc || !loopback(o->addr) ||
	    (o->bind_src && !loopback(o->src)))
		return -1;
	return 0;
}

/* A non-blocking connect from the i-th source address; -1 on failure. */
static int
start_connect(const struct opts *o, unsigned i)
{
	struct sockaddr_in to = { .sin_family = AF_INET }, from = to;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return -1;
	if (o->bind_src) {
		from.sin_addr.s_addr = htonl(ntohl(o->src.s_addr) +
		    i % o->nsrc);
		if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)
			goto fail;
	}
	to.sin_addr = o->addr;
	to.sin_port = htons((uint16_t)o->port);
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 ||
	    errno == EINPROGRESS)
		return fd;
fail:
	close(fd);
	return -1;
}

/* Waits (5 s at most) for the connects to finish; failed ones get -1. */
static unsigned
finish_connects(struct conn *c, struct pollfd *p, unsigned n)
{
	long deadline = now_ms() + 5000;
	unsigned pending = 0, failed = 0;
	int err;
	socklen_t len;

	for (unsigned i = 0; i < n; i++) {
		p[i].fd = c[i].fd;
		p[i].events = POLLOUT;
		pending += c[i].fd >= 0;
	}
	while (pending > 0 && now_ms() < deadline) {
		if (poll(p, n, 100) < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < n; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			len = sizeof(err);
			if (getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) != 0 || err != 0) {
				close(c[i].fd);
				c[i].fd = -1;
			}
			p[i].fd = -1;
			pending--;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (p[i].fd >= 0) {       /* still connecting: give up */
			close(c[i].fd);
			c[i].fd = -1;
		}
		failed += c[i].fd < 0;
	}
	return failed;
}

static void
trickle(struct conn *c, unsigned n)
{
	unsigned char byte;

	for (unsigned i = 0; i < n; i++) {
		if (c[i].fd < 0 || c[i].closed_ms >= 0)
			continue;
		byte = c[i].sent < sizeof(hello) ? hello[c[i].sent] : 0x2a;
		if (write(c[i].fd, &byte, 1) == 1)
			c[i].sent++;
	}
}

/* Notes the connections the server has closed (end of file or reset). */
static void
watch(struct conn *c, struct pollfd *p, unsigned n, long t0, int wait_ms)
{
	char buf[256];
	ssize_t r;

	for (unsigned i = 0; i < n; i++) {
		p[i].fd = c[i].closed_ms < 0 ? c[i].fd : -1;
		p[i].events = POLLIN | POLLRDHUP;
	}
	if (poll(p, n, wait_ms) <= 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (p[i].fd < 0 || p[i].revents == 0)
			continue;
		r = read(c[i].fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
		    (p[i].revents & (POLLHUP | POLLERR | POLLRDHUP)))
			c[i].closed_ms = now_ms() - t0;
	}
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct conn *c = NULL;
	struct pollfd *p = NULL;
	unsigned failed, open = 0, closed = 0;
	long t0, end, next_trickle, first = -1, last = -1;

	if (parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: slowclients -p PORT [-a ADDR] "
		    "[-n COUNT] [-b SRC] [-k NSRC] [-m silent|trickle] "
		    "[-i MS] [-t SECONDS] (loopback only)\n");
		return 2;
	}
	if ((c = calloc(o.count, sizeof(*c))) == NULL ||
	    (p = calloc(o.count, sizeof(*p))) == NULL) {
		perror("slowclients");
		return 1;
	}
	t0 = now_ms();
	for (unsigned i = 0; i < o.count; i++) {
		c[i].fd = start_connect(&o, i);
		c[i].closed_ms = -1;
	}
	failed = finish_connects(c, p, o.count);
	printf("connected %u failed %u in_ms %ld\n", o.count - failed,
	    failed, now_ms() - t0);
	fflush(stdout);
	end = now_ms() + (long)o.hold_s * 1000;
	next_trickle = now_ms();
	while (now_ms() < end) {
		if (o.trickle && now_ms() >= next_trickle) {
			trickle(c, o.count);
			next_trickle += (long)o.interval_ms;
		}
		watch(c, p, o.count, t0, 20);
	}
	for (unsigned i = 0; i < o.count; i++) {
		if (c[i].fd < 0)
			continue;
		if (c[i].closed_ms < 0) {
			open++;
		} else {
			closed++;
			if (first < 0 || c[i].closed_ms < first)
				first = c[i].closed_ms;
			if (c[i].closed_ms > last)
				last = c[i].closed_ms;
		}
		close(c[i].fd);
	}
	printf("open %u closed %u first_close_ms %ld last_close_ms %ld\n",
	    open, closed, first, last);
	free(c);
	free(p);
	return 0;
}
