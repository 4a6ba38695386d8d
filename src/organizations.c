/*
 * organizations.c: dental groups.
 *
 * Every handler checks on the loop thread what can be known without the database (token,
 * id, body, the caller's organization) and defers the rest. An organization is visible to
 * its own members and to platform administrators; only its org_admin and platform
 * administrators change it; only platform administrators create one.
 */
#include "organizations.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "export.h"
#include "store.h"
#include "json.h"
#include "worker.h"

#define ORG_COLLECTION "organizations"

const char *const organizations_statuses[] = {"ACTIVE", "SUSPENDED", "INACTIVE", NULL};
const char *const organizations_tiers[] = {"FREE", "BASIC", "PRO", "ENTERPRISE", NULL};

const struct validate_field organizations_fields[] = {
    {"name", VALIDATE_STRING, VALIDATE_REQUIRED, 1, 200, NULL, NULL},
    {"status", VALIDATE_ENUM, 0, 0, 0, organizations_statuses, NULL},
    {"subscriptionTier", VALIDATE_ENUM, 0, 0, 0, organizations_tiers, NULL},
    {"subscriptionEndDate", VALIDATE_DATE, 0, 0, 0, NULL, NULL},
    {"contactEmail", VALIDATE_EMAIL, 0, 0, 0, NULL, NULL},
    {"phone", VALIDATE_PHONE, 0, 0, 0, NULL, NULL},
    {"address", VALIDATE_OBJECT, 0, 0, 0, NULL, api_address_fields},
    {"settings", VALIDATE_FREEFORM, 0, 0, 16384, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* What ?fields= may name. */
const char *const organizations_projectable[] = {
    "name",    "status",   "subscriptionTier", "subscriptionEndDate", "contactEmail", "phone",
    "address", "settings", "createdAt",	       "updatedAt",	      "version",      NULL};

const char *const organizations_list_params[] = {
    "status", "subscriptionTier", "createdAfter", "createdBefore", "limit",
    "page",   "cursor",		  "count",	  "fields",	   NULL};

/* Every organization list and search is stale once any organization is written. */
static const char *const organizations_list_deps[] = {"list:organization", NULL};

/* --- create --- */

static void
organizations_create_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = store_collection(b, ORG_COLLECTION);
	bson_error_t error;
	char id[25], location[64];

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	if (!mongoc_collection_insert_one(coll, call->body, NULL, NULL, &error)) {
		store_fail(res, &error, "create organization");
	} else {
		bson_oid_to_string(&call->id, id);
		snprintf(location, sizeof(location), API_PREFIX "/organizations/%s", id);
		store_document(res, 201, call->body);
		store_changed(call, SHM_RES_ORGANIZATION, "list:organization");
		http_response_header(res, "location", location);
	}
	mongoc_collection_destroy(coll);
}

void
organizations_create(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_t *set, *doc;
	int64_t now = clock_wall_ms();

	if (api_authenticate_or_answer(r, &who) != 0)
		return;
	if (who.role != AUTH_ROLE_PLATFORM_ADMIN) {
		http_respond_problem(r, 403, "only a platform administrator creates organizations");
		return;
	}
	set = bson_new();
	if (api_body_or_answer(r, organizations_fields, VALIDATE_CREATE, set, NULL) != 0) {
		bson_destroy(set);
		return;
	}
	call = api_call_new(r, &who);
	bson_oid_init(&call->id, NULL);
	doc = bson_new();
	BSON_APPEND_OID(doc, "_id", &call->id);
	bson_concat(doc, set);
	if (!bson_has_field(set, "status"))
		BSON_APPEND_UTF8(doc, "status", "ACTIVE");
	if (!bson_has_field(set, "subscriptionTier"))
		BSON_APPEND_UTF8(doc, "subscriptionTier", "FREE");
	BSON_APPEND_DATE_TIME(doc, "createdAt", now);
	BSON_APPEND_DATE_TIME(doc, "updatedAt", now);
	BSON_APPEND_INT64(doc, "version", 1);
	bson_destroy(set);
	call->body = doc;
	api_defer_create(r, organizations_create_work, call);
}

/* --- read one --- */

static void
organizations_get_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_t filter = BSON_INITIALIZER;

	BSON_APPEND_OID(&filter, "_id", &call->id);
	store_get_one(b, call, ORG_COLLECTION, &filter, res, "get organization");
	bson_destroy(&filter);
}

