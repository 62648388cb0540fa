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

struct config_tls;

/* Builds the daemon's TLS server context from the tls section of the
 * config: loads certificate (leaf first, chain may follow) and private key
 * and checks they match, loads the trust material (trust_load) and attaches
 * it, sets the minimum version (TLS 1.3 by default, 1.2 if configured),
 * turns off session tickets (SSL_OP_NO_TICKET and no TLS 1.3 tickets) and
 * the session cache. On success *ctx and *trust are owned by the caller
 * (free *ctx before *trust). On failure ERR_CONFIG with "FILE: reason" in
 * err. mtlsd, mtlsd -t and mtlsctl check all go through this. */
int tls_server_ctx_new(const struct config_tls *c, SSL_CTX **ctx,
    struct trust **trust, char *err, size_t errlen) MTLS_WUR;

#endif
