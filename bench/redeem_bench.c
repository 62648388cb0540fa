/* redeem_bench: the round trip of one ticket redemption, against a running
 * mtlsd, over the bare protocol or through the real PAM module.
 *
 *   bench/redeem_bench -n COUNT -t SECONDS -m proto|pam -c CERT[:KEY]
 *       -C CAFILE [-u USER] [-s PAM_SOCKET] [-S SERVICE] ADDRESS PORT
 *
 * First it fetches COUNT tickets from https://ADDRESS:PORT/v1/tickets
 * (one new TLS connection each, with the client certificate CERT, its
 * chain after it, and KEY, default CERT), keeping them in memory only.
 * Then it redeems each once and times that alone:
 *   proto: connect to PAM_SOCKET, HELLO, HELLO, REDEEM, OK (PROTOCOL.md,
 *          through libmtlscore's proto_encode/proto_decode);
 *   pam:   pam_start(SERVICE, USER), PAM_RHOST = ADDRESS,
 *          pam_authenticate with a conversation that answers the ticket,
 *          pam_end: run it under pam_wrapper with a SERVICE file naming
 *          pam_mtls.so.
 * rhost is ADDRESS, so tickets bound to the fetching address redeem.
 *
 * Output, one line on stdout:
 *   mode=proto redemptions=1000 ok=1000 failed=0 p50_ms=0.08 p99_ms=0.20
 *     max_ms=0.61 fetch_s=1.52
 * Exit status: 0 when every redemption succeeded, 1 when one did not, 2
 * on a usage or set-up error (a ticket that could not be fetched), 3 when
 * the time limit stopped the run. It connects only to 127.0.0.0/8. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <security/pam_appl.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

#define MAX_COUNT 100000UL
#define MAX_SECONDS 3600UL
#define IO_TIMEOUT_MS 2000
#define RBUF_LEN 4096
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_TIMELIMIT 3

struct bench {
	unsigned long count, seconds;
	int pam_mode;
	const char *cert, *key, *cafile, *user, *sock, *service, *addr;
	unsigned short port;
	char **tickets;        /* count of them, owned, wiped */
	unsigned long n_tickets;
	double *lat_ms;        /* one per redemption done */
	unsigned long n_lat, ok, failed;
	double deadline_ms, fetch_s;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank, as bench/loadclient. */
static double
percentile(const double *v, unsigned long n, unsigned p)
{
	unsigned long rank;

	if (n == 0)
		return 0;
	rank = (n * p + 99) / 100;
	return v[rank == 0 ? 0 : rank - 1];
}

/* Waits until fd is ready for events, by the I/O deadline. */
static int
wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, IO_TIMEOUT_MS);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return ERR_TIMEOUT;
	return n > 0 ? 0 : ERR_IO;
}

/* --- fetching tickets over TLS ---------------------------------------- */

static int
tls_ctx(const struct bench *b, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	int r = ERR_TLS;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, b->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, b->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, b->cafile, NULL) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx),
	    b->addr) != 1) {
		ERR_print_errors_fp(stderr);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	return r;
}

static int
tcp_connect(const struct bench *b, int *out)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd, one = 1;

	sin.sin_port = htons(b->port);
	if (inet_pton(AF_INET, b->addr, &sin.sin_addr) != 1)
		return ERR_INVALID;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return ERR_IO;
	/* Blocking I/O with a deadline on every call: enough for a
	 * client that fetches one ticket at a time. Without TCP_NODELAY
	 * the request waits for the server's delayed ACK of our
	 * Finished (mtlsd sends nothing in between): 40 ms a ticket. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    connect(fd, (const struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return ERR_IO;
	}
	*out = fd;
	return 0;
}

/* The ticket on the first line of a text/plain 201; *out owned. */
static int
ticket_from_answer(const char *ans, char **out)
{
	const char *body;
	size_t n;

	if (strncmp(ans, "HTTP/1.1 201 ", 13) != 0 ||
	    (body = strstr(ans, "\r\n\r\n")) == NULL)
		return ERR_DENIED;
	body += 4;
	n = strcspn(body, "\r\n");
	if (n == 0 || n > PROTO_MAX_TICKET)
		return ERR_PROTO;
	return (*out = strndup(body, n)) != NULL ? 0 : ERR_NOMEM;
}

