/*
 * clinics.c: the clinics of an organization.
 *
 * Who sees what. platform_admin: every clinic. org_admin and clinic_manager: the clinics of
 * their organization. provider: the clinics of its active assignments, in its organization.
 * The organization part of the scope is known from the token and goes into the filter on the
 * loop thread; a provider's clinic ids need the assignments collection, so that part is added
 * on the backend thread (clinics_provider_scope), still inside the query.
 *
 * Who changes what. platform_admin, and org_admin of the clinic's organization: create,
 * change, delete. clinic_manager: change the clinics it manages (stored managerUserId equals
 * its sub). provider: nothing. Whether a write is allowed may depend on the stored clinic, so
 * PATCH and DELETE load it with the scoped filter first (another organization's clinic: 404),
 * then decide (403), then write with the same filter.
 */
#include "clinics.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "export.h"
#include "store.h"
#include "worker.h"
#include "json.h"

#define CLINIC_COLLECTION "clinics"
#define ASSIGNMENT_COLLECTION "assignments"

static const char *const clinics_statuses[] = {"ACTIVE", "INACTIVE", NULL};

/* organizationId comes from the path on create and never changes: a client sending it is told
 * that the server sets it. */
const struct validate_field clinics_fields[] = {
    {"organizationId", VALIDATE_OBJECTID, VALIDATE_SERVER, 0, 0, NULL, NULL},
    {"name", VALIDATE_STRING, VALIDATE_REQUIRED, 1, 200, NULL, NULL},
    {"code", VALIDATE_IDENT, VALIDATE_REQUIRED, 1, 32, NULL, NULL},
    {"status", VALIDATE_ENUM, 0, 0, 0, clinics_statuses, NULL},
    {"managerUserId", VALIDATE_IDENT, 0, 1, 64, NULL, NULL},
    {"address", VALIDATE_OBJECT, 0, 0, 0, NULL, api_address_fields},
    {"phone", VALIDATE_PHONE, 0, 0, 0, NULL, NULL},
    {"timezone", VALIDATE_TIMEZONE, 0, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* What ?fields= may name. */
const char *const clinics_projectable[] = {"organizationId", "name",	  "code",    "status",
					   "managerUserId",  "address",	  "phone",   "timezone",
					   "createdAt",	     "updatedAt", "version", NULL};

const char *const clinics_list_params[] = {"organizationId", "status", "state", "city",
					   "managerUserId",  "limit",  "page",	"cursor",
					   "count",	     "fields", NULL};
/* GET /organizations/{orgId}/clinics: the organization is the path's */
static const char *const clinics_org_list_params[] = {
    "status", "state", "city", "managerUserId", "limit", "page", "cursor", "count", "fields", NULL};

/* name first: each search pass is ordered by it */
static const char *const clinics_search_fields[] = {"name", "code", "address.city", NULL};

/* --- scope --- */

/*
 * The organization part of a read filter. own: the caller's organization (none for
 * platform_admin); wanted: an organization the request asks for (query or path), or NULL.
 * Scope AND request: asking for another organization than one's own matches nothing, so the
 * condition becomes {$in: []} and the list is empty rather than an error.
 */
static void
clinics_scope_org(const struct auth_principal *who, const bson_oid_t *wanted, bson_t *filter)
{
	bson_oid_t own;
	int has_own = api_principal_org(who, &own) == 0;

	if (has_own && wanted != NULL && !bson_oid_equal(&own, wanted)) {
		bson_t cond, none;

		BSON_APPEND_DOCUMENT_BEGIN(filter, "organizationId", &cond);
		BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &none);
		bson_append_array_end(&cond, &none);
		bson_append_document_end(filter, &cond);
	} else if (has_own) {
		BSON_APPEND_OID(filter, "organizationId", &own);
	} else if (wanted != NULL) {
		BSON_APPEND_OID(filter, "organizationId", wanted);
	}
}

/*
 * A provider sees the clinics of its active assignments: appends
 * _id: {$in: [clinic ids of {providerId: sub, isActive: true}]} to filter, which must not
 * name _id yet. Returns 0, or -1 with error set.
 */
static int
clinics_provider_scope(struct backend *b, const struct api_call *call, bson_t *filter,
		       bson_error_t *error)
{
	mongoc_collection_t *coll = store_collection(b, ASSIGNMENT_COLLECTION);
	bson_t query = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj, idq, in;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	uint32_t n = 0;
	int rc = 0;

	if (coll == NULL) {
		store_unavailable_error(error);
		return -1;
	}
	BSON_APPEND_UTF8(&query, "providerId", call->who.sub);
	BSON_APPEND_BOOL(&query, "isActive", true);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "clinicId", 1);
	bson_append_document_end(&opts, &proj);

	BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &idq);
	BSON_APPEND_ARRAY_BEGIN(&idq, "$in", &in);
	cursor = mongoc_collection_find_with_opts(coll, &query, &opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;
		const char *key;
		char keybuf[16];

		if (!bson_iter_init_find(&it, doc, "clinicId") || !BSON_ITER_HOLDS_OID(&it))
			continue;
		bson_uint32_to_string(n++, &key, keybuf, sizeof(keybuf));
		bson_append_oid(&in, key, -1, bson_iter_oid(&it));
	}
	if (mongoc_cursor_error(cursor, error))
		rc = -1;
	bson_append_array_end(&idq, &in);
	bson_append_document_end(filter, &idq);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&query);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

