#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int
put_escaped(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	switch (c) {
	case '"':
		return buf_put(out, "\\\"", 2);
	case '\\':
		return buf_put(out, "\\\\", 2);
	default:
		break;
	}
	if (c >= 0x20 && c != 0x7f)
		return buf_put_u8(out, c);
	e[4] = hex[c >> 4];
	e[5] = hex[c & 0xf];
	return buf_put(out, e, sizeof(e));
}

static int
put_string(struct buf *out, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	int r;

	if ((r = buf_put_u8(out, '"')) != 0)
		return r;
	for (; u != NULL && *u != '\0'; u++) {
		if ((r = put_escaped(out, *u)) != 0)
			return r;
	}
	return buf_put_u8(out, '"');
}

int
json_put_string(struct buf *out, const char *s)
{
	size_t start = out->len;
	int r;

	if ((r = put_string(out, s)) == 0)
		return 0;
	/* Leave out as it was rather than with half a literal. */
	if (out->d != NULL)
		explicit_bzero(out->d + start, out->len - start);
	out->len = start;
	return r;
}

/* A read position in the request body. */
struct cur {
	const char *p;
	size_t len;
	size_t pos;
};

static void
skip_ws(struct cur *c)
{
	while (c->pos < c->len && (c->p[c->pos] == ' ' ||
	    c->p[c->pos] == '\t' || c->p[c->pos] == '\n' ||
	    c->p[c->pos] == '\r'))
		c->pos++;
}

/* Consumes ch (after optional whitespace) or fails. */
static int
expect(struct cur *c, char ch)
{
	skip_ws(c);
	if (c->pos >= c->len || c->p[c->pos] != ch)
		return ERR_INVALID;
	c->pos++;
	return 0;
}

/* The one escape we accept after a backslash, or -1. */
static int
unescape(char e)
{
	switch (e) {
	case '"':
	case '\\':
	case '/':
		return e;
	default:
		/* \u and the control escapes are not needed for a user name. */
		return -1;
	}
}

/* Reads a string literal at the cursor into a new heap string (*out). */
static int
parse_string(struct cur *c, char **out)
{
	char *s = NULL;
	size_t n = 0;
	unsigned char ch;
	int e, r = ERR_INVALID;

	*out = NULL;
	if ((r = expect(c, '"')) != 0)
		goto out;
	r = ERR_INVALID;
	/* The literal is never longer than what is left of the input. */
	if ((s = malloc(c->len - c->pos + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (;;) {
		if (c->pos >= c->len)
			goto out;
		ch = (unsigned char)c->p[c->pos++];
		if (ch == '"')
			break;
		if (ch < 0x20 || ch == 0x7f)
			goto out;
		if (ch == '\\') {
			if (c->pos >= c->len ||
			    (e = unescape(c->p[c->pos++])) < 0)
				goto out;
			ch = (unsigned char)e;
		}
		s[n++] = (char)ch;
	}
	s[n] = '\0';
	*out = s;
	s = NULL;
	r = 0;
out:
	free(s);
	return r;
}

int
json_parse_user(const char *p, size_t len, char **user)
{
	struct cur c = { .p = p, .len = len, .pos = 0 };
	char *key = NULL, *val = NULL;
	int r = ERR_INVALID;

	*user = NULL;
	if ((r = expect(&c, '{')) != 0 ||
	    (r = parse_string(&c, &key)) != 0)
		goto out;
	r = ERR_INVALID;
	if (strcmp(key, "user") != 0)
		goto out;
	if ((r = expect(&c, ':')) != 0 ||
	    (r = parse_string(&c, &val)) != 0 ||
	    (r = expect(&c, '}')) != 0)
		goto out;
	r = ERR_INVALID;
	skip_ws(&c);
	if (c.pos != c.len || val[0] == '\0')
		goto out;
	*user = val;
	val = NULL;
	r = 0;
out:
	free(key);
	free(val);
	return r;
}