static int
fetch_one(const struct bench *b, SSL_CTX *ctx, char **out)
{
	char req[512], ans[RBUF_LEN];
	SSL *ssl = NULL;
	size_t got = 0;
	int fd = -1, n, len, r;

	len = snprintf(req, sizeof(req), "POST /v1/tickets HTTP/1.1\r\n"
	    "Host: %s\r\nAccept: text/plain\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\nuser=%s", b->addr, strlen(b->user) + 5,
	    b->user);
	if (len < 0 || (size_t)len >= sizeof(req))
		return ERR_TOOLONG;
	if ((r = tcp_connect(b, &fd)) != 0)
		goto out;
	r = ERR_TLS;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_connect(ssl) != 1 || SSL_write(ssl, req, len) != len)
		goto out;
	while (got < sizeof(ans) - 1 &&
	    (n = SSL_read(ssl, ans + got, (int)(sizeof(ans) - 1 - got))) > 0)
		got += (size_t)n;
	ans[got] = '\0';
	r = ticket_from_answer(ans, out);
	OPENSSL_cleanse(ans, sizeof(ans));
out:
	ERR_clear_error();
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return r;
}

static int
fetch_all(struct bench *b)
{
	SSL_CTX *ctx = NULL;
	double t0 = now_ms();
	int r;

	if ((r = tls_ctx(b, &ctx)) != 0)
		goto out;
	while (b->n_tickets < b->count) {
		if (now_ms() >= b->deadline_ms) {
			r = ERR_TIMEOUT;
			goto out;
		}
		if ((r = fetch_one(b, ctx, &b->tickets[b->n_tickets])) != 0) {
			fprintf(stderr, "redeem_bench: ticket %lu: %s\n",
			    b->n_tickets + 1, err_str(r));
			goto out;
		}
		b->n_tickets++;
	}
	r = 0;
out:
	b->fetch_s = (now_ms() - t0) / 1e3;
	SSL_CTX_free(ctx);
	return r;
}

/* --- redeeming over the bare protocol --------------------------------- */

static int
send_msg(int fd, const struct proto_msg *m)
{
	struct buf *out = NULL;
	size_t off = 0;
	ssize_t n;
	int r;

	if ((out = buf_new(PROTO_MAX_FRAME + PROTO_HDR_LEN)) == NULL)
		return ERR_NOMEM;
	if ((r = proto_encode(out, m)) != 0)
		goto out;
	while (off < buf_avail(out)) {
		if ((r = wait_fd(fd, POLLOUT)) != 0)
			goto out;
		n = send(fd, buf_ptr(out) + off, buf_avail(out) - off,
		    MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = ERR_IO;
			goto out;
		}
		off += n > 0 ? (size_t)n : 0;
	}
	r = 0;
out:
	/* The REDEEM frame holds the ticket: buf_free wipes it. */
	buf_free(&out);
	return r;
}

/* One frame into *m (owned by the caller). */
static int
recv_msg(int fd, struct proto_msg *m)
{
	uint8_t in[PROTO_MAX_FRAME + PROTO_HDR_LEN];
	size_t got = 0, used = 0;
	ssize_t n;
	int r;

	for (;;) {
		r = proto_decode(in, got, m, &used);
		if (r != ERR_SHORT)
			return r;
		if (got == sizeof(in))
			return ERR_TOOLONG;
		if ((r = wait_fd(fd, POLLIN)) != 0)
			return r;
		n = recv(fd, in + got, sizeof(in) - got, 0);
		if (n == 0)
			return ERR_CLOSED;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return ERR_IO;
		got += n > 0 ? (size_t)n : 0;
	}
}

static int
unix_connect(const char *path, int *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return ERR_TOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		return ERR_IO;
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return ERR_IO;
	}
	*out = fd;
	return 0;
}

/* A REDEEM of its own copies, so that proto_msg_clear frees them and
 * wipes the ticket's. */
