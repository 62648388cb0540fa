#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <syslog.h>

#include <openssl/tls1.h>

#include "conf.h"

/* One line that satisfies the required tls keys. */
#define TLS_OK "tls = { certificate = \"c.pem\"; private_key = \"k.pem\"; " \
	"trust_anchors = \"ca.pem\"; };\n"

/* Buffer sizes: short paths under /tmp, messages holding a path. */
#define DIR_LEN 256
#define PATH_LEN 512
#define MSG_LEN 1024
#define WANT_LEN 2048

static char dir[DIR_LEN];   /* the test's mkdtemp directory */

static void
path_in(char *out, size_t len, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", dir, rel);

	assert_true(n > 0 && (size_t)n < len);
}

/* Writes text to dir/rel, creating the directory rel names first. */
static void
write_file(const char *rel, const char *text)
{
	char path[PATH_LEN], sub[PATH_LEN], *slash;
	FILE *f;

	path_in(path, sizeof(path), rel);
	snprintf(sub, sizeof(sub), "%s", path);
	if ((slash = strrchr(sub, '/')) != NULL) {
		*slash = '\0';
		assert_true(mkdir(sub, 0700) == 0 || errno == EEXIST);
	}
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes text as dir/main.conf and loads it. */
static int
load_text(const char *text, struct config **c, char *err, size_t errlen)
{
	char path[PATH_LEN];

	write_file("main.conf", text);
	path_in(path, sizeof(path), "main.conf");
	return config_load(path, c, err, errlen);
}

/* Loads text as main.conf, failing the test with the message if it is
 * refused. */
static struct config *
assert_loads(const char *text)
{
	struct config *c = NULL;
	char err[512] = "";

	if (load_text(text, &c, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_non_null(c);
	assert_string_equal(err, "");
	return c;
}

/* The message config_load must give for main.conf: "FILE:LINE: msg", or
 * "FILE: msg" for line 0. */
static void
assert_load_error(const char *text, int line, const char *msg)
{
	struct config *c = NULL;
	char err[512], want[WANT_LEN], path[PATH_LEN];

	path_in(path, sizeof(path), "main.conf");
	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	else
		snprintf(want, sizeof(want), "%s: %s", path, msg);
	assert_int_equal(load_text(text, &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, want);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_conf.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The shipped example: MTLS_SRCDIR (make check), else srcdir, else the
 * tree this file was compiled from. */
static void
example_path(char *out, size_t len)
{
	const char *src = getenv("MTLS_SRCDIR");
	const char *tail = "tests/unit/test_conf.c";
	size_t n;

	if (src == NULL)
		src = getenv("srcdir");
	if (src != NULL) {
		snprintf(out, len, "%s/conf/mtlsd.conf", src);
		return;
	}
	n = strlen(__FILE__);
	assert_true(n >= strlen(tail));
	snprintf(out, len, "%.*sconf/mtlsd.conf", (int)(n - strlen(tail)),
	    __FILE__);
}

/* The line of the first line in path that contains s. */
static int
line_of(const char *path, const char *s)
{
	char buf[1024];
	FILE *f;
	int n = 0;

	assert_non_null(f = fopen(path, "r"));
	while (fgets(buf, sizeof(buf), f) != NULL) {
		n++;
		if (strstr(buf, s) != NULL)
			break;
	}
	fclose(f);
	return n;
}

static void
test_example_loads(void **state)
{
	struct config *c = NULL;
	char path[PATH_LEN], err[512] = "";
	int line;

	(void)state;
	example_path(path, sizeof(path));
	line = line_of(path, "name = \"alice\"");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(c);
	assert_string_equal(c->file, path);
	assert_string_equal(c->user, "mtlsd");
	assert_int_equal(c->n_listen, 2);
	assert_string_equal(c->listen[0], "0.0.0.0:7443");
	assert_string_equal(c->listen[1], "[::]:7443");
	assert_string_equal(c->pam_socket, "/run/mtlsd/pam.sock");
	assert_string_equal(c->control_socket, "/run/mtlsd/control.sock");
	assert_int_equal(c->n_pam_peers, 1);
	assert_int_equal(c->pam_peers[0], 0);
	assert_string_equal(c->tls.certificate, "/etc/mtls/server.pem");
	assert_string_equal(c->tls.private_key, "/etc/mtls/server.key");
	assert_string_equal(c->tls.trust_anchors, "/etc/mtls/ca.pem");
	assert_int_equal(c->tls.min_version, TLS1_3_VERSION);
	assert_int_equal(c->tickets.lifetime, 60);
	assert_int_equal(c->tickets.bind_address, 1);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->policy.n_rules, 1);
	assert_string_equal(c->policy.rules[0].name, "alice");
	assert_string_equal(c->policy.rules[0].subject,
	    "CN=alice,OU=ops,O=Example");
	assert_int_equal(c->policy.rules[0].n_users, 2);
	assert_string_equal(c->policy.rules[0].users[0], "root");
	assert_string_equal(c->policy.rules[0].users[1], "admin");
	assert_string_equal(c->policy.rules[0].file, path);
	assert_int_equal(c->policy.rules[0].line, line);
	config_free(&c);
	assert_null(c);
}

static void
test_minimal_defaults(void **state)
{
	struct config *c;
	char path[PATH_LEN];

	(void)state;
	c = assert_loads(TLS_OK);
	path_in(path, sizeof(path), "main.conf");
	assert_string_equal(c->file, path);
	assert_string_equal(c->user, "mtlsd");
	assert_int_equal(c->n_listen, 2);
	assert_string_equal(c->listen[0], "0.0.0.0:7443");
	assert_string_equal(c->listen[1], "[::]:7443");
	assert_string_equal(c->pam_socket, "/run/mtlsd/pam.sock");
	assert_string_equal(c->control_socket, "/run/mtlsd/control.sock");
	assert_null(c->rules_dir);
	assert_int_equal(c->n_pam_peers, 1);
	assert_int_equal(c->pam_peers[0], 0);
	assert_null(c->tls.intermediates);
	assert_null(c->tls.crl);
	assert_int_equal(c->tls.n_crl, 0);
	assert_int_equal(c->tls.min_version, TLS1_3_VERSION);
	assert_int_equal(c->tickets.lifetime, 60);
	assert_int_equal(c->tickets.bind_address, 1);
	assert_null(c->tickets.local_services);
	assert_int_equal(c->tickets.n_local_services, 0);
	assert_null(c->audit.file);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->policy.n_rules, 0);
	config_free(&c);
	config_free(&c);
	config_free(NULL);
}

static void
assert_in_dir(const char *got, const char *rel)
{
	char want[PATH_LEN];

	path_in(want, sizeof(want), rel);
	assert_string_equal(got, want);
}

static void
test_full_relative_paths(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads(
	    "user = \"daemon\";\n"
	    "listen = [ \"127.0.0.1:8443\", \"[::1]:9443\", \"10.1.2.3:1\" ];\n"
	    "pam_socket = \"run/pam.sock\";\n"
	    "pam_peers = ( 0, 1000, 4294967294L );\n"
	    "control_socket = \"/abs/control.sock\";\n"
	    "log_level = \"debug\";\n"
	    "tls = { certificate = \"server.pem\"; private_key = \"k/server.key\";\n"
	    "  trust_anchors = \"/etc/ca.pem\"; intermediates = \"int.pem\";\n"
	    "  crl = [ \"a.crl\", \"/b.crl\" ]; min_version = \"1.2\"; };\n"
	    "tickets = { lifetime = 3600; bind_address = false;\n"
	    "  local_services = [ \"sudo\", \"login\" ]; };\n"
	    "audit = { file = \"audit.jsonl\"; };\n"
	    "rules = ( { name = \"r1\"; subject = \"cn=a, o=Example\";\n"
	    "            users = ( \"root\" ); } );\n");
	assert_string_equal(c->user, "daemon");
	assert_int_equal(c->n_listen, 3);
	assert_string_equal(c->listen[1], "[::1]:9443");
	assert_in_dir(c->pam_socket, "run/pam.sock");
	assert_int_equal(c->n_pam_peers, 3);
	assert_int_equal(c->pam_peers[1], 1000);
	assert_int_equal(c->pam_peers[2], (uid_t)4294967294u);
	assert_string_equal(c->control_socket, "/abs/control.sock");
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_in_dir(c->tls.certificate, "server.pem");
	assert_in_dir(c->tls.private_key, "k/server.key");
	assert_string_equal(c->tls.trust_anchors, "/etc/ca.pem");
	assert_in_dir(c->tls.intermediates, "int.pem");
	assert_int_equal(c->tls.n_crl, 2);
	assert_in_dir(c->tls.crl[0], "a.crl");
	assert_string_equal(c->tls.crl[1], "/b.crl");
	assert_int_equal(c->tls.min_version, TLS1_2_VERSION);
	assert_int_equal(c->tickets.lifetime, 3600);
	assert_int_equal(c->tickets.bind_address, 0);
	assert_int_equal(c->tickets.n_local_services, 2);
	assert_string_equal(c->tickets.local_services[1], "login");
	assert_in_dir(c->audit.file, "audit.jsonl");
	assert_int_equal(c->policy.n_rules, 1);
	/* Stored normalised. */
	assert_string_equal(c->policy.rules[0].subject, "CN=a,O=Example");
	assert_int_equal(c->policy.rules[0].line, 13);
	config_free(&c);
}

static void
test_crl_single_string(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads("tls = { certificate = \"c\"; "
	    "private_key = \"k\"; trust_anchors = \"a\"; crl = \"x.crl\"; };\n");
	assert_int_equal(c->tls.n_crl, 1);
	assert_in_dir(c->tls.crl[0], "x.crl");
	config_free(&c);
	/* A lone string is accepted for crl only. */
	assert_load_error(TLS_OK "listen = \"0.0.0.0:1\";\n", 2,
	    "'listen' must be a list [ ... ]");
	assert_load_error(TLS_OK "tickets = { local_services = \"sudo\"; };\n",
	    2, "'tickets.local_services' must be a list [ ... ]");
}

/* A config loaded from a relative path still stores absolute paths. */
static void
test_relative_config_path(void **state)
{
	struct config *c = NULL;
	char err[512], cwd[PATH_MAX];

	(void)state;
	write_file("sub/rel.conf", TLS_OK);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(config_load("sub/rel.conf", &c, err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(c->file, "sub/rel.conf");
	assert_in_dir(c->tls.certificate, "sub/c.pem");
	config_free(&c);
}

/* Every log_level name loads as its syslog priority. */
static void
test_log_levels(void **state)
{
	static const struct {
		const char *name;
		int prio;
	} levels[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	struct config *c;
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), TLS_OK "log_level = \"%s\";\n",
		    levels[i].name);
		c = assert_loads(text);
		assert_int_equal(c->log_level, levels[i].prio);
		config_free(&c);
	}
}

/* sandbox: on unless set false; only a boolean. */
static void
test_sandbox_key(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads(TLS_OK);
	assert_int_equal(c->sandbox, 1);
	config_free(&c);
	c = assert_loads(TLS_OK "sandbox = false;\n");
	assert_int_equal(c->sandbox, 0);
	config_free(&c);
	c = assert_loads(TLS_OK "sandbox = true;\n");
	assert_int_equal(c->sandbox, 1);
	config_free(&c);
	assert_load_error(TLS_OK "sandbox = 0;\n", 2,
	    "'sandbox' must be true or false");
	assert_load_error(TLS_OK "sandbox = \"false\";\n", 2,
	    "'sandbox' must be true or false");
}

/* workers: 1 unless set, an integer from 1 to CONFIG_MAX_WORKERS. */
static void
test_workers_key(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads(TLS_OK);
	assert_int_equal(c->workers, 1);
	config_free(&c);
	c = assert_loads(TLS_OK "workers = 2;\n");
	assert_int_equal(c->workers, 2);
	config_free(&c);
	c = assert_loads(TLS_OK "workers = 64;\n");
	assert_int_equal(c->workers, CONFIG_MAX_WORKERS);
	config_free(&c);
	assert_load_error(TLS_OK "workers = 0;\n", 2,
	    "'workers' must be between 1 and 64");
	assert_load_error(TLS_OK "workers = 65;\n", 2,
	    "'workers' must be between 1 and 64");
	assert_load_error(TLS_OK "workers = -1;\n", 2,
	    "'workers' must be between 1 and 64");
	assert_load_error(TLS_OK "workers = \"2\";\n", 2,
	    "'workers' must be an integer");
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	assert_load_error(TLS_OK "foo = 1;\n", 2, "unknown key 'foo'");
	assert_load_error("tls = {\n"
	    "  certificate = \"c\";\n"
	    "  private_key = \"k\";\n"
	    "  trust_anchors = \"a\";\n"
	    "  certficate = \"c\";\n"
	    "};\n", 5, "unknown key 'tls.certficate'");
	assert_load_error(TLS_OK "tickets = {\n lifetime = 5;\n life = 5; };\n",
	    4, "unknown key 'tickets.life'");
	assert_load_error(TLS_OK "audit = { file = \"a\"; syslog = true; };\n",
	    2, "unknown key 'audit.syslog'");
	assert_load_error(TLS_OK "rules = (\n { name = \"alice\"; "
	    "subject = \"CN=a\"; users = [ \"root\" ];\n"
	    "   service = \"sshd\"; } );\n", 4,
	    "rule 'alice': unknown key 'service'");
}

static void
test_missing_keys(void **state)
{
	(void)state;
	assert_load_error("user = \"mtlsd\";\n", 0,
	    "missing required key 'tls'");
	assert_load_error("\n\ntls = {\n certificate = \"c\";\n"
	    " private_key = \"k\";\n};\n", 3,
	    "missing required key 'tls.trust_anchors'");
	assert_load_error("tls = { private_key = \"k\"; trust_anchors = \"a\"; "
	    "};\n", 1, "missing required key 'tls.certificate'");
	assert_load_error("tls = { certificate = \"k\"; trust_anchors = \"a\"; "
	    "};\n", 1, "missing required key 'tls.private_key'");
	assert_load_error("", 0, "missing required key 'tls'");
}

static void
test_wrong_types(void **state)
{
	(void)state;
	assert_load_error(TLS_OK "user = 5;\n", 2, "'user' must be a string");
	assert_load_error("tls = \"x\";\n", 1, "'tls' must be a group { ... }");
	assert_load_error(TLS_OK "tickets = [ 1 ];\n", 2,
	    "'tickets' must be a group { ... }");
	assert_load_error(TLS_OK "tickets = { lifetime = \"60\"; };\n", 2,
	    "'tickets.lifetime' must be an integer");
	assert_load_error(TLS_OK "tickets = { lifetime = 60.0; };\n", 2,
	    "'tickets.lifetime' must be an integer");
	assert_load_error(TLS_OK "tickets = { bind_address = 1; };\n", 2,
	    "'tickets.bind_address' must be true or false");
	assert_load_error(TLS_OK "pam_peers = [ \"root\" ];\n", 2,
	    "'pam_peers' must be an integer");
	assert_load_error(TLS_OK "pam_peers = 0;\n", 2,
	    "'pam_peers' must be a list [ ... ]");
	assert_load_error("tls = { certificate = \"c\"; private_key = \"k\";\n"
	    "trust_anchors = \"a\"; crl = 5; };\n", 2,
	    "'tls.crl' must be a list [ ... ]");
	assert_load_error("tls = { certificate = \"c\"; private_key = \"k\";\n"
	    "trust_anchors = \"a\"; crl = [ 1 ]; };\n", 2,
	    "'tls.crl' must be a string");
	assert_load_error(TLS_OK "listen = [ 7443 ];\n", 2,
	    "'listen' must be a string");
	assert_load_error(TLS_OK "rules_dir = [ \"x\" ];\n", 2,
	    "'rules_dir' must be a string");
	assert_load_error(TLS_OK "log_level = 1;\n", 2,
	    "'log_level' must be a string");
	assert_load_error("tls = { certificate = \"c\"; private_key = \"k\"; "
	    "trust_anchors = \"a\"; min_version = 1.3; };\n", 1,
	    "'tls.min_version' must be a string");
}

static void
test_empty_paths(void **state)
{
	(void)state;
	assert_load_error("tls = { certificate = \"\"; private_key = \"k\"; "
	    "trust_anchors = \"a\"; };\n", 1,
	    "'tls.certificate' must not be empty");
	assert_load_error(TLS_OK "\npam_socket = \"\";\n", 3,
	    "'pam_socket' must not be empty");
	assert_load_error(TLS_OK "control_socket = \"\";\n", 2,
	    "'control_socket' must not be empty");
	assert_load_error(TLS_OK "audit = { file = \"\"; };\n", 2,
	    "'audit.file' must not be empty");
	assert_load_error(TLS_OK "rules_dir = \"\";\n", 2,
	    "'rules_dir' must not be empty");
	assert_load_error("tls = { certificate = \"c\"; private_key = \"k\";\n"
	    "trust_anchors = \"a\"; crl = [ \"a\", \"\" ]; };\n", 2,
	    "'tls.crl' must not be empty");
}

static void
test_bad_values(void **state)
{
	(void)state;
	assert_load_error(TLS_OK "tickets = { lifetime = 0; };\n", 2,
	    "'tickets.lifetime' must be between 1 and 3600");
	assert_load_error(TLS_OK "tickets = { lifetime = 3601; };\n", 2,
	    "'tickets.lifetime' must be between 1 and 3600");
	assert_load_error(TLS_OK "tickets = { lifetime = -1; };\n", 2,
	    "'tickets.lifetime' must be between 1 and 3600");
	assert_load_error(TLS_OK "pam_peers = [ 0, -1 ];\n", 2,
	    "'pam_peers' must be between 0 and 4294967294");
	assert_load_error(TLS_OK "pam_peers = [ 4294967295L ];\n", 2,
	    "'pam_peers' must be between 0 and 4294967294");
	assert_load_error(TLS_OK "pam_peers = [ ];\n", 2,
	    "'pam_peers' must not be empty");
	assert_load_error(TLS_OK "listen = [ ];\n", 2,
	    "'listen' must not be empty");
	assert_load_error(TLS_OK "listen = [ \"0.0.0.0:7443\",\n"
	    "  \"0.0.0.0:0\" ];\n", 3, "'listen': '0.0.0.0:0' is not HOST:PORT "
	    "or [IPV6]:PORT with a port in 1..65535");
	assert_load_error(TLS_OK "listen = [ \"::1:7443\" ];\n", 2,
	    "'listen': '::1:7443' is not HOST:PORT or [IPV6]:PORT with a "
	    "port in 1..65535");
	assert_load_error("tls = { certificate = \"c\"; private_key = \"k\"; "
	    "trust_anchors = \"a\"; min_version = \"1.1\"; };\n", 1,
	    "'tls.min_version' must be \"1.2\" or \"1.3\"");
	assert_load_error(TLS_OK "log_level = \"trace\";\n", 2,
	    "'log_level' must be \"error\", \"warning\", \"notice\", "
	    "\"info\" or \"debug\"");
	assert_load_error(TLS_OK "log_level = \"warn\";\n", 2,
	    "'log_level' must be \"error\", \"warning\", \"notice\", "
	    "\"info\" or \"debug\"");
	assert_load_error(TLS_OK "log_level = \"Info\";\n", 2,
	    "'log_level' must be \"error\", \"warning\", \"notice\", "
	    "\"info\" or \"debug\"");
	assert_load_error(TLS_OK "log_level = \"\";\n", 2,
	    "'log_level' must not be empty");
	assert_load_error(TLS_OK "user = \"-x\";\n", 2,
	    "'user': '-x' is not a valid user name");
	/* Control bytes in an echoed value are replaced. */
	assert_load_error(TLS_OK "user = \"a\\nb\";\n", 2,
	    "'user': 'a?b' is not a valid user name");
}

static void
test_rule_errors(void **state)
{
	(void)state;
	assert_load_error(TLS_OK "rules = (\n { subject = \"CN=a\"; "
	    "users = [ \"root\" ]; } );\n", 3,
	    "rules[0]: missing required key 'name'");
	assert_load_error(TLS_OK "rules = ( { name = \"\"; subject = \"CN=a\"; "
	    "users = [ \"root\" ]; } );\n", 2,
	    "rules[0]: 'name' must be a non-empty string of printable "
	    "characters");
	assert_load_error(TLS_OK "rules = ( { name = 1; } );\n", 2,
	    "rules[0]: 'name' must be a non-empty string of printable "
	    "characters");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; "
	    "users = [ \"root\" ]; } );\n", 2,
	    "rule 'alice': no match key (one of subject, subject_attrs, "
	    "issuer, san_email, san_email_domain, san_dns, san_uri, serial, "
	    "fingerprint, policy_oid)");
	assert_load_error(TLS_OK "rules = (\n"
	    "  { name = \"alice\";\n"
	    "    subject = \"not a DN\";\n"
	    "    users = [ \"root\" ]; } );\n", 4,
	    "rule 'alice': subject: invalid DN");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; subject = 5; "
	    "users = [ \"root\" ]; } );\n", 2,
	    "rule 'alice': subject must be a string");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; "
	    "subject = \"CN=a\"; users = [ ]; } );\n", 2,
	    "rule 'alice': users must be a non-empty list of user names");
	assert_load_error(TLS_OK "rules = (\n { name = \"alice\"; "
	    "subject = \"CN=a\"; } );\n", 3,
	    "rule 'alice': users must be a non-empty list of user names");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; "
	    "subject = \"CN=a\"; users = \"root\"; } );\n", 2,
	    "rule 'alice': users must be a non-empty list of user names");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; "
	    "subject = \"CN=a\"; users = [ 0 ]; } );\n", 2,
	    "rule 'alice': users must be a non-empty list of user names");
	assert_load_error(TLS_OK "rules = ( { name = \"alice\"; "
	    "subject = \"CN=a\";\n users = [ \"root\",\n \"ro ot\" ]; } );\n", 4,
	    "rule 'alice': users must be a non-empty list of user names "
	    "('ro ot' is not one)");
	assert_load_error(TLS_OK "rules = 5;\n", 2,
	    "'rules' must be a list ( { ... }, ... )");
	assert_load_error(TLS_OK "rules = { a = 1; };\n", 2,
	    "'rules' must be a list ( { ... }, ... )");
	assert_load_error(TLS_OK "rules = ( 5 );\n", 2,
	    "rules[0] must be a group { ... }");
}

