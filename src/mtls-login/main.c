/* mtls-login: fetch a one-use login ticket from mtlsd over mutual TLS.
 *
 *   mtls-login [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] USER@HOST
 *   mtls-login --ssh [options] USER@HOST [-- SSH-ARGS...]
 *
 * Runs as the admin on a workstation. Without --ssh it prints the ticket
 * on stdout and nothing else. With --ssh it then execs ssh with itself as
 * SSH_ASKPASS, and answers the ticket prompt in askpass mode.
 *
 * Exit codes (DESIGN.md): 0 success, 1 denied, 2 usage or config error,
 * 3 cannot reach or verify the server. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "err.h"
#include "policy.h"

#define PROG "mtls-login"
#define DEFAULT_PORT "7443"
#define CONNECT_TIMEOUT_MS 10000
#define IO_TIMEOUT_SEC 10
/* Bounds the whole TLS handshake and HTTP exchange, so that a server
 * trickling bytes just inside the per-read timeout cannot hold us. */
#define EXCHANGE_TIMEOUT_MS 20000
#define RESPONSE_MAX 16384
#define TICKET_MIN 16
#define TICKET_MAX 128
#define USER_MAX 32
#define HOST_MAX 253
#define MSG_LEN 512
#define DETAIL_MAX 200

enum {
	EXIT_OK = 0,
	EXIT_DENIED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct target {
	char user[USER_MAX + 1];
	char host[HOST_MAX + 1];  /* name or address, brackets removed */
	int is_ip;                /* host is an IPv4 or IPv6 literal */
	int is_v6;
};

struct options {
	const char *cert;         /* borrowed from argv or the environment */
	const char *key;
	const char *ca;
	const char *port;
	int ssh;
	int help;
	int version;
	struct target t;
	char **ssh_args;          /* borrowed from argv: what follows "--" */
	size_t n_ssh_args;
};

/* One TLS connection to the server; alert is the last alert the server
 * sent us (-1: none), captured by the info callback because the error
 * queue does not say which alert it was. */
struct conn {
	int fd;
	SSL *ssl;
	int alert;
	struct timespec deadline;
};

struct http_resp {
	int status;
	char reason[64];          /* sanitised reason phrase */
	const uint8_t *body;      /* borrowed from the response buffer */
	size_t body_len;
};

static void
msg_set(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
msg_set(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/* The OpenSSL boundary for messages: the first queued reason, then the
 * queue is cleared so a later failure does not report a stale one. */
static const char *
ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *s = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s != NULL ? s : "unknown error";
}

/* Replaces what a terminal could interpret (controls, and every byte
 * >= 0x80 since C1 controls hide there in UTF-8) by '?'. */
static char
safe_char(uint8_t c)
{
	if (c < 0x20 || c >= 0x7f)
		return '?';
	return (char)c;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] "
	    "USER@HOST\n"
	    "       " PROG " --ssh [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] "
	    "USER@HOST [-- SSH-ARGS...]\n"
	    "\n"
	    "Gets a one-use login ticket for USER from mtlsd on HOST over "
	    "mutual TLS and\n"
	    "prints it; with --ssh, runs ssh USER@HOST SSH-ARGS... and "
	    "answers its ticket\n"
	    "prompt. HOST is a name, an IPv4 address or [IPv6 address].\n"
	    "\n"
	    "  -c, --cert CERT    client certificate, PEM, chain may follow "
	    "(MTLS_CERT)\n"
	    "  -k, --key KEY      its private key, PEM (MTLS_KEY)\n"
	    "  -C, --ca CAFILE    CA certificates that sign the server's "
	    "certificate (MTLS_CA)\n"
	    "  -p, --port PORT    mtlsd port (default " DEFAULT_PORT ")\n"
	    "      --ssh          run ssh with the ticket\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Exit status: 0 success, 1 denied, 2 usage or configuration "
	    "error,\n"
	    "3 cannot reach or verify the server.\n");
}

/* ---- arguments ---------------------------------------------------------- */

