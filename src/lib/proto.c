#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* REDEEM and OK each carry this many strings. */
#define PROTO_NSTR 5

static const size_t redeem_max[PROTO_NSTR] = {
	PROTO_MAX_USER, PROTO_MAX_SERVICE, PROTO_MAX_RHOST, PROTO_MAX_TTY,
	PROTO_MAX_TICKET,
};

static const size_t ok_max[PROTO_NSTR] = {
	PROTO_MAX_FIELD, PROTO_MAX_FIELD, PROTO_MAX_FIELD, PROTO_MAX_FIELD,
	PROTO_MAX_FIELD,
};

/* The wire order of the strings of a REDEEM or an OK; NULL reads as "". */
static void
redeem_get(const struct proto_redeem *r, const char *s[PROTO_NSTR])
{
	s[0] = r->user;
	s[1] = r->service;
	s[2] = r->rhost;
	s[3] = r->tty;
	s[4] = r->ticket;
}

static void
ok_get(const struct proto_ok *o, const char *s[PROTO_NSTR])
{
	s[0] = o->subject;
	s[1] = o->issuer;
	s[2] = o->serial;
	s[3] = o->fingerprint;
	s[4] = o->rule;
}

/* Hands the decoded strings over to the message (s is left all NULL). */
static void
redeem_set(struct proto_redeem *r, char *s[PROTO_NSTR])
{
	r->user = s[0];
	r->service = s[1];
	r->rhost = s[2];
	r->tty = s[3];
	r->ticket = s[4];
	memset(s, 0, PROTO_NSTR * sizeof(*s));
}

static void
ok_set(struct proto_ok *o, char *s[PROTO_NSTR])
{
	o->subject = s[0];
	o->issuer = s[1];
	o->serial = s[2];
	o->fingerprint = s[3];
	o->rule = s[4];
	memset(s, 0, PROTO_NSTR * sizeof(*s));
}

