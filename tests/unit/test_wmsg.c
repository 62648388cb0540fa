#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ident.h"
#include "testcert.h"
#include "wmsg.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define FPR "sha256:" \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TICKET "Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_-"

/* --- building idents and messages ---------------------------------------- */

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

/* A heap copy of n strings; a NULL entry stays NULL. */
static char **
strv_new(const char *const *s, size_t n)
{
	char **v = calloc(n, sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = s[i] != NULL ? xstrdup(s[i]) : NULL;
	return v;
}

/* n copies of s. */
static char **
strv_fill(const char *s, size_t n)
{
	char **v = calloc(n, sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = xstrdup(s);
	return v;
}

/* A string of n copies of c, owned by the caller. */
static char *
str_rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static struct ident *
ident_empty(void)
{
	struct ident *id = calloc(1, sizeof(*id));

	assert_non_null(id);
	id->subject = xstrdup("");
	id->issuer = xstrdup("CN=Example CA");
	id->serial = xstrdup("01");
	memcpy(id->fingerprint, FPR, sizeof(FPR));
	id->refs = 1;
	return id;
}

static struct ident *
ident_full(void)
{
	static const char *const email[] = {
		"alice@example.com", "no-at-sign", "bob@example.org",
	};
	static const char *const local[] = { "alice", NULL, "bob" };
	static const char *const dns[] = {
		"alice.example.com", "www.example.com",
	};
	static const char *const uri[] = { "spiffe://example.com/ops/alice" };
	static const char *const oids[] = {
		"1.3.6.1.4.1.99999.1", "2.5.29.32.0",
	};
	static const char *const ava[][2] = {
		{ "O", "Example" }, { "OU", "ops" }, { "CN", "alice" },
		{ "1.2.3.4", "caf\xc3\xa9" },
	};
	struct ident *id = ident_empty();
	size_t i;

	free(id->subject);
	id->subject = xstrdup("CN=alice,OU=ops,O=Example");
	free(id->serial);
	id->serial = xstrdup("1A2B3C");
	id->san_email = strv_new(email, ARRAY_LEN(email));
	id->n_san_email = ARRAY_LEN(email);
	id->san_email_local = strv_new(local, ARRAY_LEN(local));
	id->san_dns = strv_new(dns, ARRAY_LEN(dns));
	id->n_san_dns = ARRAY_LEN(dns);
	id->san_uri = strv_new(uri, ARRAY_LEN(uri));
	id->n_san_uri = ARRAY_LEN(uri);
	id->policy_oids = strv_new(oids, ARRAY_LEN(oids));
	id->n_policy_oids = ARRAY_LEN(oids);
	assert_non_null(id->avas = calloc(ARRAY_LEN(ava), sizeof(*id->avas)));
	id->n_avas = ARRAY_LEN(ava);
	for (i = 0; i < ARRAY_LEN(ava); i++) {
		id->avas[i].type = xstrdup(ava[i][0]);
		id->avas[i].value = xstrdup(ava[i][1]);
	}
	return id;
}

/* An ISSUE owning its fields (wmsg_clear frees them), around id. */
static void
issue_init(struct wmsg *m, struct ident *id)
{
	memset(m, 0, sizeof(*m));
	m->type = WMSG_ISSUE;
	m->u.issue.seq = 0x01020304;
	m->u.issue.user = xstrdup("root");
	m->u.issue.rule = xstrdup("ops-admins");
	m->u.issue.bind_addr = xstrdup("192.0.2.1");
	m->u.issue.source = xstrdup("192.0.2.7:40000");
	m->u.issue.reason = xstrdup("granted by ops-admins");
	m->u.issue.id = id;
}

static void
issued_init(struct wmsg *m, uint8_t result, const char *ticket)
{
	memset(m, 0, sizeof(*m));
	m->type = WMSG_ISSUED;
	m->u.issued.seq = 0xfffffffe;
	m->u.issued.result = result;
	m->u.issued.lifetime = 30;
	strcpy(m->u.issued.ticket, ticket);
}

static int
is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

/* m encoded into a new buffer, which must succeed. */
static struct buf *
enc(const struct wmsg *m)
{
	struct buf *b = buf_new(WMSG_MAX);

	assert_non_null(b);
	assert_int_equal(wmsg_encode(b, m), 0);
	return b;
}

static void
assert_encode_err(const struct wmsg *m, int want)
{
	struct buf *b = buf_new(2 * WMSG_MAX);

	assert_non_null(b);
	assert_int_equal(wmsg_encode(b, m), want);
	assert_int_equal(buf_avail(b), 0);
	buf_free(&b);
}

static void
assert_decode_err(const uint8_t *p, size_t n, int want)
{
	struct wmsg m;

	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(wmsg_decode(p, n, &m), want);
	assert_true(is_zero(&m, sizeof(m)));
}

/* --- comparing ------------------------------------------------------------ */

static void
strv_assert_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	if (na == 0) {
		assert_null(b);
		return;
	}
	for (i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

/* b is the decoded one: its arrays are NULL when empty. */
static void
ident_assert_eq(const struct ident *a, const struct ident *b)
{
	size_t i;

	assert_non_null(b);
	assert_string_equal(a->subject, b->subject);
	assert_string_equal(a->issuer, b->issuer);
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->fingerprint, b->fingerprint);
	strv_assert_eq(a->san_email, a->n_san_email, b->san_email,
	    b->n_san_email);
	strv_assert_eq(a->san_dns, a->n_san_dns, b->san_dns, b->n_san_dns);
	strv_assert_eq(a->san_uri, a->n_san_uri, b->san_uri, b->n_san_uri);
	strv_assert_eq(a->policy_oids, a->n_policy_oids, b->policy_oids,
	    b->n_policy_oids);
	assert_int_equal(a->n_avas, b->n_avas);
	if (a->n_avas == 0)
		assert_null(b->avas);
	for (i = 0; i < a->n_avas; i++) {
		assert_string_equal(a->avas[i].type, b->avas[i].type);
		assert_string_equal(a->avas[i].value, b->avas[i].value);
	}
	if (a->san_email_local == NULL || a->n_san_email == 0) {
		assert_null(b->san_email_local);
	} else {
		assert_non_null(b->san_email_local);
		for (i = 0; i < a->n_san_email; i++) {
			if (a->san_email_local[i] == NULL)
				assert_null(b->san_email_local[i]);
			else
				assert_string_equal(a->san_email_local[i],
				    b->san_email_local[i]);
		}
	}
	assert_int_equal(b->refs, 1);
}

static void
issue_assert_eq(const struct wmsg_issue *a, const struct wmsg_issue *b)
{
	assert_int_equal(a->seq, b->seq);
	assert_string_equal(a->user, b->user);
	assert_string_equal(a->rule, b->rule);
	assert_string_equal(a->bind_addr, b->bind_addr);
	assert_string_equal(a->source, b->source);
	assert_string_equal(a->reason, b->reason);
	ident_assert_eq(a->id, b->id);
}

/* Encodes m, decodes it, compares, and checks that the decoded message
 * encodes to the same bytes. Returns the encoding. */
static struct buf *
roundtrip(const struct wmsg *m)
{
	struct buf *b = enc(m), *again = NULL;
	struct wmsg d;

	memset(&d, 0xa5, sizeof(d));
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	assert_int_equal(d.type, m->type);
	switch (m->type) {
	case WMSG_ISSUE:
		issue_assert_eq(&m->u.issue, &d.u.issue);
		break;
	case WMSG_ISSUED:
		assert_int_equal(d.u.issued.seq, m->u.issued.seq);
		assert_int_equal(d.u.issued.result, m->u.issued.result);
		assert_int_equal(d.u.issued.lifetime, m->u.issued.lifetime);
		assert_string_equal(d.u.issued.ticket, m->u.issued.ticket);
		break;
	default:
		break;
	}
	again = enc(&d);
	assert_int_equal(buf_avail(again), buf_avail(b));
	assert_memory_equal(buf_ptr(again), buf_ptr(b), buf_avail(b));
	buf_free(&again);
	wmsg_clear(&d);
	return b;
}

/* --- rewriting encoded bytes ----------------------------------------------- */

/* A new copy of p[0..n) with [off, off + del) replaced by ins[0..n_ins). */
static uint8_t *
splice(const uint8_t *p, size_t n, size_t off, size_t del, const void *ins,
    size_t n_ins, size_t *out_n)
{
	uint8_t *d;

	assert_true(off + del <= n);
	assert_non_null(d = malloc(n - del + n_ins + 1));
	memcpy(d, p, off);
	if (n_ins > 0)
		memcpy(d + off, ins, n_ins);
	memcpy(d + off + n_ins, p + off + del, n - off - del);
	*out_n = n - del + n_ins;
	return d;
}

/* Offset of the length field of the first string field whose bytes are
 * exactly s (not s inside a longer string). */
static size_t
str_field(const struct buf *b, const char *s)
{
	const uint8_t *p = buf_ptr(b), *at;
	size_t n = strlen(s), off;

	for (off = 2; off + n <= buf_avail(b); off = (size_t)(at - p) + 1) {
		at = memmem(p + off, buf_avail(b) - off, s, n);
		assert_non_null(at);
		if (((size_t)at[-2] << 8 | at[-1]) == n)
			return (size_t)(at - p) - 2;
	}
	fail_msg("no string field \"%s\"", s);
	return 0;
}

/* A copy of b with the string field s replaced by v[0..n_v) (any bytes,
 * any length up to 65535), its length field rewritten. */
static uint8_t *
with_str(const struct buf *b, const char *s, const void *v, size_t n_v,
    size_t *out_n)
{
	uint8_t *field = malloc(2 + n_v + 1), *d;

	assert_non_null(field);
	field[0] = (uint8_t)(n_v >> 8);
	field[1] = (uint8_t)n_v;
	memcpy(field + 2, v, n_v);
	d = splice(buf_ptr(b), buf_avail(b), str_field(b, s), 2 + strlen(s),
	    field, 2 + n_v, out_n);
	free(field);
	return d;
}

/* Decoding b with field s replaced by v gives want. */
static void
check_str(const struct buf *b, const char *s, const void *v, size_t n_v,
    int want)
{
	size_t n = 0;
	uint8_t *d = with_str(b, s, v, n_v, &n);
	struct wmsg m;

	if (want != 0) {
		assert_decode_err(d, n, want);
	} else {
		assert_int_equal(wmsg_decode(d, n, &m), 0);
		wmsg_clear(&m);
	}
	free(d);
}

static void
check_cstr(const struct buf *b, const char *s, const char *v, int want)
{
	check_str(b, s, v, strlen(v), want);
}

/* --- round trips -------------------------------------------------------- */

static void
test_issue_full_roundtrip(void **state)
{
	struct wmsg m;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_full());
	b = roundtrip(&m);
	assert_int_equal(buf_ptr(b)[0], WMSG_ISSUE);
	/* The seq field, big-endian, right after the type. */
	assert_memory_equal(buf_ptr(b) + 1, "\x01\x02\x03\x04", 4);
	buf_free(&b);
	wmsg_clear(&m);
}

static void
test_issue_empty_ident(void **state)
{
	struct wmsg m, d;
	struct buf *b;
	struct ident *id;

	(void)state;
	issue_init(&m, ident_empty());
	free(m.u.issue.bind_addr);
	m.u.issue.bind_addr = xstrdup("");
	free(m.u.issue.reason);
	m.u.issue.reason = xstrdup("");
	b = roundtrip(&m);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	id = d.u.issue.id;
	assert_null(id->san_email);
	assert_null(id->san_dns);
	assert_null(id->san_uri);
	assert_null(id->san_email_local);
	assert_null(id->avas);
	assert_null(id->policy_oids);
	assert_string_equal(d.u.issue.bind_addr, "");
	wmsg_clear(&d);
	buf_free(&b);
	wmsg_clear(&m);
}

/* An array with a count of 0 and san_email_local without emails are
 * written as empty and absent: one wire form per ident. */
static void
test_issue_empty_arrays_canonical(void **state)
{
	struct wmsg m, plain;
	struct buf *b, *want;

	(void)state;
	issue_init(&plain, ident_empty());
	want = enc(&plain);
	issue_init(&m, ident_empty());
	m.u.issue.id->san_dns = strv_fill("x", 1);
	m.u.issue.id->san_email_local = strv_fill("y", 1);
	b = roundtrip(&m);
	assert_int_equal(buf_avail(b), buf_avail(want));
	assert_memory_equal(buf_ptr(b), buf_ptr(want), buf_avail(b));
	/* ident_free frees neither (counts are 0): free them here. */
	free(m.u.issue.id->san_dns[0]);
	free(m.u.issue.id->san_dns);
	m.u.issue.id->san_dns = NULL;
	free(m.u.issue.id->san_email_local[0]);
	free(m.u.issue.id->san_email_local);
	m.u.issue.id->san_email_local = NULL;
	buf_free(&b);
	buf_free(&want);
	wmsg_clear(&m);
	wmsg_clear(&plain);
}

/* The wire layout of the header, byte for byte, from one written with the
 * buffer primitives, not with wmsg_encode. */
static void
test_issue_layout(void **state)
{
	struct buf *raw = buf_new(WMSG_MAX), *b;
	struct wmsg m, d;
	struct ident *id;

	(void)state;
	assert_non_null(raw);
	assert_int_equal(buf_put_u8(raw, WMSG_ISSUE), 0);
	assert_int_equal(buf_put_u32(raw, 7), 0);
	assert_int_equal(buf_put_cstring(raw, "u"), 0);
	assert_int_equal(buf_put_cstring(raw, "r"), 0);
	assert_int_equal(buf_put_cstring(raw, "b"), 0);
	assert_int_equal(buf_put_cstring(raw, "s"), 0);
	assert_int_equal(buf_put_cstring(raw, "why"), 0);
	assert_int_equal(buf_put_cstring(raw, "CN=a"), 0);
	assert_int_equal(buf_put_cstring(raw, "CN=ca"), 0);
	assert_int_equal(buf_put_cstring(raw, "0A"), 0);
	assert_int_equal(buf_put_cstring(raw, FPR), 0);
	assert_int_equal(buf_put_u16(raw, 2), 0);       /* san_email */
	assert_int_equal(buf_put_cstring(raw, "a@b"), 0);
	assert_int_equal(buf_put_cstring(raw, "c"), 0);
	assert_int_equal(buf_put_u16(raw, 1), 0);       /* san_dns */
	assert_int_equal(buf_put_cstring(raw, "d.example"), 0);
	assert_int_equal(buf_put_u16(raw, 1), 0);       /* san_uri */
	assert_int_equal(buf_put_cstring(raw, "u:x"), 0);
	assert_int_equal(buf_put_u8(raw, 1), 0);        /* locals present */
	assert_int_equal(buf_put_u8(raw, 1), 0);
	assert_int_equal(buf_put_cstring(raw, "a"), 0);
	assert_int_equal(buf_put_u8(raw, 0), 0);
	assert_int_equal(buf_put_u16(raw, 1), 0);       /* avas */
	assert_int_equal(buf_put_cstring(raw, "CN"), 0);
	assert_int_equal(buf_put_cstring(raw, "a"), 0);
	assert_int_equal(buf_put_u16(raw, 1), 0);       /* policy_oids */
	assert_int_equal(buf_put_cstring(raw, "1.2"), 0);

	assert_int_equal(wmsg_decode(buf_ptr(raw), buf_avail(raw), &d), 0);
	assert_int_equal(d.u.issue.seq, 7);
	assert_string_equal(d.u.issue.reason, "why");
	id = d.u.issue.id;
	assert_string_equal(id->serial, "0A");
	assert_int_equal(id->n_san_email, 2);
	assert_string_equal(id->san_email[1], "c");
	assert_string_equal(id->san_email_local[0], "a");
	assert_null(id->san_email_local[1]);
	assert_string_equal(id->san_uri[0], "u:x");
	assert_string_equal(id->avas[0].type, "CN");
	assert_string_equal(id->policy_oids[0], "1.2");
	b = enc(&d);
	assert_int_equal(buf_avail(b), buf_avail(raw));
	assert_memory_equal(buf_ptr(b), buf_ptr(raw), buf_avail(raw));
	buf_free(&b);
	wmsg_clear(&d);

	/* And the other way: the same fields encode to the same bytes. */
	issue_init(&m, ident_empty());
	b = enc(&m);
	assert_int_equal(buf_avail(b), 1 + 4 + (2 + 4) + (2 + 10) + (2 + 9) +
	    (2 + 15) + (2 + 21) + (2 + 0) + (2 + 13) + (2 + 2) +
	    (2 + IDENT_FPR_LEN) + 2 + 2 + 2 + 1 + 2 + 2);
	buf_free(&b);
	wmsg_clear(&m);
	buf_free(&raw);
}

static void
test_issued_roundtrip(void **state)
{
	static const uint8_t want[] = {
		WMSG_ISSUED, 0xff, 0xff, 0xff, 0xfe, WMSG_OK, 0, 0, 0, 30,
		0, TICKET_STR_LEN,
	};
	struct wmsg m;
	struct buf *b;
	uint8_t r;

	(void)state;
	issued_init(&m, WMSG_OK, TICKET);
	b = roundtrip(&m);
	assert_int_equal(buf_avail(b), sizeof(want) + TICKET_STR_LEN);
	assert_memory_equal(buf_ptr(b), want, sizeof(want));
	assert_memory_equal(buf_ptr(b) + sizeof(want), TICKET,
	    TICKET_STR_LEN);
	buf_free(&b);
	wmsg_clear(&m);

	for (r = WMSG_FULL; r <= WMSG_RESULT_LAST; r++) {
		issued_init(&m, r, "");
		b = roundtrip(&m);
		assert_int_equal(buf_avail(b), sizeof(want));
		assert_int_equal(buf_ptr(b)[5], r);
		assert_int_equal(buf_ptr(b)[sizeof(want) - 1], 0);
		buf_free(&b);
		wmsg_clear(&m);
	}
}

static void
test_reload_roundtrip(void **state)
{
	static const uint8_t reload[] = { WMSG_RELOAD };
	struct wmsg m;
	struct buf *b;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_RELOAD;
	b = roundtrip(&m);
	assert_int_equal(buf_avail(b), 1);
	assert_memory_equal(buf_ptr(b), reload, 1);
	buf_free(&b);
}

/* FAILURE: an address, a fingerprint or both, each "" when unknown. */
static void
test_failure_roundtrip(void **state)
{
	static const uint8_t wire[] = {
		WMSG_FAILURE, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1',
		0, 0,
	};
	struct wmsg m, d;
	struct buf *b;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_FAILURE;
	m.u.failure.addr = "127.0.0.1";
	m.u.failure.fpr = "";
	b = roundtrip(&m);
	assert_int_equal(buf_avail(b), sizeof(wire));
	assert_memory_equal(buf_ptr(b), wire, sizeof(wire));
	buf_free(&b);

	m.u.failure.fpr = FPR;
	b = roundtrip(&m);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	assert_int_equal(d.type, WMSG_FAILURE);
	assert_string_equal(d.u.failure.addr, "127.0.0.1");
	assert_string_equal(d.u.failure.fpr, FPR);
	wmsg_clear(&d);
	buf_free(&b);

	m.u.failure.addr = "";
	b = roundtrip(&m);
	buf_free(&b);
}

static void
test_failure_refused(void **state)
{
	static const uint8_t nobody[] = { WMSG_FAILURE, 0, 0, 0, 0 };
	static const uint8_t short_fpr[] = {
		WMSG_FAILURE, 0, 0, 0, 7, 's', 'h', 'a', '2', '5', '6', ':',
	};
	static const uint8_t truncated[] = { WMSG_FAILURE, 0, 1, 'a', 0 };
	static const uint8_t nul[] = { WMSG_FAILURE, 0, 1, '\0', 0, 0 };
	static const uint8_t trailing[] = { WMSG_FAILURE, 0, 1, 'a', 0, 0, 0 };
	struct wmsg m;

	(void)state;
	assert_decode_err(nobody, sizeof(nobody), ERR_PROTO);
	assert_decode_err(short_fpr, sizeof(short_fpr), ERR_PROTO);
	assert_decode_err(truncated, sizeof(truncated), ERR_PROTO);
	assert_decode_err(nul, sizeof(nul), ERR_PROTO);
	assert_decode_err(trailing, sizeof(trailing), ERR_PROTO);
	memset(&m, 0, sizeof(m));
	m.type = WMSG_FAILURE;
	m.u.failure.addr = "";
	m.u.failure.fpr = "";
	assert_encode_err(&m, ERR_INVALID);
	m.u.failure.fpr = "sha256:ABC";
	assert_encode_err(&m, ERR_INVALID);
	m.u.failure.fpr = NULL;
	m.u.failure.addr = "127.0.0.1";
	assert_encode_err(&m, ERR_INVALID);
	m.u.failure.fpr = "";
	m.u.failure.addr = NULL;
	assert_encode_err(&m, ERR_INVALID);
}

/* RELOADED: ok with no error, or not ok with one; nothing in between. */
static void
test_reloaded(void **state)
{
	static const uint8_t ok_wire[] = { WMSG_RELOADED, 1, 0, 0 };
	static const uint8_t ok_with_error[] = { WMSG_RELOADED, 1, 0, 1, 'x' };
	static const uint8_t refused_silent[] = { WMSG_RELOADED, 0, 0, 0 };
	static const uint8_t bad_flag[] = { WMSG_RELOADED, 2, 0, 1, 'x' };
	static const uint8_t no_error[] = { WMSG_RELOADED, 1 };
	struct wmsg m, d;
	struct buf *b;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_RELOADED;
	m.u.reloaded.ok = 1;
	m.u.reloaded.error = "";
	b = roundtrip(&m);
	assert_int_equal(buf_avail(b), sizeof(ok_wire));
	assert_memory_equal(buf_ptr(b), ok_wire, sizeof(ok_wire));
	buf_free(&b);

	m.u.reloaded.ok = 0;
	m.u.reloaded.error = "/etc/mtls/mtlsd.conf:3: syntax error";
	b = roundtrip(&m);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	assert_int_equal(d.u.reloaded.ok, 0);
	assert_string_equal(d.u.reloaded.error, m.u.reloaded.error);
	wmsg_clear(&d);
	buf_free(&b);

	assert_decode_err(ok_with_error, sizeof(ok_with_error), ERR_PROTO);
	assert_decode_err(refused_silent, sizeof(refused_silent), ERR_PROTO);
	assert_decode_err(bad_flag, sizeof(bad_flag), ERR_PROTO);
	assert_decode_err(no_error, sizeof(no_error), ERR_PROTO);
	m.u.reloaded.ok = 0;
	m.u.reloaded.error = "";
	assert_encode_err(&m, ERR_INVALID);
	m.u.reloaded.ok = 1;
	m.u.reloaded.error = "x";
	assert_encode_err(&m, ERR_INVALID);
	m.u.reloaded.error = NULL;
	assert_encode_err(&m, ERR_INVALID);
}

/* --- a real certificate's ident ------------------------------------------ */

static X509 *
cert_with_everything(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "OU", "ops", 0, 0 },
		{ "CN", "alice", 0, 0 }, { "UID", "alice", 0, 1 },
	};
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "alice@example.com", 0 },
		{ GEN_DNS, "alice.example.com", 0 },
		{ GEN_URI, "spiffe://example.com/ops/alice", 0 },
		{ GEN_EMAIL, "no-at-sign", 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = ARRAY_LEN(subject),
		.serial = "00FF0011", .not_before = -60, .not_after = 3600,
		.eku = TC_EKU_CLIENT, .sans = sans, .n_sans = ARRAY_LEN(sans),
	};
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	CONF *conf = NCONF_new(NULL);
	X509 *x = tc_leaf_new(&spec, key, ca, ca_key);

	assert_non_null(x);
	assert_non_null(conf);
	/* tc_leaf_new makes no certificatePolicies: add one, sign again.
	 * OpenSSL wants a config database for this extension, even an
	 * empty one. */
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	X509V3_set_nconf(&ctx, conf);
	ext = X509V3_EXT_nconf_nid(conf, &ctx, NID_certificate_policies,
	    "1.3.6.1.4.1.99999.1, 2.5.29.32.0");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	NCONF_free(conf);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	return x;
}

