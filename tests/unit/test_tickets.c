#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tickets.h"

#define T0 ((time_t)1700000000)
#define LIFETIME 60u

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static struct ticket_grant *
grant_new(const char *user, const char *addr)
{
	struct ticket_grant *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	g->user = strdup(user);
	g->rule = strdup("alice");
	g->id = calloc(1, sizeof(*g->id));
	assert_non_null(g->user);
	assert_non_null(g->rule);
	assert_non_null(g->id);
	g->id->subject = strdup("CN=alice");
	assert_non_null(g->id->subject);
	snprintf(g->addr, sizeof(g->addr), "%s", addr);
	return g;
}

/* Issues a ticket for user at now into out, asserting success. */
static void
issue(struct tstore *s, const char *user, const char *addr, time_t now,
    char out[TICKET_BUFLEN])
{
	struct ticket_grant *g = grant_new(user, addr);

	assert_int_equal(tstore_issue(s, &g, now, LIFETIME, out), 0);
	assert_null(g);
}

static void
test_issue_take_once(void **state)
{
	struct tstore *s = tstore_new(8);
	struct ticket_grant *g = grant_new("root", "192.0.2.1"), *got = NULL;
	struct ticket_grant *orig = g;
	char t[TICKET_BUFLEN];

	(void)state;
	assert_non_null(s);
	assert_int_equal(tstore_issue(s, &g, T0, LIFETIME, t), 0);
	assert_null(g);
	assert_int_equal(tstore_count(s), 1);

	assert_int_equal(tstore_take(s, t, T0 + 1, &got), 0);
	assert_ptr_equal(got, orig);
	assert_string_equal(got->user, "root");
	assert_string_equal(got->addr, "192.0.2.1");
	assert_int_equal(got->expires, T0 + (time_t)LIFETIME);
	assert_int_equal(tstore_count(s), 0);
	ticket_grant_free(&got);
	assert_null(got);

	/* Single use: the second take finds nothing. */
	assert_int_equal(tstore_take(s, t, T0 + 1, &got), ERR_NOTFOUND);
	assert_null(got);
	tstore_free(&s);
	assert_null(s);
}

static void
test_unknown_ticket(void **state)
{
	struct tstore *s = tstore_new(8);
	struct ticket_grant *got = NULL;
	char t[TICKET_BUFLEN];

	(void)state;
	issue(s, "root", "", T0, t);
	/* Well formed, but one character off. */
	t[0] = t[0] == 'A' ? 'B' : 'A';
	assert_int_equal(tstore_take(s, t, T0, &got), ERR_NOTFOUND);
	assert_null(got);
	/* A miss does not consume the real ticket's entry. */
	assert_int_equal(tstore_count(s), 1);
	tstore_free(&s);
}

/* expires = issue time + lifetime is the first second the ticket is no
 * longer valid: valid at expires - 1, expired at expires. */
static void
test_expiry_boundary(void **state)
{
	struct tstore *s = tstore_new(8);
	struct ticket_grant *got = NULL;
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN];

	(void)state;
	issue(s, "root", "", T0, t1);
	issue(s, "root", "", T0, t2);

	assert_int_equal(tstore_take(s, t1, T0 + (time_t)LIFETIME - 1, &got),
	    0);
	assert_non_null(got);
	ticket_grant_free(&got);

	assert_int_equal(tstore_take(s, t2, T0 + (time_t)LIFETIME, &got),
	    ERR_EXPIRED);
	assert_null(got);
	/* An expired ticket is removed as it is found. */
	assert_int_equal(tstore_count(s), 0);
	assert_int_equal(tstore_take(s, t2, T0, &got), ERR_NOTFOUND);
	tstore_free(&s);
}

