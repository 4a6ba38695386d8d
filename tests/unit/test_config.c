/*
 * test_config.c: the configuration reader, from the reference kore.conf to every error path.
 * Runs with cwd = repository root. Files for includes and certificates go under a mkdtemp
 * directory that each test removes again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mongo.h"
#include "redis.h"

/* Every variable config_apply_env reads; unset before the tests so the caller's env is moot. */
static const char *const test_env_names[] = {
    "ACCESSLOG_FORMAT",
    "MONGODB_URI",
    "REDIS_URL",
    "DB_POOL_SIZE",
    "DB_MAX_POOL_SIZE",
    "DB_IDLE_TIMEOUT_MS",
    "DB_SLOW_QUERY_THRESHOLD",
    "DB_ENABLE_QUERY_LOGGING",
    "QUERY_MAX_BATCH_SIZE",
    "REDIS_CONNECT_TIMEOUT_MS",
    "REDIS_COMMAND_TIMEOUT_MS",
    "CACHE_ENABLED",
    "CACHE_TTL_ORGANIZATION",
    "CACHE_TTL_CLINIC",
    "CACHE_TTL_ASSIGNMENT",
    "CACHE_TTL_LIST",
    "CACHE_TTL_STATS",
    "CACHE_TTL_SESSION",
    "CACHE_TTL_CONFIG",
    "PAGINATION_DEFAULT_LIMIT",
    "PAGINATION_MAX_LIMIT",
    "PAGINATION_USE_CURSOR",
    "CIRCUIT_BREAKER_ENABLED",
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
    "CIRCUIT_BREAKER_SUCCESS_THRESHOLD",
    "CIRCUIT_BREAKER_TIMEOUT",
    "MONITORING_ENABLED",
    "MONITORING_SLOW_THRESHOLD",
    "MONITORING_INTERVAL",
    "MONITORING_RETENTION",
    "MEMORY_GC_ENABLED",
    "REQUEST_TIMEOUT_DEFAULT",
    "REQUEST_TIMEOUT_SEARCH",
    "REQUEST_TIMEOUT_REPORT",
    "JWT_SECRET",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY",
    "CURSOR_SECRET",
    "WORKERS",
    "READ_BUDGET_MS",
    "WRITE_BUDGET_MS",
    "CACHE_STALE_GRACE_FACTOR",
    "CACHE_STALE_GRACE_MAX",
    "CACHE_REFRESH_AHEAD",
    "CACHE_WARM_INTERVAL",
    "CACHE_WARM_KEYS",
    "SHED_BUDGET_ORGANIZATION",
    "SHED_BUDGET_CLINIC",
    "SHED_BUDGET_ASSIGNMENT",
    "SHED_BUDGET_LIST",
    "SHED_BUDGET_SEARCH",
    "SHED_BUDGET_REPORT",
    "RATELIMIT_ENABLED",
    "RATELIMIT_ORGANIZATION",
    "RATELIMIT_EXPORT",
    "TEST_CONFIG_VAR",
};

/* snprintf that fails the test instead of truncating (and keeps -Wformat-truncation quiet). */
static void test_fmt(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
test_fmt(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

static int
test_clear_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_env_names) / sizeof(test_env_names[0]); i++)
		unsetenv(test_env_names[i]);
	return 0;
}

/* Defaults, then `text` parsed as "test.conf" (so its directory is the cwd). */
static int
test_parse(struct config *c, const char *text, char *err)
{
	config_defaults(c);
	err[0] = '\0';
	return config_parse(c, "test.conf", text, err, CONFIG_ERR_MAX);
}

/* Parsing `text` fails with exactly `want`. */
static void
test_parse_fails(const char *text, const char *want)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(test_parse(&c, text, err), -1);
	assert_string_equal(err, want);
}

static char *
test_tmpdir(void)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	char *dir;

	assert_non_null(mkdtemp(tmpl));
	dir = strdup(tmpl);
	assert_non_null(dir);
	return dir;
}

