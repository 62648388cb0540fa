#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "ident.h"
#include "log.h"
#include "verify.h"

struct trust {
	X509_STORE *store;             /* anchors and CRLs: what is trusted */
	STACK_OF(X509) *anchors;       /* the same anchors, for the CA list */
	STACK_OF(X509) *intermediates; /* only help build chains */
};

static void
set_msg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Refuses to prompt: the daemon has no terminal, and an encrypted key or
 * a key in a trust file must fail rather than block. */
/* Every loading error starts with "PATH: ": the config line is that of
 * the key naming PATH, or the tls group's for the rest. */
static int
config_line_of(const struct config_tls *c, const char *msg)
{
	const struct {
		const char *path;
		int line;
	} keys[] = {
		{ c->certificate, c->line.certificate },
		{ c->private_key, c->line.private_key },
		{ c->trust_anchors, c->line.trust_anchors },
		{ c->intermediates, c->line.intermediates },
	};
	size_t i, n;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].path == NULL)
			continue;
		n = strlen(keys[i].path);
		if (strncmp(msg, keys[i].path, n) == 0 && msg[n] == ':')
			return keys[i].line;
	}
	for (i = 0; i < c->n_crl; i++) {
		n = strlen(c->crl[i]);
		if (strncmp(msg, c->crl[i], n) == 0 && msg[n] == ':')
			return c->line.crl;
	}
	return c->line.group;
}

/* Puts "FILE:LINE: " in front of the message in buf. */
static void
prefix_msg(char *buf, size_t len, const char *file, int line)
{
	char tmp[512];

	if (buf == NULL || len == 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s", buf);
	set_msg(buf, len, "%s:%d: %s", file, line, tmp);
}

static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Reads every PEM object of path. *out owned by the caller. */
static int
pem_read(const char *path, STACK_OF(X509_INFO) **out, char *err,
    size_t errlen)
{
	BIO *bio = NULL;
	int r = ERR_CONFIG, saved;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		saved = errno;
		ERR_clear_error();
		set_msg(err, errlen, "%s: cannot open: %s", path, strerror(saved));
		goto out;
	}
	*out = PEM_X509_INFO_read_bio_ex(bio, NULL, no_passphrase, NULL, NULL,
	    NULL);
	if (*out == NULL) {
		ERR_clear_error();
		set_msg(err, errlen, "%s: malformed PEM", path);
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	return r;
}

static int
load_anchors(struct trust *t, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *info;
	int i, r;

	if ((r = pem_read(path, &infos, err, errlen)) != 0)
		return r;
	r = ERR_CONFIG;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		if ((info = sk_X509_INFO_value(infos, i))->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(t->store, info->x509) != 1 ||
		    !X509_add_cert(t->anchors, info->x509, X509_ADD_FLAG_UP_REF)) {
			log_ossl(LOG_DEBUG, __func__, path, NULL, 0);
			set_msg(err, errlen, "%s: cannot add certificate", path);
			goto out;
		}
	}
	if (sk_X509_num(t->anchors) == 0) {
		set_msg(err, errlen, "%s: no certificate found", path);
		goto out;
	}
	r = 0;
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return r;
}

static int
load_intermediates(struct trust *t, const char *path, char *err,
    size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *info;
	int i, r;

	if ((r = pem_read(path, &infos, err, errlen)) != 0)
		return r;
	r = ERR_CONFIG;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		if ((info = sk_X509_INFO_value(infos, i))->x509 == NULL)
			continue;
		if (!X509_add_cert(t->intermediates, info->x509,
		    X509_ADD_FLAG_UP_REF)) {
			set_msg(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	if (sk_X509_num(t->intermediates) == 0) {
		set_msg(err, errlen, "%s: no certificate found", path);
		goto out;
	}
	r = 0;
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return r;
}

static int
load_crl(struct trust *t, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *info;
	int i, n = 0, r;

	if ((r = pem_read(path, &infos, err, errlen)) != 0)
		return r;
	r = ERR_CONFIG;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		if ((info = sk_X509_INFO_value(infos, i))->crl == NULL)
			continue;
		if (X509_STORE_add_crl(t->store, info->crl) != 1) {
			log_ossl(LOG_DEBUG, __func__, path, NULL, 0);
			set_msg(err, errlen, "%s: cannot add CRL", path);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		set_msg(err, errlen, "%s: cannot read CRL: none found", path);
		goto out;
	}
	r = 0;
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return r;
}

int
trust_load(const char *anchors, const char *intermediates, char *const *crls,
    size_t n_crls, struct trust **out, char *err, size_t errlen)
{
	struct trust *t = NULL;
	unsigned long flags = X509_V_FLAG_X509_STRICT;
	size_t i;
	int r = ERR_CONFIG;

	set_msg(err, errlen, "%s", "");
	if (out == NULL || anchors == NULL || (crls == NULL && n_crls > 0)) {
		set_msg(err, errlen, "trust: no trust anchors configured");
		return ERR_CONFIG;
	}
	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->store = X509_STORE_new()) == NULL ||
	    (t->anchors = sk_X509_new_null()) == NULL ||
	    (t->intermediates = sk_X509_new_null()) == NULL) {
		set_msg(err, errlen, "trust: out of memory");
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = load_anchors(t, anchors, err, errlen)) != 0)
		goto out;
	if (intermediates != NULL &&
	    (r = load_intermediates(t, intermediates, err, errlen)) != 0)
		goto out;
	for (i = 0; i < n_crls; i++) {
		if ((r = load_crl(t, crls[i], err, errlen)) != 0)
			goto out;
	}
	/* CRL_CHECK without CRL_CHECK_ALL: the leaf is checked, and a leaf
	 * whose issuer has no CRL loaded fails ("unable to get CRL"). */
	if (n_crls > 0)
		flags |= X509_V_FLAG_CRL_CHECK;
	if (X509_STORE_set_flags(t->store, flags) != 1) {
		set_msg(err, errlen, "trust: cannot set verification flags");
		r = ERR_INTERNAL;
		goto out;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	trust_free(&t);
	return r;
}

