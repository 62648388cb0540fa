/* holdconn: holds many TLS connections open in the middle of their
 * handshake, so that a benchmark can read what each one costs the server.
 *
 *   bench/holdconn -n COUNT -t SECONDS [-m hello|partial] ADDRESS PORT
 *
 * hello:   each connection sends a whole ClientHello (OpenSSL's, TLS 1.3
 *          only) and then nothing: the server has done its half of the
 *          key exchange, sent its flight and waits for the client's
 *          certificate. The default, and the heavier state.
 * partial: each connection sends the first 9 bytes of a ClientHello (a
 *          record header announcing 512 bytes and the handshake header)
 *          and then nothing: the server holds a connection and its read
 *          buffer, and has not begun the key exchange.
 *
 * It prints one line, "held=N answered=M", when every connection is open
 * and (hello) the server's flight has come back on M of them, or 2 s have
 * passed; then it keeps them open until SECONDS have passed since the
 * start, or until it gets SIGTERM or SIGINT, and closes them. It connects
 * only to 127.0.0.0/8 or ::1 and opens at most 10,000 connections.
 *
 * Exit status: 0 after the hold, 1 when not every connection could be
 * opened (the line says how many were), 2 on a usage or set-up error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"

#define MAX_COUNT 10000UL
#define MAX_SECONDS 600UL
#define ANSWER_WAIT_MS 2000
#define EXIT_SHORT 1
#define EXIT_USAGE 2

struct hold {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned long count, seconds;
	int partial;
	SSL_CTX *ctx;
	int *fds;              /* count of them, -1 when not open */
	SSL **ssls;            /* hello mode only */
	unsigned long held, answered;
};

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return ERR_INVALID;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return ERR_INVALID;
	*out = v;
	return 0;
}

/* Only numeric loopback addresses: the tool never leaves the machine. */
static int
resolve_loopback(struct hold *h, const char *host, const char *port)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	int r = ERR_INVALID;

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		goto out;
	if (ai->ai_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)ai->ai_addr;
		if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			r = 0;
	} else if (ai->ai_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			r = 0;
	}
	if (r != 0 || ai->ai_addrlen > sizeof(h->addr)) {
		r = ERR_INVALID;
		goto out;
	}
	memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
	h->addrlen = ai->ai_addrlen;
out:
	if (r != 0)
		fprintf(stderr, "holdconn: %s port %s: not a numeric loopback "
		    "address and port\n", host, port);
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

static int
raise_nofile(unsigned long count)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return ERR_IO;
	if (rl.rlim_cur >= count + 16)
		return 0;
	if (rl.rlim_max < count + 16)
		return ERR_FULL;
	rl.rlim_cur = count + 16;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : ERR_IO;
}

/* TLS 1.3 only and no certificate: the server never gets as far as
 * asking for one. */
static int
ctx_new(SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	int r = ERR_TLS;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto out;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	return r;
}

/* A record header (handshake, 512 bytes to come) and a ClientHello
 * header, then silence: the server waits for the rest. */
static int
send_partial(int fd)
{
	static const unsigned char head[] = {
		0x16, 0x03, 0x01, 0x02, 0x00,   /* record: handshake, 512 */
		0x01, 0x00, 0x01, 0xfc          /* ClientHello, 508 */
	};

	return send(fd, head, sizeof(head), MSG_NOSIGNAL) ==
	    (ssize_t)sizeof(head) ? 0 : ERR_IO;
}

/* Non-blocking SSL_connect sends the ClientHello and stops at
 * WANT_READ; that is the state kept. */
static int
send_hello(struct hold *h, unsigned long i)
{
	int ret;

	if ((h->ssls[i] = SSL_new(h->ctx)) == NULL ||
	    SSL_set_fd(h->ssls[i], h->fds[i]) != 1)
		return ERR_TLS;
	ret = SSL_connect(h->ssls[i]);
	if (ret != 1 && SSL_get_error(h->ssls[i], ret) == SSL_ERROR_WANT_READ)
		return 0;
	ERR_clear_error();
	return ERR_TLS;
}

