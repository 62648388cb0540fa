#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ocsp.h"
#include "testcert.h"
#include "url.h"

#define NO_NEXT LONG_MIN

/* --- url_parse_http ------------------------------------------------------- */

static void
url_ok(const char *s, const char *host, unsigned short port,
    const char *authority, const char *target)
{
	struct url *u = NULL;
	const char *why = NULL;

	assert_int_equal(url_parse_http(s, &u, &why), 0);
	assert_string_equal(u->host, host);
	assert_int_equal(u->port, port);
	assert_string_equal(u->authority, authority);
	assert_string_equal(u->target, target);
	url_free(&u);
	assert_null(u);
}

static void
url_bad(const char *s, const char *why_part)
{
	struct url *u = NULL;
	const char *why = NULL;

	assert_int_equal(url_parse_http(s, &u, &why), ERR_INVALID);
	assert_null(u);
	assert_non_null(why);
	if (why_part != NULL)
		assert_non_null(strstr(why, why_part));
}

static void
test_url_good(void **state)
{
	(void)state;
	url_ok("http://127.0.0.1:8888/", "127.0.0.1", 8888, "127.0.0.1:8888",
	    "/");
	url_ok("http://ocsp.example.org", "ocsp.example.org", 80,
	    "ocsp.example.org", "/");
	url_ok("HTTP://ocsp.example.org:80/a/b?x=1", "ocsp.example.org", 80,
	    "ocsp.example.org", "/a/b?x=1");
	url_ok("http://[::1]:2560/ocsp", "::1", 2560, "[::1]:2560", "/ocsp");
	url_ok("http://h?x=1", "h", 80, "h", "/?x=1");
}

static void
test_url_bad(void **state)
{
	struct url *u = NULL;

	(void)state;
	url_bad("https://127.0.0.1/", "https:// is not supported");
	url_bad("HTTPS://127.0.0.1/", "https:// is not supported");
	url_bad("ldap://127.0.0.1/", NULL);
	url_bad("127.0.0.1:8888/", NULL);
	url_bad("http://user:pw@127.0.0.1/", "credentials");
	url_bad("http://127.0.0.1/#frag", "fragment");
	url_bad("http://127.0.0.1:70000/", NULL);
	url_bad("http:///path", NULL);
	url_bad("http://127.0.0.1/a b", NULL);
	url_bad("http://127.0.0.1/\n", NULL);
	url_bad("", NULL);
	assert_int_equal(url_parse_http(NULL, &u, NULL), ERR_INVALID);
	url_free(NULL);
	url_free(&u);
}

/* --- verdicts and the cache ----------------------------------------------- */

static void
test_action(void **state)
{
	(void)state;
	assert_int_equal(ocsp_action(OCSP_VERDICT_GOOD, 0), OCSP_ACT_ALLOW);
	assert_int_equal(ocsp_action(OCSP_VERDICT_GOOD, 1), OCSP_ACT_ALLOW);
	assert_int_equal(ocsp_action(OCSP_VERDICT_REVOKED, 0),
	    OCSP_ACT_DENY_REVOKED);
	assert_int_equal(ocsp_action(OCSP_VERDICT_REVOKED, 1),
	    OCSP_ACT_DENY_REVOKED);
	assert_int_equal(ocsp_action(OCSP_VERDICT_UNAVAILABLE, 0),
	    OCSP_ACT_DENY);
	assert_int_equal(ocsp_action(OCSP_VERDICT_UNAVAILABLE, 1),
	    OCSP_ACT_ALLOW_SOFT);
	/* The responder answered: soft_fail does not apply. */
	assert_int_equal(ocsp_action(OCSP_VERDICT_UNKNOWN, 0), OCSP_ACT_DENY);
	assert_int_equal(ocsp_action(OCSP_VERDICT_UNKNOWN, 1), OCSP_ACT_DENY);
	assert_int_equal(ocsp_action(OCSP_VERDICT_ABORTED, 1), OCSP_ACT_ABORT);
	assert_int_equal(ocsp_action((enum ocsp_verdict)42, 1), OCSP_ACT_DENY);
	assert_string_equal(ocsp_verdict_str(OCSP_VERDICT_REVOKED), "revoked");
	assert_string_equal(ocsp_verdict_str((enum ocsp_verdict)42), "invalid");
}

