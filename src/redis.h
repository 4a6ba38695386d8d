/*
 * redis.h: one hiredis connection per backend thread, with connect and command timeouts in
 * milliseconds so that a dead or hung Redis never holds a request longer than that. A failed
 * connection is retried at most every REDIS_RETRY_MS, so an outage costs one fast failure per
 * request, not a connect timeout each.
 */
#ifndef ENTERPRISED_REDIS_H
#define ENTERPRISED_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "shm.h"

#define REDIS_RETRY_MS 500

struct redis_conn;
typedef struct redisContext redisContext;

struct redis_url {
	char host[256];
	int port;
	int db;
	char password[256];
};

/* Parses redis://[:password@]host[:port][/db]; 0, or -1 with err. */
int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen);

struct redis_conn *redis_conn_new(const struct config *c);
void redis_conn_free(struct redis_conn *rc);
/* Connects if needed (honouring the retry interval); 0 when connected. */
int redis_conn_ensure(struct redis_conn *rc);
/* Drops the connection after an error, so the next use reconnects. */
void redis_conn_reset(struct redis_conn *rc);
/*
 * Redis Sentinel (issue 11): points rc at the master the monitor published in shm; when it
 * moved since rc connected, drops the connection so the next use connects to the new one at
 * once. 0, or -1 while no master is published (Redis counts as down).
 */
int redis_conn_follow(struct redis_conn *rc, struct shm_region *shm);
redisContext *redis_conn_context(struct redis_conn *rc);
/* PING; 0, or -1 with err (and the connection reset). */
int redis_ping(struct redis_conn *rc, char *err, size_t errlen);

/*
 * The read cache's shared level. Key schema (versioned, so a format change never reads old
 * values): REDIS_CACHE_PREFIX "r:<key>" holds a cached response as "<gen>,<gen>,...;<filled_ms>
 * \n<etag>\n<body>", where each gen is the generation of one dependency when the response was read
 * from the database; REDIS_CACHE_PREFIX "g:<dependency>" holds that generation (a counter a
 * write increments). A response is fresh only while every generation still matches, so a
 * write invalidates in O(1) whatever depends on it, and a reader that fetched before a write
 * can store its value but nobody will ever take it.
 */
#define REDIS_CACHE_PREFIX "ent:v1:"
#define REDIS_CACHE_CHANNEL REDIS_CACHE_PREFIX "invalidate"
#define REDIS_CACHE_MAX_DEPS 4
#define REDIS_GEN_TTL_S (7 * 24 * 3600)

struct buf;

/*
 * MGET of the response and its dependencies' generations. A value is
 * "<gen>,<gen>,...;<filled_ms>\n<etag>\n<body>" (filled_ms: wall ms when the database answered;
 * a value without it, written before issue 8, counts as filled now). Returns 1 on a fresh hit
 * (filled less than ttl_s ago), 2 on a stale copy (older, its key still alive: it lives
 * ttl_s + its grace), both with value holding "<etag>\n<body>" and *filled_ms set; 0 on a miss
 * or when a generation moved (a copy under an older generation is never returned, stale or
 * not: a write wins); -1 on a Redis error (the connection is reset). gens holds the current
 * generations in every case but -1, to store a fill under.
 */
int redis_cache_lookup(struct redis_conn *rc, const char *key, size_t key_len,
		       const char *const *deps, int ndeps, int ttl_s, uint64_t now_ms,
		       uint64_t *gens, struct buf *value, uint64_t *filled_ms);
/* SET of a response read under gens at filled_ms (wall), kept ttl_s + grace_s seconds (fresh
 * for ttl_s, then a stale copy). 0, or -1 on error. */
int redis_cache_store(struct redis_conn *rc, const char *key, size_t key_len, const uint64_t *gens,
		      int ndeps, uint64_t filled_ms, const char *etag, const char *body,
		      size_t body_len, int ttl_s, int grace_s);
/*
 * SET key NX PX ttl_ms of REDIS_CACHE_PREFIX "l:<key>": the one refresh of key across
 * processes and instances (issue 8, stale-while-revalidate). 1 when taken, 0 when another
 * holds it, -1 on error.
 */
int redis_cache_lock(struct redis_conn *rc, const char *key, size_t key_len, int ttl_ms);
/*
 * Batch reads of documents (REDIS_CACHE_PREFIX "d:<key>", stored as "<gen>\n<bytes>"): ONE
 * MGET of the n keys and the generations of their n dependencies. For each i: fresh[i] is 1
 * when the stored gen is current, and then values[i] holds the bytes; gens[i] is the current
 * generation (to store a miss under). 0, or -1 on a Redis error.
 */
int redis_cache_mget(struct redis_conn *rc, const char *const *keys, const char *const *deps,
		     size_t n, uint64_t *gens, struct buf *values, int *fresh);
/* The misses back, in ONE pipeline of SET ... EX ttl_s. 0, or -1 on error. */
int redis_cache_mset(struct redis_conn *rc, const char *const *keys, const uint64_t *gens,
		     const struct buf *values, size_t n, int ttl_s);

/*
 * One pipeline: INCR (and refresh the TTL of) every dependency's generation, then PUBLISH the
 * names to every instance's listener (readcache_listener.c) as "#<ack id> name name ...".
 * Then, when ack_wait_ms > 0, waits until every subscriber PUBLISH reached pushed its
 * acknowledgement (it applied the names to its instance's epochs) on REDIS_CACHE_PREFIX
 * "a:<ack id>", or ack_wait_ms passed: an instance that did not acknowledge by then has
 * stopped trusting its worker memory (its lease, READCACHE_LEASE_MS, ran out), so once this
 * returns no instance answers a value from before the write (issue 11: read-your-writes
 * across instances). 0 (also when acknowledgements are missing), or -1 on error.
 */
int redis_cache_invalidate(struct redis_conn *rc, const char *const *deps, int ndeps,
			   int ack_wait_ms);
/* The same on a bare connection (the monitor's listener, before it subscribes), without an
 * ack id and without waiting: 0, 1 when Redis answered an error, -1 when the connection
 * failed (the caller drops it). */
int redis_cache_invalidate_on(redisContext *ctx, const char *const *deps, int ndeps);

/*
 * Idempotency keys (idempotency.h): REDIS_IDEM_PREFIX "<scope>" holds a running marker or a
 * kept answer. redis_idem_claim is SET name claim NX GET PX ttl_ms: 1 when this caller took
 * it, 0 with the value already there appended to existing, -1 on error (connection reset).
 * redis_idem_settle replaces the claim with value for ttl_ms, or deletes it when value is NULL,
 * only while it still holds claim (a script: compare and set in one step): 1 when done, 0 when
 * the claim was no longer there (it expired), -1 on error.
 */
#define REDIS_IDEM_PREFIX REDIS_CACHE_PREFIX "i:"
/* ms: the least command timeout of these two (the configured one when longer): they are on
 * the write path, where a timeout refuses a request or loses an answer */
#define REDIS_IDEM_TIMEOUT_MS 500
int redis_idem_claim(struct redis_conn *rc, const char *scope, const char *claim, int64_t ttl_ms,
		     struct buf *existing);
int redis_idem_settle(struct redis_conn *rc, const char *scope, const char *claim,
		      const char *value, size_t len, int64_t ttl_ms);

#endif
