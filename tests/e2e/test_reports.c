/*
 * test_reports.c: the reports of issue 9 end to end, and the background work that precomputes
 * the platform report.
 *
 * One FerretDB and one Redis; the main server (1 worker) serves every figure, scope and bad
 * parameter test. Every organization, clinic and assignment is made by this binary and kept
 * in a fixture table, and every figure of a report is computed from that table here, in C,
 * independently of the server: organizations by status x tier, per month, the subscriptions
 * ending within `days`; per clinic providers by role, primary and secondary, the clinics
 * without a dentist, providers at several clinics, totals. Two tenants (A and B) have
 * clinics and assignments; nothing of B may show in A's report. A second server with a
 * report_timeout of 300 ms shows the report class deadline (a fill held by the debug delay
 * header gets 504 where a record read under the default deadline does not), and a third with
 * report_precompute_interval 1 shows the background class filling the cache entry the request
 * reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define REPORT V1 "/reports/organizations"
#define DAY_MS 86400000LL
#define MAX_ORGS 64
#define MAX_CLINICS 8
#define MAX_ASG 32

static const char *const statuses[] = {"ACTIVE", "SUSPENDED", "INACTIVE"};
static const char *const tiers[] = {"FREE", "BASIC", "PRO", "ENTERPRISE"};
static const char *const roles[] = {"DENTIST", "HYGIENIST", "ASSISTANT", "MANAGER", "FRONT_DESK"};

static struct harness_deps deps;
static struct harness_server server;
static mongoc_client_t *mongo;
static char *admin;

/* every organization in the database, as this test made it */
struct org_fix {
	char id[25];
	int status, tier;
	int64_t created_ms, end_ms; /* end_ms 0: no subscriptionEndDate */
};
static struct org_fix orgs[MAX_ORGS];
static int norgs;

/* a tenant: an organization with clinics and assignments made through the API */
struct asg_fix {
	int clinic; /* index into clinics */
	char provider[32];
	unsigned roles; /* bit k: roles[k] */
	int primary, active;
};
struct tenant {
	char org[25];
	char clinics[MAX_CLINICS][25];
	int clinic_active[MAX_CLINICS];
	int nclinics;
	struct asg_fix asg[MAX_ASG];
	int nasg;
	char *admin_token, *manager_token, *provider_token;
};
static struct tenant ta, tb;

/* --- helpers ------------------------------------------------------------------------------ */

static int64_t
iso(const char *s)
{
	int64_t ms;

	if (harness_iso_ms(s, &ms) != 0)
		fail_msg("bad fixture date %s", s);
	return ms;
}

/* year * 12 + month - 1 of a time, UTC */
static int
month_index(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* An organization written straight into the database, with the dates a test needs. */
static void
org_insert(const char *name, int status, int tier, int64_t created, int64_t end)
{
	mongoc_collection_t *coll =
	    mongoc_client_get_collection(mongo, HARNESS_DB, "organizations");
	bson_t doc = BSON_INITIALIZER;
	bson_error_t error;
	bson_oid_t oid;
	struct org_fix *o = &orgs[norgs];

	if (norgs == MAX_ORGS)
		fail_msg("more than %d organizations", MAX_ORGS);
	bson_oid_init(&oid, NULL);
	BSON_APPEND_OID(&doc, "_id", &oid);
	BSON_APPEND_UTF8(&doc, "name", name);
	BSON_APPEND_UTF8(&doc, "status", statuses[status]);
	BSON_APPEND_UTF8(&doc, "subscriptionTier", tiers[tier]);
	if (end != 0)
		BSON_APPEND_DATE_TIME(&doc, "subscriptionEndDate", end);
	BSON_APPEND_DATE_TIME(&doc, "createdAt", created);
	BSON_APPEND_DATE_TIME(&doc, "updatedAt", created);
	BSON_APPEND_INT64(&doc, "version", 1);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &error))
		fail_msg("insert organization: %s", error.message);
	bson_oid_to_string(&oid, o->id);
	o->status = status;
	o->tier = tier;
	o->created_ms = created;
	o->end_ms = end;
	norgs++;
	bson_destroy(&doc);
	mongoc_collection_destroy(coll);
}

/* An organization made through the API (ACTIVE, FREE): its createdAt as the server wrote it. */
static void
org_create(const char *name, char id[25])
{
	char *body = client_strf("{\"name\":\"%s\"}", name);
	bson_t *doc = client_create(V1 "/organizations", admin, body, id);
	const char *created = harness_json_str(doc, "createdAt");
	struct org_fix *o = &orgs[norgs];

	if (norgs == MAX_ORGS)
		fail_msg("more than %d organizations", MAX_ORGS);
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->status = 0;
	o->tier = 0;
	o->created_ms = iso(created != NULL ? created : "");
	o->end_ms = 0;
	norgs++;
	bson_destroy(doc);
	free(body);
}

