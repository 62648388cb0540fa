#include "config.h"

#include <errno.h>
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
#include <openssl/crypto.h>

#include "audit.h"
#include "buf.h"
#include "connguard.h"
#include "log.h"
#include "pamsock.h"
#include "unixsock.h"
#include "policy.h"
#include "proto.h"
#include "tickets.h"

/* The most one exchange can send: a HELLO and a REDEEM of the largest
 * size. More than that is not a module speaking the protocol. */
#define PAMCONN_MAX_INPUT (2 * (PROTO_HDR_LEN + PROTO_MAX_FRAME))

enum pamconn_state {
	PC_WANT_HELLO,
	PC_WANT_REDEEM,
	PC_DONE,        /* answered: flush, then close */
};

struct pamconn {
	TAILQ_ENTRY(pamconn) next;
	struct pamsock *ps;       /* borrowed */
	struct bufferevent *bev;  /* owned, closes the fd */
	struct buf *in;           /* owned: bytes received, wiped on free */
	enum pamconn_state state;
	uid_t uid;                /* SO_PEERCRED, for log lines */
	pid_t pid;
};

struct pamsock {
	struct daemon *d;             /* borrowed */
	struct unixsock file;         /* the socket we serve, and its file */
	size_t n_conns;
	TAILQ_HEAD(, pamconn) conns;
};

/* --- connections ---------------------------------------------------------- */

/* Wipes what libevent holds of the input before it is released: it may be
 * (part of) a REDEEM frame, and a ticket must not linger in freed memory. */
static void
pamsock_wipe_input(struct evbuffer *in)
{
	struct evbuffer_iovec v;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		OPENSSL_cleanse(v.iov_base, v.iov_len);
		evbuffer_drain(in, v.iov_len);
	}
}

static void
pamsock_conn_free(struct pamconn *c)
{
	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->ps->conns, c, next);
	c->ps->n_conns--;
	if (c->bev != NULL) {
		pamsock_wipe_input(bufferevent_get_input(c->bev));
		bufferevent_free(c->bev);
	}
	buf_free(&c->in);
	free(c);
}

/* Moves the received bytes into c->in, wiping each chunk libevent held. */
static int
pamsock_absorb(struct pamconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	int r;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		r = buf_put(c->in, v.iov_base, v.iov_len);
		OPENSSL_cleanse(v.iov_base, v.iov_len);
		evbuffer_drain(in, v.iov_len);
		if (r != 0) {
			pamsock_wipe_input(in);
			return r;
		}
	}
	return 0;
}

/* One frame for m, ready to write. *out owned by the caller. */
static int
pamsock_encode(const struct proto_msg *m, struct buf **out)
{
	struct buf *b = NULL;
	int r;

	if ((b = buf_new(PROTO_HDR_LEN + PROTO_MAX_FRAME)) == NULL)
		return ERR_NOMEM;
	if ((r = proto_encode(b, m)) != 0) {
		buf_free(&b);
		return r;
	}
	*out = b;
	return 0;
}

static int
pamsock_write(struct pamconn *c, const struct buf *frame)
{
	if (bufferevent_write(c->bev, buf_ptr(frame), buf_avail(frame)) != 0)
		return ERR_NOMEM;
	return 0;
}

static int
pamsock_send(struct pamconn *c, const struct proto_msg *m)
{
	struct buf *b = NULL;
	int r;

	if ((r = pamsock_encode(m, &b)) == 0)
		r = pamsock_write(c, b);
	buf_free(&b);
	return r;
}

/* The last answer of the exchange: nothing more is read, and the
 * connection is closed once the answer is flushed (pamsock_writecb). */
static int
pamsock_finish(struct pamconn *c, const struct proto_msg *m)
{
	c->state = PC_DONE;
	bufferevent_disable(c->bev, EV_READ);
	return pamsock_send(c, m);
}

/* --- answers to the module --------------------------------------------------- */

