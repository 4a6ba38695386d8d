/*
 * test_dashboard.c: the monitor's live dashboard (issue 10): the page and its strict headers,
 * the JSON it refreshes from, the chart library served from where tools/deps installed it and
 * nothing else from there, and a real headless Chromium (tools/dashboard-test.mjs, driven by
 * playwright-core) that watches the figures move with traffic and agree with /metrics, and
 * saves build/dashboard.png. A second server without the chart library shows that the page
 * still answers and says so.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "client.h"
#include "harness.h"

static struct harness_deps deps;
static struct harness_server server;

/* http://127.0.0.1:MONITOR_PORT of s (no trailing slash) */
static void
monitor_base(const struct harness_server *s, char *out, size_t len)
{
	snprintf(out, len, "http://127.0.0.1:%d", s->monitor_port);
}

static void
monitor_get(const struct harness_server *s, const char *path, struct harness_response *r)
{
	char url[512];

	monitor_base(s, url, sizeof(url));
	strncat(url, path, sizeof(url) - strlen(url) - 1);
	if (harness_get(url, r) == -1)
		fail_msg("GET %s: %s", url, r->error);
}

static void
assert_header_has(const struct harness_response *r, const char *name, const char *want)
{
	const char *v = harness_header(r, name);

	if (v == NULL || strstr(v, want) == NULL)
		fail_msg("%s is %s, want it to contain %s", name, v ? v : "(none)", want);
}

static void
test_page_has_strict_headers_and_no_inline_script(void **state)
{
	struct harness_response r;
	const char *p;

	monitor_get(&server, "/dashboard", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "text/html");
	assert_header_has(&r, "content-security-policy", "default-src 'self'");
	assert_header_has(&r, "x-content-type-options", "nosniff");
	/* every script element loads a file of the same origin; no inline code, no handler */
	for (p = strstr(r.body, "<script"); p != NULL; p = strstr(p + 1, "<script"))
		if (strncmp(p, "<script src=\"/", 14) != 0)
			fail_msg("inline or foreign script: %.60s", p);
	assert_null(strstr(r.body, "<style"));
	assert_null(strstr(r.body, " onload="));
	assert_non_null(strstr(r.body, "/dashboard.js"));
	harness_response_free(&r);
}

static void
test_script_and_style_have_their_types(void **state)
{
	struct harness_response r;

	monitor_get(&server, "/dashboard.js", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "text/javascript");
	assert_header_has(&r, "x-content-type-options", "nosniff");
	assert_non_null(strstr(r.body, "/dashboard.json"));
	harness_response_free(&r);
	monitor_get(&server, "/dashboard.css", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "text/css");
	harness_response_free(&r);
}

static json_t *
dashboard_json(const struct harness_server *s)
{
	struct harness_response r;
	json_error_t err;
	json_t *doc;

	monitor_get(s, "/dashboard.json", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "application/json");
	assert_header_has(&r, "cache-control", "no-store");
	if ((doc = json_loads(r.body, 0, &err)) == NULL)
		fail_msg("not JSON: %s", err.text);
	harness_response_free(&r);
	return doc;
}

static void
test_json_has_every_class_breaker_and_resource(void **state)
{
	json_t *doc = dashboard_json(&server), *v;
	size_t i;

	assert_int_equal(json_array_size(json_object_get(doc, "classes")), 11);
	assert_int_equal(json_array_size(json_object_get(doc, "cache")), 5);
	v = json_object_get(doc, "breakers");
	assert_int_equal(json_array_size(v), 2);
	for (i = 0; i < json_array_size(v); i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(v, i), "state")), "CLOSED");
	assert_true(json_is_integer(json_object_get(json_object_get(doc, "workers"), "live")));
	assert_true(json_is_integer(json_object_get(doc, "inflight")));
	assert_true(json_is_array(json_object_get(json_object_get(doc, "series"), "t")));
	assert_true(json_is_true(json_object_get(doc, "chartLibrary")));
	json_decref(doc);
}

