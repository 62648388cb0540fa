/* The audit trail: one record per decision (a ticket issued or refused, a
 * redemption accepted or refused). Always a key=value line to syslog
 * (LOG_AUTHPRIV, notice); also one JSON object per line in audit.file when
 * it is configured. A record never holds a ticket. */
#ifndef MTLSD_AUDIT_H
#define MTLSD_AUDIT_H

#include <stddef.h>

#include "err.h"
#include "ident.h"

#define AUDIT_TICKET_ISSUED "ticket-issued"
#define AUDIT_TICKET_DENIED "ticket-denied"
#define AUDIT_REDEEMED "redeemed"
#define AUDIT_REDEEM_DENIED "redeem-denied"

/* Every pointer is borrowed for the call; NULL means absent. */
struct audit_rec {
	const char *event;     /* one of AUDIT_* */
	const char *user;      /* the local user asked for */
	const char *service;   /* PAM service (redemptions) */
	const char *rhost;     /* PAM_RHOST (redemptions) */
	const char *source;    /* TLS peer address (ticket events) */
	const struct ident *id;/* the certificate, if known */
	const char *rule;      /* the rule that decided, if any */
	const char *reason;    /* why: a policy reason or a deny name */
};

/* Where records go: syslog always, fd when >= 0, stderr too when
 * to_stderr (mtlsd -f). fd is owned by whoever holds the struct. */
struct audit {
	int fd;
	int to_stderr;
};

/* Opens (creating it 0640 if needed) the JSON-lines audit file for
 * appending; refuses a symbolic link. *fd is the caller's. ERR_IO with
 * "FILE: reason" in err on failure. */
int audit_open(const char *path, int *fd, char *err, size_t errlen)
    MTLS_WUR;


/* Writes r to a->fd with one write() when a->fd >= 0, then to syslog.
 * Returns 0, or ERR_IO (logged with errno) when the file record could not
 * be written whole. For a grant (ticket-issued, redeemed) that means the
 * caller must not grant, and nothing went to syslog: the caller records
 * the refusal instead. A refusal reaches syslog whatever the file does. */
int audit_record(const struct audit *a, const struct audit_rec *r)
    MTLS_WUR;

#endif
