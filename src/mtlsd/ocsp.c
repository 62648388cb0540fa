#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "ocsp.h"
#include "url.h"

#define CT_OCSP_REQUEST "application/ocsp-request"
#define CT_OCSP_RESPONSE "application/ocsp-response"

/* --- verdicts ------------------------------------------------------------- */

enum ocsp_action
ocsp_action(enum ocsp_verdict v, int soft_fail)
{
	switch (v) {
	case OCSP_VERDICT_GOOD:
		return OCSP_ACT_ALLOW;
	case OCSP_VERDICT_REVOKED:
		return OCSP_ACT_DENY_REVOKED;
	case OCSP_VERDICT_UNAVAILABLE:
		return soft_fail ? OCSP_ACT_ALLOW_SOFT : OCSP_ACT_DENY;
	case OCSP_VERDICT_ABORTED:
		return OCSP_ACT_ABORT;
	case OCSP_VERDICT_UNKNOWN:
	default:
		return OCSP_ACT_DENY;
	}
}

const char *
ocsp_verdict_str(enum ocsp_verdict v)
{
	switch (v) {
	case OCSP_VERDICT_GOOD:
		return "good";
	case OCSP_VERDICT_REVOKED:
		return "revoked";
	case OCSP_VERDICT_UNKNOWN:
		return "unknown";
	case OCSP_VERDICT_UNAVAILABLE:
		return "unavailable";
	case OCSP_VERDICT_ABORTED:
		return "aborted";
	default:
		return "invalid";
	}
}

/* --- the request ---------------------------------------------------------- */

int
ocsp_request_new(X509 *leaf, X509 *issuer, OCSP_REQUEST **reqp,
    OCSP_CERTID **idp)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL, *mine = NULL;
	int r = ERR_NOMEM;

	/* SHA-1 CertIDs are what every responder understands; the hash
	 * only names the issuer, it protects nothing. */
	if ((id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL ||
	    (mine = OCSP_CERTID_dup(id)) == NULL ||
	    (req = OCSP_REQUEST_new()) == NULL)
		goto out;
	if (OCSP_request_add0_id(req, id) == NULL)
		goto out;
	id = NULL; /* now the request's */
	if ((r = OSSL_CHECK(OCSP_request_add1_nonce(req, NULL, -1),
	    "OCSP_request_add1_nonce")) != 0)
		goto out;
	*reqp = req;
	*idp = mine;
	req = NULL;
	mine = NULL;
	r = 0;
out:
	if (r == ERR_NOMEM)
		ERR_clear_error();
	OCSP_CERTID_free(id);
	OCSP_CERTID_free(mine);
	OCSP_REQUEST_free(req);
	return r;
}

/* --- the response -------------------------------------------------------- */

static void
answer_set(struct ocsp_answer *a, enum ocsp_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
answer_set(struct ocsp_answer *a, enum ocsp_verdict v, const char *fmt, ...)
{
	va_list ap;

	a->verdict = v;
	va_start(ap, fmt);
	vsnprintf(a->detail, sizeof(a->detail), fmt, ap);
	va_end(ap);
}

/* The nonce protects a fresh answer against replay; responders that serve
 * pre-signed answers send none, and then thisUpdate/nextUpdate alone say
 * whether the answer is current. A different nonce is never accepted. */
static int
nonce_ok(OCSP_REQUEST *req, OCSP_BASICRESP *bs, int *echoed)
{
	int rc = OCSP_check_nonce(req, bs);

	*echoed = rc == 1;
	return rc == 1 || rc == -1;
}

static long
seconds_until(const ASN1_GENERALIZEDTIME *t)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
		return 0;
	return (long)days * 86400L + secs;
}

/* The single response about id in a verified bs. */
static void
evaluate_status(OCSP_BASICRESP *bs, OCSP_CERTID *id, int echoed,
    struct ocsp_answer *out)
{
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *rev = NULL;
	int status = -1, reason = -1;
	long maxage;

