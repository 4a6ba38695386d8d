/*
 * test_assignments.c: the assignment resource end to end: create (organization from the
 * clinic, 422/409/400 answers, re-activation of an inactive pair), the one active primary
 * clinic per provider, every list filter, patch, delete as deactivation, the two embedded
 * lists, their database command count (no N+1), and the seed tool's data set.
 *
 * Three servers on one FerretDB and one Redis. `server` (read cache on) answers the
 * behaviour tests, all through the API, whose writes invalidate the cache. `counted` and
 * `batched` run with the cache off, so every read reaches the database and the monitor's
 * enterprise_db_commands_total counts exactly what one request sent; `batched` also has
 * max_batch_size 10 (QUERY_MAX_BATCH_SIZE). The seed test runs `tools/dev seed` against a
 * database of its own on the same FerretDB.
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

#define MANY 30

extern char **environ;

static struct harness_deps deps;
static struct harness_server server, counted, batched;
static mongoc_client_t *mongo;
static char *admin; /* a platform_admin token */

/* --- helpers ------------------------------------------------------------------------------ */

/* The stored document of collection (driver), or NULL. Caller destroys. */
static bson_t *
stored(const char *collection, const char *hex)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(mongo, HARNESS_DB, collection);
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

/* A bool of a stored document: 1, 0, or -1 when absent or not a bool. */
static int
stored_bool(const char *collection, const char *hex, const char *field)
{
	bson_t *doc = stored(collection, hex);
	bson_iter_t it;
	int v = -1;

	if (doc == NULL)
		fail_msg("%s %s is not stored", collection, hex);
	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_BOOL(&it))
		v = bson_iter_bool(&it);
	bson_destroy(doc);
	return v;
}

static int
json_bool(const bson_t *doc, const char *path)
{
	bson_iter_t it, found;

	if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &found) ||
	    !BSON_ITER_HOLDS_BOOL(&found))
		fail_msg("%s is not a boolean", path);
	return bson_iter_bool(&found);
}

static char *
assignment_body(const char *provider, const char *clinic, const char *roles, int primary)
{
	return client_strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":%s%s}", provider,
			   clinic, roles, primary ? ",\"isPrimaryClinic\":true" : "");
}

/* POST /assignments as platform_admin, 201 expected: the document, its id in id. */
static bson_t *
assign_doc(const char *provider, const char *clinic, int primary, char id[25])
{
	char *body = assignment_body(provider, clinic, "[\"DENTIST\"]", primary);
	bson_t *doc = client_create(CLIENT_V1 "/assignments", admin, body, id);

	free(body);
	return doc;
}

static void
assign(const char *provider, const char *clinic, int primary, char id[25])
{
	bson_destroy(assign_doc(provider, clinic, primary, id));
}

/* method /assignments/{id} as platform_admin, status expected: the document. */
static bson_t *
on_assignment(const char *method, const char *id, const char *body, long status)
{
	struct harness_response r;
	char *path = client_strf(CLIENT_V1 "/assignments/%s", id);
	bson_t *doc;

	client_call(method, path, admin, body, &r);
	doc = client_expect_json(&r, status);
	harness_response_free(&r);
	free(path);
	return doc;
}

static int
is_primary(const char *id)
{
	bson_t *doc = on_assignment("GET", id, NULL, 200);
	int v = json_bool(doc, "isPrimaryClinic");

	bson_destroy(doc);
	return v;
}

/* --- create ------------------------------------------------------------------------------- */

static void
test_create_answers_201_with_location_and_organization_of_the_clinic(void **state)
{
	struct harness_response r;
	char org[25], clinic[25], *body, *want;
	const char *loc;
	bson_t *doc;

	client_new_org("Assign Create Group", org);
	client_new_clinic_named(org, "Create", "AC-1", clinic);
	body = assignment_body("prov-create", clinic, "[\"DENTIST\",\"MANAGER\"]", 0);
	client_call("POST", CLIENT_V1 "/assignments", admin, body, &r);
	doc = client_expect_json(&r, 201);
	want = client_strf(CLIENT_V1 "/assignments/%s", harness_json_str(doc, "id"));
	loc = harness_header(&r, "location");
	if (loc == NULL || strcmp(loc, want) != 0)
		fail_msg("Location is %s, want %s", loc ? loc : "(none)", want);
	client_want_str(doc, "organizationId", org);
	client_want_str(doc, "clinicId", clinic);
	client_want_str(doc, "providerId", "prov-create");
	client_want_str(doc, "roles.0", "DENTIST");
	client_want_str(doc, "roles.1", "MANAGER");
	assert_true(json_bool(doc, "isActive"));
	assert_false(json_bool(doc, "isPrimaryClinic"));
	if (harness_json_str(doc, "assignedAt") == NULL)
		fail_msg("no assignedAt");
	if (harness_json_type(doc, "unassignedAt") != BSON_TYPE_EOD)
		fail_msg("unassignedAt on a new assignment");
	assert_int_equal(client_int_at(doc, "version"), 1);
	bson_destroy(doc);
	harness_response_free(&r);
	doc = client_get_json(want, admin);
	client_want_str(doc, "organizationId", org);
	bson_destroy(doc);
	free(want);
	free(body);
}

