#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "verify.h"
#include "testcert.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DAY (24L * 3600)
#define REVOKED_SERIAL "0BAD"

/* One PKI for the whole group: a root, an intermediate under it, an
 * unrelated root, a server certificate, and their files. */
struct pki {
	EVP_PKEY *root_key, *inter_key, *other_key, *key;
	X509 *root, *inter, *other, *server;
	X509_CRL *root_crl, *inter_crl;
	char *root_file;      /* anchors: root */
	char *inter_file;     /* intermediates: inter */
	char *other_file;     /* the unrelated root */
	char *crl_file;       /* root's CRL (revokes REVOKED_SERIAL) */
	char *crls_file;      /* root's and inter's CRLs */
	char *server_file, *server_key_file;
};

static struct pki *pki;

static X509 *
mk_leaf(X509 *ca, EVP_PKEY *ca_key, const char *serial, long nb, long na,
    enum tc_eku eku)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "CN", "alice", 0, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = serial, .not_before = nb, .not_after = na, .eku = eku,
	};
	X509 *x = tc_leaf_new(&spec, pki->key, ca,
	    ca_key != NULL ? ca_key : pki->key);

	assert_non_null(x);
	return x;
}

static X509 *
good_leaf(void)
{
	return mk_leaf(pki->root, pki->root_key, "1001", -60, DAY,
	    TC_EKU_CLIENT);
}

static int
setup(void **state)
{
	static const char *revoked[] = { REVOKED_SERIAL };
	struct pki *p = calloc(1, sizeof(*p));
	static const struct tc_ava server_name[] = {
		{ "CN", "server.example", 0, 0 },
	};
	struct tc_leaf server = {
		.subject = server_name, .n_subject = 1, .not_before = -60,
		.not_after = DAY, .eku = TC_EKU_SERVER,
	};
	X509_CRL *crls[2];

	(void)state;
	if (p == NULL)
		return -1;
	pki = p;
	if ((p->root_key = tc_key_new()) == NULL ||
	    (p->inter_key = tc_key_new()) == NULL ||
	    (p->other_key = tc_key_new()) == NULL ||
	    (p->key = tc_key_new()) == NULL)
		return -1;
	if ((p->root = tc_ca_new("Test Root", p->root_key, NULL, NULL)) == NULL ||
	    (p->inter = tc_ca_new("Test Intermediate", p->inter_key, p->root,
	    p->root_key)) == NULL ||
	    (p->other = tc_ca_new("Other Root", p->other_key, NULL, NULL)) == NULL ||
	    (p->server = tc_leaf_new(&server, p->key, p->root, p->root_key)) == NULL)
		return -1;
	if ((p->root_crl = tc_crl_new(p->root, p->root_key, revoked, 1)) == NULL ||
	    (p->inter_crl = tc_crl_new(p->inter, p->inter_key, NULL, 0)) == NULL)
		return -1;
	crls[0] = p->root_crl;
	crls[1] = p->inter_crl;
	if ((p->root_file = tc_pem_file(&p->root, 1, NULL, 0)) == NULL ||
	    (p->inter_file = tc_pem_file(&p->inter, 1, NULL, 0)) == NULL ||
	    (p->other_file = tc_pem_file(&p->other, 1, NULL, 0)) == NULL ||
	    (p->crl_file = tc_pem_file(NULL, 0, crls, 1)) == NULL ||
	    (p->crls_file = tc_pem_file(NULL, 0, crls, 2)) == NULL ||
	    (p->server_file = tc_pem_file(&p->server, 1, NULL, 0)) == NULL ||
	    (p->server_key_file = tc_key_file(p->key)) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	struct pki *p = pki;

	(void)state;
	tc_file_free(&p->root_file);
	tc_file_free(&p->inter_file);
	tc_file_free(&p->other_file);
	tc_file_free(&p->crl_file);
	tc_file_free(&p->crls_file);
	tc_file_free(&p->server_file);
	tc_file_free(&p->server_key_file);
	X509_CRL_free(p->root_crl);
	X509_CRL_free(p->inter_crl);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->other);
	X509_free(p->server);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->inter_key);
	EVP_PKEY_free(p->other_key);
	EVP_PKEY_free(p->key);
	free(p);
	pki = NULL;
	return 0;
}