static int
answer_deny(struct pamconn *c, uint32_t reason)
{
	struct proto_msg m = { .type = PROTO_DENY, .u.reason = reason };

	return pamsock_finish(c, &m);
}

static int
answer_hello(struct pamconn *c, uint32_t version)
{
	struct proto_msg m = { .type = PROTO_HELLO,
		.u.version = PROTO_VERSION };

	if (version < PROTO_VERSION) {
		log_warn("event=pam-refused pid=%ld version=%u "
		    "reason=\"protocol version too old\"", (long)c->pid,
		    version);
		return answer_deny(c, DENY_VERSION);
	}
	c->state = PC_WANT_REDEEM;
	return pamsock_send(c, &m);
}

/* A redemption refused: audited (the refusal stands even if the audit
 * file fails), then DENY. */
static int
answer_redeem_denied(struct pamconn *c, struct audit_rec *rec,
    uint32_t reason)
{
	rec->event = AUDIT_REDEEM_DENIED;
	daemon_tally_add(&c->ps->d->stats->redeem_refused,
	    proto_deny_str(reason));
	/* A refusal the login earned (not a failure of ours) is a failed
	 * attempt of the remote host and of the certificate. */
	if (reason != DENY_INTERNAL)
		guard_failure(c->ps->d, rec->rhost,
		    rec->id != NULL ? rec->id->fingerprint : NULL);
	if (rec->reason == NULL)
		rec->reason = proto_deny_str(reason);
	if (audit_record(&c->ps->d->audit, rec) != 0)
		log_warn("event=refusal-unaudited decision=redeem-denied "
		    "pid=%ld", (long)c->pid);
	return answer_deny(c, reason);
}

/* The OK frame, built before the decision is recorded so that a
 * redemption that is audited as accepted is also answered OK. */
static int
encode_ok(const struct ident *id, const char *rule, struct buf **out)
{
	struct proto_msg m = { .type = PROTO_OK };

	m.u.ok.subject = id->subject;
	m.u.ok.issuer = id->issuer;
	m.u.ok.serial = id->serial;
	m.u.ok.fingerprint = (char *)id->fingerprint;
	m.u.ok.rule = (char *)rule;
	return pamsock_encode(&m, out);
}

static int
answer_ok(struct pamconn *c, const struct buf *frame)
{
	c->state = PC_DONE;
	bufferevent_disable(c->bev, EV_READ);
	return pamsock_write(c, frame);
}

static uint32_t
take_reason(int r)
{
	switch (r) {
	case ERR_NOTFOUND:
		return DENY_BAD_TICKET;
	case ERR_EXPIRED:
		return DENY_EXPIRED;
	default:
		return DENY_INTERNAL;
	}
}

/* The ticket is consumed here whatever the answer. Then, in order: the
 * grant's user and address binding, the policy as it stands now (a rule
 * removed since issue refuses), the audit record, and only then OK. */
