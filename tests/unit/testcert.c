#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "testcert.h"

#define DAY (24L * 3600)

EVP_PKEY *
tc_key_new(void)
{
	return EVP_EC_gen("P-256");
}

static ASN1_INTEGER *
serial_new(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (BN_hex2bn(&bn, hex) != 0)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

/* Adds an extension given in openssl.cnf syntax ("critical,CA:TRUE"). */
static int
add_ext(X509 *x, const X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, (X509 *)issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* The fields every certificate here shares; issuer NULL: self-issued. */
static X509 *
cert_base(EVP_PKEY *key, const X509_NAME *subject, const X509 *issuer,
    const char *serial, long not_before, long not_after)
{
	X509 *x = NULL;
	ASN1_INTEGER *sn = NULL;
	const X509_NAME *iname = issuer != NULL ? X509_get_subject_name(issuer)
	    : subject;

	if ((x = X509_new()) == NULL || (sn = serial_new(serial)) == NULL)
		goto fail;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, sn) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, iname) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), not_before) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), not_after) == NULL ||
	    !X509_set_pubkey(x, key))
		goto fail;
	/* For a self-issued certificate the issuer's key id is its own. */
	if (!add_ext(x, x, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, issuer != NULL ? issuer : x,
	    NID_authority_key_identifier, "keyid:always"))
		goto fail;
	ASN1_INTEGER_free(sn);
	return x;
fail:
	ASN1_INTEGER_free(sn);
	X509_free(x);
	return NULL;
}