static void
test_issue_real_cert(void **state)
{
	EVP_PKEY *ca_key = tc_key_new(), *key = tc_key_new();
	X509 *ca = NULL, *x = NULL;
	struct ident *id = NULL;
	struct wmsg m;
	struct buf *b;

	(void)state;
	assert_non_null(ca_key);
	assert_non_null(key);
	assert_non_null(ca = tc_ca_new("Test Root", ca_key, NULL, NULL));
	x = cert_with_everything(key, ca, ca_key);
	assert_int_equal(ident_from_x509(x, &id), 0);
	/* The certificate gives every field something to carry. */
	assert_int_equal(id->n_san_email, 2);
	assert_non_null(id->san_email_local);
	assert_string_equal(id->san_email_local[0], "alice");
	assert_null(id->san_email_local[1]);
	assert_int_equal(id->n_san_dns, 1);
	assert_int_equal(id->n_san_uri, 1);
	assert_int_equal(id->n_avas, 4);
	assert_int_equal(id->n_policy_oids, 2);

	issue_init(&m, id);
	b = roundtrip(&m);
	buf_free(&b);
	wmsg_clear(&m);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

/* --- malformed input ------------------------------------------------------ */

static void
test_decode_every_truncation(void **state)
{
	struct wmsg m;
	struct buf *b;
	size_t cut;

	(void)state;
	issue_init(&m, ident_full());
	b = enc(&m);
	wmsg_clear(&m);
	for (cut = 0; cut < buf_avail(b); cut++)
		assert_decode_err(buf_ptr(b), cut, ERR_PROTO);
	buf_free(&b);

	issued_init(&m, WMSG_OK, TICKET);
	b = enc(&m);
	for (cut = 0; cut < buf_avail(b); cut++)
		assert_decode_err(buf_ptr(b), cut, ERR_PROTO);
	buf_free(&b);
}

static void
test_decode_trailing(void **state)
{
	struct wmsg m;
	struct buf *b;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		memset(&m, 0, sizeof(m));
		m.type = WMSG_RELOAD;
		if (i == 0)
			issue_init(&m, ident_full());
		else if (i == 1)
			issued_init(&m, WMSG_OK, TICKET);
		b = enc(&m);
		assert_int_equal(buf_put_u8(b, 0), 0);
		assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
		buf_free(&b);
		wmsg_clear(&m);
	}
}