static int
redeem_msg(const struct bench *b, const char *ticket, struct proto_msg *m)
{
	struct proto_redeem *rd = &m->u.redeem;

	/* The union held the HELLO's version, over the first pointer. */
	memset(m, 0, sizeof(*m));
	m->type = PROTO_REDEEM;
	if ((rd->user = strdup(b->user)) == NULL ||
	    (rd->service = strdup(b->service)) == NULL ||
	    (rd->rhost = strdup(b->addr)) == NULL ||
	    (rd->ticket = strdup(ticket)) == NULL)
		return ERR_NOMEM;
	return 0;
}

/* 0 for OK, ERR_DENIED for DENY, another error for a broken exchange. */
static int
redeem_proto(const struct bench *b, const char *ticket)
{
	struct proto_msg m = { 0 }, in = { 0 };
	int fd = -1, r;

	if ((r = unix_connect(b->sock, &fd)) != 0)
		goto out;
	m.type = PROTO_HELLO;
	m.u.version = PROTO_VERSION;
	if ((r = send_msg(fd, &m)) != 0 || (r = recv_msg(fd, &in)) != 0)
		goto out;
	if (in.type != PROTO_HELLO) {
		r = in.type == PROTO_DENY ? ERR_DENIED : ERR_PROTO;
		goto out;
	}
	proto_msg_clear(&in);
	if ((r = redeem_msg(b, ticket, &m)) != 0 ||
	    (r = send_msg(fd, &m)) != 0 || (r = recv_msg(fd, &in)) != 0)
		goto out;
	r = in.type == PROTO_OK ? 0 : in.type == PROTO_DENY ? ERR_DENIED :
	    ERR_PROTO;
out:
	proto_msg_clear(&m);
	proto_msg_clear(&in);
	if (fd >= 0)
		close(fd);
	return r;
}

/* --- redeeming through the PAM module --------------------------------- */

/* Answers every prompt with the ticket (appdata), as sshd's
 * keyboard-interactive would with the user's answer. */
static int
conv_ticket(int n, const struct pam_message **msg, struct pam_response **resp,
    void *appdata)
{
	struct pam_response *rs;
	int i;

	if (n <= 0 || (rs = calloc((size_t)n, sizeof(*rs))) == NULL)
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if ((rs[i].resp = strdup(appdata)) == NULL)
			goto fail;
	}
	*resp = rs;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++) {
		if (rs[i].resp != NULL)
			explicit_bzero(rs[i].resp, strlen(rs[i].resp));
		free(rs[i].resp);
	}
	free(rs);
	return PAM_CONV_ERR;
}

static int
redeem_pam(const struct bench *b, char *ticket)
{
	struct pam_conv conv = { .conv = conv_ticket, .appdata_ptr = ticket };
	pam_handle_t *ph = NULL;
	int rc;

	if ((rc = pam_start(b->service, b->user, &conv, &ph)) != PAM_SUCCESS)
		return ERR_INTERNAL;
	if ((rc = pam_set_item(ph, PAM_RHOST, b->addr)) == PAM_SUCCESS)
		rc = pam_authenticate(ph, 0);
	pam_end(ph, rc);
	return rc == PAM_SUCCESS ? 0 : ERR_DENIED;
}

static int
redeem_all(struct bench *b)
{
	unsigned long i;
	double t0;
	int r;

	for (i = 0; i < b->n_tickets; i++) {
		if (now_ms() >= b->deadline_ms)
			return ERR_TIMEOUT;
		t0 = now_ms();
		r = b->pam_mode ? redeem_pam(b, b->tickets[i]) :
		    redeem_proto(b, b->tickets[i]);
		b->lat_ms[b->n_lat++] = now_ms() - t0;
		if (r == 0) {
			b->ok++;
			continue;
		}
		if (b->failed++ == 0)
			fprintf(stderr, "redeem_bench: redemption %lu: %s\n",
			    i + 1, err_str(r));
	}
	return 0;
}

/* --- main -------------------------------------------------------------- */

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

/* CERT[:KEY]: the key is the rest of the argument; *cert owned. */
static int
split_cert(struct bench *b, const char *arg, char **cert)
{
	char *colon;

	if ((*cert = strdup(arg)) == NULL)
		return ERR_NOMEM;
	b->cert = b->key = *cert;
	if ((colon = strchr(*cert, ':')) != NULL) {
		*colon = '\0';
		b->key = colon + 1;
	}
	return 0;
}

