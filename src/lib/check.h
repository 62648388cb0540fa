/* The whole configuration check behind `mtlsd -t` and `mtlsctl check`, so
 * that both refuse exactly what the daemon's start-up would refuse. */
#ifndef MTLS_CHECK_H
#define MTLS_CHECK_H

#include <stddef.h>

#include "conf.h"
#include "err.h"

/* Loads path (config_load), builds the TLS server context from it
 * (tls_server_ctx_new: certificate, key, anchors, intermediates, CRLs) and
 * checks that the audit file's directory exists. On success *out is the
 * loaded config, owned by the caller (config_free). On failure returns
 * ERR_CONFIG or ERR_NOMEM with "FILE[:LINE]: reason" in err. */
int config_check(const char *path, struct config **out, char *err,
    size_t errlen) MTLS_WUR;

#endif