static void
test_create_at_a_missing_clinic_is_422_naming_clinic_id(void **state)
{
	char *body = assignment_body("prov-x", "0123456789abcdef01234567", "[\"DENTIST\"]", 0);

	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 422, "clinicId");
	free(body);
}

static void
test_create_of_an_active_pair_again_is_409(void **state)
{
	char org[25], clinic[25], id[25], *body;

	client_new_org("Assign Dup Group", org);
	client_new_clinic_named(org, "Dup", "AD-1", clinic);
	assign("prov-dup", clinic, 0, id);
	body = assignment_body("prov-dup", clinic, "[\"HYGIENIST\"]", 0);
	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 409, NULL);
	free(body);
}

static void
test_create_of_an_inactive_pair_reactivates_it_with_200(void **state)
{
	struct harness_response r;
	char org[25], clinic[25], id[25], *body;
	bson_t *doc;

	client_new_org("Assign Reactivate Group", org);
	client_new_clinic_named(org, "Again", "AR-1", clinic);
	assign("prov-again", clinic, 0, id);
	bson_destroy(on_assignment("DELETE", id, NULL, 200));

	body = assignment_body("prov-again", clinic, "[\"ASSISTANT\"]", 0);
	client_call("POST", CLIENT_V1 "/assignments", admin, body, &r);
	doc = client_expect_json(&r, 200);
	client_want_str(doc, "id", id);
	assert_true(json_bool(doc, "isActive"));
	client_want_str(doc, "roles.0", "ASSISTANT");
	if (harness_json_type(doc, "unassignedAt") != BSON_TYPE_EOD)
		fail_msg("unassignedAt still in the answer: %s", r.body);
	bson_destroy(doc);
	harness_response_free(&r);
	/* and as stored */
	doc = stored("assignments", id);
	if (bson_has_field(doc, "unassignedAt"))
		fail_msg("unassignedAt still stored");
	bson_destroy(doc);
	assert_int_equal(stored_bool("assignments", id, "isActive"), 1);
	free(body);
}

static void
test_create_with_empty_roles_is_400_naming_roles(void **state)
{
	char *body = assignment_body("prov-x", "0123456789abcdef01234567", "[]", 0);

	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 400, "roles");
	free(body);
}

static void
test_create_with_an_unknown_role_is_400_naming_roles(void **state)
{
	char *body = assignment_body("prov-x", "0123456789abcdef01234567", "[\"SURGEON\"]", 0);

	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 400, "roles");
	free(body);
}

static void
test_create_with_a_bad_provider_id_is_400_naming_it(void **state)
{
	char *body = assignment_body("bad id!", "0123456789abcdef01234567", "[\"DENTIST\"]", 0);

	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 400, "providerId");
	free(body);
}

static void
test_create_with_a_clinic_id_that_is_not_24_hex_is_400_naming_it(void **state)
{
	char *body = assignment_body("prov-x", "nope", "[\"DENTIST\"]", 0);

	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 400, "clinicId");
	free(body);
}

static void
test_create_with_organization_id_in_the_body_is_400_naming_it(void **state)
{
	char org[25], clinic[25], *body;

	client_new_org("Assign Body Org Group", org);
	client_new_clinic_named(org, "Body", "AB-1", clinic);
	body = client_strf("{\"providerId\":\"prov-x\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"],"
			   "\"organizationId\":\"%s\"}",
			   clinic, org);
	client_expect_rejected("POST", CLIENT_V1 "/assignments", admin, body, 400,
			       "organizationId");
	free(body);
}

/* --- primary clinic ----------------------------------------------------------------------- */

static void
test_a_new_primary_clears_the_providers_other_active_primary(void **state)
{
	char org[25], c1[25], c2[25], a1[25], a2[25], other[25];

	client_new_org("Primary Create Group", org);
	client_new_clinic_named(org, "P1", "PC-1", c1);
	client_new_clinic_named(org, "P2", "PC-2", c2);
	assign("prov-primary", c1, 1, a1);
	assign("prov-primary-other", c1, 1, other);
	assert_int_equal(is_primary(a1), 1);
	assign("prov-primary", c2, 1, a2);
	/* through the API (the cache must have been told) and as stored */
	assert_int_equal(is_primary(a1), 0);
	assert_int_equal(is_primary(a2), 1);
	assert_int_equal(stored_bool("assignments", a1, "isPrimaryClinic"), 0);
	assert_int_equal(stored_bool("assignments", a2, "isPrimaryClinic"), 1);
	/* another provider's primary at the same clinic is untouched */
	assert_int_equal(is_primary(other), 1);
	assert_int_equal(stored_bool("assignments", other, "isPrimaryClinic"), 1);
}

