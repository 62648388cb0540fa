#include "config.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "audit.h"
#include "body.h"
#include "buf.h"
#include "connguard.h"
#include "http.h"
#include "ident.h"
#include "json.h"
#include "log.h"
#include "ocsp.h"
#include "policy.h"
#include "server.h"
#include "tickets.h"
#include "wmsg.h"
#include "workers.h"

#define PATH_TICKETS "/v1/tickets"
#define PATH_WHOAMI "/v1/whoami"

/* The codes of this API; libevent names only some of them. */
enum {
	ST_OK = 200,
	ST_CREATED = 201,
	ST_BAD_REQUEST = 400,
	ST_FORBIDDEN = 403,
	ST_NOT_FOUND = 404,
	ST_BAD_METHOD = 405,
	ST_TOO_MANY = 429,
	ST_INTERNAL = 500,
};

#define CT_JSON "application/json"
#define CT_FORM "application/x-www-form-urlencoded"
#define CT_TEXT "text/plain"

/* Identity fields are unbounded in principle; an answer larger than this
 * is refused with 500 rather than cut. */
#define HTTP_MAX_ANSWER (64 * 1024)

/* --- answers ------------------------------------------------------------ */

static void
body_release(const void *data, size_t len, void *extra)
{
	struct buf *b = extra;

	(void)data;
	(void)len;
	buf_free(&b);
}

/* libevent knows most phrases but calls 429 "Client Error". */
static const char *
phrase(int code)
{
	switch (code) {
	case ST_TOO_MANY:
		return "Too Many Requests";
	default:
		return NULL; /* libevent's own */
	}
}

/* Sends *body (taken: *body is NULL after) with code. The bytes are handed
 * to libevent by reference, not copied, and wiped by buf_free once sent,
 * so a ticket leaves no copy behind in libevent's buffers. */
static void
reply(struct evhttp_request *req, int code, const char *ctype,
    struct buf **body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evbuffer_add_reference(out, buf_ptr(*body), buf_avail(*body),
	    body_release, *body) != 0) {
		buf_free(body);
		evhttp_send_error(req, ST_INTERNAL, NULL);
		return;
	}
	*body = NULL;
	evhttp_send_reply(req, code, phrase(code), NULL);
}

/* {"error":ERROR} or {"error":ERROR,"detail":DETAIL}. */
static void
reply_error(struct evhttp_request *req, int code, const char *error,
    const char *detail)
{
	struct buf *b = NULL;

	if ((b = buf_new(HTTP_MAX_ANSWER)) == NULL ||
	    buf_put(b, "{\"error\":", 9) != 0 ||
	    json_put_string(b, error) != 0 ||
	    (detail != NULL && (buf_put(b, ",\"detail\":", 10) != 0 ||
	    json_put_string(b, detail) != 0)) ||
	    buf_put(b, "}\n", 2) != 0) {
		buf_free(&b);
		evhttp_send_error(req, ST_INTERNAL, NULL);
		return;
	}
	reply(req, code, CT_JSON, &b);
}

static void
reply_internal(struct evhttp_request *req, const char *detail)
{
	reply_error(req, ST_INTERNAL, "internal", detail);
}

static void
reply_method(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	reply_error(req, ST_BAD_METHOD, "method_not_allowed", NULL);
}

/* --- the peer ------------------------------------------------------------ */

/* The verified client certificate (borrowed from the connection's SSL).
 * The handshake already refused a bad one; this refuses again if there is
 * no SSL at all (a plain fallback bufferevent) or no verified cert. */
static X509 *
peer_cert(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	SSL *ssl;
	X509 *x;

	if (c == NULL || (bev = evhttp_connection_get_bufferevent(c)) == NULL)
		return NULL;
	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return NULL;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL)
		return NULL;
	return x;
}

/* The numeric peer address, an IPv4-mapped IPv6 address written as IPv4
 * so that it compares with what sshd puts in PAM_RHOST. */
