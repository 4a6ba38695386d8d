/*
 * test_tenancy.c: cached reads never cross tenants, whatever the query string looks like, and
 * one query string has one meaning (issue 7, part 1).
 *
 * Two organizations A and B, each with a clinic, an assignment and a provider; an org_admin
 * and a provider token in each. One worker, so that a repeated read is answered from that
 * worker's memory or Redis. Every cached route is read by A's callers first (twice: the second
 * read is a cache hit) with a query made long by empty parameters, then by B's callers with
 * the same bytes: B must never see A's answer, however long the query. Reordered and
 * differently encoded parameters share one entry; repeated, nameless and valueless parameters
 * are refused.
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

struct tenant {
	char org[25], clinic[25], asg[25], provider[32];
	char *admin_token, *provider_token;
};
static struct tenant ta, tb;

/* Empty segments: "&&&...", long enough to push anything after the query past any bound. */
static char pad_short[700], pad_long[3000];

/* --- helpers ------------------------------------------------------------------------------ */

static void
tenant_make(struct tenant *t, const char *tag)
{
	char *name = client_strf("Tenancy %s Dental", tag), *code = client_strf("TEN-%s", tag);
	char *body;

	client_new_org(name, t->org);
	client_new_clinic_named(t->org, name, code, t->clinic);
	snprintf(t->provider, sizeof(t->provider), "tenancy-prov-%s", tag);
	body = client_strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}",
			   t->provider, t->clinic);
	bson_destroy(client_create(V1 "/assignments", admin, body, t->asg));
	t->admin_token = harness_token("org_admin", t->org, "tenancy-admin");
	t->provider_token = harness_token("provider", t->org, t->provider);
	free(name);
	free(code);
	free(body);
}

static int
mentions_any(const struct harness_response *r, const struct tenant *t)
{
	return strstr(r->body, t->org) != NULL || strstr(r->body, t->clinic) != NULL ||
	       strstr(r->body, t->asg) != NULL || strstr(r->body, t->provider) != NULL;
}

static const char *
xcache(const struct harness_response *r)
{
	const char *v = harness_header(r, "x-cache");

	return v != NULL ? v : "(none)";
}

/* GET path as token: 200 that names own's `want` id and nothing of other. */
static void
expect_own_only(const char *path, const char *token, const char *want, const struct tenant *other)
{
	struct harness_response r;

	client_call("GET", path, token, NULL, &r);
	if (r.status != 200)
		fail_msg("GET %.120s...: status %ld: %.300s", path, r.status, r.body);
	if (strstr(r.body, want) == NULL)
		fail_msg("GET %.120s...: %s missing from %.300s", path, want, r.body);
	if (mentions_any(&r, other))
		fail_msg("GET %.120s... (X-Cache %s) showed another tenant's data: %.400s", path,
			 xcache(&r), r.body);
	harness_response_free(&r);
}

/* GET path as token: 404 without a byte of other's data. */
static void
expect_hidden(const char *path, const char *token, const struct tenant *other)
{
	struct harness_response r;

	client_call("GET", path, token, NULL, &r);
	if (r.status != 404 || mentions_any(&r, other))
		fail_msg("GET %.120s... (X-Cache %s): status %ld, want 404 and nothing of the "
			 "other tenant: %.400s",
			 path, xcache(&r), r.status, r.body);
	client_expect_problem(&r, 404);
	harness_response_free(&r);
}

/* path_fmt has one %s; pad ends the query ('?' or '&' already in path_fmt's tail). */
static char *
padded(const char *path_fmt, const char *id, const char *pad)
{
	char *path = client_strf(path_fmt, id != NULL ? id : ""), *out;

	out = client_strf("%s%s%s", path, strchr(path, '?') != NULL ? "&" : "?", pad);
	free(path);
	return out;
}

/* --- tenants never share an entry ----------------------------------------------------------- */

