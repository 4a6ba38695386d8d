/*
 * test_degrade.c: graceful degradation of reads and writes while MongoDB fails (issue 8).
 *
 * One FerretDB, one Redis, one server (one worker, so worker memory answers deterministically)
 * with short TTLs, a long stale grace, a read and a write budget of BUDGET_MS against a route
 * deadline of ROUTE_MS, and a short breaker period. FerretDB is hung with SIGSTOP or stopped:
 *	- a read with a copy past its TTL answers 200 from it, marked X-Cache: STALE, Age and
 *	  Cache-Status (RFC 9211), counted in /metrics;
 *	- a write acknowledged before the outage wins: the old value never comes back;
 *	- a read with no copy, and a write, answer 503 with Retry-After long before the route
 *	  deadline, and at once while the breaker is open;
 *	- a hit late in its TTL refetches the key in the background: a hot key never misses, and
 *	  the refresh is counted;
 *	- a second server (`warm`) with cache warming every second refetches a key read in the
 *	  last window, counted in /metrics.
 * "Long before the route deadline" is a bound ROUTE_MS / 2 on the answer's time: a request that
 * waited for the deadline would take ROUTE_MS; nothing here measures speed.
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
#define ORGS V1 "/organizations"
#define TTL_S 2		/* cache ttl_organization and ttl_list */
#define BUDGET_MS 600	/* read_budget and write_budget */
#define ROUTE_MS 20000	/* request_timeout */
#define BREAKER_MS 1500 /* circuit_breaker timeout */
#define WAIT_L1_MS 5000 /* the monitor's first subscription lease */

static struct harness_deps deps;
static struct harness_server server, warm;
static char *admin;

/* --- helpers ------------------------------------------------------------------------------ */

static const char *
hdr(const struct harness_response *r, const char *name)
{
	const char *v = harness_header(r, name);

	return v != NULL ? v : "(none)";
}

static void
get(const char *path, struct harness_response *r)
{
	client_call("GET", path, admin, NULL, r);
}

/* GET path until it comes from worker memory (the lease may take a moment after a start). */
static void
get_until_l1(const char *path)
{
	struct harness_response r;
	uint64_t deadline = harness_now_ms() + WAIT_L1_MS;

	for (;;) {
		get(path, &r);
		assert_int_equal(r.status, 200);
		if (strcmp(hdr(&r, "x-cache"), "HIT-L1") == 0) {
			assert_string_equal(hdr(&r, "cache-status"), "enterprised; hit");
			harness_response_free(&r);
			return;
		}
		harness_response_free(&r);
		if (harness_now_ms() > deadline)
			fail_msg("GET %s never came from worker memory", path);
		harness_sleep_ms(50);
	}
}

static double
metric_of(const struct harness_server *s, const char *name, const char *labels)
{
	struct harness_prom p;
	double v = 0;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	harness_prom_sum(&p, name, labels, &v);
	harness_prom_free(&p);
	return v;
}

static double
metric(const char *name, const char *labels)
{
	return metric_of(&server, name, labels);
}

static int
mongodb_breaker_open(void)
{
	return metric("enterprise_circuit_breaker_state", "dependency=\"mongodb\"") == 1;
}

/* The name of a 200 answer's organization (copied). */
static char *
name_of(const struct harness_response *r)
{
	bson_t *doc = client_expect_json(r, 200);
	const char *v = harness_json_str(doc, "name");
	char *out = strdup(v != NULL ? v : "(absent)");

	bson_destroy(doc);
	return out;
}

/* A 503 problem with Retry-After, answered long before the route deadline. */
static void
expect_fast_503(const struct harness_response *r, const char *what)
{
	if (r->status != 503)
		fail_msg("%s: %ld, want 503; body %s", what, r->status, r->body);
	client_expect_problem(r, 503);
	assert_non_null(harness_header(r, "retry-after"));
	if (r->seconds * 1000 >= ROUTE_MS / 2)
		fail_msg("%s took %.1f s: it waited for the route deadline", what, r->seconds);
}

/* A 200 from a stale copy of the organization named want. */
static void
expect_stale(const struct harness_response *r, const char *want, int min_age_s)
{
	char *name;

	if (r->status != 200)
		fail_msg("stale read: %ld, want 200 from the copy; body %s", r->status, r->body);
	name = name_of(r);
	assert_string_equal(name, want);
	free(name);
	assert_string_equal(hdr(r, "x-cache"), "STALE");
	assert_string_equal(hdr(r, "cache-status"), "enterprised; fwd=stale; detail=mongodb");
	assert_non_null(harness_header(r, "etag"));
	if (atoi(hdr(r, "age")) < min_age_s)
		fail_msg("Age %s, want at least %d", hdr(r, "age"), min_age_s);
	if (r->seconds * 1000 >= ROUTE_MS / 2)
		fail_msg("stale read took %.1f s: it waited for the route deadline", r->seconds);
}

