/*
 * metrics.c: the summary JSON, the monitor's log line and the Prometheus page (see metrics.h).
 *
 * Everything here reads the shared region and writes text; nothing here writes the region.
 * Histogram copies are about 5.6 KiB per route class, so the arrays of them live on the heap,
 * not on a backend thread's stack.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sandbox.h"

/* Prometheus `le` edges of the latency histogram, in seconds (text) and microseconds. */
static const struct {
	const char *le;
	uint64_t us;
} metrics_le[] = {
    {"0.0005", 500},  {"0.001", 1000},	{"0.0025", 2500}, {"0.005", 5000},  {"0.01", 10000},
    {"0.025", 25000}, {"0.05", 50000},	{"0.1", 100000},  {"0.15", 150000}, {"0.2", 200000},
    {"0.3", 300000},  {"0.5", 500000},	{"1", 1000000},	  {"2", 2000000},   {"5", 5000000},
    {"10", 10000000}, {"30", 30000000}, {"60", 60000000},
};

static const char *const metrics_status_names[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* n zeroed histogram copies; aborts like buf.c when memory is gone. */
static struct shm_hist_snapshot *
metrics_snapshots_new(size_t n)
{
	struct shm_hist_snapshot *s;

	if ((s = calloc(n, sizeof(*s))) == NULL)
		abort();
	return s;
}

static void
metrics_since_start(const struct shm_region *r, struct shm_hist_snapshot *classes)
{
	int c;

	for (c = 0; c < SHM_CLASS_MAX; c++)
		shm_hist_snapshot(&r->latency[c], &classes[c]);
}

static double
metrics_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void
metrics_response_times_json(struct json *j, const struct shm_hist_snapshot *s)
{
	double avg = s->count > 0 ? (double)s->sum_us / (double)s->count / 1000.0 : 0.0;

	json_object_begin(j);
	json_kv_double(j, "avg", avg, 3);
	json_kv_double(j, "p50", metrics_ms(shm_hist_percentile(s, 50.0)), 3);
	json_kv_double(j, "p95", metrics_ms(shm_hist_percentile(s, 95.0)), 3);
	json_kv_double(j, "p99", metrics_ms(shm_hist_percentile(s, 99.0)), 3);
	json_kv_double(j, "max", metrics_ms(s->count > 0 ? s->max_us : 0), 3);
	json_object_end(j);
}

/*
 * Writes "totalRequests", "responseTimes" (all classes merged) and "byClass" (only classes that
 * saw a request) into the object being written.
 */
static void
metrics_classes_json(struct json *j, const struct shm_hist_snapshot *classes)
{
	struct shm_hist_snapshot *all;
	int c;

	all = metrics_snapshots_new(1);
	for (c = 0; c < SHM_CLASS_MAX; c++)
		shm_hist_merge(all, &classes[c]);
	json_kv_uint(j, "totalRequests", all->count);
	json_key(j, "responseTimes");
	metrics_response_times_json(j, all);
	free(all);

	json_key(j, "byClass");
	json_object_begin(j);
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		if (classes[c].count == 0)
			continue;
		json_key(j, shm_class_name((enum shm_route_class)c));
		json_object_begin(j);
		json_kv_uint(j, "totalRequests", classes[c].count);
		json_key(j, "responseTimes");
		metrics_response_times_json(j, &classes[c]);
		json_object_end(j);
	}
	json_object_end(j);
}

static uint64_t
metrics_load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* Cache counters summed over some resources. */
struct metrics_cache_sums {
	uint64_t l1_hits, l2_hits, misses, sets, deletes, errors;
};

static void
metrics_cache_add(struct metrics_cache_sums *s, const struct shm_cache_counters *c)
{
	s->l1_hits += metrics_load(&c->l1_hits);
	s->l2_hits += metrics_load(&c->l2_hits);
	s->misses += metrics_load(&c->misses);
	s->sets += metrics_load(&c->sets);
	s->deletes += metrics_load(&c->deletes);
	s->errors += metrics_load(&c->errors);
}

