/* Mapping of a redemption's outcome to a PAM return code (PROTOCOL.md,
 * "Deny reasons" and "Failure of the exchange"). Pure: no PAM calls. */
#ifndef PAM_MTLS_CODES_H
#define PAM_MTLS_CODES_H

#include "proto.h"

/* redeem_err is what mtls_redeem returned; answer (borrowed, may be NULL)
 * is the message it filled in. Only redeem_err == 0 with a decoded OK is
 * PAM_SUCCESS; a client error wins over whatever answer holds. */
int pam_code_for(int redeem_err, const struct proto_msg *answer);

/* The PAM code for a DENY reason. */
int pam_code_for_deny(uint32_t reason);

#endif
