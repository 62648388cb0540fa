/* http:// URLs, as configured for an OCSP responder or found in a
 * certificate's authorityInfoAccess: parsed once, at the boundary, by
 * OpenSSL's parser, then held to what the daemon's HTTP client can use
 * without surprises (no https, no credentials, no fragment). */
#ifndef MTLS_URL_H
#define MTLS_URL_H

#include "err.h"

struct url {
	char *host;        /* name or address, IPv6 without brackets */
	char *authority;   /* "HOST[:PORT]" for the Host header, IPv6 in
	                      brackets, the port only when not 80 */
	char *target;      /* path and query, starting with '/' */
	unsigned short port;
};

/* Parses s, which must start with "http://" (case-insensitive). On
 * success *out is owned by the caller (url_free). On ERR_INVALID, *why
 * (if why != NULL) points to a static English reason ("https:// is not
 * supported", ...); ERR_NOMEM. */
int url_parse_http(const char *s, struct url **out, const char **why)
    MTLS_WUR;
void url_free(struct url **u);

#endif
