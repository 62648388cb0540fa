/* The messages of the control socket (PROTOCOL.md, "Control socket"):
 * parsing a request line and writing the status answer. No I/O on the
 * socket here, so that the unit tests run them without a daemon;
 * control.c does the serving. */
#ifndef MTLSD_CTLMSG_H
#define MTLSD_CTLMSG_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "daemon.h"
#include "err.h"

/* The longest request line, newline included. */
#define CONTROL_MAX_REQUEST 64

enum control_req {
	CONTROL_STATUS,        /* "status": key: value lines */
	CONTROL_STATUS_JSON,   /* "status json": one JSON object */
	CONTROL_RELOAD,        /* "reload" */
};

/* Parses the request in p[0..len): exactly one line, "status", "status
 * json" or "reload", ended by '\n', with nothing after it. ERR_SHORT
 * while no newline has come and len < CONTROL_MAX_REQUEST (read more);
 * ERR_PROTO for anything else (unknown request, a byte after the
 * newline, too long). */
int control_parse_request(const char *p, size_t len, enum control_req *out)
    MTLS_WUR;

/* Appends d's status at time now to out: "key: value" lines (json == 0)
 * or one JSON object and a newline. Reads d->cfg, d->stats, the ticket
 * store's count and the configured CRL files (stat and PEM); d is
 * borrowed. ERR_NOMEM or ERR_FULL when out cannot take it. */
int control_status(const struct daemon *d, time_t now, int json,
    struct buf *out) MTLS_WUR;

#endif
