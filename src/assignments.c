/*
 * assignments.c: a provider working at a clinic.
 *
 * An assignment belongs to the organization of its clinic: organizationId is copied from the
 * clinic when the assignment is made and never comes from the client. The pair (providerId,
 * clinicId) is unique (an index), so an assignment is never deleted: DELETE deactivates it,
 * and a later POST of the same pair re-activates that same document (200, not 201).
 *
 * Who may do what. Reads are scoped inside the query: platform_admin sees everything, the
 * organization roles their organization, a provider only its own assignments. Writes need
 * platform_admin, the org_admin of the clinic's organization, or the clinic_manager whose sub
 * is the clinic's managerUserId; a provider writes nothing. Whether a clinic_manager manages
 * a clinic is known only from the stored clinic, so writes load it on the backend thread,
 * inside the caller's organization, and answer 404/422 (not visible) or 403 (visible, not
 * allowed) from there.
 *
 * At most one active primary clinic per provider: making one primary first clears the flag on
 * the provider's other active assignments. Without transactions (FerretDB has none) two
 * concurrent "make primary" writes of one provider can still race; clearing first means a
 * failed write leaves no primary rather than two, and a retry repairs it. Only assignments
 * whose flag really changes are written (and get version + 1).
 *
 * Choices the issue leaves open:
 * - a provider gets 403 on POST before anything is loaded: the answer is the same for every
 *   clinic, so it reveals nothing; on PATCH/DELETE it gets 404 for what it cannot see.
 * - DELETE is idempotent: an inactive assignment is answered 200, unchanged (no version + 1).
 * - PATCH of an inactive assignment is a 409: re-activation goes through POST, which resets
 *   assignedAt and unassignedAt. A null isPrimaryClinic in a PATCH means false.
 * - The two embedded lists (provider clinics, clinic providers) take `limit` and `fields` but
 *   no page or cursor; they answer {"data":[...],"pagination":{"limit","hasMore"}}, newest
 *   assignment first. Each costs exactly two find commands for up to QUERY_MAX_BATCH_SIZE rows
 *   (nothing else: no count, no getMore). A provider asking for a clinic where it has no
 *   active assignment gets 404, as for another organization's clinic. They live in
 *   assignments_related.c.
 */
#include "assignments.h"
#include "assignments_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "export.h"
#include "clock.h"
#include "store.h"
#include "worker.h"
#include "json.h"
#include "log.h"

const char *const assignments_roles[] = {"DENTIST", "HYGIENIST",  "ASSISTANT",
					 "MANAGER", "FRONT_DESK", NULL};

