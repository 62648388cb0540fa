/* Policy: which certificate identities may become which local users.
 * One code path, used by mtlsd (ticket and redemption time) and by
 * mtlsctl. Every rule is evaluated; a decision names the rule. */
#ifndef MTLS_POLICY_H
#define MTLS_POLICY_H

#include <stddef.h>

#include "err.h"
#include "ident.h"

struct rule {
	char *name;         /* unique within a policy */
	char *subject;      /* whole subject DN, dn_normalize form */
	char **users;       /* local user names this rule grants */
	size_t n_users;
	char *file;         /* where the rule was written, for messages */
	int line;
};

struct policy {
	struct rule *rules;
	size_t n_rules;
};

struct decision {
	int granted;             /* 1 granted, 0 refused */
	const struct rule *rule; /* the rule that granted, or NULL (borrowed
	                            from the policy) */
	char reason[256];        /* why, for the audit line: no secrets */
};

/* Decides whether identity id may log in as user. Always fills *d.
 * Returns 0 if granted, ERR_DENIED if refused, ERR_INVALID on bad
 * arguments. */
int policy_decide(const struct policy *p, const struct ident *id,
    const char *user, struct decision *d) MTLS_WUR;

/* Lists, in rule order and without duplicates, the users id may become.
 * *users is a NULL-terminated array of borrowed strings (pointing into the
 * policy) owned by the caller (free() the array only); *n its length. */
int policy_users(const struct policy *p, const struct ident *id,
    const char ***users, size_t *n) MTLS_WUR;

/* Frees the rules and their strings and zeroes p. */
void policy_clear(struct policy *p);

/* 1 if name is an acceptable local user name: 1..32 bytes of
 * [A-Za-z0-9._-], not starting with '-' (nor '.'); else 0. */
int valid_user_name(const char *name);

#endif