static void
test_cache_ttl(void **state)
{
	(void)state;
	assert_int_equal(ocsp_cache_ttl(300, -1), 300);    /* no nextUpdate */
	assert_int_equal(ocsp_cache_ttl(300, 3600), 300);  /* later */
	assert_int_equal(ocsp_cache_ttl(300, 60), 60);     /* sooner */
	assert_int_equal(ocsp_cache_ttl(300, 300), 300);
	assert_int_equal(ocsp_cache_ttl(300, 0), 0);       /* due now */
	assert_int_equal(ocsp_cache_ttl(0, 3600), 0);      /* cache off */
	assert_int_equal(ocsp_cache_ttl(0, -1), 0);
}

static void
key_of(unsigned char *key, int n)
{
	memset(key, 0, OCSP_KEY_LEN);
	key[0] = (unsigned char)n;
	key[OCSP_KEY_LEN - 1] = (unsigned char)(n * 7);
}

static void
test_cache_expiry(void **state)
{
	struct ocsp_cache *c;
	unsigned char k1[OCSP_KEY_LEN], k2[OCSP_KEY_LEN];
	enum ocsp_verdict v = OCSP_VERDICT_UNAVAILABLE;

	(void)state;
	assert_null(ocsp_cache_new(0));
	assert_non_null(c = ocsp_cache_new(10));
	key_of(k1, 1);
	key_of(k2, 2);
	assert_int_equal(ocsp_cache_get(c, k1, 1000, &v), ERR_NOTFOUND);
	assert_int_equal(ocsp_cache_put(c, k1, OCSP_VERDICT_GOOD, 1100), 0);
	assert_int_equal(ocsp_cache_put(c, k2, OCSP_VERDICT_REVOKED, 1050), 0);
	assert_int_equal(ocsp_cache_get(c, k1, 1099, &v), 0);
	assert_int_equal(v, OCSP_VERDICT_GOOD);
	assert_int_equal(ocsp_cache_get(c, k2, 1000, &v), 0);
	assert_int_equal(v, OCSP_VERDICT_REVOKED);
	/* At its expiry an answer is gone, and dropped. */
	assert_int_equal(ocsp_cache_get(c, k2, 1050, &v), ERR_NOTFOUND);
	assert_int_equal(ocsp_cache_count(c), 1);
	assert_int_equal(ocsp_cache_get(c, k1, 1100, &v), ERR_NOTFOUND);
	assert_int_equal(ocsp_cache_count(c), 0);
	/* A new answer replaces the old one for the same key. */
	assert_int_equal(ocsp_cache_put(c, k1, OCSP_VERDICT_GOOD, 2000), 0);
	assert_int_equal(ocsp_cache_put(c, k1, OCSP_VERDICT_REVOKED, 2000), 0);
	assert_int_equal(ocsp_cache_count(c), 1);
	assert_int_equal(ocsp_cache_get(c, k1, 1500, &v), 0);
	assert_int_equal(v, OCSP_VERDICT_REVOKED);
	ocsp_cache_free(&c);
	assert_null(c);
	ocsp_cache_free(&c);
}

static void
test_cache_eviction(void **state)
{
	struct ocsp_cache *c;
	unsigned char k[OCSP_KEY_LEN];
	enum ocsp_verdict v;
	int i;

	(void)state;
	assert_non_null(c = ocsp_cache_new(3));
	for (i = 1; i <= 4; i++) {
		key_of(k, i);
		assert_int_equal(ocsp_cache_put(c, k, OCSP_VERDICT_GOOD, 5000),
		    0);
		assert_true(ocsp_cache_count(c) <= 3);
	}
	assert_int_equal(ocsp_cache_count(c), 3);
	key_of(k, 1);  /* the oldest went */
	assert_int_equal(ocsp_cache_get(c, k, 1000, &v), ERR_NOTFOUND);
	for (i = 2; i <= 4; i++) {
		key_of(k, i);
		assert_int_equal(ocsp_cache_get(c, k, 1000, &v), 0);
	}
	/* Many more than fit: still bounded, the newest kept. */
	for (i = 5; i < 200; i++) {
		key_of(k, i);
		assert_int_equal(ocsp_cache_put(c, k, OCSP_VERDICT_GOOD, 5000),
		    0);
	}
	assert_int_equal(ocsp_cache_count(c), 3);
	assert_int_equal(ocsp_cache_get(c, k, 1000, &v), 0);
	ocsp_cache_free(&c);
}