/* Lists and searches: the same bytes for both tenants; each sees its own. */
static void
lists_for(const char *pad)
{
	static const char *const lists[] = {
	    V1 "/organizations?status=ACTIVE",
	    V1 "/organizations/search?q=Tenancy",
	    V1 "/clinics?status=ACTIVE",
	    V1 "/clinics/search?q=Tenancy",
	    V1 "/assignments?isActive=true",
	    V1 "/clinics",
	    NULL,
	};
	/* what each list names of its own tenant */
	const char *want_a[] = {ta.org, ta.org, ta.clinic, ta.clinic, ta.asg, ta.clinic};
	const char *want_b[] = {tb.org, tb.org, tb.clinic, tb.clinic, tb.asg, tb.clinic};
	int i, k;

	for (i = 0; lists[i] != NULL; i++) {
		char *path = padded("%s", lists[i], pad);

		for (k = 0; k < 2; k++) /* the second read is a hit */
			expect_own_only(path, ta.admin_token, want_a[i], &tb);
		expect_own_only(path, tb.admin_token, want_b[i], &ta);
		expect_own_only(path, ta.admin_token, want_a[i], &tb);
		free(path);
	}
}

/* Records: A's record read by A (twice), then by B: 404; B's own record: B's data only. */
static void
records_for(const char *pad)
{
	static const char *const records[] = {
	    V1 "/organizations/%s",
	    V1 "/organizations/%s/stats",
	    V1 "/organizations/%s/clinics",
	    V1 "/clinics/%s",
	    V1 "/clinics/%s/providers",
	    V1 "/assignments/%s",
	    NULL,
	};
	const char *id_a[] = {ta.org, ta.org, ta.org, ta.clinic, ta.clinic, ta.asg};
	const char *id_b[] = {tb.org, tb.org, tb.org, tb.clinic, tb.clinic, tb.asg};
	int i, k;

	for (i = 0; records[i] != NULL; i++) {
		char *pa = padded(records[i], id_a[i], pad), *pb = padded(records[i], id_b[i], pad);

		for (k = 0; k < 2; k++)
			expect_own_only(pa, ta.admin_token, id_a[i], &tb);
		expect_hidden(pa, tb.admin_token, &ta);
		expect_own_only(pb, tb.admin_token, id_b[i], &ta);
		free(pa);
		free(pb);
	}
}

/* Provider scope: the same list bytes for two providers of two organizations. */
static void
providers_for(const char *pad)
{
	char *own_a = padded(V1 "/providers/%s/clinics", ta.provider, pad);
	char *own_b = padded(V1 "/providers/%s/clinics", tb.provider, pad);
	char *list = padded("%s", V1 "/assignments?isActive=true", pad);
	int k;

	for (k = 0; k < 2; k++) {
		expect_own_only(own_a, ta.provider_token, ta.clinic, &tb);
		expect_own_only(list, ta.provider_token, ta.asg, &tb);
	}
	expect_own_only(own_b, tb.provider_token, tb.clinic, &ta);
	expect_own_only(list, tb.provider_token, tb.asg, &ta);
	free(own_a);
	free(own_b);
	free(list);
}

static void
test_cached_lists_never_cross_tenants_with_a_long_query(void **state)
{
	(void)state;
	lists_for(pad_short);
	lists_for(pad_long);
}

static void
test_cached_records_never_cross_tenants_with_a_long_query(void **state)
{
	(void)state;
	records_for(pad_short);
	records_for(pad_long);
}

static void
test_cached_provider_reads_never_cross_tenants_with_a_long_query(void **state)
{
	(void)state;
	providers_for(pad_short);
	providers_for(pad_long);
}

/* --- one meaning per query string --------------------------------------------------------- */

