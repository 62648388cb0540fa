/* Certificate identity: the fields policy decisions and audit lines use,
 * taken from the parsed certificate, never from a formatted string. */
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
};

/* Extracts the identity of x (borrowed). *out is owned by the caller
 * (ident_free). ERR_INVALID if a field cannot be represented (e.g. a NUL
 * inside a name), ERR_NOMEM. */
int ident_from_x509(X509 *x, struct ident **out) MTLS_WUR;
void ident_free(struct ident **id);

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
