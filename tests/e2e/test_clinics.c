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

#include "client.h"
#include "harness.h"

static struct harness_deps deps;
static struct harness_server server;
static mongoc_client_t *mongo;
static char *admin; /* a platform_admin token */

/* --- helpers ------------------------------------------------------------------------------ */

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

	client_new_org("Create Location Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_call("POST", path, admin, "{\"name\":\"Harbor Dental\",\"code\":\"HB-1\"}", &r);
	doc = client_expect_json(&r, 201);
	want = client_strf(CLIENT_V1 "/clinics/%s", harness_json_str(doc, "id"));
	loc = harness_header(&r, "location");
	if (loc == NULL || strcmp(loc, want) != 0)
		fail_msg("Location is %s, want %s", loc ? loc : "(none)", want);
	bson_destroy(doc);
	harness_response_free(&r);
	/* the Location is where the clinic is */
	doc = client_get_json(want, admin);
	client_want_str(doc, "name", "Harbor Dental");
	bson_destroy(doc);
	free(want);
	free(path);
}

static void
test_create_defaults_status_active_version_one_and_dates(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	client_new_org("Create Defaults Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	doc = client_create(path, admin, "{\"name\":\"Defaults\",\"code\":\"DF-1\"}", id);
	client_want_str(doc, "status", "ACTIVE");
	assert_int_equal(client_int_at(doc, "version"), 1);
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

	client_new_org("Create Path Group", org);
	client_new_clinic_named(org, "From Path", "FP-1", id);
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	doc = client_get_json(path, admin);
	client_want_str(doc, "organizationId", org);
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
	client_expect_rejected("POST", CLIENT_V1 "/organizations/0123456789abcdef01234567/clinics",
			       admin, "{\"name\":\"Nowhere\",\"code\":\"NW-1\"}", 422,
			       "organizationId");
}

static void
test_create_with_a_code_used_in_the_organization_is_409_naming_code(void **state)
{
	char org[25], id[25], *path;

	client_new_org("Duplicate Code Group", org);
	client_new_clinic_named(org, "First", "DUP-1", id);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_expect_rejected("POST", path, admin, "{\"name\":\"Second\",\"code\":\"DUP-1\"}", 409,
			       "code");
	free(path);
}

static void
test_create_with_a_code_used_in_another_organization_is_201(void **state)
{
	char org1[25], org2[25], id1[25], id2[25];

	client_new_org("Same Code Group One", org1);
	client_new_org("Same Code Group Two", org2);
	client_new_clinic_named(org1, "One", "SAME-1", id1);
	client_new_clinic_named(org2, "Two", "SAME-1", id2);
	assert_string_not_equal(id1, id2);
}

static void
test_create_with_organization_id_in_the_body_is_400_naming_it(void **state)
{
	char org[25], *path, *body;

	client_new_org("Body Org Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	body = client_strf("{\"name\":\"X\",\"code\":\"X-1\",\"organizationId\":\"%s\"}", org);
	client_expect_rejected("POST", path, admin, body, 400, "organizationId");
	free(body);
	free(path);
}

static void
test_create_with_a_bad_timezone_is_400_naming_it(void **state)
{
	char org[25], *path;

	client_new_org("Timezone Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_expect_rejected(
	    "POST", path, admin,
	    "{\"name\":\"X\",\"code\":\"TZ-1\",\"timezone\":\"Mars/Olympus_Mons\"}", 400,
	    "timezone");
	/* a real zone is fine */
	bson_destroy(client_create(
	    path, admin, "{\"name\":\"X\",\"code\":\"TZ-2\",\"timezone\":\"America/Chicago\"}",
	    (char[25]){0}));
	free(path);
}

static void
test_create_with_bad_code_characters_is_400_naming_code(void **state)
{
	char org[25], *path;

	client_new_org("Code Chars Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_expect_rejected("POST", path, admin, "{\"name\":\"X\",\"code\":\"A B!\"}", 400,
			       "code");
	client_expect_rejected("POST", path, admin, "{\"name\":\"X\",\"code\":\"a.b\"}", 400,
			       "code");
	free(path);
}

static void
test_create_without_name_is_400_naming_it(void **state)
{
	char org[25], *path;

	client_new_org("No Name Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_expect_rejected("POST", path, admin, "{\"code\":\"NN-1\"}", 400, "name");
	free(path);
}

static void
test_create_with_an_unknown_field_is_400_naming_it(void **state)
{
	char org[25], *path;

	client_new_org("Unknown Field Group", org);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org);
	client_expect_rejected("POST", path, admin,
			       "{\"name\":\"X\",\"code\":\"UF-1\",\"colour\":\"red\"}", 400,
			       "colour");
	free(path);
}

/* --- read ------------------------------------------------------------------------------- */

static void
test_get_returns_the_stored_clinic(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	client_new_org("Get Group", org);
	client_new_clinic(org,
			  "{\"name\":\"Maple Dental\",\"code\":\"MP-1\",\"status\":\"INACTIVE\","
			  "\"managerUserId\":\"mgr-get\",\"phone\":\"+1 512 555 0100\","
			  "\"timezone\":\"America/Chicago\",\"address\":{\"street\":\"1 Main St\","
			  "\"city\":\"Austin\",\"state\":\"TX\",\"postalCode\":\"78701\","
			  "\"country\":\"US\"}}",
			  id);
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	doc = client_get_json(path, admin);
	client_want_str(doc, "id", id);
	client_want_str(doc, "organizationId", org);
	client_want_str(doc, "name", "Maple Dental");
	client_want_str(doc, "code", "MP-1");
	client_want_str(doc, "status", "INACTIVE");
	client_want_str(doc, "managerUserId", "mgr-get");
	client_want_str(doc, "phone", "+1 512 555 0100");
	client_want_str(doc, "timezone", "America/Chicago");
	client_want_str(doc, "address.city", "Austin");
	client_want_str(doc, "address.state", "TX");
	assert_int_equal(client_int_at(doc, "version"), 1);
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

	client_new_org("Fields Group", org);
	client_new_clinic(
	    org, "{\"name\":\"Fields\",\"code\":\"FD-1\",\"phone\":\"+1 512 555 0101\"}", id);
	path = client_strf(CLIENT_V1 "/clinics/%s?fields=name,code", id);
	doc = client_get_json(path, admin);
	client_want_str(doc, "id", id);
	client_want_str(doc, "name", "Fields");
	client_want_str(doc, "code", "FD-1");
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

	client_new_org("Bad Fields Group", org);
	client_new_clinic_named(org, "Bad Fields", "BF-1", id);
	path = client_strf(CLIENT_V1 "/clinics/%s?fields=name,colour", id);
	client_call("GET", path, admin, NULL, &r);
	/* the parameter is the field in error; its message names the unknown one */
	client_expect_field_error(&r, 400, "fields");
	if (strstr(r.body, "colour") == NULL)
		fail_msg("the answer does not name colour: %s", r.body);
	harness_response_free(&r);
	free(path);
}

static void
test_get_of_an_id_that_is_not_24_hex_is_400(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/clinics/not-an-id", admin, NULL, 400, NULL);
}

static void
test_get_of_an_unknown_id_is_404(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/clinics/0123456789abcdef01234567", admin, NULL,
			       404, NULL);
}

/* --- lists ------------------------------------------------------------------------------ */

static void
test_list_filters_by_organization_id(void **state)
{
	char org1[25], org2[25], a[25], b[25], c[25], *path;

	client_new_org("List Org One", org1);
	client_new_org("List Org Two", org2);
	client_new_clinic_named(org1, "A", "LO-A", a);
	client_new_clinic_named(org1, "B", "LO-B", b);
	client_new_clinic_named(org2, "C", "LO-C", c);
	path = client_strf(CLIENT_V1 "/clinics?limit=100&organizationId=%s", org1);
	client_expect_ids(path, admin, (const char *const[]){a, b, NULL});
	free(path);
	path = client_strf(CLIENT_V1 "/clinics?limit=100&organizationId=%s", org2);
	client_expect_ids(path, admin, (const char *const[]){c, NULL});
	free(path);
}

static void
test_list_filters_by_status(void **state)
{
	char org[25], a[25], b[25], c[25], *path;

	client_new_org("List Status Group", org);
	client_new_clinic(org, "{\"name\":\"A\",\"code\":\"LS-A\"}", a);
	client_new_clinic(org, "{\"name\":\"B\",\"code\":\"LS-B\",\"status\":\"INACTIVE\"}", b);
	client_new_clinic(org, "{\"name\":\"C\",\"code\":\"LS-C\",\"status\":\"ACTIVE\"}", c);
	path = client_strf(CLIENT_V1 "/clinics?limit=100&organizationId=%s&status=INACTIVE", org);
	client_expect_ids(path, admin, (const char *const[]){b, NULL});
	free(path);
	path = client_strf(CLIENT_V1 "/clinics?limit=100&organizationId=%s&status=ACTIVE", org);
	client_expect_ids(path, admin, (const char *const[]){a, c, NULL});
	free(path);
}

static void
test_list_filters_by_state(void **state)
{
	char org[25], a[25], b[25];

	client_new_org("List State Group", org);
	client_new_clinic(org,
			  "{\"name\":\"A\",\"code\":\"ST-A\",\"address\":{\"state\":\"Zeta\"}}", a);
	client_new_clinic(org, "{\"name\":\"B\",\"code\":\"ST-B\",\"address\":{\"state\":\"Eta\"}}",
			  b);
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&state=Zeta", admin,
			  (const char *const[]){a, NULL});
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&state=Eta", admin,
			  (const char *const[]){b, NULL});
}

