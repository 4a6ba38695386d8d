/*
 * test_json_bson.c: BSON documents as the API writes them (json_bson_document,
 * json_bson_value and json_iso8601 in src/json.c). Every rendered document is also parsed
 * back with libbson, so no test passes on output that is not JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

#define TEST_OID "65540f00aabbccddeeff0011"
#define TEST_OID2 "65540f00aabbccddeeff0022"

/* doc as API JSON; the result is malloc'd, and checked to parse back. */
static char *
test_render(const bson_t *doc)
{
	struct buf b;
	struct json j;
	bson_error_t error;
	bson_t *back;
	char *out;

	buf_init(&b);
	json_init(&j, &b);
	json_bson_document(&j, doc);
	assert_non_null(b.data);
	back = bson_new_from_json((const uint8_t *)b.data, (ssize_t)b.len, &error);
	if (back == NULL)
		fail_msg("output does not parse back (%s): %s", error.message, b.data);
	bson_destroy(back);
	out = strdup(b.data);
	buf_free(&b);
	return out;
}

/* Renders doc, compares with want, frees both. */
static void
test_renders_as(bson_t *doc, const char *want)
{
	char *got = test_render(doc);

	assert_string_equal(got, want);
	free(got);
	bson_destroy(doc);
}

/* {"v": <date ms>} rendered. */
static void
test_date_renders_as(int64_t ms, const char *want)
{
	bson_t *doc = bson_new();
	char expect[96];

	BSON_APPEND_DATE_TIME(doc, "v", ms);
	snprintf(expect, sizeof(expect), "{\"v\":\"%s\"}", want);
	test_renders_as(doc, expect);
}

/* {"v": <double>} rendered. */
static void
test_double_renders_as(double d, const char *want)
{
	bson_t *doc = bson_new();
	char expect[96];

	BSON_APPEND_DOUBLE(doc, "v", d);
	snprintf(expect, sizeof(expect), "{\"v\":%s}", want);
	test_renders_as(doc, expect);
}

static void
test_id_comes_first_as_id_in_hex(void **state)
{
	bson_t *doc = bson_new();
	bson_oid_t oid;

	bson_oid_init_from_string(&oid, TEST_OID);
	BSON_APPEND_UTF8(doc, "name", "Acme");
	BSON_APPEND_OID(doc, "_id", &oid);
	BSON_APPEND_INT32(doc, "version", 3);
	test_renders_as(doc, "{\"id\":\"" TEST_OID "\",\"name\":\"Acme\",\"version\":3}");
}

static void
test_id_that_is_not_an_objectid_is_still_id(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_UTF8(doc, "_id", "health");
	BSON_APPEND_BOOL(doc, "ok", true);
	test_renders_as(doc, "{\"id\":\"health\",\"ok\":true}");
}

static void
test_document_without_id_has_no_id(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_UTF8(doc, "name", "x");
	test_renders_as(doc, "{\"name\":\"x\"}");
}

static void
test_empty_document_is_an_empty_object(void **state)
{
	test_renders_as(bson_new(), "{}");
}

static void
test_nested_objectids_are_hex_strings(void **state)
{
	bson_t *doc = bson_new(), sub, arr;
	bson_oid_t a, b;

	bson_oid_init_from_string(&a, TEST_OID);
	bson_oid_init_from_string(&b, TEST_OID2);
	BSON_APPEND_OID(doc, "organizationId", &a);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "ref", &sub);
	BSON_APPEND_OID(&sub, "clinicId", &b);
	bson_append_document_end(doc, &sub);
	BSON_APPEND_ARRAY_BEGIN(doc, "ids", &arr);
	BSON_APPEND_OID(&arr, "0", &a);
	BSON_APPEND_OID(&arr, "1", &b);
	bson_append_array_end(doc, &arr);
	test_renders_as(doc,
			"{\"organizationId\":\"" TEST_OID "\",\"ref\":{\"clinicId\":\"" TEST_OID2
			"\"},\"ids\":[\"" TEST_OID "\",\"" TEST_OID2 "\"]}");
}

static void
test_nested_id_keeps_its_name_and_place(void **state)
{
	bson_t *doc = bson_new(), sub;
	bson_oid_t a;

	bson_oid_init_from_string(&a, TEST_OID);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "sub", &sub);
	BSON_APPEND_INT32(&sub, "n", 1);
	BSON_APPEND_OID(&sub, "_id", &a);
	bson_append_document_end(doc, &sub);
	test_renders_as(doc, "{\"sub\":{\"n\":1,\"_id\":\"" TEST_OID "\"}}");
}