static void
test_decode_length(void **state)
{
	uint8_t *big = calloc(1, WMSG_MAX + 1);

	(void)state;
	assert_non_null(big);
	big[0] = WMSG_RELOAD;
	assert_decode_err(big, 0, ERR_PROTO);
	assert_decode_err(NULL, 0, ERR_PROTO);
	assert_decode_err(big, WMSG_MAX + 1, ERR_TOOLONG);
	/* At WMSG_MAX the length is fine: it is the trailing zeros that are
	 * refused. */
	assert_decode_err(big, WMSG_MAX, ERR_PROTO);
	free(big);
}

/* Fills an ISSUE with policy OIDs until it encodes to exactly n bytes. */
static void
issue_of_size(struct wmsg *m, size_t n)
{
	struct ident *id = ident_empty();
	struct buf *b;
	size_t rem, take, i = 0;

	issue_init(m, id);
	b = enc(m);
	assert_true(buf_avail(b) <= n);
	rem = n - buf_avail(b);
	buf_free(&b);
	/* Every string costs at least its 2 length bytes. */
	assert_true(rem == 0 || rem >= 2);
	id->policy_oids = calloc(rem / 2 + 1, sizeof(char *));
	assert_non_null(id->policy_oids);
	while (rem > 0) {
		take = rem < 2 + WMSG_MAX_STR ? rem : 2 + WMSG_MAX_STR;
		/* Leave at least the 2 bytes of one more empty string. */
		if (rem - take == 1)
			take -= 1;
		id->policy_oids[i++] = str_rep('7', take - 2);
		id->n_policy_oids = i;
		rem -= take;
	}
}

