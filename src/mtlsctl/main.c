/* mtlsctl: the administrator's tool for mtlsd.
 *
 *   mtlsctl check FILE     load FILE as mtlsd would and list its rules
 *   mtlsctl status|reload  ask the running daemon (control socket,
 *                          ctlclient.c)
 *
 * check goes through config_load and tls_server_ctx_new, the code mtlsd
 * and mtlsd -t run, so "OK" here means the daemon accepts the file. The
 * verify (cmd_verify.c) runs the daemon's chain verification alone, eval
 * (cmd_eval.c) its verification and policy for one certificate. Exit: 0 good, 1 bad configuration or reload refused, 2 usage,
 * 3 daemon unreachable. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "check.h"
#include "cmd_eval.h"
#include "cmd_verify.h"
#include "conf.h"
#include "ctlclient.h"
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
	    "       " PROG " [-c FILE] [-s SOCKET] status [--json]\n"
	    "       " PROG " [-c FILE] [-s SOCKET] reload\n"
	    "       " PROG " verify --trust ANCHORS [--untrusted CHAIN] "
	    "[--crl CRL]...\n"
	    "               [--at UNIX-TIME] [--purpose client|any] "
	    "LEAF.pem\n"
	    "\n"
	    "  check FILE     check an mtlsd configuration as mtlsd -t does "
	    "(certificate,\n"
	    "                 key, trust anchors, CRLs, rules) and list its "
	    "rules\n"
	    "  status         the running daemon's state and counters "
	    "(--json: one object)\n"
	    "  reload         make the daemon re-read its configuration\n"
	    "  verify         verify LEAF's chain as mtlsd does (exit 0 "
	    "valid, 1 invalid);\n"
	    "                 also --partial-chain, --require-crl, "
	    "--crl-grace S,\n"
	    "                 --max-lifetime S, --clock-skew S "
	    "(see mtlsctl(8))\n"
	    "  -c FILE        the config naming control_socket (default "
	    CONFIG_DEFAULT_FILE ")\n"
	    "  -s SOCKET      the control socket itself\n"
	    "  -h, --help     this help\n"
	    "  -V, --version  print the version\n"
	    "\n"
	    "  eval -c FILE CERT.pem [--user U] [--service S] [--rhost ADDR] "
	    "[--json]\n"
	    "                 what mtlsd decides for CERT.pem: each check and "
	    "each rule\n"
	    "                 (exit 0 granted, 1 refused, 2 error)\n"
	    "\n"
	    "Exit status: 0 configuration good (status printed, reloaded), "
	    "1 configuration\n"
	    "bad (reload refused), 2 usage error, 3 daemon unreachable.\n");
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

/* status [--json] and reload, through the control socket (ctlclient.c).
 * argv[0] is the command. Returns an exit code. */
static int
cmd_control(const struct ctl_target *ctl, int json, int argc, char **argv)
{
	int status = strcmp(argv[0], "status") == 0;

	for (int i = 1; i < argc; i++) {
		if (status && strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		fprintf(stderr, PROG ": usage: " PROG " [-c FILE] [-s SOCKET] "
		    "%s\n", status ? "status [--json]" : "reload");
		return EXIT_USAGE;
	}
	if (!status && json) {
		fprintf(stderr, PROG ": --json goes with status only\n");
		return EXIT_USAGE;
	}
	return status ? ctl_status(ctl, json) : ctl_reload(ctl);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target ctl = { CONFIG_DEFAULT_FILE, NULL };
	const char *cmd;
	int ch, json = 0;

	/* Library code reports through log.h; a tool shows it on stderr. */
	log_init(PROG, 0, 1, LOG_INFO);
	opterr = 0;
	/* -c FILE and -s SOCKET name the control socket of status and
	 * reload; --json may also follow status. */
	while ((ch = getopt_long(argc, argv, "+:c:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctl.conf = optarg;
			break;
		case 's':
			ctl.sock = optarg;
			break;
		case 'j':
			json = 1;
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
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0)
		return cmd_control(&ctl, json, argc - optind, argv + optind);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc - optind, argv + optind);
	if (strcmp(cmd, "eval") == 0)
		return cmd_eval(argc - optind, argv + optind);
	fprintf(stderr, PROG ": unknown command: %s (see --help)\n", cmd);
	return EXIT_USAGE;
}
