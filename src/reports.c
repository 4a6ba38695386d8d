/*
 * reports.c: the reports of issue 9, and the background work that precomputes one of them.
 *
 * Both reports run on the slow backend pool under the `report` class deadline (120 s by
 * default) and go through the read cache like every GET (the stats TTL; ETag and 304 come
 * with it). They are written for what MongoDB and FerretDB 1.24 both do, so both give the same
 * answer from the same commands (shared/notes/ferretdb-1.24.md): plain finds with a
 * projection, summed here (months need $dateToString or $month, the staffing figures per-role,
 * distinct and per-clinic counts that would take $lookup, $facet or $addToSet; a $group with
 * $sum for status x tier works on both, but costs FerretDB a scan of its own):
 *
 *	platform report	find every organization's status, tier and createdAt (one scan);
 *			find subscriptionEndDate in [now, now + days] (the
 *			{subscriptionEndDate, status} index), sorted by date
 *	staffing	count the organization (404); find its clinics, sorted by _id; find its
 *			active assignments; both read once, joined here by a binary search
 *
 * Parameters are checked on the loop thread and handed to the work as a small BSON document
 * in call->filter ({from, to, now, days}), so the work computes exactly the period the
 * request named (and the cache key holds the query that named it).
 *
 * The precompute: worker 0 only, so N workers do not compute the same report N times (the
 * monitor never talks to MongoDB: it must keep serving /metrics while the database hangs); a
 * worker that dies is restarted by the master with its schedule.
 */
#include "reports.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "assignments.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "organizations.h"
#include "store.h"
#include "mongo.h"
#include "worker.h"

#define REPORTS_ORGS_PATH API_PREFIX "/reports/organizations"
#define REPORTS_MAX_MONTHS 36
#define REPORTS_DEFAULT_MONTHS 12
#define REPORTS_DEFAULT_DAYS 30
#define REPORTS_ENDING_MAX 1000 /* subscriptions listed; more set "truncated" */
#define REPORTS_DAY_MS 86400000LL
#define REPORTS_NSTATUS 3
#define REPORTS_NTIER 4
#define REPORTS_NROLE 5

/* Every organization write names it: the platform report is stale after any of them. */
static const char *const reports_platform_deps[] = {"list:organization", NULL};

/* --- periods --- */

/* Year and month (1-12) of a time in ms since the epoch, UTC. */
static void
reports_month_of(int64_t ms, int *y, int *m)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
	struct tm tm;

	gmtime_r(&t, &tm);
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
}

/* The first instant of month m (1-12, or beyond: normalized) of year y, in ms. */
static int64_t
reports_month_start(int y, int m)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = 1;
	return (int64_t)timegm(&tm) * 1000;
}

/* Calendar months touched by [from, to): month(from) .. month(to - 1 ms), inclusive. */
static int64_t
reports_months_spanned(int64_t from, int64_t to)
{
	int y0, m0, y1, m1;

	reports_month_of(from, &y0, &m0);
	reports_month_of(to - 1, &y1, &m1);
	return (int64_t)(y1 - y0) * 12 + (m1 - m0) + 1;
}

/*
 * The platform report's period: `to` (exclusive) defaults to now, `from` to the start of the
 * month 11 months before to's (12 calendar months). from must come before to and the period
 * span at most 36 calendar months (issue 9); 400 naming the parameters given otherwise.
 */
static int
reports_period_or_answer(struct http_req *r, int has_from, int64_t *from, int has_to, int64_t *to,
			 int64_t now)
{
	struct validate_errors errs;
	const char *msg = NULL;
	int y, m;

	if (!has_to)
		*to = now;
	if (!has_from) {
		reports_month_of(*to - 1, &y, &m);
		*from = reports_month_start(y, m - (REPORTS_DEFAULT_MONTHS - 1));
	}
	if (*from >= *to)
		msg = "from must come before to";
	else if (reports_months_spanned(*from, *to) > REPORTS_MAX_MONTHS)
		msg = "the period from..to may span at most 36 calendar months";
	if (msg == NULL)
		return 0;
	errs.n = 0;
	if (has_from)
		validate_error_add(&errs, "from", "%s", msg);
	if (has_to)
		validate_error_add(&errs, "to", "%s", msg);
	api_answer_errors(r, 400, msg, &errs);
	return -1;
}

