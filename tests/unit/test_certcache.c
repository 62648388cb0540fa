/* src/mtlsd/certcache.c: this program links it, so it defines d2i_X509
 * as mtlsd does, and every d2i_X509 call here (the tests' own, and
 * libssl's in the in-memory handshakes) goes through the cache. A hit
 * must be what a fresh parse gives; a CA is parsed once; leaves, odd
 * input and anything while disabled pass straight through; the cache
 * holds bytes, never a verdict: a forged intermediate of the same name
 * and a revoked cached one are both refused. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certcache.h"
#include "conf.h"
#include "verify.h"
#include "testcert.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DAY (24L * 3600)

/* The group's PKI. root issues inter (the intermediate clients send) and
 * the server certificate; leaf is a client of inter. fake_root has root's
 * name and forged inter's name, each with a key of its own; forged_leaf
 * (alice again) is signed by the forged key. */
struct pki {
	EVP_PKEY *root_key, *inter_key, *fake_root_key, *forged_key, *key;
	X509 *root, *inter, *fake_root, *forged, *leaf, *forged_leaf, *server;
	char *root_file, *server_file, *key_file, *crl_file;
};

static struct pki *pki;

/* One DER encoding, malloc'd by OpenSSL. */
struct der {
	unsigned char *p;
	long len;
};

static struct der
der_of(X509 *x)
{
	struct der d = { NULL, 0 };
	int n = i2d_X509(x, &d.p);

	assert_true(n > 0);
	d.len = n;
	return d;
}

static void
der_free(struct der *d)
{
	OPENSSL_free(d->p);
	d->p = NULL;
}

/* d2i_X509(NULL, ...) of d, checking that *in moved by exactly want
 * bytes on success (the whole input unless told otherwise). */
static X509 *
parse_n(const struct der *d, long len, long want)
{
	const unsigned char *p = d->p;
	X509 *x = d2i_X509(NULL, &p, len);

	if (x != NULL)
		assert_ptr_equal(p, d->p + want);
	return x;
}

static X509 *
parse(const struct der *d)
{
	return parse_n(d, d->len, d->len);
}

static X509 *
leaf_new(const char *cn, const char *serial, enum tc_eku eku, X509 *ca,
    EVP_PKEY *ca_key)
{
	const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "CN", cn, 0, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = serial, .not_before = -60, .not_after = DAY,
		.eku = eku,
	};

	return tc_leaf_new(&spec, pki->key, ca, ca_key);
}

static int
setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));
	X509_CRL *crl = NULL;
	int r = -1;

	(void)state;
	/* No certcache_init here: the first test runs before it. */
	if ((pki = p) == NULL)
		return -1;
	if ((p->root_key = tc_key_new()) == NULL ||
	    (p->inter_key = tc_key_new()) == NULL ||
	    (p->fake_root_key = tc_key_new()) == NULL ||
	    (p->forged_key = tc_key_new()) == NULL ||
	    (p->key = tc_key_new()) == NULL)
		goto out;
	if ((p->root = tc_ca_new("Test Root", p->root_key, NULL, NULL)) == NULL ||
	    (p->inter = tc_ca_new("Test Intermediate", p->inter_key, p->root,
	    p->root_key)) == NULL ||
	    (p->fake_root = tc_ca_new("Test Root", p->fake_root_key, NULL,
	    NULL)) == NULL ||
	    (p->forged = tc_ca_new("Test Intermediate", p->forged_key,
	    p->fake_root, p->fake_root_key)) == NULL)
		goto out;
	if ((p->leaf = leaf_new("alice", "1001", TC_EKU_CLIENT, p->inter,
	    p->inter_key)) == NULL ||
	    (p->forged_leaf = leaf_new("alice", "1001", TC_EKU_CLIENT,
	    p->forged, p->forged_key)) == NULL ||
	    (p->server = leaf_new("server.example", "5001", TC_EKU_SERVER,
	    p->root, p->root_key)) == NULL)
		goto out;
	/* Nothing revoked yet: test_handshake_revoked replaces it. */
	if ((crl = tc_crl_new(p->root, p->root_key, NULL, 0)) == NULL ||
	    (p->crl_file = tc_pem_file(NULL, 0, &crl, 1)) == NULL ||
	    (p->root_file = tc_pem_file(&p->root, 1, NULL, 0)) == NULL ||
	    (p->server_file = tc_pem_file(&p->server, 1, NULL, 0)) == NULL ||
	    (p->key_file = tc_key_file(p->key)) == NULL)
		goto out;
	r = 0;
