#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

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

/* policy_decide for user with nothing else known or checked. */
static int
decide(const struct policy *p, const struct ident *id, const char *user,
    struct decision *d)
{
	struct policy_ctx ctx = { .user = user };

	return policy_decide(p, id, &ctx, d);
}

static int
users_of(const struct policy *p, const struct ident *id, const char ***u,
    size_t *n)
{
	struct policy_ctx ctx = { 0 };

	return policy_users(p, id, &ctx, u, n);
}

static void
test_grant(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct decision d;

	(void)state;
	assert_int_equal(decide(&pol, &id, "root", &d), 0);
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
	assert_int_equal(decide(&pol, &id, "bob", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_null(d.rule);
	assert_string_equal(d.reason,
	    "rules match the certificate but none grants user 'bob'");
}

static void
test_no_subject_match(void **state)
{
	/* Same CN, different DN: the whole subject must match. */
	struct ident id = ident_of(subj_alice_no_ou);
	struct ident none = ident_of(NULL);
	struct decision d;

	(void)state;
	assert_int_equal(decide(&pol, &id, "root", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_null(d.rule);
	assert_string_equal(d.reason, "no rule matches the certificate");
	assert_int_equal(decide(&pol, &none, "root", &d), ERR_DENIED);
	assert_string_equal(d.reason, "no rule matches the certificate");
}

static void
test_all_rules_evaluated(void **state)
{
	struct ident id = ident_of(subj_alice);
	struct decision d;

	(void)state;
	/* Only the third rule grants backup: evaluation went past the first
	 * matching rule. */
	assert_int_equal(decide(&pol, &id, "backup", &d), 0);
	assert_ptr_equal(d.rule, &rules[2]);
	assert_string_equal(d.reason, "granted by rule 'alice-more'");
	/* admin is granted by both: the first in order is named. */
	assert_int_equal(decide(&pol, &id, "admin", &d), 0);
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
	assert_int_equal(decide(NULL, &id, "root", &d), ERR_INVALID);
	assert_int_equal(d.granted, 0);
	assert_int_equal(decide(&pol, NULL, "root", &d), ERR_INVALID);
	assert_int_equal(decide(&pol, &id, NULL, &d), ERR_INVALID);
	assert_int_equal(decide(&pol, &id, "root", NULL), ERR_INVALID);
	/* A bad name is refused and not echoed into the reason. */
	assert_int_equal(decide(&pol, &id, "ro\not", &d), ERR_DENIED);
	assert_int_equal(d.granted, 0);
	assert_string_equal(d.reason, "invalid user name");
	assert_int_equal(decide(&empty, &id, "root", &d), ERR_DENIED);
	assert_string_equal(d.reason, "no rule matches the certificate");
}

static void
test_users_dedup_order(void **state)
{
	struct ident id = ident_of(subj_alice);
	const char **u = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(users_of(&pol, &id, &u, &n), 0);
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
	assert_int_equal(users_of(&pol, &id, &u, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(u);
	assert_null(u[0]);
	free(u);
	assert_int_equal(users_of(NULL, &id, &u, &n), ERR_INVALID);
	assert_int_equal(users_of(&pol, NULL, &u, &n), ERR_INVALID);
	assert_int_equal(users_of(&pol, &id, NULL, &n), ERR_INVALID);
	assert_int_equal(users_of(&pol, &id, &u, NULL), ERR_INVALID);
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

/* --- match keys ----------------------------------------------------------- */

static char root_name[] = "root";
static char *root_only[] = { root_name };

/* A certificate identity with one of everything. The subject has a
 * multi-valued RDN (OU=ops+UID=alice). */
static struct ident_ava full_avas[] = {
	{ .type = "O", .value = "Example" },
	{ .type = "OU", .value = "ops" },
	{ .type = "UID", .value = "alice" },
	{ .type = "CN", .value = "alice" },
};
static char *full_emails[] = { "Alice.S@Example.ORG", "al@corp.example" };
static char *full_locals[] = { "Alice.S", "al" };
static char *full_dns[] = { "ws1.example.org" };
static char *full_uris[] = { "spiffe://example.org/admin/alice" };
static char *full_oids[] = { "1.3.6.1.4.1.99999.1" };
static char full_subject[] = "CN=alice,OU=ops+UID=alice,O=Example";
static char full_issuer[] = "CN=Example Root,O=Example";
static char full_serial[] = "0ABC01";

static struct ident
full_ident(void)
{
	struct ident id;

	memset(&id, 0, sizeof(id));
	id.subject = full_subject;
	id.issuer = full_issuer;
	id.serial = full_serial;
	snprintf(id.fingerprint, sizeof(id.fingerprint), "sha256:%064d", 7);
	id.san_email = full_emails;
	id.san_email_local = full_locals;
	id.n_san_email = 2;
	id.san_dns = full_dns;
	id.n_san_dns = 1;
	id.san_uri = full_uris;
	id.n_san_uri = 1;
	id.avas = full_avas;
	id.n_avas = 4;
	id.policy_oids = full_oids;
	id.n_policy_oids = 1;
	return id;
}

/* Decides "root" for id against the single rule r (no index, then with
 * one: both must agree) and returns whether it was granted. */
static int
one_rule_grants(struct rule *r, const struct ident *id)
{
	struct policy p = { .rules = r, .n_rules = 1 };
	struct decision d, d2;
	int a, b;

	if (r->users == NULL && !r->deny) {
		r->users = root_only;
		r->n_users = 1;
	}
	a = decide(&p, id, "root", &d);
	assert_int_equal(policy_index_build(&p), 0);
	b = decide(&p, id, "root", &d2);
	assert_int_equal(a, b);
	assert_int_equal(d.granted, d2.granted);
	policy_clear(&(struct policy){ .index = p.index });
	assert_true(a == 0 || a == ERR_DENIED);
	return a == 0 && d.granted;
}

static void
test_key_subject(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r", .subject = full_subject };
	struct rule no = { .name = "r", .subject = "CN=alice,O=Example" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&no, &id));
}

static void
test_key_subject_attrs(void **state)
{
	struct ident id = full_ident();
	struct rule_attr ops[] = { { "O", "Example" }, { "OU", "ops" } };
	/* UID sits in a multi-valued RDN beside OU. */
	struct rule_attr multi[] = { { "UID", "alice" }, { "OU", "ops" } };
	struct rule_attr wrong_type[] = { { "O", "ops" } };
	struct rule_attr one_missing[] = { { "O", "Example" }, { "OU", "dev" } };
	struct rule_attr prefix[] = { { "OU", "op" } };
	struct rule r = { .name = "r" };

	(void)state;
	r.attrs = ops, r.n_attrs = 2;
	assert_true(one_rule_grants(&r, &id));
	r.attrs = multi, r.n_attrs = 2;
	assert_true(one_rule_grants(&r, &id));
	r.attrs = wrong_type, r.n_attrs = 1;
	assert_false(one_rule_grants(&r, &id));
	r.attrs = one_missing, r.n_attrs = 2;
	assert_false(one_rule_grants(&r, &id));
	r.attrs = prefix, r.n_attrs = 1;
	assert_false(one_rule_grants(&r, &id));
}

static void
test_key_issuer(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r", .issuer = full_issuer };
	struct rule no = { .name = "r", .issuer = "CN=Other Root,O=Example" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&no, &id));
}

static void
test_key_san_email(void **state)
{
	struct ident id = full_ident();
	/* Rules hold the domain lowercased; the certificate's is not. */
	struct rule yes = { .name = "r", .san_email = "Alice.S@example.org" };
	struct rule second = { .name = "r", .san_email = "al@corp.example" };
	struct rule local_case = { .name = "r",
	    .san_email = "alice.s@example.org" };
	struct rule no = { .name = "r", .san_email = "bob@example.org" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_true(one_rule_grants(&second, &id));
	assert_false(one_rule_grants(&local_case, &id));
	assert_false(one_rule_grants(&no, &id));
}

static void
test_key_san_email_domain(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r", .san_email_domain = "example.org" };
	struct rule sub = { .name = "r", .san_email_domain = "org" };
	struct rule no = { .name = "r", .san_email_domain = "example.com" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&sub, &id));
	assert_false(one_rule_grants(&no, &id));
}

static void
test_key_san_dns(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r", .san_dns = "ws1.example.org" };
	struct rule no = { .name = "r", .san_dns = "ws2.example.org" };

	(void)state;
	full_dns[0] = "WS1.Example.ORG"; /* DNS names ignore case */
	assert_true(one_rule_grants(&yes, &id));
	full_dns[0] = "ws1.example.org";
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&no, &id));
}

static void
test_key_san_uri(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r",
	    .san_uri = "spiffe://example.org/admin/alice" };
	struct rule other = { .name = "r",
	    .san_uri = "spiffe://example.org/admin/bob" };
	struct rule prefix = { .name = "r",
	    .san_uri = "spiffe://example.org/admin" };
	struct rule cased = { .name = "r",
	    .san_uri = "spiffe://example.org/admin/Alice" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&other, &id));
	assert_false(one_rule_grants(&prefix, &id));
	assert_false(one_rule_grants(&cased, &id));
}

static void
test_key_serial_fingerprint(void **state)
{
	struct ident id = full_ident();
	struct rule serial = { .name = "r", .serial = "0ABC01" };
	struct rule serial_no = { .name = "r", .serial = "0ABC02" };
	struct rule fpr = { .name = "r" };
	struct rule fpr_no = { .name = "r" };
	char want[IDENT_FPR_LEN + 1], other[IDENT_FPR_LEN + 1];

	(void)state;
	snprintf(want, sizeof(want), "sha256:%064d", 7);
	snprintf(other, sizeof(other), "sha256:%064d", 8);
	fpr.fingerprint = want;
	fpr_no.fingerprint = other;
	assert_true(one_rule_grants(&serial, &id));
	assert_false(one_rule_grants(&serial_no, &id));
	assert_true(one_rule_grants(&fpr, &id));
	assert_false(one_rule_grants(&fpr_no, &id));
}

static void
test_key_policy_oid(void **state)
{
	struct ident id = full_ident();
	struct rule yes = { .name = "r", .policy_oid = "1.3.6.1.4.1.99999.1" };
	struct rule no = { .name = "r", .policy_oid = "1.3.6.1.4.1.99999.2" };

	(void)state;
	assert_true(one_rule_grants(&yes, &id));
	assert_false(one_rule_grants(&no, &id));
	id.n_policy_oids = 0;
	assert_false(one_rule_grants(&yes, &id));
}

/* Several keys: every one must hold. */
static void
test_keys_all_must_hold(void **state)
{
	struct ident id = full_ident();
	struct rule_attr ops[] = { { "OU", "ops" } };
	struct rule r = { .name = "r", .issuer = full_issuer,
	    .san_uri = "spiffe://example.org/admin/alice", .attrs = ops,
	    .n_attrs = 1, .policy_oid = "1.3.6.1.4.1.99999.1" };

	(void)state;
	assert_true(one_rule_grants(&r, &id));
	r.issuer = "CN=Other";
	assert_false(one_rule_grants(&r, &id));
	r.issuer = full_issuer;
	r.san_dns = "nope.example.org";
	assert_false(one_rule_grants(&r, &id));
}

/* --- grants --------------------------------------------------------------- */

static void
test_templates(void **state)
{
	struct ident id = full_ident();
	char *cn[] = { "%{cn}" }, *uid[] = { "%{uid}" };
	char *local[] = { "%{email.local}" };
	struct rule r = { .name = "t", .issuer = full_issuer, .n_users = 1 };
	struct policy p = { .rules = &r, .n_rules = 1 };
	struct ident_ava bad_cn[] = { { "CN", "Alice Smith" },
	    { "CN", "-x" } };
	struct decision d;

	(void)state;
	r.users = cn;
	assert_int_equal(decide(&p, &id, "alice", &d), 0);
	assert_int_equal(decide(&p, &id, "root", &d), ERR_DENIED);
	/* The literal template text is not a user it grants. */
	assert_int_equal(decide(&p, &id, "ops", &d), ERR_DENIED);
	r.users = uid;
	assert_int_equal(decide(&p, &id, "alice", &d), 0);
	r.users = local;
	assert_int_equal(decide(&p, &id, "Alice.S", &d), 0);
	assert_int_equal(decide(&p, &id, "al", &d), 0);
	assert_int_equal(decide(&p, &id, "alice", &d), ERR_DENIED);
	/* A CN that is not a valid user name yields nothing. */
	id.avas = bad_cn;
	id.n_avas = 2;
	r.users = cn;
	assert_int_equal(decide(&p, &id, "Alice", &d), ERR_DENIED);
	assert_int_equal(decide(&p, &id, "x", &d), ERR_DENIED);
	r.users = uid;  /* no UID at all */
	assert_int_equal(decide(&p, &id, "alice", &d), ERR_DENIED);
}

static void
test_template_kinds(void **state)
{
	(void)state;
	assert_int_equal(policy_user_template("root"), TMPL_NONE);
	assert_int_equal(policy_user_template("%{cn}"), TMPL_CN);
	assert_int_equal(policy_user_template("%{uid}"), TMPL_UID);
	assert_int_equal(policy_user_template("%{email.local}"),
	    TMPL_EMAIL_LOCAL);
	assert_int_equal(policy_user_template("%{CN}"), TMPL_UNKNOWN);
	assert_int_equal(policy_user_template("x%{cn}"), TMPL_UNKNOWN);
	assert_int_equal(policy_user_template("%{email}"), TMPL_UNKNOWN);
}

static void
test_users_templates_listed(void **state)
{
	struct ident id = full_ident();
	char *users[] = { "%{cn}", "%{email.local}", "alice", "-bad" };
	struct rule r = { .name = "t", .issuer = full_issuer, .users = users,
	    .n_users = 4 };
	struct policy p = { .rules = &r, .n_rules = 1 };
	const char **u = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(users_of(&p, &id, &u, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(u[0], "alice");
	assert_string_equal(u[1], "Alice.S");
	assert_string_equal(u[2], "al");
	assert_null(u[3]);
	free(u);
}

static char *svc_sshd[] = { "sshd" };

static void
test_services(void **state)
{
	struct ident id = full_ident();
	struct rule r = { .name = "s", .subject = full_subject,
	    .users = root_only, .n_users = 1, .services = svc_sshd,
	    .n_services = 1 };
	struct policy p = { .rules = &r, .n_rules = 1 };
	struct policy_ctx ctx = { .user = "root", .check_service = 1,
	    .service = "sshd" };
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
	ctx.service = "sudo";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	assert_null(d.rule);
	assert_string_equal(d.reason, "rule 's' grants user 'root' but the "
	    "service is not in its services");
	ctx.service = NULL;  /* unknown: the restriction cannot be met */
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	ctx.service = "";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	ctx.check_service = 0;  /* ticket time: not part of the decision */
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
}

static struct policy_cidr
cidr(const char *s)
{
	struct policy_cidr c;

	assert_int_equal(policy_cidr_parse(s, &c), 0);
	return c;
}

static void
test_from(void **state)
{
	struct ident id = full_ident();
	struct policy_cidr nets[2];
	struct rule r = { .name = "f", .subject = full_subject,
	    .users = root_only, .n_users = 1, .from = nets, .n_from = 2 };
	struct policy p = { .rules = &r, .n_rules = 1 };
	struct policy_ctx ctx = { .user = "root", .check_addr = 1 };
	struct decision d;

	(void)state;
	nets[0] = cidr("10.0.0.0/8");
	nets[1] = cidr("2001:db8::/32");
	ctx.addr = "10.1.2.3";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
	ctx.addr = "::ffff:10.1.2.3";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
	ctx.addr = "2001:db8:1::5";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
	ctx.addr = "11.0.0.1";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	assert_string_equal(d.reason, "rule 'f' grants user 'root' but the "
	    "source address is not in its from");
	ctx.addr = "2001:db9::1";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	ctx.addr = "host.example.org";  /* a name is not an address */
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	ctx.addr = NULL;
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	ctx.check_addr = 0;
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
}

static void
test_cidr_edges(void **state)
{
	struct policy_cidr c;

	(void)state;
	c = cidr("10.0.0.0/8");
	assert_int_equal(policy_cidr_match(&c, "10.255.255.255"), 1);
	assert_int_equal(policy_cidr_match(&c, "9.255.255.255"), 0);
	assert_int_equal(policy_cidr_match(&c, "11.0.0.0"), 0);
	assert_int_equal(policy_cidr_match(&c, "::ffff:10.0.0.1"), 1);
	assert_int_equal(policy_cidr_match(&c, "::a00:1"), 0); /* not mapped */
	assert_int_equal(policy_cidr_match(&c, "nope"), ERR_INVALID);
	c = cidr("192.168.1.2/31");
	assert_int_equal(policy_cidr_match(&c, "192.168.1.3"), 1);
	assert_int_equal(policy_cidr_match(&c, "192.168.1.4"), 0);
	c = cidr("192.168.1.7");  /* bare: /32 */
	assert_int_equal(c.prefix, 32);
	assert_int_equal(policy_cidr_match(&c, "192.168.1.7"), 1);
	assert_int_equal(policy_cidr_match(&c, "192.168.1.6"), 0);
	c = cidr("0.0.0.0/0");
	assert_int_equal(policy_cidr_match(&c, "255.1.2.3"), 1);
	assert_int_equal(policy_cidr_match(&c, "::1"), 0); /* IPv6 */
	c = cidr("::1");
	assert_int_equal(c.prefix, 128);
	assert_int_equal(policy_cidr_match(&c, "::1"), 1);
	assert_int_equal(policy_cidr_match(&c, "::2"), 0);
	assert_int_equal(policy_cidr_match(&c, "127.0.0.1"), 0);
	c = cidr("fe80::/10");
	assert_int_equal(policy_cidr_match(&c, "febf::1"), 1);
	assert_int_equal(policy_cidr_match(&c, "fec0::1"), 0);
	c = cidr("::/0");
	assert_int_equal(policy_cidr_match(&c, "2001:db8::1"), 1);
	/* A mapped network is an IPv4 one. */
	c = cidr("::ffff:10.0.0.0/104");
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(policy_cidr_match(&c, "10.9.9.9"), 1);
	assert_int_equal(policy_cidr_match(&c, "11.9.9.9"), 0);
	assert_int_equal(policy_cidr_parse("10.0.0.0/33", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("10.0.0.1/8", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("10.0.0.0/", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("10.0.0.0/08", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("10.0.0.0/-1", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("/8", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("10.0.0/8", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("::1/129", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("fe80::1%eth0", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("::ffff:10.0.0.0/95", &c),
	    ERR_INVALID);
	assert_int_equal(policy_cidr_parse("host", &c), ERR_INVALID);
	assert_int_equal(policy_cidr_parse("", &c), ERR_INVALID);
}

/* --- deny ----------------------------------------------------------------- */

static void
test_deny_wins(void **state)
{
	struct ident id = full_ident();
	struct rule_attr ops[] = { { "OU", "ops" } };
	char *backup[] = { "backup" }, *both[] = { "root", "backup" };
	struct rule rules2[] = {
		{ .name = "allow", .attrs = ops, .n_attrs = 1, .users = both,
		  .n_users = 2 },
		{ .name = "no-backup", .issuer = full_issuer, .deny = 1,
		  .users = backup, .n_users = 1 },
		{ .name = "no-alice", .subject = "CN=alice,O=Elsewhere",
		  .deny = 1 },
	};
	struct policy p = { .rules = rules2, .n_rules = 3 };
	struct decision d;

	(void)state;
	/* A deny that lists users refuses only those. */
	assert_int_equal(decide(&p, &id, "root", &d), 0);
	assert_ptr_equal(d.rule, &rules2[0]);
	assert_int_equal(decide(&p, &id, "backup", &d), ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[1]);
	assert_string_equal(d.reason, "refused by deny rule 'no-backup'");
	/* A deny without users refuses everyone, after the allow rule. */
	rules2[2].subject = full_subject;
	assert_int_equal(decide(&p, &id, "root", &d), ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[2]);
	assert_int_equal(d.granted, 0);
	/* The first deny in rule order is named. */
	assert_int_equal(decide(&p, &id, "backup", &d), ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[1]);
}

static void
test_deny_restricted(void **state)
{
	struct ident id = full_ident();
	struct rule rules2[] = {
		{ .name = "allow", .subject = full_subject, .users = root_only,
		  .n_users = 1 },
		{ .name = "no-ssh", .subject = full_subject, .deny = 1,
		  .services = svc_sshd, .n_services = 1 },
	};
	struct policy p = { .rules = rules2, .n_rules = 2 };
	struct policy_ctx ctx = { .user = "root", .check_service = 1,
	    .service = "sudo" };
	struct decision d;

	(void)state;
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), 0);
	ctx.service = "sshd";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[1]);
	/* Unknown service: a deny fails closed. */
	ctx.service = NULL;
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[1]);
	/* Not checked: the rule applies as if it had no services. */
	ctx.check_service = 0;
	ctx.service = "sudo";
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_DENIED);
}

static void
test_users_after_deny(void **state)
{
	struct ident id = full_ident();
	char *allow[] = { "root", "backup", "%{cn}" }, *backup[] = { "backup" };
	struct rule rules2[] = {
		{ .name = "allow", .subject = full_subject, .users = allow,
		  .n_users = 3 },
		{ .name = "no-backup", .subject = full_subject, .deny = 1,
		  .users = backup, .n_users = 1 },
		{ .name = "no-one", .san_dns = "nomatch.example", .deny = 1 },
	};
	struct policy p = { .rules = rules2, .n_rules = 3 };
	const char **u = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(users_of(&p, &id, &u, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(u[0], "root");
	assert_string_equal(u[1], "alice");
	free(u);
	rules2[2].san_dns = "ws1.example.org";
	assert_int_equal(users_of(&p, &id, &u, &n), 0);
	assert_int_equal(n, 0);
	assert_null(u[0]);
	free(u);
}

/* --- the index ------------------------------------------------------------ */

/* n heap rules "rI" with subject CN=uI, users root; rule number `scan`
 * has no exact key (issuer only) instead. */
static void
many_rules(struct policy *p, size_t n, size_t scan)
{
	char buf[64];
	size_t i;

	memset(p, 0, sizeof(*p));
	assert_non_null(p->rules = calloc(n, sizeof(*p->rules)));
	p->n_rules = n;
	for (i = 0; i < n; i++) {
		struct rule *r = &p->rules[i];

		snprintf(buf, sizeof(buf), "r%zu", i);
		assert_non_null(r->name = strdup(buf));
		snprintf(buf, sizeof(buf), "CN=u%zu", i);
		if (i == scan)
			assert_non_null(r->issuer = strdup(full_issuer));
		else
			assert_non_null(r->subject = strdup(buf));
		assert_non_null(r->users = calloc(1, sizeof(char *)));
		assert_non_null(r->users[0] = strdup(i == scan ? "scan" :
		    "root"));
		r->n_users = 1;
	}
}

static void
test_index_candidates(void **state)
{
	struct ident id = full_ident();
	struct policy p;
	struct decision d;
	char subj[] = "CN=u7777";

	(void)state;
	many_rules(&p, 10000, 42);
	id.subject = subj;
	/* Without the index every rule is evaluated... */
	assert_int_equal(decide(&p, &id, "root", &d), 0);
	assert_string_equal(d.rule->name, "r7777");
	assert_int_equal(d.n_evaluated, 10000);
	/* ...with it, the one rule filed under the subject and the one rule
	 * that has no exact key. */
	assert_int_equal(policy_index_build(&p), 0);
	assert_int_equal(decide(&p, &id, "root", &d), 0);
	assert_string_equal(d.rule->name, "r7777");
	assert_int_equal(d.n_evaluated, 2);
	assert_int_equal(decide(&p, &id, "scan", &d), 0);
	assert_string_equal(d.rule->name, "r42");
	/* A subject no rule has: only the scanned rule. */
	id.subject = full_subject;
	assert_int_equal(decide(&p, &id, "root", &d), ERR_DENIED);
	assert_int_equal(d.n_evaluated, 1);
	/* Rebuilding replaces the index. */
	assert_int_equal(policy_index_build(&p), 0);
	assert_int_equal(decide(&p, &id, "scan", &d), 0);
	policy_clear(&p);
	assert_null(p.index);
}

/* Each exact key kind is looked up: a rule filed under it is found, and
 * the decisions keep rule order across kinds. */
static void
test_index_kinds(void **state)
{
	struct ident id = full_ident();
	char fpr[IDENT_FPR_LEN + 1];
	struct rule rules2[] = {
		{ .name = "by-email", .san_email = "al@corp.example",
		  .users = root_only, .n_users = 1 },
		{ .name = "by-serial", .serial = full_serial,
		  .users = root_only, .n_users = 1 },
		{ .name = "by-fpr", .users = root_only, .n_users = 1 },
		{ .name = "by-subject", .subject = full_subject,
		  .users = root_only, .n_users = 1 },
		{ .name = "other", .subject = "CN=x", .users = root_only,
		  .n_users = 1 },
	};
	struct policy p = { .rules = rules2, .n_rules = 5 };
	struct decision d;

	(void)state;
	snprintf(fpr, sizeof(fpr), "sha256:%064d", 7);
	rules2[2].fingerprint = fpr;
	assert_int_equal(policy_index_build(&p), 0);
	assert_int_equal(decide(&p, &id, "root", &d), 0);
	assert_ptr_equal(d.rule, &rules2[0]);
	assert_int_equal(d.n_evaluated, 4);
	id.n_san_email = 1;  /* the second email gone: by-email no candidate */
	assert_int_equal(decide(&p, &id, "root", &d), 0);
	assert_ptr_equal(d.rule, &rules2[1]);
	assert_int_equal(d.n_evaluated, 3);
	policy_clear(&(struct policy){ .index = p.index });
}

/* --- explanation ---------------------------------------------------------- */

struct seen {
	size_t n, evaluated, matched, grants, denies;
	char why[8][192];
};

static void
record(const struct rule_trace *t, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		memcpy(s->why[s->n], t->why, sizeof(t->why));
	s->n++;
	s->evaluated += (size_t)t->evaluated;
	s->matched += (size_t)t->matched;
	s->grants += (size_t)t->grants;
	s->denies += (size_t)t->denies;
}

static void
test_explain(void **state)
{
	struct ident id = full_ident();
	struct rule_attr dev[] = { { "OU", "dev" } };
	char *backup[] = { "backup" };
	struct rule rules2[] = {
		{ .name = "a", .subject = "CN=bob", .users = root_only,
		  .n_users = 1 },
		{ .name = "b", .attrs = dev, .n_attrs = 1, .users = root_only,
		  .n_users = 1 },
		{ .name = "c", .subject = full_subject, .users = root_only,
		  .n_users = 1, .services = svc_sshd, .n_services = 1 },
		{ .name = "d", .issuer = full_issuer, .users = root_only,
		  .n_users = 1 },
		{ .name = "e", .issuer = full_issuer, .deny = 1,
		  .users = backup, .n_users = 1 },
	};
	struct policy p = { .rules = rules2, .n_rules = 5 };
	struct policy_ctx ctx = { .user = "root", .check_service = 1,
	    .service = "sudo" };
	struct seen s = { 0 };
	struct decision d;

	(void)state;
	assert_int_equal(policy_explain(&p, &id, &ctx, &d, record, &s), 0);
	assert_ptr_equal(d.rule, &rules2[3]);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.evaluated, 5);
	assert_int_equal(s.matched, 3);
	assert_int_equal(s.grants, 1);
	assert_int_equal(s.denies, 0);
	assert_string_equal(s.why[0], "subject differs");
	assert_string_equal(s.why[1], "subject_attrs: no OU=dev");
	assert_string_equal(s.why[2], "the service is not in its services");
	assert_string_equal(s.why[3], "");
	/* With the index: rule a is ruled out without being evaluated, and
	 * still reported, in order. */
	assert_int_equal(policy_index_build(&p), 0);
	memset(&s, 0, sizeof(s));
	ctx.user = "backup";
	assert_int_equal(policy_explain(&p, &id, &ctx, &d, record, &s),
	    ERR_DENIED);
	assert_ptr_equal(d.rule, &rules2[4]);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.evaluated, 4);
	assert_int_equal(s.denies, 1);
	assert_int_equal(d.n_evaluated, 4);
	assert_string_equal(s.why[0], "subject differs");
	/* No user: rules are matched, nothing is granted. */
	memset(&s, 0, sizeof(s));
	ctx.user = NULL;
	assert_int_equal(policy_explain(&p, &id, &ctx, &d, record, &s),
	    ERR_DENIED);
	assert_string_equal(d.reason, "no user given");
	assert_int_equal(s.matched, 3);
	assert_int_equal(s.grants + s.denies, 0);
	/* policy_decide wants a user, and a context. */
	assert_int_equal(policy_decide(&p, &id, &ctx, &d), ERR_INVALID);
	assert_int_equal(policy_decide(&p, &id, NULL, &d), ERR_INVALID);
	assert_int_equal(d.granted, 0);
	policy_clear(&(struct policy){ .index = p.index });
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
		cmocka_unit_test(test_key_subject),
		cmocka_unit_test(test_key_subject_attrs),
		cmocka_unit_test(test_key_issuer),
		cmocka_unit_test(test_key_san_email),
		cmocka_unit_test(test_key_san_email_domain),
		cmocka_unit_test(test_key_san_dns),
		cmocka_unit_test(test_key_san_uri),
		cmocka_unit_test(test_key_serial_fingerprint),
		cmocka_unit_test(test_key_policy_oid),
		cmocka_unit_test(test_keys_all_must_hold),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_template_kinds),
		cmocka_unit_test(test_users_templates_listed),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_cidr_edges),
		cmocka_unit_test(test_deny_wins),
		cmocka_unit_test(test_deny_restricted),
		cmocka_unit_test(test_users_after_deny),
		cmocka_unit_test(test_index_candidates),
		cmocka_unit_test(test_index_kinds),
		cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