/* Whether the calling provider has an active assignment at clinic id: 1, 0, or -1 (error). */
static int
clinics_provider_sees(struct backend *b, const struct api_call *call, const bson_oid_t *id,
		      bson_error_t *error)
{
	mongoc_collection_t *coll = store_collection(b, ASSIGNMENT_COLLECTION);
	bson_t query = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	int64_t n;

	if (coll == NULL) {
		store_unavailable_error(error);
		return -1;
	}
	BSON_APPEND_UTF8(&query, "providerId", call->who.sub);
	BSON_APPEND_OID(&query, "clinicId", id);
	BSON_APPEND_BOOL(&query, "isActive", true);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	n = mongoc_collection_count_documents(coll, &query, &opts, NULL, NULL, error);
	bson_destroy(&query);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return n < 0 ? -1 : n > 0;
}

/* {_id: id}, plus the caller's organization unless platform_admin. */
static void
clinics_one_filter(const struct api_call *call, bson_t *filter)
{
	BSON_APPEND_OID(filter, "_id", &call->id);
	clinics_scope_org(&call->who, NULL, filter);
}

/* --- create --- */

static void
clinics_create_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *orgs = store_collection(b, "organizations");
	mongoc_collection_t *clinics = store_collection(b, CLINIC_COLLECTION);
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	struct validate_errors errs = {0};
	bson_error_t error;
	bson_iter_t it;
	char id[25], location[64];
	int64_t n;

	if (orgs == NULL || clinics == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	/* Checked, not locked: an organization deleted between the two commands leaves an
	 * orphan clinic (FerretDB has no transactions); deleting an organization refuses
	 * while it has clinics, which narrows this to a race of milliseconds. */
	if (bson_iter_init_find(&it, call->body, "organizationId") && BSON_ITER_HOLDS_OID(&it))
		BSON_APPEND_OID(&filter, "_id", bson_iter_oid(&it));
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	n = mongoc_collection_count_documents(orgs, &filter, &opts, NULL, NULL, &error);
	if (n < 0) {
		store_fail(res, &error, "create clinic: find organization");
		goto out;
	}
	if (n == 0) {
		validate_error_add(&errs, "organizationId", "does not exist");
		http_response_problem_errors(res, 422, "organization does not exist", &errs);
		goto out;
	}
	if (!mongoc_collection_insert_one(clinics, call->body, NULL, NULL, &error)) {
		if (store_is_duplicate(&error)) {
			validate_error_add(&errs, "code", "is already used in this organization");
			http_response_problem_errors(
			    res, 409, "a clinic with this code exists in the organization", &errs);
		} else {
			store_fail(res, &error, "create clinic");
		}
		goto out;
	}
	bson_oid_to_string(&call->id, id);
	snprintf(location, sizeof(location), API_PREFIX "/clinics/%s", id);
	store_document(res, 201, call->body);
	http_response_header(res, "location", location);
	store_changed(call, SHM_RES_CLINIC, "list:clinic");
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	if (orgs != NULL)
		mongoc_collection_destroy(orgs);
	if (clinics != NULL)
		mongoc_collection_destroy(clinics);
}