static int
loopback_v4(const char *addr)
{
	struct in_addr a;

	return inet_pton(AF_INET, addr, &a) == 1 &&
	    (ntohl(a.s_addr) >> 24) == 127;
}

static int
parse_args(struct bench *b, int argc, char **argv, char **cert)
{
	unsigned long port = 0;
	int opt, have_n = 0, have_t = 0, have_m = 0;

	b->user = "root";
	b->sock = "/run/mtlsd/pam.sock";
	b->service = "mtls-bench";
	while ((opt = getopt(argc, argv, "n:t:m:c:C:u:s:S:h")) != -1) {
		switch (opt) {
		case 'n':
			have_n = parse_ulong(optarg, 1, MAX_COUNT, &b->count) == 0;
			break;
		case 't':
			have_t = parse_ulong(optarg, 1, MAX_SECONDS,
			    &b->seconds) == 0;
			break;
		case 'm':
			have_m = strcmp(optarg, "proto") == 0 ||
			    strcmp(optarg, "pam") == 0;
			b->pam_mode = strcmp(optarg, "pam") == 0;
			break;
		case 'c':
			free(*cert);
			if (split_cert(b, optarg, cert) != 0)
				return ERR_NOMEM;
			break;
		case 'C': b->cafile = optarg; break;
		case 'u': b->user = optarg; break;
		case 's': b->sock = optarg; break;
		case 'S': b->service = optarg; break;
		case 'h':
		default:
			return ERR_INVALID;
		}
	}
	if (!have_n || !have_t || !have_m || b->cert == NULL ||
	    b->cafile == NULL || argc - optind != 2 ||
	    !loopback_v4(argv[optind]) ||
	    parse_ulong(argv[optind + 1], 1, 65535, &port) != 0)
		return ERR_INVALID;
	b->addr = argv[optind];
	b->port = (unsigned short)port;
	return 0;
}

static void
bench_free(struct bench *b)
{
	unsigned long i;

	for (i = 0; b->tickets != NULL && i < b->n_tickets; i++) {
		OPENSSL_cleanse(b->tickets[i], strlen(b->tickets[i]));
		free(b->tickets[i]);
	}
	free(b->tickets);
	free(b->lat_ms);
}

int
main(int argc, char **argv)
{
	static struct bench b;
	char *cert = NULL;
	int status = EXIT_USAGE, r;

	if (parse_args(&b, argc, argv, &cert) != 0) {
		fprintf(stderr, "usage: redeem_bench -n COUNT -t SECONDS "
		    "-m proto|pam -c CERT[:KEY] -C CAFILE [-u USER]\n"
		    "    [-s PAM_SOCKET] [-S SERVICE] ADDRESS(127.x.x.x) PORT\n");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)b.seconds + 10);
	b.deadline_ms = now_ms() + (double)b.seconds * 1e3;
	if ((b.tickets = calloc(b.count, sizeof(*b.tickets))) == NULL ||
	    (b.lat_ms = calloc(b.count, sizeof(*b.lat_ms))) == NULL)
		goto out;
	if ((r = fetch_all(&b)) != 0) {
		status = r == ERR_TIMEOUT ? EXIT_TIMELIMIT : EXIT_USAGE;
		goto out;
	}
	r = redeem_all(&b);
	qsort(b.lat_ms, b.n_lat, sizeof(*b.lat_ms), cmp_double);
	printf("mode=%s redemptions=%lu ok=%lu failed=%lu p50_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f fetch_s=%.2f\n", b.pam_mode ? "pam" :
	    "proto", b.n_lat, b.ok, b.failed, percentile(b.lat_ms, b.n_lat, 50),
	    percentile(b.lat_ms, b.n_lat, 99),
	    b.n_lat > 0 ? b.lat_ms[b.n_lat - 1] : 0, b.fetch_s);
	status = r == ERR_TIMEOUT ? EXIT_TIMELIMIT :
	    b.failed != 0 ? EXIT_FAILED : 0;
out:
	bench_free(&b);
	free(cert);
	return status;
}
