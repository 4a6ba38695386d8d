/*
 * assignments_related.c: the two lists that join assignments and clinics, without N+1.
 *
 * GET /providers/{providerId}/clinics: a provider's active assignments, newest first, each
 * with its clinic embedded as "clinic" (null when the clinic is gone). GET
 * /clinics/{clinicId}/providers: the clinic's active assignments, inside the caller's scope.
 * Both take `limit` and `fields` but no page or cursor, answer
 * {"data":[...],"pagination":{"limit","hasMore"}}, and cost exactly two find commands for up to
 * QUERY_MAX_BATCH_SIZE rows (no count, no getMore). A provider sees only its own assignments
 * and only the clinics where it has an active one (404 otherwise, as for another
 * organization's). Scope and clinic loading are assignments.c's (assignments_int.h).
 */
#include "assignments.h"
#include "assignments_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json.h"
#include "store.h"
#include "worker.h"

/* the two embedded lists take a limit but no page or cursor: they are short by nature */
static const char *const assignments_related_params[] = {"limit", "fields", NULL};

/*
 * Loads the rows of an embedded list into rows ({"0": doc, "1": doc, ...}): call->filter,
 * newest assignment first, at most call->limit rows, with call->projection plus `extra` (a
 * field the join needs, NULL for none). One find command: limit + 1 rows (to learn hasMore)
 * in a single batch, so neither getMore nor killCursors follows. 0, or -1 with error.
 */
static int
assignments_related_load_rows(mongoc_collection_t *coll, const struct api_call *call,
			      const char *extra, bson_t *rows, int *has_more, bson_error_t *error)
{
	bson_t *opts = bson_new(), sort;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int n = 0, rc = 0;
	char key[16];

	*has_more = 0;
	BSON_APPEND_INT64(opts, "maxTimeMS", api_budget_ms(call));
	BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "assignedAt", -1);
	BSON_APPEND_INT32(&sort, "_id", -1);
	bson_append_document_end(opts, &sort);
	BSON_APPEND_INT64(opts, "limit", (int64_t)call->limit + 1);
	BSON_APPEND_INT64(opts, "batchSize", (int64_t)call->limit + 1);
	BSON_APPEND_BOOL(opts, "singleBatch", true);
	if (call->projection != NULL && !bson_empty(call->projection)) {
		bson_t proj;

		BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &proj);
		bson_concat(&proj, call->projection);
		if (extra != NULL && !bson_has_field(call->projection, extra))
			BSON_APPEND_INT32(&proj, extra, 1);
		bson_append_document_end(opts, &proj);
	}
	cursor = mongoc_collection_find_with_opts(coll, call->filter, opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		if (n == call->limit) {
			*has_more = 1;
			break;
		}
		snprintf(key, sizeof(key), "%d", n++);
		BSON_APPEND_DOCUMENT(rows, key, doc);
	}
	if (mongoc_cursor_error(cursor, error))
		rc = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	return rc;
}

/* Closes an embedded list: {"data": [...], "pagination": {"limit", "hasMore"}}. */
static void
assignments_related_rows_end(struct json *j, const struct api_call *call, int has_more)
{
	json_array_end(j);
	json_key(j, "pagination");
	json_object_begin(j);
	json_kv_int(j, "limit", call->limit);
	json_kv_bool(j, "hasMore", has_more);
	json_object_end(j);
	json_object_end(j);
}

/* One assignment with its clinic as "clinic" (null when the clinic is gone); skip names a
 * field fetched only for the join (NULL for none). */
static void
assignments_related_json_with_clinic(struct json *j, const bson_t *row, const bson_t *clinic,
				     const char *skip)
{
	bson_iter_t it;

	json_object_begin(j);
	if (bson_iter_init_find(&it, row, "_id")) {
		json_key(j, "id");
		json_bson_value(j, &it);
	}
	if (bson_iter_init(&it, row)) {
		while (bson_iter_next(&it)) {
			const char *key = bson_iter_key(&it);

			if (strcmp(key, "_id") == 0 || (skip != NULL && strcmp(key, skip) == 0))
				continue;
			json_key(j, key);
			json_bson_value(j, &it);
		}
	}
	json_key(j, "clinic");
	if (clinic != NULL)
		json_bson_document(j, clinic);
	else
		json_null(j);
	json_object_end(j);
}

