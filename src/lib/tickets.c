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
 *
 * Both tables (tickets, and certificates) start small and double when they
 * hold more entries than buckets: memory follows what is outstanding, not
 * the configured max. A doubling that cannot be allocated keeps the old
 * table, whose chains are longer but still correct. They never shrink: a
 * peak's buckets (8 bytes each) stay until the store is freed.
 *
 * A certificate's tickets share one ident, held by its tally (struct
 * fpent): 100,000 tickets of one certificate would otherwise hold 100,000
 * equal copies of about a kilobyte each.
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
	/* One reference to the certificate's ident, which its tickets'
	 * grants share; NULL for the tally of grants with no fingerprint. */
	struct ident *id;
};

struct tstore {
	struct tentry **buckets;
	size_t n_buckets;      /* a power of two */
	struct fpent **fp_buckets;
	size_t n_fp_buckets;   /* a power of two */
	size_t n_fp;           /* tallies */
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

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->buckets = calloc(TSTORE_MIN_BUCKETS,
	    sizeof(*s->buckets))) == NULL ||
	    (s->fp_buckets = calloc(TSTORE_MIN_BUCKETS,
	    sizeof(*s->fp_buckets))) == NULL) {
		free(s->buckets);
		free(s);
		return NULL;
	}
	s->n_buckets = TSTORE_MIN_BUCKETS;
	s->n_fp_buckets = TSTORE_MIN_BUCKETS;
	s->max = max;
	return s;
}

static void
fpent_free(struct fpent *f)
{
	if (f == NULL)
		return;
	ident_free(&f->id);
	free(f);
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
	}
	for (i = 0; i < s->n_fp_buckets; i++) {
		for (f = s->fp_buckets[i]; f != NULL; f = fnext) {
			fnext = f->next;
			fpent_free(f);
		}
	}
	free(s->buckets);
	free(s->fp_buckets);
	free(s);
	*sp = NULL;
}

/* *total += n + 1 (a string and its NUL); -1 if that overflows. */
static int
add_str_len(size_t *total, size_t n)
{
	if (n >= SIZE_MAX - *total)
		return -1;
	*total += n + 1;
	return 0;
}

/* Appends s and its NUL at *p; returns where it starts. */
static const char *
put_str(char **p, const char *s, size_t len)
{
	char *start = *p;

	memcpy(start, s, len);
	start[len] = '\0';
	*p += len + 1;
	return start;
}

int
ticket_grant_new(const char *user, const char *rule, const char *addr,
    struct ident **id, struct ticket_grant **out)
{
	struct ticket_grant *g = NULL;
	size_t ul, rl, al, len = sizeof(*g);
	char *p;

	if (user == NULL || rule == NULL || id == NULL || *id == NULL ||
	    out == NULL)
		return ERR_INVALID;
	if (addr == NULL)
		addr = "";
	ul = strlen(user);
	rl = strlen(rule);
	al = strlen(addr);
	if (add_str_len(&len, ul) != 0 || add_str_len(&len, rl) != 0 ||
	    add_str_len(&len, al) != 0)
		return ERR_NOMEM;
	if ((g = calloc(1, len)) == NULL)
		return ERR_NOMEM;
	p = g->text;
	g->user = put_str(&p, user, ul);
	g->rule = put_str(&p, rule, rl);
	g->addr = put_str(&p, addr, al);
	g->size = len;
	g->id = *id;
	*id = NULL;
	*out = g;
	return 0;
}

void
ticket_grant_free(struct ticket_grant **gp)
{
	struct ticket_grant *g;

	if (gp == NULL || (g = *gp) == NULL)
		return;
	ident_free(&g->id);
	OPENSSL_cleanse(g, g->size);
	free(g);
	*gp = NULL;
}

static size_t
bucket_index(const unsigned char h[SHA256_DIGEST_LENGTH], size_t n_buckets)
{
	size_t v = 0, i;

	for (i = 0; i < sizeof(v); i++)
		v = (v << 8) | h[i];
	return v & (n_buckets - 1);
}

static size_t
bucket_of(const struct tstore *s, const unsigned char h[SHA256_DIGEST_LENGTH])
{
	return bucket_index(h, s->n_buckets);
}

