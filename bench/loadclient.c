/* loadclient: a bounded load client for mtlsd's ticket API, on loopback.
 *
 *   bench/loadclient -n COUNT -t SECONDS [-c CONCURRENCY] [-T CONN_SECONDS]
 *       [-u USER] [-C CAFILE] -k KIND:WEIGHT[:CERT[:KEY]] ... ADDRESS PORT
 *
 * Every attempt is a new TCP connection and a new full TLS 1.3 handshake
 * (no session is ever reused), then POST /v1/tickets user=USER and the
 * answer read to its end. Attempts are spread over the -k clients by
 * weight, in a fixed rotation, so the count of each kind follows from
 * COUNT alone and a test can compare it. KIND is what the client is
 * meant to be, for the summary and the verdict:
 *   valid revoked expired wrongca   with CERT (leaf first, then any chain)
 *                                   and KEY (default: CERT)
 *   nocert                          a TLS client without a certificate
 *   garbage                         random bytes instead of a ClientHello
 * Several -k may name the same kind (several valid certificates, say).
 *
 * It refuses to run without a count and a time limit, and it connects only
 * to 127.0.0.0/8 or ::1: it is a test and benchmark tool, never a flood
 * against another host. The time limit is a hard stop: attempts still
 * running then are counted as unfinished, and an alarm ends the process
 * if the loop itself were ever stuck.
 *
 * Output, one line per kind used, then a total, on stdout:
 *   kind=valid attempts=6000 created=6000 refused=0 alert=0 http403=0
 *     closed=0 other=0 errors=0 unfinished=0 p50_ms=4.1 p99_ms=9.8
 *     hs_per_s=812.3
 * created: 201 with a ticket; refused: alert + http403 + closed (a TLS
 * alert from the server, a 403, or the connection closed without an
 * answer); other: any other HTTP status; errors: connect failures,
 * timeouts, local TLS failures, malformed answers. hs_per_s: attempts of
 * that kind finished per second of the run's wall time. Latency runs from
 * connect() to the end of the answer (or the refusal).
 *
 * Exit status: 0 when every attempt finished, every valid one got its
 * ticket and no other one did; 1 when an attempt's outcome was not that;
 * 2 on a usage or set-up error; 3 when the time limit stopped the run. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"

#define MAX_COUNT 1000000UL
#define MAX_SECONDS 3600UL
#define MAX_CONC 4096UL
#define MAX_CLIENTS 64
#define MAX_WEIGHT 1000UL
#define RBUF_LEN 4096
#define GARBAGE_LEN 512
#define REQ_LEN 512
#define TICKET_CHARS 32
#define EXIT_MISMATCH 1
#define EXIT_USAGE 2
#define EXIT_TIMELIMIT 3

enum kind { K_VALID, K_REVOKED, K_EXPIRED, K_WRONGCA, K_NOCERT, K_GARBAGE,
	N_KINDS };

static const char *const kind_names[N_KINDS] = {
	"valid", "revoked", "expired", "wrongca", "nocert", "garbage"
};

enum outcome { O_CREATED, O_ALERT, O_FORBIDDEN, O_CLOSED, O_OTHER, O_ERROR,
	O_UNFINISHED, N_OUTCOMES };

enum cstate { CS_FREE, CS_CONNECT, CS_HANDSHAKE, CS_SEND, CS_RECV,
	CS_RAW_SEND, CS_RAW_RECV };

struct client {
	enum kind kind;
	unsigned long weight;
	SSL_CTX *ctx;          /* NULL for garbage (no TLS at all) */
};

struct tally {
	unsigned long planned;
	unsigned long n[N_OUTCOMES];
	double *lat_ms;        /* one per finished attempt, owned */
	unsigned long n_lat;
	char note[160];        /* the first error or odd answer, for people */
};

struct conn {
	enum cstate st;
	int fd;
	short events;          /* what poll waits for */
	SSL *ssl;
	const struct client *cl;
	double t0, deadline;
	size_t woff;
	unsigned char wbuf[GARBAGE_LEN];
	size_t rlen;
	int got_alert;         /* raw mode: an alert record came back */
	char rbuf[RBUF_LEN];
};