/* --- responses ------------------------------------------------------------ */

struct pki {
	EVP_PKEY *ca_key, *other_key, *leaf_key, *peer_key;
	X509 *ca, *other, *leaf, *peer;  /* peer: a second leaf of ca */
	X509_STORE *store;
	STACK_OF(X509) *chain;           /* leaf, ca */
};

static int
pki_setup(void **state)
{
	static const struct tc_ava alice[] = { { "CN", "alice", 0, 0 } };
	static const struct tc_ava bob[] = { { "CN", "bob", 0, 0 } };
	struct tc_leaf spec = { .subject = alice, .n_subject = 1,
	    .serial = "1234", .not_before = -3600, .not_after = 86400,
	    .eku = TC_EKU_CLIENT };
	struct pki *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	assert_non_null(p->ca_key = tc_key_new());
	assert_non_null(p->other_key = tc_key_new());
	assert_non_null(p->leaf_key = tc_key_new());
	assert_non_null(p->peer_key = tc_key_new());
	assert_non_null(p->ca = tc_ca_new("Test CA", p->ca_key, NULL, NULL));
	assert_non_null(p->other = tc_ca_new("Other CA", p->other_key, NULL,
	    NULL));
	assert_non_null(p->leaf = tc_leaf_new(&spec, p->leaf_key, p->ca,
	    p->ca_key));
	spec.subject = bob;
	spec.serial = "5678";
	assert_non_null(p->peer = tc_leaf_new(&spec, p->peer_key, p->ca,
	    p->ca_key));
	assert_non_null(p->store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(p->store, p->ca), 1);
	assert_non_null(p->chain = sk_X509_new_null());
	assert_true(sk_X509_push(p->chain, p->leaf) > 0);
	assert_true(sk_X509_push(p->chain, p->ca) > 0);
	*state = p;
	return 0;
}

static int
pki_teardown(void **state)
{
	struct pki *p = *state;

	sk_X509_free(p->chain);
	X509_STORE_free(p->store);
	X509_free(p->ca);
	X509_free(p->other);
	X509_free(p->leaf);
	X509_free(p->peer);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->other_key);
	EVP_PKEY_free(p->leaf_key);
	EVP_PKEY_free(p->peer_key);
	free(p);
	return 0;
}

enum nonce { NONCE_NONE, NONCE_COPY, NONCE_WRONG };

struct spec {
	int resp_status;           /* OCSP_RESPONSE_STATUS_* */
	int cert_status;           /* V_OCSP_CERTSTATUS_* */
	long this_off, next_off;   /* seconds from now; next NO_NEXT: none */
	enum nonce nonce;
	X509 *signer;              /* NULL: the CA */
	EVP_PKEY *signer_key;
	X509 *about;               /* NULL: the request's certificate */
};

static ASN1_GENERALIZEDTIME *
gtime(long off)
{
	return ASN1_GENERALIZEDTIME_adj(NULL, time(NULL), 0, off);
}

/* The DER of a response to req as s describes; *len its length. */
static unsigned char *
response_der(struct pki *p, OCSP_REQUEST *req, const struct spec *s,
    int *len)
{
	OCSP_BASICRESP *bs;
	OCSP_RESPONSE *resp;
	OCSP_CERTID *id;
	ASN1_GENERALIZEDTIME *thisupd, *nextupd = NULL, *rev = NULL;
	unsigned char *der = NULL, wrong[16] = { 1, 2, 3 };

	if (s->resp_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		assert_non_null(resp = OCSP_response_create(s->resp_status,
		    NULL));
		*len = i2d_OCSP_RESPONSE(resp, &der);
		OCSP_RESPONSE_free(resp);
		return der;
	}
	assert_non_null(bs = OCSP_BASICRESP_new());
	assert_non_null(id = OCSP_cert_to_id(NULL, s->about != NULL ?
	    s->about : p->leaf, p->ca));
	assert_non_null(thisupd = gtime(s->this_off));
	if (s->next_off != NO_NEXT)
		assert_non_null(nextupd = gtime(s->next_off));
	if (s->cert_status == V_OCSP_CERTSTATUS_REVOKED)
		assert_non_null(rev = gtime(-7200));
	assert_non_null(OCSP_basic_add1_status(bs, id, s->cert_status,
	    s->cert_status == V_OCSP_CERTSTATUS_REVOKED ?
	    OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1, rev, thisupd, nextupd));
	if (s->nonce == NONCE_COPY)
		assert_int_equal(OCSP_copy_nonce(bs, req), 1);
	else if (s->nonce == NONCE_WRONG)
		assert_int_equal(OCSP_basic_add1_nonce(bs, wrong,
		    sizeof(wrong)), 1);
	assert_int_equal(OCSP_basic_sign(bs, s->signer != NULL ? s->signer :
	    p->ca, s->signer_key != NULL ? s->signer_key : p->ca_key,
	    EVP_sha256(), NULL, 0), 1);
	assert_non_null(resp = OCSP_response_create(
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, bs));
	*len = i2d_OCSP_RESPONSE(resp, &der);
	assert_true(*len > 0);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_GENERALIZEDTIME_free(thisupd);
	ASN1_GENERALIZEDTIME_free(nextupd);
	ASN1_GENERALIZEDTIME_free(rev);
	return der;
}

