#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#ifdef HAVE_LIBSECCOMP
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <seccomp.h>
#endif
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "log.h"
#include "sandbox.h"

/* ASan's and LeakSanitizer's runtime make system calls of their own
 * (LeakSanitizer's exit-time scan clones and ptraces a thread): in such
 * a build the filter only logs what it would kill. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

/* Valgrind translates the code it runs into fresh executable mappings,
 * which the filter forbids: under valgrind there is no filter. */
#ifdef HAVE_VALGRIND_VALGRIND_H
#define SANDBOX_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define SANDBOX_UNDER_VALGRIND() 0
#endif

/* Highest capability number the kernel knows; PR_CAPBSET_READ fails
 * past it. 63 is the most the 64-bit sets can hold. */
#define CAP_MAX 63

/* --- capabilities ---------------------------------------------------------- */

static int
cap_last(void)
{
	int cap = 0;

	while (cap < CAP_MAX && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

static int
bounding_empty(void)
{
	int last = cap_last();

	for (int cap = 0; cap <= last; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0)
			return 0;
	}
	return 1;
}

int
sandbox_bound(void)
{
	int last = cap_last();

	/* Kernels before 4.3 have no ambient set: EINVAL there means there
	 * is nothing to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
	    errno != EINVAL) {
		log_error("event=sandbox-failed reason=\"cannot clear the "
		    "ambient capabilities\" error=%s", LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	for (int cap = 0; cap <= last; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EPERM && cap == 0) {
			/* No CAP_SETPCAP: started unprivileged (systemd
			 * User=), the bounding set is the supervisor's to
			 * narrow (CapabilityBoundingSet=). */
			log_info("event=sandbox-bounding-kept "
			    "reason=\"no CAP_SETPCAP\" action=\"capability "
			    "bounding set left as it came\"");
			return 0;
		}
		log_error("event=sandbox-failed reason=\"cannot drop a "
		    "capability from the bounding set\" capability=%d "
		    "error=%s", cap, LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	return 0;
}

static int
cap_sets(struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3],
    int set)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};

	/* glibc has no wrapper for either call. */
	return (int)syscall(set ? SYS_capset : SYS_capget, &hdr, data);
}

/* Every capability set of this process empty; the bounding set is
 * checked too, and reported when it could not be emptied. */
static int
caps_clear(void)
{
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (cap_sets(data, 1) != 0) {
		log_error("event=sandbox-failed reason=\"cannot clear the "
		    "capabilities\" error=%s", LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	memset(data, 0xff, sizeof(data));
	if (cap_sets(data, 0) != 0) {
		log_error("event=sandbox-failed reason=\"cannot read the "
		    "capabilities\" error=%s", LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0) {
			log_error("event=sandbox-failed reason=\"capabilities "
			    "are left after clearing them\"");
			return ERR_PERM;
		}
	}
	if (!bounding_empty())
		log_info("event=sandbox-bounding-kept reason=\"the capability "
		    "bounding set is not empty\" action=\"no_new_privs keeps "
		    "it from being used\"");
	return 0;
}

/* --- the system call filter ------------------------------------------------ */

#ifdef HAVE_LIBSECCOMP

/* What the daemon calls after start-up, found by tracing (strace -f)
 * every integration test with the filter in place: the event loop and
 * its sockets, TLS, the PAM and control sockets, the audit file, OCSP
 * queries, a reload (config, rules directory, certificates, keys, CRLs,
 * the audit file reopened), the CRL refresh timer and the shutdown.
 * A few the tests cannot reach are here by reading the code: DNS for an
 * OCSP responder named by host (evdns: sendto, recvfrom), syslog once
 * /dev/log exists (sendto), sd_notify, ready and stopping (a unix
 * datagram socket, sendto: t_sandbox.sh runs that), workers = N (the
 * socket pairs' recvfrom and sendto; wait4 at shutdown), the
 * allocator returning or growing large blocks (mmap below, mremap,
 * madvise), OpenSSL reseeding (getrandom), an audit file flushed to disk
 * (fsync, fdatasync), a config named relative to the directory
 * (getcwd). A system call missing here kills the daemon (SIGSYS, named
 * in the kernel's audit log): a new one in the code belongs in this
 * list, and "sandbox = false" is the way to diagnose. Names that do not
 * exist on the build's architecture are skipped. The ones with argument
 * limits are in add_limited below. */
static const char *const allowed[] = {
	/* event loop, signals, time */
	"epoll_wait", "epoll_pwait", "epoll_ctl",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
	"clock_gettime", "gettimeofday", "time",
	/* file descriptors and I/O */
	"read", "write", "readv", "writev", "close", "fcntl", "lseek",
	"fsync", "fdatasync",
	/* files: reload, CRL refresh, the audit file, socket removal */
	"openat", "fstat", "newfstatat", "statx", "getdents64", "getcwd",
	"unlink",
	/* sockets: the listeners, PAM and control clients, OCSP, syslog */
	"accept4", "connect", "shutdown", "getsockopt", "setsockopt",
	"getpeername", "getsockname", "recvfrom", "recvmsg", "sendto",
	"sendmsg",
	/* memory */
	"brk", "munmap", "mremap", "madvise",
	/* process */
	"getpid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
	"futex", "exit", "exit_group",
	/* workers = N: the master waits for its workers at shutdown */
	"wait4",
};

static int
add_name(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) {
		log_error("event=sandbox-failed reason=\"seccomp: cannot "
		    "allow a system call\" syscall=%s error=%s", LOG_Q(name),
		    LOG_Q(strerror(-rc)));
		return ERR_INTERNAL;
	}
	return 0;
}

/* mmap and mprotect without PROT_EXEC (no new code after start-up);
 * sockets of the families the daemon speaks; ioctl for FIONREAD only
 * (libevent sizes its reads with it). */
static int
add_limited(scmp_filter_ctx ctx)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	const struct scmp_arg_cmp noexec =
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	int rc;

	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    noexec)) != 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    noexec)) != 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0))) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0))) != 0)
			goto fail;
	}
	return 0;
