/*
 * test_organizations.c: the organization resource end to end: create, read, field selection,
 * list filters, patch, delete, search and stats; every bad input of the issue; and the role
 * matrix (each role against its own and another organization).
 *
 * One server (2 workers, http_body_max 4096) on one FerretDB and one Redis, shared by every
 * test. Tests run in order and several create organizations, so a test that needs an exact
 * answer narrows its list to a createdAt window of its own documents. Clinics and assignments
 * are written straight into FerretDB with the driver (their API is not what is tested here).
 * Every organization created through the API is remembered, so the last test can check that
 * the collection holds exactly those: no bad input left anything behind or changed a document
 * into something the API would refuse.
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
#include <curl/curl.h>

#include "client.h"
#include "harness.h"

#define ORGS "/api/v1/organizations"
#define BODY_MAX 4096
#define MAX_LIVE 512

static struct harness_deps deps;
static struct harness_server server;
static mongoc_client_t *mongo;
static char *admin; /* a platform_admin token */

/* ids of the organizations created through the API and not deleted */
static char live[MAX_LIVE][25];
static int nlive;

static const char *const member_roles[] = {"org_admin", "clinic_manager", "provider", NULL};

/* --- helpers ------------------------------------------------------------------------------ */

static void
live_add(const char *id)
{
	if (nlive == MAX_LIVE)
		fail_msg("more than %d organizations", MAX_LIVE);
	snprintf(live[nlive++], 25, "%s", id);
}

static void
live_remove(const char *id)
{
	int i;

	for (i = 0; i < nlive; i++) {
		if (strcmp(live[i], id) == 0) {
			memmove(live[i], live[nlive - 1], 25);
			nlive--;
			return;
		}
	}
}

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

static int
is_hex24(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 24)
		return 0;
	for (i = 0; i < 24; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* One request to the server; body NULL means none. extra: one more header or NULL. */
static void
call_with(const char *method, const char *path, const char *token, const char *extra,
	  const char *body, size_t body_len, struct harness_response *r)
{
	const char *headers[2] = {extra, NULL};
	char *url = strf("%s%s", server.url, path);

	if (harness_request_token(method, url, token, headers, body, body_len, r) == -1)
		fail_msg("%s %s: %s", method, url, r->error);
	free(url);
}

static void
call(const char *method, const char *path, const char *token, const char *body,
     struct harness_response *r)
{
	call_with(method, path, token, NULL, body, body != NULL ? strlen(body) : 0, r);
}

/* The status, an application/json content type, and the body as a document. */
static bson_t *
expect_json(const struct harness_response *r, long status)
{
	const char *ct = harness_header(r, "content-type");
	bson_t *doc;

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (ct == NULL || strncmp(ct, "application/json", 16) != 0)
		fail_msg("content-type %s, want application/json", ct ? ct : "(none)");
	if ((doc = harness_json(r)) == NULL)
		fail_msg("not a JSON object: %s", r->body);
	return doc;
}

/* The status, and an RFC 9457 problem+json body that says the same status. */
static void
expect_problem(const struct harness_response *r, long status)
{
	char why[512];

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (harness_problem_check(r, why, sizeof(why)) == -1)
		fail_msg("%ld: %s", status, why);
}

/* A problem with a non-empty `errors` array. */
static void
expect_errors(const struct harness_response *r, long status)
{
	bson_t *doc;
	bson_iter_t it, arr;

	expect_problem(r, status);
	doc = harness_json(r);
	if (!bson_iter_init_find(&it, doc, "errors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr) || !bson_iter_next(&arr))
		fail_msg("no non-empty errors array in %s", r->body);
	bson_destroy(doc);
}

/* A problem whose errors array names field. */
static void
expect_field_error(const struct harness_response *r, long status, const char *field)
{
	expect_errors(r, status);
	if (!harness_problem_names(r, field))
		fail_msg("errors do not name `%s`: %s", field, r->body);
}

/* POSTs body as platform_admin; 201 expected. Returns the document; id filled. */
static bson_t *
create_doc(const char *body, char id[25])
{
	struct harness_response r;
	bson_t *doc;
	const char *s;

	call("POST", ORGS, admin, body, &r);
	doc = expect_json(&r, 201);
	s = harness_json_str(doc, "id");
	if (!is_hex24(s))
		fail_msg("id of the created organization is %s", s ? s : "(none)");
	snprintf(id, 25, "%s", s);
	live_add(id);
	harness_response_free(&r);
	return doc;
}

static void
create_org(const char *body, char id[25])
{
	bson_destroy(create_doc(body, id));
}

static void
create_named(const char *name, char id[25])
{
	char *body = strf("{\"name\":\"%s\"}", name);

	create_org(body, id);
	free(body);
}

/* createdAt of a created or fetched document, in ms. */
static int64_t
created_ms(const bson_t *doc, const char *field)
{
	int64_t ms;

	if (harness_iso_ms(harness_json_str(doc, field), &ms) == -1)
		fail_msg("%s is %s, not ISO-8601 UTC", field,
			 harness_json_str(doc, field) ? harness_json_str(doc, field) : "(none)");
	return ms;
}

/* GET path (a list or a search) as token; 200 expected; ids of `data` in order. */
static bson_t *
list_ids(const char *path, const char *token, char ids[][25], int max, int *n)
{
	struct harness_response r;
	bson_iter_t it, arr, row;
	bson_t *doc;

	call("GET", path, token, NULL, &r);
	doc = expect_json(&r, 200);
	*n = 0;
	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("no data array: %s", r.body);
	while (bson_iter_next(&arr)) {
		if (*n == max)
			fail_msg("more than %d rows: %s", max, r.body);
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &row) ||
		    !bson_iter_find(&row, "id") || !BSON_ITER_HOLDS_UTF8(&row))
			fail_msg("a row without id: %s", r.body);
		snprintf(ids[(*n)++], 25, "%s", bson_iter_utf8(&row, NULL));
	}
	harness_response_free(&r);
	return doc;
}

static int
has_id(char ids[][25], int n, const char *id)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return 1;
	return 0;
}

/* The window "createdAfter=<first - 1 ms>" that holds only documents created from now on. */
static void
window_start(char out[32])
{
	/* a document of an earlier test shares no millisecond with ours */
	harness_sleep_ms(5);
	harness_ms_iso(harness_wall_ms() - 1, out);
	harness_sleep_ms(2);
}

static mongoc_collection_t *
collection(const char *name)
{
	return mongoc_client_get_collection(mongo, HARNESS_DB, name);
}

static void
insert(const char *coll_name, bson_t *doc)
{
	mongoc_collection_t *coll = collection(coll_name);
	bson_error_t error;

	if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &error))
		fail_msg("insert into %s: %s", coll_name, error.message);
	mongoc_collection_destroy(coll);
}

/* A clinic as the clinic API would store it; its id in out (may be NULL). */
static void
insert_clinic(const char *org_hex, const char *code, const char *status, bson_oid_t *out)
{
	bson_oid_t id, org;
	int64_t now = (int64_t)time(NULL) * 1000;
	bson_t *doc;

	bson_oid_init(&id, NULL);
	bson_oid_init_from_string(&org, org_hex);
	doc = BCON_NEW("_id", BCON_OID(&id), "organizationId", BCON_OID(&org), "name",
		       BCON_UTF8(code), "code", BCON_UTF8(code), "status", BCON_UTF8(status),
		       "createdAt", BCON_DATE_TIME(now), "updatedAt", BCON_DATE_TIME(now),
		       "version", BCON_INT64(1));
	insert("clinics", doc);
	bson_destroy(doc);
	if (out != NULL)
		*out = id;
}