/* GET path as admin: 200 and where it came from. */
static void
get_expect_cache(const char *path, const char *want_not)
{
	struct harness_response r;

	client_call("GET", path, admin, NULL, &r);
	if (r.status != 200)
		fail_msg("GET %s: status %ld: %.300s", path, r.status, r.body);
	if (want_not != NULL && strcmp(xcache(&r), want_not) == 0)
		fail_msg("GET %s: X-Cache %s: another entry than the same parameters' first read",
			 path, xcache(&r));
	harness_response_free(&r);
}

static void
test_reordered_and_reencoded_parameters_share_one_entry(void **state)
{
	char *first = client_strf(V1 "/clinics?organizationId=%s&status=ACTIVE&limit=7", ta.org);
	char *variants[] = {
	    client_strf(V1 "/clinics?limit=7&status=ACTIVE&organizationId=%s", ta.org),
	    client_strf(V1 "/clinics?status=ACTIVE&limit=7&organizationId=%s", ta.org),
	    client_strf(V1 "/clinics?status=%%41CTIVE&limit=%%37&organizationId=%s", ta.org),
	    client_strf(V1 "/clinics?&&limit=7&&organizationId=%s&status=ACTIVE&&", ta.org),
	};
	char *search1 = client_strf(V1 "/clinics/search?q=Tenancy+A&limit=3");
	char *search2 = client_strf(V1 "/clinics/search?limit=3&q=Tenancy%%20A");
	size_t i;

	(void)state;
	get_expect_cache(first, NULL);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		get_expect_cache(variants[i], "MISS");
		free(variants[i]);
	}
	get_expect_cache(search1, NULL);
	get_expect_cache(search2, "MISS");
	free(first);
	free(search1);
	free(search2);
}

static void
test_different_parameters_are_different_entries(void **state)
{
	struct harness_response r1, r2;

	(void)state;
	/* the same bytes re-encoded would share; a different value must not */
	client_call("GET", V1 "/clinics/search?q=Tenancy%20A", admin, NULL, &r1);
	client_call("GET", V1 "/clinics/search?q=Tenancy%20B", admin, NULL, &r2);
	assert_int_equal(r1.status, 200);
	assert_int_equal(r2.status, 200);
	assert_non_null(strstr(r1.body, ta.clinic));
	assert_null(strstr(r1.body, tb.clinic));
	assert_non_null(strstr(r2.body, tb.clinic));
	assert_null(strstr(r2.body, ta.clinic));
	harness_response_free(&r1);
	harness_response_free(&r2);
}

static void
test_repeated_parameters_are_refused_on_every_kind_of_route(void **state)
{
	char *get = client_strf(V1 "/organizations/%s?fields=name&fields=status", ta.org);

	(void)state;
	client_expect_rejected("GET", V1 "/clinics?status=ACTIVE&status=INACTIVE", admin, NULL, 400,
			       "status");
	client_expect_rejected("GET", V1 "/clinics?status=ACTIVE&status=ACTIVE", admin, NULL, 400,
			       "status");
	client_expect_rejected("GET", V1 "/organizations/search?q=a&q=b", admin, NULL, 400, "q");
	client_expect_rejected("GET", V1 "/assignments?limit=1&isActive=true&limit=2", admin, NULL,
			       400, "limit");
	client_expect_rejected("GET", get, admin, NULL, 400, "fields");
	free(get);
}

static void
test_parameters_without_a_value_or_a_name_are_refused(void **state)
{
	(void)state;
	client_expect_rejected("GET", V1 "/clinics?status=", admin, NULL, 400, "status");
	client_expect_rejected("GET", V1 "/clinics?status", admin, NULL, 400, "status");
	client_expect_rejected("GET", V1 "/clinics?limit=&status=ACTIVE", admin, NULL, 400,
			       "limit");
	client_expect_rejected("GET", V1 "/organizations/search?q=", admin, NULL, 400, "q");
	client_expect_rejected("GET", V1 "/clinics?=ACTIVE", admin, NULL, 400, "");
}