/* One object of the guide's cache shape; `levels` adds l1Hits and l2Hits. */
static void
metrics_cache_object(struct json *j, const struct metrics_cache_sums *s, int levels)
{
	uint64_t hits = s->l1_hits + s->l2_hits;
	char rate[32];

	snprintf(rate, sizeof(rate), "%.2f%%",
		 hits + s->misses > 0 ? (double)hits * 100.0 / (double)(hits + s->misses) : 0.0);
	json_object_begin(j);
	json_kv_string(j, "hitRate", rate);
	json_kv_uint(j, "hits", hits);
	if (levels) {
		json_kv_uint(j, "l1Hits", s->l1_hits);
		json_kv_uint(j, "l2Hits", s->l2_hits);
	}
	json_kv_uint(j, "misses", s->misses);
	json_kv_uint(j, "sets", s->sets);
	json_kv_uint(j, "deletes", s->deletes);
	json_kv_uint(j, "errors", s->errors);
	json_object_end(j);
}

static void
metrics_cache_json(struct json *j, const struct shm_region *r)
{
	struct metrics_cache_sums all = {0};
	int i;

	for (i = 0; i < SHM_RES_MAX; i++)
		metrics_cache_add(&all, &r->cache[i]);
	json_key(j, "cache");
	metrics_cache_object(j, &all, 0);
}

void
metrics_cache_stats_json(struct buf *out, const struct shm_region *r)
{
	struct metrics_cache_sums all = {0};
	struct json j;
	int i;

	json_init(&j, out);
	json_object_begin(&j);
	for (i = 0; i < SHM_RES_MAX; i++) {
		struct metrics_cache_sums one = {0};

		metrics_cache_add(&one, &r->cache[i]);
		metrics_cache_add(&all, &r->cache[i]);
		json_key(&j, shm_resource_name((enum shm_resource)i));
		metrics_cache_object(&j, &one, 1);
	}
	json_key(&j, "total");
	metrics_cache_object(&j, &all, 1);
	json_object_end(&j);
}

static enum shm_breaker_state
metrics_breaker_state(const struct shm_region *r, int dep)
{
	return (enum shm_breaker_state)(metrics_load(&r->breakers[dep].word) & 0xff);
}

static void
metrics_breaker_counts_json(struct json *j, const struct shm_region *r)
{
	int d, open = 0, half = 0, closed = 0;

	for (d = 0; d < SHM_DEP_MAX; d++) {
		switch (metrics_breaker_state(r, d)) {
		case SHM_BREAKER_OPEN:
			open++;
			break;
		case SHM_BREAKER_HALF_OPEN:
			half++;
			break;
		default:
			closed++;
			break;
		}
	}
	json_kv_int(j, "total", SHM_DEP_MAX);
	json_kv_int(j, "open", open);
	json_kv_int(j, "halfOpen", half);
	json_kv_int(j, "closed", closed);
}

static void
metrics_breakers_json(struct json *j, const struct shm_region *r)
{
	json_key(j, "circuitBreakers");
	json_object_begin(j);
	metrics_breaker_counts_json(j, r);
	json_object_end(j);
}

static void
metrics_period(char *dst, size_t len, uint64_t period_s)
{
	snprintf(dst, len, "%" PRIu64 "s", period_s);
}

static int
metrics_live_workers(const struct shm_region *r)
{
	int i, n = 0;

	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load_explicit(&r->workers[i].pid, memory_order_relaxed) != 0)
			n++;
	return n;
}

