#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"
#include "proto.h"
#include "tickets.h"

/*
 * Expiry: a ticket issued at now with lifetime L has expires = now + L and
 * is valid while t < expires; at t == expires it is expired. So it lives
 * exactly L whole seconds: [now, now + L).
 *
 * The table is chained and keyed by SHA-256(ticket text). The key is the
 * hash of 192 random bits, so its first bytes are a uniform bucket index
 * that nobody outside can steer.
 */

#define TSTORE_MIN_BUCKETS 16

struct fpent;

struct tentry {
	unsigned char h[SHA256_DIGEST_LENGTH];
	struct ticket_grant *g;
	struct tentry *next;
	struct fpent *fp;                  /* its certificate's tally */
	struct tentry *fp_prev, *fp_next;  /* that certificate's tickets */
};

/* The tickets of one certificate: counted for the per-certificate cap,
 * listed so that the cap can drop that certificate's expired ones
 * without a scan of the whole store. Exists while n > 0. */
struct fpent {
	char fpr[IDENT_FPR_LEN + 1];
	size_t n;
	struct tentry *head;
	struct fpent *next;    /* bucket chain */
};

struct tstore {
	struct tentry **buckets;
	struct fpent **fp_buckets;  /* n_buckets of them too */
	size_t n_buckets;      /* a power of two */
	size_t max;
	size_t per_cert;       /* 0: no per-certificate cap */
	size_t count;
};

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct tstore *
tstore_new(size_t max)
{
	struct tstore *s = NULL;
	size_t n = TSTORE_MIN_BUCKETS;

	/* About one entry per bucket when full. */
	while (n < max && n < (SIZE_MAX / sizeof(struct tentry *)) / 2)
		n *= 2;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->buckets = calloc(n, sizeof(*s->buckets))) == NULL ||
	    (s->fp_buckets = calloc(n, sizeof(*s->fp_buckets))) == NULL) {
		free(s->buckets);
		free(s);
		return NULL;
	}
	s->n_buckets = n;
	s->max = max;
	return s;
}

static void
tentry_free(struct tentry *e)
{
	if (e == NULL)
		return;
	ticket_grant_free(&e->g);
	OPENSSL_cleanse(e, sizeof(*e));
	free(e);
}

void
tstore_free(struct tstore **sp)
{
	struct tstore *s;
	struct tentry *e, *next;
	struct fpent *f, *fnext;
	size_t i;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	for (i = 0; i < s->n_buckets; i++) {
		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->next;
			tentry_free(e);
		}
		for (f = s->fp_buckets[i]; f != NULL; f = fnext) {
			fnext = f->next;
			free(f);
		}
	}
	free(s->buckets);
	free(s->fp_buckets);
	free(s);
	*sp = NULL;
}

void
ticket_grant_free(struct ticket_grant **gp)
{
	struct ticket_grant *g;

	if (gp == NULL || (g = *gp) == NULL)
		return;
	free(g->user);
	free(g->rule);
	ident_free(&g->id);
	OPENSSL_cleanse(g, sizeof(*g));
	free(g);
	*gp = NULL;
}

static size_t
bucket_of(const struct tstore *s, const unsigned char h[SHA256_DIGEST_LENGTH])
{
	size_t v = 0, i;

	for (i = 0; i < sizeof(v); i++)
		v = (v << 8) | h[i];
	return v & (s->n_buckets - 1);
}

/* --- per certificate ------------------------------------------------------ */

/* FNV-1a: fingerprints are digests of CA-signed certificates, which a
 * client cannot choose to collide in a bucket. */
static size_t
fp_bucket_of(const struct tstore *s, const char *fpr)
{
	uint64_t v = 14695981039346656037ULL;

	for (; *fpr != '\0'; fpr++)
		v = (v ^ (unsigned char)*fpr) * 1099511628211ULL;
	return (size_t)v & (s->n_buckets - 1);
}

static const char *
grant_fpr(const struct ticket_grant *g)
{
	return g->id != NULL ? g->id->fingerprint : "";
}

static struct fpent *
fp_find(const struct tstore *s, const char *fpr)
{
	struct fpent *f;

	for (f = s->fp_buckets[fp_bucket_of(s, fpr)]; f != NULL; f = f->next) {
		if (strcmp(f->fpr, fpr) == 0)
			return f;
	}
	return NULL;
}

/* The tally of fpr, created empty if there is none. */
static int
fp_get(struct tstore *s, const char *fpr, struct fpent **out)
{
	struct fpent *f;
	size_t b;

	if ((f = fp_find(s, fpr)) == NULL) {
		if (strlen(fpr) >= sizeof(f->fpr))
			return ERR_TOOLONG;
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return ERR_NOMEM;
		memcpy(f->fpr, fpr, strlen(fpr) + 1);
		b = fp_bucket_of(s, fpr);
		f->next = s->fp_buckets[b];
		s->fp_buckets[b] = f;
	}
	*out = f;
	return 0;
}