static void
test_rule_duplicate_in_file(void **state)
{
	char msg[MSG_LEN], path[PATH_LEN];

	(void)state;
	path_in(path, sizeof(path), "main.conf");
	snprintf(msg, sizeof(msg), "rule 'a' already defined at %s:2", path);
	assert_load_error(TLS_OK
	    "rules = ( { name = \"a\"; subject = \"CN=a\"; users = [ \"x\" ]; },\n"
	    "  { name = \"b\"; subject = \"CN=b\"; users = [ \"x\" ]; },\n"
	    "  { name = \"a\"; subject = \"CN=c\"; users = [ \"x\" ]; } );\n",
	    4, msg);
}

static void
test_empty_rules_ok(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads(TLS_OK "rules = ( );\n");
	assert_int_equal(c->policy.n_rules, 0);
	config_free(&c);
	c = assert_loads(TLS_OK "rules = [ ];\n");
	assert_int_equal(c->policy.n_rules, 0);
	config_free(&c);
}

static void
test_syntax_and_io_errors(void **state)
{
	struct config *c = NULL;
	char err[512], want[WANT_LEN], path[PATH_LEN];

	(void)state;
	assert_load_error(TLS_OK "user = \"x\"\nlisten = ;\n", 3,
	    "syntax error");
	assert_load_error(TLS_OK "user = \"x\";\nuser = \"y\";\n", 3,
	    "duplicate setting name");

	path_in(path, sizeof(path), "nonexistent.conf");
	snprintf(want, sizeof(want), "%s: cannot read: No such file or "
	    "directory", path);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, want);

	assert_int_equal(config_load(NULL, &c, err, sizeof(err)), ERR_INVALID);
	assert_int_equal(config_load(path, NULL, err, sizeof(err)),
	    ERR_INVALID);
	/* No room for a message is not a crash. */
	assert_int_equal(config_load(path, &c, NULL, 0), ERR_CONFIG);
	assert_int_equal(load_text("x = 1;\n", &c, err, 8), ERR_CONFIG);
	assert_int_equal(strlen(err), 7);
}

