/* Bounded byte buffer: all wire and parse code goes through it.
 *
 * A buffer holds bytes [off, len) still to be read, appends at len, and
 * never grows past max bytes. Getters check lengths before they read and
 * advance the read offset only on success. buf_free wipes the contents. */
#ifndef MTLS_BUF_H
#define MTLS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf {
	uint8_t *d;
	size_t off;  /* read offset */
	size_t len;  /* bytes written */
	size_t cap;  /* bytes allocated */
	size_t max;  /* hard cap on len */
};

/* Returns a new empty buffer that may hold up to max bytes, or NULL. The
 * caller owns it and frees it with buf_free. */
struct buf *buf_new(size_t max);
/* Wipes and frees *b, sets *b to NULL; accepts NULL and *b == NULL. */
void buf_free(struct buf **b);
/* Wipes the contents and empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);

/* Bytes left to read, and a borrowed pointer to them. */
size_t buf_avail(const struct buf *b);
const uint8_t *buf_ptr(const struct buf *b);
/* Drop n bytes from the read side (ERR_SHORT if fewer are there). */
int buf_consume(struct buf *b, size_t n) MTLS_WUR;

/* Appends; ERR_TOOLONG if max would be exceeded, ERR_NOMEM. On error the
 * buffer is unchanged. */
int buf_put(struct buf *b, const void *p, size_t n) MTLS_WUR;
int buf_put_u8(struct buf *b, uint8_t v) MTLS_WUR;
int buf_put_u16(struct buf *b, uint16_t v) MTLS_WUR;
int buf_put_u32(struct buf *b, uint32_t v) MTLS_WUR;
/* u16 big-endian length, then the bytes of s (no NUL). ERR_INVALID if s is
 * NULL, ERR_TOOLONG if strlen(s) > 65535. */
int buf_put_cstring(struct buf *b, const char *s) MTLS_WUR;

/* Readers, big-endian. ERR_SHORT if not enough bytes remain. */
int buf_get_u8(struct buf *b, uint8_t *v) MTLS_WUR;
int buf_get_u16(struct buf *b, uint16_t *v) MTLS_WUR;
int buf_get_u32(struct buf *b, uint32_t *v) MTLS_WUR;
/* Reads a u16-length-prefixed string into a new NUL-terminated heap copy
 * (*out, owned by the caller). ERR_SHORT if truncated, ERR_TOOLONG if the
 * length exceeds maxlen, ERR_INVALID if it holds a NUL byte. */
int buf_get_cstring(struct buf *b, char **out, size_t maxlen) MTLS_WUR;

#endif
