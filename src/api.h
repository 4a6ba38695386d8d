/*
 * api.h: the loop-thread half of what every resource handler does the same way: authenticate,
 * read ids, bodies and query strings, check access, build the call and defer it (through the
 * read cache for reads). The backend-thread half, which runs MongoDB commands and turns their
 * results and errors into answers, is store.h. The resource files (organizations.c,
 * clinics.c, assignments.c) hold only what is theirs: fields, rules and queries.
 *
 * Handlers run on the loop thread and return after answering or deferring; nothing here
 * blocks. Functions named api_*_or_answer answer the request themselves when they fail and
 * return -1; the handler then just returns.
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
#include "idempotency.h"
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
	struct idempotency idem; /* Idempotency-Key of a create (api_defer_create) */

	/* what a successful write changed, for the read cache (store_changed) */
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
/* call's budget starts again: budget_ms from now (a background refresh of a cached read). */
void api_call_renew(void *call, int budget_ms);
/* Defers work with call as its argument (the job, store_work, frees it). What the work names
 * with store_changed is invalidated in the read cache after it, before the answer. */
void api_defer(struct http_req *r, http_work_fn work, struct api_call *call);

/*
 * api_defer for a POST that creates (issue 10): with an Idempotency-Key header, the key is
 * checked (400 problem+json when malformed or sent twice, idempotency_key_parse) and scoped to
 * the caller (sub and organization), and the request's fingerprint taken; store_work then runs
 * the work at most once per key (idempotency.h). Without the header, api_defer.
 */
void api_defer_create(struct http_req *r, http_work_fn work, struct api_call *call);

/*
 * api_defer for a cacheable read: answered from the read cache when it can be, keyed by
 * resource, the caller's scope, path and canonical query (readcache_key_build), kept ttl_s seconds,
 * stale once one of deps (a NULL-terminated list of at most READCACHE_MAX_DEPS names) is named by a
 * write.
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
/* A decimal integer in min..max (no sign, no spaces); 400 naming it otherwise. */
int api_query_int_or_answer(struct http_req *r, const char *name, int64_t min, int64_t max,
			    int64_t *value, int *present);
/* Answers 400 with one `errors` entry naming field (a parameter checked beyond its type). */
void api_answer_field_error(struct http_req *r, const char *field, const char *message);
/* A free-text value (1 to outlen-1 bytes); 400 when empty, too long or badly encoded. */
int api_query_string_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			       int *present);
int api_query_ident_or_answer(struct http_req *r, const char *name, char *out, size_t outlen,
			      int *present);

/* Answers 400 (or status) as problem+json with an `errors` array. */
void api_answer_errors(struct http_req *r, int status, const char *detail,
		       const struct validate_errors *errs);

/* Field tables shared by resources. */
extern const struct validate_field api_address_fields[];

/* Organization-level access: reads need the caller's own organization (or platform_admin);
 * writes need org_admin of it (or platform_admin). Answers 404 for another organization's
 * records (their existence is not revealed) and 403 for a write the role may not make. */
int api_org_access_or_answer(struct http_req *r, const struct auth_principal *who,
			     const bson_oid_t *org, int write);

/* The caller's organization id as an ObjectId; 0, or -1 for platform_admin. */
int api_principal_org(const struct auth_principal *who, bson_oid_t *org);

#endif
