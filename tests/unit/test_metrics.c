/* test_metrics.c: the summary JSON, the window log line and the Prometheus page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <bson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* 2023-11-14T22:13:20Z, a start time the uptime can be computed from. */
#define START_S UINT64_C(1700000000)

static int
setup_region(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));

	if (r == NULL)
		return -1;
	r->start_time_s = START_S;
	*state = r;
	return 0;
}

static int
teardown_region(void **state)
{
	shm_destroy(*state);
	return 0;
}

/* Parses JSON text with libbson's reader, which rejects anything that is not JSON. */
static bson_t *
test_parse(const struct buf *b)
{
	bson_error_t error;
	bson_t *doc = bson_new_from_json((const uint8_t *)b->data, (ssize_t)b->len, &error);

	if (doc == NULL)
		fail_msg("invalid JSON (%s): %s", error.message, b->data);
	return doc;
}

static int
test_has(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &found);
}

static bson_iter_t
test_find(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &found))
		fail_msg("no key %s", path);
	return found;
}

static int64_t
test_int(const bson_t *doc, const char *path)
{
	bson_iter_t it = test_find(doc, path);

	if (!BSON_ITER_HOLDS_INT(&it))
		fail_msg("%s is not an integer", path);
	return bson_iter_as_int64(&it);
}

static double
test_double(const bson_t *doc, const char *path)
{
	bson_iter_t it = test_find(doc, path);

	if (!BSON_ITER_HOLDS_NUMBER(&it))
		fail_msg("%s is not a number", path);
	return bson_iter_as_double(&it);
}

static const char *
test_str(const bson_t *doc, const char *path)
{
	bson_iter_t it = test_find(doc, path);

	if (!BSON_ITER_HOLDS_UTF8(&it))
		fail_msg("%s is not a string", path);
	return bson_iter_utf8(&it, NULL);
}

static bson_t *
test_summary(const struct shm_region *r, uint64_t now_ms)
{
	struct buf b;
	bson_t *doc;

	buf_init(&b);
	metrics_summary_json(&b, r, now_ms);
	doc = test_parse(&b);
	buf_free(&b);
	return doc;
}

static void
test_summary_hit_rate_counts_both_cache_levels(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	r->cache[SHM_RES_ORGANIZATION].l1_hits = 2;
	r->cache[SHM_RES_CLINIC].l2_hits = 1;
	r->cache[SHM_RES_LIST].misses = 1;
	r->cache[SHM_RES_LIST].sets = 4;
	r->cache[SHM_RES_STATS].sets = 1;
	r->cache[SHM_RES_CLINIC].deletes = 6;
	r->cache[SHM_RES_ASSIGNMENT].errors = 7;
	doc = test_summary(r, START_S * 1000);
	assert_string_equal(test_str(doc, "cache.hitRate"), "75.00%");
	assert_int_equal(test_int(doc, "cache.hits"), 3);
	assert_int_equal(test_int(doc, "cache.misses"), 1);
	assert_int_equal(test_int(doc, "cache.sets"), 5);
	assert_int_equal(test_int(doc, "cache.deletes"), 6);
	assert_int_equal(test_int(doc, "cache.errors"), 7);
	bson_destroy(doc);
}

static void
test_summary_hit_rate_is_rounded_to_two_decimals(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	r->cache[SHM_RES_STATS].l1_hits = 2;
	r->cache[SHM_RES_STATS].misses = 1;
	doc = test_summary(r, START_S * 1000);
	assert_string_equal(test_str(doc, "cache.hitRate"), "66.67%");
	bson_destroy(doc);
}

static void
test_summary_hit_rate_is_zero_without_lookups(void **state)
{
	bson_t *doc = test_summary(*state, START_S * 1000);

	assert_string_equal(test_str(doc, "cache.hitRate"), "0.00%");
	assert_int_equal(test_int(doc, "cache.hits"), 0);
	bson_destroy(doc);
}