static struct trust *
load(const char *anchors, const char *inter, const char *crl)
{
	char *crls[1] = { (char *)crl };
	char err[512];
	struct trust *t = NULL;

	if (trust_load(anchors, inter, crls, crl != NULL ? 1 : 0, &t, err,
	    sizeof(err)) != 0)
		fail_msg("trust_load: %s", err);
	return t;
}

static void
check_ok(const struct trust *t, X509 *leaf, STACK_OF(X509) *chain,
    time_t at)
{
	char reason[256] = "";

	if (trust_verify(t, leaf, chain, at, reason, sizeof(reason)) != 0)
		fail_msg("trust_verify refused: %s", reason);
}

static void
check_refused(const struct trust *t, X509 *leaf, STACK_OF(X509) *chain,
    time_t at, const char *want)
{
	char reason[256] = "";

	assert_int_equal(trust_verify(t, leaf, chain, at, reason,
	    sizeof(reason)), ERR_TLS);
	assert_string_equal(reason, want);
}

static void
check_refused_code(const struct trust *t, X509 *leaf, STACK_OF(X509) *chain,
    time_t at, int code)
{
	check_refused(t, leaf, chain, at, X509_verify_cert_error_string(code));
}

static void
test_good_chain(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *leaf = good_leaf();

	(void)state;
	check_ok(t, leaf, NULL, 0);
	assert_int_equal(trust_verify(t, NULL, NULL, 0, NULL, 0), ERR_INVALID);
	X509_free(leaf);
	trust_free(&t);
	assert_null(t);
	trust_free(&t);
	trust_free(NULL);
}

static void
test_intermediate_in_peer_chain(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *leaf = mk_leaf(pki->inter, pki->inter_key, "2001", -60, DAY,
	    TC_EKU_CLIENT);
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, pki->inter) > 0);
	check_ok(t, leaf, chain, 0);
	/* Without the intermediate there is no path to the root. */
	check_refused_code(t, leaf, NULL, 0,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	sk_X509_free(chain);
	X509_free(leaf);
	trust_free(&t);
}

static void
test_intermediate_configured(void **state)
{
	struct trust *t = load(pki->root_file, pki->inter_file, NULL);
	X509 *leaf = mk_leaf(pki->inter, pki->inter_key, "2002", -60, DAY,
	    TC_EKU_CLIENT);

	(void)state;
	check_ok(t, leaf, NULL, 0);
	X509_free(leaf);
	trust_free(&t);
}

static void
test_intermediate_never_anchor(void **state)
{
	/* A root given as an intermediate helps no chain end there. */
	struct trust *t = load(pki->root_file, pki->other_file, NULL);
	X509 *leaf = mk_leaf(pki->other, pki->other_key, "3001", -60, DAY,
	    TC_EKU_CLIENT);
	X509 *good = good_leaf();

	(void)state;
	assert_int_equal(trust_verify(t, leaf, NULL, 0, NULL, 0), ERR_TLS);
	check_ok(t, good, NULL, 0);
	X509_free(leaf);
	X509_free(good);
	trust_free(&t);
}

static void
test_validity(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *expired = mk_leaf(pki->root, pki->root_key, "1002", -10 * DAY,
	    -DAY, TC_EKU_CLIENT);
	X509 *future = mk_leaf(pki->root, pki->root_key, "1003", DAY, 10 * DAY,
	    TC_EKU_CLIENT);

	(void)state;
	check_refused_code(t, expired, NULL, 0, X509_V_ERR_CERT_HAS_EXPIRED);
	check_refused_code(t, future, NULL, 0, X509_V_ERR_CERT_NOT_YET_VALID);
	X509_free(expired);
	X509_free(future);
	trust_free(&t);
}

