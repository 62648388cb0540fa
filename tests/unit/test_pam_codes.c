#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <security/pam_modules.h>

#include "codes.h"

static struct proto_msg
msg_of(uint8_t type, uint32_t v)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (type == PROTO_DENY)
		m.u.reason = v;
	else if (type == PROTO_HELLO)
		m.u.version = v;
	return m;
}

static void
test_ok_is_success(void **state)
{
	struct proto_msg ok = msg_of(PROTO_OK, 0);

	(void)state;
	assert_int_equal(pam_code_for(0, &ok), PAM_SUCCESS);
}

/* PROTOCOL.md, "Deny reasons". */
static void
test_deny_table(void **state)
{
	static const struct {
		uint32_t reason;
		int code;
	} table[] = {
		{ DENY_BAD_TICKET, PAM_AUTH_ERR },
		{ DENY_EXPIRED, PAM_AUTH_ERR },
		{ DENY_WRONG_USER, PAM_AUTH_ERR },
		{ DENY_WRONG_RHOST, PAM_AUTH_ERR },
		{ DENY_NOT_ALLOWED, PAM_AUTH_ERR },
		{ DENY_INTERNAL, PAM_AUTHINFO_UNAVAIL },
		{ DENY_VERSION, PAM_AUTHINFO_UNAVAIL },
		{ 0, PAM_AUTH_ERR },
		{ 8, PAM_AUTH_ERR },
		{ 255, PAM_AUTH_ERR },
		{ UINT32_MAX, PAM_AUTH_ERR },
	};
	struct proto_msg deny;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		deny = msg_of(PROTO_DENY, table[i].reason);
		assert_int_equal(pam_code_for(0, &deny), table[i].code);
		assert_int_equal(pam_code_for_deny(table[i].reason),
		    table[i].code);
	}
}

static void
test_no_deny_is_success(void **state)
{
	struct proto_msg deny;
	uint32_t reason;

	(void)state;
	for (reason = 0; reason < 1024; reason++) {
		deny = msg_of(PROTO_DENY, reason);
		assert_int_not_equal(pam_code_for(0, &deny), PAM_SUCCESS);
	}
	deny = msg_of(PROTO_DENY, UINT32_MAX);
	assert_int_not_equal(pam_code_for(0, &deny), PAM_SUCCESS);
}

/* PROTOCOL.md, "Failure of the exchange": every client error. */
static void
test_error_table(void **state)
{
	static const int unavail[] = {
		ERR_INTERNAL, ERR_INVALID, ERR_TOOLONG, ERR_SHORT, ERR_IO,
		ERR_TIMEOUT, ERR_CONFIG, ERR_NOTFOUND, ERR_DENIED, ERR_TLS,
		ERR_PERM, ERR_PROTO, ERR_CLOSED, ERR_EXPIRED, ERR_FULL,
		-17, -1000, 1, 42,
	};
	struct proto_msg deny = msg_of(PROTO_DENY, DENY_BAD_TICKET);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unavail) / sizeof(unavail[0]); i++) {
		assert_int_equal(pam_code_for(unavail[i], NULL),
		    PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(pam_code_for(unavail[i], &deny),
		    PAM_AUTHINFO_UNAVAIL);
	}
	assert_int_equal(pam_code_for(ERR_NOMEM, NULL), PAM_BUF_ERR);
}

/* A failed exchange never succeeds, whatever the answer holds. */
static void
test_no_error_is_success(void **state)
{
	struct proto_msg ok = msg_of(PROTO_OK, 0);
	int err;

	(void)state;
	for (err = -100; err <= 100; err++) {
		if (err == 0)
			continue;
		assert_int_not_equal(pam_code_for(err, &ok), PAM_SUCCESS);
		assert_int_not_equal(pam_code_for(err, NULL), PAM_SUCCESS);
	}
}

/* Only a decoded OK: nothing else the client could hand over. */
static void
test_other_answers_fail(void **state)
{
	struct proto_msg m;
	unsigned type;

	(void)state;
	for (type = 0; type <= 255; type++) {
		if (type == PROTO_OK)
			continue;
		m = msg_of((uint8_t)type, 1);
		assert_int_not_equal(pam_code_for(0, &m), PAM_SUCCESS);
	}
	m = msg_of(PROTO_HELLO, 1);
	assert_int_equal(pam_code_for(0, &m), PAM_AUTHINFO_UNAVAIL);
	m = msg_of(PROTO_REDEEM, 0);
	assert_int_equal(pam_code_for(0, &m), PAM_AUTHINFO_UNAVAIL);
	m = msg_of(0, 0);
	assert_int_equal(pam_code_for(0, &m), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(pam_code_for(0, NULL), PAM_SERVICE_ERR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_is_success),
		cmocka_unit_test(test_deny_table),
		cmocka_unit_test(test_no_deny_is_success),
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_no_error_is_success),
		cmocka_unit_test(test_other_answers_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
