/*
 * shm.h: the region shared by the master, every worker and the monitor.
 *
 * One mmap(MAP_SHARED | MAP_ANONYMOUS) made by the master before fork, so every process sees
 * the same bytes at the same address. The layout is fixed and versioned (SHM_VERSION); every
 * field a request touches is a C11 atomic updated with relaxed adds, so recording a request
 * takes no lock and no system call. Only totals since start are written on the request path;
 * the monitor derives each window by subtracting its previous snapshot and publishes the last
 * complete window in `window` for the JSON endpoints (a seqlock: `window_seq` is odd while the
 * monitor writes).
 *
 * Histograms are log-linear over microseconds: values 0-31 have a bucket each, and above that
 * each power of two is cut into 32 equal sub-buckets, so any value is known to within 1/32 (about
 * two significant digits). 2^26 - 1 us (67 s) is the largest value; larger ones land there.
 */
#ifndef ENTERPRISED_SHM_H
#define ENTERPRISED_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"

#define SHM_MAGIC 0x454e5445u /* "ENTE" */
#define SHM_VERSION 10

#define SHM_HIST_SUB_BITS 5
#define SHM_HIST_SUB (1u << SHM_HIST_SUB_BITS) /* 32 sub-buckets per power of two */
#define SHM_HIST_TOP_BIT 26		       /* values < 2^26 us */
#define SHM_HIST_MAX_US ((UINT64_C(1) << SHM_HIST_TOP_BIT) - 1)
#define SHM_HIST_BUCKETS (SHM_HIST_SUB + (SHM_HIST_TOP_BIT - SHM_HIST_SUB_BITS) * SHM_HIST_SUB)

/* Worker slots: room for two generations of CONFIG_MAX_WORKERS (64) workers each, since a
 * reload (SIGHUP) starts the new generation before the old one has drained (master.c). */
#define SHM_MAX_WORKERS 128

/*
 * Invalidation epochs: a table of counters indexed by a hash of a dependency name
 * ("organization:<id>", "list:clinic", ...). A write bumps the slots of what it changed
 * before it answers; a worker-memory cache entry remembers the slots it depends on and is
 * stale once any of them moved. Two names sharing a slot only cost extra misses.
 */
#define SHM_EPOCH_SLOTS 65536

/* Route classes: one latency budget each (the guide's table), plus our own. */
enum shm_route_class {
	SHM_CLASS_HEALTH,
	SHM_CLASS_ORGANIZATION, /* organization CRUD, 150 ms */
	SHM_CLASS_CLINIC,	/* clinic CRUD, 150 ms */
	SHM_CLASS_ASSIGNMENT,	/* assignment operations, 200 ms */
	SHM_CLASS_LIST,		/* list queries, 200 ms */
	SHM_CLASS_SEARCH,	/* search, 300 ms */
	SHM_CLASS_REPORT,	/* reports and stats, 2000 ms */
	SHM_CLASS_EXPORT,	/* streamed CSV / NDJSON exports (issue 9), 120 s timeout */
	SHM_CLASS_PERFORMANCE,	/* the service's own metrics endpoints */
	SHM_CLASS_BACKGROUND,	/* work the service starts itself (report precompute), 300 s */
	SHM_CLASS_OTHER,	/* unknown routes, 404/405 */
	SHM_CLASS_MAX
};

/* Cached resources (filled by the cache work). */
enum shm_resource {
	SHM_RES_ORGANIZATION,
	SHM_RES_CLINIC,
	SHM_RES_ASSIGNMENT,
	SHM_RES_LIST,
	SHM_RES_STATS,
	SHM_RES_MAX
};

/* The backend pools of a worker (backend.h). */
enum shm_pool { SHM_POOL_FAST, SHM_POOL_SLOW, SHM_POOL_CACHE, SHM_POOL_EXPORT, SHM_POOL_MAX };

/* Dependencies guarded by a circuit breaker. */
enum shm_dependency { SHM_DEP_MONGODB, SHM_DEP_REDIS, SHM_DEP_MAX };

/* Breaker states as stored in the low byte of shm_breaker.word. */
enum shm_breaker_state { SHM_BREAKER_CLOSED, SHM_BREAKER_OPEN, SHM_BREAKER_HALF_OPEN };

