/* Error codes shared by every part of pam_mtls.
 *
 * Functions return 0 on success or one of these negative codes; outputs go
 * through pointer arguments. err_str() never returns NULL. */
#ifndef MTLS_ERR_H
#define MTLS_ERR_H

#define MTLS_WUR __attribute__((warn_unused_result))

enum mtls_err {
	ERR_OK = 0,
	ERR_INTERNAL = -1,  /* a bug or an unexpected library failure */
	ERR_NOMEM = -2,     /* allocation failed */
	ERR_INVALID = -3,   /* malformed input (bad string, bad value) */
	ERR_TOOLONG = -4,   /* a length exceeds its bound */
	ERR_SHORT = -5,     /* input ends early: need more bytes */
	ERR_IO = -6,        /* read/write/socket failure */
	ERR_TIMEOUT = -7,   /* a deadline passed */
	ERR_CONFIG = -8,    /* configuration rejected */
	ERR_NOTFOUND = -9,  /* no such item */
	ERR_DENIED = -10,   /* refused by policy */
	ERR_TLS = -11,      /* TLS or X.509 failure */
	ERR_PERM = -12,     /* ownership or permission check failed */
	ERR_PROTO = -13,    /* protocol violation: wrong type, trailing bytes */
	ERR_CLOSED = -14,   /* peer closed the connection */
	ERR_EXPIRED = -15,  /* an item's lifetime passed */
	ERR_FULL = -16,     /* a capacity limit was reached */
};

/* Static English description of an error code; unknown codes give
 * "unknown error". */
const char *err_str(int err);

#endif
