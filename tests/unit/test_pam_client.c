#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_modules.h>

#include "client.h"
#include "codes.h"
#include "proto.h"

/* Deadlines: a comfortable one for exchanges that must complete, a short
 * one for those that must time out, and the slack allowed past it (the
 * tests also run under valgrind). */
#define T_LONG 3000
#define T_SHORT 300
#define T_SLACK 300
/* The fake daemon never waits longer than this for anything. */
#define FAKE_WAIT_MS 5000
#define MAX_STEPS 8
#define OTHER_UID 4242
#define OTHER_UID2 4343

static const char TICKET[] = "T3ST-TICKET-abcdefghijklmnop";
static const char FPR[] = "sha256:"
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* --- the fake daemon -------------------------------------------------- */

enum op {
	OP_EXPECT_HELLO,   /* read a frame; record a HELLO */
	OP_EXPECT_REDEEM,  /* read a frame; record a REDEEM */
	OP_SEND,           /* write the step's bytes at once */
	OP_DRIP,           /* write them one byte at a time */
	OP_SLEEP,          /* wait ms milliseconds */
	OP_WAIT_CLOSE,     /* read until the client closes */
};

struct step {
	enum op op;
	struct buf *data;  /* OP_SEND, OP_DRIP; owned */
	int ms;            /* OP_SLEEP */
};

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	struct step steps[MAX_STEPS];
	size_t nsteps;
	pthread_t thread;
	int running;
	/* Written by the daemon thread, read after it is joined. */
	int accepted;
	int hellos;
	uint32_t hello_version;
	int redeems;
	struct proto_msg redeem;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	(void)poll(NULL, 0, ms);
}

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

static int
fake_read_frame(int fd, struct proto_msg *m)
{
	uint8_t b[PROTO_HDR_LEN + PROTO_MAX_FRAME];
	size_t n, used = 0;

	memset(m, 0, sizeof(*m));
	if (read_n(fd, b, PROTO_HDR_LEN) != 0)
		return -1;
	n = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (n == 0 || n > PROTO_MAX_FRAME || read_n(fd, b + 4, n) != 0)
		return -1;
	if (proto_decode(b, PROTO_HDR_LEN + n, m, &used) != 0)
		return -1;
	return used == PROTO_HDR_LEN + n ? 0 : -1;
}

static void
fake_step(struct fake *f, int fd, const struct step *s)
{
	struct proto_msg m;
	size_t i;
	uint8_t c;

	switch (s->op) {
	case OP_EXPECT_HELLO:
		if (fake_read_frame(fd, &m) == 0 && m.type == PROTO_HELLO) {
			f->hellos++;
			f->hello_version = m.u.version;
		}
		proto_msg_clear(&m);
		break;
	case OP_EXPECT_REDEEM:
		if (fake_read_frame(fd, &m) == 0 && m.type == PROTO_REDEEM &&
		    f->redeems++ == 0) {
			f->redeem = m;
			break;
		}
		proto_msg_clear(&m);
		break;
	case OP_SEND:
		(void)send(fd, buf_ptr(s->data), buf_avail(s->data),
		    MSG_NOSIGNAL);
		break;
	case OP_DRIP:
		for (i = 0; i < buf_avail(s->data); i++) {
			if (send(fd, buf_ptr(s->data) + i, 1, MSG_NOSIGNAL) != 1)
				break;
			sleep_ms(1);
		}
		break;
	case OP_SLEEP:
		sleep_ms(s->ms);
		break;
	case OP_WAIT_CLOSE:
		while (recv(fd, &c, 1, 0) > 0)
			;
		break;
	default:
		break;
	}
}

/* Serves one connection with the script. Run in a thread or a child. */
static void
fake_serve(struct fake *f)
{
	struct pollfd p = { .fd = f->lfd, .events = POLLIN, .revents = 0 };
	struct timeval tv = { .tv_sec = FAKE_WAIT_MS / 1000, .tv_usec = 0 };
	size_t i;
	int fd;

	if (poll(&p, 1, FAKE_WAIT_MS) != 1 ||
	    (fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	f->accepted++;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < f->nsteps; i++)
		fake_step(f, fd, &f->steps[i]);
	close(fd);
}

static void *
fake_thread(void *arg)
{
	fake_serve(arg);
	return NULL;
}

static void
fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
	f->running = 1;
}