static void
fp_link(struct fpent *f, struct tentry *e)
{
	e->fp = f;
	e->fp_prev = NULL;
	e->fp_next = f->head;
	if (f->head != NULL)
		f->head->fp_prev = e;
	f->head = e;
	f->n++;
}

/* Takes e off its certificate's list; the tally goes with its last
 * ticket. */
static void
fp_unlink(struct tstore *s, struct tentry *e)
{
	struct fpent *f = e->fp, **pp;

	if (f == NULL)
		return;
	if (e->fp_prev != NULL)
		e->fp_prev->fp_next = e->fp_next;
	else
		f->head = e->fp_next;
	if (e->fp_next != NULL)
		e->fp_next->fp_prev = e->fp_prev;
	e->fp = NULL;
	if (--f->n > 0)
		return;
	for (pp = &s->fp_buckets[fp_bucket_of(s, f->fpr)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	free(f);
}

/* Removes e from the store and frees it. */
static void
entry_remove(struct tstore *s, struct tentry *e)
{
	struct tentry **pp;

	for (pp = &s->buckets[bucket_of(s, e->h)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	fp_unlink(s, e);
	s->count--;
	tentry_free(e);
}

/* Drops f's expired tickets (f itself goes with the last one): at most
 * per_cert entries are looked at. */
static void
fp_expire(struct tstore *s, struct fpent *f, time_t now)
{
	struct tentry *e = f->head, *next;

	while (e != NULL) {
		next = e->fp_next;
		if (now >= e->g->expires)
			entry_remove(s, e);
		e = next;
	}
}

/* 0, or ERR_DENIED when fpr holds per_cert live tickets. */
static int
fp_room(struct tstore *s, const char *fpr, time_t now)
{
	struct fpent *f;

	if (s->per_cert == 0 || (f = fp_find(s, fpr)) == NULL ||
	    f->n < s->per_cert)
		return 0;
	fp_expire(s, f, now);
	if ((f = fp_find(s, fpr)) != NULL && f->n >= s->per_cert)
		return ERR_DENIED;
	return 0;
}

void
tstore_set_limits(struct tstore *s, size_t max, size_t per_cert)
{
	if (s == NULL || max == 0)
		return;
	s->max = max;
	s->per_cert = per_cert;
}

size_t
tstore_count_for(const struct tstore *s, const char *fpr)
{
	const struct fpent *f;

	if (s == NULL || fpr == NULL || (f = fp_find(s, fpr)) == NULL)
		return 0;
	return f->n;
}

/* Encodes len bytes (a multiple of 3, so no padding is ever needed) as
 * base64url into out, which holds len / 3 * 4 + 1 bytes. */
static void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		unsigned long v = ((unsigned long)in[i] << 16) |
		    ((unsigned long)in[i + 1] << 8) | in[i + 2];

		out[o++] = b64url[(v >> 18) & 0x3f];
		out[o++] = b64url[(v >> 12) & 0x3f];
		out[o++] = b64url[(v >> 6) & 0x3f];
		out[o++] = b64url[v & 0x3f];
	}
	out[o] = '\0';
}

/* Only a string that could have come from tstore_issue is hashed. */
static int
ticket_well_formed(const char *t)
{
	size_t i;

	for (i = 0; i < TICKET_STR_LEN; i++) {
		if (t[i] == '\0' || strchr(b64url, t[i]) == NULL)
			return 0;
	}
	return t[TICKET_STR_LEN] == '\0';
}

static int
ticket_hash(const char *t, unsigned char h[SHA256_DIGEST_LENGTH])
{
	unsigned int hlen = 0;
	int r;

	r = OSSL_CHECK(EVP_Digest(t, TICKET_STR_LEN, h, &hlen, EVP_sha256(),
	    NULL), "EVP_Digest");
	if (r != 0)
		return r;
	return hlen == SHA256_DIGEST_LENGTH ? 0 : ERR_INTERNAL;
}

int
tstore_issue(struct tstore *s, struct ticket_grant **g, time_t now,
    unsigned lifetime, char out[TICKET_BUFLEN])
{
	unsigned char raw[TICKET_RAW_LEN];
	char text[TICKET_BUFLEN];
	struct tentry *e = NULL;
	struct fpent *f = NULL;
	size_t b;
	int r = ERR_INTERNAL;

	if (s == NULL || g == NULL || *g == NULL || out == NULL ||
	    lifetime == 0)
		return ERR_INVALID;
	if (s->count >= s->max)
		(void)tstore_expire(s, now);
	if (s->count >= s->max) {
		r = ERR_FULL;
		goto out;
	}
	if ((r = fp_room(s, grant_fpr(*g), now)) != 0)
		goto out;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (OSSL_CHECK(RAND_bytes(raw, sizeof(raw)), "RAND_bytes") != 0) {
		r = ERR_TLS;
		goto out;
	}
	b64url_encode(raw, sizeof(raw), text);
	if ((r = ticket_hash(text, e->h)) != 0 ||
	    (r = fp_get(s, grant_fpr(*g), &f)) != 0)
		goto out;

	fp_link(f, e);
	(*g)->expires = now + (time_t)lifetime;
	e->g = *g;
	*g = NULL;
	b = bucket_of(s, e->h);
	e->next = s->buckets[b];
	s->buckets[b] = e;
	e = NULL;
	s->count++;
	memcpy(out, text, TICKET_BUFLEN);
	r = 0;
 out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	tentry_free(e);
	return r;
}

int
tstore_take(struct tstore *s, const char *ticket, time_t now,
    struct ticket_grant **out)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	struct tentry **pp, *e = NULL;
	int r = ERR_INTERNAL;

	if (s == NULL || ticket == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	if (!ticket_well_formed(ticket))
		return ERR_NOTFOUND;
	if ((r = ticket_hash(ticket, h)) != 0)
		goto out;

	r = ERR_NOTFOUND;
	for (pp = &s->buckets[bucket_of(s, h)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (CRYPTO_memcmp((*pp)->h, h, sizeof(h)) == 0)
			break;
	}
	if (*pp == NULL)
		goto out;
	e = *pp;
	*pp = e->next;
	fp_unlink(s, e);
	s->count--;
	if (now >= e->g->expires) {
		r = ERR_EXPIRED;
		goto out;
	}
	*out = e->g;
	e->g = NULL;
	r = 0;
 out:
	OPENSSL_cleanse(h, sizeof(h));
	tentry_free(e);
	return r;
}

size_t
tstore_expire(struct tstore *s, time_t now)
{
	struct tentry **pp, *e;
	size_t i, n = 0;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->n_buckets; i++) {
		pp = &s->buckets[i];
		while ((e = *pp) != NULL) {
			if (now < e->g->expires) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			fp_unlink(s, e);
			tentry_free(e);
			s->count--;
			n++;
		}
	}
	return n;
}

size_t
tstore_count(const struct tstore *s)
{
	return s == NULL ? 0 : s->count;
}

/* Parses a numeric IPv6 or IPv4 address; IPv4 becomes ::ffff:a.b.c.d so
 * that both spellings of one peer compare equal. */
static int
addr_parse(const char *s, struct in6_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, s, a) == 1)
		return 0;
	if (inet_pton(AF_INET, s, &v4) != 1)
		return ERR_INVALID;
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], &v4, sizeof(v4));
	return 0;
}