static int
valid_host_name(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > HOST_MAX || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

static int
parse_host(const char *h, struct target *t, char *msg, size_t msglen)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n = strlen(h);

	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']' || n - 2 > HOST_MAX) {
			msg_set(msg, msglen, "malformed [IPv6] host");
			return ERR_INVALID;
		}
		memcpy(t->host, h + 1, n - 2);
		t->host[n - 2] = '\0';
		if (inet_pton(AF_INET6, t->host, addr) != 1) {
			msg_set(msg, msglen, "malformed [IPv6] host");
			return ERR_INVALID;
		}
		t->is_ip = t->is_v6 = 1;
		return 0;
	}
	if (strchr(h, ':') != NULL) {
		msg_set(msg, msglen,
		    "an IPv6 host must be written in brackets: USER@[ADDRESS]");
		return ERR_INVALID;
	}
	if (!valid_host_name(h)) {
		msg_set(msg, msglen, "invalid host name");
		return ERR_INVALID;
	}
	memcpy(t->host, h, n + 1);
	t->is_ip = inet_pton(AF_INET, h, addr) == 1;
	return 0;
}

/* USER@HOST -> t. The user is checked here, not left to the server, so
 * that it can go into the form body without encoding. */
static int
parse_target(const char *arg, struct target *t, char *msg, size_t msglen)
{
	const char *at = strchr(arg, '@');
	size_t ulen;

	memset(t, 0, sizeof(*t));
	if (at == NULL) {
		msg_set(msg, msglen, "expected USER@HOST");
		return ERR_INVALID;
	}
	ulen = (size_t)(at - arg);
	if (ulen == 0 || ulen > USER_MAX) {
		msg_set(msg, msglen, "invalid user name");
		return ERR_INVALID;
	}
	memcpy(t->user, arg, ulen);
	t->user[ulen] = '\0';
	if (!valid_user_name(t->user)) {
		msg_set(msg, msglen, "invalid user name");
		return ERR_INVALID;
	}
	return parse_host(at + 1, t, msg, msglen);
}