static void
insert_assignment(const char *org_hex, const bson_oid_t *clinic, const char *provider, int active)
{
	int64_t now = (int64_t)time(NULL) * 1000;
	bson_oid_t org;
	bson_t *doc;

	bson_oid_init_from_string(&org, org_hex);
	doc = BCON_NEW("providerId", BCON_UTF8(provider), "clinicId", BCON_OID(clinic),
		       "organizationId", BCON_OID(&org), "roles", "[", BCON_UTF8("DENTIST"), "]",
		       "isPrimaryClinic", BCON_BOOL(false), "isActive", BCON_BOOL(active),
		       "assignedAt", BCON_DATE_TIME(now), "createdAt", BCON_DATE_TIME(now),
		       "updatedAt", BCON_DATE_TIME(now), "version", BCON_INT64(1));
	insert("assignments", doc);
	bson_destroy(doc);
}

static void
want_str(const bson_t *doc, const char *path, const char *want)
{
	const char *got = harness_json_str(doc, path);

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s is %s, want %s", path, got ? got : "(absent)", want);
}

static int64_t
int_at(const bson_t *doc, const char *path)
{
	int64_t v;

	if (harness_json_int(doc, path, &v) == -1)
		fail_msg("%s is not an integer", path);
	return v;
}

/* --- create ------------------------------------------------------------------------------- */

static void
test_create_answers_201_with_location_of_the_new_organization(void **state)
{
	struct harness_response r, got;
	const char *loc;
	char *want, id[25];
	bson_t *doc;

	call("POST", ORGS, admin, "{\"name\":\"Location Dental\"}", &r);
	doc = expect_json(&r, 201);
	snprintf(id, sizeof(id), "%s", harness_json_str(doc, "id"));
	live_add(id);
	want = strf(ORGS "/%s", id);
	loc = harness_header(&r, "location");
	if (loc == NULL || strcmp(loc, want) != 0)
		fail_msg("Location is %s, want %s", loc ? loc : "(none)", want);
	call("GET", loc, admin, NULL, &got);
	bson_destroy(doc);
	doc = expect_json(&got, 200);
	want_str(doc, "id", id);
	bson_destroy(doc);
	free(want);
	harness_response_free(&got);
	harness_response_free(&r);
}

static void
test_create_defaults_status_active_and_tier_free(void **state)
{
	char id[25];
	bson_t *doc = create_doc("{\"name\":\"Defaults Dental\"}", id);

	want_str(doc, "status", "ACTIVE");
	want_str(doc, "subscriptionTier", "FREE");
	bson_destroy(doc);
}

static void
test_create_sets_id_dates_and_version_one(void **state)
{
	char id[25];
	bson_t *doc = create_doc("{\"name\":\"Server Fields Dental\"}", id);
	int64_t created = created_ms(doc, "createdAt"), updated = created_ms(doc, "updatedAt");
	int64_t now = (int64_t)time(NULL) * 1000;

	assert_true(is_hex24(id));
	if (created != updated)
		fail_msg("createdAt %lld != updatedAt %lld on create", (long long)created,
			 (long long)updated);
	if (created < now - 60000 || created > now + 60000)
		fail_msg("createdAt %lld is not near now %lld", (long long)created, (long long)now);
	assert_int_equal(int_at(doc, "version"), 1);
	bson_destroy(doc);
}

static void
test_create_returns_every_given_field(void **state)
{
	static const char body[] =
	    "{\"name\":\"Full Dental Group\",\"status\":\"SUSPENDED\",\"subscriptionTier\":\"PRO\","
	    "\"subscriptionEndDate\":\"2030-01-31T12:00:00.000Z\",\"contactEmail\":\"ops@full."
	    "example\","
	    "\"phone\":\"+1 (555) 123-4567\",\"address\":{\"street\":\"1 Main "
	    "St\",\"city\":\"Austin\","
	    "\"state\":\"TX\",\"postalCode\":\"78701\",\"country\":\"US\"},"
	    "\"settings\":{\"theme\":\"dark\",\"reminders\":{\"sms\":true}}}";
	char id[25];
	bson_t *doc = create_doc(body, id);
	int64_t end;

	want_str(doc, "name", "Full Dental Group");
	want_str(doc, "status", "SUSPENDED");
	want_str(doc, "subscriptionTier", "PRO");
	assert_int_equal(harness_iso_ms(harness_json_str(doc, "subscriptionEndDate"), &end), 0);
	assert_true(end == 1896091200000LL); /* 2030-01-31T12:00:00Z */
	want_str(doc, "contactEmail", "ops@full.example");
	want_str(doc, "phone", "+1 (555) 123-4567");
	want_str(doc, "address.street", "1 Main St");
	want_str(doc, "address.city", "Austin");
	want_str(doc, "address.state", "TX");
	want_str(doc, "address.postalCode", "78701");
	want_str(doc, "address.country", "US");
	want_str(doc, "settings.theme", "dark");
	assert_int_equal(harness_json_type(doc, "settings.reminders.sms"), BSON_TYPE_BOOL);
	bson_destroy(doc);
}

/* --- read --------------------------------------------------------------------------------- */

static void
test_get_returns_the_stored_organization(void **state)
{
	struct harness_response r;
	char id[25], *path;
	bson_t *made =
		   create_doc("{\"name\":\"Get Me Dental\",\"contactEmail\":\"a@b.example\"}", id),
	       *doc;

	path = strf(ORGS "/%s", id);
	call("GET", path, admin, NULL, &r);
	doc = expect_json(&r, 200);
	want_str(doc, "id", id);
	want_str(doc, "name", "Get Me Dental");
	want_str(doc, "contactEmail", "a@b.example");
	want_str(doc, "createdAt", harness_json_str(made, "createdAt"));
	assert_int_equal(int_at(doc, "version"), 1);
	/* the database's own key never shows */
	assert_int_equal(harness_json_type(doc, "_id"), BSON_TYPE_EOD);
	bson_destroy(doc);
	bson_destroy(made);
	free(path);
	harness_response_free(&r);
}

static void
test_get_with_fields_returns_only_id_and_those_fields(void **state)
{
	struct harness_response r;
	char id[25], *path;
	bson_iter_t it;
	bson_t *doc;
	int n = 0;

	create_org("{\"name\":\"Fields "
		   "Dental\",\"contactEmail\":\"f@f.example\",\"phone\":\"5551234567\"}",
		   id);
	path = strf(ORGS "/%s?fields=name,status", id);
	call("GET", path, admin, NULL, &r);
	doc = expect_json(&r, 200);
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);

		if (strcmp(k, "id") != 0 && strcmp(k, "name") != 0 && strcmp(k, "status") != 0)
			fail_msg("field %s in %s, want only id, name, status", k, r.body);
		n++;
	}
	assert_int_equal(n, 3);
	want_str(doc, "name", "Fields Dental");
	want_str(doc, "status", "ACTIVE");
	bson_destroy(doc);
	free(path);
	harness_response_free(&r);
}

static void
test_fields_with_an_unknown_field_is_400_naming_it(void **state)
{
	struct harness_response r;
	char id[25], *path;

	create_named("Unknown Fields Dental", id);
	path = strf(ORGS "/%s?fields=name,bogusField", id);
	call("GET", path, admin, NULL, &r);
	expect_field_error(&r, 400, "fields");
	if (strstr(r.body, "bogusField") == NULL)
		fail_msg("the answer does not name bogusField: %s", r.body);
	harness_response_free(&r);
	free(path);
}

