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
#include <unistd.h>

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
	/* An issuer without a CRL is accepted (without require_crl: see
	 * test_require_crl for the refusal). */
	check_ok(t, under_inter, NULL, 0);
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

/* --- trust and revocation, certificate policy ---------------------------- */

static struct trust *
load_opts(const char *anchors, const char *inter, char **crls, size_t n,
    const struct trust_opts *opts)
{
	char err[512];
	struct trust *t = NULL;

	if (trust_load_opts(anchors, inter, crls, n, opts, &t, err,
	    sizeof(err)) != 0)
		fail_msg("trust_load_opts: %s", err);
	return t;
}

/* A leaf for key (NULL: the group's key) with a chosen digest and key
 * usage (see struct tc_leaf). */
static X509 *
mk_leaf_ex(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *serial,
    long nb, long na, enum tc_eku eku, const EVP_MD *md, const char *ku)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "CN", "alice", 0, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = serial, .not_before = nb, .not_after = na, .eku = eku,
		.md = md, .key_usage = ku,
	};
	X509 *x;

	if (key == NULL)
		key = pki->key;
	x = tc_leaf_new(&spec, key, ca, ca_key != NULL ? ca_key : key);
	assert_non_null(x);
	return x;
}

/* A fresh directory under /tmp; removed by rm_dir. */
static char *
mk_dir(void)
{
	char tmpl[] = "/tmp/test_verify-XXXXXX";
	char *d;

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(d = strdup(tmpl));
	return d;
}

/* Moves file *path into dir as name (the path is freed). */
static void
move_into(char **path, const char *dir, const char *name)
{
	char dst[512];

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	assert_int_equal(rename(*path, dst), 0);
	free(*path);
	*path = NULL;
}

static void
rm_dir(char **dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", *dir);
	assert_int_equal(system(cmd), 0);
	free(*dir);
	*dir = NULL;
}

