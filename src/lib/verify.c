#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "ident.h"
#include "log.h"
#include "verify.h"

/* One configured CRL file: what was read from it last, and when. */
struct crl_file {
	char *path;
	struct stat seen;            /* the file as last read or tried */
	int bad;                     /* the last try failed (logged once) */
	STACK_OF(X509_CRL) *crls;    /* its last good content, in force */
};

struct trust {
	X509_STORE *store;             /* anchors: what is trusted */
	STACK_OF(X509) *anchors;       /* the same anchors, for the CA list */
	STACK_OF(X509) *intermediates; /* only help build chains */
	struct crl_file *files;        /* the crl files, in config order */
	size_t n_files;
	STACK_OF(X509_CRL) *crls;      /* every file's CRLs: handed to each
	                                  verification, never in the store,
	                                  so that a refresh can replace them */
	STACK_OF(X509_NAME) *crl_issuers; /* every issuer a CRL was ever
	                                     loaded for: fail closed when its
	                                     CRL goes */
	struct trust_opts opts;
	unsigned long vflags;          /* X509_V_FLAG_* of every verification */
	time_t checked;                /* last trust_refresh that stated */
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
		/* "DIR/FILE: ..." for a file of a directory. */
		if (strncmp(msg, keys[i].path, n) == 0 &&
		    (msg[n] == ':' || msg[n] == '/'))
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

/* Reads every PEM object of one regular file. *out owned by the caller. */
static int
pem_read_file(const char *path, STACK_OF(X509_INFO) **out, char *err,
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
cert_file_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	if (e->d_name[0] == '.')
		return 0;
	return (n > 4 && strcmp(e->d_name + n - 4, ".pem") == 0) ||
	    (n > 4 && strcmp(e->d_name + n - 4, ".crt") == 0);
}

/* Byte order, not the locale's: the same directory loads the same way
 * everywhere. */
static int
name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
certs_read_file(const char *path, STACK_OF(X509) *certs, char *err,
    size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *info;
	int i, n = 0, r;

	if ((r = pem_read_file(path, &infos, err, errlen)) != 0)
		return r;
	r = ERR_CONFIG;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		if ((info = sk_X509_INFO_value(infos, i))->x509 == NULL)
			continue;
		if (!X509_add_cert(certs, info->x509, X509_ADD_FLAG_UP_REF)) {
			set_msg(err, errlen, "%s: out of memory", path);
			r = ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n == 0) {
		set_msg(err, errlen, "%s: no certificate found", path);
		goto out;
	}
	r = 0;
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return r;
}

static int
certs_read_dir(const char *dir, STACK_OF(X509) *certs, char *err,
    size_t errlen)
{
	struct dirent **names = NULL;
	char *path = NULL;
	int i, n, r = ERR_CONFIG;

	if ((n = scandir(dir, &names, cert_file_name, name_order)) < 0) {
		set_msg(err, errlen, "%s: cannot read directory: %s", dir,
		    strerror(errno));
		return ERR_CONFIG;
	}
	if (n == 0) {
		set_msg(err, errlen, "%s: no certificate found (no *.pem or "
		    "*.crt file)", dir);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
			path = NULL;
			set_msg(err, errlen, "%s: out of memory", dir);
			r = ERR_NOMEM;
			goto out;
		}
		if ((r = certs_read_file(path, certs, err, errlen)) != 0)
			goto out;
		free(path);
		path = NULL;
	}
	r = 0;
out:
	free(path);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Adds every certificate of path (a PEM file, or a directory of *.pem and
 * *.crt files read in name order) to certs, up-referenced. A file that
 * holds no certificate is an error naming it. */
static int
certs_read(const char *path, STACK_OF(X509) *certs, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		set_msg(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return ERR_CONFIG;
	}
	if (S_ISDIR(st.st_mode))
		return certs_read_dir(path, certs, err, errlen);
	return certs_read_file(path, certs, err, errlen);
}

static int
load_anchors(struct trust *t, const char *path, char *err, size_t errlen)
{
	int i, r;

	if ((r = certs_read(path, t->anchors, err, errlen)) != 0)
		return r;
	for (i = 0; i < sk_X509_num(t->anchors); i++) {
		if (X509_STORE_add_cert(t->store,
		    sk_X509_value(t->anchors, i)) != 1) {
			log_ossl(LOG_DEBUG, __func__, path, NULL, 0);
			set_msg(err, errlen, "%s: cannot add certificate", path);
			return ERR_CONFIG;
		}
	}
	return 0;
}

/* With partial_chain the intermediates are trusted too: a chain may end
 * at one of them. Otherwise they only ever help build a chain. */
static int
load_intermediates(struct trust *t, const char *path, char *err,
    size_t errlen)
{
	X509 *x;
	int i, r;

	if ((r = certs_read(path, t->intermediates, err, errlen)) != 0)
		return r;
	if (!t->opts.partial_chain)
		return 0;
	for (i = 0; i < sk_X509_num(t->intermediates); i++) {
		x = sk_X509_value(t->intermediates, i);
		if (X509_STORE_add_cert(t->store, x) != 1 ||
		    !X509_add_cert(t->anchors, x, X509_ADD_FLAG_UP_REF)) {
			log_ossl(LOG_DEBUG, __func__, path, NULL, 0);
			set_msg(err, errlen, "%s: cannot add certificate", path);
			return ERR_CONFIG;
		}
	}
	return 0;
}

/* --- CRL files ----------------------------------------------------------- */

/* The CRLs of path; *out owned by the caller. A file with none is an
 * error: an emptied file must not silently lift every revocation. */
static int
crls_read(const char *path, STACK_OF(X509_CRL) **out, char *err,
    size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	X509_INFO *info;
	int i, r;

	if ((r = pem_read_file(path, &infos, err, errlen)) != 0)
		return r;
	r = ERR_NOMEM;
	if ((crls = sk_X509_CRL_new_null()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		if ((info = sk_X509_INFO_value(infos, i))->crl == NULL)
			continue;
		if (!sk_X509_CRL_push(crls, info->crl))
			goto out;
		X509_CRL_up_ref(info->crl);
	}
	if (sk_X509_CRL_num(crls) == 0) {
		set_msg(err, errlen, "%s: cannot read CRL: none found", path);
		r = ERR_CONFIG;
		goto out;
	}
	*out = crls;
	crls = NULL;
	r = 0;
out:
	if (r == ERR_NOMEM)
		set_msg(err, errlen, "%s: out of memory", path);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return r;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int
had_crl(const struct trust *t, const X509_NAME *issuer)
{
	int i;

	for (i = 0; i < sk_X509_NAME_num(t->crl_issuers); i++) {
		if (X509_NAME_cmp(sk_X509_NAME_value(t->crl_issuers, i),
		    issuer) == 0)
			return 1;
	}
	return 0;
}

static int
remember_issuers(struct trust *t, STACK_OF(X509_CRL) *crls)
{
	X509_NAME *name;
	int i;

	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		name = X509_CRL_get_issuer(sk_X509_CRL_value(crls, i));
		if (had_crl(t, name))
			continue;
		if ((name = X509_NAME_dup(name)) == NULL ||
		    !sk_X509_NAME_push(t->crl_issuers, name)) {
			X509_NAME_free(name);
			return ERR_NOMEM;
		}
	}
	return 0;
}

/* t->crls from every file's current content. */
static int
crls_rebuild(struct trust *t)
{
	STACK_OF(X509_CRL) *all;
	X509_CRL *crl;
	size_t f;
	int i;

	if ((all = sk_X509_CRL_new_null()) == NULL)
		return ERR_NOMEM;
	for (f = 0; f < t->n_files; f++) {
		for (i = 0; i < sk_X509_CRL_num(t->files[f].crls); i++) {
			crl = sk_X509_CRL_value(t->files[f].crls, i);
			if (!sk_X509_CRL_push(all, crl)) {
				sk_X509_CRL_pop_free(all, X509_CRL_free);
				return ERR_NOMEM;
			}
			X509_CRL_up_ref(crl);
		}
	}
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	t->crls = all;
	return 0;
}

/* Reads f's content into it. On failure f keeps what it had. */
static int
crl_file_read(struct trust *t, struct crl_file *f, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls = NULL;
	int r;

	if ((r = crls_read(f->path, &crls, err, errlen)) != 0)
		return r;
	if ((r = remember_issuers(t, crls)) != 0) {
		set_msg(err, errlen, "%s: out of memory", f->path);
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		return r;
	}
	sk_X509_CRL_pop_free(f->crls, X509_CRL_free);
	f->crls = crls;
	return 0;
}

static int
load_crls(struct trust *t, char *const *paths, size_t n, char *err,
    size_t errlen)
{
	struct crl_file *f;
	size_t i;
	int r;

	if (n == 0)
		return 0;
	if ((t->files = calloc(n, sizeof(*t->files))) == NULL) {
		set_msg(err, errlen, "trust: out of memory");
		return ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		f = &t->files[t->n_files++];
		if ((f->path = strdup(paths[i])) == NULL) {
			set_msg(err, errlen, "trust: out of memory");
			return ERR_NOMEM;
		}
		/* Stated before the read: a change during the read is seen
		 * by the next refresh. */
		if (stat(f->path, &f->seen) != 0) {
			set_msg(err, errlen, "%s: cannot open: %s", f->path,
			    strerror(errno));
			return ERR_CONFIG;
		}
		if ((r = crl_file_read(t, f, err, errlen)) != 0)
			return r;
	}
	if (crls_rebuild(t) != 0) {
		set_msg(err, errlen, "trust: out of memory");
		return ERR_NOMEM;
	}
	return 0;
}

/* Re-reads f if it changed. Returns 1 if its content was replaced, 0 if
 * not, ERR_CONFIG if it changed and could not be read (logged once). */
static int
crl_file_refresh(struct trust *t, struct crl_file *f)
{
	char err[512] = "";
	struct stat st;
	int r;

	if (stat(f->path, &st) != 0) {
		if (f->bad && f->seen.st_ino == 0)
			return ERR_CONFIG;
		memset(&f->seen, 0, sizeof(f->seen));
		set_msg(err, sizeof(err), "%s: cannot open: %s", f->path,
		    strerror(errno));
		r = ERR_CONFIG;
		goto out;
	}
	if (same_file(&st, &f->seen))
		return f->bad ? ERR_CONFIG : 0;
	f->seen = st;
	if ((r = crl_file_read(t, f, err, sizeof(err))) != 0)
		goto out;
	f->bad = 0;
	log_notice("event=crl-reread path=%s crls=%d", LOG_Q(f->path),
	    sk_X509_CRL_num(f->crls));
	return 1;
out:
	f->bad = 1;
	log_error("event=crl-refresh-failed reason=%s "
	    "action=\"keeping the CRLs read before from this file\"",
	    LOG_Q(err[0] != '\0' ? err : "CRL refresh failed"));
	return r;
}

int
trust_refresh(struct trust *t, time_t now)
{
	size_t i;
	int changed = 0, failed = 0, rc;

	if (t == NULL)
		return ERR_INVALID;
	if (t->n_files == 0 || (now >= t->checked && now - t->checked < 1))
		return 0;
	t->checked = now;
	for (i = 0; i < t->n_files; i++) {
		if ((rc = crl_file_refresh(t, &t->files[i])) < 0)
			failed = 1;
		else if (rc > 0)
			changed = 1;
	}
	if (changed && crls_rebuild(t) != 0) {
		/* The old set stays in force. */
		log_error("event=crl-refresh-failed reason=\"out of memory\" "
		    "action=\"CRLs not updated\"");
		return ERR_NOMEM;
	}
	return failed ? ERR_CONFIG : 0;
}

/* --- loading ------------------------------------------------------------- */

static int
trust_new(const struct trust_opts *opts, struct trust **out)
{
	struct trust *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ERR_NOMEM;
	*out = t;
	if (opts != NULL)
		t->opts = *opts;
	/* Never below the floor: security level 2 refuses less anyway. */
	if (t->opts.min_rsa_bits < TRUST_MIN_RSA_BITS)
		t->opts.min_rsa_bits = TRUST_MIN_RSA_BITS;
	if (t->opts.min_ec_bits < TRUST_MIN_EC_BITS)
		t->opts.min_ec_bits = TRUST_MIN_EC_BITS;
	if ((t->store = X509_STORE_new()) == NULL ||
	    (t->anchors = sk_X509_new_null()) == NULL ||
	    (t->intermediates = sk_X509_new_null()) == NULL ||
	    (t->crl_issuers = sk_X509_NAME_new_null()) == NULL)
		return ERR_NOMEM;
	return 0;
}

int
trust_load_opts(const char *anchors, const char *intermediates,
    char *const *crls, size_t n_crls, const struct trust_opts *opts,
    struct trust **out, char *err, size_t errlen)
{
	struct trust *t = NULL;
	int r = ERR_CONFIG;

	set_msg(err, errlen, "%s", "");
	if (out == NULL || anchors == NULL || (crls == NULL && n_crls > 0)) {
		set_msg(err, errlen, "trust: no trust anchors configured");
		return ERR_CONFIG;
	}
	*out = NULL;
	if ((r = trust_new(opts, &t)) != 0) {
		set_msg(err, errlen, "trust: out of memory");
		goto out;
	}
	if ((r = load_anchors(t, anchors, err, errlen)) != 0)
		goto out;
	if (intermediates != NULL &&
	    (r = load_intermediates(t, intermediates, err, errlen)) != 0)
		goto out;
	if ((r = load_crls(t, crls, n_crls, err, errlen)) != 0)
		goto out;
	t->vflags = X509_V_FLAG_X509_STRICT;
	/* Every certificate of the chain is checked against its issuer's
	 * CRL; verify_cb accepts an issuer that has none (unless
	 * require_crl), so one CA's CRL does not lock out another CA. */
	if (n_crls > 0 || t->opts.require_crl)
		t->vflags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	if (t->opts.partial_chain)
		t->vflags |= X509_V_FLAG_PARTIAL_CHAIN;
	if (X509_STORE_set_flags(t->store, t->vflags) != 1) {
		set_msg(err, errlen, "trust: cannot set verification flags");
		r = ERR_INTERNAL;
		goto out;
	}
	t->checked = time(NULL);
	*out = t;
	t = NULL;
	r = 0;
out:
	trust_free(&t);
	return r;
}

int
trust_load(const char *anchors, const char *intermediates, char *const *crls,
    size_t n_crls, struct trust **out, char *err, size_t errlen)
{
	return trust_load_opts(anchors, intermediates, crls, n_crls, NULL, out,
	    err, errlen);
}

void
trust_free(struct trust **tp)
{
	struct trust *t;
	size_t i;

	if (tp == NULL || (t = *tp) == NULL)
		return;
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->anchors, X509_free);
	sk_X509_pop_free(t->intermediates, X509_free);
	for (i = 0; i < t->n_files; i++) {
		free(t->files[i].path);
		sk_X509_CRL_pop_free(t->files[i].crls, X509_CRL_free);
	}
	free(t->files);
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	sk_X509_NAME_pop_free(t->crl_issuers, X509_NAME_free);
	free(t);
	*tp = NULL;
}

/* --- certificate policy -------------------------------------------------- */

static int
has_client_eku(X509 *leaf)
{
	/* The purpose check alone passes a certificate with no EKU at all. */
	return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0 &&
	    (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) != 0;
}

/* Marks the failure in sctx (for the TLS alert and
 * SSL_get_verify_result) and returns ERR_TLS. */
static int
policy_fail(X509_STORE_CTX *sctx, X509 *x, int depth, int code)
{
	X509_STORE_CTX_set_error(sctx, code);
	X509_STORE_CTX_set_error_depth(sctx, depth);
	X509_STORE_CTX_set_current_cert(sctx, x);
	return ERR_TLS;
}

/* RSA and EC keys of at least the configured sizes, Ed25519/Ed448; every
 * other kind (DSA, ...) is refused. Security level 2 refuses RSA < 2048
 * for CAs only, and lets P-224 through. */
static int
check_key(const struct trust *t, X509_STORE_CTX *sctx, X509 *x, int depth,
    char *reason, size_t reasonlen)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const char *who = depth == 0 ? "key" : "CA key";
	int code = depth == 0 ? X509_V_ERR_EE_KEY_TOO_SMALL :
	    X509_V_ERR_CA_KEY_TOO_SMALL;
	int bits, min;

