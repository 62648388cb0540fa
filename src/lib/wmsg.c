#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "wmsg.h"

#define FPR_PREFIX "sha256:"
#define FPR_PREFIX_LEN (sizeof(FPR_PREFIX) - 1)

/* --- checks shared by both directions --------------------------------- */

/* "sha256:" and 64 lowercase hex, nothing else: the one form
 * ident_from_x509 writes, so a fingerprint compares with strcmp. */
static int
fpr_valid(const char *s, size_t n)
{
	size_t i;

	if (n != IDENT_FPR_LEN || memcmp(s, FPR_PREFIX, FPR_PREFIX_LEN) != 0)
		return 0;
	for (i = FPR_PREFIX_LEN; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A ticket is TICKET_STR_LEN base64url bytes with WMSG_OK and empty with
 * any refusal, so a refusal can never carry a usable ticket. */
static int
ticket_valid(const char *s, size_t n, uint8_t result)
{
	size_t i;

	if (result != WMSG_OK)
		return n == 0;
	if (n != TICKET_STR_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		if (!b64url_char(s[i]))
			return 0;
	}
	return 1;
}

/* --- encoding ------------------------------------------------------------ */

static int
str_check(const char *s)
{
	if (s == NULL || strlen(s) > WMSG_MAX_STR)
		return ERR_INVALID;
	return 0;
}

static int
nonempty_check(const char *s)
{
	if (s == NULL || *s == '\0')
		return ERR_INVALID;
	return str_check(s);
}

/* A list of n strings at v; v may be NULL only when n is 0. */
static int
strv_check(char *const *v, size_t n)
{
	size_t i;
	int r;

	if (n > WMSG_MAX_LIST || (n > 0 && v == NULL))
		return ERR_INVALID;
	for (i = 0; i < n; i++) {
		if ((r = str_check(v[i])) != 0)
			return r;
	}
	return 0;
}

/* san_email_local's entries may each be NULL (an address with no '@'). */
static int
locals_check(const struct ident *id)
{
	size_t i;

	if (id->san_email_local == NULL)
		return 0;
	for (i = 0; i < id->n_san_email; i++) {
		if (id->san_email_local[i] != NULL &&
		    strlen(id->san_email_local[i]) > WMSG_MAX_STR)
			return ERR_INVALID;
	}
	return 0;
}

static int
avas_check(const struct ident *id)
{
	size_t i;
	int r;

	if (id->n_avas > WMSG_MAX_LIST || (id->n_avas > 0 && id->avas == NULL))
		return ERR_INVALID;
	for (i = 0; i < id->n_avas; i++) {
		if ((r = str_check(id->avas[i].type)) != 0 ||
		    (r = str_check(id->avas[i].value)) != 0)
			return r;
	}
	return 0;
}

/* Everything wmsg_decode would refuse in an ident, refused before a byte
 * is written. */
static int
ident_check(const struct ident *id)
{
	int r;

	if (id == NULL)
		return ERR_INVALID;
	if ((r = str_check(id->subject)) != 0 ||
	    (r = str_check(id->issuer)) != 0 ||
	    (r = str_check(id->serial)) != 0)
		return r;
	if (!fpr_valid(id->fingerprint,
	    strnlen(id->fingerprint, sizeof(id->fingerprint))))
		return ERR_INVALID;
	if ((r = strv_check(id->san_email, id->n_san_email)) != 0 ||
	    (r = strv_check(id->san_dns, id->n_san_dns)) != 0 ||
	    (r = strv_check(id->san_uri, id->n_san_uri)) != 0 ||
	    (r = locals_check(id)) != 0 ||
	    (r = avas_check(id)) != 0)
		return r;
	return strv_check(id->policy_oids, id->n_policy_oids);
}

static int
issue_check(const struct wmsg_issue *is)
{
	int r;

	if ((r = nonempty_check(is->user)) != 0 ||
	    (r = nonempty_check(is->rule)) != 0 ||
	    (r = str_check(is->bind_addr)) != 0 ||
	    (r = str_check(is->source)) != 0 ||
	    (r = str_check(is->reason)) != 0)
		return r;
	return ident_check(is->id);
}

/* An address or a fingerprint, or both: a failure of nobody is not one. */
static int
failure_check(const struct wmsg_failure *f)
{
	int r;

	if ((r = str_check(f->addr)) != 0 || (r = str_check(f->fpr)) != 0)
		return r;
	if (f->fpr[0] != '\0' && !fpr_valid(f->fpr, strlen(f->fpr)))
		return ERR_INVALID;
	return f->addr[0] == '\0' && f->fpr[0] == '\0' ? ERR_INVALID : 0;
}

/* ok with no error, or a refusal that says why. */
static int
reloaded_check(const struct wmsg_reloaded *rl)
{
	int r;

	if ((r = str_check(rl->error)) != 0)
		return r;
	if (rl->ok > 1 || (rl->ok == 1) != (rl->error[0] == '\0'))
		return ERR_INVALID;
	return 0;
}

static int
issued_check(const struct wmsg_issued *ans)
{
	if (ans->result > WMSG_RESULT_LAST)
		return ERR_INVALID;
	if (!ticket_valid(ans->ticket,
	    strnlen(ans->ticket, sizeof(ans->ticket)), ans->result))
		return ERR_INVALID;
	return 0;
}

/* Checked counts (<= WMSG_MAX_LIST) fit a u16. */
static int
strv_put(struct buf *out, char *const *v, size_t n)
{
	size_t i;
	int r;

	if ((r = buf_put_u16(out, (uint16_t)n)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = buf_put_cstring(out, v[i])) != 0)
			return r;
	}
	return 0;
}

/* Written as absent when there are no emails: a decoded ident has no
 * array for a count of 0, so this is the one encoding of that ident. */
static int
locals_put(struct buf *out, const struct ident *id)
{
	const char *s;
	size_t i;
	int r;

	if (id->san_email_local == NULL || id->n_san_email == 0)
		return buf_put_u8(out, 0);
	if ((r = buf_put_u8(out, 1)) != 0)
		return r;
	for (i = 0; i < id->n_san_email; i++) {
		s = id->san_email_local[i];
		if ((r = buf_put_u8(out, s != NULL ? 1 : 0)) != 0)
			return r;
		if (s != NULL && (r = buf_put_cstring(out, s)) != 0)
			return r;
	}
	return 0;
}

static int
avas_put(struct buf *out, const struct ident *id)
{
	size_t i;
	int r;

	if ((r = buf_put_u16(out, (uint16_t)id->n_avas)) != 0)
		return r;
	for (i = 0; i < id->n_avas; i++) {
		if ((r = buf_put_cstring(out, id->avas[i].type)) != 0 ||
		    (r = buf_put_cstring(out, id->avas[i].value)) != 0)
			return r;
	}
	return 0;
}

static int
ident_put(struct buf *out, const struct ident *id)
{
	int r;

	if ((r = buf_put_cstring(out, id->subject)) != 0 ||
	    (r = buf_put_cstring(out, id->issuer)) != 0 ||
	    (r = buf_put_cstring(out, id->serial)) != 0 ||
	    (r = buf_put_cstring(out, id->fingerprint)) != 0 ||
	    (r = strv_put(out, id->san_email, id->n_san_email)) != 0 ||
	    (r = strv_put(out, id->san_dns, id->n_san_dns)) != 0 ||
	    (r = strv_put(out, id->san_uri, id->n_san_uri)) != 0 ||
	    (r = locals_put(out, id)) != 0 ||
	    (r = avas_put(out, id)) != 0)
		return r;
	return strv_put(out, id->policy_oids, id->n_policy_oids);
}

static int
issue_put(struct buf *out, const struct wmsg_issue *is)
{
	int r;

	if ((r = buf_put_u32(out, is->seq)) != 0 ||
	    (r = buf_put_cstring(out, is->user)) != 0 ||
	    (r = buf_put_cstring(out, is->rule)) != 0 ||
	    (r = buf_put_cstring(out, is->bind_addr)) != 0 ||
	    (r = buf_put_cstring(out, is->source)) != 0 ||
	    (r = buf_put_cstring(out, is->reason)) != 0)
		return r;
	return ident_put(out, is->id);
}

static int
issued_put(struct buf *out, const struct wmsg_issued *ans)
{
	int r;

	if ((r = buf_put_u32(out, ans->seq)) != 0 ||
	    (r = buf_put_u8(out, ans->result)) != 0 ||
	    (r = buf_put_u32(out, ans->lifetime)) != 0)
		return r;
	return buf_put_cstring(out, ans->ticket);
}

static int
encode_body(struct buf *out, const struct wmsg *m)
{
	int r;

	switch (m->type) {
	case WMSG_ISSUE:
		if ((r = issue_check(&m->u.issue)) != 0 ||
		    (r = buf_put_u8(out, m->type)) != 0)
			return r;
		return issue_put(out, &m->u.issue);
	case WMSG_ISSUED:
		if ((r = issued_check(&m->u.issued)) != 0 ||
		    (r = buf_put_u8(out, m->type)) != 0)
			return r;
		return issued_put(out, &m->u.issued);
	case WMSG_RELOAD:
		return buf_put_u8(out, m->type);
	case WMSG_FAILURE:
		if ((r = failure_check(&m->u.failure)) != 0 ||
		    (r = buf_put_u8(out, m->type)) != 0 ||
		    (r = buf_put_cstring(out, m->u.failure.addr)) != 0)
			return r;
		return buf_put_cstring(out, m->u.failure.fpr);
	case WMSG_RELOADED:
		if ((r = reloaded_check(&m->u.reloaded)) != 0 ||
		    (r = buf_put_u8(out, m->type)) != 0 ||
		    (r = buf_put_u8(out, m->u.reloaded.ok)) != 0)
			return r;
		return buf_put_cstring(out, m->u.reloaded.error);
	default:
		return ERR_INVALID;
	}
}

int
wmsg_encode(struct buf *out, const struct wmsg *m)
{
	size_t start = out->len;
	int r;

	if ((r = encode_body(out, m)) == 0 && out->len - start > WMSG_MAX)
		r = ERR_TOOLONG;
	if (r == 0)
		return 0;
	/* Undo a partial message, which may hold a ticket. */
	if (out->d != NULL)
		OPENSSL_cleanse(out->d + start, out->len - start);
	out->len = start;
	return r;
}

/* --- decoding ------------------------------------------------------------ */

/* Inside a whole datagram, running out of bytes or a bad string is a
 * malformed message, not a reason to wait for more. */
static int
body_err(int r)
{
	return r == ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
}

static int
str_get(struct buf *b, char **out)
{
	int r;

	if ((r = buf_get_cstring(b, out, WMSG_MAX_STR)) != 0)
		return body_err(r);
	return 0;
}

static int
nonempty_get(struct buf *b, char **out)
{
	int r;

	if ((r = str_get(b, out)) != 0)
		return r;
	return **out == '\0' ? ERR_PROTO : 0;
}

/* A count that the rest of the message can hold at min_each bytes an
 * entry, so a lying count costs no allocation. */
static int
count_get(struct buf *b, size_t min_each, size_t *n)
{
	uint16_t v = 0;
	int r;

	if ((r = buf_get_u16(b, &v)) != 0)
		return body_err(r);
	if (v > WMSG_MAX_LIST || (size_t)v * min_each > buf_avail(b))
		return ERR_PROTO;
	*n = v;
	return 0;
}

/* The list is left in *v and *n as far as it was read, for ident_free. */
static int
strv_get(struct buf *b, char ***v, size_t *n)
{
	size_t count = 0, i;
	int r;

	if ((r = count_get(b, 2, &count)) != 0 || count == 0)
		return r;
	if ((*v = calloc(count, sizeof(**v))) == NULL)
		return ERR_NOMEM;
	*n = count;
	for (i = 0; i < count; i++) {
		if ((r = str_get(b, &(*v)[i])) != 0)
			return r;
	}
	return 0;
}

static int
flag_get(struct buf *b, uint8_t *v)
{
	int r;

	if ((r = buf_get_u8(b, v)) != 0)
		return body_err(r);
	return *v > 1 ? ERR_PROTO : 0;
}

static int
locals_get(struct buf *b, struct ident *id)
{
	size_t i;
	uint8_t present = 0;
	int r;

	if ((r = flag_get(b, &present)) != 0 || present == 0)
		return r;
	/* The encoder writes an empty list as absent: one encoding only. */
	if (id->n_san_email == 0)
		return ERR_PROTO;
	id->san_email_local = calloc(id->n_san_email,
	    sizeof(*id->san_email_local));
	if (id->san_email_local == NULL)
		return ERR_NOMEM;
	for (i = 0; i < id->n_san_email; i++) {
		if ((r = flag_get(b, &present)) != 0)
			return r;
		if (present && (r = str_get(b, &id->san_email_local[i])) != 0)
			return r;
	}
	return 0;
}

static int
avas_get(struct buf *b, struct ident *id)
{
	size_t count = 0, i;
	int r;

	if ((r = count_get(b, 4, &count)) != 0 || count == 0)
		return r;
	if ((id->avas = calloc(count, sizeof(*id->avas))) == NULL)
		return ERR_NOMEM;
	id->n_avas = count;
	for (i = 0; i < count; i++) {
		if ((r = str_get(b, &id->avas[i].type)) != 0 ||
		    (r = str_get(b, &id->avas[i].value)) != 0)
			return r;
	}
	return 0;
}

static int
fpr_get(struct buf *b, char out[IDENT_FPR_LEN + 1])
{
	char *s = NULL;
	int r;

	if ((r = buf_get_cstring(b, &s, IDENT_FPR_LEN)) != 0) {
		r = body_err(r);
		goto out;
	}
	if (!fpr_valid(s, strlen(s))) {
		r = ERR_PROTO;
		goto out;
	}
	memcpy(out, s, IDENT_FPR_LEN + 1);
	r = 0;
out:
	free(s);
	return r;
}

static int
ident_get(struct buf *b, struct ident **out)
{
	struct ident *id = NULL;
	int r = ERR_INTERNAL;

	if ((id = calloc(1, sizeof(*id))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	id->refs = 1;
	if ((r = str_get(b, &id->subject)) != 0 ||
	    (r = str_get(b, &id->issuer)) != 0 ||
	    (r = str_get(b, &id->serial)) != 0 ||
	    (r = fpr_get(b, id->fingerprint)) != 0 ||
	    (r = strv_get(b, &id->san_email, &id->n_san_email)) != 0 ||
	    (r = strv_get(b, &id->san_dns, &id->n_san_dns)) != 0 ||
	    (r = strv_get(b, &id->san_uri, &id->n_san_uri)) != 0 ||
	    (r = locals_get(b, id)) != 0 ||
	    (r = avas_get(b, id)) != 0 ||
	    (r = strv_get(b, &id->policy_oids, &id->n_policy_oids)) != 0)
		goto out;
	*out = id;
	id = NULL;
	r = 0;
out:
	ident_free(&id);
	return r;
}

/* Fills is as far as it reads; the caller frees it on error. */
static int
issue_get(struct buf *b, struct wmsg_issue *is)
{
	int r;

	if ((r = buf_get_u32(b, &is->seq)) != 0)
		return body_err(r);
	if ((r = nonempty_get(b, &is->user)) != 0 ||
	    (r = nonempty_get(b, &is->rule)) != 0 ||
	    (r = str_get(b, &is->bind_addr)) != 0 ||
	    (r = str_get(b, &is->source)) != 0 ||
	    (r = str_get(b, &is->reason)) != 0)
		return r;
	return ident_get(b, &is->id);
}

static int
ticket_get(struct buf *b, struct wmsg_issued *ans)
{
	char *s = NULL;
	size_t n = 0;
	int r;

	if ((r = buf_get_cstring(b, &s, TICKET_STR_LEN)) != 0) {
		r = body_err(r);
		goto out;
	}
	n = strlen(s);
	if (!ticket_valid(s, n, ans->result)) {
		r = ERR_PROTO;
		goto out;
	}
	memcpy(ans->ticket, s, n + 1);
	r = 0;
out:
	if (s != NULL)
		OPENSSL_cleanse(s, n);
	free(s);
	return r;
}

static int
issued_get(struct buf *b, struct wmsg_issued *ans)
{
	int r;

	if ((r = buf_get_u32(b, &ans->seq)) != 0 ||
	    (r = buf_get_u8(b, &ans->result)) != 0 ||
	    (r = buf_get_u32(b, &ans->lifetime)) != 0)
		return body_err(r);
	if (ans->result > WMSG_RESULT_LAST)
		return ERR_PROTO;
	return ticket_get(b, ans);
}

/* Fills f as far as it reads; the caller frees it on error. */
static int
failure_get(struct buf *b, struct wmsg_failure *f)
{
	int r;

	if ((r = str_get(b, &f->addr)) != 0 || (r = str_get(b, &f->fpr)) != 0)
		return r;
	return failure_check(f) == 0 ? 0 : ERR_PROTO;
}

static int
reloaded_get(struct buf *b, struct wmsg_reloaded *rl)
{
	int r;

	if ((r = buf_get_u8(b, &rl->ok)) != 0)
		return body_err(r);
	if ((r = str_get(b, &rl->error)) != 0)
		return r;
	return reloaded_check(rl) == 0 ? 0 : ERR_PROTO;
}

/* Parses b into *m, which must be zeroed; on error m holds what was read
 * so far, for wmsg_clear. */
static int
decode_body(struct buf *b, struct wmsg *m)
{
	int r;

	if ((r = buf_get_u8(b, &m->type)) != 0)
		return body_err(r);
	switch (m->type) {
	case WMSG_ISSUE:
		r = issue_get(b, &m->u.issue);
		break;
	case WMSG_ISSUED:
		r = issued_get(b, &m->u.issued);
		break;
	case WMSG_RELOAD:
		r = 0;
		break;
	case WMSG_FAILURE:
		r = failure_get(b, &m->u.failure);
		break;
	case WMSG_RELOADED:
		r = reloaded_get(b, &m->u.reloaded);
		break;
	default:
		r = ERR_PROTO;
		break;
	}
	if (r == 0 && buf_avail(b) != 0)
		r = ERR_PROTO;
	return r;
}

int
wmsg_decode(const uint8_t *p, size_t len, struct wmsg *m)
{
	struct buf *b = NULL;
	struct wmsg tmp;
	int r = ERR_INTERNAL;

	memset(m, 0, sizeof(*m));
	memset(&tmp, 0, sizeof(tmp));
	if (len > WMSG_MAX)
		return ERR_TOOLONG;
	if (len == 0)
		return ERR_PROTO;
	/* A private copy: the message may hold a ticket, and buf_free
	 * wipes. */
	if ((b = buf_new(len)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = buf_put(b, p, len)) != 0 ||
	    (r = decode_body(b, &tmp)) != 0)
		goto out;
	*m = tmp;
	OPENSSL_cleanse(&tmp, sizeof(tmp));
	r = 0;
out:
	/* tmp is zeroed on success, so this frees only a failed decode. */
	wmsg_clear(&tmp);
	buf_free(&b);
	return r;
}

void
wmsg_clear(struct wmsg *m)
{
	if (m == NULL)
		return;
	switch (m->type) {
	case WMSG_ISSUE:
		free(m->u.issue.user);
		free(m->u.issue.rule);
		free(m->u.issue.bind_addr);
		free(m->u.issue.source);
		free(m->u.issue.reason);
		ident_free(&m->u.issue.id);
		break;
	case WMSG_FAILURE:
		free(m->u.failure.addr);
		free(m->u.failure.fpr);
		break;
	case WMSG_RELOADED:
		free(m->u.reloaded.error);
		break;
	default:
		/* ISSUED's ticket lives in the struct, wiped below; RELOAD
		 * and unknown types own no memory. */
		break;
	}
	OPENSSL_cleanse(m, sizeof(*m));
}

const char *
wmsg_result_str(uint8_t result)
{
	switch (result) {
	case WMSG_OK:
		return "ok";
	case WMSG_FULL:
		return "full";
	case WMSG_CERT_FULL:
		return "cert_full";
	case WMSG_UNAUDITED:
		return "unaudited";
	case WMSG_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}
