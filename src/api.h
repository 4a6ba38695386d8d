/*
 * api.h: what every resource handler does the same way: authenticate, read ids, bodies and
 * query strings, scope a query to the caller, run a list, and turn MongoDB results and errors
 * into HTTP answers. The resource files (organizations.c, clinics.c, assignments.c) hold only
 * what is theirs: fields, rules and queries.
 *
 * Handlers run on the loop thread and return after answering or deferring. Functions named
 * api_*_or_answer answer the request themselves when they fail and return -1; the handler
 * then just returns.
 */
#ifndef ENTERPRISED_API_H
#define ENTERPRISED_API_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "auth.h"
#include "backend.h"
#include "http.h"
#include "page.h"
#include "readcache.h"
#include "validate.h"

#define API_PREFIX "/api/v1"
#define API_MAX_CHANGED 8

/* The argument of every deferred API call: who asks, and what was parsed on the loop thread.
 * Owned by the job; freed by api_call_free. */
struct api_call {
	struct auth_principal who;
	struct worker *worker;
	bson_oid_t id;	    /* the {id} of the path, if any */
	char param[128];    /* a second path parameter (providerId) */
	bson_t *body;	    /* validated fields ($set on PATCH) */
	bson_t *unset;	    /* PATCH: fields to clear */
	bson_t *filter;	    /* list and search filters, already scoped */
	bson_t *projection; /* ?fields= */
	struct page_params page;
	char q[128]; /* search text */
	int limit;
	uint64_t deadline_ms;	 /* clock_mono_ms at which the route class deadline passes */
	char if_match[256];	 /* If-Match of a PATCH or DELETE, "" when absent */
	char if_none_match[256]; /* If-None-Match of a PATCH or DELETE, "" when absent */

	/* what a successful write changed, for the read cache (api_changed) */
	http_work_fn work;
	enum shm_resource changed_resource;
	char changed[API_MAX_CHANGED][READCACHE_DEP_MAX];
	int nchanged;
};

struct api_call *api_call_new(struct http_req *r, const struct auth_principal *who);
/*
 * What is left of the call's budget, in ms: the route class deadline (guide, "Timeouts")
 * counted from when the request was read, minus the time since. Every database command gets
 * this as its maxTimeMS, so a command started late never runs past the answer's 504. At least
 * 1 (a maxTimeMS of 0 would mean no limit at all); api_budget_spent says when nothing is left.
 */
int64_t api_budget_ms(const struct api_call *call);
/* 1 when the call's deadline has passed: its answer already went out as 504. */
int api_budget_spent(const struct api_call *call);
void api_call_free(void *call);
/* Defers work with call as its argument (the job frees it). What the work names with
 * api_changed is invalidated in the read cache after it, before the answer. */
void api_defer(struct http_req *r, http_work_fn work, struct api_call *call);
/* Backend thread, after a successful write of the record call->id: names "<kind>:<id>" and
 * "list:<kind>" (the record, and every list and search of its type). */
