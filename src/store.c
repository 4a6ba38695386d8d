/* store.c: the backend-thread half of the API (see store.h). */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "breaker.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "mongo.h"
#include "redis.h"
#include "worker.h"

/*
 * Whether a finished request's status says MongoDB is unwell: what may count against its
 * breaker (issue 7: one caller must never open it for everyone). 503 is store_fail's "no
 * server could be selected", the driver's own verdict after serverSelectionTimeoutMS. 502 is
 * a connection that broke or timed out during the command, which a request can cause itself
 * (a command that makes the server drop the connection), so a ping decides: the server is
 * unwell only when it does not answer either. Anything else was answered by the server, a
 * refusal, a conflict or a query stopped by its maxTimeMS included.
 */
static int
store_database_unwell(struct backend *b, int status)
{
	mongoc_client_t *client;
	char err[256];

	if (status == 503)
		return 1;
	if (status != 502)
		return 0;
	if ((client = backend_mongo(b)) == NULL || mongo_ping(client, err, sizeof(err)) != 0)
		return 1;
	log_info("the database answers a ping after a broken command: not counted against it");
	return 0;
}

/*
 * Backend thread: the work (unless MongoDB's breaker is open: then 503 at once, instead of
 * every request waiting out a server selection timeout), then the invalidations it asked
 * for, before anyone is answered. Cached reads never get here when they hit, so they keep
 * being served while MongoDB is away.
 */
/* 503 while MongoDB's breaker is open: clients retry after the breaker's first probe. */
static void
store_unavailable(struct http_response *res)
{
	http_response_problem(res, 503, "the database is unavailable; retry shortly");
	http_response_header_static(res, "retry-after", "5");
}

int
store_refused(const struct worker *w, struct http_response *res)
{
	struct breaker_config bc;

	breaker_config_of(&bc, w->conf);
	if (!breaker_refuses(&w->shm->breakers[SHM_DEP_MONGODB], &bc, clock_mono_ms()))
		return 0;
	store_unavailable(res);
	return 1;
}

int
store_breaker_allow(struct backend *b, struct http_response *res)
{
	struct breaker_config bc;

	breaker_config_of(&bc, b->worker->conf);
	if (breaker_allow(&b->worker->shm->breakers[SHM_DEP_MONGODB], &bc, clock_mono_ms()))
		return 1;
	store_unavailable(res);
	return 0;
}

void
store_breaker_outcome(struct backend *b, int status)
{
	struct shm_breaker *breaker = &b->worker->shm->breakers[SHM_DEP_MONGODB];
	struct breaker_config bc;

	breaker_config_of(&bc, b->worker->conf);
	if (store_database_unwell(b, status))
		breaker_failure(breaker, &bc, clock_mono_ms());
	else
		breaker_success(breaker, &bc);
}

void
store_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	const char *names[API_MAX_CHANGED];
	int i;

	/* queued past its deadline: the answer went out as 504; start no command */
	if (api_budget_spent(call)) {
		http_response_problem(res, 504, "the request did not complete within its deadline");
		return;
	}
	/* a create with an Idempotency-Key runs only when it takes the key (issue 10); a replay,
	 * 409 or 422 is answered before MongoDB's breaker is asked, so it never takes a probe */
	if (call->idem.on &&
	    idempotency_begin(b, &call->idem, api_budget_ms(call) + IDEMPOTENCY_LOCK_MARGIN_MS,
			      res) != 0)
		return;
	if (!store_breaker_allow(b, res)) {
		idempotency_end(b, &call->idem, res); /* a 503: the claim is dropped */
		return;
	}
	call->work(b, call, res);
	store_breaker_outcome(b, res->status);
	idempotency_end(b, &call->idem, res);
	if (call->nchanged == 0)
		return;
	for (i = 0; i < call->nchanged; i++)
		names[i] = call->changed[i];
	readcache_invalidate(b, call->changed_resource, names, call->nchanged);
}

void
store_changed_record(struct api_call *call, enum shm_resource resource, const char *kind)
{
	char id[25];

	bson_oid_to_string(&call->id, id);
	store_changed(call, resource, "%s:%s", kind, id);
	store_changed(call, resource, "list:%s", kind);
}