static void
tenant_clinic(struct tenant *t, const char *tag, int active)
{
	char *body =
	    client_strf("{\"name\":\"Reports %s %d\",\"code\":\"REP-%s-%d\",\"status\":\"%s\"}",
			tag, t->nclinics, tag, t->nclinics, active ? "ACTIVE" : "INACTIVE");

	client_new_clinic(t->org, body, t->clinics[t->nclinics]);
	t->clinic_active[t->nclinics++] = active;
	free(body);
}

/* An active assignment through the API; roles is a bit set over roles[]. */
static void
tenant_assign(struct tenant *t, int clinic, const char *provider, unsigned rmask, int primary)
{
	struct asg_fix *a = &t->asg[t->nasg++];
	char list[128] = "", id[25];
	char *body;
	int k;

	for (k = 0; k < 5; k++)
		if (rmask & (1u << k))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
				 list[0] ? "," : "", roles[k]);
	body = client_strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":[%s],"
			   "\"isPrimaryClinic\":%s}",
			   provider, t->clinics[clinic], list, primary ? "true" : "false");
	bson_destroy(client_create(V1 "/assignments", admin, body, id));
	a->clinic = clinic;
	snprintf(a->provider, sizeof(a->provider), "%s", provider);
	a->roles = rmask;
	a->primary = primary;
	a->active = 1;
	free(body);
	/* an inactive one is made active first, then deleted (DELETE deactivates) */
	if (rmask & 0x100u) {
		char *path = client_strf(V1 "/assignments/%s", id);
		struct harness_response r;

		client_call("DELETE", path, admin, NULL, &r);
		if (r.status != 200 && r.status != 204)
			fail_msg("DELETE %s: %ld %s", path, r.status, r.body);
		harness_response_free(&r);
		a->active = 0;
		a->roles &= 0xffu;
		free(path);
	}
}

static void
tenant_tokens(struct tenant *t, const char *tag)
{
	char *sub = client_strf("reports-provider-%s", tag);

	t->admin_token = harness_token("org_admin", t->org, "reports-admin");
	t->manager_token = harness_token("clinic_manager", t->org, "reports-manager");
	t->provider_token = harness_token("provider", t->org, sub);
	free(sub);
}

static bson_t *
get_ok(const char *path, const char *token, struct harness_response *r)
{
	client_call("GET", path, token, NULL, r);
	return client_expect_json(r, 200);
}

static int64_t
int_at(const bson_t *doc, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return client_int_at(doc, path);
}

static bson_type_t
type_at(const bson_t *doc, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return harness_json_type(doc, path);
}

static const char *
str_at(const bson_t *doc, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	const char *s;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if ((s = harness_json_str(doc, path)) == NULL)
		fail_msg("no string at %s", path);
	return s;
}

/* --- the platform report, computed here --------------------------------------------------- */

static void
check_status_tier(const bson_t *doc)
{
	int64_t want[3][4] = {{0}};
	int i, s, t;

	for (i = 0; i < norgs; i++)
		want[orgs[i].status][orgs[i].tier]++;
	for (s = 0; s < 3; s++)
		for (t = 0; t < 4; t++)
			if (int_at(doc, "organizations.byStatusAndTier.%s.%s", statuses[s],
				   tiers[t]) != want[s][t])
				fail_msg("%s x %s: %lld, want %lld", statuses[s], tiers[t],
					 (long long)int_at(doc,
							   "organizations.byStatusAndTier.%s.%s",
							   statuses[s], tiers[t]),
					 (long long)want[s][t]);
	if (int_at(doc, "organizations.total") != norgs)
		fail_msg("total %lld, want %d", (long long)int_at(doc, "organizations.total"),
			 norgs);
}

