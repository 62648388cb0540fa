#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "connguard.h"
#include "http.h"
#include "log.h"
#include "server.h"

/* A burst of connects beyond the accept queue leaves clients that think
 * they are connected and are not (their last ACK dropped), until the
 * SYN-ACK is retried a second later: the queue takes a burst the size of
 * limits.max_connections' default. */
#define SERVER_BACKLOG 1024

/* Every connection evhttp accepts gets its own SSL in accepting state:
 * the handshake, with the client certificate check attached to the
 * context, runs before evhttp reads a byte of HTTP. */
static struct bufferevent *
server_bevcb(struct event_base *base, void *arg)
{
	struct daemon *d = arg;
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(d->ssl_ctx)) == NULL) {
		log_ossl(LOG_ERR, __func__, "SSL_new", NULL, 0);
		return NULL;
	}
	/* A TLS connection the guard does not know would escape its
	 * limits: this one gets evhttp's plain fallback, as below. */
	if (guard_attach(d->guard, ssl) != 0) {
		log_error("event=connection-failed reason=\"out of memory\"");
		SSL_free(ssl);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		/* Not freed here: on some failure paths libevent has
		 * already freed ssl with its bufferevent (CLOSE_ON_FREE),
		 * and a leak on allocation failure beats a double free.
		 * evhttp then falls back to a plain socket, which the
		 * handlers refuse since it carries no SSL. */
		log_error("event=connection-failed reason=\"cannot create a "
		    "TLS bufferevent\"");
		return NULL;
	}
	/* Requests carry their own length; a peer that closes without
	 * close_notify is an ordinary end of connection. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	guard_admit_later(ssl, bev);
	return bev;
}

static int
server_bind_one(struct daemon *d, const char *addr)
{
	struct addrinfo hints, *ai = NULL;
	struct evconnlistener *lev;
	char host[256], port[16];
	unsigned flags;
	int r = ERR_CONFIG, gai, one = 1;

	if (config_split_listen(addr, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		log_error("event=listen-failed listen=%s reason=\"bad "
		    "address\"", LOG_Q(addr));
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	gai = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai);
	if (gai != 0) {
		log_error("event=listen-failed listen=%s reason=\"bad "
		    "address\" error=%s", LOG_Q(addr),
		    LOG_Q(gai_strerror(gai)));
		goto out;
	}
	flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	    LEV_OPT_REUSEABLE;
	/* "[::]:P" must not also take the IPv4 port, or it could not
	 * coexist with "0.0.0.0:P". */
	if (ai->ai_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	lev = evconnlistener_new_bind(d->base, NULL, NULL, flags,
	    SERVER_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	if (lev == NULL) {
		log_error("event=listen-failed listen=%s reason=\"cannot "
		    "listen\" error=%s", LOG_Q(addr), LOG_Q(strerror(errno)));
		r = ERR_IO;
		goto out;
	}
	/* evhttp writes the headers and the body of an answer as two TLS
	 * records; with Nagle the second waits for the client's delayed
	 * ACK (40 ms a request). Accepted sockets inherit the option. */
	if (setsockopt(evconnlistener_get_fd(lev), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) != 0)
		log_warn("event=listen-option-failed listen=%s "
		    "option=TCP_NODELAY error=%s", LOG_Q(addr),
		    LOG_Q(strerror(errno)));
	/* From here the listener belongs to d->http. */
	if (evhttp_bind_listener(d->http, lev) == NULL) {
		evconnlistener_free(lev);
		log_error("event=listen-failed listen=%s reason=\"cannot "
		    "serve HTTP\"", LOG_Q(addr));
		r = ERR_NOMEM;
		goto out;
	}
	log_debug("event=listening listen=%s", LOG_Q(addr));
	r = 0;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

int
server_start(struct daemon *d)
{
	int r;

	if ((d->http = evhttp_new(d->base)) == NULL) {
		log_error("event=startup-failed reason=\"evhttp_new "
		    "failed\"");
		return ERR_NOMEM;
	}
	if ((r = guard_new(d, &d->guard)) != 0) {
		log_error("event=startup-failed reason=\"cannot create the "
		    "connection guard\" error=%s", LOG_Q(err_str(r)));
		return r;
	}
	evhttp_set_bevcb(d->http, server_bevcb, d);
	/* Timeouts and sizes from limits = { ... }. */
	guard_apply_limits(d);
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	if ((r = http_register(d, d->http)) != 0)
		return r;
	for (size_t i = 0; i < d->cfg->n_listen; i++) {
		if ((r = server_bind_one(d, d->cfg->listen[i])) != 0)
			return r;
	}
	return 0;
}

void
server_stop(struct daemon *d)
{
	/* Held-back requests are answered while their connections exist;
	 * the guard goes after the connections, whose records it counts. */
	guard_stop(d->guard);
	if (d->http != NULL)
		evhttp_free(d->http);
	d->http = NULL;
	guard_free(&d->guard);
}
