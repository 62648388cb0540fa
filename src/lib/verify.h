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

#define TRUST_MIN_RSA_BITS 2048
#define TRUST_MIN_EC_BITS 256

/* The certificate policy beside the trust material. All zero is the
 * default: intermediates never end a chain, CRL checking only for the
 * CAs that have a configured CRL, no grace past a CRL's nextUpdate, no
 * lifetime limit, no clock skew, RSA >= 2048 and EC >= 256 bits, EKU
 * clientAuth required. */
struct trust_opts {
	int partial_chain;   /* intermediates are trusted and may end a
	                        chain (X509_V_FLAG_PARTIAL_CHAIN) */
	int require_crl;     /* refuse a certificate whose issuer has no
	                        current CRL */
	long crl_grace;      /* seconds a CRL is still used after its
	                        nextUpdate */
	long max_lifetime;   /* seconds; refuse a leaf whose notAfter -
	                        notBefore is longer; 0: no limit */
	long clock_skew;     /* seconds of tolerance on both ends of every
	                        certificate's validity and on a CRL's
	                        lastUpdate */
	int min_rsa_bits;    /* 0: TRUST_MIN_RSA_BITS; never below it */
	int min_ec_bits;     /* 0: TRUST_MIN_EC_BITS; never below it */
	int any_purpose;     /* mtlsctl verify --purpose any: no EKU and no
	                        purpose check (everything else stays) */
};

/* Loads anchors (PEM file or directory, required), intermediates (PEM
 * file or directory, optional NULL) and CRL files (PEM, optional). A
 * directory contributes every *.pem and *.crt file in it, in name order.
 * With the default policy (struct trust_opts all zero). *out owned by the
 * caller (trust_free). On failure ERR_CONFIG with "FILE: reason" in err. */
int trust_load(const char *anchors, const char *intermediates,
    char *const *crls, size_t n_crls, struct trust **out, char *err,
    size_t errlen) MTLS_WUR;
/* trust_load with a policy; opts is copied, NULL means all zero. */
int trust_load_opts(const char *anchors, const char *intermediates,
    char *const *crls, size_t n_crls, const struct trust_opts *opts,
    struct trust **out, char *err, size_t errlen) MTLS_WUR;
void trust_free(struct trust **t);

/* Re-reads every CRL file whose identity (device, inode, size, mtime,
 * ctime) changed since it was last read, stating them at most once a
 * second (now is the caller's clock). A file that cannot be read or holds
 * no CRL keeps its previous CRLs in force; the error is logged once per
 * change of the file and ERR_CONFIG returned. An issuer that once had a
 * CRL and has none left gets its certificates refused. Returns 0 when
 * nothing failed. The daemon calls it from its timer and before each
 * handshake verification; the result may be ignored (errors are logged). */
int trust_refresh(struct trust *t, time_t now);

/* Verifies leaf for client authentication, with chain (untrusted
 * certificates sent by the peer, may be NULL) and the configured
 * intermediates, at time at (0 = now): chains to an anchor, every
 * certificate within its validity (give or take clock_skew), no
 * certificate of the chain revoked by a current CRL of its issuer (an
 * issuer without a CRL is accepted unless require_crl), EKU present and
 * containing clientAuth, key usage digitalSignature when the extension is
 * present, keys of at least min_rsa_bits / min_ec_bits, no SHA-1 (or
 * weaker) signature, leaf lifetime within max_lifetime. Returns 0, or
 * ERR_TLS with a short reason ("certificate has expired", "no clientAuth
 * extended key usage", ...) in reason. */
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
