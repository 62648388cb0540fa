/* mtls-login: fetch a one-use login ticket from mtlsd over mutual TLS.
 *
 *   mtls-login [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] USER@HOST
 *   mtls-login --ssh [options] USER@HOST [-- SSH-ARGS...]
 *
 * Runs as the admin on a workstation. Without --ssh it prints the ticket
 * on stdout and nothing else. With --ssh it then execs ssh with itself as
 * SSH_ASKPASS, and answers the ticket prompt in askpass mode.
 *
 * This file is the command line, the exit codes, --ssh and askpass mode;
 * the connection is in tlsclient.c, the request and response in http.c.
 *
 * Exit codes (DESIGN.md): 0 success, 1 denied, 2 usage or config error,
 * 3 cannot reach or verify the server. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "login.h"
#include "policy.h"
#include "tlsclient.h"

#define PROG "mtls-login"
#define DEFAULT_PORT "7443"

enum {
	EXIT_OK = 0,
	EXIT_DENIED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct options {
	struct tls_files files;   /* borrowed from argv or the environment */
	const char *port;
	int ssh;
	int help;
	int version;
	struct target t;
	char **ssh_args;          /* borrowed from argv: what follows "--" */
	size_t n_ssh_args;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] "
	    "USER@HOST\n"
	    "       " PROG " --ssh [-c CERT] [-k KEY] [-C CAFILE] [-p PORT] "
	    "USER@HOST [-- SSH-ARGS...]\n"
	    "\n"
	    "Gets a one-use login ticket for USER from mtlsd on HOST over "
	    "mutual TLS and\n"
	    "prints it; with --ssh, runs ssh USER@HOST SSH-ARGS... and "
	    "answers its ticket\n"
	    "prompt. HOST is a name, an IPv4 address or [IPv6 address].\n"
	    "\n"
	    "  -c, --cert CERT    client certificate, PEM, chain may follow "
	    "(MTLS_CERT)\n"
	    "  -k, --key KEY      its private key, PEM (MTLS_KEY)\n"
	    "  -C, --ca CAFILE    CA certificates that sign the server's "
	    "certificate (MTLS_CA)\n"
	    "  -p, --port PORT    mtlsd port (default " DEFAULT_PORT ")\n"
	    "      --ssh          run ssh with the ticket\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Exit status: 0 success, 1 denied, 2 usage or configuration "
	    "error,\n"
	    "3 cannot reach or verify the server.\n");
}

/* ---- arguments ---------------------------------------------------------- */

static int
valid_host_name(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > HOST_MAX || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

static int
parse_host(const char *h, struct target *t, char *msg, size_t msglen)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n = strlen(h);

	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']' || n - 2 > HOST_MAX) {
			msg_set(msg, msglen, "malformed [IPv6] host");
			return ERR_INVALID;
		}
		memcpy(t->host, h + 1, n - 2);
		t->host[n - 2] = '\0';
		if (inet_pton(AF_INET6, t->host, addr) != 1) {
			msg_set(msg, msglen, "malformed [IPv6] host");
			return ERR_INVALID;
		}
		t->is_ip = t->is_v6 = 1;
		return 0;
	}
	if (strchr(h, ':') != NULL) {
		msg_set(msg, msglen,
		    "an IPv6 host must be written in brackets: USER@[ADDRESS]");
		return ERR_INVALID;
	}
	if (!valid_host_name(h)) {
		msg_set(msg, msglen, "invalid host name");
		return ERR_INVALID;
	}
	memcpy(t->host, h, n + 1);
	t->is_ip = inet_pton(AF_INET, h, addr) == 1;
	return 0;
}

/* USER@HOST -> t. The user is checked here, not left to the server, so
 * that it can go into the form body without encoding. */