const struct validate_field assignments_fields[] = {
    {"providerId", VALIDATE_IDENT, VALIDATE_REQUIRED | VALIDATE_IMMUTABLE, 1, ASSIGN_PROVIDER_MAX,
     NULL, NULL},
    {"clinicId", VALIDATE_OBJECTID, VALIDATE_REQUIRED | VALIDATE_IMMUTABLE, 0, 0, NULL, NULL},
    {"roles", VALIDATE_ENUM_ARRAY, VALIDATE_REQUIRED, 1, 5, assignments_roles, NULL},
    {"isPrimaryClinic", VALIDATE_BOOL, 0, 0, 0, NULL, NULL},
    {"organizationId", VALIDATE_OBJECTID, VALIDATE_SERVER, 0, 0, NULL, NULL},
    {"isActive", VALIDATE_BOOL, VALIDATE_SERVER, 0, 0, NULL, NULL},
    {"assignedAt", VALIDATE_DATE, VALIDATE_SERVER, 0, 0, NULL, NULL},
    {"unassignedAt", VALIDATE_DATE, VALIDATE_SERVER, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* What ?fields= may name. */
const char *const assignments_projectable[] = {
    "providerId", "clinicId",	  "organizationId", "roles",	 "isPrimaryClinic", "isActive",
    "assignedAt", "unassignedAt", "createdAt",	    "updatedAt", "version",	    NULL};

const char *const assignments_list_params[] = {
    "providerId", "clinicId", "organizationId", "isActive", "limit",
    "page",	  "cursor",   "count",		"fields",   NULL};

/* --- scope and loading (backend thread unless said otherwise) --- */

/* Appends the caller's read scope to filter: nothing for platform_admin, the organization
 * for the others, and for a provider also its own providerId. */
void
assignments_scope(const struct auth_principal *who, bson_t *filter)
{
	bson_oid_t org;

	if (api_principal_org(who, &org) != 0)
		return;
	BSON_APPEND_OID(filter, "organizationId", &org);
	if (who->role == AUTH_ROLE_PROVIDER)
		BSON_APPEND_UTF8(filter, "providerId", who->sub);
}

/* The first document of filter, copied into *out (NULL when none). 0, or -1 with error. */
static int
assignments_find_one(mongoc_collection_t *coll, const bson_t *filter, const bson_t *projection,
		     int64_t max_time_ms, bson_t **out, bson_error_t *error)
{
	bson_t opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int rc = 0;

	*out = NULL;
	BSON_APPEND_INT64(&opts, "maxTimeMS", max_time_ms);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_BOOL(&opts, "singleBatch", true);
	if (projection != NULL)
		BSON_APPEND_DOCUMENT(&opts, "projection", projection);
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		*out = bson_copy(doc);
	else if (mongoc_cursor_error(cursor, error))
		rc = -1;
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	return rc;
}

/*
 * findAndModify returning the new document in *out (NULL when nothing matched). Not
 * store_update_one: the writes here need the document back to decide what follows, and must
 * tell "no such record" from "changed meanwhile". 0, or -1 with error.
 */
static int
assignments_modify(mongoc_collection_t *coll, const bson_t *filter, const bson_t *update,
		   int64_t max_time_ms, bson_t **out, bson_error_t *error)
{
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_t reply;
	bson_iter_t it;
	int rc = 0;

	*out = NULL;
	mongoc_find_and_modify_opts_set_update(fam, update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	mongoc_find_and_modify_opts_set_max_time_ms(fam, (uint32_t)max_time_ms);
	if (!mongoc_collection_find_and_modify_with_opts(coll, filter, fam, &reply, error)) {
		rc = -1;
	} else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		*out = bson_new_from_data(data, len);
	}
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(fam);
	return rc;
}

/* Starts an update document: {$set: {<set>, updatedAt}, $inc: {version: 1}} plus $unset of
 * the names in unset (NULL for none). */
static void
assignments_update_doc(bson_t *update, const bson_t *set, const char *const *unset, int64_t now)
{
	bson_t child;

	BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &child);
	if (set != NULL)
		bson_concat(&child, set);
	BSON_APPEND_DATE_TIME(&child, "updatedAt", now);
	bson_append_document_end(update, &child);
	if (unset != NULL && unset[0] != NULL) {
		BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &child);
		for (; *unset != NULL; unset++)
			BSON_APPEND_UTF8(&child, *unset, "");
		bson_append_document_end(update, &child);
	}
	BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &child);
	BSON_APPEND_INT64(&child, "version", 1);
	bson_append_document_end(update, &child);
}

/* The clinic of id as the caller may see it (inside its organization unless platform_admin),
 * with only the fields the rules need. */
int
assignments_load_clinic(mongoc_collection_t *clinics, const struct api_call *call,
			const bson_oid_t *id, bson_t **out, bson_error_t *error)
{
	bson_t filter = BSON_INITIALIZER, projection = BSON_INITIALIZER;
	bson_oid_t org;
	int rc;

	BSON_APPEND_OID(&filter, "_id", id);
	if (api_principal_org(&call->who, &org) == 0)
		BSON_APPEND_OID(&filter, "organizationId", &org);
	BSON_APPEND_INT32(&projection, "organizationId", 1);
	BSON_APPEND_INT32(&projection, "managerUserId", 1);
	rc = assignments_find_one(clinics, &filter, &projection, api_budget_ms(call), out, error);
	bson_destroy(&filter);
	bson_destroy(&projection);
	return rc;
}