static void
test_patching_primary_clears_the_providers_other_active_primary(void **state)
{
	char org[25], c1[25], c2[25], a1[25], a2[25];
	bson_t *doc;

	client_new_org("Primary Patch Group", org);
	client_new_clinic_named(org, "P1", "PP-1", c1);
	client_new_clinic_named(org, "P2", "PP-2", c2);
	assign("prov-primary-patch", c1, 1, a1);
	assign("prov-primary-patch", c2, 0, a2);
	doc = on_assignment("PATCH", a2, "{\"isPrimaryClinic\":true}", 200);
	assert_true(json_bool(doc, "isPrimaryClinic"));
	assert_int_equal(client_int_at(doc, "version"), 2);
	bson_destroy(doc);
	assert_int_equal(is_primary(a1), 0);
	assert_int_equal(is_primary(a2), 1);
	assert_int_equal(stored_bool("assignments", a1, "isPrimaryClinic"), 0);
	assert_int_equal(stored_bool("assignments", a2, "isPrimaryClinic"), 1);
}

/* --- lists ------------------------------------------------------------------------------ */

/* Three assignments in one organization: p1 at c1 and c2, p2 at c1 (deactivated). */
static char lf_org[25], lf_c1[25], lf_c2[25], lf_p1c1[25], lf_p1c2[25], lf_p2c1[25];

static void
list_fixture(void)
{
	static int made;

	if (made++)
		return;
	client_new_org("Assign List Group", lf_org);
	client_new_clinic_named(lf_org, "L1", "LF-1", lf_c1);
	client_new_clinic_named(lf_org, "L2", "LF-2", lf_c2);
	assign("lf-p1", lf_c1, 0, lf_p1c1);
	assign("lf-p1", lf_c2, 0, lf_p1c2);
	assign("lf-p2", lf_c1, 0, lf_p2c1);
	bson_destroy(on_assignment("DELETE", lf_p2c1, NULL, 200));
}

static void
test_list_filters_by_provider_id(void **state)
{
	list_fixture();
	client_expect_ids(CLIENT_V1 "/assignments?limit=100&providerId=lf-p1", admin,
			  (const char *const[]){lf_p1c1, lf_p1c2, NULL});
}

static void
test_list_filters_by_clinic_id(void **state)
{
	char *path;

	list_fixture();
	path = client_strf(CLIENT_V1 "/assignments?limit=100&clinicId=%s", lf_c1);
	client_expect_ids(path, admin, (const char *const[]){lf_p1c1, lf_p2c1, NULL});
	free(path);
}

static void
test_list_filters_by_organization_id(void **state)
{
	char *path;

	list_fixture();
	path = client_strf(CLIENT_V1 "/assignments?limit=100&organizationId=%s", lf_org);
	client_expect_ids(path, admin, (const char *const[]){lf_p1c1, lf_p1c2, lf_p2c1, NULL});
	free(path);
}

static void
test_list_filters_by_is_active(void **state)
{
	char *path;

	list_fixture();
	path = client_strf(CLIENT_V1 "/assignments?limit=100&organizationId=%s&isActive=false",
			   lf_org);
	client_expect_ids(path, admin, (const char *const[]){lf_p2c1, NULL});
	free(path);
	path =
	    client_strf(CLIENT_V1 "/assignments?limit=100&organizationId=%s&isActive=true", lf_org);
	client_expect_ids(path, admin, (const char *const[]){lf_p1c1, lf_p1c2, NULL});
	free(path);
}

static void
test_list_with_a_bad_filter_value_is_400_naming_it(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/assignments?isActive=maybe", admin, NULL, 400,
			       "isActive");
	client_expect_rejected("GET", CLIENT_V1 "/assignments?clinicId=123", admin, NULL, 400,
			       "clinicId");
	client_expect_rejected("GET", CLIENT_V1 "/assignments?providerId=a%20b", admin, NULL, 400,
			       "providerId");
}

/* --- patch ------------------------------------------------------------------------------ */