static void
test_message_at_max(void **state)
{
	struct wmsg m, d;
	struct buf *b, *small;
	char *last;

	(void)state;
	issue_of_size(&m, WMSG_MAX);
	b = enc(&m);
	assert_int_equal(buf_avail(b), WMSG_MAX);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	wmsg_clear(&d);
	/* out's own max is honoured too. */
	assert_non_null(small = buf_new(WMSG_MAX - 1));
	assert_int_equal(wmsg_encode(small, &m), ERR_TOOLONG);
	assert_int_equal(buf_avail(small), 0);
	buf_free(&small);
	buf_free(&b);

	/* One byte more in a string that is itself under its bound. */
	last = m.u.issue.reason;
	assert_non_null(m.u.issue.reason = malloc(strlen(last) + 2));
	strcpy(m.u.issue.reason, last);
	strcat(m.u.issue.reason, "x");
	free(last);
	assert_encode_err(&m, ERR_TOOLONG);
	wmsg_clear(&m);
}

/* Eight strings at their bound already exceed WMSG_MAX. */
static void
test_encode_too_long(void **state)
{
	struct wmsg m;
	struct ident *id;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_empty());
	id = m.u.issue.id;
	free(m.u.issue.user);
	m.u.issue.user = str_rep('u', WMSG_MAX_STR);
	free(m.u.issue.rule);
	m.u.issue.rule = str_rep('r', WMSG_MAX_STR);
	free(m.u.issue.source);
	m.u.issue.source = str_rep('s', WMSG_MAX_STR);
	free(m.u.issue.reason);
	m.u.issue.reason = str_rep('w', WMSG_MAX_STR);
	free(id->subject);
	id->subject = str_rep('j', WMSG_MAX_STR);
	free(id->issuer);
	id->issuer = str_rep('i', WMSG_MAX_STR);
	free(id->serial);
	id->serial = str_rep('A', WMSG_MAX_STR);
	/* Seven are still under it. */
	b = roundtrip(&m);
	buf_free(&b);
	free(m.u.issue.bind_addr);
	m.u.issue.bind_addr = str_rep('b', WMSG_MAX_STR);
	assert_encode_err(&m, ERR_TOOLONG);
	wmsg_clear(&m);
}

