/*
 * test_http.c: the HTTP face of enterprised: TLS and protocol versions, error bodies, body
 * limits, the access log and request deadlines.
 *
 * Two servers share one FerretDB and one Redis: `h1` (the default http2 no, a plain server
 * block next to the TLS one, debug routes, a 1 s request timeout, an access log) and `h2`
 * (http2 yes, no debug routes). Both have http_body_max 1024.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "client.h"
#include "harness.h"

#define BODY_MAX 1024

static struct harness_deps deps;
static struct harness_server h1;
static struct harness_server h2;

static void
url_of(char *out, size_t len, const struct harness_server *s, const char *path)
{
	snprintf(out, len, "%s%s", s->url, path);
}

static void
assert_problem(const struct harness_response *r, long status)
{
	char why[512];

	if (r->curl_code != CURLE_OK)
		fail_msg("no response: %s", r->error);
	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (harness_problem_check(r, why, sizeof(why)) == -1)
		fail_msg("%ld: %s", status, why);
}

static void
test_tls_negotiates_http1_even_when_client_offers_h2(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_OFFER_H2};
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	assert_int_equal(harness_request("GET", url, NULL, NULL, 0, &o, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_1_1);
	harness_response_free(&r);
}

static void
test_http2_is_negotiated_when_enabled(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_2};
	struct harness_response r;
	char url[128];
	bson_t *doc;

	url_of(url, sizeof(url), &h2, "/api/v1/health/live");
	if (harness_request("GET", url, NULL, NULL, 0, &o, &r) == -1)
		fail_msg("GET %s over h2: %s", url, r.error);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
	doc = harness_json(&r);
	assert_non_null(doc);
	assert_string_equal(harness_json_str(doc, "status"), "ok");
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_http2_server_still_serves_http1_clients(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_1_1};
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h2, "/api/v1/health/live");
	assert_int_equal(harness_request("GET", url, NULL, NULL, 0, &o, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_1_1);
	harness_response_free(&r);
}

static void
test_plain_http_works_on_tls_no_server_block(void **state)
{
	struct harness_response r;
	char url[128];
	bson_t *doc;

	snprintf(url, sizeof(url), "%s/api/v1/health/live", h1.plain_url);
	if (harness_get(url, &r) == -1)
		fail_msg("GET %s: %s", url, r.error);
	assert_int_equal(r.status, 200);
	doc = harness_json(&r);
	assert_non_null(doc);
	assert_string_equal(harness_json_str(doc, "status"), "ok");
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_tls_port_does_not_speak_plain_http(void **state)
{
	struct harness_response r;
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/health/live", h1.port);
	harness_get(url, &r);
	if (r.curl_code == CURLE_OK && r.status == 200)
		fail_msg("plain HTTP answered 200 on the TLS port");
	harness_response_free(&r);
}

static void
test_tls_1_1_is_refused(void **state)
{
	/* SECLEVEL=0 so that the client itself is willing: the refusal must be the server's */
	struct harness_http_opts old = {.version = HARNESS_HTTP_1_1,
					.tls_min = CURL_SSLVERSION_TLSv1_1,
					.tls_max = CURL_SSLVERSION_MAX_TLSv1_1,
					.ciphers = "DEFAULT:@SECLEVEL=0"};
	struct harness_http_opts v12 = old;
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	if (harness_request("GET", url, NULL, NULL, 0, &old, &r) == 0)
		fail_msg("a TLS 1.1 client got an answer: %ld", r.status);
	harness_response_free(&r);

	v12.tls_min = CURL_SSLVERSION_TLSv1_2;
	v12.tls_max = CURL_SSLVERSION_MAX_TLSv1_2;
	if (harness_request("GET", url, NULL, NULL, 0, &v12, &r) == -1)
		fail_msg("the same client with TLS 1.2 failed: %s", r.error);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
}

static void
test_tls_1_2_and_1_3_are_accepted(void **state)
{
	struct harness_http_opts o = {.tls_min = CURL_SSLVERSION_TLSv1_3,
				      .tls_max = CURL_SSLVERSION_MAX_TLSv1_3};
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	if (harness_request("GET", url, NULL, NULL, 0, &o, &r) == -1)
		fail_msg("TLS 1.3: %s", r.error);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	o.tls_min = CURL_SSLVERSION_TLSv1_2;
	o.tls_max = CURL_SSLVERSION_MAX_TLSv1_2;
	if (harness_request("GET", url, NULL, NULL, 0, &o, &r) == -1)
		fail_msg("TLS 1.2: %s", r.error);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
}

static void
test_unknown_path_answers_404_problem_json(void **state)
{
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/nope");
	harness_get(url, &r);
	assert_problem(&r, 404);
	harness_response_free(&r);
}

