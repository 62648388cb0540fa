/* mtls-login's HTTP: the ticket request and the checks on its response.
 * Everything here works on byte buffers; the TLS connection is in
 * tlsclient.c. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "http.h"
#include "login.h"

#define DETAIL_MAX 200

/* Replaces what a terminal could interpret (controls, and every byte
 * >= 0x80 since C1 controls hide there in UTF-8) by '?'. */
static char
safe_char(uint8_t c)
{
	if (c < 0x20 || c >= 0x7f)
		return '?';
	return (char)c;
}

/* ---- request ------------------------------------------------------------ */

int
http_request_build(const struct target *t, const char *port, char *out,
    size_t outlen, size_t *lenp, char *msg, size_t msglen)
{
	int n;

	/* The user passed valid_user_name: every byte is unreserved in a
	 * form body, so no encoding is needed. */
	n = snprintf(out, outlen,
	    "POST /v1/tickets HTTP/1.1\r\n"
	    "Host: %s%s%s:%s\r\n"
	    "Accept: text/plain\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "user=%s",
	    t->is_v6 ? "[" : "", t->host, t->is_v6 ? "]" : "", port,
	    strlen("user=") + strlen(t->user), t->user);
	if (n < 0 || (size_t)n >= outlen) {
		msg_set(msg, msglen, "request too long");
		return ERR_TOOLONG;
	}
	*lenp = (size_t)n;
	return 0;
}

/* ---- response framing --------------------------------------------------- */

static int
header_name_is(const uint8_t *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' &&
	    strncasecmp((const char *)line, name, n) == 0;
}

/* Parses a Content-Length value (after the colon): optional spaces, then
 * decimal digits, then optional spaces. */
static int
parse_content_length(const uint8_t *v, size_t len, size_t *out)
{
	size_t i = 0, val = 0, digits = 0;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
		val = val * 10 + (size_t)(v[i] - '0');
		if (val > HTTP_RESPONSE_MAX)
			return ERR_PROTO;
	}
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (digits == 0 || i != len)
		return ERR_PROTO;
	*out = val;
	return 0;
}

/* "HTTP/1.x NNN reason" */
static int
parse_status_line(const uint8_t *p, size_t len, struct http_resp *hr)
{
	size_t i, j = 0;

	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' ||
	    p[7] > '9' || p[8] != ' ')
		return ERR_PROTO;
	for (i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return ERR_PROTO;
	}
	hr->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (len > 12 && p[12] != ' ')
		return ERR_PROTO;
	for (i = 13; i < len && j + 1 < sizeof(hr->reason); i++)
		hr->reason[j++] = safe_char(p[i]);
	hr->reason[j] = '\0';
	return 0;
}

/* Finds Content-Length among the header lines [p, p+len), each ending in
 * CRLF. *cl is (size_t)-1 when there is none. A chunked (or any other)
 * Transfer-Encoding is refused: we never ask for one. */
static int
parse_headers(const uint8_t *p, size_t len, size_t *cl)
{
	const uint8_t *end = p + len, *eol;
	size_t v;

	*cl = (size_t)-1;
	while (p < end) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			return ERR_PROTO;
		if (header_name_is(p, (size_t)(eol - p), "transfer-encoding"))
			return ERR_PROTO;
		if (header_name_is(p, (size_t)(eol - p), "content-length")) {
			if (parse_content_length(p + 15,
			    (size_t)(eol - p) - 15, &v) != 0)
				return ERR_PROTO;
			if (*cl != (size_t)-1 && *cl != v)
				return ERR_PROTO;
			*cl = v;
		}
		p = eol + 2;
	}
	return 0;
}

