/*
 * test_auth.c: who may call at all. Every route but the health routes needs
 * `Authorization: Bearer <JWT>` signed with the configured secret; anything else is a 401
 * with `WWW-Authenticate: Bearer` and a problem+json body, before any handler work.
 *
 * One server (HS256 with HARNESS_JWT_SECRET) on one FerretDB and one Redis.
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

#define ORGS "/api/v1/organizations"
#define SOME_ORG "0123456789abcdef01234567"

static struct harness_deps deps;
static struct harness_server server;

static void
url_of(char *out, size_t len, const char *path)
{
	snprintf(out, len, "%s%s", server.url, path);
}

/* GET path with a raw Authorization header value (NULL: none). */
static void
get_with_authorization(const char *path, const char *authorization, struct harness_response *r)
{
	char url[256], *header = NULL;
	const char *headers[2] = {NULL, NULL};

	url_of(url, sizeof(url), path);
	if (authorization != NULL) {
		if (asprintf(&header, "Authorization: %s", authorization) == -1)
			abort();
		headers[0] = header;
	}
	if (harness_request("GET", url, headers, NULL, 0, NULL, r) == -1)
		fail_msg("GET %s: %s", url, r->error);
	free(header);
}

/* 401, problem+json, and a Bearer challenge. */
static void
assert_unauthorized(const struct harness_response *r)
{
	const char *challenge = harness_header(r, "www-authenticate");
	char why[256];

	if (r->status != 401)
		fail_msg("status %ld, want 401; body %s", r->status, r->body);
	if (challenge == NULL || strncmp(challenge, "Bearer", 6) != 0 ||
	    (challenge[6] != '\0' && challenge[6] != ' '))
		fail_msg("WWW-Authenticate is %s, want a Bearer challenge",
			 challenge ? challenge : "(none)");
	if (harness_problem_check(r, why, sizeof(why)) == -1)
		fail_msg("401: %s", why);
}

