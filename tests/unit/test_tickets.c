#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "proto.h"
#include "testcert.h"
#include "tickets.h"

#define T0 ((time_t)1700000000)
#define LIFETIME 60u

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* --- calloc as the store calls it ---------------------------------------
 *
 * The test is linked with -Wl,--wrap=calloc, so calls from this link's
 * objects (tickets.o and the rest of libmtls, not OpenSSL's) come here.
 * A calloc of more than 16 pointers is a bucket table growing (nothing
 * else this test runs allocates such an array): counted, and refused
 * while refuse_tables is set. */

void *__real_calloc(size_t k, size_t n);
void *__wrap_calloc(size_t k, size_t n);

#define MIN_BUCKETS 16

static struct {
	int refuse_tables;
	size_t tables;     /* table allocations asked for */
	size_t refused;
} cal;

void *
__wrap_calloc(size_t k, size_t n)
{
	if (n == sizeof(void *) && k > MIN_BUCKETS) {
		cal.tables++;
		if (cal.refuse_tables) {
			cal.refused++;
			return NULL;
		}
	}
	return __real_calloc(k, n);
}

static struct ticket_grant *
grant_new(const char *user, const char *addr)
{
	struct ticket_grant *g = NULL;
	struct ident *id = calloc(1, sizeof(*id));

	assert_non_null(id);
	id->subject = strdup("CN=alice");
	assert_non_null(id->subject);
	assert_int_equal(ticket_grant_new(user, "alice", addr, &id, &g), 0);
	assert_null(id);
	assert_non_null(g);
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

/* --- grants ------------------------------------------------------------ */

static void
test_grant_new(void **state)
{
	char user[] = "root", rule[] = "admins", addr[] = "2001:db8::7";
	struct ident *id = calloc(1, sizeof(*id)), *mine;
	struct ticket_grant *g = NULL;

	(void)state;
	assert_non_null(id);
	mine = id;
	assert_int_equal(ticket_grant_new(user, rule, addr, &id, &g), 0);
	assert_null(id);
	assert_ptr_equal(g->id, mine);
	/* Copies: the caller's strings may change or go. */
	memset(user, 'x', sizeof(user) - 1);
	memset(rule, 'x', sizeof(rule) - 1);
	memset(addr, 'x', sizeof(addr) - 1);
	assert_string_equal(g->user, "root");
	assert_string_equal(g->rule, "admins");
	assert_string_equal(g->addr, "2001:db8::7");
	assert_int_equal(g->expires, 0);
	ticket_grant_free(&g);
	assert_null(g);

	/* No address: unbound, "". */
	assert_non_null(id = calloc(1, sizeof(*id)));
	assert_int_equal(ticket_grant_new("root", "r", NULL, &id, &g), 0);
	assert_string_equal(g->addr, "");
	assert_string_equal(g->rule, "r");
	ticket_grant_free(&g);
	assert_non_null(id = calloc(1, sizeof(*id)));
	assert_int_equal(ticket_grant_new("", "", "", &id, &g), 0);
	assert_string_equal(g->user, "");
	ticket_grant_free(&g);
}

static void
test_grant_new_bad_args(void **state)
{
	struct ident *id = calloc(1, sizeof(*id)), *none = NULL, *mine = id;
	struct ticket_grant *g = NULL;

	(void)state;
	assert_non_null(id);
	assert_int_equal(ticket_grant_new(NULL, "r", "", &id, &g),
	    ERR_INVALID);
	assert_int_equal(ticket_grant_new("root", NULL, "", &id, &g),
	    ERR_INVALID);
	assert_int_equal(ticket_grant_new("root", "r", "", NULL, &g),
	    ERR_INVALID);
	assert_int_equal(ticket_grant_new("root", "r", "", &none, &g),
	    ERR_INVALID);
	assert_int_equal(ticket_grant_new("root", "r", "", &id, NULL),
	    ERR_INVALID);
	/* Every refusal left the ident with the caller, and made nothing. */
	assert_ptr_equal(id, mine);
	assert_null(g);
	ident_free(&id);
}

/* --- one ident per certificate ------------------------------------------ */

/* A self-signed leaf for key with the given serial: same subject and SANs
 * whatever the serial, so only the fingerprint tells two apart. */
static X509 *
cert_new(EVP_PKEY *key, const char *serial)
{
	static const struct tc_ava subject[] = {
		{ "O", "Example", 0, 0 }, { "CN", "alice", 0, 0 },
	};
	static const struct tc_san sans[] = {
		{ GEN_EMAIL, "alice@example.com", 0 },
		{ GEN_DNS, "alice.example.com", 0 },
	};
	struct tc_leaf spec = {
		.subject = subject, .n_subject = 2, .serial = serial,
		.not_before = -60, .not_after = 3600, .eku = TC_EKU_CLIENT,
		.sans = sans, .n_sans = 2,
	};
	X509 *x = tc_leaf_new(&spec, key, NULL, NULL);

	assert_non_null(x);
	return x;
}

/* A grant with an ident of its own from x, as the daemon makes them. */
static struct ticket_grant *
grant_of(X509 *x)
{
	struct ticket_grant *g = NULL;
	struct ident *id = NULL;

	assert_int_equal(ident_from_x509(x, &id), 0);
	assert_int_equal(ticket_grant_new("root", "r1", "192.0.2.1", &id, &g),
	    0);
	assert_null(id);
	return g;
}

static void
assert_alice(const struct ident *id)
{
	assert_string_equal(id->subject, "CN=alice,O=Example");
	assert_int_equal(id->n_san_email, 1);
	assert_string_equal(id->san_email[0], "alice@example.com");
	assert_int_equal(id->n_san_dns, 1);
	assert_string_equal(id->san_dns[0], "alice.example.com");
	assert_int_equal(strlen(id->fingerprint), IDENT_FPR_LEN);
}

struct pki {
	EVP_PKEY *key;
	X509 *a, *a2, *b;   /* a2: a second copy of a's DER */
};

static int
pki_setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));
	unsigned char *der = NULL;
	const unsigned char *q;
	int len;

	if (p == NULL || (p->key = tc_key_new()) == NULL)
		return -1;
	p->a = cert_new(p->key, "0A");
	p->b = cert_new(p->key, "0B");
	if ((len = i2d_X509(p->a, &der)) <= 0)
		return -1;
	q = der;
	p->a2 = d2i_X509(NULL, &q, len);
	OPENSSL_free(der);
	if (p->a2 == NULL)
		return -1;
	*state = p;
	return 0;
}

