/* pam_mtls.so: log in with a ticket that mtlsd issued over mutual TLS.
 *
 * The module prompts for the ticket, redeems it on the daemon's local
 * socket (client.c) and maps the answer to a PAM code (codes.c). It keeps
 * no state between calls, installs no signal handler and never exits;
 * only the pam_sm_* functions are exported (pam_mtls.sym). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "args.h"
#include "client.h"
#include "codes.h"
#include "proto.h"

#define MTLS_EXPORT __attribute__((visibility("default")))

/* getpwnam_r buffer bounds: start small, give up on absurd entries. */
#define PW_BUF_MIN 1024
#define PW_BUF_MAX (1024 * 1024)

static const char *const env_names[] = {
	"MTLS_SUBJECT", "MTLS_SERIAL", "MTLS_FINGERPRINT",
};
#define N_ENV (sizeof(env_names) / sizeof(env_names[0]))

/* PAM_SUCCESS if user has a passwd entry, else the PAM code for why not. */
static int
user_known(const char *user)
{
	struct passwd pw, *found = NULL;
	char *pwbuf = NULL;
	size_t len = PW_BUF_MIN;
	int e = 0, rc = PAM_USER_UNKNOWN;

	for (;;) {
		if ((pwbuf = malloc(len)) == NULL) {
			rc = PAM_BUF_ERR;
			goto out;
		}
		e = getpwnam_r(user, &pw, pwbuf, len, &found);
		if (e != ERANGE || len >= PW_BUF_MAX)
			break;
		free(pwbuf);
		pwbuf = NULL;
		len *= 2;
	}
	if (found != NULL)
		rc = PAM_SUCCESS;
	else if (e == ENOMEM)
		rc = PAM_BUF_ERR;
	else if (e != 0 && e != ENOENT && e != ESRCH && e != EBADF &&
	    e != EPERM)
		/* The name service failed: not the same as "no such user". */
		rc = PAM_AUTHINFO_UNAVAIL;
	else
		rc = PAM_USER_UNKNOWN;
out:
	free(pwbuf);
	return rc;
}

/* A string item, "" when unset. Borrowed from PAM. */
static const char *
item_str(pam_handle_t *pamh, int type)
{
	const void *item = NULL;

	if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == NULL)
		return "";
	return item;
}

/* Sets *ticket (borrowed: PAM_AUTHTOK or *resp) and, when it prompted,
 * *resp (owned by the caller, to be wiped). The ticket is not stored as
 * PAM_AUTHTOK: it is single-use and no other module needs to see it. */
static int
get_ticket(pam_handle_t *pamh, const struct pam_args *args, char **resp,
    const char **ticket)
{
	const char *authtok;

	*resp = NULL;
	*ticket = NULL;
	if (args->use_first_pass || args->try_first_pass) {
		authtok = item_str(pamh, PAM_AUTHTOK);
		if (authtok[0] != '\0' || args->use_first_pass) {
			*ticket = authtok;
			return PAM_SUCCESS;
		}
	}
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, resp, "%s",
	    args->prompt) != PAM_SUCCESS || *resp == NULL)
		return PAM_CONV_ERR;
	*ticket = *resp;
	return PAM_SUCCESS;
}

