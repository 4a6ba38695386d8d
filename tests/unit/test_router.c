/*
 * test_router.c: the route tables and their matcher (src/router.c), against the real tables
 * router_api and router_monitor, so a route added or reordered is checked as it ships.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http.h"
#include "router.h"
#include "shm.h"

#define TEST_ID "65540f00aabbccddeeff0011"
#define TEST_ORG "65540f00aabbccddeeff0022"

/* One router_match call and everything it hands back. */
struct test_match {
	enum router_result rr;
	const struct route *route;
	struct http_param params[HTTP_MAX_PARAMS];
	int nparams;
	char allow[128];
};

static enum router_result
test_match_debug(const struct router_table *t, enum http_method m, const char *path, int debug,
		 struct test_match *out)
{
	memset(out, 0, sizeof(*out));
	out->nparams = -1;
	memset(out->allow, 'x', sizeof(out->allow)); /* proves allow is always terminated */
	out->rr = router_match(t, m, path, debug, &out->route, out->params, &out->nparams,
			       out->allow, sizeof(out->allow));
	return out->rr;
}

static enum router_result
test_match(enum http_method m, const char *path, struct test_match *out)
{
	return test_match_debug(&router_api, m, path, 0, out);
}

/* The value captured under name, or NULL. */
static const char *
test_param(const struct test_match *tm, const char *name)
{
	int i;

	for (i = 0; i < tm->nparams; i++)
		if (strcmp(tm->params[i].name, name) == 0)
			return tm->params[i].value;
	return NULL;
}

/* The route of the table with this method bit and pattern (the test's expectation). */
static const struct route *
test_route(const struct router_table *t, enum http_method m, const char *pattern)
{
	size_t i;

	for (i = 0; i < t->nroutes; i++)
		if ((t->routes[i].methods & m) && strcmp(t->routes[i].pattern, pattern) == 0)
			return &t->routes[i];
	return NULL;
}

/* The pattern with every {name} replaced by a sample id. */
static void
test_sample_path(const char *pattern, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p;

	for (p = pattern; *p != '\0' && o + 1 < outlen;) {
		if (*p == '{') {
			o += (size_t)snprintf(out + o, outlen - o, "%s", TEST_ID);
			p = strchr(p, '}') + 1;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

/* Each {name} of the pattern was captured, in order, under that very name. */
static void
test_params_are_named_as_in_the_pattern(const char *pattern, const struct test_match *tm)
{
	const char *p = pattern;
	int n = 0;

	while ((p = strchr(p, '{')) != NULL) {
		const char *close = strchr(p, '}');

		assert_non_null(close);
		assert_true(n < tm->nparams);
		if (strlen(tm->params[n].name) != (size_t)(close - p - 1) ||
		    memcmp(tm->params[n].name, p + 1, (size_t)(close - p - 1)) != 0)
			fail_msg("%s: parameter %d captured as \"%s\"", pattern, n,
				 tm->params[n].name);
		assert_string_equal(tm->params[n].value, TEST_ID);
		n++;
		p = close + 1;
	}
	assert_int_equal(tm->nparams, n);
}

static void
test_every_route_matches_its_own_path_and_method(const struct router_table *t)
{
	static const enum http_method all[] = {HTTP_GET,   HTTP_HEAD,	HTTP_POST,   HTTP_PUT,
					       HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
	size_t i, k;

	assert_true(t->nroutes > 0);
	for (i = 0; i < t->nroutes; i++) {
		const struct route *rt = &t->routes[i];
		char path[256];

		assert_non_null(rt->handler);
		test_sample_path(rt->pattern, path, sizeof(path));
		for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
			struct test_match tm;

			if (!(rt->methods & all[k]))
				continue;
			if (test_match_debug(t, all[k], path, 1, &tm) != ROUTER_FOUND ||
			    tm.route != rt)
				fail_msg("%s %s: route %zu not found (result %d)",
					 http_method_name(all[k]), path, i, (int)tm.rr);
			test_params_are_named_as_in_the_pattern(rt->pattern, &tm);
		}
	}
}

static void
test_every_api_route_matches_its_own_path_and_method(void **state)
{
	test_every_route_matches_its_own_path_and_method(&router_api);
}

static void
test_every_monitor_route_matches_its_own_path_and_method(void **state)
{
	test_every_route_matches_its_own_path_and_method(&router_monitor);
}

static void
test_every_get_route_serves_head_with_the_same_route(void **state)
{
	size_t i;

	for (i = 0; i < router_api.nroutes; i++) {
		const struct route *rt = &router_api.routes[i];
		struct test_match tm;
		char path[256];

		if (!(rt->methods & HTTP_GET))
			continue;
		test_sample_path(rt->pattern, path, sizeof(path));
		assert_int_equal(test_match_debug(&router_api, HTTP_HEAD, path, 1, &tm),
				 ROUTER_FOUND);
		assert_ptr_equal(tm.route, rt);
	}
}

static void
test_monitor_metrics_is_get_only(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match_debug(&router_monitor, HTTP_GET, "/metrics", 0, &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_monitor, HTTP_GET, "/metrics"));
	assert_int_equal(test_match_debug(&router_monitor, HTTP_POST, "/metrics", 0, &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD");
	assert_int_equal(test_match_debug(&router_monitor, HTTP_GET, "/api/v1/health/live", 0, &tm),
			 ROUTER_NOT_FOUND);
}

static void
test_id_is_captured_under_id(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/" TEST_ID, &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/organizations/{id}"));
	assert_int_equal(tm.nparams, 1);
	assert_string_equal(tm.params[0].name, "id");
	assert_string_equal(tm.params[0].value, TEST_ID);
}

static void
test_id_before_a_literal_tail_is_captured(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/" TEST_ID "/stats", &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route,
			 test_route(&router_api, HTTP_GET, "/api/v1/organizations/{id}/stats"));
	assert_int_equal(tm.nparams, 1);
	assert_string_equal(test_param(&tm, "id"), TEST_ID);
}

static void
test_org_id_is_captured_under_orgId(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_POST, "/api/v1/organizations/" TEST_ORG "/clinics", &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(
	    tm.route, test_route(&router_api, HTTP_POST, "/api/v1/organizations/{orgId}/clinics"));
	assert_int_equal(tm.nparams, 1);
	assert_string_equal(test_param(&tm, "orgId"), TEST_ORG);
	assert_null(test_param(&tm, "id"));
}

static void
test_provider_id_is_captured_under_providerId(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/providers/prov-1/clinics", &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(
	    tm.route, test_route(&router_api, HTTP_GET, "/api/v1/providers/{providerId}/clinics"));
	assert_int_equal(tm.nparams, 1);
	assert_string_equal(test_param(&tm, "providerId"), "prov-1");
}

