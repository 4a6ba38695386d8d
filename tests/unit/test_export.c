/* test_export.c: the CSV writer of exports (src/export.c): RFC 4180 quoting, OWASP
 * neutralising, and how each BSON type becomes a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "export.h"

/* export_csv_field(s, neutralise) writes exactly want. */
static void
field_is(const char *s, size_t len, int neutralise, const char *want)
{
	struct buf b;

	buf_init(&b);
	export_csv_field(&b, s, len, neutralise);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data != NULL ? b.data : "", want, b.len);
	buf_free(&b);
}

static void
test_plain_fields_are_written_as_they_are(void **state)
{
	(void)state;
	field_is("Main St", 7, 1, "Main St");
	field_is("", 0, 1, "");
	field_is("Zürich 歯科", strlen("Zürich 歯科"), 1, "Zürich 歯科");
	field_is("a'b", 3, 1, "a'b");
}

static void
test_separators_and_quotes_are_quoted_rfc4180(void **state)
{
	(void)state;
	field_is("a,b", 3, 1, "\"a,b\"");
	field_is("say \"hi\"", 8, 1, "\"say \"\"hi\"\"\"");
	field_is("two\r\nlines", 10, 1, "\"two\r\nlines\"");
	field_is("lf\nonly", 7, 1, "\"lf\nonly\"");
	field_is("\"", 1, 1, "\"\"\"\"");
}

static void
test_formula_starts_are_neutralised_owasp(void **state)
{
	(void)state;
	field_is("=1+2", 4, 1, "\"'=1+2\"");
	field_is("+1 415", 6, 1, "\"'+1 415\"");
	field_is("-5", 2, 1, "\"'-5\"");
	field_is("@SUM(A1)", 8, 1, "\"'@SUM(A1)\"");
	field_is("\tx", 2, 1, "\"'\tx\"");
	field_is("\rx", 2, 1, "\"'\rx\"");
	field_is("=\"a\",b", 6, 1, "\"'=\"\"a\"\",b\"");
	/* only text is neutralised: a number the server wrote stays a number */
	field_is("-5", 2, 0, "-5");
	/* a formula character further in is harmless */
	field_is("a=b", 3, 1, "a=b");
}

static void
test_bson_types_become_fields(void **state)
{
	bson_t doc = BSON_INITIALIZER, addr, roles;
	bson_oid_t oid;
	struct buf b;
	char *const columns[] = {"id",	  "name", "address.city", "roles", "missing",
				 "count", "when", "none",	  "ok",	   "neg"};

	(void)state;
	bson_oid_init_from_string(&oid, "65770f79a78d4476fb89862a");
	BSON_APPEND_OID(&doc, "_id", &oid);
	BSON_APPEND_UTF8(&doc, "name", "=cmd");
	BSON_APPEND_DOCUMENT_BEGIN(&doc, "address", &addr);
	BSON_APPEND_UTF8(&addr, "city", "Paris, TX");
	bson_append_document_end(&doc, &addr);
	BSON_APPEND_ARRAY_BEGIN(&doc, "roles", &roles);
	BSON_APPEND_UTF8(&roles, "0", "DENTIST");
	BSON_APPEND_UTF8(&roles, "1", "MANAGER");
	bson_append_array_end(&doc, &roles);
	BSON_APPEND_INT64(&doc, "count", 42);
	BSON_APPEND_DATE_TIME(&doc, "when", 1764547200123);
	BSON_APPEND_NULL(&doc, "none");
	BSON_APPEND_BOOL(&doc, "ok", true);
	BSON_APPEND_INT32(&doc, "neg", -3);
	buf_init(&b);
	export_csv_row(&b, &doc, columns, sizeof(columns) / sizeof(columns[0]));
	assert_string_equal(b.data, "65770f79a78d4476fb89862a,\"'=cmd\",\"Paris, "
				    "TX\",\"[\"\"DENTIST\"\",\"\"MANAGER\"\"]\",,42,2025-12-"
				    "01T00:00:00.123Z,,true,-3\r\n");
	buf_free(&b);
	bson_destroy(&doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_fields_are_written_as_they_are),
	    cmocka_unit_test(test_separators_and_quotes_are_quoted_rfc4180),
	    cmocka_unit_test(test_formula_starts_are_neutralised_owasp),
	    cmocka_unit_test(test_bson_types_become_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