void
store_changed(struct api_call *call, enum shm_resource resource, const char *fmt, ...)
{
	va_list ap;

	if (call->nchanged == API_MAX_CHANGED)
		abort(); /* a programming error: raise API_MAX_CHANGED */
	call->changed_resource = resource;
	va_start(ap, fmt);
	vsnprintf(call->changed[call->nchanged++], READCACHE_DEP_MAX, fmt, ap);
	va_end(ap);
}

mongoc_collection_t *
store_collection(struct backend *b, const char *name)
{
	mongoc_client_t *client = backend_mongo(b);

	if (client == NULL)
		return NULL;
	return mongoc_client_get_collection(client, mongo_db_name(b->worker->mongo), name);
}

bson_t *
store_find_opts(const struct api_call *call)
{
	bson_t *opts = bson_new();

	BSON_APPEND_INT64(opts, "maxTimeMS", api_budget_ms(call));
	if (call->projection != NULL && !bson_empty(call->projection))
		BSON_APPEND_DOCUMENT(opts, "projection", call->projection);
	return opts;
}

int
store_is_duplicate(const bson_error_t *error)
{
	if (error->code == 11000 || error->code == 11001)
		return 1;
	/* FerretDB reports a unique violation caused by an update as InternalError (1) with
	 * its backend's text: SQLite's "UNIQUE constraint failed", PostgreSQL's "duplicate key" */
	return error->code == 1 && (strstr(error->message, "E11000") != NULL ||
				    strcasestr(error->message, "duplicate") != NULL ||
				    strcasestr(error->message, "unique constraint") != NULL);
}

void
store_unavailable_error(bson_error_t *error)
{
	bson_set_error(error, MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
		       "the database is unavailable");
}

