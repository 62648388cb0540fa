#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "audit.h"
#include "certcache.h"
#include "check.h"
#include "conf.h"
#include "connguard.h"
#include "control.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "notify.h"
#include "ocsp.h"
#include "pamsock.h"
#include "privs.h"
#include "sandbox.h"
#include "server.h"
#include "tickets.h"
#include "verify.h"
#include "workers.h"

#define EXIT_USAGE 2

struct opts {
	const char *file;
	int foreground;  /* -f */
	int test;        /* -t */
	int debug;       /* -d */
};

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-c FILE] [-f] [-t] [-d]\n", DAEMON_NAME);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int ch;

	o->file = CONFIG_DEFAULT_FILE;
	while ((ch = getopt(argc, argv, "c:dft")) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 't':
			o->test = 1;
			break;
		default:
			return ERR_INVALID;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n",
		    DAEMON_NAME, argv[optind]);
		return ERR_INVALID;
	}
	return 0;
}

/* mtlsd -t: everything start-up would refuse in the config, checked with
 * the same code, without opening a socket. */
static int
check_config(const struct opts *o)
{
	struct config *cfg = NULL;
	char err[1024] = "";
	int r;

	log_init(DAEMON_NAME, 0, 1, o->debug ? LOG_DEBUG : LOG_INFO);
	if ((r = config_check(o->file, &cfg, err, sizeof(err))) != 0) {
		fprintf(stderr, "%s\n", err[0] != '\0' ? err : err_str(r));
		return EXIT_FAILURE;
	}
	printf("%s: configuration OK\n", o->file);
	config_free(&cfg);
	return EXIT_SUCCESS;
}

/* --- events ---------------------------------------------------------------- */

static void
on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	size_t n;

	(void)fd;
	(void)what;
	if ((n = tstore_expire(d->tickets, time(NULL))) != 0) {
		log_debug("event=tickets-expired expired=%zu outstanding=%zu",
		    n, tstore_count(d->tickets));
		/* After a burst the freed grants are scattered over the heap,
		 * and malloc keeps those pages resident: give them back, so
		 * that memory returns to its baseline (t_load.sh). */
		(void)malloc_trim(0);
	}
	/* Handshakes refresh the CRLs too; this reports a broken CRL file
	 * even when nobody connects. Errors are logged there. */
	(void)trust_refresh(d->trust, time(NULL));
}

/* SIGHUP: reload, which also reopens the audit file (log rotation). */
static void
on_sighup(struct daemon *d)
{
	char err[1024];

	log_notice("event=reload-requested via=SIGHUP");
	/* daemon_reload has logged a refusal with its reason; the running
	 * configuration stays. */
	if (daemon_reload(d, err, sizeof(err)) != 0)
		return;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		on_sighup(d);
		break;
	case SIGTERM:
	case SIGINT:
		log_notice("event=shutdown signal=%d", (int)sig);
		event_base_loopexit(d->base, NULL);
		break;
	default:
		break;
	}
}

static int
add_events(struct daemon *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	const struct timeval tv = { DAEMON_EXPIRE_INTERVAL, 0 };

	d->ev_expire = event_new(d->base, -1, EV_PERSIST, on_expire, d);
	if (d->ev_expire == NULL || event_add(d->ev_expire, &tv) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		d->ev_sig[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		if (d->ev_sig[i] == NULL || event_add(d->ev_sig[i], NULL) != 0)
			goto fail;
	}
	return 0;
fail:
	log_error("event=startup-failed "
	    "reason=\"cannot set up timers and signals\"");
	return ERR_INTERNAL;
}

/* --- TLS context and reload ------------------------------------------------ */

/* A TLS server context for cfg that owns its trust (control_adopt_ctx):
 * after a reload, a connection still on the old context keeps the trust
 * its verify callback borrows. *ctxp is the caller's; *trustp is
 * borrowed from it. */
static int
tls_new(struct daemon *d, const struct config *cfg, SSL_CTX **ctxp,
    struct trust **trustp, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	struct trust *t = NULL;
	int r;

	if ((r = tls_server_ctx_new(&cfg->tls, &ctx, &t, err, errlen)) != 0)
		return r;
	if ((r = control_adopt_ctx(d, ctx, t)) != 0) {
		snprintf(err, errlen, "tls: %s", err_str(r));
		SSL_CTX_free(ctx);
		trust_free(&t);
		return r;
	}
	*ctxp = ctx;
	*trustp = t;
	return 0;
}

static int
same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	}
	return 1;
}