static void
fake_join(struct fake *f)
{
	if (!f->running)
		return;
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	f->running = 0;
}

/* Forgets the script and what the last connection did. */
static void
fake_reset(struct fake *f)
{
	size_t i;

	fake_join(f);
	for (i = 0; i < f->nsteps; i++)
		buf_free(&f->steps[i].data);
	f->nsteps = 0;
	f->accepted = f->hellos = f->redeems = 0;
	f->hello_version = 0;
	proto_msg_clear(&f->redeem);
}

static struct step *
add_step(struct fake *f, enum op op)
{
	struct step *s;

	assert_true(f->nsteps < MAX_STEPS);
	s = &f->steps[f->nsteps++];
	memset(s, 0, sizeof(*s));
	s->op = op;
	return s;
}

static void
add_op(struct fake *f, enum op op)
{
	(void)add_step(f, op);
}

static void
add_sleep(struct fake *f, int ms)
{
	add_step(f, OP_SLEEP)->ms = ms;
}

static struct buf *
add_send(struct fake *f, enum op op)
{
	struct step *s = add_step(f, op);

	s->data = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME + 256000);
	assert_non_null(s->data);
	return s->data;
}

static void
add_raw(struct fake *f, const void *p, size_t n)
{
	assert_int_equal(buf_put(add_send(f, OP_SEND), p, n), 0);
}

static void
put_msg(struct buf *b, uint8_t type, uint32_t v)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (type == PROTO_HELLO)
		m.u.version = v;
	else
		m.u.reason = v;
	assert_int_equal(proto_encode(b, &m), 0);
}

static void
add_msg(struct fake *f, uint8_t type, uint32_t v)
{
	put_msg(add_send(f, OP_SEND), type, v);
}

static void
put_ok(struct buf *b, const char *subject)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_OK;
	m.u.ok.subject = (char *)subject;
	m.u.ok.issuer = (char *)"CN=Test CA,O=Example";
	m.u.ok.serial = (char *)"1a2b3c";
	m.u.ok.fingerprint = (char *)FPR;
	m.u.ok.rule = (char *)"alice";
	assert_int_equal(proto_encode(b, &m), 0);
}

/* The daemon's side of an exchange up to (not including) the answer. */
static void
add_hello_redeem(struct fake *f)
{
	add_op(f, OP_EXPECT_HELLO);
	add_msg(f, PROTO_HELLO, PROTO_VERSION);
	add_op(f, OP_EXPECT_REDEEM);
}

static void
add_good_exchange(struct fake *f)
{
	add_hello_redeem(f);
	put_ok(add_send(f, OP_SEND), "CN=alice,O=Example");
	add_op(f, OP_WAIT_CLOSE);
}

static int
setup(void **state)
{
	struct sockaddr_un sa;
	struct fake *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->lfd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_pam_client.XXXXXX");
	if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0700) != 0)
		goto fail;
	snprintf(f->path, sizeof(f->path), "%s/pam.sock", f->dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd == -1 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(f->lfd, 8) != 0)
		goto fail;
	*state = f;
	return 0;
fail:
	if (f->lfd != -1)
		close(f->lfd);
	free(f);
	return -1;
}

/* Removes everything a test may have put in the directory. */
static int
teardown(void **state)
{
	static const char *const names[] = {
		"pam.sock", "link.sock", "file", "dead.sock", "other.sock",
	};
	struct fake *f = *state;
	char p[192];
	size_t i;

	fake_reset(f);
	close(f->lfd);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* --- the client under test --------------------------------------------- */

struct run {
	int r;
	int64_t ms;
	struct proto_msg answer;
};

static void
redeem_at(const char *path, int timeout_ms, const char *ticket,
    struct run *out)
{
	struct proto_redeem req = {
		.user = (char *)"alice",
		.service = (char *)"sshd",
		.rhost = (char *)"192.0.2.7",
		.tty = (char *)"ssh",
		.ticket = (char *)ticket,
	};
	int64_t t0 = now_ms();

	out->r = mtls_redeem(path, timeout_ms, &req, &out->answer);
	out->ms = now_ms() - t0;
}

/* Runs the client against the scripted daemon and waits for the daemon. */
static void
run_fake(struct fake *f, int timeout_ms, struct run *out)
{
	fake_start(f);
	redeem_at(f->path, timeout_ms, TICKET, out);
	fake_join(f);
	if (out->r != 0)
		assert_int_equal(out->answer.type, 0);
}

static void
assert_timed_out(const struct run *run, int timeout_ms)
{
	assert_int_equal(run->r, ERR_TIMEOUT);
	assert_true(run->ms >= timeout_ms - 2);
	assert_true(run->ms <= timeout_ms + T_SLACK);
}

/* Fails with code fast, and the daemon saw no ticket. */
static void
expect_fast_error(struct fake *f, int code)
{
	struct run run;

	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, code);
	assert_true(run.ms < T_LONG / 2);
	assert_int_equal(f->redeems, 0);
	assert_int_not_equal(pam_code_for(run.r, &run.answer), PAM_SUCCESS);
}

