#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "buf.h"
#include "control.h"
#include "unixsock.h"
#include "ctlmsg.h"
#include "log.h"
#include "verify.h"
#include "workers.h"

#define CONTROL_BACKLOG 8
/* A status answer: a few hundred bytes plus the tallies and CRLs. */
#define CONTROL_MAX_ANSWER (64 * 1024)

struct ctlconn {
	TAILQ_ENTRY(ctlconn) next;
	struct control *ctl;      /* borrowed */
	struct bufferevent *bev;  /* owned, closes the fd */
	int done;                 /* answered: close once flushed */
	uid_t uid;
	pid_t pid;
};

struct control {
	struct daemon *d;             /* borrowed */
	struct unixsock file;         /* the socket we serve, and its file */
	uid_t run_uid;                /* the other uid allowed besides 0 */
	size_t n_conns;
	TAILQ_HEAD(, ctlconn) conns;
};

/* --- the TLS context's companions ---------------------------------------- */

/* What an SSL_CTX of the daemon carries along: the trust its verify
 * callback borrows, and where its handshakes are counted. */
struct ctx_extra {
	struct daemon *d;       /* borrowed */
	struct trust *trust;    /* owned */
};

static int ctx_extra_index = -1;

static void
ctx_extra_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct ctx_extra *x = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (x == NULL)
		return;
	trust_free(&x->trust);
	free(x);
}

/* The numeric address of the TLS peer, or "?". */
static void
ssl_peer(const SSL *ssl, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = SSL_get_fd(ssl);

	snprintf(out, outlen, "?");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (getnameinfo((struct sockaddr *)&ss, len, out, (socklen_t)outlen,
	    NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, outlen, "?");
}

static void
count_refused(struct daemon *d, const SSL *ssl, const char *side,
    int alert)
{
	char reason[DAEMON_REASON_LEN], peer[NI_MAXHOST];
	long v = SSL_get_verify_result(ssl);

	/* The verify callback (verify.c) left its verdict in the SSL: it is
	 * the reason a certificate was refused; otherwise the alert says. */
	if (v != X509_V_OK)
		snprintf(reason, sizeof(reason), "%s",
		    X509_verify_cert_error_string(v));
	else if (alert == SSL_AD_CERTIFICATE_REQUIRED)
		/* OpenSSL 3.0 has no name for TLS 1.3's alert 116. */
		snprintf(reason, sizeof(reason), "%sno client certificate",
		    side);
	else
		snprintf(reason, sizeof(reason), "%s%s", side,
		    SSL_alert_desc_string_long(alert));
	daemon_tally_add(&d->stats->hs_refused, reason);
	ssl_peer(ssl, peer, sizeof(peer));
	log_info("event=handshake-refused peer=%s reason=%s", LOG_Q(peer),
	    LOG_Q(reason));
}

/* Counts what the handshake ends in. A fatal alert while the handshake
 * is still running means it failed: sent by us (a refusal) or by the
 * client (it did not accept us). */
static void
ctx_info_cb(const SSL *ssl, int where, int ret)
{
	struct ctx_extra *x = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ctx_extra_index);

	if (x == NULL)
		return;
	if (where & SSL_CB_HANDSHAKE_DONE) {
		x->d->stats->handshakes++;
		return;
	}
	/* TLS_ST_BEFORE: not a byte of a ClientHello came (a TCP probe, a
	 * port scan): no handshake to count. */
	if (!(where & SSL_CB_ALERT) || (ret >> 8) != SSL3_AL_FATAL ||
	    !SSL_in_init(ssl) || SSL_get_state(ssl) == TLS_ST_BEFORE)
		return;
	count_refused(x->d, ssl, (where & SSL_CB_READ) ? "client alert: " :
	    "", ret & 0xff);
}

int
control_adopt_ctx(struct daemon *d, SSL_CTX *ctx, struct trust *trust)
{
	struct ctx_extra *x;

	if (ctx_extra_index < 0) {
		ctx_extra_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    ctx_extra_free);
		if (ctx_extra_index < 0) {
			log_ossl(LOG_ERR, __func__, "SSL_CTX_get_ex_new_index",
			    NULL, 0);
			return ERR_INTERNAL;
		}
	}
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return ERR_NOMEM;
	x->d = d;
	if (SSL_CTX_set_ex_data(ctx, ctx_extra_index, x) != 1) {
		free(x);
		log_ossl(LOG_ERR, __func__, "SSL_CTX_set_ex_data", NULL, 0);
		return ERR_NOMEM;
	}
	/* From here ctx frees x, and with it trust. */
	x->trust = trust;
	SSL_CTX_set_info_callback(ctx, ctx_info_cb);
	return 0;
}

