/* Allocation and I/O failures at every call site of the module: the
 * redemption (mtls_redeem: lstat, socket, connect, poll, send, recv,
 * getsockopt, and the frames' allocations) and pam_sm_authenticate around
 * it (its own allocations, getpwnam_r, the PAM calls that can fail).
 *
 * Linked with -Wl,--wrap=... for each of those functions: calls from the
 * objects of this link (the test, libpammtls, libmtlscore) go through the
 * wrappers below; calls made inside shared libraries (libpam, libc,
 * cmocka) do not. A wrapper fails only when the countdown armed around
 * the operation under test reaches zero, and only on the test's main
 * thread: the fake daemon, a thread of this test, is never failed.
 *
 * Each operation runs with its 1st, 2nd, ... counted call failing until a
 * run sees no failure. A run with a failure must end in an error (never
 * in success) and free what it allocated; the run without one must
 * succeed. Short reads and writes and EINTR at each call must change
 * nothing. A real PAM handle comes from pam_start_confdir with an empty
 * service file: pam_sm_authenticate is called directly, not through a
 * module stack. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "client.h"
#include "proto.h"

/* No operation here makes more counted calls than this. */
#define MAX_CALLS 200
#define TIMEOUT_MS 3000
/* The fake daemon waits this long before each answer, so that the
 * module's recv finds nothing yet and polls: the same calls every run. */
#define ANSWER_DELAY_MS 3

static const char TICKET[] = "Zm9vYmFyYmF6cXV4LWZ1enotdGlja2V0";
static const char SUBJECT[] = "CN=alice,OU=ops,O=Example";
/* pam_start_confdir reads this (empty) file in the test's directory. */
#define SERVICE "mtls-fault"

/* --- the wrappers ----------------------------------------------------- */

enum fault_mode {
	FAULT_FAIL,    /* the call fails (NULL, -1 with errno, a PAM error) */
	FAULT_SHORT,   /* send/recv move one byte only */
	FAULT_EINTR,   /* send/recv/poll/connect fail with EINTR */
};

enum fault_kind { K_ALLOC, K_IO, K_RETRY, K_PAM };

static struct {
	pthread_t main;
	int armed;
	enum fault_mode mode;
	int fail_at;    /* 1-based */
	int calls;      /* calls counted since arming */
	int fired;
	const char *what;  /* the function that failed */
	const char *only;  /* NULL, or count only the calls of this name */
	long live;      /* blocks allocated minus freed, main thread */
} fault;

static int
on_main(void)
{
	return pthread_equal(pthread_self(), fault.main);
}

/* 1 if this call is the one to disturb in the current mode. kind says
 * what the call can do: K_RETRY calls can be short or interrupted, the
 * others only fail. */
static int
fault_hit(enum fault_kind kind, const char *what)
{
	if (!fault.armed || !on_main())
		return 0;
	if (fault.mode != FAULT_FAIL && kind != K_RETRY)
		return 0;
	if (fault.only != NULL && strcmp(fault.only, what) != 0)
		return 0;
	if (++fault.calls != fault.fail_at)
		return 0;
	fault.fired = 1;
	fault.what = what;
	return 1;
}

static void
live_add(long n)
{
	if (on_main())
		fault.live += n;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_lstat(const char *path, struct stat *st);
int __real_socket(int domain, int type, int proto);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_poll(struct pollfd *p, nfds_t n, int ms);
ssize_t __real_send(int fd, const void *p, size_t n, int flags);
ssize_t __real_recv(int fd, void *p, size_t n, int flags);
int __real_getsockopt(int fd, int level, int name, void *v, socklen_t *len);
int __real_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t len, struct passwd **found);
int __real_pam_get_user(pam_handle_t *pamh, const char **user,
    const char *prompt);
