/*
 * test_clinics.c: the clinic resource end to end: create (defaults, organization from the
 * path, 422/409/400 answers), get, field selection, every list filter, the organization's
 * clinic list, patch, delete (and its 409 while an assignment is active), and search.
 *
 * One server (2 workers, read cache on) on one FerretDB and one Redis. Everything goes
 * through the API, whose writes invalidate the cache, so reads right after writes must see
 * them. Each test makes its own organization, so a list narrowed to it has an exact answer;
 * filters that span organizations use values no other test uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define V1 "/api/v1"
#define MAX_IDS 128

static struct harness_deps deps;
static struct harness_server server;
static mongoc_client_t *mongo;
static char *admin; /* a platform_admin token */

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

/* One request to the server; body NULL means none. */
static void
call(const char *method, const char *path, const char *token, const char *body,
     struct harness_response *r)
{
	char *url = strf("%s%s", server.url, path);

	if (harness_request_token(method, url, token, NULL, body, body ? strlen(body) : 0, r) == -1)
		fail_msg("%s %s: %s", method, url, r->error);
	free(url);
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

/* The status and an RFC 9457 problem+json body that says the same status. */
static void
expect_problem(const struct harness_response *r, long status)
{
	char why[512];

	if (r->status != status)
		fail_msg("status %ld, want %ld; body %s", r->status, status, r->body);
	if (harness_problem_check(r, why, sizeof(why)) == -1)
		fail_msg("%ld: %s", status, why);
}

/* A problem whose `errors` array names field. */
static void
expect_field_error(const struct harness_response *r, long status, const char *field)
{
	expect_problem(r, status);
	if (!harness_problem_names(r, field))
		fail_msg("errors do not name `%s`: %s", field, r->body);
}

/* method path as token with body: a problem of status naming field (NULL: any problem). */
static void
expect_rejected(const char *method, const char *path, const char *token, const char *body,
		long status, const char *field)
{
	struct harness_response r;

	call(method, path, token, body, &r);
	if (field != NULL)
		expect_field_error(&r, status, field);
	else
		expect_problem(&r, status);
	harness_response_free(&r);
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

/* POST body to path as token, 201 expected: the document, its id in id. */
static bson_t *
create(const char *path, const char *token, const char *body, char id[25])
{
	struct harness_response r;
	bson_t *doc;
	const char *s;

	call("POST", path, token, body, &r);
	doc = expect_json(&r, 201);
	s = harness_json_str(doc, "id");
	if (!is_hex24(s))
		fail_msg("id of the created document is %s", s ? s : "(none)");
	snprintf(id, 25, "%s", s);
	harness_response_free(&r);
	return doc;
}

/* A new organization (as platform_admin). */
static void
new_org(const char *name, char id[25])
{
	char *body = strf("{\"name\":\"%s\"}", name);

	bson_destroy(create(V1 "/organizations", admin, body, id));
	free(body);
}

/* A new clinic of org from a body (a JSON object). */
static void
new_clinic(const char *org, const char *body, char id[25])
{
	char *path = strf(V1 "/organizations/%s/clinics", org);

	bson_destroy(create(path, admin, body, id));
	free(path);
}

/* A new clinic with only a name and a code. */
static void
new_clinic_named(const char *org, const char *name, const char *code, char id[25])
{
	char *body = strf("{\"name\":\"%s\",\"code\":\"%s\"}", name, code);

	new_clinic(org, body, id);
	free(body);
}

/* GET path as token, 200 expected: the document. */
static bson_t *
get_json(const char *path, const char *token)
{
	struct harness_response r;
	bson_t *doc;

	call("GET", path, token, NULL, &r);
	doc = expect_json(&r, 200);
	harness_response_free(&r);
	return doc;
}

/* The ids of the `data` array of a list or search answer, in order. */
static void
list_ids(const char *path, const char *token, char ids[][25], int *n)
{
	bson_t *doc = get_json(path, token);
	bson_iter_t it, arr, row;

	*n = 0;
	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("GET %s: no data array", path);
	while (bson_iter_next(&arr)) {
		if (*n == MAX_IDS)
			fail_msg("GET %s: more than %d rows", path, MAX_IDS);
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &row) ||
		    !bson_iter_find(&row, "id") || !BSON_ITER_HOLDS_UTF8(&row))
			fail_msg("GET %s: a row without id", path);
		snprintf(ids[(*n)++], 25, "%s", bson_iter_utf8(&row, NULL));
	}
	bson_destroy(doc);
}

