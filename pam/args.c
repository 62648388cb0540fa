#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "args.h"

/* Room for a path in sockaddr_un, its NUL included. */
#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)NULL)->sun_path)

struct arg_def {
	const char *name;
	int takes_value;
	int (*set)(struct pam_args *a, const char *value, char *err,
	    size_t errlen);
};

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason and returns ERR_CONFIG, so callers can return it. */
static int
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ERR_CONFIG;
}

static int
set_debug(struct pam_args *a, const char *value, char *err, size_t errlen)
{
	(void)value;
	(void)err;
	(void)errlen;
	a->debug = 1;
	return 0;
}

static int
set_use_first_pass(struct pam_args *a, const char *value, char *err,
    size_t errlen)
{
	(void)value;
	(void)err;
	(void)errlen;
	a->use_first_pass = 1;
	return 0;
}

static int
set_try_first_pass(struct pam_args *a, const char *value, char *err,
    size_t errlen)
{
	(void)value;
	(void)err;
	(void)errlen;
	a->try_first_pass = 1;
	return 0;
}

/* The socket's directory is checked by the client, so the path must name
 * one: absolute, not ending in '/', and short enough for sun_path. */
static int
set_socket(struct pam_args *a, const char *value, char *err, size_t errlen)
{
	size_t n = strlen(value);

	if (n == 0 || value[0] != '/')
		return set_err(err, errlen,
		    "socket= needs an absolute path, got \"%s\"", value);
	if (value[n - 1] == '/')
		return set_err(err, errlen,
		    "socket= must name a socket, not a directory: \"%s\"",
		    value);
	if (n >= SUN_PATH_LEN)
		return set_err(err, errlen,
		    "socket= path longer than %zu bytes", SUN_PATH_LEN - 1);
	a->socket = value;
	return 0;
}

/* Digits only: strtol would take blanks, a sign and "0x". */
static int
set_timeout(struct pam_args *a, const char *value, char *err, size_t errlen)
{
	const char *p;
	int t = 0;

	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || t > PAM_ARGS_MAX_TIMEOUT)
			break;
		t = t * 10 + (*p - '0');
	}
	if (p == value || *p != '\0' || t < 1 || t > PAM_ARGS_MAX_TIMEOUT)
		return set_err(err, errlen,
		    "timeout= wants whole seconds 1..%d, got \"%s\"",
		    PAM_ARGS_MAX_TIMEOUT, value);
	a->timeout = t;
	return 0;
}

static int
set_prompt(struct pam_args *a, const char *value, char *err, size_t errlen)
{
	size_t n = strlen(value);

	if (n == 0)
		return set_err(err, errlen, "prompt= is empty");
	if (n > PAM_ARGS_MAX_PROMPT)
		return set_err(err, errlen,
		    "prompt= longer than %d bytes", PAM_ARGS_MAX_PROMPT);
	a->prompt = value;
	return 0;
}

static const struct arg_def arg_defs[] = {
	{ "socket", 1, set_socket },
	{ "timeout", 1, set_timeout },
	{ "prompt", 1, set_prompt },
	{ "debug", 0, set_debug },
	{ "use_first_pass", 0, set_use_first_pass },
	{ "try_first_pass", 0, set_try_first_pass },
};

/* The definition whose name is arg up to its '=' (or all of it). */
static const struct arg_def *
arg_find(const char *arg)
{
	size_t i, n = strcspn(arg, "=");

	for (i = 0; i < sizeof(arg_defs) / sizeof(arg_defs[0]); i++) {
		if (strlen(arg_defs[i].name) == n &&
		    strncmp(arg_defs[i].name, arg, n) == 0)
			return &arg_defs[i];
	}
	return NULL;
}

static void
remember_unknown(struct pam_args *a, const char *arg)
{
	if (a->n_unknown < PAM_ARGS_MAX_UNKNOWN)
		a->unknown[a->n_unknown] = arg;
	a->n_unknown++;
}

static int
parse_one(struct pam_args *a, const char *arg, char *err, size_t errlen)
{
	const struct arg_def *def;
	const char *eq;

	if (arg == NULL)
		return set_err(err, errlen, "NULL argument");
	if ((def = arg_find(arg)) == NULL) {
		remember_unknown(a, arg);
		return 0;
	}
	eq = strchr(arg, '=');
	if (def->takes_value && eq == NULL)
		return set_err(err, errlen, "%s= needs a value", def->name);
	if (!def->takes_value && eq != NULL)
		return set_err(err, errlen, "%s takes no value", def->name);
	return def->set(a, eq != NULL ? eq + 1 : NULL, err, errlen);
}

int
pam_args_parse(int argc, const char **argv, struct pam_args *out, char *err,
    size_t errlen)
{
	int i, r;

	memset(out, 0, sizeof(*out));
	out->socket = PAM_ARGS_DEFAULT_SOCKET;
	out->prompt = PAM_ARGS_DEFAULT_PROMPT;
	out->timeout = PAM_ARGS_DEFAULT_TIMEOUT;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (argc < 0 || (argc > 0 && argv == NULL))
		return set_err(err, errlen, "no argument vector");

	for (i = 0; i < argc; i++) {
		if ((r = parse_one(out, argv[i], err, errlen)) != 0)
			return r;
	}
	if (out->use_first_pass)
		out->try_first_pass = 0;
	return 0;
}
