#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/http.h>

#include "url.h"

#define HTTP_PREFIX "http://"
#define HTTPS_PREFIX "https://"

/* What OSSL_HTTP_parse_url hands out, owned (OPENSSL_free). */
struct parts {
	char *user, *host, *port, *path, *query, *frag;
	int port_num, ssl;
};

static void
parts_clear(struct parts *p)
{
	OPENSSL_free(p->user);
	OPENSSL_free(p->host);
	OPENSSL_free(p->port);
	OPENSSL_free(p->path);
	OPENSSL_free(p->query);
	OPENSSL_free(p->frag);
	memset(p, 0, sizeof(*p));
}

static int
has_ctl_or_space(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 1;
	}
	return 0;
}

/* The checks OpenSSL's parser leaves to its caller. */
static int
parts_check(const char *s, const struct parts *p, const char **why)
{
	if (p->ssl || strncmp(s, HTTP_PREFIX, strlen(HTTP_PREFIX)) != 0) {
		*why = "only http:// URLs are supported";
		return ERR_INVALID;
	}
	if (p->user != NULL && p->user[0] != '\0') {
		*why = "a URL must not hold user credentials";
		return ERR_INVALID;
	}
	if (p->frag != NULL && p->frag[0] != '\0') {
		*why = "a URL must not hold a fragment";
		return ERR_INVALID;
	}
	if (p->host == NULL || p->host[0] == '\0' ||
	    strcmp(p->host, "[]") == 0) {
		*why = "the URL has no host";
		return ERR_INVALID;
	}
	if (p->port_num < 1 || p->port_num > 65535) {
		*why = "the URL's port is not in 1..65535";
		return ERR_INVALID;
	}
	return 0;
}

/* OpenSSL 3.0 keeps the brackets of an IPv6 literal; the connect call
 * wants the bare address, the Host header the brackets. */
static int
url_fill(struct url *u, const struct parts *p)
{
	const char *h = p->host;
	size_t n = strlen(h);
	int v6, q;

	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	v6 = memchr(h, ':', n) != NULL;
	if ((u->host = strndup(h, n)) == NULL)
		return ERR_NOMEM;
	u->port = (unsigned short)p->port_num;
	if (asprintf(&u->authority, "%s%s%s%s%s", v6 ? "[" : "", u->host,
	    v6 ? "]" : "", u->port != 80 ? ":" : "",
	    u->port != 80 ? p->port : "") < 0) {
		u->authority = NULL;
		return ERR_NOMEM;
	}
	q = p->query != NULL && p->query[0] != '\0';
	if (asprintf(&u->target, "%s%s%s",
	    p->path != NULL && p->path[0] == '/' ? p->path : "/",
	    q ? "?" : "", q ? p->query : "") < 0) {
		u->target = NULL;
		return ERR_NOMEM;
	}
	return 0;
}

int
url_parse_http(const char *s, struct url **out, const char **why)
{
	struct parts p = { 0 };
	struct url *u = NULL;
	const char *dummy;
	char *low = NULL;
	int r = ERR_INVALID;

	if (why == NULL)
		why = &dummy;
	*why = "not a valid http:// URL";
	if (s == NULL || out == NULL)
		return ERR_INVALID;
	*out = NULL;
	if (strncasecmp(s, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) == 0) {
		*why = "https:// is not supported (OCSP answers are signed: "
		    "use the responder's http:// URL)";
		return ERR_INVALID;
	}
	if (has_ctl_or_space(s))
		return ERR_INVALID;
	/* A scheme is case-insensitive (RFC 3986 3.1); OpenSSL's parser
	 * takes only the lowercase one. */
	if ((low = strdup(s)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (strncasecmp(low, HTTP_PREFIX, strlen(HTTP_PREFIX)) == 0)
		memcpy(low, HTTP_PREFIX, strlen(HTTP_PREFIX));
	if (OSSL_HTTP_parse_url(low, &p.ssl, &p.user, &p.host, &p.port,
	    &p.port_num, &p.path, &p.query, &p.frag) != 1) {
		ERR_clear_error();
		goto out;
	}
	if ((r = parts_check(low, &p, why)) != 0)
		goto out;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = url_fill(u, &p)) != 0)
		goto out;
	*out = u;
	u = NULL;
	r = 0;
out:
	if (r == ERR_NOMEM)
		*why = "out of memory";
	url_free(&u);
	parts_clear(&p);
	free(low);
	return r;
}

void
url_free(struct url **up)
{
	struct url *u;

	if (up == NULL || (u = *up) == NULL)
		return;
	free(u->host);
	free(u->authority);
	free(u->target);
	free(u);
	*up = NULL;
}
