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

static void
test_new_free(void **state)
{
	struct buf *b = buf_new(16);
	struct buf *none = NULL;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_avail(b), 0);
	assert_int_equal(b->max, 16);
	buf_free(&b);
	assert_null(b);
	/* Both forms of "nothing" are accepted. */
	buf_free(&none);
	buf_free(NULL);
}

static void
test_put_get_ints(void **state)
{
	struct buf *b = buf_new(64);
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	static const uint8_t wire[] = {
		0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
	};

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, 0xab), 0);
	assert_int_equal(buf_put_u16(b, 0x1234), 0);
	assert_int_equal(buf_put_u32(b, 0xdeadbeef), 0);
	assert_int_equal(buf_avail(b), sizeof(wire));
	/* Big-endian on the wire. */
	assert_memory_equal(buf_ptr(b), wire, sizeof(wire));

	assert_int_equal(buf_get_u8(b, &v8), 0);
	assert_int_equal(v8, 0xab);
	assert_int_equal(buf_get_u16(b, &v16), 0);
	assert_int_equal(v16, 0x1234);
	assert_int_equal(buf_get_u32(b, &v32), 0);
	assert_int_equal(v32, 0xdeadbeef);
	assert_int_equal(buf_avail(b), 0);

	/* Empty: every getter says short and changes nothing. */
	assert_int_equal(buf_get_u8(b, &v8), ERR_SHORT);
	assert_int_equal(buf_get_u16(b, &v16), ERR_SHORT);
	assert_int_equal(buf_get_u32(b, &v32), ERR_SHORT);
	buf_free(&b);
}

static void
test_get_short_keeps_offset(void **state)
{
	struct buf *b = buf_new(64);
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint8_t v8 = 0;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put(b, "\x01\x02\x03", 3), 0);
	assert_int_equal(buf_get_u32(b, &v32), ERR_SHORT);
	assert_int_equal(v32, 0);
	assert_int_equal(buf_avail(b), 3);
	assert_int_equal(buf_get_u16(b, &v16), 0);
	assert_int_equal(v16, 0x0102);
	assert_int_equal(buf_get_u16(b, &v16), ERR_SHORT);
	assert_int_equal(buf_avail(b), 1);
	assert_int_equal(buf_get_u8(b, &v8), 0);
	assert_int_equal(v8, 3);
	buf_free(&b);
}

static void
test_max_exact_and_over(void **state)
{
	struct buf *b = buf_new(8);
	uint8_t big[9];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_non_null(b);
	/* max + 1 in one go is refused and leaves the buffer empty. */
	assert_int_equal(buf_put(b, big, 9), ERR_TOOLONG);
	assert_int_equal(buf_avail(b), 0);
	/* Exactly max fits. */
	assert_int_equal(buf_put(b, big, 8), 0);
	assert_int_equal(buf_avail(b), 8);
	/* One more byte of any kind does not, and changes nothing. */
	assert_int_equal(buf_put_u8(b, 1), ERR_TOOLONG);
	assert_int_equal(buf_put_u16(b, 1), ERR_TOOLONG);
	assert_int_equal(buf_put_u32(b, 1), ERR_TOOLONG);
	assert_int_equal(buf_put_cstring(b, ""), ERR_TOOLONG);
	assert_int_equal(b->len, 8);
	assert_memory_equal(buf_ptr(b), big, 8);
	/* Zero bytes always fit. */
	assert_int_equal(buf_put(b, big, 0), 0);
	buf_free(&b);
}

static void
test_partial_int_over_max(void **state)
{
	struct buf *b = buf_new(6);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u16(b, 7), 0);
	assert_int_equal(buf_put_u32(b, 7), 0);
	buf_reset(b);
	assert_int_equal(buf_put_u8(b, 1), 0);
	assert_int_equal(buf_put_u8(b, 2), 0);
	assert_int_equal(buf_put_u8(b, 3), 0);
	/* 3 + 4 > 6: refused whole, not half written. */
	assert_int_equal(buf_put_u32(b, 7), ERR_TOOLONG);
	assert_int_equal(b->len, 3);
	assert_int_equal(buf_put_u16(b, 0x0405), 0);
	assert_int_equal(buf_put_u16(b, 0x0607), ERR_TOOLONG);
	assert_int_equal(b->len, 5);
	assert_int_equal(buf_put_u8(b, 6), 0);
	assert_memory_equal(buf_ptr(b), "\x01\x02\x03\x04\x05\x06", 6);
	buf_free(&b);
}

