/*
 * test_etag.c: the strong ETag of a body and the If-None-Match (weak) / If-Match (strong)
 * list compares (etag_of, etag_matches, etag_matches_strong in src/etag.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "etag.h"

#define TEST_BODY "{\"id\":\"65540f00aabbccddeeff0011\",\"name\":\"Acme\"}"

/* The ETag of TEST_BODY, weak (W/"…") and strong ("…"). */
static void
test_tags(char weak[ETAG_MAX], char strong[ETAG_MAX])
{
	etag_of(TEST_BODY, strlen(TEST_BODY), strong);
	snprintf(weak, ETAG_MAX, "W/%.18s", strong);
}

static int
test_matches(const char *list, const char *etag)
{
	return etag_matches(list, strlen(list), etag);
}

static void
test_etag_is_strong_with_16_lowercase_hex_digits(void **state)
{
	char tag[ETAG_MAX];
	size_t i;

	memset(tag, 'x', sizeof(tag));
	etag_of(TEST_BODY, strlen(TEST_BODY), tag);
	assert_int_equal(strlen(tag), 18);
	assert_int_equal(tag[0], '"');
	assert_int_equal(tag[17], '"');
	for (i = 1; i < 17; i++)
		assert_non_null(strchr("0123456789abcdef", tag[i]));
}

static void
test_etag_is_the_xxh3_of_the_body(void **state)
{
	char tag[ETAG_MAX], want[ETAG_MAX];

	etag_of(TEST_BODY, strlen(TEST_BODY), tag);
	snprintf(want, sizeof(want), "\"%016" PRIx64 "\"",
		 (uint64_t)XXH3_64bits(TEST_BODY, strlen(TEST_BODY)));
	assert_string_equal(tag, want);
}

static void
test_etag_keeps_leading_zeros(void **state)
{
	char tag[ETAG_MAX];
	char body[16];
	int i;

	/* some small body hashes below 2^60; its tag still has 16 digits */
	for (i = 0; i < 100000; i++) {
		snprintf(body, sizeof(body), "%d", i);
		if (XXH3_64bits(body, strlen(body)) < (UINT64_C(1) << 60))
			break;
	}
	assert_true(i < 100000);
	etag_of(body, strlen(body), tag);
	assert_int_equal(strlen(tag), 18);
	assert_int_equal(tag[1], '0');
}

static void
test_etag_is_the_same_for_the_same_body(void **state)
{
	char a[ETAG_MAX], b[ETAG_MAX];
	char copy[] = TEST_BODY;

	etag_of(TEST_BODY, strlen(TEST_BODY), a);
	etag_of(copy, strlen(copy), b);
	assert_string_equal(a, b);
}

static void
test_etag_changes_with_the_body(void **state)
{
	char a[ETAG_MAX], b[ETAG_MAX], c[ETAG_MAX];
	char changed[] = TEST_BODY;

	changed[strlen(changed) - 3] ^= 1; /* one bit of the name */
	etag_of(TEST_BODY, strlen(TEST_BODY), a);
	etag_of(changed, strlen(changed), b);
	etag_of(TEST_BODY, strlen(TEST_BODY) - 1, c);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
}

static void
test_etag_of_an_empty_body(void **state)
{
	char tag[ETAG_MAX], want[ETAG_MAX];

	etag_of("", 0, tag);
	snprintf(want, sizeof(want), "\"%016" PRIx64 "\"", (uint64_t)XXH3_64bits("", 0));
	assert_string_equal(tag, want);
}

static void
test_exact_tag_matches(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX];

	test_tags(weak, strong);
	assert_true(test_matches(weak, weak));
	assert_true(test_matches(strong, strong));
}

static void
test_weak_and_strong_forms_compare_equal(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX];

	test_tags(weak, strong);
	assert_true(test_matches(strong, weak));
	assert_true(test_matches(weak, strong));
}

static void
test_tag_in_a_list_with_spaces_matches(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], list[128];

	test_tags(weak, strong);
	snprintf(list, sizeof(list), "\"aaaa\" ,  W/\"bbbb\",%s , \"cccc\"", weak);
	assert_true(test_matches(list, weak));
	snprintf(list, sizeof(list), "W/\"aaaa\",\t%s\t", strong);
	assert_true(test_matches(list, weak));
	snprintf(list, sizeof(list), "  %s,", weak);
	assert_true(test_matches(list, weak));
}

static void
test_star_matches_any_tag(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX];

	test_tags(weak, strong);
	assert_true(test_matches("*", weak));
	assert_true(test_matches(" * ", weak));
	assert_true(test_matches("\"aaaa\", *", strong));
}

static void
test_other_tags_do_not_match(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], other[ETAG_MAX];

	test_tags(weak, strong);
	etag_of("{}", 2, other);
	assert_false(test_matches(other, weak));
	assert_false(test_matches("\"aaaa\", W/\"bbbb\"", weak));
	assert_false(test_matches("", weak));
	assert_false(test_matches(" , ,", weak));
}