static const char *
rule_text(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "rules = ( { name = \"%s\"; "
	    "subject = \"CN=%s\"; users = [ \"root\" ]; } );\n", name, name);
	return buf;
}

static void
test_rules_dir_order(void **state)
{
	struct config *c;
	char main_text[1024];
	const struct rule *r;

	(void)state;
	write_file("rd1/20-b.conf", rule_text("b"));
	write_file("rd1/10-a.conf", "# first\n"
	    "rules = ( { name = \"a1\"; subject = \"CN=a1\"; users = [ \"u\" ]; },\n"
	    "  { name = \"a2\"; subject = \"CN=a2\"; users = [ \"u\" ]; } );\n");
	write_file("rd1/30-c.conf", rule_text("c"));
	write_file("rd1/empty.conf", "# nothing here\n");
	/* Skipped: not *.conf, hidden, backups, not a regular file. All of
	 * them would fail to load if read. */
	write_file("rd1/README", "this is not libconfig\n");
	write_file("rd1/15.conf.bak", "junk\n");
	write_file("rd1/16.conf~", "junk\n");
	write_file("rd1/.17.conf", "junk\n");
	write_file("rd1/.conf", "junk\n");
	write_file("rd1/18.conf/x", "junk\n");
	snprintf(main_text, sizeof(main_text), TLS_OK
	    "rules_dir = \"rd1\";\n%s", rule_text("main"));
	c = assert_loads(main_text);
	assert_in_dir(c->rules_dir, "rd1");
	assert_int_equal(c->policy.n_rules, 5);
	r = c->policy.rules;
	assert_string_equal(r[0].name, "main");
	assert_in_dir(r[0].file, "main.conf");
	assert_int_equal(r[0].line, 3);
	assert_string_equal(r[1].name, "a1");
	assert_in_dir(r[1].file, "rd1/10-a.conf");
	assert_int_equal(r[1].line, 2);
	assert_string_equal(r[2].name, "a2");
	assert_int_equal(r[2].line, 3);
	assert_string_equal(r[3].name, "b");
	assert_in_dir(r[3].file, "rd1/20-b.conf");
	assert_string_equal(r[4].name, "c");
	assert_string_equal(r[4].subject, "CN=c");
	config_free(&c);
}