static void
test_unknown_type(void **state)
{
	static const uint8_t types[] = { 0, 6, 0x81, 0xff };
	struct wmsg m;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(types); i++) {
		assert_decode_err(&types[i], 1, ERR_PROTO);
		memset(&m, 0, sizeof(m));
		m.type = types[i];
		assert_encode_err(&m, ERR_INVALID);
	}
}

static void
test_decode_nul_in_string(void **state)
{
	struct wmsg m;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_full());
	b = enc(&m);
	wmsg_clear(&m);
	check_str(b, "root", "ro\0t", 4, ERR_PROTO);
	check_str(b, "root", "roXt", 4, 0);
	check_str(b, "192.0.2.7:40000", "\0", 1, ERR_PROTO);
	check_str(b, "CN=Example CA", "CN=Example\0CA", 13, ERR_PROTO);
	check_str(b, "www.example.com", "www.example.co\0", 15, ERR_PROTO);
	check_str(b, "www.example.com", "www.example.cox", 15, 0);
	check_str(b, "alice", "al\0ce", 5, ERR_PROTO);
	check_str(b, "caf\xc3\xa9", "caf\0\xa9", 5, ERR_PROTO);
	check_str(b, "2.5.29.32.0", "2.5.29.32\0", 10, ERR_PROTO);
	buf_free(&b);
}

