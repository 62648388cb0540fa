#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "policy.h"

/* The longest local user name accepted: useradd's limit on Linux. */
#define USER_NAME_MAX 32
/* Longest email address compared (RFC 5321 path limit, with room). */
#define EMAIL_MAX 512

/* --- the index -------------------------------------------------------------
 *
 * Each rule that has an exact key (fingerprint, serial, subject, SAN
 * email) is filed under one of them, the most selective, in one hash
 * table whose keys carry the kind ("f:", "s:", "d:", "e:"). A rule can
 * only match a certificate that has that value, so a decision looks up
 * the certificate's values and evaluates only the rules found, plus the
 * rules with no exact key, which are always evaluated. */

enum index_kind {
	IDX_NONE,
	IDX_FINGERPRINT,
	IDX_SERIAL,
	IDX_SUBJECT,
	IDX_EMAIL,
};

struct index_entry {
	char *key;                 /* kind prefix + value */
	size_t *rules;             /* rule numbers, ascending */
	size_t n, cap;
	struct index_entry *next;  /* same bucket */
};

struct policy_index {
	struct index_entry **buckets;
	size_t n_buckets;          /* a power of two */
	size_t *scan;              /* rules with no exact key, ascending */
	size_t n_scan;
};

static enum index_kind
rule_index_kind(const struct rule *r)
{
	if (r->fingerprint != NULL)
		return IDX_FINGERPRINT;
	if (r->serial != NULL)
		return IDX_SERIAL;
	if (r->subject != NULL)
		return IDX_SUBJECT;
	if (r->san_email != NULL)
		return IDX_EMAIL;
	return IDX_NONE;
}

static const char *
index_kind_key(enum index_kind k)
{
	switch (k) {
	case IDX_FINGERPRINT:
		return "fingerprint";
	case IDX_SERIAL:
		return "serial";
	case IDX_SUBJECT:
		return "subject";
	case IDX_EMAIL:
		return "san_email";
	case IDX_NONE:
	default:
		return "?";
	}
}

/* FNV-1a over the kind and the value: keys come from the config and from
 * CA-verified certificates, so flooding is not a concern. */
static uint64_t
index_hash(char kind, const char *v)
{
	uint64_t h = 14695981039346656037ULL;

	h = (h ^ (unsigned char)kind) * 1099511628211ULL;
	for (; *v != '\0'; v++)
		h = (h ^ (unsigned char)*v) * 1099511628211ULL;
	return h;
}

static char
kind_char(enum index_kind k)
{
	switch (k) {
	case IDX_FINGERPRINT:
		return 'f';
	case IDX_SERIAL:
		return 's';
	case IDX_SUBJECT:
		return 'd';
	case IDX_EMAIL:
		return 'e';
	case IDX_NONE:
	default:
		return '?';
	}
}

static const struct index_entry *
index_find(const struct policy_index *ix, enum index_kind k, const char *v)
{
	const struct index_entry *e;
	char kc = kind_char(k);
	size_t b = (size_t)index_hash(kc, v) & (ix->n_buckets - 1);

	for (e = ix->buckets[b]; e != NULL; e = e->next) {
		if (e->key[0] == kc && strcmp(e->key + 1, v) == 0)
			return e;
	}
	return NULL;
}

static int
size_push(size_t **v, size_t *n, size_t *cap, size_t x)
{
	size_t *nv, ncap;

	if (*n == *cap) {
		ncap = *cap == 0 ? 4 : *cap * 2;
		if ((nv = reallocarray(*v, ncap, sizeof(*nv))) == NULL)
			return ERR_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int
index_add(struct policy_index *ix, enum index_kind k, const char *v,
    size_t rule)
{
	struct index_entry *e;
	char kc = kind_char(k);
	size_t b = (size_t)index_hash(kc, v) & (ix->n_buckets - 1);

	for (e = ix->buckets[b]; e != NULL; e = e->next) {
		if (e->key[0] == kc && strcmp(e->key + 1, v) == 0)
			return size_push(&e->rules, &e->n, &e->cap, rule);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ERR_NOMEM;
	if (asprintf(&e->key, "%c%s", kc, v) < 0) {
		free(e);
		return ERR_NOMEM;
	}
	e->next = ix->buckets[b];
	ix->buckets[b] = e;
	return size_push(&e->rules, &e->n, &e->cap, rule);
}

static void
index_free(struct policy_index **ixp)
{
	struct policy_index *ix = *ixp;
	struct index_entry *e, *next;
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; ix->buckets != NULL && i < ix->n_buckets; i++) {
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e->rules);
			free(e);
		}
	}
	free(ix->buckets);
	free(ix->scan);
	free(ix);
	*ixp = NULL;
}

