/* mtls-login's HTTP side (src/mtls-login/http.c): the exact request bytes,
 * and the response parser and its checks, fed byte buffers as the TLS
 * reader would hand them over. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http.h"
#include "login.h"

/* 32 characters, every class base64url allows. */
#define TICKET "AbCdEfGhIjKlMnOpQrStUvWxYz012-_9"

struct result {
	int r;
	struct http_resp hr;
	char ticket[TICKET_MAX + 1];
	char msg[MSG_LEN];
};

/* Runs p[0..len) through parse and, if that passes, the status check, as
 * mtls-login does. */
static void
run_bytes(const void *p, size_t len, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->r = http_response_parse(p, len, &res->hr, res->msg,
	    sizeof(res->msg));
	if (res->r != 0)
		return;
	res->r = http_response_ticket(&res->hr, res->ticket,
	    sizeof(res->ticket), res->msg, sizeof(res->msg));
}

static void
run(const char *s, struct result *res)
{
	run_bytes(s, strlen(s), res);
}

/* head, then "Content-Length: strlen(body)", then body. */
static void
run_with_length(const char *head, const char *body, struct result *res)
{
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf), "%sContent-Length: %zu\r\n\r\n%s",
	    head, strlen(body), body);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	run(buf, res);
}

static void
assert_refused(const struct result *res, int err, const char *msg)
{
	assert_int_equal(res->r, err);
	assert_string_equal(res->msg, msg);
	assert_string_equal(res->ticket, "");
}

static char *
rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- request ------------------------------------------------------------ */