out:
	X509_CRL_free(crl);
	return r;
}

static int
teardown(void **state)
{
	struct pki *p = pki;

	(void)state;
	certcache_disable();
	tc_file_free(&p->root_file);
	tc_file_free(&p->server_file);
	tc_file_free(&p->key_file);
	tc_file_free(&p->crl_file);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->fake_root);
	X509_free(p->forged);
	X509_free(p->leaf);
	X509_free(p->forged_leaf);
	X509_free(p->server);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->inter_key);
	EVP_PKEY_free(p->fake_root_key);
	EVP_PKEY_free(p->forged_key);
	EVP_PKEY_free(p->key);
	free(p);
	pki = NULL;
	return 0;
}

/* Each test starts with an empty, enabled cache. */
static int
fresh(void **state)
{
	(void)state;
	if (certcache_init() != 0)
		return -1;
	certcache_disable();
	certcache_enable();
	return 0;
}

static struct certcache_stats
stats_now(void)
{
	return *certcache_stats();
}

static void
assert_same_cert(X509 *got, X509 *want)
{
	assert_non_null(got);
	assert_int_equal(X509_cmp(got, want), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(got),
	    X509_get0_pubkey(want)), 1);
}

/* --- before certcache_init ------------------------------------------- */

/* The first test of the group: nothing has called certcache_init yet. */
static void
test_uninitialised_fails_closed(void **state)
{
	EVP_PKEY *key = tc_key_new();
	X509 *ca = tc_ca_new("Early CA", key, NULL, NULL), *x;
	struct der d = der_of(ca);

	(void)state;
	assert_null(parse(&d));
	assert_int_equal(X509_verify(ca, key), -1);
	ERR_clear_error();
	assert_int_equal(certcache_init(), 0);
	assert_int_equal(certcache_init(), 0);
	x = parse(&d);
	assert_same_cert(x, ca);
	assert_int_equal(X509_verify(ca, key), 1);
	X509_free(x);
	der_free(&d);
	X509_free(ca);
	EVP_PKEY_free(key);
}

/* --- hits, misses, pass-through ----------------------------------------- */

static void
test_ca_parsed_once(void **state)
{
	struct der d = der_of(pki->inter);
	struct certcache_stats s0 = stats_now(), s;
	X509 *a, *b;

	(void)state;
	a = parse(&d);
	s = stats_now();
	assert_same_cert(a, pki->inter);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.misses, s0.misses + 1);
	assert_int_equal(s.hits, s0.hits);
	b = parse(&d);
	s = stats_now();
	assert_ptr_equal(b, a);
	assert_int_equal(s.hits, s0.hits + 1);
	assert_int_equal(s.misses, s0.misses + 1);
	assert_int_equal(s.entries, 1);
	/* Each caller holds a reference of its own, the cache a third. */
	X509_free(a);
	X509_free(b);
	a = parse(&d);
	assert_same_cert(a, pki->inter);
	assert_int_equal(stats_now().hits, s0.hits + 2);
	X509_free(a);
	der_free(&d);
}

static void
test_disabled_passes_through(void **state)
{
	struct der d = der_of(pki->inter);
	struct certcache_stats s0, s;
	X509 *a, *b;

	(void)state;
	certcache_disable();
	s0 = stats_now();
	a = parse(&d);
	b = parse(&d);
	s = stats_now();
	assert_same_cert(a, pki->inter);
	assert_same_cert(b, pki->inter);
	assert_ptr_not_equal(a, b);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.hits, s0.hits);
	assert_int_equal(s.misses, s0.misses);
	X509_free(a);
	X509_free(b);
	/* Enabled again, the same bytes are cached. */
	certcache_enable();
	a = parse(&d);
	b = parse(&d);
	assert_ptr_equal(a, b);
	X509_free(a);
	X509_free(b);
	der_free(&d);
}

/* A leaf is kept too, in a pool of its own: it is parsed once, and any
 * number of other leaves never push the CA certificates out. */