/* Loads main.conf with rules_dir = sub and checks the message exactly:
 * "DIR/<file>:<line>: <msg>". */
static void
assert_dir_error(const char *sub, const char *main_rules, const char *file,
    int line, const char *msg)
{
	struct config *c = NULL;
	char err[512], want[WANT_LEN], path[PATH_LEN], text[1024];

	path_in(path, sizeof(path), file);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	snprintf(text, sizeof(text), TLS_OK "rules_dir = \"%s\";\n%s", sub,
	    main_rules);
	assert_int_equal(load_text(text, &c, err, sizeof(err)), ERR_CONFIG);
	assert_null(c);
	assert_string_equal(err, want);
}

static void
test_rules_dir_duplicates(void **state)
{
	char msg[MSG_LEN], first[PATH_LEN];

	(void)state;
	write_file("rd2/10-a.conf", rule_text("x"));
	write_file("rd2/20-b.conf", "\n\n" "rules = (\n"
	    " { name = \"y\"; subject = \"CN=y\"; users = [ \"u\" ]; },\n"
	    " { name = \"x\"; subject = \"CN=x\"; users = [ \"u\" ]; } );\n");
	path_in(first, sizeof(first), "rd2/10-a.conf");
	snprintf(msg, sizeof(msg), "rule 'x' already defined at %s:1", first);
	assert_dir_error("rd2", "", "rd2/20-b.conf", 5, msg);

	/* Against a rule of the main file, which is read first. */
	write_file("rd3/10-a.conf", rule_text("main"));
	path_in(first, sizeof(first), "main.conf");
	snprintf(msg, sizeof(msg), "rule 'main' already defined at %s:3",
	    first);
	assert_dir_error("rd3", rule_text("main"), "rd3/10-a.conf", 1, msg);
}