static void
test_date_zero_is_the_epoch(void **state)
{
	test_date_renders_as(0, "1970-01-01T00:00:00.000Z");
}

static void
test_date_keeps_milliseconds(void **state)
{
	test_date_renders_as(INT64_C(1700000000123), "2023-11-14T22:13:20.123Z");
	test_date_renders_as(INT64_C(1700000000007), "2023-11-14T22:13:20.007Z");
	test_date_renders_as(INT64_C(1700000000999), "2023-11-14T22:13:20.999Z");
}

static void
test_date_before_1970_is_correct(void **state)
{
	test_date_renders_as(-1, "1969-12-31T23:59:59.999Z");
	test_date_renders_as(-999, "1969-12-31T23:59:59.001Z");
	test_date_renders_as(-1000, "1969-12-31T23:59:59.000Z");
	test_date_renders_as(-1001, "1969-12-31T23:59:58.999Z");
	test_date_renders_as(INT64_C(-2208988800000), "1900-01-01T00:00:00.000Z");
	test_date_renders_as(INT64_C(-2208988799877), "1900-01-01T00:00:00.123Z");
}

static void
test_date_past_2038_is_correct(void **state)
{
	test_date_renders_as(INT64_C(2147483648000), "2038-01-19T03:14:08.000Z");
	test_date_renders_as(INT64_C(4102444800500), "2100-01-01T00:00:00.500Z");
	test_date_renders_as(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
}

static void
test_extreme_dates_still_give_json(void **state)
{
	const int64_t extremes[] = {INT64_MAX, INT64_MIN, INT64_MAX - 999, INT64_MIN + 1,
				    INT64_C(253402300800000)};
	size_t i;

	for (i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++) {
		bson_t *doc = bson_new();
		char *got;

		BSON_APPEND_DATE_TIME(doc, "v", extremes[i]);
		got = test_render(doc); /* parses back */
		assert_int_equal(strncmp(got, "{\"v\":\"", 6), 0);
		assert_non_null(strstr(got, "Z\"}"));
		free(got);
		bson_destroy(doc);
	}
	test_date_renders_as(INT64_MAX, "292278994-08-17T07:12:55.807Z");
	test_date_renders_as(INT64_MIN, "-292275055-05-16T16:47:04.192Z");
}

static void
test_iso8601_writes_the_utc_form(void **state)
{
	char out[32];

	json_iso8601(INT64_C(1785456000042), out);
	assert_string_equal(out, "2026-07-31T00:00:00.042Z");
	json_iso8601(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void
test_int32_and_int64_are_numbers(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_INT32(doc, "a", 0);
	BSON_APPEND_INT32(doc, "b", INT32_MIN);
	BSON_APPEND_INT32(doc, "c", INT32_MAX);
	BSON_APPEND_INT64(doc, "d", INT64_MIN);
	BSON_APPEND_INT64(doc, "e", INT64_MAX);
	test_renders_as(doc, "{\"a\":0,\"b\":-2147483648,\"c\":2147483647,"
			     "\"d\":-9223372036854775808,\"e\":9223372036854775807}");
}

static void
test_integral_doubles_are_integers(void **state)
{
	test_double_renders_as(3.0, "3");
	test_double_renders_as(-2.0, "-2");
	test_double_renders_as(0.0, "0");
	test_double_renders_as(-0.0, "0");
	test_double_renders_as(1e15, "1000000000000000");
}

static void
test_large_integral_doubles_keep_their_value(void **state)
{
	test_double_renders_as(9007199254740992.0, "9007199254740992"); /* 2^53 */
	test_double_renders_as(1e16, "10000000000000000");
	test_double_renders_as(-1e18, "-1000000000000000000");
}

static void
test_doubles_past_int64_are_numbers(void **state)
{
	test_double_renders_as(1e300, "1e+300");
	test_double_renders_as(-1e300, "-1e+300");
	test_double_renders_as(9223372036854775808.0, "9.223372036854776e+18");
}

static void
test_fractional_doubles_are_short(void **state)
{
	test_double_renders_as(0.1, "0.1");
	test_double_renders_as(-1.5, "-1.5");
	test_double_renders_as(40.7128, "40.7128");
	test_double_renders_as(1e-7, "1e-07");
}

static void
test_fractional_doubles_read_back_as_stored(void **state)
{
	const double values[] = {0.1 + 0.2,	      1.0 / 3.0, 2.0 / 3.0,
				 123456.789012345678, 5e-324,	 1.7976931348623157e308};
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		bson_t *doc = bson_new(), *back;
		bson_iter_t it;
		bson_error_t error;
		char *got;

		BSON_APPEND_DOUBLE(doc, "v", values[i]);
		got = test_render(doc);
		back = bson_new_from_json((const uint8_t *)got, -1, &error);
		assert_non_null(back);
		assert_true(bson_iter_init_find(&it, back, "v"));
		if (bson_iter_as_double(&it) != values[i])
			fail_msg("%.17g rendered as %s", values[i], got);
		bson_destroy(back);
		free(got);
		bson_destroy(doc);
	}
}

static void
test_nan_and_infinite_doubles_are_null(void **state)
{
	test_double_renders_as(NAN, "null");
	test_double_renders_as(INFINITY, "null");
	test_double_renders_as(-INFINITY, "null");
}

static void
test_bool_and_null(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_BOOL(doc, "t", true);
	BSON_APPEND_BOOL(doc, "f", false);
	BSON_APPEND_NULL(doc, "n");
	BSON_APPEND_UNDEFINED(doc, "u");
	test_renders_as(doc, "{\"t\":true,\"f\":false,\"n\":null,\"u\":null}");
}

static void
test_nested_documents_and_arrays(void **state)
{
	bson_t *doc = bson_new(), addr, geo, tags, empty, emptyarr, inner;

	BSON_APPEND_DOCUMENT_BEGIN(doc, "address", &addr);
	BSON_APPEND_UTF8(&addr, "city", "Boston");
	BSON_APPEND_DOCUMENT_BEGIN(&addr, "geo", &geo);
	BSON_APPEND_DOUBLE(&geo, "lat", 42.5);
	BSON_APPEND_INT32(&geo, "n", 2);
	bson_append_document_end(&addr, &geo);
	bson_append_document_end(doc, &addr);
	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &tags);
	BSON_APPEND_UTF8(&tags, "0", "a");
	BSON_APPEND_ARRAY_BEGIN(&tags, "1", &inner);
	BSON_APPEND_INT32(&inner, "0", 1);
	BSON_APPEND_INT32(&inner, "1", 2);
	bson_append_array_end(&tags, &inner);
	BSON_APPEND_DOCUMENT_BEGIN(&tags, "2", &empty);
	bson_append_document_end(&tags, &empty);
	bson_append_array_end(doc, &tags);
	BSON_APPEND_ARRAY_BEGIN(doc, "none", &emptyarr);
	bson_append_array_end(doc, &emptyarr);
	test_renders_as(doc, "{\"address\":{\"city\":\"Boston\",\"geo\":{\"lat\":42.5,\"n\":2}},"
			     "\"tags\":[\"a\",[1,2],{}],\"none\":[]}");
}

static void
test_deep_nesting_still_gives_json(void **state)
{
	enum { DEPTH = 90 }; /* past JSON_MAX_DEPTH, within what libbson reads back (100) */
	bson_t *docs[DEPTH];
	char *got;
	int i;

	for (i = 0; i < DEPTH; i++) {
		docs[i] = bson_new();
		BSON_APPEND_INT32(docs[i], "a", i);
	}
	for (i = DEPTH - 1; i > 0; i--) {
		BSON_APPEND_DOCUMENT(docs[i - 1], "d", docs[i]);
		BSON_APPEND_INT32(docs[i - 1], "z", i - 1);
	}
	got = test_render(docs[0]); /* parses back */
	assert_int_equal(strncmp(got, "{\"a\":0,\"d\":{\"a\":1,\"d\":", 20), 0);
	assert_non_null(strstr(got, "},\"z\":0}"));
	free(got);
	for (i = 0; i < DEPTH; i++)
		bson_destroy(docs[i]);
}

static void
test_strings_with_quotes_and_control_characters_are_escaped(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_UTF8(doc, "q", "say \"hi\" \\ now");
	BSON_APPEND_UTF8(doc, "c",
			 "a\nb\tc\rd\x01"
			 "e\x1f");
	BSON_APPEND_UTF8(doc, "k\"ey", "v");
	test_renders_as(doc,
			"{\"q\":\"say \\\"hi\\\" \\\\ now\",\"c\":\"a\\nb\\tc\\rd\\u0001e\\u001f\","
			"\"k\\\"ey\":\"v\"}");
}

static void
test_strings_keep_utf8(void **state)
{
	bson_t *doc = bson_new();

	BSON_APPEND_UTF8(doc, "name", "Zürich – 東京 😀");
	test_renders_as(doc, "{\"name\":\"Zürich – 東京 😀\"}");
}

static void
test_string_with_an_embedded_nul_is_kept_escaped(void **state)
{
	bson_t *doc = bson_new();

	bson_append_utf8(doc, "s", -1, "a\0b", 3);
	test_renders_as(doc, "{\"s\":\"a\\u0000b\"}");
}

static void
test_decimal128_is_a_string(void **state)
{
	bson_t *doc = bson_new();
	bson_decimal128_t dec;

	assert_true(bson_decimal128_from_string("1234.50", &dec));
	BSON_APPEND_DECIMAL128(doc, "amount", &dec);
	test_renders_as(doc, "{\"amount\":\"1234.50\"}");
}

static void
test_unknown_types_are_null(void **state)
{
	bson_t *doc = bson_new();
	const uint8_t bin[] = {1, 2, 3};

	BSON_APPEND_REGEX(doc, "re", "^a.*", "i");
	BSON_APPEND_BINARY(doc, "bin", BSON_SUBTYPE_BINARY, bin, sizeof(bin));
	BSON_APPEND_TIMESTAMP(doc, "ts", 1, 2);
	BSON_APPEND_MINKEY(doc, "min");
	BSON_APPEND_MAXKEY(doc, "max");
	BSON_APPEND_CODE(doc, "code", "function(){}");
	test_renders_as(doc, "{\"re\":null,\"bin\":null,\"ts\":null,\"min\":null,\"max\":null,"
			     "\"code\":null}");
}

static void
test_value_alone_writes_one_json_value(void **state)
{
	bson_t *doc = bson_new();
	bson_iter_t it;
	struct buf b;
	struct json j;

	BSON_APPEND_INT32(doc, "a", 7);
	BSON_APPEND_UTF8(doc, "b", "x");
	buf_init(&b);
	json_init(&j, &b);
	json_array_begin(&j);
	assert_true(bson_iter_init(&it, doc));
	while (bson_iter_next(&it))
		json_bson_value(&j, &it);
	json_array_end(&j);
	assert_string_equal(b.data, "[7,\"x\"]");
	buf_free(&b);
	bson_destroy(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_comes_first_as_id_in_hex),
	    cmocka_unit_test(test_id_that_is_not_an_objectid_is_still_id),
	    cmocka_unit_test(test_document_without_id_has_no_id),
	    cmocka_unit_test(test_empty_document_is_an_empty_object),
	    cmocka_unit_test(test_nested_objectids_are_hex_strings),
	    cmocka_unit_test(test_nested_id_keeps_its_name_and_place),
	    cmocka_unit_test(test_date_zero_is_the_epoch),
	    cmocka_unit_test(test_date_keeps_milliseconds),
	    cmocka_unit_test(test_date_before_1970_is_correct),
	    cmocka_unit_test(test_date_past_2038_is_correct),
	    cmocka_unit_test(test_extreme_dates_still_give_json),
	    cmocka_unit_test(test_iso8601_writes_the_utc_form),
	    cmocka_unit_test(test_int32_and_int64_are_numbers),
	    cmocka_unit_test(test_integral_doubles_are_integers),
	    cmocka_unit_test(test_large_integral_doubles_keep_their_value),
	    cmocka_unit_test(test_doubles_past_int64_are_numbers),
	    cmocka_unit_test(test_fractional_doubles_are_short),
	    cmocka_unit_test(test_fractional_doubles_read_back_as_stored),
	    cmocka_unit_test(test_nan_and_infinite_doubles_are_null),
	    cmocka_unit_test(test_bool_and_null),
	    cmocka_unit_test(test_nested_documents_and_arrays),
	    cmocka_unit_test(test_deep_nesting_still_gives_json),
	    cmocka_unit_test(test_strings_with_quotes_and_control_characters_are_escaped),
	    cmocka_unit_test(test_strings_keep_utf8),
	    cmocka_unit_test(test_string_with_an_embedded_nul_is_kept_escaped),
	    cmocka_unit_test(test_decimal128_is_a_string),
	    cmocka_unit_test(test_unknown_types_are_null),
	    cmocka_unit_test(test_value_alone_writes_one_json_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