/* --- connections ---------------------------------------------------------- */

static void
ctlconn_free(struct ctlconn *c)
{
	if (c == NULL)
		return;
	/* A reload's answer may still be waiting for the workers. */
	workers_reload_cancel(c->ctl->d, c);
	TAILQ_REMOVE(&c->ctl->conns, c, next);
	c->ctl->n_conns--;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

/* Sends "ok\n" and body, or "error REASON\n", then closes once flushed. */
static int
ctlconn_answer(struct ctlconn *c, const char *error, const struct buf *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;

	c->done = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (error != NULL)
		rc = evbuffer_add_printf(out, "error %s\n", error) < 0 ? -1 : 0;
	else
		rc = evbuffer_add(out, "ok\n", 3);
	if (rc == 0 && error == NULL && body != NULL)
		rc = evbuffer_add(out, buf_ptr(body), buf_avail(body));
	return rc == 0 ? 0 : ERR_NOMEM;
}

static int
answer_status(struct ctlconn *c, int json)
{
	struct buf *b = NULL;
	int r;

	if ((b = buf_new(CONTROL_MAX_ANSWER)) == NULL)
		return ERR_NOMEM;
	if ((r = control_status(c->ctl->d, time(NULL), json, b)) != 0) {
		log_error("event=control-status error=%s", LOG_Q(err_str(r)));
		r = ctlconn_answer(c, "cannot build the status", NULL);
	} else {
		r = ctlconn_answer(c, NULL, b);
	}
	buf_free(&b);
	return r;
}

static int
answer_reloaded(struct ctlconn *c)
{
	struct buf *b = NULL;
	int r;

	if ((b = buf_new(CONTROL_MAX_ANSWER)) == NULL)
		return ERR_NOMEM;
	if (buf_put(b, "reloaded ", 9) != 0 ||
	    buf_put(b, c->ctl->d->cfg->file, strlen(c->ctl->d->cfg->file)) != 0 ||
	    buf_put_u8(b, '\n') != 0)
		r = ctlconn_answer(c, NULL, NULL);
	else
		r = ctlconn_answer(c, NULL, b);
	buf_free(&b);
	return r;
}

/* Every worker has answered the reload (workers.c). */
static void
on_workers_reloaded(void *arg, const char *err)
{
	struct ctlconn *c = arg;
	int r;

	r = err != NULL ? ctlconn_answer(c, err, NULL) : answer_reloaded(c);
	if (r != 0)
		ctlconn_free(c);
}

/* The reload runs here, inside the event loop like every other callback,
 * so that no request is half-way through the old config when it goes.
 * With workers, the answer waits until each has reloaded too: when
 * mtlsctl reload returns, every process decides by the new rules. */
static int
answer_reload(struct ctlconn *c)
{
	char err[1024] = "";
	int r;

	log_notice("event=reload-requested via=control uid=%u pid=%ld",
	    (unsigned)c->uid, (long)c->pid);
	if (daemon_reload(c->ctl->d, err, sizeof(err)) != 0)
		return ctlconn_answer(c, err[0] != '\0' ? err : "reload failed",
		    NULL);
	/* Nothing more is read from this client meanwhile. Set before the
	 * wait, whose callback may answer (and free c) at once. */
	c->done = 1;
	bufferevent_disable(c->bev, EV_READ);
	r = workers_reload_wait(c->ctl->d, on_workers_reloaded, c);
	if (r == ERR_NOTFOUND)
		return answer_reloaded(c);
	return r;
}

static int
ctlconn_dispatch(struct ctlconn *c, enum control_req req)
{
	switch (req) {
	case CONTROL_STATUS:
		return answer_status(c, 0);
	case CONTROL_STATUS_JSON:
		return answer_status(c, 1);
	case CONTROL_RELOAD:
		return answer_reload(c);
	default:
		return ctlconn_answer(c, "unknown request", NULL);
	}
}

static void
ctlconn_readcb(struct bufferevent *bev, void *arg)
{
	struct ctlconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[CONTROL_MAX_REQUEST];
	size_t len = evbuffer_get_length(in);
	enum control_req req;
	int r;

	if (c->done)
		return;
	if (len > sizeof(line))
		len = sizeof(line);
	if (evbuffer_copyout(in, line, len) != (ev_ssize_t)len)
		goto drop;
	r = control_parse_request(line, len, &req);
	if (r == ERR_SHORT)
		return;
	if (r != 0 || evbuffer_get_length(in) != len) {
		log_warn("event=control-refused uid=%u pid=%ld "
		    "reason=\"malformed request\"", (unsigned)c->uid,
		    (long)c->pid);
		if (ctlconn_answer(c, "malformed request", NULL) != 0)
			goto drop;
		return;
	}
	evbuffer_drain(in, len);
	if (ctlconn_dispatch(c, req) != 0)
		goto drop;
	return;
drop:
	ctlconn_free(c);
}

static void
ctlconn_writecb(struct bufferevent *bev, void *arg)
{
	struct ctlconn *c = arg;

	if (c->done && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ctlconn_free(c);
}

static void
ctlconn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct ctlconn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_info("event=control-timeout uid=%u pid=%ld",
		    (unsigned)c->uid, (long)c->pid);
	ctlconn_free(c);
}

/* Takes fd in every case. */
static int
ctlconn_new(struct control *ctl, evutil_socket_t fd, const struct ucred *uc)
{
	const struct timeval tv = { CONTROL_TIMEOUT, 0 };
	struct ctlconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return ERR_NOMEM;
	}
	c->ctl = ctl;
	c->uid = uc->uid;
	c->pid = uc->pid;
	TAILQ_INSERT_TAIL(&ctl->conns, c, next);
	ctl->n_conns++;
	c->bev = bufferevent_socket_new(ctl->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		ctlconn_free(c);
		return ERR_NOMEM;
	}
	bufferevent_setcb(c->bev, ctlconn_readcb, ctlconn_writecb,
	    ctlconn_eventcb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_MAX_REQUEST + 1);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		ctlconn_free(c);
		return ERR_INTERNAL;
	}
	return 0;
}