	if (pk == NULL) {
		set_msg(reason, reasonlen, "unreadable public key");
		return policy_fail(sctx, x, depth,
		    X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY);
	}
	bits = EVP_PKEY_get_bits(pk);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		min = t->opts.min_rsa_bits;
		if (bits >= min)
			return 0;
		set_msg(reason, reasonlen, "%s too small: RSA %d bits, at least "
		    "%d required", who, bits, min);
		return policy_fail(sctx, x, depth, code);
	case EVP_PKEY_EC:
		min = t->opts.min_ec_bits;
		if (bits >= min)
			return 0;
		set_msg(reason, reasonlen, "%s too small: EC %d bits, at least "
		    "%d required", who, bits, min);
		return policy_fail(sctx, x, depth, code);
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return 0;
	default:
		set_msg(reason, reasonlen, "%s type not accepted (only RSA, EC, "
		    "Ed25519, Ed448)", who);
		return policy_fail(sctx, x, depth, code);
	}
}

/* SHA-1 (and anything weaker than 112 bits) refused. Security level 2
 * says "CA signature digest algorithm too weak" even for the leaf's own
 * signature: this names it. */
static int
check_signature(X509_STORE_CTX *sctx, X509 *x, int depth, char *reason,
    size_t reasonlen)
{
	int mdnid = NID_undef, secbits = -1;
	uint32_t flags = 0;

	if (X509_get_signature_info(x, &mdnid, NULL, &secbits, &flags) != 1 ||
	    (flags & X509_SIG_INFO_VALID) == 0) {
		ERR_clear_error();
		set_msg(reason, reasonlen, "unknown signature algorithm");
		return policy_fail(sctx, x, depth,
		    X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM);
	}
	if (mdnid == NID_sha1 || mdnid == NID_md5 || mdnid == NID_md5_sha1) {
		set_msg(reason, reasonlen, "%s signature refused%s",
		    mdnid == NID_sha1 ? "SHA-1" : "MD5",
		    depth == 0 ? "" : " (CA certificate)");
		return policy_fail(sctx, x, depth, X509_V_ERR_CA_MD_TOO_WEAK);
	}
	if (secbits < 112) {
		set_msg(reason, reasonlen, "weak signature algorithm refused");
		return policy_fail(sctx, x, depth, X509_V_ERR_CA_MD_TOO_WEAK);
	}
	return 0;
}

