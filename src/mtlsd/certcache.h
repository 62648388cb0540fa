/* A cache of the parsed certificates clients send.
 *
 * OpenSSL 3.0 spends most of a handshake's certificate cost setting up a
 * provider decoder for each certificate's public key, and a fleet's
 * clients send the same intermediate on every connection, often the same
 * leaf too (a deployment's certificate logging in to device after
 * device, an admin's logins one after the other). libssl parses
 * each entry of the client's Certificate message with d2i_X509 and has no
 * hook there, so the mtlsd executable defines d2i_X509 itself: libssl's
 * call through its PLT binds to this definition (ld exports an
 * executable's definition of a symbol a linked shared library
 * references), and the definition calls libcrypto's through a pointer
 * resolved once with dlsym(RTLD_NEXT).
 *
 * A hit must be exactly what a fresh parse of the same bytes returns: the
 * key is the exact DER of the certificate (SHA-256 to find it, then
 * memcmp of the bytes kept in the entry), and the cache holds parsed
 * bytes, never a verification result: every handshake verifies the chain
 * it got, against the trust and CRLs in force then. CA certificates
 * (basicConstraints CA:TRUE) and leaves are kept in pools of their own,
 * so that many users' leaves never push out an intermediate. The one
 * thing remembered beside the parses is that a certificate's signature
 * checked out with a given key object (X509_verify, interposed the same
 * way): certcache.c says why that is the same answer as checking again.
 *
 * Single-threaded: mtlsd is one process with one event loop; nothing here
 * is locked, and nothing may call d2i_X509 from another thread. */
#ifndef MTLSD_CERTCACHE_H
#define MTLSD_CERTCACHE_H

#include <stddef.h>

#include "err.h"

/* Entries at most per pool (CA certificates, leaves), and remembered
 * signatures likewise; the least recently used goes first. Clients sending
 * many distinct certificates only churn a pool. */
#define CERTCACHE_MAX 16
/* Longer certificates are parsed every time, so that the cache's memory
 * stays small (an intermediate is well under 2 KiB). */
#define CERTCACHE_MAX_DER 8192

struct certcache_stats {
	size_t entries;       /* certificates held now, both pools */
	unsigned long hits;   /* parses answered from the cache */
	unsigned long misses; /* cacheable-looking input that was not there */
	/* X509_verify of a certificate by the key object that verified it
	 * before, answered without the signature arithmetic. */
	unsigned long signature_hits;
};

/* Resolves libcrypto's d2i_X509 and X509_verify, and fetches SHA-256.
 * Call it first in main, before anything parses a certificate (configuration loading does)
 * and before the seccomp filter: dlsym may need system calls. Until it
 * has succeeded every d2i_X509 call returns NULL and every X509_verify
 * -1 (fail closed). Returns 0 or ERR_INTERNAL; mtlsd must not start then.
 * Calling it again is a no-op. */
int certcache_init(void) MTLS_WUR;

/* Turns caching on: from now on certificates parsed by d2i_X509 are
 * kept and answered from the cache. Until then (and after
 * certcache_disable) d2i_X509 is an exact pass-through. mtlsd enables it
 * once its configuration and trust are loaded, before serving. */
void certcache_enable(void);

/* Drops every entry and turns caching off (exact pass-through) until the
 * next certcache_enable: a reload parses its trust files like start-up
 * does. */
void certcache_disable(void);

/* Drops every entry (each cache reference freed; certificates a caller
 * still holds stay valid, they hold their own reference). Called on
 * reload, since a reload may change trust, and at exit. Counters of hits
 * and misses stay. */
void certcache_clear(void);

/* The live counters, owned by this module (borrowed; valid for the life
 * of the process). */
const struct certcache_stats *certcache_stats(void);

/* From now on the counters are kept at where (borrowed, and it must stay
 * valid for the life of the process: mtlsd's slot in the table its
 * workers share), starting from their present values. */
void certcache_count_into(struct certcache_stats *where);

#endif
