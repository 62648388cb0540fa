/* The daemon's side of the local PAM socket (PROTOCOL.md): who may
 * connect, and the answers to pam_mtls.so's HELLO and REDEEM. Functions
 * named answer_* (in pamsock.c) build what the module receives. */
#ifndef MTLSD_PAMSOCK_H
#define MTLSD_PAMSOCK_H

#include <sys/types.h>

#include "daemon.h"
#include "err.h"

#define PAMSOCK_TIMEOUT 5       /* seconds a peer may stay silent */
#define PAMSOCK_BACKLOG 64

/* Creates d->cfg->pam_socket (its directory must exist, belong to root or
 * to run_uid, the uid the daemon will run as, and not be writable by group
 * or others), mode 0660, and serves it on d->base. A stale socket left by
 * a dead daemon is replaced; anything else at the path is refused. d is
 * borrowed and must outlive *out, which the caller owns (pamsock_free).
 * Errors are logged. */
int pamsock_open(struct daemon *d, uid_t run_uid, struct pamsock **out)
    MTLS_WUR;

/* Closes every connection and the listener, removes the socket file if it
 * is still ours, frees *p and sets it to NULL; accepts NULL. */
void pamsock_free(struct pamsock **p);

/* pamsock_free in a forked worker: the socket file stays, the master
 * serves it. */
void pamsock_disown(struct pamsock **p);

#endif