static void
test_list_filters_by_city(void **state)
{
	char org[25], a[25], b[25], c[25];

	client_new_org("List City Group", org);
	client_new_clinic(org,
			  "{\"name\":\"A\",\"code\":\"CT-A\",\"address\":{\"city\":\"Ctown\"}}", a);
	client_new_clinic(org,
			  "{\"name\":\"B\",\"code\":\"CT-B\",\"address\":{\"city\":\"Dtown\"}}", b);
	client_new_clinic(org,
			  "{\"name\":\"C\",\"code\":\"CT-C\",\"address\":{\"city\":\"Ctown\"}}", c);
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&city=Ctown", admin,
			  (const char *const[]){a, c, NULL});
	/* exact value, not a prefix or case-insensitive match */
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&city=ctown", admin,
			  (const char *const[]){NULL});
}

static void
test_list_filters_by_manager_user_id(void **state)
{
	char org[25], a[25], b[25];

	client_new_org("List Manager Group", org);
	client_new_clinic(org,
			  "{\"name\":\"A\",\"code\":\"MG-A\",\"managerUserId\":\"mgr-list-1\"}", a);
	client_new_clinic(org,
			  "{\"name\":\"B\",\"code\":\"MG-B\",\"managerUserId\":\"mgr-list-2\"}", b);
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&managerUserId=mgr-list-1", admin,
			  (const char *const[]){a, NULL});
}

