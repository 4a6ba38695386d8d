/*
 * test_strict_json.c: every route that takes a body takes exactly one RFC 8259 JSON object
 * (issue 7, part 3).
 *
 * NaN and Infinity in any case, a second value or any data after the first, a byte-order mark,
 * comments, single quotes, trailing commas, raw control bytes, invalid UTF-8, lone surrogate
 * escapes, leading zeros and '+', numbers past int64 or double, and nesting past the limit are
 * each a 400 problem whose detail names the problem (never a parser's internal words), on
 * every POST and PATCH route, and nothing is written. A body with a Content-Encoding is a 415
 * that says which coding is read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1

static struct harness_deps deps;
static struct harness_server server;
static char *admin;
static char org[25], clinic[25], asg[25];

/* One route that reads a body, with a body it accepts (the bad part is put in its place). */
struct route_case {
	const char *method;
	char *path;
	const char *field; /* a string field of the route: "name" or, for assignments, "roles" */
};
static struct route_case routes[6];

/* One kind of bad input: a body template with %s for a field name, and what the detail says. */
struct bad_case {
	const char *body;
	const char *detail;
};

static const struct bad_case bad_cases[] = {
    {"{\"%s\":NaN}", "NaN and Infinity are not JSON numbers"},
    {"{\"%s\":nan}", "NaN and Infinity are not JSON numbers"},
    {"{\"%s\":Infinity}", "NaN and Infinity are not JSON numbers"},
    {"{\"%s\":-Infinity}", "NaN and Infinity are not JSON numbers"},
    {"{\"%s\":-inf}", "NaN and Infinity are not JSON numbers"},
    {"{\"%s\":\"Strict Co\"}{\"status\":\"SUSPENDED\"}", "data follows the JSON object"},
    {"{\"%s\":\"Strict Co\"} []", "data follows the JSON object"},
    {"{\"%s\":\"Strict Co\"}}", "data follows the JSON object"},
    {"{\"%s\":\"Strict Co\"} // note", "data follows the JSON object"},
    {"\xEF\xBB\xBF{\"%s\":\"Strict Co\"}", "byte-order mark"},
    {"{\"%s\":\"Strict Co\" /* note */}", "malformed JSON at line 1"},
    {"{'%s':'Strict Co'}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict Co\",}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict\tCo\"}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict\nCo\"}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict \xff Co\"}", "not valid UTF-8"},
    {"{\"%s\":\"Strict \xc0\xaf Co\"}", "not valid UTF-8"},
    {"{\"%s\":\"Strict \\ud800 Co\"}", "invalid Unicode"},
    {"{\"%s\":\"Strict Co\",\"x\":01}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict Co\",\"x\":+1}", "malformed JSON at line 1"},
    {"{\"%s\":\"Strict Co\",\"x\":99999999999999999999}", "99999999999999999999"},
    {"{\"%s\":\"Strict Co\",\"x\":-9223372036854775809}", "-9223372036854775809"},
    {"{\"%s\":\"Strict Co\",\"x\":1e999}", "1e999"},
};

static const char *const internals[] = {"LEVELS_EXCEEDED", "CANT_INSERT", "bson_",
					"JSON_",	   "libbson",	  NULL};

/* The detail of a problem answer (caller frees), failing the test if there is none. */
static char *
detail_of(const struct harness_response *r)
{
	bson_t *doc = harness_json(r);
	bson_iter_t it;
	char *out;

	if (doc == NULL || !bson_iter_init_find(&it, doc, "detail") || !BSON_ITER_HOLDS_UTF8(&it))
		fail_msg("no detail in %s", r->body);
	out = strdup(bson_iter_utf8(&it, NULL));
	bson_destroy(doc);
	return out;
}

/* method path with body (len bytes) as the admin: a 400 whose detail holds want. */
static void
expect_400_naming(const char *method, const char *path, const char *body, size_t len,
		  const char *want)
{
	struct harness_response r;
	char url[512], *detail;
	int i;

	snprintf(url, sizeof(url), "%s%s", server.url, path);
	harness_request_token(method, url, admin, NULL, body, len, &r);
	client_expect_problem(&r, 400);
	detail = detail_of(&r);
	if (strstr(detail, want) == NULL)
		fail_msg("%s %s %.*s: detail '%s' does not say '%s'", method, path, (int)len, body,
			 detail, want);
	for (i = 0; internals[i] != NULL; i++)
		if (strstr(detail, internals[i]) != NULL)
			fail_msg("%s %s: parser internals in '%s'", method, path, detail);
	free(detail);
	harness_response_free(&r);
}

