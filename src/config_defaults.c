/*
 * config_defaults.c: what every setting is before kore.conf and the environment are read.
 *
 * config_load/config_parse (config.c) and then config_apply_env overwrite what they set, each
 * value checked against the range in config.c's option table; whatever neither sets keeps the
 * value given here.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
config_defaults(struct config *c)
{
	char cwd[PATH_MAX - 64];
	long ncpu;

	memset(c, 0, sizeof(*c));

	snprintf(c->servers[0].name, sizeof(c->servers[0].name), "default");
	snprintf(c->servers[0].ip, sizeof(c->servers[0].ip), "127.0.0.1");
	c->servers[0].port = 8888;
	c->servers[0].tls = 1;
	c->nservers = 1;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > CONFIG_MAX_WORKERS)
		ncpu = CONFIG_MAX_WORKERS;
	c->workers = (int)ncpu;
	c->worker_max_connections = 512;
	c->worker_death_policy = CONFIG_DEATH_RESTART;
	c->worker_backend_threads = 4;
	c->worker_shutdown_timeout = 10;
	c->seccomp = 1;

	c->http_body_max = 1024 * 1024;
	c->http_header_timeout = 10;
	c->http_keepalive_time = 20;
	c->http2 = 0;
	c->keymgr = 1;
	c->request_timeout_ms = 30000;
	c->search_timeout_ms = 5000;
	c->report_timeout_ms = 120000;
	c->read_budget_ms = 2000;
	c->write_budget_ms = 5000;
	c->export_timeout_ms = 120000;
	c->background_timeout_ms = 300000;
	c->report_precompute_interval = 0;
	/* the guide's P95 budgets (Performance Budgets) */
	c->shed_budget_organization_ms = 150;
	c->shed_budget_clinic_ms = 150;
	c->shed_budget_assignment_ms = 200;
	c->shed_budget_list_ms = 200;
	c->shed_budget_search_ms = 300;
	c->shed_budget_report_ms = 2000;

	snprintf(c->mongodb_uri, sizeof(c->mongodb_uri), "mongodb://127.0.0.1:27017/enterprise");
	c->db_pool_size = 5;
	c->db_max_pool_size = 50;
	c->db_idle_timeout_ms = 300000;
	c->db_slow_query_threshold_ms = 100;
	c->db_enable_query_logging = 0;
	c->query_max_batch_size = 50;

	snprintf(c->redis_url, sizeof(c->redis_url), "redis://127.0.0.1:6379/0");
	c->redis_connect_timeout_ms = 50;
	c->redis_command_timeout_ms = 50;

	c->cache_enabled = 1;
	c->cache_ttl_organization = 300;
	c->cache_ttl_clinic = 300;
	c->cache_ttl_assignment = 60;
	c->cache_ttl_list = 30;
	c->cache_ttl_stats = 120;
	c->cache_ttl_session = 1800;
	c->cache_ttl_config = 600;
	c->cache_l1_max_entries = 10000;
	c->cache_l1_max_bytes = 64 * 1024 * 1024;
	c->cache_l1_ttl_cap = 30;
	c->cache_stale_grace_factor = 4;
	c->cache_stale_grace_max = 3600;
	c->cache_refresh_ahead = 20;
	c->cache_warm_interval = 0;
	c->cache_warm_keys = 64;

	c->pagination_default_limit = 20;
	c->pagination_max_limit = 100;
	c->pagination_use_cursor = 0;

	c->breaker_enabled = 1;
	c->breaker_failure_threshold = 5;
	c->breaker_success_threshold = 2;
	c->breaker_timeout_ms = 60000;

	snprintf(c->monitor_ip, sizeof(c->monitor_ip), "127.0.0.1");
	c->monitor_port = 9464;
	c->monitor_interval = 60;
	c->monitoring_enabled = 1;
	c->monitoring_slow_threshold_ms = 1000;
	c->monitoring_retention_ms = 3600000;
	/* where tools/deps installs uPlot, from the directory the server starts in */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), ".");
	snprintf(c->dashboard_vendor_dir, sizeof(c->dashboard_vendor_dir), "%s/%s", cwd,
		 CONFIG_DASHBOARD_VENDOR_DIR);

	/* generous per caller (a person, a service account, or an address): far above what one
	 * client of the dashboard sends, low enough that one caller cannot take a worker's
	 * capacity alone (docs/DECISIONS.md, "Rate limits") */
	c->ratelimit_enabled = 1;
	c->ratelimit_organization = (struct config_rate){1000, 2000};
	c->ratelimit_clinic = (struct config_rate){1000, 2000};
	c->ratelimit_assignment = (struct config_rate){1000, 2000};
	c->ratelimit_list = (struct config_rate){500, 1000};
	c->ratelimit_search = (struct config_rate){200, 400};
	c->ratelimit_report = (struct config_rate){20, 40};
	c->ratelimit_export = (struct config_rate){2, 10};

	c->memory_gc_enabled = 0;
	c->jwt_leeway_s = 30;
}
