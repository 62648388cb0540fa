#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* First allocation; later ones double, capped at max. */
#define BUF_INITIAL_CAP 256

struct buf *
buf_new(size_t max)
{
	struct buf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	return b;
}

void
buf_free(struct buf **bp)
{
	struct buf *b;

	if (bp == NULL || (b = *bp) == NULL)
		return;
	if (b->d != NULL) {
		explicit_bzero(b->d, b->cap);
		free(b->d);
	}
	explicit_bzero(b, sizeof(*b));
	free(b);
	*bp = NULL;
}

void
buf_reset(struct buf *b)
{
	if (b->d != NULL)
		explicit_bzero(b->d, b->cap);
	b->off = 0;
	b->len = 0;
}

size_t
buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

const uint8_t *
buf_ptr(const struct buf *b)
{
	/* Arithmetic on NULL is undefined even with offset 0. */
	if (b->d == NULL)
		return NULL;
	return b->d + b->off;
}

int
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_avail(b))
		return ERR_SHORT;
	b->off += n;
	return 0;
}

/* Chooses a capacity >= need, doubling from the current one, never past
 * max (need <= max is checked by the caller). */
static size_t
buf_next_cap(const struct buf *b, size_t need)
{
	size_t cap = b->cap > 0 ? b->cap : BUF_INITIAL_CAP;

	while (cap < need) {
		if (cap > b->max / 2)
			return b->max;
		cap *= 2;
	}
	return cap < b->max ? cap : b->max;
}

/* Makes room for n more bytes at len. A new allocation is copied rather
 * than realloc'd so the old bytes can be wiped before they are released. */
static int
buf_reserve(struct buf *b, size_t n)
{
	uint8_t *d;
	size_t cap;

	if (n > b->max - b->len)
		return ERR_TOOLONG;
	if (n <= b->cap - b->len)
		return 0;
	cap = buf_next_cap(b, b->len + n);
	if ((d = malloc(cap)) == NULL)
		return ERR_NOMEM;
	if (b->d != NULL) {
		memcpy(d, b->d, b->len);
		explicit_bzero(b->d, b->cap);
		free(b->d);
	}
	b->d = d;
	b->cap = cap;
	return 0;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = buf_reserve(b, n)) != 0)
		return r;
	memcpy(b->d + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t w[2];

	w[0] = (uint8_t)(v >> 8);
	w[1] = (uint8_t)v;
	return buf_put(b, w, sizeof(w));
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t w[4];

	w[0] = (uint8_t)(v >> 24);
	w[1] = (uint8_t)(v >> 16);
	w[2] = (uint8_t)(v >> 8);
	w[3] = (uint8_t)v;
	return buf_put(b, w, sizeof(w));
}

int
buf_put_cstring(struct buf *b, const char *s)
{
	size_t n;
	int r;

	if (s == NULL)
		return ERR_INVALID;
	if ((n = strlen(s)) > UINT16_MAX)
		return ERR_TOOLONG;
	/* Reserve both parts first so a failure leaves the buffer unchanged. */
	if ((r = buf_reserve(b, 2 + n)) != 0)
		return r;
	if ((r = buf_put_u16(b, (uint16_t)n)) != 0)
		return r;
	return buf_put(b, s, n);
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	if (buf_avail(b) < 1)
		return ERR_SHORT;
	*v = b->d[b->off];
	b->off += 1;
	return 0;
}

int
buf_get_u16(struct buf *b, uint16_t *v)
{
	const uint8_t *p;

	if (buf_avail(b) < 2)
		return ERR_SHORT;
	p = buf_ptr(b);
	*v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
	b->off += 2;
	return 0;
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
	const uint8_t *p;

	if (buf_avail(b) < 4)
		return ERR_SHORT;
	p = buf_ptr(b);
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	b->off += 4;
	return 0;
}

int
buf_get_cstring(struct buf *b, char **out, size_t maxlen)
{
	const uint8_t *p;
	char *s;
	size_t n;

	*out = NULL;
	if (buf_avail(b) < 2)
		return ERR_SHORT;
	p = buf_ptr(b);
	n = (size_t)p[0] << 8 | p[1];
	if (n > buf_avail(b) - 2)
		return ERR_SHORT;
	if (n > maxlen)
		return ERR_TOOLONG;
	if (memchr(p + 2, '\0', n) != NULL)
		return ERR_INVALID;
	if ((s = malloc(n + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(s, p + 2, n);
	s[n] = '\0';
	b->off += 2 + n;
	*out = s;
	return 0;
}
