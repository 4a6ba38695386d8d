/* test_fields.c: `?fields=` to a MongoDB projection (src/fields.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fields.h"

static const char *const test_allowed[] = {"name", "status", "address", "settings", NULL};

/* fields_projection succeeds and the projection serializes to want. */
static void
test_projection_is(const char *list, const char *want)
{
	bson_t proj = BSON_INITIALIZER;
	char bad[64] = "x";
	char *s;

	assert_int_equal(fields_projection(list, test_allowed, &proj, bad, sizeof(bad)), 0);
	s = bson_as_canonical_extended_json(&proj, NULL);
	assert_string_equal(s, want);
	bson_free(s);
	bson_destroy(&proj);
}

/* fields_projection fails, names want_bad, and appends nothing. */
static void
test_rejects(const char *list, const char *want_bad)
{
	bson_t proj = BSON_INITIALIZER;
	char bad[64] = "";

	assert_int_equal(fields_projection(list, test_allowed, &proj, bad, sizeof(bad)), -1);
	assert_string_equal(bad, want_bad);
	assert_int_equal(bson_count_keys(&proj), 0);
	bson_destroy(&proj);
}

#define ONE "{ \"$numberInt\" : \"1\" }"

static void
test_valid_list_includes_each_name(void **state)
{
	test_projection_is("name,status", "{ \"name\" : " ONE ", \"status\" : " ONE " }");
}

static void
test_absent_or_empty_list_leaves_projection_empty(void **state)
{
	test_projection_is(NULL, "{ }");
	test_projection_is("", "{ }");
}

static void
test_unknown_field_is_named(void **state)
{
	test_rejects("name,password,status", "password");
}

static void
test_dollar_where_is_rejected(void **state)
{
	test_rejects("$where", "$where");
	test_rejects("name.$where", "name.$where");
}

static void
test_empty_segment_is_rejected(void **state)
{
	test_rejects("address..city", "address..city");
	test_rejects("address.", "address.");
	test_rejects(".address", ".address");
}

static void
test_empty_item_is_rejected(void **state)
{
	test_rejects("name,,status", "");
	test_rejects("name,", "");
	test_rejects(",name", "");
}

static void
test_spaces_are_not_trimmed(void **state)
{
	test_rejects("name, status", " status");
	test_rejects("name ", "name ");
}

static void
test_id_alone_projects_only_the_id(void **state)
{
	/* An empty projection would fetch every field. */
	test_projection_is("id", "{ \"_id\" : " ONE " }");
}

static void
test_id_adds_nothing_beside_other_names(void **state)
{
	test_projection_is("id,name", "{ \"name\" : " ONE " }");
}

static void
test_dotted_path_under_allowed_field_is_accepted(void **state)
{
	test_projection_is("address.city,settings.a_b.C9",
			   "{ \"address.city\" : " ONE ", \"settings.a_b.C9\" : " ONE " }");
}

static void
test_dotted_path_under_unknown_field_is_rejected(void **state)
{
	test_rejects("secret.city", "secret.city");
	test_rejects("addressx.city", "addressx.city");
}

static void
test_prefix_of_allowed_name_is_rejected(void **state)
{
	test_rejects("nam", "nam");
	test_rejects("names", "names");
}

static void
test_duplicates_are_ignored(void **state)
{
	test_projection_is("name,status,name", "{ \"name\" : " ONE ", \"status\" : " ONE " }");
}

static void
test_path_under_a_listed_field_is_dropped(void **state)
{
	/* MongoDB refuses {address: 1, "address.city": 1} as a path collision. */
	test_projection_is("address.city,address", "{ \"address\" : " ONE " }");
	test_projection_is("address,address.city", "{ \"address\" : " ONE " }");
}

static void
test_too_many_items_are_rejected(void **state)
{
	char list[512];
	size_t i, o = 0;

	/* 32 items pass; the 33rd is named. */
	for (i = 0; i < 32; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%sname", i ? "," : "");
	test_projection_is(list, "{ \"name\" : " ONE " }");
	snprintf(list + o, sizeof(list) - o, ",status");
	test_rejects(list, "status");
}

static void
test_list_over_512_bytes_is_rejected(void **state)
{
	char list[600];

	/* 4 items of 127 bytes + 3 commas = 511 bytes pass; a 5th crosses 512. */
	memset(list, 'a', sizeof(list));
	memcpy(list, "settings.", 9);
	list[127] = ',';
	memcpy(list + 128, "settings.", 9);
	list[255] = ',';
	memcpy(list + 256, "settings.", 9);
	list[383] = ',';
	memcpy(list + 384, "settings.", 9);
	list[511] = '\0';
	{
		bson_t proj = BSON_INITIALIZER;
		char bad[8];

		assert_int_equal(fields_projection(list, test_allowed, &proj, bad, sizeof(bad)), 0);
		assert_int_equal(bson_count_keys(&proj), 1);
		bson_destroy(&proj);
	}
	memcpy(list + 511, ",name", 6);
	test_rejects(list, "name");
}

static void
test_bad_name_is_truncated_to_the_buffer(void **state)
{
	bson_t proj = BSON_INITIALIZER;
	char bad[4];

	assert_int_equal(fields_projection("password", test_allowed, &proj, bad, sizeof(bad)), -1);
	assert_string_equal(bad, "pas");
	bson_destroy(&proj);
}

static void
test_non_ascii_name_is_rejected(void **state)
{
	test_rejects("n\xc3\xa4me", "n\xc3\xa4me");
	test_rejects("address.c\xc3\xadty", "address.c\xc3\xadty");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_list_includes_each_name),
	    cmocka_unit_test(test_absent_or_empty_list_leaves_projection_empty),
	    cmocka_unit_test(test_unknown_field_is_named),
	    cmocka_unit_test(test_dollar_where_is_rejected),
	    cmocka_unit_test(test_empty_segment_is_rejected),
	    cmocka_unit_test(test_empty_item_is_rejected),
	    cmocka_unit_test(test_spaces_are_not_trimmed),
	    cmocka_unit_test(test_id_alone_projects_only_the_id),
	    cmocka_unit_test(test_id_adds_nothing_beside_other_names),
	    cmocka_unit_test(test_dotted_path_under_allowed_field_is_accepted),
	    cmocka_unit_test(test_dotted_path_under_unknown_field_is_rejected),
	    cmocka_unit_test(test_prefix_of_allowed_name_is_rejected),
	    cmocka_unit_test(test_duplicates_are_ignored),
	    cmocka_unit_test(test_path_under_a_listed_field_is_dropped),
	    cmocka_unit_test(test_too_many_items_are_rejected),
	    cmocka_unit_test(test_list_over_512_bytes_is_rejected),
	    cmocka_unit_test(test_bad_name_is_truncated_to_the_buffer),
	    cmocka_unit_test(test_non_ascii_name_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
