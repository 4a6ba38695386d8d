/*
 * idempotency.c: Idempotency-Key on the creating POSTs (see idempotency.h).
 *
 * One Redis key per (caller, key) holds, in turn: nothing; a running marker with the request's
 * fingerprint and a random claim token, written by SET NX (so exactly one of any number of
 * concurrent duplicates, on any worker or instance, runs); then the answer, written over the
 * marker by a compare-and-set on the token, kept 24 h. The marker lives the write's budget
 * plus a margin, so a worker that dies mid-request leaves no key locked for long; a write
 * that outlives its marker finds the compare-and-set refused and says so (log, the "lost"
 * counter): the one way a key can run twice.
 *
 * What is kept: every answer of the write itself below 500 (201, 400 from the database, 404,
 * 409 duplicate...), since running it again would give the same; not 408, 429 or 5xx, which
 * the client is meant to retry (the draft: a failed request that can be retried is not
 * final). Refusals before the write (authentication, the body's validation) never reach here:
 * they are a pure function of the request, so repeating them is already idempotent.
 */
#include "idempotency.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "backend.h"
#include "breaker.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "redis.h"
#include "worker.h"

static int
idempotency_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-_.:~+/=", c) != NULL;
}

int
idempotency_key_parse(const char *value, size_t len, char *out, size_t outlen, const char **why)
{
	size_t start = 0, end = len, i;

	while (start < end && (value[start] == ' ' || value[start] == '\t'))
		start++;
	while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
		end--;
	if (end - start >= 2 && value[start] == '"' && value[end - 1] == '"') {
		start++;
		end--;
	}
	if (end == start) {
		*why = "Idempotency-Key must not be empty";
		return -1;
	}
	if (end - start > IDEMPOTENCY_KEY_MAX || end - start >= outlen) {
		*why = "Idempotency-Key is longer than 255 characters";
		return -1;
	}
	for (i = start; i < end; i++) {
		if (value[i] == '\0' || !idempotency_key_char((unsigned char)value[i])) {
			*why =
			    "Idempotency-Key must be one string (RFC 8941) of letters, digits and "
			    "-_.:~+/=";
			return -1;
		}
	}
	memcpy(out, value + start, end - start);
	out[end - start] = '\0';
	return 0;
}

/* SHA-256 over parts, each preceded by its length as 8 bytes, as lower-case hex. */
static void
idempotency_digest(const char *const *parts, const size_t *lens, int n,
		   char out[IDEMPOTENCY_DIGEST_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, k;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int i, j;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char lenb[8];
		uint64_t l = lens[i];

		for (j = 0; j < 8; j++)
			lenb[j] = (unsigned char)(l >> (56 - 8 * j));
		if (EVP_DigestUpdate(ctx, lenb, sizeof(lenb)) != 1 ||
		    (lens[i] > 0 && EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1))
			abort();
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		abort();
	EVP_MD_CTX_free(ctx);
	for (k = 0; k < mdlen; k++)
		snprintf(out + 2 * k, 3, "%02x", md[k]);
}

void
idempotency_scope(const char *sub, const char *org, const char *key,
		  char out[IDEMPOTENCY_DIGEST_HEX])
{
	const char *parts[3] = {sub, org, key};
	size_t lens[3] = {strlen(sub), strlen(org), strlen(key)};

	idempotency_digest(parts, lens, 3, out);
}

void
idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
			char out[IDEMPOTENCY_DIGEST_HEX])
{
	const char *parts[3] = {method, path, body != NULL ? body : ""};
	size_t lens[3] = {strlen(method), strlen(path), body != NULL ? len : 0};

	idempotency_digest(parts, lens, 3, out);
}

/* --- the stored values --- */

/* bytes: a stored Location or ETag is shorter (ours are under 80) */
#define IDEMPOTENCY_HEADER_MAX 256

static const char *
idempotency_header(const struct http_response *res, const char *name)
{
	int i;

	for (i = 0; i < res->nheaders; i++)
		if (strcmp(res->headers[i].name, name) == 0)
			return res->headers[i].value;
	return "";
}

/* The static string of a content type the codec carries, or NULL. */
static const char *
idempotency_content_type(const char *s, size_t len)
{
	static const char *const types[] = {"application/json", "application/problem+json"};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == len && memcmp(types[i], s, len) == 0)
			return types[i];
	return NULL;
}