/* May the caller change the assignments of this clinic, which it can see? */
static int
assignments_may_write(const struct auth_principal *who, const bson_t *clinic)
{
	bson_iter_t it;

	switch (who->role) {
	case AUTH_ROLE_PLATFORM_ADMIN:
	case AUTH_ROLE_ORG_ADMIN: /* the clinic was loaded inside its organization */
		return 1;
	case AUTH_ROLE_CLINIC_MANAGER:
		return bson_iter_init_find(&it, clinic, "managerUserId") &&
		       BSON_ITER_HOLDS_UTF8(&it) &&
		       strcmp(bson_iter_utf8(&it, NULL), who->sub) == 0;
	case AUTH_ROLE_PROVIDER:
		break;
	}
	return 0;
}

static int
assignments_get_bool(const bson_t *doc, const char *name)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_BOOL(&it) &&
	       bson_iter_bool(&it);
}

/*
 * Clears isPrimaryClinic on the provider's other active assignments (all but except), so the
 * one being made primary is the only one. 0, or -1 with error.
 */
static int
assignments_clear_primary(mongoc_collection_t *coll, struct api_call *call, const char *provider,
			  const bson_oid_t *except, bson_error_t *error)
{
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set = BSON_INITIALIZER;
	bson_t ne, opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int ok;

	BSON_APPEND_UTF8(&filter, "providerId", provider);
	BSON_APPEND_BOOL(&filter, "isActive", true);
	BSON_APPEND_BOOL(&filter, "isPrimaryClinic", true);
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &ne);
	BSON_APPEND_OID(&ne, "$ne", except);
	bson_append_document_end(&filter, &ne);
	BSON_APPEND_BOOL(&set, "isPrimaryClinic", false);
	/* the clinics whose provider lists show the flag going away (normally one) */
	BSON_APPEND_INT64(&opts, "limit", 4);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;
		char id[25];

		if (bson_iter_init_find(&it, doc, "clinicId") && BSON_ITER_HOLDS_OID(&it) &&
		    call->nchanged < API_MAX_CHANGED - 3) {
			bson_oid_to_string(bson_iter_oid(&it), id);
			store_changed(call, SHM_RES_ASSIGNMENT, "clinicproviders:%s", id);
		}
	}
	ok = !mongoc_cursor_error(cursor, error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	if (!ok) {
		bson_destroy(&filter);
		bson_destroy(&set);
		return -1;
	}
	assignments_update_doc(&update, &set, NULL, clock_wall_ms());
	/* no maxTimeMS: the driver puts it into the update statement, which FerretDB refuses
	 * ("unknown field"); the request deadline still bounds the wait */
	ok = mongoc_collection_update_many(coll, &filter, &update, NULL, NULL, error);
	bson_destroy(&filter);
	bson_destroy(&update);
	bson_destroy(&set);
	return ok ? 0 : -1;
}

/*
 * Loads the assignment call->id for a write and checks that the caller may make it: 404 when
 * the caller cannot see it, 403 when its role may not change it (a provider; a clinic_manager
 * that does not manage its clinic). 0 with *out (the caller frees it), or -1 with res filled.
 */
static int
assignments_load_for_write(mongoc_collection_t *coll, mongoc_collection_t *clinics,
			   struct api_call *call, bson_t **out, struct http_response *res)
{
	bson_t filter = BSON_INITIALIZER, *doc = NULL, *clinic = NULL;
	bson_error_t error;
	bson_iter_t it;
	int rc = -1;

	BSON_APPEND_OID(&filter, "_id", &call->id);
	assignments_scope(&call->who, &filter);
	if (assignments_find_one(coll, &filter, NULL, api_budget_ms(call), &doc, &error) != 0) {
		store_fail(res, &error, "load assignment");
		goto out;
	}
	if (doc == NULL) {
		http_response_problem(res, 404, "no such record");
		goto out;
	}
	if (call->who.role == AUTH_ROLE_CLINIC_MANAGER) {
		if (!bson_iter_init_find(&it, doc, "clinicId") || !BSON_ITER_HOLDS_OID(&it)) {
			http_response_problem(res, 403, "your role may not change this record");
			goto out;
		}
		if (assignments_load_clinic(clinics, call, bson_iter_oid(&it), &clinic, &error) !=
		    0) {
			store_fail(res, &error, "load the assignment's clinic");
			goto out;
		}
	}
	if (call->who.role == AUTH_ROLE_PROVIDER ||
	    (call->who.role == AUTH_ROLE_CLINIC_MANAGER &&
	     (clinic == NULL || !assignments_may_write(&call->who, clinic)))) {
		http_response_problem(res, 403, "your role may not change this record");
		goto out;
	}
	*out = doc;
	doc = NULL;
	rc = 0;
out:
	if (doc != NULL)
		bson_destroy(doc);
	if (clinic != NULL)
		bson_destroy(clinic);
	bson_destroy(&filter);
	return rc;
}

