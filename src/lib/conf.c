#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/tls1.h>

#include "conf.h"
#include "ident.h"
#include "log.h"
#include "policy.h"
#include "url.h"

/* Values echoed in messages are cut to this and made printable. */
#define ECHO_MAX 64
#define UID_MAX_VALUE 4294967294LL  /* (uid_t)-1 means "no uid" */
#define LIFETIME_MAX 3600
#define TLS_GRACE_MAX (366L * 86400)  /* tls.crl_grace: a year */
#define TLS_SKEW_MAX 86400            /* tls.clock_skew: a day */
#define TLS_LIFETIME_MAX 2147483647LL /* tls.max_lifetime: 68 years */

/* String lists: what get_str_list accepts. */
#define LIST_NONEMPTY 0x1  /* at least one element */
#define LIST_SINGLE 0x2    /* a lone string counts as a list of one */
#define LIST_PATHS 0x4     /* elements are paths: resolve them */

struct loader {
	struct config *c;
	char *dir;            /* absolute directory of the main file */
	char *err;
	size_t errlen;
};

static const char *const top_keys[] = {
	"user", "listen", "pam_socket", "pam_peers", "control_socket",
	"rules_dir", "log_level", "tls", "tickets", "audit", "rules", "ocsp",
	"sandbox", "limits", "workers", NULL
};
static const char *const limits_keys[] = {
	"max_connections", "max_connections_per_source", "handshake_timeout",
	"request_timeout", "idle_timeout", "max_header_size", "max_body_size",
	"max_tickets", "max_tickets_per_cert", "pam_clients",
	"failure_window", "slow_after", "slow_delay_ms", "refuse_after",
	"refuse_for", "throttle_entries", NULL
};
static const char *const ocsp_keys[] = {
	"enable", "responder", "timeout", "cache", "soft_fail", NULL
};
static const char *const tls_keys[] = {
	"certificate", "private_key", "trust_anchors", "intermediates", "crl",
	"min_version", "partial_chain", "require_crl", "crl_grace",
	"max_lifetime", "clock_skew", "min_rsa_bits", "min_ec_bits", NULL
};
static const char *const tickets_keys[] = {
	"lifetime", "bind_address", "local_services", NULL
};
static const char *const audit_keys[] = { "file", NULL };
static const char *const rule_keys[] = {
	"name", "subject", "subject_attrs", "issuer", "san_email",
	"san_email_domain", "san_dns", "san_uri", "serial", "fingerprint",
	"policy_oid", "users", "services", "from", "deny", NULL
};
static const char *const rules_file_keys[] = { "rules", NULL };

