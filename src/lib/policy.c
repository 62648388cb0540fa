#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* The longest local user name accepted: useradd's limit on Linux. */
#define USER_NAME_MAX 32

/* Whether rule r applies to identity id. Every kind of match the policy
 * learns (issuer, SAN, attributes, deny rules' selectors) goes here, so
 * policy_decide and policy_users cannot disagree. */
static int
rule_matches(const struct rule *r, const struct ident *id)
{
	if (r->subject == NULL || id->subject == NULL)
		return 0;
	return strcmp(r->subject, id->subject) == 0;
}

static int
rule_grants(const struct rule *r, const char *user)
{
	size_t i;

	for (i = 0; i < r->n_users; i++) {
		if (r->users[i] != NULL && strcmp(r->users[i], user) == 0)
			return 1;
	}
	return 0;
}

static void decision_set(struct decision *d, int granted,
    const struct rule *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A reason longer than d->reason is cut: it is for people, not parsers. */
static void
decision_set(struct decision *d, int granted, const struct rule *r,
    const char *fmt, ...)
{
	va_list ap;

	d->granted = granted;
	d->rule = r;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

int
policy_decide(const struct policy *p, const struct ident *id,
    const char *user, struct decision *d)
{
	const struct rule *granting = NULL;
	size_t i, n_matching = 0;

	if (d == NULL)
		return ERR_INVALID;
	decision_set(d, 0, NULL, "invalid arguments");
	if (p == NULL || id == NULL || user == NULL)
		return ERR_INVALID;
	/* The name reaches the reason (and the audit line) only once known
	 * to be harmless. */
	if (!valid_user_name(user)) {
		decision_set(d, 0, NULL, "invalid user name");
		return ERR_DENIED;
	}

	/* All rules are looked at, not just up to the first match: deny rules
	 * will have to win wherever they stand. */
	for (i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];

		if (!rule_matches(r, id))
			continue;
		n_matching++;
		if (granting == NULL && rule_grants(r, user))
			granting = r;
	}

	if (granting != NULL) {
		decision_set(d, 1, granting, "granted by rule '%s'",
		    granting->name);
		return 0;
	}
	if (n_matching == 0) {
		decision_set(d, 0, NULL, "no rule matches subject");
		return ERR_DENIED;
	}
	decision_set(d, 0, NULL,
	    "rules match subject but none grants user '%s'", user);
	return ERR_DENIED;
}

static int
list_has(const char **list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], s) == 0)
			return 1;
	}
	return 0;
}

int
policy_users(const struct policy *p, const struct ident *id,
    const char ***users, size_t *n)
{
	const char **list = NULL;
	size_t i, j, max = 0, len = 0;

	if (p == NULL || id == NULL || users == NULL || n == NULL)
		return ERR_INVALID;

	for (i = 0; i < p->n_rules; i++) {
		if (rule_matches(&p->rules[i], id))
			max += p->rules[i].n_users;
	}
	if ((list = calloc(max + 1, sizeof(*list))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];

		if (!rule_matches(r, id))
			continue;
		for (j = 0; j < r->n_users; j++) {
			if (r->users[j] != NULL &&
			    !list_has(list, len, r->users[j]))
				list[len++] = r->users[j];
		}
	}
	*users = list;
	*n = len;
	return 0;
}

static void
rule_clear(struct rule *r)
{
	size_t i;

	free(r->name);
	free(r->subject);
	for (i = 0; i < r->n_users; i++)
		free(r->users[i]);
	free(r->users);
	free(r->file);
	memset(r, 0, sizeof(*r));
}

void
policy_clear(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_rules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

static int
user_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
valid_user_name(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '-' ||
	    name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= USER_NAME_MAX || !user_char_ok(name[i]))
			return 0;
	}
	return 1;
}