static int
check_key_usage(X509_STORE_CTX *sctx, X509 *leaf, char *reason,
    size_t reasonlen)
{
	if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) != 0)
		return 0;
	set_msg(reason, reasonlen, "key usage without digitalSignature");
	return policy_fail(sctx, leaf, 0,
	    X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE);
}

static int
check_lifetime(const struct trust *t, X509_STORE_CTX *sctx, X509 *leaf,
    char *reason, size_t reasonlen)
{
	int days = 0, secs = 0;
	long long life;

	if (t->opts.max_lifetime <= 0)
		return 0;
	if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf),
	    X509_get0_notAfter(leaf)) != 1) {
		ERR_clear_error();
		set_msg(reason, reasonlen, "unreadable validity period");
		return policy_fail(sctx, leaf, 0,
		    X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD);
	}
	life = (long long)days * 86400 + secs;
	if (life <= t->opts.max_lifetime)
		return 0;
	set_msg(reason, reasonlen, "certificate lifetime of %lld s exceeds "
	    "max_lifetime (%ld s)", life, t->opts.max_lifetime);
	return policy_fail(sctx, leaf, 0, X509_V_ERR_APPLICATION_VERIFICATION);
}

/* What the leaf alone shows, before any chain is built, so that the
 * reason names the leaf's own fault. */