static int64_t
reports_param(const struct api_call *call, const char *name)
{
	bson_iter_t it;

	if (call->filter != NULL && bson_iter_init_find(&it, call->filter, name)) {
		if (BSON_ITER_HOLDS_DATE_TIME(&it))
			return bson_iter_date_time(&it);
		if (BSON_ITER_HOLDS_NUMBER(&it))
			return bson_iter_as_int64(&it);
	}
	return 0;
}

static bson_t *
reports_params_new(int64_t from, int64_t to, int64_t now, int64_t days)
{
	bson_t *p = bson_new();

	BSON_APPEND_DATE_TIME(p, "from", from);
	BSON_APPEND_DATE_TIME(p, "to", to);
	BSON_APPEND_DATE_TIME(p, "now", now);
	BSON_APPEND_INT64(p, "days", days);
	return p;
}

static int
reports_index_of(const char *s, const char *const *values)
{
	int i;

	for (i = 0; values[i] != NULL; i++)
		if (strcmp(values[i], s) == 0)
			return i;
	return -1;
}

static const char *
reports_utf8_at(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

static void
reports_kv_date(struct json *j, const char *key, int64_t ms)
{
	char iso[32];

	json_iso8601(ms, iso);
	json_kv_string(j, key, iso);
}

/* --- the platform report --- */

/*
 * One read of every organization's status, tier and createdAt: counts[status][tier] of all of
 * them, and per[0..n) those created in [from, to) per calendar month. One scan instead of a
 * $group and a range find: FerretDB answers each filter but {_id} by reading the whole
 * collection, so two commands cost two scans (measured: 290 + 170 ms against 255 ms on 1000
 * seeded organizations); on MongoDB it reads three small fields of a small collection.
 */
static int
reports_scan_orgs(mongoc_collection_t *orgs, const struct api_call *call,
		  int64_t counts[REPORTS_NSTATUS][REPORTS_NTIER], int64_t from, int64_t to,
		  int64_t *per, int64_t n, bson_error_t *error)
{
	bson_t filter = BSON_INITIALIZER, *opts;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int y0, m0, rc = 0;

	reports_month_of(from, &y0, &m0);
	opts =
	    BCON_NEW("projection", "{", "status", BCON_INT32(1), "subscriptionTier", BCON_INT32(1),
		     "createdAt", BCON_INT32(1), "}", "maxTimeMS", BCON_INT64(api_budget_ms(call)));
	cursor = mongoc_collection_find_with_opts(orgs, &filter, opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		const char *s = reports_utf8_at(doc, "status");
		const char *t = reports_utf8_at(doc, "subscriptionTier");
		bson_iter_t it;
		int si, ti, y, m;
		int64_t i, at;

		if (s != NULL && t != NULL &&
		    (si = reports_index_of(s, organizations_statuses)) >= 0 &&
		    (ti = reports_index_of(t, organizations_tiers)) >= 0)
			counts[si][ti]++;
		if (!bson_iter_init_find(&it, doc, "createdAt") || !BSON_ITER_HOLDS_DATE_TIME(&it))
			continue;
		if ((at = bson_iter_date_time(&it)) < from || at >= to)
			continue;
		reports_month_of(at, &y, &m);
		i = (int64_t)(y - y0) * 12 + (m - m0);
		if (i >= 0 && i < n)
			per[i]++;
	}
	if (mongoc_cursor_error(cursor, error))
		rc = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	bson_destroy(opts);
	return rc;
}

/* Writes "subscriptionsEnding": the organizations whose subscription ends in [now, now+days]. */
static int
reports_ending(mongoc_collection_t *orgs, const struct api_call *call, struct json *j,
	       bson_error_t *error)
{
	int64_t now = reports_param(call, "now"), days = reports_param(call, "days");
	int64_t until = now + days * REPORTS_DAY_MS, n = 0;
	bson_t *filter, *opts;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int rc = 0;

	filter = BCON_NEW("subscriptionEndDate", "{", "$gte", BCON_DATE_TIME(now), "$lte",
			  BCON_DATE_TIME(until), "}");
	opts = BCON_NEW("projection", "{", "name", BCON_INT32(1), "subscriptionTier", BCON_INT32(1),
			"subscriptionEndDate", BCON_INT32(1), "status", BCON_INT32(1), "}", "sort",
			"{", "subscriptionEndDate", BCON_INT32(1), "_id", BCON_INT32(1), "}",
			"limit", BCON_INT64(REPORTS_ENDING_MAX + 1), "maxTimeMS",
			BCON_INT64(api_budget_ms(call)));
	json_key(j, "subscriptionsEnding");
	json_object_begin(j);
	json_kv_int(j, "days", days);
	reports_kv_date(j, "from", now);
	reports_kv_date(j, "to", until);
	json_key(j, "organizations");
	json_array_begin(j);
	cursor = mongoc_collection_find_with_opts(orgs, filter, opts, NULL);
	while (mongoc_cursor_next(cursor, &doc) && n < REPORTS_ENDING_MAX + 1) {
		if (++n <= REPORTS_ENDING_MAX)
			json_bson_document(j, doc);
	}
	if (mongoc_cursor_error(cursor, error))
		rc = -1;
	json_array_end(j);
	json_kv_int(j, "count", n <= REPORTS_ENDING_MAX ? n : REPORTS_ENDING_MAX);
	json_kv_bool(j, "truncated", n > REPORTS_ENDING_MAX);
	json_object_end(j);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	bson_destroy(opts);
	return rc;
}

static void
reports_write_status_tier(struct json *j, int64_t counts[REPORTS_NSTATUS][REPORTS_NTIER])
{
	int64_t total = 0;
	int s, t;

	json_key(j, "organizations");
	json_object_begin(j);
	json_key(j, "byStatusAndTier");
	json_object_begin(j);
	for (s = 0; s < REPORTS_NSTATUS; s++) {
		json_key(j, organizations_statuses[s]);
		json_object_begin(j);
		for (t = 0; t < REPORTS_NTIER; t++) {
			json_kv_int(j, organizations_tiers[t], counts[s][t]);
			total += counts[s][t];
		}
		json_object_end(j);
	}
	json_object_end(j);
	json_kv_int(j, "total", total);
	json_object_end(j);
}

static void
reports_write_months(struct json *j, int64_t from, const int64_t *per, int64_t n)
{
	int64_t i, total = 0;
	int y0, m0;
	char month[16];

	reports_month_of(from, &y0, &m0);
	json_key(j, "newOrganizations");
	json_object_begin(j);
	json_key(j, "byMonth");
	json_array_begin(j);
	for (i = 0; i < n; i++) {
		int64_t k = (int64_t)(m0 - 1) + i;

		snprintf(month, sizeof(month), "%04d-%02d", (int)(y0 + k / 12), (int)(k % 12) + 1);
		json_object_begin(j);
		json_kv_string(j, "month", month);
		json_kv_int(j, "count", per[i]);
		json_object_end(j);
		total += per[i];
	}
	json_array_end(j);
	json_kv_int(j, "total", total);
	json_object_end(j);
}

static void
reports_organizations_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *orgs = store_collection(b, "organizations");
	int64_t counts[REPORTS_NSTATUS][REPORTS_NTIER] = {{0}};
	int64_t from = reports_param(call, "from"), to = reports_param(call, "to");
	int64_t per[REPORTS_MAX_MONTHS] = {0}, n = reports_months_spanned(from, to);
	bson_error_t error;
	struct buf body;
	struct json j;

	buf_init(&body);
	if (orgs == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	if (n > REPORTS_MAX_MONTHS) /* checked on the loop thread: cannot happen */
		n = REPORTS_MAX_MONTHS;
	if (reports_scan_orgs(orgs, call, counts, from, to, per, n, &error) != 0) {
		store_fail(res, &error, "organizations report");
		goto out;
	}
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_string(&j, "report", "organizations");
	reports_kv_date(&j, "generatedAt", clock_wall_ms());
	json_key(&j, "period");
	json_object_begin(&j);
	reports_kv_date(&j, "from", from);
	reports_kv_date(&j, "to", to);
	json_object_end(&j);
	reports_write_status_tier(&j, counts);
	reports_write_months(&j, from, per, n);
	if (reports_ending(orgs, call, &j, &error) != 0) {
		store_fail(res, &error, "organizations report: subscriptions ending");
		goto out;
	}
	json_object_end(&j);
	http_response_json(res, 200, &body);
out:
	buf_free(&body);
	if (orgs != NULL)
		mongoc_collection_destroy(orgs);
}

void
reports_organizations(struct http_req *r)
{
	static const char *const params[] = {"from", "to", "days", NULL};
	struct auth_principal who;
	struct api_call *call;
	int64_t from = 0, to = 0, days = REPORTS_DEFAULT_DAYS, now = clock_wall_ms();
	int has_from, has_to, has_days;

	if (api_authenticate_or_answer(r, &who) != 0)
		return;
	if (who.role != AUTH_ROLE_PLATFORM_ADMIN) {
		http_respond_problem(r, 403, "only a platform administrator reads this report");
		return;
	}
	if (api_query_names_or_answer(r, params) != 0 ||
	    api_query_date_or_answer(r, "from", &from, &has_from) != 0 ||
	    api_query_date_or_answer(r, "to", &to, &has_to) != 0 ||
	    api_query_int_or_answer(r, "days", 1, 365, &days, &has_days) != 0 ||
	    reports_period_or_answer(r, has_from, &from, has_to, &to, now) != 0)
		return;
	call = api_call_new(r, &who);
	call->filter = reports_params_new(from, to, now, days);
	api_defer_read(r, reports_organizations_work, call, SHM_RES_STATS,
		       r->worker->conf->cache_ttl_stats, reports_platform_deps);
}

/* --- the staffing report --- */

struct reports_clinic {
	bson_oid_t id;
	bson_t *doc; /* name, code, status */
	int64_t assignments, primary, by_role[REPORTS_NROLE];
};

struct reports_staff {
	struct reports_clinic *clinics; /* sorted by id */
	size_t nclinics, clinics_cap;
	char (*providers)[65]; /* providerId of each active assignment counted */
	size_t nproviders, providers_cap;
};

static void
reports_staff_free(struct reports_staff *s)
{
	size_t i;

	for (i = 0; i < s->nclinics; i++)
		bson_destroy(s->clinics[i].doc);
	free(s->clinics);
	free(s->providers);
}

static void *
reports_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if ((q = realloc(p, n * size)) == NULL)
		abort(); /* out of memory: as everywhere else in the service */
	*cap = n;
	return q;
}