static int
peer_addr(struct evhttp_request *req, char *out, size_t outlen)
{
	static const char mapped[] = "::ffff:";
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	const struct sockaddr *sa;
	char host[NI_MAXHOST];
	socklen_t len;
	const char *p = host;

	if (c == NULL || (sa = evhttp_connection_get_addr(c)) == NULL)
		return ERR_INTERNAL;
	switch (sa->sa_family) {
	case AF_INET:
		len = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		len = sizeof(struct sockaddr_in6);
		break;
	default:
		return ERR_INTERNAL;
	}
	if (getnameinfo(sa, len, host, sizeof(host), NULL, 0,
	    NI_NUMERICHOST) != 0)
		return ERR_INTERNAL;
	if (strncasecmp(host, mapped, sizeof(mapped) - 1) == 0 &&
	    strchr(host + sizeof(mapped) - 1, '.') != NULL)
		p = host + sizeof(mapped) - 1;
	if (strlen(p) >= outlen)
		return ERR_TOOLONG;
	memcpy(out, p, strlen(p) + 1);
	return 0;
}

/* ident_from_x509 failed with r: a certificate we cannot describe is
 * refused, a failure of ours is an internal error. */
static void
reply_ident_error(struct evhttp_request *req, int r, const char *who)
{
	if (r == ERR_NOMEM) {
		reply_internal(req, "out of memory");
		return;
	}
	log_warn("event=certificate-unusable peer=%s reason=%s", LOG_Q(who),
	    LOG_Q(err_str(r)));
	reply_error(req, ST_FORBIDDEN, "not_allowed",
	    "certificate identity cannot be represented");
}

/* --- the request body ----------------------------------------------------- */

enum body_kind { BODY_FORM, BODY_JSON, BODY_OTHER };

/* The media type of Content-Type, parameters (charset) ignored; with none,
 * a body starting with '{' is JSON (curl -d sends a form type anyway). */
static enum body_kind
body_kind(struct evhttp_request *req, const char *body)
{
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	size_t n;

	if (ct == NULL)
		return body[0] == '{' ? BODY_JSON : BODY_FORM;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	if (n == strlen(CT_FORM) && strncasecmp(ct, CT_FORM, n) == 0)
		return BODY_FORM;
	if (n == strlen(CT_JSON) && strncasecmp(ct, CT_JSON, n) == 0)
		return BODY_JSON;
	return BODY_OTHER;
}

/* The requested user name, checked, into *user (owned by the caller).
 * On ERR_INVALID, *detail says what was wrong, for the 400 answer. */
static int
read_user(struct evhttp_request *req, char **user, const char **detail)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char body[SERVER_MAX_BODY + 1];
	size_t len = evbuffer_get_length(in);
	char *u = NULL;
	int r = ERR_INVALID;

	*detail = "request body too long";
	if (len > SERVER_MAX_BODY)
		goto out;
	if (evbuffer_copyout(in, body, len) != (ev_ssize_t)len) {
		r = ERR_INTERNAL;
		goto out;
	}
	body[len] = '\0';
	*detail = "request body holds a NUL byte";
	if (strlen(body) != len)
		goto out;
	switch (body_kind(req, body)) {
	case BODY_FORM:
		*detail = "expected a form with exactly one field, user";
		r = body_form_user(body, &u);
		break;
	case BODY_JSON:
		*detail = "expected {\"user\":\"NAME\"}";
		r = json_parse_user(body, len, &u);
		break;
	case BODY_OTHER:
	default:
		*detail = "unsupported content type";
		r = ERR_INVALID;
		break;
	}
	if (r != 0)
		goto out;
	*detail = "invalid user name";
	if (!valid_user_name(u)) {
		r = ERR_INVALID;
		goto out;
	}
	*user = u;
	u = NULL;
	r = 0;
out:
	free(u);
	return r;
}