static void
test_list_with_fields_returns_only_id_and_those_fields(void **state)
{
	struct harness_response r;
	bson_iter_t it, arr, row;
	bson_t *doc;
	int rows = 0;

	call("GET", ORGS "?fields=name&limit=5", admin, NULL, &r);
	doc = expect_json(&r, 200);
	assert_true(bson_iter_init_find(&it, doc, "data") && bson_iter_recurse(&it, &arr));
	while (bson_iter_next(&arr)) {
		assert_true(bson_iter_recurse(&arr, &row));
		while (bson_iter_next(&row)) {
			const char *k = bson_iter_key(&row);

			if (strcmp(k, "id") != 0 && strcmp(k, "name") != 0)
				fail_msg("field %s in a row of %s", k, r.body);
		}
		rows++;
	}
	assert_true(rows > 0);
	bson_destroy(doc);
	harness_response_free(&r);
}

/* --- list filters ------------------------------------------------------------------------- */

static void
test_list_filters_by_status(void **state)
{
	char after[32], a[25], b[25], c[25], ids[100][25], *path;
	bson_t *doc;
	int n;

	window_start(after);
	create_org("{\"name\":\"Status Filter A\",\"status\":\"ACTIVE\"}", a);
	create_org("{\"name\":\"Status Filter B\",\"status\":\"SUSPENDED\"}", b);
	create_org(
	    "{\"name\":\"Status Filter C\",\"status\":\"SUSPENDED\",\"subscriptionTier\":\"PRO\"}",
	    c);
	path = strf(ORGS "?status=SUSPENDED&createdAfter=%s&limit=100", after);
	doc = list_ids(path, admin, ids, 100, &n);
	if (n != 2 || !has_id(ids, n, b) || !has_id(ids, n, c))
		fail_msg("status=SUSPENDED since %s: %d rows, want B and C", after, n);
	assert_int_equal(int_at(doc, "pagination.total"), 2);
	bson_destroy(doc);
	free(path);
}

static void
test_list_filters_by_subscription_tier(void **state)
{
	char after[32], a[25], b[25], c[25], ids[100][25], *path;
	bson_t *doc;
	int n;

	window_start(after);
	create_org("{\"name\":\"Tier Filter A\"}", a);
	create_org("{\"name\":\"Tier Filter B\",\"subscriptionTier\":\"ENTERPRISE\"}", b);
	create_org("{\"name\":\"Tier Filter C\",\"subscriptionTier\":\"BASIC\"}", c);
	path = strf(ORGS "?subscriptionTier=ENTERPRISE&createdAfter=%s&limit=100", after);
	doc = list_ids(path, admin, ids, 100, &n);
	if (n != 1 || strcmp(ids[0], b) != 0)
		fail_msg("subscriptionTier=ENTERPRISE since %s: %d rows, want only B", after, n);
	bson_destroy(doc);
	free(path);
	path = strf(ORGS "?subscriptionTier=FREE&createdAfter=%s&limit=100", after);
	doc = list_ids(path, admin, ids, 100, &n);
	if (n != 1 || strcmp(ids[0], a) != 0)
		fail_msg("subscriptionTier=FREE since %s: %d rows, want only A", after, n);
	bson_destroy(doc);
	free(path);
}

static void
test_list_filters_by_created_after_and_before(void **state)
{
	char a[25], b[25], c[25], lo[32], hi[32], ids[100][25], *path;
	bson_t *da, *dc, *doc;
	int n;

	/* 10 ms apart, and the bounds 1 ms inside: right whether the bounds are inclusive or not */
	da = create_doc("{\"name\":\"Range A\"}", a);
	harness_sleep_ms(10);
	create_named("Range B", b);
	harness_sleep_ms(10);
	dc = create_doc("{\"name\":\"Range C\"}", c);
	harness_ms_iso(created_ms(da, "createdAt") + 1, lo);
	harness_ms_iso(created_ms(dc, "createdAt") - 1, hi);
	path = strf(ORGS "?createdAfter=%s&createdBefore=%s&limit=100", lo, hi);
	doc = list_ids(path, admin, ids, 100, &n);
	if (n != 1 || strcmp(ids[0], b) != 0)
		fail_msg("createdAfter=%s&createdBefore=%s: %d rows, want only B", lo, hi, n);
	bson_destroy(doc);
	free(path);
	bson_destroy(da);
	bson_destroy(dc);
}

/* --- patch -------------------------------------------------------------------------------- */

static bson_t *
patch(const char *id, const char *token, const char *body, long status)
{
	struct harness_response r;
	char *path = strf(ORGS "/%s", id);
	bson_t *doc = NULL;

	call("PATCH", path, token, body, &r);
	if (status == 200)
		doc = expect_json(&r, 200);
	else
		expect_problem(&r, status);
	harness_response_free(&r);
	free(path);
	return doc;
}

static bson_t *
get_org(const char *id, const char *token, long status)
{
	struct harness_response r;
	char *path = strf(ORGS "/%s", id);
	bson_t *doc = NULL;

	call("GET", path, token, NULL, &r);
	if (status == 200)
		doc = expect_json(&r, 200);
	else
		expect_problem(&r, status);
	harness_response_free(&r);
	free(path);
	return doc;
}

static void
test_patch_changes_only_the_given_fields(void **state)
{
	char id[25];
	bson_t *doc;

	create_org("{\"name\":\"Patch "
		   "Partial\",\"contactEmail\":\"p@p.example\",\"phone\":\"5550001111\"}",
		   id);
	doc = patch(id, admin, "{\"subscriptionTier\":\"BASIC\"}", 200);
	want_str(doc, "subscriptionTier", "BASIC");
	bson_destroy(doc);
	doc = get_org(id, admin, 200);
	want_str(doc, "subscriptionTier", "BASIC");
	want_str(doc, "name", "Patch Partial");
	want_str(doc, "contactEmail", "p@p.example");
	want_str(doc, "phone", "5550001111");
	want_str(doc, "status", "ACTIVE");
	bson_destroy(doc);
}

static void
test_patch_increments_version_and_moves_updated_at(void **state)
{
	char id[25];
	bson_t *made = create_doc("{\"name\":\"Patch Version\"}", id), *doc;

	harness_sleep_ms(20);
	doc = patch(id, admin, "{\"name\":\"Patch Version 2\"}", 200);
	assert_int_equal(int_at(doc, "version"), 2);
	want_str(doc, "name", "Patch Version 2");
	want_str(doc, "createdAt", harness_json_str(made, "createdAt"));
	if (created_ms(doc, "updatedAt") <= created_ms(made, "updatedAt"))
		fail_msg("updatedAt %s did not move past %s", harness_json_str(doc, "updatedAt"),
			 harness_json_str(made, "updatedAt"));
	bson_destroy(doc);
	doc = patch(id, admin, "{\"status\":\"INACTIVE\"}", 200);
	assert_int_equal(int_at(doc, "version"), 3);
	bson_destroy(doc);
	bson_destroy(made);
}

/* The stored document of id, straight from FerretDB. Caller destroys; NULL when absent. */
static bson_t *
stored(const char *id)
{
	mongoc_collection_t *coll = collection("organizations");
	bson_t filter = BSON_INITIALIZER, *found = NULL;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_oid_t oid;

	bson_oid_init_from_string(&oid, id);
	BSON_APPEND_OID(&filter, "_id", &oid);
	cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		found = bson_copy(doc);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return found;
}

static void
test_patch_null_clears_an_optional_field(void **state)
{
	char id[25];
	bson_t *doc;

	create_org("{\"name\":\"Patch Null\",\"phone\":\"5552223333\"}", id);
	doc = patch(id, admin, "{\"phone\":null}", 200);
	assert_int_equal(harness_json_type(doc, "phone"), BSON_TYPE_EOD);
	bson_destroy(doc);
	doc = get_org(id, admin, 200);
	assert_int_equal(harness_json_type(doc, "phone"), BSON_TYPE_EOD);
	want_str(doc, "name", "Patch Null");
	bson_destroy(doc);
	/* removed, not stored as null */
	doc = stored(id);
	assert_non_null(doc);
	if (bson_has_field(doc, "phone"))
		fail_msg("phone is still stored after a PATCH with null");
	bson_destroy(doc);
}

