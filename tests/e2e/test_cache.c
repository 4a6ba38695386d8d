/*
 * test_cache.c: the two-level read cache end to end: where answers come from (X-Cache and the
 * counters), every invalidation rule, two instances on one Redis and one FerretDB, the forced
 * cache-aside race, 304, 412, gzip both ways, Redis stopped, hung and restarted, and scope
 * isolation of cached lists.
 *
 * One FerretDB and one Redis; three servers on them:
 *	one   workers 1, debug_routes, a 1 s breaker timeout: one worker, so a repeated GET is
 *	      deterministically answered from that worker's memory;
 *	two   workers 2: a write must be seen at once by every worker; also instance A;
 *	b     workers 1: instance B of the two-instance tests.
 * Worker memory is used only while the monitor's subscription holds its lease, so a test that
 * wants HIT-L1 polls for it. The bound on a stale read from another instance is the pub/sub
 * delivery; with B's monitor hung it is the lease (LEASE_MS, readcache.c's
 * READCACHE_LEASE_MS): the tests wait that long before they require the new value.
 * The Redis tests run last: they stop and restart the shared Redis.
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
#include <signal.h>
#include <zlib.h>

#include "client.h"
#include "harness.h"

#define V1 "/api/v1"
#define ORGS V1 "/organizations"
#define STATS V1 "/performance/cache/stats"
#define LEASE_MS 100	    /* READCACHE_LEASE_MS */
#define WAIT_L1_MS 5000	    /* the first subscription after a start, or after Redis returns */
#define CROSS_BOUND_MS 1000 /* the stated bound for another instance (pub/sub delivery) */

static struct harness_deps deps;
static struct harness_server one, two, b;
static char *admin;

/* --- helpers ------------------------------------------------------------------------------ */

static char *
strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

/* One request; extra: NULL-terminated header lines or NULL. */
static void
call_h(const struct harness_server *s, const char *method, const char *path, const char *token,
       const char *const *extra, const char *body, struct harness_response *r)
{
	char *url = strf("%s%s", s->url, path);

	if (harness_request_token(method, url, token, extra, body, body ? strlen(body) : 0, r) ==
	    -1)
		fail_msg("%s %s: %s", method, url, r->error);
	free(url);
}

static void
call(const struct harness_server *s, const char *method, const char *path, const char *token,
     const char *body, struct harness_response *r)
{
	call_h(s, method, path, token, NULL, body, r);
}

static const char *
xcache(const struct harness_response *r)
{
	const char *v = harness_header(r, "x-cache");

	return v != NULL ? v : "(none)";
}

static bson_t *
expect_json(const struct harness_response *r, long status)
{
	bson_t *doc;

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if ((doc = harness_json(r)) == NULL)
		fail_msg("not a JSON object: %s", r->body);
	return doc;
}

/* The string at path of a 200 answer's body (copied; caller frees). */
static char *
body_str(const struct harness_response *r, const char *path)
{
	bson_t *doc = expect_json(r, 200);
	const char *v = harness_json_str(doc, path);
	char *out = strdup(v != NULL ? v : "(absent)");

	bson_destroy(doc);
	return out;
}

static int64_t
body_int(const struct harness_response *r, const char *path)
{
	bson_t *doc = expect_json(r, 200);
	int64_t v;

	if (harness_json_int(doc, path, &v) == -1)
		fail_msg("no integer %s in %s", path, r->body);
	bson_destroy(doc);
	return v;
}

/* Number of entries of the body's `data` array. */
static int
data_count(const struct harness_response *r)
{
	bson_t *doc = expect_json(r, 200);
	bson_iter_t it, arr;
	int n = 0;

	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("no data array in %s", r->body);
	while (bson_iter_next(&arr))
		n++;
	bson_destroy(doc);
	return n;
}

/* 1 when the body mentions id (as a string value anywhere). */
static int
mentions(const struct harness_response *r, const char *id)
{
	char *q = strf("\"%s\"", id);
	int found = strstr(r->body, q) != NULL;

	free(q);
	return found;
}

static void
create(const struct harness_server *s, const char *path, const char *body, char id[25])
{
	struct harness_response r;
	bson_t *doc;
	const char *v;

	call(s, "POST", path, admin, body, &r);
	doc = expect_json(&r, 201);
	if ((v = harness_json_str(doc, "id")) == NULL || strlen(v) != 24)
		fail_msg("POST %s: no id in %s", path, r.body);
	snprintf(id, 25, "%s", v);
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
create_org(const char *name, char id[25])
{
	char *body = strf("{\"name\":\"%s\"}", name);

	create(&one, ORGS, body, id);
	free(body);
}

static void
create_clinic(const char *org, const char *code, const char *extra, char id[25])
{
	char *path = strf(ORGS "/%s/clinics", org);
	char *body = strf("{\"name\":\"Clinic %s\",\"code\":\"%s\"%s}", code, code,
			  extra != NULL ? extra : "");

	create(&one, path, body, id);
	free(path);
	free(body);
}

static void
create_assignment(const char *provider, const char *clinic, char id[25])
{
	char *body = strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}",
			  provider, clinic);

	create(&one, V1 "/assignments", body, id);
	free(body);
}

static void
patch(const struct harness_server *s, const char *path, const char *body)
{
	struct harness_response r;

	call(s, "PATCH", path, admin, body, &r);
	if (r.status != 200)
		fail_msg("PATCH %s: %ld %s", path, r.status, r.body);
	harness_response_free(&r);
}

