#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* Rules are built by hand with static strings: policy_decide and
 * policy_users only read them (policy_clear is tested on heap rules). */
static char *alice_users[] = { "root", "admin" };
static char *alice2_users[] = { "admin", "backup", "root" };
static char *bob_users[] = { "bob" };

static struct rule rules[] = {
	{ .name = "alice", .subject = "CN=alice,OU=ops,O=Example",
	  .users = alice_users, .n_users = 2, .file = "t.conf", .line = 1 },
	{ .name = "bob", .subject = "CN=bob,O=Example",
	  .users = bob_users, .n_users = 1, .file = "t.conf", .line = 2 },
	{ .name = "alice-more", .subject = "CN=alice,OU=ops,O=Example",
	  .users = alice2_users, .n_users = 3, .file = "t.conf", .line = 3 },
};
static const struct policy pol = { .rules = rules, .n_rules = 3 };

static char subj_alice[] = "CN=alice,OU=ops,O=Example";
static char subj_alice_no_ou[] = "CN=alice,O=Example";
static char subj_nobody[] = "CN=nobody";

static struct ident
ident_of(char *subject)
{
	struct ident id;

	memset(&id, 0, sizeof(id));
	id.subject = subject;
	return id;
}

static void
test_grant(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(&pol, &id, "root", &d), 0);
	assert_int_equal(d.granted, 1);
	assert_ptr_equal(d.rule, &rules[0]);
	assert_string_equal(d.reason, "granted by rule 'alice'");
}

static void
test_wrong_user(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(&pol, &id, "bob", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_null(d.rule);
	assert_string_equal(d.reason,
	    "rules match subject but none grants user 'bob'");
}

static void
test_no_subject_match(void **state)
{
	/* Same CN, different DN: the whole subject must match. */
	struct ident id = ident_of(subj_alice_no_ou);
	struct ident none = ident_of(NULL);
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(&pol, &id, "root", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_null(d.rule);
	assert_string_equal(d.reason, "no rule matches subject");
	assert_int_equal(policy_decide(&pol, &none, "root", &d), ERR_DENIED);
	assert_string_equal(d.reason, "no rule matches subject");
}

static void
test_all_rules_evaluated(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct decision d;

	(void)state;
	/* Only the third rule grants backup: evaluation went past the first
	 * matching rule. */
	assert_int_equal(policy_decide(&pol, &id, "backup", &d), 0);
	assert_ptr_equal(d.rule, &rules[2]);
	assert_string_equal(d.reason, "granted by rule 'alice-more'");
	/* admin is granted by both: the first in order is named. */
	assert_int_equal(policy_decide(&pol, &id, "admin", &d), 0);
	assert_ptr_equal(d.rule, &rules[0]);
	assert_string_equal(d.reason, "granted by rule 'alice'");
}

static void
test_decide_bad_args(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct policy empty = { 0 };
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(NULL, &id, "root", &d), ERR_INVALID);
	assert_int_equal(d.granted, 0);
	assert_int_equal(policy_decide(&pol, NULL, "root", &d), ERR_INVALID);
	assert_int_equal(policy_decide(&pol, &id, NULL, &d), ERR_INVALID);
	assert_int_equal(policy_decide(&pol, &id, "root", NULL), ERR_INVALID);
	/* A bad name is refused and not echoed into the reason. */
	assert_int_equal(policy_decide(&pol, &id, "ro\not", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_string_equal(d.reason, "invalid user name");
	assert_int_equal(policy_decide(&empty, &id, "root", &d), ERR_DENIED);
	assert_string_equal(d.reason, "no rule matches subject");
}

static void
test_users_dedup_order(void **state)
{
	struct ident id = ident_of(subj_alice);
	const char **u = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(policy_users(&pol, &id, &u, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(u[0], "root");
	assert_string_equal(u[1], "admin");
	assert_string_equal(u[2], "backup");
	assert_null(u[3]);
	/* Borrowed from the policy, not copies. */
	assert_ptr_equal(u[0], alice_users[0]);
	free(u);
}

static void
test_users_none(void **state)
{
	struct ident id = ident_of(subj_nobody);
	const char **u = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(policy_users(&pol, &id, &u, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(u);
	assert_null(u[0]);
	free(u);
	assert_int_equal(policy_users(NULL, &id, &u, &n), ERR_INVALID);
	assert_int_equal(policy_users(&pol, NULL, &u, &n), ERR_INVALID);
	assert_int_equal(policy_users(&pol, &id, NULL, &n), ERR_INVALID);
	assert_int_equal(policy_users(&pol, &id, &u, NULL), ERR_INVALID);
}

static void
test_valid_user_name(void **state)
{
	(void)state;
	assert_true(valid_user_name("root"));
	assert_true(valid_user_name("a"));
	assert_true(valid_user_name("A.b_c-9"));
	assert_true(valid_user_name("x-"));
	assert_true(valid_user_name("0"));
	assert_true(valid_user_name("abcdefghijklmnopqrstuvwxyz012345"));
	assert_false(valid_user_name("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_false(valid_user_name(""));
	assert_false(valid_user_name(NULL));
	assert_false(valid_user_name("-root"));
	assert_false(valid_user_name(".root"));
	assert_false(valid_user_name("ro ot"));
	assert_false(valid_user_name("ro/ot"));
	assert_false(valid_user_name("root:"));
	assert_false(valid_user_name("r\xc3\xa9"));
	assert_false(valid_user_name("root\n"));
	assert_false(valid_user_name("$"));
}

static void
test_clear(void **state)
{
	struct policy p = { 0 };

	(void)state;
	p.rules = calloc(2, sizeof(*p.rules));
	assert_non_null(p.rules);
	p.n_rules = 2;
	p.rules[0].name = strdup("a");
	p.rules[0].subject = strdup("CN=a");
	p.rules[0].users = calloc(2, sizeof(char *));
	assert_non_null(p.rules[0].users);
	p.rules[0].users[0] = strdup("root");
	p.rules[0].n_users = 2;   /* a half-built rule: users[1] is NULL */
	p.rules[0].file = strdup("f");
	/* rules[1] is all NULL, as after a failed load. */
	policy_clear(&p);
	assert_null(p.rules);
	assert_int_equal(p.n_rules, 0);
	policy_clear(&p);
	policy_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant),
		cmocka_unit_test(test_wrong_user),
		cmocka_unit_test(test_no_subject_match),
		cmocka_unit_test(test_all_rules_evaluated),
		cmocka_unit_test(test_decide_bad_args),
		cmocka_unit_test(test_users_dedup_order),
		cmocka_unit_test(test_users_none),
		cmocka_unit_test(test_valid_user_name),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