void
organizations_get(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = api_get_call_or_answer(r, &who, organizations_projectable)) == NULL)
		return;
	if (api_org_access_or_answer(r, &who, &call->id, 0) != 0) {
		api_call_free(call);
		return;
	}
	{
		char dep[64], idhex[25];
		const char *deps[] = {dep, NULL};

		bson_oid_to_string(&call->id, idhex);
		snprintf(dep, sizeof(dep), "organization:%s", idhex);
		api_defer_read(r, organizations_get_work, call, SHM_RES_ORGANIZATION,
			       r->worker->conf->cache_ttl_organization, deps);
	}
}

/* --- list --- */

static void
organizations_list_work(struct backend *b, void *arg, struct http_response *res)
{
	store_list(b, arg, ORG_COLLECTION, res);
}

/*
 * The filter of a list or an export, scoped to the caller, from the query (names limited to
 * params): a new call with filter, projection and page, or NULL when the request was
 * answered. The one builder of both, so they can never select different rows.
 */
static struct api_call *
organizations_list_call_or_answer(struct http_req *r, const struct auth_principal *who,
				  const char *const *params)
{
	struct api_call *call;
	struct page_params page;
	char status[16], tier[16];
	int has_status, has_tier, has_after, has_before;
	int64_t after, before;
	bson_t *filter, *projection, range;
	bson_oid_t org;

	if (api_query_names_or_answer(r, params) != 0 ||
	    api_query_enum_or_answer(r, "status", organizations_statuses, status, sizeof(status),
				     &has_status) != 0 ||
	    api_query_enum_or_answer(r, "subscriptionTier", organizations_tiers, tier, sizeof(tier),
				     &has_tier) != 0 ||
	    api_query_date_or_answer(r, "createdAfter", &after, &has_after) != 0 ||
	    api_query_date_or_answer(r, "createdBefore", &before, &has_before) != 0 ||
	    api_page_or_answer(r, &page) != 0)
		return NULL;
	projection = bson_new();
	if (api_fields_or_answer(r, organizations_projectable, projection) != 0) {
		bson_destroy(projection);
		return NULL;
	}
	filter = bson_new();
	/* the scope is part of the query: a member lists its own organization only */
	if (api_principal_org(who, &org) == 0)
		BSON_APPEND_OID(filter, "_id", &org);
	if (has_status)
		BSON_APPEND_UTF8(filter, "status", status);
	if (has_tier)
		BSON_APPEND_UTF8(filter, "subscriptionTier", tier);
	if (has_after || has_before) {
		BSON_APPEND_DOCUMENT_BEGIN(filter, "createdAt", &range);
		if (has_after)
			BSON_APPEND_DATE_TIME(&range, "$gt", after);
		if (has_before)
			BSON_APPEND_DATE_TIME(&range, "$lt", before);
		bson_append_document_end(filter, &range);
	}
	call = api_call_new(r, who);
	call->filter = filter;
	call->projection = projection;
	call->page = page;
	return call;
}

void
organizations_list(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = organizations_list_call_or_answer(r, &who, organizations_list_params)) == NULL)
		return;
	api_defer_read(r, organizations_list_work, call, SHM_RES_LIST,
		       r->worker->conf->cache_ttl_list, organizations_list_deps);
}

/* --- export (issue 9) --- */

static const char *const organizations_export_params[] = {
    "status", "subscriptionTier", "createdAfter", "createdBefore", EXPORT_PARAMS, NULL};

static const char *const organizations_export_columns[] = {"id",
							   "name",
							   "status",
							   "subscriptionTier",
							   "subscriptionEndDate",
							   "contactEmail",
							   "phone",
							   "address.street",
							   "address.city",
							   "address.state",
							   "address.postalCode",
							   "address.country",
							   "settings",
							   "createdAt",
							   "updatedAt",
							   "version",
							   NULL};

static const struct export_resource organizations_export_resource = {
    "organizations", ORG_COLLECTION, organizations_export_columns, NULL};

void
organizations_export(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	enum export_format fmt;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = organizations_list_call_or_answer(r, &who, organizations_export_params)) ==
		NULL)
		return;
	if (export_format_or_answer(r, &fmt) != 0) {
		api_call_free(call);
		return;
	}
	export_start(r, &organizations_export_resource, call, fmt);
}

/* --- update --- */

static void
organizations_patch_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_t filter = BSON_INITIALIZER;

	BSON_APPEND_OID(&filter, "_id", &call->id);
	store_patch_record(b, call, ORG_COLLECTION, &filter, SHM_RES_ORGANIZATION, "organization",
			   res);
	bson_destroy(&filter);
}

