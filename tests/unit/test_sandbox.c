/* src/mtlsd/sandbox.c: each probe runs in a forked child that enters the
 * sandbox. With the filter, what the daemon uses still works and what it
 * never does (an executable mapping, an exec, a fork, a netlink socket)
 * kills the child with SIGSYS; with "sandbox = false" the same calls go
 * through, but the capabilities are gone and no_new_privs is set either
 * way. A build without libseccomp, a sanitizer build (the filter only
 * logs) and a run under valgrind (no filter) expect no kill. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "err.h"
#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#ifdef HAVE_LIBSECCOMP
#define SECCOMP_BUILT 1
#else
#define SECCOMP_BUILT 0
#endif
#ifdef HAVE_VALGRIND_VALGRIND_H
#define UNDER_VALGRIND (RUNNING_ON_VALGRIND != 0)
#else
#define UNDER_VALGRIND 0
#endif

/* Child exit codes: what went wrong in it. */
#define CHILD_OK 0
#define CHILD_ENTER_FAILED 3
#define CHILD_PROBE_FAILED 4

typedef int probe_fn(void);

/* Whether a forbidden call kills in this build and run. */
static int
kills(void)
{
	return SECCOMP_BUILT && !SANITIZED && !UNDER_VALGRIND;
}

/* The child's wait status after sandbox_bound (as root), sandbox_enter
 * (filter) and probe. */
static int
run_child(int filter, probe_fn *probe)
{
	pid_t pid;
	int status = 0;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((geteuid() == 0 && sandbox_bound() != 0) ||
		    sandbox_enter(filter) != 0)
			_exit(CHILD_ENTER_FAILED);
		_exit(probe() == 0 ? CHILD_OK : CHILD_PROBE_FAILED);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_exited_ok(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), CHILD_OK);
}

/* Killed by the filter where the build and run have one that kills;
 * else the call went through. */
static void
assert_forbidden(int status)
{
	if (!kills()) {
		assert_exited_ok(status);
		return;
	}
	if (WIFEXITED(status))
		fail_msg("child exited %d, want SIGSYS", WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* --- probes ------------------------------------------------------------------ */

/* What the daemon does: files, TCP and unix sockets, memory, time. */
static int
probe_used(void)
{
	struct timespec ts;
	char byte = 0;
	void *p;
	int fd, s, u;

	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
	    write(fd, &byte, 1) != 1 || read(fd, &byte, 1) != 0)
		return -1;
	close(fd);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0 ||
	    (u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	close(s);
	close(u);
	/* Large enough for the allocator's own mmap path. */
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 1 << 20) != 0)
		return -1;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || getpid() <= 0)
		return -1;
	return 0;
}

static int
probe_exec_mapping(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static int
probe_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static int
probe_netlink(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW, 0);

	if (s < 0)
		return -1;
	close(s);
	return 0;
}

static int
probe_exec(void)
{
	char *const argv[] = { (char *)"true", NULL };
	char *const envp[] = { NULL };

	/* Reached only if execve failed, which without a filter it must
	 * not: /bin/true is there. */
	execve("/bin/true", argv, envp);
	return -1;
}

static int
probe_fork(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(0);
	return waitpid(pid, &status, 0) == pid ? 0 : -1;
}

/* no_new_privs is on and every capability set is empty (the bounding set
 * too when the test runs as root: sandbox_bound could empty it). */
static int
probe_no_privs(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return -1;
	memset(data, 0xff, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return -1;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0)
			return -1;
	}
	return 0;
}

/* Only without the filter: prctl is not in it. */
static int
probe_bounding_empty(void)
{
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
			return -1;
	}
	return 0;
}

static int
probe_seccomp_off(void)
{
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0 ? 0 : -1;
}

/* --- tests ------------------------------------------------------------------- */

static void
test_filter_allows_what_is_used(void **state)
{
	(void)state;
	assert_exited_ok(run_child(1, probe_used));
}

static void
test_filter_kills_exec_mapping(void **state)
{
	(void)state;
	assert_forbidden(run_child(1, probe_exec_mapping));
	assert_forbidden(run_child(1, probe_mprotect_exec));
}

static void
test_filter_kills_netlink_socket(void **state)
{
	(void)state;
	assert_forbidden(run_child(1, probe_netlink));
}

static void
test_filter_kills_exec_and_fork(void **state)
{
	(void)state;
	assert_forbidden(run_child(1, probe_exec));
	assert_forbidden(run_child(1, probe_fork));
}

static void
test_filter_keeps_no_privs(void **state)
{
	(void)state;
	/* capget and prctl(PR_GET_NO_NEW_PRIVS) are not in the filter: a
	 * kill here is the filter doing its job, so only without it. */
	assert_exited_ok(run_child(0, probe_no_privs));
}

static void
test_off_lets_everything_through(void **state)
{
	(void)state;
	assert_exited_ok(run_child(0, probe_used));
	assert_exited_ok(run_child(0, probe_exec_mapping));
	assert_exited_ok(run_child(0, probe_netlink));
	assert_exited_ok(run_child(0, probe_fork));
	assert_exited_ok(run_child(0, probe_seccomp_off));
}

static void
test_bounding_set_emptied_as_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_exited_ok(run_child(0, probe_bounding_empty));
}

/* The negative twin of the one above: a process that keeps its
 * capabilities (no sandbox) still has a bounding set, so the probe can
 * tell. */
static void
test_bounding_probe_sees_capabilities(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_not_equal(probe_bounding_empty(), 0);
	assert_int_not_equal(probe_no_privs(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_allows_what_is_used),
		cmocka_unit_test(test_filter_kills_exec_mapping),
		cmocka_unit_test(test_filter_kills_netlink_socket),
		cmocka_unit_test(test_filter_kills_exec_and_fork),
		cmocka_unit_test(test_filter_keeps_no_privs),
		cmocka_unit_test(test_off_lets_everything_through),
		cmocka_unit_test(test_bounding_set_emptied_as_root),
		cmocka_unit_test(test_bounding_probe_sees_capabilities),
	};

	log_init("test_sandbox", 0, 0, LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