static int
valid_port(const char *p)
{
	unsigned long v;
	char *end;

	if (p[0] < '0' || p[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(p, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Fills the file options still unset from the environment and checks
 * that all three are there. */
static int
options_from_env(struct options *o, char *msg, size_t msglen)
{
	if (o->cert == NULL)
		o->cert = env_nonempty("MTLS_CERT");
	if (o->key == NULL)
		o->key = env_nonempty("MTLS_KEY");
	if (o->ca == NULL)
		o->ca = env_nonempty("MTLS_CA");
	if (o->cert == NULL) {
		msg_set(msg, msglen,
		    "no client certificate: use -c CERT or set MTLS_CERT");
		return ERR_CONFIG;
	}
	if (o->key == NULL) {
		msg_set(msg, msglen,
		    "no private key: use -k KEY or set MTLS_KEY");
		return ERR_CONFIG;
	}
	if (o->ca == NULL) {
		msg_set(msg, msglen,
		    "no CA file for the server: use -C CAFILE or set MTLS_CA");
		return ERR_CONFIG;
	}
	return 0;
}

/* What follows USER@HOST: nothing, or "--" and ssh's arguments (only
 * with --ssh). */
static int
parse_rest(struct options *o, int argc, char **argv, int i, char *msg,
    size_t msglen)
{
	if (i >= argc)
		return 0;
	if (!o->ssh) {
		msg_set(msg, msglen, "unexpected argument after USER@HOST "
		    "(ssh arguments need --ssh)");
		return ERR_INVALID;
	}
	if (strcmp(argv[i], "--") != 0) {
		msg_set(msg, msglen,
		    "ssh arguments must follow \"--\" after USER@HOST");
		return ERR_INVALID;
	}
	o->ssh_args = argv + i + 1;
	o->n_ssh_args = (size_t)(argc - i - 1);
	return 0;
}

static int
parse_args(int argc, char **argv, struct options *o, char *msg,
    size_t msglen)
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'C' },
		{ "port", required_argument, NULL, 'p' },
		{ "ssh", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, r;

	memset(o, 0, sizeof(*o));
	o->port = DEFAULT_PORT;
	opterr = 0;
	/* '+': stop at USER@HOST, so ssh's options after it are not ours. */
	while ((ch = getopt_long(argc, argv, "+:c:k:C:p:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->cert = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'C':
			o->ca = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 's':
			o->ssh = 1;
			break;
		case 'h':
			o->help = 1;
			return 0;
		case 'V':
			o->version = 1;
			return 0;
		case ':':
			msg_set(msg, msglen, "option needs an argument: %s",
			    argv[optind - 1]);
			return ERR_INVALID;
		default:
			if (optopt != 0)
				msg_set(msg, msglen, "unknown option -%c "
				    "(see --help)", optopt);
			else
				msg_set(msg, msglen, "unknown option %s "
				    "(see --help)", argv[optind - 1]);
			return ERR_INVALID;
		}
	}
	if (!valid_port(o->port)) {
		msg_set(msg, msglen, "invalid port: %s", o->port);
		return ERR_INVALID;
	}
	if (optind >= argc) {
		msg_set(msg, msglen, "missing USER@HOST (see --help)");
		return ERR_INVALID;
	}
	if ((r = parse_target(argv[optind], &o->t, msg, msglen)) != 0)
		return r;
	if ((r = parse_rest(o, argc, argv, optind + 1, msg, msglen)) != 0)
		return r;
	return options_from_env(o, msg, msglen);
}

/* ---- time --------------------------------------------------------------- */

static struct timespec
deadline_in(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds left until d, 0 if it has passed. */
static int
ms_left(const struct timespec *d)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(d->tv_sec - now.tv_sec) * 1000 +
	    (d->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- TCP ---------------------------------------------------------------- */

/* Waits for a non-blocking connect to finish. Returns 0 or an errno. */
static int
connect_wait(int fd, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0, n;
	socklen_t len = sizeof(err);

	for (;;) {
		n = poll(&p, 1, ms_left(deadline));
		if (n > 0)
			break;
		if (n == 0)
			return ETIMEDOUT;
		if (errno != EINTR)
			return errno;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return errno;
	return err;
}

/* Back to blocking with per-operation timeouts: OpenSSL then reports a
 * timeout as SSL_ERROR_WANT_READ/WRITE. */
static int
socket_set_blocking(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_SEC, .tv_usec = 0 };
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		return errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return errno;
	return 0;
}

/* Returns a connected socket in *fdp, or an errno. */
static int
connect_one(const struct addrinfo *ai, const struct timespec *deadline,
    int *fdp)
{
	int fd, err = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno == EINPROGRESS ? connect_wait(fd, deadline) :
		    errno;
	}
	if (err == 0)
		err = socket_set_blocking(fd);
	if (err != 0) {
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

static int
tcp_connect(const struct target *t, const char *port, int *fdp, char *msg,
    size_t msglen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timespec deadline;
	int gai, err = ETIMEDOUT, r = ERR_IO;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (t->is_ip ? AI_NUMERICHOST : 0);
	if ((gai = getaddrinfo(t->host, port, &hints, &res)) != 0) {
		msg_set(msg, msglen, "cannot resolve %s: %s", t->host,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		r = ERR_NOTFOUND;
		goto out;
	}
	/* One deadline for all addresses: a host with many unreachable
	 * addresses still fails in 10 s. */
	deadline = deadline_in(CONNECT_TIMEOUT_MS);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((err = connect_one(ai, &deadline, fdp)) == 0)
			break;
		if (ms_left(&deadline) == 0) {
			err = ETIMEDOUT;
			break;
		}
	}
	if (err != 0) {
		msg_set(msg, msglen, "cannot connect to %s port %s: %s",
		    t->host, port, err == ETIMEDOUT ? "timed out" :
		    strerror(err));
		r = err == ETIMEDOUT ? ERR_TIMEOUT : ERR_IO;
		goto out;
	}
	r = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* ---- TLS ---------------------------------------------------------------- */

static int
check_readable(const char *what, const char *path, char *msg,
    size_t msglen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		msg_set(msg, msglen, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return ERR_CONFIG;
	}
	close(fd);
	return 0;
}

/* Loads our certificate and key and the server's trust anchors. Nothing
 * but CAFILE is trusted: the system store is never loaded. */
static int
tls_ctx_new(const struct options *o, SSL_CTX **out, char *msg,
    size_t msglen)
{
	SSL_CTX *ctx = NULL;
	int r = ERR_CONFIG;

	if ((r = check_readable("certificate", o->cert, msg, msglen)) != 0 ||
	    (r = check_readable("key", o->key, msg, msglen)) != 0 ||
	    (r = check_readable("CA file", o->ca, msg, msglen)) != 0)
		goto out;
	r = ERR_CONFIG;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		msg_set(msg, msglen, "cannot set up TLS: %s", ossl_reason());
		r = ERR_INTERNAL;
		goto out;
	}
	if (SSL_CTX_load_verify_file(ctx, o->ca) != 1) {
		msg_set(msg, msglen, "cannot load CA file %s: %s", o->ca,
		    ossl_reason());
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		msg_set(msg, msglen, "cannot load certificate %s: %s",
		    o->cert, ossl_reason());
		goto out;
	}
	/* Loading the key already compares it with the certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		msg_set(msg, msglen, "cannot load key %s: %s", o->key,
		    ossl_reason());
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		msg_set(msg, msglen, "key %s does not match certificate %s",
		    o->key, o->cert);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* evhttp closes without close_notify; a truncated body is caught
	 * by the Content-Length check instead. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	SSL_CTX_free(ctx);
	return r;
}

static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct conn *c = SSL_get_app_data(ssl);

	if (c == NULL || (where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
		return;
	if ((ret & 0xff) == SSL_AD_CLOSE_NOTIFY)
		return;
	c->alert = ret & 0xff;
}

/* Whether an alert from the server means it refused our certificate.
 * Those are the alerts a server sends about the peer's certificate. A
 * handshake_failure counts only once our side of the handshake is done
 * (TLS 1.3 reads it after SSL_connect): by then it can only be about our
 * certificate; during the handshake it may be a cipher or version
 * mismatch. */
static int
alert_refuses_cert(int alert, int after_handshake)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return 1;
	case SSL_AD_HANDSHAKE_FAILURE:
		return after_handshake;
	default:
		return 0;
	}
}

/* OpenSSL 3.0 has no text for the TLS 1.3 certificate_required alert. */
static const char *
alert_name(int alert)
{
	if (alert == SSL_AD_CERTIFICATE_REQUIRED)
		return "certificate required";
	return SSL_alert_desc_string_long(alert);
}

/* Turns a failed SSL_connect/SSL_write/SSL_read (rc) into an error code
 * and one message. what names the step, for the message. */
static int
tls_failure(const struct conn *c, int rc, int after_handshake,
    const char *what, char *msg, size_t msglen)
{
	int sys_errno = errno;
	long v = SSL_get_verify_result(c->ssl);
	int e = SSL_get_error(c->ssl, rc);

	if (c->alert >= 0 && alert_refuses_cert(c->alert, after_handshake)) {
		ERR_clear_error();
		msg_set(msg, msglen, "server refused our certificate: %s",
		    alert_name(c->alert));
		return ERR_DENIED;
	}
	if (c->alert >= 0) {
		ERR_clear_error();
		msg_set(msg, msglen, "%s failed: server sent alert: %s", what,
		    alert_name(c->alert));
		return ERR_TLS;
	}
	if (v != X509_V_OK) {
		ERR_clear_error();
		msg_set(msg, msglen, "cannot verify the server's "
		    "certificate: %s", X509_verify_cert_error_string(v));
		return ERR_TLS;
	}
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		msg_set(msg, msglen, "%s: timed out", what);
		return ERR_TIMEOUT;
	case SSL_ERROR_ZERO_RETURN:
		msg_set(msg, msglen, "%s: connection closed by the server",
		    what);
		return ERR_CLOSED;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		msg_set(msg, msglen, "%s: %s", what, sys_errno != 0 ?
		    strerror(sys_errno) : "connection closed by the server");
		return ERR_IO;
	default:
		msg_set(msg, msglen, "%s failed: %s", what, ossl_reason());
		return ERR_TLS;
	}
}

/* Names the server for the certificate check: a DNS name (with SNI) or
 * an IP address (no SNI: RFC 6066 forbids literals there). */
static int
tls_set_peer_name(SSL *ssl, const struct target *t)
{
	if (t->is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    t->host) == 1 ? 0 : ERR_TLS;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, t->host) != 1 ||
	    SSL_set1_host(ssl, t->host) != 1)
		return ERR_TLS;
	return 0;
}

static int
tls_handshake(SSL_CTX *ctx, const struct target *t, struct conn *c,
    char *msg, size_t msglen)
{
	int rc;

	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_app_data(c->ssl, c) != 1 ||
	    tls_set_peer_name(c->ssl, t) != 0 ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		msg_set(msg, msglen, "cannot set up TLS: %s", ossl_reason());
		return ERR_INTERNAL;
	}
	SSL_set_info_callback(c->ssl, tls_info_cb);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_connect(c->ssl)) != 1)
		return tls_failure(c, rc, 0, "TLS handshake", msg, msglen);
	return 0;
}