/* --- exchanges that complete ------------------------------------------- */

static void
test_ok(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_good_exchange(f);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.type, PROTO_OK);
	assert_string_equal(run.answer.u.ok.subject, "CN=alice,O=Example");
	assert_string_equal(run.answer.u.ok.issuer, "CN=Test CA,O=Example");
	assert_string_equal(run.answer.u.ok.serial, "1a2b3c");
	assert_string_equal(run.answer.u.ok.fingerprint, FPR);
	assert_string_equal(run.answer.u.ok.rule, "alice");
	assert_int_equal(pam_code_for(run.r, &run.answer), PAM_SUCCESS);
	/* What the daemon received. */
	assert_int_equal(f->hellos, 1);
	assert_int_equal(f->hello_version, PROTO_VERSION);
	assert_int_equal(f->redeems, 1);
	assert_string_equal(f->redeem.u.redeem.user, "alice");
	assert_string_equal(f->redeem.u.redeem.service, "sshd");
	assert_string_equal(f->redeem.u.redeem.rhost, "192.0.2.7");
	assert_string_equal(f->redeem.u.redeem.tty, "ssh");
	assert_string_equal(f->redeem.u.redeem.ticket, TICKET);
	proto_msg_clear(&run.answer);
}

/* The largest answer the protocol allows, delivered byte by byte. */
static void
test_ok_large_dripped(void **state)
{
	struct fake *f = *state;
	char subject[1600];
	struct buf *b;
	struct run run;

	memset(subject, 's', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	add_op(f, OP_EXPECT_HELLO);
	put_msg(add_send(f, OP_DRIP), PROTO_HELLO, PROTO_VERSION);
	add_op(f, OP_EXPECT_REDEEM);
	b = add_send(f, OP_DRIP);
	put_ok(b, subject);
	assert_true(buf_avail(b) > 1600);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, 20000, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.type, PROTO_OK);
	assert_string_equal(run.answer.u.ok.subject, subject);
	proto_msg_clear(&run.answer);
}

static void
test_deny_each_reason(void **state)
{
	static const uint32_t reasons[] = {
		DENY_BAD_TICKET, DENY_EXPIRED, DENY_WRONG_USER,
		DENY_WRONG_RHOST, DENY_NOT_ALLOWED, DENY_INTERNAL,
		DENY_VERSION, 99,
	};
	struct fake *f = *state;
	struct run run;
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		fake_reset(f);
		add_hello_redeem(f);
		add_msg(f, PROTO_DENY, reasons[i]);
		add_op(f, OP_WAIT_CLOSE);
		run_fake(f, T_LONG, &run);
		assert_int_equal(run.r, 0);
		assert_int_equal(run.answer.type, PROTO_DENY);
		assert_int_equal(run.answer.u.reason, reasons[i]);
		assert_int_equal(f->redeems, 1);
		assert_int_equal(pam_code_for(run.r, &run.answer),
		    pam_code_for_deny(reasons[i]));
		assert_int_not_equal(pam_code_for(run.r, &run.answer),
		    PAM_SUCCESS);
		proto_msg_clear(&run.answer);
	}
}

/* The daemon speaks no common version: DENY in place of HELLO, and the
 * ticket is never sent. */
static void
test_deny_version_instead_of_hello(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_op(f, OP_EXPECT_HELLO);
	add_msg(f, PROTO_DENY, DENY_VERSION);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.type, PROTO_DENY);
	assert_int_equal(run.answer.u.reason, DENY_VERSION);
	assert_int_equal(f->hellos, 1);
	assert_int_equal(f->redeems, 0);
	assert_int_equal(pam_code_for(run.r, &run.answer),
	    PAM_AUTHINFO_UNAVAIL);
}