/* --- POST /v1/tickets ------------------------------------------------------ */

static int
wants_text(struct evhttp_request *req)
{
	const char *accept = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept");

	return accept != NULL && strcasestr(accept, CT_TEXT) != NULL;
}

/* The 201 answer. ticket is wiped by the caller; the buffer by buf_free
 * once libevent has sent it. */
static void
reply_ticket(struct evhttp_request *req, const char *ticket,
    const char *user, unsigned lifetime)
{
	struct buf *b = NULL;
	char num[32];
	int text = wants_text(req);

	snprintf(num, sizeof(num), "%u", lifetime);
	if ((b = buf_new(HTTP_MAX_ANSWER)) == NULL)
		goto fail;
	if (text) {
		if (buf_put(b, ticket, strlen(ticket)) != 0 ||
		    buf_put_u8(b, '\n') != 0)
			goto fail;
		reply(req, ST_CREATED, CT_TEXT, &b);
		return;
	}
	if (buf_put(b, "{\"ticket\":", 10) != 0 ||
	    json_put_string(b, ticket) != 0 ||
	    buf_put(b, ",\"user\":", 8) != 0 ||
	    json_put_string(b, user) != 0 ||
	    buf_put(b, ",\"expires_in\":", 14) != 0 ||
	    buf_put(b, num, strlen(num)) != 0 ||
	    buf_put(b, "}\n", 2) != 0)
		goto fail;
	reply(req, ST_CREATED, CT_JSON, &b);
	return;
fail:
	buf_free(&b);
	reply_internal(req, "cannot build the answer");
}

/* A grant for the store, holding a reference to the request's identity
 * (idents are immutable, ident.h), so the audit record's stays valid
 * whatever the store does with the grant. *out owned by the caller. */
static int
grant_new(struct ident *rec_id, const char *user, const char *rule,
    const char *addr, struct ticket_grant **out)
{
	struct ident *id = ident_ref(rec_id);
	int r;

	r = ticket_grant_new(user, rule, addr, &id, out);
	ident_free(&id);
	return r;
}

/* A refusal, counted and audited. A refusal stands even when it cannot
 * be recorded; audit_record has logged why. */
static void
record_denial(struct daemon *d, struct audit_rec *rec, const char *detail)
{
	rec->event = AUDIT_TICKET_DENIED;
	rec->reason = detail;
	daemon_tally_add(&d->stats->tickets_refused, detail);
	if (audit_record(&d->audit, rec) != 0)
		log_warn("event=refusal-unaudited decision=ticket-denied "
		    "user=%s", LOG_Q(rec->user));
}

/* Refusal by policy: audited, then answered. */
static void
deny_ticket(struct daemon *d, struct evhttp_request *req,
    struct audit_rec *rec, int code, const char *error, const char *detail)
{
	record_denial(d, rec, detail);
	/* A policy refusal is a failed attempt, of the source and of the
	 * certificate (connguard.c throttles those that keep failing). */
	if (code == ST_FORBIDDEN)
		guard_failure(d, rec->source,
		    rec->id != NULL ? rec->id->fingerprint : NULL);
	reply_error(req, code, error, detail);
}

static const char *
store_refusal(int r)
{
	return r == ERR_FULL ? "too many outstanding tickets" :
	    "too many outstanding tickets for this certificate";
}