	if (OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd,
	    &nextupd) != 1) {
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "the response holds no status for this certificate");
		return;
	}
	/* With neither a nonce nor a nextUpdate, nothing but thisUpdate's
	 * age tells a fresh answer from a replayed one. */
	maxage = !echoed && nextupd == NULL ? OCSP_LEEWAY : -1;
	if (OCSP_check_validity(thisupd, nextupd, OCSP_LEEWAY, maxage) != 1) {
		ERR_clear_error();
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "the response is not current (thisUpdate/nextUpdate)");
		return;
	}
	out->next_in = nextupd != NULL ? seconds_until(nextupd) : -1;
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		answer_set(out, OCSP_VERDICT_GOOD, "good");
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		answer_set(out, OCSP_VERDICT_REVOKED, "revoked (%s)",
		    reason >= 0 ? OCSP_crl_reason_str(reason) : "no reason");
		break;
	case V_OCSP_CERTSTATUS_UNKNOWN:
		answer_set(out, OCSP_VERDICT_UNKNOWN,
		    "the responder does not know the certificate");
		break;
	default:
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "status %d is not defined", status);
		break;
	}
}

void
ocsp_evaluate(const unsigned char *der, size_t len, OCSP_REQUEST *req,
    OCSP_CERTID *id, STACK_OF(X509) *chain, X509_STORE *store,
    struct ocsp_answer *out)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	int st, echoed = 0;

	out->next_in = -1;
	answer_set(out, OCSP_VERDICT_UNAVAILABLE, "internal error");
	if (der == NULL || len == 0 || len > OCSP_MAX_RESPONSE ||
	    (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "malformed OCSP response");
		goto out;
	}
	if ((st = OCSP_response_status(resp)) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "the responder answered \"%s\"", OCSP_response_status_str(st));
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "not a basic OCSP response");
		goto out;
	}
	if (OCSP_basic_verify(bs, chain, store, 0) != 1) {
		log_ossl(LOG_DEBUG, __func__, "OCSP_basic_verify", NULL, 0);
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "the response's signature or signer is not trusted");
		goto out;
	}
	if (!nonce_ok(req, bs, &echoed)) {
		answer_set(out, OCSP_VERDICT_UNAVAILABLE,
		    "the response's nonce does not match the request's");
		goto out;
	}
	evaluate_status(bs, id, echoed, out);
out:
	ERR_clear_error();
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
}

/* --- the cache ------------------------------------------------------------ */

unsigned
ocsp_cache_ttl(unsigned cache, long next_in)
{
	if (next_in < 0 || (unsigned long)next_in >= cache)
		return cache;
	return (unsigned)next_in;
}

struct centry {
	unsigned char key[OCSP_KEY_LEN];
	enum ocsp_verdict verdict;
	time_t expires;
	struct centry *hnext;        /* bucket chain */
	TAILQ_ENTRY(centry) age;     /* oldest first */
};

struct ocsp_cache {
	struct centry **buckets;
	size_t n_buckets;            /* a power of two */
	size_t count, max;
	TAILQ_HEAD(, centry) by_age;
};

