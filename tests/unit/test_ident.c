#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ident.h"
#include "testcert.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *key;
};

static int
setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->ca_key = tc_key_new()) == NULL ||
	    (p->ca = tc_ca_new("Test Root", p->ca_key, NULL, NULL)) == NULL ||
	    (p->key = tc_key_new()) == NULL)
		return -1;
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pki *p = *state;

	X509_free(p->ca);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->key);
	free(p);
	return 0;
}

static void
check_norm(const char *in, const char *want)
{
	char *out = NULL, *again = NULL;

	if (dn_normalize(in, &out) != 0)
		fail_msg("dn_normalize(\"%s\") failed", in);
	assert_string_equal(out, want);
	/* The canonical form is a fixed point. */
	assert_int_equal(dn_normalize(out, &again), 0);
	assert_string_equal(again, out);
	free(out);
	free(again);
}

static void
check_norm_fails(const char *in)
{
	char *out = NULL;
	int r = dn_normalize(in, &out);

	if (r != ERR_INVALID)
		fail_msg("dn_normalize(\"%s\") = %d (%s), want ERR_INVALID", in,
		    r, out != NULL ? out : "NULL");
	assert_null(out);
}

static void
test_norm_type_case(void **state)
{
	(void)state;
	check_norm("cn=alice,ou=ops,o=Example,c=DE",
	    "CN=alice,OU=ops,O=Example,C=DE");
	check_norm("Cn=alice,oU=ops", "CN=alice,OU=ops");
	check_norm("dc=example,DC=com", "DC=example,DC=com");
	check_norm("UID=alice", "UID=alice");
	check_norm("userid=alice", "UID=alice");
	/* OpenSSL has both "UID" (userId) and "uid" (uniqueIdentifier), and
	 * prints each so: exact case wins, an ambiguous case is refused. */
	check_norm("uid=alice", "uid=alice");
	check_norm_fails("Uid=alice");
	check_norm("mail=a@example.com", "mail=a@example.com");
	check_norm_fails("MAIL=a@example.com");
	check_norm("l=Berlin,st=Berlin", "L=Berlin,ST=Berlin");
	check_norm("EMAILADDRESS=a@example.com", "emailAddress=a@example.com");
	/* Values keep their case. */
	check_norm("CN=Alice", "CN=Alice");
	check_norm("CN=aLiCe", "CN=aLiCe");
}

static void
test_norm_synonyms(void **state)
{
	(void)state;
	check_norm("commonName=alice", "CN=alice");
	check_norm("COMMONNAME=alice", "CN=alice");
	check_norm("2.5.4.3=alice", "CN=alice");
	check_norm("organizationalUnitName=ops,organizationName=Example",
	    "OU=ops,O=Example");
	check_norm("0.9.2342.19200300.100.1.25=com", "DC=com");
	check_norm("emailAddress=a@example.com", "emailAddress=a@example.com");
	check_norm("1.2.840.113549.1.9.1=a@example.com",
	    "emailAddress=a@example.com");
	/* An OID OpenSSL does not know stays dotted. */
	check_norm("1.3.6.1.4.1.99999.1=x", "1.3.6.1.4.1.99999.1=x");
	check_norm("CN=a,1.3.6.1.4.1.99999.1=x", "CN=a,1.3.6.1.4.1.99999.1=x");
}

static void
test_norm_bad_types(void **state)
{
	(void)state;
	check_norm_fails("nosuchattribute=x");
	check_norm_fails("1..2=x");
	check_norm_fails("1.2.=x");
	check_norm_fails("01.2=x");
	check_norm_fails("1.02=x");
	check_norm_fails("7=x");
	check_norm_fails("-CN=x");
	check_norm_fails("C N=x");
	check_norm_fails("CN_x=x");
}

