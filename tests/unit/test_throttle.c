#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "throttle.h"

#define T0 ((time_t)1700000000)
#define SEED 0x1234abcdULL

static const struct throttle_params P = {
	.window = 60, .slow_after = 3, .refuse_after = 5, .refuse_for = 300,
};

/* Fails key n times at now; returns the last note. */
static struct throttle_note
fail_n(struct throttle *t, const struct throttle_params *p, const char *key,
    time_t now, unsigned n)
{
	struct throttle_note note = { 0 };

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(throttle_fail(t, p, key, now, &note), 0);
	return note;
}

static void
test_unknown_is_ok(void **state)
{
	struct throttle *t = throttle_new(16, SEED);

	(void)state;
	assert_non_null(t);
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0), THROTTLE_OK);
	assert_int_equal(throttle_check(NULL, &P, "192.0.2.1", T0),
	    THROTTLE_OK);
	assert_int_equal(throttle_count(t), 0);
	throttle_free(&t);
	assert_null(t);
	throttle_free(&t);
	throttle_free(NULL);
}

static void
test_slow_then_refuse(void **state)
{
	struct throttle *t = throttle_new(16, SEED);
	struct throttle_note n;

	(void)state;
	/* Below slow_after: OK, nothing to announce. */
	n = fail_n(t, &P, "192.0.2.1", T0, 2);
	assert_int_equal(n.verdict, THROTTLE_OK);
	assert_int_equal(n.failures, 2);
	assert_int_equal(n.announce, 0);
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0), THROTTLE_OK);
	/* The third: SLOW, announced once. */
	n = fail_n(t, &P, "192.0.2.1", T0 + 1, 1);
	assert_int_equal(n.verdict, THROTTLE_SLOW);
	assert_int_equal(n.announce, 1);
	n = fail_n(t, &P, "192.0.2.1", T0 + 1, 1);
	assert_int_equal(n.verdict, THROTTLE_SLOW);
	assert_int_equal(n.failures, 4);
	assert_int_equal(n.announce, 0);
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0 + 2),
	    THROTTLE_SLOW);
	/* Another key is not affected. */
	assert_int_equal(throttle_check(t, &P, "192.0.2.2", T0 + 2),
	    THROTTLE_OK);
	/* The fifth: REFUSE, announced once, then quiet. */
	n = fail_n(t, &P, "192.0.2.1", T0 + 3, 1);
	assert_int_equal(n.verdict, THROTTLE_REFUSE);
	assert_int_equal(n.announce, 1);
	n = fail_n(t, &P, "192.0.2.1", T0 + 3, 10);
	assert_int_equal(n.verdict, THROTTLE_REFUSE);
	assert_int_equal(n.announce, 0);
	assert_int_equal(throttle_count(t), 1);
	throttle_free(&t);
}

static void
test_window_expires(void **state)
{
	struct throttle *t = throttle_new(16, SEED);
	struct throttle_note n;

	(void)state;
	n = fail_n(t, &P, "2001:db8::1", T0, 4);
	assert_int_equal(n.verdict, THROTTLE_SLOW);
	/* The last second of the window, then the first after it. */
	assert_int_equal(throttle_check(t, &P, "2001:db8::1", T0 + 59),
	    THROTTLE_SLOW);
	assert_int_equal(throttle_check(t, &P, "2001:db8::1", T0 + 60),
	    THROTTLE_OK);
	/* A failure after it counts from 1 again, and slowing is announced
	 * again in the new window. */
	n = fail_n(t, &P, "2001:db8::1", T0 + 60, 1);
	assert_int_equal(n.failures, 1);
	assert_int_equal(n.verdict, THROTTLE_OK);
	n = fail_n(t, &P, "2001:db8::1", T0 + 61, 2);
	assert_int_equal(n.verdict, THROTTLE_SLOW);
	assert_int_equal(n.announce, 1);
	/* Failures spread wider than the window never add up. */
	for (int i = 0; i < 10; i++) {
		n = fail_n(t, &P, "192.0.2.9", T0 + 61 * i, 1);
		assert_int_equal(n.verdict, THROTTLE_OK);
		assert_int_equal(n.failures, 1);
	}
	throttle_free(&t);
}

