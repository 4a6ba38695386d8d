/*
 * test_ratelimit.c: per-caller rate limits (issue 10).
 *
 * Two workers share one table of token buckets (the shared region). Organization and clinic
 * reads are limited to bursts of BURST at RATE a second. Nothing here depends on speed: a test
 * sends until the first 429 (at most MAX_SENDS) and bounds what passed by the burst plus what
 * the elapsed time could have refilled. Organization routes prove the per-sub buckets; clinic
 * routes the per-address bucket of requests without a valid token, so the two do not mix.
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
#define RATE 1
#define BURST 5
#define MAX_SENDS 60
#define NO_ORG "/organizations/0123456789abcdef01234567"
#define NO_CLINIC "/clinics/0123456789abcdef01234567"

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

/* One GET of path as token (NULL: none) into r, on a new connection. */
static void
get_as(const char *path, const char *token, struct harness_response *r)
{
	char *url = client_strf("%s" V1 "%s", server.url, path);

	assert_int_equal(harness_request_token("GET", url, token, NULL, NULL, 0, r), 0);
	free(url);
}

/*
 * Sends GET path as token until the first 429 (kept in r429) and returns how many passed;
 * fails when none came within MAX_SENDS or when more passed than the burst plus what the
 * time taken could refill (the limit did not hold across the workers).
 */
static int
exhaust(const char *path, const char *token, struct harness_response *r429)
{
	struct harness_response r;
	uint64_t start = harness_now_ms();
	int passed = 0, i;
	uint64_t allowed;

	for (i = 0; i < MAX_SENDS; i++) {
		get_as(path, token, &r);
		if (r.status == 429) {
			*r429 = r;
			allowed = BURST + RATE * ((harness_now_ms() - start) / 1000 + 1);
			if ((uint64_t)passed > allowed)
				fail_msg("%d requests passed before the 429, at most %llu expected",
					 passed, (unsigned long long)allowed);
			return passed;
		}
		harness_response_free(&r);
		passed++;
	}
	fail_msg("no 429 after %d requests of %s", MAX_SENDS, path);
	return -1;
}