static void
patch_org_name(const struct harness_server *s, const char *id, const char *name)
{
	char *path = strf(ORGS "/%s", id);
	char *body = strf("{\"name\":\"%s\"}", name);

	patch(s, path, body);
	free(path);
	free(body);
}

/* GET path until X-Cache says HIT-L1 (WAIT_L1_MS at most); r holds that answer. */
static void
get_until_l1(const struct harness_server *s, const char *path, const char *token,
	     struct harness_response *r)
{
	uint64_t deadline = harness_now_ms() + WAIT_L1_MS;

	for (;;) {
		call(s, "GET", path, token, NULL, r);
		if (r->status != 200)
			fail_msg("GET %s: %ld %s", path, r->status, r->body);
		if (strcmp(xcache(r), "HIT-L1") == 0)
			return;
		if (harness_now_ms() > deadline)
			fail_msg("GET %s never came from worker memory (last X-Cache %s)", path,
				 xcache(r));
		harness_response_free(r);
		harness_sleep_ms(20);
	}
}

/* A name of the cache stats of s: GET /performance/cache/stats, `resource.field`. */
static int64_t
cache_stat(const struct harness_server *s, const char *resource, const char *field)
{
	struct harness_response r;
	char *path = strf("%s.%s", resource, field);
	int64_t v;

	call(s, "GET", STATS, admin, NULL, &r);
	v = body_int(&r, path);
	harness_response_free(&r);
	free(path);
	return v;
}

struct counters {
	int64_t l1, l2, miss, sets, errors, hits;
};

static void
counters_of(const struct harness_server *s, const char *resource, struct counters *c)
{
	struct harness_response r;
	bson_t *doc;
	char path[64];
	const char *names[] = {"l1Hits", "l2Hits", "misses", "sets", "errors", "hits"};
	int64_t *vals[] = {&c->l1, &c->l2, &c->miss, &c->sets, &c->errors, &c->hits};
	size_t i;

	call(s, "GET", STATS, admin, NULL, &r);
	doc = expect_json(&r, 200);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s.%s", resource, names[i]);
		if (harness_json_int(doc, path, vals[i]) == -1)
			fail_msg("no %s in %s", path, r.body);
	}
	bson_destroy(doc);
	harness_response_free(&r);
}

/* The pid of the monitor of server s (its master's child named "monitor"), or 0. */
static pid_t
monitor_of(const struct harness_server *s)
{
	return harness_child_by_comm(s->proc.pid, "monitor");
}

/* --- where answers come from -------------------------------------------------------------- */

