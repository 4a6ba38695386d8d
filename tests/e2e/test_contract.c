/*
 * test_contract.c: what a client and an operator see of a request besides its answer (issue
 * 10): the OpenAPI document served without a token, X-Request-Id on every answer and in every
 * log that names a request, and the JSON access log.
 *
 * One server (two workers, an access log in JSON, debug routes, a 1 s request timeout,
 * http_body_max 1024, every MongoDB command and every request logged as slow) on one FerretDB
 * and one Redis. The contract itself (document against route table and recorded answers) is
 * checked by tools/contract, not here.
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
#include <jansson.h>

#include "client.h"
#include "harness.h"

#define BODY_MAX 1024

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

/* 1 when s is 32 lower-case hex digits: an id the server made. */
static int
made_id(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* method path with the request header `X-Request-Id: id` (id NULL: none) and more headers. */
static void
call_with_id(const char *method, const char *path, const char *id, const char *token,
	     const char *extra, const char *body, struct harness_response *r)
{
	const char *headers[3] = {NULL, NULL, NULL};
	char *h = NULL, *url = client_strf("%s%s", server.url, path);
	int n = 0;

	if (id != NULL)
		headers[n++] = h = client_strf("X-Request-Id: %s", id);
	if (extra != NULL)
		headers[n++] = extra;
	if (harness_request_token(method, url, token, headers, body, body ? strlen(body) : 0, r) !=
	    0)
		fail_msg("%s %s: no response: %s", method, path, r->error);
	free(h);
	free(url);
}

/* The answer's X-Request-Id (fails the test when there is none). */
static const char *
answer_id(const struct harness_response *r)
{
	const char *id = harness_header(r, "x-request-id");

	if (id == NULL)
		fail_msg("status %ld without X-Request-Id", r->status);
	return id;
}

/* A problem+json answer of status whose instance is urn:request:<its X-Request-Id>. */
static void
expect_problem_instance(const struct harness_response *r, long status)
{
	char want[128];
	bson_t *doc;

	client_expect_problem(r, status);
	snprintf(want, sizeof(want), "urn:request:%s", answer_id(r));
	assert_non_null(doc = harness_json(r));
	client_want_str(doc, "instance", want);
	bson_destroy(doc);
}

/* --- the document ------------------------------------------------------------------------- */

static void
test_openapi_document_is_served_without_token_with_etag_and_304(void **state)
{
	struct harness_response r, again;
	char inm[128];
	bson_t *doc;

	call_with_id("GET", CLIENT_V1 "/openapi.json", NULL, NULL, NULL, NULL, &r);
	assert_non_null(doc = client_expect_json(&r, 200));
	client_want_str(doc, "openapi", "3.1.0");
	assert_int_equal(harness_json_type(doc, "paths"), BSON_TYPE_DOCUMENT);
	bson_destroy(doc);
	assert_non_null(harness_header(&r, "etag"));
	assert_true(made_id(answer_id(&r)));

	snprintf(inm, sizeof(inm), "If-None-Match: %s", harness_header(&r, "etag"));
	call_with_id("GET", CLIENT_V1 "/openapi.json", "doc-304", NULL, inm, NULL, &again);
	assert_int_equal(again.status, 304);
	assert_int_equal(again.body_len, 0);
	assert_string_equal(answer_id(&again), "doc-304");
	assert_string_equal(harness_header(&again, "etag"), harness_header(&r, "etag"));
	harness_response_free(&again);
	harness_response_free(&r);
}

/* --- X-Request-Id ------------------------------------------------------------------------- */

static void
test_request_id_well_formed_is_echoed(void **state)
{
	static const char *const good[] = {"a", "req-42_x.y:z",
					   "0123456789abcdef0123456789abcdef0123456789abcdef0123456"
					   "789abcdef", /* 64 */
					   NULL};
	struct harness_response r;
	int i;

	for (i = 0; good[i] != NULL; i++) {
		call_with_id("GET", CLIENT_V1 "/health/live", good[i], NULL, NULL, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(answer_id(&r), good[i]);
		harness_response_free(&r);
	}
}

static void
test_request_id_malformed_is_replaced(void **state)
{
	static const char *const bad[] = {
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* 65 */
	    "has space",
	    "semi;colon",
	    "quote\"d",
	    "caf\xc3\xa9",
	    "tab\tx", /* the one control byte h2o's parser lets into a field value */
	    "slash/x",
	    NULL};
	struct harness_response r;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		call_with_id("GET", CLIENT_V1 "/health/live", bad[i], NULL, NULL, NULL, &r);
		if (harness_header(&r, "x-request-id") == NULL)
			fail_msg("sent %s: %ld without X-Request-Id: %s", bad[i], r.status, r.body);
		if (!made_id(answer_id(&r)))
			fail_msg("sent %s, got back %s", bad[i], answer_id(&r));
		harness_response_free(&r);
	}
	/* any other control byte fails h2o's HTTP/1 parser: its fixed 400 closes the connection
	 * before a request exists, so there is no id to send (docs/DECISIONS.md, "Request ids") */
	call_with_id("GET", CLIENT_V1 "/health/live", "ctl\x01x", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 400);
	harness_response_free(&r);
	/* no header at all: made too, and two made ids differ */
	call_with_id("GET", CLIENT_V1 "/health/live", NULL, NULL, NULL, NULL, &r);
	assert_true(made_id(answer_id(&r)));
	{
		struct harness_response r2;

		call_with_id("GET", CLIENT_V1 "/health/live", NULL, NULL, NULL, NULL, &r2);
		assert_true(made_id(answer_id(&r2)));
		assert_string_not_equal(answer_id(&r), answer_id(&r2));
		harness_response_free(&r2);
	}
	harness_response_free(&r);
}

static void
test_request_id_is_on_every_error_and_in_problem_instance(void **state)
{
	struct harness_response r;
	char big[4 * BODY_MAX + 1];

	call_with_id("GET", CLIENT_V1 "/no-such-thing", "e-404", NULL, NULL, NULL, &r);
	expect_problem_instance(&r, 404);
	assert_string_equal(answer_id(&r), "e-404");
	harness_response_free(&r);

	call_with_id("GET", CLIENT_V1 "/organizations", "e-401", NULL, NULL, NULL, &r);
	expect_problem_instance(&r, 401);
	assert_string_equal(answer_id(&r), "e-401");
	harness_response_free(&r);

	call_with_id("DELETE", CLIENT_V1 "/health/live", "e-405", NULL, NULL, NULL, &r);
	expect_problem_instance(&r, 405);
	harness_response_free(&r);

	/* a validation problem built on a backend thread */
	call_with_id("POST", CLIENT_V1 "/organizations", "e-400", admin, NULL, "{\"name\":\"\"}",
		     &r);
	expect_problem_instance(&r, 400);
	assert_string_equal(answer_id(&r), "e-400");
	harness_response_free(&r);

	/* refused by h2o before any handler ran (its own cap): the problem filter's path */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	call_with_id("POST", CLIENT_V1 "/health/live", "e-413", NULL, "Content-Type: text/plain",
		     big, &r);
	expect_problem_instance(&r, 413);
	assert_string_equal(answer_id(&r), "e-413");
	harness_response_free(&r);

	/* a 5xx: the deadline passes while the backend sleeps */
	call_with_id("GET", CLIENT_V1 "/debug/sleep?ms=3000", "e-504", NULL, NULL, NULL, &r);
	expect_problem_instance(&r, 504);
	assert_string_equal(answer_id(&r), "e-504");
	harness_response_free(&r);
}

/* --- logs --------------------------------------------------------------------------------- */

/*
 * Reads the JSON access log: every line must be one object with every field; *found is set when
 * the line of id (a GET of /health/live answered 200) is there, *hostile when the line of the
 * path that starts with /api/v1/<id> is (and carries a made id: it sent none).
 */
static void
scan_json_accesslog(const char *id, int *found, int *hostile)
{
	char *data = harness_read_file(server.accesslog, NULL), *line, *save, prefix[96];

	*found = *hostile = 0;
	snprintf(prefix, sizeof(prefix), CLIENT_V1 "/%s", id);
	if (data == NULL)
		return;
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		const char *rid, *path;

		if (o == NULL || !json_is_object(o))
			fail_msg("not one JSON object: %s (%s)", line, err.text);
		if (!json_is_string(json_object_get(o, "time")) ||
		    !json_is_string(json_object_get(o, "remoteAddr")) ||
		    !json_is_string(json_object_get(o, "method")) ||
		    !json_is_integer(json_object_get(o, "status")) ||
		    !json_is_integer(json_object_get(o, "bytes")) ||
		    !json_is_number(json_object_get(o, "durationMs")) ||
		    !json_is_integer(json_object_get(o, "worker")))
			fail_msg("a field is missing or of the wrong type: %s", line);
		rid = json_string_value(json_object_get(o, "requestId"));
		path = json_string_value(json_object_get(o, "path"));
		if (rid == NULL || path == NULL)
			fail_msg("no requestId or path: %s", line);
		if (strcmp(rid, id) == 0) {
			assert_string_equal(path, CLIENT_V1 "/health/live");
			assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
			*found = 1;
		}
		if (strncmp(path, prefix, strlen(prefix)) == 0) {
			if (!made_id(rid))
				fail_msg("the hostile path's line has id %s: %s", rid, line);
			*hostile = 1;
		}
		json_decref(o);
	}
	free(data);
}

