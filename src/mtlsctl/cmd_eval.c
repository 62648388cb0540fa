/* mtlsctl eval -c FILE CERT.pem [--user U] [--service S] [--rhost ADDR]
 *               [--json]
 *
 * What the daemon would decide for a login with CERT.pem: the config is
 * loaded by config_check, the certificate verified by trust_verify with
 * the trust tls_server_ctx_new builds from it, and the rules evaluated by
 * policy_explain, the evaluation policy_decide runs. The login is the
 * redemption's: services and from are checked, and a service or address
 * not given is unknown (a rule limited to services or networks then does
 * not grant). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "check.h"
#include "cmd_eval.h"
#include "conf.h"
#include "err.h"
#include "ident.h"
#include "json.h"
#include "policy.h"
#include "verify.h"

#define PROG "mtlsctl"
#define ERRBUF_LEN 1024
#define JSON_MAX (64u << 20)  /* 100,000 rules fit */

enum {
	EVAL_GRANTED = 0,
	EVAL_REFUSED = 1,
	EVAL_ERROR = 2,
};

struct eval_args {
	const char *conf;
	const char *cert;
	const char *user;
	const char *service;
	const char *rhost;
	int json;
};

/* What the trace callback writes to: stdout, or the JSON object. */
struct out {
	struct buf *json;     /* NULL: text on stdout */
	size_t n_rules;
	int err;              /* first failure to build the JSON */
};

static void
usage_eval(void)
{
	fprintf(stderr, PROG ": usage: " PROG " eval -c FILE CERT.pem "
	    "[--user U] [--service S] [--rhost ADDR] [--json]\n");
}

static int
parse_args(int argc, char **argv, struct eval_args *a)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "service", required_argument, NULL, 's' },
		{ "rhost", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	/* A fresh scan of the command's own arguments (argv[0] "eval"). */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->conf = optarg;
			break;
		case 'u':
			a->user = optarg;
			break;
		case 's':
			a->service = optarg;
			break;
		case 'r':
			a->rhost = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		default:
			usage_eval();
			return ERR_INVALID;
		}
	}
	if (a->conf == NULL || argc - optind != 1) {
		usage_eval();
		return ERR_INVALID;
	}
	a->cert = argv[optind];
	return 0;
}

/* The leaf (first certificate of the file) and the certificates after it
 * as the chain a client would send. */
static int
read_cert(const char *path, X509 **leaf, STACK_OF(X509) **chain)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	int r = ERR_IO;

	*leaf = NULL;
	*chain = NULL;
	if ((bio = BIO_new_file(path, "r")) == NULL)
		goto out;
	r = ERR_INVALID;
	if ((*leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	if ((*chain = sk_X509_new_null()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(*chain, x)) {
			X509_free(x);
			r = ERR_NOMEM;
			goto out;
		}
	}
	r = 0;
out:
	ERR_clear_error();
	BIO_free(bio);
	if (r != 0) {
		X509_free(*leaf);
		*leaf = NULL;
		sk_X509_pop_free(*chain, X509_free);
		*chain = NULL;
	}
	return r;
}

/* Certificate and config strings may hold anything: one line each. */
static void
put_text(const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
}

static void
put_line(const char *label, const char *value)
{
	fputs(label, stdout);
	put_text(value);
	putchar('\n');
}

static void
put_list(const char *label, char *const *v, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	fputs(label, stdout);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", stdout);
		put_text(v[i]);
	}
	putchar('\n');
}

static void
text_ident(const char *path, const struct ident *id)
{
	put_line("certificate: ", path);
	put_line("  subject: ", id->subject);
	put_line("  issuer: ", id->issuer);
	put_line("  serial: ", id->serial);
	put_line("  fingerprint: ", id->fingerprint);
	put_list("  san email: ", id->san_email, id->n_san_email);
	put_list("  san dns: ", id->san_dns, id->n_san_dns);
	put_list("  san uri: ", id->san_uri, id->n_san_uri);
	put_list("  policies: ", id->policy_oids, id->n_policy_oids);
}

static const char *
or_dash(const char *s)
{
	return s != NULL ? s : "-";
}

static void
text_trace(const struct rule_trace *t, const char *user)
{
	const struct rule *r = t->rule;

	fputs("rule '", stdout);
	put_text(r->name);
	fputs("' (", stdout);
	put_text(r->file);
	printf(":%d): ", r->line);
	if (!t->matched) {
		fputs(t->evaluated ? "no match: " : "no match (index): ",
		    stdout);
		put_text(t->why);
	} else if (!t->applies) {
		fputs("matches, does not apply: ", stdout);
		put_text(t->why);
	} else if (user == NULL) {
		fputs(r->deny ? "matches (deny rule)" : "matches", stdout);
	} else if (t->denies || t->grants) {
		fputs(t->denies ? "matches, denies " : "matches, grants ",
		    stdout);
		put_text(user);
	} else {
		fputs(r->deny ? "matches, does not deny " :
		    "matches, does not grant ", stdout);
		put_text(user);
	}
	putchar('\n');
}