/* --- broken daemons ------------------------------------------------------ */

static void
test_garbage_text(void **state)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, http, sizeof(http) - 1);
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_TOOLONG);
}

static void
test_garbage_unknown_type(void **state)
{
	static const uint8_t frame[] = { 0, 0, 0, 3, 9, 0xde, 0xad };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, frame, sizeof(frame));
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_PROTO);
}

static void
test_short_hello_payload(void **state)
{
	static const uint8_t frame[] = { 0, 0, 0, 3, PROTO_HELLO, 0, 1 };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, frame, sizeof(frame));
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_PROTO);
}

static void
test_half_frame_then_close(void **state)
{
	static const uint8_t half[] = { 0, 0, 0, 5, PROTO_HELLO, 0 };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, half, sizeof(half));
	expect_fast_error(f, ERR_CLOSED);
}

static void
test_half_header_then_close(void **state)
{
	static const uint8_t half[] = { 0, 0 };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, half, sizeof(half));
	expect_fast_error(f, ERR_CLOSED);
}

static void
test_half_frame_then_silence(void **state)
{
	static const uint8_t half[] = { 0, 0, 0, 5, PROTO_HELLO, 0 };
	struct fake *f = *state;
	struct run run;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, half, sizeof(half));
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_SHORT, &run);
	assert_timed_out(&run, T_SHORT);
	assert_int_equal(f->redeems, 0);
}

/* Judged from the header: the client does not wait for 100000 bytes. */
static void
test_frame_too_long(void **state)
{
	static const uint8_t hdr[] = { 0x00, 0x01, 0x86, 0xa0 };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, hdr, sizeof(hdr));
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_TOOLONG);
}

static void
test_frame_just_too_long(void **state)
{
	static const uint8_t hdr[] = { 0x00, 0x00, 0x20, 0x01 };  /* 8193 */
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, hdr, sizeof(hdr));
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_TOOLONG);
}

static void
test_frame_length_zero(void **state)
{
	static const uint8_t hdr[] = { 0, 0, 0, 0 };
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	add_raw(f, hdr, sizeof(hdr));
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_TOOLONG);
}

/* OK where HELLO belongs: never success, and no ticket sent. */
static void
test_ok_instead_of_hello(void **state)
{
	struct fake *f = *state;

	add_op(f, OP_EXPECT_HELLO);
	put_ok(add_send(f, OP_SEND), "CN=alice,O=Example");
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_PROTO);
}

static void
test_hello_instead_of_answer(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_hello_redeem(f);
	add_msg(f, PROTO_HELLO, PROTO_VERSION);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, ERR_PROTO);
	assert_int_equal(f->redeems, 1);
}

static void
test_redeem_from_daemon(void **state)
{
	struct proto_msg m;
	struct fake *f = *state;
	struct run run;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REDEEM;
	add_hello_redeem(f);
	assert_int_equal(proto_encode(add_send(f, OP_SEND), &m), 0);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, ERR_PROTO);
}

static void
test_trailing_after_deny(void **state)
{
	static const uint8_t tail[] = { 0, 0, 0, 5, PROTO_DENY, 0, 0, 0, 1 };
	struct fake *f = *state;
	struct buf *b;
	struct run run;

	add_hello_redeem(f);
	b = add_send(f, OP_SEND);
	put_msg(b, PROTO_DENY, DENY_BAD_TICKET);
	assert_int_equal(buf_put(b, tail, sizeof(tail)), 0);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, ERR_PROTO);
}

static void
test_trailing_after_ok(void **state)
{
	static const uint8_t tail[] = { 'x' };
	struct fake *f = *state;
	struct buf *b;
	struct run run;

	add_hello_redeem(f);
	b = add_send(f, OP_SEND);
	put_ok(b, "CN=alice,O=Example");
	assert_int_equal(buf_put(b, tail, sizeof(tail)), 0);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, ERR_PROTO);
	assert_int_not_equal(pam_code_for(run.r, &run.answer), PAM_SUCCESS);
}

/* A daemon answering before it is asked: the OK sent with its HELLO must
 * not be taken as the answer to the REDEEM. */
