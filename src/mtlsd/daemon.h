/* The state of one mtlsd process, shared by its parts: main.c builds it in
 * start-up order and tears it down, server.c and http.c serve the mTLS
 * listener from it, pamsock.c the local PAM socket, audit.c the audit log.
 * One process, one event loop, no threads: nothing here is locked. */
#ifndef MTLSD_DAEMON_H
#define MTLSD_DAEMON_H

#include <openssl/ssl.h>

#include "audit.h"
#include "conf.h"
#include "tickets.h"
#include "verify.h"

#define DAEMON_NAME "mtlsd"
#define DAEMON_MAX_TICKETS 10000   /* outstanding tickets, then 429 */
#define DAEMON_EXPIRE_INTERVAL 10  /* seconds between tstore_expire runs */

struct event_base;
struct event;
struct evhttp;
struct pamsock;

struct daemon {
	struct config *cfg;        /* owned: config_free */
	SSL_CTX *ssl_ctx;          /* owned; freed before trust */
	struct trust *trust;       /* owned; borrowed by ssl_ctx */
	struct tstore *tickets;    /* owned */
	struct event_base *base;   /* owned; freed last of the libevent objects */
	struct evhttp *http;       /* owned: the mTLS listeners (server.c) */
	struct pamsock *pam;       /* owned: the PAM socket (pamsock.c) */
	struct event *ev_expire;   /* owned: tstore_expire timer */
	struct event *ev_sig[3];   /* owned: SIGTERM, SIGINT, SIGHUP */
	struct audit audit;        /* audit.fd owned, -1 when audit.file is
	                              unset */
	int foreground;            /* -f */
	int debug;                 /* -d or log_level = "debug" */
};

#endif