static double
metric(const char *name, const char *label)
{
	struct harness_prom p;
	double v = 0;

	if (harness_prom_fetch(server.metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	if (harness_prom_sum(&p, name, label, &v) != 1)
		fail_msg("/metrics has no %s{%s}", name, label);
	harness_prom_free(&p);
	return v;
}

static void
test_over_the_limit_answers_429_problem_with_retry_after_and_ratelimit_headers(void **state)
{
	char *token = harness_token("platform_admin", NULL, "rl-alice");
	struct harness_response r, r429;
	const char *h;
	char *end;
	long after;
	double before = metric("enterprise_ratelimit_limited_total", "class=\"organization\"");

	(void)state;
	/* a limited answer that passed says the policy and what is left */
	get_as(NO_ORG, token, &r);
	assert_int_equal(r.status, 404);
	h = harness_header(&r, "ratelimit-policy");
	assert_non_null(h);
	assert_string_equal(h, "\"organization\";q=5;w=5");
	h = harness_header(&r, "ratelimit");
	assert_non_null(h);
	assert_string_equal(h, "\"organization\";r=4;t=1");
	harness_response_free(&r);

	exhaust(NO_ORG, token, &r429);
	client_expect_problem(&r429, 429);
	h = harness_header(&r429, "retry-after");
	assert_non_null(h);
	after = strtol(h, &end, 10);
	if (*end != '\0' || after < 1 || after > 1)
		fail_msg("Retry-After %s, want 1 (one token at 1 a second)", h);
	h = harness_header(&r429, "ratelimit-policy");
	assert_non_null(h);
	assert_string_equal(h, "\"organization\";q=5;w=5");
	h = harness_header(&r429, "ratelimit");
	assert_non_null(h);
	if (strncmp(h, "\"organization\";r=0;t=", 21) != 0)
		fail_msg("RateLimit %s, want \"organization\";r=0;t=...", h);
	harness_response_free(&r429);
	assert_true(metric("enterprise_ratelimit_limited_total", "class=\"organization\"") >=
		    before + 1);
	free(token);
}

static void
test_one_exhausted_caller_does_not_limit_another(void **state)
{
	char *alice = harness_token("platform_admin", NULL, "rl-alice2");
	char *bob = harness_token("platform_admin", NULL, "rl-bob");
	struct harness_response r;

	(void)state;
	exhaust(NO_ORG, alice, &r);
	harness_response_free(&r);
	/* another sub, and the address of both (no token), still pass */
	get_as(NO_ORG, bob, &r);
	assert_int_equal(r.status, 404);
	harness_response_free(&r);
	get_as(NO_ORG, NULL, &r);
	assert_int_equal(r.status, 401);
	harness_response_free(&r);
	free(alice);
	free(bob);
}

/* One user name in two tenants: exhausting it in one organization leaves the other's alone
 * (the bucket is the verified (org, sub), not the sub). */
static void
test_one_sub_in_two_tenants_has_two_buckets(void **state)
{
	char *dave_a = harness_token("org_admin", "aaaaaaaaaaaaaaaaaaaaaaaa", "rl-dave");
	char *dave_b = harness_token("org_admin", "bbbbbbbbbbbbbbbbbbbbbbbb", "rl-dave");
	struct harness_response r;

	(void)state;
	exhaust(NO_ORG, dave_a, &r);
	harness_response_free(&r);
	get_as(NO_ORG, dave_b, &r);
	if (r.status == 429)
		fail_msg("tenant B's rl-dave was limited by tenant A's: %s", r.body);
	assert_non_null(harness_header(&r, "ratelimit"));
	harness_response_free(&r);
	free(dave_a);
	free(dave_b);
}

static void
test_a_forged_token_is_charged_to_its_address_not_to_the_sub_it_names(void **state)
{
	char *carol = harness_token("platform_admin", NULL, "rl-carol");
	char *forged = harness_token_with("an-entirely-different-secret-of-32-bytes-or-more",
					  "platform_admin", NULL, "rl-carol", 600);
	struct harness_response r;

	(void)state;
	assert_non_null(forged);
	/* forged tokens naming carol run out the address's bucket, never carol's */
	exhaust(NO_CLINIC, forged, &r);
	harness_response_free(&r);
	get_as(NO_CLINIC, carol, &r);
	assert_int_equal(r.status, 404);
	harness_response_free(&r);
	free(carol);
	free(forged);
}

static void
test_health_and_metrics_are_never_limited(void **state)
{
	struct harness_response r;
	struct harness_http_opts o = {.timeout_ms = 5000};
	char *url = client_strf("%s" V1 "/health/live", server.url);
	int i;

	(void)state;
	/* the address's clinic bucket may be empty (the test before): health does not care */
	for (i = 0; i < 3 * BURST; i++) {
		assert_int_equal(harness_request("GET", url, NULL, NULL, 0, &o, &r), 0);
		assert_int_equal(r.status, 200);
		assert_null(harness_header(&r, "ratelimit"));
		harness_response_free(&r);
	}
	free(url);
	for (i = 0; i < 3 * BURST; i++) {
		assert_int_equal(harness_request("GET", server.metrics_url, NULL, NULL, 0, &o, &r),
				 0);
		assert_int_equal(r.status, 200);
		harness_response_free(&r);
	}
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2,
				 .ratelimit = 1,
				 .extra = "ratelimit {\n\torganization 1 5\n\tclinic 1 5\n}\n"};

	(void)state;
	return client_suite_start(&deps, &admin, &server, "ratelimit", &c);
}

static int
group_teardown(void **state)
{
	(void)state;
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_over_the_limit_answers_429_problem_with_retry_after_and_ratelimit_headers),
	    cmocka_unit_test(test_one_exhausted_caller_does_not_limit_another),
	    cmocka_unit_test(test_one_sub_in_two_tenants_has_two_buckets),
	    cmocka_unit_test(test_a_forged_token_is_charged_to_its_address_not_to_the_sub_it_names),
	    cmocka_unit_test(test_health_and_metrics_are_never_limited),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