static void
test_anchor_dir(void **state)
{
	char *dir = mk_dir(), *f, path[512], err[512] = "";
	struct trust *t = NULL;
	X509 *mine = good_leaf();
	X509 *theirs = mk_leaf(pki->other, pki->other_key, "3101", -60, DAY,
	    TC_EKU_CLIENT);

	(void)state;
	/* A directory with only the root: the other CA is not trusted. */
	assert_non_null(f = tc_pem_file(&pki->root, 1, NULL, 0));
	move_into(&f, dir, "10-root.pem");
	assert_non_null(f = tc_text_file("not a certificate, not read\n"));
	move_into(&f, dir, "README");
	t = load(dir, NULL, NULL);
	check_ok(t, mine, NULL, 0);
	check_refused_code(t, theirs, NULL, 0,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	trust_free(&t);
	/* Two CAs, two files (.pem and .crt): both trusted. */
	assert_non_null(f = tc_pem_file(&pki->other, 1, NULL, 0));
	move_into(&f, dir, "20-other.crt");
	t = load(dir, NULL, NULL);
	check_ok(t, mine, NULL, 0);
	check_ok(t, theirs, NULL, 0);
	trust_free(&t);
	/* A bad file in the directory is named. */
	assert_non_null(f = tc_text_file("garbage\n"));
	move_into(&f, dir, "30-bad.pem");
	snprintf(path, sizeof(path), "%s/30-bad.pem", dir);
	check_load_fails(dir, NULL, NULL, NULL, path, "no certificate found");
	rm_dir(&dir);
	/* An empty directory holds no anchor. */
	dir = mk_dir();
	check_load_fails(dir, NULL, NULL, NULL, dir, "no certificate found");
	/* The same for intermediates. */
	assert_non_null(f = tc_pem_file(&pki->inter, 1, NULL, 0));
	move_into(&f, dir, "inter.pem");
	assert_int_equal(trust_load(pki->root_file, dir, NULL, 0, &t, err,
	    sizeof(err)), 0);
	trust_free(&t);
	rm_dir(&dir);
	X509_free(mine);
	X509_free(theirs);
}

static void
test_partial_chain(void **state)
{
	struct trust_opts partial = { .partial_chain = 1 };
	/* The intermediate's own root is not among the anchors. */
	struct trust *t = load(pki->other_file, pki->inter_file, NULL);
	struct trust *p = load_opts(pki->other_file, pki->inter_file, NULL, 0,
	    &partial);
	struct trust *peer_only = load_opts(pki->other_file, NULL, NULL, 0,
	    &partial);
	static const char *inter_revoked[] = { "2BAD" };
	X509_CRL *inter_crl = tc_crl_new(pki->inter, pki->inter_key,
	    inter_revoked, 1);
	X509_CRL *both[2] = { pki->root_crl, inter_crl };
	char *crl_file = tc_pem_file(NULL, 0, both, 2);
	struct trust *pc = load_opts(pki->other_file, pki->inter_file,
	    &crl_file, 1, &partial);
	X509 *leaf = mk_leaf(pki->inter, pki->inter_key, "2101", -60, DAY,
	    TC_EKU_CLIENT);
	X509 *revoked = mk_leaf(pki->inter, pki->inter_key, "2BAD", -60, DAY,
	    TC_EKU_CLIENT);
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	check_refused_code(t, leaf, NULL, 0,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	check_ok(p, leaf, NULL, 0);
	/* With CRLs: the leaf is checked against the intermediate's CRL;
	 * the intermediate, the anchor here, cannot be (its issuer is not
	 * at hand) and is trusted as configured. */
	check_ok(pc, leaf, NULL, 0);
	check_refused_code(pc, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	/* An intermediate the peer sends is never trusted, partial or not. */
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, pki->inter) > 0);
	check_refused_code(peer_only, leaf, chain, 0,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	sk_X509_free(chain);
	X509_free(leaf);
	X509_free(revoked);
	trust_free(&t);
	trust_free(&p);
	trust_free(&pc);
	trust_free(&peer_only);
	tc_file_free(&crl_file);
	X509_CRL_free(inter_crl);
}

static void
test_two_crl_files(void **state)
{
	static const char *inter_revoked[] = { "2BAD" };
	X509_CRL *inter_crl = tc_crl_new(pki->inter, pki->inter_key,
	    inter_revoked, 1);
	char *inter_crl_file = tc_pem_file(NULL, 0, &inter_crl, 1);
	char *crls[2] = { pki->crl_file, inter_crl_file };
	struct trust *t, *one;
	X509 *revoked = mk_leaf(pki->root, pki->root_key, REVOKED_SERIAL, -60,
	    DAY, TC_EKU_CLIENT);
	X509 *revoked2 = mk_leaf(pki->inter, pki->inter_key, "2BAD", -60, DAY,
	    TC_EKU_CLIENT);
	X509 *good = good_leaf();
	X509 *good2 = mk_leaf(pki->inter, pki->inter_key, "2102", -60, DAY,
	    TC_EKU_CLIENT);

	(void)state;
	assert_non_null(inter_crl_file);
	t = load_opts(pki->root_file, pki->inter_file, crls, 2, NULL);
	one = load_opts(pki->root_file, pki->inter_file, crls, 1, NULL);
	check_refused_code(t, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	check_refused_code(t, revoked2, NULL, 0, X509_V_ERR_CERT_REVOKED);
	check_ok(t, good, NULL, 0);
	check_ok(t, good2, NULL, 0);
	/* Without the second file the intermediate's revocation is unknown. */
	check_ok(one, revoked2, NULL, 0);
	check_refused_code(one, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	trust_free(&t);
	trust_free(&one);
	X509_free(revoked);
	X509_free(revoked2);
	X509_free(good);
	X509_free(good2);
	tc_file_free(&inter_crl_file);
	X509_CRL_free(inter_crl);
}

static void
test_require_crl(void **state)
{
	struct trust_opts req = { .require_crl = 1 };
	char *root_only[1] = { pki->crl_file };
	char *both[1] = { pki->crls_file };
	struct trust *plain = load_opts(pki->root_file, pki->inter_file,
	    root_only, 1, NULL);
	struct trust *t = load_opts(pki->root_file, pki->inter_file, root_only,
	    1, &req);
	struct trust *all = load_opts(pki->root_file, pki->inter_file, both, 1,
	    &req);
	struct trust *none = load_opts(pki->root_file, NULL, NULL, 0, &req);
	X509 *under_inter = mk_leaf(pki->inter, pki->inter_key, "2103", -60, DAY,
	    TC_EKU_CLIENT);
	X509 *good = good_leaf();

	(void)state;
	/* The intermediate has no CRL: accepted only without require_crl. */
	check_ok(plain, under_inter, NULL, 0);
	check_refused_code(t, under_inter, NULL, 0,
	    X509_V_ERR_UNABLE_TO_GET_CRL);
	check_ok(t, good, NULL, 0);
	check_ok(all, under_inter, NULL, 0);
	/* No CRL at all: nothing passes. */
	check_refused_code(none, good, NULL, 0, X509_V_ERR_UNABLE_TO_GET_CRL);
	X509_free(under_inter);
	X509_free(good);
	trust_free(&plain);
	trust_free(&t);
	trust_free(&all);
	trust_free(&none);
}

static void
test_crl_refresh(void **state)
{
	static const char *revoked_list[] = { "1201" };
	X509_CRL *empty = tc_crl_new(pki->root, pki->root_key, NULL, 0);
	X509_CRL *revoking = tc_crl_new(pki->root, pki->root_key, revoked_list,
	    1);
	char *file = tc_pem_file(NULL, 0, &empty, 1);
	char *crls[1] = { file };
	struct trust *t;
	X509 *leaf = mk_leaf(pki->root, pki->root_key, "1201", -60, DAY,
	    TC_EKU_CLIENT);
	X509 *other = good_leaf();
	time_t now = time(NULL) + 10;

	(void)state;
	assert_non_null(file);
	assert_non_null(revoking);
	t = load_opts(pki->root_file, NULL, crls, 1, NULL);
	check_ok(t, leaf, NULL, 0);
	assert_int_equal(trust_refresh(t, now), 0);
	/* Replaced by a CRL that revokes it: not seen within the same
	 * second, seen the next. */
	assert_int_equal(tc_crl_replace(file, &revoking, 1), 0);
	assert_int_equal(trust_refresh(t, now), 0);
	check_ok(t, leaf, NULL, 0);
	assert_int_equal(trust_refresh(t, now + 1), 0);
	check_refused_code(t, leaf, NULL, 0, X509_V_ERR_CERT_REVOKED);
	check_ok(t, other, NULL, 0);
	/* A malformed replacement keeps the revocation in force. */
	assert_int_equal(tc_text_replace(file, "-----BEGIN X509 CRL-----\n"
	    "garbage\n-----END X509 CRL-----\n"), 0);
	assert_int_equal(trust_refresh(t, now + 2), ERR_CONFIG);
	check_refused_code(t, leaf, NULL, 0, X509_V_ERR_CERT_REVOKED);
	/* So do an empty file and a missing one. */
	assert_int_equal(tc_text_replace(file, ""), 0);
	assert_int_equal(trust_refresh(t, now + 3), ERR_CONFIG);
	check_refused_code(t, leaf, NULL, 0, X509_V_ERR_CERT_REVOKED);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(trust_refresh(t, now + 4), ERR_CONFIG);
	check_refused_code(t, leaf, NULL, 0, X509_V_ERR_CERT_REVOKED);
	/* Rewritten in place (same inode) with the empty CRL: lifted. */
	assert_int_equal(tc_pem_rewrite(file, NULL, 0, &empty, 1), 0);
	assert_int_equal(trust_refresh(t, now + 5), 0);
	check_ok(t, leaf, NULL, 0);
	/* Replaced by another CA's CRL: the root had one and has none
	 * left, so its certificates fail closed. */
	assert_int_equal(tc_crl_replace(file, &pki->inter_crl, 1), 0);
	assert_int_equal(trust_refresh(t, now + 6), 0);
	check_refused_code(t, other, NULL, 0, X509_V_ERR_UNABLE_TO_GET_CRL);
	assert_int_equal(trust_refresh(NULL, now), ERR_INVALID);
	trust_free(&t);
	X509_free(leaf);
	X509_free(other);
	X509_CRL_free(empty);
	X509_CRL_free(revoking);
	tc_file_free(&file);
}

static void
test_stale_crl(void **state)
{
	static const char *revoked_list[] = { REVOKED_SERIAL };
	/* nextUpdate an hour ago. */
	X509_CRL *stale = tc_crl_new_at(pki->root, pki->root_key, revoked_list,
	    1, -2 * DAY, -3600);
	X509_CRL *future = tc_crl_new_at(pki->root, pki->root_key, NULL, 0,
	    600, DAY);
	char *file = tc_pem_file(NULL, 0, &stale, 1);
	char *future_file = tc_pem_file(NULL, 0, &future, 1);
	char *crls[1] = { file }, *fcrls[1] = { future_file };
	struct trust_opts grace = { .crl_grace = 7200 };
	struct trust_opts short_grace = { .crl_grace = 1800 };
	struct trust_opts skew = { .clock_skew = 900 };
	struct trust *t, *g, *s, *f, *fs;
	X509 *good = good_leaf();
	X509 *revoked = mk_leaf(pki->root, pki->root_key, REVOKED_SERIAL, -60,
	    DAY, TC_EKU_CLIENT);

	(void)state;
	assert_non_null(file);
	assert_non_null(future_file);
	t = load_opts(pki->root_file, NULL, crls, 1, NULL);
	g = load_opts(pki->root_file, NULL, crls, 1, &grace);
	s = load_opts(pki->root_file, NULL, crls, 1, &short_grace);
	f = load_opts(pki->root_file, NULL, fcrls, 1, NULL);
	fs = load_opts(pki->root_file, NULL, fcrls, 1, &skew);
	check_refused_code(t, good, NULL, 0, X509_V_ERR_CRL_HAS_EXPIRED);
	check_ok(g, good, NULL, 0);
	/* Within the grace the stale CRL still revokes. */
	check_refused_code(g, revoked, NULL, 0, X509_V_ERR_CERT_REVOKED);
	check_refused_code(s, good, NULL, 0, X509_V_ERR_CRL_HAS_EXPIRED);
	/* A CRL from ten minutes ahead: clock_skew covers its lastUpdate. */
	check_refused_code(f, good, NULL, 0, X509_V_ERR_CRL_NOT_YET_VALID);
	check_ok(fs, good, NULL, 0);
	X509_free(good);
	X509_free(revoked);
	trust_free(&t);
	trust_free(&g);
	trust_free(&s);
	trust_free(&f);
	trust_free(&fs);
	tc_file_free(&file);
	tc_file_free(&future_file);
	X509_CRL_free(stale);
	X509_CRL_free(future);
}

static void
check_key_leaf(const struct trust *t, EVP_PKEY *key, const char *serial,
    const char *want)
{
	X509 *leaf;

	assert_non_null(key);
	leaf = mk_leaf_ex(pki->root, pki->root_key, key, serial, -60, DAY,
	    TC_EKU_CLIENT, NULL, NULL);
	if (want == NULL)
		check_ok(t, leaf, NULL, 0);
	else
		check_refused(t, leaf, NULL, 0, want);
	X509_free(leaf);
	EVP_PKEY_free(key);
}

static void
test_key_strength(void **state)
{
	struct trust_opts ec384 = { .min_ec_bits = 384 };
	struct trust_opts low = { .min_rsa_bits = 1024, .min_ec_bits = 160 };
	struct trust *t = load(pki->root_file, NULL, NULL);
	struct trust *strict = load_opts(pki->root_file, NULL, NULL, 0, &ec384);
	struct trust *floor = load_opts(pki->root_file, NULL, NULL, 0, &low);
	EVP_PKEY *weak_ca_key = tc_ec_key_new("P-224");
	X509 *weak_ca, *leaf;
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	check_key_leaf(t, tc_rsa_key_new(1024), "6001",
	    "key too small: RSA 1024 bits, at least 2048 required");
	check_key_leaf(t, tc_rsa_key_new(2048), "6002", NULL);
	check_key_leaf(t, tc_ec_key_new("P-224"), "6003",
	    "key too small: EC 224 bits, at least 256 required");
	check_key_leaf(t, tc_ec_key_new("P-256"), "6004", NULL);
	check_key_leaf(strict, tc_ec_key_new("P-256"), "6005",
	    "key too small: EC 256 bits, at least 384 required");
	/* The minimum holds for the chain too: the root is P-256. */
	check_key_leaf(strict, tc_ec_key_new("P-384"), "6006",
	    "CA key too small: EC 256 bits, at least 384 required");
	/* The floor cannot be lowered. */
	check_key_leaf(floor, tc_rsa_key_new(1024), "6007",
	    "key too small: RSA 1024 bits, at least 2048 required");
	/* A P-224 intermediate passes security level 2 (112 bits): the
	 * chain check refuses it. */
	assert_non_null(weak_ca_key);
	assert_non_null(weak_ca = tc_ca_new("Weak Intermediate", weak_ca_key,
	    pki->root, pki->root_key));
	leaf = mk_leaf(weak_ca, weak_ca_key, "6008", -60, DAY, TC_EKU_CLIENT);
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, weak_ca) > 0);
	check_refused(t, leaf, chain, 0,
	    "CA key too small: EC 224 bits, at least 256 required");
	sk_X509_free(chain);
	X509_free(leaf);
	X509_free(weak_ca);
	EVP_PKEY_free(weak_ca_key);
	trust_free(&t);
	trust_free(&strict);
	trust_free(&floor);
}

static void
test_sha1(void **state)
{
	struct trust *t = load(pki->root_file, NULL, NULL);
	X509 *sha1 = mk_leaf_ex(pki->root, pki->root_key, NULL, "6101", -60, DAY,
	    TC_EKU_CLIENT, EVP_sha1(), NULL);
	X509 *sha384 = mk_leaf_ex(pki->root, pki->root_key, NULL, "6102", -60,
	    DAY, TC_EKU_CLIENT, EVP_sha384(), NULL);
	X509 *inter = tc_ca_new("SHA-1 Intermediate", pki->inter_key, pki->root,
	    pki->root_key);
	X509 *leaf = mk_leaf(pki->inter, pki->inter_key, "6103", -60, DAY,
	    TC_EKU_CLIENT);
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	check_refused(t, sha1, NULL, 0, "SHA-1 signature refused");
	check_ok(t, sha384, NULL, 0);
	/* An intermediate signed with SHA-1 by the root. */
	assert_non_null(inter);
	assert_true(X509_sign(inter, pki->root_key, EVP_sha1()) > 0);
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, inter) > 0);
	assert_int_equal(trust_verify(t, leaf, chain, 0, NULL, 0), ERR_TLS);
	sk_X509_set(chain, 0, pki->inter);
	check_ok(t, leaf, chain, 0);
	sk_X509_free(chain);
	X509_free(sha1);
	X509_free(sha384);
	X509_free(inter);
	X509_free(leaf);
	trust_free(&t);
}