static void
test_json_accesslog_lines_parse_and_carry_the_id(void **state)
{
	struct harness_response r;
	char id[64], hostile[160];
	uint64_t deadline = harness_now_ms() + 5000;
	int found, hostile_found;

	snprintf(id, sizeof(id), "log-%llu", (unsigned long long)harness_now_ms());
	call_with_id("GET", CLIENT_V1 "/health/live", id, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	/* client bytes that would break a JSON string or a line if written as they are */
	snprintf(hostile, sizeof(hostile), CLIENT_V1 "/%s%%22q%%09t%%0Ax%%C3%%A9", id);
	call_with_id("GET", hostile, NULL, NULL, NULL, NULL, &r);
	harness_response_free(&r);

	/* the lines are written by each worker's 200 ms flush */
	for (;;) {
		scan_json_accesslog(id, &found, &hostile_found);
		if (found && hostile_found)
			break;
		if (harness_now_ms() > deadline) {
			harness_print_tail(server.accesslog, 10);
			fail_msg("line of %s %d, line of the hostile path %d", id, found,
				 hostile_found);
		}
		harness_sleep_ms(50);
	}
}

/* Sets *query and *request when the server's stdout has the slow-query line of the
 * organizations collection and the slow-request line that carry want ("requestId":"<id>"). */
static void
scan_slow_lines(const char *want, int *query, int *request)
{
	char *data = harness_read_file(server.proc.out_path, NULL), *line, *save;

	*query = *request = 0;
	if (data == NULL)
		return;
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, want) == NULL)
			continue;
		*query |= strstr(line, "\"Slow query detected\"") != NULL &&
			  strstr(line, "\"collection\":\"organizations\"") != NULL;
		*request |= strstr(line, "\"Slow request\"") != NULL;
	}
	free(data);
}

