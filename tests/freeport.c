/* freeport [N]: prints N (default 1) distinct TCP ports on 127.0.0.1 that
 * are free right now, one per line, for tests that start servers.
 *
 * All N sockets stay bound until every port is chosen, so the kernel
 * cannot hand out the same port twice. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define FREEPORT_MAX 64

/* Binds a new socket to 127.0.0.1:0 and returns it, with its port in *port,
 * or -1 with errno set. */
static int
bind_any(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd, saved;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
parse_count(const char *s, size_t *n)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 ||
	    v > FREEPORT_MAX)
		return -1;
	*n = (size_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	int fds[FREEPORT_MAX];
	unsigned ports[FREEPORT_MAX];
	size_t i, n = 1, opened = 0;
	int rc = 1;

	if (argc > 2 || (argc == 2 && parse_count(argv[1], &n) != 0)) {
		fprintf(stderr, "usage: freeport [N]  (1 <= N <= %d)\n",
		    FREEPORT_MAX);
		return 1;
	}
	for (opened = 0; opened < n; opened++) {
		if ((fds[opened] = bind_any(&ports[opened])) < 0) {
			fprintf(stderr, "freeport: cannot bind 127.0.0.1: %s\n",
			    strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	for (i = 0; i < opened; i++)
		close(fds[i]);
	for (i = 0; rc == 0 && i < n; i++)
		printf("%u\n", ports[i]);
	if (rc == 0 && fflush(stdout) != 0) {
		fprintf(stderr, "freeport: cannot write: %s\n",
		    strerror(errno));
		rc = 1;
	}
	return rc;
}
