/*
 * openapi.h: the service's OpenAPI 3.1 document (assets/openapi.json), embedded in the binary
 * at build time and served without a token (issue 10, "OpenAPI 3.1 contract").
 */
#ifndef ENTERPRISED_OPENAPI_H
#define ENTERPRISED_OPENAPI_H

#include <stddef.h>

#include "http.h"

/* GET /api/v1/openapi.json: 200 application/json with an ETag (304 on If-None-Match, through
 * http_respond), public and revalidated on every use. */
void openapi_get(struct http_req *r);

/* The embedded document's bytes and length in bytes (not NUL-terminated in the count). */
const char *openapi_document(size_t *len);

#endif