/*
 * Runs find(filter, opts) on collection and calls each(s, doc) for every document; filter and
 * opts are consumed. 0, or -1 with error.
 */
static int
reports_each(struct backend *b, const char *collection, bson_t *filter, bson_t *opts,
	     struct reports_staff *s, void (*each)(struct reports_staff *, const bson_t *),
	     bson_error_t *error)
{
	mongoc_collection_t *coll = store_collection(b, collection);
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int rc = 0;

	if (coll == NULL) {
		store_unavailable_error(error);
		rc = -1;
		goto out;
	}
	/* reports may read from a secondary when MONGODB_URI says so (replset.h) */
	cursor = mongoc_collection_find_with_opts(coll, filter, opts,
						  mongo_list_prefs(b->worker->mongo));
	while (mongoc_cursor_next(cursor, &doc))
		each(s, doc);
	if (mongoc_cursor_error(cursor, error))
		rc = -1;
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
out:
	bson_destroy(filter);
	bson_destroy(opts);
	return rc;
}

/* One clinic of the organization, kept in _id order (the find sorts by _id). */
static void
reports_add_clinic(struct reports_staff *s, const bson_t *doc)
{
	bson_iter_t it;
	struct reports_clinic *c;

	if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
		return;
	s->clinics =
	    reports_grow(s->clinics, &s->clinics_cap, s->nclinics + 1, sizeof(*s->clinics));
	c = &s->clinics[s->nclinics++];
	memset(c, 0, sizeof(*c));
	bson_oid_copy(bson_iter_oid(&it), &c->id);
	c->doc = bson_copy(doc);
}