void
clinics_create(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t org;
	bson_t *set, *doc;
	int64_t now = clock_wall_ms();

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_path_oid_or_answer(r, "orgId", &org) != 0 ||
	    api_org_access_or_answer(r, &who, &org, 1) != 0)
		return;
	set = bson_new();
	if (api_body_or_answer(r, clinics_fields, VALIDATE_CREATE, set, NULL) != 0) {
		bson_destroy(set);
		return;
	}
	call = api_call_new(r, &who);
	bson_oid_init(&call->id, NULL);
	doc = bson_new();
	BSON_APPEND_OID(doc, "_id", &call->id);
	BSON_APPEND_OID(doc, "organizationId", &org);
	bson_concat(doc, set);
	if (!bson_has_field(set, "status"))
		BSON_APPEND_UTF8(doc, "status", "ACTIVE");
	BSON_APPEND_DATE_TIME(doc, "createdAt", now);
	BSON_APPEND_DATE_TIME(doc, "updatedAt", now);
	BSON_APPEND_INT64(doc, "version", 1);
	bson_destroy(set);
	call->body = doc;
	api_defer_create(r, clinics_create_work, call);
}

/* Every clinic list and search is stale once any clinic is written; a provider's also once
 * any assignment is (they decide what it sees). */
static const char *const *
clinics_list_deps(const struct auth_principal *who)
{
	static const char *const all[] = {"list:clinic", NULL};
	static const char *const provider[] = {"list:clinic", "list:assignment", NULL};

	return who->role == AUTH_ROLE_PROVIDER ? provider : all;
}

/* --- list --- */

static void
clinics_list_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_error_t error;

	if (call->who.role == AUTH_ROLE_PROVIDER &&
	    clinics_provider_scope(b, call, call->filter, &error) != 0) {
		store_fail(res, &error, "list clinics: provider scope");
		return;
	}
	store_list(b, call, CLINIC_COLLECTION, res);
}

/*
 * The filter of GET /clinics (path_org NULL), GET /organizations/{orgId}/clinics and of the
 * export, scoped to the caller's organization, from the query (names limited to params): a
 * new call with filter, projection and page, or NULL when the request was answered. The one
 * builder of lists and exports; a provider's scope is added on the backend thread.
 */
static struct api_call *
clinics_list_call_or_answer(struct http_req *r, const struct auth_principal *who,
			    const bson_oid_t *path_org, const char *const *params)
{
	struct api_call *call;
	struct page_params page;
	char status[16], state[128], city[128], manager[65];
	int has_org = 0, has_status, has_state, has_city, has_manager;
	bson_oid_t org;
	bson_t *filter, *projection;

	if (api_query_names_or_answer(r, params) != 0 ||
	    (path_org == NULL &&
	     api_query_oid_or_answer(r, "organizationId", &org, &has_org) != 0) ||
	    api_query_enum_or_answer(r, "status", clinics_statuses, status, sizeof(status),
				     &has_status) != 0 ||
	    api_query_string_or_answer(r, "state", state, sizeof(state), &has_state) != 0 ||
	    api_query_string_or_answer(r, "city", city, sizeof(city), &has_city) != 0 ||
	    api_query_ident_or_answer(r, "managerUserId", manager, sizeof(manager), &has_manager) !=
		0 ||
	    api_page_or_answer(r, &page) != 0)
		return NULL;
	projection = bson_new();
	if (api_fields_or_answer(r, clinics_projectable, projection) != 0) {
		bson_destroy(projection);
		return NULL;
	}
	filter = bson_new();
	clinics_scope_org(who, path_org != NULL ? path_org : has_org ? &org : NULL, filter);
	if (has_status)
		BSON_APPEND_UTF8(filter, "status", status);
	if (has_state)
		BSON_APPEND_UTF8(filter, "address.state", state);
	if (has_city)
		BSON_APPEND_UTF8(filter, "address.city", city);
	if (has_manager)
		BSON_APPEND_UTF8(filter, "managerUserId", manager);
	call = api_call_new(r, who);
	call->filter = filter;
	call->projection = projection;
	call->page = page;
	return call;
}