void
metrics_summary_json(struct buf *out, const struct shm_region *r, uint64_t now_ms)
{
	struct shm_hist_snapshot *classes;
	uint64_t period_s = 0, status[6] = {0};
	struct json j;
	char period[32];
	int c, s;

	classes = metrics_snapshots_new(SHM_CLASS_MAX);
	json_init(&j, out);
	json_object_begin(&j);
	metrics_cache_json(&j, r);
	metrics_breakers_json(&j, r);

	/* the last window the monitor published; zeros until it has published one */
	if (shm_window_read(r, classes, &period_s, NULL) == -1) {
		for (c = 0; c < SHM_CLASS_MAX; c++)
			classes[c] = (struct shm_hist_snapshot){0};
		period_s = 0;
	}
	metrics_period(period, sizeof(period), period_s);
	json_key(&j, "requests");
	json_object_begin(&j);
	json_kv_string(&j, "period", period);
	metrics_classes_json(&j, classes);
	json_object_end(&j);

	metrics_since_start(r, classes);
	json_key(&j, "sinceStart");
	json_object_begin(&j);
	metrics_classes_json(&j, classes);
	for (c = 0; c < SHM_CLASS_MAX; c++)
		for (s = 0; s < 6; s++)
			status[s] += metrics_load(&r->status[c][s]);
	json_key(&j, "status");
	json_object_begin(&j);
	for (s = 2; s <= 5; s++)
		json_kv_uint(&j, metrics_status_names[s], status[s]);
	json_object_end(&j);
	json_object_end(&j);
	free(classes);

	json_key(&j, "workers");
	json_object_begin(&j);
	json_kv_int(&j, "live", metrics_live_workers(r));
	json_kv_uint(&j, "restarts", metrics_load(&r->worker_restarts));
	json_object_end(&j);

	json_kv_uint(&j, "uptimeSeconds",
		     now_ms / 1000 > r->start_time_s ? now_ms / 1000 - r->start_time_s : 0);
	json_object_end(&j);
}

void
metrics_window_log_json(struct buf *out, const struct shm_hist_snapshot *classes, uint64_t period_s)
{
	struct json j;
	char period[32];

	metrics_period(period, sizeof(period), period_s);
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_string(&j, "message", "Performance metrics summary");
	json_kv_string(&j, "period", period);
	metrics_classes_json(&j, classes);
	json_object_end(&j);
}

/* A label value escaped as the text format wants: backslash, double quote and newline. */
static void
metrics_label_value(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '\\':
			buf_appends(out, "\\\\");
			break;
		case '"':
			buf_appends(out, "\\\"");
			break;
		case '\n':
			buf_appends(out, "\\n");
			break;
		default:
			buf_appendc(out, *v);
			break;
		}
	}
}

static void
metrics_family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"[,label2="value2"]} value */
static void
metrics_sample(struct buf *out, const char *name, const char *l1, const char *v1, const char *l2,
	       const char *v2, uint64_t value)
{
	buf_appends(out, name);
	if (l1 != NULL) {
		buf_appendf(out, "{%s=\"", l1);
		metrics_label_value(out, v1);
		buf_appendc(out, '"');
		if (l2 != NULL) {
			buf_appendf(out, ",%s=\"", l2);
			metrics_label_value(out, v2);
			buf_appendc(out, '"');
		}
		buf_appendc(out, '}');
	}
	buf_appendf(out, " %" PRIu64 "\n", value);
}

static void
metrics_prometheus_latency(struct buf *out, const struct shm_region *r)
{
	static const char name[] = "enterprise_http_request_duration_seconds";
	struct shm_hist_snapshot *classes;
	size_t i;
	int c;

	classes = metrics_snapshots_new(SHM_CLASS_MAX);
	metrics_since_start(r, classes);
	metrics_family(out, name, "histogram",
		       "Time from request parsed to response sent, by route class.");
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		const char *cls = shm_class_name((enum shm_route_class)c);

		for (i = 0; i < sizeof(metrics_le) / sizeof(metrics_le[0]); i++) {
			buf_appendf(out, "%s_bucket{class=\"", name);
			metrics_label_value(out, cls);
			buf_appendf(out, "\",le=\"%s\"} %" PRIu64 "\n", metrics_le[i].le,
				    shm_hist_count_le(&classes[c], metrics_le[i].us));
		}
		buf_appendf(out, "%s_bucket{class=\"", name);
		metrics_label_value(out, cls);
		buf_appendf(out, "\",le=\"+Inf\"} %" PRIu64 "\n", classes[c].count);
		buf_appendf(out, "%s_sum{class=\"", name);
		metrics_label_value(out, cls);
		buf_appendf(out, "\"} %.6f\n", (double)classes[c].sum_us / 1e6);
		buf_appendf(out, "%s_count{class=\"", name);
		metrics_label_value(out, cls);
		buf_appendf(out, "\"} %" PRIu64 "\n", classes[c].count);
	}
	free(classes);
}

