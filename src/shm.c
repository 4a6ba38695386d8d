/*
 * shm.c: the shared region (see shm.h for its layout and the histogram's shape).
 *
 * Writers on the request path only ever do relaxed atomic adds (and a relaxed CAS loop for a
 * histogram's max), so a request costs a few uncontended cache-line touches and never a lock or
 * a system call. Readers copy with relaxed loads; a copy taken while writers run is not one
 * instant's picture (count, sum and buckets are loaded one after the other), so a snapshot
 * derives its count from the buckets it copied, which keeps percentiles and Prometheus' `+Inf`
 * bucket consistent with the copy.
 *
 * The published window is the only multi-field value that readers need whole. It is guarded
 * by a seqlock with a single writer (the monitor): `window_seq` is odd while a window is being
 * written; a reader retries until it reads the same even number before and after its copy.
 */
#include "shm.h"
#include "clock.h"

#include <xxhash.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <time.h>

/* Attempts at a consistent window copy before shm_window_read gives up. */
#define SHM_WINDOW_READ_TRIES 10000

struct shm_region *
shm_create(char *err, size_t errlen)
{
	struct shm_region *r;
	struct timespec ts;

	/* Anonymous mappings are zero-filled, which is every counter's starting value. */
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		snprintf(err, errlen, "shm: mmap of %zu bytes: %s", sizeof(*r), strerror(errno));
		return NULL;
	}
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
		snprintf(err, errlen, "shm: clock_gettime: %s", strerror(errno));
		munmap(r, sizeof(*r));
		return NULL;
	}
	r->magic = SHM_MAGIC;
	r->version = SHM_VERSION;
	r->size = sizeof(*r);
	r->start_time_s = (uint64_t)ts.tv_sec;
	/* one secret for every process: a caller's bucket must be the same slot in each worker */
	if (hash_secret_init(&r->ratelimit.secret) == -1) {
		snprintf(err, errlen, "shm: getrandom: %s", strerror(errno));
		munmap(r, sizeof(*r));
		return NULL;
	}
	return r;
}

void
shm_destroy(struct shm_region *r)
{
	if (r != NULL)
		munmap(r, sizeof(*r));
}

/* Index of the highest set bit of v (v > 0). */
static unsigned
shm_log2(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

size_t
shm_hist_bucket_index(uint64_t us)
{
	unsigned bit, shift;

	if (us > SHM_HIST_MAX_US)
		us = SHM_HIST_MAX_US;
	if (us < SHM_HIST_SUB)
		return (size_t)us;
	/* bit >= 5: the power of two [2^bit, 2^(bit+1)) is cut into 32 slices of 2^(bit-5). */
	bit = shm_log2(us);
	shift = bit - SHM_HIST_SUB_BITS;
	return SHM_HIST_SUB + (size_t)shift * SHM_HIST_SUB + (size_t)((us >> shift) - SHM_HIST_SUB);
}

uint64_t
shm_hist_bucket_lower(size_t index)
{
	size_t shift, sub;

	if (index >= SHM_HIST_BUCKETS)
		index = SHM_HIST_BUCKETS - 1;
	if (index < SHM_HIST_SUB)
		return index;
	shift = (index - SHM_HIST_SUB) / SHM_HIST_SUB;
	sub = (index - SHM_HIST_SUB) % SHM_HIST_SUB;
	return (uint64_t)(SHM_HIST_SUB + sub) << shift;
}

uint64_t
shm_hist_bucket_upper(size_t index)
{
	size_t shift;

	if (index >= SHM_HIST_BUCKETS)
		index = SHM_HIST_BUCKETS - 1;
	if (index < SHM_HIST_SUB)
		return index;
	shift = (index - SHM_HIST_SUB) / SHM_HIST_SUB;
	return shm_hist_bucket_lower(index) + (UINT64_C(1) << shift) - 1;
}

/*
 * Values past SHM_HIST_MAX_US are recorded as SHM_HIST_MAX_US everywhere (bucket, sum and max),
 * so the three always describe the same samples.
 */
void
shm_hist_record(struct shm_hist *h, uint64_t us)
{
	uint64_t max;

	if (us > SHM_HIST_MAX_US)
		us = SHM_HIST_MAX_US;
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->buckets[shm_hist_bucket_index(us)], 1, memory_order_relaxed);
	max = atomic_load_explicit(&h->max_us, memory_order_relaxed);
	while (us > max && !atomic_compare_exchange_weak_explicit(
			       &h->max_us, &max, us, memory_order_relaxed, memory_order_relaxed))
		;
}