static void
test_key_usage(void **state)
{
	struct trust_opts any = { .any_purpose = 1 };
	struct trust *t = load(pki->root_file, NULL, NULL);
	struct trust *a = load_opts(pki->root_file, NULL, NULL, 0, &any);
	/* keyAgreement alone satisfies OpenSSL's ssl_client purpose. */
	X509 *agree = mk_leaf_ex(pki->root, pki->root_key, NULL, "6201", -60, DAY,
	    TC_EKU_CLIENT, NULL, "critical,keyAgreement");
	X509 *none = mk_leaf_ex(pki->root, pki->root_key, NULL, "6202", -60, DAY,
	    TC_EKU_CLIENT, NULL, "");
	X509 *both = mk_leaf_ex(pki->root, pki->root_key, NULL, "6203", -60, DAY,
	    TC_EKU_CLIENT, NULL, "critical,digitalSignature,keyAgreement");

	(void)state;
	check_refused(t, agree, NULL, 0, "key usage without digitalSignature");
	check_refused(a, agree, NULL, 0, "key usage without digitalSignature");
	check_ok(t, none, NULL, 0);
	check_ok(t, both, NULL, 0);
	X509_free(agree);
	X509_free(none);
	X509_free(both);
	trust_free(&t);
	trust_free(&a);
}

