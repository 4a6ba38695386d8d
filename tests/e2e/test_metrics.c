/*
 * test_metrics.c: what the shared region reports: the monitor's Prometheus page, the JSON
 * summary endpoint, and the monitor's periodic log line.
 *
 * Metrics are recorded after the response is sent, so every "it grew" check polls briefly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define HIST "enterprise_http_request_duration_seconds"
#define REQS "enterprise_http_requests_total"

static struct harness_deps deps;
static struct harness_server server;

static void
fetch(struct harness_prom *p)
{
	if (harness_prom_fetch(server.metrics_url, p) == -1)
		fail_msg("%s: %s", server.metrics_url, p->error);
}

static double
prom_value(const char *name, const char *labels)
{
	struct harness_prom p;
	double v;

	fetch(&p);
	if (harness_prom_sum(&p, name, labels, &v) == 0)
		v = -1; /* absent */
	harness_prom_free(&p);
	return v;
}

static void
get_ok(const char *path, int times)
{
	struct harness_response r;
	char url[128];
	int i;

	snprintf(url, sizeof(url), "%s%s", server.url, path);
	for (i = 0; i < times; i++) {
		harness_get(url, &r);
		if (r.curl_code != 0)
			fail_msg("GET %s: %s", url, r.error);
		harness_response_free(&r);
	}
}

static void
test_metrics_page_is_prometheus_text(void **state)
{
	struct harness_response r;
	struct harness_prom p;
	const char *ct;

	assert_int_equal(harness_get(server.metrics_url, &r), 0);
	assert_int_equal(r.status, 200);
	ct = harness_header(&r, "content-type");
	if (ct == NULL || strncmp(ct, "text/plain; version=0.0.4", 25) != 0)
		fail_msg("content-type %s", ct ? ct : "(none)");
	if (harness_prom_parse(r.body, &p) == -1)
		fail_msg("not Prometheus text: %s", p.error);
	assert_true(p.nsamples > 0);
	harness_prom_free(&p);
	harness_response_free(&r);
}

static void
test_metrics_page_has_the_families(void **state)
{
	static const char *const want[][2] = {{HIST, "histogram"},
					      {REQS, "counter"},
					      {"enterprise_worker_restarts_total", "counter"},
					      {"enterprise_process_start_time_seconds", "gauge"}};
	struct harness_prom p;
	const char *type;
	double v;
	size_t i;

	get_ok("/api/v1/health/live", 1);
	harness_sleep_ms(200);
	fetch(&p);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		type = harness_prom_type(&p, want[i][0]);
		if (type == NULL || strcmp(type, want[i][1]) != 0)
			fail_msg("# TYPE %s is %s, want %s", want[i][0], type ? type : "(none)",
				 want[i][1]);
	}
	if (harness_prom_sum(&p, HIST "_bucket", "class=\"health\"", &v) == 0)
		fail_msg("no " HIST "_bucket{class=\"health\"}");
	if (harness_prom_sum(&p, REQS, "class=\"health\",status=\"2xx\"", &v) != 1)
		fail_msg("want exactly one " REQS "{class=\"health\",status=\"2xx\"}");
	if (harness_prom_sum(&p, "enterprise_worker_restarts_total", NULL, &v) == 0)
		fail_msg("no enterprise_worker_restarts_total sample");
	if (harness_prom_sum(&p, "enterprise_process_start_time_seconds", NULL, &v) != 1)
		fail_msg("want one enterprise_process_start_time_seconds sample");
	if (fabs(v - (double)time(NULL)) > 3600)
		fail_msg("process start time %.0f is not near now (%ld)", v, (long)time(NULL));
	harness_prom_free(&p);
}

static void
test_histogram_buckets_are_cumulative_and_end_at_count(void **state)
{
	struct harness_prom p;
	double prev_le = -INFINITY, prev_count = 0, inf = -1, count;
	size_t i;
	int n = 0;

	get_ok("/api/v1/health/live", 3);
	harness_sleep_ms(200);
	fetch(&p);
	for (i = 0; i < p.nsamples; i++) {
		const struct harness_prom_sample *s = &p.samples[i];
		const char *le;
		double bound;

		if (strcmp(s->name, HIST "_bucket") != 0 ||
		    strstr(s->labels, ",class=\"health\",") == NULL)
			continue;
		if ((le = strstr(s->labels, ",le=\"")) == NULL)
			fail_msg("bucket without le: %s", s->labels);
		le += 5;
		bound = strncmp(le, "+Inf\"", 5) == 0 ? INFINITY : strtod(le, NULL);
		if (!(bound > prev_le))
			fail_msg("le %s not increasing", le);
		if (s->value < prev_count)
			fail_msg("bucket le=%s has %.0f < %.0f of the one before", le, s->value,
				 prev_count);
		prev_le = bound;
		prev_count = s->value;
		if (isinf(bound))
			inf = s->value;
		n++;
	}
	assert_true(n >= 2);
	if (inf < 0)
		fail_msg("no le=\"+Inf\" bucket for class health");
	assert_int_equal(harness_prom_sum(&p, HIST "_count", "class=\"health\"", &count), 1);
	if (inf != count)
		fail_msg("+Inf bucket %.0f != _count %.0f", inf, count);
	assert_true(count >= 3);
	assert_int_equal(harness_prom_sum(&p, HIST "_sum", "class=\"health\"", &count), 1);
	harness_prom_free(&p);
}

