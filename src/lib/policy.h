/* Policy: which certificate identities may become which local users.
 * One code path, used by mtlsd (ticket and redemption time) and by
 * mtlsctl. Every rule is evaluated; a decision names the rule.
 *
 * A rule matches when every match key it has holds for the certificate
 * (a rule has at least one). A matching allow rule grants its users,
 * unless its services or from restriction excludes the login (see struct
 * policy_ctx); a matching deny rule refuses the users it lists (all users
 * if it lists none), and a deny wins over every allow. */
#ifndef MTLS_POLICY_H
#define MTLS_POLICY_H

#include <stddef.h>

#include "err.h"
#include "ident.h"

/* An IPv4 or IPv6 network. IPv4-mapped IPv6 networks (::ffff:0:0/96 and
 * longer) are stored as IPv4, so that they match either spelling. */
struct policy_cidr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];   /* the network, host bits zero */
	unsigned prefix;          /* 0..32 or 0..128 */
};

/* One subject_attrs pair: type in dn_attr_type form ("O", "OU",
 * "2.5.4.97"), value compared byte for byte. */
struct rule_attr {
	char *type;
	char *value;
};

struct rule {
	char *name;         /* unique within a policy */
	/* Match keys; NULL (or n_attrs 0) when the rule does not use one. */
	char *subject;      /* whole subject DN, dn_normalize form */
	struct rule_attr *attrs;  /* subject_attrs: all must be present */
	size_t n_attrs;
	char *issuer;       /* issuer DN, dn_normalize form */
	char *san_email;    /* local part exact, domain lowercased */
	char *san_email_domain;   /* lowercase; equal to an email's domain */
	char *san_dns;      /* lowercase; compared ignoring case */
	char *san_uri;      /* compared byte for byte (SPIFFE IDs) */
	char *serial;       /* ident form: uppercase hex, see ident.h */
	char *fingerprint;  /* ident form: "sha256:" and lowercase hex */
	char *policy_oid;   /* dotted OID */
	/* Grant. */
	char **users;       /* names and templates (policy_user_template) */
	size_t n_users;
	char **services;    /* PAM services the rule is limited to */
	size_t n_services;
	struct policy_cidr *from;  /* source networks it is limited to */
	size_t n_from;
	int deny;           /* 1: refuses instead of granting */
	char *file;         /* where the rule was written, for messages */
	int line;
};

struct policy_index;

struct policy {
	struct rule *rules;
	size_t n_rules;
	/* Hash tables over the exact keys (policy_index_build), owned. NULL:
	 * every rule is evaluated for every decision, with the same result,
	 * only slower. */
	struct policy_index *index;
};

/* What is known about the login being decided, and which restrictions
 * apply to it:
 *   - check_service 0: services are not part of this decision (ticket
 *     time: the service is not known yet; it is checked at redemption).
 *     Rules apply as if they had no services.
 *   - check_service 1: a rule with services applies only if service is
 *     one of them. service NULL or "" (unknown) satisfies no allow rule's
 *     services, but does satisfy a deny rule's (a deny fails closed).
 *   - check_addr / addr: the same for from, with the source address
 *     (numeric IPv4 or IPv6; a host name or "" counts as unknown).
 * mtlsd checks at ticket time the TLS peer address (check_addr 1,
 * check_service 0), at redemption the PAM service and PAM_RHOST (both 1).
 * user: the local user asked for (policy_decide); unused by
 * policy_users. All strings borrowed. */
struct policy_ctx {
	const char *user;
	int check_service;
	const char *service;
	int check_addr;
	const char *addr;
};

struct decision {
	int granted;             /* 1 granted, 0 refused */
	const struct rule *rule; /* the rule that granted, or the deny rule
	                            that refused, or NULL (borrowed from the
	                            policy) */
	char reason[256];        /* why, for the audit line: no secrets */
	size_t n_evaluated;      /* rules whose keys were compared: the
	                            index's candidates, not all rules */
};

/* Decides whether identity id may log in as ctx->user, in the context of
 * ctx (see above). Always fills *d. Returns 0 if granted, ERR_DENIED if
 * refused, ERR_INVALID on bad arguments. */
int policy_decide(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, struct decision *d) MTLS_WUR;

/* What one rule did in an evaluation, for mtlsctl eval. */
struct rule_trace {
	const struct rule *rule;  /* borrowed */
	int evaluated;   /* 0: the index ruled it out (an exact key differs) */
	int matched;     /* every match key holds */
	int applies;     /* matched and the services/from restrictions let
	                    it take part in this decision */
	int grants;      /* an allow rule that grants ctx->user */
	int denies;      /* a deny rule that refuses ctx->user */
	char why[192];   /* not matched: the first key that fails; matched
	                    but not applying: the restriction; printable */
};

/* Called for every rule of the policy, in rule order. */
typedef void (*policy_trace_fn)(const struct rule_trace *t, void *arg);

/* policy_decide, reporting each rule to fn (which may be NULL). The same
 * evaluation as policy_decide: what it reports is what the daemon does.
 * ctx->user may be NULL here: rules are then only matched (grants and
 * denies stay 0) and the decision refuses ("no user given"). */
int policy_explain(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, struct decision *d, policy_trace_fn fn,
    void *arg) MTLS_WUR;

/* Lists, in rule order and without duplicates, the users id may become in
 * the context ctx (ctx->user unused; ctx NULL: nothing checked beyond the
 * certificate), after deny rules. *users is a NULL-terminated array owned
 * by the caller (free() the array only) of borrowed strings pointing into
 * the policy or into id (valid while both are); *n its length. */
int policy_users(const struct policy *p, const struct ident *id,
    const struct policy_ctx *ctx, const char ***users, size_t *n) MTLS_WUR;

/* Builds p->index from p->rules (replacing an older one). Call once the
 * rules are complete; the rules must not change afterwards. */
int policy_index_build(struct policy *p) MTLS_WUR;

/* Frees the rules, their strings and the index, and zeroes p. */
void policy_clear(struct policy *p);

/* 1 if name is an acceptable local user name: 1..32 bytes of
 * [A-Za-z0-9._-], not starting with '-' (nor '.'); else 0. */
int valid_user_name(const char *name);

enum policy_template {
	TMPL_NONE = 0,      /* a plain user name */
	TMPL_CN,            /* "%{cn}": each CN of the subject */
	TMPL_UID,           /* "%{uid}": each UID (userId) of the subject */
	TMPL_EMAIL_LOCAL,   /* "%{email.local}": each SAN email's local part */
	TMPL_UNKNOWN,       /* contains "%{" but is none of the above */
};

/* What a users entry is. A template yields only the values that are
 * valid user names. */
enum policy_template policy_user_template(const char *s);

/* Parses "ADDR/PREFIX" or a bare address (/32, /128). ERR_INVALID if it
 * is not one, or if host bits are set. */
int policy_cidr_parse(const char *s, struct policy_cidr *out) MTLS_WUR;

/* 1 if the numeric address addr is within c, 0 if not, ERR_INVALID if addr
 * is not a numeric address. */
int policy_cidr_match(const struct policy_cidr *c, const char *addr);

#endif