/* The organization's clinics, sorted by _id. */
static int
reports_load_clinics(struct backend *b, const struct api_call *call, struct reports_staff *s,
		     bson_error_t *error)
{
	return reports_each(b, "clinics", BCON_NEW("organizationId", BCON_OID(&call->id)),
			    BCON_NEW("projection", "{", "name", BCON_INT32(1), "code",
				     BCON_INT32(1), "status", BCON_INT32(1), "}", "sort", "{",
				     "_id", BCON_INT32(1), "}", "maxTimeMS",
				     BCON_INT64(api_budget_ms(call))),
			    s, reports_add_clinic, error);
}

static struct reports_clinic *
reports_find_clinic(struct reports_staff *s, const bson_oid_t *id)
{
	size_t lo = 0, hi = s->nclinics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bson_oid_compare(&s->clinics[mid].id, id);

		if (c == 0)
			return &s->clinics[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Counts one active assignment into its clinic; assignments of unknown clinics are skipped. */
static void
reports_count_assignment(struct reports_staff *s, const bson_t *doc)
{
	bson_iter_t it, roles;
	struct reports_clinic *c;
	const char *provider;
	unsigned seen = 0;
	int k;

	if (!bson_iter_init_find(&it, doc, "clinicId") || !BSON_ITER_HOLDS_OID(&it) ||
	    (c = reports_find_clinic(s, bson_iter_oid(&it))) == NULL ||
	    (provider = reports_utf8_at(doc, "providerId")) == NULL || strlen(provider) > 64)
		return;
	c->assignments++;
	if (bson_iter_init_find(&it, doc, "isPrimaryClinic") && BSON_ITER_HOLDS_BOOL(&it) &&
	    bson_iter_bool(&it))
		c->primary++;
	if (bson_iter_init_find(&it, doc, "roles") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &roles)) {
		while (bson_iter_next(&roles)) {
			if (!BSON_ITER_HOLDS_UTF8(&roles) ||
			    (k = reports_index_of(bson_iter_utf8(&roles, NULL),
						  assignments_roles)) < 0 ||
			    (seen & (1u << k)))
				continue;
			seen |= 1u << k;
			c->by_role[k]++;
		}
	}
	s->providers =
	    reports_grow(s->providers, &s->providers_cap, s->nproviders + 1, sizeof(*s->providers));
	snprintf(s->providers[s->nproviders++], sizeof(s->providers[0]), "%s", provider);
}

static int
reports_load_assignments(struct backend *b, const struct api_call *call, struct reports_staff *s,
			 bson_error_t *error)
{
	return reports_each(
	    b, "assignments",
	    BCON_NEW("organizationId", BCON_OID(&call->id), "isActive", BCON_BOOL(true)),
	    BCON_NEW("projection", "{", "clinicId", BCON_INT32(1), "providerId", BCON_INT32(1),
		     "roles", BCON_INT32(1), "isPrimaryClinic", BCON_INT32(1), "}", "maxTimeMS",
		     BCON_INT64(api_budget_ms(call))),
	    s, reports_count_assignment, error);
}

static void
reports_write_roles(struct json *j, const int64_t *by_role)
{
	int k;

	json_key(j, "byRole");
	json_object_begin(j);
	for (k = 0; k < REPORTS_NROLE; k++)
		json_kv_int(j, assignments_roles[k], by_role[k]);
	json_object_end(j);
}

static void
reports_write_clinic_head(struct json *j, const struct reports_clinic *c)
{
	static const char *const keys[] = {"name", "code", "status", NULL};
	char id[25];
	int i;

	bson_oid_to_string(&c->id, id);
	json_kv_string(j, "id", id);
	for (i = 0; keys[i] != NULL; i++) {
		const char *v = reports_utf8_at(c->doc, keys[i]);

		if (v != NULL)
			json_kv_string(j, keys[i], v);
	}
}

static int
reports_strcmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* "providersAtSeveralClinics" (sorted by providerId) and the distinct provider count. */
static int64_t
reports_write_providers(struct json *j, struct reports_staff *s)
{
	size_t i = 0, k;
	int64_t distinct = 0;

	qsort(s->providers, s->nproviders, sizeof(s->providers[0]), reports_strcmp);
	json_key(j, "providersAtSeveralClinics");
	json_array_begin(j);
	while (i < s->nproviders) {
		for (k = i + 1; k < s->nproviders && strcmp(s->providers[k], s->providers[i]) == 0;
		     k++)
			;
		distinct++;
		if (k - i > 1) { /* one active assignment per (provider, clinic): k - i clinics */
			json_object_begin(j);
			json_kv_string(j, "providerId", s->providers[i]);
			json_kv_int(j, "clinics", (int64_t)(k - i));
			json_object_end(j);
		}
		i = k;
	}
	json_array_end(j);
	return distinct;
}

static void
reports_write_staffing(struct json *j, struct reports_staff *s)
{
	int64_t assignments = 0, primary = 0, by_role[REPORTS_NROLE] = {0};
	const char *status;
	size_t i;
	int k;

	json_key(j, "clinics");
	json_array_begin(j);
	for (i = 0; i < s->nclinics; i++) {
		const struct reports_clinic *c = &s->clinics[i];

		json_object_begin(j);
		reports_write_clinic_head(j, c);
		json_kv_int(j, "activeProviders", c->assignments);
		json_kv_int(j, "primaryAssignments", c->primary);
		json_kv_int(j, "secondaryAssignments", c->assignments - c->primary);
		reports_write_roles(j, c->by_role);
		json_object_end(j);
		assignments += c->assignments;
		primary += c->primary;
		for (k = 0; k < REPORTS_NROLE; k++)
			by_role[k] += c->by_role[k];
	}
	json_array_end(j);
	/* an inactive clinic needs no dentist: only ACTIVE ones are listed */
	json_key(j, "clinicsWithoutDentist");
	json_array_begin(j);
	for (i = 0; i < s->nclinics; i++) {
		status = reports_utf8_at(s->clinics[i].doc, "status");
		if (s->clinics[i].by_role[0] == 0 && status != NULL &&
		    strcmp(status, "ACTIVE") == 0) {
			json_object_begin(j);
			reports_write_clinic_head(j, &s->clinics[i]);
			json_object_end(j);
		}
	}
	json_array_end(j);
	{
		int64_t distinct = reports_write_providers(j, s);

		json_key(j, "totals");
		json_object_begin(j);
		json_kv_int(j, "clinics", (int64_t)s->nclinics);
		json_kv_int(j, "activeProviders", distinct);
		json_kv_int(j, "activeAssignments", assignments);
		json_kv_int(j, "primaryAssignments", primary);
		json_kv_int(j, "secondaryAssignments", assignments - primary);
		reports_write_roles(j, by_role);
		json_object_end(j);
	}
}

/* 1 when the organization exists, 0 when not, -1 with error. */
static int
reports_org_exists(struct backend *b, const struct api_call *call, bson_error_t *error)
{
	mongoc_collection_t *orgs = store_collection(b, "organizations");
	bson_t *filter, *opts;
	int64_t n;

	if (orgs == NULL) {
		store_unavailable_error(error);
		return -1;
	}
	filter = BCON_NEW("_id", BCON_OID(&call->id));
	opts = BCON_NEW("limit", BCON_INT64(1), "maxTimeMS", BCON_INT64(api_budget_ms(call)));
	n = mongoc_collection_count_documents(orgs, filter, opts, NULL, NULL, error);
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(orgs);
	return n < 0 ? -1 : n > 0;
}

static void
reports_staffing_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	struct reports_staff staff;
	bson_error_t error;
	struct buf body;
	struct json j;
	char id[25];
	int exists;

	memset(&staff, 0, sizeof(staff));
	buf_init(&body);
	if ((exists = reports_org_exists(b, call, &error)) < 0 ||
	    (exists == 1 && (reports_load_clinics(b, call, &staff, &error) != 0 ||
			     reports_load_assignments(b, call, &staff, &error) != 0))) {
		store_fail(res, &error, "staffing report");
		goto out;
	}
	if (exists == 0) {
		http_response_problem(res, 404, "no such record");
		goto out;
	}
	bson_oid_to_string(&call->id, id);
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_string(&j, "report", "staffing");
	json_kv_string(&j, "organizationId", id);
	reports_kv_date(&j, "generatedAt", clock_wall_ms());
	/* a snapshot: the period is the instant it was read */
	json_key(&j, "period");
	json_object_begin(&j);
	reports_kv_date(&j, "asOf", clock_wall_ms());
	json_object_end(&j);
	reports_write_staffing(&j, &staff);
	json_object_end(&j);
	http_response_json(res, 200, &body);
out:
	reports_staff_free(&staff);
	buf_free(&body);
}