static void
test_max_lifetime(void **state)
{
	struct trust_opts day = { .max_lifetime = DAY + 60 };
	struct trust_opts hour = { .max_lifetime = 3600 };
	struct trust *t = load(pki->root_file, NULL, NULL);
	struct trust *d = load_opts(pki->root_file, NULL, NULL, 0, &day);
	struct trust *h = load_opts(pki->root_file, NULL, NULL, 0, &hour);
	X509 *leaf = good_leaf(); /* valid for a day and a minute */

	(void)state;
	check_ok(t, leaf, NULL, 0);
	check_ok(d, leaf, NULL, 0);
	check_refused(h, leaf, NULL, 0, "certificate lifetime of 86460 s "
	    "exceeds max_lifetime (3600 s)");
	X509_free(leaf);
	trust_free(&t);
	trust_free(&d);
	trust_free(&h);
}

static void
test_clock_skew(void **state)
{
	struct trust_opts wide = { .clock_skew = 300 };
	struct trust_opts narrow = { .clock_skew = 30 };
	struct trust *t = load(pki->root_file, NULL, NULL);
	struct trust *w = load_opts(pki->root_file, NULL, NULL, 0, &wide);
	struct trust *n = load_opts(pki->root_file, NULL, NULL, 0, &narrow);
	X509 *early = mk_leaf(pki->root, pki->root_key, "6301", 120, DAY,
	    TC_EKU_CLIENT);
	X509 *late = mk_leaf(pki->root, pki->root_key, "6302", -DAY, -120,
	    TC_EKU_CLIENT);
	time_t now = time(NULL);

	(void)state;
	check_refused_code(t, early, NULL, 0, X509_V_ERR_CERT_NOT_YET_VALID);
	check_ok(w, early, NULL, 0);
	check_refused_code(n, early, NULL, 0, X509_V_ERR_CERT_NOT_YET_VALID);
	check_refused_code(t, late, NULL, 0, X509_V_ERR_CERT_HAS_EXPIRED);
	check_ok(w, late, NULL, 0);
	check_refused_code(n, late, NULL, 0, X509_V_ERR_CERT_HAS_EXPIRED);
	/* The skew counts from the verification time, not the clock. */
	check_refused_code(w, late, NULL, now + 3600,
	    X509_V_ERR_CERT_HAS_EXPIRED);
	check_ok(n, late, NULL, now - 100);
	X509_free(early);
	X509_free(late);
	trust_free(&t);
	trust_free(&w);
	trust_free(&n);
}