static void
test_patch_roles_replaces_them_and_increments_version(void **state)
{
	char org[25], clinic[25], id[25];
	bson_t *doc;

	client_new_org("Assign Patch Group", org);
	client_new_clinic_named(org, "Patch", "APT-1", clinic);
	assign("prov-patch", clinic, 0, id);
	doc = on_assignment("PATCH", id, "{\"roles\":[\"HYGIENIST\",\"FRONT_DESK\"]}", 200);
	client_want_str(doc, "roles.0", "HYGIENIST");
	client_want_str(doc, "roles.1", "FRONT_DESK");
	if (harness_json_type(doc, "roles.2") != BSON_TYPE_EOD)
		fail_msg("more than the two roles");
	assert_int_equal(client_int_at(doc, "version"), 2);
	bson_destroy(doc);
	doc = on_assignment("GET", id, NULL, 200);
	client_want_str(doc, "roles.0", "HYGIENIST");
	assert_int_equal(client_int_at(doc, "version"), 2);
	bson_destroy(doc);
}

static void
test_patch_of_provider_id_is_400_naming_it(void **state)
{
	char org[25], clinic[25], id[25], *path;

	client_new_org("Assign Patch Provider Group", org);
	client_new_clinic_named(org, "Patch", "APP-1", clinic);
	assign("prov-patch-p", clinic, 0, id);
	path = client_strf(CLIENT_V1 "/assignments/%s", id);
	client_expect_rejected("PATCH", path, admin, "{\"providerId\":\"someone-else\"}", 400,
			       "providerId");
	client_expect_rejected("PATCH", path, admin, "{\"roles\":[]}", 400, "roles");
	free(path);
}

/* --- delete ----------------------------------------------------------------------------- */

static void
test_delete_deactivates_with_unassigned_at(void **state)
{
	char org[25], clinic[25], id[25];
	bson_t *doc;

	client_new_org("Assign Delete Group", org);
	client_new_clinic_named(org, "Delete", "ADL-1", clinic);
	assign("prov-delete", clinic, 1, id);
	doc = on_assignment("DELETE", id, NULL, 200);
	assert_false(json_bool(doc, "isActive"));
	assert_false(json_bool(doc, "isPrimaryClinic"));
	if (harness_json_str(doc, "unassignedAt") == NULL)
		fail_msg("no unassignedAt");
	bson_destroy(doc);
	/* still readable: deactivated, not deleted */
	doc = on_assignment("GET", id, NULL, 200);
	assert_false(json_bool(doc, "isActive"));
	bson_destroy(doc);
	assert_int_equal(stored_bool("assignments", id, "isActive"), 0);
}

static void
test_delete_of_an_inactive_assignment_is_200_unchanged(void **state)
{
	char org[25], clinic[25], id[25], at[40];
	bson_t *doc;
	int64_t version;

	client_new_org("Assign Delete Twice Group", org);
	client_new_clinic_named(org, "Twice", "ADT-1", clinic);
	assign("prov-delete-twice", clinic, 0, id);
	doc = on_assignment("DELETE", id, NULL, 200);
	version = client_int_at(doc, "version");
	snprintf(at, sizeof(at), "%s", harness_json_str(doc, "unassignedAt"));
	bson_destroy(doc);
	doc = on_assignment("DELETE", id, NULL, 200);
	assert_false(json_bool(doc, "isActive"));
	assert_int_equal(client_int_at(doc, "version"), version);
	client_want_str(doc, "unassignedAt", at);
	bson_destroy(doc);
}

static void
test_delete_of_an_unknown_id_is_404(void **state)
{
	client_expect_rejected("DELETE", CLIENT_V1 "/assignments/0123456789abcdef01234567", admin,
			       NULL, 404, NULL);
}

/* --- embedded lists ----------------------------------------------------------------------- */

/* The rows of an embedded list, with the ids of `data` in ids. */
static bson_t *
rows(const struct harness_server *s, const char *path, char ids[][25], int *n)
{
	struct harness_response r;
	bson_iter_t it, arr, row;
	bson_t *doc;

	client_call_on(s, "GET", path, admin, NULL, &r);
	doc = client_expect_json(&r, 200);
	harness_response_free(&r);
	*n = 0;
	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		fail_msg("GET %s: no data array", path);
	while (bson_iter_next(&arr)) {
		if (*n == CLIENT_MAX_IDS || !BSON_ITER_HOLDS_DOCUMENT(&arr) ||
		    !bson_iter_recurse(&arr, &row) || !bson_iter_find(&row, "id") ||
		    !BSON_ITER_HOLDS_UTF8(&row))
			fail_msg("GET %s: a bad row", path);
		snprintf(ids[(*n)++], 25, "%s", bson_iter_utf8(&row, NULL));
	}
	return doc;
}