int
daemon_issue(struct daemon *d, struct audit_rec *rec, struct ident *id,
    const char *rule, const char *bind_addr, char ticket[TICKET_BUFLEN])
{
	const struct config *cfg = d->cfg;
	struct ticket_grant *g = NULL, *back = NULL;
	int r, res = WMSG_FAILED;

	if ((r = grant_new(id, rec->user, rule, bind_addr, &g)) != 0) {
		log_error("event=ticket-failed reason=\"cannot build a "
		    "grant\" error=%s", LOG_Q(err_str(r)));
		goto out;
	}
	r = tstore_issue(d->tickets, &g, time(NULL), cfg->tickets.lifetime,
	    ticket);
	if (r == ERR_FULL || r == ERR_DENIED) {
		/* Refused, not made room for: no live ticket is evicted. */
		log_info("event=ticket-refused peer=%s user=%s reason=%s",
		    LOG_Q(rec->source), LOG_Q(rec->user),
		    LOG_Q(store_refusal(r)));
		record_denial(d, rec, store_refusal(r));
		res = r == ERR_FULL ? WMSG_FULL : WMSG_CERT_FULL;
		goto out;
	}
	if (r != 0) {
		log_error("event=ticket-failed reason=\"cannot issue a "
		    "ticket\" error=%s", LOG_Q(err_str(r)));
		goto out;
	}
	rec->event = AUDIT_TICKET_ISSUED;
	if (audit_record(&d->audit, rec) != 0) {
		if (tstore_take(d->tickets, ticket, time(NULL), &back) != 0)
			log_error("event=ticket-failed reason=\"could not "
			    "withdraw an unaudited ticket\"");
		record_denial(d, rec, "audit log unavailable");
		res = WMSG_UNAUDITED;
		goto out;
	}
	d->stats->tickets_issued++;
	res = WMSG_OK;
out:
	if (res != WMSG_OK)
		OPENSSL_cleanse(ticket, TICKET_BUFLEN);
	ticket_grant_free(&back);
	ticket_grant_free(&g);
	return res;
}

/* The answer to a ticket request whose grant went to the store (here or
 * in the master): res is an enum wmsg_result. */
static void
answer_issue(struct evhttp_request *req, int res, const char *ticket,
    const char *user, unsigned lifetime)
{
	switch (res) {
	case WMSG_OK:
		reply_ticket(req, ticket, user, lifetime);
		break;
	case WMSG_FULL:
		reply_error(req, ST_TOO_MANY, "rate_limited",
		    store_refusal(ERR_FULL));
		break;
	case WMSG_CERT_FULL:
		reply_error(req, ST_TOO_MANY, "rate_limited",
		    store_refusal(ERR_DENIED));
		break;
	case WMSG_UNAUDITED:
		reply_error(req, ST_INTERNAL, "internal",
		    "audit log unavailable");
		break;
	default:
		reply_internal(req, "cannot issue a ticket");
		break;
	}
}

/* A ticket request whose grant a worker has sent to the master. Nothing
 * in it points into the connection (evhttp keeps req for the answer if
 * the connection closes, see struct ocsp_job) or the config. */
struct issue_job {
	struct evhttp_request *req;   /* evhttp's, answered exactly once */
	char *user;                   /* owned */
};

static void
on_issued(const struct wmsg_issued *ans, void *arg)
{
	struct issue_job *j = arg;

	answer_issue(j->req, ans->result, ans->ticket, j->user,
	    ans->lifetime);
	free(j->user);
	free(j);
}

/* A worker's ticket: the master stores and audits it. */
static void
issue_remote(struct daemon *d, struct evhttp_request *req, struct ident *id,
    struct audit_rec *rec, const char *rule, const char *bind_addr)
{
	struct wmsg_issue m = {
		.user = (char *)rec->user, .rule = (char *)rule,
		.bind_addr = (char *)bind_addr, .source = (char *)rec->source,
		.reason = (char *)(rec->reason != NULL ? rec->reason : ""),
		.id = id,
	};
	struct issue_job *j;
	int r;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->user = strdup(rec->user)) == NULL) {
		free(j);
		reply_internal(req, "cannot issue a ticket");
		return;
	}
	j->req = req;
	if ((r = workers_issue(d, &m, on_issued, j)) != 0) {
		log_error("event=ticket-failed reason=\"cannot reach the "
		    "master process\" error=%s", LOG_Q(err_str(r)));
		free(j->user);
		free(j);
		reply_internal(req, "cannot issue a ticket");
	}
}