static const char *
rule_index_value(const struct rule *r, enum index_kind k)
{
	switch (k) {
	case IDX_FINGERPRINT:
		return r->fingerprint;
	case IDX_SERIAL:
		return r->serial;
	case IDX_SUBJECT:
		return r->subject;
	case IDX_EMAIL:
		return r->san_email;
	case IDX_NONE:
	default:
		return NULL;
	}
}

int
policy_index_build(struct policy *p)
{
	struct policy_index *ix = NULL;
	enum index_kind k;
	size_t i, scan_cap = 0;
	int r = ERR_NOMEM;

	if (p == NULL)
		return ERR_INVALID;
	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		goto out;
	/* About one entry per bucket at most. */
	for (ix->n_buckets = 16; ix->n_buckets < p->n_rules;)
		ix->n_buckets *= 2;
	if ((ix->buckets = calloc(ix->n_buckets, sizeof(*ix->buckets))) == NULL)
		goto out;
	for (i = 0; i < p->n_rules; i++) {
		k = rule_index_kind(&p->rules[i]);
		if (k == IDX_NONE)
			r = size_push(&ix->scan, &ix->n_scan, &scan_cap, i);
		else
			r = index_add(ix, k, rule_index_value(&p->rules[i], k), i);
		if (r != 0)
			goto out;
	}
	index_free(&p->index);
	p->index = ix;
	ix = NULL;
	r = 0;
out:
	index_free(&ix);
	return r;
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* A SAN email in the form rule emails are stored in: the domain
 * lowercased (domains are case-insensitive, local parts are not). 0 if
 * it has no '@' or does not fit. */
static int
email_canon(const char *in, char out[EMAIL_MAX])
{
	const char *at = strrchr(in, '@');
	size_t n = strlen(in), i;

	if (at == NULL || n >= EMAIL_MAX)
		return 0;
	memcpy(out, in, n + 1);
	for (i = (size_t)(at - in); i < n; i++) {
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	}
	return 1;
}

static int
add_found(const struct index_entry *e, size_t **v, size_t *n, size_t *cap)
{
	size_t i;
	int r;

	for (i = 0; e != NULL && i < e->n; i++) {
		if ((r = size_push(v, n, cap, e->rules[i])) != 0)
			return r;
	}
	return 0;
}

/* The rules that may match id, ascending and without repeats. *out owned
 * by the caller. */
static int
index_candidates(const struct policy_index *ix, const struct ident *id,
    size_t **out, size_t *n_out)
{
	char email[EMAIL_MAX];
	size_t *v = NULL, n = 0, cap = 0, i, j;
	int r = 0;

	if (id->fingerprint[0] != '\0')
		r = add_found(index_find(ix, IDX_FINGERPRINT, id->fingerprint),
		    &v, &n, &cap);
	if (r == 0 && id->serial != NULL)
		r = add_found(index_find(ix, IDX_SERIAL, id->serial), &v, &n,
		    &cap);
	if (r == 0 && id->subject != NULL)
		r = add_found(index_find(ix, IDX_SUBJECT, id->subject), &v, &n,
		    &cap);
	for (i = 0; r == 0 && i < id->n_san_email; i++) {
		if (email_canon(id->san_email[i], email))
			r = add_found(index_find(ix, IDX_EMAIL, email), &v, &n,
			    &cap);
	}
	for (i = 0; r == 0 && i < ix->n_scan; i++)
		r = size_push(&v, &n, &cap, ix->scan[i]);
	if (r != 0) {
		free(v);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_size);
	/* The same email twice in a certificate finds a rule twice. */
	for (i = j = 0; i < n; i++) {
		if (j == 0 || v[j - 1] != v[i])
			v[j++] = v[i];
	}
	*out = v;
	*n_out = j;
	return 0;
}

/* --- matching -------------------------------------------------------------- */

static void why_set(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	/* Values from the config may hold anything: keep it one line. */
	for (i = 0; why[i] != '\0'; i++) {
		if ((unsigned char)why[i] < 0x20 || why[i] == 0x7f)
			why[i] = '?';
	}
}

static int
strv_has(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i] != NULL && strcmp(v[i], s) == 0)
			return 1;
	}
	return 0;
}

