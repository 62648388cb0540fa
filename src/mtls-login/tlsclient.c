/* mtls-login's TLS client: TCP connect under a deadline, the TLS
 * context (our certificate and key, the server's CA file), server name
 * checks, and turning a failed TLS call into a message, using the alert
 * the server sent. What goes over the connection is in http.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "err.h"
#include "login.h"
#include "tlsclient.h"

#define CONNECT_TIMEOUT_MS 10000
#define IO_TIMEOUT_SEC 10
/* Bounds the whole TLS handshake and HTTP exchange, so that a server
 * trickling bytes just inside the per-read timeout cannot hold us. */
#define EXCHANGE_TIMEOUT_MS 20000

/* One TLS connection to the server; alert is the last alert the server
 * sent us (-1: none), captured by the info callback because the error
 * queue does not say which alert it was. */
struct tls_conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int alert;
	struct timespec deadline;
};

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

	int one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return errno;
	/* The request follows our last handshake flight, which the server
	 * answers with nothing (it sends no session tickets): with Nagle on,
	 * the request would wait for a delayed ACK, about 40 ms. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		err = errno;
		close(fd);
		return err;
	}
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
tls_ctx_new(const struct tls_files *f, SSL_CTX **out, char *msg,
    size_t msglen)
{
	SSL_CTX *ctx = NULL;
	int r = ERR_CONFIG;

	if ((r = check_readable("certificate", f->cert, msg, msglen)) != 0 ||
	    (r = check_readable("key", f->key, msg, msglen)) != 0 ||
	    (r = check_readable("CA file", f->ca, msg, msglen)) != 0)
		goto out;
	r = ERR_CONFIG;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		msg_set(msg, msglen, "cannot set up TLS: %s", ossl_reason());
		r = ERR_INTERNAL;
		goto out;
	}
	if (SSL_CTX_load_verify_file(ctx, f->ca) != 1) {
		msg_set(msg, msglen, "cannot load CA file %s: %s", f->ca,
		    ossl_reason());
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		msg_set(msg, msglen, "cannot load certificate %s: %s",
		    f->cert, ossl_reason());
		goto out;
	}
	/* Loading the key already compares it with the certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		msg_set(msg, msglen, "cannot load key %s: %s", f->key,
		    ossl_reason());
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		msg_set(msg, msglen, "key %s does not match certificate %s",
		    f->key, f->cert);
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
	struct tls_conn *c = SSL_get_app_data(ssl);

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
tls_failure(const struct tls_conn *c, int rc, int after_handshake,
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
tls_handshake(struct tls_conn *c, const struct target *t, char *msg,
    size_t msglen)
{
	int rc;

	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
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

/* ---- exchange ----------------------------------------------------------- */

/* In TLS 1.3 a server refuses our certificate after our side of the
 * handshake is done, and may close before our request reaches it: the
 * write then fails (EPIPE) while its alert still waits in our socket.
 * One read collects that alert, so the refusal is reported as one. If
 * none is there, the write's error r (and msg) stand. */
static int
collect_alert(struct tls_conn *c, int r, char *msg, size_t msglen)
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

int
tls_conn_write(struct tls_conn *c, const void *p, size_t n, char *msg,
    size_t msglen)
{
	int rc, r;

	if (n > INT_MAX) {
		msg_set(msg, msglen, "request too long");
		return ERR_TOOLONG;
	}
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_write(c->ssl, p, (int)n)) == (int)n)
		return 0;
	r = tls_failure(c, rc, 1, "sending the request", msg, msglen);
	if (c->alert < 0 && r != ERR_TIMEOUT)
		r = collect_alert(c, r, msg, msglen);
	return r;
}

int
tls_conn_read_all(struct tls_conn *c, struct buf *into, char *msg,
    size_t msglen)
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
			if (buf_put(into, chunk, (size_t)n) != 0) {
				msg_set(msg, msglen, "response longer than "
				    "%zu bytes", into->max);
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

/* ---- connection --------------------------------------------------------- */

int
tls_conn_open(const struct tls_files *f, const struct target *t,
    const char *port, struct tls_conn **out, char *msg, size_t msglen)
{
	struct tls_conn *c = NULL;
	int r = ERR_INTERNAL;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	c->fd = -1;
	c->alert = -1;
	/* The files first: a bad path is a usage error, found before any
	 * network traffic. */
	if ((r = tls_ctx_new(f, &c->ctx, msg, msglen)) != 0)
		goto out;
	if ((r = tcp_connect(t, port, &c->fd, msg, msglen)) != 0)
		goto out;
	c->deadline = deadline_in(EXCHANGE_TIMEOUT_MS);
	if ((r = tls_handshake(c, t, msg, msglen)) != 0)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
out:
	tls_conn_free(&c);
	return r;
}

void
tls_conn_free(struct tls_conn **cp)
{
	struct tls_conn *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	SSL_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	SSL_CTX_free(c->ctx);
	free(c);
	*cp = NULL;
}
