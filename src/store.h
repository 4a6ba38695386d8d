/*
 * store.h: the backend-thread half of the API: the MongoDB commands every resource shares
 * (find, list, search, update, batched loads through the read cache), conditional writes, and
 * the job that runs a resource's work (breaker, deadline, invalidation). Everything here runs
 * on a backend thread and may block; api.h is the loop-thread half (reading and checking the
 * request), and nothing there may block.
 */
#ifndef ENTERPRISED_STORE_H
#define ENTERPRISED_STORE_H

#include "api.h"

/*
 * The job of every deferred API call (http_work_fn; arg is the struct api_call): no command
 * once the call's deadline passed (504), 503 at once while MongoDB's breaker is open, then
 * call->work, then the breaker's verdict and the read cache invalidations the work named,
 * before the answer goes out.
 */
void store_work(struct backend *b, void *arg, struct http_response *res);
/*
 * Any thread (atomics only): 1 with res answered 503 (Retry-After: 5) while MongoDB's breaker
 * refuses calls (breaker_refuses), 0 otherwise. Asked before work is queued for a database
 * thread, so that while a hung database holds those threads every request is answered at
 * once instead of waiting out its deadline in the queue.
 */
struct worker;
int store_refused(const struct worker *w, struct http_response *res);
/* Backend thread, before database work that does not go through store_work (exports): 1 when
 * MongoDB's breaker lets it go ahead, else 0 with res answered 503. */
int store_breaker_allow(struct backend *b, struct http_response *res);
/* Backend thread, after such work: the breaker's verdict on the status it ended with. */
void store_breaker_outcome(struct backend *b, int status);

/* Backend thread, after a successful write of the record call->id: names "<kind>:<id>" and
 * "list:<kind>" (the record, and every list and search of its type). */
void store_changed_record(struct api_call *call, enum shm_resource resource, const char *kind);
/* Backend thread, after a successful write: names a dependency it changed. */
void store_changed(struct api_call *call, enum shm_resource resource, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

mongoc_collection_t *store_collection(struct backend *b, const char *name);
/* Options with maxTimeMS (and projection when non-empty). */
bson_t *store_find_opts(const struct api_call *call);
/* Maps a driver error to a problem answer: 409 for a duplicate key, 504 for a time limit,
 * 503 when no server can be selected, 502 when the connection broke or timed out during the
 * command (both logged, and read by the MongoDB breaker), 500 otherwise (logged). */
void store_fail(struct http_response *res, const bson_error_t *error, const char *what);
/* Sets error to what store_fail answers 503 for (no server can be selected), for a backend
 * that has no database client (store_collection returned NULL). */
void store_unavailable_error(bson_error_t *error);
/* 1 when error is a unique-index violation (11000, or FerretDB's code 1 for an update). */
int store_is_duplicate(const bson_error_t *error);
/* One document as the body (status 200 or 201). */
void store_document(struct http_response *res, int status, const bson_t *doc);

/*
 * Runs a list query and fills the guide's envelope:
 * {"data":[...],"pagination":{"limit","hasMore","nextCursor","page","total","isEstimate"}}.
 * The total is estimated when the list has no filter at all, exact otherwise.
 */
void store_list(struct backend *b, struct api_call *call, const char *collection,
		struct http_response *res);

/* find_one of filter (with the call's projection): 200 with the document, or 404. */
void store_get_one(struct backend *b, struct api_call *call, const char *collection,
		   const bson_t *filter, struct http_response *res, const char *what);
/* find_one_and_update {$set, $unset, $inc version} returning the new document, or 404. */
void store_update_one(struct backend *b, struct api_call *call, const char *collection,
		      const bson_t *filter, struct http_response *res, const char *what);
/*
 * The search of every resource, in two passes: documents of call->filter (the caller's scope,
 * may be empty) where one of `fields` (NULL-terminated; dotted paths such as address.city
 * allowed) matches call->q case-insensitively. Documents where a field starts with q come
 * first, then those where q occurs further in; each pass is ordered by fields[0], then _id.
 * At most call->limit documents, with call->projection. Answers
 * {"data":[...],"query":q,"count":n}; `what` names the operation in the error log.
 */
void store_search(struct backend *b, struct api_call *call, const char *collection,
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
 * it with store_fail); out may then hold some of the documents.
 */
int store_load_by_ids(struct backend *b, const struct api_call *call, const char *collection,
		      const bson_oid_t *ids, size_t n, size_t batch, const bson_t *projection,
		      bson_t *out, bson_error_t *error);
/*
 * store_load_by_ids through the read cache: ONE Redis MGET for the documents (and the
 * generations of their dependencies "<kind>:<id>"), MongoDB ($in, batched as above) for the
 * misses only, and ONE pipeline storing them back for ttl_s seconds. Without Redis (or with
 * the cache off) it is store_load_by_ids. Same contract.
 */
int store_load_by_ids_cached(struct backend *b, const struct api_call *call, const char *collection,
			     const char *kind, enum shm_resource resource, int ttl_s,
			     const bson_oid_t *ids, size_t n, bson_t *out, bson_error_t *error);
/* The document loaded for id: 0 and doc set (read-only, valid while loaded lives; do not
 * bson_destroy it), or -1 when there is none. A linear scan: fine for a page of rows. */
int store_loaded_find(const bson_t *loaded, const bson_oid_t *id, bson_t *doc);

/*
 * If-Match / If-None-Match on a write (RFC 9110 §13.1.1, §13.1.2): when the request has one,
 * loads the document of filter, and answers 412 unless the ETag of its representation (what
 * GET returns) matches If-Match by strong comparison (a weak tag never matches), or when it
 * exists and If-None-Match is "*" or lists its tag (weak comparison); on a match, pins
 * filter to the loaded version, so a write that lands in between makes this one miss (and
 * store_update_one then answers 412 too). 0 to go ahead (also when there is no such document:
 * the write answers 404), -1 with res filled.
 */
int store_if_match(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
		   struct http_response *res);

/* The same check on a document already loaded (filter may be NULL). */
int store_if_match_doc(const struct api_call *call, const bson_t *doc, bson_t *filter,
		       struct http_response *res);

/* A record's PATCH once access is settled: If-Match, the update of filter, and on success the
 * invalidation of "<kind>:<id>" and "list:<kind>". */
void store_patch_record(struct backend *b, struct api_call *call, const char *collection,
			bson_t *filter, enum shm_resource resource, const char *kind,
			struct http_response *res);

/* Escapes text for use inside a regular expression (RE2 and PCRE alike). */
void store_regex_escape(const char *text, char *out, size_t outlen);
/* Answers 204 with no body. */
void store_no_content(struct http_response *res);

#endif
