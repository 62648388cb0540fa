/* src/lib/log.c: the lines written to stderr (captured through a pipe),
 * their sanitising and bounds, the debug switch, errno, and the OpenSSL
 * boundary (log_ossl, ossl_check). syslog is never enabled here.
 *
 * log.c keeps its state in a static, so test_before_init must run first:
 * it is first in main's list. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "log.h"

#define IDENT "tident"
#define CAP_MAX 16384

struct capture {
	int saved;  /* the real stderr */
	int rd;     /* read end of the pipe now on fd 2 */
	char out[CAP_MAX];
	size_t len;
};

/* Points fd 2 at a pipe. Lines stay well under the pipe's capacity, so
 * nothing blocks before capture_end reads them. */
static void
capture_start(struct capture *c)
{
	int p[2];

	fflush(stderr);
	assert_int_equal(pipe(p), 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	c->rd = p[0];
}

/* Restores stderr first, so a failing assertion is seen, then collects
 * what was written into c->out (NUL terminated). */
static void
capture_end(struct capture *c)
{
	ssize_t n;

	assert_int_equal(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
	close(c->saved);
	c->len = 0;
	while ((n = read(c->rd, c->out + c->len,
	    sizeof(c->out) - 1 - c->len)) > 0)
		c->len += (size_t)n;
	close(c->rd);
	c->out[c->len] = '\0';
}

static size_t
count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == ch)
			n++;
	}
	return n;
}

/* Exactly one line, ending in '\n'. */
static void
assert_one_line(const struct capture *c)
{
	assert_true(c->len > 0);
	assert_int_equal(strlen(c->out), c->len);
	assert_int_equal(count_char(c->out, '\n'), 1);
	assert_int_equal(c->out[c->len - 1], '\n');
}

static int
setup_group(void **state)
{
	(void)state;
	/* Reason strings for log_ossl's messages. */
	return OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL) ==
	    1 ? 0 : -1;
}

static int
setup(void **state)
{
	(void)state;
	log_init(IDENT, 0, 1, 0);
	ERR_clear_error();
	return 0;
}

/* ---- stderr lines ------------------------------------------------------- */

/* Before log_init a tool's messages still reach stderr, under the
 * program's name; debug lines do not. */
static void
test_before_init(void **state)
{
	struct capture c;
	char want[256];

	(void)state;
	capture_start(&c);
	log_error("early %d", 1);
	log_debug("not shown");
	capture_end(&c);
	snprintf(want, sizeof(want), "%s: error: early 1\n",
	    program_invocation_short_name);
	assert_string_equal(c.out, want);
}

static void
test_line_format(void **state)
{
	struct capture c;

	(void)state;
	capture_start(&c);
	log_error("one %s", "two");
	capture_end(&c);
	assert_string_equal(c.out, IDENT ": error: one two\n");

	/* One line per call, each level named. */
	capture_start(&c);
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_msg(LOG_CRIT, __func__, "c");
	log_msg(LOG_ALERT, __func__, "a");
	log_msg(LOG_EMERG, __func__, "e");
	log_msg(42, __func__, "odd");
	capture_end(&c);
	assert_string_equal(c.out, IDENT ": warning: w\n" IDENT ": notice: n\n"
	    IDENT ": info: i\n" IDENT ": crit: c\n" IDENT ": alert: a\n"
	    IDENT ": emerg: e\n" IDENT ": log: odd\n");
}

static void
test_no_stderr(void **state)
{
	struct capture c;

	(void)state;
	log_init(IDENT, 0, 0, 1);
	capture_start(&c);
	log_error("quiet");
	log_debug("quiet too");
	capture_end(&c);
	assert_int_equal(c.len, 0);
}

/* Control bytes in the format or in an argument (a peer's name) cannot
 * start a new line or drive the terminal; printable text is untouched. */
static void
test_control_chars(void **state)
{
	struct capture c;

	(void)state;
	capture_start(&c);
	log_error("a\nb\rc\x1b[31md\x7f" "e\tf");
	log_warn("user %s!", "evil\n" IDENT ": notice: forged");
	log_info("%s", " ~printable ASCII: {}[]|\\\"'`@#$%^&*()");
	/* Non-ASCII bytes pass, so a UTF-8 name stays readable. */
	log_info("user %s", "Jos\xc3\xa9");
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": error: a?b?c?[31md?e?f\n"
	    IDENT ": warning: user evil?" IDENT ": notice: forged!\n"
	    IDENT ": info:  ~printable ASCII: {}[]|\\\"'`@#$%^&*()\n"
	    IDENT ": info: user Jos\xc3\xa9\n");
	assert_int_equal(count_char(c.out, '\n'), 4);
}