static void
test_norm_spacing(void **state)
{
	(void)state;
	check_norm("CN = alice , OU = ops", "CN=alice,OU=ops");
	check_norm("  CN=alice,OU=ops  ", "CN=alice,OU=ops");
	check_norm("CN=alice   ,   OU=ops", "CN=alice,OU=ops");
	check_norm("CN=a + OU=b , O=c", "CN=a+OU=b,O=c");
	/* Inner spaces are part of the value. */
	check_norm("CN=John  Smith", "CN=John  Smith");
	/* Escaped spaces at the ends are kept, unescaped ones are not. */
	check_norm("CN=\\ a", "CN=\\ a");
	check_norm("CN= \\ a", "CN=\\ a");
	check_norm("CN=a\\ ", "CN=a\\ ");
	check_norm("CN=a\\  ", "CN=a\\ ");
	check_norm("CN=a \\ ", "CN=a \\ ");
	check_norm("CN=\\20a\\20", "CN=\\ a\\ ");
	check_norm("CN=\\ ", "CN=\\ ");
	check_norm("CN=\\  \\ ", "CN=\\  \\ ");
	/* Different spacing inside a value is a different value. */
	check_norm("CN=John Smith", "CN=John Smith");
}

static void
test_norm_escapes(void **state)
{
	(void)state;
	check_norm("CN=a\\,b", "CN=a\\,b");
	check_norm("CN=a\\+b", "CN=a\\+b");
	check_norm("CN=\\\"q\\\"", "CN=\\\"q\\\"");
	check_norm("CN=back\\\\slash", "CN=back\\\\slash");
	check_norm("CN=\\;\\<\\>", "CN=\\;\\<\\>");
	check_norm("CN=a\\=b", "CN=a\\=b");
	check_norm("CN=a=b", "CN=a\\=b");
	check_norm("CN=\\#x", "CN=\\#x");
	check_norm("CN=a#b", "CN=a#b");
	check_norm("CN=a\\#b", "CN=a#b");
	check_norm("OU=x\\,y+CN=a\\+b", "CN=a\\+b+OU=x\\,y");
	check_norm("CN=", "CN=");
	/* Not a known escape, a dangling backslash, unescaped specials. */
	check_norm_fails("CN=a\\x");
	check_norm_fails("CN=a\\");
	check_norm_fails("CN=a\\4");
	check_norm_fails("CN=a\"b");
	check_norm_fails("CN=a;b");
	check_norm_fails("CN=a<b");
	check_norm_fails("CN=a>b");
	/* RFC 2253 quoted values are not RFC 4514. */
	check_norm_fails("CN=\"alice\"");
}

static void
test_norm_hex_escapes(void **state)
{
	(void)state;
	check_norm("CN=\\41lice", "CN=Alice");
	check_norm("CN=a\\2Cb", "CN=a\\,b");
	check_norm("CN=a\\2cb", "CN=a\\,b");
	check_norm("CN=J\\C3\\BCrgen", "CN=J\xc3\xbcrgen");
	check_norm("CN=J\\c3\\bcrgen", "CN=J\xc3\xbcrgen");
	check_norm("CN=\\E6\\97\\A5\\E6\\9C\\AC", "CN=\xe6\x97\xa5\xe6\x9c\xac");
	check_norm("CN=line\\0Abreak", "CN=line\\0Abreak");
	check_norm("CN=del\\7F", "CN=del\\7F");
	/* NUL, broken UTF-8, a lone continuation byte, an overlong '/'. */
	check_norm_fails("CN=a\\00b");
	check_norm_fails("CN=J\\C3rgen");
	check_norm_fails("CN=\\BC");
	check_norm_fails("CN=\\C0\\AF");
	check_norm_fails("CN=\\ED\\A0\\80");
	check_norm_fails("CN=\\FF");
}

static void
test_norm_utf8(void **state)
{
	(void)state;
	check_norm("CN=J\xc3\xbcrgen", "CN=J\xc3\xbcrgen");
	check_norm("O=\xe6\x97\xa5\xe6\x9c\xac,CN=\xf0\x9f\x94\x91",
	    "O=\xe6\x97\xa5\xe6\x9c\xac,CN=\xf0\x9f\x94\x91");
	/* Raw and hex-escaped UTF-8 are the same value. */
	check_norm("CN=J\\C3\xbcrgen", "CN=J\xc3\xbcrgen");
	check_norm_fails("CN=J\xc3");
	check_norm_fails("CN=\xc3(");
	check_norm_fails("CN=\xf8\x88\x80\x80\x80");
}

