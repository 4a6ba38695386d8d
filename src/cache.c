/*
 * cache.c: the worker-memory read cache (L1), see cache.h.
 *
 * One cache per worker loop thread and used by that thread only, so nothing here locks. The
 * one shared thing it reads is the epoch table, with relaxed loads: a writer moves the epoch
 * before it sends its response, and a read that must see the move arrives after that response
 * through the kernel (system calls on both sides), which orders the two on the hardware we run
 * on. Relaxed is what keeps a hit at a few nanoseconds per dep.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* Buckets are never more than this many (8 MiB of pointers); see struct cache_l1. */
#define CACHE_BUCKETS_MAX ((size_t)1 << 20)

/*
 * One entry is one malloc block: this header, then the key, the body and the ETag, each
 * followed by a NUL (not counted in the bytes bound; they make the copies safe to print).
 * `e` is the caller's view; its pointers point into `data`.
 */
struct cache_node {
	struct cache_entry e;
	struct cache_node *chain;	/* next in the same bucket */
	struct cache_node *prev, *next; /* LRU list, prev towards the most recent */
	uint64_t hash;			/* keyed hash of the key, compared before the bytes */
	size_t size;			/* key_len + body_len + strlen(etag) */
	char data[];
};

/*
 * The cache: a chained hash table plus an intrusive doubly linked LRU list over the same
 * nodes.
 *
 * - The bucket array is sized once, in cache_l1_new, to the power of two at or above
 *   max_entries (capped at CACHE_BUCKETS_MAX), and never rehashed: entries never exceed
 *   max_entries (a put evicts before it links), so the load factor stays at or below 1 (up
 *   to the cap: a million entries) and a lookup costs one hash of the key plus on average at
 *   most one node visited. Not growing means no rehash pause on the loop thread, at the cost
 *   of the whole array up front (8 bytes per allowed entry). max_entries 0 stores nothing.
 * - A bucket is the low bits of the 64-bit keyed hash of the key (hash.h); a chain node is compared
 * by its stored hash first, so a key's bytes are compared only on a full 64-bit match.
 * - `head` is the most recently used node, `tail` the least; get moves a hit to the head in
 *   O(1), eviction takes from the tail (O(1) plus the walk of its bucket's chain).
 * - entries == the number of nodes in the table == the number on the list; bytes == the sum
 *   of their `size`. After every put: entries <= max_entries and bytes <= max_bytes.
 * - A put is one malloc, a del or eviction one free; nothing else allocates after new.
 */
struct cache_l1 {
	struct cache_node **buckets;
	size_t mask; /* number of buckets - 1 */
	struct cache_node *head, *tail;
	size_t max_entries, max_bytes;
	struct cache_l1_stats stats;
	struct hash_secret secret; /* per process: clients choose keys, not their buckets */
};