static void
test_repeated_get_is_miss_then_a_hit_then_hit_l1_and_the_counters_follow(void **state)
{
	struct harness_response r;
	struct counters before, after;
	char id[25], *path, *first;
	int64_t l1 = 0, l2 = 0, miss = 0;
	int i;

	(void)state;
	create_org("Counted Dental", id);
	path = strf(ORGS "/%s", id);
	counters_of(&one, "organization", &before);

	call(&one, "GET", path, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	miss++;
	first = strdup(r.body);
	harness_response_free(&r);

	call(&one, "GET", path, admin, NULL, &r);
	if (strcmp(xcache(&r), "HIT-L1") == 0)
		l1++;
	else if (strcmp(xcache(&r), "HIT-L2") == 0)
		l2++;
	else
		fail_msg("second GET: X-Cache %s, want a hit", xcache(&r));
	assert_string_equal(r.body, first);
	harness_response_free(&r);

	/* one worker: once its memory is trusted, every repeat stays there */
	get_until_l1(&one, path, admin, &r);
	harness_response_free(&r);
	counters_of(&one, "organization", &after);
	l1 = after.l1 - before.l1;
	l2 = after.l2 - before.l2;
	for (i = 0; i < 5; i++) {
		call(&one, "GET", path, admin, NULL, &r);
		assert_string_equal(xcache(&r), "HIT-L1");
		assert_string_equal(r.body, first);
		harness_response_free(&r);
	}
	counters_of(&one, "organization", &after);
	assert_int_equal(after.miss - before.miss, miss);
	assert_int_equal(after.sets - before.sets, 1);
	assert_int_equal(after.l1 - before.l1, l1 + 5);
	assert_int_equal(after.l2 - before.l2, l2);
	assert_int_equal(after.hits - before.hits, l1 + 5 + l2);
	assert_int_equal(after.errors - before.errors, 0);
	free(first);
	free(path);
}

static void
test_cache_stats_have_the_guides_shape_per_resource_and_total(void **state)
{
	static const char *const resources[] = {"organization", "clinic", "assignment", "list",
						"stats",	"total",  NULL};
	static const char *const fields[] = {"hits", "l1Hits",	"l2Hits", "misses",
					     "sets", "deletes", "errors", NULL};
	struct harness_response r;
	bson_t *doc;
	char path[64];
	int64_t v, sum;
	int i, k;

	(void)state;
	call(&one, "GET", STATS, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	harness_response_free(&r);
	call(&one, "GET", STATS, admin, NULL, &r);
	doc = expect_json(&r, 200);
	for (i = 0; resources[i] != NULL; i++) {
		const char *rate;

		snprintf(path, sizeof(path), "%s.hitRate", resources[i]);
		rate = harness_json_str(doc, path);
		if (rate == NULL || strlen(rate) < 5 || rate[strlen(rate) - 1] != '%' ||
		    strchr(rate, '.') == NULL || strlen(strchr(rate, '.')) != 4)
			fail_msg("%s is %s, want like \"85.23%%\"", path, rate ? rate : "absent");
		for (k = 0; fields[k] != NULL; k++) {
			snprintf(path, sizeof(path), "%s.%s", resources[i], fields[k]);
			if (harness_json_int(doc, path, &v) == -1 || v < 0)
				fail_msg("no counter %s in %s", path, r.body);
		}
	}
	/* total is the sum of the resources */
	for (k = 0; fields[k] != NULL; k++) {
		sum = 0;
		for (i = 0; resources[i + 1] != NULL; i++) {
			snprintf(path, sizeof(path), "%s.%s", resources[i], fields[k]);
			harness_json_int(doc, path, &v);
			sum += v;
		}
		snprintf(path, sizeof(path), "total.%s", fields[k]);
		harness_json_int(doc, path, &v);
		assert_int_equal(v, sum);
	}
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_metrics_count_cache_operations_like_the_stats(void **state)
{
	struct harness_prom p;
	double v;
	int64_t l1;

	(void)state;
	l1 = cache_stat(&one, "organization", "l1Hits");
	if (harness_prom_fetch(one.metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	assert_non_null(harness_prom_type(&p, "enterprise_cache_operations_total"));
	assert_string_equal(harness_prom_type(&p, "enterprise_cache_operations_total"), "counter");
	assert_int_equal(harness_prom_sum(&p, "enterprise_cache_operations_total",
					  "resource=\"organization\",result=\"l1_hit\"", &v),
			 1);
	assert_true(v >= (double)l1);
	assert_true(v > 0);
	harness_prom_free(&p);
}

/* --- invalidation ------------------------------------------------------------------------- */

static void
test_patch_is_seen_by_every_worker_at_once(void **state)
{
	struct harness_response r;
	char id[25], *path, *name;
	int i, l1 = 0;

	(void)state;
	create_org("Before Dental", id);
	path = strf(ORGS "/%s", id);
	/* fill both workers' memory: new connections land on either worker */
	get_until_l1(&two, path, admin, &r);
	harness_response_free(&r);
	for (i = 0; i < 20; i++) {
		call(&two, "GET", path, admin, NULL, &r);
		l1 += strcmp(xcache(&r), "HIT-L1") == 0;
		harness_response_free(&r);
	}
	assert_true(l1 > 0);

	patch_org_name(&two, id, "After Dental");
	call(&two, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "After Dental");
	assert_string_equal(xcache(&r), "MISS");
	free(name);
	harness_response_free(&r);
	for (i = 0; i < 10; i++) {
		call(&two, "GET", path, admin, NULL, &r);
		name = body_str(&r, "name");
		if (strcmp(name, "After Dental") != 0)
			fail_msg("GET %d after the PATCH: %s (X-Cache %s)", i, name, xcache(&r));
		free(name);
		harness_response_free(&r);
	}
	free(path);
}

static void
test_an_organization_write_invalidates_organization_lists_and_search(void **state)
{
	struct harness_response r;
	char id[25], *member, *search;

	(void)state;
	create_org("Zebrafinch Dental", id);
	member = harness_token("org_admin", id, "listing-admin");
	search = strf(ORGS "/search?q=Zebrafinch");

	get_until_l1(&one, ORGS, member, &r);
	assert_int_equal(data_count(&r), 1);
	assert_non_null(strstr(r.body, "Zebrafinch Dental"));
	harness_response_free(&r);
	get_until_l1(&one, search, admin, &r);
	assert_non_null(strstr(r.body, "Zebrafinch Dental"));
	harness_response_free(&r);

	patch_org_name(&one, id, "Zebrafinch Renamed");
	call(&one, "GET", ORGS, member, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_null(strstr(r.body, "Zebrafinch Dental"));
	assert_non_null(strstr(r.body, "Zebrafinch Renamed"));
	harness_response_free(&r);
	call(&one, "GET", search, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(xcache(&r), "MISS");
	assert_null(strstr(r.body, "Zebrafinch Dental"));
	assert_non_null(strstr(r.body, "Zebrafinch Renamed"));
	harness_response_free(&r);
	free(member);
	free(search);
}

static void
test_a_clinic_write_invalidates_its_organizations_stats_and_clinic_lists(void **state)
{
	struct harness_response r;
	char org[25], c1[25], c2[25], *stats, *list, *cpath;

	(void)state;
	create_org("Stats Dental", org);
	create_clinic(org, "ST1", NULL, c1);
	stats = strf(ORGS "/%s/stats", org);
	list = strf(ORGS "/%s/clinics", org);
	cpath = strf(V1 "/clinics/%s", c1);

	get_until_l1(&one, stats, admin, &r);
	assert_int_equal(body_int(&r, "clinics.total"), 1);
	harness_response_free(&r);
	get_until_l1(&one, list, admin, &r);
	assert_int_equal(data_count(&r), 1);
	harness_response_free(&r);

	/* a create */
	create_clinic(org, "ST2", NULL, c2);
	call(&one, "GET", stats, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(body_int(&r, "clinics.total"), 2);
	harness_response_free(&r);
	call(&one, "GET", list, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(data_count(&r), 2);
	harness_response_free(&r);

	/* a patch */
	get_until_l1(&one, stats, admin, &r);
	harness_response_free(&r);
	get_until_l1(&one, list, admin, &r);
	harness_response_free(&r);
	patch(&one, cpath, "{\"status\":\"INACTIVE\"}");
	call(&one, "GET", stats, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(body_int(&r, "clinics.byStatus.INACTIVE"), 1);
	harness_response_free(&r);
	call(&one, "GET", list, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_non_null(strstr(r.body, "INACTIVE"));
	harness_response_free(&r);
	free(stats);
	free(list);
	free(cpath);
}

static void
test_an_assignment_write_invalidates_provider_clinics_clinic_providers_and_stats(void **state)
{
	struct harness_response r;
	char org[25], clinic[25], asg[25], *stats, *pclinics, *cproviders, *apath;

	(void)state;
	create_org("Assigned Dental", org);
	create_clinic(org, "AS1", NULL, clinic);
	stats = strf(ORGS "/%s/stats", org);
	pclinics = strf(V1 "/providers/prov-cache-1/clinics");
	cproviders = strf(V1 "/clinics/%s/providers", clinic);

	get_until_l1(&one, pclinics, admin, &r);
	assert_int_equal(data_count(&r), 0);
	harness_response_free(&r);
	get_until_l1(&one, cproviders, admin, &r);
	assert_int_equal(data_count(&r), 0);
	harness_response_free(&r);
	get_until_l1(&one, stats, admin, &r);
	assert_int_equal(body_int(&r, "activeAssignments"), 0);
	harness_response_free(&r);

	create_assignment("prov-cache-1", clinic, asg);
	apath = strf(V1 "/assignments/%s", asg);
	call(&one, "GET", pclinics, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(data_count(&r), 1);
	assert_true(mentions(&r, clinic));
	harness_response_free(&r);
	call(&one, "GET", cproviders, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(data_count(&r), 1);
	assert_non_null(strstr(r.body, "prov-cache-1"));
	harness_response_free(&r);
	call(&one, "GET", stats, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	assert_int_equal(body_int(&r, "activeAssignments"), 1);
	harness_response_free(&r);

	/* the deactivation (DELETE) takes them back */
	get_until_l1(&one, pclinics, admin, &r);
	harness_response_free(&r);
	get_until_l1(&one, cproviders, admin, &r);
	harness_response_free(&r);
	get_until_l1(&one, stats, admin, &r);
	harness_response_free(&r);
	call(&one, "DELETE", apath, admin, NULL, &r);
	if (r.status != 204 && r.status != 200)
		fail_msg("DELETE %s: %ld %s", apath, r.status, r.body);
	harness_response_free(&r);
	call(&one, "GET", pclinics, admin, NULL, &r);
	assert_int_equal(data_count(&r), 0);
	harness_response_free(&r);
	call(&one, "GET", cproviders, admin, NULL, &r);
	assert_int_equal(data_count(&r), 0);
	harness_response_free(&r);
	call(&one, "GET", stats, admin, NULL, &r);
	assert_int_equal(body_int(&r, "activeAssignments"), 0);
	harness_response_free(&r);
	free(stats);
	free(pclinics);
	free(cproviders);
	free(apath);
}

/* --- two instances ------------------------------------------------------------------------ */

/* An organization read through A, then through B until B answers from its memory. */
static char *
two_instances_setup(const char *name, char id[25])
{
	struct harness_response r;
	char *path;

	create_org(name, id);
	path = strf(ORGS "/%s", id);
	call(&two, "GET", path, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	get_until_l1(&b, path, admin, &r);
	harness_response_free(&r);
	return path;
}

static void
test_b_answers_from_redis_what_a_stored(void **state)
{
	struct harness_response r;
	char id[25], *path;

	(void)state;
	create_org("Shared Dental", id);
	path = strf(ORGS "/%s", id);
	call(&two, "GET", path, admin, NULL, &r);
	assert_string_equal(xcache(&r), "MISS");
	harness_response_free(&r);
	call(&b, "GET", path, admin, NULL, &r);
	assert_string_equal(xcache(&r), "HIT-L2");
	harness_response_free(&r);
	free(path);
}

static void
test_a_write_through_a_is_seen_through_b_within_the_bound(void **state)
{
	struct harness_response r;
	char id[25], *path, *name;
	uint64_t t0, seen = 0;
	int stale = 0;

	(void)state;
	path = two_instances_setup("Cross Dental", id);
	patch_org_name(&two, id, "Cross Renamed");
	t0 = harness_now_ms();
	while (harness_now_ms() - t0 < CROSS_BOUND_MS) {
		call(&b, "GET", path, admin, NULL, &r);
		name = body_str(&r, "name");
		harness_response_free(&r);
		if (strcmp(name, "Cross Renamed") == 0) {
			seen = harness_now_ms() - t0;
			free(name);
			break;
		}
		stale++;
		free(name);
	}
	print_message("  B saw A's write %llu ms after A answered (%d stale reads before)\n",
		      (unsigned long long)seen, stale);
	if (seen == 0 && stale > 0)
		fail_msg("B still served the old name %d ms after A's write", CROSS_BOUND_MS);
	assert_true(seen < CROSS_BOUND_MS);
	free(path);
}

static void
test_with_bs_monitor_hung_b_stops_using_worker_memory(void **state)
{
	struct harness_response r;
	char id[25], *path, *name;
	pid_t mon;
	int i;

	(void)state;
	path = two_instances_setup("Hung Monitor Dental", id);
	mon = monitor_of(&b);
	assert_true(mon > 0);
	assert_int_equal(kill(mon, SIGSTOP), 0);
	/* the lease it holds runs out; nothing renews it */
	harness_sleep_ms(2 * LEASE_MS);
	patch_org_name(&two, id, "Hung Monitor Renamed");
	for (i = 0; i < 10; i++) {
		call(&b, "GET", path, admin, NULL, &r);
		name = body_str(&r, "name");
		if (strcmp(name, "Hung Monitor Renamed") != 0 ||
		    strcmp(xcache(&r), "HIT-L1") == 0) {
			kill(mon, SIGCONT);
			fail_msg("B with a hung monitor: %s from %s", name, xcache(&r));
		}
		free(name);
		harness_response_free(&r);
	}
	assert_int_equal(kill(mon, SIGCONT), 0);
	get_until_l1(&b, path, admin, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Hung Monitor Renamed");
	free(name);
	harness_response_free(&r);
	free(path);
}

static void
test_with_bs_monitor_killed_b_never_serves_the_old_value(void **state)
{
	struct harness_response r;
	char id[25], *path, *name;
	uint64_t deadline;
	pid_t mon, again = 0;
	int i;

	(void)state;
	path = two_instances_setup("Killed Monitor Dental", id);
	mon = monitor_of(&b);
	assert_true(mon > 0);
	assert_int_equal(kill(mon, SIGKILL), 0);
	patch_org_name(&two, id, "Killed Monitor Renamed");
	for (i = 0; i < 20; i++) {
		call(&b, "GET", path, admin, NULL, &r);
		name = body_str(&r, "name");
		if (strcmp(name, "Killed Monitor Renamed") != 0)
			fail_msg("B with its monitor killed: read %d: %s from %s", i, name,
				 xcache(&r));
		free(name);
		harness_response_free(&r);
	}
	/* the master restarts it; worker memory comes back with it */
	deadline = harness_now_ms() + WAIT_L1_MS;
	while (harness_now_ms() < deadline && ((again = monitor_of(&b)) == 0 || again == mon))
		harness_sleep_ms(20);
	assert_true(again != 0 && again != mon);
	get_until_l1(&b, path, admin, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Killed Monitor Renamed");
	free(name);
	harness_response_free(&r);
	free(path);
}

/* --- the cache-aside race ----------------------------------------------------------------- */

struct slow_reader {
	const char *path;
	struct harness_response r;
	int rc;
};

static void *
slow_reader_main(void *arg)
{
	struct slow_reader *s = arg;
	const char *headers[] = {"x-debug-fill-delay-ms: 800", NULL};
	char *url = strf("%s%s", one.url, s->path);

	s->rc = harness_request_token("GET", url, admin, headers, NULL, 0, &s->r);
	free(url);
	return NULL;
}

static void
test_a_reader_that_fetched_before_a_write_cannot_put_the_old_value_back(void **state)
{
	struct slow_reader s;
	struct harness_response r;
	pthread_t tid;
	char id[25], *path, *name;

	(void)state;
	create_org("Race Before", id);
	path = strf(ORGS "/%s", id);
	memset(&s, 0, sizeof(s));
	s.path = path;
	assert_int_equal(pthread_create(&tid, NULL, slow_reader_main, &s), 0);
	harness_sleep_ms(200);
	patch_org_name(&one, id, "Race After");
	pthread_join(tid, NULL);
	assert_int_equal(s.rc, 0);
	/* it read before the write: the old value, from the database, then filled slowly */
	name = body_str(&s.r, "name");
	assert_string_equal(name, "Race Before");
	assert_string_equal(xcache(&s.r), "MISS");
	free(name);
	harness_response_free(&s.r);

	call(&one, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Race After");
	assert_string_equal(xcache(&r), "MISS"); /* the stale fill was refused */
	free(name);
	harness_response_free(&r);
	call(&one, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Race After");
	free(name);
	harness_response_free(&r);
	free(path);
}

static double
finds_of(const struct harness_server *s)
{
	struct harness_prom p;
	double v = -1;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_db_commands_total", "command=\"find\"", &v);
	harness_prom_free(&p);
	return v;
}

#define COALESCED 6

static void
test_concurrent_misses_of_one_key_send_one_query(void **state)
{
	struct slow_reader readers[COALESCED];
	pthread_t tids[COALESCED];
	char id[25], *path, *first = NULL;
	double before, after;
	int i;

	(void)state;
	create_org("Coalesced Dental", id);
	path = strf(ORGS "/%s", id);
	before = finds_of(&one);
	/* the first fetch is held 800 ms after its query; the others arrive meanwhile */
	for (i = 0; i < COALESCED; i++) {
		memset(&readers[i], 0, sizeof(readers[i]));
		readers[i].path = path;
		assert_int_equal(pthread_create(&tids[i], NULL, slow_reader_main, &readers[i]), 0);
		harness_sleep_ms(i == 0 ? 200 : 20);
	}
	for (i = 0; i < COALESCED; i++) {
		char *name;

		pthread_join(tids[i], NULL);
		assert_int_equal(readers[i].rc, 0);
		assert_int_equal(readers[i].r.status, 200);
		name = body_str(&readers[i].r, "name");
		assert_string_equal(name, "Coalesced Dental");
		free(name);
		if (first == NULL)
			first = strdup(readers[i].r.body);
		else
			assert_string_equal(readers[i].r.body, first);
		harness_response_free(&readers[i].r);
	}
	/* metrics are recorded after the responses: give the last one a moment */
	harness_sleep_ms(100);
	after = finds_of(&one);
	if (after - before != 1)
		fail_msg("%d concurrent reads of one key sent %.0f finds, want 1", COALESCED,
			 after - before);
	free(first);
	free(path);
}

static void
test_a_read_after_a_write_does_not_follow_a_fetch_from_before_it(void **state)
{
	struct slow_reader s;
	struct harness_response r;
	pthread_t tid;
	char id[25], *path, *name;

	(void)state;
	create_org("Follow Before", id);
	path = strf(ORGS "/%s", id);
	memset(&s, 0, sizeof(s));
	s.path = path;
	assert_int_equal(pthread_create(&tid, NULL, slow_reader_main, &s), 0);
	harness_sleep_ms(200);
	patch_org_name(&one, id, "Follow After");
	/* the slow fetch of the old name is still in flight: this read must not wait for it */
	call(&one, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Follow After");
	free(name);
	harness_response_free(&r);
	pthread_join(tid, NULL);
	harness_response_free(&s.r);
	free(path);
}

static void
test_the_fill_delay_header_does_nothing_without_debug_routes(void **state)
{
	struct harness_response r;
	const char *headers[] = {"x-debug-fill-delay-ms: 3000", NULL};
	char id[25], *path;

	(void)state;
	create_org("No Delay Dental", id);
	path = strf(ORGS "/%s", id);
	call_h(&two, "GET", path, admin, headers, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.seconds < 1.5);
	harness_response_free(&r);
	free(path);
}

/* --- HTTP caching ------------------------------------------------------------------------- */

static void
expect_304(const struct harness_server *s, const char *path, const char *token, const char *etag,
	   const char *from)
{
	struct harness_response r;
	char *inm = strf("If-None-Match: %s", etag);
	const char *headers[] = {inm, NULL};

	call_h(s, "GET", path, token, headers, NULL, &r);
	if (r.status != 304)
		fail_msg("If-None-Match from %s: %ld (X-Cache %s)", from, r.status, xcache(&r));
	assert_int_equal(r.body_len, 0);
	assert_non_null(harness_header(&r, "etag"));
	assert_string_equal(harness_header(&r, "etag"), etag);
	assert_string_equal(xcache(&r), from);
	harness_response_free(&r);
	free(inm);
}

static void
test_if_none_match_answers_304_from_memory_redis_and_the_database(void **state)
{
	struct harness_response r;
	char id[25], *path, *etag, *member;

	(void)state;
	create_org("Conditional Dental", id);
	path = strf(ORGS "/%s", id);
	member = harness_token("org_admin", id, "cond-admin");
	call(&one, "GET", path, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(harness_header(&r, "etag"));
	etag = strdup(harness_header(&r, "etag"));
	assert_true(etag[0] == '"'); /* strong (docs/DECISIONS.md, ETags) */
	harness_response_free(&r);

	/* another scope is another key: the same body, read from the database */
	expect_304(&one, path, member, etag, "MISS");
	/* instance B has it in Redis only */
	expect_304(&b, path, admin, etag, "HIT-L2");
	get_until_l1(&one, path, admin, &r);
	harness_response_free(&r);
	expect_304(&one, path, admin, etag, "HIT-L1");
	/* a tag that does not match: the body */
	{
		const char *headers[] = {"If-None-Match: W/\"0000\"", NULL};

		call_h(&one, "GET", path, admin, headers, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_true(r.body_len > 0);
		harness_response_free(&r);
	}
	free(etag);
	free(member);
	free(path);
}

static void
test_if_match_guards_patch_and_delete(void **state)
{
	struct harness_response r;
	char id[25], *path, *etag, *name, *h;
	int64_t version;

	(void)state;
	create_org("Guarded Dental", id);
	path = strf(ORGS "/%s", id);
	call(&one, "GET", path, admin, NULL, &r);
	etag = strdup(harness_header(&r, "etag"));
	version = body_int(&r, "version");
	harness_response_free(&r);

	{
		const char *headers[] = {"If-Match: W/\"deadbeef\"", NULL};

		call_h(&one, "PATCH", path, admin, headers, "{\"name\":\"Overwritten\"}", &r);
		assert_int_equal(r.status, 412);
		harness_response_free(&r);
	}
	call(&one, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Guarded Dental");
	assert_int_equal(body_int(&r, "version"), version);
	assert_string_equal(harness_header(&r, "etag"), etag);
	free(name);
	harness_response_free(&r);

	h = strf("If-Match: %s", etag);
	{
		const char *headers[] = {h, NULL};

		call_h(&one, "PATCH", path, admin, headers, "{\"name\":\"Guarded Renamed\"}", &r);
		assert_int_equal(r.status, 200);
		harness_response_free(&r);
		/* the same tag is stale now */
		call_h(&one, "DELETE", path, admin, headers, NULL, &r);
		assert_int_equal(r.status, 412);
		harness_response_free(&r);
	}
	call(&one, "GET", path, admin, NULL, &r);
	name = body_str(&r, "name");
	assert_string_equal(name, "Guarded Renamed");
	assert_int_equal(body_int(&r, "version"), version + 1);
	free(name);
	harness_response_free(&r);
	free(h);
	free(etag);
	free(path);
}

/* gunzips in into a new buffer; NULL when it is not gzip. */
static char *
gunzip(const char *in, size_t len, size_t *outlen)
{
	z_stream z;
	size_t cap = len * 8 + 1024;
	char *out = malloc(cap);
	int rc;

	memset(&z, 0, sizeof(z));
	if (out == NULL || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	rc = inflate(&z, Z_FINISH);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

static void
test_gzip_from_1024_bytes_and_not_below(void **state)
{
	const char *gz[] = {"Accept-Encoding: gzip", NULL};
	struct harness_response plain, zipped;
	char big[25], small[25], *body, *pad, *path, *raw;
	size_t rawlen;

	(void)state;
	pad = malloc(2001);
	memset(pad, 'x', 2000);
	pad[2000] = '\0';
	body = strf("{\"name\":\"Big Dental\",\"settings\":{\"notes\":\"%s\"}}", pad);
	create(&one, ORGS, body, big);
	free(body);
	free(pad);
	create_org("Small Dental", small);

	path = strf(ORGS "/%s", big);
	call(&one, "GET", path, admin, NULL, &plain);
	assert_int_equal(plain.status, 200);
	assert_true(plain.body_len >= 1024);
	assert_null(harness_header(&plain, "content-encoding"));
	call_h(&one, "GET", path, admin, gz, NULL, &zipped);
	assert_int_equal(zipped.status, 200);
	assert_non_null(harness_header(&zipped, "content-encoding"));
	assert_string_equal(harness_header(&zipped, "content-encoding"), "gzip");
	assert_true(zipped.body_len < plain.body_len);
	raw = gunzip(zipped.body, zipped.body_len, &rawlen);
	assert_non_null(raw);
	assert_int_equal(rawlen, plain.body_len);
	assert_memory_equal(raw, plain.body, rawlen);
	/* the compressed representation has its own strong tag: the identity's plus -gzip */
	body = strf("%.17s-gzip\"", harness_header(&plain, "etag"));
	assert_string_equal(harness_header(&zipped, "etag"), body);
	free(body);
	free(raw);
	harness_response_free(&plain);
	harness_response_free(&zipped);
	free(path);

	path = strf(ORGS "/%s", small);
	call_h(&one, "GET", path, admin, gz, NULL, &zipped);
	assert_int_equal(zipped.status, 200);
	assert_true(zipped.body_len < 1024);
	assert_null(harness_header(&zipped, "content-encoding"));
	assert_non_null(strstr(zipped.body, "Small Dental"));
	harness_response_free(&zipped);
	free(path);
}

/* --- scope isolation ---------------------------------------------------------------------- */

static void
test_cached_lists_never_cross_scopes(void **state)
{
	struct harness_response r;
	char p[25], q[25], p1[25], p2[25], q1[25], asg[25];
	char *ap, *aq, *u1, *u2;
	int i;

	(void)state;
	create_org("Scope P", p);
	create_org("Scope Q", q);
	create_clinic(p, "SP1", NULL, p1);
	create_clinic(p, "SP2", NULL, p2);
	create_clinic(q, "SQ1", NULL, q1);
	create_assignment("scope-u1", p1, asg);
	create_assignment("scope-u2", p2, asg);
	ap = harness_token("org_admin", p, "scope-admin-p");
	aq = harness_token("org_admin", q, "scope-admin-q");
	u1 = harness_token("provider", p, "scope-u1");
	u2 = harness_token("provider", p, "scope-u2");

	for (i = 0; i < 2; i++) { /* the second round comes from the cache */
		call(&one, "GET", ORGS, ap, NULL, &r);
		assert_int_equal(data_count(&r), 1);
		assert_true(mentions(&r, p));
		harness_response_free(&r);
		call(&one, "GET", V1 "/clinics", ap, NULL, &r);
		assert_int_equal(data_count(&r), 2);
		assert_true(mentions(&r, p1) && mentions(&r, p2));
		harness_response_free(&r);
	}
	for (i = 0; i < 2; i++) {
		call(&one, "GET", ORGS, aq, NULL, &r);
		assert_int_equal(data_count(&r), 1);
		assert_true(mentions(&r, q));
		assert_false(mentions(&r, p));
		harness_response_free(&r);
		call(&one, "GET", V1 "/clinics", aq, NULL, &r);
		assert_int_equal(data_count(&r), 1);
		assert_true(mentions(&r, q1));
		assert_false(mentions(&r, p1) || mentions(&r, p2));
		harness_response_free(&r);
	}
	for (i = 0; i < 2; i++) {
		call(&one, "GET", V1 "/clinics", u1, NULL, &r);
		assert_int_equal(data_count(&r), 1);
		assert_true(mentions(&r, p1));
		assert_false(mentions(&r, p2));
		harness_response_free(&r);
		call(&one, "GET", V1 "/clinics", u2, NULL, &r);
		assert_int_equal(data_count(&r), 1);
		assert_true(mentions(&r, p2));
		assert_false(mentions(&r, p1));
		harness_response_free(&r);
	}
	free(ap);
	free(aq);
	free(u1);
	free(u2);
}

/* --- Redis trouble (last: the shared Redis goes away) --------------------------------------- */

/* GETs path n times: 200 each, from the database, well under a second. */
static void
reads_survive(const char *path, const char *name, int n)
{
	struct harness_response r;
	char *got;
	int i;

	for (i = 0; i < n; i++) {
		call(&one, "GET", path, admin, NULL, &r);
		got = body_str(&r, "name");
		assert_string_equal(got, name);
		if (strcmp(xcache(&r), "MISS") != 0)
			fail_msg("read %d without Redis: X-Cache %s", i, xcache(&r));
		if (r.seconds >= 0.5)
			fail_msg("read %d without Redis took %.3f s", i, r.seconds);
		free(got);
		harness_response_free(&r);
	}
}

/* 1 when /metrics of s shows the redis breaker open. */
static int
redis_breaker_open(const struct harness_server *s)
{
	struct harness_prom p;
	double v = -1;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("/metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_circuit_breaker_state", "dependency=\"redis\"", &v);
	harness_prom_free(&p);
	return v == 1;
}

static void
test_with_redis_hung_reads_come_from_the_database_quickly(void **state)
{
	struct harness_response r;
	struct counters before, after;
	char id[25], *path;

	(void)state;
	create_org("Hung Redis Dental", id);
	path = strf(ORGS "/%s", id);
	get_until_l1(&one, path, admin, &r);
	harness_response_free(&r);
	counters_of(&one, "organization", &before);
	assert_int_equal(harness_proc_pause(&deps.redis), 0);
	harness_sleep_ms(2 * LEASE_MS);
	reads_survive(path, "Hung Redis Dental", 10);
	counters_of(&one, "organization", &after);
	assert_int_equal(harness_proc_resume(&deps.redis), 0);
	assert_true(after.errors > before.errors);
	assert_int_equal(after.miss, before.miss);
	assert_int_equal(after.l1, before.l1);
	assert_int_equal(after.l2, before.l2);
	free(path);
}

static void
test_with_redis_stopped_reads_succeed_count_errors_and_open_the_breaker(void **state)
{
	struct counters before, after;
	char id[25], *path;
	int open = 0, i;

	(void)state;
	create_org("Stopped Redis Dental", id);
	path = strf(ORGS "/%s", id);
	/* the breaker may still be open from the hang: let it close first */
	harness_sleep_ms(1500);
	reads_survive(path, "Stopped Redis Dental", 1);
	counters_of(&one, "organization", &before);
	harness_redis_stop(&deps);
	harness_sleep_ms(2 * LEASE_MS);
	for (i = 0; i < 10 && !open; i++) {
		reads_survive(path, "Stopped Redis Dental", 2);
		open = redis_breaker_open(&one);
	}
	assert_true(open);
	reads_survive(path, "Stopped Redis Dental", 3);
	counters_of(&one, "organization", &after);
	assert_true(after.errors > before.errors);
	assert_int_equal(after.miss, before.miss);
	assert_int_equal(after.l1, before.l1);
	assert_int_equal(after.l2, before.l2);
	free(path);
}

static void
test_when_redis_returns_caching_resumes_by_itself(void **state)
{
	struct harness_response r;
	char id[25], *path;
	uint64_t deadline;
	int hit = 0;

	(void)state;
	assert_int_equal(harness_redis_start(&deps), 0);
	create_org("Returned Redis Dental", id);
	path = strf(ORGS "/%s", id);
	deadline = harness_now_ms() + 5000;
	while (!hit && harness_now_ms() < deadline) {
		call(&one, "GET", path, admin, NULL, &r);
		assert_int_equal(r.status, 200);
		hit = strncmp(xcache(&r), "HIT", 3) == 0;
		harness_response_free(&r);
		harness_sleep_ms(50);
	}
	assert_true(hit);
	get_until_l1(&one, path, admin, &r);
	harness_response_free(&r);
	assert_false(redis_breaker_open(&one));
	/* and a write is still seen at once */
	patch_org_name(&one, id, "Returned Renamed");
	call(&one, "GET", path, admin, NULL, &r);
	assert_non_null(strstr(r.body, "Returned Renamed"));
	harness_response_free(&r);
	free(path);
}

/* --- end ---------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c1 = {
	    .workers = 1, .debug_routes = 1, .extra = "circuit_breaker {\n\ttimeout 1000\n}"};
	struct harness_conf c2 = {.workers = 2};
	struct harness_conf cb = {.workers = 1};

	(void)state;
	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	if (harness_server_start(&one, "one", &c1, &deps) == -1 ||
	    harness_server_start(&two, "two", &c2, &deps) == -1 ||
	    harness_server_start(&b, "b", &cb, &deps) == -1)
		return -1;
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
	    cmocka_unit_test(
		test_repeated_get_is_miss_then_a_hit_then_hit_l1_and_the_counters_follow),
	    cmocka_unit_test(test_cache_stats_have_the_guides_shape_per_resource_and_total),
	    cmocka_unit_test(test_metrics_count_cache_operations_like_the_stats),
	    cmocka_unit_test(test_patch_is_seen_by_every_worker_at_once),
	    cmocka_unit_test(test_an_organization_write_invalidates_organization_lists_and_search),
	    cmocka_unit_test(
		test_a_clinic_write_invalidates_its_organizations_stats_and_clinic_lists),
	    cmocka_unit_test(
		test_an_assignment_write_invalidates_provider_clinics_clinic_providers_and_stats),
	    cmocka_unit_test(test_b_answers_from_redis_what_a_stored),
	    cmocka_unit_test(test_a_write_through_a_is_seen_through_b_within_the_bound),
	    cmocka_unit_test(test_with_bs_monitor_hung_b_stops_using_worker_memory),
	    cmocka_unit_test(test_with_bs_monitor_killed_b_never_serves_the_old_value),
	    cmocka_unit_test(
		test_a_reader_that_fetched_before_a_write_cannot_put_the_old_value_back),
	    cmocka_unit_test(test_concurrent_misses_of_one_key_send_one_query),
	    cmocka_unit_test(test_a_read_after_a_write_does_not_follow_a_fetch_from_before_it),
	    cmocka_unit_test(test_the_fill_delay_header_does_nothing_without_debug_routes),
	    cmocka_unit_test(test_if_none_match_answers_304_from_memory_redis_and_the_database),
	    cmocka_unit_test(test_if_match_guards_patch_and_delete),
	    cmocka_unit_test(test_gzip_from_1024_bytes_and_not_below),
	    cmocka_unit_test(test_cached_lists_never_cross_scopes),
	    cmocka_unit_test(test_with_redis_hung_reads_come_from_the_database_quickly),
	    cmocka_unit_test(
		test_with_redis_stopped_reads_succeed_count_errors_and_open_the_breaker),
	    cmocka_unit_test(test_when_redis_returns_caching_resumes_by_itself),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