void
shm_record_request(struct shm_region *r, enum shm_route_class cls, int status, uint64_t us)
{
	int idx;

	if ((unsigned)cls >= SHM_CLASS_MAX)
		cls = SHM_CLASS_OTHER;
	idx = status / 100;
	if (idx < 1 || idx > 5)
		idx = 0;
	shm_hist_record(&r->latency[cls], us);
	atomic_fetch_add_explicit(&r->status[cls][idx], 1, memory_order_relaxed);
}

void
shm_hist_snapshot(const struct shm_hist *h, struct shm_hist_snapshot *out)
{
	uint64_t n = 0;
	size_t i;

	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	out->max_us = atomic_load_explicit(&h->max_us, memory_order_relaxed);
	for (i = 0; i < SHM_HIST_BUCKETS; i++) {
		out->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		n += out->buckets[i];
	}
	/* see the top of the file: the count of what was copied, not of what was loaded first */
	out->count = n;
}

void
shm_hist_merge(struct shm_hist_snapshot *into, const struct shm_hist_snapshot *add)
{
	size_t i;

	into->count += add->count;
	into->sum_us += add->sum_us;
	if (add->max_us > into->max_us)
		into->max_us = add->max_us;
	for (i = 0; i < SHM_HIST_BUCKETS; i++)
		into->buckets[i] += add->buckets[i];
}

/* a - b for counters that only grow; 0 if b is somehow ahead (a snapshot of another region). */
static uint64_t
shm_delta(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

void
shm_hist_subtract(struct shm_hist_snapshot *into, const struct shm_hist_snapshot *before)
{
	size_t i, top = 0;
	uint64_t n = 0;
	int any = 0;

	into->sum_us = shm_delta(into->sum_us, before->sum_us);
	for (i = 0; i < SHM_HIST_BUCKETS; i++) {
		into->buckets[i] = shm_delta(into->buckets[i], before->buckets[i]);
		if (into->buckets[i] > 0) {
			n += into->buckets[i];
			top = i;
			any = 1;
		}
	}
	into->count = n;
	/* The window's own max is unknown; its highest bucket bounds it from above. */
	if (!any)
		into->max_us = 0;
	else if (shm_hist_bucket_upper(top) < into->max_us)
		into->max_us = shm_hist_bucket_upper(top);
}

uint64_t
shm_hist_percentile(const struct shm_hist_snapshot *s, double p)
{
	uint64_t rank, seen = 0, mid;
	size_t i, last = 0;
	double r;

	if (s->count == 0)
		return 0;
	if (p > 100.0)
		p = 100.0;
	/* p * count is exact for integral p, so 95% of 100 is rank 95, not 96 */
	r = ceil(p * (double)s->count / 100.0);
	rank = r < 1.0 ? 1 : (uint64_t)r;
	if (rank > s->count)
		rank = s->count;
	for (i = 0; i < SHM_HIST_BUCKETS; i++) {
		if (s->buckets[i] == 0)
			continue;
		last = i;
		seen += s->buckets[i];
		if (seen >= rank)
			break;
	}
	/* If count ran ahead of the buckets, `last` is the highest non-empty one. */
	mid = (shm_hist_bucket_lower(last) + shm_hist_bucket_upper(last)) / 2;
	return mid < s->max_us ? mid : s->max_us;
}

uint64_t
shm_hist_count_le(const struct shm_hist_snapshot *s, uint64_t us)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < SHM_HIST_BUCKETS && shm_hist_bucket_upper(i) <= us; i++)
		n += s->buckets[i];
	return n;
}