int
idempotency_answer_encode(const struct http_response *res, const char *fingerprint, struct buf *out)
{
	const char *type = res->content_type != NULL ? res->content_type : "";
	const char *location = idempotency_header(res, "location");
	const char *etag = idempotency_header(res, "etag");
	const char *body = res->body_ref != NULL ? res->body_ref : res->body.data;
	size_t body_len = res->body_ref != NULL ? res->body_ref_len : res->body.len;

	if (res->status < 100 || res->status > 599 ||
	    (type[0] != '\0' && idempotency_content_type(type, strlen(type)) == NULL) ||
	    strpbrk(location, "\r\n") != NULL || strpbrk(etag, "\r\n") != NULL ||
	    strlen(location) >= IDEMPOTENCY_HEADER_MAX || strlen(etag) >= IDEMPOTENCY_HEADER_MAX)
		return -1;
	buf_appendf(out, "A\n%s\n%d\n%s\n%s\n%s\n", fingerprint, res->status, type, location, etag);
	if (body != NULL)
		buf_append(out, body, body_len);
	return 0;
}

/* The next line of [*p, end): its start and length, *p moved past its newline. -1 when there
 * is no newline left. */
static int
idempotency_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return 0;
}

/* A stored header value: shorter than max, no CR, no NUL (LF ended the line). */
static int
idempotency_header_ok(const char *v, size_t n, size_t max)
{
	return n < max && memchr(v, '\r', n) == NULL && memchr(v, '\0', n) == NULL;
}

enum idempotency_kind
idempotency_decode(const char *value, size_t len, char fingerprint[IDEMPOTENCY_DIGEST_HEX],
		   struct http_response *res)
{
	const char *p = value, *end = value + len, *line, *type = NULL;
	size_t n;
	char tmp[IDEMPOTENCY_HEADER_MAX];
	int status = 0, running;

	if (len < 2 || (value[0] != 'R' && value[0] != 'A') || value[1] != '\n')
		return IDEMPOTENCY_BAD;
	running = value[0] == 'R';
	p += 2;
	if (idempotency_line(&p, end, &line, &n) != 0 || n != IDEMPOTENCY_DIGEST_HEX - 1 ||
	    strspn(line, "0123456789abcdef") < n)
		return IDEMPOTENCY_BAD;
	memcpy(fingerprint, line, n);
	fingerprint[n] = '\0';
	if (running) /* "R\n<fp>\n<token>": nothing of the token is needed */
		return IDEMPOTENCY_RUNNING;
	/* status */
	if (idempotency_line(&p, end, &line, &n) != 0 || n != 3)
		return IDEMPOTENCY_BAD;
	for (size_t i = 0; i < 3; i++) {
		if (line[i] < '0' || line[i] > '9')
			return IDEMPOTENCY_BAD;
		status = status * 10 + (line[i] - '0');
	}
	if (status < 100 || status > 599)
		return IDEMPOTENCY_BAD;
	/* content type */
	if (idempotency_line(&p, end, &line, &n) != 0 ||
	    (n > 0 && (type = idempotency_content_type(line, n)) == NULL))
		return IDEMPOTENCY_BAD;
	res->status = status;
	res->content_type = type;
	/* location, etag: header values, so no CR and no NUL either */
	if (idempotency_line(&p, end, &line, &n) != 0 ||
	    !idempotency_header_ok(line, n, sizeof(tmp)))
		return IDEMPOTENCY_BAD;
	if (n > 0) {
		memcpy(tmp, line, n);
		tmp[n] = '\0';
		http_response_header(res, "location", tmp);
	}
	if (idempotency_line(&p, end, &line, &n) != 0 ||
	    !idempotency_header_ok(line, n, sizeof(tmp)))
		return IDEMPOTENCY_BAD;
	if (n > 0) {
		memcpy(tmp, line, n);
		tmp[n] = '\0';
		http_response_header(res, "etag", tmp);
	}
	buf_append(&res->body, p, (size_t)(end - p));
	return IDEMPOTENCY_ANSWER;
}

/* --- the backend thread --- */

static void
idempotency_count(struct backend *b, enum shm_idem_outcome o)
{
	atomic_fetch_add_explicit(&b->worker->shm->idempotency[o], 1, memory_order_relaxed);
}

/* 503 + Retry-After: the key asks for a guarantee the service cannot give without Redis. */
static void
idempotency_unavailable(struct backend *b, struct http_response *res)
{
	idempotency_count(b, SHM_IDEM_UNAVAILABLE);
	http_response_problem(res, 503,
			      "the Idempotency-Key cannot be honoured now (its store is "
			      "unavailable); retry shortly with the same key");
	http_response_header_static(res, "retry-after", IDEMPOTENCY_RETRY_AFTER);
}

/* "R\n<fingerprint>\n<32 random hex digits>": who holds the key, for the compare-and-set. */
static int
idempotency_claim_make(struct idempotency *idem)
{
	unsigned char rnd[16];
	size_t used, i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	used = (size_t)snprintf(idem->claim, sizeof(idem->claim), "R\n%.64s\n", idem->fingerprint);
	/* 2 + 64 + 1 + 32 + NUL fits 100 bytes; claim is sized for it */
	for (i = 0; i < sizeof(rnd) && used + 2 < sizeof(idem->claim); i++, used += 2)
		snprintf(idem->claim + used, 3, "%02x", rnd[i]);
	return 0;
}