static void
test_norm_multivalued(void **state)
{
	char *a = NULL, *b = NULL;

	(void)state;
	check_norm("OU=b+CN=a,O=x", "CN=a+OU=b,O=x");
	check_norm("CN=a+OU=b,O=x", "CN=a+OU=b,O=x");
	check_norm("UID=u+CN=a+O=o", "CN=a+O=o+UID=u");
	/* Same type twice in one RDN: sorted by value. */
	check_norm("OU=z+OU=a", "OU=a+OU=z");
	assert_int_equal(dn_normalize("ou=b + cn=a, o=x", &a), 0);
	assert_int_equal(dn_normalize("CN=a+OU=b,O=x", &b), 0);
	assert_string_equal(a, b);
	free(a);
	free(b);
	a = b = NULL;
	/* RDN order is significant, and so is the grouping. */
	assert_int_equal(dn_normalize("CN=a,O=x", &a), 0);
	assert_int_equal(dn_normalize("O=x,CN=a", &b), 0);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	a = b = NULL;
	assert_int_equal(dn_normalize("CN=a+O=x", &a), 0);
	assert_int_equal(dn_normalize("CN=a,O=x", &b), 0);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
test_norm_garbage(void **state)
{
	char *out = NULL;

	(void)state;
	check_norm_fails("");
	check_norm_fails("   ");
	check_norm_fails("CN");
	check_norm_fails("=alice");
	check_norm_fails("CN=a,");
	check_norm_fails(",CN=a");
	check_norm_fails("CN=a,,O=b");
	check_norm_fails("CN=a++OU=b");
	check_norm_fails("CN=a+");
	check_norm_fails("hello world");
	check_norm_fails("CN=a,hello");
	check_norm_fails("/CN=alice/O=Example");
	assert_int_equal(dn_normalize(NULL, &out), ERR_INVALID);
	assert_null(out);
}

static void
test_norm_ber_refused(void **state)
{
	(void)state;
	check_norm_fails("CN=#0C05616C696365");
	check_norm_fails("CN= #0C05616C696365");
	check_norm_fails("O=x,CN=#0C05616C696365");
	check_norm_fails("1.3.6.1.4.1.99999.1=#0C0161");
	/* An escaped '#' is an ordinary character. */
	check_norm("CN=\\#0C05", "CN=\\#0C05");
}

static X509_NAME *
make_name(const struct tc_ava *avas, size_t n)
{
	X509_NAME *name = X509_NAME_new();
	size_t i;

	assert_non_null(name);
	for (i = 0; i < n; i++) {
		assert_int_equal(X509_NAME_add_entry_by_txt(name, avas[i].type,
		    MBSTRING_UTF8, (const unsigned char *)avas[i].value,
		    avas[i].len != 0 ? (int)avas[i].len : -1, -1,
		    avas[i].join ? -1 : 0), 1);
	}
	return name;
}

/* What `openssl x509 -noout -subject -nameopt RFC2253` prints. */
static char *
print_rfc2253(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long len;

	assert_non_null(bio);
	assert_true(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0);
	len = BIO_get_mem_data(bio, &data);
	assert_true(len >= 0);
	s = strndup(data, (size_t)len);
	assert_non_null(s);
	BIO_free(bio);
	return s;
}

/* Checks dn_from_name(name) == want == dn_normalize(printed form), and
 * that the printed form contains the fragment printed_has (the escaping
 * this case is about actually happened). */
static void
check_print_equiv(const struct tc_ava *avas, size_t n, const char *want,
    const char *printed_has)
{
	X509_NAME *name = make_name(avas, n);
	char *printed = print_rfc2253(name), *from_name = NULL, *norm = NULL;

	assert_int_equal(dn_from_name(name, &from_name), 0);
	assert_string_equal(from_name, want);
	if (dn_normalize(printed, &norm) != 0)
		fail_msg("dn_normalize(\"%s\") failed", printed);
	assert_string_equal(norm, want);
	if (strstr(printed, printed_has) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", printed, printed_has);
	free(printed);
	free(from_name);
	free(norm);
	X509_NAME_free(name);
}

static void
test_print_equiv_ascii(void **state)
{
	static const struct tc_ava avas[] = {
		{ "C", "DE", 0, 0 }, { "O", "Example", 0, 0 },
		{ "OU", "ops", 0, 0 }, { "CN", "alice", 0, 0 },
	};
	static const struct tc_ava dc[] = {
		{ "DC", "com", 0, 0 }, { "DC", "example", 0, 0 },
		{ "UID", "alice", 0, 0 }, { "emailAddress", "a@example.com", 0, 0 },
	};

	(void)state;
	check_print_equiv(avas, ARRAY_LEN(avas),
	    "CN=alice,OU=ops,O=Example,C=DE", "CN=alice,OU=ops,O=Example,C=DE");
	check_print_equiv(dc, ARRAY_LEN(dc),
	    "emailAddress=a@example.com,UID=alice,DC=example,DC=com",
	    "emailAddress=");
}

static void
test_print_equiv_escapes(void **state)
{
	static const struct tc_ava comma[] = { { "CN", "Smith, John", 0, 0 } };
	static const struct tc_ava plus[] = { { "CN", "a+b", 0, 0 } };
	static const struct tc_ava quote[] = { { "CN", "say \"hi\"", 0, 0 } };
	static const struct tc_ava hash[] = { { "CN", "#hash", 0, 0 } };
	static const struct tc_ava lead[] = { { "CN", " lead", 0, 0 } };
	static const struct tc_ava trail[] = { { "CN", "trail ", 0, 0 } };
	static const struct tc_ava misc[] = { { "CN", "a\\b;c<d>e=f", 0, 0 } };
	static const struct tc_ava ctrl[] = { { "CN", "a\nb", 0, 0 } };

	(void)state;
	check_print_equiv(comma, 1, "CN=Smith\\, John", "\\,");
	check_print_equiv(plus, 1, "CN=a\\+b", "\\+");
	check_print_equiv(quote, 1, "CN=say \\\"hi\\\"", "\\\"");
	check_print_equiv(hash, 1, "CN=\\#hash", "\\#");
	check_print_equiv(lead, 1, "CN=\\ lead", "\\ ");
	check_print_equiv(trail, 1, "CN=trail\\ ", "\\ ");
	check_print_equiv(misc, 1, "CN=a\\\\b\\;c\\<d\\>e\\=f", "\\;");
	check_print_equiv(ctrl, 1, "CN=a\\0Ab", "\\0A");
}

static void
test_print_equiv_utf8(void **state)
{
	static const struct tc_ava avas[] = {
		{ "O", "\xe6\x97\xa5\xe6\x9c\xac", 0, 0 },
		{ "CN", "J\xc3\xbcrgen M\xc3\xbcller", 0, 0 },
	};
	X509_NAME *bmp = X509_NAME_new();
	char *printed, *from_name = NULL, *norm = NULL;

	(void)state;
	check_print_equiv(avas, ARRAY_LEN(avas),
	    "CN=J\xc3\xbcrgen M\xc3\xbcller,O=\xe6\x97\xa5\xe6\x9c\xac",
	    "J\\C3\\BCrgen");
	/* A BMPString value: both paths convert it to the same UTF-8. */
	assert_non_null(bmp);
	assert_int_equal(X509_NAME_add_entry_by_txt(bmp, "CN", MBSTRING_BMP,
	    (const unsigned char *)"\0J\0\xfc", 4, -1, 0), 1);
	printed = print_rfc2253(bmp);
	assert_int_equal(dn_from_name(bmp, &from_name), 0);
	assert_string_equal(from_name, "CN=J\xc3\xbc");
	assert_int_equal(dn_normalize(printed, &norm), 0);
	assert_string_equal(norm, from_name);
	free(printed);
	free(from_name);
	free(norm);
	X509_NAME_free(bmp);
}

static void
test_print_equiv_multivalued(void **state)
{
	static const struct tc_ava avas[] = {
		{ "O", "Example", 0, 0 },
		{ "CN", "alice", 0, 0 }, { "OU", "ops", 0, 1 },
		{ "UID", "a1", 0, 0 },
	};

	(void)state;
	check_print_equiv(avas, ARRAY_LEN(avas),
	    "UID=a1,CN=alice+OU=ops,O=Example", "OU=ops+CN=alice");
}

static void
test_print_unknown_oid(void **state)
{
	static const struct tc_ava avas[] = {
		{ "1.3.6.1.4.1.99999.1", "x", 0, 0 }, { "CN", "a", 0, 0 },
	};
	X509_NAME *name = make_name(avas, ARRAY_LEN(avas));
	char *printed = print_rfc2253(name), *out = NULL;

	(void)state;
	assert_int_equal(dn_from_name(name, &out), 0);
	assert_string_equal(out, "CN=a,1.3.6.1.4.1.99999.1=x");
	free(out);
	out = NULL;
	/* OpenSSL dumps unknown attributes as #BER, which is refused. */
	assert_non_null(strstr(printed, "=#"));
	assert_int_equal(dn_normalize(printed, &out), ERR_INVALID);
	assert_null(out);
	free(printed);
	X509_NAME_free(name);
}

static void
test_dn_from_name_refusals(void **state)
{
	static const struct tc_ava nul[] = { { "CN", "a\0b", 3, 0 } };
	X509_NAME *name = make_name(nul, 1), *empty = X509_NAME_new();
	char *out = NULL;

	(void)state;
	assert_int_equal(dn_from_name(name, &out), ERR_INVALID);
	assert_null(out);
	assert_int_equal(dn_from_name(NULL, &out), ERR_INVALID);
	/* An empty name gives "", which no dn_normalize output equals. */
	assert_non_null(empty);
	assert_int_equal(dn_from_name(empty, &out), 0);
	assert_string_equal(out, "");
	free(out);
	X509_NAME_free(name);
	X509_NAME_free(empty);
}

static X509 *
leaf(struct pki *p, const char *serial, const struct tc_san *sans,
    size_t n_sans)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "OU", "ops", 0, 0 },
		{ "CN", "alice", 0, 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = serial, .not_before = -60, .not_after = 3600,
		.eku = TC_EKU_CLIENT, .sans = sans, .n_sans = n_sans,
	};
	X509 *x = tc_leaf_new(&spec, p->key, p->ca, p->ca_key);

	assert_non_null(x);
	return x;
}