static void
shm_hist_store(struct shm_hist *h, const struct shm_hist_snapshot *s)
{
	size_t i;

	atomic_store_explicit(&h->count, s->count, memory_order_relaxed);
	atomic_store_explicit(&h->sum_us, s->sum_us, memory_order_relaxed);
	atomic_store_explicit(&h->max_us, s->max_us, memory_order_relaxed);
	for (i = 0; i < SHM_HIST_BUCKETS; i++)
		atomic_store_explicit(&h->buckets[i], s->buckets[i], memory_order_relaxed);
}

static void
shm_hist_load(const struct shm_hist *h, struct shm_hist_snapshot *s)
{
	size_t i;

	s->count = atomic_load_explicit(&h->count, memory_order_relaxed);
	s->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	s->max_us = atomic_load_explicit(&h->max_us, memory_order_relaxed);
	for (i = 0; i < SHM_HIST_BUCKETS; i++)
		s->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
}

/* Single writer: only the monitor publishes. */
void
shm_window_publish(struct shm_region *r, const struct shm_hist_snapshot *classes, uint64_t period_s,
		   uint64_t end_ms)
{
	uint64_t seq;
	size_t c;

	seq = atomic_load_explicit(&r->window_seq, memory_order_relaxed);
	/* a monitor that died mid-write left seq odd; step over it so seq + 2 is even again */
	if (seq & 1)
		seq++;
	atomic_store_explicit(&r->window_seq, seq + 1, memory_order_relaxed);
	/* the odd number becomes visible before any field changes */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&r->window_period_s, period_s, memory_order_relaxed);
	atomic_store_explicit(&r->window_end_ms, end_ms, memory_order_relaxed);
	for (c = 0; c < SHM_CLASS_MAX; c++)
		shm_hist_store(&r->window[c], &classes[c]);
	/* every field becomes visible before the even number */
	atomic_store_explicit(&r->window_seq, seq + 2, memory_order_release);
}

int
shm_window_read(const struct shm_region *r, struct shm_hist_snapshot *classes, uint64_t *period_s,
		uint64_t *end_ms)
{
	uint64_t s1, s2, period, end;
	unsigned tries;
	size_t c;

	for (tries = 0;; tries++) {
		/* a monitor that died mid-write must not hang every reader */
		if (tries == SHM_WINDOW_READ_TRIES)
			return -1;
		s1 = atomic_load_explicit(&r->window_seq, memory_order_acquire);
		if (s1 == 0)
			return -1;
		if (s1 & 1) {
			/* the monitor is mid-write (tens of KiB): let it run */
			sched_yield();
			continue;
		}
		period = atomic_load_explicit(&r->window_period_s, memory_order_relaxed);
		end = atomic_load_explicit(&r->window_end_ms, memory_order_relaxed);
		for (c = 0; c < SHM_CLASS_MAX; c++)
			shm_hist_load(&r->window[c], &classes[c]);
		/* the copy is complete before seq is read again */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&r->window_seq, memory_order_relaxed);
		if (s1 == s2)
			break;
	}
	if (period_s != NULL)
		*period_s = period;
	if (end_ms != NULL)
		*end_ms = end;
	return 0;
}

static const char *const shm_class_names[SHM_CLASS_MAX] = {
    [SHM_CLASS_HEALTH] = "health",
    [SHM_CLASS_ORGANIZATION] = "organization",
    [SHM_CLASS_CLINIC] = "clinic",
    [SHM_CLASS_ASSIGNMENT] = "assignment",
    [SHM_CLASS_LIST] = "list",
    [SHM_CLASS_SEARCH] = "search",
    [SHM_CLASS_REPORT] = "report",
    [SHM_CLASS_EXPORT] = "export",
    [SHM_CLASS_PERFORMANCE] = "performance",
    [SHM_CLASS_BACKGROUND] = "background",
    [SHM_CLASS_OTHER] = "other",
};