static void
test_write(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	test_fmt(path, sizeof(path), "%s/%s", dir, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_mkdir(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	test_fmt(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0700), 0);
}

static int
test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
test_rmtree(char *dir)
{
	assert_int_equal(nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(dir);
}

static char *
test_read(const char *path)
{
	char *text;
	long n;
	FILE *fp;

	fp = fopen(path, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return text;
}

static void
test_config_defaults_match_header(void **state)
{
	struct config c;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	config_defaults(&c);
	if (ncpu > CONFIG_MAX_WORKERS)
		ncpu = CONFIG_MAX_WORKERS;
	assert_int_equal(c.workers, ncpu < 1 ? 1 : ncpu);
	assert_int_equal(c.nservers, 1);
	assert_string_equal(c.servers[0].ip, "127.0.0.1");
	assert_int_equal(c.servers[0].port, 8888);
	assert_int_equal(c.servers[0].tls, 1);
	assert_int_equal(c.worker_max_connections, 512);
	assert_int_equal(c.worker_death_policy, CONFIG_DEATH_RESTART);
	assert_int_equal(c.worker_backend_threads, 4);
	assert_int_equal(c.worker_shutdown_timeout, 10);
	assert_int_equal(c.http_body_max, 1048576);
	assert_int_equal(c.http2, 0);
	assert_int_equal(c.request_timeout_ms, 30000);
	assert_int_equal(c.search_timeout_ms, 5000);
	assert_int_equal(c.report_timeout_ms, 120000);
	assert_int_equal(c.db_pool_size, 5);
	assert_int_equal(c.db_max_pool_size, 50);
	assert_int_equal(c.db_idle_timeout_ms, 300000);
	assert_int_equal(c.redis_connect_timeout_ms, 50);
	assert_int_equal(c.cache_enabled, 1);
	assert_int_equal(c.cache_ttl_session, 1800);
	assert_int_equal(c.pagination_default_limit, 20);
	assert_int_equal(c.pagination_max_limit, 100);
	assert_int_equal(c.breaker_failure_threshold, 5);
	assert_int_equal(c.breaker_timeout_ms, 60000);
	assert_string_equal(c.monitor_ip, "127.0.0.1");
	assert_int_equal(c.monitor_port, 9464);
	assert_int_equal(c.monitor_interval, 60);
	assert_int_equal(c.monitoring_retention_ms, 3600000);
	assert_string_equal(c.pidfile, "");
	assert_string_equal(c.jwt_secret, "");
}

/* Issue 8: budgets, stale grace, refresh ahead and warming: defaults, file, environment. */
static void
test_config_degradation_settings(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.read_budget_ms, 2000);
	assert_int_equal(c.write_budget_ms, 5000);
	assert_int_equal(c.cache_stale_grace_factor, 4);
	assert_int_equal(c.cache_stale_grace_max, 3600);
	assert_int_equal(c.cache_refresh_ahead, 20);
	assert_int_equal(c.cache_warm_interval, 0);
	assert_int_equal(c.cache_warm_keys, 64);
	assert_int_equal(test_parse(&c,
				    "read_budget 750\nwrite_budget 0\ncache {\n"
				    "stale_grace_factor 0\nstale_grace_max 60\nrefresh_ahead 50\n"
				    "warm_interval 30\nwarm_keys 8\n}\n",
				    err),
			 0);
	assert_int_equal(c.read_budget_ms, 750);
	assert_int_equal(c.write_budget_ms, 0);
	assert_int_equal(c.cache_stale_grace_factor, 0);
	assert_int_equal(c.cache_stale_grace_max, 60);
	assert_int_equal(c.cache_refresh_ahead, 50);
	assert_int_equal(c.cache_warm_interval, 30);
	assert_int_equal(c.cache_warm_keys, 8);
	setenv("READ_BUDGET_MS", "1500", 1);
	setenv("CACHE_STALE_GRACE_FACTOR", "2", 1);
	setenv("CACHE_WARM_INTERVAL", "5", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.read_budget_ms, 1500);
	assert_int_equal(c.cache_stale_grace_factor, 2);
	assert_int_equal(c.cache_warm_interval, 5);
	setenv("CACHE_REFRESH_AHEAD", "95", 1); /* above 90: a refresh on every hit */
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	unsetenv("READ_BUDGET_MS");
	unsetenv("CACHE_STALE_GRACE_FACTOR");
	unsetenv("CACHE_WARM_INTERVAL");
	unsetenv("CACHE_REFRESH_AHEAD");
	assert_int_equal(test_parse(&c, "cache {\nwarm_keys 257\n}\n", err), -1);
	assert_int_equal(test_parse(&c, "read_budget -1\n", err), -1);
}

/* Issue 10: the ratelimit { } block, its defaults and its "RATE BURST" environment values. */
static void
test_config_ratelimit_block_and_environment(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.ratelimit_enabled, 1);
	assert_int_equal(c.ratelimit_organization.rate, 1000);
	assert_int_equal(c.ratelimit_organization.burst, 2000);
	assert_int_equal(c.ratelimit_export.rate, 2);
	assert_int_equal(test_parse(&c,
				    "ratelimit {\nenabled no\norganization 10 20\nexport 0 0\n"
				    "report $TEST_CONFIG_VAR 3\n}\n",
				    err),
			 -1); /* TEST_CONFIG_VAR is not set */
	setenv("TEST_CONFIG_VAR", "7", 1);
	assert_int_equal(test_parse(&c,
				    "ratelimit {\nenabled no\norganization 10 20\nexport 0 0\n"
				    "report $TEST_CONFIG_VAR 3\n}\n",
				    err),
			 0);
	unsetenv("TEST_CONFIG_VAR");
	assert_int_equal(c.ratelimit_enabled, 0);
	assert_int_equal(c.ratelimit_organization.rate, 10);
	assert_int_equal(c.ratelimit_organization.burst, 20);
	assert_int_equal(c.ratelimit_export.rate, 0);
	assert_int_equal(c.ratelimit_report.rate, 7);
	assert_int_equal(c.ratelimit_report.burst, 3);

	setenv("RATELIMIT_ENABLED", "yes", 1);
	setenv("RATELIMIT_ORGANIZATION", " 30\t60 ", 1);
	setenv("RATELIMIT_EXPORT", "0", 1); /* a lone 0: off */
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.ratelimit_enabled, 1);
	assert_int_equal(c.ratelimit_organization.rate, 30);
	assert_int_equal(c.ratelimit_organization.burst, 60);
	assert_int_equal(c.ratelimit_export.rate, 0);
	assert_int_equal(c.ratelimit_export.burst, 0);
	setenv("RATELIMIT_ORGANIZATION", "30", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "environment RATELIMIT_ORGANIZATION: expected two numbers, "
				 "'RATE BURST'");
	setenv("RATELIMIT_ORGANIZATION", "30 60 90", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	setenv("RATELIMIT_ORGANIZATION", "5 0", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "environment RATELIMIT_ORGANIZATION: burst must be at least 1 "
				 "when the rate is not 0");
	unsetenv("RATELIMIT_ENABLED");
	unsetenv("RATELIMIT_ORGANIZATION");
	unsetenv("RATELIMIT_EXPORT");

	test_parse_fails("ratelimit {\norganization 10\n}\n",
			 "test.conf:2: organization: missing value");
	test_parse_fails("ratelimit {\norganization 10 x\n}\n",
			 "test.conf:2: organization: 'x' is not a number");
	test_parse_fails("ratelimit {\nsearch 1000001 1\n}\n",
			 "test.conf:2: search: '1000001' is not between 0 and 1000000");
	test_parse_fails("ratelimit {\nhealth 1 1\n}\n", "test.conf:2: unknown directive 'health'");
}

/* The values of /work/main/kore.conf, relative paths resolved against `dir`. */
static void
test_assert_reference(const struct config *c, const char *dir)
{
	char want[PATH_MAX];

	assert_int_equal(c->nservers, 1);
	assert_string_equal(c->servers[0].name, "tls");
	assert_string_equal(c->servers[0].ip, "127.0.0.1");
	assert_int_equal(c->servers[0].port, 8888);
	assert_int_equal(c->servers[0].tls, 1);
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->worker_max_connections, 512);
	assert_int_equal(c->worker_death_policy, CONFIG_DEATH_RESTART);
	assert_int_equal(c->worker_backend_threads, 4);
	assert_int_equal(c->worker_shutdown_timeout, 10);
	assert_int_equal(c->http_body_max, 1048576);
	assert_int_equal(c->http_header_timeout, 10);
	assert_int_equal(c->http_keepalive_time, 20);
	assert_int_equal(c->http2, 0);
	assert_int_equal(c->request_timeout_ms, 30000);
	assert_int_equal(c->search_timeout_ms, 5000);
	assert_int_equal(c->report_timeout_ms, 120000);
	test_fmt(want, sizeof(want), "%s/cert/server.pem", dir);
	assert_string_equal(c->certfile, want);
	test_fmt(want, sizeof(want), "%s/cert/key.pem", dir);
	assert_string_equal(c->certkey, want);
	test_fmt(want, sizeof(want), "%s/var/enterprised.pid", dir);
	assert_string_equal(c->pidfile, want);
	assert_string_equal(c->accesslog, "-");
	assert_string_equal(c->mongodb_uri, "mongodb://127.0.0.1:27017/enterprise");
	assert_int_equal(c->db_pool_size, 5);
	assert_int_equal(c->db_max_pool_size, 50);
	assert_int_equal(c->db_idle_timeout_ms, 300000);
	assert_int_equal(c->db_slow_query_threshold_ms, 100);
	assert_int_equal(c->db_enable_query_logging, 0);
	assert_int_equal(c->query_max_batch_size, 50);
	assert_string_equal(c->redis_url, "redis://127.0.0.1:6379/0");
	assert_int_equal(c->redis_connect_timeout_ms, 50);
	assert_int_equal(c->redis_command_timeout_ms, 50);
	assert_int_equal(c->cache_enabled, 1);
	assert_int_equal(c->cache_ttl_organization, 300);
	assert_int_equal(c->cache_ttl_clinic, 300);
	assert_int_equal(c->cache_ttl_assignment, 60);
	assert_int_equal(c->cache_ttl_list, 30);
	assert_int_equal(c->cache_ttl_stats, 120);
	assert_int_equal(c->cache_ttl_session, 1800);
	assert_int_equal(c->cache_ttl_config, 600);
	assert_int_equal(c->pagination_default_limit, 20);
	assert_int_equal(c->pagination_max_limit, 100);
	assert_int_equal(c->pagination_use_cursor, 0);
	assert_int_equal(c->breaker_enabled, 1);
	assert_int_equal(c->breaker_failure_threshold, 5);
	assert_int_equal(c->breaker_success_threshold, 2);
	assert_int_equal(c->breaker_timeout_ms, 60000);
	assert_string_equal(c->monitor_ip, "127.0.0.1");
	assert_int_equal(c->monitor_port, 9464);
	assert_int_equal(c->monitor_interval, 60);
	assert_int_equal(c->monitoring_enabled, 1);
	assert_int_equal(c->monitoring_slow_threshold_ms, 1000);
	assert_int_equal(c->monitoring_retention_ms, 3600000);
}