/* Every row of doc embeds the clinic of its clinicId, with a name starting with prefix. */
static void
expect_clinics_embedded(const bson_t *doc, int n, const char *prefix)
{
	char key[64];
	const char *cid, *eid, *name;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "data.%d.clinicId", i);
		cid = harness_json_str(doc, key);
		snprintf(key, sizeof(key), "data.%d.clinic.id", i);
		eid = harness_json_str(doc, key);
		snprintf(key, sizeof(key), "data.%d.clinic.name", i);
		name = harness_json_str(doc, key);
		if (cid == NULL || eid == NULL || strcmp(cid, eid) != 0)
			fail_msg("row %d: clinicId %s but embedded clinic %s", i, cid ? cid : "-",
				 eid ? eid : "-");
		if (name == NULL || strncmp(name, prefix, strlen(prefix)) != 0)
			fail_msg("row %d: embedded clinic name %s", i, name ? name : "(none)");
	}
}

static void
test_provider_clinics_lists_active_assignments_with_their_clinic(void **state)
{
	char org[25], c1[25], c2[25], c3[25], a1[25], a2[25], a3[25], ids[CLIENT_MAX_IDS][25];
	bson_t *doc;
	int n, i;

	client_new_org("Provider Clinics Group", org);
	client_new_clinic_named(org, "Embedded North", "PCE-1", c1);
	client_new_clinic_named(org, "Embedded South", "PCE-2", c2);
	client_new_clinic_named(org, "Embedded West", "PCE-3", c3);
	assign("prov-embed", c1, 1, a1);
	assign("prov-embed", c2, 0, a2);
	assign("prov-embed", c3, 0, a3);
	bson_destroy(on_assignment("DELETE", a3, NULL, 200));
	doc = rows(&server, CLIENT_V1 "/providers/prov-embed/clinics", ids, &n);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		if (strcmp(ids[i], a1) != 0 && strcmp(ids[i], a2) != 0)
			fail_msg("row %s is not an active assignment of the provider", ids[i]);
	expect_clinics_embedded(doc, n, "Embedded ");
	for (i = 0; i < n; i++) {
		char key[64];

		snprintf(key, sizeof(key), "data.%d.clinic.name", i);
		client_want_str(doc, key,
				strcmp(ids[i], a1) == 0 ? "Embedded North" : "Embedded South");
	}
	bson_destroy(doc);
}

static void
test_clinic_providers_lists_its_active_assignments(void **state)
{
	char org[25], clinic[25], a1[25], a2[25], a3[25], *path;

	client_new_org("Clinic Providers Group", org);
	client_new_clinic_named(org, "Crowded", "CP-1", clinic);
	assign("prov-cp-1", clinic, 0, a1);
	assign("prov-cp-2", clinic, 0, a2);
	assign("prov-cp-3", clinic, 0, a3);
	bson_destroy(on_assignment("DELETE", a3, NULL, 200));
	path = client_strf(CLIENT_V1 "/clinics/%s/providers", clinic);
	client_expect_ids(path, admin, (const char *const[]){a1, a2, NULL});
	free(path);
}

static void
test_provider_clinics_with_a_bad_provider_id_is_400(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/providers/bad%20id/clinics", admin, NULL, 400,
			       "providerId");
}

static void
test_clinic_providers_of_an_unknown_clinic_is_404(void **state)
{
	client_expect_rejected("GET", CLIENT_V1 "/clinics/0123456789abcdef01234567/providers",
			       admin, NULL, 404, NULL);
}

/* --- no N+1 ----------------------------------------------------------------------------- */

/* MANY clinics with one provider at each (nplus-many), and one clinic with MANY providers. */
static char np_crowded[25];

static void
nplus_fixture(void)
{
	static int made;
	char org[25], clinic[25], id[25], name[32], code[16], provider[32];
	int i;

	if (made++)
		return;
	client_new_org("No N+1 Group", org);
	for (i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "Batch %02d", i);
		snprintf(code, sizeof(code), "NP-%02d", i);
		client_new_clinic_named(org, name, code, clinic);
		assign("nplus-many", clinic, i == 0, id);
	}
	client_new_clinic_named(org, "Batch Crowded", "NP-CROWD", np_crowded);
	for (i = 0; i < MANY; i++) {
		snprintf(provider, sizeof(provider), "nplus-crowd-%02d", i);
		assign(provider, np_crowded, 0, id);
	}
}

/* The database commands s has sent so far: finds, and all but finds and pings. */
static void
commands(const struct harness_server *s, double *finds, double *others)
{
	struct harness_prom p;
	double all, pings;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("metrics: %s", p.error);
	if (harness_prom_sum(&p, "enterprise_db_commands_total", "command=\"find\"", finds) != 1)
		fail_msg("no enterprise_db_commands_total{command=\"find\"}");
	harness_prom_sum(&p, "enterprise_db_commands_total", NULL, &all);
	harness_prom_sum(&p, "enterprise_db_commands_total", "command=\"ping\"", &pings);
	*others = all - *finds - pings;
	harness_prom_free(&p);
}

