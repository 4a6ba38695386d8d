/* api.c: what every resource handler does the same way (see api.h). */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "breaker.h"
#include "clock.h"
#include "fields.h"
#include "json.h"
#include "log.h"
#include "mongo.h"
#include "query.h"
#include "redis.h"
#include "router.h"
#include "worker.h"

int64_t
api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
api_principal_org(const struct auth_principal *who, bson_oid_t *org)
{
	if (who->role == AUTH_ROLE_PLATFORM_ADMIN || validate_objectid(who->org, org) != 0)
		return -1;
	return 0;
}

static int64_t
api_deadline_ms(const struct http_req *r)
{
	const struct config *c = r->worker->conf;

	if (r->route != NULL && r->route->cls == SHM_CLASS_SEARCH)
		return c->search_timeout_ms;
	if (r->route != NULL && r->route->cls == SHM_CLASS_REPORT)
		return c->report_timeout_ms;
	return c->request_timeout_ms;
}

struct api_call *
api_call_new(struct http_req *r, const struct auth_principal *who)
{
	struct api_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		abort();
	call->who = *who;
	call->worker = r->worker;
	call->deadline_ms = clock_mono_ms() + (uint64_t)api_deadline_ms(r);
	{
		size_t len = 0;
		const char *im = http_header(r, "if-match", &len);

		if (im != NULL)
			snprintf(
			    call->if_match, sizeof(call->if_match), "%.*s",
			    (int)(len < sizeof(call->if_match) ? len : sizeof(call->if_match) - 1),
			    im);
		if ((im = http_header(r, "if-none-match", &len)) != NULL && r->method != HTTP_GET &&
		    r->method != HTTP_HEAD)
			snprintf(call->if_none_match, sizeof(call->if_none_match), "%.*s",
				 (int)(len < sizeof(call->if_none_match)
					   ? len
					   : sizeof(call->if_none_match) - 1),
				 im);
	}
	return call;
}

int64_t
api_budget_ms(const struct api_call *call)
{
	uint64_t now = clock_mono_ms();

	return now + 1 < call->deadline_ms ? (int64_t)(call->deadline_ms - now) : 1;
}

int
api_budget_spent(const struct api_call *call)
{
	return clock_mono_ms() >= call->deadline_ms;
}

void
api_call_free(void *p)
{
	struct api_call *call = p;

	if (call == NULL)
		return;
	if (call->body != NULL)
		bson_destroy(call->body);
	if (call->unset != NULL)
		bson_destroy(call->unset);
	if (call->filter != NULL)
		bson_destroy(call->filter);
	if (call->projection != NULL)
		bson_destroy(call->projection);
	free(call);
}

/*
 * Whether a finished request's status says MongoDB is unwell: what may count against its
 * breaker (issue 7: one caller must never open it for everyone). 503 is api_fail's "no
 * server could be selected", the driver's own verdict after serverSelectionTimeoutMS. 502 is
 * a connection that broke or timed out during the command, which a request can cause itself
 * (a command that makes the server drop the connection), so a ping decides: the server is
 * unwell only when it does not answer either. Anything else was answered by the server, a
 * refusal, a conflict or a query stopped by its maxTimeMS included.
 */
static int
api_database_unwell(struct backend *b, int status)
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
static void
api_work(struct backend *b, void *arg, struct http_response *res)
{
	struct api_call *call = arg;
	struct worker *w = b->worker;
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_MONGODB];
	struct breaker_config bc = {w->conf->breaker_enabled, w->conf->breaker_failure_threshold,
				    w->conf->breaker_success_threshold,
				    (uint64_t)w->conf->breaker_timeout_ms};
	const char *names[API_MAX_CHANGED];
	int i;

	/* queued past its deadline: the answer went out as 504; start no command */
	if (api_budget_spent(call)) {
		http_response_problem(res, 504, "the request did not complete within its deadline");
		return;
	}
	if (!breaker_allow(breaker, &bc, breaker_now_ms())) {
		http_response_problem(res, 503, "the database is unavailable; retry shortly");
		http_response_header(res, "retry-after", "5");
		return;
	}
	call->work(b, call, res);
	if (api_database_unwell(b, res->status))
		breaker_failure(breaker, &bc, breaker_now_ms());
	else
		breaker_success(breaker, &bc);
	if (call->nchanged == 0)
		return;
	for (i = 0; i < call->nchanged; i++)
		names[i] = call->changed[i];
	readcache_invalidate(b, call->changed_resource, names, call->nchanged);
}

