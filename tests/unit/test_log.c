/* src/lib/log.c: the lines written to stderr (captured through a pipe),
 * their sanitising and bounds, the level threshold and the log_level
 * names, the quoting of key=value values, errno, and the OpenSSL
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
	log_init(IDENT, 0, 1, LOG_INFO);
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
	log_init(IDENT, 0, 0, LOG_DEBUG);
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

/* At LOG_DEBUG, debug lines carry the function as a last field, so that
 * a line still starts with its event; other levels never do. */
static void
test_debug_shown(void **state)
{
	struct capture c;

	(void)state;
	log_init(IDENT, 0, 1, LOG_DEBUG);
	capture_start(&c);
	log_debug("event=x n=%d", 2);
	log_info("plain");
	log_msg(LOG_DEBUG, NULL, "no function");
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": debug: event=x n=2 func=test_debug_shown\n"
	    IDENT ": info: plain\n"
	    IDENT ": debug: no function\n");
}

/* Each level lets through its own priority and the more severe ones,
 * and drops the rest. */
static void
test_threshold(void **state)
{
	/* Indexed by priority, LOG_EMERG (0) to LOG_DEBUG (7). */
	static const char *const names[] = { "emerg", "alert", "crit",
	    "error", "warning", "notice", "info", "debug" };
	struct capture c;
	char want[512];
	size_t off;

	(void)state;
	for (int level = LOG_ERR; level <= LOG_DEBUG; level++) {
		log_init(IDENT, 0, 1, level);
		capture_start(&c);
		for (int p = LOG_EMERG; p <= LOG_DEBUG; p++)
			log_msg(p, NULL, "p%d", p);
		capture_end(&c);
		want[0] = '\0';
		for (int p = LOG_EMERG; p <= level; p++) {
			off = strlen(want);
			snprintf(want + off, sizeof(want) - off,
			    "%s: %s: p%d\n", IDENT, names[p], p);
		}
		assert_string_equal(c.out, want);
	}

	/* "warning": the warning is written, the info line is not. */
	log_init(IDENT, 0, 1, LOG_WARNING);
	capture_start(&c);
	log_info("event=ready");
	log_notice("event=reloaded");
	log_warn("event=ocsp-unavailable");
	capture_end(&c);
	assert_string_equal(c.out, IDENT ": warning: event=ocsp-unavailable\n");

	/* The journal form obeys the same threshold, facility bits or not. */
	log_set_journal(1);
	capture_start(&c);
	log_info("dropped");
	log_msg(LOG_AUTHPRIV | LOG_INFO, NULL, "dropped too");
	log_error("kept");
	log_msg(LOG_AUTHPRIV | LOG_WARNING, NULL, "kept too");
	capture_end(&c);
	log_set_journal(0);
	assert_string_equal(c.out, "<3>kept\n<4>kept too\n");
}

static void
test_level_parse(void **state)
{
	static const struct {
		const char *name;
		int prio;
	} good[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	static const char *const bad[] = { "", "Info", "INFO", "warn",
	    "err", "crit", "emerg", "trace", "debug ", " info", "7", "infox" };
	int prio;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		prio = -1;
		assert_int_equal(log_level_parse(good[i].name, &prio), 0);
		assert_int_equal(prio, good[i].prio);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		prio = -1;
		assert_int_equal(log_level_parse(bad[i], &prio), ERR_INVALID);
		assert_int_equal(prio, -1);
	}
	assert_int_equal(log_level_parse(NULL, &prio), ERR_INVALID);
	assert_int_equal(prio, -1);
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

	/* The function field of a debug line counts into the same bound. */
	log_init(IDENT, 0, 1, LOG_DEBUG);
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
	log_init(ident, 0, 1, LOG_INFO);
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

/* ---- key=value values ------------------------------------------------- */

/* A value with nothing to quote is written as it is. */
static void
test_quote_plain(void **state)
{
	static const char *const plain[] = { "127.0.0.1:7443",
	    "/run/mtlsd/pam.sock", "x", "CN\xc3\xa9", "a,b;c'd", "-" };
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		memset(out, 'z', sizeof(out));
		assert_ptr_equal(log_quote(out, sizeof(out), plain[i]), out);
		assert_string_equal(out, plain[i]);
	}
}

/* Space, '"', '=' or '\\' (and the empty value, and NULL) are quoted;
 * inside the quotes '"' and '\\' are escaped. */
