/* The ticket store: one-use tickets bound to a user, a certificate and
 * optionally a source address. Only SHA-256(ticket) is kept. */
#ifndef MTLS_TICKETS_H
#define MTLS_TICKETS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "ident.h"

#define TICKET_RAW_LEN 24     /* random bytes: 192 bits from RAND_bytes */
#define TICKET_STR_LEN 32     /* base64url, no padding */
#define TICKET_BUFLEN (TICKET_STR_LEN + 1)

/* Made by ticket_grant_new only: the three strings live in the grant's
 * own allocation (text), so a grant is one allocation, not three, beside
 * its ident (which the store shares between a certificate's tickets). */
struct ticket_grant {
	const char *user;      /* local user the ticket is for */
	const char *rule;      /* rule that granted it at issue time */
	const char *addr;      /* TLS peer address (numeric), "" if unbound */
	/* The certificate's identity: one reference, owned. Once the grant
	 * is in a store it may be a reference to the ident every ticket of
	 * that certificate shares (immutable, see ident.h). */
	struct ident *id;
	time_t expires;        /* set by tstore_issue */
	size_t size;           /* of the whole allocation, for the wipe */
	char text[];           /* user, rule and addr, each NUL-terminated */
};

/* A grant for user (by rule) bound to the peer address addr, or unbound if
 * addr is NULL or "" (the strings are borrowed and copied). Takes
 * ownership of *id (not NULL) and sets *id = NULL on success; on failure
 * *id stays the caller's. *out owned by the caller (ticket_grant_free).
 * ERR_INVALID, ERR_NOMEM. */
int ticket_grant_new(const char *user, const char *rule, const char *addr,
    struct ident **id, struct ticket_grant **out) MTLS_WUR;

/* The store's tables grow with what it holds (from a few buckets, never
 * sized for max up front), so an idle daemon configured for a million
 * tickets holds almost nothing. */
struct tstore;

/* A store holding at most max tickets. NULL on allocation failure. Not
 * thread-safe (nor are the idents it shares). */
struct tstore *tstore_new(size_t max);
void tstore_free(struct tstore **s);

/* Issues a ticket for *g: draws TICKET_RAW_LEN bytes from the OpenSSL
 * CSPRNG, writes the ticket text to out, stores H(ticket) -> *g with
 * expires = now + lifetime. Takes ownership of *g and sets *g = NULL on
 * success; on failure *g stays the caller's, unchanged. On success, if
 * the store already holds a ticket of the same certificate (equal
 * non-empty fingerprint), the grant's ident is replaced by a reference to
 * the one that certificate's tickets share (equal, as both are made from
 * the same DER) and its own is freed: a certificate's tickets hold one
 * ident between them. ERR_FULL when the store holds max live tickets
 * (expired ones are dropped first), ERR_DENIED when the
 * grant's certificate (g->id->fingerprint) holds its per_cert live tickets
 * (tstore_set_limits; its expired ones are dropped first), ERR_TLS if the
 * CSPRNG fails. Neither cap ever evicts a live ticket. */
int tstore_issue(struct tstore *s, struct ticket_grant **g, time_t now,
    unsigned lifetime, char out[TICKET_BUFLEN]) MTLS_WUR;

/* Looks up and removes the ticket (single use: it is gone whatever the
 * caller decides next). On success *out is the grant, owned by the caller.
 * ERR_NOTFOUND for an unknown, used or malformed ticket, ERR_EXPIRED if its
 * lifetime passed (it is removed too). Compares in constant time. */
int tstore_take(struct tstore *s, const char *ticket, time_t now,
    struct ticket_grant **out) MTLS_WUR;

/* Drops expired tickets; returns how many. */
size_t tstore_expire(struct tstore *s, time_t now);
size_t tstore_count(const struct tstore *s);

/* Sets the caps tstore_issue enforces: max live tickets in all (>= 1)
 * and per_cert per certificate fingerprint (0: no such cap, the default
 * of tstore_new). Lowering a cap drops no ticket: issues are refused
 * until enough are taken or expire. */
void tstore_set_limits(struct tstore *s, size_t max, size_t per_cert);

/* Tickets held for the certificate whose ident fingerprint is fpr
 * (borrowed), in constant time: a hash lookup. Tickets past their
 * lifetime count until tstore_expire drops them, or an issue for that
 * certificate that would exceed its cap does. */
size_t tstore_count_for(const struct tstore *s, const char *fpr);

/* Wipes and frees *g, dropping its ident reference; sets *g = NULL.
 * Accepts NULL and *g == NULL. */
void ticket_grant_free(struct ticket_grant **g);

/* The redemption checks that do not need the policy: user equality, and
 * the address binding. addr binding: if g->addr is non-empty, rhost must be
 * a numeric address equal to it (compared as addresses, so ::ffff:1.2.3.4
 * equals 1.2.3.4); an empty rhost is accepted only when service is one of
 * local_services. Returns 0 or ERR_DENIED with *reason an enum proto_deny
 * value. */
int ticket_check(const struct ticket_grant *g, const char *user,
    const char *service, const char *rhost, char *const *local_services,
    size_t n_local_services, uint32_t *reason) MTLS_WUR;

#endif