/* One GET path on s: the find commands it cost (and no command but finds). */
static int
finds_of(const struct harness_server *s, const char *path, int want_rows)
{
	double f0, o0, f1, o1;
	char ids[CLIENT_MAX_IDS][25];
	bson_t *doc;
	int n;

	commands(s, &f0, &o0);
	doc = rows(s, path, ids, &n);
	commands(s, &f1, &o1);
	if (n != want_rows)
		fail_msg("GET %s: %d rows, want %d", path, n, want_rows);
	if (o1 != o0)
		fail_msg("GET %s sent %.0f commands other than find", path, o1 - o0);
	if (strstr(path, "/providers/") == path + strlen(CLIENT_V1))
		expect_clinics_embedded(doc, n, "Batch ");
	bson_destroy(doc);
	return (int)(f1 - f0);
}

static void
test_provider_clinics_of_30_rows_costs_two_finds(void **state)
{
	nplus_fixture();
	assert_int_equal(
	    finds_of(&counted, CLIENT_V1 "/providers/nplus-many/clinics?limit=50", MANY), 2);
	/* and again: nothing is cached, the count is the same */
	assert_int_equal(
	    finds_of(&counted, CLIENT_V1 "/providers/nplus-many/clinics?limit=50", MANY), 2);
}

static void
test_clinic_providers_of_30_rows_costs_two_finds(void **state)
{
	char *path;

	nplus_fixture();
	path = client_strf(CLIENT_V1 "/clinics/%s/providers?limit=50", np_crowded);
	assert_int_equal(finds_of(&counted, path, MANY), 2);
	free(path);
}

static void
test_provider_clinics_with_batch_size_10_costs_one_find_per_10_clinics(void **state)
{
	nplus_fixture();
	assert_int_equal(
	    finds_of(&batched, CLIENT_V1 "/providers/nplus-many/clinics?limit=50", MANY), 1 + 3);
}

static void
test_clinic_providers_with_batch_size_10_still_costs_two_finds(void **state)
{
	char *path;

	/* providers are identity-system ids: nothing to load per row */
	nplus_fixture();
	path = client_strf(CLIENT_V1 "/clinics/%s/providers?limit=50", np_crowded);
	assert_int_equal(finds_of(&batched, path, MANY), 2);
	free(path);
}

/* --- seed data ---------------------------------------------------------------------------- */

#define SEED_DB "seedcheck"

/* Runs `tools/dev seed ARGS` against the seed database; returns its exit code. */
static int
run_seed(const char *name, char *const args[])
{
	struct harness_proc p;
	char *argv[16], **env, **e;
	size_t n = 0, i = 0;
	int k;

	for (e = environ; *e != NULL; e++)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		abort();
	/* not make's variables: BUILD=asan in MAKEFLAGS would retarget the tool's own make */
	for (e = environ; *e != NULL; e++)
		if (strncmp(*e, "MONGODB_URI=", 12) != 0 && strncmp(*e, "MAKEFLAGS=", 10) != 0 &&
		    strncmp(*e, "MFLAGS=", 7) != 0 && strncmp(*e, "MAKELEVEL=", 10) != 0 &&
		    strncmp(*e, "MAKEOVERRIDES=", 14) != 0)
			env[i++] = *e;
	env[i++] = client_strf("MONGODB_URI=mongodb://127.0.0.1:%d/" SEED_DB, deps.mongo_port);
	env[i] = NULL;
	argv[0] = "tools/dev";
	argv[1] = "seed";
	for (k = 0; args[k] != NULL && k < 13; k++)
		argv[k + 2] = args[k];
	argv[k + 2] = NULL;
	if (harness_proc_start(&p, name, argv, env) == -1)
		fail_msg("cannot start tools/dev seed");
	free(env[i - 1]);
	free(env);
	if (harness_proc_wait(&p, 80000) == -1) {
		harness_proc_stop(&p, 1000);
		fail_msg("tools/dev seed did not finish within 80 s");
	}
	if (harness_exit_code(p.status) != 0)
		harness_print_tail(p.err_path, 20);
	return harness_exit_code(p.status);
}

/* Every document of the seed database's collection, sorted by _id, as canonical JSON. */
static char *
seed_dump(const char *collection, int *count)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(mongo, SEED_DB, collection);
	bson_t filter = BSON_INITIALIZER, *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
	const bson_t *doc;
	bson_error_t error;
	char *all = client_strf("%s", ""), *next, *json;

	*count = 0;
	while (mongoc_cursor_next(cursor, &doc)) {
		json = bson_as_canonical_extended_json(doc, NULL);
		next = client_strf("%s%s\n", all, json);
		bson_free(json);
		free(all);
		all = next;
		(*count)++;
	}
	if (mongoc_cursor_error(cursor, &error))
		fail_msg("find in %s.%s: %s", SEED_DB, collection, error.message);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	return all;
}

