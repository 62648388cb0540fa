/* Fuzz target: the local socket protocol's decoder.
 *
 * Targets proto_decode (with buf_new, buf_put, buf_get_u8/u32/cstring
 * underneath), proto_encode and proto_msg_clear. Every frame decoded
 * from the input, one after the other, must encode back to exactly its
 * own bytes and decode again to an equal message; every prefix of it
 * must read as incomplete (ERR_SHORT); a failed decode leaves the
 * message zeroed. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static int
msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case PROTO_HELLO:
		return a->u.version == b->u.version;
	case PROTO_DENY:
		return a->u.reason == b->u.reason;
	case PROTO_REDEEM:
		return str_eq(a->u.redeem.user, b->u.redeem.user) &&
		    str_eq(a->u.redeem.service, b->u.redeem.service) &&
		    str_eq(a->u.redeem.rhost, b->u.redeem.rhost) &&
		    str_eq(a->u.redeem.tty, b->u.redeem.tty) &&
		    str_eq(a->u.redeem.ticket, b->u.redeem.ticket);
	case PROTO_OK:
		return str_eq(a->u.ok.subject, b->u.ok.subject) &&
		    str_eq(a->u.ok.issuer, b->u.ok.issuer) &&
		    str_eq(a->u.ok.serial, b->u.ok.serial) &&
		    str_eq(a->u.ok.fingerprint, b->u.ok.fingerprint) &&
		    str_eq(a->u.ok.rule, b->u.ok.rule);
	default:
		return 0;
	}
}

static int
is_zero(const struct proto_msg *m)
{
	static const struct proto_msg zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

/* The frame p[0..n) decoded as m: the round trip and the prefixes. */
static void
check_frame(const uint8_t *p, size_t n, const struct proto_msg *m)
{
	struct proto_msg again;
	struct buf *b = NULL;
	size_t used = 0, cut;

	if ((b = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME)) == NULL)
		abort();
	if (proto_encode(b, m) != 0 || buf_avail(b) != n ||
	    memcmp(buf_ptr(b), p, n) != 0)
		abort();
	if (proto_decode(buf_ptr(b), buf_avail(b), &again, &used) != 0 ||
	    used != n || !msg_eq(m, &again))
		abort();
	proto_msg_clear(&again);
	buf_free(&b);
	/* A few prefixes, not all: the fuzzer's time is better spent on
	 * new frames than on n decodes of the same one. */
	for (cut = 0; cut < n; cut += 1 + n / 8) {
		if (proto_decode(p, cut, &again, &used) != ERR_SHORT ||
		    used != 0 || !is_zero(&again))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	size_t used = 0;
	int r;

	while (size > 0) {
		r = proto_decode(data, size, &m, &used);
		if (r != 0) {
			if (!is_zero(&m) || used != 0)
				abort();
			if (r != ERR_SHORT && r != ERR_TOOLONG &&
			    r != ERR_PROTO && r != ERR_NOMEM)
				abort();
			break;
		}
		if (used < PROTO_HDR_LEN + 1 || used > size)
			abort();
		check_frame(data, used, &m);
		(void)proto_type_str(m.type);
		if (m.type == PROTO_DENY)
			(void)proto_deny_str(m.u.reason);
		proto_msg_clear(&m);
		data += used;
		size -= used;
	}
	return 0;
}