/* Both collections of a write, or 503. */
int
assignments_collections(struct backend *b, mongoc_collection_t **coll,
			mongoc_collection_t **clinics, struct http_response *res)
{
	*coll = store_collection(b, ASSIGN_COLLECTION);
	*clinics = store_collection(b, CLINIC_COLLECTION);
	if (*coll != NULL && *clinics != NULL)
		return 0;
	http_response_problem(res, 503, "the database is unavailable");
	return -1;
}

void
assignments_collections_free(mongoc_collection_t *coll, mongoc_collection_t *clinics)
{
	if (coll != NULL)
		mongoc_collection_destroy(coll);
	if (clinics != NULL)
		mongoc_collection_destroy(clinics);
}

/*
 * What a write of one assignment makes stale in the read cache: every assignment list, its
 * provider's clinics and its clinic's providers (stats depend on list:assignment too).
 */
static void
assignments_changed(struct api_call *call, const bson_t *doc)
{
	bson_iter_t it;
	char id[25];

	store_changed(call, SHM_RES_ASSIGNMENT, "list:assignment");
	if (bson_iter_init_find(&it, doc, "providerId") && BSON_ITER_HOLDS_UTF8(&it))
		store_changed(call, SHM_RES_ASSIGNMENT, "provider:%s", bson_iter_utf8(&it, NULL));
	if (bson_iter_init_find(&it, doc, "clinicId") && BSON_ITER_HOLDS_OID(&it)) {
		bson_oid_to_string(bson_iter_oid(&it), id);
		store_changed(call, SHM_RES_ASSIGNMENT, "clinicproviders:%s", id);
	}
}

static const char *const assignments_list_deps[] = {"list:assignment", NULL};

/* --- create --- */

static void
assignments_reactivate(mongoc_collection_t *coll, struct api_call *call, const bson_t *old,
		       const bson_oid_t *org, struct http_response *res)
{
	static const char *const unset[] = {"unassignedAt", NULL};
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set = BSON_INITIALIZER;
	bson_t *doc = NULL;
	bson_error_t error;
	bson_iter_t it;
	int64_t now = clock_wall_ms();

	bson_iter_init_find(&it, old, "_id");
	BSON_APPEND_OID(&filter, "_id", bson_iter_oid(&it));
	/* only if still inactive: a concurrent POST may have re-activated it */
	BSON_APPEND_BOOL(&filter, "isActive", false);
	bson_iter_init_find(&it, call->body, "roles");
	BSON_APPEND_VALUE(&set, "roles", bson_iter_value(&it));
	BSON_APPEND_BOOL(&set, "isPrimaryClinic",
			 assignments_get_bool(call->body, "isPrimaryClinic"));
	BSON_APPEND_BOOL(&set, "isActive", true);
	BSON_APPEND_OID(&set, "organizationId", org);
	BSON_APPEND_DATE_TIME(&set, "assignedAt", now);
	assignments_update_doc(&update, &set, unset, now);
	if (assignments_modify(coll, &filter, &update, api_budget_ms(call), &doc, &error) != 0)
		store_fail(res, &error, "re-activate assignment");
	else if (doc == NULL)
		http_response_problem(
		    res, 409, "the provider already has an active assignment at this clinic");
	else {
		store_document(res, 200, doc);
		assignments_changed(call, doc);
	}
	if (doc != NULL)
		bson_destroy(doc);
	bson_destroy(&filter);
	bson_destroy(&update);
	bson_destroy(&set);
}