static void
test_rules_dir_bad_files(void **state)
{
	char msg[MSG_LEN], path[PATH_LEN];

	(void)state;
	write_file("rd4/10-a.conf", rule_text("a"));
	write_file("rd4/20-b.conf", "rules = ( );\nuser = \"root\";\n");
	assert_dir_error("rd4", "", "rd4/20-b.conf", 2,
	    "unknown key 'user' (a rules_dir file holds only rules = ( ... );)");

	write_file("rd5/10-a.conf", "rules = ( { name = \"a\";\n"
	    "  subject = \"not a DN\"; users = [ \"u\" ]; } );\n");
	assert_dir_error("rd5", "", "rd5/10-a.conf", 2,
	    "rule 'a': subject: invalid DN");

	write_file("rd6/10-a.conf", "rules = (\n");
	assert_dir_error("rd6", "", "rd6/10-a.conf", 2, "syntax error");

	/* A rules file with a broken link is not silently skipped. */
	write_file("rd7/10-a.conf", rule_text("a"));
	path_in(path, sizeof(path), "rd7/20-gone.conf");
	assert_int_equal(symlink("/nonexistent/x.conf", path), 0);
	assert_dir_error("rd7", "", "main.conf", 2,
	    "rules_dir: 20-gone.conf: No such file or directory");

	path_in(path, sizeof(path), "no-such-dir");
	snprintf(msg, sizeof(msg), "rules_dir '%s': No such file or directory",
	    path);
	assert_dir_error("no-such-dir", "", "main.conf", 2, msg);

	path_in(path, sizeof(path), "main.conf");
	snprintf(msg, sizeof(msg), "rules_dir '%s': Not a directory", path);
	assert_dir_error("main.conf", "", "main.conf", 2, msg);
}

static void
assert_split(const char *addr, const char *host, const char *port)
{
	char h[64], p[8];

	assert_int_equal(config_split_listen(addr, h, sizeof(h), p, sizeof(p)),
	    0);
	assert_string_equal(h, host);
	assert_string_equal(p, port);
}

static void
test_split_listen_good(void **state)
{
	(void)state;
	assert_split("0.0.0.0:7443", "0.0.0.0", "7443");
	assert_split("[::]:7443", "::", "7443");
	assert_split("[::1]:1", "::1", "1");
	assert_split("[2001:db8::1]:65535", "2001:db8::1", "65535");
	assert_split("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", "80");
	assert_split("10.0.0.1:443", "10.0.0.1", "443");
}