static int
has_email(const struct ident *id, const char *want)
{
	char email[EMAIL_MAX];
	size_t i;

	for (i = 0; i < id->n_san_email; i++) {
		if (email_canon(id->san_email[i], email) &&
		    strcmp(email, want) == 0)
			return 1;
	}
	return 0;
}

static int
has_email_domain(const struct ident *id, const char *domain)
{
	const char *at;
	size_t i;

	for (i = 0; i < id->n_san_email; i++) {
		if ((at = strrchr(id->san_email[i], '@')) != NULL &&
		    strcasecmp(at + 1, domain) == 0)
			return 1;
	}
	return 0;
}

static int
has_dns(const struct ident *id, const char *name)
{
	size_t i;

	for (i = 0; i < id->n_san_dns; i++) {
		if (strcasecmp(id->san_dns[i], name) == 0)
			return 1;
	}
	return 0;
}

static int
has_ava(const struct ident *id, const struct rule_attr *a)
{
	size_t i;

	for (i = 0; i < id->n_avas; i++) {
		if (strcmp(id->avas[i].type, a->type) == 0 &&
		    strcmp(id->avas[i].value, a->value) == 0)
			return 1;
	}
	return 0;
}

static int
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Whether every match key of r holds for id; if not, why names the first
 * one that fails. Every kind of match goes here, so that policy_decide,
 * policy_explain and policy_users cannot disagree. */
static int
rule_keys_match(const struct rule *r, const struct ident *id, char *why,
    size_t len)
{
	size_t i;

	if (r->fingerprint != NULL && !str_eq(r->fingerprint, id->fingerprint))
		return why_set(why, len, "fingerprint differs"), 0;
	if (r->serial != NULL && !str_eq(r->serial, id->serial))
		return why_set(why, len, "serial differs"), 0;
	if (r->subject != NULL && !str_eq(r->subject, id->subject))
		return why_set(why, len, "subject differs"), 0;
	if (r->issuer != NULL && !str_eq(r->issuer, id->issuer))
		return why_set(why, len, "issuer differs"), 0;
	for (i = 0; i < r->n_attrs; i++) {
		if (!has_ava(id, &r->attrs[i]))
			return why_set(why, len, "subject_attrs: no %s=%s",
			    r->attrs[i].type, r->attrs[i].value), 0;
	}
	if (r->san_email != NULL && !has_email(id, r->san_email))
		return why_set(why, len, "no SAN email %s", r->san_email), 0;
	if (r->san_email_domain != NULL &&
	    !has_email_domain(id, r->san_email_domain))
		return why_set(why, len, "no SAN email in domain %s",
		    r->san_email_domain), 0;
	if (r->san_dns != NULL && !has_dns(id, r->san_dns))
		return why_set(why, len, "no SAN DNS %s", r->san_dns), 0;
	if (r->san_uri != NULL &&
	    !strv_has(id->san_uri, id->n_san_uri, r->san_uri))
		return why_set(why, len, "no SAN URI %s", r->san_uri), 0;
	if (r->policy_oid != NULL &&
	    !strv_has(id->policy_oids, id->n_policy_oids, r->policy_oid))
		return why_set(why, len, "no certificate policy %s",
		    r->policy_oid), 0;
	return 1;
}