static void
assignments_insert(mongoc_collection_t *coll, struct api_call *call, const bson_oid_t *org,
		   struct http_response *res)
{
	bson_t doc = BSON_INITIALIZER;
	bson_error_t error;
	bson_iter_t it;
	int64_t now = clock_wall_ms();
	char id[25], location[80];

	BSON_APPEND_OID(&doc, "_id", &call->id);
	bson_iter_init_find(&it, call->body, "providerId");
	BSON_APPEND_VALUE(&doc, "providerId", bson_iter_value(&it));
	bson_iter_init_find(&it, call->body, "clinicId");
	BSON_APPEND_VALUE(&doc, "clinicId", bson_iter_value(&it));
	BSON_APPEND_OID(&doc, "organizationId", org);
	bson_iter_init_find(&it, call->body, "roles");
	BSON_APPEND_VALUE(&doc, "roles", bson_iter_value(&it));
	BSON_APPEND_BOOL(&doc, "isPrimaryClinic",
			 assignments_get_bool(call->body, "isPrimaryClinic"));
	BSON_APPEND_BOOL(&doc, "isActive", true);
	BSON_APPEND_DATE_TIME(&doc, "assignedAt", now);
	BSON_APPEND_DATE_TIME(&doc, "createdAt", now);
	BSON_APPEND_DATE_TIME(&doc, "updatedAt", now);
	BSON_APPEND_INT64(&doc, "version", 1);
	if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &error)) {
		/* a duplicate here is a concurrent POST of the same pair: 409 from store_fail */
		store_fail(res, &error, "create assignment");
	} else {
		bson_oid_to_string(&call->id, id);
		snprintf(location, sizeof(location), API_PREFIX "/assignments/%s", id);
		store_document(res, 201, &doc);
		http_response_header(res, "location", location);
		assignments_changed(call, &doc);
	}
	bson_destroy(&doc);
}

static void
assignments_create_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = NULL, *clinics = NULL;
	bson_t *clinic = NULL, *old = NULL, filter = BSON_INITIALIZER;
	bson_error_t error;
	bson_iter_t it;
	bson_oid_t clinic_id, org;
	const char *provider;

	if (assignments_collections(b, &coll, &clinics, res) != 0)
		goto out;
	bson_iter_init_find(&it, call->body, "clinicId");
	bson_oid_copy(bson_iter_oid(&it), &clinic_id);
	bson_iter_init_find(&it, call->body, "providerId");
	provider = bson_iter_utf8(&it, NULL);

	if (assignments_load_clinic(clinics, call, &clinic_id, &clinic, &error) != 0) {
		store_fail(res, &error, "create assignment: load clinic");
		goto out;
	}
	if (clinic == NULL) {
		struct validate_errors errs = {0};

		/* also for another organization's clinic: its existence is not revealed */
		validate_error_add(&errs, "clinicId", "clinic does not exist");
		http_response_problem_errors(res, 422, "clinic does not exist", &errs);
		goto out;
	}
	if (!assignments_may_write(&call->who, clinic)) {
		http_response_problem(res, 403,
				      "your role may not assign providers to this clinic");
		goto out;
	}
	if (!bson_iter_init_find(&it, clinic, "organizationId") || !BSON_ITER_HOLDS_OID(&it)) {
		log_error("clinic without an organizationId");
		http_response_problem(res, 500, "the clinic has no organization");
		goto out;
	}
	bson_oid_copy(bson_iter_oid(&it), &org);

	BSON_APPEND_UTF8(&filter, "providerId", provider);
	BSON_APPEND_OID(&filter, "clinicId", &clinic_id);
	if (assignments_find_one(coll, &filter, NULL, api_budget_ms(call), &old, &error) != 0) {
		store_fail(res, &error, "create assignment: look for the pair");
		goto out;
	}
	if (old != NULL && assignments_get_bool(old, "isActive")) {
		http_response_problem(
		    res, 409, "the provider already has an active assignment at this clinic");
		goto out;
	}
	if (old != NULL) {
		bson_iter_init_find(&it, old, "_id");
		bson_oid_copy(bson_iter_oid(&it), &call->id);
	}
	if (assignments_get_bool(call->body, "isPrimaryClinic") &&
	    assignments_clear_primary(coll, call, provider, &call->id, &error) != 0) {
		store_fail(res, &error, "create assignment: clear the other primary");
		goto out;
	}
	if (old != NULL)
		assignments_reactivate(coll, call, old, &org, res);
	else
		assignments_insert(coll, call, &org, res);