static void
test_patch_null_on_name_is_400_naming_it(void **state)
{
	struct harness_response r;
	char id[25], *path;
	bson_t *doc;

	create_named("Patch Null Name", id);
	path = strf(ORGS "/%s", id);
	call("PATCH", path, admin, "{\"name\":null}", &r);
	expect_field_error(&r, 400, "name");
	harness_response_free(&r);
	doc = get_org(id, admin, 200);
	want_str(doc, "name", "Patch Null Name");
	assert_int_equal(int_at(doc, "version"), 1);
	bson_destroy(doc);
	free(path);
}

static void
test_patch_of_an_unknown_id_is_404(void **state)
{
	bson_oid_t oid;
	char hex[25];

	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, hex);
	patch(hex, admin, "{\"name\":\"Nobody\"}", 404);
}

/* --- delete ------------------------------------------------------------------------------- */

static void
delete_org(const char *id, const char *token, long status)
{
	struct harness_response r;
	char *path = strf(ORGS "/%s", id);

	call("DELETE", path, token, NULL, &r);
	if (status == 204) {
		if (r.status != 204)
			fail_msg("DELETE %s: %ld %s, want 204", path, r.status, r.body);
		if (r.body_len != 0)
			fail_msg("204 with a body: %s", r.body);
		live_remove(id);
	} else {
		expect_problem(&r, status);
	}
	harness_response_free(&r);
	free(path);
}

static void
test_delete_answers_204_and_then_get_is_404(void **state)
{
	char id[25];
	bson_t *doc;

	create_named("Delete Me Dental", id);
	delete_org(id, admin, 204);
	get_org(id, admin, 404);
	doc = stored(id);
	if (doc != NULL)
		fail_msg("the deleted organization is still stored");
}

static void
test_delete_of_an_unknown_id_is_404(void **state)
{
	bson_oid_t oid;
	char hex[25];

	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, hex);
	delete_org(hex, admin, 404);
}

static void
test_delete_while_it_has_a_clinic_is_409(void **state)
{
	mongoc_collection_t *coll;
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;
	bson_oid_t clinic;
	char id[25];
	bson_t *doc;

	create_named("Has Clinics Dental", id);
	insert_clinic(id, "HC-1", "ACTIVE", &clinic);
	delete_org(id, admin, 409);
	doc = get_org(id, admin, 200);
	bson_destroy(doc);
	/* the clinic was the only reason: without it the delete goes through */
	coll = collection("clinics");
	BSON_APPEND_OID(&filter, "_id", &clinic);
	if (!mongoc_collection_delete_one(coll, &filter, NULL, NULL, &error))
		fail_msg("delete clinic: %s", error.message);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	delete_org(id, admin, 204);
}

static void
test_delete_while_it_has_only_an_inactive_clinic_is_409(void **state)
{
	char id[25];

	create_named("Has Inactive Clinic Dental", id);
	insert_clinic(id, "HIC-1", "INACTIVE", NULL);
	delete_org(id, admin, 409);
}

/* --- search ------------------------------------------------------------------------------- */

static bson_t *
search(const char *q, const char *token, char ids[][25], int max, int *n)
{
	char *enc = curl_easy_escape(NULL, q, 0), *path = strf(ORGS "/search?q=%s", enc);
	bson_t *doc = list_ids(path, token, ids, max, n);

	curl_free(enc);
	free(path);
	return doc;
}

static void
test_search_is_case_insensitive(void **state)
{
	char id[25], ids[100][25];
	bson_t *doc;
	int n;

	create_named("Zephyrine Smiles", id);
	doc = search("zEPHYRINE", admin, ids, 100, &n);
	if (n != 1 || strcmp(ids[0], id) != 0)
		fail_msg("q=zEPHYRINE: %d rows, want Zephyrine Smiles", n);
	bson_destroy(doc);
	doc = search("smiles", admin, ids, 100, &n);
	if (!has_id(ids, n, id))
		fail_msg("q=smiles: Zephyrine Smiles not among %d rows", n);
	bson_destroy(doc);
}

static void
test_search_puts_prefix_matches_first(void **state)
{
	char smile[25], aardvark[25], alpha[25], ids[100][25];
	bson_t *doc;
	int n;

	/* by name alone "Aardvark Alpha Care" sorts first; a prefix match must still lead */
	create_named("Smile Alpha", smile);
	create_named("Aardvark Alpha Care", aardvark);
	create_named("Alpha Dental", alpha);
	doc = search("alpha", admin, ids, 100, &n);
	if (n != 3)
		fail_msg("q=alpha: %d rows, want 3", n);
	if (strcmp(ids[0], alpha) != 0)
		fail_msg("q=alpha: the first row is %s, want Alpha Dental %s", ids[0], alpha);
	if (!has_id(ids, n, smile) || !has_id(ids, n, aardvark))
		fail_msg("q=alpha: Smile Alpha or Aardvark Alpha Care missing");
	assert_int_equal(int_at(doc, "count"), 3);
	bson_destroy(doc);
}

static void
test_search_treats_regex_characters_as_text(void **state)
{
	char id[25], ids[100][25];
	bson_t *doc;
	int n;

	create_named("Dots.And*Stars (Dental)", id);
	doc = search("s.and*stars (", admin, ids, 100, &n);
	if (n != 1 || strcmp(ids[0], id) != 0)
		fail_msg("q with regex characters: %d rows, want exactly the literal match", n);
	bson_destroy(doc);
	/* as a pattern it would match every organization; as text it matches none */
	doc = search(".*", admin, ids, 100, &n);
	if (n != 0)
		fail_msg("q=.* matched %d rows: it was used as a pattern", n);
	bson_destroy(doc);
}

static void
test_search_without_q_is_400_naming_it(void **state)
{
	struct harness_response r;

	call("GET", ORGS "/search", admin, NULL, &r);
	expect_field_error(&r, 400, "q");
	harness_response_free(&r);
}

static void
test_search_is_scoped_to_the_callers_organization(void **state)
{
	char one[25], two[25], ids[100][25];
	bson_t *doc;
	int n, i;

	create_named("Scopedsearch One", one);
	create_named("Scopedsearch Two", two);
	doc = search("scopedsearch", admin, ids, 100, &n);
	if (n != 2)
		fail_msg("platform_admin q=scopedsearch: %d rows, want 2", n);
	bson_destroy(doc);
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = harness_token(member_roles[i], one, "scoped-user");

		doc = search("scopedsearch", token, ids, 100, &n);
		if (n != 1 || strcmp(ids[0], one) != 0)
			fail_msg("%s of One, q=scopedsearch: %d rows, want only One",
				 member_roles[i], n);
		bson_destroy(doc);
		doc = search("scopedsearch two", token, ids, 100, &n);
		if (n != 0)
			fail_msg("%s of One found %d rows of another organization", member_roles[i],
				 n);
		bson_destroy(doc);
		free(token);
	}
}

/* --- stats -------------------------------------------------------------------------------- */