static void
test_split_listen_bad(void **state)
{
	static const char *const bad[] = {
		"", ":7443", "0.0.0.0", "0.0.0.0:", "0.0.0.0:0",
		"0.0.0.0:65536", "0.0.0.0:99999", "0.0.0.0:123456",
		"0.0.0.0:+1", "0.0.0.0:-1", "0.0.0.0:12a", "0.0.0.0: 1",
		"::1:7443", "::", "[::1]7443", "[::1]:", "[]:1", "[nothost]:1",
		"[1.2.3.4]:1", "[::1:7443", "::1]:7443", "a b:1", "a_b:1",
		"[::1]:1:2", "0.0.0.0:1:2", "*:7443", "0.0.0.0:007443",
		/* 2^64 + 81: must not wrap around to port 81. */
		"0.0.0.0:18446744073709551697",
		/* Names: mtlsd binds numeric addresses only. */
		"localhost:443", "host-1.example.org:8443", "1.2.3:1",
		"256.0.0.1:1",
	};
	char h[64], p[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_split_listen(bad[i], h, sizeof(h), p, sizeof(p)) !=
		    ERR_INVALID)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(config_split_listen(NULL, h, sizeof(h), p, sizeof(p)),
	    ERR_INVALID);
	assert_int_equal(config_split_listen("1.2.3.4:1", NULL, 0, p,
	    sizeof(p)), ERR_INVALID);
	/* Buffers too small for host or port. */
	assert_int_equal(config_split_listen("1.2.3.4:1", h, 7, p, sizeof(p)),
	    ERR_TOOLONG);
	assert_int_equal(config_split_listen("1.2.3.4:1", h, 8, p, sizeof(p)),
	    0);
	assert_int_equal(config_split_listen("1.2.3.4:443", h, sizeof(h), p, 3),
	    ERR_TOOLONG);
}

/* A rule with each match key and grant feature, as the daemon reads it. */
static void
test_rule_keys_load(void **state)
{
	struct config *c;
	const struct rule *r;

	(void)state;
	c = assert_loads(TLS_OK "rules = (\n"
	    " { name = \"ops\"; subject_attrs = { o = \"Example\"; "
	    "OU = [ \"ops\", \"admins\" ]; userId = \"al\"; };\n"
	    "   users = [ \"%{cn}\", \"admin\", \"%{uid}\", \"%{email.local}\" ];\n"
	    "   services = [ \"sshd\", \"sudo\" ];\n"
	    "   from = [ \"10.0.0.0/8\", \"::1\", \"2001:db8::/32\" ]; },\n"
	    " { name = \"no\"; subject_attrs = { OU = \"contractors\"; }; "
	    "deny = true; },\n"
	    " { name = \"k\"; issuer = \"cn=Root, o=Example\"; "
	    "san_email = \"Al@Example.ORG\"; san_email_domain = \"Corp.Example\";"
	    " san_dns = \"WS1.example.org\"; "
	    "san_uri = \"spiffe://example.org/admin/Al\"; serial = \"00:0a:bC\";"
	    " fingerprint = \"SHA256:" "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:"
	    "67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89\"; "
	    "policy_oid = \"1.3.6.1.4.1.99999.1\"; users = [ \"root\" ]; }\n"
	    ");\n");
	assert_int_equal(c->policy.n_rules, 3);
	assert_non_null(c->policy.index);
	r = &c->policy.rules[0];
	assert_null(r->subject);
	assert_int_equal(r->n_attrs, 4);
	assert_string_equal(r->attrs[0].type, "O");
	assert_string_equal(r->attrs[1].type, "OU");
	assert_string_equal(r->attrs[1].value, "ops");
	assert_string_equal(r->attrs[2].value, "admins");
	assert_string_equal(r->attrs[3].type, "UID");
	assert_int_equal(r->n_users, 4);
	assert_string_equal(r->users[0], "%{cn}");
	assert_int_equal(r->n_services, 2);
	assert_string_equal(r->services[1], "sudo");
	assert_int_equal(r->n_from, 3);
	assert_int_equal(r->from[0].prefix, 8);
	assert_int_equal(r->from[1].prefix, 128);
	assert_int_equal(r->deny, 0);
	r = &c->policy.rules[1];
	assert_int_equal(r->deny, 1);
	assert_int_equal(r->n_users, 0);
	r = &c->policy.rules[2];
	assert_string_equal(r->issuer, "CN=Root,O=Example");
	assert_string_equal(r->san_email, "Al@example.org");
	assert_string_equal(r->san_email_domain, "corp.example");
	assert_string_equal(r->san_dns, "ws1.example.org");
	assert_string_equal(r->san_uri, "spiffe://example.org/admin/Al");
	assert_string_equal(r->serial, "0ABC");
	assert_string_equal(r->fingerprint, "sha256:abcdef0123456789abcdef01"
	    "23456789abcdef0123456789abcdef0123456789");
	assert_string_equal(r->policy_oid, "1.3.6.1.4.1.99999.1");
	config_free(&c);
}

static void
test_rule_serial_forms(void **state)
{
	static const char *const in[] = { "0", "00:00", "1", "ff", "0FF",
	    "1:00", "000102" };
	static const char *const want[] = { "00", "00", "01", "FF", "FF",
	    "0100", "0102" };
	struct config *c;
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		snprintf(text, sizeof(text), TLS_OK "rules = ( { name = \"s\"; "
		    "serial = \"%s\"; users = [ \"root\" ]; } );\n", in[i]);
		/* "1:00" has a colon inside a pair: refused below. */
		if (strcmp(in[i], "1:00") == 0)
			continue;
		c = assert_loads(text);
		assert_string_equal(c->policy.rules[0].serial, want[i]);
		config_free(&c);
	}
}

#define RULE_ERR(body) TLS_OK "rules = (\n { name = \"r\";\n " body " } );\n"