static void
test_ident_fields(void **state)
{
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "alice@example.com", 0 },
		{ GEN_DNS, "alice.example.com", 0 },
		{ GEN_URI, "spiffe://example.com/ops/alice", 0 },
		{ GEN_DNS, "a.example.com", 0 },
	};
	X509 *x = leaf(*state, "1A2B", sans, ARRAY_LEN(sans));
	struct ident *id = NULL;

	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_string_equal(id->subject, "CN=alice,OU=ops,O=Example");
	assert_string_equal(id->issuer, "CN=Test Root");
	assert_string_equal(id->serial, "1A2B");
	assert_int_equal(id->n_san_email, 1);
	assert_string_equal(id->san_email[0], "alice@example.com");
	assert_int_equal(id->n_san_dns, 2);
	assert_string_equal(id->san_dns[0], "alice.example.com");
	assert_string_equal(id->san_dns[1], "a.example.com");
	assert_int_equal(id->n_san_uri, 1);
	assert_string_equal(id->san_uri[0], "spiffe://example.com/ops/alice");
	ident_free(&id);
	assert_null(id);
	ident_free(&id);
	ident_free(NULL);
	X509_free(x);
}

static void
test_ident_no_sans(void **state)
{
	X509 *x = leaf(*state, "01", NULL, 0);
	struct ident *id = NULL;

	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_int_equal(id->n_san_email, 0);
	assert_int_equal(id->n_san_dns, 0);
	assert_int_equal(id->n_san_uri, 0);
	assert_null(id->san_dns);
	ident_free(&id);
	assert_int_equal(ident_from_x509(NULL, &id), ERR_INVALID);
	assert_null(id);
	X509_free(x);
}

