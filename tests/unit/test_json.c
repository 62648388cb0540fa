#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"

/* Escapes s and compares the result with want (NUL-terminated). */
static void
put_is(const char *s, const char *want)
{
	struct buf *b = buf_new(1024);

	assert_non_null(b);
	assert_int_equal(json_put_string(b, s), 0);
	assert_int_equal(buf_avail(b), strlen(want));
	assert_memory_equal(buf_ptr(b), want, strlen(want));
	buf_free(&b);
}

static void
test_put_plain(void **state)
{
	(void)state;
	put_is("alice", "\"alice\"");
	put_is("", "\"\"");
	put_is(NULL, "\"\"");
	put_is("CN=a b,O=c/d", "\"CN=a b,O=c/d\"");
}

static void
test_put_quote_backslash(void **state)
{
	(void)state;
	put_is("a\"b", "\"a\\\"b\"");
	put_is("a\\b", "\"a\\\\b\"");
	put_is("\"\\", "\"\\\"\\\\\"");
}

static void
test_put_control(void **state)
{
	(void)state;
	put_is("a\nb", "\"a\\u000ab\"");
	put_is("\r\t\b\f", "\"\\u000d\\u0009\\u0008\\u000c\"");
	put_is("\x01\x1f", "\"\\u0001\\u001f\"");
	put_is("\x7f", "\"\\u007f\"");
	/* Space is the first byte that is not a control character. */
	put_is(" ", "\" \"");
}

static void
test_put_utf8(void **state)
{
	(void)state;
	/* Bytes >= 0x80 are copied unchanged. */
	put_is("caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"");
	put_is("\xff\x80", "\"\xff\x80\"");
}

static void
test_put_full_buffer(void **state)
{
	struct buf *b = buf_new(8);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, 'x'), 0);
	/* "abcdef" needs 8 bytes with its quotes: one too many after 'x'. */
	assert_int_equal(json_put_string(b, "abcdef"), ERR_TOOLONG);
	assert_int_equal(b->len, 1);
	/* An escape that does not fit is refused whole, too. */
	assert_int_equal(json_put_string(b, "\n"), ERR_TOOLONG);
	assert_int_equal(b->len, 1);
	assert_int_equal(json_put_string(b, "abcde"), 0);
	assert_memory_equal(buf_ptr(b), "x\"abcde\"", 8);
	buf_free(&b);
}

/* Parses s (its strlen) and expects success with user want. */
static void
parse_ok(const char *s, const char *want)
{
	char *user = NULL;

	assert_int_equal(json_parse_user(s, strlen(s), &user), 0);
	assert_non_null(user);
	assert_string_equal(user, want);
	free(user);
}

static void
parse_bad_n(const char *s, size_t len)
{
	static char sentinel[] = "untouched";
	char *user = sentinel;

	assert_int_equal(json_parse_user(s, len, &user), ERR_INVALID);
	assert_null(user);
}

static void
parse_bad(const char *s)
{
	parse_bad_n(s, strlen(s));
}

static void
test_parse_valid(void **state)
{
	(void)state;
	parse_ok("{\"user\":\"alice\"}", "alice");
	parse_ok(" \t\r\n{ \"user\" : \"bob\" }\n", "bob");
	parse_ok("{\n  \"user\":\n  \"carol\"\n}\r\n", "carol");
	parse_ok("{\"user\":\"a\\\"b\"}", "a\"b");
	parse_ok("{\"user\":\"a\\\\b\"}", "a\\b");
	parse_ok("{\"user\":\"a\\/b\"}", "a/b");
	parse_ok("{\"user\":\"jos\xc3\xa9\"}", "jos\xc3\xa9");
	/* len bounds the input: what follows it is not looked at. */
	{
		const char s[] = "{\"user\":\"dave\"}garbage";
		char *user = NULL;

		assert_int_equal(json_parse_user(s, 15, &user), 0);
		assert_string_equal(user, "dave");
		free(user);
	}
}

static void
test_parse_structure(void **state)
{
	(void)state;
	parse_bad("");
	parse_bad("   ");
	parse_bad("{}");
	parse_bad("[\"user\",\"alice\"]");
	parse_bad("\"alice\"");
	parse_bad("{\"user\"}");
	parse_bad("{\"user\":}");
	parse_bad("{\"user\" \"alice\"}");
	parse_bad("{user:\"alice\"}");
	parse_bad("{'user':'alice'}");
	parse_bad("{\"user\":\"alice\",}");
}

static void
test_parse_members(void **state)
{
	(void)state;
	parse_bad("{\"user\":\"alice\",\"user\":\"root\"}");
	parse_bad("{\"user\":\"alice\",\"admin\":\"yes\"}");
	parse_bad("{\"admin\":\"yes\",\"user\":\"alice\"}");
	parse_bad("{\"name\":\"alice\"}");
	parse_bad("{\"User\":\"alice\"}");
	parse_bad("{\"user \":\"alice\"}");
	/* An empty name is no name. */
	parse_bad("{\"user\":\"\"}");
}

static void
test_parse_value_type(void **state)
{
	(void)state;
	parse_bad("{\"user\":1}");
	parse_bad("{\"user\":null}");
	parse_bad("{\"user\":true}");
	parse_bad("{\"user\":[\"alice\"]}");
	parse_bad("{\"user\":{\"a\":\"b\"}}");
}

static void
test_parse_unterminated(void **state)
{
	const char full[] = "{\"user\":\"alice\"}";
	size_t i;

	(void)state;
	/* Every strict prefix of a valid body is refused. */
	for (i = 0; i < sizeof(full) - 1; i++)
		parse_bad_n(full, i);
	parse_bad("{\"user\":\"alice\\\"}");
	parse_bad("{\"user\":\"alice\\");
}

static void
test_parse_control_and_escapes(void **state)
{
	(void)state;
	parse_bad("{\"user\":\"ali\nce\"}");
	parse_bad("{\"user\":\"ali\tce\"}");
	parse_bad("{\"user\":\"ali\x7f" "ce\"}");
	parse_bad("{\"user\":\"ali\x01" "ce\"}");
	{
		static const char nul[] = "{\"user\":\"ali\0ce\"}";

		parse_bad_n(nul, sizeof(nul) - 1);
	}
	parse_bad("{\"user\":\"\\u0061lice\"}");
	parse_bad("{\"user\":\"a\\nb\"}");
	parse_bad("{\"user\":\"a\\tb\"}");
	parse_bad("{\"user\":\"a\\xb\"}");
	parse_bad("{\"\\u0075ser\":\"alice\"}");
}

static void
test_parse_trailing(void **state)
{
	(void)state;
	parse_bad("{\"user\":\"alice\"}x");
	parse_bad("{\"user\":\"alice\"}}");
	parse_bad("{\"user\":\"alice\"} {}");
	parse_bad_n("{\"user\":\"alice\"}\0", 17);
	parse_bad("{\"user\":\"alice\"}\v");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_plain),
		cmocka_unit_test(test_put_quote_backslash),
		cmocka_unit_test(test_put_control),
		cmocka_unit_test(test_put_utf8),
		cmocka_unit_test(test_put_full_buffer),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_structure),
		cmocka_unit_test(test_parse_members),
		cmocka_unit_test(test_parse_value_type),
		cmocka_unit_test(test_parse_unterminated),
		cmocka_unit_test(test_parse_control_and_escapes),
		cmocka_unit_test(test_parse_trailing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
