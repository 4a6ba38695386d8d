/*
 * ratelimit.h: per-caller token buckets shared by every worker of an instance (issue 10).
 *
 * A caller is the verified token's (org, sub), else the client's address; each caller has one
 * bucket per route class. A bucket holds up to `burst` tokens and gains `rate` a second; a
 * request takes one token or is refused (429, nothing taken). Buckets live in the shared
 * region (shm.h, struct shm_ratelimit), so the limit holds for the instance whichever worker
 * a connection lands on; N instances behind a balancer allow up to N times the limit
 * (docs/DECISIONS.md, "Rate limits").
 *
 * Arithmetic is in thousandths of a token (`milli`): at rate R tokens a second a bucket gains
 * R milli a millisecond, so refills are exact integers. Times are CLOCK_MONOTONIC ms
 * (clock_mono_ms); a time earlier than the bucket's stamp (two processes' readings crossing)
 * refills nothing and leaves the stamp where it was; any elapsed time, however long, at most
 * fills the bucket.
 *
 * Headers: draft-ietf-httpapi-ratelimit-headers-11 (structured fields): RateLimit-Policy
 * `"<class>";q=<burst>;w=<seconds to refill burst>` and RateLimit `"<class>";r=<tokens
 * left>;t=<seconds until the bucket is full again>`; a 429 also carries Retry-After (RFC 9110
 * section 10.2.3), the seconds until the next token.
 */
#ifndef ENTERPRISED_RATELIMIT_H
#define ENTERPRISED_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "config.h"
#include "shm.h"

#define RATELIMIT_MILLI 1000 /* milli-tokens a token */
/* A key with this bit names a client address, not a verified token (ratelimit_key). Address
 * buckets may take only the table's even slots, RATELIMIT_ADDRESS_PROBE of any probe window,
 * so however many addresses flood the table, verified callers still find the odd ones. */
#define RATELIMIT_KEY_ADDRESS (1ULL << 63)
#define RATELIMIT_ADDRESS_PROBE (SHM_RL_PROBE / 2)
/* bytes of the caller bytes of a peer address (ratelimit_peer) */
#define RATELIMIT_PEER_MAX 18
/* the shared bucket of callers that found no slot has this many times one caller's shape */
#define RATELIMIT_OVERFLOW_SHARE SHM_RL_PROBE

struct ratelimit_verdict {
	int allowed;	      /* 1: go on; 0: answer 429 */
	int known;	      /* 0: the slot stayed locked and the request went on unmetered */
	int overflow;	      /* 1: charged to the class's shared overflow bucket */
	uint64_t remaining;   /* whole tokens left after this request */
	uint64_t retry_after; /* refused: seconds until the next token, >= 1 */
	uint64_t reset;	      /* seconds until the bucket is full again */
};

/* The bucket shape of a route class under c, or NULL when the class is not limited: limits
 * off (ratelimit enabled no), a rate of 0, or a class never limited (health, performance and
 * metrics endpoints, background work, unknown routes). */
const struct config_rate *ratelimit_policy(const struct config *c, enum shm_route_class cls);

/* Milli-tokens of a bucket that held `milli` at stamp_ms, at now_ms: never more than
 * burst x RATELIMIT_MILLI; unchanged when now_ms <= stamp_ms. Pure. */
int64_t ratelimit_refill(int64_t milli, uint64_t stamp_ms, uint64_t now_ms,
			 const struct config_rate *p);
/* Seconds (rounded up) until a bucket holding milli holds want milli; 0 if it does. Pure. */
uint64_t ratelimit_seconds_until(int64_t milli, int64_t want, const struct config_rate *p);

/*
 * The caller bytes of a client address sa (len bytes; NULL or an unknown family: "a?", every
 * such peer in one bucket) into out (RATELIMIT_PEER_MAX bytes): 'a', the family, then IPv4's
 * 4 bytes, or IPv6's first 8: a host is normally given a whole /64 (RFC 6177, RFC 7421), so
 * a bucket per IPv6 address would let one client spread over 2^64 buckets. An IPv4-mapped
 * IPv6 address (RFC 4291 section 2.5.5.2, a dual-stack listener) is its IPv4 address. Returns
 * the length used.
 */
size_t ratelimit_peer(const struct sockaddr *sa, size_t len, unsigned char *out);

/* The bucket key of (caller bytes, class): a hash under the region's secret, never 0, with
 * RATELIMIT_KEY_ADDRESS set exactly when the caller bytes name an address ('a' first). */
uint64_t ratelimit_key(const struct shm_region *r, enum shm_route_class cls, const void *caller,
		       size_t len);

/*
 * Takes one token from key's bucket of class cls, shaped p, at now_ms (clock_mono_ms), and
 * fills v. The bucket is found in the key's probe window, or made there in an empty slot or
 * in place of a bucket that is full again (least recently refilled first); with neither, the
 * request is charged to the class's overflow bucket (p x RATELIMIT_OVERFLOW_SHARE). Counts
 * refusals in r->ratelimit.limited. Returns v->allowed.
 */
int ratelimit_take(struct shm_region *r, enum shm_route_class cls, const struct config_rate *p,
		   uint64_t key, uint64_t now_ms, struct ratelimit_verdict *v);

/* Writes the two header values for class cls into policy and state (NUL-terminated). */
void ratelimit_headers(enum shm_route_class cls, const struct config_rate *p,
		       const struct ratelimit_verdict *v, char *policy, size_t policy_len,
		       char *state, size_t state_len);

#endif
