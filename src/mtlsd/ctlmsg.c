#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "certcache.h"
#include "conf.h"
#include "ctlmsg.h"
#include "json.h"
#include "tickets.h"

/* --- counters ------------------------------------------------------------- */

#define TALLY_OTHER "other"

/* Counts n events under reason, read up to DAEMON_REASON_LEN - 1 bytes
 * (another process's slot may be mid-write: the bound keeps the read
 * inside it). */
static void
tally_add_n(struct daemon_tally *t, const char *reason, unsigned long n)
{
	char key[DAEMON_REASON_LEN];
	size_t i;

	if (reason == NULL)
		reason = "unknown";
	snprintf(key, sizeof(key), "%.*s",
	    (int)strnlen(reason, DAEMON_REASON_LEN - 1), reason);
	t->total += n;
	for (i = 0; i < t->used; i++) {
		if (strcmp(t->by[i].reason, key) == 0) {
			t->by[i].n += n;
			return;
		}
	}
	/* The last slot is kept for "other": new reasons past the table's
	 * size (peers choose some of them) go there. */
	i = t->used < DAEMON_REASONS - 1 ? t->used : DAEMON_REASONS - 1;
	if (i == DAEMON_REASONS - 1)
		snprintf(key, sizeof(key), "%s", TALLY_OTHER);
	if (i == t->used) {
		memcpy(t->by[i].reason, key, sizeof(key));
		t->used++;
	}
	t->by[i].n += n;
}

void
daemon_tally_add(struct daemon_tally *t, const char *reason)
{
	tally_add_n(t, reason, 1);
}

static void
tally_merge(struct daemon_tally *into, const struct daemon_tally *from)
{
	size_t used = from->used < DAEMON_REASONS ? from->used :
	    DAEMON_REASONS;

	for (size_t i = 0; i < used; i++)
		tally_add_n(into, from->by[i].reason, from->by[i].n);
}

void
daemon_stats_total(const struct daemon *d, struct daemon_stats *out)
{
	const struct daemon_stats *s;

	if (d->stats_table == NULL) {
		*out = *d->stats;
		return;
	}
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < d->n_stats; i++) {
		s = &d->stats_table[i];
		out->handshakes += s->handshakes;
		tally_merge(&out->hs_refused, &s->hs_refused);
		out->tickets_issued += s->tickets_issued;
		tally_merge(&out->tickets_refused, &s->tickets_refused);
		out->redeemed += s->redeemed;
		tally_merge(&out->redeem_refused, &s->redeem_refused);
		out->reloads_failed += s->reloads_failed;
		out->cert_cache.entries += s->cert_cache.entries;
		out->cert_cache.hits += s->cert_cache.hits;
		out->cert_cache.misses += s->cert_cache.misses;
		out->cert_cache.signature_hits += s->cert_cache.signature_hits;
	}
	/* A reload is the master's; each worker then reloads too, and only
	 * a worker's failure counts. */
	out->reloads = d->stats_table[0].reloads;
}

/* --- requests ------------------------------------------------------------- */

int
control_parse_request(const char *p, size_t len, enum control_req *out)
{
	static const struct {
		const char *line;
		enum control_req req;
	} reqs[] = {
		{ "status\n", CONTROL_STATUS },
		{ "status json\n", CONTROL_STATUS_JSON },
		{ "reload\n", CONTROL_RELOAD },
	};
	const char *nl = memchr(p, '\n', len);

	if (nl == NULL)
		return len < CONTROL_MAX_REQUEST ? ERR_SHORT : ERR_PROTO;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		if (strlen(reqs[i].line) == len &&
		    memcmp(reqs[i].line, p, len) == 0) {
			*out = reqs[i].req;
			return 0;
		}
	}
	return ERR_PROTO;
}

/* --- writing -------------------------------------------------------------- */

static int put_fmt(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
put_fmt(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return ERR_TOOLONG;
	return buf_put(b, line, (size_t)n);
}

/* A config path or a reason on a text line: control bytes cannot start a
 * new line on the administrator's terminal. */
static int
put_text(struct buf *b, const char *s)
{
	int r;

	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((r = buf_put_u8(b, c < 0x20 || c == 0x7f ? '?' : c)) != 0)
			return r;
	}
	return 0;
}

static int
put_key_text(struct buf *b, const char *key, const char *value)
{
	int r;

	if ((r = put_fmt(b, "%s: ", key)) != 0 || (r = put_text(b, value)) != 0)
		return r;
	return buf_put_u8(b, '\n');
}