static void
test_config_parses_reference_kore_conf_text(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], cwd[PATH_MAX];
	char *text;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	text = test_read("kore.conf");
	if (test_parse(&c, text, err) != 0)
		fail_msg("%s", err);
	free(text);
	test_assert_reference(&c, cwd);
}

static void
test_config_loads_reference_kore_conf_from_path(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], cwd[PATH_MAX], want[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	config_defaults(&c);
	if (config_load(&c, "kore.conf", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	test_assert_reference(&c, cwd);
	test_fmt(want, sizeof(want), "%s/kore.conf", cwd);
	assert_string_equal(c.path, want);
}

static void
test_config_parses_shipped_example_configs(void **state)
{
	static const char *const files[] = {"conf/dev.conf", "conf/production.conf"};
	struct config c;
	char err[CONFIG_ERR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		config_defaults(&c);
		if (config_load(&c, files[i], err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(c.http2, 0);
		assert_int_equal(c.servers[0].tls, 1);
	}
	assert_string_equal(c.accesslog, "/var/log/enterprised/access.log");
}

static void
test_config_rejects_missing_main_file(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load(&c, "no/such/kore.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "no/such/kore.conf: cannot open: No such file or directory");
}

static void
test_config_rejects_unknown_directive_with_line(void **state)
{
	(void)state;
	test_parse_fails("workers 2\n\n# comment\nfrobnicate 3\n",
			 "test.conf:4: unknown directive 'frobnicate'");
}

static void
test_config_rejects_top_level_directive_inside_block(void **state)
{
	(void)state;
	test_parse_fails(
	    "mongodb {\n\tworkers 2\n}\n",
	    "test.conf:2: 'workers' is not allowed in mongodb { } (it belongs at top level)");
}

static void
test_config_rejects_block_directive_at_top_level(void **state)
{
	(void)state;
	test_parse_fails(
	    "workers 2\nuri mongodb://x/y\n",
	    "test.conf:2: 'uri' is not allowed at top level (it belongs in mongodb { })");
}

static void
test_config_rejects_directive_of_another_block(void **state)
{
	(void)state;
	test_parse_fails(
	    "redis {\n\tpool_size 3\n}\n",
	    "test.conf:2: 'pool_size' is not allowed in redis { } (it belongs in mongodb { })");
}

static void
test_config_rejects_workers_out_of_range(void **state)
{
	(void)state;
	test_parse_fails("workers 0\n", "test.conf:1: workers: '0' is not between 1 and 64");
	test_parse_fails("\nworkers 65\n", "test.conf:2: workers: '65' is not between 1 and 64");
}

static void
test_config_rejects_integer_with_trailing_garbage(void **state)
{
	(void)state;
	test_parse_fails("workers 2x\n", "test.conf:1: workers: '2x' is not a number");
	test_parse_fails("workers  \t x2\n", "test.conf:1: workers: 'x2' is not a number");
}

static void
test_config_rejects_integer_overflow(void **state)
{
	(void)state;
	test_parse_fails(
	    "http_body_max 99999999999999999999999\n",
	    "test.conf:1: http_body_max: '99999999999999999999999' is not between 1 and "
	    "1073741824");
}

static void
test_config_rejects_missing_value(void **state)
{
	(void)state;
	test_parse_fails("workers 2\nhttp2\n", "test.conf:2: http2: missing value");
}

static void
test_config_rejects_bind_without_port(void **state)
{
	(void)state;
	test_parse_fails("server a {\n\tbind 127.0.0.1\n}\n", "test.conf:2: bind: missing value");
}

static void
test_config_rejects_too_many_values(void **state)
{
	(void)state;
	test_parse_fails("workers 2 3\n", "test.conf:1: workers: too many values (expected 1)");
}

static void
test_config_rejects_block_line_with_too_many_words(void **state)
{
	(void)state;
	test_parse_fails("server a b c d e f g h {\n}\n", "test.conf:1: server: too many values");
}

static void
test_config_ignores_trailing_comment(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "workers 3 # three\nredis {\n url redis://h/0#x\n}\n", err),
			 0);
	assert_int_equal(c.workers, 3);
	assert_string_equal(c.redis_url, "redis://h/0#x");
}

static void
test_config_rejects_unterminated_block_at_opening_line(void **state)
{
	(void)state;
	test_parse_fails("workers 2\n\ncache {\n\tenabled yes\n\n",
			 "test.conf:3: cache { } is not closed");
}

static void
test_config_rejects_unexpected_close_brace(void **state)
{
	(void)state;
	test_parse_fails("redis {\n}\n}\n", "test.conf:3: unexpected '}' (no block is open)");
}

static void
test_config_rejects_unknown_block(void **state)
{
	(void)state;
	test_parse_fails("workers 2\nsqlite {\n}\n", "test.conf:2: unknown block 'sqlite'");
}

static void
test_config_rejects_nested_block(void **state)
{
	(void)state;
	test_parse_fails("cache {\n\tredis {\n\t}\n}\n",
			 "test.conf:2: block 'redis' inside cache { } (blocks do not nest)");
}

static void
test_config_rejects_block_name_without_brace(void **state)
{
	(void)state;
	test_parse_fails("mongodb\n{\n",
			 "test.conf:1: mongodb: expected '{' at the end of the line");
}

static void
test_config_rejects_server_without_name(void **state)
{
	(void)state;
	test_parse_fails("server {\n\tbind 127.0.0.1 1\n}\n",
			 "test.conf:1: server: missing name (expected 'server NAME {')");
}

static void
test_config_rejects_server_without_bind(void **state)
{
	(void)state;
	test_parse_fails("workers 2\nserver plain {\n\ttls no\n}\n",
			 "test.conf:2: server 'plain' has no bind");
}

static void
test_config_rejects_too_many_servers(void **state)
{
	(void)state;
	test_parse_fails("server a {\n bind 127.0.0.1 1\n}\n"
			 "server b {\n bind 127.0.0.1 2\n}\n"
			 "server c {\n bind 127.0.0.1 3\n}\n"
			 "server d {\n bind 127.0.0.1 4\n}\n"
			 "server e {\n bind 127.0.0.1 5\n}\n",
			 "test.conf:13: too many server blocks (at most 4)");
}

static void
test_config_rejects_duplicate_server_name(void **state)
{
	(void)state;
	test_parse_fails("server a {\n bind 127.0.0.1 1\n}\nserver a {\n bind 127.0.0.1 2\n}\n",
			 "test.conf:4: server 'a' is defined twice");
}

static void
test_config_first_server_replaces_default(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c,
				    "server plain {\n bind ::1 8080\n tls off\n}\n"
				    "server secure {\n bind 0.0.0.0 8443\n}\n",
				    err),
			 0);
	assert_int_equal(c.nservers, 2);
	assert_string_equal(c.servers[0].name, "plain");
	assert_string_equal(c.servers[0].ip, "::1");
	assert_int_equal(c.servers[0].port, 8080);
	assert_int_equal(c.servers[0].tls, 0);
	assert_string_equal(c.servers[1].name, "secure");
	assert_int_equal(c.servers[1].port, 8443);
	assert_int_equal(c.servers[1].tls, 1);
}

static void
test_config_rejects_bad_ip(void **state)
{
	(void)state;
	test_parse_fails("server a {\n bind localhost 80\n}\n",
			 "test.conf:2: bind: 'localhost' is not an IPv4 or IPv6 address");
}

static void
test_config_rejects_port_out_of_range(void **state)
{
	(void)state;
	test_parse_fails("server a {\n bind 127.0.0.1 0\n}\n",
			 "test.conf:2: bind: '0' is not between 1 and 65535");
	test_parse_fails("monitor {\n bind 127.0.0.1 65536\n}\n",
			 "test.conf:2: bind: '65536' is not between 0 and 65535");
}

static void
test_config_monitor_port_zero_disables_listener(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "monitor {\n bind 127.0.0.1 0\n}\n", err), 0);
	assert_int_equal(c.monitor_port, 0);
}