/* GET path answers exactly the ids of want (NULL-terminated), in any order. */
static void
expect_ids(const char *path, const char *token, const char *const *want)
{
	char ids[MAX_IDS][25], got[MAX_IDS * 26 + 1] = "";
	int n, i, k, nwant = 0, found;

	list_ids(path, token, ids, &n);
	for (i = 0; i < n; i++) {
		strcat(got, " ");
		strcat(got, ids[i]);
	}
	while (want[nwant] != NULL)
		nwant++;
	if (n != nwant)
		fail_msg("GET %s: %d rows (%s), want %d", path, n, got, nwant);
	for (k = 0; k < nwant; k++) {
		for (found = 0, i = 0; i < n && !found; i++)
			found = strcmp(ids[i], want[k]) == 0;
		if (!found)
			fail_msg("GET %s: %s missing from%s", path, want[k], got);
	}
}

/* The stored clinic (driver), or NULL. Caller destroys. */
static bson_t *
stored_clinic(const char *hex)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(mongo, HARNESS_DB, "clinics");
	bson_t filter = BSON_INITIALIZER, *out = NULL;
	const bson_t *doc;
	mongoc_cursor_t *cursor;
	bson_oid_t oid;

	bson_oid_init_from_string(&oid, hex);
	BSON_APPEND_OID(&filter, "_id", &oid);
	cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		out = bson_copy(doc);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return out;
}

/* --- create ------------------------------------------------------------------------------- */