static void
test_clinic_id_is_captured_under_clinicId(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/clinics/" TEST_ID "/providers", &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route,
			 test_route(&router_api, HTTP_GET, "/api/v1/clinics/{clinicId}/providers"));
	assert_int_equal(tm.nparams, 1);
	assert_string_equal(test_param(&tm, "clinicId"), TEST_ID);
}

static void
test_route_without_parameters_captures_none(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/clinics", &tm), ROUTER_FOUND);
	assert_int_equal(tm.nparams, 0);
}

static void
test_literal_search_beats_the_id_parameter(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/search", &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route,
			 test_route(&router_api, HTTP_GET, "/api/v1/organizations/search"));
	assert_int_equal(tm.route->cls, SHM_CLASS_SEARCH);
	assert_int_equal(tm.nparams, 0);

	assert_int_equal(test_match(HTTP_GET, "/api/v1/clinics/search", &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/clinics/search"));
	assert_int_equal(tm.nparams, 0);
}

static void
test_unknown_path_is_not_found(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/nothing", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/api/v1", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizationsX", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/a/b", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/API/v1/health/live", &tm), ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_POST, "/api/v1/nothing", &tm), ROUTER_NOT_FOUND);
}

static void
test_wrong_method_on_health_allows_get_and_head(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_POST, "/api/v1/health/live", &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD");
}

static void
test_wrong_method_on_an_organization_lists_its_methods_in_order(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_POST, "/api/v1/organizations/" TEST_ID, &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD, PATCH, DELETE");
	assert_int_equal(test_match(HTTP_PUT, "/api/v1/organizations/" TEST_ID, &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD, PATCH, DELETE");
}

static void
test_wrong_method_on_a_collection_lists_get_head_post(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_DELETE, "/api/v1/organizations", &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD, POST");
	assert_int_equal(test_match(HTTP_PATCH, "/api/v1/assignments", &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD, POST");
	assert_int_equal(
	    test_match(HTTP_OPTIONS, "/api/v1/organizations/" TEST_ORG "/clinics", &tm),
	    ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD, POST");
}

static void
test_allow_is_the_same_on_every_call(void **state)
{
	struct test_match tm;
	char first[128];
	int i;

	assert_int_equal(test_match(HTTP_POST, "/api/v1/clinics/" TEST_ID, &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	snprintf(first, sizeof(first), "%s", tm.allow);
	assert_string_equal(first, "GET, HEAD, PATCH, DELETE");
	for (i = 0; i < 3; i++) {
		assert_int_equal(test_match(HTTP_OTHER, "/api/v1/clinics/" TEST_ID, &tm),
				 ROUTER_METHOD_NOT_ALLOWED);
		assert_string_equal(tm.allow, first);
	}
}

static void
test_short_allow_buffer_is_truncated_not_overrun(void **state)
{
	const struct route *rt = NULL;
	struct http_param params[HTTP_MAX_PARAMS];
	int nparams = 0;
	char allow[9];

	memset(allow, 'x', sizeof(allow));
	assert_int_equal(router_match(&router_api, HTTP_POST, "/api/v1/organizations/" TEST_ID, 0,
				      &rt, params, &nparams, allow, 8),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_int_equal(allow[8], 'x');
	assert_true(strlen(allow) < 8);
	assert_memory_equal(allow, "GET, HE", strlen(allow));
}

static void
test_head_is_served_where_get_is(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_HEAD, "/api/v1/health/live", &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/health/live"));
	assert_int_equal(test_match(HTTP_HEAD, "/api/v1/organizations/" TEST_ID, &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/organizations/{id}"));
	assert_string_equal(test_param(&tm, "id"), TEST_ID);
}

static void
test_trailing_slash_is_tolerated(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/health/live/", &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/health/live"));
	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/", &tm), ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/organizations"));
	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations/" TEST_ID "/", &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/organizations/{id}"));
	/* the slash is not part of the captured value */
	assert_string_equal(test_param(&tm, "id"), TEST_ID);
}

static void
test_two_trailing_slashes_are_not_tolerated(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/health/live//", &tm), ROUTER_NOT_FOUND);
}

static void
test_empty_segment_does_not_match_a_parameter(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match(HTTP_GET, "/api/v1/organizations//stats", &tm),
			 ROUTER_NOT_FOUND);
	assert_int_equal(test_match(HTTP_GET, "/api/v1/providers//clinics", &tm), ROUTER_NOT_FOUND);
}

static void
test_parameter_longer_than_the_buffer_does_not_match(void **state)
{
	struct test_match tm;
	char path[512];
	size_t max = sizeof(tm.params[0].value) - 1, pre;

	/* the longest value that fits matches, whole */
	pre = (size_t)snprintf(path, sizeof(path), "/api/v1/organizations/");
	memset(path + pre, 'a', max);
	path[pre + max] = '\0';
	assert_int_equal(test_match(HTTP_GET, path, &tm), ROUTER_FOUND);
	assert_int_equal(strlen(test_param(&tm, "id")), max);

	/* one byte more does not match, neither is it cut */
	memset(path + pre, 'a', max + 1);
	path[pre + max + 1] = '\0';
	assert_int_equal(test_match(HTTP_GET, path, &tm), ROUTER_NOT_FOUND);
	snprintf(path + pre + max + 1, sizeof(path) - pre - max - 1, "/stats");
	assert_int_equal(test_match(HTTP_GET, path, &tm), ROUTER_NOT_FOUND);
}

static void
test_debug_route_is_invisible_without_debug(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match_debug(&router_api, HTTP_GET, "/api/v1/debug/sleep", 0, &tm),
			 ROUTER_NOT_FOUND);
	/* not even a 405 gives it away */
	assert_int_equal(test_match_debug(&router_api, HTTP_POST, "/api/v1/debug/sleep", 0, &tm),
			 ROUTER_NOT_FOUND);
}

static void
test_debug_route_is_served_with_debug(void **state)
{
	struct test_match tm;

	assert_int_equal(test_match_debug(&router_api, HTTP_GET, "/api/v1/debug/sleep", 1, &tm),
			 ROUTER_FOUND);
	assert_ptr_equal(tm.route, test_route(&router_api, HTTP_GET, "/api/v1/debug/sleep"));
	assert_true(tm.route->debug_only);
	assert_int_equal(test_match_debug(&router_api, HTTP_POST, "/api/v1/debug/sleep", 1, &tm),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(tm.allow, "GET, HEAD");
}

static void
test_only_debug_routes_are_debug_only(void **state)
{
	size_t i;

	for (i = 0; i < router_api.nroutes; i++)
		assert_int_equal(router_api.routes[i].debug_only,
				 strncmp(router_api.routes[i].pattern, "/api/v1/debug/", 14) == 0);
}

static void
test_class_of_a_request_is_its_routes_class(void **state)
{
	const struct router_table *t = &router_api;

	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/health/live"), SHM_CLASS_HEALTH);
	assert_int_equal(router_class_of(t, HTTP_HEAD, "/api/v1/health/ready/"), SHM_CLASS_HEALTH);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/organizations/" TEST_ID),
			 SHM_CLASS_ORGANIZATION);
	assert_int_equal(router_class_of(t, HTTP_PATCH, "/api/v1/organizations/" TEST_ID),
			 SHM_CLASS_ORGANIZATION);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/organizations/search"),
			 SHM_CLASS_SEARCH);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/organizations/" TEST_ID "/stats"),
			 SHM_CLASS_REPORT);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/clinics/" TEST_ID), SHM_CLASS_CLINIC);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/clinics/search"), SHM_CLASS_SEARCH);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/assignments/" TEST_ID),
			 SHM_CLASS_ASSIGNMENT);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/providers/p/clinics"),
			 SHM_CLASS_ASSIGNMENT);
	assert_int_equal(router_class_of(t, HTTP_GET, "/api/v1/performance/metrics/summary"),
			 SHM_CLASS_PERFORMANCE);
	assert_int_equal(router_class_of(&router_monitor, HTTP_GET, "/metrics"),
			 SHM_CLASS_PERFORMANCE);
}