static void
test_refusal_lasts_refuse_for(void **state)
{
	struct throttle *t = throttle_new(16, SEED);

	(void)state;
	(void)fail_n(t, &P, "192.0.2.1", T0, 5);
	/* Past the window, still refused: refuse_for counts. */
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0 + 120),
	    THROTTLE_REFUSE);
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0 + 299),
	    THROTTLE_REFUSE);
	assert_int_equal(throttle_check(t, &P, "192.0.2.1", T0 + 300),
	    THROTTLE_OK);
	throttle_free(&t);
}

static void
test_disabled_thresholds(void **state)
{
	const struct throttle_params off = { .window = 60, .refuse_for = 10 };
	const struct throttle_params slow_only = { .window = 60,
		.slow_after = 2, .refuse_for = 10 };
	struct throttle *t = throttle_new(16, SEED);
	struct throttle_note n;

	(void)state;
	n = fail_n(t, &off, "192.0.2.1", T0, 1000);
	assert_int_equal(n.verdict, THROTTLE_OK);
	assert_int_equal(n.failures, 1000);
	assert_int_equal(n.announce, 0);
	n = fail_n(t, &slow_only, "192.0.2.2", T0, 1000);
	assert_int_equal(n.verdict, THROTTLE_SLOW);
	throttle_free(&t);
}

static void
test_bad_args(void **state)
{
	struct throttle *t = throttle_new(16, SEED);
	struct throttle_note n = { .failures = 7 };
	char longkey[THROTTLE_KEY_LEN + 1];

	(void)state;
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_null(throttle_new(0, SEED));
	assert_int_equal(throttle_fail(t, &P, NULL, T0, &n), ERR_INVALID);
	assert_int_equal(n.failures, 0);
	assert_int_equal(throttle_fail(t, &P, longkey, T0, &n), ERR_INVALID);
	assert_int_equal(throttle_fail(NULL, &P, "k", T0, &n), ERR_INVALID);
	assert_int_equal(throttle_fail(t, NULL, "k", T0, &n), ERR_INVALID);
	assert_int_equal(throttle_fail(t, &P, "k", T0, NULL), ERR_INVALID);
	assert_int_equal(throttle_check(t, &P, longkey, T0), THROTTLE_OK);
	assert_int_equal(throttle_count(t), 0);
	assert_int_equal(throttle_count(NULL), 0);
	/* The longest key that fits is tracked. */
	longkey[THROTTLE_KEY_LEN - 1] = '\0';
	assert_int_equal(throttle_fail(t, &P, longkey, T0, &n), 0);
	assert_int_equal(throttle_count(t), 1);
	throttle_free(&t);
}

static void
key_of(char *out, size_t len, int i)
{
	snprintf(out, len, "10.0.%d.%d", i / 256, i % 256);
}

static void
test_full_table_evicts_least_recent(void **state)
{
	struct throttle *t = throttle_new(4, SEED);
	char k[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		key_of(k, sizeof(k), i);
		(void)fail_n(t, &P, k, T0, 3);
	}
	assert_int_equal(throttle_count(t), 4);
	/* Touch key 0 again: key 1 is now the least recent. */
	key_of(k, sizeof(k), 0);
	(void)fail_n(t, &P, k, T0, 1);
	(void)fail_n(t, &P, "192.0.2.200", T0, 3);
	assert_int_equal(throttle_count(t), 4);
	assert_int_equal(throttle_check(t, &P, "192.0.2.200", T0),
	    THROTTLE_SLOW);
	key_of(k, sizeof(k), 1);
	assert_int_equal(throttle_check(t, &P, k, T0), THROTTLE_OK);
	key_of(k, sizeof(k), 0);
	assert_int_equal(throttle_check(t, &P, k, T0), THROTTLE_SLOW);
	throttle_free(&t);
}