struct run {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned long count, seconds, conc, conn_seconds;
	struct client clients[MAX_CLIENTS];
	size_t n_clients;
	unsigned long total_weight;
	char req[REQ_LEN];
	size_t req_len;
	struct tally t[N_KINDS];
	struct conn *conns;
	struct pollfd *pfds;
	size_t *pidx;          /* pfds[i] belongs to conns[pidx[i]] */
	unsigned long started;
	double start_ms, stop_ms;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadclient -n COUNT -t SECONDS [-c CONCURRENCY] "
	    "[-T CONN_SECONDS]\n"
	    "    [-u USER] [-C CAFILE] -k KIND:WEIGHT[:CERT[:KEY]] ... "
	    "ADDRESS PORT\n"
	    "KIND: valid revoked expired wrongca (with CERT), nocert, "
	    "garbage\n"
	    "ADDRESS must be in 127.0.0.0/8 or ::1\n");
}

/* --- set-up ------------------------------------------------------------ */

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
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return ERR_INVALID;
	*out = v;
	return 0;
}

/* Only numeric loopback addresses: this is what keeps the tool on the
 * machine it runs on. */
static int
resolve_loopback(struct run *rn, const char *host, const char *port)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	int r = ERR_INVALID;

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
		fprintf(stderr, "loadclient: %s port %s: not a numeric address "
		    "and port\n", host, port);
		goto out;
	}
	if (ai->ai_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)ai->ai_addr;
		if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			r = 0;
	} else if (ai->ai_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			r = 0;
	}
	if (r != 0 || ai->ai_addrlen > sizeof(rn->addr)) {
		fprintf(stderr, "loadclient: %s is not a loopback address "
		    "(127.0.0.0/8 or ::1): refused\n", host);
		r = ERR_INVALID;
		goto out;
	}
	memcpy(&rn->addr, ai->ai_addr, ai->ai_addrlen);
	rn->addrlen = ai->ai_addrlen;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

static int
kind_of(const char *s, size_t len, enum kind *out)
{
	size_t i;

	for (i = 0; i < N_KINDS; i++) {
		if (strlen(kind_names[i]) == len &&
		    strncmp(kind_names[i], s, len) == 0) {
			*out = (enum kind)i;
			return 0;
		}
	}
	return ERR_INVALID;
}

/* The one place OpenSSL's "1 is success" becomes our 0 / ERR_TLS; the
 * error queue is printed and emptied. */
static int
ossl_ok(long ret, const char *what, const char *file)
{
	if (ret == 1)
		return 0;
	fprintf(stderr, "loadclient: %s %s failed\n", what, file);
	ERR_print_errors_fp(stderr);
	return ERR_TLS;
}

/* A TLS 1.3-only context that never resumes; verifies the server against
 * cafile when one is given. cert/key may be NULL (nocert). *out owned by
 * the caller. */
static int
ctx_new(const char *cert, const char *key, const char *cafile,
    const char *host, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	int r = ERR_TLS;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (r = ossl_ok(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION),
	    "TLS 1.3 minimum", "")) != 0 ||
	    (r = ossl_ok(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION),
	    "TLS 1.3 maximum", "")) != 0)
		goto out;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* A server that hangs up without close_notify has closed, for
	 * the tally, not failed. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (cert != NULL &&
	    ((r = ossl_ok(SSL_CTX_use_certificate_chain_file(ctx, cert),
	    "loading certificate", cert)) != 0 ||
	    (r = ossl_ok(SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM), "loading key", key)) != 0 ||
	    (r = ossl_ok(SSL_CTX_check_private_key(ctx), "matching key",
	    key)) != 0))
		goto out;
	if (cafile != NULL) {
		if ((r = ossl_ok(SSL_CTX_load_verify_locations(ctx, cafile,
		    NULL), "loading CA", cafile)) != 0 ||
		    (r = ossl_ok(X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_CTX_get0_param(ctx), host), "server address", host)) != 0)
			goto out;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	return r;
}

