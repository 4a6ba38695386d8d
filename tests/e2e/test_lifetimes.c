/*
 * test_lifetimes.c: requests that wait for another request's read (single-flight) live by
 * their own deadline (issue 7, part 6).
 *
 * One server, one worker (so concurrent misses of one key meet), debug_routes (the
 * x-debug-fill-delay-ms header holds a fill on its backend thread), HTTP/2 (a client that goes
 * away resets its stream at once, where HTTP/1 would be noticed only on write), a 4 s request
 * deadline and a 1.5 s Redis command timeout.
 *	- A leader that goes away before its work ran leaves work that is cancelled: a request
 *	  that comes after must do its own fetch, not wait for work that never runs (it got a 500).
 *	- A follower that joined late outlives its leader's deadline: the leader gets 504 at its
 *	  deadline, the follower the answer, which comes before its own deadline (it got the
 *	  leader's 504).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define DEADLINE_MS 4000
#define REDIS_TIMEOUT_MS 1500

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

struct reader {
	char *url;
	const char *const *headers;
	struct harness_http_opts opts;
	struct harness_response r;
	int rc;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	char auth[1024];
	const char *headers[4] = {NULL, NULL, NULL, NULL};
	int n = 0;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin);
	headers[n++] = auth;
	if (rd->headers != NULL)
		headers[n++] = rd->headers[0];
	rd->rc = harness_request("GET", rd->url, headers, NULL, 0, &rd->opts, &rd->r);
	return NULL;
}

static const char *
xcache(const struct harness_response *r)
{
	const char *v = harness_header(r, "x-cache");

	return v != NULL ? v : "(none)";
}

static void
test_a_request_after_a_cancelled_leader_does_its_own_fetch(void **state)
{
	struct reader leader, follower;
	pthread_t tl, tf;
	char id[25];

	(void)state;
	client_new_org("Lifetime Cancelled", id);
	memset(&leader, 0, sizeof(leader));
	memset(&follower, 0, sizeof(follower));
	leader.url = client_strf("%s" V1 "/organizations/%s", server.url, id);
	follower.url = client_strf("%s" V1 "/organizations/%s", server.url, id);
	/* the leader's Redis lookup hangs; the leader leaves (its stream is reset) meanwhile */
	leader.opts.version = HARNESS_HTTP_2;
	leader.opts.timeout_ms = 300;
	follower.opts.version = HARNESS_HTTP_1_1;
	assert_int_equal(harness_proc_pause(&deps.redis), 0);
	assert_int_equal(pthread_create(&tl, NULL, reader_main, &leader), 0);
	harness_sleep_ms(700);
	assert_int_equal(pthread_create(&tf, NULL, reader_main, &follower), 0);
	pthread_join(tl, NULL);
	pthread_join(tf, NULL);
	assert_int_equal(harness_proc_resume(&deps.redis), 0);

	assert_int_equal(leader.rc, -1); /* it gave up */
	assert_int_equal(follower.rc, 0);
	if (follower.r.status != 200)
		fail_msg("the request after a cancelled leader: status %ld (X-Cache %s): %s",
			 follower.r.status, xcache(&follower.r), follower.r.body);
	assert_non_null(strstr(follower.r.body, "Lifetime Cancelled"));
	harness_response_free(&leader.r);
	harness_response_free(&follower.r);
	free(leader.url);
	free(follower.url);
}

static void
test_a_follower_outlives_its_leaders_deadline_and_gets_the_answer(void **state)
{
	static const char *const slow[] = {"x-debug-fill-delay-ms: 5500", NULL};
	struct reader leader, follower;
	pthread_t tl, tf;
	char id[25];

	(void)state;
	client_new_org("Lifetime Follower", id);
	memset(&leader, 0, sizeof(leader));
	memset(&follower, 0, sizeof(follower));
	leader.url = client_strf("%s" V1 "/organizations/%s", server.url, id);
	follower.url = client_strf("%s" V1 "/organizations/%s", server.url, id);
	leader.headers = slow; /* its fill is held 5.5 s: past its own 4 s deadline */
	leader.opts.version = HARNESS_HTTP_1_1;
	follower.opts.version = HARNESS_HTTP_1_1;
	assert_int_equal(pthread_create(&tl, NULL, reader_main, &leader), 0);
	harness_sleep_ms(2500); /* the follower's own deadline: 2.5 + 4 s, after the fill */
	assert_int_equal(pthread_create(&tf, NULL, reader_main, &follower), 0);
	pthread_join(tl, NULL);
	pthread_join(tf, NULL);

	assert_int_equal(leader.rc, 0);
	client_expect_problem(&leader.r, 504);
	assert_int_equal(follower.rc, 0);
	if (follower.r.status != 200)
		fail_msg("the follower: status %ld, want 200 (its own deadline had not passed): %s",
			 follower.r.status, follower.r.body);
	assert_non_null(strstr(follower.r.body, "Lifetime Follower"));
	harness_response_free(&leader.r);
	harness_response_free(&follower.r);
	free(leader.url);
	free(follower.url);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1,
				 .debug_routes = 1,
				 .http2 = 1,
				 .request_timeout = DEADLINE_MS,
				 /* these tests are about the route deadline: no shorter read
				  * budget (issue 8; test_degrade covers the budget) */
				 .extra = "read_budget 0\nredis {\n\tcommand_timeout 1500\n}"};

	(void)state;
	return client_suite_start(&deps, &admin, &server, "lifetimes", &c);
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
	    cmocka_unit_test(test_a_request_after_a_cancelled_leader_does_its_own_fetch),
	    cmocka_unit_test(test_a_follower_outlives_its_leaders_deadline_and_gets_the_answer),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