static void
test_string_bounds(void **state)
{
	char *s = str_rep('x', WMSG_MAX_STR + 1);
	struct wmsg m;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_full());
	b = enc(&m);
	check_str(b, "granted by ops-admins", s, WMSG_MAX_STR, 0);
	check_str(b, "granted by ops-admins", s, WMSG_MAX_STR + 1, ERR_PROTO);
	check_str(b, "www.example.com", s, WMSG_MAX_STR, 0);
	check_str(b, "www.example.com", s, WMSG_MAX_STR + 1, ERR_PROTO);
	check_str(b, "Example", s, WMSG_MAX_STR + 1, ERR_PROTO);
	buf_free(&b);

	/* The encoder: each string at its bound and one over. */
	free(m.u.issue.reason);
	m.u.issue.reason = xstrdup(s);
	assert_encode_err(&m, ERR_INVALID);
	m.u.issue.reason[WMSG_MAX_STR] = '\0';
	b = roundtrip(&m);
	buf_free(&b);
	free(m.u.issue.id->san_dns[1]);
	m.u.issue.id->san_dns[1] = xstrdup(s);
	assert_encode_err(&m, ERR_INVALID);
	m.u.issue.id->san_dns[1][WMSG_MAX_STR] = '\0';
	b = roundtrip(&m);
	buf_free(&b);
	free(m.u.issue.id->avas[1].value);
	m.u.issue.id->avas[1].value = xstrdup(s);
	assert_encode_err(&m, ERR_INVALID);
	/* The value back at its bound, a local part over it. */
	m.u.issue.id->avas[1].value[WMSG_MAX_STR] = '\0';
	free(m.u.issue.id->san_email_local[0]);
	m.u.issue.id->san_email_local[0] = xstrdup(s);
	assert_encode_err(&m, ERR_INVALID);
	m.u.issue.id->san_email_local[0][WMSG_MAX_STR] = '\0';
	b = roundtrip(&m);
	buf_free(&b);
	wmsg_clear(&m);
	free(s);
}

