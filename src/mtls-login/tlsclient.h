/* mtls-login's TLS client: one mutually authenticated connection to mtlsd.
 *
 * The server is verified against the CA file only (never the system
 * store) and by the name or address the user gave. Every failure is
 * turned into one message and a code main maps to an exit status:
 * ERR_DENIED when the server's alert says it refused our certificate,
 * ERR_CONFIG for unreadable or unusable files, ERR_TIMEOUT, ERR_IO,
 * ERR_NOTFOUND (name not resolved), ERR_CLOSED or ERR_TLS otherwise. */
#ifndef MTLS_LOGIN_TLSCLIENT_H
#define MTLS_LOGIN_TLSCLIENT_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "login.h"

struct tls_conn;

/* Where our credentials and the server's trust anchors are: PEM files,
 * borrowed. cert may hold a chain after the leaf. */
struct tls_files {
	const char *cert;
	const char *key;
	const char *ca;
};

/* Loads f, connects to t->host:port (one 10 s deadline over all the
 * addresses it resolves to) and completes the handshake. One deadline
 * then bounds the handshake and the whole exchange that follows. On
 * success *out is a new connection the caller owns and frees with
 * tls_conn_free. */
int tls_conn_open(const struct tls_files *f, const struct target *t,
    const char *port, struct tls_conn **out, char *msg, size_t msglen)
    MTLS_WUR;

/* Sends p[0..n) in one SSL_write. */
int tls_conn_write(struct tls_conn *c, const void *p, size_t n, char *msg,
    size_t msglen) MTLS_WUR;

/* Reads until the server closes, appending to into (borrowed); fails with
 * ERR_PROTO once into would pass its max, ERR_TIMEOUT at the deadline. */
int tls_conn_read_all(struct tls_conn *c, struct buf *into, char *msg,
    size_t msglen) MTLS_WUR;

/* Frees *cp (without close_notify: the exchange is over) and sets it to
 * NULL; accepts NULL and *cp == NULL. */
void tls_conn_free(struct tls_conn **cp);

#endif