/* Doubles the ticket table when it holds more tickets than buckets. */
static void
tickets_grow(struct tstore *s)
{
	struct tentry **nb, *e, *next;
	size_t n, i, b;

	if (s->count <= s->n_buckets ||
	    s->n_buckets > SIZE_MAX / 2 / sizeof(*nb))
		return;
	n = s->n_buckets * 2;
	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < s->n_buckets; i++) {
		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->next;
			b = bucket_index(e->h, n);
			e->next = nb[b];
			nb[b] = e;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = n;
}

/* --- per certificate ------------------------------------------------------ */

/* FNV-1a: fingerprints are digests of CA-signed certificates, which a
 * client cannot choose to collide in a bucket. */
static size_t
fp_index(const char *fpr, size_t n_buckets)
{
	uint64_t v = 14695981039346656037ULL;

	for (; *fpr != '\0'; fpr++)
		v = (v ^ (unsigned char)*fpr) * 1099511628211ULL;
	return (size_t)v & (n_buckets - 1);
}

static size_t
fp_bucket_of(const struct tstore *s, const char *fpr)
{
	return fp_index(fpr, s->n_fp_buckets);
}

/* Doubles the certificate table when it holds more tallies than
 * buckets. */
static void
fps_grow(struct tstore *s)
{
	struct fpent **nb, *f, *next;
	size_t n, i, b;

	if (s->n_fp <= s->n_fp_buckets ||
	    s->n_fp_buckets > SIZE_MAX / 2 / sizeof(*nb))
		return;
	n = s->n_fp_buckets * 2;
	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < s->n_fp_buckets; i++) {
		for (f = s->fp_buckets[i]; f != NULL; f = next) {
			next = f->next;
			b = fp_index(f->fpr, n);
			f->next = nb[b];
			nb[b] = f;
		}
	}
	free(s->fp_buckets);
	s->fp_buckets = nb;
	s->n_fp_buckets = n;
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

/* The tally of g's certificate, created empty if there is none, holding
 * a reference to g's ident for the certificate's later tickets. */
static int
fp_get(struct tstore *s, const struct ticket_grant *g, struct fpent **out)
{
	const char *fpr = grant_fpr(g);
	struct fpent *f;
	size_t b;

	if ((f = fp_find(s, fpr)) == NULL) {
		if (strlen(fpr) >= sizeof(f->fpr))
			return ERR_TOOLONG;
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return ERR_NOMEM;
		memcpy(f->fpr, fpr, strlen(fpr) + 1);
		/* No fingerprint names no certificate: nothing to share. */
		if (fpr[0] != '\0')
			f->id = ident_ref(g->id);
		b = fp_bucket_of(s, fpr);
		f->next = s->fp_buckets[b];
		s->fp_buckets[b] = f;
		s->n_fp++;
	}
	*out = f;
	return 0;
}

/* Points g at the ident its certificate's tickets share and drops its own
 * copy. An ident is a pure function of the certificate's DER and the
 * fingerprint is SHA-256 of that DER, so equal fingerprints mean equal
 * idents. */
static void
fp_share(const struct fpent *f, struct ticket_grant *g)
{
	if (f->id == NULL || g->id == NULL || g->id == f->id ||
	    strcmp(f->id->fingerprint, g->id->fingerprint) != 0)
		return;
	ident_free(&g->id);
	g->id = ident_ref(f->id);
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
	s->n_fp--;
	fpent_free(f);
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
	    (r = fp_get(s, *g, &f)) != 0)
		goto out;

	fp_link(f, e);
	fp_share(f, *g);
	(*g)->expires = now + (time_t)lifetime;
	e->g = *g;
	*g = NULL;
	b = bucket_of(s, e->h);
	e->next = s->buckets[b];
	s->buckets[b] = e;
	e = NULL;
	s->count++;
	/* Here rather than where the tables fill, so that a doubling once
	 * refused is tried again by the next issue. */
	tickets_grow(s);
	fps_grow(s);
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
	if (g == NULL || g->user == NULL || g->addr == NULL || user == NULL)
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