out:
	if (clinic != NULL)
		bson_destroy(clinic);
	if (old != NULL)
		bson_destroy(old);
	bson_destroy(&filter);
	assignments_collections_free(coll, clinics);
}

void
assignments_create(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_t *set;

	if (api_authenticate_or_answer(r, &who) != 0)
		return;
	/* the same answer whatever the clinic: it reveals nothing */
	if (who.role == AUTH_ROLE_PROVIDER) {
		http_respond_problem(r, 403, "a provider may not assign providers");
		return;
	}
	set = bson_new();
	if (api_body_or_answer(r, assignments_fields, VALIDATE_CREATE, set, NULL) != 0) {
		bson_destroy(set);
		return;
	}
	call = api_call_new(r, &who);
	bson_oid_init(&call->id, NULL); /* used unless an inactive pair is re-activated */
	call->body = set;
	api_defer_create(r, assignments_create_work, call);
}

/* --- read one --- */

static void
assignments_get_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	bson_t filter = BSON_INITIALIZER;

	BSON_APPEND_OID(&filter, "_id", &call->id);
	assignments_scope(&call->who, &filter);
	store_get_one(b, call, ASSIGN_COLLECTION, &filter, res, "get assignment");
	bson_destroy(&filter);
}

void
assignments_get(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = api_get_call_or_answer(r, &who, assignments_projectable)) == NULL)
		return;
	/* an assignment read depends on any assignment write: primary flags move between them */
	api_defer_read(r, assignments_get_work, call, SHM_RES_ASSIGNMENT,
		       r->worker->conf->cache_ttl_assignment, assignments_list_deps);
}

/* --- list --- */

static void
assignments_list_work(struct backend *b, void *arg, struct http_response *res)
{
	store_list(b, arg, ASSIGN_COLLECTION, res);
}

/*
 * scope AND wanted, as one filter. When both name a field (an org_admin asking for another
 * organizationId, a provider for another providerId) they become {$and: [scope, wanted]},
 * which matches what both allow (nothing, when they differ): the scope is never overridden.
 */
static bson_t *
assignments_and(const bson_t *scope, const bson_t *wanted)
{
	bson_t *filter = bson_new(), and;
	bson_iter_t it, probe;
	int shared = 0;

	if (bson_iter_init(&it, wanted))
		while (bson_iter_next(&it))
			shared |= bson_iter_init_find(&probe, scope, bson_iter_key(&it));
	if (!shared) {
		bson_concat(filter, scope);
		bson_concat(filter, wanted);
		return filter;
	}
	BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and);
	BSON_APPEND_DOCUMENT(&and, "0", scope);
	BSON_APPEND_DOCUMENT(&and, "1", wanted);
	bson_append_array_end(filter, &and);
	return filter;
}

/*
 * The filter of a list or an export: the caller's scope AND the query's filters (names limited
 * to params): a new call with filter, projection and page, or NULL when the request was
 * answered. The one builder of both.
 */