static int
check_leaf(const struct trust *t, X509_STORE_CTX *sctx, X509 *leaf,
    char *reason, size_t reasonlen)
{
	int r;

	if ((r = check_key(t, sctx, leaf, 0, reason, reasonlen)) != 0 ||
	    (r = check_signature(sctx, leaf, 0, reason, reasonlen)) != 0 ||
	    (r = check_key_usage(sctx, leaf, reason, reasonlen)) != 0 ||
	    (r = check_lifetime(t, sctx, leaf, reason, reasonlen)) != 0)
		return r;
	return 0;
}

/* The CA certificates of the verified chain: their keys, and the
 * signatures of all but the trust anchor (whose self-signature proves
 * nothing). */
static int
check_chain(const struct trust *t, X509_STORE_CTX *sctx, char *reason,
    size_t reasonlen)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
	int i, n = sk_X509_num(chain), r;
	X509 *x;

	for (i = 1; i < n; i++) {
		x = sk_X509_value(chain, i);
		if ((r = check_key(t, sctx, x, i, reason, reasonlen)) != 0)
			return r;
		if (i < n - 1 &&
		    (r = check_signature(sctx, x, i, reason, reasonlen)) != 0)
			return r;
	}
	return 0;
}

/* --- X509_verify_cert and its callback ----------------------------------- */