struct ocsp_cache *
ocsp_cache_new(size_t max)
{
	struct ocsp_cache *c = NULL;
	size_t n = 16;

	if (max == 0 || max > OCSP_CACHE_MAX * 16 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	while (n < max)
		n *= 2;
	if ((c->buckets = calloc(n, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	c->n_buckets = n;
	c->max = max;
	TAILQ_INIT(&c->by_age);
	return c;
}

void
ocsp_cache_free(struct ocsp_cache **cp)
{
	struct ocsp_cache *c;
	struct centry *e;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->by_age)) != NULL) {
		TAILQ_REMOVE(&c->by_age, e, age);
		free(e);
	}
	free(c->buckets);
	free(c);
	*cp = NULL;
}

/* The key is a SHA-256 digest: its first bytes are as good as any hash. */
static struct centry **
bucket_of(const struct ocsp_cache *c, const unsigned char *key)
{
	size_t h = 0;

	for (size_t i = 0; i < sizeof(h); i++)
		h = (h << 8) | key[i];
	return &c->buckets[h & (c->n_buckets - 1)];
}

/* The link that points to key's entry (or to the NULL ending its chain). */
static struct centry **
find_link(const struct ocsp_cache *c, const unsigned char *key)
{
	struct centry **pp = bucket_of(c, key);

	while (*pp != NULL && memcmp((*pp)->key, key, OCSP_KEY_LEN) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void
cache_drop(struct ocsp_cache *c, struct centry **link)
{
	struct centry *e = *link;

	*link = e->hnext;
	TAILQ_REMOVE(&c->by_age, e, age);
	c->count--;
	free(e);
}

int
ocsp_cache_put(struct ocsp_cache *c, const unsigned char *key,
    enum ocsp_verdict v, time_t expires)
{
	struct centry **link = find_link(c, key), *e;

	if (*link != NULL)
		cache_drop(c, link);
	if (c->count >= c->max && (e = TAILQ_FIRST(&c->by_age)) != NULL)
		cache_drop(c, find_link(c, e->key));
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ERR_NOMEM;
	memcpy(e->key, key, OCSP_KEY_LEN);
	e->verdict = v;
	e->expires = expires;
	link = bucket_of(c, key);
	e->hnext = *link;
	*link = e;
	TAILQ_INSERT_TAIL(&c->by_age, e, age);
	c->count++;
	return 0;
}

int
ocsp_cache_get(struct ocsp_cache *c, const unsigned char *key, time_t now,
    enum ocsp_verdict *v)
{
	struct centry **link = find_link(c, key);

	if (*link == NULL)
		return ERR_NOTFOUND;
	if (now >= (*link)->expires) {
		cache_drop(c, link);
		return ERR_NOTFOUND;
	}
	*v = (*link)->verdict;
	return 0;
}

size_t
ocsp_cache_count(const struct ocsp_cache *c)
{
	return c->count;
}

/* --- the client ----------------------------------------------------------- */

struct waiter {
	ocsp_done_fn cb;
	void *arg;
	TAILQ_ENTRY(waiter) link;
};
TAILQ_HEAD(waiters, waiter);

struct query {
	struct ocsp *o;
	unsigned char key[OCSP_KEY_LEN];
	struct url *url;                 /* owned */
	struct evhttp_connection *conn;  /* owned */
	struct event *ev;                /* deadline, then "answered" */
	OCSP_REQUEST *req;
	OCSP_CERTID *id;
	STACK_OF(X509) *chain;           /* up-referenced */
	X509_STORE *store;               /* owned: the chain's anchor */
	unsigned timeout, cache_secs;    /* the settings it started with */
	int answered;                    /* the HTTP exchange ended */
	unsigned char *body;             /* the answer, when HTTP 200 */
	size_t body_len;
	char failure[128];               /* why there is no body */
	struct waiters waiters;
	TAILQ_ENTRY(query) link;
};

struct ocsp {
	struct event_base *base;         /* borrowed */
	struct evdns_base *dns;          /* owned */
	struct ocsp_cache *cache;
	TAILQ_HEAD(, query) queries;
	size_t n_queries;
};

static void
result_to(ocsp_done_fn cb, void *arg, enum ocsp_verdict v, int cached,
    const char *detail)
{
	const struct ocsp_result res = { v, cached, detail };

	cb(&res, arg);
}

static void
query_free(struct query *q)
{
	struct waiter *w;

	if (q == NULL)
		return;
	while ((w = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, w, link);
		free(w);
	}
	if (q->conn != NULL)
		evhttp_connection_free(q->conn);
	if (q->ev != NULL)
		event_free(q->ev);
	url_free(&q->url);
	OCSP_REQUEST_free(q->req);
	OCSP_CERTID_free(q->id);
	sk_X509_pop_free(q->chain, X509_free);
	X509_STORE_free(q->store);
	free(q->body);
	free(q);
}

/* Takes q out of the client and tells every waiter; frees q. */
static void
query_finish(struct query *q, enum ocsp_verdict v, const char *detail)
{
	struct ocsp *o = q->o;
	struct waiter *w;

	TAILQ_REMOVE(&o->queries, q, link);
	o->n_queries--;
	/* The connection goes first: a callback may start new queries. */
	if (q->conn != NULL) {
		evhttp_connection_free(q->conn);
		q->conn = NULL;
	}
	while ((w = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, w, link);
		result_to(w->cb, w->arg, v, 0, detail);
		free(w);
	}
	query_free(q);
}

static void
query_judge(struct query *q)
{
	struct ocsp *o = q->o;
	struct ocsp_answer a;
	unsigned ttl;

	if (q->body == NULL) {
		log_warn("event=ocsp-unavailable responder=%s reason=%s",
		    LOG_Q(q->url->authority), LOG_Q(q->failure));
		query_finish(q, OCSP_VERDICT_UNAVAILABLE, q->failure);
		return;
	}
	ocsp_evaluate(q->body, q->body_len, q->req, q->id, q->chain, q->store,
	    &a);
	if (a.verdict == OCSP_VERDICT_UNAVAILABLE) {
		log_warn("event=ocsp-unavailable responder=%s reason=%s",
		    LOG_Q(q->url->authority), LOG_Q(a.detail));
	} else {
		log_debug("event=ocsp-answer responder=%s verdict=%s "
		    "detail=%s", LOG_Q(q->url->authority),
		    LOG_Q(ocsp_verdict_str(a.verdict)), LOG_Q(a.detail));
		ttl = ocsp_cache_ttl(q->cache_secs, a.next_in);
		if (ttl > 0 && ocsp_cache_put(o->cache, q->key, a.verdict,
		    time(NULL) + (time_t)ttl) != 0)
			log_warn("event=ocsp-not-cached reason=\"out of "
			    "memory\"");
	}
	query_finish(q, a.verdict, a.detail);
}

/* The deadline, or (answered) the prompt after the HTTP exchange: either
 * way a plain timer callback, where the connection may be freed. */
static void
on_query_event(evutil_socket_t fd, short what, void *arg)
{
	struct query *q = arg;

	(void)fd;
	(void)what;
	if (!q->answered) {
		snprintf(q->failure, sizeof(q->failure),
		    "no answer within %u s", q->timeout);
		log_warn("event=ocsp-unavailable responder=%s reason=%s",
		    LOG_Q(q->url->authority), LOG_Q(q->failure));
		query_finish(q, OCSP_VERDICT_UNAVAILABLE, q->failure);
		return;
	}
	query_judge(q);
}

static void
take_body(struct query *q, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	int code = evhttp_request_get_response_code(req);

	if (code != 200) {
		snprintf(q->failure, sizeof(q->failure),
		    "HTTP status %d", code);
		return;
	}
	if (len == 0 || len > OCSP_MAX_RESPONSE) {
		snprintf(q->failure, sizeof(q->failure),
		    "an answer of %zu bytes", len);
		return;
	}
	if ((q->body = malloc(len)) == NULL ||
	    evbuffer_remove(in, q->body, len) != (int)len) {
		free(q->body);
		q->body = NULL;
		snprintf(q->failure, sizeof(q->failure),
		    "cannot read the answer");
		return;
	}
	q->body_len = len;
}

/* libevent's request callback: inside its HTTP code, so only record and
 * hand over to on_query_event (the connection must not be freed here). */
static void
on_http_done(struct evhttp_request *req, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct query *q = arg;

	if (q->answered)
		return;
	q->answered = 1;
	if (req == NULL || evhttp_request_get_response_code(req) == 0)
		snprintf(q->failure, sizeof(q->failure), "unreachable");
	else
		take_body(q, req);
	if (event_add(q->ev, &now) != 0)
		log_error("event=ocsp-failed reason=\"cannot schedule the "
		    "OCSP answer\"");
}

/* The responder for leaf: the configured one, else the first usable
 * http:// OCSP URL of its authorityInfoAccess. *out owned. */
static int
responder_for(const struct config_ocsp *c, X509 *leaf, struct url **out,
    const char **why)
{
	STACK_OF(OPENSSL_STRING) *aia = NULL;
	int i, r = ERR_NOTFOUND;

	if (c->responder != NULL)
		return url_parse_http(c->responder, out, why);
	*why = "no responder configured and no OCSP URL in the certificate";
	aia = X509_get1_ocsp(leaf);
	for (i = 0; i < sk_OPENSSL_STRING_num(aia); i++) {
		r = url_parse_http(sk_OPENSSL_STRING_value(aia, i), out, why);
		if (r == 0 || r == ERR_NOMEM)
			break;
		*why = "the certificate's OCSP URL is not a usable http:// URL";
		r = ERR_NOTFOUND;
	}
	X509_email_free(aia);
	return r;
}

static int
add_headers(struct evhttp_request *hreq, const struct url *u)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(hreq);

	if (evhttp_add_header(h, "Host", u->authority) != 0 ||
	    evhttp_add_header(h, "Content-Type", CT_OCSP_REQUEST) != 0 ||
	    evhttp_add_header(h, "Accept", CT_OCSP_RESPONSE) != 0 ||
	    evhttp_add_header(h, "Connection", "close") != 0)
		return ERR_NOMEM;
	return 0;
}

static int
add_body(struct evhttp_request *hreq, OCSP_REQUEST *req)
{
	unsigned char *der = NULL;
	int len, r = ERR_NOMEM;

	if ((len = i2d_OCSP_REQUEST(req, &der)) <= 0) {
		ERR_clear_error();
		return ERR_TLS;
	}
	if (evbuffer_add(evhttp_request_get_output_buffer(hreq), der,
	    (size_t)len) == 0)
		r = 0;
	OPENSSL_free(der);
	return r;
}

/* The HTTP side of q: a connection of its own (closed after the answer),
 * the POST of RFC 6960 appendix A.1, and the deadline. On failure the
 * request object, if made, has been handed to (and freed with) q->conn. */
static int
query_send(struct query *q)
{
	struct ocsp *o = q->o;
	const struct timeval deadline = { (time_t)q->timeout, 0 };
	struct evhttp_request *hreq = NULL;
	int r;

	q->conn = evhttp_connection_base_new(o->base, o->dns, q->url->host,
	    q->url->port);
	q->ev = evtimer_new(o->base, on_query_event, q);
	if (q->conn == NULL || q->ev == NULL ||
	    (hreq = evhttp_request_new(on_http_done, q)) == NULL)
		return ERR_NOMEM;
	evhttp_connection_set_timeout(q->conn, (int)q->timeout);
	evhttp_connection_set_max_body_size(q->conn, OCSP_MAX_RESPONSE);
	evhttp_connection_set_retries(q->conn, 0);
	if ((r = add_headers(hreq, q->url)) != 0 ||
	    (r = add_body(hreq, q->req)) != 0) {
		evhttp_request_free(hreq);
		return r;
	}
	if (event_add(q->ev, &deadline) != 0) {
		evhttp_request_free(hreq);
		return ERR_INTERNAL;
	}
	/* From here on hreq belongs to the connection. */
	if (evhttp_make_request(q->conn, hreq, EVHTTP_REQ_POST,
	    q->url->target) != 0)
		return ERR_IO;
	return 0;
}

static struct query *
query_find(const struct ocsp *o, const unsigned char *key)
{
	struct query *q;

	TAILQ_FOREACH(q, &o->queries, link) {
		if (memcmp(q->key, key, OCSP_KEY_LEN) == 0)
			return q;
	}
	return NULL;
}

static int
waiter_add(struct query *q, ocsp_done_fn cb, void *arg)
{
	struct waiter *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ERR_NOMEM;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&q->waiters, w, link);
	return 0;
}

/* A new query for leaf, in o's list, with its first waiter. On failure
 * *why says why and nothing is left behind. */
/* The responder's signature must chain to the anchor that ended the
 * client's verified chain, and to nothing else. A store of its own, not
 * the handshake's: the handshake's revocation settings (CRLs required for
 * every certificate) are about clients, and a responder's certificate is
 * customarily not revocation-checked (RFC 6960 4.2.2.2.1). The anchor was
 * trusted by the handshake already, so PARTIAL_CHAIN adds nothing when
 * that anchor is an intermediate (tls.partial_chain). */
static X509_STORE *
anchor_store(STACK_OF(X509) *chain)
{
	X509_STORE *st;

	if ((st = X509_STORE_new()) == NULL)
		return NULL;
	if (X509_STORE_add_cert(st, sk_X509_value(chain,
	    sk_X509_num(chain) - 1)) != 1 ||
	    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
		ERR_clear_error();
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

static int
query_start(struct ocsp *o, const struct config_ocsp *c,
    const unsigned char *key, X509 *leaf, STACK_OF(X509) *chain,
    ocsp_done_fn cb, void *arg, const char **why)
{
	struct query *q = NULL;
	int r = ERR_NOMEM;

	*why = "out of memory";
	if (o->n_queries >= OCSP_MAX_QUERIES) {
		*why = "too many OCSP queries in flight";
		return ERR_FULL;
	}
	if (sk_X509_num(chain) < 2) {
		*why = "no issuer certificate in the verified chain";
		return ERR_INVALID;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ERR_NOMEM;
	q->o = o;
	memcpy(q->key, key, OCSP_KEY_LEN);
	TAILQ_INIT(&q->waiters);
	q->timeout = c->timeout > 0 ? c->timeout : 2;
	q->cache_secs = c->cache;
	if ((r = responder_for(c, leaf, &q->url, why)) != 0)
		goto out;
	*why = "cannot build the OCSP request";
	if ((r = ocsp_request_new(leaf, sk_X509_value(chain, 1), &q->req,
	    &q->id)) != 0)
		goto out;
	r = ERR_NOMEM;
	if ((q->chain = X509_chain_up_ref(chain)) == NULL ||
	    (q->store = anchor_store(chain)) == NULL ||
	    waiter_add(q, cb, arg) != 0)
		goto out;
	*why = "cannot send the OCSP request";
	if ((r = query_send(q)) != 0)
		goto out;
	TAILQ_INSERT_TAIL(&o->queries, q, link);
	o->n_queries++;
	log_debug("event=ocsp-query responder=%s target=%s",
	    LOG_Q(q->url->authority), LOG_Q(q->url->target));
	q = NULL;
	r = 0;
out:
	query_free(q);
	return r;
}

void
ocsp_check(struct ocsp *o, const struct config_ocsp *c, X509 *leaf,
    STACK_OF(X509) *chain, ocsp_done_fn cb, void *arg)
{
	unsigned char key[OCSP_KEY_LEN];
	unsigned int klen = 0;
	enum ocsp_verdict v;
	struct query *q;
	const char *why = "internal error";

	if (X509_digest(leaf, EVP_sha256(), key, &klen) != 1 ||
	    klen != OCSP_KEY_LEN) {
		ERR_clear_error();
		result_to(cb, arg, OCSP_VERDICT_UNAVAILABLE, 0,
		    "cannot hash the certificate");
		return;
	}
	if (ocsp_cache_get(o->cache, key, time(NULL), &v) == 0) {
		result_to(cb, arg, v, 1, ocsp_verdict_str(v));
		return;
	}
	if ((q = query_find(o, key)) != NULL) {
		if (waiter_add(q, cb, arg) != 0)
			result_to(cb, arg, OCSP_VERDICT_UNAVAILABLE, 0,
			    "out of memory");
		return;
	}
	if (query_start(o, c, key, leaf, chain, cb, arg, &why) != 0) {
		log_warn("event=ocsp-unavailable reason=%s", LOG_Q(why));
		result_to(cb, arg, OCSP_VERDICT_UNAVAILABLE, 0, why);
	}
}

int
ocsp_new(struct event_base *base, struct ocsp **out)
{
	struct ocsp *o = NULL;
	int r = ERR_NOMEM;

	if (base == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		goto out;
	o->base = base;
	TAILQ_INIT(&o->queries);
	/* Name lookups on the event loop: a responder's name (configured
	 * or in a certificate) must not stall every other client. */
	o->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (o->dns == NULL ||
	    (o->cache = ocsp_cache_new(OCSP_CACHE_MAX)) == NULL)
		goto out;
	*out = o;
	o = NULL;
	r = 0;
out:
	ocsp_free(&o);
	return r;
}

void
ocsp_free(struct ocsp **op)
{
	struct ocsp *o;
	struct query *q;

	if (op == NULL || (o = *op) == NULL)
		return;
	while ((q = TAILQ_FIRST(&o->queries)) != NULL)
		query_finish(q, OCSP_VERDICT_ABORTED, "shutting down");
	if (o->dns != NULL)
		evdns_base_free(o->dns, 0);
	ocsp_cache_free(&o->cache);
	free(o);
	*op = NULL;
}