void
store_fail(struct http_response *res, const bson_error_t *error, const char *what)
{
	if (store_is_duplicate(error)) {
		http_response_problem(res, 409, "a record with the same unique key exists");
		return;
	}
	if (error->code == 50 /* MaxTimeMSExpired */) {
		/* the server stopped the command at its budget: slow, not unwell */
		http_response_problem(res, 504, "the database did not answer within the deadline");
		return;
	}
	/* the two statuses store_database_unwell reads: keep them apart */
	if (error->domain == MONGOC_ERROR_SERVER_SELECTION) {
		log_error("%s: %s", what, error->message);
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	if (error->domain == MONGOC_ERROR_STREAM) {
		log_error("%s: %s", what, error->message);
		http_response_problem(res, 502, "the connection to the database failed");
		return;
	}
	log_error("%s: %s (domain %u, code %u)", what, error->message, error->domain, error->code);
	http_response_problem(res, 500, "the database failed the request");
}

void
store_document(struct http_response *res, int status, const bson_t *doc)
{
	struct buf body;
	struct json j;

	buf_init(&body);
	json_init(&j, &body);
	json_bson_document(&j, doc);
	http_response_json(res, status, &body);
}

/* The exact count of a filter, or the collection's estimate when there is no filter. */
static int
store_list_total(mongoc_collection_t *coll, const struct api_call *call,
		 const mongoc_read_prefs_t *prefs, int64_t *total, int *estimate,
		 bson_error_t *error)
{
	bson_t opts = BSON_INITIALIZER;

	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	if (bson_empty(call->filter)) {
		*estimate = 1;
		*total =
		    mongoc_collection_estimated_document_count(coll, &opts, prefs, NULL, error);
	} else {
		*estimate = 0;
		*total = mongoc_collection_count_documents(coll, call->filter, &opts, prefs, NULL,
							   error);
	}
	bson_destroy(&opts);
	return *total < 0 ? -1 : 0;
}

void
store_list(struct backend *b, struct api_call *call, const char *collection,
	   struct http_response *res)
{
	mongoc_collection_t *coll = store_collection(b, collection);
	const mongoc_read_prefs_t *prefs;
	bson_t *filter, *opts;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	struct buf body;
	struct json j;
	int n = 0, has_more = 0, estimate = 0;
	int64_t total = -1, last_created = 0;
	bson_oid_t last_id;
	char next[PAGE_CURSOR_MAX];

	memset(&last_id, 0, sizeof(last_id));

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	/* counted on the caller's filter, before the cursor condition narrows it */
	/* a list may read from a secondary when MONGODB_URI says so (replset.h) */
	prefs = mongo_list_prefs(b->worker->mongo);
	if (call->page.want_count &&
	    store_list_total(coll, call, prefs, &total, &estimate, &error) != 0) {
		store_fail(res, &error, "list count");
		mongoc_collection_destroy(coll);
		return;
	}
	filter = bson_copy(call->filter);
	opts = store_find_opts(call);
	if (call->projection != NULL && !bson_empty(call->projection)) {
		/* the cursor needs createdAt even when the caller did not ask for it */
		bson_t proj;

		bson_init(&proj);
		bson_copy_to_excluding_noinit(call->projection, &proj, "createdAt", NULL);
		BSON_APPEND_INT32(&proj, "createdAt", 1);
		bson_reinit(opts);
		BSON_APPEND_INT64(opts, "maxTimeMS", api_budget_ms(call));
		BSON_APPEND_DOCUMENT(opts, "projection", &proj);
		bson_destroy(&proj);
	}
	page_apply(&call->page, filter, opts);
	cursor = mongoc_collection_find_with_opts(coll, filter, opts, prefs);

	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_key(&j, "data");
	json_array_begin(&j);
	while (mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		if (n == call->page.limit) {
			has_more = 1;
			break;
		}
		n++;
		if (bson_iter_init_find(&it, doc, "createdAt") && BSON_ITER_HOLDS_DATE_TIME(&it))
			last_created = bson_iter_date_time(&it);
		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
			bson_oid_copy(bson_iter_oid(&it), &last_id);
		if (call->projection != NULL && !bson_empty(call->projection) &&
		    !bson_has_field(call->projection, "createdAt")) {
			bson_t trimmed = BSON_INITIALIZER;

			bson_copy_to_excluding_noinit(doc, &trimmed, "createdAt", NULL);
			json_bson_document(&j, &trimmed);
			bson_destroy(&trimmed);
		} else {
			json_bson_document(&j, doc);
		}
	}
	if (mongoc_cursor_error(cursor, &error)) {
		buf_free(&body);
		store_fail(res, &error, "list");
		goto out;
	}
	json_array_end(&j);
	json_key(&j, "pagination");
	json_object_begin(&j);
	json_kv_int(&j, "limit", call->page.limit);
	json_kv_bool(&j, "hasMore", has_more);
	json_key(&j, "nextCursor");
	/* offered in offset mode too, so a client can switch to cursor paging at any page */
	if (has_more && n > 0) {
		page_cursor_encode(call->worker->page_key, last_created, &last_id, next);
		json_string(&j, next);
	} else {
		json_null(&j);
	}
	json_key(&j, "page");
	if (call->page.cursor_mode)
		json_null(&j);
	else
		json_int(&j, call->page.page);
	json_key(&j, "total");
	if (call->page.want_count)
		json_int(&j, total);
	else
		json_null(&j);
	json_kv_bool(&j, "isEstimate", estimate);
	json_object_end(&j);
	json_object_end(&j);
	http_response_json(res, 200, &body);
out:
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
}

void
store_get_one(struct backend *b, struct api_call *call, const char *collection,
	      const bson_t *filter, struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = store_collection(b, collection);
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	bson_t *opts;

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	opts = store_find_opts(call);
	BSON_APPEND_INT64(opts, "limit", 1);
	cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		store_document(res, 200, doc);
	else if (mongoc_cursor_error(cursor, &error))
		store_fail(res, &error, what);
	else
		http_response_problem(res, 404, "no such record");
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
}

void
store_update_one(struct backend *b, struct api_call *call, const char *collection,
		 const bson_t *filter, struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = store_collection(b, collection);
	mongoc_find_and_modify_opts_t *fam;
	bson_t update = BSON_INITIALIZER, set, inc, reply;
	bson_error_t error;
	bson_iter_t it;

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	if (call->body != NULL)
		bson_concat(&set, call->body);
	BSON_APPEND_DATE_TIME(&set, "updatedAt", clock_wall_ms());
	bson_append_document_end(&update, &set);
	if (call->unset != NULL && !bson_empty(call->unset))
		BSON_APPEND_DOCUMENT(&update, "$unset", call->unset);
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
	BSON_APPEND_INT64(&inc, "version", 1);
	bson_append_document_end(&update, &inc);

	fam = mongoc_find_and_modify_opts_new();
	mongoc_find_and_modify_opts_set_update(fam, &update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	mongoc_find_and_modify_opts_set_max_time_ms(fam, (uint32_t)api_budget_ms(call));
	if (!mongoc_collection_find_and_modify_with_opts(coll, filter, fam, &reply, &error))
		store_fail(res, &error, what);
	else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;
		bson_t doc;

		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&doc, data, len))
			store_document(res, 200, &doc);
	} else if (call->if_match[0] != '\0') {
		/* it matched a moment ago: someone wrote in between */
		http_response_problem(res, 412, "the record changed since the If-Match ETag");
	} else {
		http_response_problem(res, 404, "no such record");
	}
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(fam);
	bson_destroy(&update);
	mongoc_collection_destroy(coll);
}