static void
test_leaf_cached_apart(void **state)
{
	struct der d = der_of(pki->leaf), di = der_of(pki->inter), dl;
	struct certcache_stats s0 = stats_now(), s;
	X509 *a, *b, *other;
	char serial[16];

	(void)state;
	a = parse(&d);
	b = parse(&d);
	s = stats_now();
	assert_same_cert(a, pki->leaf);
	assert_ptr_equal(b, a);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.hits, s0.hits + 1);
	assert_int_equal(s.misses, s0.misses + 1);
	X509_free(a);
	X509_free(b);

	X509_free(parse(&di));
	assert_int_equal(stats_now().entries, 2);
	/* Twice as many other leaves as a pool holds: every one a miss,
	 * the first leaf evicted, the intermediate still there. */
	for (int i = 0; i < 2 * CERTCACHE_MAX; i++) {
		snprintf(serial, sizeof(serial), "7%03X", i);
		assert_non_null(other = leaf_new("bob", serial, TC_EKU_CLIENT,
		    pki->inter, pki->inter_key));
		dl = der_of(other);
		s0 = stats_now();
		a = parse(&dl);
		assert_same_cert(a, other);
		assert_int_equal(stats_now().misses, s0.misses + 1);
		X509_free(a);
		der_free(&dl);
		X509_free(other);
	}
	assert_int_equal(stats_now().entries, CERTCACHE_MAX + 1);
	s0 = stats_now();
	a = parse(&di);
	assert_same_cert(a, pki->inter);
	assert_int_equal(stats_now().hits, s0.hits + 1);
	X509_free(a);
	a = parse(&d);
	assert_same_cert(a, pki->leaf);
	assert_int_equal(stats_now().misses, s0.misses + 1);
	X509_free(a);
	der_free(&d);
	der_free(&di);
}

/* Trailing bytes stay unread, as with the real d2i_X509, and such input
 * is not cached (d2i_X509_AUX parses what follows into the object). */
static void
test_trailing_bytes(void **state)
{
	struct der d = der_of(pki->inter);
	struct der longer = { NULL, d.len + 5 };
	struct certcache_stats s0 = stats_now();
	X509 *cached, *a, *b;

	(void)state;
	assert_non_null(longer.p = OPENSSL_malloc((size_t)longer.len));
	memcpy(longer.p, d.p, (size_t)d.len);
	memcpy(longer.p + d.len, "\x05\x03tail", 5);

	cached = parse(&d);
	a = parse_n(&longer, longer.len, d.len);
	assert_same_cert(a, pki->inter);
	assert_ptr_not_equal(a, cached);
	assert_int_equal(stats_now().entries, 1);
	assert_int_equal(stats_now().hits, s0.hits);
	/* The same with the cache off: the real parser's answer. */
	certcache_disable();
	b = parse_n(&longer, longer.len, d.len);
	assert_same_cert(b, pki->inter);
	X509_free(a);
	X509_free(b);
	X509_free(cached);
	der_free(&longer);
	der_free(&d);
}

/* NULL for broken input, nothing cached, and the real parser says the
 * same with the cache off. */
static void
check_refused_input(const unsigned char *p, long len)
{
	const unsigned char *q = p;
	struct certcache_stats s0 = stats_now();

	assert_null(d2i_X509(NULL, &q, len));
	assert_int_equal(stats_now().entries, s0.entries);
	assert_int_equal(stats_now().hits, s0.hits);
	certcache_disable();
	q = p;
	assert_null(d2i_X509(NULL, &q, len));
	certcache_enable();
	ERR_clear_error();
}

static void
test_bad_input(void **state)
{
	static const unsigned char garbage[] = "not a certificate at all";
	static const unsigned char octets[] = { 0x04, 0x03, 'a', 'b', 'c' };
	static const unsigned char too_long[] = { 0x30, 0x82, 0x7f, 0xff, 0x30 };
	struct der d = der_of(pki->inter);
	struct certcache_stats s0 = stats_now();

	(void)state;
	check_refused_input(garbage, (long)sizeof(garbage));
	check_refused_input(octets, (long)sizeof(octets));
	check_refused_input(too_long, (long)sizeof(too_long));
	check_refused_input(d.p, d.len - 1);        /* truncated */
	check_refused_input(d.p, 3);                /* header only */
	check_refused_input(d.p, 0);
	assert_int_equal(stats_now().entries, 0);
	/* The good bytes are still a miss, then a hit. */
	X509_free(parse(&d));
	X509_free(parse(&d));
	assert_int_equal(stats_now().hits, s0.hits + 1);
	der_free(&d);
}