/* A source address, parsed once per decision. */
struct addr {
	int known;
	int family;
	unsigned char b[16];
};

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* A numeric address; an IPv4-mapped IPv6 one becomes IPv4. */
static int
addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (s == NULL)
		return ERR_INVALID;
	if (inet_pton(AF_INET, s, a->b) == 1) {
		a->family = AF_INET;
	} else if (inet_pton(AF_INET6, s, a->b) == 1) {
		a->family = AF_INET6;
		if (memcmp(a->b, v4mapped, sizeof(v4mapped)) == 0) {
			memmove(a->b, a->b + 12, 4);
			memset(a->b + 4, 0, 12);
			a->family = AF_INET;
		}
	} else {
		return ERR_INVALID;
	}
	a->known = 1;
	return 0;
}

static int
cidr_has(const struct policy_cidr *c, const struct addr *a)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	unsigned char mask;

	if (!a->known || a->family != c->family)
		return 0;
	if (memcmp(c->addr, a->b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a->b[full] & mask) == c->addr[full];
}

int
policy_cidr_match(const struct policy_cidr *c, const char *addr)
{
	struct addr a;

	if (c == NULL || addr_parse(addr, &a) != 0)
		return ERR_INVALID;
	return cidr_has(c, &a);
}

int
policy_cidr_parse(const char *s, struct policy_cidr *out)
{
	char text[INET6_ADDRSTRLEN + 1], *end;
	const char *slash;
	struct addr a;
	unsigned long prefix;
	unsigned max, i, bit;
	size_t n;

	if (s == NULL || out == NULL)
		return ERR_INVALID;
	slash = strchr(s, '/');
	n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(text))
		return ERR_INVALID;
	memcpy(text, s, n);
	text[n] = '\0';
	if (addr_parse(text, &a) != 0)
		return ERR_INVALID;
	/* A mapped network is written in IPv6 bits, stored in IPv4 ones. */
	max = strchr(text, ':') != NULL ? 128 : 32;
	prefix = max;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' ||
		    (slash[1] == '0' && slash[2] != '\0'))
			return ERR_INVALID;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > max)
			return ERR_INVALID;
	}
	if (a.family == AF_INET && max == 128) {
		if (prefix < 96)
			return ERR_INVALID; /* spans more than the mapped range */
		prefix -= 96;
	}
	memset(out, 0, sizeof(*out));
	out->family = a.family;
	out->prefix = (unsigned)prefix;
	memcpy(out->addr, a.b, sizeof(out->addr));
	/* Host bits set are a typo more often than not: refuse them. */
	for (i = out->prefix; i < (a.family == AF_INET ? 32u : 128u); i++) {
		bit = (unsigned)(out->addr[i / 8] >> (7 - i % 8)) & 1u;
		if (bit != 0)
			return ERR_INVALID;
	}
	return 0;
}

enum restriction {
	RS_HOLDS,
	RS_FAILS,
	RS_UNKNOWN,  /* the context lacks what the restriction needs */
};

/* Whether r's services and from let it take part in this decision. */
static enum restriction
rule_restriction(const struct rule *r, const struct policy_ctx *ctx,
    const struct addr *a, char *why, size_t len)
{
	size_t i;

	if (r->n_services > 0 && ctx->check_service) {
		if (ctx->service == NULL || ctx->service[0] == '\0') {
			why_set(why, len, "limited to services, and the service "
			    "is not known");
			return RS_UNKNOWN;
		}
		if (!strv_has(r->services, r->n_services, ctx->service)) {
			why_set(why, len, "the service is not in its services");
			return RS_FAILS;
		}
	}
	if (r->n_from > 0 && ctx->check_addr) {
		if (!a->known) {
			why_set(why, len, "limited to from, and the source "
			    "address is not known");
			return RS_UNKNOWN;
		}
		for (i = 0; i < r->n_from; i++) {
			if (cidr_has(&r->from[i], a))
				return RS_HOLDS;
		}
		why_set(why, len, "the source address is not in its from");
		return RS_FAILS;
	}
	return RS_HOLDS;
}