/* Frees strings that may hold a ticket, wiping them first. */
static void
str_wipe_free(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

static void
strs_free(char *s[PROTO_NSTR])
{
	size_t i;

	for (i = 0; i < PROTO_NSTR; i++)
		str_wipe_free(&s[i]);
}

/* Checks each string against its bound and returns the frame length
 * (type byte included) in *frame_len. */
static int
strs_frame_len(const char *s[PROTO_NSTR], const size_t max[PROTO_NSTR],
    size_t *frame_len)
{
	size_t i, n, total = 1;

	for (i = 0; i < PROTO_NSTR; i++) {
		n = s[i] != NULL ? strlen(s[i]) : 0;
		if (n > max[i])
			return ERR_INVALID;
		total += 2 + n;
	}
	if (total > PROTO_MAX_FRAME)
		return ERR_TOOLONG;
	*frame_len = total;
	return 0;
}

static int
strs_put(struct buf *out, const char *s[PROTO_NSTR])
{
	size_t i;
	int r;

	for (i = 0; i < PROTO_NSTR; i++) {
		if ((r = buf_put_cstring(out, s[i] != NULL ? s[i] : "")) != 0)
			return r;
	}
	return 0;
}

static int
encode_body(struct buf *out, const struct proto_msg *m)
{
	const char *s[PROTO_NSTR];
	size_t frame_len = 0;
	int r;

	switch (m->type) {
	case PROTO_HELLO:
	case PROTO_DENY:
		if ((r = buf_put_u32(out, 1 + 4)) != 0 ||
		    (r = buf_put_u8(out, m->type)) != 0)
			return r;
		return buf_put_u32(out, m->type == PROTO_HELLO ?
		    m->u.version : m->u.reason);
	case PROTO_REDEEM:
		redeem_get(&m->u.redeem, s);
		if ((r = strs_frame_len(s, redeem_max, &frame_len)) != 0)
			return r;
		break;
	case PROTO_OK:
		ok_get(&m->u.ok, s);
		if ((r = strs_frame_len(s, ok_max, &frame_len)) != 0)
			return r;
		break;
	default:
		return ERR_INVALID;
	}
	if ((r = buf_put_u32(out, (uint32_t)frame_len)) != 0 ||
	    (r = buf_put_u8(out, m->type)) != 0)
		return r;
	return strs_put(out, s);
}

int
proto_encode(struct buf *out, const struct proto_msg *m)
{
	size_t start = out->len;
	int r;

	if ((r = encode_body(out, m)) == 0)
		return 0;
	/* Undo a partial frame, which may hold part of a ticket. */
	if (out->d != NULL)
		explicit_bzero(out->d + start, out->len - start);
	out->len = start;
	return r;
}

/* Inside a complete frame, running out of bytes or a bad string is a
 * malformed message, not a reason to wait for more input. */
static int
body_err(int r)
{
	return r == ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
}

static int
strs_get(struct buf *b, char *s[PROTO_NSTR], const size_t max[PROTO_NSTR])
{
	size_t i;
	int r;

	for (i = 0; i < PROTO_NSTR; i++) {
		if ((r = buf_get_cstring(b, &s[i], max[i])) != 0)
			return body_err(r);
	}
	return 0;
}

/* Parses type and payload from b into *m, which must be zeroed. */
static int
decode_body(struct buf *b, struct proto_msg *m)
{
	char *s[PROTO_NSTR] = { NULL };
	uint32_t v = 0;
	uint8_t type = 0;
	int r = ERR_INTERNAL;

	if ((r = buf_get_u8(b, &type)) != 0)
		goto out;
	switch (type) {
	case PROTO_HELLO:
	case PROTO_DENY:
		if ((r = buf_get_u32(b, &v)) != 0) {
			r = body_err(r);
			goto out;
		}
		break;
	case PROTO_REDEEM:
		if ((r = strs_get(b, s, redeem_max)) != 0)
			goto out;
		break;
	case PROTO_OK:
		if ((r = strs_get(b, s, ok_max)) != 0)
			goto out;
		break;
	default:
		r = ERR_PROTO;
		goto out;
	}
	if (buf_avail(b) != 0) {
		r = ERR_PROTO;
		goto out;
	}
	m->type = type;
	if (type == PROTO_HELLO)
		m->u.version = v;
	else if (type == PROTO_DENY)
		m->u.reason = v;
	else if (type == PROTO_REDEEM)
		redeem_set(&m->u.redeem, s);
	else
		ok_set(&m->u.ok, s);
	r = 0;
out:
	strs_free(s);
	return r;
}

int
proto_decode(const uint8_t *p, size_t len, struct proto_msg *m,
    size_t *consumed)
{
	struct buf *body = NULL;
	uint32_t n;
	int r = ERR_INTERNAL;

	memset(m, 0, sizeof(*m));
	*consumed = 0;
	if (len < PROTO_HDR_LEN)
		return ERR_SHORT;
	/* Decided from the header alone: a peer announcing a huge frame is
	 * dropped before we wait for its body. */
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	if (n == 0 || n > PROTO_MAX_FRAME)
		return ERR_TOOLONG;
	if (n > len - PROTO_HDR_LEN)
		return ERR_SHORT;

	/* A private copy: the body may hold a ticket, and buf_free wipes. */
	if ((body = buf_new(n)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = buf_put(body, p + PROTO_HDR_LEN, n)) != 0)
		goto out;
	if ((r = decode_body(body, m)) != 0)
		goto out;
	*consumed = PROTO_HDR_LEN + (size_t)n;
	r = 0;
out:
	buf_free(&body);
	return r;
}

void
proto_msg_clear(struct proto_msg *m)
{
	if (m == NULL)
		return;
	switch (m->type) {
	case PROTO_REDEEM:
		free(m->u.redeem.user);
		free(m->u.redeem.service);
		free(m->u.redeem.rhost);
		free(m->u.redeem.tty);
		str_wipe_free(&m->u.redeem.ticket);
		break;
	case PROTO_OK:
		free(m->u.ok.subject);
		free(m->u.ok.issuer);
		free(m->u.ok.serial);
		free(m->u.ok.fingerprint);
		free(m->u.ok.rule);
		break;
	default:
		/* HELLO, DENY and unknown types own no memory. */
		break;
	}
	explicit_bzero(m, sizeof(*m));
}

const char *
proto_type_str(uint8_t type)
{
	switch (type) {
	case PROTO_HELLO:
		return "hello";
	case PROTO_REDEEM:
		return "redeem";
	case PROTO_OK:
		return "ok";
	case PROTO_DENY:
		return "deny";
	default:
		return "unknown";
	}
}

const char *
proto_deny_str(uint32_t reason)
{
	switch (reason) {
	case DENY_BAD_TICKET:
		return "bad_ticket";
	case DENY_EXPIRED:
		return "expired";
	case DENY_WRONG_USER:
		return "wrong_user";
	case DENY_WRONG_RHOST:
		return "wrong_rhost";
	case DENY_NOT_ALLOWED:
		return "not_allowed";
	case DENY_INTERNAL:
		return "internal";
	case DENY_VERSION:
		return "version";
	default:
		return "unknown";
	}
}