static void
test_summary_counts_breakers_by_state(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	/* the state is the low byte; failure counts above it must not matter */
	r->breakers[SHM_DEP_MONGODB].word = SHM_BREAKER_OPEN | (UINT64_C(5) << 8);
	r->breakers[SHM_DEP_REDIS].word = SHM_BREAKER_HALF_OPEN | (UINT64_C(1) << 32);
	doc = test_summary(r, START_S * 1000);
	assert_int_equal(test_int(doc, "circuitBreakers.total"), SHM_DEP_MAX);
	assert_int_equal(test_int(doc, "circuitBreakers.open"), 1);
	assert_int_equal(test_int(doc, "circuitBreakers.halfOpen"), 1);
	assert_int_equal(test_int(doc, "circuitBreakers.closed"), 0);
	bson_destroy(doc);

	r->breakers[SHM_DEP_MONGODB].word = SHM_BREAKER_CLOSED;
	doc = test_summary(r, START_S * 1000);
	assert_int_equal(test_int(doc, "circuitBreakers.closed"), 1);
	bson_destroy(doc);
}

static void
test_summary_since_start_lists_only_classes_with_requests(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	shm_record_request(r, SHM_CLASS_HEALTH, 200, 10);
	shm_record_request(r, SHM_CLASS_HEALTH, 200, 30);
	shm_record_request(r, SHM_CLASS_LIST, 404, 20);
	shm_record_request(r, SHM_CLASS_LIST, 304, 20);
	shm_record_request(r, SHM_CLASS_LIST, 500, 20);
	doc = test_summary(r, START_S * 1000);
	assert_int_equal(test_int(doc, "sinceStart.totalRequests"), 5);
	assert_int_equal(test_int(doc, "sinceStart.byClass.health.totalRequests"), 2);
	assert_int_equal(test_int(doc, "sinceStart.byClass.list.totalRequests"), 3);
	assert_false(test_has(doc, "sinceStart.byClass.clinic"));
	assert_false(test_has(doc, "sinceStart.byClass.other"));
	assert_int_equal(test_int(doc, "sinceStart.status.2xx"), 2);
	assert_int_equal(test_int(doc, "sinceStart.status.3xx"), 1);
	assert_int_equal(test_int(doc, "sinceStart.status.4xx"), 1);
	assert_int_equal(test_int(doc, "sinceStart.status.5xx"), 1);
	/* values below 32 us are exact: 10, 20, 20, 20, 30 */
	assert_float_equal(test_double(doc, "sinceStart.responseTimes.avg"), 0.020, 1e-9);
	assert_float_equal(test_double(doc, "sinceStart.responseTimes.p50"), 0.020, 1e-9);
	assert_float_equal(test_double(doc, "sinceStart.responseTimes.max"), 0.030, 1e-9);
	assert_float_equal(test_double(doc, "sinceStart.byClass.health.responseTimes.avg"), 0.020,
			   1e-9);
	assert_float_equal(test_double(doc, "sinceStart.byClass.health.responseTimes.p99"), 0.030,
			   1e-9);
	bson_destroy(doc);
}

static void
test_summary_requests_are_zero_before_a_window_is_published(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	shm_record_request(r, SHM_CLASS_HEALTH, 200, 10);
	doc = test_summary(r, START_S * 1000);
	assert_string_equal(test_str(doc, "requests.period"), "0s");
	assert_int_equal(test_int(doc, "requests.totalRequests"), 0);
	assert_float_equal(test_double(doc, "requests.responseTimes.p95"), 0.0, 0.0);
	assert_false(test_has(doc, "requests.byClass.health"));
	assert_true(test_has(doc, "requests.byClass"));
	bson_destroy(doc);
}

static void
test_summary_requests_come_from_the_published_window(void **state)
{
	struct shm_region *r = *state;
	struct shm_hist_snapshot *win = calloc(SHM_CLASS_MAX, sizeof(*win));
	struct shm_hist *h = calloc(1, sizeof(*h));
	bson_t *doc;
	int i;

	assert_non_null(win);
	assert_non_null(h);
	for (i = 0; i < 4; i++)
		shm_hist_record(h, 25);
	shm_hist_snapshot(h, &win[SHM_CLASS_SEARCH]);
	shm_window_publish(r, win, 60, START_S * 1000 + 60000);
	shm_record_request(r, SHM_CLASS_HEALTH, 200, 10); /* since start only */
	doc = test_summary(r, START_S * 1000);
	assert_string_equal(test_str(doc, "requests.period"), "60s");
	assert_int_equal(test_int(doc, "requests.totalRequests"), 4);
	assert_int_equal(test_int(doc, "requests.byClass.search.totalRequests"), 4);
	assert_float_equal(test_double(doc, "requests.byClass.search.responseTimes.p50"), 0.025,
			   1e-9);
	assert_false(test_has(doc, "requests.byClass.health"));
	assert_int_equal(test_int(doc, "sinceStart.totalRequests"), 1);
	bson_destroy(doc);
	free(win);
	free(h);
}