/* Database commands counted from the driver's command monitoring (filled by the API work). */
enum shm_db_command {
	SHM_DBCMD_FIND,
	SHM_DBCMD_INSERT,
	SHM_DBCMD_UPDATE,
	SHM_DBCMD_DELETE,
	SHM_DBCMD_FIND_AND_MODIFY,
	SHM_DBCMD_AGGREGATE,
	SHM_DBCMD_COUNT,
	SHM_DBCMD_CREATE_INDEXES,
	SHM_DBCMD_PING,
	SHM_DBCMD_OTHER,
	SHM_DBCMD_MAX
};

struct shm_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
	_Atomic uint64_t max_us;
	_Atomic uint64_t buckets[SHM_HIST_BUCKETS];
};

/* A plain copy of a histogram, for arithmetic and reporting. */
struct shm_hist_snapshot {
	uint64_t count;
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t buckets[SHM_HIST_BUCKETS];
};

struct shm_cache_counters {
	_Atomic uint64_t l1_hits;
	_Atomic uint64_t l2_hits;
	_Atomic uint64_t misses;
	_Atomic uint64_t sets;
	_Atomic uint64_t deletes;
	_Atomic uint64_t errors;
	_Atomic uint64_t stale;	    /* answers from a copy past its TTL (issue 8) */
	_Atomic uint64_t refreshes; /* refetches before expiry (stale-while-revalidate) */
	_Atomic uint64_t warmed;    /* keys refetched by cache warming */
};

struct shm_breaker {
	/* state in bits 0-7, consecutive failures in 8-31, consecutive successes in 32-55 */
	_Atomic uint64_t word;
	_Atomic uint64_t opened_at_ms; /* CLOCK_MONOTONIC ms of the last CLOSED/HALF_OPEN -> OPEN */
	_Atomic uint64_t opens;	       /* times it opened since start */
};

struct shm_worker {
	_Atomic int32_t pid;		/* 0: slot free */
	_Atomic uint64_t started_at_ms; /* CLOCK_REALTIME ms */
	_Atomic uint64_t requests;
	_Atomic int64_t inflight;
	_Atomic int32_t serving; /* 1 once the worker accepts connections (shm_worker_serving) */
	/* each pool's planned service time, µs (admit_service_us), as of its last task */
	_Atomic uint64_t pool_service_us[SHM_POOL_MAX];
};

/* Results of a configuration reload, the index of shm_region.config_reloads. */
enum shm_reload_result { SHM_RELOAD_OK, SHM_RELOAD_FAILED, SHM_RELOAD_MAX };

/* What became of a create that carried an Idempotency-Key (idempotency.h, issue 10). */
enum shm_idem_outcome {
	SHM_IDEM_STORED,      /* ran first; its answer kept 24 h */
	SHM_IDEM_RELEASED,    /* ran first, failed retryably (5xx): the claim dropped */
	SHM_IDEM_REPLAYED,    /* a retry answered with the kept answer */
	SHM_IDEM_CONFLICT,    /* 409: the first request was still running */
	SHM_IDEM_MISMATCH,    /* 422: the key came back with another request */
	SHM_IDEM_UNAVAILABLE, /* 503: Redis down or its breaker open */
	SHM_IDEM_LOST,	      /* the claim expired or Redis failed before the answer was kept */
	SHM_IDEM_MAX
};

/*
 * The invalidations that did not reach Redis (issue 8: after a Redis outage only the values
 * the writes changed are dropped, not every value, so stale copies of the rest still answer
 * when MongoDB fails next). Guarded by a try-lock: a process killed inside it, or more names
 * than fit, turn into `overflow`: drop everything, as before.
 */
#define SHM_MISSED_MAX 64
#define SHM_MISSED_NAME 96
struct shm_missed {
	atomic_flag lock;
	int32_t n;		  /* under lock */
	_Atomic int32_t overflow; /* also set without the lock, when it stays busy */
	char names[SHM_MISSED_MAX][SHM_MISSED_NAME];
};