/* What was bound, created or dropped to before the privilege drop cannot
 * change without a restart: a reload that asks for it is refused rather
 * than half applied. */
static int
reload_fixed(const struct config *old, const struct config *new, char *err,
    size_t errlen)
{
	const char *what = NULL;

	if (!same_list(old->listen, old->n_listen, new->listen, new->n_listen))
		what = "listen";
	else if (strcmp(old->pam_socket, new->pam_socket) != 0)
		what = "pam_socket";
	else if (strcmp(old->control_socket, new->control_socket) != 0)
		what = "control_socket";
	else if (strcmp(old->user, new->user) != 0)
		what = "user";
	else if (old->sandbox != new->sandbox)
		what = "sandbox";  /* a filter cannot be removed */
	else if (old->workers != new->workers)
		what = "workers";  /* forked before the filter */
	if (what == NULL)
		return 0;
	snprintf(err, errlen, "%s: %s changed: that needs a restart of %s, "
	    "not a reload", new->file, what, DAEMON_NAME);
	return ERR_CONFIG;
}

/* The open audit descriptor is still the file at path: not rotated. */
static int
audit_is_current(int fd, const char *path)
{
	struct stat a, b;

	return fd >= 0 && fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A reload reopens the audit file when it was rotated (moved away, then
 * SIGHUP) or renamed in the config, creating it anew; an unchanged file
 * keeps its descriptor (after the privilege drop the daemon may not be
 * able to open the one root created). A reopen that fails keeps the old
 * descriptor, so records still land somewhere, and says so. */
static void
reopen_audit(struct daemon *d, const struct config *cfg)
{
	char err[1024] = "";
	int fd = -1;

	if (cfg->audit.file == NULL) {
		if (d->audit.fd >= 0)
			close(d->audit.fd);
		d->audit.fd = -1;
		return;
	}
	if (audit_is_current(d->audit.fd, cfg->audit.file))
		return;
	if (audit_open(cfg->audit.file, &fd, err, sizeof(err)) != 0) {
		log_error("event=audit-reopen-failed reason=%s "
		    "action=\"keeping the old file\"", LOG_Q(err));
		return;
	}
	if (d->audit.fd >= 0)
		close(d->audit.fd);
	d->audit.fd = fd;
}

int
daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	struct trust *trust = NULL;
	SSL_CTX *ctx = NULL;
	char *file = NULL;
	int r = ERR_NOMEM;

	/* The new trust files are parsed as at start-up, and a reload may
	 * change trust: the cache starts empty again after it. */
	certcache_disable();
	snprintf(err, errlen, "out of memory");
	if ((file = strdup(d->cfg->file)) == NULL)
		goto out;
	if ((r = config_check(file, &cfg, err, errlen)) != 0 ||
	    (r = reload_fixed(d->cfg, cfg, err, errlen)) != 0 ||
	    (r = tls_new(d, cfg, &ctx, &trust, err, errlen)) != 0)
		goto out;
	reopen_audit(d, cfg);
	/* The swap. Connections mid-handshake hold a reference to the old
	 * context (and through it the old trust); the ticket store stays,
	 * and redemptions check the new policy. */
	SSL_CTX_free(d->ssl_ctx);
	d->ssl_ctx = ctx;
	d->trust = trust;
	ctx = NULL;
	config_free(&d->cfg);
	d->cfg = cfg;
	cfg = NULL;
	/* New limits hold for new connections and the next ticket. */
	guard_apply_limits(d);
	d->log_level = d->debug_opt ? LOG_DEBUG : d->cfg->log_level;
	log_init(DAEMON_NAME, 1, d->foreground, d->log_level);
	d->loaded = time(NULL);
	d->stats->reloads++;
	log_notice("event=reloaded config=%s rules=%zu", LOG_Q(file),
	    d->cfg->policy.n_rules);
	/* Each worker re-reads the file itself and logs how that went. */
	workers_reload(d);
	err[0] = '\0';
	r = 0;
out:
	if (r != 0) {
		d->stats->reloads_failed++;
		log_error("event=reload-refused config=%s reason=%s "
		    "action=\"the running configuration stays\"",
		    LOG_Q(file != NULL ? file : "?"), LOG_Q(err));
	}
	SSL_CTX_free(ctx);
	config_free(&cfg);
	free(file);
	certcache_enable();
	return r;
}