/* The certificate with an indefinite-length outer SEQUENCE (30 80 ...
 * 00 00). OpenSSL's parser takes that BER and so does the cache, which
 * leaves it to the parser: each parse is its own object, never cached
 * nor looked up. */
static void
test_indefinite_length(void **state)
{
	struct der d = der_of(pki->inter), indef;
	struct certcache_stats s0 = stats_now();
	long body;
	X509 *a, *b, *c;

	(void)state;
	/* tc_ca_new's DER has a 2-byte length. */
	assert_int_equal(d.p[0], 0x30);
	assert_int_equal(d.p[1], 0x82);
	body = d.len - 4;
	indef.len = body + 4;
	assert_non_null(indef.p = OPENSSL_malloc((size_t)indef.len));
	indef.p[0] = 0x30;
	indef.p[1] = 0x80;
	memcpy(indef.p + 2, d.p + 4, (size_t)body);
	indef.p[body + 2] = 0;
	indef.p[body + 3] = 0;

	a = parse(&indef);
	b = parse(&indef);
	assert_same_cert(a, pki->inter);
	assert_same_cert(b, pki->inter);
	assert_ptr_not_equal(a, b);
	assert_int_equal(stats_now().entries, 0);
	assert_int_equal(stats_now().hits, s0.hits);
	assert_int_equal(stats_now().misses, s0.misses);
	/* What the real parser does with it. */
	certcache_disable();
	c = parse(&indef);
	assert_same_cert(c, pki->inter);
	X509_free(a);
	X509_free(b);
	X509_free(c);
	der_free(&indef);
	der_free(&d);
}

/* A "TRUSTED CERTIFICATE" (the DER, then trust settings) of a cached CA,
 * read the ways OpenSSL reads one (d2i_X509_AUX, directly and from PEM):
 * the settings go into an object of the reader's own, never into the
 * cached one, which stays what the bare DER parses to. */
static void
test_aux_not_shared(void **state)
{
	struct der d = der_of(pki->inter);
	STACK_OF(X509_INFO) *infos = NULL;
	unsigned char *aux = NULL;
	const unsigned char *p;
	X509 *cached, *copy, *x;
	BIO *bio = NULL;
	int n;

	(void)state;
	cached = parse(&d);
	assert_null(X509_get0_trust_objects(cached));
	assert_non_null(copy = X509_dup(pki->inter));
	assert_int_equal(X509_add1_trust_object(copy,
	    OBJ_nid2obj(NID_client_auth)), 1);
	assert_true((n = i2d_X509_AUX(copy, &aux)) > d.len);

	p = aux;
	assert_non_null(x = d2i_X509_AUX(NULL, &p, n));
	assert_ptr_not_equal(x, cached);
	assert_non_null(X509_get0_trust_objects(x));
	X509_free(x);

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509_AUX(bio, copy), 1);
	assert_non_null(infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL));
	assert_int_equal(sk_X509_INFO_num(infos), 1);
	x = sk_X509_INFO_value(infos, 0)->x509;
	assert_ptr_not_equal(x, cached);
	assert_non_null(X509_get0_trust_objects(x));

	assert_null(X509_get0_trust_objects(cached));
	x = parse(&d);
	assert_ptr_equal(x, cached);
	assert_null(X509_get0_trust_objects(x));
	X509_free(x);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	OPENSSL_free(aux);
	X509_free(copy);
	X509_free(cached);
	der_free(&d);
}

/* A second CA with the same name and a key of its own is another
 * entry: each parse gives back its own key. */
static void
test_same_name_other_key(void **state)
{
	struct der d1 = der_of(pki->inter), d2 = der_of(pki->forged);
	struct certcache_stats s0 = stats_now();
	X509 *a1, *a2, *b1, *b2;

	(void)state;
	a1 = parse(&d1);
	a2 = parse(&d2);
	assert_int_equal(stats_now().entries, 2);
	assert_ptr_not_equal(a1, a2);
	b2 = parse(&d2);
	b1 = parse(&d1);
	assert_int_equal(stats_now().hits, s0.hits + 2);
	assert_ptr_equal(b1, a1);
	assert_ptr_equal(b2, a2);
	assert_same_cert(b1, pki->inter);
	assert_same_cert(b2, pki->forged);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(b2), pki->inter_key), 0);
	X509_free(a1);
	X509_free(a2);
	X509_free(b1);
	X509_free(b2);
	der_free(&d1);
	der_free(&d2);
}