static void
wipe_free(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

/* A failed login must not leave MTLS_* values set by anyone else. Only
 * present names are deleted: libpam logs an error for any other. */
static void
env_clear(pam_handle_t *pamh)
{
	size_t i;

	for (i = 0; i < N_ENV; i++) {
		if (pam_getenv(pamh, env_names[i]) != NULL)
			(void)pam_putenv(pamh, env_names[i]);
	}
}

static int
env_put(pam_handle_t *pamh, const char *name, const char *value)
{
	char *nv = NULL;
	int rc = PAM_BUF_ERR;

	if (asprintf(&nv, "%s=%s", name, value) < 0) {
		nv = NULL;
		goto out;
	}
	rc = pam_putenv(pamh, nv) == PAM_SUCCESS ? PAM_SUCCESS : PAM_BUF_ERR;
out:
	free(nv);
	return rc;
}

static int
env_set(pam_handle_t *pamh, const struct proto_ok *ok)
{
	const char *values[N_ENV];
	size_t i;

	values[0] = ok->subject != NULL ? ok->subject : "";
	values[1] = ok->serial != NULL ? ok->serial : "";
	values[2] = ok->fingerprint != NULL ? ok->fingerprint : "";
	for (i = 0; i < N_ENV; i++) {
		if (env_put(pamh, env_names[i], values[i]) != PAM_SUCCESS) {
			env_clear(pamh);
			return PAM_BUF_ERR;
		}
	}
	return PAM_SUCCESS;
}

static void
log_unknown_args(pam_handle_t *pamh, const struct pam_args *args)
{
	size_t i;

	for (i = 0; i < args->n_unknown && i < PAM_ARGS_MAX_UNKNOWN; i++)
		pam_syslog(pamh, LOG_WARNING, "unknown argument ignored: %s",
		    args->unknown[i]);
	if (args->n_unknown > PAM_ARGS_MAX_UNKNOWN)
		pam_syslog(pamh, LOG_WARNING,
		    "%zu more unknown arguments ignored",
		    args->n_unknown - PAM_ARGS_MAX_UNKNOWN);
}

/* One line per decision; never the ticket. */
static void
log_outcome(pam_handle_t *pamh, const struct pam_args *args,
    const struct proto_redeem *req, int redeem_err,
    const struct proto_msg *answer, int rc)
{
	if (redeem_err != 0) {
		pam_syslog(pamh, LOG_ERR,
		    "cannot redeem for user=%s service=%s rhost=%s via %s: %s",
		    req->user, req->service, req->rhost, args->socket,
		    err_str(redeem_err));
		return;
	}
	if (rc == PAM_SUCCESS && answer->type == PROTO_OK) {
		pam_syslog(pamh, LOG_INFO,
		    "accepted user=%s service=%s rhost=%s subject=%s "
		    "fingerprint=%s rule=%s", req->user, req->service,
		    req->rhost, answer->u.ok.subject, answer->u.ok.fingerprint,
		    answer->u.ok.rule);
		if (args->debug)
			pam_syslog(pamh, LOG_DEBUG, "issuer=%s serial=%s",
			    answer->u.ok.issuer, answer->u.ok.serial);
		return;
	}
	if (answer->type == PROTO_DENY) {
		pam_syslog(pamh, LOG_NOTICE,
		    "refused user=%s service=%s rhost=%s reason=%s (%u)",
		    req->user, req->service, req->rhost,
		    proto_deny_str(answer->u.reason), answer->u.reason);
		return;
	}
	pam_syslog(pamh, LOG_ERR, "refused user=%s: %s", req->user,
	    pam_strerror(pamh, rc));
}

/* Bounds the module can check itself, before anything leaves it. */
static int
check_request(pam_handle_t *pamh, const struct proto_redeem *req)
{
	size_t n = strlen(req->ticket);

	if (strlen(req->user) > PROTO_MAX_USER) {
		pam_syslog(pamh, LOG_NOTICE, "user name over %d bytes",
		    PROTO_MAX_USER);
		return PAM_USER_UNKNOWN;
	}
	if (n == 0 || n > PROTO_MAX_TICKET) {
		/* The length is no secret worth hiding, the ticket is. */
		pam_syslog(pamh, LOG_NOTICE,
		    "refused user=%s: ticket of %zu bytes, want 1..%d",
		    req->user, n, PROTO_MAX_TICKET);
		return PAM_AUTH_ERR;
	}
	if (strlen(req->service) > PROTO_MAX_SERVICE ||
	    strlen(req->rhost) > PROTO_MAX_RHOST ||
	    strlen(req->tty) > PROTO_MAX_TTY) {
		pam_syslog(pamh, LOG_NOTICE,
		    "refused user=%s: service, rhost or tty over its bound",
		    req->user);
		return PAM_AUTH_ERR;
	}
	return PAM_SUCCESS;
}

MTLS_EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	struct pam_args args;
	struct proto_redeem req;
	struct proto_msg answer;
	const char *user = NULL, *ticket = NULL;
	char *resp = NULL;  /* owned: the conversation's answer, wiped */
	char err[256];
	int r, rc = PAM_AUTH_ERR;

	(void)flags;
	memset(&req, 0, sizeof(req));
	memset(&answer, 0, sizeof(answer));

	if (pam_args_parse(argc, argv, &args, err, sizeof(err)) != 0) {
		pam_syslog(pamh, LOG_ERR, "bad module arguments: %s", err);
		rc = PAM_SERVICE_ERR;
		goto done;
	}
	log_unknown_args(pamh, &args);
	env_clear(pamh);

	if ((rc = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS) {
		if (rc == PAM_CONV_AGAIN)
			rc = PAM_INCOMPLETE;
		else if (rc != PAM_BUF_ERR && rc != PAM_CONV_ERR)
			rc = PAM_USER_UNKNOWN;
		goto done;
	}
	if (user == NULL || user[0] == '\0') {
		rc = PAM_USER_UNKNOWN;
		goto done;
	}
	if ((rc = user_known(user)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_NOTICE, "unknown user %s: %s", user,
		    pam_strerror(pamh, rc));
		goto done;
	}

	if ((rc = get_ticket(pamh, &args, &resp, &ticket)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_NOTICE, "no ticket for user=%s: %s",
		    user, pam_strerror(pamh, rc));
		goto done;
	}

	/* The strings are borrowed from PAM and resp; req frees nothing. */
	req.user = (char *)user;
	req.service = (char *)item_str(pamh, PAM_SERVICE);
	req.rhost = (char *)item_str(pamh, PAM_RHOST);
	req.tty = (char *)item_str(pamh, PAM_TTY);
	req.ticket = (char *)ticket;
	if ((rc = check_request(pamh, &req)) != PAM_SUCCESS)
		goto done;
	if (args.debug)
		pam_syslog(pamh, LOG_DEBUG,
		    "redeeming user=%s service=%s rhost=%s tty=%s via %s, "
		    "timeout %d s", req.user, req.service, req.rhost, req.tty,
		    args.socket, args.timeout);

	r = mtls_redeem(args.socket, args.timeout * 1000, &req, &answer);
	rc = pam_code_for(r, &answer);
	log_outcome(pamh, &args, &req, r, &answer, rc);
	if (rc != PAM_SUCCESS)
		goto done;
	if ((rc = env_set(pamh, &answer.u.ok)) != PAM_SUCCESS)
		pam_syslog(pamh, LOG_ERR, "cannot set MTLS_* environment");
done:
	explicit_bzero(&req, sizeof(req));
	proto_msg_clear(&answer);
	wipe_free(&resp);
	return rc;
}

MTLS_EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