static void
test_answer_before_redeem(void **state)
{
	struct fake *f = *state;
	struct buf *b;

	add_op(f, OP_EXPECT_HELLO);
	b = add_send(f, OP_SEND);
	put_msg(b, PROTO_HELLO, PROTO_VERSION);
	put_ok(b, "CN=alice,O=Example");
	add_op(f, OP_WAIT_CLOSE);
	expect_fast_error(f, ERR_PROTO);
}

static void
test_hello_wrong_version(void **state)
{
	static const uint32_t versions[] = { 0, 2, UINT32_MAX };
	struct fake *f = *state;
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		fake_reset(f);
		add_op(f, OP_EXPECT_HELLO);
		add_msg(f, PROTO_HELLO, versions[i]);
		add_op(f, OP_WAIT_CLOSE);
		expect_fast_error(f, ERR_PROTO);
	}
}

static void
test_immediate_close(void **state)
{
	struct fake *f = *state;

	/* No step: accept, then close. */
	expect_fast_error(f, ERR_CLOSED);
	assert_int_equal(f->accepted, 1);
}

static void
test_close_without_answer(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_hello_redeem(f);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, ERR_CLOSED);
	assert_true(run.ms < T_LONG / 2);
}

static void
test_no_answer_at_all(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_op(f, OP_EXPECT_HELLO);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_SHORT, &run);
	assert_timed_out(&run, T_SHORT);
	assert_int_equal(f->hellos, 1);
	assert_int_equal(f->redeems, 0);
}

static void
test_no_answer_to_redeem(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_hello_redeem(f);
	add_op(f, OP_WAIT_CLOSE);
	run_fake(f, T_SHORT, &run);
	assert_timed_out(&run, T_SHORT);
	assert_int_equal(f->redeems, 1);
}

/* The daemon never accepts: connect lands in the listen queue. */
static void
test_never_accepted(void **state)
{
	struct fake *f = *state;
	struct run run;

	redeem_at(f->path, T_SHORT, TICKET, &run);
	assert_timed_out(&run, T_SHORT);
}

/* A full listen queue: AF_UNIX connect says EAGAIN without starting. */
static void
test_listen_queue_full(void **state)
{
	struct sockaddr_un sa;
	struct fake *f = *state;
	struct run run;
	int fill[4], i, full = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(listen(f->lfd, 0), 0);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] != -1);
		if (connect(fill[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
		    errno == EAGAIN)
			full = 1;
	}
	assert_true(full);
	redeem_at(f->path, T_SHORT, TICKET, &run);
	assert_timed_out(&run, T_SHORT);
	for (i = 0; i < 4; i++)
		close(fill[i]);
}

/* One deadline over the whole exchange, not one per step. */
static void
test_one_deadline(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_op(f, OP_EXPECT_HELLO);
	add_sleep(f, T_SHORT * 2 / 3);
	add_msg(f, PROTO_HELLO, PROTO_VERSION);
	add_op(f, OP_EXPECT_REDEEM);
	add_sleep(f, T_SHORT * 2 / 3);
	add_msg(f, PROTO_DENY, DENY_BAD_TICKET);
	run_fake(f, T_SHORT, &run);
	assert_timed_out(&run, T_SHORT);
	assert_int_equal(f->redeems, 1);
}

/* The same slow daemon is fine with a deadline it can meet. */
static void
test_slow_within_deadline(void **state)
{
	struct fake *f = *state;
	struct run run;

	add_op(f, OP_EXPECT_HELLO);
	add_sleep(f, 100);
	add_msg(f, PROTO_HELLO, PROTO_VERSION);
	add_op(f, OP_EXPECT_REDEEM);
	add_sleep(f, 100);
	add_msg(f, PROTO_DENY, DENY_EXPIRED);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.u.reason, DENY_EXPIRED);
}

/* --- the socket and its directory ----------------------------------------- */

static void
path_in(const struct fake *f, const char *name, char *p, size_t n)
{
	snprintf(p, n, "%s/%s", f->dir, name);
}

static void
test_socket_missing(void **state)
{
	struct fake *f = *state;
	struct run run;
	char p[192];

	path_in(f, "nope.sock", p, sizeof(p));
	redeem_at(p, T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_IO);
	assert_true(run.ms < 100);
	redeem_at("/nonexistent-test-dir/pam.sock", T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_IO);
	assert_int_equal(pam_code_for(run.r, &run.answer),
	    PAM_AUTHINFO_UNAVAIL);
}

