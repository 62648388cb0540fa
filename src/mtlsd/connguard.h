/* The guard of the mTLS listener: what each connection may hold and for
 * how long (limits = { ... } in mtlsd.conf), and the throttling of
 * sources that keep failing (throttle.c's tables, fed from here).
 *
 * libevent 2.1's evhttp accepts by itself and has no connection cap, so
 * the guard rides on the SSL evhttp's bevcb creates for every connection:
 * a record in the SSL's ex_data (freed with it, which is when the
 * connection's slots are given back), an admission check queued from the
 * bevcb that runs before a byte of the handshake is read, and one timer
 * per connection for the current deadline (handshake, then request). A
 * refused or timed-out connection is shut down and evhttp frees it. */
#ifndef MTLSD_CONNGUARD_H
#define MTLSD_CONNGUARD_H

#include <openssl/ssl.h>

#include "daemon.h"
#include "err.h"

struct bufferevent;
struct evhttp_request;
struct guard;

/* The guard of d (d->cfg and d->base must exist); *out owned by the
 * caller (guard_free), d borrowed and must outlive it. Its table sizes
 * are read from d->cfg->limits now; everything else at each use, so a
 * reload applies to new connections. */
int guard_new(struct daemon *d, struct guard **out) MTLS_WUR;

/* Answers (503) the requests the guard holds back. Before evhttp_free,
 * while their connections exist. */
void guard_stop(struct guard *g);

/* After evhttp_free: every connection's record has been freed by then.
 * Accepts NULL. */
void guard_free(struct guard **g);

/* In the bevcb, before the bufferevent exists: gives ssl (borrowed) its
 * record, which ssl owns from here. ERR_NOMEM: the caller frees ssl. */
int guard_attach(struct guard *g, SSL *ssl) MTLS_WUR;

/* In the bevcb, once ssl's bufferevent exists: queues the admission
 * check, which runs once evhttp has given the bufferevent its socket. */
void guard_admit_later(SSL *ssl, struct bufferevent *bev);

/* Called by every request handler first. 0: serve req now. Otherwise
 * the guard has taken req: answered it (429: its certificate is being
 * refused) or holds it back and calls resume(req, d) later (its
 * certificate is being slowed down), where this returns 0. */
int guard_gate(struct daemon *d, struct evhttp_request *req,
    void (*resume)(struct evhttp_request *, void *));

/* One failed attempt (a 403, a refused redemption): counted for the
 * source address addr and the certificate fingerprint fpr, either NULL
 * or "" when unknown. Crossing a threshold is logged once per window. */
void guard_failure(struct daemon *d, const char *addr, const char *fpr);

/* guard_failure for this process only: a failure another process of the
 * daemon saw and passed on (workers.c). With no guard (the master of
 * workers), nothing. */
void guard_count_failure(struct daemon *d, const char *addr,
    const char *fpr);

/* Applies d->cfg->limits to evhttp (idle timeout, header and body sizes)
 * and to the ticket store (its caps): at start and after a reload. */
void guard_apply_limits(struct daemon *d);

#endif
