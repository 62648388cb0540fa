#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "throttle.h"

/*
 * Both tables are one chained hash table of fixed-size keys, with its
 * entries also on a list in the order they were last touched (most recent
 * first), which is what a full throttle table evicts from. The bucket
 * count is a power of two, at least the number of entries allowed, so a
 * chain holds about one entry.
 */

/* How many of the least recent entries a full throttle table looks at
 * for one it may evict: bounded work, whatever the table holds. */
#define THROTTLE_EVICT_TRIES 8

struct kentry {
	char key[THROTTLE_KEY_LEN];
	struct kentry *next;                 /* bucket chain */
	struct kentry *lru_prev, *lru_next;  /* most recently touched first */
	/* throttle */
	time_t window_start;
	unsigned failures;                   /* in the window */
	time_t refused_until;                /* 0: not refused */
	int said_slow, said_refuse;          /* announced in this window */
	/* srccount */
	unsigned conns;
};

struct ktab {
	struct kentry **buckets;
	size_t n_buckets;
	size_t count;
	size_t max;
	uint64_t seed;
	struct kentry *lru_head, *lru_tail;
};

struct throttle {
	struct ktab tab;
};

struct srccount {
	struct ktab tab;
};

/* --- the table ------------------------------------------------------------ */

static int
ktab_init(struct ktab *t, size_t max, uint64_t seed)
{
	size_t n = 16;

	if (max == 0)
		return ERR_INVALID;
	while (n < max && n < (SIZE_MAX / sizeof(*t->buckets)) / 2)
		n *= 2;
	if ((t->buckets = calloc(n, sizeof(*t->buckets))) == NULL)
		return ERR_NOMEM;
	t->n_buckets = n;
	t->max = max;
	t->seed = seed;
	return 0;
}