/* Appends ,"key":value (value a JSON string, or null). */
static int
json_member(struct buf *b, const char *key, const char *value)
{
	int r;

	if ((r = buf_put(b, ",\"", 2)) != 0 ||
	    (r = buf_put(b, key, strlen(key))) != 0 ||
	    (r = buf_put(b, "\":", 2)) != 0)
		return r;
	if (value == NULL)
		return buf_put(b, "null", 4);
	return json_put_string(b, value);
}

static int
json_bool(struct buf *b, const char *key, int v)
{
	int r;

	if ((r = buf_put(b, ",\"", 2)) != 0 ||
	    (r = buf_put(b, key, strlen(key))) != 0 ||
	    (r = buf_put(b, "\":", 2)) != 0)
		return r;
	return v ? buf_put(b, "true", 4) : buf_put(b, "false", 5);
}

static int
json_strv(struct buf *b, const char *key, const char *const *v, size_t n)
{
	size_t i;
	int r;

	if ((r = buf_put(b, ",\"", 2)) != 0 ||
	    (r = buf_put(b, key, strlen(key))) != 0 ||
	    (r = buf_put(b, "\":[", 3)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((i > 0 && (r = buf_put_u8(b, ',')) != 0) ||
		    (r = json_put_string(b, v[i])) != 0)
			return r;
	}
	return buf_put_u8(b, ']');
}

static int
json_trace(struct buf *b, size_t i, const struct rule_trace *t)
{
	char line[32];
	int r;

	snprintf(line, sizeof(line), ",\"line\":%d", t->rule->line);
	if ((i > 0 && (r = buf_put_u8(b, ',')) != 0) ||
	    (r = buf_put(b, "{\"name\":", 8)) != 0 ||
	    (r = json_put_string(b, t->rule->name)) != 0 ||
	    (r = json_member(b, "file", t->rule->file)) != 0 ||
	    (r = buf_put(b, line, strlen(line))) != 0 ||
	    (r = json_bool(b, "deny", t->rule->deny)) != 0 ||
	    (r = json_bool(b, "evaluated", t->evaluated)) != 0 ||
	    (r = json_bool(b, "matched", t->matched)) != 0 ||
	    (r = json_bool(b, "applies", t->applies)) != 0 ||
	    (r = json_bool(b, "grants", t->grants)) != 0 ||
	    (r = json_bool(b, "denies", t->denies)) != 0 ||
	    (r = json_member(b, "why", t->why[0] != '\0' ? t->why : NULL)) != 0)
		return r;
	return buf_put_u8(b, '}');
}

struct trace_arg {
	struct out *out;
	const char *user;
};

static void
on_rule(const struct rule_trace *t, void *arg)
{
	struct trace_arg *ta = arg;
	struct out *o = ta->out;

	if (o->json == NULL) {
		text_trace(t, ta->user);
	} else if (o->err == 0) {
		o->err = json_trace(o->json, o->n_rules, t);
	}
	o->n_rules++;
}

static int
json_head(struct buf *b, const struct eval_args *a, const struct ident *id,
    int verified, const char *vreason)
{
	int r;

	if ((r = buf_put(b, "{\"certificate\":", 15)) != 0 ||
	    (r = json_put_string(b, a->cert)) != 0 ||
	    (r = json_member(b, "subject", id->subject)) != 0 ||
	    (r = json_member(b, "issuer", id->issuer)) != 0 ||
	    (r = json_member(b, "serial", id->serial)) != 0 ||
	    (r = json_member(b, "fingerprint", id->fingerprint)) != 0 ||
	    (r = json_strv(b, "san_email", (const char *const *)id->san_email,
	    id->n_san_email)) != 0 ||
	    (r = json_strv(b, "san_dns", (const char *const *)id->san_dns,
	    id->n_san_dns)) != 0 ||
	    (r = json_strv(b, "san_uri", (const char *const *)id->san_uri,
	    id->n_san_uri)) != 0 ||
	    (r = json_strv(b, "policy_oids",
	    (const char *const *)id->policy_oids, id->n_policy_oids)) != 0 ||
	    (r = json_bool(b, "verified", verified)) != 0 ||
	    (r = json_member(b, "verify_reason", verified ? NULL :
	    vreason)) != 0 ||
	    (r = json_member(b, "user", a->user)) != 0 ||
	    (r = json_member(b, "service", a->service)) != 0 ||
	    (r = json_member(b, "rhost", a->rhost)) != 0)
		return r;
	return buf_put(b, ",\"rules\":[", 10);
}

static int
json_tail(struct buf *b, int granted, const struct decision *d,
    const char *reason, const char **users, size_t n_users, int list)
{
	int r;

	if ((r = buf_put_u8(b, ']')) != 0 ||
	    (list && (r = json_strv(b, "users", users, n_users)) != 0) ||
	    (r = json_bool(b, "granted", granted)) != 0 ||
	    (r = json_member(b, "rule", d->rule != NULL ? d->rule->name :
	    NULL)) != 0 ||
	    (r = json_member(b, "reason", reason)) != 0)
		return r;
	return buf_put(b, "}\n", 2);
}

/* The config's trust, as the daemon builds it. */
static int
load_trust(const struct config *c, struct trust **trust, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = NULL;
	int r;

	r = tls_server_ctx_new(&c->tls, &ctx, trust, err, errlen);
	SSL_CTX_free(ctx);
	return r;
}

/* Evaluates and reports; returns an exit code. */
static int
evaluate(const struct eval_args *a, const struct config *c,
    const struct ident *id, int verified, const char *vreason)
{
	struct policy_ctx ctx = { .user = a->user, .check_service = 1,
	    .service = a->service, .check_addr = 1, .addr = a->rhost };
	struct out o = { 0 };
	struct trace_arg ta = { .out = &o, .user = a->user };
	struct decision d;
	const char **users = NULL;
	const char *reason;
	char why[320];
	size_t n_users = 0, i;
	int r, granted, rc = EVAL_ERROR;

	if (a->json && ((o.json = buf_new(JSON_MAX)) == NULL ||
	    json_head(o.json, a, id, verified, vreason) != 0)) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (o.json == NULL) {
		text_ident(a->cert, id);
		if (verified)
			puts("verify: ok (chain to a trust anchor, validity, "
			    "revocation, key usage and EKU clientAuth, key "
			    "strength)");
		else
			put_line("verify: refused: ", vreason);
		printf("login: user ");
		put_text(or_dash(a->user));
		printf(", service ");
		put_text(or_dash(a->service));
		printf(", rhost ");
		put_text(or_dash(a->rhost));
		putchar('\n');
	}
	r = policy_explain(&c->policy, id, &ctx, &d, on_rule, &ta);
	if (r != 0 && r != ERR_DENIED) {
		fprintf(stderr, PROG ": cannot evaluate the policy: %s\n",
		    err_str(r));
		goto out;
	}
	if (a->user == NULL &&
	    (r = policy_users(&c->policy, id, &ctx, &users, &n_users)) != 0) {
		fprintf(stderr, PROG ": cannot list the users: %s\n",
		    err_str(r));
		goto out;
	}
	granted = a->user != NULL ? d.granted : n_users > 0;
	reason = a->user != NULL ? d.reason : granted ? "users granted" :
	    "no user granted";
	if (!verified) {
		snprintf(why, sizeof(why), "certificate refused: %s", vreason);
		reason = why;
		granted = 0;
	}
	if (o.json != NULL) {
		if (o.err != 0 || json_tail(o.json, granted, &d, reason, users,
		    n_users, a->user == NULL) != 0) {
			fprintf(stderr, PROG ": cannot build the JSON output\n");
			goto out;
		}
		fwrite(buf_ptr(o.json), 1, buf_avail(o.json), stdout);
	} else {
		if (a->user == NULL) {
			fputs("users:", stdout);
			for (i = 0; i < n_users; i++) {
				putchar(' ');
				put_text(users[i]);
			}
			putchar('\n');
		}
		fputs(granted ? "result: granted: " : "result: refused: ",
		    stdout);
		put_text(reason);
		putchar('\n');
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": cannot write the output\n");
		goto out;
	}
	rc = granted ? EVAL_GRANTED : EVAL_REFUSED;
out:
	free(users);
	buf_free(&o.json);
	return rc;
}

