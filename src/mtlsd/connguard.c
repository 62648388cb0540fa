#include "config.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "connguard.h"
#include "ident.h"
#include "log.h"
#include "throttle.h"
#include "workers.h"
#include "tickets.h"

/* The life of a connection, as the guard sees it. */
enum sc_phase {
	SC_NEW,        /* accepted; the admission check is queued */
	SC_PAUSED,     /* its source is slowed down: not read yet */
	SC_HANDSHAKE,  /* until the handshake deadline */
	SC_WAITING,    /* for a whole request, until the request deadline */
	SC_SERVING,    /* a handler has the request: no deadline of ours */
	SC_DROPPED,    /* shut down; evhttp frees it */
};

/* One TLS connection: owned by its SSL (ex_data), freed with it. */
struct sconn {
	struct guard *g;             /* borrowed */
	SSL *ssl;                    /* borrowed: owns this */
	struct bufferevent *bev;     /* borrowed: evhttp's */
	struct event *ev;            /* owned: admission, then deadlines */
	enum sc_phase phase;
	int counted;                 /* holds a slot in g->n_conns and src */
	char addr[THROTTLE_KEY_LEN]; /* numeric peer address, "" unknown */
};

/* A request held back because its certificate is being slowed down. */
struct delayed {
	TAILQ_ENTRY(delayed) next;
	struct guard *g;             /* borrowed */
	struct evhttp_request *req;  /* evhttp's, answered exactly once */
	void (*resume)(struct evhttp_request *, void *);
	struct event *ev;            /* owned */
};

struct lognote {
	time_t at;                   /* last line; 0: none yet */
	unsigned long quiet;         /* events since, not logged */
};

struct guard {
	struct daemon *d;            /* borrowed */
	struct srccount *src;        /* owned: connections per address */
	struct throttle *fails;      /* owned: failed attempts */
	size_t n_conns;              /* admitted connections held */
	struct evhttp_request *resuming;  /* the request guard_gate lets by */
	/* Refused and timed-out connections: logged once per window, the
	 * others counted into the next line, so a flood of them is not a
	 * flood of log lines. */
	struct lognote refused, timedout;
	TAILQ_HEAD(, delayed) delayed;
};

static int sconn_index = -1;

static const struct config_limits *
limits(const struct guard *g)
{
	return &g->d->cfg->limits;
}

static struct throttle_params
throttle_params_of(const struct config_limits *m)
{
	struct throttle_params p = {
		.window = m->failure_window,
		.slow_after = m->slow_after,
		.refuse_after = m->refuse_after,
		.refuse_for = m->refuse_for,
	};

	return p;
}

static struct timeval
tv_of_ms(unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

static void
sconn_arm(struct sconn *sc, enum sc_phase phase, unsigned seconds)
{
	struct timeval tv = tv_of_ms(seconds * 1000);

	sc->phase = phase;
	if (event_add(sc->ev, &tv) != 0)
		log_error("event=guard-failed reason=\"cannot arm a deadline\"");
}

/* --- records, freed with their SSL ---------------------------------------- */

static void
sconn_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct sconn *sc = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (sc == NULL)
		return;
	if (sc->counted) {
		sc->g->n_conns--;
		srccount_del(sc->g->src, sc->addr);
	}
	if (sc->ev != NULL)
		event_free(sc->ev);
	free(sc);
}

static struct sconn *
sconn_of_ssl(const SSL *ssl)
{
	if (ssl == NULL || sconn_index < 0)
		return NULL;
	return SSL_get_ex_data(ssl, sconn_index);
}

static SSL *
ssl_of_req(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev;

	if (c == NULL || (bev = evhttp_connection_get_bufferevent(c)) == NULL)
		return NULL;
	return bufferevent_openssl_get_ssl(bev);
}

/* Ends the connection now: the peer sees it closed, and evhttp, told of
 * an end of file, frees it (and with its SSL, sc). */
static void
sconn_drop(struct sconn *sc)
{
	evutil_socket_t fd = bufferevent_getfd(sc->bev);

	sc->phase = SC_DROPPED;
	event_del(sc->ev);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
	bufferevent_trigger_event(sc->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
	    0);
}

/* --- admission ------------------------------------------------------------- */

/* The numeric peer address, an IPv4-mapped address written as IPv4 (as
 * http.c names peers, so that both count the same key). */
