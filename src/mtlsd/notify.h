/* Telling the service manager (systemd, Type=notify) where the daemon
 * is: ready once its sockets are open and it runs unprivileged, stopping
 * when it shuts down, reloading while it swaps in a new config.
 *
 * They send sd_notify(3) states to $NOTIFY_SOCKET (spoken by notify.c,
 * without libsystemd); a daemon not started by systemd (no
 * $NOTIFY_SOCKET) gets 0 and nothing is sent. A failure is
 * logged and returned, never fatal to the caller: systemd's own start
 * timeout is what acts on a notification that did not arrive. */
#ifndef MTLSD_NOTIFY_H
#define MTLSD_NOTIFY_H

/* "READY=1": start-up is complete. 0 or ERR_IO (logged). */
int notify_ready(void);

/* "STOPPING=1": the daemon has begun to shut down. 0 or ERR_IO (logged). */
int notify_stopping(void);

/* "RELOADING=1": a reload has begun; the caller sends notify_ready() when
 * the reload is over, whether it was applied or refused. 0 or ERR_IO
 * (logged). */
int notify_reloading(void);

#endif