static void
ktab_clear(struct ktab *t)
{
	struct kentry *e, *next;

	for (e = t->lru_head; e != NULL; e = next) {
		next = e->lru_next;
		free(e);
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

/* FNV-1a from a secret start, then a 64-bit finaliser (splitmix64) so
 * that the low bits, which pick the bucket, depend on every byte. */
static size_t
ktab_bucket(const struct ktab *t, const char *key)
{
	uint64_t v = 14695981039346656037ULL ^ t->seed;

	for (; *key != '\0'; key++)
		v = (v ^ (unsigned char)*key) * 1099511628211ULL;
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebULL;
	v ^= v >> 31;
	return (size_t)v & (t->n_buckets - 1);
}

static int
key_ok(const char *key)
{
	return key != NULL && memchr(key, '\0', THROTTLE_KEY_LEN) != NULL;
}

static struct kentry *
ktab_find(const struct ktab *t, const char *key)
{
	struct kentry *e;

	for (e = t->buckets[ktab_bucket(t, key)]; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static void
lru_unlink(struct ktab *t, struct kentry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push(struct ktab *t, struct kentry *e)
{
	e->lru_prev = NULL;
	e->lru_next = t->lru_head;
	if (t->lru_head != NULL)
		t->lru_head->lru_prev = e;
	t->lru_head = e;
	if (t->lru_tail == NULL)
		t->lru_tail = e;
}

static void
ktab_touch(struct ktab *t, struct kentry *e)
{
	if (t->lru_head == e)
		return;
	lru_unlink(t, e);
	lru_push(t, e);
}

/* A new entry for key (known to be absent), or NULL without memory.
 * The caller has made room. */
static struct kentry *
ktab_insert(struct ktab *t, const char *key)
{
	struct kentry *e;
	size_t b;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	memcpy(e->key, key, strlen(key) + 1);
	b = ktab_bucket(t, key);
	e->next = t->buckets[b];
	t->buckets[b] = e;
	lru_push(t, e);
	t->count++;
	return e;
}

static void
ktab_remove(struct ktab *t, struct kentry *e)
{
	struct kentry **pp;

	for (pp = &t->buckets[ktab_bucket(t, e->key)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	lru_unlink(t, e);
	t->count--;
	free(e);
}

/* --- failed attempts ------------------------------------------------------ */

struct throttle *
throttle_new(size_t max, uint64_t seed)
{
	struct throttle *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (ktab_init(&t->tab, max, seed) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void
throttle_free(struct throttle **tp)
{
	if (tp == NULL || *tp == NULL)
		return;
	ktab_clear(&(*tp)->tab);
	free(*tp);
	*tp = NULL;
}

static int
refusing(const struct kentry *e, time_t now)
{
	return e->refused_until != 0 && now < e->refused_until;
}

static int
in_window(const struct kentry *e, const struct throttle_params *p,
    time_t now)
{
	return e->failures > 0 && now >= e->window_start &&
	    now - e->window_start < (time_t)p->window;
}

/* Room for one more key: the least recently failed entry that is not
 * being refused goes. 0, or ERR_FULL when none may. */
static int
throttle_make_room(struct throttle *t, time_t now)
{
	struct kentry *e = t->tab.lru_tail;

	if (t->tab.count < t->tab.max)
		return 0;
	for (int i = 0; i < THROTTLE_EVICT_TRIES && e != NULL; i++) {
		if (!refusing(e, now)) {
			ktab_remove(&t->tab, e);
			return 0;
		}
		e = e->lru_prev;
	}
	return ERR_FULL;
}

static enum throttle_verdict
verdict_of(const struct kentry *e, const struct throttle_params *p,
    time_t now)
{
	if (refusing(e, now))
		return THROTTLE_REFUSE;
	if (p->slow_after > 0 && in_window(e, p, now) &&
	    e->failures >= p->slow_after)
		return THROTTLE_SLOW;
	return THROTTLE_OK;
}

/* One more failure in e's window (a new window if the last one has
 * passed), and whether it crosses a threshold for the first time. */
static void
count_failure(struct kentry *e, const struct throttle_params *p,
    time_t now, struct throttle_note *note)
{
	if (!in_window(e, p, now)) {
		e->window_start = now;
		e->failures = 0;
		e->said_slow = 0;
		e->said_refuse = 0;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	if (p->refuse_after > 0 && e->failures >= p->refuse_after &&
	    !refusing(e, now)) {
		e->refused_until = now + (time_t)p->refuse_for;
		note->announce = !e->said_refuse;
		e->said_refuse = 1;
	} else if (p->slow_after > 0 && e->failures >= p->slow_after &&
	    !e->said_slow && !refusing(e, now)) {
		note->announce = 1;
		e->said_slow = 1;
	}
	note->failures = e->failures;
	note->verdict = verdict_of(e, p, now);
}

int
throttle_fail(struct throttle *t, const struct throttle_params *p,
    const char *key, time_t now, struct throttle_note *note)
{
	struct kentry *e;

	if (note != NULL)
		memset(note, 0, sizeof(*note));
	if (t == NULL || p == NULL || note == NULL || !key_ok(key))
		return ERR_INVALID;
	if ((e = ktab_find(&t->tab, key)) == NULL) {
		/* A table full of refused sources keeps them refused rather
		 * than forget one for a newcomer. */
		if (throttle_make_room(t, now) != 0)
			return 0;
		if ((e = ktab_insert(&t->tab, key)) == NULL)
			return ERR_NOMEM;
	}
	ktab_touch(&t->tab, e);
	count_failure(e, p, now, note);
	return 0;
}

enum throttle_verdict
throttle_check(const struct throttle *t, const struct throttle_params *p,
    const char *key, time_t now)
{
	const struct kentry *e;

	if (t == NULL || p == NULL || !key_ok(key) ||
	    (e = ktab_find(&t->tab, key)) == NULL)
		return THROTTLE_OK;
	return verdict_of(e, p, now);
}

size_t
throttle_count(const struct throttle *t)
{
	return t == NULL ? 0 : t->tab.count;
}

/* --- connections per source ----------------------------------------------- */

struct srccount *
srccount_new(size_t max, uint64_t seed)
{
	struct srccount *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (ktab_init(&c->tab, max, seed) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
srccount_free(struct srccount **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	ktab_clear(&(*cp)->tab);
	free(*cp);
	*cp = NULL;
}

int
srccount_add(struct srccount *c, const char *key, unsigned limit)
{
	struct kentry *e;

	if (c == NULL || !key_ok(key))
		return ERR_INVALID;
	if ((e = ktab_find(&c->tab, key)) == NULL) {
		if (limit == 0 || c->tab.count >= c->tab.max)
			return ERR_FULL;
		if ((e = ktab_insert(&c->tab, key)) == NULL)
			return ERR_NOMEM;
	}
	if (e->conns >= limit)
		return ERR_FULL;
	e->conns++;
	return 0;
}

void
srccount_del(struct srccount *c, const char *key)
{
	struct kentry *e;

	if (c == NULL || !key_ok(key) || (e = ktab_find(&c->tab, key)) == NULL)
		return;
	if (--e->conns == 0)
		ktab_remove(&c->tab, e);
}

unsigned
srccount_get(const struct srccount *c, const char *key)
{
	const struct kentry *e;

	if (c == NULL || !key_ok(key) || (e = ktab_find(&c->tab, key)) == NULL)
		return 0;
	return e->conns;
}

size_t
srccount_sources(const struct srccount *c)
{
	return c == NULL ? 0 : c->tab.count;
}
