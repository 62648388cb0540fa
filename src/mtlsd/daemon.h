/* The state of one mtlsd process, shared by its parts: main.c builds it in
 * start-up order and tears it down, server.c and http.c serve the mTLS
 * listener from it, pamsock.c the local PAM socket, audit.c the audit log.
 * One process, one event loop, no threads: nothing here is locked. With
 * workers = N (workers.c) there are N + 1 processes, each with its own
 * struct daemon: the master keeps the ticket store, the PAM and control
 * sockets; the workers serve the mTLS listener. The only memory they
 * share is the table of counters, one slot per process, each written by
 * its own process alone. */
#ifndef MTLSD_DAEMON_H
#define MTLSD_DAEMON_H

#include <time.h>

#include <openssl/ssl.h>

#include "audit.h"
#include "certcache.h"
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
struct workers;

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
	long pid;                          /* of the process counting here */
	unsigned long handshakes;          /* completed TLS handshakes */
	struct daemon_tally hs_refused;    /* by verify result or alert */
	unsigned long tickets_issued;
	struct daemon_tally tickets_refused;   /* POST /v1/tickets refusals */
	unsigned long redeemed;
	struct daemon_tally redeem_refused;    /* by PROTOCOL.md deny name */
	unsigned long reloads;
	unsigned long reloads_failed;
	struct certcache_stats cert_cache;   /* certcache.c counts here
	                                        (certcache_count_into) */
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
	struct workers *workers;   /* owned: the master's workers, or a
	                              worker's link to the master; NULL
	                              with workers = 1 (workers.c) */
	unsigned worker_id;        /* 0: the master or the only process;
	                              1..N: a worker */
	struct audit audit;        /* audit.fd owned, -1 when audit.file is
	                              unset */
	int foreground;            /* -f */
	int log_level;             /* LOG_DEBUG with -d, else log_level */
	int debug_opt;             /* -d: kept over a reload */
	int failed;                /* the loop ended on a failure: exit
	                              with EXIT_FAILURE */
	time_t started;            /* start-up time */
	time_t loaded;             /* when cfg was loaded */
	struct daemon_stats *stats;   /* this process's counters: &own_stats,
	                                 or its slot in the workers' shared
	                                 table */
	struct daemon_stats own_stats;
	struct daemon_stats *stats_table;  /* with workers = N: the shared
	                                      table, n_stats slots, slot 0
	                                      the master's; else NULL */
	size_t n_stats;
	size_t workers_running;    /* the master's workers whose link is up */
};

/* Counts one event under reason (copied, cut to DAEMON_REASON_LEN - 1;
 * NULL counts as "unknown"). In ctlmsg.c. */
void daemon_tally_add(struct daemon_tally *t, const char *reason);

/* The counters of every process of the daemon added up (*out is the
 * caller's): d->stats alone without workers. Reloads are the master's;
 * failed ones are anybody's. In ctlmsg.c. */
void daemon_stats_total(const struct daemon *d, struct daemon_stats *out);

/* Re-reads d->cfg->file with the start-up checks, builds a new TLS
 * context and trust, reopens the audit file, and swaps them all in; on
 * any failure nothing changes and err holds "FILE[:LINE]: reason". A
 * change of listen, pam_socket, control_socket or user is refused: those
 * are bound before the privilege drop. In main.c. */
int daemon_reload(struct daemon *d, char *err, size_t errlen) MTLS_WUR;

/* Stores a ticket for the grant a policy decision made (rec->user by
 * rule, bound to bind_addr or unbound when it is ""; id is the
 * certificate's identity, rec->id too) and audits it before it may leave
 * the daemon: a ticket whose record cannot be written is withdrawn.
 * Refusals by the store's caps are audited and counted too. The ticket
 * text goes to ticket (wiped by the caller) only with WMSG_OK. Returns an
 * enum wmsg_result. The master calls it for its workers, the single
 * process for itself. In http.c. */
int daemon_issue(struct daemon *d, struct audit_rec *rec, struct ident *id,
    const char *rule, const char *bind_addr, char ticket[TICKET_BUFLEN]);

#endif