/* Checks the shape of the seeded data: clinics per organization, assignments in their clinic's
 * organization, exactly one active primary per provider. */
static void
seed_check_shape(int norgs)
{
	mongoc_collection_t *clinics = mongoc_client_get_collection(mongo, SEED_DB, "clinics");
	mongoc_collection_t *asg = mongoc_client_get_collection(mongo, SEED_DB, "assignments");
	bson_t filter = BSON_INITIALIZER, orgs = BSON_INITIALIZER, providers = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_iter_t it, cit;
	char hex[25];
	int nasg = 0;

	/* clinic id -> organization id; organization id -> clinic count */
	bson_t clinic_org = BSON_INITIALIZER;

	cursor = mongoc_collection_find_with_opts(clinics, &filter, NULL, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t oi;
		int32_t c = 0;

		if (!bson_iter_init_find(&it, doc, "_id") ||
		    !bson_iter_init_find(&oi, doc, "organizationId") || !BSON_ITER_HOLDS_OID(&oi))
			fail_msg("a seeded clinic without _id or organizationId");
		bson_oid_to_string(bson_iter_oid(&it), hex);
		BSON_APPEND_OID(&clinic_org, hex, bson_iter_oid(&oi));
		bson_oid_to_string(bson_iter_oid(&oi), hex);
		if (bson_iter_init_find(&cit, &orgs, hex)) {
			c = bson_iter_int32(&cit);
			bson_iter_overwrite_int32(&cit, c + 1);
		} else {
			BSON_APPEND_INT32(&orgs, hex, 1);
		}
	}
	mongoc_cursor_destroy(cursor);
	if (bson_count_keys(&orgs) != (uint32_t)norgs)
		fail_msg("clinics in %u organizations, want %d", bson_count_keys(&orgs), norgs);
	bson_iter_init(&it, &orgs);
	while (bson_iter_next(&it))
		if (bson_iter_int32(&it) < 1 || bson_iter_int32(&it) > 20)
			fail_msg("organization %s has %d clinics", bson_iter_key(&it),
				 bson_iter_int32(&it));

	cursor = mongoc_collection_find_with_opts(asg, &filter, NULL, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t ci, oi, pi;
		int primary, active;

		if (!bson_iter_init_find(&ci, doc, "clinicId") || !BSON_ITER_HOLDS_OID(&ci) ||
		    !bson_iter_init_find(&oi, doc, "organizationId") || !BSON_ITER_HOLDS_OID(&oi) ||
		    !bson_iter_init_find(&pi, doc, "providerId") || !BSON_ITER_HOLDS_UTF8(&pi))
			fail_msg(
			    "a seeded assignment without clinicId, organizationId or providerId");
		bson_oid_to_string(bson_iter_oid(&ci), hex);
		if (!bson_iter_init_find(&cit, &clinic_org, hex) ||
		    !bson_oid_equal(bson_iter_oid(&cit), bson_iter_oid(&oi)))
			fail_msg("assignment at clinic %s is not in the clinic's organization",
				 hex);
		active = bson_iter_init_find(&it, doc, "isActive") && bson_iter_as_bool(&it);
		primary =
		    bson_iter_init_find(&it, doc, "isPrimaryClinic") && bson_iter_as_bool(&it);
		if (bson_iter_init_find(&cit, &providers, bson_iter_utf8(&pi, NULL))) {
			bson_iter_overwrite_int32(&cit,
						  bson_iter_int32(&cit) + (active && primary));
		} else {
			BSON_APPEND_INT32(&providers, bson_iter_utf8(&pi, NULL), active && primary);
		}
		nasg++;
	}
	mongoc_cursor_destroy(cursor);
	if (nasg == 0 || bson_count_keys(&providers) == 0)
		fail_msg("no assignments seeded");
	bson_iter_init(&it, &providers);
	while (bson_iter_next(&it))
		if (bson_iter_int32(&it) != 1)
			fail_msg("provider %s has %d active primary clinics", bson_iter_key(&it),
				 bson_iter_int32(&it));
	bson_destroy(&clinic_org);
	bson_destroy(&orgs);
	bson_destroy(&providers);
	bson_destroy(&filter);
	mongoc_collection_destroy(clinics);
	mongoc_collection_destroy(asg);
}

static void
test_seed_writes_three_organizations_with_one_active_primary_per_provider(void **state)
{
	/* the command of the issue as is: the shape does not depend on the day */
	char *args[] = {"--orgs", "3", "--seed", "7", NULL};
	char *dump;
	int n;

	assert_int_equal(run_seed("seed-1", args), 0);
	dump = seed_dump("organizations", &n);
	assert_int_equal(n, 3);
	free(dump);
	seed_check_shape(3);
}