static int
pki_teardown(void **state)
{
	struct pki *p = *state;

	X509_free(p->a);
	X509_free(p->a2);
	X509_free(p->b);
	EVP_PKEY_free(p->key);
	free(p);
	return 0;
}

/* Two tickets of one certificate hold one ident; each holder keeps it
 * alive; the tally lets go of it with the certificate's last ticket. */
static void
test_share_one_cert(void **state)
{
	struct pki *p = *state;
	struct tstore *s = tstore_new(8);
	struct ticket_grant *g1 = grant_of(p->a), *g2 = grant_of(p->a2);
	struct ticket_grant *got1 = NULL, *got2 = NULL;
	struct ident *own1 = g1->id, *own2 = g2->id;
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN];

	assert_ptr_not_equal(own1, own2);
	assert_string_equal(own1->fingerprint, own2->fingerprint);
	assert_int_equal(tstore_issue(s, &g1, T0, LIFETIME, t1), 0);
	assert_int_equal(tstore_issue(s, &g2, T0, LIFETIME, t2), 0);
	/* The first grant's ident: the first grant, the tally, the second
	 * grant. The second's copy is gone. */
	assert_int_equal(own1->refs, 3);

	assert_int_equal(tstore_take(s, t1, T0 + 1, &got1), 0);
	assert_int_equal(tstore_take(s, t2, T0 + 1, &got2), 0);
	assert_ptr_equal(got1->id, got2->id);
	assert_ptr_equal(got1->id, own1);
	assert_ptr_not_equal(got2->id, own2);
	/* The last ticket is taken: the tally's reference went with it. */
	assert_int_equal(got1->id->refs, 2);
	assert_int_equal(tstore_count_for(s, own1->fingerprint), 0);

	/* The first grant goes; the second's ident is intact (a freed one
	 * read here is what valgrind and ASan report). */
	ticket_grant_free(&got1);
	assert_int_equal(got2->id->refs, 1);
	assert_alice(got2->id);
	ticket_grant_free(&got2);
	tstore_free(&s);
}

/* The tally's reference also goes when the certificate's last ticket
 * expires, and with the store. */
