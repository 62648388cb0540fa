/* The ticket endpoint's request body, parsed without libevent's request
 * object, so that the parser can be fuzzed on its own (fuzz/). */
#ifndef MTLSD_BODY_H
#define MTLSD_BODY_H

#include "err.h"

/* Parses an application/x-www-form-urlencoded body (NUL-terminated)
 * holding exactly one field, "user". On success *user is a new heap
 * string owned by the caller (the decoded value, not yet checked as a
 * user name). ERR_INVALID for anything else (also for a "%00"),
 * ERR_NOMEM. */
int body_form_user(const char *body, char **user) MTLS_WUR;

#endif
