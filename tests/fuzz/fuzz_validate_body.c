/*
 * fuzz_validate_body: a request body through validate_body with the real field tables of
 * organizations, clinics and assignments (src/validate.c), then what it accepted through the
 * JSON writer (src/json.c). The first byte picks the table and the mode (create or patch); the
 * rest is the body.
 *
 * Properties: no crash; VALIDATE_MALFORMED and VALIDATE_INVALID name a problem; the error count
 * stays within VALIDATE_MAX_ERRORS; an accepted body gives BSON whose top-level names are the
 * table's, with no key at any depth that starts with '$' or holds a '.' (validate.h: such keys
 * reject the whole body, escaped or not), and that the JSON writer turns into JSON that libbson
 * reads back; an accepted body is exactly one RFC 8259 value with no byte-order mark (jansson's
 * strict reader, an independent parser, takes it whole: issue 7 §3).
 */
#include "fuzz.h"

#include "api.h"
#include "assignments.h"
#include "buf.h"
#include "clinics.h"
#include "json.h"
#include "organizations.h"
#include "validate.h"

#include "oracle.h"

/* No key in doc, at any depth, that MongoDB would read as an operator or a path. */
static void
fuzz_keys_plain(const bson_t *doc)
{
	bson_iter_t it, child;

	FUZZ_ASSERT(bson_iter_init(&it, doc));
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		FUZZ_ASSERT(key[0] != '$' && strchr(key, '.') == NULL);
		if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) &&
		    bson_iter_recurse(&it, &child)) {
			uint32_t len;
			const uint8_t *data;
			bson_t sub;

			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &len, &data);
			else
				bson_iter_array(&it, &len, &data);
			FUZZ_ASSERT(bson_init_static(&sub, data, len));
			fuzz_keys_plain(&sub);
		}
	}
}

/* Every top-level name of doc is one of the table's. */
static void
fuzz_names_known(const bson_t *doc, const struct validate_field *fields)
{
	bson_iter_t it;
	int i, found;

	FUZZ_ASSERT(bson_iter_init(&it, doc));
	while (bson_iter_next(&it)) {
		for (found = 0, i = 0; fields[i].name != NULL && !found; i++)
			found = strcmp(fields[i].name, bson_iter_key(&it)) == 0;
		FUZZ_ASSERT(found);
	}
}

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
		FUZZ_ASSERT(oracle_json_strict(data + 1, size - 1));
		fuzz_keys_plain(&set);
		fuzz_names_known(&set, fields);
		fuzz_names_known(&unset, fields);
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