static void
test_malformed(void **state)
{
	struct tstore *s = tstore_new(8);
	struct ticket_grant *got = NULL;
	char t[TICKET_BUFLEN], longer[TICKET_BUFLEN + 1], bad[TICKET_BUFLEN];

	(void)state;
	issue(s, "root", "", T0, t);

	assert_int_equal(tstore_take(s, "", T0, &got), ERR_NOTFOUND);
	assert_int_equal(tstore_take(s, "short", T0, &got), ERR_NOTFOUND);
	/* The real ticket minus its last character, and plus one. */
	memcpy(bad, t, TICKET_BUFLEN);
	bad[TICKET_STR_LEN - 1] = '\0';
	assert_int_equal(tstore_take(s, bad, T0, &got), ERR_NOTFOUND);
	memcpy(longer, t, TICKET_STR_LEN);
	longer[TICKET_STR_LEN] = 'A';
	longer[TICKET_STR_LEN + 1] = '\0';
	assert_int_equal(tstore_take(s, longer, T0, &got), ERR_NOTFOUND);
	/* Right length, a character outside base64url ('+' is base64). */
	memcpy(bad, t, TICKET_BUFLEN);
	bad[5] = '+';
	assert_int_equal(tstore_take(s, bad, T0, &got), ERR_NOTFOUND);
	bad[5] = '=';
	assert_int_equal(tstore_take(s, bad, T0, &got), ERR_NOTFOUND);
	assert_null(got);
	assert_int_equal(tstore_take(s, NULL, T0, &got), ERR_INVALID);
	assert_int_equal(tstore_take(NULL, t, T0, &got), ERR_INVALID);
	assert_int_equal(tstore_take(s, t, T0, NULL), ERR_INVALID);

	/* None of that used up the ticket. */
	assert_int_equal(tstore_count(s), 1);
	assert_int_equal(tstore_take(s, t, T0, &got), 0);
	ticket_grant_free(&got);
	tstore_free(&s);
}

static void
test_capacity(void **state)
{
	struct tstore *s = tstore_new(2);
	struct ticket_grant *g = grant_new("root", ""), *got = NULL;
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN], t3[TICKET_BUFLEN];

	(void)state;
	issue(s, "root", "", T0, t1);
	issue(s, "root", "", T0 + 10, t2);
	assert_int_equal(tstore_count(s), 2);

	/* Full of live tickets: refused, and g stays ours. */
	assert_int_equal(tstore_issue(s, &g, T0 + 20, LIFETIME, t3),
	    ERR_FULL);
	assert_non_null(g);
	assert_int_equal(tstore_count(s), 2);

	/* At T0 + LIFETIME the first has expired and makes room. */
	assert_int_equal(tstore_issue(s, &g, T0 + (time_t)LIFETIME, LIFETIME,
	    t3), 0);
	assert_null(g);
	assert_int_equal(tstore_count(s), 2);
	assert_int_equal(tstore_take(s, t1, T0, &got), ERR_NOTFOUND);
	assert_int_equal(tstore_take(s, t2, T0 + (time_t)LIFETIME, &got), 0);
	ticket_grant_free(&got);
	assert_int_equal(tstore_take(s, t3, T0 + (time_t)LIFETIME, &got), 0);
	ticket_grant_free(&got);
	tstore_free(&s);
}

static void
test_issue_bad_args(void **state)
{
	struct tstore *s = tstore_new(2), *none = tstore_new(0);
	struct ticket_grant *g = grant_new("root", ""), *null = NULL;
	char t[TICKET_BUFLEN];

	(void)state;
	assert_int_equal(tstore_issue(NULL, &g, T0, LIFETIME, t), ERR_INVALID);
	assert_int_equal(tstore_issue(s, NULL, T0, LIFETIME, t), ERR_INVALID);
	assert_int_equal(tstore_issue(s, &null, T0, LIFETIME, t), ERR_INVALID);
	assert_int_equal(tstore_issue(s, &g, T0, LIFETIME, NULL), ERR_INVALID);
	assert_int_equal(tstore_issue(s, &g, T0, 0, t), ERR_INVALID);
	assert_int_equal(tstore_issue(none, &g, T0, LIFETIME, t), ERR_FULL);
	assert_non_null(g);
	assert_int_equal(tstore_count(s), 0);
	ticket_grant_free(&g);
	tstore_free(&s);
	tstore_free(&none);
	tstore_free(NULL);
	ticket_grant_free(NULL);
	assert_int_equal(tstore_count(NULL), 0);
	assert_int_equal(tstore_expire(NULL, T0), 0);
}

static void
assert_ticket_form(const char *t)
{
	size_t i;

	assert_int_equal(strlen(t), TICKET_STR_LEN);
	for (i = 0; i < TICKET_STR_LEN; i++)
		assert_non_null(strchr(b64url, t[i]));
}