static void
test_list_with_a_bad_filter_value_is_400_naming_it(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/clinics?status=OPEN", admin, NULL, 400, "status");
	client_expect_rejected("GET", CLIENT_V1 "/clinics?organizationId=xyz", admin, NULL, 400,
			       "organizationId");
	client_expect_rejected("GET", CLIENT_V1 "/clinics?colour=red", admin, NULL, 400, "colour");
}

static void
test_organization_clinics_lists_exactly_that_organizations_clinics(void **state)
{
	char org1[25], org2[25], a[25], b[25], c[25], *path;

	client_new_org("Org List One", org1);
	client_new_org("Org List Two", org2);
	client_new_clinic_named(org1, "A", "OL-A", a);
	client_new_clinic(org1, "{\"name\":\"B\",\"code\":\"OL-B\",\"status\":\"INACTIVE\"}", b);
	client_new_clinic_named(org2, "C", "OL-C", c);
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics?limit=100", org1);
	client_expect_ids(path, admin, (const char *const[]){a, b, NULL});
	free(path);
	/* its filters still apply */
	path = client_strf(CLIENT_V1 "/organizations/%s/clinics?status=INACTIVE", org1);
	client_expect_ids(path, admin, (const char *const[]){b, NULL});
	free(path);
}

/* --- patch ------------------------------------------------------------------------------ */

static bson_t *
patch(const char *id, const char *body, long status)
{
	struct harness_response r;
	char *path = client_strf(CLIENT_V1 "/clinics/%s", id);
	bson_t *doc = NULL;

	client_call("PATCH", path, admin, body, &r);
	if (status < 300)
		doc = client_expect_json(&r, status);
	else
		client_expect_problem(&r, status);
	harness_response_free(&r);
	free(path);
	return doc;
}

static void
test_patch_changes_the_fields_and_increments_version(void **state)
{
	char org[25], id[25], *path;
	bson_t *doc;

	client_new_org("Patch Group", org);
	client_new_clinic_named(org, "Before", "PT-1", id);
	doc = patch(id, "{\"name\":\"After\",\"status\":\"INACTIVE\"}", 200);
	client_want_str(doc, "name", "After");
	client_want_str(doc, "status", "INACTIVE");
	client_want_str(doc, "code", "PT-1");
	assert_int_equal(client_int_at(doc, "version"), 2);
	bson_destroy(doc);
	/* a read right after the write sees it (the cache was invalidated) */
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	doc = client_get_json(path, admin);
	client_want_str(doc, "name", "After");
	assert_int_equal(client_int_at(doc, "version"), 2);
	bson_destroy(doc);
	free(path);
}