static void
clinics_list_common(struct http_req *r, const struct auth_principal *who,
		    const bson_oid_t *path_org, const char *const *params)
{
	struct api_call *call = clinics_list_call_or_answer(r, who, path_org, params);

	if (call == NULL)
		return;
	api_defer_read(r, clinics_list_work, call, SHM_RES_LIST, r->worker->conf->cache_ttl_list,
		       clinics_list_deps(who));
}

void
clinics_list(struct http_req *r)
{
	struct auth_principal who;

	if (api_authenticate_or_answer(r, &who) != 0)
		return;
	clinics_list_common(r, &who, NULL, clinics_list_params);
}

void
clinics_org_list(struct http_req *r)
{
	struct auth_principal who;
	bson_oid_t org;

	/* another organization's list is a 404, like its record; an organization that does
	 * not exist simply has no clinics (platform_admin gets an empty list) */
	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_path_oid_or_answer(r, "orgId", &org) != 0 ||
	    api_org_access_or_answer(r, &who, &org, 0) != 0)
		return;
	clinics_list_common(r, &who, &org, clinics_org_list_params);
}

/* --- export (issue 9) --- */

static const char *const clinics_export_params[] = {
    "organizationId", "status", "state", "city", "managerUserId", EXPORT_PARAMS, NULL};

static const char *const clinics_export_columns[] = {"id",
						     "organizationId",
						     "name",
						     "code",
						     "status",
						     "managerUserId",
						     "address.street",
						     "address.city",
						     "address.state",
						     "address.postalCode",
						     "address.country",
						     "phone",
						     "timezone",
						     "createdAt",
						     "updatedAt",
						     "version",
						     NULL};

/* Backend thread: a provider exports the clinics of its active assignments only. */
static int
clinics_export_scope(struct backend *b, struct api_call *call, bson_error_t *error)
{
	if (call->who.role != AUTH_ROLE_PROVIDER)
		return 0;
	return clinics_provider_scope(b, call, call->filter, error);
}

static const struct export_resource clinics_export_resource = {
    "clinics", CLINIC_COLLECTION, clinics_export_columns, clinics_export_scope};

/* GET /clinics/export: an organizationId the caller cannot see is 404, as its record is. */
void
clinics_export(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	enum export_format fmt;
	bson_oid_t org;
	int has_org = 0;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = clinics_list_call_or_answer(r, &who, NULL, clinics_export_params)) == NULL)
		return;
	if (api_query_oid_or_answer(r, "organizationId", &org, &has_org) != 0 ||
	    (has_org && api_org_access_or_answer(r, &who, &org, 0) != 0) ||
	    export_format_or_answer(r, &fmt) != 0) {
		api_call_free(call);
		return;
	}
	export_start(r, &clinics_export_resource, call, fmt);
}

/* --- read one --- */