static void
test_quote_quoted(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "certificate revoked", "\"certificate revoked\"" },
		{ "CN=bob,O=Example", "\"CN=bob,O=Example\"" },
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "\"", "\"\\\"\"" },
		{ "\\", "\"\\\\\"" },
		{ "=", "\"=\"" },
		{ " ", "\" \"" },
		{ "", "\"\"" },
		{ NULL, "\"\"" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_ptr_equal(log_quote(out, sizeof(out), cases[i].in), out);
		assert_string_equal(out, cases[i].want);
	}
}

/* A value too long is cut to the buffer; a quoted one keeps its closing
 * quote and never ends in half an escape. */
static void
test_quote_cut(void **state)
{
	char out[8];

	(void)state;
	log_quote(out, sizeof(out), "abcdefghij");
	assert_string_equal(out, "abcdefg");
	log_quote(out, sizeof(out), "a b c d e f");
	assert_string_equal(out, "\"a b c\"");
	log_quote(out, sizeof(out), "abc\"def");
	assert_string_equal(out, "\"abc\\\"\"");
	/* The escape would leave no room for the closing quote: left out. */
	log_quote(out, sizeof(out), "abcd\"ef");
	assert_string_equal(out, "\"abcd\"");
	log_quote(out, sizeof(out), "ab\"cdef");
	assert_string_equal(out, "\"ab\\\"c\"");
	log_quote(out, 3, "a b");
	assert_string_equal(out, "\"\"");
	/* Too small for two quotes: nothing rather than half a value. */
	memset(out, 'z', sizeof(out));
	log_quote(out, 2, "a b");
	assert_string_equal(out, "");
	log_quote(out, 2, "ab");
	assert_string_equal(out, "a");
	memset(out, 'z', sizeof(out));
	log_quote(out, 0, "a");
	assert_int_equal(out[0], 'z');
}

/* LOG_Q in a log call: one line of fields a reader can split, even with a
 * newline or a forged field inside a value. */
static void
test_quote_in_line(void **state)
{
	struct capture c;

	(void)state;
	capture_start(&c);
	log_notice("event=x peer=%s subject=%s reason=%s", LOG_Q("127.0.0.1"),
	    LOG_Q("CN=bob,O=Example"), LOG_Q("certificate revoked"));
	log_warn("event=y user=%s", LOG_Q("eve\" admin=\"yes\nevent=z"));
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": notice: event=x peer=127.0.0.1 "
	    "subject=\"CN=bob,O=Example\" reason=\"certificate revoked\"\n"
	    IDENT ": warning: event=y user=\"eve\\\" admin=\\\"yes?event=z\"\n");
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
	assert_memory_equal(c.out, IDENT ": error: event=openssl-error "
	    "what=\"loading the key\" error=\"error:", strlen(IDENT ": error: "
	    "event=openssl-error what=\"loading the key\" error=\"error:"));
	assert_non_null(strstr(c.out, ":no start line; error:"));
	assert_non_null(strstr(c.out,
	    ":key values mismatch: in alice.key\"\n"));
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
	assert_memory_equal(c.out, IDENT ": warning: event=openssl-error "
	    "what=reading error=\"", strlen(IDENT ": warning: "
	    "event=openssl-error what=reading error=\""));
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
	    IDENT ": error: event=openssl-error what=handshake "
	    "error=\"no OpenSSL error reported\"\n"
	    IDENT ": error: event=openssl-error what=OpenSSL "
	    "error=\"no OpenSSL error reported\"\n");
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
	assert_non_null(strstr(c.out, "line?break\"\n"));
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
	assert_memory_equal(c.out, IDENT ": error: event=openssl-error "
	    "what=SSL_CTX_use_certificate error=\"", strlen(IDENT ": error: "
	    "event=openssl-error what=SSL_CTX_use_certificate error=\""));
	assert_non_null(strstr(c.out, ":no start line\"\n"));

	capture_start(&c);
	assert_int_equal(ossl_check(-1, __func__, "minus"), ERR_TLS);
	assert_int_equal(ossl_check(2, __func__, "two"), ERR_TLS);
	capture_end(&c);
	assert_string_equal(c.out,
	    IDENT ": error: event=openssl-error what=minus "
	    "error=\"no OpenSSL error reported\"\n"
	    IDENT ": error: event=openssl-error what=two "
	    "error=\"no OpenSSL error reported\"\n");
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
	log_init(IDENT, 0, 1, LOG_INFO);
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
		cmocka_unit_test_setup(test_threshold, setup),
		cmocka_unit_test_setup(test_level_parse, setup),
		cmocka_unit_test_setup(test_quote_plain, setup),
		cmocka_unit_test_setup(test_quote_quoted, setup),
		cmocka_unit_test_setup(test_quote_cut, setup),
		cmocka_unit_test_setup(test_quote_in_line, setup),
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
