/*
 * test_validate.c: request bodies and query strings against field tables (src/validate.c):
 * every field type's accepted values and the BSON they become, every rejection and the field
 * it names, the key scan, PATCH semantics, and the single-value checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "validate.h"

#define TEST_OID "65540f00aabbccddeeff0011"

static const char *const test_kinds[] = {"clinic", "hospital", "lab", NULL};
static const char *const test_roles[] = {"admin", "manager", "viewer", NULL};

static const struct validate_field test_address[] = {
    {"street", VALIDATE_STRING, VALIDATE_REQUIRED, 1, 100, NULL, NULL},
    {"city", VALIDATE_STRING, 0, 1, 50, NULL, NULL},
    {NULL, VALIDATE_STRING, 0, 0, 0, NULL, NULL},
};

/* One field of every type, plus the flags. */
static const struct validate_field test_fields[] = {
    {"name", VALIDATE_STRING, VALIDATE_REQUIRED, 2, 5, NULL, NULL},
    {"kind", VALIDATE_ENUM, 0, 0, 0, test_kinds, NULL},
    {"email", VALIDATE_EMAIL, 0, 0, 0, NULL, NULL},
    {"phone", VALIDATE_PHONE, 0, 0, 0, NULL, NULL},
    {"since", VALIDATE_DATE, 0, 0, 0, NULL, NULL},
    {"active", VALIDATE_BOOL, 0, 0, 0, NULL, NULL},
    {"orgId", VALIDATE_OBJECTID, VALIDATE_IMMUTABLE, 0, 0, NULL, NULL},
    {"code", VALIDATE_IDENT, 0, 0, 8, NULL, NULL},
    {"timezone", VALIDATE_TIMEZONE, 0, 0, 0, NULL, NULL},
    {"roles", VALIDATE_ENUM_ARRAY, 0, 1, 2, test_roles, NULL},
    {"address", VALIDATE_OBJECT, 0, 0, 0, NULL, test_address},
    {"meta", VALIDATE_FREEFORM, 0, 0, 64, NULL, NULL},
    {"status", VALIDATE_STRING, VALIDATE_SERVER, 0, 20, NULL, NULL},
    {"id", VALIDATE_STRING, 0, 0, 30, NULL, NULL}, /* server-kept whatever the table says */
    {NULL, VALIDATE_STRING, 0, 0, 0, NULL, NULL},
};

/* The result of one validate_body call, with what it filled. */
struct test_run {
	enum validate_result rc;
	bson_t set, unset;
	struct validate_errors errs;
	char *set_json, *unset_json; /* canonical extended JSON */
};

static void
test_run_free(struct test_run *t)
{
	bson_free(t->set_json);
	bson_free(t->unset_json);
	bson_destroy(&t->set);
	bson_destroy(&t->unset);
}

static enum validate_result
test_validate(const struct validate_field *fields, const char *body, enum validate_mode mode,
	      struct test_run *t)
{
	memset(t, 0, sizeof(*t));
	bson_init(&t->set);
	bson_init(&t->unset);
	t->errs.n = -7; /* validate_body must reset it */
	t->rc = validate_body(fields, body, strlen(body), mode, &t->set, &t->unset, &t->errs);
	t->set_json = bson_as_canonical_extended_json(&t->set, NULL);
	t->unset_json = bson_as_canonical_extended_json(&t->unset, NULL);
	return t->rc;
}

/* body is accepted on create and set becomes want (canonical extended JSON). */
static void
test_accepts(const char *body, const char *want)
{
	struct test_run t;

	if (test_validate(test_fields, body, VALIDATE_CREATE, &t) != VALIDATE_OK)
		fail_msg("%s: refused (%d errors, first %s: %s)", body, t.errs.n,
			 t.errs.n > 0 ? t.errs.items[0].field : "",
			 t.errs.n > 0 ? t.errs.items[0].message : "");
	assert_int_equal(t.errs.n, 0);
	assert_string_equal(t.set_json, want);
	test_run_free(&t);
}

