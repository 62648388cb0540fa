/* Fuzz target: the ticket endpoint's request body (POST /v1/tickets).
 *
 * Targets body_form_user (src/mtlsd/body.c, on libevent's
 * evhttp_parse_query_str), json_parse_user and valid_user_name, on the
 * body as read_user in src/mtlsd/http.c hands it over: at most
 * SERVER_MAX_BODY bytes, NUL-terminated, none inside. Both parsers see
 * every body, as a client chooses the Content-Type. A user either parser
 * accepts must come back unchanged when written the canonical way
 * (json_put_string; "user=" and evhttp_encode_uri) and parsed again. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "body.h"
#include "buf.h"
#include "json.h"
#include "policy.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	}
	return 0;
}

/* {"user":USER} as json_put_string writes USER, parsed again. */
static void
json_again(const char *user)
{
	struct buf *b = NULL;
	char *again = NULL;
	int r;

	if ((b = buf_new(64 * 1024)) == NULL)
		abort();
	if (buf_put(b, "{\"user\":", 8) != 0 || json_put_string(b, user) != 0 ||
	    buf_put(b, "}", 1) != 0)
		abort();
	r = json_parse_user((const char *)buf_ptr(b), buf_avail(b), &again);
	/* The request parser takes no control byte (DEL included), raw or
	 * as json_put_string's \u00XX, and no empty name. */
	if (has_control(user) || user[0] == '\0') {
		if (r == 0)
			abort();
	} else if (r != 0 || strcmp(again, user) != 0) {
		abort();
	}
	free(again);
	buf_free(&b);
}

static void
form_again(const char *user)
{
	char *enc = NULL, *body = NULL, *again = NULL;
	size_t n;

	if ((enc = evhttp_encode_uri(user)) == NULL)
		abort();
	n = strlen(enc);
	if ((body = malloc(5 + n + 1)) == NULL)
		abort();
	memcpy(body, "user=", 5);
	memcpy(body + 5, enc, n + 1);
	if (body_form_user(body, &again) != 0 || strcmp(again, user) != 0)
		abort();
	free(again);
	free(body);
	free(enc);
}

static void
check_user(const char *user, size_t len)
{
	if (user == NULL || strlen(user) > len)
		abort();
	/* What read_user does next; a name it accepts is short and plain. */
	if (valid_user_name(user) && (strlen(user) > 32 || has_control(user)))
		abort();
	json_again(user);
	form_again(user);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char body[SERVER_MAX_BODY + 1];
	char *user = NULL;
	int r;

	if (size > SERVER_MAX_BODY || memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	r = body_form_user(body, &user);
	if (r == 0)
		check_user(user, size);
	else if (r != ERR_INVALID && r != ERR_NOMEM)
		abort();
	free(user);
	user = NULL;

	r = json_parse_user(body, size, &user);
	if (r == 0)
		check_user(user, size);
	else if (r != ERR_INVALID && r != ERR_NOMEM)
		abort();
	free(user);
	return 0;
}