enum policy_template
policy_user_template(const char *s)
{
	if (s == NULL || strstr(s, "%{") == NULL)
		return TMPL_NONE;
	if (strcmp(s, "%{cn}") == 0)
		return TMPL_CN;
	if (strcmp(s, "%{uid}") == 0)
		return TMPL_UID;
	if (strcmp(s, "%{email.local}") == 0)
		return TMPL_EMAIL_LOCAL;
	return TMPL_UNKNOWN;
}

/* The i-th value a template takes for id (NULL past the end, or for a
 * value that is not there): CN and UID come from the subject's AVAs,
 * email.local from the SAN emails. */
static const char *
template_value(enum policy_template t, const struct ident *id, size_t i)
{
	switch (t) {
	case TMPL_CN:
		return i < id->n_avas && strcmp(id->avas[i].type, "CN") == 0 ?
		    id->avas[i].value : NULL;
	case TMPL_UID:
		return i < id->n_avas && strcmp(id->avas[i].type, "UID") == 0 ?
		    id->avas[i].value : NULL;
	case TMPL_EMAIL_LOCAL:
		return i < id->n_san_email && id->san_email_local != NULL ?
		    id->san_email_local[i] : NULL;
	case TMPL_NONE:
	case TMPL_UNKNOWN:
	default:
		return NULL;
	}
}

static size_t
template_count(enum policy_template t, const struct ident *id)
{
	switch (t) {
	case TMPL_CN:
	case TMPL_UID:
		return id->n_avas;
	case TMPL_EMAIL_LOCAL:
		return id->n_san_email;
	case TMPL_NONE:
	case TMPL_UNKNOWN:
	default:
		return 0;
	}
}

/* Calls fn for each user name entry e of a rule yields for id: itself,
 * or each valid user name a template gives. Stops at fn's first nonzero
 * return and returns it. */
static int
entry_each(const char *e, const struct ident *id,
    int (*fn)(const char *name, void *arg), void *arg)
{
	enum policy_template t = policy_user_template(e);
	const char *v;
	size_t i, n;
	int r;

	if (t == TMPL_NONE)
		return valid_user_name(e) ? fn(e, arg) : 0;
	for (i = 0, n = template_count(t, id); i < n; i++) {
		v = template_value(t, id, i);
		if (v != NULL && valid_user_name(v) && (r = fn(v, arg)) != 0)
			return r;
	}
	return 0;
}

static int
is_name(const char *name, void *arg)
{
	return strcmp(name, arg) == 0;
}

/* Whether r's users (after templates) include user; a deny rule without
 * users names everyone. */
static int
rule_names_user(const struct rule *r, const struct ident *id,
    const char *user)
{
	size_t i;

	if (r->deny && r->n_users == 0)
		return 1;
	for (i = 0; i < r->n_users; i++) {
		if (r->users[i] != NULL &&
		    entry_each(r->users[i], id, is_name, (void *)user))
			return 1;
	}
	return 0;
}

/* --- evaluation ------------------------------------------------------------ */

/* What one walk over the rules found. */
struct walk {
	const struct rule *granting;   /* first allow rule granting user */
	const struct rule *denying;    /* first deny rule refusing user */
	const struct rule *held_back;  /* first allow rule that would grant
	                                  but for its restriction */
	char held_why[192];
	size_t n_matching, n_evaluated;
};

/* Hands each rule that takes part in the decision to visit (policy_users
 * collects names there). */
typedef int (*visit_fn)(const struct rule *r, void *arg);

/* The one evaluation behind policy_decide, policy_explain and
 * policy_users. With the index, only its candidates are evaluated;
 * without fn they are the only rules looked at. */