int
http_response_parse(const uint8_t *p, size_t len, struct http_resp *hr,
    char *msg, size_t msglen)
{
	const uint8_t *hend, *eol;
	size_t cl, avail;

	memset(hr, 0, sizeof(*hr));
	/* buf_ptr gives NULL for a buffer that never received a byte. */
	if (p == NULL || len == 0) {
		msg_set(msg, msglen, "empty response from the server");
		return ERR_PROTO;
	}
	/* The reader already stops there; checked again so that this
	 * function's bounds do not depend on its caller. */
	if (len > HTTP_RESPONSE_MAX) {
		msg_set(msg, msglen, "response longer than %d bytes",
		    HTTP_RESPONSE_MAX);
		return ERR_PROTO;
	}
	if ((hend = memmem(p, len, "\r\n\r\n", 4)) == NULL ||
	    (eol = memmem(p, len, "\r\n", 2)) == NULL ||
	    parse_status_line(p, (size_t)(eol - p), hr) != 0 ||
	    parse_headers(eol + 2, (size_t)(hend - eol), &cl) != 0) {
		msg_set(msg, msglen, "malformed HTTP response from the server");
		return ERR_PROTO;
	}
	hr->body = hend + 4;
	avail = len - (size_t)(hr->body - p);
	hr->body_len = avail;
	if (cl == (size_t)-1)
		return 0;
	if (avail != cl) {
		msg_set(msg, msglen, "%s response from the server",
		    avail < cl ? "truncated" : "over-long");
		return ERR_PROTO;
	}
	return 0;
}

/* ---- response content --------------------------------------------------- */

static int
ticket_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
ticket_is_valid(const char *t, size_t n)
{
	size_t i;

	if (n < TICKET_MIN || n > TICKET_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!ticket_char_ok(t[i]))
			return 0;
	}
	return 1;
}

/* The 201 body: the ticket and a newline. */
static int
ticket_from_body(const struct http_resp *hr, char *out, size_t outlen,
    char *msg, size_t msglen)
{
	const char *b = (const char *)hr->body;
	size_t n = hr->body_len;

	if (n > 0 && b[n - 1] == '\n')
		n--;
	if (n > 0 && b[n - 1] == '\r')
		n--;
	if (!ticket_is_valid(b, n) || n >= outlen) {
		msg_set(msg, msglen, "malformed ticket in the server's answer");
		return ERR_PROTO;
	}
	memcpy(out, b, n);
	out[n] = '\0';
	return 0;
}

/* Copies a JSON string's content starting after its opening quote,
 * sanitised and cut at outlen - 1. Escapes are shown as the character
 * they stand for, \uXXXX as '?': this is for a human, not a parser. */
static void
json_string_sanitised(const uint8_t *p, const uint8_t *end, char *out,
    size_t outlen)
{
	size_t j = 0;

	while (p < end && *p != '"' && j + 1 < outlen) {
		if (*p == '\\' && p + 1 < end) {
			p++;
			if (*p == 'u') {
				out[j++] = '?';
				p += (end - p > 4) ? 5 : (end - p);
				continue;
			}
			out[j++] = (*p == '"' || *p == '\\' || *p == '/') ?
			    (char)*p : ' ';
			p++;
			continue;
		}
		out[j++] = safe_char(*p++);
	}
	out[j] = '\0';
}

/* The reason a 403 gives: "detail" of a JSON body, else the body's first
 * line. A crude extraction: it only goes into one line on stderr. */
static void
denial_detail(const struct http_resp *hr, char *out, size_t outlen)
{
	const uint8_t *p = hr->body, *end = hr->body + hr->body_len;
	const uint8_t *d = memmem(p, hr->body_len, "\"detail\"", 8);
	size_t j = 0;

	out[0] = '\0';
	if (d != NULL) {
		d += 8;
		while (d < end && (*d == ' ' || *d == '\t' || *d == '\n' ||
		    *d == '\r' || *d == ':'))
			d++;
		if (d < end && *d == '"') {
			json_string_sanitised(d + 1, end, out, outlen);
			return;
		}
	}
	while (p < end && *p != '\n' && *p != '\r' && j + 1 < outlen)
		out[j++] = safe_char(*p++);
	out[j] = '\0';
}

int
http_response_ticket(const struct http_resp *hr, char *ticket,
    size_t ticketlen, char *msg, size_t msglen)
{
	char detail[DETAIL_MAX + 1];

	switch (hr->status) {
	case 201:
		return ticket_from_body(hr, ticket, ticketlen, msg, msglen);
	case 403:
		denial_detail(hr, detail, sizeof(detail));
		msg_set(msg, msglen, "denied: %s", detail[0] != '\0' ?
		    detail : "the server refused the request");
		return ERR_DENIED;
	case 429:
		msg_set(msg, msglen, "rate limited: try again later");
		return ERR_DENIED;
	default:
		msg_set(msg, msglen, "unexpected answer from the server: "
		    "%d %s", hr->status, hr->reason);
		return ERR_PROTO;
	}
}