static void
test_slow_query_and_slow_request_logs_name_the_request(void **state)
{
	struct harness_response r;
	char id[64], want[96];
	uint64_t deadline = harness_now_ms() + 5000;
	int query, request;

	snprintf(id, sizeof(id), "slow-%llu", (unsigned long long)harness_now_ms());
	call_with_id("POST", CLIENT_V1 "/organizations", id, admin, NULL,
		     "{\"name\":\"Request Id Dental\"}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(answer_id(&r), id);
	harness_response_free(&r);

	/* both on the server's stdout, one JSON object a line; the query's line comes first,
	 * the request's when it is logged after the answer */
	snprintf(want, sizeof(want), "\"requestId\":\"%s\"", id);
	for (;;) {
		scan_slow_lines(want, &query, &request);
		if (query && request)
			break;
		if (harness_now_ms() > deadline) {
			harness_print_tail(server.proc.out_path, 10);
			fail_msg("slow query line %d, slow request line %d for %s", query, request,
				 id);
		}
		harness_sleep_ms(50);
	}
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2,
				 .http_body_max = BODY_MAX,
				 .request_timeout = 1000,
				 .accesslog = 1,
				 .debug_routes = 1,
				 .extra = "accesslog_format json\n"
					  "mongodb {\n\tslow_query_threshold 0\n}\n"
					  "monitor {\n\tslow_threshold 0\n}\n"};

	if (client_suite_start(&deps, NULL, NULL, NULL, NULL) == -1)
		return -1;
	if (harness_server_start(&server, "contract", &c, &deps) == -1)
		return -1;
	client_use(&server, admin = harness_token("platform_admin", NULL, NULL));
	return 0;
}

static int
group_teardown(void **state)
{
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openapi_document_is_served_without_token_with_etag_and_304),
	    cmocka_unit_test(test_request_id_well_formed_is_echoed),
	    cmocka_unit_test(test_request_id_malformed_is_replaced),
	    cmocka_unit_test(test_request_id_is_on_every_error_and_in_problem_instance),
	    cmocka_unit_test(test_json_accesslog_lines_parse_and_carry_the_id),
	    cmocka_unit_test(test_slow_query_and_slow_request_logs_name_the_request),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