/* byMonth over [from, to): one entry per calendar month, counted from the fixtures. */
static void
check_months(const bson_t *doc, int64_t from, int64_t to)
{
	int first = month_index(from), last = month_index(to - 1), m, i;
	int64_t total = 0;
	char want_month[16];

	for (m = first; m <= last; m++) {
		int64_t want = 0;

		for (i = 0; i < norgs; i++)
			if (orgs[i].created_ms >= from && orgs[i].created_ms < to &&
			    month_index(orgs[i].created_ms) == m)
				want++;
		snprintf(want_month, sizeof(want_month), "%04d-%02d", m / 12, m % 12 + 1);
		if (strcmp(str_at(doc, "newOrganizations.byMonth.%d.month", m - first),
			   want_month) != 0 ||
		    int_at(doc, "newOrganizations.byMonth.%d.count", m - first) != want)
			fail_msg(
			    "month %d: %s %lld, want %s %lld", m - first,
			    str_at(doc, "newOrganizations.byMonth.%d.month", m - first),
			    (long long)int_at(doc, "newOrganizations.byMonth.%d.count", m - first),
			    want_month, (long long)want);
		total += want;
	}
	if (type_at(doc, "newOrganizations.byMonth.%d", last - first + 1) != BSON_TYPE_EOD)
		fail_msg("more than %d months", last - first + 1);
	if (int_at(doc, "newOrganizations.total") != total)
		fail_msg("new total %lld, want %lld",
			 (long long)int_at(doc, "newOrganizations.total"), (long long)total);
}

/* The subscriptions ending in [now, now + days], by date then id (the fixtures' dates are at
 * least a day away from either end, so the server's now and ours agree on them). */
static void
check_ending(const bson_t *doc, int64_t now, int days)
{
	int order[MAX_ORGS], n = 0, i, k;

	for (i = 0; i < norgs; i++)
		if (orgs[i].end_ms != 0 && orgs[i].end_ms >= now &&
		    orgs[i].end_ms <= now + days * DAY_MS)
			order[n++] = i;
	for (i = 1; i < n; i++) /* insertion sort by end date (ids break no tie here) */
		for (k = i; k > 0 && orgs[order[k]].end_ms < orgs[order[k - 1]].end_ms; k--) {
			int tmp = order[k];

			order[k] = order[k - 1];
			order[k - 1] = tmp;
		}
	if (int_at(doc, "subscriptionsEnding.days") != days ||
	    int_at(doc, "subscriptionsEnding.count") != n)
		fail_msg("ending: days %lld count %lld, want %d and %d",
			 (long long)int_at(doc, "subscriptionsEnding.days"),
			 (long long)int_at(doc, "subscriptionsEnding.count"), days, n);
	for (i = 0; i < n; i++) {
		const struct org_fix *o = &orgs[order[i]];
		int64_t end;

		if (strcmp(str_at(doc, "subscriptionsEnding.organizations.%d.id", i), o->id) != 0 ||
		    strcmp(str_at(doc, "subscriptionsEnding.organizations.%d.subscriptionTier", i),
			   tiers[o->tier]) != 0 ||
		    harness_iso_ms(
			str_at(doc, "subscriptionsEnding.organizations.%d.subscriptionEndDate", i),
			&end) != 0 ||
		    end != o->end_ms)
			fail_msg("ending #%d: %s, want %s", i,
				 str_at(doc, "subscriptionsEnding.organizations.%d.id", i), o->id);
		str_at(doc, "subscriptionsEnding.organizations.%d.name", i);
	}
}

/* --- the staffing report, computed here --------------------------------------------------- */

static void
check_clinic(const bson_t *doc, const struct tenant *t, int c, int row)
{
	int64_t n = 0, primary = 0, by_role[5] = {0};
	int i, k;

	for (i = 0; i < t->nasg; i++) {
		if (!t->asg[i].active || t->asg[i].clinic != c)
			continue;
		n++;
		primary += t->asg[i].primary;
		for (k = 0; k < 5; k++)
			by_role[k] += (t->asg[i].roles >> k) & 1u;
	}
	if (strcmp(str_at(doc, "clinics.%d.id", row), t->clinics[c]) != 0)
		fail_msg("clinic row %d is %s, want %s", row, str_at(doc, "clinics.%d.id", row),
			 t->clinics[c]);
	if (int_at(doc, "clinics.%d.activeProviders", row) != n ||
	    int_at(doc, "clinics.%d.primaryAssignments", row) != primary ||
	    int_at(doc, "clinics.%d.secondaryAssignments", row) != n - primary)
		fail_msg("clinic %s: providers %lld primary %lld, want %lld and %lld",
			 t->clinics[c], (long long)int_at(doc, "clinics.%d.activeProviders", row),
			 (long long)int_at(doc, "clinics.%d.primaryAssignments", row), (long long)n,
			 (long long)primary);
	for (k = 0; k < 5; k++)
		if (int_at(doc, "clinics.%d.byRole.%s", row, roles[k]) != by_role[k])
			fail_msg("clinic %s role %s: %lld, want %lld", t->clinics[c], roles[k],
				 (long long)int_at(doc, "clinics.%d.byRole.%s", row, roles[k]),
				 (long long)by_role[k]);
}

