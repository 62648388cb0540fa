/* What the parts of mtls-login share: the server it talks to, the bounds
 * on names, and the one-line error message every step fills in.
 *
 * Every step takes msg/msglen: on failure it returns a negative ERR_* and
 * leaves in msg the line main prints on stderr. Nothing secret (the
 * ticket, the key) ever goes into msg. */
#ifndef MTLS_LOGIN_H
#define MTLS_LOGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define USER_MAX 32
#define HOST_MAX 253
#define MSG_LEN 512

/* USER@HOST from the command line, checked by main before anything is
 * sent: the user passed valid_user_name, the host is a valid name or an
 * IP literal. */
struct target {
	char user[USER_MAX + 1];
	char host[HOST_MAX + 1];  /* name or address, brackets removed */
	int is_ip;                /* host is an IPv4 or IPv6 literal */
	int is_v6;
};

/* Formats into msg[0..msglen), cut if need be. Inline so that each part
 * (and its unit test) links without the others. */
static inline void
msg_set(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void
msg_set(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

#endif