/* Evaluates a response built from s; returns the verdict, *a filled. */
static enum ocsp_verdict
judge(struct pki *p, const struct spec *s, struct ocsp_answer *a)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	unsigned char *der;
	int len = 0;

	assert_int_equal(ocsp_request_new(p->leaf, p->ca, &req, &id), 0);
	der = response_der(p, req, s, &len);
	assert_non_null(der);
	ocsp_evaluate(der, (size_t)len, req, id, p->chain, p->store, a);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	return a->verdict;
}

#define GOOD_SPEC { OCSP_RESPONSE_STATUS_SUCCESSFUL, \
	V_OCSP_CERTSTATUS_GOOD, -60, 3600, NONCE_COPY, NULL, NULL, NULL }

static void
test_request(void **state)
{
	struct pki *p = *state;
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;

	assert_int_equal(ocsp_request_new(p->leaf, p->ca, &req, &id), 0);
	assert_int_equal(OCSP_request_onereq_count(req), 1);
	assert_int_equal(OCSP_id_cmp(OCSP_onereq_get0_id(
	    OCSP_request_onereq_get0(req, 0)), id), 0);
	assert_true(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce,
	    -1) >= 0);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
}

static void
test_eval_statuses(void **state)
{
	struct pki *p = *state;
	struct spec s = GOOD_SPEC;
	struct ocsp_answer a;

	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
	assert_true(a.next_in > 3500 && a.next_in <= 3600);
	s.cert_status = V_OCSP_CERTSTATUS_REVOKED;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_REVOKED);
	assert_non_null(strstr(a.detail, "keyCompromise"));
	s.cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNKNOWN);
	s.cert_status = V_OCSP_CERTSTATUS_GOOD;
	s.next_off = NO_NEXT;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
	assert_int_equal(a.next_in, -1);
}

static void
test_eval_refusals(void **state)
{
	struct pki *p = *state;
	struct spec s = GOOD_SPEC;
	struct ocsp_answer a;

	s.resp_status = OCSP_RESPONSE_STATUS_TRYLATER;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	assert_non_null(strstr(a.detail, "trylater"));
	s = (struct spec)GOOD_SPEC;
	s.about = p->peer;  /* an answer about another certificate */
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	s = (struct spec)GOOD_SPEC;
	s.nonce = NONCE_WRONG;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	assert_non_null(strstr(a.detail, "nonce"));
	s = (struct spec)GOOD_SPEC;
	s.next_off = -3600;  /* nextUpdate passed */
	s.this_off = -7200;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	s = (struct spec)GOOD_SPEC;
	s.this_off = 3600;   /* thisUpdate in the future */
	s.next_off = 7200;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
}

/* A pre-signed answer (no nonce) is fine while current; with neither a
 * nonce nor a nextUpdate only a fresh one is. */
static void
test_eval_nonce_absent(void **state)
{
	struct pki *p = *state;
	struct spec s = GOOD_SPEC;
	struct ocsp_answer a;

	s.nonce = NONCE_NONE;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
	s.next_off = NO_NEXT;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
	s.this_off = -3600;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	s.nonce = NONCE_COPY;  /* the nonce proves it fresh */
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
}