/* The total of class `cls` on the dashboard. */
static json_int_t
class_total(const struct harness_server *s, const char *cls)
{
	json_t *doc = dashboard_json(s), *classes = json_object_get(doc, "classes");
	json_int_t n = -1;
	size_t i;

	for (i = 0; i < json_array_size(classes); i++) {
		json_t *c = json_array_get(classes, i);

		if (strcmp(json_string_value(json_object_get(c, "class")), cls) == 0)
			n = json_integer_value(json_object_get(c, "total"));
	}
	json_decref(doc);
	return n;
}

static void
test_json_total_grows_with_requests(void **state)
{
	struct harness_response r;
	json_int_t before = class_total(&server, "health"), now = before;
	char url[128];
	uint64_t end;
	int i;

	snprintf(url, sizeof(url), "%s/api/v1/health/live", server.url);
	for (i = 0; i < 5; i++) {
		assert_int_equal(harness_get(url, &r), 0);
		harness_response_free(&r);
	}
	/* recorded after the answer is sent: poll briefly */
	for (end = harness_now_ms() + 5000; harness_now_ms() < end; harness_sleep_ms(100))
		if ((now = class_total(&server, "health")) >= before + 5)
			break;
	if (now < before + 5)
		fail_msg("health total %lld, want at least %lld", (long long)now,
			 (long long)before + 5);
}

/* The server runs with mongodb { slow_query_threshold 0 }: every command is slow. */
static void
test_json_lists_recent_slow_queries(void **state)
{
	struct harness_response r;
	json_t *doc = NULL, *slow, *q;
	char url[128];
	uint64_t end;

	snprintf(url, sizeof(url), "%s/api/v1/health/ready", server.url);
	assert_int_equal(harness_get(url, &r), 0);
	harness_response_free(&r);
	for (end = harness_now_ms() + 5000; harness_now_ms() < end; harness_sleep_ms(100)) {
		json_decref(doc);
		doc = dashboard_json(&server);
		slow = json_object_get(doc, "slowQueries");
		if (json_array_size(json_object_get(slow, "recent")) > 0)
			break;
	}
	slow = json_object_get(doc, "slowQueries");
	assert_int_equal(json_integer_value(json_object_get(slow, "thresholdMs")), 0);
	assert_true(json_integer_value(json_object_get(slow, "total")) > 0);
	q = json_array_get(json_object_get(slow, "recent"), 0);
	if (q == NULL)
		fail_msg("no recent slow query after a readiness check");
	assert_true(strlen(json_string_value(json_object_get(q, "command"))) > 0);
	assert_true(json_is_number(json_object_get(q, "ms")));
	json_decref(doc);
}

static void
test_vendor_serves_the_chart_library(void **state)
{
	struct harness_response r;

	monitor_get(&server, "/vendor/uPlot.iife.min.js", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "text/javascript");
	assert_header_has(&r, "cache-control", "max-age=");
	assert_header_has(&r, "x-content-type-options", "nosniff");
	assert_non_null(strstr(r.body, "uPlot"));
	harness_response_free(&r);
	monitor_get(&server, "/vendor/uPlot.min.css", &r);
	assert_int_equal(r.status, 200);
	assert_header_has(&r, "content-type", "text/css");
	harness_response_free(&r);
}

static void
test_vendor_serves_nothing_else(void **state)
{
	/* uPlot.esm.js exists in the same directory: only the allow-list is served */
	static const char *const paths[] = {
	    "/vendor/uPlot.esm.js",
	    "/vendor/..%2Fpackage.json",
	    "/vendor/%2e%2e%2f%2e%2e%2fplaywright-core%2fpackage.json",
	    "/vendor/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
	    "/vendor/uPlot.min.css%00.js",
	    "/vendor/uPlot.iife.min.js%2F",
	    "/vendor/.",
	    "/vendor/",
	    "/vendor/a/uPlot.iife.min.js",
	};
	struct harness_response r;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		monitor_get(&server, paths[i], &r);
		if (r.status != 404 && r.status != 400)
			fail_msg("%s answered %ld, want 404 (or 400)", paths[i], r.status);
		assert_header_has(&r, "content-type", "application/problem+json");
		assert_null(strstr(r.body, "root:"));
		assert_null(strstr(r.body, "\"version\""));
		harness_response_free(&r);
	}
}