static struct api_call *
assignments_list_call_or_answer(struct http_req *r, const struct auth_principal *who,
				const char *const *params)
{
	struct api_call *call;
	struct page_params page;
	char provider[ASSIGN_PROVIDER_MAX + 1];
	int has_provider, has_clinic, has_org, has_active, active;
	bson_oid_t clinic, org;
	bson_t *projection, scope = BSON_INITIALIZER, wanted = BSON_INITIALIZER;

	if (api_query_names_or_answer(r, params) != 0 ||
	    api_query_ident_or_answer(r, "providerId", provider, sizeof(provider), &has_provider) !=
		0 ||
	    api_query_oid_or_answer(r, "clinicId", &clinic, &has_clinic) != 0 ||
	    api_query_oid_or_answer(r, "organizationId", &org, &has_org) != 0 ||
	    api_query_bool_or_answer(r, "isActive", &active, &has_active) != 0 ||
	    api_page_or_answer(r, &page) != 0)
		return NULL;
	projection = bson_new();
	if (api_fields_or_answer(r, assignments_projectable, projection) != 0) {
		bson_destroy(projection);
		return NULL;
	}
	assignments_scope(who, &scope);
	if (has_provider)
		BSON_APPEND_UTF8(&wanted, "providerId", provider);
	if (has_clinic)
		BSON_APPEND_OID(&wanted, "clinicId", &clinic);
	if (has_org)
		BSON_APPEND_OID(&wanted, "organizationId", &org);
	if (has_active)
		BSON_APPEND_BOOL(&wanted, "isActive", active);
	call = api_call_new(r, who);
	call->filter = assignments_and(&scope, &wanted);
	call->projection = projection;
	call->page = page;
	bson_destroy(&scope);
	bson_destroy(&wanted);
	return call;
}

void
assignments_list(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = assignments_list_call_or_answer(r, &who, assignments_list_params)) == NULL)
		return;
	api_defer_read(r, assignments_list_work, call, SHM_RES_LIST,
		       r->worker->conf->cache_ttl_list, assignments_list_deps);
}

/* --- export (issue 9) --- */

static const char *const assignments_export_params[] = {
    "providerId", "clinicId", "organizationId", "isActive", EXPORT_PARAMS, NULL};

static const char *const assignments_export_columns[] = {
    "id",	"providerId", "clinicId",     "organizationId", "roles",     "isPrimaryClinic",
    "isActive", "assignedAt", "unassignedAt", "createdAt",	"updatedAt", "version",
    NULL};

static const struct export_resource assignments_export_resource = {
    "assignments", ASSIGN_COLLECTION, assignments_export_columns, NULL};

/* GET /assignments/export: an organizationId the caller cannot see is 404, as its record is. */
void
assignments_export(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	enum export_format fmt;
	bson_oid_t org;
	int has_org = 0;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    (call = assignments_list_call_or_answer(r, &who, assignments_export_params)) == NULL)
		return;
	if (api_query_oid_or_answer(r, "organizationId", &org, &has_org) != 0 ||
	    (has_org && api_org_access_or_answer(r, &who, &org, 0) != 0) ||
	    export_format_or_answer(r, &fmt) != 0) {
		api_call_free(call);
		return;
	}
	export_start(r, &assignments_export_resource, call, fmt);
}

/* --- update --- */

static void
assignments_patch_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = NULL, *clinics = NULL;
	bson_t *old = NULL, *doc = NULL, filter = BSON_INITIALIZER, update = BSON_INITIALIZER;
	bson_error_t error;
	bson_iter_t it;

	if (assignments_collections(b, &coll, &clinics, res) != 0 ||
	    assignments_load_for_write(coll, clinics, call, &old, res) != 0 ||
	    store_if_match_doc(call, old, &filter, res) != 0)
		goto out;
	/* an inactive assignment is history: POST /assignments re-activates it */
	if (!assignments_get_bool(old, "isActive")) {
		http_response_problem(
		    res, 409, "the assignment is inactive; POST /assignments re-activates it");
		goto out;
	}
	if (assignments_get_bool(call->body, "isPrimaryClinic") &&
	    bson_iter_init_find(&it, old, "providerId") && BSON_ITER_HOLDS_UTF8(&it) &&
	    assignments_clear_primary(coll, call, bson_iter_utf8(&it, NULL), &call->id, &error) !=
		0) {
		store_fail(res, &error, "update assignment: clear the other primary");
		goto out;
	}
	BSON_APPEND_OID(&filter, "_id", &call->id);
	BSON_APPEND_BOOL(&filter, "isActive", true);
	assignments_update_doc(&update, call->body, NULL, clock_wall_ms());
	if (assignments_modify(coll, &filter, &update, api_budget_ms(call), &doc, &error) != 0)
		store_fail(res, &error, "update assignment");
	else if (doc == NULL && call->if_match[0] != '\0')
		http_response_problem(res, 412, "the record changed since the If-Match ETag");
	else if (doc == NULL)
		http_response_problem(res, 409, "the assignment was deactivated meanwhile");
	else {
		store_document(res, 200, doc);
		assignments_changed(call, doc);
	}