static time_t
verify_time(X509_STORE_CTX *sctx)
{
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(sctx);

	if (X509_VERIFY_PARAM_get_flags(p) & X509_V_FLAG_USE_CHECK_TIME)
		return X509_VERIFY_PARAM_get_time(p);
	return time(NULL);
}

/* at <= when, by OpenSSL's comparison (an unreadable time is not). */
static int
time_not_after(const ASN1_TIME *at, time_t when)
{
	return at != NULL && X509_cmp_time(at, &when) < 0;
}

/* The current certificate is an intermediate ending a partial chain:
 * trusted as configured, and its issuer (whose key signs the CRL that
 * would cover it) is not at hand, so its revocation cannot be checked
 * (OpenSSL would try the intermediate's own key). */
static int
partial_anchor(const struct trust *t, X509_STORE_CTX *sctx)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
	X509 *x = X509_STORE_CTX_get_current_cert(sctx);
	int n = sk_X509_num(chain);

	return t->opts.partial_chain && n > 0 &&
	    X509_STORE_CTX_get_error_depth(sctx) == n - 1 &&
	    x == sk_X509_value(chain, n - 1) &&
	    X509_check_issued(x, x) != X509_V_OK;
}

/* The errors of checking a certificate against its issuer's CRL. */
static int
crl_error(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
		return 1;
	default:
		return 0;
	}
}

