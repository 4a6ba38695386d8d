/*
 * openapi.c: serves assets/openapi.json, the contract of the API (see openapi.h).
 *
 * The document is put into the binary by the assembler's .incbin at build time (the Makefile
 * makes openapi.o depend on the file), so a worker never reads a file per request and needs
 * no file system at all once started (issue 12's chroot). It is served from read-only memory
 * by reference; http_respond computes its ETag and answers 304 to a matching If-None-Match.
 *
 * The document is checked in `make test` by tools/contract: linted, its method and path pairs
 * compared with the route table both ways, and every response the e2e suite received validated
 * against its schema.
 */
#include "openapi.h"

/* clang-format off */
__asm__(".pushsection .rodata\n"
	".balign 16\n"
	".globl openapi_doc_start\n"
	".hidden openapi_doc_start\n"
	".globl openapi_doc_end\n"
	".hidden openapi_doc_end\n"
	"openapi_doc_start:\n"
	".incbin \"assets/openapi.json\"\n"
	"openapi_doc_end:\n"
	".byte 0\n"
	".popsection\n");
/* clang-format on */

extern const char openapi_doc_start[] __attribute__((visibility("hidden")));
extern const char openapi_doc_end[] __attribute__((visibility("hidden")));

const char *
openapi_document(size_t *len)
{
	*len = (size_t)(openapi_doc_end - openapi_doc_start);
	return openapi_doc_start;
}

void
openapi_get(struct http_req *r)
{
	struct http_response res;

	http_response_init(&res);
	res.status = 200;
	res.content_type = "application/json";
	res.body_ref = openapi_document(&res.body_ref_len);
	http_response_header_static(&res, "cache-control", "public, max-age=0, must-revalidate");
	http_respond(r, &res);
}
