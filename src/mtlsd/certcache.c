#include "config.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certcache.h"
#include "err.h"

/* Why sharing one X509 object between connections is safe: a parsed
 * certificate is only read after d2i_X509, by libssl, by the verification
 * (verify.c, X509_verify_cert) and by the policy and OCSP code, none of
 * which sets or signs anything on a peer certificate (no X509_set_*,
 * X509_sign, X509_add_ext, X509_alias_set1, X509_add1_trust_object ... in
 * src/mtlsd or src/lib). What OpenSSL caches inside the object
 * (extension flags, the SHA-1 fingerprint) is computed from its bytes
 * alone, so a shared object answers every caller the same. Two things
 * OpenSSL does write into a certificate are kept out of the cache:
 *   - d2i_X509_AUX parses trust settings that follow the DER into the
 *     object it got from d2i_X509: only input that is exactly one
 *     certificate (len equal to its DER's extent) is cached, which is what
 *     libssl passes;
 *   - X509_verify_cert copies DSA domain parameters down the chain into a
 *     key that lacks them (X509_get_pubkey_parameters): a certificate
 *     whose key misses parameters is never cached.
 * Every object comes from the default library context, as libssl's
 * X509_new_ex does in mtlsd (SSL_CTX_new, no other context). */

typedef X509 *d2i_x509_fn(X509 **a, const unsigned char **in, long len);

enum pool {
	POOL_CA,     /* basicConstraints CA:TRUE (X509_check_ca 1) */
	POOL_LEAF,   /* everything else: the clients' own certificates */
	N_POOLS
};
typedef int x509_verify_fn(X509 *a, EVP_PKEY *r);

struct entry {
	unsigned char hash[SHA256_DIGEST_LENGTH];
	unsigned char *der;   /* owned: the exact bytes x was parsed from */
	size_t len;
	X509 *x;              /* one reference, owned by the cache */
	unsigned long used;   /* cc.clock at the last hit or the insert */
};

/* X509_verify(x, signer) returned 1. Both references are owned, so that
 * no other certificate or key can be made at either address while the
 * pair is here: the pointers name those very objects. */
struct sig {
	X509 *x;
	EVP_PKEY *signer;
	unsigned long used;
};

static struct {
	d2i_x509_fn *real;    /* libcrypto's d2i_X509; NULL: fail closed */
	x509_verify_fn *real_verify; /* libcrypto's X509_verify; likewise */
	EVP_MD *sha256;       /* fetched once, kept for the process */
	EVP_MD_CTX *md;       /* reused for every digest: no allocation */
	int enabled;
	/* Per pool (enum pool): clients' leaves come and go with their
	 * users and must not push out the few CA certificates. */
	struct entry e[N_POOLS][CERTCACHE_MAX];
	size_t n[N_POOLS];
	struct sig sig[N_POOLS][CERTCACHE_MAX];
	size_t n_sig[N_POOLS];
	unsigned long clock;
	struct certcache_stats own_stats;
	struct certcache_stats *stats;   /* &own_stats, or where
	                                    certcache_count_into says */
} cc = { .stats = &cc.own_stats };

int
certcache_init(void)
{
	void *sym, *vsym;
	int r = ERR_INTERNAL;

	if (cc.real != NULL)
		return 0;
	if ((cc.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (cc.md = EVP_MD_CTX_new()) == NULL)
		goto out;
	/* Only this file defines d2i_X509 in the executable: the next one
	 * in the lookup order is libcrypto's. */
	if ((sym = dlsym(RTLD_NEXT, "d2i_X509")) == NULL ||
	    (vsym = dlsym(RTLD_NEXT, "X509_verify")) == NULL)
		goto out;
	/* POSIX guarantees that a dlsym result converts to a function
	 * pointer; ISO C has no cast between the two, hence the copy. */
	memcpy(&cc.real_verify, &vsym, sizeof(cc.real_verify));
	memcpy(&cc.real, &sym, sizeof(cc.real));
	r = 0;
out:
	if (r != 0) {
		ERR_clear_error();
		EVP_MD_CTX_free(cc.md);
		EVP_MD_free(cc.sha256);
		cc.md = NULL;
		cc.sha256 = NULL;
	}
	return r;
}

void
certcache_enable(void)
{
	cc.enabled = 1;
}

void
certcache_disable(void)
{
	cc.enabled = 0;
	certcache_clear();
}

static void
entry_clear(struct entry *e)
{
	X509_free(e->x);
	free(e->der);
	memset(e, 0, sizeof(*e));
}

static void
sig_clear(struct sig *g)
{
	X509_free(g->x);
	EVP_PKEY_free(g->signer);
	memset(g, 0, sizeof(*g));
}

void
certcache_clear(void)
{
	for (size_t p = 0; p < N_POOLS; p++) {
		for (size_t i = 0; i < cc.n[p]; i++)
			entry_clear(&cc.e[p][i]);
		cc.n[p] = 0;
		for (size_t i = 0; i < cc.n_sig[p]; i++)
			sig_clear(&cc.sig[p][i]);
		cc.n_sig[p] = 0;
	}
	cc.stats->entries = 0;
}

const struct certcache_stats *
certcache_stats(void)
{
	return cc.stats;
}

void
certcache_count_into(struct certcache_stats *where)
{
	*where = *cc.stats;
	cc.stats = where;
}

/* --- the key ------------------------------------------------------------ */

static int
der_hash(const unsigned char *der, size_t len,
    unsigned char hash[SHA256_DIGEST_LENGTH])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex2(cc.md, cc.sha256, NULL) != 1 ||
	    EVP_DigestUpdate(cc.md, der, len) != 1 ||
	    EVP_DigestFinal_ex(cc.md, hash, &n) != 1 ||
	    n != SHA256_DIGEST_LENGTH) {
		ERR_clear_error();
		return ERR_INTERNAL;
	}
	return 0;
}