static void
test_config_rejects_bad_death_policy(void **state)
{
	(void)state;
	test_parse_fails("worker_death_policy retry\n",
			 "test.conf:1: worker_death_policy: 'retry' is not restart or terminate");
}

static void
test_config_reads_accesslog_format_from_file_and_env(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "", err), 0);
	assert_int_equal(c.accesslog_json, 0);
	assert_int_equal(test_parse(&c, "accesslog_format json\n", err), 0);
	assert_int_equal(c.accesslog_json, 1);
	setenv("ACCESSLOG_FORMAT", "text", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	unsetenv("ACCESSLOG_FORMAT");
	assert_int_equal(c.accesslog_json, 0);
	test_parse_fails("accesslog_format xml\n",
			 "test.conf:1: accesslog_format: 'xml' is not text or json");
}

static void
test_config_accepts_every_boolean_spelling(void **state)
{
	static const char *const yes[] = {"yes", "on", "true", "1", "YES", "True"};
	static const char *const no[] = {"no", "off", "false", "0", "Off"};
	struct config c;
	char err[CONFIG_ERR_MAX], text[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		test_fmt(text, sizeof(text), "http2 %s\n", yes[i]);
		assert_int_equal(test_parse(&c, text, err), 0);
		assert_int_equal(c.http2, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		test_fmt(text, sizeof(text), "cache {\nenabled %s\n}\n", no[i]);
		assert_int_equal(test_parse(&c, text, err), 0);
		assert_int_equal(c.cache_enabled, 0);
	}
}

static void
test_config_rejects_bad_boolean(void **state)
{
	(void)state;
	test_parse_fails(
	    "http2 maybe\n",
	    "test.conf:1: http2: 'maybe' is not a boolean (yes/no, on/off, true/false, 1/0)");
}

static void
test_config_expands_variable_inside_value(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	setenv("TEST_CONFIG_VAR", "db.example:27017", 1);
	assert_int_equal(test_parse(&c,
				    "mongodb {\n uri mongodb://$TEST_CONFIG_VAR/x$$y\n}\n"
				    "auth {\n issuer ${TEST_CONFIG_VAR}-i\n}\n",
				    err),
			 0);
	unsetenv("TEST_CONFIG_VAR");
	assert_string_equal(c.mongodb_uri, "mongodb://db.example:27017/x$y");
	assert_string_equal(c.jwt_issuer, "db.example:27017-i");
}

static void
test_config_variable_with_spaces_stays_one_value(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	setenv("TEST_CONFIG_VAR", "two words, long enough for a secret", 1);
	assert_int_equal(test_parse(&c, "auth {\n jwt_secret $TEST_CONFIG_VAR\n}\n", err), 0);
	unsetenv("TEST_CONFIG_VAR");
	assert_string_equal(c.jwt_secret, "two words, long enough for a secret");
}

static void
test_config_rejects_unset_variable(void **state)
{
	(void)state;
	unsetenv("TEST_CONFIG_VAR");
	test_parse_fails("auth {\n\tjwt_secret $TEST_CONFIG_VAR\n}\n",
			 "test.conf:2: jwt_secret: $TEST_CONFIG_VAR is not set");
}

static void
test_config_rejects_dollar_without_name(void **state)
{
	(void)state;
	test_parse_fails(
	    "auth {\n\tjwt_secret ab$\n}\n",
	    "test.conf:2: jwt_secret: '$' must be followed by a variable name (write $$ for a "
	    "literal '$')");
}

static void
test_config_include_is_relative_to_including_file(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], path[PATH_MAX], want[PATH_MAX];
	char *dir = test_tmpdir();

	(void)state;
	test_mkdir(dir, "sub");
	test_write(dir, "main.conf", "workers 2\ninclude sub/a.conf\nhttp2 yes\n");
	/* a.conf's own include and certfile are relative to sub/, not to main.conf */
	test_write(dir, "sub/a.conf", "include b.conf\ncertfile cert.pem\n");
	test_write(dir, "sub/b.conf", "workers 7\nredis {\n connect_timeout 9\n}\n");
	test_fmt(path, sizeof(path), "%s/main.conf", dir);
	config_defaults(&c);
	if (config_load(&c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.workers, 7);
	assert_int_equal(c.redis_connect_timeout_ms, 9);
	assert_int_equal(c.http2, 1);
	test_fmt(want, sizeof(want), "%s/sub/cert.pem", dir);
	assert_string_equal(c.certfile, want);
	test_rmtree(dir);
}

static void
test_config_include_error_names_included_file(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX], path[PATH_MAX];
	char *dir = test_tmpdir();

	(void)state;
	test_write(dir, "main.conf", "include inc.conf\n");
	test_write(dir, "inc.conf", "workers 2\n\nbogus 1\n");
	test_fmt(path, sizeof(path), "%s/main.conf", dir);
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want), "%s/inc.conf:3: unknown directive 'bogus'", dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_rejects_missing_include_file(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX], path[PATH_MAX];
	char *dir = test_tmpdir();

	(void)state;
	test_write(dir, "main.conf", "workers 2\ninclude absent.conf\n");
	test_fmt(path, sizeof(path), "%s/main.conf", dir);
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want), "%s:2: include %s/absent.conf: No such file or directory",
		 path, dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_rejects_include_loop_at_depth_limit(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX], path[PATH_MAX];
	char *dir = test_tmpdir();

	(void)state;
	test_write(dir, "loop.conf", "\ninclude loop.conf\n");
	test_fmt(path, sizeof(path), "%s/loop.conf", dir);
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	/* the 8th include level is read; its include line is the one refused */
	test_fmt(want, sizeof(want),
		 "%s:2: include loop.conf: includes nested deeper than 8 (a loop?)", path);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_rejects_include_inside_block(void **state)
{
	(void)state;
	test_parse_fails("auth {\n include x.conf\n}\n",
			 "test.conf:2: include is only allowed at top level");
}

