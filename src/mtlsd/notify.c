#include "config.h"

#include <string.h>

#include "err.h"
#include "log.h"
#include "notify.h"

/* The one place that differs between a build with libsystemd and one
 * without: send_state() either speaks sd_notify or does nothing. */
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

/* sd_notify: > 0 sent, 0 no $NOTIFY_SOCKET (not under systemd), < 0 a
 * negative errno. The environment is kept (unset_environment 0) so that
 * every later state reaches the manager too. */
static int
send_state(const char *state)
{
	int rc;

	if ((rc = sd_notify(0, state)) >= 0)
		return 0;
	log_warn("event=notify-failed state=%s error=%s", LOG_Q(state),
	    LOG_Q(strerror(-rc)));
	return ERR_IO;
}
#else
static int
send_state(const char *state)
{
	(void)state;
	return 0;
}
#endif

int
notify_ready(void)
{
	return send_state("READY=1");
}

int
notify_stopping(void)
{
	return send_state("STOPPING=1");
}

int
notify_reloading(void)
{
	return send_state("RELOADING=1");
}
