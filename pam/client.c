#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* Pause between connect attempts while the daemon's listen queue is full. */
#define CONNECT_RETRY_MS 10

/* An absolute CLOCK_MONOTONIC time, in nanoseconds. */
typedef int64_t deadline_t;

static int64_t
now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux; a zero reading would only
	 * make the deadline pass early, which is the safe direction. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds until the deadline, rounded up so poll never spins on 0;
 * ERR_TIMEOUT once it has passed. */
static int
ms_left(deadline_t deadline, int *ms)
{
	int64_t left = deadline - now_ns();

	if (left <= 0)
		return ERR_TIMEOUT;
	left = (left + 999999) / 1000000;
	*ms = left > INT_MAX ? INT_MAX : (int)left;
	return 0;
}

/* Waits until fd reports one of events (or an error or hangup, which the
 * caller's next system call reveals). */
static int
wait_fd(int fd, short events, deadline_t deadline)
{
	struct pollfd p;
	int ms = 0, n, r;

	for (;;) {
		if ((r = ms_left(deadline, &ms)) != 0)
			return r;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		if ((n = poll(&p, 1, ms)) > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return ERR_IO;
	}
}

static int
send_all(int fd, const uint8_t *p, size_t n, deadline_t deadline)
{
	ssize_t w;
	int r;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) >= 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		switch (errno) {
		case EINTR:
			break;
		case EAGAIN:
			if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
				return r;
			break;
		case EPIPE:
		case ECONNRESET:
			return ERR_CLOSED;
		default:
			return ERR_IO;
		}
	}
	return 0;
}

/* Reads exactly n bytes: never more, so nothing of a following frame is
 * taken, and bytes left over stay visible to no_more_bytes(). */
static int
recv_exact(int fd, uint8_t *p, size_t n, deadline_t deadline)
{
	ssize_t got;
	int r;

	while (n > 0) {
		if ((got = recv(fd, p, n, 0)) > 0) {
			p += got;
			n -= (size_t)got;
			continue;
		}
		if (got == 0)
			return ERR_CLOSED;
		switch (errno) {
		case EINTR:
			break;
		case EAGAIN:
			if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
				return r;
			break;
		case ECONNRESET:
			return ERR_CLOSED;
		default:
			return ERR_IO;
		}
	}
	return 0;
}

/* The daemon speaks only when asked: a byte already waiting after the
 * frame we expected is out of order. Closed or empty is fine; an error
 * the socket reports is not, as an answer is taken only from a sound
 * exchange. */
static int
no_more_bytes(int fd)
{
	ssize_t n;
	uint8_t c;

	if ((n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT)) > 0)
		return ERR_PROTO;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)
		return ERR_IO;
	return 0;
}

/* Reads one frame into *m (owned by the caller). The header is judged
 * before the body is waited for, so a huge declared length costs nothing. */
static int
read_frame(int fd, deadline_t deadline, struct proto_msg *m)
{
	uint8_t frame[PROTO_HDR_LEN + PROTO_MAX_FRAME];
	size_t body = 0, used = 0;
	int r = ERR_INTERNAL;

	memset(m, 0, sizeof(*m));
	if ((r = recv_exact(fd, frame, PROTO_HDR_LEN, deadline)) != 0)
		goto out;
	r = proto_decode(frame, PROTO_HDR_LEN, m, &used);
	if (r != ERR_SHORT) {
		/* ERR_TOOLONG; a complete frame in 4 bytes cannot exist. */
		if (r == 0)
			r = ERR_INTERNAL;
		goto out;
	}
	/* proto_decode vetted the length: 1 <= body <= PROTO_MAX_FRAME. */
	body = (size_t)frame[0] << 24 | (size_t)frame[1] << 16 |
	    (size_t)frame[2] << 8 | (size_t)frame[3];
	if ((r = recv_exact(fd, frame + PROTO_HDR_LEN, body, deadline)) != 0)
		goto out;
	r = proto_decode(frame, PROTO_HDR_LEN + body, m, &used);
	if (r == ERR_SHORT || (r == 0 && used != PROTO_HDR_LEN + body))
		r = ERR_PROTO;
out:
	if (r != 0)
		proto_msg_clear(m);
	explicit_bzero(frame, PROTO_HDR_LEN + body);
	return r;
}