static void
test_config_makes_relative_paths_absolute(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[PATH_MAX];
	char *dir = test_tmpdir();

	(void)state;
	test_fmt(want, sizeof(want), "%s/etc/kore.conf", dir);
	config_defaults(&c);
	/* config_parse with a name in a directory that exists only on paper is fine too */
	assert_int_equal(
	    config_parse(&c, want,
			 "certfile c.pem\ncertkey ../k.pem\npidfile /run/e.pid\n"
			 "accesslog logs/access.log\nauth {\n jwt_public_key_file j.pem\n}\n",
			 err, sizeof(err)),
	    0);
	test_fmt(want, sizeof(want), "%s/etc/c.pem", dir);
	assert_string_equal(c.certfile, want);
	test_fmt(want, sizeof(want), "%s/etc/../k.pem", dir);
	assert_string_equal(c.certkey, want);
	assert_string_equal(c.pidfile, "/run/e.pid");
	test_fmt(want, sizeof(want), "%s/etc/logs/access.log", dir);
	assert_string_equal(c.accesslog, want);
	test_fmt(want, sizeof(want), "%s/etc/j.pem", dir);
	assert_string_equal(c.jwt_public_key_file, want);
	test_rmtree(dir);
}

static void
test_config_keeps_accesslog_dash_for_stdout(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "accesslog -\n", err), 0);
	assert_string_equal(c.accesslog, "-");
}