int __real_pam_putenv(pam_handle_t *pamh, const char *nv);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_asprintf(char **s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int __wrap_lstat(const char *path, struct stat *st);
int __wrap_socket(int domain, int type, int proto);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_poll(struct pollfd *p, nfds_t n, int ms);
ssize_t __wrap_send(int fd, const void *p, size_t n, int flags);
ssize_t __wrap_recv(int fd, void *p, size_t n, int flags);
int __wrap_getsockopt(int fd, int level, int name, void *v, socklen_t *len);
int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t len, struct passwd **found);
int __wrap_pam_get_user(pam_handle_t *pamh, const char **user,
    const char *prompt);
int __wrap_pam_prompt(pam_handle_t *pamh, int style, char **resp,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int __wrap_pam_putenv(pam_handle_t *pamh, const char *nv);

void *
__wrap_malloc(size_t n)
{
	void *p;

	if (fault_hit(K_ALLOC, "malloc")) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = __real_malloc(n)) != NULL)
		live_add(1);
	return p;
}

void *
__wrap_calloc(size_t k, size_t n)
{
	void *p;

	if (fault_hit(K_ALLOC, "calloc")) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = __real_calloc(k, n)) != NULL)
		live_add(1);
	return p;
}

void *
__wrap_realloc(void *old, size_t n)
{
	void *p;

	if (fault_hit(K_ALLOC, "realloc")) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = __real_realloc(old, n)) != NULL && old == NULL)
		live_add(1);
	return p;
}

void
__wrap_free(void *p)
{
	if (p != NULL)
		live_add(-1);
	__real_free(p);
}

/* The module's env_put; the string is allocated inside libc. */
int
__wrap_asprintf(char **s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (fault_hit(K_ALLOC, "asprintf")) {
		errno = ENOMEM;
		return -1;
	}
	va_start(ap, fmt);
	n = vasprintf(s, fmt, ap);
	va_end(ap);
	if (n >= 0)
		live_add(1);
	return n;
}

int
__wrap_lstat(const char *path, struct stat *st)
{
	if (fault_hit(K_IO, "lstat")) {
		errno = EACCES;
		return -1;
	}
	return __real_lstat(path, st);
}

int
__wrap_socket(int domain, int type, int proto)
{
	if (fault_hit(K_IO, "socket")) {
		errno = EMFILE;
		return -1;
	}
	return __real_socket(domain, type, proto);
}

/* The errno a failed K_RETRY call reports in the current mode. */
static int
retry_errno(int hard)
{
	return fault.mode == FAULT_EINTR ? EINTR : hard;
}

int
__wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (fault_hit(K_RETRY, "connect") && fault.mode != FAULT_SHORT) {
		errno = retry_errno(ECONNREFUSED);
		return -1;
	}
	return __real_connect(fd, sa, len);
}

int
__wrap_poll(struct pollfd *p, nfds_t n, int ms)
{
	if (fault_hit(K_RETRY, "poll") && fault.mode != FAULT_SHORT) {
		errno = retry_errno(ENOMEM);
		return -1;
	}
	return __real_poll(p, n, ms);
}

ssize_t
__wrap_send(int fd, const void *p, size_t n, int flags)
{
	if (fault_hit(K_RETRY, "send")) {
		if (fault.mode == FAULT_SHORT)
			return __real_send(fd, p, n > 1 ? 1 : n, flags);
		errno = retry_errno(EIO);
		return -1;
	}
	return __real_send(fd, p, n, flags);
}

ssize_t
__wrap_recv(int fd, void *p, size_t n, int flags)
{
	if (fault_hit(K_RETRY, (flags & MSG_PEEK) != 0 ? "recv(MSG_PEEK)" :
	    "recv")) {
		if (fault.mode == FAULT_SHORT)
			return __real_recv(fd, p, n > 1 ? 1 : n, flags);
		errno = retry_errno(EIO);
		return -1;
	}
	return __real_recv(fd, p, n, flags);
}

int
__wrap_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
	if (fault_hit(K_IO, "getsockopt")) {
		errno = ENOBUFS;
		return -1;
	}
	return __real_getsockopt(fd, level, name, v, len);
}

int
__wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t len, struct passwd **found)
{
	if (fault_hit(K_IO, "getpwnam_r")) {
		*found = NULL;
		return EIO;
	}
	return __real_getpwnam_r(name, pw, buf, len, found);
}