static void
test_any_purpose(void **state)
{
	struct trust_opts any = { .any_purpose = 1 };
	struct trust *a = load_opts(pki->root_file, NULL, NULL, 0, &any);
	X509 *server = mk_leaf(pki->root, pki->root_key, "6401", -60, DAY,
	    TC_EKU_SERVER);
	X509 *none = mk_leaf(pki->root, pki->root_key, "6402", -60, DAY,
	    TC_EKU_NONE);
	X509 *expired = mk_leaf(pki->root, pki->root_key, "6403", -10 * DAY,
	    -DAY, TC_EKU_SERVER);

	(void)state;
	check_ok(a, server, NULL, 0);
	check_ok(a, none, NULL, 0);
	/* Only the purpose is skipped. */
	check_refused_code(a, expired, NULL, 0, X509_V_ERR_CERT_HAS_EXPIRED);
	X509_free(server);
	X509_free(none);
	X509_free(expired);
	trust_free(&a);
}

/* A config file with the given tls policy lines. */
static char *
policy_config(const char *lines)
{
	char text[4096];

	snprintf(text, sizeof(text),
	    "tls = {\n"
	    "  certificate = \"%s\";\n"
	    "  private_key = \"%s\";\n"
	    "  trust_anchors = \"%s\";\n"
	    "%s"
	    "};\n",
	    pki->server_file, pki->server_key_file, pki->root_file, lines);
	return tc_text_file(text);
}