X509 *
tc_ca_new(const char *cn, EVP_PKEY *key, const X509 *issuer,
    EVP_PKEY *issuer_key)
{
	X509_NAME *name = NULL;
	X509 *x = NULL;

	if ((name = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	if ((x = cert_base(key, name, issuer, "CA01", -30 * DAY, 365 * DAY)) == NULL)
		goto fail;
	if (!add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign"))
		goto fail;
	if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0)
		goto fail;
	X509_NAME_free(name);
	return x;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

static X509_NAME *
name_new(const struct tc_ava *avas, size_t n)
{
	X509_NAME *name;
	size_t i, len;

	if ((name = X509_NAME_new()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		len = avas[i].len != 0 ? avas[i].len : strlen(avas[i].value);
		if (len > INT_MAX || !X509_NAME_add_entry_by_txt(name, avas[i].type,
		    MBSTRING_UTF8, (const unsigned char *)avas[i].value,
		    (int)len, -1, avas[i].join ? -1 : 0)) {
			X509_NAME_free(name);
			return NULL;
		}
	}
	return name;
}

static int
add_sans(X509 *x, const struct tc_san *sans, size_t n)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *s = NULL;
	size_t i, len;
	int ok = 0;

	if (n == 0)
		return 1;
	if ((gens = GENERAL_NAMES_new()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		len = sans[i].len != 0 ? sans[i].len : strlen(sans[i].value);
		if (len > INT_MAX || (gen = GENERAL_NAME_new()) == NULL ||
		    (s = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(s, sans[i].value, (int)len))
			goto out;
		GENERAL_NAME_set0_value(gen, sans[i].type, s);
		s = NULL;
		if (!sk_GENERAL_NAME_push(gens, gen))
			goto out;
		gen = NULL;
	}
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT);
out:
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return ok;
}

static const char *
eku_value(enum tc_eku eku)
{
	switch (eku) {
	case TC_EKU_CLIENT:
		return "clientAuth";
	case TC_EKU_SERVER:
		return "serverAuth";
	case TC_EKU_NONE:
	default:
		return NULL;
	}
}

X509 *
tc_leaf_new(const struct tc_leaf *spec, EVP_PKEY *key, const X509 *ca,
    EVP_PKEY *ca_key)
{
	X509_NAME *name = NULL;
	X509 *x = NULL;
	const char *eku = eku_value(spec->eku);
	const char *ku = spec->key_usage != NULL ? spec->key_usage :
	    "critical,digitalSignature";

	if ((name = name_new(spec->subject, spec->n_subject)) == NULL)
		goto fail;
	if ((x = cert_base(key, name, ca, spec->serial != NULL ? spec->serial
	    : "01", spec->not_before, spec->not_after)) == NULL)
		goto fail;
	if (!add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    (ku[0] != '\0' && !add_ext(x, ca, NID_key_usage, ku)) ||
	    (eku != NULL && !add_ext(x, ca, NID_ext_key_usage, eku)) ||
	    !add_sans(x, spec->sans, spec->n_sans))
		goto fail;
	if (X509_sign(x, ca_key != NULL ? ca_key : key,
	    spec->md != NULL ? spec->md : EVP_sha256()) <= 0)
		goto fail;
	X509_NAME_free(name);
	return x;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

static int
crl_revoke(X509_CRL *crl, const char *serial, const ASN1_TIME *when)
{
	X509_REVOKED *rv = NULL;
	ASN1_INTEGER *sn = NULL;
	int ok = 0;

	if ((rv = X509_REVOKED_new()) == NULL || (sn = serial_new(serial)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rv, sn) ||
	    !X509_REVOKED_set_revocationDate(rv, (ASN1_TIME *)when) ||
	    !X509_CRL_add0_revoked(crl, rv))
		goto out;
	rv = NULL;
	ok = 1;
out:
	ASN1_INTEGER_free(sn);
	X509_REVOKED_free(rv);
	return ok;
}

X509_CRL *
tc_crl_new(const X509 *ca, EVP_PKEY *ca_key, const char *const *serials,
    size_t n_serials)
{
	return tc_crl_new_at(ca, ca_key, serials, n_serials, -3600, DAY);
}

X509_CRL *
tc_crl_new_at(const X509 *ca, EVP_PKEY *ca_key, const char *const *serials,
    size_t n_serials, long last_update, long next_update)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *last = NULL, *next = NULL;
	ASN1_INTEGER *number = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	size_t i;

	if ((crl = X509_CRL_new()) == NULL ||
	    (last = X509_gmtime_adj(NULL, last_update)) == NULL ||
	    (next = X509_gmtime_adj(NULL, next_update)) == NULL ||
	    (number = serial_new("01")) == NULL)
		goto fail;
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, next))
		goto fail;
	for (i = 0; i < n_serials; i++) {
		if (!crl_revoke(crl, serials[i], last))
			goto fail;
	}
	X509V3_set_ctx(&v3, (X509 *)ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always")) == NULL || !X509_CRL_add_ext(crl, ext, -1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0))
		goto fail;
	if (!X509_CRL_sort(crl) || X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0)
		goto fail;
	goto done;
fail:
	X509_CRL_free(crl);
	crl = NULL;
done:
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	return crl;
}

/* A new empty file under /tmp, opened as a BIO; *path owned by the caller. */
static BIO *
file_new(char **path)
{
	char tmpl[] = "/tmp/testcert-XXXXXX";
	BIO *bio;
	int fd;

	*path = NULL;
	if ((fd = mkstemp(tmpl)) == -1)
		return NULL;
	if ((*path = strdup(tmpl)) == NULL ||
	    (bio = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		unlink(tmpl);
		free(*path);
		*path = NULL;
		return NULL;
	}
	return bio;
}

/* Closes bio; keeps the file if ok, else removes it and frees *path. */
static char *
file_done(BIO *bio, char *path, int ok)
{
	if (BIO_flush(bio) != 1)
		ok = 0;
	BIO_free_all(bio);
	if (!ok)
		tc_file_free(&path);
	return path;
}

char *
tc_pem_file(X509 *const *certs, size_t n_certs, X509_CRL *const *crls,
    size_t n_crls)
{
	char *path;
	BIO *bio;
	size_t i;
	int ok = 1;

	if ((bio = file_new(&path)) == NULL)
		return NULL;
	for (i = 0; i < n_certs && ok; i++)
		ok = PEM_write_bio_X509(bio, certs[i]);
	for (i = 0; i < n_crls && ok; i++)
		ok = PEM_write_bio_X509_CRL(bio, crls[i]);
	return file_done(bio, path, ok);
}

char *
tc_key_file(EVP_PKEY *key)
{
	char *path;
	BIO *bio;

	if ((bio = file_new(&path)) == NULL)
		return NULL;
	return file_done(bio, path,
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL));
}

char *
tc_text_file(const char *text)
{
	char *path;
	BIO *bio;
	size_t len = strlen(text);

	if ((bio = file_new(&path)) == NULL)
		return NULL;
	return file_done(bio, path, len <= INT_MAX &&
	    BIO_write(bio, text, (int)len) == (int)len);
}

void
tc_file_free(char **path)
{
	if (path == NULL || *path == NULL)
		return;
	unlink(*path);
	free(*path);
	*path = NULL;
}

EVP_PKEY *
tc_rsa_key_new(unsigned bits)
{
	return EVP_RSA_gen(bits);
}

EVP_PKEY *
tc_ec_key_new(const char *curve)
{
	return EVP_EC_gen(curve);
}

/* Writes to a new file beside path, then renames it over path. */
static int
replace_with(const char *path, X509 *const *certs, size_t n_certs,
    X509_CRL *const *crls, size_t n_crls, const char *text)
{
	char *tmp = NULL;
	BIO *bio = NULL;
	size_t i, len;
	int ok = 0;

	if (asprintf(&tmp, "%s.new", path) < 0)
		return -1;
	if ((bio = BIO_new_file(tmp, "w")) == NULL)
		goto out;
	ok = 1;
	for (i = 0; i < n_certs && ok; i++)
		ok = PEM_write_bio_X509(bio, certs[i]);
	for (i = 0; i < n_crls && ok; i++)
		ok = PEM_write_bio_X509_CRL(bio, crls[i]);
	if (ok && text != NULL) {
		len = strlen(text);
		ok = len <= INT_MAX && BIO_write(bio, text, (int)len) == (int)len;
	}
	if (BIO_flush(bio) != 1)
		ok = 0;
	BIO_free_all(bio);
	bio = NULL;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
out:
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

int
tc_pem_rewrite(const char *path, X509 *const *certs, size_t n_certs,
    X509_CRL *const *crls, size_t n_crls)
{
	BIO *bio;
	size_t i;
	int ok = 1;

	if ((bio = BIO_new_file(path, "w")) == NULL)
		return -1;
	for (i = 0; i < n_certs && ok; i++)
		ok = PEM_write_bio_X509(bio, certs[i]);
	for (i = 0; i < n_crls && ok; i++)
		ok = PEM_write_bio_X509_CRL(bio, crls[i]);
	if (BIO_flush(bio) != 1)
		ok = 0;
	BIO_free_all(bio);
	return ok ? 0 : -1;
}

int
tc_text_replace(const char *path, const char *text)
{
	return replace_with(path, NULL, 0, NULL, 0, text);
}

int
tc_crl_replace(const char *path, X509_CRL *const *crls, size_t n_crls)
{
	return replace_with(path, NULL, 0, crls, n_crls, NULL);
}
