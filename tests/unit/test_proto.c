#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

/* Room for any frame, so only proto's own bounds are exercised. */
#define OUT_MAX (PROTO_HDR_LEN + PROTO_MAX_FRAME + 64)

/* Returns a heap string of n copies of c. */
static char *
rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
assert_zeroed(const struct proto_msg *m)
{
	struct proto_msg zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(m, &zero, sizeof(zero));
}

/* Encodes m, checks the frame's length header, decodes it back into *got. */
static void
roundtrip(const struct proto_msg *m, struct proto_msg *got)
{
	struct buf *b = buf_new(OUT_MAX);
	size_t consumed = 0;
	const uint8_t *p;

	assert_non_null(b);
	assert_int_equal(proto_encode(b, m), 0);
	p = buf_ptr(b);
	assert_int_equal((size_t)p[0] << 24 | (size_t)p[1] << 16 |
	    (size_t)p[2] << 8 | p[3], buf_avail(b) - PROTO_HDR_LEN);
	assert_int_equal(p[4], m->type);
	assert_int_equal(proto_decode(p, buf_avail(b), got, &consumed), 0);
	assert_int_equal(consumed, buf_avail(b));
	buf_free(&b);
}

static void
test_hello_roundtrip(void **state)
{
	struct proto_msg m = { .type = PROTO_HELLO, .u.version = 1 };
	struct proto_msg got;
	struct buf *b = buf_new(OUT_MAX);
	static const uint8_t wire[] = { 0, 0, 0, 5, 1, 0, 0, 0, 1 };

	(void)state;
	assert_non_null(b);
	assert_int_equal(proto_encode(b, &m), 0);
	assert_int_equal(buf_avail(b), sizeof(wire));
	assert_memory_equal(buf_ptr(b), wire, sizeof(wire));
	buf_free(&b);

	m.u.version = 0xfffffffe;
	roundtrip(&m, &got);
	assert_int_equal(got.type, PROTO_HELLO);
	assert_int_equal(got.u.version, 0xfffffffe);
	proto_msg_clear(&got);
}

static void
test_deny_roundtrip(void **state)
{
	struct proto_msg m = { .type = PROTO_DENY };
	struct proto_msg got;
	uint32_t reasons[] = { DENY_BAD_TICKET, DENY_WRONG_RHOST, DENY_VERSION,
	    0, 999 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		m.u.reason = reasons[i];
		roundtrip(&m, &got);
		assert_int_equal(got.type, PROTO_DENY);
		assert_int_equal(got.u.reason, reasons[i]);
		proto_msg_clear(&got);
		assert_zeroed(&got);
	}
}

static void
test_redeem_roundtrip(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct proto_msg got;

	(void)state;
	m.u.redeem.user = "alice";
	m.u.redeem.service = "sshd";
	m.u.redeem.rhost = "192.0.2.7";
	m.u.redeem.tty = "ssh";
	m.u.redeem.ticket = "tkt-0123456789";
	roundtrip(&m, &got);
	assert_int_equal(got.type, PROTO_REDEEM);
	assert_string_equal(got.u.redeem.user, "alice");
	assert_string_equal(got.u.redeem.service, "sshd");
	assert_string_equal(got.u.redeem.rhost, "192.0.2.7");
	assert_string_equal(got.u.redeem.tty, "ssh");
	assert_string_equal(got.u.redeem.ticket, "tkt-0123456789");
	proto_msg_clear(&got);
	assert_zeroed(&got);
}

static void
test_redeem_empty_and_null(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct proto_msg got;

	(void)state;
	/* NULL and "" both encode as an absent (empty) string. */
	m.u.redeem.user = "bob";
	m.u.redeem.service = "";
	m.u.redeem.rhost = NULL;
	m.u.redeem.tty = NULL;
	m.u.redeem.ticket = "";
	roundtrip(&m, &got);
	assert_string_equal(got.u.redeem.user, "bob");
	assert_string_equal(got.u.redeem.service, "");
	assert_string_equal(got.u.redeem.rhost, "");
	assert_string_equal(got.u.redeem.tty, "");
	assert_string_equal(got.u.redeem.ticket, "");
	proto_msg_clear(&got);
}