static const char *const shm_resource_names[SHM_RES_MAX] = {
    [SHM_RES_ORGANIZATION] = "organization",
    [SHM_RES_CLINIC] = "clinic",
    [SHM_RES_ASSIGNMENT] = "assignment",
    [SHM_RES_LIST] = "list",
    [SHM_RES_STATS] = "stats",
};

static const char *const shm_dependency_names[SHM_DEP_MAX] = {
    [SHM_DEP_MONGODB] = "mongodb",
    [SHM_DEP_REDIS] = "redis",
};

static const char *const shm_pool_names[SHM_POOL_MAX] = {
    [SHM_POOL_FAST] = "fast",
    [SHM_POOL_SLOW] = "slow",
    [SHM_POOL_CACHE] = "cache",
    [SHM_POOL_EXPORT] = "export",
};

static const char *const shm_db_command_names[SHM_DBCMD_MAX] = {
    [SHM_DBCMD_FIND] = "find",
    [SHM_DBCMD_INSERT] = "insert",
    [SHM_DBCMD_UPDATE] = "update",
    [SHM_DBCMD_DELETE] = "delete",
    [SHM_DBCMD_FIND_AND_MODIFY] = "findAndModify",
    [SHM_DBCMD_AGGREGATE] = "aggregate",
    [SHM_DBCMD_COUNT] = "count",
    [SHM_DBCMD_CREATE_INDEXES] = "createIndexes",
    [SHM_DBCMD_PING] = "ping",
    [SHM_DBCMD_OTHER] = "other",
};

const char *
shm_class_name(enum shm_route_class c)
{
	return (unsigned)c < SHM_CLASS_MAX ? shm_class_names[c] : "other";
}

const char *
shm_resource_name(enum shm_resource r)
{
	return (unsigned)r < SHM_RES_MAX ? shm_resource_names[r] : "unknown";
}

const char *
shm_dependency_name(enum shm_dependency d)
{
	return (unsigned)d < SHM_DEP_MAX ? shm_dependency_names[d] : "unknown";
}

static const char *const shm_idem_outcome_names[SHM_IDEM_MAX] = {
    "stored", "released", "replayed", "conflict", "mismatch", "unavailable", "lost"};

const char *
shm_idem_outcome_name(enum shm_idem_outcome o)
{
	return (unsigned)o < SHM_IDEM_MAX ? shm_idem_outcome_names[o] : "unknown";
}

const char *
shm_pool_name(enum shm_pool p)
{
	return (unsigned)p < SHM_POOL_MAX ? shm_pool_names[p] : "unknown";
}

const char *
shm_db_command_name(enum shm_db_command c)
{
	return (unsigned)c < SHM_DBCMD_MAX ? shm_db_command_names[c] : "other";
}

enum shm_db_command
shm_db_command_from_name(const char *name)
{
	int c;

	if (name == NULL)
		return SHM_DBCMD_OTHER;
	for (c = 0; c < SHM_DBCMD_OTHER; c++)
		if (strcmp(name, shm_db_command_names[c]) == 0)
			return (enum shm_db_command)c;
	return SHM_DBCMD_OTHER;
}

static struct shm_worker *
shm_worker_slot(struct shm_region *r, int slot)
{
	if (slot < 0 || slot >= SHM_MAX_WORKERS)
		return NULL;
	return &r->workers[slot];
}

/* A worker slot's pool estimates back to none. */
static void
shm_worker_pools_reset(struct shm_worker *w)
{
	int p;

	for (p = 0; p < SHM_POOL_MAX; p++)
		atomic_store_explicit(&w->pool_service_us[p], 0, memory_order_relaxed);
}

/* The pid goes in last, so a reader that sees the slot live also sees its fresh counters. */
void
shm_worker_claim(struct shm_region *r, int slot, pid_t pid)
{
	struct shm_worker *w;

	if ((w = shm_worker_slot(r, slot)) == NULL)
		return;
	atomic_store_explicit(&w->started_at_ms, (uint64_t)clock_wall_ms(), memory_order_relaxed);
	atomic_store_explicit(&w->requests, 0, memory_order_relaxed);
	atomic_store_explicit(&w->inflight, 0, memory_order_relaxed);
	shm_worker_pools_reset(w);
	atomic_store_explicit(&w->pid, (int32_t)pid, memory_order_release);
}

