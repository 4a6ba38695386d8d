/* test_dashboard.c: the dashboard's history of the region and its JSON (src/dashboard.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"

#define START_S UINT64_C(1700000000)
#define T0 (START_S * 1000 + 500)

struct fixture {
	struct shm_region *r;
	struct dashboard *d;
};

static int
setup(void **state)
{
	char err[256];
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->r = shm_create(err, sizeof(err))) == NULL ||
	    (f->d = dashboard_new()) == NULL)
		return -1;
	f->r->start_time_s = START_S;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	dashboard_free(f->d);
	shm_destroy(f->r);
	free(f);
	return 0;
}

static void
record(struct shm_region *r, enum shm_route_class c, int n, uint64_t us)
{
	int i;

	for (i = 0; i < n; i++)
		shm_record_request(r, c, 200, us);
}

static json_t *
render(struct fixture *f, uint64_t now_ms, int chart)
{
	struct buf b;
	json_error_t err;
	json_t *doc;

	buf_init(&b);
	dashboard_json(&b, f->d, f->r, now_ms, 1000, chart);
	buf_appendc(&b, '\0');
	doc = json_loads(b.data, 0, &err);
	if (doc == NULL)
		fail_msg("not JSON (%s): %.200s", err.text, b.data);
	buf_free(&b);
	return doc;
}

static json_t *
class_of(json_t *doc, const char *name)
{
	json_t *classes = json_object_get(doc, "classes");
	size_t i;

	for (i = 0; i < json_array_size(classes); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(classes, i), "class")),
			   name) == 0)
			return json_array_get(classes, i);
	fail_msg("no class %s", name);
	return NULL;
}

static double
num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		fail_msg("%s is not a number", key);
	return json_number_value(v);
}

static void
test_second_and_minute_come_from_the_samples(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *h, *s;

	record(f->r, SHM_CLASS_HEALTH, 10, 1000); /* before the first sample: total only */
	dashboard_tick(f->d, f->r, T0);
	record(f->r, SHM_CLASS_HEALTH, 20, 5000);
	dashboard_tick(f->d, f->r, T0 + 1000);
	record(f->r, SHM_CLASS_HEALTH, 3, 5000); /* after the last sample: total only */

	doc = render(f, T0 + 1200, 1);
	h = class_of(doc, "health");
	assert_int_equal((int)num(h, "total"), 33);
	assert_int_equal((int)num(h, "windowRequests"), 20);
	assert_true(num(h, "ratePerSecond") > 19.99 && num(h, "ratePerSecond") < 20.01);
	/* 5 ms within the histogram's 1/32 */
	assert_true(num(h, "p50") > 4.8 && num(h, "p50") < 5.2);
	assert_true(num(h, "p99") > 4.8 && num(h, "p99") < 5.2);
	assert_int_equal((int)num(class_of(doc, "list"), "windowRequests"), 0);

	s = json_object_get(doc, "series");
	assert_int_equal(json_array_size(json_object_get(s, "t")), 1);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(s, "t"), 0)),
			 (json_int_t)(T0 / 1000 + 1));
	h = json_object_get(json_object_get(s, "classes"), "health");
	assert_non_null(h);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(h, "rate"), 0)), 20);
	/* classes without a request in the series are left out */
	assert_null(json_object_get(json_object_get(s, "classes"), "list"));
	assert_int_equal((int)num(doc, "uptimeSeconds"), 1);
	assert_true(json_is_true(json_object_get(doc, "chartLibrary")));
	json_decref(doc);
}

static void
test_minute_slides_and_series_is_bounded(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *s;
	int i;

	for (i = 0; i <= DASHBOARD_SERIES + 20; i++) {
		record(f->r, SHM_CLASS_LIST, 1, 2000);
		dashboard_tick(f->d, f->r, T0 + (uint64_t)i * 1000);
	}
	doc = render(f, T0 + (uint64_t)i * 1000, 0);
	/* the newest sample minus the one DASHBOARD_WINDOW seconds before it */
	assert_int_equal((int)num(class_of(doc, "list"), "windowRequests"), DASHBOARD_WINDOW);
	assert_int_equal((int)num(doc, "windowSeconds"), DASHBOARD_WINDOW);
	assert_int_equal((int)num(class_of(doc, "list"), "total"), DASHBOARD_SERIES + 21);
	s = json_object_get(doc, "series");
	assert_int_equal(json_array_size(json_object_get(s, "t")), DASHBOARD_SERIES);
	/* oldest first */
	assert_true(
	    json_integer_value(json_array_get(json_object_get(s, "t"), 0)) <
	    json_integer_value(json_array_get(json_object_get(s, "t"), DASHBOARD_SERIES - 1)));
	assert_true(json_is_false(json_object_get(doc, "chartLibrary")));
	json_decref(doc);
}