static void
test_full_table_keeps_refused(void **state)
{
	struct throttle *t = throttle_new(4, SEED);
	struct throttle_note n;
	char k[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		key_of(k, sizeof(k), i);
		(void)fail_n(t, &P, k, T0, 5);
	}
	/* A flood of new sources does not wash the refused ones out. */
	for (int i = 100; i < 1100; i++) {
		key_of(k, sizeof(k), i);
		assert_int_equal(throttle_fail(t, &P, k, T0 + 1, &n), 0);
		assert_int_equal(n.verdict, THROTTLE_OK);
		assert_int_equal(n.failures, 0);
	}
	assert_int_equal(throttle_count(t), 4);
	for (int i = 0; i < 4; i++) {
		key_of(k, sizeof(k), i);
		assert_int_equal(throttle_check(t, &P, k, T0 + 1),
		    THROTTLE_REFUSE);
	}
	/* Once their refusal ends they may be replaced. */
	key_of(k, sizeof(k), 2000);
	(void)fail_n(t, &P, k, T0 + 300, 1);
	assert_int_equal(throttle_count(t), 4);
	assert_int_equal(throttle_check(t, &P, k, T0 + 300), THROTTLE_OK);
	throttle_free(&t);
}

static void
test_many_keys(void **state)
{
	struct throttle *t = throttle_new(5000, SEED);
	char k[32];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		key_of(k, sizeof(k), i);
		(void)fail_n(t, &P, k, T0, (unsigned)(i % 4) + 1);
	}
	assert_int_equal(throttle_count(t), 5000);
	for (int i = 0; i < 5000; i++) {
		key_of(k, sizeof(k), i);
		assert_int_equal(throttle_check(t, &P, k, T0),
		    i % 4 >= 2 ? THROTTLE_SLOW : THROTTLE_OK);
	}
	throttle_free(&t);
}

/* --- connections per source ---------------------------------------------- */

static void
test_srccount_limit(void **state)
{
	struct srccount *c = srccount_new(8, SEED);

	(void)state;
	assert_non_null(c);
	assert_int_equal(srccount_add(c, "192.0.2.1", 2), 0);
	assert_int_equal(srccount_add(c, "192.0.2.1", 2), 0);
	assert_int_equal(srccount_add(c, "192.0.2.1", 2), ERR_FULL);
	assert_int_equal(srccount_get(c, "192.0.2.1"), 2);
	/* Another source has its own count. */
	assert_int_equal(srccount_add(c, "192.0.2.2", 2), 0);
	assert_int_equal(srccount_sources(c), 2);
	/* One closes: room for one. */
	srccount_del(c, "192.0.2.1");
	assert_int_equal(srccount_get(c, "192.0.2.1"), 1);
	assert_int_equal(srccount_add(c, "192.0.2.1", 2), 0);
	assert_int_equal(srccount_add(c, "192.0.2.1", 2), ERR_FULL);
	/* All closed: forgotten. */
	srccount_del(c, "192.0.2.1");
	srccount_del(c, "192.0.2.1");
	srccount_del(c, "192.0.2.1");
	srccount_del(c, "192.0.2.9");
	assert_int_equal(srccount_get(c, "192.0.2.1"), 0);
	assert_int_equal(srccount_sources(c), 1);
	srccount_free(&c);
	assert_null(c);
	srccount_free(NULL);
}

static void
test_srccount_table_full(void **state)
{
	struct srccount *c = srccount_new(2, SEED);

	(void)state;
	assert_int_equal(srccount_add(c, "a", 10), 0);
	assert_int_equal(srccount_add(c, "b", 10), 0);
	assert_int_equal(srccount_add(c, "c", 10), ERR_FULL);
	assert_int_equal(srccount_add(c, "a", 10), 0);
	srccount_del(c, "b");
	assert_int_equal(srccount_add(c, "c", 10), 0);
	assert_int_equal(srccount_add(c, "d", 0), ERR_FULL);
	assert_int_equal(srccount_add(c, NULL, 10), ERR_INVALID);
	assert_int_equal(srccount_add(NULL, "a", 10), ERR_INVALID);
	assert_int_equal(srccount_get(NULL, "a"), 0);
	assert_int_equal(srccount_sources(NULL), 0);
	assert_null(srccount_new(0, SEED));
	srccount_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_is_ok),
		cmocka_unit_test(test_slow_then_refuse),
		cmocka_unit_test(test_window_expires),
		cmocka_unit_test(test_refusal_lasts_refuse_for),
		cmocka_unit_test(test_disabled_thresholds),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_full_table_evicts_least_recent),
		cmocka_unit_test(test_full_table_keeps_refused),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_srccount_limit),
		cmocka_unit_test(test_srccount_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