void
reports_staffing(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;
	char dep[64], idhex[25];
	/* clinics and assignments of the organization: any write of either makes it stale */
	const char *deps[] = {dep, "list:clinic", "list:assignment", NULL};

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_query_names_or_answer(r, (const char *const[]){NULL}) != 0 ||
	    api_path_oid_or_answer(r, "id", &id) != 0 ||
	    api_org_access_or_answer(r, &who, &id, 0) != 0)
		return;
	if (who.role != AUTH_ROLE_PLATFORM_ADMIN && who.role != AUTH_ROLE_ORG_ADMIN) {
		http_respond_problem(r, 403,
				     "only the organization's administrators read this report");
		return;
	}
	call = api_call_new(r, &who);
	call->id = id;
	bson_oid_to_string(&id, idhex);
	snprintf(dep, sizeof(dep), "organization:%s", idhex);
	api_defer_read(r, reports_staffing_work, call, SHM_RES_STATS,
		       r->worker->conf->cache_ttl_stats, deps);
}

/* --- background: the platform report, precomputed --- */

struct reports_precompute {
	struct worker *w;
	pthread_t tid;
	int started;
	atomic_int busy; /* a run is queued or running */
};

struct reports_precompute_task {
	struct backend_task task; /* first: the pool hands this pointer back */
	struct reports_precompute *p;
};