void api_changed_record(struct api_call *call, enum shm_resource resource, const char *kind);
/* Backend thread, after a successful write: names a dependency it changed. */
void api_changed(struct api_call *call, enum shm_resource resource, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * api_defer for a cacheable read: answered from the read cache when it can be, keyed by
 * "<path>|q:<query>|s:<caller's scope>", kept ttl_s seconds, stale once one of deps (a
 * NULL-terminated list of at most READCACHE_MAX_DEPS names) is named by a write.
 */
void api_defer_read(struct http_req *r, http_work_fn work, struct api_call *call,
		    enum shm_resource resource, int ttl_s, const char *const *deps);

/* --- loop thread: reading the request --- */

/* Verifies the bearer token; 401 with WWW-Authenticate on failure. */
int api_authenticate_or_answer(struct http_req *r, struct auth_principal *who);
/* The path parameter `name` as an ObjectId; 400 when it is not 24 hex digits. */
int api_path_oid_or_answer(struct http_req *r, const char *name, bson_oid_t *oid);
/* A JSON body checked against fields: 415 with a Content-Encoding or without
 * application/json, 400 for anything but one strict RFC 8259 object that passes the table. */
int api_body_or_answer(struct http_req *r, const struct validate_field *fields,
		       enum validate_mode mode, bson_t *set, bson_t *unset);
/* A GET of one record's common part: only `fields` as a query parameter, the path's {id},
 * ?fields= checked against projectable; a new call with id and projection, or NULL when the
 * request was answered. */
struct api_call *api_get_call_or_answer(struct http_req *r, const struct auth_principal *who,
					const char *const *projectable);
/* A search's common part: only q (1 to 100 characters, required), limit and fields as query
 * parameters; a new call with q, limit, projection and an empty filter for the caller's
 * scope, or NULL when the request was answered. */
struct api_call *api_search_call_or_answer(struct http_req *r, const struct auth_principal *who,
					   const char *const *projectable);
/* A PATCH's common part: the body checked against fields (PATCH rules: null clears) into a new
 * call for id, with body ($set) and unset filled; NULL when the request was answered. */
struct api_call *api_patch_call_or_answer(struct http_req *r, const struct auth_principal *who,
					  const bson_oid_t *id,
					  const struct validate_field *fields);
/* Query parameter names limited to allowed (NULL-terminated); 400 otherwise. */
int api_query_names_or_answer(struct http_req *r, const char *const *allowed);
/* ?fields= as a projection; 400 naming an unknown field. projection may stay empty. */
int api_fields_or_answer(struct http_req *r, const char *const *allowed, bson_t *projection);
/* limit/page/cursor/count; 400 on a bad value. */
int api_page_or_answer(struct http_req *r, struct page_params *page);
/* A query parameter checked as an enum/date/bool/id; absent is fine (returns 0, *present 0). */
int api_query_enum_or_answer(struct http_req *r, const char *name, const char *const *values,
			     char *out, size_t outlen, int *present);
int api_query_date_or_answer(struct http_req *r, const char *name, int64_t *ms, int *present);
int api_query_bool_or_answer(struct http_req *r, const char *name, int *value, int *present);
int api_query_oid_or_answer(struct http_req *r, const char *name, bson_oid_t *oid, int *present);
/* A free-text value (1 to outlen-1 bytes); 400 when empty, too long or badly encoded. */
int api_query_string_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			       int *present);
int api_query_ident_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			      int *present);

/* Answers 400 (or status) as problem+json with an `errors` array. */
void api_answer_errors(struct http_req *r, int status, const char *detail,
		       const struct validate_errors *errs);

/* --- backend thread: producing the answer --- */

mongoc_collection_t *api_collection(struct backend *b, const char *name);
/* Options with maxTimeMS (and projection when non-empty). */
bson_t *api_find_opts(const struct api_call *call);
/* Maps a driver error to a problem answer: 409 for a duplicate key, 504 for a time limit,
 * 503 when no server can be selected, 502 when the connection broke or timed out during the
 * command (both logged, and read by the MongoDB breaker), 500 otherwise (logged). */
void api_fail(struct http_response *res, const bson_error_t *error, const char *what);
/* 1 when error is a unique-index violation (11000, or FerretDB's code 1 for an update). */
int api_is_duplicate(const bson_error_t *error);
/* One document as the body (status 200 or 201). */
void api_document(struct http_response *res, int status, const bson_t *doc);

/*
 * Runs a list query and fills the guide's envelope:
 * {"data":[...],"pagination":{"limit","hasMore","nextCursor","page","total","isEstimate"}}.
 * The total is estimated when the list has no filter at all, exact otherwise.
 */
void api_list(struct backend *b, struct api_call *call, const char *collection,
	      struct http_response *res);

/* find_one of filter (with the call's projection): 200 with the document, or 404. */
void api_get_one(struct backend *b, struct api_call *call, const char *collection,
		 const bson_t *filter, struct http_response *res, const char *what);
/* find_one_and_update {$set, $unset, $inc version} returning the new document, or 404. */
void api_update_one(struct backend *b, struct api_call *call, const char *collection,
		    const bson_t *filter, struct http_response *res, const char *what);
/*
 * The search of every resource, in two passes: documents of call->filter (the caller's scope,
 * may be empty) where one of `fields` (NULL-terminated; dotted paths such as address.city
 * allowed) matches call->q case-insensitively. Documents where a field starts with q come
 * first, then those where q occurs further in; each pass is ordered by fields[0], then _id.
 * At most call->limit documents, with call->projection. Answers
 * {"data":[...],"query":q,"count":n}; `what` names the operation in the error log.
 */
