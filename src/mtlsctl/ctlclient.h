/* mtlsctl's client of mtlsd's control socket (PROTOCOL.md, "Control
 * socket"): `status` and `reload`. */
#ifndef MTLSCTL_CTLCLIENT_H
#define MTLSCTL_CTLCLIENT_H

/* The control socket named by the config file conf (its control_socket,
 * or the daemon's default), unless sock is not NULL: then sock. Both are
 * borrowed. */
struct ctl_target {
	const char *conf;
	const char *sock;
};

/* mtlsctl status [--json]: prints the daemon's status on stdout. Returns
 * the exit code: 0 printed, 1 the daemon refused or answered an error,
 * 3 the daemon cannot be reached or the config names no socket. */
int ctl_status(const struct ctl_target *t, int json);

/* mtlsctl reload: asks for a reload and prints the outcome. Returns 0
 * reloaded, 1 refused (the reason on stderr), 3 unreachable. */
int ctl_reload(const struct ctl_target *t);

#endif