static void
test_distinct_form(void **state)
{
	struct tstore *s = tstore_new(64);
	char t[64][TICKET_BUFLEN];
	size_t i, j;

	(void)state;
	for (i = 0; i < 64; i++) {
		issue(s, "root", "", T0, t[i]);
		assert_ticket_form(t[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(t[i], t[j]);
	}
	assert_int_equal(tstore_count(s), 64);
	/* Every one of them is found again, in another order. */
	for (i = 64; i-- > 0;) {
		struct ticket_grant *got = NULL;

		assert_int_equal(tstore_take(s, t[i], T0, &got), 0);
		ticket_grant_free(&got);
	}
	assert_int_equal(tstore_count(s), 0);
	tstore_free(&s);
}

static void
test_expire_count(void **state)
{
	struct tstore *s = tstore_new(8);
	char t[TICKET_BUFLEN];

	(void)state;
	issue(s, "root", "", T0, t);
	issue(s, "root", "", T0, t);
	issue(s, "root", "", T0 + 30, t);
	assert_int_equal(tstore_count(s), 3);
	assert_int_equal(tstore_expire(s, T0 + (time_t)LIFETIME - 1), 0);
	assert_int_equal(tstore_count(s), 3);
	assert_int_equal(tstore_expire(s, T0 + (time_t)LIFETIME), 2);
	assert_int_equal(tstore_count(s), 1);
	assert_int_equal(tstore_expire(s, T0 + 30 + (time_t)LIFETIME), 1);
	assert_int_equal(tstore_count(s), 0);
	assert_int_equal(tstore_expire(s, T0 + 1000), 0);
	tstore_free(&s);
}

/* Runs ticket_check and returns the reason (0 when accepted). */
static uint32_t
check(const struct ticket_grant *g, const char *user, const char *service,
    const char *rhost, char *const *local, size_t n_local)
{
	uint32_t reason = 99;
	int r = ticket_check(g, user, service, rhost, local, n_local, &reason);

	if (r == 0) {
		assert_int_equal(reason, 0);
		return 0;
	}
	assert_int_equal(r, ERR_DENIED);
	assert_int_not_equal(reason, 0);
	return reason;
}

static char *local_sudo[] = { "login", "sudo" };

static void
test_check_user(void **state)
{
	struct ticket_grant *g = grant_new("root", "");
	uint32_t reason;

	(void)state;
	assert_int_equal(check(g, "root", "sshd", "192.0.2.1", NULL, 0), 0);
	assert_int_equal(check(g, "admin", "sshd", "192.0.2.1", NULL, 0),
	    DENY_WRONG_USER);
	assert_int_equal(check(g, "roo", "sshd", "", NULL, 0),
	    DENY_WRONG_USER);
	assert_int_equal(check(g, "root ", "sshd", "", NULL, 0),
	    DENY_WRONG_USER);
	assert_int_equal(ticket_check(g, NULL, "sshd", "", NULL, 0, &reason),
	    ERR_INVALID);
	assert_int_equal(ticket_check(NULL, "root", "sshd", "", NULL, 0,
	    &reason), ERR_INVALID);
	assert_int_equal(ticket_check(g, "root", "sshd", "", NULL, 0, NULL),
	    ERR_INVALID);
	ticket_grant_free(&g);
}

static void
test_check_addr_v4(void **state)
{
	struct ticket_grant *g = grant_new("root", "127.0.0.1");

	(void)state;
	assert_int_equal(check(g, "root", "sshd", "127.0.0.1", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sshd", "::ffff:127.0.0.1", NULL, 0),
	    0);
	assert_int_equal(check(g, "root", "sshd", "::FFFF:7f00:1", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sshd", "127.0.0.2", NULL, 0),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "sshd", "::1", NULL, 0),
	    DENY_WRONG_RHOST);
	/* IPv4-compatible (deprecated) is not the mapped form. */
	assert_int_equal(check(g, "root", "sshd", "::127.0.0.1", NULL, 0),
	    DENY_WRONG_RHOST);
	/* Host names are not resolved: refused. */
	assert_int_equal(check(g, "root", "sshd", "localhost", NULL, 0),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "sshd", "127.0.0.1 ", NULL, 0),
	    DENY_WRONG_RHOST);
	/* The user check comes first. */
	assert_int_equal(check(g, "bob", "sshd", "127.0.0.1", NULL, 0),
	    DENY_WRONG_USER);
	ticket_grant_free(&g);
}

static void
test_check_addr_v6(void **state)
{
	struct ticket_grant *g = grant_new("root", "::ffff:127.0.0.1");
	struct ticket_grant *g6 = grant_new("root", "2001:db8::1");
	struct ticket_grant *junk = grant_new("root", "not-an-address");

	(void)state;
	assert_int_equal(check(g, "root", "sshd", "127.0.0.1", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sshd", "::ffff:127.0.0.1", NULL, 0),
	    0);
	assert_int_equal(check(g, "root", "sshd", "10.0.0.1", NULL, 0),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g6, "root", "sshd", "2001:DB8:0::1", NULL, 0),
	    0);
	assert_int_equal(check(g6, "root", "sshd", "2001:db8::2", NULL, 0),
	    DENY_WRONG_RHOST);
	/* A bound address that does not parse fails closed. */
	assert_int_equal(check(junk, "root", "sshd", "not-an-address", NULL, 0),
	    DENY_WRONG_RHOST);
	ticket_grant_free(&g);
	ticket_grant_free(&g6);
	ticket_grant_free(&junk);
}

static void
test_check_empty_rhost(void **state)
{
	struct ticket_grant *g = grant_new("root", "192.0.2.1");

	(void)state;
	assert_int_equal(check(g, "root", "sudo", "", NULL, 0),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "sudo", NULL, NULL, 0),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "sudo", "", local_sudo, 2), 0);
	assert_int_equal(check(g, "root", "sudo", NULL, local_sudo, 2), 0);
	assert_int_equal(check(g, "root", "login", "", local_sudo, 2), 0);
	/* A service not named local, or none at all. */
	assert_int_equal(check(g, "root", "su", "", local_sudo, 2),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "sshd", "", local_sudo, 2),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", NULL, "", local_sudo, 2),
	    DENY_WRONG_RHOST);
	assert_int_equal(check(g, "root", "", "", local_sudo, 2),
	    DENY_WRONG_RHOST);
	/* n_local_services bounds the list: "sudo" is the second. */
	assert_int_equal(check(g, "root", "sudo", "", local_sudo, 1),
	    DENY_WRONG_RHOST);
	/* A local service with an rhost still has the address checked. */
	assert_int_equal(check(g, "root", "sudo", "192.0.2.2", local_sudo, 2),
	    DENY_WRONG_RHOST);
	ticket_grant_free(&g);
}