static void
test_redeem_at_bounds(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct proto_msg got;

	(void)state;
	m.u.redeem.user = rep('u', PROTO_MAX_USER);
	m.u.redeem.service = rep('s', PROTO_MAX_SERVICE);
	m.u.redeem.rhost = rep('r', PROTO_MAX_RHOST);
	m.u.redeem.tty = rep('t', PROTO_MAX_TTY);
	m.u.redeem.ticket = rep('k', PROTO_MAX_TICKET);
	roundtrip(&m, &got);
	assert_string_equal(got.u.redeem.user, m.u.redeem.user);
	assert_string_equal(got.u.redeem.service, m.u.redeem.service);
	assert_string_equal(got.u.redeem.rhost, m.u.redeem.rhost);
	assert_string_equal(got.u.redeem.tty, m.u.redeem.tty);
	assert_string_equal(got.u.redeem.ticket, m.u.redeem.ticket);
	proto_msg_clear(&got);
	proto_msg_clear(&m);
}

static void
test_ok_roundtrip(void **state)
{
	struct proto_msg m = { .type = PROTO_OK };
	struct proto_msg got;

	(void)state;
	m.u.ok.subject = "CN=alice,O=Example";
	m.u.ok.issuer = "CN=Example CA";
	m.u.ok.serial = "01ab";
	m.u.ok.fingerprint = "sha256:00ff";
	m.u.ok.rule = "";
	roundtrip(&m, &got);
	assert_int_equal(got.type, PROTO_OK);
	assert_string_equal(got.u.ok.subject, "CN=alice,O=Example");
	assert_string_equal(got.u.ok.issuer, "CN=Example CA");
	assert_string_equal(got.u.ok.serial, "01ab");
	assert_string_equal(got.u.ok.fingerprint, "sha256:00ff");
	assert_string_equal(got.u.ok.rule, "");
	proto_msg_clear(&got);
	assert_zeroed(&got);
}

static void
test_ok_at_bounds(void **state)
{
	struct proto_msg m = { .type = PROTO_OK };
	struct proto_msg got;
	struct buf *b = buf_new(OUT_MAX);

	(void)state;
	assert_non_null(b);
	/* A field at exactly its bound; the others small enough for a frame. */
	m.u.ok.subject = rep('S', PROTO_MAX_FIELD);
	m.u.ok.issuer = rep('I', PROTO_MAX_FIELD);
	m.u.ok.serial = rep('N', PROTO_MAX_FIELD);
	m.u.ok.fingerprint = rep('F', 16);
	m.u.ok.rule = rep('R', 16);
	roundtrip(&m, &got);
	assert_string_equal(got.u.ok.subject, m.u.ok.subject);
	assert_string_equal(got.u.ok.issuer, m.u.ok.issuer);
	assert_string_equal(got.u.ok.serial, m.u.ok.serial);
	assert_string_equal(got.u.ok.fingerprint, m.u.ok.fingerprint);
	assert_string_equal(got.u.ok.rule, m.u.ok.rule);
	proto_msg_clear(&got);

	/* Each field in bound, but all five together exceed the frame. */
	free(m.u.ok.fingerprint);
	free(m.u.ok.rule);
	m.u.ok.fingerprint = rep('F', PROTO_MAX_FIELD);
	m.u.ok.rule = rep('R', PROTO_MAX_FIELD);
	assert_int_equal(proto_encode(b, &m), ERR_TOOLONG);
	assert_int_equal(b->len, 0);
	proto_msg_clear(&m);
	buf_free(&b);
}