/* Issues and answers: id is the request's identity (rec->id), whose
 * reference the grant shares. The ticket is audited before it is sent
 * (daemon_issue). */
static void
issue_ticket(struct daemon *d, struct evhttp_request *req, struct ident *id,
    struct audit_rec *rec, const struct decision *dec)
{
	const struct config *cfg = d->cfg;
	const char *bind_addr = cfg->tickets.bind_address ? rec->source : "";
	char ticket[TICKET_BUFLEN];
	int res;

	if (d->workers != NULL) {
		issue_remote(d, req, id, rec, dec->rule->name, bind_addr);
		return;
	}
	res = daemon_issue(d, rec, id, dec->rule->name, bind_addr, ticket);
	answer_issue(req, res, ticket, rec->user, cfg->tickets.lifetime);
	OPENSSL_cleanse(ticket, sizeof(ticket));
}

/* ocsp_note: NULL, or why the ticket goes out without an OCSP answer
 * (soft_fail), for the audit record's reason. */
static void
post_tickets(struct daemon *d, struct evhttp_request *req,
    const char *ocsp_note)
{
	struct audit_rec rec = { 0 };
	struct ident *id = NULL;
	struct policy_ctx ctx = { 0 };
	struct decision dec;
	char addr[64], *user = NULL, reason[512];
	const char *detail;
	X509 *x;
	int r;

	if ((x = peer_cert(req)) == NULL) {
		reply_error(req, ST_FORBIDDEN, "not_allowed",
		    "no verified client certificate");
		goto out;
	}
	if (peer_addr(req, addr, sizeof(addr)) != 0) {
		log_error("event=request-failed reason=\"cannot read the "
		    "peer address\"");
		reply_internal(req, "cannot read the peer address");
		goto out;
	}
	if ((r = read_user(req, &user, &detail)) != 0) {
		if (r != ERR_INVALID) {
			reply_internal(req, "cannot read the request");
			goto out;
		}
		log_info("event=request-malformed peer=%s reason=%s",
		    LOG_Q(addr), LOG_Q(detail));
		reply_error(req, ST_BAD_REQUEST, "malformed", detail);
		goto out;
	}
	if ((r = ident_from_x509(x, &id)) != 0) {
		reply_ident_error(req, r, addr);
		goto out;
	}
	rec.user = user;
	rec.source = addr;
	rec.id = id;
	/* The service is not known before the login: it is checked at
	 * redemption; the source address is checked here already. */
	ctx.user = user;
	ctx.check_addr = 1;
	ctx.addr = addr;
	if (policy_decide(&d->cfg->policy, id, &ctx, &dec) != 0 ||
	    !dec.granted || dec.rule == NULL) {
		deny_ticket(d, req, &rec, ST_FORBIDDEN, "not_allowed",
		    dec.reason);
		goto out;
	}
	rec.rule = dec.rule->name;
	rec.reason = dec.reason;
	if (ocsp_note != NULL) {
		snprintf(reason, sizeof(reason), "%s; %s", dec.reason,
		    ocsp_note);
		rec.reason = reason;
	}
	issue_ticket(d, req, id, &rec, &dec);
out:
	ident_free(&id);
	free(user);
}

/* --- OCSP before the ticket ----------------------------------------------- */

/* A ticket request waiting for the OCSP answer about its certificate.
 * Nothing in it points into the connection, which may close meanwhile
 * (evhttp then keeps req for the answer and frees it when it is sent),
 * nor into the config, which a reload may replace. */
struct ocsp_job {
	struct daemon *d;             /* borrowed */
	struct evhttp_request *req;   /* evhttp's, answered exactly once */
	X509 *leaf;                   /* up-referenced */
	char addr[64];
};

static void
ocsp_job_free(struct ocsp_job **jp)
{
	if (*jp == NULL)
		return;
	X509_free((*jp)->leaf);
	free(*jp);
	*jp = NULL;
}