static void
assignments_related_provider_clinics_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = store_collection(b, ASSIGN_COLLECTION);
	bson_t rows = BSON_INITIALIZER, loaded = BSON_INITIALIZER;
	bson_oid_t *ids = NULL;
	bson_error_t error;
	bson_iter_t it, field;
	struct buf body;
	struct json j;
	size_t n = 0;
	int has_more;
	const char *skip = NULL;

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		goto out;
	}
	/* command 1: the provider's active assignments */
	if (assignments_related_load_rows(coll, call, "clinicId", &rows, &has_more, &error) != 0) {
		store_fail(res, &error, "provider clinics");
		goto out;
	}
	if ((ids = calloc(bson_count_keys(&rows) + 1, sizeof(*ids))) == NULL)
		abort();
	if (bson_iter_init(&it, &rows)) {
		while (bson_iter_next(&it)) {
			if (bson_iter_recurse(&it, &field) && bson_iter_find(&field, "clinicId") &&
			    BSON_ITER_HOLDS_OID(&field))
				bson_oid_copy(bson_iter_oid(&field), &ids[n++]);
		}
	}
	/* command 2 (one per QUERY_MAX_BATCH_SIZE clinics): their clinics, by {_id: {$in}}; with
	 * the cache on, one Redis MGET first and the database for the misses only */
	if (store_load_by_ids_cached(b, call, CLINIC_COLLECTION, "clinic", SHM_RES_CLINIC,
				     b->worker->conf->cache_ttl_clinic, ids, n, &loaded,
				     &error) != 0) {
		store_fail(res, &error, "provider clinics: load clinics");
		goto out;
	}
	if (call->projection != NULL && !bson_empty(call->projection) &&
	    !bson_has_field(call->projection, "clinicId"))
		skip = "clinicId";
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_key(&j, "data");
	json_array_begin(&j);
	if (bson_iter_init(&it, &rows)) {
		while (bson_iter_next(&it)) {
			const uint8_t *data;
			uint32_t len;
			bson_t row, clinic;
			int found = 0;

			bson_iter_document(&it, &len, &data);
			if (!bson_init_static(&row, data, len))
				continue;
			if (bson_iter_init_find(&field, &row, "clinicId") &&
			    BSON_ITER_HOLDS_OID(&field))
				found =
				    store_loaded_find(&loaded, bson_iter_oid(&field), &clinic) == 0;
			assignments_related_json_with_clinic(&j, &row, found ? &clinic : NULL,
							     skip);
		}
	}
	assignments_related_rows_end(&j, call, has_more);
	http_response_json(res, 200, &body);
out:
	free(ids);
	bson_destroy(&rows);
	bson_destroy(&loaded);
	if (coll != NULL)
		mongoc_collection_destroy(coll);
}

void
assignments_related_provider_clinics(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	struct page_params page;
	const char *provider = http_param(r, "providerId");
	bson_t *projection;
	bson_oid_t org;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_query_names_or_answer(r, assignments_related_params) != 0)
		return;
	if (provider == NULL || validate_ident(provider, ASSIGN_PROVIDER_MAX) != 0) {
		struct validate_errors errs = {0};

		validate_error_add(&errs, "providerId",
				   "must be 1 to %d letters, digits, '_' or '-'",
				   ASSIGN_PROVIDER_MAX);
		api_answer_errors(r, 400, "the provider id is not valid", &errs);
		return;
	}
	/* another provider's assignments are not revealed */
	if (who.role == AUTH_ROLE_PROVIDER && strcmp(provider, who.sub) != 0) {
		http_respond_problem(r, 404, "no such record");
		return;
	}
	if (api_page_or_answer(r, &page) != 0)
		return;
	projection = bson_new();
	if (api_fields_or_answer(r, assignments_projectable, projection) != 0) {
		bson_destroy(projection);
		return;
	}
	call = api_call_new(r, &who);
	snprintf(call->param, sizeof(call->param), "%s", provider);
	call->filter = bson_new();
	BSON_APPEND_UTF8(call->filter, "providerId", provider);
	BSON_APPEND_BOOL(call->filter, "isActive", true);
	if (api_principal_org(&who, &org) == 0)
		BSON_APPEND_OID(call->filter, "organizationId", &org);
	call->projection = projection;
	call->limit = page.limit;
	{
		char dep[READCACHE_DEP_MAX];
		/* the provider's rows, and the clinics embedded in them */
		const char *deps[] = {dep, "list:clinic", NULL};

		snprintf(dep, sizeof(dep), "provider:%s", provider);
		api_defer_read(r, assignments_related_provider_clinics_work, call,
			       SHM_RES_ASSIGNMENT, r->worker->conf->cache_ttl_assignment, deps);
	}
}