static void
test_debug_dropped(void **state)
{
	struct capture c;

	(void)state;
	capture_start(&c);
	log_debug("hidden %d", 1);
	capture_end(&c);
	assert_int_equal(c.len, 0);
}

/* With debug on, debug lines carry the function; other levels never do. */
static void
test_debug_shown(void **state)
{
	struct capture c;

	(void)state;
	log_init(IDENT, 0, 1, 1);
	capture_start(&c);
	log_debug("shown %d", 2);
	log_info("plain");
	log_msg(LOG_DEBUG, NULL, "no function");
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": debug: test_debug_shown: shown 2\n"
	    IDENT ": info: plain\n"
	    IDENT ": debug: no function\n");
}

static void
test_long_message(void **state)
{
	struct capture c;
	char *big = malloc(5001);
	size_t i;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	capture_start(&c);
	log_error("%s", big);
	capture_end(&c);
	assert_one_line(&c);
	assert_true(c.len < 5000);
	assert_memory_equal(c.out, IDENT ": error: x", strlen(IDENT) + 9);
	for (i = strlen(IDENT) + 9; i < c.len - 1; i++)
		assert_int_equal(c.out[i], 'x');

	/* The function prefix of a debug line counts into the same bound. */
	log_init(IDENT, 0, 1, 1);
	capture_start(&c);
	log_msg(LOG_DEBUG, big, "%s", big);
	capture_end(&c);
	assert_one_line(&c);
	assert_true(c.len < 5000);
	free(big);
}

/* Even an ident too long for the line buffer gives one cut line. */
static void
test_long_ident(void **state)
{
	static char ident[3001];
	struct capture c;

	(void)state;
	memset(ident, 'i', sizeof(ident) - 1);
	log_init(ident, 0, 1, 0);
	capture_start(&c);
	log_error("after a long ident");
	capture_end(&c);
	assert_one_line(&c);
	assert_true(c.len < sizeof(ident));
	assert_int_equal(strspn(c.out, "i"), c.len - 1);
}

/* errno survives a call, even one whose write fails (stderr closed), and
 * %m sees the caller's errno. */
static void
test_errno_preserved(void **state)
{
	struct capture c;
	int saved;

	(void)state;
	capture_start(&c);
	errno = EACCES;
	log_error("open: %m");
	assert_int_equal(errno, EACCES);
	errno = ENOENT;
	log_debug("dropped");
	assert_int_equal(errno, ENOENT);
	capture_end(&c);
	assert_string_equal(c.out, IDENT ": error: open: Permission denied\n");

	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	close(STDERR_FILENO);
	errno = ERANGE;
	log_error("into a closed stderr");
	assert_int_equal(errno, ERANGE);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
}

/* ---- OpenSSL boundary --------------------------------------------------- */

static void
test_ossl_raised(void **state)
{
	struct capture c;
	char out[128] = "stale";

	(void)state;
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	ERR_raise_data(ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH, "in %s",
	    "alice.key");
	capture_start(&c);
	log_ossl(LOG_ERR, __func__, "loading the key", out, sizeof(out));
	capture_end(&c);
	/* The first reason is the one for a message; all are logged. */
	assert_string_equal(out, "no start line");
	assert_int_equal(ERR_peek_error(), 0);
	assert_one_line(&c);
	assert_memory_equal(c.out, IDENT ": error: loading the key: error:",
	    strlen(IDENT ": error: loading the key: error:"));
	assert_non_null(strstr(c.out, ":no start line; error:"));
	assert_non_null(strstr(c.out, ":key values mismatch: in alice.key\n"));
}

/* A real failing call: PEM parsing of something that is no PEM. */
static void
test_ossl_failing_call(void **state)
{
	static const char junk[] = "this is not a certificate\n";
	struct capture c;
	char out[128];
	BIO *b = BIO_new_mem_buf(junk, (int)sizeof(junk) - 1);
	X509 *x;

	(void)state;
	assert_non_null(b);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_null(x);
	assert_int_not_equal(ERR_peek_error(), 0);
	capture_start(&c);
	log_ossl(LOG_WARNING, __func__, "reading", out, sizeof(out));
	capture_end(&c);
	assert_string_equal(out, "no start line");
	assert_int_equal(ERR_peek_error(), 0);
	assert_one_line(&c);
	assert_memory_equal(c.out, IDENT ": warning: reading: ",
	    strlen(IDENT ": warning: reading: "));
	BIO_free(b);
}