/* Distinct active providers of t, and writes the ones at more than one clinic (sorted). */
static int
several(const struct tenant *t, char out[][32], int *nout)
{
	char seen[MAX_ASG][32];
	int counts[MAX_ASG], n = 0, i, k;

	for (i = 0; i < t->nasg; i++) {
		if (!t->asg[i].active)
			continue;
		for (k = 0; k < n && strcmp(seen[k], t->asg[i].provider) != 0; k++)
			;
		if (k == n) {
			snprintf(seen[n], 32, "%s", t->asg[i].provider);
			counts[n++] = 0;
		}
		counts[k]++;
	}
	*nout = 0;
	for (i = 0; i < n; i++) /* sorted: insert in order */
		if (counts[i] > 1) {
			for (k = *nout; k > 0 && strcmp(out[k - 1], seen[i]) > 0; k--)
				memcpy(out[k], out[k - 1], 32);
			memcpy(out[k], seen[i], 32);
			(*nout)++;
		}
	return n;
}

static void
check_staffing(const bson_t *doc, const struct tenant *t)
{
	char multi[MAX_ASG][32];
	int i, c, k, nmulti, distinct, row = 0, nodentist = 0;
	int64_t n = 0, primary = 0, by_role[5] = {0};
	char sorted[MAX_CLINICS][25];
	int idx[MAX_CLINICS];

	client_want_str(doc, "organizationId", t->org);
	client_want_str(doc, "report", "staffing");
	/* rows come sorted by id: order the fixtures' clinics the same way */
	for (c = 0; c < t->nclinics; c++) {
		for (k = c; k > 0 && strcmp(sorted[k - 1], t->clinics[c]) > 0; k--) {
			memcpy(sorted[k], sorted[k - 1], 25);
			idx[k] = idx[k - 1];
		}
		memcpy(sorted[k], t->clinics[c], 25);
		idx[k] = c;
	}
	for (row = 0; row < t->nclinics; row++)
		check_clinic(doc, t, idx[row], row);
	if (type_at(doc, "clinics.%d", t->nclinics) != BSON_TYPE_EOD)
		fail_msg("more than %d clinic rows", t->nclinics);
	for (row = 0; row < t->nclinics; row++) {
		int has = 0;

		c = idx[row];
		for (i = 0; i < t->nasg; i++)
			has |= t->asg[i].active && t->asg[i].clinic == c && (t->asg[i].roles & 1u);
		if (!has && t->clinic_active[c]) {
			if (strcmp(str_at(doc, "clinicsWithoutDentist.%d.id", nodentist),
				   t->clinics[c]) != 0)
				fail_msg("clinicsWithoutDentist #%d: %s, want %s", nodentist,
					 str_at(doc, "clinicsWithoutDentist.%d.id", nodentist),
					 t->clinics[c]);
			nodentist++;
		}
	}
	if (type_at(doc, "clinicsWithoutDentist.%d", nodentist) != BSON_TYPE_EOD)
		fail_msg("more than %d clinics without a dentist", nodentist);
	distinct = several(t, multi, &nmulti);
	for (i = 0; i < nmulti; i++) {
		int64_t want = 0;

		for (k = 0; k < t->nasg; k++)
			want += t->asg[k].active && strcmp(t->asg[k].provider, multi[i]) == 0;
		if (strcmp(str_at(doc, "providersAtSeveralClinics.%d.providerId", i), multi[i]) !=
			0 ||
		    int_at(doc, "providersAtSeveralClinics.%d.clinics", i) != want)
			fail_msg("several #%d: %s, want %s at %lld", i,
				 str_at(doc, "providersAtSeveralClinics.%d.providerId", i),
				 multi[i], (long long)want);
	}
	if (type_at(doc, "providersAtSeveralClinics.%d", nmulti) != BSON_TYPE_EOD)
		fail_msg("more than %d providers at several clinics", nmulti);
	for (i = 0; i < t->nasg; i++) {
		if (!t->asg[i].active)
			continue;
		n++;
		primary += t->asg[i].primary;
		for (k = 0; k < 5; k++)
			by_role[k] += (t->asg[i].roles >> k) & 1u;
	}
	if (int_at(doc, "totals.clinics") != t->nclinics ||
	    int_at(doc, "totals.activeProviders") != distinct ||
	    int_at(doc, "totals.activeAssignments") != n ||
	    int_at(doc, "totals.primaryAssignments") != primary ||
	    int_at(doc, "totals.secondaryAssignments") != n - primary)
		fail_msg("totals wrong, want clinics %d providers %d assignments %lld primary %lld",
			 t->nclinics, distinct, (long long)n, (long long)primary);
	for (k = 0; k < 5; k++)
		if (int_at(doc, "totals.byRole.%s", roles[k]) != by_role[k])
			fail_msg("totals role %s: %lld, want %lld", roles[k],
				 (long long)int_at(doc, "totals.byRole.%s", roles[k]),
				 (long long)by_role[k]);
}