static void
test_summary_reports_workers_and_uptime(void **state)
{
	struct shm_region *r = *state;
	bson_t *doc;

	shm_worker_claim(r, 0, 100);
	shm_worker_claim(r, 5, 101);
	shm_worker_claim(r, 6, 102);
	shm_worker_release(r, 6);
	r->worker_restarts = 3;
	doc = test_summary(r, START_S * 1000 + 3723999);
	assert_int_equal(test_int(doc, "workers.live"), 2);
	assert_int_equal(test_int(doc, "workers.restarts"), 3);
	assert_int_equal(test_int(doc, "uptimeSeconds"), 3723);
	bson_destroy(doc);
	/* a clock behind the start time gives 0, not a huge number */
	doc = test_summary(r, (START_S - 10) * 1000);
	assert_int_equal(test_int(doc, "uptimeSeconds"), 0);
	bson_destroy(doc);
}

static void
test_response_times_of_empty_histogram_are_zero(void **state)
{
	struct shm_hist_snapshot *s = calloc(1, sizeof(*s));
	struct buf b;
	struct json j;

	assert_non_null(s);
	buf_init(&b);
	json_init(&j, &b);
	metrics_response_times_json(&j, s);
	assert_string_equal(
	    b.data, "{\"avg\":0.000,\"p50\":0.000,\"p95\":0.000,\"p99\":0.000,\"max\":0.000}");
	buf_free(&b);
	free(s);
}

static void
test_response_times_are_milliseconds_with_three_decimals(void **state)
{
	struct shm_hist *h = calloc(1, sizeof(*h));
	struct shm_hist_snapshot s;
	struct buf b;
	struct json j;
	int i;

	assert_non_null(h);
	for (i = 1; i <= 100; i++)
		shm_hist_record(h, (uint64_t)(i % 30)); /* exact buckets */
	shm_hist_record(h, 1500000);			/* 1.5 s */
	shm_hist_snapshot(h, &s);
	buf_init(&b);
	json_init(&j, &b);
	metrics_response_times_json(&j, &s);
	/* avg (1360 + 1500000) / 101 = 14864.95 us; ranks 51, 96 and 100 hold 13, 28 and 29 us */
	assert_string_equal(b.data, "{\"avg\":14.865,\"p50\":0.013,\"p95\":0.028,\"p99\":0.029,"
				    "\"max\":1500.000}");
	buf_free(&b);
	free(h);
}

static void
test_window_log_line_has_the_guide_keys(void **state)
{
	struct shm_hist_snapshot *win = calloc(SHM_CLASS_MAX, sizeof(*win));
	struct shm_hist *h = calloc(2, sizeof(*h));
	struct buf b;
	bson_t *doc;

	assert_non_null(win);
	assert_non_null(h);
	shm_hist_record(&h[0], 10);
	shm_hist_record(&h[1], 20);
	shm_hist_record(&h[1], 30);
	shm_hist_snapshot(&h[0], &win[SHM_CLASS_ORGANIZATION]);
	shm_hist_snapshot(&h[1], &win[SHM_CLASS_REPORT]);
	buf_init(&b);
	metrics_window_log_json(&b, win, 60);
	/* the message leads, so the line reads well in a log */
	assert_int_equal(strncmp(b.data, "{\"message\":\"Performance metrics summary\",", 41), 0);
	doc = test_parse(&b);
	assert_string_equal(test_str(doc, "message"), "Performance metrics summary");
	assert_string_equal(test_str(doc, "period"), "60s");
	assert_int_equal(test_int(doc, "totalRequests"), 3);
	assert_float_equal(test_double(doc, "responseTimes.avg"), 0.020, 1e-9);
	assert_float_equal(test_double(doc, "responseTimes.p50"), 0.020, 1e-9);
	assert_true(test_has(doc, "responseTimes.p95"));
	assert_true(test_has(doc, "responseTimes.p99"));
	assert_float_equal(test_double(doc, "responseTimes.max"), 0.030, 1e-9);
	assert_int_equal(test_int(doc, "byClass.organization.totalRequests"), 1);
	assert_int_equal(test_int(doc, "byClass.report.totalRequests"), 2);
	assert_false(test_has(doc, "byClass.health"));
	assert_null(strchr(b.data, '\n'));
	bson_destroy(doc);
	buf_free(&b);
	free(win);
	free(h);
}