static int
peer_of_fd(evutil_socket_t fd, char *out, size_t outlen)
{
	static const char mapped[] = "::ffff:";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST];
	const char *p = host;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL,
	    0, NI_NUMERICHOST) != 0)
		return ERR_IO;
	if (strncasecmp(host, mapped, sizeof(mapped) - 1) == 0 &&
	    strchr(host + sizeof(mapped) - 1, '.') != NULL)
		p = host + sizeof(mapped) - 1;
	if (strlen(p) >= outlen)
		return ERR_TOOLONG;
	memcpy(out, p, strlen(p) + 1);
	return 0;
}

/* 1 when the event n notes is to be logged (the first of a window), with
 * *quiet the events not logged since the last line; 0 when it is only
 * counted. */
static int
lognote_due(struct guard *g, struct lognote *n, unsigned long *quiet)
{
	time_t now = time(NULL);

	if (n->at != 0 && now >= n->at &&
	    now - n->at < (time_t)limits(g)->failure_window) {
		n->quiet++;
		return 0;
	}
	*quiet = n->quiet;
	n->at = now;
	n->quiet = 0;
	return 1;
}

static void
note_refused(struct guard *g, const struct sconn *sc, const char *why)
{
	unsigned long quiet;

	if (lognote_due(g, &g->refused, &quiet))
		log_notice("event=connection-refused peer=%s reason=%s "
		    "refused_since_last=%lu connections=%zu",
		    LOG_Q(sc->addr), LOG_Q(why), quiet, g->n_conns);
}

static void
note_timeout(struct guard *g, const struct sconn *sc, const char *phase,
    unsigned after)
{
	unsigned long quiet;

	if (lognote_due(g, &g->timedout, &quiet))
		log_info("event=connection-timeout peer=%s phase=%s after=%us "
		    "timeouts_since_last=%lu", LOG_Q(sc->addr), phase, after,
		    quiet);
}

/* Why sc may not be served, or NULL; counts it in when it may. */
static const char *
admit(struct guard *g, struct sconn *sc, enum throttle_verdict v)
{
	const struct config_limits *m = limits(g);
	int r;

	if (v == THROTTLE_REFUSE)
		return "source throttled";
	if (g->n_conns >= m->max_connections)
		return "too many connections";
	if ((r = srccount_add(g->src, sc->addr, m->max_per_source)) != 0)
		return r == ERR_NOMEM ? "out of memory" :
		    "too many connections from this source";
	sc->counted = 1;
	g->n_conns++;
	return NULL;
}

static void
sconn_admit(struct sconn *sc)
{
	struct guard *g = sc->g;
	const struct config_limits *m = limits(g);
	struct throttle_params p = throttle_params_of(m);
	enum throttle_verdict v;
	const char *why;

	if (peer_of_fd(bufferevent_getfd(sc->bev), sc->addr,
	    sizeof(sc->addr)) != 0) {
		sc->addr[0] = '\0';
		sconn_drop(sc);
		return;
	}
	v = throttle_check(g->fails, &p, sc->addr, time(NULL));
	if ((why = admit(g, sc, v)) != NULL) {
		note_refused(g, sc, why);
		sconn_drop(sc);
		return;
	}
	if (v == THROTTLE_SLOW && m->slow_delay_ms > 0) {
		/* Not a byte is read, so not a cycle spent on its handshake,
		 * until the delay has passed. */
		struct timeval tv = tv_of_ms(m->slow_delay_ms);

		bufferevent_disable(sc->bev, EV_READ);
		sc->phase = SC_PAUSED;
		if (event_add(sc->ev, &tv) == 0)
			return;
		bufferevent_enable(sc->bev, EV_READ);
	}
	sconn_arm(sc, SC_HANDSHAKE, m->handshake_timeout);
}

static void
sconn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *sc = arg;
	const struct config_limits *m = limits(sc->g);

	(void)fd;
	(void)what;
	switch (sc->phase) {
	case SC_NEW:
		sconn_admit(sc);
		break;
	case SC_PAUSED:
		bufferevent_enable(sc->bev, EV_READ);
		sconn_arm(sc, SC_HANDSHAKE, m->handshake_timeout);
		break;
	case SC_HANDSHAKE:
		note_timeout(sc->g, sc, "handshake", m->handshake_timeout);
		sconn_drop(sc);
		break;
	case SC_WAITING:
		note_timeout(sc->g, sc, "request", m->request_timeout);
		sconn_drop(sc);
		break;
	case SC_SERVING:
	case SC_DROPPED:
	default:
		break;
	}
}

/* The context's own callback (control.c's counters) runs first; then the
 * end of the handshake starts the request deadline, and a handshake we
 * refuse with a fatal alert is a failed attempt of its source. */
