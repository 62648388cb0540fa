#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "notify.h"

/* The sd_notify(3) protocol: the state as one datagram to the AF_UNIX
 * socket $NOTIFY_SOCKET names, a path or "@name" in the abstract
 * namespace. Spoken here rather than through libsystemd, which would map
 * itself and the compression and crypto libraries it links into the
 * daemon for a few bytes at start and stop. 0 also when there is no
 * $NOTIFY_SOCKET (not started by systemd). The environment is kept, so
 * that every later state reaches the manager too. */
static int
send_state(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n, len = strlen(state);
	socklen_t salen;
	ssize_t sent = -1;
	int fd, err;

	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_warn("event=notify-failed state=%s reason=\"NOTIFY_SOCKET "
		    "is not a unix socket path\"", LOG_Q(state));
		return ERR_IO;
	}
	memcpy(sun.sun_path, path, n);
	/* An abstract name has no terminating NUL in its length. */
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '/' ? 1 : 0));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
		sent = sendto(fd, state, len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&sun, salen);
		err = errno;
		close(fd);
		errno = err;
	}
	if (sent == (ssize_t)len)
		return 0;
	log_warn("event=notify-failed state=%s error=%s", LOG_Q(state),
	    LOG_Q(sent < 0 ? strerror(errno) : "short send"));
	return ERR_IO;
}

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
