/*
 * http_response.c: struct http_response, the answer a handler or a backend thread builds
 * before the loop thread sends it (http_respond in http.c).
 *
 * Plain data, no engine: status, content type, up to HTTP_MAX_HEADERS headers (owned copies or
 * borrowed string literals) and a body (owned, or borrowed through body_ref). Errors are
 * problem+json (RFC 9457), the one error shape of the service.
 */
#include "http.h"
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "validate.h"

void
http_response_init(struct http_response *res)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->body);
}

void
http_response_free(struct http_response *res)
{
	int i;

	for (i = 0; i < res->nheaders; i++)
		if (!res->headers[i].borrowed)
			free(res->headers[i].value);
	buf_free(&res->body);
	res->body_ref = NULL;
	res->nheaders = 0;
}

void
http_response_header(struct http_response *res, const char *name, const char *value)
{
	struct http_header *h;

	if (res->nheaders == HTTP_MAX_HEADERS)
		abort(); /* a programming error: raise HTTP_MAX_HEADERS */
	h = &res->headers[res->nheaders++];
	h->name = name;
	h->borrowed = 0;
	if ((h->value = strdup(value)) == NULL)
		abort();
}

void
http_response_header_static(struct http_response *res, const char *name, const char *value)
{
	struct http_header *h;

	if (res->nheaders == HTTP_MAX_HEADERS)
		abort(); /* a programming error: raise HTTP_MAX_HEADERS */
	h = &res->headers[res->nheaders++];
	h->name = name;
	h->value = (char *)value; /* never written, never freed: borrowed */
	h->borrowed = 1;
}

void
http_response_json(struct http_response *res, int status, struct buf *body)
{
	res->status = status;
	res->content_type = "application/json";
	buf_free(&res->body);
	res->body = *body;
	buf_init(body);
}

void
http_response_problem_errors(struct http_response *res, int status, const char *detail,
			     const struct validate_errors *errs)
{
	struct json j;
	int i;

	res->status = status;
	res->content_type = "application/problem+json";
	buf_reset(&res->body);
	json_init(&j, &res->body);
	json_object_begin(&j);
	json_kv_string(&j, "type", "about:blank");
	json_kv_string(&j, "title", http_status_reason(status));
	json_kv_int(&j, "status", status);
	json_kv_string(&j, "detail", detail);
	if (errs != NULL) {
		json_key(&j, "errors");
		json_array_begin(&j);
		for (i = 0; i < errs->n; i++) {
			json_object_begin(&j);
			json_kv_string(&j, "field", errs->items[i].field);
			json_kv_string(&j, "message", errs->items[i].message);
			json_object_end(&j);
		}
		json_array_end(&j);
	}
	json_object_end(&j);
}

void
http_response_problem(struct http_response *res, int status, const char *detail)
{
	http_response_problem_errors(res, status, detail, NULL);
}

/*
 * Adds "instance": "urn:request:<id>" to a problem+json body written by
 * http_response_problem_errors (an object that ends with '}'), once (RFC 9457 §3.1.5: the
 * occurrence; the id names it in the access and slow logs too). Other bodies are left alone.
 */
void
http_response_add_instance(struct http_response *res, const char *id)
{
	struct buf b;

	if (id[0] == '\0' || res->content_type == NULL ||
	    strcmp(res->content_type, "application/problem+json") != 0)
		return;
	buf_init(&b);
	if (res->body_ref != NULL)
		buf_append(&b, res->body_ref, res->body_ref_len);
	else if (res->body.len > 0)
		buf_append(&b, res->body.data, res->body.len);
	if (b.len < 2 || b.data[b.len - 1] != '}' || strstr(b.data, "\"instance\":") != NULL) {
		buf_free(&b);
		return;
	}
	b.len--; /* the closing brace */
	buf_appends(&b, ",\"instance\":\"urn:request:");
	json_escape(&b, id, strlen(id));
	buf_appends(&b, "\"}");
	buf_free(&res->body);
	res->body = b;
	res->body_ref = NULL;
	res->body_ref_len = 0;
}

/* The response's own header `name`, or NULL. */
const char *
http_response_find(const struct http_response *res, const char *name)
{
	int i;

	for (i = 0; i < res->nheaders; i++)
		if (strcmp(res->headers[i].name, name) == 0)
			return res->headers[i].value;
	return NULL;
}

/* A copy of res for another request (bodies and owned values copied). */
void
http_response_copy(struct http_response *dst, const struct http_response *src)
{
	int i;

	http_response_init(dst);
	dst->status = src->status;
	dst->content_type = src->content_type;
	if (src->body_ref != NULL)
		buf_append(&dst->body, src->body_ref, src->body_ref_len);
	else
		buf_append(&dst->body, src->body.data != NULL ? src->body.data : "", src->body.len);
	for (i = 0; i < src->nheaders; i++) {
		if (src->headers[i].borrowed)
			http_response_header_static(dst, src->headers[i].name,
						    src->headers[i].value);
		else
			http_response_header(dst, src->headers[i].name, src->headers[i].value);
	}
}