/*
 * Rate-limit buckets (issue 10, ratelimit.c): one token bucket per (caller, route class),
 * shared by every worker of this instance. A fixed table of SHM_RL_SLOTS slots; a key lives
 * in one of the SHM_RL_PROBE slots after its hash, and a new key takes an empty slot there or
 * evicts one whose bucket has refilled completely (losing it changes no decision: a new bucket
 * starts full). When every slot of the window holds a bucket still in use, the caller is
 * charged to its class's shared `overflow` bucket instead, so a flood of new callers neither
 * evicts anyone else's bucket nor grows memory. Each slot has its own lock word: 0 free, else
 * 1 + the CLOCK_MONOTONIC ms at which it was taken (a lock held for SHM_RL_LOCK_STALE_MS
 * belongs to a process that died inside it and is taken over). 40 bytes a slot, 640 KiB.
 */
#define SHM_RL_SLOTS 16384 /* a power of two */
#define SHM_RL_PROBE 8
#define SHM_RL_LOCK_STALE_MS 1000

struct shm_rl_slot {
	_Atomic uint64_t lock;
	/* written under lock; read without it (relaxed) only to choose a slot */
	_Atomic uint64_t key;	     /* keyed hash of (caller, class), never 0; 0: empty */
	_Atomic uint64_t stamp_ms;   /* CLOCK_MONOTONIC ms of the last refill */
	_Atomic uint64_t full_at_ms; /* when the bucket is full again: evictable from then on */
	_Atomic int64_t milli;	     /* tokens x 1000 */
};

struct shm_ratelimit {
	struct hash_secret secret; /* the key hash's, drawn by shm_create */
	struct shm_rl_slot slots[SHM_RL_SLOTS];
	struct shm_rl_slot overflow[SHM_CLASS_MAX]; /* one a route class */
	_Atomic uint64_t limited[SHM_CLASS_MAX];    /* answers 429 by route class */
	_Atomic uint64_t overflowed[SHM_CLASS_MAX]; /* requests charged to the overflow bucket */
	_Atomic uint64_t lock_busy; /* requests let through because a slot stayed locked */
};

/*
 * The most recent slow database commands (issue 10: the dashboard lists them). A ring written by
 * any worker's backend thread, read by the monitor; each entry is its own seqlock (`seq` odd
 * while written, 0 never written), and its text lives in atomic words, so a torn read is
 * detected and skipped, never returned.
 */
#define SHM_SLOW_RECENT 16
#define SHM_SLOW_COMMAND 32    /* bytes, with the NUL */
#define SHM_SLOW_COLLECTION 64 /* bytes, with the NUL */
#define SHM_SLOW_REQUEST_ID 72 /* bytes, with the NUL (an X-Request-Id is at most 64) */
struct shm_slow_entry {
	_Atomic uint64_t seq;
	_Atomic uint64_t at_ms; /* CLOCK_REALTIME ms when it finished */
	_Atomic uint64_t us;	/* its duration */
	_Atomic uint64_t command[SHM_SLOW_COMMAND / 8];
	_Atomic uint64_t collection[SHM_SLOW_COLLECTION / 8];
	_Atomic uint64_t request_id[SHM_SLOW_REQUEST_ID / 8];
};

/* A plain copy of one entry. */
struct shm_slow_query {
	uint64_t at_ms, us;
	char command[SHM_SLOW_COMMAND];
	char collection[SHM_SLOW_COLLECTION];
	char request_id[SHM_SLOW_REQUEST_ID];
};

#define SHM_REDIS_HOST_WORDS 8 /* 64 bytes: a host name or address of 63 at most */

/* Process kinds (enum sandbox_kind) and the children that report seccomp violations. */
#define SHM_PROC_KINDS 4
#define SHM_MAX_MONITORS 4
#define SHM_MAX_KEYMGRS 4 /* one a generation: the serving one and those draining */
#define SHM_SECCOMP_SLOTS (SHM_MAX_WORKERS + SHM_MAX_MONITORS + SHM_MAX_KEYMGRS)

struct shm_region {
	uint32_t magic;
	uint32_t version;
	uint64_t size;	       /* sizeof(struct shm_region) */
	uint64_t start_time_s; /* master start, unix seconds */

	struct shm_hist latency[SHM_CLASS_MAX];	   /* since start */
	_Atomic uint64_t status[SHM_CLASS_MAX][6]; /* index status / 100; 0 = other */

	/* the last complete monitor window, published by the monitor */
	_Atomic uint64_t window_seq;
	_Atomic uint64_t window_period_s;
	_Atomic uint64_t window_end_ms;
	struct shm_hist window[SHM_CLASS_MAX];