out:
	if (old != NULL)
		bson_destroy(old);
	if (doc != NULL)
		bson_destroy(doc);
	bson_destroy(&filter);
	bson_destroy(&update);
	assignments_collections_free(coll, clinics);
}

void
assignments_patch(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 || api_path_oid_or_answer(r, "id", &id) != 0 ||
	    (call = api_patch_call_or_answer(r, &who, &id, assignments_fields)) == NULL)
		return;
	/* roles cannot be cleared (validate says so); a null isPrimaryClinic means false */
	if (bson_has_field(call->unset, "isPrimaryClinic"))
		BSON_APPEND_BOOL(call->body, "isPrimaryClinic", false);
	bson_destroy(call->unset);
	call->unset = NULL;
	api_defer(r, assignments_patch_work, call);
}

/* --- delete (deactivate) --- */

static void
assignments_delete_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	mongoc_collection_t *coll = NULL, *clinics = NULL;
	bson_t *old = NULL, *doc = NULL, filter = BSON_INITIALIZER, update = BSON_INITIALIZER;
	bson_t set = BSON_INITIALIZER;
	bson_error_t error;
	int64_t now = clock_wall_ms();

	if (assignments_collections(b, &coll, &clinics, res) != 0 ||
	    assignments_load_for_write(coll, clinics, call, &old, res) != 0 ||
	    store_if_match_doc(call, old, &filter, res) != 0)
		goto out;
	/* idempotent: deactivating an inactive assignment answers it unchanged */
	if (!assignments_get_bool(old, "isActive")) {
		store_document(res, 200, old);
		goto out;
	}
	BSON_APPEND_OID(&filter, "_id", &call->id);
	BSON_APPEND_BOOL(&filter, "isActive", true);
	BSON_APPEND_BOOL(&set, "isActive", false);
	BSON_APPEND_BOOL(&set, "isPrimaryClinic", false);
	BSON_APPEND_DATE_TIME(&set, "unassignedAt", now);
	assignments_update_doc(&update, &set, NULL, now);
	if (assignments_modify(coll, &filter, &update, api_budget_ms(call), &doc, &error) != 0) {
		store_fail(res, &error, "deactivate assignment");
		goto out;
	}
	if (doc == NULL && call->if_match[0] != '\0') {
		http_response_problem(res, 412, "the record changed since the If-Match ETag");
		goto out;
	}
	if (doc == NULL) {
		/* deactivated meanwhile by someone else: answer what is stored now */
		bson_reinit(&filter);
		BSON_APPEND_OID(&filter, "_id", &call->id);
		if (assignments_find_one(coll, &filter, NULL, api_budget_ms(call), &doc, &error) !=
		    0) {
			store_fail(res, &error, "deactivate assignment");
			goto out;
		}
	}
	if (doc == NULL)
		http_response_problem(res, 404, "no such record");
	else {
		store_document(res, 200, doc);
		assignments_changed(call, doc);
	}
out:
	if (old != NULL)
		bson_destroy(old);
	if (doc != NULL)
		bson_destroy(doc);
	bson_destroy(&filter);
	bson_destroy(&update);
	bson_destroy(&set);
	assignments_collections_free(coll, clinics);
}

void
assignments_delete(struct http_req *r)
{
	struct auth_principal who;
	struct api_call *call;
	bson_oid_t id;

	if (api_authenticate_or_answer(r, &who) != 0 ||
	    api_query_names_or_answer(r, (const char *const[]){NULL}) != 0 ||
	    api_path_oid_or_answer(r, "id", &id) != 0)
		return;
	call = api_call_new(r, &who);
	call->id = id;
	api_defer(r, assignments_delete_work, call);
}
