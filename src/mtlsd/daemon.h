/* The state of one mtlsd process, shared by its parts: main.c builds it in
 * start-up order and tears it down, server.c and http.c serve the mTLS
 * listener from it, pamsock.c the local PAM socket, audit.c the audit log.
 * One process, one event loop, no threads: nothing here is locked. */
#ifndef MTLSD_DAEMON_H
#define MTLSD_DAEMON_H

#include <time.h>

#include <openssl/ssl.h>

#include "audit.h"
#include "conf.h"
#include "tickets.h"
#include "verify.h"

#define DAEMON_NAME "mtlsd"
#define DAEMON_EXPIRE_INTERVAL 10  /* seconds between tstore_expire runs */

struct event_base;
struct event;
struct evhttp;
struct pamsock;
struct control;
struct ocsp;
struct guard;
struct certcache_stats;

/* Counters for `mtlsctl status`. A tally counts events by reason: the
 * first DAEMON_REASONS - 1 distinct reasons get a slot each, the rest
 * share the last one, "other", so a peer cannot grow the table. */
#define DAEMON_REASONS 16
#define DAEMON_REASON_LEN 64

struct daemon_tally {
	unsigned long total;
	size_t used;               /* slots in use */
	struct {
		char reason[DAEMON_REASON_LEN];
		unsigned long n;
	} by[DAEMON_REASONS];
};

struct daemon_stats {
	unsigned long handshakes;          /* completed TLS handshakes */
	struct daemon_tally hs_refused;    /* by verify result or alert */
	unsigned long tickets_issued;
	struct daemon_tally tickets_refused;   /* POST /v1/tickets refusals */
	unsigned long redeemed;
	struct daemon_tally redeem_refused;    /* by PROTOCOL.md deny name */
	unsigned long reloads;
	unsigned long reloads_failed;
	const struct certcache_stats *cert_cache;  /* borrowed: certcache.c's
	                                              counters; NULL: none */
};

struct daemon {
	struct config *cfg;        /* owned: config_free */
	SSL_CTX *ssl_ctx;          /* owned (one reference); a reload
	                              swaps it, connections keep theirs */
	struct trust *trust;       /* borrowed: owned by ssl_ctx's ex_data,
	                              freed with its last reference */
	struct tstore *tickets;    /* owned */
	struct event_base *base;   /* owned; freed last of the libevent objects */
	struct evhttp *http;       /* owned: the mTLS listeners (server.c) */
	struct guard *guard;       /* owned: their limits and throttling
	                              (connguard.c), freed after http */
	struct pamsock *pam;       /* owned: the PAM socket (pamsock.c) */
	struct control *ctl;       /* owned: the control socket (control.c) */
	struct ocsp *ocsp;         /* owned: the OCSP client (ocsp.c), used
	                              while cfg->ocsp.enable */
	struct event *ev_expire;   /* owned: tstore_expire timer */
	struct event *ev_sig[3];   /* owned: SIGTERM, SIGINT, SIGHUP */
	struct audit audit;        /* audit.fd owned, -1 when audit.file is
	                              unset */
	int foreground;            /* -f */
	int log_level;             /* LOG_DEBUG with -d, else log_level */
	int debug_opt;             /* -d: kept over a reload */
	time_t started;            /* start-up time */
	time_t loaded;             /* when cfg was loaded */
	struct daemon_stats stats;
};

/* Counts one event under reason (copied, cut to DAEMON_REASON_LEN - 1;
 * NULL counts as "unknown"). In ctlmsg.c. */
void daemon_tally_add(struct daemon_tally *t, const char *reason);

/* Re-reads d->cfg->file with the start-up checks, builds a new TLS
 * context and trust, reopens the audit file, and swaps them all in; on
 * any failure nothing changes and err holds "FILE[:LINE]: reason". A
 * change of listen, pam_socket, control_socket or user is refused: those
 * are bound before the privilege drop. In main.c. */
int daemon_reload(struct daemon *d, char *err, size_t errlen) MTLS_WUR;

#endif