void api_search(struct backend *b, struct api_call *call, const char *collection,
		const char *const *fields, struct http_response *res, const char *what);

/*
 * Batched loading, to embed related documents without one query per row (no N+1).
 *
 * Loads the documents of `collection` whose _id is among ids[0..n) with ONE
 * {_id: {$in: [...]}} find per `batch` distinct ids (batch 0: the configured
 * query_max_batch_size, QUERY_MAX_BATCH_SIZE), so a page of rows costs
 * ceil(distinct ids / batch) commands: exactly one for up to 50 ids by default. Repeated ids
 * are asked for once; the order of ids does not matter. projection (NULL or empty: whole
 * documents) applies to every document and must keep _id; call gives maxTimeMS.
 *
 * On success returns 0 and appends to `out` (an initialized document, usually empty) one
 * entry per document found, keyed by its 24-hex id: {"<hex>": {document}, ...}. An id with
 * no document (deleted meanwhile) has no entry. On failure returns -1 with error set (answer
 * it with api_fail); out may then hold some of the documents.
 */
int api_load_by_ids(struct backend *b, const struct api_call *call, const char *collection,
		    const bson_oid_t *ids, size_t n, size_t batch, const bson_t *projection,
		    bson_t *out, bson_error_t *error);
/*
 * api_load_by_ids through the read cache: ONE Redis MGET for the documents (and the
 * generations of their dependencies "<kind>:<id>"), MongoDB ($in, batched as above) for the
 * misses only, and ONE pipeline storing them back for ttl_s seconds. Without Redis (or with
 * the cache off) it is api_load_by_ids. Same contract.
 */
int api_load_by_ids_cached(struct backend *b, const struct api_call *call, const char *collection,
			   const char *kind, enum shm_resource resource, int ttl_s,
			   const bson_oid_t *ids, size_t n, bson_t *out, bson_error_t *error);
/* The document loaded for id: 0 and doc set (read-only, valid while loaded lives; do not
 * bson_destroy it), or -1 when there is none. A linear scan: fine for a page of rows. */
int api_loaded_find(const bson_t *loaded, const bson_oid_t *id, bson_t *doc);

/*
 * If-Match / If-None-Match on a write (RFC 9110 §13.1.1, §13.1.2): when the request has one,
 * loads the document of filter, and answers 412 unless the ETag of its representation (what
 * GET returns) matches If-Match by strong comparison (a weak tag never matches), or when it
 * exists and If-None-Match is "*" or lists its tag (weak comparison); on a match, pins
 * filter to the loaded version, so a write that lands in between makes this one miss (and
 * api_update_one then answers 412 too). 0 to go ahead (also when there is no such document:
 * the write answers 404), -1 with res filled.
 */
int api_if_match(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
		 struct http_response *res);

/* The same check on a document already loaded (filter may be NULL). */
int api_if_match_doc(const struct api_call *call, const bson_t *doc, bson_t *filter,
		     struct http_response *res);

/* A record's PATCH once access is settled: If-Match, the update of filter, and on success the
 * invalidation of "<kind>:<id>" and "list:<kind>". */
void api_patch_record(struct backend *b, struct api_call *call, const char *collection,
		      bson_t *filter, enum shm_resource resource, const char *kind,
		      struct http_response *res);

/* Escapes text for use inside a regular expression (RE2 and PCRE alike). */
void api_regex_escape(const char *text, char *out, size_t outlen);
/* Answers 204 with no body. */
void api_no_content(struct http_response *res);

/* Field tables shared by resources. */
extern const struct validate_field api_address_fields[];

/* Organization-level access: reads need the caller's own organization (or platform_admin);
 * writes need org_admin of it (or platform_admin). Answers 404 for another organization's
 * records (their existence is not revealed) and 403 for a write the role may not make. */
int api_org_access_or_answer(struct http_req *r, const struct auth_principal *who,
			     const bson_oid_t *org, int write);

/* Milliseconds since the epoch, for createdAt and updatedAt. */
int64_t api_now_ms(void);
/* The caller's organization id as an ObjectId; 0, or -1 for platform_admin. */
int api_principal_org(const struct auth_principal *who, bson_oid_t *org);

#endif