static void
test_stats_count_clinics_by_status_providers_and_assignments(void **state)
{
	struct harness_response r;
	char id[25], other[25], *path;
	bson_oid_t c1, c2, c3, c4, oc;
	bson_t *doc;

	create_named("Stats Dental", id);
	create_named("Stats Other Dental", other);
	insert_clinic(id, "ST-1", "ACTIVE", &c1);
	insert_clinic(id, "ST-2", "ACTIVE", &c2);
	insert_clinic(id, "ST-3", "ACTIVE", &c3);
	insert_clinic(id, "ST-4", "INACTIVE", &c4);
	insert_clinic(other, "SO-1", "ACTIVE", &oc);
	insert_assignment(id, &c1, "prov-1", 1);
	insert_assignment(id, &c2, "prov-1", 1);
	insert_assignment(id, &c1, "prov-2", 1);
	insert_assignment(id, &c3, "prov-3", 0);
	insert_assignment(id, &c4, "prov-4", 0);
	insert_assignment(other, &oc, "prov-9", 1);

	path = strf(ORGS "/%s/stats", id);
	call("GET", path, admin, NULL, &r);
	doc = expect_json(&r, 200);
	want_str(doc, "organizationId", id);
	if (int_at(doc, "clinics.byStatus.ACTIVE") != 3 ||
	    int_at(doc, "clinics.byStatus.INACTIVE") != 1 || int_at(doc, "clinics.total") != 4 ||
	    int_at(doc, "activeProviders") != 2 || int_at(doc, "activeAssignments") != 3)
		fail_msg("stats %s, want ACTIVE 3, INACTIVE 1, total 4, activeProviders 2, "
			 "activeAssignments 3",
			 r.body);
	bson_destroy(doc);
	harness_response_free(&r);
	free(path);
}

static void
test_stats_of_an_organization_without_clinics_are_zero(void **state)
{
	struct harness_response r;
	char id[25], *path;
	bson_t *doc;

	create_named("Empty Stats Dental", id);
	path = strf(ORGS "/%s/stats", id);
	call("GET", path, admin, NULL, &r);
	doc = expect_json(&r, 200);
	if (int_at(doc, "clinics.total") != 0 || int_at(doc, "activeProviders") != 0 ||
	    int_at(doc, "activeAssignments") != 0)
		fail_msg("stats %s, want zeros", r.body);
	bson_destroy(doc);
	harness_response_free(&r);
	free(path);
}

static void
test_stats_of_an_unknown_id_is_404(void **state)
{
	struct harness_response r;
	bson_oid_t oid;
	char hex[25], *path;

	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, hex);
	path = strf(ORGS "/%s/stats", hex);
	call("GET", path, admin, NULL, &r);
	expect_problem(&r, 404);
	harness_response_free(&r);
	free(path);
}

/* --- bad input ---------------------------------------------------------------------------- */

/* POSTs body as platform_admin and expects status with errors naming field (NULL: any). */
static void
post_rejected(const char *body, long status, const char *field)
{
	struct harness_response r;

	call("POST", ORGS, admin, body, &r);
	if (field != NULL)
		expect_field_error(&r, status, field);
	else
		expect_errors(&r, status);
	harness_response_free(&r);
}

static void
test_malformed_json_is_400(void **state)
{
	post_rejected("{\"name\": \"Broken\",", 400, NULL);
	post_rejected("{name: 'single'}", 400, NULL);
}

static void
test_body_that_is_not_an_object_is_400(void **state)
{
	post_rejected("[{\"name\":\"In An Array\"}]", 400, NULL);
}

static void
test_text_plain_body_is_415(void **state)
{
	static const char body[] = "{\"name\":\"Plain Text Dental\"}";
	struct harness_response r;

	call_with("POST", ORGS, admin, "Content-Type: text/plain", body, sizeof(body) - 1, &r);
	expect_problem(&r, 415);
	harness_response_free(&r);
}

/* POSTs a well-formed organization body of exactly n bytes. */
static void
post_sized(size_t n, struct harness_response *r)
{
	char *body = malloc(n + 1);
	size_t used;

	assert_non_null(body);
	used = (size_t)snprintf(body, n + 1, "{\"name\":\"Too Big\",\"settings\":{\"pad\":\"");
	memset(body + used, 'x', n - used - 3);
	memcpy(body + n - 3, "\"}}", 4);
	call_with("POST", ORGS, admin, NULL, body, n, r);
	free(body);
}

static void
test_body_one_byte_over_http_body_max_is_413(void **state)
{
	struct harness_response r;

	post_sized(BODY_MAX + 1, &r);
	expect_problem(&r, 413);
	harness_response_free(&r);
}

static void
test_body_far_over_http_body_max_is_413(void **state)
{
	struct harness_response r;

	post_sized(BODY_MAX * 4, &r);
	expect_problem(&r, 413);
	harness_response_free(&r);
}

static void
test_unknown_field_is_400_naming_it(void **state)
{
	post_rejected("{\"name\":\"Unknown Field\",\"colour\":\"red\"}", 400, "colour");
}

static void
test_unknown_nested_field_is_400_naming_it(void **state)
{
	post_rejected(
	    "{\"name\":\"Unknown Nested\",\"address\":{\"city\":\"Austin\",\"planet\":\"Mars\"}}",
	    400, "planet");
}

static void
test_server_kept_id_is_400(void **state)
{
	post_rejected("{\"name\":\"Kept Id\",\"id\":\"0123456789abcdef01234567\"}", 400, "id");
	post_rejected("{\"name\":\"Kept _id\",\"_id\":\"0123456789abcdef01234567\"}", 400, "_id");
}

static void
test_server_kept_created_at_is_400(void **state)
{
	post_rejected("{\"name\":\"Kept CreatedAt\",\"createdAt\":\"2020-01-01T00:00:00Z\"}", 400,
		      "createdAt");
}

static void
test_server_kept_version_is_400(void **state)
{
	post_rejected("{\"name\":\"Kept Version\",\"version\":7}", 400, "version");
}

static void
test_server_kept_field_in_patch_is_400(void **state)
{
	struct harness_response r;
	char id[25], *path;

	create_named("Kept In Patch", id);
	path = strf(ORGS "/%s", id);
	call("PATCH", path, admin, "{\"updatedAt\":\"2020-01-01T00:00:00Z\"}", &r);
	expect_field_error(&r, 400, "updatedAt");
	harness_response_free(&r);
	call("PATCH", path, admin, "{\"version\":99}", &r);
	expect_field_error(&r, 400, "version");
	harness_response_free(&r);
	free(path);
}

static void
test_wrong_type_is_400_naming_it(void **state)
{
	post_rejected("{\"name\":5}", 400, "name");
	post_rejected("{\"name\":\"Wrong Address\",\"address\":\"Main St\"}", 400, "address");
}

static void
test_missing_name_is_400_naming_it(void **state)
{
	post_rejected("{\"status\":\"ACTIVE\"}", 400, "name");
}

static void
test_bad_enum_is_400_naming_it(void **state)
{
	post_rejected("{\"name\":\"Bad Status\",\"status\":\"DELETED\"}", 400, "status");
	post_rejected("{\"name\":\"Bad Tier\",\"subscriptionTier\":\"GOLD\"}", 400,
		      "subscriptionTier");
	post_rejected("{\"name\":\"Lower Status\",\"status\":\"active\"}", 400, "status");
}

static void
test_name_of_201_characters_is_400(void **state)
{
	char name[202], *body;

	memset(name, 'n', 201);
	name[201] = '\0';
	body = strf("{\"name\":\"%s\"}", name);
	post_rejected(body, 400, "name");
	free(body);
}

static void
test_name_of_200_characters_is_accepted(void **state)
{
	char name[201], *body, id[25];

	memset(name, 'm', 200);
	name[200] = '\0';
	body = strf("{\"name\":\"%s\"}", name);
	create_org(body, id);
	free(body);
}

static void
test_empty_name_is_400(void **state)
{
	post_rejected("{\"name\":\"\"}", 400, "name");
}

static void
test_bad_date_is_400_naming_it(void **state)
{
	post_rejected("{\"name\":\"Bad Date\",\"subscriptionEndDate\":\"2030-02-30\"}", 400,
		      "subscriptionEndDate");
	post_rejected("{\"name\":\"Bad Date 2\",\"subscriptionEndDate\":\"tomorrow\"}", 400,
		      "subscriptionEndDate");
	post_rejected("{\"name\":\"Bad Date 3\",\"subscriptionEndDate\":\"2030-01-01T10:00:00\"}",
		      400, "subscriptionEndDate");
}