static void
strv_free_n(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The list san_email (first) or policy_oids (last) with n entries "e". */
static void
set_list(struct ident *id, int first, size_t n)
{
	if (first) {
		strv_free_n(id->san_email, id->n_san_email);
		id->san_email = strv_fill("e", n);
		id->n_san_email = n;
	} else {
		strv_free_n(id->policy_oids, id->n_policy_oids);
		id->policy_oids = strv_fill("e", n);
		id->n_policy_oids = n;
	}
}

/* WMSG_MAX_LIST entries pass; one more, with its count, is refused on
 * either side. */
static void
check_count(int first)
{
	static const uint8_t one[] = { 0, 1, 'e' };
	static const uint8_t over[] = { (WMSG_MAX_LIST + 1) >> 8,
	    (WMSG_MAX_LIST + 1) & 0xff };
	struct wmsg m;
	struct buf *b;
	uint8_t *p, *q;
	size_t off, n = 0, n2 = 0;

	issue_init(&m, ident_empty());
	set_list(m.u.issue.id, first, WMSG_MAX_LIST);
	b = roundtrip(&m);
	/* The count follows the fingerprint, or precedes the entries that
	 * end the message. */
	off = first ? str_field(b, FPR) + 2 + IDENT_FPR_LEN :
	    buf_avail(b) - WMSG_MAX_LIST * sizeof(one) - 2;
	assert_int_equal(buf_ptr(b)[off], WMSG_MAX_LIST >> 8);
	assert_int_equal(buf_ptr(b)[off + 1], WMSG_MAX_LIST & 0xff);
	/* Count and entries agree, so only the bound refuses it. */
	p = splice(buf_ptr(b), buf_avail(b), off, 2, over, 2, &n);
	q = splice(p, n, off + 2, 0, one, sizeof(one), &n2);
	assert_decode_err(q, n2, ERR_PROTO);
	free(p);
	free(q);
	buf_free(&b);

	set_list(m.u.issue.id, first, WMSG_MAX_LIST + 1);
	assert_encode_err(&m, ERR_INVALID);
	wmsg_clear(&m);
}

static void
test_count_bounds(void **state)
{
	(void)state;
	check_count(1);
	check_count(0);
}

static void
test_fingerprint(void **state)
{
	static const char *const bad[] = {
		"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddee",
		"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
		"sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
		"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
		"sha512:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"SHA256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"sha256-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"",
	};
	static const char good[] =
	    "sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
	struct wmsg m;
	struct buf *b;
	size_t i, n;

	(void)state;
	issue_init(&m, ident_full());
	b = enc(&m);
	check_cstr(b, FPR, good, 0);
	for (i = 0; i < ARRAY_LEN(bad); i++)
		check_cstr(b, FPR, bad[i], ERR_PROTO);
	buf_free(&b);

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		n = strlen(bad[i]);
		memset(m.u.issue.id->fingerprint, 0,
		    sizeof(m.u.issue.id->fingerprint));
		memcpy(m.u.issue.id->fingerprint, bad[i],
		    n < IDENT_FPR_LEN ? n : IDENT_FPR_LEN);
		/* The one over IDENT_FPR_LEN fills the array unterminated. */
		if (n > IDENT_FPR_LEN)
			m.u.issue.id->fingerprint[IDENT_FPR_LEN] = '0';
		assert_encode_err(&m, ERR_INVALID);
	}
	memcpy(m.u.issue.id->fingerprint, good, sizeof(good));
	b = roundtrip(&m);
	buf_free(&b);
	wmsg_clear(&m);
}

static void
test_ticket(void **state)
{
	static const char *const bad_ok[] = {
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_",      /* 31 */
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_-A",    /* 33 */
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_+",     /* base64, not url */
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_/",
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_=",
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_.",
		"Zm9vYmFyYmF6cXV4LWZ1enotdGlja2_ ",
		"",
	};
	struct wmsg m;
	struct buf *b;
	size_t i;
	uint8_t r;

	(void)state;
	issued_init(&m, WMSG_OK, TICKET);
	b = enc(&m);
	check_cstr(b, TICKET, "abcdefghijklmnopqrstuvwxyzAZ09-_", 0);
	for (i = 0; i < ARRAY_LEN(bad_ok); i++)
		check_cstr(b, TICKET, bad_ok[i], ERR_PROTO);
	buf_free(&b);
	for (i = 0; i < ARRAY_LEN(bad_ok); i++) {
		memset(m.u.issued.ticket, 0, sizeof(m.u.issued.ticket));
		memcpy(m.u.issued.ticket, bad_ok[i],
		    strnlen(bad_ok[i], TICKET_STR_LEN));
		/* 33 bytes: the array holds no NUL at all. */
		if (strlen(bad_ok[i]) > TICKET_STR_LEN)
			m.u.issued.ticket[TICKET_STR_LEN] = 'A';
		assert_encode_err(&m, ERR_INVALID);
	}

	/* A refusal carries no ticket, and must not. */
	for (r = WMSG_FULL; r <= WMSG_RESULT_LAST; r++) {
		issued_init(&m, r, "");
		b = enc(&m);
		assert_int_equal(buf_put_u8(b, 'A'), 0);
		b->d[b->len - 2] = 1;   /* the length: a one-byte ticket */
		assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
		buf_free(&b);
		issued_init(&m, r, TICKET);
		assert_encode_err(&m, ERR_INVALID);
		issued_init(&m, WMSG_OK, TICKET);
		b = enc(&m);
		b->d[5] = r;
		assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
		buf_free(&b);
	}
	wmsg_clear(&m);
}

static void
test_result_range(void **state)
{
	struct wmsg m, d;
	struct buf *b;

	(void)state;
	issued_init(&m, WMSG_FAILED, "");
	b = enc(&m);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	assert_int_equal(d.u.issued.result, WMSG_FAILED);
	wmsg_clear(&d);
	b->d[5] = WMSG_RESULT_LAST + 1;
	assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
	b->d[5] = 0xff;
	assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
	buf_free(&b);
	m.u.issued.result = WMSG_RESULT_LAST + 1;
	assert_encode_err(&m, ERR_INVALID);
	m.u.issued.result = 0xff;
	assert_encode_err(&m, ERR_INVALID);
}

static void
test_empty_user_rule(void **state)
{
	struct wmsg m;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_full());
	b = enc(&m);
	check_cstr(b, "root", "", ERR_PROTO);
	check_cstr(b, "root", "r", 0);
	check_cstr(b, "ops-admins", "", ERR_PROTO);
	check_cstr(b, "ops-admins", "o", 0);
	/* The other strings may be empty. */
	check_cstr(b, "192.0.2.1", "", 0);
	check_cstr(b, "192.0.2.7:40000", "", 0);
	check_cstr(b, "CN=alice,OU=ops,O=Example", "", 0);
	buf_free(&b);

	m.u.issue.user[0] = '\0';
	assert_encode_err(&m, ERR_INVALID);
	m.u.issue.user[0] = 'r';
	m.u.issue.rule[0] = '\0';
	assert_encode_err(&m, ERR_INVALID);
	wmsg_clear(&m);
}