/* Refused on OCSP's word (or its silence): audited like a policy
 * refusal, with the certificate and the user asked for. */
static void
ocsp_deny(struct ocsp_job *j, const char *detail)
{
	struct audit_rec rec = { 0 };
	struct ident *id = NULL;
	char *user = NULL;
	const char *why;

	if (read_user(j->req, &user, &why) != 0 ||
	    ident_from_x509(j->leaf, &id) != 0) {
		reply_internal(j->req, "cannot record the refusal");
		goto out;
	}
	rec.user = user;
	rec.source = j->addr;
	rec.id = id;
	deny_ticket(j->d, j->req, &rec, ST_FORBIDDEN, "not_allowed", detail);
out:
	ident_free(&id);
	free(user);
}

static void
on_ocsp_done(const struct ocsp_result *res, void *arg)
{
	struct ocsp_job *j = arg;
	char note[256], *subject = NULL;

	switch (ocsp_action(res->verdict, j->d->cfg->ocsp.soft_fail)) {
	case OCSP_ACT_ALLOW:
		post_tickets(j->d, j->req, NULL);
		break;
	case OCSP_ACT_ALLOW_SOFT:
		if (dn_from_name(X509_get_subject_name(j->leaf), &subject) != 0)
			subject = NULL;
		log_warn("event=ocsp-soft-fail action=allow subject=%s "
		    "peer=%s reason=%s",
		    LOG_Q(subject != NULL ? subject : "(unreadable)"),
		    LOG_Q(j->addr), LOG_Q(res->detail));
		snprintf(note, sizeof(note), "OCSP unavailable, allowed by "
		    "soft_fail: %s", res->detail);
		post_tickets(j->d, j->req, note);
		break;
	case OCSP_ACT_DENY_REVOKED:
		ocsp_deny(j, "certificate revoked (OCSP)");
		break;
	case OCSP_ACT_ABORT:
		reply_internal(j->req, "shutting down");
		break;
	case OCSP_ACT_DENY:
	default:
		log_notice("event=ocsp-refused peer=%s verdict=%s reason=%s",
		    LOG_Q(j->addr), LOG_Q(ocsp_verdict_str(res->verdict)),
		    LOG_Q(res->detail));
		ocsp_deny(j, res->verdict == OCSP_VERDICT_UNKNOWN ?
		    "certificate status unknown (OCSP)" :
		    "OCSP status unavailable");
		break;
	}
	free(subject);
	ocsp_job_free(&j);
}

/* The chain the handshake verified, leaf first, anchor last (borrowed
 * from the connection's SSL), or NULL. */