struct cache_l1 *
cache_l1_new(size_t max_entries, size_t max_bytes)
{
	struct cache_l1 *c;
	size_t n = 1;

	while (n < max_entries && n < CACHE_BUCKETS_MAX)
		n <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->buckets = calloc(n, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	if (hash_secret_init(&c->secret) != 0) {
		free(c->buckets);
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

void
cache_l1_free(struct cache_l1 *c)
{
	struct cache_node *n, *next;

	if (c == NULL)
		return;
	for (n = c->head; n != NULL; n = next) {
		next = n->next;
		free(n);
	}
	free(c->buckets);
	free(c);
}

static struct cache_node **
cache_bucket(struct cache_l1 *c, uint64_t hash)
{
	return &c->buckets[hash & c->mask];
}

/* The address of the chain pointer that points at the key's node, or at the NULL ending the
 * chain when the key is absent: one walk serves lookup and unlinking. */
static struct cache_node **
cache_find(struct cache_l1 *c, const char *key, size_t key_len, uint64_t hash)
{
	struct cache_node **pp = cache_bucket(c, hash);

	for (; *pp != NULL; pp = &(*pp)->chain) {
		const struct cache_node *n = *pp;

		if (n->hash == hash && n->e.key_len == key_len &&
		    (key_len == 0 || memcmp(n->e.key, key, key_len) == 0))
			break;
	}
	return pp;
}

static void
cache_lru_unlink(struct cache_l1 *c, struct cache_node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void
cache_lru_push_front(struct cache_l1 *c, struct cache_node *n)
{
	n->prev = NULL;
	n->next = c->head;
	if (c->head != NULL)
		c->head->prev = n;
	else
		c->tail = n;
	c->head = n;
}

/* Removes the node that *pp points at from the table and the list, and frees it. */
static void
cache_remove(struct cache_l1 *c, struct cache_node **pp)
{
	struct cache_node *n = *pp;

	*pp = n->chain;
	cache_lru_unlink(c, n);
	c->stats.entries--;
	c->stats.bytes -= n->size;
	free(n);
}

static void
cache_evict_tail(struct cache_l1 *c)
{
	struct cache_node *t = c->tail;

	cache_remove(c, cache_find(c, t->e.key, t->e.key_len, t->hash));
	c->stats.evictions++;
}

/* 1 when every dep still holds the epoch the entry was filled under. Without an epoch table
 * an entry that has deps cannot be checked, so it counts as stale. */
static int
cache_deps_hold(const struct cache_entry *e, const _Atomic uint64_t *epochs)
{
	int i;

	if (e->ndeps > 0 && epochs == NULL)
		return 0;
	for (i = 0; i < e->ndeps; i++) {
		uint64_t now = atomic_load_explicit(&epochs[e->deps[i].slot], memory_order_relaxed);

		if (now != e->deps[i].value)
			return 0;
	}
	return 1;
}

/*
 * The node of key when it may still be answered at now_ms (fresh, or stale within its grace
 * when `stale`), its deps holding; NULL otherwise. A node past all use is dropped and freed
 * here, so a pointer an earlier get returned for this same key dies with it too, not only at
 * the next put or del.
 */
static struct cache_node *
cache_lookup(struct cache_l1 *c, const char *key, size_t key_len, uint64_t now_ms,
	     const _Atomic uint64_t *epochs, int stale)
{
	struct cache_node **pp, *n;

	if (key_len > CACHE_KEY_MAX)
		return NULL;
	pp = cache_find(c, key, key_len, hash_keyed(&c->secret, key, key_len));
	if ((n = *pp) == NULL)
		return NULL;
	if (now_ms >= n->e.expires_ms && now_ms >= n->e.stale_until_ms) {
		cache_remove(c, pp);
		c->stats.expired++;
		return NULL;
	}
	if (!cache_deps_hold(&n->e, epochs)) {
		cache_remove(c, pp);
		c->stats.stale++;
		return NULL;
	}
	if (now_ms >= n->e.expires_ms && !stale)
		return NULL; /* in its grace: kept for a stale answer, not a hit */
	return n;
}

const struct cache_entry *
cache_l1_get(struct cache_l1 *c, const char *key, size_t key_len, uint64_t now_ms,
	     const _Atomic uint64_t *epochs)
{
	struct cache_node *n = cache_lookup(c, key, key_len, now_ms, epochs, 0);

	if (n == NULL)
		return NULL;
	if (c->head != n) {
		cache_lru_unlink(c, n);
		cache_lru_push_front(c, n);
	}
	return &n->e;
}

const struct cache_entry *
cache_l1_get_stale(struct cache_l1 *c, const char *key, size_t key_len, uint64_t now_ms,
		   const _Atomic uint64_t *epochs)
{
	struct cache_node *n = cache_lookup(c, key, key_len, now_ms, epochs, 1);

	return n != NULL ? &n->e : NULL;
}

/* The one allocation of a put: a node holding copies of e's key, body and etag. */
static struct cache_node *
cache_node_new(const struct cache_entry *e, uint64_t hash, size_t etag_len)
{
	struct cache_node *n;
	char *p;

	n = malloc(sizeof(*n) + e->key_len + 1 + e->body_len + 1 + etag_len + 1);
	if (n == NULL)
		return NULL;
	n->e = *e;
	n->chain = n->prev = n->next = NULL;
	n->hash = hash;
	n->size = e->key_len + e->body_len + etag_len;

	p = n->data;
	if (e->key_len > 0)
		memcpy(p, e->key, e->key_len);
	p[e->key_len] = '\0';
	n->e.key = p;
	p += e->key_len + 1;

	if (e->body_len > 0)
		memcpy(p, e->body, e->body_len);
	p[e->body_len] = '\0';
	n->e.body = p;
	p += e->body_len + 1;

	if (e->etag != NULL) {
		memcpy(p, e->etag, etag_len + 1);
		n->e.etag = p;
	}
	return n;
}

/*
 * The copy is made before the old entry with the same key goes, so e may point into an entry
 * of this cache (a refreshed re-put). A refused put (too large, bad ndeps, no memory) still
 * drops the old entry with that key: the caller meant to replace it, and answering later
 * with the value it meant to replace would serve an older version than the last one offered.
 */
int
cache_l1_put(struct cache_l1 *c, const struct cache_entry *e)
{
	struct cache_node **pp, *n;
	size_t limit = c->max_bytes / 4, etag_len;
	uint64_t hash;

	if (e->key_len > CACHE_KEY_MAX)
		return -1; /* such a key can never have been stored */
	hash = hash_keyed(&c->secret, e->key, e->key_len);
	etag_len = e->etag != NULL ? strlen(e->etag) : 0;

	/* each term is checked alone first, so the sum cannot overflow */
	if (c->max_entries == 0 || e->ndeps < 0 || e->ndeps > CACHE_MAX_DEPS ||
	    e->body_len > limit || etag_len > limit ||
	    e->key_len + e->body_len + etag_len > limit ||
	    (n = cache_node_new(e, hash, etag_len)) == NULL) {
		pp = cache_find(c, e->key, e->key_len, hash);
		if (*pp != NULL)
			cache_remove(c, pp);
		return -1;
	}

	pp = cache_find(c, e->key, e->key_len, hash);
	if (*pp != NULL)
		cache_remove(c, pp);
	/* make room first, so the table never holds more than max_entries */
	while (c->tail != NULL &&
	       (c->stats.entries + 1 > c->max_entries || c->stats.bytes + n->size > c->max_bytes))
		cache_evict_tail(c);

	pp = cache_bucket(c, hash);
	n->chain = *pp;
	*pp = n;
	cache_lru_push_front(c, n);
	c->stats.entries++;
	c->stats.bytes += n->size;
	return 0;
}

void
cache_l1_del(struct cache_l1 *c, const char *key, size_t key_len)
{
	struct cache_node **pp;

	if (key_len > CACHE_KEY_MAX)
		return;
	pp = cache_find(c, key, key_len, hash_keyed(&c->secret, key, key_len));
	if (*pp != NULL)
		cache_remove(c, pp);
}

void
cache_l1_stats(const struct cache_l1 *c, struct cache_l1_stats *out)
{
	*out = c->stats;
}