	struct shm_cache_counters cache[SHM_RES_MAX];
	struct shm_breaker breakers[SHM_DEP_MAX];
	_Atomic uint64_t db_commands[SHM_DBCMD_MAX];
	_Atomic uint64_t db_slow_commands;
	/* requests answered 503 at once because the backend would have kept them past their
	 * class's shed budget (refused at submission, or dequeued late; issue 8) */
	_Atomic uint64_t shed[SHM_CLASS_MAX];

	_Atomic uint64_t epochs[SHM_EPOCH_SLOTS];
	/* while the monitor's subscription to other instances' invalidations is live, the end of
	 * its lease on worker memory (CLOCK_MONOTONIC ms modulo 2^32; 0: none). Without it worker
	 * memory could miss their writes, so workers skip it; the master withdraws it at once
	 * when the monitor dies */
	_Atomic int32_t l1_trusted;
	/* 1 when a write could not invalidate Redis: as soon as Redis answers again the monitor
	 * moves the generations the writes named (l2_missed), or every Redis value's (the
	 * global generation) when they did not all fit; until then no Redis value is read */
	_Atomic int32_t l2_suspect;
	struct shm_missed l2_missed;
	/* the Redis master that the monitor's listener resolved through Sentinel (issue 11): a
	 * seqlock, redis_master_seq odd while written, 0 while none is known; every worker
	 * connection reconnects when it moves (shm_redis_master_*) */
	_Atomic uint64_t redis_master_seq;
	_Atomic uint64_t redis_master_host[SHM_REDIS_HOST_WORDS]; /* NUL-terminated bytes */
	_Atomic int32_t redis_master_port;

	struct shm_worker workers[SHM_MAX_WORKERS];
	_Atomic uint64_t worker_restarts;
	_Atomic int32_t monitor_pid;
	_Atomic int32_t draining; /* 1 once the master has begun a graceful stop */
	_Atomic uint64_t config_reloads[SHM_RELOAD_MAX]; /* SIGHUP reloads by result */

	struct shm_ratelimit ratelimit; /* per-caller token buckets (ratelimit.c) */
	_Atomic uint64_t slow_next; /* slow commands recorded in slow_recent so far */
	struct shm_slow_entry slow_recent[SHM_SLOW_RECENT];
	_Atomic uint64_t idempotency[SHM_IDEM_MAX];	 /* keyed creates by outcome */
	/* seccomp (sandbox.c): a child killed for a system call outside its allow-list wrote
	 * the call's number + 1 here (its master entry: worker slot, then monitors, then the
	 * keymgrs) from its SIGSYS handler; the master reads it when it reaps the child, logs
	 * the name and counts it by process kind (enum sandbox_kind) */
	_Atomic int32_t seccomp_nr[SHM_SECCOMP_SLOTS];
	_Atomic uint64_t seccomp_violations[SHM_PROC_KINDS];
	_Atomic uint64_t keymgr_restarts; /* key managers restarted by the master (keymgr.c) */
	_Atomic uint64_t keymgr_failures; /* private-key operations a worker got no answer to */
};

/* Creates the region (zeroed, magic/version/size/start time set, the rate-limit hash secret
 * drawn from getrandom). NULL with err on failure. */
struct shm_region *shm_create(char *err, size_t errlen);
void shm_destroy(struct shm_region *r);

/* Records one finished request: latency histogram and status counter of its class. */
void shm_record_request(struct shm_region *r, enum shm_route_class cls, int status, uint64_t us);

/* Histogram primitives (pure; also used on snapshots by the monitor and the tests). */
void shm_hist_record(struct shm_hist *h, uint64_t us);
size_t shm_hist_bucket_index(uint64_t us);
uint64_t shm_hist_bucket_lower(size_t index); /* smallest value of the bucket */
uint64_t shm_hist_bucket_upper(size_t index); /* largest value of the bucket */
void shm_hist_snapshot(const struct shm_hist *h, struct shm_hist_snapshot *out);
void shm_hist_merge(struct shm_hist_snapshot *into, const struct shm_hist_snapshot *add);
/* into -= before (both cumulative, before taken earlier); max_us becomes the window's upper
 * bound: the upper edge of its highest non-empty bucket, capped by the later max. */
