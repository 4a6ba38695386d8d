/*
 * cache.h: the worker-memory level of the read cache (L1): a bounded LRU owned by one worker's
 * loop thread, so a hit never leaves that thread and needs no lock.
 *
 * Bounds: at most max_entries entries and max_bytes bytes (keys + bodies + ETags); the least
 * recently used entries go first. An entry also dies at its expiry (a short cap on the class's
 * TTL), or at the end of its stale grace when it has one (stale_until_ms), and as soon as one
 * of the invalidation epochs it was filled under has moved: each entry
 * remembers up to CACHE_MAX_DEPS (slot, value) pairs of the shared region's epoch table, and a
 * lookup compares them (relaxed atomic loads, nanoseconds) before answering.
 */
#ifndef ENTERPRISED_CACHE_H
#define ENTERPRISED_CACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_MAX_DEPS 4
#define CACHE_KEY_MAX 512

struct cache_dep {
	uint32_t slot;	/* index into the epoch table */
	uint64_t value; /* the epoch seen when the entry was filled */
};

struct cache_entry {
	const char *key;
	size_t key_len;
	const char *body; /* the identity (uncompressed) response body */
	size_t body_len;
	const char *etag; /* NUL-terminated, e.g. W/"3f2a..." */
	const char *content_type;
	uint64_t expires_ms;
	/* past expires_ms the entry is stale: kept (for cache_l1_get_stale) until this, ms on the
	 * same clock; 0 or <= expires_ms keeps nothing past expiry (issue 8) */
	uint64_t stale_until_ms;
	uint64_t filled_ms; /* when the origin answered (wall ms): the Age of a stale answer */
	struct cache_dep deps[CACHE_MAX_DEPS];
	int ndeps;
};

struct cache_l1;

struct cache_l1_stats {
	size_t entries;
	size_t bytes;
	uint64_t evictions; /* by the bounds */
	uint64_t expired;   /* by time */
	uint64_t stale;	    /* by an epoch */
};

/* NULL on allocation failure. */
struct cache_l1 *cache_l1_new(size_t max_entries, size_t max_bytes);
void cache_l1_free(struct cache_l1 *c);

/*
 * The entry for key if it is there, unexpired at now_ms and every one of its deps still
 * equals epochs[slot]; NULL otherwise. An entry whose deps moved, or that is past its
 * stale_until_ms (or expired without a grace), is dropped; an expired entry still in its grace
 * is kept for cache_l1_get_stale. The entry stays valid until the next put or del on this
 * cache, or the next get of the same key. A hit makes the entry most recently used.
 */
const struct cache_entry *cache_l1_get(struct cache_l1 *c, const char *key, size_t key_len,
				       uint64_t now_ms, const _Atomic uint64_t *epochs);
/*
 * The same, but an expired entry still within its stale grace is returned too (the caller
 * tells fresh from stale by expires_ms): the last good copy, for an answer when the origin
 * fails (issue 8). Deps are checked exactly as for a fresh entry: a copy filled under a moved
 * epoch is dropped and never returned. Does not touch the LRU order.
 */
const struct cache_entry *cache_l1_get_stale(struct cache_l1 *c, const char *key, size_t key_len,
					     uint64_t now_ms, const _Atomic uint64_t *epochs);

/*
 * Stores a copy of e (key, body, etag copied; content_type kept as a pointer, it must be a
 * static string). Replaces an entry with the same key. Returns 0, or -1 when the entry alone
 * is larger than max_bytes / 4 or the key longer than CACHE_KEY_MAX (nothing stored).
 */
int cache_l1_put(struct cache_l1 *c, const struct cache_entry *e);

void cache_l1_del(struct cache_l1 *c, const char *key, size_t key_len);
void cache_l1_stats(const struct cache_l1 *c, struct cache_l1_stats *out);

#endif