static void
patch_name(const char *id, const char *name, struct harness_response *r)
{
	char *path = client_strf(ORGS "/%s", id), *body = client_strf("{\"name\":\"%s\"}", name);

	client_call("PATCH", path, admin, body, r);
	free(path);
	free(body);
}

/* Requests until the MongoDB breaker opens (FerretDB stopped: every read fails). */
static void
push_until_open(void)
{
	struct harness_response r;
	int i;

	for (i = 0; i < 60 && !mongodb_breaker_open(); i++) {
		char *path = client_strf(ORGS "?limit=%d", 1 + i % 50);

		get(path, &r);
		harness_response_free(&r);
		free(path);
	}
	assert_true(mongodb_breaker_open());
}

/* Waits until FerretDB answers through the server again (breaker closed, reads work). */
static void
wait_recovered(const char *path)
{
	struct harness_response r;
	uint64_t deadline = harness_now_ms() + 30000;

	for (;;) {
		client_call("GET", path, admin, NULL, &r);
		if (r.status == 200 && strcmp(hdr(&r, "x-cache"), "STALE") != 0 &&
		    !mongodb_breaker_open()) {
			harness_response_free(&r);
			return;
		}
		harness_response_free(&r);
		if (harness_now_ms() > deadline)
			fail_msg("the server did not recover from the outage");
		harness_sleep_ms(200);
	}
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_every_answer_says_what_the_cache_did(void **state)
{
	struct harness_response r;
	char id[25], *path;

	(void)state;
	client_new_org("Status Dental", id);
	path = client_strf(ORGS "/%s", id);
	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "x-cache"), "MISS");
	assert_string_equal(hdr(&r, "cache-status"), "enterprised; fwd=miss; stored");
	harness_response_free(&r);
	get_until_l1(path);
	/* a write bypasses the cache */
	patch_name(id, "Status Dental Two", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "cache-status"), "enterprised; fwd=bypass");
	harness_response_free(&r);
	/* a read the database refuses is a miss */
	client_call("GET", ORGS "/0123456789abcdef01234567", admin, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(hdr(&r, "cache-status"), "enterprised; fwd=miss");
	harness_response_free(&r);
	free(path);
}

static void
test_a_hung_database_is_answered_from_the_stale_copy(void **state)
{
	struct harness_response r;
	char id[25], *path;
	double before;

	(void)state;
	client_new_org("Stale Dental", id);
	path = client_strf(ORGS "/%s", id);
	get_until_l1(path);
	harness_sleep_ms(TTL_S * 1000 + 300); /* past its TTL: only a stale copy is left */
	before = metric("enterprise_cache_operations_total",
			"resource=\"organization\",result=\"stale\"");
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	get(path, &r);
	expect_stale(&r, "Stale Dental", TTL_S);
	harness_response_free(&r);
	/* a list past its TTL too (the one that used to answer 503) */
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	wait_recovered(path);
	assert_true(metric("enterprise_cache_operations_total",
			   "resource=\"organization\",result=\"stale\"") >= before + 1);
	free(path);
}

static void
test_a_read_with_no_copy_fails_fast_while_the_database_hangs(void **state)
{
	struct harness_response r;
	char id[25], *path;

	(void)state;
	client_new_org("Never Read Dental", id);
	path = client_strf(ORGS "/%s", id);
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	get(path, &r);
	expect_fast_503(&r, "a read with no copy, database hung");
	assert_string_equal(hdr(&r, "cache-status"), "enterprised; fwd=miss");
	harness_response_free(&r);
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	wait_recovered(path);
	free(path);
}

static void
test_a_write_fails_fast_while_the_database_hangs(void **state)
{
	struct harness_response r;
	char id[25], *path;

	(void)state;
	client_new_org("Hung Write Dental", id);
	path = client_strf(ORGS "/%s", id);
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	patch_name(id, "Hung Write Renamed", &r);
	expect_fast_503(&r, "a write, database hung");
	harness_response_free(&r);
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	wait_recovered(path);
	free(path);
}