static void
test_at_time(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *expired = mk_leaf(pki->root, pki->root_key, "1004", -10 * DAY,
	    -DAY, TC_EKU_CLIENT);
	X509 *future = mk_leaf(pki->root, pki->root_key, "1005", DAY, 10 * DAY,
	    TC_EKU_CLIENT);
	X509 *good = good_leaf();
	time_t now = time(NULL);

	(void)state;
	check_ok(t, expired, NULL, now - 2 * DAY);
	check_refused_code(t, expired, NULL, now, X509_V_ERR_CERT_HAS_EXPIRED);
	check_ok(t, future, NULL, now + 2 * DAY);
	check_refused_code(t, good, NULL, now + 2 * DAY,
	    X509_V_ERR_CERT_HAS_EXPIRED);
	check_refused_code(t, good, NULL, now - 3600,
	    X509_V_ERR_CERT_NOT_YET_VALID);
	X509_free(expired);
	X509_free(future);
	X509_free(good);
	trust_free(&t);
}

static void
test_revoked(void **state)
{
	struct trust *t = load(pki->root_file, pki->inter_file, pki->crl_file);
	struct trust *all = load(pki->root_file, pki->inter_file, pki->crls_file);
	struct trust *none = load(pki->root_file, NULL, NULL);
	X509 *revoked = mk_leaf(pki->root, pki->root_key, REVOKED_SERIAL, -60,
	    DAY, TC_EKU_CLIENT);
	X509 *good = good_leaf();
	X509 *under_inter = mk_leaf(pki->inter, pki->inter_key, "2003", -60, DAY,
	    TC_EKU_CLIENT);

	(void)state;
	check_refused_code(t, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	check_ok(t, good, NULL, 0);
	/* With CRLs configured, an issuer without one is refused. */
	check_refused_code(t, under_inter, NULL, 0, X509_V_ERR_UNABLE_TO_GET_CRL);
	check_ok(all, under_inter, NULL, 0);
	check_refused_code(all, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	/* Without CRLs, nothing is checked. */
	check_ok(none, revoked, NULL, 0);
	X509_free(revoked);
	X509_free(good);
	X509_free(under_inter);
	trust_free(&t);
	trust_free(&all);
	trust_free(&none);
}

static void
test_wrong_ca(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *leaf = mk_leaf(pki->other, pki->other_key, "3002", -60, DAY,
	    TC_EKU_CLIENT);
	/* Right issuer name, wrong key: the signature does not verify. */
	X509 *forged = mk_leaf(pki->root, pki->other_key, "3003", -60, DAY,
	    TC_EKU_CLIENT);

	(void)state;
	check_refused_code(t, leaf, NULL, 0,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(trust_verify(t, forged, NULL, 0, NULL, 0), ERR_TLS);
	X509_free(leaf);
	X509_free(forged);
	trust_free(&t);
}

static void
test_self_signed(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *leaf = mk_leaf(NULL, NULL, "4001", -60, DAY, TC_EKU_CLIENT);
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	check_refused_code(t, leaf, NULL, 0,
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	/* Sending itself as its own chain changes nothing. */
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, leaf) > 0);
	check_refused_code(t, leaf, chain, 0,
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	sk_X509_free(chain);
	X509_free(leaf);
	trust_free(&t);
}

static void
test_eku(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *server = mk_leaf(pki->root, pki->root_key, "5001", -60, DAY,
	    TC_EKU_SERVER);
	X509 *none = mk_leaf(pki->root, pki->root_key, "5002", -60, DAY,
	    TC_EKU_NONE);

	(void)state;
	check_refused_code(t, server, NULL, 0, X509_V_ERR_INVALID_PURPOSE);
	check_refused(t, none, NULL, 0, "no clientAuth extended key usage");
	X509_free(server);
	X509_free(none);
	trust_free(&t);
}

static void
check_load_fails(const char *anchors, const char *inter, const char *crl1,
    const char *crl2, const char *want_file, const char *want_reason)
{
	char *crls[2] = { (char *)crl1, (char *)crl2 };
	size_t n = crl2 != NULL ? 2 : crl1 != NULL ? 1 : 0;
	char err[512] = "", prefix[512];
	struct trust *t = NULL;

	assert_int_equal(trust_load(anchors, inter, crls, n, &t, err,
	    sizeof(err)), ERR_CONFIG);
	assert_null(t);
	snprintf(prefix, sizeof(prefix), "%s: ", want_file);
	if (strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, want_reason) == NULL)
		fail_msg("error \"%s\" does not name %s with \"%s\"", err,
		    want_file, want_reason);
}

static void
test_trust_load_errors(void **state)
{
	const char *missing = "/nonexistent-x509-test/ca.pem";
	char *garbage = tc_text_file("this is not PEM\n");
	char *empty = tc_text_file("");
	char *crl_only = tc_pem_file(NULL, 0, &pki->root_crl, 1);
	char *truncated = tc_text_file("-----BEGIN CERTIFICATE-----\nMIIB\n");
	char err[64];
	struct trust *t = NULL;

	(void)state;
	assert_non_null(garbage);
	assert_non_null(empty);
	assert_non_null(crl_only);
	assert_non_null(truncated);
	check_load_fails(missing, NULL, NULL, NULL, missing,
	    "cannot open: No such file or directory");
	check_load_fails(garbage, NULL, NULL, NULL, garbage,
	    "no certificate found");
	check_load_fails(empty, NULL, NULL, NULL, empty, "no certificate found");
	check_load_fails(crl_only, NULL, NULL, NULL, crl_only,
	    "no certificate found");
	check_load_fails(truncated, NULL, NULL, NULL, truncated, "malformed PEM");
	check_load_fails(pki->root_file, missing, NULL, NULL, missing,
	    "cannot open");
	check_load_fails(pki->root_file, garbage, NULL, NULL, garbage,
	    "no certificate found");
	check_load_fails(pki->root_file, NULL, missing, NULL, missing,
	    "cannot open");
	check_load_fails(pki->root_file, NULL, pki->root_file, NULL,
	    pki->root_file, "cannot read CRL");
	check_load_fails(pki->root_file, NULL, pki->crl_file, garbage, garbage,
	    "cannot read CRL");
	assert_int_equal(trust_load(NULL, NULL, NULL, 0, &t, err, sizeof(err)),
	    ERR_CONFIG);
	assert_null(t);
	tc_file_free(&garbage);
	tc_file_free(&empty);
	tc_file_free(&crl_only);
	tc_file_free(&truncated);
}

static void
tls_config(struct config_tls *c, char **crls)
{
	memset(c, 0, sizeof(*c));
	c->certificate = pki->server_file;
	c->private_key = pki->server_key_file;
	c->trust_anchors = pki->root_file;
	crls[0] = pki->crls_file;
	c->crl = crls;
	c->n_crl = 1;
	c->min_version = TLS1_3_VERSION;
}

static void
test_tls_ctx_good(void **state)
{
	struct config_tls c;
	char *crls[1], err[512] = "";
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	STACK_OF(X509_NAME) *cas;

	(void)state;
	tls_config(&c, crls);
	if (tls_server_ctx_new(&c, &ctx, &t, err, sizeof(err)) != 0)
		fail_msg("tls_server_ctx_new: %s", err);
	assert_non_null(ctx);
	assert_non_null(t);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	assert_int_equal(SSL_CTX_get_num_tickets(ctx), 0);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	cas = SSL_CTX_get_client_CA_list(ctx);
	assert_int_equal(sk_X509_NAME_num(cas), 1);
	assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(cas, 0),
	    X509_get_subject_name(pki->root)), 0);
	SSL_CTX_free(ctx);
	trust_free(&t);

	c.min_version = TLS1_2_VERSION;
	c.intermediates = pki->inter_file;
	assert_int_equal(tls_server_ctx_new(&c, &ctx, &t, err, sizeof(err)), 0);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	trust_free(&t);
}

