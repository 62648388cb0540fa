/* The daemon's local sockets (the PAM socket and the control socket): one
 * way to create them safely and to remove only the file we made. */
#ifndef MTLSD_UNIXSOCK_H
#define MTLSD_UNIXSOCK_H

#include <sys/types.h>

#include "err.h"

/* The socket file as created, so that a file another daemon put in its
 * place later is never removed. */
struct unixsock {
	char *path;   /* owned */
	dev_t dev;
	ino_t ino;
};

/* Opens a listening AF_UNIX socket at path (absolute): the directory must
 * exist, belong to root or run_uid and not be writable by group or others
 * (what pam_mtls.so itself requires); a stale socket file is removed, a
 * live one or anything else at path refused; the socket is bound under a
 * tight umask, then given mode and, when running as root, owner (-1:
 * unchanged), then listens. what names the config key in log lines. On
 * success *fd is the listening socket (the caller's) and *us describes the
 * file (unixsock_close). */
int unixsock_open(const char *what, const char *path, uid_t run_uid,
    mode_t mode, uid_t owner, int backlog, int *fd, struct unixsock *us)
    MTLS_WUR;

/* Removes the socket file if it is still the one unixsock_open made, and
 * frees us->path. Accepts a zeroed struct. */
void unixsock_close(struct unixsock *us);

#endif