/* ---- HTTP --------------------------------------------------------------- */

/* In TLS 1.3 a server refuses our certificate after our side of the
 * handshake is done, and may close before our request reaches it: the
 * write then fails (EPIPE) while its alert still waits in our socket.
 * One read collects that alert, so the refusal is reported as one. If
 * none is there, the write's error r (and msg) stand. */
static int
collect_alert(struct conn *c, int r, char *msg, size_t msglen)
{
	uint8_t tmp[256];
	int rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_read(c->ssl, tmp, sizeof(tmp));
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (c->alert < 0) {
		ERR_clear_error();
		return r;
	}
	return tls_failure(c, rc, 1, "sending the request", msg, msglen);
}

static int
send_request(struct conn *c, const struct target *t, const char *port,
    char *msg, size_t msglen)
{
	char req[512];
	int n, rc, r;

	/* The user passed valid_user_name: every byte is unreserved in a
	 * form body, so no encoding is needed. */
	n = snprintf(req, sizeof(req),
	    "POST /v1/tickets HTTP/1.1\r\n"
	    "Host: %s%s%s:%s\r\n"
	    "Accept: text/plain\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "user=%s",
	    t->is_v6 ? "[" : "", t->host, t->is_v6 ? "]" : "", port,
	    strlen("user=") + strlen(t->user), t->user);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		msg_set(msg, msglen, "request too long");
		return ERR_INTERNAL;
	}
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_write(c->ssl, req, n)) == n)
		return 0;
	r = tls_failure(c, rc, 1, "sending the request", msg, msglen);
	if (c->alert < 0 && r != ERR_TIMEOUT)
		r = collect_alert(c, r, msg, msglen);
	return r;
}

