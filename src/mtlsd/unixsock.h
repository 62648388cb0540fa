/* The daemon's local sockets (the PAM socket and the control socket): one
 * way to create them safely and to remove only the file we made. */
#ifndef MTLSD_UNIXSOCK_H
#define MTLSD_UNIXSOCK_H

#include <sys/types.h>

#include <event2/listener.h>

#include "err.h"

/* A served socket: its listener, and the file as created, so that a file
 * another daemon put in its place later is never removed. */
struct unixsock {
	struct evconnlistener *lev;   /* owned, closes the socket */
	char *path;   /* owned */
	dev_t dev;
	ino_t ino;
};

/* Serves an AF_UNIX socket at path (absolute) on base, calling cb(arg)
 * for each connection: the directory must exist, belong to root or
 * run_uid and not be writable by group or others (what pam_mtls.so itself
 * requires); a stale socket file is removed, a live one or anything else
 * at path refused; the socket is bound under a tight umask, then given
 * mode and, when running as root, owner (-1: unchanged), then listens.
 * what names the config key in log lines. On success *us holds the
 * listener and describes the file (unixsock_close); on failure *us is
 * zeroed and nothing is left open. */
int unixsock_listen(struct event_base *base, const char *what,
    const char *path, uid_t run_uid, mode_t mode, uid_t owner, int backlog,
    evconnlistener_cb cb, void *arg, struct unixsock *us) MTLS_WUR;

/* Stops listening (the socket closes), removes the socket file if it is
 * still the one unixsock_listen made, and frees us->path. Accepts a zeroed
 * struct. */
void unixsock_close(struct unixsock *us);

/* In a forked worker: the file is the master's, and unixsock_close then
 * closes only this process's copy of the socket, never removes it. */
void unixsock_disown(struct unixsock *us);

#endif