static void
test_request_counter_and_histogram_grow_with_requests(void **state)
{
	const char *ok = "class=\"health\",status=\"2xx\"";
	double c0 = prom_value(REQS, ok), h0 = prom_value(HIST "_count", "class=\"health\"");
	double c1 = 0, h1 = 0;
	uint64_t deadline;
	const int n = 20;

	assert_true(c0 >= 0);
	assert_true(h0 >= 0);
	get_ok("/api/v1/health/live", n);
	deadline = harness_now_ms() + 3000;
	do {
		c1 = prom_value(REQS, ok);
		h1 = prom_value(HIST "_count", "class=\"health\"");
		if (c1 - c0 >= n && h1 - h0 >= n)
			return;
		harness_sleep_ms(100);
	} while (harness_now_ms() < deadline);
	fail_msg("after %d requests: counter %.0f -> %.0f, histogram count %.0f -> %.0f", n, c0, c1,
		 h0, h1);
}

static void
test_client_errors_are_counted_as_4xx(void **state)
{
	double c0 = prom_value(REQS, "status=\"4xx\""), c1 = 0;
	uint64_t deadline;

	if (c0 < 0)
		c0 = 0; /* no 4xx yet: the series may appear with the first one */
	get_ok("/api/v1/nope", 3);
	deadline = harness_now_ms() + 3000;
	do {
		c1 = prom_value(REQS, "status=\"4xx\"");
		if (c1 - c0 >= 3)
			return;
		harness_sleep_ms(100);
	} while (harness_now_ms() < deadline);
	fail_msg("4xx counter %.0f -> %.0f after 3 requests for an unknown path", c0, c1);
}