static void
test_check_unbound(void **state)
{
	struct ticket_grant *g = grant_new("root", "");

	(void)state;
	assert_int_equal(check(g, "root", "sshd", "198.51.100.7", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sshd", "2001:db8::9", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sshd", "host.example", NULL, 0), 0);
	assert_int_equal(check(g, "root", "sudo", "", NULL, 0), 0);
	assert_int_equal(check(g, "root", NULL, NULL, NULL, 0), 0);
	assert_int_equal(check(g, "admin", "sshd", "", NULL, 0),
	    DENY_WRONG_USER);
	ticket_grant_free(&g);
}

/* --- per-certificate and configurable caps -------------------------------- */

#define FPR_A "sha256:aa"
#define FPR_B "sha256:bb"

/* Issues for the certificate fpr; returns tstore_issue's result (a
 * refused grant is checked to be still ours, then freed). */
static int
issue_for(struct tstore *s, const char *fpr, time_t now,
    char out[TICKET_BUFLEN])
{
	struct ticket_grant *g = grant_new("root", "");
	int r;

	snprintf(g->id->fingerprint, sizeof(g->id->fingerprint), "%s", fpr);
	r = tstore_issue(s, &g, now, LIFETIME, out);
	if (r != 0)
		assert_non_null(g);
	else
		assert_null(g);
	ticket_grant_free(&g);
	return r;
}

static void
test_per_cert_cap(void **state)
{
	struct tstore *s = tstore_new(100);
	struct ticket_grant *got = NULL;
	char a1[TICKET_BUFLEN], a2[TICKET_BUFLEN], t[TICKET_BUFLEN];

	(void)state;
	tstore_set_limits(s, 100, 2);
	assert_int_equal(issue_for(s, FPR_A, T0, a1), 0);
	assert_int_equal(issue_for(s, FPR_A, T0, a2), 0);
	assert_int_equal(tstore_count_for(s, FPR_A), 2);
	/* The third for A is refused, and the two stay redeemable. */
	assert_int_equal(issue_for(s, FPR_A, T0 + 1, t), ERR_DENIED);
	assert_int_equal(tstore_count_for(s, FPR_A), 2);
	assert_int_equal(tstore_count(s), 2);
	/* Another certificate is not affected. */
	assert_int_equal(issue_for(s, FPR_B, T0 + 1, t), 0);
	assert_int_equal(tstore_count_for(s, FPR_B), 1);
	assert_int_equal(tstore_count_for(s, "sha256:cc"), 0);
	assert_int_equal(tstore_count_for(s, NULL), 0);
	assert_int_equal(tstore_count_for(NULL, FPR_A), 0);
	/* Redeeming one of A's makes room for one more, not two. */
	assert_int_equal(tstore_take(s, a1, T0 + 2, &got), 0);
	ticket_grant_free(&got);
	assert_int_equal(tstore_count_for(s, FPR_A), 1);
	assert_int_equal(issue_for(s, FPR_A, T0 + 2, t), 0);
	assert_int_equal(issue_for(s, FPR_A, T0 + 2, t), ERR_DENIED);
	assert_int_equal(tstore_take(s, a2, T0 + 2, &got), 0);
	assert_string_equal(got->id->fingerprint, FPR_A);
	ticket_grant_free(&got);
	tstore_free(&s);
}

