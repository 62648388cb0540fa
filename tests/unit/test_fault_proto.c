/* Allocation failures at every call site of the protocol code: buf_*
 * growth and strings, proto_encode and proto_decode.
 *
 * The test is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=free: every call from the objects of this link (the test,
 * libmtlscore's buf.o and proto.o) goes through the wrappers below, calls
 * from shared libraries (cmocka, libc itself) do not. A wrapper fails
 * only when the countdown armed around the operation under test reaches
 * zero. Each operation runs with its 1st, 2nd, ... allocation failing
 * until a run sees no failure: every failed run must end in ERR_NOMEM,
 * leave its output as it was, and free what it allocated (the wrappers
 * count, and valgrind and ASan check too); the run without a failure
 * must give the result of a run without wrappers. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

#define OUT_MAX (PROTO_HDR_LEN + PROTO_MAX_FRAME)
/* No operation here allocates more often than this. */
#define MAX_CALLS 64

/* --- the wrappers ----------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static struct {
	int armed;      /* the countdown runs */
	int fail_at;    /* the call that fails, 1-based */
	int calls;      /* counted calls since arming */
	int fired;      /* a call was failed */
	long live;      /* blocks allocated minus blocks freed */
} fault;

/* 1 if this allocation is the one to fail. */
static int
fault_hit(void)
{
	if (!fault.armed)
		return 0;
	if (++fault.calls != fault.fail_at)
		return 0;
	fault.fired = 1;
	errno = ENOMEM;
	return 1;
}

void *
__wrap_malloc(size_t n)
{
	void *p;

	if (fault_hit())
		return NULL;
	if ((p = __real_malloc(n)) != NULL)
		fault.live++;
	return p;
}

void *
__wrap_calloc(size_t k, size_t n)
{
	void *p;

	if (fault_hit())
		return NULL;
	if ((p = __real_calloc(k, n)) != NULL)
		fault.live++;
	return p;
}

void *
__wrap_realloc(void *old, size_t n)
{
	void *p;

	if (fault_hit())
		return NULL;
	if ((p = __real_realloc(old, n)) != NULL && old == NULL)
		fault.live++;
	return p;
}

void
__wrap_free(void *p)
{
	if (p != NULL)
		fault.live--;
	__real_free(p);
}

static void
fault_arm(int fail_at)
{
	fault.armed = 1;
	fault.fail_at = fail_at;
	fault.calls = 0;
	fault.fired = 0;
}

static void
fault_disarm(void)
{
	fault.armed = 0;
}

/* One operation under test: returns its result and checks its own
 * outputs (on failure: unchanged; on success: the expected ones). */
typedef int (*op_fn)(void *arg, int injected);

/* Runs op with each of its allocations failing in turn, then with none;
 * returns how many runs had a failure injected. */
static int
fail_each(op_fn op, void *arg)
{
	long live;
	int n, r;

	for (n = 1; n <= MAX_CALLS; n++) {
		live = fault.live;
		fault_arm(n);
		r = op(arg, 1);
		fault_disarm();
		assert_int_equal(fault.live, live);
		if (!fault.fired) {
			assert_int_equal(r, 0);
			print_message("%d allocations failed in turn\n", n - 1);
			return n - 1;
		}
		assert_int_equal(r, ERR_NOMEM);
	}
	fail_msg("still allocating after %d calls", MAX_CALLS);
	return -1;
}

/* --- messages ----------------------------------------------------------- */

static const char TICKET[] = "Zm9vYmFyYmF6cXV4LWZ1enotdGlja2V0";

static void
msg_hello(struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_HELLO;
	m->u.version = PROTO_VERSION;
}

static void
msg_redeem(struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_REDEEM;
	m->u.redeem.user = "alice";
	m->u.redeem.service = "sshd";
	m->u.redeem.rhost = "192.0.2.1";
	m->u.redeem.tty = "ssh";
	m->u.redeem.ticket = (char *)TICKET;
}

static void
msg_ok(struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_OK;
	m->u.ok.subject = "CN=alice,OU=ops,O=Example";
	m->u.ok.issuer = "CN=Example CA,O=Example";
	m->u.ok.serial = "1A2B3C";
	m->u.ok.fingerprint = "sha256:"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	m->u.ok.rule = "alice";
}

static void
msg_deny(struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_DENY;
	m->u.reason = DENY_EXPIRED;
}

typedef void (*msg_fn)(struct proto_msg *m);
static const msg_fn msgs[] = { msg_hello, msg_redeem, msg_ok, msg_deny };
#define N_MSGS (sizeof(msgs) / sizeof(msgs[0]))