/* No id or provider of other appears in the answer. */
static void
check_nothing_of(const struct harness_response *r, const struct tenant *other)
{
	int i;

	if (strstr(r->body, other->org) != NULL)
		fail_msg("the other tenant's organization appears: %.300s", r->body);
	for (i = 0; i < other->nclinics; i++)
		if (strstr(r->body, other->clinics[i]) != NULL)
			fail_msg("the other tenant's clinic %s appears", other->clinics[i]);
	for (i = 0; i < other->nasg; i++)
		if (strstr(r->body, other->asg[i].provider) != NULL)
			fail_msg("the other tenant's provider %s appears", other->asg[i].provider);
}

/* --- the platform report ------------------------------------------------------------------ */

static void
test_organizations_report_counts_every_figure_of_its_period(void **state)
{
	struct harness_response r;
	int64_t now = harness_wall_ms();
	bson_t *doc;

	(void)state;
	doc = get_ok(REPORT "?from=2025-01-01&to=2025-07-01", admin, &r);
	client_want_str(doc, "report", "organizations");
	client_want_str(doc, "period.from", "2025-01-01T00:00:00.000Z");
	client_want_str(doc, "period.to", "2025-07-01T00:00:00.000Z");
	if (harness_json_str(doc, "generatedAt") == NULL)
		fail_msg("no generatedAt: %s", r.body);
	check_status_tier(doc);
	check_months(doc, iso("2025-01-01T00:00:00Z"), iso("2025-07-01T00:00:00Z"));
	check_ending(doc, now, 30);
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_organizations_report_defaults_to_twelve_months_up_to_now(void **state)
{
	struct harness_response r;
	int64_t before = harness_wall_ms(), from, to, generated;
	bson_t *doc;

	(void)state;
	doc = get_ok(REPORT, admin, &r);
	if (harness_iso_ms(str_at(doc, "period.from"), &from) != 0 ||
	    harness_iso_ms(str_at(doc, "period.to"), &to) != 0 ||
	    harness_iso_ms(str_at(doc, "generatedAt"), &generated) != 0)
		fail_msg("period or generatedAt missing: %s", r.body);
	/* to is now (the request's); from the first instant of the month 11 months before */
	if (to < before - 5000 || to > harness_wall_ms() + 5000)
		fail_msg("period.to %s is not now", str_at(doc, "period.to"));
	if (month_index(to - 1) - month_index(from) != 11 ||
	    month_index(from - 1) == month_index(from))
		fail_msg("period %s .. %s is not 12 calendar months", str_at(doc, "period.from"),
			 str_at(doc, "period.to"));
	check_months(doc, from, to);
	check_ending(doc, before, 30);
	check_status_tier(doc);
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_subscriptions_ending_follow_days(void **state)
{
	static const int days[] = {1, 7, 60, 365};
	struct harness_response r;
	bson_t *doc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		char *path = client_strf(REPORT "?days=%d", days[i]);
		int64_t now = harness_wall_ms();

		doc = get_ok(path, admin, &r);
		check_ending(doc, now, days[i]);
		bson_destroy(doc);
		harness_response_free(&r);
		free(path);
	}
}

static void
test_organizations_report_is_cached_and_invalidated_by_an_organization_write(void **state)
{
	struct harness_response r;
	const char *etag;
	char *inm, id[25];
	bson_t *doc;

	(void)state;
	doc = get_ok(REPORT "?days=3", admin, &r);
	bson_destroy(doc);
	harness_response_free(&r);
	doc = get_ok(REPORT "?days=3", admin, &r);
	if (harness_header(&r, "x-cache") == NULL ||
	    strncmp(harness_header(&r, "x-cache"), "HIT", 3) != 0)
		fail_msg("second read X-Cache %s, want a hit", harness_header(&r, "x-cache"));
	if ((etag = harness_header(&r, "etag")) == NULL)
		fail_msg("no ETag");
	inm = client_strf("If-None-Match: %s", etag);
	bson_destroy(doc);
	{
		const char *const headers[] = {inm, NULL};
		struct harness_response nm;
		char *url = client_strf("%s%s", server.url, REPORT "?days=3");

		harness_request_token("GET", url, admin, headers, NULL, 0, &nm);
		if (nm.status != 304)
			fail_msg("If-None-Match: %ld, want 304", nm.status);
		harness_response_free(&nm);
		free(url);
	}
	harness_response_free(&r);
	free(inm);
	org_create("Reports Invalidation Dental", id);
	doc = get_ok(REPORT "?days=3", admin, &r);
	if (int_at(doc, "organizations.total") != norgs)
		fail_msg("after a create: total %lld, want %d (X-Cache %s)",
			 (long long)int_at(doc, "organizations.total"), norgs,
			 harness_header(&r, "x-cache"));
	check_status_tier(doc);
	bson_destroy(doc);
	harness_response_free(&r);
}

/* --- the staffing report ------------------------------------------------------------------ */

static void
staffing_matches(const struct tenant *t, const struct tenant *other, const char *token)
{
	struct harness_response r;
	char *path = client_strf(V1 "/organizations/%s/reports/staffing", t->org);
	bson_t *doc = get_ok(path, token, &r);

	if (harness_json_str(doc, "generatedAt") == NULL ||
	    harness_json_str(doc, "period.asOf") == NULL)
		fail_msg("no generatedAt or period: %s", r.body);
	check_staffing(doc, t);
	check_nothing_of(&r, other);
	bson_destroy(doc);
	harness_response_free(&r);
	free(path);
}

static void
test_staffing_report_counts_every_figure_of_its_organization_only(void **state)
{
	(void)state;
	staffing_matches(&ta, &tb, admin);
	staffing_matches(&tb, &ta, admin);
	staffing_matches(&ta, &tb, ta.admin_token);
}

static void
test_staffing_report_is_invalidated_by_assignment_and_clinic_writes(void **state)
{
	(void)state;
	staffing_matches(&ta, &tb, ta.admin_token); /* cached now */
	tenant_assign(&ta, 3, "prov-a5", 1u, 0);    /* clinic 3 gets a dentist */
	staffing_matches(&ta, &tb, ta.admin_token);
	tenant_clinic(&ta, "A", 1); /* a new active clinic, without a dentist */
	staffing_matches(&ta, &tb, ta.admin_token);
}

/* --- scope -------------------------------------------------------------------------------- */

static void
expect_status(const char *path, const char *token, long status)
{
	struct harness_response r;

	client_call("GET", path, token, NULL, &r);
	if (r.status != status)
		fail_msg("GET %s: %ld, want %ld: %s", path, r.status, status, r.body);
	if (status >= 400)
		client_expect_problem(&r, status);
	else
		check_nothing_of(&r, &tb);
	harness_response_free(&r);
}

static void
test_report_routes_are_scoped_by_role_and_organization(void **state)
{
	char *a = client_strf(V1 "/organizations/%s/reports/staffing", ta.org);

	(void)state;
	expect_status(REPORT, admin, 200);
	expect_status(REPORT, ta.admin_token, 403);
	expect_status(REPORT, ta.manager_token, 403);
	expect_status(REPORT, ta.provider_token, 403);
	expect_status(REPORT, NULL, 401);

	expect_status(a, admin, 200);
	expect_status(a, ta.admin_token, 200);
	expect_status(a, ta.manager_token, 403);
	expect_status(a, ta.provider_token, 403);
	expect_status(a, tb.admin_token, 404);
	expect_status(a, tb.manager_token, 404);
	expect_status(a, tb.provider_token, 404);
	expect_status(a, NULL, 401);
	free(a);
}

static void
test_staffing_of_an_unknown_or_malformed_organization(void **state)
{
	bson_oid_t oid;
	char hex[25], *path;

	(void)state;
	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, hex);
	path = client_strf(V1 "/organizations/%s/reports/staffing", hex);
	expect_status(path, admin, 404);
	free(path);
	client_expect_rejected("GET", V1 "/organizations/not-an-id/reports/staffing", admin, NULL,
			       400, "id");
}

