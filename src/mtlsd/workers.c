#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "audit.h"
#include "buf.h"
#include "certcache.h"
#include "connguard.h"
#include "control.h"
#include "log.h"
#include "pamsock.h"
#include "server.h"
#include "wmsg.h"
#include "workers.h"

/* Messages read from one link in one callback: the others get their turn
 * in the event loop. */
#define LINK_BURST 64

/* A message waiting for its link to take it (the peer's queue is full). */
struct outmsg {
	TAILQ_ENTRY(outmsg) next;
	size_t len;
	uint8_t data[];
};

/* One end of a socketpair between the master and a worker. */
struct link {
	struct workers *w;            /* borrowed: the owner */
	unsigned peer_id;             /* the other end's worker number, 0
	                                 for the master */
	pid_t pid;                    /* the master's: the worker's pid */
	unsigned long acks;           /* the master's: RELOADED received */
	int fd;                       /* owned */
	struct event *ev_read;        /* owned */
	struct event *ev_write;       /* owned: added while out is queued */
	TAILQ_HEAD(, outmsg) out;
};

/* The master's: someone waiting for the workers to answer the index-th
 * RELOAD. */
struct reload_wait {
	TAILQ_ENTRY(reload_wait) next;
	unsigned long index;
	workers_reloaded_fn *cb;
	void *arg;
	char err[512];                /* the first refusal, "" for none */
};

/* A worker's grant waiting for the master's answer. */
struct pending {
	TAILQ_ENTRY(pending) next;
	uint32_t seq;
	workers_issued_fn *cb;
	void *arg;
};

struct workers {
	struct daemon *d;             /* borrowed */
	int master;                   /* 1 in the master */
	struct link *links;           /* master: one per worker; worker:
	                                 one, to the master */
	size_t n_links;
	struct buf *enc;              /* owned: scratch for wmsg_encode */
	uint8_t *in;                  /* owned: WMSG_MAX + 1 bytes, wiped
	                                 after each message */
	uint32_t next_seq;
	TAILQ_HEAD(, pending) pending;
	unsigned long reloads_sent;   /* the master's RELOAD broadcasts */
	TAILQ_HEAD(, reload_wait) waits;
};

/* --- links ------------------------------------------------------------- */

static void
outmsg_free(struct outmsg *o)
{
	/* An ISSUED message holds a ticket. */
	OPENSSL_cleanse(o->data, o->len);
	free(o);
}

