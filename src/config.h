/*
 * config.h: the one configuration of enterprised.
 *
 * Read once by the master from kore.conf (Kore's syntax), then overridden by the environment
 * variables of the product guide. Workers and the monitor get a copy through fork, so nothing
 * here is ever written after start-up.
 */
#ifndef ENTERPRISED_CONFIG_H
#define ENTERPRISED_CONFIG_H

#include <limits.h>
#include <stddef.h>

#define CONFIG_MAX_SERVERS 4
#define CONFIG_MAX_WORKERS 64
#define CONFIG_ERR_MAX 512
#define CONFIG_STR_MAX 1024
/* Least length of jwt_secret and cursor_secret, bytes: an HMAC-SHA256 key as long as the hash
 * (RFC 7518 section 3.2) */
#define CONFIG_SECRET_MIN 32
/* uPlot's dist/ as tools/deps installs it, relative to the working directory */
#define CONFIG_DASHBOARD_VENDOR_DIR ".tools/node/node_modules/uplot/dist"

enum config_death_policy { CONFIG_DEATH_RESTART, CONFIG_DEATH_TERMINATE };

/* The processes a `privsep NAME { }` block configures (Kore's names), the index of
 * config.privsep. The master has none: it keeps root to fork and to reload. */
enum config_privsep_kind { CONFIG_PRIVSEP_WORKER, CONFIG_PRIVSEP_MONITOR, CONFIG_PRIVSEP_KEYMGR };
#define CONFIG_PRIVSEP_MAX 3

/* privsep NAME { runas USER; root DIR; skip chroot } (Kore's kore.conf) */
struct config_privsep {
	char runas[64];	     /* empty: keep the user the master runs as */
	char root[PATH_MAX]; /* chroot directory; empty: none */
	int skip_chroot;     /* `skip chroot`: root is ignored */
	/* "FILE:LINE" of the runas and root directives (empty: not set), so the checks made
	 * after parsing (sandbox_check: the user exists, the root is a directory) can say where */
	char runas_at[PATH_MAX + 16];
	char root_at[PATH_MAX + 16];
};

struct config_server {
	char name[64];
	char ip[64];
	int port;
	int tls; /* 1 by default; `tls no` serves plain HTTP */
};

/* A token bucket's shape (ratelimit.c): requests a second, and the most at once. */
struct config_rate {
	int rate;  /* tokens per second, 0..CONFIG_RATE_MAX; 0: no limit */
	int burst; /* bucket size in requests, 1..CONFIG_RATE_MAX when rate > 0 */
};
#define CONFIG_RATE_MAX 1000000
#define CONFIG_WHERE_FIELDS 4 /* mongodb_uri, redis_url, redis_sentinels, redis_sentinel_master */
#define CONFIG_WHERE_MAX 320  /* bytes of one "FILE:LINE" (the file name is cut if need be) */

struct config {
	char path[PATH_MAX]; /* the file that was read */
	/* where the values checked only after parsing were set (config_where): "FILE:LINE" or
	 * "environment NAME"; empty: the default */
	char where[CONFIG_WHERE_FIELDS][CONFIG_WHERE_MAX];

	struct config_server servers[CONFIG_MAX_SERVERS];
	int nservers;

	/* processes */
	int workers;		     /* default: CPU count */
	int worker_max_connections;  /* default 512 */
	int worker_death_policy;     /* enum config_death_policy */
	int worker_backend_threads;  /* backend threads per worker, default 4 */
	int worker_shutdown_timeout; /* seconds in-flight requests get on SIGTERM, default 10 */

	/* http */
	size_t http_body_max;		/* bytes, default 1 MiB */
	int http_header_timeout;	/* seconds, default 10 */
	int http_keepalive_time;	/* seconds, default 20 */
	int http2;			/* 0 by default */
	int request_timeout_ms;		/* default route class deadline, 30000 */
	int search_timeout_ms;		/* 5000 */
	int report_timeout_ms;		/* 120000 (reports) */
	int export_timeout_ms;		/* 120000 (exports, issue 9) */
	int background_timeout_ms;	/* 300000 (work the service starts itself) */
	int report_precompute_interval; /* seconds between platform report precomputes; 0: off */
	/* issue 8: how long a read through the cache (READ_BUDGET_MS, 2000) or a write
	 * (WRITE_BUDGET_MS, 5000) may wait on the database before it answers: a stale copy, or
	 * 503 with Retry-After. Never longer than the route class deadline; 0: that deadline */
	int read_budget_ms;
	int write_budget_ms;
	/* shed budgets, ms (issue 8): work the backend expects to finish later than this after
	 * it was deferred is refused at once (503 + Retry-After, or a stale copy); 0 never sheds.
	 * Defaults: the guide's P95 targets (SHED_BUDGET_ORGANIZATION, ...) */
	int shed_budget_organization_ms; /* 150 */
	int shed_budget_clinic_ms;	 /* 150 */
	int shed_budget_assignment_ms;	 /* 200 */
	int shed_budget_list_ms;	 /* 200 */
	int shed_budget_search_ms;	 /* 300 */
	int shed_budget_report_ms;	 /* 2000 */