static void
metrics_prometheus_cache(struct buf *out, const struct shm_region *r)
{
	static const char name[] = "enterprise_cache_operations_total";
	int i;

	metrics_family(out, name, "counter", "Cache operations by resource and result.");
	for (i = 0; i < SHM_RES_MAX; i++) {
		const struct shm_cache_counters *cc = &r->cache[i];
		const char *res = shm_resource_name((enum shm_resource)i);

		metrics_sample(out, name, "resource", res, "result", "l1_hit",
			       metrics_load(&cc->l1_hits));
		metrics_sample(out, name, "resource", res, "result", "l2_hit",
			       metrics_load(&cc->l2_hits));
		metrics_sample(out, name, "resource", res, "result", "miss",
			       metrics_load(&cc->misses));
		metrics_sample(out, name, "resource", res, "result", "set",
			       metrics_load(&cc->sets));
		metrics_sample(out, name, "resource", res, "result", "delete",
			       metrics_load(&cc->deletes));
		metrics_sample(out, name, "resource", res, "result", "error",
			       metrics_load(&cc->errors));
		metrics_sample(out, name, "resource", res, "result", "stale",
			       metrics_load(&cc->stale));
	}
	metrics_family(out, "enterprise_cache_refreshes_total", "counter",
		       "Cached reads refetched before expiry (stale-while-revalidate).");
	for (i = 0; i < SHM_RES_MAX; i++)
		metrics_sample(out, "enterprise_cache_refreshes_total", "resource",
			       shm_resource_name((enum shm_resource)i), NULL, NULL,
			       metrics_load(&r->cache[i].refreshes));
	metrics_family(out, "enterprise_cache_warmed_total", "counter",
		       "Hot keys refetched by cache warming.");
	for (i = 0; i < SHM_RES_MAX; i++)
		metrics_sample(out, "enterprise_cache_warmed_total", "resource",
			       shm_resource_name((enum shm_resource)i), NULL, NULL,
			       metrics_load(&r->cache[i].warmed));
}

/* Each live worker's planned service time per backend pool: what admission by expected wait
 * plans with (admit.h; issue 8). */
static void
metrics_prometheus_pools(struct buf *out, const struct shm_region *r)
{
	static const char name[] = "enterprise_backend_service_time_microseconds";
	char worker[16];
	int i, p;

	metrics_family(out, name, "gauge",
		       "Service time each backend pool plans admission with (moving average), by "
		       "pool and worker slot.");
	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		const struct shm_worker *w = &r->workers[i];

		if (atomic_load_explicit(&w->pid, memory_order_acquire) == 0)
			continue;
		snprintf(worker, sizeof(worker), "%d", i);
		for (p = 0; p < SHM_POOL_MAX; p++)
			metrics_sample(out, name, "pool", shm_pool_name((enum shm_pool)p), "worker",
				       worker, metrics_load(&w->pool_service_us[p]));
	}
}

