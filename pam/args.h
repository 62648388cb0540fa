/* Module arguments of pam_mtls.so, parsed without any PAM call.
 *
 *   socket=PATH     absolute path of the daemon's PAM socket
 *                   (default /run/mtlsd/pam.sock)
 *   timeout=N       whole-exchange deadline, integer seconds 1..60 (default 2)
 *   prompt=TEXT     conversation prompt (default "mTLS ticket: "); PAM's
 *                   brackets deliver "[prompt=mTLS ticket: ]" as one element
 *   debug           extra LOG_DEBUG lines (never the ticket)
 *   use_first_pass  take the ticket from PAM_AUTHTOK, never prompt
 *   try_first_pass  take PAM_AUTHTOK if a module set one, else prompt
 *
 * A later occurrence of an argument overrides an earlier one. Given both
 * use_first_pass and try_first_pass, use_first_pass wins: it is the one
 * that never prompts, so the admin's stricter wish is kept.
 *
 * A known argument with a malformed value (timeout=abc, a relative socket,
 * "debug=1", "socket" without "=") is an error: the module fails closed.
 * Unknown arguments are not an error; they are collected so the module can
 * log each one. */
#ifndef PAM_MTLS_ARGS_H
#define PAM_MTLS_ARGS_H

#include <stddef.h>

#include "err.h"

#define PAM_ARGS_DEFAULT_SOCKET "/run/mtlsd/pam.sock"
#define PAM_ARGS_DEFAULT_PROMPT "mTLS ticket: "
#define PAM_ARGS_DEFAULT_TIMEOUT 2
#define PAM_ARGS_MAX_TIMEOUT 60
/* Below PAM_MAX_MSG_SIZE (512), so a conversation can always carry it. */
#define PAM_ARGS_MAX_PROMPT 256
/* Unknown arguments remembered for logging; more are only counted. */
#define PAM_ARGS_MAX_UNKNOWN 16

struct pam_args {
	const char *socket;   /* borrowed: argv or a static default */
	const char *prompt;   /* borrowed: argv or a static default */
	int timeout;          /* seconds */
	int debug;
	int use_first_pass;
	int try_first_pass;   /* never set together with use_first_pass */
	/* Borrowed argv elements that name no known argument: the first
	 * PAM_ARGS_MAX_UNKNOWN of them; n_unknown counts all of them. */
	const char *unknown[PAM_ARGS_MAX_UNKNOWN];
	size_t n_unknown;
};

/* Fills *out from argv[0..argc). The strings in *out point into argv (or
 * are static), so argv must outlive *out; nothing is allocated. On error
 * returns ERR_CONFIG with a NUL-terminated reason in err (which names the
 * argument; arguments are admin-written and hold no secret); *out is then
 * unspecified. err may be NULL when errlen is 0. */
int pam_args_parse(int argc, const char **argv, struct pam_args *out,
    char *err, size_t errlen) MTLS_WUR;

#endif
