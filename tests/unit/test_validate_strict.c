/*
 * test_validate_strict.c: validate_body takes exactly one RFC 8259 JSON text (src/validate.c,
 * validate_strict). Every kind of input outside RFC 8259 is malformed, with a message that
 * names the problem and no parser internals; what RFC 8259 allows still passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "validate.h"

static const struct validate_field test_fields[] = {
    {"name", VALIDATE_STRING, 0, 0, 100, NULL, NULL},
    {"meta", VALIDATE_FREEFORM, 0, 0, 0, NULL, NULL},
    {NULL, VALIDATE_STRING, 0, 0, 0, NULL, NULL},
};

/* Runs body (len bytes) on create; returns the result, the first message in msg. */
static enum validate_result
test_run(const char *body, size_t len, char *msg, size_t msglen)
{
	bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;
	struct validate_errors errs;
	enum validate_result rc;

	rc = validate_body(test_fields, body, len, VALIDATE_CREATE, &set, &unset, &errs);
	snprintf(msg, msglen, "%s", errs.n > 0 ? errs.items[0].message : "");
	bson_destroy(&set);
	bson_destroy(&unset);
	return rc;
}

/* body is malformed, with one message holding want (and none of the parser's words). */
static void
test_malformed(const char *body, size_t len, const char *want)
{
	char msg[256];
	enum validate_result rc = test_run(body, len, msg, sizeof(msg));

	if (rc != VALIDATE_MALFORMED)
		fail_msg("%.*s: result %d, not malformed (%s)", (int)len, body, (int)rc, msg);
	if (strstr(msg, want) == NULL)
		fail_msg("%.*s: message '%s' lacks '%s'", (int)len, body, msg, want);
	if (strstr(msg, "LEVELS") != NULL || strstr(msg, "CANT_") != NULL ||
	    strstr(msg, "JSON_") != NULL)
		fail_msg("%.*s: parser internals in '%s'", (int)len, body, msg);
}

#define MALFORMED(body, want) test_malformed(body, sizeof(body) - 1, want)

static void
test_nan_and_infinity_in_any_case_are_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"name\":NaN}",	    "{\"name\":nan}",
	    "{\"name\":-NaN}",	    "{\"name\":Infinity}",
	    "{\"name\":-Infinity}", "{\"name\":+infinity}",
	    "{\"name\":INF}",	    "{\"meta\":{\"x\":[1,-Inf]}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_malformed(bad[i], strlen(bad[i]), "NaN and Infinity are not JSON numbers");
}

static void
test_data_after_the_value_is_refused(void **state)
{
	(void)state;
	MALFORMED("{\"name\":\"A\"}{\"name\":\"B\"}", "data follows the JSON object");
	MALFORMED("{\"name\":\"A\"} {}", "data follows the JSON object");
	MALFORMED("{\"name\":\"A\"}\n[]", "data follows the JSON object at line 2");
	MALFORMED("{\"name\":\"A\"}}", "data follows the JSON object");
	MALFORMED("{\"name\":\"A\"},", "data follows the JSON object");
	MALFORMED("{\"name\":\"A\"} x", "data follows the JSON object");
	MALFORMED("{\"name\":\"A\"} // a comment", "data follows the JSON object");
	/* a NUL byte after the value is data too */
	test_malformed("{\"name\":\"A\"}\0", 14, "data follows the JSON object");
}

static void
test_byte_order_mark_is_named(void **state)
{
	(void)state;
	MALFORMED("\xEF\xBB\xBF{\"name\":\"A\"}", "byte-order mark");
}

static void
test_non_json_syntax_is_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"name\":\"A\" /* c */}",
	    "{'name':'A'}",
	    "{\"name\":'A'}",
	    "{\"name\":\"A\",}",
	    "{\"meta\":{\"x\":[1,2,]}}",
	    "{name:\"A\"}",
	    "{\"meta\":{\"x\":01}}",
	    "{\"meta\":{\"x\":+1}}",
	    "{\"meta\":{\"x\":1.}}",
	    "{\"meta\":{\"x\":.5}}",
	    "{\"meta\":{\"x\":0x10}}",
	    "{\"name\":\"\\x41\"}",
	    "{\"name\":\"A\"",
	    "{\"meta\":{\"x\":tru}}",
	    "{\"meta\":{\"x\":undefined}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_malformed(bad[i], strlen(bad[i]), "malformed JSON at line 1");
}

static void
test_control_bytes_in_strings_are_refused(void **state)
{
	char body[32];
	unsigned c;

	(void)state;
	for (c = 0x01; c < 0x20; c++) {
		int n = snprintf(body, sizeof(body), "{\"name\":\"a%cb\"}", (char)c);

		test_malformed(body, (size_t)n, "malformed JSON at line 1");
	}
	test_malformed("{\"name\":\"a\0b\"}", 14, "malformed JSON at line 1");
}

static void
test_invalid_utf8_is_named(void **state)
{
	(void)state;
	MALFORMED("{\"name\":\"\xff\"}", "not valid UTF-8");
	MALFORMED("{\"name\":\"a\xc0\xaf\"}", "not valid UTF-8");	 /* overlong '/' */
	MALFORMED("{\"name\":\"\xed\xa0\x80\"}", "not valid UTF-8");	 /* a surrogate */
	MALFORMED("{\"name\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8"); /* past U+10FFFF */
	MALFORMED("{\"name\":\"\xe2\x82\"}", "not valid UTF-8");	 /* cut short */
	MALFORMED("{\"n\xffme\":\"A\"}", "not valid UTF-8");		 /* in a key */
}

