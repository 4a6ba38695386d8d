/*
 * readcache.h: cached reads, the guide's cache-aside in two levels: worker memory (L1, on the
 * loop thread), then Redis (L2, on a backend thread), then MongoDB.
 *
 * A cached read is described by a key (everything the response depends on: route, path
 * parameters, query string, and the caller's scope) and up to READCACHE_MAX_DEPS dependency
 * names ("organization:<id>", "list:organization", ...). A write names what it changed with
 * readcache_invalidate, before it answers:
 *	- this instance: the dependencies' epochs in the shared region move, so every worker's
 *	  L1 entries that depend on them are stale at once;
 *	- every instance: the dependencies' generations in Redis are incremented (L2 values read
 *	  under an older generation are never served again, which also closes the cache-aside
 *	  race: a reader that fetched before the write stores its value under the old
 *	  generation), and the names are published; each instance's monitor moves its own
 *	  epochs when it hears them. Workers use L1 only while that subscription is live.
 * Every answer says where it came from: X-Cache: HIT-L1, HIT-L2, MISS or STALE, and
 * Cache-Status (RFC 9211).
 */
#ifndef ENTERPRISED_READCACHE_H
#define ENTERPRISED_READCACHE_H

#include <signal.h>
#include <stddef.h>

#include "auth.h"
#include "backend.h"
#include "cache.h"
#include "config.h"
#include "http.h"
#include "shm.h"

/*
 * Workers trust their memory (L1) only under a lease the monitor's listener renews: until
 * READCACHE_LEASE_MS after the send of a PING whose PONG came back (every invalidation
 * published before that PING is applied by then). A write waits for every listener's
 * acknowledgement of its invalidation, at most this long (redis_cache_invalidate).
 */
#define READCACHE_LEASE_MS 100
#define READCACHE_MAX_DEPS 3 /* plus the global dependency every entry has */
#define READCACHE_DEP_MAX 96
/* Every entry depends on it: moved when the listener (re)subscribes, since invalidations
 * published while it was away were lost. */
#define READCACHE_GLOBAL "global"

struct readcache_spec {
	enum shm_resource resource; /* whose counters */
	int ttl_s;		    /* the class TTL (CACHE_TTL_*) */
	char key[CACHE_KEY_MAX];
	size_t key_len;
	char deps[READCACHE_MAX_DEPS][READCACHE_DEP_MAX];
	int ndeps;
	int uncached; /* no key could be made: read through, store nothing */
};

void readcache_spec_init(struct readcache_spec *s, enum shm_resource resource, int ttl_s);
/*
 * Sets the key of a read: "<resource>|<scope>|<path>?<query>", where query is the canonical
 * form of the validated query string (http_query_canonical: decoded, sorted by name,
 * re-encoded), so reordered or differently encoded parameters share one entry. Resource and
 * the caller's scope (what the caller may see decides the answer) come first and are never
 * cut; when the whole would not fit in CACHE_KEY_MAX, the path and query part is replaced by
 * "#<SHA-256 in hex>". Returns 0, or -1 (no digest): the read must then not be cached.
 * Rule: issue 7 (a cut key once let one organization read another's cached list).
 */
struct buf;
int readcache_key_build(struct readcache_spec *s, const struct auth_principal *who,
			const char *path, const struct buf *query);
void readcache_dep(struct readcache_spec *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Answers from worker memory, or defers work (which reads MongoDB) behind the Redis level.
 * arg is owned from here and released with ops->free. Issue 8: when the read fails (502, 503,
 * 504, its read budget passed) and a copy past its TTL but within its grace is kept, the
 * answer is that copy (X-Cache: STALE); a hit late in its TTL refetches the key in the
 * background with arg, after ops->renew(arg, budget ms) gave it the background budget
 * (renew NULL: no refresh); cache warming keeps ops->copy(arg) of hot keys (copy NULL: not
 * warmed). Every answer carries Cache-Status (RFC 9211).
 */
struct readcache_arg_ops {
	void (*free)(void *arg);		 /* never NULL */
	void (*renew)(void *arg, int budget_ms); /* a new budget from now, ms */
	void *(*copy)(const void *arg);		 /* a deep copy, or NULL on failure */
};
void readcache_get(struct http_req *r, const struct readcache_spec *spec, http_work_fn work,
		   void *arg, const struct readcache_arg_ops *ops);
/* Loop thread, every pass of the worker's loop: at every cache_warm_interval, refetches the
 * keys that were hot in the interval just ended (issue 8, cache warming). */
void readcache_warm_tick(struct worker *w);

/*
 * Background work (reports.c), on a backend thread: reads the generations of spec's
 * dependencies from Redis, runs work(b, arg, res) as a request's miss would, and stores a 200
 * answer in Redis under spec's key, where a request with the same key finds it (X-Cache:
 * HIT-L2). The generations are read before the work, so a write during the work leaves the
 * stored value stale, as on a request's miss. res holds the work's answer either way. Returns
 * 0 when stored; -1 when the cache is off, Redis fails (counted as a cache error) or the work
 * did not answer 200. Rule: issue 9 ("precomputed on a schedule so that its request is a cache
 * hit").
 */
int readcache_precompute(struct backend *b, const struct readcache_spec *spec, http_work_fn work,
			 void *arg, struct http_response *res);

/* After a successful write, on the backend thread, before the answer (see above). */
void readcache_invalidate(struct backend *b, enum shm_resource resource, const char *const *deps,
			  int ndeps);

/* The reads a worker has in flight (see readcache.c); owned by the worker. */
struct readcache_flights;
struct readcache_flights *readcache_flights_new(void);
void readcache_flights_free(struct readcache_flights *f);

#endif