void
trust_free(struct trust **tp)
{
	struct trust *t;

	if (tp == NULL || (t = *tp) == NULL)
		return;
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->anchors, X509_free);
	sk_X509_pop_free(t->intermediates, X509_free);
	free(t);
	*tp = NULL;
}

static int
has_client_eku(X509 *leaf)
{
	/* The purpose check alone passes a certificate with no EKU at all. */
	return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0 &&
	    (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) != 0;
}

/* A borrowed-pointer stack of the peer's chain (may be NULL) followed by
 * the configured intermediates. Owned by the caller (sk_X509_free). */
static STACK_OF(X509) *
untrusted_merge(STACK_OF(X509) *peer, STACK_OF(X509) *intermediates)
{
	STACK_OF(X509) *sk;
	int i;

	sk = peer != NULL ? sk_X509_dup(peer) : sk_X509_new_null();
	if (sk == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(intermediates); i++) {
		if (!sk_X509_push(sk, sk_X509_value(intermediates, i))) {
			sk_X509_free(sk);
			return NULL;
		}
	}
	return sk;
}

/* The one verification behind trust_verify and the TLS handshake. sctx is
 * initialised with the leaf and the peer's chain; the configured
 * intermediates are added for the duration of the call. On failure the
 * error in sctx is set, so that the TLS alert and SSL_get_verify_result
 * say why. */
static int
verify_ctx(const struct trust *t, X509_STORE_CTX *sctx, char *reason,
    size_t reasonlen)
{
	STACK_OF(X509) *peer = X509_STORE_CTX_get0_untrusted(sctx);
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
	int r = ERR_TLS, rc;

	set_msg(reason, reasonlen, "internal error");
	if (leaf == NULL) {
		set_msg(reason, reasonlen, "no certificate");
		goto out;
	}
	if ((untrusted = untrusted_merge(peer, t->intermediates)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT) != 1)
		goto out;
	X509_STORE_CTX_set0_untrusted(sctx, untrusted);
	rc = X509_verify_cert(sctx);
	X509_STORE_CTX_set0_untrusted(sctx, peer);
	if (rc != 1) {
		set_msg(reason, reasonlen, "%s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(sctx)));
		goto out;
	}
	if (!has_client_eku(leaf)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_INVALID_PURPOSE);
		X509_STORE_CTX_set_error_depth(sctx, 0);
		X509_STORE_CTX_set_current_cert(sctx, leaf);
		set_msg(reason, reasonlen, "no clientAuth extended key usage");
		goto out;
	}
	r = 0;
out:
	if (r != 0 && X509_STORE_CTX_get_error(sctx) == X509_V_OK)
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_UNSPECIFIED);
	ERR_clear_error();
	sk_X509_free(untrusted);
	return r;
}