static void
check_ctx_fails(const struct config_tls *c, const char *want_prefix,
    const char *want_reason)
{
	char err[512] = "";
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;

	assert_int_equal(tls_server_ctx_new(c, &ctx, &t, err, sizeof(err)),
	    ERR_CONFIG);
	assert_null(ctx);
	assert_null(t);
	if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 ||
	    strstr(err, want_reason) == NULL)
		fail_msg("error \"%s\" does not start with \"%s\" and say \"%s\"",
		    err, want_prefix, want_reason);
}

static void
test_tls_ctx_errors(void **state)
{
	struct config_tls c;
	char *crls[1], prefix[512];
	EVP_PKEY *other = tc_key_new();
	char *other_key = tc_key_file(other);
	char *garbage = tc_text_file("garbage\n");
	char missing[] = "/nonexistent-x509-test/server.pem";

	(void)state;
	assert_non_null(other_key);
	assert_non_null(garbage);

	tls_config(&c, crls);
	c.private_key = other_key;
	snprintf(prefix, sizeof(prefix), "%s: ", other_key);
	check_ctx_fails(&c, prefix, "does not match");

	tls_config(&c, crls);
	c.private_key = garbage;
	snprintf(prefix, sizeof(prefix), "%s: ", garbage);
	check_ctx_fails(&c, prefix, "cannot load private key");

	tls_config(&c, crls);
	c.certificate = garbage;
	check_ctx_fails(&c, prefix, "cannot load certificate");

	tls_config(&c, crls);
	c.certificate = missing;
	snprintf(prefix, sizeof(prefix), "%s: ", missing);
	check_ctx_fails(&c, prefix, "cannot open");

	tls_config(&c, crls);
	c.private_key = missing;
	check_ctx_fails(&c, prefix, "cannot open");

	tls_config(&c, crls);
	c.trust_anchors = missing;
	check_ctx_fails(&c, prefix, "cannot open");

	tls_config(&c, crls);
	crls[0] = garbage;
	snprintf(prefix, sizeof(prefix), "%s: ", garbage);
	check_ctx_fails(&c, prefix, "cannot read CRL");

	tls_config(&c, crls);
	c.min_version = TLS1_1_VERSION;
	check_ctx_fails(&c, "tls: ", "min_version");

	tls_config(&c, crls);
	c.certificate = NULL;
	check_ctx_fails(&c, "tls: ", "required");

	tc_file_free(&other_key);
	tc_file_free(&garbage);
	EVP_PKEY_free(other);
}