static void
test_share_released_on_expiry(void **state)
{
	struct pki *p = *state;
	struct tstore *s = tstore_new(8);
	struct ticket_grant *g1 = grant_of(p->a), *g2 = grant_of(p->a);
	struct ticket_grant *got = NULL;
	struct ident *shared = g1->id;
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN], fpr[IDENT_FPR_LEN + 1];

	assert_int_equal(tstore_issue(s, &g1, T0, LIFETIME, t1), 0);
	assert_int_equal(tstore_issue(s, &g2, T0 + 10, LIFETIME, t2), 0);
	assert_int_equal(tstore_take(s, t1, T0 + 1, &got), 0);
	assert_ptr_equal(got->id, shared);
	/* Ours, the tally's and the outstanding ticket's. */
	assert_int_equal(shared->refs, 3);
	assert_int_equal(tstore_expire(s, T0 + 10 + (time_t)LIFETIME), 1);
	assert_int_equal(shared->refs, 1);
	assert_int_equal(tstore_count_for(s, shared->fingerprint), 0);
	assert_alice(got->id);
	ticket_grant_free(&got);

	/* Tickets left in the store at its end: valgrind sees every
	 * reference dropped. */
	g1 = grant_of(p->a);
	g2 = grant_of(p->a2);
	memcpy(fpr, g1->id->fingerprint, sizeof(fpr));
	assert_int_equal(tstore_issue(s, &g1, T0, LIFETIME, t1), 0);
	assert_int_equal(tstore_issue(s, &g2, T0, LIFETIME, t2), 0);
	assert_int_equal(tstore_count_for(s, fpr), 2);
	tstore_free(&s);
}

/* A refused issue leaves the grant as it was, its own ident included. */
static void
test_share_not_on_refusal(void **state)
{
	struct pki *p = *state;
	struct tstore *s = tstore_new(8);
	struct ticket_grant *g1 = grant_of(p->a), *g2 = grant_of(p->a);
	struct ident *own2 = g2->id;
	char t1[TICKET_BUFLEN], t2[TICKET_BUFLEN];

	tstore_set_limits(s, 8, 1);
	assert_int_equal(tstore_issue(s, &g1, T0, LIFETIME, t1), 0);
	assert_int_equal(tstore_issue(s, &g2, T0, LIFETIME, t2), ERR_DENIED);
	assert_ptr_equal(g2->id, own2);
	assert_int_equal(own2->refs, 1);
	tstore_set_limits(s, 1, 0);
	assert_int_equal(tstore_issue(s, &g2, T0, LIFETIME, t2), ERR_FULL);
	assert_ptr_equal(g2->id, own2);
	assert_alice(g2->id);
	ticket_grant_free(&g2);
	tstore_free(&s);
}

/* Different certificates (same subject and SANs, another serial) never
 * share; nor do idents with no fingerprint. */
static void
test_no_share_across_certs(void **state)
{
	struct pki *p = *state;
	struct tstore *s = tstore_new(8);
	struct ticket_grant *ga = grant_of(p->a), *gb = grant_of(p->b);
	struct ticket_grant *gn1 = grant_new("root", ""), *gn2;
	struct ticket_grant *got_a = NULL, *got_b = NULL, *got1 = NULL;
	struct ticket_grant *got2 = NULL;
	struct ident *n1 = gn1->id, *n2;
	char ta[TICKET_BUFLEN], tb[TICKET_BUFLEN], t1[TICKET_BUFLEN];
	char t2[TICKET_BUFLEN], fa[IDENT_FPR_LEN + 1], fb[IDENT_FPR_LEN + 1];

	gn2 = grant_new("root", "");
	n2 = gn2->id;
	memcpy(fa, ga->id->fingerprint, sizeof(fa));
	memcpy(fb, gb->id->fingerprint, sizeof(fb));
	assert_string_not_equal(fa, fb);
	assert_int_equal(tstore_issue(s, &ga, T0, LIFETIME, ta), 0);
	assert_int_equal(tstore_issue(s, &gb, T0, LIFETIME, tb), 0);
	assert_int_equal(tstore_issue(s, &gn1, T0, LIFETIME, t1), 0);
	assert_int_equal(tstore_issue(s, &gn2, T0, LIFETIME, t2), 0);
	assert_int_equal(tstore_count_for(s, fa), 1);
	assert_int_equal(tstore_count_for(s, fb), 1);

	assert_int_equal(tstore_take(s, ta, T0, &got_a), 0);
	assert_int_equal(tstore_take(s, tb, T0, &got_b), 0);
	assert_ptr_not_equal(got_a->id, got_b->id);
	assert_string_equal(got_a->id->fingerprint, fa);
	assert_string_equal(got_b->id->fingerprint, fb);
	assert_string_equal(got_a->id->serial, "0A");
	assert_string_equal(got_b->id->serial, "0B");
	assert_int_equal(got_a->id->refs, 1);
	assert_int_equal(got_b->id->refs, 1);

	assert_int_equal(tstore_take(s, t1, T0, &got1), 0);
	assert_int_equal(tstore_take(s, t2, T0, &got2), 0);
	assert_ptr_equal(got1->id, n1);
	assert_ptr_equal(got2->id, n2);
	ticket_grant_free(&got_a);
	ticket_grant_free(&got_b);
	ticket_grant_free(&got1);
	ticket_grant_free(&got2);
	tstore_free(&s);
}