static void
test_bad_email_is_400_naming_it(void **state)
{
	post_rejected("{\"name\":\"Bad Email\",\"contactEmail\":\"not-an-email\"}", 400,
		      "contactEmail");
	post_rejected("{\"name\":\"Bad Email 2\",\"contactEmail\":\"a@\"}", 400, "contactEmail");
}

static void
test_id_that_is_not_24_hex_is_400_not_404(void **state)
{
	static const char *const bad[] = {"123", "zzzzzzzzzzzzzzzzzzzzzzzz",
					  "0123456789abcdef012345678", "0123456789ABCDEF0123456G",
					  NULL};
	struct harness_response r;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		char *path = strf(ORGS "/%s", bad[i]);

		call("GET", path, admin, NULL, &r);
		expect_field_error(&r, 400, "id");
		harness_response_free(&r);
		call("PATCH", path, admin, "{\"name\":\"x\"}", &r);
		expect_field_error(&r, 400, "id");
		harness_response_free(&r);
		call("DELETE", path, admin, NULL, &r);
		expect_field_error(&r, 400, "id");
		harness_response_free(&r);
		free(path);
	}
}

static void
test_unknown_id_is_404(void **state)
{
	bson_oid_t oid;
	char hex[25];

	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, hex);
	get_org(hex, admin, 404);
}

static void
test_dollar_key_at_top_level_is_400(void **state)
{
	post_rejected("{\"name\":\"Dollar Top\",\"$where\":\"1\"}", 400, "$where");
}

static void
test_dollar_key_nested_in_settings_is_400(void **state)
{
	post_rejected("{\"name\":\"Dollar Nested\",\"settings\":{\"$where\":1}}", 400, "$where");
	post_rejected("{\"name\":\"Dollar Deep\",\"settings\":{\"a\":{\"b\":[{\"$gt\":1}]}}}", 400,
		      "$gt");
}

static void
test_dollar_key_in_patch_is_400(void **state)
{
	struct harness_response r;
	char id[25], *path;
	bson_t *doc;

	create_named("Dollar Patch", id);
	path = strf(ORGS "/%s", id);
	call("PATCH", path, admin, "{\"$set\":{\"name\":\"Hijacked\"}}", &r);
	expect_field_error(&r, 400, "$set");
	harness_response_free(&r);
	doc = get_org(id, admin, 200);
	want_str(doc, "name", "Dollar Patch");
	bson_destroy(doc);
	free(path);
}

static void
test_key_with_a_dot_is_400(void **state)
{
	post_rejected("{\"name\":\"Dotted\",\"settings\":{\"a.b\":1}}", 400, "a.b");
}

static void
test_escaped_dollar_key_is_400(void **state)
{
	post_rejected("{\"name\":\"Escaped Dollar\",\"settings\":{\"\\u0024where\":1}}", 400,
		      "$where");
	post_rejected("{\"name\":\"Escaped Dot\",\"settings\":{\"a\\u002eb\":1}}", 400, "a.b");
}

static void
test_operator_shaped_query_parameter_is_400(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?status[$ne]=x", admin, NULL, &r);
	expect_errors(&r, 400);
	harness_response_free(&r);
}

static void
test_percent_encoded_operator_query_parameter_is_400(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?status%5B%24ne%5D=ACTIVE", admin, NULL, &r);
	expect_errors(&r, 400);
	harness_response_free(&r);
}

static void
test_unknown_query_parameter_is_400_naming_it(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?colour=red", admin, NULL, &r);
	expect_field_error(&r, 400, "colour");
	harness_response_free(&r);
}

static void
test_bad_query_filter_values_are_400_naming_them(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?status=DELETED", admin, NULL, &r);
	expect_field_error(&r, 400, "status");
	harness_response_free(&r);
	call("GET", ORGS "?createdAfter=yesterday", admin, NULL, &r);
	expect_field_error(&r, 400, "createdAfter");
	harness_response_free(&r);
}

static void
test_limit_101_is_400(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?limit=101", admin, NULL, &r);
	expect_field_error(&r, 400, "limit");
	harness_response_free(&r);
}

static void
test_limit_0_is_400(void **state)
{
	struct harness_response r;

	call("GET", ORGS "?limit=0", admin, NULL, &r);
	expect_field_error(&r, 400, "limit");
	harness_response_free(&r);
}

static void
test_tampered_cursor_is_400(void **state)
{
	struct harness_response r;
	char cursor[128], *path;
	const char *next;
	bson_t *doc;
	size_t len;

	call("GET", ORGS "?limit=1", admin, NULL, &r);
	doc = expect_json(&r, 200);
	next = harness_json_str(doc, "pagination.nextCursor");
	if (next == NULL)
		fail_msg("no nextCursor with limit=1: %s", r.body);
	snprintf(cursor, sizeof(cursor), "%s", next);
	bson_destroy(doc);
	harness_response_free(&r);

	/* the genuine cursor works */
	path = strf(ORGS "?limit=1&cursor=%s", cursor);
	call("GET", path, admin, NULL, &r);
	bson_destroy(expect_json(&r, 200));
	harness_response_free(&r);
	free(path);

	len = strlen(cursor);
	cursor[len / 2] = cursor[len / 2] == 'A' ? 'B' : 'A';
	path = strf(ORGS "?limit=1&cursor=%s", cursor);
	call("GET", path, admin, NULL, &r);
	expect_field_error(&r, 400, "cursor");
	harness_response_free(&r);
	free(path);

	cursor[len / 2] = '\0';
	path = strf(ORGS "?limit=1&cursor=%s", cursor);
	call("GET", path, admin, NULL, &r);
	expect_field_error(&r, 400, "cursor");
	harness_response_free(&r);
	free(path);
}

/* --- role matrix -------------------------------------------------------------------------- */

/* Two organizations: the callers' own (A) and another one (B). */
static char org_a[25], org_b[25];

static void
matrix_orgs(void)
{
	if (org_a[0] != '\0')
		return;
	create_named("Matrixorg Own", org_a);
	create_named("Matrixorg Other", org_b);
}

static char *
member(const char *role)
{
	char *token = harness_token(role, org_a, "matrix-user");

	assert_non_null(token);
	return token;
}

static void
test_platform_admin_reads_every_organization(void **state)
{
	matrix_orgs();
	bson_destroy(get_org(org_a, admin, 200));
	bson_destroy(get_org(org_b, admin, 200));
}

static void
test_member_roles_read_their_own_organization(void **state)
{
	int i;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);
		bson_t *doc = get_org(org_a, token, 200);

		want_str(doc, "id", org_a);
		bson_destroy(doc);
		free(token);
	}
}

static void
test_member_roles_get_404_for_another_organization(void **state)
{
	int i;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		get_org(org_b, token, 404);
		free(token);
	}
}

static void
test_member_roles_list_exactly_their_own_organization(void **state)
{
	char ids[100][25];
	bson_t *doc;
	int i, n;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		doc = list_ids(ORGS "?limit=100", token, ids, 100, &n);
		if (n != 1 || strcmp(ids[0], org_a) != 0)
			fail_msg("%s lists %d organizations, want only its own", member_roles[i],
				 n);
		if (int_at(doc, "pagination.total") != 1)
			fail_msg("%s: total %lld, want 1 (counted inside the scope)",
				 member_roles[i], (long long)int_at(doc, "pagination.total"));
		bson_destroy(doc);
		/* a filter cannot widen the scope */
		doc = list_ids(ORGS "?status=ACTIVE&limit=100", token, ids, 100, &n);
		if (n != 1 || strcmp(ids[0], org_a) != 0)
			fail_msg("%s with status=ACTIVE lists %d organizations", member_roles[i],
				 n);
		bson_destroy(doc);
		free(token);
	}
}