fail:
	log_error("event=sandbox-failed reason=\"seccomp: cannot add a "
	    "rule\" error=%s", LOG_Q(strerror(-rc)));
	return ERR_INTERNAL;
}

/* A kernel built without seccomp filters refuses the load with EINVAL
 * (or ENOSYS): that is "where the kernel allows" and only a warning,
 * with *on left 0. */
static int
load_filter(scmp_filter_ctx ctx, int *on)
{
	int rc = seccomp_load(ctx);

	if (rc == 0) {
		*on = 1;
		return 0;
	}
	if (rc == -EINVAL || rc == -ENOSYS) {
		log_warn("event=sandbox-unavailable reason=\"the kernel has no "
		    "seccomp filters: %s\" action=\"running without the "
		    "system call filter\"", strerror(-rc));
		return 0;
	}
	log_error("event=sandbox-failed reason=\"seccomp: cannot load the "
	    "filter\" error=%s", LOG_Q(strerror(-rc)));
	return ERR_INTERNAL;
}

static int
filter_install(int *on)
{
	uint32_t deflt = SANDBOX_SANITIZER ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = NULL;
	int r = ERR_NOMEM;

	if ((ctx = seccomp_init(deflt)) == NULL) {
		log_error("event=sandbox-failed reason=\"seccomp: cannot make "
		    "a filter\"");
		goto out;
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if ((r = add_name(ctx, allowed[i])) != 0)
			goto out;
	}
	if ((r = add_limited(ctx)) != 0 || (r = load_filter(ctx, on)) != 0)
		goto out;
	r = 0;
out:
	seccomp_release(ctx);
	return r;
}

static const char filter_missing[] = "";

#else /* !HAVE_LIBSECCOMP */

static int
filter_install(int *on)
{
	*on = 0;
	return 0;
}

static const char filter_missing[] =
    "this build has no libseccomp (configure --without-seccomp or "
    "libseccomp-dev missing)";

#endif

static int
filter_enter(int filter)
{
	const char *why = NULL;
	int on = 0;
	int r;

	if (!filter)
		why = "sandbox = false in the config";
	else if (filter_missing[0] != '\0')
		why = filter_missing;
	else if (SANDBOX_UNDER_VALGRIND())
		why = "running under valgrind";
	if (why != NULL) {
		log_warn("event=sandbox-off reason=%s action=\"running "
		    "without the system call filter\"", LOG_Q(why));
		return 0;
	}
	if ((r = filter_install(&on)) != 0 || !on)
		return r;
	if (SANDBOX_SANITIZER)
		log_warn("event=sandbox-relaxed reason=\"sanitizer build\" "
		    "action=\"system calls outside the filter are logged by "
		    "the kernel, not killed\"");
	else
		log_info("event=sandbox-on action=\"system call filter "
		    "installed\"");
	return 0;
}

int
sandbox_enter(int filter)
{
	int r;

	if ((r = caps_clear()) != 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_error("event=sandbox-failed reason=\"cannot set "
		    "no_new_privs\" error=%s", LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	return filter_enter(filter);
}
