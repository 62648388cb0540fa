/* src/mtlsd/notify.c: the states reach $NOTIFY_SOCKET as datagrams (what
 * systemd's manager reads), nothing is sent without $NOTIFY_SOCKET, and a
 * socket that is not there is an error, not a crash or a hang. Built
 * without libsystemd the same calls must send nothing and succeed. */
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

/* What this build is expected to do. */
#ifdef HAVE_LIBSYSTEMD
#define SENDS 1
#else
#define SENDS 0
#endif

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
	assert_string_equal(got, SENDS ? "READY=1" : "");
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
	assert_string_equal(got, SENDS ? "RELOADING=1" : "");
	next_state(s, got, sizeof(got));
	assert_string_equal(got, SENDS ? "READY=1" : "");
	next_state(s, got, sizeof(got));
	assert_string_equal(got, SENDS ? "STOPPING=1" : "");
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
	assert_string_equal(got, SENDS ? "READY=1" : "");
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

/* A $NOTIFY_SOCKET nobody listens on: ERR_IO with libsystemd (logged). */
static void
test_socket_missing(void **state)
{
	struct sink *s = *state;
	char missing[160];
	char got[256];

	snprintf(missing, sizeof(missing), "%s/absent", s->dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", missing, 1), 0);
	assert_int_equal(notify_ready(), SENDS ? ERR_IO : 0);
	assert_int_equal(notify_stopping(), SENDS ? ERR_IO : 0);
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
	};

	log_init("test_notify", 0, 0, LOG_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
