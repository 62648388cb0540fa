#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "body.h"

/* Exactly one field, "user". A %00 is refused before decoding: decoded,
 * it would silently cut the value short. */
int
body_form_user(const char *body, char **user)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	size_t n = 0;
	int r = ERR_INVALID;

	TAILQ_INIT(&q);
	if (strstr(body, "%00") != NULL)
		goto out;
	if (evhttp_parse_query_str(body, &q) != 0)
		goto out;
	TAILQ_FOREACH(kv, &q, next)
		n++;
	kv = TAILQ_FIRST(&q);
	if (n != 1 || strcmp(kv->key, "user") != 0)
		goto out;
	if ((*user = strdup(kv->value)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	evhttp_clear_headers(&q);
	return r;
}