/* A blocking connect (loopback answers at once), then non-blocking. */
static int
open_one(struct hold *h, unsigned long i)
{
	int fd;

	if ((fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return ERR_IO;
	h->fds[i] = fd;
	if (connect(fd, (const struct sockaddr *)&h->addr, h->addrlen) != 0)
		return ERR_IO;
	if (h->partial)
		return send_partial(fd);
	/* SSL_connect must stop at WANT_READ rather than wait. */
	return fcntl(fd, F_SETFL, O_NONBLOCK) == 0 ? 0 : ERR_IO;
}

/* Counts the connections on which the server's flight has arrived,
 * waiting ANSWER_WAIT_MS at most. The answer is left unread. */
static void
count_answers(struct hold *h)
{
	struct pollfd *pfds = NULL;
	double deadline = now_ms() + ANSWER_WAIT_MS;
	unsigned long i, n;
	int left;

	if (h->partial || (pfds = calloc(h->held, sizeof(*pfds))) == NULL)
		return;
	for (;;) {
		for (i = 0, n = 0; i < h->count; i++) {
			if (h->fds[i] < 0)
				continue;
			pfds[n].fd = h->fds[i];
			pfds[n++].events = POLLIN;
		}
		left = (int)(deadline - now_ms());
		if (poll(pfds, n, 0) < 0)
			break;
		h->answered = 0;
		for (i = 0; i < n; i++)
			if (pfds[i].revents & POLLIN)
				h->answered++;
		if (h->answered == h->held || left <= 0 || stop_flag)
			break;
		usleep(50000);
	}
	free(pfds);
}

static int
open_all(struct hold *h)
{
	unsigned long i;

	for (i = 0; i < h->count && !stop_flag; i++) {
		if (open_one(h, i) != 0 || (!h->partial && send_hello(h, i) != 0)) {
			fprintf(stderr, "holdconn: connection %lu: %s\n", i + 1,
			    strerror(errno));
			return ERR_IO;
		}
		h->held++;
	}
	return 0;
}

static void
hold_free(struct hold *h)
{
	unsigned long i;

	for (i = 0; i < h->count; i++) {
		if (h->ssls != NULL)
			SSL_free(h->ssls[i]);
		if (h->fds != NULL && h->fds[i] >= 0)
			close(h->fds[i]);
	}
	free(h->ssls);
	free(h->fds);
	SSL_CTX_free(h->ctx);
}

static int
parse_args(struct hold *h, int argc, char **argv)
{
	int opt, have_n = 0, have_t = 0;

	while ((opt = getopt(argc, argv, "n:t:m:h")) != -1) {
		switch (opt) {
		case 'n':
			have_n = parse_ulong(optarg, 1, MAX_COUNT, &h->count) == 0;
			break;
		case 't':
			have_t = parse_ulong(optarg, 1, MAX_SECONDS,
			    &h->seconds) == 0;
			break;
		case 'm':
			if (strcmp(optarg, "hello") == 0)
				h->partial = 0;
			else if (strcmp(optarg, "partial") == 0)
				h->partial = 1;
			else
				return ERR_INVALID;
			break;
		case 'h':
		default:
			return ERR_INVALID;
		}
	}
	if (!have_n || !have_t || argc - optind != 2)
		return ERR_INVALID;
	return resolve_loopback(h, argv[optind], argv[optind + 1]);
}

int
main(int argc, char **argv)
{
	static struct hold h;
	struct sigaction sa;
	double stop_at;
	unsigned long i;
	int status = EXIT_USAGE;

	if (parse_args(&h, argc, argv) != 0) {
		fprintf(stderr, "usage: holdconn -n COUNT(1..%lu) "
		    "-t SECONDS(1..%lu) [-m hello|partial] ADDRESS PORT\n",
		    MAX_COUNT, MAX_SECONDS);
		goto out;
	}
	stop_at = now_ms() + (double)h.seconds * 1e3;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The hard stop behind the loop's own. */
	alarm((unsigned)h.seconds + 10);
	if (raise_nofile(h.count) != 0 ||
	    (h.fds = malloc(h.count * sizeof(*h.fds))) == NULL ||
	    (h.ssls = calloc(h.count, sizeof(*h.ssls))) == NULL ||
	    (!h.partial && ctx_new(&h.ctx) != 0)) {
		fprintf(stderr, "holdconn: cannot set up %lu connections\n",
		    h.count);
		goto out;
	}
	for (i = 0; i < h.count; i++)
		h.fds[i] = -1;
	status = open_all(&h) == 0 ? 0 : EXIT_SHORT;
	count_answers(&h);
	printf("held=%lu answered=%lu\n", h.held, h.answered);
	fflush(stdout);
	while (!stop_flag && now_ms() < stop_at)
		usleep(50000);
out:
	hold_free(&h);
	return status;
}