static void
test_unknown_path_answers_404_problem_json_on_http2(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_2};
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h2, "/api/v1/nope");
	harness_request("GET", url, NULL, NULL, 0, &o, &r);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
	assert_problem(&r, 404);
	harness_response_free(&r);
}

static void
test_wrong_method_answers_405_with_allow_get(void **state)
{
	struct harness_response r;
	const char *allow;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	harness_request("POST", url, NULL, "{}", 2, NULL, &r);
	assert_problem(&r, 405);
	allow = harness_header(&r, "allow");
	if (allow == NULL || strstr(allow, "GET") == NULL)
		fail_msg("Allow header is %s, want one with GET", allow ? allow : "(none)");
	harness_response_free(&r);
}

static void
test_wrong_method_answers_405_for_delete(void **state)
{
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h1, "/api/v1/health/ready");
	harness_request("DELETE", url, NULL, NULL, 0, NULL, &r);
	assert_problem(&r, 405);
	assert_non_null(harness_header(&r, "allow"));
	harness_response_free(&r);
}

/* POSTs `len` bytes to the health route of s and returns the response. */
static void
post_body(struct harness_server *s, size_t len, const struct harness_http_opts *o,
	  struct harness_response *r)
{
	char url[128], *body = malloc(len);

	assert_non_null(body);
	memset(body, 'x', len);
	url_of(url, sizeof(url), s, "/api/v1/health/live");
	harness_request("POST", url, NULL, body, len, o, r);
	free(body);
}

static void
test_body_over_limit_answers_413_with_content_length(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_1_1};
	struct harness_response r;

	post_body(&h1, BODY_MAX + 1, &o, &r);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_1_1);
	assert_problem(&r, 413);
	harness_response_free(&r);
}

static void
test_body_over_limit_answers_413_when_chunked(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_1_1, .chunked = 1};
	struct harness_response r;

	post_body(&h1, BODY_MAX + 1, &o, &r);
	assert_problem(&r, 413);
	harness_response_free(&r);
}

static void
test_body_over_limit_answers_413_on_http2(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_2};
	struct harness_response r;

	post_body(&h2, BODY_MAX + 1, &o, &r);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
	assert_problem(&r, 413);
	harness_response_free(&r);
}

static void
test_body_of_exactly_http_body_max_is_accepted(void **state)
{
	struct harness_http_opts cl = {.version = HARNESS_HTTP_1_1};
	struct harness_http_opts chunked = {.version = HARNESS_HTTP_1_1, .chunked = 1};
	struct harness_http_opts h2o = {.version = HARNESS_HTTP_2};
	struct harness_response r;

	/* not 413: the body is fine, the method is not (405 on the health route) */
	post_body(&h1, BODY_MAX, &cl, &r);
	assert_problem(&r, 405);
	harness_response_free(&r);
	post_body(&h1, BODY_MAX, &chunked, &r);
	assert_problem(&r, 405);
	harness_response_free(&r);
	post_body(&h2, BODY_MAX, &h2o, &r);
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
	assert_problem(&r, 405);
	harness_response_free(&r);
}

static void
test_server_keeps_serving_after_413(void **state)
{
	struct harness_http_opts o = {.version = HARNESS_HTTP_2};
	struct harness_response r;
	char url[128];
	int i;

	for (i = 0; i < 3; i++) {
		post_body(&h2, BODY_MAX * 4, &o, &r);
		harness_response_free(&r);
	}
	url_of(url, sizeof(url), &h2, "/api/v1/health/live");
	assert_int_equal(harness_request("GET", url, NULL, NULL, 0, &o, &r), 0);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
}

/* 1 when the access log has a line with all three words. */
static int
accesslog_has(const char *method, const char *path, const char *status)
{
	char *data = harness_read_file(h1.accesslog, NULL), *line, *save;
	int found = 0;

	if (data == NULL)
		return 0;
	for (line = strtok_r(data, "\n", &save); line != NULL && !found;
	     line = strtok_r(NULL, "\n", &save))
		found = strstr(line, method) != NULL && strstr(line, path) != NULL &&
			strstr(line, status) != NULL;
	free(data);
	return found;
}

static void
test_accesslog_records_method_path_status(void **state)
{
	struct harness_response r;
	char url[128], path[64];
	uint64_t deadline;

	snprintf(path, sizeof(path), "/api/v1/accesslog-probe-%llu",
		 (unsigned long long)harness_now_ms());
	url_of(url, sizeof(url), &h1, path);
	harness_get(url, &r);
	assert_int_equal(r.status, 404);
	harness_response_free(&r);
	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	harness_request("POST", url, NULL, "{}", 2, NULL, &r);
	assert_int_equal(r.status, 405);
	harness_response_free(&r);

	deadline = harness_now_ms() + 3000;
	while (!(accesslog_has("GET", path, " 404") &&
		 accesslog_has("POST", "/api/v1/health/live", " 405"))) {
		if (harness_now_ms() > deadline) {
			harness_print_tail(h1.accesslog, 10);
			fail_msg("no access log lines for GET %s 404 and POST 405 in %s", path,
				 h1.accesslog);
		}
		harness_sleep_ms(50);
	}
}