static void
test_request_bytes(void **state)
{
	struct target t = { .user = "root", .host = "dev.example.org" };
	static const char want[] =
	    "POST /v1/tickets HTTP/1.1\r\n"
	    "Host: dev.example.org:7443\r\n"
	    "Accept: text/plain\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 9\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "user=root";
	char out[HTTP_REQUEST_MAX], msg[MSG_LEN] = "";
	size_t len = 0;

	(void)state;
	memset(out, 'X', sizeof(out));
	assert_int_equal(http_request_build(&t, "7443", out, sizeof(out), &len,
	    msg, sizeof(msg)), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(out, want, len);
	assert_string_equal(msg, "");
}

static void
test_request_ipv6_host(void **state)
{
	struct target t = { .user = "admin_2", .host = "2001:db8::1",
	    .is_ip = 1, .is_v6 = 1 };
	struct target t4 = { .user = "a", .host = "192.0.2.7", .is_ip = 1 };
	static const char want[] =
	    "POST /v1/tickets HTTP/1.1\r\n"
	    "Host: [2001:db8::1]:22\r\n"
	    "Accept: text/plain\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 12\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "user=admin_2";
	char out[HTTP_REQUEST_MAX], msg[MSG_LEN] = "";
	size_t len = 0;

	(void)state;
	assert_int_equal(http_request_build(&t, "22", out, sizeof(out), &len,
	    msg, sizeof(msg)), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(out, want, len);

	/* An IPv4 literal takes no brackets. */
	assert_int_equal(http_request_build(&t4, "7443", out, sizeof(out),
	    &len, msg, sizeof(msg)), 0);
	assert_non_null(memmem(out, len, "\r\nHost: 192.0.2.7:7443\r\n", 24));
	assert_null(memmem(out, len, "[", 1));
}

/* The longest user, host and port still fit HTTP_REQUEST_MAX; a buffer one
 * byte short of the request and its NUL is refused, and *lenp is left. */
static void
test_request_bounds(void **state)
{
	struct target t;
	char out[HTTP_REQUEST_MAX], msg[MSG_LEN] = "";
	char *user = rep('u', USER_MAX), *host = rep('h', HOST_MAX);
	size_t len = 0, got = 12345;

	(void)state;
	memset(&t, 0, sizeof(t));
	memcpy(t.user, user, USER_MAX + 1);
	memcpy(t.host, host, HOST_MAX + 1);
	assert_int_equal(http_request_build(&t, "65535", out, sizeof(out),
	    &len, msg, sizeof(msg)), 0);
	assert_true(len < sizeof(out));
	assert_memory_equal(out + len - strlen(user), user, strlen(user));

	assert_int_equal(http_request_build(&t, "65535", out, len, &got, msg,
	    sizeof(msg)), ERR_TOOLONG);
	assert_string_equal(msg, "request too long");
	assert_int_equal(got, 12345);
	msg[0] = '\0';
	assert_int_equal(http_request_build(&t, "65535", out, len + 1, &got,
	    msg, sizeof(msg)), 0);
	assert_int_equal(got, len);
	free(user);
	free(host);
}

/* ---- 201 ---------------------------------------------------------------- */

static void
test_ticket_lf(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.1 201 Created\r\n"
	    "Content-Type: text/plain\r\n", TICKET "\n", &res);
	assert_int_equal(res.r, 0);
	assert_int_equal(res.hr.status, 201);
	assert_string_equal(res.hr.reason, "Created");
	assert_int_equal(res.hr.body_len, strlen(TICKET) + 1);
	assert_string_equal(res.ticket, TICKET);
	assert_string_equal(res.msg, "");
}

static void
test_ticket_crlf(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.0 201 Created\r\n", TICKET "\r\n", &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, TICKET);

	/* No newline at all is fine too; two are not. */
	run_with_length("HTTP/1.1 201 Created\r\n", TICKET, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, TICKET);
	run_with_length("HTTP/1.1 201 Created\r\n", TICKET "\n\n", &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
	run_with_length("HTTP/1.1 201 Created\r\n", TICKET "\n\r", &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
}

/* Header names match in any case, with spaces around the value. */
static void
test_header_case(void **state)
{
	struct result res;

	(void)state;
	run("HTTP/1.1 201 Created\r\ncontent-LENGTH: \t33 \r\n\r\n"
	    TICKET "\n", &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, TICKET);
	/* A longer name is another header, not a bad Content-Length. */
	run("HTTP/1.1 201 Created\r\nContent-Lengthy: 99\r\n\r\n"
	    TICKET "\n", &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, TICKET);
	/* A repeated but equal Content-Length is the same message. */
	run("HTTP/1.1 201 Created\r\nContent-Length: 33\r\n"
	    "Content-Length: 33\r\n\r\n" TICKET "\n", &res);
	assert_int_equal(res.r, 0);
}

/* ---- framing ------------------------------------------------------------ */

static void
test_no_content_length(void **state)
{
	struct result res;

	(void)state;
	run("HTTP/1.1 201 Created\r\nServer: x\r\n\r\n" TICKET "\n", &res);
	assert_int_equal(res.r, 0);
	assert_int_equal(res.hr.body_len, strlen(TICKET) + 1);
	assert_string_equal(res.ticket, TICKET);

	/* No headers at all, and an empty body, still parse. */
	run("HTTP/1.1 403 Forbidden\r\n\r\n", &res);
	assert_int_equal(res.hr.status, 403);
	assert_int_equal(res.hr.body_len, 0);
	assert_refused(&res, ERR_DENIED,
	    "denied: the server refused the request");
}

static void
test_body_shorter(void **state)
{
	struct result res;

	(void)state;
	run("HTTP/1.1 201 Created\r\nContent-Length: 34\r\n\r\n" TICKET "\n",
	    &res);
	assert_refused(&res, ERR_PROTO, "truncated response from the server");
	run("HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n", &res);
	assert_refused(&res, ERR_PROTO, "truncated response from the server");
}

static void
test_body_longer(void **state)
{
	struct result res;

	(void)state;
	run("HTTP/1.1 201 Created\r\nContent-Length: 32\r\n\r\n" TICKET "\n",
	    &res);
	assert_refused(&res, ERR_PROTO, "over-long response from the server");
	run("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nx", &res);
	assert_refused(&res, ERR_PROTO, "over-long response from the server");
}

static void
test_bad_content_length(void **state)
{
	static const char *const bad[] = {
		"Content-Length: \r\n",
		"Content-Length: 3a\r\n",
		"Content-Length: -3\r\n",
		"Content-Length: 3 3\r\n",
		"Content-Length: 16385\r\n",
		"Content-Length: 99999999999999999999999\r\n",
		"Content-Length: 3\r\nContent-Length: 4\r\n",
	};
	struct result res;
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 403 Forbidden\r\n%s\r\n"
		    "abc", bad[i]);
		run(buf, &res);
		assert_refused(&res, ERR_PROTO,
		    "malformed HTTP response from the server");
	}
	/* The largest length we would read is accepted as a value. */
	run("HTTP/1.1 403 Forbidden\r\nContent-Length: 16384\r\n\r\nabc", &res);
	assert_refused(&res, ERR_PROTO, "truncated response from the server");
}

static void
test_chunked_refused(void **state)
{
	struct result res;

	(void)state;
	run("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "21\r\n" TICKET "\n\r\n0\r\n\r\n", &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed HTTP response from the server");
	run("HTTP/1.1 201 Created\r\nContent-Length: 33\r\n"
	    "transfer-encoding: identity\r\n\r\n" TICKET "\n", &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed HTTP response from the server");
	/* Only the header of that name: others containing it are fine. */
	run("HTTP/1.1 201 Created\r\nX-Transfer-Encoding: chunked\r\n"
	    "Transfer-Encodings: chunked\r\n\r\n" TICKET "\n", &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, TICKET);
}

static void
test_garbage_status(void **state)
{
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"HTTP/2 201 Created\r\n\r\n",
		"HTTP/1.1 20 Created\r\n\r\n",
		"HTTP/1.1 2010 Created\r\n\r\n",
		"HTTP/1.1 2x1 Created\r\n\r\n",
		"HTTP/1.1  201 Created\r\n\r\n",
		"HTTP/1.1_201 Created\r\n\r\n",
		"HTTP/1.1 201Created\r\n\r\n",
		"HTTP/1.x 201 Created\r\n\r\n",
		"http/1.1 201 Created\r\n\r\n",
		" HTTP/1.1 201 Created\r\n\r\n",
		"HTTP/1.1 201 Created\r\n",            /* no end of headers */
		"HTTP/1.1 201 Created\n\nabc",         /* bare newlines */
		"\r\n\r\n",
	};
	struct result res;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run(bad[i], &res);
		assert_refused(&res, ERR_PROTO,
		    "malformed HTTP response from the server");
	}
	/* The reason phrase is optional. */
	run("HTTP/1.1 201\r\n\r\n" TICKET, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.hr.reason, "");
}