/* What the value found under the key says to a request that did not get the claim. */
static void
idempotency_answer_existing(struct backend *b, struct idempotency *idem, const struct buf *found,
			    struct http_response *res)
{
	char fp[IDEMPOTENCY_DIGEST_HEX];
	enum idempotency_kind kind = idempotency_decode(found->data, found->len, fp, res);

	if (kind == IDEMPOTENCY_BAD || strcmp(fp, idem->fingerprint) != 0) {
		http_response_free(res);
		http_response_init(res);
	}
	if (kind == IDEMPOTENCY_BAD) {
		log_error("idempotency: an unreadable value under key %.16s...", idem->scope);
		http_response_problem(res, 500,
				      "the answer kept for this Idempotency-Key is unreadable");
	} else if (strcmp(fp, idem->fingerprint) != 0) {
		idempotency_count(b, SHM_IDEM_MISMATCH);
		http_response_problem(res, 422,
				      "this Idempotency-Key was already used for another request "
				      "(method, path or body); a new request needs a new key");
	} else if (kind == IDEMPOTENCY_RUNNING) {
		idempotency_count(b, SHM_IDEM_CONFLICT);
		http_response_problem(
		    res, 409,
		    "a request with this Idempotency-Key is still being processed; "
		    "retry once it has completed");
		http_response_header_static(res, "retry-after", IDEMPOTENCY_RETRY_AFTER);
	} else {
		idempotency_count(b, SHM_IDEM_REPLAYED);
		http_response_header_static(res, "idempotent-replayed", "true");
	}
}

int
idempotency_begin(struct backend *b, struct idempotency *idem, int64_t lock_ms,
		  struct http_response *res)
{
	struct shm_breaker *breaker = &b->worker->shm->breakers[SHM_DEP_REDIS];
	struct breaker_config bc;
	struct redis_conn *rc;
	struct buf found;
	int got;

	breaker_config_of(&bc, b->worker->conf);
	if (!breaker_allow(breaker, &bc, clock_mono_ms())) {
		idempotency_unavailable(b, res);
		return -1;
	}
	if ((rc = backend_redis(b)) == NULL) {
		breaker_failure(breaker, &bc, clock_mono_ms());
		idempotency_unavailable(b, res);
		return -1;
	}
	if (idempotency_claim_make(idem) != 0) {
		log_error("idempotency: no random bytes for a claim token");
		idempotency_unavailable(b, res);
		return -1;
	}
	buf_init(&found);
	got = redis_idem_claim(rc, idem->scope, idem->claim, lock_ms, &found);
	if (got < 0) {
		breaker_failure(breaker, &bc, clock_mono_ms());
		idempotency_unavailable(b, res);
	} else {
		breaker_success(breaker, &bc);
		if (got == 1)
			idem->claimed = 1;
		else
			idempotency_answer_existing(b, idem, &found, res);
	}
	buf_free(&found);
	return got == 1 ? 0 : -1;
}

void
idempotency_end(struct backend *b, struct idempotency *idem, const struct http_response *res)
{
	struct redis_conn *rc;
	struct buf value;
	int final =
		res->status >= 100 && res->status < 500 && res->status != 408 && res->status != 429,
	    got = -1;

	if (!idem->claimed)
		return;
	idem->claimed = 0;
	buf_init(&value);
	if (final && idempotency_answer_encode(res, idem->fingerprint, &value) != 0) {
		log_warn("idempotency: a %d answer the codec cannot keep; the claim is dropped",
			 res->status);
		final = 0;
	}
	/* the breaker is not asked: this request holds a claim and must try to settle it */
	if ((rc = backend_redis(b)) != NULL)
		got = redis_idem_settle(rc, idem->scope, idem->claim, final ? value.data : NULL,
					value.len,
					res->status < 400 ? IDEMPOTENCY_TTL_MS
							  : IDEMPOTENCY_REFUSAL_TTL_MS);
	buf_free(&value);
	if (got == 1) {
		idempotency_count(b, final ? SHM_IDEM_STORED : SHM_IDEM_RELEASED);
		return;
	}
	idempotency_count(b, SHM_IDEM_LOST);
	if (got == 0)
		log_warn("idempotency: the claim of key %.16s... expired before its %d answer was "
			 "kept; a retry will run again",
			 idem->scope, res->status);
	else
		log_error("idempotency: Redis failed keeping the %d answer of key %.16s...; the "
			  "claim expires by itself",
			  res->status, idem->scope);
}