void
api_defer(struct http_req *r, http_work_fn work, struct api_call *call)
{
	call->work = work;
	http_defer(r, api_work, call, api_call_free);
}

void
api_changed_record(struct api_call *call, enum shm_resource resource, const char *kind)
{
	char id[25];

	bson_oid_to_string(&call->id, id);
	api_changed(call, resource, "%s:%s", kind, id);
	api_changed(call, resource, "list:%s", kind);
}

void
api_changed(struct api_call *call, enum shm_resource resource, const char *fmt, ...)
{
	va_list ap;

	if (call->nchanged == API_MAX_CHANGED)
		abort(); /* a programming error: raise API_MAX_CHANGED */
	call->changed_resource = resource;
	va_start(ap, fmt);
	vsnprintf(call->changed[call->nchanged++], READCACHE_DEP_MAX, fmt, ap);
	va_end(ap);
}

void
api_defer_read(struct http_req *r, http_work_fn work, struct api_call *call,
	       enum shm_resource resource, int ttl_s, const char *const *deps)
{
	struct readcache_spec spec;

	struct buf query;

	readcache_spec_init(&spec, resource, ttl_s);
	buf_init(&query);
	/* the names were checked (api_query_names_or_answer) and the values read before this */
	if (query_canonical(r->query, r->query_len, &query) != 0 ||
	    readcache_key_build(&spec, &call->who, r->path, &query) != 0)
		spec.uncached = 1;
	buf_free(&query);
	for (; *deps != NULL; deps++)
		readcache_dep(&spec, "%s", *deps);
	call->work = work;
	readcache_get(r, &spec, api_work, call, api_call_free);
}

void
api_answer_errors(struct http_req *r, int status, const char *detail,
		  const struct validate_errors *errs)
{
	struct http_response res;

	http_response_init(&res);
	http_response_problem_errors(&res, status, detail, errs);
	http_respond(r, &res);
}

static void
api_answer_one_error(struct http_req *r, const char *field, const char *message)
{
	struct validate_errors errs;

	errs.n = 0;
	validate_error_add(&errs, field, "%s", message);
	api_answer_errors(r, 400, message, &errs);
}

int
api_authenticate_or_answer(struct http_req *r, struct auth_principal *who)
{
	struct http_response res;
	char err[128], challenge[200];
	const char *h;
	size_t len = 0;
	uint64_t now_s;

	h = http_header(r, "authorization", &len);
	now_s = (uint64_t)(api_now_ms() / 1000);
	/* a token verified before is known until its exp: no signature check again */
	if (h != NULL && auth_memo_get(r->worker->auth_memo, h, len, now_s, who))
		return 0;
	if (r->worker->auth != NULL && auth_verify(r->worker->auth, h, h != NULL ? len : 0, now_s,
						   who, err, sizeof(err)) == 0) {
		auth_memo_put(r->worker->auth_memo, h, len, who);
		return 0;
	}
	if (r->worker->auth == NULL)
		snprintf(err, sizeof(err), "authentication is not configured");
	http_response_init(&res);
	http_response_problem(&res, 401, err);
	if (h == NULL)
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"enterprise\"");
	else
		snprintf(challenge, sizeof(challenge),
			 "Bearer realm=\"enterprise\", error=\"invalid_token\", "
			 "error_description=\"%s\"",
			 err);
	http_response_header(&res, "www-authenticate", challenge);
	http_respond(r, &res);
	return -1;
}