/* 0 when p[0..len) is exactly one definite-length DER SEQUENCE, as
 * libssl passes each certificate of a chain, of a size worth keeping;
 * its SHA-256 is then in hash. ERR_INVALID for anything else, which goes
 * to the real parser untouched: BER's indefinite length is OpenSSL's to
 * judge, and input with bytes after the certificate is never cached,
 * since d2i_X509_AUX parses those into the object it gets back. */
static int
cache_key(const unsigned char *p, long len,
    unsigned char hash[SHA256_DIGEST_LENGTH])
{
	const unsigned char *q = p;
	long body = 0;
	int tag = 0, xclass = 0, rc;

	if (p == NULL || len <= 0 || len > CERTCACHE_MAX_DER)
		return ERR_INVALID;
	/* The real parser reports its own errors for bad input. */
	ERR_set_mark();
	rc = ASN1_get_object(&q, &body, &tag, &xclass, len);
	ERR_pop_to_mark();
	/* Not 0x20 exactly: an error (0x80), a primitive encoding, or an
	 * indefinite length (0x21). */
	if (rc != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    xclass != V_ASN1_UNIVERSAL || body != len - (q - p))
		return ERR_INVALID;
	return der_hash(p, (size_t)len, hash);
}

/* The hash only finds the candidate; the bytes decide. */
static struct entry *
lookup(const unsigned char hash[SHA256_DIGEST_LENGTH],
    const unsigned char *der, size_t len)
{
	for (size_t p = 0; p < N_POOLS; p++) {
		for (size_t i = 0; i < cc.n[p]; i++) {
			struct entry *e = &cc.e[p][i];

			if (e->len == len &&
			    memcmp(e->hash, hash, SHA256_DIGEST_LENGTH) == 0 &&
			    memcmp(e->der, der, len) == 0)
				return e;
		}
	}
	return NULL;
}

/* --- hits and inserts ------------------------------------------------ */

/* What the real d2i_X509 does on success, with the cached object: *a
 * (libssl's fresh X509_new_ex) replaced, *in advanced past the
 * certificate. The caller gets its own reference. */
static X509 *
hit(struct entry *e, X509 **a, const unsigned char **in, long len)
{
	if (X509_up_ref(e->x) != 1)
		return cc.real(a, in, len);
	e->used = ++cc.clock;
	cc.stats->hits++;
	if (a != NULL) {
		X509_free(*a);
		*a = e->x;
	}
	*in += e->len;
	return e->x;
}

/* CA certificates (basicConstraints CA:TRUE: X509_check_ca 1, not the
 * 3, 4 and 5 it gives older or extension-less certificates) go to their
 * own pool; a client certificate that logs in again and again (a
 * deployment's one certificate, say) is worth keeping too, apart, so that
 * many users' leaves never push out an intermediate. */
static enum pool
pool_of(X509 *x)
{
	int ca;

	/* The caller's error queue stays as the real parse left it. */
	ERR_set_mark();
	ca = X509_check_ca(x) == 1;
	ERR_pop_to_mark();
	return ca ? POOL_CA : POOL_LEAF;
}

/* A certificate OpenSSL found consistent, with a key that needs nothing
 * from its issuer. */
static int
worth_keeping(X509 *x)
{
	EVP_PKEY *key;
	int keep;

	ERR_set_mark();
	keep = (X509_get_extension_flags(x) & EXFLAG_INVALID) == 0 &&
	    (key = X509_get0_pubkey(x)) != NULL &&
	    EVP_PKEY_missing_parameters(key) == 0;
	ERR_pop_to_mark();
	return keep;
}

static size_t
entries(void)
{
	size_t n = 0;

	for (size_t p = 0; p < N_POOLS; p++)
		n += cc.n[p];
	return n;
}

static struct entry *
slot_for_insert(enum pool p)
{
	struct entry *lru;

	if (cc.n[p] < CERTCACHE_MAX)
		return &cc.e[p][cc.n[p]++];
	lru = &cc.e[p][0];
	for (size_t i = 1; i < cc.n[p]; i++) {
		if (cc.e[p][i].used < lru->used)
			lru = &cc.e[p][i];
	}
	entry_clear(lru);
	return lru;
}