static void
check_config_fails(const char *lines, int line, const char *want)
{
	char *file = policy_config(lines), err[512] = "", prefix[512];
	struct config *c = NULL;

	assert_non_null(file);
	assert_int_equal(config_load(file, &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not start with \"%s\" and say "
		    "\"%s\"", err, prefix, want);
	tc_file_free(&file);
}

static void
test_config_policy(void **state)
{
	char lines[1024], *file, err[512] = "";
	struct config *c = NULL;
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	X509 *leaf = good_leaf();
	X509 *rsa;
	EVP_PKEY *rsa_key = tc_rsa_key_new(2048);

	(void)state;
	/* Defaults. */
	assert_non_null(file = policy_config(""));
	if (config_load(file, &c, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	assert_int_equal(c->tls.partial_chain, 0);
	assert_int_equal(c->tls.require_crl, 0);
	assert_int_equal(c->tls.crl_grace, 0);
	assert_int_equal(c->tls.max_lifetime, 0);
	assert_int_equal(c->tls.clock_skew, 0);
	config_free(&c);
	tc_file_free(&file);
	/* Every key, and the policy reaches the daemon's verification. */
	snprintf(lines, sizeof(lines),
	    "  crl = \"%s\";\n"
	    "  partial_chain = true;\n"
	    "  require_crl = true;\n"
	    "  crl_grace = 600;\n"
	    "  max_lifetime = 3600;\n"
	    "  clock_skew = 60;\n"
	    "  min_rsa_bits = 3072;\n"
	    "  min_ec_bits = 384;\n", pki->crl_file);
	assert_non_null(file = policy_config(lines));
	if (config_load(file, &c, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	assert_int_equal(c->tls.partial_chain, 1);
	assert_int_equal(c->tls.require_crl, 1);
	assert_int_equal(c->tls.crl_grace, 600);
	assert_int_equal(c->tls.max_lifetime, 3600);
	assert_int_equal(c->tls.clock_skew, 60);
	assert_int_equal(c->tls.min_rsa_bits, 3072);
	assert_int_equal(c->tls.min_ec_bits, 384);
	c->tls.min_ec_bits = 256;
	if (tls_server_ctx_new(&c->tls, &ctx, &t, err, sizeof(err)) != 0)
		fail_msg("tls_server_ctx_new: %s", err);
	check_refused(t, leaf, NULL, 0, "certificate lifetime of 86460 s "
	    "exceeds max_lifetime (3600 s)");
	assert_non_null(rsa_key);
	rsa = mk_leaf_ex(pki->root, pki->root_key, rsa_key, "6501", -60, 600,
	    TC_EKU_CLIENT, NULL, NULL);
	check_refused(t, rsa, NULL, 0,
	    "key too small: RSA 2048 bits, at least 3072 required");
	X509_free(rsa);
	SSL_CTX_free(ctx);
	trust_free(&t);
	config_free(&c);
	tc_file_free(&file);
	/* Errors name the line. */
	check_config_fails("  partial_chain = 1;\n", 5, "'tls.partial_chain' "
	    "must be true or false");
	check_config_fails("  crl_grace = -1;\n", 5, "'tls.crl_grace' must be "
	    "between 0 and");
	check_config_fails("  clock_skew = \"60\";\n", 5, "'tls.clock_skew' "
	    "must be an integer");
	check_config_fails("  clock_skew = 86401;\n", 5, "'tls.clock_skew' "
	    "must be between 0 and 86400");
	check_config_fails("  max_lifetime = -5;\n", 5, "'tls.max_lifetime'");
	check_config_fails("  min_rsa_bits = 1024;\n", 5, "'tls.min_rsa_bits' "
	    "must be between 2048 and 16384");
	check_config_fails("  min_ec_bits = 224;\n", 5, "'tls.min_ec_bits' "
	    "must be between 256 and 521");
	check_config_fails("  require_crl = true;\n", 5, "'tls.require_crl' "
	    "needs at least one 'tls.crl' file");
	check_config_fails("  crl_graec = 5;\n", 5, "unknown key "
	    "'tls.crl_graec'");
	X509_free(leaf);
	EVP_PKEY_free(rsa_key);
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
	STACK_OF(X509) *chain = NULL;

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
	/* The server certificate's chain is built once (not per
	 * handshake): issued by the root, whom a client has already, it is
	 * sent alone. */
	assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 0);
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

/* A certificate file with the server's intermediate: sent as it is, not
 * rebuilt (the store holds only the root). */
static void
test_tls_ctx_chain_from_file(void **state)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "CN", "server.example", 0, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = "5E", .not_before = -60, .not_after = 3600,
		.eku = TC_EKU_SERVER,
	};
	struct config_tls c;
	char *crls[1], err[512] = "", *file = NULL;
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *certs[2] = { NULL, pki->inter };

	(void)state;
	assert_non_null(certs[0] = tc_leaf_new(&spec, pki->key, pki->inter,
	    pki->inter_key));
	assert_non_null(file = tc_pem_file(certs, 2, NULL, 0));
	tls_config(&c, crls);
	c.certificate = file;
	if (tls_server_ctx_new(&c, &ctx, &t, err, sizeof(err)) != 0)
		fail_msg("tls_server_ctx_new: %s", err);
	assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
	assert_int_equal(sk_X509_num(chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), pki->inter), 0);
	SSL_CTX_free(ctx);
	trust_free(&t);
	X509_free(certs[0]);
	tc_file_free(&file);
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
		cmocka_unit_test(test_anchor_dir),
		cmocka_unit_test(test_partial_chain),
		cmocka_unit_test(test_two_crl_files),
		cmocka_unit_test(test_require_crl),
		cmocka_unit_test(test_crl_refresh),
		cmocka_unit_test(test_stale_crl),
		cmocka_unit_test(test_key_strength),
		cmocka_unit_test(test_sha1),
		cmocka_unit_test(test_key_usage),
		cmocka_unit_test(test_max_lifetime),
		cmocka_unit_test(test_clock_skew),
		cmocka_unit_test(test_any_purpose),
		cmocka_unit_test(test_config_policy),
		cmocka_unit_test(test_tls_ctx_good),
		cmocka_unit_test(test_tls_ctx_chain_from_file),
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
