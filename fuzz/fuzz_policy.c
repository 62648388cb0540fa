/* Fuzz target: the policy match.
 *
 * Targets policy_decide, policy_explain and policy_users (every match
 * key, the user templates, services and from, deny rules, and the index
 * of policy_index_build), on a fixed policy loaded once with config_load
 * and an identity and login context taken from the input:
 *
 *   byte 0: bit 0 check_service, bit 1 check_addr
 *   then lines: user, service, addr, subject, issuer, serial,
 *   fingerprint, then any number of "e:EMAIL", "d:DNS", "u:URI",
 *   "o:OID" and "a:TYPE=VALUE" (a subject attribute).
 *
 * The strings are used as given (a certificate's would be canonical; a
 * rule must not match more because they are not). Checked: the result
 * and the decision agree; a grant names an allow rule; the same policy
 * without its index decides the same; policy_explain reports what
 * policy_decide does; the user is granted exactly when policy_users
 * lists it. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ident.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LIST 8
#define POLICY_MAX_INPUT 4096

static const char POLICY_CONF[] =
    "tls = { certificate = \"c.pem\"; private_key = \"k.pem\"; "
    "trust_anchors = \"ca.pem\"; };\n"
    "rules = (\n"
    " { name = \"subject\"; subject = \"CN=alice,OU=ops,O=Example\";\n"
    "   users = [ \"alice\", \"root\" ]; },\n"
    " { name = \"cn\"; issuer = \"CN=Example CA,O=Example\";\n"
    "   users = [ \"%{cn}\" ]; services = [ \"sshd\" ]; },\n"
    " { name = \"uid\"; subject_attrs = { O = \"Example\"; };\n"
    "   users = [ \"%{uid}\" ]; from = [ \"192.0.2.0/24\", \"2001:db8::/32\" ]; },\n"
    " { name = \"email\"; san_email_domain = \"example.com\";\n"
    "   users = [ \"%{email.local}\" ]; services = [ \"sudo\", \"sshd\" ]; },\n"
    " { name = \"mail\"; san_email = \"Bob@Example.COM\"; users = [ \"bob\" ]; },\n"
    " { name = \"dns\"; san_dns = \"Host.Example.com\"; users = [ \"host\" ]; },\n"
    " { name = \"uri\"; san_uri = \"spiffe://example.com/ops/carol\";\n"
    "   users = [ \"carol\" ]; from = [ \"10.0.0.0/8\" ]; },\n"
    " { name = \"serial\"; serial = \"1a:2b:3c\"; issuer = \"CN=Example CA,O=Example\";\n"
    "   users = [ \"dave\" ]; },\n"
    " { name = \"fpr\"; fingerprint = \"sha256:"
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\";\n"
    "   users = [ \"erin\", \"root\" ]; },\n"
    " { name = \"oid\"; policy_oid = \"1.3.6.1.4.1.99999.1\"; users = [ \"frank\" ]; },\n"
    " { name = \"no-root\"; subject_attrs = { OU = \"contractors\"; };\n"
    "   users = [ \"root\" ]; deny = true; },\n"
    " { name = \"no-sudo\"; san_email_domain = \"example.com\";\n"
    "   services = [ \"sudo\" ]; from = [ \"198.51.100.0/24\" ]; deny = true; },\n"
    " { name = \"banned\"; fingerprint = \"sha256:"
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\";\n"
    "   deny = true; }\n"
    ");\n";

static struct config *conf;

static void
conf_free(void)
{
	config_free(&conf);
}

/* The policy, loaded once from a file in a directory removed at once. */
static void
load_policy(void)
{
	char dir[] = "/tmp/fuzz_policy.XXXXXX", path[64], err[512];
	FILE *f;
	int r;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	if ((f = fopen(path, "w")) == NULL ||
	    fputs(POLICY_CONF, f) == EOF || fclose(f) != 0)
		abort();
	r = config_load(path, &conf, err, sizeof(err));
	(void)unlink(path);
	(void)rmdir(dir);
	if (r != 0) {
		fprintf(stderr, "fuzz_policy: %s\n", err);
		abort();
	}
	atexit(conf_free);
}

struct input {
	char text[POLICY_MAX_INPUT + 1];
	struct ident id;
	struct policy_ctx ctx;
	char *email[MAX_LIST], *email_local[MAX_LIST], *dns[MAX_LIST];
	char *uri[MAX_LIST], *oid[MAX_LIST];
	char local[MAX_LIST][POLICY_MAX_INPUT + 1];
	struct ident_ava avas[MAX_LIST];
};

static void
add(char **v, size_t *n, char *s)
{
	if (*n < MAX_LIST)
		v[(*n)++] = s;
}

static void
add_email(struct input *in, char *s)
{
	const char *at = strrchr(s, '@');
	size_t i = in->id.n_san_email;

	if (i >= MAX_LIST)
		return;
	in->email_local[i] = NULL;
	if (at != NULL) {
		memcpy(in->local[i], s, (size_t)(at - s));
		in->local[i][at - s] = '\0';
		in->email_local[i] = in->local[i];
	}
	add(in->email, &in->id.n_san_email, s);
}