static void
test_encode_field_over_bound(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct buf *b = buf_new(OUT_MAX);
	char *over[5];
	char **slot[5];
	size_t bound[5] = { PROTO_MAX_USER, PROTO_MAX_SERVICE, PROTO_MAX_RHOST,
	    PROTO_MAX_TTY, PROTO_MAX_TICKET };
	size_t i;

	(void)state;
	assert_non_null(b);
	slot[0] = &m.u.redeem.user;
	slot[1] = &m.u.redeem.service;
	slot[2] = &m.u.redeem.rhost;
	slot[3] = &m.u.redeem.tty;
	slot[4] = &m.u.redeem.ticket;
	for (i = 0; i < 5; i++)
		over[i] = rep('x', bound[i] + 1);
	/* Earlier bytes in out are kept, nothing of the failed frame. */
	assert_int_equal(buf_put_u8(b, 0x42), 0);
	for (i = 0; i < 5; i++) {
		memset(&m.u, 0, sizeof(m.u));
		*slot[i] = over[i];
		assert_int_equal(proto_encode(b, &m), ERR_INVALID);
		assert_int_equal(b->len, 1);
		/* One byte shorter is accepted. */
		over[i][bound[i]] = '\0';
		assert_int_equal(proto_encode(b, &m), 0);
		buf_reset(b);
		assert_int_equal(buf_put_u8(b, 0x42), 0);
	}
	for (i = 0; i < 5; i++)
		free(over[i]);

	m.type = PROTO_OK;
	memset(&m.u, 0, sizeof(m.u));
	m.u.ok.rule = rep('r', PROTO_MAX_FIELD + 1);
	assert_int_equal(proto_encode(b, &m), ERR_INVALID);
	assert_int_equal(b->len, 1);
	free(m.u.ok.rule);
	buf_free(&b);
}

static void
test_encode_unknown_type(void **state)
{
	struct proto_msg m = { .type = 0 };
	struct buf *b = buf_new(OUT_MAX);

	(void)state;
	assert_non_null(b);
	assert_int_equal(proto_encode(b, &m), ERR_INVALID);
	m.type = 5;
	assert_int_equal(proto_encode(b, &m), ERR_INVALID);
	assert_int_equal(b->len, 0);
	buf_free(&b);
}

static void
test_encode_out_full(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct buf *b = buf_new(20);

	(void)state;
	assert_non_null(b);
	m.u.redeem.user = "a-user-name-too-long-for-20";
	/* Fails after the header went in: the partial frame is undone. */
	assert_int_equal(proto_encode(b, &m), ERR_TOOLONG);
	assert_int_equal(b->len, 0);
	/* Exactly one HELLO frame (9 bytes) fits in a 9-byte buffer. */
	buf_free(&b);
	b = buf_new(9);
	assert_non_null(b);
	m.type = PROTO_HELLO;
	m.u.version = 1;
	assert_int_equal(proto_encode(b, &m), 0);
	assert_int_equal(proto_encode(b, &m), ERR_TOOLONG);
	assert_int_equal(b->len, 9);
	buf_free(&b);
}

/* Decodes p[0..len) expecting err, and checks m was left zeroed. */
static void
decode_fails(const uint8_t *p, size_t len, int err)
{
	struct proto_msg m;
	size_t consumed = 77;

	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(proto_decode(p, len, &m, &consumed), err);
	assert_zeroed(&m);
}

static void
test_decode_every_truncation(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct buf *b = buf_new(OUT_MAX);
	size_t i, n;
	struct proto_msg hello = { .type = PROTO_HELLO, .u.version = 1 };

	(void)state;
	assert_non_null(b);
	m.u.redeem.user = "alice";
	m.u.redeem.service = "sudo";
	m.u.redeem.ticket = "tkt";
	assert_int_equal(proto_encode(b, &m), 0);
	n = buf_avail(b);
	for (i = 0; i < n; i++)
		decode_fails(buf_ptr(b), i, ERR_SHORT);
	buf_reset(b);
	assert_int_equal(proto_encode(b, &hello), 0);
	n = buf_avail(b);
	for (i = 0; i < n; i++)
		decode_fails(buf_ptr(b), i, ERR_SHORT);
	buf_free(&b);
}