static void
test_bad_report_parameters_are_400_naming_them(void **state)
{
	static const struct {
		const char *query, *field;
	} bad[] = {
	    {"days=0", "days"},
	    {"days=366", "days"},
	    {"days=-1", "days"},
	    {"days=abc", "days"},
	    {"days=1e2", "days"},
	    {"days=99999999999999999999", "days"},
	    {"from=2025-13-01", "from"},
	    {"from=yesterday", "from"},
	    {"to=2025-02-30", "to"},
	    {"from=2025-06-01&to=2025-05-01", "from"},
	    {"from=2025-06-01&to=2025-06-01", "to"},
	    {"from=2020-01-01&to=2023-01-02", "to"}, /* 37 calendar months */
	    {"from=2000-01-01", "from"},	     /* up to now: far more than 36 */
	    {"from=2025-01-01&to=1990-01-01", "to"},
	    {"month=2025-01", "month"},
	    {"days=5&days=6", "days"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = client_strf(REPORT "?%s", bad[i].query);

		client_expect_rejected("GET", path, admin, NULL, 400, bad[i].field);
		free(path);
	}
	{
		char *path =
		    client_strf(V1 "/organizations/%s/reports/staffing?from=2025-01-01", ta.org);

		client_expect_rejected("GET", path, admin, NULL, 400, "from");
		free(path);
	}
	/* 36 calendar months is the most */
	{
		struct harness_response r;
		bson_t *doc = get_ok(REPORT "?from=2020-01-01&to=2023-01-01", admin, &r);

		check_months(doc, iso("2020-01-01T00:00:00Z"), iso("2023-01-01T00:00:00Z"));
		bson_destroy(doc);
		harness_response_free(&r);
	}
}

/* --- class deadlines and background work ------------------------------------------------------ */

static void
test_the_report_class_deadline_is_its_own(void **state)
{
	static const char *const slow[] = {"x-debug-fill-delay-ms: 1500", NULL};
	struct harness_server short_reports;
	struct harness_conf c = {.workers = 1, .debug_routes = 1, .extra = "report_timeout 300\n"};
	struct harness_response r;
	char *url;

	(void)state;
	if (harness_server_start(&short_reports, "reports-deadline", &c, &deps) == -1)
		fail_msg("the server with report_timeout 300 did not start");
	/* queries no one asked before: a miss, held 1.5 s after the database answered */
	url = client_strf("%s%s", short_reports.url, REPORT "?days=11");
	harness_request_token("GET", url, admin, slow, NULL, 0, &r);
	client_expect_problem(&r, 504);
	harness_response_free(&r);
	free(url);
	url = client_strf("%s" V1 "/organizations/%s/reports/staffing", short_reports.url, tb.org);
	harness_request_token("GET", url, tb.admin_token, slow, NULL, 0, &r);
	client_expect_problem(&r, 504);
	harness_response_free(&r);
	free(url);
	/* the same hold on a record read, under the default 30 s deadline: answered */
	url =
	    client_strf("%s" V1 "/organizations/%s?fields=name,status", short_reports.url, tb.org);
	harness_request_token("GET", url, admin, slow, NULL, 0, &r);
	if (r.status != 200)
		fail_msg("a record read held 1.5 s: %ld, want 200: %s", r.status, r.body);
	harness_response_free(&r);
	free(url);
	harness_server_stop(&short_reports);
}

static double
background_runs(const struct harness_server *s)
{
	struct harness_prom p;
	double n = 0;

	if (harness_prom_fetch(s->metrics_url, &p) != 0)
		fail_msg("metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_http_request_duration_seconds_count",
			 "class=\"background\"", &n);
	harness_prom_free(&p);
	return n;
}

static void
test_the_platform_report_is_precomputed_in_the_background(void **state)
{
	struct harness_server bg;
	struct harness_conf c = {.workers = 1, .extra = "report_precompute_interval 1\n"};
	struct harness_response r;
	struct harness_prom p;
	double runs, ok = 0;
	uint64_t until;
	char *url, id[25];
	bson_t *doc;

	(void)state;
	if (harness_server_start(&bg, "reports-background", &c, &deps) == -1)
		fail_msg("the server with report_precompute_interval 1 did not start");
	/* a write makes every stored platform report stale; then wait for a run that started
	 * after it (the one in progress may have read before it) */
	org_create("Reports Background Dental", id);
	runs = background_runs(&bg);
	until = harness_now_ms() + 30000;
	while (background_runs(&bg) < runs + 2 && harness_now_ms() < until)
		harness_sleep_ms(100);
	if (background_runs(&bg) < runs + 2)
		fail_msg("no background run in 30 s (%g before)", runs);
	url = client_strf("%s%s", bg.url, REPORT);
	harness_request_token("GET", url, admin, NULL, NULL, 0, &r);
	doc = client_expect_json(&r, 200);
	if (harness_header(&r, "x-cache") == NULL ||
	    strncmp(harness_header(&r, "x-cache"), "HIT", 3) != 0)
		fail_msg("the precomputed report was a %s, want a hit",
			 harness_header(&r, "x-cache"));
	if (int_at(doc, "organizations.total") != norgs)
		fail_msg("precomputed total %lld, want %d",
			 (long long)int_at(doc, "organizations.total"), norgs);
	check_status_tier(doc);
	bson_destroy(doc);
	harness_response_free(&r);
	free(url);
	/* counted in its own class: a histogram and 2xx statuses */
	if (harness_prom_fetch(bg.metrics_url, &p) != 0)
		fail_msg("metrics: %s", p.error);
	harness_prom_sum(&p, "enterprise_http_requests_total",
			 "class=\"background\",status=\"2xx\"", &ok);
	harness_prom_free(&p);
	if (ok < 2)
		fail_msg("background 2xx runs %g, want at least 2", ok);
	harness_server_stop(&bg);
}

/* --- set-up ------------------------------------------------------------------------------- */

static void
make_fixtures(void)
{
	int64_t now = harness_wall_ms();

	/* the months of 2025-01-01 .. 2025-07-01, and their edges */
	org_insert("Reports Before", 1, 2, iso("2024-12-31T23:59:59.999Z"), 0);
	org_insert("Reports January", 0, 1, iso("2025-01-01T00:00:00Z"), 0);
	org_insert("Reports March", 2, 3, iso("2025-03-15T12:00:00Z"), 0);
	org_insert("Reports March Two", 0, 3, iso("2025-03-31T23:00:00Z"), 0);
	org_insert("Reports June", 0, 2, iso("2025-06-30T23:59:59.999Z"), 0);
	org_insert("Reports July", 1, 0, iso("2025-07-01T00:00:00Z"), 0);
	org_insert("Reports Old", 2, 1, iso("2021-06-01T00:00:00Z"), 0);
	/* subscriptions ending: dates a day or more from any window's edge */
	org_insert("Reports Ends 3", 0, 3, now - 400 * DAY_MS, now + 3 * DAY_MS + 3600000);
	org_insert("Reports Ends 5", 1, 1, now - 100 * DAY_MS, now + 5 * DAY_MS);
	org_insert("Reports Ends 29", 0, 0, now - 40 * DAY_MS, now + 29 * DAY_MS);
	org_insert("Reports Ends 31", 2, 2, now - 20 * DAY_MS, now + 31 * DAY_MS);
	org_insert("Reports Ended", 2, 1, now - 3 * DAY_MS, now - 1 * DAY_MS);
	org_insert("Reports Ends 200", 0, 2, now - 2 * DAY_MS, now + 200 * DAY_MS);

	org_create("Reports Tenant A", ta.org);
	tenant_clinic(&ta, "A", 1);
	tenant_clinic(&ta, "A", 1);
	tenant_clinic(&ta, "A", 0);
	tenant_clinic(&ta, "A", 1);
	tenant_assign(&ta, 0, "prov-a1", 1u | 2u, 1);
	tenant_assign(&ta, 1, "prov-a1", 2u, 0);
	tenant_assign(&ta, 0, "prov-a2", 4u, 1);
	tenant_assign(&ta, 1, "prov-a2", 4u, 0);
	tenant_assign(&ta, 1, "prov-a3", 8u | 16u, 1);
	tenant_assign(&ta, 0, "prov-a4", 1u | 0x100u, 0); /* deactivated */
	tenant_assign(&ta, 2, "prov-a6", 2u, 0);	  /* at the inactive clinic */
	tenant_tokens(&ta, "A");

	org_create("Reports Tenant B", tb.org);
	tenant_clinic(&tb, "B", 1);
	tenant_clinic(&tb, "B", 1);
	tenant_assign(&tb, 0, "prov-b1", 1u, 1);
	tenant_assign(&tb, 1, "prov-b1", 1u | 4u, 0);
	tenant_assign(&tb, 1, "prov-b2", 2u, 1);
	tenant_tokens(&tb, "B");
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1};

	(void)state;
	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	if (harness_server_start(&server, "reports", &c, &deps) == -1)
		return -1;
	client_use(&server, admin);
	make_fixtures();
	return 0;
}