static void
test_grows(void **state)
{
	struct buf *b = buf_new(100000);
	size_t i;
	uint32_t v = 0;

	(void)state;
	assert_non_null(b);
	for (i = 0; i < 20000; i++)
		assert_int_equal(buf_put_u32(b, (uint32_t)i), 0);
	assert_int_equal(buf_avail(b), 80000);
	assert_true(b->cap >= b->len);
	assert_true(b->cap <= b->max);
	for (i = 0; i < 20000; i++) {
		assert_int_equal(buf_get_u32(b, &v), 0);
		assert_int_equal(v, i);
	}
	buf_free(&b);
}

static void
test_put_huge_no_overflow(void **state)
{
	struct buf *b = buf_new(SIZE_MAX);
	uint8_t one = 1;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put(b, &one, 1), 0);
	/* len + n would wrap around: must be refused, not allocated. */
	assert_int_equal(buf_put(b, &one, SIZE_MAX), ERR_TOOLONG);
	assert_int_equal(b->len, 1);
	buf_free(&b);
}

static void
test_cstring_roundtrip(void **state)
{
	struct buf *b = buf_new(1024);
	char *s = NULL;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_cstring(b, "hello"), 0);
	assert_int_equal(buf_put_cstring(b, ""), 0);
	assert_int_equal(buf_avail(b), 2 + 5 + 2);
	assert_memory_equal(buf_ptr(b), "\x00\x05hello\x00\x00", 9);
	assert_int_equal(buf_get_cstring(b, &s, 5), 0);
	assert_string_equal(s, "hello");
	free(s);
	s = NULL;
	assert_int_equal(buf_get_cstring(b, &s, 0), 0);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_avail(b), 0);
	buf_free(&b);
}

static void
test_cstring_put_errors(void **state)
{
	struct buf *b = buf_new(70000);
	char *big = malloc(65537);

	(void)state;
	assert_non_null(b);
	assert_non_null(big);
	assert_int_equal(buf_put_cstring(b, NULL), ERR_INVALID);
	memset(big, 'a', 65536);
	big[65536] = '\0';
	assert_int_equal(buf_put_cstring(b, big), ERR_TOOLONG);
	assert_int_equal(b->len, 0);
	/* 65535 is the largest length a u16 can say. */
	big[65535] = '\0';
	assert_int_equal(buf_put_cstring(b, big), 0);
	assert_int_equal(b->len, 2 + 65535);
	free(big);
	buf_free(&b);
}

static void
test_cstring_put_atomic(void **state)
{
	struct buf *b = buf_new(6);

	(void)state;
	assert_non_null(b);
	/* The length prefix would fit but the bytes would not: neither goes
	 * in, so no dangling length is left on the wire. */
	assert_int_equal(buf_put_cstring(b, "abcde"), ERR_TOOLONG);
	assert_int_equal(b->len, 0);
	assert_int_equal(buf_put_cstring(b, "abcd"), 0);
	assert_int_equal(b->len, 6);
	buf_free(&b);
}

static void
test_cstring_get_maxlen(void **state)
{
	struct buf *b = buf_new(64);
	char *s = NULL;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_cstring(b, "abcd"), 0);
	assert_int_equal(buf_get_cstring(b, &s, 3), ERR_TOOLONG);
	assert_null(s);
	assert_int_equal(buf_avail(b), 6);
	assert_int_equal(buf_get_cstring(b, &s, 4), 0);
	assert_string_equal(s, "abcd");
	free(s);
	buf_free(&b);
}