/* The number of organizations named "Strict Co", read from FerretDB itself (no cache). */
static int64_t
strict_orgs(void)
{
	mongoc_client_t *client = harness_mongo_client(&deps);
	mongoc_collection_t *coll;
	bson_t *filter = BCON_NEW("name", BCON_UTF8("Strict Co"));
	bson_error_t error;
	int64_t n;

	assert_non_null(client);
	coll = mongoc_client_get_collection(client, HARNESS_DB, "organizations");
	n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &error);
	if (n < 0)
		fail_msg("count: %s", error.message);
	bson_destroy(filter);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	return n;
}

/* The `name` of a record (caller frees). */
static char *
name_of(const char *path)
{
	bson_t *doc = client_get_json(path, admin);
	bson_iter_t it;
	char *out;

	if (!bson_iter_init_find(&it, doc, "name") || !BSON_ITER_HOLDS_UTF8(&it))
		fail_msg("%s has no name", path);
	out = strdup(bson_iter_utf8(&it, NULL));
	bson_destroy(doc);
	return out;
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_every_non_rfc_8259_kind_is_400_on_every_body_route(void **state)
{
	size_t i, k;

	(void)state;
	for (k = 0; k < sizeof(routes) / sizeof(routes[0]); k++) {
		for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
			char *body = client_strf(bad_cases[i].body, routes[k].field);

			expect_400_naming(routes[k].method, routes[k].path, body, strlen(body),
					  bad_cases[i].detail);
			free(body);
		}
	}
}

static void
test_a_second_object_creates_and_changes_nothing(void **state)
{
	char *path = client_strf(V1 "/organizations/%s", org), *before, *after;
	static const char post[] = "{\"name\":\"Strict Co\"}{\"status\":\"SUSPENDED\"}";
	static const char patch[] = "{\"name\":\"Strict Renamed\"}{\"status\":\"SUSPENDED\"}";

	(void)state;
	expect_400_naming("POST", V1 "/organizations", post, sizeof(post) - 1,
			  "data follows the JSON object");
	assert_int_equal(strict_orgs(), 0);
	before = name_of(path);
	expect_400_naming("PATCH", path, patch, sizeof(patch) - 1, "data follows the JSON object");
	after = name_of(path);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(path);
}

static void
test_nul_byte_and_control_bytes_are_400(void **state)
{
	static const char nul_after[] = "{\"name\":\"Strict Co\"}\0{\"status\":\"SUSPENDED\"}";
	static const char nul_inside[] = "{\"name\":\"Strict\0Co\"}";
	char body[64];
	unsigned c;

	(void)state;
	expect_400_naming("POST", V1 "/organizations", nul_after, sizeof(nul_after) - 1,
			  "data follows the JSON object");
	expect_400_naming("POST", V1 "/organizations", nul_inside, sizeof(nul_inside) - 1,
			  "malformed JSON");
	for (c = 0x01; c < 0x20; c++) {
		int n = snprintf(body, sizeof(body), "{\"name\":\"Strict%cCo\"}", (char)c);

		expect_400_naming("POST", V1 "/organizations", body, (size_t)n, "malformed JSON");
	}
	assert_int_equal(strict_orgs(), 0);
}

static void
test_deep_nesting_is_400_without_parser_words(void **state)
{
	char body[8192];
	size_t n = 0;
	int depth, i;

	(void)state;
	/* just past the limit, and far past libbson's own (where it said LEVELS_EXCEEDED) */
	for (depth = 33; depth <= 3000; depth = depth * 10) {
		n = (size_t)snprintf(body, sizeof(body), "{\"name\":\"Strict Co\",\"settings\":");
		for (i = 0; i < depth - 1; i++)
			body[n++] = '[';
		for (i = 0; i < depth - 1; i++)
			body[n++] = ']';
		body[n++] = '}';
		expect_400_naming("POST", V1 "/organizations", body, n, "deeper than 32 levels");
	}
	assert_int_equal(strict_orgs(), 0);
}

