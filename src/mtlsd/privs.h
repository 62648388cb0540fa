/* Giving up root: mtlsd opens its sockets, keys and audit file as root,
 * then runs as the configured unprivileged user. */
#ifndef MTLSD_PRIVS_H
#define MTLSD_PRIVS_H

#include <sys/types.h>

#include "err.h"

/* The uid the daemon will run as once privs_drop has run: user's uid when
 * started as root, else the current uid. ERR_PERM (logged) if user is
 * missing or is uid 0. */
int privs_target_uid(const char *user, uid_t *uid) MTLS_WUR;

/* Started as root: switch to user (its groups, gid, uid) for good and
 * check that root cannot be regained. Started as another user: stay as
 * is. Either way, ERR_PERM (logged) if the process is still root after. */
int privs_drop(const char *user) MTLS_WUR;

#endif