static void
test_cstring_get_short(void **state)
{
	struct buf *b = buf_new(64);
	char *s = NULL;

	(void)state;
	assert_non_null(b);
	/* Only one byte of the length. */
	assert_int_equal(buf_put_u8(b, 0), 0);
	assert_int_equal(buf_get_cstring(b, &s, 64), ERR_SHORT);
	assert_null(s);
	/* Length says 4, only 3 bytes follow. */
	assert_int_equal(buf_put(b, "\x04" "abc", 4), 0);
	assert_int_equal(buf_get_cstring(b, &s, 64), ERR_SHORT);
	assert_null(s);
	assert_int_equal(buf_avail(b), 5);
	assert_int_equal(buf_put_u8(b, 'd'), 0);
	assert_int_equal(buf_get_cstring(b, &s, 64), 0);
	assert_string_equal(s, "abcd");
	free(s);
	buf_free(&b);
}

static void
test_cstring_get_nul(void **state)
{
	struct buf *b = buf_new(64);
	char *s = NULL;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put(b, "\x00\x03" "a\0b", 5), 0);
	assert_int_equal(buf_get_cstring(b, &s, 64), ERR_INVALID);
	assert_null(s);
	assert_int_equal(buf_avail(b), 5);
	buf_reset(b);
	/* A NUL in the last byte is caught too. */
	assert_int_equal(buf_put(b, "\x00\x02" "a\0", 4), 0);
	assert_int_equal(buf_get_cstring(b, &s, 64), ERR_INVALID);
	assert_null(s);
	buf_free(&b);
}

static void
test_consume(void **state)
{
	struct buf *b = buf_new(64);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put(b, "abcdef", 6), 0);
	assert_int_equal(buf_consume(b, 2), 0);
	assert_int_equal(buf_avail(b), 4);
	assert_memory_equal(buf_ptr(b), "cdef", 4);
	assert_int_equal(buf_consume(b, 5), ERR_SHORT);
	assert_int_equal(buf_avail(b), 4);
	assert_int_equal(buf_consume(b, SIZE_MAX), ERR_SHORT);
	assert_int_equal(buf_consume(b, 4), 0);
	assert_int_equal(buf_avail(b), 0);
	assert_int_equal(buf_consume(b, 0), 0);
	assert_int_equal(buf_consume(b, 1), ERR_SHORT);
	buf_free(&b);
}

static void
test_reset(void **state)
{
	struct buf *b = buf_new(8);
	size_t cap;
	uint8_t v = 0;

	(void)state;
	assert_non_null(b);
	/* Reset of a never-written buffer is fine. */
	buf_reset(b);
	assert_int_equal(buf_put(b, "secret!!", 8), 0);
	assert_int_equal(buf_get_u8(b, &v), 0);
	cap = b->cap;
	buf_reset(b);
	assert_int_equal(buf_avail(b), 0);
	assert_int_equal(b->off, 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->cap, cap);
	/* Wiped, not just forgotten. */
	assert_memory_equal(b->d, "\0\0\0\0\0\0\0\0", 8);
	/* The whole max is usable again. */
	assert_int_equal(buf_put(b, "12345678", 8), 0);
	assert_int_equal(buf_put_u8(b, 9), ERR_TOOLONG);
	buf_free(&b);
}

static void
test_zero_max(void **state)
{
	struct buf *b = buf_new(0);
	uint8_t v = 0;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, 1), ERR_TOOLONG);
	assert_int_equal(buf_get_u8(b, &v), ERR_SHORT);
	assert_int_equal(buf_put(b, NULL, 0), 0);
	assert_int_equal(buf_avail(b), 0);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_put_get_ints),
		cmocka_unit_test(test_get_short_keeps_offset),
		cmocka_unit_test(test_max_exact_and_over),
		cmocka_unit_test(test_partial_int_over_max),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_put_huge_no_overflow),
		cmocka_unit_test(test_cstring_roundtrip),
		cmocka_unit_test(test_cstring_put_errors),
		cmocka_unit_test(test_cstring_put_atomic),
		cmocka_unit_test(test_cstring_get_maxlen),
		cmocka_unit_test(test_cstring_get_short),
		cmocka_unit_test(test_cstring_get_nul),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_zero_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
