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

/* Every entry depends on it: moved when the listener (re)subscribes, since invalidations
 * published while it was away were lost. */
#define READCACHE_GLOBAL "global"
#define READCACHE_JSON "application/json"

/*
 * Worker memory is trusted only under a lease that the monitor's listener renews with every
 * PING answered on its subscription connection. Redis answers in order, so a PONG proves that
 * every invalidation published before that PING has already been applied to the epochs. A
 * monitor that dies or hangs, or a Redis that hangs, stops the renewals, and workers stop
 * using L1 within READCACHE_LEASE_MS: that is the bound on a stale read after another
 * instance's write in those cases (normally the bound is the pub/sub delivery itself).
 * shm->l1_trusted holds the end of the lease in CLOCK_MONOTONIC ms modulo 2^32 (0: none).
 */
#define READCACHE_LEASE_MS 100
#define READCACHE_PING_MS 20
/* no PONG for this long: the connection is dead or Redis hangs; reconnect */
#define READCACHE_PING_DEAD_MS 2000
/* the listener's commands (AUTH, INCR, SUBSCRIBE) on a Redis that accepts but never answers */
#define READCACHE_LISTENER_TIMEOUT_MS 1000
/* x-debug-fill-delay-ms (debug_routes only) is capped here */
#define READCACHE_DEBUG_DELAY_MAX_MS 10000

struct readcache_flight;