static bson_t *
get_summary(void)
{
	struct harness_response r;
	char url[128];
	bson_t *doc;

	char *token = harness_token("platform_admin", NULL, NULL);

	assert_non_null(token);
	snprintf(url, sizeof(url), "%s/api/v1/performance/metrics/summary", server.url);
	if (harness_get_token(url, token, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	free(token);
	if (r.status != 200)
		fail_msg("GET %s: %ld %s", url, r.status, r.body);
	doc = harness_json(&r);
	if (doc == NULL)
		fail_msg("summary is not JSON: %s", r.body);
	harness_response_free(&r);
	return doc;
}

static void
test_summary_without_a_token_is_401_with_a_bearer_challenge(void **state)
{
	struct harness_response r;
	const char *challenge;
	char url[128], why[256];

	snprintf(url, sizeof(url), "%s/api/v1/performance/metrics/summary", server.url);
	if (harness_get(url, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	if (r.status != 401)
		fail_msg("GET %s without a token: %ld %s", url, r.status, r.body);
	challenge = harness_header(&r, "www-authenticate");
	if (challenge == NULL || strncmp(challenge, "Bearer", 6) != 0)
		fail_msg("WWW-Authenticate is %s, want Bearer ...",
			 challenge ? challenge : "(none)");
	if (harness_problem_check(&r, why, sizeof(why)) == -1)
		fail_msg("401: %s", why);
	harness_response_free(&r);
}

static void
test_summary_has_the_guide_shape(void **state)
{
	static const char *const numbers[] = {"cache.hits",
					      "cache.misses",
					      "cache.sets",
					      "cache.deletes",
					      "circuitBreakers.total",
					      "circuitBreakers.open",
					      "circuitBreakers.halfOpen",
					      "circuitBreakers.closed",
					      "sinceStart.totalRequests",
					      NULL};
	bson_t *doc = get_summary();
	const char *rate;
	double v;
	int i;

	rate = harness_json_str(doc, "cache.hitRate");
	if (rate == NULL || strlen(rate) == 0 || rate[strlen(rate) - 1] != '%')
		fail_msg("cache.hitRate is %s, want a string ending in %%", rate ? rate : "(none)");
	for (i = 0; numbers[i] != NULL; i++)
		if (harness_json_num(doc, numbers[i], &v) == -1)
			fail_msg("%s is not a number", numbers[i]);
	assert_int_equal(harness_json_type(doc, "requests"), BSON_TYPE_DOCUMENT);
	assert_int_equal(harness_json_type(doc, "sinceStart"), BSON_TYPE_DOCUMENT);
	bson_destroy(doc);
}

static void
test_circuit_breakers_lists_each_dependency_closed(void **state)
{
	struct harness_response r;
	char url[128];
	char *token = harness_token("platform_admin", NULL, NULL);
	bson_t *doc;
	double total, closed;
	const char *dep0, *state0, *dep1;

	assert_non_null(token);
	snprintf(url, sizeof(url), "%s/api/v1/performance/circuit-breakers", server.url);
	if (harness_get_token(url, token, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	free(token);
	if (r.status != 200)
		fail_msg("GET %s: %ld %s", url, r.status, r.body);
	if ((doc = harness_json(&r)) == NULL)
		fail_msg("not JSON: %s", r.body);
	assert_int_equal(harness_json_num(doc, "total", &total), 0);
	assert_int_equal(harness_json_num(doc, "closed", &closed), 0);
	assert_true(total == 2 && closed == 2);
	dep0 = harness_json_str(doc, "breakers.0.dependency");
	state0 = harness_json_str(doc, "breakers.0.state");
	dep1 = harness_json_str(doc, "breakers.1.dependency");
	if (dep0 == NULL || strcmp(dep0, "mongodb") != 0 || dep1 == NULL ||
	    strcmp(dep1, "redis") != 0 || state0 == NULL || strcmp(state0, "CLOSED") != 0)
		fail_msg("unexpected breakers: %s", r.body);
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_circuit_breakers_without_a_token_is_401(void **state)
{
	struct harness_response r;
	char url[128];

	snprintf(url, sizeof(url), "%s/api/v1/performance/circuit-breakers", server.url);
	if (harness_get(url, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	assert_int_equal(r.status, 401);
	harness_response_free(&r);
}

static void
test_summary_total_requests_grows(void **state)
{
	bson_t *doc = get_summary();
	double t0, t1 = 0;
	uint64_t deadline;

	assert_int_equal(harness_json_num(doc, "sinceStart.totalRequests", &t0), 0);
	bson_destroy(doc);
	get_ok("/api/v1/health/live", 10);
	deadline = harness_now_ms() + 3000;
	do {
		doc = get_summary();
		assert_int_equal(harness_json_num(doc, "sinceStart.totalRequests", &t1), 0);
		bson_destroy(doc);
		if (t1 - t0 >= 10)
			return;
		harness_sleep_ms(100);
	} while (harness_now_ms() < deadline);
	fail_msg("sinceStart.totalRequests %.0f -> %.0f after 10 requests", t0, t1);
}

/* Lines of the server's stdout that carry the monitor's summary; returns how many. */
static int
summary_lines(char *last, size_t lastlen)
{
	char *data = harness_read_file(server.proc.out_path, NULL), *line, *save;
	int n = 0;

	if (data == NULL)
		return 0;
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "\"Performance metrics summary\"") != NULL) {
			snprintf(last, lastlen, "%s", line);
			n++;
		}
	}
	free(data);
	return n;
}

static void
test_monitor_logs_a_summary_line_every_interval(void **state)
{
	static const char *const times[] = {"responseTimes.avg", "responseTimes.p50",
					    "responseTimes.p95", "responseTimes.p99",
					    "responseTimes.max", NULL};
	char last[8192] = "";
	int before = summary_lines(last, sizeof(last)), i;
	uint64_t deadline = harness_now_ms() + 5000;
	bson_t *doc;
	double v;

	/* interval 1: two more lines within a few seconds */
	get_ok("/api/v1/health/live", 5);
	while (summary_lines(last, sizeof(last)) < before + 2) {
		if (harness_now_ms() > deadline) {
			harness_print_tail(server.proc.out_path, 10);
			fail_msg("fewer than 2 summary lines in 5 s with interval 1 (had %d)",
				 before);
		}
		harness_sleep_ms(100);
	}
	if ((doc = harness_json_text(last, strlen(last))) == NULL)
		fail_msg("summary line is not one JSON object: %s", last);
	assert_string_equal(harness_json_str(doc, "message"), "Performance metrics summary");
	if (harness_json_type(doc, "period") == BSON_TYPE_EOD)
		fail_msg("no period in %s", last);
	if (harness_json_num(doc, "totalRequests", &v) == -1)
		fail_msg("no numeric totalRequests in %s", last);
	for (i = 0; times[i] != NULL; i++)
		if (harness_json_num(doc, times[i], &v) == -1)
			fail_msg("no numeric %s in %s", times[i], last);
	bson_destroy(doc);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2, .monitor_interval = 1};

	return client_suite_start(&deps, NULL, &server, "metrics", &c);
}

static int
group_teardown(void **state)
{
	return client_suite_stop(&deps, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_page_is_prometheus_text),
	    cmocka_unit_test(test_metrics_page_has_the_families),
	    cmocka_unit_test(test_histogram_buckets_are_cumulative_and_end_at_count),
	    cmocka_unit_test(test_request_counter_and_histogram_grow_with_requests),
	    cmocka_unit_test(test_client_errors_are_counted_as_4xx),
	    cmocka_unit_test(test_summary_without_a_token_is_401_with_a_bearer_challenge),
	    cmocka_unit_test(test_summary_has_the_guide_shape),
	    cmocka_unit_test(test_circuit_breakers_lists_each_dependency_closed),
	    cmocka_unit_test(test_circuit_breakers_without_a_token_is_401),
	    cmocka_unit_test(test_summary_total_requests_grows),
	    cmocka_unit_test(test_monitor_logs_a_summary_line_every_interval),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