static void
test_decode_bad_length(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0, 1, 0, 0, 0, 1 };
	static const uint8_t over[] = { 0, 0, 0x20, 0x01 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t *max;
	struct proto_msg m;
	size_t consumed = 0;

	(void)state;
	decode_fails(zero, sizeof(zero), ERR_TOOLONG);
	/* Decided from the header: no body needed to refuse it. */
	decode_fails(over, sizeof(over), ERR_TOOLONG);
	decode_fails(huge, sizeof(huge), ERR_TOOLONG);

	/* 8192 itself is a legal length: this one fails only on content. */
	max = calloc(1, PROTO_HDR_LEN + PROTO_MAX_FRAME);
	assert_non_null(max);
	max[2] = 0x20;
	max[4] = PROTO_DENY;
	decode_fails(max, PROTO_HDR_LEN + PROTO_MAX_FRAME - 1, ERR_SHORT);
	decode_fails(max, PROTO_HDR_LEN + PROTO_MAX_FRAME, ERR_PROTO);
	/* And an OK that fills 8192 bytes exactly decodes. */
	max[4] = PROTO_OK;
	max[5] = 0x07;
	max[6] = 0xf8; /* 2040 */
	memset(max + 7, 'a', 2040);
	max[7 + 2040] = 0x07;
	max[7 + 2041] = 0xf8;
	memset(max + 7 + 2042, 'b', 2040);
	max[4089] = 0x07;
	max[4090] = 0xf8;
	memset(max + 4091, 'c', 2040);
	max[6131] = 0x07;
	max[6132] = 0xf9; /* 2041 */
	memset(max + 6133, 'd', 2041);
	max[8174] = 0x00;
	max[8175] = 0x14; /* 20 */
	memset(max + 8176, 'e', 20);
	assert_int_equal(8176 + 20, PROTO_HDR_LEN + PROTO_MAX_FRAME);
	assert_int_equal(proto_decode(max, PROTO_HDR_LEN + PROTO_MAX_FRAME, &m,
	    &consumed), 0);
	assert_int_equal(consumed, PROTO_HDR_LEN + PROTO_MAX_FRAME);
	assert_int_equal(strlen(m.u.ok.fingerprint), 2041);
	assert_string_equal(m.u.ok.rule, "eeeeeeeeeeeeeeeeeeee");
	proto_msg_clear(&m);
	free(max);
}

static void
test_decode_unknown_type(void **state)
{
	uint8_t f[] = { 0, 0, 0, 5, 0, 0, 0, 0, 1 };

	(void)state;
	decode_fails(f, sizeof(f), ERR_PROTO);
	f[4] = 5;
	decode_fails(f, sizeof(f), ERR_PROTO);
	f[4] = 255;
	decode_fails(f, sizeof(f), ERR_PROTO);
	/* The same frame with a known type is fine. */
	f[4] = PROTO_DENY;
	{
		struct proto_msg m;
		size_t consumed = 0;

		assert_int_equal(proto_decode(f, sizeof(f), &m, &consumed), 0);
		assert_int_equal(m.u.reason, 1);
		proto_msg_clear(&m);
	}
}

static void
test_decode_hello_size(void **state)
{
	static const uint8_t three[] = { 0, 0, 0, 4, 1, 0, 0, 1 };
	static const uint8_t five[] = { 0, 0, 0, 6, 1, 0, 0, 0, 1, 0 };
	static const uint8_t empty[] = { 0, 0, 0, 1, 1 };
	static const uint8_t deny_trailing[] = { 0, 0, 0, 6, 4, 0, 0, 0, 1, 9 };

	(void)state;
	decode_fails(three, sizeof(three), ERR_PROTO);
	decode_fails(five, sizeof(five), ERR_PROTO);
	decode_fails(empty, sizeof(empty), ERR_PROTO);
	decode_fails(deny_trailing, sizeof(deny_trailing), ERR_PROTO);
}