static void
test_seed_twice_with_drop_writes_identical_documents(void **state)
{
	static const char *const names[] = {"organizations", "clinics", "assignments", NULL};
	char *args[] = {"--orgs", "3", "--seed", "7", "--now", "2024-06-01", "--drop", NULL};
	char *before[3], *after;
	int i, n1, n2;

	/* --now pins the data set's day: two runs on either side of midnight UTC would
	 * otherwise rightly differ */
	if (run_seed("seed-2", args) != 0)
		fail_msg("tools/dev seed --drop failed");
	for (i = 0; names[i] != NULL; i++)
		before[i] = seed_dump(names[i], &n1);
	assert_int_equal(run_seed("seed-3", args), 0);
	for (i = 0; names[i] != NULL; i++) {
		after = seed_dump(names[i], &n2);
		if (n2 == 0 || n1 == 0)
			fail_msg("%s is empty after seeding", names[i]);
		if (strcmp(before[i], after) != 0)
			fail_msg("%s differ between two runs of the same seed", names[i]);
		free(before[i]);
		free(after);
	}
}

/* --- the end -------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};
	struct harness_conf off = {.workers = 2, .extra = "cache {\n\tenabled no\n}\n"};
	struct harness_conf ten = {
	    .workers = 2, .extra = "cache {\n\tenabled no\n}\nmongodb {\n\tmax_batch_size 10\n}\n"};

	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1)
		return -1;
	if ((mongo = harness_mongo_client(&deps)) == NULL)
		return -1;
	client_use(&server, admin);
	if (harness_server_start(&server, "assignments", &c, &deps) == -1 ||
	    harness_server_start(&counted, "counted", &off, &deps) == -1)
		return -1;
	return harness_server_start(&batched, "batched", &ten, &deps);
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
	    cmocka_unit_test(test_create_answers_201_with_location_and_organization_of_the_clinic),
	    cmocka_unit_test(test_create_at_a_missing_clinic_is_422_naming_clinic_id),
	    cmocka_unit_test(test_create_of_an_active_pair_again_is_409),
	    cmocka_unit_test(test_create_of_an_inactive_pair_reactivates_it_with_200),
	    cmocka_unit_test(test_create_with_empty_roles_is_400_naming_roles),
	    cmocka_unit_test(test_create_with_an_unknown_role_is_400_naming_roles),
	    cmocka_unit_test(test_create_with_a_bad_provider_id_is_400_naming_it),
	    cmocka_unit_test(test_create_with_a_clinic_id_that_is_not_24_hex_is_400_naming_it),
	    cmocka_unit_test(test_create_with_organization_id_in_the_body_is_400_naming_it),
	    cmocka_unit_test(test_a_new_primary_clears_the_providers_other_active_primary),
	    cmocka_unit_test(test_patching_primary_clears_the_providers_other_active_primary),
	    cmocka_unit_test(test_list_filters_by_provider_id),
	    cmocka_unit_test(test_list_filters_by_clinic_id),
	    cmocka_unit_test(test_list_filters_by_organization_id),
	    cmocka_unit_test(test_list_filters_by_is_active),
	    cmocka_unit_test(test_list_with_a_bad_filter_value_is_400_naming_it),
	    cmocka_unit_test(test_patch_roles_replaces_them_and_increments_version),
	    cmocka_unit_test(test_patch_of_provider_id_is_400_naming_it),
	    cmocka_unit_test(test_delete_deactivates_with_unassigned_at),
	    cmocka_unit_test(test_delete_of_an_inactive_assignment_is_200_unchanged),
	    cmocka_unit_test(test_delete_of_an_unknown_id_is_404),
	    cmocka_unit_test(test_provider_clinics_lists_active_assignments_with_their_clinic),
	    cmocka_unit_test(test_clinic_providers_lists_its_active_assignments),
	    cmocka_unit_test(test_provider_clinics_with_a_bad_provider_id_is_400),
	    cmocka_unit_test(test_clinic_providers_of_an_unknown_clinic_is_404),
	    cmocka_unit_test(test_provider_clinics_of_30_rows_costs_two_finds),
	    cmocka_unit_test(test_clinic_providers_of_30_rows_costs_two_finds),
	    cmocka_unit_test(
		test_provider_clinics_with_batch_size_10_costs_one_find_per_10_clinics),
	    cmocka_unit_test(test_clinic_providers_with_batch_size_10_still_costs_two_finds),
	    cmocka_unit_test(
		test_seed_writes_three_organizations_with_one_active_primary_per_provider),
	    cmocka_unit_test(test_seed_twice_with_drop_writes_identical_documents),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