static void
test_class_of_a_collection_depends_on_the_method(void **state)
{
	/* POST and GET share the path and differ in class: a list is a list */
	assert_int_equal(router_class_of(&router_api, HTTP_GET, "/api/v1/organizations"),
			 SHM_CLASS_LIST);
	assert_int_equal(router_class_of(&router_api, HTTP_POST, "/api/v1/organizations"),
			 SHM_CLASS_ORGANIZATION);
	assert_int_equal(router_class_of(&router_api, HTTP_GET, "/api/v1/assignments"),
			 SHM_CLASS_LIST);
	assert_int_equal(router_class_of(&router_api, HTTP_POST, "/api/v1/assignments"),
			 SHM_CLASS_ASSIGNMENT);
	assert_int_equal(router_class_of(&router_api, HTTP_GET, "/api/v1/clinics"), SHM_CLASS_LIST);
}

static void
test_class_of_an_unserved_request_is_other(void **state)
{
	assert_int_equal(router_class_of(&router_api, HTTP_GET, "/api/v1/nothing"), SHM_CLASS_OTHER);
	assert_int_equal(router_class_of(&router_api, HTTP_GET, "/api/v1/organizations//stats"),
			 SHM_CLASS_OTHER);
	assert_int_equal(router_class_of(&router_api, HTTP_GET, ""), SHM_CLASS_OTHER);
	assert_int_equal(router_class_of(&router_monitor, HTTP_GET, "/api/v1/health/live"),
			 SHM_CLASS_OTHER);
	/* a 405 is not work of the route's class */
	assert_int_equal(router_class_of(&router_api, HTTP_POST, "/api/v1/health/live"),
			 SHM_CLASS_OTHER);
	assert_int_equal(router_class_of(&router_api, HTTP_DELETE, "/api/v1/organizations"),
			 SHM_CLASS_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_api_route_matches_its_own_path_and_method),
	    cmocka_unit_test(test_every_monitor_route_matches_its_own_path_and_method),
	    cmocka_unit_test(test_every_get_route_serves_head_with_the_same_route),
	    cmocka_unit_test(test_monitor_metrics_is_get_only),
	    cmocka_unit_test(test_id_is_captured_under_id),
	    cmocka_unit_test(test_id_before_a_literal_tail_is_captured),
	    cmocka_unit_test(test_org_id_is_captured_under_orgId),
	    cmocka_unit_test(test_provider_id_is_captured_under_providerId),
	    cmocka_unit_test(test_clinic_id_is_captured_under_clinicId),
	    cmocka_unit_test(test_route_without_parameters_captures_none),
	    cmocka_unit_test(test_literal_search_beats_the_id_parameter),
	    cmocka_unit_test(test_unknown_path_is_not_found),
	    cmocka_unit_test(test_wrong_method_on_health_allows_get_and_head),
	    cmocka_unit_test(test_wrong_method_on_an_organization_lists_its_methods_in_order),
	    cmocka_unit_test(test_wrong_method_on_a_collection_lists_get_head_post),
	    cmocka_unit_test(test_allow_is_the_same_on_every_call),
	    cmocka_unit_test(test_short_allow_buffer_is_truncated_not_overrun),
	    cmocka_unit_test(test_head_is_served_where_get_is),
	    cmocka_unit_test(test_trailing_slash_is_tolerated),
	    cmocka_unit_test(test_two_trailing_slashes_are_not_tolerated),
	    cmocka_unit_test(test_empty_segment_does_not_match_a_parameter),
	    cmocka_unit_test(test_parameter_longer_than_the_buffer_does_not_match),
	    cmocka_unit_test(test_debug_route_is_invisible_without_debug),
	    cmocka_unit_test(test_debug_route_is_served_with_debug),
	    cmocka_unit_test(test_only_debug_routes_are_debug_only),
	    cmocka_unit_test(test_class_of_a_request_is_its_routes_class),
	    cmocka_unit_test(test_class_of_a_collection_depends_on_the_method),
	    cmocka_unit_test(test_class_of_an_unserved_request_is_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
