/*
 * idempotency.h: the Idempotency-Key header on the POSTs that create (issue 10;
 * draft-ietf-httpapi-idempotency-key-header-07). A client that sends a key gets the first
 * answer to that key again, byte for byte, for 24 hours, however often it retries, and the
 * record is created at most once.
 *
 * The loop thread reads the key (idempotency_key_parse) and computes two digests: the scope
 * (who asks and with which key: the Redis key name) and the fingerprint (what is asked). The
 * backend thread, before the write, claims the key in Redis (idempotency_begin) and after it
 * keeps the answer there (idempotency_end). See docs/DECISIONS.md, "Idempotency-Key".
 */
#ifndef ENTERPRISED_IDEMPOTENCY_H
#define ENTERPRISED_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct backend;
struct http_response;

#define IDEMPOTENCY_KEY_MAX 255		/* bytes of a key, quotes not counted */
#define IDEMPOTENCY_TTL_MS 86400000	/* an answer is kept 24 h (the draft's example) */
/* an answer without a write (4xx: nothing was created) is kept 1 h: a retry within the hour
 * still replays it, and one caller's stream of new keys to refused requests cannot fill Redis
 * for a day (a 2xx keeps the 24 h the draft's example gives) */
#define IDEMPOTENCY_REFUSAL_TTL_MS 3600000
#define IDEMPOTENCY_LOCK_MARGIN_MS 3000 /* claim TTL beyond the write's budget */
#define IDEMPOTENCY_DIGEST_HEX 65	/* SHA-256 as 64 hex digits and a NUL */
#define IDEMPOTENCY_RETRY_AFTER "1"	/* s: a 409 (the first is running) or a 503 */

/* What a call with a key carries from the loop thread to the backend thread. */
struct idempotency {
	int on;					  /* the request carried a key */
	char scope[IDEMPOTENCY_DIGEST_HEX];	  /* SHA-256 of caller and key: the Redis name */
	char fingerprint[IDEMPOTENCY_DIGEST_HEX]; /* SHA-256 of method, path and body bytes */
	char claim[112];			  /* the running marker this request wrote */
	int claimed;				  /* the marker is in Redis */
};

/*
 * Parses an Idempotency-Key field value (len bytes, not NUL-terminated): an sf-string
 * (RFC 8941 §3.3.3) `"<key>"`, or, for the clients that send it so, the bare key; optional
 * spaces or tabs around it. The key is 1..IDEMPOTENCY_KEY_MAX bytes of ALPHA / DIGIT /
 * "-" / "_" / "." / ":" / "~" / "+" / "/" / "=" (a UUID, a ULID, base64 all fit); parameters,
 * lists, escapes and any other byte are refused. Returns 0 with key (NUL-terminated, quotes
 * removed: `"k"` and `k` are the same key) in out (at least IDEMPOTENCY_KEY_MAX + 1 bytes),
 * or -1 with a reason for the client in why.
 */
int idempotency_key_parse(const char *value, size_t len, char *out, size_t outlen,
			  const char **why);

/* SHA-256 (hex) of sub, org and key, each length-prefixed so no two triples collide: the
 * scope of a key (issue 10: two callers with one key never see each other's answers). */
void idempotency_scope(const char *sub, const char *org, const char *key,
		       char out[IDEMPOTENCY_DIGEST_HEX]);
/* SHA-256 (hex) of method, path and the body's bytes as received (not canonical JSON: a
 * retry sends the same bytes; the draft leaves the choice to the server), length-prefixed. */
void idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
			     char out[IDEMPOTENCY_DIGEST_HEX]);

/*
 * The stored values (Redis, REDIS_CACHE_PREFIX "i:<scope>"):
 *   running  "R\n<fingerprint>\n<claim token>"
 *   answer   "A\n<fingerprint>\n<status>\n<content type>\n<location>\n<etag>\n<body>"
 * Header values are the service's own (never a newline); content type is one of
 * application/json, application/problem+json or empty.
 */
enum idempotency_kind { IDEMPOTENCY_BAD = -1, IDEMPOTENCY_RUNNING, IDEMPOTENCY_ANSWER };

/* Appends the answer res under fingerprint to out. 0, or -1 when res cannot be kept (a content
 * type or header value the codec does not carry): then nothing is kept. */
int idempotency_answer_encode(const struct http_response *res, const char *fingerprint,
			      struct buf *out);
/* The kind of a stored value, its fingerprint copied to fingerprint; for an answer, res (an
 * initialised response) is filled with status, content type, Location, ETag and body. */
enum idempotency_kind idempotency_decode(const char *value, size_t len,
					 char fingerprint[IDEMPOTENCY_DIGEST_HEX],
					 struct http_response *res);

/*
 * Backend thread, before the write: claims idem's key for lock_ms (SET NX PX). Returns 0 when
 * this request holds the claim and must run; -1 with res answered otherwise: the stored answer
 * replayed (with Idempotent-Replayed: true), 409 while the first request runs, 422 when the
 * key came with another fingerprint, 503 with Retry-After when Redis cannot be asked (down or
 * its breaker open: a guarantee was asked for that cannot be given).
 */
int idempotency_begin(struct backend *b, struct idempotency *idem, int64_t lock_ms,
		      struct http_response *res);
/*
 * Backend thread, after the write answered res: a final answer (below 500, but 408 and 429)
 * replaces the claim for IDEMPOTENCY_TTL_MS; any other drops the claim so that a retry runs
 * again. Only while the claim is still this request's (a compare-and-set in Redis). Nothing
 * when idem holds no claim (no key, or idempotency_begin refused).
 */
void idempotency_end(struct backend *b, struct idempotency *idem, const struct http_response *res);

#endif