/* Builds a REDEEM frame in b from raw string parts (len, bytes). */
static void
raw_redeem(struct buf *b, const char *const s[5], const size_t n[5],
    uint16_t len0)
{
	size_t i, total = 1;

	for (i = 0; i < 5; i++)
		total += 2 + n[i];
	buf_reset(b);
	assert_int_equal(buf_put_u32(b, (uint32_t)total), 0);
	assert_int_equal(buf_put_u8(b, PROTO_REDEEM), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(buf_put_u16(b, i == 0 ? len0 : (uint16_t)n[i]),
		    0);
		assert_int_equal(buf_put(b, s[i], n[i]), 0);
	}
}

static void
test_decode_bad_strings(void **state)
{
	struct buf *b = buf_new(OUT_MAX);
	const char *s[5] = { "alice", "sshd", "h", "t", "k" };
	size_t n[5] = { 5, 4, 1, 1, 1 };
	struct proto_msg m;
	size_t consumed = 0;
	char *user;

	(void)state;
	assert_non_null(b);
	/* Sanity: the raw builder makes a valid frame. */
	raw_redeem(b, s, n, 5);
	assert_int_equal(proto_decode(buf_ptr(b), buf_avail(b), &m, &consumed),
	    0);
	assert_string_equal(m.u.redeem.user, "alice");
	proto_msg_clear(&m);

	/* The first string's length runs past the frame's end. */
	raw_redeem(b, s, n, 200);
	decode_fails(buf_ptr(b), buf_avail(b), ERR_PROTO);

	/* A NUL inside a string. */
	s[0] = "al\0ce";
	raw_redeem(b, s, n, 5);
	decode_fails(buf_ptr(b), buf_avail(b), ERR_PROTO);

	/* A user at bound + 1 on the wire. */
	user = rep('u', PROTO_MAX_USER + 1);
	s[0] = user;
	n[0] = PROTO_MAX_USER + 1;
	raw_redeem(b, s, n, (uint16_t)n[0]);
	decode_fails(buf_ptr(b), buf_avail(b), ERR_PROTO);
	/* At the bound it is accepted. */
	n[0] = PROTO_MAX_USER;
	raw_redeem(b, s, n, (uint16_t)n[0]);
	assert_int_equal(proto_decode(buf_ptr(b), buf_avail(b), &m, &consumed),
	    0);
	proto_msg_clear(&m);
	free(user);

	/* A ticket over its bound: the last field is checked too. */
	user = rep('k', PROTO_MAX_TICKET + 1);
	s[0] = "alice";
	n[0] = 5;
	s[4] = user;
	n[4] = PROTO_MAX_TICKET + 1;
	raw_redeem(b, s, n, 5);
	decode_fails(buf_ptr(b), buf_avail(b), ERR_PROTO);
	free(user);
	buf_free(&b);
}

static void
test_decode_missing_and_trailing(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };
	struct buf *b = buf_new(OUT_MAX);
	uint8_t *f;
	size_t n;

	(void)state;
	assert_non_null(b);
	m.u.redeem.user = "alice";
	assert_int_equal(proto_encode(b, &m), 0);
	n = buf_avail(b);
	f = malloc(n + 1);
	assert_non_null(f);
	memcpy(f, buf_ptr(b), n);
	/* Frame length one short: the last (empty) string is missing a byte. */
	f[3] = (uint8_t)(f[3] - 1);
	decode_fails(f, n - 1, ERR_PROTO);
	/* Last field missing entirely. */
	f[3] = (uint8_t)(f[3] - 1);
	decode_fails(f, n - 2, ERR_PROTO);
	/* One byte after the last field. */
	f[3] = (uint8_t)(f[3] + 3);
	f[n] = 0;
	decode_fails(f, n + 1, ERR_PROTO);
	free(f);
	buf_free(&b);
}