static void
test_platform_admin_lists_every_organization(void **state)
{
	struct harness_response r;
	bson_t *doc;

	matrix_orgs();
	call("GET", ORGS "?limit=1&status=ACTIVE", admin, NULL, &r);
	doc = expect_json(&r, 200);
	if (int_at(doc, "pagination.total") < 2)
		fail_msg("platform_admin sees %lld active organizations, want at least 2",
			 (long long)int_at(doc, "pagination.total"));
	bson_destroy(doc);
	harness_response_free(&r);
}

static void
test_member_roles_search_only_their_own_organization(void **state)
{
	char ids[100][25];
	bson_t *doc;
	int i, n;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		doc = search("matrixorg", token, ids, 100, &n);
		if (n != 1 || strcmp(ids[0], org_a) != 0)
			fail_msg("%s: q=matrixorg gives %d rows, want only its own",
				 member_roles[i], n);
		bson_destroy(doc);
		free(token);
	}
}

static void
test_member_roles_read_stats_of_their_own_organization_only(void **state)
{
	struct harness_response r;
	char *own, *other;
	int i;

	matrix_orgs();
	own = strf(ORGS "/%s/stats", org_a);
	other = strf(ORGS "/%s/stats", org_b);
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		call("GET", own, token, NULL, &r);
		bson_destroy(expect_json(&r, 200));
		harness_response_free(&r);
		call("GET", other, token, NULL, &r);
		expect_problem(&r, 404);
		harness_response_free(&r);
		free(token);
	}
	free(own);
	free(other);
}

static void
test_org_admin_patches_its_own_organization(void **state)
{
	char *token;
	bson_t *doc;

	matrix_orgs();
	token = member("org_admin");
	doc = patch(org_a, token, "{\"contactEmail\":\"admin@own.example\"}", 200);
	want_str(doc, "contactEmail", "admin@own.example");
	bson_destroy(doc);
	free(token);
}

static void
test_clinic_manager_may_not_patch_its_own_organization(void **state)
{
	char *token;
	bson_t *doc;

	matrix_orgs();
	token = member("clinic_manager");
	patch(org_a, token, "{\"name\":\"Managed Away\"}", 403);
	doc = get_org(org_a, admin, 200);
	want_str(doc, "name", "Matrixorg Own");
	bson_destroy(doc);
	free(token);
}

static void
test_provider_may_not_patch_its_own_organization(void **state)
{
	char *token;
	bson_t *doc;

	matrix_orgs();
	token = member("provider");
	patch(org_a, token, "{\"name\":\"Provided Away\"}", 403);
	doc = get_org(org_a, admin, 200);
	want_str(doc, "name", "Matrixorg Own");
	bson_destroy(doc);
	free(token);
}

static void
test_member_roles_patching_another_organization_get_404(void **state)
{
	bson_t *doc;
	int i;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		patch(org_b, token, "{\"name\":\"Taken Over\"}", 404);
		free(token);
	}
	doc = get_org(org_b, admin, 200);
	want_str(doc, "name", "Matrixorg Other");
	assert_int_equal(int_at(doc, "version"), 1);
	bson_destroy(doc);
}

static void
test_platform_admin_patches_any_organization(void **state)
{
	bson_t *doc;

	matrix_orgs();
	doc = patch(org_b, admin, "{\"subscriptionTier\":\"BASIC\"}", 200);
	want_str(doc, "subscriptionTier", "BASIC");
	bson_destroy(doc);
}

static void
test_org_admin_deletes_its_own_organization(void **state)
{
	char id[25], *token;

	create_named("Matrix Disposable", id);
	token = harness_token("org_admin", id, "disposer");
	delete_org(id, token, 204);
	get_org(id, admin, 404);
	free(token);
}

static void
test_clinic_manager_and_provider_may_not_delete_their_own_organization(void **state)
{
	static const char *const roles[] = {"clinic_manager", "provider", NULL};
	int i;

	matrix_orgs();
	for (i = 0; roles[i] != NULL; i++) {
		char *token = member(roles[i]);

		delete_org(org_a, token, 403);
		free(token);
	}
	bson_destroy(get_org(org_a, admin, 200));
}

static void
test_member_roles_deleting_another_organization_get_404(void **state)
{
	int i;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		delete_org(org_b, token, 404);
		free(token);
	}
	bson_destroy(get_org(org_b, admin, 200));
}

static void
test_only_platform_admin_creates_organizations(void **state)
{
	struct harness_response r;
	mongoc_collection_t *coll;
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;
	int64_t n;
	int i;

	matrix_orgs();
	for (i = 0; member_roles[i] != NULL; i++) {
		char *token = member(member_roles[i]);

		call("POST", ORGS, token, "{\"name\":\"Member Made\"}", &r);
		expect_problem(&r, 403);
		harness_response_free(&r);
		free(token);
	}
	coll = collection("organizations");
	BSON_APPEND_UTF8(&filter, "name", "Member Made");
	n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &error);
	if (n != 0)
		fail_msg("%lld organizations named Member Made (%s)", (long long)n,
			 n < 0 ? error.message : "created by a member");
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
}

/* --- nothing lost or corrupted ------------------------------------------------------------ */

/* 0 when no key of doc, at any depth, starts with '$' or holds a '.'. */
static int
keys_are_clean(const bson_t *doc, char *bad, size_t badlen)
{
	bson_iter_t it, child;

	if (!bson_iter_init(&it, doc))
		return -1;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);

		if (k[0] == '$' || strchr(k, '.') != NULL) {
			snprintf(bad, badlen, "%s", k);
			return -1;
		}
		if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) &&
		    bson_iter_recurse(&it, &child)) {
			const uint8_t *data;
			uint32_t len;
			bson_t sub;

			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &len, &data);
			else
				bson_iter_array(&it, &len, &data);
			if (bson_init_static(&sub, data, len) && keys_are_clean(&sub, bad, badlen))
				return -1;
		}
	}
	return 0;
}