static void
test_eval_signers(void **state)
{
	struct pki *p = *state;
	struct spec s = GOOD_SPEC;
	struct ocsp_answer a;

	/* A certificate of the same CA, but not delegated (no OCSPSigning). */
	s.signer = p->peer;
	s.signer_key = p->peer_key;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	assert_non_null(strstr(a.detail, "not trusted"));
	/* Another CA altogether. */
	s.signer = p->other;
	s.signer_key = p->other_key;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_UNAVAILABLE);
	/* The CA itself, as in the positive tests: trusted. */
	s.signer = p->ca;
	s.signer_key = p->ca_key;
	assert_int_equal(judge(p, &s, &a), OCSP_VERDICT_GOOD);
}

static void
test_eval_malformed(void **state)
{
	struct pki *p = *state;
	static const unsigned char junk[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };
	struct spec s = GOOD_SPEC;
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	struct ocsp_answer a;
	unsigned char *der, *longer;
	int len = 0;

	assert_int_equal(ocsp_request_new(p->leaf, p->ca, &req, &id), 0);
	ocsp_evaluate(junk, 2, req, id, p->chain, p->store, &a);
	assert_int_equal(a.verdict, OCSP_VERDICT_UNAVAILABLE);
	ocsp_evaluate(NULL, 0, req, id, p->chain, p->store, &a);
	assert_int_equal(a.verdict, OCSP_VERDICT_UNAVAILABLE);
	/* A good answer followed by a byte more is not that answer. */
	der = response_der(p, req, &s, &len);
	ocsp_evaluate(der, (size_t)len, req, id, p->chain, p->store, &a);
	assert_int_equal(a.verdict, OCSP_VERDICT_GOOD);
	assert_non_null(longer = malloc((size_t)len + 1));
	memcpy(longer, der, (size_t)len);
	longer[len] = 0;
	ocsp_evaluate(longer, (size_t)len + 1, req, id, p->chain, p->store, &a);
	assert_int_equal(a.verdict, OCSP_VERDICT_UNAVAILABLE);
	assert_non_null(strstr(a.detail, "malformed"));
	free(longer);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
}

/* --- the client, against an in-process responder -------------------------- */

struct fake {
	struct pki *p;
	struct event_base *base;
	struct evhttp *http;
	unsigned short port;
	int hits;           /* requests the responder got */
	int answers;        /* callbacks the client made */
	int wanted;         /* answers after which the loop stops */
	struct ocsp_result last;
};

/* Answers "good" for the first certificate asked about, nonce echoed. */
static void
fake_responder(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned char *body = malloc(len), *der = NULL;
	const unsigned char *q = body;
	OCSP_REQUEST *oreq;
	OCSP_BASICRESP *bs;
	OCSP_RESPONSE *resp;
	ASN1_GENERALIZEDTIME *now;
	struct evbuffer *out = evbuffer_new();
	int n;

	f->hits++;
	assert_non_null(body);
	assert_int_equal(evbuffer_remove(in, body, len), (int)len);
	assert_non_null(oreq = d2i_OCSP_REQUEST(NULL, &q, (long)len));
	assert_non_null(bs = OCSP_BASICRESP_new());
	assert_non_null(now = gtime(-60));
	assert_non_null(OCSP_basic_add1_status(bs, OCSP_onereq_get0_id(
	    OCSP_request_onereq_get0(oreq, 0)), V_OCSP_CERTSTATUS_GOOD, -1,
	    NULL, now, NULL));
	assert_int_equal(OCSP_copy_nonce(bs, oreq), 1);
	assert_int_equal(OCSP_basic_sign(bs, f->p->ca, f->p->ca_key,
	    EVP_sha256(), NULL, 0), 1);
	assert_non_null(resp = OCSP_response_create(
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, bs));
	assert_true((n = i2d_OCSP_RESPONSE(resp, &der)) > 0);
	assert_int_equal(evbuffer_add(out, der, (size_t)n), 0);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ASN1_GENERALIZEDTIME_free(now);
	OCSP_REQUEST_free(oreq);
	free(body);
}

static void
fake_done(const struct ocsp_result *res, void *arg)
{
	struct fake *f = arg;

	f->answers++;
	f->last = *res;
	if (f->answers >= f->wanted)
		event_base_loopbreak(f->base);
}