static void
clinics_get_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_t filter = BSON_INITIALIZER;
	bson_error_t error;

	if (call->who.role == AUTH_ROLE_PROVIDER) {
		int sees = clinics_provider_sees(b, call, &call->id, &error);

		if (sees < 0) {
			store_fail(res, &error, "get clinic: provider scope");
			return;
		}
		if (sees == 0) {
			http_response_problem(res, 404, "no such record");
			return;
		}
	}
	clinics_one_filter(call, &filter);
	store_get_one(b, call, CLINIC_COLLECTION, &filter, res, "get clinic");
	bson_destroy(&filter);
}

void
clinics_get(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = api_get_call_or_answer(r, &who, clinics_projectable)) == NULL)
		return;
	{
		char dep[64], idhex[25];
		/* a provider sees a clinic through its assignments: those are a dependency too */
		const char *deps[] = {
		    dep, who.role == AUTH_ROLE_PROVIDER ? "list:assignment" : NULL, NULL};

		bson_oid_to_string(&call->id, idhex);
		snprintf(dep, sizeof(dep), "clinic:%s", idhex);
		api_defer_read(r, clinics_get_work, call, SHM_RES_CLINIC,
			       r->worker->conf->cache_ttl_clinic, deps);
	}
}

/* --- write access --- */

/*
 * Loads the clinic of the call with filter (already scoped to the caller's organization):
 * 1 found (its managerUserId copied to manager, "" when it has none), 0 not found, -1 error.
 */
static int
clinics_load(struct backend *b, const struct api_call *call, const bson_t *filter, char *manager,
	     size_t managerlen, bson_error_t *error)
{
	mongoc_collection_t *coll = store_collection(b, CLINIC_COLLECTION);
	bson_t opts = BSON_INITIALIZER, proj;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int rc = 0;

	if (coll == NULL) {
		store_unavailable_error(error);
		return -1;
	}
	manager[0] = '\0';
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "managerUserId", 1);
	bson_append_document_end(&opts, &proj);
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	if (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		rc = 1;
		if (bson_iter_init_find(&it, doc, "managerUserId") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(manager, managerlen, "%s", bson_iter_utf8(&it, NULL));
	} else if (mongoc_cursor_error(cursor, error)) {
		rc = -1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

/*
 * Decides a PATCH (deleting 0) or DELETE (deleting 1) of the call's clinic. Returns 0 when it
 * may go ahead, with filter the one to write with; -1 after filling res (404, 403 or an error).
 */
static int
clinics_write_access(struct backend *b, struct api_call *call, int deleting, bson_t *filter,
		     struct http_response *res)
{
	char manager[128];
	bson_error_t error;
	int found, sees;

	clinics_one_filter(call, filter);
	found = clinics_load(b, call, filter, manager, sizeof(manager), &error);
	if (found < 0) {
		store_fail(res, &error, "load clinic");
		return -1;
	}
	if (found == 0) {
		http_response_problem(res, 404, "no such record");
		return -1;
	}
	switch (call->who.role) {
	case AUTH_ROLE_PLATFORM_ADMIN:
	case AUTH_ROLE_ORG_ADMIN:
		return 0;
	case AUTH_ROLE_CLINIC_MANAGER:
		if (!deleting && manager[0] != '\0' && strcmp(manager, call->who.sub) == 0) {
			/* written only while still its manager: a reassignment that lands
			 * between the load and the write makes the write miss (404) */
			BSON_APPEND_UTF8(filter, "managerUserId", call->who.sub);
			return 0;
		}
		http_response_problem(res, 403,
				      deleting ? "only an administrator deletes a clinic"
					       : "you do not manage this clinic");
		return -1;
	case AUTH_ROLE_PROVIDER:
		/* a clinic outside the provider's assignments stays hidden */
		if ((sees = clinics_provider_sees(b, call, &call->id, &error)) < 0) {
			store_fail(res, &error, "load clinic: provider scope");
			return -1;
		}
		if (sees)
			http_response_problem(res, 403, "your role may not change this record");
		else
			http_response_problem(res, 404, "no such record");
		return -1;
	}
	http_response_problem(res, 403, "your role may not change this record");
	return -1;
}

/* --- update --- */

static void
clinics_patch_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_t filter = BSON_INITIALIZER;

	if (clinics_write_access(b, call, 0, &filter, res) == 0)
		store_patch_record(b, call, CLINIC_COLLECTION, &filter, SHM_RES_CLINIC, "clinic",
				   res);
	bson_destroy(&filter);
}

/*
 * The body is checked before access (a 400 comes before a 404 or 403): access depends on the
 * stored clinic, known only on the backend thread. code may change (still unique: 409);
 * organizationId never. A clinic_manager may set managerUserId to someone else, handing the
 * clinic over (and losing the right to change it): the product has no rule against it, and an
 * org_admin can always undo it.
 */
void
clinics_patch(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 || api_path_oid_or_answer(r, "id", &id) != 0 ||
	    (call = api_patch_call_or_answer(r, &who, &id, clinics_fields)) == NULL)
		return;
	api_defer(r, clinics_patch_work, call);
}