static void
test_control_bytes_and_bad_utf8_in_query_values_are_refused(void **state)
{
	static const char *const bytes[] = {"%00", "%01", "%09", "%0A",	   "%0D",    "%1B",
					    "%1F", "%7F", "%FF", "%C3%28", "%C0%AF", "%ED%A0%80"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		char *search = client_strf(V1 "/clinics/search?q=Ten%sancy", bytes[i]);
		char *list = client_strf(V1 "/clinics?city=Spring%sfield", bytes[i]);

		client_expect_rejected("GET", search, admin, NULL, 400, "q");
		client_expect_rejected("GET", list, admin, NULL, 400, "city");
		free(search);
		free(list);
	}
}

/* Within a tenant: its admin may not lift its own suspension or change its own plan. */
static void
test_an_org_admin_cannot_change_its_standing_or_billing(void **state)
{
	static const char *const bodies[] = {
	    "{\"status\":\"ACTIVE\"}",
	    "{\"subscriptionTier\":\"ENTERPRISE\"}",
	    "{\"subscriptionEndDate\":\"2099-01-01T00:00:00Z\"}",
	    "{\"subscriptionEndDate\":null}",
	    "{\"contactEmail\":\"a@example.com\",\"subscriptionTier\":\"PRO\"}",
	};
	char *path = client_strf(V1 "/organizations/%s", ta.org);
	struct harness_response r;
	bson_t *before, *after;
	size_t i;

	(void)state;
	before = client_get_json(path, admin);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		client_expect_rejected("PATCH", path, ta.admin_token, bodies[i], 403, NULL);
	after = client_get_json(path, admin);
	assert_int_equal(client_int_at(before, "version"), client_int_at(after, "version"));
	/* what is the tenant's own stays writable; the platform admin may change the rest */
	client_call("PATCH", path, ta.admin_token, "{\"contactEmail\":\"a@example.com\"}", &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	client_call("PATCH", path, admin, "{\"subscriptionTier\":\"PRO\"}", &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	bson_destroy(before);
	bson_destroy(after);
	free(path);
}

static void
test_empty_segments_mean_nothing(void **state)
{
	char ids[CLIENT_MAX_IDS][25], ids2[CLIENT_MAX_IDS][25];
	int n, n2;

	(void)state;
	client_list_ids(V1 "/clinics?status=ACTIVE", ta.admin_token, ids, &n);
	client_list_ids(V1 "/clinics?&&status=ACTIVE&&&", ta.admin_token, ids2, &n2);
	assert_int_equal(n, n2);
	assert_true(n > 0);
	assert_memory_equal(ids, ids2, (size_t)n * 25);
}

/* --- set-up ------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1};

	(void)state;
	memset(pad_short, '&', sizeof(pad_short) - 1);
	memset(pad_long, '&', sizeof(pad_long) - 1);
	if (client_suite_start(&deps, &admin, &server, "tenancy", &c) == -1)
		return -1;
	tenant_make(&ta, "A");
	tenant_make(&tb, "B");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(ta.admin_token);
	free(ta.provider_token);
	free(tb.admin_token);
	free(tb.provider_token);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cached_lists_never_cross_tenants_with_a_long_query),
	    cmocka_unit_test(test_cached_records_never_cross_tenants_with_a_long_query),
	    cmocka_unit_test(test_cached_provider_reads_never_cross_tenants_with_a_long_query),
	    cmocka_unit_test(test_reordered_and_reencoded_parameters_share_one_entry),
	    cmocka_unit_test(test_different_parameters_are_different_entries),
	    cmocka_unit_test(test_repeated_parameters_are_refused_on_every_kind_of_route),
	    cmocka_unit_test(test_parameters_without_a_value_or_a_name_are_refused),
	    cmocka_unit_test(test_control_bytes_and_bad_utf8_in_query_values_are_refused),
	    cmocka_unit_test(test_empty_segments_mean_nothing),
	    cmocka_unit_test(test_an_org_admin_cannot_change_its_standing_or_billing),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