static void
test_patch_null_clears_the_phone(void **state)
{
	char org[25], id[25];
	bson_t *doc;

	client_new_org("Patch Null Group", org);
	client_new_clinic(
	    org, "{\"name\":\"Phone\",\"code\":\"PN-1\",\"phone\":\"+1 512 555 0102\"}", id);
	doc = patch(id, "{\"phone\":null}", 200);
	if (harness_json_type(doc, "phone") != BSON_TYPE_EOD)
		fail_msg("phone still in the answer");
	assert_int_equal(client_int_at(doc, "version"), 2);
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

	client_new_org("Patch Dup Group", org);
	client_new_clinic_named(org, "A", "PD-A", a);
	client_new_clinic_named(org, "B", "PD-B", b);
	path = client_strf(CLIENT_V1 "/clinics/%s", b);
	client_call("PATCH", path, admin, "{\"code\":\"PD-A\"}", &r);
	client_expect_problem(&r, 409);
	harness_response_free(&r);
	free(path);
}

static void
test_patch_of_organization_id_is_400_naming_it(void **state)
{
	char org[25], id[25], *path, *body;

	client_new_org("Patch Org Group", org);
	client_new_clinic_named(org, "A", "PO-A", id);
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	body = client_strf("{\"organizationId\":\"%s\"}", org);
	client_expect_rejected("PATCH", path, admin, body, 400, "organizationId");
	free(body);
	free(path);
}

/* --- delete ----------------------------------------------------------------------------- */

static void
test_delete_answers_204_and_then_get_is_404(void **state)
{
	struct harness_response r;
	char org[25], id[25], *path;

	client_new_org("Delete Group", org);
	client_new_clinic_named(org, "Gone", "DL-1", id);
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	client_call("DELETE", path, admin, NULL, &r);
	assert_int_equal(r.status, 204);
	harness_response_free(&r);
	client_expect_rejected("GET", path, admin, NULL, 404, NULL);
	client_expect_rejected("DELETE", path, admin, NULL, 404, NULL);
	free(path);
}

static void
test_delete_with_an_active_assignment_is_409_and_204_once_deactivated(void **state)
{
	struct harness_response r;
	char org[25], id[25], asg[25], *path, *body, *apath;

	client_new_org("Delete Busy Group", org);
	client_new_clinic_named(org, "Busy", "DB-1", id);
	body = client_strf(
	    "{\"providerId\":\"prov-busy\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", id);
	bson_destroy(client_create(CLIENT_V1 "/assignments", admin, body, asg));
	path = client_strf(CLIENT_V1 "/clinics/%s", id);
	client_expect_rejected("DELETE", path, admin, NULL, 409, NULL);
	/* still there */
	bson_destroy(client_get_json(path, admin));

	apath = client_strf(CLIENT_V1 "/assignments/%s", asg);
	client_call("DELETE", apath, admin, NULL, &r);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
	client_call("DELETE", path, admin, NULL, &r);
	assert_int_equal(r.status, 204);
	harness_response_free(&r);
	client_expect_rejected("GET", path, admin, NULL, 404, NULL);
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
	client_new_org("Search Group", org);
	client_new_clinic(org, "{\"name\":\"Bright Wombat Dental\",\"code\":\"SR-1\"}", s_inside);
	client_new_clinic(org, "{\"name\":\"Wombat Smiles\",\"code\":\"SR-2\"}", s_name);
	client_new_clinic(org, "{\"name\":\"Other Place\",\"code\":\"WOMBAT-7\"}", s_code);
	client_new_clinic(
	    org, "{\"name\":\"Elsewhere\",\"code\":\"SR-4\",\"address\":{\"city\":\"Wombatton\"}}",
	    s_city);
	client_new_clinic(org, "{\"name\":\"Unrelated\",\"code\":\"SR-5\"}", s_none);
}

static void
test_search_matches_name_code_and_city(void **state)
{
	search_fixture();
	client_expect_ids(CLIENT_V1 "/clinics/search?q=wombat", admin,
			  (const char *const[]){s_inside, s_name, s_code, s_city, NULL});
}

static void
test_search_is_case_insensitive(void **state)
{
	search_fixture();
	client_expect_ids(CLIENT_V1 "/clinics/search?q=wOmBAt", admin,
			  (const char *const[]){s_inside, s_name, s_code, s_city, NULL});
	client_expect_ids(CLIENT_V1 "/clinics/search?q=WOMBATTON", admin,
			  (const char *const[]){s_city, NULL});
}

static void
test_search_puts_prefix_matches_first(void **state)
{
	char ids[CLIENT_MAX_IDS][25];
	int n, i;

	search_fixture();
	client_list_ids(CLIENT_V1 "/clinics/search?q=Wombat", admin, ids, &n);
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
	client_expect_rejected("GET", CLIENT_V1 "/clinics/search", admin, NULL, 400, "q");
}

/* --- the end -------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	client_use(&server, admin);
	return harness_server_start(&server, "clinics", &c, &deps);
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
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