/* --- start-up ------------------------------------------------------------ */

static int
load(struct daemon *d, const struct opts *o)
{
	char err[1024] = "";
	int r;

	if ((r = config_load(o->file, &d->cfg, err, sizeof(err))) != 0) {
		log_error("event=config-refused config=%s reason=%s",
		    LOG_Q(o->file), LOG_Q(err));
		return r;
	}
	d->debug_opt = o->debug;
	d->log_level = o->debug ? LOG_DEBUG : d->cfg->log_level;
	d->loaded = time(NULL);
	log_init(DAEMON_NAME, 1, 1, d->log_level);
	if ((r = tls_new(d, d->cfg, &d->ssl_ctx, &d->trust, err,
	    sizeof(err))) != 0) {
		log_error("event=config-refused config=%s reason=%s",
		    LOG_Q(o->file), LOG_Q(err));
		return r;
	}
	return 0;
}

static int
open_audit(struct daemon *d)
{
	char err[1024] = "";
	int r;

	if (d->cfg->audit.file == NULL)
		return 0;
	if ((r = audit_open(d->cfg->audit.file, &d->audit.fd, err,
	    sizeof(err))) != 0)
		log_error("event=audit-open-failed reason=%s", LOG_Q(err));
	return r;
}

/* Everything that needs root, or can fail on a bad config, happens here,
 * in this order, before the process detaches: a start-up that reports
 * success has its sockets open and runs unprivileged. */
static int
start(struct daemon *d, const struct opts *o)
{
	uid_t run_uid;
	int r;

	if ((r = load(d, o)) != 0)
		return r;
	if ((d->tickets = tstore_new(d->cfg->limits.max_tickets)) == NULL ||
	    (d->base = event_base_new()) == NULL) {
		log_error("event=startup-failed reason=\"out of memory\"");
		return ERR_NOMEM;
	}
	if ((r = server_start(d)) != 0)
		return r;
	/* Always there, so that a reload may turn OCSP on. */
	if ((r = ocsp_new(d->base, &d->ocsp)) != 0) {
		log_error("event=startup-failed reason=\"cannot create the "
		    "OCSP client\" error=%s", LOG_Q(err_str(r)));
		return r;
	}
	if ((r = privs_target_uid(d->cfg->user, &run_uid)) != 0)
		return r;
	if ((r = pamsock_open(d, run_uid, &d->pam)) != 0)
		return r;
	if ((r = control_open(d, run_uid, &d->ctl)) != 0)
		return r;
	if ((r = open_audit(d)) != 0)
		return r;
	/* The bounding set needs CAP_SETPCAP, which the drop takes away. */
	if ((r = sandbox_bound()) != 0 ||
	    (r = privs_drop(d->cfg->user)) != 0)
		return r;
	return add_events(d);
}

static int
detach(struct daemon *d)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0)
		goto fail;
	if (pid > 0)
		_exit(EXIT_SUCCESS);
	if (setsid() < 0)
		goto fail;
	if ((pid = fork()) < 0)
		goto fail;
	if (pid > 0)
		_exit(EXIT_SUCCESS);
	if (chdir("/") != 0)
		goto fail;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		goto fail;
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		goto fail;
	}
	if (fd > STDERR_FILENO)
		close(fd);
	log_init(DAEMON_NAME, 1, 0, d->log_level);
	/* The epoll instance and signal pipe were made before the forks. */
	if (event_reinit(d->base) != 0) {
		log_error("event=startup-failed reason=\"event_reinit "
		    "failed\"");
		return ERR_INTERNAL;
	}
	return 0;
fail:
	log_error("event=startup-failed reason=\"cannot detach\" error=%s",
	    LOG_Q(strerror(errno)));
	return ERR_INTERNAL;
}

