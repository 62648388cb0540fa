#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "conf.h"
#include "ctlclient.h"

#define PROG "mtlsctl"
/* The daemon's default when the config has no control_socket (conf.c). */
#define DEFAULT_CONTROL_SOCKET "/run/mtlsd/control.sock"
/* A reload loads certificates and keys: give it time, but not forever. */
#define CTL_DEADLINE_MS 30000
#define CTL_MAX_ANSWER (256 * 1024)

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_UNREACHABLE = 3,
};

/* A config file libconfig cannot parse (being edited) still names its
 * socket on a line of its own: control_socket = "PATH"; absent, the
 * default. */
static int
socket_path_scan(const char *conf, char *out, size_t outlen)
{
	static const char key[] = "control_socket";
	char line[4096], *p, *end;
	FILE *f;
	int rc = 0;

	if ((f = fopen(conf, "r")) == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", conf, strerror(errno));
		return -1;
	}
	snprintf(out, outlen, "%s", DEFAULT_CONTROL_SOCKET);
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, key, sizeof(key) - 1) != 0)
			continue;
		p += sizeof(key) - 1;
		p += strspn(p, " \t");
		if (*p != '=' && *p != ':')
			continue;
		p++;
		p += strspn(p, " \t");
		if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
			continue;
		if ((size_t)(end - p - 1) >= outlen) {
			rc = -1;
			break;
		}
		snprintf(out, outlen, "%.*s", (int)(end - p - 1), p + 1);
		break;
	}
	fclose(f);
	return rc;
}

/* Only control_socket is wanted, so only the main file is parsed, and
 * not checked: status must work while the file on disk is being edited
 * into something the daemon would refuse. */
static int
socket_path(const struct ctl_target *t, char *out, size_t outlen)
{
	config_t cf;
	const char *v = NULL;
	int rc = -1;

	if (t->sock != NULL) {
		snprintf(out, outlen, "%s", t->sock);
		return 0;
	}
	config_init(&cf);
	if (config_read_file(&cf, t->conf) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO) {
			fprintf(stderr, PROG ": %s: cannot read: %s\n",
			    t->conf, strerror(errno));
			goto out;
		}
		/* Being edited: the daemon still runs the last good one,
		 * and its answer (to reload) names the error. */
		rc = socket_path_scan(t->conf, out, outlen);
		goto out;
	}
	if (config_lookup_string(&cf, "control_socket", &v) != CONFIG_TRUE)
		v = DEFAULT_CONTROL_SOCKET;
	if (strlen(v) >= outlen) {
		fprintf(stderr, PROG ": %s: control_socket too long\n",
		    t->conf);
		goto out;
	}
	snprintf(out, outlen, "%s", v);
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, PROG ": %s: path too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s (is mtlsd "
		    "running, and are you root or its user?)\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static long
ms_left(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 +
	    (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Sends req and reads the answer until the daemon closes. *out is
 * NUL-terminated and the caller's (free). */
static int
ctl_exchange(const char *path, const char *req, char **out)
{
	struct timespec end;
	struct pollfd pfd;
	char *ans = NULL;
	size_t len = 0;
	ssize_t n;
	long left;
	int fd, rc = -1;

	if ((fd = ctl_connect(path)) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += CTL_DEADLINE_MS / 1000;
	if ((ans = malloc(CTL_MAX_ANSWER + 1)) == NULL)
		goto out;
	/* MSG_NOSIGNAL: a daemon that closes at once (a refused peer) is
	 * an answer, "closed without an answer", not a SIGPIPE. */
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		if (errno == EPIPE || errno == ECONNRESET)
			goto closed;
		fprintf(stderr, PROG ": %s: write: %s\n", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if ((left = ms_left(&end)) <= 0) {
			fprintf(stderr, PROG ": %s: no answer in time\n", path);
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			goto out;
		n = read(fd, ans + len, CTL_MAX_ANSWER - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno == ECONNRESET)
			break;
		if (n < 0) {
			fprintf(stderr, PROG ": %s: read: %s\n", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == CTL_MAX_ANSWER) {
			fprintf(stderr, PROG ": %s: answer too long\n", path);
			goto out;
		}
	}
closed:
	ans[len] = '\0';
	*out = ans;
	ans = NULL;
	rc = 0;
out:
	free(ans);
	close(fd);
	return rc;
}

/* The answer is "ok\n" BODY or "error REASON\n". Returns an exit code;
 * prints BODY on stdout, REASON on stderr under what. */
static int
ctl_outcome(const char *ans, const char *what)
{
	const char *nl;

	if (strncmp(ans, "ok\n", 3) == 0) {
		fputs(ans + 3, stdout);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_REFUSED;
	}
	if (strncmp(ans, "error ", 6) == 0) {
		nl = strchr(ans + 6, '\n');
		fprintf(stderr, PROG ": %s: %.*s\n", what,
		    (int)(nl != NULL ? nl - (ans + 6) : (long)strlen(ans + 6)),
		    ans + 6);
		return EXIT_REFUSED;
	}
	fprintf(stderr, PROG ": %s: %s\n", what, ans[0] == '\0' ?
	    "the daemon closed the connection without an answer" :
	    "unexpected answer from the daemon");
	return EXIT_REFUSED;
}

static int
ctl_run(const struct ctl_target *t, const char *req, const char *what)
{
	char path[4096], *ans = NULL;
	int rc;

	if (socket_path(t, path, sizeof(path)) != 0)
		return EXIT_UNREACHABLE;
	if (ctl_exchange(path, req, &ans) != 0)
		return EXIT_UNREACHABLE;
	rc = ctl_outcome(ans, what);
	free(ans);
	return rc;
}

int
ctl_status(const struct ctl_target *t, int json)
{
	return ctl_run(t, json ? "status json\n" : "status\n", "status");
}

int
ctl_reload(const struct ctl_target *t)
{
	return ctl_run(t, "reload\n", "reload refused");
}