static void
link_close(struct link *l)
{
	struct outmsg *o;

	if (l->ev_read != NULL)
		event_free(l->ev_read);
	if (l->ev_write != NULL)
		event_free(l->ev_write);
	l->ev_read = l->ev_write = NULL;
	while ((o = TAILQ_FIRST(&l->out)) != NULL) {
		TAILQ_REMOVE(&l->out, o, next);
		outmsg_free(o);
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* 1: sent, 0: the peer's queue is full, try later; ERR_IO. */
static int
link_try_send(struct link *l, const uint8_t *p, size_t len)
{
	ssize_t n;

	do {
		n = send(l->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
		return 0;
	return ERR_IO;
}

static int
link_queue(struct link *l, const uint8_t *p, size_t len)
{
	struct outmsg *o;

	if ((o = malloc(sizeof(*o) + len)) == NULL)
		return ERR_NOMEM;
	o->len = len;
	memcpy(o->data, p, len);
	TAILQ_INSERT_TAIL(&l->out, o, next);
	if (event_add(l->ev_write, NULL) != 0)
		return ERR_INTERNAL;
	return 0;
}

/* Sends w->enc's message on l, or queues it behind those waiting. */
static int
link_send(struct link *l)
{
	struct buf *b = l->w->enc;
	int r;

	if (l->fd < 0)
		return ERR_IO;
	if (TAILQ_EMPTY(&l->out)) {
		r = link_try_send(l, buf_ptr(b), buf_avail(b));
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return link_queue(l, buf_ptr(b), buf_avail(b));
}

static void link_lost(struct link *l, const char *why);

static void
on_link_write(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	struct outmsg *o;
	int r;

	(void)fd;
	(void)what;
	while ((o = TAILQ_FIRST(&l->out)) != NULL) {
		if ((r = link_try_send(l, o->data, o->len)) == 0)
			return;    /* still full: EV_WRITE stays */
		if (r < 0) {
			link_lost(l, strerror(errno));
			return;
		}
		TAILQ_REMOVE(&l->out, o, next);
		outmsg_free(o);
	}
	(void)event_del(l->ev_write);
}

static int
encode(struct workers *w, const struct wmsg *m)
{
	int r;

	buf_reset(w->enc);
	if ((r = wmsg_encode(w->enc, m)) != 0)
		buf_reset(w->enc);
	return r;
}

/* --- the master's side ------------------------------------------------- */

static void
master_issue(struct link *l, struct wmsg_issue *m)
{
	struct daemon *d = l->w->d;
	struct audit_rec rec = { 0 };
	struct wmsg a = { .type = WMSG_ISSUED };
	int r;

	rec.user = m->user;
	rec.source = m->source;
	rec.id = m->id;
	rec.rule = m->rule;
	rec.reason = m->reason[0] != '\0' ? m->reason : NULL;
	a.u.issued.seq = m->seq;
	a.u.issued.result = (uint8_t)daemon_issue(d, &rec, m->id, m->rule,
	    m->bind_addr, a.u.issued.ticket);
	a.u.issued.lifetime = d->cfg->tickets.lifetime;
	if (a.u.issued.result != WMSG_OK)
		a.u.issued.ticket[0] = '\0';
	if ((r = encode(l->w, &a)) != 0 || (r = link_send(l)) != 0) {
		/* The worker would wait for an answer that never comes. */
		if (a.u.issued.result == WMSG_OK)
			log_error("event=ticket-failed reason=\"cannot answer "
			    "worker %u\" error=%s", l->peer_id,
			    LOG_Q(err_str(r)));
		link_lost(l, "cannot answer");
	}
	buf_reset(l->w->enc);
	OPENSSL_cleanse(&a, sizeof(a));
}

/* Sends w->enc's message to every worker but skip (0: none). */
static void
broadcast(struct workers *w, unsigned skip)
{
	for (size_t i = 0; i < w->n_links; i++) {
		if (w->links[i].peer_id == skip || w->links[i].fd < 0)
			continue;
		if (link_send(&w->links[i]) != 0)
			link_lost(&w->links[i], "cannot send");
	}
}

static void
master_failure(struct link *l, const struct wmsg *m)
{
	if (encode(l->w, m) == 0)
		broadcast(l->w, l->peer_id);
	buf_reset(l->w->enc);
}

/* The waits every live worker has answered, oldest first: the answers
 * come in the order of the RELOADs. */
static int
reload_answered(const struct workers *w, const struct reload_wait *rw)
{
	for (size_t i = 0; i < w->n_links; i++) {
		if (w->links[i].fd >= 0 && w->links[i].acks < rw->index)
			return 0;
	}
	return 1;
}

static void
reload_waits_check(struct workers *w)
{
	TAILQ_HEAD(, reload_wait) done = TAILQ_HEAD_INITIALIZER(done);
	struct reload_wait *rw, *next;

	/* Off the list before any callback runs: a callback may cancel
	 * waits (its connection going away). */
	while ((rw = TAILQ_FIRST(&w->waits)) != NULL &&
	    reload_answered(w, rw)) {
		TAILQ_REMOVE(&w->waits, rw, next);
		TAILQ_INSERT_TAIL(&done, rw, next);
	}
	for (rw = TAILQ_FIRST(&done); rw != NULL; rw = next) {
		next = TAILQ_NEXT(rw, next);
		rw->cb(rw->arg, rw->err[0] != '\0' ? rw->err : NULL);
		free(rw);
	}
}

/* Forgets the waits of arg, or all of them (NULL), unanswered. */
static void
waits_drop(struct workers *w, void *arg)
{
	struct reload_wait *rw, *next;

	for (rw = TAILQ_FIRST(&w->waits); rw != NULL; rw = next) {
		next = TAILQ_NEXT(rw, next);
		if (arg != NULL && rw->arg != arg)
			continue;
		TAILQ_REMOVE(&w->waits, rw, next);
		free(rw);
	}
}

/* The first refusal of each wait for the RELOAD number index. */
static void
reload_waits_note(struct workers *w, unsigned long index, unsigned id,
    const char *why)
{
	struct reload_wait *rw;

	TAILQ_FOREACH(rw, &w->waits, next) {
		if (rw->err[0] == '\0' && (index == 0 || rw->index == index))
			snprintf(rw->err, sizeof(rw->err), "the master "
			    "reloaded, but worker %u did not and keeps the "
			    "configuration it had: %s", id, why);
	}
}

static void
master_reloaded(struct link *l, const struct wmsg_reloaded *rl)
{
	struct workers *w = l->w;

	l->acks++;
	if (!rl->ok) {
		log_error("event=reload-refused worker=%u reason=%s "
		    "action=\"the worker keeps its configuration\"",
		    l->peer_id, LOG_Q(rl->error));
		reload_waits_note(w, l->acks, l->peer_id, rl->error);
	}
	reload_waits_check(w);
}

/* --- a worker's side --------------------------------------------------- */

static void
pending_answer(struct workers *w, struct pending *p,
    const struct wmsg_issued *ans)
{
	TAILQ_REMOVE(&w->pending, p, next);
	p->cb(ans, p->arg);
	free(p);
}

static void
fail_pending(struct workers *w)
{
	struct wmsg_issued failed = { .result = WMSG_FAILED };
	struct pending *p, *next;

	/* next is read before p goes: scan-build cannot see that answering
	 * the first element empties the head. */
	for (p = TAILQ_FIRST(&w->pending); p != NULL; p = next) {
		next = TAILQ_NEXT(p, next);
		pending_answer(w, p, &failed);
	}
}

static int
worker_issued(struct workers *w, const struct wmsg_issued *ans)
{
	struct pending *p;

	TAILQ_FOREACH(p, &w->pending, next) {
		if (p->seq == ans->seq) {
			pending_answer(w, p, ans);
			return 0;
		}
	}
	return ERR_PROTO;
}

static void
worker_reload(struct workers *w)
{
	struct wmsg m = { .type = WMSG_RELOADED };
	char err[1024] = "";

	log_notice("event=reload-requested via=master");
	/* daemon_reload has logged a refusal with its reason, and counted
	 * it in this worker's slot, which mtlsctl status adds up. */
	m.u.reloaded.ok = daemon_reload(w->d, err, sizeof(err)) == 0;
	m.u.reloaded.error = m.u.reloaded.ok ? "" :
	    err[0] != '\0' ? err : "reload failed";
	if (encode(w, &m) != 0 || link_send(&w->links[0]) != 0)
		link_lost(&w->links[0], "cannot answer the reload");
	buf_reset(w->enc);
}

/* --- messages ---------------------------------------------------------- */

/* One message from l's peer; ERR_PROTO for one this side never takes. */
static int
dispatch(struct link *l, struct wmsg *m)
{
	struct workers *w = l->w;

	switch (m->type) {
	case WMSG_ISSUE:
		if (!w->master)
			return ERR_PROTO;
		master_issue(l, &m->u.issue);
		return 0;
	case WMSG_ISSUED:
		if (w->master)
			return ERR_PROTO;
		return worker_issued(w, &m->u.issued);
	case WMSG_RELOAD:
		if (w->master)
			return ERR_PROTO;
		worker_reload(w);
		return 0;
	case WMSG_RELOADED:
		if (!w->master)
			return ERR_PROTO;
		master_reloaded(l, &m->u.reloaded);
		return 0;
	case WMSG_FAILURE:
		guard_count_failure(w->d, m->u.failure.addr, m->u.failure.fpr);
		if (w->master)
			master_failure(l, m);
		return 0;
	default:
		return ERR_PROTO;
	}
}

static void
on_link_read(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	struct workers *w = l->w;
	struct wmsg m;
	ssize_t n;
	int r;

	(void)what;
	for (int i = 0; i < LINK_BURST && l->fd >= 0; i++) {
		n = recv(fd, w->in, WMSG_MAX + 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			link_lost(l, n == 0 ? (w->master ?
			    "the worker closed its link" :
			    "the master closed the link") : strerror(errno));
			return;
		}
		r = wmsg_decode(w->in, (size_t)n, &m);
		OPENSSL_cleanse(w->in, (size_t)n);
		if (r == 0)
			r = dispatch(l, &m);
		wmsg_clear(&m);
		if (r != 0) {
			link_lost(l, "malformed message");
			return;
		}
	}
}

static int
link_open(struct workers *w, struct link *l, int fd)
{
	struct event_base *base = w->d->base;

	l->w = w;
	l->fd = fd;
	TAILQ_INIT(&l->out);
	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    (l->ev_read = event_new(base, fd, EV_READ | EV_PERSIST,
	    on_link_read, l)) == NULL ||
	    (l->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    on_link_write, l)) == NULL ||
	    event_add(l->ev_read, NULL) != 0) {
		log_error("event=startup-failed reason=\"cannot watch a "
		    "worker link\"");
		return ERR_NOMEM;
	}
	return 0;
}

/* The end of the link is the end of the peer: a worker without its
 * master cannot issue a ticket, and a master without one of its workers
 * stops, failing loudly, rather than serve on with part of its capacity
 * and nobody noticing. */
static void
link_lost(struct link *l, const char *why)
{
	struct workers *w = l->w;
	struct daemon *d = w->d;

	if (l->fd < 0)
		return;
	link_close(l);
	if (w->master) {
		d->workers_running--;
		log_error("event=worker-exited worker=%u pid=%ld reason=%s "
		    "action=\"stopping: workers = %u needs them all; a "
		    "supervisor restarts %s\"", l->peer_id, (long)l->pid,
		    LOG_Q(why), d->cfg->workers, DAEMON_NAME);
		d->failed = 1;
		/* Those who wait for its reload hear it will not come. */
		reload_waits_note(w, 0, l->peer_id, "it exited");
		reload_waits_check(w);
	} else {
		log_info("event=worker-stopping worker=%u reason=%s",
		    d->worker_id, LOG_Q(why[0] != '\0' ? why : "?"));
		fail_pending(w);
	}
	event_base_loopexit(d->base, NULL);
}

/* --- start and stop ---------------------------------------------------- */

static struct workers *
workers_new(struct daemon *d, int master, size_t n_links)
{
	struct workers *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->d = d;
	w->master = master;
	TAILQ_INIT(&w->pending);
	TAILQ_INIT(&w->waits);
	if ((w->links = calloc(n_links, sizeof(*w->links))) == NULL ||
	    (w->enc = buf_new(WMSG_MAX)) == NULL ||
	    (w->in = malloc(WMSG_MAX + 1)) == NULL) {
		buf_free(&w->enc);
		free(w->links);
		free(w);
		return NULL;
	}
	w->n_links = n_links;
	for (size_t i = 0; i < n_links; i++)
		w->links[i].fd = -1;
	return w;
}

/* A worker stops when its master closes the link. A SIGTERM or SIGINT
 * sent to every process at once (systemd's stop, ^C in a terminal) is
 * for the master, which then stops its workers: a worker that stopped on
 * its own first would look to the master like one that died. */
static void
ignore_stop_signals(struct daemon *d)
{
	for (size_t i = 0; i < sizeof(d->ev_sig) / sizeof(d->ev_sig[0]); i++) {
		if (d->ev_sig[i] == NULL)
			continue;
		if (event_get_signal(d->ev_sig[i]) != SIGTERM &&
		    event_get_signal(d->ev_sig[i]) != SIGINT)
			continue;
		event_free(d->ev_sig[i]);
		d->ev_sig[i] = NULL;
	}
	(void)signal(SIGTERM, SIG_IGN);
	(void)signal(SIGINT, SIG_IGN);
}

/* In the new worker: nothing of the master's stays open but the
 * listeners, and the process's counters go to its own slot. */
static int
become_worker(struct daemon *d, struct workers *mw, unsigned id, int fd,
    pid_t master)
{
	struct workers *w;

	/* The master's death ends the worker even if the link's end is
	 * not noticed (a worker stuck in a handshake's arithmetic). A
	 * master that stops normally closes the links and waits, so this
	 * only ends workers whose master died. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != master)
		_exit(EXIT_FAILURE);
	/* The epoll instance is still the master's: until event_reinit
	 * gives this process its own, nothing may be removed from it. */
	if (event_reinit(d->base) != 0)
		_exit(EXIT_FAILURE);
	ignore_stop_signals(d);
	for (size_t i = 0; i < mw->n_links; i++) {
		if (mw->links[i].fd >= 0)
			close(mw->links[i].fd);
	}
	free(mw->links);
	buf_free(&mw->enc);
	free(mw->in);
	free(mw);
	pamsock_disown(&d->pam);
	control_disown(&d->ctl);
	d->worker_id = id;
	d->stats = &d->stats_table[id];
	d->stats->pid = (long)getpid();
	certcache_count_into(&d->stats->cert_cache);
	if ((w = workers_new(d, 0, 1)) == NULL ||
	    link_open(w, &w->links[0], fd) != 0) {
		log_error("event=worker-failed worker=%u reason=\"out of "
		    "memory\"", id);
		_exit(EXIT_FAILURE);
	}
	d->workers = w;
	log_info("event=worker-started worker=%u", id);
	return 0;
}

int
workers_start(struct daemon *d)
{
	unsigned n = d->cfg->workers;
	struct daemon_stats *table;
	struct workers *w;
	pid_t pid, self = getpid();
	int sv[2];

	if (n <= 1)
		return 0;
	table = mmap(NULL, (n + 1) * sizeof(*table), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (table == MAP_FAILED || (w = workers_new(d, 1, n)) == NULL) {
		log_error("event=startup-failed reason=\"cannot set up the "
		    "workers\" error=%s", LOG_Q(strerror(errno)));
		return ERR_NOMEM;
	}
	table[0] = *d->stats;
	table[0].pid = (long)self;
	d->stats = &table[0];
	d->stats_table = table;
	d->n_stats = n + 1;
	certcache_count_into(&d->stats->cert_cache);
	d->workers = w;
	for (unsigned i = 1; i <= n; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) != 0 || (pid = fork()) < 0) {
			log_error("event=startup-failed reason=\"cannot start "
			    "worker %u\" error=%s", i, LOG_Q(strerror(errno)));
			return ERR_INTERNAL;
		}
		if (pid == 0) {
			close(sv[0]);
			d->workers = NULL;
			return become_worker(d, w, i, sv[1], self);
		}
		close(sv[1]);
		w->links[i - 1].fd = sv[0];
		w->links[i - 1].peer_id = i;
		w->links[i - 1].pid = pid;
		d->workers_running++;
	}
	/* The workers serve the mTLS listener; the master keeps the
	 * store, and the PAM and control sockets. */
	server_stop(d);
	for (size_t i = 0; i < w->n_links; i++) {
		if (link_open(w, &w->links[i], w->links[i].fd) != 0)
			return ERR_NOMEM;
	}
	return 0;
}

void
workers_free(struct workers **wp)
{
	struct workers *w;
	int status;

	if (wp == NULL || (w = *wp) == NULL)
		return;
	*wp = NULL;
	if (!w->master)
		fail_pending(w);
	waits_drop(w, NULL);
	/* A worker sees its link close and exits: wait for each, so that
	 * when the master is gone its listeners are too. */
	for (size_t i = 0; i < w->n_links; i++) {
		link_close(&w->links[i]);
		if (w->master && w->links[i].pid > 0)
			while (waitpid(w->links[i].pid, &status, 0) < 0 &&
			    errno == EINTR)
				;
	}
	free(w->links);
	buf_free(&w->enc);
	free(w->in);
	free(w);
}

void
workers_reload(struct daemon *d)
{
	struct wmsg m = { .type = WMSG_RELOAD };
	struct workers *w = d->workers;

	if (w == NULL || !w->master || encode(w, &m) != 0)
		return;
	w->reloads_sent++;
	broadcast(w, 0);
	buf_reset(w->enc);
}

int
workers_reload_wait(struct daemon *d, workers_reloaded_fn *cb, void *arg)
{
	struct workers *w = d->workers;
	struct reload_wait *rw;

	if (w == NULL || !w->master)
		return ERR_NOTFOUND;
	if ((rw = calloc(1, sizeof(*rw))) == NULL)
		return ERR_NOMEM;
	rw->index = w->reloads_sent;
	rw->cb = cb;
	rw->arg = arg;
	TAILQ_INSERT_TAIL(&w->waits, rw, next);
	/* Answered already (or nobody left to answer). */
	reload_waits_check(w);
	return 0;
}

void
workers_reload_cancel(struct daemon *d, void *arg)
{
	if (d->workers != NULL && arg != NULL)
		waits_drop(d->workers, arg);
}

int
workers_issue(struct daemon *d, const struct wmsg_issue *m,
    workers_issued_fn *cb, void *arg)
{
	struct workers *w = d->workers;
	struct wmsg msg = { .type = WMSG_ISSUE };
	struct pending *p;
	int r;

	if (w == NULL || w->master)
		return ERR_INVALID;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ERR_NOMEM;
	msg.u.issue = *m;
	msg.u.issue.seq = p->seq = w->next_seq++;
	p->cb = cb;
	p->arg = arg;
	if ((r = encode(w, &msg)) != 0 || (r = link_send(&w->links[0])) != 0) {
		buf_reset(w->enc);
		free(p);
		return r;
	}
	buf_reset(w->enc);
	TAILQ_INSERT_TAIL(&w->pending, p, next);
	return 0;
}

void
workers_failure(struct daemon *d, const char *addr, const char *fpr)
{
	struct workers *w = d->workers;
	struct wmsg m = { .type = WMSG_FAILURE };

	if (w == NULL)
		return;
	m.u.failure.addr = (char *)(addr != NULL ? addr : "");
	m.u.failure.fpr = (char *)(fpr != NULL ? fpr : "");
	if (m.u.failure.addr[0] == '\0' && m.u.failure.fpr[0] == '\0')
		return;
	if (encode(w, &m) != 0)
		return;
	if (w->master)
		broadcast(w, 0);
	else if (link_send(&w->links[0]) != 0)
		link_lost(&w->links[0], "cannot send");
	buf_reset(w->enc);
}