static void
test_strict_json_is_still_accepted(void **state)
{
	static const char body[] = "\r\n {\"name\" : \"Strict \\u00e9 \xc3\xa9 \\ud83d\\ude00\"}\n";
	char url[256], id[25];
	struct harness_response r;
	bson_t *doc;

	(void)state;
	snprintf(url, sizeof(url), "%s" V1 "/organizations", server.url);
	harness_request_token("POST", url, admin, NULL, body, sizeof(body) - 1, &r);
	doc = client_expect_json(&r, 201);
	client_want_str(doc, "name", "Strict \xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80");
	bson_destroy(doc);
	harness_response_free(&r);
	(void)id;
}

/* A free-form object is stored as sent: a key given twice in it, at any depth, is 400 by its
 * path (it reached MongoDB and came back as a 500), and the record is unchanged. */
static void
test_a_repeated_key_inside_a_free_form_object_is_400(void **state)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
	    {"{\"settings\":{\"k\":1,\"k\":2}}", "settings.k"},
	    {"{\"settings\":{\"x\":{\"k\":1,\"k\":2}}}", "settings.x.k"},
	    {"{\"settings\":{\"a\":[{\"k\":1,\"k\":1}]}}", "settings.a.0.k"},
	};
	char *path = client_strf(V1 "/organizations/%s", org);
	struct harness_response r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		client_expect_rejected("PATCH", path, admin, cases[i].body, 400, cases[i].field);
	client_call("PATCH", path, admin, "{\"settings\":{\"k\":1,\"j\":{\"k\":2}}}", &r);
	assert_int_equal(r.status, 200); /* the same key in two objects is fine */
	harness_response_free(&r);
	free(path);
}

static void
test_content_encoding_is_415(void **state)
{
	static const char *const codings[] = {"gzip", "deflate", "br", "identity", "x-gzip", NULL};
	static const char body[] = "{\"name\":\"Strict Co\"}";
	char url[256], header[64];
	struct harness_response r;
	int i;

	(void)state;
	snprintf(url, sizeof(url), "%s" V1 "/organizations", server.url);
	for (i = 0; codings[i] != NULL; i++) {
		const char *headers[] = {header, NULL};
		const char *ae;

		snprintf(header, sizeof(header), "Content-Encoding: %s", codings[i]);
		harness_request_token("POST", url, admin, headers, body, sizeof(body) - 1, &r);
		client_expect_problem(&r, 415);
		ae = harness_header(&r, "accept-encoding");
		if (ae == NULL || strcmp(ae, "identity") != 0)
			fail_msg("%s: Accept-Encoding %s", codings[i], ae ? ae : "(none)");
		harness_response_free(&r);
	}
	assert_int_equal(strict_orgs(), 0);
}

/* --- setup -------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1};
	char *body;

	(void)state;
	if (client_suite_start(&deps, &admin, &server, "strict_json", &c) == -1)
		return -1;
	client_new_org("Strict Fixture", org);
	client_new_clinic_named(org, "Strict Fixture Clinic", "STRICT-1", clinic);
	body = client_strf(
	    "{\"providerId\":\"strict-prov\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", clinic);
	bson_destroy(client_create(V1 "/assignments", admin, body, asg));
	free(body);
	routes[0] = (struct route_case){"POST", client_strf(V1 "/organizations"), "name"};
	routes[1] = (struct route_case){"PATCH", client_strf(V1 "/organizations/%s", org), "name"};
	routes[2] =
	    (struct route_case){"POST", client_strf(V1 "/organizations/%s/clinics", org), "name"};
	routes[3] = (struct route_case){"PATCH", client_strf(V1 "/clinics/%s", clinic), "name"};
	routes[4] = (struct route_case){"POST", client_strf(V1 "/assignments"), "providerId"};
	routes[5] = (struct route_case){"PATCH", client_strf(V1 "/assignments/%s", asg), "roles"};
	return 0;
}

static int
group_teardown(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(routes) / sizeof(routes[0]); k++)
		free(routes[k].path);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_non_rfc_8259_kind_is_400_on_every_body_route),
	    cmocka_unit_test(test_a_second_object_creates_and_changes_nothing),
	    cmocka_unit_test(test_nul_byte_and_control_bytes_are_400),
	    cmocka_unit_test(test_deep_nesting_is_400_without_parser_words),
	    cmocka_unit_test(test_content_encoding_is_415),
	    cmocka_unit_test(test_a_repeated_key_inside_a_free_form_object_is_400),
	    cmocka_unit_test(test_strict_json_is_still_accepted),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