static void
sconn_info_cb(const SSL *ssl, int where, int ret)
{
	void (*ctx_cb)(const SSL *, int, int) =
	    SSL_CTX_get_info_callback(SSL_get_SSL_CTX(ssl));
	struct sconn *sc;

	if (ctx_cb != NULL)
		ctx_cb(ssl, where, ret);
	if ((sc = sconn_of_ssl(ssl)) == NULL)
		return;
	if ((where & SSL_CB_HANDSHAKE_DONE) && sc->phase == SC_HANDSHAKE) {
		sconn_arm(sc, SC_WAITING, limits(sc->g)->request_timeout);
		return;
	}
	if ((where & SSL_CB_ALERT) && (where & SSL_CB_WRITE) &&
	    (ret >> 8) == SSL3_AL_FATAL && SSL_in_init(ssl) &&
	    SSL_get_state(ssl) != TLS_ST_BEFORE && sc->addr[0] != '\0')
		guard_failure(sc->g->d, sc->addr, NULL);
}

int
guard_attach(struct guard *g, SSL *ssl)
{
	struct sconn *sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return ERR_NOMEM;
	sc->g = g;
	sc->ssl = ssl;
	sc->phase = SC_NEW;
	sc->ev = event_new(g->d->base, -1, 0, sconn_timer, sc);
	if (sc->ev == NULL || SSL_set_ex_data(ssl, sconn_index, sc) != 1) {
		if (sc->ev != NULL)
			event_free(sc->ev);
		free(sc);
		return ERR_NOMEM;
	}
	SSL_set_info_callback(ssl, sconn_info_cb);
	return 0;
}

void
guard_admit_later(SSL *ssl, struct bufferevent *bev)
{
	struct sconn *sc = sconn_of_ssl(ssl);

	if (sc == NULL)
		return;
	sc->bev = bev;
	/* evhttp gives bev its socket after the bevcb returns; this runs
	 * in the same loop iteration, before the socket is polled. */
	event_active(sc->ev, EV_TIMEOUT, 1);
}

/* --- requests ---------------------------------------------------------------- */

/* The answer is out: the connection waits for its next request, with a
 * new deadline. req's connection still exists here. */
static void
request_done(struct evhttp_request *req, void *arg)
{
	struct guard *g = arg;
	struct sconn *sc = sconn_of_ssl(ssl_of_req(req));

	if (sc != NULL && sc->phase == SC_SERVING)
		sconn_arm(sc, SC_WAITING, limits(g)->request_timeout);
}

static void
reply_throttled(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evhttp_request_get_output_buffer(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add_printf(b, "{\"error\":\"rate_limited\",\"detail\":"
	    "\"too many failed attempts\"}\n");
	evhttp_send_reply(req, 429, "Too Many Requests", NULL);
}

static void
delayed_free(struct delayed *j)
{
	TAILQ_REMOVE(&j->g->delayed, j, next);
	event_free(j->ev);
	free(j);
}

static void
delayed_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *j = arg;
	struct guard *g = j->g;
	struct evhttp_request *req = j->req;
	void (*resume)(struct evhttp_request *, void *) = j->resume;

	(void)fd;
	(void)what;
	delayed_free(j);
	g->resuming = req;
	resume(req, g->d);
	g->resuming = NULL;
}

/* 0: held back, resumed later; otherwise serve it now. */
static int
hold_back(struct guard *g, struct evhttp_request *req,
    void (*resume)(struct evhttp_request *, void *))
{
	struct timeval tv = tv_of_ms(limits(g)->slow_delay_ms);
	struct delayed *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return ERR_NOMEM;
	j->ev = evtimer_new(g->d->base, delayed_fire, j);
	if (j->ev == NULL || evtimer_add(j->ev, &tv) != 0) {
		if (j->ev != NULL)
			event_free(j->ev);
		free(j);
		return ERR_NOMEM;
	}
	j->g = g;
	j->req = req;
	j->resume = resume;
	TAILQ_INSERT_TAIL(&g->delayed, j, next);
	return 0;
}

/* The verified peer certificate's fingerprint into fpr, or "". */
static void
req_fingerprint(struct evhttp_request *req, char fpr[IDENT_FPR_LEN + 1])
{
	SSL *ssl = ssl_of_req(req);
	X509 *x;

	fpr[0] = '\0';
	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    ident_fingerprint(x, fpr) != 0)
		fpr[0] = '\0';
}

