/* test_json.c: the one JSON writer (src/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "buf.h"
#include "json.h"

/* The JSON string literal that json_string writes for the len bytes at s. */
static void
test_string_is(const char *s, size_t len, const char *want)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_string_len(&j, s, len);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

#define STRING_IS(lit, want) test_string_is((lit), sizeof(lit) - 1, (want))

static void
test_nested_values_get_commas_only_between_items(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_object_begin(&j);
	json_kv_string(&j, "a", "x");
	json_key(&j, "list");
	json_array_begin(&j);
	json_int(&j, 1);
	json_object_begin(&j);
	json_kv_bool(&j, "t", 1);
	json_kv_bool(&j, "f", 0);
	json_object_end(&j);
	json_array_begin(&j);
	json_array_end(&j);
	json_null(&j);
	json_array_end(&j);
	json_key(&j, "empty");
	json_object_begin(&j);
	json_object_end(&j);
	json_kv_int(&j, "n", -5);
	json_object_end(&j);
	assert_string_equal(b.data, "{\"a\":\"x\",\"list\":[1,{\"t\":true,\"f\":false},[],null],"
				    "\"empty\":{},\"n\":-5}");
	buf_free(&b);
}

static void
test_closing_a_nested_array_restores_the_outer_comma_state(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_array_begin(&j);
	json_array_begin(&j);
	json_array_begin(&j);
	json_uint(&j, 1);
	json_array_end(&j);
	json_uint(&j, 2);
	json_array_end(&j);
	json_uint(&j, 3);
	json_array_end(&j);
	assert_string_equal(b.data, "[[[1],2],3]");
	buf_free(&b);
}

static void
test_integers_cover_the_full_64_bit_range(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_array_begin(&j);
	json_int(&j, INT64_MIN);
	json_int(&j, INT64_MAX);
	json_uint(&j, UINT64_MAX);
	json_int(&j, 0);
	json_array_end(&j);
	assert_string_equal(b.data, "[-9223372036854775808,9223372036854775807,"
				    "18446744073709551615,0]");
	buf_free(&b);
}

static void
test_quotes_and_backslashes_are_escaped(void **state)
{
	STRING_IS("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"");
}

static void
test_control_characters_are_escaped(void **state)
{
	STRING_IS("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
	STRING_IS("\x01", "\"\\u0001\"");
	STRING_IS("\x1f\x08\x0c", "\"\\u001f\\u0008\\u000c\"");
	/* an embedded NUL is data when the length is given */
	STRING_IS("a\0b", "\"a\\u0000b\"");
	/* DEL is not a control character for JSON */
	STRING_IS("\x7f", "\"\x7f\"");
}

static void
test_keys_are_escaped_like_strings(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_object_begin(&j);
	json_kv_string(&j, "k\"\n", "v");
	json_object_end(&j);
	assert_string_equal(b.data, "{\"k\\\"\\n\":\"v\"}");
	buf_free(&b);
}

static void
test_valid_multibyte_utf8_is_kept(void **state)
{
	/* 2, 3 and 4 bytes, and the largest code point */
	STRING_IS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
}

static void
test_invalid_utf8_bytes_become_replacement_characters(void **state)
{
	/* a stray continuation byte, a byte never used by UTF-8, a lead byte without its tail */
	STRING_IS("a\x80z", "\"a\xef\xbf\xbdz\"");
	STRING_IS("\xff", "\"\xef\xbf\xbd\"");
	STRING_IS("\xc3"
		  "A",
		  "\"\xef\xbf\xbd"
		  "A\"");
	/* truncated at the end of the string: each byte is replaced */
	STRING_IS("\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void
test_overlong_encodings_are_rejected(void **state)
{
	/* '/' as 2, 3 and 4 bytes */
	STRING_IS("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	STRING_IS("\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	STRING_IS("\xf0\x80\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void
test_surrogates_and_code_points_past_10ffff_are_rejected(void **state)
{
	STRING_IS("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	STRING_IS("\xed\xbf\xbf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	STRING_IS("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	/* the code points on either side of the surrogates are fine */
	STRING_IS("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\"");
}

static void
test_nan_and_infinity_are_written_as_null(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_object_begin(&j);
	json_kv_double(&j, "nan", NAN, 3);
	json_kv_double(&j, "inf", INFINITY, 3);
	json_kv_double(&j, "ninf", -INFINITY, 3);
	json_kv_double(&j, "x", 1.23456, 3);
	json_kv_double(&j, "y", 2.0, 0);
	json_object_end(&j);
	assert_string_equal(b.data,
			    "{\"nan\":null,\"inf\":null,\"ninf\":null,\"x\":1.235,\"y\":2}");
	buf_free(&b);
}

static void
test_null_string_is_written_as_null(void **state)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	json_init(&j, &b);
	json_array_begin(&j);
	json_string(&j, NULL);
	json_string(&j, "");
	json_raw(&j, "{\"r\":1}");
	json_array_end(&j);
	assert_string_equal(b.data, "[null,\"\",{\"r\":1}]");
	buf_free(&b);
}

static void
test_escape_appends_without_quotes(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "x=");
	json_escape(&b, "a\"b", 3);
	assert_string_equal(b.data, "x=a\\\"b");
	assert_int_equal(b.len, strlen(b.data));
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nested_values_get_commas_only_between_items),
	    cmocka_unit_test(test_closing_a_nested_array_restores_the_outer_comma_state),
	    cmocka_unit_test(test_integers_cover_the_full_64_bit_range),
	    cmocka_unit_test(test_quotes_and_backslashes_are_escaped),
	    cmocka_unit_test(test_control_characters_are_escaped),
	    cmocka_unit_test(test_keys_are_escaped_like_strings),
	    cmocka_unit_test(test_valid_multibyte_utf8_is_kept),
	    cmocka_unit_test(test_invalid_utf8_bytes_become_replacement_characters),
	    cmocka_unit_test(test_overlong_encodings_are_rejected),
	    cmocka_unit_test(test_surrogates_and_code_points_past_10ffff_are_rejected),
	    cmocka_unit_test(test_nan_and_infinity_are_written_as_null),
	    cmocka_unit_test(test_null_string_is_written_as_null),
	    cmocka_unit_test(test_escape_appends_without_quotes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
