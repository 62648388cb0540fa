/* Messages between mtlsd's master process and its workers (workers = N
 * in mtlsd.conf): a worker serves the mTLS listener and decides a ticket
 * request by the policy; the master owns the ticket store, so every
 * ticket lives in one place whichever worker issued it, and the PAM
 * socket redeems it there.
 *
 * The transport is an AF_UNIX SOCK_SEQPACKET socketpair: one message per
 * datagram, at most WMSG_MAX bytes, so there is no length prefix. A
 * message is u8 type, then its fields; strings are u16 big-endian length
 * + bytes, NUL-free; integers big-endian. Both sides decode what they
 * receive as untrusted input: a malformed message is refused whole and
 * the link is dropped by the caller. */
#ifndef MTLS_WMSG_H
#define MTLS_WMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "ident.h"
#include "tickets.h"

#define WMSG_MAX 65536            /* bytes in one message, type included */
#define WMSG_MAX_STR 8192         /* bytes in one string field */
#define WMSG_MAX_LIST 1024        /* entries in one list of an ident */

enum wmsg_type {
	WMSG_ISSUE = 1,    /* worker -> master: store a ticket for a grant */
	WMSG_ISSUED = 2,   /* master -> worker: the answer to one ISSUE     */
	WMSG_RELOAD = 3,   /* master -> worker: re-read the configuration   */
	WMSG_FAILURE = 4,  /* both ways: a failed attempt, for throttling   */
	WMSG_RELOADED = 5, /* worker -> master: how one RELOAD went         */
};

/* The master's answer to an ISSUE. */
enum wmsg_result {
	WMSG_OK = 0,           /* ticket holds the ticket                */
	WMSG_FULL = 1,         /* the store holds max_tickets            */
	WMSG_CERT_FULL = 2,    /* the certificate holds its per-cert cap */
	WMSG_UNAUDITED = 3,    /* the audit record could not be written:
	                          no ticket was kept                     */
	WMSG_FAILED = 4,       /* any other failure: no ticket was kept  */
};
#define WMSG_RESULT_LAST WMSG_FAILED

/* Fields of ISSUE, in this order on the wire: u32 seq, the strings user,
 * rule, bind_addr, source, reason, then the ident. */
struct wmsg_issue {
	uint32_t seq;            /* the worker's, echoed in the answer */
	char *user;              /* the local user asked for, non-empty */
	char *rule;              /* the rule that granted it, non-empty */
	char *bind_addr;         /* the address the ticket is bound to, ""
	                            for an unbound ticket */
	char *source;            /* the peer's address, for the audit line */
	char *reason;            /* the decision's reason, for the audit line */
	struct ident *id;        /* the certificate's identity, one reference */
};

/* An ident on the wire, in this order: the strings subject, issuer,
 * serial; fingerprint as a string of exactly IDENT_FPR_LEN bytes
 * ("sha256:" and 64 lowercase hex); u16 count + strings for san_email,
 * san_dns, san_uri; u8 1 if san_email_local is present, else 0, and when
 * present n_san_email entries of u8 present (0/1) + string if present;
 * u16 count + (type, value) string pairs for avas; u16 count + strings
 * for policy_oids. Counts are at most WMSG_MAX_LIST. A decoded ident
 * holds one reference and its arrays are NULL when their count is 0. */

/* Fields of ISSUED: u32 seq, u8 result, u32 lifetime (seconds, the
 * master's tickets.lifetime), then the ticket string: TICKET_STR_LEN
 * bytes when result is WMSG_OK, empty otherwise. */
struct wmsg_issued {
	uint32_t seq;
	uint8_t result;          /* enum wmsg_result */
	uint32_t lifetime;
	char ticket[TICKET_BUFLEN];  /* secret: wiped by wmsg_clear */
};

/* Fields of FAILURE: the strings addr (a numeric address, or "") and fpr
 * (a fingerprint of IDENT_FPR_LEN bytes, or ""); not both empty. */
struct wmsg_failure {
	char *addr;
	char *fpr;
};

/* Fields of RELOADED: u8 ok (1, or 0), then the string error: empty when
 * ok, the reload's refusal ("FILE:LINE: reason") when not. A worker
 * answers every RELOAD with one, in order. */
struct wmsg_reloaded {
	uint8_t ok;
	char *error;
};

struct wmsg {
	uint8_t type;            /* enum wmsg_type */
	union {
		struct wmsg_issue issue;      /* WMSG_ISSUE */
		struct wmsg_issued issued;    /* WMSG_ISSUED */
		struct wmsg_failure failure;  /* WMSG_FAILURE */
		struct wmsg_reloaded reloaded; /* WMSG_RELOADED */
	} u;                     /* WMSG_RELOAD has no fields */
};

/* Appends the message m to out (out's max should be WMSG_MAX). m's
 * strings and ident are borrowed. ERR_INVALID for an unknown type, a NULL
 * field, an empty user or rule, a fingerprint not IDENT_FPR_LEN bytes, a
 * result over WMSG_RESULT_LAST, a ticket not TICKET_STR_LEN bytes with
 * WMSG_OK or non-empty without it, a string over WMSG_MAX_STR or a list
 * over WMSG_MAX_LIST; ERR_TOOLONG when the message would exceed WMSG_MAX
 * or out's max; ERR_NOMEM. On error out may hold part of a message: the
 * caller resets it. */
int wmsg_encode(struct buf *out, const struct wmsg *m) MTLS_WUR;

/* Decodes the one whole message p[0..len) (a datagram). On success *m is
 * filled and owned by the caller (wmsg_clear). On error *m is zeroed and
 * nothing is allocated. ERR_TOOLONG if len is over WMSG_MAX; ERR_PROTO
 * for len 0, an unknown type, a truncated field, a string over its bound
 * or holding a NUL, a count over WMSG_MAX_LIST, what wmsg_encode would
 * refuse, or bytes left over; ERR_NOMEM. */
int wmsg_decode(const uint8_t *p, size_t len, struct wmsg *m) MTLS_WUR;

/* Frees what m holds (the ident reference too), wipes the ticket, and
 * zeroes m. Accepts NULL. */
void wmsg_clear(struct wmsg *m);

/* Short static name of a result, for log lines ("ok", "full", ...);
 * "unknown" for a value out of range. */
const char *wmsg_result_str(uint8_t result);

#endif
