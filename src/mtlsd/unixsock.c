#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"

/* The directory is the module's trust anchor for the socket: refuse one
 * the module would refuse, and say so now rather than at the first login. */
static int
check_dir(const char *what, const char *path, uid_t run_uid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n;

	if (slash == NULL || slash == path) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=\"give an absolute path in a directory of its "
		    "own\"", what, LOG_Q(path));
		return ERR_CONFIG;
	}
	n = (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (lstat(dir, &st) != 0) {
		log_error("event=socket-failed setting=%s path=%s dir=%s "
		    "error=%s action=\"create it first, owned by root or the "
		    "daemon's user, mode 0750\"", what, LOG_Q(path),
		    LOG_Q(dir), LOG_Q(strerror(errno)));
		return ERR_CONFIG;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("event=socket-failed setting=%s path=%s dir=%s "
		    "reason=\"not a directory\"", what, LOG_Q(path),
		    LOG_Q(dir));
		return ERR_CONFIG;
	}
	if (st.st_uid != 0 && st.st_uid != run_uid) {
		log_error("event=socket-failed setting=%s path=%s dir=%s "
		    "owner=%u reason=\"directory not owned by root or uid "
		    "%u\"", what, LOG_Q(path), LOG_Q(dir),
		    (unsigned)st.st_uid, (unsigned)run_uid);
		return ERR_PERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("event=socket-failed setting=%s path=%s dir=%s "
		    "reason=\"directory writable by group or others\"", what,
		    LOG_Q(path), LOG_Q(dir));
		return ERR_PERM;
	}
	return 0;
}

/* A socket file left by a daemon that died is removed; a live one (it
 * accepts a connection) or anything that is not a socket is refused. */
static int
remove_stale(const char *what, const char *path,
    const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		log_error("event=socket-failed setting=%s path=%s error=%s",
		    what, LOG_Q(path), LOG_Q(strerror(errno)));
		return ERR_IO;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=\"exists and is not a socket\"", what,
		    LOG_Q(path));
		return ERR_CONFIG;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=socket error=%s", what, LOG_Q(path),
		    LOG_Q(strerror(errno)));
		return ERR_IO;
	}
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	if (live) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=\"in use by a running daemon\"", what,
		    LOG_Q(path));
		return ERR_IO;
	}
	if (unlink(path) != 0) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=\"cannot remove the stale socket\" error=%s",
		    what, LOG_Q(path), LOG_Q(strerror(errno)));
		return ERR_IO;
	}
	log_info("event=stale-socket-removed setting=%s path=%s", what,
	    LOG_Q(path));
	return 0;
}

/* bind under a tight umask, so the socket is never reachable by others
 * between bind and chmod. */
static int
bind_socket(const char *path, const struct sockaddr_un *sun, mode_t mode,
    uid_t owner, int backlog, int *out)
{
	mode_t old;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("event=socket-failed path=%s reason=socket error=%s",
		    LOG_Q(path), LOG_Q(strerror(errno)));
		return ERR_IO;
	}
	old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(old);
	if (rc != 0) {
		log_error("event=socket-failed path=%s reason=bind error=%s",
		    LOG_Q(path), LOG_Q(strerror(errno)));
		goto fail;
	}
	if (chmod(path, mode) != 0 ||
	    (owner != (uid_t)-1 && geteuid() == 0 &&
	    lchown(path, owner, (gid_t)-1) != 0)) {
		log_error("event=socket-failed path=%s reason=\"cannot set "
		    "the mode or owner\" error=%s", LOG_Q(path),
		    LOG_Q(strerror(errno)));
		goto fail_unlink;
	}
	if (listen(fd, backlog) != 0) {
		log_error("event=socket-failed path=%s reason=listen error=%s",
		    LOG_Q(path), LOG_Q(strerror(errno)));
		goto fail_unlink;
	}
	*out = fd;
	return 0;
fail_unlink:
	unlink(path);
fail:
	close(fd);
	return ERR_IO;
}

/* The socket file made and listening: *fd is the caller's. */
static int
unixsock_open(const char *what, const char *path, uid_t run_uid,
    mode_t mode, uid_t owner, int backlog, int *fd, struct unixsock *us)
{
	struct sockaddr_un sun;
	struct stat st;
	int r;

	memset(us, 0, sizeof(*us));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("event=socket-failed setting=%s path=%s "
		    "reason=\"path too long\"", what, LOG_Q(path));
		return ERR_CONFIG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((r = check_dir(what, path, run_uid)) != 0 ||
	    (r = remove_stale(what, path, &sun)) != 0)
		return r;
	if ((us->path = strdup(path)) == NULL)
		return ERR_NOMEM;
	if ((r = bind_socket(path, &sun, mode, owner, backlog, fd)) != 0) {
		free(us->path);
		us->path = NULL;
		return r;
	}
	if (lstat(path, &st) == 0) {
		us->dev = st.st_dev;
		us->ino = st.st_ino;
	}
	return 0;
}

int
unixsock_listen(struct event_base *base, const char *what,
    const char *path, uid_t run_uid, mode_t mode, uid_t owner, int backlog,
    evconnlistener_cb cb, void *arg, struct unixsock *us)
{
	int fd = -1, r;

	if ((r = unixsock_open(what, path, run_uid, mode, owner, backlog, &fd,
	    us)) != 0)
		return r;
	us->lev = evconnlistener_new(base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (us->lev == NULL) {
		log_error("event=socket-failed path=%s reason=\"cannot "
		    "serve\"", LOG_Q(path));
		close(fd);
		unixsock_close(us);
		memset(us, 0, sizeof(*us));
		return ERR_NOMEM;
	}
	return 0;
}

void
unixsock_disown(struct unixsock *us)
{
	free(us->path);
	us->path = NULL;
}

void
unixsock_close(struct unixsock *us)
{
	struct stat st;

	if (us == NULL)
		return;
	if (us->lev != NULL) {
		evconnlistener_free(us->lev);
		us->lev = NULL;
	}
	if (us->path == NULL)
		return;
	/* Only our own file. Unprivileged by now, we may lack write access
	 * to the directory: the next start then removes it as stale. */
	if (lstat(us->path, &st) == 0 && st.st_dev == us->dev &&
	    st.st_ino == us->ino && unlink(us->path) != 0)
		log_debug("event=socket-not-removed path=%s error=%s",
		    LOG_Q(us->path), LOG_Q(strerror(errno)));
	free(us->path);
	us->path = NULL;
}