int
api_path_oid_or_answer(struct http_req *r, const char *name, bson_oid_t *oid)
{
	const char *v = http_param(r, name);

	if (v != NULL && validate_objectid(v, oid) == 0)
		return 0;
	api_answer_one_error(r, name, "must be an id of 24 hex digits");
	return -1;
}

static int
api_is_json(const char *ct, size_t len)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL || len < n || strncasecmp(ct, json, n) != 0)
		return 0;
	/* parameters such as "; charset=utf-8" may follow, nothing else */
	return len == n || ct[n] == ';' || ct[n] == ' ';
}

int
api_body_or_answer(struct http_req *r, const struct validate_field *fields, enum validate_mode mode,
		   bson_t *set, bson_t *unset)
{
	struct validate_errors errs;
	enum validate_result vr;
	size_t len = 0, celen = 0;
	const char *ct = http_header(r, "content-type", &len);

	if (http_header(r, "content-encoding", &celen) != NULL) {
		/* RFC 9110 section 15.5.16: a coded body is refused, with the codings we read */
		struct http_response res;

		http_response_init(&res);
		http_response_problem(
		    &res, 415,
		    "request bodies with a Content-Encoding are not accepted; send "
		    "the JSON uncompressed");
		http_response_header_static(&res, "accept-encoding", "identity");
		http_respond(r, &res);
		return -1;
	}
	if (!api_is_json(ct, len)) {
		http_respond_problem(r, 415, "the request body must be application/json");
		return -1;
	}
	if (r->body == NULL || r->body_len == 0) {
		errs.n = 0;
		validate_error_add(&errs, "", "the request has no body");
		api_answer_errors(r, 400, "the request has no body", &errs);
		return -1;
	}
	vr = validate_body(fields, r->body, r->body_len, mode, set, unset, &errs);
	if (vr == VALIDATE_MALFORMED) {
		api_answer_errors(r, 400, errs.items[0].message, &errs);
		return -1;
	}
	if (vr == VALIDATE_INVALID) {
		api_answer_errors(r, 400, "the request body is not valid", &errs);
		return -1;
	}
	return 0;
}

struct api_call *
api_get_call_or_answer(struct http_req *r, const struct auth_principal *who,
		       const char *const *projectable)
{
	static const char *const params[] = {"fields", NULL};
	struct api_call *call;
	bson_oid_t id;
	bson_t *projection;

	if (api_query_names_or_answer(r, params) != 0 || api_path_oid_or_answer(r, "id", &id) != 0)
		return NULL;
	projection = bson_new();
	if (api_fields_or_answer(r, projectable, projection) != 0) {
		bson_destroy(projection);
		return NULL;
	}
	call = api_call_new(r, who);
	call->id = id;
	call->projection = projection;
	return call;
}

struct api_call *
api_search_call_or_answer(struct http_req *r, const struct auth_principal *who,
			  const char *const *projectable)
{
	static const char *const params[] = {"q", "limit", "fields", NULL};
	struct api_call *call;
	struct page_params page;
	bson_t *projection;
	char q[128];
	int n;

	if (api_query_names_or_answer(r, params) != 0)
		return NULL;
	n = query_value(r->query, r->query_len, "q", q, sizeof(q));
	if (n <= 0 || n > 100) {
		struct validate_errors errs = {0};

		validate_error_add(&errs, "q", "is required: 1 to 100 characters");
		api_answer_errors(r, 400, "the search text q is required", &errs);
		return NULL;
	}
	if (api_page_or_answer(r, &page) != 0)
		return NULL;
	projection = bson_new();
	if (api_fields_or_answer(r, projectable, projection) != 0) {
		bson_destroy(projection);
		return NULL;
	}
	call = api_call_new(r, who);
	snprintf(call->q, sizeof(call->q), "%s", q);
	call->limit = page.limit;
	call->filter = bson_new();
	call->projection = projection;
	return call;
}

