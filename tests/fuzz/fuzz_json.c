/*
 * fuzz_json: the JSON writer (src/json.c) on any BSON a database could hand back. The input is a
 * BSON document; when libbson finds it well-formed, json_bson_document writes it as the API
 * does and libbson must read the output back as one JSON document (strict RFC 8259 output:
 * every string escaped, invalid UTF-8 replaced, NaN and infinities written as null).
 */
#include "fuzz.h"

#include "buf.h"
#include "json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_error_t error;
	struct json j;
	struct buf b;
	bson_t doc, *back;

	if (size > 65536 || !bson_init_static(&doc, data, size))
		return 0;
	if (!bson_validate(&doc, BSON_VALIDATE_NONE, NULL))
		return 0;
	buf_init(&b);
	json_init(&j, &b);
	json_bson_document(&j, &doc);
	buf_append(&b, "", 0);
	back = bson_new_from_json((const uint8_t *)b.data, (ssize_t)b.len, &error);
	if (back == NULL)
		fprintf(stderr, "writer output not read back (%s): %s\n", error.message, b.data);
	FUZZ_ASSERT(back != NULL);
	bson_destroy(back);
	buf_free(&b);
	return 0;
}