static void
test_cache_breakers_workers_inflight(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *c, *b;

	atomic_store(&f->r->cache[SHM_RES_CLINIC].l1_hits, 3);
	atomic_store(&f->r->cache[SHM_RES_CLINIC].l2_hits, 1);
	atomic_store(&f->r->cache[SHM_RES_CLINIC].misses, 4);
	atomic_store(&f->r->breakers[SHM_DEP_REDIS].word, SHM_BREAKER_OPEN);
	atomic_store(&f->r->breakers[SHM_DEP_REDIS].opens, 2);
	atomic_store(&f->r->worker_restarts, 5);
	atomic_store(&f->r->db_slow_commands, 7);
	shm_worker_claim(f->r, 0, 1234);
	atomic_store(&f->r->workers[0].inflight, 3);
	/* a free slot's leftover does not count */
	atomic_store(&f->r->workers[1].inflight, 9);
	dashboard_tick(f->d, f->r, T0);

	doc = render(f, T0, 1);
	c = json_object_get(json_array_get(json_object_get(doc, "cache"), SHM_RES_CLINIC),
			    "sinceStart");
	assert_int_equal((int)num(c, "memoryHits"), 3);
	assert_int_equal((int)num(c, "redisHits"), 1);
	assert_int_equal((int)num(c, "misses"), 4);
	assert_true(num(c, "hitRate") > 49.99 && num(c, "hitRate") < 50.01);
	/* no lookup: no rate */
	c = json_object_get(json_array_get(json_object_get(doc, "cache"), SHM_RES_LIST),
			    "sinceStart");
	assert_true(json_is_null(json_object_get(c, "hitRate")));
	b = json_array_get(json_object_get(doc, "breakers"), SHM_DEP_REDIS);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "OPEN");
	assert_int_equal((int)num(b, "opens"), 2);
	b = json_array_get(json_object_get(doc, "breakers"), SHM_DEP_MONGODB);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "CLOSED");
	assert_int_equal((int)num(json_object_get(doc, "workers"), "restarts"), 5);
	assert_int_equal((int)num(json_object_get(doc, "workers"), "live"), 1);
	assert_int_equal((int)num(doc, "inflight"), 3);
	assert_int_equal((int)num(json_object_get(doc, "slowQueries"), "total"), 7);
	assert_int_equal((int)num(json_object_get(doc, "slowQueries"), "thresholdMs"), 1000);
	json_decref(doc);
}

static void
test_recent_slow_queries_newest_first_and_bounded(void **state)
{
	struct fixture *f = *state;
	char name[64], long_name[200];
	json_t *doc, *recent, *q;
	int i;

	for (i = 0; i < SHM_SLOW_RECENT + 5; i++) {
		snprintf(name, sizeof(name), "find%d", i);
		shm_slow_add(f->r, T0 + (uint64_t)i, 150000 + (uint64_t)i, name, "clinics",
			     i % 2 ? "req-odd" : NULL);
	}
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	shm_slow_add(f->r, T0 + 100, 2500, "aggregate", long_name, "\"quoted\"");

	doc = render(f, T0 + 200, 1);
	recent = json_object_get(json_object_get(doc, "slowQueries"), "recent");
	assert_int_equal(json_array_size(recent), SHM_SLOW_RECENT);
	q = json_array_get(recent, 0);
	assert_string_equal(json_string_value(json_object_get(q, "command")), "aggregate");
	/* cut to its field, still valid JSON with the quotes escaped */
	assert_int_equal(strlen(json_string_value(json_object_get(q, "collection"))),
			 SHM_SLOW_COLLECTION - 1);
	assert_string_equal(json_string_value(json_object_get(q, "requestId")), "\"quoted\"");
	assert_true(num(q, "ms") > 2.49 && num(q, "ms") < 2.51);
	q = json_array_get(recent, 1);
	snprintf(name, sizeof(name), "find%d", SHM_SLOW_RECENT + 4);
	assert_string_equal(json_string_value(json_object_get(q, "command")), name);
	assert_string_equal(json_string_value(json_object_get(q, "requestId")), "");
	/* the oldest kept: the earliest ones were replaced */
	q = json_array_get(recent, SHM_SLOW_RECENT - 1);
	snprintf(name, sizeof(name), "find%d", 6);
	assert_string_equal(json_string_value(json_object_get(q, "command")), name);
	assert_string_equal(json_string_value(json_object_get(q, "requestId")), "");
	q = json_array_get(recent, 2); /* find19 */
	assert_string_equal(json_string_value(json_object_get(q, "requestId")), "req-odd");
	json_decref(doc);
}

static void
test_empty_history_renders(void **state)
{
	struct fixture *f = *state;
	json_t *doc = render(f, T0, 1);

	assert_int_equal(json_array_size(json_object_get(doc, "classes")), SHM_CLASS_MAX);
	assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "series"), "t")), 0);
	assert_int_equal((int)num(class_of(doc, "health"), "ratePerSecond"), 0);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(doc, "slowQueries"), "recent")), 0);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_second_and_minute_come_from_the_samples, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_minute_slides_and_series_is_bounded, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cache_breakers_workers_inflight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recent_slow_queries_newest_first_and_bounded,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_history_renders, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