static void
test_debug_sleep_answers_200_with_slept_ms(void **state)
{
	struct harness_response r;
	char url[128];
	int64_t ms;
	bson_t *doc;

	url_of(url, sizeof(url), &h1, "/api/v1/debug/sleep?ms=150");
	assert_int_equal(harness_get(url, &r), 0);
	assert_int_equal(r.status, 200);
	doc = harness_json(&r);
	assert_non_null(doc);
	assert_int_equal(harness_json_int(doc, "sleptMs", &ms), 0);
	assert_int_equal(ms, 150);
	assert_true(r.seconds >= 0.15);
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_slow_backend_job_answers_504_at_request_timeout(void **state)
{
	struct harness_response r;
	char url[128];
	double took;

	url_of(url, sizeof(url), &h1, "/api/v1/debug/sleep?ms=3000");
	harness_get(url, &r);
	took = r.seconds;
	assert_problem(&r, 504);
	harness_response_free(&r);
	if (took < 0.9 || took > 2.0)
		fail_msg("504 came after %.3f s; request_timeout is 1 s", took);

	/* the loop is not blocked by the job that is still sleeping */
	url_of(url, sizeof(url), &h1, "/api/v1/health/live");
	assert_int_equal(harness_get(url, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.seconds < 1.0);
	harness_response_free(&r);
}

static void
test_debug_routes_are_404_when_disabled(void **state)
{
	struct harness_response r;
	char url[128];

	url_of(url, sizeof(url), &h2, "/api/v1/debug/sleep?ms=1");
	harness_get(url, &r);
	assert_problem(&r, 404);
	harness_response_free(&r);
	/* the route that provokes a seccomp violation kills its worker: never without the flag,
	 * whoever asks (a platform admin included) */
	{
		char *tok = harness_token("platform_admin", NULL, NULL), auth[2048];
		const char *hdrs[] = {auth, "Content-Type: application/json", NULL};

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		url_of(url, sizeof(url), &h2, "/api/v1/debug/seccomp");
		harness_request("POST", url, hdrs, "{}", 2, NULL, &r);
		assert_problem(&r, 404);
		harness_response_free(&r);
		free(tok);
	}
}

static int
group_setup(void **state)
{
	struct harness_conf c1 = {.workers = 2,
				  .plain_server = 1,
				  .http_body_max = BODY_MAX,
				  .request_timeout = 1000,
				  .accesslog = 1,
				  .debug_routes = 1};
	struct harness_conf c2 = {.workers = 2, .http2 = 1, .http_body_max = BODY_MAX};

	if (client_suite_start(&deps, NULL, NULL, NULL, NULL) == -1)
		return -1;
	if (harness_server_start(&h1, "h1", &c1, &deps) == -1)
		return -1;
	return harness_server_start(&h2, "h2", &c2, &deps);
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
	    cmocka_unit_test(test_tls_negotiates_http1_even_when_client_offers_h2),
	    cmocka_unit_test(test_http2_is_negotiated_when_enabled),
	    cmocka_unit_test(test_http2_server_still_serves_http1_clients),
	    cmocka_unit_test(test_plain_http_works_on_tls_no_server_block),
	    cmocka_unit_test(test_tls_port_does_not_speak_plain_http),
	    cmocka_unit_test(test_tls_1_1_is_refused),
	    cmocka_unit_test(test_tls_1_2_and_1_3_are_accepted),
	    cmocka_unit_test(test_unknown_path_answers_404_problem_json),
	    cmocka_unit_test(test_unknown_path_answers_404_problem_json_on_http2),
	    cmocka_unit_test(test_wrong_method_answers_405_with_allow_get),
	    cmocka_unit_test(test_wrong_method_answers_405_for_delete),
	    cmocka_unit_test(test_body_over_limit_answers_413_with_content_length),
	    cmocka_unit_test(test_body_over_limit_answers_413_when_chunked),
	    cmocka_unit_test(test_body_over_limit_answers_413_on_http2),
	    cmocka_unit_test(test_body_of_exactly_http_body_max_is_accepted),
	    cmocka_unit_test(test_server_keeps_serving_after_413),
	    cmocka_unit_test(test_accesslog_records_method_path_status),
	    cmocka_unit_test(test_debug_sleep_answers_200_with_slept_ms),
	    cmocka_unit_test(test_slow_backend_job_answers_504_at_request_timeout),
	    cmocka_unit_test(test_debug_routes_are_404_when_disabled),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