/* body is refused in mode with exactly one error, on field, whose message holds msg. */
static void
test_refuses_mode(const char *body, enum validate_mode mode, const char *field, const char *msg)
{
	struct test_run t;

	if (test_validate(test_fields, body, mode, &t) != VALIDATE_INVALID)
		fail_msg("%s: result %d, not invalid", body, (int)t.rc);
	if (t.errs.n != 1)
		fail_msg("%s: %d errors, first %s: %s", body, t.errs.n, t.errs.items[0].field,
			 t.errs.items[0].message);
	assert_string_equal(t.errs.items[0].field, field);
	if (strstr(t.errs.items[0].message, msg) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", body, t.errs.items[0].message, msg);
	test_run_free(&t);
}

/* A create body with the required name and one more field. */
#define WITH(field_json) "{\"name\":\"Acme\"," field_json "}"
#define SET(field_json) "{ \"name\" : \"Acme\", " field_json " }"

static void
test_refuses(const char *field_json_body, const char *field, const char *msg)
{
	test_refuses_mode(field_json_body, VALIDATE_CREATE, field, msg);
}

/* --- strings --- */

static void
test_string_within_its_length_is_kept(void **state)
{
	test_accepts("{\"name\":\"Ab\"}", "{ \"name\" : \"Ab\" }");
	test_accepts("{\"name\":\"Abcde\"}", "{ \"name\" : \"Abcde\" }");
}

static void
test_string_length_counts_characters_not_bytes(void **state)
{
	/* five characters, fifteen bytes */
	test_accepts("{\"name\":\"日本語日本\"}", "{ \"name\" : \"日本語日本\" }");
	test_accepts("{\"name\":\"\\u65e5\\u672c\"}", "{ \"name\" : \"日本\" }");
	test_refuses("{\"name\":\"日本語日本語\"}", "name", "must be 2 to 5 characters long");
	test_refuses("{\"name\":\"日\"}", "name", "must be 2 to 5 characters long");
}

static void
test_string_too_short_or_too_long_is_refused(void **state)
{
	test_refuses("{\"name\":\"A\"}", "name", "must be 2 to 5 characters long");
	test_refuses("{\"name\":\"Abcdef\"}", "name", "must be 2 to 5 characters long");
	test_refuses("{\"name\":\"\"}", "name", "must be 2 to 5 characters long");
}

static void
test_string_of_only_spaces_is_refused(void **state)
{
	test_refuses("{\"name\":\"   \"}", "name", "must be 2 to 5 characters long");
}

static void
test_string_field_with_another_type_is_refused(void **state)
{
	test_refuses("{\"name\":12}", "name", "must be a string");
	test_refuses("{\"name\":true}", "name", "must be a string");
	test_refuses("{\"name\":[\"Acme\"]}", "name", "must be a string");
	test_refuses("{\"name\":{\"a\":\"Acme\"}}", "name", "must be a string");
	test_refuses(WITH("\"email\":1"), "email", "must be a string");
	test_refuses(WITH("\"since\":1700000000000"), "since", "must be a string");
	test_refuses(WITH("\"orgId\":12"), "orgId", "must be a string");
	test_refuses(WITH("\"kind\":null,\"code\":1.5"), "code", "must be a string");
}

static void
test_string_with_a_nul_is_refused(void **state)
{
	struct test_run t;

	/* libbson may refuse \u0000 itself; either way the body is not accepted */
	test_validate(test_fields, "{\"name\":\"a\\u0000b\"}", VALIDATE_CREATE, &t);
	assert_int_not_equal(t.rc, VALIDATE_OK);
	assert_true(t.errs.n >= 1);
	test_run_free(&t);
}

/* --- enums --- */

static void
test_enum_value_is_kept(void **state)
{
	test_accepts(WITH("\"kind\":\"lab\""), SET("\"kind\" : \"lab\""));
}

static void
test_enum_outside_its_values_is_refused_with_the_list(void **state)
{
	test_refuses(WITH("\"kind\":\"Lab\""), "kind", "must be one of clinic, hospital, lab");
	test_refuses(WITH("\"kind\":\"\""), "kind", "must be one of");
}

/* --- e-mail --- */

static void
test_email_good_addresses_are_kept(void **state)
{
	test_accepts(WITH("\"email\":\"a@b.co\""), SET("\"email\" : \"a@b.co\""));
	test_accepts(WITH("\"email\":\"a.b+c@d-e.example\""),
		     SET("\"email\" : \"a.b+c@d-e.example\""));
}

static void
test_email_bad_address_is_refused(void **state)
{
	test_refuses(WITH("\"email\":\"ab.co\""), "email", "must be an e-mail address");
}

static void
test_email_single_value_accepts_good_addresses(void **state)
{
	assert_int_equal(validate_email("a@b.co"), 0);
	assert_int_equal(validate_email("a.b+c@d-e.example"), 0);
	assert_int_equal(validate_email("first_last@sub.domain.org"), 0);
}

static void
test_email_single_value_refuses_bad_addresses(void **state)
{
	static const char *const bad[] = {
	    "",	       "ab.co",	   "a@b@c.co", ".a@b.co",  "a.@b.co",  "a..b@c.co",
	    "a@b..co", "a@.b.co",  "a@b.co.",  "a@b",	   "a@b.c0m",  "a@b.123",
	    "a@-b.co", "a@b-.co",  "@b.co",    "a@",	   "a b@c.co", "a@b c.co",
	    "a@b.c",   "a@b_c.co", "ä@b.co",   "a@b.co\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_email(bad[i]) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
}

static void
test_email_of_255_characters_is_refused(void **state)
{
	char s[300];

	/* 64 + 1 + 63.63.63.x: 254 accepted, 255 refused */
	memset(s, 'a', 64);
	s[64] = '@';
	memset(s + 65, 'b', 63);
	s[128] = '.';
	memset(s + 129, 'c', 63);
	s[192] = '.';
	memset(s + 193, 'd', 58);
	s[251] = '.';
	memcpy(s + 252, "co", 3);
	assert_int_equal(strlen(s), 254);
	assert_int_equal(validate_email(s), 0);
	memcpy(s + 252, "com", 4);
	assert_int_equal(strlen(s), 255);
	assert_int_equal(validate_email(s), -1);
}

static void
test_email_local_part_over_64_is_refused(void **state)
{
	char s[100];

	memset(s, 'a', 65);
	memcpy(s + 65, "@b.co", 6);
	assert_int_equal(validate_email(s), -1);
	memcpy(s + 64, "@b.co", 6);
	assert_int_equal(validate_email(s), 0);
}

/* --- phone --- */

static void
test_phone_good_numbers_are_kept(void **state)
{
	test_accepts(WITH("\"phone\":\"+1 (555) 123-4567\""),
		     SET("\"phone\" : \"+1 (555) 123-4567\""));
	test_accepts(WITH("\"phone\":\"555.1234\""), SET("\"phone\" : \"555.1234\""));
	test_accepts(WITH("\"phone\":\"12345678901234567890\""),
		     SET("\"phone\" : \"12345678901234567890\""));
}

static void
test_phone_bad_numbers_are_refused(void **state)
{
	static const char *const bad[] = {
	    WITH("\"phone\":\"123456\""),		 /* six digits */
	    WITH("\"phone\":\"123456789012345678901\""), /* 21 digits */
	    WITH("\"phone\":\"1+2345678\""),		 /* + inside */
	    WITH("\"phone\":\"++12345678\""),
	    WITH("\"phone\":\"555-CALL-NOW\""),
	    WITH("\"phone\":\"\""),
	    WITH("\"phone\":\"1234567x\""),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_refuses(bad[i], "phone", "must be a phone number");
}

/* --- dates --- */

static void
test_date_is_stored_as_a_bson_date(void **state)
{
	test_accepts(WITH("\"since\":\"2024-02-29\""),
		     SET("\"since\" : { \"$date\" : { \"$numberLong\" : \"1709164800000\" } }"));
	test_accepts(WITH("\"since\":\"2027-01-31T12:00:00Z\""),
		     SET("\"since\" : { \"$date\" : { \"$numberLong\" : \"1801396800000\" } }"));
}

static void
test_date_keeps_milliseconds_and_applies_the_offset(void **state)
{
	int64_t ms;

	assert_int_equal(validate_date("2027-01-31T12:00:00.123Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800123));
	assert_int_equal(validate_date("2027-01-31T12:00:00.5Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800500));
	assert_int_equal(validate_date("2027-01-31T12:00:00.123456789Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800123));
	assert_int_equal(validate_date("2027-01-31T12:00:00+02:00", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800000) - 2 * 3600 * 1000);
	assert_int_equal(validate_date("2027-01-31T12:00:00.123+02:00", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800123) - 2 * 3600 * 1000);
	assert_int_equal(validate_date("2027-01-31T12:00:00-05:30", &ms), 0);
	assert_int_equal(ms, INT64_C(1801396800000) + (5 * 60 + 30) * 60 * 1000);
	test_accepts(WITH("\"since\":\"2027-01-31T12:00:00.123+02:00\""),
		     SET("\"since\" : { \"$date\" : { \"$numberLong\" : \"1801389600123\" } }"));
}

static void
test_date_on_leap_days(void **state)
{
	int64_t ms;

	assert_int_equal(validate_date("2024-02-29", &ms), 0);
	assert_int_equal(ms, INT64_C(1709164800000));
	assert_int_equal(validate_date("2000-02-29", &ms), 0);
	assert_int_equal(validate_date("2023-02-29", &ms), -1);
	assert_int_equal(validate_date("1900-02-29", &ms), -1);
	assert_int_equal(validate_date("2100-02-29", &ms), -1);
}

static void
test_date_before_1970_is_negative(void **state)
{
	int64_t ms;

	assert_int_equal(validate_date("1969-12-31T23:59:59.500Z", &ms), 0);
	assert_int_equal(ms, -500);
	assert_int_equal(validate_date("1900-01-01", &ms), 0);
	assert_int_equal(ms, INT64_C(-2208988800000));
}

static void
test_date_malformed_values_are_refused(void **state)
{
	static const char *const bad[] = {
	    "2027-01-31T12:00:00",  /* no zone */
	    "2027-01-31T24:00:00Z", /* 24:00 */
	    "2027-01-31T12:60:00Z",
	    "2027-01-31T12:00:60Z",
	    "2027-01-31T12:00Z",
	    "2027-01-31T12:00:00.Z",
	    "2027-01-31T12:00:00.1234567890Z",
	    "2027-01-31T12:00:00+0200",
	    "2027-01-31T12:00:00+24:00",
	    "2027-01-31T12:00:00+02:60",
	    "2027-01-31T12:00:00ZZ",
	    "2027-01-31 12:00:00Z",
	    "2027-01-31t12:00:00z",
	    "2027-01-31T",
	    "2027-1-31",
	    "2027-13-01",
	    "2027-00-10",
	    "2027-01-00",
	    "2027-04-31",
	    "1899-12-31",
	    "27-01-31",
	    "2027/01/31",
	    "2027-01-31x",
	    "",
	    "+2027-01-31",
	};
	size_t i;
	int64_t ms;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_date(bad[i], &ms) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
}

static void
test_date_in_a_body_refused_names_the_field(void **state)
{
	test_refuses(WITH("\"since\":\"2023-02-29\""), "since", "must be an ISO-8601 date");
	test_refuses(WITH("\"since\":\"2027-01-31T12:00:00\""), "since",
		     "must be an ISO-8601 date");
}

/* --- booleans, ids, idents, zones --- */

static void
test_bool_is_kept_and_only_json_booleans_count(void **state)
{
	test_accepts(WITH("\"active\":false"), SET("\"active\" : false"));
	test_refuses(WITH("\"active\":\"true\""), "active", "must be true or false");
	test_refuses(WITH("\"active\":1"), "active", "must be true or false");
}

static void
test_objectid_string_is_stored_as_an_objectid(void **state)
{
	test_accepts(WITH("\"orgId\":\"" TEST_OID "\""),
		     SET("\"orgId\" : { \"$oid\" : \"" TEST_OID "\" }"));
	/* upper-case hex is the same id */
	test_accepts(WITH("\"orgId\":\"65540F00AABBCCDDEEFF0011\""),
		     SET("\"orgId\" : { \"$oid\" : \"" TEST_OID "\" }"));
}

static void
test_objectid_malformed_is_refused(void **state)
{
	test_refuses(WITH("\"orgId\":\"65540f00aabbccddeeff001\""), "orgId", "24 hex digits");
	test_refuses(WITH("\"orgId\":\"65540f00aabbccddeeff00111\""), "orgId", "24 hex digits");
	test_refuses(WITH("\"orgId\":\"65540f00aabbccddeeff001g\""), "orgId", "24 hex digits");
}

static void
test_objectid_single_value(void **state)
{
	bson_oid_t oid;
	char hex[25];

	assert_int_equal(validate_objectid(TEST_OID, &oid), 0);
	bson_oid_to_string(&oid, hex);
	assert_string_equal(hex, TEST_OID);
	assert_int_equal(validate_objectid(TEST_OID, NULL), 0);
	assert_int_equal(validate_objectid("65540f00aabbccddeeff001", &oid), -1);
	assert_int_equal(validate_objectid("65540f00aabbccddeeff00110", &oid), -1);
	assert_int_equal(validate_objectid("65540f00aabbccddeeff00 1", &oid), -1);
	assert_int_equal(validate_objectid("zz540f00aabbccddeeff0011", &oid), -1);
	assert_int_equal(validate_objectid("", &oid), -1);
	assert_int_equal(validate_objectid(NULL, &oid), -1);
}

static void
test_ident_is_kept(void **state)
{
	test_accepts(WITH("\"code\":\"A-1_b\""), SET("\"code\" : \"A-1_b\""));
	test_accepts(WITH("\"code\":\"12345678\""), SET("\"code\" : \"12345678\""));
}

static void
test_ident_bad_values_are_refused(void **state)
{
	test_refuses(WITH("\"code\":\"123456789\""), "code", "must be 1 to 8 letters");
	test_refuses(WITH("\"code\":\"\""), "code", "must be 1 to 8 letters");
	test_refuses(WITH("\"code\":\"a b\""), "code", "must be 1 to 8 letters");
	test_refuses(WITH("\"code\":\"a/b\""), "code", "must be 1 to 8 letters");
}

static void
test_ident_single_value(void **state)
{
	assert_int_equal(validate_ident("prov-1_X", 8), 0);
	assert_int_equal(validate_ident("prov-1_X", 7), -1);
	assert_int_equal(validate_ident("", 8), -1);
	assert_int_equal(validate_ident("a.b", 8), -1);
	assert_int_equal(validate_ident("é", 8), -1);
	assert_int_equal(validate_ident("a$", 8), -1);
}

static void
test_timezone_known_names_are_kept(void **state)
{
	test_accepts(WITH("\"timezone\":\"America/New_York\""),
		     SET("\"timezone\" : \"America/New_York\""));
	test_accepts(WITH("\"timezone\":\"UTC\""), SET("\"timezone\" : \"UTC\""));
	test_accepts(WITH("\"timezone\":\"America/Argentina/Buenos_Aires\""),
		     SET("\"timezone\" : \"America/Argentina/Buenos_Aires\""));
}

static void
test_timezone_unknown_or_path_like_names_are_refused(void **state)
{
	static const char *const bad[] = {
	    WITH("\"timezone\":\"Mars/Olympus\""),
	    WITH("\"timezone\":\"../etc\""),
	    WITH("\"timezone\":\"America/../../etc/passwd\""),
	    WITH("\"timezone\":\"/etc/passwd\""),
	    WITH("\"timezone\":\"America/\""),
	    WITH("\"timezone\":\"America\""), /* a directory, not a zone */
	    WITH("\"timezone\":\"America/New York\""),
	    WITH("\"timezone\":\"\""),
	    WITH("\"timezone\":\"utc\""),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_refuses(bad[i], "timezone", "must be an IANA time zone");
}

static void
test_bool_single_value(void **state)
{
	int v = -1;

	assert_int_equal(validate_bool("true", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(validate_bool("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(validate_bool("1", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(validate_bool("false", &v), 0);
	assert_int_equal(v, 0);
	v = 5;
	assert_int_equal(validate_bool("TRUE", &v), -1);
	assert_int_equal(validate_bool("yes", &v), -1);
	assert_int_equal(validate_bool("", &v), -1);
	assert_int_equal(validate_bool("true ", &v), -1);
	assert_int_equal(v, 5);
}

static void
test_enum_single_value(void **state)
{
	assert_int_equal(validate_enum("lab", test_kinds), 0);
	assert_int_equal(validate_enum("clinic", test_kinds), 0);
	assert_int_equal(validate_enum("la", test_kinds), -1);
	assert_int_equal(validate_enum("labs", test_kinds), -1);
	assert_int_equal(validate_enum("", test_kinds), -1);
}

/* --- enum arrays --- */

static void
test_enum_array_is_kept_in_order(void **state)
{
	test_accepts(WITH("\"roles\":[\"viewer\",\"admin\"]"),
		     SET("\"roles\" : [ \"viewer\", \"admin\" ]"));
}

static void
test_enum_array_duplicates_collapse(void **state)
{
	test_accepts(WITH("\"roles\":[\"admin\",\"admin\"]"), SET("\"roles\" : [ \"admin\" ]"));
	/* three items, two distinct: within max 2 */
	test_accepts(WITH("\"roles\":[\"admin\",\"viewer\",\"admin\"]"),
		     SET("\"roles\" : [ \"admin\", \"viewer\" ]"));
}

static void
test_enum_array_unknown_item_is_refused(void **state)
{
	test_refuses(WITH("\"roles\":[\"admin\",\"root\"]"), "roles",
		     "items must be one of admin, manager, viewer");
	test_refuses(WITH("\"roles\":[1]"), "roles", "items must be one of");
	test_refuses(WITH("\"roles\":[[\"admin\"]]"), "roles", "items must be one of");
}

static void
test_enum_array_too_many_or_too_few_is_refused(void **state)
{
	test_refuses(WITH("\"roles\":[\"admin\",\"manager\",\"viewer\"]"), "roles",
		     "must hold 1 to 2 distinct items");
	test_refuses(WITH("\"roles\":[]"), "roles", "must hold 1 to 2 distinct items");
}

static void
test_enum_array_that_is_not_an_array_is_refused(void **state)
{
	test_refuses(WITH("\"roles\":\"admin\""), "roles", "must be an array");
	test_refuses(WITH("\"roles\":{\"0\":\"admin\"}"), "roles", "must be an array");
}

/* --- nested objects and freeform --- */

static void
test_nested_object_is_kept(void **state)
{
	test_accepts(WITH("\"address\":{\"street\":\"1 Main St\",\"city\":\"Boston\"}"),
		     SET("\"address\" : { \"street\" : \"1 Main St\", \"city\" : \"Boston\" }"));
}

static void
test_nested_unknown_field_is_named_by_its_path(void **state)
{
	test_refuses(WITH("\"address\":{\"street\":\"1 Main St\",\"zip\":\"02110\"}"),
		     "address.zip", "is not a known field");
}

static void
test_nested_bad_value_is_named_by_its_path(void **state)
{
	test_refuses(WITH("\"address\":{\"street\":\"1 Main St\",\"city\":\"\"}"), "address.city",
		     "must be 1 to 50 characters long");
}

static void
test_nested_required_field_missing_is_named_by_its_path(void **state)
{
	test_refuses(WITH("\"address\":{\"city\":\"Boston\"}"), "address.street", "is required");
	/* the object is replaced whole, so PATCH checks it as on create */
	test_refuses_mode("{\"address\":{\"city\":\"Boston\"}}", VALIDATE_PATCH, "address.street",
			  "is required");
}

static void
test_nested_object_of_another_type_is_refused(void **state)
{
	test_refuses(WITH("\"address\":\"1 Main St\""), "address", "must be an object");
	test_refuses(WITH("\"address\":[]"), "address", "must be an object");
}

static void
test_nested_server_kept_names_are_plain_unknown_fields(void **state)
{
	test_refuses(WITH("\"address\":{\"street\":\"x\",\"id\":\"1\"}"), "address.id",
		     "is not a known field");
}

static void
test_freeform_object_is_kept_whole(void **state)
{
	test_accepts(
	    WITH("\"meta\":{\"a\":1,\"b\":[true,\"x\"]}"),
	    SET("\"meta\" : { \"a\" : { \"$numberInt\" : \"1\" }, \"b\" : [ true, \"x\" ] }"));
}

static void
test_freeform_too_large_is_refused(void **state)
{
	test_refuses(WITH("\"meta\":{\"k\":"
			  "\"0123456789012345678901234567890123456789012345678901234567890\"}"),
		     "meta", "must be at most 64 bytes");
}

static void
test_freeform_of_another_type_is_refused(void **state)
{
	test_refuses(WITH("\"meta\":[1]"), "meta", "must be an object");
	test_refuses(WITH("\"meta\":\"x\""), "meta", "must be an object");
}

/* --- unknown and server-kept fields, flags --- */

static void
test_unknown_field_is_refused(void **state)
{
	test_refuses(WITH("\"bogus\":1"), "bogus", "is not a known field");
	test_refuses(WITH("\"Name\":\"Acme\""), "Name", "is not a known field");
}

static void
test_server_kept_fields_are_always_refused(void **state)
{
	static const char *const kept[] = {"id", "_id", "createdAt", "updatedAt", "version"};
	char body[128];
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"Acme\",\"%s\":\"x\"}", kept[i]);
		test_refuses_mode(body, VALIDATE_CREATE, kept[i], "is set by the server");
		snprintf(body, sizeof(body), "{\"%s\":\"x\"}", kept[i]);
		test_refuses_mode(body, VALIDATE_PATCH, kept[i], "is set by the server");
		snprintf(body, sizeof(body), "{\"%s\":null}", kept[i]);
		test_refuses_mode(body, VALIDATE_PATCH, kept[i], "is set by the server");
	}
}

static void
test_server_flag_refuses_the_field(void **state)
{
	test_refuses(WITH("\"status\":\"active\""), "status", "is set by the server");
	test_refuses_mode("{\"status\":\"active\"}", VALIDATE_PATCH, "status",
			  "is set by the server");
}

static void
test_immutable_field_is_accepted_on_create_only(void **state)
{
	test_accepts(WITH("\"orgId\":\"" TEST_OID "\""),
		     SET("\"orgId\" : { \"$oid\" : \"" TEST_OID "\" }"));
	test_refuses_mode("{\"orgId\":\"" TEST_OID "\"}", VALIDATE_PATCH, "orgId",
			  "cannot be changed");
	test_refuses_mode("{\"orgId\":null}", VALIDATE_PATCH, "orgId", "cannot be changed");
}

static void
test_required_field_missing_on_create_is_refused(void **state)
{
	test_refuses("{}", "name", "is required");
	test_refuses("{\"kind\":\"lab\"}", "name", "is required");
}

static void
test_required_field_null_on_create_is_reported_once(void **state)
{
	test_refuses("{\"name\":null}", "name", "is required");
	test_refuses(WITH("\"address\":{\"street\":null}"), "address.street", "is required");
}

static void
test_optional_null_on_create_is_left_out(void **state)
{
	test_accepts(WITH("\"kind\":null"), "{ \"name\" : \"Acme\" }");
}

/* --- PATCH --- */

static void
test_patch_needs_no_required_field(void **state)
{
	struct test_run t;

	assert_int_equal(test_validate(test_fields, "{\"kind\":\"lab\"}", VALIDATE_PATCH, &t),
			 VALIDATE_OK);
	assert_string_equal(t.set_json, "{ \"kind\" : \"lab\" }");
	assert_string_equal(t.unset_json, "{ }");
	test_run_free(&t);
}

static void
test_patch_null_on_an_optional_field_unsets_it(void **state)
{
	struct test_run t;

	assert_int_equal(test_validate(test_fields,
				       "{\"kind\":null,\"email\":\"a@b.co\",\"roles\":null}",
				       VALIDATE_PATCH, &t),
			 VALIDATE_OK);
	assert_string_equal(t.set_json, "{ \"email\" : \"a@b.co\" }");
	assert_string_equal(t.unset_json, "{ \"kind\" : \"\", \"roles\" : \"\" }");
	test_run_free(&t);
}

static void
test_patch_null_on_a_required_field_cannot_clear_it(void **state)
{
	test_refuses_mode("{\"name\":null}", VALIDATE_PATCH, "name", "cannot be cleared");
}

static void
test_patch_empty_body_is_refused(void **state)
{
	test_refuses_mode("{}", VALIDATE_PATCH, "", "must change at least one field");
	test_refuses_mode(" { } ", VALIDATE_PATCH, "", "must change at least one field");
}

/* --- duplicated and operator-shaped keys --- */

static void
test_duplicated_key_is_reported_once(void **state)
{
	test_refuses("{\"name\":\"Acme\",\"name\":\"Other\"}", "name", "appears more than once");
	test_refuses("{\"name\":\"Acme\",\"kind\":\"lab\",\"name\":\"Acme\",\"name\":\"x\"}",
		     "name", "appears more than once");
	test_refuses_mode("{\"kind\":\"lab\",\"kind\":null}", VALIDATE_PATCH, "kind",
			  "appears more than once");
}

static void
test_duplicated_nested_key_is_reported_once_by_its_path(void **state)
{
	test_refuses(WITH("\"address\":{\"street\":\"a\",\"street\":\"b\"}"), "address.street",
		     "appears more than once");
}

static void
test_dollar_key_is_refused_at_any_depth(void **state)
{
	test_refuses("{\"$set\":{\"name\":\"x\"}}", "$set",
		     "keys starting with '$' are not allowed");
	test_refuses(WITH("\"address\":{\"street\":{\"$gt\":\"\"}}"), "$gt", "'$'");
	test_refuses(WITH("\"meta\":{\"a\":[{\"b\":{\"$where\":\"1\"}}]}"), "$where", "'$'");
	test_refuses_mode("{\"kind\":{\"$ne\":\"lab\"}}", VALIDATE_PATCH, "$ne", "'$'");
}

static void
test_dotted_key_is_refused_at_any_depth(void **state)
{
	test_refuses("{\"name.first\":\"x\"}", "name.first", "keys containing '.' are not allowed");
	test_refuses(WITH("\"meta\":{\"a.b\":1}"), "a.b", "'.'");
	test_refuses(WITH("\"meta\":{\"x\":{\"y\":{\".\":1}}}"), ".", "'.'");
}

static void
test_escaped_dollar_and_dot_are_refused(void **state)
{
	test_refuses("{\"\\u0024where\":\"1\"}", "$where", "'$'");
	test_refuses(WITH("\"meta\":{\"a\\u002eb\":1}"), "a.b", "'.'");
	test_refuses(WITH("\"meta\":{\"a\\u002Eb\":1}"), "a.b", "'.'");
	test_refuses(WITH("\"meta\":{\"\\u0024x\":1}"), "$x", "'$'");
}

static void
test_dollar_and_dot_in_values_are_fine(void **state)
{
	test_accepts("{\"name\":\"$a.b\"}", "{ \"name\" : \"$a.b\" }");
	test_accepts(WITH("\"meta\":{\"k\":\"$where\",\"l\":[\"a.b\",\"\\\\u0024\"]}"),
		     SET("\"meta\" : { \"k\" : \"$where\", \"l\" : [ \"a.b\", \"\\\\u0024\" ] }"));
}

static void
test_dollar_inside_a_key_is_not_an_operator(void **state)
{
	test_refuses(WITH("\"a$b\":1"), "a$b", "is not a known field");
}

/* --- malformed bodies --- */

static void
test_malformed_json_is_malformed(void **state)
{
	static const char *const bad[] = {
	    "",	    "   ",	"{",  "{\"name\":}", "{\"name\":\"x\",}", "{name:\"x\"}",
	    "null", "\"text\"", "12", "{\"a\":1}}",  "{\"a\" 1}",	  "{'a':1}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct test_run t;

		if (test_validate(test_fields, bad[i], VALIDATE_CREATE, &t) != VALIDATE_MALFORMED)
			fail_msg("%s: result %d, not malformed", bad[i], (int)t.rc);
		assert_int_equal(t.errs.n, 1);
		assert_string_equal(t.errs.items[0].field, "");
		test_run_free(&t);
	}
}

static void
test_invalid_utf8_is_malformed(void **state)
{
	struct test_run t;

	assert_int_equal(test_validate(test_fields, "{\"name\":\"\xff\xfe\"}", VALIDATE_CREATE, &t),
			 VALIDATE_MALFORMED);
	test_run_free(&t);
	/* an overlong '/' */
	assert_int_equal(
	    test_validate(test_fields, "{\"name\":\"a\xc0\xaf\"}", VALIDATE_CREATE, &t),
	    VALIDATE_MALFORMED);
	test_run_free(&t);
}

static void
test_top_level_array_is_malformed(void **state)
{
	struct test_run t;

	assert_int_equal(test_validate(test_fields, "[{\"name\":\"Acme\"}]", VALIDATE_CREATE, &t),
			 VALIDATE_MALFORMED);
	assert_int_equal(t.errs.n, 1);
	assert_non_null(strstr(t.errs.items[0].message, "must be a JSON object"));
	test_run_free(&t);
	assert_int_equal(test_validate(test_fields, "  []", VALIDATE_PATCH, &t),
			 VALIDATE_MALFORMED);
	test_run_free(&t);
}

static void
test_body_is_read_only_up_to_its_length(void **state)
{
	const char text[] = "{\"name\":\"Acme\"}, \"kind\":\"nope\"}";
	bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;
	struct validate_errors errs;

	assert_int_equal(validate_body(test_fields, text, 15, VALIDATE_CREATE, &set, &unset, &errs),
			 VALIDATE_OK);
	assert_int_equal(bson_count_keys(&set), 1);
	bson_destroy(&set);
	bson_destroy(&unset);
}

/* --- several errors --- */

static void
test_every_error_is_reported_together(void **state)
{
	struct test_run t;
	static const char *const fields[] = {"name", "kind", "email", "bogus", "id", "roles"};
	int i;

	assert_int_equal(
	    test_validate(test_fields,
			  "{\"name\":\"A\",\"kind\":\"zoo\",\"email\":\"nope\",\"bogus\":1,"
			  "\"id\":\"x\",\"roles\":[]}",
			  VALIDATE_CREATE, &t),
	    VALIDATE_INVALID);
	assert_int_equal(t.errs.n, 6);
	for (i = 0; i < 6; i++)
		assert_string_equal(t.errs.items[i].field, fields[i]);
	test_run_free(&t);
}

static void
test_missing_required_field_is_reported_with_the_others(void **state)
{
	struct test_run t;

	assert_int_equal(
	    test_validate(test_fields, "{\"kind\":\"zoo\",\"bogus\":1}", VALIDATE_CREATE, &t),
	    VALIDATE_INVALID);
	assert_int_equal(t.errs.n, 3);
	assert_string_equal(t.errs.items[0].field, "kind");
	assert_string_equal(t.errs.items[1].field, "bogus");
	assert_string_equal(t.errs.items[2].field, "name");
	test_run_free(&t);
}

static void
test_errors_stop_at_the_maximum(void **state)
{
	char body[1024];
	size_t o = 0;
	struct test_run t;
	int i;

	o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"name\":\"Acme\"");
	for (i = 0; i < VALIDATE_MAX_ERRORS + 5; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o, ",\"x%d\":1", i);
	snprintf(body + o, sizeof(body) - o, "}");
	assert_int_equal(test_validate(test_fields, body, VALIDATE_CREATE, &t), VALIDATE_INVALID);
	assert_int_equal(t.errs.n, VALIDATE_MAX_ERRORS);
	assert_string_equal(t.errs.items[VALIDATE_MAX_ERRORS - 1].field, "x15");
	test_run_free(&t);
}

/* --- query names --- */

static const char *const test_query_allowed[] = {"limit", "cursor", "status", NULL};

static int
test_query(const char *q, struct validate_errors *errs)
{
	errs->n = 0;
	return validate_query_names(q, strlen(q), test_query_allowed, errs);
}

static void
test_query_allowed_names_pass(void **state)
{
	struct validate_errors errs;

	assert_int_equal(test_query("limit=10&status=active&cursor=abc", &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(test_query("", &errs), 0);
	assert_int_equal(test_query("&&limit=1&", &errs), 0); /* empty segments carry nothing */
	assert_int_equal(test_query("status=a[b]&limit=$1", &errs), 0); /* values are not names */
}

static void
test_query_unknown_name_is_refused(void **state)
{
	struct validate_errors errs;

	assert_int_equal(test_query("limit=1&sort=name", &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.items[0].field, "sort");
	assert_non_null(strstr(errs.items[0].message, "is not a known query parameter"));
	assert_int_equal(test_query("Limit=1", &errs), -1);
}

static void
test_query_operator_shaped_names_are_refused(void **state)
{
	static const char *const bad[] = {"status[$ne]=x", "a%5B=1",	"$where=1",
					  "status[]=a",	   "status]=a", "limit%24=1"};
	struct validate_errors errs;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (test_query(bad[i], &errs) != -1 || errs.n != 1)
			fail_msg("%s: not refused once", bad[i]);
		assert_non_null(strstr(errs.items[0].message, "operator-shaped"));
	}
	assert_int_equal(test_query("status[$ne]=x", &errs), -1);
	assert_string_equal(errs.items[0].field, "status[$ne]");
}

static void
test_query_every_bad_name_is_reported(void **state)
{
	struct validate_errors errs;

	assert_int_equal(test_query("a=1&limit=2&b[$gt]=3&c", &errs), -1);
	assert_int_equal(errs.n, 3);
	assert_string_equal(errs.items[0].field, "a");
	assert_string_equal(errs.items[1].field, "b[$gt]");
	assert_string_equal(errs.items[2].field, "c");
}

static void
test_query_is_read_only_up_to_its_length(void **state)
{
	struct validate_errors errs;
	const char q[] = "limit=1&bogus=2";

	errs.n = 0;
	assert_int_equal(validate_query_names(q, 7, test_query_allowed, &errs), 0);
	assert_int_equal(validate_query_names(q, 5, test_query_allowed, &errs), -1); /* "limit" */
	assert_string_equal(errs.items[0].field, "limit");
	errs.n = 0;
	assert_int_equal(validate_query_names(q, 3, test_query_allowed, &errs), -1);
	assert_string_equal(errs.items[0].field, "lim");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_string_within_its_length_is_kept),
	    cmocka_unit_test(test_string_length_counts_characters_not_bytes),
	    cmocka_unit_test(test_string_too_short_or_too_long_is_refused),
	    cmocka_unit_test(test_string_of_only_spaces_is_refused),
	    cmocka_unit_test(test_string_field_with_another_type_is_refused),
	    cmocka_unit_test(test_string_with_a_nul_is_refused),
	    cmocka_unit_test(test_enum_value_is_kept),
	    cmocka_unit_test(test_enum_outside_its_values_is_refused_with_the_list),
	    cmocka_unit_test(test_email_good_addresses_are_kept),
	    cmocka_unit_test(test_email_bad_address_is_refused),
	    cmocka_unit_test(test_email_single_value_accepts_good_addresses),
	    cmocka_unit_test(test_email_single_value_refuses_bad_addresses),
	    cmocka_unit_test(test_email_of_255_characters_is_refused),
	    cmocka_unit_test(test_email_local_part_over_64_is_refused),
	    cmocka_unit_test(test_phone_good_numbers_are_kept),
	    cmocka_unit_test(test_phone_bad_numbers_are_refused),
	    cmocka_unit_test(test_date_is_stored_as_a_bson_date),
	    cmocka_unit_test(test_date_keeps_milliseconds_and_applies_the_offset),
	    cmocka_unit_test(test_date_on_leap_days),
	    cmocka_unit_test(test_date_before_1970_is_negative),
	    cmocka_unit_test(test_date_malformed_values_are_refused),
	    cmocka_unit_test(test_date_in_a_body_refused_names_the_field),
	    cmocka_unit_test(test_bool_is_kept_and_only_json_booleans_count),
	    cmocka_unit_test(test_objectid_string_is_stored_as_an_objectid),
	    cmocka_unit_test(test_objectid_malformed_is_refused),
	    cmocka_unit_test(test_objectid_single_value),
	    cmocka_unit_test(test_ident_is_kept),
	    cmocka_unit_test(test_ident_bad_values_are_refused),
	    cmocka_unit_test(test_ident_single_value),
	    cmocka_unit_test(test_timezone_known_names_are_kept),
	    cmocka_unit_test(test_timezone_unknown_or_path_like_names_are_refused),
	    cmocka_unit_test(test_bool_single_value),
	    cmocka_unit_test(test_enum_single_value),
	    cmocka_unit_test(test_enum_array_is_kept_in_order),
	    cmocka_unit_test(test_enum_array_duplicates_collapse),
	    cmocka_unit_test(test_enum_array_unknown_item_is_refused),
	    cmocka_unit_test(test_enum_array_too_many_or_too_few_is_refused),
	    cmocka_unit_test(test_enum_array_that_is_not_an_array_is_refused),
	    cmocka_unit_test(test_nested_object_is_kept),
	    cmocka_unit_test(test_nested_unknown_field_is_named_by_its_path),
	    cmocka_unit_test(test_nested_bad_value_is_named_by_its_path),
	    cmocka_unit_test(test_nested_required_field_missing_is_named_by_its_path),
	    cmocka_unit_test(test_nested_object_of_another_type_is_refused),
	    cmocka_unit_test(test_nested_server_kept_names_are_plain_unknown_fields),
	    cmocka_unit_test(test_freeform_object_is_kept_whole),
	    cmocka_unit_test(test_freeform_too_large_is_refused),
	    cmocka_unit_test(test_freeform_of_another_type_is_refused),
	    cmocka_unit_test(test_unknown_field_is_refused),
	    cmocka_unit_test(test_server_kept_fields_are_always_refused),
	    cmocka_unit_test(test_server_flag_refuses_the_field),
	    cmocka_unit_test(test_immutable_field_is_accepted_on_create_only),
	    cmocka_unit_test(test_required_field_missing_on_create_is_refused),
	    cmocka_unit_test(test_required_field_null_on_create_is_reported_once),
	    cmocka_unit_test(test_optional_null_on_create_is_left_out),
	    cmocka_unit_test(test_patch_needs_no_required_field),
	    cmocka_unit_test(test_patch_null_on_an_optional_field_unsets_it),
	    cmocka_unit_test(test_patch_null_on_a_required_field_cannot_clear_it),
	    cmocka_unit_test(test_patch_empty_body_is_refused),
	    cmocka_unit_test(test_duplicated_key_is_reported_once),
	    cmocka_unit_test(test_duplicated_nested_key_is_reported_once_by_its_path),
	    cmocka_unit_test(test_dollar_key_is_refused_at_any_depth),
	    cmocka_unit_test(test_dotted_key_is_refused_at_any_depth),
	    cmocka_unit_test(test_escaped_dollar_and_dot_are_refused),
	    cmocka_unit_test(test_dollar_and_dot_in_values_are_fine),
	    cmocka_unit_test(test_dollar_inside_a_key_is_not_an_operator),
	    cmocka_unit_test(test_malformed_json_is_malformed),
	    cmocka_unit_test(test_invalid_utf8_is_malformed),
	    cmocka_unit_test(test_top_level_array_is_malformed),
	    cmocka_unit_test(test_body_is_read_only_up_to_its_length),
	    cmocka_unit_test(test_every_error_is_reported_together),
	    cmocka_unit_test(test_missing_required_field_is_reported_with_the_others),
	    cmocka_unit_test(test_errors_stop_at_the_maximum),
	    cmocka_unit_test(test_query_allowed_names_pass),
	    cmocka_unit_test(test_query_unknown_name_is_refused),
	    cmocka_unit_test(test_query_operator_shaped_names_are_refused),
	    cmocka_unit_test(test_query_every_bad_name_is_reported),
	    cmocka_unit_test(test_query_is_read_only_up_to_its_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