void
metrics_prometheus(struct buf *out, const struct shm_region *r, int live_workers)
{
	int c, s, d;

	metrics_prometheus_latency(out, r);

	metrics_family(out, "enterprise_http_requests_total", "counter",
		       "Finished requests by route class and status class.");
	for (c = 0; c < SHM_CLASS_MAX; c++)
		for (s = 1; s <= 5; s++)
			metrics_sample(out, "enterprise_http_requests_total", "class",
				       shm_class_name((enum shm_route_class)c), "status",
				       metrics_status_names[s], metrics_load(&r->status[c][s]));

	metrics_family(out, "enterprise_requests_shed_total", "counter",
		       "Requests answered 503 at once by route class: the backend would have kept "
		       "them past the class's shed budget.");
	for (c = 0; c < SHM_CLASS_MAX; c++)
		metrics_sample(out, "enterprise_requests_shed_total", "class",
			       shm_class_name((enum shm_route_class)c), NULL, NULL,
			       metrics_load(&r->shed[c]));

	metrics_family(out, "enterprise_ratelimit_limited_total", "counter",
		       "Requests answered 429 by route class: their caller's token bucket was "
		       "empty (issue 10).");
	for (c = 0; c < SHM_CLASS_MAX; c++)
		metrics_sample(out, "enterprise_ratelimit_limited_total", "class",
			       shm_class_name((enum shm_route_class)c), NULL, NULL,
			       metrics_load(&r->ratelimit.limited[c]));
	metrics_family(out, "enterprise_ratelimit_overflow_total", "counter",
		       "Requests charged to their class's shared bucket: the bucket table had no "
		       "slot for their caller.");
	for (c = 0; c < SHM_CLASS_MAX; c++)
		metrics_sample(out, "enterprise_ratelimit_overflow_total", "class",
			       shm_class_name((enum shm_route_class)c), NULL, NULL,
			       metrics_load(&r->ratelimit.overflowed[c]));
	metrics_family(out, "enterprise_ratelimit_unmetered_total", "counter",
		       "Requests let through without a bucket because its slot stayed locked.");
	metrics_sample(out, "enterprise_ratelimit_unmetered_total", NULL, NULL, NULL, NULL,
		       metrics_load(&r->ratelimit.lock_busy));

	metrics_prometheus_pools(out, r);

	metrics_family(out, "enterprise_worker_restarts_total", "counter",
		       "Workers restarted by the master after dying.");
	metrics_sample(out, "enterprise_worker_restarts_total", NULL, NULL, NULL, NULL,
		       metrics_load(&r->worker_restarts));
	metrics_family(
	    out, "enterprise_seccomp_violations_total", "counter",
	    "Processes killed by their seccomp allow-list (a system call outside it), by "
	    "process kind; the master logs the call's name and restarts the process.");
	for (c = 0; c < SHM_PROC_KINDS; c++)
		metrics_sample(out, "enterprise_seccomp_violations_total", "process",
			       sandbox_kind_name(c), NULL, NULL,
			       metrics_load(&r->seccomp_violations[c]));
	metrics_family(out, "enterprise_keymgr_restarts_total", "counter",
		       "Key managers restarted by the master after dying.");
	metrics_sample(out, "enterprise_keymgr_restarts_total", NULL, NULL, NULL, NULL,
		       metrics_load(&r->keymgr_restarts));
	metrics_family(out, "enterprise_keymgr_failures_total", "counter",
		       "TLS private-key operations the keymgr did not answer (the handshake "
		       "failed).");
	metrics_sample(out, "enterprise_keymgr_failures_total", NULL, NULL, NULL, NULL,
		       metrics_load(&r->keymgr_failures));
	metrics_family(out, "enterprise_config_reloads_total", "counter",
		       "Configuration reloads (SIGHUP) by result: ok, or failed and the previous "
		       "configuration kept.");
	metrics_sample(out, "enterprise_config_reloads_total", "result", "ok", NULL, NULL,
		       metrics_load(&r->config_reloads[SHM_RELOAD_OK]));
	metrics_sample(out, "enterprise_config_reloads_total", "result", "failed", NULL, NULL,
		       metrics_load(&r->config_reloads[SHM_RELOAD_FAILED]));
	metrics_family(
	    out, "enterprise_workers", "gauge",
	    "Live worker processes (both generations while a reload drains the old one).");
	metrics_sample(out, "enterprise_workers", NULL, NULL, NULL, NULL,
		       live_workers > 0 ? (uint64_t)live_workers : 0);
	metrics_family(out, "enterprise_process_start_time_seconds", "gauge",
		       "Start time of the master since the Unix epoch in seconds.");
	metrics_sample(out, "enterprise_process_start_time_seconds", NULL, NULL, NULL, NULL,
		       r->start_time_s);

	metrics_prometheus_cache(out, r);

	metrics_family(out, "enterprise_circuit_breaker_state", "gauge",
		       "Circuit breaker state by dependency: 0 closed, 1 open, 2 half-open.");
	for (d = 0; d < SHM_DEP_MAX; d++)
		metrics_sample(out, "enterprise_circuit_breaker_state", "dependency",
			       shm_dependency_name((enum shm_dependency)d), NULL, NULL,
			       (uint64_t)metrics_breaker_state(r, d));
	metrics_family(out, "enterprise_circuit_breaker_opens_total", "counter",
		       "Times each circuit breaker opened.");
	for (d = 0; d < SHM_DEP_MAX; d++)
		metrics_sample(out, "enterprise_circuit_breaker_opens_total", "dependency",
			       shm_dependency_name((enum shm_dependency)d), NULL, NULL,
			       metrics_load(&r->breakers[d].opens));

	{
		/* the first publish names the master; every later one is a switch */
		uint64_t gen = metrics_load(&r->redis_master_seq) / 2;

		metrics_family(
		    out, "enterprise_redis_master_switches_total", "counter",
		    "Redis masters followed after the first through Sentinel (issue 11); "
		    "0 without Sentinel.");
		metrics_sample(out, "enterprise_redis_master_switches_total", NULL, NULL, NULL,
			       NULL, gen > 1 ? gen - 1 : 0);
	}

	metrics_family(out, "enterprise_db_commands_total", "counter",
		       "Database commands sent, by command name.");
	for (c = 0; c < SHM_DBCMD_MAX; c++)
		metrics_sample(out, "enterprise_db_commands_total", "command",
			       shm_db_command_name((enum shm_db_command)c), NULL, NULL,
			       metrics_load(&r->db_commands[c]));
	metrics_family(
	    out, "enterprise_idempotency_requests_total", "counter",
	    "Creates that carried an Idempotency-Key, by outcome: stored, released (5xx, "
	    "claim dropped), replayed, conflict (409), mismatch (422), unavailable (503), "
	    "lost (the answer could not be kept).");
	for (c = 0; c < SHM_IDEM_MAX; c++)
		metrics_sample(out, "enterprise_idempotency_requests_total", "outcome",
			       shm_idem_outcome_name((enum shm_idem_outcome)c), NULL, NULL,
			       metrics_load(&r->idempotency[c]));
	metrics_family(out, "enterprise_db_slow_commands_total", "counter",
		       "Database commands slower than the slow-query threshold.");
	metrics_sample(out, "enterprise_db_slow_commands_total", NULL, NULL, NULL, NULL,
		       metrics_load(&r->db_slow_commands));
}