static void
test_decode_back_to_back(void **state)
{
	struct proto_msg hello = { .type = PROTO_HELLO, .u.version = 1 };
	struct proto_msg ok = { .type = PROTO_OK };
	struct buf *b = buf_new(OUT_MAX);
	struct proto_msg m;
	size_t consumed = 0, first;

	(void)state;
	assert_non_null(b);
	ok.u.ok.subject = "CN=x";
	assert_int_equal(proto_encode(b, &hello), 0);
	first = buf_avail(b);
	assert_int_equal(proto_encode(b, &ok), 0);

	assert_int_equal(proto_decode(buf_ptr(b), buf_avail(b), &m, &consumed),
	    0);
	assert_int_equal(m.type, PROTO_HELLO);
	assert_int_equal(consumed, first);
	assert_int_equal(consumed, 9);
	proto_msg_clear(&m);
	assert_int_equal(buf_consume(b, consumed), 0);

	assert_int_equal(proto_decode(buf_ptr(b), buf_avail(b), &m, &consumed),
	    0);
	assert_int_equal(m.type, PROTO_OK);
	assert_string_equal(m.u.ok.subject, "CN=x");
	assert_int_equal(consumed, buf_avail(b));
	proto_msg_clear(&m);
	assert_int_equal(buf_consume(b, consumed), 0);
	assert_int_equal(buf_avail(b), 0);
	buf_free(&b);
}

static void
test_clear(void **state)
{
	struct proto_msg m = { .type = PROTO_REDEEM };

	(void)state;
	proto_msg_clear(NULL);
	m.u.redeem.user = rep('u', 3);
	m.u.redeem.ticket = rep('k', 10);
	proto_msg_clear(&m);
	assert_zeroed(&m);
	/* Clearing a cleared message is harmless. */
	proto_msg_clear(&m);
	assert_zeroed(&m);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(proto_type_str(PROTO_HELLO), "hello");
	assert_string_equal(proto_type_str(PROTO_REDEEM), "redeem");
	assert_string_equal(proto_type_str(PROTO_OK), "ok");
	assert_string_equal(proto_type_str(PROTO_DENY), "deny");
	assert_string_equal(proto_type_str(0), "unknown");
	assert_string_equal(proto_type_str(5), "unknown");
	assert_string_equal(proto_deny_str(DENY_BAD_TICKET), "bad_ticket");
	assert_string_equal(proto_deny_str(DENY_EXPIRED), "expired");
	assert_string_equal(proto_deny_str(DENY_WRONG_USER), "wrong_user");
	assert_string_equal(proto_deny_str(DENY_WRONG_RHOST), "wrong_rhost");
	assert_string_equal(proto_deny_str(DENY_NOT_ALLOWED), "not_allowed");
	assert_string_equal(proto_deny_str(DENY_INTERNAL), "internal");
	assert_string_equal(proto_deny_str(DENY_VERSION), "version");
	assert_string_equal(proto_deny_str(0), "unknown");
	assert_string_equal(proto_deny_str(8), "unknown");
	assert_string_equal(err_str(ERR_PROTO), "protocol violation");
	assert_string_equal(err_str(1), "unknown error");
	assert_string_equal(err_str(-999), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_deny_roundtrip),
		cmocka_unit_test(test_redeem_roundtrip),
		cmocka_unit_test(test_redeem_empty_and_null),
		cmocka_unit_test(test_redeem_at_bounds),
		cmocka_unit_test(test_ok_roundtrip),
		cmocka_unit_test(test_ok_at_bounds),
		cmocka_unit_test(test_encode_field_over_bound),
		cmocka_unit_test(test_encode_unknown_type),
		cmocka_unit_test(test_encode_out_full),
		cmocka_unit_test(test_decode_every_truncation),
		cmocka_unit_test(test_decode_bad_length),
		cmocka_unit_test(test_decode_unknown_type),
		cmocka_unit_test(test_decode_hello_size),
		cmocka_unit_test(test_decode_bad_strings),
		cmocka_unit_test(test_decode_missing_and_trailing),
		cmocka_unit_test(test_decode_back_to_back),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