static int
read_response(struct conn *c, struct buf *resp, char *msg, size_t msglen)
{
	uint8_t chunk[4096];
	int n, e, r = ERR_INTERNAL;

	for (;;) {
		if (ms_left(&c->deadline) == 0) {
			msg_set(msg, msglen, "reading the response: timed out");
			r = ERR_TIMEOUT;
			goto out;
		}
		ERR_clear_error();
		errno = 0;
		if ((n = SSL_read(c->ssl, chunk, sizeof(chunk))) > 0) {
			if (buf_put(resp, chunk, (size_t)n) != 0) {
				msg_set(msg, msglen, "response longer than "
				    "%d bytes", RESPONSE_MAX);
				r = ERR_PROTO;
				goto out;
			}
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_ZERO_RETURN && c->alert < 0)
			break;
		r = tls_failure(c, n, 1, "reading the response", msg,
		    msglen);
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return r;
}

static int
header_name_is(const uint8_t *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' &&
	    strncasecmp((const char *)line, name, n) == 0;
}

/* Parses a Content-Length value (after the colon): optional spaces, then
 * decimal digits, then optional spaces. */
static int
parse_content_length(const uint8_t *v, size_t len, size_t *out)
{
	size_t i = 0, val = 0, digits = 0;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
		val = val * 10 + (size_t)(v[i] - '0');
		if (val > RESPONSE_MAX)
			return ERR_PROTO;
	}
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (digits == 0 || i != len)
		return ERR_PROTO;
	*out = val;
	return 0;
}

/* "HTTP/1.x NNN reason" */
static int
parse_status_line(const uint8_t *p, size_t len, struct http_resp *hr)
{
	size_t i, j = 0;

	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' ||
	    p[7] > '9' || p[8] != ' ')
		return ERR_PROTO;
	for (i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return ERR_PROTO;
	}
	hr->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (len > 12 && p[12] != ' ')
		return ERR_PROTO;
	for (i = 13; i < len && j + 1 < sizeof(hr->reason); i++)
		hr->reason[j++] = safe_char(p[i]);
	hr->reason[j] = '\0';
	return 0;
}

/* Finds Content-Length among the header lines [p, p+len), each ending in
 * CRLF. *cl is (size_t)-1 when there is none. */
static int
parse_headers(const uint8_t *p, size_t len, size_t *cl)
{
	const uint8_t *end = p + len, *eol;
	size_t v;

	*cl = (size_t)-1;
	while (p < end) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			return ERR_PROTO;
		if (header_name_is(p, (size_t)(eol - p), "transfer-encoding"))
			return ERR_PROTO;
		if (header_name_is(p, (size_t)(eol - p), "content-length")) {
			if (parse_content_length(p + 15,
			    (size_t)(eol - p) - 15, &v) != 0)
				return ERR_PROTO;
			if (*cl != (size_t)-1 && *cl != v)
				return ERR_PROTO;
			*cl = v;
		}
		p = eol + 2;
	}
	return 0;
}

