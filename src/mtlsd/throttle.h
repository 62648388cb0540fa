/* Bounded tables of what sources do: failed attempts per source address
 * or certificate fingerprint, over a time window, and connections held
 * per source address. Pure logic with the clock passed in, so that the
 * tests can run hours in a microsecond; server.c feeds it. Every lookup
 * is a hash lookup; nothing scans a table. */
#ifndef MTLSD_THROTTLE_H
#define MTLSD_THROTTLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* A key: a numeric address or an ident fingerprint, NUL-terminated. A
 * longer key is not tracked (it cannot come from either). */
#define THROTTLE_KEY_LEN 80

struct throttle_params {
	unsigned window;        /* seconds failures are counted over, >= 1 */
	unsigned slow_after;    /* failures in a window, then SLOW; 0: never */
	unsigned refuse_after;  /* failures in a window, then REFUSE for
	                           refuse_for seconds; 0: never */
	unsigned refuse_for;
};

enum throttle_verdict {
	THROTTLE_OK,
	THROTTLE_SLOW,     /* answer, but late */
	THROTTLE_REFUSE,   /* do not serve at all */
};

/* What throttle_fail says about the failure it counted. */
struct throttle_note {
	enum throttle_verdict verdict;   /* the key's verdict after it */
	unsigned failures;               /* in the current window */
	int announce;                    /* 1 the once per window the key
	                                    enters SLOW, and once it enters
	                                    REFUSE: the time to log it */
};

struct throttle;

/* A table tracking at most max keys (>= 1); seed keys the hash, so that
 * sources cannot aim at one bucket. NULL on allocation failure. When the
 * table is full, a new key takes the place of the least recently failed
 * one that is not being refused; when every candidate is being refused,
 * the new key is not tracked. */
struct throttle *throttle_new(size_t max, uint64_t seed);
void throttle_free(struct throttle **t);

/* Counts one failure of key (borrowed) at now under p. A window opens at
 * a key's first failure and lasts p->window seconds; the next failure
 * after it opens a new one, counted from 1. ERR_INVALID for a NULL or
 * over-long key, ERR_NOMEM; note is then all zero. */
int throttle_fail(struct throttle *t, const struct throttle_params *p,
    const char *key, time_t now, struct throttle_note *note) MTLS_WUR;

/* key's verdict at now, counting nothing: REFUSE until refuse_for has
 * passed since it crossed refuse_after, SLOW while its window holds
 * slow_after failures or more, OK otherwise and for unknown keys. */
enum throttle_verdict throttle_check(const struct throttle *t,
    const struct throttle_params *p, const char *key, time_t now);

/* Keys tracked. */
size_t throttle_count(const struct throttle *t);

/* Connections held per source. */
struct srccount;

/* A table of at most max sources (>= 1), seeded as above. */
struct srccount *srccount_new(size_t max, uint64_t seed);
void srccount_free(struct srccount **c);

/* Counts one more connection of key (borrowed) if it holds fewer than
 * limit: 0, or ERR_FULL (its limit, or the table holds max sources),
 * ERR_INVALID for a NULL or over-long key, ERR_NOMEM. */
int srccount_add(struct srccount *c, const char *key, unsigned limit)
    MTLS_WUR;

/* One connection of key fewer; a source with none is forgotten. */
void srccount_del(struct srccount *c, const char *key);

unsigned srccount_get(const struct srccount *c, const char *key);
size_t srccount_sources(const struct srccount *c);

#endif