/* CERTCACHE_MAX + 1 distinct CAs: the least recently used goes, the
 * others stay, and every parse still gives the right certificate. */
static void
test_lru_eviction(void **state)
{
	enum { N = CERTCACHE_MAX + 1 };
	EVP_PKEY *keys[N];
	X509 *cas[N], *x;
	struct der d[N];
	struct certcache_stats s0;
	char cn[32];
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(cn, sizeof(cn), "CA %zu", i);
		assert_non_null(keys[i] = tc_key_new());
		assert_non_null(cas[i] = tc_ca_new(cn, keys[i], NULL, NULL));
		d[i] = der_of(cas[i]);
	}
	for (i = 0; i < CERTCACHE_MAX; i++) {
		x = parse(&d[i]);
		assert_same_cert(x, cas[i]);
		X509_free(x);
	}
	assert_int_equal(stats_now().entries, CERTCACHE_MAX);
	/* 0 is used again, so 1 is now the least recently used. */
	X509_free(parse(&d[0]));
	s0 = stats_now();
	x = parse(&d[N - 1]);
	assert_same_cert(x, cas[N - 1]);
	X509_free(x);
	assert_int_equal(stats_now().entries, CERTCACHE_MAX);
	assert_int_equal(stats_now().misses, s0.misses + 1);

	s0 = stats_now();
	x = parse(&d[0]);                 /* kept */
	assert_same_cert(x, cas[0]);
	X509_free(x);
	assert_int_equal(stats_now().hits, s0.hits + 1);
	x = parse(&d[1]);                 /* evicted: parsed again */
	assert_same_cert(x, cas[1]);
	X509_free(x);
	assert_int_equal(stats_now().hits, s0.hits + 1);
	assert_int_equal(stats_now().misses, s0.misses + 1);
	for (i = 0; i < N; i++) {
		x = parse(&d[i]);
		assert_same_cert(x, cas[i]);
		X509_free(x);
	}
	assert_int_equal(stats_now().entries, CERTCACHE_MAX);
	for (i = 0; i < N; i++) {
		der_free(&d[i]);
		X509_free(cas[i]);
		EVP_PKEY_free(keys[i]);
	}
}

/* The a argument: NULL, pointing at NULL, and at an object the caller
 * made (libssl's X509_new_ex), which a hit frees and replaces. */
static void
test_reuse_argument(void **state)
{
	struct der d = der_of(pki->inter);
	struct certcache_stats s0 = stats_now();
	const unsigned char *p;
	X509 *mine, *first, *x = NULL;

	(void)state;
	/* A miss with *a set: the real parser fills the caller's object,
	 * and that object is what the cache keeps. */
	assert_non_null(mine = X509_new());
	p = d.p;
	first = mine;
	assert_ptr_equal(d2i_X509(&mine, &p, d.len), first);
	assert_ptr_equal(mine, first);
	assert_ptr_equal(p, d.p + d.len);
	assert_int_equal(stats_now().entries, 1);

	/* A hit with *a set: the caller's fresh object is freed (valgrind
	 * sees no leak) and *a is the cached one. */
	assert_non_null(x = X509_new());
	p = d.p;
	assert_ptr_equal(d2i_X509(&x, &p, d.len), first);
	assert_ptr_equal(x, first);
	assert_ptr_equal(p, d.p + d.len);
	X509_free(x);

	/* A hit with *a NULL: *a is set. */
	x = NULL;
	p = d.p;
	assert_ptr_equal(d2i_X509(&x, &p, d.len), first);
	assert_ptr_equal(x, first);
	X509_free(x);

	/* A hit with a NULL: the return value is the caller's reference. */
	x = parse(&d);
	assert_ptr_equal(x, first);
	X509_free(x);
	assert_int_equal(stats_now().hits, s0.hits + 3);
	X509_free(mine);
	der_free(&d);
}

/* clear drops the cache's references only: what a caller holds stays
 * valid, and the next parse is a miss. */