/* --- Prometheus --- */

#define LABEL "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
#define SAMPLE_RE                                                                                  \
	"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{" LABEL "(," LABEL ")*\\})? "                              \
	"(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)$"
#define HELP_RE "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+$"
#define TYPE_RE "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$"

static char *
test_prometheus(const struct shm_region *r, int live)
{
	struct buf b;

	buf_init(&b);
	metrics_prometheus(&b, r, live);
	assert_non_null(b.data);
	return b.data; /* the caller frees */
}

/* Value of the sample whose name and labels are exactly `series`; fails if it is missing. */
static double
test_sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	fail_msg("no sample %s", series);
	return -1;
}

static void
test_fill_everything(struct shm_region *r)
{
	static const uint64_t lat[] = {0,	 300,	   700,	    2000,    9000,
				       40000,	 120000,   400000,  1500000, 7000000,
				       45000000, 61000000, 90000000};
	size_t i;
	int c;

	for (c = 0; c < SHM_CLASS_MAX; c += 2)
		for (i = 0; i < sizeof(lat) / sizeof(lat[0]); i++)
			shm_record_request(r, (enum shm_route_class)c, 200 + (int)i * 25,
					   lat[i] + (uint64_t)c);
	r->cache[SHM_RES_CLINIC].l1_hits = 11;
	r->breakers[SHM_DEP_REDIS].word = SHM_BREAKER_HALF_OPEN;
	r->breakers[SHM_DEP_REDIS].opens = 4;
	r->db_commands[SHM_DBCMD_FIND_AND_MODIFY] = 8;
	r->db_slow_commands = 2;
	r->worker_restarts = 1;
}

static void
test_prometheus_every_line_is_well_formed(void **state)
{
	struct shm_region *r = *state;
	regex_t sample, help, type;
	regmatch_t m[2];
	char family[128] = "", helped[128] = "", name[128], *text, *line, *save = NULL;
	int lines = 0;

	test_fill_everything(r);
	text = test_prometheus(r, 3);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_int_equal(regcomp(&sample, SAMPLE_RE, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&help, HELP_RE, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&type, TYPE_RE, REG_EXTENDED), 0);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lines++;
		if (regexec(&help, line, 2, m, 0) == 0) {
			snprintf(helped, sizeof(helped), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			continue;
		}
		if (regexec(&type, line, 2, m, 0) == 0) {
			snprintf(family, sizeof(family), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			/* HELP comes first, for the same family */
			assert_string_equal(family, helped);
			continue;
		}
		if (regexec(&sample, line, 2, m, 0) != 0)
			fail_msg("malformed line: %s", line);
		snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
			 line + m[1].rm_so);
		/* a sample belongs to the family declared just before it */
		if (strncmp(name, family, strlen(family)) != 0)
			fail_msg("sample %s outside its family %s", name, family);
		if (strcmp(name, family) != 0 && strcmp(name + strlen(family), "_bucket") != 0 &&
		    strcmp(name + strlen(family), "_sum") != 0 &&
		    strcmp(name + strlen(family), "_count") != 0)
			fail_msg("sample %s outside its family %s", name, family);
	}
	assert_true(lines > 100);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	free(text);
}