void shm_hist_subtract(struct shm_hist_snapshot *into, const struct shm_hist_snapshot *before);
/* Value at percentile p (0 < p <= 100) in us: the midpoint of the bucket holding the rank
 * ceil(p/100 * count), capped by max_us. 0 when empty. */
uint64_t shm_hist_percentile(const struct shm_hist_snapshot *s, double p);
/* Count of recorded values <= us (Prometheus `le`), counting a bucket when its upper edge is <= us.
 */
uint64_t shm_hist_count_le(const struct shm_hist_snapshot *s, uint64_t us);

/* Window publication (monitor) and reading (anyone), consistent through window_seq. */
void shm_window_publish(struct shm_region *r, const struct shm_hist_snapshot *classes,
			uint64_t period_s, uint64_t end_ms);
/* Copies the last published window; returns 0, or -1 if none was published yet. */
int shm_window_read(const struct shm_region *r, struct shm_hist_snapshot *classes,
		    uint64_t *period_s, uint64_t *end_ms);

const char *shm_class_name(enum shm_route_class c);	/* "organization", "list", ... */
const char *shm_resource_name(enum shm_resource r);	/* "organization", ... */
const char *shm_dependency_name(enum shm_dependency d); /* "mongodb", "redis" */
const char *shm_pool_name(enum shm_pool p);		/* "fast", "slow", "cache", "export" */
const char *shm_db_command_name(enum shm_db_command c); /* "find", "findAndModify", ... */
enum shm_db_command shm_db_command_from_name(const char *name);
/* "stored", "replayed", ... (the `outcome` label of enterprise_idempotency_requests_total) */
const char *shm_idem_outcome_name(enum shm_idem_outcome o);

/* The epoch slot of a dependency name, and a bump of it (relaxed; no lock, no syscall). */
uint32_t shm_epoch_slot(const char *name, size_t len);
void shm_epoch_bump(struct shm_region *r, uint32_t slot);
/* Any process: remembers that the invalidation of name (a read-cache dependency) missed Redis;
 * a name too long, a full list or a busy lock mark the list as overflowed instead. */
void shm_missed_add(struct shm_region *r, const char *name);
/*
 * The monitor: moves the list out of the region into out (SHM_MISSED_MAX names) and empties
 * it. Returns the number of names, or -1 when it overflowed (or the lock stayed busy): then
 * every value must be dropped. Names added after the take stay for the next one.
 */
int shm_missed_take(struct shm_region *r, char out[][SHM_MISSED_NAME]);

/* Records one slow database command (any process, any thread; no lock, no system call):
 * finished at at_ms (CLOCK_REALTIME), lasting us; command, collection and request_id (each may
 * be NULL) are cut to their fields' sizes. The oldest of SHM_SLOW_RECENT entries is replaced. */
void shm_slow_add(struct shm_region *r, uint64_t at_ms, uint64_t us, const char *command,
		  const char *collection, const char *request_id);
/* Copies up to max of the most recent slow commands into out, newest first; an entry being
 * written at that moment is left out. Returns the number copied. */
int shm_slow_read(const struct shm_region *r, struct shm_slow_query *out, int max);

/*
 * The monitor's listener: publishes host:port (host up to 63 bytes, longer is cut) as the
 * Redis master and moves its generation. Rule: issue 11 (Redis Sentinel), one resolver.
 */
void shm_redis_master_publish(struct shm_region *r, const char *host, int port);
/*
 * Any process: copies the published master into host (hostlen bytes, NUL-terminated) and
 * *port. Returns its generation (>= 1; a publish moves it), or 0 while none was published.
 */
uint64_t shm_redis_master_read(struct shm_region *r, char *host, size_t hostlen, int *port);

/* Worker slots, managed by the master. Claim sets pid and zeroes the counters (the master and
 * then the worker itself claim, in either order); release frees the slot and clears its
 * serving flag, which the master does before it forks into the slot, so only the worker sets
 * it. A slot outside 0..SHM_MAX_WORKERS-1 is ignored. */
void shm_worker_claim(struct shm_region *r, int slot, pid_t pid);
void shm_worker_release(struct shm_region *r, int slot);
/* The worker in slot accepts connections now (the master waits for this before it retires
 * the previous generation on a reload); shm_worker_is_serving reads it: 1 or 0. */
void shm_worker_serving(struct shm_region *r, int slot);
int shm_worker_is_serving(const struct shm_region *r, int slot);

#endif