static int
walk_rules(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, struct walk *w, policy_trace_fn fn,
    void *arg, visit_fn visit, void *varg)
{
	struct rule_trace t;
	struct addr a;
	enum restriction rs;
	size_t *cand = NULL, n_cand = 0, k = 0, j, i, n_iter;
	int all = p->index == NULL, r;

	memset(w, 0, sizeof(*w));
	(void)addr_parse(ctx->check_addr ? ctx->addr : NULL, &a);
	if (!all && (r = index_candidates(p->index, id, &cand, &n_cand)) != 0)
		return r;
	n_iter = all || fn != NULL ? p->n_rules : n_cand;
	for (j = 0; j < n_iter; j++) {
		i = all || fn != NULL ? j : cand[j];
		memset(&t, 0, sizeof(t));
		t.rule = &p->rules[i];
		if (!all && fn != NULL) {
			if (k >= n_cand || cand[k] != i) {
				why_set(t.why, sizeof(t.why), "%s differs",
				    index_kind_key(rule_index_kind(t.rule)));
				fn(&t, arg);
				continue;
			}
			k++;
		}
		t.evaluated = 1;
		w->n_evaluated++;
		if ((t.matched = rule_keys_match(t.rule, id, t.why,
		    sizeof(t.why))) == 0)
			goto next;
		w->n_matching++;
		rs = rule_restriction(t.rule, ctx, &a, t.why, sizeof(t.why));
		/* Not knowing the service or address keeps an allow rule out
		 * and a deny rule in. */
		t.applies = rs == RS_HOLDS || (rs == RS_UNKNOWN && t.rule->deny);
		if (ctx->user != NULL && rule_names_user(t.rule, id, ctx->user)) {
			if (t.applies && t.rule->deny)
				t.denies = 1;
			else if (t.applies)
				t.grants = 1;
			else if (!t.rule->deny && w->held_back == NULL) {
				w->held_back = t.rule;
				memcpy(w->held_why, t.why, sizeof(w->held_why));
			}
		}
		if (t.denies && w->denying == NULL)
			w->denying = t.rule;
		if (t.grants && w->granting == NULL)
			w->granting = t.rule;
		if (t.applies && visit != NULL && (r = visit(t.rule, varg)) != 0)
			goto out;
		if (t.applies)
			t.why[0] = '\0';
 next:
		if (fn != NULL)
			fn(&t, arg);
	}
	r = 0;
out:
	free(cand);
	return r;
}