/* A socket file nobody listens on any more. */
static void
test_connection_refused(void **state)
{
	struct sockaddr_un sa;
	struct fake *f = *state;
	struct run run;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	path_in(f, "dead.sock", sa.sun_path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	redeem_at(sa.sun_path, T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_IO);
	assert_true(run.ms < 100);
}

static void
expect_perm(const char *path)
{
	struct run run;

	redeem_at(path, T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_PERM);
	assert_int_equal(pam_code_for(run.r, &run.answer),
	    PAM_AUTHINFO_UNAVAIL);
}

static void
test_dir_modes(void **state)
{
	struct fake *f = *state;
	struct run run;

	assert_int_equal(chmod(f->dir, 0777), 0);
	expect_perm(f->path);
	assert_int_equal(chmod(f->dir, 0770), 0);
	expect_perm(f->path);
	assert_int_equal(chmod(f->dir, 0702), 0);
	expect_perm(f->path);
	assert_int_equal(chmod(f->dir, 01777), 0);
	expect_perm(f->path);
	/* Group and others may read and search, as DESIGN.md's 0750. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	add_good_exchange(f);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.type, PROTO_OK);
	proto_msg_clear(&run.answer);
}

static void
test_symlinked_socket(void **state)
{
	struct fake *f = *state;
	char p[192];

	path_in(f, "link.sock", p, sizeof(p));
	assert_int_equal(symlink(f->path, p), 0);
	expect_perm(p);
	assert_int_equal(f->accepted, 0);
}

static void
test_symlinked_dir(void **state)
{
	struct fake *f = *state;
	char link[128], p[192];

	snprintf(link, sizeof(link), "%s.link", f->dir);
	assert_int_equal(symlink(f->dir, link), 0);
	snprintf(p, sizeof(p), "%s/pam.sock", link);
	expect_perm(p);
	assert_int_equal(unlink(link), 0);
}

static void
test_not_a_socket(void **state)
{
	struct fake *f = *state;
	char p[192];
	FILE *fp;

	path_in(f, "file", p, sizeof(p));
	assert_non_null(fp = fopen(p, "w"));
	fclose(fp);
	expect_perm(p);
	/* A directory standing where the socket should be. */
	expect_perm("/tmp/.");
}

static int
as_root(void)
{
	if (geteuid() == 0)
		return 1;
	print_message("not root: ownership cases skipped\n");
	return 0;
}

static void
test_socket_owner(void **state)
{
	struct fake *f = *state;
	struct run run;

	if (!as_root())
		skip();
	/* Root's directory, someone else's socket. */
	assert_int_equal(chown(f->path, OTHER_UID, OTHER_UID), 0);
	expect_perm(f->path);
	/* The daemon's user owns both: fine (the peer is root here). */
	assert_int_equal(chown(f->dir, OTHER_UID, OTHER_UID), 0);
	add_good_exchange(f);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	proto_msg_clear(&run.answer);
	/* The daemon's user's directory, root's socket: fine. */
	fake_reset(f);
	assert_int_equal(chown(f->path, 0, 0), 0);
	add_good_exchange(f);
	run_fake(f, T_LONG, &run);
	assert_int_equal(run.r, 0);
	proto_msg_clear(&run.answer);
	/* Two different users. */
	assert_int_equal(chown(f->path, OTHER_UID2, OTHER_UID2), 0);
	expect_perm(f->path);
	assert_int_equal(chown(f->dir, 0, 0), 0);
}

/* A child that listens on a socket bound by root, after becoming uid,
 * and serves the script once: its credentials are the peer's. */
static pid_t
serve_as(struct fake *f, const char *name, uid_t uid)
{
	struct sockaddr_un sa;
	int fd, sync[2];
	pid_t pid;
	char c = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	path_in(f, name, sa.sun_path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(pipe(sync), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(sync[0]);
		if (setresgid(uid, uid, uid) != 0 ||
		    setresuid(uid, uid, uid) != 0 || listen(fd, 1) != 0)
			_exit(1);
		(void)write(sync[1], &c, 1);
		close(f->lfd);
		f->lfd = fd;
		fake_serve(f);
		_exit(0);
	}
	close(fd);
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	close(sync[0]);
	return pid;
}

static void
reap(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Root's directory and socket, but another user listening on it. */
static void
test_peer_not_owner(void **state)
{
	struct fake *f = *state;
	struct run run;
	char p[192];
	pid_t pid;

	if (!as_root())
		skip();
	add_good_exchange(f);
	pid = serve_as(f, "other.sock", OTHER_UID);
	path_in(f, "other.sock", p, sizeof(p));
	redeem_at(p, T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_PERM);
	reap(pid);
}

/* The daemon's user owns the directory and the socket and listens. */
static void
test_peer_is_owner(void **state)
{
	struct fake *f = *state;
	struct run run;
	char p[192];
	pid_t pid;

	if (!as_root())
		skip();
	path_in(f, "other.sock", p, sizeof(p));
	add_hello_redeem(f);
	add_msg(f, PROTO_DENY, DENY_WRONG_RHOST);
	add_op(f, OP_WAIT_CLOSE);
	assert_int_equal(chown(f->dir, OTHER_UID, OTHER_UID), 0);
	pid = serve_as(f, "other.sock", OTHER_UID);
	assert_int_equal(chown(p, OTHER_UID, OTHER_UID), 0);
	redeem_at(p, T_LONG, TICKET, &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.answer.type, PROTO_DENY);
	assert_int_equal(run.answer.u.reason, DENY_WRONG_RHOST);
	reap(pid);
	assert_int_equal(chown(f->dir, 0, 0), 0);
}

/* --- bad calls: refused before any connection ----------------------------- */

static void
assert_nothing_connected(const struct fake *f)
{
	struct pollfd p = { .fd = f->lfd, .events = POLLIN, .revents = 0 };

	assert_int_equal(poll(&p, 1, 0), 0);
}

static void
test_bad_arguments(void **state)
{
	struct proto_redeem req;
	struct proto_msg answer;
	struct fake *f = *state;
	char longpath[200], longticket[PROTO_MAX_TICKET + 2];
	struct run run;

	memset(&req, 0, sizeof(req));
	assert_int_equal(mtls_redeem(NULL, T_LONG, &req, &answer),
	    ERR_INVALID);
	assert_int_equal(mtls_redeem(f->path, T_LONG, NULL, &answer),
	    ERR_INVALID);
	assert_int_equal(mtls_redeem(f->path, 0, &req, &answer), ERR_INVALID);
	assert_int_equal(mtls_redeem(f->path, -5, &req, &answer),
	    ERR_INVALID);
	redeem_at("pam.sock", T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_INVALID);
	redeem_at("", T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_INVALID);
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	redeem_at(longpath, T_LONG, TICKET, &run);
	assert_int_equal(run.r, ERR_INVALID);
	memset(longticket, 't', sizeof(longticket));
	longticket[sizeof(longticket) - 1] = '\0';
	redeem_at(f->path, T_LONG, longticket, &run);
	assert_int_equal(run.r, ERR_INVALID);
	assert_nothing_connected(f);
	/* The same call with a ticket that fits does connect. */
	longticket[PROTO_MAX_TICKET] = '\0';
	redeem_at(f->path, T_SHORT, longticket, &run);
	assert_int_equal(run.r, ERR_TIMEOUT);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ok),
		T(test_ok_large_dripped),
		T(test_deny_each_reason),
		T(test_deny_version_instead_of_hello),
		T(test_garbage_text),
		T(test_garbage_unknown_type),
		T(test_short_hello_payload),
		T(test_half_frame_then_close),
		T(test_half_header_then_close),
		T(test_half_frame_then_silence),
		T(test_frame_too_long),
		T(test_frame_just_too_long),
		T(test_frame_length_zero),
		T(test_ok_instead_of_hello),
		T(test_hello_instead_of_answer),
		T(test_redeem_from_daemon),
		T(test_trailing_after_deny),
		T(test_trailing_after_ok),
		T(test_answer_before_redeem),
		T(test_hello_wrong_version),
		T(test_immediate_close),
		T(test_close_without_answer),
		T(test_no_answer_at_all),
		T(test_no_answer_to_redeem),
		T(test_never_accepted),
		T(test_listen_queue_full),
		T(test_one_deadline),
		T(test_slow_within_deadline),
		T(test_socket_missing),
		T(test_connection_refused),
		T(test_dir_modes),
		T(test_symlinked_socket),
		T(test_symlinked_dir),
		T(test_not_a_socket),
		T(test_socket_owner),
		T(test_peer_not_owner),
		T(test_peer_is_owner),
		T(test_bad_arguments),
	};
#undef T

	/* The fake daemon writes to clients that may have gone. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