/* Splits a whole response (we sent Connection: close and read to the
 * end) into status and body. The body is borrowed from p. */
static int
http_parse(const uint8_t *p, size_t len, struct http_resp *hr, char *msg,
    size_t msglen)
{
	const uint8_t *hend, *eol;
	size_t cl, avail;

	memset(hr, 0, sizeof(*hr));
	/* buf_ptr gives NULL for a buffer that never received a byte. */
	if (p == NULL || len == 0) {
		msg_set(msg, msglen, "empty response from the server");
		return ERR_PROTO;
	}
	if ((hend = memmem(p, len, "\r\n\r\n", 4)) == NULL ||
	    (eol = memmem(p, len, "\r\n", 2)) == NULL ||
	    parse_status_line(p, (size_t)(eol - p), hr) != 0 ||
	    parse_headers(eol + 2, (size_t)(hend - eol), &cl) != 0) {
		msg_set(msg, msglen, "malformed HTTP response from the server");
		return ERR_PROTO;
	}
	hr->body = hend + 4;
	avail = len - (size_t)(hr->body - p);
	hr->body_len = avail;
	if (cl == (size_t)-1)
		return 0;
	if (avail != cl) {
		msg_set(msg, msglen, "%s response from the server",
		    avail < cl ? "truncated" : "over-long");
		return ERR_PROTO;
	}
	return 0;
}

static int
ticket_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* 16..128 base64url characters: what we print or type into ssh must not
 * carry anything else. */
static int
valid_ticket(const char *t, size_t n)
{
	size_t i;

	if (n < TICKET_MIN || n > TICKET_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!ticket_char_ok(t[i]))
			return 0;
	}
	return 1;
}

/* The 201 body: the ticket and a newline. Copied into out (NUL
 * terminated, at least TICKET_MAX + 1 bytes). */
static int
ticket_from_body(const struct http_resp *hr, char *out, size_t outlen,
    char *msg, size_t msglen)
{
	const char *b = (const char *)hr->body;
	size_t n = hr->body_len;

	if (n > 0 && b[n - 1] == '\n')
		n--;
	if (n > 0 && b[n - 1] == '\r')
		n--;
	if (!valid_ticket(b, n) || n >= outlen) {
		msg_set(msg, msglen, "malformed ticket in the server's answer");
		return ERR_PROTO;
	}
	memcpy(out, b, n);
	out[n] = '\0';
	return 0;
}

/* Copies a JSON string's content starting after its opening quote,
 * sanitised and cut at outlen - 1. Escapes are shown as the character
 * they stand for, \uXXXX as '?': this is for a human, not a parser. */
static void
json_string_sanitised(const uint8_t *p, const uint8_t *end, char *out,
    size_t outlen)
{
	size_t j = 0;

	while (p < end && *p != '"' && j + 1 < outlen) {
		if (*p == '\\' && p + 1 < end) {
			p++;
			if (*p == 'u') {
				out[j++] = '?';
				p += (end - p > 4) ? 5 : (end - p);
				continue;
			}
			out[j++] = (*p == '"' || *p == '\\' || *p == '/') ?
			    (char)*p : ' ';
			p++;
			continue;
		}
		out[j++] = safe_char(*p++);
	}
	out[j] = '\0';
}

/* The reason a 403 gives: "detail" of a JSON body, else the body's first
 * line. A crude extraction: it only goes into one line on stderr. */
static void
denial_detail(const struct http_resp *hr, char *out, size_t outlen)
{
	const uint8_t *p = hr->body, *end = hr->body + hr->body_len;
	const uint8_t *d = memmem(p, hr->body_len, "\"detail\"", 8);
	size_t j = 0;

	out[0] = '\0';
	if (d != NULL) {
		d += 8;
		while (d < end && (*d == ' ' || *d == '\t' || *d == '\n' ||
		    *d == '\r' || *d == ':'))
			d++;
		if (d < end && *d == '"') {
			json_string_sanitised(d + 1, end, out, outlen);
			return;
		}
	}
	while (p < end && *p != '\n' && *p != '\r' && j + 1 < outlen)
		out[j++] = safe_char(*p++);
	out[j] = '\0';
}

