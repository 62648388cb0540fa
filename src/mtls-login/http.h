/* The HTTP side of mtls-login: the one request it sends (POST /v1/tickets)
 * and the checks on the one response it reads. No I/O here: the response
 * is a complete byte buffer (we send Connection: close and read to the
 * end), so all of this is pure and unit-tested. */
#ifndef MTLS_LOGIN_HTTP_H
#define MTLS_LOGIN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "login.h"

/* The largest response we read; longer ones are refused. */
#define HTTP_RESPONSE_MAX 16384
/* Request buffer that any valid target and port fit into. */
#define HTTP_REQUEST_MAX 512
/* A ticket is 16..128 base64url characters. */
#define TICKET_MIN 16
#define TICKET_MAX 128

struct http_resp {
	int status;
	char reason[64];          /* sanitised reason phrase */
	const uint8_t *body;      /* borrowed from the response buffer */
	size_t body_len;
};

/* Writes the ticket request for t->user to t->host:port into
 * out[0..outlen) (not NUL terminated: *lenp bytes). t must have been
 * checked (see struct target). ERR_TOOLONG if it does not fit. */
int http_request_build(const struct target *t, const char *port, char *out,
    size_t outlen, size_t *lenp, char *msg, size_t msglen) MTLS_WUR;

/* Splits the whole response p[0..len) into status, reason and body. The
 * body in *hr is borrowed from p. ERR_PROTO for an empty, malformed,
 * chunked or over-long response, or a body that does not match its
 * Content-Length (without one, the body runs to the end). */
int http_response_parse(const uint8_t *p, size_t len, struct http_resp *hr,
    char *msg, size_t msglen) MTLS_WUR;

/* What the parsed response means: 201 copies the ticket into
 * ticket[0..ticketlen) NUL terminated (ticketlen > TICKET_MAX; the caller
 * owns and wipes it) and returns 0; 403 and 429 give ERR_DENIED with the
 * server's reason, sanitised, in msg; anything else or a malformed ticket
 * gives ERR_PROTO. */
int http_response_ticket(const struct http_resp *hr, char *ticket,
    size_t ticketlen, char *msg, size_t msglen) MTLS_WUR;

/* 1 if t[0..n) is a well-formed ticket: what we print or type into ssh
 * must not carry anything else. */
int ticket_is_valid(const char *t, size_t n);

#endif
