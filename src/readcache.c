/* readcache.c: cached reads in two levels (see readcache.h). */
#include "readcache.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "clock.h"
#include "breaker.h"
#include "buf.h"
#include "hash.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "worker.h"

#define READCACHE_JSON "application/json"

/* x-debug-fill-delay-ms (debug_routes only) is capped here */
#define READCACHE_DEBUG_DELAY_MAX_MS 10000

struct readcache_flight;

struct readcache_job {
	struct readcache_spec spec;
	struct worker *worker;
	http_work_fn work;
	void *arg;
	const struct readcache_arg_ops *ops;	 /* how arg is released, renewed, copied */
	struct cache_dep l1deps[CACHE_MAX_DEPS]; /* epochs seen before anything was read */
	int nl1deps;
	int enabled;
	int stored_l2; /* the answer came from L2 or was stored there */
	int have_gens; /* the lookup read the generations, to store the fill under */
	uint64_t gens[READCACHE_MAX_DEPS + 1];
	struct readcache_flight *flight; /* while in flight, the entry others can follow */
	struct http_job *http_job;	 /* the work they follow */
	int fill_delay_ms;  /* debug_routes only: sleep between the database and the fill */
	int warm;	    /* a refresh by cache warming: goes to the database even when not due */
	uint64_t filled_ms; /* of the value answered from L2 or filled (wall ms) */
	int refresh_due;    /* an L2 hit in the last part of its TTL (issue 8) */
	int refresh;	    /* a refresh nobody waits for, not a request's read */
	/*
	 * The last good copy past its TTL (issue 8): taken from worker memory on the loop thread
	 * before the job is queued, or else from Redis by the lookup stage, which publishes it
	 * with has_stale (release) since the loop thread may read it at a deadline while the
	 * database stage still runs. Written once, never after has_stale is set.
	 */
	_Atomic int has_stale;
	int stale_from_l1; /* the copy came from worker memory: usable under its lease only */
	struct buf stale_body;
	char stale_etag[ETAG_MAX];
	uint64_t stale_filled_ms;
};

/*
 * Reads in flight, per worker (loop thread only): a request that misses worker memory while
 * the same key is already being fetched waits for that answer instead of fetching it again,
 * so a hot key that expires sends one query to Redis and MongoDB, not one per request. A
 * request may follow only while none of the leader's epochs has moved: an answer read before
 * an acknowledged write is never handed to a request that came after it.
 */
#define READCACHE_FLIGHT_BUCKETS 256

struct readcache_flight {
	struct readcache_flight *next;
	uint64_t hash;
	struct readcache_job *owner;
	size_t key_len;
	char key[];
};

/*
 * Cache warming (issue 8): the keys read most in the current window, per worker, each with a
 * copy of the work's argument so it can be fetched again with no request. A read of a key
 * that is not in the table takes a free slot, or the slot of a key not read in this window;
 * at the end of each window the keys read at least READCACHE_HOT_MIN times are refetched in
 * the background class and every count starts again.
 */
#define READCACHE_HOT_MAX 256
#define READCACHE_HOT_MIN 2

struct readcache_hot {
	uint64_t hash; /* 0: free */
	uint32_t hits;
	struct readcache_spec spec;
	http_work_fn work;
	void *arg; /* owned: ops->copy of a request's */
	const struct readcache_arg_ops *ops;
};

struct readcache_flights {
	struct readcache_flight *buckets[READCACHE_FLIGHT_BUCKETS];
	struct hash_secret secret; /* keys come from clients: their buckets must not */
	struct readcache_hot hot[READCACHE_HOT_MAX];
	int nhot;	       /* slots in use of the configured cache_warm_keys */
	uint64_t warm_next_ms; /* mono ms of the end of the window */
};

struct readcache_flights *
readcache_flights_new(void)
{
	struct readcache_flights *f = calloc(1, sizeof(*f));

	if (f != NULL && hash_secret_init(&f->secret) != 0) {
		free(f);
		return NULL;
	}
	return f;
}

void
readcache_flights_free(struct readcache_flights *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < READCACHE_FLIGHT_BUCKETS; i++) {
		while (f->buckets[i] != NULL) {
			struct readcache_flight *e = f->buckets[i];

			f->buckets[i] = e->next;
			free(e); /* its owner, if any, is being freed with the server */
		}
	}
	for (i = 0; i < READCACHE_HOT_MAX; i++)
		if (f->hot[i].arg != NULL)
			f->hot[i].ops->free(f->hot[i].arg);
	free(f);
}