static int
answer_redeem(struct pamconn *c, const struct proto_redeem *rd)
{
	const struct config *cfg = c->ps->d->cfg;
	struct audit_rec rec = { 0 };
	struct ticket_grant *g = NULL;
	struct buf *ok = NULL;
	struct policy_ctx ctx = { 0 };
	struct decision dec;
	uint32_t reason = DENY_INTERNAL;
	int r;

	rec.user = rd->user;
	rec.service = rd->service;
	rec.rhost = rd->rhost;
	if ((r = tstore_take(c->ps->d->tickets, rd->ticket, time(NULL),
	    &g)) != 0) {
		r = answer_redeem_denied(c, &rec, take_reason(r));
		goto out;
	}
	rec.id = g->id;
	if (ticket_check(g, rd->user, rd->service, rd->rhost,
	    cfg->tickets.local_services, cfg->tickets.n_local_services,
	    &reason) != 0) {
		r = answer_redeem_denied(c, &rec, reason);
		goto out;
	}
	/* services and from are enforced here, at the login itself; an
	 * empty rhost (a local service) is an unknown address. */
	ctx.user = rd->user;
	ctx.check_service = 1;
	ctx.service = rd->service;
	ctx.check_addr = 1;
	ctx.addr = rd->rhost;
	if (policy_decide(&cfg->policy, g->id, &ctx, &dec) != 0 ||
	    !dec.granted || dec.rule == NULL) {
		rec.reason = dec.reason;
		r = answer_redeem_denied(c, &rec, DENY_NOT_ALLOWED);
		goto out;
	}
	rec.rule = dec.rule->name;
	if ((r = encode_ok(g->id, dec.rule->name, &ok)) != 0) {
		/* An identity field over the protocol's bound. */
		log_error("event=redeem-failed pid=%ld reason=\"cannot "
		    "encode OK\" error=%s", (long)c->pid, LOG_Q(err_str(r)));
		rec.reason = "identity does not fit the protocol";
		r = answer_redeem_denied(c, &rec, DENY_INTERNAL);
		goto out;
	}
	rec.event = AUDIT_REDEEMED;
	rec.reason = dec.reason;
	if (audit_record(&c->ps->d->audit, &rec) != 0) {
		rec.reason = "audit log unavailable";
		r = answer_redeem_denied(c, &rec, DENY_INTERNAL);
		goto out;
	}
	c->ps->d->stats->redeemed++;
	r = answer_ok(c, ok);
out:
	buf_free(&ok);
	ticket_grant_free(&g);
	return r;
}

/* The exchange is HELLO, then REDEEM; anything else is a protocol error. */
static int
pamsock_dispatch(struct pamconn *c, const struct proto_msg *m)
{
	switch (c->state) {
	case PC_WANT_HELLO:
		if (m->type != PROTO_HELLO)
			break;
		return answer_hello(c, m->u.version);
	case PC_WANT_REDEEM:
		if (m->type != PROTO_REDEEM)
			break;
		return answer_redeem(c, &m->u.redeem);
	case PC_DONE:
	default:
		break;
	}
	log_warn("event=pam-dropped pid=%ld reason=\"unexpected message\" "
	    "message=%s", (long)c->pid, LOG_Q(proto_type_str(m->type)));
	return ERR_PROTO;
}

/* --- libevent callbacks ------------------------------------------------------- */

static void
pamsock_readcb(struct bufferevent *bev, void *arg)
{
	struct pamconn *c = arg;
	struct proto_msg m;
	size_t consumed;
	int r;

	(void)bev;
	if (pamsock_absorb(c) != 0) {
		log_warn("event=pam-dropped pid=%ld reason=\"sent too much\"",
		    (long)c->pid);
		goto drop;
	}
	while (c->state != PC_DONE) {
		r = proto_decode(buf_ptr(c->in), buf_avail(c->in), &m,
		    &consumed);
		if (r == ERR_SHORT)
			return;
		if (r != 0) {
			log_warn("event=pam-dropped pid=%ld reason=%s",
			    (long)c->pid, LOG_Q(err_str(r)));
			goto drop;
		}
		r = buf_consume(c->in, consumed);
		if (r == 0)
			r = pamsock_dispatch(c, &m);
		proto_msg_clear(&m);
		if (r != 0)
			goto drop;
	}
	return;
drop:
	pamsock_conn_free(c);
}

static void
pamsock_writecb(struct bufferevent *bev, void *arg)
{
	struct pamconn *c = arg;

	if (c->state == PC_DONE &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		pamsock_conn_free(c);
}

static void
pamsock_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct pamconn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_info("event=pam-timeout pid=%ld", (long)c->pid);
	else if (what & BEV_EVENT_ERROR)
		log_info("event=pam-dropped pid=%ld reason=%s", (long)c->pid,
		    LOG_Q(strerror(EVUTIL_SOCKET_ERROR())));
	else
		log_debug("event=pam-closed pid=%ld", (long)c->pid);
	pamsock_conn_free(c);
}

static int
peer_allowed(const struct config *cfg, uid_t uid)
{
	for (size_t i = 0; i < cfg->n_pam_peers; i++) {
		if (cfg->pam_peers[i] == uid)
			return 1;
	}
	return 0;
}