static void
test_create_answers_201_with_location_of_the_new_clinic(void **state)
{
	struct harness_response r;
	char org[25], *path, *want;
	const char *loc;
	bson_t *doc;

	new_org("Create Location Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	call("POST", path, admin, "{\"name\":\"Harbor Dental\",\"code\":\"HB-1\"}", &r);
	doc = expect_json(&r, 201);
	want = strf(V1 "/clinics/%s", harness_json_str(doc, "id"));
	loc = harness_header(&r, "location");
	if (loc == NULL || strcmp(loc, want) != 0)
		fail_msg("Location is %s, want %s", loc ? loc : "(none)", want);
	bson_destroy(doc);
	harness_response_free(&r);
	/* the Location is where the clinic is */
	doc = get_json(want, admin);
	want_str(doc, "name", "Harbor Dental");
	bson_destroy(doc);
	free(want);
	free(path);
}

static void
test_create_defaults_status_active_version_one_and_dates(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	new_org("Create Defaults Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	doc = create(path, admin, "{\"name\":\"Defaults\",\"code\":\"DF-1\"}", id);
	want_str(doc, "status", "ACTIVE");
	assert_int_equal(int_at(doc, "version"), 1);
	if (harness_json_str(doc, "createdAt") == NULL ||
	    harness_json_str(doc, "updatedAt") == NULL)
		fail_msg("createdAt or updatedAt missing");
	if (harness_json_type(doc, "phone") != BSON_TYPE_EOD)
		fail_msg("phone was not given but is there");
	bson_destroy(doc);
	free(path);
}

static void
test_create_takes_organization_id_from_the_path(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc, *st;
	bson_iter_t it;
	bson_oid_t oid;

	new_org("Create Path Group", org);
	new_clinic_named(org, "From Path", "FP-1", id);
	path = strf(V1 "/clinics/%s", id);
	doc = get_json(path, admin);
	want_str(doc, "organizationId", org);
	bson_destroy(doc);
	free(path);
	/* stored as an ObjectId, not as a string */
	st = stored_clinic(id);
	assert_non_null(st);
	bson_oid_init_from_string(&oid, org);
	if (!bson_iter_init_find(&it, st, "organizationId") || !BSON_ITER_HOLDS_OID(&it) ||
	    !bson_oid_equal(bson_iter_oid(&it), &oid))
		fail_msg("stored organizationId is not the ObjectId of the path");
	bson_destroy(st);
}

static void
test_create_in_a_missing_organization_is_422_naming_organization_id(void **state)
{
	expect_rejected("POST", V1 "/organizations/0123456789abcdef01234567/clinics", admin,
			"{\"name\":\"Nowhere\",\"code\":\"NW-1\"}", 422, "organizationId");
}

static void
test_create_with_a_code_used_in_the_organization_is_409_naming_code(void **state)
{
	char org[25], id[25], *path;

	new_org("Duplicate Code Group", org);
	new_clinic_named(org, "First", "DUP-1", id);
	path = strf(V1 "/organizations/%s/clinics", org);
	expect_rejected("POST", path, admin, "{\"name\":\"Second\",\"code\":\"DUP-1\"}", 409,
			"code");
	free(path);
}

static void
test_create_with_a_code_used_in_another_organization_is_201(void **state)
{
	char org1[25], org2[25], id1[25], id2[25];

	new_org("Same Code Group One", org1);
	new_org("Same Code Group Two", org2);
	new_clinic_named(org1, "One", "SAME-1", id1);
	new_clinic_named(org2, "Two", "SAME-1", id2);
	assert_string_not_equal(id1, id2);
}

static void
test_create_with_organization_id_in_the_body_is_400_naming_it(void **state)
{
	char org[25], *path, *body;

	new_org("Body Org Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	body = strf("{\"name\":\"X\",\"code\":\"X-1\",\"organizationId\":\"%s\"}", org);
	expect_rejected("POST", path, admin, body, 400, "organizationId");
	free(body);
	free(path);
}

static void
test_create_with_a_bad_timezone_is_400_naming_it(void **state)
{
	char org[25], *path;

	new_org("Timezone Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	expect_rejected("POST", path, admin,
			"{\"name\":\"X\",\"code\":\"TZ-1\",\"timezone\":\"Mars/Olympus_Mons\"}",
			400, "timezone");
	/* a real zone is fine */
	bson_destroy(create(path, admin,
			    "{\"name\":\"X\",\"code\":\"TZ-2\",\"timezone\":\"America/Chicago\"}",
			    (char[25]){0}));
	free(path);
}

static void
test_create_with_bad_code_characters_is_400_naming_code(void **state)
{
	char org[25], *path;

	new_org("Code Chars Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	expect_rejected("POST", path, admin, "{\"name\":\"X\",\"code\":\"A B!\"}", 400, "code");
	expect_rejected("POST", path, admin, "{\"name\":\"X\",\"code\":\"a.b\"}", 400, "code");
	free(path);
}

static void
test_create_without_name_is_400_naming_it(void **state)
{
	char org[25], *path;

	new_org("No Name Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	expect_rejected("POST", path, admin, "{\"code\":\"NN-1\"}", 400, "name");
	free(path);
}

static void
test_create_with_an_unknown_field_is_400_naming_it(void **state)
{
	char org[25], *path;

	new_org("Unknown Field Group", org);
	path = strf(V1 "/organizations/%s/clinics", org);
	expect_rejected("POST", path, admin,
			"{\"name\":\"X\",\"code\":\"UF-1\",\"colour\":\"red\"}", 400, "colour");
	free(path);
}

/* --- read ------------------------------------------------------------------------------- */

static void
test_get_returns_the_stored_clinic(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	new_org("Get Group", org);
	new_clinic(org,
		   "{\"name\":\"Maple Dental\",\"code\":\"MP-1\",\"status\":\"INACTIVE\","
		   "\"managerUserId\":\"mgr-get\",\"phone\":\"+1 512 555 0100\","
		   "\"timezone\":\"America/Chicago\",\"address\":{\"street\":\"1 Main St\","
		   "\"city\":\"Austin\",\"state\":\"TX\",\"postalCode\":\"78701\","
		   "\"country\":\"US\"}}",
		   id);
	path = strf(V1 "/clinics/%s", id);
	doc = get_json(path, admin);
	want_str(doc, "id", id);
	want_str(doc, "organizationId", org);
	want_str(doc, "name", "Maple Dental");
	want_str(doc, "code", "MP-1");
	want_str(doc, "status", "INACTIVE");
	want_str(doc, "managerUserId", "mgr-get");
	want_str(doc, "phone", "+1 512 555 0100");
	want_str(doc, "timezone", "America/Chicago");
	want_str(doc, "address.city", "Austin");
	want_str(doc, "address.state", "TX");
	assert_int_equal(int_at(doc, "version"), 1);
	bson_destroy(doc);
	free(path);
}

static void
test_get_with_fields_returns_only_id_and_those_fields(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;
	bson_iter_t it;
	int n = 0;

	new_org("Fields Group", org);
	new_clinic(org, "{\"name\":\"Fields\",\"code\":\"FD-1\",\"phone\":\"+1 512 555 0101\"}",
		   id);
	path = strf(V1 "/clinics/%s?fields=name,code", id);
	doc = get_json(path, admin);
	want_str(doc, "id", id);
	want_str(doc, "name", "Fields");
	want_str(doc, "code", "FD-1");
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it))
		n++;
	if (n != 3)
		fail_msg("%d fields, want id, name and code only", n);
	bson_destroy(doc);
	free(path);
}

static void
test_get_with_an_unknown_field_in_fields_is_400_naming_it(void **state)
{
	struct harness_response r;
	char org[25], id[25], *path;

	new_org("Bad Fields Group", org);
	new_clinic_named(org, "Bad Fields", "BF-1", id);
	path = strf(V1 "/clinics/%s?fields=name,colour", id);
	call("GET", path, admin, NULL, &r);
	/* the parameter is the field in error; its message names the unknown one */
	expect_field_error(&r, 400, "fields");
	if (strstr(r.body, "colour") == NULL)
		fail_msg("the answer does not name colour: %s", r.body);
	harness_response_free(&r);
	free(path);
}

static void
test_get_of_an_id_that_is_not_24_hex_is_400(void **state)
{
	expect_rejected("GET", V1 "/clinics/not-an-id", admin, NULL, 400, NULL);
}

static void
test_get_of_an_unknown_id_is_404(void **state)
{
	expect_rejected("GET", V1 "/clinics/0123456789abcdef01234567", admin, NULL, 404, NULL);
}

/* --- lists ------------------------------------------------------------------------------ */

static void
test_list_filters_by_organization_id(void **state)
{
	char org1[25], org2[25], a[25], b[25], c[25], *path;

	new_org("List Org One", org1);
	new_org("List Org Two", org2);
	new_clinic_named(org1, "A", "LO-A", a);
	new_clinic_named(org1, "B", "LO-B", b);
	new_clinic_named(org2, "C", "LO-C", c);
	path = strf(V1 "/clinics?limit=100&organizationId=%s", org1);
	expect_ids(path, admin, (const char *const[]){a, b, NULL});
	free(path);
	path = strf(V1 "/clinics?limit=100&organizationId=%s", org2);
	expect_ids(path, admin, (const char *const[]){c, NULL});
	free(path);
}

static void
test_list_filters_by_status(void **state)
{
	char org[25], a[25], b[25], c[25], *path;

	new_org("List Status Group", org);
	new_clinic(org, "{\"name\":\"A\",\"code\":\"LS-A\"}", a);
	new_clinic(org, "{\"name\":\"B\",\"code\":\"LS-B\",\"status\":\"INACTIVE\"}", b);
	new_clinic(org, "{\"name\":\"C\",\"code\":\"LS-C\",\"status\":\"ACTIVE\"}", c);
	path = strf(V1 "/clinics?limit=100&organizationId=%s&status=INACTIVE", org);
	expect_ids(path, admin, (const char *const[]){b, NULL});
	free(path);
	path = strf(V1 "/clinics?limit=100&organizationId=%s&status=ACTIVE", org);
	expect_ids(path, admin, (const char *const[]){a, c, NULL});
	free(path);
}

static void
test_list_filters_by_state(void **state)
{
	char org[25], a[25], b[25];

	new_org("List State Group", org);
	new_clinic(org, "{\"name\":\"A\",\"code\":\"ST-A\",\"address\":{\"state\":\"Zeta\"}}", a);
	new_clinic(org, "{\"name\":\"B\",\"code\":\"ST-B\",\"address\":{\"state\":\"Eta\"}}", b);
	expect_ids(V1 "/clinics?limit=100&state=Zeta", admin, (const char *const[]){a, NULL});
	expect_ids(V1 "/clinics?limit=100&state=Eta", admin, (const char *const[]){b, NULL});
}

static void
test_list_filters_by_city(void **state)
{
	char org[25], a[25], b[25], c[25];

	new_org("List City Group", org);
	new_clinic(org, "{\"name\":\"A\",\"code\":\"CT-A\",\"address\":{\"city\":\"Ctown\"}}", a);
	new_clinic(org, "{\"name\":\"B\",\"code\":\"CT-B\",\"address\":{\"city\":\"Dtown\"}}", b);
	new_clinic(org, "{\"name\":\"C\",\"code\":\"CT-C\",\"address\":{\"city\":\"Ctown\"}}", c);
	expect_ids(V1 "/clinics?limit=100&city=Ctown", admin, (const char *const[]){a, c, NULL});
	/* exact value, not a prefix or case-insensitive match */
	expect_ids(V1 "/clinics?limit=100&city=ctown", admin, (const char *const[]){NULL});
}

static void
test_list_filters_by_manager_user_id(void **state)
{
	char org[25], a[25], b[25];

	new_org("List Manager Group", org);
	new_clinic(org, "{\"name\":\"A\",\"code\":\"MG-A\",\"managerUserId\":\"mgr-list-1\"}", a);
	new_clinic(org, "{\"name\":\"B\",\"code\":\"MG-B\",\"managerUserId\":\"mgr-list-2\"}", b);
	expect_ids(V1 "/clinics?limit=100&managerUserId=mgr-list-1", admin,
		   (const char *const[]){a, NULL});
}

static void
test_list_with_a_bad_filter_value_is_400_naming_it(void **state)
{
	expect_rejected("GET", V1 "/clinics?status=OPEN", admin, NULL, 400, "status");
	expect_rejected("GET", V1 "/clinics?organizationId=xyz", admin, NULL, 400,
			"organizationId");
	expect_rejected("GET", V1 "/clinics?colour=red", admin, NULL, 400, "colour");
}

static void
test_organization_clinics_lists_exactly_that_organizations_clinics(void **state)
{
	char org1[25], org2[25], a[25], b[25], c[25], *path;

	new_org("Org List One", org1);
	new_org("Org List Two", org2);
	new_clinic_named(org1, "A", "OL-A", a);
	new_clinic(org1, "{\"name\":\"B\",\"code\":\"OL-B\",\"status\":\"INACTIVE\"}", b);
	new_clinic_named(org2, "C", "OL-C", c);
	path = strf(V1 "/organizations/%s/clinics?limit=100", org1);
	expect_ids(path, admin, (const char *const[]){a, b, NULL});
	free(path);
	/* its filters still apply */
	path = strf(V1 "/organizations/%s/clinics?status=INACTIVE", org1);
	expect_ids(path, admin, (const char *const[]){b, NULL});
	free(path);
}

/* --- patch ------------------------------------------------------------------------------ */

static bson_t *
patch(const char *id, const char *body, long status)
{
	struct harness_response r;
	char *path = strf(V1 "/clinics/%s", id);
	bson_t *doc = NULL;

	call("PATCH", path, admin, body, &r);
	if (status < 300)
		doc = expect_json(&r, status);
	else
		expect_problem(&r, status);
	harness_response_free(&r);
	free(path);
	return doc;
}

static void
test_patch_changes_the_fields_and_increments_version(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	new_org("Patch Group", org);
	new_clinic_named(org, "Before", "PT-1", id);
	doc = patch(id, "{\"name\":\"After\",\"status\":\"INACTIVE\"}", 200);
	want_str(doc, "name", "After");
	want_str(doc, "status", "INACTIVE");
	want_str(doc, "code", "PT-1");
	assert_int_equal(int_at(doc, "version"), 2);
	bson_destroy(doc);
	/* a read right after the write sees it (the cache was invalidated) */
	path = strf(V1 "/clinics/%s", id);
	doc = get_json(path, admin);
	want_str(doc, "name", "After");
	assert_int_equal(int_at(doc, "version"), 2);
	bson_destroy(doc);
	free(path);
}

static void
test_patch_null_clears_the_phone(void **state)
{
	char org[25], id[25];
	bson_t *doc;

	new_org("Patch Null Group", org);
	new_clinic(org, "{\"name\":\"Phone\",\"code\":\"PN-1\",\"phone\":\"+1 512 555 0102\"}", id);
	doc = patch(id, "{\"phone\":null}", 200);
	if (harness_json_type(doc, "phone") != BSON_TYPE_EOD)
		fail_msg("phone still in the answer");
	assert_int_equal(int_at(doc, "version"), 2);
	bson_destroy(doc);
	doc = stored_clinic(id);
	assert_non_null(doc);
	if (bson_has_field(doc, "phone"))
		fail_msg("phone still stored");
	bson_destroy(doc);
}

static void
test_patch_to_a_code_used_in_the_organization_is_409(void **state)
{
	char org[25], a[25], b[25];
	struct harness_response r;
	char *path;

	new_org("Patch Dup Group", org);
	new_clinic_named(org, "A", "PD-A", a);
	new_clinic_named(org, "B", "PD-B", b);
	path = strf(V1 "/clinics/%s", b);
	call("PATCH", path, admin, "{\"code\":\"PD-A\"}", &r);
	expect_problem(&r, 409);
	harness_response_free(&r);
	free(path);
}

static void
test_patch_of_organization_id_is_400_naming_it(void **state)
{
	char org[25], id[25], *path, *body;

	new_org("Patch Org Group", org);
	new_clinic_named(org, "A", "PO-A", id);
	path = strf(V1 "/clinics/%s", id);
	body = strf("{\"organizationId\":\"%s\"}", org);
	expect_rejected("PATCH", path, admin, body, 400, "organizationId");
	free(body);
	free(path);
}

/* --- delete ----------------------------------------------------------------------------- */

static void
test_delete_answers_204_and_then_get_is_404(void **state)
{
	struct harness_response r;
	char org[25], id[25], *path;

	new_org("Delete Group", org);
	new_clinic_named(org, "Gone", "DL-1", id);
	path = strf(V1 "/clinics/%s", id);
	call("DELETE", path, admin, NULL, &r);
	assert_int_equal(r.status, 204);
	harness_response_free(&r);
	expect_rejected("GET", path, admin, NULL, 404, NULL);
	expect_rejected("DELETE", path, admin, NULL, 404, NULL);
	free(path);
}

static void
test_delete_with_an_active_assignment_is_409_and_204_once_deactivated(void **state)
{
	struct harness_response r;
	char org[25], id[25], asg[25], *path, *body, *apath;

	new_org("Delete Busy Group", org);
	new_clinic_named(org, "Busy", "DB-1", id);
	body =
	    strf("{\"providerId\":\"prov-busy\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", id);
	bson_destroy(create(V1 "/assignments", admin, body, asg));
	path = strf(V1 "/clinics/%s", id);
	expect_rejected("DELETE", path, admin, NULL, 409, NULL);
	/* still there */
	bson_destroy(get_json(path, admin));

	apath = strf(V1 "/assignments/%s", asg);
	call("DELETE", apath, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	call("DELETE", path, admin, NULL, &r);
	assert_int_equal(r.status, 204);
	harness_response_free(&r);
	expect_rejected("GET", path, admin, NULL, 404, NULL);
	free(apath);
	free(path);
	free(body);
}

/* --- search ----------------------------------------------------------------------------- */

/* Four clinics that "wombat" finds: by name (prefix and inside), code and city. */
static char s_inside[25], s_name[25], s_code[25], s_city[25], s_none[25];

static void
search_fixture(void)
{
	static int made;
	char org[25];

	if (made++)
		return;
	new_org("Search Group", org);
	new_clinic(org, "{\"name\":\"Bright Wombat Dental\",\"code\":\"SR-1\"}", s_inside);
	new_clinic(org, "{\"name\":\"Wombat Smiles\",\"code\":\"SR-2\"}", s_name);
	new_clinic(org, "{\"name\":\"Other Place\",\"code\":\"WOMBAT-7\"}", s_code);
	new_clinic(
	    org, "{\"name\":\"Elsewhere\",\"code\":\"SR-4\",\"address\":{\"city\":\"Wombatton\"}}",
	    s_city);
	new_clinic(org, "{\"name\":\"Unrelated\",\"code\":\"SR-5\"}", s_none);
}

static void
test_search_matches_name_code_and_city(void **state)
{
	search_fixture();
	expect_ids(V1 "/clinics/search?q=wombat", admin,
		   (const char *const[]){s_inside, s_name, s_code, s_city, NULL});
}

static void
test_search_is_case_insensitive(void **state)
{
	search_fixture();
	expect_ids(V1 "/clinics/search?q=wOmBAt", admin,
		   (const char *const[]){s_inside, s_name, s_code, s_city, NULL});
	expect_ids(V1 "/clinics/search?q=WOMBATTON", admin, (const char *const[]){s_city, NULL});
}

static void
test_search_puts_prefix_matches_first(void **state)
{
	char ids[MAX_IDS][25];
	int n, i;

	search_fixture();
	list_ids(V1 "/clinics/search?q=Wombat", admin, ids, &n);
	assert_int_equal(n, 4);
	/* the name that only contains the text comes after every value that starts with it */
	if (strcmp(ids[3], s_inside) != 0)
		fail_msg("last row is %s, want %s (the only non-prefix match)", ids[3], s_inside);
	for (i = 0; i < 3; i++)
		if (strcmp(ids[i], s_inside) == 0)
			fail_msg("the non-prefix match is row %d", i);
}

static void
test_search_without_q_is_400_naming_it(void **state)
{
	expect_rejected("GET", V1 "/clinics/search", admin, NULL, 400, "q");
}

/* --- the end -------------------------------------------------------------------------- */

static void
test_server_logs_are_free_of_sanitizer_reports(void **state)
{
	char bad[1024];
	int status;

	status = harness_server_stop(&server);
	if (harness_server_log_clean(bad, sizeof(bad)) == -1)
		fail_msg("sanitizer report: %s", bad);
	assert_int_equal(harness_exit_code(status), 0);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	if (harness_init() == -1 || harness_deps_start(&deps) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	if ((admin = harness_token("platform_admin", NULL, "root")) == NULL)
		return -1;
	return harness_server_start(&server, "clinics", &c, &deps);
}

static int
group_teardown(void **state)
{
	free(admin);
	if (mongo != NULL)
		mongoc_client_destroy(mongo);
	harness_server_stop_all();
	harness_deps_stop(&deps);
	harness_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_answers_201_with_location_of_the_new_clinic),
	    cmocka_unit_test(test_create_defaults_status_active_version_one_and_dates),
	    cmocka_unit_test(test_create_takes_organization_id_from_the_path),
	    cmocka_unit_test(test_create_in_a_missing_organization_is_422_naming_organization_id),
	    cmocka_unit_test(test_create_with_a_code_used_in_the_organization_is_409_naming_code),
	    cmocka_unit_test(test_create_with_a_code_used_in_another_organization_is_201),
	    cmocka_unit_test(test_create_with_organization_id_in_the_body_is_400_naming_it),
	    cmocka_unit_test(test_create_with_a_bad_timezone_is_400_naming_it),
	    cmocka_unit_test(test_create_with_bad_code_characters_is_400_naming_code),
	    cmocka_unit_test(test_create_without_name_is_400_naming_it),
	    cmocka_unit_test(test_create_with_an_unknown_field_is_400_naming_it),
	    cmocka_unit_test(test_get_returns_the_stored_clinic),
	    cmocka_unit_test(test_get_with_fields_returns_only_id_and_those_fields),
	    cmocka_unit_test(test_get_with_an_unknown_field_in_fields_is_400_naming_it),
	    cmocka_unit_test(test_get_of_an_id_that_is_not_24_hex_is_400),
	    cmocka_unit_test(test_get_of_an_unknown_id_is_404),
	    cmocka_unit_test(test_list_filters_by_organization_id),
	    cmocka_unit_test(test_list_filters_by_status),
	    cmocka_unit_test(test_list_filters_by_state),
	    cmocka_unit_test(test_list_filters_by_city),
	    cmocka_unit_test(test_list_filters_by_manager_user_id),
	    cmocka_unit_test(test_list_with_a_bad_filter_value_is_400_naming_it),
	    cmocka_unit_test(test_organization_clinics_lists_exactly_that_organizations_clinics),
	    cmocka_unit_test(test_patch_changes_the_fields_and_increments_version),
	    cmocka_unit_test(test_patch_null_clears_the_phone),
	    cmocka_unit_test(test_patch_to_a_code_used_in_the_organization_is_409),
	    cmocka_unit_test(test_patch_of_organization_id_is_400_naming_it),
	    cmocka_unit_test(test_delete_answers_204_and_then_get_is_404),
	    cmocka_unit_test(test_delete_with_an_active_assignment_is_409_and_204_once_deactivated),
	    cmocka_unit_test(test_search_matches_name_code_and_city),
	    cmocka_unit_test(test_search_is_case_insensitive),
	    cmocka_unit_test(test_search_puts_prefix_matches_first),
	    cmocka_unit_test(test_search_without_q_is_400_naming_it),
	    cmocka_unit_test(test_server_logs_are_free_of_sanitizer_reports),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