static void
check_serial(struct pki *p, const char *in, const char *want)
{
	X509 *x = leaf(p, in, NULL, 0);
	struct ident *id = NULL;

	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_string_equal(id->serial, want);
	ident_free(&id);
	X509_free(x);
}

static void
test_ident_serial(void **state)
{
	X509 *x;
	struct ident *id = NULL;

	check_serial(*state, "0", "00");
	check_serial(*state, "1", "01");
	check_serial(*state, "7F", "7F");
	check_serial(*state, "80", "80"); /* DER pads it with 00 */
	check_serial(*state, "abcdef", "ABCDEF");
	check_serial(*state, "0123456789ABCDEF0123456789ABCDEF01",
	    "0123456789ABCDEF0123456789ABCDEF01");
	check_serial(*state, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
	x = leaf(*state, "-05", NULL, 0);
	assert_int_equal(ident_from_x509(x, &id), ERR_INVALID);
	assert_null(id);
	X509_free(x);
}

static void
test_ident_fingerprint(void **state)
{
	X509 *x = leaf(*state, "02", NULL, 0), *other = leaf(*state, "03", NULL, 0);
	struct ident *id = NULL, *id2 = NULL;
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	char want[IDENT_FPR_LEN + 1];
	int len, i;

	/* Independently: SHA-256 over the DER encoding. */
	assert_true((len = i2d_X509(x, &der)) > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(mdlen, 32);
	strcpy(want, "sha256:");
	for (i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_int_equal(strlen(id->fingerprint), IDENT_FPR_LEN);
	assert_string_equal(id->fingerprint, want);
	assert_int_equal(ident_from_x509(other, &id2), 0);
	assert_string_not_equal(id2->fingerprint, want);
	ident_free(&id);
	ident_free(&id2);
	OPENSSL_free(der);
	X509_free(x);
	X509_free(other);
}

static void
check_san_refused(struct pki *p, int type, const char *value, size_t len)
{
	struct tc_san sans[] = {
		{ GEN_EMAIL, "ok@example.com", 0 }, { type, value, len },
	};
	X509 *x = leaf(p, "04", sans, ARRAY_LEN(sans));
	struct ident *id = NULL;

	assert_int_equal(ident_from_x509(x, &id), ERR_INVALID);
	assert_null(id);
	X509_free(x);
}

static void
test_ident_nul_refused(void **state)
{
	static const struct tc_ava nul[] = { { "CN", "alice\0evil", 10, 0 } };
	struct pki *p = *state;
	struct tc_leaf spec = {
		.subject = nul, .n_subject = 1, .not_before = -60,
		.not_after = 3600, .eku = TC_EKU_CLIENT,
	};
	X509 *x;
	struct ident *id = NULL;

	check_san_refused(p, GEN_EMAIL, "alice@example.com\0.evil", 23);
	check_san_refused(p, GEN_DNS, "alice.example.com\0.evil", 23);
	check_san_refused(p, GEN_URI, "spiffe://a\0b", 12);
	assert_non_null(x = tc_leaf_new(&spec, p->key, p->ca, p->ca_key));
	assert_int_equal(ident_from_x509(x, &id), ERR_INVALID);
	assert_null(id);
	X509_free(x);
}

/* The subject attribute by attribute: every AVA of a multi-valued RDN,
 * types in dn_attr_type form; the emails' local parts. */
static void
test_ident_avas_locals(void **state)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "OU", "ops", 0, 0 },
		{ "UID", "al", 0, 1 }, { "CN", "alice", 0, 0 },
	};
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "Alice.S@example.com", 0 },
		{ GEN_EMAIL, "no-at-sign", 0 },
	};
	struct pki *p = *state;
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.not_before = -60, .not_after = 3600, .eku = TC_EKU_CLIENT,
		.sans = sans, .n_sans = ARRAY_LEN(sans),
	};
	X509 *x;
	struct ident *id = NULL;

	assert_non_null(x = tc_leaf_new(&spec, p->key, p->ca, p->ca_key));
	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_string_equal(id->subject, "CN=alice,OU=ops+UID=al,O=Example");
	assert_int_equal(id->n_avas, 4);
	assert_string_equal(id->avas[0].type, "O");
	assert_string_equal(id->avas[0].value, "Example");
	assert_string_equal(id->avas[2].type, "UID");
	assert_string_equal(id->avas[2].value, "al");
	assert_string_equal(id->avas[3].type, "CN");
	assert_int_equal(id->n_san_email, 2);
	assert_string_equal(id->san_email_local[0], "Alice.S");
	assert_null(id->san_email_local[1]);
	assert_int_equal(id->n_policy_oids, 0);
	ident_free(&id);
	X509_free(x);
}