static void
test_lone_surrogate_escapes_are_refused(void **state)
{
	(void)state;
	MALFORMED("{\"name\":\"\\ud800\"}", "invalid Unicode");
	MALFORMED("{\"name\":\"\\uDC00x\"}", "invalid Unicode");
	MALFORMED("{\"name\":\"\\ud800\\u0041\"}", "invalid Unicode");
}

static void
test_numbers_out_of_range_are_named_by_their_text(void **state)
{
	(void)state;
	MALFORMED("{\"meta\":{\"n\":99999999999999999999}}", "99999999999999999999");
	MALFORMED("{\"meta\":{\"n\":9223372036854775808}}", "9223372036854775808");
	MALFORMED("{\"meta\":{\"n\":-9223372036854775809}}", "-9223372036854775809");
	MALFORMED("{\"meta\":{\"n\":1e999}}", "1e999");
	MALFORMED("{\"meta\":{\"n\":-1e400}}", "out of range");
}

static void
test_nesting_past_the_limit_is_refused(void **state)
{
	char body[4 * VALIDATE_MAX_DEPTH + 64];
	size_t n = 0;
	int i;

	(void)state;
	/* {"meta":{"a":[[[...]]]}}: the body, meta and its object make 3 levels */
	n += (size_t)snprintf(body, sizeof(body), "{\"meta\":{\"a\":");
	for (i = 0; i < VALIDATE_MAX_DEPTH - 1; i++)
		body[n++] = '[';
	for (i = 0; i < VALIDATE_MAX_DEPTH - 1; i++)
		body[n++] = ']';
	body[n++] = '}';
	body[n++] = '}';
	test_malformed(body, n, "deeper than 32 levels");
}

static void
test_nesting_at_the_limit_passes_the_reader(void **state)
{
	char body[4 * VALIDATE_MAX_DEPTH + 64], msg[256];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)snprintf(body, sizeof(body), "{\"meta\":{\"a\":");
	for (i = 0; i < VALIDATE_MAX_DEPTH - 2; i++)
		body[n++] = '[';
	for (i = 0; i < VALIDATE_MAX_DEPTH - 2; i++)
		body[n++] = ']';
	body[n++] = '}';
	body[n++] = '}';
	assert_int_equal(test_run(body, n, msg, sizeof(msg)), VALIDATE_OK);
}

static void
test_brackets_inside_strings_do_not_nest(void **state)
{
	char body[256], msg[256];
	int n;

	(void)state;
	n = snprintf(body, sizeof(body), "{\"name\":\"%s\\\"[[[[\"}",
		     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
	assert_int_equal(test_run(body, (size_t)n, msg, sizeof(msg)), VALIDATE_OK);
}

static void
test_strict_json_that_rfc_8259_allows_is_accepted(void **state)
{
	static const char *const good[] = {
	    " \t\r\n{\"name\":\"A\"} \t\r\n",
	    "{\"name\":\"\\u00e9\\ud83d\\ude00 \xc3\xa9\xf0\x9f\x98\x80\"}",
	    "{\"meta\":{\"n\":-0.0,\"e\":1E-999,\"i\":-9223372036854775808,\"b\":[true,false,"
	    "null],\"s\":\"nan\"}}",
	    "{\"name\":\"Infinity NaN\"}",
	    "{\"meta\":{}}",
	};
	size_t i;
	char msg[256];

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (test_run(good[i], strlen(good[i]), msg, sizeof(msg)) != VALIDATE_OK)
			fail_msg("%s: refused: %s", good[i], msg);
}

static void
test_nul_escape_is_named_by_its_field(void **state)
{
	bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;
	struct validate_errors errs;
	static const char body[] = "{\"name\":\"a\\u0000b\"}";

	(void)state;
	assert_int_equal(validate_body(test_fields, body, sizeof(body) - 1, VALIDATE_CREATE, &set,
				       &unset, &errs),
			 VALIDATE_INVALID);
	assert_string_equal(errs.items[0].field, "name");
	bson_destroy(&set);
	bson_destroy(&unset);
}

static void
test_nul_escape_in_a_key_has_no_parser_words(void **state)
{
	(void)state;
	MALFORMED("{\"meta\":{\"a\\u0000b\":1}}", "NUL byte in object key");
}

static void
test_messages_carry_no_raw_bytes(void **state)
{
	char msg[256];
	size_t i;

	(void)state;
	assert_int_equal(test_run("{\"meta\":{\"x\":\xc3\xa9}}", 16, msg, sizeof(msg)),
			 VALIDATE_MALFORMED);
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
			fail_msg("byte 0x%02x in '%s'", (unsigned char)msg[i], msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nan_and_infinity_in_any_case_are_refused),
	    cmocka_unit_test(test_data_after_the_value_is_refused),
	    cmocka_unit_test(test_byte_order_mark_is_named),
	    cmocka_unit_test(test_non_json_syntax_is_refused),
	    cmocka_unit_test(test_control_bytes_in_strings_are_refused),
	    cmocka_unit_test(test_invalid_utf8_is_named),
	    cmocka_unit_test(test_lone_surrogate_escapes_are_refused),
	    cmocka_unit_test(test_numbers_out_of_range_are_named_by_their_text),
	    cmocka_unit_test(test_nesting_past_the_limit_is_refused),
	    cmocka_unit_test(test_nesting_at_the_limit_passes_the_reader),
	    cmocka_unit_test(test_brackets_inside_strings_do_not_nest),
	    cmocka_unit_test(test_strict_json_that_rfc_8259_allows_is_accepted),
	    cmocka_unit_test(test_nul_escape_is_named_by_its_field),
	    cmocka_unit_test(test_nul_escape_in_a_key_has_no_parser_words),
	    cmocka_unit_test(test_messages_carry_no_raw_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