void
shm_worker_serving(struct shm_region *r, int slot)
{
	struct shm_worker *w;

	if ((w = shm_worker_slot(r, slot)) != NULL)
		atomic_store_explicit(&w->serving, 1, memory_order_release);
}

int
shm_worker_is_serving(const struct shm_region *r, int slot)
{
	if (slot < 0 || slot >= SHM_MAX_WORKERS)
		return 0;
	return atomic_load_explicit(&r->workers[slot].serving, memory_order_acquire) != 0;
}

void
shm_worker_release(struct shm_region *r, int slot)
{
	struct shm_worker *w;

	if ((w = shm_worker_slot(r, slot)) == NULL)
		return;
	atomic_store_explicit(&w->pid, 0, memory_order_release);
	atomic_store_explicit(&w->started_at_ms, 0, memory_order_relaxed);
	atomic_store_explicit(&w->requests, 0, memory_order_relaxed);
	atomic_store_explicit(&w->inflight, 0, memory_order_relaxed);
	atomic_store_explicit(&w->serving, 0, memory_order_relaxed);
	shm_worker_pools_reset(w);
}

uint32_t
shm_epoch_slot(const char *name, size_t len)
{
	return (uint32_t)(XXH3_64bits(name, len) % SHM_EPOCH_SLOTS);
}

void
shm_epoch_bump(struct shm_region *r, uint32_t slot)
{
	atomic_fetch_add_explicit(&r->epochs[slot % SHM_EPOCH_SLOTS], 1, memory_order_release);
}

/* A short spin on the list's lock: the holder only copies a name. 0 once held, -1 if busy. */
static int
shm_missed_lock(struct shm_missed *m)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (!atomic_flag_test_and_set_explicit(&m->lock, memory_order_acquire))
			return 0;
		sched_yield();
	}
	return -1;
}

void
shm_missed_add(struct shm_region *r, const char *name)
{
	struct shm_missed *m = &r->l2_missed;
	size_t len = strlen(name);
	int i;

	if (shm_missed_lock(m) != 0) {
		/* a holder that died inside: the list is lost, drop everything */
		atomic_store_explicit(&m->overflow, 1, memory_order_release);
		return;
	}
	for (i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			break;
	if (i == m->n) {
		if (m->n < SHM_MISSED_MAX && len < SHM_MISSED_NAME)
			memcpy(m->names[m->n++], name, len + 1);
		else
			atomic_store_explicit(&m->overflow, 1, memory_order_release);
	}
	atomic_flag_clear_explicit(&m->lock, memory_order_release);
}

int
shm_missed_take(struct shm_region *r, char out[][SHM_MISSED_NAME])
{
	struct shm_missed *m = &r->l2_missed;
	int n;

	if (shm_missed_lock(m) != 0) {
		/* its holder died inside (it only copies a name): free the lock, drop everything */
		m->n = 0;
		atomic_store_explicit(&m->overflow, 0, memory_order_release);
		atomic_flag_clear_explicit(&m->lock, memory_order_release);
		return -1;
	}
	n = atomic_exchange_explicit(&m->overflow, 0, memory_order_acq_rel) ? -1 : m->n;
	if (n > 0)
		memcpy(out, m->names, (size_t)n * SHM_MISSED_NAME);
	m->n = 0;
	atomic_flag_clear_explicit(&m->lock, memory_order_release);
	return n;
}

/* Stores s (cut to words * 8 - 1 bytes, NUL-padded) into atomic words, relaxed: a reader
 * that needs the words together orders them itself (a seqlock, as shm_redis_master_*). */
static void
shm_text_store(_Atomic uint64_t *dst, size_t words, const char *s)
{
	size_t i, off, n = s != NULL ? strnlen(s, words * 8 - 1) : 0;
	uint64_t w;

	for (i = 0; i < words; i++) {
		w = 0;
		off = i * 8;
		if (off < n)
			memcpy(&w, s + off, n - off < 8 ? n - off : 8);
		atomic_store_explicit(&dst[i], w, memory_order_relaxed);
	}
}

/* Copies words atomic words into out (words * 8 bytes), relaxed; out always ends in a NUL. */
static void
shm_text_load(const _Atomic uint64_t *src, size_t words, char *out)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < words; i++) {
		w = atomic_load_explicit(&src[i], memory_order_relaxed);
		memcpy(out + i * 8, &w, 8);
	}
	out[words * 8 - 1] = '\0';
}