/* --- delete --- */

static void
clinics_delete_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *clinics = NULL, *assignments = NULL;
	bson_t filter = BSON_INITIALIZER, query = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_error_t error;
	bson_iter_t it;
	int64_t n;

	bson_init(&reply);
	if (clinics_write_access(b, call, 1, &filter, res) != 0 ||
	    store_if_match(b, call, CLINIC_COLLECTION, &filter, res) != 0)
		goto out;
	clinics = store_collection(b, CLINIC_COLLECTION);
	assignments = store_collection(b, ASSIGNMENT_COLLECTION);
	if (clinics == NULL || assignments == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	/* Checked, not locked (no transactions on FerretDB): an assignment made in the
	 * milliseconds between the count and the delete would be left pointing nowhere. */
	BSON_APPEND_OID(&query, "clinicId", &call->id);
	BSON_APPEND_BOOL(&query, "isActive", true);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	n = mongoc_collection_count_documents(assignments, &query, &opts, NULL, NULL, &error);
	if (n < 0) {
		store_fail(res, &error, "delete clinic: count assignments");
		goto out;
	}
	if (n > 0) {
		http_response_problem(res, 409, "the clinic still has active assignments");
		goto out;
	}
	bson_destroy(&reply);
	if (!mongoc_collection_delete_one(clinics, &filter, NULL, &reply, &error))
		store_fail(res, &error, "delete clinic");
	else if (bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 1) {
		store_no_content(res);
		store_changed_record(call, SHM_RES_CLINIC, "clinic");
	} else if (call->if_match[0] != '\0')
		http_response_problem(res, 412, "the record changed since the If-Match ETag");
	else
		http_response_problem(res, 404, "no such record");
out:
	bson_destroy(&reply);
	bson_destroy(&filter);
	bson_destroy(&query);
	bson_destroy(&opts);
	if (clinics != NULL)
		mongoc_collection_destroy(clinics);
	if (assignments != NULL)
		mongoc_collection_destroy(assignments);
}

void
clinics_delete(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 || api_path_oid_or_answer(r, "id", &id) != 0)
		return;
	call = api_call_new(r, &who);
	call->id = id;
	api_defer(r, clinics_delete_work, call);
}

/* --- search --- */

static void
clinics_search_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_error_t error;

	if (call->who.role == AUTH_ROLE_PROVIDER &&
	    clinics_provider_scope(b, call, call->filter, &error) != 0) {
		store_fail(res, &error, "search clinics: provider scope");
		return;
	}
	store_search(b, call, CLINIC_COLLECTION, clinics_search_fields, res, "search clinics");
}

void
clinics_search(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = api_search_call_or_answer(r, &who, clinics_projectable)) == NULL)
		return;
	clinics_scope_org(&who, NULL, call->filter);
	api_defer_read(r, clinics_search_work, call, SHM_RES_LIST, r->worker->conf->cache_ttl_list,
		       clinics_list_deps(&who));
}