static int
parse_target(const char *arg, struct target *t, char *msg, size_t msglen)
{
	const char *at = strchr(arg, '@');
	size_t ulen;

	memset(t, 0, sizeof(*t));
	if (at == NULL) {
		msg_set(msg, msglen, "expected USER@HOST");
		return ERR_INVALID;
	}
	ulen = (size_t)(at - arg);
	if (ulen == 0 || ulen > USER_MAX) {
		msg_set(msg, msglen, "invalid user name");
		return ERR_INVALID;
	}
	memcpy(t->user, arg, ulen);
	t->user[ulen] = '\0';
	if (!valid_user_name(t->user)) {
		msg_set(msg, msglen, "invalid user name");
		return ERR_INVALID;
	}
	return parse_host(at + 1, t, msg, msglen);
}

static int
valid_port(const char *p)
{
	unsigned long v;
	char *end;

	if (p[0] < '0' || p[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(p, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Fills the file options still unset from the environment and checks
 * that all three are there. */
static int
options_from_env(struct options *o, char *msg, size_t msglen)
{
	if (o->files.cert == NULL)
		o->files.cert = env_nonempty("MTLS_CERT");
	if (o->files.key == NULL)
		o->files.key = env_nonempty("MTLS_KEY");
	if (o->files.ca == NULL)
		o->files.ca = env_nonempty("MTLS_CA");
	if (o->files.cert == NULL) {
		msg_set(msg, msglen,
		    "no client certificate: use -c CERT or set MTLS_CERT");
		return ERR_CONFIG;
	}
	if (o->files.key == NULL) {
		msg_set(msg, msglen,
		    "no private key: use -k KEY or set MTLS_KEY");
		return ERR_CONFIG;
	}
	if (o->files.ca == NULL) {
		msg_set(msg, msglen,
		    "no CA file for the server: use -C CAFILE or set MTLS_CA");
		return ERR_CONFIG;
	}
	return 0;
}

/* What follows USER@HOST: nothing, or "--" and ssh's arguments (only
 * with --ssh). */
static int
parse_rest(struct options *o, int argc, char **argv, int i, char *msg,
    size_t msglen)
{
	if (i >= argc)
		return 0;
	if (!o->ssh) {
		msg_set(msg, msglen, "unexpected argument after USER@HOST "
		    "(ssh arguments need --ssh)");
		return ERR_INVALID;
	}
	if (strcmp(argv[i], "--") != 0) {
		msg_set(msg, msglen,
		    "ssh arguments must follow \"--\" after USER@HOST");
		return ERR_INVALID;
	}
	o->ssh_args = argv + i + 1;
	o->n_ssh_args = (size_t)(argc - i - 1);
	return 0;
}

static int
parse_args(int argc, char **argv, struct options *o, char *msg,
    size_t msglen)
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'C' },
		{ "port", required_argument, NULL, 'p' },
		{ "ssh", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, r;

	memset(o, 0, sizeof(*o));
	o->port = DEFAULT_PORT;
	opterr = 0;
	/* '+': stop at USER@HOST, so ssh's options after it are not ours. */
	while ((ch = getopt_long(argc, argv, "+:c:k:C:p:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->files.cert = optarg;
			break;
		case 'k':
			o->files.key = optarg;
			break;
		case 'C':
			o->files.ca = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 's':
			o->ssh = 1;
			break;
		case 'h':
			o->help = 1;
			return 0;
		case 'V':
			o->version = 1;
			return 0;
		case ':':
			msg_set(msg, msglen, "option needs an argument: %s",
			    argv[optind - 1]);
			return ERR_INVALID;
		default:
			if (optopt != 0)
				msg_set(msg, msglen, "unknown option -%c "
				    "(see --help)", optopt);
			else
				msg_set(msg, msglen, "unknown option %s "
				    "(see --help)", argv[optind - 1]);
			return ERR_INVALID;
		}
	}
	if (!valid_port(o->port)) {
		msg_set(msg, msglen, "invalid port: %s", o->port);
		return ERR_INVALID;
	}
	if (optind >= argc) {
		msg_set(msg, msglen, "missing USER@HOST (see --help)");
		return ERR_INVALID;
	}
	if ((r = parse_target(argv[optind], &o->t, msg, msglen)) != 0)
		return r;
	if ((r = parse_rest(o, argc, argv, optind + 1, msg, msglen)) != 0)
		return r;
	return options_from_env(o, msg, msglen);
}

/* ---- the exchange ------------------------------------------------------- */

/* Gets a ticket for o->t.user from the server: the whole exchange. On
 * success the ticket (NUL terminated) is in ticket[0..ticketlen), which
 * the caller wipes; else msg says why. */
static int
get_ticket(const struct options *o, char *ticket, size_t ticketlen,
    char *msg, size_t msglen)
{
	struct tls_conn *c = NULL;
	struct buf *resp = NULL;
	struct http_resp hr;
	char req[HTTP_REQUEST_MAX];
	size_t reqlen = 0;
	int r = ERR_INTERNAL;

	if ((r = tls_conn_open(&o->files, &o->t, o->port, &c, msg,
	    msglen)) != 0)
		goto out;
	if ((r = http_request_build(&o->t, o->port, req, sizeof(req),
	    &reqlen, msg, msglen)) != 0)
		goto out;
	if ((r = tls_conn_write(c, req, reqlen, msg, msglen)) != 0)
		goto out;
	if ((resp = buf_new(HTTP_RESPONSE_MAX)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = tls_conn_read_all(c, resp, msg, msglen)) != 0)
		goto out;
	if ((r = http_response_parse(buf_ptr(resp), buf_avail(resp), &hr,
	    msg, msglen)) != 0)
		goto out;
	r = http_response_ticket(&hr, ticket, ticketlen, msg, msglen);
out:
	buf_free(&resp);
	tls_conn_free(&c);
	return r;
}

/* ---- output, ssh, askpass ----------------------------------------------- */

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return ERR_IO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Ticket and newline in one write(2), bypassing stdio so no copy of the
 * ticket is left in a stdio buffer. */
static int
print_ticket(const char *ticket, char *msg, size_t msglen)
{
	char line[TICKET_MAX + 2];
	size_t n = strlen(ticket);
	int r;

	memcpy(line, ticket, n);
	line[n] = '\n';
	if ((r = write_all(STDOUT_FILENO, line, n + 1)) != 0)
		msg_set(msg, msglen, "cannot write the ticket: %s",
		    strerror(errno));
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

/* Askpass mode: ssh runs us as SSH_ASKPASS with the prompt as the only
 * argument. The ticket answers the server's prompt, never a question
 * such as the host key confirmation: answering that "no" (exit 1,
 * nothing printed) is both safe and what the user would see without us.
 * SSH_ASKPASS_PROMPT is set by ssh for confirm/notify dialogs, which
 * take no secret either. */
static int
askpass(const char *prompt)
{
	const char *ticket = getenv("MTLS_ASKPASS_TICKET");
	const char *kind = getenv("SSH_ASKPASS_PROMPT");

	if (kind != NULL && kind[0] != '\0')
		return EXIT_DENIED;
	if (strstr(prompt, "(yes/no") != NULL ||
	    strstr(prompt, "continue connecting") != NULL)
		return EXIT_DENIED;
	if (ticket == NULL || !ticket_is_valid(ticket, strlen(ticket))) {
		fprintf(stderr, PROG ": MTLS_ASKPASS_TICKET does not hold a "
		    "ticket\n");
		return EXIT_USAGE;
	}
	if (write_all(STDOUT_FILENO, ticket, strlen(ticket)) != 0 ||
	    write_all(STDOUT_FILENO, "\n", 1) != 0)
		return EXIT_UNREACHABLE;
	return EXIT_OK;
}

/* We run as askpass when ssh starts us: the ticket is in the environment
 * and the one argument is a prompt, not an option or a USER@HOST. */
static int
is_askpass_call(int argc, char **argv)
{
	struct target t;
	char msg[MSG_LEN];

	if (argc != 2 || getenv("MTLS_ASKPASS_TICKET") == NULL)
		return 0;
	if (argv[1][0] == '-')
		return 0;
	return parse_target(argv[1], &t, msg, sizeof(msg)) != 0;
}

/* Execs ssh USER@HOST SSH-ARGS... with us as its askpass program.
 *
 * The ticket travels to the askpass child in the environment
 * (MTLS_ASKPASS_TICKET), not through a pipe or file: ssh closes the file
 * descriptors it inherits at start, so a pipe would not survive into the
 * askpass process, and a file would need cleaning up after an exec we
 * never return from. A process's environment is readable only by its own
 * uid and root (/proc/PID/environ is mode 0400 and ptrace-guarded), and
 * the ticket is single use, bound to the user and short-lived, so what
 * stays there after login is worthless. ssh does not forward it unless
 * the user's config says SendEnv for it.
 *
 * Returns only on failure. */
static int
exec_ssh(const struct options *o, const char *ticket, char *msg,
    size_t msglen)
{
	char self[PATH_MAX], dest[USER_MAX + 1 + HOST_MAX + 1];
	const char *ssh = env_nonempty("MTLS_SSH");
	char **av = NULL;
	ssize_t n;
	size_t i;
	int r = ERR_CONFIG;

	if (ssh == NULL)
		ssh = "ssh";
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
		msg_set(msg, msglen, "cannot find our own path: %s",
		    strerror(errno));
		goto out;
	}
	self[n] = '\0';
	/* ssh splits USER@HOST at the last '@' and takes a bare IPv6
	 * address there, not a bracketed one. */
	(void)snprintf(dest, sizeof(dest), "%s@%s", o->t.user, o->t.host);
	if ((av = calloc(o->n_ssh_args + 3, sizeof(*av))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	av[0] = (char *)ssh;
	av[1] = dest;
	for (i = 0; i < o->n_ssh_args; i++)
		av[i + 2] = o->ssh_args[i];
	if (setenv("SSH_ASKPASS", self, 1) != 0 ||
	    setenv("SSH_ASKPASS_REQUIRE", "force", 1) != 0 ||
	    setenv("MTLS_ASKPASS_TICKET", ticket, 1) != 0) {
		r = ERR_NOMEM;
		goto out;
	}
	/* An ignored SIGPIPE would survive the exec. */
	signal(SIGPIPE, SIG_DFL);
	execvp(ssh, av);
	msg_set(msg, msglen, "cannot run %s: %s", ssh, strerror(errno));
	(void)unsetenv("MTLS_ASKPASS_TICKET");
out:
	free(av);
	return r;
}

static int
exit_code(int r)
{
	switch (r) {
	case 0:
		return EXIT_OK;
	case ERR_DENIED:
		return EXIT_DENIED;
	case ERR_INVALID:
	case ERR_CONFIG:
		return EXIT_USAGE;
	default:
		return EXIT_UNREACHABLE;
	}
}

int
main(int argc, char **argv)
{
	struct options o;
	char ticket[TICKET_MAX + 1], msg[MSG_LEN];
	int r;

	if (is_askpass_call(argc, argv))
		return askpass(argv[1]);

	msg[0] = '\0';
	ticket[0] = '\0';
	if ((r = parse_args(argc, argv, &o, msg, sizeof(msg))) != 0)
		goto out;
	if (o.help) {
		usage(stdout);
		return EXIT_OK;
	}
	if (o.version) {
		printf(PROG " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
		return EXIT_OK;
	}
	/* A server closing early must give EPIPE, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = get_ticket(&o, ticket, sizeof(ticket), msg,
	    sizeof(msg))) != 0)
		goto out;
	if (o.ssh) {
		r = exec_ssh(&o, ticket, msg, sizeof(msg));
		goto out;
	}
	if ((r = print_ticket(ticket, msg, sizeof(msg))) != 0)
		goto out;
out:
	OPENSSL_cleanse(ticket, sizeof(ticket));
	if (r != 0)
		fprintf(stderr, PROG ": %s\n", msg[0] != '\0' ? msg :
		    err_str(r));
	return exit_code(r);
}
