#include "config.h"

#include <security/pam_modules.h>

#include "codes.h"

int
pam_code_for_deny(uint32_t reason)
{
	switch (reason) {
	case DENY_BAD_TICKET:
	case DENY_EXPIRED:
	case DENY_WRONG_USER:
	case DENY_WRONG_RHOST:
	case DENY_NOT_ALLOWED:
		return PAM_AUTH_ERR;
	case DENY_INTERNAL:
	case DENY_VERSION:
		/* The daemon could not decide: as if it were down, so an admin's
		 * [authinfo_unavail=...] applies. */
		return PAM_AUTHINFO_UNAVAIL;
	default:
		/* A reason newer than this module is still a refusal. */
		return PAM_AUTH_ERR;
	}
}

/* Every failure of the exchange, after the daemon or before it, is
 * "authentication information unavailable"; only memory is told apart. */
static int
code_for_err(int redeem_err)
{
	switch (redeem_err) {
	case ERR_NOMEM:
		return PAM_BUF_ERR;
	default:
		return PAM_AUTHINFO_UNAVAIL;
	}
}

int
pam_code_for(int redeem_err, const struct proto_msg *answer)
{
	if (redeem_err != 0)
		return code_for_err(redeem_err);
	if (answer == NULL)
		return PAM_SERVICE_ERR;
	switch (answer->type) {
	case PROTO_OK:
		return PAM_SUCCESS;
	case PROTO_DENY:
		return pam_code_for_deny(answer->u.reason);
	default:
		/* The client hands over only OK or DENY; anything else here is a
		 * bug, and a bug must not open the door. */
		return PAM_AUTHINFO_UNAVAIL;
	}
}