static void
test_rule_key_errors(void **state)
{
	(void)state;
	assert_load_error(RULE_ERR("users = [ \"root\" ];"), 3,
	    "rule 'r': no match key (one of subject, subject_attrs, issuer, "
	    "san_email, san_email_domain, san_dns, san_uri, serial, "
	    "fingerprint, policy_oid)");
	assert_load_error(RULE_ERR("deny = true;"), 3,
	    "rule 'r': no match key (one of subject, subject_attrs, issuer, "
	    "san_email, san_email_domain, san_dns, san_uri, serial, "
	    "fingerprint, policy_oid)");
	assert_load_error(RULE_ERR("issuer = \"not a DN\"; users = [ \"x\" ];"),
	    4, "rule 'r': issuer: invalid DN");
	assert_load_error(RULE_ERR("subject = \"\"; users = [ \"x\" ];"), 4,
	    "rule 'r': subject must not be empty");
	assert_load_error(RULE_ERR("subject_attrs = { };"), 4,
	    "rule 'r': subject_attrs must be a non-empty group "
	    "{ TYPE = \"value\"; ... }");
	assert_load_error(RULE_ERR("subject_attrs = \"OU=ops\";"), 4,
	    "rule 'r': subject_attrs must be a non-empty group "
	    "{ TYPE = \"value\"; ... }");
	assert_load_error(RULE_ERR("subject_attrs = { nosuchattr = \"x\"; };"),
	    4, "rule 'r': subject_attrs: unknown attribute type 'nosuchattr'");
	assert_load_error(RULE_ERR("subject_attrs = { OU = 5; };"), 4,
	    "rule 'r': subject_attrs: OU must be a non-empty string or list "
	    "of strings");
	assert_load_error(RULE_ERR("subject_attrs = { OU = [ ]; };"), 4,
	    "rule 'r': subject_attrs: OU must be a non-empty string or list "
	    "of strings");
	assert_load_error(RULE_ERR("subject_attrs = { OU = [ \"a\", \"\" ]; };"),
	    4, "rule 'r': subject_attrs: OU must be a non-empty string or "
	    "list of strings");
	assert_load_error(RULE_ERR("san_email = \"alice\"; users = [ \"x\" ];"),
	    4, "rule 'r': san_email: not a valid email address");
	assert_load_error(RULE_ERR("san_email = \"@x.org\"; users = [ \"x\" ];"),
	    4, "rule 'r': san_email: not a valid email address");
	assert_load_error(RULE_ERR("san_email_domain = \"a@x.org\"; "
	    "users = [ \"x\" ];"), 4,
	    "rule 'r': san_email_domain: not a valid domain name");
	assert_load_error(RULE_ERR("san_dns = \"a b\"; users = [ \"x\" ];"),
	    4, "rule 'r': san_dns: not a valid domain name");
	assert_load_error(RULE_ERR("san_uri = 5; users = [ \"x\" ];"), 4,
	    "rule 'r': san_uri must be a string");
	assert_load_error(RULE_ERR("serial = \"xyz\"; users = [ \"x\" ];"), 4,
	    "rule 'r': serial: not a hex number (up to 40 bytes, colons "
	    "allowed between bytes)");
	assert_load_error(RULE_ERR("serial = \"1:00\"; users = [ \"x\" ];"), 4,
	    "rule 'r': serial: not a hex number (up to 40 bytes, colons "
	    "allowed between bytes)");
	assert_load_error(RULE_ERR("serial = \"ab::cd\"; users = [ \"x\" ];"),
	    4, "rule 'r': serial: not a hex number (up to 40 bytes, colons "
	    "allowed between bytes)");
	assert_load_error(RULE_ERR("fingerprint = \"abcd\"; users = [ \"x\" ];"),
	    4, "rule 'r': fingerprint: not \"sha256:\" and 64 hex digits");
	assert_load_error(RULE_ERR("fingerprint = \"sha256:" "0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcde\"; "
	    "users = [ \"x\" ];"), 4,
	    "rule 'r': fingerprint: not \"sha256:\" and 64 hex digits");
	assert_load_error(RULE_ERR("fingerprint = \"sha1:" "0123456789abcdef"
	    "0123456789abcdef01234567\"; users = [ \"x\" ];"), 4,
	    "rule 'r': fingerprint: not \"sha256:\" and 64 hex digits");
	assert_load_error(RULE_ERR("policy_oid = \"anyPolicy\"; "
	    "users = [ \"x\" ];"), 4, "rule 'r': policy_oid: not a dotted OID");
	assert_load_error(RULE_ERR("policy_oid = \"1.02\"; users = [ \"x\" ];"),
	    4, "rule 'r': policy_oid: not a dotted OID");
}

static void
test_rule_grant_errors(void **state)
{
	(void)state;
	assert_load_error(RULE_ERR("subject = \"CN=a\";\n users = [ \"%{CN}\" ];"),
	    5, "rule 'r': users: unknown template '%{CN}' (known: %{cn}, "
	    "%{uid}, %{email.local})");
	assert_load_error(RULE_ERR("subject = \"CN=a\";\n "
	    "users = [ \"u%{cn}\" ];"), 5, "rule 'r': users: unknown template "
	    "'u%{cn}' (known: %{cn}, %{uid}, %{email.local})");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; deny = true;\n "
	    "users = [ ];"), 5,
	    "rule 'r': users must be a non-empty list of user names");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; deny = 1;"), 4,
	    "rule 'r': deny must be true or false");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "services = [ ];"), 5,
	    "rule 'r': services must be a non-empty list of PAM service names");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "services = \"sshd\";"), 5,
	    "rule 'r': services must be a non-empty list of PAM service names");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "services = [ \"ss hd\" ];"), 5,
	    "rule 'r': services: 'ss hd' is not one of PAM service names");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "from = [ \"10.0.0.0/8\",\n \"10.0.0.1/8\" ];"), 6,
	    "rule 'r': from: '10.0.0.1/8' is not an address or ADDR/PREFIX "
	    "network (with no host bits set)");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "from = [ \"example.org\" ];"), 5,
	    "rule 'r': from: 'example.org' is not an address or ADDR/PREFIX "
	    "network (with no host bits set)");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "from = [ \"::1/129\" ];"), 5,
	    "rule 'r': from: '::1/129' is not an address or ADDR/PREFIX "
	    "network (with no host bits set)");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "from = [ ];"), 5,
	    "rule 'r': from must be a non-empty list of networks");
	assert_load_error(RULE_ERR("subject = \"CN=a\"; users = [ \"x\" ];\n "
	    "source = [ \"::1\" ];"), 5, "rule 'r': unknown key 'source'");
}

/* A decision through a loaded config: the index built at load time is
 * used, and gives the decision a full scan gives. */