/* --- growth -------------------------------------------------------------- */

#define N_GROW 20000
#define N_CERTS 50

/* Deterministic, so that a failure repeats. */
static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void
fpr_of(size_t i, char out[IDENT_FPR_LEN + 1])
{
	snprintf(out, IDENT_FPR_LEN + 1, "sha256:%064zx", i);
}

struct many {
	char (*t)[TICKET_BUFLEN];
	size_t *order;
	size_t n;
};

/* Issues n tickets round-robin over n_certs certificates. */
static void
many_issue(struct tstore *s, struct many *m, size_t n, size_t n_certs,
    time_t now)
{
	char fpr[IDENT_FPR_LEN + 1];
	uint32_t x = 2463534242u;
	size_t i, j, tmp;

	/* malloc: the calloc wrapper counts tables, not these. */
	m->t = malloc(n * sizeof(*m->t));
	m->order = malloc(n * sizeof(*m->order));
	assert_non_null(m->t);
	assert_non_null(m->order);
	m->n = n;
	for (i = 0; i < n; i++) {
		fpr_of(i % n_certs, fpr);
		assert_int_equal(issue_for(s, fpr, now, m->t[i]), 0);
		m->order[i] = i;
	}
	for (i = n; i-- > 1;) {
		j = rnd(&x) % (i + 1);
		tmp = m->order[i];
		m->order[i] = m->order[j];
		m->order[j] = tmp;
	}
}

static void
many_free(struct many *m)
{
	free(m->t);
	free(m->order);
}

/* Every ticket is found exactly once, in a shuffled order, after the
 * tables grew from 16 buckets to hold them. */
static void
test_growth_take_all(void **state)
{
	struct tstore *s;
	struct ticket_grant *got = NULL;
	struct many m;
	char fpr[IDENT_FPR_LEN + 1];
	size_t i, k;

	(void)state;
	memset(&cal, 0, sizeof(cal));
	/* The bench's max: no table is sized for it up front. */
	assert_non_null(s = tstore_new(1000000));
	assert_int_equal(cal.tables, 0);
	many_issue(s, &m, N_GROW, N_CERTS, T0);
	/* 16 -> 32768 buckets for 20,000 tickets, 16 -> 64 for 50
	 * certificates: a doubling each time, none refused. */
	assert_int_equal(cal.tables, 11 + 2);
	assert_int_equal(tstore_count(s), N_GROW);
	fpr_of(7, fpr);
	assert_int_equal(tstore_count_for(s, fpr), N_GROW / N_CERTS);

	for (k = 0; k < N_GROW; k++) {
		i = m.order[k];
		assert_int_equal(tstore_take(s, m.t[i], T0 + 1, &got), 0);
		fpr_of(i % N_CERTS, fpr);
		assert_string_equal(got->id->fingerprint, fpr);
		ticket_grant_free(&got);
		assert_int_equal(tstore_count(s), N_GROW - k - 1);
	}
	assert_int_equal(tstore_count(s), 0);
	fpr_of(7, fpr);
	assert_int_equal(tstore_count_for(s, fpr), 0);
	for (i = 0; i < N_GROW; i++) {
		assert_int_equal(tstore_take(s, m.t[i], T0 + 1, &got),
		    ERR_NOTFOUND);
		assert_null(got);
	}
	many_free(&m);
	tstore_free(&s);
}

static void
test_growth_expire(void **state)
{
	struct tstore *s = tstore_new(N_GROW);
	struct ticket_grant *got = NULL;
	struct many m;
	char fpr[IDENT_FPR_LEN + 1];
	size_t i;

	(void)state;
	many_issue(s, &m, N_GROW, N_CERTS, T0);
	assert_int_equal(tstore_expire(s, T0 + (time_t)LIFETIME - 1), 0);
	assert_int_equal(tstore_count(s), N_GROW);
	assert_int_equal(tstore_expire(s, T0 + (time_t)LIFETIME), N_GROW);
	assert_int_equal(tstore_count(s), 0);
	for (i = 0; i < N_CERTS; i++) {
		fpr_of(i, fpr);
		assert_int_equal(tstore_count_for(s, fpr), 0);
	}
	for (i = 0; i < N_GROW; i += 97)
		assert_int_equal(tstore_take(s, m.t[i], T0, &got),
		    ERR_NOTFOUND);
	/* The grown, emptied store still takes and finds tickets. */
	fpr_of(3, fpr);
	assert_int_equal(issue_for(s, fpr, T0 + 100, m.t[0]), 0);
	assert_int_equal(tstore_take(s, m.t[0], T0 + 100, &got), 0);
	ticket_grant_free(&got);
	many_free(&m);
	tstore_free(&s);
}

