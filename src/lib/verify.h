/* Client certificate verification: the one code path behind mtlsd's TLS
 * handshakes and mtlsctl. Anchors and intermediates are kept apart: an
 * intermediate only helps build a chain, it is never a root. */
#ifndef MTLS_VERIFY_H
#define MTLS_VERIFY_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "err.h"

struct trust;

/* Loads anchors (PEM file, required), intermediates (PEM file, optional
 * NULL) and CRL files (PEM, optional). *out owned by the caller
 * (trust_free). On failure ERR_CONFIG with "FILE: reason" in err. */
int trust_load(const char *anchors, const char *intermediates,
    char *const *crls, size_t n_crls, struct trust **out, char *err,
    size_t errlen) MTLS_WUR;
void trust_free(struct trust **t);

/* Verifies leaf for client authentication, with chain (untrusted
 * certificates sent by the peer, may be NULL) and the configured
 * intermediates, at time at (0 = now): chains to an anchor, every
 * certificate within its validity, not revoked by a configured CRL (CRL
 * checking is on for the leaf whenever CRLs are configured), EKU present
 * and containing clientAuth. Returns 0, or ERR_TLS with a short reason
 * ("certificate has expired", "no clientAuth EKU", ...) in reason. */
int trust_verify(const struct trust *t, X509 *leaf, STACK_OF(X509) *chain,
    time_t at, char *reason, size_t reasonlen) MTLS_WUR;

/* Makes ctx require a client certificate and verify it with trust_verify's
 * rules (SSL_CTX_set_cert_verify_callback). t is borrowed and must outlive
 * ctx. Refused handshakes are logged with the reason. */
int trust_attach(struct trust *t, SSL_CTX *ctx) MTLS_WUR;

#endif