static void
test_config_env_overrides_file(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c,
				    "workers 2\nmongodb {\n uri mongodb://file/x\n pool_size 3\n}\n"
				    "cache {\n enabled yes\n}\n",
				    err),
			 0);
	setenv("WORKERS", "5", 1);
	setenv("MONGODB_URI", "mongodb://env/y", 1);
	setenv("DB_POOL_SIZE", "7", 1);
	setenv("CACHE_ENABLED", "false", 1);
	setenv("REQUEST_TIMEOUT_SEARCH", "1500", 1);
	setenv("MEMORY_GC_ENABLED", "true", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	test_clear_env(NULL);
	assert_int_equal(c.workers, 5);
	assert_string_equal(c.mongodb_uri, "mongodb://env/y");
	assert_int_equal(c.db_pool_size, 7);
	assert_int_equal(c.cache_enabled, 0);
	assert_int_equal(c.search_timeout_ms, 1500);
	assert_int_equal(c.memory_gc_enabled, 1);
}

/* Shed budgets (issue 8): the guide's P95 targets by default, set by directive or environment,
 * 0 turns shedding off for a class, a negative budget is refused. */
static void
test_config_shed_budgets_default_to_the_guides_targets_and_can_be_set(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "", err), 0);
	assert_int_equal(c.shed_budget_organization_ms, 150);
	assert_int_equal(c.shed_budget_clinic_ms, 150);
	assert_int_equal(c.shed_budget_assignment_ms, 200);
	assert_int_equal(c.shed_budget_list_ms, 200);
	assert_int_equal(c.shed_budget_search_ms, 300);
	assert_int_equal(c.shed_budget_report_ms, 2000);
	assert_int_equal(test_parse(&c, "shed_budget_list 450\nshed_budget_report 0\n", err), 0);
	assert_int_equal(c.shed_budget_list_ms, 450);
	assert_int_equal(c.shed_budget_report_ms, 0);
	setenv("SHED_BUDGET_SEARCH", "900", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	test_clear_env(NULL);
	assert_int_equal(c.shed_budget_search_ms, 900);
	assert_int_equal(test_parse(&c, "shed_budget_clinic -1\n", err), -1);
}

static void
test_config_empty_env_value_is_unset(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "workers 2\n", err), 0);
	setenv("WORKERS", "", 1);
	setenv("JWT_SECRET", "", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	test_clear_env(NULL);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.jwt_secret, "");
}

