/* api.c: the loop-thread half of every resource handler (see api.h; store.c is the other half). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fields.h"
#include "query.h"
#include "router.h"
#include "store.h"
#include "worker.h"

int
api_principal_org(const struct auth_principal *who, bson_oid_t *org)
{
	if (who->role == AUTH_ROLE_PLATFORM_ADMIN || validate_objectid(who->org, org) != 0)
		return -1;
	return 0;
}

struct api_call *
api_call_new(struct http_req *r, const struct auth_principal *who)
{
	struct api_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		abort();
	call->who = *who;
	call->worker = r->worker;
	call->deadline_ms = clock_mono_ms() + (uint64_t)http_deadline_ms(r);
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
api_call_renew(void *p, int budget_ms)
{
	struct api_call *call = p;

	call->deadline_ms = clock_mono_ms() + (uint64_t)budget_ms;
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
 * r waits at most the read or write budget (issue 8), and so do call's commands unless
 * fill_on: a read whose answer the cache keeps goes on after the client was answered (a stale
 * copy or 503) until its route deadline, so that a store slower than the budget still fills
 * the cache and the next reads hit instead of every one missing for ever.
 */
static void
api_budget_use(struct http_req *r, struct api_call *call, enum http_budget budget, int fill_on)
{
	uint64_t deadline;

	r->budget = budget;
	if (fill_on)
		return;
	deadline = clock_mono_ms() + (uint64_t)http_deadline_ms(r);
	if (deadline < call->deadline_ms)
		call->deadline_ms = deadline;
}

void
api_defer(struct http_req *r, http_work_fn work, struct api_call *call)
{
	struct http_response res;

	api_budget_use(r, call, HTTP_BUDGET_WRITE, 0);
	http_response_init(&res);
	if (store_refused(r->worker, &res)) {
		api_call_free(call);
		http_respond(r, &res);
		return;
	}
	http_response_free(&res);
	call->work = work;
	http_defer(r, store_work, call, api_call_free);
}

static void api_answer_one_error(struct http_req *r, const char *field, const char *message);

/* Reads the Idempotency-Key of r into call->idem; 400 (and -1) when it is malformed or sent
 * more than once (the draft: one key per request). */
static int
api_idempotency_or_answer(struct http_req *r, struct api_call *call)
{
	char key[IDEMPOTENCY_KEY_MAX + 1];
	const char *value, *why = NULL;
	size_t len = 0;
	int n = http_header_count(r, "idempotency-key");

	if (n == 0)
		return 0;
	value = http_header(r, "idempotency-key", &len);
	if (n > 1)
		why = "Idempotency-Key must be sent once";
	if (why != NULL || idempotency_key_parse(value, len, key, sizeof(key), &why) != 0) {
		api_answer_one_error(r, "Idempotency-Key", why);
		return -1;
	}
	idempotency_scope(call->who.sub, call->who.org, key, call->idem.scope);
	idempotency_fingerprint(http_method_name(r->method), r->path, r->body, r->body_len,
				call->idem.fingerprint);
	call->idem.on = 1;
	return 0;
}

void
api_defer_create(struct http_req *r, http_work_fn work, struct api_call *call)
{
	if (api_idempotency_or_answer(r, call) != 0) {
		api_call_free(call);
		return;
	}
	api_defer(r, work, call);
}

/* A deep copy of a call (cache warming refetches a hot key with it). */
static void *
api_call_copy(const void *p)
{
	const struct api_call *call = p;
	struct api_call *copy = malloc(sizeof(*copy));

	if (copy == NULL)
		return NULL;
	*copy = *call;
	copy->body = call->body != NULL ? bson_copy(call->body) : NULL;
	copy->unset = call->unset != NULL ? bson_copy(call->unset) : NULL;
	copy->filter = call->filter != NULL ? bson_copy(call->filter) : NULL;
	copy->projection = call->projection != NULL ? bson_copy(call->projection) : NULL;
	return copy;
}

static const struct readcache_arg_ops api_call_ops = {api_call_free, api_call_renew, api_call_copy};

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
	api_budget_use(r, call, HTTP_BUDGET_READ, !spec.uncached && r->worker->conf->cache_enabled);
	call->work = work;
	readcache_get(r, &spec, store_work, call, &api_call_ops);
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

	if (r->verified != NULL) { /* the rate limit verified it moments ago */
		*who = *r->verified;
		return 0;
	}
	h = http_header(r, "authorization", &len);
	now_s = (uint64_t)(clock_wall_ms() / 1000);
	if (auth_check(r->worker->auth, r->worker->auth_memo, h, len, now_s, who, err,
		       sizeof(err)) == 0)
		return 0;
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
		api_answer_one_error(
		    r, name, "is too long, badly encoded, not UTF-8 or holds a control byte");
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
api_query_int_or_answer(struct http_req *r, const char *name, int64_t min, int64_t max,
			int64_t *value, int *present)
{
	char v[24], msg[96];
	int rc = api_query_value(r, name, v, sizeof(v));
	int64_t n = 0;
	size_t i;

	*present = 0;
	if (rc <= 0)
		return rc;
	for (i = 0; v[i] != '\0' && v[i] >= '0' && v[i] <= '9' && n <= max; i++)
		n = n * 10 + (v[i] - '0');
	if (i == 0 || v[i] != '\0' || n < min || n > max) {
		snprintf(msg, sizeof(msg), "must be a whole number from %lld to %lld",
			 (long long)min, (long long)max);
		api_answer_one_error(r, name, msg);
		return -1;
	}
	*value = n;
	*present = 1;
	return 0;
}

void
api_answer_field_error(struct http_req *r, const char *field, const char *message)
{
	api_answer_one_error(r, field, message);
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