static void
utc_str(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

/* --- CRL files ---------------------------------------------------------- */

struct crl_info {
	const char *error;   /* static or strerror; NULL when read */
	time_t mtime;
	time_t last_update;
	time_t next_update;  /* 0: none in the CRL */
};

static int
asn1_time_t(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return ERR_INVALID;
	*out = timegm(&tm);
	return 0;
}

/* What the daemon's configured CRL file says now. Read at status time
 * only (never on a login path); the file may have changed since the
 * trust material was loaded, which is what an operator wants to see. */
static void
crl_info_of(const char *path, struct crl_info *ci)
{
	struct stat st;
	X509_CRL *crl = NULL;
	FILE *f = NULL;

	memset(ci, 0, sizeof(*ci));
	if (stat(path, &st) != 0) {
		ci->error = strerror(errno);
		return;
	}
	ci->mtime = st.st_mtime;
	if ((f = fopen(path, "r")) == NULL) {
		ci->error = strerror(errno);
		return;
	}
	if ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) == NULL ||
	    asn1_time_t(X509_CRL_get0_lastUpdate(crl), &ci->last_update) != 0)
		ci->error = "not a readable PEM CRL";
	else if (X509_CRL_get0_nextUpdate(crl) != NULL &&
	    asn1_time_t(X509_CRL_get0_nextUpdate(crl), &ci->next_update) != 0)
		ci->error = "bad nextUpdate";
	ERR_clear_error();
	X509_CRL_free(crl);
	fclose(f);
}

/* --- text ------------------------------------------------------------- */

static int
text_tally(struct buf *b, const char *key, const struct daemon_tally *t)
{
	int r;

	if ((r = put_fmt(b, "%s: %lu\n", key, t->total)) != 0)
		return r;
	for (size_t i = 0; i < t->used; i++) {
		if ((r = buf_put(b, "  ", 2)) != 0 ||
		    (r = put_text(b, t->by[i].reason)) != 0 ||
		    (r = put_fmt(b, ": %lu\n", t->by[i].n)) != 0)
			return r;
	}
	return 0;
}

static int
text_crl(struct buf *b, const char *path, time_t now)
{
	struct crl_info ci;
	char last[32], next[32];
	int r;

	crl_info_of(path, &ci);
	if ((r = buf_put(b, "crl: ", 5)) != 0 || (r = put_text(b, path)) != 0)
		return r;
	if (ci.error != NULL) {
		if ((r = buf_put(b, " error=\"", 8)) != 0 ||
		    (r = put_text(b, ci.error)) != 0)
			return r;
		return buf_put(b, "\"\n", 2);
	}
	utc_str(ci.last_update, last, sizeof(last));
	if (ci.next_update != 0)
		utc_str(ci.next_update, next, sizeof(next));
	else
		snprintf(next, sizeof(next), "none");
	return put_fmt(b, " age=%llds last_update=%s next_update=%s\n",
	    (long long)(now - ci.mtime), last, next);
}

static int
text_head(const struct daemon *d, const struct daemon_stats *s, time_t now,
    struct buf *b)
{
	const struct config *c = d->cfg;
	char loaded[32];
	int r;

	utc_str(d->loaded, loaded, sizeof(loaded));
	if ((r = put_fmt(b, "version: %s\n", PACKAGE_VERSION)) != 0 ||
	    (r = put_fmt(b, "pid: %ld\n", (long)getpid())) != 0 ||
	    (r = put_fmt(b, "uptime: %llds\n",
	    (long long)(now - d->started))) != 0 ||
	    (r = put_key_text(b, "config", c->file)) != 0 ||
	    (r = put_fmt(b, "config_loaded: %s (%llds ago)\n", loaded,
	    (long long)(now - d->loaded))) != 0 ||
	    (r = put_fmt(b, "reloads: %lu\nreloads_failed: %lu\n",
	    s->reloads, s->reloads_failed)) != 0 ||
	    (r = put_fmt(b, "workers: %u running=%zu\n", c->workers,
	    d->stats_table != NULL ? d->workers_running : 1)) != 0)
		return r;
	for (size_t i = 0; i < c->n_listen; i++) {
		if ((r = put_key_text(b, "listen", c->listen[i])) != 0)
			return r;
	}
	if ((r = put_key_text(b, "pam_socket", c->pam_socket)) != 0 ||
	    (r = put_key_text(b, "control_socket", c->control_socket)) != 0)
		return r;
	return 0;
}

