#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "args.h"

#define ARGC(v) ((int)(sizeof(v) / sizeof((v)[0])))

/* Parses argv expecting success. */
static void
parse_ok(int argc, const char **argv, struct pam_args *a)
{
	char err[256];

	assert_int_equal(pam_args_parse(argc, argv, a, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

/* Parses a single argument expecting failure; the reason names it. */
static void
parse_bad(const char *arg, const char *reason_part)
{
	const char *argv[] = { "debug", arg };
	struct pam_args a;
	char err[256];

	assert_int_equal(pam_args_parse(ARGC(argv), argv, &a, err,
	    sizeof(err)), ERR_CONFIG);
	assert_non_null(strstr(err, reason_part));
}

static void
test_defaults(void **state)
{
	struct pam_args a;

	(void)state;
	parse_ok(0, NULL, &a);
	assert_string_equal(a.socket, "/run/mtlsd/pam.sock");
	assert_string_equal(a.prompt, "mTLS ticket: ");
	assert_int_equal(a.timeout, 2);
	assert_false(a.debug);
	assert_false(a.use_first_pass);
	assert_false(a.try_first_pass);
	assert_int_equal(a.n_unknown, 0);
}

static void
test_every_argument(void **state)
{
	const char *argv[] = {
		"socket=/tmp/x/pam.sock", "timeout=60", "prompt=Ticket?",
		"debug", "try_first_pass",
	};
	struct pam_args a;

	(void)state;
	parse_ok(ARGC(argv), argv, &a);
	assert_string_equal(a.socket, "/tmp/x/pam.sock");
	assert_int_equal(a.timeout, 60);
	assert_string_equal(a.prompt, "Ticket?");
	assert_true(a.debug);
	assert_true(a.try_first_pass);
	assert_false(a.use_first_pass);
	assert_int_equal(a.n_unknown, 0);
}

static void
test_timeout_bounds(void **state)
{
	const char *one[] = { "timeout=1" };
	const char *sixty[] = { "timeout=60" };
	struct pam_args a;

	(void)state;
	parse_ok(1, one, &a);
	assert_int_equal(a.timeout, 1);
	parse_ok(1, sixty, &a);
	assert_int_equal(a.timeout, 60);
}

static void
test_bad_timeout(void **state)
{
	(void)state;
	parse_bad("timeout=abc", "timeout=");
	parse_bad("timeout=0", "timeout=");
	parse_bad("timeout=61", "timeout=");
	parse_bad("timeout=-1", "timeout=");
	parse_bad("timeout=+2", "timeout=");
	parse_bad("timeout= 2", "timeout=");
	parse_bad("timeout=2s", "timeout=");
	parse_bad("timeout=0x2", "timeout=");
	parse_bad("timeout=", "timeout=");
	parse_bad("timeout=99999999999999999999", "timeout=");
	parse_bad("timeout", "timeout= needs a value");
}

static void
test_bad_socket(void **state)
{
	char longpath[200];

	(void)state;
	parse_bad("socket=", "absolute");
	parse_bad("socket=run/mtlsd/pam.sock", "absolute");
	parse_bad("socket=./pam.sock", "absolute");
	parse_bad("socket=/run/mtlsd/", "not a directory");
	parse_bad("socket=/", "not a directory");
	parse_bad("socket", "socket= needs a value");
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "socket=/", 8);
	longpath[sizeof(longpath) - 1] = '\0';
	parse_bad(longpath, "longer than");
}

static void
test_socket_longest(void **state)
{
	/* sun_path holds 108 bytes: 107 of path and the NUL. */
	char arg[7 + 107 + 1];
	const char *argv[] = { arg };
	struct pam_args a;

	(void)state;
	memcpy(arg, "socket=", 7);
	memset(arg + 7, 'a', 107);
	arg[7] = '/';
	arg[sizeof(arg) - 1] = '\0';
	parse_ok(1, argv, &a);
	assert_int_equal(strlen(a.socket), 107);
}

static void
test_bad_prompt(void **state)
{
	char longprompt[7 + PAM_ARGS_MAX_PROMPT + 2];

	(void)state;
	parse_bad("prompt=", "prompt= is empty");
	parse_bad("prompt", "prompt= needs a value");
	memcpy(longprompt, "prompt=", 7);
	memset(longprompt + 7, 'p', PAM_ARGS_MAX_PROMPT + 1);
	longprompt[sizeof(longprompt) - 1] = '\0';
	parse_bad(longprompt, "longer than");
}

static void
test_flag_with_value(void **state)
{
	(void)state;
	parse_bad("debug=1", "debug takes no value");
	parse_bad("use_first_pass=yes", "use_first_pass takes no value");
	parse_bad("try_first_pass=", "try_first_pass takes no value");
}

/* PAM removes the brackets of "[prompt=mTLS ticket: ]" and hands over one
 * element with the spaces kept. */
static void
test_bracketed_prompt(void **state)
{
	const char *argv[] = { "prompt=mTLS ticket: " };
	const char *eq[] = { "prompt=a=b c" };
	struct pam_args a;

	(void)state;
	parse_ok(1, argv, &a);
	assert_string_equal(a.prompt, "mTLS ticket: ");
	parse_ok(1, eq, &a);
	assert_string_equal(a.prompt, "a=b c");
}

static void
test_unknown_collected(void **state)
{
	const char *argv[] = {
		"debug", "nullok", "socket=/a/b", "Debug", "sockets=/x",
		"timeout2=3",
	};
	struct pam_args a;

	(void)state;
	parse_ok(ARGC(argv), argv, &a);
	assert_int_equal(a.n_unknown, 4);
	assert_string_equal(a.unknown[0], "nullok");
	assert_string_equal(a.unknown[1], "Debug");
	assert_string_equal(a.unknown[2], "sockets=/x");
	assert_string_equal(a.unknown[3], "timeout2=3");
	/* The known ones around them still count. */
	assert_true(a.debug);
	assert_string_equal(a.socket, "/a/b");
}

static void
test_unknown_overflow_counted(void **state)
{
	const char *argv[PAM_ARGS_MAX_UNKNOWN + 3];
	struct pam_args a;
	size_t i;

	(void)state;
	for (i = 0; i < PAM_ARGS_MAX_UNKNOWN + 3; i++)
		argv[i] = i == 0 ? "first" : "other";
	parse_ok(ARGC(argv), argv, &a);
	assert_int_equal(a.n_unknown, PAM_ARGS_MAX_UNKNOWN + 3);
	assert_string_equal(a.unknown[0], "first");
	assert_string_equal(a.unknown[PAM_ARGS_MAX_UNKNOWN - 1], "other");
}

static void
test_use_first_pass_wins(void **state)
{
	const char *both[] = { "try_first_pass", "use_first_pass" };
	const char *rev[] = { "use_first_pass", "try_first_pass" };
	const char *use[] = { "use_first_pass" };
	struct pam_args a;

	(void)state;
	parse_ok(2, both, &a);
	assert_true(a.use_first_pass);
	assert_false(a.try_first_pass);
	parse_ok(2, rev, &a);
	assert_true(a.use_first_pass);
	assert_false(a.try_first_pass);
	parse_ok(1, use, &a);
	assert_true(a.use_first_pass);
	assert_false(a.try_first_pass);
}

static void
test_last_wins(void **state)
{
	const char *argv[] = { "timeout=5", "socket=/a/s", "timeout=7",
		"socket=/b/s" };
	struct pam_args a;

	(void)state;
	parse_ok(ARGC(argv), argv, &a);
	assert_int_equal(a.timeout, 7);
	assert_string_equal(a.socket, "/b/s");
}

/* One bad argument fails the whole set, wherever it stands. */
static void
test_bad_after_good(void **state)
{
	const char *argv[] = { "socket=/a/s", "timeout=3", "timeout=x" };
	const char *nul[] = { "debug", NULL };
	struct pam_args a;
	char err[64];

	(void)state;
	assert_int_equal(pam_args_parse(ARGC(argv), argv, &a, err,
	    sizeof(err)), ERR_CONFIG);
	assert_int_equal(pam_args_parse(2, nul, &a, err, sizeof(err)),
	    ERR_CONFIG);
	assert_int_equal(pam_args_parse(-1, NULL, &a, err, sizeof(err)),
	    ERR_CONFIG);
	assert_int_equal(pam_args_parse(1, NULL, &a, err, sizeof(err)),
	    ERR_CONFIG);
}

static void
test_err_buffer(void **state)
{
	const char *argv[] = { "timeout=abc" };
	struct pam_args a;
	char err[8];

	(void)state;
	/* Truncated, still terminated; no buffer at all is accepted too. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(pam_args_parse(1, argv, &a, err, sizeof(err)),
	    ERR_CONFIG);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(pam_args_parse(1, argv, &a, NULL, 0), ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_argument),
		cmocka_unit_test(test_timeout_bounds),
		cmocka_unit_test(test_bad_timeout),
		cmocka_unit_test(test_bad_socket),
		cmocka_unit_test(test_socket_longest),
		cmocka_unit_test(test_bad_prompt),
		cmocka_unit_test(test_flag_with_value),
		cmocka_unit_test(test_bracketed_prompt),
		cmocka_unit_test(test_unknown_collected),
		cmocka_unit_test(test_unknown_overflow_counted),
		cmocka_unit_test(test_use_first_pass_wins),
		cmocka_unit_test(test_last_wins),
		cmocka_unit_test(test_bad_after_good),
		cmocka_unit_test(test_err_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