static void
add_ava(struct input *in, char *s)
{
	char *eq = strchr(s, '=');

	if (eq == NULL || in->id.n_avas >= MAX_LIST)
		return;
	*eq = '\0';
	in->avas[in->id.n_avas].type = s;
	in->avas[in->id.n_avas].value = eq + 1;
	in->id.n_avas++;
}

/* A tagged line: one more list entry. */
static void
add_tagged(struct input *in, char *line)
{
	if (line[0] == '\0' || line[1] != ':')
		return;
	switch (line[0]) {
	case 'e':
		add_email(in, line + 2);
		break;
	case 'd':
		add(in->dns, &in->id.n_san_dns, line + 2);
		break;
	case 'u':
		add(in->uri, &in->id.n_san_uri, line + 2);
		break;
	case 'o':
		add(in->oid, &in->id.n_policy_oids, line + 2);
		break;
	case 'a':
		add_ava(in, line + 2);
		break;
	default:
		break;
	}
}

/* Splits the input into in's fields, all pointing into in->text. */
static void
parse_input(struct input *in, const uint8_t *data, size_t size)
{
	char *fields[7] = { "", "", "", "", "", "", "" };
	char *p, *nl;
	size_t i = 0;

	memset(&in->id, 0, sizeof(in->id));
	memset(&in->ctx, 0, sizeof(in->ctx));
	in->ctx.check_service = size > 0 && (data[0] & 1) != 0;
	in->ctx.check_addr = size > 0 && (data[0] & 2) != 0;
	if (size > 0) {
		memcpy(in->text, data + 1, size - 1);
		in->text[size - 1] = '\0';
	} else {
		in->text[0] = '\0';
	}
	for (p = in->text; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if (i < 7)
			fields[i++] = p;
		else
			add_tagged(in, p);
	}
	in->ctx.user = fields[0];
	in->ctx.service = fields[1];
	in->ctx.addr = fields[2];
	in->id.subject = fields[3];
	in->id.issuer = fields[4];
	in->id.serial = fields[5];
	snprintf(in->id.fingerprint, sizeof(in->id.fingerprint), "%s",
	    fields[6]);
	in->id.san_email = in->email;
	in->id.san_email_local = in->email_local;
	in->id.san_dns = in->dns;
	in->id.san_uri = in->uri;
	in->id.policy_oids = in->oid;
	in->id.avas = in->avas;
}

static void
check_decision(int r, const struct decision *d)
{
	if (r != 0 && r != ERR_DENIED)
		abort();
	if ((r == 0) != (d->granted == 1))
		abort();
	if (d->granted && (d->rule == NULL || d->rule->deny))
		abort();
	if (memchr(d->reason, '\0', sizeof(d->reason)) == NULL)
		abort();
}

struct trace_count {
	size_t n;
	int grants, denies;
};

static void
on_trace(const struct rule_trace *t, void *arg)
{
	struct trace_count *c = arg;

	if ((t->applies && !t->matched) || (t->matched && !t->evaluated) ||
	    ((t->grants || t->denies) && !t->applies) ||
	    (t->grants && t->rule->deny) || (t->denies && !t->rule->deny) ||
	    memchr(t->why, '\0', sizeof(t->why)) == NULL)
		abort();
	c->n++;
	c->grants |= t->grants;
	c->denies |= t->denies;
}

/* 1 if user is among the users policy_users lists in ctx. */
static int
listed(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, const char *user)
{
	const char **users = NULL;
	size_t n = 0, i;
	int found = 0;

	if (policy_users(p, id, ctx, &users, &n) != 0)
		abort();
	for (i = 0; i < n; i++) {
		if (users[i] == NULL)
			abort();
		if (strcmp(users[i], user) == 0)
			found = 1;
	}
	if (users[n] != NULL)
		abort();
	free(users);
	return found;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct input in;
	struct trace_count tc = { 0, 0, 0 };
	struct decision d, d2, d3;
	struct policy plain;
	const struct policy *p;
	int r, r2, r3;

	if (size > POLICY_MAX_INPUT)
		return 0;
	if (conf == NULL)
		load_policy();
	p = &conf->policy;
	parse_input(&in, data, size);

	r = policy_decide(p, &in.id, &in.ctx, &d);
	check_decision(r, &d);

	/* The index only narrows what is compared. */
	plain = *p;
	plain.index = NULL;
	r2 = policy_decide(&plain, &in.id, &in.ctx, &d2);
	if (r2 != r || d2.granted != d.granted || d2.rule != d.rule)
		abort();

	r3 = policy_explain(p, &in.id, &in.ctx, &d3, on_trace, &tc);
	if (r3 != r || d3.granted != d.granted || d3.rule != d.rule)
		abort();
	/* A name refused before the walk reports no rule. */
	if (tc.n != (valid_user_name(in.ctx.user) ? p->n_rules : 0))
		abort();
	if (d.granted && (!tc.grants || tc.denies))
		abort();

	if (valid_user_name(in.ctx.user) &&
	    listed(p, &in.id, &in.ctx, in.ctx.user) != d.granted)
		abort();
	return 0;
}