struct readcache_job {
	struct readcache_spec spec;
	struct worker *worker;
	http_work_fn work;
	void *arg;
	void (*free_arg)(void *);
	struct cache_dep l1deps[CACHE_MAX_DEPS]; /* epochs seen before anything was read */
	int nl1deps;
	int enabled;
	int stored_l2; /* the answer came from L2 or was stored there */
	int have_gens; /* the lookup read the generations, to store the fill under */
	uint64_t gens[READCACHE_MAX_DEPS + 1];
	struct readcache_flight *flight; /* while in flight, the entry others can follow */
	struct http_job *http_job;	 /* the work they follow */
	int fill_delay_ms; /* debug_routes only: sleep between the database and the fill */
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

struct readcache_flights {
	struct readcache_flight *buckets[READCACHE_FLIGHT_BUCKETS];
	struct hash_secret secret; /* keys come from clients: their buckets must not */
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

/* Trust worker memory until from_ms + READCACHE_LEASE_MS. */
static void
readcache_trust(struct shm_region *shm, uint64_t from_ms)
{
	uint32_t until = (uint32_t)(from_ms + READCACHE_LEASE_MS);

	atomic_store_explicit(&shm->l1_trusted, (int32_t)(until != 0 ? until : 1),
			      memory_order_release);
}

static void
readcache_distrust(struct shm_region *shm)
{
	atomic_store_explicit(&shm->l1_trusted, 0, memory_order_release);
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

	if (job->free_arg != NULL)
		job->free_arg(job->arg);
	free(job);
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
	if ((rc = backend_redis(b)) == NULL) {
		/* Redis is down: a failure the breaker must hear (this may be its probe) */
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		return;
	}
	buf_init(&value);
	lr = redis_cache_lookup(rc, job->spec.key, job->spec.key_len, deps, job->spec.ndeps + 1,
				job->gens, &value);
	if (lr < 0) {
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
		buf_free(&value);
		return;
	}
	breaker_success(breaker, &bc);
	job->have_gens = 1;
	if (lr == 1 && (nl = memchr(value.data, '\n', value.len)) != NULL &&
	    (size_t)(nl - value.data) < ETAG_MAX) {
		snprintf(etag, sizeof(etag), "%.*s", (int)(nl - value.data), value.data);
		res->status = 200;
		res->content_type = READCACHE_JSON;
		buf_reset(&res->body);
		buf_append(&res->body, nl + 1, value.len - (size_t)(nl + 1 - value.data));
		http_response_header(res, "etag", etag);
		http_response_header_static(res, "x-cache", "HIT-L2");
		readcache_count(&cnt->l2_hits);
		job->stored_l2 = 1;
	}
	buf_free(&value);
}

/* The first stage: Redis; on a miss, 503 at once while MongoDB's breaker is open (the
 * database stage would only wait in the queue behind threads a hung database holds). */
static void
readcache_lookup(struct backend *b, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;

	readcache_lookup_redis(b, arg, res);
	if (res->status == 0)
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

	job->work(b, job->arg, res);
	if (job->fill_delay_ms > 0) /* forces the cache-aside race in the tests */
		usleep((useconds_t)job->fill_delay_ms * 1000);
	http_response_header_static(res, "x-cache", "MISS");
	if (!job->enabled || !job->have_gens)
		return;
	readcache_count(&cnt->misses);
	if (res->status != 200)
		return;
	breaker_config_of(&bc, w->conf);
	etag_of(res->body.data != NULL ? res->body.data : "", res->body.len, etag);
	http_response_header(res, "etag", etag);
	if ((rc = backend_redis(b)) != NULL &&
	    redis_cache_store(rc, job->spec.key, job->spec.key_len, job->gens, job->spec.ndeps + 1,
			      etag, res->body.data != NULL ? res->body.data : "", res->body.len,
			      job->spec.ttl_s) == 0) {
		readcache_count(&cnt->sets);
		job->stored_l2 = 1;
	} else {
		breaker_failure(breaker, &bc, clock_mono_ms());
		readcache_count(&cnt->errors);
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

/* Loop thread, with the answer: keep it in worker memory under the epochs seen at the start. */
static void
readcache_done(struct http_req *r, void *arg, struct http_response *res)
{
	struct readcache_job *job = arg;
	struct worker *w = job->worker;
	struct cache_entry e;
	const char *etag;
	int ttl;

	(void)r;
	if (job->flight != NULL)
		readcache_flight_remove(w->flights, job->flight);
	if (!job->enabled || res->status != 200 || !readcache_l1_usable(w))
		return;
	if ((etag = readcache_res_header(res, "etag")) == NULL)
		return;
	ttl = job->spec.ttl_s < w->conf->cache_l1_ttl_cap ? job->spec.ttl_s
							  : w->conf->cache_l1_ttl_cap;
	memset(&e, 0, sizeof(e));
	e.key = job->spec.key;
	e.key_len = job->spec.key_len;
	e.body = res->body.data != NULL ? res->body.data : "";
	e.body_len = res->body.len;
	e.etag = etag;
	e.content_type = READCACHE_JSON;
	e.expires_ms = (uint64_t)clock_wall_ms() + (uint64_t)ttl * 1000;
	memcpy(e.deps, job->l1deps, sizeof(e.deps));
	e.ndeps = job->nl1deps;
	cache_l1_put(w->l1, &e);
}

void
readcache_get(struct http_req *r, const struct readcache_spec *spec, http_work_fn work, void *arg,
	      void (*free_arg)(void *))
{
	struct worker *w = r->worker;
	struct readcache_job *job;
	int i;

	if (readcache_l1_usable(w) && !spec->uncached) {
		const struct cache_entry *e = cache_l1_get(
		    w->l1, spec->key, spec->key_len, (uint64_t)clock_wall_ms(), w->shm->epochs);

		if (e != NULL) {
			struct http_response res;

			http_response_init(&res);
			res.status = 200;
			res.content_type = e->content_type;
			/* the entry lives until the next put on this loop thread: http_respond
			 * copies the bytes once, straight into the request's pool */
			res.body_ref = e->body;
			res.body_ref_len = e->body_len;
			http_response_header(&res, "etag", e->etag);
			http_response_header_static(&res, "x-cache", "HIT-L1");
			readcache_count(&w->shm->cache[spec->resource].l1_hits);
			if (free_arg != NULL)
				free_arg(arg);
			http_respond(r, &res);
			return;
		}
	}
	if (w->conf->cache_enabled && w->flights != NULL && !spec->uncached) {
		uint64_t hash = hash_keyed(&w->flights->secret, spec->key, spec->key_len);
		struct readcache_flight *fl =
		    readcache_flight_find(w->flights, spec->key, spec->key_len, hash);

		if (fl != NULL && readcache_deps_current(w, fl->owner) &&
		    http_follow(r, fl->owner->http_job) == 0) {
			if (free_arg != NULL)
				free_arg(arg);
			return;
		}
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		abort();
	job->spec = *spec;
	job->worker = w;
	job->work = work;
	job->arg = arg;
	job->free_arg = free_arg;
	job->enabled = w->conf->cache_enabled && !spec->uncached;
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
	/* the epochs are read before anything else is: a write after this point makes the entry
	 * stale even if the value read below is already the old one */
	for (i = 0; i < spec->ndeps; i++) {
		uint32_t slot = shm_epoch_slot(spec->deps[i], strlen(spec->deps[i]));

		job->l1deps[i].slot = slot;
		job->l1deps[i].value =
		    atomic_load_explicit(&w->shm->epochs[slot], memory_order_acquire);
	}
	job->l1deps[i].slot = shm_epoch_slot(READCACHE_GLOBAL, strlen(READCACHE_GLOBAL));
	job->l1deps[i].value =
	    atomic_load_explicit(&w->shm->epochs[job->l1deps[i].slot], memory_order_acquire);
	job->nl1deps = i + 1;
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
		lr = redis_cache_lookup(rc, spec->key, spec->key_len, deps, spec->ndeps + 1, gens,
					&old);
	buf_free(&old);
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
	if (redis_cache_store(rc, spec->key, spec->key_len, gens, spec->ndeps + 1, etag,
			      res->body.data != NULL ? res->body.data : "", res->body.len,
			      spec->ttl_s) != 0) {
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
	if ((rc = backend_redis(b)) != NULL && redis_cache_invalidate(rc, deps, ndeps) == 0) {
		breaker_success(breaker, &bc);
		return;
	}
	breaker_failure(breaker, &bc, clock_mono_ms());
	readcache_count(&cnt->errors);
	/* Redis missed this write: once it answers again, everything it holds is suspect */
	atomic_store_explicit(&w->shm->l2_suspect, 1, memory_order_release);
	log_warn("cache: invalidation of %s not delivered to Redis; its values will be dropped "
		 "when it answers again",
		 ndeps > 0 ? deps[0] : "?");
}

/* --- the monitor's listener --- */

struct readcache_listener {
	const struct config *conf;
	struct shm_region *shm;
	volatile sig_atomic_t *stop;
	pthread_t tid;
};

static void
readcache_bump_names(struct shm_region *shm, const char *names, size_t len)
{
	const char *p = names, *end = names + len;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		if (sp == NULL)
			sp = end;
		if (sp > p)
			shm_epoch_bump(shm, shm_epoch_slot(p, (size_t)(sp - p)));
		p = sp + 1;
	}
}

/* Drops every L2 value at once: the global generation moves. */
static int
readcache_drop_l2(redisContext *ctx)
{
	redisReply *reply = redisCommand(ctx, "INCR " REDIS_CACHE_PREFIX "g:" READCACHE_GLOBAL);
	int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;

	if (reply != NULL)
		freeReplyObject(reply);
	return ok ? 0 : -1;
}

/* A PONG on a subscribed connection: ["pong", ""]. */
static int
readcache_is_pong(const redisReply *m)
{
	return m->type == REDIS_REPLY_ARRAY && m->elements >= 1 &&
	       m->element[0]->type == REDIS_REPLY_STRING && m->element[0]->len == 4 &&
	       strncasecmp(m->element[0]->str, "pong", 4) == 0;
}

/*
 * Applies published invalidations and renews the lease with a PING every READCACHE_PING_MS,
 * until the connection fails, Redis stops answering, Redis needs a drop, or *stop. Returns 0
 * when told to stop, -1 otherwise.
 */
static int
readcache_listen(struct readcache_listener *l, redisContext *ctx)
{
	struct shm_region *shm = l->shm;
	uint64_t ping_sent = 0, next_ping = 0, now;
	int pending = 0, done;
	struct pollfd pfd;

	pfd.fd = ctx->fd;
	pfd.events = POLLIN;
	while (!*l->stop) {
		void *r = NULL;
		int wait_ms;

		if (redisGetReplyFromReader(ctx, &r) != REDIS_OK)
			return -1;
		if (r != NULL) {
			redisReply *m = r;

			if (readcache_is_pong(m) && pending) {
				/* everything published before the PING is applied by now */
				pending = 0;
				readcache_trust(shm, ping_sent);
			} else if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
				   m->element[2]->type == REDIS_REPLY_STRING) {
				readcache_bump_names(shm, m->element[2]->str, m->element[2]->len);
			}
			freeReplyObject(m);
			continue;
		}
		if (atomic_load_explicit(&shm->l2_suspect, memory_order_acquire))
			return -1; /* reconnect: the drop needs a plain connection */
		now = clock_mono_ms();
		if (pending && now - ping_sent > READCACHE_PING_DEAD_MS)
			return -1;
		if (!pending && now >= next_ping) {
			if (redisAppendCommand(ctx, "PING") != REDIS_OK)
				return -1;
			do {
				if (redisBufferWrite(ctx, &done) != REDIS_OK)
					return -1;
			} while (!done);
			pending = 1;
			ping_sent = now;
			next_ping = now + READCACHE_PING_MS;
		}
		wait_ms = pending ? READCACHE_PING_MS : (int)(next_ping - now);
		if (poll(&pfd, 1, wait_ms > 0 ? wait_ms : 1) < 0 && errno != EINTR)
			return -1;
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
		    redisBufferRead(ctx) != REDIS_OK)
			return -1;
	}
	return 0;
}

static void *
readcache_listener_main(void *arg)
{
	struct readcache_listener *l = arg;
	struct shm_region *shm = l->shm;
	uint32_t global = shm_epoch_slot(READCACHE_GLOBAL, strlen(READCACHE_GLOBAL));
	struct redis_url url;
	char err[256];

	if (redis_url_parse(l->conf->redis_url, &url, err, sizeof(err)) != 0) {
		log_error("cache listener: %s", err);
		return NULL;
	}
	while (!*l->stop) {
		int ms = l->conf->redis_connect_timeout_ms;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		redisContext *ctx = redisConnectWithTimeout(url.host, url.port, tv);
		redisReply *reply = NULL;

		if (ctx == NULL || ctx->err)
			goto retry;
		/* a Redis that accepts and never answers must not hold this thread */
		if (redisSetTimeout(ctx, (struct timeval){READCACHE_LISTENER_TIMEOUT_MS / 1000,
							  (READCACHE_LISTENER_TIMEOUT_MS % 1000) *
							      1000}) != REDIS_OK)
			goto retry;
		if (url.password[0] != '\0') {
			reply = redisCommand(ctx, "AUTH %s", url.password);
			if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
				goto retry;
			freeReplyObject(reply);
			reply = NULL;
		}
		if (url.db != 0) { /* the global generation lives with the cached values */
			reply = redisCommand(ctx, "SELECT %d", url.db);
			if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
				goto retry;
			freeReplyObject(reply);
			reply = NULL;
		}
		if (atomic_exchange_explicit(&shm->l2_suspect, 0, memory_order_acq_rel) &&
		    readcache_drop_l2(ctx) != 0) {
			atomic_store_explicit(&shm->l2_suspect, 1, memory_order_release);
			goto retry;
		}
		reply = redisCommand(ctx, "SUBSCRIBE %s", REDIS_CACHE_CHANNEL);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
			goto retry;
		freeReplyObject(reply);
		reply = NULL;
		/* what was published while nobody listened is lost: start worker memory afresh */
		shm_epoch_bump(shm, global);
		readcache_trust(shm, clock_mono_ms());
		if (readcache_listen(l, ctx) != 0)
			log_warn("cache listener: subscription lost; worker memory unused until it "
				 "is back");
	retry:
		readcache_distrust(shm);
		if (reply != NULL)
			freeReplyObject(reply);
		if (ctx != NULL)
			redisFree(ctx);
		for (int i = 0; i < 5 && !*l->stop; i++)
			usleep(100 * 1000);
	}
	readcache_distrust(shm);
	return NULL;
}

struct readcache_listener *
readcache_listener_start(const struct config *c, struct shm_region *shm,
			 volatile sig_atomic_t *stop)
{
	struct readcache_listener *l;

	/* a lease left by a monitor that died must not cover this one before it subscribes */
	readcache_distrust(shm);
	if (!c->cache_enabled || (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->conf = c;
	l->shm = shm;
	l->stop = stop;
	if (pthread_create(&l->tid, NULL, readcache_listener_main, l) != 0) {
		log_error("cache listener: cannot start its thread");
		free(l);
		return NULL;
	}
	return l;
}

void
readcache_listener_stop(struct readcache_listener *l)
{
	if (l == NULL)
		return;
	pthread_join(l->tid, NULL);
	free(l);
}