struct api_call *
api_patch_call_or_answer(struct http_req *r, const struct auth_principal *who, const bson_oid_t *id,
			 const struct validate_field *fields)
{
	struct api_call *call;
	bson_t *set = bson_new(), *unset = bson_new();

	if (api_body_or_answer(r, fields, VALIDATE_PATCH, set, unset) != 0) {
		bson_destroy(set);
		bson_destroy(unset);
		return NULL;
	}
	call = api_call_new(r, who);
	call->id = *id;
	call->body = set;
	call->unset = unset;
	return call;
}

int
api_query_names_or_answer(struct http_req *r, const char *const *allowed)
{
	struct validate_errors errs;

	errs.n = 0;
	if (validate_query_names(r->query, r->query_len, allowed, &errs) == 0)
		return 0;
	api_answer_errors(r, 400, "the query string is not valid", &errs);
	return -1;
}

/* Reads a query value; -1 answered (malformed), 0 absent, 1 present. */
static int
api_query_value(struct http_req *r, const char *name, char *out, size_t outlen)
{
	int n = query_value(r->query, r->query_len, name, out, outlen);

	if (n == -1)
		return 0;
	if (n < 0) {
		api_answer_one_error(r, name, "is too long, badly encoded or holds a control byte");
		return -1;
	}
	return 1;
}

int
api_fields_or_answer(struct http_req *r, const char *const *allowed, bson_t *projection)
{
	char list[600], bad[128], msg[200];
	int rc = api_query_value(r, "fields", list, sizeof(list));

	if (rc <= 0)
		return rc;
	if (fields_projection(list, allowed, projection, bad, sizeof(bad)) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "unknown field '%.100s'", bad);
	api_answer_one_error(r, "fields", msg);
	return -1;
}

int
api_page_or_answer(struct http_req *r, struct page_params *page)
{
	char limit[32], pg[32], cursor[PAGE_CURSOR_MAX + 8], count[16], msg[160];
	int has_limit, has_page, has_cursor, has_count;
	const char *field = NULL;

	if ((has_limit = api_query_value(r, "limit", limit, sizeof(limit))) < 0 ||
	    (has_page = api_query_value(r, "page", pg, sizeof(pg))) < 0 ||
	    (has_cursor = api_query_value(r, "cursor", cursor, sizeof(cursor))) < 0 ||
	    (has_count = api_query_value(r, "count", count, sizeof(count))) < 0)
		return -1;
	if (page_parse(r->worker->conf, r->worker->page_key, has_limit ? limit : NULL,
		       has_page ? pg : NULL, has_cursor ? cursor : NULL, has_count ? count : NULL,
		       page, &field, msg, sizeof(msg)) == 0)
		return 0;
	api_answer_one_error(r, field != NULL ? field : "", msg);
	return -1;
}

int
api_query_enum_or_answer(struct http_req *r, const char *name, const char *const *values, char *out,
			 size_t outlen, int *present)
{
	char list[160], msg[200];
	int rc = api_query_value(r, name, out, outlen);

	*present = 0;
	if (rc <= 0)
		return rc;
	if (validate_enum(out, values) != 0) {
		validate_enum_list(list, sizeof(list), values);
		snprintf(msg, sizeof(msg), "must be one of %s", list);
		api_answer_one_error(r, name, msg);
		return -1;
	}
	*present = 1;
	return 0;
}

int
api_query_date_or_answer(struct http_req *r, const char *name, int64_t *ms, int *present)
{
	char v[64];
	int rc = api_query_value(r, name, v, sizeof(v));

	*present = 0;
	if (rc <= 0)
		return rc;
	if (validate_date(v, ms) != 0) {
		api_answer_one_error(r, name, "must be an ISO-8601 date");
		return -1;
	}
	*present = 1;
	return 0;
}