/* A process without the cache (the unit tests) shows it empty. */
static int
text_cert_cache(struct buf *b, const struct certcache_stats *cs)
{
	return put_fmt(b, "cert_cache: entries=%zu hits=%lu misses=%lu "
	    "signature_hits=%lu\n", cs->entries, cs->hits, cs->misses,
	    cs->signature_hits);
}

/* One line per worker: which process, and how much it served. */
static int
text_workers(const struct daemon *d, struct buf *b)
{
	const struct daemon_stats *s;
	int r;

	for (size_t i = 1; d->stats_table != NULL && i < d->n_stats; i++) {
		s = &d->stats_table[i];
		if ((r = put_fmt(b, "worker: %zu pid=%ld handshakes=%lu "
		    "handshakes_refused=%lu tickets_refused=%lu\n", i, s->pid,
		    s->handshakes, s->hs_refused.total,
		    s->tickets_refused.total)) != 0)
			return r;
	}
	return 0;
}

static int
status_text(const struct daemon *d, const struct daemon_stats *s, time_t now,
    struct buf *b)
{
	int r;

	if ((r = text_head(d, s, now, b)) != 0 ||
	    (r = put_fmt(b, "handshakes: %lu\n", s->handshakes)) != 0 ||
	    (r = text_tally(b, "handshakes_refused", &s->hs_refused)) != 0 ||
	    (r = put_fmt(b, "tickets_issued: %lu\n", s->tickets_issued)) != 0 ||
	    (r = text_tally(b, "tickets_refused", &s->tickets_refused)) != 0 ||
	    (r = put_fmt(b, "tickets_redeemed: %lu\n", s->redeemed)) != 0 ||
	    (r = text_tally(b, "redeem_refused", &s->redeem_refused)) != 0 ||
	    (r = put_fmt(b, "tickets_outstanding: %zu\n",
	    tstore_count(d->tickets))) != 0 ||
	    (r = text_cert_cache(b, &s->cert_cache)) != 0 ||
	    (r = text_workers(d, b)) != 0)
		return r;
	for (size_t i = 0; i < d->cfg->tls.n_crl; i++) {
		if ((r = text_crl(b, d->cfg->tls.crl[i], now)) != 0)
			return r;
	}
	return 0;
}

/* --- JSON ------------------------------------------------------------- */

/* ,"key": then a string */
static int
json_member_str(struct buf *b, const char *sep, const char *key,
    const char *value)
{
	int r;

	if ((r = buf_put(b, sep, strlen(sep))) != 0 ||
	    (r = json_put_string(b, key)) != 0 ||
	    (r = buf_put_u8(b, ':')) != 0)
		return r;
	return json_put_string(b, value);
}

static int
json_tally(struct buf *b, const char *key, const struct daemon_tally *t)
{
	int r;

	if ((r = put_fmt(b, ",\"%s\":{\"total\":%lu,\"by_reason\":{", key,
	    t->total)) != 0)
		return r;
	for (size_t i = 0; i < t->used; i++) {
		if ((i != 0 && (r = buf_put_u8(b, ',')) != 0) ||
		    (r = json_put_string(b, t->by[i].reason)) != 0 ||
		    (r = put_fmt(b, ":%lu", t->by[i].n)) != 0)
			return r;
	}
	return buf_put(b, "}}", 2);
}

static int
json_crl(struct buf *b, const char *path, time_t now)
{
	struct crl_info ci;
	int r;

	crl_info_of(path, &ci);
	if ((r = json_member_str(b, "{", "file", path)) != 0)
		return r;
	if (ci.error != NULL) {
		if ((r = json_member_str(b, ",", "error", ci.error)) != 0)
			return r;
		return buf_put_u8(b, '}');
	}
	if ((r = put_fmt(b, ",\"age\":%lld,\"last_update\":%lld",
	    (long long)(now - ci.mtime), (long long)ci.last_update)) != 0)
		return r;
	if (ci.next_update == 0)
		return buf_put(b, ",\"next_update\":null}", 20);
	return put_fmt(b, ",\"next_update\":%lld}", (long long)ci.next_update);
}

static int
json_head(const struct daemon *d, const struct daemon_stats *s, time_t now,
    struct buf *b)
{
	const struct config *c = d->cfg;
	int r;