static void
add_policy(CERTIFICATEPOLICIES *cps, const char *oid)
{
	POLICYINFO *pi = POLICYINFO_new();

	assert_non_null(pi);
	ASN1_OBJECT_free(pi->policyid);
	assert_non_null(pi->policyid = OBJ_txt2obj(oid, 1));
	assert_true(sk_POLICYINFO_push(cps, pi) > 0);
}

static void
test_ident_policy_oids(void **state)
{
	struct pki *p = *state;
	X509 *x = leaf(p, "05", NULL, 0);
	CERTIFICATEPOLICIES *cps = CERTIFICATEPOLICIES_new();
	struct ident *id = NULL;

	assert_non_null(cps);
	add_policy(cps, "1.3.6.1.4.1.99999.1");
	add_policy(cps, "2.5.29.32.0");
	assert_int_equal(X509_add1_ext_i2d(x, NID_certificate_policies, cps, 0,
	    X509V3_ADD_DEFAULT), 1);
	CERTIFICATEPOLICIES_free(cps);
	assert_true(X509_sign(x, p->ca_key, EVP_sha256()) > 0);
	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_int_equal(id->n_policy_oids, 2);
	assert_string_equal(id->policy_oids[0], "1.3.6.1.4.1.99999.1");
	assert_string_equal(id->policy_oids[1], "2.5.29.32.0");
	ident_free(&id);
	X509_free(x);
}