/* The per-certificate cap holds across doublings of both tables. */
static void
test_growth_per_cert_cap(void **state)
{
	struct tstore *s = tstore_new(N_GROW);
	struct ticket_grant *got = NULL;
	struct many m;
	char fpr[IDENT_FPR_LEN + 1], t[TICKET_BUFLEN];
	size_t i;

	(void)state;
	tstore_set_limits(s, N_GROW, N_GROW / N_CERTS);
	many_issue(s, &m, N_GROW, N_CERTS, T0);
	/* Room in all: each certificate is refused by its own cap. */
	tstore_set_limits(s, N_GROW + 10, N_GROW / N_CERTS);
	for (i = 0; i < N_CERTS; i++) {
		fpr_of(i, fpr);
		assert_int_equal(tstore_count_for(s, fpr), N_GROW / N_CERTS);
		assert_int_equal(issue_for(s, fpr, T0 + 1, t), ERR_DENIED);
		assert_int_equal(tstore_count_for(s, fpr), N_GROW / N_CERTS);
	}
	assert_int_equal(tstore_count(s), N_GROW);
	/* A certificate not yet seen is not. */
	fpr_of(N_CERTS, fpr);
	assert_int_equal(issue_for(s, fpr, T0 + 1, t), 0);
	/* Taking one of certificate 0's makes room for one, not two. */
	assert_int_equal(tstore_take(s, m.t[0], T0 + 1, &got), 0);
	ticket_grant_free(&got);
	fpr_of(0, fpr);
	assert_int_equal(issue_for(s, fpr, T0 + 1, t), 0);
	assert_int_equal(issue_for(s, fpr, T0 + 1, t), ERR_DENIED);
	assert_int_equal(tstore_count(s), N_GROW + 1);
	many_free(&m);
	tstore_free(&s);
}

/* A doubling that cannot be allocated keeps the old table: everything
 * issued is still found; growth resumes when memory is back. */
static void
test_growth_refused(void **state)
{
	struct tstore *s = tstore_new(N_GROW);
	struct ticket_grant *got = NULL;
	struct many m;
	char fpr[IDENT_FPR_LEN + 1];
	size_t i;

	(void)state;
	memset(&cal, 0, sizeof(cal));
	cal.refuse_tables = 1;
	many_issue(s, &m, 2000, N_CERTS, T0);
	cal.refuse_tables = 0;
	/* Both tables tried to grow, again and again. */
	assert_true(cal.refused > 2);
	assert_int_equal(cal.tables, cal.refused);
	assert_int_equal(tstore_count(s), 2000);
	for (i = 0; i < N_CERTS; i++) {
		fpr_of(i, fpr);
		assert_int_equal(tstore_count_for(s, fpr), 2000 / N_CERTS);
	}
	for (i = 0; i < 1000; i++) {
		assert_int_equal(tstore_take(s, m.t[m.order[i]], T0, &got), 0);
		ticket_grant_free(&got);
	}
	many_free(&m);

	/* Memory is back: the next issue that overfills grows the tables. */
	many_issue(s, &m, 2000, N_CERTS, T0);
	assert_true(cal.tables > cal.refused);
	assert_int_equal(tstore_count(s), 3000);
	for (i = 0; i < 2000; i++) {
		assert_int_equal(tstore_take(s, m.t[i], T0, &got), 0);
		ticket_grant_free(&got);
	}
	assert_int_equal(tstore_count(s), 1000);
	many_free(&m);
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
		cmocka_unit_test(test_grant_new),
		cmocka_unit_test(test_grant_new_bad_args),
		cmocka_unit_test_setup_teardown(test_share_one_cert, pki_setup,
		    pki_teardown),
		cmocka_unit_test_setup_teardown(test_share_released_on_expiry,
		    pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_share_not_on_refusal,
		    pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_no_share_across_certs,
		    pki_setup, pki_teardown),
		cmocka_unit_test(test_growth_take_all),
		cmocka_unit_test(test_growth_expire),
		cmocka_unit_test(test_growth_per_cert_cap),
		cmocka_unit_test(test_growth_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