static void
test_prefix_or_extension_of_the_tag_does_not_match(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], list[64];

	test_tags(weak, strong);
	snprintf(list, sizeof(list), "%.*s\"", 18, weak); /* one hex digit short */
	assert_false(test_matches(list, weak));
	snprintf(list, sizeof(list), "%.*s0\"", 19, weak); /* one hex digit more */
	assert_false(test_matches(list, weak));
}

static void
test_malformed_entries_do_not_match(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], list[64];

	test_tags(weak, strong);
	/* the opaque tag without its quotes */
	snprintf(list, sizeof(list), "%.16s", weak + 3);
	assert_false(test_matches(list, weak));
	snprintf(list, sizeof(list), "W/%.16s", weak + 3);
	assert_false(test_matches(list, weak));
	/* a missing closing quote, trailing junk, a doubled or lower-case weak prefix */
	snprintf(list, sizeof(list), "%.19s", weak);
	assert_false(test_matches(list, weak));
	snprintf(list, sizeof(list), "%sx", weak);
	assert_false(test_matches(list, weak));
	snprintf(list, sizeof(list), "W/%s", weak);
	assert_false(test_matches(list, weak));
	snprintf(list, sizeof(list), "w/%s", strong);
	assert_false(test_matches(list, weak));
	assert_false(test_matches("W/", weak));
	assert_false(test_matches("**", weak));
	assert_false(test_matches("\"*\"", weak));
}

static void
test_list_is_read_only_up_to_its_length(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], text[64];
	char *list;
	size_t n;

	test_tags(weak, strong);
	n = (size_t)snprintf(text, sizeof(text), "\"aaaa\", %s", weak);
	/* a header value is not NUL-terminated: an exact-size heap copy lets ASan see overreads */
	list = malloc(n);
	assert_non_null(list);
	memcpy(list, text, n);
	assert_true(etag_matches(list, n, weak));
	/* the tag cut by the length is not a match */
	assert_false(etag_matches(list, n - 1, weak));
	assert_false(etag_matches(list, 6, weak));
	assert_false(etag_matches(list, 0, weak));
	free(list);
}

static void
test_if_match_never_matches_a_weak_tag(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], list[128];

	test_tags(weak, strong);
	assert_true(etag_matches_strong(strong, strlen(strong), strong));
	assert_false(etag_matches_strong(weak, strlen(weak), strong));
	assert_false(etag_matches_strong(strong, strlen(strong), weak));
	snprintf(list, sizeof(list), "\"aaaa\", %s", weak);
	assert_false(etag_matches_strong(list, strlen(list), strong));
	snprintf(list, sizeof(list), "%s, %s", weak, strong);
	assert_true(etag_matches_strong(list, strlen(list), strong));
	assert_true(etag_matches_strong("*", 1, strong));
}

static void
test_the_gzip_variant_names_the_same_representation(void **state)
{
	char weak[ETAG_MAX], strong[ETAG_MAX], gz[64];

	test_tags(weak, strong);
	snprintf(gz, sizeof(gz), "%.17s-gzip\"", strong);
	assert_true(test_matches(gz, strong));
	assert_true(etag_matches_strong(gz, strlen(gz), strong));
	snprintf(gz, sizeof(gz), "W/%.17s-gzip\"", strong);
	assert_true(test_matches(gz, strong));
	assert_false(etag_matches_strong(gz, strlen(gz), strong));
	snprintf(gz, sizeof(gz), "%.17s-gzipx\"", strong);
	assert_false(test_matches(gz, strong));
	snprintf(gz, sizeof(gz), "%.17s-br\"", strong);
	assert_false(test_matches(gz, strong));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_etag_is_strong_with_16_lowercase_hex_digits),
	    cmocka_unit_test(test_if_match_never_matches_a_weak_tag),
	    cmocka_unit_test(test_the_gzip_variant_names_the_same_representation),
	    cmocka_unit_test(test_etag_is_the_xxh3_of_the_body),
	    cmocka_unit_test(test_etag_keeps_leading_zeros),
	    cmocka_unit_test(test_etag_is_the_same_for_the_same_body),
	    cmocka_unit_test(test_etag_changes_with_the_body),
	    cmocka_unit_test(test_etag_of_an_empty_body),
	    cmocka_unit_test(test_exact_tag_matches),
	    cmocka_unit_test(test_weak_and_strong_forms_compare_equal),
	    cmocka_unit_test(test_tag_in_a_list_with_spaces_matches),
	    cmocka_unit_test(test_star_matches_any_tag),
	    cmocka_unit_test(test_other_tags_do_not_match),
	    cmocka_unit_test(test_prefix_or_extension_of_the_tag_does_not_match),
	    cmocka_unit_test(test_malformed_entries_do_not_match),
	    cmocka_unit_test(test_list_is_read_only_up_to_its_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
