/* OCSP (RFC 6960) for client certificates: asked after the handshake,
 * before a ticket is issued, with libevent's HTTP client on the daemon's
 * event loop, so that a slow responder delays only the requests that wait
 * for it. Answers are cached by certificate for their validity (at most
 * ocsp.cache seconds); requests for a certificate already being asked
 * about wait for that one query.
 *
 * The client (ocsp_new ... ocsp_free) is built from the pure parts below
 * it (request building, response evaluation, the cache), which the unit
 * tests call directly. */
#ifndef MTLSD_OCSP_H
#define MTLSD_OCSP_H

#include <stddef.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "conf.h"
#include "err.h"

#define OCSP_KEY_LEN 32           /* SHA-256 of the certificate */
#define OCSP_CACHE_MAX 10000      /* answers kept, oldest evicted first */
#define OCSP_MAX_QUERIES 256      /* queries in flight at once */
#define OCSP_MAX_RESPONSE 65536   /* bytes of a responder's answer */
#define OCSP_LEEWAY 300           /* seconds of clock skew on thisUpdate
                                     and nextUpdate */

enum ocsp_verdict {
	OCSP_VERDICT_GOOD,
	OCSP_VERDICT_REVOKED,
	OCSP_VERDICT_UNKNOWN,     /* the responder does not know the cert */
	OCSP_VERDICT_UNAVAILABLE, /* no usable answer: unreachable, timed
	                             out, HTTP error, malformed, unverifiable
	                             or not "successful" */
	OCSP_VERDICT_ABORTED,     /* the daemon stopped before the answer */
};

/* What the caller does with a verdict. soft_fail tolerates only the
 * absence of an answer: a responder that answered "unknown" has spoken
 * (it does not know a certificate the CA supposedly issued), so that is
 * refused whatever soft_fail says. */
enum ocsp_action {
	OCSP_ACT_ALLOW,           /* good */
	OCSP_ACT_ALLOW_SOFT,      /* unavailable, soft_fail: allow, warn */
	OCSP_ACT_DENY_REVOKED,
	OCSP_ACT_DENY,            /* unknown; unavailable without soft_fail */
	OCSP_ACT_ABORT,           /* shutting down: an internal error */
};

enum ocsp_action ocsp_action(enum ocsp_verdict v, int soft_fail);
const char *ocsp_verdict_str(enum ocsp_verdict v);

/* --- the pure parts ------------------------------------------------------ */

/* The answer for one certificate. detail says why, for logs. */
struct ocsp_answer {
	enum ocsp_verdict verdict;
	long next_in;             /* seconds until nextUpdate; -1: none */
	char detail[160];
};

/* A request for leaf (issued by issuer) with a fresh nonce: *req and *id
 * (the certificate's OCSP_CERTID, to find its status in the response)
 * owned by the caller. ERR_TLS or ERR_NOMEM. */
int ocsp_request_new(X509 *leaf, X509 *issuer, OCSP_REQUEST **req,
    OCSP_CERTID **id) MTLS_WUR;

/* Judges the DER response der/len to req about id: parsed, "successful",
 * signed by the CA of the certificate or by a responder it delegated to
 * (OCSPSigning) that chains to an anchor of store (chain: untrusted
 * certificates to help, e.g. the peer's verified chain), nonce equal if
 * the responder echoed one, thisUpdate/nextUpdate current within
 * OCSP_LEEWAY (and, with neither nonce nor nextUpdate, thisUpdate no older
 * than OCSP_LEEWAY). Anything short of that is UNAVAILABLE. Everything is
 * borrowed. */
void ocsp_evaluate(const unsigned char *der, size_t len, OCSP_REQUEST *req,
    OCSP_CERTID *id, STACK_OF(X509) *chain, X509_STORE *store,
    struct ocsp_answer *out);

/* How long an answer may be cached: cache seconds, or less when nextUpdate
 * comes sooner (next_in seconds; -1: no nextUpdate). 0: not at all. */
unsigned ocsp_cache_ttl(unsigned cache, long next_in);

struct ocsp_cache;

/* A cache of at most max answers (max >= 1). NULL when out of memory. */
struct ocsp_cache *ocsp_cache_new(size_t max);
void ocsp_cache_free(struct ocsp_cache **c);

/* Keeps v for key until expires (a time_t): replaces an answer for the
 * same key; when full, drops the oldest. ERR_NOMEM. */
int ocsp_cache_put(struct ocsp_cache *c, const unsigned char *key,
    enum ocsp_verdict v, time_t expires) MTLS_WUR;

/* *v for key if cached and now < its expiry; an expired answer is
 * dropped. ERR_NOTFOUND otherwise. */
int ocsp_cache_get(struct ocsp_cache *c, const unsigned char *key,
    time_t now, enum ocsp_verdict *v) MTLS_WUR;
size_t ocsp_cache_count(const struct ocsp_cache *c);

/* --- the client ----------------------------------------------------------- */

struct event_base;
struct ocsp;

/* The outcome for one ocsp_check; borrowed for the callback's duration. */
struct ocsp_result {
	enum ocsp_verdict verdict;
	int cached;               /* answered from the cache */
	const char *detail;       /* why, for logs */
};

typedef void (*ocsp_done_fn)(const struct ocsp_result *res, void *arg);

/* A client on base (borrowed; must outlive it), with its cache and its
 * own evdns base, so that a responder's name is resolved without
 * blocking. *out owned by the caller (ocsp_free). ERR_NOMEM. */
int ocsp_new(struct event_base *base, struct ocsp **out) MTLS_WUR;

/* Ends every query in flight (their callbacks get OCSP_VERDICT_ABORTED)
 * and frees the client. Call it before the evhttp server is freed, so
 * that the requests waiting here can still be answered. Accepts NULL. */
void ocsp_free(struct ocsp **o);

/* The status of leaf, whose verified chain is chain (leaf first, then its
 * issuer, last the anchor that the response's signature must chain to),
 * asked as c says (responder, timeout, cache time; read during the call).
 * Everything is borrowed; what a query keeps is copied or up-referenced,
 * so a reload may free c. cb(res, arg) is called
 * exactly once: before ocsp_check returns when the answer is cached or no
 * query can be made, else later from the event loop. The caller must not
 * touch arg after the call unless it knows the callback has not run. */
void ocsp_check(struct ocsp *o, const struct config_ocsp *c, X509 *leaf,
    STACK_OF(X509) *chain, ocsp_done_fn cb, void *arg);

#endif