static void
assignments_related_clinic_providers_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = NULL, *clinics = NULL;
	bson_t rows = BSON_INITIALIZER, *clinic = NULL;
	bson_error_t error;
	bson_iter_t it;
	struct buf body;
	struct json j;
	int has_more;

	if (assignments_collections(b, &coll, &clinics, res) != 0)
		goto out;
	/* command 1: the clinic, as the caller may see it */
	if (assignments_load_clinic(clinics, call, &call->id, &clinic, &error) != 0) {
		store_fail(res, &error, "clinic providers: load clinic");
		goto out;
	}
	if (clinic == NULL) {
		http_response_problem(res, 404, "no such record");
		goto out;
	}
	/* command 2: its active assignments, inside the caller's scope */
	if (assignments_related_load_rows(coll, call, NULL, &rows, &has_more, &error) != 0) {
		store_fail(res, &error, "clinic providers");
		goto out;
	}
	/* a provider sees only the clinics it works at */
	if (call->who.role == AUTH_ROLE_PROVIDER && bson_empty(&rows)) {
		http_response_problem(res, 404, "no such record");
		goto out;
	}
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_key(&j, "data");
	json_array_begin(&j);
	if (bson_iter_init(&it, &rows)) {
		while (bson_iter_next(&it)) {
			const uint8_t *data;
			uint32_t len;
			bson_t row;

			bson_iter_document(&it, &len, &data);
			if (bson_init_static(&row, data, len))
				json_bson_document(&j, &row);
		}
	}
	assignments_related_rows_end(&j, call, has_more);
	http_response_json(res, 200, &body);
out:
	bson_destroy(&rows);
	if (clinic != NULL)
		bson_destroy(clinic);
	assignments_collections_free(coll, clinics);
}

void
assignments_related_clinic_providers(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	struct page_params page;
	bson_oid_t id;
	bson_t *projection;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_query_names_or_answer(r, assignments_related_params) != 0 ||
	    api_path_oid_or_answer(r, "clinicId", &id) != 0 || api_page_or_answer(r, &page) != 0)
		return;
	projection = bson_new();
	if (api_fields_or_answer(r, assignments_projectable, projection) != 0) {
		bson_destroy(projection);
		return;
	}
	call = api_call_new(r, &who);
	call->id = id;
	call->filter = bson_new();
	BSON_APPEND_OID(call->filter, "clinicId", &id);
	BSON_APPEND_BOOL(call->filter, "isActive", true);
	assignments_scope(&who, call->filter);
	call->projection = projection;
	call->limit = page.limit;
	{
		char dep[READCACHE_DEP_MAX], clinic[READCACHE_DEP_MAX], idhex[25];
		/* the clinic's rows, and the clinic itself (its visibility) */
		const char *deps[] = {dep, clinic, NULL};

		bson_oid_to_string(&id, idhex);
		snprintf(dep, sizeof(dep), "clinicproviders:%s", idhex);
		snprintf(clinic, sizeof(clinic), "clinic:%s", idhex);
		api_defer_read(r, assignments_related_clinic_providers_work, call,
			       SHM_RES_ASSIGNMENT, r->worker->conf->cache_ttl_assignment, deps);
	}
}