/* Runs tools/dashboard-test.mjs against s; fails with its output unless it exits 0. */
static void
run_browser(const struct harness_server *s, const char *shot, const char *flag)
{
	struct harness_proc p;
	char monitor[64];
	char *argv[] = {"/usr/bin/env",
			"node",
			"tools/dashboard-test.mjs",
			monitor,
			(char *)s->plain_url,
			(char *)shot,
			(char *)flag,
			NULL};
	int code;

	monitor_base(s, monitor, sizeof(monitor));
	if (harness_proc_start(&p, "chromium", argv, NULL) == -1)
		fail_msg("cannot start node tools/dashboard-test.mjs");
	if (harness_proc_wait(&p, 120000) == -1) {
		harness_proc_stop(&p, 2000);
		harness_print_tail(p.out_path, 40);
		fail_msg("the browser test did not finish in 120 s");
	}
	code = harness_exit_code(p.status);
	if (code != 0) {
		harness_print_tail(p.out_path, 40);
		harness_print_tail(p.err_path, 20);
		fail_msg(
		    "tools/dashboard-test.mjs exited %d (Chromium and playwright-core come from "
		    "tools/deps)",
		    code);
	}
}

static void
test_browser_sees_figures_move_and_agree_with_metrics(void **state)
{
	run_browser(&server, "build/dashboard.png", NULL);
}

static void
test_without_the_chart_library_the_page_says_so(void **state)
{
	struct harness_conf c = {
	    .workers = 1,
	    .plain_server = 1,
	    .extra = "monitor {\n\tdashboard_vendor_dir /nonexistent/uplot/dist\n}\n",
	};
	struct harness_server bare;
	struct harness_response r;
	json_t *doc;

	if (harness_server_start(&bare, "dashboard-bare", &c, &deps) == -1)
		fail_msg("second server did not start");
	monitor_get(&bare, "/dashboard", &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	monitor_get(&bare, "/vendor/uPlot.iife.min.js", &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "not installed"));
	harness_response_free(&r);
	doc = dashboard_json(&bare);
	assert_true(json_is_false(json_object_get(doc, "chartLibrary")));
	json_decref(doc);
	run_browser(&bare, "build/dashboard-no-charts.png", "--no-charts");
	assert_int_equal(harness_exit_code(harness_server_stop(&bare)), 0);
}

/* mongodb { slow_query_threshold 0 }, and where tools/deps put uPlot when CONTRACT_NODE_PREFIX
 * moved its npm packages (else the default, .tools/node under the working directory) */
static char extra[PATH_MAX + 256];

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2, .plain_server = 1, .extra = extra};
	const char *prefix = getenv("CONTRACT_NODE_PREFIX");
	char abs[PATH_MAX];
	int n;

	n = snprintf(extra, sizeof(extra), "mongodb {\n\tslow_query_threshold 0\n}\n");
	if (prefix != NULL && prefix[0] != '\0' && realpath(prefix, abs) != NULL)
		snprintf(extra + n, sizeof(extra) - (size_t)n,
			 "monitor {\n\tdashboard_vendor_dir %s/node_modules/uplot/dist\n}\n", abs);
	return client_suite_start(&deps, NULL, &server, "dashboard", &c);
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
	    cmocka_unit_test(test_page_has_strict_headers_and_no_inline_script),
	    cmocka_unit_test(test_script_and_style_have_their_types),
	    cmocka_unit_test(test_json_has_every_class_breaker_and_resource),
	    cmocka_unit_test(test_json_total_grows_with_requests),
	    cmocka_unit_test(test_json_lists_recent_slow_queries),
	    cmocka_unit_test(test_vendor_serves_the_chart_library),
	    cmocka_unit_test(test_vendor_serves_nothing_else),
	    cmocka_unit_test(test_browser_sees_figures_move_and_agree_with_metrics),
	    cmocka_unit_test(test_without_the_chart_library_the_page_says_so),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