/* The errors the policy tolerates, given the current certificate or CRL
 * of sctx. */
static int
tolerated(const struct trust *t, X509_STORE_CTX *sctx, int err)
{
	X509 *x = X509_STORE_CTX_get_current_cert(sctx);
	X509_CRL *crl = X509_STORE_CTX_get0_current_crl(sctx);
	time_t now = verify_time(sctx);
	long skew = t->opts.clock_skew;

	if (crl_error(err) && partial_anchor(t, sctx))
		return 1;
	switch (err) {
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return skew > 0 && x != NULL &&
		    time_not_after(X509_get0_notBefore(x), now + skew);
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return skew > 0 && x != NULL &&
		    !time_not_after(X509_get0_notAfter(x), now - skew);
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return skew > 0 && crl != NULL &&
		    time_not_after(X509_CRL_get0_lastUpdate(crl), now + skew);
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return t->opts.crl_grace > 0 && crl != NULL &&
		    !time_not_after(X509_CRL_get0_nextUpdate(crl),
		    now - t->opts.crl_grace);
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		/* An issuer that once had a CRL and lost it fails closed. */
		return !t->opts.require_crl && x != NULL &&
		    !had_crl(t, X509_get_issuer_name(x));
	default:
		return 0;
	}
}

static int
verify_cb(int ok, X509_STORE_CTX *sctx)
{
	const struct trust *t = X509_STORE_CTX_get_app_data(sctx);

	if (ok || t == NULL)
		return ok;
	if (!tolerated(t, sctx, X509_STORE_CTX_get_error(sctx)))
		return 0;
	/* Or the tolerated error would stay as the verify result. */
	X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
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

/* The store context as every verification needs it, whoever made it
 * (the TLS handshake resets the auth level to the SSL security level,
 * and its purpose to ssl_client). */
static int
ctx_setup(const struct trust *t, X509_STORE_CTX *sctx)
{
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(sctx);

	/* Security level 2: CA keys >= 112 bits, no SHA-1 in the chain. */
	X509_VERIFY_PARAM_set_auth_level(p, 2);
	X509_STORE_CTX_set_flags(sctx, t->vflags);
	/* app_data (ex_data index 0, reserved for the application): the
	 * callback only reads through it. */
	if (X509_STORE_CTX_set_app_data(sctx, (void *)t) != 1)
		return ERR_INTERNAL;
	X509_STORE_CTX_set_verify_cb(sctx, verify_cb);
	X509_STORE_CTX_set0_crls(sctx, t->crls);
	if (t->opts.any_purpose)
		return X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_ANY) == 1 ?
		    0 : ERR_INTERNAL;
	return X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT) == 1 ?
	    0 : ERR_INTERNAL;
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
	if (ctx_setup(t, sctx) != 0)
		goto out;
	if ((r = check_leaf(t, sctx, leaf, reason, reasonlen)) != 0)
		goto out;
	r = ERR_TLS;
	X509_STORE_CTX_set0_untrusted(sctx, untrusted);
	rc = X509_verify_cert(sctx);
	X509_STORE_CTX_set0_untrusted(sctx, peer);
	if (rc != 1) {
		set_msg(reason, reasonlen, "%s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(sctx)));
		goto out;
	}
	if ((r = check_chain(t, sctx, reason, reasonlen)) != 0)
		goto out;
	r = ERR_TLS;
	if (!t->opts.any_purpose && !has_client_eku(leaf)) {
		policy_fail(sctx, leaf, 0, X509_V_ERR_INVALID_PURPOSE);
		set_msg(reason, reasonlen, "no clientAuth extended key usage");
		goto out;
	}
	r = 0;
out:
	if (r != 0 && X509_STORE_CTX_get_error(sctx) == X509_V_OK)
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_UNSPECIFIED);
	/* t->crls may be replaced by the next refresh. */
	X509_STORE_CTX_set0_crls(sctx, NULL);
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
	struct trust *t = arg;
	X509 *leaf;
	char reason[256], *subject = NULL;

	/* A CRL replaced on disk counts from the next handshake on. */
	(void)trust_refresh(t, time(NULL));
	if (verify_ctx(t, sctx, reason, sizeof(reason)) == 0)
		return 1;
	if ((leaf = X509_STORE_CTX_get0_cert(sctx)) == NULL ||
	    dn_from_name(X509_get_subject_name(leaf), &subject) != 0)
		subject = NULL;
	log_notice("event=certificate-refused subject=%s reason=%s",
	    LOG_Q(subject != NULL ? subject : "(unreadable)"), LOG_Q(reason));
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
	/* A connection waiting for its peer holds no empty 16 KiB record
	 * buffers: most of what a held connection costs otherwise. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

static void
opts_from_config(const struct config_tls *c, struct trust_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->partial_chain = c->partial_chain;
	o->require_crl = c->require_crl;
	o->crl_grace = c->crl_grace;
	o->max_lifetime = c->max_lifetime;
	o->clock_skew = c->clock_skew;
	o->min_rsa_bits = c->min_rsa_bits;
	o->min_ec_bits = c->min_ec_bits;
}

/* With no intermediates in the certificate file, libssl builds the
 * server's chain from the context's store (the client trust anchors) on
 * every handshake: an X509_verify_cert, a signature check included, per
 * connection. Built once here instead, from the same store, without the
 * root (a client that can verify the server holds it already). A server
 * certificate whose issuer is not in the store is no error: it is sent
 * alone, as libssl would have sent it. If OpenSSL cannot build at all,
 * libssl goes on building per handshake, as before. */
static void
build_chain_once(SSL_CTX *ctx)
{
	STACK_OF(X509) *chain = NULL;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 ||
	    sk_X509_num(chain) > 0)
		return;
	if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_NO_ROOT |
	    SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
	    SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0)
		log_debug("event=server-chain-per-handshake reason=%s",
		    LOG_Q(ERR_reason_error_string(ERR_peek_last_error())));
	ERR_clear_error();
}

int
tls_server_ctx_new(const struct config_tls *c, SSL_CTX **ctxp,
    struct trust **trustp, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	struct trust_opts opts;
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
	opts_from_config(c, &opts);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		r = ossl_fail(err, errlen, "tls", "cannot create context");
		goto out;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if ((r = set_policy(ctx, c->min_version, err, errlen)) != 0 ||
	    (r = load_identity(ctx, c, err, errlen)) != 0 ||
	    (r = trust_load_opts(c->trust_anchors, c->intermediates, c->crl,
	    c->n_crl, &opts, &t, err, errlen)) != 0)
		goto out;
	if ((r = trust_attach(t, ctx)) != 0) {
		set_msg(err, errlen, "tls: %s", err_str(r));
		goto out;
	}
	build_chain_once(ctx);
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