static int
sockaddr_for(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	if (path[0] != '/' || n >= sizeof(sa->sun_path))
		return ERR_INVALID;
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* The directory part of an absolute path: "/a/b" -> "/a", "/b" -> "/". */
static int
dir_of(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL || slash[1] == '\0')
		return ERR_INVALID;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return ERR_INVALID;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

/* Refuses a socket someone other than root or the daemon's user could
 * have put there (PROTOCOL.md, "Transport"). The module does not know the
 * daemon's user: the directory's owner stands for it, as the only user
 * besides root who can create, replace or remove the socket. That is also
 * why a root-owned socket in that user's directory is accepted (a daemon
 * that binds as root, then drops privileges): its owner could put a
 * socket of its own there anyway.
 *
 * The path is checked, then connected to: whoever could swap the socket
 * in between already passes these checks, and check_peer() covers the
 * process actually answering. Symbolic links above the directory are
 * followed, as the admin chose them. */
static int
check_socket(const char *path, uid_t *sock_uid)
{
	struct sockaddr_un sa;
	struct stat sd, ss;
	char dir[sizeof(sa.sun_path)];
	int r;

	if ((r = dir_of(path, dir, sizeof(dir))) != 0)
		return r;
	if (lstat(dir, &sd) != 0 || lstat(path, &ss) != 0)
		return ERR_IO;
	if (!S_ISDIR(sd.st_mode) || (sd.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return ERR_PERM;
	if (!S_ISSOCK(ss.st_mode))
		return ERR_PERM;
	if (ss.st_uid != 0 && ss.st_uid != sd.st_uid)
		return ERR_PERM;
	*sock_uid = ss.st_uid;
	return 0;
}

/* The listener's credentials (taken at its listen()) must be root's or
 * the socket owner's. */
static int
check_peer(int fd, uid_t sock_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return ERR_IO;
	if (cred.uid != 0 && cred.uid != sock_uid)
		return ERR_PERM;
	return 0;
}

static int
connect_pending(int fd, deadline_t deadline)
{
	socklen_t len = sizeof(int);
	int soerr = 0, r;

	if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
	    soerr != 0)
		return ERR_IO;
	return 0;
}

/* On AF_UNIX a non-blocking connect does not go on in the background:
 * EAGAIN means the listen queue is full and nothing was started (poll
 * would report the unconnected socket writable at once), so try again
 * until the deadline. EINPROGRESS is handled for completeness. */
static int
connect_by(int fd, const struct sockaddr_un *sa, deadline_t deadline)
{
	int ms = 0, r;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		switch (errno) {
		case EINPROGRESS:
			return connect_pending(fd, deadline);
		case EAGAIN:
		case EINTR:
			if ((r = ms_left(deadline, &ms)) != 0)
				return r;
			(void)poll(NULL, 0,
			    ms < CONNECT_RETRY_MS ? ms : CONNECT_RETRY_MS);
			break;
		default:
			return ERR_IO;
		}
	}
}

static int
encode(const struct proto_msg *m, struct buf **out)
{
	struct buf *b = NULL;
	int r = ERR_INTERNAL;

	if ((b = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = proto_encode(b, m)) != 0)
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	buf_free(&b);
	return r;
}

static int
encode_request(const struct proto_redeem *req, struct buf **hello,
    struct buf **redeem)
{
	struct proto_msg m;
	int r;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.u.version = PROTO_VERSION;
	if ((r = encode(&m, hello)) != 0)
		return r;
	/* A borrowed copy of req's pointers: not cleared, not freed. */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_REDEEM;
	m.u.redeem = *req;
	r = encode(&m, redeem);
	explicit_bzero(&m, sizeof(m));
	return r;
}

static int
send_buf(int fd, const struct buf *b, deadline_t deadline)
{
	return send_all(fd, buf_ptr(b), buf_avail(b), deadline);
}

/* HELLO, HELLO (or a DENY instead), REDEEM, OK or DENY. */
static int
exchange(int fd, const struct buf *hello, const struct buf *redeem,
    deadline_t deadline, struct proto_msg *answer)
{
	struct proto_msg m;
	int r = ERR_INTERNAL;

	memset(&m, 0, sizeof(m));
	if ((r = send_buf(fd, hello, deadline)) != 0 ||
	    (r = read_frame(fd, deadline, &m)) != 0)
		goto out;
	if (m.type == PROTO_DENY)
		goto answered;
	if (m.type != PROTO_HELLO || m.u.version != PROTO_VERSION) {
		r = ERR_PROTO;
		goto out;
	}
	if ((r = no_more_bytes(fd)) != 0)
		goto out;
	proto_msg_clear(&m);

	if ((r = send_buf(fd, redeem, deadline)) != 0 ||
	    (r = read_frame(fd, deadline, &m)) != 0)
		goto out;
	if (m.type != PROTO_OK && m.type != PROTO_DENY) {
		r = ERR_PROTO;
		goto out;
	}
answered:
	if ((r = no_more_bytes(fd)) != 0)
		goto out;
	*answer = m;
	memset(&m, 0, sizeof(m));
	r = 0;
out:
	proto_msg_clear(&m);
	return r;
}

int
mtls_redeem(const char *socket_path, int timeout_ms,
    const struct proto_redeem *req, struct proto_msg *answer)
{
	struct buf *hello = NULL, *redeem = NULL;  /* redeem holds the ticket */
	struct sockaddr_un sa;
	deadline_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	uid_t sock_uid = 0;
	int fd = -1, r = ERR_INTERNAL;

	memset(answer, 0, sizeof(*answer));
	if (socket_path == NULL || req == NULL || timeout_ms <= 0) {
		r = ERR_INVALID;
		goto out;
	}
	/* Everything that can fail without the daemon fails before it is
	 * contacted. */
	if ((r = sockaddr_for(socket_path, &sa)) != 0 ||
	    (r = encode_request(req, &hello, &redeem)) != 0 ||
	    (r = check_socket(socket_path, &sock_uid)) != 0)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		r = errno == ENOMEM || errno == ENOBUFS ? ERR_NOMEM : ERR_IO;
		goto out;
	}
	if ((r = connect_by(fd, &sa, deadline)) != 0 ||
	    (r = check_peer(fd, sock_uid)) != 0 ||
	    (r = exchange(fd, hello, redeem, deadline, answer)) != 0)
		goto out;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	buf_free(&hello);
	buf_free(&redeem);
	return r;
}