static struct readcache_flight *
readcache_flight_find(struct readcache_flights *f, const char *key, size_t len, uint64_t hash)
{
	struct readcache_flight *e = f->buckets[hash % READCACHE_FLIGHT_BUCKETS];

	for (; e != NULL; e = e->next)
		if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

static void
readcache_flight_remove(struct readcache_flights *f, struct readcache_flight *gone)
{
	struct readcache_flight **pp = &f->buckets[gone->hash % READCACHE_FLIGHT_BUCKETS];

	while (*pp != NULL && *pp != gone)
		pp = &(*pp)->next;
	if (*pp == gone)
		*pp = gone->next;
	gone->owner->flight = NULL;
	free(gone);
}

static void
readcache_flight_add(struct readcache_flights *f, struct readcache_job *owner,
		     struct http_job *http_job)
{
	uint64_t hash = hash_keyed(&f->secret, owner->spec.key, owner->spec.key_len);
	struct readcache_flight *e, *old;
	size_t b = hash % READCACHE_FLIGHT_BUCKETS;

	/* a newer fetch of the key (the old one could not be followed) replaces the old entry */
	if ((old = readcache_flight_find(f, owner->spec.key, owner->spec.key_len, hash)) != NULL)
		readcache_flight_remove(f, old);
	if ((e = malloc(sizeof(*e) + owner->spec.key_len)) == NULL)
		return;
	e->hash = hash;
	e->owner = owner;
	e->key_len = owner->spec.key_len;
	memcpy(e->key, owner->spec.key, owner->spec.key_len);
	e->next = f->buckets[b];
	f->buckets[b] = e;
	owner->flight = e;
	owner->http_job = http_job;
}

/* 1 while none of the epochs job read at its start has moved since. */
static int
readcache_deps_current(const struct worker *w, const struct readcache_job *job)
{
	int i;

	for (i = 0; i < job->nl1deps; i++)
		if (atomic_load_explicit(&w->shm->epochs[job->l1deps[i].slot],
					 memory_order_acquire) != job->l1deps[i].value)
			return 0;
	return 1;
}

static void
readcache_count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* --- building a spec --- */

void
readcache_spec_init(struct readcache_spec *s, enum shm_resource resource, int ttl_s)
{
	memset(s, 0, sizeof(*s));
	s->resource = resource;
	s->ttl_s = ttl_s;
}

static void
readcache_vappend(char *dst, size_t cap, size_t *len, const char *fmt, va_list ap)
{
	int n;

	if (*len >= cap - 1)
		return;
	n = vsnprintf(dst + *len, cap - *len, fmt, ap);
	if (n > 0)
		*len = *len + (size_t)n < cap - 1 ? *len + (size_t)n : cap - 1;
}

/* The caller's scope: what the caller may see decides the answer. The provider's subject is
 * length-prefixed, so no subject can end where another key's request part begins. */
static int
readcache_scope(const struct auth_principal *who, char *out, size_t outlen)
{
	switch (who->role) {
	case AUTH_ROLE_PLATFORM_ADMIN:
		return snprintf(out, outlen, "admin");
	case AUTH_ROLE_ORG_ADMIN:
	case AUTH_ROLE_CLINIC_MANAGER:
		/* both read everything of their organization */
		return snprintf(out, outlen, "org:%s", who->org);
	case AUTH_ROLE_PROVIDER:
		return snprintf(out, outlen, "prov:%s:%zu:%s", who->org, strlen(who->sub),
				who->sub);
	}
	return -1;
}

int
readcache_key_build(struct readcache_spec *s, const struct auth_principal *who, const char *path,
		    const struct buf *query)
{
	char scope[sizeof(who->sub) + sizeof(who->org) + 32];
	int n = readcache_scope(who, scope, sizeof(scope));
	size_t plen = strlen(path), qlen = query->len, need;

	if (n < 0 || (size_t)n >= sizeof(scope))
		return -1;
	s->key_len = 0;
	s->key[0] = '\0';
	need = strlen(shm_resource_name(s->resource)) + 1 + (size_t)n + 1 + plen + 1 + qlen;
	if (need < sizeof(s->key)) {
		n = snprintf(s->key, sizeof(s->key), "%s|%s|%s?%.*s",
			     shm_resource_name(s->resource), scope, path, (int)qlen,
			     qlen > 0 ? query->data : "");
	} else {
		/* too long to keep as it is: the request part becomes its SHA-256, which nobody
		 * can make collide, so two requests never share an entry; resource and scope stay
		 * in clear, first, whole */
		unsigned char md[SHA256_DIGEST_LENGTH];
		char hex[2 * SHA256_DIGEST_LENGTH + 1];
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int ok =
		    ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, path, plen + 1) == 1 && /* with its NUL: a separator */
		    (qlen == 0 || EVP_DigestUpdate(ctx, query->data, qlen) == 1) &&
		    EVP_DigestFinal_ex(ctx, md, NULL) == 1;
		size_t i;

		EVP_MD_CTX_free(ctx);
		if (!ok)
			return -1;
		for (i = 0; i < sizeof(md); i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		n = snprintf(s->key, sizeof(s->key), "%s|%s|#%s", shm_resource_name(s->resource),
			     scope, hex);
	}
	if (n < 0 || (size_t)n >= sizeof(s->key))
		return -1;
	s->key_len = (size_t)n;
	return 0;
}

void
readcache_dep(struct readcache_spec *s, const char *fmt, ...)
{
	va_list ap;
	size_t len = 0;

	if (s->ndeps == READCACHE_MAX_DEPS)
		abort(); /* a programming error: raise READCACHE_MAX_DEPS */
	va_start(ap, fmt);
	readcache_vappend(s->deps[s->ndeps], READCACHE_DEP_MAX, &len, fmt, ap);
	va_end(ap);
	s->ndeps++;
}

/* --- reading --- */

static int
readcache_l1_usable(const struct worker *w)
{
	int32_t until;

	if (!w->conf->cache_enabled || w->l1 == NULL)
		return 0;
	until = atomic_load_explicit(&w->shm->l1_trusted, memory_order_acquire);
	/* the difference modulo 2^32: right for leases far shorter than 24 days */
	return until != 0 && (int32_t)((uint32_t)until - (uint32_t)clock_mono_ms()) > 0;
}

static void
readcache_job_free(void *p)
{
	struct readcache_job *job = p;

	if (job->arg != NULL)
		job->ops->free(job->arg);
	buf_free(&job->stale_body);
	free(job);
}

/* The stale grace of a TTL class in seconds: min(ttl * factor, max); 0 keeps nothing. */
static int
readcache_grace_s(const struct config *c, int ttl_s)
{
	long long g = (long long)ttl_s * c->cache_stale_grace_factor;

	return (int)(g < c->cache_stale_grace_max ? g : c->cache_stale_grace_max);
}

/* 1 when a value filled at filled_ms is in the last cache_refresh_ahead percent of its TTL at
 * now_ms (wall): time to refresh it in the background (issue 8). */
static int
readcache_refresh_due(const struct config *c, int ttl_s, uint64_t filled_ms, uint64_t now_ms)
{
	uint64_t ttl_ms = (uint64_t)ttl_s * 1000, age = now_ms > filled_ms ? now_ms - filled_ms : 0;

	return c->cache_refresh_ahead > 0 &&
	       age * 100 >= ttl_ms * (uint64_t)(100 - c->cache_refresh_ahead);
}

/* Keeps etag and body as job's stale copy (once); publishes it to the loop thread. */
static void
readcache_keep_stale(struct readcache_job *job, const char *etag, const char *body, size_t len,
		     uint64_t filled_ms)
{
	if (atomic_load_explicit(&job->has_stale, memory_order_relaxed))
		return;
	snprintf(job->stale_etag, sizeof(job->stale_etag), "%s", etag);
	buf_append(&job->stale_body, body, len);
	job->stale_filled_ms = filled_ms;
	atomic_store_explicit(&job->has_stale, 1, memory_order_release);
}

/*
 * First stage, on a cache thread: Redis. A fresh value answers (HIT-L2); otherwise res stays
 * unanswered, with the generations read kept for the fill, and the database stage follows.
 */
static void
readcache_lookup_redis(struct backend *b, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;
	struct worker *w = job->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[job->spec.resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	const char *deps[READCACHE_MAX_DEPS + 1];
	struct breaker_config bc;
	struct redis_conn *rc;
	struct buf value;
	char etag[ETAG_MAX];
	const char *nl;
	int i, lr;

	if (!job->enabled)
		return;
	breaker_config_of(&bc, w->conf);
	for (i = 0; i < job->spec.ndeps; i++)
		deps[i] = job->spec.deps[i];
	deps[i] = READCACHE_GLOBAL;
	if (!breaker_allow(breaker, &bc, clock_mono_ms())) {
		/* the breaker is open: an error, not a miss */
		readcache_count(&cnt->errors);
		return;
	}
	/* the connection first: under Sentinel it follows a new master only after the listener
	 * marked L2 suspect for the switch, so the check below sees that mark */
	rc = backend_redis(b);
	if (atomic_load_explicit(&w->shm->l2_suspect, memory_order_acquire)) {
		/* Redis missed a write and the monitor has not repaired it yet: no value of it,
		 * fresh or stale, may answer (and the fill stores none: no generations read) */
		readcache_count(&cnt->errors);
		return;
	}
	if (rc == NULL) {
		/* Redis is down: a failure the breaker must hear (this may be its probe) */
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		return;
	}
	buf_init(&value);
	lr = redis_cache_lookup(rc, job->spec.key, job->spec.key_len, deps, job->spec.ndeps + 1,
				job->spec.ttl_s, (uint64_t)clock_wall_ms(), job->gens, &value,
				&job->filled_ms);
	if (lr < 0) {
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		buf_free(&value);
		return;
	}
	breaker_success(breaker, &bc);
	job->have_gens = 1;
	if (lr >= 1 && (nl = memchr(value.data, '\n', value.len)) != NULL &&
	    (size_t)(nl - value.data) < ETAG_MAX) {
		const char *body = nl + 1;
		size_t len = value.len - (size_t)(nl + 1 - value.data);

		snprintf(etag, sizeof(etag), "%.*s", (int)(nl - value.data), value.data);
		if (lr == 2) { /* past its TTL: a copy to answer with if the database fails */
			readcache_keep_stale(job, etag, body, len, job->filled_ms);
		} else {
			res->status = 200;
			res->content_type = READCACHE_JSON;
			buf_reset(&res->body);
			buf_append(&res->body, body, len);
			http_response_header(res, "etag", etag);
			http_response_header_static(res, "x-cache", "HIT-L2");
			http_response_header_static(res, "cache-status", "enterprised; hit");
			readcache_count(&cnt->l2_hits);
			job->stored_l2 = 1;
			job->refresh_due = readcache_refresh_due(
			    w->conf, job->spec.ttl_s, job->filled_ms, (uint64_t)clock_wall_ms());
		}
	}
	buf_free(&value);
}

/*
 * A refresh (issue 8) goes on to the database only when the value in Redis is due or gone
 * and this process takes the key's refresh lock (one refresh per key across workers and
 * instances); otherwise it ends here, and an L2 hit refills worker memory.
 */
static void
readcache_refresh_gate(struct backend *b, struct readcache_job *job, struct http_response *res)
{
	struct worker *w = job->worker;
	struct redis_conn *rc;
	struct http_response refused;
	int lock_ms = job->spec.ttl_s * 10 * w->conf->cache_refresh_ahead, refused_now;

	if (res->status == 200 && !job->refresh_due && !job->warm)
		return; /* refreshed by another process already */
	http_response_init(&refused);
	refused_now = store_refused(w, &refused);
	http_response_free(&refused);
	if (refused_now || !job->have_gens || (rc = backend_redis(b)) == NULL ||
	    redis_cache_lock(rc, job->spec.key, job->spec.key_len,
			     lock_ms > 1000 ? lock_ms : 1000) != 1) {
		if (res->status == 0)
			http_response_problem(res, 503, "the refresh did not run");
		return;
	}
	/* this process refreshes: past the L2 hit, to the database */
	http_response_free(res);
	http_response_init(res);
	readcache_count(job->warm ? &w->shm->cache[job->spec.resource].warmed
				  : &w->shm->cache[job->spec.resource].refreshes);
}

/* The first stage: Redis; on a miss, 503 at once while MongoDB's breaker is open (the
 * database stage would only wait in the queue behind threads a hung database holds). */
static void
readcache_lookup(struct backend *b, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;

	readcache_lookup_redis(b, arg, res);
	if (job->refresh)
		readcache_refresh_gate(b, job, res);
	else if (res->status == 0)
		(void)store_refused(job->worker, res);
}

/* Second stage, on a database thread: MongoDB, then the value back into Redis. */
static void
readcache_fill(struct backend *b, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;
	struct worker *w = job->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[job->spec.resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	struct breaker_config bc;
	struct redis_conn *rc;
	char etag[ETAG_MAX];

	job->filled_ms = (uint64_t)clock_wall_ms(); /* before the read: Age never undercounts */
	job->work(b, job->arg, res);
	if (job->fill_delay_ms > 0) /* forces the cache-aside race in the tests */
		usleep((useconds_t)job->fill_delay_ms * 1000);
	http_response_header_static(res, "x-cache", "MISS");
	if (!job->enabled || !job->have_gens)
		return;
	if (!job->refresh) /* a refresh is counted as one (readcache_refresh_gate) */
		readcache_count(&cnt->misses);
	if (res->status != 200) {
		http_response_header_static(res, "cache-status", "enterprised; fwd=miss");
		return;
	}
	breaker_config_of(&bc, w->conf);
	etag_of(res->body.data != NULL ? res->body.data : "", res->body.len, etag);
	http_response_header(res, "etag", etag);
	if ((rc = backend_redis(b)) != NULL &&
	    redis_cache_store(rc, job->spec.key, job->spec.key_len, job->gens, job->spec.ndeps + 1,
			      job->filled_ms, etag, res->body.data != NULL ? res->body.data : "",
			      res->body.len, job->spec.ttl_s,
			      readcache_grace_s(w->conf, job->spec.ttl_s)) == 0) {
		readcache_count(&cnt->sets);
		job->stored_l2 = 1;
		http_response_header_static(res, "cache-status", "enterprised; fwd=miss; stored");
	} else {
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		http_response_header_static(res, "cache-status", "enterprised; fwd=miss");
	}
}

/* Looks a header of res up. */
static const char *
readcache_res_header(const struct http_response *res, const char *name)
{
	int i;

	for (i = 0; i < res->nheaders; i++)
		if (strcmp(res->headers[i].name, name) == 0)
			return res->headers[i].value;
	return NULL;
}

/* Loop thread: keeps a 200 answer in worker memory under the epochs seen at the start, fresh
 * until its TTL (capped) and then stale for its grace. */
static void
readcache_l1_fill(struct worker *w, const struct readcache_job *job, struct http_response *res)
{
	uint64_t now = (uint64_t)clock_wall_ms(), ttl_ms = (uint64_t)job->spec.ttl_s * 1000;
	uint64_t cap_ms = (uint64_t)w->conf->cache_l1_ttl_cap * 1000;
	struct cache_entry e;
	const char *etag;

	if (!readcache_l1_usable(w) || (etag = readcache_res_header(res, "etag")) == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.key = job->spec.key;
	e.key_len = job->spec.key_len;
	e.body = res->body.data != NULL ? res->body.data : "";
	e.body_len = res->body.len;
	e.etag = etag;
	e.content_type = READCACHE_JSON;
	e.filled_ms = job->filled_ms != 0 ? job->filled_ms : now;
	/* never fresh past the origin's TTL, even when it came from Redis late in it */
	e.expires_ms = now + (ttl_ms < cap_ms ? ttl_ms : cap_ms);
	if (e.filled_ms + ttl_ms < e.expires_ms)
		e.expires_ms = e.filled_ms + ttl_ms;
	e.stale_until_ms =
	    e.filled_ms + ttl_ms + (uint64_t)readcache_grace_s(w->conf, job->spec.ttl_s) * 1000;
	memcpy(e.deps, job->l1deps, sizeof(e.deps));
	e.ndeps = job->nl1deps;
	cache_l1_put(w->l1, &e);
}

/*
 * Loop thread: when the read failed (502, 503, 504: the database failed, timed out or its
 * breaker is open, the read budget passed, or the queue refused it) and the job holds a stale
 * copy that no write has overtaken (the epochs read at the start still hold: a write wins over
 * every copy), answers 200 with it, marked X-Cache: STALE, Age (RFC 9111 §5.1) and
 * Cache-Status (RFC 9211). Returns 1 when it did (issue 8).
 */
static int
readcache_stale_answer(struct worker *w, struct readcache_job *job, struct http_response *res)
{
	uint64_t now = (uint64_t)clock_wall_ms();
	char age[24];

	if (res->status != 502 && res->status != 503 && res->status != 504)
		return 0;
	if (!atomic_load_explicit(&job->has_stale, memory_order_acquire) ||
	    !readcache_deps_current(w, job) || (job->stale_from_l1 && !readcache_l1_usable(w)))
		return 0;
	http_response_free(res);
	http_response_init(res);
	res->status = 200;
	res->content_type = READCACHE_JSON;
	buf_append(&res->body, job->stale_body.data != NULL ? job->stale_body.data : "",
		   job->stale_body.len);
	http_response_header(res, "etag", job->stale_etag);
	http_response_header_static(res, "x-cache", "STALE");
	snprintf(age, sizeof(age), "%llu",
		 (unsigned long long)(now > job->stale_filled_ms ? now - job->stale_filled_ms : 0) /
		     1000);
	http_response_header(res, "age", age);
	http_response_header_static(res, "cache-status", "enterprised; fwd=stale; detail=mongodb");
	readcache_count(&w->shm->cache[job->spec.resource].stale);
	return 1;
}

static void readcache_refresh_start(struct worker *w, const struct readcache_spec *spec,
				    http_work_fn work, void *arg,
				    const struct readcache_arg_ops *ops, int warm);
static void readcache_hot_note(struct worker *w, const struct readcache_spec *spec,
			       http_work_fn work, const void *arg,
			       const struct readcache_arg_ops *ops);

/*
 * Loop thread, with the answer (or at a waiting request's deadline, with the 503 or 504 it is
 * about to get, while the work may still run: only the stale copy, published by has_stale, and
 * what the loop thread owns are read then). A 200 goes into worker memory, and an L2 hit late in
 * its TTL starts the key's refresh with the job's arg; a failure is answered from the stale copy
 * when there is one.
 */
static void
readcache_done(struct http_req *r, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;
	struct worker *w = job->worker;

	(void)r;
	if (job->flight != NULL)
		readcache_flight_remove(w->flights, job->flight);
	if (!job->enabled)
		return;
	if (res->status == 200) {
		readcache_l1_fill(w, job, res);
		if (!job->refresh)
			readcache_hot_note(w, &job->spec, job->work, job->arg, job->ops);
		if (job->refresh_due && !job->refresh) {
			readcache_refresh_start(w, &job->spec, job->work, job->arg, job->ops, 0);
			job->arg = NULL; /* the refresh owns it now */
		}
		return;
	}
	if (job->refresh)
		return; /* nobody waits for a refresh: no answer to make, nothing to count */
	if (readcache_stale_answer(w, job, res))
		return;
	if (readcache_res_header(res, "cache-status") == NULL && res->nheaders < HTTP_MAX_HEADERS)
		http_response_header_static(res, "cache-status", "enterprised; fwd=miss");
}

/* The epochs of spec's deps (and the global one), read before anything else is: a write after
 * this point makes the entry stale even if the value read later is already the old one. */
static void
readcache_epochs_read(const struct worker *w, struct readcache_job *job)
{
	int i;

	for (i = 0; i < job->spec.ndeps; i++) {
		uint32_t slot = shm_epoch_slot(job->spec.deps[i], strlen(job->spec.deps[i]));

		job->l1deps[i].slot = slot;
		job->l1deps[i].value =
		    atomic_load_explicit(&w->shm->epochs[slot], memory_order_acquire);
	}
	job->l1deps[i].slot = shm_epoch_slot(READCACHE_GLOBAL, strlen(READCACHE_GLOBAL));
	job->l1deps[i].value =
	    atomic_load_explicit(&w->shm->epochs[job->l1deps[i].slot], memory_order_acquire);
	job->nl1deps = i + 1;
}

static struct readcache_job *
readcache_job_new(struct worker *w, const struct readcache_spec *spec, http_work_fn work, void *arg,
		  const struct readcache_arg_ops *ops)
{
	struct readcache_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		abort();
	job->spec = *spec;
	job->worker = w;
	job->work = work;
	job->arg = arg;
	job->ops = ops;
	job->enabled = w->conf->cache_enabled && !spec->uncached;
	buf_init(&job->stale_body);
	readcache_epochs_read(w, job);
	return job;
}

/*
 * Loop thread: refetches spec in the background (issue 8, stale-while-revalidate), at most one
 * per key in this worker (the flights table) and across processes (readcache_refresh_gate),
 * with arg (owned from here) renewed to the background class budget. Never delays a request.
 */
static void
readcache_refresh_start(struct worker *w, const struct readcache_spec *spec, http_work_fn work,
			void *arg, const struct readcache_arg_ops *ops, int warm)
{
	struct readcache_job *job;
	struct http_job *hj;

	if (ops->renew == NULL || w->flights == NULL || !w->conf->cache_enabled || spec->uncached ||
	    readcache_flight_find(w->flights, spec->key, spec->key_len,
				  hash_keyed(&w->flights->secret, spec->key, spec->key_len)) !=
		NULL) {
		ops->free(arg);
		return;
	}
	job = readcache_job_new(w, spec, work, arg, ops);
	job->refresh = 1;
	job->warm = warm;
	ops->renew(arg, w->conf->report_timeout_ms);
	hj = http_defer_background(w, readcache_lookup, readcache_fill, job, readcache_job_free,
				   readcache_done);
	if (hj != NULL)
		readcache_flight_add(w->flights, job, hj);
}

/* Loop thread: counts a read of spec for cache warming (a copy of arg is kept on entry). */
static void
readcache_hot_note(struct worker *w, const struct readcache_spec *spec, http_work_fn work,
		   const void *arg, const struct readcache_arg_ops *ops)
{
	struct readcache_flights *f = w->flights;
	int n = w->conf->cache_warm_keys, i, slot = -1;
	uint64_t hash;

	if (f == NULL || w->conf->cache_warm_interval <= 0 || n <= 0 || arg == NULL ||
	    ops->copy == NULL || spec->uncached)
		return;
	if (n > READCACHE_HOT_MAX)
		n = READCACHE_HOT_MAX;
	hash = hash_keyed(&f->secret, spec->key, spec->key_len) | 1;
	for (i = 0; i < n; i++) {
		struct readcache_hot *h = &f->hot[i];

		if (h->hash == hash && h->spec.key_len == spec->key_len &&
		    memcmp(h->spec.key, spec->key, spec->key_len) == 0) {
			h->hits++;
			return;
		}
		if (slot < 0 && (h->hash == 0 || h->hits == 0))
			slot = i;
	}
	if (slot < 0)
		return; /* every slot holds a key read in this window */
	if (f->hot[slot].arg != NULL)
		f->hot[slot].ops->free(f->hot[slot].arg);
	f->hot[slot].hash = 0;
	if ((f->hot[slot].arg = ops->copy(arg)) == NULL)
		return;
	f->hot[slot].hash = hash;
	f->hot[slot].hits = 1;
	f->hot[slot].spec = *spec;
	f->hot[slot].work = work;
	f->hot[slot].ops = ops;
}

void
readcache_warm_tick(struct worker *w)
{
	struct readcache_flights *f = w->flights;
	uint64_t now = clock_mono_ms();
	int i;

	if (f == NULL || w->conf->cache_warm_interval <= 0 || !w->conf->cache_enabled)
		return;
	if (f->warm_next_ms == 0)
		f->warm_next_ms = now + (uint64_t)w->conf->cache_warm_interval * 1000;
	if (now < f->warm_next_ms)
		return;
	f->warm_next_ms = now + (uint64_t)w->conf->cache_warm_interval * 1000;
	for (i = 0; i < READCACHE_HOT_MAX; i++) {
		struct readcache_hot *h = &f->hot[i];
		void *copy;

		if (h->hash != 0 && h->hits >= READCACHE_HOT_MIN &&
		    (copy = h->ops->copy(h->arg)) != NULL)
			readcache_refresh_start(w, &h->spec, h->work, copy, h->ops, 1);
		h->hits = 0; /* a key not read in the next window gives its slot up */
	}
}

/* A fresh hit in worker memory; 1 when it answered r (arg is then released or handed to a
 * refresh). */
static int
readcache_l1_answer(struct http_req *r, const struct readcache_spec *spec, http_work_fn work,
		    void *arg, const struct readcache_arg_ops *ops)
{
	struct worker *w = r->worker;
	uint64_t now = (uint64_t)clock_wall_ms();
	const struct cache_entry *e;
	struct http_response res;
	int due;

	if (!readcache_l1_usable(w) || spec->uncached ||
	    (e = cache_l1_get(w->l1, spec->key, spec->key_len, now, w->shm->epochs)) == NULL)
		return 0;
	http_response_init(&res);
	res.status = 200;
	res.content_type = e->content_type;
	/* the entry lives until the next put on this loop thread: http_respond copies the bytes
	 * once, straight into the request's pool */
	res.body_ref = e->body;
	res.body_ref_len = e->body_len;
	http_response_header(&res, "etag", e->etag);
	http_response_header_static(&res, "x-cache", "HIT-L1");
	http_response_header_static(&res, "cache-status", "enterprised; hit");
	readcache_count(&w->shm->cache[spec->resource].l1_hits);
	due = readcache_refresh_due(w->conf, spec->ttl_s, e->filled_ms, now);
	http_respond(r, &res);
	readcache_hot_note(w, spec, work, arg, ops);
	if (due)
		readcache_refresh_start(w, spec, work, arg, ops, 0);
	else
		ops->free(arg);
	return 1;
}

void
readcache_get(struct http_req *r, const struct readcache_spec *spec, http_work_fn work, void *arg,
	      const struct readcache_arg_ops *ops)
{
	struct worker *w = r->worker;
	struct readcache_job *job;

	if (readcache_l1_answer(r, spec, work, arg, ops))
		return;
	if (w->conf->cache_enabled && w->flights != NULL && !spec->uncached) {
		uint64_t hash = hash_keyed(&w->flights->secret, spec->key, spec->key_len);
		struct readcache_flight *fl =
		    readcache_flight_find(w->flights, spec->key, spec->key_len, hash);

		if (fl != NULL && readcache_deps_current(w, fl->owner) &&
		    http_follow(r, fl->owner->http_job) == 0) {
			ops->free(arg);
			return;
		}
	}
	job = readcache_job_new(w, spec, work, arg, ops);
	if (w->conf->debug_routes) {
		size_t len = 0;
		const char *v = http_header(r, "x-debug-fill-delay-ms", &len);
		char num[16];

		if (v != NULL && len < sizeof(num)) {
			memcpy(num, v, len);
			num[len] = '\0';
			job->fill_delay_ms = atoi(num);
			if (job->fill_delay_ms < 0 ||
			    job->fill_delay_ms > READCACHE_DEBUG_DELAY_MAX_MS)
				job->fill_delay_ms = 0;
		}
	}
	if (!job->enabled) {
		struct http_response res;

		http_response_init(&res);
		if (store_refused(w, &res)) {
			readcache_job_free(job);
			http_respond(r, &res);
			return;
		}
		http_response_free(&res);
		http_defer_done(r, readcache_fill, job, readcache_job_free, readcache_done);
		return;
	}
	/* the last good copy in worker memory, past its TTL, for an answer if the read fails */
	if (readcache_l1_usable(w)) {
		const struct cache_entry *e = cache_l1_get_stale(
		    w->l1, spec->key, spec->key_len, (uint64_t)clock_wall_ms(), w->shm->epochs);

		if (e != NULL) {
			readcache_keep_stale(job, e->etag != NULL ? e->etag : "", e->body,
					     e->body_len, e->filled_ms);
			job->stale_from_l1 = 1;
		}
	}
	http_defer_staged(r, readcache_lookup, readcache_fill, job, readcache_job_free,
			  readcache_done);
	/* queued (not refused): others missing the same key may follow it */
	if (r->job != NULL && w->flights != NULL && job->enabled)
		readcache_flight_add(w->flights, job, r->job);
}

/* --- background fills --- */

int
readcache_precompute(struct backend *b, const struct readcache_spec *spec, http_work_fn work,
		     void *arg, struct http_response *res)
{
	struct worker *w = b->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[spec->resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	const char *deps[READCACHE_MAX_DEPS + 1];
	uint64_t gens[READCACHE_MAX_DEPS + 1];
	struct breaker_config bc;
	struct redis_conn *rc = NULL;
	struct buf old;
	uint64_t old_filled_ms = 0, filled_ms;
	char etag[ETAG_MAX];
	int i, lr = -1, allowed = 0;

	breaker_config_of(&bc, w->conf);
	for (i = 0; i < spec->ndeps; i++)
		deps[i] = spec->deps[i];
	deps[i] = READCACHE_GLOBAL;
	/* the generations first: a write during the work must leave the value stale */
	buf_init(&old);
	if (w->conf->cache_enabled && !spec->uncached &&
	    (allowed = breaker_allow(breaker, &bc, clock_mono_ms())) &&
	    (rc = backend_redis(b)) != NULL)
		lr = redis_cache_lookup(rc, spec->key, spec->key_len, deps, spec->ndeps + 1,
					spec->ttl_s, (uint64_t)clock_wall_ms(), gens, &old,
					&old_filled_ms);
	buf_free(&old);
	filled_ms = (uint64_t)clock_wall_ms(); /* before the read: Age never undercounts */
	work(b, arg, res);
	if (!w->conf->cache_enabled || spec->uncached)
		return -1;
	if (lr < 0) {
		/* the breaker hears Redis failures, not its own refusals */
		if (allowed)
			breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		return -1;
	}
	breaker_success(breaker, &bc);
	if (res->status != 200)
		return -1;
	etag_of(res->body.data != NULL ? res->body.data : "", res->body.len, etag);
	if (redis_cache_store(rc, spec->key, spec->key_len, gens, spec->ndeps + 1, filled_ms, etag,
			      res->body.data != NULL ? res->body.data : "", res->body.len,
			      spec->ttl_s, readcache_grace_s(w->conf, spec->ttl_s)) != 0) {
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		return -1;
	}
	readcache_count(&cnt->sets);
	return 0;
}

/* --- writing --- */

void
readcache_invalidate(struct backend *b, enum shm_resource resource, const char *const *deps,
		     int ndeps)
{
	struct worker *w = b->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	struct breaker_config bc;
	struct redis_conn *rc;
	int i;

	breaker_config_of(&bc, w->conf);
	for (i = 0; i < ndeps; i++) {
		shm_epoch_bump(w->shm, shm_epoch_slot(deps[i], strlen(deps[i])));
		readcache_count(&cnt->deletes);
	}
	if (!w->conf->cache_enabled)
		return;
	/* tried even with the breaker open: a lost invalidation is worse than a slow write */
	(void)breaker_allow(breaker, &bc, clock_mono_ms());
	if ((rc = backend_redis(b)) != NULL &&
	    redis_cache_invalidate(rc, deps, ndeps, READCACHE_LEASE_MS) == 0) {
		breaker_success(breaker, &bc);
		return;
	}
	breaker_failure(breaker, &bc, clock_mono_ms());
	readcache_count(&cnt->errors);
	/* Redis missed this write: the names first, then the flag the monitor acts on; no
	 * Redis value is read until it moved their generations (or, past SHM_MISSED_MAX names,
	 * every value's) */
	for (i = 0; i < ndeps; i++)
		shm_missed_add(w->shm, deps[i]);
	atomic_store_explicit(&w->shm->l2_suspect, 1, memory_order_release);
	log_warn("cache: invalidation of %s not delivered to Redis; its values will be dropped "
		 "when it answers again",
		 ndeps > 0 ? deps[0] : "?");
}