/* The frame of m, encoded with no failure injected. */
static struct buf *
frame_of(const struct proto_msg *m)
{
	struct buf *b = buf_new(OUT_MAX);

	assert_non_null(b);
	assert_int_equal(proto_encode(b, m), 0);
	return b;
}

/* --- proto_encode --------------------------------------------------------- */

/* A buffer already holding PREFIX bytes, so that the frame makes it grow
 * (past BUF_INITIAL_CAP) in the middle. */
#define PREFIX 250

struct encode_case {
	const struct proto_msg *m;
	const struct buf *want;   /* the frame */
};

static int
op_encode(void *arg, int injected)
{
	const struct encode_case *c = arg;
	uint8_t prefix[PREFIX];
	struct buf *b = NULL;
	int r = ERR_NOMEM;

	(void)injected;
	memset(prefix, 'p', sizeof(prefix));
	if ((b = buf_new(OUT_MAX + PREFIX)) == NULL)
		goto out;
	if ((r = buf_put(b, prefix, sizeof(prefix))) != 0)
		goto out;
	r = proto_encode(b, c->m);
	if (r == 0) {
		assert_int_equal(buf_avail(b), PREFIX + buf_avail(c->want));
		assert_memory_equal(buf_ptr(b) + PREFIX, buf_ptr(c->want),
		    buf_avail(c->want));
	} else {
		/* A failed encode leaves what was there. */
		assert_int_equal(buf_avail(b), PREFIX);
		assert_memory_equal(buf_ptr(b), prefix, PREFIX);
	}
out:
	buf_free(&b);
	return r;
}

static void
test_encode_nomem(void **state)
{
	struct proto_msg m;
	struct encode_case c;
	struct buf *want = NULL;
	size_t i;
	int total = 0;

	(void)state;
	for (i = 0; i < N_MSGS; i++) {
		msgs[i](&m);
		want = frame_of(&m);
		c.m = &m;
		c.want = want;
		total += fail_each(op_encode, &c);
		buf_free(&want);
	}
	/* buf_new, the prefix, and growth for the longer frames. */
	assert_true(total >= 2 * (int)N_MSGS + 2);
}

/* --- proto_decode --------------------------------------------------------- */

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void
assert_msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case PROTO_HELLO:
		assert_int_equal(a->u.version, b->u.version);
		break;
	case PROTO_DENY:
		assert_int_equal(a->u.reason, b->u.reason);
		break;
	case PROTO_REDEEM:
		assert_true(str_eq(a->u.redeem.user, b->u.redeem.user));
		assert_true(str_eq(a->u.redeem.service, b->u.redeem.service));
		assert_true(str_eq(a->u.redeem.rhost, b->u.redeem.rhost));
		assert_true(str_eq(a->u.redeem.tty, b->u.redeem.tty));
		assert_true(str_eq(a->u.redeem.ticket, b->u.redeem.ticket));
		break;
	case PROTO_OK:
		assert_true(str_eq(a->u.ok.subject, b->u.ok.subject));
		assert_true(str_eq(a->u.ok.issuer, b->u.ok.issuer));
		assert_true(str_eq(a->u.ok.serial, b->u.ok.serial));
		assert_true(str_eq(a->u.ok.fingerprint, b->u.ok.fingerprint));
		assert_true(str_eq(a->u.ok.rule, b->u.ok.rule));
		break;
	default:
		fail_msg("unexpected type %u", a->type);
	}
}

static int
is_zero(const struct proto_msg *m)
{
	static const struct proto_msg zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

struct decode_case {
	const struct proto_msg *m;
	const struct buf *frame;
};

static int
op_decode(void *arg, int injected)
{
	const struct decode_case *c = arg;
	struct proto_msg got;
	size_t used = 99;
	int r;

	(void)injected;
	r = proto_decode(buf_ptr(c->frame), buf_avail(c->frame), &got, &used);
	if (r == 0) {
		assert_int_equal(used, buf_avail(c->frame));
		assert_msg_equal(&got, c->m);
	} else {
		/* Nothing half-decoded is handed out. */
		assert_true(is_zero(&got));
		assert_int_equal(used, 0);
	}
	proto_msg_clear(&got);
	return r;
}

static void
test_decode_nomem(void **state)
{
	struct proto_msg m;
	struct decode_case c;
	struct buf *frame = NULL;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < N_MSGS; i++) {
		msgs[i](&m);
		frame = frame_of(&m);
		c.m = &m;
		c.frame = frame;
		n = fail_each(op_decode, &c);
		/* The private copy, and each string of REDEEM and OK. */
		if (m.type == PROTO_REDEEM || m.type == PROTO_OK)
			assert_int_equal(n, 2 + 5);
		else
			assert_int_equal(n, 2);
		buf_free(&frame);
	}
}