static void
test_empty(void **state)
{
	struct result res;

	(void)state;
	run_bytes(NULL, 0, &res);
	assert_refused(&res, ERR_PROTO, "empty response from the server");
	run_bytes("HTTP/1.1 201 Created\r\n\r\n", 0, &res);
	assert_refused(&res, ERR_PROTO, "empty response from the server");
}

/* Exactly HTTP_RESPONSE_MAX bytes parse (body to the end), one more do
 * not. */
static void
test_oversized(void **state)
{
	static const char head[] = "HTTP/1.1 403 Forbidden\r\n\r\n";
	char *p = rep('a', HTTP_RESPONSE_MAX + 1);
	struct result res;

	(void)state;
	memcpy(p, head, strlen(head));
	run_bytes(p, HTTP_RESPONSE_MAX, &res);
	assert_int_equal(res.r, ERR_DENIED);
	assert_int_equal(res.hr.body_len, HTTP_RESPONSE_MAX - strlen(head));
	run_bytes(p, HTTP_RESPONSE_MAX + 1, &res);
	assert_refused(&res, ERR_PROTO, "response longer than 16384 bytes");
	free(p);
}

/* ---- ticket format ------------------------------------------------------ */

static void
ticket_body(const char *t, struct result *res)
{
	char body[512];

	snprintf(body, sizeof(body), "%s\n", t);
	run_with_length("HTTP/1.1 201 Created\r\n", body, res);
}

