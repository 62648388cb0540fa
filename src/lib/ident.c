#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "ident.h"

/* Bounds that no real DN comes near; they keep hostile input cheap. */
#define DN_MAX_LEN 65536
#define DN_MAX_AVAS 256
#define TYPE_MAX 128

/* RFC 4514 "special" characters that may follow a backslash. */
#define DN_ESCAPABLE "\"+,;<>\\ #="
/* Characters re-escaped anywhere in a canonical value. */
#define DN_ALWAYS_ESCAPED "\"+,;<>\\="

/* One attribute type and value; rdn numbers the RDN in output order. */
struct ava {
	char type[TYPE_MAX];
	unsigned char *val;
	size_t len;
	size_t rdn;
};

/* A parsed DN: AVAs in output order, those of one RDN contiguous. Both
 * dn_normalize and dn_from_name fill one and serialise it with
 * dn_serialise, so the two cannot disagree on the canonical form. */
struct dn {
	struct ava *avas;
	size_t n;
	size_t cap;
};

static void
dn_clear(struct dn *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->avas[i].val);
	free(d->avas);
	memset(d, 0, sizeof(*d));
}

/* Appends an AVA; takes ownership of val (freed here on failure). */
static int
dn_add(struct dn *d, const char *type, unsigned char *val, size_t len,
    size_t rdn)
{
	struct ava *a;
	size_t cap;

	if (d->n == DN_MAX_AVAS) {
		free(val);
		return ERR_TOOLONG;
	}
	if (d->n == d->cap) {
		cap = d->cap == 0 ? 8 : d->cap * 2;
		if ((a = reallocarray(d->avas, cap, sizeof(*a))) == NULL) {
			free(val);
			return ERR_NOMEM;
		}
		d->avas = a;
		d->cap = cap;
	}
	a = &d->avas[d->n++];
	memset(a, 0, sizeof(*a));
	strcpy(a->type, type); /* callers bound type by TYPE_MAX */
	a->val = val;
	a->len = len;
	a->rdn = rdn;
	return 0;
}

static int
is_descr(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return 0;
	for (s++; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	}
	return 1;
}

