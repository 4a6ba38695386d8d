/*
 * test_health.c: liveness and readiness, with the dependencies up, stopped, hung and back.
 *
 * Readiness is 200 "ok" with both dependencies up, 200 "degraded" with Redis down (the cache is
 * optional), 503 "unavailable" with MongoDB down, and recovers on its own once the dependency
 * is back. Each test leaves both dependencies running for the next one. Every worker answers
 * from a state at most a second old, so a check after a change first lets that state age out.
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
#include "health.h"

#define RECOVERY_MS 10000

static struct harness_deps deps;
static struct harness_server server;

struct ready {
	long status;
	char overall[32];
	char mongodb[32];
	char redis[32];
	char body[512];
	double seconds;
};

static void
get_ready(struct ready *out)
{
	struct harness_response r;
	char url[128];
	bson_t *doc;
	const char *s;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/api/v1/health/ready", server.url);
	if (harness_get(url, &r) == -1) {
		harness_response_free(&r);
		fail_msg("GET %s: %s", url, r.error);
	}
	out->status = r.status;
	out->seconds = r.seconds;
	snprintf(out->body, sizeof(out->body), "%s", r.body);
	doc = harness_json(&r);
	harness_response_free(&r);
	if (doc == NULL)
		fail_msg("readiness body is not JSON: %s", out->body);
	if ((s = harness_json_str(doc, "status")) != NULL)
		snprintf(out->overall, sizeof(out->overall), "%s", s);
	if ((s = harness_json_str(doc, "checks.mongodb.status")) != NULL)
		snprintf(out->mongodb, sizeof(out->mongodb), "%s", s);
	if ((s = harness_json_str(doc, "checks.redis.status")) != NULL)
		snprintf(out->redis, sizeof(out->redis), "%s", s);
	bson_destroy(doc);
}

static void
assert_ready(const struct ready *r, long status, const char *overall, const char *mongodb,
	     const char *redis)
{
	if (r->status != status || strcmp(r->overall, overall) != 0 ||
	    strcmp(r->mongodb, mongodb) != 0 || strcmp(r->redis, redis) != 0)
		fail_msg("want %ld status=%s mongodb=%s redis=%s; got %ld %s", status, overall,
			 mongodb, redis, r->status, r->body);
}

/*
 * Polls readiness until it has answered 200 "ok" STAY_OK times in a row, within RECOVERY_MS:
 * recovered means it stays recovered, not that one lucky answer came through (a stale
 * connection in one backend thread shows up as a flap). Returns how long it took.
 */
#define STAY_OK 10

/*
 * get_ready once the answer every worker keeps (health.c, at most HEALTH_READY_MAX_AGE_MS
 * old) has aged out: what a dependency's change looks like to the first call that can see it.
 */
static void
get_ready_after_change(struct ready *out)
{
	harness_sleep_ms(HEALTH_READY_MAX_AGE_MS + 100);
	get_ready(out);
}

static uint64_t
wait_ready_ok(void)
{
	uint64_t start = harness_now_ms(), first = 0;
	struct ready r;
	int streak = 0, flaps = 0;

	for (;;) {
		get_ready(&r);
		if (r.status == 200 && strcmp(r.overall, "ok") == 0) {
			if (streak == 0 && first == 0)
				first = harness_now_ms() - start;
			if (++streak == STAY_OK)
				break;
		} else {
			flaps += streak > 0;
			streak = 0;
		}
		if (harness_now_ms() - start > RECOVERY_MS)
			fail_msg(
			    "readiness not steadily 200 ok %d ms after the dependency came back "
			    "(first ok after %llu ms, %d flaps back); last: %ld %s",
			    RECOVERY_MS, (unsigned long long)first, flaps, r.status, r.body);
		harness_sleep_ms(100);
	}
	print_message("readiness ok after %llu ms, steadily ok after %llu ms (%d flaps)\n",
		      (unsigned long long)first, (unsigned long long)(harness_now_ms() - start),
		      flaps);
	return harness_now_ms() - start;
}

