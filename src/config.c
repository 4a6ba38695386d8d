/*
 * config.c: reads kore.conf (Kore's syntax) and the guide's environment variables.
 *
 * Every setting is one row of config_options: where it may appear in the file (block and
 * directive), which environment variable overrides it, its type, where it lives in struct
 * config and its allowed range. The file parser and config_apply_env both go through
 * config_option_set, so a value is checked the same way whichever way it arrives.
 *
 * The parser is line based: a line is `directive value...`, `name {` (or `server NAME {`),
 * `}`, or `include FILE`. A `#` that starts a word starts a comment, so `redis://h/0#x` keeps
 * its `#`. `$VAR` and `${VAR}` are expanded inside each value after the line is split into
 * words, so a variable holding spaces stays one value; `$$` is a literal `$`. Blocks do not
 * nest and must be closed in the file that opened them; `include` is allowed at top level.
 * Relative paths are made absolute against the directory of the file they are written in.
 *
 * What a setting is before it is read lives in config_defaults.c; the checks that need the
 * whole configuration (run after file and environment) in config_validate.c.
 */
#include "config.h"
#include "buf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONFIG_INCLUDE_DEPTH 8
#define CONFIG_MAX_WORDS 8

enum config_block {
	BLOCK_TOP,
	BLOCK_SERVER,
	BLOCK_MONGODB,
	BLOCK_REDIS,
	BLOCK_CACHE,
	BLOCK_PAGINATION,
	BLOCK_BREAKER,
	BLOCK_MONITOR,
	BLOCK_AUTH,
	BLOCK_RATELIMIT,
	BLOCK_PRIVSEP,
	BLOCK_COUNT
};

static const char *const config_block_names[BLOCK_COUNT] = {
    [BLOCK_TOP] = "top level",
    [BLOCK_SERVER] = "server",
    [BLOCK_MONGODB] = "mongodb",
    [BLOCK_REDIS] = "redis",
    [BLOCK_CACHE] = "cache",
    [BLOCK_PAGINATION] = "pagination",
    [BLOCK_BREAKER] = "circuit_breaker",
    [BLOCK_MONITOR] = "monitor",
    [BLOCK_AUTH] = "auth",
    [BLOCK_RATELIMIT] = "ratelimit",
    [BLOCK_PRIVSEP] = "privsep",
};

static const char *const config_privsep_names[CONFIG_PRIVSEP_MAX] = {
    [CONFIG_PRIVSEP_WORKER] = "worker",
    [CONFIG_PRIVSEP_MONITOR] = "monitor",
    [CONFIG_PRIVSEP_KEYMGR] = "keymgr",
};

enum config_type {
	OPT_INT,     /* int, min..max */
	OPT_SIZE,    /* size_t, min..max */
	OPT_BOOL,    /* int 0/1 */
	OPT_STR,     /* char[size]; min > 0 is the least length in bytes */
	OPT_PATH,    /* char[size], made absolute */
	OPT_LOGPATH, /* OPT_PATH where "-" means stdout and is kept */
	OPT_POLICY,  /* int, restart|terminate */
	OPT_FORMAT,  /* int, text (0) | json (1) */
	OPT_LISTEN,  /* IP into char[size] at off, PORT (min..max) into int at off2 */
	OPT_RATE,    /* RATE BURST into struct config_rate, each 0..max; burst >= 1 if rate > 0 */
	OPT_SKIP,    /* int 1; the one value is `chroot` (Kore's `skip chroot`) */
};

/*
 * One setting. Rows of BLOCK_SERVER are offsets into struct config_server (the server being
 * read); every other row is an offset into struct config. A NULL directive is environment only.
 */
struct config_option {
	int block;
	const char *directive;
	const char *env;
	int type;
	size_t off;
	size_t size;
	size_t off2;
	long long min;
	long long max;
};

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)
#define OPT(blk, dir, env, type, field, min, max)                                                  \
	{                                                                                          \
		blk, dir, env, type, offsetof(struct config, field),                               \
		    FIELD_SIZE(struct config, field), 0, min, max                                  \
	}
#define SRV(dir, type, field, min, max)                                                            \
	{                                                                                          \
		BLOCK_SERVER, dir, NULL, type, offsetof(struct config_server, field),              \
		    FIELD_SIZE(struct config_server, field), 0, min, max                           \
	}

#define PRIVSEP(dir, type, field)                                                                  \
	{                                                                                          \
		BLOCK_PRIVSEP, dir, NULL, type, offsetof(struct config_privsep, field),            \
		    FIELD_SIZE(struct config_privsep, field), 0, 0, 0                              \
	}

#define MS_HOUR 3600000LL
#define MS_WEEK 604800000LL
#define TTL_MAX 2592000LL /* 30 days, in seconds */