static void
test_prometheus_buckets_are_cumulative_and_end_at_count(void **state)
{
	static const char prefix[] = "enterprise_http_request_duration_seconds";
	struct shm_region *r = *state;
	char series[256], *text;
	const char *p;
	int c, buckets;

	test_fill_everything(r);
	text = test_prometheus(r, 3);
	for (c = 0; c < SHM_CLASS_MAX; c++) {
		const char *cls = shm_class_name((enum shm_route_class)c);
		double prev = 0, v = 0, count;
		size_t n;

		/* every class is present, in le order, whether it saw requests or not */
		n = (size_t)snprintf(series, sizeof(series), "%s_bucket{class=\"%s\",le=\"", prefix,
				     cls);
		buckets = 0;
		for (p = strstr(text, series); p != NULL; p = strstr(p + 1, series)) {
			v = strtod(strchr(p + n, ' ') + 1, NULL);
			assert_true(v >= prev);
			prev = v;
			buckets++;
		}
		assert_int_equal(buckets, 19);
		snprintf(series, sizeof(series), "%s_bucket{class=\"%s\",le=\"+Inf\"}", prefix,
			 cls);
		assert_float_equal(test_sample(text, series), v, 0); /* +Inf came last */
		snprintf(series, sizeof(series), "%s_count{class=\"%s\"}", prefix, cls);
		count = test_sample(text, series);
		assert_float_equal(v, count, 0);
		assert_float_equal(count, (c % 2 == 0 ? 13 : 0), 0);
	}
	/* 61 s and 90 s are past the last finite edge (60 s): only +Inf holds them */
	snprintf(series, sizeof(series), "%s_bucket{class=\"health\",le=\"60\"}", prefix);
	assert_float_equal(test_sample(text, series), 11, 0);
	free(text);
}

static void
test_prometheus_recorded_request_moves_its_counters(void **state)
{
	struct shm_region *r = *state;
	char *before, *after;

	before = test_prometheus(r, 0);
	assert_float_equal(
	    test_sample(before, "enterprise_http_requests_total{class=\"search\",status=\"5xx\"}"),
	    0, 0);
	free(before);

	shm_record_request(r, SHM_CLASS_SEARCH, 503, 1500);
	after = test_prometheus(r, 0);
	assert_float_equal(
	    test_sample(after, "enterprise_http_requests_total{class=\"search\",status=\"5xx\"}"),
	    1, 0);
	assert_float_equal(
	    test_sample(after, "enterprise_http_requests_total{class=\"search\",status=\"2xx\"}"),
	    0, 0);
	assert_float_equal(
	    test_sample(after, "enterprise_http_requests_total{class=\"list\",status=\"5xx\"}"), 0,
	    0);
	assert_float_equal(test_sample(after, "enterprise_http_request_duration_seconds_bucket"
					      "{class=\"search\",le=\"0.001\"}"),
			   0, 0);
	assert_float_equal(test_sample(after, "enterprise_http_request_duration_seconds_bucket"
					      "{class=\"search\",le=\"0.0025\"}"),
			   1, 0);
	assert_float_equal(
	    test_sample(after, "enterprise_http_request_duration_seconds_sum{class=\"search\"}"),
	    0.0015, 1e-9);
	assert_float_equal(
	    test_sample(after, "enterprise_http_request_duration_seconds_count{class=\"search\"}"),
	    1, 0);
	free(after);
}

static void
test_prometheus_reports_cache_breakers_db_and_workers(void **state)
{
	struct shm_region *r = *state;
	char *text;

	test_fill_everything(r);
	text = test_prometheus(r, 3);
	assert_float_equal(test_sample(text, "enterprise_cache_operations_total"
					     "{resource=\"clinic\",result=\"l1_hit\"}"),
			   11, 0);
	assert_float_equal(test_sample(text, "enterprise_cache_operations_total"
					     "{resource=\"clinic\",result=\"l2_hit\"}"),
			   0, 0);
	assert_float_equal(
	    test_sample(text, "enterprise_circuit_breaker_state{dependency=\"redis\"}"), 2, 0);
	assert_float_equal(
	    test_sample(text, "enterprise_circuit_breaker_state{dependency=\"mongodb\"}"), 0, 0);
	assert_float_equal(
	    test_sample(text, "enterprise_circuit_breaker_opens_total{dependency=\"redis\"}"), 4,
	    0);
	assert_float_equal(
	    test_sample(text, "enterprise_db_commands_total{command=\"findAndModify\"}"), 8, 0);
	assert_float_equal(test_sample(text, "enterprise_db_commands_total{command=\"other\"}"), 0,
			   0);
	assert_float_equal(test_sample(text, "enterprise_db_slow_commands_total"), 2, 0);
	assert_float_equal(test_sample(text, "enterprise_worker_restarts_total"), 1, 0);
	assert_float_equal(test_sample(text, "enterprise_workers"), 3, 0);
	assert_float_equal(test_sample(text, "enterprise_process_start_time_seconds"),
			   (double)START_S, 0);
	free(text);
}

