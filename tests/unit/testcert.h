/* In-process test PKI for unit tests: keys, CA and leaf certificates,
 * CRLs, and temporary PEM files, built with OpenSSL alone (no openssl CLI,
 * no fixture files).
 *
 * Ownership: every tc_*_new function returns a new object owned by the
 * caller (EVP_PKEY_free, X509_free, X509_CRL_free), or NULL on failure.
 * Arguments are borrowed. The tc_*_file functions return a malloc'd path
 * of a new file under /tmp, removed and freed with tc_file_free. The
 * certificates follow what X509_V_FLAG_X509_STRICT demands: v3, critical
 * basicConstraints and keyUsage on CAs, subject and authority key
 * identifiers. */
#ifndef MTLS_TESTCERT_H
#define MTLS_TESTCERT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* One attribute of a subject, in ASN.1 order (the reverse of RFC 4514's
 * written order). type: a short name ("CN") or dotted OID; value: UTF-8
 * bytes, len bytes long (0: strlen(value)), so a value may hold a NUL;
 * join: nonzero puts it in the same (multi-valued) RDN as the entry
 * before it. */
struct tc_ava {
	const char *type;
	const char *value;
	size_t len;
	int join;
};

/* One subjectAltName: type GEN_EMAIL, GEN_DNS or GEN_URI; value len bytes
 * (0: strlen(value)), so it may hold a NUL. */
struct tc_san {
	int type;
	const char *value;
	size_t len;
};

enum tc_eku {
	TC_EKU_NONE,   /* no extendedKeyUsage extension */
	TC_EKU_CLIENT, /* clientAuth */
	TC_EKU_SERVER, /* serverAuth only */
};

struct tc_leaf {
	const struct tc_ava *subject;
	size_t n_subject;
	const char *serial;   /* hex, may start with '-'; NULL: "01" */
	long not_before;      /* seconds from now (negative: in the past) */
	long not_after;
	enum tc_eku eku;
	const struct tc_san *sans;
	size_t n_sans;
	const EVP_MD *md;      /* signature digest; NULL: SHA-256 */
	const char *key_usage; /* openssl.cnf syntax; NULL:
	                          "critical,digitalSignature"; "": none */
};

/* A new EC P-256 key pair. */
EVP_PKEY *tc_key_new(void);

/* A CA certificate "CN=cn" for key, valid from 30 days ago for a year,
 * signed by issuer/issuer_key, or self-signed if issuer is NULL. */
X509 *tc_ca_new(const char *cn, EVP_PKEY *key, const X509 *issuer,
    EVP_PKEY *issuer_key);

/* A leaf certificate for key as described by spec, signed by ca/ca_key,
 * or self-signed if ca is NULL. keyUsage digitalSignature, not a CA. */
X509 *tc_leaf_new(const struct tc_leaf *spec, EVP_PKEY *key, const X509 *ca,
    EVP_PKEY *ca_key);

/* A CRL issued by ca/ca_key revoking the given hex serials, valid from an
 * hour ago for a day. */
X509_CRL *tc_crl_new(const X509 *ca, EVP_PKEY *ca_key,
    const char *const *serials, size_t n_serials);
/* The same with lastUpdate and nextUpdate at the given seconds from now
 * (negative: in the past). */
X509_CRL *tc_crl_new_at(const X509 *ca, EVP_PKEY *ca_key,
    const char *const *serials, size_t n_serials, long last_update,
    long next_update);

/* A new RSA key pair of bits bits. */
EVP_PKEY *tc_rsa_key_new(unsigned bits);
/* A new EC key pair on the named curve ("P-224", "P-384", ...). */
EVP_PKEY *tc_ec_key_new(const char *curve);

/* Rewrites the file at path in place (same inode, truncated first) with
 * certs then crls. 0 on success, -1 on failure. */
int tc_pem_rewrite(const char *path, X509 *const *certs, size_t n_certs,
    X509_CRL *const *crls, size_t n_crls);
/* Replaces the file at path atomically (a new file renamed over it) with
 * text; 0 on success, -1 on failure. */
int tc_text_replace(const char *path, const char *text);
/* Replaces the file at path atomically with crls; 0 or -1. */
int tc_crl_replace(const char *path, X509_CRL *const *crls, size_t n_crls);

/* A PEM file holding certs then crls (either list may be empty). */
char *tc_pem_file(X509 *const *certs, size_t n_certs,
    X509_CRL *const *crls, size_t n_crls);
/* A PEM file holding key, unencrypted. */
char *tc_key_file(EVP_PKEY *key);
/* A file holding text as is. */
char *tc_text_file(const char *text);
/* Removes the file *path and frees the path; accepts NULL. */
void tc_file_free(char **path);

#endif