static void
test_ticket_length(void **state)
{
	char *min = rep('A', TICKET_MIN), *max = rep('z', TICKET_MAX);
	char *shorter = rep('A', TICKET_MIN - 1);
	char *longer = rep('z', TICKET_MAX + 1);
	struct result res;

	(void)state;
	ticket_body(min, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, min);
	ticket_body(max, &res);
	assert_int_equal(res.r, 0);
	assert_string_equal(res.ticket, max);

	assert_true(ticket_is_valid(min, TICKET_MIN));
	assert_true(ticket_is_valid(max, TICKET_MAX));
	assert_false(ticket_is_valid(shorter, TICKET_MIN - 1));
	assert_false(ticket_is_valid(longer, TICKET_MAX + 1));
	assert_false(ticket_is_valid("", 0));

	ticket_body(shorter, &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
	ticket_body(longer, &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
	ticket_body("", &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
	free(min);
	free(max);
	free(shorter);
	free(longer);
}

static void
test_ticket_charset(void **state)
{
	/* One bad byte each in an otherwise good ticket. */
	static const char bad[] = "+/=. \t\"'\\;$`\x1b\x7f\x80\xff";
	static const char with_nul[] =
	    "HTTP/1.1 201 Created\r\n\r\nAbCdEfGhIjKlMnOp\0qrstu\n";
	char t[] = TICKET;
	struct result res;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) - 1; i++) {
		t[5] = bad[i];
		ticket_body(t, &res);
		assert_refused(&res, ERR_PROTO,
		    "malformed ticket in the server's answer");
		assert_false(ticket_is_valid(t, strlen(t)));
	}
	/* A NUL inside the body is not the end of the ticket. */
	run_bytes(with_nul, sizeof(with_nul) - 1, &res);
	assert_refused(&res, ERR_PROTO,
	    "malformed ticket in the server's answer");
	assert_true(ticket_is_valid(TICKET, strlen(TICKET)));
}

/* The caller's buffer bounds the copy, whatever the server sends. */
static void
test_ticket_buffer_small(void **state)
{
	struct http_resp hr;
	char small[sizeof(TICKET) - 1], msg[MSG_LEN] = "";
	char fits[sizeof(TICKET)];
	static const char resp[] = "HTTP/1.1 201 Created\r\n\r\n" TICKET "\n";

	(void)state;
	assert_int_equal(http_response_parse((const uint8_t *)resp,
	    strlen(resp), &hr, msg, sizeof(msg)), 0);
	assert_int_equal(http_response_ticket(&hr, small, sizeof(small), msg,
	    sizeof(msg)), ERR_PROTO);
	assert_int_equal(http_response_ticket(&hr, fits, sizeof(fits), msg,
	    sizeof(msg)), 0);
	assert_string_equal(fits, TICKET);
}

/* ---- refusals ----------------------------------------------------------- */

static void
test_403_json_detail(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.1 403 Forbidden\r\n"
	    "Content-Type: application/json\r\n",
	    "{\"error\": \"denied\", \"detail\"\r\n\t: \"no rule grants "
	    "\\\"root\\\" to CN=alice\"}", &res);
	assert_refused(&res, ERR_DENIED,
	    "denied: no rule grants \"root\" to CN=alice");

	/* Escapes, then what a terminal would act on: controls (raw or as
	 * \u escapes), DEL and every byte >= 0x80 become '?'. */
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "{\"detail\":\"a\\nb\\/c\\\\d\\u001b[2Je\x1b[31mf\rg\x7fh\xc2\x9bi"
	    "\"}", &res);
	assert_refused(&res, ERR_DENIED, "denied: a b/c\\d?[2Je?[31mf?g?h??i");

	/* A string cut short by the end of the body, or an escape at it. */
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "{\"detail\":\"unterminated", &res);
	assert_refused(&res, ERR_DENIED, "denied: unterminated");
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "{\"detail\":\"x\\u00", &res);
	assert_refused(&res, ERR_DENIED, "denied: x?");
}

/* A detail longer than one line's worth is cut, and never overruns. */
static void
test_403_detail_long(void **state)
{
	char *detail = rep('d', 1000), body[1100], want[300];
	struct result res;

	(void)state;
	snprintf(body, sizeof(body), "{\"detail\":\"%s\"}", detail);
	run_with_length("HTTP/1.1 403 Forbidden\r\n", body, &res);
	assert_int_equal(res.r, ERR_DENIED);
	snprintf(want, sizeof(want), "denied: %.200s", detail);
	assert_string_equal(res.msg, want);
	free(detail);
}