static void
test_per_cert_expiry(void **state)
{
	struct tstore *s = tstore_new(100);
	char a1[TICKET_BUFLEN], a2[TICKET_BUFLEN], b[TICKET_BUFLEN];
	struct ticket_grant *got = NULL;

	(void)state;
	tstore_set_limits(s, 100, 2);
	assert_int_equal(issue_for(s, FPR_A, T0, a1), 0);
	assert_int_equal(issue_for(s, FPR_A, T0 + 5, a2), 0);
	assert_int_equal(issue_for(s, FPR_B, T0, b), 0);
	/* One second before the first expires: still full. */
	assert_int_equal(issue_for(s, FPR_A, T0 + (time_t)LIFETIME - 1, a1),
	    ERR_DENIED);
	/* At its expiry it is dropped to make room; B's expired ticket is
	 * left to the sweep. */
	assert_int_equal(issue_for(s, FPR_A, T0 + (time_t)LIFETIME, a1), 0);
	assert_int_equal(tstore_count_for(s, FPR_A), 2);
	assert_int_equal(tstore_count_for(s, FPR_B), 1);
	assert_int_equal(tstore_count(s), 3);
	/* The sweep drops B's, and its tally with it. */
	assert_int_equal(tstore_expire(s, T0 + (time_t)LIFETIME), 1);
	assert_int_equal(tstore_count_for(s, FPR_B), 0);
	assert_int_equal(tstore_take(s, b, T0, &got), ERR_NOTFOUND);
	/* Everything gone, every tally too (valgrind checks the frees). */
	assert_int_equal(tstore_expire(s, T0 + 10 * (time_t)LIFETIME), 2);
	assert_int_equal(tstore_count_for(s, FPR_A), 0);
	assert_int_equal(issue_for(s, FPR_A, T0 + 10 * (time_t)LIFETIME, a1),
	    0);
	tstore_free(&s);
}

static void
test_set_total_cap(void **state)
{
	struct tstore *s = tstore_new(100);
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN], t3[TICKET_BUFLEN];
	struct ticket_grant *got = NULL;

	(void)state;
	tstore_set_limits(s, 2, 0);
	/* No per-certificate cap: one certificate may fill the store. */
	assert_int_equal(issue_for(s, FPR_A, T0, t1), 0);
	assert_int_equal(issue_for(s, FPR_A, T0, t2), 0);
	assert_int_equal(issue_for(s, FPR_B, T0, t3), ERR_FULL);
	/* The oldest was not evicted to make room. */
	assert_int_equal(tstore_take(s, t1, T0 + 1, &got), 0);
	ticket_grant_free(&got);
	/* A total cap of 0 is no cap: ignored, 2 stays. */
	tstore_set_limits(s, 0, 0);
	assert_int_equal(issue_for(s, FPR_B, T0, t3), 0);
	assert_int_equal(issue_for(s, FPR_B, T0, t1), ERR_FULL);
	/* Raising it takes effect at once. */
	tstore_set_limits(s, 3, 0);
	assert_int_equal(issue_for(s, FPR_B, T0, t1), 0);
	assert_int_equal(tstore_count(s), 3);
	tstore_set_limits(NULL, 3, 0);
	tstore_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_take_once),
		cmocka_unit_test(test_unknown_ticket),
		cmocka_unit_test(test_expiry_boundary),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_issue_bad_args),
		cmocka_unit_test(test_distinct_form),
		cmocka_unit_test(test_expire_count),
		cmocka_unit_test(test_check_user),
		cmocka_unit_test(test_check_addr_v4),
		cmocka_unit_test(test_check_addr_v6),
		cmocka_unit_test(test_check_empty_rhost),
		cmocka_unit_test(test_check_unbound),
		cmocka_unit_test(test_per_cert_cap),
		cmocka_unit_test(test_per_cert_expiry),
		cmocka_unit_test(test_set_total_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