/* The call a parameterless GET /reports/organizations by a platform admin would make. */
static struct api_call *
reports_precompute_call(struct worker *w)
{
	struct api_call *call = calloc(1, sizeof(*call));
	int64_t now = clock_wall_ms(), from;
	int y, m;

	if (call == NULL)
		abort();
	call->who.role = AUTH_ROLE_PLATFORM_ADMIN;
	snprintf(call->who.sub, sizeof(call->who.sub), "enterprised-background");
	call->worker = w;
	call->deadline_ms = clock_mono_ms() + (uint64_t)w->conf->background_timeout_ms;
	reports_month_of(now - 1, &y, &m);
	from = reports_month_start(y, m - (REPORTS_DEFAULT_MONTHS - 1));
	call->filter = reports_params_new(from, now, now, REPORTS_DEFAULT_DAYS);
	call->work = reports_organizations_work;
	return call;
}

static void
reports_precompute_run(struct backend *b, struct backend_task *t)
{
	struct reports_precompute_task *pt = (struct reports_precompute_task *)t;
	struct reports_precompute *p = pt->p;
	struct worker *w = b->worker;
	struct api_call *call = reports_precompute_call(w);
	struct readcache_spec spec;
	struct http_response res;
	struct buf query;
	uint64_t start = clock_mono_us();

	free(pt);
	readcache_spec_init(&spec, SHM_RES_STATS, w->conf->cache_ttl_stats);
	buf_init(&query); /* no parameters: the key of the parameterless request */
	if (readcache_key_build(&spec, &call->who, REPORTS_ORGS_PATH, &query) != 0)
		spec.uncached = 1;
	buf_free(&query);
	readcache_dep(&spec, "%s", reports_platform_deps[0]);
	http_response_init(&res);
	if (readcache_precompute(b, &spec, store_work, call, &res) != 0)
		log_warn("background: platform report not precomputed (status %d)", res.status);
	shm_record_request(w->shm, SHM_CLASS_BACKGROUND, res.status != 0 ? res.status : 500,
			   clock_mono_us() - start);
	http_response_free(&res);
	api_call_free(call);
	atomic_store(&p->busy, 0);
}