void
store_regex_escape(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *text != '\0' && o + 2 < outlen; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
				  (c >= 'A' && c <= 'Z') || c == ' '))
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

void
store_no_content(struct http_response *res)
{
	res->status = 204;
	res->content_type = NULL;
	buf_reset(&res->body);
}

/*
 * One pass of store_search: appends up to `room` documents of the call's scope where pattern
 * matches one of fields, skipping the ids in `seen` and adding the new ones to it. Returns
 * the number appended; *failed is set on a driver error.
 *
 * The filter is {$and: [scope, match, {_id: {$nin: seen}}]}: the scope may name _id itself
 * (an organization member's own organization, a provider's clinics), so every condition keeps
 * its own document and none overrides another.
 */
static int
store_search_pass(mongoc_collection_t *coll, const struct api_call *call, const char *const *fields,
		  const char *pattern, bson_t *seen, int room, struct json *j, bson_error_t *error,
		  int *failed)
{
	bson_t filter = BSON_INITIALIZER, and, match, sort, *opts;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	uint32_t count = bson_count_keys(seen), k = 0;
	const char *key;
	char keybuf[16];
	int n = 0;
	size_t i, nfields = 0;

	while (fields[nfields] != NULL)
		nfields++;
	bson_append_array_begin(&filter, "$and", -1, &and);
	if (call->filter != NULL && !bson_empty(call->filter)) {
		bson_uint32_to_string(k++, &key, keybuf, sizeof(keybuf));
		bson_append_document(&and, key, -1, call->filter);
	}
	bson_uint32_to_string(k++, &key, keybuf, sizeof(keybuf));
	bson_append_document_begin(&and, key, -1, &match);
	if (nfields == 1) {
		bson_t regex;

		bson_append_document_begin(&match, fields[0], -1, &regex);
		BSON_APPEND_UTF8(&regex, "$regex", pattern);
		BSON_APPEND_UTF8(&regex, "$options", "i");
		bson_append_document_end(&match, &regex);
	} else {
		bson_t ors;

		bson_append_array_begin(&match, "$or", -1, &ors);
		for (i = 0; i < nfields; i++) {
			bson_t alt, regex;
			const char *akey;
			char akeybuf[16];

			bson_uint32_to_string((uint32_t)i, &akey, akeybuf, sizeof(akeybuf));
			bson_append_document_begin(&ors, akey, -1, &alt);
			bson_append_document_begin(&alt, fields[i], -1, &regex);
			BSON_APPEND_UTF8(&regex, "$regex", pattern);
			BSON_APPEND_UTF8(&regex, "$options", "i");
			bson_append_document_end(&alt, &regex);
			bson_append_document_end(&ors, &alt);
		}
		bson_append_array_end(&match, &ors);
	}
	bson_append_document_end(&and, &match);
	if (count > 0) {
		bson_t cond, idq;

		bson_uint32_to_string(k++, &key, keybuf, sizeof(keybuf));
		bson_append_document_begin(&and, key, -1, &cond);
		BSON_APPEND_DOCUMENT_BEGIN(&cond, "_id", &idq);
		BSON_APPEND_ARRAY(&idq, "$nin", seen);
		bson_append_document_end(&cond, &idq);
		bson_append_document_end(&and, &cond);
	}
	bson_append_array_end(&filter, &and);

	opts = store_find_opts(call);
	BSON_APPEND_INT64(opts, "limit", room);
	BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
	bson_append_int32(&sort, fields[0], -1, 1);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(opts, &sort);

	cursor = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
	while (n < room && mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;

		if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
			bson_uint32_to_string(count++, &key, keybuf, sizeof(keybuf));
			bson_append_oid(seen, key, -1, bson_iter_oid(&it));
		}
		json_bson_document(j, doc);
		n++;
	}
	*failed = mongoc_cursor_error(cursor, error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(&filter);
	return n;
}

