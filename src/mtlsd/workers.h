/* workers = N (mtlsd.conf(5)): N worker processes serve the mTLS
 * listener, and the master keeps what must be one: the ticket store, the
 * PAM socket and the control socket.
 *
 * The master forks the workers once start-up is done (sockets bound,
 * privileges dropped, detached) and before the system call filter, which
 * allows no fork; each process then enters the filter itself. A worker
 * accepts on the listening sockets it inherited (the kernel hands each
 * connection to one of the processes waiting), runs the handshake and
 * the policy decision, and sends the grant to the master (wmsg.h), which
 * stores and audits the ticket and answers with it. Failed attempts that
 * feed the throttling (connguard.c) are passed on to every process, so a
 * source is throttled whichever worker it reaches; the other connection
 * limits hold per worker.
 *
 * A worker that exits stops the daemon (the master exits with failure,
 * and a supervisor restarts it); a worker whose master is gone exits. */
#ifndef MTLSD_WORKERS_H
#define MTLSD_WORKERS_H

#include "daemon.h"
#include "err.h"
#include "wmsg.h"

/* With d->cfg->workers > 1, forks the workers. Returns 0 in the master,
 * which then no longer listens for mTLS, and 0 in each worker, where
 * d->worker_id is its number (1..N) and the PAM and control sockets are
 * closed (their files stay the master's). d->workers is set in both, and
 * d->stats points at the process's slot of the shared table. With
 * workers = 1 nothing happens. On failure (in the master) the error is
 * logged and the workers already forked stop with workers_free. */
int workers_start(struct daemon *d) MTLS_WUR;

/* The master: closes the links and waits for its workers to exit. A
 * worker: fails its pending requests and closes its link. Frees *w and
 * sets it to NULL; accepts NULL. */
void workers_free(struct workers **w);

/* The master, after a reload: each worker re-reads the configuration
 * and answers how that went (a refusal is logged by the master too). */
void workers_reload(struct daemon *d);

/* The master: err is NULL once every worker has answered the last
 * workers_reload with success, else why not (borrowed for the call). */
typedef void workers_reloaded_fn(void *arg, const char *err);

/* The master, after workers_reload: cb(arg) is called once every worker
 * has answered it (or has exited). Returns ERR_NOTFOUND without workers
 * (nothing to wait for: cb is not called), ERR_NOMEM. */
int workers_reload_wait(struct daemon *d, workers_reloaded_fn *cb,
    void *arg) MTLS_WUR;

/* Forgets the waits registered with arg (whose owner is going away). */
void workers_reload_cancel(struct daemon *d, void *arg);

/* A worker: the answer to a grant, borrowed for the call. */
typedef void workers_issued_fn(const struct wmsg_issued *ans, void *arg);

/* A worker: sends m (borrowed; its seq is set here) to the master; cb(arg)
 * is called exactly once with the answer, or with WMSG_FAILED if the
 * master goes away first. On failure cb is not called: ERR_INVALID or
 * ERR_TOOLONG for a grant that cannot be encoded, ERR_IO when the master
 * cannot be reached, ERR_NOMEM. */
int workers_issue(struct daemon *d, const struct wmsg_issue *m,
    workers_issued_fn *cb, void *arg) MTLS_WUR;

/* A failed attempt of the source address and of the certificate
 * fingerprint (either may be NULL or ""), counted here already: passed
 * on to every other process that throttles. Without workers, nothing. */
void workers_failure(struct daemon *d, const char *addr, const char *fpr);

#endif