static void *
reports_precompute_main(void *arg)
{
	struct reports_precompute *p = arg;
	struct worker *w = p->w;
	uint64_t next = clock_mono_ms();

	while (!*w->stop) {
		uint64_t now = clock_mono_ms();

		if (now >= next) {
			next = now + (uint64_t)w->conf->report_precompute_interval * 1000;
			if (atomic_exchange(&p->busy, 1) == 0) {
				struct reports_precompute_task *t = calloc(1, sizeof(*t));

				if (t == NULL)
					abort();
				t->task.run = reports_precompute_run;
				t->p = p;
				if (backend_pool_submit(w->slow, &t->task) != 0) {
					free(t);
					atomic_store(&p->busy, 0);
					log_warn("background: the slow queue is full; platform "
						 "report precompute skipped");
				}
			}
		}
		usleep(100 * 1000);
	}
	return NULL;
}

struct reports_precompute *
reports_precompute_start(struct worker *w)
{
	struct reports_precompute *p;

	if (w->conf->report_precompute_interval == 0)
		return NULL;
	if (!w->conf->cache_enabled) {
		log_warn("background: report_precompute_interval is set but the cache is off; "
			 "nothing to precompute into");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	p->w = w;
	atomic_init(&p->busy, 0);
	if (pthread_create(&p->tid, NULL, reports_precompute_main, p) != 0) {
		log_error("background: cannot start the precompute thread");
		free(p);
		return NULL;
	}
	p->started = 1;
	log_info("background: platform report precomputed every %d s",
		 w->conf->report_precompute_interval);
	return p;
}

void
reports_precompute_stop(struct reports_precompute *p)
{
	if (p != NULL && p->started) {
		pthread_join(p->tid, NULL);
		p->started = 0;
	}
}

void
reports_precompute_free(struct reports_precompute *p)
{
	free(p);
}