static void
test_live_answers_200_status_ok(void **state)
{
	struct harness_response r;
	char url[128];
	const char *ct;
	bson_t *doc;

	snprintf(url, sizeof(url), "%s/api/v1/health/live", server.url);
	assert_int_equal(harness_get(url, &r), 0);
	assert_int_equal(r.status, 200);
	ct = harness_header(&r, "content-type");
	assert_non_null(ct);
	assert_true(strncmp(ct, "application/json", 16) == 0);
	doc = harness_json(&r);
	assert_non_null(doc);
	assert_string_equal(harness_json_str(doc, "status"), "ok");
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_ready_reports_ok_when_dependencies_are_up(void **state)
{
	struct ready r;

	get_ready(&r);
	assert_ready(&r, 200, "ok", "up", "up");
}

static void
test_ready_is_json(void **state)
{
	struct harness_response r;
	char url[128];
	const char *ct;

	snprintf(url, sizeof(url), "%s/api/v1/health/ready", server.url);
	assert_int_equal(harness_get(url, &r), 0);
	ct = harness_header(&r, "content-type");
	assert_non_null(ct);
	assert_true(strncmp(ct, "application/json", 16) == 0);
	harness_response_free(&r);
}

static void
test_ready_reports_degraded_when_redis_is_stopped(void **state)
{
	struct ready r;

	harness_redis_stop(&deps);
	get_ready_after_change(&r);
	assert_int_equal(harness_redis_start(&deps), 0);
	assert_ready(&r, 200, "degraded", "up", "down");
	wait_ready_ok();
}

static void
test_ready_recovers_when_redis_restarts(void **state)
{
	struct ready r;
	uint64_t took;

	harness_redis_stop(&deps);
	get_ready_after_change(&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.redis, "down");
	assert_int_equal(harness_redis_start(&deps), 0);
	took = wait_ready_ok();
	print_message("redis restart: recovered in %llu ms\n", (unsigned long long)took);
	get_ready(&r);
	assert_ready(&r, 200, "ok", "up", "up");
}

static void
test_ready_reports_degraded_quickly_when_redis_hangs(void **state)
{
	struct ready r;

	/* a stopped (not dead) Redis accepts connections and never answers */
	harness_proc_pause(&deps.redis);
	get_ready_after_change(&r);
	harness_proc_resume(&deps.redis);
	assert_ready(&r, 200, "degraded", "up", "down");
	if (r.seconds > 3.0)
		fail_msg("readiness took %.2f s with a hung Redis", r.seconds);
	wait_ready_ok();
}

static void
test_ready_reports_unavailable_when_ferretdb_is_stopped(void **state)
{
	struct ready r;

	harness_ferretdb_stop(&deps);
	get_ready_after_change(&r);
	assert_int_equal(harness_ferretdb_start(&deps), 0);
	assert_ready(&r, 503, "unavailable", "down", "up");
	wait_ready_ok();
}

static void
test_ready_recovers_when_ferretdb_restarts(void **state)
{
	struct ready r;
	uint64_t took;

	harness_ferretdb_stop(&deps);
	get_ready_after_change(&r);
	assert_int_equal(r.status, 503);
	assert_int_equal(harness_ferretdb_start(&deps), 0);
	took = wait_ready_ok();
	print_message("ferretdb restart: recovered in %llu ms\n", (unsigned long long)took);
	get_ready(&r);
	assert_ready(&r, 200, "ok", "up", "up");
}

static void
test_live_stays_200_while_dependencies_are_down(void **state)
{
	struct harness_response r;
	char url[128];
	long status;

	snprintf(url, sizeof(url), "%s/api/v1/health/live", server.url);
	harness_ferretdb_stop(&deps);
	harness_redis_stop(&deps);
	harness_get(url, &r);
	status = r.status;
	harness_response_free(&r);
	assert_int_equal(harness_deps_start(&deps), 0);
	assert_int_equal(status, 200);
	wait_ready_ok();
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	return client_suite_start(&deps, NULL, &server, "health", &c);
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
	    cmocka_unit_test(test_live_answers_200_status_ok),
	    cmocka_unit_test(test_ready_reports_ok_when_dependencies_are_up),
	    cmocka_unit_test(test_ready_is_json),
	    cmocka_unit_test(test_ready_reports_degraded_when_redis_is_stopped),
	    cmocka_unit_test(test_ready_recovers_when_redis_restarts),
	    cmocka_unit_test(test_ready_reports_degraded_quickly_when_redis_hangs),
	    cmocka_unit_test(test_ready_reports_unavailable_when_ferretdb_is_stopped),
	    cmocka_unit_test(test_ready_recovers_when_ferretdb_restarts),
	    cmocka_unit_test(test_live_stays_200_while_dependencies_are_down),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
