/* mtlsctl: the administrator's tool for mtlsd.
 *
 *   mtlsctl check FILE     load FILE as mtlsd would and list its rules
 *
 * check goes through config_load and tls_server_ctx_new, the code mtlsd
 * and mtlsd -t run, so "OK" here means the daemon accepts the file. The
 * other commands of DESIGN.md (eval, verify, status, reload) are not in
 * this version and say so. Exit: 0 good, 1 bad configuration, 2 usage. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "check.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "policy.h"
#include "verify.h"

#define PROG "mtlsctl"
#define ERRBUF_LEN 1024

enum {
	EXIT_OK = 0,
	EXIT_BAD = 1,
	EXIT_USAGE = 2,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " check FILE\n"
	    "\n"
	    "  check FILE     check an mtlsd configuration as mtlsd -t does "
	    "(certificate,\n"
	    "                 key, trust anchors, CRLs, rules) and list its "
	    "rules\n"
	    "  -h, --help     this help\n"
	    "  -V, --version  print the version\n"
	    "\n"
	    "Not in this version: eval, verify, status, reload.\n"
	    "Exit status: 0 configuration good, 1 configuration bad, "
	    "2 usage error.\n");
}

/* Config strings come from a file someone else may have written: keep
 * each output line one line on the terminal. */
static void
put_sanitised(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

static void
print_rule(const struct rule *r)
{
	size_t i;

	fputs("rule ", stdout);
	put_sanitised(stdout, r->name != NULL ? r->name : "?");
	fputs(" (", stdout);
	put_sanitised(stdout, r->file != NULL ? r->file : "?");
	printf(":%d): subject=", r->line);
	put_sanitised(stdout, r->subject != NULL ? r->subject : "");
	fputs(" users=", stdout);
	for (i = 0; i < r->n_users; i++) {
		if (i > 0)
			fputc(',', stdout);
		put_sanitised(stdout, r->users[i]);
	}
	fputc('\n', stdout);
}

/* Returns an exit code. */
static int
cmd_check(const char *path)
{
	struct config *c = NULL;
	char err[ERRBUF_LEN];
	size_t i;
	int rc = EXIT_BAD;

	err[0] = '\0';
	if (config_check(path, &c, err, sizeof(err)) != 0)
		goto out;
	printf("%s: configuration OK\n", path);
	for (i = 0; i < c->policy.n_rules; i++)
		print_rule(&c->policy.rules[i]);
	if (fflush(stdout) != 0) {
		snprintf(err, sizeof(err), "cannot write the output");
		goto out;
	}
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fprintf(stderr, "%s\n", err[0] != '\0' ? err :
		    "configuration rejected");
	config_free(&c);
	return rc;
}

static int
not_implemented(const char *cmd)
{
	fprintf(stderr, PROG ": %s is not implemented in this version\n",
	    cmd);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int ch;

	/* Library code reports through log.h; a tool shows it on stderr. */
	log_init(PROG, 0, 1, 0);
	opterr = 0;
	/* -c FILE is accepted for the future status/reload commands. */
	while ((ch = getopt_long(argc, argv, "+:c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
			return EXIT_OK;
		case ':':
			fprintf(stderr, PROG ": option needs an argument: %s\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt != 0)
				fprintf(stderr, PROG ": unknown option -%c "
				    "(see --help)\n", optopt);
			else
				fprintf(stderr, PROG ": unknown option %s "
				    "(see --help)\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG ": missing command (see --help)\n");
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "check") == 0) {
		if (argc - optind != 2) {
			fprintf(stderr, PROG ": usage: " PROG " check FILE\n");
			return EXIT_USAGE;
		}
		return cmd_check(argv[optind + 1]);
	}
	if (strcmp(cmd, "eval") == 0 || strcmp(cmd, "verify") == 0 ||
	    strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0)
		return not_implemented(cmd);
	fprintf(stderr, PROG ": unknown command: %s (see --help)\n", cmd);
	return EXIT_USAGE;
}