static void
test_clear(void **state)
{
	struct der d1 = der_of(pki->inter), d2 = der_of(pki->root);
	X509 *held;
	struct certcache_stats s0;

	(void)state;
	held = parse(&d1);
	X509_free(parse(&d2));
	assert_int_equal(stats_now().entries, 2);
	certcache_clear();
	assert_int_equal(stats_now().entries, 0);
	assert_same_cert(held, pki->inter);
	s0 = stats_now();
	X509_free(parse(&d1));
	assert_int_equal(stats_now().misses, s0.misses + 1);
	assert_int_equal(stats_now().hits, s0.hits);
	assert_int_equal(stats_now().entries, 1);
	/* Still on after a clear; certcache_disable turns it off. */
	X509_free(parse(&d1));
	assert_int_equal(stats_now().hits, s0.hits + 1);
	certcache_disable();
	assert_int_equal(stats_now().entries, 0);
	X509_free(parse(&d1));
	assert_int_equal(stats_now().entries, 0);
	X509_free(held);
	der_free(&d1);
	der_free(&d2);
}

/* --- remembered signatures ------------------------------------------- */

/* X509_verify: the first check by a key is the real one, the same
 * certificate and key objects again are remembered (a CA certificate or a
 * leaf alike); another key, a wrong one, is always the real check. */
static void
test_signature_remembered(void **state)
{
	struct der d = der_of(pki->inter);
	EVP_PKEY *root_pub = X509_get0_pubkey(pki->root);
	EVP_PKEY *fake_pub = X509_get0_pubkey(pki->fake_root);
	EVP_PKEY *copy = NULL;
	struct certcache_stats s0;
	X509 *x;

	(void)state;
	assert_non_null(root_pub);
	assert_non_null(fake_pub);
	x = parse(&d);
	assert_same_cert(x, pki->inter);
	s0 = stats_now();
	assert_int_equal(X509_verify(x, root_pub), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits);
	assert_int_equal(X509_verify(x, root_pub), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 1);
	/* The fake root has the root's name and a key of its own. */
	assert_true(X509_verify(x, fake_pub) <= 0);
	ERR_clear_error();
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 1);
	assert_int_equal(X509_verify(x, root_pub), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 2);
	/* Equal key, another object: checked for real (and then that one
	 * is remembered instead). */
	assert_non_null(copy = EVP_PKEY_dup(root_pub));
	assert_int_equal(X509_verify(x, copy), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 2);
	assert_int_equal(X509_verify(x, copy), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 3);
	/* A CA certificate that no parse went through (a trust anchor, as
	 * loaded with the configuration): remembered the same way. */
	assert_int_equal(X509_verify(pki->root, root_pub), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 3);
	assert_int_equal(X509_verify(pki->root, root_pub), 1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 4);
	assert_true(X509_verify(pki->root, fake_pub) <= 0);
	ERR_clear_error();
	s0.signature_hits++;
	/* A leaf: remembered the same way; a leaf the key did not sign
	 * is refused each time. */
	assert_int_equal(X509_verify(pki->leaf, X509_get0_pubkey(pki->inter)),
	    1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 3);
	assert_int_equal(X509_verify(pki->leaf, X509_get0_pubkey(pki->inter)),
	    1);
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 4);
	for (int i = 0; i < 2; i++) {
		assert_true(X509_verify(pki->forged_leaf,
		    X509_get0_pubkey(pki->inter)) <= 0);
		ERR_clear_error();
	}
	s0.signature_hits++;
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 3);
	/* With the cache off: the real check every time, right key or
	 * wrong. */
	certcache_disable();
	assert_int_equal(X509_verify(x, copy), 1);
	assert_true(X509_verify(x, fake_pub) <= 0);
	ERR_clear_error();
	assert_int_equal(stats_now().signature_hits, s0.signature_hits + 3);
	/* The entry held its own reference to copy: freed with the entry
	 * (valgrind would see either a leak or a double free). */
	EVP_PKEY_free(copy);
	X509_free(x);
	der_free(&d);
}

/* --- TLS handshakes in memory ------------------------------------------ */

/* Every handshake parses three certificates, all kept: the client's leaf
 * and the intermediate (by the server), and the server's leaf (by the
 * client, which runs in this process too; the server sends no CA
 * certificate, its chain being built once without the root: verify.c). */