/* Nothing queued: the line and out still say something. */
static void
test_ossl_empty_queue(void **state)
{
	struct capture c;
	char out[128] = "stale";

	(void)state;
	capture_start(&c);
	log_ossl(LOG_ERR, __func__, "handshake", out, sizeof(out));
	log_ossl(LOG_ERR, __func__, NULL, NULL, 0);
	capture_end(&c);
	assert_string_equal(out, "unknown TLS error");
	assert_string_equal(c.out,
	    IDENT ": error: handshake: no OpenSSL error reported\n"
	    IDENT ": error: OpenSSL: no OpenSSL error reported\n");
}

/* out is optional and cut to outlen; queued data cannot break the line. */
static void
test_ossl_out_bounds(void **state)
{
	struct capture c;
	char out[5] = "xxxx";

	(void)state;
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	capture_start(&c);
	log_ossl(LOG_ERR, __func__, "w", out, sizeof(out));
	capture_end(&c);
	assert_string_equal(out, "no s");

	ERR_raise_data(ERR_LIB_PEM, PEM_R_NO_START_LINE, "line\nbreak");
	capture_start(&c);
	log_ossl(LOG_ERR, __func__, "w", NULL, 0);
	capture_end(&c);
	assert_int_equal(ERR_peek_error(), 0);
	assert_one_line(&c);
	assert_non_null(strstr(c.out, "line?break\n"));
}

static void
test_ossl_check(void **state)
{
	struct capture c;

	(void)state;
	capture_start(&c);
	assert_int_equal(ossl_check(1, __func__, "ok"), 0);
	capture_end(&c);
	assert_int_equal(c.len, 0);

	/* Only exactly 1 is success; the rest log and drain the queue. */
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	capture_start(&c);
	assert_int_equal(OSSL_CHECK(0, "SSL_CTX_use_certificate"), ERR_TLS);
	capture_end(&c);
	assert_int_equal(ERR_peek_error(), 0);
	assert_one_line(&c);
	assert_memory_equal(c.out, IDENT ": error: SSL_CTX_use_certificate: ",
	    strlen(IDENT ": error: SSL_CTX_use_certificate: "));
	assert_non_null(strstr(c.out, ":no start line\n"));

	capture_start(&c);
	assert_int_equal(ossl_check(-1, __func__, "minus"), ERR_TLS);
	assert_int_equal(ossl_check(2, __func__, "two"), ERR_TLS);
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": error: minus: no OpenSSL error reported\n"
	    IDENT ": error: two: no OpenSSL error reported\n");
}

/* ---- journal mode (mtlsd -f, stderr not a terminal) -------------------- */

/* "<N>message": the syslog priority, no ident, no level word; it
 * survives log_init, sanitising and the debug switch still apply; off
 * again gives the plain lines back. */
static void
test_journal(void **state)
{
	struct capture c;

	(void)state;
	assert_int_equal(log_journal(), 0);
	log_set_journal(1);
	assert_int_equal(log_journal(), 1);
	log_init(IDENT, 0, 1, 0);
	capture_start(&c);
	log_error("event=x reason=\"%s\"", "a\nb");
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_debug("dropped");
	log_msg(LOG_AUTHPRIV | LOG_CRIT, __func__, "facility bits dropped");
	capture_end(&c);
	log_set_journal(0);
	assert_string_equal(c.out, "<3>event=x reason=\"a?b\"\n<4>w\n<5>n\n"
	    "<6>i\n<2>facility bits dropped\n");

	capture_start(&c);
	log_error("plain again");
	capture_end(&c);
	assert_string_equal(c.out, IDENT ": error: plain again\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: it needs log.c as no log_init has left it. */
		cmocka_unit_test(test_before_init),
		cmocka_unit_test_setup(test_line_format, setup),
		cmocka_unit_test_setup(test_no_stderr, setup),
		cmocka_unit_test_setup(test_control_chars, setup),
		cmocka_unit_test_setup(test_debug_dropped, setup),
		cmocka_unit_test_setup(test_debug_shown, setup),
		cmocka_unit_test_setup(test_long_message, setup),
		cmocka_unit_test_setup(test_long_ident, setup),
		cmocka_unit_test_setup(test_errno_preserved, setup),
		cmocka_unit_test_setup(test_ossl_raised, setup),
		cmocka_unit_test_setup(test_ossl_failing_call, setup),
		cmocka_unit_test_setup(test_ossl_empty_queue, setup),
		cmocka_unit_test_setup(test_ossl_out_bounds, setup),
		cmocka_unit_test_setup(test_ossl_check, setup),
		cmocka_unit_test_setup(test_journal, setup),
	};

	return cmocka_run_group_tests(tests, setup_group, NULL);
}