int
__wrap_pam_get_user(pam_handle_t *pamh, const char **user,
    const char *prompt)
{
	if (fault_hit(K_PAM, "pam_get_user"))
		return PAM_BUF_ERR;
	return __real_pam_get_user(pamh, user, prompt);
}

int
__wrap_pam_prompt(pam_handle_t *pamh, int style, char **resp,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (fault_hit(K_PAM, "pam_prompt"))
		return PAM_CONV_ERR;
	va_start(ap, fmt);
	rc = pam_vprompt(pamh, style, resp, fmt, ap);
	va_end(ap);
	return rc;
}

int
__wrap_pam_putenv(pam_handle_t *pamh, const char *nv)
{
	if (fault_hit(K_PAM, "pam_putenv"))
		return PAM_BUF_ERR;
	return __real_pam_putenv(pamh, nv);
}

static void
fault_arm(enum fault_mode mode, int fail_at)
{
	fault.mode = mode;
	fault.fail_at = fail_at;
	fault.calls = 0;
	fault.fired = 0;
	fault.what = NULL;
	fault.armed = 1;
}

static void
fault_disarm(void)
{
	fault.armed = 0;
}

/* --- the fake daemon: HELLO, HELLO, REDEEM, OK, for every connection ---- */

static struct {
	char dir[64];
	char path[100];      /* fits sun_path */
	char service[128];
	int lfd;
	atomic_int stop;
	pthread_t thread;
	atomic_int redeems;  /* complete redemptions answered */
} fake;

