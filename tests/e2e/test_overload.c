/*
 * test_overload.c: past capacity the server says no at once instead of queueing (issue 8,
 * "overload: answer within the budget, or say no at once").
 *
 * One worker with two backend threads, debug_routes (GET /api/v1/debug/sleep holds a database
 * thread for as long as asked). With both threads held, a read of an organization could only
 * start after a sleeper ends, seconds past its 150 ms budget: it must get 503 with Retry-After
 * and problem+json while the sleepers still sleep, be counted in
 * enterprise_requests_shed_total{class="organization"}, and the same read must get 200 once
 * the threads are free. With one thread held there is capacity left, and reads get 200. A read
 * that was admitted but whose fill is held (x-debug-fill-delay-ms) far past twice its budget
 * gets 503 at that cut-off, and the fill it started still reaches the cache.
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
#define THREADS 2      /* worker_backend_threads */
#define SLEEP_MS 6000  /* how long a sleeper holds its thread */
#define SETTLE_MS 1000 /* for the sleepers to reach their threads */
#define READS 5

static struct harness_deps deps;
static struct harness_server server;
static char *admin;

struct sleeper {
	pthread_t tid;
	struct harness_response r;
	int rc;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	char *url = client_strf("%s" V1 "/debug/sleep?ms=%d", server.url, SLEEP_MS);
	struct harness_http_opts o = {.timeout_ms = 30000};

	s->rc = harness_request("GET", url, NULL, NULL, 0, &o, &s->r);
	free(url);
	return NULL;
}

/* Starts n sleepers and returns when they have had time to take their threads. */
static void
sleepers_start(struct sleeper *s, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		assert_int_equal(pthread_create(&s[i].tid, NULL, sleeper_main, &s[i]), 0);
	}
	harness_sleep_ms(SETTLE_MS);
}

static void
sleepers_join(struct sleeper *s, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		pthread_join(s[i].tid, NULL);
		assert_int_equal(s[i].rc, 0);
		if (s[i].r.status != 200) /* no budget for unknown routes: never shed */
			fail_msg("sleeper %d: status %ld: %s", i, s[i].r.status, s[i].r.body);
		harness_response_free(&s[i].r);
	}
}

static double
shed_total(const char *cls)
{
	struct harness_prom p;
	char want[64];
	double v = 0;

	snprintf(want, sizeof(want), "class=\"%s\"", cls);
	if (harness_prom_fetch(server.metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	if (harness_prom_sum(&p, "enterprise_requests_shed_total", want, &v) != 1)
		fail_msg("/metrics has no enterprise_requests_shed_total{%s}", want);
	harness_prom_free(&p);
	return v;
}

static void
get_org(const char *id, struct harness_response *r)
{
	char *url = client_strf("%s" V1 "/organizations/%s", server.url, id);

	assert_int_equal(harness_get_token(url, admin, r), 0);
	free(url);
}

static void
test_reads_past_capacity_get_503_with_retry_after_at_once(void **state)
{
	struct sleeper s[THREADS];
	struct harness_response r;
	char ids[READS][25], why[256], name[32];
	double before, after;
	uint64_t started;
	int i;

	(void)state;
	for (i = 0; i < READS; i++) {
		snprintf(name, sizeof(name), "Overload %d", i);
		client_new_org(name, ids[i]);
	}
	before = shed_total("organization");
	started = harness_now_ms();
	sleepers_start(s, THREADS);
	for (i = 0; i < READS; i++) {
		get_org(ids[i], &r);
		if (r.status != 503)
			fail_msg("read %d with every thread held: status %ld, want 503: %s", i,
				 r.status, r.body);
		assert_non_null(harness_header(&r, "retry-after"));
		assert_string_equal(harness_header(&r, "retry-after"), "1");
		if (harness_problem_check(&r, why, sizeof(why)) != 0)
			fail_msg("503 body: %s", why);
		harness_response_free(&r);
	}
	/* refused, not queued: every answer came while the sleepers still held the threads
	 * (queued reads would have waited for them) */
	if (harness_now_ms() - started >= SLEEP_MS - 500)
		fail_msg("%d refusals took %llu ms: they waited for the held threads", READS,
			 (unsigned long long)(harness_now_ms() - started));
	after = shed_total("organization");
	sleepers_join(s, THREADS);
	if (after - before != READS)
		fail_msg("shed counter moved by %.0f, want %d", after - before, READS);

	/* capacity is back: the same reads are served */
	for (i = 0; i < READS; i++) {
		get_org(ids[i], &r);
		if (r.status != 200)
			fail_msg("read %d after the sleepers: status %ld: %s", i, r.status, r.body);
		harness_response_free(&r);
	}
}

static void
test_reads_within_capacity_are_served(void **state)
{
	struct sleeper s[THREADS - 1];
	struct harness_response r;
	char id[25];
	double before;
	int i;

	(void)state;
	client_new_org("Within Capacity", id);
	before = shed_total("organization");
	sleepers_start(s, THREADS - 1);
	for (i = 0; i < 3; i++) {
		get_org(id, &r); /* one thread is free: each read runs at once */
		if (r.status != 200)
			fail_msg("read %d with a thread free: status %ld: %s", i, r.status, r.body);
		assert_non_null(strstr(r.body, "Within Capacity"));
		harness_response_free(&r);
	}
	sleepers_join(s, THREADS - 1);
	assert_true(shed_total("organization") == before);
}

#define HELD_FILL_MS 3000

static void
test_a_slow_read_is_cut_off_and_its_answer_still_fills_the_cache(void **state)
{
	static const char *const held[] = {"x-debug-fill-delay-ms: 3000", NULL};
	struct harness_response r;
	const char *xc;
	char id[25], *url;
	double before;

	(void)state;
	client_new_org("Cut Off", id);
	before = shed_total("organization");
	url = client_strf("%s" V1 "/organizations/%s", server.url, id);
	/* a thread is free, so the read is admitted; its fill is then held 3 s, far past twice
	 * the 150 ms budget: the client gets 503 while the fill goes on */
	assert_int_equal(harness_request_token("GET", url, admin, held, NULL, 0, &r), 0);
	if (r.status != 503)
		fail_msg("a read held past its cut-off: status %ld: %s", r.status, r.body);
	assert_string_equal(harness_header(&r, "retry-after"), "1");
	if (r.seconds * 1000 >= HELD_FILL_MS - 500)
		fail_msg("the cut-off came after %.0f ms: it waited for the fill",
			 r.seconds * 1000);
	harness_response_free(&r);
	assert_true(shed_total("organization") == before + 1);

	harness_sleep_ms(HELD_FILL_MS + 1000); /* the fill ends and stores its answer */
	assert_int_equal(harness_get_token(url, admin, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "Cut Off"));
	xc = harness_header(&r, "x-cache");
	if (xc == NULL || strncmp(xc, "HIT", 3) != 0)
		fail_msg("the read after the cut-off fill: X-Cache %s, want a hit",
			 xc != NULL ? xc : "(none)");
	harness_response_free(&r);
	free(url);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {
	    .workers = 1, .debug_routes = 1, .shed = 1, .extra = "worker_backend_threads 2\n"};

	(void)state;
	return client_suite_start(&deps, &admin, &server, "overload", &c);
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
	    cmocka_unit_test(test_reads_past_capacity_get_503_with_retry_after_at_once),
	    cmocka_unit_test(test_reads_within_capacity_are_served),
	    cmocka_unit_test(test_a_slow_read_is_cut_off_and_its_answer_still_fills_the_cache),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