int
api_query_bool_or_answer(struct http_req *r, const char *name, int *value, int *present)
{
	char v[16];
	int rc = api_query_value(r, name, v, sizeof(v));

	*present = 0;
	if (rc <= 0)
		return rc;
	if (validate_bool(v, value) != 0) {
		api_answer_one_error(r, name, "must be true or false");
		return -1;
	}
	*present = 1;
	return 0;
}

int
api_query_oid_or_answer(struct http_req *r, const char *name, bson_oid_t *oid, int *present)
{
	char v[64];
	int rc = api_query_value(r, name, v, sizeof(v));

	*present = 0;
	if (rc <= 0)
		return rc;
	if (validate_objectid(v, oid) != 0) {
		api_answer_one_error(r, name, "must be an id of 24 hex digits");
		return -1;
	}
	*present = 1;
	return 0;
}

int
api_query_string_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			   int *present)
{
	int rc = api_query_value(r, name, out, outlen);

	*present = 0;
	if (rc <= 0)
		return rc;
	if (out[0] == '\0') {
		api_answer_one_error(r, name, "must not be empty");
		return -1;
	}
	*present = 1;
	return 0;
}

int
api_query_ident_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			  int *present)
{
	int rc = api_query_value(r, name, out, outlen);

	*present = 0;
	if (rc <= 0)
		return rc;
	if (validate_ident(out, (int)outlen - 1) != 0) {
		api_answer_one_error(r, name, "must be letters, digits, '_' or '-'");
		return -1;
	}
	*present = 1;
	return 0;
}

/* --- backend side --- */

mongoc_collection_t *
api_collection(struct backend *b, const char *name)
{
	mongoc_client_t *client = backend_mongo(b);

	if (client == NULL)
		return NULL;
	return mongoc_client_get_collection(client, mongo_db_name(b->worker->mongo), name);
}

bson_t *
api_find_opts(const struct api_call *call)
{
	bson_t *opts = bson_new();

	BSON_APPEND_INT64(opts, "maxTimeMS", api_budget_ms(call));
	if (call->projection != NULL && !bson_empty(call->projection))
		BSON_APPEND_DOCUMENT(opts, "projection", call->projection);
	return opts;
}