static int
handle_status(const struct http_resp *hr, char *ticket, size_t ticketlen,
    char *msg, size_t msglen)
{
	char detail[DETAIL_MAX + 1];

	switch (hr->status) {
	case 201:
		return ticket_from_body(hr, ticket, ticketlen, msg, msglen);
	case 403:
		denial_detail(hr, detail, sizeof(detail));
		msg_set(msg, msglen, "denied: %s", detail[0] != '\0' ?
		    detail : "the server refused the request");
		return ERR_DENIED;
	case 429:
		msg_set(msg, msglen, "rate limited: try again later");
		return ERR_DENIED;
	default:
		msg_set(msg, msglen, "unexpected answer from the server: "
		    "%d %s", hr->status, hr->reason);
		return ERR_PROTO;
	}
}

/* Gets a ticket for o->t.user from the server: the whole exchange. On
 * success the ticket (NUL terminated) is in ticket[0..ticketlen), which
 * the caller wipes; else msg says why. */
static int
get_ticket(const struct options *o, char *ticket, size_t ticketlen,
    char *msg, size_t msglen)
{
	SSL_CTX *ctx = NULL;
	struct conn c = { .fd = -1, .ssl = NULL, .alert = -1 };
	struct buf *resp = NULL;
	struct http_resp hr;
	int r = ERR_INTERNAL;

	if ((r = tls_ctx_new(o, &ctx, msg, msglen)) != 0)
		goto out;
	if ((r = tcp_connect(&o->t, o->port, &c.fd, msg, msglen)) != 0)
		goto out;
	c.deadline = deadline_in(EXCHANGE_TIMEOUT_MS);
	if ((r = tls_handshake(ctx, &o->t, &c, msg, msglen)) != 0)
		goto out;
	if ((r = send_request(&c, &o->t, o->port, msg, msglen)) != 0)
		goto out;
	if ((resp = buf_new(RESPONSE_MAX)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = read_response(&c, resp, msg, msglen)) != 0)
		goto out;
	if ((r = http_parse(buf_ptr(resp), buf_avail(resp), &hr, msg,
	    msglen)) != 0)
		goto out;
	r = handle_status(&hr, ticket, ticketlen, msg, msglen);
out:
	buf_free(&resp);
	SSL_free(c.ssl);
	if (c.fd != -1)
		close(c.fd);
	SSL_CTX_free(ctx);
	return r;
}

/* ---- output, ssh, askpass ----------------------------------------------- */

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return ERR_IO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Ticket and newline in one write(2), bypassing stdio so no copy of the
 * ticket is left in a stdio buffer. */