static void load_message(struct loader *l, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void load_nomem_message(struct loader *l);

/* load_error(l, s, fmt, ...) writes "FILE:LINE: reason" for setting s (or
 * "FILE: reason" when there is no line, as for the root) and is
 * ERR_CONFIG; load_nomem(l) writes "FILE: out of memory" and is
 * ERR_NOMEM. Macros, so that every caller's error is a constant the
 * static analyser sees too: it does not follow variadic calls, and took
 * an error return for a possible 0 (scan-build). */
#define load_error(l, s, ...) \
	(load_message((l), (s), __VA_ARGS__), ERR_CONFIG)
#define load_nomem(l) (load_nomem_message(l), ERR_NOMEM)

static void
load_message(struct loader *l, const config_setting_t *s, const char *fmt,
    ...)
{
	const char *file = l->c->file;
	unsigned line = 0;
	va_list ap;
	int n;

	if (l->err == NULL || l->errlen == 0)
		return;
	if (s != NULL) {
		if (config_setting_source_file(s) != NULL)
			file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	if (line > 0)
		n = snprintf(l->err, l->errlen, "%s:%u: ", file, line);
	else
		n = snprintf(l->err, l->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= l->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void
load_nomem_message(struct loader *l)
{
	if (l->err != NULL && l->errlen > 0)
		snprintf(l->err, l->errlen, "%s: out of memory", l->c->file);
}

/* A config value, cut and with control bytes replaced, fit for a
 * message that ends up in a terminal or a log. */
static const char *
echo(const char *s, char buf[ECHO_MAX + 1])
{
	size_t i;

	for (i = 0; i < ECHO_MAX && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : s[i];
	}
	buf[i] = '\0';
	return buf;
}

static void
strv_free(char ***v, size_t *n)
{
	size_t i;

	if (*v == NULL)
		return;
	for (i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* The member's own name: the part of a dotted key after the last dot. */
static const char *
leaf(const char *key)
{
	const char *dot = strrchr(key, '.');

	return dot == NULL ? key : dot + 1;
}

static int
key_known(const char *name, const char *const *known)
{
	size_t i;

	for (i = 0; known[i] != NULL; i++) {
		if (strcmp(known[i], name) == 0)
			return 1;
	}
	return 0;
}

/* The first member of group g whose name is not in known, or NULL. */
static const config_setting_t *
unknown_key(const config_setting_t *g, const char *const *known)
{
	const config_setting_t *s;
	unsigned i;

	for (i = 0; (s = config_setting_get_elem(g, i)) != NULL; i++) {
		if (config_setting_name(s) != NULL &&
		    !key_known(config_setting_name(s), known))
			return s;
	}
	return NULL;
}

/* Refuses every member of group g not in known; prefix ("tls") names the
 * group in the message, NULL at the top level. */
static int
check_keys(struct loader *l, const config_setting_t *g, const char *prefix,
    const char *const *known)
{
	const config_setting_t *s;

	if ((s = unknown_key(g, known)) == NULL)
		return 0;
	if (prefix == NULL)
		return load_error(l, s, "unknown key '%s'",
		    config_setting_name(s));
	return load_error(l, s, "unknown key '%s.%s'", prefix,
	    config_setting_name(s));
}

/* *out is the member named by key's leaf, or NULL if absent (an error if
 * required). */
static int
get_member(struct loader *l, const config_setting_t *g, const char *key,
    int required, config_setting_t **out)
{
	*out = config_setting_get_member(g, leaf(key));
	if (*out == NULL && required)
		return load_error(l, g, "missing required key '%s'", key);
	return 0;
}

static int
get_group(struct loader *l, const config_setting_t *g, const char *key,
    int required, config_setting_t **out)
{
	int r;

	if ((r = get_member(l, g, key, required, out)) != 0 || *out == NULL)
		return r;
	if (!config_setting_is_group(*out))
		return load_error(l, *out, "'%s' must be a group { ... }", key);
	return 0;
}

/* A non-empty string setting s, borrowed from libconfig. */
static int
string_of(struct loader *l, const config_setting_t *s, const char *key,
    const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return load_error(l, s, "'%s' must be a string", key);
	*out = config_setting_get_string(s);
	if (*out == NULL || (*out)[0] == '\0')
		return load_error(l, s, "'%s' must not be empty", key);
	return 0;
}

/* Relative paths are taken from the config file's directory, so that a
 * config and its files can move together. *out is a new string. */
static int
resolve_path(struct loader *l, const char *p, char **out)
{
	const char *sep;

	if (p[0] == '/') {
		*out = strdup(p);
	} else {
		sep = l->dir[strlen(l->dir) - 1] == '/' ? "" : "/";
		if (asprintf(out, "%s%s%s", l->dir, sep, p) < 0)
			*out = NULL;
	}
	return *out == NULL ? load_nomem(l) : 0;
}

/* Replaces *out with a copy of the string at key (a path if is_path);
 * leaves *out alone if the key is absent and optional. */
static int
get_str(struct loader *l, const config_setting_t *g, const char *key,
    int required, int is_path, char **out)
{
	config_setting_t *s = NULL;
	const char *v = NULL;
	char *copy = NULL;
	int r;

	if ((r = get_member(l, g, key, required, &s)) != 0 || s == NULL)
		return r;
	if ((r = string_of(l, s, key, &v)) != 0)
		return r;
	if (is_path) {
		if ((r = resolve_path(l, v, &copy)) != 0)
			return r;
	} else if ((copy = strdup(v)) == NULL) {
		return load_nomem(l);
	}
	free(*out);
	*out = copy;
	return 0;
}

static int
get_bool(struct loader *l, const config_setting_t *g, const char *key,
    int *out)
{
	config_setting_t *s = NULL;
	int r;

	if ((r = get_member(l, g, key, 0, &s)) != 0 || s == NULL)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return load_error(l, s, "'%s' must be true or false", key);
	*out = config_setting_get_bool(s);
	return 0;
}

/* An integer setting within [lo, hi]. libconfig 1.5 keeps plain
 * literals in an int and silently truncates larger ones; only an L
 * suffix makes an int64. */
static int
int_of(struct loader *l, const config_setting_t *s, const char *what,
    long long lo, long long hi, long long *out)
{
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return load_error(l, s, "'%s' must be an integer", what);
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return load_error(l, s, "'%s' must be between %lld and %lld",
		    what, lo, hi);
	*out = v;
	return 0;
}

static int
list_of(struct loader *l, const config_setting_t *s, const char *key)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return load_error(l, s, "'%s' must be a list [ ... ]", key);
	return 0;
}

/* Replaces *out and *n with the strings at key (see LIST_*); leaves them
 * alone if the key is absent. */
static int
get_str_list(struct loader *l, const config_setting_t *g, const char *key,
    int flags, char ***out, size_t *n)
{
	config_setting_t *s = NULL, *e;
	const char *v;
	char **list = NULL;
	size_t len = 0, i;
	int r;

	if ((r = get_member(l, g, key, 0, &s)) != 0 || s == NULL)
		return r;
	if (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    (flags & LIST_SINGLE)) {
		len = 1;
	} else {
		if ((r = list_of(l, s, key)) != 0)
			return r;
		len = (size_t)config_setting_length(s);
		if (len == 0 && (flags & LIST_NONEMPTY))
			return load_error(l, s, "'%s' must not be empty", key);
	}
	if ((list = calloc(len + 1, sizeof(*list))) == NULL)
		return load_nomem(l);
	for (i = 0; i < len; i++) {
		e = config_setting_is_scalar(s) ? s :
		    config_setting_get_elem(s, (unsigned)i);
		if ((r = string_of(l, e, key, &v)) != 0)
			goto out;
		if (flags & LIST_PATHS)
			r = resolve_path(l, v, &list[i]);
		else if ((list[i] = strdup(v)) == NULL)
			r = load_nomem(l);
		if (r != 0)
			goto out;
	}
	strv_free(out, n);
	*out = list;
	*n = len;
	list = NULL;
	r = 0;
 out:
	strv_free(&list, &len);
	return r;
}

static int
load_user(struct loader *l, const config_setting_t *root)
{
	config_setting_t *s = NULL;
	char buf[ECHO_MAX + 1];
	int r;

	if ((r = get_str(l, root, "user", 0, 0, &l->c->user)) != 0)
		return r;
	if (valid_user_name(l->c->user))
		return 0;
	(void)get_member(l, root, "user", 0, &s);
	return load_error(l, s, "'user': '%s' is not a valid user name",
	    echo(l->c->user, buf));
}

static int
load_listen(struct loader *l, const config_setting_t *root)
{
	config_setting_t *s = NULL, *e;
	char host[256], port[8], buf[ECHO_MAX + 1];
	size_t i;
	int r;

	r = get_str_list(l, root, "listen", LIST_NONEMPTY, &l->c->listen,
	    &l->c->n_listen);
	if (r != 0)
		return r;
	(void)get_member(l, root, "listen", 0, &s);
	for (i = 0; i < l->c->n_listen; i++) {
		if (config_split_listen(l->c->listen[i], host, sizeof(host),
		    port, sizeof(port)) == 0)
			continue;
		e = s == NULL ? NULL : config_setting_get_elem(s, (unsigned)i);
		return load_error(l, e, "'listen': '%s' is not HOST:PORT or "
		    "[IPV6]:PORT with a port in 1..65535",
		    echo(l->c->listen[i], buf));
	}
	return 0;
}

static int
load_pam_peers(struct loader *l, const config_setting_t *root)
{
	config_setting_t *s = NULL;
	uid_t *uids = NULL;
	long long v;
	size_t len, i;
	int r;

	if ((r = get_member(l, root, "pam_peers", 0, &s)) != 0 || s == NULL)
		return r;
	if ((r = list_of(l, s, "pam_peers")) != 0)
		return r;
	if ((len = (size_t)config_setting_length(s)) == 0)
		return load_error(l, s, "'pam_peers' must not be empty");
	if ((uids = calloc(len, sizeof(*uids))) == NULL)
		return load_nomem(l);
	for (i = 0; i < len; i++) {
		r = int_of(l, config_setting_get_elem(s, (unsigned)i),
		    "pam_peers", 0, UID_MAX_VALUE, &v);
		if (r != 0)
			goto out;
		uids[i] = (uid_t)v;
	}
	free(l->c->pam_peers);
	l->c->pam_peers = uids;
	l->c->n_pam_peers = len;
	uids = NULL;
	r = 0;
 out:
	free(uids);
	return r;
}

static int
load_log_level(struct loader *l, const config_setting_t *root)
{
	config_setting_t *s = NULL;
	const char *v = NULL;
	int r;

	if ((r = get_member(l, root, "log_level", 0, &s)) != 0 || s == NULL)
		return r;
	if ((r = string_of(l, s, "log_level", &v)) != 0)
		return r;
	if (log_level_parse(v, &l->c->log_level) != 0)
		return load_error(l, s, "'log_level' must be \"error\", "
		    "\"warning\", \"notice\", \"info\" or \"debug\"");
	return 0;
}

static int
setting_line(const config_setting_t *g, const char *name)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	return (int)config_setting_source_line(s != NULL ? s : g);
}

/* Records where the tls keys were written (see struct config_tls). */
static int
tls_lines(struct loader *l, const config_setting_t *g, struct config_tls *t)
{
	const char *f = config_setting_source_file(g);

	if ((t->src = strdup(f != NULL ? f : l->c->file)) == NULL)
		return ERR_NOMEM;
	t->line.group = (int)config_setting_source_line(g);
	t->line.certificate = setting_line(g, "certificate");
	t->line.private_key = setting_line(g, "private_key");
	t->line.trust_anchors = setting_line(g, "trust_anchors");
	t->line.intermediates = setting_line(g, "intermediates");
	t->line.crl = setting_line(g, "crl");
	return 0;
}

/* An integer member of the tls group within [lo, hi] into *out; *out
 * stays as it is when the key is absent. */
static int
get_tls_long(struct loader *l, const config_setting_t *g, const char *key,
    long long lo, long long hi, long *out)
{
	config_setting_t *s = NULL;
	long long v;
	int r;

	if ((r = get_member(l, g, key, 0, &s)) != 0 || s == NULL)
		return r;
	if ((r = int_of(l, s, key, lo, hi, &v)) != 0)
		return r;
	*out = (long)v;
	return 0;
}

/* The certificate policy keys of the tls group (see struct trust_opts). */
static int
load_tls_policy(struct loader *l, const config_setting_t *g,
    struct config_tls *t)
{
	config_setting_t *s = NULL;
	long rsa = t->min_rsa_bits, ec = t->min_ec_bits;
	int r;

	if ((r = get_bool(l, g, "tls.partial_chain", &t->partial_chain)) != 0 ||
	    (r = get_bool(l, g, "tls.require_crl", &t->require_crl)) != 0 ||
	    (r = get_tls_long(l, g, "tls.crl_grace", 0, TLS_GRACE_MAX,
	    &t->crl_grace)) != 0 ||
	    (r = get_tls_long(l, g, "tls.max_lifetime", 0, TLS_LIFETIME_MAX,
	    &t->max_lifetime)) != 0 ||
	    (r = get_tls_long(l, g, "tls.clock_skew", 0, TLS_SKEW_MAX,
	    &t->clock_skew)) != 0 ||
	    (r = get_tls_long(l, g, "tls.min_rsa_bits", 2048, 16384,
	    &rsa)) != 0 ||
	    (r = get_tls_long(l, g, "tls.min_ec_bits", 256, 521, &ec)) != 0)
		return r;
	t->min_rsa_bits = (int)rsa;
	t->min_ec_bits = (int)ec;
	if (!t->require_crl || t->n_crl > 0)
		return 0;
	(void)get_member(l, g, "tls.require_crl", 0, &s);
	return load_error(l, s, "'tls.require_crl' needs at least one "
	    "'tls.crl' file");
}

static int
load_tls(struct loader *l, const config_setting_t *root)
{
	struct config_tls *t = &l->c->tls;
	config_setting_t *g = NULL, *s = NULL;
	const char *v = NULL;
	int r;

	if ((r = get_group(l, root, "tls", 1, &g)) != 0)
		return r;
	if ((r = tls_lines(l, g, t)) != 0)
		return r;
	if ((r = check_keys(l, g, "tls", tls_keys)) != 0 ||
	    (r = get_str(l, g, "tls.certificate", 1, 1,
	    &t->certificate)) != 0 ||
	    (r = get_str(l, g, "tls.private_key", 1, 1,
	    &t->private_key)) != 0 ||
	    (r = get_str(l, g, "tls.trust_anchors", 1, 1,
	    &t->trust_anchors)) != 0 ||
	    (r = get_str(l, g, "tls.intermediates", 0, 1,
	    &t->intermediates)) != 0 ||
	    (r = get_str_list(l, g, "tls.crl", LIST_SINGLE | LIST_PATHS,
	    &t->crl, &t->n_crl)) != 0 ||
	    (r = load_tls_policy(l, g, t)) != 0 ||
	    (r = get_member(l, g, "tls.min_version", 0, &s)) != 0)
		return r;
	if (s == NULL)
		return 0;
	if ((r = string_of(l, s, "tls.min_version", &v)) != 0)
		return r;
	if (strcmp(v, "1.3") == 0)
		t->min_version = TLS1_3_VERSION;
	else if (strcmp(v, "1.2") == 0)
		t->min_version = TLS1_2_VERSION;
	else
		return load_error(l, s,
		    "'tls.min_version' must be \"1.2\" or \"1.3\"");
	return 0;
}

static int
load_tickets(struct loader *l, const config_setting_t *root)
{
	config_setting_t *g = NULL, *s = NULL;
	long long v;
	int r;

	if ((r = get_group(l, root, "tickets", 0, &g)) != 0 || g == NULL)
		return r;
	if ((r = check_keys(l, g, "tickets", tickets_keys)) != 0 ||
	    (r = get_bool(l, g, "tickets.bind_address",
	    &l->c->tickets.bind_address)) != 0 ||
	    (r = get_str_list(l, g, "tickets.local_services", 0,
	    &l->c->tickets.local_services,
	    &l->c->tickets.n_local_services)) != 0 ||
	    (r = get_member(l, g, "tickets.lifetime", 0, &s)) != 0)
		return r;
	if (s == NULL)
		return 0;
	if ((r = int_of(l, s, "tickets.lifetime", 1, LIFETIME_MAX, &v)) != 0)
		return r;
	l->c->tickets.lifetime = (unsigned)v;
	return 0;
}

static int
load_audit(struct loader *l, const config_setting_t *root)
{
	config_setting_t *g = NULL;
	const char *f;
	int r;

	if ((r = get_group(l, root, "audit", 0, &g)) != 0 || g == NULL)
		return r;
	if ((r = check_keys(l, g, "audit", audit_keys)) != 0 ||
	    (r = get_str(l, g, "audit.file", 0, 1, &l->c->audit.file)) != 0 ||
	    l->c->audit.file == NULL)
		return r;
	f = config_setting_source_file(g);
	if (asprintf(&l->c->audit.where, "%s:%d", f != NULL ? f : l->c->file,
	    setting_line(g, "file")) < 0) {
		l->c->audit.where = NULL;
		return ERR_NOMEM;
	}
	return 0;
}

/* An integer member of g within [lo, hi] into *out; *out stays as it is
 * when the key is absent. */
static int
get_uint(struct loader *l, const config_setting_t *g, const char *key,
    long long lo, long long hi, unsigned *out)
{
	config_setting_t *s = NULL;
	long long v;
	int r;

	if ((r = get_member(l, g, key, 0, &s)) != 0 || s == NULL)
		return r;
	if ((r = int_of(l, s, key, lo, hi, &v)) != 0)
		return r;
	*out = (unsigned)v;
	return 0;
}

/* The responder is parsed here with the daemon's own parser, so that a
 * URL the daemon could not use is refused when the config is loaded,
 * not at the first login. */
static int
load_ocsp_responder(struct loader *l, const config_setting_t *g)
{
	config_setting_t *s = NULL;
	struct url *u = NULL;
	const char *why = NULL;
	char buf[ECHO_MAX + 1];
	int r;

	if ((r = get_str(l, g, "ocsp.responder", 0, 0,
	    &l->c->ocsp.responder)) != 0 || l->c->ocsp.responder == NULL)
		return r;
	r = url_parse_http(l->c->ocsp.responder, &u, &why);
	url_free(&u);
	if (r == ERR_NOMEM)
		return load_nomem(l);
	if (r == 0)
		return 0;
	(void)get_member(l, g, "ocsp.responder", 0, &s);
	return load_error(l, s, "'ocsp.responder': '%s': %s",
	    echo(l->c->ocsp.responder, buf), why);
}

static int
load_ocsp(struct loader *l, const config_setting_t *root)
{
	config_setting_t *g = NULL;
	int r;

	l->c->ocsp.timeout = 2;
	l->c->ocsp.cache = 300;
	if ((r = get_group(l, root, "ocsp", 0, &g)) != 0 || g == NULL)
		return r;
	if ((r = check_keys(l, g, "ocsp", ocsp_keys)) != 0 ||
	    (r = get_bool(l, g, "ocsp.enable", &l->c->ocsp.enable)) != 0 ||
	    (r = get_bool(l, g, "ocsp.soft_fail",
	    &l->c->ocsp.soft_fail)) != 0 ||
	    (r = get_uint(l, g, "ocsp.timeout", 1, 30,
	    &l->c->ocsp.timeout)) != 0 ||
	    (r = get_uint(l, g, "ocsp.cache", 0, 86400,
	    &l->c->ocsp.cache)) != 0)
		return r;
	return load_ocsp_responder(l, g);
}

/* Each limit with its range. The body bound stays within what the
 * daemon's request parser holds (4096 bytes); a limit of 0 exists only
 * where it means "never" (slow_after, refuse_after, slow_delay_ms). */
static int
load_limits(struct loader *l, const config_setting_t *root)
{
	struct config_limits *m = &l->c->limits;
	const struct {
		const char *key;
		long long lo, hi;
		unsigned *out;
	} keys[] = {
		{ "limits.max_connections", 1, 65536, &m->max_connections },
		{ "limits.max_connections_per_source", 1, 65536,
		    &m->max_per_source },
		{ "limits.handshake_timeout", 1, 300, &m->handshake_timeout },
		{ "limits.request_timeout", 1, 300, &m->request_timeout },
		{ "limits.idle_timeout", 1, 3600, &m->idle_timeout },
		{ "limits.max_header_size", 1024, 65536, &m->max_header_size },
		{ "limits.max_body_size", 64, 4096, &m->max_body_size },
		{ "limits.max_tickets", 1, 1000000, &m->max_tickets },
		{ "limits.max_tickets_per_cert", 1, 1000000,
		    &m->max_tickets_per_cert },
		{ "limits.pam_clients", 1, 4096, &m->pam_clients },
		{ "limits.failure_window", 1, 86400, &m->failure_window },
		{ "limits.slow_after", 0, 1000000, &m->slow_after },
		{ "limits.slow_delay_ms", 0, 10000, &m->slow_delay_ms },
		{ "limits.refuse_after", 0, 1000000, &m->refuse_after },
		{ "limits.refuse_for", 1, 86400, &m->refuse_for },
		{ "limits.throttle_entries", 16, 1000000,
		    &m->throttle_entries },
	};
	config_setting_t *g = NULL;
	int r;

	if ((r = get_group(l, root, "limits", 0, &g)) != 0 || g == NULL)
		return r;
	if ((r = check_keys(l, g, "limits", limits_keys)) != 0)
		return r;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if ((r = get_uint(l, g, keys[i].key, keys[i].lo, keys[i].hi,
		    keys[i].out)) != 0)
			return r;
	}
	return 0;
}

/* Appends a zeroed rule to the policy and counts it at once, so that
 * policy_clear frees whatever part of it gets filled in. */
static int
rule_append(struct loader *l, struct rule **out)
{
	struct policy *p = &l->c->policy;
	struct rule *rules;

	rules = reallocarray(p->rules, p->n_rules + 1, sizeof(*rules));
	if (rules == NULL)
		return load_nomem(l);
	p->rules = rules;
	*out = &rules[p->n_rules++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int
rule_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	}
	return i > 0;
}

static int
load_rule_name(struct loader *l, const config_setting_t *g, unsigned idx,
    struct rule *r)
{
	const struct policy *p = &l->c->policy;
	config_setting_t *s;
	const char *v;
	size_t i;

	if ((s = config_setting_get_member(g, "name")) == NULL)
		return load_error(l, g, "rules[%u]: missing required key "
		    "'name'", idx);
	if (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    !rule_name_ok(v = config_setting_get_string(s)))
		return load_error(l, s, "rules[%u]: 'name' must be a "
		    "non-empty string of printable characters", idx);
	/* The new rule is the last one: compare with those before it. */
	for (i = 0; i + 1 < p->n_rules; i++) {
		if (strcmp(p->rules[i].name, v) == 0)
			return load_error(l, s, "rule '%s' already defined at "
			    "%s:%d", v, p->rules[i].file, p->rules[i].line);
	}
	if ((r->name = strdup(v)) == NULL)
		return load_nomem(l);
	return 0;
}

/* The string at a rule's key, borrowed, or NULL (*s too) if absent. */
static int
rule_string(struct loader *l, const config_setting_t *g,
    const struct rule *r, const char *key, config_setting_t **s,
    const char **out)
{
	*out = NULL;
	if ((*s = config_setting_get_member(g, key)) == NULL)
		return 0;
	if (config_setting_type(*s) != CONFIG_TYPE_STRING)
		return load_error(l, *s, "rule '%s': %s must be a string",
		    r->name, key);
	*out = config_setting_get_string(*s);
	if (*out == NULL || (*out)[0] == '\0')
		return load_error(l, *s, "rule '%s': %s must not be empty",
		    r->name, key);
	return 0;
}

/* subject or issuer: a DN, kept in dn_normalize form. */
static int
load_rule_dn(struct loader *l, const config_setting_t *g, struct rule *r,
    const char *key, char **out)
{
	config_setting_t *s;
	const char *v;
	int rc;

	if ((rc = rule_string(l, g, r, key, &s, &v)) != 0 || v == NULL)
		return rc;
	rc = dn_normalize(v, out);
	if (rc == ERR_NOMEM)
		return load_nomem(l);
	if (rc != 0)
		return load_error(l, s, "rule '%s': %s: invalid DN", r->name,
		    key);
	return 0;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

/* The SAN keys. An email is local@domain, stored with the domain
 * lowercased (policy.c compares certificate emails in that form); domains
 * and DNS names lowercase; URIs as written. */
static int
load_rule_san(struct loader *l, const config_setting_t *g, struct rule *r,
    const char *key, char **out)
{
	config_setting_t *s;
	const char *v, *at;
	char *copy;
	int rc, is_email = strcmp(key, "san_email") == 0;

	if ((rc = rule_string(l, g, r, key, &s, &v)) != 0 || v == NULL)
		return rc;
	at = strrchr(v, '@');
	if (!printable(v) || strlen(v) > 320 ||
	    (is_email && (at == NULL || at == v || at[1] == '\0')) ||
	    (!is_email && strcmp(key, "san_uri") != 0 && at != NULL))
		return load_error(l, s, "rule '%s': %s: not a valid %s",
		    r->name, key, is_email ? "email address" :
		    strcmp(key, "san_uri") == 0 ? "URI" : "domain name");
	if ((copy = strdup(v)) == NULL)
		return load_nomem(l);
	if (is_email)
		lower(copy + (strrchr(copy, '@') - copy));
	else if (strcmp(key, "san_uri") != 0)
		lower(copy);
	*out = copy;
	return 0;
}

static int
hexdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Hex digits with optional colons between pairs, into out, with case
 * folded to upper (or lower) case. Returns the number of digits, or 0 if
 * malformed or longer than max. */
static size_t
hex_digits(const char *v, int upper, char *out, size_t max)
{
	size_t n = 0;

	for (; *v != '\0'; v++) {
		if (*v == ':') {
			/* Only between pairs: "ab:cd", not ":ab", "a:b" or
			 * "ab::cd". */
			if (n == 0 || n % 2 != 0 || v[1] == '\0' || v[1] == ':')
				return 0;
			continue;
		}
		if (!hexdigit(*v) || n == max)
			return 0;
		out[n++] = upper ? (char)(*v >= 'a' ? *v - 'a' + 'A' : *v) :
		    (char)(*v >= 'A' && *v <= 'F' ? *v - 'A' + 'a' : *v);
	}
	out[n] = '\0';
	return n;
}

/* The serial in ident's form: uppercase, no leading zero byte. */
static int
load_rule_serial(struct loader *l, const config_setting_t *g,
    struct rule *r)
{
	config_setting_t *s;
	const char *v;
	char digits[128], *p = digits;
	size_t n;
	int rc;

	if ((rc = rule_string(l, g, r, "serial", &s, &v)) != 0 || v == NULL)
		return rc;
	if ((n = hex_digits(v, 1, digits, 80)) == 0)
		return load_error(l, s, "rule '%s': serial: not a hex number "
		    "(up to 40 bytes, colons allowed between bytes)", r->name);
	while (n > 1 && *p == '0')
		p++, n--;
	if (*p == '0')
		r->serial = strdup("00");
	else if (n % 2 != 0)
		rc = asprintf(&r->serial, "0%s", p) < 0 ? -1 : 0;
	else
		r->serial = strdup(p);
	if (rc != 0 || r->serial == NULL) {
		r->serial = NULL;
		return load_nomem(l);
	}
	return 0;
}

static int
load_rule_fingerprint(struct loader *l, const config_setting_t *g,
    struct rule *r)
{
	config_setting_t *s;
	const char *v;
	char digits[IDENT_FPR_LEN];
	int rc;

	rc = rule_string(l, g, r, "fingerprint", &s, &v);
	if (rc != 0 || v == NULL)
		return rc;
	if (strncasecmp(v, "sha256:", 7) != 0 ||
	    hex_digits(v + 7, 0, digits, 64) != 64)
		return load_error(l, s, "rule '%s': fingerprint: not "
		    "\"sha256:\" and 64 hex digits", r->name);
	if (asprintf(&r->fingerprint, "sha256:%s", digits) < 0) {
		r->fingerprint = NULL;
		return load_nomem(l);
	}
	return 0;
}

static int
load_rule_policy_oid(struct loader *l, const config_setting_t *g,
    struct rule *r)
{
	config_setting_t *s;
	const char *v;
	int rc;

	rc = rule_string(l, g, r, "policy_oid", &s, &v);
	if (rc != 0 || v == NULL)
		return rc;
	rc = ident_oid_normalize(v, &r->policy_oid);
	if (rc == ERR_NOMEM)
		return load_nomem(l);
	if (rc != 0)
		return load_error(l, s, "rule '%s': policy_oid: not a dotted "
		    "OID", r->name);
	return 0;
}

static int
attr_add(struct loader *l, struct rule *r, const char *type,
    const char *value)
{
	struct rule_attr *a;

	a = reallocarray(r->attrs, r->n_attrs + 1, sizeof(*a));
	if (a == NULL)
		return load_nomem(l);
	r->attrs = a;
	a = &r->attrs[r->n_attrs++];
	a->value = NULL;
	if ((a->type = strdup(type)) == NULL ||
	    (a->value = strdup(value)) == NULL)
		return load_nomem(l);
	return 0;
}

/* One member of subject_attrs: TYPE = "value" or TYPE = [ "v1", ... ]
 * (all present). */
static int
load_rule_attr(struct loader *l, const config_setting_t *m, struct rule *r)
{
	char type[IDENT_TYPE_MAX], buf[ECHO_MAX + 1];
	const config_setting_t *e;
	const char *v;
	unsigned i, n = 1;
	int rc;

	if (dn_attr_type(config_setting_name(m), type) != 0)
		return load_error(l, m, "rule '%s': subject_attrs: unknown "
		    "attribute type '%s'", r->name,
		    echo(config_setting_name(m), buf));
	if (config_setting_is_array(m) || config_setting_is_list(m))
		n = (unsigned)config_setting_length(m);
	else if (config_setting_type(m) != CONFIG_TYPE_STRING)
		n = 0;
	for (i = 0; i < n; i++) {
		e = config_setting_type(m) == CONFIG_TYPE_STRING ? m :
		    config_setting_get_elem(m, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    (v = config_setting_get_string(e)) == NULL || v[0] == '\0')
			break;
		if ((rc = attr_add(l, r, type, v)) != 0)
			return rc;
	}
	if (n == 0 || i < n)
		return load_error(l, m, "rule '%s': subject_attrs: %s must be "
		    "a non-empty string or list of strings", r->name, type);
	return 0;
}

static int
load_rule_attrs(struct loader *l, const config_setting_t *g,
    struct rule *r)
{
	const config_setting_t *s, *m;
	unsigned i;
	int rc;

	if ((s = config_setting_get_member(g, "subject_attrs")) == NULL)
		return 0;
	if (!config_setting_is_group(s) || config_setting_length(s) == 0)
		return load_error(l, s, "rule '%s': subject_attrs must be a "
		    "non-empty group { TYPE = \"value\"; ... }", r->name);
	for (i = 0; (m = config_setting_get_elem(s, i)) != NULL; i++) {
		if ((rc = load_rule_attr(l, m, r)) != 0)
			return rc;
	}
	return 0;
}

/* A rule's non-empty list of printable strings without spaces (*n 0 when
 * absent); what names the elements in messages. */
static int
load_rule_strv(struct loader *l, const config_setting_t *g, struct rule *r,
    const char *key, const char *what, char ***out, size_t *n)
{
	config_setting_t *s, *e;
	const char *v;
	char buf[ECHO_MAX + 1];
	size_t len, i;

	if ((s = config_setting_get_member(g, key)) == NULL)
		return 0;
	if ((!config_setting_is_array(s) && !config_setting_is_list(s)) ||
	    (len = (size_t)config_setting_length(s)) == 0)
		return load_error(l, s, "rule '%s': %s must be a non-empty "
		    "list of %s", r->name, key, what);
	if ((*out = calloc(len, sizeof(**out))) == NULL)
		return load_nomem(l);
	*n = len;
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    (v = config_setting_get_string(e)) == NULL || v[0] == '\0')
			return load_error(l, e, "rule '%s': %s must be a "
			    "non-empty list of %s", r->name, key, what);
		if (!printable(v))
			return load_error(l, e, "rule '%s': %s: '%s' is not "
			    "one of %s", r->name, key, echo(v, buf), what);
		if (((*out)[i] = strdup(v)) == NULL)
			return load_nomem(l);
	}
	return 0;
}

static int
load_rule_from(struct loader *l, const config_setting_t *g, struct rule *r)
{
	config_setting_t *s;
	char **v = NULL, buf[ECHO_MAX + 1];
	size_t n = 0, i;
	int rc;

	rc = load_rule_strv(l, g, r, "from", "networks", &v, &n);
	if (rc != 0 || n == 0)
		goto out;
	if ((r->from = calloc(n, sizeof(*r->from))) == NULL) {
		rc = load_nomem(l);
		goto out;
	}
	r->n_from = n;
	s = config_setting_get_member(g, "from");
	for (i = 0; i < n; i++) {
		if (policy_cidr_parse(v[i], &r->from[i]) == 0)
			continue;
		rc = load_error(l, config_setting_get_elem(s, (unsigned)i),
		    "rule '%s': from: '%s' is not an address or ADDR/PREFIX "
		    "network (with no host bits set)", r->name,
		    echo(v[i], buf));
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

static int
load_rule_deny(struct loader *l, const config_setting_t *g, struct rule *r)
{
	config_setting_t *s;

	if ((s = config_setting_get_member(g, "deny")) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return load_error(l, s, "rule '%s': deny must be true or false",
		    r->name);
	r->deny = config_setting_get_bool(s);
	return 0;
}

static int
rule_has_key(const struct rule *r)
{
	return r->subject != NULL || r->n_attrs > 0 || r->issuer != NULL ||
	    r->san_email != NULL || r->san_email_domain != NULL ||
	    r->san_dns != NULL || r->san_uri != NULL || r->serial != NULL ||
	    r->fingerprint != NULL || r->policy_oid != NULL;
}

/* Every match key; a rule must have one, or it would match everyone. */
static int
load_rule_keys(struct loader *l, const config_setting_t *g, struct rule *r)
{
	int rc;

	if ((rc = load_rule_dn(l, g, r, "subject", &r->subject)) != 0 ||
	    (rc = load_rule_attrs(l, g, r)) != 0 ||
	    (rc = load_rule_dn(l, g, r, "issuer", &r->issuer)) != 0 ||
	    (rc = load_rule_san(l, g, r, "san_email", &r->san_email)) != 0 ||
	    (rc = load_rule_san(l, g, r, "san_email_domain",
	    &r->san_email_domain)) != 0 ||
	    (rc = load_rule_san(l, g, r, "san_dns", &r->san_dns)) != 0 ||
	    (rc = load_rule_san(l, g, r, "san_uri", &r->san_uri)) != 0 ||
	    (rc = load_rule_serial(l, g, r)) != 0 ||
	    (rc = load_rule_fingerprint(l, g, r)) != 0 ||
	    (rc = load_rule_policy_oid(l, g, r)) != 0)
		return rc;
	if (!rule_has_key(r))
		return load_error(l, g, "rule '%s': no match key (one of "
		    "subject, subject_attrs, issuer, san_email, "
		    "san_email_domain, san_dns, san_uri, serial, fingerprint, "
		    "policy_oid)", r->name);
	return 0;
}

static int
load_rule_users(struct loader *l, const config_setting_t *g,
    struct rule *r)
{
	static const char what[] = "users must be a non-empty list of user "
	    "names";
	config_setting_t *s, *e;
	const char *v;
	char buf[ECHO_MAX + 1];
	size_t len, i;

	/* A deny rule without users refuses every user. */
	if ((s = config_setting_get_member(g, "users")) == NULL && r->deny)
		return 0;
	if (s == NULL)
		return load_error(l, g, "rule '%s': %s", r->name, what);
	if ((!config_setting_is_array(s) && !config_setting_is_list(s)) ||
	    (len = (size_t)config_setting_length(s)) == 0)
		return load_error(l, s, "rule '%s': %s", r->name, what);
	if ((r->users = calloc(len, sizeof(*r->users))) == NULL)
		return load_nomem(l);
	r->n_users = len;
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return load_error(l, e, "rule '%s': %s", r->name, what);
		v = config_setting_get_string(e);
		switch (policy_user_template(v)) {
		case TMPL_NONE:
			if (!valid_user_name(v))
				return load_error(l, e, "rule '%s': %s ('%s' is "
				    "not one)", r->name, what, echo(v, buf));
			break;
		case TMPL_CN:
		case TMPL_UID:
		case TMPL_EMAIL_LOCAL:
			break;
		case TMPL_UNKNOWN:
		default:
			return load_error(l, e, "rule '%s': users: unknown "
			    "template '%s' (known: %%{cn}, %%{uid}, "
			    "%%{email.local})", r->name, echo(v, buf));
		}
		if ((r->users[i] = strdup(v)) == NULL)
			return load_nomem(l);
	}
	return 0;
}

static int
load_rule(struct loader *l, const config_setting_t *g, unsigned idx)
{
	const char *file = config_setting_source_file(g);
	const config_setting_t *s;
	struct rule *r = NULL;
	int rc;

	if (!config_setting_is_group(g))
		return load_error(l, g, "rules[%u] must be a group { ... }",
		    idx);
	if ((rc = rule_append(l, &r)) != 0)
		return rc;
	if ((r->file = strdup(file != NULL ? file : l->c->file)) == NULL)
		return load_nomem(l);
	r->line = (int)config_setting_source_line(g);
	if ((rc = load_rule_name(l, g, idx, r)) != 0)
		return rc;
	if ((s = unknown_key(g, rule_keys)) != NULL)
		return load_error(l, s, "rule '%s': unknown key '%s'", r->name,
		    config_setting_name(s));
	if ((rc = load_rule_keys(l, g, r)) != 0 ||
	    (rc = load_rule_deny(l, g, r)) != 0 ||
	    (rc = load_rule_users(l, g, r)) != 0 ||
	    (rc = load_rule_strv(l, g, r, "services", "PAM service names",
	    &r->services, &r->n_services)) != 0)
		return rc;
	return load_rule_from(l, g, r);
}

/* The rules = ( ... ) list of one file's root, if there is one. */
static int
load_rules(struct loader *l, const config_setting_t *root)
{
	config_setting_t *s = NULL, *e;
	unsigned i;
	int r;

	if ((r = get_member(l, root, "rules", 0, &s)) != 0 || s == NULL)
		return r;
	if (!config_setting_is_list(s) &&
	    !(config_setting_is_array(s) && config_setting_length(s) == 0))
		return load_error(l, s, "'rules' must be a list ( { ... }, "
		    "... )");
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++) {
		if ((r = load_rule(l, e, i)) != 0)
			return r;
	}
	return 0;
}

/* Reads path into cf; a syntax or I/O error becomes the message. */
static int
read_file(struct loader *l, config_t *cf, const char *path)
{
	int saved;

	errno = 0;
	if (config_read_file(cf, path) == CONFIG_TRUE)
		return 0;
	saved = errno;
	if (l->err == NULL || l->errlen == 0)
		return ERR_CONFIG;
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
		snprintf(l->err, l->errlen, "%s: cannot read: %s", path,
		    saved != 0 ? strerror(saved) : "I/O error");
	else
		snprintf(l->err, l->errlen, "%s:%d: %s",
		    config_error_file(cf) != NULL ? config_error_file(cf) :
		    path, config_error_line(cf), config_error_text(cf));
	return ERR_CONFIG;
}

static int
load_rules_file(struct loader *l, const char *path)
{
	config_t cf;
	const config_setting_t *root, *s;
	int r;

	config_init(&cf);
	config_set_include_dir(&cf, l->c->rules_dir);
	if ((r = read_file(l, &cf, path)) != 0)
		goto out;
	root = config_root_setting(&cf);
	/* Said plainly: a rules file is not a second main file. */
	if ((s = unknown_key(root, rules_file_keys)) != NULL) {
		r = load_error(l, s, "unknown key '%s' (a rules_dir file holds "
		    "only rules = ( ... );)", config_setting_name(s));
		goto out;
	}
	r = load_rules(l, root);
 out:
	config_destroy(&cf);
	return r;
}

/* "x.conf": not hidden, not an editor's backup. */
static int
is_rules_file_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.' || n == 0 || name[n - 1] == '~')
		return 0;
	return n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the rules files in dir, sorted. */
static int
list_rules_dir(struct loader *l, const config_setting_t *where, DIR *d,
    char ***out, size_t *n)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL, **grown, buf[ECHO_MAX + 1];
	size_t len = 0;
	int r = ERR_INTERNAL;

	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (!is_rules_file_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) != 0) {
			r = load_error(l, where, "rules_dir: %s: %s",
			    echo(de->d_name, buf), strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		grown = reallocarray(names, len + 1, sizeof(*names));
		if (grown == NULL) {
			r = load_nomem(l);
			goto out;
		}
		names = grown;
		if ((names[len] = strdup(de->d_name)) == NULL) {
			r = load_nomem(l);
			goto out;
		}
		len++;
	}
	if (errno != 0) {
		r = load_error(l, where, "rules_dir '%s': %s", l->c->rules_dir,
		    strerror(errno));
		goto out;
	}
	if (len > 0)
		qsort(names, len, sizeof(*names), cmp_names);
	*out = names;
	*n = len;
	names = NULL;
	len = 0;
	r = 0;
 out:
	strv_free(&names, &len);
	return r;
}

static int
load_rules_dir(struct loader *l, const config_setting_t *root)
{
	config_setting_t *where = NULL;
	DIR *d = NULL;
	char **names = NULL, *path = NULL;
	size_t n = 0, i;
	int r = ERR_INTERNAL;

	if (l->c->rules_dir == NULL)
		return 0;
	(void)get_member(l, root, "rules_dir", 0, &where);
	if ((d = opendir(l->c->rules_dir)) == NULL) {
		r = load_error(l, where, "rules_dir '%s': %s", l->c->rules_dir,
		    strerror(errno));
		goto out;
	}
	if ((r = list_rules_dir(l, where, d, &names, &n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", l->c->rules_dir, names[i]) < 0) {
			path = NULL;
			r = load_nomem(l);
			goto out;
		}
		if ((r = load_rules_file(l, path)) != 0)
			goto out;
		free(path);
		path = NULL;
	}
	r = 0;
 out:
	free(path);
	strv_free(&names, &n);
	if (d != NULL)
		closedir(d);
	return r;
}

static int
load_main(struct loader *l, const config_setting_t *root)
{
	struct config *c = l->c;
	int r;

	if ((r = check_keys(l, root, NULL, top_keys)) != 0 ||
	    (r = load_user(l, root)) != 0 ||
	    (r = load_listen(l, root)) != 0 ||
	    (r = get_str(l, root, "pam_socket", 0, 1, &c->pam_socket)) != 0 ||
	    (r = load_pam_peers(l, root)) != 0 ||
	    (r = get_str(l, root, "control_socket", 0, 1,
	    &c->control_socket)) != 0 ||
	    (r = get_str(l, root, "rules_dir", 0, 1, &c->rules_dir)) != 0 ||
	    (r = load_log_level(l, root)) != 0 ||
	    (r = get_bool(l, root, "sandbox", &c->sandbox)) != 0 ||
	    (r = get_uint(l, root, "workers", 1, CONFIG_MAX_WORKERS,
	    &c->workers)) != 0 ||
	    (r = load_tls(l, root)) != 0 ||
	    (r = load_tickets(l, root)) != 0 ||
	    (r = load_audit(l, root)) != 0 ||
	    (r = load_ocsp(l, root)) != 0 ||
	    (r = load_limits(l, root)) != 0 ||
	    (r = load_rules(l, root)) != 0)
		return r;
	if ((r = load_rules_dir(l, root)) != 0)
		return r;
	/* Decisions look rules up by their exact keys (policy.h). */
	return policy_index_build(&c->policy) == 0 ? 0 : load_nomem(l);
}

static int
set_defaults(struct config *c)
{
	static const char *const listen[] = { "0.0.0.0:7443", "[::]:7443" };
	size_t i, n = sizeof(listen) / sizeof(listen[0]);

	if ((c->user = strdup("mtlsd")) == NULL ||
	    (c->pam_socket = strdup("/run/mtlsd/pam.sock")) == NULL ||
	    (c->control_socket = strdup("/run/mtlsd/control.sock")) == NULL ||
	    (c->listen = calloc(n, sizeof(*c->listen))) == NULL ||
	    (c->pam_peers = calloc(1, sizeof(*c->pam_peers))) == NULL)
		return ERR_NOMEM;
	c->n_listen = n;
	for (i = 0; i < n; i++) {
		if ((c->listen[i] = strdup(listen[i])) == NULL)
			return ERR_NOMEM;
	}
	c->pam_peers[0] = 0;
	c->n_pam_peers = 1;
	c->tls.min_version = TLS1_3_VERSION;
	c->tickets.lifetime = 60;
	c->tickets.bind_address = 1;
	c->sandbox = 1;
	c->workers = 1;
	c->limits = (struct config_limits){
		.max_connections = 1024, .max_per_source = 32,
		.handshake_timeout = 10, .request_timeout = 10,
		.idle_timeout = 30, .max_header_size = 8192,
		.max_body_size = 4096, .max_tickets = 10000,
		.max_tickets_per_cert = 8, .pam_clients = 128,
		.failure_window = 60, .slow_after = 10, .slow_delay_ms = 1000,
		.refuse_after = 30, .refuse_for = 300, .throttle_entries = 4096,
	};
	c->log_level = LOG_INFO;
	return 0;
}

/* The absolute directory of path, as named (symbolic links are not
 * followed: files sit beside the name the admin used). */
static int
dir_of(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	char *cwd = NULL;
	int r = ERR_NOMEM;

	if (slash == path) {
		*out = strdup("/");
	} else if (slash != NULL && path[0] == '/') {
		*out = strndup(path, (size_t)(slash - path));
	} else {
		if ((cwd = getcwd(NULL, 0)) == NULL)
			return errno == ENOMEM ? ERR_NOMEM : ERR_IO;
		if (slash == NULL)
			*out = strdup(cwd);
		else if (asprintf(out, "%s/%.*s", cwd, (int)(slash - path),
		    path) < 0)
			*out = NULL;
	}
	if (*out != NULL)
		r = 0;
	free(cwd);
	return r;
}

int
config_load(const char *path, struct config **out, char *err,
    size_t errlen)
{
	struct loader l = { .err = err, .errlen = errlen };
	struct config *c = NULL;
	config_t cf;
	int r = ERR_INTERNAL;

	config_init(&cf);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0' || out == NULL) {
		r = ERR_INVALID;
		goto out;
	}
	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->file = strdup(path)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	l.c = c;
	if (set_defaults(c) != 0) {
		r = load_nomem(&l);
		goto out;
	}
	if ((r = dir_of(path, &l.dir)) != 0) {
		if (r == ERR_NOMEM)
			r = load_nomem(&l);
		else
			r = load_error(&l, NULL, "cannot find the current "
			    "directory: %s", strerror(errno));
		goto out;
	}
	config_set_include_dir(&cf, l.dir);
	if ((r = read_file(&l, &cf, path)) != 0)
		goto out;
	if ((r = load_main(&l, config_root_setting(&cf))) != 0)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
 out:
	config_destroy(&cf);
	free(l.dir);
	config_free(&c);
	return r;
}

void
config_free(struct config **cp)
{
	struct config *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	free(c->file);
	free(c->user);
	strv_free(&c->listen, &c->n_listen);
	free(c->pam_socket);
	free(c->control_socket);
	free(c->rules_dir);
	free(c->pam_peers);
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.trust_anchors);
	free(c->tls.intermediates);
	free(c->tls.src);
	strv_free(&c->tls.crl, &c->tls.n_crl);
	strv_free(&c->tickets.local_services, &c->tickets.n_local_services);
	free(c->audit.file);
	free(c->audit.where);
	free(c->ocsp.responder);
	policy_clear(&c->policy);
	free(c);
	*cp = NULL;
}

static int
port_ok(const char *p)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; p[i] != '\0'; i++) {
		if (i >= 5 || p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return i > 0 && v >= 1 && v <= 65535;
}

static int
host_ok(const char *h, size_t len, int bracketed)
{
	/* Numeric only: the daemon binds without resolving names, so a name
	 * here would pass the check and fail at start-up. */
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (len == 0 || len >= sizeof(text))
		return 0;
	memcpy(text, h, len);
	text[len] = '\0';
	return inet_pton(bracketed ? AF_INET6 : AF_INET, text, &a) == 1;
}

int
config_split_listen(const char *addr, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	const char *h, *p, *end;
	size_t hl;
	int bracketed;

	if (addr == NULL || host == NULL || port == NULL)
		return ERR_INVALID;
	bracketed = addr[0] == '[';
	if (bracketed) {
		h = addr + 1;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':')
			return ERR_INVALID;
		p = end + 2;
	} else {
		/* An unbracketed IPv6 address has more than one ':' and is
		 * refused by host_ok. */
		if ((end = strrchr(addr, ':')) == NULL)
			return ERR_INVALID;
		h = addr;
		p = end + 1;
	}
	hl = (size_t)(end - h);
	if (!host_ok(h, hl, bracketed) || !port_ok(p))
		return ERR_INVALID;
	if (hl >= hostlen || strlen(p) >= portlen)
		return ERR_TOOLONG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, p, strlen(p) + 1);
	return 0;
}