int
trust_verify(const struct trust *t, X509 *leaf, STACK_OF(X509) *chain,
    time_t at, char *reason, size_t reasonlen)
{
	X509_STORE_CTX *sctx = NULL;
	int r = ERR_TLS;

	set_msg(reason, reasonlen, "internal error");
	if (t == NULL || leaf == NULL) {
		set_msg(reason, reasonlen, "no certificate");
		return ERR_INVALID;
	}
	if ((sctx = X509_STORE_CTX_new()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (X509_STORE_CTX_init(sctx, t->store, leaf, chain) != 1)
		goto out;
	if (at != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sctx), at);
	r = verify_ctx(t, sctx, reason, reasonlen);
out:
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return r;
}

/* SSL_CTX_set_cert_verify_callback: replaces X509_verify_cert in the
 * handshake with verify_ctx, on the context OpenSSL set up. */
static int
handshake_verify(X509_STORE_CTX *sctx, void *arg)
{
	const struct trust *t = arg;
	X509 *leaf;
	char reason[256], *subject = NULL;

	if (verify_ctx(t, sctx, reason, sizeof(reason)) == 0)
		return 1;
	if ((leaf = X509_STORE_CTX_get0_cert(sctx)) == NULL ||
	    dn_from_name(X509_get_subject_name(leaf), &subject) != 0)
		subject = NULL;
	log_notice("client certificate refused: subject=%s reason=%s",
	    subject != NULL ? subject : "(unreadable)", reason);
	free(subject);
	return 0;
}

int
trust_attach(struct trust *t, SSL_CTX *ctx)
{
	STACK_OF(X509_NAME) *names = NULL;
	X509_NAME *name = NULL;
	int i, r = ERR_NOMEM;

	if (t == NULL || ctx == NULL)
		return ERR_INVALID;
	if ((names = sk_X509_NAME_new_null()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(t->anchors); i++) {
		name = X509_NAME_dup(X509_get_subject_name(
		    sk_X509_value(t->anchors, i)));
		if (name == NULL || !sk_X509_NAME_push(names, name))
			goto out;
		name = NULL;
	}
	/* The handshake builds its X509_STORE_CTX from the context's store. */
	SSL_CTX_set1_cert_store(ctx, t->store);
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    NULL);
	SSL_CTX_set_cert_verify_callback(ctx, handshake_verify, t);
	r = 0;
out:
	X509_NAME_free(name);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	return r;
}

/* Names the file and the OpenSSL reason; never key material. */
static int
ossl_fail(char *err, size_t errlen, const char *path, const char *what)
{
	char reason[128];

	log_ossl(LOG_DEBUG, "tls_server_ctx_new", path, reason, sizeof(reason));
	set_msg(err, errlen, "%s: %s (%s)", path, what, reason);
	return ERR_CONFIG;
}

/* A clear message for the commonest mistake, before OpenSSL's own. */
static int
check_readable(const char *path, char *err, size_t errlen)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		set_msg(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ERR_CONFIG;
	}
	fclose(f);
	return 0;
}

static int
load_identity(SSL_CTX *ctx, const struct config_tls *c, char *err,
    size_t errlen)
{
	int r;

	if ((r = check_readable(c->certificate, err, errlen)) != 0 ||
	    (r = check_readable(c->private_key, err, errlen)) != 0)
		return r;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->certificate) != 1)
		return ossl_fail(err, errlen, c->certificate,
		    "cannot load certificate chain");
	if (SSL_CTX_use_PrivateKey_file(ctx, c->private_key,
	    SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL checks the pair already here, with its own words. */
		if (ERR_GET_LIB(ERR_peek_last_error()) == ERR_LIB_X509 &&
		    ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			return ossl_fail(err, errlen, c->private_key,
			    "private key does not match the certificate");
		return ossl_fail(err, errlen, c->private_key,
		    "cannot load private key");
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ossl_fail(err, errlen, c->private_key,
		    "private key does not match the certificate");
	return 0;
}

static int
set_policy(SSL_CTX *ctx, int min_version, char *err, size_t errlen)
{
	if (min_version != TLS1_2_VERSION && min_version != TLS1_3_VERSION) {
		set_msg(err, errlen, "tls: min_version must be 1.2 or 1.3");
		return ERR_CONFIG;
	}
	if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		ERR_clear_error();
		set_msg(err, errlen, "tls: cannot set protocol options");
		return ERR_INTERNAL;
	}
	/* No resumption at all: every login proves the key afresh. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return 0;
}

int
tls_server_ctx_new(const struct config_tls *c, SSL_CTX **ctxp,
    struct trust **trustp, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	int r = ERR_CONFIG;

	set_msg(err, errlen, "%s", "");
	if (c == NULL || ctxp == NULL || trustp == NULL ||
	    c->certificate == NULL || c->private_key == NULL ||
	    c->trust_anchors == NULL) {
		set_msg(err, errlen, "tls: certificate, private_key and "
		    "trust_anchors are required");
		return ERR_CONFIG;
	}
	*ctxp = NULL;
	*trustp = NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		r = ossl_fail(err, errlen, "tls", "cannot create context");
		goto out;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if ((r = set_policy(ctx, c->min_version, err, errlen)) != 0 ||
	    (r = load_identity(ctx, c, err, errlen)) != 0 ||
	    (r = trust_load(c->trust_anchors, c->intermediates, c->crl,
	    c->n_crl, &t, err, errlen)) != 0)
		goto out;
	if ((r = trust_attach(t, ctx)) != 0) {
		set_msg(err, errlen, "tls: %s", err_str(r));
		goto out;
	}
	*ctxp = ctx;
	*trustp = t;
	ctx = NULL;
	t = NULL;
	r = 0;
out:
	if (r != 0 && c->src != NULL)
		prefix_msg(err, errlen, c->src, config_line_of(c, err));
	SSL_CTX_free(ctx);
	trust_free(&t);
	return r;
}