int
api_is_duplicate(const bson_error_t *error)
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
api_fail(struct http_response *res, const bson_error_t *error, const char *what)
{
	if (api_is_duplicate(error)) {
		http_response_problem(res, 409, "a record with the same unique key exists");
		return;
	}
	if (error->code == 50 /* MaxTimeMSExpired */) {
		/* the server stopped the command at its budget: slow, not unwell */
		http_response_problem(res, 504, "the database did not answer within the deadline");
		return;
	}
	/* the two statuses api_database_unwell reads: keep them apart */
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
api_document(struct http_response *res, int status, const bson_t *doc)
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
api_list_total(mongoc_collection_t *coll, const struct api_call *call, int64_t *total,
	       int *estimate, bson_error_t *error)
{
	bson_t opts = BSON_INITIALIZER;

	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	if (bson_empty(call->filter)) {
		*estimate = 1;
		*total = mongoc_collection_estimated_document_count(coll, &opts, NULL, NULL, error);
	} else {
		*estimate = 0;
		*total =
		    mongoc_collection_count_documents(coll, call->filter, &opts, NULL, NULL, error);
	}
	bson_destroy(&opts);
	return *total < 0 ? -1 : 0;
}

void
api_list(struct backend *b, struct api_call *call, const char *collection,
	 struct http_response *res)
{
	mongoc_collection_t *coll = api_collection(b, collection);
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
	if (call->page.want_count && api_list_total(coll, call, &total, &estimate, &error) != 0) {
		api_fail(res, &error, "list count");
		mongoc_collection_destroy(coll);
		return;
	}
	filter = bson_copy(call->filter);
	opts = api_find_opts(call);
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
	cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);

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
		api_fail(res, &error, "list");
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

const struct validate_field api_address_fields[] = {
    {"street", VALIDATE_STRING, 0, 1, 200, NULL, NULL},
    {"city", VALIDATE_STRING, 0, 1, 100, NULL, NULL},
    {"state", VALIDATE_STRING, 0, 1, 100, NULL, NULL},
    {"postalCode", VALIDATE_STRING, 0, 1, 20, NULL, NULL},
    {"country", VALIDATE_STRING, 0, 2, 100, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

int
api_org_access_or_answer(struct http_req *r, const struct auth_principal *who,
			 const bson_oid_t *org, int write)
{
	bson_oid_t own;

	if (who->role == AUTH_ROLE_PLATFORM_ADMIN)
		return 0;
	if (api_principal_org(who, &own) != 0 || !bson_oid_equal(&own, org)) {
		http_respond_problem(r, 404, "no such record");
		return -1;
	}
	if (write && who->role != AUTH_ROLE_ORG_ADMIN) {
		http_respond_problem(r, 403, "your role may not change this record");
		return -1;
	}
	return 0;
}

void
api_get_one(struct backend *b, struct api_call *call, const char *collection, const bson_t *filter,
	    struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = api_collection(b, collection);
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	bson_t *opts;

	if (coll == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return;
	}
	opts = api_find_opts(call);
	BSON_APPEND_INT64(opts, "limit", 1);
	cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	if (mongoc_cursor_next(cursor, &doc))
		api_document(res, 200, doc);
	else if (mongoc_cursor_error(cursor, &error))
		api_fail(res, &error, what);
	else
		http_response_problem(res, 404, "no such record");
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
}

void
api_update_one(struct backend *b, struct api_call *call, const char *collection,
	       const bson_t *filter, struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = api_collection(b, collection);
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
	BSON_APPEND_DATE_TIME(&set, "updatedAt", api_now_ms());
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
		api_fail(res, &error, what);
	else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;
		bson_t doc;

		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&doc, data, len))
			api_document(res, 200, &doc);
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
api_regex_escape(const char *text, char *out, size_t outlen)
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
api_no_content(struct http_response *res)
{
	res->status = 204;
	res->content_type = NULL;
	buf_reset(&res->body);
}

/* --- search --- */

/*
 * One pass of api_search: appends up to `room` documents of the call's scope where pattern
 * matches one of fields, skipping the ids in `seen` and adding the new ones to it. Returns
 * the number appended; *failed is set on a driver error.
 *
 * The filter is {$and: [scope, match, {_id: {$nin: seen}}]}: the scope may name _id itself
 * (an organization member's own organization, a provider's clinics), so every condition keeps
 * its own document and none overrides another.
 */
static int
api_search_pass(mongoc_collection_t *coll, const struct api_call *call, const char *const *fields,
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

	opts = api_find_opts(call);
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
api_search(struct backend *b, struct api_call *call, const char *collection,
	   const char *const *fields, struct http_response *res, const char *what)
{
	mongoc_collection_t *coll = api_collection(b, collection);
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
	api_regex_escape(call->q, escaped, sizeof(escaped));
	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_key(&j, "data");
	json_array_begin(&j);
	/* values that start with the text come first, then values that contain it; the second
	 * pass runs only when the first one left room, so `seen` then holds every prefix match */
	snprintf(pattern, sizeof(pattern), "^%s", escaped);
	n = api_search_pass(coll, call, fields, pattern, &seen, call->limit, &j, &error, &failed);
	if (!failed && n < call->limit)
		n += api_search_pass(coll, call, fields, escaped, &seen, call->limit - n, &j,
				     &error, &failed);
	json_array_end(&j);
	json_kv_string(&j, "query", call->q);
	json_kv_int(&j, "count", n);
	json_object_end(&j);
	if (failed) {
		buf_free(&body);
		api_fail(res, &error, what);
	} else {
		http_response_json(res, 200, &body);
	}
	bson_destroy(&seen);
	mongoc_collection_destroy(coll);
}

/* --- batched loading --- */

static int
api_oid_order(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(bson_oid_t));
}

int
api_load_by_ids(struct backend *b, const struct api_call *call, const char *collection,
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
	if ((coll = api_collection(b, collection)) == NULL) {
		bson_set_error(error, MONGOC_ERROR_SERVER_SELECTION,
			       MONGOC_ERROR_SERVER_SELECTION_FAILURE,
			       "the database is unavailable");
		return -1;
	}
	/* a clinic shared by several rows is asked for once: sort, then drop repeats */
	if ((uniq = malloc(n * sizeof(*uniq))) == NULL)
		abort();
	memcpy(uniq, ids, n * sizeof(*uniq));
	qsort(uniq, n, sizeof(*uniq), api_oid_order);
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
api_loaded_find(const bson_t *loaded, const bson_oid_t *id, bson_t *doc)
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
api_if_match(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
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
	if ((coll = api_collection(b, collection)) == NULL) {
		http_response_problem(res, 503, "the database is unavailable");
		return -1;
	}
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_INT64(&opts, "maxTimeMS", api_budget_ms(call));
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	if (mongoc_cursor_next(cursor, &doc)) {
		rc = api_if_match_doc(call, doc, filter, res);
	} else if (mongoc_cursor_error(cursor, &error)) {
		api_fail(res, &error, "If-Match");
		rc = -1;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	mongoc_collection_destroy(coll);
	return rc;
}

int
api_if_match_doc(const struct api_call *call, const bson_t *doc, bson_t *filter,
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
api_load_by_ids_cached(struct backend *b, const struct api_call *call, const char *collection,
		       const char *kind, enum shm_resource resource, int ttl_s,
		       const bson_oid_t *ids, size_t n, bson_t *out, bson_error_t *error)
{
	struct worker *w = b->worker;
	struct shm_cache_counters *cnt = &w->shm->cache[resource];
	struct shm_breaker *breaker = &w->shm->breakers[SHM_DEP_REDIS];
	struct breaker_config bc = {w->conf->breaker_enabled, w->conf->breaker_failure_threshold,
				    w->conf->breaker_success_threshold,
				    (uint64_t)w->conf->breaker_timeout_ms};
	struct redis_conn *rc = NULL;
	char(*names)[READCACHE_DEP_MAX] = NULL;
	const char **keys = NULL;
	uint64_t *gens = NULL, *miss_gens = NULL;
	struct buf *values = NULL, *miss_values = NULL;
	const char **miss_keys = NULL;
	bson_oid_t *miss = NULL;
	int *fresh = NULL, consulted = 0, rcode = 0;
	size_t i, m = 0, stored = 0;

	if (!w->conf->cache_enabled || n == 0)
		return api_load_by_ids(b, call, collection, ids, n, 0, NULL, out, error);
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
	if (breaker_allow(breaker, &bc, breaker_now_ms()) && (rc = backend_redis(b)) != NULL) {
		if (redis_cache_mget(rc, keys, keys, n, gens, values, fresh) == 0) {
			breaker_success(breaker, &bc);
			consulted = 1;
		} else {
			breaker_failure(breaker, &bc, breaker_now_ms());
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
	if (m > 0 && api_load_by_ids(b, call, collection, miss, m, 0, NULL, out, error) != 0) {
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

		if (fresh[i] || api_loaded_find(out, &ids[i], &doc) != 0)
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
api_patch_record(struct backend *b, struct api_call *call, const char *collection, bson_t *filter,
		 enum shm_resource resource, const char *kind, struct http_response *res)
{
	char what[64];

	if (api_if_match(b, call, collection, filter, res) != 0)
		return;
	snprintf(what, sizeof(what), "update %s", kind);
	api_update_one(b, call, collection, filter, res, what);
	if (res->status == 200)
		api_changed_record(call, resource, kind);
}