#define PARSES 3

struct server {
	SSL_CTX *ctx;
	struct trust *trust;   /* borrowed from ctx */
};

/* mtlsd's context for the group's PKI (anchors: root; CRL: crl_file),
 * built with the cache off as at start-up; the cache is on afterwards. */
static void
server_new(struct server *s)
{
	struct config_tls c;
	char *crls[1], err[512] = "";

	memset(&c, 0, sizeof(c));
	c.certificate = pki->server_file;
	c.private_key = pki->key_file;
	c.trust_anchors = pki->root_file;
	crls[0] = pki->crl_file;
	c.crl = crls;
	c.n_crl = 1;
	c.min_version = TLS1_3_VERSION;
	certcache_disable();
	if (tls_server_ctx_new(&c, &s->ctx, &s->trust, err, sizeof(err)) != 0)
		fail_msg("tls_server_ctx_new: %s", err);
	certcache_enable();
}

static void
server_free(struct server *s)
{
	SSL_CTX_free(s->ctx);
	trust_free(&s->trust);
}

/* Steps one side; 1 done, -1 failed, 0 wants more I/O. */
static int
step(SSL *s)
{
	int rc = SSL_do_handshake(s);

	if (rc == 1)
		return 1;
	switch (SSL_get_error(s, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

struct result {
	int ok;            /* the server completed the handshake */
	long verify;       /* its SSL_get_verify_result */
	X509 *inter;       /* the intermediate as the server parsed it (a
	                      pointer only, to compare) */
};

/* A TLS 1.3 handshake between s and a client sending leaf and inter. */
static struct result
handshake(const struct server *s, X509 *leaf, X509 *inter)
{
	struct result res = { 0, 0, NULL };
	SSL_CTX *cctx = NULL;
	SSL *server = NULL, *client = NULL;
	BIO *sbio = NULL, *cbio = NULL;
	STACK_OF(X509) *chain;
	int sstate = 0, cstate = 0;

	assert_non_null(cctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	assert_int_equal(SSL_CTX_use_certificate(cctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(cctx, pki->key), 1);
	assert_int_equal(SSL_CTX_add1_chain_cert(cctx, inter), 1);
	assert_non_null(server = SSL_new(s->ctx));
	assert_non_null(client = SSL_new(cctx));
	assert_int_equal(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
	SSL_set_bio(server, sbio, sbio);
	SSL_set_bio(client, cbio, cbio);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	for (int i = 0; i < 50 && sstate == 0; i++) {
		if (cstate == 0)
			cstate = step(client);
		sstate = step(server);
	}
	assert_int_not_equal(sstate, 0);
	res.ok = sstate == 1;
	res.verify = SSL_get_verify_result(server);
	/* On a server the peer's chain leaves out its leaf. */
	chain = SSL_get_peer_cert_chain(server);
	if (chain != NULL && sk_X509_num(chain) == 1)
		res.inter = sk_X509_value(chain, 0);
	SSL_free(server);
	SSL_free(client);
	SSL_CTX_free(cctx);
	return res;
}

static void
test_handshake_hit(void **state)
{
	struct server s;
	struct result r1, r2;
	struct certcache_stats s0, s1;

	(void)state;
	server_new(&s);
	s0 = stats_now();
	r1 = handshake(&s, pki->leaf, pki->inter);
	s1 = stats_now();
	assert_true(r1.ok);
	assert_int_equal(r1.verify, X509_V_OK);
	assert_int_equal(s1.entries, PARSES);
	assert_int_equal(s1.hits, s0.hits);
	assert_int_equal(s1.misses, s0.misses + PARSES);
	r2 = handshake(&s, pki->leaf, pki->inter);
	assert_true(r2.ok);
	assert_int_equal(r2.verify, X509_V_OK);
	assert_int_equal(stats_now().hits, s1.hits + PARSES);
	assert_int_equal(stats_now().misses, s1.misses);
	assert_int_equal(stats_now().entries, PARSES);
	/* The chain's signatures were remembered. */
	assert_true(stats_now().signature_hits > s1.signature_hits);
	/* libssl got the very object the cache holds, both times. */
	assert_non_null(r1.inter);
	assert_ptr_equal(r2.inter, r1.inter);
	server_free(&s);
}

/* After the genuine intermediate is cached: a forged one with the same
 * name (another key, under a fake root of the root's name) is a miss and
 * refused; a leaf signed by the forged key, sent with the genuine
 * intermediate, is refused too, each time, though both are cached by
 * then. The genuine chain still works. */
static void
test_handshake_forged(void **state)
{
	struct server s;
	struct result r;
	struct certcache_stats s0;

	(void)state;
	server_new(&s);
	r = handshake(&s, pki->leaf, pki->inter);
	assert_true(r.ok);
	s0 = stats_now();

	r = handshake(&s, pki->forged_leaf, pki->forged);
	assert_false(r.ok);
	assert_int_not_equal(r.verify, X509_V_OK);
	/* The forged leaf and intermediate were parsed, not found; the
	 * server's leaf (parsed by the client) was a hit. */
	assert_int_equal(stats_now().hits, s0.hits + 1);
	assert_int_equal(stats_now().entries, s0.entries + 2);

	for (int i = 0; i < 2; i++) {
		s0 = stats_now();
		r = handshake(&s, pki->forged_leaf, pki->inter);
		assert_false(r.ok);
		assert_int_not_equal(r.verify, X509_V_OK);
		assert_int_equal(stats_now().hits, s0.hits + PARSES);
	}

	s0 = stats_now();
	r = handshake(&s, pki->leaf, pki->inter);
	assert_true(r.ok);
	assert_int_equal(r.verify, X509_V_OK);
	assert_int_equal(stats_now().hits, s0.hits + PARSES);
	server_free(&s);
}

/* The cache holds a parse, never a verdict: the root revokes the cached
 * intermediate (a new CRL file, picked up before the next handshake) and
 * the next handshake, a hit, is refused. */
static void
test_handshake_revoked(void **state)
{
	static const char *serials[] = { "CA01" };  /* tc_ca_new's serial */
	struct server s;
	struct result r;
	struct certcache_stats s0;
	X509_CRL *crl = NULL, *empty = NULL;

	(void)state;
	server_new(&s);
	r = handshake(&s, pki->leaf, pki->inter);
	assert_true(r.ok);
	assert_int_equal(stats_now().entries, PARSES);

	assert_non_null(crl = tc_crl_new(pki->root, pki->root_key, serials, 1));
	assert_int_equal(tc_crl_replace(pki->crl_file, &crl, 1), 0);
	/* trust_refresh reads a file at most once a second: a later clock
	 * reads it now. */
	assert_int_equal(trust_refresh(s.trust, time(NULL) + 2), 0);
	s0 = stats_now();
	r = handshake(&s, pki->leaf, pki->inter);
	assert_false(r.ok);
	assert_int_equal(r.verify, X509_V_ERR_CERT_REVOKED);
	assert_int_equal(stats_now().hits, s0.hits + PARSES);

	/* Put the empty CRL back for whatever runs next. */
	assert_non_null(empty = tc_crl_new(pki->root, pki->root_key, NULL, 0));
	assert_int_equal(tc_crl_replace(pki->crl_file, &empty, 1), 0);
	X509_CRL_free(crl);
	X509_CRL_free(empty);
	server_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* First, and without the setup that calls certcache_init. */
		cmocka_unit_test(test_uninitialised_fails_closed),
		cmocka_unit_test_setup(test_ca_parsed_once, fresh),
		cmocka_unit_test_setup(test_disabled_passes_through, fresh),
		cmocka_unit_test_setup(test_leaf_cached_apart, fresh),
		cmocka_unit_test_setup(test_trailing_bytes, fresh),
		cmocka_unit_test_setup(test_bad_input, fresh),
		cmocka_unit_test_setup(test_indefinite_length, fresh),
		cmocka_unit_test_setup(test_aux_not_shared, fresh),
		cmocka_unit_test_setup(test_same_name_other_key, fresh),
		cmocka_unit_test_setup(test_lru_eviction, fresh),
		cmocka_unit_test_setup(test_reuse_argument, fresh),
		cmocka_unit_test_setup(test_clear, fresh),
		cmocka_unit_test_setup(test_signature_remembered, fresh),
		cmocka_unit_test_setup(test_handshake_hit, fresh),
		cmocka_unit_test_setup(test_handshake_forged, fresh),
		cmocka_unit_test_setup(test_handshake_revoked, fresh),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