static void
fake_start(struct fake *f, struct pki *p)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->p = p;
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->http = evhttp_new(f->base));
	evhttp_set_gencb(f->http, fake_responder, f);
	assert_non_null(bs = evhttp_bind_socket_with_handle(f->http,
	    "127.0.0.1", 0));
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
}

static void
fake_run(struct fake *f, int wanted)
{
	const struct timeval limit = { 10, 0 };

	f->wanted = wanted;
	assert_int_equal(event_base_loopexit(f->base, &limit), 0);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(f->answers, wanted);
}

static void
fake_stop(struct fake *f)
{
	evhttp_free(f->http);
	event_base_free(f->base);
}

/* Two requests for one certificate share one query; the third is
 * answered from the cache, before ocsp_check returns. */
static void
test_client_shared_and_cached(void **state)
{
	struct pki *p = *state;
	struct config_ocsp c = { .enable = 1, .timeout = 5, .cache = 300 };
	char url[64];
	struct ocsp *o = NULL;
	struct fake f;

	fake_start(&f, p);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f.port);
	c.responder = url;
	assert_int_equal(ocsp_new(f.base, &o), 0);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	assert_int_equal(f.answers, 0);  /* both wait for the responder */
	fake_run(&f, 2);
	assert_int_equal(f.hits, 1);
	assert_int_equal(f.last.verdict, OCSP_VERDICT_GOOD);
	assert_int_equal(f.last.cached, 0);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	assert_int_equal(f.answers, 3);
	assert_int_equal(f.last.verdict, OCSP_VERDICT_GOOD);
	assert_int_equal(f.last.cached, 1);
	assert_int_equal(f.hits, 1);
	ocsp_free(&o);
	assert_null(o);
	fake_stop(&f);
}

/* cache = 0: every request asks the responder again. */
static void
test_client_no_cache(void **state)
{
	struct pki *p = *state;
	struct config_ocsp c = { .enable = 1, .timeout = 5, .cache = 0 };
	char url[64];
	struct ocsp *o = NULL;
	struct fake f;

	fake_start(&f, p);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f.port);
	c.responder = url;
	assert_int_equal(ocsp_new(f.base, &o), 0);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	fake_run(&f, 1);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	assert_int_equal(f.answers, 1);
	fake_run(&f, 2);
	assert_int_equal(f.hits, 2);
	assert_int_equal(f.last.verdict, OCSP_VERDICT_GOOD);
	ocsp_free(&o);
	fake_stop(&f);
}

/* Freeing the client answers what waits (ABORTED); a chain without an
 * issuer is answered at once (UNAVAILABLE), no query made. */
static void
test_client_abort_and_no_issuer(void **state)
{
	struct pki *p = *state;
	struct config_ocsp c = { .enable = 1, .timeout = 5, .cache = 300 };
	STACK_OF(X509) *alone;
	char url[64];
	struct ocsp *o = NULL;
	struct fake f;

	fake_start(&f, p);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f.port);
	c.responder = url;
	assert_int_equal(ocsp_new(f.base, &o), 0);
	ocsp_check(o, &c, p->leaf, p->chain, fake_done, &f);
	assert_int_equal(f.answers, 0);
	ocsp_free(&o);
	assert_int_equal(f.answers, 1);
	assert_int_equal(f.last.verdict, OCSP_VERDICT_ABORTED);

	assert_int_equal(ocsp_new(f.base, &o), 0);
	assert_non_null(alone = sk_X509_new_null());
	assert_true(sk_X509_push(alone, p->leaf) > 0);
	ocsp_check(o, &c, p->leaf, alone, fake_done, &f);
	assert_int_equal(f.answers, 2);
	assert_int_equal(f.last.verdict, OCSP_VERDICT_UNAVAILABLE);
	assert_int_equal(f.hits, 0);
	sk_X509_free(alone);
	ocsp_free(&o);
	ocsp_free(&o);
	fake_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_good),
		cmocka_unit_test(test_url_bad),
		cmocka_unit_test(test_action),
		cmocka_unit_test(test_cache_ttl),
		cmocka_unit_test(test_cache_expiry),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test_setup_teardown(test_request, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_eval_statuses, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_eval_refusals, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_eval_nonce_absent,
		    pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_eval_signers, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_eval_malformed, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_client_shared_and_cached,
		    pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_client_no_cache,
		    pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_abort_and_no_issuer, pki_setup, pki_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