	/* rate limits (issue 10, ratelimit.c): ratelimit { } block, RATELIMIT_* environment.
	 * Per caller and route class: `rate` tokens a second refill a bucket of `burst`
	 * requests; rate 0 turns the class's limit off, enabled 0 every limit */
	int ratelimit_enabled; /* RATELIMIT_ENABLED, default yes */
	struct config_rate ratelimit_organization;
	struct config_rate ratelimit_clinic;
	struct config_rate ratelimit_assignment;
	struct config_rate ratelimit_list;
	struct config_rate ratelimit_search;
	struct config_rate ratelimit_report;
	struct config_rate ratelimit_export;

	char certfile[PATH_MAX];
	char certkey[PATH_MAX];
	int keymgr; /* keymgr on|off (KEYMGR), on by default: the key lives in the keymgr process */
	char pidfile[PATH_MAX];	  /* empty: none */
	char accesslog[PATH_MAX]; /* empty: none; "-" is stdout */
	int accesslog_json;	  /* accesslog_format json|text (ACCESSLOG_FORMAT), default text */

	/* mongodb { } */
	char mongodb_uri[CONFIG_STR_MAX]; /* MONGODB_URI */
	int db_pool_size;		  /* DB_POOL_SIZE, min pool, default 5 */
	int db_max_pool_size;		  /* DB_MAX_POOL_SIZE, default 50 */
	int db_idle_timeout_ms;		  /* DB_IDLE_TIMEOUT_MS, default 300000 */
	int db_slow_query_threshold_ms;	  /* DB_SLOW_QUERY_THRESHOLD, default 100 */
	int db_enable_query_logging;	  /* DB_ENABLE_QUERY_LOGGING, default 0 */
	int query_max_batch_size;	  /* QUERY_MAX_BATCH_SIZE, default 50 */

	/* redis { } */
	char redis_url[CONFIG_STR_MAX];	      /* REDIS_URL */
	int redis_connect_timeout_ms;	      /* default 50 */
	int redis_command_timeout_ms;	      /* default 50 */
	char redis_sentinels[CONFIG_STR_MAX]; /* REDIS_SENTINELS "host:port,..."; empty: none */
	char redis_sentinel_master[CONFIG_STR_MAX]; /* REDIS_SENTINEL_MASTER, the master's name */

	/* cache: Redis (L2) with the guide's TTLs, worker memory (L1) capped shorter */
	int cache_enabled;	    /* CACHE_ENABLED, default 1 */
	int cache_ttl_organization; /* CACHE_TTL_ORGANIZATION, 300 s */
	int cache_ttl_clinic;	    /* 300 */
	int cache_ttl_assignment;   /* 60 */
	int cache_ttl_list;	    /* 30 */
	int cache_ttl_stats;	    /* 120 */
	int cache_ttl_session;	    /* 1800 */
	int cache_ttl_config;	    /* 600 */
	int cache_l1_max_entries;   /* CACHE_L1_MAX_ENTRIES, per worker, 10000; 0 disables */
	size_t cache_l1_max_bytes;  /* CACHE_L1_MAX_BYTES, per worker, 64 MiB */
	int cache_l1_ttl_cap;	    /* CACHE_L1_TTL_CAP, seconds, 30: worker memory
				       keeps an entry at most this long */
	/* issue 8: a cached read is kept past its TTL for min(TTL * stale_grace_factor,
	 * stale_grace_max) seconds, to answer with when MongoDB fails (0: no stale answers) */
	int cache_stale_grace_factor; /* CACHE_STALE_GRACE_FACTOR, 4 */
	int cache_stale_grace_max;    /* CACHE_STALE_GRACE_MAX, seconds, 3600 */
	/* a hit in the last cache_refresh_ahead percent of its TTL starts one background refresh
	 * (CACHE_REFRESH_AHEAD, 20; 0: never) */
	int cache_refresh_ahead;
	/* cache warming: every cache_warm_interval seconds (CACHE_WARM_INTERVAL, 0: off, the
	 * default) each worker refetches its keys read at least twice in the interval, at most
	 * cache_warm_keys of them (CACHE_WARM_KEYS, 64, up to 256) */
	int cache_warm_interval;
	int cache_warm_keys;