static int
print_ticket(const char *ticket, char *msg, size_t msglen)
{
	char line[TICKET_MAX + 2];
	size_t n = strlen(ticket);
	int r;

	memcpy(line, ticket, n);
	line[n] = '\n';
	if ((r = write_all(STDOUT_FILENO, line, n + 1)) != 0)
		msg_set(msg, msglen, "cannot write the ticket: %s",
		    strerror(errno));
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

/* Askpass mode: ssh runs us as SSH_ASKPASS with the prompt as the only
 * argument. The ticket answers the server's prompt, never a question
 * such as the host key confirmation: answering that "no" (exit 1,
 * nothing printed) is both safe and what the user would see without us.
 * SSH_ASKPASS_PROMPT is set by ssh for confirm/notify dialogs, which
 * take no secret either. */
static int
askpass(const char *prompt)
{
	const char *ticket = getenv("MTLS_ASKPASS_TICKET");
	const char *kind = getenv("SSH_ASKPASS_PROMPT");

	if (kind != NULL && kind[0] != '\0')
		return EXIT_DENIED;
	if (strstr(prompt, "(yes/no") != NULL ||
	    strstr(prompt, "continue connecting") != NULL)
		return EXIT_DENIED;
	if (ticket == NULL || !valid_ticket(ticket, strlen(ticket))) {
		fprintf(stderr, PROG ": MTLS_ASKPASS_TICKET does not hold a "
		    "ticket\n");
		return EXIT_USAGE;
	}
	if (write_all(STDOUT_FILENO, ticket, strlen(ticket)) != 0 ||
	    write_all(STDOUT_FILENO, "\n", 1) != 0)
		return EXIT_UNREACHABLE;
	return EXIT_OK;
}

/* We run as askpass when ssh starts us: the ticket is in the environment
 * and the one argument is a prompt, not an option or a USER@HOST. */
static int
is_askpass_call(int argc, char **argv)
{
	struct target t;
	char msg[MSG_LEN];

	if (argc != 2 || getenv("MTLS_ASKPASS_TICKET") == NULL)
		return 0;
	if (argv[1][0] == '-')
		return 0;
	return parse_target(argv[1], &t, msg, sizeof(msg)) != 0;
}

/* Execs ssh USER@HOST SSH-ARGS... with us as its askpass program.
 *
 * The ticket travels to the askpass child in the environment
 * (MTLS_ASKPASS_TICKET), not through a pipe or file: ssh closes the file
 * descriptors it inherits at start, so a pipe would not survive into the
 * askpass process, and a file would need cleaning up after an exec we
 * never return from. A process's environment is readable only by its own
 * uid and root (/proc/PID/environ is mode 0400 and ptrace-guarded), and
 * the ticket is single use, bound to the user and short-lived, so what
 * stays there after login is worthless. ssh does not forward it unless
 * the user's config says SendEnv for it.
 *
 * Returns only on failure. */
static int
exec_ssh(const struct options *o, const char *ticket, char *msg,
    size_t msglen)
{
	char self[PATH_MAX], dest[USER_MAX + 1 + HOST_MAX + 1];
	const char *ssh = env_nonempty("MTLS_SSH");
	char **av = NULL;
	ssize_t n;
	size_t i;
	int r = ERR_CONFIG;

	if (ssh == NULL)
		ssh = "ssh";
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
		msg_set(msg, msglen, "cannot find our own path: %s",
		    strerror(errno));
		goto out;
	}
	self[n] = '\0';
	/* ssh splits USER@HOST at the last '@' and takes a bare IPv6
	 * address there, not a bracketed one. */
	(void)snprintf(dest, sizeof(dest), "%s@%s", o->t.user, o->t.host);
	if ((av = calloc(o->n_ssh_args + 3, sizeof(*av))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	av[0] = (char *)ssh;
	av[1] = dest;
	for (i = 0; i < o->n_ssh_args; i++)
		av[i + 2] = o->ssh_args[i];
	if (setenv("SSH_ASKPASS", self, 1) != 0 ||
	    setenv("SSH_ASKPASS_REQUIRE", "force", 1) != 0 ||
	    setenv("MTLS_ASKPASS_TICKET", ticket, 1) != 0) {
		r = ERR_NOMEM;
		goto out;
	}
	/* An ignored SIGPIPE would survive the exec. */
	signal(SIGPIPE, SIG_DFL);
	execvp(ssh, av);
	msg_set(msg, msglen, "cannot run %s: %s", ssh, strerror(errno));
	(void)unsetenv("MTLS_ASKPASS_TICKET");
out:
	free(av);
	return r;
}

static int
exit_code(int r)
{
	switch (r) {
	case 0:
		return EXIT_OK;
	case ERR_DENIED:
		return EXIT_DENIED;
	case ERR_INVALID:
	case ERR_CONFIG:
		return EXIT_USAGE;
	default:
		return EXIT_UNREACHABLE;
	}
}

int
main(int argc, char **argv)
{
	struct options o;
	char ticket[TICKET_MAX + 1], msg[MSG_LEN];
	int r;

	if (is_askpass_call(argc, argv))
		return askpass(argv[1]);

	msg[0] = '\0';
	ticket[0] = '\0';
	if ((r = parse_args(argc, argv, &o, msg, sizeof(msg))) != 0)
		goto out;
	if (o.help) {
		usage(stdout);
		return EXIT_OK;
	}
	if (o.version) {
		printf(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
		return EXIT_OK;
	}
	/* A server closing early must give EPIPE, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = get_ticket(&o, ticket, sizeof(ticket), msg,
	    sizeof(msg))) != 0)
		goto out;
	if (o.ssh) {
		r = exec_ssh(&o, ticket, msg, sizeof(msg));
		goto out;
	}
	if ((r = print_ticket(ticket, msg, sizeof(msg))) != 0)
		goto out;
out:
	OPENSSL_cleanse(ticket, sizeof(ticket));
	if (r != 0)
		fprintf(stderr, PROG ": %s\n", msg[0] != '\0' ? msg :
		    err_str(r));
	return exit_code(r);
}
