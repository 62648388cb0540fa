/* The daemon's side of the control socket (PROTOCOL.md, "Control
 * socket"): `mtlsctl status` and `mtlsctl reload`. Only root and the
 * daemon's own uid may connect (SO_PEERCRED), and the socket is 0600. */
#ifndef MTLSD_CONTROL_H
#define MTLSD_CONTROL_H

#include <sys/types.h>

#include <openssl/ssl.h>

#include "daemon.h"
#include "err.h"

#define CONTROL_TIMEOUT 5       /* seconds a peer may stay silent */
#define CONTROL_MAX_CONNS 8     /* simultaneous control connections */

/* Creates d->cfg->control_socket, owned by run_uid (the uid the daemon
 * will run as) with mode 0600, in a directory that belongs to root or
 * run_uid and is not writable by group or others; serves it on d->base.
 * A stale socket is replaced, anything else at the path refused. Must run
 * before the privilege drop. d is borrowed and must outlive *out, owned
 * by the caller (control_free). Errors are logged. */
int control_open(struct daemon *d, uid_t run_uid, struct control **out)
    MTLS_WUR;

/* Closes every connection and the listener, removes the socket file if it
 * is still ours and we may; frees *c and sets it to NULL; accepts NULL. */
void control_free(struct control **c);

/* control_free in a forked worker: the socket file stays, the master
 * serves it. */
void control_disown(struct control **c);

/* Makes ctx count its handshakes into d->stats (an info callback) and
 * owns trust: trust is freed when ctx's last reference goes, so that a
 * connection still using an old context after a reload keeps the trust
 * its verify callback borrows. On success trust belongs to ctx; on
 * failure to the caller. d must outlive ctx. */
int control_adopt_ctx(struct daemon *d, SSL_CTX *ctx, struct trust *trust)
    MTLS_WUR;

#endif