/* Keeps x (one more reference) under the bytes it was parsed from. A
 * failure only means the next parse is a miss again. */
static void
insert(const unsigned char hash[SHA256_DIGEST_LENGTH],
    const unsigned char *der, size_t len, X509 *x)
{
	unsigned char *copy = NULL;
	struct entry *e;

	if (!worth_keeping(x) || (copy = malloc(len)) == NULL)
		return;
	if (X509_up_ref(x) != 1) {
		free(copy);
		return;
	}
	memcpy(copy, der, len);
	e = slot_for_insert(pool_of(x));
	memcpy(e->hash, hash, SHA256_DIGEST_LENGTH);
	e->der = copy;
	e->len = len;
	e->x = x;
	e->used = ++cc.clock;
	cc.stats->entries = entries();
}

/* --- the interposed parser ----------------------------------------------- */

/* The prototype of <openssl/x509.h>. Disabled, or for anything that is
 * not exactly one certificate of cacheable size (cache_key), it is the
 * real d2i_X509 with the caller's arguments unchanged. A miss is the
 * real parse too, with the caller's arguments; only its result is kept. */
X509 *
d2i_X509(X509 **a, const unsigned char **in, long len)
{
	unsigned char hash[SHA256_DIGEST_LENGTH];
	const unsigned char *start;
	struct entry *e;
	X509 *x;

	if (cc.real == NULL) {
		ERR_raise(ERR_LIB_X509, ERR_R_INIT_FAIL);
		return NULL;
	}
	if (!cc.enabled || in == NULL || cache_key(*in, len, hash) != 0)
		return cc.real(a, in, len);
	if ((e = lookup(hash, *in, (size_t)len)) != NULL)
		return hit(e, a, in, len);
	cc.stats->misses++;
	start = *in;
	if ((x = cc.real(a, in, len)) == NULL)
		return NULL;
	/* The bytes are the caller's until it returns: copied in insert. */
	if (*in == start + len)
		insert(hash, start, (size_t)len, x);
	return x;
}

/* --- the interposed signature check ------------------------------------- */

static struct sig *
sig_lookup(const X509 *x, const EVP_PKEY *signer)
{
	for (size_t p = 0; p < N_POOLS; p++) {
		for (size_t i = 0; i < cc.n_sig[p]; i++) {
			if (cc.sig[p][i].x == x && cc.sig[p][i].signer == signer)
				return &cc.sig[p][i];
		}
	}
	return NULL;
}

/* Only with a signer's key that needs nothing more: X509_verify_cert
 * copies missing DSA parameters into a key, which would change what it
 * checks. In the pool of x (CA certificates apart from leaves, as for
 * parses). */
static void
sig_insert(X509 *x, EVP_PKEY *signer)
{
	enum pool p = pool_of(x);
	struct sig *g;
	int keep;

	ERR_set_mark();
	keep = EVP_PKEY_missing_parameters(signer) == 0;
	ERR_pop_to_mark();
	if (!keep)
		return;
	if (X509_up_ref(x) != 1)
		return;
	if (EVP_PKEY_up_ref(signer) != 1) {
		X509_free(x);
		return;
	}
	if (cc.n_sig[p] < CERTCACHE_MAX) {
		g = &cc.sig[p][cc.n_sig[p]++];
	} else {
		g = &cc.sig[p][0];
		for (size_t i = 1; i < cc.n_sig[p]; i++) {
			if (cc.sig[p][i].used < g->used)
				g = &cc.sig[p][i];
		}
		sig_clear(g);
	}
	g->x = x;
	g->signer = signer;
	g->used = ++cc.clock;
}

/* The prototype of <openssl/x509.h>. X509_verify_cert checks signatures
 * in the chain through this function (libcrypto calls it through its
 * PLT, as libssl calls d2i_X509): with the certificates cached, the same
 * objects are checked with the same keys on every connection. Remembered:
 * that X509_verify(x, signer) returned 1, x and signer
 * being the very objects (held by the entry, so that their addresses name
 * them and nothing else). A signature check is a pure function of the
 * certificate's bytes and the key, so answering 1 again for the same pair
 * is what the check would say. Anything else, any failure, any other
 * object, is the real check. The rest of the verification (validity,
 * revocation, the chain's constraints, key usage) runs on every
 * connection, and so does the proof that the client holds the leaf's key
 * (TLS CertificateVerify, which libssl checks outside this function). */
int
X509_verify(X509 *a, EVP_PKEY *r)
{
	struct sig *g;
	int rc;

	if (cc.real_verify == NULL) {
		ERR_raise(ERR_LIB_X509, ERR_R_INIT_FAIL);
		return -1;
	}
	if (!cc.enabled || a == NULL || r == NULL)
		return cc.real_verify(a, r);
	if ((g = sig_lookup(a, r)) != NULL) {
		g->used = ++cc.clock;
		cc.stats->signature_hits++;
		return 1;
	}
	rc = cc.real_verify(a, r);
	if (rc == 1)
		sig_insert(a, r);
	return rc;
}