static void
tenant_free(struct tenant *t)
{
	free(t->admin_token);
	free(t->manager_token);
	free(t->provider_token);
}

static int
group_teardown(void **state)
{
	(void)state;
	tenant_free(&ta);
	tenant_free(&tb);
	if (mongo != NULL)
		mongoc_client_destroy(mongo);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_organizations_report_counts_every_figure_of_its_period),
	    cmocka_unit_test(test_organizations_report_defaults_to_twelve_months_up_to_now),
	    cmocka_unit_test(test_subscriptions_ending_follow_days),
	    cmocka_unit_test(test_staffing_report_counts_every_figure_of_its_organization_only),
	    cmocka_unit_test(test_report_routes_are_scoped_by_role_and_organization),
	    cmocka_unit_test(test_staffing_of_an_unknown_or_malformed_organization),
	    cmocka_unit_test(test_bad_report_parameters_are_400_naming_them),
	    cmocka_unit_test(
		test_organizations_report_is_cached_and_invalidated_by_an_organization_write),
	    cmocka_unit_test(test_staffing_report_is_invalidated_by_assignment_and_clinic_writes),
	    cmocka_unit_test(test_the_report_class_deadline_is_its_own),
	    cmocka_unit_test(test_the_platform_report_is_precomputed_in_the_background),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