const char *
metrics_breaker_state_name(const struct shm_region *r, enum shm_dependency dep)
{
	static const char *const names[] = {"CLOSED", "OPEN", "HALF_OPEN"};
	enum shm_breaker_state st = metrics_breaker_state(r, (int)dep);

	return st <= SHM_BREAKER_HALF_OPEN ? names[st] : "UNKNOWN";
}

void
metrics_circuit_breakers_json(struct buf *out, const struct shm_region *r, uint64_t now_ms)
{
	struct json j;
	int d;

	(void)now_ms;
	json_init(&j, out);
	json_object_begin(&j);
	/* the guide's counts first, as in the summary */
	metrics_breaker_counts_json(&j, r);
	json_key(&j, "breakers");
	json_array_begin(&j);
	for (d = 0; d < SHM_DEP_MAX; d++) {
		uint64_t word = metrics_load(&r->breakers[d].word);

		json_object_begin(&j);
		json_kv_string(&j, "dependency", shm_dependency_name((enum shm_dependency)d));
		json_kv_string(&j, "state", metrics_breaker_state_name(r, (enum shm_dependency)d));
		json_kv_uint(&j, "consecutiveFailures", (word >> 8) & 0xffffff);
		json_kv_uint(&j, "opens", metrics_load(&r->breakers[d].opens));
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
}
