/*
 * test_idempotency.c: the Idempotency-Key field's parsing, the scope and fingerprint digests,
 * and the codec of what is kept in Redis (src/idempotency.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "idempotency.h"

static int
test_parse(const char *value, char *out)
{
	const char *why = NULL;
	int rc = idempotency_key_parse(value, strlen(value), out, IDEMPOTENCY_KEY_MAX + 1, &why);

	if (rc != 0)
		assert_non_null(why);
	return rc;
}

static void
test_key_as_sf_string_is_accepted_without_its_quotes(void **state)
{
	char key[IDEMPOTENCY_KEY_MAX + 1];

	(void)state;
	assert_int_equal(test_parse("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"", key), 0);
	assert_string_equal(key, "8e03978e-40d5-43e8-bc93-6894a57f9324");
}

static void
test_bare_key_is_the_same_key_as_the_quoted_one(void **state)
{
	char a[IDEMPOTENCY_KEY_MAX + 1], b[IDEMPOTENCY_KEY_MAX + 1];

	(void)state;
	assert_int_equal(test_parse("abc-123", a), 0);
	assert_int_equal(test_parse(" \t\"abc-123\" ", b), 0);
	assert_string_equal(a, b);
}

static void
test_key_of_255_bytes_is_accepted_and_256_refused(void **state)
{
	char value[300], key[IDEMPOTENCY_KEY_MAX + 1];

	(void)state;
	value[0] = '"';
	memset(value + 1, 'k', 255);
	value[256] = '"';
	value[257] = '\0';
	assert_int_equal(test_parse(value, key), 0);
	assert_int_equal(strlen(key), 255);
	memset(value + 1, 'k', 256);
	value[257] = '"';
	value[258] = '\0';
	assert_int_equal(test_parse(value, key), -1);
}

static void
test_malformed_keys_are_refused(void **state)
{
	static const char *const bad[] = {
	    "",		    /* empty */
	    "\"\"",	    /* empty string */
	    "   ",	    /* only spaces */
	    "\"abc",	    /* unterminated */
	    "abc\"",	    /* quote at the end only */
	    "\"a\"b\"",	    /* a quote inside */
	    "\"a\\\"b\"",   /* an escape */
	    "\"a b\"",	    /* a space inside */
	    "a,b",	    /* a list */
	    "\"a\", \"b\"", /* a list of strings */
	    "\"a\";p=1",    /* parameters */
	    "?abc",	    /* a byte sequence (RFC 8941 uses :...:), or garbage */
	    "ab\x01",	    /* a control byte */
	    "ab\x7f",	    /* DEL */
	    "caf\xc3\xa9",  /* not ASCII */
	};
	char key[IDEMPOTENCY_KEY_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (test_parse(bad[i], key) != -1)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
test_key_with_a_nul_byte_is_refused(void **state)
{
	char key[IDEMPOTENCY_KEY_MAX + 1];
	const char *why = NULL;

	(void)state;
	assert_int_equal(idempotency_key_parse("ab\0cd", 5, key, sizeof(key), &why), -1);
}

static void
test_scope_differs_by_caller_and_key(void **state)
{
	char a[IDEMPOTENCY_DIGEST_HEX], b[IDEMPOTENCY_DIGEST_HEX], c[IDEMPOTENCY_DIGEST_HEX],
	    d[IDEMPOTENCY_DIGEST_HEX];

	(void)state;
	idempotency_scope("alice", "", "k1", a);
	idempotency_scope("bob", "", "k1", b);
	idempotency_scope("alice", "", "k2", c);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	/* the parts are length-prefixed: moving bytes between them is another scope */
	idempotency_scope("alic", "e", "k1", d);
	assert_string_not_equal(a, d);
	idempotency_scope("alice", "", "k1", d);
	assert_string_equal(a, d);
}

static void
test_fingerprint_covers_method_path_and_body(void **state)
{
	char a[IDEMPOTENCY_DIGEST_HEX], b[IDEMPOTENCY_DIGEST_HEX];

	(void)state;
	idempotency_fingerprint("POST", "/api/v1/organizations", "{\"a\":1}", 7, a);
	idempotency_fingerprint("POST", "/api/v1/organizations", "{\"a\":1}", 7, b);
	assert_string_equal(a, b);
	idempotency_fingerprint("POST", "/api/v1/organizations", "{\"a\":2}", 7, b);
	assert_string_not_equal(a, b);
	idempotency_fingerprint("POST", "/api/v1/assignments", "{\"a\":1}", 7, b);
	assert_string_not_equal(a, b);
	/* the bytes as received: another spacing is another request */
	idempotency_fingerprint("POST", "/api/v1/organizations", "{\"a\": 1}", 8, b);
	assert_string_not_equal(a, b);
}

static void
test_answer_survives_the_codec(void **state)
{
	struct http_response res, back;
	struct buf value;
	char fp[IDEMPOTENCY_DIGEST_HEX], got_fp[IDEMPOTENCY_DIGEST_HEX];
	const char *body = "{\"id\":\"x\",\"note\":\"line\\nbreak\"}\n\nmore";
	int i, seen = 0;

	(void)state;
	idempotency_fingerprint("POST", "/p", "b", 1, fp);
	http_response_init(&res);
	res.status = 201;
	res.content_type = "application/json";
	buf_appends(&res.body, body);
	http_response_header(&res, "location", "/api/v1/organizations/65540f00aabbccddeeff0011");
	http_response_header(&res, "etag", "\"0123456789abcdef\"");
	buf_init(&value);
	assert_int_equal(idempotency_answer_encode(&res, fp, &value), 0);
	http_response_init(&back);
	assert_int_equal(idempotency_decode(value.data, value.len, got_fp, &back),
			 IDEMPOTENCY_ANSWER);
	assert_string_equal(got_fp, fp);
	assert_int_equal(back.status, 201);
	assert_string_equal(back.content_type, "application/json");
	assert_int_equal(back.body.len, strlen(body));
	assert_memory_equal(back.body.data, body, strlen(body));
	for (i = 0; i < back.nheaders; i++) {
		if (strcmp(back.headers[i].name, "location") == 0) {
			assert_string_equal(back.headers[i].value,
					    "/api/v1/organizations/65540f00aabbccddeeff0011");
			seen++;
		} else if (strcmp(back.headers[i].name, "etag") == 0) {
			assert_string_equal(back.headers[i].value, "\"0123456789abcdef\"");
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	buf_free(&value);
	http_response_free(&res);
	http_response_free(&back);
}

static void
test_problem_answer_without_headers_survives_the_codec(void **state)
{
	struct http_response res, back;
	struct buf value;
	char fp[IDEMPOTENCY_DIGEST_HEX], got_fp[IDEMPOTENCY_DIGEST_HEX];

	(void)state;
	idempotency_fingerprint("POST", "/p", NULL, 0, fp);
	http_response_init(&res);
	http_response_problem(&res, 404, "organization not found");
	buf_init(&value);
	assert_int_equal(idempotency_answer_encode(&res, fp, &value), 0);
	http_response_init(&back);
	assert_int_equal(idempotency_decode(value.data, value.len, got_fp, &back),
			 IDEMPOTENCY_ANSWER);
	assert_int_equal(back.status, 404);
	assert_string_equal(back.content_type, "application/problem+json");
	assert_int_equal(back.nheaders, 0);
	assert_int_equal(back.body.len, res.body.len);
	assert_memory_equal(back.body.data, res.body.data, res.body.len);
	buf_free(&value);
	http_response_free(&res);
	http_response_free(&back);
}

static void
test_answer_of_an_unknown_content_type_is_not_kept(void **state)
{
	struct http_response res;
	struct buf value;

	(void)state;
	http_response_init(&res);
	res.status = 200;
	res.content_type = "text/csv";
	buf_init(&value);
	assert_int_equal(idempotency_answer_encode(&res, "x", &value), -1);
	buf_free(&value);
	http_response_free(&res);
}

static void
test_running_marker_decodes_with_its_fingerprint(void **state)
{
	struct http_response back;
	char fp[IDEMPOTENCY_DIGEST_HEX], got[IDEMPOTENCY_DIGEST_HEX], marker[200];

	(void)state;
	idempotency_fingerprint("POST", "/p", "b", 1, fp);
	snprintf(marker, sizeof(marker), "R\n%s\n0123456789abcdef0123456789abcdef", fp);
	http_response_init(&back);
	assert_int_equal(idempotency_decode(marker, strlen(marker), got, &back),
			 IDEMPOTENCY_RUNNING);
	assert_string_equal(got, fp);
	assert_int_equal(back.status, 0);
	http_response_free(&back);
}

static void
test_corrupt_values_decode_as_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "A",
	    "X\nabc",
	    "R\nshort\ntoken",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n2x1\n\n\n\n",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n201\ntext/"
	    "html\n\n\nbody",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n201\n",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n099\n\n\n\n",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n601\n\n\n\n",
	    "A\n012345678901234567890123456789012345678901234567890123456789012G\n201\n\n\n\n",
	    "A\n0123456789012345678901234567890123456789012345678901234567890123\n201\n\n/a\rb\n\n",
	};
	struct http_response back;
	char got[IDEMPOTENCY_DIGEST_HEX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_response_init(&back);
		if (idempotency_decode(bad[i], strlen(bad[i]), got, &back) != IDEMPOTENCY_BAD)
			fail_msg("decoded %zu", i);
		http_response_free(&back);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_as_sf_string_is_accepted_without_its_quotes),
	    cmocka_unit_test(test_bare_key_is_the_same_key_as_the_quoted_one),
	    cmocka_unit_test(test_key_of_255_bytes_is_accepted_and_256_refused),
	    cmocka_unit_test(test_malformed_keys_are_refused),
	    cmocka_unit_test(test_key_with_a_nul_byte_is_refused),
	    cmocka_unit_test(test_scope_differs_by_caller_and_key),
	    cmocka_unit_test(test_fingerprint_covers_method_path_and_body),
	    cmocka_unit_test(test_answer_survives_the_codec),
	    cmocka_unit_test(test_problem_answer_without_headers_survives_the_codec),
	    cmocka_unit_test(test_answer_of_an_unknown_content_type_is_not_kept),
	    cmocka_unit_test(test_running_marker_decodes_with_its_fingerprint),
	    cmocka_unit_test(test_corrupt_values_decode_as_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