static void
test_config_rejects_bad_env_value(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	setenv("DB_POOL_SIZE", "many", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	test_clear_env(NULL);
	assert_string_equal(err, "environment DB_POOL_SIZE: 'many' is not a number");

	setenv("PAGINATION_USE_CURSOR", "sometimes", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	test_clear_env(NULL);
	assert_string_equal(err, "environment PAGINATION_USE_CURSOR: 'sometimes' is not a boolean "
				 "(yes/no, on/off, true/false, 1/0)");
}

static void
test_config_env_relative_path_is_against_cwd(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], cwd[PATH_MAX], want[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	config_defaults(&c);
	setenv("JWT_PUBLIC_KEY_FILE", "conf/jwt.pem", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	test_clear_env(NULL);
	test_fmt(want, sizeof(want), "%s/conf/jwt.pem", cwd);
	assert_string_equal(c.jwt_public_key_file, want);
}

/* A parsed config whose tls certificate and key exist under a fresh temp dir. */
static char *
test_tls_config(struct config *c)
{
	char *dir = test_tmpdir();

	test_write(dir, "cert.pem", "not parsed\n");
	test_write(dir, "key.pem", "not parsed\n");
	config_defaults(c);
	test_fmt(c->path, sizeof(c->path), "%s/kore.conf", dir);
	test_fmt(c->certfile, sizeof(c->certfile), "%s/cert.pem", dir);
	test_fmt(c->certkey, sizeof(c->certkey), "%s/key.pem", dir);
	return dir;
}

static void
test_config_validate_accepts_readable_cert_without_parsing_it(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	if (config_validate(&c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	test_rmtree(dir);
}

static void
test_config_validate_rejects_missing_certfile(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	test_fmt(c.certfile, sizeof(c.certfile), "%s/absent.pem", dir);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want),
		 "%s/kore.conf: certfile %s/absent.pem: No such file or directory", dir, dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_validate_rejects_unset_certkey(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	c.certkey[0] = '\0';
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want), "%s/kore.conf: certkey is not set", dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_validate_ignores_certs_without_tls(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "server plain {\n bind 127.0.0.1 8080\n tls no\n}\n", err),
			 0);
	if (config_validate(&c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void
test_config_validate_requires_a_server(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	c.nservers = 0;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kore.conf: no server block"));
	test_rmtree(dir);
}

/* --- secrets and token options (RFC 7518 section 3.2: an HS256 key of 32 bytes or more) --- */

#define SECRET_31 "0123456789abcdef0123456789abcde"
#define SECRET_32 SECRET_31 "f"

static void
test_config_short_jwt_secret_in_file_names_file_and_line(void **state)
{
	(void)state;
	test_parse_fails("workers 1\nauth {\n\tjwt_secret " SECRET_31 "\n}\n",
			 "test.conf:3: jwt_secret: value is 31 bytes, shorter than 32");
}

static void
test_config_jwt_secret_of_32_bytes_is_accepted(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c, "auth {\n\tjwt_secret " SECRET_32 "\n}\n", err), 0);
	assert_string_equal(c.jwt_secret, SECRET_32);
}

static void
test_config_short_secrets_in_env_name_the_variable(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	setenv("JWT_SECRET", "dev-only-secret-change-me", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	test_clear_env(NULL);
	assert_string_equal(err, "environment JWT_SECRET: value is 25 bytes, shorter than 32");

	setenv("CURSOR_SECRET", SECRET_31, 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	test_clear_env(NULL);
	assert_string_equal(err, "environment CURSOR_SECRET: value is 31 bytes, shorter than 32");
	/* the secret itself is never quoted back */
	assert_null(strstr(err, SECRET_31));
}

static void
test_config_jwt_leeway_defaults_to_30_and_is_bounded(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.jwt_leeway_s, 30);
	assert_int_equal(test_parse(&c, "auth {\n\tjwt_leeway 0\n}\n", err), 0);
	assert_int_equal(c.jwt_leeway_s, 0);
	setenv("JWT_LEEWAY", "5", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.jwt_leeway_s, 5);
	setenv("JWT_LEEWAY", "301", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), -1);
	test_clear_env(NULL);
	assert_string_equal(err, "environment JWT_LEEWAY: '301' is not between 0 and 300");
	test_parse_fails("auth {\n\tjwt_leeway -1\n}\n",
			 "test.conf:2: jwt_leeway: '-1' is not between 0 and 300");
}

static void
test_config_validate_requires_cursor_secret_with_public_key(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	test_write(dir, "jwt.pem", "not parsed\n");
	test_fmt(c.jwt_public_key_file, sizeof(c.jwt_public_key_file), "%s/jwt.pem", dir);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kore.conf: auth cursor_secret (environment CURSOR_SECRET) is "
				    "not set"));
	test_fmt(c.cursor_secret, sizeof(c.cursor_secret), "%s", SECRET_32);
	if (config_validate(&c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	test_rmtree(dir);
}

static void
test_config_validate_rejects_pool_size_above_max(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	c.db_pool_size = 60;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want),
		 "%s/kore.conf: mongodb pool_size 60 is larger than max_pool_size 50", dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_validate_rejects_default_limit_above_max(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	c.pagination_default_limit = 200;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want),
		 "%s/kore.conf: pagination default_limit 200 is larger than max_limit 100", dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

static void
test_config_validate_rejects_monitor_on_server_port(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	char *dir = test_tls_config(&c);

	(void)state;
	c.monitor_port = 8888;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
	test_fmt(want, sizeof(want),
		 "%s/kore.conf: server 'default' and monitor both bind 127.0.0.1 8888", dir);
	assert_string_equal(err, want);
	test_rmtree(dir);
}

/* Issue 12: Kore's privsep blocks, one per process kind; seccomp on by default. */
static void
test_config_privsep_blocks_fill_their_process(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(test_parse(&c,
				    "privsep worker {\n\trunas nobody\n\troot /var/empty\n}\n"
				    "privsep keymgr {\n\trunas daemon\n\tskip chroot\n}\n"
				    "seccomp_tracing yes\n",
				    err),
			 0);
	assert_string_equal(c.privsep[CONFIG_PRIVSEP_WORKER].runas, "nobody");
	assert_string_equal(c.privsep[CONFIG_PRIVSEP_WORKER].root, "/var/empty");
	assert_int_equal(c.privsep[CONFIG_PRIVSEP_WORKER].skip_chroot, 0);
	assert_string_equal(c.privsep[CONFIG_PRIVSEP_KEYMGR].runas, "daemon");
	assert_int_equal(c.privsep[CONFIG_PRIVSEP_KEYMGR].skip_chroot, 1);
	assert_string_equal(c.privsep[CONFIG_PRIVSEP_MONITOR].runas, "");
	assert_int_equal(c.seccomp, 1);
	assert_int_equal(c.seccomp_tracing, 1);
}

static void
test_config_privsep_refuses_unknown_process_and_skip(void **state)
{
	(void)state;
	test_parse_fails(
	    "privsep master {\n}\n",
	    "test.conf:1: privsep: unknown process 'master' (worker, monitor, keymgr)");
	test_parse_fails("privsep {\n}\n",
			 "test.conf:1: privsep: expected 'privsep worker|monitor|keymgr {'");
	test_parse_fails("privsep worker {\n\tskip runas\n}\n",
			 "test.conf:2: skip: 'runas' cannot be skipped (only 'skip chroot')");
}

/* Attack: a connection URL the checks refuse is echoed in the message (`enterprised -t`, the
 * journal); its password must not be. */
static void
test_config_url_errors_never_show_the_password(void **state)
{
	static const char *const bad_mongo[] = {
	    "mongodb://admin:S3cretPW@h1,h2/db?replicaSet=rs0&w=-5",
	    "mongodb://admin:S3cretPW@h1/db?readPreference=bogus",
	    "mongodb://admin:S3cretPW@@h1/db",
	    "mongo://admin:S3cretPW@h1/db",
	};
	static const char *const bad_redis[] = {
	    "rediss://:S3cretPW@h1:6379/0",
	    "redis://:S3cretPW@h1:99999/0",
	    "redis://:S3cretPW@/0",
	    "redis://:S3cretPW@h1:6379/x",
	};
	struct redis_url u;
	char err[1024], out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_mongo) / sizeof(bad_mongo[0]); i++) {
		err[0] = '\0';
		assert_int_equal(mongo_uri_check(bad_mongo[i], err, sizeof(err)), -1);
		if (strstr(err, "S3cretPW") != NULL)
			fail_msg("%s", err);
	}
	for (i = 0; i < sizeof(bad_redis) / sizeof(bad_redis[0]); i++) {
		err[0] = '\0';
		assert_int_equal(redis_url_parse(bad_redis[i], &u, err, sizeof(err)), -1);
		if (strstr(err, "S3cretPW") != NULL)
			fail_msg("%s", err);
	}
	log_url_redacted("mongodb://u:p@h1,h2/db?x=a@b", out, sizeof(out));
	assert_string_equal(out, "mongodb://***@h1,h2/db?x=a@b");
	log_url_redacted("redis://h:6379/0", out, sizeof(out));
	assert_string_equal(out, "redis://h:6379/0");
	log_url_redacted("u:p@h", out, sizeof(out));
	assert_string_equal(out, "***@h");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults_match_header),
	    cmocka_unit_test(test_config_degradation_settings),
	    cmocka_unit_test(test_config_reads_accesslog_format_from_file_and_env),
	    cmocka_unit_test(test_config_parses_reference_kore_conf_text),
	    cmocka_unit_test(test_config_loads_reference_kore_conf_from_path),
	    cmocka_unit_test(test_config_parses_shipped_example_configs),
	    cmocka_unit_test(test_config_rejects_missing_main_file),
	    cmocka_unit_test(test_config_rejects_unknown_directive_with_line),
	    cmocka_unit_test(test_config_rejects_top_level_directive_inside_block),
	    cmocka_unit_test(test_config_rejects_block_directive_at_top_level),
	    cmocka_unit_test(test_config_rejects_directive_of_another_block),
	    cmocka_unit_test(test_config_rejects_workers_out_of_range),
	    cmocka_unit_test(test_config_rejects_integer_with_trailing_garbage),
	    cmocka_unit_test(test_config_rejects_integer_overflow),
	    cmocka_unit_test(test_config_rejects_missing_value),
	    cmocka_unit_test(test_config_rejects_bind_without_port),
	    cmocka_unit_test(test_config_rejects_too_many_values),
	    cmocka_unit_test(test_config_rejects_block_line_with_too_many_words),
	    cmocka_unit_test(test_config_ignores_trailing_comment),
	    cmocka_unit_test(test_config_rejects_unterminated_block_at_opening_line),
	    cmocka_unit_test(test_config_rejects_unexpected_close_brace),
	    cmocka_unit_test(test_config_rejects_unknown_block),
	    cmocka_unit_test(test_config_rejects_nested_block),
	    cmocka_unit_test(test_config_rejects_block_name_without_brace),
	    cmocka_unit_test(test_config_rejects_server_without_name),
	    cmocka_unit_test(test_config_rejects_server_without_bind),
	    cmocka_unit_test(test_config_rejects_too_many_servers),
	    cmocka_unit_test(test_config_rejects_duplicate_server_name),
	    cmocka_unit_test(test_config_first_server_replaces_default),
	    cmocka_unit_test(test_config_rejects_bad_ip),
	    cmocka_unit_test(test_config_rejects_port_out_of_range),
	    cmocka_unit_test(test_config_monitor_port_zero_disables_listener),
	    cmocka_unit_test(test_config_rejects_bad_death_policy),
	    cmocka_unit_test(test_config_accepts_every_boolean_spelling),
	    cmocka_unit_test(test_config_rejects_bad_boolean),
	    cmocka_unit_test(test_config_expands_variable_inside_value),
	    cmocka_unit_test(test_config_variable_with_spaces_stays_one_value),
	    cmocka_unit_test(test_config_rejects_unset_variable),
	    cmocka_unit_test(test_config_rejects_dollar_without_name),
	    cmocka_unit_test(test_config_include_is_relative_to_including_file),
	    cmocka_unit_test(test_config_include_error_names_included_file),
	    cmocka_unit_test(test_config_rejects_missing_include_file),
	    cmocka_unit_test(test_config_rejects_include_loop_at_depth_limit),
	    cmocka_unit_test(test_config_rejects_include_inside_block),
	    cmocka_unit_test(test_config_makes_relative_paths_absolute),
	    cmocka_unit_test(test_config_keeps_accesslog_dash_for_stdout),
	    cmocka_unit_test(test_config_env_overrides_file),
	    cmocka_unit_test(test_config_shed_budgets_default_to_the_guides_targets_and_can_be_set),
	    cmocka_unit_test(test_config_empty_env_value_is_unset),
	    cmocka_unit_test(test_config_rejects_bad_env_value),
	    cmocka_unit_test(test_config_env_relative_path_is_against_cwd),
	    cmocka_unit_test(test_config_validate_accepts_readable_cert_without_parsing_it),
	    cmocka_unit_test(test_config_validate_rejects_missing_certfile),
	    cmocka_unit_test(test_config_validate_rejects_unset_certkey),
	    cmocka_unit_test(test_config_validate_ignores_certs_without_tls),
	    cmocka_unit_test(test_config_validate_requires_a_server),
	    cmocka_unit_test(test_config_short_jwt_secret_in_file_names_file_and_line),
	    cmocka_unit_test(test_config_jwt_secret_of_32_bytes_is_accepted),
	    cmocka_unit_test(test_config_short_secrets_in_env_name_the_variable),
	    cmocka_unit_test(test_config_jwt_leeway_defaults_to_30_and_is_bounded),
	    cmocka_unit_test(test_config_validate_requires_cursor_secret_with_public_key),
	    cmocka_unit_test(test_config_validate_rejects_pool_size_above_max),
	    cmocka_unit_test(test_config_validate_rejects_default_limit_above_max),
	    cmocka_unit_test(test_config_validate_rejects_monitor_on_server_port),
	    cmocka_unit_test(test_config_ratelimit_block_and_environment),
	    cmocka_unit_test(test_config_privsep_blocks_fill_their_process),
	    cmocka_unit_test(test_config_privsep_refuses_unknown_process_and_skip),
	    cmocka_unit_test(test_config_url_errors_never_show_the_password),
	};

	return cmocka_run_group_tests(tests, test_clear_env, NULL);
}
