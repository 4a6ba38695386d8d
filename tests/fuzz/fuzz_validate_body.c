/*
 * fuzz_validate_body: a request body through validate_body with the real field tables of
 * organizations, clinics and assignments (src/validate.c), then what it accepted through the
 * JSON writer (src/json.c). The first byte picks the table and the mode (create or patch); the
 * rest is the body.
 *
 * Properties: no crash; VALIDATE_MALFORMED and VALIDATE_INVALID name a problem; the error count
 * stays within VALIDATE_MAX_ERRORS; an accepted body gives BSON that the JSON writer turns into
 * JSON that libbson reads back.
 */
#include "fuzz.h"

#include "api.h"
#include "assignments.h"
#include "buf.h"
#include "clinics.h"
#include "json.h"
#include "organizations.h"
#include "validate.h"

static void
fuzz_round_trip(const bson_t *doc)
{
	struct buf b;
	struct json j;
	bson_error_t error;
	bson_t *back;

	buf_init(&b);
	json_init(&j, &b);
	json_bson_document(&j, doc);
	buf_append(&b, "", 0);
	back = bson_new_from_json((const uint8_t *)b.data, (ssize_t)b.len, &error);
	if (back == NULL)
		fprintf(stderr, "writer output not read back (%s): %s\n", error.message, b.data);
	FUZZ_ASSERT(back != NULL);
	bson_destroy(back);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct validate_field *const tables[] = {
	    organizations_fields, clinics_fields, assignments_fields, api_address_fields};
	const struct validate_field *fields;
	struct validate_errors errs;
	enum validate_result vr;
	enum validate_mode mode;
	bson_t set, unset;

	if (size < 1)
		return 0;
	fields = tables[data[0] % 4];
	mode = (data[0] & 0x10) ? VALIDATE_PATCH : VALIDATE_CREATE;
	bson_init(&set);
	bson_init(&unset);
	memset(&errs, 0, sizeof(errs));
	vr = validate_body(fields, (const char *)data + 1, size - 1, mode, &set, &unset, &errs);
	FUZZ_ASSERT(errs.n >= 0 && errs.n <= VALIDATE_MAX_ERRORS);
	if (vr == VALIDATE_OK) {
		fuzz_round_trip(&set);
		fuzz_round_trip(&unset);
	} else {
		FUZZ_ASSERT(vr == VALIDATE_MALFORMED || vr == VALIDATE_INVALID);
		FUZZ_ASSERT(errs.n >= 1);
		FUZZ_ASSERT(memchr(errs.items[0].message, '\0', sizeof(errs.items[0].message)));
	}
	bson_destroy(&set);
	bson_destroy(&unset);
	return 0;
}