static void
control_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct ucred uc;
	socklen_t len = sizeof(uc);

	(void)lev;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 ||
	    len != sizeof(uc)) {
		log_warn("event=control-refused reason=\"no peer "
		    "credentials\" error=%s", LOG_Q(strerror(errno)));
		goto drop;
	}
	/* The socket's mode already keeps others out; this holds even if
	 * someone loosens it. */
	if (uc.uid != 0 && uc.uid != ctl->run_uid) {
		log_warn("event=control-refused uid=%u pid=%ld "
		    "reason=\"uid not allowed\"", (unsigned)uc.uid,
		    (long)uc.pid);
		goto drop;
	}
	if (ctl->n_conns >= CONTROL_MAX_CONNS) {
		log_warn("event=control-refused uid=%u pid=%ld "
		    "reason=\"too many connections\"", (unsigned)uc.uid,
		    (long)uc.pid);
		goto drop;
	}
	if (ctlconn_new(ctl, fd, &uc) != 0)
		log_error("event=control-error pid=%ld reason=\"cannot serve\"",
		    (long)uc.pid);
	return;
drop:
	close(fd);
}

/* --- the socket file ------------------------------------------------------ */

int
control_open(struct daemon *d, uid_t run_uid, struct control **out)
{
	struct control *ctl = NULL;
	int r = ERR_NOMEM;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		goto out;
	ctl->d = d;
	ctl->run_uid = run_uid;
	TAILQ_INIT(&ctl->conns);
	/* 0600 and the daemon's user's: root and the daemon may use it. */
	if ((r = unixsock_listen(d->base, "control_socket",
	    d->cfg->control_socket, run_uid, 0600, run_uid, CONTROL_BACKLOG,
	    control_acceptcb, ctl, &ctl->file)) != 0)
		goto out;
	*out = ctl;
	ctl = NULL;
	r = 0;
out:
	control_free(&ctl);
	return r;
}

void
control_disown(struct control **cp)
{
	if (cp != NULL && *cp != NULL)
		unixsock_disown(&(*cp)->file);
	control_free(cp);
}

void
control_free(struct control **cp)
{
	struct control *ctl;
	struct ctlconn *c, *next;

	if (cp == NULL || (ctl = *cp) == NULL)
		return;
	/* next is read before c goes: scan-build cannot see that freeing
	 * the first element empties the head. */
	for (c = TAILQ_FIRST(&ctl->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, next);
		ctlconn_free(c);
	}
	unixsock_close(&ctl->file);
	free(ctl);
	*cp = NULL;
}