static const struct config_option config_options[] = {
    /* top level: processes */
    OPT(BLOCK_TOP, "workers", "WORKERS", OPT_INT, workers, 1, CONFIG_MAX_WORKERS),
    OPT(BLOCK_TOP, "worker_max_connections", NULL, OPT_INT, worker_max_connections, 1, 1000000),
    OPT(BLOCK_TOP, "worker_death_policy", NULL, OPT_POLICY, worker_death_policy, 0, 0),
    OPT(BLOCK_TOP, "worker_backend_threads", NULL, OPT_INT, worker_backend_threads, 1, 64),
    OPT(BLOCK_TOP, "worker_shutdown_timeout", NULL, OPT_INT, worker_shutdown_timeout, 0, 3600),

    /* top level: http */
    OPT(BLOCK_TOP, "http_body_max", NULL, OPT_SIZE, http_body_max, 1, 1073741824LL),
    OPT(BLOCK_TOP, "http_header_timeout", NULL, OPT_INT, http_header_timeout, 1, 3600),
    OPT(BLOCK_TOP, "http_keepalive_time", NULL, OPT_INT, http_keepalive_time, 0, 3600),
    OPT(BLOCK_TOP, "http2", NULL, OPT_BOOL, http2, 0, 1),
    OPT(BLOCK_TOP, "request_timeout", "REQUEST_TIMEOUT_DEFAULT", OPT_INT, request_timeout_ms, 1,
	MS_HOUR),
    OPT(BLOCK_TOP, "search_timeout", "REQUEST_TIMEOUT_SEARCH", OPT_INT, search_timeout_ms, 1,
	MS_HOUR),
    OPT(BLOCK_TOP, "report_timeout", "REQUEST_TIMEOUT_REPORT", OPT_INT, report_timeout_ms, 1,
	MS_HOUR),
    OPT(BLOCK_TOP, "read_budget", "READ_BUDGET_MS", OPT_INT, read_budget_ms, 0, MS_HOUR),
    OPT(BLOCK_TOP, "write_budget", "WRITE_BUDGET_MS", OPT_INT, write_budget_ms, 0, MS_HOUR),
    OPT(BLOCK_TOP, "export_timeout", "REQUEST_TIMEOUT_EXPORT", OPT_INT, export_timeout_ms, 1,
	MS_HOUR),
    OPT(BLOCK_TOP, "background_timeout", "REQUEST_TIMEOUT_BACKGROUND", OPT_INT,
	background_timeout_ms, 1, MS_HOUR),
    OPT(BLOCK_TOP, "report_precompute_interval", NULL, OPT_INT, report_precompute_interval, 0,
	86400),
    OPT(BLOCK_TOP, "shed_budget_organization", "SHED_BUDGET_ORGANIZATION", OPT_INT,
	shed_budget_organization_ms, 0, MS_HOUR),
    OPT(BLOCK_TOP, "shed_budget_clinic", "SHED_BUDGET_CLINIC", OPT_INT, shed_budget_clinic_ms, 0,
	MS_HOUR),
    OPT(BLOCK_TOP, "shed_budget_assignment", "SHED_BUDGET_ASSIGNMENT", OPT_INT,
	shed_budget_assignment_ms, 0, MS_HOUR),
    OPT(BLOCK_TOP, "shed_budget_list", "SHED_BUDGET_LIST", OPT_INT, shed_budget_list_ms, 0,
	MS_HOUR),
    OPT(BLOCK_TOP, "shed_budget_search", "SHED_BUDGET_SEARCH", OPT_INT, shed_budget_search_ms, 0,
	MS_HOUR),
    OPT(BLOCK_TOP, "shed_budget_report", "SHED_BUDGET_REPORT", OPT_INT, shed_budget_report_ms, 0,
	MS_HOUR),
    OPT(BLOCK_TOP, "certfile", NULL, OPT_PATH, certfile, 0, 0),
    OPT(BLOCK_TOP, "certkey", NULL, OPT_PATH, certkey, 0, 0),
    OPT(BLOCK_TOP, "keymgr", "KEYMGR", OPT_BOOL, keymgr, 0, 1),
    OPT(BLOCK_TOP, "pidfile", NULL, OPT_PATH, pidfile, 0, 0),
    OPT(BLOCK_TOP, "accesslog", NULL, OPT_LOGPATH, accesslog, 0, 0),
    OPT(BLOCK_TOP, "accesslog_format", "ACCESSLOG_FORMAT", OPT_FORMAT, accesslog_json, 0, 0),
    OPT(BLOCK_TOP, "debug_routes", NULL, OPT_BOOL, debug_routes, 0, 1),
    OPT(BLOCK_TOP, "seccomp", NULL, OPT_BOOL, seccomp, 0, 1),
    OPT(BLOCK_TOP, "seccomp_tracing", NULL, OPT_BOOL, seccomp_tracing, 0, 1),

    /* privsep worker|monitor|keymgr { } */
    PRIVSEP("runas", OPT_STR, runas),
    PRIVSEP("root", OPT_PATH, root),
    PRIVSEP("skip", OPT_SKIP, skip_chroot),

    /* server NAME { } */
    {BLOCK_SERVER, "bind", NULL, OPT_LISTEN, offsetof(struct config_server, ip),
     FIELD_SIZE(struct config_server, ip), offsetof(struct config_server, port), 1, 65535},
    SRV("tls", OPT_BOOL, tls, 0, 1),

    /* mongodb { } */
    OPT(BLOCK_MONGODB, "uri", "MONGODB_URI", OPT_STR, mongodb_uri, 0, 0),
    OPT(BLOCK_MONGODB, "pool_size", "DB_POOL_SIZE", OPT_INT, db_pool_size, 0, 10000),
    OPT(BLOCK_MONGODB, "max_pool_size", "DB_MAX_POOL_SIZE", OPT_INT, db_max_pool_size, 1, 10000),
    OPT(BLOCK_MONGODB, "idle_timeout", "DB_IDLE_TIMEOUT_MS", OPT_INT, db_idle_timeout_ms, 0,
	MS_WEEK),
    OPT(BLOCK_MONGODB, "slow_query_threshold", "DB_SLOW_QUERY_THRESHOLD", OPT_INT,
	db_slow_query_threshold_ms, 0, MS_HOUR),
    OPT(BLOCK_MONGODB, "query_logging", "DB_ENABLE_QUERY_LOGGING", OPT_BOOL,
	db_enable_query_logging, 0, 1),
    OPT(BLOCK_MONGODB, "max_batch_size", "QUERY_MAX_BATCH_SIZE", OPT_INT, query_max_batch_size, 1,
	100000),

    /* redis { } */
    OPT(BLOCK_REDIS, "url", "REDIS_URL", OPT_STR, redis_url, 0, 0),
    OPT(BLOCK_REDIS, "connect_timeout", "REDIS_CONNECT_TIMEOUT_MS", OPT_INT,
	redis_connect_timeout_ms, 1, 60000),
    OPT(BLOCK_REDIS, "command_timeout", "REDIS_COMMAND_TIMEOUT_MS", OPT_INT,
	redis_command_timeout_ms, 1, 60000),
    OPT(BLOCK_REDIS, "sentinels", "REDIS_SENTINELS", OPT_STR, redis_sentinels, 0, 0),
    OPT(BLOCK_REDIS, "sentinel_master", "REDIS_SENTINEL_MASTER", OPT_STR, redis_sentinel_master, 0,
	0),

    /* cache { } */
    OPT(BLOCK_CACHE, "enabled", "CACHE_ENABLED", OPT_BOOL, cache_enabled, 0, 1),
    OPT(BLOCK_CACHE, "ttl_organization", "CACHE_TTL_ORGANIZATION", OPT_INT, cache_ttl_organization,
	1, TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_clinic", "CACHE_TTL_CLINIC", OPT_INT, cache_ttl_clinic, 1, TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_assignment", "CACHE_TTL_ASSIGNMENT", OPT_INT, cache_ttl_assignment, 1,
	TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_list", "CACHE_TTL_LIST", OPT_INT, cache_ttl_list, 1, TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_stats", "CACHE_TTL_STATS", OPT_INT, cache_ttl_stats, 1, TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_session", "CACHE_TTL_SESSION", OPT_INT, cache_ttl_session, 1, TTL_MAX),
    OPT(BLOCK_CACHE, "ttl_config", "CACHE_TTL_CONFIG", OPT_INT, cache_ttl_config, 1, TTL_MAX),
    OPT(BLOCK_CACHE, "l1_max_entries", "CACHE_L1_MAX_ENTRIES", OPT_INT, cache_l1_max_entries, 0,
	10000000),
    OPT(BLOCK_CACHE, "l1_max_bytes", "CACHE_L1_MAX_BYTES", OPT_SIZE, cache_l1_max_bytes, 0,
	17179869184LL),
    OPT(BLOCK_CACHE, "l1_ttl_cap", "CACHE_L1_TTL_CAP", OPT_INT, cache_l1_ttl_cap, 1, 3600),
    OPT(BLOCK_CACHE, "stale_grace_factor", "CACHE_STALE_GRACE_FACTOR", OPT_INT,
	cache_stale_grace_factor, 0, 100),
    OPT(BLOCK_CACHE, "stale_grace_max", "CACHE_STALE_GRACE_MAX", OPT_INT, cache_stale_grace_max, 0,
	TTL_MAX),
    OPT(BLOCK_CACHE, "refresh_ahead", "CACHE_REFRESH_AHEAD", OPT_INT, cache_refresh_ahead, 0, 90),
    OPT(BLOCK_CACHE, "warm_interval", "CACHE_WARM_INTERVAL", OPT_INT, cache_warm_interval, 0,
	86400),
    OPT(BLOCK_CACHE, "warm_keys", "CACHE_WARM_KEYS", OPT_INT, cache_warm_keys, 0, 256),

    /* pagination { } */
    OPT(BLOCK_PAGINATION, "default_limit", "PAGINATION_DEFAULT_LIMIT", OPT_INT,
	pagination_default_limit, 1, 10000),
    OPT(BLOCK_PAGINATION, "max_limit", "PAGINATION_MAX_LIMIT", OPT_INT, pagination_max_limit, 1,
	10000),
    OPT(BLOCK_PAGINATION, "use_cursor", "PAGINATION_USE_CURSOR", OPT_BOOL, pagination_use_cursor, 0,
	1),

    /* circuit_breaker { } */
    OPT(BLOCK_BREAKER, "enabled", "CIRCUIT_BREAKER_ENABLED", OPT_BOOL, breaker_enabled, 0, 1),
    OPT(BLOCK_BREAKER, "failure_threshold", "CIRCUIT_BREAKER_FAILURE_THRESHOLD", OPT_INT,
	breaker_failure_threshold, 1, 10000),
    OPT(BLOCK_BREAKER, "success_threshold", "CIRCUIT_BREAKER_SUCCESS_THRESHOLD", OPT_INT,
	breaker_success_threshold, 1, 10000),
    OPT(BLOCK_BREAKER, "timeout", "CIRCUIT_BREAKER_TIMEOUT", OPT_INT, breaker_timeout_ms, 1,
	MS_HOUR),

    /* monitor { }: port 0 turns the /metrics listener off */
    {BLOCK_MONITOR, "bind", NULL, OPT_LISTEN, offsetof(struct config, monitor_ip),
     FIELD_SIZE(struct config, monitor_ip), offsetof(struct config, monitor_port), 0, 65535},
    OPT(BLOCK_MONITOR, "interval", "MONITORING_INTERVAL", OPT_INT, monitor_interval, 1, 86400),
    OPT(BLOCK_MONITOR, "enabled", "MONITORING_ENABLED", OPT_BOOL, monitoring_enabled, 0, 1),
    OPT(BLOCK_MONITOR, "slow_threshold", "MONITORING_SLOW_THRESHOLD", OPT_INT,
	monitoring_slow_threshold_ms, 0, MS_HOUR),
    OPT(BLOCK_MONITOR, "retention", "MONITORING_RETENTION", OPT_INT, monitoring_retention_ms, 1000,
	MS_WEEK),
    OPT(BLOCK_MONITOR, "dashboard_vendor_dir", "DASHBOARD_VENDOR_DIR", OPT_PATH,
	dashboard_vendor_dir, 0, 0),

    /* auth { } */
    /* HS256 secrets and the cursor key: at least 32 bytes (RFC 7518 section 3.2: a key as long
     * as the hash output); OPT_STR's min is a length */
    OPT(BLOCK_AUTH, "jwt_secret", "JWT_SECRET", OPT_STR, jwt_secret, CONFIG_SECRET_MIN, 0),
    OPT(BLOCK_AUTH, "jwt_public_key_file", "JWT_PUBLIC_KEY_FILE", OPT_PATH, jwt_public_key_file, 0,
	0),
    OPT(BLOCK_AUTH, "issuer", "JWT_ISSUER", OPT_STR, jwt_issuer, 0, 0),
    OPT(BLOCK_AUTH, "audience", "JWT_AUDIENCE", OPT_STR, jwt_audience, 0, 0),
    OPT(BLOCK_AUTH, "jwt_leeway", "JWT_LEEWAY", OPT_INT, jwt_leeway_s, 0, 300),
    OPT(BLOCK_AUTH, "cursor_secret", "CURSOR_SECRET", OPT_STR, cursor_secret, CONFIG_SECRET_MIN, 0),

    /* ratelimit { }: `CLASS RATE BURST`; the environment takes "RATE BURST" in one value */
    OPT(BLOCK_RATELIMIT, "enabled", "RATELIMIT_ENABLED", OPT_BOOL, ratelimit_enabled, 0, 1),
    OPT(BLOCK_RATELIMIT, "organization", "RATELIMIT_ORGANIZATION", OPT_RATE, ratelimit_organization,
	0, CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "clinic", "RATELIMIT_CLINIC", OPT_RATE, ratelimit_clinic, 0,
	CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "assignment", "RATELIMIT_ASSIGNMENT", OPT_RATE, ratelimit_assignment, 0,
	CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "list", "RATELIMIT_LIST", OPT_RATE, ratelimit_list, 0, CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "search", "RATELIMIT_SEARCH", OPT_RATE, ratelimit_search, 0,
	CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "report", "RATELIMIT_REPORT", OPT_RATE, ratelimit_report, 0,
	CONFIG_RATE_MAX),
    OPT(BLOCK_RATELIMIT, "export", "RATELIMIT_EXPORT", OPT_RATE, ratelimit_export, 0,
	CONFIG_RATE_MAX),

    /* the guide's Node.js knob: accepted, no effect */
    OPT(BLOCK_TOP, NULL, "MEMORY_GC_ENABLED", OPT_BOOL, memory_gc_enabled, 0, 1),
};

#define CONFIG_NOPTIONS (sizeof(config_options) / sizeof(config_options[0]))

/* State of one file being read; blocks never span files. */
struct config_file {
	const char *name;   /* as shown in messages */
	char dir[PATH_MAX]; /* absolute directory of the file */
	int depth;	    /* 0 for the main file */
	int line;
	int block; /* enum config_block */
	int block_line;
	int server; /* index into c->servers inside a server block, else -1 */
	int server_bound;
	int privsep; /* index into c->privsep inside a privsep block, else -1 */
};

/* State of one config_load / config_parse call, shared across includes. */
struct config_parser {
	struct config *c;
	char *err;
	size_t errlen;
	int file_servers; /* server blocks read so far; the first one drops the default */
};

static int config_parse_text(struct config_parser *, const char *, const char *, int);

static int config_fail(struct config_parser *p, const struct config_file *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "FILE:LINE: message" into the error buffer; always returns -1. */
static int
config_fail(struct config_parser *p, const struct config_file *f, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", f->name, f->line, msg);
	return -1;
}

/* The fields whose origin is kept (struct config's where[], config_where). */
static const size_t config_where_fields[CONFIG_WHERE_FIELDS] = {
    offsetof(struct config, mongodb_uri),
    offsetof(struct config, redis_url),
    offsetof(struct config, redis_sentinels),
    offsetof(struct config, redis_sentinel_master),
};

/* Records that the option at offset of struct config was set at (printf format). */
static void config_where_set(struct config *c, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
config_where_set(struct config *c, size_t offset, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < CONFIG_WHERE_FIELDS; i++) {
		if (config_where_fields[i] != offset)
			continue;
		va_start(ap, fmt);
		vsnprintf(c->where[i], sizeof(c->where[i]), fmt, ap);
		va_end(ap);
	}
}

const char *
config_where(const struct config *c, const void *field)
{
	size_t i, offset = (size_t)((const char *)field - (const char *)c);

	for (i = 0; i < CONFIG_WHERE_FIELDS; i++)
		if (config_where_fields[i] == offset && c->where[i][0] != '\0')
			return c->where[i];
	return c->path;
}

/* Copies s into dst[size]; -1 (dst untouched) when it does not fit. */
static int
config_copy(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

/* Absolute directory holding `name` (resolved against the cwd when relative). */
static int
config_dir_of(const char *name, char *dir, size_t size)
{
	char tmp[PATH_MAX], cwd[PATH_MAX];
	const char *slash;
	size_t n;

	if ((slash = strrchr(name, '/')) == NULL) {
		snprintf(tmp, sizeof(tmp), ".");
	} else {
		n = slash == name ? 1 : (size_t)(slash - name);
		if (n >= sizeof(tmp))
			return -1;
		memcpy(tmp, name, n);
		tmp[n] = '\0';
	}
	/* realpath when the directory exists; a name given to config_parse may not. */
	if (realpath(tmp, cwd) != NULL)
		return config_copy(dir, size, cwd);
	if (tmp[0] == '/')
		return config_copy(dir, size, tmp);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	if (strcmp(tmp, ".") == 0)
		return config_copy(dir, size, cwd);
	if ((size_t)snprintf(dir, size, "%s/%s", cwd, tmp) >= size)
		return -1;
	return 0;
}

/* dir/path unless path is absolute; -1 when the result does not fit. */
static int
config_path_join(const char *dir, const char *path, char *out, size_t size)
{
	int n;

	if (path[0] == '/')
		return config_copy(out, size, path);
	n = snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", path);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Strict integer: the whole string is one base-10 number within min..max. */
static int
config_parse_int(const char *s, long long min, long long max, long long *out, char *why,
		 size_t whylen)
{
	char *end;
	long long v;

	if (!(isdigit((unsigned char)s[0]) ||
	      ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))) {
		snprintf(why, whylen, "'%s' is not a number", s);
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		snprintf(why, whylen, "'%s' is not a number", s);
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(why, whylen, "'%s' is not between %lld and %lld", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int
config_parse_bool(const char *s, int *out, char *why, size_t whylen)
{
	static const char *const yes[] = {"yes", "on", "true", "1"};
	static const char *const no[] = {"no", "off", "false", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	snprintf(why, whylen, "'%s' is not a boolean (yes/no, on/off, true/false, 1/0)", s);
	return -1;
}

/* RATE BURST: both numbers in min..max, and a bucket of at least one request when the rate
 * is not 0 (a zero-sized bucket would refuse everything: write rate 0 to turn it off). */
static int
config_rate_set(struct config_rate *out, char *const *vals, long long min, long long max, char *why,
		size_t whylen)
{
	long long rate, burst;

	if (config_parse_int(vals[0], min, max, &rate, why, whylen) == -1 ||
	    config_parse_int(vals[1], min, max, &burst, why, whylen) == -1)
		return -1;
	if (rate > 0 && burst < 1) {
		snprintf(why, whylen, "burst must be at least 1 when the rate is not 0");
		return -1;
	}
	out->rate = (int)rate;
	out->burst = (int)burst;
	return 0;
}

/*
 * Sets one option on `base` (struct config, or struct config_server for server rows) from
 * its values. `dir` makes relative paths absolute. On error `why` says what is wrong with the
 * value, without naming the option (the caller knows whether it came from a file or the env).
 */
static int
config_option_set(const struct config_option *o, void *base, char *const *vals, const char *dir,
		  char *why, size_t whylen)
{
	char *field = (char *)base + o->off;
	unsigned char addr[16];
	char path[PATH_MAX];
	long long v;
	int b;

	switch (o->type) {
	case OPT_INT:
		if (config_parse_int(vals[0], o->min, o->max, &v, why, whylen) == -1)
			return -1;
		*(int *)field = (int)v;
		return 0;
	case OPT_SIZE:
		if (config_parse_int(vals[0], o->min, o->max, &v, why, whylen) == -1)
			return -1;
		*(size_t *)field = (size_t)v;
		return 0;
	case OPT_BOOL:
		if (config_parse_bool(vals[0], &b, why, whylen) == -1)
			return -1;
		*(int *)field = b;
		return 0;
	case OPT_POLICY:
		if (strcmp(vals[0], "restart") == 0) {
			*(int *)field = CONFIG_DEATH_RESTART;
		} else if (strcmp(vals[0], "terminate") == 0) {
			*(int *)field = CONFIG_DEATH_TERMINATE;
		} else {
			snprintf(why, whylen, "'%s' is not restart or terminate", vals[0]);
			return -1;
		}
		return 0;
	case OPT_FORMAT:
		if (strcmp(vals[0], "text") == 0 || strcmp(vals[0], "json") == 0) {
			*(int *)field = strcmp(vals[0], "json") == 0;
		} else {
			snprintf(why, whylen, "'%s' is not text or json", vals[0]);
			return -1;
		}
		return 0;
	case OPT_STR:
		/* the value is not quoted back: it may be a secret */
		if (o->min > 0 && strlen(vals[0]) < (size_t)o->min) {
			snprintf(why, whylen, "value is %zu bytes, shorter than %lld",
				 strlen(vals[0]), o->min);
			return -1;
		}
		if (config_copy(field, o->size, vals[0]) == -1) {
			snprintf(why, whylen, "value is longer than %zu bytes", o->size - 1);
			return -1;
		}
		return 0;
	case OPT_LOGPATH:
		if (strcmp(vals[0], "-") == 0) {
			memcpy(field, "-", 2);
			return 0;
		}
		/* FALLTHROUGH */
	case OPT_PATH:
		if (config_path_join(dir, vals[0], path, sizeof(path)) == -1 ||
		    config_copy(field, o->size, path) == -1) {
			snprintf(why, whylen, "path '%s' is too long", vals[0]);
			return -1;
		}
		return 0;
	case OPT_LISTEN:
		if (inet_pton(AF_INET, vals[0], addr) != 1 &&
		    inet_pton(AF_INET6, vals[0], addr) != 1) {
			snprintf(why, whylen, "'%s' is not an IPv4 or IPv6 address", vals[0]);
			return -1;
		}
		if (config_parse_int(vals[1], o->min, o->max, &v, why, whylen) == -1)
			return -1;
		if (config_copy(field, o->size, vals[0]) == -1) {
			snprintf(why, whylen, "address '%s' is too long", vals[0]);
			return -1;
		}
		*(int *)((char *)base + o->off2) = (int)v;
		return 0;
	case OPT_RATE:
		return config_rate_set((struct config_rate *)field, vals, o->min, o->max, why,
				       whylen);
	case OPT_SKIP:
		if (strcmp(vals[0], "chroot") != 0) {
			snprintf(why, whylen, "'%s' cannot be skipped (only 'skip chroot')",
				 vals[0]);
			return -1;
		}
		*(int *)field = 1;
		return 0;
	}
	snprintf(why, whylen, "unknown option type");
	return -1;
}

static int
config_option_nvals(const struct config_option *o)
{
	return o->type == OPT_LISTEN || o->type == OPT_RATE ? 2 : 1;
}

/* Appends `in` to out with $VAR, ${VAR} and $$ expanded. */
static int
config_expand(const char *in, struct buf *out, char *why, size_t whylen)
{
	const char *s, *name, *val;
	char var[256];
	size_t n;
	int braced;

	for (s = in; *s != '\0'; s++) {
		if (*s != '$') {
			buf_appendc(out, *s);
			continue;
		}
		if (s[1] == '$') {
			buf_appendc(out, '$');
			s++;
			continue;
		}
		braced = s[1] == '{';
		name = s + 1 + braced;
		for (n = 0; isalnum((unsigned char)name[n]) || name[n] == '_'; n++)
			;
		if (n == 0 || isdigit((unsigned char)name[0]) || (braced && name[n] != '}')) {
			snprintf(
			    why, whylen,
			    "'$' must be followed by a variable name (write $$ for a literal '$')");
			return -1;
		}
		if (n >= sizeof(var)) {
			snprintf(why, whylen, "variable name is too long");
			return -1;
		}
		memcpy(var, name, n);
		var[n] = '\0';
		/* Empty counts as unset, as for the environment overrides. */
		if ((val = getenv(var)) == NULL || val[0] == '\0') {
			snprintf(why, whylen, "$%s is not set", var);
			return -1;
		}
		buf_appends(out, val);
		s = name + n + braced - 1;
	}
	return 0;
}

/* Splits a line in place into words; a word starting with '#' ends the line. */
static int
config_split(char *line, char **words, int max)
{
	int n = 0;
	char *s = line;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0' || *s == '#')
			return n;
		if (n < max)
			words[n] = s;
		n++;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static int
config_block_find(const char *name)
{
	int i;

	for (i = BLOCK_TOP + 1; i < BLOCK_COUNT; i++)
		if (strcmp(config_block_names[i], name) == 0)
			return i;
	return -1;
}

/* The row for `directive` in `block`, or NULL. */
static const struct config_option *
config_option_find(int block, const char *directive)
{
	size_t i;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (config_options[i].directive != NULL && config_options[i].block == block &&
		    strcmp(config_options[i].directive, directive) == 0)
			return &config_options[i];
	}
	return NULL;
}

/* Why `directive` is not accepted in this block: misplaced, a block without '{', or unknown. */
static int
config_fail_directive(struct config_parser *p, const struct config_file *f, const char *directive)
{
	const struct config_option *home = NULL;
	char here[64];
	size_t i;
	int homes = 0;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (config_options[i].directive != NULL &&
		    strcmp(config_options[i].directive, directive) == 0) {
			home = &config_options[i];
			homes++;
		}
	}
	if (f->block == BLOCK_TOP)
		snprintf(here, sizeof(here), "at top level");
	else
		snprintf(here, sizeof(here), "in %s { }", config_block_names[f->block]);
	if (homes == 1 && home->block == BLOCK_TOP)
		return config_fail(p, f, "'%s' is not allowed %s (it belongs at top level)",
				   directive, here);
	if (homes == 1)
		return config_fail(p, f, "'%s' is not allowed %s (it belongs in %s { })", directive,
				   here, config_block_names[home->block]);
	if (homes > 1)
		return config_fail(p, f, "'%s' is not allowed %s", directive, here);
	if (config_block_find(directive) != -1)
		return config_fail(p, f, "%s: expected '{' at the end of the line", directive);
	return config_fail(p, f, "unknown directive '%s'", directive);
}

/* Reads a whole file into out (NUL-terminated); -1 with errno set. */
static int
config_read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	size_t n;
	FILE *fp;
	int saved;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(out, chunk, n);
	if (ferror(fp)) {
		saved = errno;
		fclose(fp);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	fclose(fp);
	buf_append(out, "", 0); /* data is non-NULL even for an empty file */
	return 0;
}

static int
config_include(struct config_parser *p, struct config_file *f, const char *file)
{
	char path[PATH_MAX];
	struct buf text;
	int rc;

	if (f->depth + 1 > CONFIG_INCLUDE_DEPTH)
		return config_fail(p, f, "include %s: includes nested deeper than %d (a loop?)",
				   file, CONFIG_INCLUDE_DEPTH);
	if (config_path_join(f->dir, file, path, sizeof(path)) == -1)
		return config_fail(p, f, "include %s: path is too long", file);
	buf_init(&text);
	if (config_read_file(path, &text) == -1) {
		rc = config_fail(p, f, "include %s: %s", path, strerror(errno));
	} else if (strlen(text.data) != text.len) {
		rc = config_fail(p, f, "include %s: file contains a NUL byte", path);
	} else {
		rc = config_parse_text(p, path, text.data, f->depth + 1);
	}
	buf_free(&text);
	return rc;
}

/* `privsep worker|monitor|keymgr {`; a second block of the same name adds to the first. */
static int
config_privsep_open(struct config_parser *p, struct config_file *f, char **w, int nw)
{
	int i;

	if (nw != 3)
		return config_fail(p, f, "privsep: expected 'privsep worker|monitor|keymgr {'");
	for (i = 0; i < CONFIG_PRIVSEP_MAX; i++)
		if (strcmp(config_privsep_names[i], w[1]) == 0)
			break;
	if (i == CONFIG_PRIVSEP_MAX)
		return config_fail(p, f, "privsep: unknown process '%s' (worker, monitor, keymgr)",
				   w[1]);
	f->privsep = i;
	f->block = BLOCK_PRIVSEP;
	f->block_line = f->line;
	return 0;
}

/* `name {` or `server NAME {`; nw counts the '{'. */
static int
config_block_open(struct config_parser *p, struct config_file *f, char **w, int nw)
{
	struct config *c = p->c;
	struct config_server *s;
	int block, i;

	if (f->block != BLOCK_TOP)
		return config_fail(p, f, "block '%s' inside %s { } (blocks do not nest)", w[0],
				   config_block_names[f->block]);
	if ((block = config_block_find(w[0])) == -1)
		return config_fail(p, f, "unknown block '%s'", w[0]);
	if (block == BLOCK_PRIVSEP)
		return config_privsep_open(p, f, w, nw);
	if (block != BLOCK_SERVER && nw > 2)
		return config_fail(p, f, "%s: too many values (expected '%s {')", w[0], w[0]);
	if (block == BLOCK_SERVER) {
		if (nw < 3)
			return config_fail(p, f, "server: missing name (expected 'server NAME {')");
		if (nw > 3)
			return config_fail(p, f,
					   "server: too many values (expected 'server NAME {')");
		if (p->file_servers == 0)
			c->nservers = 0; /* the first server block replaces the default one */
		for (i = 0; i < c->nservers; i++)
			if (strcmp(c->servers[i].name, w[1]) == 0)
				return config_fail(p, f, "server '%s' is defined twice", w[1]);
		if (c->nservers == CONFIG_MAX_SERVERS)
			return config_fail(p, f, "too many server blocks (at most %d)",
					   CONFIG_MAX_SERVERS);
		s = &c->servers[c->nservers];
		memset(s, 0, sizeof(*s));
		if (config_copy(s->name, sizeof(s->name), w[1]) == -1)
			return config_fail(p, f, "server: name '%s' is longer than %zu bytes", w[1],
					   sizeof(s->name) - 1);
		s->tls = 1;
		f->server = c->nservers++;
		f->server_bound = 0;
		p->file_servers++;
	}
	f->block = block;
	f->block_line = f->line;
	return 0;
}

static int
config_block_close(struct config_parser *p, struct config_file *f, int nw)
{
	int line;

	if (f->block == BLOCK_TOP)
		return config_fail(p, f, "unexpected '}' (no block is open)");
	if (nw > 1)
		return config_fail(p, f, "unexpected text after '}'");
	if (f->block == BLOCK_SERVER && !f->server_bound) {
		line = f->line;
		f->line = f->block_line;
		config_fail(p, f, "server '%s' has no bind", p->c->servers[f->server].name);
		f->line = line;
		return -1;
	}
	f->block = BLOCK_TOP;
	f->server = -1;
	f->privsep = -1;
	return 0;
}

/* `directive value...` inside the current block (or `include FILE` at top level). */
static int
config_directive(struct config_parser *p, struct config_file *f, char **w, int nw)
{
	const struct config_option *o;
	char *vals[CONFIG_MAX_WORDS];
	struct buf exp[CONFIG_MAX_WORDS];
	char why[CONFIG_ERR_MAX];
	void *base;
	int i, want, nexp = 0, rc = -1;

	if (strcmp(w[0], "include") == 0) {
		if (f->block != BLOCK_TOP)
			return config_fail(p, f, "include is only allowed at top level");
		want = 1;
		o = NULL;
	} else {
		if ((o = config_option_find(f->block, w[0])) == NULL)
			return config_fail_directive(p, f, w[0]);
		want = config_option_nvals(o);
	}
	if (nw - 1 < want)
		return config_fail(p, f, "%s: missing value", w[0]);
	if (nw - 1 > want)
		return config_fail(p, f, "%s: too many values (expected %d)", w[0], want);

	for (nexp = 0; nexp < want; nexp++) {
		buf_init(&exp[nexp]);
		if (config_expand(w[1 + nexp], &exp[nexp], why, sizeof(why)) == -1) {
			nexp++;
			config_fail(p, f, "%s: %s", w[0], why);
			goto out;
		}
		buf_append(&exp[nexp], "", 0);
		vals[nexp] = exp[nexp].data;
	}

	if (o == NULL) {
		rc = config_include(p, f, vals[0]);
		goto out;
	}
	if (o->block == BLOCK_SERVER)
		base = &p->c->servers[f->server];
	else if (o->block == BLOCK_PRIVSEP)
		base = &p->c->privsep[f->privsep];
	else
		base = p->c;
	if (config_option_set(o, base, vals, f->dir, why, sizeof(why)) == -1) {
		config_fail(p, f, "%s: %s", w[0], why);
		goto out;
	}
	if (o->block == BLOCK_SERVER && o->type == OPT_LISTEN)
		f->server_bound = 1;
	if (base == p->c)
		config_where_set(p->c, o->off, "%.*s:%d", CONFIG_WHERE_MAX - 16, f->name, f->line);
	if (o->block == BLOCK_PRIVSEP && o->type != OPT_SKIP)
		snprintf(o->type == OPT_STR ? p->c->privsep[f->privsep].runas_at
					    : p->c->privsep[f->privsep].root_at,
			 sizeof(p->c->privsep[f->privsep].runas_at), "%.*s:%d",
			 (int)sizeof(p->c->privsep[f->privsep].runas_at) - 16, f->name, f->line);
	rc = 0;
out:
	for (i = 0; i < nexp; i++)
		buf_free(&exp[i]);
	return rc;
}

static int
config_parse_text(struct config_parser *p, const char *name, const char *text, int depth)
{
	struct config_file f;
	char *words[CONFIG_MAX_WORDS];
	struct buf copy;
	char *line, *next;
	int nw, rc = 0;

	memset(&f, 0, sizeof(f));
	f.name = name;
	f.depth = depth;
	f.block = BLOCK_TOP;
	f.server = -1;
	f.privsep = -1;
	if (config_dir_of(name, f.dir, sizeof(f.dir)) == -1) {
		snprintf(p->err, p->errlen, "%s: cannot find the file's directory", name);
		return -1;
	}

	buf_init(&copy);
	buf_appends(&copy, text);
	buf_append(&copy, "", 0);
	for (line = copy.data; line != NULL && rc == 0; line = next) {
		f.line++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((nw = config_split(line, words, CONFIG_MAX_WORDS)) == 0)
			continue;
		if (nw > CONFIG_MAX_WORDS)
			rc = config_fail(p, &f, "%s: too many values", words[0]);
		else if (strcmp(words[0], "}") == 0)
			rc = config_block_close(p, &f, nw);
		else if (strcmp(words[nw - 1], "{") == 0)
			rc = config_block_open(p, &f, words, nw);
		else
			rc = config_directive(p, &f, words, nw);
	}
	if (rc == 0 && f.block != BLOCK_TOP) {
		f.line = f.block_line;
		rc = config_fail(p, &f, "%s { } is not closed", config_block_names[f.block]);
	}
	buf_free(&copy);
	return rc;
}

int
config_parse(struct config *c, const char *name, const char *text, char *err, size_t errlen)
{
	struct config_parser p;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.err = err;
	p.errlen = errlen;
	snprintf(c->path, sizeof(c->path), "%s", name);
	return config_parse_text(&p, name, text, 0);
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char abs[PATH_MAX];
	struct buf text;
	int rc;

	buf_init(&text);
	if (config_read_file(path, &text) == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	if (strlen(text.data) != text.len) {
		snprintf(err, errlen, "%s: file contains a NUL byte", path);
		buf_free(&text);
		return -1;
	}
	rc = config_parse(c, path, text.data, err, errlen);
	/* Kept absolute so a reload after a chdir still finds it. */
	if (rc == 0 && realpath(path, abs) != NULL)
		snprintf(c->path, sizeof(c->path), "%s", abs);
	buf_free(&text);
	return rc;
}

/* Two values from one environment value in vals[0] ("RATE BURST", split on blanks into
 * copy[size]; a lone "0" means "0 0"). Returns 0 with vals[0..1] set, or -1. */
static int
config_env_split(char *copy, size_t size, char **vals)
{
	int n;

	if (config_copy(copy, size, vals[0]) == -1)
		return -1;
	if ((n = config_split(copy, vals, 2)) == 1 && strcmp(vals[0], "0") == 0) {
		vals[1] = vals[0];
		return 0;
	}
	return n == 2 ? 0 : -1;
}

int
config_apply_env(struct config *c, char *err, size_t errlen)
{
	const struct config_option *o;
	char why[CONFIG_ERR_MAX], cwd[PATH_MAX], copy[64];
	char *vals[2];
	size_t i;

	/* Relative paths in the environment are relative to where the service was started. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), "/");
	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		o = &config_options[i];
		if (o->env == NULL)
			continue;
		if ((vals[0] = getenv(o->env)) == NULL || vals[0][0] == '\0')
			continue;
		if (config_option_nvals(o) == 2 &&
		    config_env_split(copy, sizeof(copy), vals) == -1) {
			snprintf(err, errlen, "environment %s: expected two numbers, 'RATE BURST'",
				 o->env);
			return -1;
		}
		if (config_option_set(o, c, vals, cwd, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "environment %s: %s", o->env, why);
			return -1;
		}
		config_where_set(c, o->off, "environment %s", o->env);
	}
	return 0;
}