/* Takes fd in every case: it is the connection's, or closed. */
static int
pamsock_conn_new(struct pamsock *ps, evutil_socket_t fd,
    const struct ucred *uc)
{
	const struct timeval tv = { PAMSOCK_TIMEOUT, 0 };
	struct pamconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return ERR_NOMEM;
	}
	c->ps = ps;
	c->uid = uc->uid;
	c->pid = uc->pid;
	c->state = PC_WANT_HELLO;
	TAILQ_INSERT_TAIL(&ps->conns, c, next);
	ps->n_conns++;
	c->bev = bufferevent_socket_new(ps->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		pamsock_conn_free(c);
		return ERR_NOMEM;
	}
	if ((c->in = buf_new(PAMCONN_MAX_INPUT)) == NULL) {
		pamsock_conn_free(c);
		return ERR_NOMEM;
	}
	bufferevent_setcb(c->bev, pamsock_readcb, pamsock_writecb,
	    pamsock_eventcb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    PROTO_HDR_LEN + PROTO_MAX_FRAME);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		pamsock_conn_free(c);
		return ERR_INTERNAL;
	}
	return 0;
}

static void
pamsock_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct pamsock *ps = arg;
	struct ucred uc;
	socklen_t len = sizeof(uc);

	(void)lev;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 ||
	    len != sizeof(uc)) {
		log_warn("event=pam-refused reason=\"no peer credentials\" "
		    "error=%s", LOG_Q(strerror(errno)));
		goto drop;
	}
	if (!peer_allowed(ps->d->cfg, uc.uid)) {
		log_warn("event=pam-refused uid=%u pid=%ld "
		    "reason=\"uid not allowed\"", (unsigned)uc.uid,
		    (long)uc.pid);
		goto drop;
	}
	if (ps->n_conns >= ps->d->cfg->limits.pam_clients) {
		log_warn("event=pam-refused uid=%u pid=%ld "
		    "reason=\"too many connections\"", (unsigned)uc.uid,
		    (long)uc.pid);
		goto drop;
	}
	/* From here the fd belongs to pamsock_conn_new, which closes it
	 * if it fails. */
	if (pamsock_conn_new(ps, fd, &uc) != 0) {
		log_error("event=pam-error pid=%ld reason=\"cannot serve\"",
		    (long)uc.pid);
		return;
	}
	log_debug("event=pam-connected uid=%u pid=%ld", (unsigned)uc.uid,
	    (long)uc.pid);
	return;
drop:
	close(fd);
}

/* --- the socket file ---------------------------------------------------------- */

int
pamsock_open(struct daemon *d, uid_t run_uid, struct pamsock **out)
{
	struct pamsock *ps = NULL;
	int r = ERR_NOMEM;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		goto out;
	ps->d = d;
	TAILQ_INIT(&ps->conns);
	/* 0660, owner unchanged: root made it, root (sshd) connects. */
	if ((r = unixsock_listen(d->base, "pam_socket", d->cfg->pam_socket,
	    run_uid, 0660, (uid_t)-1, PAMSOCK_BACKLOG, pamsock_acceptcb, ps,
	    &ps->file)) != 0)
		goto out;
	*out = ps;
	ps = NULL;
	r = 0;
out:
	pamsock_free(&ps);
	return r;
}

void
pamsock_disown(struct pamsock **pp)
{
	if (pp != NULL && *pp != NULL)
		unixsock_disown(&(*pp)->file);
	pamsock_free(pp);
}

void
pamsock_free(struct pamsock **pp)
{
	struct pamsock *ps;
	struct pamconn *c, *next;

	if (pp == NULL || (ps = *pp) == NULL)
		return;
	/* next is read before c goes: scan-build cannot see that freeing
	 * the first element empties the head. */
	for (c = TAILQ_FIRST(&ps->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, next);
		pamsock_conn_free(c);
	}
	unixsock_close(&ps->file);
	free(ps);
	*pp = NULL;
}