/* KIND:WEIGHT[:CERT[:KEY]]; the key path is the rest of the argument. */
static int
add_client(struct run *rn, const char *arg, const char *cafile,
    const char *host)
{
	struct client *cl;
	char *copy = NULL, *w, *cert = NULL, *key = NULL;
	const char *colon;
	int r = ERR_INVALID;

	if (rn->n_clients >= MAX_CLIENTS || (colon = strchr(arg, ':')) == NULL)
		goto out;
	cl = &rn->clients[rn->n_clients];
	if (kind_of(arg, (size_t)(colon - arg), &cl->kind) != 0) {
		r = ERR_INVALID;
		goto out;
	}
	if ((copy = strdup(colon + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	w = copy;
	if ((cert = strchr(w, ':')) != NULL) {
		*cert++ = '\0';
		if ((key = strchr(cert, ':')) != NULL)
			*key++ = '\0';
		else
			key = cert;
	}
	if (parse_ulong(w, 1, MAX_WEIGHT, &cl->weight) != 0)
		goto out;
	/* garbage and nocert carry no certificate; the others need one. */
	if ((cert == NULL || *cert == '\0' || *key == '\0') !=
	    (cl->kind == K_GARBAGE || cl->kind == K_NOCERT))
		goto out;
	if (cl->kind != K_GARBAGE &&
	    (r = ctx_new(cert, key, cafile, host, &cl->ctx)) != 0)
		goto out;
	rn->total_weight += cl->weight;
	rn->n_clients++;
	r = 0;
out:
	if (r == ERR_INVALID)
		fprintf(stderr, "loadclient: bad -k %s\n", arg);
	free(copy);
	return r;
}

static int
valid_user(const char *u)
{
	size_t i, n = strlen(u);

	if (n == 0 || n > 32 || u[0] == '-' || u[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", u[i]) == NULL)
			return 0;
	return 1;
}

static int
build_request(struct run *rn, const char *user, const char *host)
{
	int n;

	if (!valid_user(user)) {
		fprintf(stderr, "loadclient: bad user name\n");
		return ERR_INVALID;
	}
	n = snprintf(rn->req, sizeof(rn->req),
	    "POST /v1/tickets HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Accept: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\nuser=%s", host, strlen(user) + 5, user);
	if (n < 0 || (size_t)n >= sizeof(rn->req))
		return ERR_TOOLONG;
	rn->req_len = (size_t)n;
	return 0;
}

/* Attempt i goes to the client at position i mod total_weight of the
 * rotation; so client c (weight w, offset o) gets
 * count/W * w + min(max(count%W - o, 0), w) attempts. */
static const struct client *
client_for(const struct run *rn, unsigned long i)
{
	unsigned long pos = i % rn->total_weight;
	size_t c;

	for (c = 0; c + 1 < rn->n_clients; c++) {
		if (pos < rn->clients[c].weight)
			break;
		pos -= rn->clients[c].weight;
	}
	return &rn->clients[c];
}

static int
plan_tallies(struct run *rn)
{
	unsigned long off = 0, rest = rn->count % rn->total_weight, extra;
	const struct client *cl;
	size_t c, k;

	for (c = 0; c < rn->n_clients; c++) {
		cl = &rn->clients[c];
		extra = rest > off ? rest - off : 0;
		rn->t[cl->kind].planned += rn->count / rn->total_weight *
		    cl->weight + (extra < cl->weight ? extra : cl->weight);
		off += cl->weight;
	}
	for (k = 0; k < N_KINDS; k++) {
		if (rn->t[k].planned == 0)
			continue;
		rn->t[k].lat_ms = calloc(rn->t[k].planned, sizeof(double));
		if (rn->t[k].lat_ms == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

/* Enough descriptors for the connections (and a few for stdio). */
static int
raise_nofile(unsigned long conc)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return ERR_IO;
	if (rl.rlim_cur >= conc + 16)
		return 0;
	if (rl.rlim_max < conc + 16) {
		fprintf(stderr, "loadclient: concurrency %lu needs more file "
		    "descriptors than the limit %llu\n", conc,
		    (unsigned long long)rl.rlim_max);
		return ERR_FULL;
	}
	rl.rlim_cur = conc + 16;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : ERR_IO;
}

/* --- one connection ---------------------------------------------------- */

static void
note(struct run *rn, const struct conn *c, const char *what)
{
	struct tally *t = &rn->t[c->cl->kind];

	/* The first note of a kind, cut to fit (the precision says so). */
	if (t->note[0] == '\0')
		snprintf(t->note, sizeof(t->note), "%.*s",
		    (int)(sizeof(t->note) - 1), what);
}

/* Why an SSL call failed, as the server's refusal or our error; the
 * thread's error queue is left empty. */
static enum outcome
ssl_failure(struct run *rn, struct conn *c, int ret)
{
	unsigned long e;
	char msg[128];
	int sslerr = SSL_get_error(c->ssl, ret);

	if (sslerr == SSL_ERROR_ZERO_RETURN)
		return O_CLOSED;
	if (sslerr == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		/* EOF, a reset or a broken pipe: the server hung up. */
		if (ret == 0 || errno == ECONNRESET || errno == EPIPE)
			return O_CLOSED;
		note(rn, c, strerror(errno));
		return O_ERROR;
	}
	e = ERR_peek_last_error();
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	/* Alerts from the peer are the reasons SSL_AD_REASON_OFFSET + the
	 * alert's code. */
	if (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET)
		return O_ALERT;
	note(rn, c, msg);
	return O_ERROR;
}

/* 1 and *out set when the SSL call wants to wait; 0 when it failed. */
static int
ssl_wants(struct conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		c->events = POLLIN;
		return 1;
	case SSL_ERROR_WANT_WRITE:
		c->events = POLLOUT;
		return 1;
	default:
		return 0;
	}
}

static int
header_value(const char *hdr, size_t hlen, const char *name, long *out)
{
	size_t nlen = strlen(name), i;
	char *end = NULL;

	for (i = 0; i + nlen + 2 < hlen; i++) {
		if (hdr[i] != '\n' || strncasecmp(hdr + i + 1, name, nlen) != 0)
			continue;
		*out = strtol(hdr + i + 1 + nlen, &end, 10);
		return end != hdr + i + 1 + nlen && *out >= 0 ? 0 : ERR_INVALID;
	}
	return ERR_NOTFOUND;
}

/* The answer so far: ERR_SHORT until it is whole (at_eof: the server has
 * closed), then 0 and *outcome. */
static int
parse_answer(struct run *rn, struct conn *c, int at_eof,
    enum outcome *outcome)
{
	const char *end, *tk;
	long clen = -1;
	size_t hlen, i;
	int status, r;

	c->rbuf[c->rlen] = '\0';
	if ((end = strstr(c->rbuf, "\r\n\r\n")) == NULL) {
		if (!at_eof)
			return ERR_SHORT;
		*outcome = c->rlen == 0 ? O_CLOSED : O_ERROR;
		if (c->rlen != 0)
			note(rn, c, "answer cut short in its header");
		return 0;
	}
	hlen = (size_t)(end - c->rbuf) + 4;
	r = header_value(c->rbuf, hlen, "content-length:", &clen);
	if (r == ERR_INVALID) {
		note(rn, c, "malformed Content-Length");
		*outcome = O_ERROR;
		return 0;
	}
	/* Without a length the answer ends where the connection does. */
	if (!at_eof && (r != 0 || c->rlen < hlen + (size_t)clen))
		return ERR_SHORT;
	if (strncmp(c->rbuf, "HTTP/1.", 7) != 0 || c->rlen < 12 ||
	    c->rbuf[8] != ' ' || sscanf(c->rbuf + 9, "%3d", &status) != 1) {
		note(rn, c, "malformed status line");
		*outcome = O_ERROR;
		return 0;
	}
	if (status == 403) {
		*outcome = O_FORBIDDEN;
		return 0;
	}
	if (status != 201) {
		note(rn, c, c->rbuf);
		*outcome = O_OTHER;
		return 0;
	}
	/* A 201 counts only with a ticket in it. */
	*outcome = O_ERROR;
	if ((tk = strstr(c->rbuf + hlen, "\"ticket\":\"")) == NULL) {
		note(rn, c, "201 without a ticket");
		return 0;
	}
	tk += 10;
	for (i = 0; i < TICKET_CHARS; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_", tk[i]) == NULL || tk[i] == '\0')
			break;
	if (i == TICKET_CHARS && tk[i] == '"')
		*outcome = O_CREATED;
	else
		note(rn, c, "201 with a malformed ticket");
	return 0;
}

static void
conn_finish(struct run *rn, struct conn *c, enum outcome o)
{
	struct tally *t = &rn->t[c->cl->kind];

	t->n[o]++;
	if (o != O_UNFINISHED && t->n_lat < t->planned)
		t->lat_ms[t->n_lat++] = now_ms() - c->t0;
	/* The answer held a ticket: a secret, even here. */
	OPENSSL_cleanse(c->rbuf, sizeof(c->rbuf));
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = CS_FREE;
}

/* Random bytes that cannot start a record: the first is no TLS record
 * type (20..24) and has the top bit clear (no SSLv2 hello), the second is
 * not 3 (the major version of every TLS record). So the server can refuse
 * at the header; a header it took for a record's would have it wait for
 * the rest, which is the slow-client case, not this one. */
static int
garbage_fill(struct conn *c)
{
	if (RAND_bytes(c->wbuf, (int)sizeof(c->wbuf)) != 1)
		return ERR_TLS;
	c->wbuf[0] = (unsigned char)(c->wbuf[0] & 0x7f);
	if (c->wbuf[0] >= 20 && c->wbuf[0] <= 24)
		c->wbuf[0] = (unsigned char)(c->wbuf[0] + 16);
	if (c->wbuf[1] == 3)
		c->wbuf[1] = 0x43;
	return 0;
}

static void
conn_start(struct run *rn, struct conn *c)
{
	static const int nodelay = 1;

	memset(c, 0, offsetof(struct conn, rbuf));
	c->fd = -1;
	c->cl = client_for(rn, rn->started);
	c->t0 = now_ms();
	c->deadline = c->t0 + (double)rn->conn_seconds * 1e3;
	rn->started++;
	c->st = CS_CONNECT;
	c->events = POLLOUT;
	if ((c->fd = socket(rn->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0) {
		note(rn, c, strerror(errno));
		conn_finish(rn, c, O_ERROR);
		return;
	}
	/* As any real client should: otherwise the request after the
	 * handshake waits for a delayed ACK (about 40 ms) when the server
	 * sends no session tickets, and the run measures that timer. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay,
	    sizeof(nodelay)) != 0) {
		note(rn, c, strerror(errno));
		conn_finish(rn, c, O_ERROR);
		return;
	}
	if (c->cl->kind == K_GARBAGE && garbage_fill(c) != 0) {
		note(rn, c, "RAND_bytes failed");
		conn_finish(rn, c, O_ERROR);
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&rn->addr, rn->addrlen) !=
	    0 && errno != EINPROGRESS) {
		note(rn, c, strerror(errno));
		conn_finish(rn, c, O_ERROR);
	}
}

static int
step_connect(struct run *rn, struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
	    soerr != 0) {
		note(rn, c, strerror(soerr != 0 ? soerr : errno));
		conn_finish(rn, c, O_ERROR);
		return 0;
	}
	if (c->cl->kind == K_GARBAGE) {
		c->st = CS_RAW_SEND;
		return 1;
	}
	if ((c->ssl = SSL_new(c->cl->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		note(rn, c, "cannot set up the TLS connection");
		conn_finish(rn, c, O_ERROR);
		return 0;
	}
	c->st = CS_HANDSHAKE;
	return 1;
}

static int
step_tls(struct run *rn, struct conn *c)
{
	enum outcome o;
	int ret;

	ERR_clear_error();
	switch (c->st) {
	case CS_HANDSHAKE:
		ret = SSL_connect(c->ssl);
		if (ret == 1) {
			c->st = CS_SEND;
			return 1;
		}
		break;
	case CS_SEND:
		/* Without partial writes SSL_write takes all or nothing, and
		 * is retried with the same arguments. */
		ret = SSL_write(c->ssl, rn->req, (int)rn->req_len);
		if (ret > 0) {
			c->st = CS_RECV;
			return 1;
		}
		break;
	case CS_RECV:
		ret = SSL_read(c->ssl, c->rbuf + c->rlen,
		    (int)(sizeof(c->rbuf) - 1 - c->rlen));
		if (ret > 0) {
			c->rlen += (size_t)ret;
			if (parse_answer(rn, c, 0, &o) == 0)
				conn_finish(rn, c, o);
			else if (c->rlen >= sizeof(c->rbuf) - 1) {
				note(rn, c, "answer too long");
				conn_finish(rn, c, O_ERROR);
			} else
				return 1;
			return 0;
		}
		if (!ssl_wants(c, ret) && c->rlen > 0 &&
		    parse_answer(rn, c, 1, &o) == 0) {
			ERR_clear_error();
			conn_finish(rn, c, o);
			return 0;
		}
		break;
	case CS_FREE:
	case CS_CONNECT:
	case CS_RAW_SEND:
	case CS_RAW_RECV:
	default:
		return 0;
	}
	if (ssl_wants(c, ret))
		return 0;
	conn_finish(rn, c, ssl_failure(rn, c, ret));
	return 0;
}

static int
step_raw(struct run *rn, struct conn *c)
{
	unsigned char in[256];
	ssize_t n;

	if (c->st == CS_RAW_SEND) {
		n = send(c->fd, c->wbuf + c->woff, sizeof(c->wbuf) - c->woff,
		    MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->events = POLLOUT;
			return 0;
		}
		if (n < 0) {
			conn_finish(rn, c, O_CLOSED);
			return 0;
		}
		c->woff += (size_t)n;
		if (c->woff == sizeof(c->wbuf))
			c->st = CS_RAW_RECV;
		return 1;
	}
	n = recv(c->fd, in, sizeof(in), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->events = POLLIN;
		return 0;
	}
	if (n > 0) {
		/* The first byte of what comes back: 21 is an alert record. */
		if (c->rlen == 0 && in[0] == 21)
			c->got_alert = 1;
		c->rlen += (size_t)n;
		return 1;
	}
	conn_finish(rn, c, c->got_alert ? O_ALERT : O_CLOSED);
	return 0;
}

/* Runs c as far as it goes without waiting. */
static void
conn_step(struct run *rn, struct conn *c)
{
	int more = 1;

	while (more) {
		switch (c->st) {
		case CS_CONNECT:
			more = step_connect(rn, c);
			break;
		case CS_HANDSHAKE:
		case CS_SEND:
		case CS_RECV:
			more = step_tls(rn, c);
			break;
		case CS_RAW_SEND:
		case CS_RAW_RECV:
			more = step_raw(rn, c);
			break;
		case CS_FREE:
		default:
			more = 0;
			break;
		}
	}
}

/* --- the loop ---------------------------------------------------------- */

static void
fill_slots(struct run *rn, double now)
{
	size_t i;

	for (i = 0; i < rn->conc; i++) {
		if (rn->started >= rn->count || now >= rn->stop_ms)
			return;
		if (rn->conns[i].st == CS_FREE)
			conn_start(rn, &rn->conns[i]);
	}
}

/* The poll set and its timeout (the nearest deadline, in ms). */
static nfds_t
poll_set(struct run *rn, double now, int *timeout)
{
	double next = rn->stop_ms;
	nfds_t n = 0;
	size_t i;

	for (i = 0; i < rn->conc; i++) {
		if (rn->conns[i].st == CS_FREE)
			continue;
		rn->pfds[n].fd = rn->conns[i].fd;
		rn->pfds[n].events = rn->conns[i].events;
		rn->pfds[n].revents = 0;
		rn->pidx[n++] = i;
		if (rn->conns[i].deadline < next)
			next = rn->conns[i].deadline;
	}
	*timeout = next <= now ? 0 : (int)(next - now) + 1;
	return n;
}

static int
run_loop(struct run *rn)
{
	struct conn *c;
	nfds_t n, i;
	double now;
	int timeout;

	rn->start_ms = now_ms();
	rn->stop_ms = rn->start_ms + (double)rn->seconds * 1e3;
	for (;;) {
		now = now_ms();
		fill_slots(rn, now);
		n = poll_set(rn, now, &timeout);
		if (n == 0 && (rn->started >= rn->count || now >= rn->stop_ms))
			break;
		if (poll(rn->pfds, n, timeout) < 0 && errno != EINTR) {
			perror("loadclient: poll");
			return ERR_IO;
		}
		now = now_ms();
		for (i = 0; i < n; i++) {
			c = &rn->conns[rn->pidx[i]];
			if (now >= rn->stop_ms)
				conn_finish(rn, c, O_UNFINISHED);
			else if (rn->pfds[i].revents != 0)
				conn_step(rn, c);
			else if (now >= c->deadline) {
				note(rn, c, "timed out");
				conn_finish(rn, c, O_ERROR);
			}
		}
	}
	rn->stop_ms = now_ms();
	return 0;
}

/* --- the summary ------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% at or below it. */
static double
percentile(const double *v, unsigned long n, unsigned p)
{
	unsigned long rank;

	if (n == 0)
		return 0;
	rank = (n * p + 99) / 100;
	return v[rank == 0 ? 0 : rank - 1];
}

/* unfinished: cut by the time limit, or never started. */
static void
print_line(const char *label, const unsigned long *n, unsigned long planned,
    double *lat, unsigned long n_lat, double secs)
{
	qsort(lat, n_lat, sizeof(*lat), cmp_double);
	printf("kind=%s attempts=%lu created=%lu refused=%lu alert=%lu "
	    "http403=%lu closed=%lu other=%lu errors=%lu unfinished=%lu "
	    "p50_ms=%.2f p99_ms=%.2f hs_per_s=%.1f\n", label,
	    planned, n[O_CREATED], n[O_ALERT] + n[O_FORBIDDEN] + n[O_CLOSED],
	    n[O_ALERT], n[O_FORBIDDEN], n[O_CLOSED], n[O_OTHER], n[O_ERROR],
	    planned - n_lat, percentile(lat, n_lat, 50),
	    percentile(lat, n_lat, 99), secs > 0 ? (double)n_lat / secs : 0);
}

/* Prints the summary; the exit status (see the top of the file). */
static int
summary(struct run *rn)
{
	unsigned long all[N_OUTCOMES] = { 0 }, planned = 0, n_lat = 0, o;
	double secs = (rn->stop_ms - rn->start_ms) / 1e3, *lat = NULL;
	int status = 0;
	size_t k;

	for (k = 0; k < N_KINDS; k++) {
		struct tally *t = &rn->t[k];

		if (t->planned == 0)
			continue;
		print_line(kind_names[k], t->n, t->planned, t->lat_ms, t->n_lat,
		    secs);
		if (t->note[0] != '\0')
			fprintf(stderr, "loadclient: %s: first odd outcome: %s\n",
			    kind_names[k], t->note);
		for (o = 0; o < N_OUTCOMES; o++)
			all[o] += t->n[o];
		planned += t->planned;
		n_lat += t->n_lat;
		if ((k == K_VALID && t->n[O_CREATED] != t->planned) ||
		    (k != K_VALID && t->n[O_CREATED] != 0))
			status = EXIT_MISMATCH;
	}
	if ((lat = calloc(n_lat > 0 ? n_lat : 1, sizeof(*lat))) != NULL) {
		n_lat = 0;
		for (k = 0; k < N_KINDS; k++) {
			if (rn->t[k].n_lat == 0)
				continue;
			memcpy(lat + n_lat, rn->t[k].lat_ms,
			    rn->t[k].n_lat * sizeof(*lat));
			n_lat += rn->t[k].n_lat;
		}
		print_line("total", all, planned, lat, n_lat, secs);
	}
	printf("elapsed_s=%.3f concurrency=%lu\n", secs, rn->conc);
	free(lat);
	if (rn->started < rn->count || all[O_UNFINISHED] != 0)
		return EXIT_TIMELIMIT;
	return status;
}

/* --- main -------------------------------------------------------------- */

static int
parse_args(struct run *rn, int argc, char **argv)
{
	const char *user = "root", *cafile = NULL;
	char **kargs = NULL;
	size_t nk = 0, i;
	int opt, r = ERR_INVALID, have_n = 0, have_t = 0;

	if ((kargs = calloc((size_t)argc, sizeof(*kargs))) == NULL)
		return ERR_NOMEM;
	rn->conc = 16;
	rn->conn_seconds = 10;
	while ((opt = getopt(argc, argv, "n:t:c:T:u:C:k:h")) != -1) {
		switch (opt) {
		case 'n':
			have_n = parse_ulong(optarg, 1, MAX_COUNT, &rn->count) == 0;
			break;
		case 't':
			have_t = parse_ulong(optarg, 1, MAX_SECONDS,
			    &rn->seconds) == 0;
			break;
		case 'c':
			if (parse_ulong(optarg, 1, MAX_CONC, &rn->conc) != 0)
				goto out;
			break;
		case 'T':
			if (parse_ulong(optarg, 1, MAX_SECONDS,
			    &rn->conn_seconds) != 0)
				goto out;
			break;
		case 'u':
			user = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 'k':
			kargs[nk++] = optarg;
			break;
		case 'h':
		default:
			goto out;
		}
	}
	if (!have_n || !have_t) {
		fprintf(stderr, "loadclient: a count (-n 1..%lu) and a time "
		    "limit (-t 1..%lu s) are required\n", MAX_COUNT, MAX_SECONDS);
		goto out;
	}
	if (argc - optind != 2 || nk == 0)
		goto out;
	if ((r = resolve_loopback(rn, argv[optind], argv[optind + 1])) != 0 ||
	    (r = build_request(rn, user, argv[optind])) != 0)
		goto out;
	for (i = 0; i < nk; i++)
		if ((r = add_client(rn, kargs[i], cafile, argv[optind])) != 0)
			goto out;
	r = 0;
out:
	free(kargs);
	return r;
}

static void
run_free(struct run *rn)
{
	size_t i;

	for (i = 0; rn->conns != NULL && i < rn->conc; i++) {
		SSL_free(rn->conns[i].ssl);
		if (rn->conns[i].st != CS_FREE && rn->conns[i].fd >= 0)
			close(rn->conns[i].fd);
	}
	for (i = 0; i < rn->n_clients; i++)
		SSL_CTX_free(rn->clients[i].ctx);
	for (i = 0; i < N_KINDS; i++)
		free(rn->t[i].lat_ms);
	free(rn->conns);
	free(rn->pfds);
	free(rn->pidx);
}

int
main(int argc, char **argv)
{
	static struct run rn;
	int status = EXIT_USAGE;

	if (parse_args(&rn, argc, argv) != 0) {
		usage();
		goto out;
	}
	if (raise_nofile(rn.conc) != 0 || plan_tallies(&rn) != 0 ||
	    (rn.conns = calloc(rn.conc, sizeof(*rn.conns))) == NULL ||
	    (rn.pfds = calloc(rn.conc, sizeof(*rn.pfds))) == NULL ||
	    (rn.pidx = calloc(rn.conc, sizeof(*rn.pidx))) == NULL) {
		fprintf(stderr, "loadclient: cannot set up the run\n");
		goto out;
	}
	/* The hard stop behind the loop's own: the default action of
	 * SIGALRM ends the process. */
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)rn.seconds + 10);
	if (run_loop(&rn) != 0)
		goto out;
	alarm(0);
	status = summary(&rn);
out:
	run_free(&rn);
	return status;
}