void
shm_slow_add(struct shm_region *r, uint64_t at_ms, uint64_t us, const char *command,
	     const char *collection, const char *request_id)
{
	uint64_t ticket = atomic_fetch_add_explicit(&r->slow_next, 1, memory_order_relaxed);
	struct shm_slow_entry *e = &r->slow_recent[ticket % SHM_SLOW_RECENT];

	/* odd while written; a later writer of the same slot takes a larger number */
	atomic_store_explicit(&e->seq, 2 * ticket + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->at_ms, at_ms, memory_order_relaxed);
	atomic_store_explicit(&e->us, us, memory_order_relaxed);
	shm_text_store(e->command, SHM_SLOW_COMMAND / 8, command);
	shm_text_store(e->collection, SHM_SLOW_COLLECTION / 8, collection);
	shm_text_store(e->request_id, SHM_SLOW_REQUEST_ID / 8, request_id);
	atomic_store_explicit(&e->seq, 2 * ticket + 2, memory_order_release);
}

int
shm_slow_read(const struct shm_region *r, struct shm_slow_query *out, int max)
{
	uint64_t next = atomic_load_explicit(&r->slow_next, memory_order_acquire), t;
	int n = 0;

	for (t = next; t > 0 && next - t < SHM_SLOW_RECENT && n < max; t--) {
		const struct shm_slow_entry *e = &r->slow_recent[(t - 1) % SHM_SLOW_RECENT];
		uint64_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire), s2;

		if (s1 != 2 * (t - 1) + 2) /* being written, or already replaced */
			continue;
		out[n].at_ms = atomic_load_explicit(&e->at_ms, memory_order_relaxed);
		out[n].us = atomic_load_explicit(&e->us, memory_order_relaxed);
		shm_text_load(e->command, SHM_SLOW_COMMAND / 8, out[n].command);
		shm_text_load(e->collection, SHM_SLOW_COLLECTION / 8, out[n].collection);
		shm_text_load(e->request_id, SHM_SLOW_REQUEST_ID / 8, out[n].request_id);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s2 == s1)
			n++;
	}
	return n;
}

void
shm_redis_master_publish(struct shm_region *r, const char *host, int port)
{
	uint64_t seq = atomic_load_explicit(&r->redis_master_seq, memory_order_relaxed);

	/* odd while written: a reader that sees it, or a change across its copy, reads again */
	atomic_store_explicit(&r->redis_master_seq, seq | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	shm_text_store(r->redis_master_host, SHM_REDIS_HOST_WORDS, host);
	atomic_store_explicit(&r->redis_master_port, port, memory_order_relaxed);
	atomic_store_explicit(&r->redis_master_seq, (seq | 1) + 1, memory_order_release);
}

uint64_t
shm_redis_master_read(struct shm_region *r, char *host, size_t hostlen, int *port)
{
	char bytes[SHM_REDIS_HOST_WORDS * 8];
	uint64_t s1, s2;

	do {
		s1 = atomic_load_explicit(&r->redis_master_seq, memory_order_acquire);
		if (s1 == 0)
			return 0;
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		shm_text_load(r->redis_master_host, SHM_REDIS_HOST_WORDS, bytes);
		*port = atomic_load_explicit(&r->redis_master_port, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&r->redis_master_seq, memory_order_relaxed);
	} while ((s1 & 1) || s1 != s2);
	snprintf(host, hostlen, "%s", bytes);
	return s1 / 2;
}
