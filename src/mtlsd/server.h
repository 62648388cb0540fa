/* The mTLS listener: libevent's evhttp over OpenSSL bufferevents, one
 * bound socket per "listen" entry, serving http.c's endpoints. */
#ifndef MTLSD_SERVER_H
#define MTLSD_SERVER_H

#include "daemon.h"
#include "err.h"

/* The most request body the handlers take: limits.max_body_size, which
 * evhttp enforces, is at most this (conf.c). Timeouts and the header
 * size are limits = { ... } too (connguard.c). */
#define SERVER_MAX_BODY 4096         /* bytes of request body */

/* Creates d->http on d->base (which must exist, as must d->ssl_ctx) and
 * binds every d->cfg->listen address. On failure the error is logged and
 * what was created is left in d for server_stop. */
int server_start(struct daemon *d) MTLS_WUR;

/* Closes the listeners and every connection; accepts d->http == NULL. */
void server_stop(struct daemon *d);

#endif