static void
test_collection_holds_exactly_what_the_good_requests_created(void **state)
{
	static const char *const statuses[] = {"ACTIVE", "SUSPENDED", "INACTIVE", NULL};
	static const char *const tiers[] = {"FREE", "BASIC", "PRO", "ENTERPRISE", NULL};
	mongoc_collection_t *coll = collection("organizations");
	bson_t filter = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	int64_t count;
	int seen = 0, i;

	count = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &error);
	if (count != nlive)
		fail_msg("the collection holds %lld organizations, the API created %d (%s)",
			 (long long)count, nlive, count < 0 ? error.message : "");
	cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;
		char hex[25], bad[128];
		const char *s;
		int ok;

		if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
			fail_msg("a document without an ObjectId _id");
		bson_oid_to_string(bson_iter_oid(&it), hex);
		for (i = 0; i < nlive && strcmp(live[i], hex) != 0; i++)
			;
		if (i == nlive)
			fail_msg("organization %s was not created by a good request", hex);
		if (!bson_iter_init_find(&it, doc, "name") || !BSON_ITER_HOLDS_UTF8(&it) ||
		    strlen(bson_iter_utf8(&it, NULL)) == 0 ||
		    strlen(bson_iter_utf8(&it, NULL)) > 200)
			fail_msg("%s: bad name", hex);
		ok = bson_iter_init_find(&it, doc, "status") && BSON_ITER_HOLDS_UTF8(&it);
		for (i = 0, s = ok ? bson_iter_utf8(&it, NULL) : "";
		     ok && statuses[i] != NULL && strcmp(statuses[i], s) != 0; i++)
			;
		if (!ok || statuses[i] == NULL)
			fail_msg("%s: bad status", hex);
		ok = bson_iter_init_find(&it, doc, "subscriptionTier") && BSON_ITER_HOLDS_UTF8(&it);
		for (i = 0, s = ok ? bson_iter_utf8(&it, NULL) : "";
		     ok && tiers[i] != NULL && strcmp(tiers[i], s) != 0; i++)
			;
		if (!ok || tiers[i] == NULL)
			fail_msg("%s: bad subscriptionTier", hex);
		if (!bson_iter_init_find(&it, doc, "version") || !BSON_ITER_HOLDS_INT64(&it) ||
		    bson_iter_int64(&it) < 1)
			fail_msg("%s: version is not an int64 >= 1", hex);
		if (!bson_iter_init_find(&it, doc, "createdAt") ||
		    !BSON_ITER_HOLDS_DATE_TIME(&it) ||
		    !bson_iter_init_find(&it, doc, "updatedAt") || !BSON_ITER_HOLDS_DATE_TIME(&it))
			fail_msg("%s: createdAt or updatedAt is not a date", hex);
		if (bson_has_field(doc, "id") || bson_has_field(doc, "colour"))
			fail_msg("%s: a field the API refuses was stored", hex);
		if (keys_are_clean(doc, bad, sizeof(bad)) != 0)
			fail_msg("%s: stored key %s", hex, bad);
		seen++;
	}
	if (mongoc_cursor_error(cursor, &error))
		fail_msg("find: %s", error.message);
	assert_int_equal(seen, nlive);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2, .http_body_max = BODY_MAX};

	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	return harness_server_start(&server, "organizations", &c, &deps);
}

static int
group_teardown(void **state)
{
	if (mongo != NULL)
		mongoc_client_destroy(mongo);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_answers_201_with_location_of_the_new_organization),
	    cmocka_unit_test(test_create_defaults_status_active_and_tier_free),
	    cmocka_unit_test(test_create_sets_id_dates_and_version_one),
	    cmocka_unit_test(test_create_returns_every_given_field),
	    cmocka_unit_test(test_get_returns_the_stored_organization),
	    cmocka_unit_test(test_get_with_fields_returns_only_id_and_those_fields),
	    cmocka_unit_test(test_fields_with_an_unknown_field_is_400_naming_it),
	    cmocka_unit_test(test_list_with_fields_returns_only_id_and_those_fields),
	    cmocka_unit_test(test_list_filters_by_status),
	    cmocka_unit_test(test_list_filters_by_subscription_tier),
	    cmocka_unit_test(test_list_filters_by_created_after_and_before),
	    cmocka_unit_test(test_patch_changes_only_the_given_fields),
	    cmocka_unit_test(test_patch_increments_version_and_moves_updated_at),
	    cmocka_unit_test(test_patch_null_clears_an_optional_field),
	    cmocka_unit_test(test_patch_null_on_name_is_400_naming_it),
	    cmocka_unit_test(test_patch_of_an_unknown_id_is_404),
	    cmocka_unit_test(test_delete_answers_204_and_then_get_is_404),
	    cmocka_unit_test(test_delete_of_an_unknown_id_is_404),
	    cmocka_unit_test(test_delete_while_it_has_a_clinic_is_409),
	    cmocka_unit_test(test_delete_while_it_has_only_an_inactive_clinic_is_409),
	    cmocka_unit_test(test_search_is_case_insensitive),
	    cmocka_unit_test(test_search_puts_prefix_matches_first),
	    cmocka_unit_test(test_search_treats_regex_characters_as_text),
	    cmocka_unit_test(test_search_without_q_is_400_naming_it),
	    cmocka_unit_test(test_search_is_scoped_to_the_callers_organization),
	    cmocka_unit_test(test_stats_count_clinics_by_status_providers_and_assignments),
	    cmocka_unit_test(test_stats_of_an_organization_without_clinics_are_zero),
	    cmocka_unit_test(test_stats_of_an_unknown_id_is_404),
	    cmocka_unit_test(test_malformed_json_is_400),
	    cmocka_unit_test(test_body_that_is_not_an_object_is_400),
	    cmocka_unit_test(test_text_plain_body_is_415),
	    cmocka_unit_test(test_body_one_byte_over_http_body_max_is_413),
	    cmocka_unit_test(test_body_far_over_http_body_max_is_413),
	    cmocka_unit_test(test_unknown_field_is_400_naming_it),
	    cmocka_unit_test(test_unknown_nested_field_is_400_naming_it),
	    cmocka_unit_test(test_server_kept_id_is_400),
	    cmocka_unit_test(test_server_kept_created_at_is_400),
	    cmocka_unit_test(test_server_kept_version_is_400),
	    cmocka_unit_test(test_server_kept_field_in_patch_is_400),
	    cmocka_unit_test(test_wrong_type_is_400_naming_it),
	    cmocka_unit_test(test_missing_name_is_400_naming_it),
	    cmocka_unit_test(test_bad_enum_is_400_naming_it),
	    cmocka_unit_test(test_name_of_201_characters_is_400),
	    cmocka_unit_test(test_name_of_200_characters_is_accepted),
	    cmocka_unit_test(test_empty_name_is_400),
	    cmocka_unit_test(test_bad_date_is_400_naming_it),
	    cmocka_unit_test(test_bad_email_is_400_naming_it),
	    cmocka_unit_test(test_id_that_is_not_24_hex_is_400_not_404),
	    cmocka_unit_test(test_unknown_id_is_404),
	    cmocka_unit_test(test_dollar_key_at_top_level_is_400),
	    cmocka_unit_test(test_dollar_key_nested_in_settings_is_400),
	    cmocka_unit_test(test_dollar_key_in_patch_is_400),
	    cmocka_unit_test(test_key_with_a_dot_is_400),
	    cmocka_unit_test(test_escaped_dollar_key_is_400),
	    cmocka_unit_test(test_operator_shaped_query_parameter_is_400),
	    cmocka_unit_test(test_percent_encoded_operator_query_parameter_is_400),
	    cmocka_unit_test(test_unknown_query_parameter_is_400_naming_it),
	    cmocka_unit_test(test_bad_query_filter_values_are_400_naming_them),
	    cmocka_unit_test(test_limit_101_is_400),
	    cmocka_unit_test(test_limit_0_is_400),
	    cmocka_unit_test(test_tampered_cursor_is_400),
	    cmocka_unit_test(test_platform_admin_reads_every_organization),
	    cmocka_unit_test(test_member_roles_read_their_own_organization),
	    cmocka_unit_test(test_member_roles_get_404_for_another_organization),
	    cmocka_unit_test(test_member_roles_list_exactly_their_own_organization),
	    cmocka_unit_test(test_platform_admin_lists_every_organization),
	    cmocka_unit_test(test_member_roles_search_only_their_own_organization),
	    cmocka_unit_test(test_member_roles_read_stats_of_their_own_organization_only),
	    cmocka_unit_test(test_org_admin_patches_its_own_organization),
	    cmocka_unit_test(test_clinic_manager_may_not_patch_its_own_organization),
	    cmocka_unit_test(test_provider_may_not_patch_its_own_organization),
	    cmocka_unit_test(test_member_roles_patching_another_organization_get_404),
	    cmocka_unit_test(test_platform_admin_patches_any_organization),
	    cmocka_unit_test(test_org_admin_deletes_its_own_organization),
	    cmocka_unit_test(
		test_clinic_manager_and_provider_may_not_delete_their_own_organization),
	    cmocka_unit_test(test_member_roles_deleting_another_organization_get_404),
	    cmocka_unit_test(test_only_platform_admin_creates_organizations),
	    cmocka_unit_test(test_collection_holds_exactly_what_the_good_requests_created),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
