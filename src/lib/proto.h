/* The local socket protocol between pam_mtls.so and mtlsd (PROTOCOL.md).
 *
 * Frame: u32 big-endian length N (1 <= N <= PROTO_MAX_FRAME), then N bytes:
 * u8 type and the payload. Strings are u16 length + bytes, NUL-free.
 * Both sides use these functions and nothing else to speak it. */
#ifndef MTLS_PROTO_H
#define MTLS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define PROTO_VERSION 1
#define PROTO_MAX_FRAME 8192      /* type + payload, bytes */
#define PROTO_HDR_LEN 4

/* Per-field bounds, in bytes. */
#define PROTO_MAX_USER 256
#define PROTO_MAX_SERVICE 64
#define PROTO_MAX_RHOST 256
#define PROTO_MAX_TTY 64
#define PROTO_MAX_TICKET 128
#define PROTO_MAX_FIELD 2048      /* subject, issuer, serial, fingerprint, rule */

enum proto_type {
	PROTO_HELLO = 1,   /* u32 version                                   */
	PROTO_REDEEM = 2,  /* user, service, rhost, tty, ticket (strings)   */
	PROTO_OK = 3,      /* subject, issuer, serial, fingerprint, rule    */
	PROTO_DENY = 4,    /* u32 reason                                    */
};

enum proto_deny {
	DENY_BAD_TICKET = 1,   /* unknown, already used, or malformed ticket */
	DENY_EXPIRED = 2,      /* ticket lifetime passed                      */
	DENY_WRONG_USER = 3,   /* ticket was issued for another user          */
	DENY_WRONG_RHOST = 4,  /* bound address differs / missing rhost       */
	DENY_NOT_ALLOWED = 5,  /* certificate no longer allowed by policy     */
	DENY_INTERNAL = 6,     /* daemon could not decide                     */
	DENY_VERSION = 7,      /* protocol version not supported              */
};

struct proto_redeem {
	char *user, *service, *rhost, *tty, *ticket;
};

struct proto_ok {
	char *subject, *issuer, *serial, *fingerprint, *rule;
};

struct proto_msg {
	uint8_t type;                   /* enum proto_type */
	union {
		uint32_t version;       /* PROTO_HELLO */
		struct proto_redeem redeem;
		struct proto_ok ok;
		uint32_t reason;        /* PROTO_DENY: enum proto_deny */
	} u;
};

/* Appends one complete frame for m to out. NULL strings encode as empty.
 * ERR_INVALID for an unknown type or a string over its field bound,
 * ERR_TOOLONG if the frame would exceed PROTO_MAX_FRAME or out's cap. */
int proto_encode(struct buf *out, const struct proto_msg *m) MTLS_WUR;

/* Decodes the first frame in p[0..len). On success fills *m (owned by the
 * caller: proto_msg_clear) and sets *consumed to the frame's full size.
 * ERR_SHORT: incomplete, read more and call again (nothing allocated).
 * ERR_TOOLONG: declared length 0 or over PROTO_MAX_FRAME: drop the peer.
 * ERR_PROTO: unknown type, bad string, missing or trailing bytes. */
int proto_decode(const uint8_t *p, size_t len, struct proto_msg *m,
    size_t *consumed) MTLS_WUR;

/* Frees the strings of m, wiping the ticket, and zeroes m. Accepts NULL. */
void proto_msg_clear(struct proto_msg *m);

/* Short static name of a type or a deny reason, for log lines. */
const char *proto_type_str(uint8_t type);
const char *proto_deny_str(uint32_t reason);

#endif