static void
assert_token_refused(char *token)
{
	struct harness_response r;
	char *value;

	assert_non_null(token);
	if (asprintf(&value, "Bearer %s", token) == -1)
		abort();
	get_with_authorization(ORGS, value, &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
	free(value);
	free(token);
}

static void
test_no_authorization_header_is_401_with_bearer_challenge(void **state)
{
	struct harness_response r;

	get_with_authorization(ORGS, NULL, &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
}

static void
test_basic_scheme_is_401(void **state)
{
	struct harness_response r;

	get_with_authorization(ORGS, "Basic dXNlcjpwYXNzd29yZA==", &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
}

static void
test_scheme_without_token_is_401(void **state)
{
	struct harness_response r;

	get_with_authorization(ORGS, "Bearer", &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
}

static void
test_garbage_token_is_401(void **state)
{
	struct harness_response r;

	get_with_authorization(ORGS, "Bearer this.is.garbage", &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
	get_with_authorization(ORGS, "Bearer %%%%", &r);
	assert_unauthorized(&r);
	harness_response_free(&r);
}

static void
test_token_signed_with_another_secret_is_401(void **state)
{
	assert_token_refused(
	    harness_token_with("not-the-server-secret", "platform_admin", NULL, "u1", 3600));
}

static void
test_token_with_a_flipped_signature_is_401(void **state)
{
	char *token = harness_token("platform_admin", NULL, "u1");
	size_t len;

	assert_non_null(token);
	len = strlen(token);
	/* the middle of the signature: every bit of it is significant */
	token[len - 10] = token[len - 10] == 'A' ? 'B' : 'A';
	assert_token_refused(token);
}

static void
test_expired_token_is_401(void **state)
{
	assert_token_refused(
	    harness_token_with(HARNESS_JWT_SECRET, "platform_admin", NULL, "u1", -120));
}

static void
test_unknown_role_is_401(void **state)
{
	assert_token_refused(harness_token("superuser", SOME_ORG, "u1"));
}

static void
test_org_admin_without_org_claim_is_401(void **state)
{
	assert_token_refused(harness_token("org_admin", NULL, "u1"));
}

static void
test_org_claim_that_is_not_an_id_is_401(void **state)
{
	assert_token_refused(harness_token("org_admin", "not-an-id", "u1"));
}

static void
test_rejected_token_challenge_says_invalid_token(void **state)
{
	struct harness_response r;
	const char *challenge;

	get_with_authorization(ORGS, "Bearer this.is.garbage", &r);
	assert_unauthorized(&r);
	challenge = harness_header(&r, "www-authenticate");
	/* RFC 6750 3.1: a presented but unusable token is invalid_token */
	if (strstr(challenge, "error=\"invalid_token\"") == NULL)
		fail_msg("WWW-Authenticate %s has no error=\"invalid_token\"", challenge);
	harness_response_free(&r);
}

static void
test_create_without_token_is_401_and_creates_nothing(void **state)
{
	static const char body[] = "{\"name\":\"Unauthorized Dental\"}";
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct harness_response r;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;
	int64_t n;
	char url[256];

	url_of(url, sizeof(url), ORGS);
	if (harness_request("POST", url, headers, body, sizeof(body) - 1, NULL, &r) == -1)
		fail_msg("POST %s: %s", url, r.error);
	assert_unauthorized(&r);
	harness_response_free(&r);

	assert_non_null(client = harness_mongo_client(&deps));
	coll = mongoc_client_get_collection(client, HARNESS_DB, "organizations");
	BSON_APPEND_UTF8(&filter, "name", "Unauthorized Dental");
	n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &error);
	if (n != 0)
		fail_msg("count: %lld (%s)", (long long)n, n < 0 ? error.message : "created");
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
}

static void
test_health_routes_need_no_token(void **state)
{
	static const char *const paths[] = {"/api/v1/health/live", "/api/v1/health/ready", NULL};
	struct harness_response r;
	int i;

	for (i = 0; paths[i] != NULL; i++) {
		get_with_authorization(paths[i], NULL, &r);
		if (r.status != 200)
			fail_msg("GET %s without a token: %ld %s", paths[i], r.status, r.body);
		harness_response_free(&r);
	}
}

static void
test_health_routes_ignore_a_bad_token(void **state)
{
	struct harness_response r;

	get_with_authorization("/api/v1/health/live", "Bearer this.is.garbage", &r);
	if (r.status != 200)
		fail_msg("GET /api/v1/health/live with a bad token: %ld %s", r.status, r.body);
	harness_response_free(&r);
}

static void
test_valid_token_of_each_role_is_accepted(void **state)
{
	static const char *const roles[][2] = {{"platform_admin", NULL},
					       {"org_admin", SOME_ORG},
					       {"clinic_manager", SOME_ORG},
					       {"provider", SOME_ORG}};
	struct harness_response r;
	char url[256];
	size_t i;

	url_of(url, sizeof(url), ORGS);
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		char *token = harness_token(roles[i][0], roles[i][1], "user-1");
		bson_t *doc;

		assert_non_null(token);
		if (harness_get_token(url, token, &r) == -1)
			fail_msg("GET %s: %s", url, r.error);
		if (r.status != 200)
			fail_msg("%s: GET %s: %ld %s", roles[i][0], url, r.status, r.body);
		doc = harness_json(&r);
		if (doc == NULL || harness_json_type(doc, "data") != BSON_TYPE_ARRAY)
			fail_msg("%s: not a list: %s", roles[i][0], r.body);
		bson_destroy(doc);
		harness_response_free(&r);
		free(token);
	}
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	return client_suite_start(&deps, NULL, &server, "auth", &c);
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
	    cmocka_unit_test(test_no_authorization_header_is_401_with_bearer_challenge),
	    cmocka_unit_test(test_basic_scheme_is_401),
	    cmocka_unit_test(test_scheme_without_token_is_401),
	    cmocka_unit_test(test_garbage_token_is_401),
	    cmocka_unit_test(test_token_signed_with_another_secret_is_401),
	    cmocka_unit_test(test_token_with_a_flipped_signature_is_401),
	    cmocka_unit_test(test_expired_token_is_401),
	    cmocka_unit_test(test_unknown_role_is_401),
	    cmocka_unit_test(test_org_admin_without_org_claim_is_401),
	    cmocka_unit_test(test_org_claim_that_is_not_an_id_is_401),
	    cmocka_unit_test(test_rejected_token_challenge_says_invalid_token),
	    cmocka_unit_test(test_create_without_token_is_401_and_creates_nothing),
	    cmocka_unit_test(test_health_routes_need_no_token),
	    cmocka_unit_test(test_health_routes_ignore_a_bad_token),
	    cmocka_unit_test(test_valid_token_of_each_role_is_accepted),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