static void
test_a_write_before_the_outage_never_lets_the_old_value_out(void **state)
{
	struct harness_response r;
	char id[25], *path;
	int i;

	(void)state;
	client_new_org("Old Name Dental", id);
	path = client_strf(ORGS "/%s", id);
	get_until_l1(path);
	patch_name(id, "New Name Dental", &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	for (i = 0; i < 3; i++) {
		get(path, &r);
		if (r.status == 200) {
			char *name = name_of(&r);

			if (strcmp(name, "Old Name Dental") == 0)
				fail_msg(
				    "read %d after the write answered the old value (X-Cache %s)",
				    i, hdr(&r, "x-cache"));
			free(name);
		} else {
			expect_fast_503(&r, "a read after the write, database hung");
		}
		harness_response_free(&r);
	}
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	wait_recovered(path);
	get(path, &r);
	{
		char *name = name_of(&r);

		assert_string_equal(name, "New Name Dental");
		free(name);
	}
	harness_response_free(&r);
	free(path);
}

static void
test_a_hot_key_is_refreshed_before_it_expires(void **state)
{
	struct harness_response r;
	char id[25], *path;
	double before;
	uint64_t until;
	int reads = 0;

	(void)state;
	client_new_org("Hot Dental", id);
	path = client_strf(ORGS "/%s", id);
	get_until_l1(path);
	before = metric("enterprise_cache_refreshes_total", "resource=\"organization\"");
	/* three TTLs of steady reads: the refresh keeps the key fresh, no read goes to the
	 * database itself */
	until = harness_now_ms() + 3 * TTL_S * 1000;
	while (harness_now_ms() < until) {
		get(path, &r);
		assert_int_equal(r.status, 200);
		if (strncmp(hdr(&r, "x-cache"), "HIT", 3) != 0)
			fail_msg("read %d of a hot key: X-Cache %s", reads, hdr(&r, "x-cache"));
		harness_response_free(&r);
		reads++;
		harness_sleep_ms(50);
	}
	assert_true(metric("enterprise_cache_refreshes_total", "resource=\"organization\"") >=
		    before + 2);
	free(path);
}

static void
test_with_the_breaker_open_reads_and_writes_answer_at_once(void **state)
{
	struct harness_response r;
	char id[25], fresh_id[25], *path, *fresh;

	(void)state;
	client_new_org("Breaker Stale Dental", id);
	client_new_org("Breaker Fresh Dental", fresh_id);
	path = client_strf(ORGS "/%s", id);
	fresh = client_strf(ORGS "/%s", fresh_id);
	get_until_l1(path);
	harness_ferretdb_stop(&deps);
	push_until_open();
	get(path, &r);
	expect_stale(&r, "Breaker Stale Dental", 0);
	harness_response_free(&r);
	get(fresh, &r);
	expect_fast_503(&r, "a read with no copy, breaker open");
	harness_response_free(&r);
	patch_name(id, "Breaker Renamed", &r);
	expect_fast_503(&r, "a write, breaker open");
	harness_response_free(&r);
	assert_int_equal(harness_ferretdb_start(&deps), 0);
	wait_recovered(fresh);
	free(path);
	free(fresh);
}

static void
test_warming_refetches_the_keys_hot_in_the_last_window(void **state)
{
	struct harness_response r;
	char id[25], *path;
	double before;
	uint64_t deadline;
	int i;

	(void)state;
	client_new_org("Warm Dental", id);
	path = client_strf(ORGS "/%s", id);
	before = metric_of(&warm, "enterprise_cache_warmed_total", "resource=\"organization\"");
	for (i = 0; i < 3; i++) {
		client_call_on(&warm, "GET", path, admin, NULL, &r);
		assert_int_equal(r.status, 200);
		harness_response_free(&r);
	}
	/* the window (1 s) ends and the key, read three times in it, is refetched */
	deadline = harness_now_ms() + 5000;
	while (metric_of(&warm, "enterprise_cache_warmed_total", "resource=\"organization\"") <
	       before + 1) {
		if (harness_now_ms() > deadline)
			fail_msg("the hot key was not warmed");
		harness_sleep_ms(100);
	}
	/* and what it stored is what the database holds */
	client_call_on(&warm, "GET", path, admin, NULL, &r);
	{
		char *name = name_of(&r);

		assert_string_equal(name, "Warm Dental");
		free(name);
	}
	harness_response_free(&r);
	free(path);
}

/* The Redis breaker closed and worker memory trusted again (the monitor resubscribed, so any
 * repair of writes Redis missed is done), while path reads from worker memory. */
static void
wait_redis_back(const char *path)
{
	struct harness_response r;
	uint64_t deadline = harness_now_ms() + 30000;
	int i = 0, l1;

	for (;;) {
		char *probe = client_strf(ORGS "?limit=%d", 1 + i++ % 50); /* a Redis lookup */

		get(probe, &r);
		harness_response_free(&r);
		free(probe);
		get(path, &r);
		l1 = r.status == 200 && strcmp(hdr(&r, "x-cache"), "HIT-L1") == 0;
		harness_response_free(&r);
		if (l1 && metric("enterprise_circuit_breaker_state", "dependency=\"redis\"") == 0)
			return;
		if (harness_now_ms() > deadline)
			fail_msg("Redis never came back into use");
		harness_sleep_ms(100);
	}
}

/*
 * Issue 8: a write that Redis missed (hung) drops only what it changed once Redis answers
 * again: another record's copy still answers when the database fails next, and the written
 * record never answers its old value.
 */
static void
test_a_write_redis_missed_drops_only_what_it_changed(void **state)
{
	struct harness_response r;
	char kept[25], changed[25], *kept_path, *changed_path, *name;

	(void)state;
	client_new_org("Kept Copy Dental", kept);
	client_new_org("Changed Copy Dental", changed);
	kept_path = client_strf(ORGS "/%s", kept);
	changed_path = client_strf(ORGS "/%s", changed);
	get_until_l1(kept_path);
	get_until_l1(changed_path);
	assert_int_equal(harness_proc_pause(&deps.redis), 0);
	patch_name(changed, "Changed Copy Renamed", &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	assert_int_equal(harness_proc_resume(&deps.redis), 0);
	wait_redis_back(changed_path);
	assert_int_equal(harness_proc_pause(&deps.ferretdb), 0);
	get(kept_path, &r);
	if (r.status != 200)
		fail_msg("the copy of a record the write did not touch was dropped: %ld (%s)",
			 r.status, hdr(&r, "cache-status"));
	name = name_of(&r);
	assert_string_equal(name, "Kept Copy Dental");
	free(name);
	harness_response_free(&r);
	get(changed_path, &r);
	if (r.status == 200) {
		name = name_of(&r);
		assert_string_equal(name, "Changed Copy Renamed");
		free(name);
	} else {
		expect_fast_503(&r, "the written record, database hung");
	}
	harness_response_free(&r);
	assert_int_equal(harness_proc_resume(&deps.ferretdb), 0);
	wait_recovered(kept_path);
	free(kept_path);
	free(changed_path);
}

/* --- setup -------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	static char extra[512], warm_extra[512];
	struct harness_conf c = {
	    .workers = 1,
	    .request_timeout = ROUTE_MS,
	    .extra = extra,
	};
	struct harness_conf wc = {
	    .workers = 1,
	    .extra = warm_extra,
	};

	(void)state;
	snprintf(extra, sizeof(extra),
		 "read_budget %d\nwrite_budget %d\nreport_timeout 3000\n"
		 "circuit_breaker {\n\ttimeout %d\n}\n"
		 "cache {\n\tttl_organization %d\n\tttl_list %d\n\tstale_grace_factor 60\n"
		 "\trefresh_ahead 50\n}\n",
		 BUDGET_MS, BUDGET_MS, BREAKER_MS, TTL_S, TTL_S);
	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	snprintf(warm_extra, sizeof(warm_extra), "cache {\n\twarm_interval 1\n}\n");
	if (harness_server_start(&server, "degrade", &c, &deps) == -1 ||
	    harness_server_start(&warm, "warm", &wc, &deps) == -1)
		return -1;
	client_use(&server, admin);
	return 0;
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
	    cmocka_unit_test(test_every_answer_says_what_the_cache_did),
	    cmocka_unit_test(test_a_hung_database_is_answered_from_the_stale_copy),
	    cmocka_unit_test(test_a_read_with_no_copy_fails_fast_while_the_database_hangs),
	    cmocka_unit_test(test_a_write_fails_fast_while_the_database_hangs),
	    cmocka_unit_test(test_a_write_before_the_outage_never_lets_the_old_value_out),
	    cmocka_unit_test(test_a_hot_key_is_refreshed_before_it_expires),
	    cmocka_unit_test(test_with_the_breaker_open_reads_and_writes_answer_at_once),
	    cmocka_unit_test(test_a_write_redis_missed_drops_only_what_it_changed),
	    cmocka_unit_test(test_warming_refetches_the_keys_hot_in_the_last_window),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