/*
 * The fields an organization's own administrator may not change (status, subscription): the
 * name of the first one a PATCH sets or clears, or NULL. An org_admin that could write them
 * could lift its own suspension or upgrade its own plan.
 */
static const char *
organizations_platform_fields(const struct api_call *call)
{
	static const char *const platform[] = {"status", "subscriptionTier", "subscriptionEndDate",
					       NULL};
	const char *const *f;

	for (f = platform; *f != NULL; f++)
		if ((call->body != NULL && bson_has_field(call->body, *f)) ||
		    (call->unset != NULL && bson_has_field(call->unset, *f)))
			return *f;
	return NULL;
}

void
organizations_patch(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 || api_path_oid_or_answer(r, "id", &id) != 0 ||
	    api_org_access_or_answer(r, &who, &id, 1) != 0 ||
	    (call = api_patch_call_or_answer(r, &who, &id, organizations_fields)) == NULL)
		return;
	if (who.role != AUTH_ROLE_PLATFORM_ADMIN && organizations_platform_fields(call) != NULL) {
		char detail[160];

		snprintf(detail, sizeof(detail),
			 "only a platform administrator may change %s: it decides the "
			 "organization's standing and billing",
			 organizations_platform_fields(call));
		api_call_free(call);
		http_respond_problem(r, 403, detail);
		return;
	}
	api_defer(r, organizations_patch_work, call);
}

/* --- delete --- */

static void
organizations_delete_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *orgs = store_collection(b, ORG_COLLECTION);
	mongoc_collection_t *clinics = store_collection(b, "clinics");
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_error_t error;
	int64_t n;

	if (orgs == NULL || clinics == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	BSON_APPEND_OID(&filter, "organizationId", &call->id);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	n = mongoc_collection_count_documents(clinics, &filter, &opts, NULL, NULL, &error);
	if (n < 0) {
		store_fail(res, &error, "delete organization: count clinics");
		goto out;
	}
	if (n > 0) {
		http_response_problem(res, 409,
				      "the organization still has clinics; delete them first");
		goto out;
	}
	bson_reinit(&filter);
	BSON_APPEND_OID(&filter, "_id", &call->id);
	if (store_if_match(b, call, ORG_COLLECTION, &filter, res) != 0)
		goto out;
	if (!mongoc_collection_delete_one(orgs, &filter, NULL, &reply, &error)) {
		store_fail(res, &error, "delete organization");
	} else {
		bson_iter_t it;

		if (bson_iter_init_find(&it, &reply, "deletedCount") &&
		    bson_iter_as_int64(&it) == 1) {
			store_no_content(res);
			store_changed_record(call, SHM_RES_ORGANIZATION, "organization");
		} else if (call->if_match[0] != '\0')
			http_response_problem(res, 412,
					      "the record changed since the If-Match ETag");
		else
			http_response_problem(res, 404, "no such record");
	}
	bson_destroy(&reply);
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	if (orgs != NULL)
		mongoc_collection_destroy(orgs);
	if (clinics != NULL)
		mongoc_collection_destroy(clinics);
}

void
organizations_delete(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 || api_path_oid_or_answer(r, "id", &id) != 0 ||
	    api_org_access_or_answer(r, &who, &id, 1) != 0)
		return;
	call = api_call_new(r, &who);
	call->id = id;
	api_defer(r, organizations_delete_work, call);
}

/* --- search --- */

/* names only: an organization has no code, and its city says little about it */
static const char *const organizations_search_fields[] = {"name", NULL};

static void
organizations_search_work(struct backend *b, void *arg, struct http_response *res)
{
	store_search(b, arg, ORG_COLLECTION, organizations_search_fields, res,
		     "search organizations");
}

void
organizations_search(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t org;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = api_search_call_or_answer(r, &who, organizations_projectable)) == NULL)
		return;
	if (api_principal_org(&who, &org) == 0)
		BSON_APPEND_OID(call->filter, "_id", &org);
	api_defer_read(r, organizations_search_work, call, SHM_RES_LIST,
		       r->worker->conf->cache_ttl_list, organizations_list_deps);
}

/* --- stats --- */

