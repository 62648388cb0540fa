/* The sandbox mtlsd runs in once it has started: no capability in any
 * set, PR_SET_NO_NEW_PRIVS, and a seccomp filter that lets through only
 * the system calls the event loop, a reload and OCSP make. */
#ifndef MTLSD_SANDBOX_H
#define MTLSD_SANDBOX_H

#include "err.h"

/* Before the privilege drop, while the process may still hold
 * CAP_SETPCAP: empties the capability bounding set and the ambient set,
 * so that no later execve could gain a capability back. Without
 * CAP_SETPCAP (started unprivileged) there is nothing to drop from and
 * the bounding set stays as it came: logged, not an error (sandbox_enter
 * sets no_new_privs, which makes it inert). Returns 0 or ERR_PERM
 * (logged). */
int sandbox_bound(void) MTLS_WUR;

/* After the privilege drop and the detach, before the event loop:
 * clears the permitted, effective and inheritable capability sets and
 * checks with capget that none is left; sets PR_SET_NO_NEW_PRIVS; then,
 * when filter is non-zero (config "sandbox", default true), installs the
 * system call filter, whose default action kills the process. A build
 * without libseccomp, a kernel without seccomp, a run under valgrind or
 * a sanitizer build says so in the log (the filter is then absent or, in
 * a sanitizer build, only logs what it would kill). Returns 0, or
 * ERR_PERM / ERR_INTERNAL (logged): the daemon must not serve then. */
int sandbox_enter(int filter) MTLS_WUR;

#endif
