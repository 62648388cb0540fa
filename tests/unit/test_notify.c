/* src/mtlsd/notify.c: the states reach $NOTIFY_SOCKET as datagrams (what
 * systemd's manager reads), nothing is sent without $NOTIFY_SOCKET, and a
 * socket that is not there is an error, not a crash or a hang. notify.c
 * speaks the protocol itself: a path, or "@name" in the abstract
 * namespace; anything else in $NOTIFY_SOCKET is refused, never sent. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "notify.h"

struct sink {
	char dir[64];
	char path[108];
	int fd;
};

static int
setup(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	assert_non_null(s);
	strcpy(s->dir, "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/notify", s->dir);
	memcpy(sun.sun_path, s->path, strlen(s->path) + 1);
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", s->path, 1), 0);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct sink *s = *state;

	unsetenv("NOTIFY_SOCKET");
	close(s->fd);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* The next datagram on the sink, or "" when there is none. */
static void
next_state(const struct sink *s, char *out, size_t outlen)
{
	ssize_t n = recv(s->fd, out, outlen - 1, 0);

	out[n > 0 ? (size_t)n : 0] = '\0';
}

static void
test_ready(void **state)
{
	struct sink *s = *state;
	char got[256];

	assert_int_equal(notify_ready(), 0);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "READY=1");
	/* One call, one datagram. */
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "");
}

static void
test_stopping_and_reloading(void **state)
{
	struct sink *s = *state;
	char got[256];

	assert_int_equal(notify_reloading(), 0);
	assert_int_equal(notify_ready(), 0);
	assert_int_equal(notify_stopping(), 0);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "RELOADING=1");
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "READY=1");
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "STOPPING=1");
}

/* The environment stays: a later state still reaches the manager. */
static void
test_environment_kept(void **state)
{
	struct sink *s = *state;
	char got[256];

	assert_int_equal(notify_ready(), 0);
	assert_string_equal(getenv("NOTIFY_SOCKET"), s->path);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "READY=1");
}

/* Not under systemd: success, and nothing sent anywhere. */
static void
test_no_notify_socket(void **state)
{
	struct sink *s = *state;
	char got[256];

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_ready(), 0);
	assert_int_equal(notify_stopping(), 0);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "");
}

/* A $NOTIFY_SOCKET nobody listens on: ERR_IO (logged). */
static void
test_socket_missing(void **state)
{
	struct sink *s = *state;
	char missing[160];
	char got[256];

	snprintf(missing, sizeof(missing), "%s/absent", s->dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", missing, 1), 0);
	assert_int_equal(notify_ready(), ERR_IO);
	assert_int_equal(notify_stopping(), ERR_IO);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "");
}

/* "@name": the abstract namespace, the name without a trailing NUL. */
static void
test_abstract_socket(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char name[64], got[256];
	socklen_t len;
	ssize_t n;
	int fd;

	(void)state;
	n = snprintf(name, sizeof(name), "@test_notify.%ld", (long)getpid());
	assert_true(n > 0 && (size_t)n < sizeof(name));
	memcpy(sun.sun_path + 1, name + 1, (size_t)n - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(notify_ready(), 0);
	n = recv(fd, got, sizeof(got) - 1, 0);
	got[n > 0 ? (size_t)n : 0] = '\0';
	assert_string_equal(got, "READY=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

/* A relative path, another family's address or a path too long for
 * sun_path: refused (logged), nothing sent anywhere. */
static void
test_not_a_path(void **state)
{
	struct sink *s = *state;
	char got[256], longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", "notify", 1), 0);
	assert_int_equal(notify_ready(), ERR_IO);
	assert_int_equal(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
	assert_int_equal(notify_ready(), ERR_IO);
	assert_int_equal(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	assert_int_equal(notify_ready(), ERR_IO);
	next_state(s, got, sizeof(got));
	assert_string_equal(got, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_and_reloading,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_environment_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_notify_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_socket_missing, setup,
		    teardown),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test_setup_teardown(test_not_a_path, setup,
		    teardown),
	};

	log_init("test_notify", 0, 0, LOG_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