void
store_search(struct backend *b, struct api_call *call, const char *collection,
	     const char *const *fields, struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = store_collection(b, collection);
	char escaped[300], pattern[310];
	bson_t seen = BSON_INITIALIZER;
	bson_error_t error;
	struct buf body;
	struct json j;
	int n, failed = 0;

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	store_regex_escape(call->q, escaped, sizeof(escaped));
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_key(&j, "data");
	json_array_begin(&j);
	/* values that start with the text come first, then values that contain it; the second
	 * pass runs only when the first one left room, so `seen` then holds every prefix match */
	snprintf(pattern, sizeof(pattern), "^%s", escaped);
	n = store_search_pass(coll, call, fields, pattern, &seen, call->limit, &j, &error, &failed);
	if (!failed && n < call->limit)
		n += store_search_pass(coll, call, fields, escaped, &seen, call->limit - n, &j,
				       &error, &failed);
	json_array_end(&j);
	json_kv_string(&j, "query", call->q);
	json_kv_int(&j, "count", n);
	json_object_end(&j);
	if (failed) {
		buf_free(&body);
		store_fail(res, &error, what);
	} else {
		http_response_json(res, 200, &body);
	}
	bson_destroy(&seen);
	mongoc_collection_destroy(coll);
}

static int
store_oid_order(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(bson_oid_t));
}

int
store_load_by_ids(struct backend *b, const struct api_call *call, const char *collection,
		  const bson_oid_t *ids, size_t n, size_t batch, const bson_t *projection,
		  bson_t *out, bson_error_t *error)
{
	mongoc_collection_t *coll;
	bson_oid_t *uniq;
	size_t nuniq = 0, i, start;
	int rc = 0;

	if (n == 0)
		return 0;
	if (batch == 0)
		batch = (size_t)call->worker->conf->query_max_batch_size;
	if (batch == 0)
		batch = 50;
	if ((coll = store_collection(b, collection)) == NULL) {
		bson_set_error(error, MONGOC_ERROR_SERVER_SELECTION,
			       MONGOC_ERROR_SERVER_SELECTION_FAILURE,
			       "the database is unavailable");
		return -1;
	}
	/* a clinic shared by several rows is asked for once: sort, then drop repeats */
	if ((uniq = malloc(n * sizeof(*uniq))) == NULL)
		abort();
	memcpy(uniq, ids, n * sizeof(*uniq));
	qsort(uniq, n, sizeof(*uniq), store_oid_order);
	for (i = 0; i < n; i++) {
		if (nuniq == 0 || !bson_oid_equal(&uniq[nuniq - 1], &uniq[i]))
			uniq[nuniq++] = uniq[i];
	}
	for (start = 0; start < nuniq && rc == 0; start += batch) {
		size_t k, len = nuniq - start < batch ? nuniq - start : batch;
		bson_t filter = BSON_INITIALIZER, idq, in, opts = BSON_INITIALIZER;
		mongoc_cursor_t *cursor;
		const bson_t *doc;

		BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &idq);
		BSON_APPEND_ARRAY_BEGIN(&idq, "$in", &in);
		for (k = 0; k < len; k++) {
			const char *key;
			char keybuf[16];

			bson_uint32_to_string((uint32_t)k, &key, keybuf, sizeof(keybuf));
			bson_append_oid(&in, key, -1, &uniq[start + k]);
		}
		bson_append_array_end(&idq, &in);
		bson_append_document_end(&filter, &idq);
		BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
		/* each id matches at most one document: with the limit the server closes the
		 * cursor with its first reply, so a batch is one command (no getMore, no
		 * killCursors) */
		BSON_APPEND_INT64(&opts, "limit", (int64_t)len);
		if (projection != NULL && !bson_empty(projection))
			BSON_APPEND_DOCUMENT(&opts, "projection", projection);
		cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
		while (mongoc_cursor_next(cursor, &doc)) {
			bson_iter_t it;
			char hex[25];

			if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
				continue;
			bson_oid_to_string(bson_iter_oid(&it), hex);
			bson_append_document(out, hex, -1, doc);
		}
		if (mongoc_cursor_error(cursor, error))
			rc = -1;
		mongoc_cursor_destroy(cursor);
		bson_destroy(&filter);
		bson_destroy(&opts);
	}
	free(uniq);
	mongoc_collection_destroy(coll);
	return rc;
}