struct hs {
	int server_ok;          /* server handshake completed */
	long verify;            /* server's SSL_get_verify_result */
	int peer_cert;          /* server saw a client certificate */
	int server_reason;      /* first OpenSSL reason on the server */
	int client_reason;      /* first OpenSSL reason on the client */
};

/* Steps one side; returns 1 done, -1 failed, 0 wants more I/O. */
static int
step(SSL *s, int *reason)
{
	int rc = SSL_do_handshake(s);

	if (rc == 1)
		return 1;
	switch (SSL_get_error(s, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		*reason = ERR_GET_REASON(ERR_peek_error());
		ERR_clear_error();
		return -1;
	}
}

/* A TLS handshake in memory between a server from tls_server_ctx_new and
 * a client presenting cert/key (NULL: none) and chain (may be NULL). */
static void
handshake(X509 *cert, X509 *chain, int client_max, struct hs *out)
{
	struct config_tls c;
	char *crls[1], err[512] = "", byte;
	SSL_CTX *sctx = NULL, *cctx = NULL;
	struct trust *t = NULL;
	SSL *server = NULL, *client = NULL;
	BIO *sbio = NULL, *cbio = NULL;
	int sstate = 0, cstate = 0, i, rc;

	memset(out, 0, sizeof(*out));
	tls_config(&c, crls);
	if (tls_server_ctx_new(&c, &sctx, &t, err, sizeof(err)) != 0)
		fail_msg("tls_server_ctx_new: %s", err);
	assert_non_null(cctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if (cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate(cctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(cctx, pki->key), 1);
	}
	if (chain != NULL)
		assert_int_equal(SSL_CTX_add1_chain_cert(cctx, chain), 1);
	if (client_max != 0)
		assert_int_equal(SSL_CTX_set_max_proto_version(cctx, client_max), 1);
	assert_non_null(server = SSL_new(sctx));
	assert_non_null(client = SSL_new(cctx));
	assert_int_equal(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
	SSL_set_bio(server, sbio, sbio);
	SSL_set_bio(client, cbio, cbio);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	for (i = 0; i < 50 && sstate == 0; i++) {
		if (cstate == 0)
			cstate = step(client, &out->client_reason);
		sstate = step(server, &out->server_reason);
	}
	assert_int_not_equal(sstate, 0);
	/* In TLS 1.3 the client is done before the server has judged its
	 * certificate: the verdict arrives as an alert on the next read. */
	if (cstate == 1) {
		rc = SSL_read(client, &byte, 1);
		if (rc <= 0 && SSL_get_error(client, rc) == SSL_ERROR_SSL)
			out->client_reason = ERR_GET_REASON(ERR_peek_error());
		ERR_clear_error();
	}
	out->server_ok = sstate == 1;
	out->verify = SSL_get_verify_result(server);
	out->peer_cert = SSL_get0_peer_certificate(server) != NULL;
	SSL_free(server);
	SSL_free(client);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	trust_free(&t);
}

static void
test_handshake_good(void **state)
{
	X509 *leaf = good_leaf();
	struct hs hs;

	(void)state;
	handshake(leaf, NULL, 0, &hs);
	assert_true(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_OK);
	assert_true(hs.peer_cert);
	assert_int_equal(hs.client_reason, 0);
	X509_free(leaf);
}

static void
test_handshake_peer_chain(void **state)
{
	X509 *leaf = mk_leaf(pki->inter, pki->inter_key, "2004", -60, DAY,
	    TC_EKU_CLIENT);
	struct hs hs;

	(void)state;
	handshake(leaf, pki->inter, 0, &hs);
	assert_true(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_OK);
	/* The server has no intermediates configured: the chain is needed. */
	handshake(leaf, NULL, 0, &hs);
	assert_false(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(hs.client_reason, SSL_R_TLSV1_ALERT_UNKNOWN_CA);
	X509_free(leaf);
}

static void
test_handshake_revoked(void **state)
{
	X509 *leaf = mk_leaf(pki->root, pki->root_key, REVOKED_SERIAL, -60, DAY,
	    TC_EKU_CLIENT);
	struct hs hs;

	(void)state;
	handshake(leaf, NULL, 0, &hs);
	assert_false(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_ERR_CERT_REVOKED);
	assert_int_equal(hs.server_reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
	assert_int_equal(hs.client_reason, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
	X509_free(leaf);
}

static void
test_handshake_no_eku(void **state)
{
	X509 *none = mk_leaf(pki->root, pki->root_key, "5003", -60, DAY,
	    TC_EKU_NONE);
	X509 *server_only = mk_leaf(pki->root, pki->root_key, "5004", -60, DAY,
	    TC_EKU_SERVER);
	struct hs hs;

	(void)state;
	handshake(none, NULL, 0, &hs);
	assert_false(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_ERR_INVALID_PURPOSE);
	assert_int_equal(hs.client_reason,
	    SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
	handshake(server_only, NULL, 0, &hs);
	assert_false(hs.server_ok);
	assert_int_equal(hs.verify, X509_V_ERR_INVALID_PURPOSE);
	X509_free(none);
	X509_free(server_only);
}

static void
test_handshake_no_cert(void **state)
{
	struct hs hs;

	(void)state;
	handshake(NULL, NULL, 0, &hs);
	assert_false(hs.server_ok);
	assert_false(hs.peer_cert);
	assert_int_equal(hs.server_reason,
	    SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
	assert_int_equal(hs.client_reason,
	    SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
}

static void
test_handshake_min_version(void **state)
{
	X509 *leaf = good_leaf();
	struct hs hs;

	(void)state;
	handshake(leaf, NULL, TLS1_2_VERSION, &hs);
	assert_false(hs.server_ok);
	assert_false(hs.peer_cert);
	assert_int_equal(hs.server_reason, SSL_R_UNSUPPORTED_PROTOCOL);
	X509_free(leaf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_intermediate_in_peer_chain),
		cmocka_unit_test(test_intermediate_configured),
		cmocka_unit_test(test_intermediate_never_anchor),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_at_time),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_eku),
		cmocka_unit_test(test_trust_load_errors),
		cmocka_unit_test(test_tls_ctx_good),
		cmocka_unit_test(test_tls_ctx_errors),
		cmocka_unit_test(test_handshake_good),
		cmocka_unit_test(test_handshake_peer_chain),
		cmocka_unit_test(test_handshake_revoked),
		cmocka_unit_test(test_handshake_no_eku),
		cmocka_unit_test(test_handshake_no_cert),
		cmocka_unit_test(test_handshake_min_version),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
