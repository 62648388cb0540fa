/* mtlsd.conf: parsed by libconfig into one struct, checked completely.
 * The same loader serves mtlsd, mtlsd -t and mtlsctl check. Unknown keys,
 * wrong types and bad values are errors naming file, line and reason. */
#ifndef MTLS_CONF_H
#define MTLS_CONF_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "policy.h"

#define CONFIG_DEFAULT_FILE SYSCONFDIR "/mtls/mtlsd.conf"
#define CONFIG_MAX_WORKERS 64       /* workers = N, at most */

struct config_tls {
	char *certificate;     /* required */
	char *private_key;     /* required */
	char *trust_anchors;   /* required */
	char *intermediates;   /* optional, NULL */
	char **crl;            /* optional list */
	size_t n_crl;
	int min_version;       /* TLS1_3_VERSION (default) or TLS1_2_VERSION */
	/* Certificate policy (struct trust_opts); 0 is the default. */
	int partial_chain;     /* intermediates may end a chain */
	int require_crl;       /* refuse issuers without a current CRL */
	long crl_grace;        /* seconds past a CRL's nextUpdate */
	long max_lifetime;     /* seconds; 0: no limit */
	long clock_skew;       /* seconds, both validity ends */
	int min_rsa_bits;      /* 0: 2048 */
	int min_ec_bits;       /* 0: 256 */
	/* Where each key was written, so that tls_server_ctx_new can name
	 * the config line of a file that fails to load. src NULL: unknown. */
	char *src;
	struct {
		int group, certificate, private_key, trust_anchors;
		int intermediates, crl;
	} line;
};

/* ocsp = { ... }: asked by mtlsd before it issues a ticket. */
struct config_ocsp {
	int enable;            /* default 0 */
	char *responder;       /* http:// URL; NULL: the leaf's AIA OCSP URL */
	unsigned timeout;      /* seconds per query, 1..30, default 2 */
	unsigned cache;        /* seconds an answer is kept at most, 0..86400,
	                          default 300 */
	int soft_fail;         /* no usable answer: allow, with a warning */
};

/* limits = { ... }: what one client, or all of them together, may hold
 * of the daemon. Every field has a safe default (set_defaults). */
struct config_limits {
	unsigned max_connections;      /* TLS connections in all, 1024 */
	unsigned max_per_source;       /* TLS connections per address, 32 */
	unsigned handshake_timeout;    /* seconds from accept, 10 */
	unsigned request_timeout;      /* seconds to receive a request, 10 */
	unsigned idle_timeout;         /* seconds without a byte, 30 */
	unsigned max_header_size;      /* bytes of request headers, 8192 */
	unsigned max_body_size;        /* bytes of request body, 4096 */
	unsigned max_tickets;          /* outstanding in all, 10000 */
	unsigned max_tickets_per_cert; /* outstanding per certificate, 8 */
	unsigned pam_clients;          /* PAM socket connections, 128 */
	/* Failed attempts, per source address and per certificate. */
	unsigned failure_window;       /* seconds they are counted over, 60 */
	unsigned slow_after;           /* then answers wait; 10, 0: never */
	unsigned slow_delay_ms;        /* how long they wait, 1000 */
	unsigned refuse_after;         /* then refused; 30, 0: never */
	unsigned refuse_for;           /* seconds refused, 300 */
	unsigned throttle_entries;     /* sources tracked at most, 4096;
	                                  read at start only */
};

struct config {
	char *file;            /* the path it was loaded from */
	char *user;            /* default "mtlsd" */
	char **listen;         /* "HOST:PORT" / "[V6]:PORT"; default
	                          { "0.0.0.0:7443", "[::]:7443" } */
	size_t n_listen;
	char *pam_socket;      /* default "/run/mtlsd/pam.sock" */
	char *control_socket;  /* default "/run/mtlsd/control.sock" */
	char *rules_dir;       /* optional, NULL if unset */
	uid_t *pam_peers;      /* uids allowed on the PAM socket; default {0} */
	size_t n_pam_peers;
	struct config_tls tls;
	struct {
		unsigned lifetime;     /* seconds, 1..3600, default 60 */
		int bind_address;      /* default 1 */
		char **local_services; /* services with no rhost, may skip
		                          the address check */
		size_t n_local_services;
	} tickets;
	struct {
		char *file;            /* optional JSON-lines audit file */
		char *where;           /* "FILE:LINE" of audit.file, for
		                          messages; NULL when file is */
	} audit;
	struct config_ocsp ocsp;
	struct config_limits limits;
	int sandbox;           /* mtlsd's system call filter; default 1 */
	unsigned workers;      /* processes serving the mTLS listener,
	                          1..CONFIG_MAX_WORKERS; default 1: the one
	                          process does everything */
	int log_level;         /* log_level: the least severe syslog
	                          priority logged, LOG_INFO by default */
	struct policy policy;  /* rules from the file, then rules_dir */
};

/* Loads and checks path. On success *out is owned by the caller
 * (config_free). On failure returns ERR_CONFIG (or ERR_NOMEM) and writes
 * "FILE:LINE: reason" (or "FILE: reason" when there is no line) to err. */
int config_load(const char *path, struct config **out, char *err,
    size_t errlen) MTLS_WUR;
void config_free(struct config **c);

/* Splits a listen address "HOST:PORT" or "[V6]:PORT" into host and port
 * (copied into the given buffers). ERR_INVALID if malformed. */
int config_split_listen(const char *addr, char *host, size_t hostlen,
    char *port, size_t portlen) MTLS_WUR;

#endif