int
store_loaded_find(const bson_t *loaded, const bson_oid_t *id, bson_t *doc)
{
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	char hex[25];

	bson_oid_to_string(id, hex);
	if (!bson_iter_init_find(&it, loaded, hex) || !BSON_ITER_HOLDS_DOCUMENT(&it))
		return -1;
	bson_iter_document(&it, &len, &data);
	return bson_init_static(doc, data, len) ? 0 : -1;
}

int
store_if_match(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
	       struct http_response *res)
{
	mongoc_collection_t *coll;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	bson_t opts = BSON_INITIALIZER;
	int rc = 0;

	if (call->if_match[0] == '\0' && call->if_none_match[0] == '\0')
		return 0;
	if ((coll = store_collection(b, collection)) == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return -1;
	}
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	if (mongoc_cursor_next(cursor, &doc)) {
		rc = store_if_match_doc(call, doc, filter, res);
	} else if (mongoc_cursor_error(cursor, &error)) {
		store_fail(res, &error, "If-Match");
		rc = -1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

int
store_if_match_doc(const struct api_call *call, const bson_t *doc, bson_t *filter,
		   struct http_response *res)
{
	struct buf body;
	struct json j;
	bson_iter_t it;
	char etag[ETAG_MAX];
	int match;

	if (call->if_match[0] == '\0' && call->if_none_match[0] == '\0')
		return 0;
	/* the representation GET answers, byte for byte, hence the same ETag */
	buf_init(&body);
	json_init(&j, &body);
	json_bson_document(&j, doc);
	etag_of(body.data, body.len, etag);
	buf_free(&body);
	if (call->if_none_match[0] != '\0' &&
	    etag_matches(call->if_none_match, strlen(call->if_none_match), etag)) {
		http_response_problem(res, 412,
				      "the record exists and matches If-None-Match; nothing was "
				      "written");
		return -1;
	}
	if (call->if_match[0] == '\0')
		return 0;
	match = etag_matches_strong(call->if_match, strlen(call->if_match), etag);
	if (!match) {
		http_response_problem(res, 412, "the record changed since the If-Match ETag");
		return -1;
	}
	if (filter != NULL && bson_iter_init_find(&it, doc, "version"))
		BSON_APPEND_VALUE(filter, "version", bson_iter_value(&it));
	return 0;
}

int
store_load_by_ids_cached(struct backend *b, const struct api_call *call, const char *collection,
			 const char *kind, enum shm_resource resource, int ttl_s,
			 const bson_oid_t *ids, size_t n, bson_t *out, bson_error_t *error)
{
	struct worker *w = b->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	struct breaker_config bc;
	struct redis_conn *rc = NULL;
	char(*names)[READCACHE_DEP_MAX] = NULL;
	const char **keys = NULL;
	uint64_t *gens = NULL, *miss_gens = NULL;
	struct buf *values = NULL, *miss_values = NULL;
	const char **miss_keys = NULL;
	bson_oid_t *miss = NULL;
	int *fresh = NULL, consulted = 0, rcode = 0;
	size_t i, m = 0, stored = 0;

	breaker_config_of(&bc, w->conf);
	if (!w->conf->cache_enabled || n == 0)
		return store_load_by_ids(b, call, collection, ids, n, 0, NULL, out, error);
	names = calloc(n, sizeof(*names));
	keys = calloc(n, sizeof(*keys));
	gens = calloc(n, sizeof(*gens));
	values = calloc(n, sizeof(*values));
	fresh = calloc(n, sizeof(*fresh));
	miss = calloc(n, sizeof(*miss));
	if (!names || !keys || !gens || !values || !fresh || !miss)
		abort();
	for (i = 0; i < n; i++) {
		char hex[25];

		bson_oid_to_string(&ids[i], hex);
		snprintf(names[i], READCACHE_DEP_MAX, "%s:%s", kind, hex);
		keys[i] = names[i];
		buf_init(&values[i]);
	}
	/* no Redis value while it has missed a write the monitor has not repaired yet (checked
	 * after the connection, which under Sentinel may follow a new master: readcache.c) */
	if (breaker_allow(breaker, &bc, clock_mono_ms()) && (rc = backend_redis(b)) != NULL &&
	    !atomic_load_explicit(&b->worker->shm->l2_suspect, memory_order_acquire)) {
		if (redis_cache_mget(rc, keys, keys, n, gens, values, fresh) == 0) {
			breaker_success(breaker, &bc);
			consulted = 1;
		} else {
			breaker_failure(breaker, &bc, clock_mono_ms());
			atomic_fetch_add_explicit(&cnt->errors, 1, memory_order_relaxed);
			memset(fresh, 0, n * sizeof(*fresh));
		}
	} else {
		atomic_fetch_add_explicit(&cnt->errors, 1, memory_order_relaxed);
	}
	for (i = 0; i < n; i++) {
		bson_t doc;
		char hex[25];

		bson_oid_to_string(&ids[i], hex);
		if (fresh[i] &&
		    bson_init_static(&doc, (const uint8_t *)values[i].data, values[i].len) &&
		    bson_validate(&doc, BSON_VALIDATE_NONE, NULL)) {
			if (!bson_has_field(out, hex))
				bson_append_document(out, hex, -1, &doc);
			atomic_fetch_add_explicit(&cnt->l2_hits, 1, memory_order_relaxed);
			continue;
		}
		fresh[i] = 0;
		miss[m++] = ids[i];
		if (consulted)
			atomic_fetch_add_explicit(&cnt->misses, 1, memory_order_relaxed);
	}
	if (m > 0 && store_load_by_ids(b, call, collection, miss, m, 0, NULL, out, error) != 0) {
		rcode = -1;
		goto out;
	}
	if (!consulted || m == 0)
		goto out;
	/* the misses go back in one pipeline, under the generations read before the database */
	miss_keys = calloc(n, sizeof(*miss_keys));
	miss_gens = calloc(n, sizeof(*miss_gens));
	miss_values = calloc(n, sizeof(*miss_values));
	if (!miss_keys || !miss_gens || !miss_values)
		abort();
	for (i = 0; i < n; i++) {
		bson_t doc;

		if (fresh[i] || store_loaded_find(out, &ids[i], &doc) != 0)
			continue;
		miss_keys[stored] = keys[i];
		miss_gens[stored] = gens[i];
		buf_init(&miss_values[stored]);
		buf_append(&miss_values[stored], bson_get_data(&doc), doc.len);
		stored++;
	}
	if (stored > 0) {
		if (redis_cache_mset(rc, miss_keys, miss_gens, miss_values, stored, ttl_s) == 0)
			atomic_fetch_add_explicit(&cnt->sets, stored, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&cnt->errors, 1, memory_order_relaxed);
	}
	for (i = 0; i < stored; i++)
		buf_free(&miss_values[i]);
out:
	for (i = 0; i < n; i++)
		buf_free(&values[i]);
	free(names);
	free(keys);
	free(gens);
	free(values);
	free(fresh);
	free(miss);
	free(miss_keys);
	free(miss_gens);
	free(miss_values);
	return rcode;
}

void
store_patch_record(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
		   enum shm_resource resource, const char *kind, struct http_response *res)
{
	char what[64];

	if (store_if_match(b, call, collection, filter, res) != 0)
		return;
	snprintf(what, sizeof(what), "update %s", kind);
	store_update_one(b, call, collection, filter, res, what);
	if (res->status == 200)
		store_changed_record(call, resource, kind);
}
