/* The HTTP API on the mTLS listener (DESIGN.md):
 *   POST /v1/tickets  user=NAME | {"user":"NAME"}  -> 201 ticket
 *   GET  /v1/whoami                                -> 200 identity, users
 * Every answer is JSON (or text/plain for a ticket on request) with
 * Cache-Control: no-store. */
#ifndef MTLSD_HTTP_H
#define MTLSD_HTTP_H

#include "daemon.h"
#include "err.h"

struct evhttp;

/* Registers the endpoints on http; d is borrowed and must outlive it. */
int http_register(struct daemon *d, struct evhttp *http) MTLS_WUR;

#endif