	if ((r = json_member_str(b, "{", "version", PACKAGE_VERSION)) != 0 ||
	    (r = put_fmt(b, ",\"pid\":%ld,\"uptime\":%lld", (long)getpid(),
	    (long long)(now - d->started))) != 0 ||
	    (r = json_member_str(b, ",\"config\":{", "file", c->file)) != 0 ||
	    (r = put_fmt(b, ",\"loaded\":%lld,\"age\":%lld}",
	    (long long)d->loaded, (long long)(now - d->loaded))) != 0 ||
	    (r = put_fmt(b, ",\"reloads\":{\"ok\":%lu,\"failed\":%lu}",
	    s->reloads, s->reloads_failed)) != 0 ||
	    (r = put_fmt(b, ",\"workers\":{\"configured\":%u,"
	    "\"running\":%zu}", c->workers, d->stats_table != NULL ?
	    d->workers_running : 1)) != 0 ||
	    (r = buf_put(b, ",\"listen\":[", 11)) != 0)
		return r;
	for (size_t i = 0; i < c->n_listen; i++) {
		if ((i != 0 && (r = buf_put_u8(b, ',')) != 0) ||
		    (r = json_put_string(b, c->listen[i])) != 0)
			return r;
	}
	if ((r = buf_put_u8(b, ']')) != 0 ||
	    (r = json_member_str(b, ",", "pam_socket", c->pam_socket)) != 0 ||
	    (r = json_member_str(b, ",", "control_socket",
	    c->control_socket)) != 0)
		return r;
	return 0;
}

static int
json_cert_cache(struct buf *b, const struct certcache_stats *cs)
{
	return put_fmt(b, ",\"cert_cache\":{\"entries\":%zu,\"hits\":%lu,"
	    "\"misses\":%lu,\"signature_hits\":%lu}", cs->entries, cs->hits,
	    cs->misses, cs->signature_hits);
}

static int
json_workers(const struct daemon *d, struct buf *b)
{
	const struct daemon_stats *s;
	int r;

	if ((r = buf_put(b, ",\"worker\":[", 11)) != 0)
		return r;
	for (size_t i = 1; d->stats_table != NULL && i < d->n_stats; i++) {
		s = &d->stats_table[i];
		if ((r = put_fmt(b, "%s{\"id\":%zu,\"pid\":%ld,"
		    "\"handshakes\":%lu,\"handshakes_refused\":%lu,"
		    "\"tickets_refused\":%lu}", i > 1 ? "," : "", i, s->pid,
		    s->handshakes, s->hs_refused.total,
		    s->tickets_refused.total)) != 0)
			return r;
	}
	return buf_put_u8(b, ']');
}

static int
status_json(const struct daemon *d, const struct daemon_stats *s, time_t now,
    struct buf *b)
{
	int r;

	if ((r = json_head(d, s, now, b)) != 0 ||
	    (r = put_fmt(b, ",\"handshakes\":%lu", s->handshakes)) != 0 ||
	    (r = json_tally(b, "handshakes_refused", &s->hs_refused)) != 0 ||
	    (r = put_fmt(b, ",\"tickets_issued\":%lu", s->tickets_issued)) != 0 ||
	    (r = json_tally(b, "tickets_refused", &s->tickets_refused)) != 0 ||
	    (r = put_fmt(b, ",\"tickets_redeemed\":%lu", s->redeemed)) != 0 ||
	    (r = json_tally(b, "redeem_refused", &s->redeem_refused)) != 0 ||
	    (r = put_fmt(b, ",\"tickets_outstanding\":%zu",
	    tstore_count(d->tickets))) != 0 ||
	    (r = json_cert_cache(b, &s->cert_cache)) != 0 ||
	    (r = json_workers(d, b)) != 0 ||
	    (r = buf_put(b, ",\"crl\":[", 8)) != 0)
		return r;
	for (size_t i = 0; i < d->cfg->tls.n_crl; i++) {
		if ((i != 0 && (r = buf_put_u8(b, ',')) != 0) ||
		    (r = json_crl(b, d->cfg->tls.crl[i], now)) != 0)
			return r;
	}
	return buf_put(b, "]}\n", 3);
}

int
control_status(const struct daemon *d, time_t now, int json,
    struct buf *out)
{
	struct daemon_stats *s;
	int r;

	/* A few KB with its tallies: not on the stack. */
	if ((s = malloc(sizeof(*s))) == NULL)
		return ERR_NOMEM;
	daemon_stats_total(d, s);
	r = json ? status_json(d, s, now, out) : status_text(d, s, now, out);
	free(s);
	return r;
}