/* RFC 4512 numericoid: number 1*( "." number ), no leading zeros. */
static int
is_numericoid(const char *s)
{
	int arcs = 0;

	for (;;) {
		if (*s < '0' || *s > '9')
			return 0;
		if (*s == '0' && s[1] >= '0' && s[1] <= '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
		arcs++;
		if (*s == '\0')
			return arcs >= 2;
		if (*s++ != '.')
			return 0;
	}
}

/* The canonical name of an attribute type: OpenSSL's short name where it
 * has a usable one, the dotted OID otherwise. */
static int
type_from_obj(const ASN1_OBJECT *obj, char out[TYPE_MAX])
{
	const char *sn = NULL;
	int nid, n;

	if ((nid = OBJ_obj2nid(obj)) != NID_undef)
		sn = OBJ_nid2sn(nid);
	if (sn != NULL && is_descr(sn) && strlen(sn) < TYPE_MAX) {
		strcpy(out, sn);
		return 0;
	}
	n = OBJ_obj2txt(out, TYPE_MAX, obj, 1);
	if (n <= 0 || n >= TYPE_MAX)
		return ERR_INVALID;
	return 0;
}

/* Looks a descriptor up as OpenSSL's short or long name, exactly first,
 * then ignoring case (LDAP attribute descriptors are case-insensitive).
 * Exact case must win: OpenSSL has "UID" (userId) and "uid"
 * (uniqueIdentifier), "mail" and "Mail", and prints each as such. A
 * case-insensitive match that is not unique is refused, not guessed. */
static int
descr_to_nid(const char *s)
{
	int nid, max, found = NID_undef;
	const char *sn, *ln;

	if ((nid = OBJ_sn2nid(s)) != NID_undef)
		return nid;
	if ((nid = OBJ_ln2nid(s)) != NID_undef)
		return nid;
	/* OBJ_new_nid(0) reserves nothing: it is the first unassigned NID. */
	max = OBJ_new_nid(0);
	ERR_set_mark();
	for (nid = 1; nid < max; nid++) {
		sn = OBJ_nid2sn(nid);
		ln = OBJ_nid2ln(nid);
		if ((sn == NULL || strcasecmp(sn, s) != 0) &&
		    (ln == NULL || strcasecmp(ln, s) != 0))
			continue;
		if (found != NID_undef) {
			found = NID_undef;
			break;
		}
		found = nid;
	}
	/* Gaps in the NID table leave errors behind. */
	ERR_pop_to_mark();
	return found;
}

/* Maps a type as written (descriptor or dotted OID) to its canonical
 * name. A descriptor OpenSSL does not know, or one that names no OID, is
 * refused: it could never match a certificate. */
static int
type_canon(const char *s, char out[TYPE_MAX])
{
	ASN1_OBJECT *obj = NULL;
	int r = ERR_INVALID, nid;

	if (is_numericoid(s)) {
		if ((obj = OBJ_txt2obj(s, 1)) == NULL)
			goto out;
		r = type_from_obj(obj, out);
		goto out;
	}
	if (!is_descr(s) || (nid = descr_to_nid(s)) == NID_undef)
		goto out;
	if ((obj = OBJ_nid2obj(nid)) == NULL || OBJ_length(obj) == 0)
		goto out;
	r = type_from_obj(obj, out);
out:
	ASN1_OBJECT_free(obj);
	ERR_clear_error();
	return r;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the UTF-8 sequence that lead byte c starts (0: not a lead
 * byte), with its payload bits and the smallest code point it may encode. */
static size_t
utf8_lead(uint8_t c, uint32_t *cp, uint32_t *min)
{
	if ((c & 0xe0) == 0xc0) {
		*cp = c & 0x1fu;
		*min = 0x80;
		return 2;
	}
	if ((c & 0xf0) == 0xe0) {
		*cp = c & 0x0fu;
		*min = 0x800;
		return 3;
	}
	if ((c & 0xf8) == 0xf0) {
		*cp = c & 0x07u;
		*min = 0x10000;
		return 4;
	}
	return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_lead(s[i], &cp, &min)) == 0 || len - i < n)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static void
skip_spaces(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

/* Reads an attribute type and the '=' after it. */
static int
parse_type(const char **p, char out[TYPE_MAX])
{
	char word[TYPE_MAX];
	size_t n = 0;

	skip_spaces(p);
	while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z') ||
	    (**p >= '0' && **p <= '9') || **p == '-' || **p == '.') {
		if (n == sizeof(word) - 1)
			return ERR_INVALID;
		word[n++] = *(*p)++;
	}
	word[n] = '\0';
	skip_spaces(p);
	if (n == 0 || **p != '=')
		return ERR_INVALID;
	(*p)++;
	return type_canon(word, out);
}

/* Reads one value up to an unescaped ',' or '+' or the end, decoding
 * escapes; unescaped spaces at either end are not part of it. *val is a
 * new heap string of *len bytes (NUL-terminated for convenience). */
static int
parse_value(const char **p, unsigned char **val, size_t *len)
{
	struct buf *b = NULL;
	const char *s;
	size_t keep = 0;
	int r = ERR_INVALID, hi, lo, significant;
	uint8_t c;

	if ((b = buf_new(DN_MAX_LEN)) == NULL)
		return ERR_NOMEM;
	skip_spaces(p);
	s = *p;
	if (*s == '#' || *s == '"')
		goto out; /* BER-encoded or RFC 2253 quoted: not accepted */
	while (*s != '\0' && *s != ',' && *s != '+') {
		significant = 1;
		if (*s == '\\') {
			s++;
			if ((hi = hexval(s[0])) >= 0 && (lo = hexval(s[1])) >= 0) {
				c = (uint8_t)(hi << 4 | lo);
				s += 2;
			} else if (*s != '\0' && strchr(DN_ESCAPABLE, *s) != NULL) {
				c = (uint8_t)*s++;
			} else {
				goto out;
			}
		} else if (strchr("\";<>", *s) != NULL) {
			goto out;
		} else {
			c = (uint8_t)*s++;
			significant = c != ' ';
		}
		if (c == 0)
			goto out;
		if ((r = buf_put_u8(b, c)) != 0)
			goto out;
		r = ERR_INVALID;
		if (significant)
			keep = buf_avail(b);
	}
	if (!utf8_valid(buf_ptr(b), keep))
		goto out;
	if ((*val = malloc(keep + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (keep > 0) /* an empty buffer has no storage behind buf_ptr */
		memcpy(*val, buf_ptr(b), keep);
	(*val)[keep] = '\0';
	*len = keep;
	*p = s;
	r = 0;
out:
	buf_free(&b);
	return r;
}

static int
ava_cmp(const void *pa, const void *pb)
{
	const struct ava *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c;

	if ((c = strcmp(a->type, b->type)) != 0)
		return c;
	if ((c = memcmp(a->val, b->val, n)) != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int
put_escaped(struct buf *b, const unsigned char *v, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		if (v[i] < 0x20 || v[i] == 0x7f) {
			if ((r = buf_put_u8(b, '\\')) != 0 ||
			    (r = buf_put_u8(b, (uint8_t)hex[v[i] >> 4])) != 0 ||
			    (r = buf_put_u8(b, (uint8_t)hex[v[i] & 0xf])) != 0)
				return r;
			continue;
		}
		if (strchr(DN_ALWAYS_ESCAPED, v[i]) != NULL ||
		    (i == 0 && (v[i] == '#' || v[i] == ' ')) ||
		    (i == len - 1 && v[i] == ' ')) {
			if ((r = buf_put_u8(b, '\\')) != 0)
				return r;
		}
		if ((r = buf_put_u8(b, v[i])) != 0)
			return r;
	}
	return 0;
}

/* Sorts each multi-valued RDN and writes the canonical string. */
static int
dn_serialise(struct dn *d, char **out)
{
	struct buf *b = NULL;
	size_t i, start;
	int r;

	if ((b = buf_new(DN_MAX_LEN)) == NULL)
		return ERR_NOMEM;
	for (start = 0; start < d->n; start = i) {
		for (i = start; i < d->n && d->avas[i].rdn == d->avas[start].rdn;)
			i++;
		qsort(d->avas + start, i - start, sizeof(*d->avas), ava_cmp);
	}
	for (i = 0; i < d->n; i++) {
		if (i > 0 && (r = buf_put_u8(b,
		    d->avas[i].rdn == d->avas[i - 1].rdn ? '+' : ',')) != 0)
			goto out;
		if ((r = buf_put(b, d->avas[i].type, strlen(d->avas[i].type))) != 0 ||
		    (r = buf_put_u8(b, '=')) != 0 ||
		    (r = put_escaped(b, d->avas[i].val, d->avas[i].len)) != 0)
			goto out;
	}
	*out = buf_avail(b) == 0 ? strdup("") :
	    strndup((const char *)buf_ptr(b), buf_avail(b));
	if (*out == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	buf_free(&b);
	return r;
}

int
dn_normalize(const char *in, char **out)
{
	struct dn d = { 0 };
	const char *p = in;
	char type[TYPE_MAX];
	unsigned char *val = NULL;
	size_t len, rdn = 0;
	int r = ERR_INVALID;

	if (in == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	for (;;) {
		if ((r = parse_type(&p, type)) != 0 ||
		    (r = parse_value(&p, &val, &len)) != 0)
			goto out;
		if ((r = dn_add(&d, type, val, len, rdn)) != 0)
			goto out;
		if (*p == '\0')
			break;
		if (*p++ == ',')
			rdn++;
	}
	r = dn_serialise(&d, out);
out:
	dn_clear(&d);
	return r;
}

/* Converts one entry's value to UTF-8 as a heap string of *len bytes. */
static int
entry_value(const X509_NAME_ENTRY *e, unsigned char **val, size_t *len)
{
	unsigned char *utf8 = NULL;
	int n, r = ERR_INVALID;

	if ((n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) < 0)
		goto out;
	/* A NUL would let "CN=a\0b" pass for "CN=a" in C string land. */
	if (memchr(utf8, 0, (size_t)n) != NULL || !utf8_valid(utf8, (size_t)n))
		goto out;
	if ((*val = malloc((size_t)n + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	memcpy(*val, utf8, (size_t)n);
	(*val)[n] = '\0';
	*len = (size_t)n;
	r = 0;
out:
	OPENSSL_free(utf8);
	ERR_clear_error();
	return r;
}

int
dn_from_name(const X509_NAME *name, char **out)
{
	struct dn d = { 0 };
	const X509_NAME_ENTRY *e;
	char type[TYPE_MAX];
	unsigned char *val = NULL;
	size_t len, rdn = 0;
	int i, set, prev = -1, r = ERR_INVALID;

	if (name == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	/* RFC 4514 writes the RDNs last to first. */
	for (i = X509_NAME_entry_count(name) - 1; i >= 0; i--) {
		e = X509_NAME_get_entry(name, i);
		set = X509_NAME_ENTRY_set(e);
		if (prev != -1 && set != prev)
			rdn++;
		prev = set;
		if ((r = type_from_obj(X509_NAME_ENTRY_get_object(e), type)) != 0 ||
		    (r = entry_value(e, &val, &len)) != 0 ||
		    (r = dn_add(&d, type, val, len, rdn)) != 0)
			goto out;
	}
	r = dn_serialise(&d, out);
out:
	dn_clear(&d);
	return r;
}

/* Uppercase hex of the serial's magnitude, "00" for zero. */
static int
serial_hex(const ASN1_INTEGER *serial, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t len, i;
	char *s;

	if (serial == NULL || ASN1_STRING_type(serial) != V_ASN1_INTEGER)
		return ERR_INVALID; /* negative serials are not RFC 5280 */
	p = ASN1_STRING_get0_data(serial);
	len = (size_t)ASN1_STRING_length(serial);
	while (len > 0 && *p == 0)
		p++, len--;
	if (len == 0)
		return (*out = strdup("00")) == NULL ? ERR_NOMEM : 0;
	if ((s = malloc(len * 2 + 1)) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < len; i++) {
		s[2 * i] = hex[p[i] >> 4];
		s[2 * i + 1] = hex[p[i] & 0xf];
	}
	s[2 * len] = '\0';
	*out = s;
	return 0;
}

static int
fingerprint(const X509 *x, char out[IDENT_FPR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32) {
		ERR_clear_error();
		return ERR_INTERNAL;
	}
	memcpy(out, "sha256:", 7);
	for (i = 0; i < len; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 0xf];
	}
	out[IDENT_FPR_LEN] = '\0';
	return 0;
}

int
ident_fingerprint(const X509 *x, char out[IDENT_FPR_LEN + 1])
{
	if (x == NULL || out == NULL)
		return ERR_INVALID;
	return fingerprint(x, out);
}

/* Appends a copy of an IA5String SAN to *v. */
static int
strv_add(char ***v, size_t *n, const ASN1_IA5STRING *s)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	size_t len = (size_t)ASN1_STRING_length(s);
	char **nv, *copy;

	if (memchr(p, 0, len) != NULL)
		return ERR_INVALID;
	if ((copy = strndup((const char *)p, len)) == NULL)
		return ERR_NOMEM;
	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL) {
		free(copy);
		return ERR_NOMEM;
	}
	nv[(*n)++] = copy;
	*v = nv;
	return 0;
}

static int
add_san(struct ident *id, const GENERAL_NAME *gen)
{
	switch (gen->type) {
	case GEN_EMAIL:
		return strv_add(&id->san_email, &id->n_san_email, gen->d.rfc822Name);
	case GEN_DNS:
		return strv_add(&id->san_dns, &id->n_san_dns, gen->d.dNSName);
	case GEN_URI:
		return strv_add(&id->san_uri, &id->n_san_uri,
		    gen->d.uniformResourceIdentifier);
	default:
		return 0; /* other name forms are not used by policy */
	}
}

static int
sans(X509 *x, struct ident *id)
{
	GENERAL_NAMES *gens = NULL;
	int crit = -1, i, r = 0;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		ERR_clear_error();
		/* -1: absent; -2: repeated; otherwise undecodable. */
		return crit == -1 ? 0 : ERR_INVALID;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if ((r = add_san(id, sk_GENERAL_NAME_value(gens, i))) != 0)
			break;
	}
	GENERAL_NAMES_free(gens);
	return r;
}

int
dn_attr_type(const char *in, char out[IDENT_TYPE_MAX])
{
	char word[TYPE_MAX];
	size_t n;

	if (in == NULL || out == NULL || (n = strlen(in)) == 0 ||
	    n >= sizeof(word))
		return ERR_INVALID;
	memcpy(word, in, n + 1);
	return type_canon(word, out);
}

int
ident_oid_normalize(const char *in, char **out)
{
	ASN1_OBJECT *obj = NULL;
	char text[TYPE_MAX];
	int n, r = ERR_INVALID;

	if (in == NULL || out == NULL || !is_numericoid(in))
		return ERR_INVALID;
	if ((obj = OBJ_txt2obj(in, 1)) == NULL)
		goto out;
	n = OBJ_obj2txt(text, sizeof(text), obj, 1);
	if (n <= 0 || (size_t)n >= sizeof(text))
		goto out;
	r = (*out = strdup(text)) == NULL ? ERR_NOMEM : 0;
out:
	ASN1_OBJECT_free(obj);
	ERR_clear_error();
	return r;
}

/* Every AVA of the subject, for matching attribute by attribute. */
static int
subject_avas(const X509_NAME *name, struct ident *id)
{
	const X509_NAME_ENTRY *e;
	char type[TYPE_MAX];
	unsigned char *val = NULL;
	size_t len;
	int i, n = X509_NAME_entry_count(name), r;

	if (n <= 0)
		return 0;
	if ((id->avas = calloc((size_t)n, sizeof(*id->avas))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		e = X509_NAME_get_entry(name, i);
		if ((r = type_from_obj(X509_NAME_ENTRY_get_object(e), type)) != 0 ||
		    (r = entry_value(e, &val, &len)) != 0)
			return r;
		id->avas[i].value = (char *)val;
		id->n_avas++;
		if ((id->avas[i].type = strdup(type)) == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

/* The local parts of the emails, for the %{email.local} template. */
static int
email_locals(struct ident *id)
{
	const char *at;
	size_t i;

	if (id->n_san_email == 0)
		return 0;
	id->san_email_local = calloc(id->n_san_email,
	    sizeof(*id->san_email_local));
	if (id->san_email_local == NULL)
		return ERR_NOMEM;
	for (i = 0; i < id->n_san_email; i++) {
		if ((at = strrchr(id->san_email[i], '@')) == NULL)
			continue;
		id->san_email_local[i] = strndup(id->san_email[i],
		    (size_t)(at - id->san_email[i]));
		if (id->san_email_local[i] == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

static int
policy_oids(X509 *x, struct ident *id)
{
	CERTIFICATEPOLICIES *cps = NULL;
	const POLICYINFO *pi;
	char text[TYPE_MAX], **v;
	int crit = -1, i, n, r = 0;

	cps = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
	if (cps == NULL) {
		ERR_clear_error();
		return crit == -1 ? 0 : ERR_INVALID;
	}
	for (i = 0; i < sk_POLICYINFO_num(cps); i++) {
		pi = sk_POLICYINFO_value(cps, i);
		n = OBJ_obj2txt(text, sizeof(text), pi->policyid, 1);
		if (n <= 0 || (size_t)n >= sizeof(text)) {
			r = ERR_INVALID;
			break;
		}
		v = reallocarray(id->policy_oids, id->n_policy_oids + 1,
		    sizeof(*v));
		if (v == NULL) {
			r = ERR_NOMEM;
			break;
		}
		id->policy_oids = v;
		if ((v[id->n_policy_oids] = strdup(text)) == NULL) {
			r = ERR_NOMEM;
			break;
		}
		id->n_policy_oids++;
	}
	CERTIFICATEPOLICIES_free(cps);
	ERR_clear_error();
	return r;
}

int
ident_from_x509(X509 *x, struct ident **out)
{
	struct ident *id = NULL;
	int r = ERR_INVALID;

	if (x == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = dn_from_name(X509_get_subject_name(x), &id->subject)) != 0 ||
	    (r = dn_from_name(X509_get_issuer_name(x), &id->issuer)) != 0 ||
	    (r = serial_hex(X509_get0_serialNumber(x), &id->serial)) != 0 ||
	    (r = fingerprint(x, id->fingerprint)) != 0 ||
	    (r = sans(x, id)) != 0 ||
	    (r = subject_avas(X509_get_subject_name(x), id)) != 0 ||
	    (r = email_locals(id)) != 0 ||
	    (r = policy_oids(x, id)) != 0)
		goto out;
	id->refs = 1;
	*out = id;
	id = NULL;
	r = 0;
out:
	ident_free(&id);
	return r;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct ident *
ident_ref(struct ident *id)
{
	if (id == NULL)
		return NULL;
	/* A calloc'd ident (refs 0) has one holder already. */
	id->refs = (id->refs == 0 ? 1 : id->refs) + 1;
	return id;
}

void
ident_free(struct ident **idp)
{
	struct ident *id;

	if (idp == NULL || (id = *idp) == NULL)
		return;
	*idp = NULL;
	if (id->refs > 1) {
		id->refs--;
		return;
	}
	free(id->subject);
	free(id->issuer);
	free(id->serial);
	strv_free(id->san_email, id->n_san_email);
	strv_free(id->san_dns, id->n_san_dns);
	strv_free(id->san_uri, id->n_san_uri);
	strv_free(id->san_email_local, id->san_email_local != NULL ?
	    id->n_san_email : 0);
	strv_free(id->policy_oids, id->n_policy_oids);
	for (size_t i = 0; i < id->n_avas; i++) {
		free(id->avas[i].type);
		free(id->avas[i].value);
	}
	free(id->avas);
	free(id);
}