/* References: ident_from_x509 gives one; every ident_ref adds one; the
 * ident lives until the last ident_free (valgrind and ASan see a freed
 * one read, and a leak if the last free does not free). */
static void
test_ident_refs(void **state)
{
	X509 *x = leaf(*state, "2A", NULL, 0);
	struct ident *id = NULL, *a, *b;

	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_int_equal(id->refs, 1);
	a = ident_ref(id);
	assert_ptr_equal(a, id);
	assert_int_equal(id->refs, 2);
	b = ident_ref(id);
	assert_int_equal(id->refs, 3);

	/* Each free clears the holder's pointer, not the others' ident. */
	ident_free(&a);
	assert_null(a);
	assert_int_equal(id->refs, 2);
	ident_free(&id);
	assert_null(id);
	assert_int_equal(b->refs, 1);
	assert_string_equal(b->subject, "CN=alice,OU=ops,O=Example");
	assert_int_equal(strlen(b->fingerprint), IDENT_FPR_LEN);
	/* The last one frees it. */
	ident_free(&b);
	assert_null(b);

	assert_null(ident_ref(NULL));
	ident_free(&b);
	ident_free(NULL);
	X509_free(x);
}

/* An ident made by calloc (refs 0) is freed by its one ident_free, and
 * one ident_ref makes it two holders, not one. */