/* san_email_local's flags are 0 or 1, and present only with emails. */
static void
test_locals_flags(void **state)
{
	struct wmsg m;
	struct buf *b;
	size_t off;

	(void)state;
	issue_init(&m, ident_empty());
	m.u.issue.id->san_email = strv_fill("a@b", 1);
	m.u.issue.id->n_san_email = 1;
	m.u.issue.id->san_email_local = strv_fill("a", 1);
	b = roundtrip(&m);
	off = str_field(b, "a@b") + 2 + 3 + 2 + 2;  /* dns, uri counts */
	assert_int_equal(buf_ptr(b)[off], 1);
	assert_int_equal(buf_ptr(b)[off + 1], 1);
	b->d[off] = 2;
	assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
	b->d[off] = 1;
	b->d[off + 1] = 2;
	assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
	buf_free(&b);
	wmsg_clear(&m);

	/* present with no emails: the flag and nothing else. */
	issue_init(&m, ident_empty());
	b = enc(&m);
	off = str_field(b, FPR) + 2 + IDENT_FPR_LEN + 6;
	assert_int_equal(buf_ptr(b)[off], 0);
	b->d[off] = 1;
	assert_decode_err(buf_ptr(b), buf_avail(b), ERR_PROTO);
	buf_free(&b);
	wmsg_clear(&m);
}

/* Each pointer a message must have, set to NULL in turn. */
static void
test_encode_null_fields(void **state)
{
	struct wmsg m;
	struct ident *id;
	char *saved, **saved_v;
	char **slot[] = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL, NULL, NULL };
	size_t i, n = 0;
	struct buf *b;

	(void)state;
	issue_init(&m, ident_full());
	id = m.u.issue.id;
	slot[n++] = &m.u.issue.user;
	slot[n++] = &m.u.issue.rule;
	slot[n++] = &m.u.issue.bind_addr;
	slot[n++] = &m.u.issue.source;
	slot[n++] = &m.u.issue.reason;
	slot[n++] = &id->subject;
	slot[n++] = &id->issuer;
	slot[n++] = &id->serial;
	slot[n++] = &id->san_email[0];
	slot[n++] = &id->san_dns[1];
	slot[n++] = &id->san_uri[0];
	slot[n++] = &id->avas[0].type;
	slot[n++] = &id->avas[3].value;
	slot[n++] = &id->policy_oids[1];
	assert_int_equal(n, ARRAY_LEN(slot));
	for (i = 0; i < n; i++) {
		saved = *slot[i];
		*slot[i] = NULL;
		assert_encode_err(&m, ERR_INVALID);
		*slot[i] = saved;
	}
	/* All back: it encodes. */
	b = enc(&m);
	buf_free(&b);

	m.u.issue.id = NULL;
	assert_encode_err(&m, ERR_INVALID);
	m.u.issue.id = id;
	/* An array missing under a non-zero count. */
	saved_v = id->san_uri;
	id->san_uri = NULL;
	assert_encode_err(&m, ERR_INVALID);
	id->san_uri = saved_v;
	b = enc(&m);
	buf_free(&b);
	wmsg_clear(&m);
}

static void
test_clear(void **state)
{
	struct wmsg m, d;
	struct buf *b;

	(void)state;
	issued_init(&m, WMSG_OK, TICKET);
	b = enc(&m);
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	assert_string_equal(d.u.issued.ticket, TICKET);
	wmsg_clear(&d);
	assert_true(is_zero(&d, sizeof(d)));
	wmsg_clear(&m);
	assert_true(is_zero(&m, sizeof(m)));
	buf_free(&b);

	issue_init(&m, ident_full());
	b = enc(&m);
	wmsg_clear(&m);
	assert_true(is_zero(&m, sizeof(m)));
	assert_int_equal(wmsg_decode(buf_ptr(b), buf_avail(b), &d), 0);
	wmsg_clear(&d);
	assert_true(is_zero(&d, sizeof(d)));
	wmsg_clear(&d);
	wmsg_clear(NULL);
	buf_free(&b);
}

static void
test_result_str(void **state)
{
	(void)state;
	assert_string_equal(wmsg_result_str(WMSG_OK), "ok");
	assert_string_equal(wmsg_result_str(WMSG_FULL), "full");
	assert_string_equal(wmsg_result_str(WMSG_CERT_FULL), "cert_full");
	assert_string_equal(wmsg_result_str(WMSG_UNAUDITED), "unaudited");
	assert_string_equal(wmsg_result_str(WMSG_FAILED), "failed");
	assert_string_equal(wmsg_result_str(WMSG_RESULT_LAST + 1), "unknown");
	assert_string_equal(wmsg_result_str(0xff), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_full_roundtrip),
		cmocka_unit_test(test_issue_empty_ident),
		cmocka_unit_test(test_issue_empty_arrays_canonical),
		cmocka_unit_test(test_issue_layout),
		cmocka_unit_test(test_issued_roundtrip),
		cmocka_unit_test(test_reload_roundtrip),
		cmocka_unit_test(test_failure_roundtrip),
		cmocka_unit_test(test_failure_refused),
		cmocka_unit_test(test_reloaded),
		cmocka_unit_test(test_issue_real_cert),
		cmocka_unit_test(test_decode_every_truncation),
		cmocka_unit_test(test_decode_trailing),
		cmocka_unit_test(test_decode_length),
		cmocka_unit_test(test_message_at_max),
		cmocka_unit_test(test_encode_too_long),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_decode_nul_in_string),
		cmocka_unit_test(test_string_bounds),
		cmocka_unit_test(test_count_bounds),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_ticket),
		cmocka_unit_test(test_result_range),
		cmocka_unit_test(test_empty_user_rule),
		cmocka_unit_test(test_locals_flags),
		cmocka_unit_test(test_encode_null_fields),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_result_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
