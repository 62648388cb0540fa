/* Minimal JSON writing (escaping) and the one JSON request body the ticket
 * endpoint accepts: an object with a single string member "user". */
#ifndef MTLS_JSON_H
#define MTLS_JSON_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Appends s as a JSON string literal, quotes included, escaping '"', '\\'
 * and every control character as \uXXXX; bytes >= 0x80 are copied as they
 * are (they come from UTF-8 certificate fields). NULL appends "". */
int json_put_string(struct buf *out, const char *s) MTLS_WUR;

/* Parses exactly {"user":"NAME"} (whitespace allowed, no other members, no
 * duplicate, escapes \" \\ \/ only, no trailing bytes) from p[0..len).
 * On success *user is a new heap string owned by the caller.
 * ERR_INVALID for anything else. */
int json_parse_user(const char *p, size_t len, char **user) MTLS_WUR;

#endif