static void
test_ident_refs_calloc(void **state)
{
	struct ident *id = calloc(1, sizeof(*id)), *other;

	(void)state;
	assert_non_null(id);
	assert_non_null(id->subject = strdup("CN=bob"));
	other = ident_ref(id);
	assert_int_equal(id->refs, 2);
	ident_free(&other);
	assert_null(other);
	assert_int_equal(id->refs, 1);
	assert_string_equal(id->subject, "CN=bob");
	ident_free(&id);
	assert_null(id);

	/* refs 0 and never referenced: the single free is the last. */
	assert_non_null(id = calloc(1, sizeof(*id)));
	assert_non_null(id->serial = strdup("01"));
	ident_free(&id);
	assert_null(id);
}

static void
test_dn_attr_type(void **state)
{
	char out[IDENT_TYPE_MAX];

	(void)state;
	assert_int_equal(dn_attr_type("cn", out), 0);
	assert_string_equal(out, "CN");
	assert_int_equal(dn_attr_type("commonName", out), 0);
	assert_string_equal(out, "CN");
	assert_int_equal(dn_attr_type("2.5.4.11", out), 0);
	assert_string_equal(out, "OU");
	assert_int_equal(dn_attr_type("userId", out), 0);
	assert_string_equal(out, "UID");
	assert_int_equal(dn_attr_type("1.2.3.4.5", out), 0);
	assert_string_equal(out, "1.2.3.4.5");
	assert_int_equal(dn_attr_type("nosuchattr", out), ERR_INVALID);
	assert_int_equal(dn_attr_type("c n", out), ERR_INVALID);
	assert_int_equal(dn_attr_type("", out), ERR_INVALID);
	assert_int_equal(dn_attr_type(NULL, out), ERR_INVALID);
}

static void
test_oid_normalize(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(ident_oid_normalize("1.3.6.1.4.1.99999.1", &o), 0);
	assert_string_equal(o, "1.3.6.1.4.1.99999.1");
	free(o);
	assert_int_equal(ident_oid_normalize("2.5.29.32.0", &o), 0);
	assert_string_equal(o, "2.5.29.32.0");
	free(o);
	assert_int_equal(ident_oid_normalize("anyPolicy", &o), ERR_INVALID);
	assert_int_equal(ident_oid_normalize("1", &o), ERR_INVALID);
	assert_int_equal(ident_oid_normalize("1.02.3", &o), ERR_INVALID);
	assert_int_equal(ident_oid_normalize("1..3", &o), ERR_INVALID);
	assert_int_equal(ident_oid_normalize("1.3.", &o), ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_norm_type_case),
		cmocka_unit_test(test_norm_synonyms),
		cmocka_unit_test(test_norm_bad_types),
		cmocka_unit_test(test_norm_spacing),
		cmocka_unit_test(test_norm_escapes),
		cmocka_unit_test(test_norm_hex_escapes),
		cmocka_unit_test(test_norm_utf8),
		cmocka_unit_test(test_norm_multivalued),
		cmocka_unit_test(test_norm_garbage),
		cmocka_unit_test(test_norm_ber_refused),
		cmocka_unit_test(test_print_equiv_ascii),
		cmocka_unit_test(test_print_equiv_escapes),
		cmocka_unit_test(test_print_equiv_utf8),
		cmocka_unit_test(test_print_equiv_multivalued),
		cmocka_unit_test(test_print_unknown_oid),
		cmocka_unit_test(test_dn_from_name_refusals),
		cmocka_unit_test(test_ident_fields),
		cmocka_unit_test(test_ident_no_sans),
		cmocka_unit_test(test_ident_serial),
		cmocka_unit_test(test_ident_fingerprint),
		cmocka_unit_test(test_ident_nul_refused),
		cmocka_unit_test(test_ident_avas_locals),
		cmocka_unit_test(test_ident_policy_oids),
		cmocka_unit_test(test_ident_refs),
		cmocka_unit_test(test_ident_refs_calloc),
		cmocka_unit_test(test_dn_attr_type),
		cmocka_unit_test(test_oid_normalize),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