static int
read_n(int fd, uint8_t *p, size_t n)
{
	ssize_t got;

	while (n > 0) {
		if ((got = recv(fd, p, n, 0)) <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Reads one frame; 0 if it is of type want. */
static int
fake_expect(int fd, uint8_t want)
{
	uint8_t b[PROTO_HDR_LEN + PROTO_MAX_FRAME];
	struct proto_msg m;
	size_t n, used = 0;
	int r = -1;

	if (read_n(fd, b, PROTO_HDR_LEN) != 0)
		return -1;
	n = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (n == 0 || n > PROTO_MAX_FRAME || read_n(fd, b + 4, n) != 0)
		return -1;
	if (proto_decode(b, PROTO_HDR_LEN + n, &m, &used) == 0 &&
	    m.type == want)
		r = 0;
	proto_msg_clear(&m);
	return r;
}

static int
fake_send(int fd, const struct proto_msg *m)
{
	struct buf *b = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME);
	int r = -1;

	(void)poll(NULL, 0, ANSWER_DELAY_MS);
	if (b != NULL && proto_encode(b, m) == 0 &&
	    send(fd, buf_ptr(b), buf_avail(b), MSG_NOSIGNAL) ==
	    (ssize_t)buf_avail(b))
		r = 0;
	buf_free(&b);
	return r;
}

static void
fake_serve(int fd)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.u.version = PROTO_VERSION;
	if (fake_expect(fd, PROTO_HELLO) != 0 || fake_send(fd, &m) != 0 ||
	    fake_expect(fd, PROTO_REDEEM) != 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_OK;
	m.u.ok.subject = (char *)SUBJECT;
	m.u.ok.issuer = "CN=Example CA";
	m.u.ok.serial = "1A2B";
	m.u.ok.fingerprint = "sha256:"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	m.u.ok.rule = "alice";
	if (fake_send(fd, &m) == 0)
		fake.redeems++;
}

static void *
fake_thread(void *arg)
{
	struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
	struct pollfd p;
	int fd;

	(void)arg;
	while (!fake.stop) {
		p.fd = fake.lfd;
		p.events = POLLIN;
		if (poll(&p, 1, 20) <= 0)
			continue;
		if ((fd = accept(fake.lfd, NULL, NULL)) == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fake_serve(fd);
		close(fd);
	}
	return NULL;
}

static int
setup(void **state)
{
	struct sockaddr_un sa;
	FILE *f;

	(void)state;
	fault.main = pthread_self();
	snprintf(fake.dir, sizeof(fake.dir), "/tmp/test_fault_pam.XXXXXX");
	if (mkdtemp(fake.dir) == NULL)
		return -1;
	snprintf(fake.path, sizeof(fake.path), "%s/pam.sock", fake.dir);
	snprintf(fake.service, sizeof(fake.service), "%s/" SERVICE, fake.dir);
	if ((f = fopen(fake.service, "w")) == NULL || fclose(f) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake.path);
	if ((fake.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fake.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fake.lfd, 16) != 0)
		return -1;
	fake.stop = 0;
	return pthread_create(&fake.thread, NULL, fake_thread, NULL) == 0 ?
	    0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	fault_disarm();
	fake.stop = 1;
	(void)pthread_join(fake.thread, NULL);
	close(fake.lfd);
	(void)unlink(fake.path);
	(void)unlink(fake.service);
	(void)rmdir(fake.dir);
	return 0;
}

/* --- the loop ----------------------------------------------------------- */

/* One operation: 0 when it succeeded, else nonzero; it checks its own
 * outputs. */
typedef int (*op_fn)(void);

/* Runs op with each counted call disturbed in turn, then with none;
 * returns how many runs were disturbed. In FAULT_FAIL mode each of those
 * must fail, in the other modes each must succeed as if undisturbed. */
static int
disturb_each(op_fn op, enum fault_mode mode)
{
	long live;
	int n, r;

	for (n = 1; n <= MAX_CALLS; n++) {
		live = fault.live;
		fault_arm(mode, n);
		r = op();
		fault_disarm();
		if (fault.live != live)
			fail_msg("%ld blocks leaked with call %d (%s) failed",
			    fault.live - live, n, fault.what);
		if (!fault.fired) {
			assert_int_equal(r, 0);
			print_message("%d calls disturbed in turn\n", n - 1);
			return n - 1;
		}
		if (mode == FAULT_FAIL && r == 0)
			fail_msg("success with call %d (%s) failed", n,
			    fault.what);
		if (mode != FAULT_FAIL && r != 0)
			fail_msg("failure %d with call %d (%s) short or "
			    "interrupted", r, n, fault.what);
	}
	fail_msg("still calling after %d calls", MAX_CALLS);
	return -1;
}

/* --- mtls_redeem ---------------------------------------------------------- */

static int
op_redeem(void)
{
	struct proto_redeem req = {
		.user = "root", .service = "sshd", .rhost = "192.0.2.1",
		.tty = "ssh", .ticket = (char *)TICKET,
	};
	static const struct proto_msg zero;
	struct proto_msg answer;
	int r;

	r = mtls_redeem(fake.path, TIMEOUT_MS, &req, &answer);
	if (r == 0) {
		assert_int_equal(answer.type, PROTO_OK);
		assert_string_equal(answer.u.ok.subject, SUBJECT);
	} else {
		/* A failed redemption hands out nothing. */
		assert_memory_equal(&answer, &zero, sizeof(zero));
	}
	proto_msg_clear(&answer);
	return r;
}

static void
test_redeem_fail_each(void **state)
{
	int before = fake.redeems, n;

	(void)state;
	n = disturb_each(op_redeem, FAULT_FAIL);
	/* lstat twice, socket, connect, getsockopt, two frames sent and
	 * two read (header, body, poll on the way), the buffers. */
	assert_true(n >= 15);
	/* The daemon answered every run that got as far as the REDEEM. */
	assert_true(fake.redeems > before);
}

static void
test_redeem_short_each(void **state)
{
	(void)state;
	assert_true(disturb_each(op_redeem, FAULT_SHORT) >= 6);
}

static void
test_redeem_eintr_each(void **state)
{
	(void)state;
	assert_true(disturb_each(op_redeem, FAULT_EINTR) >= 6);
}

/* The check that nothing follows an answer is a read too: an error it
 * meets refuses the answer (it was once taken for "nothing more"). Peek 1
 * follows the daemon's HELLO, peek 2 its OK. */
static void
test_redeem_peek_error(void **state)
{
	int n;

	(void)state;
	fault.only = "recv(MSG_PEEK)";
	for (n = 1; n <= 2; n++) {
		fault_arm(FAULT_FAIL, n);
		assert_int_not_equal(op_redeem(), 0);
		fault_disarm();
		assert_true(fault.fired);
	}
	fault_arm(FAULT_FAIL, 3);
	assert_int_equal(op_redeem(), 0);
	fault_disarm();
	fault.only = NULL;
	assert_false(fault.fired);
}

/* --- pam_sm_authenticate -------------------------------------------------- */

/* Answers the module's prompt with the ticket. The response array is
 * freed inside libpam, so it comes from the real calloc; the string is
 * freed by the module, through the wrapper. */
static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r;
	char *s;

	(void)arg;
	if (n != 1 || msg[0]->msg_style != PAM_PROMPT_ECHO_OFF)
		return PAM_CONV_ERR;
	if ((r = __real_calloc(1, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	if ((s = malloc(sizeof(TICKET))) == NULL) {
		__real_free(r);
		return PAM_BUF_ERR;
	}
	memcpy(s, TICKET, sizeof(TICKET));
	r->resp = s;
	*resp = r;
	return PAM_SUCCESS;
}

static int
op_authenticate(void)
{
	const struct pam_conv c = { conv, NULL };
	char sock_arg[160];
	const char *argv[] = { sock_arg, "timeout=3" };
	pam_handle_t *pamh = NULL;
	const char *subject;
	int armed, rc;

	snprintf(sock_arg, sizeof(sock_arg), "socket=%s", fake.path);
	/* Outside the count: the handle is the caller's, not the module's. */
	armed = fault.armed;
	fault.armed = 0;
	assert_int_equal(pam_start_confdir(SERVICE, "root", &c, fake.dir,
	    &pamh), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_RHOST, "192.0.2.1"),
	    PAM_SUCCESS);
	fault.armed = armed;

	rc = pam_sm_authenticate(pamh, 0, 2, argv);
	subject = pam_getenv(pamh, "MTLS_SUBJECT");
	if (rc == PAM_SUCCESS)
		assert_string_equal(subject, SUBJECT);
	else
		/* A refused login leaves no MTLS_* variable behind. */
		assert_null(subject);

	armed = fault.armed;
	fault.armed = 0;
	pam_end(pamh, rc);
	fault.armed = armed;
	return rc == PAM_SUCCESS ? 0 : rc;
}

static void
test_authenticate_fail_each(void **state)
{
	int n;

	(void)state;
	n = disturb_each(op_authenticate, FAULT_FAIL);
	/* The redemption's calls, plus getpwnam_r and its buffer,
	 * pam_get_user, pam_prompt, three variables. */
	assert_true(n >= 15 + 2 + 2 + 6);
}

/* The wrappers are in effect (without --wrap every count is 0), and the
 * whole exchange works undisturbed. The first counted call is made from
 * the module's code: a call from this file to a libc function declared
 * leaf would let the compiler drop the arming around it. */
static void
test_wrapped(void **state)
{
	struct proto_redeem req = { .user = "root", .ticket = (char *)TICKET };
	struct proto_msg answer;

	(void)state;
	fault_arm(FAULT_FAIL, 1);
	assert_int_equal(mtls_redeem(fake.path, TIMEOUT_MS, &req, &answer),
	    ERR_NOMEM);
	fault_disarm();
	assert_true(fault.fired);
	assert_string_equal(fault.what, "calloc");
	assert_int_equal(op_redeem(), 0);
	assert_int_equal(op_authenticate(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapped),
		cmocka_unit_test(test_redeem_fail_each),
		cmocka_unit_test(test_redeem_short_each),
		cmocka_unit_test(test_redeem_eintr_each),
		cmocka_unit_test(test_redeem_peek_error),
		cmocka_unit_test(test_authenticate_fail_each),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