static void
log_ready(const struct daemon *d)
{
	char where[1024] = "";
	size_t off = 0;
	int n;

	/* One value: the addresses joined by commas. */
	for (size_t i = 0; i < d->cfg->n_listen && off < sizeof(where); i++) {
		n = snprintf(where + off, sizeof(where) - off, "%s%s",
		    i != 0 ? "," : "", d->cfg->listen[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	log_notice("event=ready version=%s listen=%s pam_socket=%s "
	    "control_socket=%s", LOG_Q(PACKAGE_VERSION), LOG_Q(where),
	    LOG_Q(d->cfg->pam_socket), LOG_Q(d->cfg->control_socket));
}

static void
daemon_clear(struct daemon *d)
{
	/* Before the server: a worker's requests waiting for the master
	 * are answered. */
	workers_free(&d->workers);
	control_free(&d->ctl);
	pamsock_free(&d->pam);
	/* Before the server: requests waiting for OCSP are answered. */
	ocsp_free(&d->ocsp);
	server_stop(d);
	for (size_t i = 0; i < sizeof(d->ev_sig) / sizeof(d->ev_sig[0]); i++) {
		if (d->ev_sig[i] != NULL)
			event_free(d->ev_sig[i]);
	}
	if (d->ev_expire != NULL)
		event_free(d->ev_expire);
	if (d->base != NULL)
		event_base_free(d->base);
	/* The trust goes with the context's last reference. */
	SSL_CTX_free(d->ssl_ctx);
	d->trust = NULL;
	tstore_free(&d->tickets);
	config_free(&d->cfg);
	if (d->audit.fd >= 0)
		close(d->audit.fd);
	memset(d, 0, sizeof(*d));
	d->audit.fd = -1;
}

int
main(int argc, char **argv)
{
	struct daemon d = { .audit = { .fd = -1 } };
	struct opts o = { 0 };
	char *abs_file = NULL;
	int status = EXIT_FAILURE;
	int loop;

	if (parse_args(argc, argv, &o) != 0) {
		usage();
		return EXIT_USAGE;
	}
	/* Before anything parses a certificate (mtlsd -t too): until then
	 * d2i_X509 and X509_verify fail closed. */
	if (certcache_init() != 0) {
		fprintf(stderr, "%s: cannot resolve libcrypto's d2i_X509 and "
		    "X509_verify for the certificate cache; not starting\n",
		    DAEMON_NAME);
		return EXIT_FAILURE;
	}
	if (o.test)
		return check_config(&o);
	/* A reload re-reads the file after the detach's chdir("/"). */
	if ((abs_file = realpath(o.file, NULL)) != NULL)
		o.file = abs_file;

	/* Sockets and the audit file are created with no access for
	 * others; each gets its exact mode explicitly. */
	umask(027);
	signal(SIGPIPE, SIG_IGN);
	d.foreground = o.foreground;
	d.audit.to_stderr = o.foreground;
	d.started = time(NULL);
	d.stats = &d.own_stats;
	certcache_count_into(&d.stats->cert_cache);
	/* In the foreground under systemd or a supervisor, stderr is the
	 * log: "<N>message" lines, the journal adds time and name. */
	log_set_journal(o.foreground && !isatty(STDERR_FILENO));
	/* Until it detaches, start-up errors go to the terminal as well. */
	log_init(DAEMON_NAME, 1, 1, o.debug ? LOG_DEBUG : LOG_INFO);
	if (start(&d, &o) != 0)
		goto out;
	/* Configuration and trust are loaded: from here on the client
	 * chains' CA certificates are parsed once. */
	certcache_enable();
	if (!d.foreground && detach(&d) != 0)
		goto out;
	/* After the detach, whose fork, setsid and dup2 the filter does
	 * not allow, and so are the workers' forks. */
	if (workers_start(&d) != 0 || sandbox_enter(d.cfg->sandbox) != 0)
		goto out;
	if (d.worker_id == 0) {
		log_ready(&d);
		(void)notify_ready();
	}
	loop = event_base_dispatch(d.base);
	if (d.worker_id == 0)
		(void)notify_stopping();
	if (loop < 0) {
		log_error("event=event-loop-failed");
		goto out;
	}
	if (!d.failed)
		status = EXIT_SUCCESS;
out:
	daemon_clear(&d);
	certcache_clear();
	libevent_global_shutdown();
	free(abs_file);
	return status;
}