static void
test_loaded_policy_decides(void **state)
{
	struct config *c;
	struct ident id;
	struct ident_ava avas[] = { { "O", "Example" }, { "OU", "ops" },
	    { "CN", "carol" } };
	char subject[] = "CN=carol,OU=ops,O=Example";
	struct policy_ctx ctx = { .user = "carol", .check_service = 1,
	    .service = "sshd", .check_addr = 1, .addr = "10.1.1.1" };
	struct decision d;

	(void)state;
	c = assert_loads(TLS_OK "rules = (\n"
	    " { name = \"ops\"; subject_attrs = { O = \"Example\"; "
	    "OU = \"ops\"; }; users = [ \"%{cn}\" ]; services = [ \"sshd\" ];"
	    " from = [ \"10.0.0.0/8\" ]; },\n"
	    " { name = \"x\"; subject = \"CN=x\"; users = [ \"carol\" ]; }\n"
	    ");\n");
	memset(&id, 0, sizeof(id));
	id.subject = subject;
	id.avas = avas;
	id.n_avas = 3;
	assert_int_equal(policy_decide(&c->policy, &id, &ctx, &d), 0);
	assert_string_equal(d.rule->name, "ops");
	assert_int_equal(d.n_evaluated, 1);
	ctx.addr = "192.168.1.1";
	assert_int_equal(policy_decide(&c->policy, &id, &ctx, &d), ERR_DENIED);
	config_free(&c);
}

/* --- limits --------------------------------------------------------------- */

static void
assert_default_limits(const struct config_limits *m)
{
	assert_int_equal(m->max_connections, 1024);
	assert_int_equal(m->max_per_source, 32);
	assert_int_equal(m->handshake_timeout, 10);
	assert_int_equal(m->request_timeout, 10);
	assert_int_equal(m->idle_timeout, 30);
	assert_int_equal(m->max_header_size, 8192);
	assert_int_equal(m->max_body_size, 4096);
	assert_int_equal(m->max_tickets, 10000);
	assert_int_equal(m->max_tickets_per_cert, 8);
	assert_int_equal(m->pam_clients, 128);
	assert_int_equal(m->failure_window, 60);
	assert_int_equal(m->slow_after, 10);
	assert_int_equal(m->slow_delay_ms, 1000);
	assert_int_equal(m->refuse_after, 30);
	assert_int_equal(m->refuse_for, 300);
	assert_int_equal(m->throttle_entries, 4096);
}

static void
test_limits_defaults(void **state)
{
	struct config *c;

	(void)state;
	c = assert_loads(TLS_OK);
	assert_default_limits(&c->limits);
	config_free(&c);
	/* An empty group changes nothing. */
	c = assert_loads(TLS_OK "limits = { };\n");
	assert_default_limits(&c->limits);
	config_free(&c);
}

static void
test_limits_values(void **state)
{
	struct config *c;
	const struct config_limits *m;

	(void)state;
	c = assert_loads(TLS_OK "limits = {\n"
	    " max_connections = 2000; max_connections_per_source = 4;\n"
	    " handshake_timeout = 3; request_timeout = 5; idle_timeout = 60;\n"
	    " max_header_size = 2048; max_body_size = 512;\n"
	    " max_tickets = 50; max_tickets_per_cert = 2; pam_clients = 16;\n"
	    " failure_window = 5; slow_after = 0; slow_delay_ms = 250;\n"
	    " refuse_after = 6; refuse_for = 7; throttle_entries = 16;\n"
	    "};\n");
	m = &c->limits;
	assert_int_equal(m->max_connections, 2000);
	assert_int_equal(m->max_per_source, 4);
	assert_int_equal(m->handshake_timeout, 3);
	assert_int_equal(m->request_timeout, 5);
	assert_int_equal(m->idle_timeout, 60);
	assert_int_equal(m->max_header_size, 2048);
	assert_int_equal(m->max_body_size, 512);
	assert_int_equal(m->max_tickets, 50);
	assert_int_equal(m->max_tickets_per_cert, 2);
	assert_int_equal(m->pam_clients, 16);
	assert_int_equal(m->failure_window, 5);
	assert_int_equal(m->slow_after, 0);
	assert_int_equal(m->slow_delay_ms, 250);
	assert_int_equal(m->refuse_after, 6);
	assert_int_equal(m->refuse_for, 7);
	assert_int_equal(m->throttle_entries, 16);
	config_free(&c);
}

static void
test_limits_bad(void **state)
{
	(void)state;
	assert_load_error(TLS_OK "limits = {\n max_conns = 1;\n};\n", 3,
	    "unknown key 'limits.max_conns'");
	assert_load_error(TLS_OK "limits = 5;\n", 2,
	    "'limits' must be a group { ... }");
	assert_load_error(TLS_OK "limits = {\n max_connections = 0;\n};\n", 3,
	    "'limits.max_connections' must be between 1 and 65536");
	assert_load_error(TLS_OK "limits = {\n handshake_timeout = \"10\";\n"
	    "};\n", 3, "'limits.handshake_timeout' must be an integer");
	assert_load_error(TLS_OK "limits = {\n max_body_size = 4097;\n};\n", 3,
	    "'limits.max_body_size' must be between 64 and 4096");
	assert_load_error(TLS_OK "limits = {\n max_tickets_per_cert = 0;\n"
	    "};\n", 3, "'limits.max_tickets_per_cert' must be between 1 and "
	    "1000000");
	assert_load_error(TLS_OK "limits = {\n refuse_for = -1;\n};\n", 3,
	    "'limits.refuse_for' must be between 1 and 86400");
	assert_load_error(TLS_OK "limits = {\n throttle_entries = 15;\n};\n",
	    3, "'limits.throttle_entries' must be between 16 and 1000000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_relative_paths),
		cmocka_unit_test(test_crl_single_string),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_sandbox_key),
		cmocka_unit_test(test_workers_key),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_empty_paths),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_rule_duplicate_in_file),
		cmocka_unit_test(test_empty_rules_ok),
		cmocka_unit_test(test_syntax_and_io_errors),
		cmocka_unit_test(test_rules_dir_order),
		cmocka_unit_test(test_rules_dir_duplicates),
		cmocka_unit_test(test_rules_dir_bad_files),
		cmocka_unit_test(test_rule_keys_load),
		cmocka_unit_test(test_rule_serial_forms),
		cmocka_unit_test(test_rule_key_errors),
		cmocka_unit_test(test_rule_grant_errors),
		cmocka_unit_test(test_loaded_policy_decides),
		cmocka_unit_test(test_split_listen_good),
		cmocka_unit_test(test_split_listen_bad),
		cmocka_unit_test(test_limits_defaults),
		cmocka_unit_test(test_limits_values),
		cmocka_unit_test(test_limits_bad),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
