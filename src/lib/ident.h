/* Certificate identity: the fields policy decisions and audit lines use,
 * taken from the parsed certificate, never from a formatted string.
 *
 * An ident is immutable once ident_from_x509 has made it: it is a pure
 * function of the certificate's DER, so holders of the same certificate
 * (the ticket store keeps one per certificate for all its tickets) share
 * one by reference (ident_ref) instead of copying it. Nobody writes a
 * field of an ident that another may hold. The count is a plain integer:
 * the daemon is single-threaded, and an ident must not be shared across
 * threads. */
#ifndef MTLS_IDENT_H
#define MTLS_IDENT_H

#include <stddef.h>

#include <openssl/x509.h>

#include "err.h"

#define IDENT_FPR_LEN (7 + 64)   /* "sha256:" + 64 lowercase hex */

struct ident {
	char *subject;      /* RFC 4514, normalised (dn_normalize form) */
	char *issuer;       /* same */
	char *serial;       /* uppercase hex, no separators, no leading 00 */
	char fingerprint[IDENT_FPR_LEN + 1]; /* sha256 of the DER */
	char **san_email;   /* rfc822Name entries */
	size_t n_san_email;
	char **san_dns;     /* dNSName entries */
	size_t n_san_dns;
	char **san_uri;     /* uniformResourceIdentifier entries */
	size_t n_san_uri;
	/* The subject's attributes one by one, every AVA of every RDN (a
	 * multi-valued RDN gives several), in certificate order; types in
	 * dn_attr_type form. For subject_attrs and the %{cn}/%{uid}
	 * templates. */
	struct ident_ava *avas;
	size_t n_avas;
	/* The local part of each san_email entry (same index), or NULL for
	 * an entry with no '@'. */
	char **san_email_local;
	/* Certificate policies extension: policy OIDs, dotted. */
	char **policy_oids;
	size_t n_policy_oids;
	/* Holders of this ident (ident_ref, ident_free). 0 counts as 1, so
	 * that an ident built by calloc (tests, fuzzers) is freed by its
	 * one ident_free. */
	size_t refs;
};

struct ident_ava {
	char *type;         /* "CN", "UID", "O", or a dotted OID */
	char *value;        /* UTF-8, no NUL */
};

#define IDENT_TYPE_MAX 128

/* The canonical name of an attribute type as written in a config ("cn",
 * "commonName", "2.5.4.3" -> "CN"), the form dn_normalize gives types.
 * ERR_INVALID for a type that could not name an attribute. out must have
 * IDENT_TYPE_MAX bytes. */
int dn_attr_type(const char *in, char out[IDENT_TYPE_MAX]) MTLS_WUR;

/* Canonical dotted form of an OID written as dotted numbers (no leading
 * zeros, at least two arcs). *out owned by the caller. ERR_INVALID. */
int ident_oid_normalize(const char *in, char **out) MTLS_WUR;

/* Extracts the identity of x (borrowed). *out is owned by the caller
 * (ident_free), with one reference. ERR_INVALID if a field cannot be
 * represented (e.g. a NUL inside a name), ERR_NOMEM. */
int ident_from_x509(X509 *x, struct ident **out) MTLS_WUR;

/* One more reference to id (NULL gives NULL): the caller owns it and drops
 * it with ident_free. Cannot fail (a count of held pointers does not
 * overflow a size_t). */
struct ident *ident_ref(struct ident *id);

/* Drops the reference *id and sets *id = NULL; the last one frees the
 * ident. Accepts NULL and *id == NULL. */
void ident_free(struct ident **id);

/* Only the fingerprint of x (borrowed), as ident_from_x509 writes it,
 * for callers that need no more: ERR_INVALID, ERR_INTERNAL. */
int ident_fingerprint(const X509 *x, char out[IDENT_FPR_LEN + 1])
    MTLS_WUR;

/* Formats an X509_NAME as an RFC 4514 string in the normalised form below.
 * *out owned by the caller. */
int dn_from_name(const X509_NAME *name, char **out) MTLS_WUR;

/* Normalises an RFC 4514 DN string, as `openssl x509 -subject -nameopt
 * RFC2253` prints it, into the one canonical form that dn_from_name also
 * produces, so that two DNs are equal iff their canonical forms are equal
 * (strcmp):
 *   - attribute types: known short names uppercased (cn -> CN, also
 *     "commonName" -> CN via OBJ_txt2nid), unknown ones as dotted OIDs;
 *   - spaces around ',', '+' and '=' ignored; values' own leading and
 *     trailing unescaped spaces ignored;
 *   - escapes decoded (\, \+ \" \\ \< \> \; \= \# \space and \XX hex);
 *     a value written as #hex (BER) is refused (ERR_INVALID);
 *   - output: RDNs in the order given, joined by ','; the values of a
 *     multi-valued RDN sorted by type and joined by '+'; values re-escaped
 *     minimally (',', '+', '"', '\\', '<', '>', ';', '=', a leading '#' or
 *     space, a trailing space, and control bytes as \XX).
 * ERR_INVALID for a syntax error or an empty DN. *out owned by the caller. */
int dn_normalize(const char *in, char **out) MTLS_WUR;

#endif