	/* pagination */
	int pagination_default_limit; /* 20 */
	int pagination_max_limit;     /* 100 */
	int pagination_use_cursor;    /* 0 */

	/* circuit breaker */
	int breaker_enabled;	       /* CIRCUIT_BREAKER_ENABLED, 1 */
	int breaker_failure_threshold; /* 5 */
	int breaker_success_threshold; /* 2 */
	int breaker_timeout_ms;	       /* 60000 */

	/* monitor { } */
	char monitor_ip[64];		  /* 127.0.0.1 */
	int monitor_port;		  /* 9464; 0 disables the /metrics listener */
	int monitor_interval;		  /* MONITORING_INTERVAL seconds, default 60 */
	int monitoring_enabled;		  /* MONITORING_ENABLED, default 1 */
	int monitoring_slow_threshold_ms; /* MONITORING_SLOW_THRESHOLD, default 1000 */
	int monitoring_retention_ms;	  /* MONITORING_RETENTION, default 3600000 */
	/* DASHBOARD_VENDOR_DIR: where the dashboard's chart library (uPlot's dist/) is served
	 * from; default .tools/node/node_modules/uplot/dist under the working directory */
	char dashboard_vendor_dir[PATH_MAX];

	/* accepted for compatibility with the guide; no effect in C */
	int memory_gc_enabled; /* MEMORY_GC_ENABLED */

	/* sandbox (issue 12, src/sandbox.c) */
	struct config_privsep privsep[CONFIG_PRIVSEP_MAX];
	int seccomp;	     /* seccomp yes|no, default yes: each process's allow-list */
	int seccomp_tracing; /* seccomp_tracing yes|no (Kore), default no: log, do not kill */
	/* command line (-n, -r): for development, over every privsep block; kept on reload */
	int cli_skip_chroot;
	int cli_skip_runas;

	/* test and diagnosis routes (/api/v1/debug/...); never in production */
	int debug_routes; /* debug_routes yes|no, default no */

	/* auth (used by the API) */
	char jwt_secret[CONFIG_STR_MAX];    /* JWT_SECRET */
	char jwt_public_key_file[PATH_MAX]; /* JWT_PUBLIC_KEY_FILE */
	char jwt_issuer[256];		    /* JWT_ISSUER */
	char jwt_audience[256];		    /* JWT_AUDIENCE */
	int jwt_leeway_s; /* JWT_LEEWAY: clock skew allowed on exp and nbf, seconds, default 30 */
	/* CURSOR_SECRET: signs list cursors; required with jwt_public_key_file, else derived from
	 * jwt_secret (page_key_derive) */
	char cursor_secret[CONFIG_STR_MAX];
};

/* Fills every field with its default (workers = CPU count, one server 127.0.0.1:8888 tls);
 * config_defaults.c. */
void config_defaults(struct config *c);

/*
 * Reads FILE into c (call config_defaults first). Returns 0, or -1 with err set to
 * "FILE:LINE: what is wrong" (or "FILE: what is wrong" when the file cannot be opened).
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/*
 * Parses config text already in memory; `name` is used in messages. Same contract as
 * config_load; `include` paths are relative to the directory of `name`.
 */
int config_parse(struct config *c, const char *name, const char *text, char *err, size_t errlen);

/*
 * Applies the guide's environment variables over the file. Returns 0, or -1 with err set to
 * "environment NAME: what is wrong".
 */
int config_apply_env(struct config *c, char *err, size_t errlen);

/*
 * Cross-field checks done after file and environment: certificate and key readable when a
 * server has tls, pool sizes ordered, at least one server. Same error contract.
 * config_validate.c.
 */
int config_validate(const struct config *c, char *err, size_t errlen);

/*
 * Where field (&c->mongodb_uri, &c->redis_url, &c->redis_sentinels or
 * &c->redis_sentinel_master: the values checked after parsing, by the database clients) was
 * set: "FILE:LINE", "environment NAME", or c->path when it is the default. For messages:
 * `enterprised -t` names the line to fix.
 */
const char *config_where(const struct config *c, const void *field);

#endif