/* Runs a pipeline whose documents carry a count in `field`; returns their sum, or -1. */
static int64_t
organizations_aggregate_sum(mongoc_collection_t *coll, const bson_t *pipeline,
			    const struct api_call *call, const char *field, struct json *by,
			    bson_error_t *error)
{
	bson_t opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int64_t total = 0;

	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, &opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it, key;
		int64_t n = 0;

		if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_NUMBER(&it))
			n = bson_iter_as_int64(&it);
		total += n;
		if (by != NULL && bson_iter_init_find(&key, doc, "_id") &&
		    BSON_ITER_HOLDS_UTF8(&key))
			json_kv_int(by, bson_iter_utf8(&key, NULL), n);
	}
	if (mongoc_cursor_error(cursor, error))
		total = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	return total;
}

static void
organizations_stats_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *orgs = store_collection(b, ORG_COLLECTION);
	mongoc_collection_t *clinics = store_collection(b, "clinics");
	mongoc_collection_t *assignments = store_collection(b, "assignments");
	bson_t *pipeline = NULL, filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t error;
	struct buf body;
	struct json j;
	int64_t exists, clinic_total, providers, active;
	char id[25];

	buf_init(&body);
	if (orgs == NULL || clinics == NULL || assignments == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	BSON_APPEND_OID(&filter, "_id", &call->id);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	exists = mongoc_collection_count_documents(orgs, &filter, &opts, NULL, NULL, &error);
	if (exists < 0) {
		store_fail(res, &error, "organization stats");
		goto out;
	}
	if (exists == 0) {
		http_response_problem(res, 404, "no such record");
		goto out;
	}
	bson_oid_to_string(&call->id, id);
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_string(&j, "organizationId", id);
	json_key(&j, "clinics");
	json_object_begin(&j);
	json_key(&j, "byStatus");
	json_object_begin(&j);
	pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "organizationId",
			    BCON_OID(&call->id), "}", "}", "{", "$group", "{", "_id", "$status",
			    "count", "{", "$sum", BCON_INT32(1), "}", "}", "}", "]");
	clinic_total = organizations_aggregate_sum(clinics, pipeline, call, "count", &j, &error);
	bson_destroy(pipeline);
	if (clinic_total < 0) {
		store_fail(res, &error, "organization stats: clinics");
		goto out;
	}
	json_object_end(&j);
	json_kv_int(&j, "total", clinic_total);
	json_object_end(&j);

	pipeline =
	    BCON_NEW("pipeline", "[", "{", "$match", "{", "organizationId", BCON_OID(&call->id),
		     "isActive", BCON_BOOL(true), "}", "}", "{", "$group", "{", "_id",
		     "$providerId", "}", "}", "{", "$count", "n", "}", "]");
	providers = organizations_aggregate_sum(assignments, pipeline, call, "n", NULL, &error);
	bson_destroy(pipeline);
	if (providers < 0) {
		store_fail(res, &error, "organization stats: providers");
		goto out;
	}
	bson_reinit(&filter);
	BSON_APPEND_OID(&filter, "organizationId", &call->id);
	BSON_APPEND_BOOL(&filter, "isActive", true);
	active = mongoc_collection_count_documents(assignments, &filter, &opts, NULL, NULL, &error);
	if (active < 0) {
		store_fail(res, &error, "organization stats: assignments");
		goto out;
	}
	json_kv_int(&j, "activeProviders", providers);
	json_kv_int(&j, "activeAssignments", active);
	json_object_end(&j);
	http_response_json(res, 200, &body);
out:
	buf_free(&body);
	bson_destroy(&filter);
	bson_destroy(&opts);
	if (orgs != NULL)
		mongoc_collection_destroy(orgs);
	if (clinics != NULL)
		mongoc_collection_destroy(clinics);
	if (assignments != NULL)
		mongoc_collection_destroy(assignments);
}

void
organizations_stats(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_query_names_or_answer(r, (const char *const[]){NULL}) != 0 ||
	    api_path_oid_or_answer(r, "id", &id) != 0 ||
	    api_org_access_or_answer(r, &who, &id, 0) != 0)
		return;
	call = api_call_new(r, &who);
	call->id = id;
	{
		char dep[64], idhex[25];
		/* stats count clinics and assignments: any write of either makes them stale */
		const char *deps[] = {dep, "list:clinic", "list:assignment", NULL};

		bson_oid_to_string(&id, idhex);
		snprintf(dep, sizeof(dep), "organization:%s", idhex);
		api_defer_read(r, organizations_stats_work, call, SHM_RES_STATS,
			       r->worker->conf->cache_ttl_stats, deps);
	}
}