/* Without a JSON "detail" string, the body's first line is the reason. */
static void
test_403_plain(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "certificate not allowed for root\nsecond line\n", &res);
	assert_refused(&res, ERR_DENIED,
	    "denied: certificate not allowed for root");
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "first\r\nsecond", &res);
	assert_refused(&res, ERR_DENIED, "denied: first");
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "bell\a esc\x1b[0m tab\t del\x7f high\xe2\x80\xae end", &res);
	assert_refused(&res, ERR_DENIED,
	    "denied: bell? esc?[0m tab? del? high??? end");
	/* "detail" not followed by a string: plain text after all. */
	run_with_length("HTTP/1.1 403 Forbidden\r\n",
	    "{\"detail\": 42}", &res);
	assert_refused(&res, ERR_DENIED, "denied: {\"detail\": 42}");
	/* A body that starts with a newline gives the generic reason. */
	run_with_length("HTTP/1.1 403 Forbidden\r\n", "\nlater", &res);
	assert_refused(&res, ERR_DENIED,
	    "denied: the server refused the request");
}

static void
test_429(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.1 429 Too Many Requests\r\n",
	    "{\"detail\":\"slow down\"}", &res);
	assert_refused(&res, ERR_DENIED, "rate limited: try again later");
}

/* Any other status is a protocol failure naming it, reason sanitised;
 * a 200 with a ticket-like body is not a ticket. */
static void
test_other_status(void **state)
{
	struct result res;

	(void)state;
	run_with_length("HTTP/1.1 500 Internal Server Error\r\n", "oops",
	    &res);
	assert_refused(&res, ERR_PROTO, "unexpected answer from the server: "
	    "500 Internal Server Error");
	run_with_length("HTTP/1.1 503 Busy\x1b[2J now\r\n", "", &res);
	assert_refused(&res, ERR_PROTO, "unexpected answer from the server: "
	    "503 Busy?[2J now");
	assert_string_equal(res.hr.reason, "Busy?[2J now");
	run_with_length("HTTP/1.1 200 OK\r\n", TICKET "\n", &res);
	assert_refused(&res, ERR_PROTO, "unexpected answer from the server: "
	    "200 OK");
	run_with_length("HTTP/1.1 401 Unauthorized\r\n", "", &res);
	assert_refused(&res, ERR_PROTO, "unexpected answer from the server: "
	    "401 Unauthorized");
}

/* A long reason phrase is cut to fit struct http_resp. */
static void
test_reason_long(void **state)
{
	char *reason = rep('r', 500), head[600];
	struct result res;

	(void)state;
	snprintf(head, sizeof(head), "HTTP/1.1 502 %s\r\n", reason);
	run_with_length(head, "", &res);
	assert_int_equal(res.r, ERR_PROTO);
	assert_int_equal(strlen(res.hr.reason), sizeof(res.hr.reason) - 1);
	assert_memory_equal(res.hr.reason, reason, sizeof(res.hr.reason) - 1);
	free(reason);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_bytes),
		cmocka_unit_test(test_request_ipv6_host),
		cmocka_unit_test(test_request_bounds),
		cmocka_unit_test(test_ticket_lf),
		cmocka_unit_test(test_ticket_crlf),
		cmocka_unit_test(test_header_case),
		cmocka_unit_test(test_no_content_length),
		cmocka_unit_test(test_body_shorter),
		cmocka_unit_test(test_body_longer),
		cmocka_unit_test(test_bad_content_length),
		cmocka_unit_test(test_chunked_refused),
		cmocka_unit_test(test_garbage_status),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_ticket_length),
		cmocka_unit_test(test_ticket_charset),
		cmocka_unit_test(test_ticket_buffer_small),
		cmocka_unit_test(test_403_json_detail),
		cmocka_unit_test(test_403_detail_long),
		cmocka_unit_test(test_403_plain),
		cmocka_unit_test(test_429),
		cmocka_unit_test(test_other_status),
		cmocka_unit_test(test_reason_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