static void decision_set(struct decision *d, int granted,
    const struct rule *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A reason longer than d->reason is cut: it is for people, not parsers. */
static void
decision_set(struct decision *d, int granted, const struct rule *r,
    const char *fmt, ...)
{
	va_list ap;

	d->granted = granted;
	d->rule = r;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

static int
decide_from(const struct walk *w, const char *user, struct decision *d)
{
	d->n_evaluated = w->n_evaluated;
	if (w->denying != NULL) {
		decision_set(d, 0, w->denying, "refused by deny rule '%s'",
		    w->denying->name);
		return ERR_DENIED;
	}
	if (w->granting != NULL) {
		decision_set(d, 1, w->granting, "granted by rule '%s'",
		    w->granting->name);
		return 0;
	}
	if (w->n_matching == 0) {
		decision_set(d, 0, NULL, "no rule matches the certificate");
		return ERR_DENIED;
	}
	if (user == NULL) {
		decision_set(d, 0, NULL, "no user given");
		return ERR_DENIED;
	}
	if (w->held_back != NULL) {
		decision_set(d, 0, NULL, "rule '%s' grants user '%s' but %s",
		    w->held_back->name, user, w->held_why);
		return ERR_DENIED;
	}
	decision_set(d, 0, NULL,
	    "rules match the certificate but none grants user '%s'", user);
	return ERR_DENIED;
}

int
policy_explain(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, struct decision *d, policy_trace_fn fn,
    void *arg)
{
	struct walk w;
	int r;

	if (d == NULL)
		return ERR_INVALID;
	memset(d, 0, sizeof(*d));
	decision_set(d, 0, NULL, "invalid arguments");
	if (p == NULL || id == NULL || ctx == NULL)
		return ERR_INVALID;
	/* The name reaches the reason (and the audit line) only once known
	 * to be harmless. */
	if (ctx->user != NULL && !valid_user_name(ctx->user)) {
		decision_set(d, 0, NULL, "invalid user name");
		return ERR_DENIED;
	}
	if ((r = walk_rules(p, id, ctx, &w, fn, arg, NULL, NULL)) != 0) {
		decision_set(d, 0, NULL, "cannot evaluate the policy: %s",
		    err_str(r));
		return r;
	}
	return decide_from(&w, ctx->user, d);
}

int
policy_decide(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, struct decision *d)
{
	if (ctx != NULL && ctx->user == NULL) {
		if (d != NULL) {
			memset(d, 0, sizeof(*d));
			decision_set(d, 0, NULL, "invalid arguments");
		}
		return ERR_INVALID;
	}
	return policy_explain(p, id, ctx, d, NULL, NULL);
}

/* --- listing users --------------------------------------------------------- */

/* The names policy_users gathers: granted ones, and denied ones taken
 * out at the end (a deny wins wherever it stands). */
struct names {
	const struct ident *id;
	const char **v;
	size_t n, cap;
	const char **denied;
	size_t n_denied, cap_denied;
	int deny_all;
	int deny;            /* the rule being visited is a deny rule */
};

/* Appends s unless present, keeping the array NULL-terminated. */
static int
names_push(const char ***v, size_t *n, size_t *cap, const char *s)
{
	const char **nv;
	size_t i, ncap;

	for (i = 0; i < *n; i++) {
		if (strcmp((*v)[i], s) == 0)
			return 0;
	}
	if (*n + 1 >= *cap) {
		ncap = *cap == 0 ? 8 : *cap * 2;
		if ((nv = reallocarray(*v, ncap, sizeof(*nv))) == NULL)
			return ERR_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
	return 0;
}

static int
collect_name(const char *name, void *arg)
{
	struct names *ns = arg;

	if (ns->deny)
		return names_push(&ns->denied, &ns->n_denied, &ns->cap_denied,
		    name);
	return names_push(&ns->v, &ns->n, &ns->cap, name);
}

static int
collect_rule(const struct rule *r, void *arg)
{
	struct names *ns = arg;
	size_t i;
	int rc;

	ns->deny = r->deny;
	if (r->deny && r->n_users == 0) {
		ns->deny_all = 1;
		return 0;
	}
	for (i = 0; i < r->n_users; i++) {
		if (r->users[i] == NULL)
			continue;
		if ((rc = entry_each(r->users[i], ns->id, collect_name, ns)) != 0)
			return rc;
	}
	return 0;
}

int
policy_users(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, const char ***users, size_t *n)
{
	static const struct policy_ctx none = { 0 };
	struct policy_ctx c;
	struct names ns = { .id = id };
	struct walk w;
	size_t i, j;
	int r;

	if (p == NULL || id == NULL || users == NULL || n == NULL)
		return ERR_INVALID;
	c = ctx != NULL ? *ctx : none;
	c.user = NULL;
	if ((r = walk_rules(p, id, &c, &w, NULL, NULL, collect_rule,
	    &ns)) != 0)
		goto out;
	if (ns.v == NULL && (ns.v = calloc(1, sizeof(*ns.v))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = j = 0; i < ns.n; i++) {
		if (!ns.deny_all &&
		    !strv_has((char *const *)ns.denied, ns.n_denied, ns.v[i]))
			ns.v[j++] = ns.v[i];
	}
	ns.v[j] = NULL;
	*users = ns.v;
	*n = j;
	ns.v = NULL;
	r = 0;
out:
	free(ns.v);
	free(ns.denied);
	return r;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static void
rule_clear(struct rule *r)
{
	size_t i;

	free(r->name);
	free(r->subject);
	for (i = 0; r->attrs != NULL && i < r->n_attrs; i++) {
		free(r->attrs[i].type);
		free(r->attrs[i].value);
	}
	free(r->attrs);
	free(r->issuer);
	free(r->san_email);
	free(r->san_email_domain);
	free(r->san_dns);
	free(r->san_uri);
	free(r->serial);
	free(r->fingerprint);
	free(r->policy_oid);
	strv_free(r->users, r->n_users);
	strv_free(r->services, r->n_services);
	free(r->from);
	free(r->file);
	memset(r, 0, sizeof(*r));
}

void
policy_clear(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_rules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	index_free(&p->index);
	memset(p, 0, sizeof(*p));
}

static int
user_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
valid_user_name(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '-' ||
	    name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= USER_NAME_MAX || !user_char_ok(name[i]))
			return 0;
	}
	return 1;
}