int
cmd_eval(int argc, char **argv)
{
	struct eval_args a;
	struct config *c = NULL;
	struct trust *trust = NULL;
	struct ident *id = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	char err[ERRBUF_LEN], vreason[256];
	int r, verified, rc = EVAL_ERROR;

	if (parse_args(argc, argv, &a) != 0)
		return EVAL_ERROR;
	if (a.user != NULL && !valid_user_name(a.user)) {
		fprintf(stderr, PROG ": eval: --user: not a valid user name\n");
		return EVAL_ERROR;
	}
	err[0] = '\0';
	if (config_check(a.conf, &c, err, sizeof(err)) != 0 ||
	    load_trust(c, &trust, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err[0] != '\0' ? err :
		    "configuration rejected");
		goto out;
	}
	if ((r = read_cert(a.cert, &leaf, &chain)) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", a.cert, r == ERR_IO ?
		    "cannot read the file" : "no PEM certificate");
		goto out;
	}
	if ((r = ident_from_x509(leaf, &id)) != 0) {
		fprintf(stderr, PROG ": %s: cannot describe the certificate: "
		    "%s\n", a.cert, err_str(r));
		goto out;
	}
	vreason[0] = '\0';
	verified = trust_verify(trust, leaf, chain, 0, vreason,
	    sizeof(vreason)) == 0;
	if (!verified && vreason[0] == '\0')
		snprintf(vreason, sizeof(vreason), "verification failed");
	rc = evaluate(&a, c, id, verified, vreason);
out:
	ident_free(&id);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	trust_free(&trust);
	config_free(&c);
	return rc;
}