static void
test_prometheus_counts_config_reloads_by_result(void **state)
{
	struct shm_region *r = *state;
	char *text;

	r->config_reloads[SHM_RELOAD_OK] = 3;
	r->config_reloads[SHM_RELOAD_FAILED] = 2;
	text = test_prometheus(r, 2);
	assert_non_null(strstr(text, "# TYPE enterprise_config_reloads_total counter\n"));
	assert_float_equal(test_sample(text, "enterprise_config_reloads_total{result=\"ok\"}"), 3,
			   0);
	assert_float_equal(test_sample(text, "enterprise_config_reloads_total{result=\"failed\"}"),
			   2, 0);
	free(text);
}

/* Issue 8: shed requests by class, and each live worker's planned service time by pool. */
static void
test_prometheus_reports_shed_requests_and_pool_service_times(void **state)
{
	struct shm_region *r = *state;
	char *text;

	atomic_store(&r->shed[SHM_CLASS_LIST], 7);
	atomic_store(&r->workers[1].pid, 4242);
	atomic_store(&r->workers[1].pool_service_us[SHM_POOL_FAST], 12500);
	atomic_store(&r->workers[2].pool_service_us[SHM_POOL_FAST], 999); /* slot not live */
	text = test_prometheus(r, 1);
	assert_float_equal(test_sample(text, "enterprise_requests_shed_total{class=\"list\"}"), 7,
			   0);
	assert_float_equal(
	    test_sample(text, "enterprise_requests_shed_total{class=\"organization\"}"), 0, 0);
	assert_float_equal(test_sample(text, "enterprise_backend_service_time_microseconds"
					     "{pool=\"fast\",worker=\"1\"}"),
			   12500, 0);
	assert_float_equal(test_sample(text, "enterprise_backend_service_time_microseconds"
					     "{pool=\"cache\",worker=\"1\"}"),
			   0, 0);
	assert_null(strstr(text, "worker=\"2\""));
	free(text);
}

#define REGION_TEST(f) cmocka_unit_test_setup_teardown(f, setup_region, teardown_region)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    REGION_TEST(test_summary_hit_rate_counts_both_cache_levels),
	    REGION_TEST(test_summary_hit_rate_is_rounded_to_two_decimals),
	    REGION_TEST(test_summary_hit_rate_is_zero_without_lookups),
	    REGION_TEST(test_summary_counts_breakers_by_state),
	    REGION_TEST(test_summary_since_start_lists_only_classes_with_requests),
	    REGION_TEST(test_summary_requests_are_zero_before_a_window_is_published),
	    REGION_TEST(test_summary_requests_come_from_the_published_window),
	    REGION_TEST(test_summary_reports_workers_and_uptime),
	    cmocka_unit_test(test_response_times_of_empty_histogram_are_zero),
	    cmocka_unit_test(test_response_times_are_milliseconds_with_three_decimals),
	    cmocka_unit_test(test_window_log_line_has_the_guide_keys),
	    REGION_TEST(test_prometheus_every_line_is_well_formed),
	    REGION_TEST(test_prometheus_buckets_are_cumulative_and_end_at_count),
	    REGION_TEST(test_prometheus_recorded_request_moves_its_counters),
	    REGION_TEST(test_prometheus_reports_cache_breakers_db_and_workers),
	    REGION_TEST(test_prometheus_counts_config_reloads_by_result),
	    REGION_TEST(test_prometheus_reports_shed_requests_and_pool_service_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