/* Two frames back to back: each decode takes exactly its own. */
static int
op_decode_stream(void *arg, int injected)
{
	const struct buf *stream = arg;
	const uint8_t *p = buf_ptr(stream);
	size_t len = buf_avail(stream), used = 0;
	struct proto_msg a, b;
	int r;

	(void)injected;
	memset(&b, 0, sizeof(b));
	if ((r = proto_decode(p, len, &a, &used)) != 0)
		return r;
	assert_int_equal(a.type, PROTO_HELLO);
	r = proto_decode(p + used, len - used, &b, &used);
	if (r == 0)
		assert_int_equal(b.type, PROTO_REDEEM);
	proto_msg_clear(&a);
	proto_msg_clear(&b);
	return r;
}

static void
test_decode_stream_nomem(void **state)
{
	struct proto_msg m;
	struct buf *stream = buf_new(2 * OUT_MAX);

	(void)state;
	assert_non_null(stream);
	msg_hello(&m);
	assert_int_equal(proto_encode(stream, &m), 0);
	msg_redeem(&m);
	assert_int_equal(proto_encode(stream, &m), 0);
	assert_int_equal(fail_each(op_decode_stream, stream), 2 + 2 + 5);
	buf_free(&stream);
}

/* --- buf growth and strings ----------------------------------------------- */

/* Appends 1, 2, 3, ... bytes until past 4 KiB: several doublings. */
static int
op_buf_grow(void *arg, int injected)
{
	uint8_t chunk[128];
	struct buf *b = NULL;
	size_t n, total = 0, before;
	int r = ERR_NOMEM;

	(void)arg;
	(void)injected;
	memset(chunk, 'g', sizeof(chunk));
	if ((b = buf_new(8192)) == NULL)
		goto out;
	for (n = 1; total < 4096; n = n % sizeof(chunk) + 1) {
		before = buf_avail(b);
		if ((r = buf_put(b, chunk, n)) != 0) {
			/* On error the buffer is unchanged. */
			assert_int_equal(buf_avail(b), before);
			goto out;
		}
		total += n;
	}
	assert_int_equal(buf_avail(b), total);
	r = 0;
out:
	buf_free(&b);
	return r;
}

static void
test_buf_grow_nomem(void **state)
{
	(void)state;
	/* buf_new, then 256, 512, ... 8192. */
	assert_int_equal(fail_each(op_buf_grow, NULL), 1 + 6);
}

static int
op_buf_strings(void *arg, int injected)
{
	static const char *const strs[] = { "", "a", "alice", TICKET };
	struct buf *b = NULL;
	char *got[4] = { NULL };
	size_t i, before;
	int r = ERR_NOMEM;

	(void)arg;
	(void)injected;
	if ((b = buf_new(1024)) == NULL)
		goto out;
	for (i = 0; i < 4; i++) {
		before = buf_avail(b);
		if ((r = buf_put_cstring(b, strs[i])) != 0) {
			assert_int_equal(buf_avail(b), before);
			goto out;
		}
	}
	for (i = 0; i < 4; i++) {
		before = buf_avail(b);
		if ((r = buf_get_cstring(b, &got[i], 64)) != 0) {
			/* Nothing read, nothing handed out. */
			assert_int_equal(buf_avail(b), before);
			assert_null(got[i]);
			goto out;
		}
		assert_string_equal(got[i], strs[i]);
	}
	assert_int_equal(buf_avail(b), 0);
	r = 0;
out:
	for (i = 0; i < 4; i++)
		free(got[i]);
	buf_free(&b);
	return r;
}

static void
test_buf_strings_nomem(void **state)
{
	(void)state;
	/* buf_new, the first growth, four copies out. */
	assert_int_equal(fail_each(op_buf_strings, NULL), 1 + 1 + 4);
}

/* The wrappers are in effect: without them every count above is 0 and
 * fail_each would pass trivially. */
static void
test_wrapped(void **state)
{
	struct buf *b = NULL;

	(void)state;
	fault_arm(1);
	b = buf_new(16);
	fault_disarm();
	assert_true(fault.fired);
	assert_null(b);
	b = buf_new(16);
	assert_non_null(b);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapped),
		cmocka_unit_test(test_encode_nomem),
		cmocka_unit_test(test_decode_nomem),
		cmocka_unit_test(test_decode_stream_nomem),
		cmocka_unit_test(test_buf_grow_nomem),
		cmocka_unit_test(test_buf_strings_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