static int
service_is_local(const char *service, char *const *local_services,
    size_t n_local_services)
{
	size_t i;

	if (service == NULL || service[0] == '\0' || local_services == NULL)
		return 0;
	for (i = 0; i < n_local_services; i++) {
		if (local_services[i] != NULL &&
		    strcmp(local_services[i], service) == 0)
			return 1;
	}
	return 0;
}

static int
addr_binding_ok(const struct ticket_grant *g, const char *service,
    const char *rhost, char *const *local_services, size_t n_local_services)
{
	struct in6_addr want, got;

	if (memchr(g->addr, '\0', sizeof(g->addr)) == NULL)
		return 0;
	if (g->addr[0] == '\0')
		return 1;
	if (rhost == NULL || rhost[0] == '\0')
		return service_is_local(service, local_services,
		    n_local_services);
	/* A host name (sshd with UseDNS) or an unparsable bound address
	 * fails closed. */
	if (addr_parse(g->addr, &want) != 0 || addr_parse(rhost, &got) != 0)
		return 0;
	return memcmp(&want, &got, sizeof(want)) == 0;
}

int
ticket_check(const struct ticket_grant *g, const char *user,
    const char *service, const char *rhost, char *const *local_services,
    size_t n_local_services, uint32_t *reason)
{
	if (reason == NULL)
		return ERR_INVALID;
	*reason = 0;
	if (g == NULL || g->user == NULL || user == NULL)
		return ERR_INVALID;
	if (strcmp(g->user, user) != 0) {
		*reason = DENY_WRONG_USER;
		return ERR_DENIED;
	}
	if (!addr_binding_ok(g, service, rhost, local_services,
	    n_local_services)) {
		*reason = DENY_WRONG_RHOST;
		return ERR_DENIED;
	}
	return 0;
}