int
guard_gate(struct daemon *d, struct evhttp_request *req,
    void (*resume)(struct evhttp_request *, void *))
{
	struct guard *g = d->guard;
	struct throttle_params p;
	struct sconn *sc;
	char fpr[IDENT_FPR_LEN + 1];

	if (g == NULL)
		return 0;
	if (g->resuming == req) {
		g->resuming = NULL;
		return 0;
	}
	if ((sc = sconn_of_ssl(ssl_of_req(req))) != NULL &&
	    sc->phase != SC_DROPPED) {
		sc->phase = SC_SERVING;
		event_del(sc->ev);
		evhttp_request_set_on_complete_cb(req, request_done, g);
	}
	req_fingerprint(req, fpr);
	if (fpr[0] == '\0')
		return 0;
	p = throttle_params_of(limits(g));
	switch (throttle_check(g->fails, &p, fpr, time(NULL))) {
	case THROTTLE_REFUSE:
		reply_throttled(req);
		return ERR_DENIED;
	case THROTTLE_SLOW:
		if (limits(g)->slow_delay_ms == 0 ||
		    hold_back(g, req, resume) != 0)
			return 0;
		return ERR_DENIED;
	case THROTTLE_OK:
	default:
		return 0;
	}
}

/* --- failures ---------------------------------------------------------------- */

static void
count_failure(struct guard *g, const char *what, const char *key)
{
	const struct config_limits *m = limits(g);
	struct throttle_params p = throttle_params_of(m);
	struct throttle_note n;

	if (key == NULL || key[0] == '\0')
		return;
	if (throttle_fail(g->fails, &p, key, time(NULL), &n) != 0 ||
	    !n.announce)
		return;
	if (n.verdict == THROTTLE_REFUSE)
		log_notice("event=source-throttled %s=%s failures=%u "
		    "window=%us action=refuse for=%us", what, LOG_Q(key),
		    n.failures, m->failure_window, m->refuse_for);
	else
		log_notice("event=source-throttled %s=%s failures=%u "
		    "window=%us action=slow delay_ms=%u", what, LOG_Q(key),
		    n.failures, m->failure_window, m->slow_delay_ms);
}

void
guard_count_failure(struct daemon *d, const char *addr, const char *fpr)
{
	if (d->guard == NULL)
		return;
	count_failure(d->guard, "peer", addr);
	count_failure(d->guard, "certificate", fpr);
}

void
guard_failure(struct daemon *d, const char *addr, const char *fpr)
{
	guard_count_failure(d, addr, fpr);
	/* The same source may reach any worker next. */
	workers_failure(d, addr, fpr);
}

/* --- the guard ------------------------------------------------------------- */

void
guard_apply_limits(struct daemon *d)
{
	const struct config_limits *m = &d->cfg->limits;

	if (d->http != NULL) {
		evhttp_set_timeout(d->http, (int)m->idle_timeout);
		evhttp_set_max_headers_size(d->http,
		    (ev_ssize_t)m->max_header_size);
		evhttp_set_max_body_size(d->http, (ev_ssize_t)m->max_body_size);
	}
	tstore_set_limits(d->tickets, m->max_tickets, m->max_tickets_per_cert);
}

int
guard_new(struct daemon *d, struct guard **out)
{
	const struct config_limits *m = &d->cfg->limits;
	struct guard *g = NULL;
	uint64_t seed = 0;
	int r = ERR_NOMEM;

	if (sconn_index < 0) {
		sconn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    sconn_exfree);
		if (sconn_index < 0) {
			log_ossl(LOG_ERR, __func__, "SSL_get_ex_new_index",
			    NULL, 0);
			return ERR_INTERNAL;
		}
	}
	if (OSSL_CHECK(RAND_bytes((unsigned char *)&seed, sizeof(seed)),
	    "RAND_bytes") != 0)
		return ERR_TLS;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto out;
	g->d = d;
	TAILQ_INIT(&g->delayed);
	/* An admitted connection holds one source at most. */
	if ((g->src = srccount_new(m->max_connections, seed)) == NULL ||
	    (g->fails = throttle_new(m->throttle_entries, seed ^
	    0x5bd1e9955bd1e995ULL)) == NULL)
		goto out;
	*out = g;
	g = NULL;
	r = 0;
out:
	guard_free(&g);
	return r;
}

void
guard_stop(struct guard *g)
{
	struct evhttp_request *req;

	if (g == NULL)
		return;
	while (!TAILQ_EMPTY(&g->delayed)) {
		req = TAILQ_FIRST(&g->delayed)->req;
		delayed_free(TAILQ_FIRST(&g->delayed));
		evhttp_send_error(req, 503, "Shutting down");
	}
}

void
guard_free(struct guard **gp)
{
	struct guard *g;

	if (gp == NULL || (g = *gp) == NULL)
		return;
	guard_stop(g);
	srccount_free(&g->src);
	throttle_free(&g->fails);
	free(g);
	*gp = NULL;
}