static STACK_OF(X509) *
peer_chain(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	SSL *ssl;

	if (c == NULL || (bev = evhttp_connection_get_bufferevent(c)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return NULL;
	return SSL_get0_verified_chain(ssl);
}

/* Asks OCSP about a well-formed request's certificate, then goes on with
 * post_tickets (on_ocsp_done). A request that post_tickets would refuse
 * anyway (no certificate, bad body) goes there directly: no responder is
 * asked on its behalf. */
static void
ocsp_gate(struct daemon *d, struct evhttp_request *req)
{
	struct ocsp_job *j = NULL;
	STACK_OF(X509) *chain;
	char *user = NULL;
	const char *why;
	X509 *x;

	if ((x = peer_cert(req)) == NULL || read_user(req, &user, &why) != 0 ||
	    (chain = peer_chain(req)) == NULL) {
		post_tickets(d, req, NULL);
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    peer_addr(req, j->addr, sizeof(j->addr)) != 0 ||
	    X509_up_ref(x) != 1) {
		reply_internal(req, "cannot check the certificate's status");
		goto out;
	}
	j->d = d;
	j->req = req;
	j->leaf = x;
	ocsp_check(d->ocsp, &d->cfg->ocsp, x, chain, on_ocsp_done, j);
	j = NULL; /* on_ocsp_done's */
out:
	ocsp_job_free(&j);
	free(user);
}

static void
tickets_cb(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;

	if (guard_gate(d, req, tickets_cb) != 0)
		return;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_method(req, "POST");
		return;
	}
	if (d->cfg->ocsp.enable && d->ocsp != NULL)
		ocsp_gate(d, req);
	else
		post_tickets(d, req, NULL);
}

/* --- GET /v1/whoami ------------------------------------------------------- */

static int
put_member(struct buf *b, const char *sep_key, const char *value)
{
	int r;

	if ((r = buf_put(b, sep_key, strlen(sep_key))) != 0)
		return r;
	return json_put_string(b, value);
}

static int
whoami_json(struct buf *b, const struct ident *id, const char **users,
    size_t n)
{
	int r;

	if ((r = put_member(b, "{\"subject\":", id->subject)) != 0 ||
	    (r = put_member(b, ",\"issuer\":", id->issuer)) != 0 ||
	    (r = put_member(b, ",\"serial\":", id->serial)) != 0 ||
	    (r = put_member(b, ",\"fingerprint\":", id->fingerprint)) != 0 ||
	    (r = buf_put(b, ",\"users\":[", 10)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (i != 0 && (r = buf_put_u8(b, ',')) != 0)
			return r;
		if ((r = json_put_string(b, users[i])) != 0)
			return r;
	}
	return buf_put(b, "]}\n", 3);
}

static void
get_whoami(struct daemon *d, struct evhttp_request *req)
{
	struct ident *id = NULL;
	struct buf *b = NULL;
	struct policy_ctx ctx = { 0 };
	const char **users = NULL;
	char addr[64];
	size_t n = 0;
	X509 *x;
	int r;

	if ((x = peer_cert(req)) == NULL) {
		reply_error(req, ST_FORBIDDEN, "not_allowed",
		    "no verified client certificate");
		goto out;
	}
	if ((r = ident_from_x509(x, &id)) != 0) {
		reply_ident_error(req, r, "the peer");
		goto out;
	}
	/* As at ticket time: the peer address is checked, services not. */
	ctx.check_addr = 1;
	ctx.addr = peer_addr(req, addr, sizeof(addr)) == 0 ? addr : NULL;
	if ((r = policy_users(&d->cfg->policy, id, &ctx, &users, &n)) != 0) {
		log_error("event=request-failed reason=\"cannot evaluate the "
		    "policy\" error=%s", LOG_Q(err_str(r)));
		reply_internal(req, "cannot evaluate the policy");
		goto out;
	}
	if ((b = buf_new(HTTP_MAX_ANSWER)) == NULL ||
	    whoami_json(b, id, users, n) != 0) {
		reply_internal(req, "cannot build the answer");
		goto out;
	}
	reply(req, ST_OK, CT_JSON, &b);
out:
	buf_free(&b);
	free(users);
	ident_free(&id);
}

static void
whoami_cb(struct evhttp_request *req, void *arg)
{
	if (guard_gate(arg, req, whoami_cb) != 0)
		return;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		reply_method(req, "GET");
		return;
	}
	get_whoami(arg, req);
}

static void
notfound_cb(struct evhttp_request *req, void *arg)
{
	if (guard_gate(arg, req, notfound_cb) != 0)
		return;
	reply_error(req, ST_NOT_FOUND, "not_found", NULL);
}

int
http_register(struct daemon *d, struct evhttp *http)
{
	if (evhttp_set_cb(http, PATH_TICKETS, tickets_cb, d) != 0 ||
	    evhttp_set_cb(http, PATH_WHOAMI, whoami_cb, d) != 0) {
		log_error("event=startup-failed reason=\"cannot register the "
		    "HTTP endpoints\"");
		return ERR_INTERNAL;
	}
	evhttp_set_gencb(http, notfound_cb, d);
	return 0;
}
